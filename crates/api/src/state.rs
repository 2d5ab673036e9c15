//! What every handler shares: the store, the key hasher and key cache, and
//! the API's bounded settings.

use crate::auth::KeyCache;
use crate::ledger::LedgerSettings;
use crate::limits::InFlight;
use crate::locks::ObjectLocks;
use crate::payments::{CvcCache, PaymentSettings};
use crate::rate_limits::{RateLimitSettings, RateLimits};
use crate::risk::{RiskConfig, RuleCache};
use crate::webhooks::WebhookSettings;
use portcullis_connectors::Connector;
use portcullis_domain::api_keys::KeyHashSecret;
use portcullis_domain::UnixSeconds;
use portcullis_store::Store;
use portcullis_vault::Vault;
use std::sync::Arc;

/// The API's tunables; every bound is named with its unit.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// Largest request body accepted; larger ones get 413.
    pub body_bytes_max: usize,
    /// How long a looked-up API key is trusted before it is read again.
    /// Bounds how long a revoked key keeps working on a running instance.
    pub key_cache_ttl_ms: u64,
    /// Most API keys the cache holds (least recently used go first).
    pub key_cache_entries_max: usize,
    /// Most unknown keys the separate negative cache holds.
    pub key_cache_misses_max: usize,
    /// How long a merchant's routing rules and connector accounts, once
    /// read, are used before they are read again (0: read every time).
    /// Bounds how long another instance's change goes unseen here.
    pub routing_cache_ttl_ms: u64,
    /// How long a merchant's enabled, parsed risk rules, once read, are
    /// used before they are read again (0: read every time). Bounds how
    /// long another instance's rule change goes unseen here.
    pub risk_rules_cache_ttl_ms: u64,
    /// An idempotency claim older than this is presumed dead and taken over.
    pub idempotency_lease_s: i64,
    /// How long idempotency keys are kept (at least 24 hours).
    pub idempotency_retention_s: i64,
    /// The public base URL of this server, for links to hosted pages. Links
    /// are never built from the request's `Host` header (a client could
    /// point them anywhere); `serve` defaults it to its own address.
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed (addresses and CIDR
    /// blocks); empty: the connection's peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The server answers over TLS, so answers carry HSTS.
    pub tls: bool,
    /// Mounts `POST /internal/echo`, the benchmark's baseline endpoint.
    pub bench_echo: bool,
    /// Lets connector accounts' endpoints be loopback, private or
    /// link-local addresses (simulators, local development).
    pub connectors_allow_private_endpoints: bool,
    /// Most requests running at once in this process; past it, requests
    /// are shed with 503 and `Retry-After`.
    pub requests_in_flight_max: usize,
    /// Longest a request may run, body read and handler included; past it
    /// the answer is 503 (retry with the same `Idempotency-Key`).
    pub request_timeout_ms: u64,
    /// Longest a client may take to send its whole body; past it, 408.
    pub body_read_timeout_ms: u64,
    /// Requests per second per key and per merchant, for the deployment.
    pub rate_limits: RateLimitSettings,
    /// Customer accounts: SMTP, lockout, throttles, sessions.
    pub accounts: crate::accounts::AccountSettings,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            body_bytes_max: 256 * 1024,
            key_cache_ttl_ms: 2_000,
            key_cache_entries_max: 10_000,
            key_cache_misses_max: 1_000,
            routing_cache_ttl_ms: 1_000,
            risk_rules_cache_ttl_ms: 1_000,
            idempotency_lease_s: 60,
            idempotency_retention_s: 7 * 24 * 3600,
            public_url: None,
            trusted_proxies: vec![],
            tls: false,
            bench_echo: false,
            connectors_allow_private_endpoints: false,
            requests_in_flight_max: 1024,
            request_timeout_ms: 60_000,
            body_read_timeout_ms: 20_000,
            rate_limits: RateLimitSettings::default(),
            accounts: crate::accounts::AccountSettings::default(),
        }
    }
}

/// The API's shared state, and the clock it reads: the system's, or for
/// written history a stopped one ([`AppState::as_of`]).
#[derive(Clone)]
pub struct AppState(Arc<Inner>, Option<UnixSeconds>);

