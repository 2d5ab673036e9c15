//! The vault's keyring on disk, and its rotation.
//!
//! The keyring file (mode 0600, outside the database) holds the
//! key-encrypting keys and the fingerprint key. Servers re-read it every
//! few seconds, so `portcullis vault rotate-key` works while they run:
//! 1. add a new key (not yet active) and wait until every server has it;
//! 2. make it active, so new cards are sealed under it;
//! 3. re-wrap every card's data key under it (the card ciphertext is untouched),
//!    and those of connector accounts' credentials, webhook endpoints'
//!    signing secrets, terminals' MAC keys and dashboard users' TOTP secrets;
//! 4. later, `vault retire-key` removes the old key once no card, connector
//!    account, webhook endpoint, terminal or dashboard user uses it.
//!
//! Instead of a file, the keyring's text may come from the `vault_keyring`
//! setting (`PORTCULLIS_VAULT_KEYRING`), for containers and instances that
//! share no disk: it is never written anywhere, so commands that change the
//! keyring (`rotate-key`, `retire-key`, `restore`) need the file form.

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

/// The keyring's text given by the `vault_keyring` setting: wiped on
/// drop, never printed.
pub struct KeyringText(Zeroizing<String>);

impl KeyringText {
    /// Lines may be separated by `;` as well as by newlines (one-line
    /// environment variables); the keyring format uses no `;`.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text.replace(';', "\n")))
    }

    fn parse(&self) -> anyhow::Result<Keyring> {
        Keyring::parse(&self.0)
            .context("parsing the vault keyring given by vault_keyring (PORTCULLIS_VAULT_KEYRING)")
    }
}

impl std::fmt::Debug for KeyringText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyringText(…)")
    }
}

/// The keyring the settings name, read only: the `vault_keyring` text, or
/// the file.
fn configured(settings: &Settings) -> anyhow::Result<Keyring> {
    match &settings.vault_keyring {
        Some(text) => text.parse(),
        None => load(&settings.vault_keyring_file),
    }
}

/// Refuses a command that writes the keyring when it comes from the
/// `vault_keyring` setting, which nothing can write.
fn refuse_keyring_setting(settings: &Settings, command: &str) -> anyhow::Result<()> {
    if settings.vault_keyring.is_some() {
        bail!(
            "`portcullis vault {command}` changes the keyring file, but this keyring comes from \
             vault_keyring (PORTCULLIS_VAULT_KEYRING), which it cannot write: run it with \
             PORTCULLIS_VAULT_KEYRING_FILE naming a copy of that keyring (mode 0600) instead, \
             then give every instance the new text (see \"Operating the keyring\" in the README)"
        );
    }
    Ok(())
}

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
/// the keyring lacks (or the file is missing while cards exist: a new
/// keyring would open none of them).
pub async fn load_for_serving(store: &Store, settings: &Settings) -> anyhow::Result<Keyring> {
    const FIX: &str = "every instance on one database must use the same keyring: point \
        vault_keyring_file (PORTCULLIS_VAULT_KEYRING_FILE) at the keyring the other instances use, \
        or give its text in vault_keyring (PORTCULLIS_VAULT_KEYRING), \
        or restore it from a backup (`portcullis vault restore`)";
    let path = &settings.vault_keyring_file;
    let (keyring, source) = match &settings.vault_keyring {
        Some(text) => (
            text.parse()?,
            "given by PORTCULLIS_VAULT_KEYRING".to_owned(),
        ),
        None => {
            if !path.exists() && any_card(store).await? {
                bail!(
                    "the vault keyring {} does not exist, but the database holds saved cards sealed by another keyring; {FIX}",
                    path.display()
                );
            }
            (load_or_create(path)?, path.display().to_string())
        }
    };
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
            "the database holds saved cards sealed under {}, which the vault keyring {source} lacks; {FIX}",
            sealed.kek_id,
        );
    }
    Ok(keyring)
}

async fn any_card(store: &Store) -> anyhow::Result<bool> {
    let any = ScanQuery {
        filters: vec![],
        created_before: None,
        limit: 1,
    };
    Ok(!store.scan(Table::VaultCards, &any).await?.is_empty())
}

