//! Capturing and canceling PaymentIntents. Capturing an authorization and
//! voiding one are connector calls, so both run in atomic phases too.

use super::attempts::{self, Attempt, AttemptKind};
use super::charge_wire::ChargeWire;
use super::outcome::dispute_writes;
use super::records::{self, load};
use super::render::render_payment_intent;
use super::{unexpected_state, Ctx};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::events::{event, Origin};
use crate::expand::Expand;
use crate::idempotency::{self, Executed};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use portcullis_connectors::{CaptureOutcome, ConnectorError};
use portcullis_domain::api_keys::Access;
use portcullis_domain::charges::Charge;
use portcullis_domain::payment_intents::{
    CancellationReason, IntentEvent, PaymentIntent, PaymentIntentStatus,
};
use portcullis_store::{Doc, WriteSet};

pub async fn capture(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = (|| {
        caller.require(super::intents::RESOURCE, Access::Write)?;
        let params = &mut request.params;
        let amount = params.integer("amount_to_capture")?;
        let expand = Expand::parse(&caller, params.expand()?, super::intents::EXPANDABLE, false)?;
        std::mem::take(params).finish()?;
        Ok::<_, ApiError>((amount, expand))
    })();
    let (amount, expand) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let origin = Origin::of(&request);
        let ctx = Ctx {
            state: &state,
            scope: &scope,
            origin: &origin,
        };
        let key = request.idempotency_key.as_deref();
        let mut done = capture_intent(&ctx, &id, amount, key).await?;
        done.body =
            super::expanded_after(&state, &caller, done.body, &expand, &done.writes).await?;
        Ok(done)
    })
    .await
}

/// Captures intent `id`; `key` is the request's idempotency key, which the
/// capture attempt records so that a retry can recognise its own work.
pub(crate) async fn capture_intent(
    ctx: &Ctx<'_>,
    id: &str,
    amount: Option<i64>,
    key: Option<&str>,
) -> ApiResult<Executed> {
    let (state, scope) = (ctx.state, ctx.scope);
    let _lock = state.locks.lock(id).await;
    let (doc, mut intent) = load::<PaymentIntent>(state, scope, id, "intent").await?;
    if intent.pending_attempt.is_some() {
        super::recovery::resolve_stale_or_refuse(state, scope, &intent, key).await?;
        return Err(ApiError::concurrent_change());
    }
    if intent.status == PaymentIntentStatus::Succeeded
        && attempts::finished_under_key(state, scope, id, AttemptKind::Capture, key).await?
    {
        // This request's first send captured; recovery committed it.
        return Ok(Executed::ok(
            render_payment_intent(&intent),
            WriteSet::new(),
        ));
    }
    if intent.status != PaymentIntentStatus::RequiresCapture {
        return Err(unexpected_state(&intent, "captured"));
    }
    let amount = amount.unwrap_or(intent.amount_capturable_minor);
    if amount < 1 || amount > intent.amount_capturable_minor {
        return Err(ApiError::invalid(
            if amount < 1 {
                "amount_too_small"
            } else {
                "amount_too_large"
            },
            format!(
                "amount_to_capture must be between 1 and amount_capturable ({}).",
                intent.amount_capturable_minor
            ),
            "amount_to_capture",
        ));
    }
    let charge_id = intent
        .latest_charge
        .clone()
        .ok_or_else(|| ApiError::internal(&"requires_capture without a charge"))?;
    let (_, charge) = load::<Charge>(state, scope, &charge_id, "charge").await?;
    let reference = charge
        .connector_reference
        .clone()
        .ok_or_else(|| ApiError::internal(&"an authorized charge has no reference"))?;
    let attempt = Attempt::new(
        AttemptKind::Capture,
        &intent.id,
        Some(charge.attempt.clone()),
        amount,
        state.now(),
    )
    .under_key(key);
    let connector = crate::routing::connectors::for_reference(state, scope, &reference).await?;
    attempts::begin(state, scope, &doc, &mut intent, &attempt, WriteSet::new()).await?;

    let answer = tokio::time::timeout(
        state.payments.connector_timeout(),
        connector.capture(&reference, amount),
    )
    .await
    .unwrap_or(Err(ConnectorError::Timeout));
    state.payments.crash_if_faulted(AttemptKind::Capture);
    let (doc, intent, attempt_doc, attempt) =
        attempts::reload(state, scope, id, &attempt.id).await?;
    match answer {
        Ok(outcome) => Ok(
            captured(ctx, (doc, intent), (attempt_doc, &attempt), outcome)
                .await?
                .after_connector_call(),
        ),
        Err(err) if !err.outcome_is_unknown() => {
            abandon(ctx, (doc, intent), (attempt_doc, &attempt)).await?;
            Err(ApiError::invalid(
                "charge_not_capturable",
                format!("The acquirer refused the capture: {err}"),
                "intent",
            ))
        }
        Err(err) => Err(ApiError::unavailable(&format_args!(
            "capture outcome unknown, left for recovery: {err}"
        ))),
    }
}

