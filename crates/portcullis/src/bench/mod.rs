//! `portcullis bench`: payments per second against a baseline measured in
//! the same run (performance.md). It starts gateways of its own (child
//! processes on port 0, fresh database, `bench_echo` on; `--instances N`
//! of them on one PostgreSQL database) or targets `--url`, warms up,
//! measures the baseline (`POST /internal/echo` with a body the size of a
//! payment's), then the payment mix of [`workload`], over the same number
//! of connections for the same time, and reports the ratio, latency
//! percentiles, errors, the servers' peak RSS and the load. With several
//! instances it also measures one instance alone (the scale-out ratio);
//! with `--rate` it adds an open-loop phase ([`load`]).

pub(crate) mod client;
mod load;
mod pacer;
mod report;
mod terminals;
mod workload;
mod write_cost;

use crate::cli::BenchArgs;
use crate::harness::{database::FreshDatabase, machine, process};
use anyhow::{bail, Context};
use load::{Measured, Phase, Target};
use report::{PhaseFigures, Report};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

const CONNECTIONS_MAX: usize = 1_024;
const DURATION_S_MAX: u64 = 3_600;
const INSTANCES_MAX: usize = 8;
const RATE_MAX: u32 = 1_000_000;
/// The gateway's settings for a benchmark: defaults, plus the echo route.
/// The echo baseline, and rate limits far above what the load generator
/// can send: the bench measures the gateway's throughput, not its limits.
const GATEWAY_SETTINGS: &str = "bench_echo = true\n\
    rate_limit_per_key_per_s = 1000000\n\
    rate_limit_per_merchant_per_s = 1000000\n";
/// The key-hash secret and vault keyring every instance must share, in
/// the first instance's data directory.
const KEY_HASH_SECRET_FILE: &str = "key-hash-secret";
const VAULT_KEYRING_FILE: &str = "vault-keyring";

/// Where the load goes and what it may read of the servers.
struct RunTarget {
    base_urls: Vec<String>,
    secret_key: String,
    server_pids: Vec<u32>,
    backend: String,
    /// The database of gateways the bench started (for `--write-cost-payments`).
    database_url: Option<String>,
    /// The bench's own merchant and data directory, when it started the
    /// gateways: `--seed-payments` then writes straight to the store.
    own: Option<(String, std::path::PathBuf)>,
    /// With `--terminals`: the terminal listener and a registered terminal.
    terminal: Option<(String, terminals::BenchTerminal)>,
}

pub async fn run(database_url: Option<&str>, args: &BenchArgs) -> anyhow::Result<()> {
    check_args(args)?;
    if let Some(url) = &args.url {
        let key = args
            .secret_key
            .clone()
            .context("--url needs --secret-key")?;
        if args.instances != 1 || args.terminals {
            bail!("--instances and --terminals start gateways of their own: they cannot be used with --url");
        }
        check_loopback(url)?;
        let target = RunTarget {
            base_urls: vec![url.trim_end_matches('/').to_owned()],
            secret_key: key,
            server_pids: args.server_pid.into_iter().collect(),
            backend: "unknown (--url)".to_owned(),
            database_url: None,
            own: None,
            terminal: None,
        };
        return measure_and_report(&target, args).await;
    }
    let database = FreshDatabase::create(database_url).await?;
    let outcome = if args.instances > 1 && database.backend != "postgres" {
        Err(anyhow::anyhow!(
            "--instances above 1 needs a PostgreSQL --database-url: SQLite is served by one process"
        ))
    } else {
        run_own_gateways(&database, args).await
    };
    database.drop_database().await;
    outcome
}

fn check_args(args: &BenchArgs) -> anyhow::Result<()> {
    if args.connections == 0 || args.connections > CONNECTIONS_MAX {
        bail!("--connections must be 1 to {CONNECTIONS_MAX}");
    }
    if args.duration_s == 0 || args.duration_s > DURATION_S_MAX || args.warmup_s > DURATION_S_MAX {
        bail!("--duration-s must be 1 to {DURATION_S_MAX} (and --warmup-s at most that)");
    }
    if args.instances == 0 || args.instances > INSTANCES_MAX {
        bail!("--instances must be 1 to {INSTANCES_MAX}");
    }
    if args.instances > args.connections {
        bail!("--instances cannot exceed --connections (each instance needs a connection)");
    }
    if args.rate.is_some_and(|rate| rate == 0 || rate > RATE_MAX) {
        bail!("--rate must be 1 to {RATE_MAX} payments per second");
    }
    if args
        .seed_payments
        .is_some_and(|n| n == 0 || n > crate::seed::PAYMENTS_MAX)
    {
        bail!("--seed-payments must be 1 to {}", crate::seed::PAYMENTS_MAX);
    }
    if args
        .write_cost_payments
        .is_some_and(|n| n == 0 || n > write_cost::PAYMENTS_MAX)
    {
        bail!(
            "--write-cost-payments must be 1 to {}",
            write_cost::PAYMENTS_MAX
        );
    }
    if args.terminals && (args.instances != 1 || args.connections > terminals::CONNECTIONS_MAX) {
        bail!(
            "--terminals measures one instance over at most {} connections",
            terminals::CONNECTIONS_MAX
        );
    }
    Ok(())
}

