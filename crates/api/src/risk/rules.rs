//! `/v1/risk/rules`: a merchant's rules (create, retrieve, list, update,
//! disable, enable) and the dry run. Every merchant starts with the
//! default rules of `portcullis_risk::defaults`; they are listed beside
//! the merchant's own, and updating or disabling one stores it under its
//! fixed id from then on. A merchant's own rule may be deleted (kept,
//! marked `deleted`, and never read again); a default rule only disabled.

use super::docs::{self, answer, NewDoc};
use super::RESOURCE;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::{self, Executed};
use crate::lists;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::{ApiRequest, Params};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::ids::new_id;
use portcullis_risk::defaults::{default_rule, DEFAULT_RULES};
use portcullis_risk::rules::{RULES_MAX, RULE_BYTES_MAX};
use portcullis_risk::{ParseError, Rule, RuleSet};
use portcullis_store::{ListQuery, PageCursor, Scope, SqlValue, Table, WriteSet};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

const URL: &str = "/v1/risk/rules";
const DESCRIPTION_CHARS_MAX: usize = 500;

use crate::routes::params::{self as p, Param};

const CREATE: &[Param] = &[
    p::string("rule", RULE_BYTES_MAX).required(),
    p::string("description", DESCRIPTION_CHARS_MAX),
];
const DRY_RUN: &[Param] = &[
    p::string("rule", RULE_BYTES_MAX).required(),
    p::integer("limit"),
];
const UPDATE: &[Param] = &[
    p::string("rule", RULE_BYTES_MAX),
    p::string("description", DESCRIPTION_CHARS_MAX),
    p::boolean("disabled"),
];

