//! Track 2 equivalent data (DE 35): the primary account number, a
//! separator (`=` or `D`), the expiry as YYMM, a service code and
//! discretionary data. Only the card number and expiry are read; the rest
//! (which may hold verification values) is never kept.

use std::fmt;
use zeroize::Zeroizing;

/// The card number and expiry read from track 2. `Debug` never shows the
/// number; the digits are wiped on drop.
pub struct Track2 {
    pan: Zeroizing<String>,
    expiry_yymm: [u8; 4],
}

/// Why track 2 data was refused (never naming its content).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Track2Error {
    #[error("track 2 has no separator between the card number and the expiry")]
    NoSeparator,
    #[error("track 2's card number is not 12 to 19 digits")]
    BadNumber,
    #[error("track 2's expiry is not four digits (YYMM)")]
    BadExpiry,
}

/// Shortest and longest card number on track 2.
const PAN_DIGITS_MIN: usize = 12;
const PAN_DIGITS_MAX: usize = 19;

impl Track2 {
    /// Reads `data` (the content of DE 35).
    pub fn parse(data: &[u8]) -> Result<Track2, Track2Error> {
        let separator = data
            .iter()
            .position(|b| *b == b'=' || *b == b'D' || *b == b'd')
            .ok_or(Track2Error::NoSeparator)?;
        let pan = &data[..separator];
        if !(PAN_DIGITS_MIN..=PAN_DIGITS_MAX).contains(&pan.len())
            || !pan.iter().all(u8::is_ascii_digit)
        {
            return Err(Track2Error::BadNumber);
        }
        let expiry = data
            .get(separator + 1..separator + 5)
            .filter(|e| e.iter().all(u8::is_ascii_digit))
            .ok_or(Track2Error::BadExpiry)?;
        let mut expiry_yymm = [0u8; 4];
        expiry_yymm.copy_from_slice(expiry);
        let digits = pan.iter().map(|b| char::from(*b)).collect::<String>();
        Ok(Track2 {
            pan: Zeroizing::new(digits),
            expiry_yymm,
        })
    }

    /// The card number's digits.
    pub fn pan(&self) -> &str {
        &self.pan
    }

    /// The expiry's two-digit year and month.
    pub fn expiry_year_month(&self) -> (u8, u8) {
        let two = |pair: &[u8]| (pair[0] - b'0') * 10 + (pair[1] - b'0');
        (two(&self.expiry_yymm[..2]), two(&self.expiry_yymm[2..]))
    }
}

impl fmt::Debug for Track2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Track2(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_number_and_expiry_with_either_separator() {
        for data in [
            &b"4242424242424242=30121011234"[..],
            b"4242424242424242D3012",
        ] {
            let track = Track2::parse(data).unwrap();
            assert_eq!(track.pan(), "4242424242424242");
            assert_eq!(track.expiry_year_month(), (30, 12));
        }
    }

    #[test]
    fn refuses_malformed_tracks_without_naming_their_content() {
        assert_eq!(
            Track2::parse(b"4242424242424242").unwrap_err(),
            Track2Error::NoSeparator
        );
        assert_eq!(
            Track2::parse(b"42=3012").unwrap_err(),
            Track2Error::BadNumber
        );
        assert_eq!(
            Track2::parse(b"4242424242424242=30").unwrap_err(),
            Track2Error::BadExpiry
        );
        assert!(!format!("{:?}", Track2::parse(b"4242424242424242=3012")).contains("4242"));
    }
}
