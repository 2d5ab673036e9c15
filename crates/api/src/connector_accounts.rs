//! `/v1/connector_accounts`: a merchant's credentials at an institution
//! (create, retrieve, update, list, delete). Secret credentials are sealed
//! by the vault under the account id and never answered: the account
//! shows them as `"set"`. Endpoints on loopback, private or link-local
//! addresses are refused unless the server allows them
//! (`--connectors-allow-private-endpoints`), checked as webhook targets are.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::{self, json_response, Executed};
use crate::lists;
use crate::routes::{doc, Routes};
use crate::sealed_secrets;
use crate::state::AppState;
use crate::webhooks::targets;
use crate::wire::{ApiRequest, Params};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::card_connectors::{self, CardRoutingChanges};
use portcullis_domain::connector_accounts::{
    AccountChanges, ConnectorAccount, ConnectorAccountError, ConnectorType, Credentials, Endpoint,
    Exposure, Shape, CONNECTOR_ACCOUNT_ID_PREFIX, CREDENTIAL_CHARS_MAX,
};
use portcullis_domain::customers::Patch;
use portcullis_domain::ids::has_prefix;
use portcullis_domain::webhooks::targets::URL_CHARS_MAX;
use portcullis_store::{Doc, ListQuery, SqlValue, StoreError, Table, WriteOp, WriteSet};
use portcullis_vault::SealedCard;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const RESOURCE: &str = "connector_accounts";
const URL: &str = "/v1/connector_accounts";
const OBJECT: &str = "connector_account";

use crate::routes::params::{self as p, Param};

const CREATE: &[Param] = &[
    p::one_of(
        "type",
        &[
            "alipay",
            "wechat_pay",
            "sandbox",
            "iso8583",
            "processor",
            "stripe",
        ],
    )
    .required(),
    p::string("endpoint", URL_CHARS_MAX),
    p::Param::new("credentials", p::Kind::StringMap),
    p::METADATA,
    p::boolean("enabled"),
    p::list("card_brands"),
    p::list("currencies"),
    p::integer("priority"),
];
const UPDATE: &[Param] = &[
    p::string("endpoint", URL_CHARS_MAX),
    p::Param::new("credentials", p::Kind::StringMap),
    p::METADATA,
    p::boolean("enabled"),
    p::list("card_brands"),
    p::list("currencies"),
    p::integer("priority"),
];
const LIST: &[Param] = crate::routes::params::list_params![p::string("type", 32),];

pub fn routes() -> Routes {
    let one = "/v1/connector_accounts/{id}";
    Routes::new()
        .post(
            doc(URL, "Create a connector account", OBJECT).params(CREATE),
            create,
        )
        .get(
            doc(URL, "List connector accounts", "list").params(LIST),
            list,
        )
        .get(
            doc(one, "Retrieve a connector account", OBJECT).params(p::NONE),
            retrieve,
        )
        .post(
            doc(one, "Update a connector account", OBJECT).params(UPDATE),
            update,
        )
        .delete(
            doc(
                one,
                "Delete a connector account and erase its credentials",
                "deleted_connector_account",
            )
            .params(p::NONE),
            delete,
        )
}

