//! `portcullis seed`: history written straight to the store by the API's
//! own builders, which the ledger verifies, whose rows are what payments
//! write, and which the gateway then lists, searches and pays on top of.

mod support;

use support::{cli, create_merchant, Api, Backend, TestDatabase, TestServer};

on_both_backends!(seeding_writes_customers_payments_and_a_ledger_that_verifies);
on_both_backends!(a_seeded_merchant_lists_searches_and_pays_through_the_gateway);
on_both_backends!(the_risk_counters_seeding_assessed_against_are_what_the_store_holds);

const PAYMENTS: i64 = 120;
const CUSTOMERS: i64 = 12;
/// Orders 0-4 and 100-104 use the decline card (5 %).
const DECLINED: i64 = 10;
/// The history spans the 30 days before the run.
const DAYS: i64 = 30;

async fn seeding_writes_customers_payments_and_a_ledger_that_verifies(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let out = cli(
        &db,
        &[
            "seed",
            "--payments",
            &PAYMENTS.to_string(),
            "--customers",
            &CUSTOMERS.to_string(),
            "--connections",
            "8",
            "--days",
            &DAYS.to_string(),
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert_eq!(report["payments"], PAYMENTS, "{report}");
    assert_eq!(report["customers"], CUSTOMERS, "{report}");
    assert_eq!(report["errors"], 0, "{report}");

    let verified = cli(&db, &["ledger", "verify"]);
    let succeeded = PAYMENTS - DECLINED;
    assert!(
        verified.starts_with(&format!("ledger verified: {succeeded} entries")),
        "one ledger entry per captured payment: {verified}"
    );
    let totals = counts(
        &db,
        &[
            "SELECT COUNT(*) FROM payment_intents",
            "SELECT COUNT(*) FROM payment_intents WHERE customer IS NULL",
            "SELECT COUNT(*) FROM customers",
            "SELECT COUNT(DISTINCT customer) FROM payment_intents",
            "SELECT COUNT(*) FROM payment_intents WHERE status = 'succeeded'",
            "SELECT COUNT(*) FROM charges",
            "SELECT COUNT(*) FROM events",
        ],
    )
    .await;
    assert_eq!(
        totals[..5],
        [PAYMENTS, 0, CUSTOMERS, CUSTOMERS, succeeded],
        "{totals:?}"
    );
    assert_eq!(totals[5], PAYMENTS, "a charge per payment, failed ones too");
    assert_eq!(totals[6], 3 * PAYMENTS, "created, charge and intent events");
    let shapes = counts(
        &db,
        &[
            "SELECT COUNT(*) FROM payment_attempts",
            "SELECT COUNT(*) FROM payment_methods",
            "SELECT COUNT(*) FROM risk_evaluations",
            "SELECT COUNT(*) FROM balance_transactions",
            "SELECT COUNT(*) FROM payment_intents WHERE status = 'requires_payment_method'",
        ],
    )
    .await;
    assert_eq!(
        shapes,
        [PAYMENTS, PAYMENTS, PAYMENTS, succeeded, DECLINED],
        "an attempt, a method and an evaluation per payment; a balance transaction per capture"
    );
    let times = counts(
        &db,
        &[
            "SELECT MAX(created) - MIN(created) FROM payment_intents",
            "SELECT MAX(created) - MIN(created) FROM charges",
            "SELECT COUNT(*) FROM payment_intents a JOIN payment_intents b \
             ON a.seq < b.seq AND a.created > b.created",
            "SELECT COUNT(*) FROM customers c WHERE c.created > \
             (SELECT MIN(created) FROM payment_intents)",
        ],
    )
    .await;
    let span_s = DAYS * 86_400;
    let last_step_s = span_s / PAYMENTS;
    assert!(
        (span_s - last_step_s..span_s).contains(&times[0]) && times[1] == times[0],
        "payments and charges spread over {DAYS} days: {times:?}"
    );
    assert_eq!(
        times[2..],
        [0, 0],
        "seq follows created; customers come first"
    );
}

/// Seeds an existing merchant (as `bench --seed-payments` does), then uses
/// the history through a gateway: the newest page, a customer found by
/// email, a seeded charge, and a new payment whose ledger entry follows the
/// seeded chain.
async fn a_seeded_merchant_lists_searches_and_pays_through_the_gateway(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Seeded");
    let out = cli(
        &db,
        &[
            "seed",
            "--merchant",
            &merchant.id,
            "--payments",
            "40",
            "--customers",
            "4",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert_eq!(report["merchant"], merchant.id.as_str(), "{report}");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);

    let page = api.get("/v1/payment_intents?limit=100").await.json();
    let intents = page["data"].as_array().unwrap();
    assert_eq!(intents.len(), 40, "{page}");
    let declined = intents
        .iter()
        .filter(|intent| intent["status"] == "requires_payment_method")
        .count();
    assert_eq!(declined, 5, "orders 0 to 4 of 40 decline");
    let paid = intents
        .iter()
        .find(|intent| intent["status"] == "succeeded")
        .unwrap();
    assert_eq!(paid["metadata"]["channel"], "seed");
    let charge = api
        .get(&format!(
            "/v1/charges/{}",
            paid["latest_charge"].as_str().unwrap()
        ))
        .await;
    assert_eq!(charge.status, 200, "{}", charge.text);
    assert_eq!(charge.json()["amount_captured"], paid["amount"]);

    let found = api
        .get("/v1/customers/search?query=email%3A%27seed-2%40example.com%27")
        .await
        .json();
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "{found}");
    let customer = found["data"][0]["id"].as_str().unwrap().to_owned();
    let theirs = api
        .get(&format!(
            "/v1/payment_intents?customer={customer}&limit=100"
        ))
        .await
        .json();
    assert_eq!(theirs["data"].as_array().unwrap().len(), 10, "{theirs}");

    let paid_now = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1234"),
                ("currency", "usd"),
                ("customer", &customer),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(paid_now.status, 200, "{}", paid_now.text);
    let verified = cli(&db, &["ledger", "verify"]);
    assert!(
        verified.starts_with("ledger verified: 36 entries"),
        "35 seeded captures and the new one: {verified}"
    );
}

/// The seeder assesses each payment against risk counters it keeps in
/// memory (it reads none back): after the run they equal the store's for
/// every subject it counted — three customers paying a hundred times a day
/// each, and the two test cards.
async fn the_risk_counters_seeding_assessed_against_are_what_the_store_holds(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let out = cli(
        &db,
        &[
            "seed",
            "--payments",
            "300",
            "--customers",
            "3",
            "--check-risk-counters",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert_eq!(report["risk_subjects_checked"], 5, "{report}");
    let evaluations = counts(
        &db,
        &[
            "SELECT COUNT(*) FROM risk_evaluations",
            "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM risk_counters WHERE metric = 'total' \
             AND subject_kind = 'customer' AND bucket_hour > 0",
        ],
    )
    .await;
    assert_eq!(
        evaluations,
        [300, 300],
        "one evaluation and count per payment"
    );
}

/// Each query's single integer, read behind the gateway's back.
async fn counts(db: &TestDatabase, queries: &[&str]) -> Vec<i64> {
    if let Some(path) = db.url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).unwrap();
        return queries
            .iter()
            .map(|sql| conn.query_row(sql, [], |row| row.get(0)).unwrap())
            .collect();
    }
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut out = vec![];
    for sql in queries {
        out.push(client.query_one(*sql, &[]).await.unwrap().get(0));
    }
    out
}
