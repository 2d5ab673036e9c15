//! Client-side encryption as a merchant's page does it, made from the
//! published JWK Set alone: the keys at `/.well-known/jwks.json`, and a
//! compact JWE of a card for one of them.

use super::TestServer;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

pub async fn key_set(server: &TestServer) -> Vec<Value> {
    let answer = reqwest::get(server.url("/.well-known/jwks.json"))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "*",
        "merchants' pages read the keys cross-origin"
    );
    let body: Value = answer.json().await.unwrap();
    body["keys"].as_array().unwrap().clone()
}

/// A compact JWE (RSA-OAEP-256, A256GCM) of `plaintext` for `jwk`, from
/// the published JWK alone (aws-lc-rs's OAEP encryption, `aes-gcm`). The
/// encrypters independent of Rust are Python's `jwcrypto` (compatibility
/// suite) and the browser's WebCrypto (browser suite).
pub fn encrypt(jwk: &Value, plaintext: &str) -> String {
    use aws_lc_rs::rsa::{
        OaepPublicEncryptingKey, PublicEncryptingKey, PublicKeyComponents, OAEP_SHA256_MGF1SHA256,
    };
    let decode = |field: &str| {
        URL_SAFE_NO_PAD
            .decode(jwk[field].as_str().unwrap())
            .unwrap()
    };
    let public: PublicEncryptingKey = PublicKeyComponents {
        n: decode("n"),
        e: decode("e"),
    }
    .try_into()
    .unwrap();
    let public = OaepPublicEncryptingKey::new(public).unwrap();
    let header = URL_SAFE_NO_PAD
        .encode(json!({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": jwk["kid"]}).to_string());
    let cek: [u8; 32] = rand::random();
    let iv: [u8; 12] = rand::random();
    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let wrapped = public
        .encrypt(&OAEP_SHA256_MGF1SHA256, &cek, &mut wrapped, None)
        .unwrap()
        .to_vec();
    let sealed = Aes256Gcm::new_from_slice(&cek)
        .unwrap()
        .encrypt(
            Nonce::from_slice(&iv),
            Payload {
                msg: plaintext.as_bytes(),
                aad: header.as_bytes(),
            },
        )
        .unwrap();
    let (body, tag) = sealed.split_at(sealed.len() - 16);
    [
        header,
        URL_SAFE_NO_PAD.encode(wrapped),
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(body),
        URL_SAFE_NO_PAD.encode(tag),
    ]
    .join(".")
}
