//! The SQLite backend: one file, WAL, `synchronous=FULL`.
//!
//! All writes go through one writer thread that commits *batches* of
//! waiting write sets in one transaction (group commit): each write set runs
//! inside its own savepoint, so one that fails is rolled back alone, and one
//! fsync makes the whole batch durable. A request learns its outcome only
//! after the batch's COMMIT returns. Reads run on a small pool of their own
//! connections, which WAL lets proceed while the writer writes.

mod batch;
mod convert;
mod encryption_keys;
mod ledger;
mod outbox;
mod writer;

use crate::model::{
    Doc, IdempotencyClaim, ListPage, ListQuery, PageCursor, Scope, Table, WriteSet,
};
use crate::reversals::{PendingReversalRow, ReversalState};
use crate::sql::{accounts, docs, instances, reversals, secret_checks, Dialect, Sql};
use crate::{ScanQuery, ScopedDoc, StoreError, StoreOptions};
use convert::{
    doc_from_row, key_from_row, map_err, merchant_from_row, params_of, scoped_doc_from_row,
};
use parking_lot::Mutex;
use portcullis_domain::api_keys::ApiKeyRecord;
use portcullis_domain::ids::{ApiKeyId, MerchantId};
use portcullis_domain::merchants::Merchant;
use portcullis_domain::search::{SearchClause, SearchQuery};
use rusqlite::{Connection, OptionalExtension};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Semaphore;
use writer::Writer;

const D: Dialect = Dialect::Sqlite;
/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Prepared statements kept per connection.
const STATEMENT_CACHE_CAPACITY: usize = 256;

#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Writer>,
    readers: Arc<ReaderPool>,
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReaderPool {
    /// An idle read connection, or a new one when all are in use. Open
    /// connections are bounded by the reads that can run at once: the
    /// pool's permits plus one per thread running [`SqliteStore::read_now`]
    /// (which never awaits while it holds one).
    fn take(&self) -> Result<Connection, StoreError> {
        let idle = self.idle.lock().pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_connection(&self.path),
        }
    }

    fn give_back(&self, conn: Connection) {
        self.idle.lock().push(conn);
    }
}

pub(crate) fn open_connection(path: &PathBuf) -> Result<Connection, StoreError> {
    static LIBRARY_CONFIGURED: std::sync::Once = std::sync::Once::new();
    LIBRARY_CONFIGURED.call_once(turn_off_memory_statistics);
    let conn = Connection::open(path).map_err(map_err)?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))
        .map_err(map_err)?;
    // temp_store = MEMORY keeps each write set's savepoint journal (the
    // original of every page it changes) in memory: on a temporary file the
    // writer wrote six times as many bytes there as into the WAL.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(conn)
}

/// Turns off SQLite's memory statistics (`SQLITE_CONFIG_MEMSTATUS`), which
/// nothing here reads: with them on, every allocation and free SQLite makes
/// takes one process-wide mutex, 5 % of the writer thread's CPU samples.
/// Only possible before SQLite initializes, so before the first connection
/// opens; if something opened one first, the statistics stay on.
fn turn_off_memory_statistics() {
    // SAFETY: `sqlite3_config` with `SQLITE_CONFIG_MEMSTATUS` takes one
    // `int`, passed here; called once, before this process opens any
    // connection (`open_connection` is the only place that does, behind a
    // `Once`). Had SQLite initialized already, it answers SQLITE_MISUSE and
    // changes nothing.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_config(
            rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
            0 as std::os::raw::c_int,
        )
    };
    if rc != rusqlite::ffi::SQLITE_OK {
        tracing::debug!(
            rc,
            "sqlite memory statistics stay on: sqlite was initialized already"
        );
    }
}

