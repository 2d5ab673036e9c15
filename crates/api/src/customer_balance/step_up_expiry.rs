//! The step-up expiry worker: every [`PASS_INTERVAL`] it finds payments
//! from the balance whose wait for the holder's step-up has ended
//! (`step_up_expires_at`, an indexed column set only while one waits) and
//! fails each ([`super::step_up::fail`]): `requires_payment_method`,
//! `payment_intent_authentication_failure`, `payment_intent.payment_failed`,
//! nothing debited. Each failure is one version-checked write set, so
//! instances on one PostgreSQL may run the same pass: the first commit
//! wins — the worker's, or the holder's authorize — and the other's is
//! refused as a conflict (an authorize then re-reads the intent and
//! answers `payment_intent_unexpected_state`).

use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::payments::Ctx;
use crate::state::AppState;
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_store::{ScanOp, ScanQuery, SqlValue, StoreError, Table};
use std::time::Duration;

/// How often due intents are looked for: one indexed query per pass.
pub const PASS_INTERVAL: Duration = Duration::from_secs(1);
/// Most intents failed per pass; the rest wait for the next one.
const INTENTS_PER_PASS_MAX: usize = 200;

pub async fn run(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        if let Err(err) = fail_expired(&state).await {
            tracing::warn!(error = %err.message, "balance step-up expiry pass failed");
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(PASS_INTERVAL) => {}
        }
    }
}

/// Fails every payment from the balance whose step-up wait has ended;
/// returns how many this instance failed.
pub async fn fail_expired(state: &AppState) -> ApiResult<usize> {
    let now = state.now();
    let due = ScanQuery {
        filters: vec![("step_up_expires_at", ScanOp::AtMost, SqlValue::Integer(now))],
        created_before: None,
        limit: INTENTS_PER_PASS_MAX,
    };
    let mut failed = 0;
    for found in state.store.scan(Table::PaymentIntents, &due).await? {
        let id = serde_json::from_str::<PaymentIntent>(&found.doc.body)
            .map_err(|e| ApiError::internal(&e))?
            .id;
        let origin = Origin::default();
        let ctx = Ctx {
            state,
            scope: &found.scope,
            origin: &origin,
        };
        match fail_one(&ctx, &id).await {
            Ok(true) => failed += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(payment_intent = %id, error = %err.message, "step-up expiry: intent left for the next pass")
            }
        }
    }
    Ok(failed)
}

/// Fails intent `id` if it still waits and its wait has ended, under its
/// lock, re-read; whether this call failed it.
async fn fail_one(ctx: &Ctx<'_>, id: &str) -> ApiResult<bool> {
    let _lock = ctx.state.locks.lock(id).await;
    let (doc, intent) =
        crate::payments::records::load::<PaymentIntent>(ctx.state, ctx.scope, id, "payment_intent")
            .await?;
    let waiting = super::step_up::waits_for_step_up(&intent);
    if !waiting || !super::step_up::expired(&intent, ctx.state.now()) {
        return Ok(false);
    }
    let executed = super::step_up::fail(ctx, &doc, intent)?;
    match ctx.state.store.commit(executed.writes).await {
        Ok(()) => Ok(true),
        // Paid or failed by someone else since the read: theirs stands.
        Err(StoreError::Conflict) => Ok(false),
        Err(err) => Err(err.into()),
    }
}
