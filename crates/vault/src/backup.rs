//! Keyring backups: the keyring text sealed under a passphrase, so it can be
//! kept away from the machine (losing the keyring loses every saved card).
//!
//! ```text
//! key        = Argon2id(passphrase, salt; m = 64 MiB, t = 3, p = 1) → 32 bytes
//! ciphertext = AES-256-GCM(key, nonce, aad = FORMAT, plaintext = keyring text)
//! ```
//!
//! The backup is a small JSON-free text file: one `name value` pair a line
//! (`format`, `kdf` with its parameters, `salt`, `nonce`, `ciphertext`, hex),
//! so the parameters travel with it and can be raised later.

use crate::VaultError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use zeroize::Zeroizing;

/// The first line of every backup, also the associated data of its cipher.
pub const BACKUP_FORMAT: &str = "portcullis-vault-backup-1";
/// Argon2id cost: OWASP's first recommended setting (m = 64 MiB... t = 3, p = 1).
const ARGON2_MEMORY_KIB: u32 = 64 * 1024;
const ARGON2_ITERATIONS: u32 = 3;
const ARGON2_LANES: u32 = 1;
/// Shortest passphrase accepted for a new backup.
pub const PASSPHRASE_CHARS_MIN: usize = 12;
const SALT_BYTES: usize = 16;
const NONCE_BYTES: usize = 12;

/// Why a backup was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    #[error("the passphrase must have at least {PASSPHRASE_CHARS_MIN} characters")]
    WeakPassphrase,
    #[error("not a Portcullis vault backup ({0})")]
    Malformed(&'static str),
    #[error("the backup does not open: wrong passphrase or changed bytes")]
    WrongPassphrase,
    #[error("{0}")]
    Vault(#[from] VaultError),
}

fn derive_key(
    passphrase: &str,
    salt: &[u8],
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
) -> Result<Zeroizing<[u8; 32]>, BackupError> {
    let params = Params::new(memory_kib, iterations, lanes, Some(32))
        .map_err(|_| BackupError::Malformed("argon2 parameters"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|_| BackupError::Malformed("argon2 parameters"))?;
    Ok(key)
}

/// The keyring text sealed under `passphrase`, as the backup file's text.
pub fn seal_backup(keyring_text: &str, passphrase: &str) -> Result<String, BackupError> {
    if passphrase.chars().count() < PASSPHRASE_CHARS_MIN {
        return Err(BackupError::WeakPassphrase);
    }
    let mut salt = [0u8; SALT_BYTES];
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt)
        .and_then(|()| rand::rngs::OsRng.try_fill_bytes(&mut nonce))
        .map_err(|_| VaultError::Randomness)?;
    let key = derive_key(
        passphrase,
        &salt,
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_LANES,
    )?;
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).expect("a 32-byte key");
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: keyring_text.as_bytes(),
                aad: BACKUP_FORMAT.as_bytes(),
            },
        )
        .map_err(|_| BackupError::Malformed("encryption"))?;
    Ok(format!(
        "format {BACKUP_FORMAT}\nkdf argon2id m={ARGON2_MEMORY_KIB},t={ARGON2_ITERATIONS},p={ARGON2_LANES}\nsalt {}\nnonce {}\nciphertext {}\n",
        hex::encode(salt),
        hex::encode(nonce),
        hex::encode(ciphertext)
    ))
}

/// The keyring text inside a backup made by [`seal_backup`].
pub fn open_backup(backup_text: &str, passphrase: &str) -> Result<Zeroizing<String>, BackupError> {
    let field = |name: &'static str| {
        backup_text
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .ok_or(BackupError::Malformed(name))
    };
    if field("format")? != BACKUP_FORMAT {
        return Err(BackupError::Malformed("format"));
    }
    let (memory_kib, iterations, lanes) = parse_kdf(field("kdf")?)?;
    let hex_field = |name: &'static str| {
        field(name).and_then(|text| hex::decode(text).map_err(|_| BackupError::Malformed(name)))
    };
    let (salt, nonce, ciphertext) = (
        hex_field("salt")?,
        hex_field("nonce")?,
        hex_field("ciphertext")?,
    );
    if nonce.len() != NONCE_BYTES {
        return Err(BackupError::Malformed("nonce"));
    }
    let key = derive_key(passphrase, &salt, memory_kib, iterations, lanes)?;
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).expect("a 32-byte key");
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: BACKUP_FORMAT.as_bytes(),
                },
            )
            .map_err(|_| BackupError::WrongPassphrase)?,
    );
    let text =
        String::from_utf8(plain.to_vec()).map_err(|_| BackupError::Malformed("keyring text"))?;
    Ok(Zeroizing::new(text))
}

/// `argon2id m=…,t=…,p=…`, with bounds so a crafted backup cannot ask for
/// unbounded memory or time.
fn parse_kdf(text: &str) -> Result<(u32, u32, u32), BackupError> {
    const MEMORY_KIB_MAX: u32 = 1024 * 1024;
    const ITERATIONS_MAX: u32 = 64;
    const LANES_MAX: u32 = 16;
    let bad = || BackupError::Malformed("kdf");
    let params = text.strip_prefix("argon2id ").ok_or_else(bad)?;
    let mut values = [0u32; 3];
    for (slot, (part, name)) in values
        .iter_mut()
        .zip(params.split(',').zip(["m=", "t=", "p="]))
    {
        *slot = part
            .strip_prefix(name)
            .and_then(|v| v.parse().ok())
            .ok_or_else(bad)?;
    }
    let [m, t, p] = values;
    if m == 0 || m > MEMORY_KIB_MAX || t == 0 || t > ITERATIONS_MAX || p == 0 || p > LANES_MAX {
        return Err(bad());
    }
    Ok((m, t, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keyring;

    #[test]
    fn a_backup_opens_with_its_passphrase_only() {
        let text = Keyring::generate().to_text();
        let backup = seal_backup(&text, "correct horse battery staple").unwrap();
        assert!(!backup.contains(&text), "the keyring is not in the clear");
        let opened = open_backup(&backup, "correct horse battery staple").unwrap();
        assert_eq!(opened.as_str(), text);
        assert_eq!(
            open_backup(&backup, "correct horse battery stapler").unwrap_err(),
            BackupError::WrongPassphrase
        );
        let mut changed = backup.clone().into_bytes();
        let last = changed.len() - 2;
        changed[last] = if changed[last] == b'0' { b'1' } else { b'0' };
        assert!(open_backup(
            std::str::from_utf8(&changed).unwrap(),
            "correct horse battery staple"
        )
        .is_err());
        assert_eq!(
            seal_backup(&text, "short").unwrap_err(),
            BackupError::WeakPassphrase
        );
    }
}
