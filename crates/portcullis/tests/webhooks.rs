//! Webhooks through the real binary, on SQLite and PostgreSQL: retries
//! until a receiver accepts, signatures the receiver can verify, failure
//! and disabling after the horizon, no delivery lost across a restart,
//! exactly-once attempts with two instances, SSRF refusals, secret
//! rolling, the delivery log and manual redelivery. Receivers run in the
//! test on 127.0.0.1, so servers allow private targets unless noted.

#[path = "webhooks/receiver.rs"]
mod receiver;
mod support;

use receiver::{dead_url, verify, Receiver};
use serde_json::Value;
use std::time::{Duration, Instant};
use support::{create_merchant, Api, Backend, Merchant, TestDatabase, TestServer};

const ALLOW_PRIVATE: (&str, &str) = ("PORTCULLIS_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true");
/// A compressed schedule: 100 ms first retry, a minute's horizon.
const FAST: [(&str, &str); 3] = [
    ALLOW_PRIVATE,
    ("PORTCULLIS_WEBHOOKS_RETRY_BASE_MS", "100"),
    ("PORTCULLIS_WEBHOOKS_RETRY_HORIZON_S", "60"),
];
const WAIT: Duration = Duration::from_secs(30);

fn start(db: &TestDatabase, env: &[(&str, &str)]) -> TestServer {
    TestServer::start_with_env(db, &[], env)
}

