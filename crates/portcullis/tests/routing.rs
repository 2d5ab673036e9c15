//! Routing across institutions through the real binary, on SQLite and
//! PostgreSQL: routing rules (their errors by line and column, listing,
//! deletion) and the dry run `POST /v1/routing/evaluate` deciding by rule,
//! split, preference and default, over card connector accounts; the
//! merchant's rules and accounts are cached per instance, a change seen at
//! once where it was made and (PostgreSQL, two instances) within
//! `routing_cache_ttl_ms` on another.

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

const ALLOW_PRIVATE: (&str, &str) = ("PORTCULLIS_CONNECTORS_ALLOW_PRIVATE_ENDPOINTS", "true");

on_both_backends!(
    rules_decide_the_dry_run_in_the_documented_order,
    rule_mistakes_answer_line_and_column,
    routing_changes_reach_every_instance_within_the_cache_bound,
);

async fn account(api: &Api, form: &[(&str, &str)]) -> String {
    let created = api.post("/v1/connector_accounts", form).await;
    assert_eq!(created.status, 200, "{}", created.text);
    created.json()["id"].as_str().unwrap().to_owned()
}

async fn rule(api: &Api, text: &str) -> Value {
    let created = api.post("/v1/routing/rules", &[("rule", text)]).await;
    assert_eq!(created.status, 200, "{text}: {}", created.text);
    created.json()
}

/// The dry run for a card of `brand` (a `pm_card_*` id when it starts so).
async fn dry(api: &Api, amount: &str, currency: &str, brand: &str) -> Value {
    let card = if brand.starts_with("pm_") {
        "payment_method"
    } else {
        "card_brand"
    };
    evaluate(
        api,
        &[("amount", amount), ("currency", currency), (card, brand)],
    )
    .await
}

async fn evaluate(api: &Api, form: &[(&str, &str)]) -> Value {
    let answer = api.post("/v1/routing/evaluate", form).await;
    assert_eq!(answer.status, 200, "{form:?}: {}", answer.text);
    answer.json()
}

