//! Checkout Sessions paid from the customer's balance (the e-wallet), on
//! both backends, driven as the checkout page's script does (cookies
//! kept, redirects looked at): `customer_balance` needs the session's
//! customer; the page's sign-in link comes back to the checkout page; a
//! balance too small is refused with the wallet untouched and the session
//! still open; a sufficient one pays, debits the wallet by the total and
//! completes the session once (`checkout.session.completed`), on to
//! `success_url`; another customer signed in is told so in their language
//! and cannot pay; the form token is required. A browser the holder has
//! not proven themself on (a new device) waits for their step-up, on the
//! hosted step-up page, which comes back through the checkout's return
//! route to `success_url`; its emailed code makes the browser known.

use super::pages::{attribute_at, Browser};
use super::step_up_payment::{emailed_code, step_up_by_emailed_code, submit};
use super::{world, World, PASSWORD};
use crate::support::{checkout_session_form, Answer, Backend};
use serde_json::Value;

const SUCCESS_URL: &str = "https://shop.example/done?session={CHECKOUT_SESSION_ID}";
const CANCEL_URL: &str = "https://shop.example/cart";
/// What `checkout_session_form`'s line items total, in cents.
const TOTAL: i64 = 5050;

async fn create_session(w: &World, extra: &[(&str, &str)]) -> Answer {
    let form = checkout_session_form(SUCCESS_URL, CANCEL_URL, extra);
    w.merchant.post("/v1/checkout/sessions", &form).await
}

async fn balance_session(w: &World, customer: &str) -> String {
    let created = create_session(
        w,
        &[
            ("customer", customer),
            ("payment_method_types[0]", "card"),
            ("payment_method_types[1]", "customer_balance"),
        ],
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    created.json()["id"].as_str().unwrap().to_owned()
}

async fn credit(w: &World, customer: &str, amount: i64) {
    let credited = w
        .merchant
        .post(
            &format!("/v1/customers/{customer}/balance_transactions"),
            &[("amount", &(-amount).to_string()), ("currency", "usd")],
        )
        .await;
    assert_eq!(credited.status, 200, "{}", credited.text);
}

async fn held(w: &World, customer: &str) -> i64 {
    let found = w.merchant.get(&format!("/v1/customers/{customer}")).await;
    -found.json()["balance"].as_i64().unwrap()
}

async fn session(w: &World, id: &str) -> Value {
    w.merchant
        .get(&format!("/v1/checkout/sessions/{id}"))
        .await
        .json()
}

async fn intent_of(w: &World, id: &str) -> Value {
    w.merchant
        .get(&format!("/v1/payment_intents/{id}"))
        .await
        .json()
}

/// Follows the checkout's return route `path`: where it sends the browser.
async fn returned_to(browser: &mut Browser, path: &str) -> String {
    let returned = browser.get(path).await;
    assert_eq!(returned.status, 303, "{}", returned.text);
    returned.location().to_owned()
}

fn balance_path(id: &str) -> String {
    format!("/account/checkout/{id}/balance")
}

/// What the page's script asks first, in the page's language.
async fn look(browser: &mut Browser, id: &str, locale: &str) -> Value {
    let path = format!("{}?locale={locale}", balance_path(id));
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.text);
    serde_json::from_str(&page.text).unwrap()
}

