//! When an unpaid trade closes by itself: Alipay's `timeout_express`
//! (`90m`, `2h`, `1d`; `1c`, the end of the day, is taken as 1 day) and
//! WeChat Pay's `time_expire` (RFC 3339 with an offset). The simulator's
//! sweeper closes such trades, as the providers do.

use super::{now_s, SharedSim};
use std::time::Duration;

/// How often the sweeper looks for trades whose time is up.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The unix time at which a trade created at `created_s` with Alipay's
/// `timeout_express` closes; `None` when absent or unreadable.
pub fn alipay_expiry(created_s: i64, timeout_express: Option<&str>) -> Option<i64> {
    let text = timeout_express?;
    let (count, unit) = text.split_at(text.len().checked_sub(1)?);
    let count: i64 = count.parse().ok().filter(|n| *n > 0)?;
    let unit_s = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" | "c" => 86_400,
        _ => return None,
    };
    created_s.checked_add(count.checked_mul(unit_s)?)
}

/// `YYYY-MM-DDTHH:MM:SS±HH:MM` as unix seconds.
pub fn rfc3339_s(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 25 || bytes[10] != b'T' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let offset_s = (number(20..22)? * 3_600 + number(23..25)? * 60)
        * match bytes[19] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(
        days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second - offset_s,
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Closes expired trades every [`SWEEP_INTERVAL`] until the process ends.
pub async fn sweep(sim: SharedSim) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        ticks.tick().await;
        if let Err(error) = sim.book.lock().close_expired(now_s()) {
            tracing::error!(%error, "wallet-sim: could not close expired trades");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_are_read_as_the_providers_write_them() {
        assert_eq!(alipay_expiry(1_000, Some("15m")), Some(1_900));
        assert_eq!(alipay_expiry(1_000, Some("2h")), Some(8_200));
        assert_eq!(alipay_expiry(1_000, Some("0m")), None);
        assert_eq!(alipay_expiry(1_000, Some("15x")), None);
        assert_eq!(alipay_expiry(1_000, None), None);
        assert_eq!(rfc3339_s("1970-01-01T08:00:00+08:00"), Some(0));
        assert_eq!(rfc3339_s("2024-03-01T00:00:00+08:00"), Some(1_709_222_400));
        let round_trip = portcullis_wallets::wechat_pay_orders::time_expire(1_765_000_000);
        assert_eq!(rfc3339_s(&round_trip), Some(1_765_000_000));
        assert_eq!(rfc3339_s("2024-13-01T00:00:00+08:00"), None);
        assert_eq!(rfc3339_s("2024-03-01 00:00:00+08:00"), None);
    }
}
