//! API10 / misconfiguration: live mode never reaches the sandbox. Before
//! the fix a live key authorized against the sandbox acquirer, which
//! approves any number it does not list.

use crate::fixtures::{future_year, ok, refused, Env};
use crate::support::Backend;

async fn live_payments_without_a_live_connector_are_refused(backend: Backend) {
    let env = Env::new(backend).await;
    let live = env.key("secret", "live", None);
    let year = future_year();
    let inline = [
        ("amount", "1500"),
        ("currency", "usd"),
        ("confirm", "true"),
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", "4111111111111111"),
        ("payment_method_data[card][exp_month]", "12"),
        ("payment_method_data[card][exp_year]", year.as_str()),
        ("payment_method_data[card][cvc]", "123"),
    ];
    let answer = live.post("/v1/payment_intents", &inline).await;
    let error = refused(&answer, 400);
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "livemode_unavailable");
    assert!(
        error["message"].as_str().unwrap().contains("live"),
        "{error}"
    );
    // Nothing was created by the refused create-and-confirm.
    let listed = ok(&live.get("/v1/payment_intents").await);
    assert_eq!(listed["data"].as_array().unwrap().len(), 0, "{listed}");
    assert_eq!(
        ok(&live.get("/v1/charges").await)["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // An intent created without confirming cannot be confirmed either.
    let method = ok(&live
        .post(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[number]", "4111111111111111"),
                ("card[exp_month]", "12"),
                ("card[exp_year]", year.as_str()),
            ],
        )
        .await);
    let intent = ok(&live
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1500"),
                ("currency", "usd"),
                ("payment_method", method["id"].as_str().unwrap()),
            ],
        )
        .await);
    let pi = intent["id"].as_str().unwrap();
    let answer = live
        .post(&format!("/v1/payment_intents/{pi}/confirm"), &[])
        .await;
    assert_eq!(refused(&answer, 400)["code"], "livemode_unavailable");
    let after = ok(&live.get(&format!("/v1/payment_intents/{pi}")).await);
    assert_eq!(after["status"], "requires_confirmation", "{after}");
    assert!(after["latest_charge"].is_null());

    // Test mode still pays through the sandbox.
    let paid = ok(&env
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1500"),
                ("currency", "usd"),
                ("confirm", "true"),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await);
    assert_eq!(paid["status"], "succeeded");
}

crate::on_both_backends!(live_payments_without_a_live_connector_are_refused);
