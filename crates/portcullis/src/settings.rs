//! Settings, layered: built-in defaults, then an optional TOML file
//! (`--config`), then environment variables, then flags (clap reads both
//! of the last two). Every bound is named with its unit.

use crate::cli::{Cli, Command};
use crate::connections::ConnectionLimits;
use anyhow::{bail, Context};
use portcullis_api::payments::AttemptKind;
use portcullis_api::rate_limits::RateLimitSettings;
use portcullis_api::{ApiSettings, LedgerSettings, PaymentSettings, WebhookSettings};
use portcullis_domain::ids::MerchantId;
use portcullis_ledger::policy::MerchantPolicy;
use portcullis_store::StoreOptions;
use serde::Deserialize;
use std::collections::HashMap;
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
    pub connections: ConnectionLimits,
    pub api: ApiSettings,
    pub store: StoreOptions,
    pub payments: PaymentSettings,
    /// The vault's keyring file (key-encrypting keys and the fingerprint key).
    pub vault_keyring_file: PathBuf,
    /// Simulated latency of each sandbox acquirer call.
    pub sandbox_latency_ms: u64,
    /// How long the sandbox takes to settle refunds that settle later.
    pub sandbox_refund_settle_ms: u64,
    pub webhooks: WebhookSettings,
    pub ledger: LedgerSettings,
    /// The Ed25519 key (PKCS#8, hex) that signs ledger checkpoints.
    pub ledger_signing_key_file: PathBuf,
    /// A MaxMind-format `.mmdb` country (or city) database; without one,
    /// IP countries are unknown.
    pub risk_geoip_file: Option<PathBuf>,
    /// BIN rows (`prefix,country,funding`) added to the shipped table.
    pub risk_bin_file: Option<PathBuf>,
    /// USD rates by currency, micro-dollars per major unit, over the shipped ones.
    pub risk_usd_rates: std::collections::BTreeMap<String, i64>,
    /// The acquirer to call: `None` runs the sandbox in this process;
    /// `http://…` (loopback) calls `portcullis sandbox-acquirer` there.
    pub connector_url: Option<String>,
}

/// The `[ledger]` table: the default merchant policy and overrides by
/// merchant id, e.g. `[ledger.merchants.acct_…] settlement_delay_s = 0`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerFile {
    default: Option<MerchantPolicy>,
    #[serde(default)]
    merchants: HashMap<String, MerchantPolicy>,
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
    webhooks_timeout_ms: Option<u64>,
    webhooks_retry_base_ms: Option<u64>,
    webhooks_retry_cap_ms: Option<u64>,
    webhooks_retry_horizon_s: Option<u64>,
    webhooks_disable_after_s: Option<i64>,
    webhooks_endpoint_concurrency_max: Option<usize>,
    webhooks_in_flight_max: Option<usize>,
    webhooks_poll_interval_ms: Option<u64>,
    webhooks_allow_private_targets: Option<bool>,
    ledger_worker_interval_ms: Option<u64>,
    ledger_signing_key_file: Option<PathBuf>,
    ledger: Option<LedgerFile>,
    risk_geoip_file: Option<PathBuf>,
    risk_bin_file: Option<PathBuf>,
    risk_usd_rates: Option<std::collections::BTreeMap<String, i64>>,
    bench_echo: Option<bool>,
    connector_url: Option<String>,
    connections_max: Option<usize>,
    header_timeout_ms: Option<u64>,
    requests_in_flight_max: Option<usize>,
    request_timeout_ms: Option<u64>,
    body_read_timeout_ms: Option<u64>,
    key_cache_entries_max: Option<usize>,
    key_cache_misses_max: Option<usize>,
    rate_limit_per_key_per_s: Option<u32>,
    rate_limit_per_merchant_per_s: Option<u32>,
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
        let allow_private_flag = serve.is_some_and(|s| s.webhooks_allow_private_targets);
        let webhooks = webhook_settings(&file, allow_private_flag)?;
        let connections = connection_limits(&file)?;
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
            fault_crash_after: test_fault_crash_after()?,
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
            key_cache_entries_max: env_or(
                "PORTCULLIS_KEY_CACHE_ENTRIES_MAX",
                file.key_cache_entries_max,
            )?
            .unwrap_or(defaults.key_cache_entries_max),
            key_cache_misses_max: env_or(
                "PORTCULLIS_KEY_CACHE_MISSES_MAX",
                file.key_cache_misses_max,
            )?
            .unwrap_or(defaults.key_cache_misses_max),
            idempotency_retention_s: file
                .idempotency_retention_s
                .unwrap_or(defaults.idempotency_retention_s),
            bench_echo: file.bench_echo.unwrap_or(false),
            requests_in_flight_max: env_or(
                "PORTCULLIS_REQUESTS_IN_FLIGHT_MAX",
                file.requests_in_flight_max,
            )?
            .unwrap_or(defaults.requests_in_flight_max),
            request_timeout_ms: env_or("PORTCULLIS_REQUEST_TIMEOUT_MS", file.request_timeout_ms)?
                .unwrap_or(defaults.request_timeout_ms),
            body_read_timeout_ms: env_or(
                "PORTCULLIS_BODY_READ_TIMEOUT_MS",
                file.body_read_timeout_ms,
            )?
            .unwrap_or(defaults.body_read_timeout_ms),
            rate_limits: RateLimitSettings {
                per_key_per_s: env_or(
                    "PORTCULLIS_RATE_LIMIT_PER_KEY_PER_S",
                    file.rate_limit_per_key_per_s,
                )?
                .unwrap_or(defaults.rate_limits.per_key_per_s),
                per_merchant_per_s: env_or(
                    "PORTCULLIS_RATE_LIMIT_PER_MERCHANT_PER_S",
                    file.rate_limit_per_merchant_per_s,
                )?
                .unwrap_or(defaults.rate_limits.per_merchant_per_s),
            },
            ..defaults
        };
        check_request_bounds(&api, &payments)?;

        if api.key_cache_ttl_ms > KEY_CACHE_TTL_MS_MAX {
            bail!("key_cache_ttl_ms may be at most {KEY_CACHE_TTL_MS_MAX} so revoked keys stop working within 5 s");
        }
        if api.idempotency_retention_s < IDEMPOTENCY_RETENTION_S_MIN {
            bail!(
                "idempotency_retention_s must be at least {IDEMPOTENCY_RETENTION_S_MIN} (24 hours)"
            );
        }
        let ledger = ledger_settings(
            file.ledger.unwrap_or_default(),
            file.ledger_worker_interval_ms,
        )?;
        let ledger_signing_key_file = std::env::var_os("PORTCULLIS_LEDGER_SIGNING_KEY_FILE")
            .map(PathBuf::from)
            .or(file.ledger_signing_key_file)
            .unwrap_or_else(|| data_dir.join("ledger-signing-key"));
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
            webhooks,
            ledger,
            ledger_signing_key_file,
            connector_url,
            payments,
            vault_keyring_file,
            risk_geoip_file: std::env::var_os("PORTCULLIS_RISK_GEOIP_FILE")
                .map(PathBuf::from)
                .or(file.risk_geoip_file),
            risk_bin_file: file.risk_bin_file,
            risk_usd_rates: file.risk_usd_rates.unwrap_or_default(),
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
            connections,
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

