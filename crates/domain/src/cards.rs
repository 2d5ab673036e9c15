//! Cards: the number, expiry and security code a customer types in, checked
//! the way Stripe checks them, and the brand and funding labels shown on a
//! payment method.
//!
//! The number and the CVC are secrets (PCI DSS 3.3.1, 3.4.1): they live in
//! zeroized memory, their `Debug` shows at most the last four digits, and
//! they implement neither `Display` nor `Serialize`, so they cannot reach a
//! log line or a response body by accident. Only `expose_digits` hands them
//! out, for the vault and the connectors.

use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

/// Fewest digits in a card number (after separators are removed).
pub const CARD_NUMBER_DIGITS_MIN: usize = 12;
/// Most digits in a card number (after separators are removed).
pub const CARD_NUMBER_DIGITS_MAX: usize = 19;
/// How many years past the current one an expiry year may lie.
pub const EXPIRY_YEARS_AHEAD_MAX: i64 = 50;

/// Why card details were refused. Messages are Stripe's and never contain
/// the details themselves.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum CardError {
    /// Not 12–19 digits (spaces and dashes aside).
    #[error("Your card number is invalid.")]
    InvalidNumber,
    /// Well-formed, but fails the Luhn check.
    #[error("Your card number is incorrect.")]
    IncorrectNumber,
    #[error("Your card's expiration month is invalid.")]
    InvalidExpiryMonth,
    #[error("Your card's expiration year is invalid.")]
    InvalidExpiryYear,
    #[error("Your card's security code is invalid.")]
    InvalidCvc,
}

impl CardError {
    /// The Stripe error `code`.
    pub fn code(&self) -> &'static str {
        match self {
            CardError::InvalidNumber => "invalid_number",
            CardError::IncorrectNumber => "incorrect_number",
            CardError::InvalidExpiryMonth => "invalid_expiry_month",
            CardError::InvalidExpiryYear => "invalid_expiry_year",
            CardError::InvalidCvc => "invalid_cvc",
        }
    }

    /// The wire-format parameter the error is about, inside `card[…]`.
    pub fn param(&self) -> &'static str {
        match self {
            CardError::InvalidNumber | CardError::IncorrectNumber => "number",
            CardError::InvalidExpiryMonth => "exp_month",
            CardError::InvalidExpiryYear => "exp_year",
            CardError::InvalidCvc => "cvc",
        }
    }
}

/// The card network, as told by the number's leading digits (its IIN).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Diners,
    UnionPay,
    Unknown,
}

impl CardBrand {
    /// The wire name (`visa`, `mastercard`, …, `unionpay`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Discover => "discover",
            CardBrand::Jcb => "jcb",
            CardBrand::Diners => "diners",
            CardBrand::UnionPay => "unionpay",
            CardBrand::Unknown => "unknown",
        }
    }

    /// The brand of a number of at least four digits.
    fn of_digits(digits: &str) -> CardBrand {
        let leading = |count: usize| -> u32 {
            digits
                .get(..count)
                .and_then(|prefix| prefix.parse().ok())
                .unwrap_or(0)
        };
        let (one, two, three, four) = (leading(1), leading(2), leading(3), leading(4));
        if one == 4 {
            CardBrand::Visa
        } else if (51..=55).contains(&two) || (2221..=2720).contains(&four) {
            CardBrand::Mastercard
        } else if two == 34 || two == 37 {
            CardBrand::Amex
        } else if four == 6011 || (644..=649).contains(&three) || two == 65 {
            CardBrand::Discover
        } else if (3528..=3589).contains(&four) {
            CardBrand::Jcb
        } else if (300..=305).contains(&three) || matches!(two, 36 | 38 | 39) {
            CardBrand::Diners
        } else if two == 62 {
            CardBrand::UnionPay
        } else {
            CardBrand::Unknown
        }
    }
}

/// What kind of account the card draws on. The number alone does not say;
/// the connector or a BIN table does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardFunding {
    Credit,
    Debit,
    Prepaid,
    Unknown,
}

