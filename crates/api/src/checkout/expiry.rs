//! The expiry worker: every [`PASS_INTERVAL`] it finds open sessions
//! whose `expires_at` has come and expires them, each with its
//! `checkout.session.expired` event in one version-checked write set — so
//! two instances never expire the same session twice, and a session paid
//! in the meantime stays paid (its version moved; the write is refused).
//! A session's PaymentIntent is settled first (see `closing`): paid, the
//! session completes instead; in flight, it waits; else it is canceled.

use super::closing::{before_expiry, Closing};
use super::{moved_writes, Record};
use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::state::AppState;
use portcullis_domain::checkout::{CheckoutSession, CheckoutTransition};
use portcullis_store::{ScanOp, ScanQuery, SqlValue, StoreError};
use std::time::Duration;

/// How often due sessions are looked for: expiry is announced within
/// about this long of `expires_at`. One indexed query per pass.
pub const PASS_INTERVAL: Duration = Duration::from_secs(1);
/// Most sessions expired per pass; the rest wait for the next one.
const SESSIONS_PER_PASS_MAX: usize = 200;

pub async fn run(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        if let Err(err) = expire_due_sessions(&state).await {
            tracing::warn!(error = %err.message, "checkout expiry pass failed");
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(PASS_INTERVAL) => {}
        }
    }
}

/// Expires every open session whose `expires_at` has passed; returns how
/// many this instance expired.
pub async fn expire_due_sessions(state: &AppState) -> ApiResult<usize> {
    let now = state.now();
    let due = ScanQuery {
        filters: vec![
            ("status", ScanOp::Equal, SqlValue::Text("open".to_owned())),
            ("expires_at", ScanOp::AtMost, SqlValue::Integer(now)),
        ],
        created_before: None,
        limit: SESSIONS_PER_PASS_MAX,
    };
    let found = state.store.scan(CheckoutSession::TABLE, &due).await?;
    let mut expired = 0;
    for item in found {
        let session: CheckoutSession =
            serde_json::from_str(&item.doc.body).map_err(|e| ApiError::internal(&e))?;
        if !session.is_due_to_expire(now) {
            continue;
        }
        let origin = Origin::default();
        let _lock = state.locks.lock(session.id.as_str()).await;
        match before_expiry(state, &item.scope, &session, &origin).await {
            Ok(Closing::Expire) => {}
            Ok(Closing::InFlight) => continue,
            Ok(Closing::Paid(intent)) => {
                let id = session.id.as_str();
                if let Err(err) = super::complete(state, &item.scope, id, &intent, &origin).await {
                    tracing::warn!(error = %err.message, session = id, "could not complete a paid session");
                }
                continue;
            }
            Err(err) => {
                tracing::warn!(error = %err.message, session = session.id.as_str(), "could not cancel an expiring session's intent");
                continue;
            }
        }
        let Some(moved) = session.moved(CheckoutTransition::Expire) else {
            continue;
        };
        let writes = moved_writes(state, &item.scope, &item.doc, &moved, &origin)?;
        match state.store.commit(writes).await {
            Ok(()) => expired += 1,
            // Paid or expired by someone else since the scan: theirs stands.
            Err(StoreError::Conflict) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(expired)
}
