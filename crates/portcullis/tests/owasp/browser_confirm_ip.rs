//! API6 (card testing through the browser): a publishable-key confirm is
//! assessed from the connection's address (or, behind `trusted_proxies`,
//! the first untrusted `X-Forwarded-For` hop), never from a `customer_ip`
//! the browser names. Before the fix a rotated or omitted `customer_ip`
//! walked past the default card-testing rule.

use crate::fixtures::{ok, Env};
use crate::support::{Answer, Api, Backend};
use serde_json::Value;

/// Distinct Luhn-valid Visa numbers the sandbox does not list (so it
/// approves them), one per `seed`.
const UNLISTED_CARDS: [&str; 8] = [
    "4111111111110006",
    "4111111111110014",
    "4111111111110022",
    "4111111111110030",
    "4111111111110048",
    "4111111111110055",
    "4111111111110063",
    "4111111111110071",
];

/// Creates an intent (secret key) and confirms it in the browser
/// (publishable key) with a new card, naming `customer_ip`.
async fn confirm_in_browser(
    env: &Env,
    browser: &Api,
    seed: u32,
    extra: &[(&str, &str)],
    forwarded: Option<&str>,
) -> Answer {
    let intent = ok(&env
        .api
        .post(
            "/v1/payment_intents",
            &[("amount", "500"), ("currency", "usd")],
        )
        .await);
    let year = crate::fixtures::future_year();
    let number = UNLISTED_CARDS[seed as usize];
    let mut form = vec![
        ("client_secret", intent["client_secret"].as_str().unwrap()),
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", number),
        ("payment_method_data[card][exp_month]", "12"),
        ("payment_method_data[card][exp_year]", year.as_str()),
        ("payment_method_data[card][cvc]", "123"),
    ];
    form.extend_from_slice(extra);
    let mut request = browser
        .http
        .post(env.server.url(&format!(
            "/v1/payment_intents/{}/confirm",
            intent["id"].as_str().unwrap()
        )))
        .form(&form);
    if let Some(forwarded) = forwarded {
        request = request.header("X-Forwarded-For", forwarded);
    }
    browser.send(request).await
}

/// A rule that fires whenever the address is known, so that its charges'
/// `outcome.signals` show the `ip_address` the risk check saw.
async fn show_ip_address(env: &Env) {
    crate::support::risk::add_rule(&env.api, "review if :ip_address: != '0.0.0.0'").await;
}

/// The risk signals of `intent`'s charge, read with the secret key (a
/// publishable key's answer does not name the charge).
async fn signals_of(env: &Env, intent: &Value) -> Value {
    let path = format!("/v1/payment_intents/{}", intent["id"].as_str().unwrap());
    let intent = ok(&env.api.get(&path).await);
    let charge = intent["latest_charge"].as_str().expect("a charge");
    ok(&env.api.get(&format!("/v1/charges/{charge}")).await)["outcome"]["signals"].clone()
}

async fn rotating_customer_ip_does_not_defeat_card_testing_rule(backend: Backend) {
    let env = Env::new(backend).await;
    show_ip_address(&env).await;
    let browser = env.publishable();
    for seed in 0..5 {
        let ip = format!("198.51.100.{}", seed + 1);
        let answer = confirm_in_browser(&env, &browser, seed, &[("customer_ip", &ip)], None).await;
        let intent = ok(&answer);
        assert_eq!(intent["status"], "succeeded", "{intent}");
        let signals = signals_of(&env, &intent).await;
        assert_eq!(signals["ip_address"], "127.0.0.1", "{signals}");
    }
    // The sixth distinct card from the same connection is blocked, whatever
    // address the browser claims (or whether it claims one at all).
    let sixth =
        confirm_in_browser(&env, &browser, 5, &[("customer_ip", "203.0.113.77")], None).await;
    assert_eq!(sixth.status, 402, "{}", sixth.text);
    let seventh = confirm_in_browser(&env, &browser, 6, &[], None).await;
    assert_eq!(seventh.status, 402, "{}", seventh.text);
    // Without trusted proxies, X-Forwarded-For is not believed either.
    let forged = confirm_in_browser(&env, &browser, 7, &[], Some("192.0.2.44")).await;
    assert_eq!(forged.status, 402, "{}", forged.text);

    // A secret key (the merchant's server) may name its customer's address.
    let server_side = ok(&env
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "500"),
                ("currency", "usd"),
                ("confirm", "true"),
                ("payment_method", "pm_card_visa"),
                ("customer_ip", "203.0.113.5"),
            ],
        )
        .await);
    assert_eq!(
        signals_of(&env, &server_side).await["ip_address"],
        "203.0.113.5"
    );
}

async fn trusted_proxy_forwarded_address_is_used(backend: Backend) {
    let env = Env::with_args(
        backend,
        &[],
        &[("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8")],
    )
    .await;
    show_ip_address(&env).await;
    let browser = env.publishable();
    let answer = confirm_in_browser(
        &env,
        &browser,
        1,
        &[("customer_ip", "203.0.113.9")],
        Some("192.0.2.1, 198.51.100.23, 10.1.2.3"),
    )
    .await;
    let intent = ok(&answer);
    let signals = signals_of(&env, &intent).await;
    assert_eq!(signals["ip_address"], "198.51.100.23", "{signals}");
}

async fn trusted_proxies_from_the_settings_file(backend: Backend) {
    let db = crate::support::TestDatabase::new(backend).await;
    let merchant = crate::support::create_merchant(&db, "Acme");
    std::fs::create_dir_all(&db.data_dir).unwrap();
    let path = db.data_dir.join("proxies.toml");
    std::fs::write(&path, "trusted_proxies = [\"127.0.0.1\"]\n").unwrap();
    let server = crate::support::TestServer::start_with(&db, &["--config", path.to_str().unwrap()]);
    let env = Env {
        api: Api::new(&server, &merchant.secret_key),
        db,
        server,
        merchant,
    };
    show_ip_address(&env).await;
    let browser = env.publishable();
    let intent = ok(&confirm_in_browser(&env, &browser, 2, &[], Some("198.51.100.99")).await);
    assert_eq!(
        signals_of(&env, &intent).await["ip_address"],
        "198.51.100.99"
    );
}

crate::on_both_backends!(
    rotating_customer_ip_does_not_defeat_card_testing_rule,
    trusted_proxy_forwarded_address_is_used,
    trusted_proxies_from_the_settings_file,
);
