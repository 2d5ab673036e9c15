//! `POST /v1/risk/rules/dry_run`: how many of the merchant's last N
//! assessed payments a rule would have hit. Each assessment stored the
//! signals it saw (`risk_evaluations`), so the rule is replayed on exactly
//! those, with today's list contents.

use super::docs::{self, answer};
use super::lists::by_alias;
use super::rules::rule_param;
use super::RESOURCE;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::State;
use axum::response::Response;
use portcullis_domain::api_keys::Access;
use portcullis_risk::rules::{matches, Memberships};
use portcullis_risk::{Rule, Signals};
use portcullis_store::{ListQuery, PageCursor, Scope, Table};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

pub const DRY_RUN_LIMIT_DEFAULT: usize = 100;
pub const DRY_RUN_LIMIT_MAX: usize = 1_000;
const PAGE_LEN: usize = 100;
/// Most matching payment ids the answer lists.
const MATCHED_IDS_MAX: usize = 100;

/// The signals one assessment saw, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Evaluation {
    pub id: String,
    pub payment_intent: String,
    pub created: i64,
    pub action: String,
    pub rule: Option<String>,
    pub signals: Map<String, Value>,
}

pub async fn dry_run(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    answer(async {
        caller.require(RESOURCE, Access::Read)?;
        let params = &mut request.params;
        let (text, rule) = rule_param(params, true)?.expect("required");
        let limit = match params.integer("limit")? {
            None => DRY_RUN_LIMIT_DEFAULT,
            Some(n) if (1..=DRY_RUN_LIMIT_MAX as i64).contains(&n) => n as usize,
            Some(_) => return Err(ApiError::invalid("parameter_invalid_integer", format!("limit must be between 1 and {DRY_RUN_LIMIT_MAX}."), "limit")),
        };
        std::mem::take(params).finish()?;
        let scope = caller.scope();
        let evaluations = latest(&state, &scope, limit).await?;
        let lists = memberships(&state, &scope, &rule, &evaluations).await?;
        let hits: Vec<&Evaluation> = evaluations
            .iter()
            .filter(|e| matches(&rule, &Signals::from_snapshot(&e.signals), &lists) == Some(true))
            .collect();
        Ok(json!({
            "object": "risk.rule_dry_run",
            "rule": text,
            "action": rule.action.as_str(),
            "evaluated": evaluations.len(),
            "matched": hits.len(),
            "matched_payment_intents": hits.iter().take(MATCHED_IDS_MAX).map(|e| &e.payment_intent).collect::<Vec<_>>(),
        }))
    }.await)
}

/// The `limit` newest evaluations, newest first, a page at a time.
async fn latest(state: &AppState, scope: &Scope, limit: usize) -> ApiResult<Vec<Evaluation>> {
    let mut out = Vec::with_capacity(limit);
    let mut cursor = PageCursor::Newest;
    for _ in 0..limit.div_ceil(PAGE_LEN) {
        let query = ListQuery {
            scope: scope.clone(),
            filters: vec![],
            one_of: vec![],
            created: Default::default(),
            cursor,
            limit: PAGE_LEN.min(limit - out.len()),
        };
        let page = state.store.list(Table::RiskEvaluations, &query).await?;
        for doc in &page.docs {
            out.push(docs::decode::<Evaluation>(doc)?);
        }
        match (page.has_more, page.docs.last()) {
            (true, Some(last)) if out.len() < limit => {
                cursor = PageCursor::StartingAfter(last.id.clone())
            }
            _ => break,
        }
    }
    Ok(out)
}

/// Which of the evaluations' values are in the lists the rule names.
async fn memberships(
    state: &AppState,
    scope: &Scope,
    rule: &Rule,
    evaluations: &[Evaluation],
) -> ApiResult<Memberships> {
    let mut held = Memberships::default();
    for (signal, alias) in &rule.lists {
        let Some(list) = by_alias(state, scope, alias).await? else {
            continue;
        };
        let values: HashSet<&str> = evaluations
            .iter()
            .filter_map(|e| e.signals.get(signal.name()).and_then(Value::as_str))
            .collect();
        for value in values {
            if super::lists::contains(state, scope, &list, value).await? {
                held.insert(alias, value);
            }
        }
    }
    Ok(held)
}
