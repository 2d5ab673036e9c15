//! `/v1/risk/lists`: value lists that rules test with `in @alias`, and
//! their items. An item's id is a keyed hash of its list and value, so
//! "is this value in that list?" is one lookup by id on the payment path,
//! and adding a value twice finds the same item.

use super::docs::{self, answer, NewDoc};
use super::RESOURCE;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::{self, Executed};
use crate::lists;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::ids::new_id;
use portcullis_store::{ListQuery, PageCursor, Scope, SqlValue, StoreError, Table, WriteSet};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const URL: &str = "/v1/risk/lists";
const ALIAS_CHARS_MAX: usize = 100;
const VALUE_CHARS_MAX: usize = 512;

use crate::routes::params::{self as p, Param};

const CREATE: &[Param] = &[
    p::string("alias", ALIAS_CHARS_MAX).required(),
    p::string("name", 255),
    p::one_of(
        "item_type",
        &[
            "card_fingerprint",
            "email",
            "ip_address",
            "card_bin",
            "country",
        ],
    )
    .required(),
];
const LIST: &[Param] = crate::routes::params::list_params![];
const ADD_ITEM: &[Param] = &[p::string("value", VALUE_CHARS_MAX).required()];

pub fn routes() -> Routes {
    let one = "/v1/risk/lists/{id}";
    Routes::new()
        .post(
            doc(
                URL,
                "Create a risk list (card fingerprints, emails, IPs, BINs or countries)",
                "risk_list",
            )
            .params(CREATE),
            create,
        )
        .get(doc(URL, "List risk lists", "list").params(LIST), list)
        .get(
            doc(one, "Retrieve a risk list", "risk_list").params(p::NONE),
            retrieve,
        )
        .post(
            doc(
                "/v1/risk/lists/{id}/items",
                "Add an item to a risk list",
                "risk_list_item",
            )
            .params(ADD_ITEM),
            add_item,
        )
        .get(
            doc(
                "/v1/risk/lists/{id}/items",
                "List a risk list's items",
                "list",
            )
            .params(LIST),
            list_items,
        )
        .delete(
            doc(
                "/v1/risk/lists/{id}/items/{item}",
                "Remove an item from a risk list",
                "deleted_risk_list_item",
            )
            .params(p::NONE),
            remove_item,
        )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemType {
    CardFingerprint,
    Email,
    IpAddress,
    CardBin,
    Country,
}

impl ItemType {
    fn parse(text: &str) -> Option<ItemType> {
        serde_json::from_value(Value::String(text.to_owned())).ok()
    }

    /// The canonical form of `value`, as signals spell it, or `None`.
    pub fn normalize(self, value: &str) -> Option<String> {
        let value = value.trim();
        match self {
            ItemType::CardFingerprint => (!value.is_empty()).then(|| value.to_owned()),
            ItemType::Email => value.contains('@').then(|| value.to_ascii_lowercase()),
            ItemType::IpAddress => value
                .parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| ip.to_string()),
            ItemType::CardBin => ((6..=8).contains(&value.len())
                && value.bytes().all(|b| b.is_ascii_digit()))
            .then(|| value.to_owned()),
            ItemType::Country => (value.len() == 2
                && value.bytes().all(|b| b.is_ascii_alphabetic()))
            .then(|| value.to_ascii_uppercase()),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RiskList {
    pub id: String,
    pub alias: String,
    pub name: String,
    pub item_type: ItemType,
    pub created: i64,
    pub livemode: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ListItem {
    id: String,
    list: String,
    value: String,
    created: i64,
    livemode: bool,
    deleted: bool,
}

fn render_list(list: &RiskList) -> Value {
    json!({
        "id": list.id, "object": "risk.list", "alias": list.alias, "name": list.name,
        "item_type": list.item_type, "created": list.created, "livemode": list.livemode,
        "list_items": { "object": "list", "url": format!("{URL}/{}/items", list.id) },
    })
}

fn render_item(item: &ListItem) -> Value {
    json!({
        "id": item.id, "object": "risk.list_item", "list": item.list, "value": item.value,
        "created": item.created, "livemode": item.livemode,
    })
}

/// What removing an item answers.
fn render_deleted_item(item: &ListItem) -> Value {
    json!({ "id": item.id, "object": "risk.list_item", "deleted": true })
}

/// Samples for the OpenAPI document, rendered by the functions above.
pub(super) fn render_samples() -> Vec<(&'static str, Value)> {
    let list = RiskList {
        id: "rsl_sample".into(),
        alias: "blocked_emails".into(),
        name: "Blocked emails".into(),
        item_type: ItemType::Email,
        created: 0,
        livemode: false,
    };
    let item = ListItem {
        id: "rsli_sample".into(),
        list: list.id.clone(),
        value: "fraud@example.com".into(),
        created: 0,
        livemode: false,
        deleted: false,
    };
    vec![
        ("risk_list", render_list(&list)),
        ("risk_list_item", render_item(&item)),
        ("deleted_risk_list_item", render_deleted_item(&item)),
    ]
}

/// The id of `value`'s item in list `list_id`.
pub fn item_id(state: &AppState, list_id: &str, value: &str) -> String {
    let digest = state
        .key_hasher
        .keyed_digest("risk_list_item", &format!("{list_id}\u{0}{value}"));
    format!("rsli_{}", &digest[..24])
}

/// The list with `alias`, if the merchant has one.
pub async fn by_alias(state: &AppState, scope: &Scope, alias: &str) -> ApiResult<Option<RiskList>> {
    let query = ListQuery {
        scope: scope.clone(),
        filters: vec![("alias", SqlValue::Text(alias.to_owned()))],
        one_of: vec![],
        created: Default::default(),
        cursor: PageCursor::Newest,
        limit: 1,
    };
    let page = state.store.list(Table::RiskLists, &query).await?;
    page.docs.first().map(docs::decode).transpose()
}

/// Whether `value` (already in the list type's canonical form) is a live
/// item of `list`.
pub async fn contains(
    state: &AppState,
    scope: &Scope,
    list: &RiskList,
    value: &str,
) -> ApiResult<bool> {
    let Some(value) = list.item_type.normalize(value) else {
        return Ok(false);
    };
    let id = item_id(state, &list.id, &value);
    let found = docs::find::<ListItem>(state, Table::RiskListItems, scope, &id).await?;
    Ok(found.is_some_and(|(_, item)| !item.deleted))
}

async fn load(state: &AppState, scope: &Scope, id: &str) -> ApiResult<RiskList> {
    docs::find::<RiskList>(state, Table::RiskLists, scope, id)
        .await?
        .map(|(_, list)| list)
        .ok_or_else(|| ApiError::no_such("risk.list", id, "id"))
}

fn parse_create(request: &mut ApiRequest) -> ApiResult<(String, String, ItemType)> {
    let params = &mut request.params;
    let alias = params.required_string("alias", ALIAS_CHARS_MAX)?;
    if !alias
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "alias may hold only letters, digits and underscores.",
            "alias",
        ));
    }
    let name = params.string("name", 255)?.unwrap_or_else(|| alias.clone());
    let kind = params.required_string("item_type", 30)?;
    let item_type = ItemType::parse(&kind).ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid",
            "item_type must be card_fingerprint, email, ip_address, card_bin or country.",
            "item_type",
        )
    })?;
    std::mem::take(params).finish()?;
    Ok((alias, name, item_type))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller
        .require(RESOURCE, Access::Write)
        .and_then(|()| parse_create(&mut request));
    let (alias, name, item_type) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        if by_alias(&state, &scope, &alias).await?.is_some() {
            return Err(alias_taken(&alias));
        }
        let list = RiskList {
            id: new_id("rsl"),
            alias: alias.clone(),
            name: name.clone(),
            item_type,
            created: state.now(),
            livemode: scope.livemode,
        };
        let at = NewDoc {
            table: Table::RiskLists,
            scope: &scope,
            id: &list.id,
            created: list.created,
            columns: vec![("alias", SqlValue::Text(alias.clone()))],
        };
        let writes = WriteSet {
            ops: vec![docs::insert(at, &list)?],
        };
        Ok(Executed::ok(render_list(&list), writes))
    })
    .await
}

