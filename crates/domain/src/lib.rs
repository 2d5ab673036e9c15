//! The Portcullis domain: the nouns of a payment gateway and the rules that
//! bind them. This crate does no I/O and knows nothing of HTTP or SQL; values
//! here are constructed through `parse`/`new` functions, so an invalid value
//! cannot exist.

pub mod accounts;
pub mod api_keys;
pub mod card_connectors;
pub mod cards;
pub mod charges;
pub mod checkout;
pub mod connector_accounts;
pub mod customers;
pub mod ids;
pub mod locale;
pub mod merchants;
pub mod metadata;
pub mod money;
pub mod payment_intents;
pub mod payment_methods;
pub mod refunds;
pub mod sandbox_cards;
pub mod search;
pub mod wallet;
pub mod webhooks;

/// Seconds since the Unix epoch, the unit of every `created` field.
pub type UnixSeconds = i64;

/// The UTC calendar year and month (1–12) of a Unix time, for card expiry
/// checks (no time zone data).
pub fn year_month_of(unix_s: UnixSeconds) -> (i32, u32) {
    let (year, month, _) = civil_from_days(unix_s.div_euclid(86_400));
    (year as i32, month)
}

/// The proleptic Gregorian `(year, month 1–12, day 1–31)` of a day counted
/// from 1970-01-01 (Howard Hinnant's days-to-civil algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// The day counted from 1970-01-01 of a proleptic Gregorian date (the
/// inverse of [`civil_from_days`], Howard Hinnant's days-from-civil).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod calendar_tests {
    #[test]
    fn days_from_civil_inverts_civil_from_days() {
        for days in [-800_000, -1, 0, 59, 11_016, 20_000, 2_000_000] {
            let (y, m, d) = super::civil_from_days(days);
            assert_eq!(super::days_from_civil(y, m, d), days);
        }
        assert_eq!(super::days_from_civil(2000, 2, 29), 11_016);
    }

    #[test]
    fn year_month_of_known_instants() {
        assert_eq!(super::year_month_of(0), (1970, 1));
        assert_eq!(super::year_month_of(1_795_632_783), (2026, 11));
        assert_eq!(super::year_month_of(951_782_400), (2000, 2)); // 2000-02-29
        assert_eq!(super::year_month_of(1_704_067_199), (2023, 12));
        assert_eq!(super::year_month_of(1_704_067_200), (2024, 1));
    }
}
