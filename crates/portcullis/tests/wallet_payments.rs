//! Wallet payments through the gateway against `portcullis wallet-sim`, on
//! SQLite and PostgreSQL: PaymentIntents confirmed with Alipay (QR, page,
//! wap, app) and WeChat Pay (web QR, mobile H5, android, ios, JSAPI) answer
//! the named `next_action`s; the customer pays on the simulator's page; its
//! signed notification (`/notify/…/ca_…`) makes the intent succeed once and
//! books the capture (`ledger verify` passes); forged, replayed,
//! duplicated, out-of-order and amount-mismatched notifications change
//! nothing wrongly; an unpaid trade is closed at expiry with
//! `payment_intent.canceled`, and a lost notification is resolved by query.

mod support;
mod wallets;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::wallet_qr::{
    assert_page, events_of, intent, open_page, wait_for_status, ALIPAY_UA, DESKTOP_UA, WECHAT_UA,
};
use support::wallet_shop::WalletShop;
use support::{cli, Api, Backend, TestDatabase, TestServer};
use wallets::WalletSim;

struct Setup {
    sim: WalletSim,
    db: TestDatabase,
    server: TestServer,
    api: Api,
    publishable: Api,
}

async fn setup(backend: Backend) -> Setup {
    let sim = WalletSim::start(None, &["--notify-speedup", "100000"]);
    let forms = [sim.account_form("alipay"), sim.account_form("wechat_pay")];
    let shop = WalletShop::open(backend, &forms).await;
    let publishable = Api::new(&shop.server, &shop.merchant.publishable_key);
    Setup {
        sim,
        db: shop.db,
        server: shop.server,
        api: shop.api,
        publishable,
    }
}

