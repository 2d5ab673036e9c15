//! Reading and writing the accounts' documents: accounts, emailed tokens
//! and sessions, each found by an indexed column (email key, customer,
//! token digest, account).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use portcullis_domain::accounts::{
    email_key, AccountSession, AccountStatus, AccountToken, CustomerAccount,
};
use portcullis_store::{CreatedRange, Doc, ListQuery, PageCursor, Scope, SqlValue, Table, WriteOp};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Most sessions read for one account at once (one page).
pub const SESSIONS_PAGE_MAX: usize = 100;

fn query(scope: &Scope, filters: Vec<(&'static str, SqlValue)>, limit: usize) -> ListQuery {
    ListQuery {
        scope: scope.clone(),
        filters,
        one_of: vec![],
        created: CreatedRange::default(),
        cursor: PageCursor::Newest,
        limit,
    }
}

fn parse<T: DeserializeOwned>(doc: &Doc) -> ApiResult<T> {
    serde_json::from_str(&doc.body).map_err(|err| ApiError::internal(&err))
}

fn body<T: Serialize>(value: &T) -> ApiResult<String> {
    serde_json::to_string(value).map_err(|err| ApiError::internal(&err))
}

async fn first<T: DeserializeOwned>(
    state: &AppState,
    table: Table,
    scope: &Scope,
    column: &'static str,
    value: &str,
) -> ApiResult<Option<(Doc, T)>> {
    let filters = vec![(column, SqlValue::Text(value.to_owned()))];
    first_where(state, table, scope, filters).await
}

/// The newest document of `table` matching every filter.
async fn first_where<T: DeserializeOwned>(
    state: &AppState,
    table: Table,
    scope: &Scope,
    filters: Vec<(&'static str, SqlValue)>,
) -> ApiResult<Option<(Doc, T)>> {
    let page = state.store.list(table, &query(scope, filters, 1)).await?;
    match page.docs.into_iter().next() {
        Some(doc) => {
            let value = parse(&doc)?;
            Ok(Some((doc, value)))
        }
        None => Ok(None),
    }
}

/// The live (not deactivated) account with this address.
pub async fn account_by_email(
    state: &AppState,
    scope: &Scope,
    email_key: &str,
) -> ApiResult<Option<(Doc, CustomerAccount)>> {
    first(
        state,
        Table::CustomerAccounts,
        scope,
        "email_key",
        email_key,
    )
    .await
}

pub async fn account_by_customer(
    state: &AppState,
    scope: &Scope,
    customer: &str,
) -> ApiResult<Option<(Doc, CustomerAccount)>> {
    first(state, Table::CustomerAccounts, scope, "customer", customer).await
}

pub async fn account(
    state: &AppState,
    scope: &Scope,
    id: &str,
) -> ApiResult<(Doc, CustomerAccount)> {
    let doc = state
        .store
        .get(Table::CustomerAccounts, scope, id)
        .await?
        .ok_or_else(|| ApiError::internal(&"a session or token names a missing account"))?;
    let account = parse(&doc)?;
    Ok((doc, account))
}

fn account_columns(account: &CustomerAccount) -> Vec<(&'static str, SqlValue)> {
    // A deactivated account lets go of its address (NULLs are distinct in
    // the unique index), so the address can register again.
    let key = match account.status() {
        AccountStatus::Deactivated => SqlValue::Null,
        _ => SqlValue::Text(email_key(&account.email)),
    };
    vec![
        ("email_key", key),
        ("customer", SqlValue::Text(account.customer.to_string())),
        (
            "status",
            SqlValue::Text(account.status().as_str().to_owned()),
        ),
    ]
}

pub fn insert_account(scope: &Scope, account: &CustomerAccount) -> ApiResult<WriteOp> {
    Ok(WriteOp::Insert {
        table: Table::CustomerAccounts,
        scope: scope.clone(),
        id: account.id.clone(),
        created: account.created,
        columns: account_columns(account),
        body: body(account)?,
    })
}

pub fn update_account(scope: &Scope, doc: &Doc, account: &CustomerAccount) -> ApiResult<WriteOp> {
    Ok(WriteOp::Update {
        table: Table::CustomerAccounts,
        scope: scope.clone(),
        id: account.id.clone(),
        expected_version: doc.version,
        columns: account_columns(account),
        body: body(account)?,
    })
}

fn token_columns(token: &AccountToken, digest: &str) -> Vec<(&'static str, SqlValue)> {
    vec![
        ("token_hash", SqlValue::Text(digest.to_owned())),
        ("account", SqlValue::Text(token.account.clone())),
        ("purpose", SqlValue::Text(token.purpose.as_str().to_owned())),
    ]
}

pub fn insert_token(scope: &Scope, token: &AccountToken, digest: String) -> ApiResult<WriteOp> {
    insert_token_as(scope, token, &digest, token)
}

/// [`insert_token`] with `stored` as the body (the token and more).
pub fn insert_token_as<T: Serialize>(
    scope: &Scope,
    token: &AccountToken,
    digest: &str,
    stored: &T,
) -> ApiResult<WriteOp> {
    Ok(WriteOp::Insert {
        table: Table::AccountTokens,
        scope: scope.clone(),
        id: token.id.clone(),
        created: token.created,
        columns: token_columns(token, digest),
        body: body(stored)?,
    })
}

/// The account's newest token for `purpose`, parsed as `T`.
pub async fn newest_token<T: DeserializeOwned>(
    state: &AppState,
    scope: &Scope,
    account: &str,
    purpose: portcullis_domain::accounts::TokenPurpose,
) -> ApiResult<Option<(Doc, T)>> {
    let filters = vec![
        ("account", SqlValue::Text(account.to_owned())),
        ("purpose", SqlValue::Text(purpose.as_str().to_owned())),
    ];
    first_where(state, Table::AccountTokens, scope, filters).await
}

pub async fn token_by_digest(
    state: &AppState,
    scope: &Scope,
    digest: &str,
) -> ApiResult<Option<(Doc, AccountToken)>> {
    first(state, Table::AccountTokens, scope, "token_hash", digest).await
}

/// The token marked used; its version check makes a token single-use even
/// when two requests spend it at once.
pub fn update_token(
    scope: &Scope,
    doc: &Doc,
    token: &AccountToken,
    digest: &str,
) -> ApiResult<WriteOp> {
    update_token_as(scope, doc, token, digest, token)
}

/// [`update_token`] with `stored` as the body.
pub fn update_token_as<T: Serialize>(
    scope: &Scope,
    doc: &Doc,
    token: &AccountToken,
    digest: &str,
    stored: &T,
) -> ApiResult<WriteOp> {
    Ok(WriteOp::Update {
        table: Table::AccountTokens,
        scope: scope.clone(),
        id: token.id.clone(),
        expected_version: doc.version,
        columns: token_columns(token, digest),
        body: body(stored)?,
    })
}

fn session_columns(session: &AccountSession, digest: &str) -> Vec<(&'static str, SqlValue)> {
    vec![
        ("token_hash", SqlValue::Text(digest.to_owned())),
        ("account", SqlValue::Text(session.account.clone())),
        ("revoked", SqlValue::Bool(session.revoked_at.is_some())),
    ]
}

/// A session document keeps its token's digest in its body too, so a
/// revocation can write the row's columns back unchanged.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredSession {
    #[serde(flatten)]
    pub session: AccountSession,
    pub token_hash: String,
}

pub fn insert_session(
    scope: &Scope,
    session: &AccountSession,
    digest: String,
) -> ApiResult<WriteOp> {
    Ok(WriteOp::Insert {
        table: Table::AccountSessions,
        scope: scope.clone(),
        id: session.id.clone(),
        created: session.created,
        columns: session_columns(session, &digest),
        body: body(&StoredSession {
            session: session.clone(),
            token_hash: digest,
        })?,
    })
}

pub async fn session_by_digest(
    state: &AppState,
    scope: &Scope,
    digest: &str,
) -> ApiResult<Option<(Doc, StoredSession)>> {
    first(state, Table::AccountSessions, scope, "token_hash", digest).await
}

pub async fn session(
    state: &AppState,
    scope: &Scope,
    id: &str,
) -> ApiResult<Option<(Doc, StoredSession)>> {
    match state.store.get(Table::AccountSessions, scope, id).await? {
        Some(doc) => {
            let stored = parse(&doc)?;
            Ok(Some((doc, stored)))
        }
        None => Ok(None),
    }
}

pub fn update_session(scope: &Scope, doc: &Doc, stored: &StoredSession) -> ApiResult<WriteOp> {
    Ok(WriteOp::Update {
        table: Table::AccountSessions,
        scope: scope.clone(),
        id: stored.session.id.clone(),
        expected_version: doc.version,
        columns: session_columns(&stored.session, &stored.token_hash),
        body: body(stored)?,
    })
}

/// The account's sessions not revoked yet, newest first, at most one page.
pub async fn unrevoked_sessions(
    state: &AppState,
    scope: &Scope,
    account: &str,
) -> ApiResult<Vec<(Doc, StoredSession)>> {
    let page = state
        .store
        .list(
            Table::AccountSessions,
            &query(
                scope,
                vec![
                    ("account", SqlValue::Text(account.to_owned())),
                    ("revoked", SqlValue::Bool(false)),
                ],
                SESSIONS_PAGE_MAX,
            ),
        )
        .await?;
    page.docs
        .into_iter()
        .map(|doc| Ok((parse(&doc)?, doc)).map(|(s, d)| (d, s)))
        .collect()
}

/// Revocations of every unrevoked session of `account` except `keep`.
pub async fn revoke_all_writes(
    state: &AppState,
    scope: &Scope,
    account: &str,
    keep: Option<&str>,
    now: i64,
) -> ApiResult<Vec<WriteOp>> {
    let mut writes = vec![];
    for (doc, stored) in unrevoked_sessions(state, scope, account).await? {
        if Some(stored.session.id.as_str()) == keep {
            continue;
        }
        let revoked = StoredSession {
            session: stored.session.revoked(now),
            token_hash: stored.token_hash,
        };
        writes.push(update_session(scope, &doc, &revoked)?);
    }
    Ok(writes)
}
