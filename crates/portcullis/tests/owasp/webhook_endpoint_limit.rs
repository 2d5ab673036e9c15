//! API4 (unrestricted resource consumption): at most 16 live webhook
//! endpoints per merchant and mode, Stripe's figure — also when creates
//! race each other, since the database enforces the bound.

use crate::on_both_backends;
use crate::support::{create_merchant, Api, Backend, TestDatabase, TestServer};

const ENDPOINTS_MAX: usize = 16;
const ALLOW_PRIVATE: (&str, &str) = ("PORTCULLIS_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true");

async fn create_endpoint(api: &Api, n: usize) -> crate::support::Answer {
    let url = format!("http://127.0.0.1:9/hook/{n}");
    api.post(
        "/v1/webhook_endpoints",
        &[("url", &url), ("enabled_events[]", "charge.succeeded")],
    )
    .await
}

fn assert_limit_refusal(answer: &crate::support::Answer) {
    assert_eq!(answer.status, 400, "{}", answer.text);
    let error = &answer.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "resource_limit_exceeded");
    assert!(error["message"].as_str().unwrap().contains("16"), "{error}");
}

async fn seventeenth_endpoint_is_refused_until_one_is_deleted(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Limits");
    let other = create_merchant(&db, "Other");
    let server = TestServer::start_with_env(&db, &[], &[ALLOW_PRIVATE]);
    let api = Api::new(&server, &merchant.secret_key);
    let mut ids = vec![];
    for n in 0..ENDPOINTS_MAX {
        let created = create_endpoint(&api, n).await;
        assert_eq!(created.status, 200, "endpoint {n}: {}", created.text);
        ids.push(created.json()["id"].as_str().unwrap().to_owned());
    }
    assert_limit_refusal(&create_endpoint(&api, 16).await);
    let listed = api.get("/v1/webhook_endpoints?limit=100").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), ENDPOINTS_MAX);

    // Another merchant's budget is its own.
    let other_api = Api::new(&server, &other.secret_key);
    assert_eq!(create_endpoint(&other_api, 0).await.status, 200);

    let deleted = api
        .delete(&format!("/v1/webhook_endpoints/{}", ids[0]))
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(create_endpoint(&api, 17).await.status, 200);
    assert_limit_refusal(&create_endpoint(&api, 18).await);
}

async fn racing_creates_never_pass_the_limit(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Race");
    // Two instances on one database: the bound must hold across them.
    let first = TestServer::start_with_env(&db, &[], &[ALLOW_PRIVATE]);
    let second = TestServer::start_with_env(&db, &[], &[ALLOW_PRIVATE]);
    let apis = [
        Api::new(&first, &merchant.secret_key),
        Api::new(&second, &merchant.secret_key),
    ];
    let base = ENDPOINTS_MAX - 4;
    for n in 0..base {
        assert_eq!(create_endpoint(&apis[0], n).await.status, 200);
    }
    let racers = (0..12).map(|n| {
        let api = apis[n % 2].clone();
        tokio::spawn(async move { create_endpoint(&api, 100 + n).await })
    });
    let mut created = 0;
    for racer in racers.collect::<Vec<_>>() {
        let answer = racer.await.unwrap();
        match answer.status {
            200 => created += 1,
            _ => assert_limit_refusal(&answer),
        }
    }
    assert_eq!(created, ENDPOINTS_MAX - base);
    let listed = apis[1].get("/v1/webhook_endpoints?limit=100").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), ENDPOINTS_MAX);
}

on_both_backends!(
    seventeenth_endpoint_is_refused_until_one_is_deleted,
    racing_creates_never_pass_the_limit
);
