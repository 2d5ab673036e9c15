//! A batch's documents, many write sets to a round trip: the pending
//! jobs' documents go in one pipeline (each job's `SAVEPOINT` first), as
//! many as fit in [`ROUND_STATEMENTS_MAX`] statements. One round trip for
//! a batch's documents where there was one per job.
//!
//! The outcome is that of applying the jobs one by one: the first job of
//! the round that fails (a statement's error, or a row count its check
//! refuses) is rolled back to its savepoint, which also undoes the jobs
//! sent after it; those are still pending and go in the next round. After
//! a statement's error the server ignores the rest of the pipeline, so no
//! work is done twice then; after a refused row count the jobs after it
//! ran and are undone. Each round settles at least one job, so a batch
//! has at most as many rounds as jobs. The batch's `BEGIN` goes first in
//! the first round's pipeline (`BatchTransaction::begin_statement`).
//!
//! That is [`Undo::Savepoints`]. A batch is first tried without them
//! ([`Undo::WholeBatch`], one statement less per job): the first failure
//! of any kind answers [`Rounds::Redo`], the writer rolls the whole
//! transaction back and applies the batch again with savepoints, so every
//! job's outcome is decided as above.

use super::{rollback_to, savepoint, BatchTransaction, Job, State, Undo};
use crate::postgres::pipeline::{self, Answer};
use crate::sql::Sql;
use crate::StoreError;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;

/// Statements one round's pipeline holds, savepoints included (about 20
/// create-and-confirm write sets): `join_in_order` polls every unfinished
/// statement at each wake-up, so a round's cost grows with the square of
/// its length. A job with more statements goes in a round of its own.
const ROUND_STATEMENTS_MAX: usize = 256;

/// The first job of a round that failed, and why.
type Failure = Option<(usize, StoreError)>;

/// What applying the pending jobs' documents came to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Rounds {
    /// Every pending job is applied or failed.
    Settled,
    /// [`Undo::WholeBatch`] only: a job failed (or panicked) with no
    /// savepoint to undo it alone; the transaction is to be rolled back
    /// whole and the batch applied again with [`Undo::Savepoints`].
    Redo,
}

/// Applies the documents of every pending job, in index order, in rounds;
/// with savepoints, a job whose documents fail is rolled back alone.
pub(super) async fn apply_pending(
    tx: &mut BatchTransaction,
    jobs: &[Job],
    states: &mut [State],
    undo: Undo,
) -> Result<Rounds, StoreError> {
    if undo == Undo::WholeBatch {
        return apply_without_savepoints(tx, jobs, states).await;
    }
    let mut one_at_a_time = false;
    loop {
        let round = next_round(jobs, states, one_at_a_time);
        let Some(&first) = round.first() else {
            return Ok(Rounds::Settled);
        };
        pipeline::bound_statement_cache(&tx.client().statement_cache);
        let begin = tx.begin_statement();
        match AssertUnwindSafe(apply_round(tx.client(), begin.as_ref(), jobs, &round))
            .catch_unwind()
            .await
        {
            Ok(failure) => settle(states, &round, failure?),
            Err(_) => {
                // Which job panicked is unknown: undo the round (the whole
                // transaction if it began in this round, sent or not),
                // then send the jobs one at a time so that it fails alone.
                tracing::error!("a write set panicked in the postgres writer; rolled back alone");
                match begin {
                    Some(_) => tx.rollback().await?,
                    None => rollback_to(tx.client(), first).await?,
                }
                if round.len() == 1 {
                    states[first] =
                        State::Failed(StoreError::Unavailable("the write failed".to_owned()));
                }
                one_at_a_time = true;
            }
        }
    }
}

/// [`Undo::WholeBatch`]: the pending jobs' documents in rounds with no
/// savepoint; all applied, or `Redo` at the first failure (an error, a
/// refused row count, a panic), the transaction left for the caller to
/// roll back whole.
async fn apply_without_savepoints(
    tx: &mut BatchTransaction,
    jobs: &[Job],
    states: &mut [State],
) -> Result<Rounds, StoreError> {
    loop {
        let round = next_round(jobs, states, false);
        if round.is_empty() {
            return Ok(Rounds::Settled);
        }
        pipeline::bound_statement_cache(&tx.client().statement_cache);
        let begin = tx.begin_statement();
        let applied = AssertUnwindSafe(all_applied(tx.client(), begin.as_ref(), jobs, &round))
            .catch_unwind()
            .await;
        match applied {
            Ok(Ok(true)) => round
                .iter()
                .for_each(|&index| states[index] = State::Applied),
            Ok(Ok(false)) => return Ok(Rounds::Redo),
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                tracing::error!("a write set panicked in the postgres writer; the batch is redone");
                return Ok(Rounds::Redo);
            }
        }
    }
}

