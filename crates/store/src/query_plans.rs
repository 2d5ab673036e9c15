//! The reads that must not slow down as payments accumulate use an index,
//! on both backends: each statement, as the SQL builders write it, is
//! explained on a migrated database and its plan must name the index and
//! sort nothing (SQLite: no temporary B-tree; PostgreSQL: no Sort node,
//! with sequential scans, bitmap scans and sorts priced out, so that an
//! empty table's cheap plan does not hide a missing index). Migrations 0011
//! and 0038 removed indexes or made them partial; these are the readers
//! that keep theirs.

use crate::model::{ListQuery, PageCursor, ScanOp, ScanQuery, Scope, SqlValue, Table};
use crate::sql::docs::{self, Direction};
use crate::sql::{Dialect, Sql};
use portcullis_domain::ids::MerchantId;
use portcullis_domain::search::SearchQuery;

/// A statement and the index its plan must use.
struct Expectation {
    what: &'static str,
    sql: Sql,
    index: &'static str,
}

fn scope() -> Scope {
    Scope {
        merchant_id: MerchantId::parse("acct_plans").unwrap(),
        livemode: false,
    }
}

fn page(filters: Vec<(&'static str, SqlValue)>) -> ListQuery {
    ListQuery {
        scope: scope(),
        filters,
        one_of: vec![],
        created: Default::default(),
        cursor: PageCursor::Newest,
        limit: 100,
    }
}

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}

fn expectations(d: Dialect) -> Vec<Expectation> {
    let email = SearchQuery::parse("email:'seed-7@example.com'").unwrap();
    vec![
        Expectation {
            what: "the newest 100 intents",
            sql: docs::list_docs(d, Table::PaymentIntents, &page(vec![]), None),
            index: "payment_intents_by_scope",
        },
        Expectation {
            what: "the next page of intents",
            sql: docs::list_docs(
                d,
                Table::PaymentIntents,
                &page(vec![]),
                Some((Direction::Older, 1_000)),
            ),
            index: "payment_intents_by_scope",
        },
        Expectation {
            what: "a customer's intents",
            sql: docs::list_docs(
                d,
                Table::PaymentIntents,
                &page(vec![("customer", text("cus_1"))]),
                None,
            ),
            index: "payment_intents_by_customer",
        },
        Expectation {
            what: "a customer's charges",
            sql: docs::list_docs(
                d,
                Table::Charges,
                &page(vec![("customer", text("cus_1"))]),
                None,
            ),
            index: "charges_by_customer",
        },
        Expectation {
            what: "a customer's payment methods of one type",
            sql: docs::list_docs(
                d,
                Table::PaymentMethods,
                &page(vec![
                    ("customer", text("cus_1")),
                    ("method_type", text("card")),
                ]),
                None,
            ),
            index: "payment_methods_by_customer",
        },
        Expectation {
            what: "the postings of a range of ledger entries (the only read of postings)",
            sql: crate::sql::ledger::postings_between(d, 1, 100),
            index: match d {
                // A WITHOUT ROWID table (0040): its rows are its key's B-tree.
                Dialect::Sqlite => "PRIMARY KEY",
                Dialect::Postgres => "ledger_postings_pkey",
            },
        },
        Expectation {
            what: "an intent's newest attempt",
            sql: docs::list_docs(
                d,
                Table::PaymentAttempts,
                &page(vec![("payment_intent", text("pi_1"))]),
                None,
            ),
            index: "payment_attempts_by_payment_intent",
        },
        Expectation {
            what: "the newest risk evaluations",
            sql: docs::list_docs(d, Table::RiskEvaluations, &page(vec![]), None),
            index: "risk_evaluations_by_scope",
        },
        Expectation {
            what: "an intent's risk evaluations (the dashboard's payment page)",
            sql: docs::list_docs(
                d,
                Table::RiskEvaluations,
                &page(vec![("payment_intent", text("pi_1"))]),
                None,
            ),
            index: "risk_evaluations_by_payment_intent",
        },
        Expectation {
            what: "an intent's charges",
            sql: docs::list_docs(
                d,
                Table::Charges,
                &page(vec![("payment_intent", text("pi_1"))]),
                None,
            ),
            index: "charges_by_payment_intent",
        },
        Expectation {
            what: "events of one type",
            sql: docs::list_docs(
                d,
                Table::Events,
                &page(vec![("event_type", text("charge.succeeded"))]),
                None,
            ),
            index: "events_by_event_type",
        },
        Expectation {
            what: "customers by email (list filter)",
            sql: docs::list_docs(
                d,
                Table::Customers,
                &page(vec![("email", text("seed-7@example.com"))]),
                None,
            ),
            index: "customers_by_email",
        },
        Expectation {
            what: "a customer search by email",
            sql: docs::search_docs(d, Table::Customers, &scope(), &email, None, 10).unwrap(),
            index: "customers_by_lower_email",
        },
        Expectation {
            what: "the newest customers",
            sql: docs::list_docs(d, Table::Customers, &page(vec![]), None),
            index: "customers_by_scope",
        },
        Expectation {
            what: "cards under one key (rotation)",
            sql: docs::scan_docs(
                d,
                Table::VaultCards,
                &ScanQuery {
                    filters: vec![("kek_id", ScanOp::Equal, text("kek_1"))],
                    created_before: None,
                    limit: 100,
                },
            ),
            index: "vault_cards_by_kek_id",
        },
        Expectation {
            what: "pending attempts (recovery)",
            sql: docs::scan_docs(
                d,
                Table::PaymentAttempts,
                &ScanQuery {
                    filters: vec![("state", ScanOp::Equal, text("pending"))],
                    created_before: None,
                    limit: 100,
                },
            ),
            index: "payment_attempts_by_state",
        },
        Expectation {
            what: "expired wallet trades (wallet worker)",
            sql: due_intents(d, "wallet_expires_at", ScanOp::AtMost),
            index: "payment_intents_wallet_due",
        },
        Expectation {
            what: "waiting wallet trades (wallet worker's early queries)",
            sql: due_intents(d, "wallet_expires_at", ScanOp::After),
            index: "payment_intents_wallet_due",
        },
        Expectation {
            what: "expired balance step-ups",
            sql: due_intents(d, "step_up_expires_at", ScanOp::AtMost),
            index: "payment_intents_step_up_due",
        },
        Expectation {
            what: "funds due to settle (ledger worker)",
            sql: docs::scan_docs(
                d,
                Table::BalanceTransactions,
                &ScanQuery {
                    filters: vec![
                        ("status", ScanOp::Equal, text("pending")),
                        ("available_on", ScanOp::AtMost, SqlValue::Integer(1_000)),
                    ],
                    created_before: None,
                    limit: 200,
                },
            ),
            index: "balance_transactions_by_due",
        },
    ]
}

