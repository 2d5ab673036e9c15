//! The JSON bodies of the WeChat Pay v3 calls Portcullis makes, with the
//! amount in fen (`total`, integer) and `currency` CNY: orders for the
//! native (QR), H5, app and JSAPI flows, close, and domestic refunds.

use crate::WalletError;
use serde_json::{json, Value};

pub const NATIVE_PATH: &str = "/v3/pay/transactions/native";
pub const H5_PATH: &str = "/v3/pay/transactions/h5";
pub const APP_PATH: &str = "/v3/pay/transactions/app";
pub const JSAPI_PATH: &str = "/v3/pay/transactions/jsapi";
pub const REFUNDS_PATH: &str = "/v3/refund/domestic/refunds";

/// The path that queries an order by our id for `mchid`.
pub fn query_path(out_trade_no: &str, mchid: &str) -> String {
    format!("/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={mchid}")
}

/// The path that closes an order (POST with `{"mchid": …}`).
pub fn close_path(out_trade_no: &str) -> String {
    format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close")
}

/// The path that queries a refund by our refund id.
pub fn refund_query_path(out_refund_no: &str) -> String {
    format!("{REFUNDS_PATH}/{out_refund_no}")
}

/// How the payer pays: each flow adds its own fields to the order.
pub enum Flow<'a> {
    Native,
    /// H5 in a mobile browser: the payer's IP is required.
    H5 {
        payer_client_ip: &'a str,
    },
    App,
    /// JSAPI inside WeChat: the payer's `openid` under our `appid`.
    Jsapi {
        openid: &'a str,
    },
}

/// An order: our intent id, amount in fen, description, notify URL and
/// `time_expire` (RFC 3339 with offset, e.g. `2025-12-05T10:15:00+08:00`).
pub struct Order<'a> {
    pub appid: &'a str,
    pub mchid: &'a str,
    pub out_trade_no: &'a str,
    pub amount_fen: i64,
    pub description: &'a str,
    pub notify_url: &'a str,
    pub time_expire: &'a str,
}

/// The path and body of the order call for `flow`.
pub fn order(order: &Order<'_>, flow: &Flow<'_>) -> Result<(&'static str, Value), WalletError> {
    if order.amount_fen < 1 {
        return Err(WalletError::Amount);
    }
    let mut body = json!({
        "appid": order.appid,
        "mchid": order.mchid,
        "description": order.description,
        "out_trade_no": order.out_trade_no,
        "time_expire": order.time_expire,
        "notify_url": order.notify_url,
        "amount": { "total": order.amount_fen, "currency": "CNY" },
    });
    let path = match flow {
        Flow::Native => NATIVE_PATH,
        Flow::App => APP_PATH,
        Flow::H5 { payer_client_ip } => {
            body["scene_info"] = json!({
                "payer_client_ip": payer_client_ip,
                "h5_info": { "type": "Wap" },
            });
            H5_PATH
        }
        Flow::Jsapi { openid } => {
            body["payer"] = json!({ "openid": openid });
            JSAPI_PATH
        }
    };
    Ok((path, body))
}

/// The body of a (partial) refund of `total_fen` by `refund_fen`.
pub fn refund(
    out_trade_no: &str,
    out_refund_no: &str,
    refund_fen: i64,
    total_fen: i64,
    notify_url: &str,
) -> Result<Value, WalletError> {
    if refund_fen < 1 || refund_fen > total_fen {
        return Err(WalletError::Amount);
    }
    Ok(json!({
        "out_trade_no": out_trade_no,
        "out_refund_no": out_refund_no,
        "notify_url": notify_url,
        "amount": { "refund": refund_fen, "total": total_fen, "currency": "CNY" },
    }))
}

/// `unix_s` as RFC 3339 in China Standard Time, for `time_expire`.
pub fn time_expire(unix_s: i64) -> String {
    let local = crate::shanghai_time::format(unix_s).replace(' ', "T");
    format!("{local}+08:00")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Order<'static> {
        Order {
            appid: "wxd678efh567hg6787",
            mchid: "1900009191",
            out_trade_no: "pi_1",
            amount_fen: 1234,
            description: "Tea",
            notify_url: "https://pay.shop.example/notify/wechat_pay/ca_1",
            time_expire: "2025-12-05T10:15:00+08:00",
        }
    }

    #[test]
    fn each_flow_has_its_path_and_fields() {
        let (path, body) = order(&sample(), &Flow::Native).unwrap();
        assert_eq!(path, NATIVE_PATH);
        assert_eq!(body["amount"], json!({"total": 1234, "currency": "CNY"}));
        let (path, body) = order(
            &sample(),
            &Flow::H5 {
                payer_client_ip: "203.0.113.9",
            },
        )
        .unwrap();
        assert_eq!(path, H5_PATH);
        assert_eq!(body["scene_info"]["h5_info"]["type"], "Wap");
        let (path, body) = order(
            &sample(),
            &Flow::Jsapi {
                openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            },
        )
        .unwrap();
        assert_eq!(path, JSAPI_PATH);
        assert_eq!(body["payer"]["openid"], "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
        assert_eq!(order(&sample(), &Flow::App).unwrap().0, APP_PATH);
        let free = Order {
            amount_fen: 0,
            ..sample()
        };
        assert_eq!(
            order(&free, &Flow::Native).unwrap_err(),
            WalletError::Amount
        );
    }

    #[test]
    fn refunds_and_paths() {
        let body = refund("pi_1", "re_1", 100, 1234, "https://x/notify").unwrap();
        assert_eq!(
            body["amount"],
            json!({"refund": 100, "total": 1234, "currency": "CNY"})
        );
        assert!(refund("pi_1", "re_1", 1235, 1234, "https://x/notify").is_err());
        assert_eq!(
            query_path("pi_1", "1900009191"),
            "/v3/pay/transactions/out-trade-no/pi_1?mchid=1900009191"
        );
        assert_eq!(
            close_path("pi_1"),
            "/v3/pay/transactions/out-trade-no/pi_1/close"
        );
        assert_eq!(time_expire(0), "1970-01-01T08:00:00+08:00");
    }
}
