//! The wallet worker: every [`PASS_INTERVAL`] it looks at intents still
//! waiting for a wallet (`requires_action` or `processing` with a trade)
//! whose trade has expired, asks the provider, and settles each: a trade
//! paid after all (its notification late or lost) makes the intent
//! succeed; otherwise the trade is closed at the provider, then the
//! intent canceled (`payment_intent.canceled`). Every change is a
//! version-checked write set through `settle`, so instances on one
//! PostgreSQL may run the same pass: the first commit wins and the others'
//! writes are refused as conflicts.
//!
//! Before expiry, each pass also asks about trades that crossed a step of
//! [`EARLY_QUERIES_S`] since the previous pass (counted from the trade's
//! opening), so a payment whose notification was lost succeeds within
//! about ten seconds rather than at expiry; a trade not paid yet is left
//! alone. Steps are followed per process (several instances each ask).

use super::account::{connected, in_scope};
use super::settle::{self, Applied};
use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::payments::Ctx;
use crate::state::AppState;
use crate::wallet_connections::WalletConnection;
use portcullis_connectors::wallets::{TradeState, TradeStatus, WalletCallError};
use portcullis_domain::payment_intents::{PaymentIntent, WalletTrade};
use portcullis_store::{ScanOp, ScanQuery, Scope, SqlValue, Table};
use std::time::Duration;

/// How often waiting intents are looked at.
pub const PASS_INTERVAL: Duration = Duration::from_secs(2);
/// Most intents looked at per pass.
const INTENTS_PER_PASS_MAX: usize = 500;

/// Seconds after a trade opened at which the worker asks the provider
/// about it before it expires: Alipay's and WeChat Pay's advice to query
/// when no notification came, backing off.
pub const EARLY_QUERIES_S: &[i64] = &[10, 30, 60, 120, 300, 600, 1200, 1800, 3600];

pub async fn run(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut previous_s = state.now();
    loop {
        if let Err(err) = pass(&state).await {
            tracing::warn!(error = %err.message, "wallet worker pass failed");
        }
        let now_s = state.now();
        if let Err(err) = early_pass(&state, previous_s, now_s).await {
            tracing::warn!(error = %err.message, "wallet worker early queries failed");
        }
        previous_s = now_s;
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(PASS_INTERVAL) => {}
        }
    }
}

/// Settles every expired wallet trade found; returns how many intents changed.
pub async fn pass(state: &AppState) -> ApiResult<usize> {
    let mut changed = 0;
    let due = ScanQuery {
        filters: vec![(
            "wallet_expires_at",
            ScanOp::AtMost,
            SqlValue::Integer(state.now()),
        )],
        created_before: None,
        limit: INTENTS_PER_PASS_MAX,
    };
    for found in state.store.scan(Table::PaymentIntents, &due).await? {
        let intent: PaymentIntent =
            serde_json::from_str(&found.doc.body).map_err(|e| ApiError::internal(&e))?;
        let Some(trade) = intent.waiting_wallet_trade().cloned() else {
            continue;
        };
        let settled = if trade.provider == super::aggregated::UNCHOSEN {
            let origin = Origin::default();
            let ctx = Ctx {
                state,
                scope: &found.scope,
                origin: &origin,
            };
            settle::expired_unchosen(&ctx, &intent.id).await
        } else {
            settle_expired(state, &found.scope, &trade).await
        };
        match settled {
            Ok(Applied::Changed) => changed += 1,
            Ok(Applied::Refused(reason)) => {
                tracing::warn!(out_trade_no = %trade.out_trade_no, reason = %reason, "wallet worker could not settle a trade")
            }
            Ok(Applied::Unchanged) => {}
            Err(err) => {
                tracing::warn!(out_trade_no = %trade.out_trade_no, error = %err.message, "wallet worker: trade left for the next pass")
            }
        }
    }
    Ok(changed)
}

/// Whether a trade opened at `opened_s` crossed a step of
/// [`EARLY_QUERIES_S`] after `since_s` and by `now_s`.
pub fn early_query_due(opened_s: i64, since_s: i64, now_s: i64) -> bool {
    EARLY_QUERIES_S
        .iter()
        .any(|step| since_s < opened_s + step && opened_s + step <= now_s)
}

/// Asks about waiting, unexpired trades whose early query is due (between
/// `since_s` and `now_s`); applies those paid. Returns how many changed.
pub async fn early_pass(state: &AppState, since_s: i64, now_s: i64) -> ApiResult<usize> {
    let waiting = ScanQuery {
        filters: vec![("wallet_expires_at", ScanOp::After, SqlValue::Integer(now_s))],
        created_before: None,
        limit: INTENTS_PER_PASS_MAX,
    };
    let mut changed = 0;
    for found in state.store.scan(Table::PaymentIntents, &waiting).await? {
        let intent: PaymentIntent =
            serde_json::from_str(&found.doc.body).map_err(|e| ApiError::internal(&e))?;
        let Some(trade) = intent.waiting_wallet_trade() else {
            continue;
        };
        let due = trade
            .opened_at
            .is_some_and(|opened| early_query_due(opened, since_s, now_s));
        // A payment code is polled by its own request.
        if !due || trade.flow == "code" || trade.provider == super::aggregated::UNCHOSEN {
            continue;
        }
        match query_paid(state, &found.scope, trade).await {
            Ok(Applied::Changed) => changed += 1,
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(out_trade_no = %trade.out_trade_no, error = %err.message, "wallet worker: early query failed")
            }
        }
    }
    Ok(changed)
}

