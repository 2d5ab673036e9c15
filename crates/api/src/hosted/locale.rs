//! The language of a hosted page, read from the request: an explicit choice
//! (a `locale` on the object the page shows, or `?locale=` when the visitor
//! switches), else the visitor's earlier switch (the [`LOCALE_COOKIE`]), else
//! the browser's `Accept-Language`, else English. The languages themselves
//! are the domain's [`Locale`].

use axum::http::{header, HeaderMap};
pub use portcullis_domain::locale::Locale;

/// The cookie that remembers a visitor's switch of language.
pub const LOCALE_COOKIE: &str = "portcullis_locale";

/// The page's language: `explicit` (the object's or the query's `locale`,
/// `auto` meaning none), else the cookie, else the browser's, else English.
pub fn negotiate(explicit: Option<&str>, headers: &HeaderMap) -> Locale {
    explicit
        .filter(|tag| !tag.eq_ignore_ascii_case("auto"))
        .and_then(Locale::parse)
        .or_else(|| cookie_value(headers, LOCALE_COOKIE).and_then(|v| Locale::parse(&v)))
        .or_else(|| from_accept_language(headers))
        .unwrap_or_default()
}

/// The best written language of the request's `Accept-Language`, if any.
pub fn from_accept_language(headers: &HeaderMap) -> Option<Locale> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Locale::from_accept_language)
}

/// The `Set-Cookie` value remembering `locale` for a year, on `path`,
/// `Secure` when the gateway serves TLS.
pub fn remember_cookie(locale: Locale, path: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{LOCALE_COOKIE}={}; Path={path}; Max-Age=31536000; SameSite=Lax; HttpOnly{secure}",
        locale.tag()
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn explicit_beats_cookie_beats_browser() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("zh-CN"));
        assert_eq!(negotiate(None, &headers), Locale::ZhCn);
        assert_eq!(negotiate(Some("auto"), &headers), Locale::ZhCn);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; portcullis_locale=en"),
        );
        assert_eq!(negotiate(None, &headers), Locale::En);
        assert_eq!(negotiate(Some("zh"), &headers), Locale::ZhCn);
        assert_eq!(negotiate(None, &HeaderMap::new()), Locale::En);
    }

    #[test]
    fn the_cookie_remembers_the_tag() {
        let cookie = remember_cookie(Locale::ZhCn, "/checkout", true);
        assert!(cookie.starts_with("portcullis_locale=zh-CN; Path=/checkout;"));
        assert!(cookie.ends_with("; Secure"));
    }
}
