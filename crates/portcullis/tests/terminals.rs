//! Terminals over ISO 8583 (`serve --iso8583-listen`, `terminal
//! create/list/revoke`), on SQLite and PostgreSQL: a purchase is a
//! `card_present` intent of the terminal's merchant; a repeated purchase
//! answers the first answer again byte for byte after a restart and on
//! another instance (the answer is in the database); a reversal voids an
//! authorization once, and its repeat answers 00 and changes nothing; a
//! revoked terminal is answered 03; a refund (0200, DE 3 200000) naming its
//! purchase by DE 90 is made once. The independent peer (pyiso8583 and
//! `cryptography`'s AES-CMAC) is tests/iso8583/terminals.py.

mod support;

use portcullis_iso8583::{decode, mac, Framing, MacKey, Message, Mti, Profile};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::{cli, create_merchant, Api, Backend, TestDatabase, TestServer};

struct Terminal {
    id: String,
    acceptor: String,
    key: MacKey,
}

fn create_terminal(db: &TestDatabase, merchant: &str) -> Terminal {
    let out = cli(
        db,
        &["terminal", "create", "--merchant", merchant, "--json"],
    );
    let json: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    Terminal {
        id: json["terminal_id"].as_str().unwrap().to_owned(),
        acceptor: json["card_acceptor_id"].as_str().unwrap().to_owned(),
        key: MacKey::from_hex(json["mac_key"].as_str().unwrap()).unwrap(),
    }
}

/// A port free now, for `--iso8583-listen` (the test support reads only
/// the API's announced address).
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

fn start(db: &TestDatabase, address: &str) -> TestServer {
    TestServer::start_with(db, &["--iso8583-listen", address])
}

/// Sends `raw` framed and reads one framed answer.
fn ask(address: &str, raw: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).expect("the terminal listener is up");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(&Framing::Binary2.frame(raw).unwrap())
        .unwrap();
    let mut header = [0u8; 2];
    stream.read_exact(&mut header).unwrap();
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(header))];
    stream.read_exact(&mut answer).unwrap();
    answer
}

fn field(answer: &[u8], number: u8) -> Option<String> {
    decode(answer, Profile::Default)
        .unwrap()
        .text(number)
        .map(str::to_owned)
}

fn purchase(terminal: &Terminal, mti: &str, stan: &str, amount_minor: i64) -> Vec<u8> {
    let mut message = Message::new(Mti::parse(mti).unwrap());
    let fields = [
        (3, "000000".to_owned()),
        (4, format!("{amount_minor:012}")),
        (7, "1205101500".to_owned()),
        (11, stan.to_owned()),
        (35, "4242424242424242=3012101".to_owned()),
        (37, format!("000000{stan}")),
        (41, terminal.id.clone()),
        (42, terminal.acceptor.clone()),
        (49, "840".to_owned()),
    ];
    for (number, value) in fields {
        message.set_text(number, &value).unwrap();
    }
    message.set(52, vec![0x12; 8]).unwrap();
    mac::sign(&mut message, Profile::Default, &terminal.key)
}

fn reversal_by_de_90(terminal: &Terminal, original_mti: &str, stan: &str) -> Vec<u8> {
    let mut message = Message::new(Mti::parse("0400").unwrap());
    message.set_text(7, "1205101600").unwrap();
    message.set_text(11, "900001").unwrap();
    message.set_text(41, &terminal.id).unwrap();
    message.set_text(42, &terminal.acceptor).unwrap();
    let original = format!("{original_mti}{stan}1205101500{}", "0".repeat(22));
    message.set_text(90, &original).unwrap();
    mac::sign(&mut message, Profile::Default, &terminal.key)
}

async fn intents(api: &Api) -> Vec<Value> {
    let listed = api.get("/v1/payment_intents?limit=100").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    listed.json()["data"].as_array().unwrap().clone()
}

on_both_backends!(terminal_payments_and_repeats_hold_across_restarts_and_instances);

