//! The customer's side of the simulator: the page a buyer reaches by
//! scanning a QR code (`/scan?data=…` resolves Alipay `qr_code` and WeChat
//! `weixin://` code URLs), by a redirect (Alipay page/wap pay, WeChat H5)
//! or through `wx.requestPayment`, where they pay or decline — choosing the
//! notification fault to inject. Plus the simulator's own JSON:
//! `GET /sim/trades` (its truth), `POST /sim/faults`, and
//! `POST /sim/trades/{out_trade_no}/paid_late` (a trade that ended unpaid
//! is paid after all, as a provider's late success does, and notified).

use super::book::{Provider, ResolveOn, Trade, TradeState, REFUND_SUCCESS};
use super::notify::{self, Event, NotifyFault};
use super::{now_s, SharedSim};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> Router<SharedSim> {
    Router::new()
        .route("/c/{token}", get(show).post(act))
        .route("/scan", get(scan))
        .route("/sim/trades", get(trades))
        .route("/sim/faults", post(faults))
        .route("/sim/refunds/{out_refund_no}/resolve", post(resolve_refund))
        .route("/sim/trades/{out_trade_no}/paid_late", post(paid_late))
        .merge(super::wechat::client_routes())
}

/// Where the buyer pays for `trade`.
pub fn page_url(sim: &SharedSim, trade: &Trade) -> String {
    format!("{}/c/{}", sim.base_url, trade.token)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Alipay => "Alipay 支付宝",
        Provider::WechatPay => "WeChat Pay 微信支付",
    }
}

/// The payment page of `trade`: amount, subject, and the pay and decline
/// buttons while it can still be paid.
pub fn page(trade: &Trade) -> Response {
    let amount = portcullis_wallets::amount::yuan_text(trade.amount_fen).unwrap_or_default();
    let options: String = NotifyFault::NAMES
        .iter()
        .filter(|name| NotifyFault::parse(name).is_some_and(|f| f.applies_to(trade.provider)))
        .map(|name| format!("<option value=\"{name}\">{name}</option>"))
        .collect();
    let actions = if trade.state == TradeState::WaitBuyerPay {
        // Posted to the trade's own page: Alipay's page and wap pay show
        // this page at `/gateway.do`, whose POST is the provider API.
        format!(
            "<form method=\"post\" action=\"/c/{}\">\
             <label>Notification fault 通知故障 <select name=\"fault\">{options}</select></label>\
             <button name=\"action\" value=\"pay\">Pay 支付</button>\
             <button name=\"action\" value=\"decline\">Decline 拒绝</button></form>",
            escape(&trade.token)
        )
    } else {
        format!("<p id=\"state\">{:?}</p>", trade.state)
    };
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>wallet-sim</title></head>\
         <body><h1>{}</h1><p>{} — ¥<span id=\"amount\">{amount}</span></p>\
         <p>out_trade_no <code>{}</code></p>{actions}</body></html>",
        provider_name(trade.provider),
        escape(&trade.subject),
        escape(&trade.out_trade_no),
    ))
    .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<p>No such payment 无此交易</p>"),
    )
        .into_response()
}

