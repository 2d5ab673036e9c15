//! `/v1/webhook_endpoints`: create (the answer shows the `secret`, once),
//! retrieve, update, delete, list, and `…/{id}/roll_secret`.

use super::{stored, targets};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::events::{event, previous_attributes, Origin};
use crate::idempotency::{self, json_response, Executed};
use crate::lists;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::{ApiRequest, Params};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::customers::Patch;
use portcullis_domain::ids::has_prefix;
use portcullis_domain::webhooks::{
    EnabledEvents, EndpointChanges, WebhookEndpoint, WebhookError, WebhookUrl,
    DESCRIPTION_CHARS_MAX, ENDPOINTS_MAX, ENDPOINT_ID_PREFIX, EVENT_TYPE_CHARS_MAX,
};
use portcullis_store::{
    Doc, ListQuery, PageCursor, Scope, SqlValue, StoreError, Table, WriteOp, WriteSet,
};
use serde_json::{json, Value};

pub const RESOURCE: &str = "webhook_endpoints";
const URL: &str = "/v1/webhook_endpoints";
/// How long a rolled secret keeps signing when the request does not say.
const ROLL_EXPIRY_S_DEFAULT: i64 = 24 * 3600;

use crate::routes::params::{self as p, Param};

const CREATE: &[Param] = &[
    p::string("url", portcullis_domain::webhooks::targets::URL_CHARS_MAX).required(),
    p::list("enabled_events").required(),
    p::string("description", DESCRIPTION_CHARS_MAX),
    p::METADATA,
    p::string("api_version", 64),
    p::boolean("disabled"),
];
const UPDATE: &[Param] = &[
    p::string("url", portcullis_domain::webhooks::targets::URL_CHARS_MAX),
    p::list("enabled_events"),
    p::string("description", DESCRIPTION_CHARS_MAX),
    p::METADATA,
    p::string("api_version", 64),
    p::boolean("disabled"),
];
const LIST: &[Param] = crate::routes::params::list_params![];

const ROLL_SECRET: &[Param] = &[p::integer("expires_in_s")];

pub fn routes() -> Routes {
    let one = "/v1/webhook_endpoints/{id}";
    Routes::new()
        .post(
            doc(
                URL,
                "Create a webhook endpoint (answers its secret once)",
                "webhook_endpoint",
            )
            .params(CREATE),
            create,
        )
        .get(
            doc(URL, "List webhook endpoints", "list").params(LIST),
            list,
        )
        .get(
            doc(one, "Retrieve a webhook endpoint", "webhook_endpoint").params(p::NONE),
            retrieve,
        )
        .post(
            doc(one, "Update a webhook endpoint", "webhook_endpoint").params(UPDATE),
            update,
        )
        .delete(
            doc(one, "Delete a webhook endpoint", "deleted_webhook_endpoint").params(p::NONE),
            delete,
        )
        .post(
            doc(
                "/v1/webhook_endpoints/{id}/roll_secret",
                "Roll the signing secret; the old one signs too until it expires",
                "webhook_endpoint",
            )
            .params(ROLL_SECRET),
            roll_secret,
        )
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = async {
        caller.require(RESOURCE, Access::Write)?;
        let changes = changes_from(&state, &mut request.params).await?;
        std::mem::take(&mut request.params).finish()?;
        let url = changes
            .url
            .clone()
            .ok_or_else(|| ApiError::missing_parameter("url"))?;
        let events = changes.enabled_events.clone();
        let events = events.ok_or_else(|| ApiError::missing_parameter("enabled_events"))?;
        WebhookEndpoint::create(&changes, url, events, caller.livemode(), state.now())
            .map_err(domain_error)
    };
    let endpoint = match parsed.await {
        Ok(endpoint) => endpoint,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        refuse_past_endpoints_max(&state, &caller.scope()).await?;
        let (body, kek_id) = stored::sealed_body(&state, &endpoint)?;
        let mut writes = WriteSet::new();
        writes.push(WriteOp::Insert {
            table: Table::WebhookEndpoints,
            scope: caller.scope(),
            id: endpoint.id.clone(),
            created: endpoint.created,
            columns: columns_of(&endpoint, false, kek_id),
            body,
        });
        Ok(Executed::ok(render_with_secret(&endpoint), writes))
    })
    .await
}

