//! The process around the API: first start, settings layering, TLS, JSON
//! logs, and a graceful shutdown under load that loses no acknowledged write.

mod support;

use serde_json::Value;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

on_both_backends!(graceful_shutdown_under_load_loses_no_acknowledged_write);

async fn graceful_shutdown_under_load_loses_no_acknowledged_write(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let mut server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = vec![];
    for worker in 0..16 {
        let (api, acknowledged, stop) = (api.clone(), acknowledged.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < 10_000 {
                i += 1;
                let name = format!("w{worker}-{i}");
                let sent = api
                    .http
                    .post(format!("{}/v1/customers", api.base_url))
                    .bearer_auth(&api.key)
                    .form(&[("name", &name)])
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                if response.status() == 200 {
                    if let Ok(body) = response.json::<Value>().await {
                        acknowledged
                            .lock()
                            .unwrap()
                            .push(body["id"].as_str().unwrap().to_owned());
                    }
                }
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, server.log())
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    assert!(
        status.0.success(),
        "clean exit after SIGTERM: {:?}\n{}",
        status.0,
        status.1
    );
    assert!(status.1.contains("shutting down"), "{}", status.1);

    let restarted = TestServer::start(&db);
    let api = Api::new(&restarted, &merchant.secret_key);
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 100);
    for id in &acknowledged {
        let answer = api.get(&format!("/v1/customers/{id}")).await;
        assert_eq!(answer.status, 200, "acknowledged customer {id} was lost");
    }
}

#[tokio::test]
async fn first_start_creates_a_sandbox_merchant_and_keeps_its_keys() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let server = TestServer::start(&db);
    let keys_path = db.data_dir.join("sandbox-keys.json");
    let keys: Value = serde_json::from_str(&std::fs::read_to_string(&keys_path).unwrap()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let secret = keys["secret_key"].as_str().unwrap();
    assert!(secret.starts_with("sk_test_"));
    let answer = Api::new(&server, secret).get("/v1/customers").await;
    assert_eq!(answer.status, 200);
    assert!(!server.log().contains(secret), "a key was logged");
    drop(server);
    let _again = TestServer::start(&db);
    assert_eq!(
        support::cli(&db, &["merchant", "list"]).lines().count(),
        1,
        "restarts create no second sandbox"
    );
}

#[tokio::test]
async fn settings_file_is_layered_under_environment_and_flags() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    std::fs::create_dir_all(&db.data_dir).unwrap();
    let config = db.data_dir.join("portcullis.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:1\"\nbody_bytes_max = 2048\nunknown_setting = 1\n",
    )
    .unwrap();
    let refused = Command::new(support::binary())
        .args([
            "--config",
            config.to_str().unwrap(),
            "migrate",
            "--data-dir",
            db.data_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "unknown settings are refused");
    std::fs::write(&config, "listen = \"127.0.0.1:1\"\nbody_bytes_max = 2048\n").unwrap();
    let merchant = create_merchant(&db, "Acme");
    // --listen on the command line beats the file's unusable port 1.
    let server = TestServer::start_with(&db, &["--config", config.to_str().unwrap()]);
    let api = Api::new(&server, &merchant.secret_key);
    let body = format!("description={}", "x".repeat(3000));
    let answer = api
        .send(
            api.http
                .post(server.url("/v1/customers"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await;
    assert_eq!(answer.status, 413, "the file's body_bytes_max applies");
}

#[tokio::test]
async fn https_with_a_development_certificate() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let merchant = create_merchant(&db, "Acme");
    support::cli(&db, &["dev-cert"]);
    let cert = db.data_dir.join("cert.pem");
    let key = db.data_dir.join("key.pem");
    let server = TestServer::start_with(
        &db,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(server.base_url.starts_with("https://"));
    let root = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let url = server.base_url.replace("127.0.0.1", "localhost");
    let response = client
        .get(format!("{url}/v1/customers"))
        .bearer_auth(&merchant.secret_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let plain = reqwest::Client::new()
        .get(server.base_url.replace("https", "http") + "/health")
        .send()
        .await;
    assert!(
        plain.map(|r| !r.status().is_success()).unwrap_or(true),
        "plain HTTP is not served on the TLS port"
    );
    if let Some(refused) = old_tls_refused(&server.base_url) {
        assert!(refused, "TLS 1.1 must be refused");
    }
}

/// Whether a TLS 1.1 handshake fails; `None` when no openssl client is here.
fn old_tls_refused(base_url: &str) -> Option<bool> {
    let address = base_url.trim_start_matches("https://");
    let status = Command::new("openssl")
        .args(["s_client", "-connect", address, "-tls1_1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    Some(!status.success())
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_never_the_key() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start_with(&db, &["--log-format", "json"]);
    let api = Api::new(&server, &merchant.secret_key);
    let answer = api
        .post("/v1/customers", &[("email", "jenny@example.com")])
        .await;
    let request_id = answer
        .headers
        .get("request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = server.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["request_id"] == request_id.as_str()),
        "no log line carries {request_id}:\n{log}"
    );
    assert!(!log.contains(&merchant.secret_key));
}
