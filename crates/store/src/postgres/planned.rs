//! A write set turned into statements in the caller's task (so that a
//! programming error in building SQL panics there, not in the writer),
//! with the row-count checks the writer holds their answers to.
//!
//! A write set's documents are as few statements as can be: consecutive
//! inserts into one table as one multi-row insert (`docs::InsertRun`), and
//! consecutive writes that may share one snapshot as one statement of
//! data-modifying CTEs (`sql::with_writes`), whose answer carries the row
//! counts of its checked writes. A payment's phase one (method, risk
//! evaluation, intent, attempt, event, fan-out) and its phase two (intent
//! and attempt updates, charge, balance transaction, events, fan-out) are
//! one statement each.

use super::pipeline::{self, Answer};
use super::{query, D};
use crate::model::{RiskWrite, Scope, Table, WriteOp, WriteSet};
use crate::sql::with_writes::{Counted, Touches, WithWrites};
use crate::sql::{accounts, docs, webhooks, Sql};
use crate::StoreError;
use deadpool_postgres::GenericClient;

/// Documents first (the events' webhook fan-outs, one statement per scope,
/// after them, or before a redelivery), then ledger appends; risk writes
/// move after the batch commits (`PgStore::count_risk`).
pub(crate) struct PlannedWrites {
    pub(super) statements: Vec<Sql>,
    /// One per statement: the checks its answer is held to.
    pub(super) checks: Vec<Checks>,
    pub(super) ledger: Vec<portcullis_ledger::LedgerTransaction>,
    pub(super) risk: Vec<RiskWrite>,
}

impl PlannedWrites {
    pub(crate) fn of(writes: WriteSet) -> Self {
        let mut documents = Vec::with_capacity(writes.ops.len());
        let mut risk = vec![];
        let mut ledger = vec![];
        for op in writes.ops {
            match op {
                WriteOp::LedgerAppend { transaction } => ledger.push(transaction),
                WriteOp::Risk(write) => risk.push(write),
                op => documents.push(op),
            }
        }
        let (statements, checks) = statements_of(plan_documents(&documents))
            .into_iter()
            .unzip();
        Self {
            statements,
            checks,
            ledger,
            risk,
        }
    }

    /// Whether applying these writes appends to the ledger.
    pub(crate) fn appends(&self) -> bool {
        !self.ledger.is_empty()
    }
}

/// Applies the documents of one planned write set inside `tx`, in one
/// pipeline (`commit_bulk`'s; the writer sends many write sets' documents
/// in one pipeline, `writer::rounds`).
pub(super) async fn apply_documents(
    tx: &deadpool_postgres::Transaction<'_>,
    planned: &PlannedWrites,
) -> Result<(), StoreError> {
    let answers = pipeline::run_all(tx, &planned.statements).await?;
    for (checks, answer) in planned.checks.iter().zip(&answers) {
        if let Some((check, count)) = checks.refused(answer)? {
            check.holds(tx, count).await?;
        }
    }
    Ok(())
}

/// What a statement's row count must show once it has run.
pub(super) enum Check {
    None,
    /// An update of a document at an expected version changed one row.
    Updated {
        table: Table,
        scope: Scope,
        id: String,
    },
    /// The idempotency claim was still ours.
    ClaimHeld,
}

impl Check {
    /// Whether `count` changed rows break this check (`holds` says how).
    fn fails(&self, count: u64) -> bool {
        count == 0 && !matches!(self, Check::None)
    }

    /// `Ok` unless `count` breaks this check; then the error it answers
    /// (an update's: `NotFound` if its document is gone, else `Conflict`).
    pub(super) async fn holds(
        &self,
        tx: &impl GenericClient,
        count: u64,
    ) -> Result<(), StoreError> {
        if !self.fails(count) {
            return Ok(());
        }
        match self {
            Check::None => Ok(()),
            Check::ClaimHeld => Err(StoreError::ClaimLost),
            Check::Updated { table, scope, id } => {
                let exists = !query(tx, &docs::seq_of(D, *table, scope, id))
                    .await?
                    .is_empty();
                Err(if exists {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                })
            }
        }
    }
}

/// The checks of one statement, and where its answer carries their counts.
pub(super) enum Checks {
    /// A write alone: its row count is the statement's.
    Affected(Check),
    /// A statement of several writes (`sql::with_writes`): the counted
    /// ones' checks, each count a column of its one row, in order.
    Returned(Vec<Check>),
}

impl Checks {
    /// The first check `answer` breaks, with the count it read.
    pub(super) fn refused(&self, answer: &Answer) -> Result<Option<(&Check, u64)>, StoreError> {
        match self {
            Checks::Affected(check) => Ok(check
                .fails(answer.affected)
                .then_some((check, answer.affected))),
            Checks::Returned(checks) => {
                let row = match (checks.is_empty(), answer.rows.first()) {
                    (true, _) => return Ok(None),
                    (false, Some(row)) => row,
                    (false, None) => {
                        return Err(StoreError::Corrupt(
                            "a statement of several writes answered no counts".to_owned(),
                        ))
                    }
                };
                for (column, check) in checks.iter().enumerate() {
                    let count: i64 = row.try_get(column).map_err(super::convert::map_err)?;
                    let count = u64::try_from(count).unwrap_or(0);
                    if check.fails(count) {
                        return Ok(Some((check, count)));
                    }
                }
                Ok(None)
            }
        }
    }
}

