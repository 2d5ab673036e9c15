//! Routing across institutions: which card connector account takes a
//! payment. `rules` is `/v1/routing/rules`, `evaluate` the dry run
//! (`POST /v1/routing/evaluate`), `decision` the adapter the payment path
//! and the dry run share (it loads the merchant's accounts and rules and
//! asks the pure `portcullis-routing`).

pub mod cache;
pub mod connectors;
pub mod decision;
pub mod evaluate;
pub mod health;
pub mod iso8583;
pub mod payment;
pub mod rules;
pub mod success;
pub mod wallets;

use crate::routes::Routes;

/// The permission restricted keys need (`routing: read|write`).
pub const RESOURCE: &str = "routing";

pub fn routes() -> Routes {
    rules::routes().merge(evaluate::routes())
}
