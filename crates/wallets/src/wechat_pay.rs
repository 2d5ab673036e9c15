//! WeChat Pay API v3.
//!
//! - Requests carry `Authorization: WECHATPAY2-SHA256-RSA2048
//!   mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`,
//!   the signature being SHA256withRSA with the merchant's API key over
//!   `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n` ([`authorization`]).
//! - Answers and notifications are verified from the `Wechatpay-Timestamp`,
//!   `-Nonce`, `-Signature` and `-Serial` headers with the platform public
//!   key, over `TIMESTAMP\nNONCE\nBODY\n` ([`verify_signed_message`]); the
//!   serial must name that key, and the timestamp lie within the window.
//! - A notification's `resource` is AEAD_AES_256_GCM: the API v3 key (32
//!   bytes of text), the resource's `nonce` and `associated_data`, and the
//!   base64 `ciphertext` (tag at its end) ([`decrypt_resource`]).

use crate::keys::{sign_sha256_rsa, verify_sha256_rsa, RsaPrivateKey, RsaPublicKey};
use crate::WalletError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub const SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
/// How far a signed answer's or notification's timestamp may be from now.
pub const TIMESTAMP_WINDOW_S: i64 = 300;
/// Characters in the nonces we draw.
pub const NONCE_CHARS: usize = 32;

/// A fresh random nonce: 32 characters of `[0-9A-Z]`.
pub fn nonce() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::rngs::OsRng;
    (0..NONCE_CHARS)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The merchant's identity for signing requests.
pub struct Merchant<'a> {
    pub mchid: &'a str,
    pub certificate_serial: &'a str,
    pub key: &'a RsaPrivateKey,
}

/// The text a request signature covers.
pub fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The `Authorization` header value for a request.
pub fn authorization(
    merchant: &Merchant<'_>,
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    let message = request_message(method, path_and_query, timestamp, nonce, body);
    let signature = sign_sha256_rsa(merchant.key, message.as_bytes());
    format!(
        "{SCHEME} mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
        merchant.mchid, merchant.certificate_serial
    )
}

/// An `Authorization` header's parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationParts {
    pub mchid: String,
    pub nonce_str: String,
    pub signature: String,
    pub timestamp: i64,
    pub serial_no: String,
}

/// Reads an `Authorization` header (for the simulator, which checks it).
pub fn parse_authorization(header: &str) -> Result<AuthorizationParts, WalletError> {
    let malformed = || WalletError::Malformed("Authorization".into());
    let rest = header
        .strip_prefix(SCHEME)
        .ok_or_else(malformed)?
        .trim_start();
    let field = |name: &str| -> Result<String, WalletError> {
        rest.split(',')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"').to_owned())
            .ok_or_else(malformed)
    };
    Ok(AuthorizationParts {
        mchid: field("mchid")?,
        nonce_str: field("nonce_str")?,
        signature: field("signature")?,
        timestamp: field("timestamp")?.parse().map_err(|_| malformed())?,
        serial_no: field("serial_no")?,
    })
}

/// Checks a request's `Authorization` against the merchant's public key.
pub fn verify_authorization(
    key: &RsaPublicKey,
    parts: &AuthorizationParts,
    method: &str,
    path_and_query: &str,
    body: &str,
) -> Result<(), WalletError> {
    let message = request_message(
        method,
        path_and_query,
        parts.timestamp,
        &parts.nonce_str,
        body,
    );
    verify_sha256_rsa(key, message.as_bytes(), &parts.signature)
}

/// The `Wechatpay-*` headers of an answer or a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
    pub serial: String,
}

/// Signs `body` as WeChat Pay signs answers and notifications (for the
/// simulator).
pub fn sign_message(
    key: &RsaPrivateKey,
    serial: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> SignedHeaders {
    let message = format!("{timestamp}\n{nonce}\n{body}\n");
    SignedHeaders {
        timestamp: timestamp.to_string(),
        nonce: nonce.to_owned(),
        signature: sign_sha256_rsa(key, message.as_bytes()),
        serial: serial.to_owned(),
    }
}

/// Checks an answer's or a notification's headers: the serial names the
/// platform key we hold, the timestamp is within [`TIMESTAMP_WINDOW_S`] of
/// `now`, and the signature covers `TIMESTAMP\nNONCE\nBODY\n`.
pub fn verify_signed_message(
    platform_key: &RsaPublicKey,
    platform_serial: &str,
    headers: &SignedHeaders,
    body: &str,
    now: i64,
) -> Result<(), WalletError> {
    if headers.serial != platform_serial {
        return Err(WalletError::Malformed(format!(
            "Wechatpay-Serial {} is not the platform key's",
            headers.serial
        )));
    }
    let timestamp: i64 = headers
        .timestamp
        .parse()
        .map_err(|_| WalletError::Malformed("Wechatpay-Timestamp".into()))?;
    if (now - timestamp).abs() > TIMESTAMP_WINDOW_S {
        return Err(WalletError::Malformed(
            "Wechatpay-Timestamp is outside the window".into(),
        ));
    }
    let message = format!("{}\n{}\n{body}\n", headers.timestamp, headers.nonce);
    verify_sha256_rsa(platform_key, message.as_bytes(), &headers.signature)
}

/// A notification's encrypted `resource`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResource {
    pub algorithm: String,
    pub ciphertext: String,
    #[serde(default)]
    pub associated_data: String,
    pub nonce: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_type: Option<String>,
}

