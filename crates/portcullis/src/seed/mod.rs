//! `portcullis seed --payments N`: fills a database with payment history
//! for the growth benchmark, written straight to the store.
//!
//! Every row is built by the API's own builders
//! (`portcullis_api::payments::history`): customers as `POST /v1/customers`
//! writes them, and per payment the write set of a create-and-confirm with
//! a `pm_card_*` test card — intent, payment method, attempt, charge,
//! events, risk evaluation and counters, and for a captured payment its
//! balance transaction and ledger postings, linked on the hash chain at
//! apply time, so `ledger verify` passes. The builders read nothing per
//! payment: the merchant's risk rules, routing rules and connector
//! accounts are read once per run (the state's caches keep them for the
//! run), and the risk past each payment is assessed against — velocity
//! counters, cards per subject, sightings — is the [`RiskMemory`] of the
//! risk writes of the payments before it, applied in order (the seeder is
//! the only writer of its merchant while it runs; `--check-risk-counters`
//! reads the counters back and compares). Payments are built one after
//! another, in order, while one committer merges a thousand of them and
//! applies them with `Store::commit_bulk` (multi-row inserts, the ledger
//! chain linked in one pass). The memory starts empty: counters the
//! merchant had before the run are not seen by the seeded payments'
//! checks. 95 % succeed
//! (`pm_card_visa`), 5 % are declined; every payment belongs to one of the
//! customers, in turn. The history spans `--days` ending now: each payment
//! is built as of its own time ([`AppState::as_of`]), rising with its order,
//! and committed in that order, so `seq` follows `created`.
//!
//! It writes into a new merchant, or into `--merchant` (an existing one:
//! the benchmark seeds its own merchant this way while its gateway idles;
//! SQLite lets another process write between the gateway's transactions).

mod risk_check;
pub mod through_api;

use crate::cli::SeedArgs;
use crate::settings::Settings;
use anyhow::{bail, Context};
use portcullis_api::payments::history::{self, HistoricCustomer, HistoricPayment, RiskPast};
use portcullis_api::{AppParts, AppState};
use portcullis_connectors::{SandboxAcquirer, SandboxOptions};
use portcullis_domain::ids::MerchantId;
use portcullis_domain::money::{Amount, Currency};
use portcullis_store::{RiskMemory, Scope, Store, WriteOp, WriteSet};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub const PAYMENTS_MAX: u64 = 100_000_000;
const CONNECTIONS_MAX: usize = 1_024;
/// One customer per this many payments, unless `--customers` says.
const PAYMENTS_PER_CUSTOMER: u64 = 10;
const CUSTOMERS_MAX: u64 = 10_000_000;
/// The longest history `--days` asks for (ten years).
const DAYS_MAX: u64 = 3_650;
const DAY_S: u64 = 86_400;
/// Customers inserted per write set (they share no row, so nothing is
/// lost by writing them together, and the writer sees fewer write sets).
const CUSTOMERS_PER_WRITE_SET: u64 = 1_000;
/// Percent of seeded payments the test card declines.
pub const DECLINED_PERCENT: u64 = 5;
/// Payments merged into one bulk commit (`Store::commit_bulk`): about
/// 22,000 rows, written with multi-row statements, one ledger pass and
/// one fsync. A failure fails them together, which for seeding stops the
/// run anyway.
const PAYMENTS_PER_COMMIT: usize = 1_000;
/// Built payments waiting for the committer: the builders run ahead of
/// the commit in progress by this many at most (memory stays bounded).
const QUEUED_PAYMENTS_MAX: usize = 2 * PAYMENTS_PER_COMMIT;
/// How often progress is written to stderr, in payments.
const PROGRESS_EVERY: u64 = 100_000;
/// How long the seeder's state keeps the merchant's risk rules, routing
/// rules and connector accounts once read: longer than any run, so they
/// are read once (nothing else changes them while the seeder writes).
const RULES_KEPT_MS: u64 = 30 * DAY_S * 1_000;

/// What one seeding run wrote.
pub struct Seeded {
    pub customers: u64,
    pub payments: u64,
    /// Payments answered neither 200 nor the decline's 402 (through the
    /// API); always 0 when written to the store, where a failure stops the run.
    pub errors: u64,
    pub elapsed_s: f64,
}

