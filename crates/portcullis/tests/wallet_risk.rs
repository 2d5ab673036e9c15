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
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::dashboard::{activate, create_user};
use support::risk::{add_rule, assert_review_closed};
use support::wallet_qr::{
    assert_page, events_of, open_page, wait_for_status, ALIPAY_UA, DESKTOP_UA, WECHAT_UA,
};
use support::wallet_shop::WalletShop;
use support::{Answer, Api, Backend, TestDatabase, TestServer};
use wallets::WalletSim;

struct Setup {
    sim: WalletSim,
    /// The simulator's keys (`keys.json`), to sign notifications as Alipay.
    sim_dir: tempfile::TempDir,
    /// The Alipay connector account's `notify_url`.
    alipay_notify_url: String,
    merchant: String,
    db: TestDatabase,
    server: TestServer,
    api: Api,
}

async fn setup(backend: Backend) -> Setup {
    let sim_dir = tempfile::tempdir().unwrap();
    let sim = WalletSim::start(Some(sim_dir.path()), &["--notify-speedup", "100000"]);
    let forms = [sim.account_form("alipay"), sim.account_form("wechat_pay")];
    let shop = WalletShop::open(backend, &forms).await;
    let accounts = shop.api.get("/v1/connector_accounts?limit=10").await.json();
    let alipay_notify_url = accounts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "alipay")
        .and_then(|a| a["notify_url"].as_str())
        .unwrap()
        .to_owned();
    Setup {
        sim,
        sim_dir,
        alipay_notify_url,
        merchant: shop.merchant.id,
        db: shop.db,
        server: shop.server,
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

/// Pays (or declines) trade `out_trade_no` on the simulator's page.
async fn customer_acts(sim: &WalletSim, out_trade_no: &str, action: &str) {
    let page = sim.customer_page(out_trade_no).await;
    assert_eq!(sim.act(&page, action, "none").await.status(), 200);
}

/// Confirms an Alipay QR payment of `amount` fen and pays it; the charge.
async fn paid_alipay_charge(s: &Setup, amount: &str) -> Value {
    let answer = confirm(&s.api, "alipay", amount, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    customer_acts(&s.sim, &id, "pay").await;
    let paid = wait_for_succeeded(&s.api, &id).await;
    let charge_id = paid["latest_charge"].as_str().unwrap();
    s.api.get(&format!("/v1/charges/{charge_id}")).await.json()
}

/// A `review` rule lets a wallet payment through and, once paid, places
/// its charge in review as for a card: `outcome.type: manual_review`, a
/// review in the queue, `review.opened`; approve and refund_and_close work.
async fn review_rules_place_paid_wallet_charges_in_review(backend: Backend) {
    let s = setup(backend).await;
    let rule = add_rule(&s.api, "review if :payment_method_type: = 'alipay'").await;
    let rule = rule["id"].as_str().unwrap();
    let charge = paid_alipay_charge(&s, "1200").await;
    assert_eq!(charge["outcome"]["type"], "manual_review", "{charge}");
    assert_eq!(charge["outcome"]["rule"], rule, "{charge}");
    let review_id = charge["review"].as_str().expect("a review").to_owned();
    let intent_id = charge["payment_intent"].as_str().unwrap();
    let intent = s
        .api
        .get(&format!("/v1/payment_intents/{intent_id}"))
        .await
        .json();
    assert_eq!(intent["review"], review_id.as_str(), "{intent}");
    let queue = s.api.get("/v1/reviews?open=true").await.json();
    let queued: Vec<&Value> = queue["data"].as_array().unwrap().iter().collect();
    assert!(
        queued.iter().any(|r| r["id"] == review_id.as_str()),
        "{queue}"
    );
    let owner = create_user(&s.db, &s.merchant, "owner@tea.example", "owner");
    let mut browser = activate(&s.server, &owner).await;
    let page = browser.get("/dashboard/reviews?locale=en").await;
    let listed = page.body.contains(&review_id) && page.body.contains(rule);
    assert!(listed, "the dashboard's queue: {}", page.body);
    let opened = s.api.get("/v1/events?type=review.opened").await.json();
    let opened = opened["data"].as_array().unwrap();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["data"]["object"]["charge"], charge["id"]);
    // A WeChat Pay payment does not match the rule.
    let wechat = confirm(&s.api, "wechat_pay", "1200", &[]).await.json();
    let wechat_id = wechat["id"].as_str().unwrap();
    customer_acts(&s.sim, wechat_id, "pay").await;
    let paid = wait_for_succeeded(&s.api, wechat_id).await;
    assert_eq!(paid["review"], Value::Null, "{paid}");

    let approved = s
        .api
        .post(&format!("/v1/reviews/{review_id}/approve"), &[])
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.json()["closed_reason"], "approved");
    let second = paid_alipay_charge(&s, "800").await;
    let second_review = second["review"].as_str().expect("a review");
    let refunded = s
        .api
        .post(
            &format!("/v1/reviews/{second_review}/refund_and_close"),
            &[],
        )
        .await;
    assert_eq!(refunded.status, 200, "{}", refunded.text);
    let refunded = refunded.json();
    assert_eq!(refunded["closed_reason"], "refunded_as_fraud", "{refunded}");
    assert_eq!(refunded["refund"]["amount"], 800, "{refunded}");
    assert_eq!(refunded["refund"]["reason"], "fraudulent", "{refunded}");
    assert_review_closed(&s.api, &review_id, "approved").await;
    assert_review_closed(&s.api, second_review, "refunded_as_fraud").await;
}

