//! WeChat Pay API v2 payment codes in the simulator: `micropay`,
//! `orderquery` and `reverse`, flat XML signed with HMAC-SHA256 under the
//! API v2 key (requests checked, answers signed). The code's last digit
//! picks what the buyer does (see [`CodeBehaviour::of_code`]); a code that
//! waits answers `USERPAYING` until queried or reversed. Micropay sends no
//! notification (WeChat Pay's v2 micropay takes no notify URL).
//!
//! The real `reverse` also requires the merchant's client certificate
//! (mutual TLS); the simulator, on plain HTTP, does not.

use super::book::{CodeBehaviour, Provider, Trade, TradeState};
use super::{now_s, numbered, SharedSim};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use portcullis_wallets::payment_codes::{provider_of, CodeProvider};
use portcullis_wallets::wechat_v2::{self as codec, MICROPAY_PATH, ORDERQUERY_PATH, REVERSE_PATH};
use std::collections::BTreeMap;

pub fn routes() -> Router<SharedSim> {
    Router::new()
        .route(MICROPAY_PATH, post(micropay))
        .route(ORDERQUERY_PATH, post(orderquery))
        .route(REVERSE_PATH, post(reverse))
}

type Fields = BTreeMap<String, String>;

fn xml(fields: Fields) -> Response {
    (
        [("content-type", "text/xml; charset=utf-8")],
        codec::to_xml(&fields),
    )
        .into_response()
}

/// An unsigned `return_code=FAIL` answer: the request itself was refused.
fn refused(message: &str) -> Response {
    xml(Fields::from([
        ("return_code".to_owned(), "FAIL".to_owned()),
        ("return_msg".to_owned(), message.to_owned()),
    ]))
}

/// A signed answer carrying `fields` (with `result_code`).
fn answer(sim: &SharedSim, mut fields: Fields) -> Response {
    let keys = &sim.keys.wechat;
    fields.insert("return_code".to_owned(), "SUCCESS".to_owned());
    fields.insert("return_msg".to_owned(), "OK".to_owned());
    fields.insert("appid".to_owned(), keys.appid.clone());
    fields.insert("mch_id".to_owned(), keys.mchid.clone());
    fields.insert(
        "nonce_str".to_owned(),
        portcullis_wallets::wechat_pay::nonce(),
    );
    xml(codec::signed(&keys.api_v2_key, fields))
}

fn result(code: &str, err: Option<(&str, &str)>) -> Fields {
    let mut fields = Fields::from([("result_code".to_owned(), code.to_owned())]);
    if let Some((err_code, description)) = err {
        fields.insert("err_code".to_owned(), err_code.to_owned());
        fields.insert("err_code_des".to_owned(), description.to_owned());
    }
    fields
}

/// The request's fields when its signature, appid and mch_id are right;
/// otherwise the `return_msg` of the refusal.
fn authenticate(sim: &SharedSim, body: &str) -> Result<Fields, &'static str> {
    let fields = codec::from_xml(body).map_err(|_| "XML格式错误")?;
    let keys = &sim.keys.wechat;
    if fields.get("appid") != Some(&keys.appid) || fields.get("mch_id") != Some(&keys.mchid) {
        return Err("appid和mch_id不匹配");
    }
    if fields.get("sign_type").is_some_and(|t| t != "HMAC-SHA256") {
        return Err("签名类型错误");
    }
    codec::verify(&keys.api_v2_key, &fields).map_err(|_| "签名错误")?;
    Ok(fields)
}

fn paid_fields(trade: &Trade) -> Fields {
    let mut fields = Fields::new();
    let put = |fields: &mut Fields, k: &str, v: String| {
        fields.insert(k.to_owned(), v);
    };
    put(&mut fields, "out_trade_no", trade.out_trade_no.clone());
    put(&mut fields, "total_fee", trade.amount_fen.to_string());
    put(&mut fields, "fee_type", "CNY".to_owned());
    put(&mut fields, "trade_type", "MICROPAY".to_owned());
    if let Some(paid) = trade.paid_s {
        put(&mut fields, "transaction_id", trade.trade_no.clone());
        put(&mut fields, "cash_fee", trade.amount_fen.to_string());
        put(&mut fields, "bank_type", "OTHERS".to_owned());
        put(
            &mut fields,
            "openid",
            "oSimPayer000000000000000000".to_owned(),
        );
        let local = portcullis_wallets::shanghai_time::format(paid);
        put(&mut fields, "time_end", local.replace(['-', ' ', ':'], ""));
    }
    fields
}