async fn run_own_gateways(database: &FreshDatabase, args: &BenchArgs) -> anyhow::Result<()> {
    let merchant = process::create_merchant(&database.url, &database.data_dir)?;
    let terminal_listen = match args.terminals {
        true => Some(format!("127.0.0.1:{}", free_loopback_port()?)),
        false => None,
    };
    let mut gateways = vec![start_gateway(database, None, terminal_listen.as_deref())?];
    for instance in 1..args.instances {
        gateways.push(start_gateway(database, Some(instance), None)?);
    }
    let terminal = match terminal_listen {
        Some(address) => {
            let created =
                process::create_terminal(&database.url, &database.data_dir, &merchant.id)?;
            Some((address, terminals::BenchTerminal::from_json(&created)?))
        }
        None => None,
    };
    let target = RunTarget {
        base_urls: gateways.iter().map(|g| g.base_url.clone()).collect(),
        secret_key: merchant.secret_key,
        server_pids: gateways.iter().map(|g| g.pid()).collect(),
        backend: database.backend.to_owned(),
        database_url: Some(database.url.clone()),
        own: Some((merchant.id.clone(), database.data_dir.clone())),
        terminal,
    };
    let outcome = measure_and_report(&target, args).await;
    for gateway in &mut gateways {
        gateway.terminate().context("stopping a gateway")?;
    }
    outcome
}

/// The first gateway uses the run's data directory; each further instance
/// (`Some(n)`) a directory of its own (its log, its sandbox journal) but
/// the first one's key-hash secret and vault keyring, as instances of one
/// deployment share them.
fn start_gateway(
    database: &FreshDatabase,
    instance: Option<usize>,
    terminal_listen: Option<&str>,
) -> anyhow::Result<process::ChildProcess> {
    let primary = &database.data_dir;
    let (data_dir, mut settings) = match instance {
        None => (primary.clone(), GATEWAY_SETTINGS.to_owned()),
        Some(n) => {
            let dir = primary.join(format!("instance-{n}"));
            std::fs::create_dir_all(&dir)?;
            let secret = std::fs::read_to_string(primary.join(KEY_HASH_SECRET_FILE))
                .context("reading the first instance's key-hash secret")?;
            let keyring = primary.join(VAULT_KEYRING_FILE);
            let settings = format!(
                "{GATEWAY_SETTINGS}key_hash_secret = {:?}\nvault_keyring_file = {:?}\n",
                secret.trim(),
                keyring.display().to_string()
            );
            (dir, settings)
        }
    };
    if let Some(address) = terminal_listen {
        settings.push_str(&format!("iso8583_listen = {address:?}\n"));
    }
    process::start_gateway(&process::GatewaySpec {
        database_url: &database.url,
        data_dir: &data_dir,
        settings_toml: &settings,
        listen: "127.0.0.1:0",
        log_filter: "info",
    })
}

/// What `--seed-payments` lists: the newest page of 100 intents.
const LIST_PATH: &str = "/v1/payment_intents?limit=100";
/// Seeded payments per seeded customer.
const SEED_PAYMENTS_PER_CUSTOMER: u64 = 10;
/// Different customers searched for, spread over all seeded ones.
const SEARCHED_CUSTOMERS_MAX: u64 = 1_000;

/// Searches by email for customers spread over the `customers` seeded.
fn customer_searches(customers: u64) -> Vec<String> {
    let step = customers.div_ceil(SEARCHED_CUSTOMERS_MAX).max(1);
    (0..customers)
        .step_by(step as usize)
        .map(|index| {
            let email = crate::seed::customer_email(index).replace('@', "%40");
            format!("/v1/customers/search?query=email%3A%27{email}%27")
        })
        .collect()
}