/// Phase two of a capture that the acquirer made.
pub async fn captured(
    ctx: &Ctx<'_>,
    (doc, mut intent): (Doc, PaymentIntent),
    (attempt_doc, attempt): (Doc, &Attempt),
    outcome: CaptureOutcome,
) -> ApiResult<Executed> {
    let (state, scope) = (ctx.state, ctx.scope);
    let charge_id = intent.latest_charge.clone().unwrap_or_default();
    let (charge_doc, mut charge) = load::<Charge>(state, scope, &charge_id, "charge").await?;
    charge.captured = true;
    charge.amount_captured_minor = outcome.captured_minor;
    intent
        .apply(IntentEvent::Captured, "captured")
        .map_err(|e| ApiError::internal(&e))?;
    intent.pending_attempt = None;
    intent.amount_received_minor = outcome.captured_minor;
    intent.amount_capturable_minor = 0;
    let mut writes = WriteSet::new();
    writes
        .ops
        .extend(super::ledger_postings::capture(ctx, &mut charge)?);
    if let Some(notice) = &outcome.dispute {
        charge.disputed = true;
        writes.ops.extend(dispute_writes(ctx, &charge, notice)?);
        writes
            .ops
            .extend(super::reviews::close_disputed(ctx, &charge).await?);
    }
    let intent_json = render_payment_intent(&intent);
    let now = state.now();
    writes.push(records::update(scope, &doc, &intent)?);
    writes.push(records::update(scope, &charge_doc, &charge)?);
    writes.push(attempt.resolve(scope, attempt_doc.version)?);
    writes.push(event(
        scope,
        "charge.captured",
        &ChargeWire::of(&charge),
        None,
        ctx.origin,
        now,
    ));
    writes.push(event(
        scope,
        "payment_intent.succeeded",
        &intent_json,
        None,
        ctx.origin,
        now,
    ));
    let executed = Executed::ok(intent_json, writes);
    super::follow_ups::with_follow_ups(ctx, &intent, executed).await
}

/// The acquirer refused the call outright: nothing happened there, so the
/// intent simply stops naming the attempt.
pub async fn abandon(
    ctx: &Ctx<'_>,
    (doc, mut intent): (Doc, PaymentIntent),
    (attempt_doc, attempt): (Doc, &Attempt),
) -> ApiResult<()> {
    intent.pending_attempt = None;
    let mut writes = WriteSet::new();
    writes.push(records::update(ctx.scope, &doc, &intent)?);
    writes.push(attempt.resolve(ctx.scope, attempt_doc.version)?);
    ctx.state.store.commit(writes).await?;
    Ok(())
}

pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = (|| {
        caller.require(super::intents::RESOURCE, Access::Write)?;
        let params = &mut request.params;
        let reason = match params.string("cancellation_reason", 30)? {
            Some(text) => Some(CancellationReason::parse(&text).ok_or_else(|| {
                ApiError::invalid(
                    "parameter_invalid",
                    "cancellation_reason must be duplicate, fraudulent, requested_by_customer or abandoned.",
                    "cancellation_reason",
                )
            })?),
            None => None,
        };
        let expand = Expand::parse(&caller, params.expand()?, super::intents::EXPANDABLE, false)?;
        std::mem::take(params).finish()?;
        Ok::<_, ApiError>((reason, expand))
    })();
    let (reason, expand) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let origin = Origin::of(&request);
        let ctx = Ctx {
            state: &state,
            scope: &scope,
            origin: &origin,
        };
        let key = request.idempotency_key.as_deref();
        let mut done = cancel_intent(&ctx, &id, reason, key).await?;
        done.body =
            super::expanded_after(&state, &caller, done.body, &expand, &done.writes).await?;
        Ok(done)
    })
    .await
}

