//! The pages' script and stylesheet: files of the binary, served from our
//! own origin (the pages' CSP allows scripts from nowhere else).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

const SCRIPT: &str = include_str!("../../../assets/account/account.js");
const STYLESHEET: &str = include_str!("../../../assets/account/account.css");

fn file(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Versioned with the binary; a day is plenty.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

pub async fn script() -> Response {
    file(SCRIPT, "text/javascript; charset=utf-8")
}

pub async fn stylesheet() -> Response {
    file(STYLESHEET, "text/css; charset=utf-8")
}
