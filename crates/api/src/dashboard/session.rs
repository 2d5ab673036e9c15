//! Who is signed in to the dashboard: the session cookie (HttpOnly,
//! SameSite=Strict, `Secure` when the gateway serves TLS, path
//! `/dashboard`) carries a 256-bit token whose keyed digest finds the
//! session. Every state-changing form carries a CSRF token bound to the
//! session (a keyed digest of its token), compared in constant time; the
//! sign-in form's is bound to a pre-session cookie the same way.

use super::users::{self, DashboardUser, Permission, UserStatus};
use crate::error::{ApiError, ApiResult};
use crate::hosted::locale::cookie_value;
use crate::state::AppState;
use axum::http::HeaderMap;
use portcullis_domain::ids::new_id;
use portcullis_domain::UnixSeconds;
use portcullis_store::{Doc, ScanOp, ScanQuery, Scope, SqlValue, Table, WriteOp};
use serde::{Deserialize, Serialize};

pub const SESSION_COOKIE: &str = "portcullis_dashboard";
pub const LOGIN_COOKIE: &str = "portcullis_dashboard_login";
/// The mode the dashboard shows (`live`, else test), chosen with the
/// switch; honoured only for a role that may view live mode.
pub const MODE_COOKIE: &str = "portcullis_dashboard_mode";
/// How long a dashboard session lasts from sign-in.
pub const SESSION_TTL_S: i64 = 12 * 3600;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DashboardSession {
    pub id: String,
    pub user: String,
    pub created: UnixSeconds,
    pub expires_at: UnixSeconds,
    #[serde(default)]
    pub revoked_at: Option<UnixSeconds>,
    pub ip: Option<String>,
}

/// A signed-in dashboard user and the session's CSRF token.
pub struct SignedIn {
    pub user: DashboardUser,
    pub session_doc: Doc,
    pub session: DashboardSession,
    pub csrf: String,
    /// Whether the pages show live objects (the mode switch, for a role
    /// allowed to); test objects otherwise.
    pub livemode: bool,
}

impl SignedIn {
    /// The objects the dashboard shows: the merchant's live or test mode,
    /// as switched (actions on them, and their audit records, go there too).
    pub fn scope(&self) -> Scope {
        Scope {
            merchant_id: self.user.merchant.clone(),
            livemode: self.livemode,
        }
    }

    /// Where the user, its sessions and its sign-in records live (test
    /// mode, whichever mode the pages show).
    pub fn home_scope(&self) -> Scope {
        users::scope_of(&self.user.merchant)
    }

    pub fn require(&self, permission: Permission) -> ApiResult<()> {
        if self.user.role.may(permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "The {} role may not do this.",
                self.user.role.as_str()
            )))
        }
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, presented: Option<&str>) -> ApiResult<()> {
        check_token(&self.csrf, presented)
    }
}

pub fn check_token(expected: &str, presented: Option<&str>) -> ApiResult<()> {
    use subtle::ConstantTimeEq;
    let ok = presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(expected.as_bytes())));
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "The form's CSRF token is missing or not this session's; reload the page.".to_owned(),
        ))
    }
}

pub fn csrf_of(state: &AppState, token: &str) -> String {
    state.key_hasher.keyed_digest("dashboard_csrf", token)
}

/// The `Set-Cookie` value of a cookie scoped to the dashboard.
pub fn cookie(state: &AppState, name: &str, value: &str, max_age_s: i64) -> String {
    let secure = if state.settings.tls { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path=/dashboard; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{secure}"
    )
}

/// The signed-in user, or `None` (no cookie, an unknown, expired or revoked
/// session, or a user no longer active).
pub async fn signed_in(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<SignedIn>> {
    let Some(token) = cookie_value(headers, SESSION_COOKIE)
        .filter(|t| t.starts_with(users::SESSION_PREFIX) && t.len() <= users::TOKEN_CHARS_MAX)
    else {
        return Ok(None);
    };
    let found = state
        .store
        .scan(
            Table::DashboardSessions,
            &ScanQuery {
                filters: vec![(
                    "token_hash",
                    ScanOp::Equal,
                    SqlValue::Text(users::digest(&state.key_hasher, &token)),
                )],
                created_before: None,
                limit: 1,
            },
        )
        .await?;
    let Some(scoped) = found.into_iter().next() else {
        return Ok(None);
    };
    let session: DashboardSession =
        serde_json::from_str(&scoped.doc.body).map_err(|e| ApiError::internal(&e))?;
    if session.revoked_at.is_some() || session.expires_at <= state.now() {
        return Ok(None);
    }
    let (_, user) = users::load(&state.store, &scoped.scope.merchant_id, &session.user).await?;
    if user.status != UserStatus::Active {
        return Ok(None);
    }
    let livemode = cookie_value(headers, MODE_COOKIE).as_deref() == Some("live")
        && user.role.may(Permission::ViewLive);
    Ok(Some(SignedIn {
        user,
        session_doc: scoped.doc,
        session,
        csrf: csrf_of(state, &token),
        livemode,
    }))
}

/// A new session for `user`: the write, and the cookie's token.
pub fn start(
    state: &AppState,
    user: &DashboardUser,
    ip: Option<String>,
) -> ApiResult<(WriteOp, String)> {
    let now = state.now();
    let token = users::generate_token(users::SESSION_PREFIX);
    let session = DashboardSession {
        id: new_id("dses"),
        user: user.id.clone(),
        created: now,
        expires_at: now + SESSION_TTL_S,
        revoked_at: None,
        ip,
    };
    let op = WriteOp::Insert {
        table: Table::DashboardSessions,
        scope: users::scope_of(&user.merchant),
        id: session.id.clone(),
        created: now,
        columns: vec![
            (
                "token_hash",
                SqlValue::Text(users::digest(&state.key_hasher, &token)),
            ),
            ("dashboard_user", SqlValue::Text(user.id.clone())),
            ("revoked", SqlValue::Bool(false)),
        ],
        body: serde_json::to_string(&session).map_err(|e| ApiError::internal(&e))?,
    };
    Ok((op, token))
}

/// The write that ends the session.
pub fn revoke(state: &AppState, signed: &SignedIn) -> ApiResult<WriteOp> {
    let mut session = signed.session.clone();
    session.revoked_at = Some(state.now());
    Ok(WriteOp::Update {
        table: Table::DashboardSessions,
        scope: signed.home_scope(),
        id: session.id.clone(),
        expected_version: signed.session_doc.version,
        columns: vec![("revoked", SqlValue::Bool(true))],
        body: serde_json::to_string(&session).map_err(|e| ApiError::internal(&e))?,
    })
}
