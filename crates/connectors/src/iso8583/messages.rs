//! The contents of the data elements the gateway, `acquirer-sim` and the
//! terminal listener write and read: amounts, dates and times, DE 90,
//! masked PANs, track 2, and the retrieval reference number of an attempt.

use portcullis_domain::money::Currency;

/// DE 7 (`MMDDhhmmss`), DE 12 (`hhmmss`) and DE 13 (`MMDD`), all in UTC,
/// and the `YYYY-MM-DD` date the journal and settlement use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timestamps {
    pub transmission: String,
    pub local_time: String,
    pub local_date: String,
    pub date: String,
}

/// The civil date (year, month, day) of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Timestamps {
    /// The fields for `unix_s` seconds since the epoch.
    pub fn at(unix_s: u64) -> Timestamps {
        let days = (unix_s / 86_400) as i64;
        let seconds = unix_s % 86_400;
        let (year, month, day) = civil_from_days(days);
        let (hour, minute, second) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
        Timestamps {
            transmission: format!("{month:02}{day:02}{hour:02}{minute:02}{second:02}"),
            local_time: format!("{hour:02}{minute:02}{second:02}"),
            local_date: format!("{month:02}{day:02}"),
            date: format!("{year:04}-{month:02}-{day:02}"),
        }
    }

    pub fn now() -> Timestamps {
        Timestamps::at(unix_now())
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// DE 4: the amount in minor units as 12 digits; `None` when negative or
/// too large.
pub fn amount_field(minor: i64) -> Option<String> {
    (0..=999_999_999_999)
        .contains(&minor)
        .then(|| format!("{minor:012}"))
}

/// The minor units of a DE 4 (digits only, checked by the codec).
pub fn parse_amount(field: &str) -> Option<i64> {
    field.parse().ok()
}

/// DE 49: the ISO 4217 numeric code as 3 digits.
pub fn currency_field(currency: Currency) -> String {
    format!("{:03}", currency.numeric())
}

pub fn parse_currency(field: &str) -> Option<Currency> {
    Currency::from_numeric(field.parse().ok()?)
}

/// DE 90, original data elements: original MTI (4), STAN (6), transmission
/// date and time (10), acquirer id (11, zero-padded), forwarding institution
/// id (11, zeros).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalData {
    pub mti: String,
    pub stan: String,
    pub transmission: String,
    pub acquirer_id: String,
}

impl OriginalData {
    pub fn field(&self) -> String {
        format!(
            "{}{}{}{:0>11}{:0>11}",
            self.mti, self.stan, self.transmission, self.acquirer_id, ""
        )
    }

    /// The parts of a DE 90 (42 digits, checked by the codec).
    pub fn parse(field: &str) -> Option<OriginalData> {
        if field.len() != 42 || !field.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(OriginalData {
            mti: field[0..4].to_owned(),
            stan: field[4..10].to_owned(),
            transmission: field[10..20].to_owned(),
            acquirer_id: field[20..31].trim_start_matches('0').to_owned(),
        })
    }
}

/// A PAN as the journal and settlement files show it: the first six and
/// last four digits, the rest as `*`.
pub fn mask_pan(pan: &str) -> String {
    if pan.len() < 13 || !pan.is_ascii() {
        return "*".repeat(pan.len());
    }
    format!(
        "{}{}{}",
        &pan[..6],
        "*".repeat(pan.len() - 10),
        &pan[pan.len() - 4..]
    )
}

/// The PAN and the expiry (`YYMM`) of track 2 equivalent data
/// (`PAN=YYMM…` or with `D` as separator).
pub fn parse_track2(track2: &str) -> Option<(&str, &str)> {
    let separator = track2.find(['=', 'D'])?;
    let pan = &track2[..separator];
    let expiry = track2.get(separator + 1..separator + 5)?;
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    (digits(pan) && digits(expiry)).then_some((pan, expiry))
}

/// DE 37 for a gateway attempt: 12 digits derived from the attempt id, so a
/// repeat of the attempt names the same transaction at the acquirer (which
/// answers a repeated RRN with its first answer). FNV-1a over the id, folded
/// to 12 decimal digits.
pub fn rrn_of(attempt_id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in attempt_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:012}", hash % 1_000_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_utc() {
        // 2026-12-05T10:15:00Z
        let at = Timestamps::at(1_796_465_700);
        assert_eq!(at.date, "2026-12-05");
        assert_eq!(at.transmission, "1205101500");
        assert_eq!(at.local_time, "101500");
        assert_eq!(at.local_date, "1205");
        assert_eq!(Timestamps::at(951_782_400).date, "2000-02-29");
    }

    #[test]
    fn fields_round_trip() {
        assert_eq!(amount_field(1999).as_deref(), Some("000000001999"));
        assert_eq!(amount_field(-1), None);
        assert_eq!(amount_field(1_000_000_000_000), None);
        let eur = Currency::parse("eur").unwrap();
        assert_eq!(currency_field(eur), "978");
        assert_eq!(parse_currency("978"), Some(eur));
        let original = OriginalData {
            mti: "0100".into(),
            stan: "000123".into(),
            transmission: "1205101500".into(),
            acquirer_id: "12345".into(),
        };
        let field = original.field();
        assert_eq!(field, "010000012312051015000000001234500000000000");
        assert_eq!(OriginalData::parse(&field), Some(original));
        assert_eq!(mask_pan("4571230000009876"), "457123******9876");
        assert_eq!(
            parse_track2("4571230000009876=30121010000000000"),
            Some(("4571230000009876", "3012"))
        );
        assert_eq!(parse_track2("4571230000009876"), None);
        assert_eq!(rrn_of("pa_1").len(), 12);
        assert_ne!(rrn_of("pa_1"), rrn_of("pa_2"));
    }
}
