//! Several instances on one database (issue 19 item 4, issue 12 item 13):
//! an instance whose keyring lacks the key that sealed a saved card answers
//! a clear 503 (never 500) and writes nothing; an instance started with
//! such a keyring refuses to start and says what to set; sharing the
//! keyring file makes the card usable everywhere.

mod support;

use std::process::Command;
use support::{Api, Backend, TestDatabase, TestServer};

const SHARED_KEY_HASH_SECRET: &str =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

on_both_backends!(instances_must_share_the_vault_keyring);

async fn instances_must_share_the_vault_keyring(backend: Backend) {
    let db_a = TestDatabase::new(backend).await;
    let db_b = db_a.another_instance();
    let secret = [("PORTCULLIS_KEY_HASH_SECRET", SHARED_KEY_HASH_SECRET)];
    // B starts first, on the empty database, and makes its own keyring.
    let server_b = TestServer::start_with_env(&db_b, &[], &secret);
    let server_a = TestServer::start_with_env(&db_a, &[], &secret);
    let keys: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keys_file(&db_b)).unwrap()).unwrap();
    let key = keys["secret_key"].as_str().unwrap();
    let api_a = Api::new(&server_a, key);
    let pm = saved_card(&api_a).await;
    let pay = [
        ("amount", "2000"),
        ("currency", "usd"),
        ("payment_method", pm.as_str()),
        ("confirm", "true"),
    ];

    let api_b = Api::new(&server_b, key);
    let refused = api_b.post("/v1/payment_intents", &pay).await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    let error = &refused.json()["error"];
    assert_eq!(error["type"], "api_error");
    assert!(
        error["message"].as_str().unwrap().contains("keyring"),
        "{error}"
    );
    assert!(
        server_b.log().contains("vault_keyring_file"),
        "B's log says what to set"
    );
    let intents = api_b.get("/v1/payment_intents").await;
    assert_eq!(
        intents.json()["data"].as_array().unwrap().len(),
        0,
        "nothing half-written"
    );
    drop(server_b);

    // Restarted with its own keyring, B refuses to start at all.
    let out = Command::new(support::binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db_b.url,
        ])
        .args(["--data-dir", db_b.data_dir.to_str().unwrap()])
        .env("PORTCULLIS_KEY_HASH_SECRET", SHARED_KEY_HASH_SECRET)
        .env("PORTCULLIS_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("vault_keyring_file"), "{err}");

    // With A's keyring, B starts and pays with the card.
    let shared = db_a.data_dir.join("vault-keyring");
    let mut env = secret.to_vec();
    env.push(("PORTCULLIS_VAULT_KEYRING_FILE", shared.to_str().unwrap()));
    let server_b = TestServer::start_with_env(&db_b, &[], &env);
    let paid = Api::new(&server_b, key)
        .post("/v1/payment_intents", &pay)
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.json()["status"], "succeeded");
}

/// Saves a test card through `api`; answers its `pm_…`.
async fn saved_card(api: &Api) -> String {
    let method = api
        .post(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[number]", "4242424242424242"),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2035"),
            ],
        )
        .await;
    assert_eq!(method.status, 200, "{}", method.text);
    method.json()["id"].as_str().unwrap().to_owned()
}

/// The sandbox keys of a non-default database live in a file of their own.
fn keys_file(db: &TestDatabase) -> std::path::PathBuf {
    std::fs::read_dir(&db.data_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("sandbox-keys")
        })
        .expect("a sandbox keys file")
}

on_both_backends!(a_lost_keyring_is_refused_and_restored_from_a_backup);

