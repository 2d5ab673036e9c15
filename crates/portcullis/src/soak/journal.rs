//! `soak --acquirer iso8583`: the simulator's journal held against the
//! gateway. Every approval the acquirer journaled must end either captured
//! (a purchase, or an authorization with its completion) matching exactly
//! one captured charge of the gateway, or reversed with no captured charge;
//! none open (approved, neither captured nor reversed), none both.

use anyhow::Context;
use portcullis_store::{ScanQuery, Store, Table};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// Most charges read back (far more than a soak writes).
const CHARGES_MAX: usize = 2_000_000;
/// Most examples printed.
const EXAMPLES_MAX: usize = 10;

#[derive(Debug, Default)]
pub struct JournalReconciliation {
    pub approvals: usize,
    pub captured: usize,
    pub reversed: usize,
    /// Approved and neither captured nor reversed.
    pub open: usize,
    /// Captured at the acquirer with no captured charge, or with several;
    /// reversed but captured at the gateway; or both captured and reversed.
    pub disagreeing: usize,
    pub examples: Vec<String>,
}

impl JournalReconciliation {
    pub fn clean(&self) -> bool {
        self.open == 0 && self.disagreeing == 0
    }

    fn example(&mut self, text: String) {
        if self.examples.len() < EXAMPLES_MAX {
            self.examples.push(text);
        }
    }
}

/// What the journal says of one approval.
#[derive(Default)]
struct Approval {
    purchase: bool,
    completed: bool,
    reversals: usize,
}

fn read_journal(path: &Path) -> anyhow::Result<HashMap<String, Approval>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut approvals: HashMap<String, Approval> = HashMap::new();
    let mut later = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).context("a journal line")?;
        let rrn = entry["rrn"].as_str().unwrap_or_default().to_owned();
        match entry["type"].as_str() {
            Some("approval") => {
                let approval = approvals.entry(rrn).or_default();
                approval.purchase = entry["captured"] == true;
            }
            Some(kind @ ("completion" | "reversal")) => later.push((kind.to_owned(), rrn)),
            _ => {}
        }
    }
    for (kind, rrn) in later {
        if let Some(approval) = approvals.get_mut(&rrn) {
            match kind.as_str() {
                "completion" => approval.completed = true,
                _ => approval.reversals += 1,
            }
        }
    }
    Ok(approvals)
}

/// The RRN in a charge's reference (`route:<name>:iso8583:<rrn>:…`).
fn rrn_of(reference: &str) -> Option<&str> {
    let mut parts = reference.split(':');
    parts.find(|part| *part == "iso8583")?;
    parts.next()
}

/// Captured charges of the gateway by the RRN of their authorization.
async fn captured_charges(store: &Store) -> anyhow::Result<HashMap<String, usize>> {
    let query = ScanQuery {
        filters: vec![],
        created_before: None,
        limit: CHARGES_MAX,
    };
    let mut by_rrn: HashMap<String, usize> = HashMap::new();
    for found in store.scan(Table::Charges, &query).await? {
        let charge: Value = serde_json::from_str(&found.doc.body)?;
        if charge["captured"] != true || charge["status"] != "succeeded" {
            continue;
        }
        if let Some(rrn) = charge["connector_reference"].as_str().and_then(rrn_of) {
            *by_rrn.entry(rrn.to_owned()).or_default() += 1;
        }
    }
    Ok(by_rrn)
}

pub async fn reconcile(store: &Store, journal: &Path) -> anyhow::Result<JournalReconciliation> {
    let approvals = read_journal(journal)?;
    let charges = captured_charges(store).await?;
    let mut found = JournalReconciliation {
        approvals: approvals.len(),
        ..JournalReconciliation::default()
    };
    for (rrn, approval) in &approvals {
        let captured = approval.purchase || approval.completed;
        let reversed = approval.reversals > 0;
        let at_gateway = charges.get(rrn).copied().unwrap_or(0);
        let agrees = match (captured, reversed) {
            (_, true) if approval.completed => false,
            (_, true) => at_gateway == 0,
            (true, false) => at_gateway == 1,
            (false, false) => {
                found.open += 1;
                found.example(format!(
                    "approval {rrn} is open (neither captured nor reversed)"
                ));
                continue;
            }
        };
        found.captured += usize::from(captured && !reversed);
        found.reversed += usize::from(reversed);
        if !agrees {
            found.disagreeing += 1;
            found.example(format!(
                "approval {rrn}: captured {captured}, reversed {}, {at_gateway} captured charges at the gateway",
                approval.reversals
            ));
        }
    }
    for (rrn, count) in &charges {
        if !approvals.contains_key(rrn) {
            found.disagreeing += count;
            found.example(format!("charge of {rrn} has no approval at the acquirer"));
        }
    }
    Ok(found)
}
