//! Settings, layered by one rule for every key: a flag, else the
//! environment variable `PORTCULLIS_<KEY>` (the key in capitals), else the
//! TOML file (`--config`), else the built-in default. Every bound is named
//! with its unit. `portcullis config example` prints every key
//! (`config_example.toml`).

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
/// Longest a merchant's routing rules and accounts are used once read.
const ROUTING_CACHE_TTL_MS_MAX: u64 = 10_000;
/// Longest a merchant's risk rules are used once read.
const RISK_RULES_CACHE_TTL_MS_MAX: u64 = 5_000;
/// Shortest idempotency retention allowed: api-contract.md's 24 hours.
const IDEMPOTENCY_RETENTION_S_MIN: i64 = 24 * 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Attempts the built-in sandbox remembers by default: enough for every
/// capture, refund and crash-recovery question about the last hours of a
/// test gateway, and about 20 MB at most (issue 18: memory must not grow
/// with the payments served).
pub const SANDBOX_ATTEMPTS_MAX_DEFAULT: u64 = 20_000;
/// The largest `sandbox_attempts_max` accepted.
const SANDBOX_ATTEMPTS_MAX_LIMIT: u64 = 10_000_000;

#[derive(Debug)]
pub struct Settings {
    pub listen: String,
    /// Where `GET /metrics` is served: `None` on the API listener, to
    /// loopback clients only; an address, on a listener of its own.
    pub metrics_listen: Option<String>,
    /// Where terminals connect over ISO 8583; `None`: no terminal listener.
    pub iso8583_listen: Option<String>,
    /// The terminal listener's message layout (`default` or
    /// `default_ascii`) and length prefix (`binary2` or `ascii4`).
    pub iso8583_listen_wire: portcullis_api::terminals::Wire,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Create the PostgreSQL database if the server says it does not exist
    /// (`serve --create-database`, `migrate --create-database`).
    pub create_database: bool,
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
    /// The keyring itself, when given by `vault_keyring`
    /// (`PORTCULLIS_VAULT_KEYRING`) instead of a file.
    pub vault_keyring: Option<crate::vault_admin::KeyringText>,
    /// Simulated latency of each sandbox acquirer call.
    pub sandbox_latency_ms: u64,
    /// How long the sandbox takes to settle refunds that settle later.
    pub sandbox_refund_settle_ms: u64,
    /// How many attempts the built-in sandbox remembers (the oldest is
    /// forgotten first): the bound on its memory, about 1 KB per attempt.
    pub sandbox_attempts_max: usize,
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
    /// `[connectors.<name>]`: acquirers chosen per merchant.
    pub acquirers: Vec<crate::acquirers::AcquirerSettings>,
}

/// The `[ledger]` table: the default merchant policy and overrides by
/// merchant id, e.g. `[ledger.merchants.acct_…] settlement_delay_s = 0`.
/// A merchant's table keeps every key of the default it does not name; its
/// `fees` rules come before the default's (the most specific matching rule
/// decides, the merchant's first among equals), so the default fees still
/// apply where none of the merchant's match.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerFile {
    default: Option<MerchantPolicy>,
    #[serde(default)]
    merchants: HashMap<String, toml::Table>,
}

