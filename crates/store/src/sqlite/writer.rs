//! The single SQLite writer and its group commit, and the checkpointer
//! that copies the WAL into the database file off the writer's path.

use super::batch::{apply_batch, BatchedJob, Job};
use super::{execute, open_connection, query_opt, D};
use crate::migrations::{
    now_s, plan_migrations, AppliedMigration, Step, ADD_CHECKSUM_COLUMN_SQLITE,
    CREATE_MIGRATIONS_TABLE, HAS_CHECKSUM_COLUMN_SQLITE, MIGRATIONS, SELECT_APPLIED,
};

use crate::model::{IdempotencyClaim, WriteOp, WriteSet};
use crate::sql::accounts::{self, ClaimDecision, ClaimRow};
use crate::sql::{docs, webhooks};
use crate::StoreError;
use parking_lot::Mutex;
use portcullis_domain::ids::MerchantId;
use rusqlite::{Connection, OptionalExtension};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Write sets waiting for the writer; senders wait when it is full.
const QUEUE_LEN_MAX: usize = 8_192;
/// How often the checkpointer copies committed WAL frames into the database.
const CHECKPOINT_INTERVAL_MS: u64 = 250;
/// The WAL file is cut back to this size when it restarts from its start.
const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// Told the commit's outcome once COMMIT has returned.
type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// Runs as the whole of its transaction; answers whether it succeeded
/// (the transaction commits) or not (it is rolled back), and its completion.
type AloneJob = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// What the writer's queue holds.
enum Queued {
    /// A job committed with the others of its batch, failing alone
    /// ([`batch`](super::batch)).
    Batched(Box<dyn BatchedJob>),
    /// A large job committed in a transaction of its own, with no
    /// savepoint (`Writer::write_alone`).
    Alone(AloneJob),
}

pub(crate) struct Writer {
    queue: Mutex<Option<mpsc::Sender<Queued>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<Checkpointer>>,
}

