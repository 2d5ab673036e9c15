//! The webhook outbox under the soak: a `*` endpoint is registered on the
//! soak's [`Receiver`](super::receiver::Receiver) before any payment, and
//! afterwards every event the gateway stored is held against its delivery
//! row and against what the receiver accepted.
//!
//! - An event with no delivery, or with one that failed, was forgotten by
//!   the outbox: undelivered.
//! - A delivery marked delivered whose event the receiver never accepted
//!   with a valid signature is a lie: delivered but not received.
//! - Pending deliveries are still owed; the receiver getting an event twice
//!   is at-least-once delivery doing its job (informational).

use super::receiver::Receipts;
use anyhow::Context;
use portcullis_domain::ids::MerchantId;
use portcullis_domain::webhooks::WebhookSecret;
use portcullis_store::{
    DeliveryFilter, DeliveryState, ScanQuery, Scope, Store, Table, DELIVERY_PAGE_MAX,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Most deliveries read (far more than a soak makes).
const DELIVERIES_MAX: usize = 2_000_000;
/// Most events read.
const EVENTS_MAX: usize = 2_000_000;
/// Longest wait for the outbox to drain after the run.
const DRAIN_WAIT_S_MAX: u64 = 120;

/// The soak's endpoint, as the gateway stores it.
pub struct Endpoint {
    pub scope: Scope,
    pub id: String,
    /// Events stored before the endpoint existed: no delivery is owed them.
    pub events_before: HashSet<String>,
}

/// Registers a `*` endpoint for `receiver_url`; returns it and its secret.
pub async fn register(
    store: &Store,
    gateway_url: &str,
    secret_key: &str,
    merchant_id: &str,
    receiver_url: &str,
) -> anyhow::Result<(Endpoint, WebhookSecret)> {
    let created: serde_json::Value = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .post(format!("{gateway_url}/v1/webhook_endpoints"))
        .bearer_auth(secret_key)
        .form(&[("url", receiver_url), ("enabled_events[]", "*")])
        .send()
        .await?
        .error_for_status()
        .context("registering the soak's webhook endpoint")?
        .json()
        .await?;
    let text = |name: &str| -> anyhow::Result<String> {
        Ok(created[name].as_str().context(name.to_owned())?.to_owned())
    };
    let scope = Scope {
        merchant_id: MerchantId::parse(merchant_id).context("the merchant's id")?,
        livemode: false,
    };
    let events_before = event_ids(store).await?;
    let endpoint = Endpoint {
        scope,
        id: text("id")?,
        events_before,
    };
    Ok((endpoint, WebhookSecret::from_stored(text("secret")?)))
}

async fn event_ids(store: &Store) -> anyhow::Result<HashSet<String>> {
    let query = ScanQuery {
        filters: vec![],
        created_before: None,
        limit: EVENTS_MAX,
    };
    let found = store.scan(Table::Events, &query).await?;
    anyhow::ensure!(found.len() < EVENTS_MAX, "more than {EVENTS_MAX} events");
    Ok(found.into_iter().map(|event| event.doc.id).collect())
}

/// The state of every delivery to `endpoint`, by event id.
async fn deliveries(
    store: &Store,
    endpoint: &Endpoint,
) -> anyhow::Result<HashMap<String, DeliveryState>> {
    let mut states = HashMap::new();
    let mut starting_after = None;
    for _ in 0..DELIVERIES_MAX / DELIVERY_PAGE_MAX {
        let filter = DeliveryFilter::Endpoint {
            endpoint_id: endpoint.id.clone(),
            starting_after: starting_after.take(),
        };
        let page = store
            .list_deliveries(&endpoint.scope, &filter, DELIVERY_PAGE_MAX)
            .await?;
        starting_after = page.deliveries.last().map(|d| d.key.event_id.clone());
        states.extend(
            page.deliveries
                .into_iter()
                .map(|delivery| (delivery.key.event_id, delivery.state)),
        );
        if !page.has_more {
            return Ok(states);
        }
    }
    anyhow::bail!("more than {DELIVERIES_MAX} deliveries")
}

fn pending(states: &HashMap<String, DeliveryState>) -> usize {
    let pending = states.values().filter(|s| **s == DeliveryState::Pending);
    pending.count()
}

/// Waits (bounded) until no delivery to `endpoint` is pending; returns
/// the seconds waited.
pub async fn wait_until_drained(store: &Store, endpoint: &Endpoint) -> anyhow::Result<f64> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(DRAIN_WAIT_S_MAX) {
        if pending(&deliveries(store, endpoint).await?) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// The outbox held against the events and the receiver.
#[derive(Debug, Default)]
pub struct Outbox {
    pub events: usize,
    pub undelivered_events: usize,
    pub deliveries_pending: usize,
    pub deliveries_failed: usize,
    pub delivered_not_received: usize,
    /// Events the receiver accepted that the gateway never stored.
    pub received_unknown: usize,
    pub examples: Vec<String>,
}

/// Most examples of each failure kept.
const EXAMPLES_MAX: usize = 5;

pub async fn check(
    store: &Store,
    endpoint: &Endpoint,
    receipts: &Receipts,
) -> anyhow::Result<Outbox> {
    let states = deliveries(store, endpoint).await?;
    let events: HashSet<String> = event_ids(store)
        .await?
        .into_iter()
        .filter(|id| !endpoint.events_before.contains(id))
        .collect();
    let mut outbox = Outbox {
        events: events.len(),
        deliveries_pending: pending(&states),
        ..Outbox::default()
    };
    for event_id in &events {
        let state = states.get(event_id);
        outbox.deliveries_failed += usize::from(state == Some(&DeliveryState::Failed));
        let received = receipts.accepted.contains_key(event_id);
        let problem = match (state, received) {
            (Some(DeliveryState::Pending), _) | (Some(DeliveryState::Delivered), true) => continue,
            (Some(DeliveryState::Delivered), false) => {
                outbox.delivered_not_received += 1;
                "is marked delivered but was never received"
            }
            (Some(DeliveryState::Failed), _) => {
                outbox.undelivered_events += 1;
                "has only a failed delivery"
            }
            (None, _) => {
                outbox.undelivered_events += 1;
                "has no delivery"
            }
        };
        if outbox.examples.len() < EXAMPLES_MAX {
            outbox.examples.push(format!("event {event_id} {problem}"));
        }
    }
    outbox.received_unknown = receipts
        .accepted
        .keys()
        .filter(|id| !events.contains(*id))
        .count();
    Ok(outbox)
}
