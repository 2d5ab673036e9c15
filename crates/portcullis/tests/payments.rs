//! Card payments through the real binary, on SQLite and on PostgreSQL: the
//! test-card table of api-contract.md, the PaymentIntent state machine, the
//! hosted authentication round trip, refunds (also under concurrency),
//! idempotent confirmation, payment methods, events, lists and search, and
//! the isolation of one merchant's payments from another's.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::{create_merchant, Answer, Api, Backend, Merchant, TestDatabase, TestServer};

/// One merchant's view of a fresh server.
struct Env {
    db: TestDatabase,
    server: TestServer,
    merchant: Merchant,
    api: Api,
}

async fn setup(backend: Backend) -> Env {
    setup_with(backend, None).await
}

/// A fresh server, with `settings` (TOML) as its `--config` file if given.
async fn setup_with(backend: Backend, settings: Option<&str>) -> Env {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = match settings {
        Some(toml) => {
            std::fs::create_dir_all(&db.data_dir).unwrap();
            let path = db.data_dir.join("payments-test.toml");
            std::fs::write(&path, toml).unwrap();
            TestServer::start_with(&db, &["--config", path.to_str().unwrap()])
        }
        None => TestServer::start(&db),
    };
    let api = Api::new(&server, &merchant.secret_key);
    Env {
        db,
        server,
        merchant,
        api,
    }
}

/// A year a few years ahead, for card expiries.
fn future_year() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (1970 + now / 31_556_952 + 3).to_string()
}

fn cvc_for(number: &str) -> &'static str {
    if number.starts_with("34") || number.starts_with("37") {
        "1234"
    } else {
        "123"
    }
}

fn ok(answer: &Answer) -> Value {
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

fn id_of(object: &Value) -> String {
    object["id"].as_str().expect("an id").to_owned()
}

/// `POST /v1/payment_intents` with `confirm=true` and an inline card.
async fn pay_inline(api: &Api, number: &str, amount: &str, extra: &[(&str, &str)]) -> Answer {
    let year = future_year();
    let mut form = vec![
        ("amount", amount),
        ("currency", "usd"),
        ("confirm", "true"),
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", number),
        ("payment_method_data[card][exp_month]", "12"),
        ("payment_method_data[card][exp_year]", year.as_str()),
        ("payment_method_data[card][cvc]", cvc_for(number)),
    ];
    form.extend_from_slice(extra);
    api.post("/v1/payment_intents", &form).await
}

/// `POST /v1/payment_intents` with `confirm=true` and a payment method id.
async fn pay_with(api: &Api, payment_method: &str, amount: &str, extra: &[(&str, &str)]) -> Answer {
    let mut form = vec![
        ("amount", amount),
        ("currency", "usd"),
        ("confirm", "true"),
        ("payment_method", payment_method),
    ];
    form.extend_from_slice(extra);
    api.post("/v1/payment_intents", &form).await
}

async fn get_ok(api: &Api, path: &str) -> Value {
    ok(&api.get(path).await)
}

async fn charge_of(api: &Api, intent: &Value) -> Value {
    let charge = intent["latest_charge"].as_str().expect("latest_charge set");
    get_ok(api, &format!("/v1/charges/{charge}")).await
}

/// A 400 `payment_intent_unexpected_state`.
fn assert_unexpected_state(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 400, "{what}: {}", answer.text);
    let error = &answer.json()["error"];
    assert_eq!(error["type"], "invalid_request_error", "{what}");
    assert_eq!(error["code"], "payment_intent_unexpected_state", "{what}");
}

/// Polls `path` until `done` holds of its body, for at most `within`.
async fn eventually(
    api: &Api,
    path: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let body = get_ok(api, path).await;
        if done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} did not reach the expected state within {within:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An HTTP client that does not follow redirects, as a test of a 303 needs.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

on_both_backends!(
    successful_test_cards_succeed_with_an_authorized_captured_charge,
    declining_test_cards_answer_402_with_exact_codes_and_a_failed_charge,
    malformed_card_data_answers_402_with_its_code_and_stores_nothing,
    fraud_test_card_is_blocked_as_fraudulent_before_the_acquirer,
    highest_risk_test_card_is_blocked,
    elevated_risk_test_card_succeeds_with_elevated_risk_level,
    dispute_test_card_succeeds_and_its_charge_is_disputed,
    pending_refund_test_card_refund_goes_pending_then_succeeded,
    failing_refund_test_card_refund_goes_succeeded_then_failed,
    intent_moves_from_requires_payment_method_through_requires_confirmation_to_succeeded,
    manual_capture_captures_in_full_or_in_part_and_never_above_capturable,
    cancel_works_from_every_cancelable_status_with_its_reason,
    illegal_moves_answer_payment_intent_unexpected_state,
    authentication_passed_on_the_hosted_page_redirects_with_succeeded,
    authentication_failed_returns_the_intent_to_requires_payment_method,
    authenticated_then_declined_card_fails_with_insufficient_funds,
    on_session_challenge_card_requires_action_and_declines_off_session,
    authentication_page_with_a_wrong_client_secret_is_404,
    authentication_page_speaks_the_named_or_the_browsers_language,
    concurrent_partial_refunds_never_exceed_the_captured_amount,
    refund_without_amount_refunds_the_rest_then_charge_already_refunded,
    confirm_with_one_idempotency_key_replays_byte_for_byte_and_charges_once,
    create_with_confirm_and_one_idempotency_key_makes_one_intent,
    payment_methods_never_show_number_or_cvc_and_fingerprint_is_per_merchant,
    payment_methods_attach_list_and_detach_for_a_customer,
    publishable_key_creates_payment_methods_but_cannot_list_intents,
    publishable_key_confirms_only_with_the_client_secret,
    refunds_retrieve_update_metadata_and_list_by_payment_intent,
    pending_refund_can_be_canceled_and_gives_its_amount_back,
    succeeded_refund_cannot_be_canceled,
    successful_payment_is_found_as_a_payment_intent_succeeded_event,
    a_succeeded_payments_answer_is_byte_for_byte_its_retrieved_intent_and_its_events_object,
    intents_list_by_customer_search_by_status_and_metadata_and_expand,
    another_merchants_intent_is_404_for_every_operation,
    create_with_confirm_refused_while_executing_leaves_no_intent_behind,
    new_payment_method_for_an_intent_awaiting_authentication_drops_its_next_action,
    authentication_page_redirects_with_failed_once_the_intent_is_canceled,
    concurrent_confirms_of_one_intent_charge_once,
    concurrent_capture_and_cancel_of_one_intent_settle_on_one_outcome,
    refund_with_one_idempotency_key_refunds_once,
);

// ---------------------------------------------------------------------------
// 1. The test-card table
// ---------------------------------------------------------------------------

async fn successful_test_cards_succeed_with_an_authorized_captured_charge(backend: Backend) {
    let env = setup(backend).await;
    let cards = [
        ("4242424242424242", "pm_card_visa", "visa", "credit"),
        ("4000056655665556", "pm_card_visa_debit", "visa", "debit"),
        (
            "5555555555554444",
            "pm_card_mastercard",
            "mastercard",
            "credit",
        ),
        (
            "5200828282828210",
            "pm_card_mastercard_debit",
            "mastercard",
            "debit",
        ),
        ("378282246310005", "pm_card_amex", "amex", "credit"),
        ("6011111111111117", "pm_card_discover", "discover", "credit"),
    ];
    for (number, test_id, brand, funding) in cards {
        for answer in [
            pay_inline(&env.api, number, "2000", &[]).await,
            pay_with(&env.api, test_id, "2000", &[]).await,
        ] {
            let intent = ok(&answer);
            assert_eq!(intent["object"], "payment_intent");
            assert_eq!(intent["status"], "succeeded", "{number}: {intent}");
            assert_eq!(intent["amount_received"], 2000, "{number}");
            assert_eq!(intent["amount_capturable"], 0, "{number}");
            assert!(intent["last_payment_error"].is_null(), "{number}");
            assert!(intent["next_action"].is_null(), "{number}");
            let charge = charge_of(&env.api, &intent).await;
            assert_eq!(charge["object"], "charge");
            assert_eq!(charge["status"], "succeeded", "{number}");
            assert_eq!(charge["paid"], true, "{number}");
            assert_eq!(charge["captured"], true, "{number}");
            assert_eq!(charge["amount_captured"], 2000, "{number}");
            assert_eq!(charge["payment_intent"], intent["id"], "{number}");
            assert_eq!(charge["payment_method"], intent["payment_method"]);
            assert_eq!(charge["outcome"]["type"], "authorized", "{number}");
            assert_eq!(charge["outcome"]["network_status"], "approved_by_network");
            assert_eq!(charge["outcome"]["risk_level"], "normal", "{number}");
            let card = &charge["payment_method_details"]["card"];
            assert_eq!(card["brand"], brand, "{number}");
            assert_eq!(card["funding"], funding, "{number}");
            assert_eq!(card["last4"], &number[number.len() - 4..], "{number}");
        }
    }
}

async fn declining_test_cards_answer_402_with_exact_codes_and_a_failed_charge(backend: Backend) {
    let env = setup(backend).await;
    let cards = [
        (
            "4000000000000002",
            "pm_card_visa_chargeDeclined",
            "card_declined",
            "generic_decline",
        ),
        (
            "4000000000009995",
            "pm_card_visa_chargeDeclinedInsufficientFunds",
            "card_declined",
            "insufficient_funds",
        ),
        (
            "4000000000009987",
            "pm_card_visa_chargeDeclinedLostCard",
            "card_declined",
            "lost_card",
        ),
        (
            "4000000000009979",
            "pm_card_visa_chargeDeclinedStolenCard",
            "card_declined",
            "stolen_card",
        ),
        (
            "4000000000000069",
            "pm_card_chargeDeclinedExpiredCard",
            "expired_card",
            "expired_card",
        ),
        (
            "4000000000000127",
            "pm_card_chargeDeclinedIncorrectCvc",
            "incorrect_cvc",
            "incorrect_cvc",
        ),
        (
            "4000000000000119",
            "pm_card_chargeDeclinedProcessingError",
            "processing_error",
            "processing_error",
        ),
        (
            "4000000000006975",
            "pm_card_chargeDeclinedVelocityLimitExceeded",
            "card_declined",
            "card_velocity_exceeded",
        ),
    ];
    for (number, test_id, code, decline_code) in cards {
        for answer in [
            pay_inline(&env.api, number, "2000", &[]).await,
            pay_with(&env.api, test_id, "2000", &[]).await,
        ] {
            assert_eq!(answer.status, 402, "{number}: {}", answer.text);
            let error = answer.json()["error"].clone();
            assert_eq!(error["type"], "card_error", "{number}");
            assert_eq!(error["code"], code, "{number}");
            assert_eq!(error["decline_code"], decline_code, "{number}");
            assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
            let intent = &error["payment_intent"];
            assert_eq!(intent["status"], "requires_payment_method", "{number}");
            assert_eq!(intent["last_payment_error"]["code"], code, "{number}");
            assert_eq!(
                intent["last_payment_error"]["decline_code"], decline_code,
                "{number}"
            );
            assert_eq!(intent["last_payment_error"]["type"], "card_error");
            assert_eq!(intent["amount_received"], 0);
            // The stored intent says the same as the error.
            let stored = get_ok(&env.api, &format!("/v1/payment_intents/{}", id_of(intent))).await;
            assert_eq!(stored["status"], "requires_payment_method", "{number}");
            assert_eq!(stored["last_payment_error"]["code"], code, "{number}");
            assert_eq!(stored["latest_charge"], error["charge"], "{number}");
            let charge = charge_of(&env.api, &stored).await;
            assert_eq!(charge["status"], "failed", "{number}");
            assert_eq!(charge["paid"], false, "{number}");
            assert_eq!(charge["captured"], false, "{number}");
            assert_eq!(charge["failure_code"], code, "{number}");
            assert_eq!(charge["outcome"]["type"], "issuer_declined", "{number}");
            assert_eq!(charge["outcome"]["network_status"], "declined_by_network");
        }
    }
}

async fn malformed_card_data_answers_402_with_its_code_and_stores_nothing(backend: Backend) {
    let env = setup(backend).await;
    let year = future_year();
    let cases = [
        (
            "4242424242424241",
            "12",
            year.as_str(),
            "123",
            "incorrect_number",
            "number",
        ),
        (
            "4242424242424242",
            "13",
            year.as_str(),
            "123",
            "invalid_expiry_month",
            "exp_month",
        ),
        (
            "4242424242424242",
            "12",
            "2020",
            "123",
            "invalid_expiry_year",
            "exp_year",
        ),
        (
            "4242424242424242",
            "12",
            year.as_str(),
            "12",
            "invalid_cvc",
            "cvc",
        ),
    ];
    for (number, month, exp_year, cvc, code, field) in cases {
        let answer = env
            .api
            .post(
                "/v1/payment_intents",
                &[
                    ("amount", "2000"),
                    ("currency", "usd"),
                    ("confirm", "true"),
                    ("payment_method_data[type]", "card"),
                    ("payment_method_data[card][number]", number),
                    ("payment_method_data[card][exp_month]", month),
                    ("payment_method_data[card][exp_year]", exp_year),
                    ("payment_method_data[card][cvc]", cvc),
                ],
            )
            .await;
        assert_eq!(answer.status, 402, "{code}: {}", answer.text);
        let error = &answer.json()["error"];
        assert_eq!(error["type"], "card_error", "{code}");
        assert_eq!(error["code"], code);
        assert_eq!(
            error["param"],
            format!("payment_method_data[card][{field}]"),
            "{code}"
        );
        assert!(!answer.text.contains(number), "the number is echoed");
        // The same card data on its own payment method is refused alike.
        let method = env
            .api
            .post(
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", number),
                    ("card[exp_month]", month),
                    ("card[exp_year]", exp_year),
                    ("card[cvc]", cvc),
                ],
            )
            .await;
        assert_eq!(method.status, 402, "{code}: {}", method.text);
        assert_eq!(method.json()["error"]["code"], code);
        assert_eq!(method.json()["error"]["param"], format!("card[{field}]"));
    }
    let intents = get_ok(&env.api, "/v1/payment_intents").await;
    assert_eq!(intents["data"].as_array().unwrap().len(), 0, "{intents}");
    let methods = get_ok(&env.api, "/v1/payment_methods").await;
    assert_eq!(methods["data"].as_array().unwrap().len(), 0, "{methods}");
}

