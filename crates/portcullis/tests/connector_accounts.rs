//! `/v1/connector_accounts` through the real binary, on SQLite and
//! PostgreSQL: credentials checked per type and never answered or stored
//! in the clear, notify URLs, endpoints refused on private addresses
//! unless allowed, test/live separation, updates that merge credentials,
//! deletion that erases them, and vault key rotation that re-wraps them.

mod support;

use serde_json::Value;
use support::{cli, create_merchant, Api, Backend, TestDatabase, TestServer};

const APP_PRIVATE: &str = include_str!("../../wallets/tests/fixtures/app_private_pkcs8.pem");
const APP_PRIVATE_PKCS1: &str = include_str!("../../wallets/tests/fixtures/app_private_pkcs1.pem");
const OTHER_PRIVATE: &str = include_str!("../../wallets/tests/fixtures/other_private_pkcs8.pem");
const PLATFORM_PUBLIC: &str = include_str!("../../wallets/tests/fixtures/other_public.pem");
const SHORT_PRIVATE: &str = include_str!("../../wallets/tests/fixtures/short_1024.pem");
const ALLOW_PRIVATE: (&str, &str) = ("PORTCULLIS_CONNECTORS_ALLOW_PRIVATE_ENDPOINTS", "true");
const PUBLIC_URL: (&str, &str) = ("PORTCULLIS_PUBLIC_URL", "https://pay.shop.example");
const V3_KEY: &str = "0123456789abcdef0123456789ABCDEF";

fn alipay_form<'a>(endpoint: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("type", "alipay"),
        ("credentials[app_id]", "2021000000000001"),
        ("credentials[private_key]", APP_PRIVATE),
        ("credentials[alipay_public_key]", PLATFORM_PUBLIC),
        ("metadata[shop]", "north"),
    ];
    if let Some(endpoint) = endpoint {
        form.push(("endpoint", endpoint));
    }
    form
}

fn wechat_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("type", "wechat_pay"),
        ("credentials[mchid]", "1900009191"),
        ("credentials[appid]", "wxd678efh567hg6787"),
        ("credentials[private_key]", APP_PRIVATE_PKCS1),
        (
            "credentials[certificate_serial]",
            "5157F09EFDC096DE15EBE81A47057A72",
        ),
        ("credentials[api_v3_key]", V3_KEY),
        ("credentials[platform_public_key]", PLATFORM_PUBLIC),
        (
            "credentials[platform_serial]",
            "PUB_KEY_ID_0114232134912410000",
        ),
    ]
}

/// Every stored body of `connector_accounts`, as the database holds it.
async fn stored_bodies(db: &TestDatabase) -> Vec<String> {
    if db.url.starts_with("sqlite") {
        let path = db.url.trim_start_matches("sqlite://");
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut statement = conn.prepare("SELECT body FROM connector_accounts").unwrap();
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .unwrap();
        rows.map(Result::unwrap).collect()
    } else {
        let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let rows = client
            .query("SELECT body FROM connector_accounts", &[])
            .await
            .unwrap();
        rows.iter().map(|row| row.get::<_, String>(0)).collect()
    }
}

