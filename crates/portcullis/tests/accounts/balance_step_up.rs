//! Step-up before paying from the customer balance, on both backends: with
//! `accounts_balance_step_up_above`, a payment at or below it succeeds at
//! once; one above it answers `requires_action` (`redirect_to_url` to the
//! hosted step-up page) and moves no money until the signed-in holder,
//! stepped up with a passkey (a software authenticator), completes it; a
//! step-up that expired or never happened fails the intent with
//! `payment_intent_authentication_failure`, the balance unchanged; and
//! `portcullis ledger verify` passes after.

use super::passkeys::{Device, ORIGIN};
use super::{code, execute_sql, world, World, PASSWORD};
use crate::support::{cli, Answer, Backend};

pub(super) const ABOVE: &str = "500";

pub(super) async fn pay_from_balance(w: &World, customer: &str, amount: &str) -> Answer {
    let confirmed = [
        ("payment_method_data[type]", "customer_balance"),
        ("return_url", "https://shop.example/done"),
        ("confirm", "true"),
    ];
    create_balance_intent(w, customer, amount, &confirmed).await
}

/// Creates an intent of `customer` to pay from the balance, with `extra`.
pub(super) async fn create_balance_intent(
    w: &World,
    customer: &str,
    amount: &str,
    extra: &[(&str, &str)],
) -> Answer {
    let mut form = vec![
        ("amount", amount),
        ("currency", "usd"),
        ("customer", customer),
        ("payment_method_types[]", "customer_balance"),
    ];
    form.extend_from_slice(extra);
    w.merchant.post("/v1/payment_intents", &form).await
}

pub(super) async fn held(w: &World, customer: &str) -> i64 {
    -w.merchant
        .get(&format!("/v1/customers/{customer}"))
        .await
        .json()["balance"]
        .as_i64()
        .unwrap()
}

pub(super) async fn payments_booked(w: &World, customer: &str) -> usize {
    let path = format!("/v1/customers/{customer}/balance_transactions");
    listed(w, &path)
        .await
        .iter()
        .filter(|t| t["type"] == "payment")
        .count()
}

/// The `data` of the merchant's list at `path`.
pub(super) async fn listed(w: &World, path: &str) -> Vec<serde_json::Value> {
    let answer = w.merchant.get(path).await.json();
    answer["data"].as_array().unwrap().clone()
}

/// A payment above the threshold: `requires_action`, nothing debited.
pub(super) async fn waiting(w: &World, customer: &str, amount: &str) -> String {
    let before = held(w, customer).await;
    let asked = pay_from_balance(w, customer, amount).await;
    assert_eq!(asked.status, 200, "{}", asked.text);
    let intent = asked.json();
    assert_eq!(intent["status"], "requires_action", "{}", asked.text);
    let action = &intent["next_action"];
    assert_eq!(action["type"], "redirect_to_url");
    let url = action["redirect_to_url"]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{ORIGIN}/account/step_up")),
        "{url}"
    );
    assert_eq!(
        action["redirect_to_url"]["return_url"],
        "https://shop.example/done"
    );
    assert_eq!(held(w, customer).await, before, "nothing debited yet");
    intent["id"].as_str().unwrap().to_owned()
}

pub(super) fn authorize_path(intent: &str) -> String {
    format!("/v1/accounts/payment_intents/{intent}/authorize")
}

fn failed_authentication(answer: &Answer) {
    assert_eq!(answer.status, 200, "{}", answer.text);
    let intent = answer.json();
    assert_eq!(
        intent["status"], "requires_payment_method",
        "{}",
        answer.text
    );
    assert_eq!(
        intent["last_payment_error"]["code"],
        "payment_intent_authentication_failure"
    );
    assert!(intent["next_action"].is_null());
}

async fn large_balance_payments_wait_for_a_passkey_step_up(backend: Backend) {
    let w = world(
        backend,
        &[("PORTCULLIS_ACCOUNTS_BALANCE_STEP_UP_ABOVE", ABOVE)],
    )
    .await;
    let email = "lin@example.com";
    let (customer, session) = w.funded_holder(email, 1, "2000").await;
    let c = customer.as_str();
    let mut phone = Device::new(ORIGIN);
    let registered = w.register_passkey(&session, &mut phone).await;
    assert_eq!(registered.status, 200, "{}", registered.text);

    // At the threshold: paid at once.
    let small = pay_from_balance(&w, c, ABOVE).await;
    assert_eq!(small.json()["status"], "succeeded", "{}", small.text);
    assert_eq!(held(&w, c).await, 1500);

    // Above it: the holder steps up with the passkey, then completes it.
    let intent = waiting(&w, c, "800").await;
    let anonymous = w.app.post(&authorize_path(&intent), &[]).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    // Another customer's holder (no passkey, so nothing to step up) may
    // not complete it.
    w.registered("kai@example.com", 1).await;
    let stranger = w.session_of("kai@example.com", PASSWORD).await;
    let foreign = w.post_as(&authorize_path(&intent), &stranger, &[]).await;
    assert_eq!(foreign.status, 404, "{}", foreign.text);
    assert_eq!(code(&foreign), "resource_missing", "{}", foreign.text);
    let stepped = w.step_up(&session, &mut phone).await;
    assert_eq!(stepped.status, 200, "{}", stepped.text);
    let paid = w.post_as(&authorize_path(&intent), &session, &[]).await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.json()["status"], "succeeded", "{}", paid.text);
    assert_eq!(paid.json()["amount_received"], 800);
    assert_eq!(held(&w, c).await, 700);
    let again = w.post_as(&authorize_path(&intent), &session, &[]).await;
    assert_eq!(
        code(&again),
        "payment_intent_unexpected_state",
        "{}",
        again.text
    );
    assert_eq!(held(&w, c).await, 700, "debited once");
    assert_eq!(payments_booked(&w, c).await, 2);

    // The step-up expired: the intent fails, the balance is unchanged.
    let intent = waiting(&w, c, "600").await;
    execute_sql(
        &w.db,
        if w.db.url.starts_with("sqlite") {
            "UPDATE account_sessions SET body = \
             json_set(body, '$.step_up_until', 1, '$.payment_step_up_until', 1)"
        } else {
            "UPDATE account_sessions SET body = jsonb_set(jsonb_set(body::jsonb, \
             '{step_up_until}', '1'), '{payment_step_up_until}', '1')::text"
        },
    )
    .await;
    let expired = w.post_as(&authorize_path(&intent), &session, &[]).await;
    failed_authentication(&expired);

    // No step-up at all (a password session): fails the same way.
    let intent = waiting(&w, c, "700").await;
    let other = w.session_of(email, PASSWORD).await;
    let unverified = w.post_as(&authorize_path(&intent), &other, &[]).await;
    failed_authentication(&unverified);
    assert_eq!(held(&w, c).await, 700);
    assert_eq!(payments_booked(&w, c).await, 2);

    let verified = cli(&w.db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

crate::on_both_backends!(large_balance_payments_wait_for_a_passkey_step_up,);
