//! Amounts as a page shows them: from integer minor units and the
//! currency's ISO 4217 exponent, with the symbol the language uses
//! (CLDR's short symbols: `$12.50` / `US$12.50`, `CN¥88.00` / `¥88.00`),
//! grouped by thousands. No floats anywhere.

use super::Locale;
use portcullis_domain::money::Currency;

/// `amount` minor units of `currency`, written for `locale`.
pub fn format_amount(amount: i64, currency: Currency, locale: Locale) -> String {
    let exponent = u32::from(currency.exponent());
    let magnitude = amount.unsigned_abs();
    let scale = 10u64.pow(exponent);
    let whole = group_thousands(magnitude / scale);
    let number = if exponent == 0 {
        whole
    } else {
        let fraction = magnitude % scale;
        format!("{whole}.{fraction:0width$}", width = exponent as usize)
    };
    let sign = if amount < 0 { "-" } else { "" };
    match symbol(currency.as_str(), locale) {
        Some(symbol) => format!("{sign}{symbol}{number}"),
        None => format!("{sign}{} {number}", currency.as_str().to_ascii_uppercase()),
    }
}

/// The short symbol CLDR gives `code` in `locale`, where it gives one.
fn symbol(code: &str, locale: Locale) -> Option<&'static str> {
    Some(match (code, locale) {
        ("usd", Locale::En) => "$",
        ("usd", Locale::ZhCn) => "US$",
        ("cny", Locale::En) => "CN¥",
        ("cny", Locale::ZhCn) => "¥",
        ("jpy", Locale::En) => "¥",
        ("jpy", Locale::ZhCn) => "JP¥",
        ("eur", _) => "€",
        ("gbp", _) => "£",
        ("hkd", _) => "HK$",
        ("cad", _) => "CA$",
        ("aud", _) => "A$",
        _ => return None,
    })
}

/// A positive amount a person typed in major units (`50`, `50.5`,
/// `1,000.25`; at most the currency's exponent of decimals), in minor
/// units; `None` for anything else, zero, or too large. No floats.
pub fn parse_major(text: &str, currency: Currency) -> Option<i64> {
    let exponent = u32::from(currency.exponent());
    let plain: String = text.trim().chars().filter(|c| *c != ',').collect();
    let (whole, fraction) = plain.split_once('.').unwrap_or((&plain, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || whole.len() > 15 || !digits(whole) || !digits(fraction) {
        return None;
    }
    if fraction.len() > exponent as usize || (plain.contains('.') && fraction.is_empty()) {
        return None;
    }
    let scale = 10i64.checked_pow(exponent)?;
    let padded = format!("{fraction:0<width$}", width = exponent as usize);
    let fraction_minor = if padded.is_empty() {
        0
    } else {
        padded.parse::<i64>().ok()?
    };
    let minor = whole
        .parse::<i64>()
        .ok()?
        .checked_mul(scale)?
        .checked_add(fraction_minor)?;
    (minor > 0).then_some(minor)
}

fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn amounts_follow_the_exponent_and_the_language() {
        assert_eq!(
            format_amount(123456, currency("usd"), Locale::En),
            "$1,234.56"
        );
        assert_eq!(
            format_amount(123456, currency("usd"), Locale::ZhCn),
            "US$1,234.56"
        );
        assert_eq!(format_amount(8800, currency("cny"), Locale::ZhCn), "¥88.00");
        assert_eq!(format_amount(8800, currency("cny"), Locale::En), "CN¥88.00");
        assert_eq!(format_amount(500, currency("jpy"), Locale::En), "¥500");
        assert_eq!(
            format_amount(1005, currency("kwd"), Locale::En),
            "KWD 1.005"
        );
        assert_eq!(format_amount(-250, currency("eur"), Locale::En), "-€2.50");
        assert_eq!(
            format_amount(i64::MIN, currency("usd"), Locale::En),
            "-$92,233,720,368,547,758.08"
        );
    }

    #[test]
    fn typed_amounts_become_minor_units_or_nothing() {
        let usd = currency("usd");
        assert_eq!(parse_major("50", usd), Some(5000));
        assert_eq!(parse_major(" 1,000.5 ", usd), Some(100_050));
        assert_eq!(parse_major("0.01", usd), Some(1));
        assert_eq!(parse_major("500", currency("jpy")), Some(500));
        for bad in [
            "",
            "0",
            "0.00",
            "1.234",
            "1.",
            "-5",
            "1e3",
            "abc",
            "99999999999999999",
        ] {
            assert_eq!(parse_major(bad, usd), None, "{bad}");
        }
        assert_eq!(parse_major("5.5", currency("jpy")), None);
    }
}
