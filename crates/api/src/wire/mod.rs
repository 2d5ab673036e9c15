//! The request side of the wire format: one extractor, [`ApiRequest`], that
//! reads form or JSON bodies (or the query string of a GET) into strict
//! [`Params`], within the body-size bound, and answers every malformed
//! request in our own error format.

pub mod form;
pub mod params;

use crate::error::{ApiError, ErrorType};
use crate::state::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::{header, Method, StatusCode};
pub use params::Params;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Longest `Idempotency-Key` accepted.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;

/// A parsed request: its parameters, its idempotency key and a fingerprint
/// of what it asks (method, path, parameters) for idempotent replays.
pub struct ApiRequest {
    pub params: Params,
    pub idempotency_key: Option<String>,
    pub fingerprint: String,
    /// This request's `req_…` id, for events it causes.
    pub request_id: Option<String>,
    /// The `Host` the client addressed, for links back to this server.
    pub host: Option<String>,
}

impl FromRequest<AppState> for ApiRequest {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let limit = state.settings.body_bytes_max;
        let declared_len = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared_len.is_some_and(|len| len > limit) {
            return Err(ApiError::payload_too_large(limit));
        }
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| ApiError::payload_too_large(limit))?;
        let mut map = match parts.uri.query() {
            Some(query) => form::parse_form(query.as_bytes())?,
            None => Map::new(),
        };
        if parts.method != Method::GET && parts.method != Method::DELETE || !bytes.is_empty() {
            let is_json = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            let body_map = if is_json {
                parse_json(&bytes)?
            } else {
                form::parse_form(&bytes)?
            };
            for (key, value) in body_map {
                map.insert(key, value);
            }
        }
        let idempotency_key = idempotency_key_of(&parts.headers)?;
        let params = Params::new(map);
        let fingerprint = fingerprint_of(&parts.method, parts.uri.path(), &params);
        let request_id = parts
            .extensions
            .get::<portcullis_domain::ids::RequestId>()
            .map(|id| id.to_string());
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(ApiRequest {
            params,
            idempotency_key,
            fingerprint,
            request_id,
            host,
        })
    }
}

fn parse_json(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(body_invalid("The JSON request body must be an object.")),
        Err(err) => Err(body_invalid(&format!(
            "The request body is not valid JSON ({err})."
        ))),
    }
}

fn body_invalid(message: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequest,
        Some("body_invalid"),
        message,
    )
}

fn idempotency_key_of(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| idempotency_key_invalid())?
        .trim();
    if key.is_empty() || key.chars().count() > IDEMPOTENCY_KEY_CHARS_MAX {
        return Err(idempotency_key_invalid());
    }
    Ok(Some(key.to_owned()))
}

fn idempotency_key_invalid() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequest,
        Some("idempotency_key_invalid"),
        format!("Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_CHARS_MAX} printable characters."),
    )
}

fn fingerprint_of(method: &Method, path: &str, params: &Params) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str().as_bytes());
    hash.update(b" ");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(params.canonical_json().as_bytes());
    hex::encode(hash.finalize())
}