/// The TOML file's keys; all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    metrics_listen: Option<String>,
    iso8583_listen: Option<String>,
    iso8583_listen_profile: Option<String>,
    iso8583_listen_framing: Option<String>,
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
    trusted_proxies: Option<Vec<String>>,
    idempotency_lease_s: Option<i64>,
    vault_keyring_file: Option<PathBuf>,
    vault_keyring: Option<String>,
    connector_timeout_ms: Option<u64>,
    attempt_stale_ms: Option<u64>,
    recovery_interval_ms: Option<u64>,
    refund_settle_window_ms: Option<u64>,
    routing_exploration_percent: Option<u8>,
    routing_success_window_s: Option<u64>,
    routing_cache_ttl_ms: Option<u64>,
    risk_rules_cache_ttl_ms: Option<u64>,
    sandbox_latency_ms: Option<u64>,
    sandbox_refund_settle_ms: Option<u64>,
    sandbox_attempts_max: Option<u64>,
    webhooks_timeout_ms: Option<u64>,
    webhooks_retry_base_ms: Option<u64>,
    webhooks_retry_cap_ms: Option<u64>,
    webhooks_retry_horizon_s: Option<u64>,
    webhooks_disable_after_s: Option<i64>,
    webhooks_endpoint_concurrency_max: Option<usize>,
    webhooks_in_flight_max: Option<usize>,
    webhooks_poll_interval_ms: Option<u64>,
    webhooks_allow_private_targets: Option<bool>,
    connectors_allow_private_endpoints: Option<bool>,
    ledger_worker_interval_ms: Option<u64>,
    ledger_signing_key_file: Option<PathBuf>,
    ledger: Option<LedgerFile>,
    risk_geoip_file: Option<PathBuf>,
    risk_bin_file: Option<PathBuf>,
    risk_usd_rates: Option<std::collections::BTreeMap<String, i64>>,
    bench_echo: Option<bool>,
    connector_url: Option<String>,
    connectors: Option<std::collections::BTreeMap<String, crate::acquirers::ConnectorFile>>,
    connections_max: Option<usize>,
    header_timeout_ms: Option<u64>,
    requests_in_flight_max: Option<usize>,
    request_timeout_ms: Option<u64>,
    body_read_timeout_ms: Option<u64>,
    key_cache_entries_max: Option<usize>,
    key_cache_misses_max: Option<usize>,
    rate_limit_per_key_per_s: Option<u32>,
    rate_limit_per_merchant_per_s: Option<u32>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    smtp_timeout_ms: Option<u64>,
    accounts_lockout_failures_max: Option<u32>,
    accounts_lockout_s: Option<i64>,
    accounts_ip_failures_per_hour_max: Option<u32>,
    accounts_session_ttl_s: Option<i64>,
    accounts_sessions_per_account_max: Option<usize>,
    accounts_step_up_s: Option<i64>,
    accounts_balance_step_up_above: Option<i64>,
    accounts_balance_step_up_expires_s: Option<i64>,
}

/// The settings file every key documented, printed by `portcullis config example`.
pub const CONFIG_EXAMPLE: &str = include_str!("config_example.toml");

/// How an environment variable's text becomes a file value.
#[derive(Clone, Copy)]
enum KeyKind {
    Text,
    Integer,
    Boolean,
}

