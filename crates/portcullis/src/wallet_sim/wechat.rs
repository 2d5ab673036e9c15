//! WeChat Pay API v3 in the simulator: every request's `Authorization`
//! (`WECHATPAY2-SHA256-RSA2048`) is checked with the merchant's public key
//! (mchid, serial, a 300 s timestamp window, the signature), and every
//! answer is signed in the `Wechatpay-Timestamp/-Nonce/-Signature/-Serial`
//! headers with the platform key. Errors are WeChat's
//! `{"code": …, "message": …}` with its HTTP statuses.
//!
//! One relaxation: WeChat Pay requires `https` notify URLs; the simulator
//! also takes `http` ones, since it runs beside a local gateway.

use super::book::{CodeBehaviour, Provider, RefundRecord, Trade, TradeState};
use super::notify::{self, Event, Message, NotifyFault, Shape};
use super::{now_s, numbered, SharedSim};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis_wallets::keys::{private_key_from_pem, public_key_from_pem, verify_sha256_rsa};
use portcullis_wallets::wechat_pay::{self as codec, TIMESTAMP_WINDOW_S};
use portcullis_wallets::wechat_pay_orders::REFUNDS_PATH;
use serde_json::{json, Value};

const OUT_TRADE_NO_CHARS: std::ops::RangeInclusive<usize> = 6..=32;
const OUT_REFUND_NO_CHARS: std::ops::RangeInclusive<usize> = 1..=64;

pub fn routes() -> Router<SharedSim> {
    Router::new()
        .route("/v3/pay/transactions/{flow}", post(create_order))
        .route("/v3/pay/transactions/{by}/{id}", get(query_order))
        .route(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}/close",
            post(close_order),
        )
        .route(REFUNDS_PATH, post(create_refund))
        .route(
            &format!("{REFUNDS_PATH}/{{out_refund_no}}"),
            get(query_refund),
        )
}

/// What a WeChat Pay client page (`wx.requestPayment`) is given; checked
/// like the WeChat app checks it, then the customer page opens.
pub fn client_routes() -> Router<SharedSim> {
    Router::new().route("/sim/wechat_pay/request_payment", post(request_payment))
}

/// The request as the signature covers it.
struct Signed {
    method: Method,
    path_and_query: String,
    headers: HeaderMap,
    body: String,
}

