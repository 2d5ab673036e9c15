//! The ledger postings of payments: what a capture, a refund, a failed
//! refund and a dispute book, as write operations the payment code adds to
//! the write set that commits the state change, so money moves in the
//! ledger exactly when it moves in the payment (one database transaction).

use super::Ctx;
use crate::error::ApiResult;
use crate::ledger::booking::{book, header, ledger_failure, parties, View};
use portcullis_domain::charges::Charge;
use portcullis_domain::money::Currency;
use portcullis_domain::refunds::Refund;
use portcullis_ledger::fees::{fee_returned_minor, Priced, RefundedFee};
use portcullis_ledger::movements::{self, Parties};
use portcullis_ledger::TransactionKind;
use portcullis_store::WriteOp;

/// Books the capture of `charge.amount_captured_minor`: the fee by the
/// merchant's schedule, the net pending until the settlement delay has
/// passed. Sets the charge's fee and balance transaction.
pub fn capture(ctx: &Ctx<'_>, charge: &mut Charge) -> ApiResult<Vec<WriteOp>> {
    if charge.amount_captured_minor <= 0 || charge.balance_transaction.is_some() {
        // Nothing captured, or already booked.
        return Ok(vec![]);
    }
    let receivable = authorizing_connector(ctx, charge);
    let captured = Captured {
        source: &charge.id,
        amount_minor: charge.amount_captured_minor,
        currency: charge.currency,
        payment_method: "card",
        card_brand: charge.card.as_ref().map(|card| card.brand.as_str()),
        connector: &receivable,
        description: charge.description.clone(),
    };
    let (txn_id, fee_minor, writes) = book_capture(ctx, &captured)?;
    charge.receivable = Some(receivable);
    charge.balance_transaction = Some(txn_id);
    charge.fee_minor = fee_minor;
    Ok(writes)
}

/// Who owes a card charge's captured money: the connector account
/// (`ca_…`) routing sent its authorization to, else the server's connector.
fn authorizing_connector(ctx: &Ctx<'_>, charge: &Charge) -> String {
    let routed = charge
        .routing
        .as_ref()
        .and_then(|r| r["connector_account"].as_str());
    routed.unwrap_or(ctx.state.connector.name()).to_owned()
}

/// The parties whose receivable a refund or dispute of `charge` draws on:
/// the one its capture was booked under (a wallet's provider, or the
/// server's connector for charges that predate `Charge::receivable`).
fn charge_parties(ctx: &Ctx<'_>, charge: &Charge, currency: Currency) -> Parties {
    let mut p = parties(ctx.state, ctx.scope, currency);
    if let Some(receivable) = &charge.receivable {
        p.connector = receivable.clone();
    } else if let Some(wallet) = &charge.wallet {
        p.connector = wallet.provider.clone();
    }
    p
}

/// A capture to book: what was paid, how, and who owes it.
pub struct Captured<'a> {
    /// The object the money came in for (`ch_…`, or a wallet's `pi_…`).
    pub source: &'a str,
    pub amount_minor: i64,
    pub currency: portcullis_domain::money::Currency,
    /// What the fee schedule prices by: `card`, `alipay`, `wechat_pay`.
    pub payment_method: &'a str,
    pub card_brand: Option<&'a str>,
    /// Whose receivable the money is (the acquirer's or the wallet's).
    pub connector: &'a str,
    pub description: Option<String>,
}

/// Books `captured`: its balance transaction id, the fee, and the writes.
pub fn book_capture(
    ctx: &Ctx<'_>,
    captured: &Captured<'_>,
) -> ApiResult<(String, i64, Vec<WriteOp>)> {
    let now = ctx.state.now();
    let policy = ctx.state.ledger.policy(&ctx.scope.merchant_id);
    let amount_minor = captured.amount_minor;
    let priced = Priced {
        amount_minor,
        currency: captured.currency,
        payment_method: captured.payment_method,
        card_brand: captured.card_brand,
    };
    let fee_minor = policy.fees.fee_minor(&priced).map_err(ledger_failure)?;
    let mut p = parties(ctx.state, ctx.scope, captured.currency);
    p.connector = captured.connector.to_owned();
    let header = header(TransactionKind::Capture, captured.source, now);
    let transaction =
        movements::capture(header, &p, amount_minor, fee_minor).map_err(ledger_failure)?;
    let view = View {
        kind: "charge",
        reporting_category: "charge",
        amount_minor,
        fee_minor,
        pending_until: Some(now + policy.settlement_delay_s),
        description: captured.description.clone(),
    };
    let (txn, writes) = book(ctx.scope, transaction, captured.currency, view)?;
    Ok((txn.id, fee_minor, writes))
}

