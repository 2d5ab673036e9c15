//! Sign-in and sessions: login (with the lockout and the per-IP throttle),
//! logout, the signed-in account, its sessions and their revocation.
//!
//! Sign-in answers alike for an unknown address and a wrong password, and
//! does the same work for both (one Argon2id verification, one commit of
//! one audit row — plus the failure count on a known account). An unknown
//! address is locked out like a known one, from the failures recorded
//! against its digest, so a lockout does not tell either.

use super::audit::{self, Entry, Origin, Outcome};
use super::records::{self, StoredSession};
use super::registration::parse_email;
use super::session::{self, SignedIn};
use super::{answer, commit, errors, passwords, render, tokens};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::lists;
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_domain::accounts::{
    email_key, AccountSession, AccountStatus, CredentialAction, CustomerAccount, Password,
    PASSWORD_CHARS_MAX,
};
use portcullis_domain::ids::new_id;
use portcullis_store::{Doc, Scope, WriteOp};

/// Attempts to record a failed sign-in on an account another request is
/// changing at the same moment.
const FAILURE_RECORD_ATTEMPTS_MAX: usize = 4;

pub async fn login(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        session::allow(&caller)?;
        let params = &mut request.params;
        let email = parse_email(&params.required_string("email", 512)?, "email")?;
        let password =
            Password::parse_presented(&params.required_string("password", PASSWORD_CHARS_MAX)?)
                .map_err(|e| errors::policy(e, "password"))?;
        let device_hash = super::devices::read(&state, params)?;
        std::mem::take(params).finish()?;
        let mut origin = session::origin(request.client_ip, &headers);
        origin.device_hash = device_hash;
        let scope = caller.scope();
        let key = email_key(&email);
        throttle_ip(&state, &scope, &origin, CredentialAction::Login, Some(&key)).await?;
        match records::account_by_email(&state, &scope, &email_key(&email)).await? {
            None => unknown_address(&state, &scope, &origin, &email, password).await,
            Some((doc, account)) => {
                known_account(&state, &scope, &origin, doc, account, password).await
            }
        }
    };
    answer(result.await)
}

/// 429 once an address has failed too often this hour (failed sign-ins
/// by password and by passkey alike); the refused `action` is recorded,
/// with the address tried (`email_key`) when there is one.
pub(super) async fn throttle_ip(
    state: &AppState,
    scope: &Scope,
    origin: &Origin,
    action: CredentialAction,
    email_key: Option<&str>,
) -> ApiResult<()> {
    let Some(ip) = &origin.ip else { return Ok(()) };
    let max = state.settings.accounts.ip_failures_per_hour_max as usize;
    let failures = audit::failures_since(
        state,
        scope,
        ("ip", ip.clone()),
        audit::CHECKED_CREDENTIALS,
        state.now() - 3600,
        max,
    )
    .await?;
    if failures < max {
        return Ok(());
    }
    let event = audit::record(
        state,
        scope,
        origin,
        Entry {
            action,
            outcome: Outcome::Refused,
            account: None,
            email_key,
            reason: Some("ip_throttled"),
        },
    )?;
    commit(state, vec![event], ApiError::concurrent_change).await?;
    Err(errors::ip_throttled())
}

async fn unknown_address(
    state: &AppState,
    scope: &Scope,
    origin: &Origin,
    email: &portcullis_domain::customers::Email,
    password: Password,
) -> ApiResult<serde_json::Value> {
    passwords::verify(password, None).await?;
    let key = email_key(email);
    let lockout = state.settings.accounts.lockout;
    let digest = tokens::email_digest(state, &key);
    let since = state.now() - lockout.duration_s;
    let prior = audit::failures_since(
        state,
        scope,
        ("email_digest", digest),
        audit::CHECKED_CREDENTIALS,
        since,
        lockout.failures_max as usize,
    )
    .await?;
    let locked = prior >= lockout.failures_max as usize;
    let event = audit::record(
        state,
        scope,
        origin,
        Entry {
            action: CredentialAction::Login,
            outcome: if locked {
                Outcome::Refused
            } else {
                Outcome::Failure
            },
            account: None,
            email_key: Some(&key),
            reason: Some(if locked { "locked" } else { "unknown_email" }),
        },
    )?;
    commit(state, vec![event], ApiError::concurrent_change).await?;
    Err(if locked {
        errors::locked()
    } else {
        errors::credentials_invalid()
    })
}