pub fn routes() -> Routes {
    let one = "/v1/risk/rules/{id}";
    Routes::new()
        .post(
            doc(URL, "Create a risk rule from its text", "risk_rule").params(CREATE),
            create,
        )
        .get(
            doc(URL, "List the merchant's risk rules", "list").params(p::NONE),
            list,
        )
        .post(
            doc(
                "/v1/risk/rules/dry_run",
                "Count how many recent payments a rule would have hit",
                "risk_rule_dry_run",
            )
            .params(DRY_RUN),
            super::dry_run::dry_run,
        )
        .get(
            doc(one, "Retrieve a risk rule", "risk_rule").params(p::NONE),
            retrieve,
        )
        .post(
            doc(one, "Update a risk rule", "risk_rule").params(UPDATE),
            update,
        )
        .delete(
            doc(
                one,
                "Delete a risk rule of the merchant's own",
                "deleted_risk_rule",
            )
            .params(p::NONE),
            delete,
        )
        .post(
            doc(
                "/v1/risk/rules/{id}/disable",
                "Disable a risk rule",
                "risk_rule",
            )
            .params(p::NONE),
            disable,
        )
        .post(
            doc(
                "/v1/risk/rules/{id}/enable",
                "Enable a risk rule",
                "risk_rule",
            )
            .params(p::NONE),
            enable,
        )
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredRule {
    pub id: String,
    pub rule: String,
    pub description: Option<String>,
    pub disabled: bool,
    pub created: i64,
    pub livemode: bool,
    /// Deleted rules stay stored (the store deletes nothing) and are never read.
    #[serde(default)]
    pub deleted: bool,
}

impl StoredRule {
    fn default_for(id: &str, livemode: bool) -> Option<StoredRule> {
        default_rule(id).map(|(text, description)| StoredRule {
            id: id.to_owned(),
            rule: text.to_owned(),
            description: Some(description.to_owned()),
            disabled: false,
            created: 0,
            livemode,
            deleted: false,
        })
    }
}

fn render(rule: &StoredRule) -> Value {
    let action = Rule::parse(&rule.rule).map(|r| r.action.as_str()).ok();
    json!({
        "id": rule.id, "object": "risk.rule", "rule": rule.rule, "action": action,
        "description": rule.description,
        "status": if rule.disabled { "disabled" } else { "enabled" },
        "default": default_rule(&rule.id).is_some(),
        "created": rule.created, "livemode": rule.livemode,
    })
}

/// What deleting a rule answers.
fn render_deleted(rule: &StoredRule) -> Value {
    json!({ "id": rule.id, "object": "risk.rule", "deleted": true })
}

/// Samples for the OpenAPI document, rendered by [`render`] and
/// [`render_deleted`].
pub(super) fn render_samples() -> Vec<(&'static str, Value)> {
    let rule = StoredRule {
        id: "rule_sample".into(),
        rule: "block if :amount_in_usd: > 5000".into(),
        description: Some("Large payments".into()),
        disabled: false,
        created: 0,
        livemode: false,
        deleted: false,
    };
    vec![
        ("risk_rule", render(&rule)),
        ("deleted_risk_rule", render_deleted(&rule)),
    ]
}

/// 400 naming where the rule text went wrong.
pub fn parse_error(err: &ParseError) -> ApiError {
    let mut api = ApiError::invalid("parameter_invalid", format!("Invalid rule: {err}."), "rule");
    api.extra.insert(
        "rule_error".into(),
        json!({ "line": err.line, "column": err.column, "expected": err.expected, "found": err.found }),
    );
    api
}

/// Reads and parses `rule`.
pub fn rule_param(params: &mut Params, required: bool) -> ApiResult<Option<(String, Rule)>> {
    let text = match params.string("rule", RULE_BYTES_MAX)? {
        Some(text) => text,
        None if required => return Err(ApiError::missing_parameter("rule")),
        None => return Ok(None),
    };
    let rule = Rule::parse(&text).map_err(|e| parse_error(&e))?;
    Ok(Some((text, rule)))
}

/// The merchant's stored rules and the defaults it has not overridden.
pub async fn all_rules(state: &AppState, scope: &Scope) -> ApiResult<Vec<StoredRule>> {
    let query = ListQuery {
        scope: scope.clone(),
        filters: vec![("deleted", SqlValue::Bool(false))],
        one_of: vec![],
        created: Default::default(),
        cursor: PageCursor::Newest,
        limit: RULES_MAX,
    };
    let page = state.store.list(Table::RiskRules, &query).await?;
    let mut stored: Vec<StoredRule> = page
        .docs
        .iter()
        .map(docs::decode)
        .collect::<ApiResult<_>>()?;
    stored.reverse(); // oldest first: the order rules of one action run in
    let mut rules: Vec<StoredRule> = DEFAULT_RULES
        .iter()
        .filter(|(id, _, _)| !stored.iter().any(|r| r.id == *id))
        .filter_map(|(id, _, _)| StoredRule::default_for(id, scope.livemode))
        .collect();
    rules.extend(stored);
    Ok(rules)
}

/// The enabled rules, parsed, ready to evaluate: from the per-scope cache
/// while fresh (`risk_rules_cache_ttl_ms`), else read and kept. A change
/// through this instance is seen at once ([`rules_changed`]). Lists are not
/// part of the set: their items are read per payment.
pub async fn rule_set(state: &AppState, scope: &Scope) -> ApiResult<Arc<RuleSet>> {
    state
        .rule_sets
        .get_or_read(scope, read_rule_set(state, scope))
        .await
}

/// Forgets the cached rule set of `scope`; called after a rule change
/// commits (or fails: forgetting is harmless). Other instances see the
/// change within `risk_rules_cache_ttl_ms`.
pub fn rules_changed(state: &AppState, scope: &Scope) {
    state.rule_sets.forget(scope);
}

/// The enabled rules as the store has them, parsed through the text cache.
async fn read_rule_set(state: &AppState, scope: &Scope) -> ApiResult<RuleSet> {
    let rules = all_rules(state, scope).await?;
    let parsed = rules
        .iter()
        .filter(|r| !r.disabled)
        .filter_map(|r| state.rules.parse(&r.rule).map(|rule| (r.id.clone(), rule)))
        .collect();
    Ok(RuleSet::new(parsed))
}

async fn load(
    state: &AppState,
    scope: &Scope,
    id: &str,
) -> ApiResult<(Option<portcullis_store::Doc>, StoredRule)> {
    if let Some((doc, rule)) = docs::find::<StoredRule>(state, Table::RiskRules, scope, id).await? {
        if rule.deleted {
            return Err(ApiError::no_such("risk.rule", id, "id"));
        }
        return Ok((Some(doc), rule));
    }
    StoredRule::default_for(id, scope.livemode)
        .map(|rule| (None, rule))
        .ok_or_else(|| ApiError::no_such("risk.rule", id, "id"))
}

/// The write that stores `rule`: an update of its document, or the first
/// insert of a default rule the merchant changes.
fn save(
    scope: &Scope,
    doc: Option<&portcullis_store::Doc>,
    rule: &StoredRule,
) -> ApiResult<portcullis_store::WriteOp> {
    let columns = vec![("deleted", SqlValue::Bool(rule.deleted))];
    match doc {
        Some(doc) => docs::update(Table::RiskRules, scope, doc, columns, rule),
        None => docs::insert(
            NewDoc {
                table: Table::RiskRules,
                scope,
                id: &rule.id,
                created: rule.created,
                columns,
            },
            rule,
        ),
    }
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller.require(RESOURCE, Access::Write).and_then(|()| {
        let params = &mut request.params;
        let rule = rule_param(params, true)?.expect("required");
        let description = params.string("description", DESCRIPTION_CHARS_MAX)?;
        std::mem::take(params).finish()?;
        Ok((rule.0, description))
    });
    let (text, description) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => return err.into_response(),
    };
    let response = idempotency::respond(&state, &caller, &request, || {
        create_rule(&state, caller.scope(), text.clone(), description.clone())
    })
    .await;
    rules_changed(&state, &caller.scope());
    response
}

