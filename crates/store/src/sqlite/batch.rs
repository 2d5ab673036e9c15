//! One group commit's write sets applied in one transaction, with no
//! savepoint unless one has failed.
//!
//! Inside a savepoint SQLite copies every page a write set changes into
//! its sub-journal before the first change (about 56 pages, 70 K
//! instructions, per write set of a payment). So the writer applies a
//! batch's jobs bare ([`Isolation::None`]). When job k fails (an error or
//! a panic), the transaction holds its half-done writes: the writer rolls
//! it all back, answers k its own error, begins again and re-runs jobs
//! 0..k-1 (they succeeded on the same state, so they succeed again; one
//! that does not fails alone). From then on, to bound the worst case (many
//! failures in one batch, such as version conflicts on one intent), every
//! job of the batch, the re-runs included, runs in a savepoint of its own
//! as before ([`Isolation::Savepoint`]): at most one rollback and one
//! re-run per batch.
//!
//! A job can therefore run more than once; only its last run's outcome is
//! answered, and only after COMMIT.

use super::writer::control;
use crate::StoreError;
use rusqlite::Connection;
use tokio::sync::oneshot;

/// How a job's writes are kept apart from the rest of its transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Isolation {
    /// Not at all: on failure the writer rolls the whole transaction back
    /// and re-runs the jobs that had succeeded.
    None,
    /// In a savepoint of its own, rolled back to on failure.
    Savepoint,
}

/// What one run of a job left for its caller.
type Outcome<R> = std::thread::Result<Result<R, StoreError>>;

/// A write queued for the writer's next batch.
pub(super) trait BatchedJob: Send {
    /// Runs the job's writes in the open transaction, keeping the outcome
    /// (the last run's replaces any earlier one); answers whether it
    /// succeeded.
    fn run(&mut self, conn: &Connection, isolation: Isolation) -> bool;
    /// Answers the caller with the last run's outcome, the commit's
    /// outcome added if it succeeded. Dropping a job unanswered tells its
    /// caller the write failed.
    fn complete(self: Box<Self>, committed: Result<(), StoreError>);
}

/// A caller's write: `f` may run more than once (see the module docs), so
/// it only reads what it captured.
pub(super) struct Job<R, F> {
    f: F,
    outcome: Option<Outcome<R>>,
    answer: oneshot::Sender<Outcome<R>>,
}

impl<R, F> Job<R, F> {
    pub(super) fn new(f: F, answer: oneshot::Sender<Outcome<R>>) -> Self {
        Self {
            f,
            outcome: None,
            answer,
        }
    }
}

impl<R, F> BatchedJob for Job<R, F>
where
    R: Send,
    F: Fn(&Connection) -> Result<R, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection, isolation: Isolation) -> bool {
        let outcome = match isolation {
            Isolation::Savepoint => in_savepoint(conn, &self.f),
            // Unwind safety: the writer rolls back whatever `f` left half done.
            Isolation::None => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.f)(conn)))
            }
        };
        let succeeded = matches!(outcome, Ok(Ok(_)));
        self.outcome = Some(outcome);
        succeeded
    }

    fn complete(self: Box<Self>, committed: Result<(), StoreError>) {
        if let Some(outcome) = self.outcome {
            let _ = self
                .answer
                .send(outcome.map(|result| committed.and(result)));
        }
    }
}

/// Runs the batch's jobs in the open transaction (see the module docs);
/// answers them all, to be completed once COMMIT has returned: a failed
/// job's caller, too, is answered only then, so that a retry reads the
/// state its batch left. If a transaction cannot begin again after a
/// rollback, the failed jobs are answered now, the rest dropped unanswered
/// (their callers are told the write failed), and `None` says no
/// transaction is open.
pub(super) fn apply_batch(
    conn: &Connection,
    batch: &mut Vec<Box<dyn BatchedJob>>,
) -> Option<Vec<Box<dyn BatchedJob>>> {
    let mut applied: Vec<Box<dyn BatchedJob>> = Vec::with_capacity(batch.len());
    let mut failed: Vec<Box<dyn BatchedJob>> = vec![];
    let mut pending = std::mem::take(batch).into_iter();
    let mut isolation = Isolation::None;
    while let Some(mut job) = pending.next() {
        if job.run(conn, isolation) {
            applied.push(job);
            continue;
        }
        failed.push(job);
        if isolation == Isolation::Savepoint {
            continue;
        }
        let _ = control(conn, "ROLLBACK");
        if let Err(err) = control(conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %super::map_err(err), batch_len = applied.len() + pending.len(), "sqlite writer could not begin a transaction");
            failed.into_iter().for_each(|job| job.complete(Ok(())));
            return None;
        }
        metrics::counter!("portcullis_sqlite_write_set_reruns_total")
            .increment(applied.len() as u64);
        isolation = Isolation::Savepoint;
        let rest = std::mem::take(&mut applied).into_iter().chain(pending);
        pending = rest.collect::<Vec<_>>().into_iter();
    }
    applied.append(&mut failed);
    Some(applied)
}

/// Runs `f` in a savepoint that is rolled back unless `f` succeeds.
///
/// A panic in `f` (a programming error, such as a write naming a column the
/// table lacks) is caught and handed back as `Err`, to be re-raised on the
/// caller's task. Left to unwind, it would kill the writer thread: the batch
/// would be lost and every later write refused with "the writer stopped",
/// while reads and `ping` still succeeded. On PostgreSQL the same panic
/// fails only the request that caused it; now SQLite behaves alike.
fn in_savepoint<R>(
    conn: &Connection,
    f: impl Fn(&Connection) -> Result<R, StoreError>,
) -> Outcome<R> {
    if let Err(err) = control(conn, "SAVEPOINT job") {
        return Ok(Err(super::map_err(err)));
    }
    // Unwind safety: whatever `f` left half done is undone by the rollback below.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)));
    let end = if matches!(outcome, Ok(Ok(_))) {
        control(conn, "RELEASE job")
    } else {
        control(conn, "ROLLBACK TO job").and_then(|()| control(conn, "RELEASE job"))
    };
    match (end, outcome) {
        (_, Err(panic)) => Err(panic),
        (Err(err), Ok(_)) => Ok(Err(super::map_err(err))),
        (Ok(()), Ok(result)) => Ok(result),
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
