//! Stored-value (e-wallet) limits: the most a wallet may hold, and the most
//! that may go in or out of it in one UTC day, in a currency's minor units.
//! A customer's own limits replace the merchant's, field by field.

use serde::{Deserialize, Serialize};

/// Limits in minor units; `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletLimits {
    pub balance_max: Option<i64>,
    pub daily_credit_max: Option<i64>,
    pub daily_debit_max: Option<i64>,
}

/// Which limit a movement would break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitBreach {
    BalanceMax,
    DailyCreditMax,
    DailyDebitMax,
}

impl LimitBreach {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitBreach::BalanceMax => "balance_max",
            LimitBreach::DailyCreditMax => "daily_credit_max",
            LimitBreach::DailyDebitMax => "daily_debit_max",
        }
    }
}

/// A wallet's day so far, and the movement asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalletDay {
    /// What the wallet holds before the movement.
    pub held: i64,
    /// Money in and out today before the movement (both ≥ 0).
    pub credited_today: i64,
    pub debited_today: i64,
}

impl WalletLimits {
    /// The customer's limits where set, else the merchant's.
    pub fn over(self, merchant: WalletLimits) -> WalletLimits {
        WalletLimits {
            balance_max: self.balance_max.or(merchant.balance_max),
            daily_credit_max: self.daily_credit_max.or(merchant.daily_credit_max),
            daily_debit_max: self.daily_debit_max.or(merchant.daily_debit_max),
        }
    }

    /// Whether moving `delta` (positive: in; negative: out) keeps every
    /// limit. Overflow counts as a breach.
    pub fn check(&self, day: WalletDay, delta: i64) -> Result<(), LimitBreach> {
        let within = |total: Option<i64>, max: Option<i64>| match (total, max) {
            (_, None) => true,
            (Some(total), Some(max)) => total <= max,
            (None, Some(_)) => false,
        };
        if delta > 0 {
            if !within(day.held.checked_add(delta), self.balance_max) {
                return Err(LimitBreach::BalanceMax);
            }
            if !within(day.credited_today.checked_add(delta), self.daily_credit_max) {
                return Err(LimitBreach::DailyCreditMax);
            }
        } else if !within(
            delta
                .checked_neg()
                .and_then(|out| day.debited_today.checked_add(out)),
            self.daily_debit_max,
        ) {
            return Err(LimitBreach::DailyDebitMax);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(held: i64, credited_today: i64, debited_today: i64) -> WalletDay {
        WalletDay {
            held,
            credited_today,
            debited_today,
        }
    }

    #[test]
    fn each_limit_bites_at_its_bound() {
        let limits = WalletLimits {
            balance_max: Some(1000),
            daily_credit_max: Some(600),
            daily_debit_max: Some(300),
        };
        assert_eq!(limits.check(day(900, 0, 0), 100), Ok(()));
        assert_eq!(
            limits.check(day(900, 0, 0), 101),
            Err(LimitBreach::BalanceMax)
        );
        assert_eq!(limits.check(day(0, 500, 0), 100), Ok(()));
        assert_eq!(
            limits.check(day(0, 500, 0), 101),
            Err(LimitBreach::DailyCreditMax)
        );
        assert_eq!(limits.check(day(900, 0, 200), -100), Ok(()));
        assert_eq!(
            limits.check(day(900, 0, 200), -101),
            Err(LimitBreach::DailyDebitMax)
        );
        assert_eq!(
            WalletLimits::default().check(day(i64::MAX, 0, 0), 1),
            Ok(())
        );
        assert_eq!(
            limits.check(day(i64::MAX, 0, 0), 1),
            Err(LimitBreach::BalanceMax)
        );
    }

    #[test]
    fn a_customers_limits_replace_the_merchants_field_by_field() {
        let merchant = WalletLimits {
            balance_max: Some(1),
            daily_credit_max: Some(2),
            daily_debit_max: None,
        };
        let customer = WalletLimits {
            balance_max: Some(10),
            ..WalletLimits::default()
        };
        assert_eq!(
            customer.over(merchant),
            WalletLimits {
                balance_max: Some(10),
                daily_credit_max: Some(2),
                daily_debit_max: None
            }
        );
    }
}
