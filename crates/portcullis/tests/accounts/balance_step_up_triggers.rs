//! What asks for the holder's step-up before a payment from the customer
//! balance besides its amount, and what ends the wait, on both backends:
//!
//! - the merchant's risk rules (`payment_method_type = customer_balance`):
//!   `review` lets the payment succeed and opens a review (without a
//!   charge, refunded to the balance by `refund_and_close`), `block`
//!   declines it as a blocked card payment (402, nothing debited),
//!   `request_3ds` asks for the step-up (`balance_step_up.reason =
//!   risk_rule`), after which the holder's authorize pays it;
//! - a new device: a confirmation carrying the holder's session waits for
//!   step-up unless the session's device is one the holder stepped up
//!   with a passkey or an emailed code (not the password) or signed in
//!   with a passkey on; a merchant's server confirmation, with no
//!   session, does not;
//! - the expiry worker fails an intent left waiting past
//!   `accounts_balance_step_up_expires_s` (the balance unchanged, then
//!   authorize answers the unexpected-state error), and racing the
//!   holder's authorize it never lets both win.

use super::balance_step_up::{
    authorize_path, create_balance_intent, held, listed, pay_from_balance, payments_booked,
    waiting, ABOVE,
};
use super::passkeys::{Device, ORIGIN};
use super::step_up_payment::step_up_by_emailed_code;
use super::{code, query_texts, world, World, PASSWORD};
use crate::support::risk::add_rule;
use crate::support::{cli, Answer, Backend};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Credits `customer`'s balance with `amount` cents.
async fn credit(w: &World, customer: &str, amount: i64) {
    let credited = w
        .merchant
        .post(
            &format!("/v1/customers/{customer}/balance_transactions"),
            &[("amount", &(-amount).to_string()), ("currency", "usd")],
        )
        .await;
    assert_eq!(credited.status, 200, "{}", credited.text);
}

/// A registered, signed-in holder with a passkey on `phone` and `balance`
/// cents: their customer and session (opened with `device_id`, if any).
async fn holder(
    w: &World,
    email: &str,
    device_id: Option<&str>,
    phone: &mut Device,
    balance: i64,
) -> (String, String) {
    let account = w.registered(email, 1).await;
    let customer = account["customer"].as_str().unwrap().to_owned();
    credit(w, &customer, balance).await;
    let session = signed_in(w, email, device_id).await;
    let registered = w.register_passkey(&session, phone).await;
    assert_eq!(registered.status, 200, "{}", registered.text);
    (customer, session)
}

/// A password sign-in, naming `device_id` when given.
async fn signed_in(w: &World, email: &str, device_id: Option<&str>) -> String {
    let mut form = vec![("email", email), ("password", PASSWORD)];
    form.extend(device_id.map(|id| ("device_id", id)));
    let answer = w.app.post("/v1/accounts/login", &form).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["token"].as_str().unwrap().to_owned()
}

/// A new intent of `amount` cents of `customer`, to pay from the balance.
async fn intent_of(w: &World, customer: &str, amount: &str) -> Value {
    let created = create_balance_intent(w, customer, amount, &[]).await;
    assert_eq!(created.status, 200, "{}", created.text);
    created.json()
}

/// The holder's app confirms `intent` from the balance in `session`.
async fn confirm_in_session(w: &World, intent: &Value, session: &str) -> Answer {
    let id = intent["id"].as_str().unwrap();
    w.post_as(
        &format!("/v1/payment_intents/{id}/confirm"),
        session,
        &[
            ("client_secret", intent["client_secret"].as_str().unwrap()),
            ("payment_method_data[type]", "customer_balance"),
        ],
    )
    .await
}

/// Asserts `answer` waits for step-up for `reason`; answers the intent id.
fn asks_step_up(answer: &Answer, reason: &str) -> String {
    assert_eq!(answer.status, 200, "{}", answer.text);
    let intent = answer.json();
    assert_eq!(intent["status"], "requires_action", "{}", answer.text);
    assert_eq!(intent["next_action"]["type"], "redirect_to_url");
    assert_eq!(
        intent["balance_step_up"]["reason"], reason,
        "{}",
        answer.text
    );
    assert!(intent["balance_step_up"]["expires_at"].as_i64().unwrap() > 0);
    intent["id"].as_str().unwrap().to_owned()
}

async fn intent(w: &World, id: &str) -> Value {
    w.merchant
        .get(&format!("/v1/payment_intents/{id}"))
        .await
        .json()
}

/// How many `kind` events name intent `id`.
async fn events_of(w: &World, kind: &str, id: &str) -> usize {
    let path = format!("/v1/events?type={kind}&limit=100");
    let events = listed(w, &path).await;
    events
        .iter()
        .filter(|e| e["data"]["object"]["id"] == id)
        .count()
}

