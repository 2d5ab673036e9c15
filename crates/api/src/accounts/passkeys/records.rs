//! The passkeys' documents: each credential (`cpk_…`) with the public key
//! and counter webauthn-rs keeps, and each ceremony in progress
//! (`pkch_…`) with the server state webauthn-rs needs to finish it.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use portcullis_domain::ids::CustomerId;
use portcullis_store::{CreatedRange, Doc, ListQuery, PageCursor, Scope, SqlValue, Table, WriteOp};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
};

/// Most passkeys one account may hold (one page, and the allow list of a
/// step-up stays small).
pub const PASSKEYS_PER_ACCOUNT_MAX: usize = 20;

/// A registered passkey. Never rendered whole: the wire shows its id,
/// name and dates only.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredPasskey {
    pub id: String,
    pub account: String,
    pub customer: CustomerId,
    pub name: Option<String>,
    pub created: i64,
    pub last_used_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub passkey: Passkey,
}

impl StoredPasskey {
    pub const PREFIX: &'static str = "cpk";
}

/// The server half of a ceremony, as webauthn-rs hands it over.
#[derive(Serialize, Deserialize)]
#[serde(tag = "purpose", content = "state", rename_all = "snake_case")]
pub enum Ceremony {
    /// Adding a passkey to the signed-in account.
    Registration(PasskeyRegistration),
    /// Signing in with any of the merchant's customers' passkeys (the
    /// authenticator says which: a discoverable credential).
    Login(DiscoverableAuthentication),
    /// Proving presence again with one of the signed-in account's passkeys.
    StepUp(PasskeyAuthentication),
}

impl Ceremony {
    pub fn purpose(&self) -> &'static str {
        match self {
            Ceremony::Registration(_) => "registration",
            Ceremony::Login(_) => "login",
            Ceremony::StepUp(_) => "step_up",
        }
    }
}

/// A ceremony in progress: single-use, short-lived, and bound to the
/// session that started it (none for sign-in).
#[derive(Serialize, Deserialize)]
pub struct Challenge {
    pub id: String,
    pub session: Option<String>,
    pub created: i64,
    pub expires_at: i64,
    pub used: bool,
    #[serde(flatten)]
    pub ceremony: Ceremony,
}

impl Challenge {
    pub const PREFIX: &'static str = "pkch";
}

fn body<T: Serialize>(value: &T) -> ApiResult<String> {
    serde_json::to_string(value).map_err(|err| ApiError::internal(&err))
}

fn parse<T: serde::de::DeserializeOwned>(doc: &Doc) -> ApiResult<T> {
    serde_json::from_str(&doc.body).map_err(|err| ApiError::internal(&err))
}

/// The credential id as its column holds it (base64url, no padding).
pub fn credential_key(passkey: &Passkey) -> String {
    credential_id_key(passkey.cred_id().as_ref())
}

pub fn credential_id_key(raw: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn passkey_columns(stored: &StoredPasskey) -> Vec<(&'static str, SqlValue)> {
    vec![
        ("account", SqlValue::Text(stored.account.clone())),
        (
            "credential_id",
            SqlValue::Text(credential_key(&stored.passkey)),
        ),
        ("deleted", SqlValue::Bool(stored.deleted_at.is_some())),
    ]
}

pub fn insert_passkey(scope: &Scope, stored: &StoredPasskey) -> ApiResult<WriteOp> {
    Ok(WriteOp::Insert {
        table: Table::AccountPasskeys,
        scope: scope.clone(),
        id: stored.id.clone(),
        created: stored.created,
        columns: passkey_columns(stored),
        body: body(stored)?,
    })
}

pub fn update_passkey(scope: &Scope, doc: &Doc, stored: &StoredPasskey) -> ApiResult<WriteOp> {
    Ok(WriteOp::Update {
        table: Table::AccountPasskeys,
        scope: scope.clone(),
        id: stored.id.clone(),
        expected_version: doc.version,
        columns: passkey_columns(stored),
        body: body(stored)?,
    })
}

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

/// The account's passkeys not deleted, newest first.
pub async fn of_account(
    state: &AppState,
    scope: &Scope,
    account: &str,
) -> ApiResult<Vec<(Doc, StoredPasskey)>> {
    let filters = vec![
        ("account", SqlValue::Text(account.to_owned())),
        ("deleted", SqlValue::Bool(false)),
    ];
    let page = state
        .store
        .list(
            Table::AccountPasskeys,
            &query(scope, filters, PASSKEYS_PER_ACCOUNT_MAX),
        )
        .await?;
    page.docs
        .into_iter()
        .map(|doc| parse(&doc).map(|stored| (doc, stored)))
        .collect()
}

/// The live passkey with this credential id in the merchant's scope.
pub async fn by_credential(
    state: &AppState,
    scope: &Scope,
    credential_id: &[u8],
) -> ApiResult<Option<(Doc, StoredPasskey)>> {
    let filters = vec![
        (
            "credential_id",
            SqlValue::Text(credential_id_key(credential_id)),
        ),
        ("deleted", SqlValue::Bool(false)),
    ];
    let page = state
        .store
        .list(Table::AccountPasskeys, &query(scope, filters, 1))
        .await?;
    match page.docs.into_iter().next() {
        Some(doc) => parse(&doc).map(|stored| Some((doc, stored))),
        None => Ok(None),
    }
}

pub async fn passkey(
    state: &AppState,
    scope: &Scope,
    id: &str,
) -> ApiResult<Option<(Doc, StoredPasskey)>> {
    match state.store.get(Table::AccountPasskeys, scope, id).await? {
        Some(doc) => parse(&doc).map(|stored| Some((doc, stored))),
        None => Ok(None),
    }
}

pub fn insert_challenge(scope: &Scope, challenge: &Challenge) -> ApiResult<WriteOp> {
    Ok(WriteOp::Insert {
        table: Table::AccountPasskeyChallenges,
        scope: scope.clone(),
        id: challenge.id.clone(),
        created: challenge.created,
        columns: vec![(
            "purpose",
            SqlValue::Text(challenge.ceremony.purpose().to_owned()),
        )],
        body: body(challenge)?,
    })
}

/// The challenge marked used; the version check makes it single-use even
/// when two requests finish it at once.
pub fn spend_challenge(scope: &Scope, doc: &Doc, challenge: &Challenge) -> ApiResult<WriteOp> {
    let mut spent = serde_json::to_value(challenge).map_err(|err| ApiError::internal(&err))?;
    spent["used"] = serde_json::Value::Bool(true);
    Ok(WriteOp::Update {
        table: Table::AccountPasskeyChallenges,
        scope: scope.clone(),
        id: challenge.id.clone(),
        expected_version: doc.version,
        columns: vec![(
            "purpose",
            SqlValue::Text(challenge.ceremony.purpose().to_owned()),
        )],
        body: spent.to_string(),
    })
}

pub async fn challenge(
    state: &AppState,
    scope: &Scope,
    id: &str,
) -> ApiResult<Option<(Doc, Challenge)>> {
    match state
        .store
        .get(Table::AccountPasskeyChallenges, scope, id)
        .await?
    {
        Some(doc) => parse(&doc).map(|c| Some((doc, c))),
        None => Ok(None),
    }
}
