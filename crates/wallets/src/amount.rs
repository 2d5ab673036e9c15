//! Amounts: the providers speak yuan (Alipay: `"12.34"`) or fen (WeChat
//! Pay: `1234`); we keep minor units. Conversions are exact integer
//! arithmetic; a value that does not convert exactly is refused.

use crate::WalletError;

/// Minor units (fen) as yuan with exactly two decimals: `1234` → `"12.34"`.
/// Negative amounts are refused: the providers take none.
pub fn yuan_text(fen: i64) -> Result<String, WalletError> {
    if fen < 0 {
        return Err(WalletError::Amount);
    }
    Ok(format!("{}.{:02}", fen / 100, fen % 100))
}

/// Yuan text with at most two decimals back to fen: `"12.3"` → `1230`.
/// Signs, exponents, spaces and more than two decimals are refused.
pub fn fen_of_yuan(text: &str) -> Result<i64, WalletError> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.len() > 2 || (!fraction.is_empty() && !digits(fraction)) {
        return Err(WalletError::Amount);
    }
    if text.ends_with('.') {
        return Err(WalletError::Amount);
    }
    let whole: i64 = whole.parse().map_err(|_| WalletError::Amount)?;
    let fraction: i64 = format!("{fraction:0<2}")
        .parse()
        .map_err(|_| WalletError::Amount)?;
    whole
        .checked_mul(100)
        .and_then(|fen| fen.checked_add(fraction))
        .ok_or(WalletError::Amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_and_yuan_round_trip_exactly() {
        for (fen, text) in [
            (0, "0.00"),
            (1, "0.01"),
            (10, "0.10"),
            (1234, "12.34"),
            (100_000_000_00, "100000000.00"),
        ] {
            assert_eq!(yuan_text(fen).unwrap(), text);
            assert_eq!(fen_of_yuan(text).unwrap(), fen);
        }
        assert_eq!(fen_of_yuan("12.3").unwrap(), 1230);
        assert_eq!(fen_of_yuan("7").unwrap(), 700);
        assert_eq!(yuan_text(i64::MAX).unwrap(), "92233720368547758.07");
    }

    #[test]
    fn inexact_or_odd_yuan_text_is_refused() {
        for text in [
            "",
            ".5",
            "1.",
            "1.234",
            "-1.00",
            "+1",
            "1e2",
            " 1.00",
            "1,00",
            "99999999999999999999",
        ] {
            assert_eq!(fen_of_yuan(text), Err(WalletError::Amount), "{text}");
        }
        assert_eq!(yuan_text(-1), Err(WalletError::Amount));
    }
}
