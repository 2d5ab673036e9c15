//! What the API records for `GET /metrics` (the `metrics` facade; the
//! binary installs the Prometheus recorder and serves the text): the
//! latency of every request by route template, method and status, and
//! payments by outcome and decline code. Label values come from fixed
//! sets (route templates, standard methods, status codes, the connector's
//! checked decline codes), so no client can grow the set of series.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// Records `portcullis_http_request_duration_seconds{method, route, status}`.
/// Requests no route matched share the route label `unmatched`.
pub async fn track_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = method_label(request.method());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::dashboard::charts::latency::record(method, &route, started.elapsed());
    metrics::histogram!(
        "portcullis_http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => response.status().as_str().to_owned()
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// The standard methods by name; any other shares `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts a payment's decided outcome in
/// `portcullis_payments_total{outcome, decline_code}`: `succeeded`,
/// `requires_capture`, `requires_action`, `declined`, `blocked` or
/// `authentication_failed`; `decline_code` is empty unless declined.
pub fn count_payment(outcome: &'static str, decline_code: Option<&str>) {
    metrics::counter!(
        "portcullis_payments_total",
        "outcome" => outcome,
        "decline_code" => decline_code.unwrap_or_default().to_owned()
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    use super::method_label;
    use axum::http::Method;

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        let custom = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&custom), "other");
    }
}
