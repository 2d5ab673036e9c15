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

on_both_backends!(
    credit_debit_and_customer_balance,
    concurrent_debits_never_overdraw
);