/// A stored account: the account and its sealed secret credentials
/// (`None` once deleted).
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredAccount {
    #[serde(flatten)]
    pub account: ConnectorAccount,
    pub sealed: Option<Value>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = async {
        caller.require(RESOURCE, Access::Write)?;
        let kind_text = request.params.required_string("type", 32)?;
        let kind = ConnectorType::parse(&kind_text).map_err(domain_error)?;
        let changes = changes_from(kind, &mut request.params)?;
        std::mem::take(&mut request.params).finish()?;
        let account = ConnectorAccount::create(kind, &changes, caller.livemode(), state.now())
            .map_err(domain_error)?;
        if let Some(endpoint) = &account.endpoint {
            check_endpoint(&state, endpoint).await?;
        }
        let sealed = seal(&state, &account.id, &changes.credentials.sealed)?;
        Ok::<_, ApiError>((account, sealed))
    };
    let (account, sealed) = match parsed.await {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    let base_url = state.base_url();
    let response = idempotency::respond(&state, &caller, &request, || async {
        let mut writes = WriteSet::new();
        writes.push(WriteOp::Insert {
            table: Table::ConnectorAccounts,
            scope: caller.scope(),
            id: account.id.clone(),
            created: account.created,
            columns: columns_of(&account, Some(&sealed)),
            body: stored_body(&account, Some(&sealed))?,
        });
        Ok(Executed::ok(render(&account, &base_url), writes))
    })
    .await;
    // Seen at once here; on other instances within routing_cache_ttl_ms.
    state.routing_cache.forget(&caller.scope());
    response
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let base_url = state.base_url();
        request.params.finish()?;
        let (_, stored) = load_live(&state, &caller, &id).await?;
        Ok(render(&stored.account, &base_url))
    };
    answer(result.await)
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = async {
        caller.require(RESOURCE, Access::Write)?;
        // The type is needed to read the credentials: it is the stored one.
        let (_, stored) = load_live(&state, &caller, &id).await?;
        let changes = changes_from(stored.account.kind, &mut request.params)?;
        std::mem::take(&mut request.params).finish()?;
        if let Some(endpoint) = &changes.endpoint {
            check_endpoint(&state, endpoint).await?;
        }
        Ok::<_, ApiError>(changes)
    };
    let changes = match parsed.await {
        Ok(changes) => changes,
        Err(err) => return err.into_response(),
    };
    let base_url = state.base_url();
    let response = idempotency::respond(&state, &caller, &request, || async {
        let (doc, stored) = load_live(&state, &caller, &id).await?;
        let current = Credentials {
            shown: stored.account.shown_credentials.clone(),
            sealed: open(&state, &stored)?,
        };
        let merged = current.merged(&changes.credentials);
        let updated = stored
            .account
            .updated(&changes, &merged)
            .map_err(domain_error)?;
        let sealed = if changes.credentials.sealed.is_empty() {
            stored.sealed.as_ref().map(sealed_from_value).transpose()?
        } else {
            Some(seal(&state, &updated.id, &merged.sealed)?)
        };
        let writes = update_writes(&caller, &doc, &updated, sealed.as_ref())?;
        Ok(Executed::ok(render(&updated, &base_url), writes))
    })
    .await;
    // Seen at once here; on other instances within routing_cache_ttl_ms.
    state.routing_cache.forget(&caller.scope());
    response
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller
        .require(RESOURCE, Access::Write)
        .and_then(|()| std::mem::take(&mut request.params).finish());
    if let Err(err) = parsed {
        return err.into_response();
    }
    let response = idempotency::respond(&state, &caller, &request, || async {
        let (doc, stored) = load_live(&state, &caller, &id).await?;
        if stored.account.routing.is_some() {
            refuse_with_open_payments(&state, &caller.scope(), &stored.account.id).await?;
        }
        refuse_with_unsettled_refunds(&state, &caller.scope(), &stored.account.id).await?;
        // The sealed credentials are dropped: nothing can open them again.
        let writes = update_writes(&caller, &doc, &stored.account.deleted(), None)?;
        let body = json!({ "id": stored.account.id, "object": OBJECT, "deleted": true });
        Ok(Executed::ok(body, writes))
    })
    .await;
    // Seen at once here; on other instances within routing_cache_ttl_ms.
    state.routing_cache.forget(&caller.scope());
    response
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let base_url = state.base_url();
        let params = &mut request.params;
        let mut filters = vec![];
        if let Some(kind) = params.string("type", 32)? {
            let kind = ConnectorType::parse(&kind).map_err(domain_error)?;
            filters.push(("connector_type", SqlValue::Text(kind.as_str().to_owned())));
        }
        let query = ListQuery {
            scope: caller.scope(),
            filters,
            one_of: vec![],
            created: lists::created(params)?,
            cursor: lists::cursor(params)?,
            limit: lists::limit(params)?,
        };
        std::mem::take(params).finish()?;
        let page = state
            .store
            .list(Table::ConnectorAccounts, &query)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => lists::cursor_not_found(OBJECT, &query.cursor),
                other => other.into(),
            })?;
        let data = page
            .docs
            .iter()
            .map(|doc| parse(doc).map(|s| render(&s.account, &base_url)))
            .collect::<ApiResult<Vec<Value>>>()?;
        Ok(lists::list_object(URL, data, page.has_more))
    };
    answer(result.await)
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}

