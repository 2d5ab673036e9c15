//! Completing a payment from the balance that waits for step-up, on both
//! backends: through the API with the password or an emailed code (single
//! use, expiring, throttled), and through the hosted step-up page
//! (`/account/step_up?payment_intent=…`) driven as a browser would:
//! password pays and returns to the `return_url` with Stripe's
//! parameters, three wrong passwords (counted per intent) or "Cancel
//! payment" fail the intent with the balance unchanged, someone else's intent is not shown, a
//! signed-out browser signs in and comes back; every attempt is a
//! credential event.

use super::pages::Browser;
use super::{code, execute_sql, expire_tokens, world, World, PASSWORD};
use crate::support::{cli, Backend};
use serde_json::Value;

const ABOVE: &str = "500";
const RETURN_URL: &str = "https://shop.example/done";

async fn pay(w: &World, customer: &str, amount: &str, return_url: Option<&str>) -> Value {
    let mut form = vec![
        ("amount", amount),
        ("currency", "usd"),
        ("customer", customer),
        ("payment_method_types[]", "customer_balance"),
        ("payment_method_data[type]", "customer_balance"),
        ("description", "Tea set"),
        ("confirm", "true"),
    ];
    if let Some(url) = return_url {
        form.push(("return_url", url));
    }
    let asked = w.merchant.post("/v1/payment_intents", &form).await;
    assert_eq!(asked.status, 200, "{}", asked.text);
    let intent = asked.json();
    assert_eq!(intent["status"], "requires_action", "{}", asked.text);
    let id = intent["id"].as_str().unwrap();
    assert_eq!(
        intent["next_action"]["redirect_to_url"]["url"],
        format!("https://pay.shop.example/account/step_up?payment_intent={id}")
    );
    intent
}

async fn held(w: &World, customer: &str) -> i64 {
    let found = w.merchant.get(&format!("/v1/customers/{customer}")).await;
    -found.json()["balance"].as_i64().unwrap()
}

async fn intent_of(w: &World, id: &str) -> Value {
    w.merchant
        .get(&format!("/v1/payment_intents/{id}"))
        .await
        .json()
}

fn assert_failed(intent: &Value) {
    assert_eq!(intent["status"], "requires_payment_method", "{intent}");
    assert_eq!(
        intent["last_payment_error"]["code"],
        "payment_intent_authentication_failure"
    );
}

impl World {
    /// A registered holder (`email`, whose activation is their `nth`
    /// message) with `credit` minor units of usd in the wallet: the
    /// customer and a session.
    pub(super) async fn funded_holder(
        &self,
        email: &str,
        nth: usize,
        credit: &str,
    ) -> (String, String) {
        let account = self.registered(email, nth).await;
        let customer = account["customer"].as_str().unwrap().to_owned();
        let session = self.session_of(email, PASSWORD).await;
        let credited = self
            .merchant
            .post(
                &format!("/v1/customers/{customer}/balance_transactions"),
                &[("amount", &format!("-{credit}")), ("currency", "usd")],
            )
            .await;
        assert_eq!(credited.status, 200, "{}", credited.text);
        (customer, session)
    }
}

fn authorize(id: &Value) -> String {
    format!(
        "/v1/accounts/payment_intents/{}/authorize",
        id["id"].as_str().unwrap()
    )
}

