//! The PaymentIntents that move stored value.
//!
//! - **Paying from the balance**: an intent whose `payment_method_types`
//!   hold `customer_balance`, confirmed with
//!   `payment_method_data[type]=customer_balance` (or with nothing, when
//!   that is its only type), succeeds at once: the customer's wallet is
//!   debited in the write set that stores the succeeded intent, with the
//!   customer's record rewritten so that concurrent spends are serialized,
//!   and the store's floor refusing a wallet below zero whichever instance
//!   writes. No acquirer is called, so a conflict simply re-executes.
//!   Before any money moves the payment passes the merchant's risk rules
//!   (`payment_method_type = customer_balance`, the card-free signals, as
//!   a wallet payment: `payments::wallets::risk`): `block` declines it as
//!   a blocked card payment is declined (a failed charge, nothing
//!   debited), `review` lets it succeed and opens a review (refunded to
//!   the balance by `refund_and_close`), `request_3ds` asks for the
//!   holder's step-up ([`super::step_up`]).
//! - **Topping up**: an intent created with `purpose=customer_balance_top_up`
//!   and a `customer` is paid by card, Alipay or WeChat Pay as any other;
//!   what is captured is credited to the wallet in the capture's write set
//!   ([`top_up_writes`]). Its limits are checked when it is confirmed, before
//!   any money moves; a capture is never refused, since the money is taken.
//!
//! The merchant holds the stored value: a top-up's capture is the
//! merchant's like any other (fee included), and the wallet's credit is a
//! liability the merchant owes its customer (`external` → wallet, as an
//! adjustment). Paying from the balance moves no merchant money (the
//! merchant was paid at the top-up): the wallet's liability shrinks.

use super::held_minor;
use super::transactions::{insert_op, Stored};
use crate::error::{ApiError, ApiResult};
use crate::events::event;
use crate::idempotency::Executed;
use crate::ledger::booking::{header, ledger_failure, parties};
use crate::payments::confirm::{intent_write, ConfirmInput, MethodSource};
use crate::payments::render::render_payment_intent;
use crate::payments::wallets::risk::{self, Checked};
use crate::payments::Ctx;
use portcullis_domain::customers::Customer;
use portcullis_domain::ids::new_id;
use portcullis_domain::metadata::Metadata;
use portcullis_domain::payment_intents::{
    CaptureMethod, IntentEvent, IntentPurpose, PaymentIntent,
};
use portcullis_ledger::{movements, TransactionKind};
use portcullis_store::{Doc, WriteOp, WriteSet};

/// The payment method type of a payment from the balance.
pub const METHOD_TYPE: &str = "customer_balance";

/// Whether confirming `intent` with `input` pays from the customer's balance.
pub fn pays_from_balance(intent: &PaymentIntent, input: &ConfirmInput) -> bool {
    match &input.method {
        Some(MethodSource::CustomerBalance) => true,
        Some(_) => false,
        None => {
            intent.payment_method.is_none()
                && matches!(intent.payment_method_types.as_slice(), [only] if only == METHOD_TYPE)
        }
    }
}

fn refused(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::invalid("parameter_invalid", message, param)
}

/// The customer `intent` may be paid from, or why it may not.
fn payer(intent: &PaymentIntent) -> ApiResult<&str> {
    if !intent.payment_method_types.iter().any(|t| t == METHOD_TYPE) {
        return Err(refused(
            "This PaymentIntent's payment_method_types do not include customer_balance.",
            "payment_method_data[type]",
        ));
    }
    if is_top_up(intent) {
        return Err(refused(
            "A top-up of the customer balance cannot be paid from a customer balance.",
            "payment_method_data[type]",
        ));
    }
    if intent.capture_method == CaptureMethod::Manual {
        return Err(refused(
            "A payment from the customer balance is captured at once: use capture_method=automatic.",
            "capture_method",
        ));
    }
    intent.customer.as_deref().ok_or_else(|| {
        ApiError::invalid(
            "parameter_missing",
            "A payment from the customer balance needs the PaymentIntent's customer.",
            "customer",
        )
    })
}

/// Pays `intent` (stored as `doc`, or new) from its customer's balance;
/// `writes` holds what must commit with it (a new intent's event).
pub async fn pay(
    ctx: &Ctx<'_>,
    doc: Option<Doc>,
    intent: PaymentIntent,
    writes: WriteSet,
    input: &ConfirmInput,
) -> ApiResult<Executed> {
    pay_checked(ctx, doc, intent, writes, input, false).await
}

/// Pays stored `intent` after its holder's fresh step-up
/// ([`super::step_up`]).
pub async fn pay_stepped_up(ctx: &Ctx<'_>, doc: Doc, intent: PaymentIntent) -> ApiResult<Executed> {
    let input = ConfirmInput::default();
    pay_checked(ctx, Some(doc), intent, WriteSet::new(), &input, true).await
}

