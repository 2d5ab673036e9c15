//! The wallet providers as HTTP clients: [`alipay::AlipayClient`]
//! (OpenAPI `gateway.do`, RSA2) and [`wechat_pay::WechatPayClient`] (API
//! v3, and v2 for payment codes). Each call is signed with the merchant's
//! credentials by `portcullis-wallets`, bounded by the client's timeout,
//! and its answer accepted only when it verifies with the provider's key;
//! an answer that does not verify is [`WalletCallError::Unverified`], which
//! leaves the outcome unknown (the caller queries later), never "paid".
//!
//! The `reqwest::Client` is the caller's: the API layer builds it on the
//! checked resolver, so an endpoint on a private address is reached only
//! when the operator allowed it. Redirects must be off in that client.

pub mod alipay;
pub mod notifications;
pub mod wechat_pay;

use std::time::Duration;

/// How long one provider call may take unless the caller says otherwise.
pub const CALL_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// The largest answer body read from a provider.
pub const ANSWER_BYTES_MAX: usize = 256 * 1024;

/// Why a provider call did not give an answer we can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WalletCallError {
    /// No answer in time: the call may or may not have taken effect.
    #[error("the provider did not answer in time")]
    Timeout,
    /// The connection failed or broke: the outcome is unknown.
    #[error("the provider could not be reached: {0}")]
    Transport(String),
    /// An answer whose signature does not verify (or is missing).
    #[error("the provider's answer does not verify: {0}")]
    Unverified(String),
    /// A verified answer we cannot read.
    #[error("the provider's answer is malformed: {0}")]
    Malformed(String),
    /// The provider refused the call, with its code and message.
    #[error("the provider refused: {code} {message}")]
    Refused { code: String, message: String },
    /// Our own credentials or input are unusable (a bad key, an amount
    /// out of range): nothing was sent.
    #[error("the call could not be made: {0}")]
    Invalid(String),
}

impl WalletCallError {
    /// Whether the call may have taken effect at the provider.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            WalletCallError::Timeout
                | WalletCallError::Transport(_)
                | WalletCallError::Unverified(_)
                | WalletCallError::Malformed(_)
        )
    }
}

impl From<portcullis_wallets::WalletError> for WalletCallError {
    fn from(error: portcullis_wallets::WalletError) -> Self {
        WalletCallError::Invalid(error.to_string())
    }
}

/// Where a trade stands at the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TradeState {
    /// The provider knows no such trade (yet: an Alipay QR not scanned).
    NotFound,
    /// Created, not paid.
    Waiting,
    /// A payment code waits for the buyer's confirmation.
    UserPaying,
    Paid,
    /// Closed unpaid, cancelled or reversed.
    Closed,
    /// The payment failed (WeChat PAYERROR).
    Failed,
    /// Paid, then (partly) refunded.
    Refunded,
}

/// A provider's view of one trade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeStatus {
    pub state: TradeState,
    /// Alipay `trade_no`, WeChat `transaction_id`, when known.
    pub provider_trade_id: Option<String>,
    /// The amount the provider holds for the trade, in fen.
    pub amount_fen: Option<i64>,
    /// The buyer as the provider names it: Alipay `buyer_user_id` (or the
    /// notification's `buyer_id`, else `buyer_logon_id`), WeChat Pay the
    /// payer's `openid`; `None` when the provider did not say.
    pub payer: Option<String>,
}

impl TradeStatus {
    /// The provider knows no such trade.
    pub fn not_found() -> Self {
        TradeStatus {
            state: TradeState::NotFound,
            provider_trade_id: None,
            amount_fen: None,
            payer: None,
        }
    }
}

/// A refund as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundStatus {
    pub provider_refund_id: Option<String>,
    pub amount_fen: i64,
    /// False when the provider has not finished it (WeChat PROCESSING).
    pub succeeded: bool,
}

/// What presenting a payment code did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodePayment {
    Paid(TradeStatus),
    /// The buyer must confirm on the phone: poll with a query.
    Waiting,
    Declined {
        code: String,
        message: String,
    },
}

/// Reads an answer's body, at most [`ANSWER_BYTES_MAX`].
async fn bounded_text(answer: reqwest::Response) -> Result<String, WalletCallError> {
    if answer
        .content_length()
        .is_some_and(|n| n > ANSWER_BYTES_MAX as u64)
    {
        return Err(WalletCallError::Malformed("answer too large".into()));
    }
    let bytes = answer
        .bytes()
        .await
        .map_err(|e| WalletCallError::Transport(e.without_url().to_string()))?;
    if bytes.len() > ANSWER_BYTES_MAX {
        return Err(WalletCallError::Malformed("answer too large".into()));
    }
    String::from_utf8(bytes.to_vec())
        .map_err(|_| WalletCallError::Malformed("answer is not UTF-8".into()))
}

/// Sends `request` within `timeout`.
async fn send(
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<reqwest::Response, WalletCallError> {
    match tokio::time::timeout(timeout, request.send()).await {
        Err(_) => Err(WalletCallError::Timeout),
        Ok(Err(error)) if error.is_timeout() => Err(WalletCallError::Timeout),
        Ok(Err(error)) => Err(WalletCallError::Transport(error.without_url().to_string())),
        Ok(Ok(answer)) => Ok(answer),
    }
}

fn unix_now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