impl Seeded {
    pub fn payments_per_s(&self) -> f64 {
        self.payments as f64 / self.elapsed_s.max(f64::EPSILON)
    }
}

/// The email of seeded customer `index`: what a search finds it by.
pub fn customer_email(index: u64) -> String {
    format!("seed-{index}@example.com")
}

/// Whether seeded payment `order` uses the decline card.
pub fn declines(order: u64) -> bool {
    order % 100 < DECLINED_PERCENT
}

/// The amount of seeded payment `order`, in cents: 5.00 to 204.99 USD.
pub fn amount_minor(order: u64) -> i64 {
    500 + ((order * 7_919) % 20_000) as i64
}

/// Seeds the database of `settings`.
pub async fn run(settings: &Settings, args: &SeedArgs) -> anyhow::Result<()> {
    let customers = customers_of(args)?;
    let store = crate::admin::open_store(settings, crate::secrets::KeyHashUse::HashesKeys).await?;
    let outcome = seed(settings, &store, args, customers).await;
    store.close().await;
    let SeedRun {
        merchant,
        seeded,
        risk_subjects_checked,
    } = outcome?;
    let mut report = json!({
        "merchant": merchant,
        "customers": seeded.customers,
        "payments": seeded.payments,
        "errors": seeded.errors,
        "elapsed_s": (seeded.elapsed_s * 1000.0).round() / 1000.0,
        "payments_per_s": seeded.payments_per_s().round(),
    });
    if let Some(checked) = risk_subjects_checked {
        report["risk_subjects_checked"] = json!(checked);
    }
    if args.json {
        println!("{report}");
    } else {
        println!(
            "seeded merchant {merchant}: {} customers, {} payments in {:.1} s, {:.0} payments/s",
            seeded.customers,
            seeded.payments,
            seeded.elapsed_s,
            seeded.payments_per_s()
        );
        if let Some(checked) = risk_subjects_checked {
            println!("risk counters of {checked} subjects: the store holds what the seeder kept");
        }
    }
    Ok(())
}

fn customers_of(args: &SeedArgs) -> anyhow::Result<u64> {
    if args.payments == 0 || args.payments > PAYMENTS_MAX {
        bail!("--payments must be 1 to {PAYMENTS_MAX}");
    }
    if args.connections == 0 || args.connections > CONNECTIONS_MAX {
        bail!("--connections must be 1 to {CONNECTIONS_MAX}");
    }
    let customers = args
        .customers
        .unwrap_or_else(|| args.payments.div_ceil(PAYMENTS_PER_CUSTOMER));
    if customers == 0 || customers > CUSTOMERS_MAX {
        bail!("--customers must be 1 to {CUSTOMERS_MAX}");
    }
    if args.days == 0 || args.days > DAYS_MAX {
        bail!("--days must be 1 to {DAYS_MAX}");
    }
    Ok(customers)
}

/// What [`seed`] did: the merchant it wrote into, the figures, and how many
/// risk subjects `--check-risk-counters` found equal in store and memory.
struct SeedRun {
    merchant: String,
    seeded: Seeded,
    risk_subjects_checked: Option<u64>,
}

