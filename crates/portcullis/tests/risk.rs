//! Fraud and risk through the real binary: signals on charges, the test
//! cards' risk levels, card testing stopped by the default rules,
//! impossible travel, the review queue and challenges
//! (lists, rules and dry runs are in `risk_rules.rs`). The IP database is the tiny
//! `tests/data/test-geoip.mmdb` (US 203.0.113.0/24 New York, JP
//! 198.51.100.0/24 Tokyo, GB 192.0.2.0/24 London, DE 100.64.0.0/16).

mod support;

use serde_json::Value;
use support::risk::*;
use support::{create_merchant, Answer, Api, Backend, TestDatabase};

on_both_backends!(
    signals_and_risk_levels_show_on_charges,
    a_card_testing_burst_from_one_ip_is_blocked_after_five_cards,
    impossible_travel_between_new_york_and_tokyo_within_an_hour_is_blocked,
    reviews_are_approved_or_refunded_and_closed,
    reviews_close_when_their_payment_is_refunded_or_disputed,
    a_request_3ds_rule_challenges_and_the_authorization_after_it_is_authenticated,
    customer_ip_is_validated,
);

async fn signals_and_risk_levels_show_on_charges(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let bins = db.data_dir.join("bins.csv");
    std::fs::create_dir_all(&db.data_dir).unwrap();
    std::fs::write(&bins, "555555,GB,debit\n").unwrap();
    let settings = format!(
        "risk_bin_file = {:?}\n[risk_usd_rates]\neur = 2000000\n",
        bins
    );
    let server = start(&db, &settings);
    let api = Api::new(&server, &merchant.secret_key);
    add_rule(
        &api,
        "review if :card_country: != :ip_country: and :amount_in_usd: > 50",
    )
    .await;

    // A GB debit card (by the BIN file) from a Tokyo IP, billed in France.
    let form = [
        ("customer_ip", TOKYO_IP),
        (
            "payment_method_data[billing_details][address][country]",
            "fr",
        ),
    ];
    let paid = pay(&api, "8000", "5555555555554444", &form).await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    let charge = charge_of(&api, &paid).await;
    let outcome = &charge["outcome"];
    assert_eq!(outcome["type"], "manual_review", "{charge}");
    let signals = &outcome["signals"];
    assert_eq!(signals["card_country"], "GB", "{outcome}");
    assert_eq!(signals["ip_country"], "JP", "{outcome}");
    assert_eq!(signals["amount_in_usd"], 80, "{outcome}");
    assert_eq!(signals["billing_country"], "FR", "{outcome}");
    assert_eq!(outcome["risk_score"], 5 + 15 + 10, "{outcome}");
    assert!(outcome["rule"].as_str().unwrap().starts_with("rule_"));

    // 40 EUR at the configured 2 USD per EUR is 80 USD: reviewed too.
    let in_euros = [
        ("amount", "4000"),
        ("currency", "eur"),
        ("confirm", "true"),
        ("payment_method", "pm_card_visa"),
        ("customer_ip", TOKYO_IP),
    ];
    let eur = api.post("/v1/payment_intents", &in_euros).await;
    assert_eq!(eur.status, 200, "{}", eur.text);
    let charge = charge_of(&api, &eur).await;
    assert_eq!(
        charge["outcome"]["signals"]["amount_in_usd"], 80,
        "{charge}"
    );
    assert_eq!(
        charge["outcome"]["signals"]["card_country"], "US",
        "{charge}"
    );

    // From New York the US card is authorized, at the normal level.
    let home = pay(
        &api,
        "8000",
        "4242424242424242",
        &[("customer_ip", NEW_YORK_IP)],
    )
    .await;
    let charge = charge_of(&api, &home).await;
    assert_eq!(charge["outcome"]["type"], "authorized", "{charge}");
    assert_eq!(charge["outcome"]["risk_level"], "normal");

    // The sandbox's risk test cards, recognised by BIN and last four.
    let elevated = pay(&api, "1000", "4000000000009235", &[]).await;
    assert_eq!(elevated.status, 200, "{}", elevated.text);
    let charge = charge_of(&api, &elevated).await;
    assert_eq!(charge["outcome"]["risk_level"], "elevated");
    assert_eq!(charge["outcome"]["risk_score"], 65);
    let highest = pay(&api, "1000", "4000000000004954", &[]).await;
    assert_eq!(highest.status, 402, "{}", highest.text);
    assert_eq!(highest.json()["error"]["decline_code"], "fraudulent");
    let charge = charge_of(&api, &highest).await;
    assert_eq!(charge["outcome"]["type"], "blocked");
    assert_eq!(charge["outcome"]["risk_level"], "highest");
    assert_eq!(charge["outcome"]["rule"], "rule_default_block_highest");
    assert_eq!(charge["outcome"]["reason"], "highest_risk_level");
    let always = pay(&api, "1000", "4100000000000019", &[]).await;
    assert_eq!(always.status, 402);
    let charge = charge_of(&api, &always).await;
    assert_eq!(
        charge["outcome"]["rule"],
        "block_if_card_always_blocked_in_sandbox"
    );
    assert_eq!(charge["outcome"]["network_status"], "not_sent_to_network");
}

