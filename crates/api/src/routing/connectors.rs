//! A card connector account as a connector. The chosen account's
//! references are prefixed `ca:<account id>:` ([`AccountConnector`]), so a
//! capture, void or refund later finds the account that authorized
//! ([`for_reference`]); an authorization's recovery finds it through the
//! attempt, which records the account ([`for_attempt`]).
//!
//! `sandbox` accounts use the server's sandbox; `processor` accounts a
//! `Processor` to their endpoint with their sealed secret; `iso8583`
//! accounts a session to their host (`super::iso8583`). Each is built once
//! per account and what it is built from, and kept
//! ([`ACCOUNT_CONNECTORS_MAX`] at most). `stripe` accounts a `Stripe`
//! client to their endpoint (Stripe, or another gateway speaking its API)
//! with their sealed secret key. A wallet charge is
//! refunded through its `alipay` / `wechat_pay` account ([`for_charge`],
//! `routing::wallets`).

use super::wallets::WalletConnector;
use crate::connector_accounts::{self, StoredAccount};
use crate::error::{ApiError, ApiResult, ErrorType};
use crate::payments::attempts::Attempt;
use crate::state::AppState;
use crate::wallet_connections::{connect, ConnectOptions};
use axum::http::StatusCode;
use portcullis_connectors::{
    AttemptRecord, AuthorizeOutcome, AuthorizeRequest, CaptureOutcome, Connector, ConnectorError,
    Guarded, Processor, RefundOutcome, Stripe,
};
use portcullis_domain::charges::Charge;
use portcullis_domain::connector_accounts::{ConnectorType, Exposure};
use portcullis_store::{Scope, Table};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The prefix of an account's references: `ca:<ca_…>:<the institution's>`.
const PREFIX: &str = "ca:";
/// Most account connectors kept built (one HTTP client pool each).
pub const ACCOUNT_CONNECTORS_MAX: usize = 1_000;

/// Whether this build can send payments to an account of `kind`.
pub fn served(kind: ConnectorType) -> bool {
    matches!(
        kind,
        ConnectorType::Sandbox
            | ConnectorType::Processor
            | ConnectorType::Iso8583
            | ConnectorType::Stripe
    )
}

/// Whether payments can be sent to `stored`: a served type, and for
/// `iso8583` an address (accounts stored by earlier versions named a
/// settings-file acquirer instead, `credentials[acquirer]`, and are
/// skipped until updated with an `endpoint` and the acceptor ids).
pub fn usable(stored: &StoredAccount) -> bool {
    let account = &stored.account;
    served(account.kind)
        && (account.kind != ConnectorType::Iso8583
            || account
                .endpoint
                .as_ref()
                .is_some_and(|e| e.address().is_some()))
}

/// An account's connector: references it answers carry the account's
/// prefix; those it is given have it taken off.
pub struct AccountConnector {
    account_id: String,
    inner: Arc<dyn Connector>,
}

impl AccountConnector {
    fn prefixed(&self, reference: &str) -> String {
        format!("{PREFIX}{}:{reference}", self.account_id)
    }

    fn inner_reference<'a>(&self, reference: &'a str) -> &'a str {
        split_reference(reference).map_or(reference, |(_, inner)| inner)
    }
}

/// `(account id, the institution's reference)` of a prefixed reference.
fn split_reference(reference: &str) -> Option<(&str, &str)> {
    reference.strip_prefix(PREFIX)?.split_once(':')
}

/// A built connector and what it was built from.
type Built = (Vec<u8>, Arc<dyn Connector>);

fn built() -> &'static parking_lot::Mutex<HashMap<String, Built>> {
    static BUILT: OnceLock<parking_lot::Mutex<HashMap<String, Built>>> = OnceLock::new();
    BUILT.get_or_init(Default::default)
}

/// The connector of `stored` (a served card account).
pub fn connector_of(state: &AppState, stored: &StoredAccount) -> ApiResult<Arc<dyn Connector>> {
    let account = &stored.account;
    let inner: Arc<dyn Connector> = match account.kind {
        ConnectorType::Sandbox => state.connector.clone(),
        ConnectorType::Processor => processor_of(state, stored)?,
        ConnectorType::Stripe => stripe_of(state, stored)?,
        ConnectorType::Iso8583 => kept(stored, super::iso8583::fingerprint(stored), || {
            super::iso8583::build(state, stored)
        })?,
        other => {
            return Err(ApiError::internal(&format!(
                "no connector for type {}",
                other.as_str()
            )))
        }
    };
    Ok(Arc::new(AccountConnector {
        account_id: account.id.clone(),
        inner,
    }))
}

