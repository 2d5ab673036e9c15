//! Delivery throughput to one endpoint is bounded by the endpoint's speed
//! and `webhooks_endpoint_concurrency_max`, not by the poll interval: a
//! finished attempt lets the worker claim the endpoint's next due delivery
//! at once. (Waiting for the next poll instead capped every endpoint at 4
//! deliveries per 250 ms, however fast it answered.)

// Shared with the webhooks suite, which uses the parts this test does not.
#[allow(dead_code)]
#[path = "webhooks/receiver.rs"]
mod receiver;
mod support;

use receiver::Receiver;
use std::time::{Duration, Instant};
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

const EVENTS: usize = 24;
/// Far longer than the whole delivery should take once attempts chain.
const POLL_INTERVAL_MS: &str = "3000";
/// Each delivery takes this long at the receiver.
const RECEIVER_DELAY_MS: u64 = 100;

async fn deliveries_follow_each_other_without_waiting_for_the_poll(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start_with_env(
        &db,
        &[],
        &[
            ("PORTCULLIS_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true"),
            ("PORTCULLIS_WEBHOOKS_POLL_INTERVAL_MS", POLL_INTERVAL_MS),
        ],
    );
    let api = Api::new(&server, &merchant.secret_key);
    let receiver = Receiver::start(0).await;
    receiver.set_delay_ms(RECEIVER_DELAY_MS);
    let created = api
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", receiver.url.as_str()),
                ("enabled_events[]", "payment_intent.created"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    for _ in 0..EVENTS {
        let intent = api
            .post(
                "/v1/payment_intents",
                &[("amount", "1000"), ("currency", "usd")],
            )
            .await;
        assert_eq!(intent.status, 200, "{}", intent.text);
    }
    // The clock starts at the first delivery (the worker's first look comes
    // at its next poll, up to 3 s after the events).
    receiver
        .wait_for("a first delivery", Duration::from_secs(30), |hits| {
            !hits.is_empty()
        })
        .await;
    let started = Instant::now();
    receiver
        .wait_for("every event delivered", Duration::from_secs(60), |hits| {
            hits.len() >= EVENTS
        })
        .await;
    // 24 deliveries, 4 at a time, 100 ms each: under a second when attempts
    // chain; five more polls (15 s) when each batch waits for the next.
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "{EVENTS} deliveries took {elapsed:?}: each batch waited for the poll"
    );
}

on_both_backends!(deliveries_follow_each_other_without_waiting_for_the_poll,);
