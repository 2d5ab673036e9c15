//! Alipay's `gateway.do` in the simulator: every request's RSA2 `sign` is
//! checked with the merchant's application public key, every JSON answer is
//! signed over its `…_response` node with the simulator's Alipay key, and
//! business outcomes use Alipay's codes (`10000` success, `10003` waiting
//! for the buyer, `40002` invalid arguments, `40004` business failure with
//! an `ACQ.…` sub-code).

use super::book::{CodeBehaviour, Provider, RefundRecord, Trade, TradeState};
use super::notify::{self, Event, Message, NotifyFault, Shape};
use super::{now_s, numbered, token, SharedSim};
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use portcullis_wallets::alipay::{self as codec, GATEWAY_PATH};
use portcullis_wallets::alipay_methods as methods;
use portcullis_wallets::amount::{fen_of_yuan, yuan_text};
use portcullis_wallets::keys::{private_key_from_pem, public_key_from_pem};
use portcullis_wallets::payment_codes::{provider_of, CodeProvider};
use portcullis_wallets::shanghai_time;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The largest amount Alipay takes in one trade: 100,000,000.00 yuan.
const AMOUNT_FEN_MAX: i64 = 10_000_000_000;
const OUT_TRADE_NO_CHARS_MAX: usize = 64;

pub fn routes() -> Router<SharedSim> {
    Router::new().route(GATEWAY_PATH, get(gateway).post(gateway))
}

/// A refused call: Alipay's `code`, `msg`, `sub_code`, `sub_msg`.
struct Refusal(Value);

fn invalid(sub_code: &str, sub_msg: &str) -> Refusal {
    Refusal(
        json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}),
    )
}

fn business(sub_code: &str, sub_msg: &str) -> Refusal {
    Refusal(
        json!({"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}),
    )
}

fn success(mut fields: Value) -> Value {
    fields["code"] = json!("10000");
    fields["msg"] = json!("Success");
    fields
}

type Outcome = Result<Value, Refusal>;

async fn gateway(
    State(sim): State<SharedSim>,
    RawQuery(raw_query): RawQuery,
    body: String,
) -> Response {
    let mut params = BTreeMap::new();
    for source in [raw_query.unwrap_or_default(), body] {
        for (k, v) in form_urlencoded::parse(source.as_bytes()) {
            params.insert(k.into_owned(), v.into_owned());
        }
    }
    let method = params.get("method").cloned().unwrap_or_default();
    if let Err(Refusal(node)) = authenticate(&sim, &params) {
        return answer(&sim, &method, node);
    }
    let biz: Value = match params.get("biz_content").map(|b| serde_json::from_str(b)) {
        Some(Ok(biz @ Value::Object(_))) => biz,
        _ => {
            let Refusal(node) = invalid(
                "isv.invalid-biz-content",
                "biz_content is not a JSON object",
            );
            return answer(&sim, &method, node);
        }
    };
    let outcome = match method.as_str() {
        methods::PAGE_PAY | methods::WAP_PAY | methods::APP_PAY => {
            return match create(&sim, &params, &biz, &method) {
                Ok(trade) => super::customer::page(&trade),
                Err(Refusal(node)) => answer(&sim, &method, node),
            };
        }
        methods::PRECREATE => precreate(&sim, &params, &biz),
        methods::PAY => pay_with_code(&sim, &params, &biz),
        methods::QUERY => query(&sim, &biz),
        methods::CLOSE => close(&sim, &biz),
        methods::CANCEL => cancel(&sim, &biz),
        methods::REFUND => refund(&sim, &biz),
        methods::REFUND_QUERY => refund_query(&sim, &biz),
        _ => {
            let node = json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-method", "sub_msg": "unknown method"});
            let body = json!({ "error_response": node }).to_string();
            return json_answer(body);
        }
    };
    answer(&sim, &method, outcome.unwrap_or_else(|Refusal(node)| node))
}

fn json_answer(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        body,
    )
        .into_response()
}

fn answer(sim: &SharedSim, method: &str, node: Value) -> Response {
    match private_key_from_pem(&sim.keys.alipay.alipay_private_key) {
        Ok(key) => json_answer(codec::signed_response(&key, method, &node)),
        Err(_) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "key").into_response(),
    }
}

