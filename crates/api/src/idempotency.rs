//! Idempotent execution of POST requests, as api-contract.md says: the
//! first request with a key claims it; its response is stored in the same
//! transaction as its effects; repeats replay it byte for byte; a repeat
//! with other parameters is an `idempotency_error`; a repeat while the first
//! still runs is 409 `idempotency_key_in_use`. Requests rejected by
//! validation never get here, so they store nothing.

pub use crate::answer_body::AnswerBody;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorType};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_store::{IdempotencyClaim, StoreError, WriteOp, WriteSet};
use std::future::Future;

/// Re-plans an execution's writes on fresh state without calling any
/// connector again: for an execution whose connector call is made and
/// whose final commit met a concurrent change to an object it only
/// follows (a top-up's customer, bumped by another wallet movement).
pub type Replan = Box<
    dyn Fn() -> futures_util::future::BoxFuture<'static, Result<WriteSet, ApiError>> + Send + Sync,
>;

/// How often an execution that called a connector is re-planned on fresh
/// state before its conflict answers 503 (and recovery settles it): as
/// often as any other request re-executes, since each conflict means
/// another request committed.
const REPLANS_MAX: usize = CONFLICT_RETRIES_MAX;

/// How often a request is re-executed when another request changed the
/// same object between its read and its commit.
const CONFLICT_RETRIES_MAX: usize = 16;

/// What executing a request produced: the answer and the writes that make
/// it true, committed together.
pub struct Executed {
    pub status: StatusCode,
    pub body: AnswerBody,
    pub writes: WriteSet,
    /// True once the execution has called a connector (after phase one).
    /// Such an execution is never re-run: if its final commit conflicts,
    /// the request answers 503 and the recovery worker settles the attempt
    /// — unless `replan` can rebuild its writes on fresh state.
    pub external_effects: bool,
    /// How to rebuild `writes` on fresh state after a conflict, when the
    /// connector was called (see [`Replan`]).
    pub replan: Option<Replan>,
}

impl Executed {
    pub fn ok(body: impl Into<AnswerBody>, writes: WriteSet) -> Self {
        Self {
            status: StatusCode::OK,
            body: body.into(),
            writes,
            external_effects: false,
            replan: None,
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
        let done = match execute().await {
            Ok(done) => done,
            Err(err) if err.retry_on_fresh_state => continue,
            Err(err) if err.status.is_server_error() || claimed.is_none() => {
                return err.into_response()
            }
            Err(err) => Executed {
                status: err.status,
                body: serde_json::json!({ "error": err.to_json() }).into(),
                writes: WriteSet::new(),
                external_effects: false,
                replan: None,
            },
        };
        let (status, external_effects) = (done.status, done.external_effects);
        let response_body = done.body.into_string();
        let completion = claimed.map(|(caller, key)| WriteOp::CompleteIdempotency {
            merchant_id: caller.merchant_id.clone(),
            key: key.to_owned(),
            status_code: status.as_u16(),
            response_body: response_body.clone(),
        });
        let committed =
            commit_replanning(state, done.writes, done.replan.as_ref(), &completion).await;
        match committed {
            Ok(()) => return json_response(status, response_body),
            Err(Committed::Failed(err)) => return err.into_response(),
            Err(Committed::Store(StoreError::Conflict)) if external_effects => {
                return ApiError::unavailable(&"a concurrent change met a request that had already called the acquirer; recovery will settle it").into_response()
            }
            Err(Committed::Store(StoreError::Conflict)) => continue,
            // A balance moved between the read and the commit (a concurrent
            // payout): execute again, and the fresh read answers the 400.
            Err(Committed::Store(StoreError::InsufficientBalance { .. })) if !external_effects => {
                continue
            }
            // Likewise a limit the database enforces (another request took
            // the last webhook endpoint slot): the fresh read answers the 400.
            Err(Committed::Store(StoreError::LimitReached(_))) if !external_effects => continue,
            Err(Committed::Store(StoreError::ClaimLost)) => {
                return in_use(claimed.map_or("", |(_, key)| key)).into_response()
            }
            Err(Committed::Store(err)) => return ApiError::from(err).into_response(),
        }
    }
    ApiError::internal(&"too many concurrent changes to one object").into_response()
}

/// Why a commit did not happen: the store refused it, or re-planning it
/// failed.
enum Committed {
    Store(StoreError),
    Failed(ApiError),
}

/// Commits `writes` (with the idempotency `completion`); on a conflict,
/// re-plans them on fresh state with `replan`, at most [`REPLANS_MAX`]
/// times, and commits again.
async fn commit_replanning(
    state: &AppState,
    mut writes: WriteSet,
    replan: Option<&Replan>,
    completion: &Option<WriteOp>,
) -> Result<(), Committed> {
    let mut replans = 0;
    loop {
        writes.ops.extend(completion.clone());
        match state.store.commit(writes).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict) => match replan {
                Some(replan) if replans < REPLANS_MAX => {
                    replans += 1;
                    tracing::info!(
                        replans,
                        "re-planned a commit on fresh state after a concurrent change"
                    );
                    writes = replan().await.map_err(Committed::Failed)?;
                }
                _ => return Err(Committed::Store(StoreError::Conflict)),
            },
            Err(err) => return Err(Committed::Store(err)),
        }
    }
}

/// Commits an execution's `writes` outside any keyed request (a hosted
/// page's post, the recovery worker), re-planned with `replan` after a
/// conflict as [`respond`] does.
pub(crate) async fn commit_unkeyed(
    state: &AppState,
    writes: WriteSet,
    replan: Option<&Replan>,
) -> Result<(), ApiError> {
    match commit_replanning(state, writes, replan, &None).await {
        Ok(()) => Ok(()),
        Err(Committed::Store(err)) => Err(err.into()),
        Err(Committed::Failed(err)) => Err(err),
    }
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