async fn known_account(
    state: &AppState,
    scope: &Scope,
    origin: &Origin,
    doc: Doc,
    account: CustomerAccount,
    password: Password,
) -> ApiResult<serde_json::Value> {
    let matches = passwords::verify(password, account.password_hash().map(str::to_owned)).await?;
    let now = state.now();
    if account.locked_until(now).is_some() {
        return refuse(
            state,
            scope,
            origin,
            Refusal {
                account: &account,
                reason: "locked",
                outcome: Outcome::Refused,
                answer: errors::locked(),
            },
        )
        .await;
    }
    if !matches {
        let failure = Failure {
            action: CredentialAction::Login,
            reason: "password_incorrect",
        };
        record_failure(state, scope, origin, (doc, account), failure).await?;
        return Err(errors::credentials_invalid());
    }
    match account.status() {
        AccountStatus::Active => {}
        AccountStatus::PendingActivation => {
            return refuse(
                state,
                scope,
                origin,
                Refusal {
                    account: &account,
                    reason: "not_activated",
                    outcome: Outcome::Failure,
                    answer: errors::not_activated(),
                },
            )
            .await
        }
        AccountStatus::Invited | AccountStatus::Deactivated => {
            return refuse(
                state,
                scope,
                origin,
                Refusal {
                    account: &account,
                    reason: "not_active",
                    outcome: Outcome::Failure,
                    answer: errors::credentials_invalid(),
                },
            )
            .await
        }
    }
    start_session(state, scope, origin, &doc, &account, Method::Password).await
}

/// A sign-in refused: what is recorded, and the answer.
struct Refusal<'a> {
    account: &'a CustomerAccount,
    reason: &'static str,
    outcome: Outcome,
    answer: ApiError,
}

/// Records a refused or failed sign-in, then answers it.
async fn refuse(
    state: &AppState,
    scope: &Scope,
    origin: &Origin,
    refusal: Refusal<'_>,
) -> ApiResult<serde_json::Value> {
    let event = audit::record(
        state,
        scope,
        origin,
        Entry {
            action: CredentialAction::Login,
            outcome: refusal.outcome,
            account: Some(refusal.account),
            email_key: None,
            reason: Some(refusal.reason),
        },
    )?;
    commit(state, vec![event], ApiError::concurrent_change).await?;
    Err(refusal.answer)
}

/// A failed sign-in of a known account: how it was tried and why it failed.
pub(super) struct Failure {
    pub action: CredentialAction,
    pub reason: &'static str,
}

