//! Fees: a per-merchant schedule of rules (basis points plus a fixed amount
//! per currency, per payment method and card brand), computed in exact
//! integer arithmetic and rounded half to even at the minor unit of the
//! charge's currency (so 2.5 → 2, 3.5 → 4, never through floats).

use crate::LedgerError;
use portcullis_domain::money::Currency;
use serde::{Deserialize, Serialize};

/// 100% in basis points.
pub const BASIS_POINTS_WHOLE: i64 = 10_000;
/// Most rules in one schedule.
pub const FEE_RULES_MAX: usize = 64;

/// `numerator / denominator` rounded half to even; both non-negative,
/// `denominator` positive. Exact: works on `i128`.
pub fn div_round_half_even(numerator: i128, denominator: i128) -> i128 {
    assert!(
        numerator >= 0 && denominator > 0,
        "fee arithmetic on non-negative values only"
    );
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    let twice = remainder * 2;
    if twice > denominator || (twice == denominator && quotient % 2 == 1) {
        quotient + 1
    } else {
        quotient
    }
}

/// `whole × part / total`, rounded half to even: the share of `whole` that
/// `part` of `total` carries (the fee returned with a partial refund).
pub fn share_minor(
    whole_minor: i64,
    part_minor: i64,
    total_minor: i64,
) -> Result<i64, LedgerError> {
    if whole_minor < 0 || part_minor < 0 || total_minor <= 0 || part_minor > total_minor {
        return Err(LedgerError::invalid(
            "share",
            format!("{whole_minor}×{part_minor}/{total_minor}"),
        ));
    }
    let share = div_round_half_even(
        i128::from(whole_minor) * i128::from(part_minor),
        i128::from(total_minor),
    );
    i64::try_from(share).map_err(|_| LedgerError::Overflow)
}

/// Where a charge's fee stands when part of it is refunded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefundedFee {
    /// The fee taken on capture.
    pub fee_minor: i64,
    /// Fee already given back by refunds that still stand.
    pub fee_returned_minor: i64,
    pub captured_minor: i64,
    /// Refunded in total once this refund counts (refunds that still stand).
    pub refunded_after_minor: i64,
}

/// The fee a refund gives back: the capture fee's share of everything now
/// refunded, less what earlier refunds gave back, kept within what remains.
/// Partial refunds thus telescope: refunding all of a charge, in any
/// pieces, returns exactly its fee, and never more.
pub fn fee_returned_minor(state: RefundedFee) -> Result<i64, LedgerError> {
    let RefundedFee {
        fee_minor,
        fee_returned_minor,
        captured_minor,
        refunded_after_minor,
    } = state;
    if !(0..=fee_minor).contains(&fee_returned_minor) {
        return Err(LedgerError::invalid(
            "fee returned",
            fee_returned_minor.to_string(),
        ));
    }
    let due = share_minor(fee_minor, refunded_after_minor, captured_minor)?;
    Ok((due - fee_returned_minor).clamp(0, fee_minor - fee_returned_minor))
}

/// One rule. A rule without a currency applies to every currency and so
/// may not carry a fixed amount (30 cents is not 30 yen).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeRule {
    #[serde(default)]
    pub currency: Option<Currency>,
    /// `card`, …; none matches every method.
    #[serde(default)]
    pub payment_method: Option<String>,
    /// `visa`, `amex`, …; none matches every brand.
    #[serde(default)]
    pub card_brand: Option<String>,
    pub basis_points: i64,
    #[serde(default)]
    pub fixed_minor: i64,
}

/// What is being priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priced<'a> {
    pub amount_minor: i64,
    pub currency: Currency,
    pub payment_method: &'a str,
    pub card_brand: Option<&'a str>,
}

/// A merchant's fee rules. The most specific matching rule decides (brand
/// over method over currency); among equals, the first listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<FeeRule>", into = "Vec<FeeRule>")]
pub struct FeeSchedule {
    rules: Vec<FeeRule>,
}

impl TryFrom<Vec<FeeRule>> for FeeSchedule {
    type Error = LedgerError;
    fn try_from(rules: Vec<FeeRule>) -> Result<Self, LedgerError> {
        FeeSchedule::new(rules)
    }
}

impl From<FeeSchedule> for Vec<FeeRule> {
    fn from(schedule: FeeSchedule) -> Self {
        schedule.rules
    }
}

