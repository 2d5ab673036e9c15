//! The merchant dashboard (`/dashboard`) through the real binary, on SQLite
//! and PostgreSQL: `portcullis user create` and its one-time activation
//! link, the password policy, sign-in and the lockout, the session cookie's
//! attributes, CSRF on every form, roles (an analyst may look, not
//! refund), payments with filters, a refund that the API then shows and
//! that is recorded with the user, sign-out, both languages, the charts.

mod support;

use serde_json::Value;
use support::dashboard::{
    activate, count, create_user, csrf, pay, python_totp, python_totp_at, token_of, Browser,
    PASSWORD,
};
use support::{cli, create_merchant, Api, Backend, TestDatabase, TestServer};

async fn users_activate_sign_in_and_lock(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Dashboard");
    let server = TestServer::start_with_env(
        &db,
        &[],
        &[("PORTCULLIS_ACCOUNTS_LOCKOUT_FAILURES_MAX", "3")],
    );
    let user = create_user(&db, &merchant.id, "Owner@Example.com", "owner");
    assert_eq!(user["role"], "owner");
    assert!(user["id"].as_str().unwrap().starts_with("dusr_"));
    let token = token_of(&user);

    // A form post without a session is refused (401), not redirected to
    // sign-in as if it had been taken; a page still sends the browser there.
    let mut stranger = Browser::new(&server);
    for path in [
        "/dashboard/payments/pi_none/refund",
        "/dashboard/api_keys",
        "/dashboard/logout",
    ] {
        let refused = stranger.post(path, &[("csrf_token", "x")]).await;
        assert_eq!(refused.status, 401, "{path}: {}", refused.body);
        assert!(refused.location.is_none(), "{path}");
    }
    let page = stranger.get("/dashboard/payments").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some("/dashboard/login"));

    // The address is taken across merchants; a made-up role is refused.
    let other = create_merchant(&db, "Other");
    let taken = std::process::Command::new(support::binary())
        .args([
            "user",
            "create",
            "--merchant",
            &other.id,
            "--email",
            "owner@example.com",
            "--role",
            "analyst",
        ])
        .args([
            "--database-url",
            &db.url,
            "--data-dir",
            db.data_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("exists already"));

    // Activation: the form needs the pre-session cookie's CSRF token and a
    // password the policy accepts.
    let mut browser = Browser::new(&server);
    let page = browser
        .get(&format!("/dashboard/activate?token={token}"))
        .await;
    assert_eq!(page.status, 200);
    let csrf_token = csrf(&page);
    let forged = browser
        .post(
            "/dashboard/activate",
            &[
                ("token", &token),
                ("password", PASSWORD),
                ("csrf_token", "0"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    let weak = browser
        .post(
            "/dashboard/activate",
            &[
                ("token", &token),
                ("password", "password123"),
                ("csrf_token", &csrf_token),
            ],
        )
        .await;
    assert_eq!(weak.status, 400, "{}", weak.body);
    let done = browser
        .post(
            "/dashboard/activate",
            &[
                ("token", &token),
                ("password", PASSWORD),
                ("csrf_token", &csrf_token),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location.as_deref(), Some("/dashboard/payments"));
    let session = done
        .set_cookies
        .iter()
        .find(|c| c.starts_with("portcullis_dashboard="))
        .unwrap();
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Strict")
            && session.contains("Path=/dashboard"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "no TLS here: {session}");
    let payments = browser.get("/dashboard/payments").await;
    assert_eq!(payments.status, 200);
    assert!(
        payments.body.contains("owner@example.com (owner)")
            || payments.body.contains("Owner@Example.com (owner)")
    );

    // The link works once.
    let again = Browser::new(&server)
        .get(&format!("/dashboard/activate?token={token}"))
        .await;
    assert_eq!(again.status, 400);

    // Sign-out ends the session (the old cookie no longer works).
    let old_cookies = browser.cookies.clone();
    let page = browser.get("/dashboard/payments").await;
    let out = browser
        .post("/dashboard/logout", &[("csrf_token", &csrf(&page))])
        .await;
    assert_eq!(out.status, 303);
    browser.cookies = old_cookies;
    let after = browser.get("/dashboard/payments").await;
    assert_eq!(
        (after.status, after.location.as_deref()),
        (303, Some("/dashboard/login"))
    );

    // Sign-in: the same answer for a wrong password and an unknown address;
    // three failures lock the user, even against the right password.
    let mut fresh = Browser::new(&server);
    let login = fresh.get("/dashboard/login").await;
    let csrf_token = csrf(&login);
    let unknown = fresh
        .post(
            "/dashboard/login",
            &[
                ("email", "nobody@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &csrf_token),
            ],
        )
        .await;
    assert_eq!(unknown.status, 401);
    let ok = fresh
        .post(
            "/dashboard/login",
            &[
                ("email", "OWNER@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &csrf_token),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let mut attacker = Browser::new(&server);
    let login = attacker.get("/dashboard/login").await;
    let csrf_token = csrf(&login);
    for _ in 0..3 {
        let wrong = attacker
            .post(
                "/dashboard/login",
                &[
                    ("email", "owner@example.com"),
                    ("password", "not the password"),
                    ("csrf_token", &csrf_token),
                ],
            )
            .await;
        assert_eq!(wrong.status, 401);
    }
    let locked = attacker
        .post(
            "/dashboard/login",
            &[
                ("email", "owner@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &csrf_token),
            ],
        )
        .await;
    assert_eq!(locked.status, 401);
    assert!(locked.body.contains("locked"), "{}", locked.body);
    // Without the pre-session cookie's token, sign-in is refused.
    let mut no_cookie = Browser::new(&server);
    let forged = no_cookie
        .post(
            "/dashboard/login",
            &[
                ("email", "owner@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &csrf_token),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);

    // Two-step sign-in: on once a code from the shown secret checks; then
    // the password alone no longer signs in.
    let second = create_user(&db, &merchant.id, "second@example.com", "developer");
    let mut owner = activate(&server, &second).await;
    let security = owner.get("/dashboard/security").await;
    let at = security.body.find("<code id=\"totp-secret\">").unwrap() + 23;
    let secret = security.body[at..].split('<').next().unwrap().to_owned();
    assert_eq!(secret.len(), 32, "{secret}");
    let form = |code: String| {
        vec![
            ("csrf_token".to_owned(), csrf(&security)),
            ("secret".to_owned(), secret.clone()),
            ("code".to_owned(), code),
        ]
    };
    let wrong = owner
        .http
        .post(format!("{}/dashboard/security/totp", owner.base))
        .form(&form("000000".into()));
    assert_eq!(owner.send(wrong).await.status, 400);
    let right = owner
        .http
        .post(format!("{}/dashboard/security/totp", owner.base))
        .form(&form(python_totp_at(&secret, -30))); // the step before now's

    assert_eq!(owner.send(right).await.status, 303);
    assert!(owner
        .get("/dashboard/security")
        .await
        .body
        .contains("Two-step sign-in is on"));
    let mut again = Browser::new(&server);
    let login = again.get("/dashboard/login").await;
    let csrf_token = csrf(&login);
    let no_code = again
        .post(
            "/dashboard/login",
            &[
                ("email", "second@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &csrf_token),
            ],
        )
        .await;
    assert_eq!(no_code.status, 401);
    let code = python_totp(&secret);
    let with_code = again
        .post(
            "/dashboard/login",
            &[
                ("email", "second@example.com"),
                ("password", PASSWORD),
                ("code", &code),
                ("csrf_token", &csrf_token),
            ],
        )
        .await;
    assert_eq!(with_code.status, 303, "{}", with_code.body);
    // A code is taken once, even inside its 30-second window; so is one of
    // a step before the last taken (the code that turned the factor on).
    for (code, what) in [
        (code, "the same code"),
        (python_totp_at(&secret, -30), "an older one"),
    ] {
        let mut replay = Browser::new(&server);
        let login = replay.get("/dashboard/login").await;
        let replayed = replay
            .post(
                "/dashboard/login",
                &[
                    ("email", "second@example.com"),
                    ("password", PASSWORD),
                    ("code", &code),
                    ("csrf_token", &csrf(&login)),
                ],
            )
            .await;
        assert_eq!(replayed.status, 401, "{what}: {}", replayed.body);
    }

    // The TOTP secret is wrapped by the vault's key: counted by status and
    // retire-key, re-wrapped by rotate-key while the server runs.
    let before = cli(&db, &["vault", "status"]);
    let old_kek = before
        .lines()
        .find(|l| l.contains("(active)"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert!(before.contains("\t1 dashboard users"), "{before}");
    let refused = std::process::Command::new(support::binary())
        .args(["vault", "retire-key", &old_kek, "--database-url", &db.url])
        .args(["--data-dir", db.data_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "retired a key a TOTP secret uses"
    );
    let rotated = cli(&db, &["vault", "rotate-key"]);
    assert!(
        rotated.contains("1 dashboard users' TOTP secrets"),
        "{rotated}"
    );
    let after = cli(&db, &["vault", "status"]);
    assert!(
        after
            .lines()
            .any(|l| l.starts_with(&old_kek) && l.ends_with("\t0 dashboard users")),
        "{after}"
    );
    cli(&db, &["vault", "retire-key", &old_kek]);
    let mut rotated_in = Browser::new(&server);
    let login = rotated_in.get("/dashboard/login").await;
    let signed = rotated_in
        .post(
            "/dashboard/login",
            &[
                ("email", "second@example.com"),
                ("password", PASSWORD),
                ("code", &python_totp_at(&secret, 30)), // the next step's
                ("csrf_token", &csrf(&login)),
            ],
        )
        .await;
    assert_eq!(
        signed.status, 303,
        "the re-wrapped secret opens: {}",
        signed.body
    );
}

async fn payments_refunds_roles_and_charts(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Dashboard");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let teapot = pay(&api, "2599", "Blue teapot").await;
    let kettle = pay(&api, "120000", "Copper kettle").await;
    let mut owner = activate(
        &server,
        &create_user(&db, &merchant.id, "owner@example.com", "owner"),
    )
    .await;

    // The list, and its filters.
    let all = owner.get("/dashboard/payments").await;
    assert!(all.body.contains(&teapot) && all.body.contains(&kettle));
    assert!(all.body.contains("$25.99") && all.body.contains("$1,200.00"));
    let big = owner
        .get("/dashboard/payments?amount_min=100000&status=succeeded&method=card")
        .await;
    assert!(
        big.body.contains(&kettle) && !big.body.contains(&teapot),
        "{}",
        big.body
    );
    let text = owner.get("/dashboard/payments?q=teapot").await;
    assert!(text.body.contains(&teapot) && !text.body.contains(&kettle));
    let none = owner.get("/dashboard/payments?status=canceled").await;
    assert!(!none.body.contains(&teapot));
    let by_id = owner.get(&format!("/dashboard/payments?q={teapot}")).await;
    assert_eq!(
        by_id.location.as_deref(),
        Some(format!("/dashboard/payments/{teapot}").as_str())
    );
    let bad = owner
        .get("/dashboard/payments?created_from=yesterday")
        .await;
    assert_eq!(bad.status, 400);

    // The timeline: attempts, the risk decision, the charge, the ledger.
    let page = owner.get(&format!("/dashboard/payments/{teapot}")).await;
    assert_eq!(page.status, 200);
    for part in [
        "attempt.authorize",
        "risk.",
        "charge.succeeded",
        "txn_",
        "ltx_",
        "risk_level",
    ] {
        assert!(page.body.contains(part), "{part} missing from the timeline");
    }

    // A refund needs this session's CSRF token.
    let path = format!("/dashboard/payments/{teapot}/refund");
    let forged = owner
        .post(&path, &[("csrf_token", "forged"), ("amount", "500")])
        .await;
    assert_eq!(forged.status, 403);
    let refunded = owner
        .post(
            &path,
            &[
                ("csrf_token", &csrf(&page)),
                ("amount", "500"),
                ("reason", "requested_by_customer"),
            ],
        )
        .await;
    assert_eq!(refunded.status, 303, "{}", refunded.body);
    let refunds = api
        .get(&format!("/v1/refunds?payment_intent={teapot}"))
        .await
        .json();
    assert_eq!(refunds["data"].as_array().unwrap().len(), 1);
    assert_eq!(refunds["data"][0]["amount"], 500);
    let events = api.get("/v1/events?type=charge.refunded").await.json();
    assert_eq!(
        events["data"].as_array().unwrap().len(),
        1,
        "the API's own event"
    );
    let page = owner
        .get(&format!("/dashboard/payments/{teapot}?done=refund"))
        .await;
    assert!(page.body.contains("Refunded.") && page.body.contains("refund.succeeded"));
    assert!(
        page.body.contains("owner@example.com re_"),
        "recorded with the user"
    );
    // Too much is the API's own error, shown on a page.
    let too_much = owner
        .post(&path, &[("csrf_token", &csrf(&page)), ("amount", "999999")])
        .await;
    assert_eq!(too_much.status, 400, "{}", too_much.body);

    // Empty fields, as a browser sends them: the rest is refunded.
    let page = owner.get(&format!("/dashboard/payments/{teapot}")).await;
    let rest = owner
        .post(
            &path,
            &[("csrf_token", &csrf(&page)), ("amount", ""), ("reason", "")],
        )
        .await;
    assert_eq!(rest.status, 303, "{}", rest.body);
    let intent = api
        .get(&format!(
            "/v1/payment_intents/{teapot}?expand[]=latest_charge"
        ))
        .await
        .json();
    assert_eq!(intent["latest_charge"]["amount_refunded"], 2599);

    // Customers, balances and payouts, risk rules and lists.
    api.post(
        "/v1/customers",
        &[("email", "jenny@example.com"), ("name", "Jenny Rosen")],
    )
    .await;
    let rule = api
        .post(
            "/v1/risk/rules",
            &[("rule", "review if :amount_in_usd: > 900")],
        )
        .await;
    assert_eq!(rule.status, 200, "{}", rule.text);
    let customers = owner.get("/dashboard/customers").await;
    assert!(customers.body.contains("jenny@example.com") && customers.body.contains("Jenny Rosen"));
    let balances = owner.get("/dashboard/balances").await;
    assert_eq!(balances.status, 200);
    assert!(
        balances.body.contains("pending") && balances.body.contains("$"),
        "{}",
        balances.body
    );
    let risk = owner.get("/dashboard/risk").await;
    assert!(
        risk.body.contains("review if :amount_in_usd: &#62; 900"),
        "{}",
        risk.body
    );

    // API keys: a new key is shown once and works; revoked, it stops.
    let keys = owner.get("/dashboard/api_keys").await;
    assert!(keys.body.contains("sk_test_") && !keys.body.contains(&merchant.secret_key));
    let made = owner
        .post(
            "/dashboard/api_keys",
            &[
                ("csrf_token", &csrf(&keys)),
                ("kind", "secret"),
                ("mode", "test"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let at = made.body.find("<code id=\"new-key\">").unwrap() + 19;
    let new_key = made.body[at..].split('<').next().unwrap().to_owned();
    assert!(new_key.starts_with("sk_test_"), "{new_key}");
    let with_new = Api::new(&server, &new_key);
    assert_eq!(with_new.get("/v1/customers").await.status, 200);
    // The new key's id: the one listed now that was not listed before.
    let ids = |body: &str| -> Vec<String> {
        body.split("/dashboard/api_keys/")
            .skip(1)
            .map(|rest| rest.split('/').next().unwrap().to_owned())
            .collect()
    };
    let before = ids(&keys.body);
    let key_id = ids(&made.body)
        .into_iter()
        .find(|id| !before.contains(id))
        .expect("the new key is listed");
    let listing = owner.get("/dashboard/api_keys").await;
    let revoked = owner
        .post(
            &format!("/dashboard/api_keys/{key_id}/revoke"),
            &[("csrf_token", &csrf(&listing))],
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while with_new.get("/v1/customers").await.status != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked key still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }

    // An analyst sees payments but may not refund, and has no webhooks page.
    let mut analyst = activate(
        &server,
        &create_user(&db, &merchant.id, "analyst@example.com", "analyst"),
    )
    .await;
    let page = analyst.get(&format!("/dashboard/payments/{kettle}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("/refund\""));
    let refused = analyst
        .post(
            &format!("/dashboard/payments/{kettle}/refund"),
            &[("csrf_token", &csrf(&page))],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(analyst.get("/dashboard/webhooks").await.status, 403);
    assert_eq!(analyst.get("/dashboard/api_keys").await.status, 403);

    // Both languages, switched with `?locale=` as on the other hosted pages.
    let zh = owner.get("/dashboard/payments?locale=zh-CN").await;
    assert_eq!(zh.status, 200);
    assert!(zh.body.contains("<html lang=\"zh-CN\">") && zh.body.contains("付款"));
    assert!(zh
        .set_cookies
        .iter()
        .any(|c| c.starts_with("portcullis_locale=zh-CN")));
    assert!(
        zh.body.contains("/dashboard/payments?locale=en\""),
        "the switch links use ?locale="
    );
    let remembered = owner.get("/dashboard/reviews").await;
    assert!(remembered.body.contains("待处理的审核"));
    // `?lang=` still works (links already given out), and `?locale=` wins.
    let alias = owner.get("/dashboard/reviews?lang=en").await;
    assert!(alias.body.contains("<html lang=\"en\">"));
    let both = owner.get("/dashboard/reviews?locale=zh-CN&lang=en").await;
    assert!(both.body.contains("<html lang=\"zh-CN\">"));

    // Every chart is an SVG drawn on the server.
    let charts = owner.get("/dashboard/charts?lang=en").await;
    assert_eq!(charts.status, 200);
    for id in [
        "chart-volume",
        "chart-auth-rate",
        "chart-declines",
        "chart-blocked",
        "chart-latency",
        "chart-backlog",
    ] {
        assert!(
            charts.body.contains(&format!("<svg id=\"{id}\"")),
            "{id} missing"
        );
    }
    assert!(charts.body.contains("Holt-Winters"));
    assert!(!charts.body.contains("<script>"), "no inline script");
}

/// The amount, method and text filters are applied by the query: a match
/// older than the newest hundred payments is still found.
async fn filters_reach_past_the_newest_payments(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Dashboard");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let teapot = pay(&api, "2599", "Blue Teapot").await;
    for i in 0..110 {
        pay(&api, "100", &format!("Filler {i}")).await;
    }
    let mut owner = activate(
        &server,
        &create_user(&db, &merchant.id, "owner@example.com", "owner"),
    )
    .await;
    for query in [
        "q=teapot",
        "q=TEAPOT",
        "amount_min=2000",
        "amount_min=2599&amount_max=2599&method=card",
        "amount_min=500&status=succeeded&q=blue",
    ] {
        let page = owner.get(&format!("/dashboard/payments?{query}")).await;
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        assert!(page.body.contains(&teapot), "{query} finds the old payment");
        assert!(!page.body.contains("Filler"), "{query} shows only matches");
    }
    let wallets = owner.get("/dashboard/payments?method=alipay").await;
    assert!(!wallets.body.contains(&teapot) && !wallets.body.contains("Filler"));
    let cheap = owner.get("/dashboard/payments?amount_max=100").await;
    assert!(!cheap.body.contains(&teapot) && cheap.body.contains("Filler 109"));
    assert!(
        cheap.body.contains("starting_after="),
        "more than a page of matches"
    );
    for bad in ["method=bitcoin", "amount_min=-5", "amount_max=12.50"] {
        let page = owner.get(&format!("/dashboard/payments?{bad}")).await;
        assert_eq!(page.status, 400, "{bad}");
    }
}

/// The test/live switch shows live objects to the roles the matrix
/// allows (every role, developers included), and records the switch.
async fn live_mode_is_viewable_by_the_roles_allowed(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Dashboard");
    let server = TestServer::start(&db);
    let test_api = Api::new(&server, &merchant.secret_key);
    let live_key: Value = serde_json::from_str(&cli(
        &db,
        &[
            "key",
            "create",
            "--merchant",
            &merchant.id,
            "--kind",
            "secret",
            "--mode",
            "live",
            "--json",
        ],
    ))
    .unwrap();
    let live_api = Api::new(&server, live_key["key"].as_str().unwrap());
    for (api, email) in [
        (&test_api, "tina@test.example"),
        (&live_api, "larry@live.example"),
    ] {
        let made = api.post("/v1/customers", &[("email", email)]).await;
        assert_eq!(made.status, 200, "{}", made.text);
    }
    let mut owner = activate(
        &server,
        &create_user(&db, &merchant.id, "owner@example.com", "owner"),
    )
    .await;
    let test_page = owner.get("/dashboard/customers").await;
    assert!(test_page.body.contains("tina@test.example"));
    assert!(!test_page.body.contains("larry@live.example"));
    assert!(test_page.body.contains("Test mode") && test_page.body.contains("View live data"));

    let bad = owner
        .post(
            "/dashboard/mode",
            &[("csrf_token", &csrf(&test_page)), ("mode", "prod")],
        )
        .await;
    assert_eq!(bad.status, 400);
    let forged = owner
        .post(
            "/dashboard/mode",
            &[("csrf_token", "forged"), ("mode", "live")],
        )
        .await;
    assert_eq!(forged.status, 403);
    let switched = owner
        .post(
            "/dashboard/mode",
            &[("csrf_token", &csrf(&test_page)), ("mode", "live")],
        )
        .await;
    assert_eq!(switched.status, 303, "{}", switched.body);
    assert!(switched
        .set_cookies
        .iter()
        .any(|c| c.starts_with("portcullis_dashboard_mode=live") && c.contains("HttpOnly")));
    let live_page = owner.get("/dashboard/customers?locale=zh-CN").await;
    assert!(live_page.body.contains("larry@live.example"));
    assert!(!live_page.body.contains("tina@test.example"));
    assert!(live_page.body.contains("正式模式") && live_page.body.contains("查看测试数据"));
    let recorded = "SELECT COUNT(*) FROM dashboard_events WHERE action = 'view_live' \
                    AND dashboard_user IS NOT NULL";
    assert_eq!(
        count(&db, recorded).await,
        1,
        "switching to live is recorded"
    );
    let back = owner
        .post(
            "/dashboard/mode",
            &[("csrf_token", &csrf(&live_page)), ("mode", "test")],
        )
        .await;
    assert_eq!(back.status, 303);
    assert!(owner
        .get("/dashboard/customers")
        .await
        .body
        .contains("tina@test.example"));

    // A developer sees live data too (as Stripe's Developer role does),
    // with the same permissions: the switch, live objects, no refunds.
    let mut developer = activate(
        &server,
        &create_user(&db, &merchant.id, "dev@example.com", "developer"),
    )
    .await;
    let page = developer.get("/dashboard/customers").await;
    assert!(page.body.contains("/dashboard/mode"));
    let switched = developer
        .post(
            "/dashboard/mode",
            &[("csrf_token", &csrf(&page)), ("mode", "live")],
        )
        .await;
    assert_eq!(switched.status, 303, "{}", switched.body);
    let live = developer.get("/dashboard/customers").await;
    assert!(live.body.contains("larry@live.example"));
    assert!(!live.body.contains("tina@test.example"));
    assert_eq!(count(&db, recorded).await, 2, "the developer's switch too");
    let refund = developer
        .post(
            "/dashboard/payments/pi_none/refund",
            &[("csrf_token", &csrf(&live))],
        )
        .await;
    assert_eq!(refund.status, 403, "live mode gives no new action");
}

async fn a_resend_commits_with_its_record(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Dashboard");
    let allow_local = ("PORTCULLIS_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true");
    let server = TestServer::start_with_env(&db, &[], &[allow_local]);
    let api = Api::new(&server, &merchant.secret_key);
    let endpoint = api
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", "http://127.0.0.1:9/hook"),
                ("enabled_events[]", "payment_intent.succeeded"),
            ],
        )
        .await;
    assert_eq!(endpoint.status, 200, "{}", endpoint.text);
    pay(&api, "2599", "Blue teapot").await;
    let events = api
        .get("/v1/events?type=payment_intent.succeeded")
        .await
        .json();
    let event = events["data"][0]["id"].as_str().unwrap().to_owned();
    let mut owner = activate(
        &server,
        &create_user(&db, &merchant.id, "owner@example.com", "owner"),
    )
    .await;
    let page = owner.get("/dashboard/webhooks").await;
    let resent = owner
        .post(
            &format!("/dashboard/events/{event}/resend"),
            &[("csrf_token", &csrf(&page))],
        )
        .await;
    assert_eq!(resent.status, 303, "{}", resent.body);
    let recorded = format!(
        "SELECT COUNT(*) FROM dashboard_events WHERE action = 'webhook_resend' \
         AND object = '{event}' AND dashboard_user IS NOT NULL"
    );
    assert_eq!(count(&db, &recorded).await, 1, "the resend is recorded");
    let due = format!("SELECT COUNT(*) FROM webhook_deliveries WHERE event_id = '{event}'");
    assert_eq!(count(&db, &due).await, 1, "the endpoint's one delivery");

    // An event the merchant does not have: refused, and nothing recorded.
    let missing = owner
        .post(
            "/dashboard/events/evt_doesnotexist/resend",
            &[("csrf_token", &csrf(&page))],
        )
        .await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    let any = "SELECT COUNT(*) FROM dashboard_events WHERE action = 'webhook_resend'";
    assert_eq!(count(&db, any).await, 1);
}

on_both_backends!(
    users_activate_sign_in_and_lock,
    payments_refunds_roles_and_charts,
    filters_reach_past_the_newest_payments,
    live_mode_is_viewable_by_the_roles_allowed,
    a_resend_commits_with_its_record
);
