//! One write set inside the group-commit writer's transaction (`writer`),
//! in a savepoint of its own.
//!
//! The common case is one round trip: the savepoint's statements (release
//! the previous job's, open this one's), the write set's documents, and
//! its ledger appends linked after the chain head the writer holds and
//! knows in memory, all in one pipeline. Only when that fails (a version
//! conflict, a lost claim, a duplicate, an idempotent ledger repeat, a
//! balance floor) is the savepoint rolled back and the write set applied
//! again statement by statement (`apply_write_set`), which tells which
//! error it is, or succeeds (a ledger repeat). A failing write set
//! therefore costs its own round trips, never the other write sets'.

use super::ledger::{self, AppendPlan};
use super::pipeline::{self, Answer};
use super::{apply_write_set, PlannedWrites};
use crate::sql::Sql;
use crate::StoreError;
use portcullis_ledger::chain::ChainHead;

/// Where the batch's one savepoint stands before the next write set.
#[derive(Clone, Copy)]
enum Savepoint {
    /// None yet: the next write set opens it.
    NotOpen,
    /// Open and empty (just rolled back to): the next write set reuses it.
    Empty,
    /// Holds the previous write set's work: released before the next opens.
    Holding,
}

/// The state a batch carries from one write set to the next.
pub(super) struct BatchState {
    savepoint: Savepoint,
    /// The chain head as this transaction leaves it, when the batch holds
    /// its lock (a batch that appends takes it first).
    head: Option<ChainHead>,
}

impl BatchState {
    pub(super) fn new(head: Option<ChainHead>) -> Self {
        Self {
            savepoint: Savepoint::NotOpen,
            head,
        }
    }
}

/// What trying a write set in one pipeline gave.
enum Tried {
    /// Applied; the chain head it left, if it appended.
    Applied(Option<ChainHead>),
    /// Something in it failed: roll back and apply it statement by statement.
    Failed,
}

/// Applies `writes` in its own savepoint: `Ok` carries the write set's own
/// outcome (its failure rolled back alone); `Err` fails the whole batch.
pub(super) async fn apply(
    tx: &deadpool_postgres::Transaction<'_>,
    state: &mut BatchState,
    writes: &PlannedWrites,
) -> Result<Result<(), StoreError>, StoreError> {
    match try_pipelined(tx, state, writes).await? {
        Tried::Applied(head) => {
            state.head = head.or(state.head.take());
            state.savepoint = Savepoint::Holding;
            return Ok(Ok(()));
        }
        Tried::Failed => roll_back(tx, state).await?,
    }
    match apply_write_set(tx, writes).await {
        Ok(()) => {
            if writes.appends() {
                state.head = Some(ledger::head(tx).await?);
            }
            state.savepoint = Savepoint::Holding;
            Ok(Ok(()))
        }
        Err(err) => {
            roll_back(tx, state).await?;
            Ok(Err(err))
        }
    }
}

async fn roll_back(
    tx: &deadpool_postgres::Transaction<'_>,
    state: &mut BatchState,
) -> Result<(), StoreError> {
    tx.batch_execute("ROLLBACK TO SAVEPOINT job")
        .await
        .map_err(super::map_err)?;
    state.savepoint = Savepoint::Empty;
    Ok(())
}

/// Sends the savepoint's statements, the documents and the ledger appends
/// in one pipeline, and checks every answer.
async fn try_pipelined(
    tx: &deadpool_postgres::Transaction<'_>,
    state: &BatchState,
    writes: &PlannedWrites,
) -> Result<Tried, StoreError> {
    let savepoint = savepoint_statements(state.savepoint);
    let mut head = state.head.clone();
    let mut appends = Vec::with_capacity(writes.ledger.len());
    for transaction in &writes.ledger {
        let at = head.as_ref().ok_or_else(|| {
            StoreError::Unavailable("a ledger append in a batch without the chain head".to_owned())
        })?;
        let plan = AppendPlan::after(at, transaction);
        head = Some(plan.next.clone());
        appends.push(plan);
    }
    let statements: Vec<&Sql> = savepoint
        .iter()
        .chain(&writes.statements)
        .chain(appends.iter().flat_map(|plan| &plan.statements))
        .collect();
    let answers = pipeline::run_each(tx, &statements).await?;
    if let Some(Err(err)) = answers[..savepoint.len()].iter().find(|a| a.is_err()) {
        return Err(err.clone());
    }
    let Ok(answers) = answers.into_iter().collect::<Result<Vec<Answer>, _>>() else {
        return Ok(Tried::Failed);
    };
    let (documents, mut rest) = answers[savepoint.len()..].split_at(writes.statements.len());
    let mut holds = writes
        .checks
        .iter()
        .zip(documents)
        .all(|(check, answer)| check.passes(answer.affected));
    for plan in appends {
        let (own, after) = rest.split_at(plan.statements.len());
        rest = after;
        holds &= plan.floors_hold(own).is_ok();
    }
    Ok(match (holds, writes.appends()) {
        (false, _) => Tried::Failed,
        (true, true) => Tried::Applied(head),
        (true, false) => Tried::Applied(None),
    })
}

/// What runs before a write set so that it starts in a fresh savepoint.
fn savepoint_statements(savepoint: Savepoint) -> Vec<Sql> {
    let texts: &[&str] = match savepoint {
        Savepoint::NotOpen => &["SAVEPOINT job"],
        Savepoint::Empty => &[],
        Savepoint::Holding => &["RELEASE SAVEPOINT job", "SAVEPOINT job"],
    };
    texts
        .iter()
        .map(|text| Sql {
            text: (*text).to_owned(),
            params: vec![],
        })
        .collect()
}
