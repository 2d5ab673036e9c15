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
