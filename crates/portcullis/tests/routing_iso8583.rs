//! `iso8583` connector accounts chosen by routing, through the real binary
//! on SQLite and PostgreSQL with `portcullis acquirer-sim`s:
//!
//! - an account (`endpoint` = the simulator's `host:port`, the acceptor
//!   ids as credentials) takes the payments routing gives it; capture,
//!   cancel and refund reach the simulator that authorized, and the
//!   charge's `routing` names the account;
//! - a merchant's accounts come before the settings file's
//!   `[connectors.<name>]` that lists the merchant (nothing reaches it);
//! - an answer lost on the way back is reversed through the account: every
//!   approval in the simulator's journal is a succeeded payment or
//!   reversed.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::acquirer_sim::{journal_entries, Simulator};
use support::{create_merchant, Api, Backend, TestDatabase, TestServer};

const ALLOW_PRIVATE: (&str, &str) = ("PORTCULLIS_CONNECTORS_ALLOW_PRIVATE_ENDPOINTS", "true");

fn start_simulator(dir: &Path, name: &str, extra: &[&str]) -> Simulator {
    Simulator::start(&dir.join(format!("{name}.jsonl")), extra)
}

fn amounts(entries: &[Value], kind: &str) -> Vec<i64> {
    entries
        .iter()
        .filter(|e| e["type"] == kind)
        .map(|e| e["amount"].as_i64().unwrap_or(-1))
        .collect()
}

