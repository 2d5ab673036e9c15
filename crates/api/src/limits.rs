//! Request-level guards, applied to every route inside the request id's
//! span: a panic in a handler becomes a 500 naming the request id (and is
//! logged) instead of a dropped connection; at most
//! `requests_in_flight_max` requests run at once, and the next one is shed
//! at once with 503 and `Retry-After` rather than queued without bound;
//! and no request runs longer than `request_timeout_ms`.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use portcullis_domain::ids::RequestId;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// When a shed request may come back.
const SHED_RETRY_AFTER_S: u64 = 1;

/// The permits of requests in flight, shared by every connection.
pub struct InFlight {
    permits: Arc<Semaphore>,
}

impl InFlight {
    pub fn new(requests_in_flight_max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(requests_in_flight_max.max(1))),
        }
    }
}

/// Answers a panicking handler with a 500 that names the request id, and
/// logs the panic with it; the connection and the process carry on.
pub async fn catch_panics(request: Request, next: Next) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.as_str().to_owned())
        .unwrap_or_default();
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(request_id, panic = %message, "handler panicked");
            ApiError::panicked(&request_id).into_response()
        }
    }
}

/// Sheds the request with 503 when `requests_in_flight_max` are running,
/// and bounds the request's time by `request_timeout_ms`.
pub async fn bound_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = state.in_flight.permits.clone().try_acquire_owned() else {
        tracing::warn!("request shed: too many requests in flight");
        return ApiError::overloaded(SHED_RETRY_AFTER_S).into_response();
    };
    let timeout_ms = state.settings.request_timeout_ms;
    match tokio::time::timeout(Duration::from_millis(timeout_ms), next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::request_timed_out(timeout_ms).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_request_id() {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async {
                    panic!("a bug in a handler");
                    #[allow(unreachable_code)]
                    ""
                }),
            )
            .route("/fine", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(catch_panics))
            .layer(axum::middleware::from_fn(
                crate::request_id::assign_request_id,
            ));
        let request = Request::builder()
            .uri("/boom")
            .body(axum::body::Body::empty());
        let response = app.clone().oneshot(request.unwrap()).await.unwrap();
        assert_eq!(response.status(), 500);
        let id = response.headers()["request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(id.starts_with("req_"));
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["type"], "api_error");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&id), "{message}");
        assert!(!message.contains("a bug"), "the cause is never sent");
        let request = Request::builder()
            .uri("/fine")
            .body(axum::body::Body::empty());
        let after = app.oneshot(request.unwrap()).await.unwrap();
        assert_eq!(after.status(), 200, "the service carries on");
    }
}