async fn seed(
    settings: &Settings,
    store: &Store,
    args: &SeedArgs,
    customers: u64,
) -> anyhow::Result<SeedRun> {
    let hasher = crate::secrets::key_hash_secret(
        settings.key_hash_secret_hex.as_deref(),
        &settings.data_dir,
    )?;
    let merchant = match &args.merchant {
        Some(id) => existing_merchant(store, id).await?,
        None => {
            crate::admin::create_merchant(store, &hasher, "Seeded history")
                .await?
                .merchant
                .id
        }
    };
    let vault =
        portcullis_vault::Vault::new(crate::vault_admin::load_for_serving(store, settings).await?);
    // The history builders call no connector; the state needs one, so it
    // gets a sandbox that keeps nothing and is never asked.
    let sandbox =
        SandboxAcquirer::new(SandboxOptions::default()).context("starting an in-memory sandbox")?;
    let mut api_settings = settings.api.clone();
    api_settings.risk_rules_cache_ttl_ms = RULES_KEPT_MS;
    api_settings.routing_cache_ttl_ms = RULES_KEPT_MS;
    let state = AppState::new(AppParts {
        store: store.clone(),
        key_hasher: hasher,
        settings: api_settings,
        vault: Arc::new(vault),
        connector: Arc::new(sandbox),
        payments: settings.payments.clone(),
        webhooks: settings.webhooks.clone(),
        ledger: settings.ledger.clone(),
        risk: portcullis_api::risk::RiskConfig::default(),
    });
    let scope = Scope {
        merchant_id: merchant.clone(),
        livemode: false,
    };
    let started = Instant::now();
    let span = HistorySpan::ending_now(&state, args.days, args.payments);
    let customer_ids = Arc::new(
        write_customers(
            &state.as_of(span.first_s),
            &scope,
            customers,
            args.connections,
        )
        .await?,
    );
    let memory = write_payments(&state, &scope, &customer_ids, span).await?;
    let seeded = Seeded {
        customers,
        payments: args.payments,
        errors: 0,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    let risk_subjects_checked = if args.check_risk_counters {
        let last_s = span.time_of(args.payments - 1);
        Some(risk_check::check(store, &memory, &scope, last_s).await?)
    } else {
        None
    };
    Ok(SeedRun {
        merchant: merchant.to_string(),
        seeded,
        risk_subjects_checked,
    })
}

async fn existing_merchant(store: &Store, id: &str) -> anyhow::Result<MerchantId> {
    let merchants = store.list_merchants().await?;
    merchants
        .into_iter()
        .map(|merchant| merchant.id)
        .find(|merchant| merchant.as_str() == id)
        .with_context(|| format!("--merchant {id}: no such merchant in this database"))
}

/// Inserts `count` customers, [`CUSTOMERS_PER_WRITE_SET`] per write set;
/// their ids in index order.
async fn write_customers(
    state: &AppState,
    scope: &Scope,
    count: u64,
    in_flight: usize,
) -> anyhow::Result<Vec<String>> {
    let batches = count.div_ceil(CUSTOMERS_PER_WRITE_SET);
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..in_flight.min(batches as usize))
        .map(|_| {
            let (state, scope, next) = (state.clone(), scope.clone(), next.clone());
            tokio::spawn(async move {
                let mut written = vec![];
                loop {
                    let batch = next.fetch_add(1, Ordering::Relaxed);
                    if batch >= batches {
                        return Ok::<_, anyhow::Error>(written);
                    }
                    let first = batch * CUSTOMERS_PER_WRITE_SET;
                    let last = (first + CUSTOMERS_PER_WRITE_SET).min(count);
                    written.extend(customer_batch(&state, &scope, first..last).await?);
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(count as usize);
    for worker in workers {
        all.extend(worker.await??);
    }
    all.sort();
    Ok(all.into_iter().map(|(_, id)| id).collect())
}

async fn customer_batch(
    state: &AppState,
    scope: &Scope,
    indexes: std::ops::Range<u64>,
) -> anyhow::Result<Vec<(u64, String)>> {
    let mut writes = WriteSet::new();
    let mut ids = vec![];
    for index in indexes {
        let email = customer_email(index);
        let customer = HistoricCustomer {
            email: &email,
            name: format!("Seed Customer {index}"),
            metadata: vec![("seed_index".to_owned(), index.to_string())],
        };
        let (id, customer_writes) =
            history::customer_writes(state, scope, &customer).map_err(api_error)?;
        writes.ops.extend(customer_writes.ops);
        ids.push((index, id));
    }
    state.store.commit_bulk(writes).await?;
    Ok(ids)
}

/// When the seeded history happens: `payments` payments spread evenly
/// over the `days` before now.
#[derive(Clone, Copy)]
struct HistorySpan {
    /// When the customers are created and the first payment made.
    first_s: i64,
    span_s: u64,
    payments: u64,
}

impl HistorySpan {
    fn ending_now(state: &AppState, days: u64, payments: u64) -> HistorySpan {
        let span_s = days * DAY_S;
        HistorySpan {
            first_s: state.now() - span_s as i64,
            span_s,
            payments,
        }
    }

    /// The time of payment `order`: `order / payments` of the way through
    /// (at most 3,650 days × 10⁸ payments = 3.2 × 10¹⁶, within u64).
    fn time_of(self, order: u64) -> i64 {
        self.first_s + (order * self.span_s / self.payments) as i64
    }
}

/// Writes `span.payments` payments over `customer_ids`: one builder makes
/// each payment's write set as of its time, in order, against the risk
/// memory of the payments before it; one committer merges
/// [`PAYMENTS_PER_COMMIT`] of them and applies them with
/// `Store::commit_bulk` while the builder goes on filling its queue.
/// Answers the memory: what the store's risk counters now hold.
async fn write_payments(
    state: &AppState,
    scope: &Scope,
    customer_ids: &Arc<Vec<String>>,
    span: HistorySpan,
) -> anyhow::Result<RiskMemory> {
    let (built, to_commit) = tokio::sync::mpsc::channel::<WriteSet>(QUEUED_PAYMENTS_MAX);
    let committer = tokio::spawn(commit_in_bulk(state.store.clone(), to_commit));
    let builder = {
        let (state, scope, customer_ids) = (state.clone(), scope.clone(), customer_ids.clone());
        tokio::spawn(
            async move { build_in_order(&state, &scope, &customer_ids, span, built).await },
        )
    };
    let built_all = builder.await?;
    let committed = committer.await?;
    committed.and(built_all)
}

/// Builds every payment in order, each assessed against the risk writes
/// of those before it (kept in memory, applied as built), and sends it
/// to the committer.
async fn build_in_order(
    state: &AppState,
    scope: &Scope,
    customer_ids: &[String],
    span: HistorySpan,
    built: tokio::sync::mpsc::Sender<WriteSet>,
) -> anyhow::Result<RiskMemory> {
    let mut memory = RiskMemory::new(scope.clone());
    for order in 0..span.payments {
        if order > 0 && order % PROGRESS_EVERY == 0 {
            eprintln!("seed: {order} payments built");
        }
        let customer = &customer_ids[(order % customer_ids.len() as u64) as usize];
        let as_of = state.as_of(span.time_of(order));
        let payment = payment_writes(&as_of, scope, order, customer, &memory).await?;
        for op in &payment.ops {
            if let WriteOp::Risk(write) = op {
                memory.apply(write);
            }
        }
        if built.send(payment).await.is_err() {
            // The committer failed: its error is the one to report.
            break;
        }
    }
    Ok(memory)
}

/// Commits the payments it receives, in their order,
/// [`PAYMENTS_PER_COMMIT`] at a time, until the builder is done (or a
/// commit fails).
async fn commit_in_bulk(
    store: Store,
    mut to_commit: tokio::sync::mpsc::Receiver<WriteSet>,
) -> anyhow::Result<()> {
    let mut committed = 0u64;
    loop {
        let mut writes = WriteSet::new();
        let mut merged = 0;
        while merged < PAYMENTS_PER_COMMIT {
            let Some(payment) = to_commit.recv().await else {
                break;
            };
            writes.ops.extend(payment.ops);
            merged += 1;
        }
        if merged == 0 {
            return Ok(());
        }
        let started = Instant::now();
        store.commit_bulk(writes).await.with_context(|| {
            format!(
                "writing seeded payments {committed}..{}",
                committed + merged as u64
            )
        })?;
        tracing::debug!(
            payments = merged,
            seconds = started.elapsed().as_secs_f64(),
            "seed: bulk commit"
        );
        committed += merged as u64;
    }
}

/// The write set of seeded payment `order` of `customer`.
async fn payment_writes(
    state: &AppState,
    scope: &Scope,
    order: u64,
    customer: &str,
    memory: &RiskMemory,
) -> anyhow::Result<WriteSet> {
    let payment = HistoricPayment {
        customer,
        amount: Amount::parse_minor(amount_minor(order))?,
        currency: Currency::parse("usd")?,
        test_method: if declines(order) {
            "pm_card_visa_chargeDeclined"
        } else {
            "pm_card_visa"
        },
        description: format!("Seeded order {order:012}"),
        metadata: vec![
            ("order_id".to_owned(), format!("ord_{order:012}")),
            ("channel".to_owned(), "seed".to_owned()),
        ],
    };
    history::payment_writes(state, scope, &payment, RiskPast::Memory(memory))
        .await
        .map_err(api_error)
}

fn api_error(err: portcullis_api::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("building seeded history: {}", err.message)
}
