//! Alipay and WeChat Pay on the hosted checkout, through the real binary
//! against `portcullis wallet-sim`, on SQLite and PostgreSQL: a CNY
//! session offering `card`, `alipay` and `wechat_pay` shows the wallets on
//! its page; choosing one through the page's endpoint confirms the
//! session's intent with it (on desktop browsers Alipay's page pay and
//! WeChat Pay's QR code, the wallets' pages on mobile ones); paying in the
//! simulator sends the signed
//! notification, which makes the intent succeed and completes the session
//! (`complete`/`paid`, one `checkout.session.completed`) in the same
//! commit; the page's status poll then names `success_url`. A payment
//! declined in the wallet fails the intent back to
//! `requires_payment_method` and the poll says so, and the session is paid
//! with the other wallet; Alipay's wap return (its signed parameters
//! appended) leads to `success_url`. Wallets on a non-CNY session are
//! refused with a 400 naming the parameter.

mod support;
mod wallets;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::wallet_shop::WalletShop;
use support::{Api, Backend, TestDatabase, TestServer};
use wallets::WalletSim;

const SUCCESS_URL: &str = "https://shop.example/done?session={CHECKOUT_SESSION_ID}";
const DESKTOP: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36";
const PHONE: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";

struct Setup {
    sim: WalletSim,
    _db: TestDatabase,
    server: TestServer,
    api: Api,
}

async fn setup(backend: Backend) -> Setup {
    let sim = WalletSim::start(None, &["--notify-speedup", "100000"]);
    let forms = [sim.account_form("alipay"), sim.account_form("wechat_pay")];
    let shop = WalletShop::open(backend, &forms).await;
    Setup {
        sim,
        _db: shop.db,
        server: shop.server,
        api: shop.api,
    }
}

