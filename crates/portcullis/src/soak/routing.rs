//! `portcullis soak --routing`: payments routed across two
//! `portcullis processor-sim`s while the gateway is killed. The merchant has
//! one `type=processor` connector account per simulator and a rule
//! `split A 70, B 30`; during the run each simulator in turn goes bad
//! (server errors, late and closed answers, a lower approval rate) and
//! recovers, so payments fail over and circuits open and close. Afterwards
//! both journals are held against the gateway ([`reconcile`]): no attempt
//! reached both processors, every authorization a journal holds (held or
//! captured) is an attempt the gateway sent to that very account, with
//! exactly one succeeded charge of its intent naming that account, and no
//! intent holds money on two attempts.

use super::reconcile::all_rows;
use crate::harness::process::{self, ChildProcess};
use anyhow::{bail, Context};
use portcullis_connectors::remote::protocol::AttemptListing;
use portcullis_connectors::{AttemptState, Processor};
use portcullis_store::{Store, Table};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// The simulators' names and shared secrets.
const SIMULATORS: [(&str, &str); 2] = [("a", "soak-secret-a"), ("b", "soak-secret-b")];
/// The split between them, in percent.
const SPLIT: [u32; 2] = [70, 30];
/// How a simulator behaves while it is bad: soft failures of every kind
/// the gateway fails over from, and fewer approvals.
const BAD: &str =
    r#"{"approval_rate": 60, "faults": ["5xx:25", "late:5", "close:5", "garbage:5"]}"#;
const HEALTHY: &str = r#"{"approval_rate": 100, "faults": []}"#;
/// Shortest time a simulator stays bad or healthy.
const PHASE_MIN: Duration = Duration::from_secs(2);
/// Most examples printed.
const EXAMPLES_MAX: usize = 10;

/// The two simulators, with their connector accounts once created.
pub struct Processors {
    pub children: Vec<ChildProcess>,
    pub accounts: Vec<String>,
    /// How many attempts each simulator remembers.
    attempts_max: usize,
}

/// Starts the simulators, each remembering `attempts_max` attempts.
pub fn start(data_dir: &std::path::Path, attempts_max: usize) -> anyhow::Result<Processors> {
    let children = SIMULATORS
        .iter()
        .map(|(name, secret)| process::start_processor_sim(data_dir, name, secret, attempts_max))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Processors {
        children,
        accounts: Vec::new(),
        attempts_max,
    })
}

