//! Refunds that move stored value, through `POST /v1/refunds`:
//!
//! - a refund of a payment from the balance returns to the balance at
//!   once (`payment_refund`): no acquirer, no charge, `succeeded`;
//! - a refund of a top-up is a **withdrawal** to the original card: the
//!   wallet is debited in the refund's phase one (before the acquirer is
//!   asked), so only the unspent balance can leave, the store's floor
//!   refusing a wallet below zero whichever instance writes; if the
//!   acquirer fails or the refund is canceled, the wallet is credited back
//!   ([`withdrawal_returned_writes`]).

use super::held_minor;
use super::payments::{is_top_up, key, movement, Movement, METHOD_TYPE};
use crate::error::{ApiError, ApiResult};
use crate::events::event;
use crate::idempotency::Executed;
use crate::payments::records::{self, load};
use crate::payments::render::render_refund;
use crate::payments::Ctx;
use portcullis_domain::charges::Charge;
use portcullis_domain::customers::Customer;
use portcullis_domain::ids::new_id;
use portcullis_domain::metadata::Metadata;
use portcullis_domain::payment_intents::{PaymentIntent, PaymentIntentStatus};
use portcullis_domain::refunds::{Refund, RefundReason, RefundStatus};
use portcullis_store::{Doc, WriteOp, WriteSet};

/// Whether `intent` was paid from its customer's balance: succeeded with
/// neither a charge nor a wallet trade.
pub fn paid_from_balance(intent: &PaymentIntent) -> bool {
    intent.status == PaymentIntentStatus::Succeeded
        && intent.latest_charge.is_none()
        && intent.wallet.is_none()
        && intent.payment_method_types.iter().any(|t| t == METHOD_TYPE)
}

/// What a refund request asks of a payment from the balance.
pub struct BalanceRefund {
    pub amount: Option<i64>,
    pub reason: Option<RefundReason>,
    pub metadata: Metadata,
}

/// Refunds `intent` (a payment from the balance, stored as `doc`) to its
/// customer's balance. The caller holds the intent's lock.
pub async fn refund_to_balance(
    ctx: &Ctx<'_>,
    (doc, mut intent): (Doc, PaymentIntent),
    request: BalanceRefund,
) -> ApiResult<Executed> {
    let (state, scope) = (ctx.state, ctx.scope);
    let refundable = intent
        .amount_received_minor
        .checked_sub(intent.balance_refunded_minor)
        .unwrap_or(0);
    if refundable <= 0 {
        return Err(ApiError::invalid(
            "charge_already_refunded",
            format!("PaymentIntent {} has already been refunded.", intent.id),
            "payment_intent",
        ));
    }
    let amount = request.amount.unwrap_or(refundable);
    if amount < 1 || amount > refundable {
        return Err(ApiError::invalid(
            if amount < 1 { "amount_too_small" } else { "amount_too_large" },
            format!("Refund amount must be between 1 and what remains unrefunded on the payment ({refundable})."),
            "amount",
        ));
    }
    let customer_id = intent
        .customer
        .clone()
        .ok_or_else(|| ApiError::internal(&"a balance payment without a customer"))?;
    let (customer, serialized) =
        crate::customers::serialized_write(state, scope, &customer_id).await?;
    let held = held_minor(state, scope, &customer.id, intent.currency).await?;
    // amount ≤ refundable, so this cannot overflow; checked all the same.
    intent.balance_refunded_minor = intent
        .balance_refunded_minor
        .checked_add(amount)
        .ok_or_else(|| ApiError::internal(&"refunded amount overflow"))?;
    let refund = Refund {
        id: new_id("re"),
        created: state.now(),
        livemode: scope.livemode,
        amount_minor: amount,
        currency: intent.currency,
        charge: None,
        payment_intent: intent.id.clone(),
        customer: Some(customer_id),
        payment_method: None,
        wallet: None,
        reason: request.reason,
        status: RefundStatus::Succeeded,
        failure_reason: None,
        metadata: request.metadata,
        sent_to_connector: false,
        settled: true,
        balance_transaction: None,
        fee_returned_minor: 0,
        failure_balance_transaction: None,
    };
    let mut writes = WriteSet::new();
    writes.push(serialized);
    writes.ops.extend(movement(
        ctx,
        &intent,
        Movement {
            customer: &customer,
            wallet_delta_minor: amount,
            held,
            kind: "payment_refund",
            source: &refund.id,
            key: key(&refund.id, ""),
        },
    )?);
    writes.push(records::update(scope, &doc, &intent)?);
    writes.push(records::insert(scope, &refund)?);
    let body = render_refund(&refund);
    writes.push(event(
        scope,
        "refund.created",
        &body,
        None,
        ctx.origin,
        state.now(),
    ));
    Ok(Executed::ok(body, writes))
}