fn processor_of(state: &AppState, stored: &StoredAccount) -> ApiResult<Arc<dyn Connector>> {
    let account = &stored.account;
    let endpoint = account
        .endpoint
        .as_ref()
        .ok_or_else(|| ApiError::internal(&"processor account without endpoint"))?
        .base();
    let secrets = connector_accounts::open(state, stored)?;
    let secret = secrets
        .get("secret")
        .ok_or_else(|| ApiError::internal(&"processor account without secret"))?
        .as_bytes()
        .to_vec();
    let from = fingerprint(&endpoint, &String::from_utf8_lossy(&secret));
    kept(stored, from, || {
        let timeout = state.payments.connector_timeout();
        let processor =
            Processor::new(&endpoint, &secret, timeout).map_err(|e| ApiError::unavailable(&e))?;
        Ok(Arc::new(Guarded::new(processor, timeout)) as Arc<dyn Connector>)
    })
}

fn stripe_of(state: &AppState, stored: &StoredAccount) -> ApiResult<Arc<dyn Connector>> {
    let endpoint = stored
        .account
        .endpoint
        .as_ref()
        .ok_or_else(|| ApiError::internal(&"stripe account without endpoint"))?
        .base();
    let secrets = connector_accounts::open(state, stored)?;
    let secret_key = secrets
        .get("secret_key")
        .ok_or_else(|| ApiError::internal(&"stripe account without secret key"))?;
    kept(stored, fingerprint(&endpoint, secret_key), || {
        let timeout = state.payments.connector_timeout();
        let stripe =
            Stripe::new(&endpoint, secret_key, timeout).map_err(|e| ApiError::unavailable(&e))?;
        Ok(Arc::new(Guarded::new(stripe, timeout)) as Arc<dyn Connector>)
    })
}

/// What an HTTP connector is built from: its endpoint and its secret.
fn fingerprint(endpoint: &str, secret: &str) -> Vec<u8> {
    let mut from = endpoint.as_bytes().to_vec();
    from.push(0);
    from.extend_from_slice(secret.as_bytes());
    from
}

/// The connector kept for `stored` if it was built from `from`, else a
/// new one from `build`, kept.
fn kept(
    stored: &StoredAccount,
    from: Vec<u8>,
    build: impl FnOnce() -> ApiResult<Arc<dyn Connector>>,
) -> ApiResult<Arc<dyn Connector>> {
    let mut cache = built().lock();
    if let Some((known, connector)) = cache.get(&stored.account.id) {
        if *known == from {
            return Ok(connector.clone());
        }
    }
    let connector = build()?;
    if cache.len() >= ACCOUNT_CONNECTORS_MAX {
        cache.clear();
    }
    cache.insert(stored.account.id.clone(), (from, connector.clone()));
    Ok(connector)
}

/// The account `id` of `scope`, deleted or not. A deleted account whose
/// institution needs its sealed credentials (erased at deletion) cannot be
/// reached any more: following up its payments is refused with a 400 that
/// says so, before anything is written. Other deleted accounts (`sandbox`,
/// `iso8583`: no secrets) keep serving their payments.
async fn account(state: &AppState, scope: &Scope, id: &str) -> ApiResult<StoredAccount> {
    let doc = state
        .store
        .get(Table::ConnectorAccounts, scope, id)
        .await?
        .ok_or_else(|| unreachable_account(id))?;
    let stored: StoredAccount =
        serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?;
    if stored.account.deleted && stored.sealed.is_none() && needs_secrets(stored.account.kind) {
        return Err(unreachable_account(id));
    }
    Ok(stored)
}

fn needs_secrets(kind: ConnectorType) -> bool {
    kind.credential_fields()
        .iter()
        .any(|field| field.required && field.exposure == Exposure::Sealed)
}

fn unreachable_account(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequest,
        Some("connector_account_deleted"),
        format!("The connector account {id} that took this payment was deleted, and its credentials with it: the gateway can no longer reach its institution for this payment. Follow it up at the institution directly."),
    )
}

