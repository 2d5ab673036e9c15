//! `portcullis bench`: payments per second against a baseline measured in
//! the same run (performance.md). It starts a gateway of its own (a child
//! process on port 0, fresh database, `bench_echo` on) or targets `--url`,
//! warms up, measures the baseline (`POST /internal/echo` with a body the
//! size of a payment's), then the payment mix of [`workload`], over the
//! same number of connections for the same time, and reports the ratio,
//! latency percentiles, errors, the server's peak RSS and the load.

mod client;
mod load;
mod workload;

use crate::cli::BenchArgs;
use crate::harness::{database::FreshDatabase, machine, process};
use anyhow::{bail, Context};
use load::{Measured, Phase, Target};
use serde_json::json;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

const CONNECTIONS_MAX: usize = 1_024;
const DURATION_S_MAX: u64 = 3_600;
/// The gateway's settings for a benchmark: defaults, plus the echo route.
/// The echo baseline, and rate limits far above what the load generator
/// can send: the bench measures the gateway's throughput, not its limits.
const GATEWAY_SETTINGS: &str = "bench_echo = true\n\
    rate_limit_per_key_per_s = 1000000\n\
    rate_limit_per_merchant_per_s = 1000000\n";

/// Where the load goes and what it may read of the server.
struct RunTarget {
    base_url: String,
    secret_key: String,
    server_pid: Option<u32>,
    backend: String,
}

pub async fn run(database_url: Option<&str>, args: &BenchArgs) -> anyhow::Result<()> {
    if args.connections == 0 || args.connections > CONNECTIONS_MAX {
        bail!("--connections must be 1 to {CONNECTIONS_MAX}");
    }
    if args.duration_s == 0 || args.duration_s > DURATION_S_MAX || args.warmup_s > DURATION_S_MAX {
        bail!("--duration-s must be 1 to {DURATION_S_MAX} (and --warmup-s at most that)");
    }
    if let Some(url) = &args.url {
        let key = args
            .secret_key
            .clone()
            .context("--url needs --secret-key")?;
        check_loopback(url)?;
        let target = RunTarget {
            base_url: url.trim_end_matches('/').to_owned(),
            secret_key: key,
            server_pid: args.server_pid,
            backend: "unknown (--url)".to_owned(),
        };
        return measure_and_report(&target, args).await;
    }
    let database = FreshDatabase::create(database_url).await?;
    let outcome = run_own_gateway(&database, args).await;
    database.drop_database().await;
    outcome
}

async fn run_own_gateway(database: &FreshDatabase, args: &BenchArgs) -> anyhow::Result<()> {
    let merchant = process::create_merchant(&database.url, &database.data_dir)?;
    let mut gateway = process::start_gateway(&process::GatewaySpec {
        database_url: &database.url,
        data_dir: &database.data_dir,
        settings_toml: GATEWAY_SETTINGS,
        listen: "127.0.0.1:0",
        log_filter: "info",
    })?;
    let target = RunTarget {
        base_url: gateway.base_url.clone(),
        secret_key: merchant.secret_key,
        server_pid: Some(gateway.pid()),
        backend: database.backend.to_owned(),
    };
    let outcome = measure_and_report(&target, args).await;
    gateway.terminate().context("stopping the gateway")?;
    outcome
}

fn check_loopback(url: &str) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("http://")
        .context("--url must be http://127.0.0.1:PORT (or localhost)")?;
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    if !matches!(host, "127.0.0.1" | "localhost") {
        bail!("--url must name this machine (127.0.0.1 or localhost)");
    }
    Ok(())
}

async fn measure_and_report(target: &RunTarget, args: &BenchArgs) -> anyhow::Result<()> {
    let load_before = machine::load_avg();
    let orders = Arc::new(AtomicU64::new(0));
    let phase = |duration_s: u64, what: Target| Phase {
        base_url: target.base_url.clone(),
        secret_key: target.secret_key.clone(),
        connections: args.connections,
        duration: Duration::from_secs(duration_s),
        target: what,
    };
    if args.warmup_s > 0 {
        load::run(&phase(args.warmup_s, Target::Payments), orders.clone()).await;
    }
    let echo = Target::Echo {
        path: "/internal/echo".to_owned(),
        body: workload::payment_body(workload::Kind::Succeeds, 1),
    };
    let baseline = load::run(&phase(args.duration_s, echo), orders.clone()).await;
    if baseline.ok == 0 {
        bail!(
            "the baseline endpoint answered nothing: is the target started with bench_echo = true?"
        );
    }
    let payments = load::run(&phase(args.duration_s, Target::Payments), orders).await;
    let report = Report {
        target,
        args,
        baseline: &baseline,
        payments: &payments,
        load_before,
        load_after: machine::load_avg(),
    };
    report.print();
    Ok(())
}

struct Report<'a> {
    target: &'a RunTarget,
    args: &'a BenchArgs,
    baseline: &'a Measured,
    payments: &'a Measured,
    load_before: Option<[f64; 3]>,
    load_after: Option<[f64; 3]>,
}

impl Report<'_> {
    fn print(&self) {
        let (payments, baseline) = (self.payments, self.baseline);
        let rss_peak_mb = self.target.server_pid.and_then(machine::rss_peak_mb);
        let ratio = payments.per_s() / baseline.per_s().max(f64::EPSILON);
        let value = json!({
            "backend": self.target.backend,
            "connections": self.args.connections,
            "duration_s": self.args.duration_s,
            "warmup_s": self.args.warmup_s,
            "payments_per_s": round(payments.per_s(), 1),
            "baseline_rps": round(baseline.per_s(), 1),
            "ratio": round(ratio, 4),
            "p50_ms": round(payments.quantile_ms(0.5), 3),
            "p99_ms": round(payments.quantile_ms(0.99), 3),
            "p999_ms": round(payments.quantile_ms(0.999), 3),
            "max_ms": round(payments.latency_us.max() as f64 / 1000.0, 3),
            "baseline_p50_ms": round(baseline.quantile_ms(0.5), 3),
            "baseline_p99_ms": round(baseline.quantile_ms(0.99), 3),
            "payments": payments.ok,
            "follow_up_requests": payments.follow_ups,
            "errors": payments.errors + baseline.errors,
            "rss_peak_mb": rss_peak_mb.map(|mb| round(mb, 1)),
            "load_avg_before": self.load_before,
            "load_avg_after": self.load_after,
            "cpus": machine::cpus(),
            "cpu_model": machine::cpu_model(),
            "build_profile": if cfg!(debug_assertions) { "debug" } else { "release" },
            "load_generator": "same machine, same process as the report (hyper, one keep-alive connection per worker)",
        });
        if self.args.json {
            println!("{value}");
            return;
        }
        println!(
            "{} at {} connections: {:.0} payments/s, baseline {:.0} requests/s, ratio {:.1} %",
            value["backend"].as_str().unwrap_or_default(),
            self.args.connections,
            payments.per_s(),
            baseline.per_s(),
            ratio * 100.0
        );
        println!(
            "latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms; errors {}; server peak RSS {} MB; load {:?} → {:?}",
            payments.quantile_ms(0.5),
            payments.quantile_ms(0.99),
            payments.quantile_ms(0.999),
            value["errors"],
            value["rss_peak_mb"],
            self.load_before,
            self.load_after,
        );
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}
