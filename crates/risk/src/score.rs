//! The risk score: a transparent additive model. Each factor below adds
//! its documented points when its signal says so; the sum is clamped to
//! 0–100. No factor applies to an unknown signal. The level follows the
//! score: `normal` below 65, `elevated` from 65, `highest` from 75.
//!
//! | factor | points |
//! |---|---|
//! | base | 5 |
//! | card country ≠ IP country | 15 |
//! | card country ≠ billing country | 10 |
//! | impossible travel (over 1000 km/h since the card's last payment) | 30 |
//! | amount over 5× the card's average (3+ payments of history) | 15 |
//! | amount over 5× the customer's average (3+ payments of history) | 10 |
//! | more than 3 cards from this IP in the hour | 20 |
//! | more than 3 cards for this customer in the hour | 15 |
//! | 3+ declines of this card in the day | 15 |
//! | 3+ declines from this IP in the hour | 10 |
//! | prepaid card | 10 |
//! | amount over 1,000 USD | 5 |

use crate::signals::{Signal, SignalValue, Signals, MICROS_PER_UNIT};
use serde::Serialize;

pub const ELEVATED_SCORE_MIN: u8 = 65;
pub const HIGHEST_SCORE_MIN: u8 = 75;
const BASE_POINTS: u8 = 5;
/// History needed before an amount can be called unusual.
const HISTORY_PAYMENTS_MIN: i64 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Normal,
    Elevated,
    Highest,
}

impl RiskLevel {
    pub fn of_score(score: u8) -> RiskLevel {
        if score >= HIGHEST_SCORE_MIN {
            RiskLevel::Highest
        } else if score >= ELEVATED_SCORE_MIN {
            RiskLevel::Elevated
        } else {
            RiskLevel::Normal
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Normal => "normal",
            RiskLevel::Elevated => "elevated",
            RiskLevel::Highest => "highest",
        }
    }
}

/// One factor that added points, named by its signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Factor {
    pub signal: Signal,
    pub points: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Score {
    /// 0–100.
    pub score: u8,
    pub level: RiskLevel,
    /// The factors that added points, in the table's order.
    pub factors: Vec<Factor>,
}

impl Score {
    /// A score raised to at least `floor` (the sandbox's risk test cards).
    pub fn at_least(mut self, floor: u8) -> Score {
        self.score = self.score.max(floor.min(100));
        self.level = RiskLevel::of_score(self.score);
        self
    }
}

fn number(signals: &Signals, signal: Signal) -> Option<i64> {
    match signals.get(signal) {
        SignalValue::Number(n) => Some(*n),
        _ => None,
    }
}

fn text(signals: &Signals, signal: Signal) -> Option<&str> {
    match signals.get(signal) {
        SignalValue::Text(t) => Some(t),
        _ => None,
    }
}

fn differ(signals: &Signals, a: Signal, b: Signal) -> bool {
    matches!((text(signals, a), text(signals, b)), (Some(x), Some(y)) if !x.eq_ignore_ascii_case(y))
}

fn above(signals: &Signals, signal: Signal, units: i64) -> bool {
    number(signals, signal).is_some_and(|n| n > units * MICROS_PER_UNIT)
}

/// The average of a history and this amount's ratio to it, as signals;
/// unknown with fewer than 3 payments of history (nothing is unusual yet).
pub fn amount_anomaly(
    amount_usd_cents: i64,
    history_count: i64,
    history_usd_cents: i64,
) -> (SignalValue, SignalValue) {
    if history_count < HISTORY_PAYMENTS_MIN || history_usd_cents <= 0 {
        return (SignalValue::Unknown, SignalValue::Unknown);
    }
    let average_cents = history_usd_cents / history_count;
    let average = SignalValue::Number(average_cents.saturating_mul(MICROS_PER_UNIT / 100));
    let ratio_micros =
        i128::from(amount_usd_cents) * i128::from(history_count) * i128::from(MICROS_PER_UNIT)
            / i128::from(history_usd_cents);
    (
        average,
        SignalValue::Number(i64::try_from(ratio_micros).unwrap_or(i64::MAX)),
    )
}

