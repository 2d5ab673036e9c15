//! Refunds of wallet payments through the gateway against
//! `portcullis wallet-sim`, on SQLite and PostgreSQL: a paid Alipay or
//! WeChat Pay trade is a captured charge (`payment_method_details` of type
//! `alipay` / `wechat_pay`); `POST /v1/refunds` refunds it in full or in
//! several parts through the provider's refund API (`alipay.trade.refund`
//! with `out_request_no`, WeChat Pay `POST /v3/refund/domestic/refunds`),
//! never above what was paid; each refund is booked (`ledger verify`
//! passes) and announced (`charge.refunded`); a refund whose answer the
//! provider dropped is asked again by recovery and refunded once. A refund
//! the provider holds PROCESSING (the simulator's `refunds_processing`
//! fault) answers `pending`, holds its amount, and becomes `succeeded`
//! (booked once) or `failed` (its amount released) when WeChat Pay's
//! `REFUND.*` notification or a later refund query says how it ended.

mod support;
mod wallets;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::{cli, create_merchant, Api, Backend, TestDatabase, TestServer};
use wallets::WalletSim;

const ALLOW_PRIVATE: (&str, &str) = ("PORTCULLIS_CONNECTORS_ALLOW_PRIVATE_ENDPOINTS", "true");
/// Provider calls give up after 1.5 s (a dropped answer then leaves the
/// refund pending) and recovery looks at refunds every 200 ms. A refund
/// that succeeded is settled at once, so recovery's own refund queries
/// cannot take the one answer the simulator drops.
const FAST_RECOVERY: &str = "connector_timeout_ms = 1500\n\
     attempt_stale_ms = 2000\n\
     recovery_interval_ms = 200\n\
     refund_settle_window_ms = 0\n";

struct Setup {
    sim: WalletSim,
    db: TestDatabase,
    _server: TestServer,
    api: Api,
}

/// The simulator, a gateway with `settings`, and one account per wallet.
async fn setup(backend: Backend, settings: &str) -> Setup {
    let sim = WalletSim::start(None, &["--notify-speedup", "100000"]);
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Tea House");
    std::fs::create_dir_all(&db.data_dir).unwrap();
    let config = db.data_dir.join("wallet-refunds.toml");
    std::fs::write(&config, settings).unwrap();
    let server = TestServer::start_with_env(
        &db,
        &["--config", config.to_str().unwrap()],
        &[ALLOW_PRIVATE],
    );
    let api = Api::new(&server, &merchant.secret_key);
    for provider in ["alipay", "wechat_pay"] {
        let form = sim.account_form(provider);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let created = api.post("/v1/connector_accounts", &form).await;
        assert_eq!(created.status, 200, "{}", created.text);
    }
    Setup {
        sim,
        db,
        _server: server,
        api,
    }
}

