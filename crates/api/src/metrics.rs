//! What the API records for `GET /metrics` (the `metrics` facade; the
//! binary installs the Prometheus recorder and serves the text): the
//! latency of every request by route template, method and status, and
//! payments by outcome and decline code. Label values come from fixed
//! sets (route templates, standard methods, status codes), so no client
//! can grow the set of series. Decline codes come from the connector and
//! are checked for shape only (a remote acquirer may send any), so at most
//! [`DECLINE_CODE_LABELS_MAX`] distinct ones get a label of their own in a
//! process; the rest are counted as `other`.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::LazyLock;

/// Most distinct `decline_code` label values one process exports.
pub const DECLINE_CODE_LABELS_MAX: usize = 64;

static DECLINE_CODES: LazyLock<LabelSet> = LazyLock::new(|| LabelSet::new(DECLINE_CODE_LABELS_MAX));

/// Label values handed out so far, at most `max` of them: a value first
/// seen once the set is full is answered `other`.
struct LabelSet {
    seen: Mutex<HashSet<String>>,
    max: usize,
}

impl LabelSet {
    fn new(max: usize) -> Self {
        Self {
            seen: Mutex::new(HashSet::new()),
            max,
        }
    }

    fn label(&self, value: &str) -> String {
        let mut seen = self.seen.lock();
        if seen.contains(value) {
            return value.to_owned();
        }
        if seen.len() < self.max {
            seen.insert(value.to_owned());
            return value.to_owned();
        }
        "other".to_owned()
    }
}

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
/// `authentication_failed`; `decline_code` is empty unless declined
/// (`other` once [`DECLINE_CODE_LABELS_MAX`] codes have their own).
pub fn count_payment(outcome: &'static str, decline_code: Option<&str>) {
    let decline_code = decline_code.map_or_else(String::new, |code| DECLINE_CODES.label(code));
    metrics::counter!(
        "portcullis_payments_total",
        "outcome" => outcome,
        "decline_code" => decline_code
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    use super::{method_label, LabelSet};
    use axum::http::Method;

    #[test]
    fn decline_codes_past_the_bound_share_one_label() {
        let codes = LabelSet::new(3);
        for code in ["do_not_honor", "insufficient_funds", "stolen_card"] {
            assert_eq!(codes.label(code), code);
        }
        assert_eq!(codes.label("acquirer_code_0001"), "other");
        assert_eq!(codes.label("acquirer_code_0002"), "other");
        // A code that already has its label keeps it.
        assert_eq!(codes.label("insufficient_funds"), "insufficient_funds");
        assert_eq!(codes.seen.lock().len(), 3);
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        let custom = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&custom), "other");
    }
}
