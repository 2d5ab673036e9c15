//! Local secrets: the API-key hashing secret, and the sandbox merchant's
//! keys kept for local development. Files here are created mode 0600.
//!
//! The key-hash secret comes from `PORTCULLIS_KEY_HASH_SECRET` or the
//! settings file (hex, at least 32 bytes) — what several instances sharing
//! one PostgreSQL must use — or else from `DATA_DIR/key-hash-secret`, made
//! on first use.

use anyhow::{bail, Context};
use portcullis_domain::api_keys::KeyHashSecret;
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