/// Creates `dir` (and missing parents) readable by its owner only: the
/// database holds customers' personal data and webhook secrets. A directory
/// that exists already keeps its mode.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates the database file empty with mode 0600 when it does not exist,
/// before SQLite opens it: SQLite gives its `-wal` and `-shm` files the
/// database file's mode.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    pub async fn open(path: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let path = PathBuf::from(path.split('?').next().unwrap_or(path));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)
                .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
        }
        create_private_file(&path)
            .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", path.display())))?;
        let writer_path = path.clone();
        let batch_max = options.sqlite_write_batch_max.max(1);
        let writer = tokio::task::spawn_blocking(move || Writer::start(&writer_path, batch_max))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))??;
        let readers = ReaderPool {
            path,
            idle: Mutex::new(vec![]),
            permits: Arc::new(Semaphore::new(options.sqlite_readers.max(1))),
        };
        Ok(Self {
            writer: Arc::new(writer),
            readers: Arc::new(readers),
        })
    }

    pub async fn close(&self) {
        self.writer.close().await;
    }

    /// Runs `f` on an idle read connection on the calling thread, with no
    /// hand-off: for reads bounded by an index lookup (one document, a key,
    /// a payment's risk history), which take microseconds — less than the
    /// two thread switches a hand-off to another thread costs. In WAL mode
    /// a reader never waits for the writer. Reads whose cost grows with the
    /// data (lists, searches, scans, `ledger verify`) use [`Self::read`].
    fn read_now<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let conn = self.readers.take()?;
        let result = f(&conn);
        self.readers.give_back(conn);
        result
    }

    /// Runs `f` on a read connection, off the async threads.
    async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let permit = self
            .readers
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("reader pool closed".to_owned()))?;
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take()?;
            let result = f(&conn);
            pool.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    /// See `Store::commit_bulk`: a transaction of the writer's own, with
    /// no savepoint (`Writer::write_alone`).
    pub async fn commit_bulk(&self, writes: WriteSet) -> Result<(), StoreError> {
        let plan = crate::bulk::BulkPlan::of(D, writes);
        self.writer
            .write_alone(move |c| {
                for sql in &plan.documents {
                    execute(c, sql)?;
                }
                let mut endpoints = 0;
                for check in &plan.fan_out_checks {
                    endpoints += query_all(c, check, |_| Ok(()))?.len();
                }
                if endpoints > 0 {
                    for sql in &plan.fan_outs {
                        execute(c, sql)?;
                    }
                }
                writer::apply(c, &plan.rest)?;
                for sql in &plan.risk {
                    execute(c, sql)?;
                }
                ledger::append_batch(c, plan.ledger.iter())
            })
            .await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(map_err))
            .await
    }

    pub async fn insert_merchant(&self, merchant: &Merchant) -> Result<(), StoreError> {
        let sql = accounts::insert_merchant(D, merchant);
        self.writer.write(move |c| execute(c, &sql).map(drop)).await
    }

    pub async fn list_merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        self.read(|c| {
            query_all(c, &accounts::list_merchants(D), merchant_from_row)?
                .into_iter()
                .collect()
        })
        .await
    }

    pub async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let sql = accounts::insert_api_key(D, key);
        self.writer.write(move |c| execute(c, &sql).map(drop)).await
    }

    pub async fn find_api_key_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let sql = accounts::find_api_key_by_hash(D, hash);
        self.read_now(|c| query_opt(c, &sql, key_from_row)?.transpose())
    }

    pub async fn list_api_keys(
        &self,
        merchant_id: &MerchantId,
    ) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let sql = accounts::list_api_keys(D, merchant_id);
        self.read(move |c| query_all(c, &sql, key_from_row)?.into_iter().collect())
            .await
    }

    pub async fn revoke_api_key(&self, key_id: &ApiKeyId, now: i64) -> Result<bool, StoreError> {
        let sql = accounts::revoke_api_key(D, key_id, now);
        self.writer.write(move |c| Ok(execute(c, &sql)? == 1)).await
    }

    pub async fn get(
        &self,
        table: Table,
        scope: &Scope,
        id: &str,
    ) -> Result<Option<Doc>, StoreError> {
        let sql = docs::get_doc(D, table, scope, id);
        self.read_now(|c| query_opt(c, &sql, doc_from_row))
    }

    pub async fn list(&self, table: Table, query: &ListQuery) -> Result<ListPage, StoreError> {
        self.list_matching(table, query, &[]).await
    }

    pub async fn list_matching(
        &self,
        table: Table,
        query: &ListQuery,
        clauses: &[SearchClause],
    ) -> Result<ListPage, StoreError> {
        let query = query.clone();
        let clauses = clauses.to_vec();
        self.read(move |c| {
            let cursor = match &query.cursor {
                PageCursor::Newest => None,
                PageCursor::StartingAfter(id) => Some((docs::Direction::Older, id)),
                PageCursor::EndingBefore(id) => Some((docs::Direction::Newer, id)),
            };
            let cursor_seq = match cursor {
                None => None,
                Some((direction, id)) => {
                    let sql = docs::seq_of(D, table, &query.scope, id);
                    let seq = query_opt(c, &sql, |row| row.get::<_, i64>(0))?
                        .ok_or(StoreError::NotFound)?;
                    Some((direction, seq))
                }
            };
            let sql = docs::list_docs_matching(D, table, &query, &clauses, cursor_seq)?;
            let docs = query_all(c, &sql, doc_from_row)?;
            let newer = matches!(cursor_seq, Some((docs::Direction::Newer, _)));
            Ok(crate::model::page_of(docs, query.limit, newer))
        })
        .await
    }

    pub async fn search(
        &self,
        table: Table,
        scope: &Scope,
        query: &SearchQuery,
        after_seq: Option<i64>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        let sql = docs::search_docs(D, table, scope, query, after_seq, limit)?;
        self.read(move |c| {
            Ok(crate::model::page_of(
                query_all(c, &sql, doc_from_row)?,
                limit,
                false,
            ))
        })
        .await
    }

    pub async fn scan(
        &self,
        table: Table,
        query: &ScanQuery,
    ) -> Result<Vec<ScopedDoc>, StoreError> {
        let sql = docs::scan_docs(D, table, query);
        self.read(move |c| {
            query_all(c, &sql, scoped_doc_from_row)?
                .into_iter()
                .collect()
        })
        .await
    }

    pub async fn routing_outcomes(
        &self,
        query: &crate::RoutingOutcomeQuery,
    ) -> Result<Vec<crate::RoutingOutcomeCounts>, StoreError> {
        let sql = crate::sql::risk::routing_outcomes(D, query);
        self.read(move |c| {
            query_all(c, &sql, |row| {
                Ok(crate::RoutingOutcomeCounts {
                    segment: row.get(0)?,
                    connector_account: row.get(1)?,
                    authorized: row.get(2)?,
                    declined: row.get(3)?,
                })
            })
        })
        .await
    }

    /// The card's last sighting and each query's counters, in one
    /// statement (`sql::risk_history`) per run of queries, on the calling
    /// thread (`read_now`).
    pub async fn risk_history(
        &self,
        queries: &[crate::RiskCounterQuery],
        scope: &Scope,
        card: &str,
    ) -> Result<crate::RiskHistory, StoreError> {
        use crate::sql::risk_history::{extend, history_of, runs, statement, HistoryRow};
        let statements: Vec<_> = runs(queries)
            .into_iter()
            .map(|run| (statement(D, run, scope, card), run.len()))
            .collect();
        self.read_now(|c| {
            let mut history = crate::RiskHistory::default();
            for (sql, query_count) in &statements {
                let rows = query_all(c, sql, |row| {
                    Ok(HistoryRow {
                        part: row.get(0)?,
                        metric: row.get(1)?,
                        values: [row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?],
                    })
                })?;
                extend(&mut history, history_of(rows, *query_count)?);
            }
            Ok(history)
        })
    }

    pub async fn commit(&self, writes: WriteSet) -> Result<(), StoreError> {
        self.writer.write(move |c| writer::apply(c, &writes)).await
    }

    pub async fn ledger_balances(
        &self,
        accounts: &[String],
    ) -> Result<Vec<portcullis_ledger::verify::StoredBalance>, StoreError> {
        let accounts = accounts.to_vec();
        self.read(move |c| ledger::balances_of(c, &accounts)).await
    }

    pub async fn verify_ledger(&self) -> Result<crate::ledger::Verification, StoreError> {
        self.read(ledger::verify).await
    }

    pub async fn ledger_hash_at(&self, sequence: i64) -> Result<Option<String>, StoreError> {
        self.read(move |c| ledger::hash_at(c, sequence)).await
    }

    pub async fn claim_idempotency(
        &self,
        merchant_id: &MerchantId,
        key: &str,
        fingerprint: &str,
        now: i64,
        lease_s: i64,
    ) -> Result<IdempotencyClaim, StoreError> {
        let (merchant_id, key, fingerprint) =
            (merchant_id.clone(), key.to_owned(), fingerprint.to_owned());
        self.writer
            .write(move |c| writer::claim(c, &merchant_id, &key, &fingerprint, now, lease_s))
            .await
    }

    pub async fn release_idempotency(
        &self,
        merchant_id: &MerchantId,
        key: &str,
        claimed_at: i64,
    ) -> Result<(), StoreError> {
        let sql = accounts::release_idempotency(D, merchant_id, key, claimed_at);
        self.writer.write(move |c| execute(c, &sql).map(drop)).await
    }

    /// Stamps this instance as running; answers how many were seen since
    /// `live_since_ms` (this one included).
    pub async fn stamp_instance(
        &self,
        instance_id: &str,
        now_ms: i64,
        live_since_ms: i64,
    ) -> Result<u64, StoreError> {
        let statements = [
            instances::stamp(D, instance_id, now_ms),
            instances::forget_before(D, live_since_ms),
        ];
        let count = instances::count_live(D, live_since_ms);
        self.writer
            .write(move |c| {
                for sql in &statements {
                    execute(c, sql)?;
                }
                let live = query_opt(c, &count, |row| row.get::<_, i64>(0))?;
                Ok(live.unwrap_or(0).max(1) as u64)
            })
            .await
    }

    pub async fn record_check_value(
        &self,
        name: &str,
        check_value: &str,
        now_s: i64,
    ) -> Result<String, StoreError> {
        let record = secret_checks::record(D, name, check_value, now_s);
        let read = secret_checks::read(D, name);
        self.writer
            .write(move |c| {
                execute(c, &record)?;
                query_opt(c, &read, |row| row.get::<_, String>(0))?.ok_or(StoreError::NotFound)
            })
            .await
    }

    pub async fn recorded_check_value(&self, name: &str) -> Result<Option<String>, StoreError> {
        let read = secret_checks::read(D, name);
        self.writer
            .write(move |c| query_opt(c, &read, |row| row.get::<_, String>(0)))
            .await
    }

    pub async fn leave_instance(&self, instance_id: &str) -> Result<(), StoreError> {
        let sql = instances::leave(D, instance_id);
        self.writer
            .write(move |c| execute(c, &sql).map(|_| ()))
            .await
    }

    pub async fn prune_idempotency(&self, created_before: i64) -> Result<u64, StoreError> {
        let sql = accounts::prune_idempotency(D, created_before);
        self.writer
            .write(move |c| execute(c, &sql).map(|n| n as u64))
            .await
    }

    pub async fn prune_passkey_challenges(&self, created_before: i64) -> Result<u64, StoreError> {
        let sql = accounts::prune_passkey_challenges(D, created_before);
        self.writer
            .write(move |c| execute(c, &sql).map(|n| n as u64))
            .await
    }

    pub async fn record_reversal(&self, row: &PendingReversalRow) -> Result<(), StoreError> {
        let sql = reversals::record(D, row);
        self.writer.write(move |c| execute(c, &sql).map(drop)).await
    }

    pub async fn find_reversal(
        &self,
        attempt_id: &str,
    ) -> Result<Option<PendingReversalRow>, StoreError> {
        let sql = reversals::find(D, attempt_id);
        self.read(move |c| query_opt(c, &sql, reversal_from_row)?.transpose())
            .await
    }

    pub async fn set_reversal_state(
        &self,
        attempt_id: &str,
        state: ReversalState,
    ) -> Result<(), StoreError> {
        let sql = reversals::set_state(D, attempt_id, state);
        self.writer.write(move |c| execute(c, &sql).map(drop)).await
    }

    pub async fn settle_reversal(&self, attempt_id: &str) -> Result<(), StoreError> {
        let sql = reversals::settle(D, attempt_id);
        self.writer.write(move |c| execute(c, &sql).map(drop)).await
    }

    pub async fn reversals_in_state(
        &self,
        connector: &str,
        state: ReversalState,
        limit: usize,
    ) -> Result<Vec<PendingReversalRow>, StoreError> {
        let sql = reversals::in_state(D, connector, state, limit);
        self.read(move |c| query_all(c, &sql, reversal_from_row)?.into_iter().collect())
            .await
    }

    pub async fn forget_sent_reversals(&self, created_before: i64) -> Result<u64, StoreError> {
        let sql = reversals::forget_sent_before(D, created_before);
        self.writer
            .write(move |c| execute(c, &sql).map(|n| n as u64))
            .await
    }
}