/// Asks the provider at once about the wallet trade `intent` waits for,
/// when the customer is back from the wallet (its return can beat its
/// notification): applies it when paid. Whether it asked (the intent may
/// have changed, by this answer or by the notification meanwhile); a
/// provider that does not answer changes nothing (the notification and
/// this worker's passes still will).
pub async fn query_on_return(state: &AppState, scope: &Scope, intent: &PaymentIntent) -> bool {
    let Some(trade) = intent.waiting_wallet_trade() else {
        return false;
    };
    if trade.flow == "code" || trade.provider == super::aggregated::UNCHOSEN {
        return false;
    }
    if let Err(err) = query_paid(state, scope, trade).await {
        tracing::warn!(out_trade_no = %trade.out_trade_no, error = %err.message, "wallet: query on the customer's return failed");
    }
    true
}

/// Applies a trade the provider reports paid; leaves any other alone.
async fn query_paid(state: &AppState, scope: &Scope, trade: &WalletTrade) -> ApiResult<Applied> {
    let stored = in_scope(state, scope, &trade.connector_account).await?;
    let connection = connected(state, &stored).await?;
    let status = query(&connection, &trade.out_trade_no)
        .await
        .map_err(|err| ApiError::unavailable(&err))?;
    if !matches!(
        status.state,
        TradeState::Paid | TradeState::Refunded | TradeState::Failed
    ) {
        return Ok(Applied::Unchanged);
    }
    let origin = Origin::default();
    let ctx = Ctx {
        state,
        scope,
        origin: &origin,
    };
    if status.state == TradeState::Failed {
        tracing::info!(out_trade_no = %trade.out_trade_no, "wallet worker: failed trade found");
    } else {
        tracing::info!(out_trade_no = %trade.out_trade_no, "wallet worker: paid trade found before its notification");
    }
    apply_paid(&ctx, trade, &status).await
}

/// Applies what a query of `trade` found paid (the providers' domestic
/// APIs are in CNY).
async fn apply_paid(
    ctx: &Ctx<'_>,
    trade: &WalletTrade,
    status: &TradeStatus,
) -> ApiResult<Applied> {
    settle::apply(
        ctx,
        &trade.connector_account,
        &trade.out_trade_no,
        status,
        "CNY",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::early_query_due;

    #[test]
    fn each_step_is_due_once_in_the_pass_that_crosses_it() {
        // Opened at 100: steps at 110, 130, 160, …
        assert!(!early_query_due(100, 100, 109));
        assert!(early_query_due(100, 109, 110));
        assert!(!early_query_due(100, 110, 112));
        assert!(early_query_due(100, 125, 131));
        // A slow pass that crossed two steps still asks (once).
        assert!(early_query_due(100, 105, 200));
        assert!(!early_query_due(100, 100 + 3600, 100 + 99_999));
    }
}

async fn query(
    connection: &WalletConnection,
    out_trade_no: &str,
) -> Result<TradeStatus, WalletCallError> {
    match connection {
        WalletConnection::Alipay(client) => client.query(out_trade_no).await,
        WalletConnection::WechatPay(client) => client.query(out_trade_no).await,
    }
}

pub(crate) async fn close(
    connection: &WalletConnection,
    out_trade_no: &str,
) -> Result<(), WalletCallError> {
    match connection {
        WalletConnection::Alipay(client) => client.close(out_trade_no).await,
        WalletConnection::WechatPay(client) => client.close(out_trade_no).await,
    }
}

/// Asks the provider about an expired trade and settles its intent.
async fn settle_expired(
    state: &AppState,
    scope: &Scope,
    trade: &WalletTrade,
) -> ApiResult<Applied> {
    let origin = Origin::default();
    let ctx = Ctx {
        state,
        scope,
        origin: &origin,
    };
    let stored = in_scope(state, scope, &trade.connector_account).await?;
    let connection = connected(state, &stored).await?;
    let unavailable = |err: WalletCallError| ApiError::unavailable(&err);
    // A payment code's trade is queried and reversed with its own calls.
    let is_code = trade.flow == "code";
    let status = if is_code {
        super::code::query_code(&connection, &trade.out_trade_no).await
    } else {
        query(&connection, &trade.out_trade_no).await
    }
    .map_err(unavailable)?;
    match status.state {
        TradeState::Paid | TradeState::Refunded => apply_paid(&ctx, trade, &status).await,
        TradeState::UserPaying if !is_code => Ok(Applied::Unchanged),
        TradeState::Waiting | TradeState::NotFound | TradeState::UserPaying => {
            if is_code {
                super::code::reverse(&connection, &trade.out_trade_no).await
            } else {
                close(&connection, &trade.out_trade_no).await
            }
            .map_err(unavailable)?;
            // A trade paid between the query and the close is refused by
            // the close, so reaching here means it is closed unpaid.
            settle::expired(&ctx, &trade.out_trade_no, &trade.connector_account).await
        }
        TradeState::Closed | TradeState::Failed => {
            settle::expired(&ctx, &trade.out_trade_no, &trade.connector_account).await
        }
    }
}
