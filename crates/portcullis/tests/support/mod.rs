//! Test support: a fresh database per test (an SQLite file, or a PostgreSQL
//! database created and dropped here), and the real `portcullis` binary
//! serving it on port 0.
//!
//! PostgreSQL policy, in one place: when the server at 127.0.0.1:5432 does
//! not answer, tests fail, unless `PORTCULLIS_SKIP_POSTGRES=1` asks to skip
//! them (refused under `CI=true`).
#![allow(dead_code)]

use serde_json::Value;

pub mod acquirer_sim;
pub mod dashboard;
pub mod jwe;
pub mod processor_sim;
pub mod risk;
pub mod wallet_qr;
pub mod wallet_shop;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const SERVER_START_TIMEOUT_S: u64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `sqlite` and `postgres` tests from one `async fn(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if crate::support::postgres_or_skip().await {
                    super::$name(crate::support::Backend::Postgres).await
                }
            }
        }
    )*};
}

/// True when PostgreSQL answers. Otherwise the test fails, saying how to
/// start the server or skip on purpose: only `PORTCULLIS_SKIP_POSTGRES=1`
/// skips (never under `CI=true`), with a SKIPPED line written straight to
/// the stderr handle, which libtest does not capture.
pub async fn postgres_or_skip() -> bool {
    let reachable = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_postgres::connect(POSTGRES_ADMIN_URL, tokio_postgres::NoTls),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    if reachable {
        return true;
    }
    let ci = std::env::var("CI").ok();
    let skip = std::env::var("PORTCULLIS_SKIP_POSTGRES").ok();
    if when_postgres_unreachable(ci.as_deref(), skip.as_deref()) == Unreachable::Fail {
        panic!(
            "PostgreSQL is not reachable at 127.0.0.1:5432. Start it (user postgres, trust auth), \
             or set PORTCULLIS_SKIP_POSTGRES=1 to skip the PostgreSQL tests on purpose (never \
             allowed under CI=true)."
        );
    }
    let line = "SKIPPED (PORTCULLIS_SKIP_POSTGRES=1): PostgreSQL not reachable at 127.0.0.1:5432 — PostgreSQL tests did not run\n";
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    false
}

/// What a test does when PostgreSQL does not answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Unreachable {
    Fail,
    Skip,
}

/// The policy, from the values of `CI` and `PORTCULLIS_SKIP_POSTGRES`:
/// skip only when asked with `1`, and never under `CI=true`.
pub fn when_postgres_unreachable(ci: Option<&str>, skip: Option<&str>) -> Unreachable {
    if ci != Some("true") && skip == Some("1") {
        Unreachable::Skip
    } else {
        Unreachable::Fail
    }
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
    pub data_dir: PathBuf,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}", data_dir.join("portcullis.db").display()),
                pg_name: None,
                _dir: dir,
                data_dir,
            },
            Backend::Postgres => {
                let name = format!("portcullis_test_{}", hex::encode(rand::random::<[u8; 8]>()));
                admin_sql(&format!("CREATE DATABASE {name}")).await;
                Self {
                    url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
                    pg_name: Some(name),
                    _dir: dir,
                    data_dir,
                }
            }
        }
    }
}

impl TestDatabase {
    /// The same database seen from a data directory of its own: what a
    /// second instance on another machine has.
    pub fn another_instance(&self) -> TestDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        TestDatabase {
            url: self.url.clone(),
            pg_name: None,
            _dir: dir,
            data_dir,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Drop runs outside the test's runtime: use psql, which is always
            // beside the server we test against.
            let _ = Command::new("psql")
                .args([
                    POSTGRES_ADMIN_URL,
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

async fn admin_sql(sql: &str) {
    let (client, connection) = tokio_postgres::connect(POSTGRES_ADMIN_URL, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    let task = tokio::spawn(connection);
    client.batch_execute(sql).await.expect("admin SQL");
    drop(client);
    let _ = task.await;
}

/// The real binary, serving a test database.
pub struct TestServer {
    pub base_url: String,
    /// `http://ADDR` of `--metrics-listen`, when the server was given one.
    pub metrics_url: Option<String>,
    pub child: Child,
    pub stderr_log: PathBuf,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_portcullis")
}