/// Re-reads the keyring file whenever it changes, until `stop` resolves.
/// With no file (a keyring given as text), it only waits for `stop`.
pub async fn reload_on_change(
    vault: Arc<Vault>,
    path: Option<std::path::PathBuf>,
    stop: impl std::future::Future<Output = ()>,
) {
    let Some(path) = path else {
        return stop.await;
    };
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
    // Backups touch only the keyring, not the database.
    match &command {
        VaultCommand::Backup {
            out,
            passphrase_file,
        } => return backup(&configured(settings)?, out, passphrase_file.as_deref()),
        VaultCommand::Restore {
            from,
            passphrase_file,
        } => {
            refuse_keyring_setting(settings, "restore")?;
            return restore(path, from, passphrase_file.as_deref());
        }
        VaultCommand::RotateKey => refuse_keyring_setting(settings, "rotate-key")?,
        VaultCommand::RetireKey { .. } => refuse_keyring_setting(settings, "retire-key")?,
        VaultCommand::Status => {}
    }
    let store = open_store(settings, crate::secrets::KeyHashUse::ChecksOnly).await?;
    let result = match command {
        VaultCommand::RotateKey => rotate(&store, path).await,
        VaultCommand::RetireKey { kek_id } => retire(&store, path, &kek_id).await,
        VaultCommand::Status => status(&store, &configured(settings)?).await,
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
    let [cards, accounts, endpoints, terminals, users] = rewrap_all(store, &vault, &new_id).await?;
    println!("re-wrapped {cards} cards, {accounts} connector accounts, {endpoints} webhook endpoints, {terminals} terminals' MAC keys and {users} dashboard users' TOTP secrets under {new_id}; old keys may now be retired");
    Ok(())
}

/// The tables whose rows hold data keys wrapped by a KEK (`kek_id` column).
const SEALED_TABLES: [Table; 5] = [
    Table::VaultCards,
    Table::ConnectorAccounts,
    Table::WebhookEndpoints,
    Table::Terminals,
    Table::DashboardUsers,
];

/// The member of a row's body that holds its sealed record: a vault
/// card's whole body is one (`None`); a dashboard user's TOTP secret is
/// `totp`; the other tables' secrets are `sealed`.
fn sealed_member(table: Table) -> Option<&'static str> {
    match table {
        Table::ConnectorAccounts | Table::WebhookEndpoints | Table::Terminals => Some("sealed"),
        Table::DashboardUsers => Some("totp"),
        _ => None,
    }
}

/// The sealed record in a row's body: the whole body of a vault card, the
/// `sealed` member of a connector account (absent once it is deleted) or
/// of a webhook endpoint (absent while its secrets are still in the clear),
/// the `totp` member of a dashboard user (absent while TOTP is off).
fn sealed_in(table: Table, body: &str) -> anyhow::Result<Option<SealedCard>> {
    let sealed = match sealed_member(table) {
        Some(member) => {
            let value: serde_json::Value = serde_json::from_str(body)?;
            match &value[member] {
                serde_json::Value::Null => return Ok(None),
                sealed => sealed_of(&sealed.to_string()),
            }
        }
        None => sealed_of(body),
    };
    sealed.map(Some).map_err(|e| anyhow::anyhow!(e.message))
}

/// The row's body with its sealed record replaced.
fn with_sealed(table: Table, body: &str, sealed: &SealedCard) -> anyhow::Result<String> {
    match sealed_member(table) {
        Some(member) => {
            let mut value: serde_json::Value = serde_json::from_str(body)?;
            value[member] = serde_json::from_str(&sealed_body(sealed))?;
            Ok(value.to_string())
        }
        None => Ok(sealed_body(sealed)),
    }
}

/// Re-wraps, batch by batch, every card, connector account's credentials,
/// webhook endpoint's secrets, terminal's MAC key and dashboard user's TOTP
/// secret not under `kek_id`; answers how many of each.
async fn rewrap_all(store: &Store, vault: &Vault, kek_id: &str) -> anyhow::Result<[u64; 5]> {
    let mut rewrapped = [0; 5];
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

/// How many cards, connector accounts, webhook endpoints, terminals and
/// dashboard users' TOTP secrets `kek_id` wraps, up to `limit` each.
async fn records_under(store: &Store, kek_id: &str, limit: usize) -> anyhow::Result<[usize; 5]> {
    let query = ScanQuery {
        filters: vec![("kek_id", ScanOp::Equal, SqlValue::Text(kek_id.to_owned()))],
        created_before: None,
        limit,
    };
    let mut counts = [0; 5];
    for (count, table) in counts.iter_mut().zip(SEALED_TABLES) {
        *count = store.scan(table, &query).await?.len();
    }
    Ok(counts)
}

async fn retire(store: &Store, path: &Path, kek_id: &str) -> anyhow::Result<()> {
    let keyring = load(path)?;
    if records_under(store, kek_id, 1).await? != [0; 5] {
        bail!("cards, connector accounts, webhook endpoints, terminals' MAC keys or dashboard users' TOTP secrets are still wrapped by {kek_id}; run `portcullis vault rotate-key` first");
    }
    save(path, &keyring.retire(kek_id)?)?;
    println!("retired {kek_id}");
    Ok(())
}

async fn status(store: &Store, keyring: &Keyring) -> anyhow::Result<()> {
    const COUNT_MAX: usize = 1_000_000;
    for id in keyring.kek_ids() {
        let active = if id == keyring.active_kek_id() {
            " (active)"
        } else {
            ""
        };
        let [cards, accounts, endpoints, terminals, users] =
            records_under(store, id, COUNT_MAX).await?;
        println!("{id}{active}\t{cards} cards\t{accounts} connector accounts\t{endpoints} webhook endpoints\t{terminals} terminals\t{users} dashboard users");
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
pub fn backup(keyring: &Keyring, out: &Path, passphrase_file: Option<&Path>) -> anyhow::Result<()> {
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
