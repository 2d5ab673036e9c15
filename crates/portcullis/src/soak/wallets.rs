//! `portcullis soak --wallets`: wallet payments and their notifications
//! while the gateway is killed with SIGKILL. `portcullis wallet-sim` runs as
//! its own process (never killed); clients create and confirm Alipay and
//! WeChat Pay QR payments (idempotency keys, retried until a definite
//! answer) and pay each trade on the simulator's customer page, whose
//! notifications reach a gateway that keeps dying (the simulator retries
//! on each provider's schedule, sped up). Afterwards every trade the
//! simulator holds paid must be a `succeeded` intent with exactly one
//! `payment_intent.succeeded` event and one capture in the ledger, no
//! intent may be succeeded for a trade not paid, and `ledger verify` must
//! pass.

use super::{kill_repeatedly, settings_toml, GatewayOwned};
use crate::cli::SoakArgs;
use crate::harness::{database::FreshDatabase, process};
use anyhow::{bail, Context};
use portcullis_store::{ScanOp, ScanQuery, SqlValue, Store, StoreOptions, Table};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest wait, after the run, for paid trades' intents to succeed.
const SETTLE_WAIT_S_MAX: u64 = 90;
/// The simulator's notification retries, this many times faster.
const NOTIFY_SPEEDUP: &str = "2000";
/// Most rows read back per table.
const ROWS_MAX: usize = 1_000_000;

/// The simulator child; killed when dropped.
struct WalletSim {
    child: Child,
    base_url: String,
    accounts: Vec<Value>,
}

impl Drop for WalletSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_wallet_sim(data_dir: &std::path::Path) -> anyhow::Result<WalletSim> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "wallet-sim",
            "--listen",
            "127.0.0.1:0",
            "--notify-speedup",
            NOTIFY_SPEEDUP,
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env("PORTCULLIS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting wallet-sim")?;
    let mut lines = BufReader::new(child.stdout.take().context("wallet-sim stdout")?).lines();
    let mut next =
        || -> anyhow::Result<String> { Ok(lines.next().context("wallet-sim ended early")??) };
    let base_url = next()?
        .strip_prefix("wallet-sim listening on ")
        .context("wallet-sim's first line")?
        .to_owned();
    let mut accounts = vec![];
    for prefix in [
        "alipay connector account: ",
        "wechat_pay connector account: ",
    ] {
        let line = next()?;
        let text = line
            .strip_prefix(prefix)
            .context("wallet-sim's account line")?;
        accounts.push(serde_json::from_str(text)?);
    }
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    Ok(WalletSim {
        child,
        base_url,
        accounts,
    })
}

/// Creates the merchant's two wallet accounts at the simulator.
async fn create_accounts(
    http: &reqwest::Client,
    base_url: &str,
    key: &str,
    sim: &WalletSim,
) -> anyhow::Result<()> {
    for account in &sim.accounts {
        let mut form = vec![
            (
                "type".to_owned(),
                account["type"].as_str().unwrap_or_default().to_owned(),
            ),
            (
                "endpoint".to_owned(),
                account["endpoint"].as_str().unwrap_or_default().to_owned(),
            ),
        ];
        for (name, value) in account["credentials"].as_object().context("credentials")? {
            form.push((
                format!("credentials[{name}]"),
                value.as_str().unwrap_or_default().to_owned(),
            ));
        }
        let answer = http
            .post(format!("{base_url}/v1/connector_accounts"))
            .basic_auth(key, Some(""))
            .form(&form)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("creating a connector account: {}", answer.text().await?);
        }
    }
    Ok(())
}

/// What the clients did: intents confirmed and paid at the simulator.
#[derive(Default)]
struct Record {
    paid: BTreeMap<String, i64>,
    unexpected: Vec<String>,
}

struct Client {
    http: reqwest::Client,
    base_url: String,
    sim_url: String,
    key: String,
    record: Arc<Mutex<Record>>,
}