/// An `iso8583` account at `sim`; its id.
async fn iso8583_account(api: &Api, sim: &Simulator, terminal_id: &str) -> String {
    let created = api
        .post(
            "/v1/connector_accounts",
            &[
                ("type", "iso8583"),
                ("endpoint", sim.address.as_str()),
                ("credentials[acquirer_id]", "12345"),
                ("credentials[card_acceptor_id]", "MERCHANT0000001"),
                ("credentials[terminal_id]", terminal_id),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    created.json()["id"].as_str().unwrap().to_owned()
}

async fn pay(api: &Api, amount: &str, currency: &str, extra: &[(&str, &str)]) -> support::Answer {
    let mut form = vec![
        ("amount", amount),
        ("currency", currency),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
    ];
    form.extend_from_slice(extra);
    api.post("/v1/payment_intents", &form).await
}

async fn charge_routing(api: &Api, intent: &Value) -> Value {
    let id = intent["latest_charge"].as_str().expect("a charge");
    api.get(&format!("/v1/charges/{id}")).await.json()["routing"].clone()
}

/// A settings file whose `[connectors.file]` lists `merchant_id`.
fn settings_file(dir: &Path, sim: &Simulator, merchant_id: &str, timing: &str) -> PathBuf {
    let config = dir.join("iso8583.toml");
    std::fs::write(
        &config,
        format!(
            "{timing}\n[connectors.file]\ntype = \"iso8583\"\naddress = \"{}\"\n\
             acquirer_id = \"12345\"\ncard_acceptor_id = \"MERCHANT0000001\"\n\
             terminal_id = \"TERM0001\"\nmerchants = [\"{merchant_id}\"]\n",
            sim.address
        ),
    )
    .unwrap();
    config
}

on_both_backends!(
    iso8583_accounts_take_routed_payments_and_their_follow_ups,
    a_lost_answer_on_an_iso8583_account_is_reversed,
);

async fn iso8583_accounts_take_routed_payments_and_their_follow_ups(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let dir = db.data_dir.join("sims");
    let (usd_sim, eur_sim) = (
        start_simulator(&dir, "usd", &[]),
        start_simulator(&dir, "eur", &[]),
    );
    let file_sim = start_simulator(&dir, "file", &[]);
    let config = settings_file(&dir, &file_sim, &merchant.id, "");
    let server = TestServer::start_with_env(
        &db,
        &["--config", config.to_str().unwrap()],
        &[ALLOW_PRIVATE],
    );
    let api = Api::new(&server, &merchant.secret_key);
    let usd = iso8583_account(&api, &usd_sim, "TERMUSD1").await;
    let eur = iso8583_account(&api, &eur_sim, "TERMEUR1").await;
    // The oldest matching rule decides: euros to one host, the rest to the other.
    for rule in [
        format!("route to {eur} if :currency: = 'eur'"),
        format!("route to {usd}"),
    ] {
        let created = api.post("/v1/routing/rules", &[("rule", &rule)]).await;
        assert_eq!(created.status, 200, "{}", created.text);
    }

    let paid = pay(&api, "2500", "usd", &[]).await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.json()["status"], "succeeded");
    let routing = charge_routing(&api, &paid.json()).await;
    assert_eq!(routing["connector_account"], usd.as_str(), "{routing}");
    assert_eq!(routing["decided_by"], "rule");

    let declined = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2600"),
                ("currency", "usd"),
                (
                    "payment_method",
                    "pm_card_visa_chargeDeclinedInsufficientFunds",
                ),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(declined.status, 402, "{}", declined.text);
    assert_eq!(
        declined.json()["error"]["decline_code"],
        "insufficient_funds"
    );

    let held = pay(&api, "3000", "eur", &[("capture_method", "manual")]).await;
    assert_eq!(held.json()["status"], "requires_capture", "{}", held.text);
    let held_id = held.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        charge_routing(&api, &held.json()).await["connector_account"],
        eur.as_str()
    );
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

    let voided = pay(&api, "4000", "eur", &[("capture_method", "manual")]).await;
    let voided_id = voided.json()["id"].as_str().unwrap().to_owned();
    let canceled = api
        .post(&format!("/v1/payment_intents/{voided_id}/cancel"), &[])
        .await;
    assert_eq!(canceled.json()["status"], "canceled", "{}", canceled.text);

    let usd_entries = journal_entries(&usd_sim.journal);
    assert_eq!(
        amounts(&usd_entries, "approval"),
        [2500],
        "{usd_entries:#?}"
    );
    let eur_entries = journal_entries(&eur_sim.journal);
    assert_eq!(
        amounts(&eur_entries, "approval"),
        [3000, 4000],
        "{eur_entries:#?}"
    );
    assert_eq!(amounts(&eur_entries, "completion"), [2000]);
    assert_eq!(amounts(&eur_entries, "refund"), [500]);
    assert_eq!(amounts(&eur_entries, "reversal").len(), 1);
    assert!(
        eur_entries
            .iter()
            .filter(|e| e["type"] == "approval")
            .all(|e| e["terminal_id"] == "TERMEUR1"),
        "the account's own terminal id (DE 41): {eur_entries:#?}"
    );
    let file_entries = journal_entries(&file_sim.journal);
    assert!(
        file_entries.iter().all(|e| e["type"] != "approval"),
        "the merchant's accounts come before the settings file: {file_entries:#?}"
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

/// Approvals in the journal not reversed, by amount, sorted.
fn open_approvals(entries: &[Value]) -> Vec<i64> {
    let reversed: Vec<&Value> = entries
        .iter()
        .filter(|e| e["type"] == "reversal")
        .map(|e| &e["rrn"])
        .collect();
    let mut open: Vec<i64> = entries
        .iter()
        .filter(|e| e["type"] == "approval" && !reversed.contains(&&e["rrn"]))
        .map(|e| e["amount"].as_i64().unwrap())
        .collect();
    open.sort();
    open
}

async fn a_lost_answer_on_an_iso8583_account_is_reversed(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Lossy");
    let dir = db.data_dir.join("sims");
    let sim = start_simulator(&dir, "lossy", &["--fault", "drop:50"]);
    let env = [
        ALLOW_PRIVATE,
        ("PORTCULLIS_CONNECTOR_TIMEOUT_MS", "800"),
        ("PORTCULLIS_ATTEMPT_STALE_MS", "1000"),
        ("PORTCULLIS_RECOVERY_INTERVAL_MS", "200"),
    ];
    let server = TestServer::start_with_env(&db, &[], &env);
    let api = Api::new(&server, &merchant.secret_key);
    iso8583_account(&api, &sim, "TERM0001").await;
    for index in 0..12 {
        let _ = pay(&api, &(1000 + index).to_string(), "usd", &[]).await;
    }
    let intents = settled_intents(&api).await;
    assert!(
        intents.iter().all(|i| i["status"] != "processing"),
        "{intents:#?}"
    );
    let mut succeeded: Vec<i64> = intents
        .iter()
        .filter(|i| i["status"] == "succeeded")
        .map(|i| i["amount"].as_i64().unwrap())
        .collect();
    succeeded.sort();
    // Reversals are retried in the background until the host answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    let entries = loop {
        let entries = journal_entries(&sim.journal);
        if open_approvals(&entries) == succeeded || Instant::now() > deadline {
            break entries;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(open_approvals(&entries), succeeded, "{entries:#?}");
    assert!(
        entries.iter().any(|e| e["type"] == "reversal"),
        "12 purchases at 50 % drops: some answers were lost and reversed"
    );
}