/// Counts a failure on the account (locking it at the policy's maximum),
/// re-reading it if another request changed it meanwhile.
pub(super) async fn record_failure(
    state: &AppState,
    scope: &Scope,
    origin: &Origin,
    (mut doc, mut account): (Doc, CustomerAccount),
    failure: Failure,
) -> ApiResult<()> {
    for _ in 0..FAILURE_RECORD_ATTEMPTS_MAX {
        let failed = account.failed_login(state.settings.accounts.lockout, state.now());
        let writes = vec![
            records::update_account(scope, &doc, &failed)?,
            audit::record(
                state,
                scope,
                origin,
                Entry {
                    action: failure.action,
                    outcome: Outcome::Failure,
                    account: Some(&failed),
                    email_key: None,
                    reason: Some(failure.reason),
                },
            )?,
        ];
        match state
            .store
            .commit(portcullis_store::WriteSet { ops: writes })
            .await
        {
            Ok(()) => return Ok(()),
            Err(portcullis_store::StoreError::Conflict) => {
                (doc, account) = records::account(state, scope, &account.id).await?;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::concurrent_change())
}

/// How the holder proved who they are.
pub enum Method {
    Password,
    /// A verified passkey assertion; `extra` records its use (the
    /// credential's new counter) in the same commit. The new session starts
    /// stepped up: the assertion was a user-verified one.
    Passkey {
        extra: Vec<WriteOp>,
    },
}

pub(super) async fn start_session(
    state: &AppState,
    scope: &Scope,
    origin: &Origin,
    doc: &Doc,
    account: &CustomerAccount,
    method: Method,
) -> ApiResult<serde_json::Value> {
    let now = state.now();
    let settings = &state.settings.accounts;
    let (action, step_up_until, extra) = match method {
        Method::Password => (CredentialAction::Login, None, vec![]),
        Method::Passkey { extra } => (
            CredentialAction::PasskeyLogin,
            Some(settings.step_up.granted_until(now)),
            extra,
        ),
    };
    let token = tokens::generate(tokens::SESSION_PREFIX);
    let new_session = AccountSession {
        id: new_id(AccountSession::PREFIX),
        account: account.id.clone(),
        customer: account.customer.clone(),
        created: now,
        expires_at: now + settings.session_ttl_s,
        revoked_at: None,
        ip: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
        step_up_until,
        payment_step_up_until: None,
        device_hash: origin.device_hash.clone(),
    };
    let mut signed_in = account.signed_in();
    // A passkey sign-in proves the holder on this device.
    if let (Some(_), Some(hash)) = (step_up_until, &origin.device_hash) {
        signed_in = signed_in.with_known_device(hash).unwrap_or(signed_in);
    }
    let mut writes = vec![
        records::insert_session(scope, &new_session, tokens::digest(state, &token))?,
        records::update_account(scope, doc, &signed_in)?,
        audit::record(
            state,
            scope,
            origin,
            Entry {
                action,
                outcome: Outcome::Success,
                account: Some(&signed_in),
                email_key: None,
                reason: None,
            },
        )?,
    ];
    writes.extend(extra);
    // The oldest sessions end past the per-account bound.
    let keep = settings.sessions_per_account_max.saturating_sub(1);
    for (old_doc, old) in records::unrevoked_sessions(state, scope, &account.id)
        .await?
        .into_iter()
        .skip(keep)
    {
        let revoked = StoredSession {
            session: old.session.revoked(now),
            token_hash: old.token_hash,
        };
        writes.push(records::update_session(scope, &old_doc, &revoked)?);
    }
    commit(state, writes, ApiError::concurrent_change).await?;
    Ok(render::new_session(&new_session, &token, now))
}

pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let (session::Holder { signed_in, origin }, ()) =
            session::holder(&state, &caller, &headers, &mut request, |_| Ok(())).await?;
        let id = signed_in.session.session.id.clone();
        end_session(
            &state,
            &caller,
            &origin,
            &signed_in,
            &id,
            CredentialAction::Logout,
        )
        .await
    };
    answer(result.await)
}

pub async fn revoke_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let (session::Holder { signed_in, origin }, ()) =
            session::holder(&state, &caller, &headers, &mut request, |_| Ok(())).await?;
        end_session(
            &state,
            &caller,
            &origin,
            &signed_in,
            &id,
            CredentialAction::SessionRevoke,
        )
        .await
    };
    answer(result.await)
}

/// Ends the account's session `id` (404 if it is not the account's).
async fn end_session(
    state: &AppState,
    caller: &Caller,
    origin: &Origin,
    signed_in: &SignedIn,
    id: &str,
    action: CredentialAction,
) -> ApiResult<serde_json::Value> {
    let scope = caller.scope();
    let missing = || ApiError::no_such("account_session", id, "id");
    let (doc, stored) = records::session(state, &scope, id)
        .await?
        .filter(|(_, s)| s.session.account == signed_in.account.id)
        .ok_or_else(missing)?;
    let now = state.now();
    let revoked = StoredSession {
        session: stored.session.revoked(now),
        token_hash: stored.token_hash,
    };
    let writes: Vec<WriteOp> = vec![
        records::update_session(&scope, &doc, &revoked)?,
        audit::record(
            state,
            &scope,
            origin,
            Entry {
                action,
                outcome: Outcome::Success,
                account: Some(&signed_in.account),
                email_key: None,
                reason: None,
            },
        )?,
    ];
    commit(state, writes, ApiError::concurrent_change).await?;
    let current = revoked.session.id == signed_in.session.session.id;
    Ok(render::session(&revoked.session, current, now))
}

pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let (session::Holder { signed_in, .. }, ()) =
            session::holder(&state, &caller, &headers, &mut request, |_| Ok(())).await?;
        Ok(render::account(&signed_in.account, state.now()))
    };
    answer(result.await)
}

pub async fn list_sessions(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let (session::Holder { signed_in, .. }, ()) =
            session::holder(&state, &caller, &headers, &mut request, |_| Ok(())).await?;
        let now = state.now();
        let current = &signed_in.session.session.id;
        let data = records::unrevoked_sessions(&state, &caller.scope(), &signed_in.account.id)
            .await?
            .into_iter()
            .filter(|(_, s)| s.session.is_live(now))
            .map(|(_, s)| render::session(&s.session, &s.session.id == current, now))
            .collect();
        Ok(lists::list_object("/v1/accounts/sessions", data, false))
    };
    answer(result.await)
}
