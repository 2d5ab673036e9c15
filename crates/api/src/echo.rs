//! `POST /internal/echo`: the benchmark's baseline (performance.md). It
//! parses the JSON body exactly as [`crate::wire::ApiRequest`] would and
//! answers without authentication or storage, so `portcullis bench` can
//! divide payments per second by what this server does when it does
//! nothing but HTTP and JSON. Mounted only when `bench_echo` is set: it is
//! not part of the API and not an attack surface otherwise.

use crate::error::ApiError;
use crate::idempotency::json_response;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

pub const PATH: &str = "/internal/echo";

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, post(echo))
}

async fn echo(State(state): State<AppState>, body: Bytes) -> Response {
    if body.len() > state.settings.body_bytes_max {
        return ApiError::payload_too_large(state.settings.body_bytes_max).into_response();
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(map)) => json_response(
            StatusCode::OK,
            format!(
                "{{\"object\":\"echo\",\"fields\":{},\"bytes\":{}}}",
                map.len(),
                body.len()
            ),
        ),
        _ => {
            ApiError::invalid("body_invalid", "A JSON object is expected.", "body").into_response()
        }
    }
}
