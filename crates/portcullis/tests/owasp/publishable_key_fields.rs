//! API3: a publishable key with an intent's client secret sees only the
//! fields Stripe shows a publishable key, and may expand nothing. Before
//! the fix it saw the whole intent and could expand the customer (email,
//! name, metadata) and the charge (risk rule, score, signals).

use crate::fixtures::{create_customer, ok, paid_intent, refused, saved_card, Env};
use crate::support::Backend;

const HIDDEN_FROM_PUBLISHABLE: &[&str] = &[
    "customer",
    "metadata",
    "latest_charge",
    "amount_received",
    "amount_capturable",
    "review",
    "transfer_group",
];

async fn publishable_key_sees_only_publishable_fields(backend: Backend) {
    let env = Env::new(backend).await;
    let customer = create_customer(&env.api, "jenny@example.com").await;
    let method = saved_card(&env.api, &customer).await;
    let intent = paid_intent(&env.api, &customer, &method).await;
    let pi = intent["id"].as_str().unwrap();
    let secret = intent["client_secret"].as_str().unwrap();
    let browser = env.publishable();

    let seen = ok(&browser
        .get(&format!("/v1/payment_intents/{pi}?client_secret={secret}"))
        .await);
    for field in [
        "id",
        "object",
        "amount",
        "currency",
        "status",
        "client_secret",
        "payment_method",
    ] {
        assert!(seen.get(field).is_some(), "{field} missing: {seen}");
    }
    for field in HIDDEN_FROM_PUBLISHABLE {
        assert!(
            seen.get(*field).is_none(),
            "{field} shown to a publishable key: {seen}"
        );
    }
    assert_eq!(seen["status"], "succeeded");

    for field in ["customer", "latest_charge", "payment_method"] {
        let answer = browser
            .get(&format!(
                "/v1/payment_intents/{pi}?client_secret={secret}&expand[]={field}"
            ))
            .await;
        let error = refused(&answer, 400);
        assert_eq!(error["type"], "invalid_request_error");
        assert!(
            !answer.text.contains("jenny@example.com"),
            "{}",
            answer.text
        );
        assert!(!answer.text.contains("risk_score"), "{}", answer.text);
    }
    // The secret key still sees everything.
    let full = ok(&env.api.get(&format!("/v1/payment_intents/{pi}")).await);
    assert_eq!(full["customer"], customer.as_str());
    assert_eq!(full["metadata"]["order"], "A-1");
}

async fn publishable_confirm_answers_publishable_fields(backend: Backend) {
    let env = Env::new(backend).await;
    let customer = create_customer(&env.api, "jenny@example.com").await;
    let intent = ok(&env
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "700"),
                ("currency", "usd"),
                ("customer", &customer),
                ("metadata[order]", "B-2"),
            ],
        )
        .await);
    let pi = intent["id"].as_str().unwrap();
    let secret = intent["client_secret"].as_str().unwrap();
    let confirmed = ok(&env
        .publishable()
        .post(
            &format!("/v1/payment_intents/{pi}/confirm"),
            &[
                ("client_secret", secret),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await);
    assert_eq!(confirmed["status"], "succeeded", "{confirmed}");
    for field in HIDDEN_FROM_PUBLISHABLE {
        assert!(
            confirmed.get(*field).is_none(),
            "{field} shown: {confirmed}"
        );
    }
    // A declined confirmation's error carries the cut-down intent too.
    let declined = ok(&env
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "700"),
                ("currency", "usd"),
                ("customer", &customer),
            ],
        )
        .await);
    let answer = env
        .publishable()
        .post(
            &format!(
                "/v1/payment_intents/{}/confirm",
                declined["id"].as_str().unwrap()
            ),
            &[
                ("client_secret", declined["client_secret"].as_str().unwrap()),
                ("payment_method", "pm_card_chargeDeclined"),
            ],
        )
        .await;
    let error = refused(&answer, 402);
    assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
    assert!(error["payment_intent"].get("customer").is_none(), "{error}");
}

crate::on_both_backends!(
    publishable_key_sees_only_publishable_fields,
    publishable_confirm_answers_publishable_fields,
);