/// The open-connection cap and the header timeout: defaults, the file,
/// then the environment.
fn connection_limits(file: &FileSettings) -> anyhow::Result<ConnectionLimits> {
    let d = ConnectionLimits::default();
    let limits = ConnectionLimits {
        connections_max: env_or("PORTCULLIS_CONNECTIONS_MAX", file.connections_max)?
            .unwrap_or(d.connections_max),
        header_timeout_ms: env_or("PORTCULLIS_HEADER_TIMEOUT_MS", file.header_timeout_ms)?
            .unwrap_or(d.header_timeout_ms),
    };
    if limits.connections_max == 0 || limits.header_timeout_ms == 0 {
        bail!("connections_max and header_timeout_ms must be positive");
    }
    Ok(limits)
}

/// A request must be allowed to outlast its body and a connector call, or
/// the per-request timeout would cut payments the acquirer is answering.
fn check_request_bounds(api: &ApiSettings, payments: &PaymentSettings) -> anyhow::Result<()> {
    if api.requests_in_flight_max == 0 || api.body_read_timeout_ms == 0 {
        bail!("requests_in_flight_max and body_read_timeout_ms must be positive");
    }
    if api.rate_limits.per_key_per_s == 0 || api.rate_limits.per_merchant_per_s == 0 {
        bail!("rate_limit_per_key_per_s and rate_limit_per_merchant_per_s must be positive");
    }
    if api.request_timeout_ms <= payments.connector_timeout_ms
        || api.request_timeout_ms <= api.body_read_timeout_ms
    {
        bail!("request_timeout_ms must exceed connector_timeout_ms and body_read_timeout_ms");
    }
    Ok(())
}

/// A test fault, settable only from the environment and only for tests:
/// `PORTCULLIS_TEST_FAULT_CRASH_AFTER=authorize|capture|void` aborts the
/// process between that connector call's answer and its phase-two commit.
fn test_fault_crash_after() -> anyhow::Result<Option<AttemptKind>> {
    let Ok(text) = std::env::var("PORTCULLIS_TEST_FAULT_CRASH_AFTER") else {
        return Ok(None);
    };
    Ok(Some(match text.as_str() {
        "authorize" => AttemptKind::Authorize,
        "capture" => AttemptKind::Capture,
        "void" => AttemptKind::Void,
        other => bail!("PORTCULLIS_TEST_FAULT_CRASH_AFTER={other:?}: authorize, capture or void"),
    }))
}

/// Most webhook attempts one process may have in flight.
const WEBHOOKS_IN_FLIGHT_MAX: usize = 256;
/// Longest timeout a webhook attempt may be given.
const WEBHOOKS_TIMEOUT_MS_MAX: u64 = 60_000;