type Answer = Result<(StatusCode, String), (StatusCode, &'static str, String)>;

fn error(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> (StatusCode, &'static str, String) {
    (status, code, message.into())
}

fn respond(sim: &SharedSim, answer: Answer) -> Response {
    let (status, body) = match answer {
        Ok(ok) => ok,
        Err((status, code, message)) => (
            status,
            json!({"code": code, "message": message}).to_string(),
        ),
    };
    let Ok(key) = private_key_from_pem(&sim.keys.wechat.platform_private_key) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let nonce = codec::nonce();
    let signed = codec::sign_message(
        &key,
        &sim.keys.wechat.platform_serial,
        now_s(),
        &nonce,
        &body,
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-type", "application/json".to_owned()),
        ("request-id", super::token()),
        ("wechatpay-timestamp", signed.timestamp),
        ("wechatpay-nonce", signed.nonce),
        ("wechatpay-signature", signed.signature),
        ("wechatpay-serial", signed.serial),
        ("wechatpay-signature-type", codec::SCHEME.to_owned()),
    ] {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
    response
}

fn authenticate(
    sim: &SharedSim,
    request: &Signed,
) -> Result<(), (StatusCode, &'static str, String)> {
    let keys = &sim.keys.wechat;
    let refused = |why: &str| {
        error(
            StatusCode::UNAUTHORIZED,
            "SIGN_ERROR",
            format!("签名错误: {why}"),
        )
    };
    let header = request
        .headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| refused("no Authorization"))?;
    let parts =
        codec::parse_authorization(header).map_err(|_| refused("malformed Authorization"))?;
    if parts.mchid != keys.mchid {
        return Err(refused("mchid"));
    }
    if parts.serial_no != keys.certificate_serial {
        return Err(refused("serial_no is not the merchant certificate's"));
    }
    if (now_s() - parts.timestamp).abs() > TIMESTAMP_WINDOW_S {
        return Err(refused("timestamp outside the window"));
    }
    let key =
        public_key_from_pem(&keys.merchant_public_key).map_err(|_| refused("no merchant key"))?;
    codec::verify_authorization(
        &key,
        &parts,
        request.method.as_str(),
        &request.path_and_query,
        &request.body,
    )
    .map_err(|_| refused("signature"))
}

fn signed(method: Method, uri: &Uri, headers: HeaderMap, body: Bytes) -> Signed {
    Signed {
        method,
        path_and_query: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn json_body(request: &Signed) -> Result<Value, (StatusCode, &'static str, String)> {
    serde_json::from_str::<Value>(&request.body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "PARAM_ERROR",
                "body is not a JSON object",
            )
        })
}

fn text<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn param_error(message: &str) -> (StatusCode, &'static str, String) {
    error(StatusCode::BAD_REQUEST, "PARAM_ERROR", message)
}

async fn create_order(
    State(sim): State<SharedSim>,
    Path(flow): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = signed(method, &uri, headers, body);
    let answer = authenticate(&sim, &request).and_then(|()| order(&sim, &flow, &request));
    respond(&sim, answer)
}

fn trade_type(flow: &str) -> Option<&'static str> {
    match flow {
        "native" => Some("NATIVE"),
        "h5" => Some("MWEB"),
        "app" => Some("APP"),
        "jsapi" => Some("JSAPI"),
        _ => None,
    }
}

fn order(sim: &SharedSim, flow: &str, request: &Signed) -> Answer {
    let kind = trade_type(flow)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "no such API"))?;
    let body = json_body(request)?;
    let keys = &sim.keys.wechat;
    if text(&body, "/appid") != Some(keys.appid.as_str())
        || text(&body, "/mchid") != Some(keys.mchid.as_str())
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "APPID_MCHID_NOT_MATCH",
            "appid和mch_id不匹配",
        ));
    }
    let out_trade_no = text(&body, "/out_trade_no")
        .filter(|n| OUT_TRADE_NO_CHARS.contains(&n.len()))
        .ok_or_else(|| param_error("out_trade_no is 6 to 32 characters"))?;
    let description =
        text(&body, "/description").ok_or_else(|| param_error("description is required"))?;
    let notify_url = text(&body, "/notify_url")
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .ok_or_else(|| param_error("notify_url is an absolute URL"))?;
    let amount_fen = body
        .pointer("/amount/total")
        .and_then(Value::as_i64)
        .filter(|fen| *fen >= 1)
        .ok_or_else(|| param_error("amount.total is a positive integer (fen)"))?;
    if text(&body, "/amount/currency").is_some_and(|c| c != "CNY") {
        return Err(param_error("amount.currency must be CNY"));
    }
    let openid = match kind {
        "JSAPI" => Some(
            text(&body, "/payer/openid").ok_or_else(|| param_error("payer.openid is required"))?,
        ),
        _ => None,
    };
    if kind == "MWEB" && text(&body, "/scene_info/payer_client_ip").is_none() {
        return Err(param_error("scene_info.payer_client_ip is required"));
    }
    let mut book = sim.book.lock();
    let trade = match book.get(Provider::WechatPay, out_trade_no) {
        Some(existing) => match existing.state {
            TradeState::Success => {
                return Err(error(StatusCode::FORBIDDEN, "ORDERPAID", "该订单已支付"))
            }
            TradeState::WaitBuyerPay
                if existing.amount_fen == amount_fen && existing.kind == kind =>
            {
                existing.clone()
            }
            TradeState::WaitBuyerPay => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "201 商户订单号重复",
                ))
            }
            _ => return Err(error(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭")),
        },
        None => {
            let prepay_id = numbered(&format!("wx{}", &super::token()[..8]), 20);
            let trade = Trade {
                provider: Provider::WechatPay,
                out_trade_no: out_trade_no.to_owned(),
                trade_no: numbered("42000", 23),
                token: prepay_id,
                amount_fen,
                subject: description.to_owned(),
                notify_url: Some(notify_url.to_owned()),
                return_url: None,
                scanned: true,
                kind: kind.to_owned(),
                state: TradeState::WaitBuyerPay,
                created_s: now_s(),
                expires_s: text(&body, "/time_expire").and_then(super::expiry::rfc3339_s),
                paid_s: None,
                openid: openid.map(str::to_owned),
                code: None,
                queries: 0,
                refunds: Vec::new(),
                notifications_sent: 0,
                notifications_acknowledged: 0,
            };
            book.put(trade.clone()).map_err(|_| {
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "SYSTEM_ERROR",
                    "系统错误",
                )
            })?;
            trade
        }
    };
    let answer = match kind {
        "NATIVE" => json!({ "code_url": format!("weixin://wxpay/bizpayurl?pr={}", trade.token) }),
        "MWEB" => json!({ "h5_url": super::customer::page_url(sim, &trade) }),
        _ => json!({ "prepay_id": trade.token }),
    };
    Ok((StatusCode::OK, answer.to_string()))
}

