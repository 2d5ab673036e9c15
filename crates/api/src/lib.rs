//! The Portcullis HTTP API: the only crate that knows the Stripe-compatible
//! wire format. It authenticates callers, parses requests into domain
//! values, runs them idempotently against the store, and renders objects
//! and errors as the official client libraries expect.

pub mod auth;
mod customers;
mod echo;
pub mod error;
mod events;
mod expand;
mod health;
mod idempotency;
mod lists;
mod locks;
pub mod payments;
mod request_id;
mod state;
pub mod wire;

pub use payments::PaymentSettings;
pub use state::{ApiSettings, AppParts, AppState};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use error::ApiError;

/// Every route of the API, with request ids and our error format for
/// unknown routes and methods; `POST /internal/echo` only with `bench_echo`.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    if state.settings.bench_echo {
        router = router.merge(echo::routes());
    }
    router
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .merge(customers::routes())
        .merge(payments::routes())
        .merge(events::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_route)
        .layer(axum::middleware::from_fn(request_id::assign_request_id))
        .with_state(state)
}

async fn unknown_route(request: Request) -> Response {
    ApiError::route_not_found(request.method().as_str(), request.uri().path()).into_response()
}

/// Deletes idempotency keys past their retention, every `interval`, until
/// `shutdown` resolves.
pub async fn prune_idempotency_keys(
    state: AppState,
    interval: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let cutoff = state.now() - state.settings.idempotency_retention_s;
        match state.store.prune_idempotency(cutoff).await {
            Ok(pruned) if pruned > 0 => tracing::info!(pruned, "pruned expired idempotency keys"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not prune idempotency keys"),
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
