//! The first hour of a new user (issue 19): `portcullis` with no subcommand
//! serves with all of `serve`'s flags and variables, every setting follows
//! flag > environment > file > default, database errors say what is wrong,
//! and a missing PostgreSQL database can be created on request; a database
//! migrated by a newer binary, or whose applied migration changed, is
//! refused by `migrate` and `serve` alike, naming the versions.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

/// A started `portcullis` and everything it printed on stdout until it
/// said where it listens.
struct Started {
    child: Child,
    base_url: String,
    banner: String,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with exactly these arguments and environment.
fn start(args: &[&str], env: &[(&str, &str)]) -> Started {
    let mut child = Command::new(support::binary())
        .args(args)
        .env("PORTCULLIS_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start portcullis");
    let stdout = child.stdout.take().unwrap();
    let (found, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            banner.push_str(&line);
            banner.push('\n');
            if let Some(url) = line.strip_prefix("portcullis listening on ") {
                let _ = found.send((url.to_owned(), banner.clone()));
            }
        }
    });
    let (base_url, banner) = seen
        .recv_timeout(Duration::from_secs(30))
        .expect("portcullis started and said where it listens");
    Started {
        child,
        base_url,
        banner,
    }
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(support::binary())
        .args(args)
        .env("PORTCULLIS_LOG", "warn")
        .output()
        .expect("run portcullis")
}

#[tokio::test]
async fn no_subcommand_serves_with_serve_flags() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let started = start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    let health = reqwest::get(format!("{}/health", started.base_url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn no_subcommand_reads_serve_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let started = start(
        &[],
        &[
            ("PORTCULLIS_LISTEN", "127.0.0.1:0"),
            ("PORTCULLIS_DATA_DIR", data.to_str().unwrap()),
        ],
    );
    assert!(started.base_url.starts_with("http://127.0.0.1:"));
    assert!(
        data.join("portcullis.db").exists(),
        "the data directory from the environment"
    );
}

/// `body_bytes_max` was a file-only key: the environment must override the
/// file for it as for every key, and a flag the environment.
#[tokio::test]
async fn environment_beats_file_and_flag_beats_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:1\"\nbody_bytes_max = 1000000\n",
    )
    .unwrap();
    let started = start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        // Ports 1 and 2 cannot be bound: the flag must beat both.
        &[
            ("PORTCULLIS_LISTEN", "127.0.0.1:2"),
            ("PORTCULLIS_BODY_BYTES_MAX", "2048"),
        ],
    );
    let keys: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("sandbox-keys.json")).unwrap())
            .unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/customers", started.base_url))
        .basic_auth(keys["secret_key"].as_str().unwrap(), Some(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("description={}", "x".repeat(3000)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        413,
        "PORTCULLIS_BODY_BYTES_MAX beats the file"
    );
}

#[test]
fn config_example_prints_a_settings_file_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["config", "example"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("webhooks_allow_private_targets = false"));
    let path = dir.path().join("example.toml");
    std::fs::write(&path, &text).unwrap();
    let data = dir.path().join("data");
    let checked = run(&[
        "--config",
        path.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "migrate",
    ]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn unsupported_database_urls_say_what_is_wrong() {
    for (url, expected) in [
        (
            "mysql://root:hunter2@127.0.0.1/shop",
            "scheme \"mysql\" are not supported",
        ),
        (
            "portcullis-data/portcullis.db",
            "needs the sqlite:// prefix",
        ),
    ] {
        let out = run(&["migrate", "--database-url", url]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(expected), "{url}: {err}");
        assert!(!err.contains("PostgreSQL database"), "{url}: {err}");
        assert!(!err.contains("hunter2"), "a password was printed: {err}");
    }
}

#[tokio::test]
async fn postgres_errors_carry_the_servers_message_and_create_database_makes_it() {
    if !support::postgres_or_skip().await {
        return;
    }
    let name = format!("portcullis_h19_{}", hex::encode(rand::random::<[u8; 6]>()));
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let missing = run(&["migrate", "--database-url", &url]);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        err.contains(&format!("database \"{name}\" does not exist")),
        "{err}"
    );
    assert!(err.contains("--create-database"), "{err}");

    let role = run(&[
        "migrate",
        "--database-url",
        "postgres://no_such_role_h19@127.0.0.1:5432/postgres",
    ]);
    let err = String::from_utf8_lossy(&role.stderr);
    assert!(
        err.contains("role \"no_such_role_h19\" does not exist"),
        "{err}"
    );

    let refused = run(&[
        "migrate",
        "--database-url",
        "postgres://postgres@127.0.0.1:1/x",
    ]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.to_lowercase().contains("connection refused"), "{err}");

    let created = run(&["migrate", "--database-url", &url, "--create-database"]);
    let dropped = Command::new("psql")
        .args([
            support::POSTGRES_ADMIN_URL,
            "-qc",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ])
        .status();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(String::from_utf8_lossy(&created.stdout).contains("created the PostgreSQL database"));
    assert!(dropped.is_ok_and(|s| s.success()));
}

#[tokio::test]
async fn serve_create_database_on_first_start() {
    if !support::postgres_or_skip().await {
        return;
    }
    let db = TestDatabase::new(Backend::Sqlite).await;
    let name = format!("portcullis_h19_{}", hex::encode(rand::random::<[u8; 6]>()));
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let started = start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &url,
            "--data-dir",
            db.data_dir.to_str().unwrap(),
            "--create-database",
        ],
        &[],
    );
    assert!(
        started.banner.contains("created the PostgreSQL database"),
        "{}",
        started.banner
    );
    drop(started);
    let _ = Command::new("psql")
        .args([
            support::POSTGRES_ADMIN_URL,
            "-qc",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ])
        .status();
}