fn authenticate(sim: &SharedSim, params: &BTreeMap<String, String>) -> Result<(), Refusal> {
    let keys = &sim.keys.alipay;
    if params.get("app_id") != Some(&keys.app_id) {
        return Err(invalid("isv.invalid-app-id", "无效的AppID参数"));
    }
    for (name, expected) in [
        ("charset", "utf-8"),
        ("version", "1.0"),
        ("sign_type", "RSA2"),
    ] {
        if params.get(name).map(String::as_str) != Some(expected) {
            return Err(invalid(
                &format!("isv.invalid-{name}"),
                &format!("{name} must be {expected}"),
            ));
        }
    }
    if params
        .get("format")
        .is_some_and(|f| !f.eq_ignore_ascii_case("JSON"))
    {
        return Err(invalid("isv.invalid-format", "format must be JSON"));
    }
    if params.get("timestamp").is_none_or(|t| t.len() != 19) {
        return Err(invalid(
            "isv.invalid-timestamp",
            "timestamp is yyyy-MM-dd HH:mm:ss",
        ));
    }
    let key = public_key_from_pem(&keys.merchant_public_key)
        .map_err(|_| invalid("isv.invalid-signature", "no application public key"))?;
    codec::verify_request(&key, params).map_err(|_| invalid("isv.invalid-signature", "验签出错"))
}

fn text<'a>(biz: &'a Value, name: &str) -> Option<&'a str> {
    biz.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn amount(biz: &Value, name: &str) -> Result<i64, Refusal> {
    text(biz, name)
        .and_then(|t| fen_of_yuan(t).ok())
        .filter(|fen| (1..=AMOUNT_FEN_MAX).contains(fen))
        .ok_or_else(|| {
            invalid(
                &format!("isv.invalid-{name}"),
                &format!("{name} is yuan with two decimals, 0.01 to 100000000.00"),
            )
        })
}

fn yuan(fen: i64) -> String {
    yuan_text(fen).unwrap_or_default()
}

