//! Failover and circuit breakers through the real binary, on SQLite and
//! PostgreSQL, with two `portcullis processor-sim`s:
//!
//! - a soft failure (a processor answering 5xx, a `processing_error`) is
//!   retried on the next account within the same confirm, as a new attempt,
//!   and the charge's `routing` says so (`decided_by: "failover"`,
//!   `attempts` with each try's `failure`); a hard decline never is;
//! - a processor that starts timing out is skipped within 5 s (its circuit
//!   opens: `health`, `connector_account.health_changed`), payments keep
//!   succeeding on the other, and it is used again within 30 s of
//!   recovering;
//! - the simulators' journals reconcile with the gateway: no payment is
//!   authorized on two processors;
//! - a refund of a payment whose processor account was deleted (its secret
//!   erased) is refused with a clear 400, leaving nothing pending; an
//!   account with a refund still pending is not deleted until recovery has
//!   learnt how the refund ended.

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::processor_sim::{journal, processor_account, reconcile_journals, ProcessorSim};
use support::{Api, Backend, TestDatabase, TestServer};

const ALLOW_PRIVATE: (&str, &str) = ("PORTCULLIS_CONNECTORS_ALLOW_PRIVATE_ENDPOINTS", "true");
/// Short enough that a processor answering after 2 s times out quickly.
const TIMEOUTS: [(&str, &str); 3] = [
    ("PORTCULLIS_CONNECTOR_TIMEOUT_MS", "400"),
    ("PORTCULLIS_ATTEMPT_STALE_MS", "2000"),
    ("PORTCULLIS_RECOVERY_INTERVAL_MS", "500"),
];

on_both_backends!(
    soft_failures_fail_over_and_hard_declines_do_not,
    a_timing_out_processor_is_skipped_and_used_again_after_recovering,
    an_account_with_open_payments_is_not_deleted,
    a_pending_refund_keeps_its_account_until_it_settles,
);

struct Setup {
    _dir: tempfile::TempDir,
    _db: TestDatabase,
    server: TestServer,
    api: Api,
    sims: [ProcessorSim; 2],
    accounts: [String; 2],
}

async fn setup(backend: Backend, first_sim_flags: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let sims = [
        ProcessorSim::start(
            "secret-one",
            &dir.path().join("one.journal"),
            first_sim_flags,
        ),
        ProcessorSim::start("secret-two", &dir.path().join("two.journal"), &[]),
    ];
    let db = TestDatabase::new(backend).await;
    let merchant = support::create_merchant(&db, "Acme");
    let mut env = vec![ALLOW_PRIVATE];
    env.extend_from_slice(&TIMEOUTS);
    let server = TestServer::start_with_env(&db, &[], &env);
    let api = Api::new(&server, &merchant.secret_key);
    let accounts = [
        processor_account(&api, &sims[0], "1").await,
        processor_account(&api, &sims[1], "2").await,
    ];
    // Processor one takes every payment it can (no success-rate draw).
    let rule = format!("route to {}", accounts[0]);
    let created = api.post("/v1/routing/rules", &[("rule", &rule)]).await;
    assert_eq!(created.status, 200, "{}", created.text);
    Setup {
        _dir: dir,
        _db: db,
        server,
        api,
        sims,
        accounts,
    }
}

/// Pays `amount` cents with `method`; the intent as answered (any status).
async fn pay(api: &Api, method: &str) -> Value {
    let form = [
        ("amount", "1000"),
        ("currency", "usd"),
        ("payment_method", method),
        ("confirm", "true"),
    ];
    let paid = api.post("/v1/payment_intents", &form).await;
    assert!(
        [200, 402].contains(&paid.status),
        "{} {}",
        paid.status,
        paid.text
    );
    let body = paid.json();
    if paid.status == 402 {
        return body["error"]["payment_intent"].clone();
    }
    body
}

async fn routing(api: &Api, intent: &Value) -> Value {
    let id = intent["latest_charge"].as_str().expect("a charge");
    api.get(&format!("/v1/charges/{id}")).await.json()["routing"].clone()
}

fn holds_money(state: &str) -> bool {
    matches!(state, "authorized" | "captured")
}

/// No attempt reached both processors, and no intent holds money on two;
/// and the journals against every charge ([`reconcile_journals`]).
async fn reconcile(s: &Setup, intents_attempts: &[Vec<String>]) {
    let accounts = [s.accounts[0].as_str(), s.accounts[1].as_str()];
    reconcile_journals(&s.api, &[&s.sims[0], &s.sims[1]], &accounts).await;
    let journals = [journal(&s.sims[0]).await, journal(&s.sims[1]).await];
    for attempt in journals[0].keys() {
        assert!(
            !journals[1].contains_key(attempt),
            "{attempt} on both processors"
        );
    }
    for attempts in intents_attempts {
        let holding = attempts
            .iter()
            .filter(|a| {
                journals
                    .iter()
                    .any(|j| j.get(*a).is_some_and(|st| holds_money(st)))
            })
            .count();
        assert!(holding <= 1, "{attempts:?} authorized more than once");
    }
}

