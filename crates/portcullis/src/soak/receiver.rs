//! The soak's webhook receiver: an HTTP server on 127.0.0.1 in the soak's
//! own process (it outlives every gateway it is sent to), which checks each
//! delivery's `Stripe-Signature` with the endpoint's secret and writes down
//! the event ids it accepted. It answers 500 to a few valid deliveries on
//! purpose, so that the gateway's retries are exercised too.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use portcullis_domain::webhooks::signature::verified_timestamp;
use portcullis_domain::webhooks::WebhookSecret;
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Valid deliveries answered 500 on purpose, per thousand.
const REFUSED_PER_THOUSAND: u32 = 20;
/// Most distinct event ids written down (far more than a soak makes).
const EVENT_IDS_MAX: usize = 2_000_000;

/// What the receiver saw.
#[derive(Clone, Debug, Default)]
pub struct Receipts {
    /// Times each event id was accepted (answered 2xx) with a valid signature.
    pub accepted: HashMap<String, u32>,
    /// Deliveries whose signature did not verify (answered 400).
    pub invalid_signatures: u64,
    /// Valid deliveries answered 500 on purpose.
    pub refused_on_purpose: u64,
}

impl Receipts {
    /// Acceptances beyond the first of each event (at-least-once delivery).
    pub fn duplicates(&self) -> u64 {
        self.accepted.values().map(|n| u64::from(n - 1)).sum()
    }
}

#[derive(Default)]
struct Shared {
    /// The endpoint's signing secret, known once the endpoint is registered.
    secret: OnceLock<WebhookSecret>,
    receipts: Mutex<Receipts>,
}

pub struct Receiver {
    /// Where the endpoint is registered: `http://127.0.0.1:PORT/hook`.
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("soak: the webhook receiver stopped: {err}");
            }
        });
        Ok(Self {
            url,
            shared,
            server,
        })
    }

    /// Deliveries are verified with `secret` from now on (until then they
    /// are answered 503).
    pub fn expect_secret(&self, secret: WebhookSecret) -> anyhow::Result<()> {
        self.shared
            .secret
            .set(secret)
            .map_err(|_| anyhow::anyhow!("the receiver already has a secret"))
    }

    /// Stops serving; returns what was received.
    pub fn stop(self) -> Receipts {
        self.server.abort();
        let receipts = self.shared.receipts.lock().expect("receipts");
        receipts.clone()
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let Some(secret) = shared.secret.get() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let mut receipts = shared.receipts.lock().expect("receipts");
    let event_id = verified_timestamp(header, secret, &body)
        .and_then(|_| serde_json::from_slice::<serde_json::Value>(&body).ok())
        .and_then(|event| event["id"].as_str().map(str::to_owned));
    let Some(event_id) = event_id else {
        receipts.invalid_signatures += 1;
        return StatusCode::BAD_REQUEST;
    };
    if rand::thread_rng().gen_ratio(REFUSED_PER_THOUSAND, 1000) {
        receipts.refused_on_purpose += 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if receipts.accepted.len() >= EVENT_IDS_MAX && !receipts.accepted.contains_key(&event_id) {
        return StatusCode::INSUFFICIENT_STORAGE;
    }
    *receipts.accepted.entry(event_id).or_default() += 1;
    StatusCode::OK
}