/// 400 when the scope already has [`ENDPOINTS_MAX`] live endpoints. The
/// database enforces the same bound on insert (a trigger), so concurrent
/// creates on any number of instances cannot pass it either.
async fn refuse_past_endpoints_max(state: &AppState, scope: &Scope) -> ApiResult<()> {
    let query = ListQuery {
        scope: scope.clone(),
        filters: vec![],
        one_of: vec![],
        created: Default::default(),
        cursor: PageCursor::Newest,
        limit: ENDPOINTS_MAX,
    };
    let page = state.store.list(Table::WebhookEndpoints, &query).await?;
    if page.docs.len() >= ENDPOINTS_MAX {
        return Err(ApiError::limit_reached("webhook_endpoints_max"));
    }
    Ok(())
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        request.params.finish()?;
        let (_, endpoint) = load_live(&state, &caller.scope(), &id).await?;
        Ok(render(&endpoint))
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
        let changes = changes_from(&state, &mut request.params).await?;
        std::mem::take(&mut request.params).finish()?;
        Ok::<_, ApiError>(changes)
    };
    let changes = match parsed.await {
        Ok(changes) => changes,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let (doc, endpoint) = load_live(&state, &caller.scope(), &id).await?;
        let updated = endpoint.updated(&changes).map_err(domain_error)?;
        let writes = update_writes(&state, &caller.scope(), &doc, &endpoint, &updated)?;
        Ok(Executed::ok(render(&updated), writes))
    })
    .await
}

async fn roll_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = (|| {
        caller.require(RESOURCE, Access::Write)?;
        let expires_in_s = request.params.integer("expires_in_s")?;
        std::mem::take(&mut request.params).finish()?;
        Ok::<_, ApiError>(expires_in_s.unwrap_or(ROLL_EXPIRY_S_DEFAULT))
    })();
    let expires_in_s = match parsed {
        Ok(expires_in_s) => expires_in_s,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let (doc, endpoint) = load_live(&state, &caller.scope(), &id).await?;
        let rolled = endpoint
            .rolled(state.now(), expires_in_s)
            .map_err(domain_error)?;
        let writes = update_writes(&state, &caller.scope(), &doc, &endpoint, &rolled)?;
        Ok(Executed::ok(render_with_secret(&rolled), writes))
    })
    .await
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
    idempotency::respond(&state, &caller, &request, || async {
        let (doc, endpoint) = load_live(&state, &caller.scope(), &id).await?;
        let deleted = endpoint.deleted();
        let writes = update_writes(&state, &caller.scope(), &doc, &endpoint, &deleted)?;
        let body = json!({ "id": endpoint.id, "object": "webhook_endpoint", "deleted": true });
        Ok(Executed::ok(body, writes))
    })
    .await
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let result = async {
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
        let page = state
            .store
            .list(Table::WebhookEndpoints, &query)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => lists::cursor_not_found("webhook_endpoint", &query.cursor),
                other => other.into(),
            })?;
        let data = page
            .docs
            .iter()
            .map(|doc| stored::parse(&state, doc).map(|e| render(&e)))
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

/// Reads `url` (checked against private targets), `enabled_events`,
/// `disabled`, `description`, `metadata` and `api_version`.
async fn changes_from(state: &AppState, params: &mut Params) -> ApiResult<EndpointChanges> {
    let url = match params.string("url", portcullis_domain::webhooks::targets::URL_CHARS_MAX)? {
        None => None,
        Some(text) => Some(checked_url(state, &text).await?),
    };
    let enabled_events = match params.patch_string_list("enabled_events", EVENT_TYPE_CHARS_MAX)? {
        Patch::Keep => None,
        Patch::Clear => return Err(domain_error(WebhookError::EnabledEvents)),
        Patch::Set(types) => Some(EnabledEvents::parse(types).map_err(domain_error)?),
    };
    Ok(EndpointChanges {
        url,
        enabled_events,
        disabled: params.boolean("disabled")?,
        description: params.patch_string("description", DESCRIPTION_CHARS_MAX)?,
        metadata: params.metadata()?,
        api_version: params.string("api_version", 64)?,
    })
}

async fn checked_url(state: &AppState, text: &str) -> ApiResult<WebhookUrl> {
    let url = WebhookUrl::parse(text)
        .map_err(|err| ApiError::invalid("url_invalid", err.to_string(), "url"))?;
    targets::check_url_form(&url, state.webhooks.allow_private_targets)
        .map_err(|err| ApiError::invalid("url_invalid", format!("Invalid URL: {err}."), "url"))?;
    Ok(url)
}