/// A `request_3ds` rule on a wallet payment: 3-D Secure is for cards, the
/// wallet authenticates its customer itself, so the payment goes to the
/// wallet and the charge's outcome names the rule as satisfied by that
/// authentication; block rules still apply after it.
async fn request_3ds_rules_are_satisfied_by_the_wallet(backend: Backend) {
    let s = setup(backend).await;
    let rule = add_rule(&s.api, "request_3ds if :amount: > 10").await;
    let rule = rule["id"].as_str().unwrap();
    let block = add_rule(&s.api, "block if :amount: > 500").await;
    let charge = paid_alipay_charge(&s, "1500").await;
    let outcome = &charge["outcome"];
    assert_eq!(outcome["type"], "authorized", "{outcome}");
    assert_eq!(outcome["rule"], rule, "{outcome}");
    let message = outcome["seller_message"].as_str().unwrap();
    assert!(message.contains("satisfied by the wallet"), "{outcome}");
    let authenticated = &outcome["signals"]["is_3d_secure_authenticated"];
    assert_eq!(authenticated, true, "{outcome}");
    let big = confirm(&s.api, "alipay", "60000", &[]).await;
    assert_blocked(&s.api, &big, "alipay", block["id"].as_str().unwrap()).await;
}

/// Creates and confirms an aggregated QR of `amount` fen; the page's URL
/// and the intent's id.
async fn aggregated_code(api: &Api, amount: &str) -> (String, String) {
    let answer = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", amount),
                ("currency", "cny"),
                ("payment_method_types[]", "alipay"),
                ("payment_method_types[]", "wechat_pay"),
                ("confirm", "true"),
                ("payment_method_data[type]", "wallet_qr"),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let answer = answer.json();
    let data = answer["next_action"]["display_qr_code"]["data"]
        .as_str()
        .unwrap();
    (data.to_owned(), answer["id"].as_str().unwrap().to_owned())
}

