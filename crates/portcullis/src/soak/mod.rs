//! `portcullis soak`: crash safety under load. The sandbox acquirer runs as
//! its own process (its journal survives); the gateway is a child that is
//! killed with SIGKILL at random moments, `--kills` times over
//! `--duration-s`, and restarted at once on the same port, while clients
//! ([`driver`]) drive payments with idempotency keys and retry whatever got
//! no definite answer. Every event goes to a webhook endpoint served by the
//! soak itself ([`receiver`]). Then the recovery worker is given time to
//! settle orphaned attempts and the outbox to drain, and [`reconcile`] and
//! [`outbox`] hold the clients' acknowledgements, the gateway's rows, the
//! acquirer's journal and the receiver's record against each other; last,
//! `portcullis ledger verify` replays the ledger.
//! With `--acquirer iso8583` the acquirer is `portcullis acquirer-sim`
//! (ISO 8583 over TCP, routed to by a `[connectors.sim]` table), and its
//! journal is reconciled too ([`journal`]): every approval captured once or
//! reversed, none open.
//! With `--routing` the payments are routed (70/30 split) across two
//! `portcullis processor-sim`s made to fail and recover during the run, and
//! both journals are reconciled against the gateway ([`routing`]): none
//! authorized on two processors.
//! Exits non-zero when anything was lost, duplicated, left unresolved or
//! undelivered, or the ledger does not verify.

mod driver;
mod journal;
mod outbox;
mod receiver;
mod reconcile;
mod routing;
mod wallets;

use crate::cli::SoakArgs;
use crate::harness::{database::FreshDatabase, machine, process};
use anyhow::{bail, Context};
use portcullis_connectors::RemoteAcquirer;
use portcullis_store::{Store, StoreOptions};
use rand::Rng;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KILLS_MAX: u32 = 10_000;
const DURATION_S_MAX: u64 = 24 * 3600;
const CONNECTIONS_MAX: usize = 256;
/// Longest wait for the recovery worker to settle every pending attempt.
const SETTLE_WAIT_S_MAX: u64 = 120;
/// Short recovery timings, so orphans are settled within seconds.
const ATTEMPT_STALE_MS: u64 = 3_000;
const CONNECTOR_TIMEOUT_MS: u64 = 2_000;

pub async fn run(database_url: Option<&str>, args: &SoakArgs) -> anyhow::Result<()> {
    if args.kills == 0 || args.kills > KILLS_MAX {
        bail!("--kills must be 1 to {KILLS_MAX}");
    }
    if args.duration_s == 0 || args.duration_s > DURATION_S_MAX {
        bail!("--duration-s must be 1 to {DURATION_S_MAX}");
    }
    if args.connections == 0 || args.connections > CONNECTIONS_MAX {
        bail!("--connections must be 1 to {CONNECTIONS_MAX}");
    }
    let acquirer = AcquirerKind::parse(&args.acquirer)?;
    if args.routing && acquirer != AcquirerKind::Sandbox {
        bail!("--routing pays through processor-sim; leave out --acquirer");
    }
    let database = FreshDatabase::create(database_url).await?;
    let outcome = if args.wallets {
        wallets::soak(&database, args).await
    } else {
        soak(&database, args, acquirer).await
    };
    database.drop_database().await;
    let clean = outcome?;
    if !clean {
        std::process::exit(1);
    }
    Ok(())
}

/// Attempts per second of a run that the soak's simulators are sized for:
/// ten times what a 2-core machine made on SQLite (about 420 a second).
const ATTEMPTS_PER_S_MAX: usize = 5_000;

/// How many attempts the soak's sandbox acquirer (or each `processor-sim`
/// of `--routing`) remembers: every one a run of `duration_s` can make, so
/// that all are reconciled (it answers for one it forgot as if it had
/// never seen it).
fn attempts_max_of_run(duration_s: u64) -> usize {
    usize::try_from(duration_s)
        .unwrap_or(usize::MAX)
        .saturating_mul(ATTEMPTS_PER_S_MAX)
        .max(portcullis_connectors::sandbox::ATTEMPTS_MAX_DEFAULT)
}

/// Which acquirer process the soak pays through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AcquirerKind {
    /// `portcullis sandbox-acquirer` (HTTP/JSON), as `connector_url`.
    Sandbox,
    /// `portcullis acquirer-sim` (ISO 8583), as `[connectors.sim]`.
    Iso8583,
}

impl AcquirerKind {
    fn parse(text: &str) -> anyhow::Result<AcquirerKind> {
        match text {
            "sandbox" => Ok(AcquirerKind::Sandbox),
            "iso8583" => Ok(AcquirerKind::Iso8583),
            other => bail!("--acquirer must be sandbox or iso8583, not {other:?}"),
        }
    }

