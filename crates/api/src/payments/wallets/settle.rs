//! A provider's word about a trade applied to its intent, by the
//! notification receivers and the worker alike: checked against the
//! intent's account, current trade, amount and currency; idempotent (an
//! intent already paid is left alone; a second trade paid for it, or a
//! replaced trade paid, is recorded and refunded by [`super::duplicate`]); and committed with a version check,
//! so two instances applying the same news commit it once. A payment
//! records its charge (what refunds take from) and books its capture in the
//! ledger (the provider's receivable) in the same write set; an expiry cancels the intent with `payment_intent.canceled`;
//! a trade closed or failed unpaid before then fails the intent ([`super::unpaid`]).

use super::duplicate::{self, PaidNews};
use crate::error::{ApiError, ApiResult};
use crate::events::{event, Origin};
use crate::payments::ledger_postings::{self, Captured};
use crate::payments::records::{self, load};
use crate::payments::render::{render_charge, render_payment_intent, NOT_ASSESSED};
use crate::payments::Ctx;
use crate::routing::connectors;
use crate::state::AppState;
use portcullis_connectors::wallets::{TradeState, TradeStatus};
use portcullis_domain::charges::{Charge, ChargeStatus, Outcome, WalletCharge};
use portcullis_domain::ids::new_id;
use portcullis_domain::payment_intents::{
    CancellationReason, IntentEvent, PaymentIntent, PaymentIntentStatus, WalletRisk, WalletTrade,
};
use portcullis_risk::Signal;
use portcullis_store::{Doc, Scope, StoreError, WriteSet};

/// What applying a provider's word did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The intent changed (paid or expired).
    Changed,
    /// Nothing to change: already so, or not final news.
    Unchanged,
    /// The news does not fit the intent; the reason is logged.
    Refused(String),
}

/// Why news about a trade does not reach its intent.
enum Mismatch {
    /// A trade of the intent that a newer one replaced (the customer
    /// rescanned an aggregated code after it ended unpaid).
    Superseded(String),
    /// Not our trade, or not through this account.
    Other(String),
}

impl Mismatch {
    fn reason(self) -> String {
        match self {
            Mismatch::Superseded(reason) | Mismatch::Other(reason) => reason,
        }
    }
}

/// The intent of `out_trade_no` in `scope`, with its trade, if the trade
/// is the intent's current one through `account`.
async fn trade_intent(
    state: &AppState,
    scope: &Scope,
    account: &str,
    out_trade_no: &str,
) -> ApiResult<Result<(Doc, PaymentIntent, WalletTrade), Mismatch>> {
    let id = WalletTrade::intent_of(out_trade_no);
    let loaded = match load::<PaymentIntent>(state, scope, id, "id").await {
        Ok(loaded) => loaded,
        Err(err) if err.status == axum::http::StatusCode::NOT_FOUND => {
            return Ok(Err(Mismatch::Other(format!(
                "no intent for out_trade_no {out_trade_no}"
            ))))
        }
        Err(err) => return Err(err),
    };
    let (doc, intent) = loaded;
    let Some(trade) = intent.wallet.clone() else {
        return Ok(Err(Mismatch::Other(format!(
            "{id} is not a wallet payment"
        ))));
    };
    if trade.out_trade_no != out_trade_no {
        return Ok(Err(Mismatch::Superseded(format!(
            "{out_trade_no} is not {id}'s current trade ({})",
            trade.out_trade_no
        ))));
    }
    if trade.connector_account != account {
        return Ok(Err(Mismatch::Other(format!(
            "{id}'s trade is on {}, not {account}",
            trade.connector_account
        ))));
    }
    Ok(Ok((doc, intent, trade)))
}