/// Every scalar key of the settings file, each also read from
/// `PORTCULLIS_<KEY>`; the tables (`[ledger…]`, `[risk_usd_rates]`) are file-only.
const SCALAR_KEYS: &[(&str, KeyKind)] = {
    use KeyKind::{Boolean as B, Integer as I, Text as T};
    &[
        ("listen", T),
        ("metrics_listen", T),
        ("iso8583_listen", T),
        ("iso8583_listen_profile", T),
        ("iso8583_listen_framing", T),
        ("database_url", T),
        ("data_dir", T),
        ("log_format", T),
        ("tls_cert", T),
        ("tls_key", T),
        ("key_hash_secret", T),
        ("shutdown_grace_s", I),
        ("body_bytes_max", I),
        ("key_cache_ttl_ms", I),
        ("idempotency_retention_s", I),
        ("sqlite_write_batch_max", I),
        ("sqlite_readers", I),
        ("postgres_pool_size", I),
        ("public_url", T),
        ("idempotency_lease_s", I),
        ("vault_keyring_file", T),
        ("vault_keyring", T),
        ("connector_timeout_ms", I),
        ("attempt_stale_ms", I),
        ("recovery_interval_ms", I),
        ("refund_settle_window_ms", I),
        ("routing_exploration_percent", I),
        ("routing_success_window_s", I),
        ("routing_cache_ttl_ms", I),
        ("risk_rules_cache_ttl_ms", I),
        ("sandbox_latency_ms", I),
        ("sandbox_refund_settle_ms", I),
        ("sandbox_attempts_max", I),
        ("webhooks_timeout_ms", I),
        ("webhooks_retry_base_ms", I),
        ("webhooks_retry_cap_ms", I),
        ("webhooks_retry_horizon_s", I),
        ("webhooks_disable_after_s", I),
        ("webhooks_endpoint_concurrency_max", I),
        ("webhooks_in_flight_max", I),
        ("webhooks_poll_interval_ms", I),
        ("webhooks_allow_private_targets", B),
        ("connectors_allow_private_endpoints", B),
        ("ledger_worker_interval_ms", I),
        ("ledger_signing_key_file", T),
        ("risk_geoip_file", T),
        ("risk_bin_file", T),
        ("bench_echo", B),
        ("connector_url", T),
        ("connections_max", I),
        ("header_timeout_ms", I),
        ("requests_in_flight_max", I),
        ("request_timeout_ms", I),
        ("body_read_timeout_ms", I),
        ("key_cache_entries_max", I),
        ("key_cache_misses_max", I),
        ("rate_limit_per_key_per_s", I),
        ("rate_limit_per_merchant_per_s", I),
        ("smtp_url", T),
        ("smtp_from", T),
        ("smtp_timeout_ms", I),
        ("accounts_lockout_failures_max", I),
        ("accounts_lockout_s", I),
        ("accounts_ip_failures_per_hour_max", I),
        ("accounts_session_ttl_s", I),
        ("accounts_sessions_per_account_max", I),
        ("accounts_step_up_s", I),
        ("accounts_balance_step_up_above", I),
        ("accounts_balance_step_up_expires_s", I),
    ]
};

/// The settings file's table with every `PORTCULLIS_<KEY>` laid over it.
fn file_with_environment(
    path: Option<&std::path::Path>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<FileSettings> {
    let mut table = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the settings file {}", path.display()))?;
            text.parse::<toml::Table>()
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => toml::Table::new(),
    };
    for (key, kind) in SCALAR_KEYS {
        let name = format!("PORTCULLIS_{}", key.to_ascii_uppercase());
        let Some(text) = env(&name) else { continue };
        let value = match kind {
            KeyKind::Text => toml::Value::String(text),
            KeyKind::Integer => toml::Value::Integer(
                text.trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{name}={text:?} is not a whole number"))?,
            ),
            KeyKind::Boolean => toml::Value::Boolean(match text.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => bail!("{name}={text:?}: true or false"),
            }),
        };
        table.insert((*key).to_owned(), value);
    }
    let context = match path {
        Some(path) => format!("in {} or the PORTCULLIS_* environment", path.display()),
        None => "in the PORTCULLIS_* environment".to_owned(),
    };
    FileSettings::deserialize(table).context(context)
}

