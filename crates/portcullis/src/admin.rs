//! Administration from the command line: migrations, merchants and keys.
//! Keys are printed once, at creation; listings show only their first
//! characters.

use crate::cli::{KeyCommand, MerchantCommand};
use crate::secrets::{self, KeyHashUse};
use crate::settings::Settings;
use anyhow::{bail, Context};
use portcullis_domain::api_keys::{
    ApiKeyRecord, ApiKeySecret, KeyHashSecret, KeyKind, KeyMode, Permissions,
};
use portcullis_domain::ids::{ApiKeyId, MerchantId};
use portcullis_domain::merchants::Merchant;
use portcullis_store::Store;
use serde_json::json;

/// Opens (and migrates) the database named by the settings, and checks the
/// key-hash secret against the one it was first used with (`usage` says
/// whether this command may make and record it): every command that opens
/// the database goes through here.
pub async fn open_store(settings: &Settings, usage: KeyHashUse) -> anyhow::Result<Store> {
    let url = &settings.database_url;
    let is_postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if settings.create_database && is_postgres {
        let created = Store::create_postgres_database(url)
            .await
            .with_context(|| format!("creating the PostgreSQL database {}", redacted(url)))?;
        if created {
            println!("created the PostgreSQL database {}", redacted(url));
        }
    }
    match Store::open(url, &settings.store).await {
        Ok(store) => {
            let checked = secrets::check_key_hash_secret(
                &store,
                settings.key_hash_secret_hex.as_deref(),
                &settings.data_dir,
                usage,
            )
            .await;
            if let Err(err) = checked {
                store.close().await;
                return Err(err);
            }
            Ok(store)
        }
        Err(err) if is_postgres => {
            let hint = if err.to_string().contains("SQLSTATE 3D000") {
                "\n  create it with `portcullis migrate --create-database` (or `createdb`), \
                 or start with `portcullis serve --create-database`"
            } else {
                ""
            };
            bail!(
                "opening the PostgreSQL database {}: {err}{hint}",
                redacted(url)
            )
        }
        Err(err) => match url.strip_prefix("sqlite://") {
            Some(path) => bail!("opening the SQLite database {path}: {err}"),
            None => bail!("{err}"),
        },
    }
}

/// A PostgreSQL URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let (credentials, host) = rest.rsplit_once('@').unwrap_or(("", rest));
            let user = credentials.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        _ => url.to_owned(),
    }
}

pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn hasher(settings: &Settings) -> anyhow::Result<KeyHashSecret> {
    secrets::key_hash_secret(settings.key_hash_secret_hex.as_deref(), &settings.data_dir)
}

/// `portcullis migrate [--create-database]` (the flag is in `settings`).
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings, KeyHashUse::ChecksOnly).await?;
    store.close().await;
    println!("migrations applied ({})", store.backend_name());
    Ok(())
}

/// A new merchant with one test secret key and one test publishable key.
pub struct NewMerchant {
    pub merchant: Merchant,
    pub secret_key: ApiKeySecret,
    pub publishable_key: ApiKeySecret,
}

pub async fn create_merchant(
    store: &Store,
    hasher: &KeyHashSecret,
    name: &str,
) -> anyhow::Result<NewMerchant> {
    let now = now_s();
    let merchant = Merchant::new(name, now)?;
    store.insert_merchant(&merchant).await?;
    let (secret, secret_key) = ApiKeyRecord::issue(
        &merchant.id,
        KeyKind::Secret,
        KeyMode::Test,
        None,
        hasher,
        now,
    );
    let (publishable, publishable_key) = ApiKeyRecord::issue(
        &merchant.id,
        KeyKind::Publishable,
        KeyMode::Test,
        None,
        hasher,
        now,
    );
    store.insert_api_key(&secret).await?;
    store.insert_api_key(&publishable).await?;
    tracing::info!(merchant_id = %merchant.id, "merchant created");
    Ok(NewMerchant {
        merchant,
        secret_key,
        publishable_key,
    })
}

pub fn merchant_json(created: &NewMerchant) -> serde_json::Value {
    json!({
        "id": created.merchant.id,
        "name": created.merchant.name,
        "secret_key": created.secret_key.reveal(),
        "publishable_key": created.publishable_key.reveal(),
    })
}

