//! `portcullis seed --payments N`: fills a database with payment history
//! for the growth benchmark — customers, then card payments through the
//! real API (intents, payment methods, attempts, charges, events, risk
//! counters, ledger postings on the hash chain), so that nothing in it is
//! of a shape the gateway would not write itself.
//!
//! It starts a gateway of its own on the database (a child process on a
//! loopback port, the data directory's key-hash secret and keyring),
//! creates a merchant, and drives the payments over many keep-alive
//! connections, so that group commit batches them. 95 % succeed
//! (`pm_card_visa`), 5 % are declined; every payment belongs to one of the
//! customers, in turn. On SQLite, stop any other gateway on the file
//! first: one process writes an SQLite database at a time.

use crate::bench::client::{Call, Connection};
use crate::cli::SeedArgs;
use crate::harness::process;
use anyhow::{bail, Context};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub const PAYMENTS_MAX: u64 = 100_000_000;
const CONNECTIONS_MAX: usize = 1_024;
/// One customer per this many payments, unless `--customers` says.
const PAYMENTS_PER_CUSTOMER: u64 = 10;
const CUSTOMERS_MAX: u64 = 10_000_000;
/// Percent of seeded payments the test card declines.
const DECLINED_PERCENT: u64 = 5;
/// The seeding gateway's settings: limits far above what seeding sends.
const GATEWAY_SETTINGS: &str = "rate_limit_per_key_per_s = 1000000\n\
    rate_limit_per_merchant_per_s = 1000000\n";
const JSON: &str = "application/json";

/// What one seeding run wrote.
pub struct Seeded {
    pub customers: u64,
    pub payments: u64,
    /// Payments answered neither 200 nor the decline's 402.
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

/// Seeds the database of the settings (`--database-url`, `--data-dir`).
pub async fn run(database_url: &str, data_dir: &Path, args: &SeedArgs) -> anyhow::Result<()> {
    let customers = customers_of(args)?;
    std::fs::create_dir_all(data_dir)?;
    let merchant = process::create_merchant(database_url, data_dir)?;
    let mut gateway = process::start_gateway(&process::GatewaySpec {
        database_url,
        data_dir,
        settings_toml: GATEWAY_SETTINGS,
        listen: "127.0.0.1:0",
        log_filter: "warn",
    })?;
    let target = Target {
        base_urls: vec![gateway.base_url.clone()],
        secret_key: merchant.secret_key.clone(),
        connections: args.connections,
    };
    let outcome = drive(&target, customers, args.payments).await;
    gateway
        .terminate()
        .context("stopping the seeding gateway")?;
    let seeded = outcome?;
    let report = json!({
        "merchant": merchant.id,
        "customers": seeded.customers,
        "payments": seeded.payments,
        "errors": seeded.errors,
        "elapsed_s": (seeded.elapsed_s * 10.0).round() / 10.0,
        "payments_per_s": seeded.payments_per_s().round(),
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "seeded merchant {}: {} customers, {} payments ({} errors) in {:.1} s, {:.0} payments/s",
            merchant.id,
            seeded.customers,
            seeded.payments,
            seeded.errors,
            seeded.elapsed_s,
            seeded.payments_per_s()
        );
    }
    if seeded.errors > 0 {
        bail!(
            "{} payments were not written; see the log in {}",
            seeded.errors,
            data_dir.display()
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
    Ok(customers)
}

/// Gateways to seed through, as whom, over how many connections.
pub struct Target {
    pub base_urls: Vec<String>,
    pub secret_key: String,
    pub connections: usize,
}

/// Creates `customers` customers, then `payments` payments spread over
/// them, over `target.connections` connections.
pub async fn drive(target: &Target, customers: u64, payments: u64) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let customer_ids = Arc::new(create_customers(target, customers).await?);
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..target.connections)
        .map(|worker| {
            let base_url = target.base_urls[worker % target.base_urls.len()].clone();
            let (secret_key, next, customer_ids) = (
                target.secret_key.clone(),
                next.clone(),
                customer_ids.clone(),
            );
            tokio::spawn(async move {
                let mut connection = Connection::new(&base_url, &secret_key);
                let mut errors = 0u64;
                loop {
                    let order = next.fetch_add(1, Ordering::Relaxed);
                    if order >= payments {
                        return errors;
                    }
                    let customer = &customer_ids[(order % customer_ids.len() as u64) as usize];
                    errors += u64::from(!pay(&mut connection, order, customer).await);
                }
            })
        })
        .collect();
    let mut errors = 0;
    for worker in workers {
        errors += worker.await.unwrap_or(payments);
    }
    Ok(Seeded {
        customers,
        payments,
        errors,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

async fn create_customers(target: &Target, count: u64) -> anyhow::Result<Vec<String>> {
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..target.connections)
        .map(|worker| {
            let base_url = target.base_urls[worker % target.base_urls.len()].clone();
            let (secret_key, next) = (target.secret_key.clone(), next.clone());
            tokio::spawn(async move {
                let mut connection = Connection::new(&base_url, &secret_key);
                let mut created = vec![];
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        return Ok::<_, anyhow::Error>(created);
                    }
                    created.push((index, create_customer(&mut connection, index).await?));
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

async fn create_customer(connection: &mut Connection, index: u64) -> anyhow::Result<String> {
    let body = json!({
        "email": customer_email(index),
        "name": format!("Seed Customer {index}"),
        "metadata": { "seed_index": index.to_string() },
    });
    let call = Call {
        path: "/v1/customers",
        body: body.to_string().into(),
        content_type: JSON,
        idempotency_key: None,
    };
    let answer = connection.send(&call).await?;
    if answer.status != 200 {
        bail!(
            "creating a customer answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    let created: serde_json::Value = serde_json::from_slice(&answer.body)?;
    Ok(created["id"]
        .as_str()
        .context("a customer without an id")?
        .to_owned())
}

/// One create-and-confirm payment of seeded customer `customer`; whether
/// it was answered as its card should be (200, or 402 declined).
async fn pay(connection: &mut Connection, order: u64, customer: &str) -> bool {
    let declined = order % 100 < DECLINED_PERCENT;
    let method = if declined {
        "pm_card_visa_chargeDeclined"
    } else {
        "pm_card_visa"
    };
    let body = json!({
        "amount": 500 + (order * 7_919) % 20_000,
        "currency": "usd",
        "customer": customer,
        "payment_method": method,
        "confirm": true,
        "description": format!("Seeded order {order:012}"),
        "metadata": { "order_id": format!("ord_{order:012}"), "channel": "seed" },
    });
    let call = Call {
        path: "/v1/payment_intents",
        body: body.to_string().into(),
        content_type: JSON,
        idempotency_key: None,
    };
    let expected = if declined { 402 } else { 200 };
    connection
        .send(&call)
        .await
        .is_ok_and(|answer| answer.status == expected)
}