/// The connector a stored reference belongs to.
pub async fn for_reference(
    state: &AppState,
    scope: &Scope,
    reference: &str,
) -> ApiResult<Arc<dyn Connector>> {
    match split_reference(reference) {
        Some((id, _)) => connector_of(state, &account(state, scope, id).await?),
        None => Ok(state.connector.clone()),
    }
}

/// The connector account `charge` was authorized through, if any (none
/// for the built-in sandbox).
pub fn account_of(charge: &Charge) -> Option<&str> {
    let reference = charge.connector_reference.as_deref()?;
    split_reference(reference).map(|(id, _)| id)
}

/// The reference of a wallet charge: its account and trade.
pub fn wallet_reference(account_id: &str, out_trade_no: &str) -> String {
    format!("{PREFIX}{account_id}:{out_trade_no}")
}

/// The connector that refunds `charge`: for a wallet charge its account's
/// provider (Alipay, WeChat Pay) for its trade, otherwise the connector of
/// its reference.
pub async fn for_charge(
    state: &AppState,
    scope: &Scope,
    charge: &Charge,
) -> ApiResult<Arc<dyn Connector>> {
    let reference = charge.connector_reference.as_deref().unwrap_or_default();
    if charge.wallet.is_none() {
        return for_reference(state, scope, reference).await;
    }
    let (id, out_trade_no) = split_reference(reference)
        .ok_or_else(|| ApiError::internal(&format!("wallet charge {} has no trade", charge.id)))?;
    let stored = account(state, scope, id).await?;
    let secrets = connector_accounts::open(state, &stored)?;
    let base_url = state.base_url();
    let options = ConnectOptions {
        allow_private: state.settings.connectors_allow_private_endpoints,
        call_timeout: state.payments.connector_timeout(),
        notify_base_url: &base_url,
    };
    let connection = connect(&stored.account, &secrets, &options)
        .await
        .map_err(|err| ApiError::unavailable(&err))?;
    Ok(Arc::new(WalletConnector::new(
        connection,
        out_trade_no.to_owned(),
        charge.amount_captured_minor,
    )))
}

/// The connector an authorization attempt was sent to.
pub async fn for_attempt(
    state: &AppState,
    scope: &Scope,
    attempt: &Attempt,
) -> ApiResult<Arc<dyn Connector>> {
    match &attempt.connector_account {
        Some(id) => connector_of(state, &account(state, scope, id).await?),
        None => Ok(state.connector.clone()),
    }
}

#[async_trait::async_trait]
impl Connector for AccountConnector {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<AuthorizeOutcome, ConnectorError> {
        let outcome = self.inner.authorize(request).await?;
        Ok(outcome.map_reference(|reference| self.prefixed(reference)))
    }

    async fn capture(
        &self,
        reference: &str,
        amount_minor: i64,
    ) -> Result<CaptureOutcome, ConnectorError> {
        self.inner
            .capture(self.inner_reference(reference), amount_minor)
            .await
    }

    async fn void(&self, reference: &str) -> Result<(), ConnectorError> {
        self.inner.void(self.inner_reference(reference)).await
    }

    async fn refund(
        &self,
        reference: &str,
        refund_id: &str,
        amount_minor: i64,
    ) -> Result<RefundOutcome, ConnectorError> {
        self.inner
            .refund(self.inner_reference(reference), refund_id, amount_minor)
            .await
    }

    async fn refund_status(&self, refund_id: &str) -> Result<RefundOutcome, ConnectorError> {
        self.inner.refund_status(refund_id).await
    }

    async fn cancel_refund(&self, refund_id: &str) -> Result<bool, ConnectorError> {
        self.inner.cancel_refund(refund_id).await
    }

    async fn query(&self, attempt_id: &str) -> Result<Option<AttemptRecord>, ConnectorError> {
        let record = self.inner.query(attempt_id).await?;
        Ok(record.map(|mut record| {
            record.reference = self.prefixed(&record.reference);
            record
        }))
    }

    async fn recover_authorization(
        &self,
        attempt_id: &str,
    ) -> Result<Option<AttemptRecord>, ConnectorError> {
        let record = self.inner.recover_authorization(attempt_id).await?;
        Ok(record.map(|mut record| {
            record.reference = self.prefixed(&record.reference);
            record
        }))
    }
}
