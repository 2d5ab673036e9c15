//! The delivery worker: claims due deliveries, sends each as one attempt,
//! and records what happened.
//!
//! Why claims and not a dispatcher cursor: the store writes an event's
//! deliveries in the event's own transaction (see `portcullis_store`'s
//! webhooks module), so the outbox is complete the moment the event
//! commits; the worker only has to find due rows. A claim stamps rows with
//! this worker's id and a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
//! the single writer on SQLite), so each attempt is made by one process,
//! and a crashed process's claims are taken over when their lease ends.
//!
//! Bounds: at most `in_flight_max` attempts at once in this process, at
//! most `endpoint_concurrency_max` of them to one endpoint. An endpoint at
//! its bound is excluded from the next claim, so a slow endpoint never
//! holds up deliveries to the others. On shutdown no new claim is made and
//! attempts in flight are awaited (each is bounded by `timeout_ms`).

use super::attempt::{self, Claimed};
use super::sender::Sender;
use super::WebhookSettings;
use crate::state::AppState;
use parking_lot::Mutex;
use portcullis_domain::ids::random_base62;
use portcullis_store::{ClaimedDelivery, DeliveryClaim, CLAIM_LIMIT_MAX};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Extra time a claim holds beyond the longest attempt, for the record to
/// be written after it.
const LEASE_MARGIN_MS: u64 = 5_000;

/// Runs until `shutdown` resolves, then waits for attempts in flight.
pub async fn run(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut worker = Worker::new(&state);
    let poll = Duration::from_millis(state.webhooks.poll_interval_ms);
    loop {
        while worker.tasks.try_join_next().is_some() {}
        let full = match worker.claim_and_start(&state).await {
            Ok(full) => full,
            Err(err) => {
                tracing::warn!(error = %err, "could not claim webhook deliveries");
                false
            }
        };
        let pause = if full { Duration::ZERO } else { poll };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(pause) => {}
            // An attempt finished: its endpoint may take its next due
            // delivery now. Waiting for the next poll instead capped each
            // endpoint at `endpoint_concurrency_max` deliveries per poll
            // interval (16 a second by default), whatever its speed.
            Some(_) = worker.tasks.join_next(), if !worker.tasks.is_empty() => {}
        }
    }
    let in_flight = worker.tasks.len();
    tracing::info!(
        in_flight,
        "webhook worker stopping; finishing attempts in flight"
    );
    let drain = async { while worker.tasks.join_next().await.is_some() {} };
    let bound = Duration::from_millis(state.webhooks.timeout_ms + LEASE_MARGIN_MS);
    if tokio::time::timeout(bound, drain).await.is_err() {
        // Their claims stay leased and are retried after the lease.
        tracing::warn!("webhook attempts still in flight at shutdown");
    }
}

struct Worker {
    id: String,
    sender: Sender,
    tasks: JoinSet<()>,
    /// Attempts in flight per endpoint.
    per_endpoint: Arc<Mutex<HashMap<String, usize>>>,
}

impl Worker {
    fn new(state: &AppState) -> Self {
        let settings: &WebhookSettings = &state.webhooks;
        Self {
            id: format!("whw_{}", random_base62(16)),
            sender: Sender::new(
                Duration::from_millis(settings.timeout_ms),
                settings.allow_private_targets,
                settings.endpoint_concurrency_max,
            ),
            tasks: JoinSet::new(),
            per_endpoint: Arc::default(),
        }
    }

    /// Claims what fits and starts it; true when the claim was full (more
    /// may be due at once).
    async fn claim_and_start(
        &mut self,
        state: &AppState,
    ) -> Result<bool, portcullis_store::StoreError> {
        let settings = &state.webhooks;
        let free = settings.in_flight_max.saturating_sub(self.tasks.len());
        let limit = free.min(CLAIM_LIMIT_MAX);
        if limit == 0 {
            return Ok(false);
        }
        let claim = DeliveryClaim {
            worker: self.id.clone(),
            now_ms: now_ms(),
            lease_ms: (settings.timeout_ms + LEASE_MARGIN_MS) as i64,
            limit,
            excluded_endpoints: self.saturated(settings.endpoint_concurrency_max),
        };
        let claimed = state.store.claim_deliveries(&claim).await?;
        let full = claimed.len() == limit;
        let mut surplus = vec![];
        for delivery in claimed {
            if self.reserve(&delivery.key.endpoint_id, settings.endpoint_concurrency_max) {
                self.start(state, delivery);
            } else {
                surplus.push(delivery.key);
            }
        }
        if !surplus.is_empty() {
            state.store.release_deliveries(&self.id, &surplus).await?;
        }
        Ok(full)
    }

    fn saturated(&self, max: usize) -> Vec<String> {
        let counts = self.per_endpoint.lock();
        counts
            .iter()
            .filter(|(_, n)| **n >= max)
            .map(|(endpoint, _)| endpoint.clone())
            .collect()
    }

    fn reserve(&self, endpoint: &str, max: usize) -> bool {
        let mut counts = self.per_endpoint.lock();
        let n = counts.entry(endpoint.to_owned()).or_insert(0);
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    fn start(&mut self, state: &AppState, delivery: ClaimedDelivery) {
        let slot = Slot {
            endpoint: delivery.key.endpoint_id.clone(),
            counts: self.per_endpoint.clone(),
        };
        let claimed = Claimed {
            worker: self.id.clone(),
            delivery,
        };
        let (state, sender) = (state.clone(), self.sender.clone());
        self.tasks.spawn(async move {
            let _slot = slot;
            attempt::make(&state, &sender, &claimed).await;
        });
    }
}

/// An endpoint's place in the per-endpoint count, given back on drop.
struct Slot {
    endpoint: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock();
        if let Some(n) = counts.get_mut(&self.endpoint) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.endpoint);
            }
        }
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