/// WeChat's `trade_state` of a trade.
pub fn trade_state(trade: &Trade) -> &'static str {
    match trade.state {
        TradeState::WaitBuyerPay => "NOTPAY",
        TradeState::UserPaying => "USERPAYING",
        TradeState::Success if !trade.refunds.is_empty() => "REFUND",
        TradeState::Success => "SUCCESS",
        TradeState::Closed => "CLOSED",
        TradeState::Declined => "PAYERROR",
        TradeState::Reversed => "REVOKED",
    }
}

/// The transaction as queries answer it and notifications carry it.
pub fn transaction(sim: &SharedSim, trade: &Trade, amount_delta_fen: i64) -> Value {
    let keys = &sim.keys.wechat;
    let total = trade.amount_fen.saturating_add(amount_delta_fen);
    let mut fields = json!({
        "appid": keys.appid,
        "mchid": keys.mchid,
        "out_trade_no": trade.out_trade_no,
        "trade_type": trade.kind,
        "trade_state": trade_state(trade),
        "trade_state_desc": trade_state(trade),
        "attach": "",
        "amount": { "total": total, "currency": "CNY", "payer_currency": "CNY" },
        "payer": { "openid": trade.openid.clone().unwrap_or_else(|| "oSimPayer000000000000000000".to_owned()) },
    });
    if let Some(paid) = trade.paid_s {
        fields["transaction_id"] = json!(trade.trade_no);
        fields["bank_type"] = json!("OTHERS");
        fields["success_time"] = json!(portcullis_wallets::wechat_pay_orders::time_expire(paid));
        fields["amount"]["payer_total"] = json!(total);
    }
    fields
}

/// Finds the trade; a `PaysAfterWaiting` payment code pays at its second query.
fn queried(
    sim: &SharedSim,
    found: Option<Trade>,
) -> Result<Trade, (StatusCode, &'static str, String)> {
    let mut trade =
        found.ok_or_else(|| error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"))?;
    trade.queries = trade.queries.saturating_add(1);
    let pays_now = trade.state == TradeState::UserPaying
        && trade.code == Some(CodeBehaviour::PaysAfterWaiting)
        && trade.queries >= super::book::QUERIES_BEFORE_PAYMENT;
    if pays_now {
        trade.state = TradeState::Success;
        trade.paid_s = Some(now_s());
    }
    sim.book.lock().put(trade.clone()).map_err(|_| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_ERROR",
            "系统错误",
        )
    })?;
    if pays_now {
        notify::dispatch(sim.clone(), trade.clone(), Event::Paid, NotifyFault::None);
    }
    Ok(trade)
}