/// Writes `payments` payments and `customers` customers: straight to the
/// store (`portcullis seed --merchant …`, while the gateways idle) when the
/// bench started them, else through the `--url` gateway's API.
async fn seed(
    target: &RunTarget,
    args: &BenchArgs,
    customers: u64,
    payments: u64,
) -> anyhow::Result<crate::seed::Seeded> {
    if let (Some(url), Some((merchant, data_dir))) = (&target.database_url, &target.own) {
        let order = process::SeedOrder {
            merchant,
            payments,
            customers,
            in_flight: args.connections,
        };
        return process::seed(url, data_dir, &order);
    }
    let through = crate::seed::through_api::Target {
        base_urls: target.base_urls.clone(),
        secret_key: target.secret_key.clone(),
        connections: args.connections,
    };
    crate::seed::through_api::drive(&through, customers, payments).await
}

fn free_loopback_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
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
    let write_cost = match args.write_cost_payments {
        None => None,
        Some(payments) => {
            let source = write_cost::Source {
                base_url: &target.base_urls[0],
                secret_key: &target.secret_key,
                backend: &target.backend,
                database_url: target.database_url.as_deref(),
            };
            Some(write_cost::measure(&source, payments).await?)
        }
    };
    let load_before = machine::load_avg();
    let orders = Arc::new(AtomicU64::new(0));
    let all = target.base_urls.clone();
    let phase = |what: Target, base_urls: &[String], rate: Option<u32>| Phase {
        base_urls: base_urls.to_vec(),
        secret_key: target.secret_key.clone(),
        connections: args.connections,
        duration: Duration::from_secs(args.duration_s),
        target: what,
        rate: rate.map(f64::from),
    };
    if args.warmup_s > 0 {
        let mut warmup = phase(Target::Payments, &all, None);
        warmup.duration = Duration::from_secs(args.warmup_s);
        load::run(&warmup, orders.clone()).await;
    }
    let echo = Target::Echo {
        path: "/internal/echo".to_owned(),
        body: workload::payment_body(workload::Kind::Succeeds, 1),
    };
    let mut phases = vec![];
    let mut measure = async |name: &'static str, phase: Phase| {
        let measured: Measured = load::run(&phase, orders.clone()).await;
        phases.push(PhaseFigures::of(name, &phase, measured));
    };
    measure("baseline", phase(echo, &all, None)).await;
    if all.len() > 1 {
        measure(
            "payments_one_instance",
            phase(Target::Payments, &all[..1], None),
        )
        .await;
    }
    measure("payments", phase(Target::Payments, &all, None)).await;
    if let Some(rate) = args.rate {
        measure(
            "payments_open_loop",
            phase(Target::Payments, &all, Some(rate)),
        )
        .await;
    }
    let mut seeded = None;
    if let Some(payments) = args.seed_payments {
        let customers = payments.div_ceil(SEED_PAYMENTS_PER_CUSTOMER);
        seeded = Some(seed(target, args, customers, payments).await?);
        measure("payments_seeded", phase(Target::Payments, &all, None)).await;
        let lists = Target::Reads {
            paths: Arc::new(vec![LIST_PATH.to_owned()]),
        };
        let searches = Target::Reads {
            paths: Arc::new(customer_searches(customers)),
        };
        // Each read at the run's connections (throughput: the latency
        // includes queueing behind the others), then from one connection
        // (what one read costs on the grown database, with no queue).
        measure("list_payment_intents", phase(lists.clone(), &all, None)).await;
        measure("search_customers", phase(searches.clone(), &all, None)).await;
        let alone = |what: Target| Phase {
            connections: 1,
            ..phase(what, &all, None)
        };
        measure("list_payment_intents_one_connection", alone(lists)).await;
        measure("search_customers_one_connection", alone(searches)).await;
    }
    if phases[0].measured.ok == 0 {
        bail!(
            "the baseline endpoint answered nothing: is the target started with bench_echo = true?"
        );
    }
    let terminal_figures = match &target.terminal {
        Some((address, terminal)) => {
            let duration = Duration::from_secs(args.duration_s);
            let load = terminals::drive(address, terminal, args.connections, duration).await?;
            let codec = terminals::codec_per_s(terminal, duration);
            let payments = phases.iter().find(|p| p.name == "payments");
            let http = payments.map_or(0.0, |p| p.measured.per_s());
            Some(terminals::figures(codec, &load, args.connections, http))
        }
        None => None,
    };
    let report = Report {
        terminals: terminal_figures,
        backend: &target.backend,
        server_pids: &target.server_pids,
        args,
        phases: &phases,
        load_before,
        load_after: machine::load_avg(),
        write_cost,
        seeded: seeded.as_ref(),
    };
    report.print();
    Ok(())
}