async fn risk_rules_review_block_or_ask_for_step_up(backend: Backend) {
    let w = world(backend, &[]).await;
    let only_balance = ":payment_method_type: = 'customer_balance'";
    add_rule(
        &w.merchant,
        &format!("review if {only_balance} and :amount: > 2.5 and :amount: < 3.5"),
    )
    .await;
    let blocking = add_rule(
        &w.merchant,
        &format!("block if {only_balance} and :amount: > 3.5 and :amount: < 4.5"),
    )
    .await;
    add_rule(
        &w.merchant,
        &format!("request_3ds if {only_balance} and :amount: > 4.5 and :amount: < 5.5"),
    )
    .await;
    let mut phone = Device::new(ORIGIN);
    let (customer, session) = holder(&w, "rui@example.com", None, &mut phone, 2000).await;
    let c = customer.as_str();

    // Review: paid at once, a review opened on the intent (no charge).
    let reviewed = pay_from_balance(&w, c, "300").await;
    assert_eq!(reviewed.status, 200, "{}", reviewed.text);
    let paid = reviewed.json();
    assert_eq!(paid["status"], "succeeded", "{}", reviewed.text);
    assert!(paid["latest_charge"].is_null());
    let review_id = paid["review"].as_str().expect("a review").to_owned();
    let review = w
        .merchant
        .get(&format!("/v1/reviews/{review_id}"))
        .await
        .json();
    assert_eq!(review["open"], true);
    assert_eq!(review["payment_intent"], paid["id"]);
    assert!(review["charge"].is_null());
    assert_eq!(held(&w, c).await, 1700);
    // Refunded as fraud: back to the balance, the review closed.
    let closed = w
        .merchant
        .post(&format!("/v1/reviews/{review_id}/refund_and_close"), &[])
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    assert_eq!(closed.json()["closed_reason"], "refunded_as_fraud");
    assert_eq!(closed.json()["refund"]["status"], "succeeded");
    assert_eq!(held(&w, c).await, 2000);
    let review = w
        .merchant
        .get(&format!("/v1/reviews/{review_id}"))
        .await
        .json();
    assert_eq!(review["closed_reason"], "refunded_as_fraud", "{review}");

    // Block: declined as a blocked card payment, nothing debited.
    let blocked = pay_from_balance(&w, c, "400").await;
    assert_eq!(blocked.status, 402, "{}", blocked.text);
    let error = &blocked.json()["error"];
    assert_eq!(error["code"], "card_declined");
    assert_eq!(error["decline_code"], "fraudulent");
    assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
    let charge = w
        .merchant
        .get(&format!(
            "/v1/charges/{}",
            error["charge"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(charge["outcome"]["type"], "blocked");
    assert_eq!(charge["outcome"]["rule"], blocking["id"]);
    assert_eq!(held(&w, c).await, 2000);
    assert_eq!(payments_booked(&w, c).await, 1);

    // request_3ds: waits for the holder, who steps up and pays.
    let asked = pay_from_balance(&w, c, "500").await;
    let id = asks_step_up(&asked, "risk_rule");
    assert_eq!(held(&w, c).await, 2000, "nothing debited yet");
    let stepped = w.step_up(&session, &mut phone).await;
    assert_eq!(stepped.status, 200, "{}", stepped.text);
    let done = w.post_as(&authorize_path(&id), &session, &[]).await;
    assert_eq!(done.json()["status"], "succeeded", "{}", done.text);
    assert!(done.json()["balance_step_up"].is_null());
    assert_eq!(held(&w, c).await, 1500);

    // Each assessment is stored with its intent.
    let evaluations = query_texts(&w.db, "SELECT body FROM risk_evaluations").await;
    assert!(evaluations.len() >= 3, "{evaluations:?}");
    assert!(evaluations
        .iter()
        .any(|e| e.contains(&id) && e.contains("request_3ds")));

    // Refunded in part through /v1/refunds: its review closes `refunded`.
    let again = pay_from_balance(&w, c, "300").await;
    assert_eq!(again.status, 200, "{}", again.text);
    let again = again.json();
    let again_review = again["review"].as_str().expect("a review");
    let intent = again["id"].as_str().unwrap();
    let refund = w
        .merchant
        .post(
            "/v1/refunds",
            &[("payment_intent", intent), ("amount", "100")],
        )
        .await;
    assert_eq!(refund.status, 200, "{}", refund.text);
    let review = w
        .merchant
        .get(&format!("/v1/reviews/{again_review}"))
        .await
        .json();
    assert_eq!(review["open"], false, "{review}");
    assert_eq!(review["closed_reason"], "refunded", "{review}");
    let verified = cli(&w.db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

async fn a_new_device_asks_for_step_up_a_known_one_does_not(backend: Backend) {
    let w = world(backend, &[]).await;
    let laptop = "laptop-7f3e9c1a2b4d6e8f";
    let mut phone = Device::new(ORIGIN);
    let (customer, session) = holder(&w, "mei@example.com", Some(laptop), &mut phone, 5000).await;
    let c = customer.as_str();

    // The first payment from this device waits for step-up.
    let first = intent_of(&w, c, "100").await;
    let id = asks_step_up(
        &confirm_in_session(&w, &first, &session).await,
        "new_device",
    );
    let stepped = w.step_up(&session, &mut phone).await;
    assert_eq!(stepped.status, 200, "{}", stepped.text);
    let paid = w.post_as(&authorize_path(&id), &session, &[]).await;
    assert_eq!(paid.json()["status"], "succeeded", "{}", paid.text);

    // Known now: a later session on the same device pays at once.
    let later = signed_in(&w, "mei@example.com", Some(laptop)).await;
    let second = intent_of(&w, c, "200").await;
    let answer = confirm_in_session(&w, &second, &later).await;
    assert_eq!(answer.json()["status"], "succeeded", "{}", answer.text);
    assert_eq!(held(&w, c).await, 4700);

    // Another device, or a session naming none, waits.
    for other in [Some("tablet-0a1b2c3d4e5f6789"), None] {
        let elsewhere = signed_in(&w, "mei@example.com", other).await;
        let third = intent_of(&w, c, "300").await;
        asks_step_up(
            &confirm_in_session(&w, &third, &elsewhere).await,
            "new_device",
        );
    }
    // A passkey sign-in proves the holder on its device.
    let started = w
        .app
        .post("/v1/accounts/passkeys/login/challenge", &[])
        .await
        .json();
    let credential = phone.get(&started["options"]).await;
    let kiosk = "kiosk-99887766554433221100";
    let by_passkey = w
        .app
        .post(
            "/v1/accounts/passkeys/login",
            &[
                ("challenge", started["id"].as_str().unwrap()),
                ("credential", &credential),
                ("device_id", kiosk),
            ],
        )
        .await;
    assert_eq!(by_passkey.status, 200, "{}", by_passkey.text);
    let kiosk_session = by_passkey.json()["token"].as_str().unwrap().to_owned();
    let fourth = intent_of(&w, c, "400").await;
    let answer = confirm_in_session(&w, &fourth, &kiosk_session).await;
    assert_eq!(answer.json()["status"], "succeeded", "{}", answer.text);
    assert_eq!(held(&w, c).await, 4300);

    // The merchant's server confirms without a holder session: no device.
    let by_server = pay_from_balance(&w, c, "100").await;
    assert_eq!(
        by_server.json()["status"],
        "succeeded",
        "{}",
        by_server.text
    );
    // Another holder's session may not confirm this customer's payment.
    w.registered("bo@example.com", 1).await;
    let stranger = signed_in(&w, "bo@example.com", Some(laptop)).await;
    let fifth = intent_of(&w, c, "100").await;
    let foreign = confirm_in_session(&w, &fifth, &stranger).await;
    assert_eq!(foreign.status, 400, "{}", foreign.text);
    // A short device id is refused; only digests of device ids are stored.
    let short = w
        .app
        .post(
            "/v1/accounts/login",
            &[
                ("email", "mei@example.com"),
                ("password", PASSWORD),
                ("device_id", "abc"),
            ],
        )
        .await;
    assert_eq!(code(&short), "parameter_invalid", "{}", short.text);
    let stored = query_texts(
        &w.db,
        "SELECT body FROM account_sessions UNION ALL SELECT body FROM customer_accounts",
    )
    .await
    .join("\n");
    for id in [laptop, kiosk] {
        assert!(!stored.contains(id), "{id} stored in the clear");
    }
    assert!(stored.contains("device_hash"));
}

/// A password step-up is the sign-in's own factor: the device stays new.
/// An emailed code proves the mailbox too: the device is known since, and
/// only that one.
async fn an_emailed_code_makes_the_device_known_a_password_does_not(backend: Backend) {
    let w = world(backend, &[]).await;
    let (email, desk) = ("noa@example.com", "desk-5a6b7c8d9e0f1a2b");
    let account = w.registered(email, 1).await;
    let c = account["customer"].as_str().unwrap();
    credit(&w, c, 5000).await;

    // The password completes the payment, the device stays new.
    let session = signed_in(&w, email, Some(desk)).await;
    let first = intent_of(&w, c, "100").await;
    let id = asks_step_up(
        &confirm_in_session(&w, &first, &session).await,
        "new_device",
    );
    let password = [("password", PASSWORD)];
    let stepped = w.post_as("/v1/accounts/step_up", &session, &password).await;
    assert_eq!(stepped.status, 200, "{}", stepped.text);
    let paid = w.post_as(&authorize_path(&id), &session, &[]).await;
    assert_eq!(paid.json()["status"], "succeeded", "{}", paid.text);
    let later = signed_in(&w, email, Some(desk)).await;
    let second = intent_of(&w, c, "200").await;
    let id = asks_step_up(&confirm_in_session(&w, &second, &later).await, "new_device");

    // An emailed code (the second message) completes it and makes it known.
    step_up_by_emailed_code(&w, &later, email, 2).await;
    let paid = w.post_as(&authorize_path(&id), &later, &[]).await;
    assert_eq!(paid.json()["status"], "succeeded", "{}", paid.text);
    let again = signed_in(&w, email, Some(desk)).await;
    let third = intent_of(&w, c, "300").await;
    let answer = confirm_in_session(&w, &third, &again).await;
    assert_eq!(answer.json()["status"], "succeeded", "{}", answer.text);
    assert_eq!(held(&w, c).await, 5000 - 600);

    // Another device is still new.
    let phone = signed_in(&w, email, Some("phone-0f1e2d3c4b5a6978")).await;
    let fourth = intent_of(&w, c, "400").await;
    asks_step_up(&confirm_in_session(&w, &fourth, &phone).await, "new_device");
}

async fn expiry_worker_fails_waiting_payments(backend: Backend) {
    let w = world(
        backend,
        &[
            ("PORTCULLIS_ACCOUNTS_BALANCE_STEP_UP_ABOVE", ABOVE),
            ("PORTCULLIS_ACCOUNTS_BALANCE_STEP_UP_EXPIRES_S", "2"),
        ],
    )
    .await;
    let mut phone = Device::new(ORIGIN);
    let (customer, session) = holder(&w, "ines@example.com", None, &mut phone, 2000).await;
    let c = customer.as_str();
    let id = waiting(&w, c, "800").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let failed = loop {
        let now = intent(&w, &id).await;
        if now["status"] != "requires_action" {
            break now;
        }
        assert!(Instant::now() < deadline, "never failed: {now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(failed["status"], "requires_payment_method");
    assert_eq!(
        failed["last_payment_error"]["code"],
        "payment_intent_authentication_failure"
    );
    assert!(failed["next_action"].is_null() && failed["balance_step_up"].is_null());
    assert_eq!(events_of(&w, "payment_intent.payment_failed", &id).await, 1);
    assert_eq!(held(&w, c).await, 2000);
    // A fresh step-up comes too late: the intent no longer waits.
    let stepped = w.step_up(&session, &mut phone).await;
    assert_eq!(stepped.status, 200, "{}", stepped.text);
    let late = w.post_as(&authorize_path(&id), &session, &[]).await;
    assert_eq!(
        code(&late),
        "payment_intent_unexpected_state",
        "{}",
        late.text
    );
    assert_eq!(held(&w, c).await, 2000);
    assert_eq!(payments_booked(&w, c).await, 0);

    // Authorize racing the worker around the expiry: one of them wins.
    let amount = 600;
    let mut ids = vec![];
    for _ in 0..4 {
        ids.push(waiting(&w, c, &amount.to_string()).await);
    }
    let stepped = w.step_up(&session, &mut phone).await;
    assert_eq!(stepped.status, 200, "{}", stepped.text);
    let racing = ids.iter().enumerate().map(|(n, id)| {
        let (w, session, id) = (&w, session.clone(), id.clone());
        async move {
            // Spread over the second in which the waits end (2 s after asking).
            tokio::time::sleep(Duration::from_millis(1_300 + 300 * n as u64)).await;
            w.post_as(&authorize_path(&id), &session, &[]).await
        }
    });
    let answers = futures_util::future::join_all(racing).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut paid = 0;
    for (id, answer) in ids.iter().zip(&answers) {
        let settled = intent(&w, id).await;
        let succeeded = events_of(&w, "payment_intent.succeeded", id).await;
        let failures = events_of(&w, "payment_intent.payment_failed", id).await;
        match settled["status"].as_str().unwrap() {
            "succeeded" => {
                paid += 1;
                assert_eq!((succeeded, failures), (1, 0), "{id}");
                assert_eq!(answer.json()["status"], "succeeded", "{}", answer.text);
            }
            "requires_payment_method" => {
                assert_eq!((succeeded, failures), (0, 1), "{id}");
                assert_ne!(answer.json()["status"], "succeeded", "{}", answer.text);
            }
            other => panic!("{id} left {other}"),
        }
    }
    assert_eq!(held(&w, c).await, 2000 - paid * amount);
    assert_eq!(payments_booked(&w, c).await, paid as usize);
    let verified = cli(&w.db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

crate::on_both_backends!(
    risk_rules_review_block_or_ask_for_step_up,
    a_new_device_asks_for_step_up_a_known_one_does_not,
    an_emailed_code_makes_the_device_known_a_password_does_not,
    expiry_worker_fails_waiting_payments,
);
