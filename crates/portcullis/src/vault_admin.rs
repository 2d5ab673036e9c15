//! The vault's keyring on disk, and its rotation.
//!
//! The keyring file (mode 0600, outside the database) holds the
//! key-encrypting keys and the fingerprint key. Servers re-read it every
//! few seconds, so `portcullis vault rotate-key` works while they run:
//! 1. add a new key (not yet active) and wait until every server has it;
//! 2. make it active, so new cards are sealed under it;
//! 3. re-wrap every card's data key under it (the card ciphertext is untouched),
//!    and those of connector accounts' sealed credentials and terminals'
//!    MAC keys;
//! 4. later, `vault retire-key` removes the old key once no card and no
//!    connector account uses it.

use crate::admin::open_store;
use crate::cli::VaultCommand;
use crate::secrets::write_private;
use crate::settings::Settings;
use anyhow::{bail, Context};
use portcullis_api::payments::cards::{sealed_body, sealed_of};
use portcullis_store::{ScanOp, ScanQuery, SqlValue, Store, StoreError, Table, WriteOp, WriteSet};
use portcullis_vault::{Keyring, SealedCard, Vault};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use zeroize::Zeroizing;

/// How often servers look for a changed keyring file.
pub const KEYRING_RELOAD_INTERVAL: Duration = Duration::from_secs(2);
/// Cards re-wrapped per batch.
const REWRAP_BATCH: usize = 200;

/// The keyring at `path`, made (with fresh keys) if the file does not exist.
pub fn load_or_create(path: &Path) -> anyhow::Result<Keyring> {
    if !path.exists() {
        let keyring = Keyring::generate();
        save(path, &keyring)?;
        tracing::info!(path = %path.display(), "created the vault keyring");
        return Ok(keyring);
    }
    load(path)
}

fn load(path: &Path) -> anyhow::Result<Keyring> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    Keyring::parse(&text).with_context(|| format!("parsing the vault keyring {}", path.display()))
}

/// Replaces the keyring file atomically and durably: write a private temp
/// file and fsync it, rename it over the keyring, then fsync the directory
/// so the rename itself survives a power cut.
fn save(path: &Path, keyring: &Keyring) -> anyhow::Result<()> {
    let temp = path.with_extension("tmp");
    write_private(&temp, Zeroizing::new(keyring.to_text()).as_bytes())?;
    std::fs::rename(&temp, path).with_context(|| format!("replacing {}", path.display()))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the directory {}", dir.display()))?;
    Ok(())
}

/// The keyring `serve` uses: refuses to start, rather than answer errors
/// later, when the database holds cards sealed under a key-encrypting key
/// the keyring file lacks (or the file is missing while cards exist: a new
/// keyring would open none of them).
pub async fn load_for_serving(store: &Store, path: &Path) -> anyhow::Result<Keyring> {
    const FIX: &str = "every instance on one database must use the same keyring: point \
        vault_keyring_file (PORTCULLIS_VAULT_KEYRING_FILE) at the keyring the other instances use, \
        or restore it from a backup (`portcullis vault restore`)";
    if !path.exists() {
        let any = ScanQuery {
            filters: vec![],
            created_before: None,
            limit: 1,
        };
        if !store.scan(Table::VaultCards, &any).await?.is_empty() {
            bail!(
                "the vault keyring {} does not exist, but the database holds saved cards sealed by another keyring; {FIX}",
                path.display()
            );
        }
    }
    let keyring = load_or_create(path)?;
    let unknown = ScanQuery {
        filters: keyring
            .kek_ids()
            .map(|id| ("kek_id", ScanOp::NotEqual, SqlValue::Text(id.to_owned())))
            .collect(),
        created_before: None,
        limit: 1,
    };
    if let Some(card) = store.scan(Table::VaultCards, &unknown).await?.first() {
        let sealed = sealed_of(&card.doc.body).map_err(|e| anyhow::anyhow!(e.message))?;
        bail!(
            "the database holds saved cards sealed under {}, which the vault keyring {} lacks; {FIX}",
            sealed.kek_id,
            path.display()
        );
    }
    Ok(keyring)
}

/// Re-reads the keyring file whenever it changes, until `stop` resolves.
pub async fn reload_on_change(
    vault: Arc<Vault>,
    path: std::path::PathBuf,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen: Option<SystemTime> = modified(&path);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(KEYRING_RELOAD_INTERVAL) => {}
        }
        let now = modified(&path);
        if now == seen {
            continue;
        }
        match load(&path) {
            Ok(keyring) => {
                tracing::info!(
                    active = keyring.active_kek_id(),
                    "reloaded the vault keyring"
                );
                vault.replace_keyring(keyring);
                seen = now;
            }
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "the vault keyring file changed but does not parse; keeping the loaded one")
            }
        }
    }
}

