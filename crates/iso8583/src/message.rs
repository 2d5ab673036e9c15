//! A message: its MTI and its data elements, each checked against the field
//! table when set, so a `Message` always encodes.

use crate::error::{FieldError, MtiError, Problem};
use crate::spec::{self, Content, FieldSpec, Length};
use std::collections::BTreeMap;
use std::fmt;

/// The message type indicator: four ASCII digits (`0100`, `0810`, …).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mti([u8; 4]);

impl Mti {
    /// An MTI from four digits known when compiling (`const` items: a
    /// non-digit fails the build).
    pub const fn from_digits(digits: [u8; 4]) -> Mti {
        let mut index = 0;
        while index < 4 {
            assert!(digits[index].is_ascii_digit(), "an MTI is four digits");
            index += 1;
        }
        Mti(digits)
    }

    pub fn parse(text: &str) -> Result<Mti, MtiError> {
        Mti::from_bytes(text.as_bytes())
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Mti, MtiError> {
        let array: [u8; 4] = bytes.try_into().map_err(|_| MtiError)?;
        if array.iter().all(u8::is_ascii_digit) {
            Ok(Mti(array))
        } else {
            Err(MtiError)
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits get in.
        std::str::from_utf8(&self.0).unwrap_or("0000")
    }

    pub fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }

    /// The answer's MTI: the function digit plus ten (`0100` → `0110`,
    /// `0400` → `0410`), or `None` when this MTI is itself an answer.
    pub fn response(&self) -> Option<Mti> {
        let function = self.0[2] - b'0';
        if function % 2 == 1 {
            return None;
        }
        let mut answer = self.0;
        answer[2] = b'0' + function + 1;
        Some(Mti(answer))
    }
}

impl fmt::Debug for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ISO 8583 message. Field values are their content: ASCII text for
/// numeric and text fields, raw bytes for binary ones. The bitmaps are
/// derived from which fields are present.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    mti: Mti,
    fields: BTreeMap<u8, Vec<u8>>,
}

impl Message {
    pub fn new(mti: Mti) -> Message {
        Message {
            mti,
            fields: BTreeMap::new(),
        }
    }

    pub fn mti(&self) -> Mti {
        self.mti
    }

    pub fn set_mti(&mut self, mti: Mti) {
        self.mti = mti;
    }

    /// Sets field `number` after checking `value` against the field table.
    pub fn set(&mut self, number: u8, value: impl Into<Vec<u8>>) -> Result<(), FieldError> {
        let value = value.into();
        let spec = spec::spec(number).ok_or(FieldError {
            field: number,
            problem: Problem::UnknownField,
        })?;
        check_content(spec, &value).map_err(|problem| FieldError {
            field: number,
            problem,
        })?;
        self.fields.insert(number, value);
        Ok(())
    }

    /// Like [`Message::set`] with text.
    pub fn set_text(&mut self, number: u8, value: &str) -> Result<(), FieldError> {
        self.set(number, value.as_bytes().to_vec())
    }

    pub fn get(&self, number: u8) -> Option<&[u8]> {
        self.fields.get(&number).map(Vec::as_slice)
    }

    /// A numeric or text field as text (`None` if absent or binary content
    /// that is not UTF-8).
    pub fn text(&self, number: u8) -> Option<&str> {
        self.get(number)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    pub fn remove(&mut self, number: u8) -> Option<Vec<u8>> {
        self.fields.remove(&number)
    }

    pub fn has(&self, number: u8) -> bool {
        self.fields.contains_key(&number)
    }

    /// The present fields, ascending by number.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.fields
            .iter()
            .map(|(number, value)| (*number, value.as_slice()))
    }

    /// True when a field above 64 is present (so the secondary bitmap is).
    pub fn has_secondary_bitmap(&self) -> bool {
        self.fields.keys().any(|number| *number > 64)
    }

    /// Inserts a value the decoder has already checked.
    pub(crate) fn insert_checked(&mut self, number: u8, value: Vec<u8>) {
        self.fields.insert(number, value);
    }
}

/// Shows the MTI and which fields are present with their lengths, never
/// their content (a message may carry a card number or a PIN block).
impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_map();
        list.entry(&"mti", &self.mti);
        for (number, value) in &self.fields {
            list.entry(number, &format_args!("<{} bytes>", value.len()));
        }
        list.finish()
    }
}

/// Checks a field's content (in content units: bytes) against its spec.
pub(crate) fn check_content(spec: &FieldSpec, value: &[u8]) -> Result<(), Problem> {
    match spec.length {
        Length::Fixed(expected) if value.len() != expected => {
            return Err(Problem::WrongLength {
                length: value.len(),
                expected,
            })
        }
        Length::LlVar(max) | Length::LllVar(max) if value.len() > max => {
            return Err(Problem::TooLong {
                length: value.len(),
                max,
            })
        }
        _ => {}
    }
    let allowed: fn(u8) -> bool = match spec.content {
        Content::Numeric => |byte| byte.is_ascii_digit(),
        Content::Track2 => |byte| byte.is_ascii_digit() || byte == b'=' || byte == b'D',
        Content::Text => |byte| (0x20..=0x7e).contains(&byte),
        Content::Binary => |_| true,
    };
    match value.iter().position(|byte| !allowed(*byte)) {
        Some(index) => Err(Problem::InvalidCharacter { index }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_checks_the_table() {
        let mut message = Message::new(Mti::parse("0100").unwrap());
        assert!(message.set_text(4, "000000001000").is_ok());
        assert_eq!(
            message.set_text(4, "1000"),
            Err(FieldError {
                field: 4,
                problem: Problem::WrongLength {
                    length: 4,
                    expected: 12
                }
            })
        );
        assert_eq!(
            message.set_text(2, "42424242x"),
            Err(FieldError {
                field: 2,
                problem: Problem::InvalidCharacter { index: 8 }
            })
        );
        assert_eq!(
            message
                .set_text(2, "42424242424242424242")
                .unwrap_err()
                .problem,
            Problem::TooLong {
                length: 20,
                max: 19
            }
        );
        assert_eq!(
            message.set_text(5, "1").unwrap_err().problem,
            Problem::UnknownField
        );
    }

    #[test]
    fn response_mti_and_debug_hides_content() {
        assert_eq!(
            Mti::parse("0100").unwrap().response(),
            Some(Mti::parse("0110").unwrap())
        );
        assert_eq!(Mti::parse("0410").unwrap().response(), None);
        assert!(Mti::parse("01a0").is_err());
        let mut message = Message::new(Mti::parse("0100").unwrap());
        message.set_text(2, "4242424242424242").unwrap();
        let shown = format!("{message:?}");
        assert!(!shown.contains("4242"), "{shown}");
        assert!(shown.contains("16 bytes"), "{shown}");
    }
}
