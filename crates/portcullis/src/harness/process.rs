//! Child processes of a run: the gateway (`portcullis serve`) and the
//! sandbox acquirer (`portcullis sandbox-acquirer`), started from this very
//! binary, each answering once it prints the address it listens on.

use anyhow::{bail, Context};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a child may take to print its address.
const START_TIMEOUT_S: u64 = 60;
/// Longest a child may take to exit after SIGTERM.
const STOP_TIMEOUT_S: u64 = 60;

/// A running child that printed `… listening on URL`.
pub struct ChildProcess {
    child: Child,
    pub base_url: String,
    pub log_path: PathBuf,
}

impl ChildProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait (bounded) for a clean exit; SIGKILL if it hangs.
    pub fn terminate(&mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + Duration::from_secs(STOP_TIMEOUT_S);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("{pid} exited with {status}");
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        bail!("{pid} did not stop within {STOP_TIMEOUT_S} s of SIGTERM")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// Where a gateway child keeps its data and how it is configured.
pub struct GatewaySpec<'a> {
    pub database_url: &'a str,
    pub data_dir: &'a Path,
    /// The TOML settings file's text.
    pub settings_toml: &'a str,
    /// `127.0.0.1:0`, or a fixed loopback port to restart on.
    pub listen: &'a str,
    /// The `PORTCULLIS_LOG` filter of the child.
    pub log_filter: &'a str,
}

pub fn start_gateway(spec: &GatewaySpec<'_>) -> anyhow::Result<ChildProcess> {
    let config_path = spec.data_dir.join("gateway.toml");
    std::fs::write(&config_path, spec.settings_toml)?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["serve", "--listen", spec.listen, "--database-url"])
        .arg(spec.database_url)
        .arg("--data-dir")
        .arg(spec.data_dir)
        .arg("--config")
        .arg(&config_path)
        .env("PORTCULLIS_LOG", spec.log_filter);
    spawn(
        command,
        &spec.data_dir.join("gateway.log"),
        "portcullis listening on ",
    )
}

/// `portcullis sandbox-acquirer` journaling to `DATA_DIR/acquirer.journal`,
/// remembering up to `attempts_max` attempts.
pub fn start_sandbox_acquirer(
    data_dir: &Path,
    listen: &str,
    attempts_max: usize,
) -> anyhow::Result<ChildProcess> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["sandbox-acquirer", "--listen", listen, "--journal"])
        .arg(data_dir.join("acquirer.journal"))
        .arg("--attempts-max")
        .arg(attempts_max.to_string())
        .env("PORTCULLIS_LOG", "warn");
    spawn(
        command,
        &data_dir.join("acquirer.log"),
        "sandbox acquirer listening on ",
    )
}

/// `portcullis acquirer-sim` (ISO 8583 over TCP) journaling to
/// `DATA_DIR/acquirer-sim.jsonl`; `base_url` is its `HOST:PORT`.
pub fn start_acquirer_sim(data_dir: &Path) -> anyhow::Result<ChildProcess> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["acquirer-sim", "--listen", "127.0.0.1:0", "--journal"])
        .arg(data_dir.join(ACQUIRER_SIM_JOURNAL))
        .env("PORTCULLIS_LOG", "warn");
    spawn(
        command,
        &data_dir.join("acquirer-sim.log"),
        "acquirer-sim listening on ",
    )
}

/// `portcullis processor-sim` with `secret`, journaling to
/// `DATA_DIR/processor-sim-NAME.jsonl` and remembering up to
/// `attempts_max` attempts; `base_url` is its `http://HOST:PORT`.
pub fn start_processor_sim(
    data_dir: &Path,
    name: &str,
    secret: &str,
    attempts_max: usize,
) -> anyhow::Result<ChildProcess> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args([
            "processor-sim",
            "--listen",
            "127.0.0.1:0",
            "--secret",
            secret,
        ])
        .arg("--journal")
        .arg(data_dir.join(format!("processor-sim-{name}.jsonl")))
        .arg("--attempts-max")
        .arg(attempts_max.to_string())
        .env("PORTCULLIS_LOG", "warn");
    spawn(
        command,
        &data_dir.join(format!("processor-sim-{name}.log")),
        "processor-sim listening on ",
    )
}

/// The journal file of [`start_acquirer_sim`], in the data directory.
pub const ACQUIRER_SIM_JOURNAL: &str = "acquirer-sim.jsonl";

