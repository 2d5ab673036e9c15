//! Liveness and readiness, for load balancers and orchestrators.

use crate::idempotency::json_response;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

/// 200 whenever the process serves HTTP.
pub async fn health() -> Response {
    json_response(StatusCode::OK, json!({ "status": "ok" }).to_string())
}

/// 200 only when the database answers.
pub async fn ready(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => json_response(
            StatusCode::OK,
            json!({ "status": "ok", "database": state.store.backend_name() }).to_string(),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "unavailable" }).to_string(),
            )
        }
    }
}
