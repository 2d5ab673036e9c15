//! An `iso8583` connector account as a connector: one persistent session
//! to the host at the account's `endpoint` (`host:port`), the account's
//! acceptor ids in every message, and its pending reversals in the
//! database under the account's id, so that any instance's recovery
//! reverses an authorization whose answer never came.
//!
//! The host's name is resolved at each connection through the SSRF guard
//! (`webhooks::targets::resolve_checked`): only checked addresses are
//! connected to, unless `--connectors-allow-private-endpoints` allows
//! private ones.

use crate::acquirer_reversals::StoredReversals;
use crate::connector_accounts::StoredAccount;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::webhooks::targets;
use portcullis_connectors::iso8583::reversals::ReversalStore;
use portcullis_connectors::iso8583::session::{CheckedAddresses, ResolveFuture};
use portcullis_connectors::iso8583::{AcceptorIds, Iso8583Connector, Session, SessionOptions};
use portcullis_connectors::{Connector, Guarded, Iso8583};
use portcullis_iso8583::{Framing, Profile};
use portcullis_store::REVERSALS_PAGE_MAX;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for the TCP connection and sign-on's connection.
const CONNECT_TIMEOUT_MS_MAX: u64 = 2_000;
/// Requests in flight on one account's connection at most (more wait).
const IN_FLIGHT_MAX: usize = 64;
/// An echo test after this long without traffic.
const ECHO_IDLE_S: u64 = 30;
/// Reconnection backoff bounds (full jitter between them).
const BACKOFF_MS_MIN: u64 = 100;
const BACKOFF_MS_MAX: u64 = 10_000;
/// DE 18 when the account names none ("misc. retail").
const DEFAULT_MCC: &str = "5999";

/// What an account's connector is built from: a change of any of it
/// builds a new one.
pub fn fingerprint(stored: &StoredAccount) -> Vec<u8> {
    let account = &stored.account;
    let endpoint = account.endpoint.as_ref().map(|e| e.base());
    serde_json::to_vec(&(endpoint, &account.shown_credentials)).unwrap_or_default()
}

fn shown<'a>(stored: &'a StoredAccount, name: &str) -> Option<&'a str> {
    stored
        .account
        .shown_credentials
        .get(name)
        .map(String::as_str)
}

fn required<'a>(stored: &'a StoredAccount, name: &str) -> ApiResult<&'a str> {
    shown(stored, name)
        .ok_or_else(|| ApiError::internal(&format!("iso8583 account without {name}")))
}

/// The session options of `stored`, its host resolved through the guard.
fn session_options(state: &AppState, stored: &StoredAccount) -> ApiResult<SessionOptions> {
    let address = stored
        .account
        .endpoint
        .as_ref()
        .filter(|endpoint| endpoint.address().is_some())
        .ok_or_else(|| ApiError::internal(&"iso8583 account without an address"))?
        .base();
    let profile = Profile::parse(shown(stored, "profile").unwrap_or("default"))
        .ok_or_else(|| ApiError::internal(&"iso8583 account with an unknown profile"))?;
    let framing = Framing::parse(shown(stored, "framing").unwrap_or("binary2"))
        .ok_or_else(|| ApiError::internal(&"iso8583 account with an unknown framing"))?;
    let allow_private = state.settings.connectors_allow_private_endpoints;
    let resolve = move |host: &str, port: u16| -> ResolveFuture {
        let host = host.to_owned();
        Box::pin(async move {
            targets::resolve_checked(&host, port, allow_private)
                .await
                .map_err(|error| error.to_string())
        })
    };
    let timeout = state.payments.connector_timeout();
    Ok(SessionOptions {
        address,
        resolver: Some(CheckedAddresses(Arc::new(resolve))),
        profile,
        framing,
        acquirer_id: required(stored, "acquirer_id")?.to_owned(),
        connect_timeout: timeout.min(Duration::from_millis(CONNECT_TIMEOUT_MS_MAX)),
        request_timeout: timeout,
        in_flight_max: IN_FLIGHT_MAX,
        echo_idle: Duration::from_secs(ECHO_IDLE_S),
        backoff_min: Duration::from_millis(BACKOFF_MS_MIN),
        backoff_max: Duration::from_millis(BACKOFF_MS_MAX),
    })
}

fn acceptor_ids(stored: &StoredAccount) -> ApiResult<AcceptorIds> {
    Ok(AcceptorIds {
        acquirer_id: required(stored, "acquirer_id")?.to_owned(),
        card_acceptor_id: required(stored, "card_acceptor_id")?.to_owned(),
        terminal_id: required(stored, "terminal_id")?.to_owned(),
        merchant_category_code: shown(stored, "merchant_category_code")
            .unwrap_or(DEFAULT_MCC)
            .to_owned(),
        name_location: None,
    })
}

/// A new connector for `stored`; the reversals a previous run of this
/// account left being reversed are resumed in the background.
pub fn build(state: &AppState, stored: &StoredAccount) -> ApiResult<Arc<dyn Connector>> {
    let account_id = stored.account.id.clone();
    let reversals = Arc::new(StoredReversals::new(state.store.clone(), &account_id));
    let connector = Iso8583::new(Iso8583Connector::new(
        Session::new(session_options(state, stored)?),
        acceptor_ids(stored)?,
        reversals.clone(),
    ));
    let resumed = connector.clone();
    tokio::spawn(async move {
        match reversals.reversing(REVERSALS_PAGE_MAX).await {
            Ok(left) if left.is_empty() => {}
            Ok(left) => {
                tracing::warn!(account = %account_id, count = left.len(), "resuming ISO 8583 reversals left pending");
                resumed.resume_reversals(left);
            }
            Err(error) => {
                tracing::error!(account = %account_id, %error, "reading pending ISO 8583 reversals")
            }
        }
    });
    let timeout = state.payments.connector_timeout();
    Ok(Arc::new(Guarded::new(connector, timeout)))
}
