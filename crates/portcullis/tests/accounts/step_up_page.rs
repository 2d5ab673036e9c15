//! The hosted step-up page (`/account/step_up`), on both backends, driven
//! as its script would (the form token, the JSON challenge, the assertion
//! of 1Password's software authenticator): a foreign `return_to` is
//! refused, a password change that needs a step-up links to the page, and
//! after the step-up the change passes; in English and Chinese.

use super::pages::{attribute_at, Browser};
use super::passkeys::{Device, ORIGIN};
use super::{world, NEW_PASSWORD, PASSWORD};
use crate::support::Backend;

/// The href of the link `id` on `html`.
pub(super) fn href_of(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} in {html}"));
    let start = html[..at].rfind("href=\"").unwrap() + "href=\"".len();
    attribute_at(html, start)
}

async fn step_up_page_refuses_foreign_return_and_lets_a_password_change_pass(backend: Backend) {
    let w = world(backend, &[]).await;
    let email = "sofia@example.com";
    w.registered(email, 1).await;
    let session = w.session_of(email, PASSWORD).await;
    let mut phone = Device::new(ORIGIN);
    let registered = w.register_passkey(&session, &mut phone).await;
    assert_eq!(registered.status, 200, "{}", registered.text);
    let mut browser = Browser::new(&w, "en-GB,en;q=0.8");
    browser
        .cookies
        .insert("portcullis_account_session".into(), session.clone());

    // Only our own origin: anything else is refused before anything runs.
    for foreign in [
        "https://evil.example/account",
        "%2F%2Fevil.example%2F",
        "https%3A%2F%2Fpay.shop.example.evil.example%2F",
        "javascript%3Aalert(1)",
    ] {
        let page = browser
            .get(&format!("/account/step_up?return_to={foreign}"))
            .await;
        assert_eq!(page.status, 400, "{foreign}: {}", page.text);
        assert!(page.text.contains("only return you to this site"));
        assert!(!page.text.contains("evil.example"), "{}", page.text);
    }

    // The password change asks for a step-up and links to the page.
    let fields = [
        ("current_password", PASSWORD),
        ("new_password", NEW_PASSWORD),
    ];
    let asked = browser.fill("/account/password", &fields).await;
    assert_eq!(asked.status, 403, "{}", asked.text);
    let link = href_of(&asked.text, "to-step-up");
    assert!(link.starts_with("/account/step_up?"), "{link}");
    let page = browser.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("id=\"step-up\""));
    assert!(page.text.contains("src=\"/account/assets/account.js\""));
    assert!(!page.text.contains("<script>"), "no inline script");
    let back = page.input("return_to");
    assert_eq!(back, "/account/password?locale=en");
    let csrf = page.input("csrf_token");

    // The script's calls: a forged form token is refused as JSON.
    let (status, forged) = browser
        .post_json("/account/step_up/challenge", &[("csrf_token", "forged")])
        .await;
    assert_eq!(status, 403);
    assert_eq!(forged["error"]["code"], "form_expired");
    let (status, challenge) = browser
        .post_json("/account/step_up/challenge", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, 200, "{challenge}");
    let credential = phone.get(&challenge["options"]).await;
    let confirm = |return_to: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("challenge", challenge["id"].as_str().unwrap().to_owned()),
            ("credential", credential.clone()),
            ("return_to", return_to.to_owned()),
        ]
    };
    let foreign = confirm("https://evil.example/");
    let foreign: Vec<(&str, &str)> = foreign.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = browser.post_json("/account/step_up", &foreign).await;
    assert_eq!(status, 400, "a foreign return_to is refused");
    let honest = confirm("https://pay.shop.example/account/password?locale=en");
    let honest: Vec<(&str, &str)> = honest.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, done) = browser.post_json("/account/step_up", &honest).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["return_to"], "/account/password?locale=en");
    // Spent: the same answer again is refused, in the page's words.
    let (status, again) = browser.post_json("/account/step_up", &honest).await;
    assert_eq!(status, 400, "{again}");

    let changed = browser.fill(&back, &fields).await;
    assert_eq!(changed.status, 303, "{}", changed.text);
    assert_eq!(w.me(&session).await.status, 200, "this session goes on");

    // In Chinese, and never without a session.
    let zh = browser.get("/account/step_up?locale=zh-CN").await;
    assert_eq!(zh.status, 200, "{}", zh.text);
    assert!(zh.text.contains("<html lang=\"zh-CN\">"));
    assert!(zh.text.contains("使用通行密钥确认"));
    assert_eq!(zh.input("return_to"), "/account");
    browser.cookies.remove("portcullis_account_session");
    let ended = browser.get("/account/step_up").await;
    assert_eq!(ended.status, 401, "{}", ended.text);
}

crate::on_both_backends!(step_up_page_refuses_foreign_return_and_lets_a_password_change_pass,);
