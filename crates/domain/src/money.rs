//! Money: ISO 4217 currencies with their minor-unit exponents, and amounts
//! as whole numbers of a currency's minor unit (cents for USD, yen for JPY,
//! fils for KWD). There are no floats anywhere in this module, and no
//! arithmetic on amounts that can overflow or panic.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The largest amount Stripe accepts for a charge, in minor units (eight
/// digits, e.g. $999,999.99).
pub const AMOUNT_MINOR_MAX: i64 = 99_999_999;
/// The smallest amount accepted, in minor units.
pub const AMOUNT_MINOR_MIN: i64 = 1;

/// ISO 4217 List One (as published 2026-01-01): every active alphabetic code
/// that has a defined minor unit, lowercase and sorted so it can be
/// binary-searched, with that minor unit (the number of decimal places).
///
/// Left out on purpose: the entries whose minor unit ISO gives as "N.A."
/// (precious metals XAU/XAG/XPD/XPT, bond-market units XBA–XBD, XDR, XSU,
/// XUA, the testing code XTS and "no currency" XXX), since nothing can be
/// charged in them. Withdrawn codes (ANG, BGN, HRK, SLL, ZWL, CUC, …) are not
/// in List One and so are refused.
const CURRENCIES: &[(&str, u8)] = &[
    ("aed", 2),
    ("afn", 2),
    ("all", 2),
    ("amd", 2),
    ("aoa", 2),
    ("ars", 2),
    ("aud", 2),
    ("awg", 2),
    ("azn", 2),
    ("bam", 2),
    ("bbd", 2),
    ("bdt", 2),
    ("bhd", 3),
    ("bif", 0),
    ("bmd", 2),
    ("bnd", 2),
    ("bob", 2),
    ("bov", 2),
    ("brl", 2),
    ("bsd", 2),
    ("btn", 2),
    ("bwp", 2),
    ("byn", 2),
    ("bzd", 2),
    ("cad", 2),
    ("cdf", 2),
    ("che", 2),
    ("chf", 2),
    ("chw", 2),
    ("clf", 4),
    ("clp", 0),
    ("cny", 2),
    ("cop", 2),
    ("cou", 2),
    ("crc", 2),
    ("cup", 2),
    ("cve", 2),
    ("czk", 2),
    ("djf", 0),
    ("dkk", 2),
    ("dop", 2),
    ("dzd", 2),
    ("egp", 2),
    ("ern", 2),
    ("etb", 2),
    ("eur", 2),
    ("fjd", 2),
    ("fkp", 2),
    ("gbp", 2),
    ("gel", 2),
    ("ghs", 2),
    ("gip", 2),
    ("gmd", 2),
    ("gnf", 0),
    ("gtq", 2),
    ("gyd", 2),
    ("hkd", 2),
    ("hnl", 2),
    ("htg", 2),
    ("huf", 2),
    ("idr", 2),
    ("ils", 2),
    ("inr", 2),
    ("iqd", 3),
    ("irr", 2),
    ("isk", 0),
    ("jmd", 2),
    ("jod", 3),
    ("jpy", 0),
    ("kes", 2),
    ("kgs", 2),
    ("khr", 2),
    ("kmf", 0),
    ("kpw", 2),
    ("krw", 0),
    ("kwd", 3),
    ("kyd", 2),
    ("kzt", 2),
    ("lak", 2),
    ("lbp", 2),
    ("lkr", 2),
    ("lrd", 2),
    ("lsl", 2),
    ("lyd", 3),
    ("mad", 2),
    ("mdl", 2),
    ("mga", 2),
    ("mkd", 2),
    ("mmk", 2),
    ("mnt", 2),
    ("mop", 2),
    ("mru", 2),
    ("mur", 2),
    ("mvr", 2),
    ("mwk", 2),
    ("mxn", 2),
    ("mxv", 2),
    ("myr", 2),
    ("mzn", 2),
    ("nad", 2),
    ("ngn", 2),
    ("nio", 2),
    ("nok", 2),
    ("npr", 2),
    ("nzd", 2),
    ("omr", 3),
    ("pab", 2),
    ("pen", 2),
    ("pgk", 2),
    ("php", 2),
    ("pkr", 2),
    ("pln", 2),
    ("pyg", 0),
    ("qar", 2),
    ("ron", 2),
    ("rsd", 2),
    ("rub", 2),
    ("rwf", 0),
    ("sar", 2),
    ("sbd", 2),
    ("scr", 2),
    ("sdg", 2),
    ("sek", 2),
    ("sgd", 2),
    ("shp", 2),
    ("sle", 2),
    ("sos", 2),
    ("srd", 2),
    ("ssp", 2),
    ("stn", 2),
    ("svc", 2),
    ("syp", 2),
    ("szl", 2),
    ("thb", 2),
    ("tjs", 2),
    ("tmt", 2),
    ("tnd", 3),
    ("top", 2),
    ("try", 2),
    ("ttd", 2),
    ("twd", 2),
    ("tzs", 2),
    ("uah", 2),
    ("ugx", 0),
    ("usd", 2),
    ("usn", 2),
    ("uyi", 0),
    ("uyu", 2),
    ("uyw", 4),
    ("uzs", 2),
    ("ved", 2),
    ("ves", 2),
    ("vnd", 0),
    ("vuv", 0),
    ("wst", 2),
    ("xad", 2),
    ("xaf", 0),
    ("xcd", 2),
    ("xcg", 2),
    ("xof", 0),
    ("xpf", 0),
    ("yer", 2),
    ("zar", 2),
    ("zmw", 2),
    ("zwg", 2),
];

