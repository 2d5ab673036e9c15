//! Payments routed across institutions through the real binary, on SQLite
//! and PostgreSQL, with two `portcullis processor-sim`s: rules route as
//! written and the dry run agrees, a 70/30 split lands within 3 points,
//! captures and refunds reach the account that authorized, every charge
//! explains its routing, live payments go only to a live account of a real
//! institution, and the simulators' journals reconcile with the gateway (no
//! payment authorized twice or on the wrong processor).

mod support;

use serde_json::{json, Value};
use std::collections::HashMap;
use support::processor_sim::{journal, processor_account, reconcile_journals, ProcessorSim};
use support::{cli, create_merchant, Api, Backend, TestDatabase, TestServer};

const ALLOW_PRIVATE: (&str, &str) = ("PORTCULLIS_CONNECTORS_ALLOW_PRIVATE_ENDPOINTS", "true");
/// The figure: a 70/30 split within ±3 points over 2,000 payments.
const SPLIT_PAYMENTS: usize = 2_000;

on_both_backends!(
    payments_follow_rules_and_follow_ups_reach_the_authorizing_processor,
    a_split_lands_within_three_points_and_journals_reconcile,
    live_payments_go_only_to_a_live_real_institution,
);

struct Setup {
    _dir: tempfile::TempDir,
    db: TestDatabase,
    server: TestServer,
    api: Api,
    merchant_id: String,
    sims: [ProcessorSim; 2],
}

async fn setup(backend: Backend) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let sims = [
        ProcessorSim::start("secret-one", &dir.path().join("one.journal"), &[]),
        ProcessorSim::start("secret-two", &dir.path().join("two.journal"), &[]),
    ];
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start_with_env(&db, &[], &[ALLOW_PRIVATE]);
    let api = Api::new(&server, &merchant.secret_key);
    Setup {
        _dir: dir,
        db,
        server,
        api,
        merchant_id: merchant.id,
        sims,
    }
}

async fn pay(api: &Api, amount: &str, currency: &str, extra: &[(&str, &str)]) -> Value {
    let mut form = vec![
        ("amount", amount),
        ("currency", currency),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
    ];
    form.extend_from_slice(extra);
    let paid = api.post("/v1/payment_intents", &form).await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    paid.json()
}

async fn charge(api: &Api, intent: &Value) -> Value {
    let id = intent["latest_charge"].as_str().expect("a charge");
    api.get(&format!("/v1/charges/{id}")).await.json()
}

/// The ledger's `test:receivable:NAME` balances of `names` that exist.
async fn receivables(db: &TestDatabase, names: &[&str]) -> HashMap<String, i64> {
    let store = portcullis_store::Store::open(&db.url, &Default::default())
        .await
        .unwrap();
    let accounts: Vec<String> = names
        .iter()
        .map(|name| format!("test:receivable:{name}"))
        .collect();
    let balances = store.ledger_balances(&accounts).await.unwrap();
    store.close().await;
    balances
        .into_iter()
        .map(|b| (b.account, b.balance_minor))
        .collect()
}