    fn start(
        self,
        data_dir: &std::path::Path,
        attempts_max: usize,
    ) -> anyhow::Result<process::ChildProcess> {
        match self {
            AcquirerKind::Sandbox => {
                process::start_sandbox_acquirer(data_dir, "127.0.0.1:0", attempts_max)
            }
            AcquirerKind::Iso8583 => process::start_acquirer_sim(data_dir),
        }
    }

    /// The settings that send `merchant`'s payments to `acquirer`.
    fn settings_toml(self, acquirer: &process::ChildProcess, merchant: &str) -> String {
        match self {
            AcquirerKind::Sandbox => {
                settings_toml(&format!("connector_url = \"{}\"\n", acquirer.base_url), "")
            }
            AcquirerKind::Iso8583 => settings_toml(
                "",
                &format!(
                    "[connectors.sim]\ntype = \"iso8583\"\naddress = \"{}\"\n\
                     acquirer_id = \"12345\"\ncard_acceptor_id = \"SOAKMERCHANT001\"\n\
                     terminal_id = \"SOAK0001\"\nrequest_timeout_ms = {CONNECTOR_TIMEOUT_MS}\n\
                     merchants = [\"{merchant}\"]\n",
                    acquirer.base_url
                ),
            ),
        }
    }
}

/// The gateway's settings: quick recovery, and quick webhook retries to
/// the soak's own receiver on loopback (lease: the timeout plus 5 s), and
/// rate limits out of the way of its load; `head` (keys) goes first and
/// `tables` last.
fn settings_toml(head: &str, tables: &str) -> String {
    format!(
        "{head}\
         connector_timeout_ms = {CONNECTOR_TIMEOUT_MS}\n\
         attempt_stale_ms = {ATTEMPT_STALE_MS}\n\
         recovery_interval_ms = 500\n\
         idempotency_lease_s = 3\n\
         shutdown_grace_s = 10\n\
         webhooks_allow_private_targets = true\n\
         webhooks_timeout_ms = 2000\n\
         webhooks_retry_base_ms = 250\n\
         webhooks_retry_cap_ms = 2000\n\
         webhooks_poll_interval_ms = 50\n\
         webhooks_endpoint_concurrency_max = 32\n\
         rate_limit_per_key_per_s = 1000000\n\
         rate_limit_per_merchant_per_s = 1000000\n\
         {tables}"
    )
}

fn free_loopback_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Everything the soak found.
struct Findings {
    kills: u32,
    settle_s: f64,
    drain_s: f64,
    record: driver::Record,
    found: reconcile::Reconciliation,
    outbox: outbox::Outbox,
    receipts: receiver::Receipts,
    ledger: process::LedgerCheck,
    /// With `--acquirer iso8583`: the simulator's journal against the gateway.
    journal: Option<journal::JournalReconciliation>,
    /// With `--routing`: the simulators' settings changes made during the
    /// run, and both journals against the gateway.
    routing: Option<(u32, routing::RoutingReconciliation)>,
}

impl Findings {
    /// Nothing lost, duplicated, unresolved, undelivered or unverified.
    fn clean(&self) -> bool {
        let (found, outbox) = (&self.found, &self.outbox);
        found.lost == 0
            && found.duplicated == 0
            && found.unresolved_attempts == 0
            && self.record.unexpected.is_empty()
            && self.ledger.verified
            && outbox.undelivered_events == 0
            && outbox.delivered_not_received == 0
            && outbox.received_unknown == 0
            && self.receipts.invalid_signatures == 0
            && self.journal.as_ref().is_none_or(|j| j.clean())
            && self.routing.as_ref().is_none_or(|(_, r)| r.clean())
    }
}

