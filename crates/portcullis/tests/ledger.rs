//! The ledger through the real binary, on SQLite and on PostgreSQL: a
//! capture, a partial refund, a failed refund, a disputed card, settlement
//! and payouts move the balances as the fee schedule says, `GET
//! /v1/balance` shows them, a payout above the available balance is
//! refused, and `portcullis ledger verify` passes after the run; then rows
//! changed, reordered and deleted behind the gateway's back (triggers
//! dropped first, as an attacker with database access would) make it fail,
//! naming the entry.

mod support;

use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

/// Settles at once and pays payouts after two seconds; the worker and the
/// refund poller run every 100–200 ms.
const FAST_LEDGER: &str = "ledger_worker_interval_ms = 100\n\
    recovery_interval_ms = 200\n\
    sandbox_refund_settle_ms = 500\n\
    refund_settle_window_ms = 2000\n\
    [ledger.default]\n\
    settlement_delay_s = 1\n\
    payout_delay_s = 2\n\
    fees = [{ currency = \"usd\", basis_points = 290, fixed_minor = 30 }]\n\
    dispute_fees = [{ currency = \"usd\", amount_minor = 1500 }]\n";

struct Env {
    db: TestDatabase,
    server: TestServer,
    api: Api,
}

async fn setup(backend: Backend) -> Env {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let path = db.data_dir.join("ledger-test.toml");
    std::fs::write(&path, FAST_LEDGER).unwrap();
    let server = TestServer::start_with(&db, &["--config", path.to_str().unwrap()]);
    let api = Api::new(&server, &merchant.secret_key);
    Env { db, server, api }
}

async fn ok(api: &Api, path: &str, form: &[(&str, &str)]) -> Value {
    let answer = api.post(path, form).await;
    assert_eq!(answer.status, 200, "POST {path}: {}", answer.text);
    answer.json()
}

async fn get(api: &Api, path: &str) -> Value {
    let answer = api.get(path).await;
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.text);
    answer.json()
}

/// (available, pending, reserved) in USD.
async fn usd_balance(api: &Api) -> (i64, i64, i64) {
    let balance = get(api, "/v1/balance").await;
    assert_eq!(balance["object"], "balance");
    let of = |bucket: &str| {
        balance[bucket]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["currency"] == "usd")
            .map_or(0, |entry| entry["amount"].as_i64().unwrap())
    };
    (of("available"), of("pending"), of("reserved"))
}

/// Polls the balance until it is `expected`, for at most ten seconds.
async fn balance_becomes(api: &Api, expected: (i64, i64, i64)) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = usd_balance(api).await;
        if found == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "balance is {found:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn pay(api: &Api, payment_method: &str, amount: &str) -> Value {
    let form = [
        ("amount", amount),
        ("currency", "usd"),
        ("confirm", "true"),
        ("payment_method", payment_method),
    ];
    let intent = ok(api, "/v1/payment_intents", &form).await;
    assert_eq!(intent["status"], "succeeded", "{intent}");
    let charge = intent["latest_charge"].as_str().unwrap();
    get(api, &format!("/v1/charges/{charge}")).await
}

async fn pay_disputed(api: &Api, amount: &str) -> Value {
    let form = [
        ("amount", amount),
        ("currency", "usd"),
        ("confirm", "true"),
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", "4000000000000259"),
        ("payment_method_data[card][exp_month]", "12"),
        ("payment_method_data[card][exp_year]", "2040"),
        ("payment_method_data[card][cvc]", "123"),
    ];
    let intent = ok(api, "/v1/payment_intents", &form).await;
    let charge = intent["latest_charge"].as_str().unwrap();
    get(api, &format!("/v1/charges/{charge}")).await
}

async fn txn(api: &Api, object: &Value) -> Value {
    let id = object["balance_transaction"]
        .as_str()
        .unwrap_or_else(|| panic!("no balance_transaction: {object}"));
    get(api, &format!("/v1/balance_transactions/{id}")).await
}

