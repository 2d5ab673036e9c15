//! The one API error type, and its one mapping to the wire format.
//!
//! Handlers return `Result<_, ApiError>`. Client mistakes carry a `code`,
//! a message and the `param` at fault; server faults answer a bare message
//! and their cause goes to the log only, never to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_store::StoreError;
use serde_json::{json, Map, Value};

/// Stripe's `error.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    InvalidRequest,
    Idempotency,
    Card,
    Api,
}

impl ErrorType {
    fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request_error",
            ErrorType::Idempotency => "idempotency_error",
            ErrorType::Card => "card_error",
            ErrorType::Api => "api_error",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ErrorType,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
    /// Extra fields of the error object (`decline_code`, `payment_intent`, …).
    pub extra: Map<String, Value>,
    /// `Stripe-Should-Retry`, when the server knows better than the status.
    pub should_retry: Option<bool>,
    /// `Retry-After` in seconds: when a refused request may come back.
    pub retry_after_s: Option<u64>,
    /// Another request changed the object mid-execution: execute again on
    /// fresh state. Never sent; `idempotency::respond` consumes it.
    pub retry_on_fresh_state: bool,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: ErrorType,
        code: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            code,
            message: message.into(),
            param: None,
            extra: Map::new(),
            should_retry: None,
            retry_after_s: None,
            retry_on_fresh_state: false,
        }
    }

    /// Signals a write conflict inside an execution that commits early.
    pub fn concurrent_change() -> Self {
        let mut err = Self::new(
            StatusCode::CONFLICT,
            ErrorType::InvalidRequest,
            Some("concurrent_change"),
            "The object was changed by another request; please retry.",
        );
        err.retry_on_fresh_state = true;
        err
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// 400 `invalid_request_error` with a code and the parameter at fault.
    pub fn invalid(
        code: &'static str,
        message: impl Into<String>,
        param: impl Into<String>,
    ) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequest,
            Some(code),
            message,
        )
        .with_param(param)
    }

    /// 400 `balance_insufficient`: a payout above the available balance.
    pub fn insufficient_balance() -> Self {
        ApiError::invalid(
            "balance_insufficient",
            "You have insufficient funds in your available balance for this payout.",
            "amount",
        )
    }

    /// 400 for a write the database refused because a limit is reached.
    pub fn limit_reached(limit: &'static str) -> Self {
        let message = match limit {
            "webhook_endpoints_max" => format!(
                "You have reached the maximum of {} webhook endpoints in this mode. Delete one before creating another.",
                portcullis_domain::webhooks::ENDPOINTS_MAX
            ),
            other => format!("A limit of your account is reached ({other})."),
        };
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequest,
            Some("resource_limit_exceeded"),
            message,
        )
    }

    pub fn unknown_parameter(param: &str) -> Self {
        Self::invalid(
            "parameter_unknown",
            format!("Received unknown parameter: {}", echo(param)),
            echo(param),
        )
    }

    pub fn missing_parameter(param: &str) -> Self {
        Self::invalid(
            "parameter_missing",
            format!("Missing required param: {param}."),
            param,
        )
    }

    /// 404 for an object that does not exist *for this caller*.
    pub fn no_such(object: &str, id: &str, param: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorType::InvalidRequest,
            Some("resource_missing"),
            format!("No such {object}: '{id}'"),
        )
        .with_param(param)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorType::InvalidRequest,
            None,
            message,
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            ErrorType::InvalidRequest,
            Some("secret_key_required"),
            message,
        )
    }

    pub fn route_not_found(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorType::InvalidRequest,
            None,
            format!("Unrecognized request URL ({method}: {}).", echo(path)),
        )
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorType::InvalidRequest,
            Some("payload_too_large"),
            format!("The request body exceeds the limit of {limit_bytes} bytes."),
        )
    }

    /// 429 Stripe's `rate_limit`: too many requests from one key or merchant.
    pub fn rate_limited(retry_after_s: u64) -> Self {
        let mut err = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorType::InvalidRequest,
            Some("rate_limit"),
            "Request rate limit exceeded. Spread your requests out, and retry after the time given in Retry-After.",
        );
        err.retry_after_s = Some(retry_after_s.max(1));
        err.should_retry = Some(true);
        err
    }

    /// 503 load shedding: the server is at its bound of requests in flight.
    pub fn overloaded(retry_after_s: u64) -> Self {
        let mut err = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Api,
            None,
            "The server is handling too many requests at once. Retry after the time given in Retry-After.",
        );
        err.retry_after_s = Some(retry_after_s.max(1));
        err.should_retry = Some(true);
        err
    }

    /// 503: the request ran past the server's per-request time bound.
    pub fn request_timed_out(timeout_ms: u64) -> Self {
        tracing::warn!(timeout_ms, "request timed out");
        let mut err = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Api,
            None,
            format!("The request did not finish within {timeout_ms} ms. Retry it with the same Idempotency-Key."),
        );
        err.retry_after_s = Some(1);
        err.should_retry = Some(true);
        err
    }

    /// 408: the client did not send its whole body in time.
    pub fn body_timed_out(timeout_ms: u64) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorType::InvalidRequest,
            Some("request_timeout"),
            format!("The request body did not arrive within {timeout_ms} ms."),
        )
    }

    /// 500 for a handler that panicked: the request id lets an operator
    /// find the logged cause; nothing of the cause is sent.
    pub fn panicked(request_id: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::Api,
            None,
            format!("An unexpected error occurred on our side (request {request_id}). The request may be retried."),
        )
    }

    /// A server fault: the cause is logged here and never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::Api,
            None,
            "An unexpected error occurred on our side. The request may be retried.",
        )
    }

    /// The database is unreachable: 503, and the libraries may retry.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "storage unavailable");
        let mut err = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Api,
            None,
            "The service is temporarily unavailable. The request may be retried.",
        );
        err.should_retry = Some(true);
        err
    }

    /// The error object as sent, without the `{"error": …}` wrapper.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), json!(self.kind.as_str()));
        if let Some(code) = self.code {
            body.insert("code".into(), json!(code));
        }
        body.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            body.insert("param".into(), json!(param));
        }
        for (key, value) in &self.extra {
            body.insert(key.clone(), value.clone());
        }
        Value::Object(body)
    }
}

/// Most characters of client text an error repeats (a parameter name, a
/// path): enough to recognise it, not a reflector for whatever was sent.
pub const ECHO_CHARS_MAX: usize = 64;

/// `text` as an error may repeat it: at most [`ECHO_CHARS_MAX`] characters,
/// with `…` when cut.
pub fn echo(text: &str) -> String {
    let mut chars = text.chars();
    let shown: String = chars.by_ref().take(ECHO_CHARS_MAX).collect();
    if chars.next().is_some() {
        format!("{shown}…")
    } else {
        shown
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => ApiError::concurrent_change(),
            StoreError::InsufficientBalance { .. } => ApiError::insufficient_balance(),
            StoreError::LimitReached(limit) => ApiError::limit_reached(limit),
            StoreError::Unavailable(_) => ApiError::unavailable(&err),
            _ => ApiError::internal(&err),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.to_json() });
        let mut response = crate::idempotency::json_response(self.status, body.to_string());
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(retry) = self.should_retry {
            response.headers_mut().insert(
                "stripe-should-retry",
                HeaderValue::from_static(if retry { "true" } else { "false" }),
            );
        }
        response
    }
}
