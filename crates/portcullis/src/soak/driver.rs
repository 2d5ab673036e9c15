//! The soak's clients: each drives payments one after another, every
//! request with an idempotency key, and retries a request that got no
//! answer (the gateway died), a 5xx or a 409 with the same key until it
//! gets a definite answer. What the gateway acknowledged with a 2xx is
//! written down for reconciliation.

use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most payments one client starts.
const PAYMENTS_PER_CLIENT_MAX: u64 = 1_000_000;
/// Most sends of one request (with one key), and the longest time spent on it.
const SENDS_PER_REQUEST_MAX: u32 = 600;
const REQUEST_TIME_S_MAX: u64 = 90;
/// Pause between sends of the same request.
const RETRY_PAUSE_MS: u64 = 100;
/// One request's own time limit (a killed gateway leaves no answer coming).
const SEND_TIMEOUT_S: u64 = 10;

/// What the gateway acknowledged with a 2xx: the intent and its status.
#[derive(Clone, Debug)]
pub struct Acknowledged {
    pub intent_id: String,
    pub status: String,
}

/// Everything the clients saw, by idempotency key of the creating request.
#[derive(Default)]
pub struct Record {
    pub acknowledged: HashMap<String, Acknowledged>,
    pub declined: u64,
    /// Requests given up on after their bound (never acknowledged).
    pub abandoned: u64,
    /// 4xx answers other than declines: a bug in the gateway or the soak.
    pub unexpected: Vec<String>,
    pub sends: u64,
    pub retries: u64,
}

pub type Shared = Arc<Mutex<Record>>;

pub struct Client {
    pub http: reqwest::Client,
    pub base_url: String,
    pub secret_key: String,
    pub record: Shared,
}

enum Answered {
    Status(u16, serde_json::Value),
    GaveUp,
}

impl Client {
    /// Drives payments until `deadline`; `name` keeps keys unique.
    pub async fn drive(&self, name: usize, deadline: Instant) {
        for n in 0..PAYMENTS_PER_CLIENT_MAX {
            if Instant::now() >= deadline {
                return;
            }
            let key = format!("soak-{name}-{n}-{:08x}", rand::random::<u32>());
            let roll = rand::thread_rng().gen_range(0..100);
            self.payment(&key, roll).await;
        }
    }

    async fn payment(&self, key: &str, roll: u32) {
        let (method, capture) = match roll {
            r if r < 10 => ("pm_card_visa_chargeDeclined", "automatic"),
            r if r < 25 => ("pm_card_visa", "manual"),
            _ => ("pm_card_visa", "automatic"),
        };
        let amount = (1_000 + roll * 10).to_string();
        let form = [
            ("amount", amount.as_str()),
            ("currency", "usd"),
            ("payment_method", method),
            ("confirm", "true"),
            ("capture_method", capture),
            ("metadata[soak_key]", key),
        ];
        let created = self.send("/v1/payment_intents", key, &form).await;
        let Some(ack) = self.note(key, created) else {
            return;
        };
        if ack.status == "requires_capture" {
            let path = format!("/v1/payment_intents/{}/capture", ack.intent_id);
            let captured = self.send(&path, &format!("{key}-capture"), &[]).await;
            self.note(key, captured);
        }
    }

    /// Writes the answer down; returns the acknowledgement of a 2xx.
    fn note(&self, key: &str, answered: Answered) -> Option<Acknowledged> {
        let mut record = self.record.lock().expect("soak record");
        match answered {
            Answered::Status(status, body) if (200..300).contains(&status) => {
                let ack = Acknowledged {
                    intent_id: body["id"].as_str().unwrap_or_default().to_owned(),
                    status: body["status"].as_str().unwrap_or_default().to_owned(),
                };
                record.acknowledged.insert(key.to_owned(), ack.clone());
                Some(ack)
            }
            Answered::Status(402, _) => {
                record.declined += 1;
                None
            }
            Answered::Status(status, body) => {
                record.unexpected.push(format!("{key}: {status} {body}"));
                None
            }
            Answered::GaveUp => {
                record.abandoned += 1;
                None
            }
        }
    }

    /// Sends until a definite answer, bounded in count and time.
    async fn send(&self, path: &str, key: &str, form: &[(&str, &str)]) -> Answered {
        let started = Instant::now();
        for sent in 0..SENDS_PER_REQUEST_MAX {
            if started.elapsed() > Duration::from_secs(REQUEST_TIME_S_MAX) {
                break;
            }
            {
                let mut record = self.record.lock().expect("soak record");
                record.sends += 1;
                record.retries += u64::from(sent > 0);
            }
            let response = self
                .http
                .post(format!("{}{path}", self.base_url))
                .bearer_auth(&self.secret_key)
                .header("Idempotency-Key", key)
                .timeout(Duration::from_secs(SEND_TIMEOUT_S))
                .form(form)
                .send()
                .await;
            if let Ok(response) = response {
                let status = response.status().as_u16();
                if let Ok(body) = response.json::<serde_json::Value>().await {
                    if status < 500 && status != 409 {
                        return Answered::Status(status, body);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
        }
        Answered::GaveUp
    }
}
