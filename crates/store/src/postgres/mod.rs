//! The PostgreSQL backend, for several stateless `portcullis` instances on
//! one database. Write sets are group-committed by each instance's writer
//! (`writer`): many in one transaction, each in a savepoint; uniqueness and
//! idempotency are enforced by constraints and row locks, never by memory
//! local to one process.

pub(crate) mod connect;
mod convert;
mod encryption_keys;
mod in_order;
mod ledger;
mod outbox;
mod pipeline;
mod planned;
mod tls;
mod writer;

use crate::migrations::{
    now_s, plan_migrations, AppliedMigration, Step, ADD_CHECKSUM_COLUMN_POSTGRES,
    CREATE_MIGRATIONS_TABLE, MIGRATIONS, SELECT_APPLIED,
};
use crate::model::{
    page_of, Doc, IdempotencyClaim, ListPage, ListQuery, PageCursor, RiskWrite, Scope, Table,
    WriteSet,
};
use crate::reversals::{PendingReversalRow, ReversalState};
use crate::sql::accounts::{self, ClaimDecision, ClaimRow};
use crate::sql::{docs, instances, reversals, secret_checks, Dialect, Sql};
use crate::{ScanQuery, ScopedDoc, StoreError, StoreOptions};
use convert::{doc_of, key_of_row, map_err, params_of};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use planned::PlannedWrites;
use portcullis_domain::api_keys::ApiKeyRecord;
use portcullis_domain::ids::{ApiKeyId, MerchantId};
use portcullis_domain::merchants::Merchant;
use portcullis_domain::search::{SearchClause, SearchQuery};
use tokio_postgres::NoTls;

const D: Dialect = Dialect::Postgres;
/// Any fixed number: serialises concurrent migrations across instances.
const MIGRATION_LOCK_ID: i64 = 7_146_001;

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    writer: writer::PgWriter,
}