/// A thread checkpointing the WAL every `CHECKPOINT_INTERVAL_MS` on its own
/// connection (PASSIVE: it never blocks the writer or readers). The writer
/// connection's automatic checkpoint is off, so no commit waits for a
/// checkpoint's writes and fsync. Durability is unchanged: a commit is
/// durable once its WAL frames are synced, before any checkpoint.
///
/// Under steady writes this alone never lets the WAL start over: the writer
/// appends while the checkpointer copies, so the copy is never complete when
/// the next transaction begins, and the WAL file grows without end (half a
/// gigabyte in a 30 s benchmark). So after each of the checkpointer's runs
/// the writer, between two batches, copies the few frames committed since
/// ([`catch_up`]); its next transaction then finds the WAL fully copied
/// and writes from the WAL's start again, unless a reader still uses it.
struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    fn start(path: &Path, ran: Arc<AtomicBool>) -> Result<Self, StoreError> {
        let conn = open_connection(&path.to_path_buf())?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let interval = std::time::Duration::from_millis(CHECKPOINT_INTERVAL_MS);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpointer".to_owned())
            .spawn(move || {
                // Until the store closes (the sender is dropped or signals).
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(interval)
                {
                    match conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                        Ok(()) => ran.store(true, Ordering::Release),
                        Err(err) => {
                            tracing::warn!(error = %super::map_err(err), "sqlite checkpoint failed");
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self { stop, thread })
    }
}

impl Writer {
    /// Opens the writer's connection, migrates, and starts the thread.
    pub(crate) fn start(path: &Path, batch_max: usize) -> Result<Self, StoreError> {
        let conn = open_connection(&path.to_path_buf())?;
        migrate(&conn)?;
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES};"
        ))
        .map_err(super::map_err)?;
        let checkpointed = Arc::new(AtomicBool::new(false));
        let checkpointer = Checkpointer::start(path, checkpointed.clone())?;
        let (sender, receiver) = mpsc::channel(QUEUE_LEN_MAX);
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || run(conn, receiver, batch_max, &checkpointed))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self {
            queue: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(Some(checkpointer)),
        })
    }

    /// Runs `f` within the next batch, failing alone if it fails; answers
    /// after the batch has committed (or failed to). `f` may run more than
    /// once, each time on the same database state (see
    /// [`batch`](super::batch)): it must only read what it captured.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Fn(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job = Box::new(Job::new(f, answer));
        self.run_queued(Queued::Batched(job), answered).await
    }

    /// Runs `f` as a transaction of its own, between two batches, with no
    /// savepoint around it; answers after it has committed (or was rolled
    /// back, if `f` failed). For large write sets (`commit_bulk`): inside a
    /// savepoint, SQLite keeps the original of every page the set changes
    /// in its in-memory sub-journal, and each statement's release walks
    /// that journal from its start, so a set of N statements costs N².
    pub(crate) async fn write_alone<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: AloneJob = Box::new(move |conn| {
            // Unwind safety: whatever `f` left half done is rolled back.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)));
            let succeeded = matches!(outcome, Ok(Ok(_)));
            let complete: Completion = Box::new(move |committed| {
                let _ = answer.send(outcome.map(|result| committed.and(result)));
            });
            (succeeded, complete)
        });
        self.run_queued(Queued::Alone(job), answered).await
    }

    /// Queues `job` and waits for its answer.
    async fn run_queued<R>(
        &self,
        job: Queued,
        answered: oneshot::Receiver<std::thread::Result<Result<R, StoreError>>>,
    ) -> Result<R, StoreError> {
        let sender = self.queue.lock().clone();
        let sender =
            sender.ok_or_else(|| StoreError::Unavailable("the store is closed".to_owned()))?;
        sender
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".to_owned()))?;
        let outcome = answered
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".to_owned()))?;
        match outcome {
            Ok(result) => result,
            // The job panicked on the writer thread: fail this caller the
            // same way, here on its own task.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Stops taking writes, lets the writer commit what is queued, and waits.
    pub(crate) async fn close(&self) {
        drop(self.queue.lock().take());
        let thread = self.thread.lock().take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let checkpointer = self.checkpointer.lock().take();
        if let Some(checkpointer) = checkpointer {
            let _ = checkpointer.stop.send(());
            let _ = tokio::task::spawn_blocking(move || checkpointer.thread.join()).await;
        }
    }
}

fn run(
    conn: Connection,
    mut receiver: mpsc::Receiver<Queued>,
    batch_max: usize,
    checkpointed: &AtomicBool,
) {
    let mut batch = Vec::with_capacity(batch_max);
    let mut rows_changed_total = conn.total_changes();
    pages_written_since_last(&conn);
    // A job that must run alone, received while a batch was being filled.
    let mut next: Option<Queued> = None;
    while let Some(first) = next.take().or_else(|| receiver.blocking_recv()) {
        match first {
            Queued::Alone(job) => commit_alone(&conn, job),
            Queued::Batched(job) => {
                batch.push(job);
                while batch.len() < batch_max {
                    match receiver.try_recv() {
                        Ok(Queued::Batched(job)) => batch.push(job),
                        Ok(alone) => {
                            next = Some(alone);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit_batch(&conn, &mut batch);
            }
        }
        record_write_cost(&conn, &mut rows_changed_total);
        if checkpointed.swap(false, Ordering::AcqRel) {
            catch_up(&conn);
        }
    }
}

/// Copies into the database the WAL frames committed since the
/// checkpointer's last run (see [`Checkpointer`]), so that the WAL can
/// start over. A failure only leaves the WAL longer; it is retried later.
/// Its time is the writer's stall (`portcullis_sqlite_catch_up_seconds`).
fn catch_up(conn: &Connection) {
    let started = std::time::Instant::now();
    if let Err(err) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
        tracing::warn!(error = %super::map_err(err), "sqlite writer could not catch up the checkpoint");
    }
    metrics::histogram!("portcullis_sqlite_catch_up_seconds")
        .record(started.elapsed().as_secs_f64());
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Box<dyn BatchedJob>>) {
    if let Err(err) = control(conn, "BEGIN IMMEDIATE") {
        // Dropping the jobs unanswered tells each waiting request the write failed.
        tracing::error!(error = %super::map_err(err), batch_len = batch.len(), "sqlite writer could not begin a transaction");
        batch.clear();
        return;
    }
    let started = std::time::Instant::now();
    let batch_len = batch.len();
    let Some(answered) = apply_batch(conn, batch) else {
        return;
    };
    let applied_in = started.elapsed();
    let outcome = control(conn, "COMMIT").map_err(|err| {
        let _ = control(conn, "ROLLBACK");
        super::map_err(err)
    });
    metrics::histogram!("portcullis_sqlite_write_batch_size").record(batch_len as f64);
    metrics::histogram!("portcullis_sqlite_write_batch_apply_seconds")
        .record(applied_in.as_secs_f64());
    metrics::histogram!("portcullis_sqlite_commit_seconds")
        .record((started.elapsed() - applied_in).as_secs_f64());
    if let Err(err) = &outcome {
        tracing::error!(error = %err, batch_len, "sqlite group commit failed");
    }
    for job in answered {
        job.complete(outcome.clone());
    }
}

/// Runs `job` as one transaction: committed if it succeeded, else rolled back.
fn commit_alone(conn: &Connection, job: AloneJob) {
    if let Err(err) = control(conn, "BEGIN IMMEDIATE") {
        // Dropping the job unanswered tells its caller the write failed.
        tracing::error!(error = %super::map_err(err), "sqlite writer could not begin a transaction");
        return;
    }
    let (succeeded, complete) = job(conn);
    if !succeeded {
        let _ = control(conn, "ROLLBACK");
        complete(Ok(()));
        return;
    }
    let outcome = control(conn, "COMMIT").map_err(|err| {
        let _ = control(conn, "ROLLBACK");
        super::map_err(err)
    });
    if let Err(err) = &outcome {
        tracing::error!(error = %err, "sqlite commit of a job alone failed");
    }
    complete(outcome);
}

/// Counts what the batch just committed cost in storage: rows changed by
/// its statements (triggers included, rolled-back savepoints too) and
/// pages the writer connection wrote to the WAL. Both are counts, not
/// times, so they are the same on a loaded machine as on a quiet one:
/// `portcullis bench --write-cost-payments N` divides them by payments.
///
/// `rows_changed_total` is the connection's `total_changes` when last
/// recorded; it is moved forward.
fn record_write_cost(conn: &Connection, rows_changed_total: &mut u64) {
    let now_total = conn.total_changes();
    metrics::counter!("portcullis_sqlite_rows_changed_total")
        .increment(now_total.saturating_sub(*rows_changed_total));
    *rows_changed_total = now_total;
    metrics::counter!("portcullis_sqlite_pages_written_total")
        .increment(pages_written_since_last(conn));
}

/// Pages this connection wrote (to the WAL) since the last call:
/// `SQLITE_DBSTATUS_CACHE_WRITE`, read and reset.
fn pages_written_since_last(conn: &Connection) -> u64 {
    let (mut current, mut highwater) = (0, 0);
    // SAFETY: `handle` is this open connection's pointer, used on the thread
    // that owns the connection for the call's duration only;
    // `sqlite3_db_status` only reads and resets a counter of it and writes
    // the two integers it is given.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_db_status(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBSTATUS_CACHE_WRITE,
            &mut current,
            &mut highwater,
            1,
        )
    };
    if rc == rusqlite::ffi::SQLITE_OK {
        u64::try_from(current).unwrap_or(0)
    } else {
        0
    }
}

/// Runs a transaction-control statement (`BEGIN IMMEDIATE`, `SAVEPOINT
/// job`, `COMMIT`…) prepared once and kept in the connection's statement
/// cache: `execute_batch` parsed its text again each time, and a write set
/// runs four of them.
pub(super) fn control(conn: &Connection, sql: &'static str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Applies the migrations not yet applied, in one transaction.
///
/// Foreign keys are off meanwhile, as SQLite's table rebuild requires
/// (migration 0011 drops and re-creates tables other tables refer to);
/// they are checked in full before the commit, and turned on again.
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("PRAGMA foreign_keys = OFF")
        .map_err(super::map_err)?;
    let result = migrate_in_transaction(conn);
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .map_err(super::map_err)?;
    result
}

fn migrate_in_transaction(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(super::map_err)?;
    let result = (|| {
        conn.execute_batch(CREATE_MIGRATIONS_TABLE)
            .map_err(super::map_err)?;
        let has_checksum: bool = conn
            .query_row(HAS_CHECKSUM_COLUMN_SQLITE, [], |row| row.get(0))
            .map_err(super::map_err)?;
        if !has_checksum {
            conn.execute_batch(ADD_CHECKSUM_COLUMN_SQLITE)
                .map_err(super::map_err)?;
        }
        let applied = applied_migrations(conn)?;
        for step in plan_migrations(&applied, D, MIGRATIONS)? {
            match step {
                Step::Apply(migration) => {
                    conn.execute_batch(migration.sqlite)
                        .map_err(super::map_err)?;
                    conn.execute(
                        "INSERT INTO schema_migrations (version, applied, checksum) VALUES (?1, ?2, ?3)",
                        rusqlite::params![
                            migration.version,
                            now_s(),
                            migration.checksum(D)
                        ],
                    )
                    .map_err(super::map_err)?;
                }
                Step::RecordChecksum(migration) => {
                    conn.execute(
                        "UPDATE schema_migrations SET checksum = ?2 WHERE version = ?1",
                        rusqlite::params![migration.version, migration.checksum(D)],
                    )
                    .map_err(super::map_err)?;
                }
            }
        }
        check_foreign_keys(conn)
    })();
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end).map_err(super::map_err)?;
    result
}

