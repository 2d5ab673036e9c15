//! A customer's stored-value balance (`/v1/customers/{id}/balance_transactions`)
//! through the real binary, on SQLite and PostgreSQL: Stripe's shapes and
//! signs, the customer's `balance`, overdrafts refused with nothing
//! written, concurrent debits that never take a wallet below zero (on
//! PostgreSQL from two gateway instances at once), another merchant's
//! customer unseen, and `portcullis ledger verify` passing afterwards.

mod support;

use serde_json::Value;
use support::{cli, create_merchant, Api, Backend, TestDatabase, TestServer};

async fn credit_debit_and_customer_balance(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let customer = api
        .post("/v1/customers", &[("email", "w@example.com")])
        .await
        .json();
    let id = customer["id"].as_str().unwrap();
    assert_eq!(
        (customer["balance"].clone(), customer["currency"].clone()),
        (Value::from(0), Value::Null)
    );
    let path = format!("/v1/customers/{id}/balance_transactions");

    let credit = api
        .post(
            &path,
            &[
                ("amount", "-1000"),
                ("currency", "usd"),
                ("description", "Top-up"),
                ("metadata[order]", "7"),
            ],
        )
        .await;
    assert_eq!(credit.status, 200, "{}", credit.text);
    let credit = credit.json();
    assert!(credit["id"].as_str().unwrap().starts_with("cbtxn_"));
    assert_eq!(credit["object"], "customer_balance_transaction");
    assert_eq!(
        (credit["amount"].as_i64(), credit["ending_balance"].as_i64()),
        (Some(-1000), Some(-1000))
    );
    assert_eq!(
        (credit["type"].as_str(), credit["customer"].as_str()),
        (Some("adjustment"), Some(id))
    );
    assert_eq!(credit["metadata"]["order"], "7");

    let debit = api
        .post(&path, &[("amount", "300"), ("currency", "usd")])
        .await
        .json();
    assert_eq!(debit["ending_balance"], -700);
    let fetched = api.get(&format!("/v1/customers/{id}")).await.json();
    assert_eq!(
        (fetched["balance"].as_i64(), fetched["currency"].as_str()),
        (Some(-700), Some("usd"))
    );

    // An overdraft is refused and writes nothing; so are zero and a bad currency.
    let overdraft = api
        .post(&path, &[("amount", "701"), ("currency", "usd")])
        .await;
    assert_eq!(overdraft.status, 400, "{}", overdraft.text);
    assert_eq!(overdraft.json()["error"]["code"], "balance_insufficient");
    assert_eq!(
        api.post(&path, &[("amount", "0"), ("currency", "usd")])
            .await
            .status,
        400
    );
    assert_eq!(
        api.post(&path, &[("amount", "5"), ("currency", "zzz")])
            .await
            .status,
        400
    );
    // Another currency is another wallet, empty.
    assert_eq!(
        api.post(&path, &[("amount", "1"), ("currency", "eur")])
            .await
            .json()["error"]["code"],
        "balance_insufficient"
    );
    let listed = api.get(&path).await.json();
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], debit["id"]);
    assert_eq!(listed["url"], path);
    let one = api
        .get(&format!("{path}/{}", credit["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(one, credit);

    // A transfer to another customer: one ledger movement, a balance
    // transaction on each side.
    let friend = api.post("/v1/customers", &[]).await.json();
    let friend_id = friend["id"].as_str().unwrap();
    let transfer = |amount: &'static str, to: String| {
        let api = api.clone();
        let from = id.to_owned();
        async move {
            api.post(
                "/v1/customer_balance_transfers",
                &[
                    ("from_customer", from.as_str()),
                    ("to_customer", to.as_str()),
                    ("amount", amount),
                    ("currency", "usd"),
                ],
            )
            .await
        }
    };
    let sent = transfer("200", friend_id.to_owned()).await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    let sent = sent.json();
    assert_eq!(sent["object"], "customer_balance_transfer");
    assert_eq!(
        (
            sent["from_transaction"]["amount"].as_i64(),
            sent["from_transaction"]["ending_balance"].as_i64()
        ),
        (Some(200), Some(-500))
    );
    assert_eq!(
        (
            sent["to_transaction"]["amount"].as_i64(),
            sent["to_transaction"]["ending_balance"].as_i64()
        ),
        (Some(-200), Some(-200))
    );
    assert_eq!(sent["to_transaction"]["type"], "transfer");
    assert_eq!(
        api.get(&format!("/v1/customers/{friend_id}")).await.json()["balance"],
        -200
    );
    assert_eq!(
        transfer("501", friend_id.to_owned()).await.json()["error"]["code"],
        "balance_insufficient"
    );
    assert_eq!(transfer("1", id.to_owned()).await.status, 400);
    // Back to 700 for what follows.
    api.post(&path, &[("amount", "-200"), ("currency", "usd")])
        .await;

    // Another merchant sees none of it.
    let other = create_merchant(&db, "Other");
    let other = Api::new(&server, &other.secret_key);
    assert_eq!(other.get(&path).await.status, 404);
    assert_eq!(
        other
            .post(&path, &[("amount", "-5"), ("currency", "usd")])
            .await
            .status,
        404
    );
    // A publishable key may not touch balances.
    let app = Api::new(&server, &merchant.publishable_key);
    assert_eq!(
        app.post(&path, &[("amount", "-5"), ("currency", "usd")])
            .await
            .status,
        403
    );
}

async fn concurrent_debits_never_overdraw(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let first = TestServer::start(&db);
    // Several stateless instances share one PostgreSQL (and here the data
    // directory, for the key-hash secret); SQLite has one.
    let second = (backend == Backend::Postgres).then(|| TestServer::start(&db));
    let apis: Vec<Api> = [Some(&first), second.as_ref()]
        .into_iter()
        .flatten()
        .map(|server| Api::new(server, &merchant.secret_key))
        .collect();
    let customer = apis[0].post("/v1/customers", &[]).await.json();
    let path = format!(
        "/v1/customers/{}/balance_transactions",
        customer["id"].as_str().unwrap()
    );
    assert_eq!(
        apis[0]
            .post(&path, &[("amount", "-700"), ("currency", "usd")])
            .await
            .status,
        200
    );

    let mut tasks = vec![];
    for n in 0..24 {
        let api = apis[n % apis.len()].clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            api.post(&path, &[("amount", "100"), ("currency", "usd")])
                .await
        }));
    }
    let mut succeeded = 0;
    let mut endings = vec![];
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            200 => {
                succeeded += 1;
                endings.push(answer.json()["ending_balance"].as_i64().unwrap());
            }
            400 => assert_eq!(
                answer.json()["error"]["code"],
                "balance_insufficient",
                "{}",
                answer.text
            ),
            other => panic!("unexpected {other}: {}", answer.text),
        }
    }
    assert_eq!(succeeded, 7, "exactly what the wallet held");
    endings.sort_unstable();
    assert_eq!(
        endings,
        vec![-600, -500, -400, -300, -200, -100, 0],
        "each ending balance exact"
    );
    let fetched = apis[0]
        .get(&format!(
            "/v1/customers/{}",
            customer["id"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(fetched["balance"], 0);
    drop(second);
    drop(first);
    let verified = cli(&db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

async fn limits_cap_the_balance_and_each_days_movements(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let id = api.post("/v1/customers", &[]).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = api.post("/v1/customers", &[]).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/customers/{id}/balance_transactions");
    let move_ = |amount: &str| {
        let (api, path, amount) = (api.clone(), path.clone(), amount.to_owned());
        async move {
            api.post(&path, &[("amount", amount.as_str()), ("currency", "usd")])
                .await
        }
    };
    let breach = |answer: support::Answer, limit: &str| {
        assert_eq!(answer.status, 400, "{}", answer.text);
        let error = &answer.json()["error"];
        assert_eq!(error["code"], "balance_limit_exceeded");
        assert!(
            error["message"].as_str().unwrap().contains(limit),
            "{error}"
        );
    };
    let set = api
        .post(
            "/v1/customer_balance_limits",
            &[
                ("currency", "usd"),
                ("balance_max", "1000"),
                ("daily_credit_max", "1500"),
                ("daily_debit_max", "400"),
            ],
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(
        (
            set.json()["object"].as_str(),
            set.json()["customer"].clone()
        ),
        (Some("customer_balance_limit"), Value::Null)
    );

    assert_eq!(move_("-1000").await.status, 200);
    breach(move_("-1").await, "balance_max");
    assert_eq!(move_("400").await.status, 200);
    breach(move_("1").await, "daily_debit_max");
    // A customer's own limit replaces the merchant's for that field only.
    let own = api
        .post(
            "/v1/customer_balance_limits",
            &[
                ("currency", "usd"),
                ("customer", id.as_str()),
                ("daily_debit_max", "1000"),
            ],
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(move_("100").await.status, 200);
    assert_eq!(move_("-500").await.status, 200); // 1000 held, 1500 credited today
    breach(move_("-1").await, "balance_max");
    assert_eq!(move_("1").await.status, 200);
    breach(move_("-1").await, "daily_credit_max");
    // A transfer checks both sides: the receiver's limits too.
    let transfer = api
        .post(
            "/v1/customer_balance_transfers",
            &[
                ("from_customer", id.as_str()),
                ("to_customer", other.as_str()),
                ("amount", "400"),
                ("currency", "usd"),
            ],
        )
        .await;
    assert_eq!(transfer.status, 200, "{}", transfer.text);
    let topped = api
        .post(
            &format!("/v1/customers/{other}/balance_transactions"),
            &[("amount", "-600"), ("currency", "usd")],
        )
        .await;
    assert_eq!(topped.json()["ending_balance"], -1000);
    let back = api
        .post(
            "/v1/customer_balance_transfers",
            &[
                ("from_customer", other.as_str()),
                ("to_customer", id.as_str()),
                ("amount", "1000"),
                ("currency", "usd"),
            ],
        )
        .await;
    breach(back, "daily_debit_max");
    // Removing the merchant's daily credit limit lets credits through again.
    api.post(
        "/v1/customer_balance_limits",
        &[("currency", "usd"), ("daily_credit_max", "")],
    )
    .await;
    assert_eq!(move_("-1").await.status, 200);
    let listed = api
        .get(&format!("/v1/customer_balance_limits?customer={id}"))
        .await
        .json();
    assert_eq!(listed["data"][0]["daily_debit_max"], 1000);
    assert_eq!(listed["data"][0]["balance_max"], Value::Null);
    let bad = api
        .post(
            "/v1/customer_balance_limits",
            &[("currency", "usd"), ("balance_max", "-5")],
        )
        .await;
    assert_eq!(bad.status, 400);
}

on_both_backends!(
    credit_debit_and_customer_balance,
    concurrent_debits_never_overdraw,
    limits_cap_the_balance_and_each_days_movements
);

/// One random movement between three customers (indexes), in minor units.
#[derive(Clone, Debug)]
enum Movement {
    Credit(usize, i64),
    Debit(usize, i64),
    Transfer(usize, usize, i64),
    /// A card PaymentIntent with `purpose=customer_balance_top_up`.
    TopUp(usize, i64),
    /// A PaymentIntent paid from the balance (`customer_balance`).
    Spend(usize, i64),
    /// A refund of the customer's first top-up to its card.
    Withdraw(usize, i64),
    /// A withdrawal as a payout (`POST /v1/payouts` with `customer`),
    /// canceled at once (back to the wallet) when the flag says so.
    Payout(usize, i64, bool),
}

fn movement() -> impl proptest::strategy::Strategy<Value = Movement> {
    use proptest::prelude::*;
    prop_oneof![
        (0..3usize, 1..500i64).prop_map(|(c, a)| Movement::Credit(c, a)),
        (0..3usize, 1..500i64).prop_map(|(c, a)| Movement::Debit(c, a)),
        (0..3usize, 0..3usize, 1..500i64)
            .prop_filter("two customers", |(a, b, _)| a != b)
            .prop_map(|(a, b, n)| Movement::Transfer(a, b, n)),
        (0..3usize, 50..500i64).prop_map(|(c, a)| Movement::TopUp(c, a)),
        (0..3usize, 1..500i64).prop_map(|(c, a)| Movement::Spend(c, a)),
        (0..3usize, 1..500i64).prop_map(|(c, a)| Movement::Withdraw(c, a)),
        (0..3usize, 1..500i64, any::<bool>()).prop_map(|(c, a, k)| Movement::Payout(c, a, k)),
    ]
}

/// The customers of a run and each one's top-up PaymentIntents.
struct Wallets {
    customers: Vec<String>,
    top_ups: std::sync::Mutex<Vec<Vec<String>>>,
}

/// Sends a movement made of a PaymentIntent or a refund; `None` when
/// there is nothing to withdraw from yet.
async fn send_intent(api: &Api, wallets: &Wallets, movement: &Movement) -> Option<support::Answer> {
    let customer = |c: usize| wallets.customers[c].as_str();
    Some(match movement {
        Movement::TopUp(c, a) => {
            let answer = api
                .post(
                    "/v1/payment_intents",
                    &[
                        ("amount", &a.to_string()),
                        ("currency", "usd"),
                        ("customer", customer(*c)),
                        ("purpose", "customer_balance_top_up"),
                        ("payment_method", "pm_card_visa"),
                        ("confirm", "true"),
                    ],
                )
                .await;
            if answer.status == 200 {
                let id = answer.json()["id"].as_str().unwrap().to_owned();
                wallets.top_ups.lock().unwrap()[*c].push(id);
            }
            answer
        }
        Movement::Spend(c, a) => {
            api.post(
                "/v1/payment_intents",
                &[
                    ("amount", &a.to_string()),
                    ("currency", "usd"),
                    ("customer", customer(*c)),
                    ("payment_method_types[]", "customer_balance"),
                    ("payment_method_data[type]", "customer_balance"),
                    ("confirm", "true"),
                ],
            )
            .await
        }
        Movement::Withdraw(c, a) => {
            let first = wallets.top_ups.lock().unwrap()[*c].first().cloned()?;
            api.post(
                "/v1/refunds",
                &[("payment_intent", &first), ("amount", &a.to_string())],
            )
            .await
        }
        _ => unreachable!("not a PaymentIntent movement"),
    })
}

/// Sends one movement; answers each customer's wallet change if it was
/// accepted, nothing if refused for want of funds (or, for a withdrawal,
/// beyond what its top-up can still refund); any other answer fails.
async fn send(api: &Api, wallets: &Wallets, movement: &Movement) -> Vec<(usize, i64)> {
    let customers = &wallets.customers;
    let path = |c: usize| format!("/v1/customers/{}/balance_transactions", customers[c]);
    let (answer, deltas) = match movement {
        Movement::Credit(c, a) => (
            api.post(
                &path(*c),
                &[("amount", &(-a).to_string()), ("currency", "usd")],
            )
            .await,
            vec![(*c, *a)],
        ),
        Movement::Debit(c, a) => (
            api.post(
                &path(*c),
                &[("amount", &a.to_string()), ("currency", "usd")],
            )
            .await,
            vec![(*c, -a)],
        ),
        Movement::Transfer(from, to, a) => (
            api.post(
                "/v1/customer_balance_transfers",
                &[
                    ("from_customer", customers[*from].as_str()),
                    ("to_customer", customers[*to].as_str()),
                    ("amount", &a.to_string()),
                    ("currency", "usd"),
                ],
            )
            .await,
            vec![(*from, -a), (*to, *a)],
        ),
        Movement::TopUp(c, a) => match send_intent(api, wallets, movement).await {
            Some(answer) => (answer, vec![(*c, *a)]),
            None => return vec![],
        },
        Movement::Spend(c, a) | Movement::Withdraw(c, a) => {
            match send_intent(api, wallets, movement).await {
                Some(answer) => (answer, vec![(*c, -a)]),
                None => return vec![],
            }
        }
        Movement::Payout(c, a, cancel) => (
            pay_out(api, &customers[*c], *a, *cancel).await,
            vec![(*c, if *cancel { 0 } else { -a })],
        ),
    };
    match answer.status {
        200 => deltas,
        400 => {
            let code = answer.json()["error"]["code"].clone();
            let withdrawal_bound = matches!(movement, Movement::Withdraw(..))
                && (code == "amount_too_large" || code == "charge_already_refunded");
            assert!(
                code == "balance_insufficient" || withdrawal_bound,
                "{movement:?}: {}",
                answer.text
            );
            vec![]
        }
        other => panic!("{movement:?} answered {other}: {}", answer.text),
    }
}

/// A payout of `amount` from `customer`'s wallet, canceled at once if
/// `cancel`; the payout's answer, or the cancel's.
async fn pay_out(api: &Api, customer: &str, amount: i64, cancel: bool) -> support::Answer {
    let form = [
        ("customer", customer),
        ("amount", &amount.to_string()),
        ("currency", "usd"),
    ];
    let created = api.post("/v1/payouts", &form).await;
    if created.status != 200 || !cancel {
        return created;
    }
    let id = created.json()["id"].as_str().unwrap().to_owned();
    api.post(&format!("/v1/payouts/{id}/cancel"), &[]).await
}

/// The sum of every customer wallet the ledger holds, read behind the API.
async fn ledger_customer_liabilities(db: &TestDatabase) -> i64 {
    let sql = "SELECT CAST(COALESCE(SUM(balance_minor), 0) AS TEXT) FROM ledger_balances WHERE account LIKE '%:customer_balance:%'";
    let text = if db.url.starts_with("sqlite") {
        let conn = rusqlite::Connection::open(db.url.trim_start_matches("sqlite://")).unwrap();
        conn.query_row(sql, [], |row| row.get::<_, String>(0))
            .unwrap()
    } else {
        let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .query_one(sql, &[])
            .await
            .unwrap()
            .get::<_, String>(0)
    };
    text.parse().unwrap()
}

/// Random credits, debits, transfers, card top-ups, payments from the
/// balance, withdrawals to the card and as payouts (some canceled), four
/// at a time concurrently:
/// every wallet equals the sum of its accepted movements and is never
/// negative, the customers' balances sum to the ledger's customer
/// liabilities, and the ledger verifies afterwards.
async fn random_movements_keep_the_books(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let handle = tokio::runtime::Handle::current();
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 6,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    });
    let strategy = proptest::collection::vec(movement(), 1..24);
    let total_held = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let result = runner.run(&strategy, |movements| {
        let api = api.clone();
        let total_held = total_held.clone();
        tokio::task::block_in_place(|| {
            handle.block_on(async move {
                let mut customers = vec![];
                for _ in 0..3 {
                    customers.push(
                        api.post("/v1/customers", &[]).await.json()["id"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                    );
                }
                let wallets = Wallets {
                    customers: customers.clone(),
                    top_ups: std::sync::Mutex::new(vec![vec![]; 3]),
                };
                let mut expected = [0i64; 3];
                for batch in movements.chunks(4) {
                    // Top-ups race the rest too: a capture meeting another
                    // movement of its customer is re-planned, not a 503.
                    let answers = futures_util::future::join_all(
                        batch.iter().map(|m| send(&api, &wallets, m)),
                    )
                    .await;
                    for (c, delta) in answers.into_iter().flatten() {
                        expected[c] += delta;
                    }
                }
                for (c, id) in customers.iter().enumerate() {
                    let held = -api.get(&format!("/v1/customers/{id}")).await.json()["balance"]
                        .as_i64()
                        .unwrap();
                    assert!(held >= 0, "{id} below zero: {held}");
                    assert_eq!(held, expected[c], "{id}: {movements:?}");
                    total_held.fetch_add(held, std::sync::atomic::Ordering::SeqCst);
                }
            })
        });
        Ok(())
    });
    result.unwrap();
    let held = total_held.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(ledger_customer_liabilities(&db).await, held);
    drop(server);
    let verified = cli(&db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

on_both_backends!(random_movements_keep_the_books);