impl PgStore {
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let (url, tls) = tls::split_tls(url)?;
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = pool_of(config.clone(), &tls, options.postgres_pool_size.max(1))?;
        let counters = pool_of(with_async_commit(config), &tls, 1)?;
        let writer = writer::PgWriter::start(pool.clone(), counters);
        let store = Self { pool, writer };
        store.migrate().await?;
        Ok(store)
    }

    /// A pooled connection; the wait for it is recorded as
    /// `portcullis_postgres_pool_wait_seconds`.
    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        let started = std::time::Instant::now();
        let client = self.pool.get().await;
        metrics::histogram!("portcullis_postgres_pool_wait_seconds")
            .record(started.elapsed().as_secs_f64());
        client.map_err(connect::pool_error)
    }

    /// The pool's connections: (open, idle, tasks waiting for one).
    pub fn pool_use(&self) -> crate::PoolUse {
        let status = self.pool.status();
        crate::PoolUse {
            open: status.size,
            idle: status.available,
            waiting: status.waiting,
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_ID])
            .await
            .map_err(map_err)?;
        tx.batch_execute(CREATE_MIGRATIONS_TABLE)
            .await
            .map_err(map_err)?;
        tx.batch_execute(ADD_CHECKSUM_COLUMN_POSTGRES)
            .await
            .map_err(map_err)?;
        let applied: Vec<AppliedMigration> = tx
            .query(SELECT_APPLIED, &[])
            .await
            .map_err(map_err)?
            .iter()
            .map(|row| AppliedMigration {
                version: row.get(0),
                checksum: row.get(1),
            })
            .collect();
        for step in plan_migrations(&applied, D, MIGRATIONS)? {
            match step {
                Step::Apply(migration) => {
                    tx.batch_execute(migration.postgres)
                        .await
                        .map_err(map_err)?;
                    tx.execute(
                        "INSERT INTO schema_migrations (version, applied, checksum) VALUES ($1, $2, $3)",
                        &[&migration.version, &now_s(), &migration.checksum(D)],
                    )
                    .await
                    .map_err(map_err)?;
                }
                Step::RecordChecksum(migration) => {
                    tx.execute(
                        "UPDATE schema_migrations SET checksum = $2 WHERE version = $1",
                        &[&migration.version, &migration.checksum(D)],
                    )
                    .await
                    .map_err(map_err)?;
                }
            }
        }
        tx.commit().await.map_err(map_err)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client()
            .await?
            .simple_query("SELECT 1")
            .await
            .map_err(map_err)
            .map(drop)
    }

    pub async fn insert_merchant(&self, merchant: &Merchant) -> Result<(), StoreError> {
        execute(
            &self.client().await?,
            &accounts::insert_merchant(D, merchant),
        )
        .await
        .map(drop)
    }

    pub async fn list_merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        let rows = query(&self.client().await?, &accounts::list_merchants(D)).await?;
        rows.iter()
            .map(|row| crate::model::merchant_of(row.get(0), row.get(1), row.get(2)))
            .collect()
    }

    pub async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        execute(&self.client().await?, &accounts::insert_api_key(D, key))
            .await
            .map(drop)
    }

    pub async fn find_api_key_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let rows = query(
            &self.client().await?,
            &accounts::find_api_key_by_hash(D, hash),
        )
        .await?;
        rows.first().map(key_of_row).transpose()
    }

    pub async fn list_api_keys(
        &self,
        merchant_id: &MerchantId,
    ) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = query(
            &self.client().await?,
            &accounts::list_api_keys(D, merchant_id),
        )
        .await?;
        rows.iter().map(key_of_row).collect()
    }

    pub async fn revoke_api_key(&self, key_id: &ApiKeyId, now: i64) -> Result<bool, StoreError> {
        let n = execute(
            &self.client().await?,
            &accounts::revoke_api_key(D, key_id, now),
        )
        .await?;
        Ok(n == 1)
    }

    pub async fn get(
        &self,
        table: Table,
        scope: &Scope,
        id: &str,
    ) -> Result<Option<Doc>, StoreError> {
        let rows = query(&self.client().await?, &docs::get_doc(D, table, scope, id)).await?;
        Ok(rows.first().map(doc_of))
    }

    pub async fn list(&self, table: Table, q: &ListQuery) -> Result<ListPage, StoreError> {
        self.list_matching(table, q, &[]).await
    }

    pub async fn list_matching(
        &self,
        table: Table,
        q: &ListQuery,
        clauses: &[SearchClause],
    ) -> Result<ListPage, StoreError> {
        let client = self.client().await?;
        let cursor = match &q.cursor {
            PageCursor::Newest => None,
            PageCursor::StartingAfter(id) => Some((docs::Direction::Older, id)),
            PageCursor::EndingBefore(id) => Some((docs::Direction::Newer, id)),
        };
        let cursor_seq = match cursor {
            None => None,
            Some((direction, id)) => {
                let rows = query(&client, &docs::seq_of(D, table, &q.scope, id)).await?;
                let seq: i64 = rows.first().ok_or(StoreError::NotFound)?.get(0);
                Some((direction, seq))
            }
        };
        let sql = docs::list_docs_matching(D, table, q, clauses, cursor_seq)?;
        let rows = query(&client, &sql).await?;
        let newer = matches!(cursor_seq, Some((docs::Direction::Newer, _)));
        Ok(page_of(rows.iter().map(doc_of).collect(), q.limit, newer))
    }

    pub async fn search(
        &self,
        table: Table,
        scope: &Scope,
        q: &SearchQuery,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        let sql = docs::search_docs(D, table, scope, q, after_seq, limit)?;
        let rows = query(&self.client().await?, &sql).await?;
        Ok(page_of(rows.iter().map(doc_of).collect(), limit, false))
    }

    pub async fn scan(&self, table: Table, q: &ScanQuery) -> Result<Vec<ScopedDoc>, StoreError> {
        let rows = query(&self.client().await?, &docs::scan_docs(D, table, q)).await?;
        rows.iter().map(convert::scoped_doc_of).collect()
    }

    pub async fn routing_outcomes(
        &self,
        q: &crate::RoutingOutcomeQuery,
    ) -> Result<Vec<crate::RoutingOutcomeCounts>, StoreError> {
        let sql = crate::sql::risk::routing_outcomes(D, q);
        let rows = query(&self.client().await?, &sql).await?;
        Ok(rows
            .iter()
            .map(|r| crate::RoutingOutcomeCounts {
                segment: r.get(0),
                connector_account: r.get(1),
                authorized: r.get(2),
                declined: r.get(3),
            })
            .collect())
    }

    /// The card's last sighting and each query's counters, in one
    /// statement (`sql::risk_history`) per run of queries.
    pub async fn risk_history(
        &self,
        queries: &[crate::RiskCounterQuery],
        scope: &Scope,
        card: &str,
    ) -> Result<crate::RiskHistory, StoreError> {
        use crate::sql::risk_history::{extend, history_of, runs, statement, HistoryRow};
        let client = self.client().await?;
        let mut history = crate::RiskHistory::default();
        for run in runs(queries) {
            let rows = query(&client, &statement(D, run, scope, card)).await?;
            let rows = rows.iter().map(|row| HistoryRow {
                part: i64::from(row.get::<_, i32>(0)),
                metric: row.get(1),
                values: [row.get(2), row.get(3), row.get(4), row.get(5)],
            });
            extend(&mut history, history_of(rows, run.len())?);
        }
        Ok(history)
    }

    /// Hands `writes` to this instance's group-commit writer
    /// (`writer::run`) and answers once the batch holding it has committed.
    pub async fn commit(&self, writes: WriteSet) -> Result<(), StoreError> {
        self.writer.write(writes).await
    }

    /// See `Store::commit_bulk`: one transaction of its own on a pooled
    /// connection; its risk counters move inside it (in one global order),
    /// and the chain head is locked last, for as short a time as can be.
    pub async fn commit_bulk(&self, writes: WriteSet) -> Result<(), StoreError> {
        let plan = crate::bulk::BulkPlan::of(D, writes);
        let rest = PlannedWrites::of(plan.rest);
        let mut client = self.client().await?;
        pipeline::bound_statement_cache(&client.statement_cache);
        let tx = client.transaction().await.map_err(map_err)?;
        pipeline::run_chunked(&tx, &plan.documents).await?;
        let checks = pipeline::run_all(&tx, &plan.fan_out_checks).await?;
        if checks.iter().any(|answer| !answer.rows.is_empty()) {
            pipeline::run_chunked(&tx, &plan.fan_outs).await?;
        }
        planned::apply_documents(&tx, &rest).await?;
        pipeline::run_chunked(&tx, &plan.risk).await?;
        ledger::append_batch(&tx, &plan.ledger).await?;
        tx.commit().await.map_err(map_err)
    }

    /// Risk counters are shared rows every payment of a card (customer,
    /// email, IP) increments: inside the payment's transaction their row
    /// locks would be held until its COMMIT had flushed, serializing every
    /// payment of a busy subject. So on PostgreSQL they move right after the
    /// payment commits, in their own transaction with asynchronous commit
    /// (locks held for one round trip, rows in one global order), on the
    /// writer's connection for counters (`counters`, a pool of one whose
    /// sessions have `synchronous_commit = off`: `with_async_commit`), so
    /// that a batch's counters cost their upserts alone, with no `BEGIN`
    /// and `SET LOCAL`. A crash in between loses at most these increments:
    /// velocity signals may then undercount by one payment; no money or
    /// payment state depends on them. The batch's writes are merged
    /// (`bulk::risk_statements`): additions to one counter summed, one
    /// multi-row upsert per kind in key order.
    async fn count_risk(counters: &Pool, risk: Vec<RiskWrite>) {
        if risk.is_empty() {
            return;
        }
        let statements = crate::bulk::risk_statements(D, risk);
        let counted = match counters.get().await {
            Ok(client) => pipeline::run_as_one_transaction(&client, &statements).await,
            Err(err) => Err(connect::pool_error(err)),
        };
        if let Err(err) = counted {
            tracing::warn!(error = %err, "risk counters not updated after a committed payment");
        }
    }

    pub async fn ledger_balances(
        &self,
        accounts: &[String],
    ) -> Result<Vec<portcullis_ledger::verify::StoredBalance>, StoreError> {
        ledger::balances_of(&self.client().await?, accounts).await
    }

    pub async fn verify_ledger(&self) -> Result<crate::ledger::Verification, StoreError> {
        ledger::verify(&mut self.client().await?).await
    }

    pub async fn ledger_hash_at(&self, sequence: i64) -> Result<Option<String>, StoreError> {
        ledger::hash_at(&self.client().await?, sequence).await
    }

    /// Claims `key` for a request. The common case, a new key, is one
    /// autocommit `INSERT … ON CONFLICT DO NOTHING` (one round trip, durable
    /// like any commit); only a key already there opens the transaction
    /// that locks its row, reads it and decides (`decide_claim`).
    pub async fn claim_idempotency(
        &self,
        merchant_id: &MerchantId,
        key: &str,
        fingerprint: &str,
        now: i64,
        lease_s: i64,
    ) -> Result<IdempotencyClaim, StoreError> {
        let mut client = self.client().await?;
        let insert = accounts::claim_insert(D, merchant_id, key, fingerprint, now);
        if execute(&client, &insert).await? == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        let tx = client.transaction().await.map_err(map_err)?;
        let rows = query(&tx, &accounts::claim_select(D, merchant_id, key)).await?;
        let row = rows.first().ok_or(StoreError::Conflict)?;
        let row = ClaimRow {
            fingerprint: row.get(0),
            done: row.get::<_, &str>(1) == "done",
            status_code: row.get(2),
            response_body: row.get(3),
            locked_at: row.get(4),
        };
        let claim = match accounts::decide_claim(row, fingerprint, now, lease_s) {
            ClaimDecision::Answer(claim) => claim,
            ClaimDecision::TakeOver => {
                execute(&tx, &accounts::claim_take_over(D, merchant_id, key, now)).await?;
                IdempotencyClaim::Claimed
            }
        };
        tx.commit().await.map_err(map_err)?;
        Ok(claim)
    }

    pub async fn release_idempotency(
        &self,
        merchant_id: &MerchantId,
        key: &str,
        claimed_at: i64,
    ) -> Result<(), StoreError> {
        let sql = accounts::release_idempotency(D, merchant_id, key, claimed_at);
        execute(&self.client().await?, &sql).await.map(drop)
    }

    /// Stamps this instance as running; answers how many were seen since
    /// `live_since_ms` (this one included).
    pub async fn stamp_instance(
        &self,
        instance_id: &str,
        now_ms: i64,
        live_since_ms: i64,
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        execute(&client, &instances::stamp(D, instance_id, now_ms)).await?;
        execute(&client, &instances::forget_before(D, live_since_ms)).await?;
        let rows = query(&client, &instances::count_live(D, live_since_ms)).await?;
        let live: i64 = rows.first().map_or(0, |row| row.get(0));
        Ok(live.max(1) as u64)
    }

    pub async fn record_check_value(
        &self,
        name: &str,
        check_value: &str,
        now_s: i64,
    ) -> Result<String, StoreError> {
        let client = self.client().await?;
        execute(&client, &secret_checks::record(D, name, check_value, now_s)).await?;
        let rows = query(&client, &secret_checks::read(D, name)).await?;
        rows.first()
            .map(|row| row.get::<_, String>(0))
            .ok_or(StoreError::NotFound)
    }

    pub async fn recorded_check_value(&self, name: &str) -> Result<Option<String>, StoreError> {
        let rows = query(&self.client().await?, &secret_checks::read(D, name)).await?;
        Ok(rows.first().map(|row| row.get::<_, String>(0)))
    }

    pub async fn leave_instance(&self, instance_id: &str) -> Result<(), StoreError> {
        let sql = instances::leave(D, instance_id);
        execute(&self.client().await?, &sql).await.map(|_| ())
    }

    pub async fn prune_idempotency(&self, created_before: i64) -> Result<u64, StoreError> {
        let sql = accounts::prune_idempotency(D, created_before);
        execute(&self.client().await?, &sql).await
    }

    pub async fn prune_passkey_challenges(&self, created_before: i64) -> Result<u64, StoreError> {
        let sql = accounts::prune_passkey_challenges(D, created_before);
        execute(&self.client().await?, &sql).await
    }

    pub async fn record_reversal(&self, row: &PendingReversalRow) -> Result<(), StoreError> {
        let sql = reversals::record(D, row);
        execute(&self.client().await?, &sql).await.map(drop)
    }

    pub async fn find_reversal(
        &self,
        attempt_id: &str,
    ) -> Result<Option<PendingReversalRow>, StoreError> {
        let rows = query(&self.client().await?, &reversals::find(D, attempt_id)).await?;
        rows.first().map(reversal_of_row).transpose()
    }

    pub async fn set_reversal_state(
        &self,
        attempt_id: &str,
        state: ReversalState,
    ) -> Result<(), StoreError> {
        let sql = reversals::set_state(D, attempt_id, state);
        execute(&self.client().await?, &sql).await.map(drop)
    }

    pub async fn settle_reversal(&self, attempt_id: &str) -> Result<(), StoreError> {
        let sql = reversals::settle(D, attempt_id);
        execute(&self.client().await?, &sql).await.map(drop)
    }

    pub async fn reversals_in_state(
        &self,
        connector: &str,
        state: ReversalState,
        limit: usize,
    ) -> Result<Vec<PendingReversalRow>, StoreError> {
        let sql = reversals::in_state(D, connector, state, limit);
        let rows = query(&self.client().await?, &sql).await?;
        rows.iter().map(reversal_of_row).collect()
    }

    pub async fn forget_sent_reversals(&self, created_before: i64) -> Result<u64, StoreError> {
        let sql = reversals::forget_sent_before(D, created_before);
        execute(&self.client().await?, &sql).await
    }
}