async fn a_card_testing_burst_from_one_ip_is_blocked_after_five_cards(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = start(&db, "");
    let api = Api::new(&server, &merchant.secret_key);
    for (i, number) in DISTINCT_CARDS.iter().enumerate() {
        let answer = pay(&api, "100", number, &[("customer_ip", NEW_YORK_IP)]).await;
        if i < 5 {
            assert_eq!(answer.status, 200, "card {}: {}", i + 1, answer.text);
        } else {
            assert_eq!(
                answer.status,
                402,
                "card {} should be blocked: {}",
                i + 1,
                answer.text
            );
            let charge = charge_of(&api, &answer).await;
            assert_eq!(
                charge["outcome"]["rule"], "rule_default_card_testing_ip",
                "{charge}"
            );
            assert_eq!(
                charge["outcome"]["signals"]["cards_per_ip_address_hourly"],
                i as i64 + 1
            );
        }
    }
    // Another IP is not affected.
    let other = pay(
        &api,
        "100",
        "4242424242424242",
        &[("customer_ip", TOKYO_IP)],
    )
    .await;
    assert_eq!(other.status, 200, "{}", other.text);
}

async fn impossible_travel_between_new_york_and_tokyo_within_an_hour_is_blocked(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = start(&db, "");
    let api = Api::new(&server, &merchant.secret_key);
    let rule = add_rule(&api, "block if :impossible_travel:").await;
    let method = api
        .post(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[number]", "4242424242424242"),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2040"),
            ],
        )
        .await
        .json();
    let pm = method["id"].as_str().unwrap();
    let first = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("confirm", "true"),
                ("payment_method", pm),
                ("customer_ip", NEW_YORK_IP),
            ],
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("confirm", "true"),
                ("payment_method", pm),
                ("customer_ip", TOKYO_IP),
            ],
        )
        .await;
    assert_eq!(second.status, 402, "{}", second.text);
    let charge = charge_of(&api, &second).await;
    let outcome = &charge["outcome"];
    assert_eq!(outcome["rule"], rule["id"], "{outcome}");
    assert_eq!(outcome["signals"]["impossible_travel"], true);
    let distance = outcome["signals"]["ip_distance_km"].as_i64().unwrap();
    assert!((10_800..=10_900).contains(&distance), "{outcome}");
    assert!(outcome["risk_score"].as_i64().unwrap() >= 35, "{outcome}");
}

