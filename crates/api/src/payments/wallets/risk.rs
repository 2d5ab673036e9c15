//! The risk check of a wallet payment, before the provider is called —
//! at confirm, and for the aggregated QR again when the customer picks
//! the wallet: the merchant's rules and the signals that need no card
//! (amount, currency, `payment_method_type`, customer, email, IP, their
//! velocity and lists). Card-only signals stay unknown, so a rule that
//! reads them does not match. A blocked payment is answered as a blocked
//! card payment is; an allowed one keeps its verdict for the charge
//! (`wallet_risk`).
//!
//! The rules' other actions, as Stripe Radar treats wallets: `review`
//! lets the payment through and places its charge in review once paid;
//! `request_3ds` asks for 3-D Secure, which is for cards only — a wallet
//! authenticates its customer itself (wallet password or biometrics), so
//! the rules are read again as for an authenticated payment and the rule
//! is recorded as satisfied by the wallet's authentication.
//!
//! Payments from the customer balance pass the same check
//! (`payment_method_type = customer_balance`), which is why the rule's
//! action is handed back: `customer_balance::payments` acts on `review`
//! and on `request_3ds` (the holder's step-up, which the balance has and
//! a wallet does not need).

use crate::error::ApiResult;
use crate::idempotency::Executed;
use crate::payments::confirm::finish_resolution;
use crate::payments::outcome::{blocked, PaidWith, Resolution};
use crate::payments::records;
use crate::payments::risk::{assess, Assessment, RiskInput};
use crate::payments::Ctx;
use portcullis_domain::payment_intents::{PaymentIntent, WalletRisk};
use portcullis_risk::Action;
use portcullis_store::{Doc, WriteOp, WriteSet};

/// `payment_method_type` of an aggregated QR, whose wallet the customer
/// picks later on our page.
pub const AGGREGATED_TYPE: &str = "wallet_qr";

/// What the check at confirm decided: go on with the writes (and the
/// action of the rule that matched, `allow` when none did), or the
/// blocked answer.
pub enum Checked {
    Allowed(PaymentIntent, WriteSet, Action),
    Blocked(Executed),
}

/// What the check at the aggregated QR's pick decided: go on with the
/// writes, or the writes that fail the intent.
pub enum Picked {
    Allowed(PaymentIntent, WriteSet),
    Blocked(WriteSet),
}

/// The verdict on one attempt, before it is written.
enum Decided {
    Allowed(PaymentIntent, Vec<WriteOp>, Action),
    Blocked(Resolution, Vec<WriteOp>),
}

/// Assesses `intent` (confirmed with `payment_method_type`); the
/// assessment's writes join `writes`.
pub async fn check(
    ctx: &Ctx<'_>,
    doc: Option<Doc>,
    intent: PaymentIntent,
    mut writes: WriteSet,
    payment_method_type: &str,
) -> ApiResult<(Option<Doc>, Checked)> {
    match decide(ctx, intent, payment_method_type, false).await? {
        Decided::Allowed(intent, ops, action) => {
            writes.ops.extend(ops);
            Ok((doc, Checked::Allowed(intent, writes, action)))
        }
        Decided::Blocked(resolution, ops) => {
            writes.ops.extend(ops);
            let executed = finish_resolution(doc, resolution, writes, ctx.scope)?;
            Ok((None, Checked::Blocked(executed)))
        }
    }
}

/// Assesses the aggregated QR's `intent` (stored as `doc`) with the wallet
/// the customer picked; `counted` when this attempt's counters were
/// written at confirm already (the first pick).
pub async fn check_pick(
    ctx: &Ctx<'_>,
    doc: &Doc,
    intent: PaymentIntent,
    payment_method_type: &str,
    counted: bool,
) -> ApiResult<Picked> {
    match decide(ctx, intent, payment_method_type, counted).await? {
        Decided::Allowed(intent, ops, _) => Ok(Picked::Allowed(intent, WriteSet { ops })),
        Decided::Blocked(mut resolution, ops) => {
            // The code's QR is no longer the way to pay this intent.
            resolution.intent.next_action = None;
            let mut writes = WriteSet { ops };
            writes.push(records::update(ctx.scope, doc, &resolution.intent)?);
            writes.ops.extend(resolution.writes.ops);
            Ok(Picked::Blocked(writes))
        }
    }
}

async fn decide(
    ctx: &Ctx<'_>,
    mut intent: PaymentIntent,
    payment_method_type: &str,
    counted: bool,
) -> ApiResult<Decided> {
    let (assessment, satisfied_by_wallet_rule) =
        assess_wallet(ctx, &intent, payment_method_type).await?;
    let ops = assessment.attempt_writes(&intent.id, counted)?;
    if assessment.blocked_by().is_some() {
        let paid_with = PaidWith::Wallet(payment_method_type);
        let resolution = blocked(ctx, intent, paid_with, &assessment)?;
        return Ok(Decided::Blocked(resolution, ops));
    }
    intent.wallet_risk = Some(WalletRisk {
        risk_level: assessment.risk_level.to_owned(),
        risk_score: assessment.risk_score,
        signals: assessment.signals.clone(),
        review_rule: (assessment.action == Action::Review)
            .then(|| assessment.rule.clone())
            .flatten(),
        satisfied_by_wallet_rule,
    });
    Ok(Decided::Allowed(intent, ops, assessment.action))
}

/// The assessment of a wallet payment, and the `request_3ds` rule the
/// wallet's own authentication satisfied, if one matched.
async fn assess_wallet(
    ctx: &Ctx<'_>,
    intent: &PaymentIntent,
    payment_method_type: &str,
) -> ApiResult<(Assessment, Option<String>)> {
    let mut input = RiskInput {
        intent,
        method: None,
        payment_method_type,
        ip: intent.customer_ip.as_deref().and_then(|ip| ip.parse().ok()),
        authenticated: false,
        off_session: false,
    };
    let first = assess(ctx.state, ctx.scope, &input).await?;
    let balance = payment_method_type == crate::customer_balance::payments::METHOD_TYPE;
    if first.action != Action::RequestThreeDs || balance {
        return Ok((first, None));
    }
    // The wallet authenticates its customer before it pays: read the rules
    // again as for an authenticated payment (`request_3ds` rules skipped,
    // `:is_authenticated:` true), so block and review rules still apply.
    input.authenticated = true;
    let authenticated = assess(ctx.state, ctx.scope, &input).await?;
    Ok((authenticated, first.rule))
}