/// A pool of at most `size` connections made from `config`, over TLS if
/// the URL asked for it (never falling back to plain text then).
fn pool_of(
    mut config: tokio_postgres::Config,
    tls: &tls::PgTls,
    size: usize,
) -> Result<Pool, StoreError> {
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match tls::client_config(tls)? {
        None => Manager::from_config(config, NoTls, manager_config),
        Some(client_config) => {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let connector = tokio_postgres_rustls::MakeRustlsConnect::new(client_config);
            Manager::from_config(config, connector, manager_config)
        }
    };
    Pool::builder(manager)
        .max_size(size)
        .build()
        .map_err(|e| StoreError::Config(e.to_string()))
}

/// `config` whose sessions commit asynchronously (`synchronous_commit =
/// off`, set at connection start): for the risk counters alone
/// (`PgStore::count_risk`), never for a payment's writes.
fn with_async_commit(mut config: tokio_postgres::Config) -> tokio_postgres::Config {
    const ASYNC_COMMIT: &str = "-c synchronous_commit=off";
    let options = match config.get_options() {
        Some(given) => format!("{given} {ASYNC_COMMIT}"),
        None => ASYNC_COMMIT.to_owned(),
    };
    config.options(&options);
    config
}

fn reversal_of_row(row: &tokio_postgres::Row) -> Result<PendingReversalRow, StoreError> {
    let state: String = row.get(3);
    Ok(PendingReversalRow {
        attempt_id: row.get(0),
        connector: row.get(1),
        reference: row.get(2),
        state: ReversalState::parse(&state)?,
        created: row.get(4),
    })
}