/// Follows the checkout page's sign-in link and signs `email` in: the
/// browser comes back to the checkout page.
async fn sign_in_from_checkout(browser: &mut Browser, id: &str, email: &str) {
    let page = browser.get(&format!("/checkout/{id}?locale=en")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let marker = "id=\"balance-sign-in\" href=\"";
    let start = page.text.find(marker).expect("a sign-in link") + marker.len();
    let link = attribute_at(&page.text, start).replace("&#x2f;", "/");
    assert!(link.starts_with("/account/login?"), "{link}");
    let signed = browser
        .fill(&link, &[("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(signed.status, 303, "{}", signed.text);
    assert_eq!(signed.location(), format!("/checkout/{id}?locale=en"));
}

/// A registered holder `email` with 9000 cents, a session of theirs
/// offering the balance, and a browser signed in from its page: their
/// customer, the session and the browser.
async fn signed_in_payer(w: &World, email: &str) -> (String, String, Browser) {
    let account = w.registered(email, 1).await;
    let customer = account["customer"].as_str().unwrap().to_owned();
    credit(w, &customer, 9000).await;
    let id = balance_session(w, &customer).await;
    let mut browser = Browser::new(w, "en");
    sign_in_from_checkout(&mut browser, &id, email).await;
    (customer, id, browser)
}

async fn checkout_sessions_paid_from_the_balance(backend: Backend) {
    let w = world(backend, &[]).await;
    let ada = w.registered("ada@example.com", 1).await;
    let ada = ada["customer"].as_str().unwrap().to_owned();

    // Creation: the balance needs the session's customer.
    let anonymous = create_session(
        &w,
        &[
            ("payment_method_types[0]", "card"),
            ("payment_method_types[1]", "customer_balance"),
        ],
    )
    .await;
    assert_eq!(anonymous.status, 400, "{}", anonymous.text);
    let error = &anonymous.json()["error"];
    assert_eq!(error["param"], "payment_method_types[1]");
    assert!(error["message"].as_str().unwrap().contains("customer"));
    let id = balance_session(&w, &ada).await;
    let created = session(&w, &id).await;
    assert_eq!(
        created["payment_method_types"],
        serde_json::json!(["card", "customer_balance"])
    );

    // Signed out: the page offers to sign in, and comes back.
    let mut browser = Browser::new(&w, "en");
    assert_eq!(look(&mut browser, &id, "en").await["signed_in"], false);
    sign_in_from_checkout(&mut browser, &id, "ada@example.com").await;

    // Too little: refused before anything moves.
    credit(&w, &ada, 3000).await;
    let seen = look(&mut browser, &id, "en").await;
    assert_eq!(seen["payer"], true, "{seen}");
    assert_eq!(seen["available"], "$30.00");
    assert_eq!(seen["sufficient"], false);
    let csrf = seen["csrf_token"].as_str().unwrap().to_owned();
    let (status, _) = browser
        .post_json(&balance_path(&id), &[("csrf_token", "forged")])
        .await;
    assert_eq!(status, 403, "the form token is required");
    let (status, refused) = browser
        .post_json(&balance_path(&id), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(refused["outcome"], "failed");
    assert!(
        refused["message"].as_str().unwrap().contains("not enough"),
        "{refused}"
    );
    assert_eq!(held(&w, &ada).await, 3000, "nothing taken");
    assert_eq!(session(&w, &id).await["status"], "open");

    // This browser is a new device: the holder makes it known with an
    // emailed code (their second message) in its session, then pays
    // without a step-up.
    let token = browser.cookies["portcullis_account_session"].clone();
    step_up_by_emailed_code(&w, &token, "ada@example.com", 2).await;

    // Enough: paid, the wallet debited by the total, the session complete.
    credit(&w, &ada, 3000).await;
    let (status, paid) = browser
        .post_json(&balance_path(&id), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["outcome"], "succeeded", "{paid}");
    assert_eq!(
        paid["redirect"],
        format!("https://shop.example/done?session={id}")
    );
    assert_eq!(held(&w, &ada).await, 6000 - TOTAL);
    let done = session(&w, &id).await;
    assert_eq!(done["status"], "complete");
    assert_eq!(done["payment_status"], "paid");
    let intent = intent_of(&w, done["payment_intent"].as_str().unwrap()).await;
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["amount_received"], TOTAL);
    assert_eq!(
        crate::support::events_about(&w.merchant, "checkout.session.completed", &id).await,
        1
    );
    let (status, _) = browser
        .post_json(&balance_path(&id), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, 409, "a complete session cannot be paid again");
    assert_eq!(held(&w, &ada).await, 6000 - TOTAL, "paid once");

    // Another customer signed in: told so, in their language; nothing paid.
    let bob = w.registered("bob@example.com", 1).await;
    credit(&w, bob["customer"].as_str().unwrap(), 9000).await;
    let second = balance_session(&w, &ada).await;
    let mut bobs = Browser::new(&w, "zh-CN");
    sign_in_from_checkout(&mut bobs, &second, "bob@example.com").await;
    let seen = look(&mut bobs, &second, "zh-CN").await;
    assert_eq!(seen["payer"], false, "{seen}");
    assert!(seen.get("available").is_none(), "no one else's balance");
    assert!(seen["message"]
        .as_str()
        .unwrap()
        .contains("不是该订单的账户"));
    let (status, refused) = bobs
        .post_json(
            &format!("{}?locale=zh-CN", balance_path(&second)),
            &[("csrf_token", seen["csrf_token"].as_str().unwrap())],
        )
        .await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(refused["outcome"], "failed");
    assert_eq!(session(&w, &second).await["status"], "open");
    assert_eq!(held(&w, bob["customer"].as_str().unwrap()).await, 9000);

    // A session that does not offer the balance refuses it.
    let cards_only = create_session(&w, &[("customer", ada.as_str())]).await;
    let cards_only = cards_only.json()["id"].as_str().unwrap().to_owned();
    let page = browser.get(&balance_path(&cards_only)).await;
    assert_eq!(page.status, 400, "{}", page.text);
}

/// Signs `email` in on the hosted sign-in page, which goes to `/account`.
async fn sign_in(browser: &mut Browser, w: &World, email: &str) {
    let login = format!("/account/login?merchant={}&mode=test", w.merchant_id);
    let signed = browser
        .fill(&login, &[("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(signed.status, 303, "{}", signed.text);
    assert_eq!(signed.location(), "/account");
}

/// The top-up form posted with this browser's form token.
async fn top_up(browser: &mut Browser, amount: &str, currency: &str) -> super::pages::Page {
    let page = browser.get("/account/top_up").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let csrf = page.input("csrf_token");
    let form = [
        ("csrf_token", csrf.as_str()),
        ("amount", amount),
        ("currency", currency),
    ];
    browser.post("/account/top_up?locale=en", &form).await
}

async fn the_top_up_page_pays_through_checkout(backend: Backend) {
    let w = world(backend, &[]).await;
    let lin = w.registered("lin@example.com", 1).await;
    let lin = lin["customer"].as_str().unwrap().to_owned();
    let limit = w
        .merchant
        .post(
            "/v1/customer_balance_limits",
            &[("currency", "usd"), ("balance_max", "10000")],
        )
        .await;
    assert_eq!(limit.status, 200, "{}", limit.text);
    let mut browser = Browser::new(&w, "en");
    assert_eq!(browser.get("/account/top_up").await.status, 401);
    sign_in(&mut browser, &w, "lin@example.com").await;
    let page = browser.get("/account/top_up").await;
    assert!(
        page.text.contains("Your balance is empty."),
        "{}",
        page.text
    );
    assert!(page.text.contains("Most your balance may hold"));
    assert!(page.text.contains("$100.00"), "the limit is shown");

    // Refused before any money moves: not an amount, over the limit.
    let bad = top_up(&mut browser, "12.345", "usd").await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("Enter an amount greater than zero"));
    let over = top_up(&mut browser, "150", "usd").await;
    assert_eq!(over.status, 400, "{}", over.text);
    assert!(over.text.contains("exceed a limit"), "{}", over.text);
    let listed = w.merchant.get("/v1/checkout/sessions").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 0, "no session");

    // On to the checkout page; a card pays; the wallet is credited.
    let started = top_up(&mut browser, "50", "usd").await;
    assert_eq!(started.status, 303, "{}", started.text);
    let checkout = started.location().to_owned();
    let id = checkout
        .trim_start_matches("/checkout/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let page = browser.get(&checkout).await;
    assert!(page.text.contains("Balance top-up"), "{}", page.text);
    assert!(page.text.contains("$50.00"));
    let jwk = crate::support::jwe::key_set(&w.server).await[0].clone();
    let card = r#"{"number":"4242424242424242","exp_month":12,"exp_year":2035,"cvc":"123"}"#;
    let encrypted = crate::support::jwe::encrypt(&jwk, card);
    let (status, paid) = browser
        .post_json(
            &format!("/checkout/{id}/pay"),
            &[("encrypted", &encrypted), ("name", "Lin")],
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["outcome"], "succeeded", "{paid}");
    assert_eq!(
        paid["redirect"],
        "https://pay.shop.example/account?done=topped_up"
    );
    assert_eq!(held(&w, &lin).await, 5000);
    let session = session(&w, &id).await;
    assert_eq!(session["status"], "complete");
    let moves = w
        .merchant
        .get(&format!("/v1/customers/{lin}/balance_transactions"))
        .await
        .json();
    assert_eq!(moves["data"][0]["type"], "top_up", "{moves}");
    assert_eq!(
        moves["data"][0]["payment_intent"],
        session["payment_intent"]
    );
    let home = browser.get("/account?done=topped_up").await;
    assert!(home.text.contains("$50.00"), "{}", home.text);
}

/// A payment above `accounts_balance_step_up_above` follows the intent's
/// `redirect_to_url` (the step-up page), whose `return_url` is the
/// checkout's own return route: back before the step-up, the page again
/// with nothing taken; the holder's step-up pays and completes the session
/// at once, and the browser back goes on to `success_url`.
async fn a_step_up_returns_to_the_checkout_page(backend: Backend) {
    let w = world(
        backend,
        &[("PORTCULLIS_ACCOUNTS_BALANCE_STEP_UP_ABOVE", "1000")],
    )
    .await;
    let (kim, id, mut browser) = signed_in_payer(&w, "kim@example.com").await;
    let asked = pay_in(&mut browser, &id).await;
    assert_eq!(asked["outcome"], "requires_action", "{asked}");
    let step_up = asked["redirect"].as_str().unwrap();
    assert!(
        step_up.starts_with("https://pay.shop.example/account/step_up"),
        "{step_up}"
    );
    let intent_id = session(&w, &id).await["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    let intent = intent_of(&w, &intent_id).await;
    let back = format!("https://pay.shop.example/checkout/{id}/return?locale=en");
    assert_eq!(intent["next_action"]["redirect_to_url"]["return_url"], back);
    assert_eq!(
        held(&w, &kim).await,
        9000,
        "nothing taken before the step-up"
    );

    // Back before the step-up is done (a failed or abandoned one): the
    // checkout page again, the session open, nothing taken.
    let back_path = format!(
        "/checkout/{id}/return?locale=en&payment_intent={intent_id}&redirect_status=failed"
    );
    assert_eq!(
        returned_to(&mut browser, &back_path).await,
        format!("/checkout/{id}?failed=true&locale=en")
    );
    assert_eq!(session(&w, &id).await["status"], "open");
    assert_eq!(held(&w, &kim).await, 9000);

    // The holder steps up (the password: the account has no passkey) and
    // completes it: back on the return route, the session completes, on
    // to success_url.
    let token = w.session_of("kim@example.com", PASSWORD).await;
    let stepped = w
        .as_session(
            reqwest::Method::POST,
            "/v1/accounts/step_up",
            &token,
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(stepped.status, 200, "{}", stepped.text);
    let authorized = w
        .as_session(
            reqwest::Method::POST,
            &format!("/v1/accounts/payment_intents/{intent_id}/authorize"),
            &token,
            &[],
        )
        .await;
    assert_eq!(authorized.status, 200, "{}", authorized.text);
    assert_eq!(authorized.json()["status"], "succeeded");
    // Complete already, in the commit that paid it: the browser need not
    // come back for it.
    assert_eq!(session(&w, &id).await["status"], "complete");
    let succeeded = back_path.replace("redirect_status=failed", "redirect_status=succeeded");
    assert_eq!(
        returned_to(&mut browser, &succeeded).await,
        format!("https://shop.example/done?session={id}")
    );
    let done = session(&w, &id).await;
    assert_eq!(done["status"], "complete");
    assert_eq!(
        crate::support::events_about(&w.merchant, "checkout.session.completed", &id).await,
        1
    );
    assert_eq!(held(&w, &kim).await, 9000 - TOTAL);
}

/// The balance's JSON answer to paying session `id` in `browser` (the
/// page's form token taken first).
async fn pay_in(browser: &mut Browser, id: &str) -> Value {
    let csrf = look(browser, id, "en").await["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("{}?locale=en", balance_path(id));
    let (status, answer) = browser.post_json(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// A browser the holder never used asks for their step-up (`new_device`)
/// with nothing taken; the step-up page's emailed code pays, comes back
/// through the checkout's return route and goes on to `success_url`; the
/// browser is known since: the next session pays at once.
async fn a_new_browser_steps_up_on_the_way(backend: Backend) {
    let w = world(backend, &[]).await;
    let (lea, id, mut browser) = signed_in_payer(&w, "lea@example.com").await;
    let asked = pay_in(&mut browser, &id).await;
    assert_eq!(asked["outcome"], "requires_action", "{asked}");
    let step_up = asked["redirect"].as_str().unwrap().to_owned();
    let intent_id = session(&w, &id).await["payment_intent"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        step_up,
        format!("https://pay.shop.example/account/step_up?payment_intent={intent_id}&locale=en")
    );
    let intent = intent_of(&w, &intent_id).await;
    assert_eq!(intent["status"], "requires_action");
    assert_eq!(
        intent["balance_step_up"]["reason"], "new_device",
        "{intent}"
    );
    assert_eq!(
        held(&w, &lea).await,
        9000,
        "nothing taken before the step-up"
    );

    // The step-up page: a code by email (the second message), then back.
    let sent = submit(&mut browser, &step_up, "pay-code-send", &[]).await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    let code = emailed_code(&w, "lea@example.com", 2).await;
    let paid = submit(&mut browser, &step_up, "pay-code", &[("code", &code)]).await;
    assert_eq!(paid.status, 303, "{}", paid.text);
    let back = paid.location().to_owned();
    assert!(
        back.starts_with(&format!(
            "https://pay.shop.example/checkout/{id}/return?locale=en&payment_intent={intent_id}"
        )) && back.ends_with("redirect_status=succeeded"),
        "{back}"
    );
    assert_eq!(
        returned_to(&mut browser, &back).await,
        format!("https://shop.example/done?session={id}")
    );
    assert_eq!(session(&w, &id).await["status"], "complete");
    assert_eq!(held(&w, &lea).await, 9000 - TOTAL);

    // Known now: the next session pays from this browser at once.
    credit(&w, &lea, 9000).await;
    let next = balance_session(&w, &lea).await;
    let paid = pay_in(&mut browser, &next).await;
    assert_eq!(paid["outcome"], "succeeded", "{paid}");
    assert_eq!(held(&w, &lea).await, 18000 - 2 * TOTAL);
}

crate::on_both_backends!(
    a_new_browser_steps_up_on_the_way,
    a_step_up_returns_to_the_checkout_page,
    checkout_sessions_paid_from_the_balance,
    the_top_up_page_pays_through_checkout,
);
