//! `portcullis seed`: history written through the real API, which the
//! ledger verifies and whose rows are what payments write.

mod support;

use support::{cli, Backend, TestDatabase};

on_both_backends!(seeding_writes_customers_payments_and_a_ledger_that_verifies);

const PAYMENTS: i64 = 120;
const CUSTOMERS: i64 = 12;
/// Orders 0-4 and 100-104 use the decline card (5 %).
const DECLINED: i64 = 10;

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
    let counts = counts(
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
        counts[..5],
        [PAYMENTS, 0, CUSTOMERS, CUSTOMERS, succeeded],
        "{counts:?}"
    );
    assert_eq!(counts[5], PAYMENTS, "a charge per payment, failed ones too");
    assert!(counts[6] >= 2 * PAYMENTS, "events: {counts:?}");
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
