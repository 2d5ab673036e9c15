//! `portcullis processor-sim` on port 0, killed when dropped, and the
//! `processor` connector pointed at it.

use portcullis_connectors::Processor;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct ProcessorSim {
    child: Child,
    pub url: String,
    pub secret: String,
}

impl Drop for ProcessorSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ProcessorSim {
    /// Starts a simulator with `secret`, journaling to `journal`, with extra
    /// flags (`--fault`, `--approval-rate`, …).
    pub fn start(secret: &str, journal: &Path, extra: &[&str]) -> ProcessorSim {
        Self::start_on("127.0.0.1:0", secret, journal, extra)
    }

    pub fn start_on(listen: &str, secret: &str, journal: &Path, extra: &[&str]) -> ProcessorSim {
        if let Some(dir) = journal.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        let mut child = Command::new(super::binary())
            .args([
                "processor-sim",
                "--listen",
                listen,
                "--secret",
                secret,
                "--journal",
            ])
            .arg(journal)
            .args(extra)
            .env("PORTCULLIS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the processor simulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("processor-sim listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        ProcessorSim {
            child,
            url,
            secret: secret.to_owned(),
        }
    }

    /// The address it listens on (`127.0.0.1:PORT`), to restart it there.
    pub fn address(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    /// The connector to it, with `timeout` per call.
    pub fn connector(&self, timeout: Duration) -> Processor {
        Processor::new(&self.url, self.secret.as_bytes(), timeout).unwrap()
    }

    /// Changes its live settings (`POST /_sim/settings`).
    pub async fn set(&self, settings: serde_json::Value) -> serde_json::Value {
        self.connector(Duration::from_secs(10))
            .change_sim_settings(&settings)
            .await
            .expect("settings changed")
    }
}

/// A `type=processor` connector account pointed at `sim`, with `priority`.
pub async fn processor_account(api: &super::Api, sim: &ProcessorSim, priority: &str) -> String {
    let created = api
        .post(
            "/v1/connector_accounts",
            &[
                ("type", "processor"),
                ("endpoint", &sim.url),
                ("credentials[secret]", &sim.secret),
                ("priority", priority),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    created.json()["id"].as_str().unwrap().to_owned()
}

/// Attempt id → state (`authorized`, `captured`, …), as `sim`'s journal
/// holds it.
pub async fn journal(sim: &ProcessorSim) -> std::collections::HashMap<String, String> {
    let listed = sim
        .connector(Duration::from_secs(10))
        .attempts()
        .await
        .unwrap();
    listed
        .into_iter()
        .map(|a| (a.attempt_id, format!("{:?}", a.record.state).to_lowercase()))
        .collect()
}

/// Every charge of the merchant `api` speaks for, oldest pages last.
async fn all_charges(api: &super::Api) -> Vec<serde_json::Value> {
    let mut charges = Vec::new();
    let mut after = String::new();
    loop {
        let page = api
            .get(&format!("/v1/charges?limit=100{after}"))
            .await
            .json();
        let data = page["data"].as_array().expect("a list of charges").clone();
        if let Some(last) = data.last() {
            after = format!("&starting_after={}", last["id"].as_str().unwrap());
        }
        charges.extend(data);
        if page["has_more"] != true {
            return charges;
        }
    }
}

/// The simulators' journals held against the gateway (`sims[i]` is
/// `accounts[i]`): no attempt reached two processors; every attempt holding
/// money (authorized or captured) is the attempt of exactly one succeeded
/// charge, routed to that very account; no intent holds money twice; and
/// every captured charge routed to one of `accounts` is captured in its
/// processor's journal.
pub async fn reconcile_journals(api: &super::Api, sims: &[&ProcessorSim], accounts: &[&str]) {
    use std::collections::HashMap;
    let charges = all_charges(api).await;
    let by_attempt: HashMap<&str, &serde_json::Value> = charges
        .iter()
        .map(|c| {
            (
                c["routing"]["attempts"].as_array().and_then(|a| a.last()),
                c,
            )
        })
        .filter_map(|(last, c)| Some((last?["id"].as_str()?, c)))
        .collect();
    let mut seen: HashMap<String, (&str, String)> = HashMap::new();
    let mut holding_per_intent: HashMap<String, usize> = HashMap::new();
    for (sim, account) in sims.iter().zip(accounts) {
        for (attempt, state) in journal(sim).await {
            if let Some((other, _)) = seen.insert(attempt.clone(), (account, state.clone())) {
                panic!("{attempt} journaled by both {other} and {account}");
            }
            if !matches!(state.as_str(), "authorized" | "captured") {
                continue;
            }
            let charge = by_attempt
                .get(attempt.as_str())
                .unwrap_or_else(|| panic!("{attempt} holds money at {account}: no charge"));
            assert_eq!(charge["status"], "succeeded", "{attempt}: {charge}");
            assert_eq!(
                charge["routing"]["connector_account"], *account,
                "{attempt} holds money at {account}: {charge}"
            );
            assert_eq!(
                charge["captured"],
                state == "captured",
                "{attempt}: {charge}"
            );
            let intent = charge["payment_intent"].as_str().unwrap().to_owned();
            *holding_per_intent.entry(intent).or_default() += 1;
        }
    }
    for (intent, holding) in holding_per_intent {
        assert_eq!(holding, 1, "{intent} holds money on {holding} attempts");
    }
    for charge in charges.iter().filter(|c| c["captured"] == true) {
        let account = charge["routing"]["connector_account"].as_str();
        let Some(index) = accounts.iter().position(|a| Some(*a) == account) else {
            continue;
        };
        let attempt = charge["routing"]["attempts"]
            .as_array()
            .and_then(|a| a.last())
            .and_then(|a| a["id"].as_str())
            .unwrap_or_default();
        let journaled = seen.get(attempt).map(|(a, s)| (*a, s.as_str()));
        assert_eq!(
            journaled,
            Some((accounts[index], "captured")),
            "captured charge {} not captured in its processor's journal",
            charge["id"]
        );
    }
}