fn cipher(api_v3_key: &str) -> Result<Aes256Gcm, WalletError> {
    if api_v3_key.len() != 32 {
        return Err(WalletError::Key("the API v3 key must be 32 bytes".into()));
    }
    Ok(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(
        api_v3_key.as_bytes(),
    )))
}

/// The plaintext of a notification's `resource` (JSON text), held in
/// memory that is wiped on drop.
pub fn decrypt_resource(
    api_v3_key: &str,
    resource: &EncryptedResource,
) -> Result<Zeroizing<String>, WalletError> {
    if resource.algorithm != "AEAD_AES_256_GCM" {
        return Err(WalletError::Malformed(
            "algorithm must be AEAD_AES_256_GCM".into(),
        ));
    }
    if resource.nonce.len() != 12 {
        return Err(WalletError::Undecryptable);
    }
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(&resource.ciphertext)
        .map_err(|_| WalletError::Undecryptable)?;
    let payload = Payload {
        msg: &ciphertext,
        aad: resource.associated_data.as_bytes(),
    };
    let plain = cipher(api_v3_key)?
        .decrypt(Nonce::from_slice(resource.nonce.as_bytes()), payload)
        .map_err(|_| WalletError::Undecryptable)?;
    String::from_utf8(plain)
        .map(Zeroizing::new)
        .map_err(|_| WalletError::Undecryptable)
}

/// Encrypts `plaintext` as WeChat Pay does (for the simulator).
pub fn encrypt_resource(
    api_v3_key: &str,
    nonce: &str,
    associated_data: &str,
    plaintext: &str,
    original_type: &str,
) -> Result<EncryptedResource, WalletError> {
    if nonce.len() != 12 {
        return Err(WalletError::Malformed("the nonce must be 12 bytes".into()));
    }
    let payload = Payload {
        msg: plaintext.as_bytes(),
        aad: associated_data.as_bytes(),
    };
    let sealed = cipher(api_v3_key)?
        .encrypt(Nonce::from_slice(nonce.as_bytes()), payload)
        .map_err(|_| WalletError::Undecryptable)?;
    Ok(EncryptedResource {
        algorithm: "AEAD_AES_256_GCM".to_owned(),
        ciphertext: base64::engine::general_purpose::STANDARD.encode(sealed),
        associated_data: associated_data.to_owned(),
        nonce: nonce.to_owned(),
        original_type: Some(original_type.to_owned()),
    })
}

/// The parameters of `wx.requestPayment` for a JSAPI `prepay_id`:
/// `paySign` is SHA256withRSA over `appId\ntimeStamp\nnonceStr\npackage\n`.
pub fn jsapi_pay_parameters(
    key: &RsaPrivateKey,
    appid: &str,
    prepay_id: &str,
    timestamp: i64,
    nonce: &str,
) -> serde_json::Value {
    let package = format!("prepay_id={prepay_id}");
    let message = format!("{appid}\n{timestamp}\n{nonce}\n{package}\n");
    serde_json::json!({
        "appId": appid,
        "timeStamp": timestamp.to_string(),
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": sign_sha256_rsa(key, message.as_bytes()),
    })
}