/// Applies `status` of `out_trade_no` (reported in `currency`) through
/// connector account `account`.
pub async fn apply(
    ctx: &Ctx<'_>,
    account: &str,
    out_trade_no: &str,
    status: &TradeStatus,
    currency: &str,
) -> ApiResult<Applied> {
    let state = ctx.state;
    let id = WalletTrade::intent_of(out_trade_no).to_owned();
    let _lock = state.locks.lock(&id).await;
    let (doc, intent, current) = match trade_intent(state, ctx.scope, account, out_trade_no).await?
    {
        Ok((doc, intent, trade)) => (doc, intent, Some(trade)),
        Err(Mismatch::Superseded(_)) if is_paid(&status.state) => {
            let (doc, intent) = load::<PaymentIntent>(state, ctx.scope, &id, "id").await?;
            (doc, intent, None)
        }
        // A replaced trade that ended unpaid: nothing to do.
        Err(Mismatch::Superseded(_)) => return Ok(Applied::Unchanged),
        Err(other) => return Ok(Applied::Refused(other.reason())),
    };
    match (&status.state, &current) {
        (TradeState::Paid | TradeState::Refunded, _) => {}
        (TradeState::Closed | TradeState::Failed, Some(trade)) => {
            return match super::unpaid::failed_writes(ctx, &doc, intent, trade)? {
                Some(writes) => commit(state, writes).await,
                None => Ok(Applied::Unchanged),
            }
        }
        _ => return Ok(Applied::Unchanged),
    }
    if let Some(reason) = amount_mismatch(&intent, status, currency) {
        return Ok(Applied::Refused(reason));
    }
    // A replaced trade paid, its own payment told again, a second trade
    // paid, or a trade paid after its intent was canceled: never a second
    // payment of the intent, never a canceled intent paid.
    let cannot_take = matches!(
        intent.status,
        PaymentIntentStatus::Succeeded | PaymentIntentStatus::Canceled
    );
    let Some(trade) = current.filter(|_| !cannot_take) else {
        let news = PaidNews {
            doc: &doc,
            intent: &intent,
            account,
            out_trade_no,
            status,
        };
        return duplicate::paid_again(ctx, news).await;
    };
    match intent.status {
        PaymentIntentStatus::RequiresAction | PaymentIntentStatus::Processing => {}
        other => {
            tracing::error!(intent = %id, status = other.as_str(), "a wallet trade was paid for an intent no longer waiting: refund it");
            return Ok(Applied::Refused(format!(
                "{id} is {}, not waiting for payment",
                other.as_str()
            )));
        }
    }
    let writes = paid(ctx, &doc, intent, trade, status).await?;
    commit(state, writes).await
}

fn is_paid(state: &TradeState) -> bool {
    matches!(state, TradeState::Paid | TradeState::Refunded)
}

/// Why the provider's amount cannot be the intent's, if it cannot.
fn amount_mismatch(intent: &PaymentIntent, status: &TradeStatus, currency: &str) -> Option<String> {
    let amount = intent.amount.minor();
    let same = status.amount_fen == Some(amount)
        && currency.eq_ignore_ascii_case(intent.currency.as_str());
    (!same).then(|| {
        format!(
            "amount mismatch: the provider says {:?} {currency}, {} is {amount} {}",
            status.amount_fen,
            intent.id,
            intent.currency.as_str()
        )
    })
}

pub(super) async fn commit(state: &AppState, writes: WriteSet) -> ApiResult<Applied> {
    match state.store.commit(writes).await {
        Ok(()) => Ok(Applied::Changed),
        // Another instance applied news to this intent meanwhile; the
        // provider (or the worker) tries again and finds it settled.
        Err(StoreError::Conflict) => Err(ApiError::concurrent_change()),
        Err(err) => Err(err.into()),
    }
}