async fn show(State(sim): State<SharedSim>, Path(token): Path<String>) -> Response {
    let trade = {
        let mut book = sim.book.lock();
        let Some(mut trade) = book.by_token(&token).cloned() else {
            return not_found();
        };
        if !trade.scanned {
            trade.scanned = true;
            if book.put(trade.clone()).is_err() {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        }
        trade
    };
    page(&trade)
}

#[derive(Deserialize)]
struct ScanQuery {
    data: String,
}

/// Scanning a code: an Alipay `qr_code` is our page already; a WeChat
/// `weixin://wxpay/bizpayurl?pr=…` names the page by its `pr`.
async fn scan(State(sim): State<SharedSim>, Query(query): Query<ScanQuery>) -> Response {
    let token = match query.data.strip_prefix("weixin://wxpay/bizpayurl?pr=") {
        Some(token) => token.to_owned(),
        None => match query.data.strip_prefix(&format!("{}/c/", sim.base_url)) {
            Some(token) => token.to_owned(),
            None => return not_found(),
        },
    };
    if sim.book.lock().by_token(&token).is_none() {
        return not_found();
    }
    Redirect::to(&format!("/c/{token}")).into_response()
}

/// The page's form: `action` (`pay` or `decline`) and `fault`.
struct Act {
    action: String,
    fault: String,
}

impl Act {
    fn parse(body: &str) -> Self {
        let mut act = Act {
            action: String::new(),
            fault: String::new(),
        };
        for (k, v) in form_urlencoded::parse(body.as_bytes()) {
            match k.as_ref() {
                "action" => act.action = v.into_owned(),
                "fault" => act.fault = v.into_owned(),
                _ => {}
            }
        }
        act
    }
}

async fn act(State(sim): State<SharedSim>, Path(token): Path<String>, body: String) -> Response {
    let act = Act::parse(&body);
    let Some(mut trade) = sim.book.lock().by_token(&token).cloned() else {
        return not_found();
    };
    let Some(fault) = NotifyFault::parse(&act.fault).filter(|f| f.applies_to(trade.provider))
    else {
        return (
            StatusCode::BAD_REQUEST,
            Html("<p>Unknown fault for this provider</p>"),
        )
            .into_response();
    };
    if trade.state != TradeState::WaitBuyerPay || trade.is_expired(now_s()) {
        return (StatusCode::CONFLICT, page(&trade)).into_response();
    }
    let event = match act.action.as_str() {
        "pay" => {
            trade.state = TradeState::Success;
            trade.paid_s = Some(now_s());
            Some(Event::Paid)
        }
        "decline" if trade.provider == Provider::Alipay => {
            trade.state = TradeState::Closed;
            Some(Event::Closed)
        }
        "decline" => {
            trade.state = TradeState::Declined;
            None
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Html("<p>action is pay or decline</p>"),
            )
                .into_response()
        }
    };
    trade.scanned = true;
    if sim.book.lock().put(trade.clone()).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if let Some(event) = event {
        notify::dispatch(sim.clone(), trade.clone(), event, fault);
    }
    match (&trade.return_url, event) {
        (Some(return_url), Some(Event::Paid)) => {
            let params = super::alipay::return_params(&sim, &trade);
            let query = portcullis_wallets::alipay_methods::encoded(&params);
            let separator = if return_url.contains('?') { '&' } else { '?' };
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, format!("{return_url}{separator}{query}"))],
            )
                .into_response()
        }
        _ => page(&trade),
    }
}

async fn trades(State(sim): State<SharedSim>) -> Json<Value> {
    let trades = sim.book.lock().all();
    Json(json!({ "trades": trades }))
}

#[derive(Deserialize)]
struct FaultRequest {
    #[serde(default)]
    drop_answers: u32,
    #[serde(default)]
    refunds_processing: u32,
    then: Option<String>,
    resolve_on: Option<ResolveOn>,
}

async fn faults(State(sim): State<SharedSim>, Json(request): Json<FaultRequest>) -> Response {
    sim.faults.drop_next(request.drop_answers);
    if request.refunds_processing > 0 {
        let then = request.then.as_deref().unwrap_or(REFUND_SUCCESS);
        let on = request.resolve_on.unwrap_or(ResolveOn::Query);
        if let Err(why) = sim
            .faults
            .hold_refunds(request.refunds_processing, then, on)
        {
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": why }))).into_response();
        }
    }
    Json(json!({
        "drop_answers": request.drop_answers.min(super::faults::DROP_NEXT_MAX),
        "refunds_processing": request.refunds_processing.min(super::faults::DROP_NEXT_MAX),
    }))
    .into_response()
}

/// Resolves a refund held PROCESSING, and notifies (WeChat Pay).
async fn resolve_refund(
    State(sim): State<SharedSim>,
    Path(out_refund_no): Path<String>,
) -> Response {
    match super::refunds::resolve(&sim, &out_refund_no) {
        Some(status) => {
            Json(json!({ "out_refund_no": out_refund_no, "status": status })).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such refund held PROCESSING" })),
        )
            .into_response(),
    }
}

/// A trade that ended unpaid (closed or declined) found paid after all:
/// success, notified as any payment. 404 for an unknown trade, 409 for
/// one not ended unpaid.
async fn paid_late(State(sim): State<SharedSim>, Path(out_trade_no): Path<String>) -> Response {
    let found = [Provider::Alipay, Provider::WechatPay]
        .into_iter()
        .find_map(|p| sim.book.lock().get(p, &out_trade_no).cloned());
    let Some(mut trade) = found else {
        return not_found();
    };
    if !matches!(trade.state, TradeState::Closed | TradeState::Declined)
        || !trade.refunds.is_empty()
    {
        return (StatusCode::CONFLICT, page(&trade)).into_response();
    }
    trade.state = TradeState::Success;
    trade.paid_s = Some(now_s());
    if sim.book.lock().put(trade.clone()).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    notify::dispatch(sim, trade.clone(), Event::Paid, NotifyFault::None);
    Json(json!({ "out_trade_no": out_trade_no, "state": "paid" })).into_response()
}
