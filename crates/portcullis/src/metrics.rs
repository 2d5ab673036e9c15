//! `GET /metrics`: the process's metrics in Prometheus text format. The
//! crates record through the `metrics` facade (request latency, payments
//! by outcome, connector latency, the SQLite writer's batches, the
//! PostgreSQL pool's waits, ledger appends); this module installs the
//! Prometheus recorder, and at each scrape samples what is a state rather
//! than an event (webhook backlog, pool use, resident memory).
//!
//! By default the route is on the API listener and answers only loopback
//! clients whose request names no proxy hop (`X-Forwarded-For`,
//! `Forwarded`); any other client gets the API's 404, as for a route that
//! does not exist. `--metrics-listen ADDR` serves it on a listener of its
//! own instead, to whoever can reach that address.

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use portcullis_api::error::ApiError;
use portcullis_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub const PATH: &str = "/metrics";
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Histogram buckets of every `*_seconds` metric: 100 µs to 10 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Buckets of the writers' batch sizes (write sets per commit).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
/// How often histograms are folded and idle series expire (bounded memory).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Longest a scrape waits for the database to report the webhook backlog.
const BACKLOG_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The installed recorder and what a scrape samples.
#[derive(Clone)]
pub struct Exporter {
    handle: PrometheusHandle,
    store: Store,
    loopback_only: bool,
}

/// Installs the process's Prometheus recorder (once per process) and
/// starts its upkeep task.
pub fn install(store: Store, loopback_only: bool) -> anyhow::Result<Exporter> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Suffix("_write_batch_size".to_owned()),
            BATCH_BUCKETS,
        )?
        .install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(UPKEEP_INTERVAL).await;
            upkeep.run_upkeep();
        }
    });
    Ok(Exporter {
        handle,
        store,
        loopback_only,
    })
}

/// The `/metrics` route, to merge into the API's router or serve alone.
pub fn routes(exporter: Exporter) -> Router {
    Router::new()
        .route(PATH, get(scrape))
        .with_state(Arc::new(exporter))
}

async fn scrape(
    State(exporter): State<Arc<Exporter>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if exporter.loopback_only && !is_direct_loopback(peer, &headers) {
        return ApiError::route_not_found("GET", PATH).into_response();
    }
    exporter.sample_states().await;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        exporter.handle.render(),
    )
        .into_response()
}

/// A loopback peer that says it forwards nobody else's request.
fn is_direct_loopback(peer: SocketAddr, headers: &HeaderMap) -> bool {
    let proxied = headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded");
    peer.ip().to_canonical().is_loopback() && !proxied
}

impl Exporter {
    /// Sets the gauges that describe a state: resident memory, the webhook
    /// backlog and the PostgreSQL pool.
    async fn sample_states(&self) {
        if let Some(bytes) = resident_bytes() {
            metrics::gauge!("portcullis_process_resident_memory_bytes").set(bytes as f64);
        }
        if let Some(pool) = self.store.pool_use() {
            let in_use = pool.open.saturating_sub(pool.idle);
            metrics::gauge!("portcullis_postgres_pool_connections", "state" => "in_use")
                .set(in_use as f64);
            metrics::gauge!("portcullis_postgres_pool_connections", "state" => "idle")
                .set(pool.idle as f64);
            metrics::gauge!("portcullis_postgres_pool_waiting").set(pool.waiting as f64);
        }
        let backlog = tokio::time::timeout(BACKLOG_QUERY_TIMEOUT, self.store.webhook_backlog());
        match backlog.await {
            Ok(Ok(backlog)) => {
                metrics::gauge!("portcullis_webhook_deliveries_pending")
                    .set(backlog.pending as f64);
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                let age_s = backlog
                    .oldest_created_ms
                    .map_or(0.0, |created| (now_ms - created).max(0) as f64 / 1000.0);
                metrics::gauge!("portcullis_webhook_oldest_pending_age_seconds").set(age_s);
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "metrics: webhook backlog not read"),
            Err(_) => tracing::warn!("metrics: webhook backlog query timed out"),
        }
    }
}

/// This process's resident set in bytes (`VmRSS`), where `/proc` exists.
fn resident_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::is_direct_loopback;
    use axum::http::HeaderMap;

    #[test]
    fn only_direct_loopback_clients_may_scrape_the_api_listener() {
        let none = HeaderMap::new();
        assert!(is_direct_loopback("127.0.0.1:5000".parse().unwrap(), &none));
        assert!(is_direct_loopback("[::1]:5000".parse().unwrap(), &none));
        assert!(is_direct_loopback(
            "[::ffff:127.0.0.1]:5000".parse().unwrap(),
            &none
        ));
        assert!(!is_direct_loopback("10.0.0.7:5000".parse().unwrap(), &none));
        assert!(!is_direct_loopback(
            "[2001:db8::1]:5000".parse().unwrap(),
            &none
        ));
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
        assert!(!is_direct_loopback(
            "127.0.0.1:5000".parse().unwrap(),
            &proxied
        ));
        let mut forwarded = HeaderMap::new();
        forwarded.insert("forwarded", "for=203.0.113.9".parse().unwrap());
        assert!(!is_direct_loopback(
            "127.0.0.1:5000".parse().unwrap(),
            &forwarded
        ));
    }
}