async fn fraud_test_card_is_blocked_as_fraudulent_before_the_acquirer(backend: Backend) {
    let env = setup(backend).await;
    for answer in [
        pay_inline(&env.api, "4100000000000019", "2000", &[]).await,
        pay_with(&env.api, "pm_card_radarBlock", "2000", &[]).await,
    ] {
        assert_eq!(answer.status, 402, "{}", answer.text);
        let error = answer.json()["error"].clone();
        assert_eq!(error["type"], "card_error");
        assert_eq!(error["code"], "card_declined");
        assert_eq!(error["decline_code"], "fraudulent");
        assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
        assert_eq!(
            error["payment_intent"]["last_payment_error"]["decline_code"],
            "fraudulent"
        );
        let charge = charge_of(&env.api, &error["payment_intent"]).await;
        assert_eq!(charge["status"], "failed");
        assert_eq!(charge["outcome"]["type"], "blocked");
        assert_eq!(charge["outcome"]["network_status"], "not_sent_to_network");
        assert_eq!(charge["outcome"]["risk_level"], "highest");
    }
}

async fn highest_risk_test_card_is_blocked(backend: Backend) {
    let env = setup(backend).await;
    for answer in [
        pay_inline(&env.api, "4000000000004954", "2000", &[]).await,
        pay_with(&env.api, "pm_card_riskLevelHighest", "2000", &[]).await,
    ] {
        assert_eq!(answer.status, 402, "{}", answer.text);
        let error = answer.json()["error"].clone();
        assert_eq!(error["type"], "card_error");
        assert_eq!(error["code"], "card_declined");
        assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
        let charge = charge_of(&env.api, &error["payment_intent"]).await;
        assert_eq!(charge["status"], "failed");
        assert_eq!(charge["outcome"]["type"], "blocked");
        assert_eq!(charge["outcome"]["risk_level"], "highest");
        assert!(charge["outcome"]["rule"].is_string(), "{charge}");
    }
}

async fn elevated_risk_test_card_succeeds_with_elevated_risk_level(backend: Backend) {
    let env = setup(backend).await;
    for answer in [
        pay_inline(&env.api, "4000000000009235", "2000", &[]).await,
        pay_with(&env.api, "pm_card_riskLevelElevated", "2000", &[]).await,
    ] {
        let intent = ok(&answer);
        assert_eq!(intent["status"], "succeeded");
        let charge = charge_of(&env.api, &intent).await;
        assert_eq!(charge["status"], "succeeded");
        assert_eq!(charge["outcome"]["type"], "authorized");
        assert_eq!(charge["outcome"]["risk_level"], "elevated");
    }
}

async fn dispute_test_card_succeeds_and_its_charge_is_disputed(backend: Backend) {
    let env = setup(backend).await;
    let intent = ok(&pay_inline(&env.api, "4000000000000259", "2000", &[]).await);
    assert_eq!(intent["status"], "succeeded");
    let charge = charge_of(&env.api, &intent).await;
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(charge["disputed"], true, "{charge}");
    // Captured later, the dispute arrives with the capture.
    let held = ok(&pay_with(
        &env.api,
        "pm_card_createDispute",
        "2000",
        &[("capture_method", "manual")],
    )
    .await);
    assert_eq!(held["status"], "requires_capture");
    assert_eq!(charge_of(&env.api, &held).await["disputed"], false);
    let captured = ok(&env
        .api
        .post(
            &format!("/v1/payment_intents/{}/capture", id_of(&held)),
            &[],
        )
        .await);
    assert_eq!(captured["status"], "succeeded");
    assert_eq!(charge_of(&env.api, &captured).await["disputed"], true);
}

/// The recovery worker polls refunds often, the sandbox settles them after
/// a second, and succeeded refunds are watched for three seconds.
const FAST_REFUND_SETTLEMENT: &str = "recovery_interval_ms = 200\n\
     sandbox_refund_settle_ms = 1000\n\
     refund_settle_window_ms = 3000\n";

async fn pending_refund_test_card_refund_goes_pending_then_succeeded(backend: Backend) {
    let env = setup_with(backend, Some(FAST_REFUND_SETTLEMENT)).await;
    let intent = ok(&pay_inline(&env.api, "4000000000007726", "2000", &[]).await);
    let refund = ok(&env
        .api
        .post("/v1/refunds", &[("payment_intent", &id_of(&intent))])
        .await);
    assert_eq!(refund["object"], "refund");
    assert_eq!(refund["status"], "pending", "{refund}");
    assert_eq!(refund["amount"], 2000);
    let path = format!("/v1/refunds/{}", id_of(&refund));
    let settled = eventually(&env.api, &path, Duration::from_secs(20), |r| {
        r["status"] != "pending"
    })
    .await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    let charge = charge_of(&env.api, &intent).await;
    assert_eq!(charge["amount_refunded"], 2000);
    assert_eq!(charge["refunded"], true);
    let events = get_ok(&env.api, "/v1/events?type=refund.updated").await;
    assert!(
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["object"]["id"] == refund["id"]
                && e["data"]["object"]["status"] == "succeeded"),
        "{events}"
    );
}

