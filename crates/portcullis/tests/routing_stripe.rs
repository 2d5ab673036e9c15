//! The `stripe` connector against a second Portcullis, which speaks the
//! same API: gateway A routes to gateway B through a `type=stripe`
//! account holding B's secret key, on SQLite and PostgreSQL.
//!
//! Between them sits a forwarding proxy that can lose B's answers (B acts,
//! A never hears): the attempt whose confirmation was lost stays pending
//! until B's signed webhook to A's `notify_url` makes A settle it, by
//! listing B's PaymentIntents for the one our metadata names. At the
//! end, every payment's captured and refunded amounts agree on A and B,
//! and `ledger verify` passes on both.

mod support;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{cli, create_merchant, Api, Backend, TestDatabase, TestServer};

on_both_backends!(gateway_a_routes_to_gateway_b_and_their_ledgers_agree);

/// What the proxy does with B's answers.
const PASS: u8 = 0;
/// Loses the answer to the next PaymentIntent creation, then passes.
const LOSE_CONFIRM: u8 = 1;

struct Proxy {
    target: String,
    mode: AtomicU8,
    /// `GET /v1/payment_intents` requests seen.
    listings: AtomicUsize,
    http: reqwest::Client,
}

impl Proxy {
    /// Whether the answer to `method path` is lost, moving the mode on.
    fn loses(&self, method: &Method, path: &str) -> bool {
        let creates = method == Method::POST && path == "/v1/payment_intents";
        if method == Method::GET && path == "/v1/payment_intents" {
            self.listings.fetch_add(1, Ordering::SeqCst);
        }
        match self.mode.load(Ordering::SeqCst) {
            LOSE_CONFIRM if creates => {
                self.mode.store(PASS, Ordering::SeqCst);
                true
            }
            _ => false,
        }
    }
}