impl Settings {
    pub fn load(cli: &Cli) -> anyhow::Result<Self> {
        let file = file_with_environment(cli.config.as_deref(), |name| std::env::var(name).ok())?;
        let serve = cli.serve_args();
        let allow_private_flag = serve.is_some_and(|s| s.webhooks_allow_private_targets);
        let webhooks = webhook_settings(&file, allow_private_flag)?;
        let accounts = account_settings(&file)?;
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
            routing_exploration_percent: file
                .routing_exploration_percent
                .unwrap_or(payment_defaults.routing_exploration_percent),
            routing_success_window_s: file
                .routing_success_window_s
                .unwrap_or(payment_defaults.routing_success_window_s),
            fault_crash_after: test_fault_crash_after()?,
        };
        if payments.routing_exploration_percent > 100 {
            bail!("routing_exploration_percent is a percentage, 0-100");
        }
        if !(10..=86_400).contains(&payments.routing_success_window_s) {
            bail!("routing_success_window_s must be between 10 and 86400");
        }
        if payments.attempt_stale_ms <= payments.connector_timeout_ms {
            bail!("attempt_stale_ms must exceed connector_timeout_ms, or recovery could settle an attempt whose answer is still coming");
        }
        let defaults = ApiSettings::default();
        let mut api = ApiSettings {
            public_url: file.public_url,
            idempotency_lease_s: file
                .idempotency_lease_s
                .unwrap_or(defaults.idempotency_lease_s),
            body_bytes_max: file.body_bytes_max.unwrap_or(defaults.body_bytes_max),
            key_cache_ttl_ms: file.key_cache_ttl_ms.unwrap_or(defaults.key_cache_ttl_ms),
            routing_cache_ttl_ms: file
                .routing_cache_ttl_ms
                .unwrap_or(defaults.routing_cache_ttl_ms),
            risk_rules_cache_ttl_ms: file
                .risk_rules_cache_ttl_ms
                .unwrap_or(defaults.risk_rules_cache_ttl_ms),
            key_cache_entries_max: file
                .key_cache_entries_max
                .unwrap_or(defaults.key_cache_entries_max),
            key_cache_misses_max: file
                .key_cache_misses_max
                .unwrap_or(defaults.key_cache_misses_max),
            idempotency_retention_s: file
                .idempotency_retention_s
                .unwrap_or(defaults.idempotency_retention_s),
            bench_echo: file.bench_echo.unwrap_or(false),
            trusted_proxies: trusted_proxies(file.trusted_proxies)?,
            tls: tls.is_some(),
            connectors_allow_private_endpoints: serve
                .is_some_and(|s| s.connectors_allow_private_endpoints)
                || file
                    .connectors_allow_private_endpoints
                    .unwrap_or(defaults.connectors_allow_private_endpoints),
            requests_in_flight_max: file
                .requests_in_flight_max
                .unwrap_or(defaults.requests_in_flight_max),
            request_timeout_ms: file
                .request_timeout_ms
                .unwrap_or(defaults.request_timeout_ms),
            body_read_timeout_ms: file
                .body_read_timeout_ms
                .unwrap_or(defaults.body_read_timeout_ms),
            rate_limits: RateLimitSettings {
                per_key_per_s: file
                    .rate_limit_per_key_per_s
                    .unwrap_or(defaults.rate_limits.per_key_per_s),
                per_merchant_per_s: file
                    .rate_limit_per_merchant_per_s
                    .unwrap_or(defaults.rate_limits.per_merchant_per_s),
            },
            ..defaults
        };
        // Set apart so `..defaults` keeps covering keys added later.
        api.accounts = accounts;
        check_request_bounds(&api, &payments)?;