fn reversal_from_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<PendingReversalRow, StoreError>> {
    let (attempt_id, connector, reference) = (row.get(0)?, row.get(1)?, row.get(2)?);
    let (state, created): (String, i64) = (row.get(3)?, row.get(4)?);
    Ok(
        ReversalState::parse(&state).map(|state| PendingReversalRow {
            attempt_id,
            connector,
            reference,
            state,
            created,
        }),
    )
}

pub(crate) fn execute(c: &Connection, sql: &Sql) -> Result<usize, StoreError> {
    let mut stmt = c.prepare_cached(&sql.text).map_err(map_err)?;
    stmt.execute(params_of(sql)).map_err(map_err)
}

pub(crate) fn query_all<T>(
    c: &Connection,
    sql: &Sql,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(&sql.text).map_err(map_err)?;
    let rows = stmt.query_map(params_of(sql), f).map_err(map_err)?;
    rows.collect::<Result<Vec<T>, _>>().map_err(map_err)
}

pub(crate) fn query_opt<T>(
    c: &Connection,
    sql: &Sql,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = c.prepare_cached(&sql.text).map_err(map_err)?;
    stmt.query_row(params_of(sql), f)
        .optional()
        .map_err(map_err)
}

/// Migrates `conn` as the writer does at start-up, for unit tests.
#[cfg(test)]
pub(crate) fn migrate_for_test(conn: &Connection) -> Result<(), StoreError> {
    writer::migrate(conn)
}

/// The parameters of `sql`, for tests that run it on a connection of their own.
#[cfg(test)]
pub(crate) fn params_for_test(
    sql: &Sql,
) -> rusqlite::ParamsFromIter<std::slice::Iter<'_, crate::model::SqlValue>> {
    params_of(sql)
}