/// The webhook settings: defaults, then the file, then the environment,
/// then `--webhooks-allow-private-targets`.
fn webhook_settings(
    file: &FileSettings,
    allow_private_flag: bool,
) -> anyhow::Result<WebhookSettings> {
    let d = WebhookSettings::default();
    let horizon_s = env_or(
        "PORTCULLIS_WEBHOOKS_RETRY_HORIZON_S",
        file.webhooks_retry_horizon_s,
    )?
    .unwrap_or(d.retry_horizon_s);
    let settings = WebhookSettings {
        timeout_ms: env_or("PORTCULLIS_WEBHOOKS_TIMEOUT_MS", file.webhooks_timeout_ms)?
            .unwrap_or(d.timeout_ms),
        retry_base_ms: env_or(
            "PORTCULLIS_WEBHOOKS_RETRY_BASE_MS",
            file.webhooks_retry_base_ms,
        )?
        .unwrap_or(d.retry_base_ms),
        retry_cap_ms: env_or(
            "PORTCULLIS_WEBHOOKS_RETRY_CAP_MS",
            file.webhooks_retry_cap_ms,
        )?
        .unwrap_or(d.retry_cap_ms)
        .min(horizon_s.saturating_mul(1000)),
        retry_horizon_s: horizon_s,
        disable_after_s: env_or(
            "PORTCULLIS_WEBHOOKS_DISABLE_AFTER_S",
            file.webhooks_disable_after_s,
        )?
        .unwrap_or(d.disable_after_s),
        endpoint_concurrency_max: file
            .webhooks_endpoint_concurrency_max
            .unwrap_or(d.endpoint_concurrency_max),
        in_flight_max: file.webhooks_in_flight_max.unwrap_or(d.in_flight_max),
        poll_interval_ms: env_or(
            "PORTCULLIS_WEBHOOKS_POLL_INTERVAL_MS",
            file.webhooks_poll_interval_ms,
        )?
        .unwrap_or(d.poll_interval_ms),
        allow_private_targets: allow_private_flag
            || env_or(
                "PORTCULLIS_WEBHOOKS_ALLOW_PRIVATE_TARGETS",
                file.webhooks_allow_private_targets,
            )?
            .unwrap_or(d.allow_private_targets),
    };
    if !(1..=WEBHOOKS_TIMEOUT_MS_MAX).contains(&settings.timeout_ms) {
        bail!("webhooks_timeout_ms must be between 1 and {WEBHOOKS_TIMEOUT_MS_MAX}");
    }
    if !(1..=WEBHOOKS_IN_FLIGHT_MAX).contains(&settings.in_flight_max) {
        bail!("webhooks_in_flight_max must be between 1 and {WEBHOOKS_IN_FLIGHT_MAX}");
    }
    if settings.endpoint_concurrency_max == 0
        || settings.retry_base_ms == 0
        || settings.retry_horizon_s == 0
    {
        bail!("webhooks_endpoint_concurrency_max, webhooks_retry_base_ms and webhooks_retry_horizon_s must be positive");
    }
    if settings.disable_after_s < 1 || settings.poll_interval_ms == 0 {
        bail!("webhooks_disable_after_s and webhooks_poll_interval_ms must be positive");
    }
    Ok(settings)
}

/// The environment variable `name` parsed, else the file's value.
fn env_or<T: std::str::FromStr>(name: &str, file_value: Option<T>) -> anyhow::Result<Option<T>> {
    match std::env::var(name) {
        Ok(text) => match text.trim().parse::<T>() {
            Ok(value) => Ok(Some(value)),
            Err(_) => bail!("{name}={text:?} is not a valid value"),
        },
        Err(_) => Ok(file_value),
    }
}

/// The ledger settings: the `[ledger]` table's policies, checked.
fn ledger_settings(
    file: LedgerFile,
    worker_interval_ms: Option<u64>,
) -> anyhow::Result<LedgerSettings> {
    let defaults = LedgerSettings::default();
    let default_policy = file.default.unwrap_or(defaults.default_policy);
    let mut merchant_policies = HashMap::new();
    for (id, policy) in file.merchants {
        let merchant = MerchantId::parse(&id)
            .with_context(|| format!("[ledger.merchants.{id}]: not a merchant id (acct_…)"))?;
        merchant_policies.insert(merchant, policy);
    }
    for policy in std::iter::once(&default_policy).chain(merchant_policies.values()) {
        if policy.settlement_delay_s < 0 || policy.payout_delay_s < 0 {
            bail!("ledger settlement_delay_s and payout_delay_s must not be negative");
        }
        if policy.dispute_fees.iter().any(|fee| fee.amount_minor < 0) {
            bail!("ledger dispute fees must not be negative");
        }
    }
    Ok(LedgerSettings {
        default_policy,
        merchant_policies,
        worker_interval_ms: worker_interval_ms
            .unwrap_or(defaults.worker_interval_ms)
            .max(1),
    })
}