/// The aggregated QR is assessed again once the customer picks the wallet,
/// with the wallet's `payment_method_type`: a rule on `alipay` alone
/// blocks the pick in Alipay before any trade, on a declined page (en and
/// zh-CN), and the intent fails cleanly; WeChat Pay still goes through.
async fn the_aggregated_qr_is_assessed_when_the_wallet_is_picked(backend: Backend) {
    let s = setup(backend).await;
    let rule = add_rule(&s.api, "block if :payment_method_type: = 'alipay'").await;
    let rule = rule["id"].as_str().unwrap();
    let (data, id) = aggregated_code(&s.api, "990").await;
    assert_page(
        open_page(&data, ALIPAY_UA, "en").await,
        402,
        "Payment declined",
    )
    .await;
    assert_eq!(trades_of(&s.sim.trades().await, &id), 0);
    let failed = wait_for_status(&s.api, &id, "requires_payment_method", Duration::ZERO).await;
    assert_eq!(failed["next_action"], Value::Null, "{failed}");
    assert_eq!(
        failed["last_payment_error"]["code"], "card_declined",
        "{failed}"
    );
    let charge_id = failed["latest_charge"].as_str().unwrap();
    let charge = s.api.get(&format!("/v1/charges/{charge_id}")).await.json();
    assert_eq!(charge["outcome"]["type"], "blocked", "{charge}");
    assert_eq!(charge["outcome"]["rule"], rule, "{charge}");
    assert_eq!(charge["payment_method_details"]["type"], "alipay");
    assert_eq!(
        events_of(&s.api, "payment_intent.payment_failed", &id).await,
        1
    );
    // Scanned again, the blocked code stays void.
    assert_page(
        open_page(&data, WECHAT_UA, "en").await,
        410,
        "no longer valid",
    )
    .await;

    let (data, _) = aggregated_code(&s.api, "990").await;
    assert_page(
        open_page(&data, ALIPAY_UA, "zh-CN").await,
        402,
        "付款被拒绝",
    )
    .await;
    let (data, _) = aggregated_code(&s.api, "990").await;
    assert_eq!(open_page(&data, WECHAT_UA, "en").await.status(), 302);
}

