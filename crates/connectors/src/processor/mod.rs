//! [`Processor`]: the connector to an HTTP card processor of our own
//! published design (README, "Routing across institutions"), served for
//! tests and demos by `portcullis processor-sim`.
//!
//! The protocol: one JSON `POST` per [`Connector`] call under `/v1`
//! (`/v1/authorize`, `/v1/capture`, `/v1/void`, `/v1/refund`,
//! `/v1/refund_status`, `/v1/cancel_refund`, `/v1/query`; `GET /v1/attempts`
//! lists what the processor holds), the bodies of [`crate::remote::protocol`],
//! each answer a `Reply` (`{"ok": …}` or `{"error": {"kind", "message"}}`).
//! Every request and every answer is signed ([`signing`]). Mutating calls
//! carry an `Idempotency-Key` derived from our ids (the attempt id, the
//! refund id, `capture:`/`void:` and the reference): a repeat answers what
//! the first did; the same key with another body is refused (409).
//!
//! How answers map to [`ConnectorError`]: an answer that is not signed by
//! the shared secret, or not a `Reply`, is `InvalidResponse` (outcome
//! unknown); 401 and 409 are `Refused` (nothing happened); any 5xx is
//! `Unavailable` (the processor promises not to have acted, but the gateway
//! still resolves it with `query` before trusting that); no answer in time
//! is `Timeout`.

pub mod signing;

use crate::connector::{
    AttemptRecord, AuthorizeOutcome, AuthorizeRequest, CaptureOutcome, Connector, ConnectorError,
    RefundOutcome,
};
use crate::http_client::{client, read_bounded, unix_now};
use crate::remote::protocol::*;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::Serialize;
use signing::{RequestParts, IDEMPOTENCY_HEADER, REQUEST_ID_HEADER, SIGNATURE_HEADER};
use std::time::Duration;

/// Every processor path starts with this.
pub const PATH_PREFIX: &str = "/v1";
/// The simulator's live settings (`portcullis processor-sim`), signed too.
pub const SIM_SETTINGS_PATH: &str = "/_sim/settings";
/// Longest answer body accepted from the processor.
const ANSWER_BYTES_MAX: usize = 1024 * 1024;

/// A processor reached at `endpoint` with the shared `secret`. `Debug`
/// shows the endpoint, never the secret.
#[derive(Clone)]
pub struct Processor {
    http: reqwest::Client,
    endpoint: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn request_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("preq_{}", hex::encode(bytes))
}

/// One call: what to send and under which key.
struct Call<'a> {
    method: reqwest::Method,
    path: &'a str,
    idempotency_key: &'a str,
    body: Vec<u8>,
}

impl Processor {
    /// `endpoint` like `http://127.0.0.1:9000`; each call gives up after
    /// `call_timeout`.
    pub fn new(
        endpoint: &str,
        secret: &[u8],
        call_timeout: Duration,
    ) -> Result<Self, ConnectorError> {
        let http = client(call_timeout)?;
        Ok(Self {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            secret: secret.to_vec(),
        })
    }

