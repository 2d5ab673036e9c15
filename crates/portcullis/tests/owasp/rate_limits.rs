//! API4 (unrestricted resource consumption), item 7: bursts per key and
//! per merchant get 429, Stripe's `rate_limit` error, with `Retry-After`;
//! instances sharing a database share one budget.

use crate::on_both_backends;
use crate::support::{create_merchant, Api, Backend, TestDatabase, TestServer};
use std::time::{Duration, Instant};

/// A few stamp intervals: long enough for every instance to have counted
/// the others.
const INSTANCES_SETTLE: Duration = Duration::from_millis(4_500);

async fn burst(api: &Api, requests: usize) -> (usize, Vec<crate::support::Answer>) {
    let mut allowed = 0;
    let mut refused = vec![];
    for _ in 0..requests {
        let answer = api.get("/v1/customers").await;
        match answer.status {
            200 => allowed += 1,
            _ => refused.push(answer),
        }
    }
    (allowed, refused)
}

fn assert_rate_limit_error(answer: &crate::support::Answer) {
    assert_eq!(answer.status, 429, "{}", answer.text);
    let error = &answer.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "rate_limit");
    let retry_after: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
}

async fn a_burst_past_the_key_budget_gets_429_then_recovers(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Burst");
    let env = [
        ("PORTCULLIS_RATE_LIMIT_PER_KEY_PER_S", "5"),
        ("PORTCULLIS_RATE_LIMIT_PER_MERCHANT_PER_S", "1000"),
    ];
    let server = TestServer::start_with_env(&db, &[], &env);
    let api = Api::new(&server, &merchant.secret_key);
    let (allowed, refused) = burst(&api, 20).await;
    assert!((5..=8).contains(&allowed), "{allowed} of 20 allowed");
    assert!(!refused.is_empty());
    refused.iter().for_each(assert_rate_limit_error);
    // The publishable key has a budget of its own.
    let publishable = Api::new(&server, &merchant.publishable_key);
    assert_ne!(publishable.get("/v1/customers").await.status, 429);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(api.get("/v1/customers").await.status, 200);
}

async fn a_merchant_budget_binds_all_its_keys(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Many keys");
    let other = create_merchant(&db, "Other");
    let env = [
        ("PORTCULLIS_RATE_LIMIT_PER_KEY_PER_S", "1000"),
        ("PORTCULLIS_RATE_LIMIT_PER_MERCHANT_PER_S", "6"),
    ];
    let server = TestServer::start_with_env(&db, &[], &env);
    let secret = Api::new(&server, &merchant.secret_key);
    let publishable = Api::new(&server, &merchant.publishable_key);
    let (allowed, _) = burst(&secret, 6).await;
    assert!(allowed >= 5, "{allowed}");
    let refused = publishable.get("/v1/customers").await;
    assert_rate_limit_error(&refused);
    let other_api = Api::new(&server, &other.secret_key);
    assert_eq!(other_api.get("/v1/customers").await.status, 200);
}

async fn instances_on_one_database_share_the_budget(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shared");
    let env = [
        ("PORTCULLIS_RATE_LIMIT_PER_KEY_PER_S", "10"),
        ("PORTCULLIS_RATE_LIMIT_PER_MERCHANT_PER_S", "1000"),
    ];
    let first = TestServer::start_with_env(&db, &[], &env);
    let second = TestServer::start_with_env(&db, &[], &env);
    tokio::time::sleep(INSTANCES_SETTLE).await;
    let started = Instant::now();
    let (on_first, _) = burst(&Api::new(&first, &merchant.secret_key), 15).await;
    let (on_second, _) = burst(&Api::new(&second, &merchant.secret_key), 15).await;
    // Each instance holds half the budget: 5 each, plus what refills
    // (5 per second per instance) while the bursts run.
    let refill = (started.elapsed().as_secs_f64() * 10.0).ceil() as usize;
    assert!(
        on_first + on_second <= 10 + refill,
        "{on_first} + {on_second} allowed across two instances with a budget of 10/s (refill {refill})"
    );
    assert!(on_first >= 4 && on_second >= 4, "{on_first}, {on_second}");
}

on_both_backends!(
    a_burst_past_the_key_budget_gets_429_then_recovers,
    a_merchant_budget_binds_all_its_keys,
    instances_on_one_database_share_the_budget
);