async fn failing_refund_test_card_refund_goes_succeeded_then_failed(backend: Backend) {
    let env = setup_with(backend, Some(FAST_REFUND_SETTLEMENT)).await;
    let intent = ok(&pay_with(&env.api, "pm_card_refundFail", "2000", &[]).await);
    let refund = ok(&env
        .api
        .post(
            "/v1/refunds",
            &[("payment_intent", &id_of(&intent)), ("amount", "700")],
        )
        .await);
    assert_eq!(refund["status"], "succeeded", "{refund}");
    assert_eq!(charge_of(&env.api, &intent).await["amount_refunded"], 700);
    let path = format!("/v1/refunds/{}", id_of(&refund));
    let failed = eventually(&env.api, &path, Duration::from_secs(20), |r| {
        r["status"] != "succeeded"
    })
    .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["failure_reason"], "expired_or_canceled_card");
    // A failed refund gives its amount back to the charge.
    let charge = charge_of(&env.api, &intent).await;
    assert_eq!(charge["amount_refunded"], 0, "{charge}");
    assert_eq!(charge["refunded"], false);
    let events = get_ok(&env.api, "/v1/events?type=refund.failed").await;
    assert_eq!(events["data"][0]["data"]["object"]["id"], refund["id"]);
}

// ---------------------------------------------------------------------------
// 2. The state machine
// ---------------------------------------------------------------------------

async fn intent_moves_from_requires_payment_method_through_requires_confirmation_to_succeeded(
    backend: Backend,
) {
    let env = setup(backend).await;
    let api = &env.api;
    let created = ok(&api
        .post(
            "/v1/payment_intents",
            &[("amount", "1500"), ("currency", "usd")],
        )
        .await);
    assert_eq!(created["status"], "requires_payment_method");
    assert!(created["client_secret"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}_secret_", id_of(&created))));
    let path = format!("/v1/payment_intents/{}", id_of(&created));
    let given = ok(&api.post(&path, &[("payment_method", "pm_card_visa")]).await);
    assert_eq!(given["status"], "requires_confirmation");
    assert!(given["payment_method"].as_str().unwrap().starts_with("pm_"));
    let confirmed = ok(&api.post(&format!("{path}/confirm"), &[]).await);
    assert_eq!(confirmed["status"], "succeeded");
    assert_eq!(confirmed["amount_received"], 1500);
    assert_eq!(confirmed["amount_capturable"], 0);
    assert_eq!(confirmed["payment_method"], given["payment_method"]);

    // Created with a payment method, an intent awaits confirmation.
    let with_method = ok(&api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1500"),
                ("currency", "usd"),
                ("payment_method", "pm_card_mastercard"),
            ],
        )
        .await);
    assert_eq!(with_method["status"], "requires_confirmation");
    let confirmed = ok(&api
        .post(
            &format!("/v1/payment_intents/{}/confirm", id_of(&with_method)),
            &[],
        )
        .await);
    assert_eq!(confirmed["status"], "succeeded");

    // A failed confirmation may be followed by another with a new method.
    let declined = pay_with(api, "pm_card_visa_chargeDeclined", "1500", &[]).await;
    assert_eq!(declined.status, 402);
    let intent_id = id_of(&declined.json()["error"]["payment_intent"]);
    let retried = ok(&api
        .post(
            &format!("/v1/payment_intents/{intent_id}/confirm"),
            &[("payment_method", "pm_card_visa")],
        )
        .await);
    assert_eq!(retried["status"], "succeeded");
    assert!(retried["last_payment_error"].is_null(), "{retried}");
    let charges = get_ok(api, &format!("/v1/charges?payment_intent={intent_id}")).await;
    let statuses: Vec<&str> = charges["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["succeeded", "failed"],
        "one charge per attempt, newest first"
    );
}

async fn manual_capture_captures_in_full_or_in_part_and_never_above_capturable(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    let manual = [("capture_method", "manual")];

    let held = ok(&pay_with(api, "pm_card_visa", "2000", &manual).await);
    assert_eq!(held["status"], "requires_capture");
    assert_eq!(held["capture_method"], "manual");
    assert_eq!(held["amount_capturable"], 2000);
    assert_eq!(held["amount_received"], 0);
    let charge = charge_of(api, &held).await;
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(charge["captured"], false);
    assert_eq!(charge["amount_captured"], 0);
    let capture_path = format!("/v1/payment_intents/{}/capture", id_of(&held));
    let too_much = api
        .post(&capture_path, &[("amount_to_capture", "2001")])
        .await;
    assert_eq!(too_much.status, 400, "{}", too_much.text);
    assert_eq!(too_much.json()["error"]["param"], "amount_to_capture");
    let still = get_ok(api, &format!("/v1/payment_intents/{}", id_of(&held))).await;
    assert_eq!(still["status"], "requires_capture");
    assert_eq!(still["amount_capturable"], 2000);
    let captured = ok(&api.post(&capture_path, &[]).await);
    assert_eq!(captured["status"], "succeeded");
    assert_eq!(captured["amount_received"], 2000);
    assert_eq!(captured["amount_capturable"], 0);
    let charge = charge_of(api, &captured).await;
    assert_eq!(charge["captured"], true);
    assert_eq!(charge["amount_captured"], 2000);

    let partial = ok(&pay_inline(api, "5555555555554444", "2000", &manual).await);
    assert_eq!(partial["status"], "requires_capture");
    let captured = ok(&api
        .post(
            &format!("/v1/payment_intents/{}/capture", id_of(&partial)),
            &[("amount_to_capture", "1500")],
        )
        .await);
    assert_eq!(captured["status"], "succeeded");
    assert_eq!(captured["amount_received"], 1500);
    assert_eq!(captured["amount_capturable"], 0);
    let charge = charge_of(api, &captured).await;
    assert_eq!(charge["captured"], true);
    assert_eq!(charge["amount_captured"], 1500);
    // Only what was captured can be refunded.
    let refund = api
        .post(
            "/v1/refunds",
            &[("payment_intent", &id_of(&partial)), ("amount", "1501")],
        )
        .await;
    assert_eq!(refund.status, 400, "{}", refund.text);
    let refund = ok(&api
        .post("/v1/refunds", &[("payment_intent", &id_of(&partial))])
        .await);
    assert_eq!(refund["amount"], 1500);
}

async fn cancel_works_from_every_cancelable_status_with_its_reason(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    let requires_payment_method = ok(&api
        .post(
            "/v1/payment_intents",
            &[("amount", "1000"), ("currency", "usd")],
        )
        .await);
    let requires_confirmation = ok(&api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await);
    let requires_action = ok(&pay_with(api, "pm_card_authenticationRequired", "1000", &[]).await);
    let requires_capture =
        ok(&pay_with(api, "pm_card_visa", "1000", &[("capture_method", "manual")]).await);
    let cases = [
        (
            &requires_payment_method,
            "requires_payment_method",
            "duplicate",
        ),
        (
            &requires_confirmation,
            "requires_confirmation",
            "fraudulent",
        ),
        (&requires_action, "requires_action", "requested_by_customer"),
        (&requires_capture, "requires_capture", "abandoned"),
    ];
    for (intent, status, reason) in cases {
        assert_eq!(intent["status"], status, "{intent}");
        let path = format!("/v1/payment_intents/{}", id_of(intent));
        let canceled = ok(&api
            .post(
                &format!("{path}/cancel"),
                &[("cancellation_reason", reason)],
            )
            .await);
        assert_eq!(canceled["status"], "canceled", "{status}");
        assert_eq!(canceled["cancellation_reason"], reason, "{status}");
        assert!(canceled["canceled_at"].is_i64(), "{status}: {canceled}");
        assert_eq!(canceled["amount_capturable"], 0, "{status}");
        assert!(canceled["next_action"].is_null(), "{status}");
        assert_eq!(get_ok(api, &path).await["status"], "canceled");
        // Canceled is final.
        for (action, form) in [
            ("cancel", vec![]),
            ("capture", vec![]),
            ("confirm", vec![("payment_method", "pm_card_visa")]),
        ] {
            let answer = api.post(&format!("{path}/{action}"), &form).await;
            assert_unexpected_state(&answer, &format!("{action} after cancel from {status}"));
            assert_eq!(
                answer.json()["error"]["payment_intent"]["status"],
                "canceled"
            );
        }
        let update = api.post(&path, &[("description", "late")]).await;
        assert_unexpected_state(&update, "update a canceled intent");
    }
    // The held funds were released: the uncaptured charge shows them refunded.
    let charge = charge_of(api, &requires_capture).await;
    assert_eq!(charge["captured"], false);
    assert_eq!(charge["amount_refunded"], 1000, "{charge}");
    let bad_reason = api
        .post(
            &format!(
                "/v1/payment_intents/{}/cancel",
                id_of(&requires_payment_method)
            ),
            &[("cancellation_reason", "bored")],
        )
        .await;
    assert_eq!(bad_reason.status, 400);
    assert_eq!(bad_reason.json()["error"]["param"], "cancellation_reason");
}

async fn illegal_moves_answer_payment_intent_unexpected_state(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    let succeeded = ok(&pay_with(api, "pm_card_visa", "1000", &[]).await);
    let path = format!("/v1/payment_intents/{}", id_of(&succeeded));
    for (what, answer) in [
        (
            "capture a succeeded intent",
            api.post(&format!("{path}/capture"), &[]).await,
        ),
        (
            "confirm a succeeded intent",
            api.post(&format!("{path}/confirm"), &[]).await,
        ),
        (
            "confirm a succeeded intent with a new method",
            api.post(
                &format!("{path}/confirm"),
                &[("payment_method", "pm_card_visa")],
            )
            .await,
        ),
        (
            "cancel a succeeded intent",
            api.post(&format!("{path}/cancel"), &[]).await,
        ),
        (
            "update a succeeded intent",
            api.post(&path, &[("description", "x")]).await,
        ),
        (
            "give a succeeded intent a payment method",
            api.post(&path, &[("payment_method", "pm_card_visa")]).await,
        ),
    ] {
        assert_unexpected_state(&answer, what);
        assert_eq!(
            answer.json()["error"]["payment_intent"]["status"],
            "succeeded",
            "{what}"
        );
    }
    let after = get_ok(api, &path).await;
    assert_eq!(after["status"], "succeeded");
    assert_eq!(after["amount_received"], 1000);
    let charges = get_ok(
        api,
        &format!("/v1/charges?payment_intent={}", id_of(&succeeded)),
    )
    .await;
    assert_eq!(
        charges["data"].as_array().unwrap().len(),
        1,
        "no second charge"
    );

    let fresh = ok(&api
        .post(
            "/v1/payment_intents",
            &[("amount", "1000"), ("currency", "usd")],
        )
        .await);
    let fresh_path = format!("/v1/payment_intents/{}", id_of(&fresh));
    assert_unexpected_state(
        &api.post(&format!("{fresh_path}/capture"), &[]).await,
        "capture an intent that requires a payment method",
    );
    assert_unexpected_state(
        &api.post(&format!("{fresh_path}/confirm"), &[]).await,
        "confirm an intent without a payment method",
    );
    let held = ok(&pay_with(api, "pm_card_visa", "1000", &[("capture_method", "manual")]).await);
    let held_path = format!("/v1/payment_intents/{}", id_of(&held));
    assert_unexpected_state(
        &api.post(&format!("{held_path}/confirm"), &[]).await,
        "confirm an intent that requires capture",
    );
    assert_unexpected_state(
        &api.post(&held_path, &[("amount", "500")]).await,
        "update an intent that requires capture",
    );
    ok(&api.post(&format!("{held_path}/capture"), &[]).await);
    assert_unexpected_state(
        &api.post(&format!("{held_path}/capture"), &[]).await,
        "capture twice",
    );
}

