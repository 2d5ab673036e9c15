//! `/v1/checkout/sessions` through the real binary, on SQLite and
//! PostgreSQL: Stripe's session and line-item shapes, totals computed by
//! the gateway, the hosted page's `url` under `public_url`, list filters
//! and line-item pages, client mistakes answered 4xx with nothing stored,
//! other merchants' sessions invisible, and expiry — by the merchant and
//! by the worker — committed once with its `checkout.session.expired` event.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

const PUBLIC_URL: (&str, &str) = ("PORTCULLIS_PUBLIC_URL", "https://pay.shop.example");
const SUCCESS_URL: &str = "https://shop.example/done?session={CHECKOUT_SESSION_ID}";

fn session_form<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    support::checkout_session_form(SUCCESS_URL, "https://shop.example/cart", extra)
}

async fn create(api: &Api, extra: &[(&str, &str)]) -> Value {
    let created = api
        .post("/v1/checkout/sessions", &session_form(extra))
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    created.json()
}

async fn events_of_type(api: &Api, kind: &str) -> Vec<Value> {
    let answer = api.get(&format!("/v1/events?type={kind}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["data"].as_array().unwrap().clone()
}

async fn sessions_have_stripes_shape_and_computed_totals(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start_with_env(&db, &[], &[PUBLIC_URL]);
    let api = Api::new(&server, &merchant.secret_key);

    let session = create(
        &api,
        &[
            ("customer_email", "buyer@example.com"),
            ("locale", "zh"),
            ("payment_method_types[0]", "card"),
            ("metadata[order]", "6735"),
            ("client_reference_id", "cart-42"),
        ],
    )
    .await;
    let id = session["id"].as_str().unwrap();
    assert!(id.starts_with("cs_test_"), "{id}");
    assert_eq!(session["object"], "checkout.session");
    assert_eq!(session["mode"], "payment");
    assert_eq!(session["status"], "open");
    assert_eq!(session["payment_status"], "unpaid");
    assert_eq!(session["amount_subtotal"], 5050);
    assert_eq!(session["amount_total"], 5050);
    assert_eq!(session["currency"], "usd");
    assert_eq!(session["customer_email"], "buyer@example.com");
    assert_eq!(session["locale"], "zh");
    assert_eq!(session["metadata"]["order"], "6735");
    assert_eq!(session["client_reference_id"], "cart-42");
    assert_eq!(session["payment_method_types"], serde_json::json!(["card"]));
    assert_eq!(session["success_url"], SUCCESS_URL);
    assert_eq!(session["payment_intent"], Value::Null);
    assert_eq!(
        session["url"],
        format!("https://pay.shop.example/checkout/{id}")
    );
    let created = session["created"].as_i64().unwrap();
    assert_eq!(session["expires_at"].as_i64().unwrap(), created + 24 * 3600);

    let retrieved = api.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(retrieved.status, 200, "{}", retrieved.text);
    assert_eq!(retrieved.json(), session);

    let items = api
        .get(&format!("/v1/checkout/sessions/{id}/line_items?limit=1"))
        .await
        .json();
    assert_eq!(items["object"], "list");
    assert_eq!(items["has_more"], true);
    assert_eq!(
        items["url"],
        format!("/v1/checkout/sessions/{id}/line_items")
    );
    let first = &items["data"][0];
    assert_eq!(first["object"], "item");
    assert_eq!(first["description"], "T-shirt");
    assert_eq!(first["quantity"], 2);
    assert_eq!(first["amount_total"], 4000);
    assert_eq!(first["price"]["object"], "price");
    assert_eq!(first["price"]["unit_amount"], 2000);
    assert_eq!(first["price"]["unit_amount_decimal"], "2000");
    let after = first["id"].as_str().unwrap();
    let rest = api
        .get(&format!(
            "/v1/checkout/sessions/{id}/line_items?starting_after={after}"
        ))
        .await
        .json();
    assert_eq!(rest["has_more"], false);
    assert_eq!(rest["data"][0]["description"], "Socks");
    assert_eq!(rest["data"][0]["amount_total"], 1050);

    let expanded = api
        .get(&format!("/v1/checkout/sessions/{id}?expand[]=line_items"))
        .await
        .json();
    assert_eq!(expanded["line_items"]["data"].as_array().unwrap().len(), 2);

    let other = create(&api, &[]).await;
    api.post(
        &format!(
            "/v1/checkout/sessions/{}/expire",
            other["id"].as_str().unwrap()
        ),
        &[],
    )
    .await;
    let open = api.get("/v1/checkout/sessions?status=open").await.json();
    let ids: Vec<&str> = open["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id]);
    let all = api.get("/v1/checkout/sessions?limit=1").await.json();
    assert_eq!(all["has_more"], true);
    assert_eq!(all["data"][0]["id"], other["id"], "newest first");
}

async fn client_mistakes_are_4xx_and_store_nothing(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let rival = create_merchant(&db, "Rival");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let rival_api = Api::new(&server, &rival.secret_key);
    let rival_customer = rival_api
        .post("/v1/customers", &[("email", "r@example.com")])
        .await
        .json();
    let rival_customer = rival_customer["id"].as_str().unwrap();

    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("mode", "subscription")], "mode"),
        (
            vec![("line_items[1][price_data][currency]", "eur")],
            "line_items",
        ),
        (
            vec![("line_items[0][quantity]", "0")],
            "line_items[0][quantity]",
        ),
        (
            vec![("line_items[0][price_data][unit_amount]", "-5")],
            "line_items[0][price_data][unit_amount]",
        ),
        (vec![("expires_at", "1")], "expires_at"),
        (
            vec![("payment_method_types[0]", "bitcoin")],
            "payment_method_types[0]",
        ),
        (vec![("success_url", "javascript:alert(1)")], "success_url"),
        (vec![("locale", "xx")], "locale"),
        (vec![("amount_total", "1")], "amount_total"),
        (vec![("customer", rival_customer)], "customer"),
        (
            vec![("customer", rival_customer), ("customer_email", "a@b.co")],
            "customer_email",
        ),
    ];
    for (overrides, param) in cases {
        let mut form: Vec<(&str, &str)> = session_form(&[])
            .into_iter()
            .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
            .collect();
        form.extend(overrides.iter().cloned());
        let answer = api.post("/v1/checkout/sessions", &form).await;
        assert!(
            answer.status == 400 || answer.status == 404,
            "{param}: {} {}",
            answer.status,
            answer.text
        );
        assert_eq!(answer.json()["error"]["param"], param, "{}", answer.text);
    }
    let missing = api
        .post(
            "/v1/checkout/sessions",
            &[("mode", "payment"), ("success_url", SUCCESS_URL)],
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["error"]["code"], "parameter_missing");

    let publishable = Api::new(&server, &merchant.publishable_key);
    let refused = publishable
        .post("/v1/checkout/sessions", &session_form(&[]))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);

    let listed = api.get("/v1/checkout/sessions").await.json();
    assert_eq!(listed["data"], serde_json::json!([]), "nothing was stored");

    let session = create(&api, &[]).await;
    let id = session["id"].as_str().unwrap();
    for path in [
        format!("/v1/checkout/sessions/{id}"),
        format!("/v1/checkout/sessions/{id}/line_items"),
    ] {
        let hidden = rival_api.get(&path).await;
        assert_eq!(hidden.status, 404, "{}", hidden.text);
    }
    let hidden = rival_api
        .post(&format!("/v1/checkout/sessions/{id}/expire"), &[])
        .await;
    assert_eq!(hidden.status, 404);
    let garbage = api.get("/v1/checkout/sessions/cs_test_x'--").await;
    assert_eq!(garbage.status, 404);
}

