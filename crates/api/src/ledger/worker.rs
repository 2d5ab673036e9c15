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
use portcullis_store::{ScanOp, ScanQuery, SqlValue, Table, WriteOp, WriteSet};
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
        let mut txn: BalanceTransaction =
            serde_json::from_str(&item.doc.body).map_err(|e| ApiError::internal(&e))?;
        txn.status = AVAILABLE.to_owned();
        let mut writes = WriteSet::new();
        writes.push(records::update(&item.scope, &item.doc, &txn)?);
        if txn.net_minor() > 0 {
            let p = parties(state, &item.scope, txn.currency);
            let tx = movements::settlement(
                header(TransactionKind::Settlement, &txn.id, now),
                &p,
                txn.net_minor(),
            )
            .map_err(ledger_failure)?;
            writes.push(WriteOp::LedgerAppend { transaction: tx });
        }
        match state.store.commit(writes).await {
            Ok(()) => settled += 1,
            Err(err) => tracing::warn!(txn = %txn.id, error = %err, "could not settle funds yet"),
        }
    }
    Ok(settled)
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
        let mut payout: Payout =
            serde_json::from_str(&item.doc.body).map_err(|e| ApiError::internal(&e))?;
        payout.status = PayoutStatus::Paid;
        let p = parties(state, &item.scope, payout.currency);
        let tx = movements::payout_paid(
            header(TransactionKind::PayoutPaid, &payout.id, now),
            &p,
            payout.amount_minor,
        )
        .map_err(ledger_failure)?;
        let mut writes = WriteSet::new();
        writes.push(records::update(&item.scope, &item.doc, &payout)?);
        writes.push(WriteOp::LedgerAppend { transaction: tx });
        writes.push(event(
            &item.scope,
            "payout.paid",
            &render_payout(&payout),
            None,
            &Origin::default(),
            now,
        ));
        match state.store.commit(writes).await {
            Ok(()) => paid += 1,
            Err(err) => {
                tracing::warn!(payout = %payout.id, error = %err, "could not pay a payout yet")
            }
        }
    }
    Ok(paid)
}
