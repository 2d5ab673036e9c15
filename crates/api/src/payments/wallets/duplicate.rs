//! A wallet trade paid when its intent cannot take the money: a trade a
//! newer one replaced (the customer rescanned an aggregated code after a
//! decline, then the old trade was paid after all), any trade of an
//! intent already paid through another charge, or a trade paid after its
//! intent was canceled (the merchant's cancel, or the trade's expiry,
//! crossed the customer's payment). A PaymentIntent succeeds
//! once, so the money is recorded as a charge of its own on the intent —
//! captured (its ledger capture booked like any wallet payment) and at
//! once refunded in full, reason `duplicate`, through the wallet
//! connector (`alipay.trade.refund` / WeChat Pay's refund). The provider's
//! notification is then acknowledged, so its retries stop.
//!
//! Idempotent: the charge is found again by its trade (`attempt` =
//! `out_trade_no`); it is recorded with a version check on the intent (two
//! instances record it once, the other answers a conflict and the
//! provider's retry finds it); the refund reserves its amount on the charge
//! with a version check, and the provider refunds once per refund id.

use super::account;
use super::settle::{self, Applied};
use crate::error::ApiResult;
use crate::payments::records::{self, decode_all};
use crate::payments::refunds::{refund, CreateRequest};
use crate::payments::Ctx;
use portcullis_connectors::wallets::TradeStatus;
use portcullis_domain::charges::{Charge, ChargeStatus};
use portcullis_domain::payment_intents::{PaymentIntent, PaymentIntentStatus, WalletTrade};
use portcullis_domain::refunds::{RefundReason, RefundStatus};
use portcullis_store::{CreatedRange, Doc, ListQuery, PageCursor, SqlValue, Table, WriteSet};

/// The most charges an intent is expected to have (each an attempt).
const CHARGES_OF_INTENT_MAX: usize = 100;

/// What the seller reads on a charge refunded as a duplicate trade.
const SELLER_MESSAGE: &str = "Paid through a wallet trade after the PaymentIntent was paid or its trade replaced; refunded in full at once (duplicate).";
/// What the seller reads on a charge paid for a canceled intent.
const SELLER_MESSAGE_CANCELED: &str = "Paid through a wallet trade after the PaymentIntent was canceled; refunded in full at once (duplicate).";

/// A paid trade's news, for an intent that may not take it.
pub struct PaidNews<'a> {
    /// The intent's record as loaded under its lock.
    pub doc: &'a Doc,
    pub intent: &'a PaymentIntent,
    /// The connector account whose notification (or query) told it.
    pub account: &'a str,
    pub out_trade_no: &'a str,
    pub status: &'a TradeStatus,
}

/// Records and refunds the paid trade unless it is the intent's own
/// payment (then nothing to do).
pub async fn paid_again(ctx: &Ctx<'_>, news: PaidNews<'_>) -> ApiResult<Applied> {
    let charges = charges_of(ctx, &news.intent.id).await?;
    let found = charges
        .into_iter()
        .find(|c| c.attempt == news.out_trade_no && c.status == ChargeStatus::Succeeded);
    let charge = match found {
        Some(c) if news.intent.latest_charge.as_deref() == Some(c.id.as_str()) => {
            return Ok(Applied::Unchanged)
        }
        Some(c) => c,
        None => record(ctx, &news).await?,
    };
    refund_in_full(ctx, &charge).await
}

async fn charges_of(ctx: &Ctx<'_>, intent_id: &str) -> ApiResult<Vec<Charge>> {
    let query = ListQuery {
        scope: ctx.scope.clone(),
        filters: vec![("payment_intent", SqlValue::Text(intent_id.to_owned()))],
        one_of: vec![],
        created: CreatedRange::default(),
        cursor: PageCursor::Newest,
        limit: CHARGES_OF_INTENT_MAX,
    };
    let page = ctx.state.store.list(Table::Charges, &query).await?;
    decode_all::<Charge>(&page.docs)
}

/// Commits the duplicate's charge (captured, booked, `charge.succeeded`)
/// with a version check on its intent, which it leaves as it was.
async fn record(ctx: &Ctx<'_>, news: &PaidNews<'_>) -> ApiResult<Charge> {
    let provider = account::in_scope(ctx.state, ctx.scope, news.account)
        .await?
        .account
        .kind
        .as_str();
    let trade = WalletTrade {
        provider: provider.to_owned(),
        connector_account: news.account.to_owned(),
        out_trade_no: news.out_trade_no.to_owned(),
        provider_trade_id: news.status.provider_trade_id.clone(),
        ..news.intent.wallet.clone().ok_or_else(|| {
            crate::error::ApiError::internal(&format_args!("{} has no trade", news.intent.id))
        })?
    };
    let mut charge = settle::wallet_charge(ctx, news.intent, &trade, news.status.payer.as_deref());
    charge.outcome.kind = "authorized".into();
    charge.outcome.rule = None;
    charge.outcome.seller_message = if news.intent.status == PaymentIntentStatus::Canceled {
        SELLER_MESSAGE_CANCELED
    } else {
        SELLER_MESSAGE
    }
    .into();
    let (txn_id, fee_minor, booked) = settle::book_capture(ctx, news.intent, provider, &charge.id)?;
    charge.balance_transaction = Some(txn_id);
    charge.fee_minor = fee_minor;
    let mut writes = WriteSet::new();
    writes.ops.extend(booked);
    writes.push(records::insert(ctx.scope, &charge)?);
    writes.push(records::update(ctx.scope, news.doc, news.intent)?);
    writes.push(settle::charge_succeeded(ctx, &charge));
    settle::commit(ctx.state, writes).await?;
    tracing::warn!(intent = %news.intent.id, charge = %charge.id, out_trade_no = news.out_trade_no, "a wallet trade was paid that its intent cannot take: recorded, refunding it in full");
    Ok(charge)
}

/// Refunds what remains of `charge` (nothing when a refund already took
/// it: the provider's retry, or another instance).
async fn refund_in_full(ctx: &Ctx<'_>, charge: &Charge) -> ApiResult<Applied> {
    if charge.refundable_minor() <= 0 {
        return Ok(Applied::Unchanged);
    }
    let create = CreateRequest {
        payment_intent: None,
        charge: Some(charge.id.clone()),
        amount: None,
        reason: Some(RefundReason::Duplicate),
        metadata: None,
    };
    let done = refund(ctx, &create).await?;
    let body = done.body.tree()?;
    if body["status"] == RefundStatus::Failed.as_str() {
        tracing::error!(charge = %charge.id, refund = %body["id"], "the provider refused to refund a duplicate wallet trade: refund it at the provider");
    }
    ctx.state.store.commit(done.writes).await?;
    Ok(Applied::Changed)
}
