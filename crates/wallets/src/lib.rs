//! The wallet providers' protocols, as pure codecs: no I/O, no clock (the
//! caller hands in times and nonces), no randomness except where a nonce
//! must be drawn ([`wechat_pay::nonce`]).
//!
//! - [`alipay`]: Alipay OpenAPI (`gateway.do`): the common request
//!   parameters, RSA2 (SHA256withRSA) signatures of requests, verification
//!   of answers over the raw JSON of their `…_response` node, and of
//!   asynchronous notifications.
//! - [`wechat_pay`]: WeChat Pay API v3: the `WECHATPAY2-SHA256-RSA2048`
//!   `Authorization` header, verification of answers and notifications
//!   from their `Wechatpay-*` headers, AEAD_AES_256_GCM decryption of a
//!   notification's `resource`, and the `wx.requestPayment` parameters.
//! - [`alipay_methods`], [`wechat_pay_orders`]: the bodies of each call
//!   (trade methods, v3 orders and refunds), amounts converted exactly.
//! - [`wechat_v2`]: WeChat Pay API v2 for payment codes (`micropay`):
//!   flat XML and HMAC-SHA256 signatures with the API v2 key.
//! - [`amount`]: minor units ⇄ yuan text, exactly.
//! - [`keys`]: RSA keys from PEM (PKCS#8 or PKCS#1).
//! - [`payment_codes`]: which provider a customer's payment code is from.
//!
//! Nothing here writes a key, a signature input that holds secrets, or a
//! decrypted resource to a log or an error message.

pub mod alipay;
pub mod alipay_methods;
pub mod amount;
pub mod keys;
pub mod payment_codes;
pub mod shanghai_time;
pub mod wechat_pay;
pub mod wechat_pay_orders;
pub mod wechat_v2;

/// Why a codec refused. Messages name what is wrong, never key bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    #[error("invalid key: {0}")]
    Key(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("the resource does not decrypt: wrong key, nonce, associated data or changed bytes")]
    Undecryptable,
    #[error("amount out of range")]
    Amount,
}
