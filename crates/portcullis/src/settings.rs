//! Settings, layered: built-in defaults, then an optional TOML file
//! (`--config`), then environment variables, then flags (clap reads both
//! of the last two). Every bound is named with its unit.

use crate::cli::{Cli, Command};
use anyhow::{bail, Context};
use portcullis_api::{ApiSettings, PaymentSettings};
use portcullis_store::StoreOptions;
use serde::Deserialize;
use std::path::PathBuf;

pub const LISTEN_DEFAULT: &str = "127.0.0.1:8080";
pub const DATA_DIR_DEFAULT: &str = "./portcullis-data";
/// Longest any API key in the cache is trusted; revocation must bite in 5 s.
const KEY_CACHE_TTL_MS_MAX: u64 = 4_000;
/// Shortest idempotency retention allowed: api-contract.md's 24 hours.
const IDEMPOTENCY_RETENTION_S_MIN: i64 = 24 * 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug)]
pub struct Settings {
    pub listen: String,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Hex of the API-key hashing secret, when configured rather than kept
    /// in the data directory.
    pub key_hash_secret_hex: Option<String>,
    pub shutdown_grace_s: u64,
    pub api: ApiSettings,
    pub store: StoreOptions,
    pub payments: PaymentSettings,
    /// The vault's keyring file (key-encrypting keys and the fingerprint key).
    pub vault_keyring_file: PathBuf,
    /// Simulated latency of each sandbox acquirer call.
    pub sandbox_latency_ms: u64,
    /// How long the sandbox takes to settle refunds that settle later.
    pub sandbox_refund_settle_ms: u64,
    /// The acquirer to call: `None` runs the sandbox in this process;
    /// `http://…` (loopback) calls `portcullis sandbox-acquirer` there.
    pub connector_url: Option<String>,
}

/// The TOML file's keys; all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    log_format: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    key_hash_secret: Option<String>,
    shutdown_grace_s: Option<u64>,
    body_bytes_max: Option<usize>,
    key_cache_ttl_ms: Option<u64>,
    idempotency_retention_s: Option<i64>,
    sqlite_write_batch_max: Option<usize>,
    sqlite_readers: Option<usize>,
    postgres_pool_size: Option<usize>,
    public_url: Option<String>,
    idempotency_lease_s: Option<i64>,
    vault_keyring_file: Option<PathBuf>,
    connector_timeout_ms: Option<u64>,
    attempt_stale_ms: Option<u64>,
    recovery_interval_ms: Option<u64>,
    refund_settle_window_ms: Option<u64>,
    sandbox_latency_ms: Option<u64>,
    sandbox_refund_settle_ms: Option<u64>,
    bench_echo: Option<bool>,
    connector_url: Option<String>,
}