/// The writes of a paid trade: the intent succeeded with its wallet
/// charge (captured, refundable through the account's connector), their
/// events, the capture booked against the provider's receivable, and its
/// follow-ups (a top-up's credit to its customer's wallet, the completion
/// of the Checkout Session it pays).
pub(crate) async fn paid(
    ctx: &Ctx<'_>,
    doc: &Doc,
    mut intent: PaymentIntent,
    mut trade: WalletTrade,
    status: &TradeStatus,
) -> ApiResult<WriteSet> {
    intent
        .apply(IntentEvent::WalletPaid, "paid")
        .map_err(|e| ApiError::internal(&e))?;
    intent.amount_received_minor = intent.amount.minor();
    intent.next_action = None;
    intent.pending_attempt = None;
    trade.provider_trade_id = status.provider_trade_id.clone();
    let mut charge = wallet_charge(ctx, &intent, &trade, status.payer.as_deref());
    let (txn_id, fee_minor, booked) = book_capture(ctx, &intent, &trade.provider, &intent.id)?;
    charge.balance_transaction = Some(txn_id);
    charge.fee_minor = fee_minor;
    intent.latest_charge = Some(charge.id.clone());
    intent.wallet = Some(trade);
    let mut writes = WriteSet::new();
    writes.ops.extend(booked);
    if charge.outcome.kind == IN_REVIEW {
        let (review, opened) = crate::payments::reviews::open(ctx, &charge)?;
        intent.review = Some(review.clone());
        charge.review = Some(review);
        writes.ops.extend(opened);
    }
    if intent.wallet_risk.is_some() {
        let counted = crate::payments::risk::wallet_paid_writes(ctx.state, ctx.scope, &intent);
        writes.ops.extend(counted);
    }
    writes.push(records::insert(ctx.scope, &charge)?);
    writes.push(records::update(ctx.scope, doc, &intent)?);
    let now = ctx.state.now();
    writes.push(charge_succeeded(ctx, &charge));
    writes.push(event(
        ctx.scope,
        "payment_intent.succeeded",
        &render_payment_intent(&intent),
        None,
        ctx.origin,
        now,
    ));
    let follow_ups = crate::payments::follow_ups::follow_up_writes(ctx, &intent).await?;
    writes.ops.extend(follow_ups);
    Ok(writes)
}

/// The `charge.succeeded` event of a wallet trade's charge.
pub(super) fn charge_succeeded(ctx: &Ctx<'_>, charge: &Charge) -> portcullis_store::WriteOp {
    event(
        ctx.scope,
        "charge.succeeded",
        &render_charge(charge),
        None,
        ctx.origin,
        ctx.state.now(),
    )
}

/// `outcome.type` of a charge a `review` rule placed in review.
const IN_REVIEW: &str = "manual_review";

/// The charge's `outcome` by the intent's risk verdict: in review when a
/// `review` rule matched; a `request_3ds` rule the wallet's own
/// authentication satisfied is named, with `is_3d_secure_authenticated`
/// among the signals. Intents confirmed before wallet payments were assessed have
/// no verdict (`not_assessed`).
fn wallet_outcome(risk: Option<&WalletRisk>) -> Outcome {
    let mut outcome = Outcome {
        network_status: "approved_by_network".into(),
        network_decline_code: None,
        reason: None,
        risk_level: risk.map_or(NOT_ASSESSED.into(), |r| r.risk_level.clone()),
        risk_score: risk.map_or(0, |r| r.risk_score),
        rule: None,
        seller_message: "Payment complete.".into(),
        kind: "authorized".into(),
        signals: risk.map(|r| r.signals.clone()).unwrap_or_default(),
    };
    let Some(risk) = risk else { return outcome };
    if let Some(rule) = &risk.satisfied_by_wallet_rule {
        outcome.rule = Some(rule.clone());
        outcome.seller_message = format!(
            "Payment complete. Rule {rule} (request_3ds) was satisfied by the wallet's own authentication of the customer."
        );
        outcome
            .signals
            .insert(Signal::IsAuthenticated.name().into(), true.into());
    }
    if let Some(rule) = &risk.review_rule {
        outcome.rule = Some(rule.clone());
        outcome.kind = IN_REVIEW.into();
        outcome.seller_message = "Portcullis placed this payment in review.".into();
    }
    outcome
}

/// The charge of a paid wallet trade: captured in full, its connector
/// reference naming the account and the trade (`ca:<ca_…>:<out_trade_no>`)
/// so refunds reach the provider through `routing::connectors`.
pub(super) fn wallet_charge(
    ctx: &Ctx<'_>,
    intent: &PaymentIntent,
    trade: &WalletTrade,
    payer: Option<&str>,
) -> Charge {
    Charge {
        id: new_id("ch"),
        created: ctx.state.now(),
        livemode: ctx.scope.livemode,
        amount_minor: intent.amount.minor(),
        amount_captured_minor: intent.amount.minor(),
        amount_refunded_minor: 0,
        currency: intent.currency,
        captured: true,
        status: ChargeStatus::Succeeded,
        payment_intent: intent.id.clone(),
        payment_method: intent.payment_method.clone(),
        customer: intent.customer.clone(),
        description: intent.description.clone(),
        failure_code: None,
        failure_message: None,
        outcome: wallet_outcome(intent.wallet_risk.as_ref()),
        card: None,
        disputed: false,
        connector_reference: Some(connectors::wallet_reference(
            &trade.connector_account,
            &trade.out_trade_no,
        )),
        attempt: trade.out_trade_no.clone(),
        balance_transaction: None,
        fee_minor: 0,
        fee_returned_minor: 0,
        review: None,
        presence: Default::default(),
        routing: None,
        wallet: Some(paid_details(ctx, trade, payer)),
        receivable: None,
    }
}

