//! `POST /notify/alipay/{ca_…}` and `POST /notify/wechat_pay/{ca_…}`: the
//! providers' asynchronous notifications. Each is verified with the
//! account's provider key (`connectors::wallets::notifications`: Alipay's
//! RSA2 over every parameter but `sign`/`sign_type`; WeChat Pay's
//! `Wechatpay-*` signature within its 300 s window, a nonce not seen in
//! that window, the resource decrypted with the API v3 key), must name the
//! account, and is then applied to its intent by `settle::apply` (current
//! trade, amount and currency checked; idempotent). A refusal is logged
//! with its reason and answered so that the provider retries: Alipay gets
//! `fail` instead of `success`, WeChat Pay an error body instead of 204.
//! An Alipay `notify_id` already taken is acknowledged without effect
//! (logged). A WeChat Pay `REFUND.*` notice makes the refund it names be settled by
//! a refund query (`refunds::settle`).

use super::account;
use super::settle::{self, background_origin, Applied};
use crate::connector_accounts;
use crate::payments::Ctx;
use crate::routes::{doc, params, Routes};
use crate::state::AppState;
use crate::wallet_connections::{alipay_credentials, wechat_pay_credentials};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_connectors::wallets::notifications::{
    alipay_notice, wechat_notice, NoticeError, NotifyIdCache, ReplayGuard, WechatNotice,
};
use portcullis_domain::connector_accounts::ConnectorType;
use portcullis_wallets::wechat_pay::SignedHeaders;
use std::sync::LazyLock;

/// The nonces of WeChat Pay notifications seen in this process.
static WECHAT_NONCES: LazyLock<ReplayGuard> = LazyLock::new(ReplayGuard::default);
/// The `notify_id`s of Alipay notifications taken in this process.
static ALIPAY_NOTIFY_IDS: LazyLock<NotifyIdCache> = LazyLock::new(NotifyIdCache::default);

pub fn routes() -> Routes {
    Routes::new()
        .post(
            doc(
                "/notify/alipay/{id}",
                "Alipay's asynchronous notification for a connector account (answered `success`)",
                "",
            )
            .params(params::NONE)
            .public()
            .not_json(),
            alipay,
        )
        .post(
            doc(
                "/notify/wechat_pay/{id}",
                "WeChat Pay's notification for a connector account (answered 204)",
                "",
            )
            .params(params::NONE)
            .public()
            .not_json(),
            wechat_pay,
        )
}

/// Why a notification was not taken; `ours` when the fault is ours (also
/// for `/notify/stripe/…`).
pub(crate) struct Refusal {
    pub(crate) reason: String,
    pub(crate) ours: bool,
}

impl Refusal {
    pub(crate) fn theirs(reason: impl Into<String>) -> Self {
        Refusal {
            reason: reason.into(),
            ours: false,
        }
    }
}

impl From<NoticeError> for Refusal {
    fn from(err: NoticeError) -> Self {
        Refusal::theirs(err.to_string())
    }
}

impl From<crate::error::ApiError> for Refusal {
    fn from(err: crate::error::ApiError) -> Self {
        Refusal {
            reason: err.message,
            ours: true,
        }
    }
}

/// The account `id` of `kind`, its scope and opened secrets.
async fn account_of(
    state: &AppState,
    id: &str,
    kind: ConnectorType,
) -> Result<
    (
        portcullis_store::Scope,
        connector_accounts::StoredAccount,
        std::collections::BTreeMap<String, String>,
    ),
    Refusal,
> {
    let Some((scope, stored)) = account::by_id(state, id).await? else {
        return Err(Refusal::theirs(format!("no connector account {id}")));
    };
    if stored.account.kind != kind {
        return Err(Refusal::theirs(format!(
            "{id} is a {} account",
            stored.account.kind.as_str()
        )));
    }
    let secrets = connector_accounts::open(state, &stored)?;
    Ok((scope, stored, secrets))
}

fn logged(provider: &str, account: &str, result: &Result<Applied, Refusal>) {
    match result {
        Ok(Applied::Refused(reason)) => {
            tracing::warn!(provider, account, reason = %reason, "wallet notification refused")
        }
        Err(refusal) => {
            tracing::warn!(provider, account, reason = %refusal.reason, "wallet notification refused")
        }
        Ok(applied) => tracing::info!(provider, account, ?applied, "wallet notification taken"),
    }
}