/// The ISO 4217 numeric code of each currency of [`CURRENCIES`], in the same
/// order (card networks carry the currency as this number, e.g. ISO 8583
/// DE 49). From the same List One; XAD, XCG and ZWG added by hand.
const NUMERIC_CODES: &[(&str, u16)] = &[
    ("aed", 784),
    ("afn", 971),
    ("all", 8),
    ("amd", 51),
    ("aoa", 973),
    ("ars", 32),
    ("aud", 36),
    ("awg", 533),
    ("azn", 944),
    ("bam", 977),
    ("bbd", 52),
    ("bdt", 50),
    ("bhd", 48),
    ("bif", 108),
    ("bmd", 60),
    ("bnd", 96),
    ("bob", 68),
    ("bov", 984),
    ("brl", 986),
    ("bsd", 44),
    ("btn", 64),
    ("bwp", 72),
    ("byn", 933),
    ("bzd", 84),
    ("cad", 124),
    ("cdf", 976),
    ("che", 947),
    ("chf", 756),
    ("chw", 948),
    ("clf", 990),
    ("clp", 152),
    ("cny", 156),
    ("cop", 170),
    ("cou", 970),
    ("crc", 188),
    ("cup", 192),
    ("cve", 132),
    ("czk", 203),
    ("djf", 262),
    ("dkk", 208),
    ("dop", 214),
    ("dzd", 12),
    ("egp", 818),
    ("ern", 232),
    ("etb", 230),
    ("eur", 978),
    ("fjd", 242),
    ("fkp", 238),
    ("gbp", 826),
    ("gel", 981),
    ("ghs", 936),
    ("gip", 292),
    ("gmd", 270),
    ("gnf", 324),
    ("gtq", 320),
    ("gyd", 328),
    ("hkd", 344),
    ("hnl", 340),
    ("htg", 332),
    ("huf", 348),
    ("idr", 360),
    ("ils", 376),
    ("inr", 356),
    ("iqd", 368),
    ("irr", 364),
    ("isk", 352),
    ("jmd", 388),
    ("jod", 400),
    ("jpy", 392),
    ("kes", 404),
    ("kgs", 417),
    ("khr", 116),
    ("kmf", 174),
    ("kpw", 408),
    ("krw", 410),
    ("kwd", 414),
    ("kyd", 136),
    ("kzt", 398),
    ("lak", 418),
    ("lbp", 422),
    ("lkr", 144),
    ("lrd", 430),
    ("lsl", 426),
    ("lyd", 434),
    ("mad", 504),
    ("mdl", 498),
    ("mga", 969),
    ("mkd", 807),
    ("mmk", 104),
    ("mnt", 496),
    ("mop", 446),
    ("mru", 929),
    ("mur", 480),
    ("mvr", 462),
    ("mwk", 454),
    ("mxn", 484),
    ("mxv", 979),
    ("myr", 458),
    ("mzn", 943),
    ("nad", 516),
    ("ngn", 566),
    ("nio", 558),
    ("nok", 578),
    ("npr", 524),
    ("nzd", 554),
    ("omr", 512),
    ("pab", 590),
    ("pen", 604),
    ("pgk", 598),
    ("php", 608),
    ("pkr", 586),
    ("pln", 985),
    ("pyg", 600),
    ("qar", 634),
    ("ron", 946),
    ("rsd", 941),
    ("rub", 643),
    ("rwf", 646),
    ("sar", 682),
    ("sbd", 90),
    ("scr", 690),
    ("sdg", 938),
    ("sek", 752),
    ("sgd", 702),
    ("shp", 654),
    ("sle", 925),
    ("sos", 706),
    ("srd", 968),
    ("ssp", 728),
    ("stn", 930),
    ("svc", 222),
    ("syp", 760),
    ("szl", 748),
    ("thb", 764),
    ("tjs", 972),
    ("tmt", 934),
    ("tnd", 788),
    ("top", 776),
    ("try", 949),
    ("ttd", 780),
    ("twd", 901),
    ("tzs", 834),
    ("uah", 980),
    ("ugx", 800),
    ("usd", 840),
    ("usn", 997),
    ("uyi", 940),
    ("uyu", 858),
    ("uyw", 927),
    ("uzs", 860),
    ("ved", 926),
    ("ves", 928),
    ("vnd", 704),
    ("vuv", 548),
    ("wst", 882),
    ("xad", 396),
    ("xaf", 950),
    ("xcd", 951),
    ("xcg", 532),
    ("xof", 952),
    ("xpf", 953),
    ("yer", 886),
    ("zar", 710),
    ("zmw", 967),
    ("zwg", 924),
];

