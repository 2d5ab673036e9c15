//! Framing on a stream: every message is preceded by its length, as a
//! 2-byte big-endian number (the default) or as 4 ASCII digits. Pure
//! functions over byte slices; the caller does the I/O.

/// How a message's length precedes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// A 2-byte big-endian length (`binary2`).
    #[default]
    Binary2,
    /// Four ASCII digits (`ascii4`).
    Ascii4,
}

/// A frame that cannot be written or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("message of {length} bytes exceeds the frame limit of {max}")]
    TooLong { length: usize, max: usize },
    #[error("frame length prefix is not four ASCII digits")]
    BadPrefix,
    #[error("empty frame")]
    Empty,
}

impl Framing {
    /// `binary2` or `ascii4`.
    pub fn parse(name: &str) -> Option<Framing> {
        match name {
            "binary2" => Some(Framing::Binary2),
            "ascii4" => Some(Framing::Ascii4),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Framing::Binary2 => "binary2",
            Framing::Ascii4 => "ascii4",
        }
    }

    pub fn header_len(self) -> usize {
        match self {
            Framing::Binary2 => 2,
            Framing::Ascii4 => 4,
        }
    }

    /// The longest message the prefix can announce.
    pub fn max_len(self) -> usize {
        match self {
            Framing::Binary2 => usize::from(u16::MAX),
            Framing::Ascii4 => 9999,
        }
    }

    /// The length prefix for a message of `length` bytes.
    pub fn header(self, length: usize) -> Result<Vec<u8>, FrameError> {
        if length > self.max_len() {
            return Err(FrameError::TooLong {
                length,
                max: self.max_len(),
            });
        }
        Ok(match self {
            Framing::Binary2 => (length as u16).to_be_bytes().to_vec(),
            Framing::Ascii4 => format!("{length:04}").into_bytes(),
        })
    }

    /// The message preceded by its length prefix.
    pub fn frame(self, message: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut framed = self.header(message.len())?;
        framed.extend_from_slice(message);
        Ok(framed)
    }

    /// The length a complete header announces.
    pub fn parse_header(self, header: &[u8]) -> Result<usize, FrameError> {
        match (self, header) {
            (Framing::Binary2, [high, low]) => Ok(usize::from(u16::from_be_bytes([*high, *low]))),
            (Framing::Ascii4, digits @ [_, _, _, _]) if digits.iter().all(u8::is_ascii_digit) => {
                Ok(digits
                    .iter()
                    .fold(0usize, |sum, digit| sum * 10 + usize::from(digit - b'0')))
            }
            _ => Err(FrameError::BadPrefix),
        }
    }

    /// The first complete message in `buffer` and the bytes it takes with
    /// its prefix, `Ok(None)` when more bytes are needed. A length above
    /// `max_len` (the caller's bound) or of zero is an error: the stream
    /// cannot be trusted after it.
    pub fn split(
        self,
        buffer: &[u8],
        max_len: usize,
    ) -> Result<Option<(&[u8], usize)>, FrameError> {
        let header_len = self.header_len();
        if buffer.len() < header_len {
            return Ok(None);
        }
        let length = self.parse_header(&buffer[..header_len])?;
        if length == 0 {
            return Err(FrameError::Empty);
        }
        if length > max_len {
            return Err(FrameError::TooLong {
                length,
                max: max_len,
            });
        }
        let end = header_len + length;
        if buffer.len() < end {
            return Ok(None);
        }
        Ok(Some((&buffer[header_len..end], end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_splits_both_ways() {
        for framing in [Framing::Binary2, Framing::Ascii4] {
            let mut stream = framing.frame(b"0800abc").unwrap();
            stream.extend_from_slice(&framing.frame(b"0810").unwrap());
            let (first, used) = framing.split(&stream, 100).unwrap().unwrap();
            assert_eq!(first, b"0800abc");
            let (second, rest) = framing.split(&stream[used..], 100).unwrap().unwrap();
            assert_eq!(second, b"0810");
            assert_eq!(used + rest, stream.len());
            assert_eq!(framing.split(&stream[..used - 1], 100).unwrap(), None);
            assert!(framing.split(&stream, 3).is_err());
        }
        assert_eq!(Framing::Binary2.header(7).unwrap(), vec![0, 7]);
        assert_eq!(Framing::Ascii4.header(7).unwrap(), b"0007".to_vec());
        assert_eq!(
            Framing::Ascii4.split(b"00x1abc", 9),
            Err(FrameError::BadPrefix)
        );
        assert!(Framing::Ascii4.header(10_000).is_err());
    }
}
