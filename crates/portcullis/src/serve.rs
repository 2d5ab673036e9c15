//! `portcullis serve`: open the store, make sure a sandbox merchant exists,
//! and serve the API over HTTP or HTTPS until SIGTERM or SIGINT; then stop
//! accepting, let in-flight requests finish (bounded by
//! `shutdown_grace_s`), and flush the store's writer before exiting.

use crate::admin::{create_merchant, merchant_json, open_store};
use crate::connections::{ConnectionCap, ConnectionLimits, Refusal};
use crate::secrets::{self, write_private};
use crate::settings::Settings;
use anyhow::Context;
use axum_server::accept::DefaultAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;
use portcullis_api::{AppParts, AppState};
use portcullis_connectors::{
    Connector, Guarded, RemoteAcquirer, Routed, SandboxAcquirer, SandboxOptions,
};
use portcullis_domain::api_keys::KeyHashSecret;
use portcullis_store::Store;
use portcullis_vault::Vault;
use std::sync::Arc;
use std::time::Duration;

const SANDBOX_JOURNAL_FILE: &str = "sandbox-acquirer.journal";
/// How often expired idempotency keys are pruned.
const IDEMPOTENCY_PRUNE_INTERVAL_S: u64 = 600;

pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let new_sqlite_file = crate::banner::new_sqlite_file(settings);
    let store = open_store(settings, crate::secrets::KeyHashUse::HashesKeys).await?;
    // An instance whose secrets all come from elsewhere (the environment, a
    // shared keyring) still keeps its journals here.
    secrets::create_private_dir(&settings.data_dir)?;
    let listener = std::net::TcpListener::bind(&settings.listen)
        .with_context(|| format!("binding {}", settings.listen))?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let hasher =
        secrets::key_hash_secret(settings.key_hash_secret_hex.as_deref(), &settings.data_dir)?;
    ensure_sandbox_merchant(&store, &hasher, settings, address).await?;
    let vault = Arc::new(Vault::new(
        crate::vault_admin::load_for_serving(&store, settings).await?,
    ));
    let state = AppState::new(AppParts {
        store: store.clone(),
        key_hasher: hasher,
        settings: api_settings(settings, address),
        vault: vault.clone(),
        connector: connector(settings, &store).await?,
        payments: settings.payments.clone(),
        webhooks: settings.webhooks.clone(),
        ledger: settings.ledger.clone(),
        risk: risk_config(settings)?,
    });
    let sealed = portcullis_api::webhooks::seal_plaintext_endpoints(&state)
        .await
        .map_err(|err| anyhow::anyhow!("sealing webhook signing secrets: {}", err.message))?;
    if sealed > 0 {
        tracing::info!(
            endpoints = sealed,
            "sealed the webhook signing secrets stored in the clear"
        );
    }
    let exporter = crate::metrics::install(store.clone(), settings.metrics_listen.is_none())?;
    let mut app = portcullis_api::router(state.clone());
    let handle = Handle::new();
    let (stopping, stop_signal) = tokio::sync::watch::channel(false);
    let metrics_server = match &settings.metrics_listen {
        None => {
            app = app.merge(crate::metrics::routes(exporter));
            None
        }
        Some(address) => {
            Some(serve_metrics_alone(address, exporter, stopped(stop_signal.clone())).await?)
        }
    };
    tokio::spawn(stop_on_signal(
        handle.clone(),
        stopping,
        Duration::from_secs(settings.shutdown_grace_s),
    ));
    let pruner = tokio::spawn(portcullis_api::prune_idempotency_keys(
        state.clone(),
        Duration::from_secs(IDEMPOTENCY_PRUNE_INTERVAL_S),
        stopped(stop_signal.clone()),
    ));
    let wallets = tokio::spawn(portcullis_api::payments::wallets::worker::run(
        state.clone(),
        stopped(stop_signal.clone()),
    ));
    let recovery = tokio::spawn(portcullis_api::payments::recovery::run(
        state.clone(),
        stopped(stop_signal.clone()),
    ));
    if settings.webhooks.allow_private_targets {
        tracing::warn!("webhooks may be sent to private and loopback addresses (--webhooks-allow-private-targets): for local development only");
    }
    if settings.api.connectors_allow_private_endpoints {
        tracing::warn!("connector accounts may point at private and loopback addresses (--connectors-allow-private-endpoints): for local development only");
    }
    let webhooks = tokio::spawn(portcullis_api::webhooks::run(
        state.clone(),
        stopped(stop_signal.clone()),
    ));
    let budgets = tokio::spawn(portcullis_api::rate_limits::share_budgets(
        state.clone(),
        stopped(stop_signal.clone()),
    ));
    let checkout_expiry = tokio::spawn(portcullis_api::checkout::expiry::run(
        state.clone(),
        stopped(stop_signal.clone()),
    ));
    let ledger = tokio::spawn(portcullis_api::ledger::worker::run(
        state.clone(),
        stopped(stop_signal.clone()),
    ));
    let passkey_challenges =
        tokio::spawn(portcullis_api::accounts::passkey_challenge_sweeper::run(
            state.clone(),
            stopped(stop_signal.clone()),
        ));
    let balance_step_ups = tokio::spawn(portcullis_api::balance_step_up_expiry::run(
        state.clone(),
        stopped(stop_signal.clone()),
    ));
    let terminals =
        crate::terminal_listener::start(settings, &state, stopped(stop_signal.clone())).await?;
    // A keyring given as text cannot change while the process runs.
    let keyring = tokio::spawn(crate::vault_admin::reload_on_change(
        vault,
        settings
            .vault_keyring
            .is_none()
            .then(|| settings.vault_keyring_file.clone()),
        stopped(stop_signal),
    ));

    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%address, backend = store.backend_name(), "serving");
    crate::banner::print(
        settings,
        &format!("{scheme}://{address}"),
        new_sqlite_file.as_deref(),
    );
    println!("portcullis listening on {scheme}://{address}");
    let served = serve_http(listener, app, handle, settings).await;
    let _ = tokio::join!(
        pruner,
        recovery,
        keyring,
        webhooks,
        ledger,
        budgets,
        terminals,
        checkout_expiry,
        wallets,
        passkey_challenges,
        balance_step_ups
    );
    if let Some(metrics_server) = metrics_server {
        let _ = metrics_server.await;
    }
    store.close().await;
    served.context("serving HTTP")?;
    tracing::info!("stopped; every acknowledged write is committed");
    Ok(())
}

