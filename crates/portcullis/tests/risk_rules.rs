//! Risk lists, rules and their errors, and dry runs, through the real
//! binary on both backends; a merchant's rules are cached per instance, a
//! change seen at once where it was made and (PostgreSQL, two instances)
//! within `risk_rules_cache_ttl_ms` on another.

mod support;

use std::time::{Duration, Instant};
use support::risk::*;
use support::{create_merchant, Api, Backend, TestDatabase};

on_both_backends!(
    lists_feed_rules_and_items_can_be_removed,
    rule_errors_name_line_column_and_expected_token,
    a_dry_run_counts_what_a_hand_count_finds,
    rule_changes_reach_every_instance_within_the_cache_bound,
);

async fn lists_feed_rules_and_items_can_be_removed(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = start(&db, "");
    let api = Api::new(&server, &merchant.secret_key);
    let list = api
        .post(
            "/v1/risk/lists",
            &[("alias", "blocked_emails"), ("item_type", "email")],
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let list_id = list.json()["id"].as_str().unwrap().to_owned();
    let again = api
        .post(
            "/v1/risk/lists",
            &[("alias", "blocked_emails"), ("item_type", "email")],
        )
        .await;
    assert_eq!(again.status, 400);
    let item = api
        .post(
            &format!("/v1/risk/lists/{list_id}/items"),
            &[("value", "Mallory@Example.com")],
        )
        .await;
    assert_eq!(item.status, 200, "{}", item.text);
    let item = item.json();
    assert_eq!(item["value"], "mallory@example.com");
    let bad = api
        .post(
            &format!("/v1/risk/lists/{list_id}/items"),
            &[("value", "not-an-email")],
        )
        .await;
    assert_eq!(bad.status, 400);
    let items = api
        .get(&format!("/v1/risk/lists/{list_id}/items"))
        .await
        .json();
    assert_eq!(items["data"].as_array().unwrap().len(), 1);
    add_rule(&api, "block if :email: in @blocked_emails").await;

    let email = [("receipt_email", "mallory@example.com")];
    let blocked = pay(&api, "500", "4242424242424242", &email).await;
    assert_eq!(blocked.status, 402, "{}", blocked.text);
    let charge = charge_of(&api, &blocked).await;
    assert_eq!(charge["outcome"]["signals"]["email"], "mallory@example.com");

    let item_id = item["id"].as_str().unwrap();
    let removed = api
        .delete(&format!("/v1/risk/lists/{list_id}/items/{item_id}"))
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.json()["deleted"], true);
    let items = api
        .get(&format!("/v1/risk/lists/{list_id}/items"))
        .await
        .json();
    assert_eq!(items["data"].as_array().unwrap().len(), 0);
    let passed = pay(&api, "500", "4242424242424242", &email).await;
    assert_eq!(passed.status, 200, "{}", passed.text);
}

