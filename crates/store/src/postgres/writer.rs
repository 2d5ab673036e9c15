//! Group commit on PostgreSQL: one writer task per instance takes every
//! write set waiting (up to `WRITE_BATCH_MAX`) and applies them in one
//! transaction, in a fixed number of round trips whatever the batch size:
//! BEGIN, every write set's document statements pipelined, then (if any
//! write set appends to the ledger) the chain-head lock with every
//! idempotency-key lookup, every ledger row pipelined, and COMMIT. One
//! chain-head lock and one WAL flush per batch, and the lock is taken
//! *last*: it is held for two round trips and the commit, not while the
//! documents are written, so the writers of several instances overlap
//! their document work and queue only for that short tail.
//!
//! A write set that fails (a version conflict, a duplicate, a balance
//! floor) fails alone: the transaction is rolled back and the batch is
//! applied again without it (no savepoints: the common case, nothing
//! fails, pays no subtransaction). Each try drops at least one write set,
//! so a batch of n takes at most n + 1 tries.
//!
//! Lock order: the chain head is taken after a batch's document rows, and
//! a head holder then touches only ledger rows (transactions, postings,
//! balances), which only head holders touch. So no holder of the head ever
//! waits for a row that a waiter for the head holds: two instances'
//! writers cannot deadlock on the head.
//!
//! Durability is unchanged: a caller is answered after the COMMIT of the
//! batch holding its write set has returned (and, as before, after the
//! risk counters of the batch have moved in their own transaction).

use super::convert::map_err;
use super::{ledger, pipeline, Check, PgStore, PlannedWrites};
use crate::model::WriteSet;
use crate::sql::Sql;
use crate::StoreError;
use deadpool_postgres::Pool;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use tokio::sync::{mpsc, oneshot};

/// Most write sets one transaction applies.
const WRITE_BATCH_MAX: usize = 64;
/// Write sets that may wait for the writer before callers wait to queue.
const QUEUE_LEN_MAX: usize = 4_096;

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
    /// Starts this instance's writer task on `pool`. It ends when every
    /// handle is dropped, after applying what was queued.
    pub(crate) fn start(pool: Pool) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_LEN_MAX);
        tokio::spawn(run(pool, receiver));
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

/// A committed batch on its way to its callers: its risk counters move
/// first (`count_and_answer`), then each caller gets its outcome.
struct Committed {
    counters: Vec<Sql>,
    answers: Vec<(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    )>,
}

/// The writer keeps one connection between batches (from its own pool,
/// `pool`; given back after a failure): it never queues behind the
/// requests' reads. The risk counters of a committed batch
/// move on another task and connection, so the writer starts the next
/// batch meanwhile.
async fn run(pool: Pool, mut receiver: mpsc::Receiver<Job>) {
    let (committed, to_count) = mpsc::channel(QUEUE_LEN_MAX);
    tokio::spawn(count_and_answer(pool.clone(), to_count));
    let mut client = None;
    let mut batch = Vec::with_capacity(WRITE_BATCH_MAX);
    while receiver.recv_many(&mut batch, WRITE_BATCH_MAX).await > 0 {
        commit_batch(&pool, &mut client, &mut batch, &committed).await;
    }
}

/// Applies and commits `batch`, hands its outcomes on (or answers the
/// batch's error), and empties `batch`.
async fn commit_batch(
    pool: &Pool,
    client: &mut Option<deadpool_postgres::Client>,
    batch: &mut Vec<Job>,
    committed: &mpsc::Sender<Committed>,
) {
    let started = std::time::Instant::now();
    metrics::histogram!("portcullis_postgres_write_batch_size").record(batch.len() as f64);
    if client.is_none() {
        *client = pool.get().await.ok();
    }
    let outcome = match client.as_mut() {
        Some(client) => apply_batch(client, batch).await,
        None => Err(StoreError::Unavailable(
            "no PostgreSQL connection for the writer".to_owned(),
        )),
    };
    metrics::histogram!("portcullis_postgres_commit_seconds")
        .record(started.elapsed().as_secs_f64());
    match outcome {
        Ok((results, counters)) => {
            let answers = batch.drain(..).map(|job| job.answer).zip(results).collect();
            let batch = Committed { counters, answers };
            if let Err(mpsc::error::SendError(batch)) = committed.send(batch).await {
                answer(batch);
            }
        }
        Err(err) => {
            tracing::error!(error = %err, batch_len = batch.len(), "postgres group commit failed");
            // The connection may be what failed: the next batch takes another.
            *client = None;
            for job in batch.drain(..) {
                let _ = job.answer.send(Err(err.clone()));
            }
        }
    }
}