impl Processors {
    fn connector(&self, index: usize) -> anyhow::Result<Processor> {
        let secret = SIMULATORS[index].1.as_bytes();
        Processor::new(
            &self.children[index].base_url,
            secret,
            Duration::from_secs(30),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Creates the merchant's account per simulator and the split rule.
    pub async fn set_up(&mut self, base_url: &str, secret_key: &str) -> anyhow::Result<()> {
        let http = reqwest::Client::builder().no_proxy().build()?;
        for (index, child) in self.children.iter().enumerate() {
            let form = [
                ("type", "processor"),
                ("endpoint", child.base_url.as_str()),
                ("credentials[secret]", SIMULATORS[index].1),
            ];
            let created = post(&http, base_url, secret_key, "/v1/connector_accounts", &form)
                .await
                .context("creating a processor connector account")?;
            let id = created["id"].as_str().context("the account's id")?;
            self.accounts.push(id.to_owned());
        }
        let rule = format!(
            "split {} {}, {} {}",
            self.accounts[0], SPLIT[0], self.accounts[1], SPLIT[1]
        );
        post(
            &http,
            base_url,
            secret_key,
            "/v1/routing/rules",
            &[("rule", &rule)],
        )
        .await
        .context("creating the split rule")?;
        Ok(())
    }

    /// Until `deadline`, makes each simulator bad in turn (A, healthy, B,
    /// healthy, …), then leaves both healthy; answers the changes made.
    pub async fn disturb(&self, run: Duration) -> anyhow::Result<u32> {
        let deadline = Instant::now() + run;
        let phase = (run / 8).max(PHASE_MIN);
        let mut changes = 0;
        for step in 0usize.. {
            tokio::time::sleep(phase).await;
            if Instant::now() + phase >= deadline {
                break;
            }
            let bad = (step % 4 == 0)
                .then_some(0)
                .or((step % 4 == 2).then_some(1));
            for index in 0..self.children.len() {
                let settings = if bad == Some(index) { BAD } else { HEALTHY };
                self.set(index, settings).await?;
                changes += 1;
            }
        }
        for index in 0..self.children.len() {
            self.set(index, HEALTHY).await?;
        }
        Ok(changes)
    }

    async fn set(&self, index: usize, settings: &str) -> anyhow::Result<()> {
        let settings: Value = serde_json::from_str(settings)?;
        self.connector(index)?
            .change_sim_settings(&settings)
            .await
            .map_err(|e| anyhow::anyhow!("changing a simulator's settings: {e}"))?;
        Ok(())
    }

    /// Every attempt each simulator holds, by simulator.
    pub async fn listings(&self) -> anyhow::Result<Vec<Vec<AttemptListing>>> {
        let mut listings = Vec::new();
        for (index, (name, _)) in SIMULATORS.iter().enumerate() {
            let listed = self
                .connector(index)?
                .attempts()
                .await
                .map_err(|e| anyhow::anyhow!("listing processor-sim {name}: {e}"))?;
            // A listing as long as the simulator remembers may have lost
            // older attempts.
            anyhow::ensure!(
                listed.len() < self.attempts_max,
                "processor-sim {name} listed {} attempts, all it remembers: \
                 older ones could not be reconciled",
                listed.len()
            );
            listings.push(listed);
        }
        Ok(listings)
    }

    pub fn terminate(&mut self) -> anyhow::Result<()> {
        for child in &mut self.children {
            child.terminate()?;
        }
        Ok(())
    }
}

async fn post(
    http: &reqwest::Client,
    base_url: &str,
    secret_key: &str,
    path: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<Value> {
    let answer = http
        .post(format!("{base_url}{path}"))
        .bearer_auth(secret_key)
        .form(form)
        .send()
        .await?;
    let status = answer.status();
    let body: Value = answer.json().await?;
    if !status.is_success() {
        bail!("{path} answered {status}: {body}");
    }
    Ok(body)
}

/// The journals against the gateway.
#[derive(Debug, Default)]
pub struct RoutingReconciliation {
    /// Per account: attempts its simulator journaled, and those holding
    /// money (authorized or captured).
    pub journaled: Vec<(String, usize, usize)>,
    /// Attempt ids journaled by both simulators.
    pub on_both: usize,
    /// Journaled attempts the gateway sent elsewhere (or never sent).
    pub wrong_account: usize,
    /// Intents holding money on more than one attempt.
    pub doubled: usize,
    /// Money-holding attempts without exactly one succeeded charge of
    /// their intent naming their account, and succeeded charges on one of
    /// our accounts whose authorization no journal holds.
    pub charge_disagrees: usize,
    /// Charges (any status) whose payment failed over to another account.
    pub failovers: usize,
    /// Circuit-breaker changes announced (`connector_account.health_changed`).
    pub health_changes: usize,
    pub examples: Vec<String>,
}

impl RoutingReconciliation {
    pub fn clean(&self) -> bool {
        self.on_both == 0
            && self.wrong_account == 0
            && self.doubled == 0
            && self.charge_disagrees == 0
    }

    fn example(&mut self, text: String) {
        if self.examples.len() < EXAMPLES_MAX {
            self.examples.push(text);
        }
    }

    pub fn to_json(&self) -> Value {
        let journaled: Vec<Value> = self
            .journaled
            .iter()
            .map(|(account, attempts, holding)| {
                json!({ "account": account, "attempts": attempts, "holding_money": holding })
            })
            .collect();
        json!({
            "journaled": journaled,
            "on_both": self.on_both,
            "wrong_account": self.wrong_account,
            "doubled": self.doubled,
            "charge_disagrees": self.charge_disagrees,
            "failovers": self.failovers,
            "health_changes": self.health_changes,
        })
    }
}

fn holds_money(listing: &AttemptListing) -> bool {
    matches!(
        listing.record.state,
        AttemptState::Authorized | AttemptState::Captured
    )
}

/// A succeeded charge: its intent, attempt and account.
struct SucceededCharge {
    intent: String,
    attempt: String,
    account: Option<String>,
}

async fn succeeded_charges(store: &Store) -> anyhow::Result<Vec<SucceededCharge>> {
    Ok(all_rows(store, Table::Charges)
        .await?
        .into_iter()
        .filter(|charge| charge["status"] == "succeeded")
        .map(|charge| SucceededCharge {
            intent: text(&charge["payment_intent"]),
            attempt: text(&charge["attempt"]),
            account: charge["routing"]["connector_account"]
                .as_str()
                .map(str::to_owned),
        })
        .collect())
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

pub async fn reconcile(
    store: &Store,
    accounts: &[String],
    listings: &[Vec<AttemptListing>],
) -> anyhow::Result<RoutingReconciliation> {
    let attempts: HashMap<String, Value> = all_rows(store, Table::PaymentAttempts)
        .await?
        .into_iter()
        .map(|body| (text(&body["id"]), body))
        .collect();
    let charges = succeeded_charges(store).await?;
    let mut found = RoutingReconciliation {
        failovers: all_rows(store, Table::Charges)
            .await?
            .iter()
            .filter(|c| c["routing"]["decided_by"] == "failover")
            .count(),
        health_changes: all_rows(store, Table::Events)
            .await?
            .iter()
            .filter(|e| e["type"] == "connector_account.health_changed")
            .count(),
        ..RoutingReconciliation::default()
    };
    let mut holding_per_intent: HashMap<String, usize> = HashMap::new();
    let mut journaled_on: HashMap<&str, usize> = HashMap::new();
    for (account, listing) in accounts.iter().zip(listings) {
        let holding = listing.iter().filter(|l| holds_money(l)).count();
        found
            .journaled
            .push((account.clone(), listing.len(), holding));
        for entry in listing {
            *journaled_on.entry(entry.attempt_id.as_str()).or_default() += 1;
            let attempt = attempts.get(&entry.attempt_id);
            let sent_to = attempt.and_then(|a| a["connector_account"].as_str());
            if sent_to != Some(account.as_str()) {
                found.wrong_account += 1;
                found.example(format!(
                    "{} journaled by {account} was sent to {sent_to:?}",
                    entry.attempt_id
                ));
            }
            if !holds_money(entry) {
                continue;
            }
            let intent = attempt
                .map(|a| text(&a["payment_intent"]))
                .unwrap_or_default();
            *holding_per_intent.entry(intent.clone()).or_default() += 1;
            let of_intent: Vec<&SucceededCharge> =
                charges.iter().filter(|c| c.intent == intent).collect();
            let agrees = of_intent.len() == 1
                && of_intent[0].attempt == entry.attempt_id
                && of_intent[0].account.as_deref() == Some(account.as_str());
            if !agrees {
                found.charge_disagrees += 1;
                found.example(format!(
                    "{} holds money at {account}, but {intent} has {} succeeded charges not all naming it",
                    entry.attempt_id,
                    of_intent.len()
                ));
            }
        }
    }
    found.on_both = journaled_on.values().filter(|n| **n > 1).count();
    found.doubled = holding_per_intent.values().filter(|n| **n > 1).count();
    let holding: HashSet<&str> = listings
        .iter()
        .flatten()
        .filter(|l| holds_money(l))
        .map(|l| l.attempt_id.as_str())
        .collect();
    for charge in &charges {
        let ours = charge
            .account
            .as_ref()
            .is_some_and(|a| accounts.contains(a));
        if ours && !holding.contains(charge.attempt.as_str()) {
            found.charge_disagrees += 1;
            found.example(format!(
                "charge of {} ({}) succeeded with no authorization in a journal",
                charge.intent, charge.attempt
            ));
        }
    }
    Ok(found)
}
