//! The hosted account pages driven as a browser would (cookies kept, no
//! script, redirects looked at), on both backends: the emailed links land
//! on working pages, every form needs this browser's form token, the
//! session cookie's attributes, the pages speak the browser's language and
//! switch, a password change ends the other sessions, a revoked or signed
//! out session ends the page session.

use super::{token_in, world, World, NEW_PASSWORD, PASSWORD};
use crate::support::Backend;
use std::collections::BTreeMap;

pub(super) struct Browser {
    http: reqwest::Client,
    base: String,
    pub(super) cookies: BTreeMap<String, String>,
    accept_language: &'static str,
}

pub(super) struct Page {
    pub(super) status: u16,
    pub(super) headers: reqwest::header::HeaderMap,
    pub(super) text: String,
}

impl Page {
    pub(super) fn location(&self) -> &str {
        self.headers["location"].to_str().unwrap()
    }

    /// The value of the first input named `name`.
    pub(super) fn input(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .text
            .find(&marker)
            .unwrap_or_else(|| panic!("no input {name} in {}", self.text))
            + marker.len();
        self.text[start..].split('"').next().unwrap().to_owned()
    }

    fn set_cookie(&self, name: &str) -> String {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no Set-Cookie {name}: {:?}", self.headers))
    }
}

impl Browser {
    pub(super) fn new(w: &World, accept_language: &'static str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: w.app.base_url.clone(),
            cookies: BTreeMap::new(),
            accept_language,
        }
    }

    async fn send(&mut self, builder: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let response = builder
            .header("cookie", cookie.join("; "))
            .header("accept-language", self.accept_language)
            .header("user-agent", "pages-test")
            .send()
            .await
            .unwrap();
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    /// `path` may be a full emailed link: its origin is the public URL.
    fn url(&self, path: &str) -> String {
        let path = path.trim_start_matches("https://pay.shop.example");
        format!("{}{path}", self.base)
    }

    pub(super) async fn get(&mut self, path: &str) -> Page {
        let builder = self.http.get(self.url(path));
        self.send(builder).await
    }

    pub(super) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let builder = self.http.post(self.url(path)).form(form);
        self.send(builder).await
    }

    /// A post of the pages' script: its status and JSON answer.
    pub(super) async fn post_json(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let page = self.post(path, form).await;
        let body = serde_json::from_str(&page.text).unwrap_or(serde_json::Value::Null);
        (page.status, body)
    }

    /// Opens the form page at `path` and sends it with `fields`, the form
    /// token and the page's hidden inputs (`token`).
    pub(super) async fn fill(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        let action = action_of(&page.text);
        let csrf = page.input("csrf_token");
        let mut form: Vec<(&str, String)> = vec![("csrf_token", csrf)];
        if page.text.contains("name=\"token\"") {
            form.push(("token", page.input("token")));
        }
        form.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post(&action, &form).await
    }
}

fn action_of(html: &str) -> String {
    let marker = "<form method=\"post\" action=\"";
    let start = html.find(marker).expect("a form") + marker.len();
    attribute_at(html, start)
}

