//! After the soak: what the clients were told, what the gateway stored and
//! what the acquirer did, held against each other.
//!
//! - Every payment acknowledged with a 2xx exists exactly once with the
//!   acknowledged status (an acknowledged `processing` may since have
//!   settled to any final status; that is what it promised). Else: lost.
//! - No idempotency key produced two intents. Else: duplicated.
//! - Every authorization the acquirer recorded is an attempt the gateway
//!   knows, resolved, and agrees with the intent: held → `requires_capture`,
//!   captured → `succeeded`; declined, voided or never approved hold
//!   nothing. Gateway attempts still pending count too. Else: unresolved.

use super::driver::Record;
use portcullis_connectors::remote::protocol::AttemptListing;
use portcullis_connectors::AttemptState;
use portcullis_store::{ScanOp, ScanQuery, SqlValue, Store, Table};
use std::collections::HashMap;

/// Most rows read from one table (far more than a soak writes).
const ROWS_MAX: usize = 2_000_000;
/// Most examples of each failure printed.
const EXAMPLES_MAX: usize = 5;

#[derive(Debug, Default)]
pub struct Reconciliation {
    pub intents: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub unresolved_attempts: usize,
    pub acquirer_attempts: usize,
    pub held_for_capture: usize,
    pub examples: Vec<String>,
}

struct Intent {
    status: String,
    soak_key: Option<String>,
}

pub async fn pending_attempts(store: &Store) -> anyhow::Result<usize> {
    let query = ScanQuery {
        filters: vec![("state", ScanOp::Equal, SqlValue::Text("pending".to_owned()))],
        created_before: None,
        limit: ROWS_MAX,
    };
    Ok(store.scan(Table::PaymentAttempts, &query).await?.len())
}

pub async fn all_rows(store: &Store, table: Table) -> anyhow::Result<Vec<serde_json::Value>> {
    let query = ScanQuery {
        filters: vec![],
        created_before: None,
        limit: ROWS_MAX,
    };
    let docs = store.scan(table, &query).await?;
    anyhow::ensure!(docs.len() < ROWS_MAX, "more than {ROWS_MAX} rows");
    Ok(docs
        .iter()
        .filter_map(|found| serde_json::from_str(&found.doc.body).ok())
        .collect())
}

pub async fn reconcile(
    store: &Store,
    record: &Record,
    acquirer: &[&AttemptListing],
) -> anyhow::Result<Reconciliation> {
    let mut found = Reconciliation {
        acquirer_attempts: acquirer.len(),
        ..Reconciliation::default()
    };
    let intents: HashMap<String, Intent> = all_rows(store, Table::PaymentIntents)
        .await?
        .into_iter()
        .map(|body| {
            let intent = Intent {
                status: body["status"].as_str().unwrap_or_default().to_owned(),
                soak_key: body["metadata"]["soak_key"].as_str().map(str::to_owned),
            };
            (body["id"].as_str().unwrap_or_default().to_owned(), intent)
        })
        .collect();
    found.intents = intents.len();
    check_acknowledged(&mut found, record, &intents);
    check_attempts(&mut found, store, acquirer, &intents).await?;
    Ok(found)
}

fn check_acknowledged(
    found: &mut Reconciliation,
    record: &Record,
    intents: &HashMap<String, Intent>,
) {
    let mut per_key: HashMap<&str, usize> = HashMap::new();
    for intent in intents.values() {
        if let Some(key) = &intent.soak_key {
            *per_key.entry(key.as_str()).or_default() += 1;
        }
    }
    for (key, count) in &per_key {
        if *count > 1 {
            found.duplicated += count - 1;
            example(found, format!("key {key} produced {count} intents"));
        }
    }
    for (key, ack) in &record.acknowledged {
        let stored = intents.get(&ack.intent_id);
        let right = stored.is_some_and(|intent| {
            intent.soak_key.as_deref() == Some(key.as_str())
                && (intent.status == ack.status
                    || (ack.status == "processing" && intent.status != "processing"))
        });
        if !right {
            found.lost += 1;
            let now = stored.map(|i| i.status.as_str()).unwrap_or("missing");
            example(
                found,
                format!("{} acknowledged {} is {now}", ack.intent_id, ack.status),
            );
        }
    }
}

async fn check_attempts(
    found: &mut Reconciliation,
    store: &Store,
    acquirer: &[&AttemptListing],
    intents: &HashMap<String, Intent>,
) -> anyhow::Result<()> {
    let attempts: HashMap<String, serde_json::Value> = all_rows(store, Table::PaymentAttempts)
        .await?
        .into_iter()
        .map(|body| (body["id"].as_str().unwrap_or_default().to_owned(), body))
        .collect();
    let pending = attempts.values().filter(|a| a["resolved"] != true).count();
    found.unresolved_attempts += pending;
    if pending > 0 {
        example(found, format!("{pending} gateway attempts still pending"));
    }
    for listing in acquirer {
        let Some(attempt) = attempts.get(&listing.attempt_id) else {
            found.unresolved_attempts += 1;
            example(
                found,
                format!("{} unknown to the gateway", listing.attempt_id),
            );
            continue;
        };
        let intent_id = attempt["payment_intent"].as_str().unwrap_or_default();
        let status = intents
            .get(intent_id)
            .map_or("missing", |i| i.status.as_str());
        let agrees = match listing.record.state {
            AttemptState::Authorized => status == "requires_capture",
            AttemptState::Captured => status == "succeeded",
            AttemptState::Voided
            | AttemptState::Declined
            | AttemptState::AuthenticationRequired => true,
        };
        found.held_for_capture += usize::from(listing.record.state == AttemptState::Authorized);
        if !agrees {
            found.unresolved_attempts += 1;
            example(
                found,
                format!(
                    "{} is {:?} at the acquirer but {intent_id} is {status}",
                    listing.attempt_id, listing.record.state
                ),
            );
        }
    }
    Ok(())
}

fn example(found: &mut Reconciliation, text: String) {
    if found.examples.len() < EXAMPLES_MAX * 3 {
        found.examples.push(text);
    }
}