impl CardFunding {
    /// The wire name (`credit`, `debit`, `prepaid`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            CardFunding::Credit => "credit",
            CardFunding::Debit => "debit",
            CardFunding::Prepaid => "prepaid",
            CardFunding::Unknown => "unknown",
        }
    }
}

/// A primary account number: 12–19 ASCII digits that pass the Luhn check,
/// without separators. Held in memory that is wiped on drop; `Debug` shows
/// only the last four digits; no `Display`, no `Serialize`.
#[derive(Clone)]
pub struct CardNumber {
    digits: Zeroizing<String>,
    brand: CardBrand,
}

impl CardNumber {
    /// Accepts digits with optional spaces and dashes between them
    /// (`4242 4242 4242 4242`, `4242-4242-…`). Anything else, or a digit
    /// count outside 12–19, is `InvalidNumber`; a failed Luhn check is
    /// `IncorrectNumber`.
    pub fn parse(text: &str) -> Result<Self, CardError> {
        // Sized up front so the buffer never reallocates and leaves an
        // unwiped copy of the digits behind.
        let mut digits = Zeroizing::new(String::with_capacity(CARD_NUMBER_DIGITS_MAX));
        for c in text.chars() {
            match c {
                ' ' | '-' => {}
                '0'..='9' if digits.len() < CARD_NUMBER_DIGITS_MAX => digits.push(c),
                _ => return Err(CardError::InvalidNumber),
            }
        }
        if digits.len() < CARD_NUMBER_DIGITS_MIN {
            return Err(CardError::InvalidNumber);
        }
        if !luhn_valid(&digits) {
            return Err(CardError::IncorrectNumber);
        }
        let brand = CardBrand::of_digits(&digits);
        Ok(CardNumber { digits, brand })
    }

    /// The last four digits, safe to store and display.
    pub fn last4(&self) -> String {
        self.digits[self.digits.len() - 4..].to_owned()
    }

    /// The first six digits (the bank identification number), safe to store
    /// and display alongside `last4` (PCI DSS 3.4.1).
    pub fn bin(&self) -> String {
        self.digits[..6].to_owned()
    }

    pub fn brand(&self) -> CardBrand {
        self.brand
    }

    /// The full number, digits only. Only for the vault (to encrypt it) and
    /// the connectors (to send it to the acquirer); never log, store in
    /// plain text or return it.
    pub fn expose_digits(&self) -> &str {
        &self.digits
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CardNumber(****{})",
            &self.digits[self.digits.len() - 4..]
        )
    }
}

/// True when the ASCII digits pass the Luhn (mod 10) check: from the right,
/// every second digit is doubled (less 9 when above 9) and the sum is a
/// multiple of 10.
#[allow(
    clippy::manual_is_multiple_of,
    reason = "u32::is_multiple_of needs Rust 1.87; the workspace's rust-version is 1.85"
)]
fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(position, byte)| {
            let digit = u32::from(byte.wrapping_sub(b'0'));
            if position % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                digit
            }
        })
        .sum();
    sum % 10 == 0
}

/// The month and year a card expires (it is valid through the end of that
/// month). `month` is 1–12; `year` is four digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CardExpiry {
    month: u8,
    year: u16,
}

impl CardExpiry {
    /// Accepts a month of 1–12 and a two-digit (20xx) or four-digit year, not
    /// in the past and at most `EXPIRY_YEARS_AHEAD_MAX` years ahead. "Today"
    /// is passed in (`today_month` 1–12) because the domain reads no clock.
    pub fn parse(
        month: i64,
        year: i64,
        today_year: i32,
        today_month: u32,
    ) -> Result<Self, CardError> {
        let month = u8::try_from(month)
            .ok()
            .filter(|month| (1..=12).contains(month))
            .ok_or(CardError::InvalidExpiryMonth)?;
        let year = match year {
            0..=99 => year + 2000,
            1000..=9999 => year,
            _ => return Err(CardError::InvalidExpiryYear),
        };
        let today_year = i64::from(today_year);
        if year < today_year || year > today_year + EXPIRY_YEARS_AHEAD_MAX {
            return Err(CardError::InvalidExpiryYear);
        }
        if year == today_year && u32::from(month) < today_month {
            return Err(CardError::InvalidExpiryMonth);
        }
        let year = u16::try_from(year).map_err(|_| CardError::InvalidExpiryYear)?;
        Ok(CardExpiry { month, year })
    }