fn spawn(
    mut command: Command,
    log_path: &Path,
    ready_prefix: &str,
) -> anyhow::Result<ChildProcess> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)?;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .context("starting a child process")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let (found, seen) = std::sync::mpsc::channel();
    let prefix = ready_prefix.to_owned();
    std::thread::spawn(move || {
        // Reads to the end so the child never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix(&prefix) {
                let _ = found.send(url.to_owned());
            }
        }
    });
    let mut process = ChildProcess {
        child,
        base_url: String::new(),
        log_path: log_path.to_owned(),
    };
    match seen.recv_timeout(Duration::from_secs(START_TIMEOUT_S)) {
        Ok(url) => {
            process.base_url = url;
            Ok(process)
        }
        Err(_) => {
            process.kill();
            bail!("child did not start; its log:\n{}", process.log())
        }
    }
}

/// `portcullis ARGS --database-url … --data-dir …`, run to its end.
fn run_subcommand(
    args: &[&str],
    database_url: &str,
    data_dir: &Path,
) -> anyhow::Result<std::process::Output> {
    Command::new(std::env::current_exe()?)
        .args(args)
        .arg("--database-url")
        .arg(database_url)
        .arg("--data-dir")
        .arg(data_dir)
        .env("PORTCULLIS_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running portcullis {}", args.join(" ")))
}

/// `portcullis terminal create --merchant MERCHANT --json`: what it printed.
pub fn create_terminal(
    database_url: &str,
    data_dir: &Path,
    merchant: &str,
) -> anyhow::Result<serde_json::Value> {
    let args = ["terminal", "create", "--merchant", merchant, "--json"];
    let output = run_subcommand(&args, database_url, data_dir)?;
    if !output.status.success() {
        bail!(
            "terminal create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("terminal create printed no JSON")
}

/// A merchant created through `portcullis merchant create --json`.
pub struct Merchant {
    pub id: String,
    pub secret_key: String,
}

pub fn create_merchant(database_url: &str, data_dir: &Path) -> anyhow::Result<Merchant> {
    let args = ["merchant", "create", "--name", "Load", "--json"];
    let output = run_subcommand(&args, database_url, data_dir)?;
    if !output.status.success() {
        bail!(
            "merchant create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let field = |name: &str| -> anyhow::Result<String> {
        Ok(json[name].as_str().context(name.to_owned())?.to_owned())
    };
    Ok(Merchant {
        id: field("id")?,
        secret_key: field("secret_key")?,
    })
}

/// What `portcullis seed` is asked to write, and into which merchant.
pub struct SeedOrder<'a> {
    pub merchant: &'a str,
    pub payments: u64,
    pub customers: u64,
    /// Write sets in flight at once (`--connections`).
    pub in_flight: usize,
}

/// Runs `portcullis seed --merchant … --json` on the database.
pub fn seed(
    database_url: &str,
    data_dir: &Path,
    order: &SeedOrder<'_>,
) -> anyhow::Result<crate::seed::Seeded> {
    let (payments, customers, in_flight) = (
        order.payments.to_string(),
        order.customers.to_string(),
        order.in_flight.to_string(),
    );
    let args = [
        "seed",
        "--merchant",
        order.merchant,
        "--payments",
        &payments,
        "--customers",
        &customers,
        "--connections",
        &in_flight,
        "--json",
    ];
    let output = run_subcommand(&args, database_url, data_dir)?;
    if !output.status.success() {
        bail!(
            "portcullis seed failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let number = |name: &str| json[name].as_u64().with_context(|| name.to_owned());
    Ok(crate::seed::Seeded {
        customers: number("customers")?,
        payments: number("payments")?,
        errors: number("errors")?,
        elapsed_s: json["elapsed_s"].as_f64().context("elapsed_s")?,
    })
}

/// What `portcullis ledger verify` said.
pub struct LedgerCheck {
    /// It exited 0: the chain and every balance recomputed.
    pub verified: bool,
    /// The entries it replayed, from its `ledger verified: N entries, …` line.
    pub entries: Option<u64>,
    /// Its last line of output (the finding, when it failed).
    pub said: String,
}

/// Runs `portcullis ledger verify` on the database, as an operator would.
pub fn verify_ledger(database_url: &str, data_dir: &Path) -> anyhow::Result<LedgerCheck> {
    let output = run_subcommand(&["ledger", "verify"], database_url, data_dir)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let entries = stdout
        .lines()
        .find_map(|line| line.strip_prefix("ledger verified: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok());
    let said = [stdout.as_ref(), stderr.as_ref()]
        .iter()
        .flat_map(|text| text.lines())
        .rfind(|line| !line.trim().is_empty())
        .unwrap_or_default()
        .to_owned();
    Ok(LedgerCheck {
        verified: output.status.success(),
        entries,
        said,
    })
}
