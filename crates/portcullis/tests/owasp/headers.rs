//! Security misconfiguration: answers are never cached, hosted pages may
//! not be framed or run anything, HSTS under TLS, and hosted-page links
//! come from `public_url`, never from the request's `Host` header. Before
//! the fix `Host: evil.example` put
//! `http://evil.example/authenticate/…?client_secret=…` into `next_action`.

use crate::fixtures::{ok, Env};
use crate::support::{self, create_merchant, Backend, TestDatabase, TestServer};

async fn api_answers_and_hosted_pages_carry_security_headers(backend: Backend) {
    let env = Env::new(backend).await;
    let listed = env.api.get("/v1/customers").await;
    assert_eq!(listed.status, 200);
    let header = |answer: &support::Answer, name: &str| {
        answer
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header(&listed, "cache-control"), "no-store");
    assert_eq!(header(&listed, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(&listed, "strict-transport-security"),
        "",
        "no HSTS over plain HTTP"
    );
    let refused = env.api.get("/v1/customers/cus_missing").await;
    assert_eq!(header(&refused, "cache-control"), "no-store");

    // The hosted 3-D Secure page, linked from a challenged payment made
    // with a forged Host header.
    let request = env
        .api
        .http
        .post(env.server.url("/v1/payment_intents"))
        .header("Host", "evil.example")
        .form(&[
            ("amount", "900"),
            ("currency", "usd"),
            ("confirm", "true"),
            ("payment_method", "pm_card_threeDSecure2Required"),
            ("return_url", "https://shop.example/done"),
        ]);
    let challenged = ok(&env.api.send(request).await);
    assert_eq!(challenged["status"], "requires_action", "{challenged}");
    let link = challenged["next_action"]["redirect_to_url"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!link.contains("evil.example"), "{link}");
    assert!(
        link.starts_with(&env.server.base_url),
        "{link} is not on {}",
        env.server.base_url
    );
    let page = env.api.send(env.api.http.get(&link)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(header(&page, "content-type").starts_with("text/html"));
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "cache-control"), "no-store");
    let policy = header(&page, "content-security-policy");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
}

#[tokio::test]
async fn hsts_when_serving_tls() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let merchant = create_merchant(&db, "Acme");
    support::cli(&db, &["dev-cert"]);
    let cert = db.data_dir.join("cert.pem");
    let key = db.data_dir.join("key.pem");
    let server = TestServer::start_with(
        &db,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let root = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let url = server.base_url.replace("127.0.0.1", "localhost");
    let response = client
        .get(format!("{url}/v1/customers"))
        .bearer_auth(&merchant.secret_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let hsts = response
        .headers()
        .get("strict-transport-security")
        .expect("HSTS under TLS")
        .to_str()
        .unwrap();
    assert!(hsts.starts_with("max-age="), "{hsts}");
}

crate::on_both_backends!(api_answers_and_hosted_pages_carry_security_headers);
