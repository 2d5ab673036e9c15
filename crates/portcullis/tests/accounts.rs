//! Customer accounts (`/v1/accounts/…`) through the real binary, on SQLite
//! and PostgreSQL, with the emails caught by an aiosmtpd sink
//! (`tests/accounts/smtp_sink.py`, decoded by Python's email package) and
//! their links followed: registration and activation, token reuse and
//! expiry, sign-in, sessions and their revocation, password change and
//! reset, email change, invitations, deactivation, lockout and recovery,
//! the per-IP throttle, and enumeration resistance (same answers, similar
//! timing). The Python used is `PORTCULLIS_TEST_SMTP_PYTHON` (a venv with
//! aiosmtpd, which `.ci/run` makes), else `python3`.

/// Step-up before large payments from the customer balance.
#[path = "accounts/balance_step_up.rs"]
mod balance_step_up;
/// What else asks for a balance step-up (risk rules, a new device), and
/// the worker failing intents left waiting.
#[path = "accounts/balance_step_up_triggers.rs"]
mod balance_step_up_triggers;
/// Checkout Sessions paid from the customer's balance.
#[path = "accounts/checkout_balance.rs"]
mod checkout_balance;
/// The hosted pages (`/account/…`) of the same flows.
#[path = "accounts/pages.rs"]
mod pages;
/// Passkey throttling, lockout and challenge expiry; the holder's payouts.
#[path = "accounts/passkey_hygiene.rs"]
mod passkey_hygiene;
/// The account pages' passkey controls, driven with a software authenticator.
#[path = "accounts/passkey_pages.rs"]
mod passkey_pages;
/// Passkeys and step-up, with a software authenticator.
#[path = "accounts/passkeys.rs"]
mod passkeys;
/// The hosted step-up page, driven with a software authenticator.
#[path = "accounts/step_up_page.rs"]
mod step_up_page;

#[path = "accounts/step_up_payment.rs"]
mod step_up_payment;
mod support;

use serde_json::Value;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{create_merchant, Answer, Api, Backend, TestDatabase, TestServer};

const PASSWORD: &str = "violet kettle drum 42";
const NEW_PASSWORD: &str = "amber lantern fjord 7";