/// A worker's scan of intents whose `column` is due (`op` now).
fn due_intents(d: Dialect, column: &'static str, op: ScanOp) -> Sql {
    docs::scan_docs(
        d,
        Table::PaymentIntents,
        &ScanQuery {
            filters: vec![(column, op, SqlValue::Integer(1_000))],
            created_before: None,
            limit: 100,
        },
    )
}

/// SQLite's plan names an index `USING [COVERING] INDEX name (…)`, and the
/// primary key of a WITHOUT ROWID table `USING PRIMARY KEY (…)`.
fn sqlite_plan_uses(plan: &str, index: &str) -> bool {
    plan.contains(&format!("INDEX {index} ")) || plan.contains(&format!("USING {index} "))
}

#[test]
fn sqlite_reads_use_their_indexes_and_sort_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.db");
    let conn = crate::sqlite::open_connection(&path).unwrap();
    crate::sqlite::migrate_for_test(&conn).unwrap();
    for expectation in expectations(Dialect::Sqlite) {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", expectation.sql.text))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map(crate::sqlite::params_for_test(&expectation.sql), |row| {
                row.get::<_, String>(3)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(
            sqlite_plan_uses(&plan, expectation.index),
            "{}: expected {}, got:\n{plan}",
            expectation.what,
            expectation.index
        );
        assert!(
            !plan.contains("TEMP B-TREE"),
            "{}: sorts:\n{plan}",
            expectation.what
        );
    }
}