// ---------------------------------------------------------------------------
// 3. Authentication on the hosted page
// ---------------------------------------------------------------------------

const RETURN_URL: &str = "https://shop.example/return?order=6735";

/// Confirms a challenge card and checks the `redirect_to_url` action.
async fn challenged(api: &Api, number: &str) -> (Value, String) {
    let intent = ok(&pay_inline(api, number, "2500", &[("return_url", RETURN_URL)]).await);
    assert_eq!(intent["status"], "requires_action", "{intent}");
    let action = &intent["next_action"];
    assert_eq!(action["type"], "redirect_to_url", "{intent}");
    assert_eq!(action["redirect_to_url"]["return_url"], RETURN_URL);
    let url = action["redirect_to_url"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.contains(&format!("/authenticate/{}?client_secret=", id_of(&intent))),
        "{url}"
    );
    assert!(
        url.contains(intent["client_secret"].as_str().unwrap()),
        "{url}"
    );
    assert!(
        intent["latest_charge"].is_null(),
        "no charge before authentication"
    );
    (intent, url)
}

/// The customer answers the challenge on `url`; returns the raw response.
async fn answer_challenge(url: &str, outcome: &str) -> reqwest::Response {
    browser()
        .post(url)
        .form(&[("outcome", outcome)])
        .send()
        .await
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

async fn authentication_passed_on_the_hosted_page_redirects_with_succeeded(backend: Backend) {
    let env = setup(backend).await;
    let (intent, url) = challenged(&env.api, "4000002760003184").await;
    let id = id_of(&intent);
    let secret = intent["client_secret"].as_str().unwrap();

    let page = browser().get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let content_type = page.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = page.text().await.unwrap();
    assert!(html.contains("<form"), "{html}");
    assert!(
        html.contains(&format!(
            r#"action="/authenticate/{id}?client_secret={secret}""#
        )),
        "the form posts back to the same page: {html}"
    );
    assert!(html.contains(r#"value="pass""#) && html.contains(r#"value="fail""#));

    let passed = answer_challenge(&url, "pass").await;
    assert_eq!(passed.status(), 303);
    let to = location(&passed);
    assert!(to.starts_with(RETURN_URL), "{to}");
    assert!(to.contains(&format!("&payment_intent={id}&")), "{to}");
    assert!(to.contains("redirect_status=succeeded"), "{to}");
    assert!(
        to.contains(&format!("payment_intent_client_secret={secret}")),
        "{to}"
    );

    let after = get_ok(&env.api, &format!("/v1/payment_intents/{id}")).await;
    assert_eq!(after["status"], "succeeded", "{after}");
    assert!(after["next_action"].is_null());
    assert_eq!(after["amount_received"], 2500);
    let charge = charge_of(&env.api, &after).await;
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(charge["outcome"]["type"], "authorized");

    // Answering again changes nothing and sends the browser on again.
    let again = answer_challenge(&url, "fail").await;
    assert_eq!(again.status(), 303);
    assert!(location(&again).contains("redirect_status=succeeded"));
    let charges = get_ok(&env.api, &format!("/v1/charges?payment_intent={id}")).await;
    assert_eq!(charges["data"].as_array().unwrap().len(), 1);
    // The page now shows the result rather than the challenge.
    let html = browser()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<form"), "{html}");
    assert!(html.contains("succeeded"), "{html}");
}

async fn authentication_page_speaks_the_named_or_the_browsers_language(backend: Backend) {
    let env = setup(backend).await;
    let (intent, url) = challenged(&env.api, "4000002760003184").await;
    let id = id_of(&intent);
    let secret = intent["client_secret"].as_str().unwrap();
    let get = |url: String, accept: &'static str| async move {
        let page = browser()
            .get(&url)
            .header("accept-language", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        page.text().await.unwrap()
    };

    let named = get(format!("{url}&locale=zh-CN"), "en").await;
    assert!(named.contains(r#"<html lang="zh-CN">"#), "{named}");
    assert!(named.contains("验证您的付款") && named.contains("完成验证"));
    assert!(
        named.contains("US$25.00"),
        "the amount is written for zh-CN: {named}"
    );
    assert!(
        named.contains(&format!(
            r#"action="/authenticate/{id}?client_secret={secret}&#38;locale=zh-CN""#
        )),
        "the form keeps the named language: {named}"
    );
    assert!(named.contains(&format!(
        r#"href="/authenticate/{id}?client_secret={secret}&#38;locale=en""#
    )));

    let browsers = get(url.clone(), "fr, zh-CN;q=0.8").await;
    assert!(browsers.contains(r#"<html lang="zh-CN">"#), "{browsers}");
    let english = get(url.clone(), "de").await;
    assert!(english.contains(r#"<html lang="en">"#) && english.contains("$25.00"));
    assert!(english.contains("Complete authentication"));

    let passed = answer_challenge(&format!("{url}&locale=zh-CN"), "pass").await;
    assert_eq!(passed.status(), 303);
    let over = get(format!("{url}&locale=zh-CN"), "en").await;
    assert!(
        over.contains("付款成功") && !over.contains("<form"),
        "{over}"
    );
    let over = get(format!("{url}&locale=en"), "zh-CN").await;
    assert!(over.contains("This payment succeeded."), "{over}");
}

async fn authentication_failed_returns_the_intent_to_requires_payment_method(backend: Backend) {
    let env = setup(backend).await;
    let (intent, url) = challenged(&env.api, "4000002760003184").await;
    let id = id_of(&intent);
    let failed = answer_challenge(&url, "fail").await;
    assert_eq!(failed.status(), 303);
    let to = location(&failed);
    assert!(to.starts_with(RETURN_URL), "{to}");
    assert!(to.contains("redirect_status=failed"), "{to}");
    let after = get_ok(&env.api, &format!("/v1/payment_intents/{id}")).await;
    assert_eq!(after["status"], "requires_payment_method", "{after}");
    assert!(after["next_action"].is_null());
    assert_eq!(
        after["last_payment_error"]["code"],
        "payment_intent_authentication_failure"
    );
    let events = get_ok(&env.api, "/v1/events?type=payment_intent.payment_failed").await;
    assert_eq!(events["data"][0]["data"]["object"]["id"], id.as_str());
    // The customer may then pay with another card.
    let retried = ok(&env
        .api
        .post(
            &format!("/v1/payment_intents/{id}/confirm"),
            &[("payment_method", "pm_card_visa")],
        )
        .await);
    assert_eq!(retried["status"], "succeeded");
}

async fn authenticated_then_declined_card_fails_with_insufficient_funds(backend: Backend) {
    let env = setup(backend).await;
    let (intent, url) = challenged(&env.api, "4000008260003178").await;
    let id = id_of(&intent);
    let passed = answer_challenge(&url, "pass").await;
    assert_eq!(passed.status(), 303);
    assert!(location(&passed).contains("redirect_status=failed"));
    let after = get_ok(&env.api, &format!("/v1/payment_intents/{id}")).await;
    assert_eq!(after["status"], "requires_payment_method", "{after}");
    assert_eq!(after["last_payment_error"]["type"], "card_error");
    assert_eq!(after["last_payment_error"]["code"], "card_declined");
    assert_eq!(
        after["last_payment_error"]["decline_code"],
        "insufficient_funds"
    );
    let charge = charge_of(&env.api, &after).await;
    assert_eq!(charge["status"], "failed");
    assert_eq!(charge["outcome"]["reason"], "insufficient_funds");
}

async fn on_session_challenge_card_requires_action_and_declines_off_session(backend: Backend) {
    let env = setup(backend).await;
    let (intent, _) = challenged(&env.api, "4000002500003155").await;
    assert_eq!(intent["status"], "requires_action");
    let off_session = pay_inline(
        &env.api,
        "4000002500003155",
        "2500",
        &[("off_session", "true")],
    )
    .await;
    assert_eq!(off_session.status, 402, "{}", off_session.text);
    let error = &off_session.json()["error"];
    assert_eq!(error["type"], "card_error");
    assert_eq!(error["code"], "authentication_required");
    assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
    assert_eq!(
        error["payment_intent"]["last_payment_error"]["code"],
        "authentication_required"
    );
    // The same through a test payment method id.
    let by_id = pay_with(
        &env.api,
        "pm_card_authenticationRequiredOnSetup",
        "2500",
        &[("off_session", "true")],
    )
    .await;
    assert_eq!(by_id.status, 402);
    assert_eq!(by_id.json()["error"]["code"], "authentication_required");
}

async fn authentication_page_with_a_wrong_client_secret_is_404(backend: Backend) {
    let env = setup(backend).await;
    let (intent, url) = challenged(&env.api, "4000002760003184").await;
    let (other, _) = challenged(&env.api, "4000002760003184").await;
    let id = id_of(&intent);
    let base = url.split("/authenticate/").next().unwrap().to_owned();
    let wrong = [
        format!("{base}/authenticate/{id}?client_secret={id}_secret_wrongwrongwrongwrong"),
        format!(
            "{base}/authenticate/{id}?client_secret={}",
            other["client_secret"].as_str().unwrap()
        ),
        format!(
            "{base}/authenticate/pi_doesnotexist0000?client_secret={}",
            intent["client_secret"].as_str().unwrap()
        ),
    ];
    for wrong in wrong {
        let page = browser().get(&wrong).send().await.unwrap();
        assert_eq!(page.status(), 404, "{wrong}");
        let posted = answer_challenge(&wrong, "pass").await;
        assert_eq!(posted.status(), 404, "{wrong}");
        let body: Value = posted.json().await.unwrap();
        assert_eq!(body["error"]["code"], "resource_missing");
    }
    let after = get_ok(&env.api, &format!("/v1/payment_intents/{id}")).await;
    assert_eq!(after["status"], "requires_action", "nothing changed");
}

// ---------------------------------------------------------------------------
// 4. Refunds under concurrency
// ---------------------------------------------------------------------------

async fn concurrent_partial_refunds_never_exceed_the_captured_amount(backend: Backend) {
    let env = setup(backend).await;
    let intent = ok(&pay_with(&env.api, "pm_card_visa", "5000", &[]).await);
    let intent_id = id_of(&intent);
    let mut tasks = vec![];
    let amounts = std::iter::repeat_n(150, 50).chain(std::iter::repeat_n(1000, 5));
    for (i, amount) in amounts.enumerate() {
        let (api, intent_id) = (env.api.clone(), intent_id.clone());
        tasks.push(tokio::spawn(async move {
            let amount_text = amount.to_string();
            let answer = api
                .post_idempotent(
                    "/v1/refunds",
                    &format!("refund-{i}"),
                    &[("payment_intent", &intent_id), ("amount", &amount_text)],
                )
                .await;
            (amount, answer)
        }));
    }
    let (mut succeeded_sum, mut succeeded_count, mut refused) = (0i64, 0usize, 0usize);
    for task in tasks {
        let (amount, answer) = task.await.unwrap();
        match answer.status {
            200 => {
                let refund = answer.json();
                assert_eq!(refund["status"], "succeeded", "{refund}");
                assert_eq!(refund["amount"], amount);
                succeeded_sum += amount;
                succeeded_count += 1;
            }
            400 => {
                let code = answer.json()["error"]["code"].clone();
                assert!(
                    code == "amount_too_large" || code == "charge_already_refunded",
                    "{}",
                    answer.text
                );
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", answer.text),
        }
    }
    assert!(succeeded_sum <= 5000, "refunded {succeeded_sum} of 5000");
    assert!(refused > 0, "12,500 asked of 5,000: some must be refused");
    assert!(
        5000 - succeeded_sum < 150,
        "a 150 refund was refused while {} remained",
        5000 - succeeded_sum
    );
    let charge = charge_of(&env.api, &intent).await;
    assert_eq!(charge["amount_refunded"], succeeded_sum, "{charge}");
    let listed = get_ok(
        &env.api,
        &format!("/v1/refunds?payment_intent={intent_id}&limit=100"),
    )
    .await;
    let listed = listed["data"].as_array().unwrap();
    assert_eq!(listed.len(), succeeded_count);
    let listed_sum: i64 = listed.iter().map(|r| r["amount"].as_i64().unwrap()).sum();
    assert_eq!(listed_sum, succeeded_sum);
}

async fn refund_without_amount_refunds_the_rest_then_charge_already_refunded(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    let intent = ok(&pay_with(api, "pm_card_visa", "2000", &[]).await);
    let charge_id = intent["latest_charge"].as_str().unwrap().to_owned();
    let partial = ok(&api
        .post("/v1/refunds", &[("charge", &charge_id), ("amount", "500")])
        .await);
    assert_eq!(partial["amount"], 500);
    assert_eq!(partial["charge"], charge_id.as_str());
    assert_eq!(partial["payment_intent"], intent["id"]);
    let charge = charge_of(api, &intent).await;
    assert_eq!(charge["amount_refunded"], 500);
    assert_eq!(charge["refunded"], false);
    let rest = ok(&api
        .post("/v1/refunds", &[("payment_intent", &id_of(&intent))])
        .await);
    assert_eq!(rest["amount"], 1500);
    assert_eq!(rest["status"], "succeeded");
    let charge = charge_of(api, &intent).await;
    assert_eq!(charge["amount_refunded"], 2000);
    assert_eq!(charge["refunded"], true);
    for form in [
        vec![("payment_intent", id_of(&intent))],
        vec![("charge", charge_id.clone()), ("amount", "1".to_owned())],
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let again = api.post("/v1/refunds", &form).await;
        assert_eq!(again.status, 400, "{}", again.text);
        assert_eq!(again.json()["error"]["code"], "charge_already_refunded");
    }
    // An uncaptured payment cannot be refunded.
    let held = ok(&pay_with(api, "pm_card_visa", "2000", &[("capture_method", "manual")]).await);
    let refused = api
        .post("/v1/refunds", &[("payment_intent", &id_of(&held))])
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
}

// ---------------------------------------------------------------------------
// 5. Idempotent confirmation
// ---------------------------------------------------------------------------

async fn confirm_with_one_idempotency_key_replays_byte_for_byte_and_charges_once(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    for (test_id, status) in [("pm_card_visa", 200), ("pm_card_visa_chargeDeclined", 402)] {
        let intent = ok(&api
            .post(
                "/v1/payment_intents",
                &[
                    ("amount", "3000"),
                    ("currency", "usd"),
                    ("payment_method", test_id),
                ],
            )
            .await);
        let path = format!("/v1/payment_intents/{}/confirm", id_of(&intent));
        let key = format!("confirm-{test_id}");
        let first = api.post_idempotent(&path, &key, &[]).await;
        let again = api.post_idempotent(&path, &key, &[]).await;
        assert_eq!(first.status, status, "{}", first.text);
        assert_eq!(again.status, status);
        assert_eq!(first.text, again.text, "replayed byte for byte");
        assert!(first.headers.get("idempotent-replayed").is_none());
        assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
        let charges = get_ok(
            api,
            &format!("/v1/charges?payment_intent={}", id_of(&intent)),
        )
        .await;
        assert_eq!(charges["data"].as_array().unwrap().len(), 1, "{charges}");
        // The same key with other parameters is refused.
        let other = api
            .post_idempotent(&path, &key, &[("payment_method", "pm_card_visa")])
            .await;
        assert_eq!(other.status, 400, "{}", other.text);
        assert_eq!(other.json()["error"]["type"], "idempotency_error");
    }
}

async fn create_with_confirm_and_one_idempotency_key_makes_one_intent(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    let form = [
        ("amount", "4200"),
        ("currency", "usd"),
        ("confirm", "true"),
        ("payment_method", "pm_card_visa"),
    ];
    let first = api
        .post_idempotent("/v1/payment_intents", "create-once", &form)
        .await;
    let again = api
        .post_idempotent("/v1/payment_intents", "create-once", &form)
        .await;
    let intent = ok(&first);
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(first.text, again.text);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");

    // Concurrent requests with one key make one intent and one charge too.
    let mut tasks = vec![];
    for _ in 0..6 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.post_idempotent("/v1/payment_intents", "create-concurrently", &form)
                .await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            200 => {
                ids.insert(id_of(&answer.json()));
            }
            409 => assert_eq!(answer.json()["error"]["code"], "idempotency_key_in_use"),
            other => panic!("unexpected {other}: {}", answer.text),
        }
    }
    assert!(ids.len() <= 1, "{ids:?}");
    // Once the first has finished, a retry gets its answer.
    let settled = ok(&api
        .post_idempotent("/v1/payment_intents", "create-concurrently", &form)
        .await);
    ids.insert(id_of(&settled));
    assert_eq!(ids.len(), 1, "{ids:?}");
    let intents = get_ok(api, "/v1/payment_intents?limit=100").await;
    assert_eq!(intents["data"].as_array().unwrap().len(), 2, "{intents}");
    for id in [id_of(&intent), id_of(&settled)] {
        let charges = get_ok(api, &format!("/v1/charges?payment_intent={id}")).await;
        assert_eq!(charges["data"].as_array().unwrap().len(), 1, "{charges}");
    }
}

// ---------------------------------------------------------------------------
// 6. Payment methods
// ---------------------------------------------------------------------------

async fn create_card_method(api: &Api, number: &str, cvc: &str) -> Answer {
    let year = future_year();
    api.post(
        "/v1/payment_methods",
        &[
            ("type", "card"),
            ("card[number]", number),
            ("card[exp_month]", "7"),
            ("card[exp_year]", &year),
            ("card[cvc]", cvc),
            ("billing_details[name]", "Jenny Rosen"),
            ("metadata[source]", "test"),
        ],
    )
    .await
}

/// Every string in `value`, and every key, for leak checks.
fn strings_of(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(s) => found.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings_of(v, found)),
        Value::Object(map) => {
            for (key, v) in map {
                found.push(key.clone());
                strings_of(v, found);
            }
        }
        _ => {}
    }
}

async fn payment_methods_never_show_number_or_cvc_and_fingerprint_is_per_merchant(
    backend: Backend,
) {
    let env = setup(backend).await;
    let number = "4242424242424242";
    let first = create_card_method(&env.api, number, "737").await;
    let method = ok(&first);
    assert_eq!(method["object"], "payment_method");
    assert_eq!(method["type"], "card");
    assert!(id_of(&method).starts_with("pm_"));
    let card = &method["card"];
    assert_eq!(card["last4"], "4242");
    assert_eq!(card["brand"], "visa");
    assert_eq!(card["exp_month"], 7);
    assert_eq!(
        card["checks"]["cvc_check"], "unavailable",
        "nothing has checked it yet"
    );
    assert_eq!(method["billing_details"]["name"], "Jenny Rosen");
    assert_eq!(method["metadata"]["source"], "test");
    let fingerprint = card["fingerprint"].as_str().unwrap().to_owned();
    assert!(!fingerprint.is_empty());

    let retrieved = env
        .api
        .get(&format!("/v1/payment_methods/{}", id_of(&method)))
        .await;
    for answer in [&first, &retrieved] {
        assert!(!answer.text.contains(number), "{}", answer.text);
        let mut strings = vec![];
        strings_of(&answer.json(), &mut strings);
        for forbidden in ["number", "cvc", "737", number] {
            assert!(
                !strings.iter().any(|s| s == forbidden),
                "{forbidden} shown: {}",
                answer.text
            );
        }
    }
    // The card used in a payment is not shown there either.
    let paid = pay_inline(&env.api, number, "1000", &[]).await;
    assert!(!paid.text.contains(number));
    let charge = charge_of(&env.api, &paid.json()).await;
    assert!(!charge.to_string().contains(number));

    let same = ok(&create_card_method(&env.api, number, "123").await);
    assert_ne!(same["id"], method["id"]);
    assert_eq!(same["card"]["fingerprint"], fingerprint.as_str());
    let other_card = ok(&create_card_method(&env.api, "5555555555554444", "123").await);
    assert_ne!(other_card["card"]["fingerprint"], fingerprint.as_str());
    assert_eq!(other_card["card"]["brand"], "mastercard");
    assert_eq!(
        charge["payment_method_details"]["card"]["fingerprint"],
        fingerprint.as_str()
    );

    let other_merchant = create_merchant(&env.db, "Other");
    let other_api = Api::new(&env.server, &other_merchant.secret_key);
    let theirs = ok(&create_card_method(&other_api, number, "123").await);
    assert_eq!(theirs["card"]["last4"], "4242");
    assert_ne!(
        theirs["card"]["fingerprint"],
        fingerprint.as_str(),
        "fingerprints are per merchant"
    );
    let missing = other_api
        .get(&format!("/v1/payment_methods/{}", id_of(&method)))
        .await;
    assert_eq!(missing.status, 404);
}

async fn payment_methods_attach_list_and_detach_for_a_customer(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    let customer = ok(&api.post("/v1/customers", &[("name", "Jenny")]).await);
    let customer_id = id_of(&customer);
    let first = ok(&create_card_method(api, "4242424242424242", "123").await);
    let second = ok(&create_card_method(api, "5555555555554444", "123").await);
    let _loose = ok(&create_card_method(api, "378282246310005", "1234").await);
    for method in [&first, &second] {
        let attached = ok(&api
            .post(
                &format!("/v1/payment_methods/{}/attach", id_of(method)),
                &[("customer", &customer_id)],
            )
            .await);
        assert_eq!(attached["customer"], customer_id.as_str());
    }
    let listed = get_ok(api, &format!("/v1/customers/{customer_id}/payment_methods")).await;
    assert_eq!(listed["object"], "list");
    assert_eq!(
        listed["url"],
        format!("/v1/customers/{customer_id}/payment_methods")
    );
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            second["id"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        ]
    );
    let by_filter = get_ok(api, &format!("/v1/payment_methods?customer={customer_id}")).await;
    assert_eq!(by_filter["data"].as_array().unwrap().len(), 2);

    // An attached method pays for its customer.
    let paid = ok(&api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "900"),
                ("currency", "usd"),
                ("customer", &customer_id),
                ("payment_method", first["id"].as_str().unwrap()),
                ("confirm", "true"),
            ],
        )
        .await);
    assert_eq!(paid["status"], "succeeded");
    assert_eq!(paid["customer"], customer_id.as_str());
    // Another customer's method does not.
    let stranger = ok(&api.post("/v1/customers", &[("name", "Stranger")]).await);
    let refused = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "900"),
                ("currency", "usd"),
                ("customer", &id_of(&stranger)),
                ("payment_method", first["id"].as_str().unwrap()),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);

    let detached = ok(&api
        .post(
            &format!("/v1/payment_methods/{}/detach", id_of(&first)),
            &[],
        )
        .await);
    assert!(detached["customer"].is_null());
    let listed = get_ok(api, &format!("/v1/customers/{customer_id}/payment_methods")).await;
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], second["id"]);
    let twice = api
        .post(
            &format!("/v1/payment_methods/{}/detach", id_of(&first)),
            &[],
        )
        .await;
    assert_eq!(twice.status, 400, "{}", twice.text);
    let events = get_ok(api, "/v1/events?type=payment_method.attached").await;
    assert_eq!(events["data"].as_array().unwrap().len(), 2);
    let missing = api
        .get("/v1/customers/cus_doesnotexist00/payment_methods")
        .await;
    assert_eq!(missing.status, 404);
}