/// Runs the soak; true when [`Findings::clean`].
async fn soak(
    database: &FreshDatabase,
    args: &SoakArgs,
    kind: AcquirerKind,
) -> anyhow::Result<bool> {
    let attempts_max = attempts_max_of_run(args.duration_s);
    let mut acquirer = kind.start(&database.data_dir, attempts_max)?;
    let mut processors = match args.routing {
        true => Some(routing::start(&database.data_dir, attempts_max)?),
        false => None,
    };
    let merchant = process::create_merchant(&database.url, &database.data_dir)?;
    let toml = match processors {
        Some(_) => settings_toml("connectors_allow_private_endpoints = true\n", ""),
        None => kind.settings_toml(&acquirer, &merchant.id),
    };
    let spec = GatewayOwned {
        database_url: database.url.clone(),
        data_dir: database.data_dir.clone(),
        toml,
        listen: format!("127.0.0.1:{}", free_loopback_port()?),
    };
    let gateway = Arc::new(Mutex::new(spec.start()?));
    let base_url = gateway.lock().expect("gateway").base_url.clone();
    let store = Store::open(&database.url, &StoreOptions::default()).await?;
    let receiver = receiver::Receiver::start().await?;
    let (endpoint, secret) = outbox::register(
        &store,
        &base_url,
        &merchant.secret_key,
        &merchant.id,
        &receiver.url,
    )
    .await?;
    receiver.expect_secret(secret)?;
    if let Some(processors) = &mut processors {
        processors.set_up(&base_url, &merchant.secret_key).await?;
    }
    let run = Duration::from_secs(args.duration_s);
    let disturbing = async {
        match &processors {
            Some(processors) => processors.disturb(run).await,
            None => Ok(0),
        }
    };
    let (driven, disturbed) = tokio::join!(
        drive_while_killing(&gateway, &spec, args, &merchant),
        disturbing
    );
    let (kills, record) = driven?;
    let sim_changes = disturbed?;
    let settle_s = wait_until_settled(&store).await?;
    let drain_s = outbox::wait_until_drained(&store, &endpoint).await?;
    gateway.lock().expect("gateway").terminate()?;
    let per_processor = match &processors {
        Some(processors) => processors.listings().await?,
        None => Vec::new(),
    };
    let listing = match kind {
        _ if processors.is_some() => Vec::new(),
        AcquirerKind::Sandbox => {
            let listed = RemoteAcquirer::new(&acquirer.base_url, Duration::from_secs(30))
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .attempts()
                .await
                .map_err(|e| anyhow::anyhow!("listing the acquirer's attempts: {e}"))?;
            anyhow::ensure!(
                listed.len() < attempts_max,
                "the acquirer remembers {attempts_max} attempts and listed as many: \
                 it may have forgotten older ones, which could not be reconciled"
            );
            listed
        }
        // ISO 8583 has no listing: its journal is reconciled below.
        AcquirerKind::Iso8583 => Vec::new(),
    };
    acquirer.terminate()?;
    let receipts = receiver.stop();
    let listed: Vec<&_> = listing
        .iter()
        .chain(per_processor.iter().flatten())
        .collect();
    let found = reconcile::reconcile(&store, &record, &listed).await?;
    let routing = match &mut processors {
        Some(processors) => {
            processors.terminate()?;
            let found = routing::reconcile(&store, &processors.accounts, &per_processor).await?;
            Some((sim_changes, found))
        }
        None => None,
    };
    let journal = match kind {
        AcquirerKind::Sandbox => None,
        AcquirerKind::Iso8583 => Some(
            journal::reconcile(
                &store,
                &database.data_dir.join(process::ACQUIRER_SIM_JOURNAL),
            )
            .await?,
        ),
    };
    let outbox = outbox::check(&store, &endpoint, &receipts).await?;
    store.close().await;
    let ledger = process::verify_ledger(&database.url, &database.data_dir)?;
    let findings = Findings {
        kills,
        settle_s,
        drain_s,
        record,
        found,
        outbox,
        receipts,
        ledger,
        journal,
        routing,
    };
    report(args, database.backend, &findings);
    Ok(findings.clean())
}

/// Drives payments from `args.connections` clients for the run while
/// killing the gateway; returns the kills done and what clients saw.
async fn drive_while_killing(
    gateway: &Arc<Mutex<process::ChildProcess>>,
    spec: &GatewayOwned,
    args: &SoakArgs,
    merchant: &process::Merchant,
) -> anyhow::Result<(u32, driver::Record)> {
    let base_url = gateway.lock().expect("gateway").base_url.clone();
    let record: driver::Shared = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(args.duration_s);
    let clients: Vec<_> = (0..args.connections)
        .map(|name| {
            let client = driver::Client {
                http: reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .expect("client"),
                base_url: base_url.clone(),
                secret_key: merchant.secret_key.clone(),
                record: record.clone(),
            };
            tokio::spawn(async move { client.drive(name, deadline).await })
        })
        .collect();
    let kills = kill_repeatedly(gateway, spec, args).await?;
    for client in clients {
        client.await.context("a soak client failed")?;
    }
    let record = std::mem::take(&mut *record.lock().expect("record"));
    Ok((kills, record))
}

/// What restarting the gateway needs.
struct GatewayOwned {
    database_url: String,
    data_dir: std::path::PathBuf,
    toml: String,
    listen: String,
}

impl GatewayOwned {
    fn start(&self) -> anyhow::Result<process::ChildProcess> {
        process::start_gateway(&process::GatewaySpec {
            database_url: &self.database_url,
            data_dir: &self.data_dir,
            settings_toml: &self.toml,
            listen: &self.listen,
            log_filter: "warn",
        })
    }
}