pub async fn run(settings: &Settings, command: VaultCommand) -> anyhow::Result<()> {
    let path = &settings.vault_keyring_file;
    // Backups touch only the keyring file, not the database.
    match &command {
        VaultCommand::Backup {
            out,
            passphrase_file,
        } => return backup(path, out, passphrase_file.as_deref()),
        VaultCommand::Restore {
            from,
            passphrase_file,
        } => return restore(path, from, passphrase_file.as_deref()),
        _ => {}
    }
    let store = open_store(settings).await?;
    let result = match command {
        VaultCommand::RotateKey => rotate(&store, path).await,
        VaultCommand::RetireKey { kek_id } => retire(&store, path, &kek_id).await,
        VaultCommand::Status => status(&store, path).await,
        VaultCommand::Backup { .. } | VaultCommand::Restore { .. } => Ok(()),
    };
    store.close().await;
    result
}

async fn rotate(store: &Store, path: &Path) -> anyhow::Result<()> {
    let keyring = load_or_create(path)?;
    let staged = keyring.with_new_kek();
    let new_id = staged
        .kek_ids()
        .find(|id| !keyring.knows_kek(id))
        .map(str::to_owned)
        .context("no new key was added")?;
    save(path, &staged)?;
    println!("added {new_id}; waiting for running servers to load it");
    tokio::time::sleep(KEYRING_RELOAD_INTERVAL * 3).await;
    let active = staged.activate(&new_id)?;
    save(path, &active)?;
    println!("{new_id} is active; new cards are sealed under it");
    tokio::time::sleep(KEYRING_RELOAD_INTERVAL * 3).await;
    let vault = Vault::new(active);
    let rewrapped = rewrap_all(store, &vault, &new_id).await?;
    let [cards, accounts, terminals] = rewrapped;
    println!("re-wrapped {cards} cards and {accounts} connector accounts and {terminals} terminals' MAC keys under {new_id}; old keys may now be retired");
    Ok(())
}

/// The tables whose rows hold data keys wrapped by a KEK (`kek_id` column).
const SEALED_TABLES: [Table; 3] = [Table::VaultCards, Table::ConnectorAccounts, Table::Terminals];

/// The sealed record in a row's body: the whole body of a vault card, the
/// `sealed` member of a connector account (absent once it is deleted).
fn sealed_in(table: Table, body: &str) -> anyhow::Result<Option<SealedCard>> {
    let sealed = match table {
        Table::ConnectorAccounts | Table::Terminals => {
            let value: serde_json::Value = serde_json::from_str(body)?;
            match &value["sealed"] {
                serde_json::Value::Null => return Ok(None),
                sealed => sealed_of(&sealed.to_string()),
            }
        }
        _ => sealed_of(body),
    };
    sealed.map(Some).map_err(|e| anyhow::anyhow!(e.message))
}

/// The row's body with its sealed record replaced.
fn with_sealed(table: Table, body: &str, sealed: &SealedCard) -> anyhow::Result<String> {
    match table {
        Table::ConnectorAccounts | Table::Terminals => {
            let mut value: serde_json::Value = serde_json::from_str(body)?;
            value["sealed"] = serde_json::from_str(&sealed_body(sealed))?;
            Ok(value.to_string())
        }
        _ => Ok(sealed_body(sealed)),
    }
}

/// Re-wraps, batch by batch, every card and every connector account's
/// credentials not under `kek_id`; answers how many of each.
async fn rewrap_all(store: &Store, vault: &Vault, kek_id: &str) -> anyhow::Result<[u64; 3]> {
    let mut rewrapped = [0; 3];
    for (count, table) in rewrapped.iter_mut().zip(SEALED_TABLES) {
        *count = rewrap_table(store, vault, table, kek_id).await?;
    }
    Ok(rewrapped)
}

