//! A trade the customer did not pay: the provider reports it closed
//! (Alipay `TRADE_CLOSED`) or failed (WeChat Pay `PAYERROR`) before it
//! expired. As Stripe does for these wallets, the intent goes back to
//! `requires_payment_method` with a `last_payment_error` naming the
//! wallet, and `payment_intent.payment_failed` is emitted; the customer
//! may choose again (a new trade, a new `out_trade_no`). A trade closed at
//! or after its expiry is the worker's (it cancels the intent), and an
//! intent no longer waiting for its trade is left alone.

use crate::error::{ApiError, ApiResult};
use crate::events::event;
use crate::payments::records;
use crate::payments::render::render_payment_intent;
use crate::payments::Ctx;
use portcullis_domain::payment_intents::{
    IntentEvent, PaymentError, PaymentIntent, PaymentIntentStatus, WalletTrade,
};
use portcullis_store::{Doc, WriteSet};

/// `last_payment_error.code` of a wallet payment the customer did not complete.
pub const CODE: &str = "payment_method_provider_decline";

/// The writes that fail `intent` for its unpaid `trade`, or `None` when
/// the news changes nothing.
pub fn failed_writes(
    ctx: &Ctx<'_>,
    doc: &Doc,
    mut intent: PaymentIntent,
    trade: &WalletTrade,
) -> ApiResult<Option<WriteSet>> {
    let now = ctx.state.now();
    if intent.status != PaymentIntentStatus::RequiresAction || trade.expires_at <= now {
        return Ok(None);
    }
    intent
        .apply(IntentEvent::Failed, "failed")
        .map_err(|e| ApiError::internal(&e))?;
    intent.next_action = None;
    intent.last_payment_error = Some(PaymentError {
        kind: "card_error".to_owned(),
        code: CODE.to_owned(),
        decline_code: None,
        message: format!(
            "The customer did not complete the payment with {}.",
            trade.provider
        ),
        charge: None,
        // As Stripe: the failed attempt's method moves to the error.
        payment_method: intent.payment_method.take(),
    });
    let mut writes = WriteSet::new();
    writes.push(records::update(ctx.scope, doc, &intent)?);
    writes.push(event(
        ctx.scope,
        "payment_intent.payment_failed",
        &render_payment_intent(&intent),
        None,
        ctx.origin,
        now,
    ));
    Ok(Some(writes))
}
