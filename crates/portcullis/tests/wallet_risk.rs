//! Risk rules on wallet payments, against `portcullis wallet-sim`, on
//! SQLite and PostgreSQL: at confirm, before the provider is called, the
//! merchant's rules read the signals that need no card — amount,
//! `payment_method_type`, lists on email, velocity per customer. A block
//! rule that matches answers as a blocked card payment does (402,
//! `outcome.type: blocked`) and opens no trade at the provider; a rule on
//! a card-only signal never matches a wallet payment; an allowed payment's
//! charge carries a real `risk_score` and `risk_level`, and once paid it
//! counts as authorized for its email.

mod support;
mod wallets;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::risk::add_rule;
use support::wallet_shop::WalletShop;
use support::{Answer, Api, Backend, TestDatabase, TestServer};
use wallets::WalletSim;

struct Setup {
    sim: WalletSim,
    _db: TestDatabase,
    _server: TestServer,
    api: Api,
}

async fn setup(backend: Backend) -> Setup {
    let sim = WalletSim::start(None, &["--notify-speedup", "100000"]);
    let forms = [sim.account_form("alipay"), sim.account_form("wechat_pay")];
    let shop = WalletShop::open(backend, &forms).await;
    Setup {
        sim,
        _db: shop.db,
        _server: shop.server,
        api: shop.api,
    }
}

/// Creates and confirms a CNY intent of `amount` fen with `provider`'s QR.
async fn confirm(api: &Api, provider: &str, amount: &str, extra: &[(&str, &str)]) -> Answer {
    let option = match provider {
        "alipay" => ("payment_method_options[alipay][channel]", "qr"),
        _ => ("payment_method_options[wechat_pay][client]", "web"),
    };
    let mut form = vec![
        ("amount", amount),
        ("currency", "cny"),
        ("payment_method_types[]", provider),
        ("confirm", "true"),
        ("payment_method_data[type]", provider),
        option,
    ];
    form.extend_from_slice(extra);
    api.post("/v1/payment_intents", &form).await
}

/// Asserts `answer` is a blocked payment and answers its charge.
async fn assert_blocked(api: &Api, answer: &Answer, provider: &str, rule: &str) -> Value {
    assert_eq!(answer.status, 402, "{}", answer.text);
    let error = &answer.json()["error"];
    assert_eq!(error["code"], "card_declined", "{error}");
    assert_eq!(error["decline_code"], "fraudulent", "{error}");
    assert_eq!(
        error["payment_intent"]["status"], "requires_payment_method",
        "{error}"
    );
    assert_eq!(error["payment_intent"]["next_action"], Value::Null);
    let charge_id = error["charge"].as_str().expect("a charge");
    let charge = api.get(&format!("/v1/charges/{charge_id}")).await.json();
    assert_eq!(charge["status"], "failed", "{charge}");
    assert_eq!(charge["outcome"]["type"], "blocked", "{charge}");
    assert_eq!(charge["outcome"]["rule"], rule, "{charge}");
    assert_eq!(charge["payment_method_details"]["type"], provider);
    assert!(charge["outcome"]["risk_score"].is_u64(), "{charge}");
    assert_ne!(charge["outcome"]["risk_level"], "not_assessed");
    charge
}

fn trades_of(trades: &[Value], intent_id: &str) -> usize {
    trades
        .iter()
        .filter(|t| t.to_string().contains(intent_id))
        .count()
}

