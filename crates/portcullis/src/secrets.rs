//! Local secrets: the API-key hashing secret, and the sandbox merchant's
//! keys kept for local development. Files here are created mode 0600.
//!
//! The key-hash secret comes from `PORTCULLIS_KEY_HASH_SECRET` or the
//! settings file (hex, at least 32 bytes) — what several instances sharing
//! one PostgreSQL must use — or else from `DATA_DIR/key-hash-secret`, made
//! on first use.
//!
//! The database records a check value of the key-hash secret (an HMAC of
//! a fixed label under it, never the secret) the first time a process uses
//! it; every command that opens the database compares its own and refuses
//! a different secret, which would otherwise make every key answer 401.

use anyhow::{bail, Context};
use portcullis_domain::api_keys::KeyHashSecret;
use portcullis_store::Store;
use rand::RngCore;
use std::io::Write;
use std::path::Path;

const KEY_HASH_SECRET_FILE: &str = "key-hash-secret";
const KEY_HASH_SECRET_BYTES: usize = 32;

pub fn key_hash_secret(
    configured_hex: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<KeyHashSecret> {
    let bytes = match configured_hex {
        Some(text) => hex::decode(text.trim()).context("the key-hash secret must be hex")?,
        None => {
            let path = data_dir.join(KEY_HASH_SECRET_FILE);
            if !path.exists() {
                let mut bytes = vec![0u8; KEY_HASH_SECRET_BYTES];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                write_private(&path, hex::encode(&bytes).as_bytes())?;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            hex::decode(text.trim()).with_context(|| format!("{} must hold hex", path.display()))?
        }
    };
    match KeyHashSecret::new(bytes) {
        Ok(secret) => Ok(secret),
        Err(err) => bail!("{err}"),
    }
}

/// The name under which the database records the key-hash secret's check value.
const KEY_HASH_SECRET_CHECK: &str = "key_hash_secret";

/// What identifies a key-hash secret without revealing it: an HMAC of a
/// fixed label under it. (Key hashes are HMACs of keys, never of this
/// label, so the check value matches no key hash.)
pub fn key_hash_secret_check_value(secret: &KeyHashSecret) -> String {
    secret.keyed_digest("portcullis secret check", "key-hash secret v1")
}

/// How a command uses the key-hash secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyHashUse {
    /// It hashes keys (`serve`, `merchant create`, `key create`): it makes
    /// the secret if there is none and records its check value on first use.
    HashesKeys,
    /// It never hashes a key: it checks the secret it has, if any, against
    /// the recorded one, and never makes or records one (so a `migrate` run
    /// before the secret is configured cannot pin a stray one).
    ChecksOnly,
}

/// Refuses a key-hash secret other than the one the database was first
/// used with; records the check value at first use by a command that
/// hashes keys.
pub async fn check_key_hash_secret(
    store: &Store,
    configured_hex: Option<&str>,
    data_dir: &Path,
    usage: KeyHashUse,
) -> anyhow::Result<()> {
    let has_secret = configured_hex.is_some() || data_dir.join(KEY_HASH_SECRET_FILE).exists();
    let recorded = match usage {
        KeyHashUse::ChecksOnly if !has_secret => return Ok(()),
        KeyHashUse::ChecksOnly => store.recorded_check_value(KEY_HASH_SECRET_CHECK).await?,
        KeyHashUse::HashesKeys => None,
    };
    let secret = key_hash_secret(configured_hex, data_dir)?;
    let ours = key_hash_secret_check_value(&secret);
    let recorded = match (usage, recorded) {
        (KeyHashUse::ChecksOnly, None) => return Ok(()),
        (KeyHashUse::ChecksOnly, Some(recorded)) => recorded,
        (KeyHashUse::HashesKeys, _) => store
            .record_check_value(KEY_HASH_SECRET_CHECK, &ours, crate::admin::now_s())
            .await
            .context("recording the key-hash secret's check value")?,
    };
    if recorded == ours {
        return Ok(());
    }
    let source = match configured_hex {
        Some(_) => "given by PORTCULLIS_KEY_HASH_SECRET (or key_hash_secret in the settings file)"
            .to_owned(),
        None => format!(
            "read from {}",
            data_dir.join(KEY_HASH_SECRET_FILE).display()
        ),
    };
    bail!(
        "the key-hash secret {source} is not the one this database was first used with, \
         so every API key stored in it would answer 401. Give this process the secret the \
         database's keys were made with: set PORTCULLIS_KEY_HASH_SECRET (or key_hash_secret \
         in the settings file) to that secret in hex, or point --data-dir (PORTCULLIS_DATA_DIR) \
         at the data directory whose {KEY_HASH_SECRET_FILE} file made them. Several instances \
         sharing one database must all be given the same PORTCULLIS_KEY_HASH_SECRET \
         (see \"PostgreSQL and several instances\" in the README)."
    )
}

/// Creates `dir` (and its parents) if missing, readable by its owner only:
/// the data directory holds secrets, journals and the database.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes `contents` to a new file only its owner can read.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)
        .with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()?;
    Ok(())
}