/// Runs a `portcullis` subcommand against `db` and returns its stdout.
pub fn cli(db: &TestDatabase, args: &[&str]) -> String {
    let output = Command::new(binary())
        .args(args)
        .args([
            "--database-url",
            &db.url,
            "--data-dir",
            db.data_dir.to_str().unwrap(),
        ])
        .env("PORTCULLIS_LOG", "warn")
        .output()
        .expect("run portcullis");
    assert!(
        output.status.success(),
        "portcullis {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// A merchant and its test keys.
#[derive(Clone, Debug)]
pub struct Merchant {
    pub id: String,
    pub secret_key: String,
    pub publishable_key: String,
}

pub fn create_merchant(db: &TestDatabase, name: &str) -> Merchant {
    let out = cli(db, &["merchant", "create", "--name", name, "--json"]);
    let json: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    Merchant {
        id: json["id"].as_str().unwrap().to_owned(),
        secret_key: json["secret_key"].as_str().unwrap().to_owned(),
        publishable_key: json["publishable_key"].as_str().unwrap().to_owned(),
    }
}

impl TestServer {
    pub fn start(db: &TestDatabase) -> Self {
        Self::start_with(db, &[])
    }

    pub fn start_with(db: &TestDatabase, extra_args: &[&str]) -> Self {
        Self::start_with_env(db, extra_args, &[])
    }

    /// Starts the server with extra flags and environment variables.
    pub fn start_with_env(db: &TestDatabase, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(&db.data_dir).unwrap();
        let stderr_log = db
            .data_dir
            .join(format!("server-{}.log", rand::random::<u32>()));
        let mut child = Command::new(binary())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args([
                "--database-url",
                &db.url,
                "--data-dir",
                db.data_dir.to_str().unwrap(),
            ])
            .args(extra_args)
            .env("PORTCULLIS_LOG", "info")
            // Suites that drive load through one key test behaviour, not
            // the rate limits; tests/owasp/rate_limits.rs sets its own.
            .env("PORTCULLIS_RATE_LIMIT_PER_KEY_PER_S", "1000000")
            .env("PORTCULLIS_RATE_LIMIT_PER_MERCHANT_PER_S", "1000000")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).unwrap())
            .spawn()
            .expect("start portcullis serve");
        let stdout = child.stdout.take().unwrap();
        let (found, seen) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The metrics listener, if any, is announced before the API's.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("metrics listening on ") {
                    let _ = found.send((false, url.to_owned()));
                }
                if let Some(url) = line.strip_prefix("portcullis listening on ") {
                    let _ = found.send((true, url.to_owned()));
                }
            }
        });
        let mut metrics_url = None;
        let base_url = loop {
            let (api, url) = seen
                .recv_timeout(Duration::from_secs(SERVER_START_TIMEOUT_S))
                .unwrap_or_else(|_| {
                    panic!(
                        "server did not start: {}",
                        std::fs::read_to_string(&stderr_log).unwrap_or_default()
                    )
                });
            if api {
                break url;
            }
            metrics_url = Some(url);
        };
        Self {
            base_url,
            metrics_url,
            child,
            stderr_log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client speaking as one key.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base_url: String,
    pub key: String,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }
}

impl Api {
    pub fn new(server: &TestServer, key: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: server.base_url.clone(),
            key: key.to_owned(),
        }
    }

    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Answer {
        let response = builder
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request sent");
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body read"),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base_url)))
            .await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(
            self.http
                .post(format!("{}{path}", self.base_url))
                .form(form),
        )
        .await
    }

    pub async fn post_idempotent(&self, path: &str, key: &str, form: &[(&str, &str)]) -> Answer {
        self.send(
            self.http
                .post(format!("{}{path}", self.base_url))
                .header("Idempotency-Key", key)
                .form(form),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.http.delete(format!("{}{path}", self.base_url)))
            .await
    }
}

/// Moves a stored session's `expires_at` (column and body) into the past.
pub async fn backdate_checkout_session(db: &TestDatabase, id: &str) {
    if db.url.starts_with("sqlite") {
        let path = db.url.trim_start_matches("sqlite://");
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let changed = conn
            .execute(
                "UPDATE checkout_sessions SET expires_at = 1000, \
                 body = json_set(body, '$.expires_at', 1000) WHERE id = ?1",
                [id],
            )
            .unwrap();
        assert_eq!(changed, 1);
    } else {
        let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let changed = client
            .execute(
                "UPDATE checkout_sessions SET expires_at = 1000, \
                 body = jsonb_set(body::jsonb, '{expires_at}', '1000')::text WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap();
        assert_eq!(changed, 1);
    }
}

/// A Checkout Session's create form: two line items (2 × 20.00 and
/// 3 × 3.50 USD, 50.50 in all), the given URLs, then `extra`.
pub fn checkout_session_form<'a>(
    success_url: &'a str,
    cancel_url: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("mode", "payment"),
        ("success_url", success_url),
        ("cancel_url", cancel_url),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "2000"),
        ("line_items[0][price_data][product_data][name]", "T-shirt"),
        ("line_items[0][quantity]", "2"),
        ("line_items[1][price_data][currency]", "usd"),
        ("line_items[1][price_data][unit_amount]", "350"),
        ("line_items[1][price_data][product_data][name]", "Socks"),
        ("line_items[1][quantity]", "3"),
    ];
    form.extend_from_slice(extra);
    form
}

/// How many events of `kind` are about the object `id` (the newest 100).
#[allow(dead_code)]
pub async fn events_about(api: &Api, kind: &str, id: &str) -> usize {
    let events = api
        .get(&format!("/v1/events?type={kind}&limit=100"))
        .await
        .json();
    events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["object"]["id"] == id)
        .count()
}
