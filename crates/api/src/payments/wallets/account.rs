//! The connector account a wallet payment goes through: for a new trade,
//! the merchant's oldest live account of the wallet's type in the
//! intent's mode; for a notification or a query, the account the trade
//! was opened with. Either is connected through
//! `wallet_connections::connect` (endpoint checked, credentials opened by
//! the vault).

use super::Provider;
use crate::connector_accounts::{self, StoredAccount};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wallet_connections::{connect, ConnectOptions, WalletConnection};
use portcullis_store::{
    CreatedRange, ListQuery, PageCursor, ScanOp, ScanQuery, Scope, SqlValue, Table,
};

/// Live accounts of one type considered when choosing.
const CANDIDATES_MAX: usize = 100;

/// The account a new `provider` trade of `scope` goes through.
pub async fn choose(
    state: &AppState,
    scope: &Scope,
    provider: Provider,
) -> ApiResult<StoredAccount> {
    let query = ListQuery {
        scope: scope.clone(),
        filters: vec![
            (
                "connector_type",
                SqlValue::Text(provider.as_str().to_owned()),
            ),
            ("deleted", SqlValue::Bool(false)),
        ],
        one_of: vec![],
        created: CreatedRange::default(),
        cursor: PageCursor::Newest,
        limit: CANDIDATES_MAX,
    };
    let page = state.store.list(Table::ConnectorAccounts, &query).await?;
    // Newest first: the oldest account stays the choice as others are added.
    let Some(doc) = page.docs.last() else {
        return Err(ApiError::invalid(
            "payment_method_unactivated",
            format!(
                "No {} connector account is set up in this mode: create one with POST /v1/connector_accounts.",
                provider.as_str()
            ),
            "payment_method_data[type]",
        ));
    };
    decode(&doc.body)
}

fn decode(body: &str) -> ApiResult<StoredAccount> {
    serde_json::from_str(body).map_err(|e| ApiError::internal(&e))
}

/// The live account `id` of any merchant, with its scope (for
/// notifications, which name only the account); `None` when unknown or
/// deleted.
pub async fn by_id(state: &AppState, id: &str) -> ApiResult<Option<(Scope, StoredAccount)>> {
    let query = ScanQuery {
        filters: vec![("id", ScanOp::Equal, SqlValue::Text(id.to_owned()))],
        created_before: None,
        limit: 1,
    };
    let Some(found) = state
        .store
        .scan(Table::ConnectorAccounts, &query)
        .await?
        .pop()
    else {
        return Ok(None);
    };
    let stored = decode(&found.doc.body)?;
    Ok((!stored.account.deleted).then_some((found.scope, stored)))
}

/// The account `id` in `scope`, live or not (a trade opened with an
/// account since deleted is still queried and closed with it).
pub async fn in_scope(state: &AppState, scope: &Scope, id: &str) -> ApiResult<StoredAccount> {
    let doc = state
        .store
        .get(Table::ConnectorAccounts, scope, id)
        .await?
        .ok_or_else(|| ApiError::internal(&format_args!("connector account {id} is gone")))?;
    decode(&doc.body)
}

/// A client of `stored`'s provider.
pub async fn connected(state: &AppState, stored: &StoredAccount) -> ApiResult<WalletConnection> {
    let secrets = connector_accounts::open(state, stored)?;
    let base_url = state.base_url();
    let options = ConnectOptions {
        allow_private: state.settings.connectors_allow_private_endpoints,
        call_timeout: state.payments.connector_timeout(),
        notify_base_url: &base_url,
    };
    connect(&stored.account, &secrets, &options)
        .await
        .map_err(|err| {
            ApiError::invalid(
                "payment_method_unactivated",
                format!(
                    "The {} connector account cannot be used: {err}",
                    stored.account.kind.as_str()
                ),
                "payment_method_data[type]",
            )
        })
}
