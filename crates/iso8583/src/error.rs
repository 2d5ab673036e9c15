//! Errors. Every decode error names the part of the message (the MTI, a
//! bitmap or a field number) and the byte offset where it went wrong. No
//! error ever carries field content, so a card number cannot leak through
//! one.

use crate::message::Message;
use std::fmt;

/// Which part of a message an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Mti,
    PrimaryBitmap,
    SecondaryBitmap,
    Field(u8),
    /// Bytes after the last field the bitmap announces.
    Trailing,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Mti => f.write_str("MTI"),
            Part::PrimaryBitmap => f.write_str("primary bitmap"),
            Part::SecondaryBitmap => f.write_str("secondary bitmap"),
            Part::Field(number) => write!(f, "field {number}"),
            Part::Trailing => f.write_str("end of message"),
        }
    }
}

/// What is wrong with a part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The message ends `needed` bytes too early.
    Truncated { needed: usize },
    /// The length prefix is not all ASCII digits.
    BadLengthPrefix,
    /// The content is longer than the field allows (in content units).
    TooLong { length: usize, max: usize },
    /// A fixed field's content has the wrong length.
    WrongLength { length: usize, expected: usize },
    /// A character the field's content type does not allow.
    InvalidCharacter { index: usize },
    /// Hex-encoded binary content (the `default_ascii` profile) that is not hex.
    NotHex,
    /// The bitmap announces a field this codec has no specification for.
    UnknownField,
    /// Bytes left over after the last field.
    TrailingBytes { count: usize },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Truncated { needed } => write!(f, "message ends {needed} byte(s) early"),
            Problem::BadLengthPrefix => f.write_str("length prefix is not ASCII digits"),
            Problem::TooLong { length, max } => write!(f, "length {length} exceeds maximum {max}"),
            Problem::WrongLength { length, expected } => {
                write!(f, "length {length}, expected exactly {expected}")
            }
            Problem::InvalidCharacter { index } => {
                write!(f, "character {index} is not allowed in this field")
            }
            Problem::NotHex => f.write_str("content is not hexadecimal"),
            Problem::UnknownField => f.write_str("field is not supported"),
            Problem::TrailingBytes { count } => write!(f, "{count} unexpected trailing byte(s)"),
        }
    }
}

/// A message that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{part} at byte {offset}: {problem}")]
pub struct DecodeError {
    pub part: Part,
    /// Offset into the decoded bytes (after framing) where `part` starts or
    /// where the problem was found.
    pub offset: usize,
    pub problem: Problem,
    /// What was readable before the error (the MTI and the fields before
    /// `part`), so a server can still answer a format error echoing the
    /// STAN. `None` when not even the MTI was readable.
    pub partial: Option<Box<Message>>,
}

/// A field value refused when set on a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {problem}")]
pub struct FieldError {
    pub field: u8,
    pub problem: Problem,
}

/// An MTI that is not four ASCII digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an MTI is four ASCII digits")]
pub struct MtiError;
