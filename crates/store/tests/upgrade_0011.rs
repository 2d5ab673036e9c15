//! Migration 0011 on a database that already holds data: built at
//! migration 0010 by hand (every earlier migration file, applied as the
//! runner did), populated, then opened by the store, which applies 0011.
//! Every row, column, constraint, index and trigger must survive, save
//! the four indexes 0011 removes on purpose; on SQLite no table of
//! migrations 0001-0005 keeps AUTOINCREMENT, and `seq` goes on from the
//! largest one stored.

#[allow(dead_code)]
mod support;

use portcullis_domain::ids::MerchantId;
use portcullis_store::{
    ListQuery, PageCursor, Scope, SqlValue, Store, StoreOptions, Table, WriteOp, WriteSet,
};
use rusqlite::types::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The tables of migrations 0001-0005 that 0011 rebuilds on SQLite.
const REBUILT: [&str; 18] = [
    "customers",
    "payment_methods",
    "payment_intents",
    "charges",
    "refunds",
    "disputes",
    "events",
    "payment_attempts",
    "vault_cards",
    "webhook_endpoints",
    "webhook_deliveries",
    "balance_transactions",
    "payouts",
    "risk_lists",
    "risk_list_items",
    "risk_rules",
    "risk_evaluations",
    "reviews",
];
/// The indexes with no reader that 0011 removes on both backends.
const DROPPED_INDEXES: [&str; 4] = [
    "payment_intents_by_status",
    "payment_attempts_by_scope",
    "vault_cards_by_scope",
    "risk_evaluations_by_payment_intent",
];
/// The indexes 0011 makes anew with another definition, or adds.
const REDEFINED_INDEXES: [&str; 2] = ["customers_by_email", "customers_by_lower_email"];
/// Later migrations that alter tables compared here (0012 adds
/// `webhook_endpoints.kek_id`, 0018 `payment_intents.wallet_expires_at`,
/// 0027 `payment_intents.amount`, `method_types` and `search_text`, 0033
/// `risk_rules.deleted`, 0035 `payment_intents.step_up_expires_at`, 0037
/// `payment_methods.method_type`, 0038 drops `ledger_postings_by_account`
/// and makes the customer indexes partial, 0040 rebuilds `ledger_postings`
/// WITHOUT ROWID): recorded as applied beforehand, so that the upgrade
/// measured is 0011's alone.
const ALTERING_LATER: [i64; 8] = [12, 18, 27, 33, 35, 37, 38, 40];
const MERCHANT: &str = "acct_upgrade0011";
/// A customer stored with a `seq` far above the others: the next insert
/// must follow it.
const HIGH_SEQ: i64 = 1_000;

/// Every migration file of `dialect` numbered below 11, in order.
fn migrations_before_0011(dialect: &str) -> Vec<(i64, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let mut files: Vec<(i64, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            let version: i64 = name.get(..4)?.parse().ok()?;
            (version < 11).then(|| (version, std::fs::read_to_string(&path).unwrap()))
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 7,
        "migrations 0001-0010 in {}",
        dir.display()
    );
    files
}

/// Rows for a merchant, customers (one with [`HIGH_SEQ`]), intents, an
/// attempt, a vault card, a risk evaluation, events, a webhook endpoint
/// and a delivery: the same SQL on both backends.
const POPULATE: &str = "
INSERT INTO merchants (id, name, created) VALUES ('acct_upgrade0011', 'Upgrade', 1);
INSERT INTO customers (id, merchant_id, livemode, created, version, email, name, body)
VALUES ('cus_a', 'acct_upgrade0011', FALSE, 1, 1, 'a@example.com', 'A', '{\"id\":\"cus_a\"}'),
       ('cus_b', 'acct_upgrade0011', FALSE, 2, 3, NULL, NULL, '{\"id\":\"cus_b\"}');
INSERT INTO payment_intents (id, merchant_id, livemode, created, version, customer, status, body)
VALUES ('pi_a', 'acct_upgrade0011', FALSE, 3, 2, 'cus_a', 'succeeded', '{\"id\":\"pi_a\"}'),
       ('pi_b', 'acct_upgrade0011', FALSE, 4, 1, NULL, 'requires_capture', '{\"id\":\"pi_b\"}');
