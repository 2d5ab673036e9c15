//! A webhook receiver on 127.0.0.1:0 that records every delivery and
//! fails the first `fail_first` of them (HTTP 500), or all while `down`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Hit {
    pub body: String,
    pub signature: String,
    pub event_id: String,
    /// The status the receiver answered.
    pub status: u16,
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    fail_first: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    /// How long each answer takes.
    delay_ms: Arc<AtomicU64>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
            ..Receiver::default()
        };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let status = state.record(&headers, body);
                    let delay_ms = state.delay_ms.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    status
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn record(&self, headers: &axum::http::HeaderMap, body: String) -> axum::http::StatusCode {
        let mut hits = self.hits.lock().unwrap();
        let failing =
            self.down.load(Ordering::SeqCst) || hits.len() < self.fail_first.load(Ordering::SeqCst);
        let status = if failing { 500 } else { 200 };
        let event: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        hits.push(Hit {
            signature: headers
                .get("stripe-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            event_id: event["id"].as_str().unwrap_or_default().to_owned(),
            body,
            status,
        });
        axum::http::StatusCode::from_u16(status).unwrap()
    }

    pub fn set_delay_ms(&self, delay_ms: u64) {
        self.delay_ms.store(delay_ms, Ordering::SeqCst);
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits (bounded) until `done` holds for the hits so far.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Hit]) -> bool,
    ) -> Vec<Hit> {
        let deadline = Instant::now() + timeout;
        loop {
            let hits = self.hits();
            if done(&hits) {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; {} hits",
                hits.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Verifies a `Stripe-Signature` header as the libraries do: some `v1`
/// equals HMAC-SHA256(secret, "t.body"). Returns how many `v1` it holds.
pub fn verify(header: &str, body: &str, secret: &str) -> (bool, usize) {
    let mut t = "";
    let mut v1s = vec![];
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value,
            Some(("v1", value)) => v1s.push(value.to_owned()),
            _ => {}
        }
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    (v1s.contains(&expected), v1s.len())
}

/// A URL on 127.0.0.1 where nothing listens: connections are refused.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/hook")
}
