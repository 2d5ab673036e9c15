//! One delivery attempt: a signed JSON POST of the event, bounded in time,
//! through a client that follows no redirect, uses no proxy and connects
//! only to checked addresses.

use super::targets::{self, CheckedResolver};
use portcullis_domain::webhooks::signature::signature_header;
use portcullis_domain::webhooks::targets::Host;
use portcullis_domain::webhooks::{WebhookSecret, WebhookUrl};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USER_AGENT: &str = "Portcullis/1.0 (+https://github.com/portcullis; webhooks)";
/// Longest error text kept in the delivery log.
const ERROR_CHARS_MAX: usize = 300;

/// What one attempt found.
#[derive(Debug)]
pub struct Attempted {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

impl Attempted {
    /// Any 2xx answer is a delivery.
    pub fn delivered(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Sends webhooks; one per process, its connections pooled.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
    timeout: Duration,
}

impl Sender {
    pub fn new(timeout: Duration, allow_private: bool, per_host_idle_max: usize) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(per_host_idle_max)
            .user_agent(USER_AGENT)
            .build()
            .expect("the webhook HTTP client builds");
        Self {
            client,
            allow_private,
            timeout,
        }
    }

    /// POSTs `body` to `url`, signed at `timestamp_s` by `secrets`.
    pub async fn send(
        &self,
        url: &WebhookUrl,
        body: &str,
        secrets: &[&WebhookSecret],
        timestamp_s: i64,
    ) -> Attempted {
        let started = Instant::now();
        let outcome =
            tokio::time::timeout(self.timeout, self.post(url, body, secrets, timestamp_s))
                .await
                .unwrap_or_else(|_| {
                    Err(format!("timed out after {} ms", self.timeout.as_millis()))
                });
        let latency_ms = started.elapsed().as_millis() as i64;
        match outcome {
            Ok(status) if (200..300).contains(&status) => Attempted {
                status_code: Some(status),
                error: None,
                latency_ms,
            },
            Ok(status) => Attempted {
                status_code: Some(status),
                error: Some(format!("the endpoint answered HTTP {status}")),
                latency_ms,
            },
            Err(error) => Attempted {
                status_code: None,
                error: Some(error.chars().take(ERROR_CHARS_MAX).collect()),
                latency_ms,
            },
        }
    }

    async fn post(
        &self,
        url: &WebhookUrl,
        body: &str,
        secrets: &[&WebhookSecret],
        timestamp_s: i64,
    ) -> Result<u16, String> {
        // Names are checked by the resolver; literal addresses never reach it.
        if let Host::Ip(_) = url.host() {
            targets::check_url(url, self.allow_private)
                .await
                .map_err(|e| format!("refused: {e}"))?;
        }
        let response = self
            .client
            .post(url.as_str())
            .header("content-type", "application/json; charset=utf-8")
            .header(
                "stripe-signature",
                signature_header(secrets, timestamp_s, body.as_bytes()),
            )
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| describe(&e.without_url()))?;
        Ok(response.status().as_u16())
    }
}

/// A reqwest error and its causes on one line (reqwest's own text alone
/// says only "error sending request").
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
