//! Settling what a crash (or a lost answer) left in flight.
//!
//! An attempt still pending after `attempt_stale_ms` (longer than any
//! connector call may take) was orphaned: its request died between the
//! connector's answer and phase two. The acquirer is the truth, so we ask it
//! (`Connector::query`) and finish the attempt as it says: an authorization
//! it approved is completed, one it never saw failed; a capture or void it
//! made is completed, one it did not make is abandoned. The worker also
//! polls unsettled refunds until the acquirer's answer is final.

use super::attempts::{self, Attempt, AttemptKind, PENDING};
use super::capture::{abandon, canceled, captured};
use super::outcome::{approved, authentication_required, declined};
use super::records;
use super::render::render_refund;
use super::{risk, Ctx};
use crate::error::{ApiError, ApiResult};
use crate::events::{event, Origin};
use crate::idempotency::Executed;
use crate::state::AppState;
use portcullis_connectors::{AttemptState, CaptureOutcome, Decline, DeclineCode, RefundOutcome};
use portcullis_domain::charges::Charge;
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_domain::refunds::{Refund, RefundStatus};
use portcullis_store::{ScanOp, ScanQuery, Scope, SqlValue, Table, WriteSet};
use std::time::Duration;

/// Most attempts or refunds settled per pass.
const SETTLED_PER_PASS_MAX: usize = 100;