/// Reads `endpoint`, `credentials[…]` (checked for `kind`, keys parsed)
/// and `metadata`.
fn changes_from(kind: ConnectorType, params: &mut Params) -> ApiResult<AccountChanges> {
    let endpoint = match params.string("endpoint", URL_CHARS_MAX)? {
        Some(text) => Some(Endpoint::parse(&text).map_err(domain_error)?),
        None => None,
    };
    let given = match params.object("credentials")? {
        Some(mut hash) => {
            let given = hash.take_all_strings(CREDENTIAL_CHARS_MAX)?;
            hash.finish()?;
            given
        }
        None => BTreeMap::new(),
    };
    let credentials = Credentials::parse(kind, given).map_err(domain_error)?;
    check_keys(kind, &credentials)?;
    Ok(AccountChanges {
        endpoint,
        credentials,
        metadata: params.metadata()?,
        routing: routing_changes_from(params)?,
    })
}

/// Reads `enabled`, `card_brands[]`, `currencies[]` and `priority`.
fn routing_changes_from(params: &mut Params) -> ApiResult<CardRoutingChanges> {
    let list = |params: &mut Params, name: &str| -> ApiResult<Option<Vec<String>>> {
        Ok(match params.patch_string_list(name, 16)? {
            Patch::Keep => None,
            Patch::Clear => Some(Vec::new()),
            Patch::Set(items) => Some(items),
        })
    };
    let routing_error = |err| domain_error(ConnectorAccountError::Routing(err));
    let card_brands = match list(params, "card_brands")? {
        Some(items) => Some(card_connectors::parse_brands(&items).map_err(routing_error)?),
        None => None,
    };
    let currencies = match list(params, "currencies")? {
        Some(items) => Some(card_connectors::parse_currencies(&items).map_err(routing_error)?),
        None => None,
    };
    let priority = match params.integer("priority")? {
        Some(value) => Some(card_connectors::parse_priority(value).map_err(routing_error)?),
        None => None,
    };
    Ok(CardRoutingChanges {
        enabled: params.boolean("enabled")?,
        card_brands,
        currencies,
        priority,
    })
}

/// Every PEM key given must be a usable RSA key of 2048 bits or more.
fn check_keys(kind: ConnectorType, credentials: &Credentials) -> ApiResult<()> {
    for field in kind.credential_fields() {
        let Some(value) = credentials.sealed.get(field.name) else {
            continue;
        };
        let checked = match field.shape {
            Shape::PemPrivateKey => portcullis_wallets::keys::private_key_from_pem(value).map(drop),
            Shape::PemPublicKey => portcullis_wallets::keys::public_key_from_pem(value).map(drop),
            _ => Ok(()),
        };
        checked.map_err(|err| {
            domain_error(ConnectorAccountError::InvalidCredential {
                field: field.name.to_owned(),
                reason: err.to_string(),
            })
        })?;
    }
    Ok(())
}

/// Refuses an endpoint on a private address unless the server allows it.
/// A name that does not resolve now is accepted: it reaches nothing yet,
/// and every connection checks the addresses it resolves to then (the
/// production hosts need not resolve where accounts are set up).
async fn check_endpoint(state: &AppState, endpoint: &Endpoint) -> ApiResult<()> {
    let allow_private = state.settings.connectors_allow_private_endpoints;
    let checked = match (endpoint.url(), endpoint.address()) {
        (Some(url), _) => targets::check_url(url, allow_private).await,
        (None, Some(address)) => {
            targets::resolve_checked(address.host(), address.port(), allow_private)
                .await
                .map(drop)
        }
        (None, None) => Ok(()),
    };
    match checked {
        Ok(()) | Err(targets::TargetError::Unresolved(_)) => Ok(()),
        Err(err) => Err(ApiError::invalid(
            "url_invalid",
            format!("Invalid endpoint: {err}."),
            "endpoint",
        )),
    }
}

fn domain_error(err: ConnectorAccountError) -> ApiError {
    ApiError::invalid("parameter_invalid", err.to_string(), err.param())
}

/// The secret credentials sealed under the account id.
fn seal(state: &AppState, id: &str, secrets: &BTreeMap<String, String>) -> ApiResult<SealedCard> {
    sealed_secrets::seal(&state.vault, id, secrets)
}

/// The secret credentials of a stored account, opened by the vault.
pub fn open(state: &AppState, stored: &StoredAccount) -> ApiResult<BTreeMap<String, String>> {
    let Some(sealed) = &stored.sealed else {
        return Ok(BTreeMap::new());
    };
    sealed_secrets::open(
        &state.vault,
        &stored.account.id,
        &sealed_from_value(sealed)?,
    )
}

fn internal(err: serde_json::Error) -> ApiError {
    ApiError::internal(&err)
}

