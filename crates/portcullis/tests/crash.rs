//! Crash recovery: the server is killed between the acquirer's answer and
//! the commit that records it (atomic phase two). After a restart, the
//! recovery worker asks the acquirer what it did and settles the payment,
//! and a retry of the same request answers the settled payment — one
//! authorization, one charge, nothing lost or doubled.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

/// Fast recovery for the test: attempts are stale after 1.5 s.
const SETTINGS: &str = "connector_timeout_ms = 1000\nattempt_stale_ms = 1500\nrecovery_interval_ms = 200\nidempotency_lease_s = 1\n";

on_both_backends!(a_crash_between_the_acquirers_answer_and_the_commit_is_recovered);

async fn a_crash_between_the_acquirers_answer_and_the_commit_is_recovered(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let config = db.data_dir.join("crash.toml");
    std::fs::write(&config, SETTINGS).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let form = [
        ("amount", "4200"),
        ("currency", "eur"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
    ];

    let mut crashing = TestServer::start_with_env(
        &db,
        &["--config", &config],
        &[("PORTCULLIS_TEST_FAULT_CRASH_AFTER_AUTHORIZE", "1")],
    );
    let api = Api::new(&crashing, &merchant.secret_key);
    let sent = api
        .http
        .post(format!("{}/v1/payment_intents", api.base_url))
        .bearer_auth(&api.key)
        .header("Idempotency-Key", "order-1")
        .form(&form)
        .send()
        .await;
    assert!(sent.is_err(), "the server must die before answering");
    let exit = wait_for_exit(&mut crashing);
    assert!(!exit.success(), "the fault aborts the process");
    assert!(crashing.log().contains("test fault"), "{}", crashing.log());

    let server = TestServer::start_with(&db, &["--config", &config]);
    let api = Api::new(&server, &merchant.secret_key);
    let intents = api.get("/v1/payment_intents").await.json();
    let intents = intents["data"].as_array().unwrap();
    assert_eq!(intents.len(), 1, "phase one recorded the intent");
    let id = intents[0]["id"].as_str().unwrap().to_owned();

    // The recovery worker settles the orphaned attempt with the acquirer.
    let deadline = Instant::now() + Duration::from_secs(15);
    let intent = loop {
        let intent = api.get(&format!("/v1/payment_intents/{id}")).await.json();
        if intent["status"] == "succeeded" {
            break intent;
        }
        assert!(
            Instant::now() < deadline,
            "not recovered: {intent}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(intent["amount_received"], 4200);
    assert!(server.log().contains("settling an orphaned attempt"));

    // The client's retry of the same request answers the recovered payment
    // (409 while the dead request's claim is within its lease: the client
    // libraries retry those, and so does this test).
    let retry = loop {
        let retry = api
            .post_idempotent("/v1/payment_intents", "order-1", &form)
            .await;
        if retry.status != 409 {
            break retry;
        }
        assert!(Instant::now() < deadline, "the key stayed in use");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.json()["id"], id.as_str());
    assert_eq!(retry.json()["status"], "succeeded");

    let charges = api
        .get(&format!("/v1/charges?payment_intent={id}"))
        .await
        .json();
    let charges: Vec<&Value> = charges["data"].as_array().unwrap().iter().collect();
    assert_eq!(charges.len(), 1, "exactly one charge: {charges:?}");
    assert_eq!(charges[0]["status"], "succeeded");
    assert_eq!(charges[0]["amount_captured"], 4200);
    let succeeded = api
        .get("/v1/events?type=payment_intent.succeeded")
        .await
        .json();
    assert_eq!(succeeded["data"].as_array().unwrap().len(), 1);
}

fn wait_for_exit(server: &mut TestServer) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not die");
        std::thread::sleep(Duration::from_millis(20));
    }
}
