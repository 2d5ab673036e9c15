//! ISO 8583:1987 codec for Portcullis. Pure: no I/O, no clock, no
//! randomness.
//!
//! - [`spec`]: the field table (the data elements of the authorization
//!   path, in pyiso8583's `default` layout).
//! - [`message`]: [`Message`] and [`Mti`]; values are checked against the
//!   table when set, so a `Message` always encodes.
//! - [`codec`]: [`encode`] and [`decode`] under a [`Profile`] (`default`:
//!   binary bitmaps; `default_ascii`: hex bitmaps). Decoding never panics; a
//!   [`DecodeError`] names the part (MTI, bitmap, field number) and the byte
//!   offset.
//! - [`framing`]: the length prefix of a stream ([`Framing`]: 2-byte
//!   big-endian or 4 ASCII digits) as pure functions.
//! - [`mac`]: the AES-CMAC message MAC in DE 64 / DE 128.
//! - [`track2`]: the card number and expiry of DE 35.
//! - [`fields`]: names of the data elements, and the processing and
//!   response codes the gateway uses.
//!
//! Invariant: no error message or `Debug` output contains field content
//! (a message may carry a card number, track 2 or a PIN block).

pub mod codec;
pub mod error;
pub mod fields;
pub mod framing;
pub mod mac;
pub mod message;
pub mod spec;
pub mod track2;

pub use codec::{decode, encode, Profile};
pub use error::{DecodeError, FieldError, MtiError, Part, Problem};
pub use framing::{FrameError, Framing};
pub use mac::{MacError, MacKey};
pub use message::{Message, Mti};
pub use track2::{Track2, Track2Error};