/// A QR payment of `amount` fen with `provider`, paid on the simulator's
/// customer page; answers the succeeded intent.
async fn paid(s: &Setup, provider: &str, amount: &str) -> Value {
    let option = if provider == "alipay" {
        ("payment_method_options[alipay][channel]", "qr")
    } else {
        ("payment_method_options[wechat_pay][client]", "web")
    };
    let form = [
        ("amount", amount),
        ("currency", "cny"),
        ("payment_method_types[]", provider),
        ("confirm", "true"),
        ("payment_method_data[type]", provider),
        option,
    ];
    let created = s.api.post("/v1/payment_intents", &form).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let intent = created.json();
    let kind = intent["next_action"]["type"].as_str().unwrap().to_owned();
    let data = intent["next_action"][&kind]["data"].as_str().unwrap();
    let encoded: String = form_urlencoded::byte_serialize(data.as_bytes()).collect();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let scanned = client
        .get(format!("{}/scan?data={encoded}", s.sim.base_url))
        .send()
        .await
        .unwrap();
    let page = match scanned.headers().get("location") {
        Some(location) => format!("{}{}", s.sim.base_url, location.to_str().unwrap()),
        None => data.to_owned(),
    };
    assert_eq!(s.sim.act(&page, "pay", "none").await.status(), 200);
    let id = intent["id"].as_str().unwrap();
    let started = Instant::now();
    loop {
        let current = s.api.get(&format!("/v1/payment_intents/{id}")).await.json();
        if current["status"] == "succeeded" {
            return current;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{current}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn refund(api: &Api, intent: &Value, amount: Option<&str>) -> support::Answer {
    let mut form = vec![("payment_intent", intent["id"].as_str().unwrap())];
    if let Some(amount) = amount {
        form.push(("amount", amount));
    }
    api.post("/v1/refunds", &form).await
}

/// The refunds the simulator holds for trade `out_trade_no`, in fen.
async fn sim_refunds(sim: &WalletSim, out_trade_no: &str) -> Vec<i64> {
    let trades = sim.trades().await;
    let trade = trades
        .iter()
        .find(|t| t["out_trade_no"] == out_trade_no)
        .unwrap_or_else(|| panic!("no trade {out_trade_no}"));
    trade["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount_fen"].as_i64().unwrap())
        .collect()
}

/// Waits until the simulator saw `count` notifications of `out_trade_no`
/// acknowledged.
async fn acknowledged(sim: &WalletSim, out_trade_no: &str, count: u64) {
    let started = Instant::now();
    loop {
        let trades = sim.trades().await;
        let trade = trades
            .iter()
            .find(|t| t["out_trade_no"] == out_trade_no)
            .unwrap();
        if trade["notifications_acknowledged"].as_u64().unwrap() >= count {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{trade}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ledger_verifies(db: &TestDatabase) {
    let out = cli(db, &["ledger", "verify"]);
    assert!(out.starts_with("ledger verified: "), "{out}");
}

async fn wallet_payments_refund_in_parts_through_the_provider(backend: Backend) {
    let s = setup(backend, "").await;
    for (provider, total, first, second) in [
        ("alipay", "2000", "500", "1500"),
        ("wechat_pay", "1234", "234", "1000"),
    ] {
        let intent = paid(&s, provider, total).await;
        let charge_id = intent["latest_charge"].as_str().unwrap().to_owned();
        let charge = s.api.get(&format!("/v1/charges/{charge_id}")).await.json();
        assert_eq!(charge["captured"], true, "{charge}");
        assert_eq!(charge["amount_captured"].to_string(), total);
        let details = &charge["payment_method_details"];
        assert_eq!(details["type"], provider, "{details}");
        let trade_no = details[provider]["transaction_id"].as_str().unwrap();
        let trades = s.sim.trades().await;
        let trade = trades
            .iter()
            .find(|t| t["out_trade_no"] == intent["id"])
            .unwrap();
        assert_eq!(trade["trade_no"], trade_no, "{provider}: the provider's id");
        assert!(charge["balance_transaction"].is_string(), "{charge}");
        assert_eq!(
            support::events_about(&s.api, "charge.succeeded", &charge_id).await,
            1
        );

        let one = refund(&s.api, &intent, Some(first)).await;
        assert_eq!(one.status, 200, "{}", one.text);
        assert_eq!(one.json()["status"], "succeeded", "{}", one.text);
        assert_eq!(one.json()["charge"], charge_id.as_str());
        let destination = &one.json()["destination_details"];
        assert_eq!(destination["type"], provider, "{destination}");
        assert!(destination[provider].is_object(), "{destination}");
        // More than what remains is refused before the provider is asked.
        let too_much = refund(&s.api, &intent, Some(total)).await;
        assert_eq!(too_much.status, 400, "{}", too_much.text);
        assert_eq!(too_much.json()["error"]["code"], "amount_too_large");
        let rest = refund(&s.api, &intent, None).await;
        assert_eq!(rest.status, 200, "{}", rest.text);
        assert_eq!(rest.json()["amount"].to_string(), second);
        assert_eq!(rest.json()["status"], "succeeded", "{}", rest.text);
        let again = refund(&s.api, &intent, Some("1")).await;
        assert_eq!(again.status, 400, "{}", again.text);
        assert_eq!(again.json()["error"]["code"], "charge_already_refunded");

        let refunds = sim_refunds(&s.sim, intent["id"].as_str().unwrap()).await;
        let expected: Vec<i64> = [first, second].iter().map(|a| a.parse().unwrap()).collect();
        assert_eq!(refunds, expected, "{provider}: refunded at the provider");
        let charge = s.api.get(&format!("/v1/charges/{charge_id}")).await.json();
        assert_eq!(charge["refunded"], true, "{charge}");
        assert_eq!(charge["amount_refunded"].to_string(), total);
        assert_eq!(
            support::events_about(&s.api, "charge.refunded", &charge_id).await,
            2
        );
        if provider == "wechat_pay" {
            // The payment's and both refunds' notifications (REFUND.SUCCESS,
            // decrypted with the API v3 key) were acknowledged.
            acknowledged(&s.sim, intent["id"].as_str().unwrap(), 3).await;
            let charge = s.api.get(&format!("/v1/charges/{charge_id}")).await.json();
            assert_eq!(charge["amount_refunded"].to_string(), total, "{charge}");
        }
    }
    let refunds = s
        .api
        .get("/v1/balance_transactions?type=refund")
        .await
        .json();
    let amounts: Vec<i64> = refunds["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts.iter().sum::<i64>(), -(2000 + 1234), "{refunds}");
    ledger_verifies(&s.db);
}

async fn a_refund_whose_answer_is_lost_is_asked_again_once(backend: Backend) {
    let s = setup(backend, FAST_RECOVERY).await;
    for provider in ["alipay", "wechat_pay"] {
        let intent = paid(&s, provider, "880").await;
        let dropped = reqwest::Client::new()
            .post(format!("{}/sim/faults", s.sim.base_url))
            .json(&serde_json::json!({"drop_answers": 1}))
            .send()
            .await
            .unwrap();
        assert!(dropped.status().is_success());
        let created = refund(&s.api, &intent, Some("300")).await;
        assert_eq!(created.status, 200, "{}", created.text);
        let pending = created.json();
        assert_eq!(pending["status"], "pending", "{provider}: {pending}");
        let id = pending["id"].as_str().unwrap();
        let started = Instant::now();
        let settled = loop {
            let current = s.api.get(&format!("/v1/refunds/{id}")).await.json();
            if current["status"] != "pending" {
                break current;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{provider}: {current}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(settled["status"], "succeeded", "{provider}: {settled}");
        let refunds = sim_refunds(&s.sim, intent["id"].as_str().unwrap()).await;
        assert_eq!(refunds, vec![300], "{provider}: refunded once");
        let rest = refund(&s.api, &intent, None).await;
        assert_eq!(rest.json()["amount"], 580, "{}", rest.text);
    }
    ledger_verifies(&s.db);
}

/// Recovery never runs during the test: only a notification settles.
const NO_RECOVERY: &str = "recovery_interval_ms = 600000\n\
     refund_settle_window_ms = 0\n";

/// The simulator holds the next refund PROCESSING, ending `then` on `on`.
async fn hold_next_refund(sim: &WalletSim, then: &str, on: &str) {
    let held = reqwest::Client::new()
        .post(format!("{}/sim/faults", sim.base_url))
        .json(&serde_json::json!({"refunds_processing": 1, "then": then, "resolve_on": on}))
        .send()
        .await
        .unwrap();
    assert!(held.status().is_success());
}

/// Ends a held refund at the simulator (WeChat Pay then notifies).
async fn resolve_at_provider(sim: &WalletSim, refund_id: &str) {
    let resolved = reqwest::Client::new()
        .post(format!("{}/sim/refunds/{refund_id}/resolve", sim.base_url))
        .send()
        .await
        .unwrap();
    assert!(resolved.status().is_success(), "{refund_id}");
}

/// A pending refund of `amount` on `intent`, held by the provider.
async fn pending_refund(s: &Setup, intent: &Value, amount: &str) -> String {
    let created = refund(&s.api, intent, Some(amount)).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let pending = created.json();
    assert_eq!(pending["status"], "pending", "{pending}");
    pending["id"].as_str().unwrap().to_owned()
}

async fn settled_refund(api: &Api, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let current = api.get(&format!("/v1/refunds/{id}")).await.json();
        if current["status"] != "pending" {
            return current;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{current}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn amount_refunded(api: &Api, intent: &Value) -> i64 {
    let charge = intent["latest_charge"].as_str().unwrap();
    let charge = api.get(&format!("/v1/charges/{charge}")).await.json();
    charge["amount_refunded"].as_i64().unwrap()
}

/// The refund balance transactions booked for refund `id`.
async fn refund_bookings(api: &Api, id: &str) -> Vec<i64> {
    let booked = api
        .get("/v1/balance_transactions?type=refund&limit=100")
        .await
        .json();
    booked["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["source"] == id)
        .map(|t| t["amount"].as_i64().unwrap())
        .collect()
}

async fn a_processing_wechat_refund_ends_with_its_notification(backend: Backend) {
    let s = setup(backend, NO_RECOVERY).await;
    let intent = paid(&s, "wechat_pay", "1000").await;
    hold_next_refund(&s.sim, "SUCCESS", "resolve").await;
    let id = pending_refund(&s, &intent, "400").await;
    // The pending refund holds its amount: no more than the rest may go.
    assert_eq!(amount_refunded(&s.api, &intent).await, 400);
    let too_much = refund(&s.api, &intent, Some("601")).await;
    assert_eq!(too_much.json()["error"]["code"], "amount_too_large");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still = s.api.get(&format!("/v1/refunds/{id}")).await.json();
    assert_eq!(still["status"], "pending", "{still}");

    resolve_at_provider(&s.sim, &id).await;
    let done = settled_refund(&s.api, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        refund_bookings(&s.api, &id).await,
        vec![-400],
        "booked once"
    );
    let charge = intent["latest_charge"].as_str().unwrap();
    assert_eq!(
        support::events_about(&s.api, "charge.refunded", charge).await,
        1
    );

    // ABNORMAL (the buyer's account cannot take it): failed, released.
    hold_next_refund(&s.sim, "ABNORMAL", "resolve").await;
    let abnormal = pending_refund(&s, &intent, "600").await;
    assert_eq!(amount_refunded(&s.api, &intent).await, 1000);
    resolve_at_provider(&s.sim, &abnormal).await;
    let failed = settled_refund(&s.api, &abnormal).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["failure_reason"].is_string(), "{failed}");
    assert_eq!(amount_refunded(&s.api, &intent).await, 400);
    assert_eq!(
        support::events_about(&s.api, "refund.failed", &abnormal).await,
        1
    );
    let rest = refund(&s.api, &intent, None).await;
    assert_eq!(rest.json()["amount"], 600, "{}", rest.text);
    assert_eq!(rest.json()["status"], "succeeded", "{}", rest.text);
    assert_eq!(amount_refunded(&s.api, &intent).await, 1000);
    ledger_verifies(&s.db);
}

async fn processing_refunds_end_on_a_later_query(backend: Backend) {
    let s = setup(backend, FAST_RECOVERY).await;
    // Alipay: fund_change "N", then REFUND_SUCCESS on the refund query.
    let intent = paid(&s, "alipay", "900").await;
    hold_next_refund(&s.sim, "SUCCESS", "query").await;
    let id = pending_refund(&s, &intent, "900").await;
    let done = settled_refund(&s.api, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        refund_bookings(&s.api, &id).await,
        vec![-900],
        "booked once"
    );
    assert_eq!(
        sim_refunds(&s.sim, intent["id"].as_str().unwrap()).await,
        vec![900]
    );

    // WeChat Pay: CLOSED on the query: failed, the amount refundable again.
    let intent = paid(&s, "wechat_pay", "700").await;
    hold_next_refund(&s.sim, "CLOSED", "query").await;
    let id = pending_refund(&s, &intent, "700").await;
    let failed = settled_refund(&s.api, &id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(amount_refunded(&s.api, &intent).await, 0);
    let again = refund(&s.api, &intent, None).await;
    assert_eq!(again.json()["status"], "succeeded", "{}", again.text);
    assert_eq!(again.json()["amount"], 700, "{}", again.text);
    ledger_verifies(&s.db);
}

on_both_backends!(
    wallet_payments_refund_in_parts_through_the_provider,
    a_refund_whose_answer_is_lost_is_asked_again_once,
    a_processing_wechat_refund_ends_with_its_notification,
    processing_refunds_end_on_a_later_query,
);
