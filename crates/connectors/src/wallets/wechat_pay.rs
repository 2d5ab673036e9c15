//! WeChat Pay as a client: API v3 calls signed in the
//! `WECHATPAY2-SHA256-RSA2048` `Authorization` header and answered with
//! `Wechatpay-*` headers that must verify with the platform key (errors
//! included), and the v2 payment-code calls (`micropay`, `orderquery`,
//! `reverse`), XML signed with HMAC-SHA256 under the API v2 key.

use super::{
    bounded_text, send, unix_now_s, CodePayment, RefundStatus, TradeState, TradeStatus,
    WalletCallError,
};
use portcullis_wallets::keys::{private_key_from_pem, public_key_from_pem};
use portcullis_wallets::wechat_pay::{self as codec, Merchant, SignedHeaders};
use portcullis_wallets::wechat_pay_orders::{self as orders, Flow, Order};
use portcullis_wallets::wechat_v2;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use zeroize::Zeroizing;

/// A merchant's WeChat Pay credentials, as its connector account holds them.
pub struct WechatPayCredentials {
    pub mchid: String,
    pub appid: String,
    pub private_key_pem: Zeroizing<String>,
    pub certificate_serial: String,
    pub api_v3_key: Zeroizing<String>,
    pub platform_public_key_pem: String,
    pub platform_serial: String,
    /// Only for payment codes (v2 micropay).
    pub api_v2_key: Option<Zeroizing<String>>,
}

pub struct WechatPayClient {
    http: reqwest::Client,
    endpoint: String,
    credentials: WechatPayCredentials,
    notify_url: String,
    timeout: Duration,
}

/// What an order call gives the payer: a QR `code_url` (native), an
/// `h5_url` (mobile browser) or a `prepay_id` (app, JSAPI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prepared {
    CodeUrl(String),
    H5Url(String),
    PrepayId(String),
}

impl WechatPayClient {
    pub fn new(
        http: reqwest::Client,
        endpoint: &str,
        credentials: WechatPayCredentials,
        notify_url: &str,
        timeout: Duration,
    ) -> Result<Self, WalletCallError> {
        private_key_from_pem(&credentials.private_key_pem)?;
        public_key_from_pem(&credentials.platform_public_key_pem)?;
        Ok(WechatPayClient {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            credentials,
            notify_url: notify_url.to_owned(),
            timeout,
        })
    }

    pub fn appid(&self) -> &str {
        &self.credentials.appid
    }

    /// The signed parameters of `wx.requestPayment` for a JSAPI `prepay_id`.
    pub fn jsapi_parameters(&self, prepay_id: &str) -> Result<Value, WalletCallError> {
        let key = private_key_from_pem(&self.credentials.private_key_pem)?;
        Ok(codec::jsapi_pay_parameters(
            &key,
            &self.credentials.appid,
            prepay_id,
            unix_now_s(),
            &codec::nonce(),
        ))
    }

    /// The signed `PayReq` an app opens WeChat Pay with for an APP `prepay_id`.
    pub fn app_parameters(&self, prepay_id: &str) -> Result<Value, WalletCallError> {
        let key = private_key_from_pem(&self.credentials.private_key_pem)?;
        Ok(codec::app_pay_parameters(
            &key,
            &self.credentials.appid,
            &self.credentials.mchid,
            prepay_id,
            unix_now_s(),
            &codec::nonce(),
        ))
    }

