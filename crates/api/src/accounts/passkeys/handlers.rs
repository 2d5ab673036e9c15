//! The passkey calls: start and finish a registration (signed in), list
//! and delete (signed in; deleting needs a fresh step-up), start and
//! finish a sign-in (the app's key only).

use super::records::{self, Ceremony, StoredPasskey, PASSKEYS_PER_ACCOUNT_MAX};
use super::{
    finish, finishing, open, options_json, user_handle, verification_failed, webauthn,
    NAME_CHARS_MAX,
};
use crate::accounts::audit::{self, Entry, Origin, Outcome};
use crate::accounts::session;
use crate::accounts::{answer, commit, signin, step_up};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_domain::accounts::{AccountStatus, CredentialAction, CustomerAccount};
use portcullis_domain::ids::new_id;
use portcullis_store::Scope;
use serde_json::{json, Value};
use webauthn_rs::prelude::{DiscoverableKey, PublicKeyCredential, RegisterPublicKeyCredential};

/// What the wire shows of a passkey: never its key or counter.
pub struct PasskeyView<'a> {
    pub id: &'a str,
    pub account: &'a str,
    pub customer: &'a str,
    pub name: Option<&'a str>,
    pub created: i64,
    pub last_used_at: Option<i64>,
}

pub fn render_view(view: PasskeyView<'_>) -> Value {
    json!({
        "id": view.id,
        "object": "account_passkey",
        "account": view.account,
        "customer": view.customer,
        "name": view.name,
        "created": view.created,
        "last_used_at": view.last_used_at,
    })
}

pub fn render(stored: &StoredPasskey) -> Value {
    render_view(PasskeyView {
        id: &stored.id,
        account: &stored.account,
        customer: stored.customer.as_str(),
        name: stored.name.as_deref(),
        created: stored.created,
        last_used_at: stored.last_used_at,
    })
}

/// One credential event of `account`.
fn event<'a>(
    action: CredentialAction,
    outcome: Outcome,
    account: Option<&'a CustomerAccount>,
    reason: Option<&'static str>,
) -> Entry<'a> {
    Entry {
        action,
        outcome,
        account,
        email_key: None,
        reason,
    }
}

/// Records a failed ceremony, then answers `err`.
async fn refuse(
    state: &AppState,
    scope: &Scope,
    origin: &Origin,
    entry: Entry<'_>,
    err: ApiError,
) -> ApiResult<Value> {
    let write = audit::record(state, scope, origin, entry)?;
    commit(state, vec![write], ApiError::concurrent_change).await?;
    Err(err)
}

pub async fn start_registration(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let (holder, ()) =
            session::holder(&state, &caller, &headers, &mut request, |_| Ok(())).await?;
        let (signed_in, scope) = (&holder.signed_in, holder.scope());
        let account = &signed_in.account;
        let existing = records::of_account(&state, scope, &account.id).await?;
        if existing.len() >= PASSKEYS_PER_ACCOUNT_MAX {
            return Err(ApiError::limit_reached("passkeys_per_account"));
        }
        // A second passkey is a credential change: a stolen session alone
        // must not add the thief's authenticator.
        step_up::require(&state, signed_in, !existing.is_empty())?;
        let exclude = existing
            .iter()
            .map(|(_, stored)| stored.passkey.cred_id().clone())
            .collect::<Vec<_>>();
        let (options, registration) = webauthn(&state)?
            .start_passkey_registration(
                user_handle(&account.id),
                account.email.as_str(),
                account.email.as_str(),
                Some(exclude),
            )
            .map_err(|err| ApiError::internal(&err))?;
        let mut options = options_json(&options)?;
        // Sign-in names no account first (so it cannot tell which emails
        // have one): the credential must be discoverable. Asking for more
        // than webauthn-rs's default changes nothing it verifies.
        options["publicKey"]["authenticatorSelection"]["residentKey"] = json!("required");
        options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = json!(true);
        let session_id = signed_in.session.session.id.as_str();
        let ceremony = Ceremony::Registration(registration);
        open(&state, scope, Some(session_id), ceremony, options).await
    };
    answer(result.await)
}

