//! Item 16: PostgreSQL over TLS (rustls). `sslmode=require` encrypts every
//! connection the gateway opens; `sslmode=verify-full` refuses a server
//! whose certificate does not chain to `sslrootcert`, and connects when it
//! does (`.ci/run` gives the local server a certificate for 127.0.0.1 signed by a CA
//! of its own and names the CA's file in `PORTCULLIS_TEST_PG_SSLROOTCERT`).

use crate::support::{
    binary, cli, create_merchant, postgres_or_skip, Backend, TestDatabase, TestServer,
    POSTGRES_ADMIN_URL,
};
use std::process::Command;

const ROOT_CERT_ENV: &str = "PORTCULLIS_TEST_PG_SSLROOTCERT";

async fn admin_query_i64(sql: &str, name: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(POSTGRES_ADMIN_URL, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    let row = client.query_one(sql, &[&name]).await.unwrap();
    drop(client);
    let _ = task.await;
    row.get(0)
}

fn database_name(db: &TestDatabase) -> String {
    let without_query = db.url.split('?').next().unwrap();
    without_query.rsplit('/').next().unwrap().to_owned()
}

/// The gateway's connections to `db`: (encrypted, in the clear).
async fn connections_by_encryption(db: &TestDatabase) -> (i64, i64) {
    let name = database_name(db);
    let count = |ssl: &str| {
        format!(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = $1 AND a.pid <> pg_backend_pid() AND {ssl}"
        )
    };
    (
        admin_query_i64(&count("s.ssl"), &name).await,
        admin_query_i64(&count("NOT s.ssl"), &name).await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_every_connection() {
    if !postgres_or_skip().await {
        return;
    }
    let mut db = TestDatabase::new(Backend::Postgres).await;
    db.url = format!("{}?sslmode=require", db.url);
    let merchant = create_merchant(&db, "TLS");
    let server = TestServer::start(&db);
    let api = crate::support::Api::new(&server, &merchant.secret_key);
    assert_eq!(api.get("/v1/customers").await.status, 200);
    let (encrypted, clear) = connections_by_encryption(&db).await;
    assert!(encrypted >= 1, "no encrypted connection from the gateway");
    assert_eq!(
        clear, 0,
        "a connection in the clear despite sslmode=require"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_refuses_a_certificate_from_another_root() {
    if !postgres_or_skip().await {
        return;
    }
    let mut db = TestDatabase::new(Backend::Postgres).await;
    // A self-signed certificate of our own: the server's does not chain to it.
    cli(&db, &["dev-cert"]);
    let stranger = db.data_dir.join("cert.pem");
    db.url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        db.url,
        stranger.display()
    );
    let output = Command::new(binary())
        .args(["migrate", "--database-url", &db.url])
        .env("PORTCULLIS_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "connected to a server it cannot verify"
    );
    let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
    assert!(
        stderr.contains("certificate") || stderr.contains("tls"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_connects_to_a_server_it_can_verify() {
    if !postgres_or_skip().await {
        return;
    }
    let Ok(root) = std::env::var(ROOT_CERT_ENV) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{ROOT_CERT_ENV} is not set: .ci/run sets up the server's certificate");
        }
        let line =
            format!("SKIPPED: {ROOT_CERT_ENV} not set (run .ci/run's PostgreSQL TLS setup)\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        return;
    };
    let mut db = TestDatabase::new(Backend::Postgres).await;
    db.url = format!("{}?sslmode=verify-full&sslrootcert={root}", db.url);
    let merchant = create_merchant(&db, "Verified");
    let server = TestServer::start(&db);
    let api = crate::support::Api::new(&server, &merchant.secret_key);
    assert_eq!(api.get("/v1/customers").await.status, 200);
    let (encrypted, clear) = connections_by_encryption(&db).await;
    assert!(
        encrypted >= 1 && clear == 0,
        "{encrypted} encrypted, {clear} clear"
    );
}