async fn accounts_are_created_with_sealed_credentials(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start_with_env(&db, &[], &[PUBLIC_URL]);
    let api = Api::new(&server, &merchant.secret_key);

    let created = api.post("/v1/connector_accounts", &alipay_form(None)).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let account = created.json();
    let id = account["id"].as_str().unwrap();
    assert!(id.starts_with("ca_"), "{id}");
    assert_eq!(account["object"], "connector_account");
    assert_eq!(account["type"], "alipay");
    assert_eq!(account["livemode"], false);
    assert_eq!(account["endpoint"], "https://openapi.alipay.com");
    assert_eq!(
        account["notify_url"],
        format!("https://pay.shop.example/notify/alipay/{id}")
    );
    assert_eq!(account["metadata"]["shop"], "north");
    assert_eq!(
        account["credentials"],
        serde_json::json!({
            "app_id": "2021000000000001",
            "private_key": "set",
            "alipay_public_key": "set",
        })
    );

    let wechat = api.post("/v1/connector_accounts", &wechat_form()).await;
    assert_eq!(wechat.status, 200, "{}", wechat.text);
    let wechat = wechat.json();
    let wechat_id = wechat["id"].as_str().unwrap();
    assert_eq!(wechat["endpoint"], "https://api.mch.weixin.qq.com");
    assert_eq!(
        wechat["notify_url"],
        format!("https://pay.shop.example/notify/wechat_pay/{wechat_id}")
    );
    assert_eq!(wechat["credentials"]["api_v3_key"], "set");
    assert_eq!(wechat["credentials"]["api_v2_key"], Value::Null);
    assert_eq!(wechat["credentials"]["mchid"], "1900009191");

    // Retrieve and list answer the same; no key text anywhere.
    let fetched = api.get(&format!("/v1/connector_accounts/{id}")).await;
    assert_eq!(fetched.json(), account);
    let listed = api.get("/v1/connector_accounts").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    let only_wechat = api
        .get("/v1/connector_accounts?type=wechat_pay")
        .await
        .json();
    assert_eq!(only_wechat["data"][0]["id"], wechat_id);
    assert_eq!(only_wechat["data"].as_array().unwrap().len(), 1);
    for text in [&created.text, &fetched.text, &listed.to_string()] {
        assert!(!text.contains("PRIVATE KEY") && !text.contains("PUBLIC KEY"));
        assert!(!text.contains(V3_KEY));
    }
    // Nor in the database: the secrets are sealed by the vault.
    let bodies = stored_bodies(&db).await;
    assert_eq!(bodies.len(), 2);
    let key_line = APP_PRIVATE.lines().nth(1).unwrap();
    for body in &bodies {
        assert!(
            !body.contains(key_line) && !body.contains("PRIVATE KEY"),
            "{body}"
        );
        assert!(!body.contains(V3_KEY), "{body}");
        assert!(body.contains("\"wrapped_dek\""), "{body}");
    }

    // A live key sees none of the test accounts, and creates live ones.
    let live_key: Value = serde_json::from_str(
        cli(
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
        )
        .trim(),
    )
    .unwrap();
    let live = Api::new(&server, live_key["key"].as_str().unwrap());
    assert_eq!(
        live.get(&format!("/v1/connector_accounts/{id}"))
            .await
            .status,
        404
    );
    let live_list = live.get("/v1/connector_accounts").await.json();
    assert!(live_list["data"].as_array().unwrap().is_empty());
    let live_account = live
        .post("/v1/connector_accounts", &alipay_form(None))
        .await;
    assert_eq!(
        live_account.json()["livemode"],
        true,
        "{}",
        live_account.text
    );
    // A publishable key may not read them.
    let publishable = Api::new(&server, &merchant.publishable_key);
    assert_eq!(publishable.get("/v1/connector_accounts").await.status, 403);
}

async fn bad_credentials_are_refused_naming_the_parameter(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let refused = |form: Vec<(&'static str, &'static str)>, param: &'static str| {
        let api = &api;
        async move {
            let answer = api.post("/v1/connector_accounts", &form).await;
            assert_eq!(answer.status, 400, "{param}: {}", answer.text);
            assert_eq!(answer.json()["error"]["param"], param, "{}", answer.text);
            assert_eq!(answer.json()["error"]["type"], "invalid_request_error");
            assert!(!answer.text.contains("BEGIN"), "{}", answer.text);
        }
    };
    let with = |name: &'static str, value: &'static str| {
        let mut form = wechat_form();
        form.retain(|(k, _)| *k != name);
        form.push((name, value));
        form
    };
    let without = |name: &'static str| {
        let mut form = wechat_form();
        form.retain(|(k, _)| *k != name);
        form
    };
    refused(with("type", "paypal"), "type").await;
    refused(
        with("credentials[api_v3_key]", "too-short"),
        "credentials[api_v3_key]",
    )
    .await;
    refused(
        with("credentials[private_key]", PLATFORM_PUBLIC),
        "credentials[private_key]",
    )
    .await;
    refused(
        with("credentials[private_key]", SHORT_PRIVATE),
        "credentials[private_key]",
    )
    .await;
    refused(
        with(
            "credentials[platform_public_key]",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        ),
        "credentials[platform_public_key]",
    )
    .await;
    refused(with("credentials[app_id]", "2021"), "credentials[app_id]").await;
    refused(
        without("credentials[platform_serial]"),
        "credentials[platform_serial]",
    )
    .await;
    refused(with("endpoint", "ftp://api.example"), "endpoint").await;
    // Not stored: nothing was half-written.
    assert!(api.get("/v1/connector_accounts").await.json()["data"]
        .as_array()
        .unwrap()
        .is_empty());
}

