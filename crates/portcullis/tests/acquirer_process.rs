//! The pieces `portcullis bench` and `portcullis soak` stand on: the echo
//! baseline exists only when asked for, and a gateway pays through the
//! sandbox acquirer running as a process of its own (`connector_url`), which
//! then knows the authorization.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{binary, create_merchant, Api, Backend, TestDatabase, TestServer};

#[tokio::test]
async fn the_echo_baseline_is_mounted_only_with_bench_echo() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let server = TestServer::start(&db);
    let http = reqwest::Client::new();
    let body = r#"{"amount":2000,"currency":"usd"}"#;
    let plain = http
        .post(server.url("/internal/echo"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status().as_u16(), 404, "no echo route by default");
    drop(server);

    let config = db.data_dir.join("bench.toml");
    std::fs::write(&config, "bench_echo = true\n").unwrap();
    let server = TestServer::start_with(&db, &["--config", config.to_str().unwrap()]);
    let echoed = http
        .post(server.url("/internal/echo"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.status().as_u16(), 200);
    let echoed: Value = echoed.json().await.unwrap();
    assert_eq!(echoed["fields"], 2);
    assert_eq!(echoed["bytes"], body.len());
}

/// `portcullis sandbox-acquirer` on port 0; killed when dropped.
struct Acquirer {
    child: std::process::Child,
    base_url: String,
}

impl Drop for Acquirer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_acquirer(db: &TestDatabase) -> Acquirer {
    std::fs::create_dir_all(&db.data_dir).unwrap();
    let mut child = Command::new(binary())
        .args(["sandbox-acquirer", "--listen", "127.0.0.1:0", "--journal"])
        .arg(db.data_dir.join("acquirer.journal"))
        .env("PORTCULLIS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the sandbox acquirer");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base_url = line
        .trim()
        .strip_prefix("sandbox acquirer listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Acquirer { child, base_url }
}

on_both_backends!(a_payment_goes_through_the_sandbox_acquirer_process);

async fn a_payment_goes_through_the_sandbox_acquirer_process(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let acquirer = start_acquirer(&db);
    let config = db.data_dir.join("remote.toml");
    std::fs::write(
        &config,
        format!("connector_url = \"{}\"\n", acquirer.base_url),
    )
    .unwrap();
    let server = TestServer::start_with(&db, &["--config", config.to_str().unwrap()]);
    let api = Api::new(&server, &merchant.secret_key);
    let paid = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2500"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.json()["status"], "succeeded");
    let declined = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2500"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa_chargeDeclined"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(declined.status, 402, "{}", declined.text);

    let listed: Value = reqwest::Client::new()
        .get(format!("{}/attempts", acquirer.base_url))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let states: Vec<&str> = listed["ok"]
        .as_array()
        .expect("a list of attempts")
        .iter()
        .map(|a| a["record"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["captured", "declined"]);
}