/// Forwards the request to B; answers B's answer, or a 502 when lost
/// (after B has acted on it).
async fn forward(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Bytes) {
    let url = format!("{}{}", proxy.target, uri);
    let mut request = proxy.http.request(method.clone(), url).body(body);
    for name in ["authorization", "content-type", "idempotency-key"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let answer = request.send().await.expect("B answers the proxy");
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let bytes = answer.bytes().await.unwrap();
    if proxy.loses(&method, uri.path()) {
        return (StatusCode::BAD_GATEWAY, Bytes::from_static(b"lost"));
    }
    (status, bytes)
}

async fn start_proxy(target: &str) -> (String, Arc<Proxy>) {
    let proxy = Arc::new(Proxy {
        target: target.to_owned(),
        mode: AtomicU8::new(PASS),
        listings: AtomicUsize::new(0),
        http: reqwest::Client::new(),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, proxy)
}

struct Gateways {
    a: Api,
    b: Api,
    a_server: TestServer,
    _b_server: TestServer,
    proxy: Arc<Proxy>,
    account: String,
}

async fn setup(backend: Backend) -> (Gateways, [TestDatabase; 2]) {
    let db_b = TestDatabase::new(backend).await;
    let merchant_b = create_merchant(&db_b, "Upstream B");
    let server_b = TestServer::start_with_env(
        &db_b,
        &[],
        &[("PORTCULLIS_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true")],
    );
    let b = Api::new(&server_b, &merchant_b.secret_key);
    let (proxy_url, proxy) = start_proxy(&server_b.base_url).await;

    let db_a = TestDatabase::new(backend).await;
    let merchant_a = create_merchant(&db_a, "Gateway A");
    let a_server = TestServer::start_with_env(
        &db_a,
        &[],
        &[
            ("PORTCULLIS_CONNECTORS_ALLOW_PRIVATE_ENDPOINTS", "true"),
            // Only B's webhook (or the confirm itself) settles attempts here.
            ("PORTCULLIS_ATTEMPT_STALE_MS", "600000"),
        ],
    );
    let a = Api::new(&a_server, &merchant_a.secret_key);
    let created = a
        .post(
            "/v1/connector_accounts",
            &[
                ("type", "stripe"),
                ("endpoint", &proxy_url),
                ("credentials[secret_key]", &merchant_b.secret_key),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let account = created.json()["id"].as_str().unwrap().to_owned();
    let notify_path = format!("/notify/stripe/{account}");
    assert!(created.json()["notify_url"]
        .as_str()
        .unwrap()
        .ends_with(&notify_path));
    let endpoint = b
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", &a_server.url(&notify_path)),
                ("enabled_events[]", "*"),
            ],
        )
        .await;
    assert_eq!(endpoint.status, 200, "{}", endpoint.text);
    let secret = endpoint.json()["secret"].as_str().unwrap().to_owned();
    let updated = a
        .post(
            &format!("/v1/connector_accounts/{account}"),
            &[("credentials[webhook_secret]", &secret)],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let gateways = Gateways {
        a,
        b,
        a_server,
        _b_server: server_b,
        proxy,
        account,
    };
    (gateways, [db_a, db_b])
}

async fn pay(api: &Api, amount: &str, method: &str, extra: &[(&str, &str)]) -> support::Answer {
    let mut form = vec![
        ("amount", amount),
        ("currency", "usd"),
        ("payment_method", method),
        ("confirm", "true"),
    ];
    form.extend_from_slice(extra);
    api.post("/v1/payment_intents", &form).await
}

async fn charge_of(api: &Api, intent_id: &str) -> Value {
    let intent = api.get(&format!("/v1/payment_intents/{intent_id}")).await;
    let charge = intent.json()["latest_charge"].as_str().unwrap().to_owned();
    api.get(&format!("/v1/charges/{charge}")).await.json()
}

/// B's PaymentIntents by the attempt of A they carry in their metadata.
async fn b_intents(b: &Api) -> HashMap<String, Value> {
    let listed = b.get("/v1/payment_intents?limit=100").await.json();
    listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|pi| {
            let attempt = pi["metadata"]["portcullis_attempt"].as_str()?;
            Some((attempt.to_owned(), pi.clone()))
        })
        .collect()
}

/// A's warnings, for a failure's message.
fn warnings(server: &TestServer) -> String {
    server
        .log()
        .lines()
        .filter(|l| l.contains("WARN"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn wait_for_status(api: &Api, intent_id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let intent = api
            .get(&format!("/v1/payment_intents/{intent_id}"))
            .await
            .json();
        if intent["status"] == status {
            return intent;
        }
        assert!(
            Instant::now() < deadline,
            "{intent_id} never became {status}: {intent}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn gateway_a_routes_to_gateway_b_and_their_ledgers_agree(backend: Backend) {
    let (g, dbs) = setup(backend).await;
    let mut paid = Vec::new();

    // Automatic capture, then a partial refund.
    let automatic = pay(&g.a, "2000", "pm_card_visa", &[]).await;
    assert_eq!(automatic.status, 200, "{}", automatic.text);
    assert_eq!(automatic.json()["status"], "succeeded");
    let automatic = automatic.json()["id"].as_str().unwrap().to_owned();
    let routing = charge_of(&g.a, &automatic).await["routing"].clone();
    assert_eq!(routing["connector_account"], g.account.as_str());
    let refund =
        g.a.post(
            "/v1/refunds",
            &[("payment_intent", &automatic), ("amount", "500")],
        )
        .await;
    assert_eq!(refund.status, 200, "{}", refund.text);
    assert_eq!(refund.json()["status"], "succeeded");
    paid.push(automatic);

    // Manual capture of less than authorized, then a full refund.
    let manual = pay(
        &g.a,
        "3000",
        "pm_card_visa",
        &[("capture_method", "manual")],
    )
    .await;
    assert_eq!(
        manual.json()["status"],
        "requires_capture",
        "{}",
        manual.text
    );
    let manual = manual.json()["id"].as_str().unwrap().to_owned();
    let captured =
        g.a.post(
            &format!("/v1/payment_intents/{manual}/capture"),
            &[("amount_to_capture", "2500")],
        )
        .await;
    assert_eq!(captured.status, 200, "{}", captured.text);
    assert_eq!(captured.json()["status"], "succeeded");
    let refund =
        g.a.post("/v1/refunds", &[("payment_intent", &manual)])
            .await;
    assert_eq!(refund.status, 200, "{}", refund.text);
    assert_eq!(refund.json()["amount"], 2500);
    paid.push(manual);

    // Cancel of an uncaptured authorization.
    let canceled = pay(
        &g.a,
        "1500",
        "pm_card_visa",
        &[("capture_method", "manual")],
    )
    .await;
    let canceled = canceled.json()["id"].as_str().unwrap().to_owned();
    let cancel =
        g.a.post(&format!("/v1/payment_intents/{canceled}/cancel"), &[])
            .await;
    assert_eq!(cancel.status, 200, "{}", cancel.text);
    assert_eq!(cancel.json()["status"], "canceled");
    paid.push(canceled.clone());

    // A hard decline at B is a decline at A, with B's decline code.
    let declined = pay(
        &g.a,
        "1000",
        "pm_card_visa_chargeDeclinedInsufficientFunds",
        &[],
    )
    .await;
    assert_eq!(declined.status, 402, "{}", declined.text);
    assert_eq!(
        declined.json()["error"]["decline_code"],
        "insufficient_funds"
    );

    // B authorizes but its answer is lost: the attempt stays pending (one
    // account: nothing to fail over to) until B's signed webhook makes A
    // settle it, by listing B's intents for the one naming the attempt.
    g.proxy.mode.store(LOSE_CONFIRM, Ordering::SeqCst);
    let lost = pay(&g.a, "1200", "pm_card_visa", &[]).await;
    assert_eq!(
        g.proxy.mode.load(Ordering::SeqCst),
        PASS,
        "the answer was lost"
    );
    assert_eq!(lost.json()["status"], "processing", "{}", lost.text);
    let lost_id = lost.json()["id"].as_str().unwrap().to_owned();
    wait_for_status(&g.a, &lost_id, "succeeded").await;
    assert!(
        g.a_server.log().contains("pending attempt settled"),
        "B's webhook settled it: {}",
        warnings(&g.a_server)
    );
    assert!(
        g.proxy.listings.load(Ordering::SeqCst) > 0,
        "A listed B's intents"
    );
    paid.push(lost_id);

    // A forged webhook is refused.
    let forged = reqwest::Client::new()
        .post(g.a_server.url(&format!("/notify/stripe/{}", g.account)))
        .header("stripe-signature", "t=1700000000,v1=00")
        .body(r#"{"data":{"object":{"object":"payment_intent"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    // B's ledger and A's agree, payment by payment.
    let on_b = b_intents(&g.b).await;
    for intent_id in &paid {
        let charge = charge_of(&g.a, intent_id).await;
        let attempts = charge["routing"]["attempts"].as_array().unwrap();
        let attempt = attempts.last().unwrap()["id"].as_str().unwrap();
        let upstream = on_b
            .get(attempt)
            .unwrap_or_else(|| panic!("B holds no intent for {attempt}"));
        let b_charge =
            g.b.get(&format!(
                "/v1/charges/{}",
                upstream["latest_charge"].as_str().unwrap()
            ))
            .await
            .json();
        for field in ["amount_captured", "amount_refunded", "captured"] {
            assert_eq!(
                charge[field], b_charge[field],
                "{field} of {intent_id} on A and B"
            );
        }
        let a_intent =
            g.a.get(&format!("/v1/payment_intents/{intent_id}"))
                .await
                .json();
        assert_eq!(a_intent["status"], upstream["status"], "{intent_id}");
    }
    // One intent at B per attempt that reached it: no double authorization
    // (the paid ones, the declined one, nothing else).
    assert_eq!(on_b.len(), paid.len() + 1, "{:?}", on_b.keys());
    for db in &dbs {
        let verified = cli(db, &["ledger", "verify"]);
        assert!(!verified.is_empty());
    }
    assert!(
        !g.a_server.log().contains("4242424242424242"),
        "no card number in A's log"
    );
}