/// A payment code's trade changed by the v2 API or by a v3 query.
pub fn after_query(sim: &SharedSim, provider: Provider, out_trade_no: &str) -> Option<Trade> {
    let found = sim.book.lock().get(provider, out_trade_no).cloned();
    queried(sim, found).ok()
}

fn mchid_matches(sim: &SharedSim, request: &Signed) -> bool {
    let query = request
        .path_and_query
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "mchid" && v == sim.keys.wechat.mchid)
}

/// Which trade a query names: `out-trade-no/{n}` or `id/{transaction_id}`.
enum Lookup {
    OutTradeNo(String),
    TransactionId(String),
}

async fn query_order(
    State(sim): State<SharedSim>,
    Path((by, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let lookup = match by.as_str() {
        "out-trade-no" => Lookup::OutTradeNo(id),
        "id" => Lookup::TransactionId(id),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    query_by(&sim, lookup, signed(method, &uri, headers, Bytes::new()))
}

fn query_by(sim: &SharedSim, lookup: Lookup, request: Signed) -> Response {
    let answer = authenticate(sim, &request).and_then(|()| {
        if !mchid_matches(sim, &request) {
            return Err(param_error("mchid is required and must be the caller's"));
        }
        let found = {
            let book = sim.book.lock();
            match &lookup {
                Lookup::OutTradeNo(n) => book.get(Provider::WechatPay, n).cloned(),
                Lookup::TransactionId(id) => book.by_trade_no(Provider::WechatPay, id).cloned(),
            }
        };
        let trade = queried(sim, found)?;
        Ok((StatusCode::OK, transaction(sim, &trade, 0).to_string()))
    });
    respond(sim, answer)
}

async fn close_order(
    State(sim): State<SharedSim>,
    Path(out_trade_no): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = signed(method, &uri, headers, body);
    let answer = authenticate(&sim, &request).and_then(|()| {
        let body = json_body(&request)?;
        if text(&body, "/mchid") != Some(sim.keys.wechat.mchid.as_str()) {
            return Err(param_error("mchid must be the caller's"));
        }
        let mut book = sim.book.lock();
        let mut trade = book
            .get(Provider::WechatPay, &out_trade_no)
            .cloned()
            .ok_or_else(|| error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"))?;
        match trade.state {
            TradeState::Success => {
                return Err(error(StatusCode::BAD_REQUEST, "ORDERPAID", "订单已支付"))
            }
            TradeState::WaitBuyerPay | TradeState::UserPaying => {
                trade.state = TradeState::Closed;
                book.put(trade).map_err(|_| {
                    error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "SYSTEM_ERROR",
                        "系统错误",
                    )
                })?;
            }
            _ => {}
        }
        Ok((StatusCode::NO_CONTENT, String::new()))
    });
    respond(&sim, answer)
}

fn refund_json(trade: &Trade, refund: &RefundRecord) -> Value {
    let time = portcullis_wallets::wechat_pay_orders::time_expire(refund.created_s);
    json!({
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": time,
        "success_time": refund.succeeded_now().then_some(time),
        "status": refund.status(),
        "funds_account": "AVAILABLE",
        "amount": {
            "total": trade.amount_fen,
            "refund": refund.amount_fen,
            "payer_total": trade.amount_fen,
            "payer_refund": refund.amount_fen,
            "settlement_total": trade.amount_fen,
            "settlement_refund": refund.amount_fen,
            "discount_refund": 0,
            "currency": "CNY",
            "from": [],
        },
        "promotion_detail": [],
    })
}

async fn create_refund(
    State(sim): State<SharedSim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = signed(method, &uri, headers, body);
    let answer = authenticate(&sim, &request).and_then(|()| refund(&sim, &request));
    respond(&sim, answer)
}

fn refund(sim: &SharedSim, request: &Signed) -> Answer {
    let body = json_body(request)?;
    let out_refund_no = text(&body, "/out_refund_no")
        .filter(|n| OUT_REFUND_NO_CHARS.contains(&n.len()))
        .ok_or_else(|| param_error("out_refund_no is 1 to 64 characters"))?;
    let refund_fen = body
        .pointer("/amount/refund")
        .and_then(Value::as_i64)
        .filter(|f| *f >= 1);
    let total_fen = body.pointer("/amount/total").and_then(Value::as_i64);
    let (Some(refund_fen), Some(total_fen)) = (refund_fen, total_fen) else {
        return Err(param_error(
            "amount.refund and amount.total are positive integers (fen)",
        ));
    };
    if text(&body, "/amount/currency").is_some_and(|c| c != "CNY") {
        return Err(param_error("amount.currency must be CNY"));
    }
    let mut book = sim.book.lock();
    let found = match (text(&body, "/out_trade_no"), text(&body, "/transaction_id")) {
        (Some(out_trade_no), _) => book.get(Provider::WechatPay, out_trade_no),
        (None, Some(id)) => book.by_trade_no(Provider::WechatPay, id),
        (None, None) => return Err(param_error("out_trade_no or transaction_id is required")),
    };
    let mut trade = found
        .cloned()
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在"))?;
    if let Some(done) = trade.refund(out_refund_no) {
        if done.amount_fen != refund_fen {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "退款金额与之前请求不一致",
            ));
        }
        return Ok((StatusCode::OK, refund_json(&trade, done).to_string()));
    }
    if trade.state != TradeState::Success {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "订单未支付",
        ));
    }
    if total_fen != trade.amount_fen {
        return Err(param_error("amount.total is not the order's total"));
    }
    if refund_fen > trade.amount_fen - trade.refunded_fen() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "申请退款金额超过订单可退金额",
        ));
    }
    let mut record = RefundRecord::succeeded(
        out_refund_no.to_owned(),
        numbered("50000", 24),
        refund_fen,
        now_s(),
    );
    record.processing = sim.faults.next_refund();
    record.notify_url = text(&body, "/notify_url").map(str::to_owned);
    trade.refunds.push(record.clone());
    book.put(trade.clone()).map_err(|_| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_ERROR",
            "系统错误",
        )
    })?;
    drop(book);
    // A refund held PROCESSING is announced when it resolves (`refunds`).
    if let (Some(url), None) = (text(&body, "/notify_url"), &record.processing) {
        let mut notified = trade.clone();
        notified.notify_url = Some(url.to_owned());
        notify::dispatch(sim.clone(), notified, Event::Refunded, NotifyFault::None);
    }
    Ok((StatusCode::OK, refund_json(&trade, &record).to_string()))
}