fn attempt_ids(routing: &Value) -> Vec<String> {
    routing["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn soft_failures_fail_over_and_hard_declines_do_not(backend: Backend) {
    let s = setup(backend, &["--fault", "5xx:100"]).await;
    let [one, two] = s.accounts.clone();
    let mut all_attempts = vec![];

    // Processor one answers 503: the payment succeeds on two.
    let paid = pay(&s.api, "pm_card_visa").await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let r = routing(&s.api, &paid).await;
    assert_eq!(r["decided_by"], "failover", "{r}");
    assert_eq!(r["connector_account"], two.as_str());
    assert_eq!(r["candidates"], json!([one, two]));
    let attempts = attempt_ids(&r);
    assert_eq!(attempts.len(), 2, "{r}");
    assert_ne!(attempts[0], attempts[1]);
    assert_eq!(
        r["attempts"],
        json!([
            {"id": attempts[0], "connector_account": one, "failure": "unavailable"},
            {"id": attempts[1], "connector_account": two},
        ])
    );
    let on_two = journal(&s.sims[1]).await;
    assert_eq!(
        on_two.get(&attempts[1]).map(String::as_str),
        Some("captured")
    );
    assert!(
        journal(&s.sims[0]).await.is_empty(),
        "a 503 acts on nothing"
    );
    all_attempts.push(attempts);

    // Processor one healthy again: a hard decline on it is final.
    s.sims[0].set(json!({"faults": []})).await;
    let declined = pay(&s.api, "pm_card_chargeDeclinedInsufficientFunds").await;
    assert_eq!(declined["status"], "requires_payment_method", "{declined}");
    let r = routing(&s.api, &declined).await;
    assert_eq!(r["connector_account"], one.as_str(), "{r}");
    assert_eq!(r["decided_by"], "rule");
    assert_eq!(attempt_ids(&r).len(), 1, "no failover after a hard decline");
    all_attempts.push(attempt_ids(&r));

    // A processing error is soft: both processors are asked, in order.
    let errored = pay(&s.api, "pm_card_chargeDeclinedProcessingError").await;
    let r = routing(&s.api, &errored).await;
    assert_eq!(r["decided_by"], "failover", "{r}");
    assert_eq!(r["attempts"][0]["connector_account"], one.as_str());
    assert_eq!(r["attempts"][0]["failure"], "processing_error");
    assert_eq!(r["attempts"][1]["connector_account"], two.as_str());
    assert_eq!(
        errored["last_payment_error"]["code"], "processing_error",
        "{errored}"
    );
    all_attempts.push(attempt_ids(&r));

    reconcile(&s, &all_attempts).await;
    assert!(
        !s.server.log().contains("4242424242424242"),
        "no card number in the log"
    );
}

async fn health_of(api: &Api, account: &str) -> String {
    let got = api.get(&format!("/v1/connector_accounts/{account}")).await;
    assert_eq!(got.status, 200, "{}", got.text);
    got.json()["health"]["state"].as_str().unwrap().to_owned()
}

async fn a_timing_out_processor_is_skipped_and_used_again_after_recovering(backend: Backend) {
    let s = setup(backend, &[]).await;
    let [one, two] = s.accounts.clone();
    assert_eq!(health_of(&s.api, &one).await, "closed");
    let mut all_attempts = vec![];
    let first = pay(&s.api, "pm_card_visa").await;
    assert_eq!(
        routing(&s.api, &first).await["connector_account"],
        one.as_str()
    );

    // Processor one starts answering after 2 s: past the gateway's timeout.
    s.sims[0].set(json!({"latency_ms": 2000})).await;
    let went_bad = Instant::now();
    let skipped_after = loop {
        let paid = pay(&s.api, "pm_card_visa").await;
        if paid["latest_charge"].is_string() {
            let r = routing(&s.api, &paid).await;
            all_attempts.push(attempt_ids(&r));
            if r["connector_account"] == two.as_str() && attempt_ids(&r).len() == 1 {
                assert_eq!(r["decided_by"], "failover", "{r}");
                break went_bad.elapsed();
            }
        }
        assert!(
            went_bad.elapsed() < Duration::from_secs(20),
            "never skipped"
        );
    };
    assert!(
        skipped_after <= Duration::from_secs(5),
        "skipped only after {skipped_after:?}"
    );
    assert_eq!(health_of(&s.api, &one).await, "open");

    // Meanwhile payments succeed on two.
    for _ in 0..5 {
        let paid = pay(&s.api, "pm_card_visa").await;
        if paid["status"] == "succeeded" {
            let r = routing(&s.api, &paid).await;
            all_attempts.push(attempt_ids(&r));
        }
    }
    let on_two = journal(&s.sims[1]).await;
    assert!(on_two.len() >= 3, "{on_two:?}");

    // Recovered: used again within 30 s.
    s.sims[0].set(json!({"latency_ms": 0})).await;
    let recovered = Instant::now();
    loop {
        let paid = pay(&s.api, "pm_card_visa").await;
        assert_eq!(paid["status"], "succeeded", "{paid}");
        let r = routing(&s.api, &paid).await;
        all_attempts.push(attempt_ids(&r));
        if r["connector_account"] == one.as_str() {
            break;
        }
        assert!(
            recovered.elapsed() < Duration::from_secs(30),
            "not used again within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(health_of(&s.api, &one).await, "closed");
    let events = s
        .api
        .get("/v1/events?type=connector_account.health_changed&limit=100")
        .await
        .json();
    let states: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["object"]["id"] == one.as_str())
        .map(|e| e["data"]["object"]["health"]["state"].as_str().unwrap())
        .collect();
    assert!(states.contains(&"open"), "{states:?}");
    assert_eq!(states.first(), Some(&"closed"), "newest first: {states:?}");
    assert!(s.server.log().contains("circuit opened"));

    // Attempts left pending by the timeouts are settled by recovery; then
    // nothing is authorized on both processors.
    tokio::time::sleep(Duration::from_secs(4)).await;
    reconcile(&s, &all_attempts).await;
}

async fn an_account_with_open_payments_is_not_deleted(backend: Backend) {
    let s = setup(backend, &[]).await;
    let [one, two] = s.accounts.clone();
    let form = [
        ("amount", "1000"),
        ("currency", "usd"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
        ("capture_method", "manual"),
    ];
    let held = s.api.post("/v1/payment_intents", &form).await.json();
    assert_eq!(held["status"], "requires_capture", "{held}");
    let refused = s.api.delete(&format!("/v1/connector_accounts/{one}")).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json()["error"]["code"], "resource_in_use");
    assert!(refused.text.contains(held["id"].as_str().unwrap()));
    // The other account took nothing: it goes.
    let gone = s.api.delete(&format!("/v1/connector_accounts/{two}")).await;
    assert_eq!(gone.status, 200, "{}", gone.text);
    // Once the payment is captured, its account may go too.
    let id = held["id"].as_str().unwrap();
    let captured = s
        .api
        .post(&format!("/v1/payment_intents/{id}/capture"), &[])
        .await;
    assert_eq!(captured.status, 200, "{}", captured.text);
    let deleted = s.api.delete(&format!("/v1/connector_accounts/{one}")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.json()["deleted"], true);
    // Its secret went with it: a refund is refused, clearly, and nothing
    // is left pending or booked.
    let refund = s
        .api
        .post("/v1/refunds", &[("payment_intent", id), ("amount", "300")])
        .await;
    assert_eq!(refund.status, 400, "{}", refund.text);
    assert_eq!(refund.json()["error"]["code"], "connector_account_deleted");
    assert!(refund.text.contains(&one), "{}", refund.text);
    let refunds = s.api.get(&format!("/v1/refunds?payment_intent={id}")).await;
    assert_eq!(refunds.json()["data"], json!([]), "{}", refunds.text);
    let charge = captured.json()["latest_charge"]
        .as_str()
        .unwrap()
        .to_owned();
    let charge = s.api.get(&format!("/v1/charges/{charge}")).await.json();
    assert_eq!(charge["amount_refunded"], 0, "{charge}");
    reconcile(&s, &[attempt_ids(&charge["routing"])]).await;
}

async fn a_pending_refund_keeps_its_account_until_it_settles(backend: Backend) {
    let s = setup(backend, &[]).await;
    let one = s.accounts[0].clone();
    let paid = pay(&s.api, "pm_card_visa").await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let id = paid["id"].as_str().unwrap();
    // Processor one acts on the refund but answers too late: it is left
    // pending for recovery, which keeps getting no answer in time.
    s.sims[0].set(json!({"faults": ["late:100"]})).await;
    let refund = s
        .api
        .post("/v1/refunds", &[("payment_intent", id), ("amount", "300")])
        .await;
    assert_eq!(refund.status, 200, "{}", refund.text);
    assert_eq!(refund.json()["status"], "pending", "{}", refund.text);
    let refund_id = refund.json()["id"].as_str().unwrap().to_owned();
    // Recovery still has to ask processor one how the refund ended: its
    // account may not go before.
    let refused = s.api.delete(&format!("/v1/connector_accounts/{one}")).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json()["error"]["code"], "resource_in_use");
    assert!(refused.text.contains(&refund_id), "{}", refused.text);

    // The processor answers again: recovery learns the refund succeeded.
    s.sims[0].set(json!({"faults": []})).await;
    let started = Instant::now();
    let settled = loop {
        let now = s.api.get(&format!("/v1/refunds/{refund_id}")).await.json();
        if now["status"] != "pending" || started.elapsed() > Duration::from_secs(30) {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(settled["status"], "succeeded", "{settled}");
    let charge = paid["latest_charge"].as_str().unwrap();
    let charge = s.api.get(&format!("/v1/charges/{charge}")).await.json();
    assert_eq!(charge["amount_refunded"], 300, "{charge}");
    let deleted = s.api.delete(&format!("/v1/connector_accounts/{one}")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    reconcile(&s, &[attempt_ids(&charge["routing"])]).await;
}