/// Cancels intent `id` (voiding a held authorization); `key` as for capture.
pub(crate) async fn cancel_intent(
    ctx: &Ctx<'_>,
    id: &str,
    reason: Option<CancellationReason>,
    key: Option<&str>,
) -> ApiResult<Executed> {
    let (state, scope) = (ctx.state, ctx.scope);
    let _lock = state.locks.lock(id).await;
    let (doc, mut intent) = load::<PaymentIntent>(state, scope, id, "intent").await?;
    if intent.pending_attempt.is_some() {
        super::recovery::resolve_stale_or_refuse(state, scope, &intent, key).await?;
        return Err(ApiError::concurrent_change());
    }
    if intent.status == PaymentIntentStatus::Canceled
        && attempts::finished_under_key(state, scope, id, AttemptKind::Void, key).await?
    {
        // This request's first send voided; recovery committed it.
        return Ok(Executed::ok(
            render_payment_intent(&intent),
            WriteSet::new(),
        ));
    }
    if intent.status.after(IntentEvent::Canceled).is_none() {
        return Err(unexpected_state(&intent, "canceled"));
    }
    if intent.status != PaymentIntentStatus::RequiresCapture {
        if intent.status == PaymentIntentStatus::RequiresAction {
            super::wallets::close_before_cancel(state, scope, &intent).await?;
        }
        return canceled(ctx, (doc, intent), None, reason).await;
    }
    let charge_id = intent.latest_charge.clone().unwrap_or_default();
    let (_, charge) = load::<Charge>(state, scope, &charge_id, "charge").await?;
    let reference = charge
        .connector_reference
        .clone()
        .ok_or_else(|| ApiError::internal(&"an authorized charge has no reference"))?;
    let attempt = Attempt::new(
        AttemptKind::Void,
        &intent.id,
        Some(charge.attempt.clone()),
        0,
        state.now(),
    )
    .under_key(key);
    let connector = crate::routing::connectors::for_reference(state, scope, &reference).await?;
    attempts::begin(state, scope, &doc, &mut intent, &attempt, WriteSet::new()).await?;
    let answer = tokio::time::timeout(
        state.payments.connector_timeout(),
        connector.void(&reference),
    )
    .await
    .unwrap_or(Err(ConnectorError::Timeout));
    state.payments.crash_if_faulted(AttemptKind::Void);
    let (doc, intent, attempt_doc, attempt) =
        attempts::reload(state, scope, id, &attempt.id).await?;
    match answer {
        Ok(()) => Ok(
            canceled(ctx, (doc, intent), Some((attempt_doc, &attempt)), reason)
                .await?
                .after_connector_call(),
        ),
        Err(err) if !err.outcome_is_unknown() => {
            abandon(ctx, (doc, intent), (attempt_doc, &attempt)).await?;
            Err(ApiError::invalid(
                "payment_intent_unexpected_state",
                format!("The acquirer refused to release the authorization: {err}"),
                "intent",
            ))
        }
        Err(err) => Err(ApiError::unavailable(&format_args!(
            "void outcome unknown, left for recovery: {err}"
        ))),
    }
}

/// Phase two of a cancel (after a void, when funds were held).
pub async fn canceled(
    ctx: &Ctx<'_>,
    (doc, mut intent): (Doc, PaymentIntent),
    voided: Option<(Doc, &Attempt)>,
    reason: Option<CancellationReason>,
) -> ApiResult<Executed> {
    let (state, scope) = (ctx.state, ctx.scope);
    let mut writes = WriteSet::new();
    if let Some((attempt_doc, attempt)) = voided {
        writes.push(attempt.resolve(scope, attempt_doc.version)?);
        if let Some(charge_id) = &intent.latest_charge {
            let (charge_doc, mut charge) =
                load::<Charge>(state, scope, charge_id, "charge").await?;
            // Released funds show as refunded on the uncaptured charge, as Stripe does.
            charge.amount_refunded_minor = charge.amount_minor;
            charge.amount_captured_minor = 0;
            writes.push(records::update(scope, &charge_doc, &charge)?);
            writes.push(event(
                scope,
                "charge.refunded",
                &ChargeWire::of(&charge),
                None,
                ctx.origin,
                state.now(),
            ));
        }
    }
    intent
        .apply(IntentEvent::Canceled, "canceled")
        .map_err(|_| unexpected_state(&intent, "canceled"))?;
    intent.pending_attempt = None;
    intent.amount_capturable_minor = 0;
    intent.canceled_at = Some(state.now());
    intent.cancellation_reason = reason;
    intent.next_action = None;
    let intent_json = render_payment_intent(&intent);
    writes.push(records::update(scope, &doc, &intent)?);
    writes.push(event(
        scope,
        "payment_intent.canceled",
        &intent_json,
        None,
        ctx.origin,
        state.now(),
    ));
    Ok(Executed::ok(intent_json, writes))
}