fn domain_error(err: WebhookError) -> ApiError {
    ApiError::invalid("parameter_invalid", err.to_string(), err.param())
}

/// The indexed columns; `kek_id` names the KEK sealing the secrets;
/// `reset_health` ends the endpoint's run of failures (when it is enabled
/// again).
fn columns_of(
    endpoint: &WebhookEndpoint,
    reset_health: bool,
    kek_id: String,
) -> Vec<(&'static str, SqlValue)> {
    let mut columns = vec![
        ("status", SqlValue::Text(endpoint.status().to_owned())),
        (
            "enabled_events",
            SqlValue::Text(endpoint.enabled_events.column_text()),
        ),
        ("deleted", SqlValue::Bool(endpoint.deleted)),
        ("kek_id", SqlValue::Text(kek_id)),
    ];
    if reset_health {
        columns.push(("failing_since_ms", SqlValue::Null));
    }
    columns
}

/// The update of `doc` from `before` to `after`, its secrets sealed anew.
pub(super) fn update_writes(
    state: &AppState,
    scope: &Scope,
    doc: &Doc,
    before: &WebhookEndpoint,
    after: &WebhookEndpoint,
) -> ApiResult<WriteSet> {
    let (body, kek_id) = stored::sealed_body(state, after)?;
    let mut writes = WriteSet::new();
    writes.push(WriteOp::Update {
        table: Table::WebhookEndpoints,
        scope: scope.clone(),
        id: after.id.clone(),
        expected_version: doc.version,
        columns: columns_of(after, after.enabled && !before.enabled, kek_id),
        body,
    });
    Ok(writes)
}

/// The writes that disable a failing endpoint and say so in an event.
pub fn disabled_writes(
    state: &AppState,
    scope: &Scope,
    doc: &Doc,
    endpoint: &WebhookEndpoint,
) -> ApiResult<WriteSet> {
    let disabled = endpoint.updated(&EndpointChanges {
        disabled: Some(true),
        ..EndpointChanges::default()
    });
    let disabled = disabled.map_err(|err| ApiError::internal(&err))?;
    let mut writes = update_writes(state, scope, doc, endpoint, &disabled)?;
    let (before, after) = (render(endpoint), render(&disabled));
    let previous = previous_attributes(&before, &after);
    let kind = "webhook_endpoint.disabled";
    writes.push(event(
        scope,
        kind,
        &after,
        previous,
        &Origin::default(),
        state.now(),
    ));
    Ok(writes)
}

/// The endpoint `id` in `scope`, deleted or not; `None` if there is none.
pub async fn load_endpoint(
    state: &AppState,
    scope: &Scope,
    id: &str,
) -> ApiResult<Option<(Doc, WebhookEndpoint)>> {
    if !has_prefix(id, ENDPOINT_ID_PREFIX) {
        return Ok(None);
    }
    match state.store.get(Table::WebhookEndpoints, scope, id).await? {
        None => Ok(None),
        Some(doc) => {
            let endpoint = stored::parse(state, &doc)?;
            Ok(Some((doc, endpoint)))
        }
    }
}

/// Like [`load_endpoint`], but a missing or deleted endpoint is a 404.
pub async fn load_live(
    state: &AppState,
    scope: &Scope,
    id: &str,
) -> ApiResult<(Doc, WebhookEndpoint)> {
    match load_endpoint(state, scope, id).await? {
        Some((doc, endpoint)) if !endpoint.deleted => Ok((doc, endpoint)),
        _ => Err(ApiError::no_such("webhook_endpoint", id, "id")),
    }
}

/// The endpoint on the wire; never its secret.
pub fn render(e: &WebhookEndpoint) -> Value {
    json!({
        "id": e.id,
        "object": "webhook_endpoint",
        "api_version": e.api_version,
        "application": null,
        "created": e.created,
        "description": e.description,
        "enabled_events": e.enabled_events.types(),
        "livemode": e.livemode,
        "metadata": e.metadata,
        "status": e.status(),
        "url": e.url.as_str(),
    })
}

/// The endpoint with its current secret: only the answers to create and
/// roll_secret.
fn render_with_secret(e: &WebhookEndpoint) -> Value {
    let mut object = render(e);
    object["secret"] = json!(e.current_secret().expose());
    object
}