pub async fn merchant(settings: &Settings, command: MerchantCommand) -> anyhow::Result<()> {
    let usage = match command {
        MerchantCommand::Create { .. } => KeyHashUse::HashesKeys,
        MerchantCommand::List { .. } => KeyHashUse::ChecksOnly,
    };
    let store = open_store(settings, usage).await?;
    let result = match command {
        MerchantCommand::Create { name, json } => {
            let created = create_merchant(&store, &hasher(settings)?, &name).await?;
            if json {
                println!("{}", merchant_json(&created));
            } else {
                println!(
                    "merchant {} ({})",
                    created.merchant.id, created.merchant.name
                );
                println!("  secret key:      {}", created.secret_key.reveal());
                println!("  publishable key: {}", created.publishable_key.reveal());
            }
            Ok(())
        }
        MerchantCommand::List { json } => {
            for merchant in store.list_merchants().await? {
                if json {
                    println!(
                        "{}",
                        json!({"id": merchant.id, "name": merchant.name, "created": merchant.created})
                    );
                } else {
                    println!("{}\t{}\t{}", merchant.id, merchant.created, merchant.name);
                }
            }
            Ok(())
        }
    };
    store.close().await;
    result
}

pub async fn key(settings: &Settings, command: KeyCommand) -> anyhow::Result<()> {
    let usage = match command {
        KeyCommand::Create { .. } => KeyHashUse::HashesKeys,
        KeyCommand::List { .. } | KeyCommand::Revoke { .. } => KeyHashUse::ChecksOnly,
    };
    let store = open_store(settings, usage).await?;
    let result = run_key_command(settings, &store, command).await;
    store.close().await;
    result
}

async fn run_key_command(
    settings: &Settings,
    store: &Store,
    command: KeyCommand,
) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create {
            merchant,
            kind,
            mode,
            permissions,
            json,
        } => {
            let merchant_id = existing_merchant(store, &merchant).await?;
            let Some(kind) = KeyKind::parse(&kind) else {
                bail!("--kind must be secret, publishable or restricted");
            };
            let Some(mode) = KeyMode::parse(&mode) else {
                bail!("--mode must be test or live");
            };
            let permissions = match permissions {
                Some(_) if kind != KeyKind::Restricted => {
                    bail!("--permissions is only for restricted keys")
                }
                Some(text) => Some(Permissions::parse(&text)?),
                None => None,
            };
            let (record, key) = ApiKeyRecord::issue(
                &merchant_id,
                kind,
                mode,
                permissions,
                &hasher(settings)?,
                now_s(),
            );
            store.insert_api_key(&record).await?;
            tracing::info!(key_id = %record.id, merchant_id = %merchant_id, kind = kind.as_str(), "API key created");
            if json {
                println!(
                    "{}",
                    json!({"id": record.id, "kind": kind.as_str(), "mode": mode.as_str(), "key": key.reveal()})
                );
            } else {
                println!("{}\t{}", record.id, key.reveal());
            }
            Ok(())
        }
        KeyCommand::List { merchant } => {
            let merchant_id = existing_merchant(store, &merchant).await?;
            for key in store.list_api_keys(&merchant_id).await? {
                let state = match key.revoked_at {
                    Some(at) => format!("revoked {at}"),
                    None => "active".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\t{}…\tcreated {}\t{}",
                    key.id,
                    key.kind.as_str(),
                    key.mode.as_str(),
                    key.display_prefix,
                    key.created,
                    state
                );
            }
            Ok(())
        }
        KeyCommand::Revoke { key_id } => {
            let Some(id) = ApiKeyId::parse(&key_id) else {
                bail!("{key_id:?} is not a key id (key_…)");
            };
            if !store.revoke_api_key(&id, now_s()).await? {
                bail!("no key {key_id}");
            }
            tracing::info!(key_id = %id, "API key revoked");
            println!("revoked {id}");
            Ok(())
        }
    }
}

pub(crate) async fn existing_merchant(store: &Store, id: &str) -> anyhow::Result<MerchantId> {
    let known = store
        .list_merchants()
        .await?
        .into_iter()
        .find(|m| m.id.as_str() == id);
    match known {
        Some(merchant) => Ok(merchant.id),
        None => bail!("no merchant {id}"),
    }
}
