//! `portcullis acquirer-sim` (ISO 8583 over TCP) for tests: started on
//! port 0 with its journal at a given path, killed when dropped.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Simulator {
    child: std::process::Child,
    /// `host:port` it listens on.
    pub address: String,
    pub journal: PathBuf,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Simulator {
    /// Starts one journaling to `journal` (its directory is created), with
    /// `extra` flags (`--fault drop:40`, …).
    pub fn start(journal: &Path, extra: &[&str]) -> Simulator {
        if let Some(dir) = journal.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        let mut child = Command::new(super::binary())
            .args(["acquirer-sim", "--listen", "127.0.0.1:0", "--journal"])
            .arg(journal)
            .args(extra)
            .env("PORTCULLIS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start acquirer-sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("acquirer-sim listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Simulator {
            child,
            address,
            journal: journal.to_owned(),
        }
    }

    /// Every entry of its journal so far.
    pub fn entries(&self) -> Vec<Value> {
        journal_entries(&self.journal)
    }
}

/// The entries of the journal at `path` (none when it does not exist).
pub fn journal_entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}