async fn payments_follow_rules_and_follow_ups_reach_the_authorizing_processor(backend: Backend) {
    let s = setup(backend).await;
    let one = processor_account(&s.api, &s.sims[0], "1").await;
    let two = processor_account(&s.api, &s.sims[1], "2").await;
    let rule = s
        .api
        .post(
            "/v1/routing/rules",
            &[("rule", &format!("route to {two} if :currency: = 'eur'"))],
        )
        .await;
    let rule_id = rule.json()["id"].as_str().unwrap().to_owned();

    let usd = pay(&s.api, "2000", "usd", &[]).await;
    assert_eq!(usd["status"], "succeeded");
    let usd_charge = charge(&s.api, &usd).await;
    let routing = &usd_charge["routing"];
    assert_eq!(routing["connector_account"], one);
    assert_eq!(routing["decided_by"], "default");
    assert_eq!(routing["rule"], Value::Null);
    assert_eq!(routing["candidates"], json!([one, two]));
    let attempt = routing["attempts"][0]["id"].as_str().unwrap();
    assert!(attempt.starts_with("pa_"), "{attempt}");
    assert_eq!(
        routing["attempts"],
        json!([{"id": attempt, "connector_account": one}])
    );

    let dry = s
        .api
        .post(
            "/v1/routing/evaluate",
            &[
                ("amount", "2000"),
                ("currency", "eur"),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await
        .json();
    let eur = pay(&s.api, "2000", "eur", &[("capture_method", "manual")]).await;
    assert_eq!(eur["status"], "requires_capture");
    let eur_charge = charge(&s.api, &eur).await;
    assert_eq!(eur_charge["routing"]["connector_account"], two);
    assert_eq!(eur_charge["routing"]["decided_by"], "rule");
    assert_eq!(eur_charge["routing"]["rule"], rule_id.as_str());
    for field in ["connector_account", "decided_by", "rule", "candidates"] {
        assert_eq!(
            dry[field], eur_charge["routing"][field],
            "the dry run agrees on {field}"
        );
    }

    let id = eur["id"].as_str().unwrap();
    let captured = s
        .api
        .post(
            &format!("/v1/payment_intents/{id}/capture"),
            &[("amount_to_capture", "1500")],
        )
        .await;
    assert_eq!(captured.status, 200, "{}", captured.text);
    let refund = s
        .api
        .post("/v1/refunds", &[("payment_intent", id), ("amount", "500")])
        .await;
    assert_eq!(refund.status, 200, "{}", refund.text);
    assert_eq!(refund.json()["status"], "succeeded");

    // Each processor owes what it captured, under its own account's name;
    // the server's connector owes nothing.
    assert_eq!(
        receivables(&s.db, &[&one, &two, "sandbox"]).await,
        HashMap::from([
            (format!("test:receivable:{one}"), -2000),
            (format!("test:receivable:{two}"), -1500 + 500),
        ])
    );

    let (on_one, on_two) = (journal(&s.sims[0]).await, journal(&s.sims[1]).await);
    assert_eq!(on_one.len(), 1, "{on_one:?}");
    assert_eq!(on_two.len(), 1, "{on_two:?}");
    assert_eq!(
        on_two.values().next().unwrap(),
        "captured",
        "the capture reached processor two"
    );
    assert!(
        !s.server.log().contains("4242424242424242"),
        "no card number in the log"
    );
    reconcile_journals(&s.api, &[&s.sims[0], &s.sims[1]], &[&one, &two]).await;
}

async fn a_split_lands_within_three_points_and_journals_reconcile(backend: Backend) {
    let s = setup(backend).await;
    let one = processor_account(&s.api, &s.sims[0], "1").await;
    let two = processor_account(&s.api, &s.sims[1], "2").await;
    let rule = s
        .api
        .post(
            "/v1/routing/rules",
            &[("rule", &format!("split {one} 70, {two} 30"))],
        )
        .await;
    assert_eq!(rule.status, 200, "{}", rule.text);

    let mut routed: HashMap<String, String> = HashMap::new();
    for _ in 0..SPLIT_PAYMENTS {
        let paid = pay(&s.api, "1000", "usd", &[]).await;
        assert_eq!(paid["status"], "succeeded");
        let charge = charge(&s.api, &paid).await;
        assert_eq!(charge["routing"]["decided_by"], "split");
        let attempt = charge["routing"]["attempts"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        routed.insert(
            attempt,
            charge["routing"]["connector_account"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let on_one = routed.values().filter(|a| **a == one).count();
    let share = on_one as f64 * 100.0 / SPLIT_PAYMENTS as f64;
    assert!(
        (67.0..=73.0).contains(&share),
        "70 % expected on {one}, got {share:.1} %"
    );

    // Reconciliation: each simulator holds exactly the attempts the gateway
    // sent it, each captured once, and no attempt is on both.
    let journals = [journal(&s.sims[0]).await, journal(&s.sims[1]).await];
    for (attempt, account) in &routed {
        let (mine, other) = if *account == one {
            (&journals[0], &journals[1])
        } else {
            (&journals[1], &journals[0])
        };
        assert_eq!(
            mine.get(attempt).map(String::as_str),
            Some("captured"),
            "{attempt}"
        );
        assert!(
            !other.contains_key(attempt),
            "{attempt} reached both processors"
        );
    }
    assert_eq!(
        journals[0].len() + journals[1].len(),
        SPLIT_PAYMENTS,
        "nothing else reached them"
    );
    reconcile_journals(&s.api, &[&s.sims[0], &s.sims[1]], &[&one, &two]).await;
}

async fn live_payments_go_only_to_a_live_real_institution(backend: Backend) {
    let s = setup(backend).await;
    let out = cli(
        &s.db,
        &[
            "key",
            "create",
            "--merchant",
            &s.merchant_id,
            "--kind",
            "secret",
            "--mode",
            "live",
            "--json",
        ],
    );
    let live_key: Value = serde_json::from_str(out.trim()).unwrap();
    let live = Api::new(&s.server, live_key["key"].as_str().unwrap());
    let card = [
        ("amount", "2500"),
        ("currency", "usd"),
        ("confirm", "true"),
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", "4242424242424242"),
        ("payment_method_data[card][exp_month]", "12"),
        ("payment_method_data[card][exp_year]", "2040"),
    ];
    let refused = live.post("/v1/payment_intents", &card).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json()["error"]["code"], "livemode_unavailable");
    // A test-mode processor account does not serve live mode either.
    processor_account(&s.api, &s.sims[0], "1").await;
    assert_eq!(live.post("/v1/payment_intents", &card).await.status, 400);

    let live_account = processor_account(&live, &s.sims[1], "1").await;
    let paid = live.post("/v1/payment_intents", &card).await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.json()["status"], "succeeded");
    assert_eq!(paid.json()["livemode"], true);
    let charge = charge(&live, &paid.json()).await;
    assert_eq!(charge["routing"]["connector_account"], live_account);
    assert_eq!(journal(&s.sims[1]).await.len(), 1);
    assert_eq!(
        journal(&s.sims[0]).await.len(),
        0,
        "the test account saw nothing"
    );
}
