//! Migration 0039 on a SQLite database that already holds risk rows:
//! built at migration 0038 by hand (every earlier migration file, applied
//! as the runner did), populated, then opened by the store, which applies
//! 0039. The four tables it rebuilds keep their columns, foreign keys,
//! primary keys and every row, lose their rowid, and answer and take the
//! store's reads and upserts as before. (On PostgreSQL 0039 changes
//! nothing; every PostgreSQL test database applies it.)

#[allow(dead_code)]
mod support;

use portcullis_domain::ids::MerchantId;
use portcullis_store::{
    RiskCardsRead, RiskCounterQuery, RiskMetric, RiskSubjectKind, RiskWrite, RoutingOutcomeQuery,
    Scope, Store, StoreOptions, WriteOp, WriteSet, RISK_LIFETIME_BUCKET,
};
use rusqlite::types::Value;
use std::path::Path;

const MERCHANT: &str = "acct_upgrade0039";
const HOUR: i64 = 490_000;
/// The tables 0039 rebuilds, each with its primary key's columns.
const REBUILT: [(&str, &str); 4] = [
    (
        "risk_counters",
        "merchant_id, livemode, subject_kind, subject, metric, bucket_hour",
    ),
    (
        "risk_card_members",
        "merchant_id, livemode, subject_kind, subject, bucket_hour, card",
    ),
    ("risk_card_sightings", "merchant_id, livemode, card"),
    (
        "routing_outcomes",
        "merchant_id, livemode, segment, connector_account, slot",
    ),
];

/// Rows of every rebuilt table, written as the store writes them.
const POPULATE: &str = "
INSERT INTO merchants (id, name, created) VALUES ('acct_upgrade0039', 'Upgrade', 1);
INSERT INTO risk_counters (merchant_id, livemode, subject_kind, subject, metric, bucket_hour, count, amount_usd_cents)
VALUES ('acct_upgrade0039', 0, 'ip', '203.0.113.9', 'total', 490000, 3, 0),
       ('acct_upgrade0039', 0, 'ip', '203.0.113.9', 'total', 489990, 2, 0),
       ('acct_upgrade0039', 0, 'ip', '203.0.113.9', 'authorized', 0, 4, 5000),
       ('acct_upgrade0039', 1, 'ip', '203.0.113.9', 'total', 490000, 7, 0);
INSERT INTO risk_card_members (merchant_id, livemode, subject_kind, subject, bucket_hour, card)
VALUES ('acct_upgrade0039', 0, 'ip', '203.0.113.9', 490000, 'fp_a'),
       ('acct_upgrade0039', 0, 'ip', '203.0.113.9', 489990, 'fp_b');
INSERT INTO risk_card_sightings (merchant_id, livemode, card, latitude_micro, longitude_micro, seen_at)
VALUES ('acct_upgrade0039', 0, 'fp_a', 7, 8, 9);
INSERT INTO routing_outcomes (merchant_id, livemode, segment, connector_account, slot, bucket_start, authorized, declined)
VALUES ('acct_upgrade0039', 0, 'visa:usd:*', 'ca_a', 1, 1000, 5, 1);
";

/// Every SQLite migration file numbered below 39, in order.
fn migrations_before_0039() -> Vec<(i64, String)> {
    support::migrations_below("sqlite", 39)
}

fn build_at_0038(path: &Path) {
    assert_eq!(migrations_before_0039().last().map(|(v, _)| *v), Some(38));
    let conn = support::sqlite_migrated_below(path, 39);
    conn.execute_batch(POPULATE).unwrap();
}

type Rows = Vec<Vec<Value>>;

fn rows(conn: &rusqlite::Connection, sql: &str) -> Rows {
    support::sqlite_rows(conn, sql)
}

/// Per rebuilt table: its columns, foreign keys, and rows in key order.
fn shape(conn: &rusqlite::Connection) -> Vec<(Rows, Rows, Rows)> {
    REBUILT
        .iter()
        .map(|(table, key)| {
            (
                rows(conn, &format!("SELECT * FROM pragma_table_info('{table}')")),
                rows(
                    conn,
                    &format!("SELECT * FROM pragma_foreign_key_list('{table}')"),
                ),
                rows(conn, &format!("SELECT * FROM {table} ORDER BY {key}")),
            )
        })
        .collect()
}

fn scope() -> Scope {
    Scope {
        merchant_id: MerchantId::parse(MERCHANT).unwrap(),
        livemode: false,
    }
}

fn ip_query() -> RiskCounterQuery {
    RiskCounterQuery {
        scope: scope(),
        kind: RiskSubjectKind::Ip,
        subject: "203.0.113.9".into(),
        hour_from: HOUR - 1,
        day_from: HOUR - 24,
        card: Some("fp_a".into()),
        cards: RiskCardsRead::Counted,
    }
}

async fn open(path: &Path) -> Store {
    Store::open(
        &format!("sqlite://{}", path.display()),
        &StoreOptions::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn sqlite_upgrade_keeps_every_risk_row_without_rowids_and_the_reads_and_upserts_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    build_at_0038(&path);
    let before = shape(&rusqlite::Connection::open(&path).unwrap());

    let store = open(&path).await;
    let history = store
        .risk_history(&[ip_query()], &scope(), "fp_a")
        .await
        .unwrap();
    let read = &history.counters[0];
    assert_eq!((read.total.hourly, read.total.daily), (3, 5));
    assert_eq!((read.history_count, read.history_usd_cents), (4, 5_000));
    assert_eq!((read.cards.hourly, read.cards.daily), (1, 2));
    assert!(read.card_seen_hourly && read.card_seen_daily);
    assert_eq!(history.sighting.map(|s| s.seen_at), Some(9));
    let outcomes = store
        .routing_outcomes(&RoutingOutcomeQuery {
            scope: scope(),
            segments: vec!["visa:usd:*".into()],
            from: 0,
        })
        .await
        .unwrap();
    assert_eq!(
        outcomes
            .iter()
            .map(|o| (o.authorized, o.declined))
            .collect::<Vec<_>>(),
        [(5, 1)]
    );
    store.close().await;

    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(shape(&conn), before, "columns, foreign keys and rows kept");
    for (table, _) in REBUILT {
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get(0),
            )
            .unwrap();
        assert!(sql.ends_with("WITHOUT ROWID"), "{table}: {sql}");
        assert!(
            conn.prepare(&format!("SELECT rowid FROM {table}")).is_err(),
            "{table} has no rowid"
        );
    }
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert!(rows(&conn, "SELECT * FROM pragma_foreign_key_check").is_empty());
    drop(conn);

    // An upsert after the upgrade adds to the row it finds by its key.
    let store = open(&path).await;
    let add = WriteOp::Risk(RiskWrite::Count {
        scope: scope(),
        kind: RiskSubjectKind::Ip,
        subject: "203.0.113.9".into(),
        metric: RiskMetric::Authorized,
        bucket_hour: RISK_LIFETIME_BUCKET,
        count: 1,
        amount_usd_cents: 250,
    });
    store.commit(WriteSet { ops: vec![add] }).await.unwrap();
    let history = store
        .risk_history(&[ip_query()], &scope(), "fp_a")
        .await
        .unwrap();
    let read = &history.counters[0];
    assert_eq!((read.history_count, read.history_usd_cents), (5, 5_250));
    store.close().await;
}