impl Settings {
    pub fn load(cli: &Cli) -> anyhow::Result<Self> {
        let file = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileSettings>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileSettings::default(),
        };
        let serve = match &cli.command {
            Some(Command::Serve(args)) => Some(args),
            _ => None,
        };
        let data_dir = cli
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DATA_DIR_DEFAULT));
        let database_url = cli
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("portcullis.db").display()));
        let log_format = match cli
            .log_format
            .as_deref()
            .or(file.log_format.as_deref())
            .unwrap_or("text")
        {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => bail!("log format must be text or json, not {other:?}"),
        };
        let tls_cert = serve.and_then(|s| s.tls_cert.clone()).or(file.tls_cert);
        let tls_key = serve.and_then(|s| s.tls_key.clone()).or(file.tls_key);
        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!("--tls-cert and --tls-key go together"),
        };
        let payment_defaults = PaymentSettings::default();
        let payments = PaymentSettings {
            connector_timeout_ms: file
                .connector_timeout_ms
                .unwrap_or(payment_defaults.connector_timeout_ms),
            attempt_stale_ms: file
                .attempt_stale_ms
                .unwrap_or(payment_defaults.attempt_stale_ms),
            recovery_interval_ms: file
                .recovery_interval_ms
                .unwrap_or(payment_defaults.recovery_interval_ms),
            refund_settle_window_ms: file
                .refund_settle_window_ms
                .unwrap_or(payment_defaults.refund_settle_window_ms),
            // A test fault, settable only from the environment and only for tests.
            fault_crash_after_authorize: std::env::var(
                "PORTCULLIS_TEST_FAULT_CRASH_AFTER_AUTHORIZE",
            )
            .as_deref()
                == Ok("1"),
        };
        if payments.attempt_stale_ms <= payments.connector_timeout_ms {
            bail!("attempt_stale_ms must exceed connector_timeout_ms, or recovery could settle an attempt whose answer is still coming");
        }
        let defaults = ApiSettings::default();
        let api = ApiSettings {
            public_url: file
                .public_url
                .or_else(|| std::env::var("PORTCULLIS_PUBLIC_URL").ok()),
            idempotency_lease_s: file
                .idempotency_lease_s
                .unwrap_or(defaults.idempotency_lease_s),
            body_bytes_max: file.body_bytes_max.unwrap_or(defaults.body_bytes_max),
            key_cache_ttl_ms: file.key_cache_ttl_ms.unwrap_or(defaults.key_cache_ttl_ms),
            idempotency_retention_s: file
                .idempotency_retention_s
                .unwrap_or(defaults.idempotency_retention_s),
            bench_echo: file.bench_echo.unwrap_or(false),
            ..defaults
        };
        if api.key_cache_ttl_ms > KEY_CACHE_TTL_MS_MAX {
            bail!("key_cache_ttl_ms may be at most {KEY_CACHE_TTL_MS_MAX} so revoked keys stop working within 5 s");
        }
        if api.idempotency_retention_s < IDEMPOTENCY_RETENTION_S_MIN {
            bail!(
                "idempotency_retention_s must be at least {IDEMPOTENCY_RETENTION_S_MIN} (24 hours)"
            );
        }
        let store_defaults = StoreOptions::default();
        let vault_keyring_file = std::env::var_os("PORTCULLIS_VAULT_KEYRING_FILE")
            .map(PathBuf::from)
            .or(file.vault_keyring_file)
            .unwrap_or_else(|| data_dir.join("vault-keyring"));
        let connector_url = std::env::var("PORTCULLIS_CONNECTOR_URL")
            .ok()
            .or(file.connector_url);
        if let Some(url) = &connector_url {
            if !url.starts_with("http://127.0.0.1:") && !url.starts_with("http://localhost:") {
                bail!("connector_url must be http://127.0.0.1:PORT or http://localhost:PORT (the sandbox acquirer on this machine)");
            }
        }
        Ok(Self {
            connector_url,
            payments,
            vault_keyring_file,
            sandbox_latency_ms: file.sandbox_latency_ms.unwrap_or(0),
            sandbox_refund_settle_ms: file.sandbox_refund_settle_ms.unwrap_or(2_000),
            listen: serve
                .and_then(|s| s.listen.clone())
                .or(file.listen)
                .unwrap_or_else(|| LISTEN_DEFAULT.to_owned()),
            database_url,
            data_dir,
            log_format,
            tls,
            key_hash_secret_hex: std::env::var("PORTCULLIS_KEY_HASH_SECRET")
                .ok()
                .or(file.key_hash_secret),
            shutdown_grace_s: file.shutdown_grace_s.unwrap_or(30),
            api,
            store: StoreOptions {
                sqlite_write_batch_max: file
                    .sqlite_write_batch_max
                    .unwrap_or(store_defaults.sqlite_write_batch_max),
                sqlite_readers: file.sqlite_readers.unwrap_or(store_defaults.sqlite_readers),
                postgres_pool_size: file
                    .postgres_pool_size
                    .unwrap_or(store_defaults.postgres_pool_size),
            },
        })
    }
}
