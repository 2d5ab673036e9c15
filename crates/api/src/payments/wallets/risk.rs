//! The risk check of a wallet payment, at confirm, before the provider is
//! called: the merchant's rules and the signals that need no card (amount,
//! currency, `payment_method_type`, customer, email, IP, their velocity
//! and lists). Card-only signals stay unknown, so a rule that reads them
//! does not match. A blocked payment is answered as a blocked card payment
//! is; an allowed one keeps its score for the charge (`wallet_risk`).
//! Payments from the customer balance pass the same check
//! (`payment_method_type = customer_balance`), which is why the rule's
//! action is handed back: `customer_balance::payments` acts on `review`
//! and `request_3ds`.

use crate::error::ApiResult;
use crate::idempotency::Executed;
use crate::payments::confirm::finish_resolution;
use crate::payments::outcome::{blocked, PaidWith};
use crate::payments::risk::{assess, Assessment, RiskInput};
use crate::payments::Ctx;
use portcullis_domain::payment_intents::{PaymentIntent, WalletRisk};
use portcullis_risk::Action;
use portcullis_store::{Doc, WriteSet};

/// `payment_method_type` of an aggregated QR, whose wallet the customer
/// picks later on our page.
pub const AGGREGATED_TYPE: &str = "wallet_qr";

/// What the check decided: go on with the writes (and the action of the
/// rule that matched, `allow` when none did), or the blocked answer.
pub enum Checked {
    Allowed(PaymentIntent, WriteSet, Action),
    Blocked(Executed),
}

/// Assesses `intent` (confirmed with `payment_method_type`); the
/// assessment's writes join `writes`.
pub async fn check(
    ctx: &Ctx<'_>,
    doc: Option<Doc>,
    mut intent: PaymentIntent,
    mut writes: WriteSet,
    payment_method_type: &str,
) -> ApiResult<(Option<Doc>, Checked)> {
    let input = RiskInput {
        intent: &intent,
        method: None,
        payment_method_type,
        ip: intent.customer_ip.as_deref().and_then(|ip| ip.parse().ok()),
        authenticated: false,
        off_session: false,
    };
    let assessment = assess(ctx.state, ctx.scope, &input).await?;
    writes
        .ops
        .extend(assessment.attempt_writes(&intent.id, false)?);
    if assessment.blocked_by().is_some() {
        let resolution = blocked(
            ctx,
            intent,
            PaidWith::Wallet(payment_method_type),
            &assessment,
        )?;
        let executed = finish_resolution(doc, resolution, writes, ctx.scope)?;
        return Ok((None, Checked::Blocked(executed)));
    }
    intent.wallet_risk = Some(verdict(&assessment));
    Ok((doc, Checked::Allowed(intent, writes, assessment.action)))
}

fn verdict(assessment: &Assessment) -> WalletRisk {
    WalletRisk {
        risk_level: assessment.risk_level.to_owned(),
        risk_score: assessment.risk_score,
        signals: assessment.signals.clone(),
        rule: assessment.rule.clone(),
        in_review: assessment.action == Action::Review,
    }
}