/// aiosmtpd on a free loopback port, writing what it receives to a file.
struct SmtpSink {
    child: Child,
    port: u16,
    output: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("mail.jsonl");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let python =
            std::env::var("PORTCULLIS_TEST_SMTP_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/accounts/smtp_sink.py"
        );
        let mut child = Command::new(&python)
            .args([script, &port.to_string(), output.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("start {python} (needs aiosmtpd: pip install -r tests/accounts/requirements.txt): {err}"));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "aiosmtpd did not start (is it installed for {python}?)"
        );
        Self {
            child,
            port,
            output,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.output)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Waits (bounded) for the `nth` message (1-based) sent to `to`.
    async fn wait_for(&self, to: &str, nth: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found: Vec<Value> = self
                .messages()
                .into_iter()
                .filter(|m| m["rcpt_tos"].as_array().unwrap().iter().any(|r| r == to))
                .collect();
            if found.len() >= nth {
                return found[nth - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "no message {nth} for {to}: {:?}",
                self.messages()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn count_for(&self, to: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| m["rcpt_tos"].as_array().unwrap().iter().any(|r| r == to))
            .count()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The token in the link of a message, after checking the link's page.
fn token_in(message: &Value, page: &str) -> String {
    let body = message["body"].as_str().unwrap();
    let marker = format!("https://pay.shop.example/account/{page}?token=");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} in {body}"))
        + marker.len();
    body[start..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_owned()
}

struct World {
    db: TestDatabase,
    sink: SmtpSink,
    server: TestServer,
    app: Api,
    merchant: Api,
    merchant_id: String,
}

async fn world(backend: Backend, env: &[(&str, &str)]) -> World {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let sink = SmtpSink::start();
    let url = sink.url();
    let mut all_env = vec![
        ("PORTCULLIS_SMTP_URL", url.as_str()),
        ("PORTCULLIS_SMTP_FROM", "Shop <accounts@shop.example>"),
        ("PORTCULLIS_PUBLIC_URL", "https://pay.shop.example"),
    ];
    all_env.extend_from_slice(env);
    let server = TestServer::start_with_env(&db, &[], &all_env);
    let app = Api::new(&server, &merchant.publishable_key);
    let merchant_api = Api::new(&server, &merchant.secret_key);
    World {
        db,
        sink,
        server,
        app,
        merchant: merchant_api,
        merchant_id: merchant.id.clone(),
    }
}

impl World {
    async fn as_session(
        &self,
        method: reqwest::Method,
        path: &str,
        session: &str,
        form: &[(&str, &str)],
    ) -> Answer {
        let url = format!("{}{path}", self.app.base_url);
        self.app
            .send(
                self.app
                    .http
                    .request(method, url)
                    .header("Account-Session", session)
                    .form(form),
            )
            .await
    }

    async fn me(&self, session: &str) -> Answer {
        self.as_session(reqwest::Method::GET, "/v1/accounts/me", session, &[])
            .await
    }

    async fn login(&self, email: &str, password: &str) -> Answer {
        self.app
            .post(
                "/v1/accounts/login",
                &[("email", email), ("password", password)],
            )
            .await
    }

    /// Registers `email` and activates it through the emailed link.
    async fn registered(&self, email: &str, nth_message: usize) -> Value {
        let answer = self
            .app
            .post(
                "/v1/accounts/register",
                &[("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let message = self.sink.wait_for(email, nth_message).await;
        let token = token_in(&message, "activate");
        let activated = self
            .app
            .post("/v1/accounts/activate", &[("token", &token)])
            .await;
        assert_eq!(activated.status, 200, "{}", activated.text);
        activated.json()
    }

    async fn session_of(&self, email: &str, password: &str) -> String {
        let answer = self.login(email, password).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()["token"].as_str().unwrap().to_owned()
    }
}

fn code(answer: &Answer) -> String {
    answer.json()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn registration_activation_and_sessions(backend: Backend) {
    let w = world(backend, &[]).await;
    let email = "ana@example.com";
    let registered = w
        .app
        .post(
            "/v1/accounts/register",
            &[("email", email), ("password", PASSWORD), ("locale", "en")],
        )
        .await;
    assert_eq!(registered.status, 200, "{}", registered.text);
    assert_eq!(registered.json()["object"], "account_registration");

    // Not activated yet: the right password says so, a wrong one does not.
    assert_eq!(
        code(&w.login(email, PASSWORD).await),
        "account_not_activated"
    );
    assert_eq!(
        code(&w.login(email, "wrong password here").await),
        "account_credentials_invalid"
    );

    let message = w.sink.wait_for(email, 1).await;
    assert_eq!(message["subject"], "Activate your account");
    assert_eq!(message["from"], "Shop <accounts@shop.example>");
    let token = token_in(&message, "activate");
    let activated = w
        .app
        .post("/v1/accounts/activate", &[("token", &token)])
        .await;
    assert_eq!(activated.status, 200, "{}", activated.text);
    let account = activated.json();
    assert_eq!(account["object"], "customer_account");
    assert_eq!(account["status"], "active");
    let customer = account["customer"].as_str().unwrap();
    // The token is single-use; a made-up one is invalid.
    let again = w
        .app
        .post("/v1/accounts/activate", &[("token", &token)])
        .await;
    assert_eq!(
        (again.status, code(&again).as_str()),
        (400, "account_token_used")
    );
    let forged = w
        .app
        .post("/v1/accounts/activate", &[("token", "cat_notarealtoken")])
        .await;
    assert_eq!(code(&forged), "account_token_invalid");

    // The customer exists for the merchant, with the address.
    let fetched = w
        .merchant
        .get(&format!("/v1/customers/{customer}"))
        .await
        .json();
    assert_eq!(fetched["email"], email);

    // Two sessions; each sees both; the publishable key alone sees nothing.
    let first = w.session_of(email, PASSWORD).await;
    let second = w.session_of(email, PASSWORD).await;
    assert!(first.starts_with("cas_") && first != second);
    assert_eq!(w.me(&first).await.json()["id"], account["id"]);
    assert_eq!(w.app.get("/v1/accounts/me").await.status, 401);
    assert_eq!(w.me("cas_forged").await.status, 401);
    let sessions = w
        .as_session(reqwest::Method::GET, "/v1/accounts/sessions", &first, &[])
        .await
        .json();
    let data = sessions["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert!(data.iter().all(|s| s["token"].is_null()));
    let second_id = data.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Revoking the second session from the first ends it.
    let revoked = w
        .as_session(
            reqwest::Method::POST,
            &format!("/v1/accounts/sessions/{second_id}/revoke"),
            &first,
            &[],
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(w.me(&second).await.status, 401);

    // A password change needs the current password and ends other sessions.
    let third = w.session_of(email, PASSWORD).await;
    let refused = w
        .as_session(
            reqwest::Method::POST,
            "/v1/accounts/password",
            &first,
            &[
                ("current_password", "not my password"),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(code(&refused), "account_password_incorrect");
    let common = w
        .as_session(
            reqwest::Method::POST,
            "/v1/accounts/password",
            &first,
            &[
                ("current_password", PASSWORD),
                ("new_password", "qwerty123456"),
            ],
        )
        .await;
    assert_eq!(code(&common), "password_too_common");
    let changed = w
        .as_session(
            reqwest::Method::POST,
            "/v1/accounts/password",
            &first,
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(w.me(&third).await.status, 401, "other sessions end");
    assert_eq!(w.me(&first).await.status, 200, "the changing session stays");
    assert_eq!(
        code(&w.login(email, PASSWORD).await),
        "account_credentials_invalid"
    );
    w.session_of(email, NEW_PASSWORD).await;
    assert_eq!(
        w.sink.wait_for(email, 2).await["subject"],
        "Your password was changed"
    );

    // A session works only with its own merchant's key.
    let other = create_merchant(&w.db, "Other");
    let other_app = Api::new(&w.server, &other.publishable_key);
    let foreign = other_app
        .send(
            other_app
                .http
                .get(format!("{}/v1/accounts/me", other_app.base_url))
                .header("Account-Session", &first),
        )
        .await;
    assert_eq!(foreign.status, 401, "{}", foreign.text);
    assert_eq!(
        code(
            &other_app
                .post(
                    "/v1/accounts/login",
                    &[("email", email), ("password", NEW_PASSWORD)]
                )
                .await
        ),
        "account_credentials_invalid"
    );

    // Logout ends the session.
    assert_eq!(
        w.as_session(reqwest::Method::POST, "/v1/accounts/logout", &first, &[])
            .await
            .status,
        200
    );
    assert_eq!(w.me(&first).await.status, 401);

    // Nothing secret is stored: no password, no token.
    let dump = dump_bodies(&w.db).await;
    for secret in [PASSWORD, NEW_PASSWORD, &token, &first, &second] {
        assert!(!dump.contains(secret), "{secret} stored");
    }
    assert!(dump.contains("$argon2id$v=19$m=19456,t=2,p=1$"));

    // Every credential event was recorded, with outcome and origin.
    let events = w
        .merchant
        .get(&format!(
            "/v1/customers/{customer}/account_events?limit=100"
        ))
        .await
        .json();
    let events = events["data"].as_array().unwrap().clone();
    let seen = |action: &str, outcome: &str| {
        events
            .iter()
            .any(|e| e["action"] == action && e["outcome"] == outcome)
    };
    for (action, outcome) in [
        ("register", "success"),
        ("activate", "success"),
        ("login", "success"),
        ("login", "failure"),
        ("session_revoke", "success"),
        ("password_change", "failure"),
        ("password_change", "success"),
        ("logout", "success"),
    ] {
        assert!(
            seen(action, outcome),
            "{action}/{outcome} missing: {events:?}"
        );
    }
    assert!(events.iter().all(|e| e["ip"] == "127.0.0.1"));
    let _ = &w.server;
}

async fn reset_email_change_invitation_and_deactivation(backend: Backend) {
    let w = world(backend, &[]).await;
    let email = "bo@example.com";
    let account = w.registered(email, 1).await;
    let session = w.session_of(email, PASSWORD).await;

    // Reset by email ends every session and sets the new password.
    let asked = w
        .app
        .post("/v1/accounts/password_reset", &[("email", email)])
        .await;
    assert_eq!(asked.status, 200, "{}", asked.text);
    let token = token_in(&w.sink.wait_for(email, 2).await, "reset");
    let weak = w
        .app
        .post(
            "/v1/accounts/password_reset/confirm",
            &[("token", &token), ("new_password", "short")],
        )
        .await;
    assert_eq!(code(&weak), "password_too_short");
    let reset = w
        .app
        .post(
            "/v1/accounts/password_reset/confirm",
            &[("token", &token), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert_eq!(w.me(&session).await.status, 401);
    let reused = w
        .app
        .post(
            "/v1/accounts/password_reset/confirm",
            &[("token", &token), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(code(&reused), "account_token_used");
    let session = w.session_of(email, NEW_PASSWORD).await;

    // An email change is verified at the new address; the old one is told.
    let new_email = "bo.new@example.com";
    let asked = w
        .as_session(
            reqwest::Method::POST,
            "/v1/accounts/email",
            &session,
            &[("new_email", new_email), ("current_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(asked.status, 200, "{}", asked.text);
    let token = token_in(&w.sink.wait_for(new_email, 1).await, "email/confirm");
    let confirmed = w
        .app
        .post("/v1/accounts/email/confirm", &[("token", &token)])
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    assert_eq!(confirmed.json()["email"], new_email);
    let customer = account["customer"].as_str().unwrap();
    assert_eq!(
        w.merchant
            .get(&format!("/v1/customers/{customer}"))
            .await
            .json()["email"],
        new_email
    );
    assert_eq!(
        code(&w.login(email, NEW_PASSWORD).await),
        "account_credentials_invalid"
    );
    w.session_of(new_email, NEW_PASSWORD).await;

    // An expired token is refused: its expiry moved into the past in storage.
    w.app
        .post("/v1/accounts/password_reset", &[("email", new_email)])
        .await;
    let token = token_in(&w.sink.wait_for(new_email, 2).await, "reset");
    expire_tokens(&w.db).await;
    let expired = w
        .app
        .post(
            "/v1/accounts/password_reset/confirm",
            &[("token", &token), ("new_password", PASSWORD)],
        )
        .await;
    assert_eq!(code(&expired), "account_token_expired");

    // Deactivation ends every session and frees the address.
    let closed = w
        .as_session(
            reqwest::Method::POST,
            "/v1/accounts/deactivate",
            &session,
            &[("current_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    assert_eq!(closed.json()["status"], "deactivated");
    assert_eq!(w.me(&session).await.status, 401);
    assert_eq!(
        code(&w.login(new_email, NEW_PASSWORD).await),
        "account_credentials_invalid"
    );

    // The freed address can register again.
    let again = w
        .app
        .post(
            "/v1/accounts/register",
            &[("email", new_email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        w.sink.wait_for(new_email, 3).await["subject"],
        "Activate your account"
    );

    // The merchant invites a customer; the link sets the first password.
    let created = w
        .merchant
        .post("/v1/customers", &[("email", "cy@example.com")])
        .await
        .json();
    let customer = created["id"].as_str().unwrap();
    let by_app = w
        .app
        .post(
            &format!("/v1/customers/{customer}/account_invitations"),
            &[],
        )
        .await;
    assert_eq!(by_app.status, 403, "a publishable key cannot invite");
    let invited = w
        .merchant
        .post(
            &format!("/v1/customers/{customer}/account_invitations"),
            &[("locale", "zh-CN")],
        )
        .await;
    assert_eq!(invited.status, 200, "{}", invited.text);
    assert_eq!(invited.json()["object"], "account_invitation");
    let message = w.sink.wait_for("cy@example.com", 1).await;
    assert_eq!(message["subject"], "邀请您创建账户");
    assert!(message["body"].as_str().unwrap().contains("24 小时"));
    let token = token_in(&message, "invitation");
    let accepted = w
        .app
        .post(
            "/v1/accounts/invitations/accept",
            &[("token", &token), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.json()["locale"], "zh-CN");
    w.session_of("cy@example.com", PASSWORD).await;
    let twice = w
        .merchant
        .post(
            &format!("/v1/customers/{customer}/account_invitations"),
            &[],
        )
        .await;
    assert_eq!(code(&twice), "account_exists");
}

async fn lockout_and_enumeration_resistance(backend: Backend) {
    let w = world(backend, &[]).await;
    let email = "dee@example.com";
    w.registered(email, 1).await;

    // Registering a taken address answers as for a new one; its owner is told.
    let taken = w
        .app
        .post(
            "/v1/accounts/register",
            &[("email", email), ("password", NEW_PASSWORD)],
        )
        .await;
    let fresh = w
        .app
        .post(
            "/v1/accounts/register",
            &[("email", "fresh@example.com"), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(taken.status, fresh.status);
    assert_eq!(
        taken.text.replace(email, "X"),
        fresh.text.replace("fresh@example.com", "X")
    );
    assert_eq!(
        w.sink.wait_for(email, 2).await["subject"],
        "Someone tried to register with your email address"
    );

    // A password reset answers alike too.
    let reset_known = w
        .app
        .post("/v1/accounts/password_reset", &[("email", email)])
        .await;
    let reset_unknown = w
        .app
        .post(
            "/v1/accounts/password_reset",
            &[("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(
        reset_known.text.replace(email, "X"),
        reset_unknown.text.replace("nobody@example.com", "X")
    );
    let reset_token = token_in(&w.sink.wait_for(email, 3).await, "reset");

    // Wrong password and unknown address: the same answer, similar time.
    let mut known_ms = vec![];
    let mut unknown_ms = vec![];
    for round in 0..9 {
        let started = Instant::now();
        let known = w.login(email, "wrong password here").await;
        known_ms.push(started.elapsed().as_millis());
        let started = Instant::now();
        let unknown = w.login("ghost@example.com", "wrong password here").await;
        unknown_ms.push(started.elapsed().as_millis());
        assert_eq!(known.status, 400);
        assert_eq!(known.text, unknown.text, "round {round}");
    }
    known_ms.sort_unstable();
    unknown_ms.sort_unstable();
    let (known_median, unknown_median) = (known_ms[4] as f64, unknown_ms[4] as f64);
    assert!(
        known_median < unknown_median * 2.0 && unknown_median < known_median * 2.0,
        "median sign-in times differ: known {known_median} ms, unknown {unknown_median} ms"
    );

    // The tenth failure locks: even the right password is refused, and the
    // unknown address answers the same.
    let known = w.login(email, "wrong password here").await;
    assert_eq!(code(&known), "account_credentials_invalid");
    let unknown = w.login("ghost@example.com", "wrong password here").await;
    assert_eq!(known.text, unknown.text);
    let locked = w.login(email, PASSWORD).await;
    assert_eq!(
        (locked.status, code(&locked).as_str()),
        (400, "account_locked")
    );
    let ghost = w.login("ghost@example.com", PASSWORD).await;
    assert_eq!(locked.text, ghost.text);

    // Recovery: the emailed reset link sets a new password and lifts the lock.
    let reset = w
        .app
        .post(
            "/v1/accounts/password_reset/confirm",
            &[("token", &reset_token), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    w.session_of(email, NEW_PASSWORD).await;
    assert!(w.sink.count_for("ghost@example.com") == 0);
}

async fn failures_from_one_address_are_throttled(backend: Backend) {
    let w = world(
        backend,
        &[("PORTCULLIS_ACCOUNTS_IP_FAILURES_PER_HOUR_MAX", "3")],
    )
    .await;
    for n in 0..3 {
        let answer = w
            .login(&format!("n{n}@example.com"), "wrong password here")
            .await;
        assert_eq!(code(&answer), "account_credentials_invalid");
    }
    let throttled = w.login("n9@example.com", "wrong password here").await;
    assert_eq!(throttled.status, 429, "{}", throttled.text);
    assert!(throttled.headers.get("retry-after").is_some());
}

async fn sessions_expire_after_their_lifetime(backend: Backend) {
    let w = world(backend, &[("PORTCULLIS_ACCOUNTS_SESSION_TTL_S", "2")]).await;
    let email = "eve@example.com";
    w.registered(email, 1).await;
    let session = w.session_of(email, PASSWORD).await;
    assert_eq!(w.me(&session).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(3_100)).await;
    assert_eq!(
        w.me(&session).await.status,
        401,
        "an expired session is refused"
    );
    let listed = w.session_of(email, PASSWORD).await;
    let sessions = w
        .as_session(reqwest::Method::GET, "/v1/accounts/sessions", &listed, &[])
        .await
        .json();
    assert_eq!(
        sessions["data"].as_array().unwrap().len(),
        1,
        "expired sessions are not listed"
    );
}

/// Every stored body of the account tables, as the database holds it.
async fn dump_bodies(db: &TestDatabase) -> String {
    let sql = "SELECT body FROM customer_accounts UNION ALL SELECT body FROM account_sessions \
               UNION ALL SELECT body FROM account_tokens UNION ALL SELECT body FROM account_events \
               UNION ALL SELECT body FROM customers";
    query_texts(db, sql).await.join("\n")
}

async fn expire_tokens(db: &TestDatabase) {
    // Replaces `"expires_at":N` by a time in the past in every token.
    let sqlite = "UPDATE account_tokens SET body = json_set(body, '$.expires_at', 1)";
    let postgres =
        "UPDATE account_tokens SET body = jsonb_set(body::jsonb, '{expires_at}', '1')::text";
    let sql = if db.url.starts_with("sqlite") {
        sqlite
    } else {
        postgres
    };
    execute_sql(db, sql).await;
}

/// Runs one statement on the test's database.
async fn execute_sql(db: &TestDatabase, sql: &str) {
    if db.url.starts_with("sqlite") {
        let conn = rusqlite::Connection::open(db.url.trim_start_matches("sqlite://")).unwrap();
        conn.execute(sql, []).unwrap();
    } else {
        let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.execute(sql, &[]).await.unwrap();
    }
}

async fn query_texts(db: &TestDatabase, sql: &str) -> Vec<String> {
    if db.url.starts_with("sqlite") {
        let conn = rusqlite::Connection::open(db.url.trim_start_matches("sqlite://")).unwrap();
        let mut statement = conn.prepare(sql).unwrap();
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .unwrap();
        rows.map(Result::unwrap).collect()
    } else {
        let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let rows = client.query(sql, &[]).await.unwrap();
        rows.iter().map(|row| row.get::<_, String>(0)).collect()
    }
}

on_both_backends!(
    registration_activation_and_sessions,
    reset_email_change_invitation_and_deactivation,
    lockout_and_enumeration_resistance,
    failures_from_one_address_are_throttled,
    sessions_expire_after_their_lifetime,
);
