//! Payments routed to `portcullis acquirer-sim` over TCP (ISO 8583, the
//! `[connectors.<name>]` settings): they succeed and decline as the sandbox
//! does, capture, cancel and refund reach the simulator as 0220, 0400 and
//! 0200/200000, and the simulator's journal and settlement file agree with
//! the gateway. Under injected faults every approval ends captured or
//! reversed. Both backends.

mod support;

use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};
use support::acquirer_sim::{journal_entries, Simulator};
use support::{binary, create_merchant, Api, Backend, Merchant, TestDatabase, TestServer};

fn start_simulator(db: &TestDatabase, extra: &[&str]) -> Simulator {
    Simulator::start(&db.data_dir.join("acquirer-sim.jsonl"), extra)
}

fn start_gateway(
    db: &TestDatabase,
    sim: &Simulator,
    merchant: &Merchant,
    timing: &str,
) -> TestServer {
    start_gateway_with_env(db, sim, merchant, timing, &[])
}

fn start_gateway_with_env(
    db: &TestDatabase,
    sim: &Simulator,
    merchant: &Merchant,
    timing: &str,
    env: &[(&str, &str)],
) -> TestServer {
    let config = db.data_dir.join("iso8583.toml");
    std::fs::write(
        &config,
        format!(
            "{timing}\n[connectors.sim]\ntype = \"iso8583\"\naddress = \"{}\"\n\
             acquirer_id = \"12345\"\ncard_acceptor_id = \"MERCHANT0000001\"\n\
             terminal_id = \"TERM0001\"\nmerchants = [\"{}\"]\n",
            sim.address, merchant.id
        ),
    )
    .unwrap();
    TestServer::start_with_env(db, &["--config", config.to_str().unwrap()], env)
}

fn of_type<'a>(entries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["type"] == kind).collect()
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

on_both_backends!(payments_go_through_acquirer_sim_like_the_sandbox);

async fn payments_go_through_acquirer_sim_like_the_sandbox(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let routed = create_merchant(&db, "Routed");
    let other = create_merchant(&db, "Sandbox");
    let sim = start_simulator(&db, &[]);
    let server = start_gateway(&db, &sim, &routed, "");
    let api = Api::new(&server, &routed.secret_key);

    let paid = pay(&api, "2500", "pm_card_visa", &[]).await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.json()["status"], "succeeded");
    for (method, decline_code) in [
        ("pm_card_visa_chargeDeclined", "generic_decline"),
        (
            "pm_card_visa_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
        ),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card"),
    ] {
        let declined = pay(&api, "2600", method, &[]).await;
        assert_eq!(declined.status, 402, "{method}: {}", declined.text);
        assert_eq!(
            declined.json()["error"]["decline_code"],
            decline_code,
            "{method}"
        );
    }

    let held = pay(
        &api,
        "3000",
        "pm_card_mastercard",
        &[("capture_method", "manual")],
    )
    .await;
    assert_eq!(held.json()["status"], "requires_capture", "{}", held.text);
    let held_id = held.json()["id"].as_str().unwrap().to_owned();
    let captured = api
        .post(
            &format!("/v1/payment_intents/{held_id}/capture"),
            &[("amount_to_capture", "2000")],
        )
        .await;
    assert_eq!(captured.json()["status"], "succeeded", "{}", captured.text);
    let refund = api
        .post(
            "/v1/refunds",
            &[("payment_intent", held_id.as_str()), ("amount", "500")],
        )
        .await;
    assert_eq!(refund.status, 200, "{}", refund.text);
    assert_eq!(refund.json()["status"], "succeeded");

    let voided = pay(
        &api,
        "4000",
        "pm_card_visa",
        &[("capture_method", "manual")],
    )
    .await;
    let voided_id = voided.json()["id"].as_str().unwrap().to_owned();
    let canceled = api
        .post(&format!("/v1/payment_intents/{voided_id}/cancel"), &[])
        .await;
    assert_eq!(canceled.json()["status"], "canceled", "{}", canceled.text);

    // Another merchant still pays through the sandbox: nothing reaches the simulator.
    let sandbox_paid = pay(
        &Api::new(&server, &other.secret_key),
        "9900",
        "pm_card_visa",
        &[],
    )
    .await;
    assert_eq!(
        sandbox_paid.json()["status"],
        "succeeded",
        "{}",
        sandbox_paid.text
    );

    let entries = journal_entries(&sim.journal);
    let amounts = |kind: &str| -> Vec<i64> {
        of_type(&entries, kind)
            .iter()
            .map(|e| e["amount"].as_i64().unwrap_or(-1))
            .collect()
    };
    assert_eq!(amounts("approval"), [2500, 3000, 4000], "{entries:#?}");
    assert_eq!(amounts("completion"), [2000]);
    assert_eq!(amounts("refund"), [500]);
    assert_eq!(of_type(&entries, "reversal").len(), 1);
    let text = std::fs::read_to_string(&sim.journal).unwrap();
    assert!(!text.contains("4242424242424242") && !text.contains("5555555555554444"));

    let date = entries[0]["date"].as_str().unwrap();
    let csv = Command::new(binary())
        .args(["acquirer-sim", "settlement", "--journal"])
        .arg(&sim.journal)
        .args(["--date", date])
        .output()
        .unwrap();
    assert!(csv.status.success());
    let csv = String::from_utf8(csv.stdout).unwrap();
    let kinds: Vec<(&str, &str)> = csv
        .lines()
        .skip(1)
        .map(|line| {
            let columns: Vec<&str> = line.split(',').collect();
            (columns[5], columns[7])
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("2500", "purchase"),
            ("2000", "completion"),
            ("500", "refund")
        ],
        "{csv}"
    );
}

