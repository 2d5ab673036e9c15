//! Booking a movement of money: the ledger transaction and the balance
//! transaction the merchant sees, as write operations to commit in the
//! same write set as the state change they belong to.

use super::records::{BalanceTransaction, AVAILABLE, PENDING};
use crate::error::{ApiError, ApiResult};
use crate::payments::records;
use crate::state::AppState;
use portcullis_domain::ids::new_id;
use portcullis_domain::money::Currency;
use portcullis_ledger::movements::Parties;
use portcullis_ledger::transaction::TransactionHeader;
use portcullis_ledger::{LedgerError, LedgerTransaction, TransactionKind};
use portcullis_store::{Scope, WriteOp};

/// Whose money moves, through the connector this instance uses.
pub fn parties(state: &AppState, scope: &Scope, currency: Currency) -> Parties {
    Parties {
        merchant: scope.merchant_id.clone(),
        livemode: scope.livemode,
        currency,
        connector: state.connector.name().to_owned(),
    }
}

/// A fresh ledger header. The idempotency key is `kind:source`: each
/// object moves money of each kind at most once (one capture per charge,
/// one refund and one refund failure per refund, …).
pub fn header(kind: TransactionKind, source: &str, now: i64) -> TransactionHeader {
    TransactionHeader {
        id: new_id("ltx"),
        idempotency_key: format!("{}:{source}", kind.as_str()),
        kind,
        source: source.to_owned(),
        created: now,
    }
}

pub fn ledger_failure(err: LedgerError) -> ApiError {
    ApiError::internal(&format_args!("ledger: {err}"))
}

/// How the merchant sees a ledger transaction.
pub struct View<'a> {
    /// Stripe's balance transaction `type`.
    pub kind: &'a str,
    pub reporting_category: &'a str,
    pub amount_minor: i64,
    pub fee_minor: i64,
    /// `None`: available now; `Some(t)`: pending until `t`.
    pub pending_until: Option<i64>,
    pub description: Option<String>,
}

/// The balance transaction and the writes that book `transaction`.
pub fn book(
    scope: &Scope,
    transaction: LedgerTransaction,
    currency: Currency,
    view: View<'_>,
) -> ApiResult<(BalanceTransaction, Vec<WriteOp>)> {
    let now = transaction.created();
    let txn = BalanceTransaction {
        id: new_id("txn"),
        created: now,
        livemode: scope.livemode,
        amount_minor: view.amount_minor,
        fee_minor: view.fee_minor,
        currency,
        kind: view.kind.to_owned(),
        reporting_category: view.reporting_category.to_owned(),
        description: view.description,
        source: transaction.source().to_owned(),
        status: if view.pending_until.is_some() {
            PENDING
        } else {
            AVAILABLE
        }
        .to_owned(),
        available_on: view.pending_until.unwrap_or(now),
        ledger_transaction: transaction.id().to_owned(),
    };
    let writes = vec![
        records::insert(scope, &txn)?,
        WriteOp::LedgerAppend { transaction },
    ];
    Ok((txn, writes))
}
