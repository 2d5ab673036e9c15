//! The ledger worker: every `worker_interval_ms` it settles pending funds
//! whose `available_on` has come (pending → available, per merchant delay)
//! and pays pending payouts whose `arrival_date` has come (reserved →
//! external). Each item is one write set: the document's status change and
//! its ledger transaction commit together, version-checked, so two
//! instances never settle or pay the same item twice.

use super::booking::{header, ledger_failure, parties};
use super::records::{render_payout, BalanceTransaction, Payout, PayoutStatus, AVAILABLE, PENDING};
use crate::error::{ApiError, ApiResult};
use crate::events::{event, Origin};
use crate::payments::records;
use crate::state::AppState;
use portcullis_ledger::{movements, TransactionKind};
use portcullis_store::{Doc, ScanOp, ScanQuery, Scope, SqlValue, Table, WriteOp, WriteSet};
use serde_json::Value;
use std::time::Duration;

/// Most balance transactions settled, and payouts paid, per pass.
const ITEMS_PER_PASS_MAX: usize = 200;

pub async fn run(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let interval = Duration::from_millis(state.ledger.worker_interval_ms);
    loop {
        if let Err(err) = settle_due_funds(&state).await {
            tracing::warn!(error = %err.message, "settlement pass failed");
        }
        if let Err(err) = pay_due_payouts(&state).await {
            tracing::warn!(error = %err.message, "payout pass failed");
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

fn due(status: &str, column: &'static str, now: i64) -> ScanQuery {
    ScanQuery {
        filters: vec![
            ("status", ScanOp::Equal, SqlValue::Text(status.to_owned())),
            (column, ScanOp::AtMost, SqlValue::Integer(now)),
        ],
        created_before: None,
        limit: ITEMS_PER_PASS_MAX,
    }
}

/// Settles every pending balance transaction that is due; returns how many.
pub async fn settle_due_funds(state: &AppState) -> ApiResult<usize> {
    let now = state.now();
    let found = state
        .store
        .scan(
            Table::BalanceTransactions,
            &due(PENDING, "available_on", now),
        )
        .await?;
    let mut settled = 0;
    for item in found {
        match settle(state, &item.scope, &item.doc, now).await {
            Ok(()) => settled += 1,
            Err(err) => {
                tracing::warn!(txn = %item.doc.id, error = %err.message, "could not settle funds yet")
            }
        }
    }
    Ok(settled)
}

/// Makes one pending balance transaction available at `now` (its
/// `available_on` becomes `now` if that came first): the document's status
/// change and the settlement's ledger transaction, in one version-checked
/// commit. A concurrent settlement of the same item fails this one with
/// a conflict and moves no money twice.
pub async fn settle(state: &AppState, scope: &Scope, doc: &Doc, now: i64) -> ApiResult<()> {
    let mut txn: BalanceTransaction =
        serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?;
    txn.status = AVAILABLE.to_owned();
    txn.available_on = txn.available_on.min(now);
    let mut writes = WriteSet::new();
    writes.push(records::update(scope, doc, &txn)?);
    if txn.net_minor() > 0 {
        let p = parties(state, scope, txn.currency);
        let tx = movements::settlement(
            header(TransactionKind::Settlement, &txn.id, now),
            &p,
            txn.net_minor(),
        )
        .map_err(ledger_failure)?;
        writes.push(WriteOp::LedgerAppend { transaction: tx });
    }
    Ok(state.store.commit(writes).await?)
}

/// Pays every pending payout that is due; returns how many.
pub async fn pay_due_payouts(state: &AppState) -> ApiResult<usize> {
    let now = state.now();
    let found = state
        .store
        .scan(
            Table::Payouts,
            &due(PayoutStatus::Pending.as_str(), "arrival_date", now),
        )
        .await?;
    let mut paid = 0;
    for item in found {
        let payout: Payout =
            serde_json::from_str(&item.doc.body).map_err(|e| ApiError::internal(&e))?;
        let (_, writes) = pay(
            state,
            &item.scope,
            &item.doc,
            payout,
            &Origin::default(),
            now,
        )?;
        match state.store.commit(writes).await {
            Ok(()) => paid += 1,
            Err(err) => {
                tracing::warn!(payout = %item.doc.id, error = %err, "could not pay a payout yet")
            }
        }
    }
    Ok(paid)
}

/// The write set that marks a pending payout paid at `now` (its
/// `arrival_date` becomes `now` if that came first): the reserve leaves
/// the system (reserved → external), with its `payout.paid` event; and
/// the payout as rendered after it.
pub fn pay(
    state: &AppState,
    scope: &Scope,
    doc: &Doc,
    mut payout: Payout,
    origin: &Origin,
    now: i64,
) -> ApiResult<(Value, WriteSet)> {
    payout.status = PayoutStatus::Paid;
    payout.arrival_date = payout.arrival_date.min(now);
    let p = parties(state, scope, payout.currency);
    let tx = movements::payout_paid(
        header(TransactionKind::PayoutPaid, &payout.id, now),
        &p,
        payout.amount_minor,
    )
    .map_err(ledger_failure)?;
    let body = render_payout(&payout);
    let mut writes = WriteSet::new();
    writes.push(records::update(scope, doc, &payout)?);
    writes.push(WriteOp::LedgerAppend { transaction: tx });
    writes.push(event(scope, "payout.paid", &body, None, origin, now));
    Ok((body, writes))
}
