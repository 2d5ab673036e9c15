//! Encoding and decoding of whole messages (without framing) under a
//! [`Profile`].

use crate::error::{DecodeError, Part, Problem};
use crate::message::{check_content, Message, Mti};
use crate::spec::{self, Content, FieldSpec, Length};

/// The wire layout of bitmaps and binary fields. Both are pyiso8583's stock
/// specifications of the same name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// pyiso8583 `default`: bitmaps as raw 8-byte binary; binary fields
    /// (52, 55, 64, 128) as raw bytes.
    #[default]
    Default,
    /// pyiso8583 `default_ascii`: bitmaps as 16 upper-case hex characters;
    /// binary fields as hex characters too (length prefixes count them).
    DefaultAscii,
}

impl Profile {
    /// The profile by its pyiso8583 name (`default`, `default_ascii`).
    pub fn parse(name: &str) -> Option<Profile> {
        match name {
            "default" => Some(Profile::Default),
            "default_ascii" => Some(Profile::DefaultAscii),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::DefaultAscii => "default_ascii",
        }
    }

    fn hex_binary(self) -> bool {
        self == Profile::DefaultAscii
    }

    /// Bytes one binary content byte takes on the wire.
    pub(crate) fn binary_unit(self) -> usize {
        if self.hex_binary() {
            2
        } else {
            1
        }
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for byte in bytes {
        out.push(HEX_DIGITS[usize::from(byte >> 4)]);
        out.push(HEX_DIGITS[usize::from(byte & 0x0f)]);
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn parse_hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| Some(hex_value(pair[0])? << 4 | hex_value(pair[1])?))
        .collect()
}

/// The 128 bits of the bitmaps (bit 1 = most significant bit of byte 0).
fn bitmap_of(message: &Message) -> [u8; 16] {
    let mut bits = [0u8; 16];
    let mut set = |number: u8| {
        let index = usize::from(number - 1);
        bits[index / 8] |= 0x80 >> (index % 8);
    };
    for (number, _) in message.fields() {
        set(number);
    }
    if message.has_secondary_bitmap() {
        set(1);
    }
    bits
}

fn push_bitmap(out: &mut Vec<u8>, bitmap: &[u8], profile: Profile) {
    if profile.hex_binary() {
        push_hex(out, bitmap);
    } else {
        out.extend_from_slice(bitmap);
    }
}

/// Encodes `message` (without framing). Cannot fail: every value in a
/// `Message` was checked when it was set.
pub fn encode(message: &Message, profile: Profile) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(message.mti().as_bytes());
    let bitmap = bitmap_of(message);
    push_bitmap(&mut out, &bitmap[..8], profile);
    if message.has_secondary_bitmap() {
        push_bitmap(&mut out, &bitmap[8..], profile);
    }
    for (number, value) in message.fields() {
        let Some(spec) = spec::spec(number) else {
            continue; // `Message::set` lets in only known fields.
        };
        let hex = spec.content == Content::Binary && profile.hex_binary();
        let wire_len = if hex { value.len() * 2 } else { value.len() };
        match spec.length {
            Length::Fixed(_) => {}
            Length::LlVar(_) => out.extend_from_slice(format!("{wire_len:02}").as_bytes()),
            Length::LllVar(_) => out.extend_from_slice(format!("{wire_len:03}").as_bytes()),
        }
        if hex {
            push_hex(&mut out, value);
        } else {
            out.extend_from_slice(value);
        }
    }
    out
}

/// A cursor over the bytes being decoded; builds errors with the partial
/// message read so far.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
    message: Option<Message>,
}

impl<'a> Reader<'a> {
    fn fail(&self, part: Part, offset: usize, problem: Problem) -> DecodeError {
        DecodeError {
            part,
            offset,
            problem,
            partial: self.message.clone().map(Box::new),
        }
    }

    fn take(&mut self, part: Part, count: usize) -> Result<&'a [u8], DecodeError> {
        let available = self.bytes.len() - self.offset;
        if count > available {
            let needed = count - available;
            return Err(self.fail(part, self.offset, Problem::Truncated { needed }));
        }
        let taken = &self.bytes[self.offset..self.offset + count];
        self.offset += count;
        Ok(taken)
    }

    fn bitmap(&mut self, part: Part, profile: Profile) -> Result<[u8; 8], DecodeError> {
        let start = self.offset;
        if profile.hex_binary() {
            let text = self.take(part, 16)?;
            let bytes = parse_hex(text).ok_or_else(|| self.fail(part, start, Problem::NotHex))?;
            let mut bitmap = [0u8; 8];
            bitmap.copy_from_slice(&bytes);
            Ok(bitmap)
        } else {
            let mut bitmap = [0u8; 8];
            bitmap.copy_from_slice(self.take(part, 8)?);
            Ok(bitmap)
        }
    }

    fn length_prefix(&mut self, part: Part, digits: usize) -> Result<usize, DecodeError> {
        let start = self.offset;
        let prefix = self.take(part, digits)?;
        if !prefix.iter().all(u8::is_ascii_digit) {
            return Err(self.fail(part, start, Problem::BadLengthPrefix));
        }
        Ok(prefix
            .iter()
            .fold(0usize, |sum, digit| sum * 10 + usize::from(digit - b'0')))
    }

    fn field(&mut self, spec: &FieldSpec, profile: Profile) -> Result<Vec<u8>, DecodeError> {
        let part = Part::Field(spec.number);
        let start = self.offset;
        let hex = spec.content == Content::Binary && profile.hex_binary();
        let unit = if hex { 2 } else { 1 };
        let wire_len = match spec.length {
            Length::Fixed(length) => length * unit,
            Length::LlVar(_) | Length::LllVar(_) => {
                let length = self.length_prefix(part, spec.length.prefix_digits())?;
                let max = spec.length.max() * unit;
                if length > max {
                    return Err(self.fail(part, start, Problem::TooLong { length, max }));
                }
                length
            }
        };
        let content_start = self.offset;
        let raw = self.take(part, wire_len)?;
        let value = if hex {
            parse_hex(raw).ok_or_else(|| self.fail(part, content_start, Problem::NotHex))?
        } else {
            raw.to_vec()
        };
        check_content(spec, &value).map_err(|problem| self.fail(part, content_start, problem))?;
        Ok(value)
    }
}

