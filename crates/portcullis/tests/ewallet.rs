//! The stored-value wallet's PaymentIntents through the real binary, on
//! SQLite and PostgreSQL: a card top-up (`purpose=customer_balance_top_up`)
//! credited when captured, its limits checked before the card is charged;
//! a merchant's PaymentIntent paid from the balance
//! (`payment_method_types[]=customer_balance`), refused beyond what the
//! wallet holds, and refunded back to the balance; a withdrawal to the
//! original card limited to the unspent balance, or as a payout; concurrent
//! spends from two instances that never overdraw; concurrent top-ups that
//! meet other movements of their customer and still answer 200; and
//! `portcullis ledger verify` after.

mod support;

use serde_json::Value;
use support::{cli, create_merchant, Answer, Api, Backend, TestDatabase, TestServer};

async fn top_up(api: &Api, customer: &str, amount: &str) -> Answer {
    top_up_with(api, customer, amount, "pm_card_visa").await
}

async fn top_up_with(api: &Api, customer: &str, amount: &str, method: &str) -> Answer {
    api.post(
        "/v1/payment_intents",
        &[
            ("amount", amount),
            ("currency", "usd"),
            ("customer", customer),
            ("purpose", "customer_balance_top_up"),
            ("payment_method", method),
            ("confirm", "true"),
        ],
    )
    .await
}