async fn publishable_key_creates_payment_methods_but_cannot_list_intents(backend: Backend) {
    let env = setup(backend).await;
    let publishable = Api::new(&env.server, &env.merchant.publishable_key);
    let method = ok(&create_card_method(&publishable, "4242424242424242", "123").await);
    assert!(id_of(&method).starts_with("pm_"));
    for path in [
        "/v1/payment_intents",
        "/v1/charges",
        "/v1/refunds",
        "/v1/payment_methods",
    ] {
        let answer = publishable.get(path).await;
        assert_eq!(answer.status, 403, "{path}: {}", answer.text);
    }
    let create = publishable
        .post(
            "/v1/payment_intents",
            &[("amount", "1000"), ("currency", "usd")],
        )
        .await;
    assert_eq!(create.status, 403, "{}", create.text);
    let intent = ok(&pay_with(&env.api, "pm_card_visa", "1000", &[]).await);
    let refund = publishable
        .post("/v1/refunds", &[("payment_intent", &id_of(&intent))])
        .await;
    assert_eq!(refund.status, 403, "{}", refund.text);
    let capture = publishable
        .post(
            &format!("/v1/payment_intents/{}/capture", id_of(&intent)),
            &[],
        )
        .await;
    assert_eq!(capture.status, 403, "{}", capture.text);
    // The secret key sees the method the browser made.
    let seen = get_ok(&env.api, &format!("/v1/payment_methods/{}", id_of(&method))).await;
    assert_eq!(seen["card"]["last4"], "4242");
}

