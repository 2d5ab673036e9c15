//! Helpers of the risk tests: a server with the test IP database, paying
//! with inline cards, reading a payment's charge, adding rules.

use super::{Answer, Api, TestDatabase, TestServer};
use serde_json::Value;

pub const NEW_YORK_IP: &str = "203.0.113.10";
pub const TOKYO_IP: &str = "198.51.100.20";

fn geoip_file() -> String {
    format!("{}/tests/data/test-geoip.mmdb", env!("CARGO_MANIFEST_DIR"))
}

/// A server with the test IP database and extra settings lines.
pub fn start(db: &TestDatabase, extra_settings: &str) -> TestServer {
    std::fs::create_dir_all(&db.data_dir).unwrap();
    let config = db
        .data_dir
        .join(format!("risk-{}.toml", rand::random::<u32>()));
    let text = format!("risk_geoip_file = {:?}\n{extra_settings}", geoip_file());
    std::fs::write(&config, text).unwrap();
    TestServer::start_with(db, &["--config", config.to_str().unwrap()])
}

/// Creates and confirms a payment with an inline card.
pub async fn pay(api: &Api, amount: &str, number: &str, extra: &[(&str, &str)]) -> Answer {
    let cvc = if number.len() == 15 { "1234" } else { "123" };
    let mut form = vec![
        ("amount", amount),
        ("currency", "usd"),
        ("confirm", "true"),
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", number),
        ("payment_method_data[card][exp_month]", "12"),
        ("payment_method_data[card][exp_year]", "2040"),
        ("payment_method_data[card][cvc]", cvc),
    ];
    form.extend_from_slice(extra);
    api.post("/v1/payment_intents", &form).await
}

pub async fn charge_of(api: &Api, answer: &Answer) -> Value {
    let json = answer.json();
    let charge = json["latest_charge"]
        .as_str()
        .or(json["error"]["charge"].as_str())
        .unwrap_or_else(|| panic!("no charge in {json}"))
        .to_owned();
    api.get(&format!("/v1/charges/{charge}")).await.json()
}

pub async fn add_rule(api: &Api, rule: &str) -> Value {
    let answer = api.post("/v1/risk/rules", &[("rule", rule)]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

/// Seven cards with distinct fingerprints that the sandbox approves.
pub const DISTINCT_CARDS: [&str; 7] = [
    "4242424242424242",
    "4000056655665556",
    "5555555555554444",
    "5200828282828210",
    "378282246310005",
    "6011111111111117",
    "4000000000000077",
];

/// One `review.closed` event for `review_id`, with the review as Stripe
/// shapes it (closed, its reason).
pub async fn assert_review_closed(api: &Api, review_id: &str, reason: &str) {
    let closed = api
        .get("/v1/events?type=review.closed&limit=100")
        .await
        .json();
    let closed: Vec<&Value> = closed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["object"]["id"] == review_id)
        .collect();
    assert_eq!(closed.len(), 1, "{closed:?}");
    let review = &closed[0]["data"]["object"];
    assert_eq!(review["object"], "review", "{review}");
    assert_eq!(review["open"], false, "{review}");
    assert_eq!(review["closed_reason"], reason, "{review}");
    assert_eq!(review["reason"], reason, "{review}");
    assert!(
        review["charge"].as_str().unwrap().starts_with("ch_"),
        "{review}"
    );
}