/// The attribute value starting at `start` of `html`, unescaped.
pub(super) fn attribute_at(html: &str, start: usize) -> String {
    html[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

fn link_in(message: &serde_json::Value, page: &str) -> String {
    format!("/account/{page}?token={}", token_in(message, page))
}

async fn register_activate_sign_in_and_change_password(backend: Backend) {
    let w = world(backend, &[]).await;
    let realm = format!("merchant={}&mode=test", w.merchant_id);
    let email = "page@example.com";
    let mut browser = Browser::new(&w, "en-GB,en;q=0.8");

    // The register page: English from the browser, the policy that allows
    // no inline script, a form token bound to a Strict cookie.
    let page = browser.get(&format!("/account/register?{realm}")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("<html lang=\"en\">"));
    assert!(page.text.contains("<label for=\"email\">"));
    assert!(page.text.contains("src=\"/account/assets/account.js\""));
    assert!(!page.text.contains("<script>"), "no inline script");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let csrf_cookie = page.set_cookie("portcullis_account_csrf");
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"));

    // A form without this browser's token is refused, and nothing happens.
    let forged = browser
        .post(
            &format!("/account/register?{realm}"),
            &[
                ("email", email),
                ("password", PASSWORD),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert_eq!(w.sink.count_for(email), 0);

    // A weak password: the error is announced, the email kept.
    let weak = browser
        .fill(
            &format!("/account/register?{realm}"),
            &[("email", email), ("password", "short")],
        )
        .await;
    assert_eq!(weak.status, 400, "{}", weak.text);
    assert!(weak.text.contains("role=\"alert\""), "{}", weak.text);
    assert!(weak.text.contains("aria-invalid=\"true\""));
    assert!(weak.text.contains(&format!("value=\"{email}\"")));

    let registered = browser
        .fill(
            &format!("/account/register?{realm}"),
            &[("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(registered.status, 200, "{}", registered.text);
    assert!(
        registered.text.contains("Check your email"),
        "{}",
        registered.text
    );

    // The emailed link lands on a page; opening it (a mail scanner would)
    // spends nothing, the button does, once.
    let message = w.sink.wait_for(email, 1).await;
    let activate = link_in(&message, "activate");
    assert_eq!(browser.get(&activate).await.status, 200);
    let activated = browser.fill(&activate, &[]).await;
    assert_eq!(activated.status, 200, "{}", activated.text);
    assert!(
        activated.text.contains("Your account is active"),
        "{}",
        activated.text
    );
    let again = browser.fill(&activate, &[]).await;
    assert_eq!(again.status, 400);
    assert!(again.text.contains("used already"), "{}", again.text);
    let unknown = browser.get("/account/activate?token=cat_nothing").await;
    assert_eq!(unknown.status, 400);

    // Registering the address again tells its owner, with a link to the
    // reset page of this merchant that works.
    browser
        .fill(
            &format!("/account/register?{realm}"),
            &[("email", email), ("password", PASSWORD)],
        )
        .await;
    let notice = w.sink.wait_for(email, 2).await;
    let body = notice["body"].as_str().unwrap();
    let start = body
        .find("https://pay.shop.example/account/password_reset?")
        .expect("a reset link");
    let reset_link = body[start..].split_whitespace().next().unwrap().to_owned();
    assert!(reset_link.contains(&realm), "{reset_link}");
    let reset_page = browser.get(&reset_link).await;
    assert_eq!(reset_page.status, 200, "{}", reset_page.text);

    // Sign in: a wrong password is refused; the right one sets the session
    // cookie (HttpOnly, Lax, the pages' path) and goes to the account.
    let login = format!("/account/login?{realm}");
    let wrong = browser
        .fill(
            &login,
            &[("email", email), ("password", "not the password")],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.text.contains("incorrect"), "{}", wrong.text);
    let signed_in = browser
        .fill(&login, &[("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text);
    assert_eq!(signed_in.location(), "/account");
    let cookie = signed_in.set_cookie("portcullis_account_session");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/account"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");
    let home = browser.get("/account").await;
    assert_eq!(home.status, 200, "{}", home.text);
    assert!(home.text.contains(email));
    assert!(
        home.text.contains("pages-test"),
        "the session's device is listed"
    );

    // Another device (the app) signs in; the page's password change ends it.
    let app_session = w.session_of(email, PASSWORD).await;
    assert_eq!(w.me(&app_session).await.status, 200);
    let wrong_current = browser
        .fill(
            "/account/password",
            &[
                ("current_password", "nope nope nope"),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong_current.status, 400);
    // Another site's form (no token of this browser) changes nothing.
    let forged = browser
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    assert_eq!(w.me(&app_session).await.status, 200, "nothing changed");
    let changed = browser
        .fill(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.text);
    assert_eq!(
        w.me(&app_session).await.status,
        401,
        "the other session ended"
    );
    let home = browser.get(&changed.location().to_owned()).await;
    assert!(
        home.text.contains("Every other session is signed out"),
        "{}",
        home.text
    );

    // Revoke a session from the list, then sign out.
    let other = w.session_of(email, NEW_PASSWORD).await;
    let home = browser.get("/account").await;
    let other_id = w.me(&other).await;
    assert_eq!(other_id.status, 200);
    let sessions = w
        .as_session(reqwest::Method::GET, "/v1/accounts/sessions", &other, &[])
        .await
        .json();
    let other_id = sessions["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(home.text.contains(&other_id));
    let csrf = home.input("csrf_token");
    let revoked = browser
        .post(
            &format!("/account/sessions/{other_id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.text);
    assert_eq!(w.me(&other).await.status, 401);
    let out = browser
        .post("/account/logout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert!(!browser.cookies.contains_key("portcullis_account_session"));
    let gone = browser.get("/account").await;
    assert_eq!(gone.status, 401);
}

async fn chinese_pages_reset_email_change_and_close(backend: Backend) {
    let w = world(backend, &[]).await;
    let realm = format!("merchant={}&mode=test", w.merchant_id);
    let email = "li@example.com";
    let mut browser = Browser::new(&w, "zh-CN,zh;q=0.9,en;q=0.5");

    // Chinese from the browser; the switcher changes it and remembers it.
    let page = browser.get(&format!("/account/register?{realm}")).await;
    assert!(page.text.contains("<html lang=\"zh-CN\">"), "{}", page.text);
    assert!(page.text.contains("创建账户"));
    let english = browser
        .get(&format!("/account/register?{realm}&locale=en"))
        .await;
    assert!(english.text.contains("<html lang=\"en\">"));
    assert!(english
        .set_cookie("portcullis_locale")
        .contains("Path=/account"));
    assert!(browser
        .get(&format!("/account/login?{realm}"))
        .await
        .text
        .contains("lang=\"en\""));
    let page = browser
        .get(&format!("/account/register?{realm}&locale=zh-CN"))
        .await;
    assert!(page.text.contains("lang=\"zh-CN\""));

    let registered = browser
        .fill(
            &format!("/account/register?{realm}"),
            &[("email", email), ("password", PASSWORD)],
        )
        .await;
    assert!(
        registered.text.contains("请查收邮件"),
        "{}",
        registered.text
    );
    let message = w.sink.wait_for(email, 1).await;
    assert_eq!(
        message["subject"], "激活您的账户",
        "the email speaks the page's language"
    );
    let activated = browser.fill(&link_in(&message, "activate"), &[]).await;
    assert!(
        activated.text.contains("您的账户已激活"),
        "{}",
        activated.text
    );

    // A wrong password, in Chinese.
    let login = format!("/account/login?{realm}");
    let wrong = browser
        .fill(
            &login,
            &[("email", email), ("password", "not the password")],
        )
        .await;
    assert!(
        wrong.text.contains("电子邮箱或密码不正确"),
        "{}",
        wrong.text
    );

    // Reset by the emailed link: every session ends, the new password works.
    let reset = browser
        .fill(
            &format!("/account/password_reset?{realm}"),
            &[("email", email)],
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    let message = w.sink.wait_for(email, 2).await;
    let done = browser
        .fill(
            &link_in(&message, "reset"),
            &[("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains("新密码已设置"), "{}", done.text);
    let signed_in = browser
        .fill(&login, &[("email", email), ("password", NEW_PASSWORD)])
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text);

    // Email change: a link to the new address, confirmed on its page.
    let new_email = "li.new@example.com";
    let asked = browser
        .fill(
            "/account/email",
            &[("new_email", new_email), ("current_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(asked.status, 303, "{}", asked.text);
    let message = w.sink.wait_for(new_email, 1).await;
    let confirmed = browser.fill(&link_in(&message, "email/confirm"), &[]).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    assert!(browser.get("/account").await.text.contains(new_email));

    // Closing the account ends the page session.
    let closed = browser
        .fill("/account/deactivate", &[("current_password", NEW_PASSWORD)])
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    assert!(closed.text.contains("您的账户已注销"), "{}", closed.text);
    assert_eq!(browser.get("/account").await.status, 401);
    assert_eq!(w.login(new_email, NEW_PASSWORD).await.status, 400);
}

async fn pages_without_a_merchant_say_so(backend: Backend) {
    let w = world(backend, &[]).await;
    let mut browser = Browser::new(&w, "en");
    let page = browser.get("/account/login").await;
    assert_eq!(page.status, 404);
    assert!(page.text.contains("open it from the shop"), "{}", page.text);
    let page = browser
        .get("/account/login?merchant=acct_unknown&mode=test")
        .await;
    assert_eq!(page.status, 404);
    let page = browser.get("/account/password").await;
    assert_eq!(page.status, 401, "no session: sign in again");
    let script = browser.get("/account/assets/account.js").await;
    assert_eq!(script.status, 200);
    assert!(script.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
}

async fn an_invitation_lands_on_its_page(backend: Backend) {
    let w = world(backend, &[]).await;
    let email = "invited@example.com";
    let customer = w.merchant.post("/v1/customers", &[("email", email)]).await;
    assert_eq!(customer.status, 200, "{}", customer.text);
    let id = customer.json()["id"].as_str().unwrap().to_owned();
    let invited = w
        .merchant
        .post(
            &format!("/v1/customers/{id}/account_invitations"),
            &[("locale", "zh-CN")],
        )
        .await;
    assert_eq!(invited.status, 200, "{}", invited.text);
    let message = w.sink.wait_for(email, 1).await;
    let mut browser = Browser::new(&w, "en");
    let link = link_in(&message, "invitation");
    let weak = browser.fill(&link, &[("password", "password")]).await;
    assert_eq!(weak.status, 400, "{}", weak.text);
    let accepted = browser.fill(&link, &[("password", PASSWORD)]).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert!(
        accepted.text.contains("Your account is active"),
        "{}",
        accepted.text
    );
    assert_eq!(w.login(email, PASSWORD).await.status, 200);
}

crate::on_both_backends!(
    an_invitation_lands_on_its_page,
    register_activate_sign_in_and_change_password,
    chinese_pages_reset_email_change_and_close,
    pages_without_a_merchant_say_so,
);
