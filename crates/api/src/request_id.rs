//! Every response carries `Request-Id: req_…`, and every log line written
//! while serving a request carries the same id (a tracing span).

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
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert("request-id", value);
    }
    response
}