fn bit_is_set(bitmap: &[u8; 16], number: u8) -> bool {
    let index = usize::from(number - 1);
    bitmap[index / 8] & (0x80 >> (index % 8)) != 0
}

/// Decodes one message (without framing). Never panics; an error names the
/// part and byte offset that failed.
pub fn decode(bytes: &[u8], profile: Profile) -> Result<Message, DecodeError> {
    let mut reader = Reader {
        bytes,
        offset: 0,
        message: None,
    };
    let mti_bytes = reader.take(Part::Mti, 4)?;
    let mti = Mti::from_bytes(mti_bytes).map_err(|_| {
        let index = mti_bytes.iter().position(|b| !b.is_ascii_digit());
        reader.fail(
            Part::Mti,
            0,
            Problem::InvalidCharacter {
                index: index.unwrap_or(0),
            },
        )
    })?;
    reader.message = Some(Message::new(mti));
    let mut bitmap = [0u8; 16];
    bitmap[..8].copy_from_slice(&reader.bitmap(Part::PrimaryBitmap, profile)?);
    if bit_is_set(&bitmap, 1) {
        bitmap[8..].copy_from_slice(&reader.bitmap(Part::SecondaryBitmap, profile)?);
    }
    for number in 2..=128u8 {
        if !bit_is_set(&bitmap, number) {
            continue;
        }
        let Some(spec) = spec::spec(number) else {
            let offset = reader.offset;
            return Err(reader.fail(Part::Field(number), offset, Problem::UnknownField));
        };
        let value = reader.field(spec, profile)?;
        if let Some(message) = reader.message.as_mut() {
            message.insert_checked(number, value);
        }
    }
    if reader.offset != bytes.len() {
        let count = bytes.len() - reader.offset;
        let offset = reader.offset;
        return Err(reader.fail(Part::Trailing, offset, Problem::TrailingBytes { count }));
    }
    Ok(reader.message.unwrap_or_else(|| Message::new(mti)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorization() -> Message {
        let mut message = Message::new(Mti::parse("0100").unwrap());
        message.set_text(2, "4242424242424242").unwrap();
        message.set_text(3, "000000").unwrap();
        message.set_text(4, "000000001000").unwrap();
        message.set_text(11, "000001").unwrap();
        message.set(52, vec![1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        message
    }

    #[test]
    fn encodes_the_default_layout() {
        let bytes = encode(&authorization(), Profile::Default);
        let mut expected = b"0100".to_vec();
        // Bits 2, 3, 4, 11, 52.
        expected.extend_from_slice(&[0x70, 0x20, 0, 0, 0, 0, 0x10, 0]);
        expected.extend_from_slice(b"164242424242424242000000000000001000000001");
        expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(bytes, expected);
        assert_eq!(decode(&bytes, Profile::Default).unwrap(), authorization());
    }

    #[test]
    fn encodes_the_ascii_layout() {
        let bytes = encode(&authorization(), Profile::DefaultAscii);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            text,
            "01007020000000001000164242424242424242000000000000001000000001\
             0102030405060708"
        );
        assert_eq!(
            decode(&bytes, Profile::DefaultAscii).unwrap(),
            authorization()
        );
    }

    #[test]
    fn errors_name_field_and_offset() {
        let mut bytes = encode(&authorization(), Profile::Default);
        bytes[12] = b'9'; // PAN length 96 > 19
        let error = decode(&bytes, Profile::Default).unwrap_err();
        assert_eq!(error.part, Part::Field(2));
        assert_eq!(error.offset, 12);
        assert_eq!(
            error.to_string(),
            "field 2 at byte 12: length 96 exceeds maximum 19"
        );
        let bytes = encode(&authorization(), Profile::Default);
        let error = decode(&bytes[..bytes.len() - 3], Profile::Default).unwrap_err();
        assert_eq!(error.part, Part::Field(52));
        assert_eq!(error.problem, Problem::Truncated { needed: 3 });
        let partial = error.partial.unwrap();
        assert_eq!(partial.text(11), Some("000001"));
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            decode(&long, Profile::Default).unwrap_err().problem,
            Problem::TrailingBytes { count: 1 }
        );
    }

    #[test]
    fn secondary_bitmap_and_unknown_fields() {
        let mut message = authorization();
        message.set_text(70, "001").unwrap();
        let bytes = encode(&message, Profile::Default);
        assert_eq!(bytes[4] & 0x80, 0x80);
        assert_eq!(decode(&bytes, Profile::Default).unwrap(), message);
        // Field 5 is not in the table.
        let mut unknown = b"0100".to_vec();
        unknown.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 0]);
        let error = decode(&unknown, Profile::Default).unwrap_err();
        assert_eq!((error.part, error.offset), (Part::Field(5), 12));
    }
}
