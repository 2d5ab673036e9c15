//! Data protection: a key-hash secret other than the one a database was
//! first used with is refused by `serve` and by every command that opens
//! the database, with a message that says what to set. Before the fix a
//! merchant created with data directory A and a server started with data
//! directory B (its own `key-hash-secret`) started fine, and every key
//! then answered 401 forever.

use crate::support::{binary, cli, create_merchant, Api, Backend, TestDatabase, TestServer};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a refused command may take; a `serve` that is not refused
/// runs until it is killed, and the test fails instead of hanging.
const REFUSAL_WITHIN: Duration = Duration::from_secs(60);

/// Runs `portcullis ARGS` against `db`, with extra environment variables.
fn run(db: &TestDatabase, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .args(["--database-url", &db.url])
        .args(["--data-dir", db.data_dir.to_str().unwrap()])
        .env("PORTCULLIS_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run portcullis");
    let deadline = Instant::now() + REFUSAL_WITHIN;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("portcullis output")
}

/// Asserts the command failed, saying what to set.
fn assert_refused(out: &Output, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what} was not refused: {err}");
    for needle in [
        "key-hash secret",
        "PORTCULLIS_KEY_HASH_SECRET",
        "--data-dir",
        "key-hash-secret",
        "Several instances",
    ] {
        assert!(
            err.contains(needle),
            "{what}: {needle:?} missing from {err}"
        );
    }
}

crate::on_both_backends!(a_mismatching_key_hash_secret_is_refused_with_what_to_set);

async fn a_mismatching_key_hash_secret_is_refused_with_what_to_set(backend: Backend) {
    let db_a = TestDatabase::new(backend).await;
    // The same database seen from data directory B.
    let db_b = db_a.another_instance();
    // A command that hashes no key neither makes a secret nor pins one:
    // a `migrate` run before the secret is configured locks nobody out.
    let migrated = run(&db_b, &["migrate"], &[]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(!db_b.data_dir.join("key-hash-secret").exists());
    let merchant = create_merchant(&db_a, "Acme");

    let serve = ["serve", "--listen", "127.0.0.1:0"];
    assert_refused(&run(&db_b, &serve, &[]), "serve from data dir B");
    let other_secret = "ab".repeat(32);
    let wrong = [("PORTCULLIS_KEY_HASH_SECRET", other_secret.as_str())];
    assert_refused(&run(&db_a, &serve, &wrong), "serve with another secret");
    let commands: [&[&str]; 5] = [
        &["migrate"],
        &["merchant", "list"],
        &["key", "list", "--merchant", &merchant.id],
        &["vault", "status"],
        &["ledger", "verify"],
    ];
    for command in commands {
        assert_refused(&run(&db_b, command, &[]), &command.join(" "));
    }
    assert_eq!(
        cli(&db_a, &["merchant", "list"]).lines().count(),
        1,
        "the right secret still opens the database"
    );

    // B given A's secret (the multi-instance recipe) serves A's keys.
    let secret_a = std::fs::read_to_string(db_a.data_dir.join("key-hash-secret")).unwrap();
    let shared = [("PORTCULLIS_KEY_HASH_SECRET", secret_a.trim())];
    let server = TestServer::start_with_env(&db_b, &[], &shared);
    let answer = Api::new(&server, &merchant.secret_key)
        .get("/v1/customers")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}