async fn private_endpoints_are_refused_unless_allowed(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let mut server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    for endpoint in [
        "http://127.0.0.1:9",
        "http://localhost:9",
        "http://169.254.169.254",
        "http://10.1.2.3",
        "http://[::1]:9",
    ] {
        let refused = api
            .post("/v1/connector_accounts", &alipay_form(Some(endpoint)))
            .await;
        assert_eq!(refused.status, 400, "{endpoint}: {}", refused.text);
        assert_eq!(refused.json()["error"]["param"], "endpoint");
    }
    // A name that does not resolve reaches nothing yet: accepted, and
    // checked again at every connection.
    let unresolved = api
        .post(
            "/v1/connector_accounts",
            &alipay_form(Some("https://gateway.no-such-host.invalid")),
        )
        .await;
    assert_eq!(unresolved.status, 200, "{}", unresolved.text);
    server.terminate();

    let mut server = TestServer::start_with_env(&db, &[], &[ALLOW_PRIVATE]);
    let api = Api::new(&server, &merchant.secret_key);
    let created = api
        .post(
            "/v1/connector_accounts",
            &alipay_form(Some("http://127.0.0.1:9/")),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.json()["endpoint"], "http://127.0.0.1:9");
    // Without a public URL, the notify URL is on the host the client used.
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.json()["notify_url"],
        format!(
            "{}/notify/alipay/{id}",
            server.base_url.trim_end_matches('/')
        )
    );
    server.terminate();
    let flagged = TestServer::start_with(&db, &["--connectors-allow-private-endpoints"]);
    let api = Api::new(&flagged, &merchant.secret_key);
    let moved = api
        .post(
            &format!(
                "/v1/connector_accounts/{}",
                created.json()["id"].as_str().unwrap()
            ),
            &[("endpoint", "http://127.0.0.1:10")],
        )
        .await;
    assert_eq!(
        moved.json()["endpoint"],
        "http://127.0.0.1:10",
        "{}",
        moved.text
    );
}

async fn updates_merge_credentials_and_deletion_erases_them(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let created = api
        .post("/v1/connector_accounts", &wechat_form())
        .await
        .json();
    let path = format!("/v1/connector_accounts/{}", created["id"].as_str().unwrap());

    // Adding the v2 key and a new merchant key keeps the other secrets.
    let updated = api
        .post(
            &path,
            &[
                (
                    "credentials[api_v2_key]",
                    "192006250b4c09247ec02edce69f6a2d",
                ),
                ("credentials[private_key]", OTHER_PRIVATE),
                ("credentials[mchid]", "1900000109"),
                ("metadata[region]", "east"),
            ],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let updated = updated.json();
    assert_eq!(updated["credentials"]["api_v2_key"], "set");
    assert_eq!(updated["credentials"]["api_v3_key"], "set");
    assert_eq!(updated["credentials"]["mchid"], "1900000109");
    assert_eq!(updated["metadata"]["region"], "east");
    // The type cannot change, and an unknown credential is refused.
    let typed = api.post(&path, &[("type", "alipay")]).await;
    assert_eq!(typed.status, 400, "{}", typed.text);
    let unknown = api.post(&path, &[("credentials[app_id]", "2021")]).await;
    assert_eq!(unknown.json()["error"]["param"], "credentials[app_id]");

    let deleted = api.delete(&path).await;
    assert_eq!(
        deleted.json(),
        serde_json::json!({ "id": created["id"], "object": "connector_account", "deleted": true })
    );
    assert_eq!(api.get(&path).await.status, 404);
    assert_eq!(api.delete(&path).await.status, 404);
    let bodies = stored_bodies(&db).await;
    assert_eq!(bodies.len(), 1);
    let stored: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(stored["sealed"], Value::Null, "{stored}");
    assert_eq!(stored["deleted"], true);
}

async fn key_rotation_rewraps_connector_credentials(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Acme");
    let server = TestServer::start(&db);
    let api = Api::new(&server, &merchant.secret_key);
    let created = api
        .post("/v1/connector_accounts", &wechat_form())
        .await
        .json();
    let path = format!("/v1/connector_accounts/{}", created["id"].as_str().unwrap());
    let before = cli(&db, &["vault", "status"]);
    let old_kek = before
        .lines()
        .find(|l| l.contains("(active)"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert!(before.contains("0 cards\t1 connector accounts"), "{before}");
    let refused = std::process::Command::new(support::binary())
        .args(["vault", "retire-key", &old_kek, "--database-url", &db.url])
        .args(["--data-dir", db.data_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "retired a key still in use");

    let rotated = cli(&db, &["vault", "rotate-key"]);
    assert!(
        rotated.contains("0 cards, 1 connector accounts, 0 webhook endpoints, 0 terminals"),
        "{rotated}"
    );
    let after = cli(&db, &["vault", "status"]);
    assert!(
        after.contains(&format!("{old_kek}\t0 cards\t0 connector accounts")),
        "{after}"
    );
    cli(&db, &["vault", "retire-key", &old_kek]);
    // Once the server has reloaded the keyring, the credentials still open:
    // an update merges into them.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let updated = api
        .post(
            &path,
            &[(
                "credentials[api_v2_key]",
                "192006250b4c09247ec02edce69f6a2d",
            )],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json()["credentials"]["platform_public_key"], "set");
}

on_both_backends!(
    accounts_are_created_with_sealed_credentials,
    bad_credentials_are_refused_naming_the_parameter,
    private_endpoints_are_refused_unless_allowed,
    updates_merge_credentials_and_deletion_erases_them,
    key_rotation_rewraps_connector_credentials,
);