fn applied_migrations(conn: &Connection) -> Result<Vec<AppliedMigration>, StoreError> {
    let mut statement = conn.prepare(SELECT_APPLIED).map_err(super::map_err)?;
    let rows = statement
        .query_map([], |row| {
            Ok(AppliedMigration {
                version: row.get(0)?,
                checksum: row.get(1)?,
            })
        })
        .map_err(super::map_err)?;
    rows.collect::<Result<_, _>>().map_err(super::map_err)
}

/// Fails when any row refers to a row that does not exist.
fn check_foreign_keys(conn: &Connection) -> Result<(), StoreError> {
    let violation = conn
        .query_row(
            "SELECT \"table\", parent FROM pragma_foreign_key_check",
            [],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
        )
        .optional()
        .map_err(super::map_err)?;
    match violation {
        None => Ok(()),
        Some((table, parent)) => Err(StoreError::Corrupt(format!(
            "after migrating, rows of {table} refer to missing rows of {parent}"
        ))),
    }
}

/// Applies a write set; on error the caller's savepoint or rollback undoes it.
///
/// Documents and idempotency completions go in the order given, a run of
/// consecutive inserts into one table as one multi-row insert
/// ([`PendingInserts`]); then the events' webhook fan-outs in one statement
/// per scope (`webhooks::FanOuts`; before a redelivery, which may name a
/// delivery they create), the risk writes as one multi-row statement per
/// kind (`bulk::risk_statements`), and the ledger appends last, after the
/// state changes they belong to.
pub(crate) fn apply(conn: &Connection, writes: &WriteSet) -> Result<(), StoreError> {
    let mut inserts = PendingInserts::default();
    let mut fan_outs = webhooks::FanOuts::default();
    let mut risk = vec![];
    for op in &writes.ops {
        if let Some((table, row)) = docs::NewDoc::of_insert(op) {
            inserts.add(conn, table, row)?;
            fan_outs.add_insert(table, row.scope, row.id, row.created, row.columns);
            continue;
        }
        match op {
            WriteOp::LedgerAppend { .. } => {}
            WriteOp::Risk(write) => risk.push(write.clone()),
            WriteOp::Redeliver { .. } => {
                inserts.write(conn)?;
                execute_all(conn, fan_outs.take_statements(D))?;
                apply_other(conn, op)?;
            }
            op => {
                inserts.write(conn)?;
                apply_other(conn, op)?;
            }
        }
    }
    inserts.write(conn)?;
    execute_all(conn, fan_outs.take_statements(D))?;
    execute_all(conn, crate::bulk::risk_statements(D, risk))?;
    for transaction in writes.ledger_appends() {
        super::ledger::append(conn, transaction)?;
    }
    Ok(())
}

