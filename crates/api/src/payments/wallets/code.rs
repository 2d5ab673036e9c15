//! Payment codes (付款码): the merchant's device scans the code the
//! customer's wallet shows, and the payment is decided while the request
//! waits. Phase one commits the intent in `processing` naming its trade;
//! then Alipay `alipay.trade.pay` (scene `bar_code`) or WeChat Pay v2
//! `micropay` is called. A buyer who must confirm on the phone (Alipay
//! `10003`, WeChat `USERPAYING`) is polled with the provider's query for up
//! to [`CODE_WAIT`]; past it, or when the outcome stays unknown, the trade
//! is reversed (Alipay `alipay.trade.cancel`, WeChat `reverse`) and the
//! payment declined. Phase two (succeeded or declined) is committed with
//! the idempotent response. If the process dies in between, the intent
//! stays `processing` and the wallet worker queries it once its trade's
//! time is up.

use super::account::{choose, connected};
use super::settle;
use super::Provider;
use crate::error::{ApiError, ApiResult};
use crate::events::event;
use crate::idempotency::Executed;
use crate::payments::confirm::intent_write;
use crate::payments::records::load;
use crate::payments::render::render_payment_intent;
use crate::payments::Ctx;
use crate::wallet_connections::WalletConnection;
use axum::http::StatusCode;
use portcullis_connectors::wallets::{CodePayment, TradeState, TradeStatus, WalletCallError};
use portcullis_domain::payment_intents::{IntentEvent, PaymentError, PaymentIntent, WalletTrade};
use portcullis_store::{Doc, WriteSet};
use portcullis_wallets::alipay_methods::Order;
use serde_json::json;
use std::time::{Duration, Instant};

/// How long a buyer may take to confirm a payment code on the phone.
pub const CODE_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting payment code is queried.
const POLL_EVERY: Duration = Duration::from_secs(2);
/// The worker looks at a code trade only after its request gave up.
const WORKER_GRACE_S: i64 = 60;

/// What presenting the code came to.
enum CodeOutcome {
    Paid(TradeStatus),
    Declined {
        code: String,
        message: String,
    },
    /// Not known even after reversing failed: the worker finishes it.
    Unknown(String),
}

/// Reads a payment code: digits only, at most 32.
pub fn auth_code(text: &str, param: &str) -> ApiResult<String> {
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "auth_code must be the digits of the customer's payment code.",
            param,
        ));
    }
    Ok(text.to_owned())
}

/// The wallet whose app showed `code` (for `type=wallet_code`).
pub fn provider_of_code(code: &str) -> ApiResult<Provider> {
    use portcullis_wallets::payment_codes::{provider_of, CodeProvider};
    match provider_of(code) {
        Some(CodeProvider::Alipay) => Ok(Provider::Alipay),
        Some(CodeProvider::WechatPay) => Ok(Provider::WechatPay),
        None => Err(ApiError::invalid(
            "parameter_invalid",
            "This is neither an Alipay payment code (16 to 24 digits starting 25 to 30) nor a WeChat Pay one (18 digits starting 10 to 15).",
            "payment_method_data[wallet_code][auth_code]",
        )),
    }
}

/// Pays `intent` (requires_confirmation) with payment code `code`.
pub async fn pay(
    ctx: &Ctx<'_>,
    doc: Option<Doc>,
    mut intent: PaymentIntent,
    mut writes: WriteSet,
    provider: Provider,
    code: &str,
) -> ApiResult<Executed> {
    let state = ctx.state;
    let stored = choose(state, ctx.scope, provider).await?;
    let connection = connected(state, &stored).await?;
    let number = intent.wallet.as_ref().map_or(1, |w| w.number + 1);
    let trade = WalletTrade {
        provider: provider.as_str().to_owned(),
        connector_account: stored.account.id.clone(),
        out_trade_no: WalletTrade::out_trade_no_for(&intent.id, number),
        number,
        flow: "code".to_owned(),
        expires_at: state.now() + CODE_WAIT.as_secs() as i64 + WORKER_GRACE_S,
        qr_data: None,
        provider_trade_id: None,
        opened_at: Some(state.now()),
        aggregated: false,
        picked_method: None,
    };
    intent
        .apply(IntentEvent::AttemptSent, "confirmed")
        .map_err(|_| crate::payments::unexpected_state(&intent, "confirmed"))?;
    intent.wallet = Some(trade.clone());
    intent.next_action = None;
    writes.push(intent_write(ctx.scope, doc.as_ref(), &intent)?);
    match state.store.commit(writes).await {
        Ok(()) => {}
        Err(portcullis_store::StoreError::Duplicate) if doc.is_none() => {
            return Err(ApiError::concurrent_change())
        }
        Err(err) => return Err(err.into()),
    }
    let subject = intent
        .description
        .clone()
        .unwrap_or_else(|| format!("Payment {}", intent.id));
    let ip = intent
        .customer_ip
        .clone()
        .unwrap_or_else(|| "127.0.0.1".into());
    let outcome = present(
        &connection,
        &trade,
        intent.amount.minor(),
        &subject,
        code,
        &ip,
    )
    .await;
    state
        .payments
        .crash_if_faulted(crate::payments::AttemptKind::Authorize);
    let (doc, intent) = load::<PaymentIntent>(state, ctx.scope, &intent.id, "intent").await?;
    match outcome {
        CodeOutcome::Paid(status) => {
            let writes = settle::paid(ctx, &doc, intent, trade, &status).await?;
            let body = writes_body(&writes)?;
            Ok(Executed::ok(body, writes).after_connector_call())
        }
        CodeOutcome::Declined { code, message } => declined(ctx, &doc, intent, &code, &message),
        CodeOutcome::Unknown(reason) => {
            tracing::warn!(intent = %intent.id, reason = %reason, "payment code outcome unknown; left for the wallet worker");
            Ok(
                Executed::ok(render_payment_intent(&intent), WriteSet::new())
                    .after_connector_call(),
            )
        }
    }
}