INSERT INTO payment_attempts (id, merchant_id, livemode, created, version, payment_intent, state, body)
VALUES ('pa_a', 'acct_upgrade0011', FALSE, 3, 2, 'pi_a', 'resolved', '{}');
INSERT INTO vault_cards (id, merchant_id, livemode, created, version, kek_id, body)
VALUES ('card_a', 'acct_upgrade0011', FALSE, 3, 1, 'kek_1', '{}');
INSERT INTO risk_evaluations (id, merchant_id, livemode, created, version, payment_intent, body)
VALUES ('rev_a', 'acct_upgrade0011', FALSE, 3, 1, 'pi_a', '{}');
INSERT INTO events (id, merchant_id, livemode, created, version, event_type, body)
VALUES ('evt_a', 'acct_upgrade0011', FALSE, 3, 1, 'payment_intent.succeeded', '{}'),
       ('evt_b', 'acct_upgrade0011', FALSE, 4, 1, 'charge.succeeded', '{}');
INSERT INTO webhook_endpoints (id, merchant_id, livemode, created, version, status, enabled_events, body)
VALUES ('we_a', 'acct_upgrade0011', FALSE, 1, 1, 'enabled', ',*,', '{}');
INSERT INTO webhook_deliveries (merchant_id, livemode, event_id, endpoint_id, event_type, created_ms, state, attempts)
VALUES ('acct_upgrade0011', FALSE, 'evt_a', 'we_a', 'payment_intent.succeeded', 3000, 'pending', 0);
";

fn scope() -> Scope {
    Scope {
        merchant_id: MerchantId::parse(MERCHANT).unwrap(),
        livemode: false,
    }
}

async fn open(url: &str) -> Store {
    Store::open(url, &StoreOptions::default())
        .await
        .unwrap_or_else(|e| panic!("opening {url}: {e}"))
}

/// Inserts a customer through the store and answers the `seq` it got.
async fn insert_customer(store: &Store, id: &str) -> i64 {
    let mut writes = WriteSet::new();
    writes.ops.push(WriteOp::Insert {
        table: Table::Customers,
        scope: scope(),
        id: id.to_owned(),
        created: 10,
        columns: vec![("email", SqlValue::Text("new@example.com".to_owned()))],
        body: format!("{{\"id\":\"{id}\"}}"),
    });
    store.commit(writes).await.unwrap();
    let page = store
        .list(
            Table::Customers,
            &ListQuery {
                scope: scope(),
                filters: vec![],
                one_of: vec![],
                created: Default::default(),
                cursor: PageCursor::Newest,
                limit: 10,
            },
        )
        .await
        .unwrap();
    let newest = &page.docs[0];
    assert_eq!(newest.id, id, "the new customer lists first");
    newest.seq
}

/// Rows of a query, each a list of values.
type Rows = Vec<Vec<Value>>;

/// What must survive of an SQLite schema and its data.
#[derive(Debug)]
struct SqliteShape {
    /// Per table: columns (`pragma_table_info`), foreign keys, every row.
    tables: BTreeMap<String, (Rows, Rows, Rows)>,
    /// Index name → (table, SQL; `None` for a constraint's own index).
    indexes: BTreeMap<String, (String, Option<String>)>,
    triggers: BTreeMap<String, String>,
}

