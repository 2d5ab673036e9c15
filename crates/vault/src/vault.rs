//! The vault: seals and opens card numbers, re-wraps them under a new KEK,
//! and computes card fingerprints, all with a keyring that can be swapped
//! while it is in use.

use crate::envelope::{self, SealedCard};
use crate::keyring::Keyring;
use crate::test_card_fingerprints::TestCardFingerprints;
use crate::VaultError;
use hmac::{Hmac, Mac};
use portcullis_domain::cards::CardNumber;
use sha2::Sha256;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

/// Bytes of the HMAC-SHA256 output kept in a fingerprint (128 bits).
const FINGERPRINT_BYTES: usize = 16;
/// Length of a fingerprint: its 16 bytes as lowercase hex.
pub const FINGERPRINT_HEX_DIGITS: usize = 2 * FINGERPRINT_BYTES;

/// Seals, opens and fingerprints card numbers with the keyring it holds.
/// Shared between threads (`&self` everywhere); the keyring sits behind a
/// `RwLock` so [`Vault::replace_keyring`] can swap it while calls are in
/// flight. Each call takes the keyring as it stands when the call starts
/// and uses that one throughout.
pub struct Vault {
    // An `Arc` inside, so a call holds the read lock only long enough to
    // take a reference, never across the cryptography, and a replaced
    // keyring is wiped when the last call using it ends.
    keyring: RwLock<Arc<Keys>>,
}

/// A keyring and what was computed with it: replaced together, so nothing
/// computed with an old fingerprint key outlives it.
struct Keys {
    keyring: Keyring,
    test_card_fingerprints: TestCardFingerprints,
}

impl Keys {
    fn new(keyring: Keyring) -> Arc<Keys> {
        Arc::new(Keys {
            keyring,
            test_card_fingerprints: TestCardFingerprints::default(),
        })
    }
}

impl std::ops::Deref for Keys {
    type Target = Keyring;

    fn deref(&self) -> &Keyring {
        &self.keyring
    }
}

impl Vault {
    pub fn new(keyring: Keyring) -> Vault {
        Vault {
            keyring: RwLock::new(Keys::new(keyring)),
        }
    }