pub struct Inner {
    pub store: Store,
    pub key_hasher: KeyHashSecret,
    pub keys: KeyCache,
    pub settings: ApiSettings,
    pub vault: Arc<Vault>,
    pub connector: Arc<dyn Connector>,
    pub payments: PaymentSettings,
    pub webhooks: WebhookSettings,
    pub ledger: LedgerSettings,
    pub locks: ObjectLocks,
    pub in_flight: InFlight,
    pub rate_limits: RateLimits,
    pub cvcs: CvcCache,
    pub risk: RiskConfig,
    pub rules: RuleCache,
    pub routing_cache: crate::routing::cache::RoutingCache,
    /// Each scope's enabled, parsed risk rules (`risk::rules::rule_set`).
    pub rule_sets: crate::scope_cache::ScopeCache<portcullis_risk::RuleSet>,
    pub client_keys: crate::client_encryption::ClientKeys,
    accounts_mailer: crate::accounts::mail::Mailer,
}

/// What the binary hands the API at start-up.
pub struct AppParts {
    pub store: Store,
    pub key_hasher: KeyHashSecret,
    pub settings: ApiSettings,
    pub vault: Arc<Vault>,
    pub connector: Arc<dyn Connector>,
    pub payments: PaymentSettings,
    pub webhooks: WebhookSettings,
    pub ledger: LedgerSettings,
    pub risk: RiskConfig,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        let AppParts {
            store,
            key_hasher,
            settings,
            vault,
            connector,
            payments,
            webhooks,
            ledger,
            risk,
        } = parts;
        let keys = KeyCache::new(
            settings.key_cache_ttl_ms,
            settings.key_cache_entries_max,
            settings.key_cache_misses_max,
        );
        let routing_cache = crate::routing::cache::RoutingCache::new(
            settings.routing_cache_ttl_ms,
            settings.key_cache_entries_max,
        );
        let rule_sets = crate::scope_cache::ScopeCache::new(
            settings.risk_rules_cache_ttl_ms,
            settings.key_cache_entries_max,
        );
        let in_flight = InFlight::new(settings.requests_in_flight_max);
        let rate_limits = RateLimits::new(settings.rate_limits);
        let accounts_mailer = crate::accounts::mail::Mailer::new(&settings.accounts);
        let inner = Inner {
            store,
            key_hasher,
            keys,
            settings,
            vault,
            connector,
            payments,
            webhooks,
            ledger,
            locks: ObjectLocks::default(),
            in_flight,
            rate_limits,
            cvcs: CvcCache::default(),
            risk,
            rules: RuleCache::default(),
            routing_cache,
            rule_sets,
            client_keys: Default::default(),
            accounts_mailer,
        };
        Self(Arc::new(inner), None)
    }

    /// The acquirer that serves payments in `livemode`. Every connector
    /// this build has is a sandbox (built in, or `portcullis
    /// sandbox-acquirer`), which approves any number it does not list: it
    /// serves test mode only, and a live-mode payment is refused (400)
    /// before anything about it is stored.
    pub fn connector_for(&self, livemode: bool) -> crate::error::ApiResult<&Arc<dyn Connector>> {
        if livemode {
            return Err(crate::error::ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                crate::error::ErrorType::InvalidRequest,
                Some("livemode_unavailable"),
                "Live-mode payments cannot be processed: no live payment connector is configured, and the sandbox acquirer serves test mode only. Use a test key (sk_test_…) with the sandbox.",
            ));
        }
        Ok(&self.connector)
    }

    /// Where this server is reached, for links to it (hosted pages,
    /// notification URLs): the configured public URL (`serve` defaults it to
    /// its own address). Never the request's `Host` header: a client could
    /// point links anywhere.
    pub fn base_url(&self) -> String {
        match &self.settings.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => "http://127.0.0.1:8080".to_owned(),
        }
    }

    /// Sends customer account emails.
    pub fn accounts_mailer(&self) -> &crate::accounts::mail::Mailer {
        &self.accounts_mailer
    }

    /// This state with its clock stopped at `unix_s`, which [`Self::now`]
    /// then answers. Only `portcullis seed` asks for it, to build history
    /// as of past times; a serving gateway's state reads the system clock.
    pub fn as_of(&self, unix_s: UnixSeconds) -> AppState {
        AppState(self.0.clone(), Some(unix_s))
    }

    /// The current time in Unix seconds (the stopped clock's, if any).
    pub fn now(&self) -> UnixSeconds {
        if let Some(unix_s) = self.1 {
            return unix_s;
        }
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}