pub async fn finish_registration(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let read = |params: &mut crate::wire::Params| {
            Ok((finishing(params)?, params.string("name", NAME_CHARS_MAX)?))
        };
        let (holder, (finishing, name)) =
            session::holder(&state, &caller, &headers, &mut request, read).await?;
        let (signed_in, scope, origin) = (
            &holder.signed_in,
            holder.scope().clone(),
            holder.origin.clone(),
        );
        let session_id = signed_in.session.session.id.as_str();
        let (challenge, posted, spent) =
            finish::<RegisterPublicKeyCredential>(&state, &scope, &finishing, Some(session_id))
                .await?;
        let Ceremony::Registration(registration) = &challenge.ceremony else {
            return Err(super::challenge_invalid());
        };
        let account = &signed_in.account;
        let passkey = match webauthn(&state)?.finish_passkey_registration(&posted, registration) {
            Ok(passkey) => passkey,
            Err(err) => {
                tracing::info!(error = %err, "passkey registration refused");
                let entry = event(
                    CredentialAction::PasskeyRegister,
                    Outcome::Failure,
                    Some(account),
                    Some("attestation_invalid"),
                );
                let write = audit::record(&state, &scope, &origin, entry)?;
                commit(&state, vec![spent, write], ApiError::concurrent_change).await?;
                return Err(verification_failed());
            }
        };
        if records::by_credential(&state, &scope, passkey.cred_id().as_ref())
            .await?
            .is_some()
        {
            return Err(ApiError::invalid(
                "passkey_already_registered",
                "This passkey is registered already.",
                "credential",
            ));
        }
        let now = state.now();
        let stored = StoredPasskey {
            id: new_id(StoredPasskey::PREFIX),
            account: account.id.clone(),
            customer: account.customer.clone(),
            name: name.filter(|n| !n.trim().is_empty()),
            created: now,
            last_used_at: None,
            deleted_at: None,
            passkey,
        };
        let entry = event(
            CredentialAction::PasskeyRegister,
            Outcome::Success,
            Some(account),
            None,
        );
        let writes = vec![
            spent,
            records::insert_passkey(&scope, &stored)?,
            audit::record(&state, &scope, &origin, entry)?,
        ];
        commit(&state, writes, super::challenge_invalid).await?;
        Ok(render(&stored))
    };
    answer(result.await)
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let (holder, ()) =
            session::holder(&state, &caller, &headers, &mut request, |_| Ok(())).await?;
        let passkeys =
            records::of_account(&state, holder.scope(), &holder.signed_in.account.id).await?;
        let data: Vec<Value> = passkeys.iter().map(|(_, p)| render(p)).collect();
        Ok(json!({
            "object": "list",
            "url": "/v1/accounts/passkeys",
            "has_more": false,
            "data": data,
        }))
    };
    answer(result.await)
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let (holder, ()) =
            session::holder(&state, &caller, &headers, &mut request, |_| Ok(())).await?;
        let (signed_in, scope, origin) = (
            &holder.signed_in,
            holder.scope().clone(),
            holder.origin.clone(),
        );
        let (doc, stored) = records::passkey(&state, &scope, &id)
            .await?
            .filter(|(_, p)| p.account == signed_in.account.id && p.deleted_at.is_none())
            .ok_or_else(|| ApiError::no_such("account_passkey", &id, "id"))?;
        step_up::require(&state, signed_in, true)?;
        let deleted = StoredPasskey {
            deleted_at: Some(state.now()),
            ..stored
        };
        let entry = event(
            CredentialAction::PasskeyDelete,
            Outcome::Success,
            Some(&signed_in.account),
            None,
        );
        let writes = vec![
            records::update_passkey(&scope, &doc, &deleted)?,
            audit::record(&state, &scope, &origin, entry)?,
        ];
        commit(&state, writes, ApiError::concurrent_change).await?;
        Ok(json!({ "id": deleted.id, "object": "account_passkey", "deleted": true }))
    };
    answer(result.await)
}

pub async fn start_login(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        session::allow(&caller)?;
        std::mem::take(&mut request.params).finish()?;
        let scope = caller.scope();
        let (options, login) = webauthn(&state)?
            .start_discoverable_authentication()
            .map_err(|err| ApiError::internal(&err))?;
        let options = options_json(&options)?;
        open(&state, &scope, None, Ceremony::Login(login), options).await
    };
    answer(result.await)
}

pub async fn finish_login(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        session::allow(&caller)?;
        let params = &mut request.params;
        let finishing = finishing(params)?;
        let device_hash = crate::accounts::devices::read(&state, params)?;
        std::mem::take(params).finish()?;
        let scope = caller.scope();
        let mut origin = session::origin(request.client_ip, &headers);
        origin.device_hash = device_hash;
        // Failed passkey sign-ins count with failed passwords per address.
        let action = CredentialAction::PasskeyLogin;
        signin::throttle_ip(&state, &scope, &origin, action, None).await?;
        let (challenge, posted, spent) =
            finish::<PublicKeyCredential>(&state, &scope, &finishing, None).await?;
        let Ceremony::Login(login) = &challenge.ceremony else {
            return Err(super::challenge_invalid());
        };
        commit(&state, vec![spent], super::challenge_invalid).await?;
        let relying_party = webauthn(&state)?;
        let found = match relying_party.identify_discoverable_authentication(&posted) {
            Ok((handle, raw_id)) => records::by_credential(&state, &scope, raw_id)
                .await?
                .filter(|(_, p)| user_handle(&p.account) == handle),
            Err(_) => None,
        };
        let failed = |reason| {
            event(
                CredentialAction::PasskeyLogin,
                Outcome::Failure,
                None,
                reason,
            )
        };
        let Some((passkey_doc, stored)) = found else {
            return refuse(
                &state,
                &scope,
                &origin,
                failed(Some("credential_unknown")),
                verification_failed(),
            )
            .await;
        };
        let (account_doc, account) =
            crate::accounts::records::account(&state, &scope, &stored.account).await?;
        let keys = [DiscoverableKey::from(&stored.passkey)];
        let Ok(verified) =
            relying_party.finish_discoverable_authentication(&posted, login.clone(), &keys)
        else {
            // A known credential whose assertion does not verify counts
            // toward its account's lockout, as a wrong password does.
            let failure = signin::Failure {
                action,
                reason: "assertion_invalid",
            };
            signin::record_failure(&state, &scope, &origin, (account_doc, account), failure)
                .await?;
            return Err(verification_failed());
        };
        if account.locked_until(state.now()).is_some() {
            let entry = event(action, Outcome::Refused, Some(&account), Some("locked"));
            let locked = crate::accounts::errors::locked();
            return refuse(&state, &scope, &origin, entry, locked).await;
        }
        if account.status() != AccountStatus::Active || !verified.user_verified() {
            let entry = event(
                CredentialAction::PasskeyLogin,
                Outcome::Refused,
                Some(&account),
                Some("account_not_active"),
            );
            return refuse(&state, &scope, &origin, entry, verification_failed()).await;
        }
        let mut used = stored.clone();
        used.passkey.update_credential(&verified);
        used.last_used_at = Some(state.now());
        let extra = vec![records::update_passkey(&scope, &passkey_doc, &used)?];
        signin::start_session(
            &state,
            &scope,
            &origin,
            &account_doc,
            &account,
            signin::Method::Passkey { extra },
        )
        .await
    };
    answer(result.await)
}