async fn rules_decide_the_dry_run_in_the_documented_order(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start_with_env(&db, &[], &[ALLOW_PRIVATE]);
    let api = Api::new(&server, &merchant.secret_key);
    let a = account(
        &api,
        &[
            ("type", "sandbox"),
            ("priority", "1"),
            ("card_brands[]", "visa"),
            ("card_brands[]", "mastercard"),
        ],
    )
    .await;
    let b = account(
        &api,
        &[
            ("type", "processor"),
            ("endpoint", "http://127.0.0.1:9"),
            ("credentials[secret]", "s3cret"),
            ("priority", "2"),
        ],
    )
    .await;

    // No rule: the smallest priority that serves the card.
    let plain = dry(&api, "1000", "usd", "pm_card_visa").await;
    assert_eq!(plain["object"], "routing.decision");
    assert_eq!(plain["decided_by"], "default");
    assert_eq!(plain["connector_account"], a);
    assert_eq!(plain["candidates"], json!([a, b]));
    let amex = dry(&api, "1000", "usd", "amex").await;
    assert_eq!(
        amex["connector_account"], b,
        "the sandbox account lists visa and mastercard only"
    );
    assert_eq!(amex["candidates"], json!([b]));

    let route = rule(
        &api,
        &format!("route to {b} if :card_brand: = 'visa' and :amount_in_usd: > 1000"),
    )
    .await;
    assert_eq!(route["object"], "routing.rule");
    assert_eq!(route["action"], "route");
    let split = rule(&api, &format!("split {a} 70, {b} 30 if :currency: = 'eur'")).await;
    let prefer = rule(
        &api,
        &format!("prefer {b}, {a} if :metadata.tier: = 'gold'"),
    )
    .await;

    let big = dry(&api, "150000", "usd", "pm_card_visa").await;
    assert_eq!(big["decided_by"], "rule");
    assert_eq!(big["rule"], route["id"]);
    assert_eq!(big["connector_account"], b);
    assert_eq!(big["candidates"], json!([b, a]));
    let small = dry(&api, "150", "usd", "pm_card_visa").await;
    assert_eq!(small["decided_by"], "default");

    let mut on_a = 0;
    for _ in 0..200 {
        let eur = dry(&api, "500", "eur", "visa").await;
        assert_eq!(eur["decided_by"], "split");
        assert_eq!(eur["rule"], split["id"]);
        on_a += usize::from(eur["connector_account"] == a.as_str());
    }
    assert!(
        (115..=165).contains(&on_a),
        "70 % of 200 expected on {a}, got {on_a}"
    );

    let gold = evaluate(
        &api,
        &[
            ("amount", "500"),
            ("currency", "usd"),
            ("card_brand", "visa"),
            ("metadata[tier]", "gold"),
        ],
    )
    .await;
    assert_eq!(gold["decided_by"], "default");
    assert_eq!(gold["rule"], prefer["id"]);
    assert_eq!(gold["connector_account"], b);
    assert_eq!(gold["candidates"], json!([b, a]));

    // Disabled accounts are not candidates; deleted rules no longer decide.
    api.post(
        &format!("/v1/connector_accounts/{b}"),
        &[("enabled", "false")],
    )
    .await;
    let without_b = dry(&api, "150000", "usd", "visa").await;
    assert_eq!(without_b["connector_account"], a);
    assert_eq!(
        without_b["decided_by"], "default",
        "a rule naming no candidate is passed over"
    );
    let listed = api.get("/v1/routing/rules").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);
    let id = split["id"].as_str().unwrap();
    let deleted = api.delete(&format!("/v1/routing/rules/{id}")).await;
    assert_eq!(deleted.json()["deleted"], true);
    assert_eq!(
        api.get(&format!("/v1/routing/rules/{id}")).await.status,
        404
    );
    let eur = dry(&api, "500", "eur", "visa").await;
    assert_eq!(eur["decided_by"], "default");
    assert_eq!(
        api.get("/v1/routing/rules").await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn rule_mistakes_answer_line_and_column(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let bad = api
        .post(
            "/v1/routing/rules",
            &[("rule", "split ca_a 70,\n  ca_b 20")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let error = &bad.json()["error"];
    assert_eq!(error["param"], "rule");
    assert_eq!(error["rule_error"]["line"], 2);
    assert_eq!(error["rule_error"]["column"], 8);
    assert_eq!(
        error["rule_error"]["expected"],
        "percentages that add up to 100"
    );
    let unknown = api
        .post(
            "/v1/routing/rules",
            &[("rule", "route to ca_a if :colour: = 'red'")],
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json()["error"]["rule_error"]["column"], 18);
    let missing = api
        .post(
            "/v1/routing/evaluate",
            &[("currency", "usd"), ("card_brand", "visa")],
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["error"]["param"], "amount");
    let brand = api
        .post(
            "/v1/routing/evaluate",
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("card_brand", "laser"),
            ],
        )
        .await;
    assert_eq!(brand.json()["error"]["param"], "card_brand");
    let nothing = dry(&api, "100", "usd", "visa").await;
    assert_eq!(
        nothing["connector_account"],
        Value::Null,
        "no card connector accounts"
    );
    assert_eq!(nothing["candidates"], json!([]));
    assert_eq!(api.get("/v1/routing/rules").await.json()["data"], json!([]));
}

const CACHE_TTL_MS: u64 = 1_500;

async fn routing_changes_reach_every_instance_within_the_cache_bound(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let ttl = CACHE_TTL_MS.to_string();
    let env = [ALLOW_PRIVATE, ("PORTCULLIS_ROUTING_CACHE_TTL_MS", &ttl)];
    let server = TestServer::start_with_env(&db, &[], &env);
    let api = Api::new(&server, &merchant.secret_key);
    let a = account(&api, &[("type", "sandbox"), ("priority", "1")]).await;
    let b = account(&api, &[("type", "sandbox"), ("priority", "2")]).await;
    let chosen = |api: &Api| {
        let api = api.clone();
        async move { dry(&api, "1000", "usd", "visa").await["connector_account"].clone() }
    };
    assert_eq!(chosen(&api).await, a.as_str(), "by priority");
    // Where the change is made, it is seen at once (the cache is warm).
    let created = rule(&api, &format!("route to {b}")).await;
    assert_eq!(chosen(&api).await, b.as_str(), "the new rule, at once");
    if backend != Backend::Postgres {
        return; // One SQLite file serves one instance.
    }
    let other = TestServer::start_with_env(&db, &[], &env);
    let other_api = Api::new(&other, &merchant.secret_key);
    assert_eq!(chosen(&other_api).await, b.as_str(), "the other instance");
    let id = created["id"].as_str().unwrap();
    let deleted = api.delete(&format!("/v1/routing/rules/{id}")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    let changed_at = Instant::now();
    assert_eq!(chosen(&api).await, a.as_str(), "deleted, at once here");
    // The other instance sees it within the bound (plus a request's time).
    let bound = Duration::from_millis(CACHE_TTL_MS) + Duration::from_secs(2);
    while chosen(&other_api).await != a.as_str() {
        assert!(
            changed_at.elapsed() < bound,
            "the other instance still routes by the deleted rule after {:?}",
            changed_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An account disabled on the other instance leaves this one's
    // candidates within the bound too.
    let disabled = other_api
        .post(
            &format!("/v1/connector_accounts/{a}"),
            &[("enabled", "false")],
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    let changed_at = Instant::now();
    while chosen(&api).await != b.as_str() {
        assert!(
            changed_at.elapsed() < bound,
            "still routed to the disabled {a}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