async fn expiring_is_final_and_announced_once(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let session = create(&api, &[]).await;
    let id = session["id"].as_str().unwrap();

    let expired = api
        .post(&format!("/v1/checkout/sessions/{id}/expire"), &[])
        .await;
    assert_eq!(expired.status, 200, "{}", expired.text);
    let expired = expired.json();
    assert_eq!(expired["status"], "expired");
    assert_eq!(expired["url"], Value::Null);
    let again = api
        .post(&format!("/v1/checkout/sessions/{id}/expire"), &[])
        .await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert_eq!(again.json()["error"]["type"], "invalid_request_error");

    let events = events_of_type(&api, "checkout.session.expired").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["object"]["id"], id);
    assert_eq!(events[0]["data"]["object"]["status"], "expired");
}

async fn the_worker_expires_sessions_whose_time_has_come(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let due = create(&api, &[]).await;
    let due = due["id"].as_str().unwrap();
    let later = create(&api, &[]).await;
    let later = later["id"].as_str().unwrap();
    support::backdate_checkout_session(&db, due).await;

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let session = api
            .get(&format!("/v1/checkout/sessions/{due}"))
            .await
            .json();
        if session["status"] == "expired" {
            break;
        }
        assert!(Instant::now() < deadline, "not expired: {session}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let events = events_of_type(&api, "checkout.session.expired").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["object"]["id"], due);
    let untouched = api
        .get(&format!("/v1/checkout/sessions/{later}"))
        .await
        .json();
    assert_eq!(untouched["status"], "open");
}

on_both_backends!(
    sessions_have_stripes_shape_and_computed_totals,
    client_mistakes_are_4xx_and_store_nothing,
    expiring_is_final_and_announced_once,
    the_worker_expires_sessions_whose_time_has_come,
);