on_both_backends!(a_payment_in_review_names_its_review);

/// Issue 19 item 9: the PaymentIntent's `review` was null while its charge had one.
async fn a_payment_in_review_names_its_review(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let rule = api
        .post(
            "/v1/risk/rules",
            &[("rule", "review if :amount_in_usd: >= 10")],
        )
        .await;
    assert_eq!(rule.status, 200, "{}", rule.text);
    let paid = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert!(paid.text.ends_with('\n'), "JSON answers end with a newline");
    let intent = paid.json();
    let review = intent["review"]
        .as_str()
        .expect("the intent names its review");
    assert!(review.starts_with("prv_"), "{review}");
    let charge = api
        .get(&format!(
            "/v1/charges/{}",
            intent["latest_charge"].as_str().unwrap()
        ))
        .await;
    assert_eq!(charge.json()["review"], review);
    let again = api
        .get(&format!(
            "/v1/payment_intents/{}",
            intent["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(again.json()["review"], review);
}

/// Runs SQL on the test database behind the binary's back.
fn execute_sql(db: &TestDatabase, backend: Backend, sql: &str) {
    match backend {
        Backend::Sqlite => {
            let path = db.url.strip_prefix("sqlite://").unwrap();
            rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(sql)
                .unwrap();
        }
        Backend::Postgres => {
            let output = Command::new("psql")
                .args([db.url.as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql])
                .output()
                .expect("run psql");
            assert!(output.status.success(), "{output:?}");
        }
    }
}

/// `portcullis migrate` and `serve` on this database: their exit success
/// and what they printed.
fn migrate_and_serve(db: &TestDatabase) -> Vec<(bool, String)> {
    let data_dir = db.data_dir.to_str().unwrap();
    [
        vec!["migrate", "--database-url", &db.url],
        vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
            "--data-dir",
            data_dir,
        ],
    ]
    .iter()
    .map(|args| {
        let output = run(args);
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    })
    .collect()
}

on_both_backends!(a_binary_refuses_a_database_migrated_by_a_newer_one_or_changed);

async fn a_binary_refuses_a_database_migrated_by_a_newer_one_or_changed(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let migrated = run(&["migrate", "--database-url", &db.url]);
    assert!(migrated.status.success(), "{migrated:?}");

    execute_sql(
        &db,
        backend,
        "INSERT INTO schema_migrations (version, applied, checksum) VALUES (9999, 0, 'sha256:ff')",
    );
    for (success, text) in migrate_and_serve(&db) {
        assert!(!success, "started on a newer database: {text}");
        assert!(text.contains("migrated by a newer Portcullis"), "{text}");
        assert!(text.contains("schema version 9999"), "{text}");
        assert!(text.contains("knows schema versions up to"), "{text}");
    }

    execute_sql(
        &db,
        backend,
        "DELETE FROM schema_migrations WHERE version = 9999",
    );
    execute_sql(
        &db,
        backend,
        "UPDATE schema_migrations SET checksum = 'sha256:00' WHERE version = 1",
    );
    for (success, text) in migrate_and_serve(&db) {
        assert!(!success, "started on a changed migration: {text}");
        assert!(
            text.contains("schema migration 1 changed after it was applied"),
            "{text}"
        );
    }
}
