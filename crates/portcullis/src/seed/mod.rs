//! `portcullis seed --payments N`: fills a database with payment history
//! for the growth benchmark, written straight to the store.
//!
//! Every row is built by the API's own builders
//! (`portcullis_api::payments::history`): customers as `POST /v1/customers`
//! writes them, and per payment the write set of a create-and-confirm with
//! a `pm_card_*` test card — intent, payment method, attempt, charge,
//! events, risk evaluation and counters, and for a captured payment its
//! balance transaction and ledger postings, linked on the hash chain at
//! apply time, so `ledger verify` passes. Each payment's write set is
//! built alone, `--connections` at once; one committer merges a thousand
//! of them and applies them with `Store::commit_bulk` (multi-row inserts,
//! the ledger chain linked in one pass) while the next are being built. 95 % succeed
//! (`pm_card_visa`), 5 % are declined; every payment belongs to one of the
//! customers, in turn. The history spans `--days` ending now: each payment
//! is built as of its own time ([`AppState::as_of`]), rising with its order,
//! and committed in that order, so `seq` follows `created`.
//!
//! It writes into a new merchant, or into `--merchant` (an existing one:
//! the benchmark seeds its own merchant this way while its gateway idles;
//! SQLite lets another process write between the gateway's transactions).

pub mod through_api;

use crate::cli::SeedArgs;
use crate::settings::Settings;
use anyhow::{bail, Context};
use portcullis_api::payments::history::{self, HistoricCustomer, HistoricPayment};
use portcullis_api::{AppParts, AppState};
use portcullis_connectors::{SandboxAcquirer, SandboxOptions};
use portcullis_domain::ids::MerchantId;
use portcullis_domain::money::{Amount, Currency};
use portcullis_store::{Scope, Store, WriteSet};
use serde_json::json;
use std::collections::BTreeMap;
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
    let (merchant, seeded) = outcome?;
    let report = json!({
        "merchant": merchant,
        "customers": seeded.customers,
        "payments": seeded.payments,
        "errors": seeded.errors,
        "elapsed_s": (seeded.elapsed_s * 1000.0).round() / 1000.0,
        "payments_per_s": seeded.payments_per_s().round(),
    });
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

async fn seed(
    settings: &Settings,
    store: &Store,
    args: &SeedArgs,
    customers: u64,
) -> anyhow::Result<(String, Seeded)> {
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
    let state = AppState::new(AppParts {
        store: store.clone(),
        key_hasher: hasher,
        settings: settings.api.clone(),
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
    write_payments(&state, &scope, &customer_ids, span, args.connections).await?;
    let seeded = Seeded {
        customers,
        payments: args.payments,
        errors: 0,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    Ok((merchant.to_string(), seeded))
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

/// Writes `span.payments` payments over `customer_ids`: `in_flight`
/// builders make each payment's write set as of its time, one committer
/// merges [`PAYMENTS_PER_COMMIT`] of them in order and applies them with
/// `Store::commit_bulk`, while the builders go on filling its queue.
async fn write_payments(
    state: &AppState,
    scope: &Scope,
    customer_ids: &Arc<Vec<String>>,
    span: HistorySpan,
    in_flight: usize,
) -> anyhow::Result<()> {
    let payments = span.payments;
    let next = Arc::new(AtomicU64::new(0));
    let (built, to_commit) = tokio::sync::mpsc::channel::<(u64, WriteSet)>(QUEUED_PAYMENTS_MAX);
    let committer = tokio::spawn(commit_in_bulk(state.store.clone(), to_commit));
    let builders: Vec<_> = (0..in_flight)
        .map(|_| {
            let (state, scope, next) = (state.clone(), scope.clone(), next.clone());
            let (customer_ids, built) = (customer_ids.clone(), built.clone());
            tokio::spawn(async move {
                loop {
                    let order = next.fetch_add(1, Ordering::Relaxed);
                    if order >= payments {
                        return Ok::<_, anyhow::Error>(());
                    }
                    if order > 0 && order % PROGRESS_EVERY == 0 {
                        eprintln!("seed: {order} payments built");
                    }
                    let customer = &customer_ids[(order % customer_ids.len() as u64) as usize];
                    let as_of = state.as_of(span.time_of(order));
                    let payment = payment_writes(&as_of, &scope, order, customer).await?;
                    if built.send((order, payment)).await.is_err() {
                        // The committer failed: its error is the one to report.
                        return Ok(());
                    }
                }
            })
        })
        .collect();
    drop(built);
    let mut built_all = Ok(());
    for builder in builders {
        if let Err(err) = builder.await? {
            built_all = Err(err);
        }
    }
    let committed = committer.await?;
    committed.and(built_all)
}

/// Payments received out of order that the committer may hold while it
/// waits for an earlier one: builders take orders in turn, one each at a
/// time, so the gap is at most their number plus the queue.
const OUT_OF_ORDER_MAX: usize = QUEUED_PAYMENTS_MAX + CONNECTIONS_MAX;

/// Commits the payments it receives in their order, [`PAYMENTS_PER_COMMIT`]
/// at a time, until every builder is done (or a commit fails).
async fn commit_in_bulk(
    store: Store,
    mut to_commit: tokio::sync::mpsc::Receiver<(u64, WriteSet)>,
) -> anyhow::Result<()> {
    let mut waiting: BTreeMap<u64, WriteSet> = BTreeMap::new();
    let mut committed = 0u64;
    let mut open = true;
    loop {
        let mut writes = WriteSet::new();
        let mut merged = 0;
        while merged < PAYMENTS_PER_COMMIT {
            if let Some(payment) = waiting.remove(&(committed + merged as u64)) {
                writes.ops.extend(payment.ops);
                merged += 1;
                continue;
            }
            if !open {
                break;
            }
            match to_commit.recv().await {
                Some((order, payment)) => {
                    waiting.insert(order, payment);
                }
                None => open = false,
            }
            if waiting.len() > OUT_OF_ORDER_MAX {
                bail!(
                    "seeded payment {} was never built",
                    committed + merged as u64
                );
            }
        }
        if merged == 0 {
            // Left waiting only when a builder failed: its error is reported.
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
    history::payment_writes(state, scope, &payment)
        .await
        .map_err(api_error)
}

fn api_error(err: portcullis_api::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("building seeded history: {}", err.message)
}
