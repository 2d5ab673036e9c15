//! Alipay OpenAPI (`gateway.do`) as a client: every call signed RSA2 with
//! the merchant's application key, every answer verified over its raw
//! `…_response` node with the Alipay public key. Business outcomes are
//! read from Alipay's codes: `10000` success, `10003` waiting for the
//! buyer, `40004` with an `ACQ.…` sub-code a refusal.

use super::{
    bounded_text, send, unix_now_s, CodePayment, RefundStatus, TradeState, TradeStatus,
    WalletCallError,
};
use portcullis_wallets::alipay::{self as codec, RequestContext};
use portcullis_wallets::alipay_methods::{self as methods, Order};
use portcullis_wallets::amount::fen_of_yuan;
use portcullis_wallets::keys::{private_key_from_pem, public_key_from_pem};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use zeroize::Zeroizing;

const SUCCESS: &str = "10000";
const WAITING_FOR_BUYER: &str = "10003";
const TRADE_NOT_EXIST: &str = "ACQ.TRADE_NOT_EXIST";

/// A merchant's Alipay credentials, as its connector account holds them.
pub struct AlipayCredentials {
    pub app_id: String,
    /// The application private key (PEM, PKCS#8 or PKCS#1).
    pub private_key_pem: Zeroizing<String>,
    pub alipay_public_key_pem: String,
}

pub struct AlipayClient {
    http: reqwest::Client,
    /// Base URL; requests go to `{endpoint}/gateway.do`.
    endpoint: String,
    credentials: AlipayCredentials,
    notify_url: String,
    timeout: Duration,
}

impl AlipayClient {
    /// A client; the keys are checked now, so a bad account fails before
    /// anything is sent.
    pub fn new(
        http: reqwest::Client,
        endpoint: &str,
        credentials: AlipayCredentials,
        notify_url: &str,
        timeout: Duration,
    ) -> Result<Self, WalletCallError> {
        private_key_from_pem(&credentials.private_key_pem)?;
        public_key_from_pem(&credentials.alipay_public_key_pem)?;
        Ok(AlipayClient {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            credentials,
            notify_url: notify_url.to_owned(),
            timeout,
        })
    }

    fn signed(
        &self,
        method: &str,
        biz: &Value,
        return_url: Option<&str>,
    ) -> Result<BTreeMap<String, String>, WalletCallError> {
        let key = private_key_from_pem(&self.credentials.private_key_pem)?;
        let context = RequestContext {
            app_id: &self.credentials.app_id,
            now: unix_now_s(),
            notify_url: Some(&self.notify_url),
            return_url,
        };
        Ok(codec::signed_request(&key, &context, method, biz))
    }

