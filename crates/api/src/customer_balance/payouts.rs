//! Withdrawals as payouts (issue 15: "withdrawal back to the original
//! card (a refund) or as a payout"): a customer's stored value paid out in
//! Stripe's payout shape (`po_…`, with `customer`), through
//! `POST /v1/payouts` with `customer=cus_…` (secret key) or
//! `POST /v1/accounts/balance/payouts` (the signed-in holder).
//!
//! The wallet is debited into the merchant's `reserved` bucket — the
//! clearing account of payouts on their way — in one ledger transaction,
//! with a `payout` balance transaction on the customer's side and the
//! customer's record rewritten, so one customer's movements stay
//! serialized; the store's floor refuses a wallet below zero whichever
//! instance writes, and the daily spend limit applies. The ledger worker
//! pays it on its `arrival_date` like any payout (reserved → external);
//! canceled while pending, the reserve returns to the wallet.

use super::held_minor;
use super::transactions::{insert_op, Stored};
use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::idempotency::Executed;
use crate::ledger::booking::{header, ledger_failure, parties};
use crate::ledger::payouts::{created, pending, CreateRequest};
use crate::ledger::records::Payout;
use crate::state::AppState;
use portcullis_domain::customers::Customer;
use portcullis_domain::ids::{new_id, CustomerId};
use portcullis_domain::metadata::Metadata;
use portcullis_domain::money::Currency;
use portcullis_ledger::{movements, LedgerTransaction, TransactionKind};
use portcullis_store::{Scope, WriteOp, WriteSet};

/// The balance transaction `type` of a withdrawal as a payout, and of its
/// return when the payout is canceled.
const PAYOUT_KIND: &str = "payout";
const PAYOUT_CANCEL_KIND: &str = "payout_cancel";

/// Pays out `create.amount` of `customer_id`'s stored value.
pub async fn withdraw(
    state: &AppState,
    scope: &Scope,
    customer_id: &str,
    create: &CreateRequest,
    origin: &Origin,
) -> ApiResult<Executed> {
    let (customer, serialized) =
        crate::customers::serialized_write(state, scope, customer_id).await?;
    if customer.deleted {
        return Err(ApiError::no_such("customer", customer_id, "customer"));
    }
    let (amount, currency) = (create.amount.minor(), create.currency);
    let held = held_minor(state, scope, &customer.id, currency).await?;
    if held < amount {
        return Err(ApiError::invalid(
            "balance_insufficient",
            format!(
                "The customer's balance holds {held} in {}; this payout needs {amount}.",
                currency.as_str()
            ),
            "amount",
        ));
    }
    super::limits::enforce(state, scope, &customer.id, currency, held, -amount).await?;
    let now = state.now();
    let id = new_id("po");
    let transaction = movements::customer_payout(
        header(TransactionKind::Payout, &id, now),
        &parties(state, scope, currency),
        &customer.id,
        amount,
    )
    .map_err(ledger_failure)?;
    let moved = Moved {
        customer: &customer,
        payout: &id,
        currency,
        wallet_delta_minor: -amount,
        held,
        kind: PAYOUT_KIND,
    };
    let (txn_id, ops) = booked(scope, transaction, moved, create.description.clone())?;
    let mut writes = WriteSet::new();
    writes.push(serialized);
    writes.ops.extend(ops);
    let payout = pending(
        state,
        scope,
        (id, now),
        create,
        txn_id,
        Some(customer.id.clone()),
    );
    created(scope, &payout, writes, origin)
}

/// For a pending customer payout being canceled: its reserve returned to
/// `customer`'s wallet; the `payout_cancel` balance transaction's id and
/// the writes booking it.
pub async fn returned(
    state: &AppState,
    scope: &Scope,
    payout: &Payout,
    customer: &CustomerId,
) -> ApiResult<(String, Vec<WriteOp>)> {
    // A customer deleted since is still owed the money.
    let (customer, serialized) =
        crate::customers::serialized_write(state, scope, customer.as_str()).await?;
    let held = held_minor(state, scope, &customer.id, payout.currency).await?;
    let transaction = movements::customer_payout_canceled(
        header(TransactionKind::PayoutCanceled, &payout.id, state.now()),
        &parties(state, scope, payout.currency),
        &customer.id,
        payout.amount_minor,
    )
    .map_err(ledger_failure)?;
    let moved = Moved {
        customer: &customer,
        payout: &payout.id,
        currency: payout.currency,
        wallet_delta_minor: payout.amount_minor,
        held,
        kind: PAYOUT_CANCEL_KIND,
    };
    let description = Some(format!("Cancellation of {}", payout.id));
    let (txn_id, ops) = booked(scope, transaction, moved, description)?;
    let mut writes = vec![serialized];
    writes.extend(ops);
    Ok((txn_id, writes))
}

/// One movement of a wallet by a payout.
struct Moved<'a> {
    customer: &'a Customer,
    payout: &'a str,
    currency: Currency,
    /// Positive: into the wallet.
    wallet_delta_minor: i64,
    /// What the wallet held before, for the exact `ending_balance`.
    held: i64,
    kind: &'static str,
}

/// The customer's balance transaction of `moved` and the writes booking
/// it with its ledger `transaction`.
fn booked(
    scope: &Scope,
    transaction: LedgerTransaction,
    moved: Moved<'_>,
    description: Option<String>,
) -> ApiResult<(String, Vec<WriteOp>)> {
    let after = moved
        .held
        .checked_add(moved.wallet_delta_minor)
        .ok_or_else(|| {
            ApiError::invalid("amount_too_large", "The balance would overflow.", "amount")
        })?;
    let stored = Stored {
        id: new_id("cbtxn"),
        customer: moved.customer.id.clone(),
        // Stripe's sign: positive debits the customer.
        amount: -moved.wallet_delta_minor,
        currency: moved.currency,
        ending_balance: -after,
        description,
        metadata: Metadata::default(),
        kind: moved.kind.to_owned(),
        payment_intent: None,
        payout: Some(moved.payout.to_owned()),
        created: transaction.created(),
        livemode: scope.livemode,
    };
    let ops = vec![
        insert_op(scope, &stored)?,
        WriteOp::LedgerAppend { transaction },
    ];
    Ok((stored.id, ops))
}
