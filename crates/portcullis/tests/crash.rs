//! Crash recovery: the server is killed between the acquirer's answer and
//! the commit that records it (atomic phase two). After a restart, the
//! recovery worker asks the acquirer what it did and settles the payment,
//! and a retry of the same request answers the settled payment — one
//! authorization, one charge, nothing lost or doubled.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::{create_merchant, Answer, Api, Backend, Merchant, TestDatabase, TestServer};

/// Fast recovery for the test: attempts are stale after 1.5 s.
const SETTINGS: &str = "connector_timeout_ms = 1000\nattempt_stale_ms = 1500\nrecovery_interval_ms = 200\nidempotency_lease_s = 1\n";
/// Longest wait for recovery, and for a retry to get past the dead send's claim.
const RECOVERY_TIMEOUT_S: u64 = 15;

on_both_backends!(
    a_crash_between_the_acquirers_answer_and_the_commit_is_recovered,
    a_retried_capture_answers_the_capture_recovery_settled,
    a_retried_cancel_answers_the_void_recovery_settled,
);

/// A database, its merchant and the fast-recovery settings file.
struct Setup {
    db: TestDatabase,
    merchant: Merchant,
    config: String,
}

impl Setup {
    async fn new(backend: Backend) -> Self {
        let db = TestDatabase::new(backend).await;
        let merchant = create_merchant(&db, "Acme");
        let config = db.data_dir.join("crash.toml");
        std::fs::write(&config, SETTINGS).unwrap();
        let config = config.to_str().unwrap().to_owned();
        Self {
            db,
            merchant,
            config,
        }
    }

    fn server(&self) -> TestServer {
        TestServer::start_with(&self.db, &["--config", &self.config])
    }

    /// A server that aborts right after the acquirer answers a `call`
    /// (authorize, capture or void), before recording the answer.
    fn crashing_after(&self, call: &str) -> TestServer {
        TestServer::start_with_env(
            &self.db,
            &["--config", &self.config],
            &[("PORTCULLIS_TEST_FAULT_CRASH_AFTER", call)],
        )
    }

    fn api(&self, server: &TestServer) -> Api {
        Api::new(server, &self.merchant.secret_key)
    }
}

/// Sends a request with `key` to `crashing`, which must die without answering.
async fn send_and_crash(
    setup: &Setup,
    mut crashing: TestServer,
    path: &str,
    key: &str,
    form: &[(&str, &str)],
) {
    let api = setup.api(&crashing);
    let sent = api
        .http
        .post(format!("{}{path}", api.base_url))
        .bearer_auth(&api.key)
        .header("Idempotency-Key", key)
        .form(form)
        .send()
        .await;
    assert!(sent.is_err(), "the server must die before answering");
    let exit = wait_for_exit(&mut crashing);
    assert!(!exit.success(), "the fault aborts the process");
    assert!(crashing.log().contains("test fault"), "{}", crashing.log());
}

