//! The record of what dashboard users did (`dashboard_events`, append-only):
//! sign-ins (failed ones too), activations, refunds, captures, review
//! decisions, webhook resends. Each action's record is committed in the same
//! write as the action itself.

use crate::error::{ApiError, ApiResult};
use portcullis_domain::ids::new_id;
use portcullis_domain::UnixSeconds;
use portcullis_store::{Doc, ListQuery, Scope, SqlValue, Table, WriteOp};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DashboardEvent {
    pub id: String,
    /// The user (`dusr_…`); `None` for a sign-in with an unknown address.
    pub user: Option<String>,
    pub email: Option<String>,
    /// `login`, `login_failed`, `login_locked`, `activate`, `logout`, `view_live`,
    /// `refund`, `capture`, `review_approve`, `review_refund`, `webhook_resend`.
    pub action: String,
    /// The object acted on (`pi_…`, `prv_…`, `evt_…`).
    pub object: Option<String>,
    /// What the action produced (`re_…`), if anything.
    pub result: Option<String>,
    pub ip: Option<String>,
    pub created: UnixSeconds,
}

pub struct Entry<'a> {
    pub user: Option<&'a str>,
    pub email: Option<&'a str>,
    pub action: &'static str,
    pub object: Option<&'a str>,
    pub result: Option<String>,
    pub ip: Option<String>,
}

pub fn record(scope: &Scope, entry: Entry<'_>, now: UnixSeconds) -> ApiResult<WriteOp> {
    let event = DashboardEvent {
        id: new_id("devt"),
        user: entry.user.map(str::to_owned),
        email: entry.email.map(str::to_owned),
        action: entry.action.to_owned(),
        object: entry.object.map(str::to_owned),
        result: entry.result,
        ip: entry.ip,
        created: now,
    };
    let text = |v: &Option<String>| v.clone().map_or(SqlValue::Null, SqlValue::Text);
    Ok(WriteOp::Insert {
        table: Table::DashboardEvents,
        scope: scope.clone(),
        id: event.id.clone(),
        created: now,
        columns: vec![
            ("dashboard_user", text(&event.user)),
            ("action", SqlValue::Text(event.action.clone())),
            ("object", text(&event.object)),
        ],
        body: serde_json::to_string(&event).map_err(|e| ApiError::internal(&e))?,
    })
}

/// The newest events about `object` (a payment's timeline shows who did what).
pub async fn about(
    state: &crate::state::AppState,
    scope: &Scope,
    object: &str,
) -> ApiResult<Vec<DashboardEvent>> {
    let page = state
        .store
        .list(
            Table::DashboardEvents,
            &ListQuery {
                scope: scope.clone(),
                filters: vec![("object", SqlValue::Text(object.to_owned()))],
                one_of: vec![],
                created: Default::default(),
                cursor: portcullis_store::PageCursor::Newest,
                limit: 100,
            },
        )
        .await?;
    page.docs.iter().map(parse).collect()
}

fn parse(doc: &Doc) -> ApiResult<DashboardEvent> {
    serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))
}