fn rows(conn: &rusqlite::Connection, sql: &str) -> Rows {
    let mut stmt = conn.prepare(sql).unwrap();
    let width = stmt.column_count();
    let rows = stmt
        .query_map([], |row| {
            (0..width).map(|i| row.get::<_, Value>(i)).collect()
        })
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn text(value: &Value) -> String {
    match value {
        Value::Text(text) => text.clone(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn sqlite_shape(conn: &rusqlite::Connection) -> SqliteShape {
    let names = rows(
        conn,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    );
    let tables = names
        .iter()
        .map(|row| {
            let table = text(&row[0]);
            let shape = (
                rows(conn, &format!("SELECT * FROM pragma_table_info('{table}')")),
                rows(
                    conn,
                    &format!("SELECT * FROM pragma_foreign_key_list('{table}')"),
                ),
                rows(conn, &format!("SELECT * FROM \"{table}\" ORDER BY rowid")),
            );
            (table, shape)
        })
        .collect();
    let indexes = rows(
        conn,
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index'",
    )
    .iter()
    .map(|row| {
        let sql = match &row[2] {
            Value::Null => None,
            value => Some(text(value)),
        };
        (text(&row[0]), (text(&row[1]), sql))
    })
    .collect();
    let triggers = rows(
        conn,
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'",
    )
    .iter()
    .map(|row| (text(&row[0]), text(&row[1])))
    .collect();
    SqliteShape {
        tables,
        indexes,
        triggers,
    }
}

fn build_sqlite_at_0010(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
         CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL);",
    )
    .unwrap();
    for (version, sql) in migrations_before_0011("sqlite") {
        conn.execute_batch(&sql)
            .unwrap_or_else(|e| panic!("migration {version}: {e}"));
        conn.execute(
            "INSERT INTO schema_migrations (version, applied) VALUES (?1, 1)",
            [version],
        )
        .unwrap();
    }
    for version in ALTERING_LATER {
        conn.execute(
            "INSERT INTO schema_migrations (version, applied) VALUES (?1, 1)",
            [version],
        )
        .unwrap();
    }
    conn.execute_batch(POPULATE).unwrap();
    conn.execute(
        "INSERT INTO customers (seq, id, merchant_id, livemode, created, version, body) \
         VALUES (?1, 'cus_high', ?2, 0, 5, 1, '{}')",
        rusqlite::params![HIGH_SEQ, MERCHANT],
    )
    .unwrap();
    conn
}

#[tokio::test]
async fn sqlite_upgrade_keeps_every_row_index_and_trigger_and_drops_autoincrement() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    let before = {
        let conn = build_sqlite_at_0010(&path);
        sqlite_shape(&conn)
    };
    let store = open(&format!("sqlite://{}", path.display())).await;
    assert_eq!(
        insert_customer(&store, "cus_after").await,
        HIGH_SEQ + 1,
        "seq goes on from the largest stored"
    );
    store.close().await;

    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut after = sqlite_shape(&conn);
    // The one row written since: set aside, the data is as it was.
    let customers = &mut after.tables.get_mut("customers").unwrap().2;
    let added = customers.pop().unwrap();
    assert_eq!(added[1], Value::Text("cus_after".to_owned()));
    let migrations = &mut after.tables.get_mut("schema_migrations").unwrap().2;
    let applied_now: Vec<Value> = migrations
        .iter()
        .map(|row| row[0].clone())
        .filter(|version| matches!(version, Value::Integer(v) if *v >= 11))
        .collect();
    assert!(
        applied_now.contains(&Value::Integer(11)),
        "0011 is recorded as applied"
    );
    migrations.retain(|row| !applied_now.contains(&row[0]));
    // Later migrations may add tables of their own: only what existed
    // before is compared.
    after
        .tables
        .retain(|table, _| before.tables.contains_key(table));
    after
        .indexes
        .retain(|_, (table, _)| before.tables.contains_key(table));
    after
        .triggers
        .retain(|name, _| before.triggers.contains_key(name));

    let mut expected = before;
    for index in DROPPED_INDEXES {
        assert!(expected.indexes.remove(index).is_some(), "{index} existed");
    }
    for index in REDEFINED_INDEXES {
        expected.indexes.remove(index);
        let (table, sql) = after.indexes.remove(index).expect(index);
        assert_eq!(table, "customers");
        assert!(sql.unwrap().contains("deleted"), "{index}");
    }
    // SQLite names a constraint's own index after its table; the rebuild
    // keeps those names, so they compare as equal too.
    expected.tables.remove("sqlite_sequence");
    after.tables.remove("sqlite_sequence");
    // The migration runner's own bookkeeping (it adds a checksum column);
    // which versions are applied is checked above.
    expected.tables.remove("schema_migrations");
    after.tables.remove("schema_migrations");
    assert_eq!(after.indexes, expected.indexes);
    assert_eq!(after.triggers, expected.triggers);
    assert_eq!(
        after.tables.keys().collect::<Vec<_>>(),
        expected.tables.keys().collect::<Vec<_>>()
    );
    for (table, shape) in &expected.tables {
        assert_eq!(&after.tables[table], shape, "table {table}");
    }

    for table in REBUILT {
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get(0),
            )
            .unwrap();
        assert!(!sql.contains("AUTOINCREMENT"), "{table}: {sql}");
        let sequence: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_sequence WHERE name = ?1",
                [table],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(sequence, 0, "{table} has no sqlite_sequence row");
    }
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert!(rows(&conn, "SELECT * FROM pragma_foreign_key_check").is_empty());
}

