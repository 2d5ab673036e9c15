//! Test helpers through the real binary, on SQLite and on PostgreSQL, with
//! the default delays (funds settle after two days, payouts arrive a day
//! later): `POST /v1/test_helpers/balance/settle` makes pending funds
//! available now, `POST /v1/test_helpers/payouts/{id}/pay` pays a payout
//! now, both book exactly what the worker would (`ledger verify` passes),
//! and a live-mode key is refused with 400 `livemode_mismatch`.

mod support;

use serde_json::Value;
use std::process::Command;
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

on_both_backends!(
    a_payment_becomes_a_paid_payout_without_waiting,
    live_mode_keys_cannot_use_test_helpers,
);

async fn ok(api: &Api, path: &str, form: &[(&str, &str)]) -> Value {
    let answer = api.post(path, form).await;
    assert_eq!(answer.status, 200, "POST {path}: {}", answer.text);
    answer.json()
}

/// The USD amount of one bucket of a `balance` object.
fn usd(balance: &Value, bucket: &str) -> i64 {
    balance[bucket]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["currency"] == "usd")
        .map_or(0, |entry| entry["amount"].as_i64().unwrap())
}

fn ledger_verify(db: &TestDatabase) -> (bool, String) {
    let output = Command::new(support::binary())
        .args(["ledger", "verify", "--database-url", &db.url])
        .args(["--data-dir", db.data_dir.to_str().unwrap()])
        .env("PORTCULLIS_LOG", "warn")
        .output()
        .expect("run portcullis ledger verify");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

async fn a_payment_becomes_a_paid_payout_without_waiting(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);

    let form = [
        ("amount", "10000"),
        ("currency", "usd"),
        ("confirm", "true"),
        ("payment_method", "pm_card_visa"),
    ];
    let intent = ok(&api, "/v1/payment_intents", &form).await;
    assert_eq!(intent["status"], "succeeded", "{intent}");
    let before = api.get("/v1/balance").await.json();
    let pending = usd(&before, "pending");
    assert!(pending > 0, "the capture is pending for two days: {before}");
    assert_eq!(usd(&before, "available"), 0);

    // Only another currency: nothing of the USD funds moves.
    let eur_only = ok(
        &api,
        "/v1/test_helpers/balance/settle",
        &[("currency", "eur")],
    )
    .await;
    assert_eq!(usd(&eur_only, "pending"), pending, "{eur_only}");

    let settled = ok(&api, "/v1/test_helpers/balance/settle", &[]).await;
    assert_eq!(settled["object"], "balance");
    assert_eq!(usd(&settled, "available"), pending, "{settled}");
    assert_eq!(usd(&settled, "pending"), 0, "{settled}");
    // The balance transaction says when it became available: now, not in two days.
    let txns = api.get("/v1/balance_transactions?limit=1").await.json();
    let txn = &txns["data"][0];
    assert_eq!(txn["status"], "available", "{txn}");
    assert!(txn["available_on"].as_i64().unwrap() <= txn["created"].as_i64().unwrap() + 60);
    // Again: nothing left to settle, nothing moves twice.
    let again = ok(&api, "/v1/test_helpers/balance/settle", &[]).await;
    assert_eq!(usd(&again, "available"), pending);

    let amount = pending.to_string();
    let payout = ok(
        &api,
        "/v1/payouts",
        &[("amount", amount.as_str()), ("currency", "usd")],
    )
    .await;
    assert_eq!(payout["status"], "pending");
    let id = payout["id"].as_str().unwrap();
    let path = format!("/v1/test_helpers/payouts/{id}/pay");
    let paid = ok(&api, &path, &[]).await;
    assert_eq!(paid["object"], "payout");
    assert_eq!(paid["status"], "paid", "{paid}");
    assert!(paid["arrival_date"].as_i64().unwrap() < payout["arrival_date"].as_i64().unwrap());
    let after = api.get("/v1/balance").await.json();
    assert_eq!(
        (
            usd(&after, "available"),
            usd(&after, "pending"),
            usd(&after, "reserved")
        ),
        (0, 0, 0),
        "{after}"
    );
    let events = api.get("/v1/events?type=payout.paid").await.json();
    assert_eq!(events["data"][0]["data"]["object"]["id"], id, "{events}");

    // A paid payout is paid once.
    let twice = api.post(&path, &[]).await;
    assert_eq!(twice.status, 400, "{}", twice.text);
    assert_eq!(twice.json()["error"]["code"], "payout_not_pending");
    let missing = api
        .post("/v1/test_helpers/payouts/po_missing/pay", &[])
        .await;
    assert_eq!(missing.status, 404, "{}", missing.text);
    let unknown = api
        .post("/v1/test_helpers/balance/settle", &[("amount", "1")])
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.text);
    assert_eq!(unknown.json()["error"]["code"], "parameter_unknown");

    drop(server);
    let (verified, output) = ledger_verify(&db);
    assert!(
        verified,
        "ledger verify failed after the test helpers: {output}"
    );
}

async fn live_mode_keys_cannot_use_test_helpers(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let key = support::cli(
        &db,
        &[
            "key",
            "create",
            "--merchant",
            &merchant.id,
            "--kind",
            "secret",
            "--mode",
            "live",
            "--json",
        ],
    );
    let key: Value = serde_json::from_str(key.trim()).unwrap();
    let server = TestServer::start(&db);
    let live = Api::new(&server, key["key"].as_str().unwrap());
    for path in [
        "/v1/test_helpers/balance/settle",
        "/v1/test_helpers/payouts/po_anything/pay",
    ] {
        let answer = live.post(path, &[]).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.text);
        let error = &answer.json()["error"];
        assert_eq!(error["type"], "invalid_request_error");
        assert_eq!(error["code"], "livemode_mismatch");
        assert!(
            error["message"].as_str().unwrap().contains("test mode"),
            "{error}"
        );
    }
}
