//! Alipay OpenAPI over `gateway.do` with RSA2 signatures.
//!
//! - A request is the common parameters (`app_id`, `method`, `format=JSON`,
//!   `charset=utf-8`, `sign_type=RSA2`, `timestamp` in Asia/Shanghai,
//!   `version=1.0`, `notify_url`, `biz_content`) plus `sign`: SHA256withRSA
//!   with the merchant's application key over the parameters sorted by
//!   name, as `k=v` joined by `&`, values unencoded, empty values and
//!   `sign` itself left out ([`request_sign_content`]).
//! - An answer is `{"<method with _>_response": {…}, "sign": "…"}` (or
//!   `error_response`); the signature covers the raw JSON text of the
//!   response node exactly as sent ([`verify_response`]).
//! - An asynchronous notification is a form POST; its signature covers all
//!   parameters but `sign` and `sign_type`, sorted, unencoded
//!   ([`verify_notification`]); it is answered with the body `success`.

use crate::keys::{sign_sha256_rsa, verify_sha256_rsa, RsaPrivateKey, RsaPublicKey};
use crate::WalletError;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The body that acknowledges a notification; anything else makes Alipay retry.
pub const NOTIFY_ACK: &str = "success";
pub const GATEWAY_PATH: &str = "/gateway.do";

/// What a request carries besides the method's `biz_content`.
#[derive(Clone, Debug)]
pub struct RequestContext<'a> {
    pub app_id: &'a str,
    /// Unix seconds; rendered as Asia/Shanghai local time.
    pub now: i64,
    pub notify_url: Option<&'a str>,
    /// For page and wap pay: where the buyer's browser comes back.
    pub return_url: Option<&'a str>,
}

/// The signed parameters of a call of `method` with `biz_content`, ready
/// to be sent as a form (or, for page/wap/app pay, as a URL or order string).
pub fn signed_request(
    key: &RsaPrivateKey,
    context: &RequestContext<'_>,
    method: &str,
    biz_content: &serde_json::Value,
) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        params.insert(k.to_owned(), v.to_owned());
    };
    put("app_id", context.app_id);
    put("method", method);
    put("format", "JSON");
    put("charset", "utf-8");
    put("sign_type", "RSA2");
    put("timestamp", &crate::shanghai_time::format(context.now));
    put("version", "1.0");
    put("biz_content", &biz_content.to_string());
    if let Some(url) = context.notify_url {
        put("notify_url", url);
    }
    if let Some(url) = context.return_url {
        put("return_url", url);
    }
    let sign = sign_params(key, &params);
    params.insert("sign".to_owned(), sign);
    params
}

/// The RSA2 signature of `params` as a request: see [`request_sign_content`].
pub fn sign_params(key: &RsaPrivateKey, params: &BTreeMap<String, String>) -> String {
    sign_sha256_rsa(key, request_sign_content(params).as_bytes())
}

/// `k=v&…` over `params` sorted by name, without `sign` and empty values.
pub fn request_sign_content(params: &BTreeMap<String, String>) -> String {
    sign_content(params, &["sign"])
}