#[tokio::test]
async fn sqlite_upgrade_keeps_the_webhook_endpoint_limit_trigger_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    drop(build_sqlite_at_0010(&path));
    open(&format!("sqlite://{}", path.display()))
        .await
        .close()
        .await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    // One endpoint exists; fifteen more reach the limit of sixteen.
    for n in 0..15 {
        conn.execute(
            "INSERT INTO webhook_endpoints (id, merchant_id, livemode, created, version, body) \
             VALUES (?1, ?2, 0, 1, 1, '{}')",
            rusqlite::params![format!("we_{n}"), MERCHANT],
        )
        .unwrap();
    }
    let refused = conn
        .execute(
            "INSERT INTO webhook_endpoints (id, merchant_id, livemode, created, version, body) \
             VALUES ('we_17', ?1, 0, 1, 1, '{}')",
            [MERCHANT],
        )
        .unwrap_err();
    assert!(
        refused.to_string().contains("webhook_endpoints_max"),
        "{refused}"
    );
}

#[tokio::test]
async fn postgres_upgrade_keeps_every_row_and_drops_only_the_unread_indexes() {
    let Some(database) = support::EmptyPostgres::create().await else {
        return;
    };
    let client = database.client().await;
    client
        .batch_execute(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL)",
        )
        .await
        .unwrap();
    for (version, sql) in migrations_before_0011("postgres") {
        client
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("migration {version}: {e:?}"));
        client
            .execute(
                "INSERT INTO schema_migrations (version, applied) VALUES ($1, 1)",
                &[&version],
            )
            .await
            .unwrap();
    }
    for version in ALTERING_LATER {
        client
            .execute(
                "INSERT INTO schema_migrations (version, applied) VALUES ($1, 1)",
                &[&version],
            )
            .await
            .unwrap();
    }
    client.batch_execute(POPULATE).await.unwrap();
    let indexes =
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname";
    let data = "SELECT string_agg(t::text, '|' ORDER BY t::text) FROM (
        SELECT row(c.*)::text AS t FROM customers c
        UNION ALL SELECT row(p.*)::text FROM payment_intents p
        UNION ALL SELECT row(a.*)::text FROM payment_attempts a
        UNION ALL SELECT row(v.*)::text FROM vault_cards v
        UNION ALL SELECT row(r.*)::text FROM risk_evaluations r
        UNION ALL SELECT row(e.*)::text FROM events e
        UNION ALL SELECT row(w.*)::text FROM webhook_endpoints w
        UNION ALL SELECT row(d.*)::text FROM webhook_deliveries d) rows";
    let index_map = |rows: Vec<tokio_postgres::Row>| -> BTreeMap<String, String> {
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    };
    let indexes_before = index_map(client.query(indexes, &[]).await.unwrap());
    let data_before: String = client.query_one(data, &[]).await.unwrap().get(0);
    let max_seq: i64 = client
        .query_one("SELECT MAX(seq) FROM customers", &[])
        .await
        .unwrap()
        .get(0);

    let store = open(&database.url).await;
    let data_after: String = client.query_one(data, &[]).await.unwrap().get(0);
    assert_eq!(data_after, data_before);
    let mut expected_indexes = indexes_before.clone();
    for index in DROPPED_INDEXES {
        assert!(expected_indexes.remove(index).is_some(), "{index} existed");
    }
    // Later migrations may add indexes of their own: only those that
    // existed before are compared.
    let mut indexes_after = index_map(client.query(indexes, &[]).await.unwrap());
    for index in REDEFINED_INDEXES {
        expected_indexes.remove(index);
        let definition = indexes_after.remove(index).expect(index);
        assert!(definition.contains("deleted"), "{definition}");
    }
    indexes_after.retain(|name, _| indexes_before.contains_key(name));
    assert_eq!(indexes_after, expected_indexes);
    assert!(insert_customer(&store, "cus_after").await > max_seq);
    let applied: i64 = client
        .query_one("SELECT MAX(version) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert!(applied >= 11);
    store.close().await;
}