/// `payment_method_details` of a paid trade, from what the provider said:
/// its transaction id, Alipay's buyer id, and a fingerprint keyed per
/// merchant from the buyer the provider named (none when it named none).
fn paid_details(ctx: &Ctx<'_>, trade: &WalletTrade, payer: Option<&str>) -> WalletCharge {
    let fingerprint = payer.map(|buyer| {
        ctx.state
            .vault
            .wallet_fingerprint(ctx.scope.merchant_id.as_str(), &trade.provider, buyer)
    });
    WalletCharge {
        provider: trade.provider.clone(),
        transaction_id: trade.provider_trade_id.clone(),
        buyer_id: payer
            .filter(|_| trade.provider == "alipay")
            .map(str::to_owned),
        fingerprint,
    }
}

/// Books a wallet payment's capture: the fee by the merchant's schedule
/// (payment method `alipay` / `wechat_pay`), the net pending until the
/// settlement delay passed, owed by the provider (its receivable).
/// `source` keys the ledger transaction: the intent for its payment, the
/// charge for a duplicate trade's.
pub(super) fn book_capture(
    ctx: &Ctx<'_>,
    intent: &PaymentIntent,
    provider: &str,
    source: &str,
) -> ApiResult<(String, i64, Vec<portcullis_store::WriteOp>)> {
    let captured = Captured {
        source,
        amount_minor: intent.amount.minor(),
        currency: intent.currency,
        payment_method: provider,
        card_brand: None,
        connector: provider,
        description: intent.description.clone(),
    };
    ledger_postings::book_capture(ctx, &captured)
}

/// Cancels an intent whose trade expired (closed at the provider first by
/// the caller): `payment_intent.canceled`, reason `abandoned`.
pub async fn expired(ctx: &Ctx<'_>, out_trade_no: &str, account: &str) -> ApiResult<Applied> {
    let id = WalletTrade::intent_of(out_trade_no).to_owned();
    let _lock = ctx.state.locks.lock(&id).await;
    match trade_intent(ctx.state, ctx.scope, account, out_trade_no).await? {
        Ok((doc, intent, _)) => cancel_expired(ctx, &doc, intent).await,
        Err(mismatch) => Ok(Applied::Refused(mismatch.reason())),
    }
}

/// Cancels an aggregated QR's intent whose customer never chose a wallet.
pub async fn expired_unchosen(ctx: &Ctx<'_>, id: &str) -> ApiResult<Applied> {
    let _lock = ctx.state.locks.lock(id).await;
    let (doc, intent) = load::<PaymentIntent>(ctx.state, ctx.scope, id, "id").await?;
    let unchosen = intent
        .wallet
        .as_ref()
        .is_some_and(|w| w.provider == super::aggregated::UNCHOSEN);
    if !unchosen {
        return Ok(Applied::Unchanged);
    }
    cancel_expired(ctx, &doc, intent).await
}

async fn cancel_expired(ctx: &Ctx<'_>, doc: &Doc, mut intent: PaymentIntent) -> ApiResult<Applied> {
    let state = ctx.state;
    if intent.status.after(IntentEvent::WalletExpired).is_none() {
        return Ok(Applied::Unchanged);
    }
    intent
        .apply(IntentEvent::WalletExpired, "expired")
        .map_err(|e| ApiError::internal(&e))?;
    intent.canceled_at = Some(state.now());
    intent.cancellation_reason = Some(CancellationReason::Abandoned);
    intent.next_action = None;
    intent.pending_attempt = None;
    let mut writes = WriteSet::new();
    writes.push(records::update(ctx.scope, doc, &intent)?);
    writes.push(event(
        ctx.scope,
        "payment_intent.canceled",
        &render_payment_intent(&intent),
        None,
        ctx.origin,
        state.now(),
    ));
    commit(state, writes).await
}

/// A context for background work (no request).
pub fn background_origin() -> Origin {
    Origin::default()
}