async fn reviews_are_approved_or_refunded_and_closed(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = start(&db, "");
    let api = Api::new(&server, &merchant.secret_key);
    add_rule(&api, "review if :amount_in_usd: >= 100").await;
    let first = pay(&api, "15000", "4242424242424242", &[]).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json()["status"], "succeeded");
    let second = pay(&api, "20000", "4242424242424242", &[]).await;
    assert_eq!(second.status, 200);
    let small = pay(&api, "500", "4242424242424242", &[]).await;
    assert_eq!(charge_of(&api, &small).await["review"], Value::Null);

    let open = api.get("/v1/reviews?open=true").await.json();
    let reviews = open["data"].as_array().unwrap();
    assert_eq!(reviews.len(), 2, "{open}");
    let charge = charge_of(&api, &first).await;
    let review_id = charge["review"].as_str().unwrap().to_owned();
    let approved = api
        .post(&format!("/v1/reviews/{review_id}/approve"), &[])
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.json()["closed_reason"], "approved");
    let twice = api
        .post(&format!("/v1/reviews/{review_id}/approve"), &[])
        .await;
    assert_eq!(twice.status, 400);

    let other = charge_of(&api, &second).await;
    let other_review = other["review"].as_str().unwrap();
    let closed = api
        .post(&format!("/v1/reviews/{other_review}/refund_and_close"), &[])
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    let closed = closed.json();
    assert_eq!(closed["closed_reason"], "refunded_as_fraud");
    assert_eq!(closed["refund"]["reason"], "fraudulent");
    assert_eq!(closed["refund"]["amount"], 20000);
    let refunded = api
        .get(&format!("/v1/charges/{}", other["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(refunded["amount_refunded"], 20000);
    let open = api.get("/v1/reviews?open=true").await.json();
    assert_eq!(open["data"].as_array().unwrap().len(), 0, "{open}");
}

/// Stripe closes a review on its own when its payment is refunded (in
/// whole or in part: `refunded`) or disputed (`disputed`), with one
/// `review.closed`.
async fn reviews_close_when_their_payment_is_refunded_or_disputed(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = start(&db, "");
    let api = Api::new(&server, &merchant.secret_key);
    add_rule(&api, "review if :amount_in_usd: >= 100").await;

    let whole = pay(&api, "15000", "4242424242424242", &[]).await;
    let whole_review = review_of(&api, &whole).await;
    let intent = whole.json()["id"].as_str().unwrap().to_owned();
    let refund = api
        .post("/v1/refunds", &[("payment_intent", intent.as_str())])
        .await;
    assert_eq!(refund.status, 200, "{}", refund.text);
    assert_closed(&api, &whole_review, "refunded").await;
    let approve = api
        .post(&format!("/v1/reviews/{whole_review}/approve"), &[])
        .await;
    assert_eq!(approve.status, 400, "{}", approve.text);

    let part = pay(&api, "20000", "4242424242424242", &[]).await;
    let part_review = review_of(&api, &part).await;
    let charge = charge_of(&api, &part).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let refund = api
            .post(
                "/v1/refunds",
                &[("charge", charge.as_str()), ("amount", "500")],
            )
            .await;
        assert_eq!(refund.status, 200, "{}", refund.text);
    }
    assert_closed(&api, &part_review, "refunded").await;

    let disputed = pay(&api, "12000", "4000000000000259", &[]).await;
    assert_eq!(charge_of(&api, &disputed).await["disputed"], true);
    assert_closed(&api, &review_of(&api, &disputed).await, "disputed").await;

    let manual = [("capture_method", "manual")];
    let held = pay(&api, "13000", "4000000000000259", &manual).await;
    let held_review = review_of(&api, &held).await;
    let open = api.get(&format!("/v1/reviews/{held_review}")).await.json();
    assert_eq!(open["open"], true, "{open}");
    let held_id = held.json()["id"].as_str().unwrap().to_owned();
    let captured = api
        .post(&format!("/v1/payment_intents/{held_id}/capture"), &[])
        .await;
    assert_eq!(captured.status, 200, "{}", captured.text);
    assert_closed(&api, &held_review, "disputed").await;

    let open = api.get("/v1/reviews?open=true").await.json();
    assert_eq!(open["data"].as_array().unwrap().len(), 0, "{open}");
}

async fn review_of(api: &Api, answer: &Answer) -> String {
    assert_eq!(answer.status, 200, "{}", answer.text);
    let charge = charge_of(api, answer).await;
    charge["review"].as_str().expect("in review").to_owned()
}

/// The review is closed for `reason`, as retrieved and in its one
/// `review.closed` event.
async fn assert_closed(api: &Api, review_id: &str, reason: &str) {
    let review = api.get(&format!("/v1/reviews/{review_id}")).await.json();
    assert_eq!(review["open"], false, "{review}");
    assert_eq!(review["closed_reason"], reason, "{review}");
    assert_review_closed(api, review_id, reason).await;
}

async fn a_request_3ds_rule_challenges_and_the_authorization_after_it_is_authenticated(
    backend: Backend,
) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = start(&db, "");
    let api = Api::new(&server, &merchant.secret_key);
    add_rule(&api, "request_3ds if :amount_in_usd: > 200").await;
    // Proves the authorization after the challenge is assessed from the
    // browser's own connection (loopback here), not the stored customer_ip.
    let review = add_rule(
        &api,
        "review if :ip_address: = '127.0.0.1' and :is_3d_secure_authenticated:",
    )
    .await;
    let answer = pay(
        &api,
        "30000",
        "4242424242424242",
        &[("customer_ip", NEW_YORK_IP)],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let intent = answer.json();
    assert_eq!(intent["status"], "requires_action", "{intent}");
    let url = intent["next_action"]["redirect_to_url"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let passed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&url)
        .form(&[("outcome", "pass")])
        .send()
        .await
        .unwrap();
    assert!(
        passed.status().is_success() || passed.status().is_redirection(),
        "{}",
        passed.status()
    );
    let id = intent["id"].as_str().unwrap();
    let after = api.get(&format!("/v1/payment_intents/{id}")).await.json();
    assert_eq!(after["status"], "succeeded", "{after}");
    let charge = api
        .get(&format!(
            "/v1/charges/{}",
            after["latest_charge"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(charge["outcome"]["rule"], review["id"], "{charge}");
    assert_eq!(charge["outcome"]["type"], "manual_review");
}

async fn customer_ip_is_validated(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = start(&db, "");
    let api = Api::new(&server, &merchant.secret_key);
    let answer = pay(
        &api,
        "500",
        "4242424242424242",
        &[("customer_ip", "300.1.1.1")],
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.json()["error"]["param"], "customer_ip");
    let v6 = pay(
        &api,
        "500",
        "4242424242424242",
        &[("customer_ip", "2001:db8::1")],
    )
    .await;
    assert_eq!(v6.status, 200, "{}", v6.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn velocity_counters_are_shared_by_two_servers_on_one_postgres() {
    if !support::postgres_or_skip().await {
        return;
    }
    let db = TestDatabase::new(Backend::Postgres).await;
    let merchant = create_merchant(&db, "Acme");
    let servers = [start(&db, ""), start(&db, "")];
    let apis: Vec<Api> = servers
        .iter()
        .map(|s| Api::new(s, &merchant.secret_key))
        .collect();
    let rule = "review if :total_charges_per_ip_address_hourly: >= 1";
    add_rule(&apis[0], rule).await;
    for (i, number) in DISTINCT_CARDS.iter().enumerate() {
        let api = &apis[i % 2];
        let answer = pay(api, "100", number, &[("customer_ip", NEW_YORK_IP)]).await;
        let charge = charge_of(api, &answer).await;
        let signals = &charge["outcome"]["signals"];
        if i < 5 {
            assert_eq!(answer.status, 200, "payment {}: {}", i + 1, answer.text);
            assert_eq!(
                signals["total_charges_per_ip_address_hourly"],
                i as i64 + 1,
                "{charge}"
            );
        } else {
            assert_eq!(answer.status, 402, "payment {}: {}", i + 1, answer.text);
            assert_eq!(
                signals["cards_per_ip_address_hourly"],
                i as i64 + 1,
                "{charge}"
            );
        }
    }
}
