//! The simulator's HTTP side: every request's signature is checked, its
//! idempotency key admitted, a fault rolled, the call made on the sandbox,
//! and the answer signed. Paths are those of
//! `portcullis_connectors::processor`.

use super::faults::{ProcessorFault, DROP_HOLD, LATE};
use super::settings::SettingsChange;
use super::Simulator;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use portcullis_connectors::processor::signing::{
    self, RequestParts, IDEMPOTENCY_HEADER, REQUEST_ID_HEADER, SIGNATURE_HEADER,
};
use portcullis_connectors::processor::{PATH_PREFIX, SIM_SETTINGS_PATH};
use portcullis_connectors::remote::protocol::*;
use portcullis_connectors::{CaptureOutcome, Connector, ConnectorError, UnlistedCards};
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

type Sim = Arc<Simulator>;

/// Longest request body the simulator reads.
const BODY_BYTES_MAX: usize = 64 * 1024;

pub fn routes(simulator: Sim) -> Router {
    Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(simulator)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A signed answer to the request `request_id`.
fn signed(sim: &Simulator, status: StatusCode, request_id: &str, body: Vec<u8>) -> Response {
    let signature =
        signing::sign_answer(&sim.secret, unix_now(), status.as_u16(), request_id, &body);
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn reply<T: Serialize>(result: Result<T, ConnectorError>) -> Vec<u8> {
    serde_json::to_vec(&Reply::from(result)).unwrap_or_default()
}

fn error_body(kind_message: ConnectorError) -> Vec<u8> {
    reply::<()>(Err(kind_message))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Which calls a fault may strike: those that move money.
fn faultable(operation: &str) -> bool {
    matches!(operation, AUTHORIZE_PATH | CAPTURE_PATH | REFUND_PATH)
}

async fn handle(
    State(sim): State<Sim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let request_id = header(&headers, REQUEST_ID_HEADER).to_owned();
    let key = header(&headers, IDEMPOTENCY_HEADER).to_owned();
    let parts = RequestParts {
        method: method.as_str(),
        path: &path,
        idempotency_key: &key,
        request_id: &request_id,
        body: &body,
    };
    let verified = signing::verify_request(
        &sim.secret,
        header(&headers, SIGNATURE_HEADER),
        unix_now(),
        &parts,
    );
    if let Err(error) = verified {
        tracing::info!(%error, path, "request signature refused");
        let body = error_body(ConnectorError::Refused(error.to_string()));
        return signed(&sim, StatusCode::UNAUTHORIZED, &request_id, body);
    }
    if method == Method::POST && path == SIM_SETTINGS_PATH {
        return change_settings(&sim, &request_id, &body);
    }
    let Some(operation) = path.strip_prefix(PATH_PREFIX) else {
        return signed(&sim, StatusCode::NOT_FOUND, &request_id, Vec::new());
    };
    if method == Method::GET && operation == ATTEMPTS_PATH {
        return signed(&sim, StatusCode::OK, &request_id, attempts(&sim));
    }
    if method != Method::POST {
        return signed(
            &sim,
            StatusCode::METHOD_NOT_ALLOWED,
            &request_id,
            Vec::new(),
        );
    }
    if !key.is_empty() && !sim.keys.admit(&key, &body) {
        let body = error_body(ConnectorError::Refused(
            "idempotency key reused with another request".into(),
        ));
        return signed(&sim, StatusCode::CONFLICT, &request_id, body);
    }
    let (fault, latency) = {
        let settings = sim.settings.read();
        let fault = faultable(operation)
            .then(|| settings.faults.roll())
            .flatten();
        (fault, settings.latency)
    };
    if fault == Some(ProcessorFault::ServerError) {
        let body = error_body(ConnectorError::Unavailable(
            "processor busy; not processed".into(),
        ));
        return signed(&sim, StatusCode::SERVICE_UNAVAILABLE, &request_id, body);
    }
    let Some(answer) = act(&sim, operation, &body).await else {
        return signed(&sim, StatusCode::NOT_FOUND, &request_id, Vec::new());
    };
    tokio::time::sleep(latency).await;
    match fault {
        Some(ProcessorFault::Drop) => {
            tokio::time::sleep(DROP_HOLD).await;
            signed(&sim, StatusCode::OK, &request_id, answer)
        }
        Some(ProcessorFault::Late) => {
            tokio::time::sleep(LATE).await;
            signed(&sim, StatusCode::OK, &request_id, answer)
        }
        Some(ProcessorFault::Close) => closed_connection(),
        Some(ProcessorFault::Garbage) => garbage(),
        Some(ProcessorFault::ServerError) | None => {
            signed(&sim, StatusCode::OK, &request_id, answer)
        }
    }
}

/// Headers, then a body that fails: hyper drops the connection mid-answer.
fn closed_connection() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("connection closed by fault"))
    });
    Response::new(Body::from_stream(failing))
}