/// The six-digit code of the `nth` message to `email`.
pub(super) async fn emailed_code(w: &World, email: &str, nth: usize) -> String {
    let message = w.sink.wait_for(email, nth).await;
    let body = message["body"].as_str().unwrap();
    let code: Vec<&str> = body
        .split_whitespace()
        .filter(|word| word.len() == 6 && word.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(code.len(), 1, "{body}");
    code[0].to_owned()
}

/// Steps `session` of `email` up through the API with a code emailed as
/// their `nth` message.
pub(super) async fn step_up_by_emailed_code(w: &World, session: &str, email: &str, nth: usize) {
    let sent = w
        .post_as("/v1/accounts/step_up/email_code", session, &[])
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    let code = emailed_code(w, email, nth).await;
    let confirm = "/v1/accounts/step_up/email_code/confirm";
    let right = w.post_as(confirm, session, &[("code", &code)]).await;
    assert_eq!(right.status, 200, "{}", right.text);
}

async fn api_step_up_by_password_and_emailed_code(backend: Backend) {
    let w = world(
        backend,
        &[("PORTCULLIS_ACCOUNTS_BALANCE_STEP_UP_ABOVE", ABOVE)],
    )
    .await;
    let email = "mei@example.com";
    let (customer, session) = w.funded_holder(email, 1, "2000").await;
    let c = customer.as_str();

    // Without a step-up (an account with no passkey too): it fails.
    let intent = pay(&w, c, "600", Some(RETURN_URL)).await;
    let unverified = w.post_as(&authorize(&intent), &session, &[]).await;
    assert_failed(&unverified.json());
    assert_eq!(held(&w, c).await, 2000);

    // The password: a wrong one is refused, the right one steps up.
    let intent = pay(&w, c, "600", Some(RETURN_URL)).await;
    let wrong = w
        .post_as(
            "/v1/accounts/step_up",
            &session,
            &[("password", "not the password 1")],
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert_eq!(code(&wrong), "account_password_incorrect");
    let right = w
        .post_as("/v1/accounts/step_up", &session, &[("password", PASSWORD)])
        .await;
    assert_eq!(right.status, 200, "{}", right.text);
    assert!(right.json()["payment_step_up_until"].as_i64().is_some());
    assert!(
        right.json()["step_up_until"].is_null(),
        "not for sensitive actions"
    );
    let paid = w.post_as(&authorize(&intent), &session, &[]).await;
    assert_eq!(paid.json()["status"], "succeeded", "{}", paid.text);
    assert_eq!(held(&w, c).await, 1400);

    // An emailed code: wrong, then right, then spent.
    let other = w.session_of(email, PASSWORD).await;
    let intent = pay(&w, c, "700", Some(RETURN_URL)).await;
    let sent = w
        .post_as(
            "/v1/accounts/step_up/email_code",
            &other,
            &[("locale", "zh-CN")],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert_eq!(sent.json()["object"], "account_step_up_code");
    let again = w
        .post_as("/v1/accounts/step_up/email_code", &other, &[])
        .await;
    assert_eq!(again.status, 429, "resend throttled: {}", again.text);
    let message = w.sink.wait_for(email, 2).await;
    assert!(
        message["body"].as_str().unwrap().contains("验证码"),
        "{message}"
    );
    let right_code = emailed_code(&w, email, 2).await;
    let wrong_code = if right_code == "000000" {
        "111111"
    } else {
        "000000"
    };
    let confirm = "/v1/accounts/step_up/email_code/confirm";
    let wrong = w.post_as(confirm, &other, &[("code", wrong_code)]).await;
    assert_eq!(
        code(&wrong),
        "account_step_up_code_invalid",
        "{}",
        wrong.text
    );
    let right = w.post_as(confirm, &other, &[("code", &right_code)]).await;
    assert_eq!(right.status, 200, "{}", right.text);
    let reused = w.post_as(confirm, &other, &[("code", &right_code)]).await;
    assert_eq!(
        code(&reused),
        "account_step_up_code_used",
        "{}",
        reused.text
    );
    let paid = w.post_as(&authorize(&intent), &other, &[]).await;
    assert_eq!(paid.json()["status"], "succeeded", "{}", paid.text);
    assert_eq!(held(&w, c).await, 700);

    // Stored only as a digest; an expired code is refused.
    let stored = super::query_texts(&w.db, "SELECT body FROM account_tokens")
        .await
        .join("\n");
    assert!(!stored.contains(&format!("\"{right_code}\"")) && stored.contains("code_hash"));
    let backdate = if w.db.url.starts_with("sqlite") {
        "UPDATE account_tokens SET body = json_set(body, '$.created', 1)"
    } else {
        "UPDATE account_tokens SET body = jsonb_set(body::jsonb, '{created}', '1')::text"
    };
    execute_sql(&w.db, backdate).await;
    let third = w.session_of(email, PASSWORD).await;
    let sent = w
        .post_as("/v1/accounts/step_up/email_code", &third, &[])
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    let late_code = emailed_code(&w, email, 3).await;
    expire_tokens(&w.db).await;
    let late = w.post_as(confirm, &third, &[("code", &late_code)]).await;
    assert_eq!(code(&late), "account_step_up_code_expired", "{}", late.text);

    // Every attempt is a credential event, with its outcome and address.
    let events = w
        .merchant
        .get(&format!("/v1/customers/{c}/account_events?limit=100"))
        .await
        .json();
    let step_ups: Vec<&Value> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "step_up")
        .collect();
    let outcomes = |reason: &str| step_ups.iter().filter(|e| e["reason"] == reason).count();
    assert_eq!(outcomes("password_incorrect"), 1);
    assert_eq!(outcomes("code_incorrect"), 1);
    assert_eq!(outcomes("code_spent"), 2, "reused and expired");
    assert_eq!(
        step_ups
            .iter()
            .filter(|e| e["outcome"] == "success")
            .count(),
        2
    );
    assert!(step_ups.iter().all(|e| e["ip"].is_string()));

    let verified = cli(&w.db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

/// The hosted page's form `id`: its action and fields as posted.
fn form_of(
    page: &super::pages::Page,
    id: &str,
    extra: &[(&str, &str)],
) -> (String, Vec<(String, String)>) {
    let at = page
        .text
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no form {id}: {}", page.text));
    let start = page.text[..at].rfind("<form").unwrap();
    let end = at + page.text[at..].find("</form>").unwrap();
    let form = &page.text[start..end];
    let action = super::pages::attribute_at(form, form.find("action=\"").unwrap() + 8);
    let mut fields = vec![];
    for hidden in form.split("<input type=\"hidden\" name=\"").skip(1) {
        let (name, rest) = hidden.split_once('"').unwrap();
        let value = rest
            .split("value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        fields.push((name.to_owned(), value.to_owned()));
    }
    fields.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    (action, fields)
}

/// The hosted page's password form posted for `intent` with `password`.
async fn with_password(
    browser: &mut Browser,
    intent: &Value,
    password: &str,
) -> super::pages::Page {
    submit(
        browser,
        &page_of(intent),
        "pay-password",
        &[("password", password)],
    )
    .await
}

async fn wrong_password(browser: &mut Browser, intent: &Value) -> super::pages::Page {
    with_password(browser, intent, "not the password 1").await
}

/// Opens the hosted page at `page_path` and posts its form `form` with
/// `extra` fields.
pub(super) async fn submit(
    browser: &mut Browser,
    page_path: &str,
    form: &str,
    extra: &[(&str, &str)],
) -> super::pages::Page {
    let page = browser.get(page_path).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let (action, fields) = form_of(&page, form, extra);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post(&action, &fields).await
}

fn page_of(intent: &Value) -> String {
    format!(
        "/account/step_up?payment_intent={}",
        intent["id"].as_str().unwrap()
    )
}

fn returned(location: &str, intent: &Value, status: &str) {
    let secret = intent["client_secret"].as_str().unwrap();
    let id = intent["id"].as_str().unwrap();
    assert_eq!(
        location,
        format!("{RETURN_URL}?payment_intent={id}&payment_intent_client_secret={secret}&redirect_status={status}")
    );
}

async fn hosted_page_pays_fails_and_cancels(backend: Backend) {
    let w = world(
        backend,
        &[("PORTCULLIS_ACCOUNTS_BALANCE_STEP_UP_ABOVE", ABOVE)],
    )
    .await;
    let email = "ana@example.com";
    let (customer, session) = w.funded_holder(email, 1, "2000").await;
    let c = customer.as_str();
    let mut browser = Browser::new(&w, "en-GB,en;q=0.8");

    // Signed out: sign in, and come back to the page.
    let intent = pay(&w, c, "800", Some(RETURN_URL)).await;
    let page = browser.get(&page_of(&intent)).await;
    assert_eq!(page.status, 401, "{}", page.text);
    let login = super::step_up_page::href_of(&page.text, "to-login");
    assert!(
        login.contains("return_to=%2Faccount%2Fstep_up%3Fpayment_intent%3Dpi_"),
        "{login}"
    );
    let signed = browser
        .fill(&login, &[("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(signed.status, 303, "{}", signed.text);
    assert_eq!(signed.location(), page_of(&intent));
    // A foreign return_to is not followed after sign-in.
    let foreign = browser
        .get(&format!(
            "/account/login?merchant={}&mode=test&return_to=https%3A%2F%2Fevil.example%2F",
            w.merchant_id
        ))
        .await;
    assert!(!foreign.text.contains("evil.example"), "{}", foreign.text);

    // What is paid, in English and in Chinese.
    let page = browser.get(&page_of(&intent)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    for shown in [
        "Shop",
        "$8.00",
        "Tea set",
        "id=\"pay-password\"",
        "id=\"pay-code\"",
        "id=\"cancel\"",
    ] {
        assert!(page.text.contains(shown), "{shown}: {}", page.text);
    }
    assert!(
        !page.text.contains("id=\"step-up\""),
        "no passkey, no passkey form"
    );
    let zh = browser
        .get(&format!("{}&locale=zh-CN", page_of(&intent)))
        .await;
    assert!(zh.text.contains("<html lang=\"zh-CN\">") && zh.text.contains("确认付款"));
    assert!(zh.text.contains("US$8.00"), "{}", zh.text);
    // Back to English (the choice is remembered).
    browser
        .get(&format!("{}&locale=en", page_of(&intent)))
        .await;

    // The password pays at once and returns as Stripe does.
    let paid = with_password(&mut browser, &intent, PASSWORD).await;
    assert_eq!(paid.status, 303, "{}", paid.text);
    returned(paid.location(), &intent, "succeeded");
    assert_eq!(
        intent_of(&w, intent["id"].as_str().unwrap()).await["status"],
        "succeeded"
    );
    assert_eq!(held(&w, c).await, 1200);
    let done = browser.get(&page_of(&intent)).await;
    assert!(
        done.text.contains("This payment is done.") && !done.text.contains("id=\"pay-password\""),
        "{}",
        done.text
    );

    // Three wrong passwords fail it, the balance unchanged.
    let intent = pay(&w, c, "900", Some(RETURN_URL)).await;
    for _ in 0..2 {
        let wrong = wrong_password(&mut browser, &intent).await;
        assert_eq!(wrong.status, 400, "{}", wrong.text);
        assert!(
            wrong.text.contains("aria-invalid=\"true\""),
            "{}",
            wrong.text
        );
    }
    let third = wrong_password(&mut browser, &intent).await;
    assert_eq!(third.status, 303, "{}", third.text);
    returned(third.location(), &intent, "failed");
    assert_failed(&intent_of(&w, intent["id"].as_str().unwrap()).await);
    assert_eq!(held(&w, c).await, 1200);

    // "Cancel payment": failed; with no return_url, the page tells it.
    let intent = pay(&w, c, "700", None).await;
    let canceled = submit(&mut browser, &page_of(&intent), "pay-cancel", &[]).await;
    assert_eq!(canceled.status, 303, "{}", canceled.text);
    assert!(
        canceled.location().starts_with(&page_of(&intent)),
        "{}",
        canceled.location()
    );
    let told = browser.get(canceled.location()).await;
    assert!(
        told.text.contains("This payment was not made"),
        "{}",
        told.text
    );
    assert_failed(&intent_of(&w, intent["id"].as_str().unwrap()).await);
    assert_eq!(held(&w, c).await, 1200);

    // The form token is needed.
    let intent = pay(&w, c, "600", Some(RETURN_URL)).await;
    let (action, _) = form_of(&browser.get(&page_of(&intent)).await, "pay-password", &[]);
    let forged = browser
        .post(
            &action,
            &[
                ("csrf_token", "forged"),
                ("payment_intent", intent["id"].as_str().unwrap()),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.text);

    // Someone else's intent: not shown, not paid.
    w.registered("kai@example.com", 1).await;
    let stranger = w.session_of("kai@example.com", PASSWORD).await;
    let mut other = Browser::new(&w, "en");
    other
        .cookies
        .insert("portcullis_account_session".into(), stranger);
    let hidden = other.get(&page_of(&intent)).await;
    assert_eq!(hidden.status, 404, "{}", hidden.text);
    assert!(!hidden.text.contains("$6.00"));
    let _ = session;
    assert_eq!(
        intent_of(&w, intent["id"].as_str().unwrap()).await["status"],
        "requires_action"
    );

    // The count is per intent: wrong passwords for one payment waiting do
    // not fail another waiting at the same time.
    let first = pay(&w, c, "650", Some(RETURN_URL)).await;
    let second = pay(&w, c, "660", Some(RETURN_URL)).await;
    for waiting in [&first, &first, &second, &second] {
        let wrong = wrong_password(&mut browser, &waiting).await;
        assert_eq!(wrong.status, 400, "{}", wrong.text);
    }
    for waiting in [&first, &second] {
        let now = intent_of(&w, waiting["id"].as_str().unwrap()).await;
        assert_eq!(now["status"], "requires_action", "{now}");
        assert!(now.get("step_up_failures").is_none(), "not rendered: {now}");
    }
    let third = wrong_password(&mut browser, &first).await;
    assert_eq!(third.status, 303, "{}", third.text);
    returned(third.location(), &first, "failed");
    assert_failed(&intent_of(&w, first["id"].as_str().unwrap()).await);
    let paid = with_password(&mut browser, &second, PASSWORD).await;
    assert_eq!(paid.status, 303, "{}", paid.text);
    returned(paid.location(), &second, "succeeded");
    assert_eq!(held(&w, c).await, 540);

    let verified = cli(&w.db, &["ledger", "verify"]);
    assert!(verified.contains("ledger verified"), "{verified}");
}

crate::on_both_backends!(
    api_step_up_by_password_and_emailed_code,
    hosted_page_pays_fails_and_cancels,
);
