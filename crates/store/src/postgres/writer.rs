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
            // With savepoints every job settles alone; `None` would be a
            // bug here, answered as the batch's failure, not a panic.
            let states = apply_and_commit(tx, jobs, Undo::Savepoints, turns)
                .await?
                .ok_or_else(|| {
                    StoreError::Unavailable(
                        "a batch with savepoints left a job unsettled".to_owned(),
                    )
                })?;
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
mod tests;
