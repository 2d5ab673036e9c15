//! `/v1/routing/rules`: a merchant's routing rules (create, list, retrieve,
//! delete). Rules are read oldest first (see `portcullis_routing::decide`
//! for the order); a rule is text in the routing language, refused with
//! its line and column when it does not parse.

use super::RESOURCE;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::{self, Executed};
use crate::lists;
use crate::risk::docs::{self, answer, NewDoc};
use crate::risk::rules::parse_error;
use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::ids::new_id;
use portcullis_risk::rules::RULE_BYTES_MAX;
use portcullis_routing::{RoutingRule, StoredRule};
use portcullis_store::{ListQuery, PageCursor, Scope, SqlValue, Table, WriteSet};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const URL: &str = "/v1/routing/rules";
const OBJECT: &str = "routing.rule";
const DESCRIPTION_CHARS_MAX: usize = 500;
/// Most rules a merchant has per mode (all are read for every payment).
pub const ROUTING_RULES_MAX: usize = 100;
pub const RULE_ID_PREFIX: &str = "rr";

/// What create accepts.
const CREATE: &[Param] = &[
    p::string("rule", RULE_BYTES_MAX).required(),
    p::string("description", DESCRIPTION_CHARS_MAX),
];
const LIST: &[Param] = crate::routes::params::list_params![];

pub fn routes() -> Routes {
    let one = "/v1/routing/rules/{id}";
    Routes::new()
        .post(
            doc(URL, "Create a routing rule from its text", OBJECT).params(CREATE),
            create,
        )
        .get(
            doc(URL, "List the merchant's routing rules", "list").params(LIST),
            list,
        )
        .get(
            doc(one, "Retrieve a routing rule", OBJECT).params(p::NONE),
            retrieve,
        )
        .delete(
            doc(one, "Delete a routing rule", "deleted_routing_rule").params(p::NONE),
            delete,
        )
}

/// A rule as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoutingRuleRecord {
    pub id: String,
    pub rule: String,
    pub description: Option<String>,
    pub created: i64,
    pub livemode: bool,
    #[serde(default)]
    pub deleted: bool,
}

fn render(record: &RoutingRuleRecord) -> Value {
    let kind = RoutingRule::parse(&record.rule)
        .ok()
        .map(|r| match r.target {
            portcullis_routing::Target::Route(_) => "route",
            portcullis_routing::Target::Split(_) => "split",
            portcullis_routing::Target::Prefer(_) => "prefer",
        });
    json!({
        "id": record.id, "object": OBJECT, "rule": record.rule, "action": kind,
        "description": record.description, "created": record.created,
        "livemode": record.livemode,
    })
}

/// Samples for the OpenAPI document, rendered by [`render`].
pub fn render_samples() -> Vec<(&'static str, Value)> {
    let record = RoutingRuleRecord {
        id: "rr_sample".into(),
        rule: "split ca_A 70, ca_B 30 if :currency: = 'eur'".into(),
        description: None,
        created: 0,
        livemode: false,
        deleted: false,
    };
    vec![
        (OBJECT, render(&record)),
        (
            "deleted_routing_rule",
            json!({"id": record.id, "object": OBJECT, "deleted": true}),
        ),
    ]
}

/// The merchant's live rules, oldest first, as stored.
pub async fn records(state: &AppState, scope: &Scope) -> ApiResult<Vec<RoutingRuleRecord>> {
    let query = ListQuery {
        scope: scope.clone(),
        filters: vec![],
        one_of: vec![],
        created: Default::default(),
        cursor: PageCursor::Newest,
        limit: ROUTING_RULES_MAX,
    };
    let page = state.store.list(Table::RoutingRules, &query).await?;
    let mut records: Vec<RoutingRuleRecord> = page
        .docs
        .iter()
        .map(docs::decode)
        .collect::<ApiResult<_>>()?;
    records.reverse();
    Ok(records)
}

/// The merchant's rules, parsed, in evaluation order. A stored rule that no
/// longer parses (impossible unless the language shrank) is skipped.
pub async fn stored_rules(state: &AppState, scope: &Scope) -> ApiResult<Vec<StoredRule>> {
    Ok(records(state, scope)
        .await?
        .into_iter()
        .filter_map(|r| {
            RoutingRule::parse(&r.rule)
                .ok()
                .map(|rule| StoredRule { id: r.id, rule })
        })
        .collect())
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller.require(RESOURCE, Access::Write).and_then(|()| {
        let params = &mut request.params;
        let text = params
            .string("rule", RULE_BYTES_MAX)?
            .ok_or_else(|| ApiError::missing_parameter("rule"))?;
        RoutingRule::parse(&text).map_err(|e| parse_error(&e))?;
        let description = params.string("description", DESCRIPTION_CHARS_MAX)?;
        std::mem::take(params).finish()?;
        Ok((text, description))
    });
    let (text, description) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    let response = idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        if records(&state, &scope).await?.len() >= ROUTING_RULES_MAX {
            return Err(ApiError::invalid(
                "parameter_invalid",
                format!("A merchant may have at most {ROUTING_RULES_MAX} routing rules."),
                "rule",
            ));
        }
        let record = RoutingRuleRecord {
            id: new_id(RULE_ID_PREFIX),
            rule: text.clone(),
            description: description.clone(),
            created: state.now(),
            livemode: scope.livemode,
            deleted: false,
        };
        let at = NewDoc {
            table: Table::RoutingRules,
            scope: &scope,
            id: &record.id,
            created: record.created,
            columns: vec![("deleted", SqlValue::Bool(false))],
        };
        let writes = WriteSet {
            ops: vec![docs::insert(at, &record)?],
        };
        Ok(Executed::ok(render(&record), writes))
    })
    .await;
    // Seen at once here; on other instances within routing_cache_ttl_ms.
    state.routing_cache.forget(&caller.scope());
    response
}

async fn load(
    state: &AppState,
    scope: &Scope,
    id: &str,
) -> ApiResult<(portcullis_store::Doc, RoutingRuleRecord)> {
    match docs::find::<RoutingRuleRecord>(state, Table::RoutingRules, scope, id).await? {
        Some((doc, record)) if !record.deleted => Ok((doc, record)),
        _ => Err(ApiError::no_such(OBJECT, id, "id")),
    }
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        std::mem::take(&mut request.params).finish()?;
        Ok(render(&load(&state, &caller.scope(), &id).await?.1))
    };
    answer(result.await)
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
        let scope = caller.scope();
        let (doc, mut record) = load(&state, &scope, &id).await?;
        record.deleted = true;
        let op = docs::update(
            Table::RoutingRules,
            &scope,
            &doc,
            vec![("deleted", SqlValue::Bool(true))],
            &record,
        )?;
        let body = json!({"id": record.id, "object": OBJECT, "deleted": true});
        Ok(Executed::ok(body, WriteSet { ops: vec![op] }))
    })
    .await;
    // Seen at once here; on other instances within routing_cache_ttl_ms.
    state.routing_cache.forget(&caller.scope());
    response
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let render_doc = |doc: &portcullis_store::Doc| {
            docs::decode::<RoutingRuleRecord>(doc).map(|r| render(&r))
        };
        let page_of = lists::PageOf {
            url: URL,
            object: OBJECT,
            render: &render_doc,
        };
        lists::answer_page(
            &state,
            Table::RoutingRules,
            caller.scope(),
            &mut request.params,
            page_of,
        )
        .await
    };
    answer(result.await)
}