/// Books a refund when it is recorded (phase one, with the amount
/// reserved on the charge): taken from the available balance at once,
/// giving back the fee's share if the merchant's policy says so. Expects
/// `charge.amount_refunded_minor` to count this refund already.
pub fn refund(ctx: &Ctx<'_>, charge: &mut Charge, refund: &mut Refund) -> ApiResult<Vec<WriteOp>> {
    if charge.balance_transaction.is_none() {
        // Captured before the ledger existed: nothing was booked to take back.
        return Ok(vec![]);
    }
    let policy = ctx.state.ledger.policy(&ctx.scope.merchant_id);
    let fee_back_minor = if policy.refund_returns_fee {
        fee_returned_minor(RefundedFee {
            fee_minor: charge.fee_minor,
            fee_returned_minor: charge.fee_returned_minor,
            captured_minor: charge.amount_captured_minor,
            refunded_after_minor: charge.amount_refunded_minor,
        })
        .map_err(ledger_failure)?
    } else {
        0
    };
    let p = charge_parties(ctx, charge, refund.currency);
    let header = header(TransactionKind::Refund, &refund.id, ctx.state.now());
    let transaction = movements::refund(header, &p, refund.amount_minor, fee_back_minor)
        .map_err(ledger_failure)?;
    let view = View {
        kind: "refund",
        reporting_category: "refund",
        amount_minor: -refund.amount_minor,
        fee_minor: -fee_back_minor,
        pending_until: None,
        description: Some(format!("REFUND FOR CHARGE ({})", charge.id)),
    };
    let (txn, writes) = book(ctx.scope, transaction, refund.currency, view)?;
    charge.fee_returned_minor += fee_back_minor;
    refund.fee_returned_minor = fee_back_minor;
    refund.balance_transaction = Some(txn.id);
    Ok(writes)
}

/// Books the exact reverse of a refund that failed or was canceled.
/// Nothing for a refund recorded before the ledger existed.
pub fn refund_failure(
    ctx: &Ctx<'_>,
    charge: &mut Charge,
    refund: &mut Refund,
) -> ApiResult<Vec<WriteOp>> {
    if refund.balance_transaction.is_none() || refund.failure_balance_transaction.is_some() {
        return Ok(vec![]);
    }
    let now = ctx.state.now();
    let p = charge_parties(ctx, charge, refund.currency);
    let fee_back_minor = refund.fee_returned_minor;
    // The refund's postings follow from its amounts, so they are rebuilt
    // rather than read back; the reversal negates each of them.
    let original = movements::refund(
        header(TransactionKind::Refund, &refund.id, now),
        &p,
        refund.amount_minor,
        fee_back_minor,
    )
    .map_err(ledger_failure)?;
    let header = header(TransactionKind::RefundFailure, &refund.id, now);
    let transaction = movements::reversal(header, &original).map_err(ledger_failure)?;
    let view = View {
        kind: "refund_failure",
        reporting_category: "refund_failure",
        amount_minor: refund.amount_minor,
        fee_minor: fee_back_minor,
        pending_until: None,
        description: Some(format!("REFUND FAILURE FOR CHARGE ({})", charge.id)),
    };
    let (txn, writes) = book(ctx.scope, transaction, refund.currency, view)?;
    charge.fee_returned_minor -= fee_back_minor;
    refund.failure_balance_transaction = Some(txn.id);
    Ok(writes)
}

/// Books a dispute of `amount_minor` on `charge`: the funds and the
/// merchant's dispute fee are withdrawn from the available balance. Its
/// balance transaction is returned for the dispute object to list.
pub fn dispute(
    ctx: &Ctx<'_>,
    charge: &Charge,
    dispute_id: &str,
    amount_minor: i64,
) -> ApiResult<(serde_json::Value, Vec<WriteOp>)> {
    let policy = ctx.state.ledger.policy(&ctx.scope.merchant_id);
    let fee_minor = policy.dispute_fee_minor(charge.currency);
    let p = charge_parties(ctx, charge, charge.currency);
    let header = header(TransactionKind::Dispute, dispute_id, ctx.state.now());
    let transaction =
        movements::dispute(header, &p, amount_minor, fee_minor).map_err(ledger_failure)?;
    let view = View {
        kind: "adjustment",
        reporting_category: "dispute",
        amount_minor: -amount_minor,
        fee_minor,
        pending_until: None,
        description: Some(format!("Chargeback withdrawal for {}", charge.id)),
    };
    let (txn, writes) = book(ctx.scope, transaction, charge.currency, view)?;
    Ok((
        crate::ledger::records::render_balance_transaction(&txn),
        writes,
    ))
}
