//! Idempotent execution of POST requests, as api-contract.md says: the
//! first request with a key claims it; its response is stored in the same
//! transaction as its effects; repeats replay it byte for byte; a repeat
//! with other parameters is an `idempotency_error`; a repeat while the first
//! still runs is 409 `idempotency_key_in_use`. Requests rejected by
//! validation never get here, so they store nothing.

use crate::auth::Caller;
use crate::error::{ApiError, ErrorType};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_store::{IdempotencyClaim, StoreError, WriteOp, WriteSet};
use serde_json::Value;
use std::future::Future;

/// How often a request is re-executed when another request changed the
/// same object between its read and its commit.
const CONFLICT_RETRIES_MAX: usize = 16;

/// What executing a request produced: the answer and the writes that make
/// it true, committed together.
pub struct Executed {
    pub status: StatusCode,
    pub body: Value,
    pub writes: WriteSet,
    /// True once the execution has called a connector (after phase one).
    /// Such an execution is never re-run: if its final commit conflicts,
    /// the request answers 503 and the recovery worker settles the attempt.
    pub external_effects: bool,
}

impl Executed {
    pub fn ok(body: Value, writes: WriteSet) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            writes,
            external_effects: false,
        }
    }

    /// Marks an execution that has already called a connector.
    pub fn after_connector_call(mut self) -> Self {
        self.external_effects = true;
        self
    }
}

/// Runs `execute` (for effect, at most once per idempotency key) and
/// answers the request. `execute` reads current state and returns the writes
/// that make its answer true; if another request changes the same object
/// before those writes commit, `execute` runs again on fresh state.
pub async fn respond<F, Fut>(
    state: &AppState,
    caller: &Caller,
    request: &ApiRequest,
    execute: F,
) -> Response
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Executed, ApiError>>,
{
    let Some(key) = request.idempotency_key.as_deref() else {
        return execute_and_commit(state, None, &execute).await;
    };
    let claimed_at = state.now();
    let claim = state
        .store
        .claim_idempotency(
            &caller.merchant_id,
            key,
            &request.fingerprint,
            claimed_at,
            state.settings.idempotency_lease_s,
        )
        .await;
    match claim {
        Err(err) => ApiError::from(err).into_response(),
        Ok(IdempotencyClaim::Completed {
            fingerprint,
            status_code,
            response_body,
        }) => {
            if fingerprint != request.fingerprint {
                return mismatch(key).into_response();
            }
            replay(status_code, response_body)
        }
        Ok(IdempotencyClaim::InFlight { fingerprint }) => {
            if fingerprint != request.fingerprint {
                return mismatch(key).into_response();
            }
            in_use(key).into_response()
        }
        Ok(IdempotencyClaim::Claimed) => {
            let response = execute_and_commit(state, Some((caller, key)), &execute).await;
            if response.status().is_server_error() {
                release(state, caller, key, claimed_at).await;
            }
            response
        }
    }
}

/// Executes and commits without an idempotency key (the dashboard's
/// actions, whose forms are guarded by their CSRF token and redirect after
/// the post): the same retries as an API request.
pub(crate) async fn execute_unkeyed<F, Fut>(state: &AppState, execute: F) -> Response
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Executed, ApiError>>,
{
    execute_and_commit(state, None, &execute).await
}

/// Executes and commits, retrying on write conflicts. With a claimed key,
/// the response is stored in the same commit; client errors found while
/// executing are the request's result and are stored too.
async fn execute_and_commit<F, Fut>(
    state: &AppState,
    claimed: Option<(&Caller, &str)>,
    execute: &F,
) -> Response
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Executed, ApiError>>,
{
    for _ in 0..CONFLICT_RETRIES_MAX {
        let (status, body, mut writes, external_effects) = match execute().await {
            Ok(done) => (done.status, done.body, done.writes, done.external_effects),
            Err(err) if err.retry_on_fresh_state => continue,
            Err(err) if err.status.is_server_error() || claimed.is_none() => {
                return err.into_response()
            }
            Err(err) => (
                err.status,
                serde_json::json!({ "error": err.to_json() }),
                WriteSet::new(),
                false,
            ),
        };
        let response_body = body.to_string();
        if let Some((caller, key)) = claimed {
            writes.push(WriteOp::CompleteIdempotency {
                merchant_id: caller.merchant_id.clone(),
                key: key.to_owned(),
                status_code: status.as_u16(),
                response_body: response_body.clone(),
            });
        }
        match state.store.commit(writes).await {
            Ok(()) => return json_response(status, response_body),
            Err(StoreError::Conflict) if external_effects => {
                return ApiError::unavailable(&"a concurrent change met a request that had already called the acquirer; recovery will settle it").into_response()
            }
            Err(StoreError::Conflict) => continue,
            // A balance moved between the read and the commit (a concurrent
            // payout): execute again, and the fresh read answers the 400.
            Err(StoreError::InsufficientBalance { .. }) if !external_effects => continue,
            // Likewise a limit the database enforces (another request took
            // the last webhook endpoint slot): the fresh read answers the 400.
            Err(StoreError::LimitReached(_)) if !external_effects => continue,
            Err(StoreError::ClaimLost) => {
                return in_use(claimed.map_or("", |(_, key)| key)).into_response()
            }
            Err(err) => return ApiError::from(err).into_response(),
        }
    }
    ApiError::internal(&"too many concurrent changes to one object").into_response()
}

async fn release(state: &AppState, caller: &Caller, key: &str, claimed_at: i64) {
    if let Err(err) = state
        .store
        .release_idempotency(&caller.merchant_id, key, claimed_at)
        .await
    {
        // The lease still lets a retry take the key over later.
        tracing::warn!(error = %err, "could not release an idempotency claim");
    }
}

/// A JSON answer; like Stripe's, its body ends with a newline (so a
/// terminal prompt after `curl` starts on a line of its own).
pub fn json_response(status: StatusCode, mut body: String) -> Response {
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

fn replay(status_code: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, body);
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

fn mismatch(key: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::Idempotency,
        None,
        format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."),
    )
}

fn in_use(key: &str) -> ApiError {
    let mut err = ApiError::new(
        StatusCode::CONFLICT,
        ErrorType::InvalidRequest,
        Some("idempotency_key_in_use"),
        format!("There is currently another in-progress request using this Idempotent Key ('{key}'). Please try again later."),
    );
    err.should_retry = Some(true);
    err
}