/// The API's settings; without a configured `public_url`, links to hosted
/// pages name this server's own address (never a request's `Host`).
fn api_settings(settings: &Settings, address: std::net::SocketAddr) -> portcullis_api::ApiSettings {
    let mut api = settings.api.clone();
    if api.public_url.is_none() {
        let url = own_url(settings, address);
        tracing::warn!(%url, "public_url is not set: links to hosted pages use this server's own address");
        api.public_url = Some(url);
    }
    api
}

/// This server's own address as a URL (loopback for an unspecified host).
pub(crate) fn own_url(settings: &Settings, address: std::net::SocketAddr) -> String {
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let host = match address.ip() {
        ip if ip.is_unspecified() => std::net::IpAddr::from([127, 0, 0, 1]),
        ip => ip,
    };
    format!(
        "{scheme}://{}",
        std::net::SocketAddr::new(host, address.port())
    )
}

/// Serves `/metrics` alone on `address` (`--metrics-listen`) until
/// `shutdown` resolves; prints the address it listens on.
async fn serve_metrics_alone(
    address: &str,
    exporter: crate::metrics::Exporter,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding --metrics-listen {address}"))?;
    println!("metrics listening on http://{}", listener.local_addr()?);
    let app = crate::metrics::routes(exporter)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    Ok(tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }))
}

/// The acquirer: `portcullis sandbox-acquirer` at `connector_url` when set,
/// else the built-in sandbox; and the `[connectors.<name>]` acquirers for
/// the merchants they list. Always behind the guard.
async fn connector(settings: &Settings, store: &Store) -> anyhow::Result<Arc<dyn Connector>> {
    let default = default_connector(settings)?;
    if settings.acquirers.is_empty() {
        return Ok(default);
    }
    let routed = Routed::new(
        default,
        crate::acquirers::routes(&settings.acquirers, &settings.data_dir, store).await?,
    );
    Ok(Arc::new(Guarded::new(
        routed,
        settings.payments.connector_timeout(),
    )))
}

fn default_connector(settings: &Settings) -> anyhow::Result<Arc<dyn Connector>> {
    match &settings.connector_url {
        Some(url) => {
            let remote = RemoteAcquirer::new(url, settings.payments.connector_timeout())
                .map_err(|e| anyhow::anyhow!("connector_url {url}: {e}"))?;
            Ok(Arc::new(Guarded::new(
                remote,
                settings.payments.connector_timeout(),
            )))
        }
        None => sandbox_acquirer(settings),
    }
}

/// The built-in sandbox acquirer, journaled in the data directory so its
/// memory survives restarts (crash recovery asks it what it did), behind
/// the guard that bounds every call and never trusts a garbage answer.
fn sandbox_acquirer(settings: &Settings) -> anyhow::Result<Arc<dyn Connector>> {
    let options = SandboxOptions {
        call_latency: Duration::from_millis(settings.sandbox_latency_ms),
        refund_settle_delay: Duration::from_millis(settings.sandbox_refund_settle_ms),
        journal_path: Some(settings.data_dir.join(SANDBOX_JOURNAL_FILE)),
        attempts_max: settings.sandbox_attempts_max,
    };
    let sandbox =
        SandboxAcquirer::new(options).context("opening the sandbox acquirer's journal")?;
    Ok(Arc::new(Guarded::new(
        sandbox,
        settings.payments.connector_timeout(),
    )))
}