async fn publishable_key_confirms_only_with_the_client_secret(backend: Backend) {
    let env = setup(backend).await;
    let publishable = Api::new(&env.server, &env.merchant.publishable_key);
    let intent = ok(&env
        .api
        .post(
            "/v1/payment_intents",
            &[("amount", "1200"), ("currency", "usd")],
        )
        .await);
    let secret = intent["client_secret"].as_str().unwrap().to_owned();
    let path = format!("/v1/payment_intents/{}", id_of(&intent));
    let method = ok(&create_card_method(&publishable, "4242424242424242", "123").await);
    let method_id = id_of(&method);

    let without = publishable
        .post(
            &format!("{path}/confirm"),
            &[("payment_method", &method_id)],
        )
        .await;
    assert_eq!(without.status, 403, "{}", without.text);
    let other = ok(&env
        .api
        .post(
            "/v1/payment_intents",
            &[("amount", "1200"), ("currency", "usd")],
        )
        .await);
    let wrong = publishable
        .post(
            &format!("{path}/confirm"),
            &[
                ("payment_method", &method_id),
                ("client_secret", other["client_secret"].as_str().unwrap()),
            ],
        )
        .await;
    assert!(
        wrong.status == 400 || wrong.status == 404,
        "{}: {}",
        wrong.status,
        wrong.text
    );
    assert_eq!(
        get_ok(&env.api, &path).await["status"],
        "requires_payment_method",
        "refused confirmations change nothing"
    );
    let retrieve = publishable.get(&path).await;
    assert_eq!(retrieve.status, 403, "{}", retrieve.text);
    let retrieve = publishable
        .get(&format!("{path}?client_secret={secret}"))
        .await;
    assert_eq!(ok(&retrieve)["id"], intent["id"]);

    let confirmed = ok(&publishable
        .post(
            &format!("{path}/confirm"),
            &[("payment_method", &method_id), ("client_secret", &secret)],
        )
        .await);
    assert_eq!(confirmed["status"], "succeeded");
    assert_eq!(confirmed["payment_method"], method_id.as_str());
    let stored = get_ok(&env.api, &path).await;
    assert_eq!(stored["status"], "succeeded");
    assert_eq!(stored["amount_received"], 1200);
}

// ---------------------------------------------------------------------------
// 7. Refunds
// ---------------------------------------------------------------------------

async fn refunds_retrieve_update_metadata_and_list_by_payment_intent(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    let first = ok(&pay_with(api, "pm_card_visa", "3000", &[]).await);
    let second = ok(&pay_with(api, "pm_card_visa", "3000", &[]).await);
    let mut made = vec![];
    for amount in ["100", "200"] {
        made.push(ok(&api
            .post(
                "/v1/refunds",
                &[
                    ("payment_intent", &id_of(&first)),
                    ("amount", amount),
                    ("reason", "requested_by_customer"),
                    ("metadata[ticket]", "T-1"),
                ],
            )
            .await));
    }
    ok(&api
        .post("/v1/refunds", &[("payment_intent", &id_of(&second))])
        .await);
    let refund = &made[1];
    assert!(id_of(refund).starts_with("re_"));
    assert_eq!(refund["reason"], "requested_by_customer");
    assert_eq!(refund["metadata"]["ticket"], "T-1");
    assert_eq!(refund["currency"], "usd");
    let path = format!("/v1/refunds/{}", id_of(refund));
    let retrieved = get_ok(api, &path).await;
    assert_eq!(retrieved, *refund);
    let updated = ok(&api
        .post(&path, &[("metadata[ticket]", ""), ("metadata[note]", "ok")])
        .await);
    assert_eq!(updated["metadata"], serde_json::json!({"note": "ok"}));
    assert_eq!(updated["amount"], 200);
    assert_eq!(get_ok(api, &path).await["metadata"]["note"], "ok");
    let refused = api.post(&path, &[("amount", "5")]).await;
    assert_eq!(refused.status, 400, "only metadata can change");

    let listed = get_ok(
        api,
        &format!("/v1/refunds?payment_intent={}", id_of(&first)),
    )
    .await;
    assert_eq!(listed["object"], "list");
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            made[1]["id"].as_str().unwrap(),
            made[0]["id"].as_str().unwrap()
        ]
    );
    let charge = first["latest_charge"].as_str().unwrap();
    let by_charge = get_ok(api, &format!("/v1/refunds?charge={charge}")).await;
    assert_eq!(by_charge["data"].as_array().unwrap().len(), 2);
    let all = get_ok(api, "/v1/refunds").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    assert_eq!(api.get("/v1/refunds/re_doesnotexist000").await.status, 404);
}

