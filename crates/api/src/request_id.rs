//! Every response carries `Request-Id: req_…`, and every log line written
//! while serving a request carries the same id (a tracing span). Responses
//! also echo `Idempotency-Key` and name the `Stripe-Version` they speak, as
//! the client libraries read both back (`lastResponse`).

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use portcullis_domain::ids::RequestId;
use tracing::Instrument;

pub async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let id = RequestId::generate();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let idempotency_key = request.headers().get("idempotency-key").cloned();
    let version = request
        .headers()
        .get("stripe-version")
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(crate::events::API_VERSION));
    request.extensions_mut().insert(id.clone());
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_us = started.elapsed().as_micros() as u64,
            "request finished"
        );
    });
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        headers.insert("request-id", value);
    }
    if let Some(key) = idempotency_key {
        headers.insert("idempotency-key", key);
    }
    headers.insert("stripe-version", version);
    response
}