async fn terminal_payments_and_repeats_hold_across_restarts_and_instances(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Kiosk");
    let terminal = create_terminal(&db, &merchant.id);
    let first_address = free_address();
    let first = start(&db, &first_address);
    let api = Api::new(&first, &merchant.secret_key);

    let sale = purchase(&terminal, "0200", "000001", 2500);
    let answered = ask(&first_address, &sale);
    assert_eq!(field(&answered, 39).as_deref(), Some("00"));
    assert_eq!(field(&answered, 38).map(|code| code.len()), Some(6));
    let paid = intents(&api).await;
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0]["status"], "succeeded");
    assert_eq!(
        paid[0]["payment_method_types"],
        serde_json::json!(["card_present"])
    );
    assert_eq!(paid[0]["metadata"]["terminal_id"], terminal.id.as_str());
    let charge = api
        .get(&format!(
            "/v1/charges/{}",
            paid[0]["latest_charge"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(charge["payment_method_details"]["type"], "card_present");
    assert_eq!(
        charge["payment_method_details"]["card_present"]["last4"],
        "4242"
    );

    let authorization = purchase(&terminal, "0100", "000002", 700);
    assert_eq!(
        field(&ask(&first_address, &authorization), 39).as_deref(),
        Some("00")
    );
    drop(first);

    // Another process (a restart, and on PostgreSQL a second instance
    // beside a third) answers the repeat from the database.
    let second_address = free_address();
    let second = start(&db, &second_address);
    let api = Api::new(&second, &merchant.secret_key);
    assert_eq!(
        ask(&second_address, &sale),
        answered,
        "the first answer, byte for byte"
    );
    let reversal = reversal_by_de_90(&terminal, "0100", "000002");
    assert_eq!(
        field(&ask(&second_address, &reversal), 39).as_deref(),
        Some("00")
    );
    let third = (backend == Backend::Postgres).then(|| {
        let address = free_address();
        (start(&db, &address), address)
    });
    let repeat_at = third
        .as_ref()
        .map_or(second_address.as_str(), |(_, a)| a.as_str());
    assert_eq!(field(&ask(repeat_at, &reversal), 39).as_deref(), Some("00"));
    assert_eq!(ask(repeat_at, &sale), answered);

    let after = intents(&api).await;
    assert_eq!(after.len(), 2, "no repeat paid twice");
    let held = after.iter().find(|i| i["amount"] == 700).unwrap();
    assert_eq!(held["status"], "canceled");
    let voids = api
        .get("/v1/events?type=payment_intent.canceled&limit=100")
        .await
        .json();
    assert_eq!(voids["data"].as_array().unwrap().len(), 1, "voided once");

    cli(&db, &["terminal", "revoke", &terminal.id]);
    let listed = cli(
        &db,
        &["terminal", "list", "--merchant", &merchant.id, "--json"],
    );
    let listing: Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(listing["revoked"], true);
    let after_revoke = ask(&second_address, &purchase(&terminal, "0200", "000003", 900));
    assert_eq!(field(&after_revoke, 39).as_deref(), Some("03"));
    let refused = decode(&after_revoke, Profile::Default).unwrap();
    assert!(
        !refused.has(64) && !refused.has(128),
        "an 03 answer is not MACed"
    );
}

on_both_backends!(a_terminal_key_is_rewrapped_by_vault_rotation_and_still_verifies);

/// `vault rotate-key` re-wraps a terminal's sealed MAC key under the new
/// key-encrypting key (the old one then wraps nothing), and the terminal's
/// messages still verify.
async fn a_terminal_key_is_rewrapped_by_vault_rotation_and_still_verifies(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Kiosk");
    let terminal = create_terminal(&db, &merchant.id);
    let before = cli(&db, &["vault", "status"]);
    assert!(before.contains("\t1 terminals"), "{before}");
    let rotated = cli(&db, &["vault", "rotate-key"]);
    assert!(rotated.contains(", 1 terminals' MAC keys"), "{rotated}");
    let after = cli(&db, &["vault", "status"]);
    let old_kek = before.split_whitespace().next().unwrap();
    assert!(
        after
            .lines()
            .any(|l| l.starts_with(old_kek) && l.contains("\t0 terminals")),
        "{after}"
    );
    let address = free_address();
    let _server = start(&db, &address);
    let answer = ask(&address, &purchase(&terminal, "0200", "000001", 1500));
    assert_eq!(field(&answer, 39).as_deref(), Some("00"));
}

fn refund_of_de_90(terminal: &Terminal, stan: &str, original_stan: &str, amount: i64) -> Vec<u8> {
    let mut message = Message::new(Mti::parse("0200").unwrap());
    let fields = [
        (3, "200000".to_owned()),
        (4, format!("{amount:012}")),
        (7, "1205101700".to_owned()),
        (11, stan.to_owned()),
        (35, "4242424242424242=3012101".to_owned()),
        (41, terminal.id.clone()),
        (42, terminal.acceptor.clone()),
        (49, "840".to_owned()),
        (
            90,
            format!("0200{original_stan}1205101500{}", "0".repeat(22)),
        ),
    ];
    for (number, value) in fields {
        message.set_text(number, &value).unwrap();
    }
    mac::sign(&mut message, Profile::Default, &terminal.key)
}

fn completion_of_de_90(
    terminal: &Terminal,
    stan: &str,
    original_stan: &str,
    amount: i64,
) -> Vec<u8> {
    let mut message = Message::new(Mti::parse("0220").unwrap());
    let fields = [
        (3, "000000".to_owned()),
        (4, format!("{amount:012}")),
        (7, "1205101800".to_owned()),
        (11, stan.to_owned()),
        (41, terminal.id.clone()),
        (42, terminal.acceptor.clone()),
        (49, "840".to_owned()),
        (
            90,
            format!("0100{original_stan}1205101500{}", "0".repeat(22)),
        ),
    ];
    for (number, value) in fields {
        message.set_text(number, &value).unwrap();
    }
    mac::sign(&mut message, Profile::Default, &terminal.key)
}

on_both_backends!(a_terminal_refund_is_made_once_and_its_repeat_answers_the_first_answer);

/// A 0200 with DE 3 200000 naming a purchase by DE 90 refunds it in part;
/// its repeat, on another process, answers the first answer byte for byte
/// and refunds nothing more; a refund of more than remains is answered 13;
/// a repeated 0100 answers its first answer and authorizes once; a 0220
/// completion captures that authorization's final amount once.
async fn a_terminal_refund_is_made_once_and_its_repeat_answers_the_first_answer(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Kiosk");
    let terminal = create_terminal(&db, &merchant.id);
    let first_address = free_address();
    let first = start(&db, &first_address);

    let authorization = purchase(&terminal, "0100", "000010", 900);
    let held = ask(&first_address, &authorization);
    assert_eq!(field(&held, 39).as_deref(), Some("00"));
    assert_eq!(ask(&first_address, &authorization), held, "a repeated 0100");
    let sale = purchase(&terminal, "0200", "000011", 3000);
    assert_eq!(
        field(&ask(&first_address, &sale), 39).as_deref(),
        Some("00")
    );
    let completion = completion_of_de_90(&terminal, "000014", "000010", 600);
    let completed = ask(&first_address, &completion);
    assert_eq!(field(&completed, 39).as_deref(), Some("00"));
    let refund = refund_of_de_90(&terminal, "000012", "000011", 1200);
    let refunded = ask(&first_address, &refund);
    assert_eq!(field(&refunded, 39).as_deref(), Some("00"));
    assert_eq!(field(&refunded, 3).as_deref(), Some("200000"));
    assert_eq!(field(&refunded, 38).map(|c| c.len()), Some(6));
    drop(first);

    let second_address = free_address();
    let second = start(&db, &second_address);
    let api_second = Api::new(&second, &merchant.secret_key);
    assert_eq!(ask(&second_address, &refund), refunded, "byte for byte");
    assert_eq!(
        ask(&second_address, &completion),
        completed,
        "byte for byte"
    );
    let too_much = refund_of_de_90(&terminal, "000013", "000011", 1801);
    assert_eq!(
        field(&ask(&second_address, &too_much), 39).as_deref(),
        Some("13")
    );
    let paid = intents(&api_second).await;
    assert_eq!(paid.len(), 2, "one authorization, one purchase");
    let completed_intent = paid.iter().find(|i| i["amount"] == 900).unwrap();
    assert_eq!(completed_intent["status"], "succeeded");
    assert_eq!(completed_intent["amount_received"], 600, "captured once");
    let sale_intent = paid.iter().find(|i| i["amount"] == 3000).unwrap();
    let charge = sale_intent["latest_charge"].as_str().unwrap();
    let refunds = api_second
        .get(&format!("/v1/refunds?charge={charge}"))
        .await
        .json();
    let amounts: Vec<i64> = refunds["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![1200], "refunded once");
}