/// Kills the gateway `args.kills` times, once at a random moment in each
/// equal slot of the run, restarting it at once; returns the kills done.
async fn kill_repeatedly(
    gateway: &Arc<Mutex<process::ChildProcess>>,
    spec: &GatewayOwned,
    args: &SoakArgs,
) -> anyhow::Result<u32> {
    let slot = Duration::from_secs(args.duration_s) / args.kills;
    let mut kills = 0;
    for _ in 0..args.kills {
        let wait = slot.mul_f64(rand::thread_rng().gen_range(0.2..0.9));
        tokio::time::sleep(wait).await;
        let started = Instant::now();
        restart(gateway, spec)?;
        kills += 1;
        tokio::time::sleep(slot.saturating_sub(wait + started.elapsed())).await;
    }
    Ok(kills)
}

/// SIGKILL, then a new gateway on the same port at once.
fn restart(gateway: &Arc<Mutex<process::ChildProcess>>, spec: &GatewayOwned) -> anyhow::Result<()> {
    let mut child = gateway.lock().expect("gateway");
    child.kill();
    *child = spec
        .start()
        .context("restarting the gateway after a kill")?;
    Ok(())
}

/// Waits (bounded) until the recovery worker has settled every attempt.
async fn wait_until_settled(store: &Store) -> anyhow::Result<f64> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(SETTLE_WAIT_S_MAX) {
        if reconcile::pending_attempts(store).await? == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(started.elapsed().as_secs_f64())
}

fn report(args: &SoakArgs, backend: &str, findings: &Findings) {
    let Findings {
        record,
        found,
        outbox,
        receipts,
        ledger,
        ..
    } = findings;
    let mut value = json!({
        "backend": backend,
        "acquirer": args.acquirer,
        "duration_s": args.duration_s,
        "connections": args.connections,
        "kills": findings.kills,
        "acknowledged": record.acknowledged.len(),
        "declined": record.declined,
        "abandoned": record.abandoned,
        "unexpected_answers": record.unexpected.len(),
        "requests_sent": record.sends,
        "retries": record.retries,
        "intents": found.intents,
        "lost": found.lost,
        "duplicated": found.duplicated,
        "unresolved_attempts": found.unresolved_attempts,
        "acquirer_attempts": found.acquirer_attempts,
        "held_for_capture": found.held_for_capture,
        "settle_s": tenths(findings.settle_s),
        "ledger_verified": ledger.verified,
        "ledger_entries": ledger.entries,
        "events": outbox.events,
        "undelivered_events": outbox.undelivered_events,
        "deliveries_pending": outbox.deliveries_pending,
        "deliveries_failed": outbox.deliveries_failed,
        "delivered_not_received": outbox.delivered_not_received,
        "received_unknown": outbox.received_unknown,
        "duplicate_receipts": receipts.duplicates(),
        "receiver_500s": receipts.refused_on_purpose,
        "invalid_signatures": receipts.invalid_signatures,
        "drain_s": tenths(findings.drain_s),
        "load_avg_after": machine::load_avg(),
    });
    if let Some(journal) = &findings.journal {
        value["acquirer_journal"] = json!({
            "approvals": journal.approvals,
            "captured": journal.captured,
            "reversed": journal.reversed,
            "open": journal.open,
            "disagreeing": journal.disagreeing,
        });
    }
    if let Some((changes, routing)) = &findings.routing {
        value["acquirer"] = json!("processor-sim (routing)");
        value["routing"] = routing.to_json();
        value["routing"]["simulator_settings_changes"] = json!(changes);
    }
    if args.json {
        println!("{value}");
    } else {
        println!("{value:#}");
    }
    if !ledger.verified {
        eprintln!("soak: ledger verify: {}", ledger.said);
    }
    let journal_examples = findings
        .journal
        .iter()
        .flat_map(|j| &j.examples)
        .chain(findings.routing.iter().flat_map(|(_, r)| &r.examples));
    let examples = found
        .examples
        .iter()
        .chain(&outbox.examples)
        .chain(journal_examples);
    for line in examples.chain(record.unexpected.iter().take(5)) {
        eprintln!("soak: {line}");
    }
}

fn tenths(seconds: f64) -> f64 {
    (seconds * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::attempts_max_of_run;

    /// A 300 s soak on session 16's 2-core machine made about 139,000
    /// attempts on SQLite, past the acquirer's default memory of 100,000:
    /// the soak's acquirer is sized by the run's length instead.
    #[test]
    fn the_soak_acquirer_remembers_every_attempt_a_run_can_make() {
        assert_eq!(attempts_max_of_run(1), 100_000);
        assert_eq!(attempts_max_of_run(300), 1_500_000);
        assert_eq!(attempts_max_of_run(u64::MAX), usize::MAX);
    }
}