/// The intent as `writes` store it (their first update of it).
fn writes_body(writes: &WriteSet) -> ApiResult<serde_json::Value> {
    for op in &writes.ops {
        if let portcullis_store::WriteOp::Update {
            table: portcullis_store::Table::PaymentIntents,
            body,
            ..
        } = op
        {
            let intent: PaymentIntent =
                serde_json::from_str(body).map_err(|e| ApiError::internal(&e))?;
            return Ok(render_payment_intent(&intent));
        }
    }
    Err(ApiError::internal(&"a paid code wrote no intent"))
}

/// Phase two of a declined code: the intent back to
/// `requires_payment_method` with the provider's reason; 402.
fn declined(
    ctx: &Ctx<'_>,
    doc: &Doc,
    mut intent: PaymentIntent,
    code: &str,
    message: &str,
) -> ApiResult<Executed> {
    intent
        .apply(IntentEvent::Failed, "failed")
        .map_err(|e| ApiError::internal(&e))?;
    intent.last_payment_error = Some(PaymentError {
        kind: "card_error".to_owned(),
        code: "payment_method_provider_decline".to_owned(),
        decline_code: Some(code.to_owned()),
        message: message.to_owned(),
        charge: None,
        payment_method: None,
    });
    let rendered = render_payment_intent(&intent);
    let mut writes = WriteSet::new();
    writes.push(crate::payments::records::update(ctx.scope, doc, &intent)?);
    writes.push(event(
        ctx.scope,
        "payment_intent.payment_failed",
        &rendered,
        None,
        ctx.origin,
        ctx.state.now(),
    ));
    let body = json!({ "error": {
        "type": "card_error",
        "code": "payment_method_provider_decline",
        "decline_code": code,
        "message": message,
        "payment_intent": rendered,
    }});
    Ok(Executed {
        status: StatusCode::PAYMENT_REQUIRED,
        body: body.into(),
        writes,
        external_effects: true,
        replan: None,
    })
}

async fn first_answer(
    connection: &WalletConnection,
    trade: &WalletTrade,
    amount_fen: i64,
    subject: &str,
    code: &str,
    ip: &str,
) -> Result<CodePayment, WalletCallError> {
    match connection {
        WalletConnection::Alipay(client) => {
            let order = Order {
                out_trade_no: &trade.out_trade_no,
                amount_fen,
                subject,
                timeout_minutes: 1,
            };
            client.pay_with_code(&order, code).await
        }
        WalletConnection::WechatPay(client) => {
            client
                .micropay(&trade.out_trade_no, amount_fen, subject, code, ip)
                .await
        }
    }
}

/// The provider's view of a code trade (WeChat's v2 `orderquery`).
pub(crate) async fn query_code(
    connection: &WalletConnection,
    out_trade_no: &str,
) -> Result<TradeStatus, WalletCallError> {
    match connection {
        WalletConnection::Alipay(client) => client.query(out_trade_no).await,
        WalletConnection::WechatPay(client) => client.orderquery(out_trade_no).await,
    }
}

/// Reverses a code trade (refunding it if the buyer paid meanwhile).
pub(crate) async fn reverse(
    connection: &WalletConnection,
    out_trade_no: &str,
) -> Result<(), WalletCallError> {
    match connection {
        WalletConnection::Alipay(client) => client.cancel(out_trade_no).await,
        WalletConnection::WechatPay(client) => client.reverse(out_trade_no).await,
    }
}

/// Presents the code, polls while the buyer confirms, reverses past the wait.
async fn present(
    connection: &WalletConnection,
    trade: &WalletTrade,
    amount_fen: i64,
    subject: &str,
    code: &str,
    ip: &str,
) -> CodeOutcome {
    let started = Instant::now();
    match first_answer(connection, trade, amount_fen, subject, code, ip).await {
        Ok(CodePayment::Paid(status)) => return CodeOutcome::Paid(status),
        Ok(CodePayment::Declined { code, message }) => {
            return CodeOutcome::Declined { code, message }
        }
        Ok(CodePayment::Waiting) => {}
        Err(err) if err.outcome_unknown() => {}
        Err(err) => {
            return CodeOutcome::Declined {
                code: "refused".into(),
                message: err.to_string(),
            }
        }
    }
    while started.elapsed() < CODE_WAIT {
        tokio::time::sleep(POLL_EVERY).await;
        match query_code(connection, &trade.out_trade_no).await {
            Ok(status) if status.state == TradeState::Paid => return CodeOutcome::Paid(status),
            Ok(status) if matches!(status.state, TradeState::Closed | TradeState::Failed) => {
                return CodeOutcome::Declined {
                    code: "payment_failed".into(),
                    message: "The customer did not pay with the code.".into(),
                }
            }
            _ => {}
        }
    }
    match reverse(connection, &trade.out_trade_no).await {
        Ok(()) => CodeOutcome::Declined {
            code: "expired".into(),
            message: format!(
                "The customer did not confirm within {} s; the payment was reversed.",
                CODE_WAIT.as_secs()
            ),
        },
        Err(err) => CodeOutcome::Unknown(err.to_string()),
    }
}
