//! The account pages' passkey controls (`/account`, `/account/login`),
//! on both backends, driven as their script would with 1Password's
//! software authenticator: add a passkey (a forged form token refused),
//! sign in with it (an unknown merchant refused), delete it (a session
//! signed in by password needs a step-up first; one signed in by the
//! passkey does not).

use super::pages::Browser;
use super::passkeys::{Device, ORIGIN};
use super::{world, PASSWORD};
use crate::support::Backend;

/// The sign-in page's passkey ceremony: a challenge for the `realm`
/// fields, the authenticator's answer, posted with `extra`; the answer and
/// the form posted (to post it again).
async fn passkey_sign_in<'a>(
    browser: &mut Browser,
    phone: &mut Device,
    realm: &[(&'a str, &'a str)],
    extra: &[(&'a str, &'a str)],
) -> (u16, serde_json::Value, Vec<(String, String)>) {
    let (status, started) = browser
        .post_json("/account/passkeys/login/challenge", realm)
        .await;
    assert_eq!(status, 200, "{started}");
    let credential = phone.get(&started["options"]).await;
    let mut form: Vec<(String, String)> = realm
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    form.push((
        "challenge".into(),
        started["id"].as_str().unwrap().to_owned(),
    ));
    form.push(("credential".into(), credential));
    let posted: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, answer) = browser.post_json("/account/passkeys/login", &posted).await;
    (status, answer, form)
}

async fn add_sign_in_and_delete_a_passkey_on_the_pages(backend: Backend) {
    let w = world(backend, &[]).await;
    let email = "mei@example.com";
    w.registered(email, 1).await;
    let session = w.session_of(email, PASSWORD).await;
    let mut phone = Device::new(ORIGIN);
    let mut browser = Browser::new(&w, "en-GB,en;q=0.8");
    browser
        .cookies
        .insert("portcullis_account_session".into(), session.clone());

    // The account page: no passkey yet, and the form to add one.
    let home = browser.get("/account").await;
    assert_eq!(home.status, 200, "{}", home.text);
    assert!(home.text.contains("id=\"passkeys-none\""), "{}", home.text);
    assert!(home.text.contains("id=\"passkey-register\""));
    let csrf = home.input("csrf_token");
    let (status, forged) = browser
        .post_json("/account/passkeys/challenge", &[("csrf_token", "forged")])
        .await;
    assert_eq!(status, 403, "{forged}");
    assert_eq!(forged["error"]["code"], "form_expired");

    // Add it, named.
    let (status, started) = browser
        .post_json("/account/passkeys/challenge", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["purpose"], "registration");
    let credential = phone.create(&started["options"]).await;
    let challenge = started["id"].as_str().unwrap();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("challenge", challenge),
        ("credential", credential.as_str()),
        ("name", "Kitchen tablet"),
    ];
    let (status, added) = browser.post_json("/account/passkeys", &form).await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["return_to"], "/account?done=passkey_added");
    let home = browser.get("/account?done=passkey_added").await;
    assert!(
        home.text.contains("Your passkey is added."),
        "{}",
        home.text
    );
    assert!(home.text.contains("Kitchen tablet"));
    let at = home.text.find("data-passkey=\"cpk_").unwrap() + "data-passkey=\"".len();
    let passkey_id = home.text[at..].split('"').next().unwrap().to_owned();

    // Signed in by password: deleting needs a step-up, and says where.
    let delete_path = format!("/account/passkeys/{passkey_id}/delete");
    let asked = browser.post(&delete_path, &[("csrf_token", &csrf)]).await;
    assert_eq!(asked.status, 403, "{}", asked.text);
    assert!(asked.text.contains("id=\"to-step-up\""), "{}", asked.text);

    // Another browser signs in with the passkey alone.
    let mut other = Browser::new(&w, "zh-CN,zh;q=0.9");
    let merchant = w.merchant_id.as_str();
    let login = other
        .get(&format!("/account/login?merchant={merchant}&mode=test"))
        .await;
    assert!(login.text.contains("使用通行密钥登录"), "{}", login.text);
    let csrf = login.input("csrf_token");
    let start = |csrf: &str, merchant: &str| {
        [
            ("csrf_token", csrf.to_owned()),
            ("merchant", merchant.to_owned()),
            ("mode", "test".to_owned()),
        ]
    };
    let unknown = start(&csrf, "acct_0000000000000000000000");
    let unknown: Vec<(&str, &str)> = unknown.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = other
        .post_json("/account/passkeys/login/challenge", &unknown)
        .await;
    assert_eq!(status, 404, "an unknown merchant has no pages");
    let known = start(&csrf, merchant);
    let known: Vec<(&str, &str)> = known.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, signed_in, form) = passkey_sign_in(&mut other, &mut phone, &known, &[]).await;
    assert_eq!(status, 200, "{signed_in}");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(signed_in["return_to"], "/account");
    assert!(other.cookies.contains_key("portcullis_account_session"));
    let (status, again) = other.post_json("/account/passkeys/login", &form).await;
    assert_eq!(status, 400, "a spent challenge: {again}");
    assert_eq!(again["error"]["message"], "此通行密钥请求已失效，请重试。");

    // The sign-in page's `return_to` (a checkout page that sent the
    // customer) is followed when it is of this site, never elsewhere.
    for (asked, answered) in [
        (
            "/checkout/cs_test_x?locale=en",
            "/checkout/cs_test_x?locale=en",
        ),
        ("https://elsewhere.example/steal", "/account"),
        // Sent to sign in from the step-up page: back there.
        (
            "/account/step_up?payment_intent=pi_123",
            "/account/step_up?payment_intent=pi_123",
        ),
    ] {
        let extra = [("return_to", asked)];
        let (status, signed_in, _) = passkey_sign_in(&mut other, &mut phone, &known, &extra).await;
        assert_eq!(status, 200, "{signed_in}");
        assert_eq!(signed_in["return_to"], answered);
    }

    // A passkey sign-in counts as a step-up: this session may delete it.
    let home = other.get("/account").await;
    assert_eq!(home.status, 200, "{}", home.text);
    let csrf = home.input("csrf_token");
    let deleted = other.post(&delete_path, &[("csrf_token", &csrf)]).await;
    assert_eq!(deleted.status, 303, "{}", deleted.text);
    assert_eq!(deleted.location(), "/account?done=passkey_deleted");
    let home = other.get("/account").await;
    assert!(home.text.contains("id=\"passkeys-none\""), "{}", home.text);
}

crate::on_both_backends!(add_sign_in_and_delete_a_passkey_on_the_pages,);
