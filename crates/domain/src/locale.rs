//! The languages Portcullis writes its pages and emails in (hosted checkout,
//! the step-up page, customer account pages and emails, the dashboard), and
//! how a BCP 47 tag or an `Accept-Language` header picks one. Reading the tag
//! from a request (query, cookie, header) is the `api` crate's business.

use serde::{Deserialize, Serialize};

/// A written language. Serialised (an account's stored choice) as its tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Locale {
    #[default]
    #[serde(rename = "en")]
    En,
    /// Simplified Chinese (简体中文).
    #[serde(rename = "zh-CN")]
    ZhCn,
}

/// The most `Accept-Language` items read: a header is a list the client
/// writes, so its length is bounded before it is walked.
const ACCEPT_LANGUAGE_ITEMS_MAX: usize = 32;

impl Locale {
    /// Every written language, in the order a switcher lists them.
    pub const ALL: [Locale; 2] = [Locale::En, Locale::ZhCn];

    /// The language a BCP 47 tag (or Stripe's `locale`) asks for: `en`,
    /// `en-GB` → English; `zh`, `zh-CN`, `zh-Hans`, `zh-SG` → Simplified
    /// Chinese (case-insensitive, `_` read as `-`). Traditional Chinese
    /// (`zh-TW`, `zh-HK`, `zh-Hant`) and every other language are not
    /// written, so `None` (the caller falls back).
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

    /// The tag a page declares (`<html lang>`), a switch link carries and
    /// an account stores.
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
        for item in header.split(',').take(ACCEPT_LANGUAGE_ITEMS_MAX) {
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

#[cfg(test)]
mod tests {
    use super::Locale;

    #[test]
    fn tags_name_the_written_languages_only() {
        assert_eq!(Locale::parse("en-GB"), Some(Locale::En));
        assert_eq!(Locale::parse("zh"), Some(Locale::ZhCn));
        assert_eq!(Locale::parse("ZH-cn"), Some(Locale::ZhCn));
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
            Locale::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Some(Locale::ZhCn)
        );
        assert_eq!(
            Locale::from_accept_language("en-US,en;q=0.9,zh-CN;q=0.5"),
            Some(Locale::En)
        );
        assert_eq!(
            Locale::from_accept_language("zh-CN;q=0, en"),
            Some(Locale::En)
        );
        assert_eq!(Locale::from_accept_language("zh-TW"), None);
        assert_eq!(Locale::from_accept_language(""), None);
        assert_eq!(Locale::from_accept_language("de, fr"), None);
    }

    #[test]
    fn an_account_stores_the_tag() {
        let json = serde_json::to_string(&Locale::ZhCn).unwrap();
        assert_eq!(json, "\"zh-CN\"");
        assert_eq!(
            serde_json::from_str::<Locale>("\"en\"").unwrap(),
            Locale::En
        );
    }
}