/// Waits (bounded) until the recovery worker has brought intent `id` to `status`.
async fn recovered(api: &Api, server: &TestServer, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(RECOVERY_TIMEOUT_S);
    loop {
        let intent = api.get(&format!("/v1/payment_intents/{id}")).await.json();
        if intent["status"] == status {
            assert!(server.log().contains("settling an orphaned attempt"));
            return intent;
        }
        assert!(
            Instant::now() < deadline,
            "not recovered: {intent}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The client's retry of a request whose first send died: 409 while the
/// dead send's claim is within its lease (the client libraries retry
/// those, and so does this), then the answer.
async fn retried(api: &Api, path: &str, key: &str, form: &[(&str, &str)]) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(RECOVERY_TIMEOUT_S);
    loop {
        let retry = api.post_idempotent(path, key, form).await;
        if retry.status != 409 {
            return retry;
        }
        assert!(Instant::now() < deadline, "the key stayed in use");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A manual-capture intent holding an authorization, created on a healthy server.
async fn held_intent(setup: &Setup) -> String {
    let server = setup.server();
    let created = setup
        .api(&server)
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "4200"),
                ("currency", "eur"),
                ("payment_method", "pm_card_visa"),
                ("capture_method", "manual"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.json()["status"], "requires_capture");
    created.json()["id"].as_str().unwrap().to_owned()
}

/// Another key, or none, asking the same of an intent already there is
/// refused as Stripe refuses it.
async fn others_are_refused(api: &Api, path: &str) {
    for answer in [
        api.post_idempotent(path, "someone-else", &[]).await,
        api.post(path, &[]).await,
    ] {
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert_eq!(
            answer.json()["error"]["code"],
            "payment_intent_unexpected_state"
        );
    }
}

fn events_of_type(events: &Value) -> usize {
    events["data"].as_array().unwrap().len()
}

async fn a_crash_between_the_acquirers_answer_and_the_commit_is_recovered(backend: Backend) {
    let setup = Setup::new(backend).await;
    let form = [
        ("amount", "4200"),
        ("currency", "eur"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
    ];
    let crashing = setup.crashing_after("authorize");
    send_and_crash(&setup, crashing, "/v1/payment_intents", "order-1", &form).await;

    let server = setup.server();
    let api = setup.api(&server);
    let intents = api.get("/v1/payment_intents").await.json();
    let intents = intents["data"].as_array().unwrap();
    assert_eq!(intents.len(), 1, "phase one recorded the intent");
    let id = intents[0]["id"].as_str().unwrap().to_owned();

    // The recovery worker settles the orphaned attempt with the acquirer.
    let intent = recovered(&api, &server, &id, "succeeded").await;
    assert_eq!(intent["amount_received"], 4200);

    let retry = retried(&api, "/v1/payment_intents", "order-1", &form).await;
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
    let succeeded = api.get("/v1/events?type=payment_intent.succeeded").await;
    assert_eq!(events_of_type(&succeeded.json()), 1);
}

async fn a_retried_capture_answers_the_capture_recovery_settled(backend: Backend) {
    let setup = Setup::new(backend).await;
    let id = held_intent(&setup).await;
    let path = format!("/v1/payment_intents/{id}/capture");
    let crashing = setup.crashing_after("capture");
    send_and_crash(&setup, crashing, &path, "capture-1", &[]).await;

    let server = setup.server();
    let api = setup.api(&server);
    recovered(&api, &server, &id, "succeeded").await;

    // The retry answers as the first send would have: 200, the intent.
    let retry = retried(&api, &path, "capture-1", &[]).await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    let intent = retry.json();
    assert_eq!(intent["object"], "payment_intent");
    assert_eq!(intent["id"], id.as_str());
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["amount_received"], 4200);
    let replayed = api.post_idempotent(&path, "capture-1", &[]).await;
    assert_eq!((replayed.status, replayed.text), (200, retry.text));

    others_are_refused(&api, &path).await;
    let captured = api.get("/v1/events?type=charge.captured").await;
    assert_eq!(events_of_type(&captured.json()), 1, "captured once");
}

async fn a_retried_cancel_answers_the_void_recovery_settled(backend: Backend) {
    let setup = Setup::new(backend).await;
    let id = held_intent(&setup).await;
    let path = format!("/v1/payment_intents/{id}/cancel");
    let crashing = setup.crashing_after("void");
    send_and_crash(&setup, crashing, &path, "cancel-1", &[]).await;

    let server = setup.server();
    let api = setup.api(&server);
    recovered(&api, &server, &id, "canceled").await;

    let retry = retried(&api, &path, "cancel-1", &[]).await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.json()["id"], id.as_str());
    assert_eq!(retry.json()["status"], "canceled");

    others_are_refused(&api, &path).await;
    let canceled = api.get("/v1/events?type=payment_intent.canceled").await;
    assert_eq!(events_of_type(&canceled.json()), 1, "canceled once");
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