async fn pending_refund_can_be_canceled_and_gives_its_amount_back(backend: Backend) {
    // Refunds of the pending-refund card stay pending for ten minutes.
    let env = setup_with(
        backend,
        Some("recovery_interval_ms = 200\nsandbox_refund_settle_ms = 600000\n"),
    )
    .await;
    let api = &env.api;
    let intent = ok(&pay_with(api, "pm_card_refundPending", "2000", &[]).await);
    let refund = ok(&api
        .post(
            "/v1/refunds",
            &[("payment_intent", &id_of(&intent)), ("amount", "1200")],
        )
        .await);
    assert_eq!(refund["status"], "pending");
    assert_eq!(charge_of(api, &intent).await["amount_refunded"], 1200);
    // Let the recovery worker poll it a few times: it stays pending.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let path = format!("/v1/refunds/{}", id_of(&refund));
    assert_eq!(get_ok(api, &path).await["status"], "pending");
    let canceled = ok(&api.post(&format!("{path}/cancel"), &[]).await);
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(get_ok(api, &path).await["status"], "canceled");
    let charge = charge_of(api, &intent).await;
    assert_eq!(charge["amount_refunded"], 0, "{charge}");
    let again = api.post(&format!("{path}/cancel"), &[]).await;
    assert_eq!(again.status, 400, "{}", again.text);
    // The whole amount can be refunded again.
    let full = ok(&api
        .post("/v1/refunds", &[("payment_intent", &id_of(&intent))])
        .await);
    assert_eq!(full["amount"], 2000);
    // And the worker does not revive the canceled one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(get_ok(api, &path).await["status"], "canceled");
    assert_eq!(charge_of(api, &intent).await["amount_refunded"], 2000);
}

async fn succeeded_refund_cannot_be_canceled(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    let intent = ok(&pay_with(api, "pm_card_visa", "2000", &[]).await);
    let refund = ok(&api
        .post(
            "/v1/refunds",
            &[("payment_intent", &id_of(&intent)), ("amount", "800")],
        )
        .await);
    assert_eq!(refund["status"], "succeeded");
    let path = format!("/v1/refunds/{}", id_of(&refund));
    let refused = api.post(&format!("{path}/cancel"), &[]).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json()["error"]["type"], "invalid_request_error");
    assert_eq!(get_ok(api, &path).await["status"], "succeeded");
    assert_eq!(charge_of(api, &intent).await["amount_refunded"], 800);
}

// ---------------------------------------------------------------------------
// 8. Events
// ---------------------------------------------------------------------------

async fn successful_payment_is_found_as_a_payment_intent_succeeded_event(backend: Backend) {
    let env = setup(backend).await;
    let answer = pay_with(&env.api, "pm_card_visa", "2000", &[]).await;
    let intent = ok(&answer);
    let request_id = answer.headers["request-id"].to_str().unwrap().to_owned();
    let events = get_ok(&env.api, "/v1/events?type=payment_intent.succeeded").await;
    let data = events["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{events}");
    let event = &data[0];
    assert_eq!(event["object"], "event");
    assert!(id_of(event).starts_with("evt_"));
    assert_eq!(event["type"], "payment_intent.succeeded");
    assert_eq!(event["data"]["object"]["id"], intent["id"]);
    assert_eq!(event["data"]["object"]["status"], "succeeded");
    assert_eq!(event["request"]["id"], request_id.as_str());
    assert_eq!(event["livemode"], false);
    let fetched = get_ok(&env.api, &format!("/v1/events/{}", id_of(event))).await;
    assert_eq!(fetched["id"], event["id"]);
    for kind in ["payment_intent.created", "charge.succeeded"] {
        let events = get_ok(&env.api, &format!("/v1/events?type={kind}")).await;
        assert_eq!(events["data"].as_array().unwrap().len(), 1, "{kind}");
        assert_eq!(events["data"][0]["request"]["id"], request_id.as_str());
    }
    let failed = get_ok(&env.api, "/v1/events?type=payment_intent.payment_failed").await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 0);
}

/// The answer to a succeeded payment is written once and shared with its
/// `payment_intent.succeeded` event: its bytes are those of the intent
/// retrieved afterwards (rendered through a `Value` tree) and of the
/// event's `data.object` as stored.
async fn a_succeeded_payments_answer_is_byte_for_byte_its_retrieved_intent_and_its_events_object(
    backend: Backend,
) {
    let env = setup(backend).await;
    let answer = pay_with(
        &env.api,
        "pm_card_visa",
        "2000",
        &[("metadata[order]", "7")],
    )
    .await;
    let intent = ok(&answer);
    let retrieved = env
        .api
        .get(&format!("/v1/payment_intents/{}", id_of(&intent)))
        .await;
    assert_eq!(answer.text, retrieved.text);
    let events = get_ok(&env.api, "/v1/events?type=payment_intent.succeeded").await;
    let event_id = events["data"][0]["id"].as_str().unwrap().to_owned();
    let stored = env.api.get(&format!("/v1/events/{event_id}")).await;
    let object = format!("\"data\":{{\"object\":{}}},", answer.text.trim_end());
    assert!(stored.text.contains(&object), "{}", stored.text);
}

// ---------------------------------------------------------------------------
// 9. Lists, search and expand
// ---------------------------------------------------------------------------

async fn intents_list_by_customer_search_by_status_and_metadata_and_expand(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    let customer = ok(&api
        .post("/v1/customers", &[("email", "jenny@example.com")])
        .await);
    let customer_id = id_of(&customer);
    let paid = ok(&pay_with(
        api,
        "pm_card_visa",
        "2000",
        &[("customer", &customer_id), ("metadata[order]", "6735")],
    )
    .await);
    let open = ok(&api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "500"),
                ("currency", "usd"),
                ("customer", &customer_id),
                ("metadata[order]", "6736"),
            ],
        )
        .await);
    let anonymous = ok(&pay_with(api, "pm_card_visa", "700", &[("metadata[order]", "6737")]).await);

    let listed = get_ok(api, &format!("/v1/payment_intents?customer={customer_id}")).await;
    assert_eq!(listed["url"], "/v1/payment_intents");
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [open["id"].as_str().unwrap(), paid["id"].as_str().unwrap()]
    );
    let all = get_ok(api, "/v1/payment_intents").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 3);

    let search = |query: &str| {
        let api = api.clone();
        let query = query.to_owned();
        async move {
            let answer = api
                .send(
                    api.http
                        .get(format!("{}/v1/payment_intents/search", api.base_url))
                        .query(&[("query", query.as_str())]),
                )
                .await;
            let body = ok(&answer);
            assert_eq!(body["object"], "search_result", "{body}");
            let mut ids: Vec<String> = body["data"].as_array().unwrap().iter().map(id_of).collect();
            ids.sort();
            ids
        }
    };
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    assert_eq!(
        search("status:'succeeded'").await,
        sorted(vec![id_of(&paid), id_of(&anonymous)])
    );
    assert_eq!(
        search("status:'requires_payment_method'").await,
        vec![id_of(&open)]
    );
    assert_eq!(search("metadata['order']:'6736'").await, vec![id_of(&open)]);
    assert_eq!(
        search(&format!("status:'succeeded' AND customer:'{customer_id}'")).await,
        vec![id_of(&paid)]
    );
    assert_eq!(
        search("metadata['order']:'none'").await,
        Vec::<String>::new()
    );

    let path = format!("/v1/payment_intents/{}", id_of(&paid));
    let expanded = get_ok(
        api,
        &format!("{path}?expand[]=latest_charge&expand[]=payment_method&expand[]=customer"),
    )
    .await;
    assert_eq!(expanded["latest_charge"]["object"], "charge");
    assert_eq!(expanded["latest_charge"]["id"], paid["latest_charge"]);
    assert_eq!(expanded["latest_charge"]["status"], "succeeded");
    assert_eq!(expanded["payment_method"]["object"], "payment_method");
    assert_eq!(expanded["payment_method"]["id"], paid["payment_method"]);
    assert_eq!(expanded["payment_method"]["card"]["last4"], "4242");
    assert_eq!(expanded["customer"]["object"], "customer");
    assert_eq!(expanded["customer"]["email"], "jenny@example.com");
    let plain = get_ok(api, &path).await;
    assert!(plain["latest_charge"].is_string());
    assert_eq!(
        api.get(&format!("{path}?expand[]=amount")).await.status,
        400
    );
    let listed = get_ok(
        api,
        &format!("/v1/payment_intents?customer={customer_id}&expand[]=data.latest_charge"),
    )
    .await;
    assert_eq!(listed["data"][1]["latest_charge"]["object"], "charge");
    assert!(listed["data"][0]["latest_charge"].is_null());
}

// ---------------------------------------------------------------------------
// 10. Isolation between merchants
// ---------------------------------------------------------------------------