/// Scores a payment's signals.
pub fn score(signals: &Signals) -> Score {
    let prepaid = text(signals, Signal::CardFunding) == Some("prepaid");
    let travel = *signals.get(Signal::ImpossibleTravel) == SignalValue::Bool(true);
    let factors_table: [(Signal, u8, bool); 11] = [
        (
            Signal::IpCountry,
            15,
            differ(signals, Signal::CardCountry, Signal::IpCountry),
        ),
        (
            Signal::BillingCountry,
            10,
            differ(signals, Signal::CardCountry, Signal::BillingCountry),
        ),
        (Signal::ImpossibleTravel, 30, travel),
        (
            Signal::AmountToCardAverage,
            15,
            above(signals, Signal::AmountToCardAverage, 5),
        ),
        (
            Signal::AmountToCustomerAverage,
            10,
            above(signals, Signal::AmountToCustomerAverage, 5),
        ),
        (
            Signal::CardsPerIpHourly,
            20,
            above(signals, Signal::CardsPerIpHourly, 3),
        ),
        (
            Signal::CardsPerCustomerHourly,
            15,
            above(signals, Signal::CardsPerCustomerHourly, 3),
        ),
        (
            Signal::DeclinedCardDaily,
            15,
            above(signals, Signal::DeclinedCardDaily, 2),
        ),
        (
            Signal::DeclinedIpHourly,
            10,
            above(signals, Signal::DeclinedIpHourly, 2),
        ),
        (Signal::CardFunding, 10, prepaid),
        (
            Signal::AmountInUsd,
            5,
            above(signals, Signal::AmountInUsd, 1_000),
        ),
    ];
    let factors: Vec<Factor> = factors_table
        .iter()
        .filter(|(_, _, applies)| *applies)
        .map(|(signal, points, _)| Factor {
            signal: *signal,
            points: *points,
        })
        .collect();
    let total: u32 =
        u32::from(BASE_POINTS) + factors.iter().map(|f| u32::from(f.points)).sum::<u32>();
    let score = total.min(100) as u8;
    Score {
        score,
        level: RiskLevel::of_score(score),
        factors,
    }
}

/// Sets the `risk_score` and `risk_level` signals from `score`.
pub fn record(signals: &mut Signals, score: &Score) {
    signals.set(
        Signal::RiskScore,
        SignalValue::count(i64::from(score.score)),
    );
    signals.set(Signal::RiskLevel, SignalValue::text(score.level.as_str()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_payment_scores_the_base() {
        let s = score(&Signals::default());
        assert_eq!((s.score, s.level), (5, RiskLevel::Normal));
        assert!(s.factors.is_empty());
    }

    #[test]
    fn factors_add_their_documented_points() {
        let mut signals = Signals::default();
        signals.set(Signal::CardCountry, SignalValue::text("US"));
        signals.set(Signal::IpCountry, SignalValue::text("JP"));
        signals.set(Signal::ImpossibleTravel, SignalValue::Bool(true));
        signals.set(Signal::CardsPerIpHourly, SignalValue::count(4));
        let s = score(&signals);
        assert_eq!(s.score, 5 + 15 + 30 + 20);
        assert_eq!(s.level, RiskLevel::Elevated);
        assert_eq!(s.factors.len(), 3);
    }

    #[test]
    fn amount_anomaly_needs_history_and_is_exact() {
        assert_eq!(
            amount_anomaly(10_000, 2, 2_000),
            (SignalValue::Unknown, SignalValue::Unknown)
        );
        let (average, ratio) = amount_anomaly(10_000, 4, 4_000);
        assert_eq!(average, SignalValue::Number(10_000_000)); // 10.00 USD
        assert_eq!(ratio, SignalValue::Number(10_000_000)); // 10×
    }

    #[test]
    fn levels_follow_the_thresholds() {
        assert_eq!(RiskLevel::of_score(64), RiskLevel::Normal);
        assert_eq!(RiskLevel::of_score(65), RiskLevel::Elevated);
        assert_eq!(RiskLevel::of_score(75), RiskLevel::Highest);
        assert_eq!(
            score(&Signals::default()).at_least(85).level,
            RiskLevel::Highest
        );
    }
}
