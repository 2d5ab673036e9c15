//! What a card connector account (`sandbox`, `iso8583`, `processor`,
//! `stripe`) takes for routing: whether it is `enabled`, which
//! `card_brands[]` and `currencies[]` it serves (empty: all), and its
//! `priority` (smaller first; the default order when no rule decides and
//! the failover order after a `prefer` list).

use crate::cards::CardBrand;
use crate::money::Currency;
use serde::{Deserialize, Serialize};

/// Largest `priority`.
pub const PRIORITY_MAX: i64 = 1000;
/// How many brands or currencies one account lists at most.
pub const LIST_LEN_MAX: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRouting {
    pub enabled: bool,
    /// Empty: every brand.
    pub card_brands: Vec<CardBrand>,
    /// Empty: every currency.
    pub currencies: Vec<Currency>,
    /// 0 to [`PRIORITY_MAX`], smaller first.
    pub priority: u16,
}

impl Default for CardRouting {
    fn default() -> Self {
        CardRouting {
            enabled: true,
            card_brands: Vec::new(),
            currencies: Vec::new(),
            priority: 0,
        }
    }
}

/// What a create or update asks for; `None` keeps the current value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CardRoutingChanges {
    pub enabled: Option<bool>,
    pub card_brands: Option<Vec<CardBrand>>,
    pub currencies: Option<Vec<Currency>>,
    pub priority: Option<u16>,
}

impl CardRoutingChanges {
    pub fn is_empty(&self) -> bool {
        *self == CardRoutingChanges::default()
    }

    /// The parameter name of the first setting given (for errors).
    pub fn first_named(&self) -> &'static str {
        if self.enabled.is_some() {
            "enabled"
        } else if self.card_brands.is_some() {
            "card_brands"
        } else if self.currencies.is_some() {
            "currencies"
        } else {
            "priority"
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CardRoutingError {
    #[error("Invalid card_brands[{0}]: must be one of visa, mastercard, amex, discover, jcb, diners, unionpay.")]
    Brand(usize),
    #[error("Invalid currencies[{0}]: must be a three-letter ISO currency code.")]
    Currency(usize),
    #[error("Invalid {0}: at most {LIST_LEN_MAX} items.")]
    TooMany(&'static str),
    #[error("Invalid priority: must be an integer from 0 to {PRIORITY_MAX}.")]
    Priority,
}

impl CardRoutingError {
    pub fn param(&self) -> String {
        match self {
            Self::Brand(i) => format!("card_brands[{i}]"),
            Self::Currency(i) => format!("currencies[{i}]"),
            Self::TooMany(name) => (*name).to_owned(),
            Self::Priority => "priority".to_owned(),
        }
    }
}

/// A brand by its wire name (`unknown` is no brand one can route).
pub fn parse_brand(text: &str) -> Option<CardBrand> {
    Some(match text {
        "visa" => CardBrand::Visa,
        "mastercard" => CardBrand::Mastercard,
        "amex" => CardBrand::Amex,
        "discover" => CardBrand::Discover,
        "jcb" => CardBrand::Jcb,
        "diners" => CardBrand::Diners,
        "unionpay" => CardBrand::UnionPay,
        _ => return None,
    })
}

pub fn parse_brands(items: &[String]) -> Result<Vec<CardBrand>, CardRoutingError> {
    if items.len() > LIST_LEN_MAX {
        return Err(CardRoutingError::TooMany("card_brands"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, text)| parse_brand(text).ok_or(CardRoutingError::Brand(i)))
        .collect()
}

pub fn parse_currencies(items: &[String]) -> Result<Vec<Currency>, CardRoutingError> {
    if items.len() > LIST_LEN_MAX {
        return Err(CardRoutingError::TooMany("currencies"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, text)| Currency::parse(text).map_err(|_| CardRoutingError::Currency(i)))
        .collect()
}

pub fn parse_priority(value: i64) -> Result<u16, CardRoutingError> {
    if (0..=PRIORITY_MAX).contains(&value) {
        Ok(value as u16)
    } else {
        Err(CardRoutingError::Priority)
    }
}

impl CardRouting {
    pub fn changed(&self, changes: &CardRoutingChanges) -> CardRouting {
        CardRouting {
            enabled: changes.enabled.unwrap_or(self.enabled),
            card_brands: changes
                .card_brands
                .clone()
                .unwrap_or_else(|| self.card_brands.clone()),
            currencies: changes
                .currencies
                .clone()
                .unwrap_or_else(|| self.currencies.clone()),
            priority: changes.priority.unwrap_or(self.priority),
        }
    }

    /// Whether this account may take a payment of `brand` in `currency`.
    pub fn serves(&self, brand: CardBrand, currency: Currency) -> bool {
        self.enabled
            && (self.card_brands.is_empty() || self.card_brands.contains(&brand))
            && (self.currencies.is_empty() || self.currencies.contains(&currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn lists_and_priority_are_checked_and_name_the_item_at_fault() {
        assert_eq!(
            parse_brands(&strings(&["visa", "amex"])).unwrap(),
            [CardBrand::Visa, CardBrand::Amex]
        );
        assert_eq!(
            parse_brands(&strings(&["visa", "nope"])),
            Err(CardRoutingError::Brand(1))
        );
        assert_eq!(
            parse_currencies(&strings(&["eur", "xx"]))
                .unwrap_err()
                .param(),
            "currencies[1]"
        );
        assert_eq!(parse_priority(1001), Err(CardRoutingError::Priority));
        assert_eq!(parse_priority(-1), Err(CardRoutingError::Priority));
        assert_eq!(parse_priority(7), Ok(7));
    }

    #[test]
    fn an_account_serves_what_it_lists_and_only_when_enabled() {
        let eur = Currency::parse("eur").unwrap();
        let usd = Currency::parse("usd").unwrap();
        let routing = CardRouting {
            card_brands: vec![CardBrand::Visa],
            currencies: vec![eur],
            ..CardRouting::default()
        };
        assert!(routing.serves(CardBrand::Visa, eur));
        assert!(!routing.serves(CardBrand::Visa, usd));
        assert!(!routing.serves(CardBrand::Amex, eur));
        assert!(CardRouting::default().serves(CardBrand::Amex, usd));
        let disabled = routing.changed(&CardRoutingChanges {
            enabled: Some(false),
            ..Default::default()
        });
        assert!(!disabled.serves(CardBrand::Visa, eur));
    }
}
