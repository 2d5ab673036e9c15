//! Credential changes: the password (with the current one, or by an
//! emailed reset link), the email address (verified at the new address)
//! and deactivation. Each ends the sessions it should: a password change
//! ends every other session, a reset and a deactivation end them all.

use super::audit::{self, Entry, Origin, Outcome};
use super::mail::{MessageKind, Outgoing};
use super::registration::{parse_email, spend, Spent};
use super::session::{self, SignedIn};
use super::{answer, commit, errors, link, passwords, records, render, step_up, tokens};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_domain::accounts::{
    email_key, AccountStatus, AccountToken, CredentialAction, CustomerAccount, Password,
    TokenPurpose, TokenRefusal, PASSWORD_CHARS_MAX,
};
use portcullis_domain::customers::{CustomerChanges, Patch};
use portcullis_store::{Scope, StoreError, WriteOp, WriteSet};

fn success<'a>(action: CredentialAction, account: &'a CustomerAccount) -> Entry<'a> {
    Entry {
        action,
        outcome: Outcome::Success,
        account: Some(account),
        email_key: None,
        reason: None,
    }
}

/// The signed-in holder, after a fresh passkey step-up when the account
/// has a passkey ([`step_up::require_fresh`]) and the current password
/// they gave for `action`; also the scope and the request's origin.
async fn holder(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
    current: &str,
    action: CredentialAction,
) -> ApiResult<(SignedIn, Scope, Origin)> {
    let signed_in = session::signed_in(state, caller, headers).await?;
    step_up::require_fresh(state, &signed_in).await?;
    let scope = caller.scope();
    let origin = session::origin(ip, headers);
    check_current(state, &scope, &origin, &signed_in, current, action).await?;
    Ok((signed_in, scope, origin))
}

/// Checks the signed-in holder's current password; a wrong one is
/// recorded as a failure of `action` and answered 400.
async fn check_current(
    state: &AppState,
    scope: &Scope,
    origin: &Origin,
    signed_in: &SignedIn,
    presented: &str,
    action: CredentialAction,
) -> ApiResult<()> {
    let password =
        Password::parse_presented(presented).map_err(|e| errors::policy(e, "current_password"))?;
    let stored = signed_in.account.password_hash().map(str::to_owned);
    if passwords::verify(password, stored).await? {
        return Ok(());
    }
    let event = audit::record(
        state,
        scope,
        origin,
        Entry {
            action,
            outcome: Outcome::Failure,
            account: Some(&signed_in.account),
            email_key: None,
            reason: Some("password_incorrect"),
        },
    )?;
    commit(state, vec![event], ApiError::concurrent_change).await?;
    Err(errors::current_password_wrong())
}

pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let params = &mut request.params;
        let current = params.required_string("current_password", PASSWORD_CHARS_MAX)?;
        let new = params.required_string("new_password", PASSWORD_CHARS_MAX)?;
        std::mem::take(params).finish()?;
        let (signed_in, scope, origin) = holder(
            &state,
            &caller,
            &headers,
            request.client_ip,
            &current,
            CredentialAction::PasswordChange,
        )
        .await?;
        let account = &signed_in.account;
        let password = Password::parse_new(&new, &account.email)
            .map_err(|e| errors::policy(e, "new_password"))?;
        let changed = account.with_password(passwords::hash(password).await?);
        let now = state.now();
        let mut writes = vec![
            records::update_account(&scope, &signed_in.account_doc, &changed)?,
            audit::record(
                &state,
                &scope,
                &origin,
                success(CredentialAction::PasswordChange, &changed),
            )?,
        ];
        let current_id = signed_in.session.session.id.as_str();
        writes.extend(
            records::revoke_all_writes(&state, &scope, &account.id, Some(current_id), now).await?,
        );
        commit(&state, writes, ApiError::concurrent_change).await?;
        notify(&state, &changed, MessageKind::PasswordChanged);
        Ok(render::account(&changed, now))
    };
    answer(result.await)
}

fn notify(state: &AppState, account: &CustomerAccount, kind: MessageKind) {
    state.accounts_mailer().send_later(Outgoing {
        to: account.email.clone(),
        locale: account.locale,
        kind,
        link: None,
        account_ref: account.id.clone(),
    });
}

pub async fn request_reset(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        session::allow(&caller)?;
        let email = parse_email(&request.params.required_string("email", 512)?, "email")?;
        std::mem::take(&mut request.params).finish()?;
        let scope = caller.scope();
        let origin = session::origin(request.client_ip, &headers);
        let key = email_key(&email);
        let found = records::account_by_email(&state, &scope, &key)
            .await?
            .filter(|(_, account)| account.status() == AccountStatus::Active);
        let Some((_, account)) = found else {
            let event = audit::record(
                &state,
                &scope,
                &origin,
                Entry {
                    action: CredentialAction::PasswordResetRequest,
                    outcome: Outcome::Failure,
                    account: None,
                    email_key: Some(&key),
                    reason: Some("no_active_account"),
                },
            )?;
            commit(&state, vec![event], ApiError::concurrent_change).await?;
            return Ok(render::password_reset(&email, caller.livemode()));
        };
        let token = tokens::generate(tokens::EMAILED_PREFIX);
        let record =
            AccountToken::issue(&account.id, TokenPurpose::PasswordReset, None, state.now());
        let writes = vec![
            records::insert_token(&scope, &record, tokens::digest(&state, &token))?,
            audit::record(
                &state,
                &scope,
                &origin,
                success(CredentialAction::PasswordResetRequest, &account),
            )?,
        ];
        commit(&state, writes, ApiError::concurrent_change).await?;
        state.accounts_mailer().send_later(Outgoing {
            to: account.email.clone(),
            locale: account.locale,
            kind: MessageKind::PasswordReset,
            link: Some(link(&state, "reset", &token)),
            account_ref: account.id.clone(),
        });
        Ok(render::password_reset(&email, caller.livemode()))
    };
    answer(result.await)
}