        if api.key_cache_ttl_ms > KEY_CACHE_TTL_MS_MAX {
            bail!("key_cache_ttl_ms may be at most {KEY_CACHE_TTL_MS_MAX} so revoked keys stop working within 5 s");
        }
        if api.routing_cache_ttl_ms > ROUTING_CACHE_TTL_MS_MAX {
            bail!("routing_cache_ttl_ms may be at most {ROUTING_CACHE_TTL_MS_MAX} so a routing change reaches every instance within 10 s");
        }
        if api.risk_rules_cache_ttl_ms > RISK_RULES_CACHE_TTL_MS_MAX {
            bail!("risk_rules_cache_ttl_ms may be at most {RISK_RULES_CACHE_TTL_MS_MAX} so a risk rule change reaches every instance within 5 s");
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
        let ledger_signing_key_file = file
            .ledger_signing_key_file
            .unwrap_or_else(|| data_dir.join("ledger-signing-key"));
        let store_defaults = StoreOptions::default();
        if file.vault_keyring.is_some() && file.vault_keyring_file.is_some() {
            bail!("set vault_keyring (PORTCULLIS_VAULT_KEYRING) or vault_keyring_file (PORTCULLIS_VAULT_KEYRING_FILE), not both");
        }
        let vault_keyring = file.vault_keyring.map(crate::vault_admin::KeyringText::new);
        let vault_keyring_file = file
            .vault_keyring_file
            .unwrap_or_else(|| data_dir.join("vault-keyring"));
        let connector_url = file.connector_url;
        if let Some(url) = &connector_url {
            if !url.starts_with("http://127.0.0.1:") && !url.starts_with("http://localhost:") {
                bail!("connector_url must be http://127.0.0.1:PORT or http://localhost:PORT (the sandbox acquirer on this machine)");
            }
        }
        let iso8583_listen_wire = terminal_wire(
            serve
                .and_then(|s| s.iso8583_listen_profile.as_deref())
                .or(file.iso8583_listen_profile.as_deref()),
            serve
                .and_then(|s| s.iso8583_listen_framing.as_deref())
                .or(file.iso8583_listen_framing.as_deref()),
        )?;
        let sandbox_attempts_max = sandbox_attempts_max(file.sandbox_attempts_max)?;
        let acquirers = crate::acquirers::parse(
            file.connectors.unwrap_or_default(),
            payments.connector_timeout_ms,
        )?;
        Ok(Self {
            acquirers,
            webhooks,
            ledger,
            ledger_signing_key_file,
            connector_url,
            payments,
            vault_keyring_file,
            vault_keyring,
            risk_geoip_file: file.risk_geoip_file,
            risk_bin_file: file.risk_bin_file,
            risk_usd_rates: file.risk_usd_rates.unwrap_or_default(),
            sandbox_latency_ms: file.sandbox_latency_ms.unwrap_or(0),
            sandbox_refund_settle_ms: file.sandbox_refund_settle_ms.unwrap_or(2_000),
            sandbox_attempts_max,
            metrics_listen: serve
                .and_then(|s| s.metrics_listen.clone())
                .or(file.metrics_listen),
            iso8583_listen: serve
                .and_then(|s| s.iso8583_listen.clone())
                .or(file.iso8583_listen),
            iso8583_listen_wire,
            listen: serve
                .and_then(|s| s.listen.clone())
                .or(file.listen)
                .unwrap_or_else(|| LISTEN_DEFAULT.to_owned()),
            create_database: serve.is_some_and(|s| s.create_database)
                || matches!(&cli.command, Some(Command::Migrate(m)) if m.create_database),
            database_url,
            data_dir,
            log_format,
            tls,
            key_hash_secret_hex: file.key_hash_secret,
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

/// The terminal listener's wire: pyiso8583's `default` profile with a
/// 2-byte length unless `iso8583_listen_profile` / `iso8583_listen_framing`
/// say otherwise.
/// `sandbox_attempts_max`, or its default, within its bounds.
fn sandbox_attempts_max(from_file: Option<u64>) -> anyhow::Result<usize> {
    let attempts_max = from_file.unwrap_or(SANDBOX_ATTEMPTS_MAX_DEFAULT);
    if !(1..=SANDBOX_ATTEMPTS_MAX_LIMIT).contains(&attempts_max) {
        bail!("sandbox_attempts_max must be between 1 and {SANDBOX_ATTEMPTS_MAX_LIMIT}");
    }
    Ok(attempts_max as usize)
}

fn terminal_wire(
    profile: Option<&str>,
    framing: Option<&str>,
) -> anyhow::Result<portcullis_api::terminals::Wire> {
    use portcullis_iso8583::{Framing, Profile};
    let profile = match profile {
        None => Profile::Default,
        Some(name) => Profile::parse(name).with_context(|| {
            format!("iso8583_listen_profile must be default or default_ascii, not {name:?}")
        })?,
    };
    let framing = match framing {
        None => Framing::Binary2,
        Some(name) => Framing::parse(name).with_context(|| {
            format!("iso8583_listen_framing must be binary2 or ascii4, not {name:?}")
        })?,
    };
    Ok(portcullis_api::terminals::Wire { profile, framing })
}

/// The open-connection cap and the header timeout: defaults, the file,
/// then the environment.
fn connection_limits(file: &FileSettings) -> anyhow::Result<ConnectionLimits> {
    let d = ConnectionLimits::default();
    let limits = ConnectionLimits {
        connections_max: file.connections_max.unwrap_or(d.connections_max),
        header_timeout_ms: file.header_timeout_ms.unwrap_or(d.header_timeout_ms),
    };
    if limits.connections_max == 0 || limits.header_timeout_ms == 0 {
        bail!("connections_max and header_timeout_ms must be positive");
    }
    Ok(limits)
}

/// A request must be allowed to outlast its body and a connector call, or
/// the per-request timeout would cut payments the acquirer is answering.
/// The customer accounts' keys over their defaults, checked.
fn account_settings(
    file: &FileSettings,
) -> anyhow::Result<portcullis_api::accounts::AccountSettings> {
    let defaults = portcullis_api::accounts::AccountSettings::default();
    let settings = portcullis_api::accounts::AccountSettings {
        smtp_url: file.smtp_url.clone(),
        smtp_from: file.smtp_from.clone().unwrap_or(defaults.smtp_from),
        smtp_timeout_ms: file.smtp_timeout_ms.unwrap_or(defaults.smtp_timeout_ms),
        lockout: portcullis_domain::accounts::Lockout {
            failures_max: file
                .accounts_lockout_failures_max
                .unwrap_or(defaults.lockout.failures_max),
            duration_s: file
                .accounts_lockout_s
                .unwrap_or(defaults.lockout.duration_s),
        },
        ip_failures_per_hour_max: file
            .accounts_ip_failures_per_hour_max
            .unwrap_or(defaults.ip_failures_per_hour_max),
        session_ttl_s: file
            .accounts_session_ttl_s
            .unwrap_or(defaults.session_ttl_s),
        sessions_per_account_max: file
            .accounts_sessions_per_account_max
            .unwrap_or(defaults.sessions_per_account_max),
        step_up: portcullis_domain::accounts::StepUp {
            grant_s: file.accounts_step_up_s.unwrap_or(defaults.step_up.grant_s),
        },
        balance_step_up_above: file.accounts_balance_step_up_above,
        balance_step_up_expires_s: file
            .accounts_balance_step_up_expires_s
            .unwrap_or(defaults.balance_step_up_expires_s),
    };
    settings.check().map_err(anyhow::Error::msg)?;
    Ok(settings)
}

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

/// The webhook settings: defaults, then the file and environment, then
/// `--webhooks-allow-private-targets`.
fn webhook_settings(
    file: &FileSettings,
    allow_private_flag: bool,
) -> anyhow::Result<WebhookSettings> {
    let d = WebhookSettings::default();
    let horizon_s = file.webhooks_retry_horizon_s.unwrap_or(d.retry_horizon_s);
    let settings = WebhookSettings {
        timeout_ms: file.webhooks_timeout_ms.unwrap_or(d.timeout_ms),
        retry_base_ms: file.webhooks_retry_base_ms.unwrap_or(d.retry_base_ms),
        retry_cap_ms: file
            .webhooks_retry_cap_ms
            .unwrap_or(d.retry_cap_ms)
            .min(horizon_s.saturating_mul(1000)),
        retry_horizon_s: horizon_s,
        disable_after_s: file.webhooks_disable_after_s.unwrap_or(d.disable_after_s),
        endpoint_concurrency_max: file
            .webhooks_endpoint_concurrency_max
            .unwrap_or(d.endpoint_concurrency_max),
        in_flight_max: file.webhooks_in_flight_max.unwrap_or(d.in_flight_max),
        poll_interval_ms: file.webhooks_poll_interval_ms.unwrap_or(d.poll_interval_ms),
        allow_private_targets: allow_private_flag
            || file
                .webhooks_allow_private_targets
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

/// A merchant's policy: the default's keys, replaced by those `overrides`
/// names, except `fees`, whose rules go before the default's.
fn merchant_policy(
    default_policy: &MerchantPolicy,
    overrides: toml::Table,
) -> anyhow::Result<MerchantPolicy> {
    let mut merged = toml::Table::try_from(default_policy)?;
    for (key, value) in overrides {
        let value = match (key.as_str(), value, merged.get("fees")) {
            ("fees", toml::Value::Array(mut rules), Some(toml::Value::Array(default_rules))) => {
                rules.extend(default_rules.iter().cloned());
                toml::Value::Array(rules)
            }
            (_, value, _) => value,
        };
        merged.insert(key, value);
    }
    Ok(merged.try_into()?)
}

/// The ledger settings: the `[ledger]` table's policies, checked.
fn ledger_settings(
    file: LedgerFile,
    worker_interval_ms: Option<u64>,
) -> anyhow::Result<LedgerSettings> {
    let defaults = LedgerSettings::default();
    let default_policy = file.default.unwrap_or(defaults.default_policy);
    let mut merchant_policies = HashMap::new();
    for (id, overrides) in file.merchants {
        let merchant = MerchantId::parse(&id)
            .with_context(|| format!("[ledger.merchants.{id}]: not a merchant id (acct_…)"))?;
        let policy = merchant_policy(&default_policy, overrides)
            .with_context(|| format!("in [ledger.merchants.{id}]"))?;
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

/// `trusted_proxies`: `PORTCULLIS_TRUSTED_PROXIES` (comma-separated) or
/// the settings file's list; addresses or CIDR blocks.
fn trusted_proxies(from_file: Option<Vec<String>>) -> anyhow::Result<Vec<ipnet::IpNet>> {
    let entries = match std::env::var("PORTCULLIS_TRUSTED_PROXIES") {
        Ok(text) => text
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(str::to_owned)
            .collect(),
        Err(_) => from_file.unwrap_or_default(),
    };
    entries
        .iter()
        .map(|entry| {
            portcullis_api::client_ip::parse_trusted_proxy(entry).map_err(anyhow::Error::msg)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example with its commented-out `# key = value` lines switched on.
    fn example_with_every_key() -> String {
        CONFIG_EXAMPLE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.split_once(" = ").is_some_and(|(k, _)| is_key(k)) => rest,
                Some(rest) if rest.starts_with("[ledger.") || rest.starts_with("[connectors.") => {
                    rest
                }
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n")
            .replace(
                "[ledger.merchants.acct_…]",
                "[ledger.merchants.acct_0000000000000000000000000]",
            )
    }

    fn is_key(text: &str) -> bool {
        !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    #[test]
    fn the_sandbox_remembers_a_bounded_number_of_attempts() {
        assert_eq!(super::sandbox_attempts_max(None).unwrap(), 20_000);
        assert_eq!(super::sandbox_attempts_max(Some(5)).unwrap(), 5);
        for refused in [0, super::SANDBOX_ATTEMPTS_MAX_LIMIT + 1] {
            let message = super::sandbox_attempts_max(Some(refused))
                .unwrap_err()
                .to_string();
            assert!(message.contains("sandbox_attempts_max"), "{message}");
        }
    }

    #[test]
    fn the_example_parses_and_names_every_key() {
        let plain: FileSettings = toml::from_str(CONFIG_EXAMPLE).expect("the example parses");
        assert!(plain.listen.is_some() && plain.database_url.is_none());
        let every = example_with_every_key();
        toml::from_str::<FileSettings>(&every).expect("all keys parse");
        let table: toml::Table = every.parse().unwrap();
        // serde names every field it knows when refusing an unknown one.
        let refusal = toml::from_str::<FileSettings>("no_such_key = 1")
            .unwrap_err()
            .to_string();
        let known: Vec<&str> = refusal.split('`').skip(3).step_by(2).collect();
        assert!(known.len() > 30, "{refusal}");
        for key in known {
            assert!(
                table.contains_key(key),
                "{key} is missing from config_example.toml"
            );
        }
        for (key, _) in SCALAR_KEYS {
            assert!(
                CONFIG_EXAMPLE.contains(&format!("{key} = ")),
                "{key} undocumented"
            );
        }
    }

    #[test]
    fn the_environment_overrides_the_file_for_every_scalar_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        std::fs::write(&path, "public_url = \"http://file\"\nbody_bytes_max = 10\nwebhooks_allow_private_targets = false\n").unwrap();
        let env = |name: &str| match name {
            "PORTCULLIS_PUBLIC_URL" => Some("http://env".to_owned()),
            "PORTCULLIS_WEBHOOKS_ALLOW_PRIVATE_TARGETS" => Some("true".to_owned()),
            "PORTCULLIS_SHUTDOWN_GRACE_S" => Some("7".to_owned()),
            _ => None,
        };
        let file = file_with_environment(Some(&path), env).unwrap();
        assert_eq!(file.public_url.as_deref(), Some("http://env"));
        assert_eq!(file.webhooks_allow_private_targets, Some(true));
        assert_eq!(file.shutdown_grace_s, Some(7));
        assert_eq!(
            file.body_bytes_max,
            Some(10),
            "the file where no variable is set"
        );
        let bad = file_with_environment(None, |name: &str| {
            (name == "PORTCULLIS_SHUTDOWN_GRACE_S").then(|| "soon".to_owned())
        });
        let message = format!("{:#}", bad.err().unwrap());
        assert!(message.contains("PORTCULLIS_SHUTDOWN_GRACE_S"), "{message}");
    }

    #[test]
    fn a_named_merchant_keeps_the_default_policy_it_does_not_override() {
        let file: FileSettings = toml::from_str(
            "[ledger.default]\nsettlement_delay_s = 7\nfees = [{ currency = \"usd\", basis_points = 100, fixed_minor = 5 }]\n\
             [ledger.merchants.acct_0VcwRS7cFyb43LWfsJQAtYzg]\npayout_delay_s = 0\n\
             fees = [{ currency = \"eur\", card_brand = \"amex\", basis_points = 350 }]\n",
        )
        .unwrap();
        let ledger = ledger_settings(file.ledger.unwrap(), None).unwrap();
        let merchant = MerchantId::parse("acct_0VcwRS7cFyb43LWfsJQAtYzg").unwrap();
        let policy = ledger.policy(&merchant);
        assert_eq!(
            policy.settlement_delay_s, 7,
            "the file's default, not the built-in one"
        );
        assert_eq!(policy.payout_delay_s, 0);
        let usd = portcullis_domain::money::Currency::parse("usd").unwrap();
        let fee = policy
            .fees
            .fee_minor(&portcullis_ledger::fees::Priced {
                amount_minor: 10_000,
                currency: usd,
                payment_method: "card",
                card_brand: Some("visa"),
            })
            .unwrap();
        assert_eq!(fee, 105, "the default's usd fee still applies");
    }

    #[test]
    fn the_terminal_wire_is_chosen_by_name_and_refuses_others() {
        use portcullis_iso8583::{Framing, Profile};
        let default = terminal_wire(None, None).unwrap();
        assert_eq!(
            (default.profile, default.framing),
            (Profile::Default, Framing::Binary2)
        );
        let chosen = terminal_wire(Some("default_ascii"), Some("ascii4")).unwrap();
        assert_eq!(
            (chosen.profile, chosen.framing),
            (Profile::DefaultAscii, Framing::Ascii4)
        );
        let refused = terminal_wire(Some("ascii"), None).unwrap_err().to_string();
        assert!(refused.contains("iso8583_listen_profile"), "{refused}");
        let refused = terminal_wire(None, Some("2byte")).unwrap_err().to_string();
        assert!(refused.contains("iso8583_listen_framing"), "{refused}");
    }
}
