//! One attempt at one delivery, start to finish: load the endpoint and the
//! event, send, schedule the next attempt or finish, record, and disable an
//! endpoint that has failed for too long.

use super::endpoints::{self, load_endpoint};
use super::sender::Sender;
use super::worker::now_ms;
use crate::error::ApiResult;
use crate::state::AppState;
use portcullis_domain::webhooks::WebhookEndpoint;
use portcullis_store::{AttemptRecord, ClaimedDelivery, DeliveryState, StoreError, Table};
use rand::Rng;

/// Most times disabling an endpoint is retried after write conflicts.
const DISABLE_RETRIES_MAX: usize = 3;

/// A delivery held by a worker.
pub struct Claimed {
    pub worker: String,
    pub delivery: ClaimedDelivery,
}

/// Makes the attempt; failures to record are logged (the claim's lease
/// then lets the delivery be tried again).
pub async fn make(state: &AppState, sender: &Sender, claimed: &Claimed) {
    let key = &claimed.delivery.key;
    if let Err(err) = attempt(state, sender, claimed).await {
        tracing::warn!(event = %key.event_id, endpoint = %key.endpoint_id, error = %err.message, "webhook attempt not recorded");
    }
}

async fn attempt(state: &AppState, sender: &Sender, claimed: &Claimed) -> ApiResult<()> {
    let d = &claimed.delivery;
    let endpoint = load_endpoint(state, &d.scope, &d.key.endpoint_id).await?;
    let endpoint = match endpoint {
        Some((_, e)) if e.enabled && !e.deleted => e,
        _ => {
            let reason = "the endpoint is disabled or deleted";
            return Ok(state
                .store
                .abandon_delivery(&claimed.worker, &d.key, reason)
                .await?);
        }
    };
    let Some(event) = state
        .store
        .get(Table::Events, &d.scope, &d.key.event_id)
        .await?
    else {
        let reason = "the event no longer exists";
        return Ok(state
            .store
            .abandon_delivery(&claimed.worker, &d.key, reason)
            .await?);
    };
    let started_at_ms = now_ms();
    let secrets = endpoint.signing_secrets(started_at_ms / 1000);
    let sent = sender
        .send(&endpoint.url, &event.body, &secrets, started_at_ms / 1000)
        .await;
    let record = record_of(state, claimed, started_at_ms, sent);
    tracing::info!(
        event = %d.key.event_id, endpoint = %d.key.endpoint_id, attempt = record.attempt,
        status_code = record.status_code, latency_ms = record.latency_ms,
        state = record.state.as_str(), "webhook attempt"
    );
    match state.store.record_attempt(&record, now_ms()).await {
        Err(StoreError::ClaimLost) => {
            tracing::warn!(event = %d.key.event_id, endpoint = %d.key.endpoint_id, "webhook claim lost during an attempt (lease too short?)");
            Ok(())
        }
        Err(err) => Err(err.into()),
        Ok(Some(failing_since_ms)) if failing_too_long(state, failing_since_ms) => {
            disable(state, claimed, &endpoint).await
        }
        Ok(_) => Ok(()),
    }
}

fn record_of(
    state: &AppState,
    claimed: &Claimed,
    started_at_ms: i64,
    sent: super::sender::Attempted,
) -> AttemptRecord {
    let d = &claimed.delivery;
    let attempt = d.attempts + 1;
    let next_attempt_at_ms = if sent.delivered() {
        None
    } else {
        let jitter = rand::thread_rng().gen_range(0.0..=1.0);
        state
            .webhooks
            .schedule()
            .next_attempt_at_ms(d.created_ms, attempt, now_ms(), jitter)
    };
    let state_after = match (sent.delivered(), next_attempt_at_ms) {
        (true, _) => DeliveryState::Delivered,
        (false, Some(_)) => DeliveryState::Pending,
        (false, None) => DeliveryState::Failed,
    };
    AttemptRecord {
        key: d.key.clone(),
        worker: claimed.worker.clone(),
        attempt,
        started_at_ms,
        latency_ms: sent.latency_ms,
        status_code: sent.status_code,
        error: sent.error,
        state: state_after,
        next_attempt_at_ms,
    }
}

fn failing_too_long(state: &AppState, failing_since_ms: i64) -> bool {
    now_ms() - failing_since_ms >= state.webhooks.disable_after_s * 1000
}

/// Disables the endpoint and records a `webhook_endpoint.disabled` event
/// in the same commit. Its pending deliveries end failed when claimed.
async fn disable(state: &AppState, claimed: &Claimed, seen: &WebhookEndpoint) -> ApiResult<()> {
    let scope = &claimed.delivery.scope;
    for _ in 0..DISABLE_RETRIES_MAX {
        let Some((doc, endpoint)) = load_endpoint(state, scope, &seen.id).await? else {
            return Ok(());
        };
        if !endpoint.enabled || endpoint.deleted {
            return Ok(());
        }
        let writes = endpoints::disabled_writes(state, scope, &doc, &endpoint)?;
        match state.store.commit(writes).await {
            Ok(()) => {
                tracing::warn!(endpoint = %endpoint.id, "webhook endpoint disabled after failing continuously");
                return Ok(());
            }
            Err(StoreError::Conflict) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}