async fn another_merchants_intent_is_404_for_every_operation(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    let succeeded = ok(&pay_with(api, "pm_card_visa", "2000", &[]).await);
    let held = ok(&pay_with(api, "pm_card_visa", "2000", &[("capture_method", "manual")]).await);
    let open = ok(&api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await);
    let other = Api::new(&env.server, &create_merchant(&env.db, "Other").secret_key);
    let missing = |answer: &Answer, what: &str| {
        assert_eq!(answer.status, 404, "{what}: {}", answer.text);
        assert_eq!(answer.json()["error"]["code"], "resource_missing", "{what}");
    };
    for intent in [&succeeded, &held, &open] {
        let path = format!("/v1/payment_intents/{}", id_of(intent));
        missing(&other.get(&path).await, "retrieve");
        missing(&other.post(&path, &[("description", "x")]).await, "update");
        missing(
            &other.post(&format!("{path}/confirm"), &[]).await,
            "confirm",
        );
        missing(
            &other.post(&format!("{path}/capture"), &[]).await,
            "capture",
        );
        missing(&other.post(&format!("{path}/cancel"), &[]).await, "cancel");
        missing(
            &other
                .post("/v1/refunds", &[("payment_intent", &id_of(intent))])
                .await,
            "refund by intent",
        );
    }
    let charge = succeeded["latest_charge"].as_str().unwrap();
    missing(&other.get(&format!("/v1/charges/{charge}")).await, "charge");
    missing(
        &other.post("/v1/refunds", &[("charge", charge)]).await,
        "refund by charge",
    );
    let refund = ok(&api
        .post(
            "/v1/refunds",
            &[("payment_intent", &id_of(&succeeded)), ("amount", "100")],
        )
        .await);
    let refund_path = format!("/v1/refunds/{}", id_of(&refund));
    missing(&other.get(&refund_path).await, "retrieve refund");
    missing(
        &other.post(&refund_path, &[("metadata[k]", "v")]).await,
        "update refund",
    );
    missing(
        &other.post(&format!("{refund_path}/cancel"), &[]).await,
        "cancel refund",
    );
    for path in [
        "/v1/payment_intents",
        "/v1/charges",
        "/v1/refunds",
        "/v1/events",
    ] {
        let listed = get_ok(&other, path).await;
        let leaked: Vec<&Value> = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| {
                let text = o.to_string();
                text.contains(&id_of(&succeeded)) || text.contains(&id_of(&held))
            })
            .collect();
        assert!(
            leaked.is_empty(),
            "{path} shows another merchant's payments"
        );
    }
    // Nothing changed for the owner.
    assert_eq!(
        get_ok(api, &format!("/v1/payment_intents/{}", id_of(&held))).await["status"],
        "requires_capture"
    );
    assert_eq!(
        get_ok(api, &format!("/v1/payment_intents/{}", id_of(&open))).await["status"],
        "requires_confirmation"
    );
}

// ---------------------------------------------------------------------------
// Edges found while writing the above
// ---------------------------------------------------------------------------

async fn create_with_confirm_refused_while_executing_leaves_no_intent_behind(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    let owner = ok(&api.post("/v1/customers", &[("name", "Owner")]).await);
    let stranger = ok(&api.post("/v1/customers", &[("name", "Stranger")]).await);
    let method = ok(&create_card_method(api, "4242424242424242", "123").await);
    ok(&api
        .post(
            &format!("/v1/payment_methods/{}/attach", id_of(&method)),
            &[("customer", &id_of(&owner))],
        )
        .await);
    let no_such = pay_with(api, "pm_doesnotexist0000", "1000", &[]).await;
    assert_eq!(no_such.status, 404, "{}", no_such.text);
    assert_eq!(no_such.json()["error"]["param"], "payment_method");
    let not_theirs = pay_with(
        api,
        &id_of(&method),
        "1000",
        &[("customer", &id_of(&stranger))],
    )
    .await;
    assert_eq!(not_theirs.status, 400, "{}", not_theirs.text);
    let without_method = api
        .post(
            "/v1/payment_intents",
            &[("amount", "1000"), ("currency", "usd"), ("confirm", "true")],
        )
        .await;
    assert_eq!(without_method.status, 400, "{}", without_method.text);
    let intents = get_ok(api, "/v1/payment_intents").await;
    assert_eq!(
        intents["data"].as_array().unwrap().len(),
        0,
        "a refused create must not leave an intent the client never heard of: {intents}"
    );
    let created = get_ok(api, "/v1/events?type=payment_intent.created").await;
    assert_eq!(created["data"].as_array().unwrap().len(), 0, "{created}");
}

async fn new_payment_method_for_an_intent_awaiting_authentication_drops_its_next_action(
    backend: Backend,
) {
    let env = setup(backend).await;
    let (intent, _) = challenged(&env.api, "4000002760003184").await;
    let path = format!("/v1/payment_intents/{}", id_of(&intent));
    let updated = ok(&env
        .api
        .post(&path, &[("payment_method", "pm_card_visa")])
        .await);
    assert_eq!(updated["status"], "requires_confirmation");
    assert!(
        updated["next_action"].is_null(),
        "the challenge of the old payment method is moot: {updated}"
    );
    assert!(get_ok(&env.api, &path).await["next_action"].is_null());
    let confirmed = ok(&env.api.post(&format!("{path}/confirm"), &[]).await);
    assert_eq!(confirmed["status"], "succeeded");

    // Nor does a block of the new method leave the old challenge showing.
    let (intent, _) = challenged(&env.api, "4000002760003184").await;
    let path = format!("/v1/payment_intents/{}", id_of(&intent));
    let blocked = env
        .api
        .post(
            &format!("{path}/confirm"),
            &[("payment_method", "pm_card_radarBlock")],
        )
        .await;
    assert_eq!(blocked.status, 402, "{}", blocked.text);
    let error = &blocked.json()["error"];
    assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
    assert!(error["payment_intent"]["next_action"].is_null(), "{error}");
    assert!(get_ok(&env.api, &path).await["next_action"].is_null());
}

async fn authentication_page_redirects_with_failed_once_the_intent_is_canceled(backend: Backend) {
    let env = setup(backend).await;
    let (intent, url) = challenged(&env.api, "4000002760003184").await;
    let path = format!("/v1/payment_intents/{}", id_of(&intent));
    ok(&env.api.post(&format!("{path}/cancel"), &[]).await);
    for outcome in ["pass", "fail"] {
        let answered = answer_challenge(&url, outcome).await;
        assert_eq!(answered.status(), 303);
        let to = location(&answered);
        assert!(
            to.contains("redirect_status=failed"),
            "a canceled payment must not return as succeeded: {to}"
        );
    }
    let after = get_ok(&env.api, &path).await;
    assert_eq!(after["status"], "canceled");
    assert!(after["latest_charge"].is_null());
}

async fn concurrent_confirms_of_one_intent_charge_once(backend: Backend) {
    let env = setup(backend).await;
    let intent = ok(&env
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await);
    let path = format!("/v1/payment_intents/{}/confirm", id_of(&intent));
    let mut tasks = vec![];
    for _ in 0..8 {
        let (api, path) = (env.api.clone(), path.clone());
        tasks.push(tokio::spawn(async move { api.post(&path, &[]).await }));
    }
    let mut succeeded = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            200 => {
                assert_eq!(answer.json()["status"], "succeeded");
                succeeded += 1;
            }
            _ => assert_unexpected_state(&answer, "a concurrent confirm"),
        }
    }
    assert_eq!(succeeded, 1);
    let charges = get_ok(
        &env.api,
        &format!("/v1/charges?payment_intent={}", id_of(&intent)),
    )
    .await;
    assert_eq!(charges["data"].as_array().unwrap().len(), 1);
}

async fn concurrent_capture_and_cancel_of_one_intent_settle_on_one_outcome(backend: Backend) {
    let env = setup(backend).await;
    for round in 0..3 {
        let held = ok(&pay_with(
            &env.api,
            "pm_card_visa",
            "2000",
            &[("capture_method", "manual")],
        )
        .await);
        let path = format!("/v1/payment_intents/{}", id_of(&held));
        let mut tasks = vec![];
        for i in 0..6 {
            let action = if (i + round) % 2 == 0 {
                "capture"
            } else {
                "cancel"
            };
            let (api, path) = (env.api.clone(), format!("{path}/{action}"));
            tasks.push(tokio::spawn(
                async move { (action, api.post(&path, &[]).await) },
            ));
        }
        let mut winners = vec![];
        for task in tasks {
            let (action, answer) = task.await.unwrap();
            match answer.status {
                200 => winners.push(action),
                _ => assert_unexpected_state(&answer, action),
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        let after = get_ok(&env.api, &path).await;
        let charge = charge_of(&env.api, &after).await;
        if winners[0] == "capture" {
            assert_eq!(after["status"], "succeeded");
            assert_eq!(after["amount_received"], 2000);
            assert_eq!(charge["captured"], true);
            assert_eq!(charge["amount_refunded"], 0);
        } else {
            assert_eq!(after["status"], "canceled");
            assert_eq!(after["amount_received"], 0);
            assert_eq!(charge["captured"], false);
        }
        assert_eq!(after["amount_capturable"], 0);
    }
}

async fn refund_with_one_idempotency_key_refunds_once(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    let intent = ok(&pay_with(api, "pm_card_visa", "2000", &[]).await);
    let form = [
        ("payment_intent", id_of(&intent)),
        ("amount", "300".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = api
        .post_idempotent("/v1/refunds", "refund-once", &form)
        .await;
    let again = api
        .post_idempotent("/v1/refunds", "refund-once", &form)
        .await;
    assert_eq!(ok(&first)["amount"], 300);
    assert_eq!(first.text, again.text);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(charge_of(api, &intent).await["amount_refunded"], 300);
    let listed = get_ok(
        api,
        &format!("/v1/refunds?payment_intent={}", id_of(&intent)),
    )
    .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    for (amount, code) in [("0", "amount_too_small"), ("1701", "amount_too_large")] {
        let refused = api
            .post(
                "/v1/refunds",
                &[("payment_intent", &id_of(&intent)), ("amount", amount)],
            )
            .await;
        assert_eq!(refused.status, 400, "{}", refused.text);
        assert_eq!(refused.json()["error"]["code"], code);
    }
    assert_eq!(charge_of(api, &intent).await["amount_refunded"], 300);
}