async fn pay_checked(
    ctx: &Ctx<'_>,
    doc: Option<Doc>,
    mut intent: PaymentIntent,
    mut writes: WriteSet,
    input: &ConfirmInput,
    stepped_up: bool,
) -> ApiResult<Executed> {
    let (state, scope) = (ctx.state, ctx.scope);
    let customer_id = payer(&intent)?.to_owned();
    check_holder(input, &customer_id)?;
    let (customer, serialized) =
        crate::customers::serialized_write(state, scope, &customer_id).await?;
    if customer.deleted {
        return Err(ApiError::no_such("customer", &customer_id, "customer"));
    }
    let (amount, currency) = (intent.amount.minor(), intent.currency);
    let held = held_minor(state, scope, &customer.id, currency).await?;
    if held < amount {
        return Err(ApiError::invalid(
            "balance_insufficient",
            format!(
                "The customer's balance holds {held} in {}; this payment needs {amount}.",
                currency.as_str()
            ),
            "amount",
        ));
    }
    super::limits::enforce(state, scope, &customer.id, currency, held, -amount).await?;
    if let Some(url) = &input.return_url {
        intent.return_url = Some(url.clone());
    }
    intent
        .apply(IntentEvent::PaymentMethodGiven, "confirmed")
        .map_err(|_| crate::payments::unexpected_state(&intent, "confirmed"))?;
    let mut doc = doc;
    // Risk and the holder's step-up, once the balance and limits are known
    // to allow the payment and before the intent moves; a payment after
    // its step-up was assessed when it was confirmed.
    if !stepped_up {
        if let Some(ip) = input.customer_ip {
            intent.customer_ip = Some(ip.to_string());
        }
        let (checked_doc, checked) = risk::check(ctx, doc, intent, writes, METHOD_TYPE).await?;
        let action = match checked {
            Checked::Allowed(i, w, action) => {
                (intent, writes) = (i, w);
                action
            }
            Checked::Blocked(executed) => return Ok(executed),
        };
        doc = checked_doc;
        let holder = input.holder.as_ref();
        if let Some(reason) = super::step_up::reason(state, amount, action, holder) {
            return super::step_up::ask(ctx, doc.as_ref(), intent, writes, input, reason);
        }
    }
    intent
        .apply(IntentEvent::PaidFromBalance, "confirmed")
        .map_err(|_| crate::payments::unexpected_state(&intent, "confirmed"))?;
    intent.payment_method = None;
    intent.amount_received_minor = amount;
    intent.last_payment_error = None;
    intent.latest_charge = None;
    intent.next_action = None;
    let stored = movement(
        ctx,
        &intent,
        Movement {
            customer: &customer,
            wallet_delta_minor: -amount,
            held,
            kind: "payment",
            source: &intent.id,
            key: key(&intent.id, ""),
        },
    )?;
    writes.push(serialized);
    writes.ops.extend(stored);
    writes.ops.extend(paid_risk_writes(ctx, &mut intent)?);
    writes.push(intent_write(scope, doc.as_ref(), &intent)?);
    let body = render_payment_intent(&intent);
    writes.push(event(
        scope,
        "payment_intent.succeeded",
        &body,
        None,
        ctx.origin,
        state.now(),
    ));
    let completed = crate::checkout::completion_writes(state, scope, &intent, ctx.origin).await?;
    writes.ops.extend(completed);
    Ok(Executed::ok(body, writes))
}

/// Refuses a confirmation carrying the session of another customer's
/// holder than the one paying.
fn check_holder(input: &ConfirmInput, customer: &str) -> ApiResult<()> {
    match &input.holder {
        Some(holder) if holder.customer != customer => Err(ApiError::invalid(
            "parameter_invalid",
            "The Account-Session is not that of this PaymentIntent's customer.",
            "customer",
        )),
        _ => Ok(()),
    }
}

/// The risk writes of a paid payment from the balance: the authorized
/// counters of its customer, email and IP, and the review a `review`
/// rule asked for (its id set on `intent`).
fn paid_risk_writes(ctx: &Ctx<'_>, intent: &mut PaymentIntent) -> ApiResult<Vec<WriteOp>> {
    let mut ops = crate::payments::risk::wallet_paid_writes(ctx.state, ctx.scope, intent);
    let Some(rule) = intent
        .wallet_risk
        .as_ref()
        .and_then(|v| v.review_rule.clone())
    else {
        return Ok(ops);
    };
    let (id, opened) =
        crate::payments::reviews::open_for_balance_payment(ctx, &intent.id, Some(rule))?;
    intent.review = Some(id);
    ops.extend(opened);
    Ok(ops)
}