#[tokio::test]
async fn postgres_reads_use_their_indexes_and_sort_nothing() {
    // An empty table's cheapest plan says nothing of a large one's: with
    // sequential scans, bitmap scans and sorts priced out, a plan that still
    // sorts or scans has no index able to serve the statement.
    let settings = "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off";
    let Some(database) = planner_database(settings).await else {
        return;
    };
    let client = database.client();
    for expectation in expectations(Dialect::Postgres) {
        let sql = format!("EXPLAIN {}", expectation.sql.text);
        let rows = client
            .query(&sql, &crate::postgres::params_for_test(&expectation.sql))
            .await
            .unwrap();
        let plan: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains(&format!(" {} on ", expectation.index)),
            "{}: expected {}, got:\n{plan}",
            expectation.what,
            expectation.index
        );
        assert!(
            !sorts_beyond_ties(&plan),
            "{}: sorts:\n{plan}",
            expectation.what
        );
    }
}

/// A migrated test database whose client's session has run `settings`.
async fn planner_database(settings: &str) -> Option<crate::postgres::TestDatabase> {
    let database = crate::postgres::test_database().await?;
    database.client().batch_execute(settings).await.unwrap();
    Some(database)
}

/// Whether a PostgreSQL plan sorts more than ties: an `Incremental Sort`
/// over an index's presorted leading key (a due column's index without
/// `seq`) only orders rows with the same key, so it is allowed.
fn sorts_beyond_ties(plan: &str) -> bool {
    plan.lines().map(str::trim_start).any(|line| {
        let node = line.trim_start_matches("->").trim_start();
        node.starts_with("Sort") && !node.starts_with("Sort Key")
    })
}

/// The tables that grow with every payment, whose rows statements name by id.
const GROWING_TABLES: [Table; 9] = [
    Table::PaymentIntents,
    Table::PaymentMethods,
    Table::PaymentAttempts,
    Table::Charges,
    Table::Refunds,
    Table::Customers,
    Table::Events,
    Table::BalanceTransactions,
    Table::RiskEvaluations,
];

/// A statement's values written as SQL literals, for `EXECUTE`.
fn literals(sql: &Sql) -> String {
    let literal = |value: &SqlValue| match value {
        SqlValue::Text(text) => format!("'{}'", text.replace('\'', "''")),
        SqlValue::Integer(number) => number.to_string(),
        SqlValue::Bool(flag) => flag.to_string(),
        other => unreachable!("no statement by id binds {other:?}"),
    };
    sql.params
        .iter()
        .map(literal)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statements that name one row by id (read, update, a cursor's `seq`)
/// use the id's unique index even in the generic plan PostgreSQL makes
/// for a prepared statement while its table is empty, and keeps, with
/// autovacuum off, however much the table grows since (`push_scope`).
#[tokio::test]
async fn postgres_statements_by_id_use_the_id_index_in_a_generic_plan_of_an_empty_table() {
    let Some(database) = planner_database("SET plan_cache_mode = force_generic_plan").await else {
        return;
    };
    let client = database.client();
    for table in GROWING_TABLES {
        let statements = [
            (
                "read",
                docs::get_doc(Dialect::Postgres, table, &scope(), "x_1"),
            ),
            (
                "update",
                docs::update_doc(Dialect::Postgres, table, &scope(), "x_1", 1, &[], "{}"),
            ),
            (
                "seq",
                docs::seq_of(Dialect::Postgres, table, &scope(), "x_1"),
            ),
        ];
        for (index, (what, sql)) in statements.iter().enumerate() {
            let name = format!("{}_{index}", table.name());
            let prepare = format!("PREPARE {name} AS {}", sql.text);
            client.batch_execute(&prepare).await.unwrap();
            let explain = format!("EXPLAIN EXECUTE {name}({})", literals(sql));
            let rows = client.query(&explain, &[]).await.unwrap();
            let plan: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
            let plan = plan.join("\n");
            let by_id = format!(" {}_id_key on ", table.name());
            assert!(
                plan.contains(&by_id) && plan.contains("Index Cond: (id = "),
                "{} {what}: expected the id's unique index, got:\n{plan}",
                table.name()
            );
        }
    }
}
