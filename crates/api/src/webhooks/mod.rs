//! Webhooks: the endpoint resource, the delivery log and redelivery, and
//! the worker that delivers events (claims, signed attempts, retries with
//! capped exponential backoff and jitter, disabling endpoints that fail
//! for too long), guarded against server-side request forgery.

mod attempt;
pub(crate) mod deliveries;
mod endpoints;
mod sender;
mod stored;
pub(crate) mod targets;
mod worker;

pub use stored::seal_plaintext_endpoints;
pub use worker::run;

use crate::routes::Routes;
use portcullis_domain::webhooks::schedule::RetrySchedule;

/// A sample endpoint for the OpenAPI document's schemas.
pub fn render_samples() -> Vec<(&'static str, serde_json::Value)> {
    use portcullis_domain::webhooks::{
        EnabledEvents, EndpointChanges, WebhookEndpoint, WebhookUrl,
    };
    let url = WebhookUrl::parse("https://shop.example/hooks").expect("a valid URL");
    let events = EnabledEvents::parse(vec!["*".to_owned()]).expect("* is valid");
    let endpoint = WebhookEndpoint::create(&EndpointChanges::default(), url, events, false, 0)
        .expect("a valid endpoint");
    vec![
        ("webhook_endpoint", endpoints::render(&endpoint)),
        (
            "deleted_webhook_endpoint",
            serde_json::json!({ "id": endpoint.id, "object": "webhook_endpoint", "deleted": true }),
        ),
        (
            "redelivery",
            serde_json::json!({ "object": "redelivery", "event": "evt_sample", "webhook_endpoint": endpoint.id, "scheduled": 1 }),
        ),
    ]
}

pub fn routes() -> Routes {
    Routes::new()
        .merge(endpoints::routes())
        .merge(deliveries::routes())
}

/// Delivery tunables, each bounded and named with its unit.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Longest a delivery attempt (resolution, connection, answer) may take.
    pub timeout_ms: u64,
    /// The delay before the first retry; later ones double up to the cap.
    pub retry_base_ms: u64,
    /// The longest delay between two attempts.
    pub retry_cap_ms: u64,
    /// No attempt is made later than this after the event.
    pub retry_horizon_s: u64,
    /// An endpoint whose attempts have failed for this long without a
    /// success in between is disabled.
    pub disable_after_s: i64,
    /// Most attempts in flight to one endpoint, per process.
    pub endpoint_concurrency_max: usize,
    /// Most attempts in flight per process (at most 256).
    pub in_flight_max: usize,
    /// How often the worker looks for due deliveries when idle.
    pub poll_interval_ms: u64,
    /// Allows URLs on loopback, private and link-local addresses: for
    /// local development only.
    pub allow_private_targets: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            retry_base_ms: 60_000,
            retry_cap_ms: 6 * 3600 * 1000,
            retry_horizon_s: 3 * 24 * 3600,
            disable_after_s: 3 * 24 * 3600,
            endpoint_concurrency_max: 4,
            in_flight_max: 64,
            poll_interval_ms: 250,
            allow_private_targets: false,
        }
    }
}

impl WebhookSettings {
    pub fn schedule(&self) -> RetrySchedule {
        RetrySchedule {
            base_ms: self.retry_base_ms as i64,
            cap_ms: self.retry_cap_ms as i64,
            horizon_ms: (self.retry_horizon_s as i64).saturating_mul(1000),
        }
    }
}