fn alias_taken(alias: &str) -> ApiError {
    ApiError::invalid(
        "parameter_invalid",
        format!("A list with the alias {alias:?} already exists."),
        "alias",
    )
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    answer(
        async {
            caller.require(RESOURCE, Access::Read)?;
            std::mem::take(&mut request.params).finish()?;
            Ok(render_list(&load(&state, &caller.scope(), &id).await?))
        }
        .await,
    )
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    answer(
        async {
            caller.require(RESOURCE, Access::Read)?;
            let params = &mut request.params;
            let query = ListQuery {
                scope: caller.scope(),
                filters: vec![],
                one_of: vec![],
                created: lists::created(params)?,
                cursor: lists::cursor(params)?,
                limit: lists::limit(params)?,
            };
            std::mem::take(params).finish()?;
            let page =
                state
                    .store
                    .list(Table::RiskLists, &query)
                    .await
                    .map_err(|err| match err {
                        StoreError::NotFound => lists::cursor_not_found("risk.list", &query.cursor),
                        other => other.into(),
                    })?;
            let data = page
                .docs
                .iter()
                .map(|d| docs::decode(d).map(|l| render_list(&l)))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok(lists::list_object(URL, data, page.has_more))
        }
        .await,
    )
}

async fn add_item(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller.require(RESOURCE, Access::Write).and_then(|()| {
        let value = request.params.required_string("value", VALUE_CHARS_MAX)?;
        std::mem::take(&mut request.params).finish()?;
        Ok(value)
    });
    let value = match parsed {
        Ok(value) => value,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || {
        add_item_to(&state, caller.scope(), &id, &value)
    })
    .await
}