impl FeeSchedule {
    pub fn new(rules: Vec<FeeRule>) -> Result<Self, LedgerError> {
        if rules.len() > FEE_RULES_MAX {
            return Err(LedgerError::invalid(
                "fee schedule",
                format!("{} rules", rules.len()),
            ));
        }
        for rule in &rules {
            if !(0..=BASIS_POINTS_WHOLE).contains(&rule.basis_points) {
                return Err(LedgerError::invalid(
                    "basis_points",
                    rule.basis_points.to_string(),
                ));
            }
            if rule.fixed_minor < 0 || (rule.fixed_minor > 0 && rule.currency.is_none()) {
                return Err(LedgerError::invalid(
                    "fixed_minor",
                    rule.fixed_minor.to_string(),
                ));
            }
        }
        Ok(Self { rules })
    }

    /// A schedule that charges nothing.
    pub fn free() -> Self {
        Self { rules: vec![] }
    }

    fn rule_for(&self, priced: &Priced<'_>) -> Option<&FeeRule> {
        let matches = |rule: &&FeeRule| {
            rule.currency.is_none_or(|c| c == priced.currency)
                && rule
                    .payment_method
                    .as_deref()
                    .is_none_or(|m| m == priced.payment_method)
                && rule
                    .card_brand
                    .as_deref()
                    .is_none_or(|b| Some(b) == priced.card_brand)
        };
        let specificity = |rule: &FeeRule| {
            4 * u8::from(rule.card_brand.is_some())
                + 2 * u8::from(rule.payment_method.is_some())
                + u8::from(rule.currency.is_some())
        };
        let mut best: Option<&FeeRule> = None;
        for rule in self.rules.iter().filter(matches) {
            if best.is_none_or(|b| specificity(rule) > specificity(b)) {
                best = Some(rule);
            }
        }
        best
    }