pub async fn confirm_reset(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        session::allow(&caller)?;
        let params = &mut request.params;
        let token = params.required_string("token", tokens::TOKEN_CHARS_MAX)?;
        let new = params.required_string("new_password", PASSWORD_CHARS_MAX)?;
        std::mem::take(params).finish()?;
        let Spent {
            op: spend_op,
            account_doc: doc,
            account,
            ..
        } = spend(&state, &caller, &token, TokenPurpose::PasswordReset).await?;
        let scope = caller.scope();
        if account.status() != AccountStatus::Active {
            return Err(errors::token(TokenRefusal::Unknown));
        }
        let password = Password::parse_new(&new, &account.email)
            .map_err(|e| errors::policy(e, "new_password"))?;
        let changed = account.with_password(passwords::hash(password).await?);
        let now = state.now();
        let origin = session::origin(request.client_ip, &headers);
        let mut writes = vec![
            spend_op,
            records::update_account(&scope, &doc, &changed)?,
            audit::record(
                &state,
                &scope,
                &origin,
                success(CredentialAction::PasswordReset, &changed),
            )?,
        ];
        writes.extend(records::revoke_all_writes(&state, &scope, &account.id, None, now).await?);
        commit(&state, writes, || errors::token(TokenRefusal::Used)).await?;
        notify(&state, &changed, MessageKind::PasswordChanged);
        Ok(render::account(&changed, now))
    };
    answer(result.await)
}

pub async fn request_email_change(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let params = &mut request.params;
        let new_email = parse_email(&params.required_string("new_email", 512)?, "new_email")?;
        let current = params.required_string("current_password", PASSWORD_CHARS_MAX)?;
        std::mem::take(params).finish()?;
        let (signed_in, scope, origin) = holder(
            &state,
            &caller,
            &headers,
            request.client_ip,
            &current,
            CredentialAction::EmailChangeRequest,
        )
        .await?;
        let account = &signed_in.account;
        let token = tokens::generate(tokens::EMAILED_PREFIX);
        let record = AccountToken::issue(
            &account.id,
            TokenPurpose::EmailChange,
            Some(new_email.clone()),
            state.now(),
        );
        let writes = vec![
            records::insert_token(&scope, &record, tokens::digest(&state, &token))?,
            audit::record(
                &state,
                &scope,
                &origin,
                success(CredentialAction::EmailChangeRequest, account),
            )?,
        ];
        commit(&state, writes, ApiError::concurrent_change).await?;
        state.accounts_mailer().send_later(Outgoing {
            to: new_email.clone(),
            locale: account.locale,
            kind: MessageKind::EmailChange,
            link: Some(link(&state, "email/confirm", &token)),
            account_ref: account.id.clone(),
        });
        notify(&state, account, MessageKind::EmailChangeNotice);
        Ok(render::email_change(account, &new_email, record.expires_at))
    };
    answer(result.await)
}

pub async fn confirm_email_change(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        session::allow(&caller)?;
        let token = request
            .params
            .required_string("token", tokens::TOKEN_CHARS_MAX)?;
        std::mem::take(&mut request.params).finish()?;
        let Spent {
            op: spend_op,
            token: record,
            account_doc: doc,
            account,
        } = spend(&state, &caller, &token, TokenPurpose::EmailChange).await?;
        let scope = caller.scope();
        let new_email = match (&record.new_email, account.status()) {
            (Some(email), AccountStatus::Active) => email.clone(),
            _ => return Err(errors::token(TokenRefusal::Unknown)),
        };
        let changed = account.with_email(new_email.clone());
        let origin = session::origin(request.client_ip, &headers);
        let customer_changes = CustomerChanges {
            email: Patch::Set(new_email),
            ..CustomerChanges::default()
        };
        let mut writes: Vec<WriteOp> = vec![
            spend_op,
            records::update_account(&scope, &doc, &changed)?,
            audit::record(
                &state,
                &scope,
                &origin,
                success(CredentialAction::EmailChange, &changed),
            )?,
        ];
        writes.extend(
            crate::customers::changed_writes(
                &state,
                &caller,
                account.customer.as_str(),
                &customer_changes,
            )
            .await?
            .ops,
        );
        match state.store.commit(WriteSet { ops: writes }).await {
            Ok(()) => {}
            Err(StoreError::Duplicate) => return Err(errors::email_taken().with_param("token")),
            Err(StoreError::Conflict) => return Err(errors::token(TokenRefusal::Used)),
            Err(err) => return Err(err.into()),
        }
        Ok(render::account(&changed, state.now()))
    };
    answer(result.await)
}

pub async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let current = request
            .params
            .required_string("current_password", PASSWORD_CHARS_MAX)?;
        std::mem::take(&mut request.params).finish()?;
        let (signed_in, scope, origin) = holder(
            &state,
            &caller,
            &headers,
            request.client_ip,
            &current,
            CredentialAction::Deactivate,
        )
        .await?;
        let closed = signed_in
            .account
            .deactivated()
            .map_err(|e| errors::policy(e, "current_password"))?;
        let now = state.now();
        let mut writes = vec![
            records::update_account(&scope, &signed_in.account_doc, &closed)?,
            audit::record(
                &state,
                &scope,
                &origin,
                success(CredentialAction::Deactivate, &closed),
            )?,
        ];
        writes.extend(records::revoke_all_writes(&state, &scope, &closed.id, None, now).await?);
        commit(&state, writes, ApiError::concurrent_change).await?;
        Ok(render::account(&closed, now))
    };
    answer(result.await)
}
