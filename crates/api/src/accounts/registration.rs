//! Registration and activation: register (publishable key), activate with
//! the emailed token, a merchant's invitation (secret key) and its
//! acceptance.

use super::audit::{self, Entry, Outcome};
use super::mail::{MessageKind, Outgoing};
use super::{answer, commit, errors, link, passwords, records, render, session, tokens};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_domain::accounts::{
    email_key, AccountToken, CredentialAction, CustomerAccount, Locale, Password, TokenPurpose,
    TokenRefusal, PASSWORD_CHARS_MAX,
};
use portcullis_domain::api_keys::Access;
use portcullis_domain::customers::{Customer, CustomerChanges, Email, Patch};
use portcullis_store::StoreError;

const EMAIL_CHARS_MAX: usize = 512;

pub fn parse_email(text: &str, param: &str) -> ApiResult<Email> {
    Email::parse(text)
        .map_err(|_| ApiError::invalid("email_invalid", "Invalid email address.", param))
}

/// `locale` if named (and one of ours), else from `Accept-Language`.
pub fn locale_param(named: Option<String>, headers: &HeaderMap) -> ApiResult<Locale> {
    if let Some(name) = &named {
        if Locale::parse(name).is_none() {
            return Err(ApiError::invalid(
                "parameter_invalid",
                "locale must be en or zh-CN.",
                "locale",
            ));
        }
    }
    Ok(session::locale(named.as_deref(), headers))
}

pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    answer(register_inner(&state, &caller, &headers, &mut request).await)
}

async fn register_inner(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: &mut ApiRequest,
) -> ApiResult<serde_json::Value> {
    session::allow(caller)?;
    let params = &mut request.params;
    let email = parse_email(&params.required_string("email", EMAIL_CHARS_MAX)?, "email")?;
    let password_text = params.required_string("password", PASSWORD_CHARS_MAX)?;
    let locale = locale_param(params.string("locale", 16)?, headers)?;
    let name = params.string("name", 256)?;
    std::mem::take(params).finish()?;
    let password =
        Password::parse_new(&password_text, &email).map_err(|e| errors::policy(e, "password"))?;
    // Hashed whether or not the address is taken: the same work either way.
    let hash = passwords::hash(password).await?;
    let scope = caller.scope();
    let origin = session::origin(request.client_ip, headers);
    let key = email_key(&email);
    let answer = render::registration(&email, caller.livemode());
    if let Some((_, existing)) = records::account_by_email(state, &scope, &key).await? {
        already_registered(state, caller, &origin, &existing).await?;
        return Ok(answer);
    }
    let now = state.now();
    let changes = CustomerChanges {
        email: Patch::Set(email.clone()),
        name: name.map_or(Patch::Keep, Patch::Set),
        preferred_locales: Patch::Set(vec![locale.tag().to_owned()]),
        ..CustomerChanges::default()
    };
    let customer = Customer::create(&changes, caller.livemode(), now)
        .map_err(|err| ApiError::invalid("parameter_invalid", err.to_string(), "name"))?;
    let account = CustomerAccount::registered(
        customer.id.clone(),
        email.clone(),
        hash,
        locale,
        now,
        caller.livemode(),
    );
    let token = tokens::generate(tokens::EMAILED_PREFIX);
    let record = AccountToken::issue(&account.id, TokenPurpose::Activation, None, now);
    let writes = vec![
        crate::customers::insert_op(scope.clone(), &customer)?,
        records::insert_account(&scope, &account)?,
        records::insert_token(&scope, &record, tokens::digest(state, &token))?,
        audit::record(
            state,
            &scope,
            &origin,
            Entry {
                action: CredentialAction::Register,
                outcome: Outcome::Success,
                account: Some(&account),
                email_key: None,
                reason: None,
            },
        )?,
    ];
    match state
        .store
        .commit(portcullis_store::WriteSet { ops: writes })
        .await
    {
        Ok(()) => {}
        // Registered by a concurrent request a moment ago: the same answer.
        Err(StoreError::Duplicate) => return Ok(answer),
        Err(err) => return Err(err.into()),
    }
    state.accounts_mailer().send_later(Outgoing {
        to: email,
        locale,
        kind: MessageKind::Activation,
        link: Some(link(state, "activate", &token)),
        account_ref: account.id.clone(),
    });
    Ok(answer)
}

/// The address has an account: record the attempt and tell its owner.
async fn already_registered(
    state: &AppState,
    caller: &Caller,
    origin: &audit::Origin,
    existing: &CustomerAccount,
) -> ApiResult<()> {
    let scope = caller.scope();
    let event = audit::record(
        state,
        &scope,
        origin,
        Entry {
            action: CredentialAction::Register,
            outcome: Outcome::Failure,
            account: Some(existing),
            email_key: None,
            reason: Some("email_taken"),
        },
    )?;
    commit(state, vec![event], ApiError::concurrent_change).await?;
    state.accounts_mailer().send_later(Outgoing {
        to: existing.email.clone(),
        locale: existing.locale,
        kind: MessageKind::AlreadyRegistered,
        link: Some(super::realm_link(state, &scope, "password_reset")),
        account_ref: existing.id.clone(),
    });
    Ok(())
}

/// A presented token spent: the write that marks it used (version-checked,
/// so it is spent once), its record, and the account it names.
pub struct Spent {
    pub op: portcullis_store::WriteOp,
    pub token: AccountToken,
    pub account_doc: portcullis_store::Doc,
    pub account: CustomerAccount,
}