// `Currency` stores an index into the table as a `u8`.
const _: () = assert!(CURRENCIES.len() <= u8::MAX as usize + 1);

#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("Invalid currency: expected a three-letter ISO 4217 code such as usd.")]
    InvalidCurrency,
    #[error("Amount must be at least {AMOUNT_MINOR_MIN} (in the currency's smallest unit).")]
    AmountTooSmall,
    #[error("Amount must be no more than {AMOUNT_MINOR_MAX} (in the currency's smallest unit).")]
    AmountTooLarge,
}

impl MoneyError {
    /// The Stripe error `code` for this error.
    pub fn code(&self) -> &'static str {
        match self {
            MoneyError::InvalidCurrency => "invalid_currency",
            MoneyError::AmountTooSmall => "amount_too_small",
            MoneyError::AmountTooLarge => "amount_too_large",
        }
    }
}

/// An active ISO 4217 currency. Only codes in the table above can exist; the
/// wire form is the lowercase code (`usd`). Ordered alphabetically by code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(u8);

impl Currency {
    /// Accepts a three-letter code in lowercase or uppercase (`usd`, `USD`).
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let bytes = text.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(MoneyError::InvalidCurrency);
        }
        let lower = [
            bytes[0].to_ascii_lowercase(),
            bytes[1].to_ascii_lowercase(),
            bytes[2].to_ascii_lowercase(),
        ];
        let index = CURRENCIES
            .binary_search_by(|(code, _)| code.as_bytes().cmp(&lower[..]))
            .map_err(|_| MoneyError::InvalidCurrency)?;
        u8::try_from(index)
            .map(Currency)
            .map_err(|_| MoneyError::InvalidCurrency)
    }

    /// The lowercase ISO 4217 code, as on the wire (`usd`).
    pub fn as_str(self) -> &'static str {
        CURRENCIES[usize::from(self.0)].0
    }

    /// Decimal places of the minor unit: amounts are counted in units of
    /// 10^-exponent of the major unit (USD 2, JPY 0, KWD 3, CLF 4).
    pub fn exponent(self) -> u8 {
        CURRENCIES[usize::from(self.0)].1
    }

    /// The ISO 4217 numeric code (`usd` → 840).
    pub fn numeric(self) -> u16 {
        NUMERIC_CODES[usize::from(self.0)].1
    }

    /// The currency with ISO 4217 numeric code `code`, if supported.
    pub fn from_numeric(code: u16) -> Option<Currency> {
        let index = NUMERIC_CODES
            .iter()
            .position(|(_, numeric)| *numeric == code)?;
        u8::try_from(index).ok().map(Currency)
    }

    /// Every supported currency, in alphabetical order.
    pub fn all() -> impl Iterator<Item = Currency> {
        (0..CURRENCIES.len()).filter_map(|index| u8::try_from(index).ok().map(Currency))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Currency::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A positive amount of money in the minor unit of its currency (cents for
/// USD, yen for JPY): always within `AMOUNT_MINOR_MIN..=AMOUNT_MINOR_MAX`.
/// The currency travels beside it; an `Amount` alone says nothing about
/// which one. Serialised as a bare integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Amount(i64);

impl Amount {
    /// Accepts `AMOUNT_MINOR_MIN..=AMOUNT_MINOR_MAX` minor units.
    pub fn parse_minor(minor: i64) -> Result<Self, MoneyError> {
        if minor < AMOUNT_MINOR_MIN {
            Err(MoneyError::AmountTooSmall)
        } else if minor > AMOUNT_MINOR_MAX {
            Err(MoneyError::AmountTooLarge)
        } else {
            Ok(Amount(minor))
        }
    }

    /// The amount in minor units.
    pub fn minor(self) -> i64 {
        self.0
    }

    /// `self + other`, or `AmountTooLarge` when the sum leaves the range.
    pub fn checked_add(self, other: Amount) -> Result<Amount, MoneyError> {
        let sum = self
            .0
            .checked_add(other.0)
            .ok_or(MoneyError::AmountTooLarge)?;
        Amount::parse_minor(sum)
    }

    /// `self - other`, or `AmountTooSmall` when the difference is zero or
    /// negative (an `Amount` is never zero).
    pub fn checked_sub(self, other: Amount) -> Result<Amount, MoneyError> {
        let difference = self
            .0
            .checked_sub(other.0)
            .ok_or(MoneyError::AmountTooSmall)?;
        Amount::parse_minor(difference)
    }
}

impl TryFrom<i64> for Amount {
    type Error = MoneyError;

    fn try_from(minor: i64) -> Result<Self, Self::Error> {
        Amount::parse_minor(minor)
    }
}

impl From<Amount> for i64 {
    fn from(amount: Amount) -> i64 {
        amount.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_currency_has_its_numeric_code_and_back() {
        assert_eq!(NUMERIC_CODES.len(), CURRENCIES.len());
        for (index, (code, numeric)) in NUMERIC_CODES.iter().enumerate() {
            assert_eq!(*code, CURRENCIES[index].0);
            let currency = Currency::parse(code).unwrap();
            assert_eq!(Currency::from_numeric(*numeric), Some(currency));
        }
        assert_eq!(Currency::parse("usd").unwrap().numeric(), 840);
        assert_eq!(Currency::parse("eur").unwrap().numeric(), 978);
        assert_eq!(Currency::parse("jpy").unwrap().numeric(), 392);
        assert_eq!(Currency::from_numeric(999), None);
    }
    use proptest::prelude::*;

    #[test]
    fn table_is_sorted_unique_and_lowercase() {
        assert!(CURRENCIES.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for (code, exponent) in CURRENCIES {
            assert_eq!(code.len(), 3, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_lowercase()), "{code}");
            assert!(*exponent <= 4, "{code}");
        }
        assert!(CURRENCIES.len() > 150, "{}", CURRENCIES.len());
    }

    #[test]
    fn every_currency_parses_back_from_its_code() {
        let all: Vec<Currency> = Currency::all().collect();
        assert_eq!(all.len(), CURRENCIES.len());
        for currency in all {
            assert_eq!(Currency::parse(currency.as_str()), Ok(currency));
            let upper = currency.as_str().to_ascii_uppercase();
            assert_eq!(Currency::parse(&upper), Ok(currency));
        }
    }

    #[test]
    fn exponents_match_iso_4217() {
        for (code, exponent) in [
            ("usd", 2),
            ("eur", 2),
            ("jpy", 0),
            ("krw", 0),
            ("vnd", 0),
            ("clp", 0),
            ("xof", 0),
            ("kwd", 3),
            ("bhd", 3),
            ("jod", 3),
            ("omr", 3),
            ("tnd", 3),
            ("iqd", 3),
            ("lyd", 3),
            ("clf", 4),
            ("uyw", 4),
        ] {
            assert_eq!(
                Currency::parse(code).unwrap().exponent(),
                exponent,
                "{code}"
            );
        }
    }

    #[test]
    fn unknown_or_malformed_codes_are_refused() {
        for bad in [
            "", "us", "usdd", "xyz", "u$d", "ANG", "hrk", " usd", "usd ", "üsd",
        ] {
            assert_eq!(
                Currency::parse(bad),
                Err(MoneyError::InvalidCurrency),
                "{bad:?}"
            );
        }
        assert_eq!(MoneyError::InvalidCurrency.code(), "invalid_currency");
    }

    #[test]
    fn currency_is_a_lowercase_string_on_the_wire() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(usd.as_str(), "usd");
        assert_eq!(usd.to_string(), "usd");
        assert_eq!(format!("{usd:?}"), "Currency(usd)");
        assert_eq!(serde_json::to_string(&usd).unwrap(), "\"usd\"");
        assert_eq!(serde_json::from_str::<Currency>("\"usd\"").unwrap(), usd);
        assert_eq!(
            serde_json::from_str::<Currency>("\"EUR\"")
                .unwrap()
                .as_str(),
            "eur"
        );
        assert!(serde_json::from_str::<Currency>("\"xyz\"").is_err());
        assert!(serde_json::from_str::<Currency>("840").is_err());
    }

    #[test]
    fn parse_minor_boundaries() {
        assert_eq!(Amount::parse_minor(0), Err(MoneyError::AmountTooSmall));
        assert_eq!(Amount::parse_minor(-1), Err(MoneyError::AmountTooSmall));
        assert_eq!(
            Amount::parse_minor(i64::MIN),
            Err(MoneyError::AmountTooSmall)
        );
        assert_eq!(Amount::parse_minor(1).unwrap().minor(), 1);
        assert_eq!(Amount::parse_minor(99_999_999).unwrap().minor(), 99_999_999);
        assert_eq!(
            Amount::parse_minor(100_000_000),
            Err(MoneyError::AmountTooLarge)
        );
        assert_eq!(
            Amount::parse_minor(i64::MAX),
            Err(MoneyError::AmountTooLarge)
        );
        assert_eq!(MoneyError::AmountTooSmall.code(), "amount_too_small");
        assert_eq!(MoneyError::AmountTooLarge.code(), "amount_too_large");
    }

    #[test]
    fn amount_is_an_integer_on_the_wire_and_checked_on_the_way_in() {
        let amount = Amount::parse_minor(2000).unwrap();
        assert_eq!(serde_json::to_string(&amount).unwrap(), "2000");
        assert_eq!(serde_json::from_str::<Amount>("2000").unwrap(), amount);
        assert!(serde_json::from_str::<Amount>("0").is_err());
        assert!(serde_json::from_str::<Amount>("100000000").is_err());
        assert!(serde_json::from_str::<Amount>("20.5").is_err());
    }

    #[test]
    fn arithmetic_stays_in_range() {
        let one = Amount::parse_minor(1).unwrap();
        let max = Amount::parse_minor(AMOUNT_MINOR_MAX).unwrap();
        assert_eq!(max.checked_add(one), Err(MoneyError::AmountTooLarge));
        assert_eq!(one.checked_sub(one), Err(MoneyError::AmountTooSmall));
        assert_eq!(one.checked_sub(max), Err(MoneyError::AmountTooSmall));
        assert_eq!(max.checked_sub(one).unwrap().minor(), AMOUNT_MINOR_MAX - 1);
    }

    fn in_range(value: i128) -> bool {
        (i128::from(AMOUNT_MINOR_MIN)..=i128::from(AMOUNT_MINOR_MAX)).contains(&value)
    }

    proptest! {
        #[test]
        fn parse_minor_accepts_exactly_the_range(minor in any::<i64>()) {
            let parsed = Amount::parse_minor(minor);
            prop_assert_eq!(parsed.is_ok(), in_range(i128::from(minor)));
            if let Ok(amount) = parsed {
                prop_assert_eq!(amount.minor(), minor);
            }
        }

        #[test]
        fn add_and_sub_agree_with_i128(
            a in AMOUNT_MINOR_MIN..=AMOUNT_MINOR_MAX,
            b in AMOUNT_MINOR_MIN..=AMOUNT_MINOR_MAX,
        ) {
            let (x, y) = (Amount::parse_minor(a).unwrap(), Amount::parse_minor(b).unwrap());
            let sum = i128::from(a) + i128::from(b);
            match x.checked_add(y) {
                Ok(total) => prop_assert_eq!(i128::from(total.minor()), sum),
                Err(err) => {
                    prop_assert!(!in_range(sum));
                    prop_assert_eq!(err, MoneyError::AmountTooLarge);
                }
            }
            let difference = i128::from(a) - i128::from(b);
            match x.checked_sub(y) {
                Ok(rest) => prop_assert_eq!(i128::from(rest.minor()), difference),
                Err(err) => {
                    prop_assert!(!in_range(difference));
                    prop_assert_eq!(err, MoneyError::AmountTooSmall);
                }
            }
        }
    }
}
