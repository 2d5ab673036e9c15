//! The `biz_content` of the Alipay trade methods Portcullis calls, and the
//! forms in which a signed request leaves us: a form POST to `gateway.do`
//! (precreate, pay, query, close, cancel, refund, refund query), a URL the
//! buyer's browser opens (page and wap pay), or an order string handed to
//! the app SDK (app pay). Amounts are yuan text converted exactly from fen.

use crate::amount::yuan_text;
use crate::WalletError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const PAGE_PAY: &str = "alipay.trade.page.pay";
pub const WAP_PAY: &str = "alipay.trade.wap.pay";
pub const PRECREATE: &str = "alipay.trade.precreate";
pub const APP_PAY: &str = "alipay.trade.app.pay";
pub const PAY: &str = "alipay.trade.pay";
pub const QUERY: &str = "alipay.trade.query";
pub const CLOSE: &str = "alipay.trade.close";
pub const CANCEL: &str = "alipay.trade.cancel";
pub const REFUND: &str = "alipay.trade.refund";
pub const REFUND_QUERY: &str = "alipay.trade.fastpay.refund.query";

/// What is bought: our intent id as `out_trade_no`, the amount in fen,
/// the subject shown to the buyer, and the Alipay `timeout_express`
/// (whole minutes, `"15m"`).
pub struct Order<'a> {
    pub out_trade_no: &'a str,
    pub amount_fen: i64,
    pub subject: &'a str,
    pub timeout_minutes: i64,
}

/// The `product_code` each payment method requires.
pub fn product_code(method: &str) -> Option<&'static str> {
    match method {
        PAGE_PAY => Some("FAST_INSTANT_TRADE_PAY"),
        WAP_PAY => Some("QUICK_WAP_WAY"),
        APP_PAY => Some("QUICK_MSECURITY_PAY"),
        PRECREATE | PAY => Some("FACE_TO_FACE_PAYMENT"),
        _ => None,
    }
}

/// The `biz_content` of a payment call: page, wap, app pay or precreate.
pub fn payment(method: &str, order: &Order<'_>) -> Result<Value, WalletError> {
    let code = product_code(method)
        .ok_or_else(|| WalletError::Malformed(format!("{method} is not a payment method")))?;
    if order.timeout_minutes < 1 {
        return Err(WalletError::Malformed(
            "timeout_express must be at least 1m".into(),
        ));
    }
    Ok(json!({
        "out_trade_no": order.out_trade_no,
        "total_amount": yuan_text(order.amount_fen)?,
        "subject": order.subject,
        "product_code": code,
        "timeout_express": format!("{}m", order.timeout_minutes),
    }))
}

/// The `biz_content` of `alipay.trade.pay` with a buyer's payment code.
pub fn pay_with_code(order: &Order<'_>, auth_code: &str) -> Result<Value, WalletError> {
    let mut biz = payment(PAY, order)?;
    biz["scene"] = json!("bar_code");
    biz["auth_code"] = json!(auth_code);
    Ok(biz)
}

/// The `biz_content` of query, close and cancel: the trade by our id.
pub fn by_trade(out_trade_no: &str) -> Value {
    json!({ "out_trade_no": out_trade_no })
}

/// The `biz_content` of a (partial) refund; `out_request_no` (our refund
/// id) makes a repeated call the same refund.
pub fn refund(
    out_trade_no: &str,
    out_request_no: &str,
    amount_fen: i64,
) -> Result<Value, WalletError> {
    Ok(json!({
        "out_trade_no": out_trade_no,
        "out_request_no": out_request_no,
        "refund_amount": yuan_text(amount_fen)?,
    }))
}

/// The `biz_content` of `alipay.trade.fastpay.refund.query`.
pub fn refund_query(out_trade_no: &str, out_request_no: &str) -> Value {
    json!({ "out_trade_no": out_trade_no, "out_request_no": out_request_no })
}

/// The signed parameters URL-encoded as one string (`k=v&…`): the body of
/// a form POST, the query of a page/wap pay URL, or the app SDK's order string.
pub fn encoded(params: &BTreeMap<String, String>) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v);
    }
    form.finish()
}

/// The URL the buyer's browser opens for page or wap pay.
pub fn redirect_url(endpoint: &str, params: &BTreeMap<String, String>) -> String {
    format!(
        "{}{}?{}",
        endpoint.trim_end_matches('/'),
        crate::alipay::GATEWAY_PATH,
        encoded(params)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order<'static> {
        Order {
            out_trade_no: "pi_1",
            amount_fen: 1205,
            subject: "Tea & cake",
            timeout_minutes: 15,
        }
    }

    #[test]
    fn payments_carry_exact_yuan_and_their_product_code() {
        let biz = payment(PRECREATE, &order()).unwrap();
        assert_eq!(biz["total_amount"], "12.05");
        assert_eq!(biz["product_code"], "FACE_TO_FACE_PAYMENT");
        assert_eq!(biz["timeout_express"], "15m");
        assert_eq!(
            payment(PAGE_PAY, &order()).unwrap()["product_code"],
            "FAST_INSTANT_TRADE_PAY"
        );
        assert_eq!(
            payment(WAP_PAY, &order()).unwrap()["product_code"],
            "QUICK_WAP_WAY"
        );
        assert_eq!(
            payment(APP_PAY, &order()).unwrap()["product_code"],
            "QUICK_MSECURITY_PAY"
        );
        assert!(payment(QUERY, &order()).is_err());
        let coded = pay_with_code(&order(), "287654321098765432").unwrap();
        assert_eq!(coded["scene"], "bar_code");
        assert_eq!(coded["auth_code"], "287654321098765432");
        assert_eq!(refund("pi_1", "re_1", 5).unwrap()["refund_amount"], "0.05");
        assert!(refund("pi_1", "re_1", -5).is_err());
    }

    #[test]
    fn redirect_urls_encode_every_parameter() {
        let params: BTreeMap<String, String> = [
            (
                "biz_content".to_owned(),
                "{\"subject\":\"Tea & cake\"}".to_owned(),
            ),
            ("sign".to_owned(), "a+b/c=".to_owned()),
        ]
        .into();
        let url = redirect_url("https://openapi.alipay.com/", &params);
        assert_eq!(
            url,
            "https://openapi.alipay.com/gateway.do?biz_content=%7B%22subject%22%3A%22Tea+%26+cake%22%7D&sign=a%2Bb%2Fc%3D"
        );
    }
}