/// Spends `token` for `purpose` at the current time.
pub async fn spend(
    state: &AppState,
    caller: &Caller,
    token: &str,
    purpose: TokenPurpose,
) -> ApiResult<Spent> {
    let scope = caller.scope();
    if !token.starts_with(tokens::EMAILED_PREFIX) || token.len() > tokens::TOKEN_CHARS_MAX {
        return Err(errors::token(TokenRefusal::Unknown));
    }
    let digest = tokens::digest(state, token);
    let (doc, record) = records::token_by_digest(state, &scope, &digest)
        .await?
        .ok_or_else(|| errors::token(TokenRefusal::Unknown))?;
    let spent = record.spent(purpose, state.now()).map_err(errors::token)?;
    let (account_doc, account) = records::account(state, &scope, &spent.account).await?;
    Ok(Spent {
        op: records::update_token(&scope, &doc, &spent, &digest)?,
        token: spent,
        account_doc,
        account,
    })
}

pub async fn activate(
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
            account_doc: doc,
            account,
            ..
        } = spend(&state, &caller, &token, TokenPurpose::Activation).await?;
        let scope = caller.scope();
        let now = state.now();
        let activated = account
            .activated(None, now)
            .map_err(|err| errors::policy(err, "token"))?;
        let origin = session::origin(request.client_ip, &headers);
        let writes = vec![
            spend_op,
            records::update_account(&scope, &doc, &activated)?,
            audit::record(
                &state,
                &scope,
                &origin,
                Entry {
                    action: CredentialAction::Activate,
                    outcome: Outcome::Success,
                    account: Some(&activated),
                    email_key: None,
                    reason: None,
                },
            )?,
        ];
        commit(&state, writes, || errors::token(TokenRefusal::Used)).await?;
        Ok(render::account(&activated, now))
    };
    answer(result.await)
}

pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(customer_id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require("customers", Access::Write)?;
        let params = &mut request.params;
        let named_email = params.string("email", EMAIL_CHARS_MAX)?;
        let locale = locale_param(params.string("locale", 16)?, &headers)?;
        std::mem::take(params).finish()?;
        let customer = crate::customers::find_live(&state, &caller, &customer_id).await?;
        let email = match named_email {
            Some(text) => parse_email(&text, "email")?,
            None => customer.email.clone().ok_or_else(|| {
                ApiError::invalid(
                    "parameter_missing",
                    "The customer has no email address: pass email.",
                    "email",
                )
            })?,
        };
        let scope = caller.scope();
        if records::account_by_customer(&state, &scope, customer.id.as_str())
            .await?
            .is_some()
        {
            return Err(ApiError::invalid(
                "account_exists",
                "This customer has an account already.",
                "customer",
            ));
        }
        let now = state.now();
        let account = CustomerAccount::invited(
            customer.id.clone(),
            email.clone(),
            locale,
            now,
            caller.livemode(),
        );
        let token = tokens::generate(tokens::EMAILED_PREFIX);
        let record = AccountToken::issue(&account.id, TokenPurpose::Invitation, None, now);
        let origin = session::origin(request.client_ip, &headers);
        let writes = vec![
            records::insert_account(&scope, &account)?,
            records::insert_token(&scope, &record, tokens::digest(&state, &token))?,
            audit::record(
                &state,
                &scope,
                &origin,
                Entry {
                    action: CredentialAction::Invite,
                    outcome: Outcome::Success,
                    account: Some(&account),
                    email_key: None,
                    reason: None,
                },
            )?,
        ];
        match state
            .store
            .commit(portcullis_store::WriteSet { ops: writes })
            .await
        {
            Ok(()) => {}
            Err(StoreError::Duplicate) => return Err(errors::email_taken()),
            Err(err) => return Err(err.into()),
        }
        state.accounts_mailer().send_later(Outgoing {
            to: email,
            locale,
            kind: MessageKind::Invitation,
            link: Some(link(&state, "invitation", &token)),
            account_ref: account.id.clone(),
        });
        Ok(render::invitation(&record.id, &account, record.expires_at))
    };
    answer(result.await)
}

pub async fn accept_invitation(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        session::allow(&caller)?;
        let params = &mut request.params;
        let token = params.required_string("token", tokens::TOKEN_CHARS_MAX)?;
        let password_text = params.required_string("password", PASSWORD_CHARS_MAX)?;
        std::mem::take(params).finish()?;
        let Spent {
            op: spend_op,
            account_doc: doc,
            account,
            ..
        } = spend(&state, &caller, &token, TokenPurpose::Invitation).await?;
        let scope = caller.scope();
        let password = Password::parse_new(&password_text, &account.email)
            .map_err(|e| errors::policy(e, "password"))?;
        let hash = passwords::hash(password).await?;
        let now = state.now();
        let activated = account
            .activated(Some(hash), now)
            .map_err(|err| errors::policy(err, "token"))?;
        let origin = session::origin(request.client_ip, &headers);
        let writes = vec![
            spend_op,
            records::update_account(&scope, &doc, &activated)?,
            audit::record(
                &state,
                &scope,
                &origin,
                Entry {
                    action: CredentialAction::Activate,
                    outcome: Outcome::Success,
                    account: Some(&activated),
                    email_key: None,
                    reason: Some("invitation"),
                },
            )?,
        ];
        commit(&state, writes, || errors::token(TokenRefusal::Used)).await?;
        Ok(render::account(&activated, now))
    };
    answer(result.await)
}