/// Creates and confirms a CNY intent of `amount` fen paid with `provider`.
async fn confirm(api: &Api, provider: &str, amount: &str, extra: &[(&str, &str)]) -> Value {
    let mut form = vec![
        ("amount", amount),
        ("currency", "cny"),
        ("payment_method_types[]", provider),
        ("confirm", "true"),
        ("payment_method_data[type]", provider),
        ("return_url", "https://shop.example/back"),
    ];
    form.extend_from_slice(extra);
    let answer = api.post("/v1/payment_intents", &form).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

/// Asserts that `paid` (a succeeded intent) paid with a `provider` payment
/// method that the API returns as Stripe's object (`type`, an empty
/// `provider` hash, no `card`), that its charge names the same payment
/// method, and returns the charge's `payment_method_details[provider]`.
async fn paid_with_wallet_method(api: &Api, paid: &Value, provider: &str) -> Value {
    let pm = paid["payment_method"]
        .as_str()
        .unwrap_or_else(|| panic!("{paid}"));
    assert!(pm.starts_with("pm_"), "{paid}");
    let method = api.get(&format!("/v1/payment_methods/{pm}")).await;
    assert_eq!(method.status, 200, "{}", method.text);
    let method = method.json();
    assert_eq!(method["type"], provider, "{method}");
    assert_eq!(method[provider], serde_json::json!({}), "{method}");
    assert!(method.get("card").is_none(), "{method}");
    let charge = paid["latest_charge"].as_str().unwrap();
    let charge = api.get(&format!("/v1/charges/{charge}")).await.json();
    assert_eq!(charge["payment_method"], pm, "{charge}");
    let details = &charge["payment_method_details"];
    assert_eq!(details["type"], provider, "{details}");
    let details = details[provider].clone();
    assert!(details["transaction_id"].is_string(), "{details}");
    details
}

/// A keyed fingerprint: 32 lowercase hex digits that show nothing of the
/// buyer's id.
fn assert_fingerprint(details: &Value) -> String {
    let fingerprint = details["fingerprint"]
        .as_str()
        .unwrap_or_else(|| panic!("{details}"));
    assert_eq!(fingerprint.len(), 32, "{details}");
    assert!(
        fingerprint.bytes().all(|b| b.is_ascii_hexdigit()),
        "{details}"
    );
    assert!(!fingerprint.contains("2088"), "{details}");
    fingerprint.to_owned()
}

/// `ledger verify` passes over a ledger that holds the wallet captures.
fn ledger_verifies(db: &TestDatabase) {
    let out = cli(db, &["ledger", "verify"]);
    let entries: u64 = out
        .strip_prefix("ledger verified: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(entries > 0, "{out}");
}

async fn qr_payments_succeed_on_notification(backend: Backend) {
    let s = setup(backend).await;
    let alipay = confirm(
        &s.api,
        "alipay",
        "2000",
        &[("payment_method_options[alipay][channel]", "qr")],
    )
    .await;
    assert_eq!(alipay["status"], "requires_action", "{alipay}");
    let action = &alipay["next_action"];
    assert_eq!(action["type"], "alipay_display_qr_code", "{action}");
    let qr = &action["alipay_display_qr_code"];
    let data = qr["data"].as_str().unwrap();
    assert!(data.starts_with(&s.sim.base_url), "{data}");
    assert!(qr["image_data_url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    // The images and page are ours, under the client secret only.
    let png = reqwest::get(qr["image_url_png"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    assert_eq!(&png.bytes().await.unwrap()[..4], b"\x89PNG");
    let svg = reqwest::get(qr["image_url_svg"].as_str().unwrap())
        .await
        .unwrap();
    assert!(svg.text().await.unwrap().contains("<svg"));
    let page = reqwest::get(qr["hosted_instructions_url"].as_str().unwrap())
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains("20.00"));
    let id = alipay["id"].as_str().unwrap();
    let guessed = reqwest::get(format!(
        "{}/v1/payment_intents/{id}/qr_code.png?client_secret={id}_secret_wrong",
        s.server.base_url
    ))
    .await
    .unwrap();
    assert_eq!(guessed.status(), 404);

    let page = s.sim.page_of(data).await;
    assert_eq!(s.sim.act(&page, "pay", "none").await.status(), 200);
    let paid = wait_for_status(&s.api, id, "succeeded", Duration::from_secs(20)).await;
    assert_eq!(paid["amount_received"], 2000);
    assert_eq!(paid["next_action"], Value::Null);
    assert_eq!(paid["payment_method"], alipay["payment_method"], "{paid}");
    assert_eq!(events_of(&s.api, "payment_intent.succeeded", id).await, 1);
    // What the simulator's notification said of its buyer (`buyer_id`).
    let details = paid_with_wallet_method(&s.api, &paid, "alipay").await;
    assert_eq!(details["buyer_id"], "2088000000000001", "{details}");
    let alipay_buyer = assert_fingerprint(&details);

    let wechat = confirm(
        &s.api,
        "wechat_pay",
        "1234",
        &[("payment_method_options[wechat_pay][client]", "web")],
    )
    .await;
    let action = &wechat["next_action"];
    assert_eq!(action["type"], "wechat_pay_display_qr_code", "{action}");
    let data = action["wechat_pay_display_qr_code"]["data"]
        .as_str()
        .unwrap();
    assert!(data.starts_with("weixin://"), "{data}");
    let page = s.sim.page_of(data).await;
    assert_eq!(s.sim.act(&page, "pay", "none").await.status(), 200);
    let id = wechat["id"].as_str().unwrap();
    let paid = wait_for_status(&s.api, id, "succeeded", Duration::from_secs(20)).await;
    assert_eq!(events_of(&s.api, "payment_intent.succeeded", id).await, 1);
    // WeChat Pay names its payer by openid: a fingerprint, no buyer id.
    let details = paid_with_wallet_method(&s.api, &paid, "wechat_pay").await;
    assert!(details.get("buyer_id").is_none(), "{details}");
    assert_ne!(assert_fingerprint(&details), alipay_buyer);

    let balance = s.api.get("/v1/balance").await.json();
    assert!(balance.to_string().contains("cny"), "{balance}");
    ledger_verifies(&s.db);
}

async fn every_channel_answers_its_next_action(backend: Backend) {
    let s = setup(backend).await;
    for (channel, kind) in [
        ("page", "alipay_handle_redirect"),
        ("wap", "alipay_handle_redirect"),
        ("app", "alipay_handle_redirect"),
    ] {
        let answer = confirm(
            &s.api,
            "alipay",
            "100",
            &[("payment_method_options[alipay][channel]", channel)],
        )
        .await;
        let action = &answer["next_action"];
        assert_eq!(action["type"], kind, "{channel}: {action}");
        let redirect = &action[kind];
        assert!(
            redirect["url"].as_str().unwrap().contains("/gateway.do?"),
            "{redirect}"
        );
        assert_eq!(redirect["return_url"], "https://shop.example/back");
        if channel == "app" {
            assert!(redirect["native_data"]
                .as_str()
                .unwrap()
                .contains("alipay.trade.app.pay"));
        } else {
            assert_eq!(redirect["native_data"], Value::Null);
        }
    }
    let mobile = confirm(
        &s.api,
        "wechat_pay",
        "100",
        &[
            ("payment_method_options[wechat_pay][client]", "mobile"),
            ("customer_ip", "203.0.113.9"),
        ],
    )
    .await;
    assert_eq!(mobile["next_action"]["type"], "redirect_to_url", "{mobile}");
    let url = mobile["next_action"]["redirect_to_url"]["url"]
        .as_str()
        .unwrap();
    assert!(
        url.contains("redirect_url=https%3A%2F%2Fshop.example%2Fback"),
        "{url}"
    );
    let android = confirm(
        &s.api,
        "wechat_pay",
        "100",
        &[("payment_method_options[wechat_pay][client]", "android")],
    )
    .await;
    let app = &android["next_action"]["wechat_pay_redirect_to_android_app"];
    for field in [
        "app_id",
        "nonce_str",
        "package",
        "partner_id",
        "prepay_id",
        "sign",
        "timestamp",
    ] {
        assert!(app[field].is_string(), "{field}: {android}");
    }
    assert_eq!(app["package"], "Sign=WXPay");
    let ios = confirm(
        &s.api,
        "wechat_pay",
        "100",
        &[("payment_method_options[wechat_pay][client]", "ios")],
    )
    .await;
    let native_url = ios["next_action"]["wechat_pay_redirect_to_ios_app"]["native_url"]
        .as_str()
        .unwrap();
    assert!(native_url.starts_with("weixin://app/"), "{native_url}");
    let jsapi = confirm(
        &s.api,
        "wechat_pay",
        "100",
        &[
            ("payment_method_options[wechat_pay][client]", "jsapi"),
            (
                "payment_method_options[wechat_pay][openid]",
                "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            ),
        ],
    )
    .await;
    let pay = &jsapi["next_action"]["wechat_pay_jsapi"];
    assert_eq!(jsapi["next_action"]["type"], "wechat_pay_jsapi");
    assert!(
        pay["package"].as_str().unwrap().starts_with("prepay_id="),
        "{pay}"
    );
    assert_eq!(pay["signType"], "RSA");

    // Refusals: a currency the providers do not take, a type not listed,
    // JSAPI without an openid.
    let usd = s
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("payment_method_types[]", "alipay"),
                ("confirm", "true"),
                ("payment_method_data[type]", "alipay"),
            ],
        )
        .await;
    assert_eq!(usd.status, 400, "{}", usd.text);
    let unlisted = s
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "100"),
                ("currency", "cny"),
                ("confirm", "true"),
                ("payment_method_data[type]", "wechat_pay"),
            ],
        )
        .await;
    assert_eq!(unlisted.status, 400, "{}", unlisted.text);
    let no_openid = s
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "100"),
                ("currency", "cny"),
                ("payment_method_types[]", "wechat_pay"),
                ("confirm", "true"),
                ("payment_method_data[type]", "wechat_pay"),
                ("payment_method_options[wechat_pay][client]", "jsapi"),
            ],
        )
        .await;
    assert_eq!(no_openid.status, 400, "{}", no_openid.text);
    // A publishable key confirms with the client secret.
    let open = s
        .api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "300"),
                ("currency", "cny"),
                ("payment_method_types[]", "alipay"),
            ],
        )
        .await
        .json();
    let id = open["id"].as_str().unwrap();
    let confirmed = s
        .publishable
        .post(
            &format!("/v1/payment_intents/{id}/confirm"),
            &[
                ("client_secret", open["client_secret"].as_str().unwrap()),
                ("payment_method_data[type]", "alipay"),
                ("payment_method_options[alipay][channel]", "qr"),
            ],
        )
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    assert_eq!(
        confirmed.json()["next_action"]["type"],
        "alipay_display_qr_code"
    );
}

