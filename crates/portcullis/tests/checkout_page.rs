//! The hosted checkout page's server side through the real binary, on
//! SQLite and PostgreSQL: the page at the session's `url` in English and
//! Simplified Chinese, paying it with a JWE (made here from the published
//! key, as the page's script does) — a decline the customer can retry, a
//! success that completes the session once with `checkout.session.completed`
//! and sends the browser to `success_url` with `{CHECKOUT_SESSION_ID}`
//! replaced, a 3-D Secure challenge that returns to the checkout flow —
//! and sessions that can no longer be paid (expired, complete); payments
//! that succeed late (a challenge passed without coming back, an outcome
//! the recovery worker settles) complete their session in the same commit,
//! with no visit of the page. Also `payment_method_data[card][encrypted]`
//! on PaymentIntents.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::jwe::{encrypt, key_set};
use support::{create_merchant, Api, Backend, Merchant, TestDatabase, TestServer};

const SUCCESS_URL: &str = "https://shop.example/done?session={CHECKOUT_SESSION_ID}";
const CANCEL_URL: &str = "https://shop.example/cart?from={CHECKOUT_SESSION_ID}";
const VISA: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";
const THREE_DS: &str = "4000002760003184";

fn card(number: &str) -> String {
    format!(r#"{{"number":"{number}","exp_month":12,"exp_year":2035,"cvc":"123"}}"#)
}

/// A browser: no API key, redirects not followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn create_session(api: &Api, extra: &[(&str, &str)]) -> Value {
    let form = support::checkout_session_form(SUCCESS_URL, CANCEL_URL, extra);
    let created = api.post("/v1/checkout/sessions", &form).await;
    assert_eq!(created.status, 200, "{}", created.text);
    created.json()
}

/// `payment_method_data` of a card given as a JWE (or anything posing as one).
fn encrypted_card_data(compact: &str) -> [(&'static str, &str); 2] {
    [
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][encrypted]", compact),
    ]
}

async fn page(server: &TestServer, path: &str, language: &str) -> (u16, String) {
    let answer = browser()
        .get(server.url(path))
        .header("Accept-Language", language)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    if status == 200 {
        let policy = answer.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(policy.contains("script-src 'self'"), "{policy}");
    }
    (status, answer.text().await.unwrap())
}