async fn wait_for_succeeded(api: &Api, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let current = api.get(&format!("/v1/payment_intents/{id}")).await.json();
        if current["status"] == "succeeded" {
            return current;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{current}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn rules_block_wallet_payments_before_the_provider(backend: Backend) {
    let s = setup(backend).await;
    let by_type = add_rule(
        &s.api,
        "block if :payment_method_type: = 'wechat_pay' and :amount: > 100",
    )
    .await;
    let by_type = by_type["id"].as_str().unwrap();
    // A card-only signal is unknown on a wallet payment: never matches.
    add_rule(&s.api, "block if :card_country: != 'CN'").await;
    add_rule(&s.api, "block if :card_funding: = 'credit'").await;

    let big = confirm(&s.api, "wechat_pay", "20000", &[]).await;
    let charge = assert_blocked(&s.api, &big, "wechat_pay", by_type).await;
    let intent_id = charge["payment_intent"].as_str().unwrap();
    assert_eq!(trades_of(&s.sim.trades().await, intent_id), 0);

    // Below the amount, or with the other wallet, the rule does not match.
    let alipay = confirm(&s.api, "alipay", "20000", &[]).await;
    assert_eq!(alipay.status, 200, "{}", alipay.text);
    assert_eq!(alipay.json()["status"], "requires_action");
    let paid_email = [("receipt_email", "buyer@example.com")];
    let small = confirm(&s.api, "wechat_pay", "5000", &paid_email).await;
    assert_eq!(small.status, 200, "{}", small.text);
    let small = small.json();
    let id = small["id"].as_str().unwrap();
    let data = small["next_action"]["wechat_pay_display_qr_code"]["data"]
        .as_str()
        .unwrap();
    let page = s.sim.page_of(data).await;
    assert_eq!(s.sim.act(&page, "pay", "none").await.status(), 200);
    let paid = wait_for_succeeded(&s.api, id).await;
    let charge_id = paid["latest_charge"].as_str().unwrap();
    let charge = s.api.get(&format!("/v1/charges/{charge_id}")).await.json();
    let outcome = &charge["outcome"];
    assert_eq!(outcome["type"], "authorized", "{outcome}");
    let level = outcome["risk_level"].as_str().unwrap();
    assert!(
        ["normal", "elevated", "highest"].contains(&level),
        "{outcome}"
    );
    let score = outcome["risk_score"].as_u64().expect("a real risk_score");
    assert!(score <= 100, "{outcome}");
    assert_eq!(outcome["signals"]["risk_score"], score, "{outcome}");
    assert_eq!(charge["payment_method_details"]["type"], "wechat_pay");

    // The paid payment counts as authorized for its email, not for others.
    let by_authorized = add_rule(
        &s.api,
        "block if :authorized_charges_per_email_hourly: >= 1",
    )
    .await;
    let again = confirm(&s.api, "alipay", "1000", &paid_email).await;
    let by_authorized = by_authorized["id"].as_str().unwrap();
    assert_blocked(&s.api, &again, "alipay", by_authorized).await;
    let other = [("receipt_email", "someone@example.com")];
    let passed = confirm(&s.api, "alipay", "1000", &other).await;
    assert_eq!(passed.status, 200, "{}", passed.text);
}

async fn lists_and_velocity_apply_to_wallet_payments(backend: Backend) {
    let s = setup(backend).await;
    let list = s
        .api
        .post(
            "/v1/risk/lists",
            &[("alias", "blocked_emails"), ("item_type", "email")],
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let list_id = list.json()["id"].as_str().unwrap().to_owned();
    let item = s
        .api
        .post(
            &format!("/v1/risk/lists/{list_id}/items"),
            &[("value", "mallory@example.com")],
        )
        .await;
    assert_eq!(item.status, 200, "{}", item.text);
    let by_email = add_rule(&s.api, "block if :email: in @blocked_emails").await;
    let by_velocity = add_rule(&s.api, "block if :total_charges_per_customer_hourly: > 2").await;

    let listed = [("receipt_email", "Mallory@Example.com")];
    let blocked = confirm(&s.api, "alipay", "1000", &listed).await;
    let charge = assert_blocked(&s.api, &blocked, "alipay", by_email["id"].as_str().unwrap()).await;
    assert_eq!(charge["outcome"]["signals"]["email"], "mallory@example.com");
    let other = [("receipt_email", "alice@example.com")];
    let passed = confirm(&s.api, "alipay", "1000", &other).await;
    assert_eq!(passed.status, 200, "{}", passed.text);

    let customer = s.api.post("/v1/customers", &[("name", "Wang")]).await;
    assert_eq!(customer.status, 200, "{}", customer.text);
    let customer = customer.json()["id"].as_str().unwrap().to_owned();
    let of_customer = [("customer", customer.as_str())];
    for provider in ["alipay", "wechat_pay"] {
        let answer = confirm(&s.api, provider, "1000", &of_customer).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let third = confirm(&s.api, "alipay", "1000", &of_customer).await;
    let charge = assert_blocked(
        &s.api,
        &third,
        "alipay",
        by_velocity["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        charge["outcome"]["signals"]["total_charges_per_customer_hourly"], 3,
        "{charge}"
    );
}

on_both_backends!(
    rules_block_wallet_payments_before_the_provider,
    lists_and_velocity_apply_to_wallet_payments,
);
