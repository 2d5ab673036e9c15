//! Honest card results: `cvc_check` says what the acquirer answered (else
//! `unavailable`), and a card's country and funding come from a BIN table
//! or are unknown. Before the fix `cvc_check` was `pass` before anything
//! checked it, and every card was a US credit card.

use crate::fixtures::{future_year, ok, Env};
use crate::support::{create_merchant, Api, Backend, TestDatabase, TestServer};
use serde_json::Value;

async fn pay_inline(api: &Api, number: &str, cvc: Option<&str>) -> crate::support::Answer {
    let year = future_year();
    let mut form = vec![
        ("amount", "1200"),
        ("currency", "usd"),
        ("confirm", "true"),
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", number),
        ("payment_method_data[card][exp_month]", "12"),
        ("payment_method_data[card][exp_year]", year.as_str()),
    ];
    if let Some(cvc) = cvc {
        form.push(("payment_method_data[card][cvc]", cvc));
    }
    api.post("/v1/payment_intents", &form).await
}

async fn charge_card(api: &Api, charge: &str) -> Value {
    ok(&api.get(&format!("/v1/charges/{charge}")).await)["payment_method_details"]["card"].clone()
}

async fn cvc_check_reports_the_acquirers_answer(backend: Backend) {
    let env = Env::new(backend).await;
    // A payment method nobody has charged: nothing checked its CVC.
    let year = future_year();
    let method = ok(&env
        .api
        .post(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[number]", "4242424242424242"),
                ("card[exp_month]", "12"),
                ("card[exp_year]", year.as_str()),
                ("card[cvc]", "123"),
            ],
        )
        .await);
    assert_eq!(
        method["card"]["checks"]["cvc_check"], "unavailable",
        "{method}"
    );

    // Approved with a CVC: the acquirer checked it.
    let paid = ok(&pay_inline(&env.api, "4242424242424242", Some("123")).await);
    let card = charge_card(&env.api, paid["latest_charge"].as_str().unwrap()).await;
    assert_eq!(card["checks"]["cvc_check"], "pass", "{card}");
    // Approved without a CVC: nothing to check.
    let paid = ok(&pay_inline(&env.api, "4242424242424242", None).await);
    let card = charge_card(&env.api, paid["latest_charge"].as_str().unwrap()).await;
    assert_eq!(card["checks"]["cvc_check"], "unavailable", "{card}");
    // Declined for the CVC: it failed.
    let declined = pay_inline(&env.api, "4000000000000127", Some("123")).await;
    assert_eq!(declined.status, 402, "{}", declined.text);
    let charge = declined.json()["error"]["charge"]
        .as_str()
        .unwrap()
        .to_owned();
    let card = charge_card(&env.api, &charge).await;
    assert_eq!(card["checks"]["cvc_check"], "fail", "{card}");
}

async fn country_is_unknown_unless_a_bin_table_knows(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    std::fs::create_dir_all(&db.data_dir).unwrap();
    let bins = db.data_dir.join("bins.csv");
    std::fs::write(&bins, "# prefix,country,funding\n520000,GB,debit\n").unwrap();
    let settings = db.data_dir.join("bins.toml");
    std::fs::write(&settings, format!("risk_bin_file = {bins:?}\n")).unwrap();
    let server = TestServer::start_with(&db, &["--config", settings.to_str().unwrap()]);
    let api = Api::new(&server, &merchant.secret_key);

    // A card no table knows: no country, unknown funding.
    let paid = ok(&pay_inline(&api, "4111111111111111", Some("123")).await);
    let card = charge_card(&api, paid["latest_charge"].as_str().unwrap()).await;
    assert_eq!(card["country"], Value::Null, "{card}");
    assert_eq!(card["funding"], "unknown", "{card}");
    let charge = ok(&api
        .get(&format!(
            "/v1/charges/{}",
            paid["latest_charge"].as_str().unwrap()
        ))
        .await);
    assert_ne!(
        charge["outcome"]["signals"]["card_country"], "US",
        "{charge}"
    );
    // The operator's table.
    let paid = ok(&pay_inline(&api, "5200000000000007", Some("123")).await);
    let card = charge_card(&api, paid["latest_charge"].as_str().unwrap()).await;
    assert_eq!(
        (card["country"].as_str(), card["funding"].as_str()),
        (Some("GB"), Some("debit")),
        "{card}"
    );
    // The published test cards are US-issued, as Stripe's are.
    let paid = ok(&pay_inline(&api, "4242424242424242", Some("123")).await);
    let card = charge_card(&api, paid["latest_charge"].as_str().unwrap()).await;
    assert_eq!(
        (card["country"].as_str(), card["funding"].as_str()),
        (Some("US"), Some("credit")),
        "{card}"
    );
}

crate::on_both_backends!(
    cvc_check_reports_the_acquirers_answer,
    country_is_unknown_unless_a_bin_table_knows,
);
