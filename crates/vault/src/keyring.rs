//! Keys: the key-encrypting keys (KEKs) and the fingerprint key, and the
//! keyring text format they are kept in.
//!
//! ```text
//! # comments and blank lines are allowed
//! fingerprint_key <64 hex>
//! kek <kek_id> <64 hex>
//! kek <kek_id> <64 hex>
//! active <kek_id>
//! ```
//!
//! A keyring holds exactly one fingerprint key, at least one KEK, no KEK id
//! twice, and an active id that names one of its KEKs: the only way to build
//! one is through constructors that keep that true.

use crate::VaultError;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox};
use std::fmt;
use zeroize::Zeroizing;

/// Bytes in every key: a KEK, a DEK, the fingerprint key (256 bits).
pub const KEY_BYTES: usize = 32;
/// Every KEK id is this prefix and 16 lowercase hex digits.
pub const KEK_ID_PREFIX: &str = "kek_";
const KEK_ID_RANDOM_BYTES: usize = 8;
const KEK_ID_LEN: usize = KEK_ID_PREFIX.len() + 2 * KEK_ID_RANDOM_BYTES;
const KEY_HEX_DIGITS: usize = 2 * KEY_BYTES;

const HEADER: &str = "# Portcullis vault keyring. Secret: keep it apart from the database and \
                      never commit it (PCI DSS 3.6, 8.6.2).\n";

/// 256 bits on the heap, wiped on drop, printed as `[REDACTED]`.
type SecretKey = SecretBox<[u8; KEY_BYTES]>;

fn random_key() -> SecretKey {
    let mut key = SecretKey::new(Box::new([0; KEY_BYTES]));
    OsRng.fill_bytes(key.expose_secret_mut());
    key
}

fn copy_key(key: &SecretKey) -> SecretKey {
    let mut copy = SecretKey::new(Box::new([0; KEY_BYTES]));
    copy.expose_secret_mut()
        .copy_from_slice(key.expose_secret());
    copy
}

/// 64 hex digits (either case) into a key; `None` for anything else. Never
/// says which character was wrong, so no part of a key reaches an error.
fn decode_key(hex_digits: &str) -> Option<SecretKey> {
    let mut key = SecretKey::new(Box::new([0; KEY_BYTES]));
    hex::decode_to_slice(hex_digits, &mut key.expose_secret_mut()[..]).ok()?;
    Some(key)
}

/// Appends the key as 64 lowercase hex digits, through a wiped buffer.
fn push_key_hex(text: &mut String, key: &SecretKey) {
    let mut digits = Zeroizing::new([0u8; KEY_HEX_DIGITS]);
    hex::encode_to_slice(key.expose_secret(), &mut digits[..])
        .expect("a 32-byte key fills exactly 64 hex digits");
    text.push_str(std::str::from_utf8(&digits[..]).expect("hex digits are ASCII"));
}

fn is_kek_id(text: &str) -> bool {
    text.len() == KEK_ID_LEN
        && text.starts_with(KEK_ID_PREFIX)
        && text[KEK_ID_PREFIX.len()..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One meaningful line of the keyring text.
enum Item<'a> {
    FingerprintKey(SecretKey),
    Kek(Kek),
    Active(&'a str),
}

/// What one line says, `None` for a comment or a blank line, or why it is
/// malformed. Looks at no other line: duplicates and missing items are the
/// caller's to find.
fn parse_line(line: &str) -> Result<Option<Item<'_>>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let kek_id = |id: &str| -> Result<(), String> {
        if is_kek_id(id) {
            Ok(())
        } else {
            Err(format!(
                "a KEK id is `{KEK_ID_PREFIX}` and 16 lowercase hex digits"
            ))
        }
    };
    let mut fields = line.split_ascii_whitespace();
    match [fields.next(), fields.next(), fields.next(), fields.next()] {
        [Some("fingerprint_key"), Some(hex_digits), None, None] => decode_key(hex_digits)
            .map(|key| Some(Item::FingerprintKey(key)))
            .ok_or_else(|| "the fingerprint key is not 64 hex digits".into()),
        [Some("fingerprint_key"), ..] => Err("expected `fingerprint_key <64 hex digits>`".into()),
        [Some("kek"), Some(id), Some(hex_digits), None] => {
            kek_id(id)?;
            let key = decode_key(hex_digits)
                .ok_or_else(|| format!("the key of {id} is not 64 hex digits"))?;
            Ok(Some(Item::Kek(Kek {
                id: id.to_owned(),
                key,
            })))
        }
        [Some("kek"), ..] => Err("expected `kek <kek id> <64 hex digits>`".into()),
        [Some("active"), Some(id), None, None] => {
            kek_id(id)?;
            Ok(Some(Item::Active(id)))
        }
        [Some("active"), ..] => Err("expected `active <kek id>`".into()),
        // The unknown word is not quoted: it may be a stray key.
        _ => {
            Err("expected `fingerprint_key`, `kek`, `active`, a `#` comment or a blank line".into())
        }
    }
}