/// Waits until no payment intent of the merchant is `processing`.
async fn settled_intents(api: &Api) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = api.get("/v1/payment_intents?limit=100").await.json();
        let intents = listed["data"].as_array().unwrap().clone();
        if intents.iter().all(|i| i["status"] != "processing") || Instant::now() > deadline {
            return intents;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

on_both_backends!(under_each_fault_every_approval_ends_captured_or_reversed);

async fn under_each_fault_every_approval_ends_captured_or_reversed(backend: Backend) {
    let mut reversals = 0;
    for fault in [
        "drop:40",
        "late:40",
        "close:40",
        "garbage:40",
        "duplicate:40",
    ] {
        let db = TestDatabase::new(backend).await;
        let merchant = create_merchant(&db, "Faulty");
        let sim = start_simulator(&db, &["--fault", fault, "--late-ms", "1500"]);
        let timing =
            "connector_timeout_ms = 800\nattempt_stale_ms = 1000\nrecovery_interval_ms = 200";
        let server = start_gateway(&db, &sim, &merchant, timing);
        let api = Api::new(&server, &merchant.secret_key);
        for index in 0..8 {
            let amount = (1000 + index).to_string();
            let _ = pay(&api, &amount, "pm_card_visa", &[]).await;
        }
        let intents = settled_intents(&api).await;
        let entries = journal_entries(&sim.journal);
        // Give background reversals their retries.
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut open, mut succeeded) = (Vec::new(), Vec::new());
        while Instant::now() < deadline {
            let entries = journal_entries(&sim.journal);
            let reversed: Vec<&str> = of_type(&entries, "reversal")
                .iter()
                .map(|e| e["rrn"].as_str().unwrap())
                .collect();
            open = of_type(&entries, "approval")
                .into_iter()
                .filter(|e| !reversed.contains(&e["rrn"].as_str().unwrap()))
                .map(|e| e["amount"].as_i64().unwrap())
                .collect();
            open.sort();
            succeeded = intents
                .iter()
                .filter(|i| i["status"] == "succeeded")
                .map(|i| i["amount"].as_i64().unwrap())
                .collect();
            succeeded.sort();
            if open == succeeded {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        reversals += of_type(&journal_entries(&sim.journal), "reversal").len();
        assert!(
            intents.iter().all(|i| i["status"] != "processing"),
            "{fault}: {intents:#?}"
        );
        assert_eq!(
            open, succeeded,
            "{fault}: open approvals vs succeeded payments; journal {entries:#?}"
        );
    }
    // 40 faultable purchases at 40 %: answers were lost, and reversed.
    assert!(reversals > 0, "no approval was ever reversed");
}

/// Posts `form` to a gateway started to abort after the acquirer answers,
/// and waits until it has died without answering.
async fn send_and_crash(mut crashing: TestServer, key: &str, path: &str, form: &[(&str, &str)]) {
    let sent = reqwest::Client::new()
        .post(crashing.url(path))
        .bearer_auth(key)
        .form(form)
        .send()
        .await;
    assert!(sent.is_err(), "the gateway must die before answering");
    let deadline = Instant::now() + Duration::from_secs(20);
    while crashing.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the test fault did not abort the gateway"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(crashing.log().contains("test fault"), "{}", crashing.log());
}

/// The intent of `amount`, once its status is `status` (recovery is due).
async fn intent_reaching(api: &Api, amount: i64, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = api.get("/v1/payment_intents?limit=100").await.json();
        let found = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["amount"] == amount)
            .cloned();
        if let Some(intent) = found.filter(|i| i["status"] == status) {
            return intent;
        }
        assert!(
            Instant::now() < deadline,
            "{amount} never reached {status}: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn approval_rrn(entries: &[Value], amount: i64) -> String {
    of_type(entries, "approval")
        .into_iter()
        .find(|e| e["amount"] == amount)
        .and_then(|e| e["rrn"].as_str())
        .unwrap_or_else(|| panic!("no approval of {amount}: {entries:#?}"))
        .to_owned()
}

fn reversed(entries: &[Value], rrn: &str) -> usize {
    of_type(entries, "reversal")
        .into_iter()
        .filter(|e| e["rrn"] == rrn)
        .count()
}

on_both_backends!(an_approval_whose_commit_died_is_reversed_and_a_capture_in_doubt_is_not);

/// Recovery knows what it recovers: the approval of an authorization whose
/// phase two never committed is reversed from the database's pending
/// reversal (by a new process: nothing is kept in a file), while the
/// authorization under a capture whose answer was lost stays open.
async fn an_approval_whose_commit_died_is_reversed_and_a_capture_in_doubt_is_not(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Crashy");
    let sim = start_simulator(&db, &[]);
    let timing = "connector_timeout_ms = 800\nattempt_stale_ms = 1000\nrecovery_interval_ms = 200";
    let healthy = start_gateway(&db, &sim, &merchant, timing);
    let held = pay(
        &Api::new(&healthy, &merchant.secret_key),
        "4100",
        "pm_card_visa",
        &[("capture_method", "manual")],
    )
    .await;
    assert_eq!(held.json()["status"], "requires_capture", "{}", held.text);
    let held_id = held.json()["id"].as_str().unwrap().to_owned();
    drop(healthy);

    let crash = |call: &str| {
        start_gateway_with_env(
            &db,
            &sim,
            &merchant,
            timing,
            &[("PORTCULLIS_TEST_FAULT_CRASH_AFTER", call)],
        )
    };
    let paying = [
        ("amount", "4200"),
        ("currency", "usd"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
    ];
    let key = &merchant.secret_key;
    send_and_crash(crash("authorize"), key, "/v1/payment_intents", &paying).await;
    let capture = format!("/v1/payment_intents/{held_id}/capture");
    send_and_crash(crash("capture"), key, &capture, &[]).await;

    let server = start_gateway(&db, &sim, &merchant, timing);
    let api = Api::new(&server, &merchant.secret_key);
    let failed = intent_reaching(&api, 4200, "requires_payment_method").await;
    assert_eq!(
        failed["last_payment_error"]["code"], "processing_error",
        "{failed}"
    );
    intent_reaching(&api, 4100, "requires_capture").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let entries = loop {
        let entries = journal_entries(&sim.journal);
        if reversed(&entries, &approval_rrn(&entries, 4200)) > 0 || Instant::now() > deadline {
            break entries;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        reversed(&entries, &approval_rrn(&entries, 4200)),
        1,
        "{entries:#?}"
    );
    assert_eq!(
        reversed(&entries, &approval_rrn(&entries, 4100)),
        0,
        "{entries:#?}"
    );
    assert!(
        !db.data_dir.join("iso8583-sim-reversals.jsonl").exists(),
        "pending reversals are in the database, not in a file"
    );
}