/// A genuine Alipay notification that `out_trade_no` was paid, signed
/// now with the simulator's Alipay key.
fn alipay_paid_notification(s: &Setup, out_trade_no: &str, yuan: &str) -> BTreeMap<String, String> {
    let keys = std::fs::read_to_string(s.sim_dir.path().join("wallet-sim/keys.json")).unwrap();
    let keys: Value = serde_json::from_str(&keys).unwrap();
    let pem = keys["alipay"]["alipay_private_key"].as_str().unwrap();
    let key = portcullis_wallets::keys::private_key_from_pem(pem).unwrap();
    let now = portcullis_wallets::shanghai_time::format(wallets::now_s());
    let mut params: BTreeMap<String, String> = [
        ("notify_time", now.as_str()),
        ("notify_type", "trade_status_sync"),
        ("notify_id", "late_notification_of_the_old_trade"),
        ("charset", "utf-8"),
        ("version", "1.0"),
        ("app_id", keys["alipay"]["app_id"].as_str().unwrap()),
        ("trade_no", "2026120622001400000000000001"),
        ("out_trade_no", out_trade_no),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", yuan),
        ("receipt_amount", yuan),
        ("buyer_pay_amount", yuan),
        ("gmt_payment", now.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    portcullis_wallets::alipay::sign_notification(&key, &mut params);
    params
}

/// A customer rescanning an aggregated code whose Alipay trade was
/// declined starts a new attempt (a new `out_trade_no`); paid, the intent
/// succeeds once, and a late genuine notification that the old trade was
/// paid is refused (logged for a refund at the provider) and changes
/// nothing; the paid code then says so.
async fn a_rescan_after_a_decline_starts_a_new_attempt_and_pays_once(backend: Backend) {
    let s = setup(backend).await;
    let (data, id, _) = declined_then_paid_after_a_rescan(&s).await;
    assert_eq!(events_of(&s.api, "payment_intent.succeeded", &id).await, 1);
    assert_page(open_page(&data, ALIPAY_UA, "en").await, 200, "Already paid").await;
}

/// The customer scans the aggregated code in Alipay, which opens its trade.
async fn alipay_opens_the_trade(data: &str) {
    let picked = open_page(data, ALIPAY_UA, "en").await;
    assert_eq!(picked.status(), 302);
    let location = picked.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(reqwest::get(&location).await.unwrap().status(), 200);
}

/// An aggregated code of 9.90 declined in Alipay (trade `pi_…`), scanned
/// again in WeChat and paid there (trade `pi_…_2`): the code's data, the
/// intent's id, the paid intent.
async fn declined_then_paid_after_a_rescan(s: &Setup) -> (String, String, Value) {
    let (data, id) = aggregated_code(&s.api, "990").await;
    alipay_opens_the_trade(&data).await;
    customer_acts(&s.sim, &id, "decline").await;
    let limit = Duration::from_secs(20);
    wait_for_status(&s.api, &id, "requires_payment_method", limit).await;

    // Both choices again on a desktop; in WeChat, a new trade.
    assert_page(open_page(&data, DESKTOP_UA, "en").await, 200, "WeChat Pay").await;
    let rescan = open_page(&data, WECHAT_UA, "en").await;
    assert_eq!(rescan.status(), 302);
    let again = wait_for_status(&s.api, &id, "requires_action", Duration::ZERO).await;
    assert_eq!(
        again["next_action"]["display_qr_code"]["data"],
        data.as_str()
    );
    assert_eq!(again["last_payment_error"], Value::Null, "{again}");
    let second_trade = format!("{id}_2");
    customer_acts(&s.sim, &second_trade, "pay").await;
    let paid = wait_for_status(&s.api, &id, "succeeded", limit).await;
    assert_eq!(paid["amount_received"], 990);
    (data, id, paid)
}

/// The replaced Alipay trade is paid after all (the provider's late
/// success, genuinely notified): the notification is acknowledged, the
/// money recorded as a second charge on the intent and refunded in full at
/// once at the provider (reason `duplicate`), exactly once though Alipay
/// tells it again; the intent keeps its one payment; the ledger verifies.
async fn a_replaced_trade_paid_late_is_refunded_at_the_provider_once(backend: Backend) {
    let s = setup(backend).await;
    let (_, id, paid) = declined_then_paid_after_a_rescan(&s).await;
    let late = s.sim.post_sim(&format!("/sim/trades/{id}/paid_late")).await;
    assert_eq!(late, 200);
    let duplicate = refunded_once_as_duplicate(&s, &id, &paid).await;
    let duplicate_id = duplicate["id"].as_str().unwrap();
    let message = duplicate["outcome"]["seller_message"].as_str().unwrap();
    assert!(
        message.contains("paid or its trade replaced"),
        "{duplicate}"
    );
    let after = s.api.get(&format!("/v1/payment_intents/{id}")).await.json();
    assert_eq!(after["status"], "succeeded");
    assert_eq!(after["amount_received"], 990);
    assert_eq!(after["latest_charge"], paid["latest_charge"]);
    assert_eq!(events_of(&s.api, "payment_intent.succeeded", &id).await, 1);
    assert_eq!(events_of(&s.api, "charge.succeeded", duplicate_id).await, 1);
    assert_eq!(events_of(&s.api, "charge.refunded", duplicate_id).await, 1);
    assert_eq!(succeeded_charges(&s, &id).await, 2);
    assert_ledger_verifies(&s);
}

/// A trade paid as its intent was canceled (the merchant canceled, the
/// customer paid anyway, the provider's success came late): the
/// notification is acknowledged, the money recorded as a charge on the
/// canceled intent and refunded in full at once (reason `duplicate`),
/// once though Alipay tells it again; the intent stays canceled.
async fn a_trade_paid_after_its_intent_was_canceled_is_refunded_once(backend: Backend) {
    let s = setup(backend).await;
    let (data, id) = aggregated_code(&s.api, "990").await;
    alipay_opens_the_trade(&data).await;
    let canceled = s
        .api
        .post(&format!("/v1/payment_intents/{id}/cancel"), &[])
        .await;
    assert_eq!(canceled.status, 200, "{}", canceled.text);
    let canceled = canceled.json();
    assert_eq!(canceled["status"], "canceled");
    let late = s.sim.post_sim(&format!("/sim/trades/{id}/paid_late")).await;
    assert_eq!(late, 200);
    let duplicate = refunded_once_as_duplicate(&s, &id, &canceled).await;
    let duplicate_id = duplicate["id"].as_str().unwrap();
    let message = duplicate["outcome"]["seller_message"].as_str().unwrap();
    assert!(message.contains("was canceled"), "{duplicate}");
    let after = s.api.get(&format!("/v1/payment_intents/{id}")).await.json();
    assert_eq!(after["status"], "canceled", "{after}");
    assert_eq!(after["amount_received"], 0, "{after}");
    assert_eq!(after["latest_charge"], canceled["latest_charge"], "{after}");
    assert_eq!(events_of(&s.api, "payment_intent.succeeded", &id).await, 0);
    assert_eq!(events_of(&s.api, "charge.succeeded", duplicate_id).await, 1);
    assert_eq!(events_of(&s.api, "charge.refunded", duplicate_id).await, 1);
    assert_eq!(succeeded_charges(&s, &id).await, 1);
    assert_ledger_verifies(&s);
}

/// The intent's paid wallet charge other than `paid`'s: 9.90 by Alipay,
/// refunded in full by one `duplicate` refund, at the simulator too; a
/// genuine notification of it sent again is acknowledged and refunds
/// nothing more.
async fn refunded_once_as_duplicate(s: &Setup, id: &str, paid: &Value) -> Value {
    let duplicate = refunded_duplicate_charge(s, id, paid).await;
    let duplicate_id = duplicate["id"].as_str().unwrap();
    assert_eq!(duplicate["amount"], 990, "{duplicate}");
    assert_eq!(duplicate["amount_captured"], 990, "{duplicate}");
    assert_eq!(duplicate["amount_refunded"], 990, "{duplicate}");
    assert_eq!(
        duplicate["payment_method_details"]["type"], "alipay",
        "{duplicate}"
    );
    let message = duplicate["outcome"]["seller_message"].as_str().unwrap();
    assert!(message.contains("refunded in full"), "{duplicate}");
    let refunds = s
        .api
        .get(&format!("/v1/refunds?charge={duplicate_id}"))
        .await
        .json();
    let refunds = refunds["data"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["reason"], "duplicate", "{refunds:?}");
    assert_eq!(refunds[0]["status"], "succeeded", "{refunds:?}");
    assert_refunded_once_at_the_sim(&s.sim, id).await;

    // Alipay tells it again: acknowledged, nothing more.
    let again = alipay_paid_notification(s, id, "9.90");
    let answer = reqwest::Client::new()
        .post(&s.alipay_notify_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(portcullis_wallets::alipay_methods::encoded(&again))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "success");
    assert_refunded_once_at_the_sim(&s.sim, id).await;
    duplicate
}

/// How many of the intent's charges succeeded.
async fn succeeded_charges(s: &Setup, id: &str) -> usize {
    let charges = s
        .api
        .get(&format!("/v1/charges?payment_intent={id}"))
        .await
        .json();
    let charges = charges["data"].as_array().unwrap();
    charges
        .iter()
        .filter(|c| c["status"] == "succeeded")
        .count()
}

fn assert_ledger_verifies(s: &Setup) {
    let verified = support::cli(&s.db, &["ledger", "verify"]);
    assert!(verified.starts_with("ledger verified: "), "{verified}");
}

/// Waits for the intent's charge other than its payment, refunded.
async fn refunded_duplicate_charge(s: &Setup, id: &str, paid: &Value) -> Value {
    let started = Instant::now();
    loop {
        let charges = s
            .api
            .get(&format!("/v1/charges?payment_intent={id}"))
            .await
            .json();
        let found = charges["data"].as_array().unwrap().iter().find(|c| {
            c["status"] == "succeeded" && c["id"] != paid["latest_charge"] && c["refunded"] == true
        });
        if let Some(charge) = found {
            return charge.clone();
        }
        let log = s.server.log();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{charges}\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The simulator's Alipay trade `out_trade_no`: refunded once, in full,
/// its paid notification acknowledged.
async fn assert_refunded_once_at_the_sim(sim: &WalletSim, out_trade_no: &str) {
    let trades = sim.trades().await;
    let trade = trades
        .iter()
        .find(|t| t["out_trade_no"] == out_trade_no && t["provider"] == "alipay")
        .expect("the trade at the simulator");
    let refunds = trade["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{trade}");
    assert_eq!(refunds[0]["amount_fen"], 990, "{trade}");
    assert!(
        trade["notifications_acknowledged"].as_u64().unwrap() >= 1,
        "{trade}"
    );
}

on_both_backends!(
    rules_block_wallet_payments_before_the_provider,
    lists_and_velocity_apply_to_wallet_payments,
    review_rules_place_paid_wallet_charges_in_review,
    request_3ds_rules_are_satisfied_by_the_wallet,
    the_aggregated_qr_is_assessed_when_the_wallet_is_picked,
    a_rescan_after_a_decline_starts_a_new_attempt_and_pays_once,
    a_replaced_trade_paid_late_is_refunded_at_the_provider_once,
    a_trade_paid_after_its_intent_was_canceled_is_refunded_once,
);