    /// The keyring as it stands now. The lock is only ever held to clone or
    /// swap an `Arc`, which cannot leave it half-written, so a poisoned lock
    /// still holds a whole keyring.
    fn keyring(&self) -> Arc<Keys> {
        Arc::clone(&self.keyring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Seals the number for the record `record_id` under a fresh DEK, which
    /// the active KEK wraps. The record id must be the one the result is
    /// stored under: `open` needs it. Fails only if the operating system's
    /// random number generator does.
    pub fn seal(&self, record_id: &str, number: &CardNumber) -> Result<SealedCard, VaultError> {
        let sealed = self.seal_secret(record_id, number.expose_digits().as_bytes())?;
        debug_assert_eq!(sealed.wrapped_dek.len(), envelope::WRAPPED_DEK_BYTES);
        Ok(sealed)
    }

    /// The number sealed in `sealed`, which must have been sealed for
    /// `record_id`. `UnknownKek` when the keyring lacks its KEK; `Tampered`
    /// when the KEK, the record id or any byte is wrong.
    pub fn open(&self, record_id: &str, sealed: &SealedCard) -> Result<CardNumber, VaultError> {
        let keyring = self.keyring();
        let aad = record_id.as_bytes();
        let dek = unwrap_dek(&keyring, aad, sealed)?;
        let digits = envelope::decrypt(&dek, &sealed.ciphertext, aad)?;
        // The tag verified, so these are digits we sealed; anything else
        // was written by something other than this vault.
        let digits = std::str::from_utf8(&digits).map_err(|_| VaultError::Tampered)?;
        CardNumber::parse(digits).map_err(|_| VaultError::Tampered)
    }

    /// Seals an arbitrary secret (a connector account's credentials) for
    /// the record `record_id`, exactly as a card is sealed: a fresh DEK,
    /// wrapped by the active KEK, the record id as associated data of both.
    /// The result re-wraps ([`Vault::rewrap`]) and retires like a card.
    pub fn seal_secret(&self, record_id: &str, secret: &[u8]) -> Result<SealedCard, VaultError> {
        let keyring = self.keyring();
        let kek = keyring.active_kek();
        let aad = record_id.as_bytes();
        let dek = envelope::random_dek()?;
        let ciphertext = envelope::encrypt(&dek, secret, aad)?;
        let wrapped_dek = envelope::encrypt(kek.key(), &dek[..], aad)?;
        Ok(SealedCard {
            kek_id: kek.id().to_owned(),
            wrapped_dek,
            ciphertext,
        })
    }

    /// The secret sealed by [`Vault::seal_secret`] for `record_id`, in
    /// memory wiped on drop. Errors as for `open`.
    pub fn open_secret(
        &self,
        record_id: &str,
        sealed: &SealedCard,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, VaultError> {
        let keyring = self.keyring();
        let aad = record_id.as_bytes();
        let dek = unwrap_dek(&keyring, aad, sealed)?;
        envelope::decrypt(&dek, &sealed.ciphertext, aad)
    }

    /// The record with its DEK re-wrapped under the active KEK; the card
    /// ciphertext is copied unchanged and the digits are never decrypted.
    /// `Ok(None)` when the record is already wrapped by the active KEK, so a
    /// background job can run over every record again and again. Errors as
    /// for `open`.
    pub fn rewrap(
        &self,
        record_id: &str,
        sealed: &SealedCard,
    ) -> Result<Option<SealedCard>, VaultError> {
        let keyring = self.keyring();
        let active = keyring.active_kek();
        if sealed.kek_id == active.id() {
            return Ok(None);
        }
        let aad = record_id.as_bytes();
        let dek = unwrap_dek(&keyring, aad, sealed)?;
        let wrapped_dek = envelope::encrypt(active.key(), &dek[..], aad)?;
        Ok(Some(SealedCard {
            kek_id: active.id().to_owned(),
            wrapped_dek,
            ciphertext: sealed.ciphertext.clone(),
        }))
    }

    /// The card's fingerprint for this merchant: HMAC-SHA256 keyed with the
    /// keyring's fingerprint key over `merchant_id ‖ 0x00 ‖ digits`, first
    /// 16 bytes, as 32 lowercase hex digits. The same card gives the same
    /// value for the same merchant, however it was typed, and across KEK
    /// rotations; another merchant gets an unrelated value. A published
    /// test card's is computed once per merchant and keyring, then
    /// remembered (`test_card_fingerprints`).
    pub fn fingerprint(&self, merchant_id: &str, number: &CardNumber) -> String {
        let keys = self.keyring();
        let digits = number.expose_digits();
        keys.test_card_fingerprints
            .get_or_compute(merchant_id, digits, || {
                card_fingerprint(&keys.keyring, merchant_id, digits)
            })
    }

    /// A wallet buyer's fingerprint for this merchant: as [`Self::fingerprint`],
    /// HMAC-SHA256 with the fingerprint key, over `merchant_id ‖ 0x00 ‖
    /// provider ‖ 0x00 ‖ buyer` (the provider's own id of its buyer). A
    /// provider name starts with a letter, a card's digits never do: no
    /// buyer shares a card's input. The same buyer gives the same value for
    /// the same merchant; another merchant gets an unrelated value.
    pub fn wallet_fingerprint(&self, merchant_id: &str, provider: &str, buyer: &str) -> String {
        let keyring = self.keyring();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(keyring.fingerprint_key())
            .expect("HMAC takes a key of any length");
        mac.update(merchant_id.as_bytes());
        mac.update(&[0]);
        mac.update(provider.as_bytes());
        mac.update(&[0]);
        mac.update(buyer.as_bytes());
        let tag = mac.finalize().into_bytes();
        hex::encode(&tag[..FINGERPRINT_BYTES])
    }

    /// Swaps in another keyring, for the calls that start from now on;
    /// calls already running finish with the old one. To keep every stored
    /// record readable, the new keyring should hold every KEK the stored
    /// records name, and the same fingerprint key (another one changes
    /// every fingerprint).
    pub fn replace_keyring(&self, keyring: Keyring) {
        let new = Keys::new(keyring);
        let old = {
            let mut current = self.keyring.write().unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *current, new)
        };
        // Dropped (and, if no call still holds it, wiped) outside the lock.
        drop(old);
    }

    /// Whether the current keyring holds this KEK: whether records that
    /// name it can be opened.
    pub fn knows_kek(&self, kek_id: &str) -> bool {
        self.keyring().knows_kek(kek_id)
    }

    /// The id of the KEK that wraps newly sealed records.
    pub fn active_kek_id(&self) -> String {
        self.keyring().active_kek_id().to_owned()
    }
}

/// Shows only KEK ids, through `Keyring`'s `Debug`.
impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("keyring", &self.keyring().keyring)
            .finish()
    }
}

/// HMAC-SHA256 of `merchant_id ‖ 0x00 ‖ digits` keyed with the keyring's
/// fingerprint key, its first 16 bytes as hex (see [`Vault::fingerprint`]).
fn card_fingerprint(keyring: &Keyring, merchant_id: &str, digits: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(keyring.fingerprint_key())
        .expect("HMAC takes a key of any length");
    // Digits never contain a zero byte, so the zero byte marks the end
    // of the merchant id whatever the id holds: the input is unambiguous.
    mac.update(merchant_id.as_bytes());
    mac.update(&[0]);
    mac.update(digits.as_bytes());
    let tag = mac.finalize().into_bytes();
    let fingerprint = hex::encode(&tag[..FINGERPRINT_BYTES]);
    debug_assert_eq!(fingerprint.len(), FINGERPRINT_HEX_DIGITS);
    fingerprint
}

/// The record's DEK, unwrapped by the KEK it names.
fn unwrap_dek(
    keyring: &Keyring,
    aad: &[u8],
    sealed: &SealedCard,
) -> Result<envelope::Dek, VaultError> {
    let kek = keyring
        .kek(&sealed.kek_id)
        .ok_or_else(|| VaultError::UnknownKek(sealed.kek_id.clone()))?;
    envelope::unwrap_dek(kek.key(), &sealed.wrapped_dek, aad)
}
