//! Group commit on PostgreSQL: one writer task per instance takes every
//! write set waiting (up to `WRITE_BATCH_MAX`) and applies them in one
//! transaction, each in its own savepoint, so a write set that fails
//! (a version conflict, a duplicate, a balance floor) is rolled back alone
//! while the others commit: one chain-head lock and one WAL flush per
//! batch instead of per payment.
//!
//! The chain head is taken *last* (`apply_batch`): every write set's
//! documents first (many write sets' in one pipelined round trip,
//! `rounds`), then the head locked, the batch's ledger appends
//! linked in memory and written in one pipeline, then COMMIT. So another
//! instance's batch waits for the head only while this one appends and
//! flushes, not while it writes its documents.
//!
//! Lock order: a holder of the head takes no row lock but the ledger's,
//! which only holders of the head take; a batch that must undo a write
//! set lets go of the head before it applies documents again. So two
//! instances' writers cannot deadlock on the head and a document row.
//!
//! No round trip of its own for transaction control: the `BEGIN` goes at
//! the head of the first round's pipeline and, in a batch that appends,
//! the `COMMIT` at the tail of the ledger rows' (`transaction`, the guard
//! that rolls a failed batch back). Round trips per batch of r rounds:
//! r + 3 when it appends (the head's lock and reads, the ledger rows and
//! COMMIT, the risk counters), r + 2 when not (COMMIT, counters).
//!
//! No `SAVEPOINT` while nothing fails: a batch is first applied without
//! them (`Undo::WholeBatch`); if a write set fails, the whole transaction
//! is rolled back and the batch applied again with a savepoint per write
//! set (`Undo::Savepoints`), which decides each one's outcome as before.
//! Nothing of the first try is seen: it is never committed. After a redo
//! the next [`SAVEPOINT_BATCHES_AFTER_REDO`] batches start with
//! savepoints, so a run of failing write sets costs each batch once.
//!
//! Two batches in flight (`turns`): batch k+1 is taken from the queue and
//! applies its documents while batch k holds the chain head and commits,
//! on a connection of its own; batch k+1 starts only once batch k's
//! documents are final, and commits only after batch k has, so rows still
//! become visible in `seq` order within an instance.
//!
//! Durability is unchanged: a caller is answered after the COMMIT of the
//! batch holding its write set has returned (and, as before, after the
//! risk counters of the batch have moved in their own transaction).

mod rounds;
mod transaction;
mod turns;

use super::convert::map_err;
use super::{ledger, PgStore, PlannedWrites};
use crate::model::{RiskWrite, WriteSet};
use crate::StoreError;
use deadpool_postgres::Pool;
use portcullis_ledger::LedgerTransaction;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};
use transaction::BatchTransaction;
use turns::{TurnOrder, Turns};

/// Most write sets one transaction applies.
const WRITE_BATCH_MAX: usize = 64;
/// Write sets that may wait for the writer before callers wait to queue.
const QUEUE_LEN_MAX: usize = 4_096;
/// Batches applied with savepoints from the start after one had to be
/// redone: a failing write set is rare (a version conflict, a duplicate,
/// a floor), but when they come in runs each redo doubles a batch's work.
const SAVEPOINT_BATCHES_AFTER_REDO: u32 = 16;
/// Batches applied at once: one applying its documents while the one
/// before it holds the chain head and commits (`turns`).
const BATCHES_IN_FLIGHT_MAX: usize = 2;

/// How a batch undoes the write set that fails in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Undo {
    /// No savepoints (one statement less per write set): a failure rolls
    /// the whole transaction back, and the batch is applied again with
    /// [`Undo::Savepoints`].
    WholeBatch,
    /// A savepoint before each write set, which its failure rolls back to.
    Savepoints,
}

struct Job {
    writes: PlannedWrites,
    answer: oneshot::Sender<Result<(), StoreError>>,
}

/// The handle callers send write sets through; cheap to clone.
#[derive(Clone)]
pub(crate) struct PgWriter {
    sender: mpsc::Sender<Job>,
}

