//! The language of a hosted page: an explicit choice (a `locale` on the
//! object the page shows, or `?locale=` when the visitor switches), else the
//! visitor's earlier switch (the [`LOCALE_COOKIE`]), else the browser's
//! `Accept-Language`, else English.

use axum::http::{header, HeaderMap};

/// The cookie that remembers a visitor's switch of language.
pub const LOCALE_COOKIE: &str = "portcullis_locale";

/// A language the hosted pages are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    En,
    /// Simplified Chinese (简体中文).
    ZhCn,
}

impl Locale {
    /// Every language the pages are written in, in the order a switcher
    /// lists them.
    pub const ALL: [Locale; 2] = [Locale::En, Locale::ZhCn];

    /// The language a BCP 47 tag (or Stripe's `locale`) asks for: `en`,
    /// `en-GB` → English; `zh`, `zh-CN`, `zh-Hans`, `zh-SG` → Simplified
    /// Chinese. Traditional Chinese (`zh-TW`, `zh-HK`, `zh-Hant`) and every
    /// other language are not written, so `None` (the caller falls back).
    pub fn parse(tag: &str) -> Option<Locale> {
        let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
        let mut parts = tag.split('-');
        match parts.next()? {
            "en" => Some(Locale::En),
            "zh" => {
                let rest: Vec<&str> = parts.collect();
                let traditional = rest
                    .iter()
                    .any(|part| matches!(*part, "hant" | "tw" | "hk" | "mo"));
                let simplified = rest
                    .iter()
                    .any(|part| matches!(*part, "hans" | "cn" | "sg"));
                (simplified || !traditional).then_some(Locale::ZhCn)
            }
            _ => None,
        }
    }

    /// The tag a page declares (`<html lang>`) and a switch link carries.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }

    /// The language's own name, for the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Locale::En => "English",
            Locale::ZhCn => "简体中文",
        }
    }

    /// The best written language among an `Accept-Language` header's,
    /// by their q-values (ties: the order given); `None` when none is written.
    pub fn from_accept_language(header: &str) -> Option<Locale> {
        let mut best: Option<(u16, Locale)> = None;
        for item in header.split(',') {
            let mut pieces = item.split(';');
            let Some(locale) = pieces.next().and_then(Locale::parse) else {
                continue;
            };
            let quality = pieces
                .find_map(|piece| piece.trim().strip_prefix("q="))
                .map_or(1000, quality_per_mille);
            if quality > 0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, locale));
            }
        }
        best.map(|(_, locale)| locale)
    }

    /// The page's language: `explicit` (the object's or the query's
    /// `locale`, `auto` meaning none), else the cookie, else the browser's,
    /// else English.
    pub fn negotiate(explicit: Option<&str>, headers: &HeaderMap) -> Locale {
        explicit
            .filter(|tag| !tag.eq_ignore_ascii_case("auto"))
            .and_then(Locale::parse)
            .or_else(|| cookie_value(headers, LOCALE_COOKIE).and_then(|v| Locale::parse(&v)))
            .or_else(|| {
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Locale::from_accept_language)
            })
            .unwrap_or_default()
    }

    /// The `Set-Cookie` value remembering this language for a year, on
    /// `path`, `Secure` when the gateway serves TLS.
    pub fn set_cookie(self, path: &str, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!(
            "{LOCALE_COOKIE}={}; Path={path}; Max-Age=31536000; SameSite=Lax; HttpOnly{secure}",
            self.tag()
        )
    }
}

/// `q=0.8` → 800; anything unreadable counts as 0 (not acceptable).
fn quality_per_mille(value: &str) -> u16 {
    let value = value.trim();
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    match whole {
        "1" => 1000,
        "0" => {
            let digits: String = fraction.chars().take(3).collect();
            if !digits.chars().all(|c| c.is_ascii_digit()) {
                return 0;
            }
            format!("{digits:0<3}").parse().unwrap_or(0)
        }
        _ => 0,
    }
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
    fn tags_name_the_written_languages_only() {
        assert_eq!(Locale::parse("en-GB"), Some(Locale::En));
        assert_eq!(Locale::parse("zh"), Some(Locale::ZhCn));
        assert_eq!(Locale::parse("zh_Hans_CN"), Some(Locale::ZhCn));
        assert_eq!(Locale::parse("zh-TW"), None);
        assert_eq!(Locale::parse("zh-Hant-HK"), None);
        assert_eq!(Locale::parse("fr"), None);
    }

    #[test]
    fn accept_language_is_read_by_quality() {
        assert_eq!(
            Locale::from_accept_language("fr;q=0.9, en;q=0.5, zh-CN;q=0.8"),
            Some(Locale::ZhCn)
        );
        assert_eq!(
            Locale::from_accept_language("zh-CN;q=0, en"),
            Some(Locale::En)
        );
        assert_eq!(Locale::from_accept_language("de, fr"), None);
    }

    #[test]
    fn explicit_beats_cookie_beats_browser() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("zh-CN"));
        assert_eq!(Locale::negotiate(None, &headers), Locale::ZhCn);
        assert_eq!(Locale::negotiate(Some("auto"), &headers), Locale::ZhCn);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; portcullis_locale=en"),
        );
        assert_eq!(Locale::negotiate(None, &headers), Locale::En);
        assert_eq!(Locale::negotiate(Some("zh"), &headers), Locale::ZhCn);
        assert_eq!(Locale::negotiate(None, &HeaderMap::new()), Locale::En);
    }
}