    /// 1–12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// Four digits, e.g. 2030.
    pub fn year(self) -> u16 {
        self.year
    }
}

/// A card security code: 3 ASCII digits, or 4 for American Express. Lives
/// only for the call to the acquirer and is never stored (PCI DSS 3.3.1).
/// Held in memory that is wiped on drop; `Debug` shows `Cvc(***)`; no
/// `Display`, no `Serialize`.
#[derive(Clone)]
pub struct Cvc(Zeroizing<String>);

impl Cvc {
    /// Accepts exactly 4 digits for `CardBrand::Amex`, exactly 3 otherwise.
    pub fn parse(text: &str, brand: CardBrand) -> Result<Self, CardError> {
        let digits_required = if brand == CardBrand::Amex { 4 } else { 3 };
        if text.len() == digits_required && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Cvc(Zeroizing::new(text.to_owned())))
        } else {
            Err(CardError::InvalidCvc)
        }
    }

    /// The digits. Only for the connectors, to send to the acquirer.
    pub fn expose_digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cvc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvc(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The check digit that makes `payload` followed by it pass Luhn,
    /// computed independently of `luhn_valid`.
    fn check_digit(payload: &[u8]) -> u8 {
        let sum: u32 = payload
            .iter()
            .rev()
            .enumerate()
            .map(|(position, &digit)| {
                let digit = u32::from(digit);
                // With the check digit appended, the payload's last digit
                // sits at an odd position from the right and is doubled.
                if position % 2 == 0 {
                    (digit * 2) / 10 + (digit * 2) % 10
                } else {
                    digit
                }
            })
            .sum();
        u8::try_from((10 - sum % 10) % 10).unwrap()
    }

    fn to_text(digits: &[u8]) -> String {
        digits.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// A Luhn-valid number of `len` digits starting with `prefix`.
    fn number_with_prefix(prefix: &str, len: usize) -> String {
        let mut payload: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
        payload.resize(len - 1, 0);
        payload.push(check_digit(&payload));
        to_text(&payload)
    }

    #[test]
    fn every_documented_test_card_parses_with_its_brand() {
        for (number, brand) in [
            ("4242424242424242", CardBrand::Visa),
            ("4000056655665556", CardBrand::Visa),
            ("5555555555554444", CardBrand::Mastercard),
            ("5200828282828210", CardBrand::Mastercard),
            ("378282246310005", CardBrand::Amex),
            ("6011111111111117", CardBrand::Discover),
            ("4000000000000002", CardBrand::Visa),
            ("4000000000009995", CardBrand::Visa),
            ("4000000000009987", CardBrand::Visa),
            ("4000000000009979", CardBrand::Visa),
            ("4000000000000069", CardBrand::Visa),
            ("4000000000000127", CardBrand::Visa),
            ("4000000000000119", CardBrand::Visa),
            ("4000000000006975", CardBrand::Visa),
            ("4100000000000019", CardBrand::Visa),
            ("4000000000004954", CardBrand::Visa),
            ("4000000000009235", CardBrand::Visa),
            ("4000002500003155", CardBrand::Visa),
            ("4000002760003184", CardBrand::Visa),
            ("4000008260003178", CardBrand::Visa),
            ("4000000000000259", CardBrand::Visa),
            ("4000000000007726", CardBrand::Visa),
            ("4000000000005126", CardBrand::Visa),
        ] {
            let card = CardNumber::parse(number).unwrap_or_else(|err| panic!("{number}: {err}"));
            assert_eq!(card.brand(), brand, "{number}");
            assert_eq!(card.expose_digits(), number);
            assert_eq!(card.last4(), number[number.len() - 4..]);
            assert_eq!(card.bin(), number[..6]);
        }
    }

    #[test]
    fn a_failed_luhn_check_is_an_incorrect_number() {
        let err = CardNumber::parse("4242424242424241").unwrap_err();
        assert_eq!(err, CardError::IncorrectNumber);
        assert_eq!(err.code(), "incorrect_number");
        assert_eq!(err.param(), "number");
    }

    #[test]
    fn spaces_and_dashes_are_separators() {
        for text in [
            "4242 4242 4242 4242",
            "4242-4242-4242-4242",
            " 4242424242424242 ",
        ] {
            let card = CardNumber::parse(text).unwrap();
            assert_eq!(card.expose_digits(), "4242424242424242");
        }
    }

    #[test]
    fn malformed_numbers_are_invalid() {
        let twenty = number_with_prefix("4", 20);
        let eleven = number_with_prefix("4", 11);
        for bad in [
            "",
            "    ",
            "4242x42424242424",
            "4242.4242.4242.4242",
            "４２４２４２４２４２４２４２４２",
            eleven.as_str(),
            twenty.as_str(),
        ] {
            let err = CardNumber::parse(bad).unwrap_err();
            assert_eq!(err, CardError::InvalidNumber, "{bad:?}");
            assert_eq!(err.code(), "invalid_number");
        }
        assert!(CardNumber::parse(&number_with_prefix("4", 12)).is_ok());
        assert!(CardNumber::parse(&number_with_prefix("4", 19)).is_ok());
    }

    #[test]
    fn brands_follow_the_iin_ranges() {
        for (prefix, brand) in [
            ("4", CardBrand::Visa),
            ("51", CardBrand::Mastercard),
            ("55", CardBrand::Mastercard),
            ("2221", CardBrand::Mastercard),
            ("2720", CardBrand::Mastercard),
            ("2220", CardBrand::Unknown),
            ("2721", CardBrand::Unknown),
            ("50", CardBrand::Unknown),
            ("56", CardBrand::Unknown),
            ("34", CardBrand::Amex),
            ("37", CardBrand::Amex),
            ("6011", CardBrand::Discover),
            ("644", CardBrand::Discover),
            ("649", CardBrand::Discover),
            ("65", CardBrand::Discover),
            ("6012", CardBrand::Unknown),
            ("3528", CardBrand::Jcb),
            ("3589", CardBrand::Jcb),
            ("3527", CardBrand::Unknown),
            ("300", CardBrand::Diners),
            ("305", CardBrand::Diners),
            ("306", CardBrand::Unknown),
            ("36", CardBrand::Diners),
            ("38", CardBrand::Diners),
            ("39", CardBrand::Diners),
            ("62", CardBrand::UnionPay),
            ("1", CardBrand::Unknown),
            ("9", CardBrand::Unknown),
        ] {
            let number = number_with_prefix(prefix, 16);
            assert_eq!(
                CardNumber::parse(&number).unwrap().brand(),
                brand,
                "{prefix}"
            );
        }
    }

    #[test]
    fn brands_and_funding_are_lowercase_on_the_wire() {
        for brand in [
            CardBrand::Visa,
            CardBrand::Mastercard,
            CardBrand::Amex,
            CardBrand::Discover,
            CardBrand::Jcb,
            CardBrand::Diners,
            CardBrand::UnionPay,
            CardBrand::Unknown,
        ] {
            let json = serde_json::to_string(&brand).unwrap();
            assert_eq!(json, format!("\"{}\"", brand.as_str()));
            assert_eq!(serde_json::from_str::<CardBrand>(&json).unwrap(), brand);
        }
        assert_eq!(
            serde_json::to_string(&CardBrand::UnionPay).unwrap(),
            "\"unionpay\""
        );
        for funding in [
            CardFunding::Credit,
            CardFunding::Debit,
            CardFunding::Prepaid,
            CardFunding::Unknown,
        ] {
            let json = serde_json::to_string(&funding).unwrap();
            assert_eq!(json, format!("\"{}\"", funding.as_str()));
        }
    }

    #[test]
    fn debug_never_shows_the_full_number_or_the_cvc() {
        let card = CardNumber::parse("4242 4242 4242 4242").unwrap();
        let debug = format!("{card:?}");
        assert_eq!(debug, "CardNumber(****4242)");
        assert!(!debug.contains("424242"));
        let cvc = Cvc::parse("123", card.brand()).unwrap();
        assert_eq!(format!("{cvc:?}"), "Cvc(***)");
        assert_eq!(cvc.expose_digits(), "123");
    }

    #[test]
    fn cvc_has_three_digits_or_four_for_amex() {
        assert!(Cvc::parse("123", CardBrand::Visa).is_ok());
        assert!(Cvc::parse("1234", CardBrand::Amex).is_ok());
        for (text, brand) in [
            ("12", CardBrand::Visa),
            ("1234", CardBrand::Visa),
            ("123", CardBrand::Amex),
            ("12a", CardBrand::Mastercard),
            ("", CardBrand::Unknown),
            (" 123", CardBrand::Visa),
        ] {
            let err = Cvc::parse(text, brand).unwrap_err();
            assert_eq!(err, CardError::InvalidCvc, "{text:?} {brand:?}");
            assert_eq!((err.code(), err.param()), ("invalid_cvc", "cvc"));
        }
    }

    #[test]
    fn expiry_month_and_year_are_checked_against_today() {
        // Today is March 2026.
        let parse = |month, year| CardExpiry::parse(month, year, 2026, 3);
        let expiry = parse(12, 2030).unwrap();
        assert_eq!((expiry.month(), expiry.year()), (12, 2030));
        assert_eq!(parse(12, 30), Ok(expiry));
        assert!(
            parse(3, 2026).is_ok(),
            "valid through the end of this month"
        );
        assert!(parse(1, 2076).is_ok());

        let err = parse(13, 2030).unwrap_err();
        assert_eq!(
            (err.code(), err.param()),
            ("invalid_expiry_month", "exp_month")
        );
        for month in [0, -1, 256, i64::MAX, i64::MIN] {
            assert_eq!(parse(month, 2030), Err(CardError::InvalidExpiryMonth));
        }
        assert_eq!(parse(2, 2026), Err(CardError::InvalidExpiryMonth));

        let err = parse(12, 2025).unwrap_err();
        assert_eq!(
            (err.code(), err.param()),
            ("invalid_expiry_year", "exp_year")
        );
        for year in [25, 2077, 100, 999, 10_000, -1, i64::MAX, i64::MIN] {
            assert_eq!(parse(1, year), Err(CardError::InvalidExpiryYear), "{year}");
        }
    }

    proptest! {
        #[test]
        fn the_right_check_digit_always_parses_and_one_changed_digit_never_does(
            mut payload in proptest::collection::vec(0u8..10, 11..=18),
            changed in any::<proptest::sample::Index>(),
            delta in 1u8..10,
        ) {
            let check = check_digit(&payload);
            payload.push(check);
            let number = to_text(&payload);
            let card = CardNumber::parse(&number);
            prop_assert!(card.is_ok(), "{}", number);
            let card = card.unwrap();
            prop_assert_eq!(card.expose_digits(), number.as_str());
            let debug = format!("{card:?}");
            prop_assert!(!debug.contains(&number));

            let position = changed.index(payload.len());
            payload[position] = (payload[position] + delta) % 10;
            let mistyped = to_text(&payload);
            prop_assert_eq!(CardNumber::parse(&mistyped).unwrap_err(), CardError::IncorrectNumber);
        }
    }
}

impl CardExpiry {
    /// An expiry read back from storage, checked only for shape: a stored
    /// card may since have expired, which the acquirer, not the parser, decides.
    pub fn from_stored(month: u8, year: u16) -> Option<Self> {
        (1..=12).contains(&month).then_some(Self { month, year })
    }
}