    /// Sends a signed call and checks the signed answer; the answer's body.
    async fn send(&self, call: Call<'_>) -> Result<(u16, Vec<u8>), ConnectorError> {
        let request_id = request_id();
        let signature = signing::sign_request(
            &self.secret,
            unix_now(),
            &RequestParts {
                method: call.method.as_str(),
                path: call.path,
                idempotency_key: call.idempotency_key,
                request_id: &request_id,
                body: &call.body,
            },
        );
        let mut request = self
            .http
            .request(call.method, format!("{}{}", self.endpoint, call.path))
            .header(SIGNATURE_HEADER, signature)
            .header(REQUEST_ID_HEADER, &request_id)
            .header("content-type", "application/json")
            .body(call.body);
        if !call.idempotency_key.is_empty() {
            request = request.header(IDEMPOTENCY_HEADER, call.idempotency_key);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) if err.is_connect() => {
                return Err(ConnectorError::Unavailable("processor unreachable".into()))
            }
            Err(err) if err.is_timeout() => return Err(ConnectorError::Timeout),
            Err(_) => return Err(ConnectorError::Unavailable("processor call failed".into())),
        };
        let status = response.status().as_u16();
        let signature = response
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = read_bounded(response, ANSWER_BYTES_MAX, "processor").await?;
        let signature =
            signature.ok_or_else(|| ConnectorError::InvalidResponse("answer not signed".into()))?;
        signing::verify_answer(
            &self.secret,
            &signature,
            unix_now(),
            status,
            &request_id,
            &bytes,
        )
        .map_err(|e| ConnectorError::InvalidResponse(format!("answer signature: {e}")))?;
        Ok((status, bytes))
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        operation: &str,
        idempotency_key: &str,
        body: &B,
    ) -> Result<T, ConnectorError> {
        let path = format!("{PATH_PREFIX}{operation}");
        let body = serde_json::to_vec(body)
            .map_err(|_| ConnectorError::Refused("request not encodable".into()))?;
        let (status, bytes) = self
            .send(Call {
                method: reqwest::Method::POST,
                path: &path,
                idempotency_key,
                body,
            })
            .await?;
        reply_of(status, &bytes)
    }

    /// Every attempt the processor holds (for reconciliation).
    pub async fn attempts(&self) -> Result<Vec<AttemptListing>, ConnectorError> {
        let path = format!("{PATH_PREFIX}{ATTEMPTS_PATH}");
        let (status, bytes) = self
            .send(Call {
                method: reqwest::Method::GET,
                path: &path,
                idempotency_key: "",
                body: Vec::new(),
            })
            .await?;
        reply_of(status, &bytes)
    }

    /// Changes a simulator's settings (`portcullis processor-sim`); answers
    /// the settings now in force, as JSON.
    pub async fn change_sim_settings(
        &self,
        settings: &serde_json::Value,
    ) -> Result<serde_json::Value, ConnectorError> {
        let body = serde_json::to_vec(settings)
            .map_err(|_| ConnectorError::Refused("settings not encodable".into()))?;
        let (status, bytes) = self
            .send(Call {
                method: reqwest::Method::POST,
                path: SIM_SETTINGS_PATH,
                idempotency_key: "",
                body,
            })
            .await?;
        reply_of(status, &bytes)
    }
}

/// The call's result from a verified answer.
fn reply_of<T: DeserializeOwned>(status: u16, bytes: &[u8]) -> Result<T, ConnectorError> {
    match status {
        200 => {
            let reply: Reply<T> = serde_json::from_slice(bytes)
                .map_err(|_| ConnectorError::InvalidResponse("answer is not a reply".into()))?;
            reply.into()
        }
        401 => Err(ConnectorError::Refused(
            "processor refused our signature".into(),
        )),
        409 => Err(ConnectorError::Refused(
            "idempotency key reused with another request".into(),
        )),
        500..=599 => Err(ConnectorError::Unavailable(format!(
            "processor answered {status}"
        ))),
        _ => Err(ConnectorError::InvalidResponse(format!(
            "processor answered {status}"
        ))),
    }
}

#[async_trait::async_trait]
impl Connector for Processor {
    fn name(&self) -> &'static str {
        "processor"
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<AuthorizeOutcome, ConnectorError> {
        let body = AuthorizeBody::of(request);
        // A continued (authenticated) attempt is a new request of the same
        // attempt, so it has its own key.
        let key = if request.authenticated {
            format!("{}:authenticated", request.attempt_id)
        } else {
            request.attempt_id.to_owned()
        };
        self.call(AUTHORIZE_PATH, &key, &body).await
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
        self.call(CAPTURE_PATH, &format!("capture:{reference}"), &body)
            .await
    }

    async fn void(&self, reference: &str) -> Result<(), ConnectorError> {
        let body = ReferenceBody {
            reference: reference.to_owned(),
        };
        self.call(VOID_PATH, &format!("void:{reference}"), &body)
            .await
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
        self.call(REFUND_PATH, refund_id, &body).await
    }

    async fn refund_status(&self, refund_id: &str) -> Result<RefundOutcome, ConnectorError> {
        let body = RefundIdBody {
            refund_id: refund_id.to_owned(),
        };
        self.call(REFUND_STATUS_PATH, "", &body).await
    }

    async fn cancel_refund(&self, refund_id: &str) -> Result<bool, ConnectorError> {
        let body = RefundIdBody {
            refund_id: refund_id.to_owned(),
        };
        self.call(
            CANCEL_REFUND_PATH,
            &format!("cancel_refund:{refund_id}"),
            &body,
        )
        .await
    }

    async fn query(&self, attempt_id: &str) -> Result<Option<AttemptRecord>, ConnectorError> {
        let body = AttemptIdBody {
            attempt_id: attempt_id.to_owned(),
        };
        self.call(QUERY_PATH, "", &body).await
    }
}