async fn pay_from_balance(api: &Api, customer: &str, amount: &str) -> Answer {
    api.post(
        "/v1/payment_intents",
        &[
            ("amount", amount),
            ("currency", "usd"),
            ("customer", customer),
            ("payment_method_types[]", "customer_balance"),
            ("payment_method_data[type]", "customer_balance"),
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

fn refused(answer: &Answer, code: &str) {
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.json()["error"]["code"], code, "{}", answer.text);
}

async fn top_up_pay_refund_and_withdraw(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let customer = api.post("/v1/customers", &[]).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = customer.as_str();

    // A top-up by card: the capture credits the wallet.
    let topped = top_up(&api, c, "1000").await;
    assert_eq!(topped.status, 200, "{}", topped.text);
    let topped = topped.json();
    assert_eq!(topped["status"], "succeeded");
    assert_eq!(topped["purpose"], "customer_balance_top_up");
    assert_eq!(held(&api, c).await, 1000);
    let credit = newest_transaction(&api, c).await;
    assert_eq!(
        (credit["type"].as_str(), credit["amount"].as_i64()),
        (Some("top_up"), Some(-1000))
    );
    assert_eq!(credit["payment_intent"], topped["id"]);
    assert_eq!(credit["ending_balance"], -1000);
    // A top-up needs its customer, and cannot itself be paid from a balance.
    let bare = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("purpose", "customer_balance_top_up"),
            ],
        )
        .await;
    assert_eq!(bare.status, 400, "{}", bare.text);
    assert_eq!(bare.json()["error"]["param"], "customer");

    // Limits are checked before the card is charged.
    let limit = api
        .post(
            "/v1/customer_balance_limits",
            &[
                ("currency", "usd"),
                ("customer", c),
                ("balance_max", "1500"),
            ],
        )
        .await;
    assert_eq!(limit.status, 200, "{}", limit.text);
    refused(&top_up(&api, c, "501").await, "balance_limit_exceeded");
    assert_eq!(held(&api, c).await, 1000);

    // Paying a merchant's PaymentIntent from the balance.
    let paid = pay_from_balance(&api, c, "300").await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    let paid = paid.json();
    assert_eq!(
        (paid["status"].as_str(), paid["amount_received"].as_i64()),
        (Some("succeeded"), Some(300))
    );
    assert_eq!(paid["latest_charge"], Value::Null);
    assert_eq!(held(&api, c).await, 700);
    let debit = newest_transaction(&api, c).await;
    assert_eq!(
        (debit["type"].as_str(), debit["amount"].as_i64()),
        (Some("payment"), Some(300))
    );
    assert_eq!(debit["ending_balance"], -700);
    refused(
        &pay_from_balance(&api, c, "701").await,
        "balance_insufficient",
    );
    assert_eq!(held(&api, c).await, 700);
    // The daily spend limit holds for payments too (300 spent today).
    let daily = api
        .post(
            "/v1/customer_balance_limits",
            &[
                ("currency", "usd"),
                ("customer", c),
                ("daily_debit_max", "350"),
            ],
        )
        .await;
    assert_eq!(daily.status, 200, "{}", daily.text);
    refused(
        &pay_from_balance(&api, c, "51").await,
        "balance_limit_exceeded",
    );
    api.post(
        "/v1/customer_balance_limits",
        &[
            ("currency", "usd"),
            ("customer", c),
            ("daily_debit_max", ""),
        ],
    )
    .await;
    // Without a customer there is no balance to pay from.
    let anonymous = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("payment_method_types[]", "customer_balance"),
                ("payment_method_data[type]", "customer_balance"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(anonymous.status, 400, "{}", anonymous.text);
    assert_eq!(anonymous.json()["error"]["param"], "customer");
    // Another merchant cannot spend this customer's balance.
    let other = create_merchant(&db, "Other");
    let other = Api::new(&server, &other.secret_key);
    assert_eq!(pay_from_balance(&other, c, "100").await.status, 404);

    // A refund of that payment returns to the balance, at once.
    let pi = paid["id"].as_str().unwrap();
    let refund = api
        .post("/v1/refunds", &[("payment_intent", pi), ("amount", "100")])
        .await;
    assert_eq!(refund.status, 200, "{}", refund.text);
    let refund = refund.json();
    assert_eq!(
        (refund["status"].as_str(), refund["charge"].clone()),
        (Some("succeeded"), Value::Null)
    );
    assert_eq!(refund["destination_details"]["type"], "customer_balance");
    assert_eq!(held(&api, c).await, 800);
    assert_eq!(newest_transaction(&api, c).await["type"], "payment_refund");
    refused(
        &api.post("/v1/refunds", &[("payment_intent", pi), ("amount", "201")])
            .await,
        "amount_too_large",
    );
    assert_eq!(
        api.post("/v1/refunds", &[("payment_intent", pi)])
            .await
            .status,
        200
    );
    assert_eq!(held(&api, c).await, 1000);
    refused(
        &api.post("/v1/refunds", &[("payment_intent", pi)]).await,
        "charge_already_refunded",
    );

    // A withdrawal to the card: a refund of the top-up, only what is unspent.
    assert_eq!(pay_from_balance(&api, c, "900").await.status, 200);
    let top_up_pi = topped["id"].as_str().unwrap();
    refused(
        &api.post(
            "/v1/refunds",
            &[("payment_intent", top_up_pi), ("amount", "101")],
        )
        .await,
        "balance_insufficient",
    );
    assert_eq!(held(&api, c).await, 100);
    let withdrawn = api
        .post(
            "/v1/refunds",
            &[("payment_intent", top_up_pi), ("amount", "100")],
        )
        .await;
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.text);
    assert_eq!(withdrawn.json()["destination_details"]["type"], "card");
    assert_eq!(held(&api, c).await, 0);
    let out = newest_transaction(&api, c).await;
    assert_eq!(
        (out["type"].as_str(), out["amount"].as_i64()),
        (Some("withdrawal"), Some(100))
    );
    drop(server);
    let verified = cli(&db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

async fn concurrent_spends_never_overdraw(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let first = TestServer::start(&db);
    // Two stateless instances on one PostgreSQL; SQLite has one.
    let second = (backend == Backend::Postgres).then(|| TestServer::start(&db));
    let apis: Vec<Api> = [Some(&first), second.as_ref()]
        .into_iter()
        .flatten()
        .map(|server| Api::new(server, &merchant.secret_key))
        .collect();
    let customer = apis[0].post("/v1/customers", &[]).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(top_up(&apis[0], &customer, "700").await.status, 200);

    let mut tasks = vec![];
    for n in 0..24 {
        let api = apis[n % apis.len()].clone();
        let customer = customer.clone();
        tasks.push(tokio::spawn(async move {
            pay_from_balance(&api, &customer, "100").await
        }));
    }
    let mut succeeded = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            200 => {
                assert_eq!(answer.json()["status"], "succeeded");
                succeeded += 1;
            }
            400 => refused(&answer, "balance_insufficient"),
            other => panic!("unexpected {other}: {}", answer.text),
        }
    }
    assert_eq!(succeeded, 7, "exactly what the wallet held");
    assert_eq!(held(&apis[0], &customer).await, 0);
    let listed = apis[0]
        .get(&format!(
            "/v1/customers/{customer}/balance_transactions?limit=100"
        ))
        .await
        .json();
    let mut endings: Vec<i64> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "payment")
        .map(|t| t["ending_balance"].as_i64().unwrap())
        .collect();
    endings.sort_unstable();
    assert_eq!(
        endings,
        vec![-600, -500, -400, -300, -200, -100, 0],
        "each ending balance exact"
    );
    drop(second);
    drop(first);
    let verified = cli(&db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

/// Refunds answer at once and settle (or fail) within a second or two.
const FAST_REFUND_SETTLEMENT: &str = "recovery_interval_ms = 200\n\
     sandbox_refund_settle_ms = 1000\n\
     refund_settle_window_ms = 3000\n";

async fn a_failed_withdrawal_returns_to_the_wallet(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    std::fs::create_dir_all(&db.data_dir).unwrap();
    let config = db.data_dir.join("ewallet-test.toml");
    std::fs::write(&config, FAST_REFUND_SETTLEMENT).unwrap();
    let server = TestServer::start_with(&db, &["--config", config.to_str().unwrap()]);
    let api = Api::new(&server, &merchant.secret_key);
    let customer = api.post("/v1/customers", &[]).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // This test card's refunds answer succeeded, then fail.
    let topped = top_up_with(&api, &customer, "1000", "pm_card_refundFail").await;
    assert_eq!(topped.status, 200, "{}", topped.text);
    let pi = topped.json()["id"].as_str().unwrap().to_owned();
    let refund = api
        .post("/v1/refunds", &[("payment_intent", &pi), ("amount", "400")])
        .await;
    assert_eq!(refund.status, 200, "{}", refund.text);
    assert_eq!(held(&api, &customer).await, 600);
    let path = format!("/v1/refunds/{}", refund.json()["id"].as_str().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while api.get(&path).await.json()["status"] != "failed" {
        assert!(
            std::time::Instant::now() < deadline,
            "the refund never failed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(held(&api, &customer).await, 1000);
    let back = newest_transaction(&api, &customer).await;
    assert_eq!(
        (back["type"].as_str(), back["amount"].as_i64()),
        (Some("withdrawal_reversal"), Some(-400))
    );
    assert_eq!(back["ending_balance"], -1000);
    drop(server);
    let verified = cli(&db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

// Withdrawals as payouts, and top-ups racing other movements of their
// customer: `POST /v1/payouts` with `customer=` debits the wallet (never
// below zero, within the daily spend limit, once per idempotency key), is
// paid like any payout and, canceled while pending, returns to the
// wallet; card top-ups of one customer confirmed at once, with credits
// among them, are re-planned on fresh state and answer 200, not 503.

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
/// Rounds of racers, each on a fresh customer, until one forces a re-plan:
/// on a busy machine the racers' commits may all miss each other in one.
const RACE_ROUNDS_MAX: usize = 8;
const REPLANNED: &str = "re-planned a commit on fresh state";

async fn top_ups_meeting_other_movements_of_their_customer_answer_200(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    // The acquirer answers every top-up after the same pause, so their
    // phase twos (and the credits sent meanwhile) meet.
    let server = TestServer::start_with_env(&db, &[], &[("PORTCULLIS_SANDBOX_LATENCY_MS", "300")]);
    let api = Api::new(&server, &merchant.secret_key);
    for _ in 0..RACE_ROUNDS_MAX {
        race_top_ups_and_credits(&api).await;
        if server.log().contains(REPLANNED) {
            break;
        }
    }
    assert!(
        server.log().contains(REPLANNED),
        "no top-up met another movement in {RACE_ROUNDS_MAX} rounds: the race was not forced"
    );
    drop(server);
    let verified = cli(&db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

/// One round: [`RACERS`] top-ups of a new customer and as many credits
/// sent as the top-ups' phase twos begin; every answer 200 and every
/// movement applied once, in some order.
async fn race_top_ups_and_credits(api: &Api) {
    let customer = new_customer(api).await;
    let top_ups = (0..RACERS).map(|_| top_up(api, &customer, "1000"));
    let credits = (0..RACERS).map(|_| async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        credit(api, &customer, 10).await
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
    assert_eq!(held(api, &customer).await, expected);
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
}

on_both_backends!(
    top_up_pay_refund_and_withdraw,
    concurrent_spends_never_overdraw,
    a_failed_withdrawal_returns_to_the_wallet,
    a_withdrawal_as_a_payout_leaves_the_wallet_and_is_paid_or_returned,
    top_ups_meeting_other_movements_of_their_customer_answer_200,
);