fn garbage() -> Response {
    let mut bytes = vec![0u8; 48];
    rand::thread_rng().fill(&mut bytes[..]);
    Response::new(Body::from(bytes))
}

fn change_settings(sim: &Simulator, request_id: &str, body: &[u8]) -> Response {
    let change: SettingsChange = match serde_json::from_slice(body) {
        Ok(change) => change,
        Err(error) => {
            let body = error_body(ConnectorError::Refused(format!("settings: {error}")));
            return signed(sim, StatusCode::BAD_REQUEST, request_id, body);
        }
    };
    let mut settings = sim.settings.write();
    match settings.changed(&change) {
        Ok(next) => {
            *settings = next;
            tracing::info!(?change, "settings changed");
            let body = reply(Ok(settings.to_wire()));
            signed(sim, StatusCode::OK, request_id, body)
        }
        Err(error) => {
            let body = error_body(ConnectorError::Refused(format!("{error:#}")));
            signed(sim, StatusCode::BAD_REQUEST, request_id, body)
        }
    }
}

fn attempts(sim: &Simulator) -> Vec<u8> {
    let listed = sim.sandbox.attempts().map(|all| {
        all.into_iter()
            .map(|(attempt_id, record)| AttemptListing { attempt_id, record })
            .collect::<Vec<_>>()
    });
    reply(listed)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ConnectorError> {
    serde_json::from_slice(body)
        .map_err(|_| ConnectorError::Refused("malformed request body".into()))
}

/// Makes the call `operation` asks for; `None` for an unknown operation.
async fn act(sim: &Simulator, operation: &str, body: &[u8]) -> Option<Vec<u8>> {
    let sandbox = &sim.sandbox;
    Some(match operation {
        AUTHORIZE_PATH => reply(match parse::<AuthorizeBody>(body) {
            Ok(body) => authorize(sim, &body).await,
            Err(e) => Err(e),
        }),
        CAPTURE_PATH => reply(match parse::<CaptureBody>(body) {
            Ok(body) => capture(sim, &body).await,
            Err(e) => Err(e),
        }),
        VOID_PATH => reply(match parse::<ReferenceBody>(body) {
            Ok(body) => sandbox.void(&body.reference).await,
            Err(e) => Err(e),
        }),
        REFUND_PATH => reply(match parse::<RefundBody>(body) {
            Ok(b) => {
                sandbox
                    .refund(&b.reference, &b.refund_id, b.amount_minor)
                    .await
            }
            Err(e) => Err(e),
        }),
        REFUND_STATUS_PATH => reply(match parse::<RefundIdBody>(body) {
            Ok(body) => sandbox.refund_status(&body.refund_id).await,
            Err(e) => Err(e),
        }),
        CANCEL_REFUND_PATH => reply(match parse::<RefundIdBody>(body) {
            Ok(body) => sandbox.cancel_refund(&body.refund_id).await,
            Err(e) => Err(e),
        }),
        QUERY_PATH => reply(match parse::<AttemptIdBody>(body) {
            Ok(body) => sandbox.query(&body.attempt_id).await,
            Err(e) => Err(e),
        }),
        _ => return None,
    })
}

async fn authorize(
    sim: &Simulator,
    body: &AuthorizeBody,
) -> Result<portcullis_connectors::AuthorizeOutcome, ConnectorError> {
    let card = body.card()?;
    let request = body.request(&card);
    let approval_rate = sim.settings.read().approval_rate;
    let unlisted = if rand::thread_rng().gen_range(0..100u8) < approval_rate {
        UnlistedCards::Approve
    } else {
        UnlistedCards::Decline
    };
    sim.sandbox.authorize_with(&request, unlisted).await
}

/// A capture; a repeat of one that was made (the same amount, already
/// captured) answers as the first did, so the idempotency key holds across
/// restarts too.
async fn capture(sim: &Simulator, body: &CaptureBody) -> Result<CaptureOutcome, ConnectorError> {
    let first = sim
        .sandbox
        .capture(&body.reference, body.amount_minor)
        .await;
    let Err(ConnectorError::Refused(reason)) = first else {
        return first;
    };
    let made = sim
        .sandbox
        .attempts()?
        .into_iter()
        .map(|(_, record)| record)
        .find(|record| record.reference == body.reference)
        .filter(|record| {
            record.state == portcullis_connectors::AttemptState::Captured
                && record.captured_minor == body.amount_minor
        });
    match made {
        Some(record) => Ok(CaptureOutcome {
            captured_minor: record.captured_minor,
            dispute: record.dispute,
        }),
        None => Err(ConnectorError::Refused(reason)),
    }
}
