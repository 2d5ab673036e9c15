//! Client-side encryption through the real binary, on SQLite and
//! PostgreSQL: the JWK Set at `/.well-known/jwks.json` (public, stable
//! across restarts, rotated with the vault's keys), a JWE made from it by
//! another implementation (the `rsa` crate and `aes-gcm`, not the
//! gateway's code) accepted as `card[encrypted]` with a publishable key and
//! paid with, and tampered, foreign or mixed input refused with 400 and
//! nothing stored.

mod support;

use serde_json::json;
use support::jwe::{encrypt, key_set};
use support::{cli, create_merchant, Api, Backend, TestDatabase, TestServer};

/// `POST /v1/payment_methods` with `card[encrypted]` alone.
async fn create_encrypted(api: &Api, compact: &str) -> support::Answer {
    api.post(
        "/v1/payment_methods",
        &[("type", "card"), ("card[encrypted]", compact)],
    )
    .await
}

const VISA: &str = r#"{"number":"4242424242424242","exp_month":12,"exp_year":2035,"cvc":"123"}"#;

async fn an_encrypted_card_pays_and_only_the_jwe_crosses_the_merchant(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let keys = key_set(&server).await;
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["alg"], "RSA-OAEP-256");
    assert_eq!(jwk["use"], "enc");
    assert!(jwk["kid"].as_str().unwrap().starts_with("csek_"));

    let browser = Api::new(&server, &merchant.publishable_key);
    let compact = encrypt(jwk, VISA);
    let created = create_encrypted(&browser, &compact).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let method = created.json();
    assert_eq!(method["card"]["brand"], "visa");
    assert_eq!(method["card"]["last4"], "4242");
    assert_eq!(method["card"]["exp_year"], 2035);

    let api = Api::new(&server, &merchant.secret_key);
    let paid = api
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1500"),
                ("currency", "usd"),
                ("payment_method", method["id"].as_str().unwrap()),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(paid.json()["status"], "succeeded");

    // The same JWE relayed by the merchant's server (secret key) works too.
    let relayed = create_encrypted(&api, &encrypt(jwk, VISA)).await;
    assert_eq!(relayed.status, 200, "{}", relayed.text);

    // The server restarts: the same key is served, old JWEs still open.
    drop(server);
    let server = TestServer::start(&db);
    assert_eq!(key_set(&server).await, keys);
    let browser = Api::new(&server, &merchant.publishable_key);
    let again = create_encrypted(&browser, &compact).await;
    assert_eq!(again.status, 200, "{}", again.text);
}

async fn bad_jwes_are_400_and_store_nothing(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let jwk = key_set(&server).await[0].clone();
    let browser = Api::new(&server, &merchant.publishable_key);
    let good = encrypt(&jwk, VISA);
    let mut tampered: Vec<String> = good.split('.').map(str::to_owned).collect();
    let flipped = if tampered[3].starts_with('A') {
        "B"
    } else {
        "A"
    };
    tampered[3].replace_range(0..1, flipped);
    let mut foreign = jwk.clone();
    foreign["kid"] = json!("csek_someoneelse0000000000");
    let expired = encrypt(
        &jwk,
        r#"{"number":"4242424242424242","exp_month":1,"exp_year":2001,"cvc":"123"}"#,
    );
    let extra_field = encrypt(
        &jwk,
        r#"{"number":"4242424242424242","exp_month":1,"exp_year":2040,"cvc":"123","pin":"1"}"#,
    );
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("card[encrypted]", tampered.join("."))],
            "card[encrypted]",
        ),
        (
            vec![("card[encrypted]", "not.a.jwe".into())],
            "card[encrypted]",
        ),
        (
            vec![("card[encrypted]", encrypt(&foreign, VISA))],
            "card[encrypted]",
        ),
        (
            vec![("card[encrypted]", encrypt(&jwk, "not json"))],
            "card[encrypted]",
        ),
        (vec![("card[encrypted]", expired)], "card[exp_year]"),
        (vec![("card[encrypted]", extra_field)], "card[pin]"),
        (
            vec![
                ("card[encrypted]", good.clone()),
                ("card[number]", "4242424242424242".into()),
            ],
            "card[number]",
        ),
    ];
    for (fields, param) in cases {
        let mut form = vec![("type", "card".to_owned())];
        form.extend(fields);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = browser.post("/v1/payment_methods", &form).await;
        assert!(
            answer.status == 400 || answer.status == 402,
            "{param}: {} {}",
            answer.status,
            answer.text
        );
        assert_eq!(answer.json()["error"]["param"], param, "{}", answer.text);
        assert!(!answer.text.contains("4242424242424242"));
    }
    let api = Api::new(&server, &merchant.secret_key);
    let listed = api.get("/v1/payment_methods?type=card").await.json();
    assert_eq!(listed["data"], json!([]), "nothing was stored");
}

async fn the_published_key_rotates_with_the_vault(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let merchant = create_merchant(&db, "Shop");
    let server = TestServer::start(&db);
    let before = key_set(&server).await;
    let old_jwe = encrypt(&before[0], VISA);
    drop(server);
    cli(&db, &["vault", "rotate-key"]);
    let server = TestServer::start(&db);
    let after = key_set(&server).await;
    assert_ne!(after[0]["kid"], before[0]["kid"], "a new active key");
    let browser = Api::new(&server, &merchant.publishable_key);
    let new = create_encrypted(&browser, &encrypt(&after[0], VISA)).await;
    assert_eq!(new.status, 200, "{}", new.text);
    // The old key is served and opens while the vault holds its KEK…
    assert_eq!(after.len(), 2);
    assert_eq!(after[1]["kid"], before[0]["kid"]);
    let old = create_encrypted(&browser, &old_jwe).await;
    assert_eq!(old.status, 200, "{}", old.text);
    // …and retires with it.
    drop(server);
    let old_kek = retired_candidate(&db);
    cli(&db, &["vault", "retire-key", &old_kek]);
    let server = TestServer::start(&db);
    let left = key_set(&server).await;
    assert_eq!(left, vec![after[0].clone()]);
    let browser = Api::new(&server, &merchant.publishable_key);
    let refused = create_encrypted(&browser, &old_jwe).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
}

/// The KEK that is not active, from `portcullis vault status`.
fn retired_candidate(db: &TestDatabase) -> String {
    let status = cli(db, &["vault", "status"]);
    status
        .lines()
        .filter(|line| !line.contains("active"))
        .find_map(|line| line.split_whitespace().find(|w| w.starts_with("kek_")))
        .unwrap_or_else(|| panic!("no inactive KEK in: {status}"))
        .trim_end_matches(':')
        .to_owned()
}

on_both_backends!(
    an_encrypted_card_pays_and_only_the_jwe_crosses_the_merchant,
    bad_jwes_are_400_and_store_nothing,
    the_published_key_rotates_with_the_vault,
);
