//! [`RemoteAcquirer`]: a [`Connector`] that calls an acquirer over the
//! HTTP/JSON protocol of [`protocol`] (served by `portcullis
//! sandbox-acquirer`), so the acquirer and its journal live in another
//! process and survive the gateway being killed.
//!
//! A call that gets no parseable answer is `Unavailable` (nothing sent) or
//! `InvalidResponse` (sent, answer unusable): both leave the outcome unknown,
//! as [`ConnectorError`] requires. Wrap it in [`crate::Guarded`].

pub mod protocol;

use crate::connector::{
    AttemptRecord, AuthorizeOutcome, AuthorizeRequest, CaptureOutcome, Connector, ConnectorError,
    RefundOutcome,
};
use protocol::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Longest answer body accepted from the acquirer.
const ANSWER_BYTES_MAX: usize = 64 * 1024;
/// Idle keep-alive connections kept to the acquirer.
const IDLE_CONNECTIONS_MAX: usize = 64;

/// An acquirer reached over HTTP at `base_url` (loopback only).
#[derive(Debug, Clone)]
pub struct RemoteAcquirer {
    http: reqwest::Client,
    base_url: String,
}

impl RemoteAcquirer {
    /// `base_url` like `http://127.0.0.1:9000`; each call gives up after
    /// `call_timeout`.
    pub fn new(base_url: &str, call_timeout: Duration) -> Result<Self, ConnectorError> {
        let http = reqwest::Client::builder()
            .timeout(call_timeout)
            .pool_max_idle_per_host(IDLE_CONNECTIONS_MAX)
            .no_proxy()
            .build()
            .map_err(|e| ConnectorError::Unavailable(e.to_string()))?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ConnectorError> {
        let sent = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) if err.is_connect() => {
                return Err(ConnectorError::Unavailable("acquirer unreachable".into()))
            }
            Err(err) if err.is_timeout() => return Err(ConnectorError::Timeout),
            Err(_) => return Err(ConnectorError::Unavailable("acquirer call failed".into())),
        };
        let bytes = response
            .bytes()
            .await
            .map_err(|_| ConnectorError::Unavailable("acquirer answer cut short".into()))?;
        if bytes.len() > ANSWER_BYTES_MAX {
            return Err(ConnectorError::InvalidResponse("answer too large".into()));
        }
        let reply: Reply<T> = serde_json::from_slice(&bytes)
            .map_err(|_| ConnectorError::InvalidResponse("answer is not a reply".into()))?;
        reply.into()
    }

    /// Every attempt the acquirer remembers (for reconciliation).
    pub async fn attempts(&self) -> Result<Vec<AttemptListing>, ConnectorError> {
        let response = self
            .http
            .get(format!("{}{ATTEMPTS_PATH}", self.base_url))
            .send()
            .await
            .map_err(|_| ConnectorError::Unavailable("acquirer unreachable".into()))?;
        let reply: Reply<Vec<AttemptListing>> = response
            .json()
            .await
            .map_err(|_| ConnectorError::InvalidResponse("answer is not a reply".into()))?;
        reply.into()
    }
}

#[async_trait::async_trait]
impl Connector for RemoteAcquirer {
    fn name(&self) -> &'static str {
        "sandbox-remote"
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<AuthorizeOutcome, ConnectorError> {
        let body = AuthorizeBody::of(request);
        self.call(AUTHORIZE_PATH, &body).await
    }

    async fn capture(
        &self,
        reference: &str,
        amount_minor: i64,
    ) -> Result<CaptureOutcome, ConnectorError> {
        let body = CaptureBody {
            reference: reference.to_owned(),
            amount_minor,
        };
        self.call(CAPTURE_PATH, &body).await
    }

    async fn void(&self, reference: &str) -> Result<(), ConnectorError> {
        let body = ReferenceBody {
            reference: reference.to_owned(),
        };
        self.call(VOID_PATH, &body).await
    }

    async fn refund(
        &self,
        reference: &str,
        refund_id: &str,
        amount_minor: i64,
    ) -> Result<RefundOutcome, ConnectorError> {
        let body = RefundBody {
            reference: reference.to_owned(),
            refund_id: refund_id.to_owned(),
            amount_minor,
        };
        self.call(REFUND_PATH, &body).await
    }

    async fn refund_status(&self, refund_id: &str) -> Result<RefundOutcome, ConnectorError> {
        let body = RefundIdBody {
            refund_id: refund_id.to_owned(),
        };
        self.call(REFUND_STATUS_PATH, &body).await
    }

    async fn cancel_refund(&self, refund_id: &str) -> Result<bool, ConnectorError> {
        let body = RefundIdBody {
            refund_id: refund_id.to_owned(),
        };
        self.call(CANCEL_REFUND_PATH, &body).await
    }

    async fn query(&self, attempt_id: &str) -> Result<Option<AttemptRecord>, ConnectorError> {
        let body = AttemptIdBody {
            attempt_id: attempt_id.to_owned(),
        };
        self.call(QUERY_PATH, &body).await
    }
}