async fn query_refund(
    State(sim): State<SharedSim>,
    Path(out_refund_no): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request = signed(method, &uri, headers, Bytes::new());
    let answer = authenticate(&sim, &request).and_then(|()| {
        super::refunds::resolve_on_query(&sim, Provider::WechatPay, &out_refund_no);
        let book = sim.book.lock();
        let trades = book.all();
        trades
            .iter()
            .filter(|t| t.provider == Provider::WechatPay)
            .find_map(|t| t.refund(&out_refund_no).map(|r| refund_json(t, r)))
            .map(|found| (StatusCode::OK, found.to_string()))
            .ok_or_else(|| error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在"))
    });
    respond(&sim, answer)
}

/// A `TRANSACTION.SUCCESS` notification about `trade`, its resource
/// encrypted with the API v3 key and the message signed with the platform
/// key (at a shifted time, or changed after signing, as `shape` says).
pub fn notification(sim: &SharedSim, trade: &Trade, shape: Shape) -> Message {
    let keys = &sim.keys.wechat;
    let (kind, event_type, summary, plaintext) = match (shape.event, trade.refunds.last()) {
        (Event::Refunded, Some(refund)) => (
            "refund",
            refund_event_type(refund),
            refund_summary(refund),
            refund_notification(sim, trade, refund).to_string(),
        ),
        _ => (
            "transaction",
            "TRANSACTION.SUCCESS",
            "支付成功",
            transaction(sim, trade, shape.amount_delta_fen).to_string(),
        ),
    };
    let nonce: String = codec::nonce()[..12].to_owned();
    let resource = codec::encrypt_resource(&keys.api_v3_key, &nonce, kind, &plaintext, kind);
    let signed_at = now_s() + shape.signed_at_offset_s;
    let body = json!({
        "id": format!("EV-{}", super::token()),
        "create_time": portcullis_wallets::wechat_pay_orders::time_expire(signed_at),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": resource.ok(),
    })
    .to_string();
    let headers = match private_key_from_pem(&keys.platform_private_key) {
        Ok(key) => codec::sign_message(
            &key,
            &keys.platform_serial,
            signed_at,
            &codec::nonce(),
            &body,
        ),
        Err(_) => codec::SignedHeaders {
            timestamp: signed_at.to_string(),
            nonce: codec::nonce(),
            signature: String::new(),
            serial: keys.platform_serial.clone(),
        },
    };
    let body = if shape.tampered {
        body.replace(summary, "支付失败")
    } else {
        body
    };
    Message::Wechat { headers, body }
}

/// `REFUND.SUCCESS`, `REFUND.ABNORMAL` or `REFUND.CLOSED`.
fn refund_event_type(refund: &RefundRecord) -> &'static str {
    match refund.status() {
        "SUCCESS" => "REFUND.SUCCESS",
        "CLOSED" => "REFUND.CLOSED",
        _ => "REFUND.ABNORMAL",
    }
}

