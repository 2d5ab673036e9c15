//! The wallet worker: every [`PASS_INTERVAL`] it looks at intents still
//! waiting for a wallet (`requires_action` or `processing` with a trade)
//! whose trade has expired, asks the provider, and settles each: a trade
//! paid after all (its notification late or lost) makes the intent
//! succeed; otherwise the trade is closed at the provider, then the
//! intent canceled (`payment_intent.canceled`). Every change is a
//! version-checked write set through `settle`, so instances on one
//! PostgreSQL may run the same pass: the first commit wins and the others'
//! writes are refused as conflicts.

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

pub async fn run(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        if let Err(err) = pass(&state).await {
            tracing::warn!(error = %err.message, "wallet worker pass failed");
        }
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
        TradeState::Paid | TradeState::Refunded => {
            settle::apply(
                &ctx,
                &trade.connector_account,
                &trade.out_trade_no,
                &status,
                "CNY",
            )
            .await
        }
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
