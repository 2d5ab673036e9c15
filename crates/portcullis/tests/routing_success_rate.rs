//! Success-rate learning through the real binary, on SQLite and
//! PostgreSQL, with two `portcullis processor-sim`s approving 95 % of
//! cards: with no rule, `decided_by: "success_rate"`; after one processor's
//! approval rate drops to 60 %, at least 80 % of traffic moves to the other
//! within 1,000 payments, and it moves back after the first recovers. On
//! PostgreSQL a second instance, which made no payment itself, routes by
//! the same learnt rates (the counters are in the database).

mod support;

use serde_json::json;
use support::processor_sim::{processor_account, reconcile_journals, ProcessorSim};
use support::{Api, Backend, TestDatabase, TestServer};

const ALLOW_PRIVATE: (&str, &str) = ("PORTCULLIS_CONNECTORS_ALLOW_PRIVATE_ENDPOINTS", "true");
/// A short window, so that a recovery shows within the test.
const WINDOW: (&str, &str) = ("PORTCULLIS_ROUTING_SUCCESS_WINDOW_S", "20");

on_both_backends!(traffic_follows_the_approval_rate_and_comes_back);

/// Pays once; the account that took the payment and how it was decided.
async fn pay(api: &Api) -> (String, String) {
    let form = [
        ("amount", "1000"),
        ("currency", "usd"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
    ];
    let paid = api.post("/v1/payment_intents", &form).await;
    assert!([200, 402].contains(&paid.status), "{}", paid.text);
    let body = paid.json();
    let intent = if paid.status == 402 {
        body["error"]["payment_intent"].clone()
    } else {
        body
    };
    let charge_id = intent["latest_charge"].as_str().expect("a charge");
    let charge = api.get(&format!("/v1/charges/{charge_id}")).await.json();
    let routing = &charge["routing"];
    (
        routing["connector_account"].as_str().unwrap().to_owned(),
        routing["decided_by"].as_str().unwrap().to_owned(),
    )
}

/// The share (0–1) of `n` payments that went to `account`.
async fn share_on(api: &Api, account: &str, n: usize) -> f64 {
    let mut on = 0;
    for _ in 0..n {
        let (chosen, decided_by) = pay(api).await;
        assert_eq!(decided_by, "success_rate");
        on += usize::from(chosen == account);
    }
    on as f64 / n as f64
}

async fn traffic_follows_the_approval_rate_and_comes_back(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let rate = ["--approval-rate", "95"];
    let sims = [
        ProcessorSim::start("secret-one", &dir.path().join("one.journal"), &rate),
        ProcessorSim::start("secret-two", &dir.path().join("two.journal"), &rate),
    ];
    let db = TestDatabase::new(backend).await;
    let merchant = support::create_merchant(&db, "Acme");
    let env = [ALLOW_PRIVATE, WINDOW];
    let server = TestServer::start_with_env(&db, &[], &env);
    let api = Api::new(&server, &merchant.secret_key);
    let one = processor_account(&api, &sims[0], "1").await;
    let two = processor_account(&api, &sims[1], "2").await;

    // Nothing learnt: the default order; then success rates decide.
    let (first, decided_by) = pay(&api).await;
    assert_eq!(
        (first.as_str(), decided_by.as_str()),
        (one.as_str(), "default")
    );
    let warm = share_on(&api, &one, 100).await;
    eprintln!("warm share on one: {warm}");
    assert!(warm < 0.99, "two is tried too: {warm}");

    // One drops to 60 %: within 1,000 payments, at least 80 % go to two.
    sims[0].set(json!({"approval_rate": 60})).await;
    let mut last_share = 0.0;
    for round in 0..5 {
        last_share = 1.0 - share_on(&api, &one, 200).await;
        eprintln!("on two: {last_share}");
        if last_share >= 0.8 {
            eprintln!("moved after {} payments: {last_share}", (round + 1) * 200);
            break;
        }
    }
    assert!(last_share >= 0.8, "only {last_share} moved to two");

    if backend == Backend::Postgres {
        // Another instance learns from the same counters.
        let other = TestServer::start_with_env(&db, &[], &env);
        let other_api = Api::new(&other, &merchant.secret_key);
        let mut on_two = 0;
        for _ in 0..50 {
            let dry = other_api
                .post(
                    "/v1/routing/evaluate",
                    &[
                        ("amount", "1000"),
                        ("currency", "usd"),
                        ("payment_method", "pm_card_visa"),
                    ],
                )
                .await
                .json();
            assert_eq!(dry["decided_by"], "success_rate", "{dry}");
            on_two += usize::from(dry["connector_account"] == two.as_str());
        }
        assert!(
            on_two >= 40,
            "the other instance sent {on_two} of 50 to two"
        );
    }

    // One recovers: once its bad outcomes leave the window, it gets its
    // share back.
    sims[0].set(json!({"approval_rate": 95})).await;
    let mut back = 0.0;
    let recovered = std::time::Instant::now();
    // The window is 20 s: its bad outcomes are gone after that.
    while recovered.elapsed() < std::time::Duration::from_secs(90) {
        back = share_on(&api, &one, 200).await;
        eprintln!("back on one: {back}");
        if back >= 0.3 {
            break;
        }
    }
    assert!(back >= 0.3, "one got only {back} after recovering");

    // Each attempt reached exactly one processor, and the journals agree
    // with the gateway's charges.
    reconcile_journals(&api, &[&sims[0], &sims[1]], &[&one, &two]).await;
}
