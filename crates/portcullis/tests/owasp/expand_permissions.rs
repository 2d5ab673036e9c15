//! API1/API3: a restricted key may expand only what it may read. Before the
//! fix, `payment_intents:read` expanded the customer, the payment method and
//! the charge although reading them directly answered 403.

use crate::fixtures::{create_customer, ok, paid_intent, refused, saved_card, Env};
use crate::support::Backend;

async fn restricted_key_cannot_expand_what_it_cannot_read(backend: Backend) {
    let env = Env::new(backend).await;
    let customer = create_customer(&env.api, "jenny@example.com").await;
    let method = saved_card(&env.api, &customer).await;
    let intent = paid_intent(&env.api, &customer, &method).await;
    let pi = intent["id"].as_str().unwrap();
    let reader = env.key("restricted", "test", Some("payment_intents:read"));

    assert_eq!(
        reader
            .get(&format!("/v1/customers/{customer}"))
            .await
            .status,
        403
    );
    ok(&reader.get(&format!("/v1/payment_intents/{pi}")).await);
    for field in ["customer", "payment_method", "latest_charge"] {
        let answer = reader
            .get(&format!("/v1/payment_intents/{pi}?expand[]={field}"))
            .await;
        let error = refused(&answer, 403);
        assert!(
            !answer.text.contains("jenny@example.com"),
            "{field}: {}",
            answer.text
        );
        assert_eq!(error["type"], "invalid_request_error", "{field}");
    }
    let listed = reader
        .get("/v1/payment_intents?expand[]=data.customer")
        .await;
    refused(&listed, 403);
    assert!(!listed.text.contains("jenny@example.com"));
    let searched = reader
        .get("/v1/payment_intents/search?query=status:'succeeded'&expand[]=data.customer")
        .await;
    refused(&searched, 403);

    // With the grant, the same expansion works.
    let both = env.key(
        "restricted",
        "test",
        Some("payment_intents:read,customers:read"),
    );
    let expanded = ok(&both
        .get(&format!("/v1/payment_intents/{pi}?expand[]=customer"))
        .await);
    assert_eq!(expanded["customer"]["email"], "jenny@example.com");
    let charges_only = env.key("restricted", "test", Some("charges:read"));
    let charge = intent["latest_charge"].as_str().unwrap();
    refused(
        &charges_only
            .get(&format!("/v1/charges/{charge}?expand[]=payment_intent"))
            .await,
        403,
    );
}

/// A write whose expansion the key may not read is refused before it is
/// executed, so nothing is half done.
async fn refused_expansion_on_a_write_changes_nothing(backend: Backend) {
    let env = Env::new(backend).await;
    let customer = create_customer(&env.api, "jenny@example.com").await;
    let writer = env.key("restricted", "test", Some("payment_intents:write"));
    let intent = ok(&env
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "500"),
                ("currency", "usd"),
                ("customer", &customer),
            ],
        )
        .await);
    let pi = intent["id"].as_str().unwrap();
    let answer = writer
        .post(
            &format!("/v1/payment_intents/{pi}"),
            &[("description", "changed"), ("expand[]", "customer")],
        )
        .await;
    refused(&answer, 403);
    let after = ok(&env.api.get(&format!("/v1/payment_intents/{pi}")).await);
    assert_eq!(after["description"], serde_json::Value::Null);
}

crate::on_both_backends!(
    restricted_key_cannot_expand_what_it_cannot_read,
    refused_expansion_on_a_write_changes_nothing,
);