/// Creates an endpoint for `payment_intent.created`; returns (id, secret).
async fn endpoint(api: &Api, url: &str) -> (String, String) {
    let created = api
        .post(
            "/v1/webhook_endpoints",
            &[("url", url), ("enabled_events[]", "payment_intent.created")],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let json = created.json();
    assert!(json["secret"].as_str().unwrap().starts_with("whsec_"));
    (
        json["id"].as_str().unwrap().to_owned(),
        json["secret"].as_str().unwrap().to_owned(),
    )
}

/// Creates a payment intent, which writes one `payment_intent.created` event.
async fn intent_event(api: &Api) -> String {
    let intent = api
        .post(
            "/v1/payment_intents",
            &[("amount", "1000"), ("currency", "usd")],
        )
        .await;
    assert_eq!(intent.status, 200, "{}", intent.text);
    let id = intent.json()["id"].as_str().unwrap().to_owned();
    let events = api
        .get("/v1/events?type=payment_intent.created&limit=100")
        .await
        .json();
    let found = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["object"]["id"] == id.as_str());
    found.expect("the intent's event")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn deliveries_of(api: &Api, event_id: &str) -> Vec<Value> {
    let answer = api.get(&format!("/v1/events/{event_id}/deliveries")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["data"].as_array().unwrap().clone()
}

/// Polls the delivery of `event_id` until its status is `status`.
async fn wait_for_delivery(api: &Api, event_id: &str, status: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let deliveries = deliveries_of(api, event_id).await;
        if deliveries.first().is_some_and(|d| d["status"] == status) {
            return deliveries[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "delivery never {status}: {deliveries:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn setup(backend: Backend) -> (TestDatabase, Merchant) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    (db, merchant)
}

on_both_backends!(
    a_receiver_failing_three_times_gets_the_event_signed_on_the_fourth_attempt,
    a_receiver_down_for_the_whole_horizon_ends_failed_and_its_endpoint_disabled,
    a_restart_mid_way_loses_no_pending_delivery,
    private_targets_are_refused_at_creation_and_at_delivery,
    a_rolled_secret_signs_beside_the_new_one_until_it_expires,
    a_manual_redelivery_sends_an_event_again,
    endpoints_are_created_read_updated_listed_and_deleted_without_showing_the_secret_again,
    events_filter_by_types_and_created,
    a_slow_endpoint_does_not_delay_the_others_and_gets_bounded_concurrency,
);

async fn a_receiver_failing_three_times_gets_the_event_signed_on_the_fourth_attempt(
    backend: Backend,
) {
    let (db, merchant) = setup(backend).await;
    let server = start(&db, &FAST);
    let api = Api::new(&server, &merchant.secret_key);
    let receiver = Receiver::start(3).await;
    let (endpoint_id, secret) = endpoint(&api, &receiver.url).await;
    let event_id = intent_event(&api).await;

    let hits = receiver
        .wait_for("4 attempts", WAIT, |hits| hits.len() >= 4)
        .await;
    let statuses: Vec<u16> = hits.iter().map(|h| h.status).collect();
    assert_eq!(statuses, [500, 500, 500, 200]);
    for hit in &hits {
        assert_eq!(hit.event_id, event_id);
        assert_eq!(
            verify(&hit.signature, &hit.body, &secret),
            (true, 1),
            "{}",
            hit.signature
        );
    }
    assert!(!verify(&hits[3].signature, &hits[3].body, "whsec_wrong").0);
    let event: Value = serde_json::from_str(&hits[3].body).unwrap();
    assert_eq!(
        (event["object"].as_str(), event["type"].as_str()),
        (Some("event"), Some("payment_intent.created"))
    );

    let delivery = wait_for_delivery(&api, &event_id, "delivered").await;
    assert_eq!(delivery["webhook_endpoint"], endpoint_id.as_str());
    assert_eq!(delivery["attempt_count"], 4);
    let attempts = delivery["attempts"].as_array().unwrap();
    let numbers: Vec<i64> = attempts
        .iter()
        .map(|a| a["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [4, 3, 2, 1], "the log, newest first");
    assert_eq!(attempts[0]["status_code"], 200);
    assert!(attempts[0]["next_retry_at_ms"].is_null());
    assert_eq!(attempts[3]["status_code"], 500);
    assert!(
        attempts[3]["next_retry_at_ms"].as_i64().unwrap()
            > attempts[3]["started_at_ms"].as_i64().unwrap()
    );
    assert!(attempts[3]["latency_ms"].as_i64().unwrap() >= 0);
    let by_endpoint = api
        .get(&format!("/v1/webhook_endpoints/{endpoint_id}/deliveries"))
        .await
        .json();
    assert_eq!(by_endpoint["data"][0]["event"], event_id.as_str());
    assert!(
        !server.log().contains(&secret),
        "the secret is never logged"
    );
}

async fn a_receiver_down_for_the_whole_horizon_ends_failed_and_its_endpoint_disabled(
    backend: Backend,
) {
    let (db, merchant) = setup(backend).await;
    let env = [
        ALLOW_PRIVATE,
        ("PORTCULLIS_WEBHOOKS_RETRY_BASE_MS", "100"),
        ("PORTCULLIS_WEBHOOKS_RETRY_HORIZON_S", "3"),
        ("PORTCULLIS_WEBHOOKS_DISABLE_AFTER_S", "1"),
    ];
    let server = start(&db, &env);
    let api = Api::new(&server, &merchant.secret_key);
    let (endpoint_id, _) = endpoint(&api, &dead_url()).await;
    let event_id = intent_event(&api).await;

    let delivery = wait_for_delivery(&api, &event_id, "failed").await;
    let attempts = delivery["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 3, "retried before giving up: {delivery}");
    assert!(attempts
        .iter()
        .all(|a| a["status_code"].is_null() && a["error"].is_string()));
    // The endpoint is disabled by the attempt that ends its run of
    // failures, which may commit just after the delivery reads `failed`.
    let deadline = Instant::now() + WAIT;
    loop {
        let endpoint = api
            .get(&format!("/v1/webhook_endpoints/{endpoint_id}"))
            .await
            .json();
        if endpoint["status"] == "disabled" {
            break;
        }
        assert!(Instant::now() < deadline, "never disabled: {endpoint}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = api
        .get("/v1/events?type=webhook_endpoint.disabled")
        .await
        .json();
    let disabled = &events["data"][0];
    assert_eq!(disabled["data"]["object"]["id"], endpoint_id.as_str());
    assert_eq!(disabled["data"]["previous_attributes"]["status"], "enabled");
}

async fn a_restart_mid_way_loses_no_pending_delivery(backend: Backend) {
    let (db, merchant) = setup(backend).await;
    let env = [
        ALLOW_PRIVATE,
        ("PORTCULLIS_WEBHOOKS_RETRY_BASE_MS", "300"),
        ("PORTCULLIS_WEBHOOKS_RETRY_HORIZON_S", "120"),
    ];
    let mut server = start(&db, &env);
    let api = Api::new(&server, &merchant.secret_key);
    let receiver = Receiver::start(0).await;
    receiver.set_down(true);
    endpoint(&api, &receiver.url).await;
    let mut event_ids = vec![];
    for _ in 0..20 {
        event_ids.push(intent_event(&api).await);
    }
    receiver
        .wait_for("first attempts", WAIT, |hits| hits.len() >= 5)
        .await;
    assert!(server.terminate().success());

    receiver.set_down(false);
    let server = start(&db, &env);
    let api = Api::new(&server, &merchant.secret_key);
    let hits = receiver
        .wait_for("every event delivered", WAIT, |hits| {
            event_ids
                .iter()
                .all(|id| hits.iter().any(|h| h.status == 200 && &h.event_id == id))
        })
        .await;
    for id in &event_ids {
        wait_for_delivery(&api, id, "delivered").await;
        assert_eq!(
            hits.iter()
                .filter(|h| h.status == 200 && &h.event_id == id)
                .count(),
            1
        );
    }
}

async fn private_targets_are_refused_at_creation_and_at_delivery(backend: Backend) {
    let (db, merchant) = setup(backend).await;
    let strict = start(&db, &[("PORTCULLIS_WEBHOOKS_RETRY_BASE_MS", "100")]);
    let api = Api::new(&strict, &merchant.secret_key);
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.64.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "ftp://example.com/hook",
    ] {
        let refused = api
            .post(
                "/v1/webhook_endpoints",
                &[("url", url), ("enabled_events[]", "*")],
            )
            .await;
        assert_eq!(refused.status, 400, "{url}: {}", refused.text);
        assert_eq!(refused.json()["error"]["param"], "url", "{url}");
    }
    drop(strict);

    // An endpoint made while private targets were allowed is refused at
    // delivery once they no longer are.
    let receiver = Receiver::start(0).await;
    let lenient = start(&db, &FAST);
    let (endpoint_id, _) = endpoint(&Api::new(&lenient, &merchant.secret_key), &receiver.url).await;
    drop(lenient);
    let strict = start(&db, &[("PORTCULLIS_WEBHOOKS_RETRY_BASE_MS", "100")]);
    let api = Api::new(&strict, &merchant.secret_key);
    let event_id = intent_event(&api).await;
    let deadline = Instant::now() + WAIT;
    let delivery = loop {
        let deliveries = deliveries_of(&api, &event_id).await;
        if deliveries
            .first()
            .is_some_and(|d| d["attempt_count"].as_i64() >= Some(2))
        {
            break deliveries[0].clone();
        }
        assert!(Instant::now() < deadline, "no attempts: {deliveries:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(delivery["webhook_endpoint"], endpoint_id.as_str());
    assert!(
        delivery["last_error"]
            .as_str()
            .unwrap()
            .contains("not a public address"),
        "{delivery}"
    );
    assert!(
        receiver.hits().is_empty(),
        "nothing reached the private address"
    );
}

async fn a_rolled_secret_signs_beside_the_new_one_until_it_expires(backend: Backend) {
    let (db, merchant) = setup(backend).await;
    let server = start(&db, &FAST);
    let api = Api::new(&server, &merchant.secret_key);
    let receiver = Receiver::start(0).await;
    let (endpoint_id, old) = endpoint(&api, &receiver.url).await;
    let rolled = api
        .post(
            &format!("/v1/webhook_endpoints/{endpoint_id}/roll_secret"),
            &[("expires_in_s", "3")],
        )
        .await;
    assert_eq!(rolled.status, 200, "{}", rolled.text);
    let new = rolled.json()["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let rolled_at = Instant::now();

    intent_event(&api).await;
    let hits = receiver
        .wait_for("a delivery", WAIT, |hits| !hits.is_empty())
        .await;
    assert!(
        rolled_at.elapsed() < Duration::from_secs(3),
        "too slow to see both signatures"
    );
    assert_eq!(verify(&hits[0].signature, &hits[0].body, &new), (true, 2));
    assert_eq!(verify(&hits[0].signature, &hits[0].body, &old), (true, 2));

    tokio::time::sleep(
        Duration::from_secs(3).saturating_sub(rolled_at.elapsed()) + Duration::from_millis(1100),
    )
    .await;
    intent_event(&api).await;
    let hits = receiver
        .wait_for("a second delivery", WAIT, |hits| hits.len() >= 2)
        .await;
    assert_eq!(verify(&hits[1].signature, &hits[1].body, &new), (true, 1));
    assert!(!verify(&hits[1].signature, &hits[1].body, &old).0);
}

async fn a_manual_redelivery_sends_an_event_again(backend: Backend) {
    let (db, merchant) = setup(backend).await;
    let server = start(&db, &FAST);
    let api = Api::new(&server, &merchant.secret_key);
    let receiver = Receiver::start(0).await;
    let (endpoint_id, _) = endpoint(&api, &receiver.url).await;
    let event_id = intent_event(&api).await;
    wait_for_delivery(&api, &event_id, "delivered").await;

    let again = api
        .post(&format!("/v1/events/{event_id}/redeliver"), &[])
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["scheduled"], 1);
    receiver
        .wait_for("the redelivery", WAIT, |hits| hits.len() >= 2)
        .await;
    let deadline = Instant::now() + WAIT;
    while deliveries_of(&api, &event_id).await[0]["attempt_count"] != 2 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An endpoint created after the event can be sent it by hand.
    let (later_id, _) = endpoint(&api, &receiver.url).await;
    let one = api
        .post(
            &format!("/v1/events/{event_id}/redeliver"),
            &[("webhook_endpoint", later_id.as_str())],
        )
        .await;
    assert_eq!(one.json()["scheduled"], 1, "{}", one.text);
    receiver
        .wait_for("the later endpoint's delivery", WAIT, |hits| {
            hits.len() >= 3
        })
        .await;
    let deliveries = deliveries_of(&api, &event_id).await;
    let endpoints: Vec<&str> = deliveries
        .iter()
        .map(|d| d["webhook_endpoint"].as_str().unwrap())
        .collect();
    assert!(endpoints.contains(&endpoint_id.as_str()) && endpoints.contains(&later_id.as_str()));
    let missing = api.post("/v1/events/evt_missing/redeliver", &[]).await;
    assert_eq!(missing.status, 404);
}

async fn endpoints_are_created_read_updated_listed_and_deleted_without_showing_the_secret_again(
    backend: Backend,
) {
    let (db, merchant) = setup(backend).await;
    let server = start(&db, &FAST);
    let api = Api::new(&server, &merchant.secret_key);
    let (id, secret) = endpoint(&api, "http://127.0.0.1:9/a").await;
    let got = api.get(&format!("/v1/webhook_endpoints/{id}")).await;
    let json = got.json();
    assert_eq!(
        (json["object"].as_str(), json["status"].as_str()),
        (Some("webhook_endpoint"), Some("enabled"))
    );
    assert!(json.get("secret").is_none() && !got.text.contains(&secret));

    let updated = api
        .post(
            &format!("/v1/webhook_endpoints/{id}"),
            &[
                ("url", "http://127.0.0.1:9/b"),
                ("enabled_events[0]", "*"),
                ("disabled", "true"),
                ("description", "orders"),
                ("metadata[team]", "pay"),
            ],
        )
        .await
        .json();
    assert_eq!(updated["url"], "http://127.0.0.1:9/b");
    assert_eq!(updated["enabled_events"], serde_json::json!(["*"]));
    assert_eq!(
        (updated["status"].as_str(), updated["description"].as_str()),
        (Some("disabled"), Some("orders"))
    );
    assert_eq!(updated["metadata"]["team"], "pay");
    let bad = api
        .post(
            &format!("/v1/webhook_endpoints/{id}"),
            &[("status", "enabled")],
        )
        .await;
    assert_eq!(bad.json()["error"]["code"], "parameter_unknown");
    let bad = api
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", "http://127.0.0.1:9/"),
                ("enabled_events[]", "*"),
                ("enabled_events[]", "charge.failed"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);

    let list = api.get("/v1/webhook_endpoints").await;
    assert_eq!(list.json()["data"][0]["id"], id.as_str());
    assert!(!list.text.contains(&secret));
    let deleted = api
        .delete(&format!("/v1/webhook_endpoints/{id}"))
        .await
        .json();
    assert_eq!(deleted["deleted"], true);
    assert_eq!(
        api.get(&format!("/v1/webhook_endpoints/{id}")).await.status,
        404
    );
    assert_eq!(
        api.get("/v1/webhook_endpoints").await.json()["data"],
        serde_json::json!([])
    );
}

async fn events_filter_by_types_and_created(backend: Backend) {
    let (db, merchant) = setup(backend).await;
    let server = start(&db, &FAST);
    let api = Api::new(&server, &merchant.secret_key);
    let paid = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    let types = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    };
    let both = api
        .get("/v1/events?types[]=payment_intent.created&types[]=charge.succeeded")
        .await
        .json();
    let mut found = types(&both);
    found.sort();
    assert_eq!(found, ["charge.succeeded", "payment_intent.created"]);
    let created = both["data"][0]["created"].as_i64().unwrap();
    let window = api
        .get(&format!(
            "/v1/events?types[]=charge.succeeded&created[gte]={created}&created[lte]={created}"
        ))
        .await
        .json();
    assert_eq!(types(&window), ["charge.succeeded"]);
    // The two events may straddle a second: nothing is older than the earliest.
    let earliest = both["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["created"].as_i64())
        .min()
        .unwrap();
    let before = api
        .get(&format!("/v1/events?created[lt]={earliest}"))
        .await
        .json();
    assert_eq!(before["data"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_postgres_deliver_each_of_500_events_exactly_once() {
    if !support::postgres_or_skip().await {
        return;
    }
    let (db, merchant) = setup(Backend::Postgres).await;
    // Both share the test's data directory, so its key-hash secret too.
    let servers = [start(&db, &[ALLOW_PRIVATE]), start(&db, &[ALLOW_PRIVATE])];
    let apis: Vec<Api> = servers
        .iter()
        .map(|s| Api::new(s, &merchant.secret_key))
        .collect();
    let receiver = Receiver::start(0).await;
    endpoint(&apis[0], &receiver.url).await;

    const EVENTS: usize = 500;
    let mut creators = vec![];
    for worker in 0..10 {
        let api = apis[worker % 2].clone();
        creators.push(tokio::spawn(async move {
            for _ in 0..EVENTS / 10 {
                let created = api
                    .post(
                        "/v1/payment_intents",
                        &[("amount", "500"), ("currency", "eur")],
                    )
                    .await;
                assert_eq!(created.status, 200, "{}", created.text);
            }
        }));
    }
    for creator in creators {
        creator.await.unwrap();
    }
    receiver
        .wait_for("500 deliveries", Duration::from_secs(120), |hits| {
            hits.len() >= EVENTS
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // room for any duplicate to arrive
    let hits = receiver.hits();
    let mut per_event = std::collections::HashMap::new();
    for hit in &hits {
        *per_event.entry(hit.event_id.clone()).or_insert(0) += 1;
    }
    assert_eq!(per_event.len(), EVENTS);
    assert!(
        per_event.values().all(|n| *n == 1),
        "an event was delivered twice"
    );
    assert_eq!(hits.len(), EVENTS);
    let attempts_by = |s: &TestServer| s.log().matches("webhook attempt").count();
    let (first, second) = (attempts_by(&servers[0]), attempts_by(&servers[1]));
    assert_eq!(
        first + second,
        EVENTS,
        "each attempt made by exactly one process"
    );
}

async fn a_slow_endpoint_does_not_delay_the_others_and_gets_bounded_concurrency(backend: Backend) {
    let (db, merchant) = setup(backend).await;
    let server = start(&db, &FAST);
    let api = Api::new(&server, &merchant.secret_key);
    let slow = Receiver::start(0).await;
    slow.set_delay_ms(8_000);
    let fast = Receiver::start(0).await;
    endpoint(&api, &slow.url).await;
    endpoint(&api, &fast.url).await;
    const EVENTS: usize = 12;
    for _ in 0..EVENTS {
        intent_event(&api).await;
    }
    let started = Instant::now();
    fast.wait_for("every event at the fast endpoint", WAIT, |hits| {
        hits.len() >= EVENTS
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the fast endpoint waited for the slow one"
    );
    let in_flight_at_slow = slow.hits().len();
    assert!(
        (1..=4).contains(&in_flight_at_slow),
        "at most endpoint_concurrency_max (4) attempts at once: {in_flight_at_slow}"
    );
}