/// Pays intent of `provider` with notification `fault`; returns its id.
async fn pay_with_fault(s: &Setup, provider: &str, fault: &str, extra: &[(&str, &str)]) -> String {
    let option = if provider == "alipay" {
        ("payment_method_options[alipay][channel]", "qr")
    } else {
        ("payment_method_options[wechat_pay][client]", "web")
    };
    let mut options = vec![option];
    options.extend_from_slice(extra);
    let answer = confirm(&s.api, provider, "880", &options).await;
    let action = &answer["next_action"];
    let kind = action["type"].as_str().unwrap();
    let data = action[kind]["data"].as_str().unwrap();
    let page = s.sim.page_of(data).await;
    assert_eq!(s.sim.act(&page, "pay", fault).await.status(), 200);
    answer["id"].as_str().unwrap().to_owned()
}

async fn faulty_notifications_change_nothing_wrongly(backend: Backend) {
    let s = setup(backend).await;
    // Duplicated and replayed: succeeded exactly once.
    for (provider, fault) in [
        ("alipay", "duplicate"),
        ("wechat_pay", "duplicate"),
        ("alipay", "replayed"),
        ("wechat_pay", "replayed"),
        ("alipay", "out_of_order"),
        ("wechat_pay", "stale"),
        ("alipay", "forged"),
        ("wechat_pay", "forged"),
    ] {
        let id = pay_with_fault(&s, provider, fault, &[]).await;
        wait_for_status(&s.api, &id, "succeeded", Duration::from_secs(20)).await;
        // Give late copies time to arrive, then check nothing moved.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = intent(&s.api, &id).await;
        assert_eq!(after["status"], "succeeded", "{provider} {fault}");
        assert_eq!(
            support::events_about(&s.api, "payment_intent.succeeded", &id).await,
            1,
            "{provider} {fault}"
        );
    }
    let log = s.server.log();
    assert!(
        log.contains("wallet notification refused"),
        "no refusal logged"
    );
    assert!(
        log.contains("does not verify"),
        "forged notifications are logged as such"
    );
    assert!(
        log.contains("alipay notify_id already taken: acknowledged without effect"),
        "a replayed Alipay notify_id is acknowledged and logged"
    );

    // Amount mismatch: refused every time; the intent stays waiting.
    for provider in ["alipay", "wechat_pay"] {
        let id = pay_with_fault(&s, provider, "amount_mismatch", &[]).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = intent(&s.api, &id).await;
        assert_eq!(after["status"], "requires_action", "{provider}: {after}");
    }
    assert!(s.server.log().contains("amount mismatch"));
    ledger_verifies(&s.db);
}

