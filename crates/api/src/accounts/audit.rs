//! The credential audit trail (PCI DSS 10.2): every registration, sign-in,
//! session end, password or email change and deactivation, successful or
//! not, with who (account, customer, or the keyed digest of the address
//! tried), when, from where (IP, user agent) and the outcome. Rows are
//! append-only (triggers refuse updates and deletes). Also the counts the
//! throttles read: failures per IP address and per address tried.

use super::tokens;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::accounts::{CredentialAction, CustomerAccount};
use portcullis_domain::ids::new_id;
use portcullis_store::{CreatedRange, ListQuery, PageCursor, Scope, SqlValue, Table, WriteOp};
use serde_json::{json, Value};

const PREFIX: &str = "caevt";

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// Refused without checking the password: locked or throttled.
    Refused,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Refused => "refused",
        }
    }
}

/// Where a request came from.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The digest of the device a sign-in named (`accounts::devices`).
    pub device_hash: Option<String>,
}

/// One event to record.
pub struct Entry<'a> {
    pub action: CredentialAction,
    pub outcome: Outcome,
    pub account: Option<&'a CustomerAccount>,
    /// The address tried, as its email key, when no account is known.
    pub email_key: Option<&'a str>,
    /// Why, in a word (`password_incorrect`, `locked`, …).
    pub reason: Option<&'static str>,
}

/// The insert that records `entry`.
pub fn record(
    state: &AppState,
    scope: &Scope,
    origin: &Origin,
    entry: Entry<'_>,
) -> ApiResult<WriteOp> {
    let now = state.now();
    let email_key = entry
        .account
        .map(|account| portcullis_domain::accounts::email_key(&account.email))
        .or(entry.email_key.map(str::to_owned));
    let email_digest = email_key.map(|key| tokens::email_digest(state, &key));
    let id = new_id(PREFIX);
    let customer = entry.account.map(|a| a.customer.to_string());
    let body = json!({
        "id": id,
        "object": "account_event",
        "action": entry.action.as_str(),
        "outcome": entry.outcome.as_str(),
        "reason": entry.reason,
        "account": entry.account.map(|a| a.id.clone()),
        "customer": customer,
        "ip": origin.ip,
        "user_agent": origin.user_agent,
        "created": now,
        "livemode": scope.livemode,
    });
    Ok(WriteOp::Insert {
        table: Table::AccountEvents,
        scope: scope.clone(),
        id,
        created: now,
        columns: vec![
            ("customer", customer.as_deref().into()),
            ("email_digest", email_digest.as_deref().into()),
            ("action", SqlValue::Text(entry.action.as_str().to_owned())),
            ("outcome", SqlValue::Text(entry.outcome.as_str().to_owned())),
            ("ip", origin.ip.as_deref().into()),
        ],
        body: body.to_string(),
    })
}

/// The failures the throttles count: sign-ins by password or by passkey,
/// and step-ups (a password or code tried on a signed-in session).
pub const CHECKED_CREDENTIALS: &[CredentialAction] = &[
    CredentialAction::Login,
    CredentialAction::PasskeyLogin,
    CredentialAction::StepUp,
];

/// Failed `actions` matching `filter` since `since`, counted up to `cap`
/// (one page; the caller's threshold is at most 100).
pub async fn failures_since(
    state: &AppState,
    scope: &Scope,
    filter: (&'static str, String),
    actions: &[CredentialAction],
    since: i64,
    cap: usize,
) -> ApiResult<usize> {
    let query = ListQuery {
        scope: scope.clone(),
        filters: vec![
            (filter.0, SqlValue::Text(filter.1)),
            (
                "outcome",
                SqlValue::Text(Outcome::Failure.as_str().to_owned()),
            ),
        ],
        one_of: vec![(
            "action",
            actions
                .iter()
                .map(|action| SqlValue::Text(action.as_str().to_owned()))
                .collect(),
        )],
        created: CreatedRange {
            gte: Some(since),
            ..CreatedRange::default()
        },
        cursor: PageCursor::Newest,
        limit: cap.clamp(1, 100),
    };
    Ok(state
        .store
        .list(Table::AccountEvents, &query)
        .await?
        .docs
        .len())
}

/// `GET /v1/customers/{id}/account_events`: the merchant reads a
/// customer's credential events (secret key).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let children = crate::customers::Children {
        table: Table::AccountEvents,
        object: "account_event",
        path: "account_events",
        render: |doc: &portcullis_store::Doc| {
            serde_json::from_str(&doc.body).map_err(|err| ApiError::internal(&err))
        },
    };
    let result =
        crate::customers::list_children(&state, &caller, &customer, &mut request.params, children)
            .await;
    match result {
        Ok(body) => crate::idempotency::json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}

pub fn sample() -> Value {
    json!({
        "id": "caevt_sample",
        "object": "account_event",
        "action": "login",
        "outcome": "failure",
        "reason": "password_incorrect",
        "account": "cacct_sample",
        "customer": "cus_sample",
        "ip": "127.0.0.1",
        "user_agent": "app",
        "created": 0,
        "livemode": false,
    })
}
