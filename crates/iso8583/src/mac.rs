//! Message authentication: the first 8 bytes of AES-CMAC (RFC 4493) under a
//! 128-bit key, over every byte of the encoded message from the MTI up to,
//! not including, the MAC field. The MAC is the last field: DE 64, or DE 128
//! when the secondary bitmap is present (its bit is set in the bitmap the MAC
//! covers).

use crate::codec::{encode, Profile};
use crate::message::Message;
use crate::spec::{MAC_PRIMARY, MAC_SECONDARY};
use aes::Aes128;
use cmac::{Cmac, Mac};
use std::fmt;

/// Bytes of MAC carried in the message.
pub const MAC_LEN: usize = 8;

/// A 128-bit AES key for message MACs. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct MacKey([u8; 16]);

impl MacKey {
    pub fn new(bytes: [u8; 16]) -> MacKey {
        MacKey(bytes)
    }

    /// The key from 32 hex digits.
    pub fn from_hex(text: &str) -> Option<MacKey> {
        let bytes = text.as_bytes();
        if bytes.len() != 32 {
            return None;
        }
        let mut key = [0u8; 16];
        for (index, pair) in bytes.chunks(2).enumerate() {
            let pair = std::str::from_utf8(pair).ok()?;
            key[index] = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(MacKey(key))
    }

    pub fn expose(&self) -> &[u8; 16] {
        &self.0
    }

    fn cmac(&self, data: &[u8]) -> Cmac<Aes128> {
        // A 16-byte key is always a valid AES-128 key.
        let mut mac = <Cmac<Aes128> as Mac>::new(&self.0.into());
        mac.update(data);
        mac
    }

    /// The first 8 bytes of AES-CMAC over `data`.
    pub fn mac8(&self, data: &[u8]) -> [u8; MAC_LEN] {
        let full = self.cmac(data).finalize().into_bytes();
        let mut truncated = [0u8; MAC_LEN];
        truncated.copy_from_slice(&full[..MAC_LEN]);
        truncated
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

/// Why a message's MAC was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    #[error("the message carries no MAC in DE {field}")]
    Missing { field: u8 },
    #[error("the MAC in DE {field} does not match")]
    Mismatch { field: u8 },
}

/// The field that carries the MAC of `message`: 128 when the secondary
/// bitmap is present, else 64.
pub fn mac_field(message: &Message) -> u8 {
    if message.has_secondary_bitmap() {
        MAC_SECONDARY
    } else {
        MAC_PRIMARY
    }
}

/// Sets the MAC of `message` under `key` and returns its encoding.
pub fn sign(message: &mut Message, profile: Profile, key: &MacKey) -> Vec<u8> {
    message.remove(MAC_PRIMARY);
    message.remove(MAC_SECONDARY);
    let field = if message.has_secondary_bitmap() {
        MAC_SECONDARY
    } else {
        MAC_PRIMARY
    };
    // A placeholder of the right length: the bitmap must have the MAC bit.
    let _ = message.set(field, vec![0u8; MAC_LEN]);
    let placeholder = encode(message, profile);
    let covered = placeholder.len() - MAC_LEN * profile.binary_unit();
    let mac = key.mac8(&placeholder[..covered]);
    let _ = message.set(field, mac.to_vec());
    encode(message, profile)
}

/// Checks the MAC of a received message: `raw` is exactly the bytes it was
/// decoded from (without framing), `message` the decoded message.
pub fn verify(
    raw: &[u8],
    message: &Message,
    profile: Profile,
    key: &MacKey,
) -> Result<(), MacError> {
    let field = mac_field(message);
    let carried = message.get(field).ok_or(MacError::Missing { field })?;
    let wire = MAC_LEN * profile.binary_unit();
    let covered = raw
        .len()
        .checked_sub(wire)
        .ok_or(MacError::Missing { field })?;
    key.cmac(&raw[..covered])
        .verify_truncated_left(carried)
        .map_err(|_| MacError::Mismatch { field })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode;
    use crate::message::Mti;

    /// RFC 4493, section 4, example 2 (16-byte message), truncated to 8.
    #[test]
    fn matches_rfc_4493() {
        let key = MacKey::from_hex("2b7e151628aed2a6abf7158809cf4f3c").unwrap();
        let data = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        assert_eq!(hex::encode(key.mac8(&data)), "070a16b46b4d4144");
        assert_eq!(hex::encode(key.mac8(b"")), "bb1d6929e9593728");
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let key = MacKey::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
        for (profile, with_secondary) in [
            (Profile::Default, false),
            (Profile::Default, true),
            (Profile::DefaultAscii, false),
            (Profile::DefaultAscii, true),
        ] {
            let mut message = Message::new(Mti::parse("0200").unwrap());
            message.set_text(11, "000042").unwrap();
            if with_secondary {
                message.set_text(90, &"0".repeat(42)).unwrap();
            }
            let bytes = sign(&mut message, profile, &key);
            let decoded = decode(&bytes, profile).unwrap();
            let field = if with_secondary { 128 } else { 64 };
            assert!(decoded.has(field));
            assert_eq!(verify(&bytes, &decoded, profile, &key), Ok(()));
            let mut tampered = bytes.clone();
            tampered[bytes.len() - 20] ^= 1;
            let other = MacKey::from_hex("ffffffffffffffffffffffffffffffff").unwrap();
            assert_eq!(
                verify(&bytes, &decoded, profile, &other),
                Err(MacError::Mismatch { field })
            );
            if let Ok(decoded) = decode(&tampered, profile) {
                assert!(verify(&tampered, &decoded, profile, &key).is_err());
            }
        }
        let unsigned = Message::new(Mti::parse("0800").unwrap());
        assert_eq!(
            verify(b"0800", &unsigned, Profile::Default, &MacKey::new([0; 16])),
            Err(MacError::Missing { field: 64 })
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let key = MacKey::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
        assert_eq!(format!("{key:?}"), "MacKey(<redacted>)");
    }
}
