//! Withdrawals of stored value as payouts, and top-ups racing other
//! movements of their customer, through the real binary on SQLite and
//! PostgreSQL:
//!
//! - `POST /v1/payouts` with `customer=` debits the wallet (never below
//!   zero, within the daily spend limit, once per idempotency key), shows
//!   a `payout` balance transaction, is paid like any payout and, canceled
//!   while pending, returns to the wallet; `ledger verify` passes after.
//! - Card top-ups of one customer confirmed all at once, with credits of
//!   the same customer among them: each top-up's phase two meets the
//!   others' commits after its card was charged, is re-planned on fresh
//!   state and answers 200 (not 503), and every credit is counted once.

mod support;

use serde_json::Value;
use support::{cli, create_merchant, Answer, Api, Backend, TestDatabase, TestServer};

async fn new_customer(api: &Api) -> String {
    api.post("/v1/customers", &[]).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn credit(api: &Api, customer: &str, amount: i64) -> Answer {
    api.post(
        &format!("/v1/customers/{customer}/balance_transactions"),
        &[("amount", &(-amount).to_string()), ("currency", "usd")],
    )
    .await
}

async fn top_up(api: &Api, customer: &str, amount: &str) -> Answer {
    api.post(
        "/v1/payment_intents",
        &[
            ("amount", amount),
            ("currency", "usd"),
            ("customer", customer),
            ("purpose", "customer_balance_top_up"),
            ("payment_method", "pm_card_visa"),
            ("confirm", "true"),
        ],
    )
    .await
}

async fn held(api: &Api, customer: &str) -> i64 {
    -api.get(&format!("/v1/customers/{customer}")).await.json()["balance"]
        .as_i64()
        .unwrap()
}

async fn newest_transaction(api: &Api, customer: &str) -> Value {
    api.get(&format!("/v1/customers/{customer}/balance_transactions"))
        .await
        .json()["data"][0]
        .clone()
}

fn payout_form<'a>(customer: &'a str, amount: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("customer", customer),
        ("amount", amount),
        ("currency", "usd"),
    ]
}

async fn reserved_usd(api: &Api) -> i64 {
    let balance = api.get("/v1/balance").await.json();
    balance["reserved"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["currency"] == "usd")
        .map_or(0, |b| b["amount"].as_i64().unwrap())
}

fn refused(answer: &Answer, code: &str) {
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.json()["error"]["code"], code, "{}", answer.text);
}