/// Issue 12 item 13: `vault backup` / `vault restore` under a passphrase,
/// and a server that refuses to start without the keyring its cards need.
async fn a_lost_keyring_is_refused_and_restored_from_a_backup(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = support::create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let pm = saved_card(&api).await;
    drop(server);

    let passphrase = db.data_dir.join("passphrase");
    std::fs::write(&passphrase, "correct horse battery staple\n").unwrap();
    let backup = db.data_dir.join("keyring.backup");
    let pass = passphrase.to_str().unwrap();
    support::cli(
        &db,
        &[
            "vault",
            "backup",
            "--out",
            backup.to_str().unwrap(),
            "--passphrase-file",
            pass,
        ],
    );
    let keyring = db.data_dir.join("vault-keyring");
    let original = std::fs::read_to_string(&keyring).unwrap();
    assert!(!std::fs::read_to_string(&backup)
        .unwrap()
        .contains(original.trim()));
    std::fs::remove_file(&keyring).unwrap();

    let refused = Command::new(support::binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
        ])
        .args(["--data-dir", db.data_dir.to_str().unwrap()])
        .env("PORTCULLIS_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "started without the keyring its cards need"
    );
    assert!(err.contains("vault restore"), "{err}");
    assert!(!keyring.exists(), "no new keyring was made in its place");

    let wrong = db.data_dir.join("wrong");
    std::fs::write(&wrong, "not the passphrase at all").unwrap();
    let out = Command::new(support::binary())
        .args(["vault", "restore", "--from", backup.to_str().unwrap()])
        .args(["--passphrase-file", wrong.to_str().unwrap()])
        .args([
            "--database-url",
            &db.url,
            "--data-dir",
            db.data_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a wrong passphrase restores nothing");
    support::cli(
        &db,
        &[
            "vault",
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--passphrase-file",
            pass,
        ],
    );
    assert_eq!(std::fs::read_to_string(&keyring).unwrap(), original);

    let server = TestServer::start(&db);
    let paid = Api::new(&server, &merchant.secret_key)
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("payment_method", pm.as_str()),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
}

on_both_backends!(instances_share_the_keyring_given_in_the_environment);

/// Issue 12 item 13 (and issue 19 item 4): two instances with separate
/// data directories share the keyring through `PORTCULLIS_VAULT_KEYRING`
/// (the keyring's text, newline- or `;`-separated), as containers given a
/// secret do. No keyring file is written; a card saved through one is paid
/// through the other; commands that would write the keyring refuse.
async fn instances_share_the_keyring_given_in_the_environment(backend: Backend) {
    let db_a = TestDatabase::new(backend).await;
    let db_b = db_a.another_instance();
    let text = portcullis_vault::Keyring::generate().to_text();
    let one_line = text.trim_end().replace('\n', ";");
    let env_a = [
        ("PORTCULLIS_KEY_HASH_SECRET", SHARED_KEY_HASH_SECRET),
        ("PORTCULLIS_VAULT_KEYRING", text.as_str()),
    ];
    let env_b = [
        ("PORTCULLIS_KEY_HASH_SECRET", SHARED_KEY_HASH_SECRET),
        ("PORTCULLIS_VAULT_KEYRING", one_line.as_str()),
    ];
    let server_a = TestServer::start_with_env(&db_a, &[], &env_a);
    let server_b = TestServer::start_with_env(&db_b, &[], &env_b);
    let keys: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keys_file(&db_a)).unwrap()).unwrap();
    let key = keys["secret_key"].as_str().unwrap();
    let pm = saved_card(&Api::new(&server_a, key)).await;
    let paid = Api::new(&server_b, key)
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("payment_method", pm.as_str()),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.json()["status"], "succeeded");
    for db in [&db_a, &db_b] {
        assert!(
            !db.data_dir.join("vault-keyring").exists(),
            "a keyring given in the environment is never written to disk"
        );
    }

    // `vault status` reads it; `rotate-key` cannot write it and says so.
    let vault = |args: &[&str]| {
        Command::new(support::binary())
            .arg("vault")
            .args(args)
            .args(["--database-url", &db_b.url])
            .args(["--data-dir", db_b.data_dir.to_str().unwrap()])
            .envs(env_b)
            .env("PORTCULLIS_LOG", "warn")
            .output()
            .unwrap()
    };
    let status = vault(&["status"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("(active)\t1 cards"));
    let rotate = vault(&["rotate-key"]);
    assert!(!rotate.status.success());
    let err = String::from_utf8_lossy(&rotate.stderr);
    assert!(err.contains("PORTCULLIS_VAULT_KEYRING_FILE"), "{err}");
}
