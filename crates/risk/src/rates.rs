//! Converting amounts to US dollars until currency conversion exists: a
//! table of rates in micro-dollars per major unit (1 EUR = 1_080_000),
//! integer arithmetic throughout, rounding towards zero.

use std::collections::BTreeMap;

/// The shipped rates, micro-USD per major unit. Placeholders for a
/// sandbox, meant to be replaced by configuration (`risk_usd_rates`).
pub const SHIPPED_RATES: &[(&str, i64)] = &[
    ("usd", 1_000_000),
    ("eur", 1_080_000),
    ("gbp", 1_270_000),
    ("chf", 1_130_000),
    ("cad", 730_000),
    ("aud", 660_000),
    ("nzd", 600_000),
    ("jpy", 6_700),
    ("cny", 138_000),
    ("inr", 12_000),
    ("brl", 180_000),
    ("mxn", 55_000),
    ("sek", 95_000),
    ("nok", 93_000),
    ("dkk", 145_000),
    ("pln", 250_000),
    ("sgd", 740_000),
    ("hkd", 128_000),
    ("krw", 730),
    ("kwd", 3_250_000),
];

#[derive(Clone, Debug)]
pub struct RateTable {
    micro_usd_per_unit: BTreeMap<String, i64>,
}

impl Default for RateTable {
    fn default() -> Self {
        Self {
            micro_usd_per_unit: SHIPPED_RATES
                .iter()
                .map(|(c, r)| ((*c).to_owned(), *r))
                .collect(),
        }
    }
}

impl RateTable {
    /// Sets (or adds) a currency's rate; rates must be positive.
    pub fn set(&mut self, currency: &str, micro_usd_per_unit: i64) -> Result<(), String> {
        if micro_usd_per_unit <= 0 || currency.len() != 3 {
            return Err(format!(
                "rate for {currency:?} must be a positive number of micro-dollars"
            ));
        }
        self.micro_usd_per_unit
            .insert(currency.to_ascii_lowercase(), micro_usd_per_unit);
        Ok(())
    }

    /// `amount_minor` of `currency` (whose minor unit has `exponent`
    /// decimals) in US cents; `None` for a currency without a rate.
    pub fn to_usd_cents(&self, amount_minor: i64, currency: &str, exponent: u8) -> Option<i64> {
        let rate = i128::from(*self.micro_usd_per_unit.get(currency)?);
        let divisor = 10i128.checked_pow(u32::from(exponent))? * 10_000;
        i64::try_from(i128::from(amount_minor) * rate / divisor).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_integer_and_exact() {
        let rates = RateTable::default();
        assert_eq!(rates.to_usd_cents(12_345, "usd", 2), Some(12_345));
        assert_eq!(rates.to_usd_cents(10_000, "eur", 2), Some(10_800));
        assert_eq!(rates.to_usd_cents(10_000, "jpy", 0), Some(6_700));
        assert_eq!(rates.to_usd_cents(1_000, "kwd", 3), Some(325));
        assert_eq!(rates.to_usd_cents(100, "xyz", 2), None);
    }
}