/// What an app opens WeChat Pay with for an APP `prepay_id` (the SDK's
/// `PayReq`): `sign` is SHA256withRSA over
/// `appid\ntimestamp\nnoncestr\nprepayid\n`, `package` is `Sign=WXPay`.
pub fn app_pay_parameters(
    key: &RsaPrivateKey,
    appid: &str,
    mchid: &str,
    prepay_id: &str,
    timestamp: i64,
    nonce: &str,
) -> serde_json::Value {
    let message = format!("{appid}\n{timestamp}\n{nonce}\n{prepay_id}\n");
    serde_json::json!({
        "app_id": appid,
        "nonce_str": nonce,
        "package": "Sign=WXPay",
        "partner_id": mchid,
        "prepay_id": prepay_id,
        "sign": sign_sha256_rsa(key, message.as_bytes()),
        "timestamp": timestamp.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{private_key_from_pem, public_key_from_pem};

    const PRIVATE: &str = include_str!("../tests/fixtures/app_private_pkcs1.pem");
    const PUBLIC: &str = include_str!("../tests/fixtures/app_public.pem");
    const OTHER_PUBLIC: &str = include_str!("../tests/fixtures/other_public.pem");
    const V3_KEY: &str = "0123456789abcdef0123456789ABCDEF";

    #[test]
    fn app_pay_parameters_are_signed_over_the_sdk_message() {
        let key = private_key_from_pem(PRIVATE).unwrap();
        let public = public_key_from_pem(PUBLIC).unwrap();
        let pay = app_pay_parameters(
            &key,
            "wx1",
            "1900009191",
            "wx201410272009395522657a690389285100",
            1_700_000_000,
            "N1",
        );
        assert_eq!(pay["package"], "Sign=WXPay");
        assert_eq!(pay["partner_id"], "1900009191");
        let message = "wx1\n1700000000\nN1\nwx201410272009395522657a690389285100\n";
        let sign = pay["sign"].as_str().unwrap();
        verify_sha256_rsa(&public, message.as_bytes(), sign).unwrap();
        assert!(verify_sha256_rsa(&public, b"other", sign).is_err());
    }

    #[test]
    fn authorization_headers_parse_and_verify() {
        let key = private_key_from_pem(PRIVATE).unwrap();
        let merchant = Merchant {
            mchid: "1900009191",
            certificate_serial: "SERIAL1",
            key: &key,
        };
        let body = r#"{"appid":"wx1","mchid":"1900009191"}"#;
        let header = authorization(
            &merchant,
            "POST",
            "/v3/pay/transactions/native",
            1_700_000_000,
            "N1",
            body,
        );
        assert!(header.starts_with(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1900009191\",nonce_str=\"N1\",signature=\""
        ));
        let parts = parse_authorization(&header).unwrap();
        assert_eq!(parts.serial_no, "SERIAL1");
        let public = public_key_from_pem(PUBLIC).unwrap();
        verify_authorization(&public, &parts, "POST", "/v3/pay/transactions/native", body).unwrap();
        let tampered =
            verify_authorization(&public, &parts, "POST", "/v3/pay/transactions/h5", body);
        assert_eq!(tampered, Err(WalletError::BadSignature));
    }

    #[test]
    fn signed_messages_check_serial_window_and_key() {
        let key = private_key_from_pem(PRIVATE).unwrap();
        let public = public_key_from_pem(PUBLIC).unwrap();
        let other = public_key_from_pem(OTHER_PUBLIC).unwrap();
        let headers = sign_message(&key, "PUB_1", 1_000, "abc", "{}");
        verify_signed_message(&public, "PUB_1", &headers, "{}", 1_100).unwrap();
        assert!(verify_signed_message(&public, "PUB_2", &headers, "{}", 1_100).is_err());
        assert!(verify_signed_message(
            &public,
            "PUB_1",
            &headers,
            "{}",
            1_000 + TIMESTAMP_WINDOW_S + 1
        )
        .is_err());
        assert_eq!(
            verify_signed_message(&other, "PUB_1", &headers, "{}", 1_000),
            Err(WalletError::BadSignature)
        );
        assert_eq!(
            verify_signed_message(&public, "PUB_1", &headers, "{ }", 1_000),
            Err(WalletError::BadSignature)
        );
    }

    #[test]
    fn resources_decrypt_only_with_the_right_key_and_associated_data() {
        let plain = r#"{"out_trade_no":"pi_1","trade_state":"SUCCESS"}"#;
        let resource =
            encrypt_resource(V3_KEY, "0123456789ab", "transaction", plain, "transaction").unwrap();
        assert_eq!(&*decrypt_resource(V3_KEY, &resource).unwrap(), plain);
        let wrong_key = decrypt_resource("0123456789abcdef0123456789abcdeX", &resource);
        assert_eq!(wrong_key, Err(WalletError::Undecryptable));
        let mut wrong_aad = resource.clone();
        wrong_aad.associated_data = "refund".into();
        assert_eq!(
            decrypt_resource(V3_KEY, &wrong_aad),
            Err(WalletError::Undecryptable)
        );
    }

    #[test]
    fn nonces_are_fresh() {
        assert_eq!(nonce().len(), NONCE_CHARS);
        assert_ne!(nonce(), nonce());
    }
}
