//! Deletes passkey ceremonies once they cannot finish: every challenge
//! expires [`CHALLENGE_TTL_S`] after it starts, used or not, so the
//! sweeper deletes those started longer ago than that. It runs at start-up
//! and then every [`SWEEP_INTERVAL_S`] on each instance; deleting twice is
//! harmless.

use super::CHALLENGE_TTL_S;
use crate::state::AppState;
use std::time::Duration;

/// How often expired challenges are deleted.
pub const SWEEP_INTERVAL_S: u64 = 60;

/// Deletes the challenges expired at `state.now()`; returns how many.
pub async fn sweep_once(state: &AppState) -> Result<u64, portcullis_store::StoreError> {
    let cutoff = state.now().saturating_sub(CHALLENGE_TTL_S);
    state.store.prune_passkey_challenges(cutoff).await
}

/// Sweeps until `shutdown` completes.
pub async fn run(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        match sweep_once(&state).await {
            Ok(deleted) if deleted > 0 => {
                tracing::info!(deleted, "deleted expired passkey challenges")
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not delete expired passkey challenges"),
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(Duration::from_secs(SWEEP_INTERVAL_S)) => {}
        }
    }
}
