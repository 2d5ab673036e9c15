//! The sealed record and the one AEAD construction both of its layers use:
//! AES-256-GCM with a random 96-bit nonce in front of the ciphertext and the
//! 128-bit tag behind it.

use crate::keyring::KEY_BYTES;
use crate::VaultError;
use aes_gcm::aead::{self, AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Key};
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

/// Bytes of the random nonce stored in front of each ciphertext (96 bits).
pub(crate) const NONCE_BYTES: usize = 12;
/// Bytes of the GCM tag stored at the end of each ciphertext (128 bits).
pub(crate) const TAG_BYTES: usize = 16;
/// Length of a wrapped DEK: nonce, encrypted DEK, tag.
pub(crate) const WRAPPED_DEK_BYTES: usize = NONCE_BYTES + KEY_BYTES + TAG_BYTES;

/// A card number sealed by envelope encryption: a fresh random 256-bit data
/// key (DEK) encrypts the digits with AES-256-GCM, and the KEK named by
/// `kek_id` wraps the DEK with AES-256-GCM. The record id is the associated
/// data of both. Safe to store and to print: it holds no key and no digit in
/// the clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedCard {
    /// The id of the KEK that wraps the DEK, like `kek_1a2b3c4d5e6f7a8b`.
    pub kek_id: String,
    /// Nonce (12 bytes) ‖ the DEK encrypted under the KEK (32) ‖ tag (16).
    pub wrapped_dek: Vec<u8>,
    /// Nonce (12 bytes) ‖ the ASCII digits encrypted under the DEK (12–19)
    /// ‖ tag (16).
    pub ciphertext: Vec<u8>,
}

/// A 256-bit key in memory that is wiped on drop.
pub(crate) type Dek = Zeroizing<[u8; KEY_BYTES]>;

/// A fresh random DEK from the operating system.
pub(crate) fn random_dek() -> Result<Dek, VaultError> {
    let mut dek = Zeroizing::new([0u8; KEY_BYTES]);
    OsRng
        .try_fill_bytes(&mut dek[..])
        .map_err(|_| VaultError::Randomness)?;
    Ok(dek)
}

/// `nonce ‖ AES-256-GCM(key, nonce, aad, plaintext) ‖ tag`, with a fresh
/// random nonce.
pub(crate) fn encrypt(
    key: &[u8; KEY_BYTES],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let mut nonce = [0u8; NONCE_BYTES];
    OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|_| VaultError::Randomness)?;
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    // One buffer, sized up front so it never grows: the plaintext copied
    // into it is overwritten by the ciphertext in place, and no stale copy
    // is left behind by a reallocation.
    let capacity = NONCE_BYTES + plaintext.len() + TAG_BYTES;
    let mut sealed = Vec::with_capacity(capacity);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(plaintext);
    let encrypted = cipher.encrypt_in_place_detached(
        aead::Nonce::<Aes256Gcm>::from_slice(&nonce),
        aad,
        &mut sealed[NONCE_BYTES..],
    );
    match encrypted {
        Ok(tag) => sealed.extend_from_slice(&tag),
        Err(_) => {
            sealed.zeroize();
            // AES-GCM refuses only messages of 64 GiB and more.
            panic!("AES-256-GCM refused to encrypt a short message");
        }
    }
    assert_eq!(sealed.len(), capacity);
    assert_eq!(sealed.capacity(), capacity, "the buffer never grew");
    Ok(sealed)
}

/// The plaintext of `nonce ‖ ciphertext ‖ tag`, in memory wiped on drop.
/// `Tampered` when it is too short to hold a nonce and a tag, or when the tag
/// does not verify (wrong key, wrong associated data, changed bytes).
pub(crate) fn decrypt(
    key: &[u8; KEY_BYTES],
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if sealed.len() < NONCE_BYTES + TAG_BYTES {
        return Err(VaultError::Tampered);
    }
    let (nonce, rest) = sealed.split_at(NONCE_BYTES);
    let (body, tag) = rest.split_at(rest.len() - TAG_BYTES);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let mut plaintext = Zeroizing::new(body.to_vec());
    cipher
        .decrypt_in_place_detached(
            aead::Nonce::<Aes256Gcm>::from_slice(nonce),
            aad,
            &mut plaintext,
            aead::Tag::<Aes256Gcm>::from_slice(tag),
        )
        .map_err(|_| VaultError::Tampered)?;
    Ok(plaintext)
}

/// The DEK inside a wrapped DEK.
pub(crate) fn unwrap_dek(
    kek: &[u8; KEY_BYTES],
    wrapped_dek: &[u8],
    aad: &[u8],
) -> Result<Dek, VaultError> {
    let plaintext = decrypt(kek, wrapped_dek, aad)?;
    // The tag verified, so only a DEK we wrapped can be here; another
    // length would mean a record written by something else.
    if plaintext.len() != KEY_BYTES {
        return Err(VaultError::Tampered);
    }
    let mut dek = Zeroizing::new([0u8; KEY_BYTES]);
    dek.copy_from_slice(&plaintext);
    Ok(dek)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_message_is_nonce_ciphertext_and_tag_and_opens() {
        let key = [7u8; KEY_BYTES];
        let sealed = encrypt(&key, b"hello", b"aad").unwrap();
        assert_eq!(sealed.len(), NONCE_BYTES + 5 + TAG_BYTES);
        assert_eq!(&decrypt(&key, &sealed, b"aad").unwrap()[..], b"hello");
        assert_eq!(decrypt(&key, &sealed, b"other"), Err(VaultError::Tampered));
        assert_eq!(
            decrypt(&[8u8; KEY_BYTES], &sealed, b"aad"),
            Err(VaultError::Tampered)
        );
    }

    #[test]
    fn the_sealed_message_is_what_aes_gcm_itself_opens() {
        // Framing check against the library's own one-shot API.
        use aes_gcm::aead::{Aead, Payload};
        let key = [9u8; KEY_BYTES];
        let sealed = encrypt(&key, b"4242424242424242", b"card_1").unwrap();
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key));
        let opened = cipher
            .decrypt(
                aead::Nonce::<Aes256Gcm>::from_slice(&sealed[..NONCE_BYTES]),
                Payload {
                    msg: &sealed[NONCE_BYTES..],
                    aad: b"card_1",
                },
            )
            .unwrap();
        assert_eq!(opened, b"4242424242424242");
    }

    #[test]
    fn too_short_to_hold_a_nonce_and_a_tag_is_tampered() {
        let key = [7u8; KEY_BYTES];
        for length in [0, 1, NONCE_BYTES, NONCE_BYTES + TAG_BYTES - 1] {
            assert_eq!(
                decrypt(&key, &vec![0; length], b""),
                Err(VaultError::Tampered)
            );
        }
    }

    #[test]
    fn a_wrapped_dek_has_a_fixed_length_and_unwraps() {
        let kek = [1u8; KEY_BYTES];
        let dek = random_dek().unwrap();
        let wrapped = encrypt(&kek, &dek[..], b"card_1").unwrap();
        assert_eq!(wrapped.len(), WRAPPED_DEK_BYTES);
        assert_eq!(*unwrap_dek(&kek, &wrapped, b"card_1").unwrap(), *dek);
        // Something other than a DEK, even properly sealed, is refused.
        let not_a_dek = encrypt(&kek, b"short", b"card_1").unwrap();
        assert_eq!(
            unwrap_dek(&kek, &not_a_dek, b"card_1").map(|_| ()),
            Err(VaultError::Tampered)
        );
    }
}