async fn execute(client: &impl GenericClient, sql: &Sql) -> Result<u64, StoreError> {
    let stmt = client.prepare_cached(&sql.text).await.map_err(map_err)?;
    client
        .execute(&stmt, &params_of(sql))
        .await
        .map_err(map_err)
}

async fn query(
    client: &impl GenericClient,
    sql: &Sql,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let stmt = client.prepare_cached(&sql.text).await.map_err(map_err)?;
    client.query(&stmt, &params_of(sql)).await.map_err(map_err)
}

/// The parameters of `sql`, for tests that run it on a client of their own.
#[cfg(test)]
pub(crate) fn params_for_test(sql: &Sql) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    params_of(sql)
}

/// A migrated database of its own for one unit test, dropped with it; `None`
/// when PostgreSQL is unreachable and `PORTCULLIS_SKIP_POSTGRES=1` allows
/// skipping (never under `CI=true`), as the contract tests decide.
#[cfg(test)]
pub(crate) async fn test_database() -> Option<TestDatabase> {
    const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
    let admin = match tokio_postgres::connect(ADMIN_URL, NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            client
        }
        Err(err) => {
            let ci = std::env::var("CI").as_deref() == Ok("true");
            let skip = std::env::var("PORTCULLIS_SKIP_POSTGRES").as_deref() == Ok("1");
            assert!(
                skip && !ci,
                "PostgreSQL not reachable at {ADMIN_URL}: {err}"
            );
            return None;
        }
    };
    let name = format!("portcullis_unit_{:016x}", rand::random::<u64>());
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let store = PgStore::open(&url, &StoreOptions::default()).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    Some(TestDatabase {
        name,
        client,
        _store: store,
    })
}