/// Stores a new rule (its text already parsed by the caller).
pub async fn create_rule(
    state: &AppState,
    scope: Scope,
    text: String,
    description: Option<String>,
) -> ApiResult<Executed> {
    if all_rules(state, &scope).await?.len() >= RULES_MAX {
        return Err(ApiError::invalid(
            "parameter_invalid",
            format!("A merchant may have at most {RULES_MAX} rules."),
            "rule",
        ));
    }
    let rule = StoredRule {
        id: new_id("rule"),
        rule: text,
        description,
        disabled: false,
        created: state.now(),
        livemode: scope.livemode,
        deleted: false,
    };
    let writes = WriteSet {
        ops: vec![save(&scope, None, &rule)?],
    };
    Ok(Executed::ok(render(&rule), writes))
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
    let response = idempotency::respond(&state, &caller, &request, || {
        delete_rule(&state, caller.scope(), id.clone())
    })
    .await;
    rules_changed(&state, &caller.scope());
    response
}

/// Deletes a rule of the merchant's own; a default rule is refused (it
/// can be disabled).
pub async fn delete_rule(state: &AppState, scope: Scope, id: String) -> ApiResult<Executed> {
    let (doc, mut rule) = load(state, &scope, &id).await?;
    if default_rule(&id).is_some() {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "A default rule cannot be deleted; disable it instead.",
            "id",
        ));
    }
    rule.deleted = true;
    let writes = WriteSet {
        ops: vec![save(&scope, doc.as_ref(), &rule)?],
    };
    Ok(Executed::ok(render_deleted(&rule), writes))
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
            Ok(render(&load(&state, &caller.scope(), &id).await?.1))
        }
        .await,
    )
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    answer(
        async {
            caller.require(RESOURCE, Access::Read)?;
            std::mem::take(&mut request.params).finish()?;
            let rules = all_rules(&state, &caller.scope()).await?;
            Ok(lists::list_object(
                URL,
                rules.iter().map(render).collect(),
                false,
            ))
        }
        .await,
    )
}

/// What an update changes.
#[derive(Clone, Default)]
pub struct Change {
    pub rule: Option<String>,
    pub description: Option<String>,
    pub disabled: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller.require(RESOURCE, Access::Write).and_then(|()| {
        let params = &mut request.params;
        let rule = rule_param(params, false)?.map(|(text, _)| text);
        let description = params.string("description", DESCRIPTION_CHARS_MAX)?;
        let disabled = params.boolean("disabled")?;
        std::mem::take(params).finish()?;
        Ok(Change {
            rule,
            description,
            disabled,
        })
    });
    match parsed {
        Ok(change) => change_rule(state, caller, id, request, change).await,
        Err(err) => err.into_response(),
    }
}

async fn disable(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    request: ApiRequest,
) -> Response {
    toggle(state, caller, id, request, true).await
}

async fn enable(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    request: ApiRequest,
) -> Response {
    toggle(state, caller, id, request, false).await
}

async fn toggle(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
    disabled: bool,
) -> Response {
    let parsed = caller
        .require(RESOURCE, Access::Write)
        .and_then(|()| std::mem::take(&mut request.params).finish());
    match parsed {
        Ok(()) => {
            change_rule(
                state,
                caller,
                id,
                request,
                Change {
                    disabled: Some(disabled),
                    ..Change::default()
                },
            )
            .await
        }
        Err(err) => err.into_response(),
    }
}

async fn change_rule(
    state: AppState,
    caller: Caller,
    id: String,
    request: ApiRequest,
    change: Change,
) -> Response {
    let response = idempotency::respond(&state, &caller, &request, || {
        update_rule(&state, caller.scope(), &id, &change)
    })
    .await;
    rules_changed(&state, &caller.scope());
    response
}

/// Applies `change` to rule `id` (a default rule is stored from then on).
pub async fn update_rule(
    state: &AppState,
    scope: Scope,
    id: &str,
    change: &Change,
) -> ApiResult<Executed> {
    let (doc, mut rule) = load(state, &scope, id).await?;
    if let Some(text) = &change.rule {
        rule.rule = text.clone();
    }
    if let Some(description) = &change.description {
        rule.description = Some(description.clone());
    }
    if let Some(disabled) = change.disabled {
        rule.disabled = disabled;
    }
    let writes = WriteSet {
        ops: vec![save(&scope, doc.as_ref(), &rule)?],
    };
    Ok(Executed::ok(render(&rule), writes))
}