async fn a_withdrawal_as_a_payout_leaves_the_wallet_and_is_paid_or_returned(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let customer = new_customer(&api).await;
    assert_eq!(credit(&api, &customer, 1000).await.status, 200);

    // More than the wallet holds: refused, nothing moves.
    refused(
        &api.post("/v1/payouts", &payout_form(&customer, "1001"))
            .await,
        "balance_insufficient",
    );
    // Repeated with one idempotency key: one payout.
    let form = payout_form(&customer, "400");
    let first = api.post_idempotent("/v1/payouts", "wd-1", &form).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = api.post_idempotent("/v1/payouts", "wd-1", &form).await;
    assert_eq!(again.text, first.text);
    let payout = first.json();
    assert_eq!(payout["object"], "payout");
    assert_eq!(payout["status"], "pending");
    assert_eq!(payout["customer"], customer.as_str());
    assert_eq!(payout["amount"], 400);
    assert_eq!(held(&api, &customer).await, 600);
    let moved = newest_transaction(&api, &customer).await;
    assert_eq!(moved["type"], "payout");
    assert_eq!(
        (moved["amount"].as_i64(), moved["ending_balance"].as_i64()),
        (Some(400), Some(-600))
    );
    assert_eq!(moved["payout"], payout["id"]);
    assert_eq!(payout["balance_transaction"], moved["id"]);
    assert_eq!(reserved_usd(&api).await, 400, "on its way: reserved");
    let events = api.get("/v1/events?type=payout.created").await.json();
    assert_eq!(events["data"][0]["data"]["object"]["id"], payout["id"]);

    // Canceled while pending: the money is back in the wallet.
    let id = payout["id"].as_str().unwrap();
    let canceled = api.post(&format!("/v1/payouts/{id}/cancel"), &[]).await;
    assert_eq!(canceled.status, 200, "{}", canceled.text);
    assert_eq!(canceled.json()["status"], "canceled");
    assert_eq!(held(&api, &customer).await, 1000);
    let back = newest_transaction(&api, &customer).await;
    assert_eq!(back["type"], "payout_cancel");
    assert_eq!(
        (back["amount"].as_i64(), back["ending_balance"].as_i64()),
        (Some(-400), Some(-1000))
    );
    assert_eq!(reserved_usd(&api).await, 0);

    // Paid: the reserve leaves the system, the wallet stays debited.
    let paid = api
        .post("/v1/payouts", &payout_form(&customer, "250"))
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    let id = paid.json()["id"].as_str().unwrap().to_owned();
    let arrived = api
        .post(&format!("/v1/test_helpers/payouts/{id}/pay"), &[])
        .await;
    assert_eq!(arrived.json()["status"], "paid", "{}", arrived.text);
    assert_eq!(held(&api, &customer).await, 750);
    assert_eq!(reserved_usd(&api).await, 0);
    let late = api.post(&format!("/v1/payouts/{id}/cancel"), &[]).await;
    refused(&late, "payout_not_cancelable");

    // The daily spend limit applies to payouts.
    let limited = api
        .post(
            "/v1/customer_balance_limits",
            &[
                ("customer", customer.as_str()),
                ("currency", "usd"),
                ("daily_debit_max", "300"),
            ],
        )
        .await;
    assert_eq!(limited.status, 200, "{}", limited.text);
    refused(
        &api.post("/v1/payouts", &payout_form(&customer, "100"))
            .await,
        "balance_limit_exceeded",
    );
    assert_eq!(held(&api, &customer).await, 750);
    drop(server);
    let verified = cli(&db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

/// Concurrent card top-ups of one customer, and credits among them.
const RACERS: usize = 6;

async fn top_ups_meeting_other_movements_of_their_customer_answer_200(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    // The acquirer answers every top-up after the same pause, so their
    // phase twos (and the credits sent meanwhile) meet.
    let server = TestServer::start_with_env(&db, &[], &[("PORTCULLIS_SANDBOX_LATENCY_MS", "300")]);
    let api = Api::new(&server, &merchant.secret_key);
    let customer = new_customer(&api).await;
    let top_ups = (0..RACERS).map(|_| top_up(&api, &customer, "1000"));
    let credits = (0..RACERS).map(|_| async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        credit(&api, &customer, 10).await
    });
    let (topped, credited) = tokio::join!(
        futures_util::future::join_all(top_ups),
        futures_util::future::join_all(credits)
    );
    for answer in topped.iter().chain(&credited) {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    for answer in &topped {
        assert_eq!(answer.json()["status"], "succeeded", "{}", answer.text);
    }
    let expected = RACERS as i64 * 1000 + RACERS as i64 * 10;
    assert_eq!(held(&api, &customer).await, expected);
    assert!(
        server.log().contains("re-planned a commit on fresh state"),
        "no top-up met another movement: the race was not forced"
    );
    // Every ending balance exact: the movements were serialized.
    let listed = api
        .get(&format!(
            "/v1/customers/{customer}/balance_transactions?limit=100"
        ))
        .await
        .json();
    let mut endings: Vec<i64> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| -t["ending_balance"].as_i64().unwrap())
        .collect();
    endings.sort_unstable();
    assert_eq!(endings.len(), 2 * RACERS);
    assert_eq!(endings.last(), Some(&expected));
    drop(server);
    let verified = cli(&db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

on_both_backends!(
    a_withdrawal_as_a_payout_leaves_the_wallet_and_is_paid_or_returned,
    top_ups_meeting_other_movements_of_their_customer_answer_200,
);