impl PgWriter {
    /// Starts this instance's writer task on `pool`, moving risk counters
    /// on `counters` (`PgStore::count_risk`). It ends when every handle is
    /// dropped, after applying what was queued.
    pub(crate) fn start(pool: Pool, counters: Pool) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_LEN_MAX);
        tokio::spawn(run(pool, counters, receiver));
        Self { sender }
    }

    /// Applies `writes` in the next batch; answers after it committed.
    /// The statements are built here, in the caller's task: a programming
    /// error there panics the caller, never the writer.
    pub(crate) async fn write(&self, writes: WriteSet) -> Result<(), StoreError> {
        let writes = PlannedWrites::of(writes);
        let (answer, answered) = oneshot::channel();
        let gone = || StoreError::Unavailable("the PostgreSQL writer has stopped".to_owned());
        self.sender
            .send(Job { writes, answer })
            .await
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

async fn run(pool: Pool, counters: Pool, mut receiver: mpsc::Receiver<Job>) {
    let savepoint_batches_left = Arc::new(AtomicU32::new(0));
    let in_flight = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT_MAX));
    let mut order = TurnOrder::default();
    loop {
        // Taken from the queue only when its documents may go in, so that
        // a batch holds every write set that waited until then.
        order.documents_free().await;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(WRITE_BATCH_MAX);
        if receiver.recv_many(&mut batch, WRITE_BATCH_MAX).await == 0 {
            break;
        }
        let turns = order.next();
        let (pool, counters) = (pool.clone(), counters.clone());
        let savepoint_batches_left = savepoint_batches_left.clone();
        tokio::spawn(async move {
            let undo = match savepoint_batches_left.load(Ordering::Acquire) {
                0 => Undo::WholeBatch,
                _ => Undo::Savepoints,
            };
            let redone = commit_batch(&pool, &counters, &mut batch, undo, turns).await;
            count_savepoint_batches(&savepoint_batches_left, redone);
            drop(permit);
        });
    }
    // Every handle is gone: let the batches in flight finish.
    let _ = in_flight.acquire_many(BATCHES_IN_FLIGHT_MAX as u32).await;
}