fn sealed_from_value(value: &Value) -> ApiResult<SealedCard> {
    sealed_secrets::from_member(value)
}

/// The indexed columns: `kek_id` lets key rotation find the account.
fn columns_of(
    account: &ConnectorAccount,
    sealed: Option<&SealedCard>,
) -> Vec<(&'static str, SqlValue)> {
    vec![
        (
            "connector_type",
            SqlValue::Text(account.kind.as_str().to_owned()),
        ),
        ("kek_id", SqlValue::from(sealed.map(|s| s.kek_id.as_str()))),
        ("deleted", SqlValue::Bool(account.deleted)),
    ]
}

fn stored_body(account: &ConnectorAccount, sealed: Option<&SealedCard>) -> ApiResult<String> {
    let sealed = match sealed {
        Some(sealed) => Some(sealed_secrets::to_member(sealed)?),
        None => None,
    };
    let stored = StoredAccount {
        account: account.clone(),
        sealed,
    };
    serde_json::to_string(&stored).map_err(internal)
}

fn update_writes(
    caller: &Caller,
    doc: &Doc,
    account: &ConnectorAccount,
    sealed: Option<&SealedCard>,
) -> ApiResult<WriteSet> {
    let mut writes = WriteSet::new();
    writes.push(WriteOp::Update {
        table: Table::ConnectorAccounts,
        scope: caller.scope(),
        id: account.id.clone(),
        expected_version: doc.version,
        columns: columns_of(account, sealed),
        body: stored_body(account, sealed)?,
    });
    Ok(writes)
}

fn parse(doc: &Doc) -> ApiResult<StoredAccount> {
    serde_json::from_str(&doc.body).map_err(internal)
}