/// The risk check's tables: the shipped BIN rows and rates, extended by
/// the configured file and rates, and the IP database if one is set.
fn risk_config(settings: &Settings) -> anyhow::Result<portcullis_api::risk::RiskConfig> {
    let mut config = portcullis_api::risk::RiskConfig::default();
    if let Some(path) = &settings.risk_bin_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the BIN file {}", path.display()))?;
        config
            .bins
            .extend(&text)
            .with_context(|| format!("in {}", path.display()))?;
    }
    for (currency, rate) in &settings.risk_usd_rates {
        config
            .rates
            .set(currency, *rate)
            .map_err(anyhow::Error::msg)?;
    }
    if let Some(path) = &settings.risk_geoip_file {
        let geoip = portcullis_api::risk::geoip::GeoIp::open(path).map_err(anyhow::Error::msg)?;
        config.geoip = Some(Arc::new(geoip));
    }
    Ok(config)
}

/// Serves `app` over HTTP/1.1, or HTTPS when TLS is configured, behind the
/// connection cap and with every connection-level timeout set.
async fn serve_http(
    listener: std::net::TcpListener,
    app: axum::Router,
    handle: Handle<std::net::SocketAddr>,
    settings: &Settings,
) -> anyhow::Result<()> {
    let limits = &settings.connections;
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum_server::from_tcp(listener)
        .context("serving the listener")?
        .handle(handle)
        .http1_only()
        .first_request_timeout(limits.header_timeout());
    match &settings.tls {
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = tls_config(cert, key).await?;
            let capped =
                ConnectionCap::new(DefaultAcceptor, limits.connections_max, Refusal::Close);
            let acceptor = RustlsAcceptor::new(config)
                .handshake_timeout(limits.header_timeout())
                .acceptor(capped);
            let mut server = server.acceptor(acceptor);
            limit_slow_clients(server.http_builder(), limits);
            server.serve(service).await?;
        }
        None => {
            let capped =
                ConnectionCap::new(DefaultAcceptor, limits.connections_max, Refusal::Http503);
            let mut server = server.acceptor(capped);
            limit_slow_clients(server.http_builder(), limits);
            server.serve(service).await?;
        }
    }
    Ok(())
}

/// The certificate and key, offering HTTP/1.1 only in ALPN (HTTP/2 is not
/// served, so no client may negotiate it).
async fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<RustlsConfig> {
    let config = RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| {
            format!(
                "loading TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )
        })?;
    let mut server_config = (*config.get_inner()).clone();
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(server_config)))
}

/// The request head must arrive within `header_timeout_ms`, which also bounds
/// how long a kept-alive connection may sit idle between requests.
fn limit_slow_clients(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    limits: &ConnectionLimits,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout())
        .keep_alive(true);
}

async fn stop_on_signal(
    handle: Handle<std::net::SocketAddr>,
    stopping: tokio::sync::watch::Sender<bool>,
    grace: Duration,
) {
    wait_for_signal().await;
    tracing::info!(
        grace_s = grace.as_secs(),
        "shutting down: no new connections, finishing requests in flight"
    );
    handle.graceful_shutdown(Some(grace));
    let _ = stopping.send(true);
}

async fn stopped(mut signal: tokio::sync::watch::Receiver<bool>) {
    let _ = signal.wait_for(|stopping| *stopping).await;
}

#[cfg(unix)]
pub async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(not(unix))]
pub async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// On an empty database, creates the sandbox merchant, prints its test keys
/// and keeps them in `DATA_DIR/sandbox-keys.json` (mode 0600) for local use.
async fn ensure_sandbox_merchant(
    store: &Store,
    hasher: &KeyHashSecret,
    settings: &Settings,
    address: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let keys_path = sandbox_keys_path(settings);
    if !store.list_merchants().await?.is_empty() {
        return Ok(());
    }
    let created = create_merchant(store, hasher, "Sandbox").await?;
    let keys = merchant_json(&created);
    write_private(&keys_path, format!("{keys:#}\n").as_bytes())?;
    println!("Created the sandbox merchant {}.", created.merchant.id);
    println!("  secret key:      {}", created.secret_key.reveal());
    println!("  publishable key: {}", created.publishable_key.reveal());
    println!("  (kept in {})", keys_path.display());
    println!(
        "Try: curl -u {}: http://{address}/v1/customers",
        created.secret_key.reveal()
    );
    Ok(())
}

/// Where the sandbox merchant's keys are kept for local use: one file per
/// database, so switching backends in one data directory loses no keys.
/// The default SQLite database keeps `DATA_DIR/sandbox-keys.json`; any other
/// gets `sandbox-keys-<database>.json` (e.g. `sandbox-keys-postgres-127.0.0.1-5432-portcullis.json`).
pub fn sandbox_keys_path(settings: &Settings) -> std::path::PathBuf {
    let default_url = format!(
        "sqlite://{}",
        settings.data_dir.join("portcullis.db").display()
    );
    if settings.database_url == default_url {
        return settings.data_dir.join("sandbox-keys.json");
    }
    let redacted = crate::admin::redacted(&settings.database_url);
    let without_user = match redacted.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}-{}", rest.rsplit('@').next().unwrap_or(rest)),
        None => redacted,
    };
    let label: String = without_user
        .split('?')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let label = label.trim_matches('-').replace("--", "-");
    settings.data_dir.join(format!("sandbox-keys-{label}.json"))
}
