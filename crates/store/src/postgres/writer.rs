//! Group commit on PostgreSQL: one writer task per instance takes every
//! write set waiting (up to `WRITE_BATCH_MAX`) and applies them in one
//! transaction, each in its own savepoint, so a write set that fails
//! (a version conflict, a duplicate, a balance floor) is rolled back alone
//! while the others commit. A batch that appends to the ledger locks the
//! chain head *first*, once, and holds it to COMMIT: one chain-head lock
//! and one WAL flush per batch instead of per payment.
//!
//! Lock order: a batch takes the chain head before any row; a batch
//! without ledger appends never takes it. So two instances' writers
//! cannot deadlock on the head and a row: whoever holds the head took it
//! before its rows, and whoever waits for the head holds no row that
//! a head holder waits for unless it too took the head first.
//!
//! Durability is unchanged: a caller is answered after the COMMIT of the
//! batch holding its write set has returned (and, as before, after the
//! risk counters of the batch have moved in their own transaction).

use super::convert::map_err;
use super::{apply_write_set, query, PgStore, PlannedWrites, D};
use crate::model::WriteSet;
use crate::sql::ledger as ledger_sql;
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

async fn run(pool: Pool, mut receiver: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(WRITE_BATCH_MAX);
    while receiver.recv_many(&mut batch, WRITE_BATCH_MAX).await > 0 {
        commit_batch(&pool, &mut batch).await;
    }
}

/// Applies and commits `batch`, answers each job, and empties `batch`.
async fn commit_batch(pool: &Pool, batch: &mut Vec<Job>) {
    let started = std::time::Instant::now();
    metrics::histogram!("portcullis_postgres_write_batch_size").record(batch.len() as f64);
    let outcome = match pool.get().await {
        Ok(mut client) => apply_batch(&mut client, batch).await,
        Err(err) => Err(StoreError::Unavailable(err.to_string())),
    };
    metrics::histogram!("portcullis_postgres_commit_seconds")
        .record(started.elapsed().as_secs_f64());
    match outcome {
        Ok(results) => {
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
}

/// One transaction for every job of `jobs`, each in a savepoint; answers
/// each job's own outcome, or the error that failed the whole batch.
async fn apply_batch(
    client: &mut deadpool_postgres::Client,
    jobs: &mut [Job],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let tx = client.transaction().await.map_err(map_err)?;
    let mut head_taken = None;
    if jobs.iter().any(|job| job.writes.appends()) {
        query(&tx, &ledger_sql::head(D)).await?;
        head_taken = Some(std::time::Instant::now());
    }
    let mut results = Vec::with_capacity(jobs.len());
    let mut counters: Vec<Sql> = vec![];
    // What runs before the next job so that it starts in a fresh savepoint.
    let mut before_next = Some("SAVEPOINT job");
    for job in jobs.iter_mut() {
        if let Some(statement) = before_next {
            tx.batch_execute(statement).await.map_err(map_err)?;
        }
        let applied = AssertUnwindSafe(apply_write_set(&tx, &job.writes))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!("a write set panicked in the postgres writer; rolled back alone");
                Err(StoreError::Unavailable("the write failed".to_owned()))
            });
        match applied {
            Ok(()) => {
                counters.append(&mut job.writes.counters);
                results.push(Ok(()));
                before_next = Some("RELEASE SAVEPOINT job; SAVEPOINT job");
            }
            Err(err) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT job")
                    .await
                    .map_err(map_err)?;
                results.push(Err(err));
                // The savepoint still stands, empty: the next job reuses it.
                before_next = None;
            }
        }
    }
    tx.commit().await.map_err(map_err)?;
    if let Some(taken) = head_taken {
        record_head_held(taken);
    }
    PgStore::count_risk(client, counters).await;
    Ok(results)
}

/// How long a batch held the chain head, from the lock's answer to the
/// COMMIT's (`portcullis_postgres_chain_head_held_seconds`): every other
/// instance's appends wait this long.
fn record_head_held(taken: std::time::Instant) {
    metrics::histogram!("portcullis_postgres_chain_head_held_seconds")
        .record(taken.elapsed().as_secs_f64());
}
