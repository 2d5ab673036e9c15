//! Confirming a PaymentIntent with a wallet: the trade opened at the
//! provider, then one commit (with the idempotent response) that stores
//! the intent in `requires_action` with its `next_action` and trade.

use super::open::{check_payable, open_trade};
use super::risk::Checked;
use super::Provider;
use crate::error::{ApiError, ApiResult};
use crate::events::event;
use crate::idempotency::Executed;
use crate::payments::confirm::{check_owner, intent_write, ConfirmInput, MethodSource};
use crate::payments::methods::new_wallet_method;
use crate::payments::render::render_payment_intent;
use crate::payments::Ctx;
use portcullis_domain::payment_intents::{IntentEvent, PaymentIntent, PaymentIntentStatus};
use portcullis_domain::payment_methods::PaymentMethod;
use portcullis_store::{Doc, WriteSet};

/// The wallet a confirmation pays with, and its payment method when the
/// confirmation names one (`payment_method=pm_…`, or the intent's own).
pub struct Paying {
    pub provider: Provider,
    pub method: Option<PaymentMethod>,
}

/// Confirms `intent` (stored as `doc`, or new) with `paying`;
/// `phase_one` holds writes to commit with it.
pub async fn confirm_wallet(
    ctx: &Ctx<'_>,
    doc: Option<Doc>,
    mut intent: PaymentIntent,
    mut writes: WriteSet,
    paying: Paying,
    input: &ConfirmInput,
) -> ApiResult<Executed> {
    let provider = paying.provider;
    if input.wallet_options.aggregated {
        check_payable(&intent, Provider::WechatPay)?;
    }
    check_payable(&intent, provider)?;
    if intent.wallet.is_some()
        && matches!(
            intent.status,
            PaymentIntentStatus::RequiresAction | PaymentIntentStatus::Processing
        )
    {
        return Err(ApiError::invalid(
            "payment_intent_unexpected_state",
            "This PaymentIntent has an open wallet trade: cancel the PaymentIntent, or wait for the trade to be paid or to expire.",
            "intent",
        ));
    }
    if let Some(url) = &input.return_url {
        intent.return_url = Some(url.clone());
    }
    if let Some(ip) = input.customer_ip {
        intent.customer_ip = Some(ip.to_string());
    }
    intent.payment_method = match paying.method {
        Some(method) => {
            check_owner(ctx.state, ctx.scope, intent.customer.as_deref(), &method).await?;
            Some(method.id)
        }
        // The customer picks the wallet of an aggregated QR later; its
        // payment method is made then.
        None if input.wallet_options.aggregated => None,
        None => {
            let billing = match &input.method {
                Some(MethodSource::Wallet(_, billing)) => billing.clone(),
                _ => Default::default(),
            };
            let kind = provider.method_type();
            let (method, write) =
                new_wallet_method(ctx.state, ctx.scope, kind, billing, Default::default())?;
            writes.ops.push(write);
            Some(method.id)
        }
    };
    intent
        .apply(IntentEvent::PaymentMethodGiven, "confirmed")
        .map_err(|_| crate::payments::unexpected_state(&intent, "confirmed"))?;
    let payment_method_type = if input.wallet_options.aggregated {
        super::risk::AGGREGATED_TYPE
    } else {
        provider.as_str()
    };
    let (doc, checked) = super::risk::check(ctx, doc, intent, writes, payment_method_type).await?;
    let (mut intent, writes) = match checked {
        Checked::Allowed(intent, writes, _) => (intent, writes),
        Checked::Blocked(executed) => return Ok(executed),
    };
    if let Some(code) = &input.wallet_options.auth_code {
        return super::code::pay(ctx, doc, intent, writes, provider, code).await;
    }
    if input.wallet_options.aggregated {
        return aggregated(ctx, doc, intent, writes, input);
    }
    let opened = open_trade(
        ctx,
        &intent,
        provider,
        &input.wallet_options,
        intent.customer_ip.as_deref(),
    )
    .await?;
    intent
        .apply(IntentEvent::WalletTradeOpened, "confirmed")
        .map_err(|_| crate::payments::unexpected_state(&intent, "confirmed"))?;
    intent.next_action = Some(opened.next_action);
    intent.wallet = Some(opened.trade);
    finish(ctx, doc, intent, writes)
}

/// Stores `intent` waiting for the customer, with its event.
fn finish(
    ctx: &Ctx<'_>,
    doc: Option<Doc>,
    mut intent: PaymentIntent,
    mut writes: WriteSet,
) -> ApiResult<Executed> {
    intent.last_payment_error = None;
    let body = render_payment_intent(&intent);
    writes.push(intent_write(ctx.scope, doc.as_ref(), &intent)?);
    writes.push(event(
        ctx.scope,
        "payment_intent.requires_action",
        &body,
        None,
        ctx.origin,
        ctx.state.now(),
    ));
    Ok(Executed::ok(body, writes).after_connector_call())
}

/// An aggregated QR: no trade yet, `display_qr_code` with our page's URL.
fn aggregated(
    ctx: &Ctx<'_>,
    doc: Option<Doc>,
    mut intent: PaymentIntent,
    writes: WriteSet,
    input: &ConfirmInput,
) -> ApiResult<Executed> {
    let data = super::aggregated::page_url(&ctx.base_url(), &intent);
    let expires_at = ctx.state.now() + input.wallet_options.expires_after_s(Provider::Alipay);
    intent
        .apply(IntentEvent::WalletTradeOpened, "confirmed")
        .map_err(|_| crate::payments::unexpected_state(&intent, "confirmed"))?;
    intent.wallet = Some(super::aggregated::unchosen(
        &intent,
        expires_at,
        data.clone(),
    ));
    intent.next_action = Some(super::open::qr_action(
        ctx,
        &intent,
        "display_qr_code",
        &data,
    )?);
    finish(ctx, doc, intent, writes)
}
