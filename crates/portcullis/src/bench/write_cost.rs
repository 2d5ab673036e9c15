//! `portcullis bench --write-cost-payments N`: what one payment writes,
//! counted rather than timed, so that the figure is the same on a loaded
//! machine as on a quiet one (performance.md: throughput here moves with
//! the load; a count does not).
//!
//! One connection sends N succeeding create-and-confirm payments one after
//! the other, so every write set commits alone (a batch of one): the
//! counts are those of one payment, not shared by a group commit. Before
//! and after, it reads the storage's own counters:
//! - SQLite: the gateway's `/metrics` counters of the writer connection,
//!   rows changed (`sqlite3_total_changes`) and pages written to the WAL
//!   (`SQLITE_DBSTATUS_CACHE_WRITE`);
//! - PostgreSQL: `pg_stat_database` of the run's own database (rows
//!   inserted, updated, deleted; transactions committed, reads included)
//!   and the server's WAL position (bytes; server-wide, so other work on
//!   the same server adds to it).

use super::client::{Call, Connection};
use super::workload::{payment_body, Kind, INTENTS_PATH, JSON};
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::time::Duration;

/// Payments sent before counting, so tables and indexes have their first
/// pages and the gateway's caches are warm.
const WARMUP_PAYMENTS: u64 = 20;
/// Most payments one write-cost phase sends.
pub const PAYMENTS_MAX: u64 = 100_000;
/// A PostgreSQL backend reports its statistics when idle, at the latest
/// 10 s after its last report (`PGSTAT_IDLE_INTERVAL`); waiting longer
/// makes every counted write visible.
const PG_STATS_SETTLE: Duration = Duration::from_secs(11);
/// Orders of the write-cost payments, apart from the load phases' ones.
const ORDER_BASE: u64 = 9_000_000_000;

/// Storage counters at one moment.
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    rows_changed: f64,
    pages_written: f64,
    rows_inserted: f64,
    rows_updated: f64,
    rows_deleted: f64,
    transactions: f64,
    wal_bytes: f64,
}

/// Where the counters are read.
pub struct Source<'a> {
    pub base_url: &'a str,
    pub secret_key: &'a str,
    pub backend: &'a str,
    pub database_url: Option<&'a str>,
}

/// Sends `payments` payments one at a time and answers what each wrote,
/// as the `write_cost` object of the report.
pub async fn measure(source: &Source<'_>, payments: u64) -> anyhow::Result<Value> {
    let mut connection = Connection::new(source.base_url, source.secret_key);
    send_payments(&mut connection, ORDER_BASE, WARMUP_PAYMENTS).await?;
    let before = read(source).await?;
    send_payments(&mut connection, ORDER_BASE + WARMUP_PAYMENTS, payments).await?;
    let after = read(source).await?;
    let per = |f: fn(&Counters) -> f64| {
        let value = (f(&after) - f(&before)) / payments as f64;
        (value * 100.0).round() / 100.0
    };
    Ok(match source.backend {
        "sqlite" => json!({
            "payments": payments,
            "sqlite_rows_changed_per_payment": per(|c| c.rows_changed),
            "sqlite_pages_written_per_payment": per(|c| c.pages_written),
        }),
        _ => json!({
            "payments": payments,
            "pg_rows_inserted_per_payment": per(|c| c.rows_inserted),
            "pg_rows_updated_per_payment": per(|c| c.rows_updated),
            "pg_rows_deleted_per_payment": per(|c| c.rows_deleted),
            "pg_transactions_per_payment": per(|c| c.transactions),
            "pg_wal_bytes_per_payment_server_wide": per(|c| c.wal_bytes),
        }),
    })
}

async fn send_payments(connection: &mut Connection, first: u64, count: u64) -> anyhow::Result<()> {
    for order in first..first + count {
        let call = Call {
            path: INTENTS_PATH,
            body: payment_body(Kind::Succeeds, order),
            content_type: JSON,
            idempotency_key: None,
        };
        let answer = connection.send(&call).await?;
        if answer.status != 200 {
            bail!(
                "a write-cost payment answered {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
        }
    }
    Ok(())
}

async fn read(source: &Source<'_>) -> anyhow::Result<Counters> {
    match (source.backend, source.database_url) {
        ("sqlite", _) => read_sqlite(source).await,
        ("postgres", Some(url)) => {
            tokio::time::sleep(PG_STATS_SETTLE).await;
            read_postgres(url).await
        }
        _ => bail!("--write-cost-payments needs a gateway the bench starts itself"),
    }
}

async fn read_sqlite(source: &Source<'_>) -> anyhow::Result<Counters> {
    let text = super::client::get_text(source.base_url, "/metrics").await?;
    Ok(Counters {
        rows_changed: sample(&text, "portcullis_sqlite_rows_changed_total")?,
        pages_written: sample(&text, "portcullis_sqlite_pages_written_total")?,
        ..Counters::default()
    })
}

/// The value of the unlabelled series `name` in Prometheus text.
fn sample(text: &str, name: &str) -> anyhow::Result<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .with_context(|| format!("/metrics has no {name}"))?
        .trim()
        .parse()
        .with_context(|| format!("/metrics: {name} is not a number"))
}

async fn read_postgres(url: &str) -> anyhow::Result<Counters> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL for its statistics")?;
    let task = tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT tup_inserted, tup_updated, tup_deleted, xact_commit, \
                    pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 \
             FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .context("reading pg_stat_database")?;
    task.abort();
    let int = |i: usize| row.get::<_, i64>(i) as f64;
    Ok(Counters {
        rows_inserted: int(0),
        rows_updated: int(1),
        rows_deleted: int(2),
        transactions: int(3),
        wal_bytes: row.get::<_, f64>(4),
        ..Counters::default()
    })
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn reads_an_unlabelled_counter_and_not_a_longer_name() {
        let text = "# TYPE portcullis_sqlite_rows_changed_total counter\n\
            portcullis_sqlite_rows_changed_total_extra 5\n\
            portcullis_sqlite_rows_changed_total 1234\n";
        assert_eq!(
            sample(text, "portcullis_sqlite_rows_changed_total").unwrap(),
            1234.0
        );
        assert!(sample(text, "portcullis_sqlite_pages_written_total").is_err());
    }
}
