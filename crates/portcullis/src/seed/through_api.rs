//! Seeding through a running gateway's API (`portcullis bench --url …
//! --seed-payments N`, where the bench owns no database to write to):
//! customers, then create-and-confirm card payments over many keep-alive
//! connections, so that group commit batches them. Slower than writing to
//! the store (each payment is two commits, a connector call and an HTTP
//! round trip), but it needs nothing but a secret key.

use super::{customer_email, Seeded};
use crate::bench::client::{Call, Connection};
use anyhow::{bail, Context};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const JSON: &str = "application/json";

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
    let declined = super::declines(order);
    let method = if declined {
        "pm_card_visa_chargeDeclined"
    } else {
        "pm_card_visa"
    };
    let body = json!({
        "amount": super::amount_minor(order),
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
