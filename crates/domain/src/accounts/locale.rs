//! The two languages of account emails and pages: English and Simplified
//! Chinese, chosen from `Accept-Language` or named outright.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Locale {
    #[default]
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }

    /// `en` or `zh-CN` (case-insensitive; `zh`, `zh-Hans` and `zh-SG` are
    /// Simplified Chinese too).
    pub fn parse(text: &str) -> Option<Self> {
        let tag = text.trim().to_ascii_lowercase();
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        match primary {
            "en" => Some(Locale::En),
            "zh" if !matches!(tag.as_str(), "zh-tw" | "zh-hk" | "zh-mo" | "zh-hant") => {
                Some(Locale::ZhCn)
            }
            _ => None,
        }
    }

    /// The best of our two languages for an `Accept-Language` header, by
    /// its quality values; English when none of them is ours.
    pub fn negotiate(accept_language: &str) -> Self {
        let mut best: Option<(u16, Locale)> = None;
        for item in accept_language.split(',').take(32) {
            let mut parts = item.split(';');
            let Some(locale) = parts.next().and_then(Locale::parse) else {
                continue;
            };
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1000, |q| {
                    (q.trim().parse::<f32>().unwrap_or(0.0) * 1000.0) as u16
                });
            // Earlier items win ties, as the header's order says.
            if best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, locale));
            }
        }
        best.map_or(Locale::En, |(_, locale)| locale)
    }
}

#[cfg(test)]
mod tests {
    use super::Locale;

    #[test]
    fn accept_language_picks_by_quality() {
        assert_eq!(Locale::negotiate("zh-CN,zh;q=0.9,en;q=0.8"), Locale::ZhCn);
        assert_eq!(Locale::negotiate("en-US,en;q=0.9,zh-CN;q=0.5"), Locale::En);
        assert_eq!(Locale::negotiate("fr-FR,zh;q=0.7"), Locale::ZhCn);
        assert_eq!(Locale::negotiate("zh-TW"), Locale::En);
        assert_eq!(Locale::negotiate(""), Locale::En);
        assert_eq!(Locale::parse("ZH-cn"), Some(Locale::ZhCn));
    }
}