async fn micropay(State(sim): State<SharedSim>, body: String) -> Response {
    let fields = match authenticate(&sim, &body) {
        Ok(fields) => fields,
        Err(message) => return refused(message),
    };
    let field = |name: &str| {
        fields
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let (Some(out_trade_no), Some(description), Some(total_fee), Some(auth_code)) = (
        field("out_trade_no"),
        field("body"),
        field("total_fee"),
        field("auth_code"),
    ) else {
        return answer(&sim, result("FAIL", Some(("PARAM_ERROR", "参数错误"))));
    };
    let Some(amount_fen) = total_fee.parse::<i64>().ok().filter(|f| *f >= 1) else {
        return answer(
            &sim,
            result("FAIL", Some(("PARAM_ERROR", "total_fee 错误"))),
        );
    };
    if provider_of(auth_code) != Some(CodeProvider::WechatPay) {
        return answer(
            &sim,
            result("FAIL", Some(("AUTH_CODE_INVALID", "授权码检验错误"))),
        );
    }
    if let Some(existing) = sim.book.lock().get(Provider::WechatPay, out_trade_no) {
        let err = match existing.state {
            TradeState::Success => ("ORDERPAID", "订单已支付"),
            _ => ("OUT_TRADE_NO_USED", "商户订单号重复"),
        };
        return answer(&sim, result("FAIL", Some(err)));
    }
    let behaviour = CodeBehaviour::of_code(auth_code);
    let (state, paid_s) = match behaviour {
        CodeBehaviour::Pays => (TradeState::Success, Some(now_s())),
        CodeBehaviour::Declines => (TradeState::Declined, None),
        CodeBehaviour::PaysAfterWaiting | CodeBehaviour::WaitsForever => {
            (TradeState::UserPaying, None)
        }
    };
    let trade = Trade {
        provider: Provider::WechatPay,
        out_trade_no: out_trade_no.to_owned(),
        trade_no: numbered("42000", 23),
        token: super::token(),
        amount_fen,
        subject: description.to_owned(),
        notify_url: None,
        return_url: None,
        scanned: true,
        kind: "MICROPAY".to_owned(),
        state,
        created_s: now_s(),
        expires_s: None,
        paid_s,
        openid: None,
        code: Some(behaviour),
        queries: 0,
        refunds: Vec::new(),
        notifications_sent: 0,
        notifications_acknowledged: 0,
    };
    if sim.book.lock().put(trade.clone()).is_err() {
        return answer(&sim, result("FAIL", Some(("SYSTEMERROR", "系统错误"))));
    }
    let mut fields = match state {
        TradeState::Success => result("SUCCESS", None),
        TradeState::Declined => result("FAIL", Some(("NOTENOUGH", "余额不足"))),
        _ => result("FAIL", Some(("USERPAYING", "需要用户输入支付密码"))),
    };
    fields.extend(paid_fields(&trade));
    answer(&sim, fields)
}

fn v2_trade_state(trade: &Trade) -> &'static str {
    super::wechat::trade_state(trade)
}

async fn orderquery(State(sim): State<SharedSim>, body: String) -> Response {
    let fields = match authenticate(&sim, &body) {
        Ok(fields) => fields,
        Err(message) => return refused(message),
    };
    let out_trade_no = match (fields.get("out_trade_no"), fields.get("transaction_id")) {
        (Some(out_trade_no), _) => Some(out_trade_no.clone()),
        (None, Some(id)) => sim
            .book
            .lock()
            .by_trade_no(Provider::WechatPay, id)
            .map(|t| t.out_trade_no.clone()),
        (None, None) => None,
    };
    let trade =
        out_trade_no.and_then(|n| super::wechat::after_query(&sim, Provider::WechatPay, &n));
    let Some(trade) = trade else {
        return answer(
            &sim,
            result("FAIL", Some(("ORDERNOTEXIST", "此交易订单号不存在"))),
        );
    };
    let mut fields = result("SUCCESS", None);
    fields.extend(paid_fields(&trade));
    fields.insert("trade_state".to_owned(), v2_trade_state(&trade).to_owned());
    answer(&sim, fields)
}

async fn reverse(State(sim): State<SharedSim>, body: String) -> Response {
    let fields = match authenticate(&sim, &body) {
        Ok(fields) => fields,
        Err(message) => return refused(message),
    };
    let Some(out_trade_no) = fields.get("out_trade_no") else {
        return answer(
            &sim,
            result("FAIL", Some(("PARAM_ERROR", "out_trade_no 必填"))),
        );
    };
    let mut book = sim.book.lock();
    let Some(mut trade) = book.get(Provider::WechatPay, out_trade_no).cloned() else {
        return answer(&sim, result("FAIL", Some(("ORDERNOTEXIST", "订单不存在"))));
    };
    if trade.state == TradeState::Success {
        trade.refund_the_rest("reverse", numbered("50000", 24), now_s());
    }
    trade.state = TradeState::Reversed;
    if book.put(trade).is_err() {
        return answer(&sim, result("FAIL", Some(("SYSTEMERROR", "系统错误"))));
    }
    drop(book);
    let mut fields = result("SUCCESS", None);
    fields.insert("recall".to_owned(), "N".to_owned());
    answer(&sim, fields)
}