/// What the page's script posts: the JWE of `number` and the name.
async fn pay(server: &TestServer, id: &str, number: &str) -> (u16, Value) {
    let jwk = key_set(server).await[0].clone();
    let answer = browser()
        .post(server.url(&format!("/checkout/{id}/pay")))
        .form(&[
            ("encrypted", encrypt(&jwk, &card(number)).as_str()),
            ("name", "Ada Lovelace"),
        ])
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

/// The PaymentIntent of `session`.
async fn intent_of(api: &Api, session: &Value) -> Value {
    let intent = session["payment_intent"].as_str().unwrap();
    api.get(&format!("/v1/payment_intents/{intent}"))
        .await
        .json()
}

async fn events_of(api: &Api, kind: &str) -> Vec<Value> {
    let answer = api.get(&format!("/v1/events?type={kind}")).await;
    answer.json()["data"].as_array().unwrap().clone()
}

async fn the_page_speaks_the_sessions_language_or_the_browsers(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let session = create_session(&api, &[]).await;
    let path = format!("/checkout/{}", session["id"].as_str().unwrap());
    assert!(session["url"].as_str().unwrap().ends_with(&path));

    let (status, english) = page(&server, &path, "en-US,en;q=0.9").await;
    assert_eq!(status, 200, "{english}");
    assert!(english.contains(r#"<html lang="en">"#));
    for text in [
        r#"<label for="card-number">Card number</label>"#,
        r#"<label for="card-expiry">Expiry date</label>"#,
        r#"<label for="card-cvc">CVC</label>"#,
        r#"<label for="card-name">Cardholder name</label>"#,
        ">Pay</button>",
        "$50.50",
        "/checkout/assets/checkout.js",
        "https://shop.example/cart?from=cs_test_",
    ] {
        assert!(english.contains(text), "{text} missing from {english}");
    }
    assert!(!english.contains("<script>"), "no inline script");

    let (_, chinese) = page(&server, &path, "zh-CN,zh;q=0.9").await;
    assert!(chinese.contains(r#"<html lang="zh-CN">"#));
    for text in [
        "卡号",
        "有效期",
        "安全码",
        "持卡人姓名",
        ">支付</button>",
        "US$50.50",
    ] {
        assert!(chinese.contains(text), "{text} missing");
    }
    // The visitor's switch beats the browser's language.
    let (_, switched) = page(&server, &format!("{path}?locale=en"), "zh-CN").await;
    assert!(switched.contains(">Pay</button>"));

    // The session's locale beats the browser's.
    let zh = create_session(&api, &[("locale", "zh")]).await;
    let (_, chinese) = page(
        &server,
        &format!("/checkout/{}", zh["id"].as_str().unwrap()),
        "en",
    )
    .await;
    assert!(chinese.contains(">支付</button>"));

    let script = browser()
        .get(server.url("/checkout/assets/checkout.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(script.text().await.unwrap().contains("RSA-OAEP-256"));

    let (status, _) = page(&server, "/checkout/cs_test_doesnotexist0000000000", "en").await;
    assert_eq!(status, 404);
}

async fn a_decline_can_be_retried_and_success_completes_once(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let session = create_session(&api, &[("locale", "en")]).await;
    let id = session["id"].as_str().unwrap();

    let (status, declined) = pay(&server, id, DECLINED).await;
    assert_eq!(status, 200, "{declined}");
    assert_eq!(declined["outcome"], "failed");
    assert_eq!(
        declined["message"],
        "Your card was declined. Try another card."
    );
    let open = api.get(&format!("/v1/checkout/sessions/{id}")).await.json();
    assert_eq!(open["status"], "open");
    let intent_id = open["payment_intent"].as_str().unwrap().to_owned();

    let (status, paid) = pay(&server, id, VISA).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["outcome"], "succeeded");
    assert_eq!(
        paid["redirect"],
        format!("https://shop.example/done?session={id}")
    );
    let done = api.get(&format!("/v1/checkout/sessions/{id}")).await.json();
    assert_eq!(done["status"], "complete");
    assert_eq!(done["payment_status"], "paid");
    assert_eq!(
        done["payment_intent"],
        intent_id.as_str(),
        "the retry reuses the intent"
    );
    assert_eq!(done["url"], Value::Null);
    let intent = api
        .get(&format!("/v1/payment_intents/{intent_id}"))
        .await
        .json();
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["amount"], 5050);
    assert_eq!(intent["currency"], "usd");

    let completed = events_of(&api, "checkout.session.completed").await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["data"]["object"]["id"], id);
    assert_eq!(completed[0]["data"]["object"]["payment_status"], "paid");

    // Paid: nothing more to pay, and the page says so.
    let (status, again) = pay(&server, id, VISA).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(events_of(&api, "checkout.session.completed").await.len(), 1);
    let (status, closed) = page(&server, &format!("/checkout/{id}"), "en").await;
    assert_eq!(status, 200);
    assert!(closed.contains("This order is paid"), "{closed}");
    assert!(!closed.contains("Card number"));
    // Landing back from a payment flow (a wallet's return) that was paid
    // meanwhile: on to `success_url`.
    let back = browser()
        .get(server.url(&format!("/checkout/{id}?failed=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status().as_u16(), 303);
    assert_eq!(
        back.headers()["location"],
        format!("https://shop.example/done?session={id}").as_str()
    );
}

async fn a_sessions_page_takes_a_bounded_number_of_attempts(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let session = create_session(&api, &[("locale", "en")]).await;
    let id = session["id"].as_str().unwrap();
    for _ in 0..10 {
        let (_, declined) = pay(&server, id, DECLINED).await;
        assert_eq!(
            declined["message"],
            "Your card was declined. Try another card."
        );
    }
    // Card testing stops here: even a good card is no longer tried.
    let (status, refused) = pay(&server, id, VISA).await;
    assert_eq!(status, 200);
    assert_eq!(
        refused["message"],
        "Too many payment attempts for this order. Return to the merchant to start again."
    );
    let session = api.get(&format!("/v1/checkout/sessions/{id}")).await.json();
    assert_eq!(session["status"], "open");
    let intent = intent_of(&api, &session).await;
    assert_eq!(intent["status"], "requires_payment_method");
}

async fn three_d_secure_returns_to_the_checkout_flow(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);

    for (outcome, paid) in [("fail", false), ("pass", true)] {
        let session = create_session(&api, &[]).await;
        let id = session["id"].as_str().unwrap();
        let (_, challenged) = pay(&server, id, THREE_DS).await;
        assert_eq!(challenged["outcome"], "requires_action", "{challenged}");
        let challenge = challenged["redirect"].as_str().unwrap();
        assert!(challenge.contains("/authenticate/pi_"), "{challenge}");
        assert!(challenge.ends_with("&locale=en"), "{challenge}");
        let back = decide(&challenged, outcome).await;
        assert!(back.contains(&format!("/checkout/{id}/return")), "{back}");
        let returned = browser().get(&back).send().await.unwrap();
        assert_eq!(returned.status(), 303);
        let location = returned.headers()["location"].to_str().unwrap();
        let session = api.get(&format!("/v1/checkout/sessions/{id}")).await.json();
        if paid {
            assert_eq!(location, format!("https://shop.example/done?session={id}"));
            assert_eq!(session["status"], "complete");
        } else {
            assert_eq!(location, format!("/checkout/{id}?failed=true"));
            assert_eq!(session["status"], "open");
            let (_, retry) = page(&server, location, "en").await;
            assert!(
                retry.contains("We could not authenticate your payment"),
                "{retry}"
            );
        }
    }
    assert_eq!(events_of(&api, "checkout.session.completed").await.len(), 1);

    // A session in Chinese sends the customer to a challenge in Chinese.
    let session = create_session(&api, &[("locale", "zh")]).await;
    let (_, challenged) = pay(&server, session["id"].as_str().unwrap(), THREE_DS).await;
    let challenge = challenged["redirect"].as_str().unwrap();
    assert!(challenge.ends_with("&locale=zh-CN"), "{challenge}");
    let shown = browser()
        .get(challenge)
        .header("Accept-Language", "en")
        .send()
        .await
        .unwrap();
    let shown = shown.text().await.unwrap();
    assert!(shown.contains(r#"<html lang="zh-CN">"#), "{shown}");
    assert!(shown.contains("完成验证") && shown.contains("使验证失败"));
}

async fn expired_sessions_show_a_clear_page_and_take_no_payment(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let session = create_session(&api, &[]).await;
    let id = session["id"].as_str().unwrap();
    let expired = api
        .post(&format!("/v1/checkout/sessions/{id}/expire"), &[])
        .await;
    assert_eq!(expired.status, 200);

    let (status, closed) = page(&server, &format!("/checkout/{id}"), "zh-CN").await;
    assert_eq!(status, 200);
    assert!(closed.contains("本次结账已过期"), "{closed}");
    assert!(closed.contains(&format!("https://shop.example/cart?from={id}")));
    let (status, refused) = pay(&server, id, VISA).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["error"]["code"],
        "checkout_session_unexpected_state"
    );
    let session = api.get(&format!("/v1/checkout/sessions/{id}")).await.json();
    assert_eq!(session["payment_intent"], Value::Null, "no intent was made");
    assert_eq!(events_of(&api, "checkout.session.completed").await.len(), 0);
}

/// Passes or fails the 3-D Secure challenge of a `requires_action`
/// answer, returning where the challenge page sends the browser.
async fn decide(challenged: &Value, outcome: &str) -> String {
    let challenge = challenged["redirect"].as_str().unwrap();
    let decided = browser()
        .post(format!("{challenge}&outcome={outcome}"))
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), 303);
    decided.headers()["location"].to_str().unwrap().to_owned()
}

async fn an_expiring_sessions_intent_is_canceled_or_completes_it(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);

    // The merchant expires a session after a decline: its intent is
    // canceled, so nothing can pay it any more.
    let session = create_session(&api, &[]).await;
    let id = session["id"].as_str().unwrap();
    pay(&server, id, DECLINED).await;
    let expired = api
        .post(&format!("/v1/checkout/sessions/{id}/expire"), &[])
        .await;
    assert_eq!(expired.status, 200, "{}", expired.text);
    let intent = expired.json()["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    let intent = api
        .get(&format!("/v1/payment_intents/{intent}"))
        .await
        .json();
    assert_eq!(intent["status"], "canceled");
    assert_eq!(intent["cancellation_reason"], "abandoned");

    // The worker expires a session waiting for its challenge: the intent
    // is canceled, and passing the challenge afterwards pays nothing.
    let session = create_session(&api, &[]).await;
    let id = session["id"].as_str().unwrap();
    let (_, challenged) = pay(&server, id, THREE_DS).await;
    support::backdate_checkout_session(&db, id).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let session = loop {
        let session = api.get(&format!("/v1/checkout/sessions/{id}")).await.json();
        if session["status"] != "open" || std::time::Instant::now() > deadline {
            break session;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(session["status"], "expired");
    decide(&challenged, "pass").await;
    let intent = intent_of(&api, &session).await;
    assert_eq!(intent["status"], "canceled");
}

/// A challenge passed while the browser never came back to the checkout:
/// the authorization after it completes the session in its own commit,
/// once, with no visit of the page; visits afterwards say the order is
/// paid and complete nothing again.
async fn a_challenge_passed_without_coming_back_completes_the_session(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let session = create_session(&api, &[]).await;
    let id = session["id"].as_str().unwrap();
    let (_, challenged) = pay(&server, id, THREE_DS).await;
    decide(&challenged, "pass").await;
    let session = api.get(&format!("/v1/checkout/sessions/{id}")).await.json();
    assert_eq!(session["status"], "complete", "{session}");
    assert_eq!(session["payment_status"], "paid");
    let completed = events_of(&api, "checkout.session.completed").await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["data"]["object"]["id"], id);
    assert_eq!(completed[0]["data"]["object"]["status"], "complete");

    let (_, shown) = page(&server, &format!("/checkout/{id}"), "en").await;
    assert!(shown.contains("This order is paid"), "{shown}");
    let back = browser()
        .get(server.url(&format!("/checkout/{id}/return?redirect_status=succeeded")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        back.headers()["location"],
        format!("https://shop.example/done?session={id}").as_str()
    );
    assert_eq!(events_of(&api, "checkout.session.completed").await.len(), 1);
}

/// Recovery settings for the test: attempts are stale after 1.5 s.
const FAST_RECOVERY: &str =
    "connector_timeout_ms = 1000\nattempt_stale_ms = 1500\nrecovery_interval_ms = 200\n";

/// A gateway (and its API) restarted after a session (its id returned)
/// was paid by card on one that died between the acquirer's approval and
/// its commit, before answering the page; its recovery worker is on.
async fn restarted_after_a_crash(
    db: &TestDatabase,
    merchant: &Merchant,
) -> (TestServer, Api, String) {
    let config = db.data_dir.join("recovery.toml");
    std::fs::write(&config, FAST_RECOVERY).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let fault = [("PORTCULLIS_TEST_FAULT_CRASH_AFTER", "authorize")];
    let mut crashing = TestServer::start_with_env(db, &["--config", &config], &fault);
    let session = create_session(&Api::new(&crashing, &merchant.secret_key), &[]).await;
    let id = session["id"].as_str().unwrap().to_owned();
    let jwk = key_set(&crashing).await[0].clone();
    let sent = browser()
        .post(crashing.url(&format!("/checkout/{id}/pay")))
        .form(&[("encrypted", encrypt(&jwk, &card(VISA)).as_str())])
        .send()
        .await;
    assert!(sent.is_err(), "the gateway dies before answering");
    let deadline = Instant::now() + Duration::from_secs(20);
    while crashing.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the gateway did not die");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let server = TestServer::start_with(db, &["--config", &config]);
    let api = Api::new(&server, &merchant.secret_key);
    (server, api, id)
}

/// The session `id` once it is no longer open (bounded wait).
async fn settled_session(api: &Api, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let session = api.get(&format!("/v1/checkout/sessions/{id}")).await.json();
        if session["status"] != "open" || Instant::now() > deadline {
            return session;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A card payment whose answer the page never got: the recovery worker
/// settles it with the acquirer, and that commit completes the session —
/// no visit of the page, one `checkout.session.completed`.
async fn a_payment_recovery_settles_completes_its_session(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let (server, api, id) = restarted_after_a_crash(&db, &merchant).await;
    let session = settled_session(&api, &id).await;
    assert_eq!(session["status"], "complete", "{session}\n{}", server.log());
    assert_eq!(session["payment_status"], "paid");
    assert!(server.log().contains("settling an orphaned attempt"));
    let intent = intent_of(&api, &session).await;
    assert_eq!(intent["status"], "succeeded");
    let (_, shown) = page(&server, &format!("/checkout/{id}"), "en").await;
    assert!(shown.contains("This order is paid"), "{shown}");
    assert_eq!(events_of(&api, "checkout.session.completed").await.len(), 1);
}

/// Visits of the page while recovery settles the payment (each may read
/// the session open and the intent paid) complete nothing twice and
/// never fail: one `checkout.session.completed`.
async fn visits_during_recovery_complete_the_session_once(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let (server, api, id) = restarted_after_a_crash(&db, &merchant).await;
    let url = server.url(&format!("/checkout/{id}"));
    let visitor = tokio::spawn(async move {
        let mut answers = vec![];
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let answer = browser().get(&url).send().await.unwrap();
            let status = answer.status().as_u16();
            let text = answer.text().await.unwrap();
            answers.push((status, text.contains("This order is paid")));
            if status == 303 || answers.last().unwrap().1 {
                break;
            }
        }
        answers
    });
    let session = settled_session(&api, &id).await;
    let answers = visitor.await.unwrap();
    assert_eq!(session["status"], "complete", "{session}\n{}", server.log());
    for (status, _) in &answers {
        assert!(*status == 200 || *status == 303, "{answers:?}");
    }
    assert_eq!(events_of(&api, "checkout.session.completed").await.len(), 1);
}

async fn payment_intents_take_an_encrypted_card_inline(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let jwk = key_set(&server).await[0].clone();

    let created = api
        .post(
            "/v1/payment_intents",
            &[
                &[("amount", "1200"), ("currency", "usd"), ("confirm", "true")][..],
                &encrypted_card_data(&encrypt(&jwk, &card(VISA))),
            ]
            .concat(),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.json()["status"], "succeeded");
    let method = created.json()["payment_method"]
        .as_str()
        .unwrap()
        .to_owned();
    let method = api
        .get(&format!("/v1/payment_methods/{method}"))
        .await
        .json();
    assert_eq!(method["card"]["last4"], "4242");

    let intent = api
        .post(
            "/v1/payment_intents",
            &[("amount", "900"), ("currency", "usd")],
        )
        .await
        .json();
    let confirm = format!(
        "/v1/payment_intents/{}/confirm",
        intent["id"].as_str().unwrap()
    );
    let declined = api
        .post(
            &confirm,
            &encrypted_card_data(&encrypt(&jwk, &card(DECLINED))),
        )
        .await;
    assert_eq!(declined.status, 402, "{}", declined.text);
    assert_eq!(declined.json()["error"]["code"], "card_declined");
    let tampered = api
        .post(&confirm, &encrypted_card_data("not.a.jwe.at.all"))
        .await;
    assert_eq!(tampered.status, 400, "{}", tampered.text);
    assert_eq!(tampered.json()["error"]["param"], "card[encrypted]");
    let unconfirmed = api
        .post(
            "/v1/payment_intents",
            &[
                &[("amount", "900"), ("currency", "usd")][..],
                &encrypted_card_data(&encrypt(&jwk, &card(VISA))),
            ]
            .concat(),
        )
        .await;
    assert_eq!(unconfirmed.status, 400, "{}", unconfirmed.text);
}

on_both_backends!(
    the_page_speaks_the_sessions_language_or_the_browsers,
    a_decline_can_be_retried_and_success_completes_once,
    three_d_secure_returns_to_the_checkout_flow,
    expired_sessions_show_a_clear_page_and_take_no_payment,
    payment_intents_take_an_encrypted_card_inline,
    an_expiring_sessions_intent_is_canceled_or_completes_it,
    a_sessions_page_takes_a_bounded_number_of_attempts,
    a_challenge_passed_without_coming_back_completes_the_session,
    a_payment_recovery_settles_completes_its_session,
    visits_during_recovery_complete_the_session_once,
);