    /// The fee on `priced`, in its currency's minor unit: the percentage
    /// rounded half to even, plus the fixed part, never more than the amount.
    pub fn fee_minor(&self, priced: &Priced<'_>) -> Result<i64, LedgerError> {
        if priced.amount_minor < 0 {
            return Err(LedgerError::invalid(
                "amount",
                priced.amount_minor.to_string(),
            ));
        }
        let Some(rule) = self.rule_for(priced) else {
            return Ok(0);
        };
        let percent = div_round_half_even(
            i128::from(priced.amount_minor) * i128::from(rule.basis_points),
            i128::from(BASIS_POINTS_WHOLE),
        );
        let fee = i64::try_from(percent)
            .map_err(|_| LedgerError::Overflow)?
            .checked_add(rule.fixed_minor)
            .ok_or(LedgerError::Overflow)?;
        Ok(fee.min(priced.amount_minor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    fn rule(
        currency: Option<&str>,
        brand: Option<&str>,
        basis_points: i64,
        fixed_minor: i64,
    ) -> FeeRule {
        FeeRule {
            currency: currency.map(cur),
            payment_method: None,
            card_brand: brand.map(str::to_owned),
            basis_points,
            fixed_minor,
        }
    }

    fn fee(schedule: &FeeSchedule, amount_minor: i64, currency: &str, brand: &str) -> i64 {
        schedule
            .fee_minor(&Priced {
                amount_minor,
                currency: cur(currency),
                payment_method: "card",
                card_brand: Some(brand),
            })
            .unwrap()
    }

    #[test]
    fn rounding_is_half_to_even() {
        for (n, d, expected) in [
            (5, 2, 2),   // 2.5 → 2
            (7, 2, 4),   // 3.5 → 4
            (15, 10, 2), // 1.5 → 2
            (25, 10, 2), // 2.5 → 2
            (251, 100, 3),
            (249, 100, 2),
            (0, 7, 0),
            (1, 3, 0),
            (2, 3, 1),
        ] {
            assert_eq!(div_round_half_even(n, d), expected, "{n}/{d}");
        }
    }

    #[test]
    fn usd_percentages_of_awkward_amounts() {
        let schedule = FeeSchedule::new(vec![rule(Some("usd"), None, 290, 30)]).unwrap();
        assert_eq!(fee(&schedule, 1050, "usd", "visa"), 30 + 30); // 30.45 → 30
        assert_eq!(fee(&schedule, 1725, "usd", "visa"), 50 + 30); // 50.025 → 50
        assert_eq!(fee(&schedule, 2000, "usd", "visa"), 58 + 30);
        assert_eq!(fee(&schedule, 99_999_999, "usd", "visa"), 2_900_000 + 30); // 2_899_999.971 → 2_900_000
        assert_eq!(fee(&schedule, 50, "usd", "visa"), 31); // 1.45 → 1, + 30 = 31 ≤ 50
        assert_eq!(fee(&schedule, 20, "usd", "visa"), 20); // never more than the charge
        let half = FeeSchedule::new(vec![rule(Some("usd"), None, 250, 0)]).unwrap();
        assert_eq!(fee(&half, 20, "usd", "visa"), 0); // 0.5 → 0 (even)
        assert_eq!(fee(&half, 60, "usd", "visa"), 2); // 1.5 → 2
        assert_eq!(fee(&half, 100, "usd", "visa"), 2); // 2.5 → 2
        assert_eq!(fee(&half, 140, "usd", "visa"), 4); // 3.5 → 4
    }

    #[test]
    fn zero_decimal_jpy_rounds_at_the_yen() {
        let schedule = FeeSchedule::new(vec![rule(Some("jpy"), None, 360, 0)]).unwrap();
        assert_eq!(fee(&schedule, 999, "jpy", "jcb"), 36); // 35.964 → 36
        assert_eq!(fee(&schedule, 125, "jpy", "jcb"), 4); // 4.5 → 4
        assert_eq!(fee(&schedule, 375, "jpy", "jcb"), 14); // 13.5 → 14
        assert_eq!(fee(&schedule, 1, "jpy", "jcb"), 0);
        let fixed = FeeSchedule::new(vec![rule(Some("jpy"), None, 250, 40)]).unwrap();
        assert_eq!(fee(&fixed, 300, "jpy", "visa"), 8 + 40); // 7.5 → 8
        assert_eq!(fee(&fixed, 100, "jpy", "visa"), 2 + 40); // 2.5 → 2
    }

    #[test]
    fn three_decimal_kwd_rounds_at_the_fils() {
        let schedule = FeeSchedule::new(vec![rule(Some("kwd"), None, 250, 100)]).unwrap();
        assert_eq!(fee(&schedule, 1_100, "kwd", "visa"), 28 + 100); // 1.100 KWD: 27.5 → 28 fils
        assert_eq!(fee(&schedule, 1_300, "kwd", "visa"), 32 + 100); // 32.5 → 32
        assert_eq!(fee(&schedule, 12_345, "kwd", "visa"), 309 + 100); // 308.625 → 309
        assert_eq!(fee(&schedule, 99, "kwd", "visa"), 99); // capped at the amount
    }

    #[test]
    fn the_most_specific_rule_decides() {
        let schedule = FeeSchedule::new(vec![
            rule(None, None, 300, 0),
            rule(Some("usd"), None, 290, 30),
            rule(None, Some("amex"), 350, 0),
            rule(Some("usd"), Some("amex"), 340, 15),
        ])
        .unwrap();
        assert_eq!(fee(&schedule, 10_000, "usd", "visa"), 290 + 30);
        assert_eq!(fee(&schedule, 10_000, "usd", "amex"), 340 + 15);
        assert_eq!(fee(&schedule, 10_000, "eur", "amex"), 350);
        assert_eq!(fee(&schedule, 10_000, "eur", "visa"), 300);
        assert_eq!(fee(&FeeSchedule::free(), 10_000, "eur", "visa"), 0);
    }

    #[test]
    fn malformed_schedules_are_refused() {
        assert!(FeeSchedule::new(vec![rule(None, None, 290, 30)]).is_err());
        assert!(FeeSchedule::new(vec![rule(Some("usd"), None, 10_001, 0)]).is_err());
        assert!(FeeSchedule::new(vec![rule(Some("usd"), None, -1, 0)]).is_err());
        assert!(FeeSchedule::new(vec![rule(Some("usd"), None, 1, -1)]).is_err());
    }

    #[test]
    fn shares_of_a_fee_telescope_to_the_whole() {
        // Returning the fee of 59 on refunds of 333, 333 and 334 of 1000.
        let f = |refunded| share_minor(59, refunded, 1000).unwrap();
        let parts = [f(333) - f(0), f(666) - f(333), f(1000) - f(666)];
        assert_eq!(parts, [20, 19, 20]);
        assert_eq!(parts.iter().sum::<i64>(), 59);
        assert!(share_minor(59, 1001, 1000).is_err());
    }

    #[test]
    fn refunds_never_return_more_than_the_fee_even_after_a_failed_refund() {
        let back = |returned: i64, refunded_after_minor: i64| {
            fee_returned_minor(RefundedFee {
                fee_minor: 1,
                fee_returned_minor: returned,
                captured_minor: 2,
                refunded_after_minor,
            })
            .unwrap()
        };
        assert_eq!(back(0, 1), 0); // half of 1 rounds to 0
        assert_eq!(back(0, 2), 1);
        // 1 of 2 refunded (gave back 0), then 1 more (gave back 1); the first
        // fails and is reversed (0 back), a third refund of 1 finds 1 returned.
        assert_eq!(back(1, 2), 0);
    }
}