/// Sends the documents of `round` in one pipeline with no savepoint
/// (after `begin`, the transaction's `BEGIN`, in its first round) and
/// answers whether every job ran without an error and passed its checks.
async fn all_applied(
    tx: &deadpool_postgres::Client,
    begin: Option<&Sql>,
    jobs: &[Job],
    round: &[usize],
) -> Result<bool, StoreError> {
    let statements = round_statements(begin, jobs, round, &[]);
    let mut answers = pipeline::run_each_answered(tx, &statements)
        .await?
        .into_iter();
    if begin.is_some() {
        answers.next().transpose()?;
    }
    for &index in round {
        for checks in &jobs[index].writes.checks {
            let Some(Ok(answer)) = answers.next() else {
                return Ok(false);
            };
            if checks.refused(&answer)?.is_some() {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// A round's pipeline: `begin` if any, then each job's statements, after
/// its `SAVEPOINT` when `starts` (one per job) are given.
fn round_statements<'a>(
    begin: Option<&'a Sql>,
    jobs: &'a [Job],
    round: &'a [usize],
    starts: &'a [Sql],
) -> Vec<&'a Sql> {
    let mut statements = Vec::with_capacity(round_statements_len(jobs, round, starts.len()) + 1);
    statements.extend(begin);
    for (position, &index) in round.iter().enumerate() {
        statements.extend(starts.get(position));
        statements.extend(&jobs[index].writes.statements);
    }
    statements
}

/// How many statements `round`'s jobs have, with `starts` savepoints.
fn round_statements_len(jobs: &[Job], round: &[usize], starts: usize) -> usize {
    starts
        + round
            .iter()
            .map(|&index| jobs[index].writes.statements.len())
            .sum::<usize>()
}

/// The pending jobs of the next round, in index order: at least one, then
/// as many as fit in [`ROUND_STATEMENTS_MAX`].
fn next_round(jobs: &[Job], states: &[State], one_at_a_time: bool) -> Vec<usize> {
    let mut round = vec![];
    let mut statements = 0;
    let pending = (0..jobs.len()).filter(|&index| matches!(states[index], State::Pending));
    for index in pending {
        let len = jobs[index].writes.statements.len() + 1;
        if !round.is_empty() && (one_at_a_time || statements + len > ROUND_STATEMENTS_MAX) {
            break;
        }
        round.push(index);
        statements += len;
    }
    round
}

/// The jobs of `round` before the failed one are applied, the failed one
/// has failed, and the ones after it are still pending.
fn settle(states: &mut [State], round: &[usize], failure: Failure) {
    let failed_at = failure.as_ref().map_or(usize::MAX, |(index, _)| *index);
    for &index in round.iter().filter(|&&index| index < failed_at) {
        states[index] = State::Applied;
    }
    if let Some((index, err)) = failure {
        states[index] = State::Failed(err);
    }
}

/// Sends the documents of `round` in one pipeline (after `begin`, the
/// transaction's `BEGIN`, in its first round) and answers the first job
/// that failed, rolled back to its savepoint; `Err` fails the batch.
async fn apply_round(
    tx: &deadpool_postgres::Client,
    begin: Option<&Sql>,
    jobs: &[Job],
    round: &[usize],
) -> Result<Failure, StoreError> {
    let starts: Vec<Sql> = round
        .iter()
        .map(|&index| Sql {
            text: format!("SAVEPOINT {}", savepoint(index)),
            params: vec![],
        })
        .collect();
    let statements = round_statements(begin, jobs, round, &starts);
    let mut answers = pipeline::run_each_answered(tx, &statements)
        .await?
        .into_iter();
    if begin.is_some() {
        answers.next().transpose()?;
    }
    let per_job: Vec<Vec<Result<Answer, StoreError>>> = round
        .iter()
        .map(|&index| {
            let len = jobs[index].writes.statements.len() + 1;
            answers.by_ref().take(len).skip(1).collect()
        })
        .collect();
    let errored = per_job.iter().zip(round).find_map(|(answers, &index)| {
        let err = answers.iter().find_map(|answer| answer.as_ref().err())?;
        Some((index, err.clone()))
    });
    let checked = match &errored {
        Some((index, _)) => {
            rollback_to(tx, *index).await?;
            round.iter().position(|i| i == index).unwrap_or(round.len())
        }
        None => round.len(),
    };
    for position in 0..checked {
        let (index, answers) = (round[position], &per_job[position]);
        let next = (position + 1 < checked).then(|| round[position + 1]);
        if let Some(err) = refused_check(tx, &jobs[index], index, next, answers).await? {
            return Ok(Some((index, err)));
        }
    }
    Ok(errored)
}

/// Whether the row counts of `job` (number `index`; all its statements
/// ran) break one of its checks: if so, the transaction is brought back to
/// just after it — to the savepoint of `next`, the job applied after it,
/// if any — so that the check reads what it would have read alone, the
/// check's error is answered, and the job is rolled back to its savepoint.
async fn refused_check(
    tx: &deadpool_postgres::Client,
    job: &Job,
    index: usize,
    next: Option<usize>,
    answers: &[Result<Answer, StoreError>],
) -> Result<Option<StoreError>, StoreError> {
    let mut refused = None;
    for (checks, answer) in job.writes.checks.iter().zip(answers) {
        let Ok(answer) = answer else { break };
        refused = checks.refused(answer)?;
        if refused.is_some() {
            break;
        }
    }
    let Some((check, count)) = refused else {
        return Ok(None);
    };
    if let Some(next) = next {
        rollback_to(tx, next).await?;
    }
    let err = match check.holds(tx, count).await {
        Err(err) => err,
        Ok(()) => unreachable!("a check that fails its row count does not hold"),
    };
    rollback_to(tx, index).await?;
    Ok(Some(err))
}
