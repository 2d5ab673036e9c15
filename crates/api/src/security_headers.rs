//! Headers every answer carries: `Cache-Control: no-store` (answers hold
//! customers, client secrets and keys' data; no cache on the way may keep
//! them), `X-Content-Type-Options: nosniff`, and for the hosted pages a
//! Content-Security-Policy that allows nothing from any other origin and no
//! inline script, and `X-Frame-Options: DENY` (no other site may frame the 3-D
//! Secure page to click through it). HSTS when the server speaks TLS.

use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The hosted pages' policy: scripts, styles, images and fetches from the
/// gateway's own origin only (files of the binary; never an inline script,
/// never another host), images also as `data:` URLs (QR codes), the
/// page's inline `<style>`, no frames, no plugins. Form posts go to the page
/// itself, which redirects to the merchant's URL (so no `form-action`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; frame-ancestors 'none'";
/// Two years, as the HSTS preload list asks.
pub const HSTS: &str = "max-age=63072000";

pub async fn add(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if state.settings.tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}