/// The live account `id` of the caller's scope; a missing, deleted or
/// other-mode account is a 404.
pub async fn load_live(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<(Doc, StoredAccount)> {
    let missing = || ApiError::no_such(OBJECT, id, "id");
    if !has_prefix(id, CONNECTOR_ACCOUNT_ID_PREFIX) {
        return Err(missing());
    }
    let doc = state
        .store
        .get(Table::ConnectorAccounts, &caller.scope(), id)
        .await?
        .ok_or_else(missing)?;
    let stored = parse(&doc)?;
    if stored.account.deleted {
        return Err(missing());
    }
    Ok((doc, stored))
}

/// Intent statuses whose payment still needs its connector account (a
/// capture or void to come, an answer or a 3-D Secure continuation due).
const OPEN_STATUSES: [&str; 3] = ["requires_capture", "processing", "requires_action"];
/// Most open intents looked at per page.
const OPEN_PAGE: usize = 100;

/// Refuses deleting card account `id` while a payment it authorized (or is
/// authorizing) is open: their follow-ups would find no credentials.
async fn refuse_with_open_payments(
    state: &AppState,
    scope: &portcullis_store::Scope,
    id: &str,
) -> ApiResult<()> {
    let open = first_in_status(
        state,
        scope,
        portcullis_store::Table::PaymentIntents,
        &OPEN_STATUSES,
        |doc| async move {
            let newest = crate::payments::attempts::newest(state, scope, &doc.id).await?;
            Ok(newest.and_then(|a| a.connector_account).as_deref() == Some(id))
        },
    )
    .await?;
    match open {
        Some(intent) => Err(ApiError::invalid(
            "resource_in_use",
            &format!("This connector account has open payments ({intent}, …): capture or cancel them before deleting it, or disable it (enabled=false) to stop new payments."),
            "id",
        )),
        None => Ok(()),
    }
}

/// Refund statuses still waiting for the institution's answer.
const UNSETTLED_REFUNDS: [&str; 2] = ["pending", "requires_action"];

/// Refuses deleting account `id` while a refund of one of its charges is
/// unsettled: recovery must still ask the institution how it ended, and
/// without the account's credentials it could not.
async fn refuse_with_unsettled_refunds(
    state: &AppState,
    scope: &portcullis_store::Scope,
    id: &str,
) -> ApiResult<()> {
    use crate::payments::records;
    use portcullis_domain::{charges::Charge, refunds::Refund};
    let unsettled = first_in_status(
        state,
        scope,
        portcullis_store::Table::Refunds,
        &UNSETTLED_REFUNDS,
        |doc| async move {
            let refund: Refund =
                serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?;
            let Some(charge_id) = &refund.charge else {
                return Ok(false);
            };
            let (_, charge) = records::load::<Charge>(state, scope, charge_id, "charge").await?;
            Ok(crate::routing::connectors::account_of(&charge) == Some(id))
        },
    )
    .await?;
    match unsettled {
        Some(refund) => Err(ApiError::invalid(
            "resource_in_use",
            &format!("This connector account has unsettled refunds ({refund}, …): wait until they succeed or fail before deleting it, or disable it (enabled=false) to stop new payments."),
            "id",
        )),
        None => Ok(()),
    }
}

/// The id of the newest document of `table` in one of `statuses` for which
/// `uses_account` holds, read [`OPEN_PAGE`] at a time; `None` when none does.
async fn first_in_status<F, Fut>(
    state: &AppState,
    scope: &portcullis_store::Scope,
    table: portcullis_store::Table,
    statuses: &[&str],
    mut uses_account: F,
) -> ApiResult<Option<String>>
where
    F: FnMut(portcullis_store::Doc) -> Fut,
    Fut: std::future::Future<Output = ApiResult<bool>>,
{
    use portcullis_store::{ListQuery, PageCursor, SqlValue};
    let statuses: Vec<SqlValue> = statuses
        .iter()
        .map(|s| SqlValue::Text((*s).to_owned()))
        .collect();
    let mut cursor = PageCursor::Newest;
    loop {
        let query = ListQuery {
            scope: scope.clone(),
            filters: vec![],
            one_of: vec![("status", statuses.clone())],
            created: Default::default(),
            cursor,
            limit: OPEN_PAGE,
        };
        let page = state.store.list(table, &query).await?;
        for doc in &page.docs {
            if uses_account(doc.clone()).await? {
                return Ok(Some(doc.id.clone()));
            }
        }
        match page.docs.last() {
            Some(last) if page.has_more => cursor = PageCursor::StartingAfter(last.id.clone()),
            _ => return Ok(None),
        }
    }
}

/// The account on the wire: identifiers in the clear, secrets as `"set"`.
pub fn render(account: &ConnectorAccount, base_url: &str) -> Value {
    let mut credentials = serde_json::Map::new();
    for field in account.kind.credential_fields() {
        let value = match field.exposure {
            Exposure::Shown => account.shown_credentials.get(field.name).map(|v| json!(v)),
            Exposure::Sealed => account
                .sealed_names
                .iter()
                .any(|name| name == field.name)
                .then(|| json!("set")),
        };
        credentials.insert(field.name.to_owned(), value.unwrap_or(Value::Null));
    }
    let mut rendered = json!({
        "id": account.id,
        "object": OBJECT,
        "type": account.kind.as_str(),
        "created": account.created,
        "credentials": credentials,
        "endpoint": account.endpoint.as_ref().map(Endpoint::base),
        "livemode": account.livemode,
        "metadata": account.metadata,
        "notify_url": format!("{base_url}{}", account.kind.notify_path(&account.id)),
    });
    if let Some(routing) = &account.routing {
        rendered["enabled"] = json!(routing.enabled);
        rendered["card_brands"] = json!(routing.card_brands);
        rendered["currencies"] = json!(routing.currencies);
        rendered["priority"] = json!(routing.priority);
        rendered["health"] = crate::routing::health::health(&account.id);
    }
    rendered
}

/// A sample account for the OpenAPI document's schemas.
pub fn render_samples() -> Vec<(&'static str, Value)> {
    let kind = ConnectorType::Alipay;
    let account = ConnectorAccount {
        id: portcullis_domain::ids::new_id(CONNECTOR_ACCOUNT_ID_PREFIX),
        kind,
        endpoint: Some(Endpoint::parse("https://openapi.alipay.com").expect("a valid URL")),
        livemode: false,
        created: 0,
        metadata: Default::default(),
        shown_credentials: BTreeMap::from([("app_id".to_owned(), "2021000000000000".to_owned())]),
        sealed_names: vec!["private_key".to_owned(), "alipay_public_key".to_owned()],
        deleted: false,
        routing: None,
    };
    let mut sample = render(&account, "https://gateway.example");
    // Each type has credentials of its own names (`app_id`, `mchid`,
    // `secret`, …): an empty sample map leaves them free-form in the schema.
    sample["credentials"] = json!({});
    vec![
        (OBJECT, sample),
        (
            "deleted_connector_account",
            json!({ "id": account.id, "object": OBJECT, "deleted": true }),
        ),
    ]
}