/// A session of 2 × 19.80 in `currency` offering `methods`.
async fn create_session(api: &Api, currency: &str, methods: &[&str]) -> support::Answer {
    let mut form = vec![
        ("mode", "payment"),
        ("success_url", SUCCESS_URL),
        ("line_items[0][price_data][currency]", currency),
        ("line_items[0][price_data][unit_amount]", "1980"),
        ("line_items[0][price_data][product_data][name]", "Oolong"),
        ("line_items[0][quantity]", "2"),
    ];
    for method in methods {
        form.push(("payment_method_types[]", method));
    }
    api.post("/v1/checkout/sessions", &form).await
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// What the page's script posts when the customer chooses `method`.
async fn choose(server: &TestServer, id: &str, method: &str, agent: &str) -> (u16, Value) {
    let answer = browser()
        .post(server.url(&format!("/checkout/{id}/wallet")))
        .header("User-Agent", agent)
        .form(&[("method", method)])
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

/// The page at `url` as a browser speaking `language` gets it.
async fn page_html(url: &Value, language: &str) -> String {
    browser()
        .get(url.as_str().unwrap())
        .header("Accept-Language", language)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn poll(server: &TestServer, id: &str) -> Value {
    browser()
        .get(server.url(&format!("/checkout/{id}/status")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits (through the API, not the page's poll) until the session is complete.
async fn wait_complete(api: &Api, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let session = api.get(&format!("/v1/checkout/sessions/{id}")).await.json();
        if session["status"] == "complete" {
            return session;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{id} is still {}",
            session["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where a desktop browser choosing `method` pays in the simulator:
/// Alipay's cashier page (`alipay.trade.page.pay`), WeChat Pay's QR code.
async fn desktop_payment_page(s: &Setup, method: &str, chosen: &Value) -> String {
    if method == "wechat_pay" {
        assert_eq!(chosen["outcome"], "display_qr", "{chosen}");
        let image = reqwest::get(chosen["qr_image"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(image.status(), 200);
        assert!(image.text().await.unwrap().contains("<svg"));
        return s.sim.page_of(chosen["qr_data"].as_str().unwrap()).await;
    }
    assert_eq!(chosen["outcome"], "redirect", "{chosen}");
    let url = chosen["redirect"].as_str().unwrap();
    assert!(url.starts_with(&s.sim.base_url), "{url}");
    assert!(url.contains("method=alipay.trade.page.pay"), "{url}");
    let cashier = reqwest::get(url).await.unwrap();
    assert_eq!(cashier.status(), 200);
    let trades = s.sim.trades().await;
    let trade = trades
        .iter()
        .rev()
        .find(|t| t["kind"] == "alipay.trade.page.pay")
        .expect("the page-pay trade the redirect opened");
    format!("{}/c/{}", s.sim.base_url, trade["token"].as_str().unwrap())
}

/// Chooses `method` on a desktop browser, pays in the simulator, and
/// checks the session completes once, by the notification.
async fn pay_on_desktop(s: &Setup, method: &str) {
    let created = create_session(&s.api, "cny", &["card", "alipay", "wechat_pay"]).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let session = created.json();
    let id = session["id"].as_str().unwrap();
    assert_eq!(
        session["payment_method_types"],
        serde_json::json!(["card", "alipay", "wechat_pay"])
    );
    let (status, chosen) = choose(&s.server, id, method, DESKTOP).await;
    assert_eq!(status, 200, "{chosen}");
    let page = desktop_payment_page(s, method, &chosen).await;
    assert_eq!(poll(&s.server, id).await["status"], "open");

    let intent_id = s
        .api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .json()["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    let intent = s
        .api
        .get(&format!("/v1/payment_intents/{intent_id}"))
        .await
        .json();
    assert_eq!(intent["amount"], 3960);
    assert_eq!(intent["currency"], "cny");
    assert_eq!(intent["status"], "requires_action");

    let paid = s.sim.act(&page, "pay", "none").await.status().as_u16();
    assert!(paid == 200 || paid == 303, "{paid}");
    let done = wait_complete(&s.api, id).await;
    assert_eq!(done["payment_status"], "paid");
    assert_eq!(done["payment_intent"], intent_id.as_str());
    let intent = s
        .api
        .get(&format!("/v1/payment_intents/{intent_id}"))
        .await
        .json();
    assert_eq!(intent["status"], "succeeded", "{intent}");
    assert_eq!(
        support::events_about(&s.api, "checkout.session.completed", id).await,
        1
    );

    let polled = poll(&s.server, id).await;
    assert_eq!(polled["status"], "complete");
    assert_eq!(
        polled["redirect"],
        format!("https://shop.example/done?session={id}")
    );
    // A completed session takes no more payments.
    let (status, again) = choose(&s.server, id, method, DESKTOP).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(
        support::events_about(&s.api, "checkout.session.completed", id).await,
        1
    );
}

async fn wallets_pay_a_session_on_desktop(backend: Backend) {
    let s = setup(backend).await;
    pay_on_desktop(&s, "alipay").await;
    pay_on_desktop(&s, "wechat_pay").await;
}

async fn the_page_offers_the_sessions_wallets(backend: Backend) {
    let s = setup(backend).await;
    let session = create_session(&s.api, "cny", &["alipay", "wechat_pay"])
        .await
        .json();

    for (language, alipay, wechat) in [
        ("en", "Alipay", "WeChat Pay"),
        ("zh-CN", "支付宝", "微信支付"),
    ] {
        let html = page_html(&session["url"], language).await;
        assert!(html.contains(alipay) && html.contains(wechat), "{html}");
        assert!(!html.contains("id=\"card-form\""), "no card form: {html}");
        assert!(html.contains("data-waiting=\"false\""), "{html}");
    }
    let cards_only = create_session(&s.api, "cny", &["card"]).await.json();
    let html = page_html(&cards_only["url"], "en").await;
    assert!(!html.contains("data-wallet="), "{html}");
}

async fn wallets_need_cny_and_a_session_that_offers_them(backend: Backend) {
    let s = setup(backend).await;
    let refused = create_session(&s.api, "usd", &["card", "alipay"]).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let error = &refused.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["param"], "payment_method_types[1]");
    assert!(
        error["message"].as_str().unwrap().contains("cny"),
        "{error}"
    );
    let unknown = create_session(&s.api, "cny", &["paypal"]).await;
    assert_eq!(unknown.status, 400, "{}", unknown.text);

    // A CNY session without the type: the method is refused, no intent made.
    let session = create_session(&s.api, "cny", &["alipay"]).await.json();
    let id = session["id"].as_str().unwrap();
    let (status, refused) = choose(&s.server, id, "wechat_pay", DESKTOP).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["param"], "method");
    let (status, refused) = choose(&s.server, id, "bitcoin", DESKTOP).await;
    assert_eq!(status, 400, "{refused}");
    let card = browser()
        .post(s.server.url(&format!("/checkout/{id}/pay")))
        .form(&[("encrypted", "a.b.c.d.e")])
        .send()
        .await
        .unwrap();
    assert_eq!(card.status().as_u16(), 400);
    let fresh = s
        .api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .json();
    assert_eq!(fresh["payment_intent"], Value::Null);

    // A phone goes to the wallet's own page instead of a QR code.
    let (status, chosen) = choose(&s.server, id, "alipay", PHONE).await;
    assert_eq!(status, 200, "{chosen}");
    assert_eq!(chosen["outcome"], "redirect", "{chosen}");
    assert!(
        chosen["redirect"]
            .as_str()
            .unwrap()
            .starts_with(&s.sim.base_url),
        "{chosen}"
    );
    assert!(
        chosen["redirect"]
            .as_str()
            .unwrap()
            .contains("method=alipay.trade.wap.pay"),
        "{chosen}"
    );
    // Back from the wallet's page before its notification, the page polls.
    let html = page_html(&session["url"], "en").await;
    assert!(html.contains("data-waiting=\"true\""), "{html}");
    // Sessions default to cards only.
    let default = create_session(&s.api, "cny", &[]).await.json();
    assert_eq!(default["payment_method_types"], serde_json::json!(["card"]));
}

/// The session's PaymentIntent id.
async fn intent_of(api: &Api, id: &str) -> String {
    let session = api.get(&format!("/v1/checkout/sessions/{id}")).await.json();
    session["payment_intent"].as_str().unwrap().to_owned()
}

/// Polls the page's status endpoint until it says the wallet payment failed.
async fn wait_failed(server: &TestServer, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let polled = poll(server, id).await;
        if polled.get("failed").is_some() {
            return polled;
        }
        // WeChat Pay sends no notification for PAYERROR: the worker's
        // first early query (10 s after the trade opened) finds it.
        assert!(started.elapsed() < Duration::from_secs(40), "{polled}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Declined in Alipay (its `TRADE_CLOSED` notification before the trade
/// expired): the intent is back in `requires_payment_method` with a wallet
/// error, the page's poll says so in wallet words, and the session, still
/// open, is paid with the other wallet.
async fn a_declined_wallet_payment_lets_the_customer_choose_again(backend: Backend) {
    let s = setup(backend).await;
    let session = create_session(&s.api, "cny", &["card", "alipay", "wechat_pay"])
        .await
        .json();
    let id = session["id"].as_str().unwrap();
    let (_, chosen) = choose(&s.server, id, "alipay", DESKTOP).await;
    let page = desktop_payment_page(&s, "alipay", &chosen).await;
    assert_eq!(s.sim.act(&page, "decline", "none").await.status(), 200);
    let polled = wait_failed(&s.server, id).await;
    assert_eq!(polled["status"], "open");
    let message = polled["failed"].as_str().unwrap();
    assert!(message.contains("not completed in the wallet"), "{message}");
    assert!(!message.contains("card"), "{message}");
    let intent_id = intent_of(&s.api, id).await;
    let intent = s
        .api
        .get(&format!("/v1/payment_intents/{intent_id}"))
        .await
        .json();
    assert_eq!(intent["status"], "requires_payment_method", "{intent}");
    assert_eq!(
        intent["last_payment_error"]["code"],
        "payment_method_provider_decline"
    );
    assert_eq!(intent["next_action"], Value::Null);

    let (status, again) = choose(&s.server, id, "wechat_pay", DESKTOP).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(poll(&s.server, id).await.get("failed"), None);
    let page = s.sim.page_of(again["qr_data"].as_str().unwrap()).await;
    assert_eq!(s.sim.act(&page, "pay", "none").await.status(), 200);
    assert_eq!(wait_complete(&s.api, id).await["payment_status"], "paid");
    assert_eq!(intent_of(&s.api, id).await, intent_id);
}

/// Declined in WeChat Pay (`PAYERROR`, which no notification announces):
/// the worker's query finds it and the page's poll says so.
async fn a_payment_declined_in_wechat_pay_is_found_by_query(backend: Backend) {
    let s = setup(backend).await;
    let session = create_session(&s.api, "cny", &["wechat_pay"]).await.json();
    let id = session["id"].as_str().unwrap();
    let (_, chosen) = choose(&s.server, id, "wechat_pay", DESKTOP).await;
    let page = s.sim.page_of(chosen["qr_data"].as_str().unwrap()).await;
    assert_eq!(s.sim.act(&page, "decline", "none").await.status(), 200);
    let polled = wait_failed(&s.server, id).await;
    assert_eq!(polled["status"], "open");
    let intent_id = intent_of(&s.api, id).await;
    let intent = s
        .api
        .get(&format!("/v1/payment_intents/{intent_id}"))
        .await
        .json();
    assert_eq!(intent["status"], "requires_payment_method", "{intent}");
    let events = s
        .api
        .get("/v1/events?type=payment_intent.payment_failed&limit=100")
        .await
        .json();
    let failed = events["data"].as_array().unwrap().iter();
    assert_eq!(
        failed
            .filter(|e| e["data"]["object"]["id"] == intent_id.as_str())
            .count(),
        1
    );
}

/// A session paid with Alipay on a phone (wap), the notification given
/// `fault`: the session's id and the return URL the cashier sends the
/// browser back to (with Alipay's signed return parameters).
async fn paid_on_a_phone(s: &Setup, fault: &str) -> (String, String) {
    let session = create_session(&s.api, "cny", &["alipay"]).await.json();
    let id = session["id"].as_str().unwrap().to_owned();
    let (_, chosen) = choose(&s.server, &id, "alipay", PHONE).await;
    let cashier = browser()
        .get(chosen["redirect"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = cashier
        .split("action=\"/c/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no form posting to /c/: {cashier}"));
    let paid = s
        .sim
        .act(&format!("{}/c/{token}", s.sim.base_url), "pay", fault)
        .await;
    assert_eq!(paid.status(), 303);
    let back = paid.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.contains(&format!("/checkout/{id}/return?")), "{back}");
    assert!(back.contains("sign="), "{back}");
    (id, back)
}

/// Asserts the browser following `back` goes on to session `id`'s
/// `success_url`.
async fn assert_returns_to_success(back: &str, id: &str) {
    let returned = browser().get(back).send().await.unwrap();
    let status = returned.status().as_u16();
    if status != 303 {
        panic!("{status}: {}", returned.text().await.unwrap());
    }
    assert_eq!(
        returned.headers()["location"],
        format!("https://shop.example/done?session={id}").as_str()
    );
}

/// Alipay's wap pay returns the browser to the session's return URL with
/// its signed return parameters appended; they are taken (and not
/// trusted): the browser goes on to `success_url` once paid.
async fn alipay_returns_the_browser_through_the_return_url(backend: Backend) {
    let s = setup(backend).await;
    let (id, back) = paid_on_a_phone(&s, "none").await;
    wait_complete(&s.api, &id).await;
    assert_returns_to_success(&back, &id).await;
}

/// The customer is back from Alipay before its notification (here lost):
/// the return asks Alipay (`alipay.trade.query`) at once, and the paid
/// session goes on to `success_url` rather than back to the page.
async fn a_return_before_the_notification_asks_the_provider(backend: Backend) {
    let s = setup(backend).await;
    let (id, back) = paid_on_a_phone(&s, "lost").await;
    assert_returns_to_success(&back, &id).await;
    let session = s
        .api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .json();
    assert_eq!(session["status"], "complete", "{session}");
    assert_eq!(session["payment_status"], "paid", "{session}");
}

/// A session expired while its wallet trade waits for the buyer: the
/// intent is canceled, the provider's trade closed, and
/// `checkout.session.expired` sent once.
async fn expiring_with_an_open_wallet_trade_closes_it(backend: Backend) {
    let s = setup(backend).await;
    let session = create_session(&s.api, "cny", &["alipay", "wechat_pay"])
        .await
        .json();
    let id = session["id"].as_str().unwrap();
    let (status, chosen) = choose(&s.server, id, "wechat_pay", DESKTOP).await;
    assert_eq!(status, 200, "{chosen}");
    let page = desktop_payment_page(&s, "wechat_pay", &chosen).await;
    let intent_id = s
        .api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .json()["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    let intent = s.api.get(&format!("/v1/payment_intents/{intent_id}")).await;
    assert_eq!(
        intent.json()["status"],
        "requires_action",
        "{}",
        intent.text
    );

    let expired = s
        .api
        .post(&format!("/v1/checkout/sessions/{id}/expire"), &[])
        .await;
    assert_eq!(expired.status, 200, "{}", expired.text);
    assert_eq!(expired.json()["status"], "expired");
    let intent = s
        .api
        .get(&format!("/v1/payment_intents/{intent_id}"))
        .await
        .json();
    assert_eq!(intent["status"], "canceled", "{intent}");
    assert_eq!(intent["cancellation_reason"], "abandoned", "{intent}");
    let trades = s.sim.trades().await;
    assert_eq!(trades.len(), 1, "the session's one trade: {trades:?}");
    let trade = &trades[0];
    assert_eq!(
        trade["state"].as_str().unwrap().to_lowercase(),
        "closed",
        "{trade}"
    );
    let events = s
        .api
        .get("/v1/events?type=checkout.session.expired&limit=100")
        .await
        .json();
    let mine = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["object"]["id"] == id)
        .count();
    assert_eq!(mine, 1);
    // The buyer paying the closed trade afterwards does not pay the session.
    s.sim.act(&page, "pay", "none").await;
    let after = s
        .api
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .json();
    assert_eq!(after["status"], "expired");
    assert_eq!(after["payment_status"], "unpaid");
}

on_both_backends!(
    expiring_with_an_open_wallet_trade_closes_it,
    wallets_pay_a_session_on_desktop,
    the_page_offers_the_sessions_wallets,
    wallets_need_cny_and_a_session_that_offers_them,
    a_declined_wallet_payment_lets_the_customer_choose_again,
    alipay_returns_the_browser_through_the_return_url,
    a_return_before_the_notification_asks_the_provider,
    a_payment_declined_in_wechat_pay_is_found_by_query,
);