/// A write set's consecutive inserts into one table, held until another
/// operation must run and then written as one multi-row insert
/// (`docs::InsertRun`): a create-and-confirm payment's second write set
/// inserts its `charge.succeeded` and `payment_intent.succeeded` events
/// together.
struct PendingInserts<'a>(docs::InsertRun<'a>);

impl Default for PendingInserts<'_> {
    fn default() -> Self {
        // Only `bulk::rows_per_insert` bounds a run: rusqlite's statement
        // cache is a bounded LRU.
        Self(docs::InsertRun::new(usize::MAX))
    }
}

impl<'a> PendingInserts<'a> {
    /// Adds `row`, first writing the run held if `row` cannot join it.
    fn add(
        &mut self,
        conn: &Connection,
        table: crate::Table,
        row: docs::NewDoc<'a>,
    ) -> Result<(), StoreError> {
        if let Some(sql) = self.0.add(D, table, row) {
            execute(conn, &sql)?;
        }
        Ok(())
    }

    /// Writes the run held, if any.
    fn write(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if let Some(sql) = self.0.take(D) {
            execute(conn, &sql)?;
        }
        Ok(())
    }
}

fn execute_all(conn: &Connection, statements: Vec<crate::sql::Sql>) -> Result<(), StoreError> {
    for sql in &statements {
        execute(conn, sql)?;
    }
    Ok(())
}