    /// One v3 call; `(status, body)` of a verified 2xx answer, the
    /// provider's refusal (verified too) otherwise.
    async fn call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String), WalletCallError> {
        let body_text = body.map(Value::to_string).unwrap_or_default();
        let key = private_key_from_pem(&self.credentials.private_key_pem)?;
        let merchant = Merchant {
            mchid: &self.credentials.mchid,
            certificate_serial: &self.credentials.certificate_serial,
            key: &key,
        };
        let authorization = codec::authorization(
            &merchant,
            method.as_str(),
            path_and_query,
            unix_now_s(),
            &codec::nonce(),
            &body_text,
        );
        let mut request = self
            .http
            .request(method, format!("{}{path_and_query}", self.endpoint))
            .header("authorization", authorization)
            .header("accept", "application/json");
        if body.is_some() {
            request = request
                .header("content-type", "application/json")
                .body(body_text);
        }
        let answer = send(request, self.timeout).await?;
        let status = answer.status().as_u16();
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let headers = SignedHeaders {
            timestamp: header("wechatpay-timestamp"),
            nonce: header("wechatpay-nonce"),
            signature: header("wechatpay-signature"),
            serial: header("wechatpay-serial"),
        };
        let text = bounded_text(answer).await?;
        let platform = public_key_from_pem(&self.credentials.platform_public_key_pem)?;
        codec::verify_signed_message(
            &platform,
            &self.credentials.platform_serial,
            &headers,
            &text,
            unix_now_s(),
        )
        .map_err(|e| WalletCallError::Unverified(e.to_string()))?;
        if (200..300).contains(&status) {
            return Ok((status, text));
        }
        let refusal: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let field = |name: &str| {
            refusal
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        if status >= 500 {
            return Err(WalletCallError::Transport(format!(
                "HTTP {status} {}",
                field("code")
            )));
        }
        Err(WalletCallError::Refused {
            code: field("code"),
            message: field("message"),
        })
    }

    fn json(text: &str) -> Result<Value, WalletCallError> {
        serde_json::from_str(text).map_err(|_| WalletCallError::Malformed("not JSON".into()))
    }

    /// Places an order for `flow` (`time_expire` as RFC 3339).
    pub async fn order(
        &self,
        out_trade_no: &str,
        amount_fen: i64,
        description: &str,
        time_expire: &str,
        flow: &Flow<'_>,
    ) -> Result<Prepared, WalletCallError> {
        let order = Order {
            appid: &self.credentials.appid,
            mchid: &self.credentials.mchid,
            out_trade_no,
            amount_fen,
            description,
            notify_url: &self.notify_url,
            time_expire,
        };
        let (path, body) = orders::order(&order, flow)?;
        let (_, text) = self.call(reqwest::Method::POST, path, Some(&body)).await?;
        let answer = Self::json(&text)?;
        let field = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_owned);
        let prepared = match flow {
            Flow::Native => field("code_url").map(Prepared::CodeUrl),
            Flow::H5 { .. } => field("h5_url").map(Prepared::H5Url),
            Flow::App | Flow::Jsapi { .. } => field("prepay_id").map(Prepared::PrepayId),
        };
        prepared
            .ok_or_else(|| WalletCallError::Malformed("no code_url, h5_url or prepay_id".into()))
    }

    /// Queries an order by our id.
    pub async fn query(&self, out_trade_no: &str) -> Result<TradeStatus, WalletCallError> {
        let path = orders::query_path(out_trade_no, &self.credentials.mchid);
        match self.call(reqwest::Method::GET, &path, None).await {
            Ok((_, text)) => transaction_status(&Self::json(&text)?),
            Err(WalletCallError::Refused { code, .. }) if code == "ORDER_NOT_EXIST" => {
                Ok(TradeStatus::not_found())
            }
            Err(error) => Err(error),
        }
    }

    /// Closes an unpaid order.
    pub async fn close(&self, out_trade_no: &str) -> Result<(), WalletCallError> {
        let body = json!({ "mchid": self.credentials.mchid });
        self.call(
            reqwest::Method::POST,
            &orders::close_path(out_trade_no),
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// A domestic refund, idempotent by `out_refund_no`.
    pub async fn refund(
        &self,
        out_trade_no: &str,
        out_refund_no: &str,
        refund_fen: i64,
        total_fen: i64,
    ) -> Result<RefundStatus, WalletCallError> {
        let body = orders::refund(
            out_trade_no,
            out_refund_no,
            refund_fen,
            total_fen,
            &self.notify_url,
        )?;
        let (_, text) = self
            .call(reqwest::Method::POST, orders::REFUNDS_PATH, Some(&body))
            .await?;
        refund_status(&Self::json(&text)?)
    }

    /// A refund by our id; `None` when WeChat Pay has none.
    pub async fn refund_query(
        &self,
        out_refund_no: &str,
    ) -> Result<Option<RefundStatus>, WalletCallError> {
        let path = orders::refund_query_path(out_refund_no);
        match self.call(reqwest::Method::GET, &path, None).await {
            Ok((_, text)) => refund_status(&Self::json(&text)?).map(Some),
            Err(WalletCallError::Refused { code, .. }) if code == "RESOURCE_NOT_EXISTS" => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// One v2 call: the verified answer's fields when `return_code` is
    /// SUCCESS, a refusal otherwise.
    async fn v2(
        &self,
        path: &str,
        mut fields: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, WalletCallError> {
        let key = self
            .credentials
            .api_v2_key
            .as_ref()
            .ok_or_else(|| WalletCallError::Invalid("the account has no api_v2_key".into()))?;
        fields.insert("appid".into(), self.credentials.appid.clone());
        fields.insert("mch_id".into(), self.credentials.mchid.clone());
        fields.insert("nonce_str".into(), codec::nonce());
        let body = wechat_v2::to_xml(&wechat_v2::signed(key, fields));
        let request = self
            .http
            .post(format!("{}{path}", self.endpoint))
            .header("content-type", "text/xml; charset=utf-8")
            .body(body);
        let answer = send(request, self.timeout).await?;
        let text = bounded_text(answer).await?;
        let fields =
            wechat_v2::from_xml(&text).map_err(|e| WalletCallError::Malformed(e.to_string()))?;
        if fields.get("return_code").map(String::as_str) != Some("SUCCESS") {
            return Err(WalletCallError::Refused {
                code: "FAIL".into(),
                message: fields.get("return_msg").cloned().unwrap_or_default(),
            });
        }
        wechat_v2::verify(key, &fields).map_err(|e| WalletCallError::Unverified(e.to_string()))?;
        Ok(fields)
    }

    /// v2 `micropay` with the buyer's payment code.
    pub async fn micropay(
        &self,
        out_trade_no: &str,
        amount_fen: i64,
        description: &str,
        auth_code: &str,
        client_ip: &str,
    ) -> Result<CodePayment, WalletCallError> {
        let fields = BTreeMap::from([
            ("body".to_owned(), description.to_owned()),
            ("out_trade_no".to_owned(), out_trade_no.to_owned()),
            ("total_fee".to_owned(), amount_fen.to_string()),
            ("spbill_create_ip".to_owned(), client_ip.to_owned()),
            ("auth_code".to_owned(), auth_code.to_owned()),
        ]);
        let answer = self.v2(wechat_v2::MICROPAY_PATH, fields).await?;
        let field = |name: &str| answer.get(name).cloned().unwrap_or_default();
        if field("result_code") == "SUCCESS" {
            return Ok(CodePayment::Paid(v2_status(&answer, TradeState::Paid)?));
        }
        match field("err_code").as_str() {
            "USERPAYING" => Ok(CodePayment::Waiting),
            // Unknown outcomes: WeChat asks the merchant to query.
            "SYSTEMERROR" | "BANKERROR" => Err(WalletCallError::Transport(field("err_code"))),
            code => Ok(CodePayment::Declined {
                code: code.to_owned(),
                message: field("err_code_des"),
            }),
        }
    }

    /// v2 `orderquery` (the polling of a payment code).
    pub async fn orderquery(&self, out_trade_no: &str) -> Result<TradeStatus, WalletCallError> {
        let fields = BTreeMap::from([("out_trade_no".to_owned(), out_trade_no.to_owned())]);
        let answer = self.v2(wechat_v2::ORDERQUERY_PATH, fields).await?;
        if answer.get("result_code").map(String::as_str) != Some("SUCCESS") {
            if answer.get("err_code").map(String::as_str) == Some("ORDERNOTEXIST") {
                return Ok(TradeStatus::not_found());
            }
            return Err(WalletCallError::Transport(
                answer.get("err_code").cloned().unwrap_or_default(),
            ));
        }
        let state = trade_state(
            answer
                .get("trade_state")
                .map(String::as_str)
                .unwrap_or_default(),
        )?;
        v2_status(&answer, state)
    }

    /// v2 `reverse`: cancels a payment code's order, refunding it if paid.
    pub async fn reverse(&self, out_trade_no: &str) -> Result<(), WalletCallError> {
        let fields = BTreeMap::from([("out_trade_no".to_owned(), out_trade_no.to_owned())]);
        let answer = self.v2(wechat_v2::REVERSE_PATH, fields).await?;
        match (
            answer.get("result_code").map(String::as_str),
            answer.get("recall").map(String::as_str),
        ) {
            (Some("SUCCESS"), _) => Ok(()),
            (_, Some("Y")) => Err(WalletCallError::Transport("reverse must be retried".into())),
            _ => Err(WalletCallError::Refused {
                code: answer.get("err_code").cloned().unwrap_or_default(),
                message: answer.get("err_code_des").cloned().unwrap_or_default(),
            }),
        }
    }
}

fn trade_state(text: &str) -> Result<TradeState, WalletCallError> {
    Ok(match text {
        "SUCCESS" => TradeState::Paid,
        "REFUND" => TradeState::Refunded,
        "NOTPAY" => TradeState::Waiting,
        "USERPAYING" => TradeState::UserPaying,
        "CLOSED" | "REVOKED" => TradeState::Closed,
        "PAYERROR" => TradeState::Failed,
        other => {
            return Err(WalletCallError::Malformed(format!(
                "unknown trade_state {other}"
            )))
        }
    })
}

/// A v3 transaction (query answer or decrypted notification) as a status.
pub fn transaction_status(transaction: &Value) -> Result<TradeStatus, WalletCallError> {
    let state = trade_state(
        transaction
            .get("trade_state")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )?;
    Ok(TradeStatus {
        state,
        provider_trade_id: transaction
            .get("transaction_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        amount_fen: transaction.pointer("/amount/total").and_then(Value::as_i64),
        payer: transaction
            .pointer("/payer/openid")
            .and_then(Value::as_str)
            .filter(|openid| !openid.is_empty())
            .map(str::to_owned),
    })
}

fn v2_status(
    answer: &BTreeMap<String, String>,
    state: TradeState,
) -> Result<TradeStatus, WalletCallError> {
    let amount_fen = answer
        .get("total_fee")
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| WalletCallError::Malformed("total_fee".into()))
        })
        .transpose()?;
    Ok(TradeStatus {
        state,
        provider_trade_id: answer.get("transaction_id").cloned(),
        amount_fen,
        payer: answer
            .get("openid")
            .filter(|openid| !openid.is_empty())
            .cloned(),
    })
}

fn refund_status(refund: &Value) -> Result<RefundStatus, WalletCallError> {
    let amount_fen = refund
        .pointer("/amount/refund")
        .and_then(Value::as_i64)
        .ok_or_else(|| WalletCallError::Malformed("no amount.refund".into()))?;
    let status = refund
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match status {
        "SUCCESS" | "PROCESSING" => Ok(RefundStatus {
            provider_refund_id: refund
                .get("refund_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            amount_fen,
            succeeded: status == "SUCCESS",
        }),
        other => Err(WalletCallError::Refused {
            code: other.to_owned(),
            message: "refund not accepted".into(),
        }),
    }
}