/// Moves the risk counters of every committed batch waiting (in one
/// transaction, `PgStore::count_risk`), then answers their callers.
async fn count_and_answer(pool: Pool, mut to_count: mpsc::Receiver<Committed>) {
    let mut client: Option<deadpool_postgres::Client> = None;
    let mut waiting = Vec::with_capacity(WRITE_BATCH_MAX);
    while to_count.recv_many(&mut waiting, WRITE_BATCH_MAX).await > 0 {
        let counters: Vec<Sql> = waiting
            .iter_mut()
            .flat_map(|batch: &mut Committed| batch.counters.drain(..))
            .collect();
        if !counters.is_empty() {
            if client.is_none() {
                client = pool.get().await.ok();
            }
            let counted = match client.as_mut() {
                Some(client) => PgStore::count_risk(client, counters).await,
                None => false,
            };
            if !counted {
                client = None;
            }
        }
        waiting.drain(..).for_each(answer);
    }
}

fn answer(batch: Committed) {
    for (sender, result) in batch.answers {
        let _ = sender.send(result);
    }
}

/// Commits every job of `jobs` that does not fail on its own; answers each
/// job's outcome, or the error that failed the whole batch.
async fn apply_batch(
    client: &mut deadpool_postgres::Client,
    jobs: &mut [Job],
) -> Result<(Vec<Result<(), StoreError>>, Vec<Sql>), StoreError> {
    let mut counters: Vec<Sql> = vec![];
    let mut results: Vec<Option<Result<(), StoreError>>> = jobs.iter().map(|_| None).collect();
    loop {
        let live: Vec<usize> = (0..jobs.len()).filter(|i| results[*i].is_none()).collect();
        if live.is_empty() {
            break;
        }
        let failed = AssertUnwindSafe(try_batch(client, jobs, &live))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!("the postgres writer panicked applying a batch");
                Err(StoreError::Unavailable("the write failed".to_owned()))
            })?;
        match failed {
            None => {
                for index in live {
                    counters.append(&mut jobs[index].writes.counters);
                    results[index] = Some(Ok(()));
                }
            }
            Some((index, Failure::Error(err))) => results[index] = Some(Err(err)),
            Some((index, Failure::Check(check))) => {
                results[index] = Some(check.holds(&*client, 0).await);
            }
        }
    }
    let results = results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect();
    Ok((results, counters))
}

/// Why one write set of a try failed.
enum Failure {
    Error(StoreError),
    /// An update changed no row: which error that is (conflict, not found)
    /// is read after the try's rollback.
    Check(Check),
}

/// One try: the `live` jobs in one transaction. Answers `None` once
/// committed, or the first failing job (the transaction is then rolled
/// back when dropped).
async fn try_batch(
    client: &mut deadpool_postgres::Client,
    jobs: &[Job],
    live: &[usize],
) -> Result<Option<(usize, Failure)>, StoreError> {
    let tx = client.transaction().await.map_err(map_err)?;
    if let Some(failed) = apply_documents(&tx, jobs, live).await? {
        return Ok(Some(failed));
    }
    let appends: Vec<ledger::Append<'_>> = live
        .iter()
        .flat_map(|i| jobs[*i].writes.ledger.iter().map(move |t| (*i, t)))
        .collect();
    let locked = std::time::Instant::now();
    if let Some((index, err)) = ledger::append_batch(&tx, &appends).await? {
        return Ok(Some((index, Failure::Error(err))));
    }
    tx.commit().await.map_err(map_err)?;
    if !appends.is_empty() {
        metrics::histogram!("portcullis_postgres_chain_head_held_seconds")
            .record(locked.elapsed().as_secs_f64());
    }
    Ok(None)
}

/// Every live job's document statements in one round trip; the first
/// failure in statement order: a statement's error, or an update whose
/// expected version changed no row.
async fn apply_documents(
    tx: &deadpool_postgres::Transaction<'_>,
    jobs: &[Job],
    live: &[usize],
) -> Result<Option<(usize, Failure)>, StoreError> {
    let mut owners = vec![];
    let mut statements = vec![];
    let mut checks = vec![];
    for index in live {
        let writes = &jobs[*index].writes;
        owners.extend(std::iter::repeat(*index).take(writes.statements.len()));
        statements.extend(writes.statements.iter());
        checks.extend(writes.checks.iter());
    }
    let answers = match pipeline::run_blamed(tx, &statements, |i| Some(owners[i])).await? {
        Ok(answers) => answers,
        Err((index, err)) => return Ok(Some((index, Failure::Error(err)))),
    };
    for ((owner, check), answer) in owners.iter().zip(checks).zip(answers) {
        if answer.affected == 0 && !check.always_holds() {
            return Ok(Some((*owner, Failure::Check(check.clone()))));
        }
    }
    Ok(None)
}