async fn receive_alipay(state: &AppState, id: &str, body: &[u8]) -> Result<Applied, Refusal> {
    let (scope, stored, secrets) = account_of(state, id, ConnectorType::Alipay).await?;
    let credentials = alipay_credentials(&stored.account, &secrets)
        .map_err(|e| Refusal::theirs(e.to_string()))?;
    let form = std::str::from_utf8(body).map_err(|_| Refusal::theirs("body is not UTF-8"))?;
    let notice = alipay_notice(&credentials, form)?;
    let notify_id = notice.notify_id.as_deref().unwrap_or_default();
    if !notify_id.is_empty() && ALIPAY_NOTIFY_IDS.seen(notify_id, state.now()) {
        tracing::info!(
            account = id,
            notify_id,
            out_trade_no = %notice.out_trade_no,
            "alipay notify_id already taken: acknowledged without effect"
        );
        return Ok(Applied::Unchanged);
    }
    let origin = background_origin();
    let ctx = Ctx {
        state,
        scope: &scope,
        origin: &origin,
    };
    let applied = settle::apply(
        &ctx,
        id,
        &notice.out_trade_no,
        &notice.status,
        &notice.currency,
    )
    .await?;
    if !notify_id.is_empty() && !matches!(applied, Applied::Refused(_)) {
        ALIPAY_NOTIFY_IDS.remember(notify_id, state.now());
    }
    Ok(applied)
}

async fn alipay(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let result = receive_alipay(&state, &id, &body).await;
    logged("alipay", &id, &result);
    match result {
        Ok(Applied::Changed | Applied::Unchanged) => (StatusCode::OK, "success").into_response(),
        Ok(Applied::Refused(_)) | Err(Refusal { ours: false, .. }) => {
            (StatusCode::BAD_REQUEST, "fail").into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "fail").into_response(),
    }
}

fn signed_headers(headers: &HeaderMap) -> SignedHeaders {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    SignedHeaders {
        timestamp: header("wechatpay-timestamp"),
        nonce: header("wechatpay-nonce"),
        signature: header("wechatpay-signature"),
        serial: header("wechatpay-serial"),
    }
}

async fn receive_wechat(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Applied, Refusal> {
    let (scope, stored, secrets) = account_of(state, id, ConnectorType::WechatPay).await?;
    let credentials = wechat_pay_credentials(&stored.account, &secrets)
        .map_err(|e| Refusal::theirs(e.to_string()))?;
    let body = std::str::from_utf8(body).map_err(|_| Refusal::theirs("body is not UTF-8"))?;
    let notice = wechat_notice(
        &credentials,
        &signed_headers(headers),
        body,
        state.now(),
        &WECHAT_NONCES,
    )?;
    let origin = background_origin();
    let ctx = Ctx {
        state,
        scope: &scope,
        origin: &origin,
    };
    match notice {
        WechatNotice::Payment(notice) => Ok(settle::apply(
            &ctx,
            id,
            &notice.out_trade_no,
            &notice.status,
            &notice.currency,
        )
        .await?),
        WechatNotice::Refund { out_refund_no, .. } => {
            Ok(refund_notice(state, &scope, &out_refund_no).await?)
        }
    }
}

/// A `REFUND.*` notice settles our refund `out_refund_no` (`re_…`) by
/// asking the provider where it stands, as recovery would: the notice
/// only says when to ask. A refund we do not know (made outside the
/// gateway) is taken and left alone.
async fn refund_notice(
    state: &AppState,
    scope: &portcullis_store::Scope,
    out_refund_no: &str,
) -> crate::error::ApiResult<Applied> {
    use portcullis_domain::refunds::Refund;
    let found = state
        .store
        .get(portcullis_store::Table::Refunds, scope, out_refund_no)
        .await?;
    let Some(doc) = found else {
        tracing::info!(
            out_refund_no,
            "wechat_pay refund notice for a refund not made here"
        );
        return Ok(Applied::Unchanged);
    };
    let refund: Refund =
        serde_json::from_str(&doc.body).map_err(|e| crate::error::ApiError::internal(&e))?;
    let Some(charge) = refund.charge.as_deref() else {
        return Ok(Applied::Unchanged);
    };
    crate::payments::refunds::settle(state, scope, charge, &refund.id).await?;
    Ok(Applied::Changed)
}

async fn wechat_pay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = receive_wechat(&state, &id, &headers, &body).await;
    logged("wechat_pay", &id, &result);
    let refused = |status: StatusCode, reason: &str| {
        let body = serde_json::json!({ "code": "FAIL", "message": reason });
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    };
    match result {
        Ok(Applied::Changed | Applied::Unchanged) => StatusCode::NO_CONTENT.into_response(),
        Ok(Applied::Refused(reason)) => refused(StatusCode::BAD_REQUEST, &reason),
        Err(Refusal {
            ours: false,
            reason,
        }) => refused(StatusCode::BAD_REQUEST, &reason),
        Err(Refusal { reason, .. }) => refused(StatusCode::INTERNAL_SERVER_ERROR, &reason),
    }
}