/// After a redo the next [`SAVEPOINT_BATCHES_AFTER_REDO`] batches start
/// with savepoints; each other batch counts one off.
fn count_savepoint_batches(left: &AtomicU32, redone: Redone) {
    match redone {
        Redone::Yes => left.store(SAVEPOINT_BATCHES_AFTER_REDO, Ordering::Release),
        Redone::No => {
            let _ = left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
    }
}

/// Whether a batch tried without savepoints had to be applied again.
#[derive(Debug, PartialEq, Eq)]
enum Redone {
    Yes,
    No,
}

/// Applies and commits `batch` (first as `undo` says), answers each job,
/// and empties `batch`.
async fn commit_batch(
    pool: &Pool,
    counters: &Pool,
    batch: &mut Vec<Job>,
    undo: Undo,
    mut turns: Turns,
) -> Redone {
    let started = std::time::Instant::now();
    metrics::histogram!("portcullis_postgres_write_batch_size").record(batch.len() as f64);
    let mut redone = Redone::No;
    let outcome = match pool.get().await {
        Ok(client) => {
            let mut tx = BatchTransaction::new(client);
            let outcome = apply_batch(&mut tx, counters, batch, undo, &mut turns).await;
            if outcome.is_err() {
                // Best effort: a guard still open closes its connection.
                let _ = tx.rollback().await;
            }
            outcome
        }
        Err(err) => Err(StoreError::Unavailable(err.to_string())),
    };
    turns.committed();
    metrics::histogram!("portcullis_postgres_commit_seconds")
        .record(started.elapsed().as_secs_f64());
    match outcome {
        Ok((results, was_redone)) => {
            redone = was_redone;
            for (job, result) in batch.drain(..).zip(results) {
                let _ = job.answer.send(result);
            }
        }
        Err(err) => {
            tracing::error!(error = %err, batch_len = batch.len(), "postgres group commit failed");
            for job in batch.drain(..) {
                let _ = job.answer.send(Err(err.clone()));
            }
        }
    }
    redone
}

/// Where a job of the batch stands.
enum State {
    /// Its documents are to be applied (again).
    Pending,
    /// Its documents are in, in its savepoint.
    Applied,
    /// Its documents failed; decided again if they are applied again.
    Failed(StoreError),
    /// Its ledger appends were refused: final.
    Refused(StoreError),
}

/// Applies and commits `jobs` in one transaction (see [`apply_and_commit`]),
/// first as `undo` says; a batch tried without savepoints in which a job
/// failed is rolled back whole and applied again with them. Then moves the
/// risk counters of the jobs that committed. Answers each job's own
/// outcome and whether the batch was redone, or the error that failed the
/// whole batch.
async fn apply_batch(
    tx: &mut BatchTransaction,
    counters: &Pool,
    jobs: &mut [Job],
    undo: Undo,
    turns: &mut Turns,
) -> Result<(Vec<Result<(), StoreError>>, Redone), StoreError> {
    let (states, redone) = match apply_and_commit(tx, jobs, undo, turns).await? {
        Some(states) => (states, Redone::No),
        None => {
            metrics::counter!("portcullis_postgres_write_batches_redone_total").increment(1);
            tx.rollback().await?;
            let states = apply_and_commit(tx, jobs, Undo::Savepoints, turns)
                .await?
                .expect("a batch with savepoints settles every job");
            (states, Redone::Yes)
        }
    };
    turns.committed();
    let mut risk: Vec<RiskWrite> = vec![];
    let results = jobs
        .iter_mut()
        .zip(states)
        .map(|(job, state)| match state {
            State::Applied => {
                risk.append(&mut job.writes.risk);
                Ok(())
            }
            State::Failed(err) | State::Refused(err) => Err(err),
            State::Pending => unreachable!("every job's documents were applied or failed"),
        })
        .collect();
    PgStore::count_risk(counters, risk).await;
    Ok((results, redone))
}

/// One transaction for every job of `jobs`; with [`Undo::Savepoints`]
/// each in a savepoint of its own. Answers each job's state once
/// committed, or `None` when, tried without savepoints, a job failed
/// (the transaction is then to be rolled back whole), or the error that
/// failed the whole batch. The documents of every job go in first; only
/// then is the chain head locked, the appends of the jobs whose documents
/// went in linked after it in memory, and written with the batch's COMMIT
/// in one pipeline, so the head is held for two round trips and the
/// COMMIT's flush. The transaction's `BEGIN` rides in the first round's
/// pipeline (`BatchTransaction`). With savepoints, a job whose appends are
/// refused (a floor, a key used for another movement) is undone with its
/// documents: back to its savepoint, which undoes the jobs after it and
/// lets go of the head, and those jobs' documents are applied again before
/// the head is taken again.
///
/// Lock order: once a batch holds the head it takes no row lock but the
/// ledger's (its rows, its balances), which only a holder of the head
/// takes, so two instances' writers cannot deadlock on the head and a
/// document row.
///
/// A batch waits for the one before it to commit before it takes the head
/// (or, if it does not append, before its COMMIT), and once its documents
/// are final lets the next one apply its own (`turns`). The next batch
/// waits for no lock this one takes after that point but the head, which
/// this one's COMMIT frees.
async fn apply_and_commit(
    tx: &mut BatchTransaction,
    jobs: &[Job],
    undo: Undo,
    turns: &mut Turns,
) -> Result<Option<Vec<State>>, StoreError> {
    let mut states: Vec<State> = jobs.iter().map(|_| State::Pending).collect();
    let head_taken = loop {
        if rounds::apply_pending(tx, jobs, &mut states, undo).await? == rounds::Rounds::Redo {
            return Ok(None);
        }
        let appending: Vec<usize> = (0..jobs.len())
            .filter(|&index| {
                matches!(states[index], State::Applied) && jobs[index].writes.appends()
            })
            .collect();
        if appending.is_empty() {
            break None;
        }
        let sets: Vec<&[LedgerTransaction]> = appending
            .iter()
            .map(|&index| jobs[index].writes.ledger.as_slice())
            .collect();
        // Not while holding the head: another instance's appends wait for it.
        turns.previous_committed().await;
        let linked = ledger::lock_and_link(tx.client(), &sets).await?;
        let mut refused = appending
            .iter()
            .zip(linked.outcomes)
            .filter_map(|(&index, outcome)| outcome.err().map(|err| (index, err)));
        let Some((first, err)) = refused.next() else {
            break Some((linked.taken, linked.batch));
        };
        if undo == Undo::WholeBatch {
            return Ok(None);
        }
        rollback_to(tx.client(), first).await?;
        for state in &mut states[first..] {
            if !matches!(state, State::Refused(_)) {
                *state = State::Pending;
            }
        }
        states[first] = State::Refused(err);
        for (index, err) in refused {
            states[index] = State::Refused(err);
        }
    };
    // The documents are final; the next batch may apply its own while this
    // one commits, but commit only after this one has (a batch that
    // appends waited above, before it took the head).
    turns.documents_final();
    turns.previous_committed().await;
    match head_taken {
        Some((taken, batch)) => {
            ledger::store_and_commit(tx.client(), &batch).await?;
            tx.committed();
            record_head_held(taken);
        }
        None => tx.commit().await?,
    }
    Ok(Some(states))
}

/// The savepoint before job `index`'s documents.
fn savepoint(index: usize) -> String {
    format!("job_{index}")
}

/// Undoes job `index` and every job applied after it.
async fn rollback_to(tx: &deadpool_postgres::Client, index: usize) -> Result<(), StoreError> {
    tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT {}", savepoint(index)))
        .await
        .map_err(map_err)
}

/// How long a batch held the chain head, from the lock's answer to the
/// COMMIT's (`portcullis_postgres_chain_head_held_seconds`): every other
/// instance's appends wait this long.
fn record_head_held(taken: std::time::Instant) {
    metrics::histogram!("portcullis_postgres_chain_head_held_seconds")
        .record(taken.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::{apply_batch, BatchTransaction, Job, Redone, Turns, Undo};
    use crate::model::{Scope, SqlValue, Table, WriteOp, WriteSet};
    use crate::postgres::{pipeline, PlannedWrites};
    use crate::sql::Sql;
    use crate::StoreError;
    use portcullis_domain::merchants::Merchant;
    use tokio::sync::oneshot;

    fn customer(scope: &Scope, id: &str) -> WriteOp {
        WriteOp::Insert {
            table: Table::Customers,
            scope: scope.clone(),
            id: id.to_owned(),
            created: 1,
            columns: vec![
                ("email", SqlValue::Text("c@example.com".to_owned())),
                ("name", SqlValue::Text("C".to_owned())),
                ("deleted", SqlValue::Bool(false)),
            ],
            body: "{}".to_owned(),
        }
    }

    fn job(ops: Vec<WriteOp>) -> Job {
        Job {
            writes: PlannedWrites::of(WriteSet { ops }),
            answer: oneshot::channel().0,
        }
    }

    async fn customers(db: &crate::postgres::TestDatabase, id: &str) -> i64 {
        let count = "SELECT count(*) FROM customers WHERE id = $1";
        db.client().query_one(count, &[&id]).await.unwrap().get(0)
    }

    async fn scope_of_a_merchant(db: &crate::postgres::TestDatabase) -> Scope {
        let merchant = Merchant::new("Acme", 1).unwrap();
        db._store.insert_merchant(&merchant).await.unwrap();
        Scope {
            merchant_id: merchant.id,
            livemode: false,
        }
    }

    /// Applies `jobs` as one batch on a connection of `db`'s pool, with no
    /// batch before or after it; answers the guard and the outcome.
    async fn apply_as_one_batch(
        db: &crate::postgres::TestDatabase,
        jobs: &mut [Job],
        undo: Undo,
    ) -> (BatchTransaction, (Vec<Result<(), StoreError>>, Redone)) {
        let mut tx = BatchTransaction::new(db._store.pool.get().await.unwrap());
        let turns = &mut Turns::default();
        let results = apply_batch(&mut tx, &db._store.pool, jobs, undo, turns)
            .await
            .unwrap();
        (tx, results)
    }

    /// The first statement after the pipelined `BEGIN` fails: its write set
    /// fails alone, the next one commits, and the connection goes back to
    /// the pool outside any transaction; tried without savepoints, the
    /// batch is redone with them to the same outcome.
    #[tokio::test]
    async fn a_batch_whose_first_statement_fails_fails_that_write_set_alone() {
        for (undo, redone) in [
            (Undo::WholeBatch, Redone::Yes),
            (Undo::Savepoints, Redone::No),
        ] {
            let Some((db, scope)) = a_database_with_a_customer("cus_taken").await else {
                return;
            };
            let mut jobs = vec![
                job(vec![
                    customer(&scope, "cus_taken"),
                    customer(&scope, "cus_a"),
                ]),
                job(vec![customer(&scope, "cus_b")]),
            ];
            let (tx, results) = apply_as_one_batch(&db, &mut jobs, undo).await;
            assert_eq!(results, (vec![Err(StoreError::Duplicate), Ok(())], redone));
            assert_eq!(customers(&db, "cus_a").await, 0);
            assert_eq!(customers(&db, "cus_b").await, 1);
            let savepoint = tx.client().batch_execute("SAVEPOINT outside").await;
            assert!(savepoint.is_err(), "a transaction was left open");
        }
    }

    /// A batch in which nothing fails is tried, and committed, without a
    /// savepoint: every row it wrote carries the one transaction id (a
    /// savepoint per write set gives each write set's rows one of its own).
    #[tokio::test]
    async fn a_batch_in_which_nothing_fails_commits_without_savepoints() {
        let Some(db) = crate::postgres::test_database().await else {
            return;
        };
        let scope = scope_of_a_merchant(&db).await;
        let mut jobs = vec![
            job(vec![event(&scope, "evt_a"), customer(&scope, "cus_a")]),
            job(vec![customer(&scope, "cus_b")]),
        ];
        let (_, results) = apply_as_one_batch(&db, &mut jobs, Undo::WholeBatch).await;
        assert_eq!(results, (vec![Ok(()), Ok(())], Redone::No));
        assert_eq!(
            customers(&db, "cus_a").await + customers(&db, "cus_b").await,
            2
        );
        assert_eq!(events(&db, "evt_a").await, 1);
        let xids =
            "SELECT count(DISTINCT xmin::text) FROM customers WHERE id IN ('cus_a', 'cus_b')";
        let xids: i64 = db.client().query_one(xids, &[]).await.unwrap().get(0);
        assert_eq!(xids, 1, "the write sets were applied in savepoints");
    }

    /// A test database whose merchant has customer `id` stored, and its scope.
    async fn a_database_with_a_customer(
        id: &str,
    ) -> Option<(crate::postgres::TestDatabase, Scope)> {
        let db = crate::postgres::test_database().await?;
        let scope = scope_of_a_merchant(&db).await;
        let stored = WriteSet {
            ops: vec![customer(&scope, id)],
        };
        db._store.commit(stored).await.unwrap();
        Some((db, scope))
    }

    fn event(scope: &Scope, id: &str) -> WriteOp {
        WriteOp::Insert {
            table: Table::Events,
            scope: scope.clone(),
            id: id.to_owned(),
            created: 1,
            columns: vec![("event_type", SqlValue::Text("customer.updated".to_owned()))],
            body: "{}".to_owned(),
        }
    }

    fn stale_update(scope: &Scope, id: &str) -> WriteOp {
        WriteOp::Update {
            table: Table::Customers,
            scope: scope.clone(),
            id: id.to_owned(),
            expected_version: 7,
            columns: vec![],
            body: "{}".to_owned(),
        }
    }

    async fn events(db: &crate::postgres::TestDatabase, id: &str) -> i64 {
        let count = "SELECT count(*) FROM events WHERE id = $1";
        db.client().query_one(count, &[&id]).await.unwrap().get(0)
    }

    /// Write sets of an event and a customer write are each one statement
    /// of several writes (`sql::with_writes`); the middle one's update is
    /// refused by the count its statement returns: it fails alone, leaving
    /// no event, and the write sets before and after it in the batch (the
    /// one after ran in the same round and is applied again) commit. Tried
    /// without savepoints, the refused count redoes the batch with them.
    #[tokio::test]
    async fn a_refused_check_inside_a_statement_of_several_writes_fails_that_write_set_alone() {
        for (undo, redone) in [
            (Undo::WholeBatch, Redone::Yes),
            (Undo::Savepoints, Redone::No),
        ] {
            let Some((db, scope)) = a_database_with_a_customer("cus_old").await else {
                return;
            };
            let mut jobs = vec![
                job(vec![event(&scope, "evt_a"), customer(&scope, "cus_a")]),
                job(vec![
                    event(&scope, "evt_b"),
                    stale_update(&scope, "cus_old"),
                ]),
                job(vec![event(&scope, "evt_c"), customer(&scope, "cus_c")]),
            ];
            let one_statement = |job: &Job| job.writes.statements.len();
            assert_eq!(
                jobs.iter().map(one_statement).collect::<Vec<_>>(),
                [1, 1, 1]
            );
            let (_, results) = apply_as_one_batch(&db, &mut jobs, undo).await;
            let expected = vec![Ok(()), Err(StoreError::Conflict), Ok(())];
            assert_eq!(results, (expected, redone));
            assert_eq!(events(&db, "evt_b").await, 0);
            assert_eq!(
                (events(&db, "evt_a").await, events(&db, "evt_c").await),
                (1, 1)
            );
            assert_eq!(
                customers(&db, "cus_a").await + customers(&db, "cus_c").await,
                2
            );
        }
    }

    /// Many write sets at once, so that a batch applies its documents while
    /// the one before it commits: a reader polling the events never sees a
    /// `seq` appear below one it has already seen (what a client polling
    /// with `ending_before` relies on), and every write set is committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rows_become_visible_in_seq_order_with_two_batches_in_flight() {
        const WRITE_SETS: usize = 1_000;
        let Some(db) = crate::postgres::test_database().await else {
            return;
        };
        let scope = scope_of_a_merchant(&db).await;
        let store = std::sync::Arc::new(db._store.clone());
        let writers: Vec<_> = (0..WRITE_SETS)
            .map(|n| {
                let (store, scope) = (store.clone(), scope.clone());
                tokio::spawn(async move {
                    let ops = vec![event(&scope, &format!("evt_{n:04}"))];
                    store.commit(WriteSet { ops }).await
                })
            })
            .collect();
        let (mut seen_max, mut seen, mut polls) = (0_i64, 0_i64, 0);
        let poll = "SELECT count(*) FILTER (WHERE seq <= $1), count(*), COALESCE(max(seq), 0) \
                    FROM events";
        while seen < WRITE_SETS as i64 {
            let row = db.client().query_one(poll, &[&seen_max]).await.unwrap();
            let at_or_below_seen: i64 = row.get(0);
            assert_eq!(
                at_or_below_seen, seen,
                "after {polls} polls a row appeared below seq {seen_max}, already seen"
            );
            (seen, seen_max) = (row.get(1), row.get(2));
            polls += 1;
        }
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        assert!(polls > 2, "the reader saw the writes in {polls} polls only");
    }

    /// Batch A's COMMIT is held up (a deferred trigger sleeps in it) after
    /// its documents are final; write set B, sent meanwhile, goes in the
    /// next batch and applies its documents at once, but its caller is
    /// answered only after A has committed: commits keep batch order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_commits_only_after_the_batch_before_it_has() {
        let Some(db) = crate::postgres::test_database().await else {
            return;
        };
        let scope = scope_of_a_merchant(&db).await;
        let slow_commit = "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(0.8); RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER customers_slow_commit AFTER INSERT ON customers \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.id = 'cus_slow') \
             EXECUTE FUNCTION slow_commit()";
        db.client().batch_execute(slow_commit).await.unwrap();
        let store = db._store.clone();
        let first = {
            let (store, scope) = (store.clone(), scope.clone());
            tokio::spawn(async move {
                let ops = vec![customer(&scope, "cus_slow")];
                store.commit(WriteSet { ops }).await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let sent = std::time::Instant::now();
        let ops = vec![event(&scope, "evt_after")];
        store.commit(WriteSet { ops }).await.unwrap();
        assert_eq!(
            customers(&db, "cus_slow").await,
            1,
            "the second batch committed first, after {:?}",
            sent.elapsed()
        );
        first.await.unwrap().unwrap();
    }

    /// A guard dropped while its transaction is open (a panic, a
    /// cancellation) closes its connection instead of returning it to
    /// the pool inside the transaction, whose writes are lost.
    #[tokio::test]
    async fn a_transaction_dropped_open_closes_its_connection() {
        let Some(db) = crate::postgres::test_database().await else {
            return;
        };
        let scope = scope_of_a_merchant(&db).await;
        let pool = db._store.pool.clone();
        let mut tx = BatchTransaction::new(pool.get().await.unwrap());
        let begin = tx.begin_statement().expect("not open yet");
        assert!(tx.begin_statement().is_none(), "one BEGIN per transaction");
        let insert = crate::sql::docs::insert_doc(
            crate::postgres::D,
            Table::Customers,
            &scope,
            "cus_lost",
            1,
            &[
                ("email", SqlValue::Text("l@example.com".to_owned())),
                ("name", SqlValue::Text("L".to_owned())),
                ("deleted", SqlValue::Bool(false)),
            ],
            "{}",
        );
        pipeline::run_each(tx.client(), &[&begin, &insert])
            .await
            .unwrap();
        let open = pool.status().size;
        drop(tx);
        assert_eq!(pool.status().size, open - 1, "the connection was kept");
        assert_eq!(customers(&db, "cus_lost").await, 0);

        // A rolled-back guard gives its connection back, outside any transaction.
        let mut tx = BatchTransaction::new(pool.get().await.unwrap());
        let begin: Sql = tx.begin_statement().expect("not open yet");
        pipeline::run_each(tx.client(), &[&begin, &insert])
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        let savepoint = tx.client().batch_execute("SAVEPOINT outside").await;
        assert!(savepoint.is_err(), "a transaction was left open");
        drop(tx);
        assert_eq!(
            pool.status().size,
            open,
            "the connection was not given back"
        );
        assert_eq!(customers(&db, "cus_lost").await, 0);
    }
}