/// Settles stale attempts and unsettled refunds every `recovery_interval_ms`
/// until `shutdown` resolves.
pub async fn run(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let interval = Duration::from_millis(state.payments.recovery_interval_ms);
    loop {
        if let Err(err) = settle_stale_attempts(&state).await {
            tracing::warn!(error = %err.message, "recovery pass failed");
        }
        if let Err(err) = settle_refunds(&state).await {
            tracing::warn!(error = %err.message, "refund settlement pass failed");
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

fn stale_before_s(state: &AppState) -> i64 {
    state.now() - (state.payments.attempt_stale_ms / 1000) as i64
}

async fn settle_stale_attempts(state: &AppState) -> ApiResult<()> {
    let query = ScanQuery {
        filters: vec![("state", ScanOp::Equal, SqlValue::Text(PENDING.to_owned()))],
        created_before: Some(stale_before_s(state) + 1),
        limit: SETTLED_PER_PASS_MAX,
    };
    for found in state.store.scan(Table::PaymentAttempts, &query).await? {
        let attempt: Attempt =
            serde_json::from_str(&found.doc.body).map_err(|e| ApiError::internal(&e))?;
        if attempt.created > stale_before_s(state) {
            continue;
        }
        if let Err(err) = settle(state, &found.scope, &attempt).await {
            tracing::warn!(attempt = %attempt.id, error = %err.message, "could not settle an attempt yet");
        }
    }
    Ok(())
}

/// Called when a request (sent with idempotency key `key`) finds an intent
/// with a pending attempt: settles it if stale (then the request retries on
/// fresh state), otherwise refuses, since another request is still waiting
/// for the connector. When that other request is this one's own earlier
/// send (its claim's lease ran out), the refusal is a 503, which is not
/// stored: the retry is answered once the attempt is settled.
pub async fn resolve_stale_or_refuse(
    state: &AppState,
    scope: &Scope,
    intent: &PaymentIntent,
    key: Option<&str>,
) -> ApiResult<()> {
    let attempt_id = intent.pending_attempt.as_deref().unwrap_or_default();
    let (_, attempt) = attempts::load(state, scope, attempt_id).await?;
    if attempt.created <= stale_before_s(state) {
        return settle_locked(state, scope, &attempt).await;
    }
    if attempt.made_under(key) {
        return Err(ApiError::unavailable(&format_args!(
            "a retry found its earlier send's attempt {} still pending",
            attempt.id
        )));
    }
    Err(super::unexpected_state(
        intent,
        "changed while an earlier request is still with the acquirer",
    ))
}

pub(crate) async fn settle(state: &AppState, scope: &Scope, attempt: &Attempt) -> ApiResult<()> {
    let _lock = state.locks.lock(&attempt.payment_intent).await;
    settle_locked(state, scope, attempt).await
}

/// Settles `attempt`; the caller holds the intent's lock.
async fn settle_locked(state: &AppState, scope: &Scope, attempt: &Attempt) -> ApiResult<()> {
    let (_, intent, attempt_doc, attempt) =
        attempts::reload(state, scope, &attempt.payment_intent, &attempt.id).await?;
    if attempt.resolved {
        return Ok(());
    }
    let origin = Origin::default();
    let ctx = Ctx {
        state,
        scope,
        origin: &origin,
    };
    if intent.pending_attempt.as_deref() != Some(attempt.id.as_str()) {
        // The intent moved on without it (an abandoned attempt record).
        let mut writes = WriteSet::new();
        writes.push(attempt.resolve(scope, attempt_doc.version)?);
        return Ok(state.store.commit(writes).await?);
    }
    if attempt.kind == AttemptKind::Authorize {
        // Recovering an authorization may undo it at the acquirer (ISO
        // 8583 reverses): first fence off the request that made it, which
        // may still be about to commit its answer.
        let mut fence = WriteSet::new();
        fence.push(attempt.fence(scope, attempt_doc.version)?);
        match state.store.commit(fence).await {
            Ok(()) => {}
            // That request committed first: nothing to recover.
            Err(portcullis_store::StoreError::Conflict) => return Ok(()),
            Err(err) => return Err(err.into()),
        }
    }
    let (doc, intent, attempt_doc, attempt) =
        attempts::reload(state, scope, &attempt.payment_intent, &attempt.id).await?;
    // An authorization is recovered as such (ISO 8583 reverses it, since
    // its approval was never committed); a capture or a void only asks
    // after the authorization it follows, which must not be undone.
    let connector = crate::routing::connectors::for_attempt(state, scope, &attempt).await?;
    let record = match attempt.kind {
        AttemptKind::Authorize => connector.recover_authorization(&attempt.id).await,
        AttemptKind::Capture | AttemptKind::Void => {
            connector.query(attempt.authorization_id()).await
        }
    }
    .map_err(|e| ApiError::unavailable(&e))?;
    tracing::info!(attempt = %attempt.id, kind = ?attempt.kind, found = ?record.as_ref().map(|r| r.state), "settling an orphaned attempt");
    let settled = match attempt.kind {
        AttemptKind::Authorize => {
            settle_authorization(&ctx, (doc, intent), (attempt_doc, &attempt), record).await?
        }
        AttemptKind::Capture => match record {
            Some(r) if r.state == AttemptState::Captured => {
                let outcome = CaptureOutcome {
                    captured_minor: r.captured_minor,
                    dispute: r.dispute,
                };
                captured(&ctx, (doc, intent), (attempt_doc, &attempt), outcome).await?
            }
            _ => return abandon(&ctx, (doc, intent), (attempt_doc, &attempt)).await,
        },
        AttemptKind::Void => match record {
            Some(r) if r.state == AttemptState::Voided => {
                canceled(&ctx, (doc, intent), Some((attempt_doc, &attempt)), None).await?
            }
            _ => return abandon(&ctx, (doc, intent), (attempt_doc, &attempt)).await,
        },
    };
    // The acquirer was asked already: a conflict with a follow-up (a visit
    // of the session's page completing it) re-plans that follow-up only.
    crate::idempotency::commit_unkeyed(state, settled.writes, settled.replan.as_ref()).await
}

async fn settle_authorization(
    ctx: &Ctx<'_>,
    (doc, intent): (portcullis_store::Doc, PaymentIntent),
    (attempt_doc, attempt): (portcullis_store::Doc, &Attempt),
    record: Option<portcullis_connectors::AttemptRecord>,
) -> ApiResult<Executed> {
    let method_id = intent.payment_method.clone().unwrap_or_default();
    let (_, method) =
        super::methods::load(ctx.state, ctx.scope, &method_id, "payment_method").await?;
    // The verdict is not kept on the attempt: assess again (the attempt was
    // counted when it was made) for the outcome's risk fields and counters.
    let risk_input = risk::RiskInput {
        intent: &intent,
        method: Some(&method),
        payment_method_type: "card",
        ip: intent.customer_ip.as_deref().and_then(|ip| ip.parse().ok()),
        authenticated: attempt.authenticated,
        off_session: false,
    };
    let assessment = risk::assess(ctx.state, ctx.scope, &risk_input).await?;
    // Authorized, declined (or never seen: settled as declined), or
    // neither (authentication required).
    let authorized = match record.as_ref().map(|r| r.state) {
        Some(AttemptState::Authorized | AttemptState::Captured) => Some(true),
        Some(AttemptState::AuthenticationRequired) => None,
        _ => Some(false),
    };
    let resolution = match record {
        Some(r) if matches!(r.state, AttemptState::Authorized | AttemptState::Captured) => {
            approved(
                ctx,
                intent,
                &method,
                attempt,
                &r.reference,
                r.dispute,
                &assessment,
            )?
        }
        Some(r) if r.state == AttemptState::AuthenticationRequired => {
            authentication_required(ctx, intent)?
        }
        Some(r) if r.state == AttemptState::Declined && r.decline.is_some() => declined(
            ctx,
            intent,
            &method,
            attempt,
            r.decline.as_ref().expect("checked"),
            &assessment,
        )?,
        // Never seen (or released): nothing is held on the card.
        _ => {
            let decline = Decline {
                code: DeclineCode::ProcessingError,
                decline_code: None,
                message: "An error occurred while processing your card. Try again in a little bit."
                    .to_owned(),
                network_decline_code: None,
            };
            declined(ctx, intent, &method, attempt, &decline, &assessment)?
        }
    };
    let mut writes = WriteSet::new();
    writes.push(records::update(ctx.scope, &doc, &resolution.intent)?);
    writes.push(attempt.resolve(ctx.scope, attempt_doc.version)?);
    writes.ops.extend(resolution.writes.ops);
    if let Some(authorized) = authorized {
        writes.ops.extend(assessment.outcome_writes(authorized));
    }
    let settled = Executed::ok(resolution.body, writes);
    super::follow_ups::with_follow_ups(ctx, &resolution.intent, settled).await
}

async fn settle_refunds(state: &AppState) -> ApiResult<()> {
    let query = ScanQuery {
        filters: vec![("settled", ScanOp::Equal, SqlValue::Bool(false))],
        created_before: None,
        limit: SETTLED_PER_PASS_MAX,
    };
    for found in state.store.scan(Table::Refunds, &query).await? {
        let refund: Refund =
            serde_json::from_str(&found.doc.body).map_err(|e| ApiError::internal(&e))?;
        // A refund to the customer balance is settled when written.
        let Some(charge) = refund.charge.as_deref() else {
            continue;
        };
        if let Err(err) = super::refunds::settle(state, &found.scope, charge, &refund.id).await {
            tracing::warn!(refund = %refund.id, error = %err.message, "could not settle a refund yet");
        }
    }
    Ok(())
}

/// Phase two of a refund: what the acquirer now says of it.
pub fn refund_outcome_writes(
    ctx: &Ctx<'_>,
    (refund_doc, mut refund): (portcullis_store::Doc, Refund),
    (charge_doc, mut charge): (portcullis_store::Doc, Charge),
    outcome: RefundOutcome,
    settle_by_s: i64,
) -> ApiResult<(Refund, WriteSet)> {
    let before = refund.status;
    refund.sent_to_connector = true;
    match outcome {
        RefundOutcome::Pending => refund.status = RefundStatus::Pending,
        RefundOutcome::Succeeded => {
            refund.status = RefundStatus::Succeeded;
            refund.settled = ctx.state.now() >= settle_by_s;
        }
        // A cancel whose answer was lost: the acquirer reports it as a
        // refund that failed with reason `canceled`.
        RefundOutcome::Failed { reason } if reason == "canceled" => {
            refund.status = RefundStatus::Canceled;
            refund.settled = true;
        }
        RefundOutcome::Failed { reason } => {
            refund.status = RefundStatus::Failed;
            refund.failure_reason = Some(reason);
            refund.settled = true;
        }
    }
    let mut writes = WriteSet::new();
    let now = ctx.state.now();
    if refund.status.releases_amount() && !before.releases_amount() {
        charge.amount_refunded_minor -= refund.amount_minor;
        writes.ops.extend(super::ledger_postings::refund_failure(
            ctx,
            &mut charge,
            &mut refund,
        )?);
        writes.push(records::update(ctx.scope, &charge_doc, &charge)?);
    }
    let refund_json = render_refund(&refund);
    if refund.status != before {
        let kind = if refund.status == RefundStatus::Failed {
            "refund.failed"
        } else {
            "refund.updated"
        };
        writes.push(event(ctx.scope, kind, &refund_json, None, ctx.origin, now));
        if refund.status == RefundStatus::Succeeded {
            writes.push(event(
                ctx.scope,
                "charge.refunded",
                &super::charge_wire::ChargeWire::of(&charge),
                None,
                ctx.origin,
                now,
            ));
        }
    }
    writes.push(records::update(ctx.scope, &refund_doc, &refund)?);
    Ok((refund, writes))
}