fn refund_summary(refund: &RefundRecord) -> &'static str {
    match refund.status() {
        "SUCCESS" => "退款成功",
        "CLOSED" => "退款关闭",
        _ => "退款异常",
    }
}

/// A `REFUND.*` notification's resource.
fn refund_notification(sim: &SharedSim, trade: &Trade, refund: &RefundRecord) -> Value {
    json!({
        "mchid": sim.keys.wechat.mchid,
        "out_trade_no": trade.out_trade_no,
        "transaction_id": trade.trade_no,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": refund.status(),
        "success_time": portcullis_wallets::wechat_pay_orders::time_expire(refund.created_s),
        "user_received_account": "支付用户零钱",
        "amount": {
            "total": trade.amount_fen,
            "refund": refund.amount_fen,
            "payer_total": trade.amount_fen,
            "payer_refund": refund.amount_fen,
        },
    })
}

/// `wx.requestPayment` as the WeChat app performs it: the `paySign` must be
/// the merchant's over `appId\ntimeStamp\nnonceStr\npackage\n`, the appId
/// ours, and the prepay id a trade's; then the customer page opens.
async fn request_payment(State(sim): State<SharedSim>, Json(params): Json<Value>) -> Response {
    let field = |name: &str| params.get(name).and_then(Value::as_str).unwrap_or_default();
    let fail = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"errMsg": format!("requestPayment:fail {why}")})),
        )
            .into_response()
    };
    if field("appId") != sim.keys.wechat.appid || field("signType") != "RSA" {
        return fail("appId or signType");
    }
    let message = format!(
        "{}\n{}\n{}\n{}\n",
        field("appId"),
        field("timeStamp"),
        field("nonceStr"),
        field("package")
    );
    let verified = public_key_from_pem(&sim.keys.wechat.merchant_public_key)
        .is_ok_and(|key| verify_sha256_rsa(&key, message.as_bytes(), field("paySign")).is_ok());
    if !verified {
        return fail("sign error");
    }
    let Some(prepay_id) = field("package").strip_prefix("prepay_id=") else {
        return fail("package");
    };
    let Some(trade) = sim.book.lock().by_token(prepay_id).cloned() else {
        return fail("prepay_id");
    };
    Json(json!({"errMsg": "requestPayment:ok", "page": super::customer::page_url(&sim, &trade)}))
        .into_response()
}
