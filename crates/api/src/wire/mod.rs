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
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use params::Params;
use serde_json::{Map, Value};

/// Longest `Idempotency-Key` accepted.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;

/// A parsed request: its parameters, its idempotency key and a fingerprint
/// of what it asks (method, path, parameters) for idempotent replays.
pub struct ApiRequest {
    pub params: Params,
    pub idempotency_key: Option<String>,
    /// Empty when the request has no idempotency key: only a replay
    /// compares it, and without a key nothing is replayed (a keyed HMAC
    /// and a copy of the parameters per request saved).
    pub fingerprint: String,
    /// This request's `req_…` id, for events it causes.
    pub request_id: Option<String>,
    /// Where the request comes from (see [`crate::client_ip`]).
    pub client_ip: Option<std::net::IpAddr>,
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
        let body_timeout_ms = state.settings.body_read_timeout_ms;
        let bytes = tokio::time::timeout(
            std::time::Duration::from_millis(body_timeout_ms),
            axum::body::to_bytes(body, limit),
        )
        .await
        .map_err(|_| ApiError::body_timed_out(body_timeout_ms))?
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
        refuse_nul(&map, "")?;
        let idempotency_key = idempotency_key_of(&parts.headers)?;
        let declared = parts
            .extensions
            .get::<crate::routes::DeclaredParams>()
            .map(|d| d.0);
        let params = Params::declared(map, declared);
        let fingerprint = match idempotency_key {
            Some(_) => fingerprint_of(state, &parts.method, parts.uri.path(), &params),
            None => String::new(),
        };
        let request_id = parts
            .extensions
            .get::<portcullis_domain::ids::RequestId>()
            .map(|id| id.to_string());
        let client_ip = crate::client_ip::client_ip(&parts, &state.settings.trusted_proxies);
        Ok(ApiRequest {
            params,
            idempotency_key,
            fingerprint,
            request_id,
            client_ip,
        })
    }
}

/// Refuses (400) a parameter whose name or text holds a NUL character: no
/// field of ours takes one, and PostgreSQL cannot store one (it would fail
/// as a server error, which clients retry).
fn refuse_nul(map: &Map<String, Value>, parent: &str) -> Result<(), ApiError> {
    for (name, value) in map {
        let wire_name = if parent.is_empty() {
            name.clone()
        } else {
            format!("{parent}[{name}]")
        };
        let holds_nul = |text: &str| text.contains('\0');
        match value {
            _ if holds_nul(name) => return Err(nul_refused(&wire_name)),
            Value::String(text) if holds_nul(text) => return Err(nul_refused(&wire_name)),
            Value::Object(inner) => refuse_nul(inner, &wire_name)?,
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_name = format!("{wire_name}[{i}]");
                    match item {
                        Value::String(text) if holds_nul(text) => {
                            return Err(nul_refused(&item_name))
                        }
                        Value::Object(inner) => refuse_nul(inner, &item_name)?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn nul_refused(name: &str) -> ApiError {
    let name = crate::error::echo(name);
    ApiError::invalid(
        "parameter_invalid",
        format!("Invalid {name}: text may not contain NUL characters."),
        name,
    )
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

/// What an idempotent replay is compared by: HMAC-SHA256, under the
/// server's key-hash secret, of the method, the path and the parameters
/// without any CVC. Keyed, because the parameters may hold a card number,
/// whose unkeyed hash could be reversed by enumerating card numbers; and
/// a CVC is never kept in any form, not even inside a keyed hash.
fn fingerprint_of(state: &AppState, method: &Method, path: &str, params: &Params) -> String {
    let mut fingerprinted = params.canonical_value();
    drop_cvcs(&mut fingerprinted);
    let text = format!(
        "{} {path}\n{}",
        method.as_str(),
        serde_json::to_string(&fingerprinted).unwrap_or_default()
    );
    state
        .key_hasher
        .keyed_digest("idempotency-request-fingerprint", &text)
}

/// Removes `cvc` from every `card` hash, at any depth.
fn drop_cvcs(value: &mut Value) {
    if let Value::Object(map) = value {
        if let Some(Value::Object(card)) = map.get_mut("card") {
            card.remove("cvc");
        }
        for child in map.values_mut() {
            drop_cvcs(child);
        }
    }
}

/// Middleware: refuses, in our error format, a URL path whose `%XX`
/// escapes decode to bytes that are not UTF-8 (`GET /v1/customers/%ff`).
/// Such a path names no object and no route; left alone, axum's `Path`
/// extractor would answer it with a plain-text 400 of its own, which no
/// client library can parse.
pub async fn refuse_undecodable_path(request: Request, next: Next) -> Response {
    if percent_decodes_to_utf8(request.uri().path()) {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequest,
        Some("url_invalid"),
        format!(
            "Invalid request URL ({}: {}): its %-escapes do not decode to UTF-8 text without NUL characters.",
            request.method(),
            crate::error::echo(request.uri().path())
        ),
    )
    .into_response()
}

/// True when decoding the `%XX` escapes of `path` gives UTF-8 text. A `%`
/// not followed by two hex digits stays as it is, as axum decodes it.
fn percent_decodes_to_utf8(path: &str) -> bool {
    if !path.contains('%') {
        return !path.contains('\0');
    }
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%' && at + 2 < bytes.len())
            .then(|| {
                let high = char::from(bytes[at + 1]).to_digit(16)?;
                let low = char::from(bytes[at + 2]).to_digit(16)?;
                Some((high * 16 + low) as u8)
            })
            .flatten();
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                at += 3;
            }
            None => {
                decoded.push(bytes[at]);
                at += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok() && !decoded.contains(&0)
}

#[cfg(test)]
mod tests {
    use super::percent_decodes_to_utf8;

    #[test]
    fn paths_whose_escapes_are_not_utf8_are_detected() {
        for good in [
            "/v1/customers/cus_1",
            "/v1/customers/%C3%A9",
            "/v1/customers/%",
            "/v1/customers/%4",
            "/v1/customers/%zz",
            "/v1/customers/%25ff",
            "/v1/customers/é",
        ] {
            assert!(percent_decodes_to_utf8(good), "{good}");
        }
        for bad in [
            "/v1/customers/%ff",
            "/v1/customers/%C3",
            "/v1/customers/%C3%28/x",
        ] {
            assert!(!percent_decodes_to_utf8(bad), "{bad}");
        }
    }
}