/// Creates the trade of a payment call, or answers the one already made
/// with the same number and amount (a repeated call is the same trade).
fn create(
    sim: &SharedSim,
    params: &BTreeMap<String, String>,
    biz: &Value,
    method: &str,
) -> Result<Trade, Refusal> {
    let out_trade_no = text(biz, "out_trade_no")
        .filter(|n| n.len() <= OUT_TRADE_NO_CHARS_MAX)
        .ok_or_else(|| {
            invalid(
                "isv.missing-out-trade-no",
                "out_trade_no is required (at most 64 characters)",
            )
        })?;
    let amount_fen = amount(biz, "total_amount")?;
    let subject = text(biz, "subject")
        .ok_or_else(|| invalid("isv.missing-subject", "subject is required"))?;
    if let Some(expected) = methods::product_code(method) {
        if text(biz, "product_code").is_some_and(|code| code != expected) {
            return Err(invalid(
                "isv.invalid-product-code",
                &format!("product_code must be {expected}"),
            ));
        }
    }
    let mut book = sim.book.lock();
    if let Some(existing) = book.get(Provider::Alipay, out_trade_no) {
        return match existing.state {
            TradeState::Success => Err(business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")),
            TradeState::WaitBuyerPay if existing.amount_fen == amount_fen => Ok(existing.clone()),
            TradeState::WaitBuyerPay => Err(business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")),
            _ => Err(business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")),
        };
    }
    let trade = Trade {
        provider: Provider::Alipay,
        out_trade_no: out_trade_no.to_owned(),
        trade_no: numbered(
            &format!(
                "{}22001",
                &shanghai_time::format(now_s())[..10].replace('-', "")
            ),
            15,
        ),
        token: token(),
        amount_fen,
        subject: subject.to_owned(),
        notify_url: params.get("notify_url").cloned(),
        return_url: params.get("return_url").cloned(),
        scanned: method != methods::PRECREATE,
        kind: method.to_owned(),
        state: TradeState::WaitBuyerPay,
        created_s: now_s(),
        expires_s: super::expiry::alipay_expiry(now_s(), text(biz, "timeout_express")),
        paid_s: None,
        openid: None,
        code: None,
        queries: 0,
        refunds: Vec::new(),
        notifications_sent: 0,
        notifications_acknowledged: 0,
    };
    book.put(trade.clone())
        .map_err(|_| business("ACQ.SYSTEM_ERROR", "系统错误"))?;
    Ok(trade)
}

fn precreate(sim: &SharedSim, params: &BTreeMap<String, String>, biz: &Value) -> Outcome {
    let trade = create(sim, params, biz, methods::PRECREATE)?;
    Ok(success(json!({
        "out_trade_no": trade.out_trade_no,
        "qr_code": super::customer::page_url(sim, &trade),
    })))
}

fn pay_with_code(sim: &SharedSim, params: &BTreeMap<String, String>, biz: &Value) -> Outcome {
    if text(biz, "scene") != Some("bar_code") {
        return Err(invalid("isv.invalid-scene", "scene must be bar_code"));
    }
    let auth_code = text(biz, "auth_code").unwrap_or_default();
    if provider_of(auth_code) != Some(CodeProvider::Alipay) {
        return Err(business(
            "ACQ.PAYMENT_AUTH_CODE_INVALID",
            "支付失败，获取顾客账户信息失败",
        ));
    }
    let mut trade = create(sim, params, biz, methods::PAY)?;
    let behaviour = CodeBehaviour::of_code(auth_code);
    trade.code = Some(behaviour);
    let waiting = json!({"code": "10003", "msg": "等待用户付款", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no});
    match behaviour {
        CodeBehaviour::Pays => {
            let trade = settle(sim, trade, TradeState::Success)?;
            Ok(success(paid_fields(&trade)))
        }
        CodeBehaviour::Declines => {
            settle(sim, trade, TradeState::Declined)?;
            Err(business("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足"))
        }
        CodeBehaviour::PaysAfterWaiting | CodeBehaviour::WaitsForever => {
            settle(sim, trade, TradeState::UserPaying)?;
            Ok(waiting)
        }
    }
}

/// Stores `trade` in `state`, notifying when it has just been paid.
fn settle(sim: &SharedSim, mut trade: Trade, state: TradeState) -> Result<Trade, Refusal> {
    let newly_paid = state == TradeState::Success && trade.state != TradeState::Success;
    trade.state = state;
    if newly_paid {
        trade.paid_s = Some(now_s());
    }
    sim.book
        .lock()
        .put(trade.clone())
        .map_err(|_| business("ACQ.SYSTEM_ERROR", "系统错误"))?;
    if newly_paid {
        notify::dispatch(sim.clone(), trade.clone(), Event::Paid, NotifyFault::None);
    }
    Ok(trade)
}

fn paid_fields(trade: &Trade) -> Value {
    json!({
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "buyer_logon_id": "sim***@example.com",
        "buyer_user_id": "2088000000000001",
        "total_amount": yuan(trade.amount_fen),
        "receipt_amount": yuan(trade.amount_fen),
        "gmt_payment": trade.paid_s.map(shanghai_time::format),
    })
}

/// Alipay's `trade_status` of a trade.
pub fn trade_status(trade: &Trade) -> &'static str {
    match trade.state {
        TradeState::WaitBuyerPay | TradeState::UserPaying => "WAIT_BUYER_PAY",
        TradeState::Success if trade.refunded_fen() >= trade.amount_fen => "TRADE_CLOSED",
        TradeState::Success => "TRADE_SUCCESS",
        TradeState::Closed | TradeState::Declined | TradeState::Reversed => "TRADE_CLOSED",
    }
}

/// The trade named by `out_trade_no` or `trade_no`, as Alipay sees it.
fn find(sim: &SharedSim, biz: &Value) -> Result<Trade, Refusal> {
    let book = sim.book.lock();
    let found = match (text(biz, "out_trade_no"), text(biz, "trade_no")) {
        (Some(out_trade_no), _) => book.get(Provider::Alipay, out_trade_no),
        (None, Some(trade_no)) => book.by_trade_no(Provider::Alipay, trade_no),
        (None, None) => {
            return Err(invalid(
                "isv.missing-out-trade-no",
                "out_trade_no or trade_no is required",
            ))
        }
    };
    found
        .filter(|t| t.scanned)
        .cloned()
        .ok_or_else(|| business("ACQ.TRADE_NOT_EXIST", "交易不存在"))
}

fn query(sim: &SharedSim, biz: &Value) -> Outcome {
    let mut trade = find(sim, biz)?;
    trade.queries = trade.queries.saturating_add(1);
    let pays_now = trade.state == TradeState::UserPaying
        && trade.code == Some(CodeBehaviour::PaysAfterWaiting)
        && trade.queries >= super::book::QUERIES_BEFORE_PAYMENT;
    let state = if pays_now {
        TradeState::Success
    } else {
        trade.state
    };
    let trade = settle(sim, trade, state)?;
    let mut fields = paid_fields(&trade);
    fields["trade_status"] = json!(trade_status(&trade));
    if trade.paid_s.is_none() {
        fields["receipt_amount"] = json!("0.00");
    }
    Ok(success(fields))
}

fn close(sim: &SharedSim, biz: &Value) -> Outcome {
    let trade = find(sim, biz)?;
    if !matches!(
        trade.state,
        TradeState::WaitBuyerPay | TradeState::UserPaying
    ) {
        return Err(business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"));
    }
    let trade = settle(sim, trade, TradeState::Closed)?;
    Ok(success(
        json!({"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}),
    ))
}

fn cancel(sim: &SharedSim, biz: &Value) -> Outcome {
    let mut trade = find(sim, biz)?;
    let action = match trade.state {
        TradeState::WaitBuyerPay | TradeState::UserPaying => "close",
        TradeState::Success => {
            trade.refund_the_rest("cancel", numbered("", 20), now_s());
            "refund"
        }
        _ => "close",
    };
    let trade = settle(sim, trade, TradeState::Reversed)?;
    Ok(success(json!({
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "retry_flag": "N",
        "action": action,
    })))
}

fn refund(sim: &SharedSim, biz: &Value) -> Outcome {
    let mut trade = find(sim, biz)?;
    let amount_fen = amount(biz, "refund_amount")?;
    let out_request_no = text(biz, "out_request_no")
        .unwrap_or(&trade.out_trade_no)
        .to_owned();
    let fields = |trade: &Trade, changed: bool| {
        success(json!({
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "sim***@example.com",
            "fund_change": if changed { "Y" } else { "N" },
            "refund_fee": yuan(trade.refunded_fen()),
            "gmt_refund_pay": shanghai_time::format(now_s()),
        }))
    };
    if let Some(done) = trade.refund(&out_request_no) {
        if done.amount_fen != amount_fen {
            return Err(business(
                "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                "退款金额与原请求不一致",
            ));
        }
        return Ok(fields(&trade, false));
    }
    if trade.state != TradeState::Success {
        return Err(business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"));
    }
    if amount_fen > trade.amount_fen - trade.refunded_fen() {
        return Err(business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"));
    }
    let mut record = RefundRecord::succeeded(out_request_no, numbered("", 20), amount_fen, now_s());
    // Held by a fault: no money moved yet (`fund_change: "N"`).
    record.processing = sim.faults.next_refund();
    let changed = record.processing.is_none();
    trade.refunds.push(record);
    sim.book
        .lock()
        .put(trade.clone())
        .map_err(|_| business("ACQ.SYSTEM_ERROR", "系统错误"))?;
    Ok(fields(&trade, changed))
}

fn refund_query(sim: &SharedSim, biz: &Value) -> Outcome {
    if let Some(out_request_no) = text(biz, "out_request_no") {
        super::refunds::resolve_on_query(sim, Provider::Alipay, out_request_no);
    }
    let trade = find(sim, biz)?;
    let out_request_no = text(biz, "out_request_no").unwrap_or(&trade.out_trade_no);
    let mut fields = json!({
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "out_request_no": out_request_no,
    });
    // Alipay answers an unknown refund with success and no refund_amount.
    if let Some(done) = trade.refund(out_request_no) {
        fields["total_amount"] = json!(yuan(trade.amount_fen));
        fields["refund_amount"] = json!(yuan(done.amount_fen));
        // Alipay leaves refund_status out of a refund not (yet) done.
        if done.succeeded_now() {
            fields["refund_status"] = json!("REFUND_SUCCESS");
        }
    }
    Ok(success(fields))
}

/// An asynchronous notification about `trade`, signed now (or shaped by a
/// fault); `status` overrides the trade's own `trade_status`.
pub fn notification(sim: &SharedSim, trade: &Trade, shape: Shape, status: Option<&str>) -> Message {
    let keys = &sim.keys.alipay;
    let amount_fen = trade.amount_fen.saturating_add(shape.amount_delta_fen);
    let trade_status = status.unwrap_or(match shape.event {
        Event::Paid | Event::Refunded => "TRADE_SUCCESS",
        Event::Closed => "TRADE_CLOSED",
    });
    let now = now_s() + shape.signed_at_offset_s;
    let mut params: BTreeMap<String, String> = [
        ("notify_time", shanghai_time::format(now)),
        ("notify_type", "trade_status_sync".to_owned()),
        ("notify_id", super::token()),
        ("charset", "utf-8".to_owned()),
        ("version", "1.0".to_owned()),
        ("app_id", keys.app_id.clone()),
        ("trade_no", trade.trade_no.clone()),
        ("out_trade_no", trade.out_trade_no.clone()),
        ("trade_status", trade_status.to_owned()),
        ("total_amount", yuan(amount_fen)),
        ("subject", trade.subject.clone()),
        ("buyer_id", "2088000000000001".to_owned()),
        ("seller_id", "2088000000000002".to_owned()),
        ("gmt_create", shanghai_time::format(trade.created_s)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if trade_status == "TRADE_SUCCESS" {
        params.insert("receipt_amount".to_owned(), yuan(amount_fen));
        params.insert("buyer_pay_amount".to_owned(), yuan(amount_fen));
        if let Some(paid) = trade.paid_s {
            params.insert("gmt_payment".to_owned(), shanghai_time::format(paid));
        }
    }
    if let Ok(key) = private_key_from_pem(&keys.alipay_private_key) {
        codec::sign_notification(&key, &mut params);
    }
    if shape.tampered {
        params.insert("buyer_id".to_owned(), "2088999999999999".to_owned());
    }
    Message::AlipayForm(params)
}

/// The signed parameters Alipay appends to `return_url` after page/wap pay.
pub fn return_params(sim: &SharedSim, trade: &Trade) -> BTreeMap<String, String> {
    let keys = &sim.keys.alipay;
    let mut params: BTreeMap<String, String> = [
        ("app_id", keys.app_id.clone()),
        ("charset", "utf-8".to_owned()),
        ("method", format!("{}.return", trade.kind)),
        ("out_trade_no", trade.out_trade_no.clone()),
        ("trade_no", trade.trade_no.clone()),
        ("total_amount", yuan(trade.amount_fen)),
        ("seller_id", "2088000000000002".to_owned()),
        ("timestamp", shanghai_time::format(now_s())),
        ("version", "1.0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Ok(key) = private_key_from_pem(&keys.alipay_private_key) {
        codec::sign_notification(&key, &mut params);
    }
    params
}