async fn expiry_closes_unpaid_trades_and_queries_lost_notifications(backend: Backend) {
    let s = setup(backend).await;
    let unpaid = confirm(
        &s.api,
        "alipay",
        "500",
        &[
            ("payment_method_options[alipay][channel]", "qr"),
            (
                "payment_method_options[alipay][expires_after_seconds]",
                "10",
            ),
        ],
    )
    .await;
    let unpaid_id = unpaid["id"].as_str().unwrap().to_owned();
    let unpaid_wechat = confirm(
        &s.api,
        "wechat_pay",
        "500",
        &[(
            "payment_method_options[wechat_pay][expires_after_seconds]",
            "10",
        )],
    )
    .await;
    let lost = pay_with_fault(
        &s,
        "wechat_pay",
        "lost",
        &[(
            "payment_method_options[wechat_pay][expires_after_seconds]",
            "10",
        )],
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(intent(&s.api, &lost).await["status"], "requires_action");

    let canceled = wait_for_status(&s.api, &unpaid_id, "canceled", Duration::from_secs(30)).await;
    assert_eq!(canceled["cancellation_reason"], "abandoned");
    assert_eq!(
        support::events_about(&s.api, "payment_intent.canceled", &unpaid_id).await,
        1
    );
    let wechat_id = unpaid_wechat["id"].as_str().unwrap();
    wait_for_status(&s.api, wechat_id, "canceled", Duration::from_secs(30)).await;
    // Closed at the provider too.
    let trades = s.sim.trades().await;
    let trade = trades
        .iter()
        .find(|t| t["out_trade_no"] == wechat_id)
        .unwrap();
    assert!(
        trade.to_string().to_lowercase().contains("closed"),
        "{trade}"
    );
    // A cancel closes the trade at the provider first.
    let to_cancel = confirm(&s.api, "wechat_pay", "700", &[]).await;
    let cancel_id = to_cancel["id"].as_str().unwrap();
    let canceled = s
        .api
        .post(&format!("/v1/payment_intents/{cancel_id}/cancel"), &[])
        .await;
    assert_eq!(canceled.status, 200, "{}", canceled.text);
    let trades = s.sim.trades().await;
    let trade = trades
        .iter()
        .find(|t| t["out_trade_no"] == cancel_id)
        .unwrap();
    assert!(
        trade.to_string().to_lowercase().contains("closed"),
        "{trade}"
    );
    // The paid trade whose notification was lost: found paid by query.
    wait_for_status(&s.api, &lost, "succeeded", Duration::from_secs(30)).await;
    assert_eq!(
        support::events_about(&s.api, "payment_intent.succeeded", &lost).await,
        1
    );
    ledger_verifies(&s.db);
}

/// Creates a CNY intent listing both wallets and confirms it with a
/// payment code given as `data` (`payment_method_data[…]` pairs).
/// A notification lost for good is found by the worker's early query (10 s
/// after the trade opened), long before the trade's expiry.
async fn a_lost_notification_is_found_before_expiry(backend: Backend) {
    let s = setup(backend).await;
    for (provider, expiry) in [
        (
            "alipay",
            "payment_method_options[alipay][expires_after_seconds]",
        ),
        (
            "wechat_pay",
            "payment_method_options[wechat_pay][expires_after_seconds]",
        ),
    ] {
        let id = pay_with_fault(&s, provider, "lost", &[(expiry, "1800")]).await;
        let paid = wait_for_status(&s.api, &id, "succeeded", Duration::from_secs(25)).await;
        assert_eq!(paid["amount_received"], 880, "{provider}");
        assert_eq!(
            support::events_about(&s.api, "payment_intent.succeeded", &id).await,
            1
        );
    }
    assert!(s
        .server
        .log()
        .contains("paid trade found before its notification"));
    ledger_verifies(&s.db);
}

async fn pay_with_code(api: &Api, data: &[(&str, &str)]) -> support::Answer {
    let mut form = vec![
        ("amount", "1500"),
        ("currency", "cny"),
        ("payment_method_types[]", "alipay"),
        ("payment_method_types[]", "wechat_pay"),
        ("confirm", "true"),
    ];
    form.extend_from_slice(data);
    api.post("/v1/payment_intents", &form).await
}

async fn payment_codes_are_decided_while_the_request_waits(backend: Backend) {
    let s = setup(backend).await;
    // Paid at once, with each provider named and with wallet_code.
    for data in [
        vec![
            ("payment_method_data[type]", "alipay"),
            (
                "payment_method_data[alipay][auth_code]",
                "287654321098765430",
            ),
        ],
        vec![
            ("payment_method_data[type]", "wechat_pay"),
            (
                "payment_method_data[wechat_pay][auth_code]",
                "134567890123456780",
            ),
        ],
        vec![
            ("payment_method_data[type]", "wallet_code"),
            (
                "payment_method_data[wallet_code][auth_code]",
                "287654321098765430",
            ),
        ],
        vec![
            ("payment_method_data[type]", "wallet_code"),
            (
                "payment_method_data[wallet_code][auth_code]",
                "134567890123456780",
            ),
        ],
    ] {
        let paid = pay_with_code(&s.api, &data).await;
        assert_eq!(paid.status, 200, "{data:?}: {}", paid.text);
        let paid = paid.json();
        assert_eq!(paid["status"], "succeeded", "{data:?}: {paid}");
        assert_eq!(paid["amount_received"], 1500);
        let id = paid["id"].as_str().unwrap();
        assert_eq!(events_of(&s.api, "payment_intent.succeeded", id).await, 1);
        // The code's wallet is the payment method's, `wallet_code` too.
        let provider = if data[1].1.starts_with("28") {
            "alipay"
        } else {
            "wechat_pay"
        };
        let details = paid_with_wallet_method(&s.api, &paid, provider).await;
        assert_fingerprint(&details);
    }
    let trades = s.sim.trades().await;
    let providers: Vec<&str> = trades
        .iter()
        .filter(|t| t["kind"] == "MICROPAY" || t["kind"] == "alipay.trade.pay")
        .map(|t| t["provider"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(providers.len(), 4, "{trades:?}");

    // Declined: 402 and the intent back to requires_payment_method.
    let declined = pay_with_code(
        &s.api,
        &[
            ("payment_method_data[type]", "wallet_code"),
            (
                "payment_method_data[wallet_code][auth_code]",
                "134567890123456781",
            ),
        ],
    )
    .await;
    assert_eq!(declined.status, 402, "{}", declined.text);
    let error = &declined.json()["error"];
    assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
    // The buyer confirms on the phone: polled until paid.
    let waited = pay_with_code(
        &s.api,
        &[
            ("payment_method_data[type]", "wechat_pay"),
            (
                "payment_method_data[wechat_pay][auth_code]",
                "134567890123456782",
            ),
        ],
    )
    .await;
    assert_eq!(waited.status, 200, "{}", waited.text);
    assert_eq!(waited.json()["status"], "succeeded");
    // Never confirmed: reversed after 30 s and declined.
    let started = Instant::now();
    let never = pay_with_code(
        &s.api,
        &[
            ("payment_method_data[type]", "wechat_pay"),
            (
                "payment_method_data[wechat_pay][auth_code]",
                "134567890123456783",
            ),
        ],
    )
    .await;
    assert!(started.elapsed() >= Duration::from_secs(30));
    assert_eq!(never.status, 402, "{}", never.text);
    let id = never.json()["error"]["payment_intent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let trades = s.sim.trades().await;
    let trade = trades.iter().find(|t| t["out_trade_no"] == id).unwrap();
    assert_eq!(trade["state"], "reversed", "{trade}");
    // Not a payment code of either wallet.
    let bogus = pay_with_code(
        &s.api,
        &[
            ("payment_method_data[type]", "wallet_code"),
            ("payment_method_data[wallet_code][auth_code]", "9912345"),
        ],
    )
    .await;
    assert_eq!(bogus.status, 400, "{}", bogus.text);
    ledger_verifies(&s.db);
}

/// A top-up (`purpose=customer_balance_top_up`) paid by Alipay or WeChat
/// Pay credits the customer's balance when the provider reports it paid,
/// in the write set that books the capture.
async fn wallet_top_ups_credit_the_customer_balance(backend: Backend) {
    let s = setup(backend).await;
    let customer = s.api.post("/v1/customers", &[]).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (provider, code) in [
        ("alipay", "287654321098765430"),
        ("wechat_pay", "134567890123456780"),
    ] {
        let code_param = format!("payment_method_data[{provider}][auth_code]");
        let paid = s
            .api
            .post(
                "/v1/payment_intents",
                &[
                    ("amount", "1500"),
                    ("currency", "cny"),
                    ("customer", customer.as_str()),
                    ("purpose", "customer_balance_top_up"),
                    ("payment_method_types[]", provider),
                    ("confirm", "true"),
                    ("payment_method_data[type]", provider),
                    (code_param.as_str(), code),
                ],
            )
            .await;
        assert_eq!(paid.status, 200, "{provider}: {}", paid.text);
        assert_eq!(paid.json()["status"], "succeeded", "{}", paid.text);
    }
    let fetched = s.api.get(&format!("/v1/customers/{customer}")).await.json();
    assert_eq!(
        (fetched["balance"].as_i64(), fetched["currency"].as_str()),
        (Some(-3000), Some("cny"))
    );
    let listed = s
        .api
        .get(&format!("/v1/customers/{customer}/balance_transactions"))
        .await
        .json();
    let kinds: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["top_up", "top_up"]);
    drop(s.server);
    ledger_verifies(&s.db);
}

async fn aggregated_qr_picks_the_wallet_by_browser(backend: Backend) {
    let s = setup(backend).await;
    let both = [
        ("amount", "990"),
        ("currency", "cny"),
        ("payment_method_types[]", "alipay"),
        ("payment_method_types[]", "wechat_pay"),
        ("confirm", "true"),
        ("payment_method_data[type]", "wallet_qr"),
    ];
    let mut intents = vec![];
    for _ in 0..3 {
        let answer = s.api.post("/v1/payment_intents", &both).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        intents.push(answer.json());
    }
    let qr = &intents[0]["next_action"];
    assert_eq!(qr["type"], "display_qr_code", "{qr}");
    let data = qr["display_qr_code"]["data"].as_str().unwrap();
    assert!(
        data.starts_with(&format!("{}/wallet_qr/", s.server.base_url)),
        "{data}"
    );
    assert!(qr["display_qr_code"]["image_url_png"]
        .as_str()
        .unwrap()
        .contains("qr_code.png"));

    // A desktop browser is offered both, in its language.
    let page = open_page(data, DESKTOP_UA, "zh-CN,zh;q=0.9").await;
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    assert!(
        text.contains("支付宝") && text.contains("微信支付") && text.contains("lang=\"zh-CN\""),
        "{text}"
    );
    let text = open_page(data, DESKTOP_UA, "en")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("Alipay") && text.contains("WeChat Pay") && text.contains("9.90"),
        "{text}"
    );

    // Alipay's app: an Alipay wap trade; paying it makes the intent succeed.
    let alipay = open_page(data, ALIPAY_UA, "zh-CN").await;
    assert_eq!(alipay.status(), 302);
    let location = alipay.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("/gateway.do?") && location.contains("alipay.trade.wap.pay"),
        "{location}"
    );
    let id = intents[0]["id"].as_str().unwrap();
    // The buyer's browser opens Alipay's page, then pays on it.
    let opened = reqwest::get(&location).await.unwrap();
    assert_eq!(opened.status(), 200);
    let trades = s.sim.trades().await;
    let trade = trades.iter().find(|t| t["out_trade_no"] == id).unwrap();
    let customer = format!("{}/c/{}", s.sim.base_url, trade["token"].as_str().unwrap());
    assert_eq!(s.sim.act(&customer, "pay", "none").await.status(), 200);
    let paid = wait_for_status(&s.api, id, "succeeded", Duration::from_secs(20)).await;
    assert_eq!(paid["amount_received"], 990);
    // No payment method until the customer picked; then the picked wallet's.
    assert_eq!(intents[0]["payment_method"], Value::Null);
    paid_with_wallet_method(&s.api, &paid, "alipay").await;

    // WeChat's browser: a WeChat Pay H5 trade.
    let data = intents[1]["next_action"]["display_qr_code"]["data"]
        .as_str()
        .unwrap();
    let wechat = open_page(data, WECHAT_UA, "zh-CN").await;
    assert_eq!(wechat.status(), 302);
    let location = wechat.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(&s.sim.base_url), "{location}");
    let id = intents[1]["id"].as_str().unwrap();
    let trades = s.sim.trades().await;
    let trade = trades.iter().find(|t| t["out_trade_no"] == id).unwrap();
    assert_eq!(trade["kind"], "MWEB", "{trade}");
    let picked = intent(&s.api, id).await;
    let pm = picked["payment_method"].as_str().unwrap();
    let method = s.api.get(&format!("/v1/payment_methods/{pm}")).await.json();
    assert_eq!(method["type"], "wechat_pay", "{method}");
    // Once chosen, the other wallet is refused for that payment, on a page.
    let other = open_page(data, ALIPAY_UA, "en").await;
    assert_page(other, 409, "Payment already started").await;
    // A wrong secret is a 404 page, in the browser's language.
    let wrong = format!(
        "{}/wallet_qr/{id}?client_secret={id}_secret_nope",
        s.server.base_url
    );
    assert_page(open_page(&wrong, ALIPAY_UA, "en").await, 404, "not known").await;
    assert_page(
        open_page(&wrong, DESKTOP_UA, "zh-CN").await,
        404,
        "未找到付款码",
    )
    .await;
    rescans_after_the_end_are_told_why(&s, &intents).await;
}

