//! The Portcullis HTTP API: the only crate that knows the Stripe-compatible
//! wire format. It authenticates callers, parses requests into domain
//! values, runs them idempotently against the store, and renders objects
//! and errors as the official client libraries expect.

// Stripe's objects are wide: their `json!` literals need more macro depth.
#![recursion_limit = "256"]

pub mod accounts;
pub mod acquirer_reversals;
mod answer_body;
pub mod auth;
pub mod checkout;
pub mod client_encryption;
pub mod client_ip;
pub mod connector_accounts;
mod customer_balance;
pub use customer_balance::step_up_expiry as balance_step_up_expiry;
mod customers;
pub mod dashboard;
mod echo;
pub mod error;
mod events;
mod expand;
mod health;
pub mod hosted;
mod idempotency;
pub mod ledger;
mod limits;
mod lists;
mod locks;
pub mod metrics;
mod openapi;
mod page_tokens;
pub mod payments;
pub mod qr_images;
pub mod rate_limits;
mod request_id;
pub mod risk;
pub mod routes;
pub mod routing;
mod samples;
mod scope_cache;
pub mod sealed_secrets;
mod security_headers;
mod state;
mod stored_json;
pub mod terminals;
pub mod wallet_connections;
pub mod webhooks;
pub mod wire;

pub use ledger::LedgerSettings;
pub use payments::PaymentSettings;
pub use state::{ApiSettings, AppParts, AppState};
pub use webhooks::WebhookSettings;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use error::ApiError;
use routes::{doc, Routes};

/// Every route of the API, with request ids and our error format for
/// unknown routes and methods, and for paths that are not UTF-8.
pub fn router(state: AppState) -> Router {
    let (mut routes, _) = registry().into_parts();
    if state.settings.bench_echo {
        // The benchmark's baseline: mounted only when asked, and not part
        // of the documented API.
        routes = routes.merge(echo::routes());
    }
    routes
        .layer(axum::middleware::from_fn(metrics::track_request))
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_route)
        .layer(axum::middleware::from_fn(wire::refuse_undecodable_path))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::bound_requests,
        ))
        .layer(axum::middleware::from_fn(limits::catch_panics))
        // Outside the limits, so shed and panic answers carry the headers too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers::add,
        ))
        .layer(axum::middleware::from_fn(request_id::assign_request_id))
        .with_state(state)
}

/// Every route of the API with its documentation, and `/openapi.json`
/// generated from the same list.
pub fn registry() -> Routes {
    let api = Routes::new()
        .get(
            doc("/health", "Liveness", "health")
                .public()
                .params(routes::params::NONE),
            health::health,
        )
        .get(
            doc("/ready", "Readiness: the database answers", "health")
                .public()
                .params(routes::params::NONE),
            health::ready,
        )
        .merge(customers::routes())
        .merge(payments::routes())
        .merge(ledger::routes())
        .merge(risk::routes())
        .merge(events::routes())
        .merge(webhooks::routes())
        .merge(connector_accounts::routes())
        .merge(routing::routes())
        .merge(checkout::routes())
        .merge(client_encryption::routes())
        .merge(accounts::routes())
        .merge(customer_balance::routes())
        .merge(dashboard::routes());
    let (router, mut operations) = api.into_parts();
    operations.push(routes::Operation {
        method: "get",
        path: "/openapi.json",
        summary: "This document",
        answers: Some("openapi"),
        auth: routes::Auth::Public,
        params: Some(routes::params::NONE),
    });
    let document = std::sync::Arc::new(openapi::document(&operations).to_string());
    let served =
        router.route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move {
                    idempotency::json_response(axum::http::StatusCode::OK, (*document).clone())
                }
            }),
        );
    Routes::from_parts(served, operations)
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
