//! The field specification as data: one row per data element this codec
//! knows, in pyiso8583's `default` layout (what each element holds, how its
//! length is given, its maximum length). Nothing else in the crate knows a
//! field by number except the MAC fields (64, 128), the secondary bitmap
//! (1) and the helpers that name fields for callers.

/// What a field's content may contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// ASCII digits only (ISO `n`).
    Numeric,
    /// Track 2 equivalent data (ISO `z`): digits, `=` or `D` as separator.
    Track2,
    /// Printable ASCII, 0x20–0x7E (ISO `an`/`ans`).
    Text,
    /// Raw bytes (ISO `b`): on the wire as bytes in the `default` profile,
    /// as upper-case hex digits in `default_ascii`.
    Binary,
}

/// How a field's length is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// Always exactly this many content units (bytes; for `Binary`, bytes
    /// before hex expansion).
    Fixed(usize),
    /// A 2-digit ASCII length prefix, then up to this many units.
    LlVar(usize),
    /// A 3-digit ASCII length prefix, then up to this many units.
    LllVar(usize),
}

impl Length {
    /// The most content units the field may hold.
    pub fn max(self) -> usize {
        match self {
            Length::Fixed(n) | Length::LlVar(n) | Length::LllVar(n) => n,
        }
    }

    /// Digits of the length prefix (0 for fixed fields).
    pub fn prefix_digits(self) -> usize {
        match self {
            Length::Fixed(_) => 0,
            Length::LlVar(_) => 2,
            Length::LllVar(_) => 3,
        }
    }
}

/// One data element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub number: u8,
    pub name: &'static str,
    pub content: Content,
    pub length: Length,
}

const fn field(number: u8, name: &'static str, content: Content, length: Length) -> FieldSpec {
    FieldSpec {
        number,
        name,
        content,
        length,
    }
}

use Content::{Binary, Numeric, Text, Track2};
use Length::{Fixed, LlVar, LllVar};

/// The data elements of the authorization path, ascending by number.
pub const FIELDS: &[FieldSpec] = &[
    field(2, "primary account number", Numeric, LlVar(19)),
    field(3, "processing code", Numeric, Fixed(6)),
    field(4, "amount, transaction", Numeric, Fixed(12)),
    field(7, "transmission date and time", Numeric, Fixed(10)),
    field(11, "system trace audit number", Numeric, Fixed(6)),
    field(12, "time, local transaction", Numeric, Fixed(6)),
    field(13, "date, local transaction", Numeric, Fixed(4)),
    field(14, "date, expiration", Numeric, Fixed(4)),
    field(18, "merchant category code", Numeric, Fixed(4)),
    field(22, "point of service entry mode", Numeric, Fixed(3)),
    field(25, "point of service condition code", Numeric, Fixed(2)),
    field(32, "acquiring institution id", Numeric, LlVar(11)),
    field(35, "track 2 data", Track2, LlVar(37)),
    field(37, "retrieval reference number", Text, Fixed(12)),
    field(38, "authorization id response", Text, Fixed(6)),
    field(39, "response code", Text, Fixed(2)),
    field(41, "card acceptor terminal id", Text, Fixed(8)),
    field(42, "card acceptor id", Text, Fixed(15)),
    field(43, "card acceptor name/location", Text, Fixed(40)),
    field(49, "currency code, transaction", Numeric, Fixed(3)),
    field(52, "pin data", Binary, Fixed(8)),
    field(54, "additional amounts", Text, LllVar(240)),
    field(55, "icc data", Binary, LllVar(255)),
    field(64, "message authentication code", Binary, Fixed(8)),
    field(70, "network management information code", Numeric, Fixed(3)),
    field(90, "original data elements", Numeric, Fixed(42)),
    field(128, "message authentication code", Binary, Fixed(8)),
];

/// The specification of field `number`, if this codec knows it.
pub fn spec(number: u8) -> Option<&'static FieldSpec> {
    FIELDS.iter().find(|spec| spec.number == number)
}

/// The MAC field of the primary bitmap.
pub const MAC_PRIMARY: u8 = 64;
/// The MAC field when the secondary bitmap is present.
pub const MAC_SECONDARY: u8 = 128;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_ascending_and_within_range() {
        for pair in FIELDS.windows(2) {
            assert!(pair[0].number < pair[1].number);
        }
        assert!(FIELDS.iter().all(|f| (2..=128).contains(&f.number)));
        assert!(FIELDS.iter().all(|f| f.number != 65));
    }
}