/// Applies an update, redelivery or idempotency completion.
fn apply_other(conn: &Connection, op: &WriteOp) -> Result<(), StoreError> {
    match op {
        WriteOp::Update {
            table,
            scope,
            id,
            expected_version,
            columns,
            body,
        } => {
            let sql = docs::update_doc(D, *table, scope, id, *expected_version, columns, body);
            if execute(conn, &sql)? == 0 {
                return Err(missing_or_conflict(conn, *table, scope, id)?);
            }
        }
        WriteOp::Redeliver {
            scope,
            event_id,
            one,
            now_ms,
        } => {
            execute(
                conn,
                &webhooks::redeliver(D, scope, event_id, one.as_ref(), *now_ms),
            )?;
        }
        WriteOp::CompleteIdempotency {
            merchant_id,
            key,
            status_code,
            response_body,
        } => {
            let sql =
                accounts::complete_idempotency(D, merchant_id, key, *status_code, response_body);
            if execute(conn, &sql)? == 0 {
                return Err(StoreError::ClaimLost);
            }
        }
        WriteOp::Insert { .. } | WriteOp::Risk(_) | WriteOp::LedgerAppend { .. } => {
            unreachable!("`apply` runs inserts, risk writes and ledger appends itself")
        }
    }
    Ok(())
}

fn missing_or_conflict(
    conn: &Connection,
    table: crate::Table,
    scope: &crate::Scope,
    id: &str,
) -> Result<StoreError, StoreError> {
    let exists = query_opt(conn, &docs::seq_of(D, table, scope, id), |_| Ok(()))?;
    Ok(if exists.is_some() {
        StoreError::Conflict
    } else {
        StoreError::NotFound
    })
}

pub(crate) fn claim(
    conn: &Connection,
    merchant_id: &MerchantId,
    key: &str,
    fingerprint: &str,
    now: i64,
    lease_s: i64,
) -> Result<IdempotencyClaim, StoreError> {
    if execute(
        conn,
        &accounts::claim_insert(D, merchant_id, key, fingerprint, now),
    )? == 1
    {
        return Ok(IdempotencyClaim::Claimed);
    }
    let row = query_opt(conn, &accounts::claim_select(D, merchant_id, key), |row| {
        Ok(ClaimRow {
            fingerprint: row.get(0)?,
            done: row.get::<_, String>(1)? == "done",
            status_code: row.get(2)?,
            response_body: row.get(3)?,
            locked_at: row.get(4)?,
        })
    })?
    .ok_or(StoreError::Conflict)?;
    match accounts::decide_claim(row, fingerprint, now, lease_s) {
        ClaimDecision::Answer(claim) => Ok(claim),
        ClaimDecision::TakeOver => {
            execute(conn, &accounts::claim_take_over(D, merchant_id, key, now))?;
            Ok(IdempotencyClaim::Claimed)
        }
    }
}
