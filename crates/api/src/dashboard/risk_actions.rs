//! Editing risk rules and lists from the dashboard: add a rule (a rule that
//! does not parse comes back in its form with the line and column of the
//! mistake), disable, enable or delete one, add a value to a list or
//! remove one. Each runs the API's own function (`risk::rules`,
//! `risk::lists`) and commits the user's record with it; only roles with
//! [`Permission::EditRisk`] may, with the form's CSRF token.

use super::actions::{authorised, authorised_bare, record, run};
use super::layout::error_page;
use super::pages::field;
use super::risk::{with_draft, Draft, PATH};
use super::users::Permission;
use crate::error::ApiResult;
use crate::risk::lists::{add_item_to, remove_item_from};
use crate::risk::rules::{create_rule, delete_rule, rules_changed, update_rule, Change};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_risk::rules::RULE_BYTES_MAX;
use portcullis_risk::Rule;

/// The longest description a rule takes (as the API).
const DESCRIPTION_CHARS_MAX: usize = 500;
const VALUE_CHARS_MAX: usize = 512;

fn back(done: &str) -> String {
    format!("{PATH}?done={done}")
}

fn rule_form(request: &mut ApiRequest) -> ApiResult<(String, Option<String>)> {
    let rule = field(request, "rule", RULE_BYTES_MAX)?.unwrap_or_default();
    let description = field(request, "description", DESCRIPTION_CHARS_MAX)?;
    std::mem::take(&mut request.params).finish()?;
    Ok((rule, description))
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let (loc, signed) = match authorised(&state, &headers, &mut request, Permission::EditRisk).await
    {
        Ok(found) => found,
        Err(response) => return response,
    };
    let (text, description) = match rule_form(&mut request) {
        Ok(form) => form,
        Err(err) => return error_page(&state, loc, &err),
    };
    if let Err(err) = Rule::parse(&text) {
        let draft = Draft {
            error: Some((super::risk::texts(loc).parse_error)(&err)),
            rule: text,
            description: description.unwrap_or_default(),
        };
        return with_draft(&state, &signed, loc, draft).await;
    }
    let response = run(&state, loc, back("rule_created"), || async {
        let mut done =
            create_rule(&state, signed.scope(), text.clone(), description.clone()).await?;
        let id = done.body.tree()?["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        done.writes.push(record(
            &state,
            &signed,
            &request,
            "risk_rule_create",
            &id,
            None,
        )?);
        Ok(done)
    })
    .await;
    rules_changed(&state, &signed.scope());
    response
}

/// What a button on a rule's row does: the last segment of the path its
/// form posts to (`…/rules/{id}/disable`, `/enable`, `/delete`).
#[derive(Clone, Copy)]
pub enum RuleStep {
    Disable,
    Enable,
    Delete,
}

impl<S: Send + Sync> FromRequestParts<S> for RuleStep {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        match parts.uri.path().rsplit('/').next() {
            Some("disable") => Ok(RuleStep::Disable),
            Some("enable") => Ok(RuleStep::Enable),
            Some("delete") => Ok(RuleStep::Delete),
            _ => Err(StatusCode::NOT_FOUND),
        }
    }
}

impl RuleStep {
    /// The action's name in the user's record, and in `?done=`.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            RuleStep::Disable => ("risk_rule_disable", "rule_disabled"),
            RuleStep::Enable => ("risk_rule_enable", "rule_enabled"),
            RuleStep::Delete => ("risk_rule_delete", "rule_deleted"),
        }
    }
}

/// Disables, enables or deletes rule `id`, as the path says ([`RuleStep`]).
pub async fn rule_step(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    step: RuleStep,
    mut request: ApiRequest,
) -> Response {
    let (loc, signed) =
        match authorised_bare(&state, &headers, &mut request, Permission::EditRisk).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let (action, done_key) = step.names();
    let response = run(&state, loc, back(done_key), || async {
        let scope = signed.scope();
        let mut done = match step {
            RuleStep::Delete => delete_rule(&state, scope, id.clone()).await?,
            RuleStep::Disable | RuleStep::Enable => {
                let change = Change {
                    disabled: Some(matches!(step, RuleStep::Disable)),
                    ..Change::default()
                };
                update_rule(&state, scope, &id, &change).await?
            }
        };
        done.writes
            .push(record(&state, &signed, &request, action, &id, None)?);
        Ok(done)
    })
    .await;
    rules_changed(&state, &signed.scope());
    response
}

pub async fn add_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(list): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let (loc, signed) = match authorised(&state, &headers, &mut request, Permission::EditRisk).await
    {
        Ok(found) => found,
        Err(response) => return response,
    };
    let value = match value_form(&mut request) {
        Ok(value) => value,
        Err(err) => return error_page(&state, loc, &err),
    };
    run(&state, loc, back("item_added"), || async {
        let mut done = add_item_to(&state, signed.scope(), &list, &value).await?;
        let item = done.body.tree()?["id"].as_str().map(str::to_owned);
        done.writes.push(record(
            &state,
            &signed,
            &request,
            "risk_list_item_add",
            &list,
            item,
        )?);
        Ok(done)
    })
    .await
}

fn value_form(request: &mut ApiRequest) -> ApiResult<String> {
    let value = request.params.required_string("value", VALUE_CHARS_MAX)?;
    std::mem::take(&mut request.params).finish()?;
    Ok(value)
}

pub async fn remove_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((list, item)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Response {
    let (loc, signed) =
        match authorised_bare(&state, &headers, &mut request, Permission::EditRisk).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    run(&state, loc, back("item_removed"), || async {
        let mut done = remove_item_from(&state, signed.scope(), &list, &item).await?;
        done.writes.push(record(
            &state,
            &signed,
            &request,
            "risk_list_item_remove",
            &list,
            Some(item.clone()),
        )?);
        Ok(done)
    })
    .await
}