/// One movement of a customer's wallet for a payment: its ledger
/// transaction (keyed by `key`) and its balance transaction.
pub(super) struct Movement<'a> {
    pub customer: &'a Customer,
    /// Positive: into the wallet.
    pub wallet_delta_minor: i64,
    /// What the wallet held before, for the exact `ending_balance`.
    pub held: i64,
    /// The balance transaction's `type`.
    pub kind: &'static str,
    /// The object that moved the money (`pi_…`, `re_…`) and the ledger
    /// idempotency key's suffix.
    pub source: &'a str,
    pub key: String,
}

/// The writes of `m` for `intent`.
pub(super) fn movement(
    ctx: &Ctx<'_>,
    intent: &PaymentIntent,
    m: Movement<'_>,
) -> ApiResult<Vec<WriteOp>> {
    let (scope, now) = (ctx.scope, ctx.state.now());
    let after = m.held.checked_add(m.wallet_delta_minor).ok_or_else(|| {
        ApiError::invalid("amount_too_large", "The balance would overflow.", "amount")
    })?;
    let mut head = header(TransactionKind::CustomerBalance, m.source, now);
    head.idempotency_key = m.key;
    let transaction = movements::customer_balance(
        head,
        &parties(ctx.state, scope, intent.currency),
        &m.customer.id,
        m.wallet_delta_minor,
    )
    .map_err(ledger_failure)?;
    let stored = Stored {
        id: new_id("cbtxn"),
        customer: m.customer.id.clone(),
        // Stripe's sign: negative credits the customer.
        amount: -m.wallet_delta_minor,
        currency: intent.currency,
        ending_balance: -after,
        description: intent.description.clone(),
        metadata: Metadata::default(),
        kind: m.kind.to_owned(),
        payment_intent: Some(intent.id.clone()),
        payout: None,
        created: now,
        livemode: scope.livemode,
    };
    Ok(vec![
        insert_op(scope, &stored)?,
        WriteOp::LedgerAppend { transaction },
    ])
}

/// The ledger key of a wallet movement of `source` (one per source and
/// direction, so a booking written twice moves the money once).
pub(super) fn key(source: &str, suffix: &str) -> String {
    format!(
        "{}:{source}{suffix}",
        TransactionKind::CustomerBalance.as_str()
    )
}

pub(super) fn is_top_up(intent: &PaymentIntent) -> bool {
    intent.purpose == Some(IntentPurpose::CustomerBalanceTopUp)
}

/// Refuses confirming a top-up the wallet's limits (maximum balance,
/// daily top-up) would not take, before any money moves.
pub async fn check_top_up(ctx: &Ctx<'_>, intent: &PaymentIntent) -> ApiResult<()> {
    if !is_top_up(intent) {
        return Ok(());
    }
    let customer_id = intent.customer.as_deref().unwrap_or_default();
    let (customer, _) =
        crate::customers::serialized_write(ctx.state, ctx.scope, customer_id).await?;
    if customer.deleted {
        return Err(ApiError::no_such("customer", customer_id, "customer"));
    }
    let held = held_minor(ctx.state, ctx.scope, &customer.id, intent.currency).await?;
    super::limits::enforce(
        ctx.state,
        ctx.scope,
        &customer.id,
        intent.currency,
        held,
        intent.amount.minor(),
    )
    .await
}

/// The writes crediting a top-up's captured amount to its customer's
/// wallet, for the capture's write set: none for an ordinary intent or
/// nothing captured. The ledger movement is keyed by the intent, so a
/// capture booked twice credits once.
pub async fn top_up_writes(ctx: &Ctx<'_>, intent: &PaymentIntent) -> ApiResult<Vec<WriteOp>> {
    let captured = intent.amount_received_minor;
    if !is_top_up(intent) || captured <= 0 {
        return Ok(vec![]);
    }
    let customer_id = intent
        .customer
        .as_deref()
        .ok_or_else(|| ApiError::internal(&"a top-up without a customer"))?;
    // A customer deleted since is still owed the money: the wallet is
    // credited all the same.
    let (customer, serialized) =
        crate::customers::serialized_write(ctx.state, ctx.scope, customer_id).await?;
    let held = held_minor(ctx.state, ctx.scope, &customer.id, intent.currency).await?;
    let mut writes = vec![serialized];
    writes.extend(movement(
        ctx,
        intent,
        Movement {
            customer: &customer,
            wallet_delta_minor: captured,
            held,
            kind: "top_up",
            source: &intent.id,
            key: key(&intent.id, ""),
        },
    )?);
    Ok(writes)
}