/// The top-up intent `intent_id`, its customer, the rewrite serializing
/// the customer's movements and what the wallet holds; `None` when the
/// intent is no top-up.
/// The top-up's intent, its customer (serialized) and what the wallet
/// holds, when `charge_id` is the charge that paid a top-up. A duplicate
/// wallet trade's charge on the same intent never credited the wallet,
/// so its refund moves nothing ([`crate::payments::wallets::duplicate`]).
async fn top_up_wallet(
    ctx: &Ctx<'_>,
    intent_id: &str,
    charge_id: Option<&str>,
) -> ApiResult<Option<(PaymentIntent, Customer, WriteOp, i64)>> {
    let (state, scope) = (ctx.state, ctx.scope);
    if intent_id.is_empty() {
        return Ok(None);
    }
    let (_, intent) = load::<PaymentIntent>(state, scope, intent_id, "payment_intent").await?;
    if !is_top_up(&intent) || intent.latest_charge.as_deref() != charge_id {
        return Ok(None);
    }
    let customer_id = intent.customer.clone().unwrap_or_default();
    let (customer, serialized) =
        crate::customers::serialized_write(state, scope, &customer_id).await?;
    let held = held_minor(state, scope, &customer.id, intent.currency).await?;
    Ok(Some((intent, customer, serialized, held)))
}

/// For a refund of a top-up's `charge` (a withdrawal to the card): the
/// debit of the wallet, for the refund's phase one; nothing for an
/// ordinary charge. Refused when the wallet holds less than the refund.
pub async fn withdrawal_writes(
    ctx: &Ctx<'_>,
    charge: &Charge,
    refund: &Refund,
) -> ApiResult<Vec<WriteOp>> {
    let Some((intent, customer, serialized, held)) =
        top_up_wallet(ctx, &charge.payment_intent, Some(&charge.id)).await?
    else {
        return Ok(vec![]);
    };
    if held < refund.amount_minor {
        return Err(ApiError::invalid(
            "balance_insufficient",
            format!(
                "The customer's balance holds {held} in {}; only what is unspent can be refunded to the card.",
                intent.currency.as_str()
            ),
            "amount",
        ));
    }
    let debit = Movement {
        customer: &customer,
        wallet_delta_minor: -refund.amount_minor,
        held,
        kind: "withdrawal",
        source: &refund.id,
        key: key(&refund.id, ""),
    };
    let mut writes = vec![serialized];
    writes.extend(movement(ctx, &intent, debit)?);
    Ok(writes)
}

/// For a refund of a top-up that failed or was canceled: the wallet
/// credited back what its phase one debited; nothing for any other refund.
pub async fn withdrawal_returned_writes(ctx: &Ctx<'_>, refund: &Refund) -> ApiResult<Vec<WriteOp>> {
    let Some((intent, customer, serialized, held)) =
        top_up_wallet(ctx, &refund.payment_intent, refund.charge.as_deref()).await?
    else {
        return Ok(vec![]);
    };
    let credit = Movement {
        customer: &customer,
        wallet_delta_minor: refund.amount_minor,
        held,
        kind: "withdrawal_reversal",
        source: &refund.id,
        key: key(&refund.id, ":returned"),
    };
    let mut writes = vec![serialized];
    writes.extend(movement(ctx, &intent, credit)?);
    Ok(writes)
}