fn sign_content(params: &BTreeMap<String, String>, excluded: &[&str]) -> String {
    params
        .iter()
        .filter(|(k, v)| !v.is_empty() && !excluded.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Checks the `sign` of a request (what the provider, or our simulator,
/// does with what we send).
pub fn verify_request(
    key: &RsaPublicKey,
    params: &BTreeMap<String, String>,
) -> Result<(), WalletError> {
    let sign = params.get("sign").ok_or(WalletError::BadSignature)?;
    if params.get("sign_type").map(String::as_str) != Some("RSA2") {
        return Err(WalletError::Malformed("sign_type must be RSA2".into()));
    }
    verify_sha256_rsa(key, request_sign_content(params).as_bytes(), sign)
}

/// The response node's name for `method`: `alipay.trade.query` →
/// `alipay_trade_query_response`.
pub fn response_node(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// The verified response node of an answer to `method`, parsed. The
/// signature is checked over the node's raw text as sent, with the Alipay
/// public key; an `error_response` (sent when the request itself was
/// refused, e.g. a bad signature) is returned as it is, signed or not,
/// since it carries no result.
pub fn verify_response(
    key: &RsaPublicKey,
    method: &str,
    body: &str,
) -> Result<serde_json::Value, WalletError> {
    let nodes: BTreeMap<String, &RawValue> = serde_json::from_str(body)
        .map_err(|_| WalletError::Malformed("the answer is not a JSON object".into()))?;
    let expected = response_node(method);
    if let Some(raw) = nodes.get(&expected) {
        let sign = nodes
            .get("sign")
            .and_then(|s| serde_json::from_str::<String>(s.get()).ok())
            .ok_or(WalletError::BadSignature)?;
        verify_sha256_rsa(key, raw.get().as_bytes(), &sign)?;
        return serde_json::from_str(raw.get())
            .map_err(|_| WalletError::Malformed("the response node is not JSON".into()));
    }
    match nodes.get("error_response") {
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|_| WalletError::Malformed("the error node is not JSON".into())),
        None => Err(WalletError::Malformed(format!(
            "no {expected} in the answer"
        ))),
    }
}

/// An answer as Alipay sends it: `{"<node>": node, "sign": "…"}`, signed
/// over the node's text (for the simulator).
pub fn signed_response(key: &RsaPrivateKey, method: &str, node: &serde_json::Value) -> String {
    let node_text = node.to_string();
    let sign = sign_sha256_rsa(key, node_text.as_bytes());
    let sign_text = serde_json::Value::String(sign).to_string();
    format!(
        "{{\"{}\":{node_text},\"sign\":{sign_text}}}",
        response_node(method)
    )
}

/// Checks an asynchronous notification's `sign` over every parameter but
/// `sign` and `sign_type`, sorted by name, unencoded.
pub fn verify_notification(
    key: &RsaPublicKey,
    params: &BTreeMap<String, String>,
) -> Result<(), WalletError> {
    let sign = params.get("sign").ok_or(WalletError::BadSignature)?;
    if let Some(kind) = params.get("sign_type") {
        if kind != "RSA2" {
            return Err(WalletError::Malformed("sign_type must be RSA2".into()));
        }
    }
    let content = sign_content(params, &["sign", "sign_type"]);
    verify_sha256_rsa(key, content.as_bytes(), sign)
}

/// A notification signed as Alipay signs it (for the simulator).
pub fn sign_notification(key: &RsaPrivateKey, params: &mut BTreeMap<String, String>) {
    params.insert("sign_type".to_owned(), "RSA2".to_owned());
    let content = sign_content(params, &["sign", "sign_type"]);
    params.insert("sign".to_owned(), sign_sha256_rsa(key, content.as_bytes()));
}

/// The `trade_status` values of trades and notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TradeStatus {
    WaitBuyerPay,
    TradeSuccess,
    TradeFinished,
    TradeClosed,
}

impl TradeStatus {
    pub fn parse(text: &str) -> Result<Self, WalletError> {
        match text {
            "WAIT_BUYER_PAY" => Ok(Self::WaitBuyerPay),
            "TRADE_SUCCESS" => Ok(Self::TradeSuccess),
            "TRADE_FINISHED" => Ok(Self::TradeFinished),
            "TRADE_CLOSED" => Ok(Self::TradeClosed),
            _ => Err(WalletError::Malformed(format!(
                "unknown trade_status {text}"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitBuyerPay => "WAIT_BUYER_PAY",
            Self::TradeSuccess => "TRADE_SUCCESS",
            Self::TradeFinished => "TRADE_FINISHED",
            Self::TradeClosed => "TRADE_CLOSED",
        }
    }

    /// True when the buyer has paid (the trade may still be refunded).
    pub fn is_paid(self) -> bool {
        matches!(self, Self::TradeSuccess | Self::TradeFinished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{private_key_from_pem, public_key_from_pem};

    const PRIVATE: &str = include_str!("../tests/fixtures/app_private_pkcs8.pem");
    const PUBLIC: &str = include_str!("../tests/fixtures/app_public.pem");

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn sign_content_sorts_and_skips_sign_and_empty_values() {
        let p = params(&[
            ("b", "2"),
            ("a", "1"),
            ("sign", "x"),
            ("c", ""),
            ("sign_type", "RSA2"),
        ]);
        assert_eq!(request_sign_content(&p), "a=1&b=2&sign_type=RSA2");
        assert_eq!(sign_content(&p, &["sign", "sign_type"]), "a=1&b=2");
    }

    #[test]
    fn signed_requests_carry_the_common_parameters_and_verify() {
        let key = private_key_from_pem(PRIVATE).unwrap();
        let public = public_key_from_pem(PUBLIC).unwrap();
        let context = RequestContext {
            app_id: "2021000000000001",
            now: 0,
            notify_url: Some("https://shop.example/notify/alipay/ca_1"),
            return_url: None,
        };
        let biz =
            serde_json::json!({"out_trade_no": "pi_1", "total_amount": "12.34", "subject": "x"});
        let mut request = signed_request(&key, &context, "alipay.trade.precreate", &biz);
        assert_eq!(request["timestamp"], "1970-01-01 08:00:00");
        assert_eq!(request["sign_type"], "RSA2");
        assert_eq!(request["charset"], "utf-8");
        verify_request(&public, &request).unwrap();
        request.insert(
            "biz_content".into(),
            biz.to_string().replace("12.34", "1234.00"),
        );
        assert_eq!(
            verify_request(&public, &request),
            Err(WalletError::BadSignature)
        );
    }

    #[test]
    fn responses_verify_over_the_raw_node_text() {
        let key = private_key_from_pem(PRIVATE).unwrap();
        let public = public_key_from_pem(PUBLIC).unwrap();
        let node = serde_json::json!({"code": "10000", "msg": "Success", "qr_code": "https://qr.alipay.com/x"});
        let body = signed_response(&key, "alipay.trade.precreate", &node);
        let verified = verify_response(&public, "alipay.trade.precreate", &body).unwrap();
        assert_eq!(verified["qr_code"], "https://qr.alipay.com/x");
        // Spacing changed inside the node: the raw text no longer matches.
        let spaced = body.replacen("\"code\":", "\"code\": ", 1);
        assert_eq!(
            verify_response(&public, "alipay.trade.precreate", &spaced),
            Err(WalletError::BadSignature)
        );
        let other_method = verify_response(&public, "alipay.trade.query", &body);
        assert!(matches!(other_method, Err(WalletError::Malformed(_))));
    }

    #[test]
    fn notifications_verify_without_sign_type_and_refuse_changes() {
        let key = private_key_from_pem(PRIVATE).unwrap();
        let public = public_key_from_pem(PUBLIC).unwrap();
        let mut notification = params(&[
            ("out_trade_no", "pi_1"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "12.34"),
            ("notify_id", "n1"),
        ]);
        sign_notification(&key, &mut notification);
        verify_notification(&public, &notification).unwrap();
        notification.insert("total_amount".into(), "0.01".into());
        assert_eq!(
            verify_notification(&public, &notification),
            Err(WalletError::BadSignature)
        );
    }
}