async fn rewrap_table(
    store: &Store,
    vault: &Vault,
    table: Table,
    kek_id: &str,
) -> anyhow::Result<u64> {
    let mut rewrapped = 0;
    loop {
        let query = ScanQuery {
            filters: vec![(
                "kek_id",
                ScanOp::NotEqual,
                SqlValue::Text(kek_id.to_owned()),
            )],
            created_before: None,
            limit: REWRAP_BATCH,
        };
        let batch = store.scan(table, &query).await?;
        if batch.is_empty() {
            return Ok(rewrapped);
        }
        for found in batch {
            let Some(sealed) = sealed_in(table, &found.doc.body)? else {
                continue;
            };
            let Some(rewrapped_record) = vault.rewrap(&found.doc.id, &sealed)? else {
                continue;
            };
            let mut writes = WriteSet::new();
            writes.push(WriteOp::Update {
                table,
                scope: found.scope,
                id: found.doc.id.clone(),
                expected_version: found.doc.version,
                columns: vec![("kek_id", SqlValue::Text(rewrapped_record.kek_id.clone()))],
                body: with_sealed(table, &found.doc.body, &rewrapped_record)?,
            });
            match store.commit(writes).await {
                Ok(()) => rewrapped += 1,
                // Changed meanwhile: the next batch sees it again.
                Err(StoreError::Conflict) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
}

/// How many cards, connector accounts and terminals `kek_id` wraps, up to
/// `limit` each.
async fn records_under(store: &Store, kek_id: &str, limit: usize) -> anyhow::Result<[usize; 3]> {
    let query = ScanQuery {
        filters: vec![("kek_id", ScanOp::Equal, SqlValue::Text(kek_id.to_owned()))],
        created_before: None,
        limit,
    };
    let mut counts = [0; 3];
    for (count, table) in counts.iter_mut().zip(SEALED_TABLES) {
        *count = store.scan(table, &query).await?.len();
    }
    Ok(counts)
}

async fn retire(store: &Store, path: &Path, kek_id: &str) -> anyhow::Result<()> {
    let keyring = load(path)?;
    if records_under(store, kek_id, 1).await? != [0, 0, 0] {
        bail!("cards, connector accounts or terminals' MAC keys are still wrapped by {kek_id}; run `portcullis vault rotate-key` first");
    }
    save(path, &keyring.retire(kek_id)?)?;
    println!("retired {kek_id}");
    Ok(())
}

async fn status(store: &Store, path: &Path) -> anyhow::Result<()> {
    const COUNT_MAX: usize = 1_000_000;
    let keyring = load(path)?;
    for id in keyring.kek_ids() {
        let active = if id == keyring.active_kek_id() {
            " (active)"
        } else {
            ""
        };
        let [cards, accounts, terminals] = records_under(store, id, COUNT_MAX).await?;
        println!("{id}{active}\t{cards} cards\t{accounts} connector accounts\t{terminals} terminals");
    }
    Ok(())
}

/// The passphrase of `vault backup` / `vault restore`: from the file named,
/// else `PORTCULLIS_VAULT_BACKUP_PASSPHRASE` (never a flag: flags show in
/// `ps`).
fn backup_passphrase(file: Option<&Path>) -> anyhow::Result<Zeroizing<String>> {
    let text = match file {
        Some(path) => Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the passphrase file {}", path.display()))?,
        ),
        None => Zeroizing::new(std::env::var("PORTCULLIS_VAULT_BACKUP_PASSPHRASE").map_err(|_| {
            anyhow::anyhow!("give the backup passphrase with --passphrase-file FILE or PORTCULLIS_VAULT_BACKUP_PASSPHRASE")
        })?),
    };
    Ok(Zeroizing::new(
        text.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}

/// `portcullis vault backup --out FILE`: the keyring sealed under a passphrase.
pub fn backup(path: &Path, out: &Path, passphrase_file: Option<&Path>) -> anyhow::Result<()> {
    let keyring = load(path)?;
    let passphrase = backup_passphrase(passphrase_file)?;
    let sealed =
        portcullis_vault::backup::seal_backup(&Zeroizing::new(keyring.to_text()), &passphrase)?;
    write_private(out, sealed.as_bytes())?;
    println!(
        "wrote {} ({} keys); keep it and its passphrase apart, away from this machine",
        out.display(),
        keyring.kek_ids().count()
    );
    Ok(())
}

/// `portcullis vault restore --from FILE`: writes the keyring a backup holds,
/// never over an existing keyring file.
pub fn restore(path: &Path, from: &Path, passphrase_file: Option<&Path>) -> anyhow::Result<()> {
    if path.exists() {
        bail!(
            "{} exists; move it away first (restore never overwrites a keyring)",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(from).with_context(|| format!("reading {}", from.display()))?;
    let passphrase = backup_passphrase(passphrase_file)?;
    let keyring_text = portcullis_vault::backup::open_backup(&text, &passphrase)?;
    let keyring = Keyring::parse(&keyring_text).context("the backup's keyring")?;
    save(path, &keyring)?;
    println!(
        "restored {} ({} keys)",
        path.display(),
        keyring.kek_ids().count()
    );
    Ok(())
}