/// Adds `value` to list `id` (adding it twice finds the same item).
pub async fn add_item_to(
    state: &AppState,
    scope: Scope,
    id: &str,
    value: &str,
) -> ApiResult<Executed> {
    let list = load(state, &scope, id).await?;
    let value = list.item_type.normalize(value).ok_or_else(|| {
        ApiError::invalid(
            "parameter_invalid",
            format!("{value:?} is not a valid {:?} value.", list.item_type),
            "value",
        )
    })?;
    let item_id = item_id(state, &list.id, &value);
    let existing = docs::find::<ListItem>(state, Table::RiskListItems, &scope, &item_id).await?;
    let (item, op) = match existing {
        Some((_, item)) if !item.deleted => {
            return Ok(Executed::ok(render_item(&item), WriteSet::new()))
        }
        Some((doc, mut item)) => {
            item.deleted = false;
            let columns = vec![
                ("list", SqlValue::Text(list.id.clone())),
                ("deleted", SqlValue::Bool(false)),
            ];
            let op = docs::update(Table::RiskListItems, &scope, &doc, columns, &item)?;
            (item, op)
        }
        None => {
            let item = ListItem {
                id: item_id.clone(),
                list: list.id.clone(),
                value,
                created: state.now(),
                livemode: scope.livemode,
                deleted: false,
            };
            let at = NewDoc {
                table: Table::RiskListItems,
                scope: &scope,
                id: &item.id,
                created: item.created,
                columns: vec![
                    ("list", SqlValue::Text(list.id.clone())),
                    ("deleted", SqlValue::Bool(false)),
                ],
            };
            let op = docs::insert(at, &item)?;
            (item, op)
        }
    };
    Ok(Executed::ok(render_item(&item), WriteSet { ops: vec![op] }))
}

async fn remove_item(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, item_id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller
        .require(RESOURCE, Access::Write)
        .and_then(|()| std::mem::take(&mut request.params).finish());
    if let Err(err) = parsed {
        return err.into_response();
    }
    idempotency::respond(&state, &caller, &request, || {
        remove_item_from(&state, caller.scope(), &id, &item_id)
    })
    .await
}

/// Removes item `item_id` from list `id`.
pub async fn remove_item_from(
    state: &AppState,
    scope: Scope,
    id: &str,
    item_id: &str,
) -> ApiResult<Executed> {
    let missing = || ApiError::no_such("risk.list_item", item_id, "id");
    let (doc, mut item) = docs::find::<ListItem>(state, Table::RiskListItems, &scope, item_id)
        .await?
        .ok_or_else(missing)?;
    if item.list != id || item.deleted {
        return Err(missing());
    }
    item.deleted = true;
    let columns = vec![
        ("list", SqlValue::Text(item.list.clone())),
        ("deleted", SqlValue::Bool(true)),
    ];
    let op = docs::update(Table::RiskListItems, &scope, &doc, columns, &item)?;
    let body = render_deleted_item(&item);
    Ok(Executed::ok(body, WriteSet { ops: vec![op] }))
}

/// The newest `limit` items of list `id` that were not removed, as the
/// API renders them.
pub async fn live_items(
    state: &AppState,
    scope: &Scope,
    id: &str,
    limit: usize,
) -> ApiResult<Vec<Value>> {
    let query = ListQuery {
        scope: scope.clone(),
        filters: vec![
            ("list", SqlValue::Text(id.to_owned())),
            ("deleted", SqlValue::Bool(false)),
        ],
        one_of: vec![],
        created: Default::default(),
        cursor: PageCursor::Newest,
        limit,
    };
    let page = state.store.list(Table::RiskListItems, &query).await?;
    page.docs
        .iter()
        .map(|d| docs::decode(d).map(|i| render_item(&i)))
        .collect()
}

async fn list_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    answer(
        async {
            caller.require(RESOURCE, Access::Read)?;
            let scope = caller.scope();
            let list = load(&state, &scope, &id).await?;
            let params = &mut request.params;
            let query = ListQuery {
                scope,
                filters: vec![("list", SqlValue::Text(list.id.clone()))],
                one_of: vec![],
                created: lists::created(params)?,
                cursor: lists::cursor(params)?,
                limit: lists::limit(params)?,
            };
            std::mem::take(params).finish()?;
            let page = state
                .store
                .list(Table::RiskListItems, &query)
                .await
                .map_err(|err| match err {
                    StoreError::NotFound => {
                        lists::cursor_not_found("risk.list_item", &query.cursor)
                    }
                    other => other.into(),
                })?;
            let data = page
                .docs
                .iter()
                .map(|d| docs::decode(d).map(|i| render_item(&i)))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok(lists::list_object(
                &format!("{URL}/{id}/items"),
                data,
                page.has_more,
            ))
        }
        .await,
    )
}