/// The same aggregated code scanned again once its intent is paid,
/// declined or canceled: a page that says so, never the API's JSON.
async fn rescans_after_the_end_are_told_why(s: &Setup, intents: &[Value]) {
    let data_of = |i: usize| {
        intents[i]["next_action"]["display_qr_code"]["data"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Paid (intents[0]).
    assert_page(
        open_page(&data_of(0), ALIPAY_UA, "en").await,
        200,
        "Already paid",
    )
    .await;
    assert_page(
        open_page(&data_of(0), DESKTOP_UA, "zh-CN").await,
        200,
        "已支付",
    )
    .await;
    // Declined in Alipay: back in requires_payment_method.
    let declined = data_of(2);
    let opened = open_page(&declined, ALIPAY_UA, "en").await;
    assert_eq!(opened.status(), 302);
    let location = opened.headers()["location"].to_str().unwrap();
    assert_eq!(reqwest::get(location).await.unwrap().status(), 200);
    let id = intents[2]["id"].as_str().unwrap();
    let trades = s.sim.trades().await;
    let trade = trades.iter().find(|t| t["out_trade_no"] == id).unwrap();
    let customer = format!("{}/c/{}", s.sim.base_url, trade["token"].as_str().unwrap());
    assert_eq!(s.sim.act(&customer, "decline", "none").await.status(), 200);
    wait_for_status(
        &s.api,
        id,
        "requires_payment_method",
        Duration::from_secs(20),
    )
    .await;
    // Declined: the code is scanned again to pay (see wallet_risk.rs) —
    // until the merchant confirms the intent another way, which voids it.
    let again = open_page(&declined, DESKTOP_UA, "en").await;
    assert_page(again, 200, "Choose how to pay").await;
    let other_way = s
        .api
        .post(
            &format!("/v1/payment_intents/{id}/confirm"),
            &[
                ("payment_method_data[type]", "alipay"),
                ("payment_method_options[alipay][channel]", "qr"),
            ],
        )
        .await;
    assert_eq!(other_way.status, 200, "{}", other_way.text);
    for agent in [ALIPAY_UA, WECHAT_UA, DESKTOP_UA] {
        let again = open_page(&declined, agent, "en").await;
        assert_page(again, 410, "no longer valid").await;
    }
    let again = open_page(&declined, DESKTOP_UA, "zh-CN,zh;q=0.9").await;
    assert_page(again, 410, "此付款码已失效").await;
    // Canceled by the merchant (intents[1], its WeChat trade open).
    let id = intents[1]["id"].as_str().unwrap();
    let canceled = s
        .api
        .post(&format!("/v1/payment_intents/{id}/cancel"), &[])
        .await;
    assert_eq!(canceled.status, 200, "{}", canceled.text);
    assert_page(
        open_page(&data_of(1), WECHAT_UA, "en").await,
        410,
        "canceled",
    )
    .await;
    assert_page(
        open_page(&data_of(1), WECHAT_UA, "zh-CN").await,
        410,
        "付款已取消",
    )
    .await;
}

/// Wallet payment methods of their own: created, retrieved, attached,
/// listed by type, and paying an intent by id (its charge names it); a
/// card-only intent or another wallet's refuses them, storing nothing.
async fn wallet_payment_methods_pay_by_id(backend: Backend) {
    let s = setup(backend).await;
    let created = s
        .publishable
        .post(
            "/v1/payment_methods",
            &[("type", "alipay"), ("billing_details[name]", "Li Lei")],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let method = created.json();
    assert_eq!(method["type"], "alipay", "{method}");
    assert_eq!(method["alipay"], serde_json::json!({}), "{method}");
    assert!(method.get("card").is_none(), "{method}");
    assert_eq!(method["billing_details"]["name"], "Li Lei");
    let pm = method["id"].as_str().unwrap();
    assert_eq!(
        s.api.get(&format!("/v1/payment_methods/{pm}")).await.json(),
        method
    );
    let wechat = s
        .api
        .post("/v1/payment_methods", &[("type", "wechat_pay")])
        .await;
    assert_eq!(
        wechat.json()["wechat_pay"],
        serde_json::json!({}),
        "{}",
        wechat.text
    );
    for (form, param) in [
        (vec![("type", "sepa_debit")], "type"),
        (vec![("type", "alipay"), ("alipay[x]", "1")], "alipay[x]"),
    ] {
        let refused = s.api.post("/v1/payment_methods", &form).await;
        assert_eq!(refused.status, 400, "{}", refused.text);
        assert_eq!(refused.json()["error"]["param"], param, "{}", refused.text);
    }
    let expiry = s
        .api
        .post(
            &format!("/v1/payment_methods/{pm}"),
            &[("card[exp_month]", "1")],
        )
        .await;
    assert_eq!(expiry.status, 400, "{}", expiry.text);

    let customer = s
        .api
        .post("/v1/customers", &[("name", "Li Lei")])
        .await
        .json();
    let cus = customer["id"].as_str().unwrap();
    let attached = s
        .api
        .post(
            &format!("/v1/payment_methods/{pm}/attach"),
            &[("customer", cus)],
        )
        .await;
    assert_eq!(attached.json()["customer"], cus, "{}", attached.text);
    for (kind, count) in [("alipay", 1), ("wechat_pay", 0), ("card", 0)] {
        let listed = s
            .api
            .get(&format!("/v1/customers/{cus}/payment_methods?type={kind}"))
            .await
            .json();
        assert_eq!(
            listed["data"].as_array().unwrap().len(),
            count,
            "{kind}: {listed}"
        );
    }
    let listed = s
        .api
        .get("/v1/payment_methods?type=wechat_pay")
        .await
        .json();
    assert_eq!(listed["data"][0]["id"], wechat.json()["id"], "{listed}");
    let bogus = s.api.get("/v1/payment_methods?type=bogus").await;
    assert_eq!(bogus.status, 400, "{}", bogus.text);

    // Neither a card-only intent nor another wallet's takes it.
    for (types, currency, code) in [
        ("card", "usd", "payment_intent_incompatible_payment_method"),
        ("wechat_pay", "cny", "payment_intent_unexpected_state"),
    ] {
        let refused = s
            .api
            .post(
                "/v1/payment_intents",
                &[
                    ("amount", "500"),
                    ("currency", currency),
                    ("payment_method_types[]", types),
                    ("customer", cus),
                    ("confirm", "true"),
                    ("payment_method", pm),
                ],
            )
            .await;
        assert_eq!(refused.status, 400, "{}", refused.text);
        assert_eq!(refused.json()["error"]["code"], code, "{}", refused.text);
    }
    let listed = s.api.get("/v1/payment_intents").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 0, "{listed}");

    // It pays its customer's intent; the charge names it.
    let form = [
        ("amount", "777"),
        ("currency", "cny"),
        ("payment_method_types[]", "alipay"),
        ("customer", cus),
        ("confirm", "true"),
        ("payment_method", pm),
        ("payment_method_options[alipay][channel]", "qr"),
    ];
    let confirmed = s.api.post("/v1/payment_intents", &form).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    let confirmed = confirmed.json();
    assert_eq!(confirmed["payment_method"], pm, "{confirmed}");
    let data = confirmed["next_action"]["alipay_display_qr_code"]["data"]
        .as_str()
        .unwrap();
    let page = s.sim.page_of(data).await;
    assert_eq!(s.sim.act(&page, "pay", "none").await.status(), 200);
    let id = confirmed["id"].as_str().unwrap();
    let paid = wait_for_status(&s.api, id, "succeeded", Duration::from_secs(20)).await;
    paid_with_wallet_method(&s.api, &paid, "alipay").await;
    assert_eq!(paid["payment_method"], pm);
}

on_both_backends!(
    wallet_payment_methods_pay_by_id,
    aggregated_qr_picks_the_wallet_by_browser,
    payment_codes_are_decided_while_the_request_waits,
    qr_payments_succeed_on_notification,
    every_channel_answers_its_next_action,
    faulty_notifications_change_nothing_wrongly,
    expiry_closes_unpaid_trades_and_queries_lost_notifications,
    wallet_top_ups_credit_the_customer_balance,
    a_lost_notification_is_found_before_expiry,
);