impl Client {
    async fn drive(&self, name: usize, deadline: Instant) {
        let mut n = 0u64;
        while Instant::now() < deadline {
            n += 1;
            let provider = if (name as u64 + n) % 2 == 0 {
                "alipay"
            } else {
                "wechat_pay"
            };
            let amount = 100 + (n % 50) as i64;
            if let Err(err) = self
                .pay_one(provider, amount, &format!("soak-w-{name}-{n}"), deadline)
                .await
            {
                self.record
                    .lock()
                    .expect("record")
                    .unexpected
                    .push(err.to_string());
            }
        }
    }

    /// Confirms one QR payment (retrying while the gateway is down) and
    /// pays its trade on the simulator's page.
    async fn pay_one(
        &self,
        provider: &str,
        amount: i64,
        key: &str,
        deadline: Instant,
    ) -> anyhow::Result<()> {
        let option = if provider == "alipay" {
            ("payment_method_options[alipay][channel]", "qr")
        } else {
            ("payment_method_options[wechat_pay][client]", "web")
        };
        let amount_text = amount.to_string();
        let form = [
            ("amount", amount_text.as_str()),
            ("currency", "cny"),
            ("payment_method_types[]", provider),
            ("confirm", "true"),
            ("payment_method_data[type]", provider),
            option,
        ];
        let intent = loop {
            let sent = self
                .http
                .post(format!("{}/v1/payment_intents", self.base_url))
                .basic_auth(&self.key, Some(""))
                .header("Idempotency-Key", key)
                .form(&form)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            match sent {
                Ok(answer) if answer.status().is_success() => break answer.json::<Value>().await?,
                Ok(answer) if answer.status().is_client_error() && answer.status() != 409 => {
                    bail!("{key}: {}", answer.text().await?)
                }
                _ if Instant::now() > deadline + Duration::from_secs(30) => {
                    bail!("{key}: no answer")
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let kind = intent["next_action"]["type"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let data = intent["next_action"][&kind]["data"]
            .as_str()
            .context("QR data")?;
        let page = self.customer_page(data).await?;
        let paid = self
            .http
            .post(&page)
            .form(&[("action", "pay"), ("fault", "none")])
            .send()
            .await?;
        if !paid.status().is_success() {
            bail!("{key}: the simulator's page answered {}", paid.status());
        }
        let id = intent["id"].as_str().context("intent id")?.to_owned();
        self.record.lock().expect("record").paid.insert(id, amount);
        Ok(())
    }

    async fn customer_page(&self, data: &str) -> anyhow::Result<String> {
        if data.starts_with("http") {
            return Ok(data.to_owned());
        }
        let scanned = self
            .http
            .get(format!("{}/scan", self.sim_url))
            .query(&[("data", data)])
            .send()
            .await?;
        let location = scanned
            .headers()
            .get("location")
            .context("the simulator's scan redirect")?
            .to_str()?;
        Ok(format!("{}{location}", self.sim_url))
    }
}

/// Runs the wallet soak; true when nothing was lost or doubled and the
/// ledger verifies.
pub async fn soak(database: &FreshDatabase, args: &SoakArgs) -> anyhow::Result<bool> {
    let sim = start_wallet_sim(&database.data_dir)?;
    let merchant = process::create_merchant(&database.url, &database.data_dir)?;
    let spec = GatewayOwned {
        database_url: database.url.clone(),
        data_dir: database.data_dir.clone(),
        toml: settings_toml("connectors_allow_private_endpoints = true\n", ""),
        listen: format!("127.0.0.1:{}", super::free_loopback_port()?),
    };
    let gateway = Arc::new(Mutex::new(spec.start()?));
    let base_url = gateway.lock().expect("gateway").base_url.clone();
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    create_accounts(&http, &base_url, &merchant.secret_key, &sim).await?;
    let record: Arc<Mutex<Record>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(args.duration_s);
    let clients: Vec<_> = (0..args.connections)
        .map(|name| {
            let client = Client {
                http: http.clone(),
                base_url: base_url.clone(),
                sim_url: sim.base_url.clone(),
                key: merchant.secret_key.clone(),
                record: record.clone(),
            };
            tokio::spawn(async move { client.drive(name, deadline).await })
        })
        .collect();
    let kills = kill_repeatedly(&gateway, &spec, args).await?;
    for client in clients {
        client.await.context("a soak client failed")?;
    }
    let record = std::mem::take(&mut *record.lock().expect("record"));
    let store = Store::open(&database.url, &StoreOptions::default()).await?;
    let started = Instant::now();
    let mut found = check(&store, &record).await?;
    while found.lost > 0 && started.elapsed() < Duration::from_secs(SETTLE_WAIT_S_MAX) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        found = check(&store, &record).await?;
    }
    let settle_s = started.elapsed().as_secs_f64();
    gateway.lock().expect("gateway").terminate()?;
    let trades: Value = http
        .get(format!("{}/sim/trades", sim.base_url))
        .send()
        .await?
        .json()
        .await?;
    let paid_at_sim: BTreeSet<String> = trades["trades"]
        .as_array()
        .context("trades")?
        .iter()
        .filter(|t| t["state"] == "success")
        .filter_map(|t| t["out_trade_no"].as_str().map(str::to_owned))
        .collect();
    let succeeded: BTreeSet<String> = found.succeeded.keys().cloned().collect();
    let disagreeing = paid_at_sim.symmetric_difference(&succeeded).count();
    store.close().await;
    let ledger = process::verify_ledger(&database.url, &database.data_dir)?;
    let clean = found.lost == 0
        && found.duplicated == 0
        && found.wrong_amount == 0
        && disagreeing == 0
        && record.unexpected.is_empty()
        && ledger.verified;
    let report = json!({
        "backend": database.backend,
        "wallets": true,
        "duration_s": args.duration_s,
        "connections": args.connections,
        "kills": kills,
        "paid_at_simulator": record.paid.len(),
        "succeeded": found.succeeded.len(),
        "lost": found.lost,
        "duplicated": found.duplicated,
        "wrong_amount": found.wrong_amount,
        "simulator_disagreeing": disagreeing,
        "unexpected": record.unexpected.len(),
        "settle_s": (settle_s * 10.0).round() / 10.0,
        "ledger_verified": ledger.verified,
        "ledger_entries": ledger.entries,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("{report:#}");
    }
    for line in record.unexpected.iter().take(5) {
        eprintln!("soak: {line}");
    }
    if !ledger.verified {
        eprintln!("soak: ledger verify: {}", ledger.said);
    }
    Ok(clean)
}

/// The store against what the clients paid.
struct Found {
    /// Succeeded intents and their amount received.
    succeeded: BTreeMap<String, i64>,
    /// Paid at the simulator, not (yet) succeeded.
    lost: usize,
    /// More than one `payment_intent.succeeded` event for one intent.
    duplicated: usize,
    wrong_amount: usize,
}

async fn check(store: &Store, record: &Record) -> anyhow::Result<Found> {
    let query = ScanQuery {
        filters: vec![("status", ScanOp::Equal, SqlValue::Text("succeeded".into()))],
        created_before: None,
        limit: ROWS_MAX,
    };
    let mut succeeded = BTreeMap::new();
    for row in store.scan(Table::PaymentIntents, &query).await? {
        let body: Value = serde_json::from_str(&row.doc.body)?;
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        succeeded.insert(id, body["amount_received_minor"].as_i64().unwrap_or(-1));
    }
    let events = ScanQuery {
        filters: vec![(
            "event_type",
            ScanOp::Equal,
            SqlValue::Text("payment_intent.succeeded".into()),
        )],
        created_before: None,
        limit: ROWS_MAX,
    };
    let mut per_intent: BTreeMap<String, usize> = BTreeMap::new();
    for row in store.scan(Table::Events, &events).await? {
        let body: Value = serde_json::from_str(&row.doc.body)?;
        let id = body["data"]["object"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *per_intent.entry(id).or_default() += 1;
    }
    let lost = record
        .paid
        .keys()
        .filter(|id| !succeeded.contains_key(*id))
        .count();
    let wrong_amount = record
        .paid
        .iter()
        .filter(|(id, amount)| succeeded.get(*id).is_some_and(|got| got != *amount))
        .count();
    Ok(Found {
        duplicated: per_intent.values().filter(|n| **n > 1).count(),
        succeeded,
        lost,
        wrong_amount,
    })
}