#[cfg(test)]
pub(crate) struct TestDatabase {
    name: String,
    client: tokio_postgres::Client,
    _store: PgStore,
}

#[cfg(test)]
impl TestDatabase {
    pub(crate) fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }
}

#[cfg(test)]
impl Drop for TestDatabase {
    /// `Drop` cannot await: psql, which is beside the server, drops it.
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                "postgres://postgres@127.0.0.1:5432/postgres",
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

#[cfg(test)]
mod tests {
    use super::{pool_of, test_database, tls, with_async_commit};

    /// The risk counters' sessions commit asynchronously and keep the
    /// options the URL gave (here set on its parsed configuration).
    #[tokio::test]
    async fn the_counters_sessions_commit_asynchronously_keeping_the_urls_options() {
        let Some(_db) = test_database().await else {
            return;
        };
        let url = "postgres://postgres@127.0.0.1:5432/postgres";
        let (url, tls) = tls::split_tls(url).unwrap();
        let mut config: tokio_postgres::Config = url.parse().unwrap();
        config.options("-c lock_timeout=1234");
        let counters = pool_of(with_async_commit(config), &tls, 1).unwrap();
        let client = counters.get().await.unwrap();
        let show = |setting: &'static str| {
            let client = &client;
            async move {
                let row = client.query_one(&format!("SHOW {setting}"), &[]).await;
                row.unwrap().get::<_, String>(0)
            }
        };
        assert_eq!(show("synchronous_commit").await, "off");
        assert_eq!(show("lock_timeout").await, "1234ms");
    }
}