/// A key-encrypting key: 32 random bytes and an id like
/// `kek_1a2b3c4d5e6f7a8b`. The bytes are wiped on drop; `Debug` shows only
/// the id.
pub struct Kek {
    id: String,
    key: SecretKey,
}

impl Kek {
    /// Fresh random bytes and a fresh random id, from the operating system.
    pub fn generate() -> Kek {
        let mut id_bytes = [0u8; KEK_ID_RANDOM_BYTES];
        OsRng.fill_bytes(&mut id_bytes);
        let id = format!("{KEK_ID_PREFIX}{}", hex::encode(id_bytes));
        debug_assert!(is_kek_id(&id));
        Kek {
            id,
            key: random_key(),
        }
    }

    /// `kek_` and 16 lowercase hex digits; safe to store and log.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn key(&self) -> &[u8; KEY_BYTES] {
        self.key.expose_secret()
    }
}

impl Clone for Kek {
    fn clone(&self) -> Kek {
        Kek {
            id: self.id.clone(),
            key: copy_key(&self.key),
        }
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Every KEK still needed (old ones stay so old records still open), which
/// one is active, and the fingerprint key. Every method that changes it
/// returns a new keyring and leaves `self` as it was.
pub struct Keyring {
    /// In the order they were added (and written).
    keks: Vec<Kek>,
    active_kek_id: String,
    fingerprint_key: SecretKey,
}

impl Keyring {
    /// One fresh active KEK and a fresh fingerprint key.
    pub fn generate() -> Keyring {
        let kek = Kek::generate();
        Keyring::new(vec![kek.clone()], kek.id, random_key())
    }

    /// Every constructor ends here, so the invariants are checked in one
    /// place; breaking them is a bug in this module, not bad input.
    fn new(keks: Vec<Kek>, active_kek_id: String, fingerprint_key: SecretKey) -> Keyring {
        assert!(
            keks.iter().any(|kek| kek.id == active_kek_id),
            "the active KEK is in the keyring"
        );
        for (index, kek) in keks.iter().enumerate() {
            assert!(is_kek_id(&kek.id), "KEK ids are well formed");
            assert!(
                keks[..index].iter().all(|earlier| earlier.id != kek.id),
                "KEK ids are unique"
            );
        }
        Keyring {
            keks,
            active_kek_id,
            fingerprint_key,
        }
    }

    /// Reads the keyring text format (see the module docs). Lines may come in
    /// any order; `#` comments and blank lines are skipped. A malformed line
    /// is [`VaultError::InvalidKeyring`] with its number; a missing item is
    /// [`VaultError::IncompleteKeyring`]. Messages never quote key digits.
    pub fn parse(text: &str) -> Result<Keyring, VaultError> {
        let mut fingerprint_key: Option<SecretKey> = None;
        let mut keks: Vec<Kek> = Vec::new();
        let mut active: Option<(usize, &str)> = None;
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let invalid = |message: String| VaultError::InvalidKeyring {
                line: line_number,
                message,
            };
            match parse_line(line).map_err(invalid)? {
                None => {}
                Some(Item::FingerprintKey(_)) if fingerprint_key.is_some() => {
                    return Err(invalid("a second `fingerprint_key`".into()))
                }
                Some(Item::FingerprintKey(key)) => fingerprint_key = Some(key),
                Some(Item::Kek(kek)) if keks.iter().any(|known| known.id == kek.id) => {
                    return Err(invalid(format!("a second `kek {}`", kek.id)))
                }
                Some(Item::Kek(kek)) => keks.push(kek),
                Some(Item::Active(_)) if active.is_some() => {
                    return Err(invalid("a second `active`".into()))
                }
                Some(Item::Active(kek_id)) => active = Some((line_number, kek_id)),
            }
        }
        let fingerprint_key =
            fingerprint_key.ok_or(VaultError::IncompleteKeyring("no `fingerprint_key` line"))?;
        if keks.is_empty() {
            return Err(VaultError::IncompleteKeyring("no `kek` line"));
        }
        let (active_line, active_kek_id) =
            active.ok_or(VaultError::IncompleteKeyring("no `active` line"))?;
        if !keks.iter().any(|kek| kek.id == active_kek_id) {
            return Err(VaultError::InvalidKeyring {
                line: active_line,
                message: format!("`active` names {active_kek_id}, which no `kek` line holds"),
            });
        }
        Ok(Keyring::new(
            keks,
            active_kek_id.to_owned(),
            fingerprint_key,
        ))
    }

    /// The keyring text format: a comment, the fingerprint key, the KEKs in
    /// the order they were added, the active id. `parse` reads it back.
    ///
    /// The text holds every key in the clear: wrap it in
    /// `zeroize::Zeroizing` and write it only to the key store.
    pub fn to_text(&self) -> String {
        let key_line_len = |prefix_len: usize| prefix_len + KEY_HEX_DIGITS + "\n".len();
        let capacity = HEADER.len()
            + key_line_len("fingerprint_key ".len())
            + self.keks.len() * key_line_len("kek ".len() + KEK_ID_LEN + " ".len())
            + "active ".len()
            + KEK_ID_LEN
            + "\n".len();
        // Sized up front so the buffer never grows and leaves an unwiped
        // copy of the keys behind.
        let mut text = Zeroizing::new(String::with_capacity(capacity));
        text.push_str(HEADER);
        text.push_str("fingerprint_key ");
        push_key_hex(&mut text, &self.fingerprint_key);
        text.push('\n');
        for kek in &self.keks {
            text.push_str("kek ");
            text.push_str(&kek.id);
            text.push(' ');
            push_key_hex(&mut text, &kek.key);
            text.push('\n');
        }
        text.push_str("active ");
        text.push_str(&self.active_kek_id);
        text.push('\n');
        assert_eq!(text.len(), capacity, "the keyring text was sized exactly");
        std::mem::take(&mut *text)
    }

    /// This keyring plus a fresh KEK, which becomes active. The old KEKs and
    /// the fingerprint key stay. Same as `with_new_kek` then `activate`.
    pub fn rotated(&self) -> Keyring {
        let with_new_kek = self.with_new_kek();
        let new_kek_id = with_new_kek
            .keks
            .last()
            .expect("a keyring has a KEK")
            .id
            .clone();
        with_new_kek
            .activate(&new_kek_id)
            .expect("the new KEK is in the keyring")
    }

    /// This keyring plus a fresh KEK that is not yet active: the first step
    /// of a rotation across many instances (see the crate docs).
    pub fn with_new_kek(&self) -> Keyring {
        let kek = Kek::generate();
        // Two equal 64-bit random ids mean the random number generator is
        // broken; better to stop than to go on making keys with it.
        assert!(
            !self.knows_kek(&kek.id),
            "a freshly generated KEK id is already in the keyring"
        );
        let mut keks = self.keks.clone();
        keks.push(kek);
        Keyring::new(
            keks,
            self.active_kek_id.clone(),
            copy_key(&self.fingerprint_key),
        )
    }

    /// This keyring with `kek_id` active. `UnknownKek` if it holds no such
    /// KEK.
    pub fn activate(&self, kek_id: &str) -> Result<Keyring, VaultError> {
        if !self.knows_kek(kek_id) {
            return Err(VaultError::UnknownKek(kek_id.to_owned()));
        }
        Ok(Keyring::new(
            self.keks.clone(),
            kek_id.to_owned(),
            copy_key(&self.fingerprint_key),
        ))
    }

    /// This keyring without the KEK `kek_id`. Records it wraps will no
    /// longer open, so re-wrap them first. `ActiveKek` for the active KEK,
    /// `UnknownKek` for one it does not hold.
    pub fn retire(&self, kek_id: &str) -> Result<Keyring, VaultError> {
        if kek_id == self.active_kek_id {
            return Err(VaultError::ActiveKek(kek_id.to_owned()));
        }
        if !self.knows_kek(kek_id) {
            return Err(VaultError::UnknownKek(kek_id.to_owned()));
        }
        let keks = self
            .keks
            .iter()
            .filter(|kek| kek.id != kek_id)
            .cloned()
            .collect();
        Ok(Keyring::new(
            keks,
            self.active_kek_id.clone(),
            copy_key(&self.fingerprint_key),
        ))
    }

    /// The id of the KEK that wraps new records.
    pub fn active_kek_id(&self) -> &str {
        &self.active_kek_id
    }

    /// Whether a KEK with this id is in the keyring.
    pub fn knows_kek(&self, kek_id: &str) -> bool {
        self.kek(kek_id).is_some()
    }

    /// The ids of every KEK held, in the order they were added.
    pub fn kek_ids(&self) -> impl Iterator<Item = &str> {
        self.keks.iter().map(|kek| kek.id.as_str())
    }

    pub(crate) fn kek(&self, kek_id: &str) -> Option<&Kek> {
        self.keks.iter().find(|kek| kek.id == kek_id)
    }

    pub(crate) fn active_kek(&self) -> &Kek {
        self.kek(&self.active_kek_id)
            .expect("the active KEK is in the keyring")
    }

    pub(crate) fn fingerprint_key(&self) -> &[u8; KEY_BYTES] {
        self.fingerprint_key.expose_secret()
    }
}

impl Clone for Keyring {
    fn clone(&self) -> Keyring {
        Keyring {
            keks: self.keks.clone(),
            active_kek_id: self.active_kek_id.clone(),
            fingerprint_key: copy_key(&self.fingerprint_key),
        }
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active_kek_id", &self.active_kek_id)
            .field("kek_ids", &self.kek_ids().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FINGERPRINT_HEX: &str =
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const KEK_A_HEX: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
    const KEK_B_HEX: &str = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf";

    fn sample_text() -> String {
        format!(
            "# test keyring\n\
             \n\
             fingerprint_key {FINGERPRINT_HEX}\n\
             kek kek_000000000000000a {KEK_A_HEX}\n\
             kek kek_000000000000000b {KEK_B_HEX}\n\
             active kek_000000000000000b\n"
        )
    }

    fn parse_error(text: &str) -> VaultError {
        Keyring::parse(text).expect_err("the keyring is refused")
    }

    fn key_hex(key: &SecretKey) -> String {
        hex::encode(key.expose_secret())
    }

    #[test]
    fn a_keyring_text_parses_into_its_keys() {
        let keyring = Keyring::parse(&sample_text()).unwrap();
        assert_eq!(keyring.active_kek_id(), "kek_000000000000000b");
        assert_eq!(
            keyring.kek_ids().collect::<Vec<_>>(),
            ["kek_000000000000000a", "kek_000000000000000b"]
        );
        assert_eq!(key_hex(&keyring.fingerprint_key), FINGERPRINT_HEX);
        assert_eq!(
            hex::encode(keyring.kek("kek_000000000000000a").unwrap().key()),
            KEK_A_HEX
        );
        assert_eq!(hex::encode(keyring.active_kek().key()), KEK_B_HEX);
    }

    #[test]
    fn to_text_then_parse_gives_back_the_same_keys() {
        for keyring in [
            Keyring::generate(),
            Keyring::generate().rotated().rotated(),
            Keyring::parse(&sample_text()).unwrap(),
        ] {
            let text = keyring.to_text();
            let parsed = Keyring::parse(&text).unwrap();
            assert_eq!(parsed.active_kek_id(), keyring.active_kek_id());
            assert_eq!(
                parsed.kek_ids().collect::<Vec<_>>(),
                keyring.kek_ids().collect::<Vec<_>>()
            );
            for kek in &keyring.keks {
                assert_eq!(parsed.kek(&kek.id).unwrap().key(), kek.key());
            }
            assert_eq!(parsed.fingerprint_key(), keyring.fingerprint_key());
            assert_eq!(parsed.to_text(), text);
        }
    }

    #[test]
    fn lines_may_come_in_any_order_with_comments_crlf_and_uppercase_hex() {
        let text = format!(
            "  # comment\r\n\
             active kek_000000000000000a\r\n\
             \t\r\n\
             kek   kek_000000000000000a\t{}\r\n\
             fingerprint_key {FINGERPRINT_HEX}",
            KEK_A_HEX.to_uppercase()
        );
        let keyring = Keyring::parse(&text).unwrap();
        assert_eq!(keyring.active_kek_id(), "kek_000000000000000a");
        assert_eq!(hex::encode(keyring.active_kek().key()), KEK_A_HEX);
    }

    #[test]
    fn a_malformed_line_is_refused_with_its_line_number() {
        let fp = format!("fingerprint_key {FINGERPRINT_HEX}");
        let kek = format!("kek kek_000000000000000a {KEK_A_HEX}");
        let active = "active kek_000000000000000a";
        let short_key = &KEK_A_HEX[..62];
        let cases: Vec<(String, usize)> = vec![
            // An unknown item.
            (format!("{fp}\n{kek}\nkeks x y\n{active}"), 3),
            (format!("{fp}\n\n# ok\n{KEK_A_HEX}\n{kek}\n{active}"), 4),
            // Wrong field counts.
            (format!("{fp}\n{kek}\n{active} extra\n"), 3),
            (format!("fingerprint_key\n{kek}\n{active}"), 1),
            (format!("{fp} {KEK_B_HEX}\n{kek}\n{active}"), 1),
            (format!("{fp}\nkek kek_000000000000000a\n{active}"), 2),
            (format!("{fp}\n{kek} extra\n{active}"), 2),
            (format!("{fp}\n{kek}\nactive\n"), 3),
            // Keys that are not 64 hex digits.
            (format!("fingerprint_key {short_key}\n{kek}\n{active}"), 1),
            (
                format!("{fp}\nkek kek_000000000000000a {short_key}\n{active}"),
                2,
            ),
            (
                format!(
                    "{fp}\nkek kek_000000000000000a {}g\n{active}",
                    &KEK_A_HEX[..63]
                ),
                2,
            ),
            // Malformed ids.
            (
                format!("{fp}\nkek kek_00000000000000 {KEK_A_HEX}\n{active}"),
                2,
            ),
            (
                format!("{fp}\nkek kek_000000000000000A {KEK_A_HEX}\n{active}"),
                2,
            ),
            (
                format!("{fp}\nkek key_000000000000000a {KEK_A_HEX}\n{active}"),
                2,
            ),
            (format!("{fp}\n{kek}\nactive a\n"), 3),
            // Duplicates.
            (format!("{fp}\n{kek}\n{fp}\n{active}"), 3),
            (format!("{fp}\n{kek}\n{active}\n{kek}"), 4),
            (format!("{fp}\n{kek}\n{active}\n{active}"), 4),
            // `active` naming a KEK the keyring lacks: the `active` line.
            (format!("{fp}\n{active}x\n{kek}"), 2),
            (format!("{fp}\nactive kek_000000000000000b\n{kek}"), 2),
        ];
        for (text, line) in cases {
            match parse_error(&text) {
                VaultError::InvalidKeyring {
                    line: found,
                    message,
                } => {
                    assert_eq!(found, line, "{text:?}: {message}");
                    let shown = format!("{}", VaultError::InvalidKeyring { line, message });
                    assert!(shown.contains(&format!("line {line}")), "{shown}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn errors_never_quote_key_digits() {
        let kek = format!("kek kek_000000000000000a {KEK_A_HEX}");
        let active = "active kek_000000000000000a";
        for (text, secret) in [
            (format!("{FINGERPRINT_HEX}\n{kek}\n{active}"), FINGERPRINT_HEX),
            (
                format!("fingerprint_key {}z\n{kek}\n{active}", &FINGERPRINT_HEX[..63]),
                &FINGERPRINT_HEX[..63],
            ),
            (
                format!("fingerprint_key {FINGERPRINT_HEX}\nkek kek_000000000000000a {KEK_A_HEX}0\n{active}"),
                KEK_A_HEX,
            ),
            (format!("fingerprint_key {FINGERPRINT_HEX} x\n{kek}\n{active}"), FINGERPRINT_HEX),
        ] {
            let err = parse_error(&text);
            let shown = format!("{err} {err:?}");
            // Even a quarter of the key would be too much.
            assert!(!shown.contains(&secret[..16]), "{shown}");
        }
    }

    #[test]
    fn a_keyring_lacking_an_item_is_incomplete() {
        let fp = format!("fingerprint_key {FINGERPRINT_HEX}");
        let kek = format!("kek kek_000000000000000a {KEK_A_HEX}");
        let active = "active kek_000000000000000a";
        assert_eq!(
            parse_error(&format!("{kek}\n{active}")),
            VaultError::IncompleteKeyring("no `fingerprint_key` line")
        );
        assert_eq!(
            parse_error(&format!("{fp}\n{active}")),
            VaultError::IncompleteKeyring("no `kek` line")
        );
        assert_eq!(
            parse_error(&format!("{fp}\n{kek}")),
            VaultError::IncompleteKeyring("no `active` line")
        );
        assert_eq!(
            parse_error("# nothing\n\n"),
            VaultError::IncompleteKeyring("no `fingerprint_key` line")
        );
    }

    #[test]
    fn generated_kek_ids_have_the_documented_shape_and_keys_differ() {
        let (first, second) = (Kek::generate(), Kek::generate());
        for kek in [&first, &second] {
            assert!(kek.id().starts_with("kek_"));
            assert_eq!(kek.id().len(), 20);
            assert!(is_kek_id(kek.id()), "{}", kek.id());
        }
        assert_ne!(first.id(), second.id());
        assert_ne!(first.key(), second.key());
        let keyring = Keyring::generate();
        assert_ne!(keyring.fingerprint_key(), keyring.active_kek().key());
    }

    #[test]
    fn rotated_adds_an_active_kek_and_keeps_the_rest() {
        let keyring = Keyring::generate();
        let old_id = keyring.active_kek_id().to_owned();
        let rotated = keyring.rotated();
        assert_ne!(rotated.active_kek_id(), old_id);
        assert_eq!(
            rotated.kek_ids().collect::<Vec<_>>(),
            [old_id.as_str(), rotated.active_kek_id()]
        );
        assert_eq!(
            rotated.kek(&old_id).unwrap().key(),
            keyring.active_kek().key()
        );
        assert_eq!(rotated.fingerprint_key(), keyring.fingerprint_key());
        assert_eq!(keyring.active_kek_id(), old_id, "the original is unchanged");
        assert_eq!(keyring.kek_ids().count(), 1);
    }

    #[test]
    fn with_new_kek_then_activate_is_a_two_step_rotation() {
        let keyring = Keyring::generate();
        let old_id = keyring.active_kek_id().to_owned();
        let added = keyring.with_new_kek();
        assert_eq!(added.active_kek_id(), old_id);
        let new_id = added.kek_ids().last().unwrap().to_owned();
        assert_ne!(new_id, old_id);
        let activated = added.activate(&new_id).unwrap();
        assert_eq!(activated.active_kek_id(), new_id);
        assert!(activated.knows_kek(&old_id));
        assert_eq!(
            added.activate("kek_ffffffffffffffff").unwrap_err(),
            VaultError::UnknownKek("kek_ffffffffffffffff".into())
        );
    }

    #[test]
    fn retire_removes_an_old_kek_but_not_the_active_or_an_unknown_one() {
        let keyring = Keyring::generate();
        let old_id = keyring.active_kek_id().to_owned();
        let rotated = keyring.rotated();
        let new_id = rotated.active_kek_id().to_owned();

        let retired = rotated.retire(&old_id).unwrap();
        assert!(!retired.knows_kek(&old_id));
        assert_eq!(retired.kek_ids().collect::<Vec<_>>(), [new_id.as_str()]);
        assert_eq!(retired.fingerprint_key(), keyring.fingerprint_key());
        assert!(rotated.knows_kek(&old_id), "the original is unchanged");

        assert_eq!(
            rotated.retire(&new_id).unwrap_err(),
            VaultError::ActiveKek(new_id.clone())
        );
        assert_eq!(
            retired.retire(&old_id).unwrap_err(),
            VaultError::UnknownKek(old_id.clone())
        );
    }

    #[test]
    fn debug_shows_kek_ids_and_no_key_bytes() {
        let keyring = Keyring::generate().rotated();
        let kek = keyring.active_kek();
        let kek_debug = format!("{kek:?}");
        assert_eq!(kek_debug, format!("Kek {{ id: {:?}, .. }}", kek.id()));
        let keyring_debug = format!("{keyring:?} {keyring:#?}");
        for kek in &keyring.keks {
            assert!(keyring_debug.contains(&kek.id));
            assert!(!keyring_debug.contains(&hex::encode(kek.key())));
            assert!(!keyring_debug.contains(&hex::encode_upper(kek.key())));
        }
        assert!(!keyring_debug.contains(&key_hex(&keyring.fingerprint_key)));
        assert!(!keyring_debug.contains(&format!("{:?}", keyring.fingerprint_key())));
        assert!(!kek_debug.contains(&format!("{:?}", kek.key())));
    }
}
