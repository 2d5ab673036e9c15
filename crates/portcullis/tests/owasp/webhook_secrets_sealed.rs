//! Data protection: webhook signing secrets are sealed at rest by the
//! vault's key-encrypting key, as card numbers and connector credentials
//! are. Before the fix the endpoint's row held `whsec_…` in the clear, so a
//! copy of the database could forge any merchant's webhooks. The secret is
//! still answered once at creation; deliveries still verify with Stripe's
//! documented scheme (checked by the receiver's own HMAC); rows an older
//! build stored in the clear are sealed when `serve` starts (once); and
//! `vault rotate-key` re-wraps them.

use crate::fixtures::Env;
use crate::receiver::{verify, Receiver};
use crate::support::{cli, Backend, TestDatabase, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

const ALLOW_PRIVATE: [(&str, &str); 1] = [("PORTCULLIS_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true")];
const WAIT: Duration = Duration::from_secs(30);

/// The endpoint's stored row: (body, kek_id, version).
async fn row(db: &TestDatabase, backend: Backend, id: &str) -> (String, Option<String>, i64) {
    let sql = "SELECT body, kek_id, version FROM webhook_endpoints WHERE id = ";
    match backend {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(db.url.trim_start_matches("sqlite://")).unwrap();
            conn.query_row(&format!("{sql}?1"), [id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap()
        }
        Backend::Postgres => {
            let client = postgres_client(db).await;
            let r = client.query_one(&format!("{sql}$1"), &[&id]).await.unwrap();
            (r.get(0), r.get(1), r.get(2))
        }
    }
}

async fn postgres_client(db: &TestDatabase) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Puts the endpoint's row back as builds before the fix stored it:
/// the secret in the clear in the body, no `kek_id`.
async fn store_in_the_clear(db: &TestDatabase, backend: Backend, id: &str, secret: &str) {
    let (body, _, _) = row(db, backend, id).await;
    let mut body: Value = serde_json::from_str(&body).unwrap();
    body.as_object_mut().unwrap().remove("sealed");
    body["secrets"] = json!([{ "secret": secret, "expires_at": null }]);
    let body = body.to_string();
    let sql = "UPDATE webhook_endpoints SET kek_id = NULL, body = ";
    match backend {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(db.url.trim_start_matches("sqlite://")).unwrap();
            conn.execute(&format!("{sql}?1 WHERE id = ?2"), [&body, id])
                .unwrap();
        }
        Backend::Postgres => {
            let client = postgres_client(db).await;
            client
                .execute(&format!("{sql}$1 WHERE id = $2"), &[&body, &id])
                .await
                .unwrap();
        }
    }
}

/// Asserts the row holds no secret and names the KEK sealing it.
async fn assert_sealed(db: &TestDatabase, backend: Backend, id: &str, secret: &str) -> String {
    let (body, kek_id, _) = row(db, backend, id).await;
    assert!(
        !body.contains(secret),
        "the secret is stored in the clear: {body}"
    );
    assert!(!body.contains("whsec_"), "{body}");
    let kek_id = kek_id.expect("a sealed row names its KEK");
    assert!(kek_id.starts_with("kek_"), "{kek_id}");
    kek_id
}

/// Creates a payment intent and checks its `payment_intent.created`
/// delivery is signed with `secret`.
async fn assert_delivery_verifies(
    env: &Env,
    server: &TestServer,
    receiver: &Receiver,
    secret: &str,
) {
    let api = crate::support::Api::new(server, &env.merchant.secret_key);
    let intent = api
        .post(
            "/v1/payment_intents",
            &[("amount", "2000"), ("currency", "usd")],
        )
        .await;
    assert_eq!(intent.status, 200, "{}", intent.text);
    let id = intent.json()["id"].as_str().unwrap().to_owned();
    let hits = receiver
        .wait_for("the intent's delivery", WAIT, |hits| {
            hits.iter().any(|h| h.body.contains(&id))
        })
        .await;
    let hit = hits.iter().find(|h| h.body.contains(&id)).unwrap();
    assert!(
        verify(&hit.signature, &hit.body, secret).0,
        "{}",
        hit.signature
    );
}

/// Stops the server at once: every write it acknowledged is committed, and
/// this test is not about graceful shutdown (which a loaded machine can
/// stretch past `terminate`'s bound).
fn stop(server: &mut TestServer) {
    let _ = server.child.kill();
    let _ = server.child.wait();
}

crate::on_both_backends!(webhook_secrets_are_sealed_at_rest_and_still_sign);

async fn webhook_secrets_are_sealed_at_rest_and_still_sign(backend: Backend) {
    let mut env = Env::with_args(backend, &[], &ALLOW_PRIVATE).await;
    let receiver = Receiver::start(0).await;
    let created = env
        .api
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", receiver.url.as_str()),
                ("enabled_events[]", "payment_intent.created"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let secret = created.json()["secret"].as_str().unwrap().to_owned();
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "shown once, at creation");
    let first_kek = assert_sealed(&env.db, backend, &id, &secret).await;
    assert_delivery_verifies(&env, &env.server, &receiver, &secret).await;

    // A row stored in the clear by an older build is sealed at start-up, once.
    stop(&mut env.server);
    store_in_the_clear(&env.db, backend, &id, &secret).await;
    env.server = TestServer::start_with_env(&env.db, &[], &ALLOW_PRIVATE);
    assert_sealed(&env.db, backend, &id, &secret).await;
    let (_, _, version) = row(&env.db, backend, &id).await;
    stop(&mut env.server);
    env.server = TestServer::start_with_env(&env.db, &[], &ALLOW_PRIVATE);
    assert_eq!(
        row(&env.db, backend, &id).await.2,
        version,
        "sealing is idempotent"
    );
    assert_delivery_verifies(&env, &env.server, &receiver, &secret).await;

    // Key rotation re-wraps the endpoint's secrets; they still sign.
    let rotated = cli(&env.db, &["vault", "rotate-key"]);
    assert!(
        rotated.contains(", 1 webhook endpoints, 0 terminals"),
        "{rotated}"
    );
    let new_kek = assert_sealed(&env.db, backend, &id, &secret).await;
    assert_ne!(new_kek, first_kek);
    assert_delivery_verifies(&env, &env.server, &receiver, &secret).await;
    let retired = cli(&env.db, &["vault", "retire-key", &first_kek]);
    assert!(retired.contains("retired"), "{retired}");
}