async fn rule_errors_name_line_column_and_expected_token(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = start(&db, "");
    let api = Api::new(&server, &merchant.secret_key);
    let answer = api
        .post(
            "/v1/risk/rules",
            &[("rule", "block if\n:amount_in_usd: 500")],
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    let error = &answer.json()["error"];
    assert_eq!(error["param"], "rule");
    assert_eq!(error["rule_error"]["line"], 2);
    assert_eq!(error["rule_error"]["column"], 17);
    assert!(
        error["rule_error"]["expected"]
            .as_str()
            .unwrap()
            .contains("comparison operator"),
        "{error}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("line 2, column 17"),
        "{error}"
    );
    let answer = api
        .post(
            "/v1/risk/rules/dry_run",
            &[("rule", "block if :no_such_signal: > 1")],
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error"]["rule_error"]["column"], 10);

    // Defaults are listed, retrievable, and can be disabled and enabled.
    let rules = api.get("/v1/risk/rules").await.json();
    let ids: Vec<&str> = rules["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"rule_default_card_testing_ip"), "{rules}");
    let disabled = api
        .post("/v1/risk/rules/rule_default_block_highest/disable", &[])
        .await;
    assert_eq!(disabled.json()["status"], "disabled", "{}", disabled.text);
    let highest = pay(&api, "1000", "4000000000004954", &[]).await;
    assert_eq!(highest.status, 200, "{}", highest.text);
    api.post("/v1/risk/rules/rule_default_block_highest/enable", &[])
        .await;
    let updated = api
        .post(
            "/v1/risk/rules/rule_default_block_highest",
            &[
                ("rule", "block if :risk_score: >= 80"),
                ("description", "stricter"),
            ],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let got = api
        .get("/v1/risk/rules/rule_default_block_highest")
        .await
        .json();
    assert_eq!(
        (got["rule"].as_str(), got["status"].as_str()),
        (Some("block if :risk_score: >= 80"), Some("enabled"))
    );
}

async fn a_dry_run_counts_what_a_hand_count_finds(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = start(&db, "");
    let api = Api::new(&server, &merchant.secret_key);
    // Amounts in cents; by hand, over 50 USD: 6000, 9900, 5001 → 3 of 6.
    let amounts = ["1000", "6000", "4999", "9900", "5000", "5001"];
    for amount in amounts {
        let answer = pay(&api, amount, "4242424242424242", &[]).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let run = api
        .post(
            "/v1/risk/rules/dry_run",
            &[("rule", "block if :amount_in_usd: > 50"), ("limit", "6")],
        )
        .await;
    assert_eq!(run.status, 200, "{}", run.text);
    let run = run.json();
    assert_eq!(
        (run["evaluated"].as_i64(), run["matched"].as_i64()),
        (Some(6), Some(3)),
        "{run}"
    );
    // The last 2 payments only: 5000 and 5001 → 1.
    let run = api
        .post(
            "/v1/risk/rules/dry_run",
            &[("rule", "block if :amount_in_usd: > 50"), ("limit", "2")],
        )
        .await
        .json();
    assert_eq!(
        (run["evaluated"].as_i64(), run["matched"].as_i64()),
        (Some(2), Some(1)),
        "{run}"
    );
    // Velocity as it was at each payment: the card's 4th, 5th and 6th.
    let run = api
        .post(
            "/v1/risk/rules/dry_run",
            &[(
                "rule",
                "review if :total_charges_per_card_number_hourly: > 3",
            )],
        )
        .await
        .json();
    assert_eq!(run["matched"], 3, "{run}");
}

/// Long enough that a payment right after a change would still be served
/// from a warm cache, were the change not seen at once where it was made.
const CACHE_TTL_MS: u64 = 2_000;
const CARD: &str = "4242424242424242";
/// Blocks the 60 USD payments of this test.
const BLOCK_OVER_50: &str = "block if :amount_in_usd: > 50";

/// The status of a 60 USD payment: 200, or 402 when a rule blocks it.
async fn pays(api: &Api) -> u16 {
    let answer = pay(api, "6000", CARD, &[]).await;
    assert!(matches!(answer.status, 200 | 402), "{}", answer.text);
    answer.status
}

/// Pays on `api` until the answer is `status`, at most the cache bound
/// (plus a request's time) after `changed_at`.
async fn until_status(api: &Api, status: u16, changed_at: Instant, what: &str) {
    let bound = Duration::from_millis(CACHE_TTL_MS) + Duration::from_secs(2);
    while pays(api).await != status {
        assert!(
            changed_at.elapsed() < bound,
            "{what}: the other instance still decides by the old rules after {:?}",
            changed_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn rule_changes_reach_every_instance_within_the_cache_bound(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let settings = format!("risk_rules_cache_ttl_ms = {CACHE_TTL_MS}\n");
    let server = start(&db, &settings);
    let api = Api::new(&server, &merchant.secret_key);
    assert_eq!(pays(&api).await, 200, "no rule yet (the cache is now warm)");
    // Where the change is made, the very next payment sees it.
    let rule = add_rule(&api, BLOCK_OVER_50).await;
    let id = rule["id"].as_str().unwrap().to_owned();
    assert_eq!(pays(&api).await, 402, "the new rule, at once");
    let toggle = |api: &Api, step: &'static str| {
        let (api, path) = (api.clone(), format!("/v1/risk/rules/{id}/{step}"));
        async move {
            let answer = api.post(&path, &[]).await;
            assert_eq!(answer.status, 200, "{step}: {}", answer.text);
        }
    };
    toggle(&api, "disable").await;
    assert_eq!(pays(&api).await, 200, "disabled, at once");
    toggle(&api, "enable").await;
    assert_eq!(pays(&api).await, 402, "enabled again, at once");
    if backend != Backend::Postgres {
        return; // One SQLite file serves one instance.
    }
    let other = start(&db, &settings);
    let other_api = Api::new(&other, &merchant.secret_key);
    assert_eq!(
        pays(&other_api).await,
        402,
        "the other instance (cache warm)"
    );
    toggle(&api, "disable").await;
    until_status(&other_api, 200, Instant::now(), "disabled elsewhere").await;
    toggle(&other_api, "enable").await;
    assert_eq!(pays(&other_api).await, 402, "enabled, at once there");
    until_status(&api, 402, Instant::now(), "enabled elsewhere").await;
    let deleted = api.delete(&format!("/v1/risk/rules/{id}")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(pays(&api).await, 200, "deleted, at once here");
    until_status(&other_api, 200, Instant::now(), "deleted elsewhere").await;
    let second = add_rule(&other_api, BLOCK_OVER_50).await;
    assert_eq!(second["status"], "enabled");
    until_status(&api, 402, Instant::now(), "added elsewhere").await;
}
