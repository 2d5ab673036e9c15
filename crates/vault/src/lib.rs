//! The card vault: card numbers sealed by envelope encryption, and keyed
//! card fingerprints (PCI DSS 3.5.1, 3.5.1.1, 3.6, 3.7).
//!
//! Pure cryptography: no file or network I/O, no clock. The keyring comes in
//! as text and goes out as text; where it is kept (apart from the database,
//! never committed — PCI DSS 8.6.2) is the caller's business.
//!
//! # The scheme
//!
//! Each sealed record ([`SealedCard`]) is three values, stored together:
//!
//! ```text
//! ciphertext  = nonce₁ ‖ AES-256-GCM(key = DEK, nonce₁, aad = record id, plaintext = digits)
//! wrapped_dek = nonce₂ ‖ AES-256-GCM(key = KEK, nonce₂, aad = record id, plaintext = DEK)
//! kek_id      = the id of that KEK, in the clear
//! ```
//!
//! * The **DEK** (data-encrypting key) is 32 fresh random bytes per record,
//!   drawn from the operating system; it exists in the clear only in
//!   zeroized memory for the length of one call.
//! * The **KEK** (key-encrypting key) is 32 random bytes named by an id like
//!   `kek_1a2b3c4d5e6f7a8b`. The [`Keyring`] holds every KEK still needed
//!   and says which one is active: new records are wrapped by the active KEK.
//! * Both nonces are 96 random bits, stored in front of their ciphertext;
//!   each GCM tag (128 bits) sits at the end.
//! * The **record id** is the associated data of both encryptions, so a
//!   ciphertext or a wrapped DEK copied onto another record does not open.
//!   Any changed byte, a wrong KEK or a wrong record id is
//!   [`VaultError::Tampered`]; a `kek_id` the keyring does not hold is
//!   [`VaultError::UnknownKek`].
//!
//! # Fingerprints
//!
//! [`Vault::fingerprint`] is HMAC-SHA256 keyed with the keyring's
//! fingerprint key over `merchant_id ‖ 0x00 ‖ digits`, cut to its first 16
//! bytes and written as 32 lowercase hex digits. The same card gives the same
//! value for one merchant and an unrelated value for another, and without the
//! key the value cannot be tested against guessed card numbers. (Card digits
//! never contain a zero byte, so the input is unambiguous.) Rotating KEKs
//! does not change fingerprints: the fingerprint key is kept by every
//! rotation.
//!
//! # Rotating keys without downtime
//!
//! A [`Vault`] keeps its keyring behind a lock and swaps it with
//! [`Vault::replace_keyring`] while calls are in flight: each call works on
//! the keyring it found when it started.
//!
//! 1. **Add** a KEK: [`Keyring::with_new_kek`] and hand the new keyring to
//!    every running instance. Each can now open records under the new KEK
//!    but still seals under the old one. (With a single instance, steps 1
//!    and 2 are one: [`Keyring::rotated`].)
//! 2. **Activate** it: [`Keyring::activate`], hand it out again. New records
//!    are wrapped by the new KEK; old ones still open under the old KEK.
//! 3. **Re-wrap** old records in the background: [`Vault::rewrap`] unwraps
//!    the DEK with the old KEK and wraps it with the active one. The card
//!    ciphertext is not touched and the digits are never decrypted, so only
//!    `kek_id` and `wrapped_dek` change. It answers `None` for records
//!    already under the active KEK, so the job can be run again safely.
//! 4. **Retire** the old KEK once no stored record names it:
//!    [`Keyring::retire`], hand the keyring out. A record that still names it
//!    would now fail with `UnknownKek`, which is why the store must count
//!    records by `kek_id` first.
//!
//! # Invariants
//!
//! * No error message, `Debug` output or panic contains card digits or key
//!   bytes. [`Kek`], [`Keyring`] and [`Vault`] print only KEK ids.
//! * Keys, DEKs and decrypted plaintext live in zeroized memory
//!   ([`secrecy::SecretBox`], [`zeroize::Zeroizing`]); the AES key schedules
//!   are wiped on drop too (the `aes` crate's `zeroize` feature).
//! * No cryptographic primitive is written here: AES-256-GCM is `aes-gcm`'s
//!   `Aes256Gcm`, HMAC is `hmac`'s `Hmac<Sha256>`, randomness is the
//!   operating system's (`rand::rngs::OsRng`).

mod envelope;
mod keyring;
mod test_card_fingerprints;
mod vault;

pub mod backup;
pub mod jwe;
pub use envelope::SealedCard;
pub use keyring::{Kek, Keyring, KEK_ID_PREFIX, KEY_BYTES};
pub use vault::{Vault, FINGERPRINT_HEX_DIGITS};

/// Why the vault refused. No variant carries card digits or key bytes: the
/// only text inside is KEK ids and fixed messages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The record names a KEK the keyring does not hold (never known, or
    /// retired).
    #[error("unknown key-encrypting key {0}")]
    UnknownKek(String),
    /// Decryption failed: the wrong key, the wrong record id, or changed or
    /// truncated bytes.
    #[error("the sealed card does not open: wrong key, wrong record id or changed bytes")]
    Tampered,
    /// A line of the keyring text is malformed. `line` counts from 1.
    #[error("invalid keyring, line {line}: {message}")]
    InvalidKeyring { line: usize, message: String },
    /// The keyring text as a whole lacks an item (the fingerprint key, any
    /// KEK, or the `active` line).
    #[error("incomplete keyring: {0}")]
    IncompleteKeyring(&'static str),
    /// The active KEK cannot be retired: new records are wrapped by it.
    #[error("{0} is the active key-encrypting key and cannot be retired")]
    ActiveKek(String),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Randomness,
}