/// One write of a write set's documents, before consecutive ones are
/// gathered into statements.
struct Write {
    sql: Sql,
    check: Check,
    touches: Touches,
}

impl Write {
    fn unchecked(sql: Sql, table: &'static str) -> Self {
        Self {
            sql,
            check: Check::None,
            touches: Touches {
                writes: table,
                reads: None,
            },
        }
    }
}

/// The statements of `writes`, in order: consecutive writes that may share
/// one snapshot as one (`WithWrites`), each with its checks.
fn statements_of(writes: Vec<Write>) -> Vec<(Sql, Checks)> {
    let mut statements = Vec::with_capacity(2);
    let mut group = WithWrites::default();
    let mut held: Vec<Check> = vec![];
    for write in writes {
        let counted = !matches!(write.check, Check::None);
        if let Some(before) = group.add(write.sql, write.touches, counted) {
            statements.push(with_checks(before, std::mem::take(&mut held)));
        }
        held.push(write.check);
    }
    if let Some(last) = group.take() {
        statements.push(with_checks(last, held));
    }
    statements
}

/// A statement of `WithWrites` with the checks of its writes, in order.
fn with_checks((sql, counted): (Sql, Counted), mut checks: Vec<Check>) -> (Sql, Checks) {
    match counted {
        Counted::Affected => {
            let check = checks.pop().expect("a write alone has its check");
            (sql, Checks::Affected(check))
        }
        Counted::Returned => {
            checks.retain(|check| !matches!(check, Check::None));
            (sql, Checks::Returned(checks))
        }
    }
}

/// The fan-outs of the events planned since the last call.
fn plan_fan_outs(planned: &mut Vec<Write>, fan_outs: &mut webhooks::FanOuts) {
    planned.extend(fan_outs.take_statements(D).into_iter().map(|sql| Write {
        sql,
        check: Check::None,
        touches: Touches {
            writes: "webhook_deliveries",
            reads: Some("webhook_endpoints"),
        },
    }));
}

/// Rows one multi-row insert of the writer holds at most: each row count
/// is a statement text of its own in a connection's prepared-statement
/// cache (`pipeline::prepare_all` bounds it), so this bounds the texts per
/// table and columns; write sets rarely insert more rows into one table.
const WRITER_ROWS_PER_INSERT_MAX: usize = 16;

/// The writes of a write set's document and idempotency writes, in
/// order, with their checks: a run of consecutive inserts into one table
/// as one multi-row insert (`docs::InsertRun`; an insert has no row-count
/// check); the events' webhook fan-outs, one statement per scope, after
/// them, or before a redelivery (which may name a delivery they create).
fn plan_documents(ops: &[WriteOp]) -> Vec<Write> {
    let mut planned = Vec::with_capacity(ops.len() + 2);
    let mut inserts = docs::InsertRun::new(WRITER_ROWS_PER_INSERT_MAX);
    let mut run_table = None;
    let mut fan_outs = webhooks::FanOuts::default();
    for op in ops {
        if let Some((table, row)) = docs::NewDoc::of_insert(op) {
            if let Some(run) = inserts.add(D, table, row) {
                let before = run_table.expect("a run held has its table");
                planned.push(Write::unchecked(run, before));
            }
            run_table = Some(table.name());
            fan_outs.add_insert(table, row.scope, row.id, row.created, row.columns);
            continue;
        }
        if let Some(run) = inserts.take(D) {
            planned.push(Write::unchecked(
                run,
                run_table.expect("a run held has its table"),
            ));
        }
        if matches!(op, WriteOp::Redeliver { .. }) {
            plan_fan_outs(&mut planned, &mut fan_outs);
        }
        planned.push(plan_other(op));
    }
    if let Some(run) = inserts.take(D) {
        planned.push(Write::unchecked(
            run,
            run_table.expect("a run held has its table"),
        ));
    }
    plan_fan_outs(&mut planned, &mut fan_outs);
    planned
}

/// The write of an update, idempotency completion or redelivery, with its
/// check.
fn plan_other(op: &WriteOp) -> Write {
    match op {
        WriteOp::Update {
            table,
            scope,
            id,
            expected_version,
            columns,
            body,
        } => Write {
            sql: docs::update_doc(D, *table, scope, id, *expected_version, columns, body),
            check: Check::Updated {
                table: *table,
                scope: scope.clone(),
                id: id.clone(),
            },
            touches: Touches {
                writes: table.name(),
                reads: None,
            },
        },
        WriteOp::CompleteIdempotency {
            merchant_id,
            key,
            status_code,
            response_body,
        } => Write {
            sql: accounts::complete_idempotency(D, merchant_id, key, *status_code, response_body),
            check: Check::ClaimHeld,
            touches: Touches {
                writes: "idempotency_keys",
                reads: None,
            },
        },
        WriteOp::Redeliver {
            scope,
            event_id,
            one,
            now_ms,
        } => Write::unchecked(
            webhooks::redeliver(D, scope, event_id, one.as_ref(), *now_ms),
            "webhook_deliveries",
        ),
        WriteOp::Insert { .. } | WriteOp::Risk(_) | WriteOp::LedgerAppend { .. } => {
            unreachable!("inserts run in runs; counters and ledger appends after the documents")
        }
    }
}