    /// Calls `method`; the verified response node when Alipay answered
    /// `10000` or `10003`, its refusal otherwise.
    async fn call(&self, method: &str, biz: &Value) -> Result<Value, WalletCallError> {
        let params = self.signed(method, biz, None)?;
        let request = self
            .http
            .post(format!("{}{}", self.endpoint, codec::GATEWAY_PATH))
            .header(
                "content-type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(methods::encoded(&params));
        let answer = send(request, self.timeout).await?;
        if !answer.status().is_success() {
            return Err(WalletCallError::Malformed(format!(
                "HTTP {}",
                answer.status().as_u16()
            )));
        }
        let body = bounded_text(answer).await?;
        let key = public_key_from_pem(&self.credentials.alipay_public_key_pem)?;
        let node = codec::verify_response(&key, method, &body)
            .map_err(|e| WalletCallError::Unverified(e.to_string()))?;
        let code = node.get("code").and_then(Value::as_str).unwrap_or_default();
        if code == SUCCESS || code == WAITING_FOR_BUYER {
            return Ok(node);
        }
        let field = |name: &str| node.get(name).and_then(Value::as_str).map(str::to_owned);
        Err(WalletCallError::Refused {
            code: field("sub_code").unwrap_or_else(|| code.to_owned()),
            message: field("sub_msg")
                .or_else(|| field("msg"))
                .unwrap_or_default(),
        })
    }

    /// The URL the buyer's browser opens for page or wap pay.
    pub fn payment_url(
        &self,
        method: &str,
        order: &Order<'_>,
        return_url: Option<&str>,
    ) -> Result<String, WalletCallError> {
        let biz = methods::payment(method, order)?;
        let params = self.signed(method, &biz, return_url)?;
        Ok(methods::redirect_url(&self.endpoint, &params))
    }

    /// The signed order string the Alipay app SDK takes (app pay).
    pub fn app_order_string(&self, order: &Order<'_>) -> Result<String, WalletCallError> {
        let biz = methods::payment(methods::APP_PAY, order)?;
        Ok(methods::encoded(&self.signed(
            methods::APP_PAY,
            &biz,
            None,
        )?))
    }

    /// `alipay.trade.precreate`: the QR code's data.
    pub async fn precreate(&self, order: &Order<'_>) -> Result<String, WalletCallError> {
        let biz = methods::payment(methods::PRECREATE, order)?;
        let node = self.call(methods::PRECREATE, &biz).await?;
        text(&node, "qr_code")
    }

    /// `alipay.trade.query`.
    pub async fn query(&self, out_trade_no: &str) -> Result<TradeStatus, WalletCallError> {
        match self
            .call(methods::QUERY, &methods::by_trade(out_trade_no))
            .await
        {
            Ok(node) => trade_status(&node),
            Err(WalletCallError::Refused { code, .. }) if code == TRADE_NOT_EXIST => {
                Ok(TradeStatus::not_found())
            }
            Err(error) => Err(error),
        }
    }

    /// `alipay.trade.close`; a trade Alipay never created (an unscanned
    /// QR) is closed already.
    pub async fn close(&self, out_trade_no: &str) -> Result<(), WalletCallError> {
        match self
            .call(methods::CLOSE, &methods::by_trade(out_trade_no))
            .await
        {
            Ok(_) => Ok(()),
            Err(WalletCallError::Refused { code, .. }) if code == TRADE_NOT_EXIST => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// `alipay.trade.cancel`: closes, or refunds when the buyer had paid.
    pub async fn cancel(&self, out_trade_no: &str) -> Result<(), WalletCallError> {
        self.call(methods::CANCEL, &methods::by_trade(out_trade_no))
            .await
            .map(drop)
    }

    /// `alipay.trade.refund`, idempotent by `out_request_no`. Alipay
    /// says `fund_change: "Y"` when this call moved the money; `"N"` (a
    /// refund still in progress, or one asked again) is confirmed by
    /// [`Self::refund_query`], as Alipay's documents advise.
    pub async fn refund(
        &self,
        out_trade_no: &str,
        out_request_no: &str,
        amount_fen: i64,
    ) -> Result<RefundStatus, WalletCallError> {
        let biz = methods::refund(out_trade_no, out_request_no, amount_fen)?;
        let node = self.call(methods::REFUND, &biz).await?;
        text(&node, "refund_fee")?;
        Ok(RefundStatus {
            provider_refund_id: None,
            amount_fen,
            succeeded: node.get("fund_change").and_then(Value::as_str) == Some("Y"),
        })
    }

    /// `alipay.trade.fastpay.refund.query`: `None` when Alipay has no such
    /// refund (it answers success without `refund_amount`); a refund is
    /// done only with `refund_status: REFUND_SUCCESS` (Alipay leaves the
    /// field out of a refund not received or not finished).
    pub async fn refund_query(
        &self,
        out_trade_no: &str,
        out_request_no: &str,
    ) -> Result<Option<RefundStatus>, WalletCallError> {
        let biz = methods::refund_query(out_trade_no, out_request_no);
        let node = self.call(methods::REFUND_QUERY, &biz).await?;
        let Some(amount) = node.get("refund_amount").and_then(Value::as_str) else {
            return Ok(None);
        };
        let status = node.get("refund_status").and_then(Value::as_str);
        Ok(Some(RefundStatus {
            provider_refund_id: None,
            amount_fen: fen(amount)?,
            succeeded: status == Some("REFUND_SUCCESS"),
        }))
    }

    /// `alipay.trade.pay` with the buyer's payment code (`bar_code`).
    pub async fn pay_with_code(
        &self,
        order: &Order<'_>,
        auth_code: &str,
    ) -> Result<CodePayment, WalletCallError> {
        let biz = methods::pay_with_code(order, auth_code)?;
        match self.call(methods::PAY, &biz).await {
            Ok(node) if node.get("code").and_then(Value::as_str) == Some(WAITING_FOR_BUYER) => {
                Ok(CodePayment::Waiting)
            }
            Ok(node) => Ok(CodePayment::Paid(TradeStatus {
                state: TradeState::Paid,
                provider_trade_id: Some(text(&node, "trade_no")?),
                amount_fen: Some(fen(&text(&node, "total_amount")?)?),
                payer: buyer(|name| node.get(name).and_then(Value::as_str)),
            })),
            Err(WalletCallError::Refused { code, message }) => {
                Ok(CodePayment::Declined { code, message })
            }
            Err(error) => Err(error),
        }
    }
}

fn text(node: &Value, name: &str) -> Result<String, WalletCallError> {
    node.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| WalletCallError::Malformed(format!("no {name}")))
}

fn fen(yuan: &str) -> Result<i64, WalletCallError> {
    fen_of_yuan(yuan).map_err(|_| WalletCallError::Malformed("amount".into()))
}

/// A query's node as a [`TradeStatus`].
fn trade_status(node: &Value) -> Result<TradeStatus, WalletCallError> {
    let state = match text(node, "trade_status")?.as_str() {
        "WAIT_BUYER_PAY" => TradeState::Waiting,
        "TRADE_SUCCESS" | "TRADE_FINISHED" => TradeState::Paid,
        "TRADE_CLOSED" => TradeState::Closed,
        other => {
            return Err(WalletCallError::Malformed(format!(
                "unknown trade_status {other}"
            )))
        }
    };
    Ok(TradeStatus {
        state,
        provider_trade_id: node
            .get("trade_no")
            .and_then(Value::as_str)
            .map(str::to_owned),
        amount_fen: Some(fen(&text(node, "total_amount")?)?),
        payer: buyer(|name| node.get(name).and_then(Value::as_str)),
    })
}

/// Alipay's buyer in an answer or a notification (`field` reads one
/// parameter): its user id (`buyer_user_id` in answers, `buyer_id` in
/// notifications), else its masked logon id; `None` when none is given.
pub fn buyer<'a>(field: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
    ["buyer_user_id", "buyer_id", "buyer_logon_id"]
        .into_iter()
        .find_map(|name| field(name).filter(|v| !v.is_empty()))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::buyer;
    use std::collections::BTreeMap;

    fn buyer_of(fields: &[(&str, &str)]) -> Option<String> {
        let fields: BTreeMap<&str, &str> = fields.iter().copied().collect();
        buyer(|name| fields.get(name).copied())
    }

    #[test]
    fn the_buyer_is_its_user_id_else_its_logon_id_else_unknown() {
        let both = [
            ("buyer_logon_id", "sim***@example.com"),
            ("buyer_user_id", "2088000000000001"),
        ];
        assert_eq!(buyer_of(&both).as_deref(), Some("2088000000000001"));
        let notified = [("buyer_id", "2088000000000002")];
        assert_eq!(buyer_of(&notified).as_deref(), Some("2088000000000002"));
        let masked = [("buyer_user_id", ""), ("buyer_logon_id", "159****5620")];
        assert_eq!(buyer_of(&masked).as_deref(), Some("159****5620"));
        assert_eq!(buyer_of(&[("trade_no", "2026")]), None);
    }
}