/// Runs `portcullis ledger …`; its exit success and its output.
fn ledger_cli(db: &TestDatabase, args: &[&str]) -> (bool, String) {
    let output = Command::new(support::binary())
        .arg("ledger")
        .args(args)
        .args([
            "--database-url",
            &db.url,
            "--data-dir",
            db.data_dir.to_str().unwrap(),
        ])
        .env("PORTCULLIS_LOG", "warn")
        .output()
        .expect("run portcullis ledger");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

on_both_backends!(
    captures_refunds_disputes_settlements_and_payouts_move_the_balance,
    tampered_ledger_rows_fail_verification_naming_the_entry,
);

async fn captures_refunds_disputes_settlements_and_payouts_move_the_balance(backend: Backend) {
    let env = setup(backend).await;
    let api = &env.api;
    assert_eq!(usd_balance(api).await, (0, 0, 0));

    // A capture of 100.00: fee 2.9% + 0.30 = 3.20, net 96.80 pending.
    let charge = pay(api, "pm_card_visa", "10000").await;
    let captured = txn(api, &charge).await;
    assert_eq!(
        (
            captured["type"].clone(),
            captured["amount"].clone(),
            captured["fee"].clone(),
            captured["net"].clone()
        ),
        ("charge".into(), 10000.into(), 320.into(), 9680.into())
    );
    assert_eq!(captured["source"], charge["id"]);
    assert_eq!(captured["fee_details"][0]["amount"], 320);
    assert!(captured["available_on"].as_i64().unwrap() > captured["created"].as_i64().unwrap());

    // A partial refund of 25.00 is taken from the available balance at once.
    let refund = ok(
        api,
        "/v1/refunds",
        &[
            ("charge", charge["id"].as_str().unwrap()),
            ("amount", "2500"),
        ],
    )
    .await;
    let refunded = txn(api, &refund).await;
    assert_eq!(
        (
            refunded["type"].clone(),
            refunded["amount"].clone(),
            refunded["net"].clone(),
            refunded["status"].clone()
        ),
        (
            "refund".into(),
            (-2500).into(),
            (-2500).into(),
            "available".into()
        )
    );

    // The disputed card: 50.00 captured (fee 1.75), then 50.00 and a 15.00 fee withdrawn.
    let disputed = pay_disputed(api, "5000").await;
    assert_eq!(disputed["disputed"], true);
    let adjustments = get(api, "/v1/balance_transactions?type=adjustment").await;
    let dispute = &adjustments["data"][0];
    assert_eq!(
        (
            dispute["amount"].clone(),
            dispute["fee"].clone(),
            dispute["net"].clone()
        ),
        ((-5000).into(), 1500.into(), (-6500).into())
    );

    // A refund that the acquirer fails later is given back by a reversal.
    let failing = pay(api, "pm_card_refundFail", "2000").await; // fee 88, net 1912
    let refund = ok(
        api,
        "/v1/refunds",
        &[
            ("charge", failing["id"].as_str().unwrap()),
            ("amount", "700"),
        ],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let failed = loop {
        let now = get(
            api,
            &format!("/v1/refunds/{}", refund["id"].as_str().unwrap()),
        )
        .await;
        if now["status"] == "failed" {
            break now;
        }
        assert!(Instant::now() < deadline, "the refund did not fail: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let id = failed["failure_balance_transaction"].as_str().unwrap();
    let reversal = get(api, &format!("/v1/balance_transactions/{id}")).await;
    assert_eq!(
        (reversal["type"].clone(), reversal["amount"].clone()),
        ("refund_failure".into(), 700.into())
    );

    // Settled: 9680 + 4825 + 1912 − 2500 − 6500 = 7417 available.
    balance_becomes(api, (7417, 0, 0)).await;
    let settled = txn(api, &charge).await;
    assert_eq!(settled["status"], "available");

    // A payout above the available balance is refused; one within it reserves it.
    let refused = api
        .post("/v1/payouts", &[("amount", "7418"), ("currency", "usd")])
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json()["error"]["code"], "balance_insufficient");
    let first = ok(
        api,
        "/v1/payouts",
        &[("amount", "1000"), ("currency", "usd")],
    )
    .await;
    assert_eq!(
        (first["object"].clone(), first["status"].clone()),
        ("payout".into(), "pending".into())
    );
    assert_eq!(usd_balance(api).await, (6417, 0, 1000));
    let canceled = ok(
        api,
        &format!("/v1/payouts/{}/cancel", first["id"].as_str().unwrap()),
        &[],
    )
    .await;
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(usd_balance(api).await, (7417, 0, 0));

    let payout = ok(
        api,
        "/v1/payouts",
        &[("amount", "7417"), ("currency", "usd")],
    )
    .await;
    let payout_txn = txn(api, &payout).await;
    assert_eq!(
        (payout_txn["type"].clone(), payout_txn["amount"].clone()),
        ("payout".into(), (-7417).into())
    );
    assert_eq!(usd_balance(api).await, (0, 0, 7417));
    balance_becomes(api, (0, 0, 0)).await;
    let paid = get(
        api,
        &format!("/v1/payouts/{}", payout["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(paid["status"], "paid");
    let again = api
        .post(
            &format!("/v1/payouts/{}/cancel", payout["id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(again.status, 400, "{}", again.text);
    let payouts = get(api, "/v1/payouts").await;
    assert_eq!(payouts["data"].as_array().unwrap().len(), 2);

    let (verified, output) = ledger_cli(&env.db, &["verify"]);
    assert!(verified, "{output}");
    assert!(output.contains("ledger verified"), "{output}");
}

/// Runs SQL on the test database behind the gateway's back.
async fn attack(db: &TestDatabase, backend: Backend, sql: &str) -> Result<(), String> {
    match backend {
        Backend::Sqlite => {
            let path = db.url.strip_prefix("sqlite://").unwrap();
            let conn = rusqlite::Connection::open(path).unwrap();
            // The attacker's own connection, without foreign key checks.
            conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
            conn.execute_batch(sql).map_err(|e| e.to_string())
        }
        Backend::Postgres => {
            let output = Command::new("psql")
                .args([db.url.as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql])
                .output()
                .expect("run psql");
            if output.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&output.stderr).into_owned())
            }
        }
    }
}

const DROP_TRIGGERS_SQLITE: &str = "DROP TRIGGER ledger_transactions_no_update; \
    DROP TRIGGER ledger_transactions_no_delete; \
    DROP TRIGGER ledger_postings_no_update; \
    DROP TRIGGER ledger_postings_no_delete;";
const DROP_TRIGGERS_POSTGRES: &str =
    "DROP TRIGGER ledger_transactions_append_only ON ledger_transactions; \
    DROP TRIGGER ledger_postings_append_only ON ledger_postings; \
    ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_transaction_sequence_fkey;";

/// Swaps entries 2 and 3 (their postings go with them); running it twice restores them.
const SWAP_2_AND_3: &str =
    "UPDATE ledger_postings SET transaction_sequence = -2 WHERE transaction_sequence = 2; \
    UPDATE ledger_transactions SET sequence = -2 WHERE sequence = 2; \
    UPDATE ledger_postings SET transaction_sequence = 2 WHERE transaction_sequence = 3; \
    UPDATE ledger_transactions SET sequence = 2 WHERE sequence = 3; \
    UPDATE ledger_postings SET transaction_sequence = 3 WHERE transaction_sequence = -2; \
    UPDATE ledger_transactions SET sequence = 3 WHERE sequence = -2;";

async fn tampered_ledger_rows_fail_verification_naming_the_entry(backend: Backend) {
    let mut env = setup(backend).await;
    let charge = pay(&env.api, "pm_card_visa", "10000").await;
    ok(
        &env.api,
        "/v1/refunds",
        &[
            ("charge", charge["id"].as_str().unwrap()),
            ("amount", "1000"),
        ],
    )
    .await;
    pay(&env.api, "pm_card_mastercard", "3000").await;
    balance_becomes(&env.api, (9680 - 1000 + 2883, 0, 0)).await;
    env.server.terminate();
    let db = &env.db;
    let (verified, output) = ledger_cli(db, &["verify"]);
    assert!(verified, "{output}");
    let (signed, _) = ledger_cli(
        db,
        &[
            "checkpoint",
            "--out",
            db.data_dir.join("checkpoint.json").to_str().unwrap(),
        ],
    );
    assert!(signed);

    // The triggers refuse edits even to someone with SQL access …
    let refused = attack(
        db,
        backend,
        "UPDATE ledger_postings SET amount_minor = 1 WHERE transaction_sequence = 2",
    )
    .await;
    assert!(refused.unwrap_err().contains("append-only"));
    // … who must drop them first.
    let drop = if backend == Backend::Sqlite {
        DROP_TRIGGERS_SQLITE
    } else {
        DROP_TRIGGERS_POSTGRES
    };
    attack(db, backend, drop).await.unwrap();

    // Changed: a posting's amount.
    let change = "UPDATE ledger_postings SET amount_minor = amount_minor + 1 WHERE transaction_sequence = 2 AND position = 0";
    attack(db, backend, change).await.unwrap();
    let (verified, output) = ledger_cli(db, &["verify"]);
    assert!(!verified, "verify passed a changed posting: {output}");
    assert!(
        output.contains("entry 2 (ltx_") && output.contains("posting rows differ"),
        "{output}"
    );
    attack(db, backend, &change.replace("+ 1", "- 1"))
        .await
        .unwrap();
    assert!(ledger_cli(db, &["verify"]).0, "restored");

    // Changed: the hashed content itself.
    let (_, before) = ledger_cli(db, &["verify"]);
    let rewrite = "UPDATE ledger_transactions SET content = replace(content, 'created=', 'created=1') WHERE sequence = 3";
    attack(db, backend, rewrite).await.unwrap();
    let (verified, output) = ledger_cli(db, &["verify"]);
    assert!(
        !verified && output.contains("entry 3 (ltx_") && output.contains("hash does not match"),
        "{output}"
    );
    attack(db, backend, "UPDATE ledger_transactions SET content = replace(content, 'created=1', 'created=') WHERE sequence = 3").await.unwrap();
    assert_eq!(ledger_cli(db, &["verify"]), (true, before), "restored");

    // Reordered: entries 2 and 3 swap places.
    attack(db, backend, SWAP_2_AND_3).await.unwrap();
    let (verified, output) = ledger_cli(db, &["verify"]);
    assert!(
        !verified && output.contains("entry 2 (ltx_") && output.contains("previous_hash"),
        "{output}"
    );
    attack(db, backend, SWAP_2_AND_3).await.unwrap();
    let checkpoint = db.data_dir.join("checkpoint.json");
    let (verified, output) = ledger_cli(
        db,
        &["verify", "--checkpoint", checkpoint.to_str().unwrap()],
    );
    assert!(verified && output.contains("checkpoint holds"), "{output}");

    // Deleted: entry 2 and its postings.
    attack(db, backend, "DELETE FROM ledger_postings WHERE transaction_sequence = 2; DELETE FROM ledger_transactions WHERE sequence = 2").await.unwrap();
    let (verified, output) = ledger_cli(db, &["verify"]);
    assert!(
        !verified && output.contains("entry 3 (ltx_") && output.contains("expected entry 2"),
        "{output}"
    );
}
