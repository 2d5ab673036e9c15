//! API1: a payment method saved to a customer pays only for that
//! customer's intents. Before the fix a saved card could be charged on an
//! intent without a customer, with the secret key and, through `/confirm`
//! with any intent's client secret, with the publishable key.

use crate::fixtures::{create_customer, ok, paid_intent, refused, saved_card, Env};
use crate::support::Backend;

async fn saved_card_pays_only_for_its_customer(backend: Backend) {
    let env = Env::new(backend).await;
    let owner = create_customer(&env.api, "owner@example.com").await;
    let stranger = create_customer(&env.api, "stranger@example.com").await;
    let method = saved_card(&env.api, &owner).await;

    // Secret key, create-and-confirm without a customer.
    let answer = env
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method", &method),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(
        refused(&answer, 400)["code"],
        "payment_method_unexpected_state"
    );
    // …and without confirming: the intent may not even hold it.
    let answer = env
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method", &method),
            ],
        )
        .await;
    refused(&answer, 400);
    // Another customer's intent.
    let answer = env
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("customer", &stranger),
                ("payment_method", &method),
                ("confirm", "true"),
            ],
        )
        .await;
    refused(&answer, 400);

    // Publishable key through /confirm of an intent with no customer.
    let open = ok(&env
        .api
        .post(
            "/v1/payment_intents",
            &[("amount", "1000"), ("currency", "usd")],
        )
        .await);
    let answer = env
        .publishable()
        .post(
            &format!(
                "/v1/payment_intents/{}/confirm",
                open["id"].as_str().unwrap()
            ),
            &[
                ("client_secret", open["client_secret"].as_str().unwrap()),
                ("payment_method", &method),
            ],
        )
        .await;
    assert_eq!(
        refused(&answer, 400)["code"],
        "payment_method_unexpected_state"
    );
    let after = ok(&env
        .api
        .get(&format!(
            "/v1/payment_intents/{}",
            open["id"].as_str().unwrap()
        ))
        .await);
    assert_eq!(after["status"], "requires_payment_method");
    assert!(after["latest_charge"].is_null());

    // Updating an intent without a customer to hold the saved card.
    let answer = env
        .api
        .post(
            &format!("/v1/payment_intents/{}", open["id"].as_str().unwrap()),
            &[("payment_method", &method)],
        )
        .await;
    refused(&answer, 400);

    // The owner's own intent may use it.
    paid_intent(&env.api, &owner, &method).await;
}

crate::on_both_backends!(saved_card_pays_only_for_its_customer);
