//! Step-up: a passkey assertion with user verification (biometrics or the
//! device PIN) grants the signed-in session a short window
//! (`accounts_step_up_s`) in which sensitive actions pass: changing the
//! password or email, deactivating, adding a second passkey or deleting
//! one. Outside it such an action answers 403 `account_step_up_required`
//! with a Stripe-shaped `next_action` (`redirect_to_url` to the hosted
//! step-up page), so an app can run the ceremony itself
//! (`POST /v1/accounts/step_up/challenge`, then `POST /v1/accounts/step_up`)
//! and a web page can send the holder to ours. An account without a
//! passkey has nothing to step up with: its actions keep their own checks.
//!
//! For other features (the e-wallet's spend above a threshold): call
//! [`require_fresh`] with the signed-in holder before the action; it
//! answers `Ok(())` or the error to return as is.
//!
//! A payment from the balance that waits for step-up (issue 15 item 4)
//! takes any of three proofs, each granting the session
//! `payment_step_up_until` for `accounts_step_up_s`: the passkey (which
//! grants `step_up_until` too), the account password ([`password`], with
//! the sign-in lockout and throttle) or a code sent by email
//! ([`email_code`]). Every attempt is a credential event.

mod email_code;
mod password;

pub use email_code::{confirm_code, send_code, CODE_DIGITS};

use super::audit::{self, Entry, Outcome};
use super::passkeys::{self, records, records::Ceremony};
use super::session::{self, SignedIn};
use super::{answer, commit, render};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorType};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_domain::accounts::{CredentialAction, Password, StepUpDecision, PASSWORD_CHARS_MAX};
use serde_json::json;
use webauthn_rs::prelude::{Passkey, PublicKeyCredential};

/// 403 `account_step_up_required`, with where to step up.
pub fn required(state: &AppState) -> ApiError {
    let url = format!("{}/account/step_up", state.base_url());
    let mut err = ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorType::InvalidRequest,
        Some("account_step_up_required"),
        "This action needs the account holder to confirm with a passkey first: \
         POST /v1/accounts/step_up/challenge, then POST /v1/accounts/step_up.",
    );
    err.extra.insert(
        "next_action".into(),
        json!({
            "type": "redirect_to_url",
            "redirect_to_url": { "url": url, "return_url": null },
        }),
    );
    err
}

/// Whether `signed_in` may do a step-up-guarded action now, knowing
/// whether its account has a passkey.
pub fn require(state: &AppState, signed_in: &SignedIn, has_passkey: bool) -> ApiResult<()> {
    let rule = state.settings.accounts.step_up;
    match rule.decide(
        has_passkey,
        signed_in.session.session.step_up_until,
        state.now(),
    ) {
        StepUpDecision::Proceed => Ok(()),
        StepUpDecision::Required => Err(required(state)),
    }
}

/// The seam for sensitive actions elsewhere (the e-wallet's spend above
/// its threshold, credential changes): `Ok(())` when the holder's session
/// has a fresh passkey step-up or the account has no passkey, else the
/// [`required`] error to answer as is.
pub async fn require_fresh(state: &AppState, signed_in: &SignedIn) -> ApiResult<()> {
    let has_passkey = !records::of_account(state, &signed_in.scope, &signed_in.account.id)
        .await?
        .is_empty();
    require(state, signed_in, has_passkey)
}

pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let (holder, ()) =
            session::holder(&state, &caller, &headers, &mut request, |_| Ok(())).await?;
        let (signed_in, scope) = (&holder.signed_in, holder.scope());
        let keys: Vec<Passkey> = records::of_account(&state, scope, &signed_in.account.id)
            .await?
            .into_iter()
            .map(|(_, stored)| stored.passkey)
            .collect();
        if keys.is_empty() {
            return Err(ApiError::invalid(
                "account_no_passkey",
                "This account has no passkey to confirm with: register one first.",
                "account",
            ));
        }
        let (options, authentication) = passkeys::webauthn(&state)?
            .start_passkey_authentication(&keys)
            .map_err(|err| ApiError::internal(&err))?;
        let options = passkeys::options_json(&options)?;
        let session_id = signed_in.session.session.id.as_str();
        let ceremony = Ceremony::StepUp(authentication);
        passkeys::open(&state, scope, Some(session_id), ceremony, options).await
    };
    answer(result.await)
}

/// What the holder proves themselves with.
enum Proof {
    Password(Password),
    /// A passkey ceremony's challenge and credential.
    Passkey((String, String)),
}

/// A posted `password`, else the passkey ceremony's fields.
fn proof(params: &mut crate::wire::Params) -> ApiResult<Proof> {
    match params.string("password", PASSWORD_CHARS_MAX)? {
        Some(text) => Password::parse_presented(&text)
            .map(Proof::Password)
            .map_err(|err| super::errors::policy(err, "password")),
        None => passkeys::finishing(params).map(Proof::Passkey),
    }
}

/// The session of `signed_in` stepped up at `now`: for payments from the
/// balance, and by a passkey for sensitive actions as well.
fn granted(
    state: &AppState,
    signed_in: &SignedIn,
    by_passkey: bool,
) -> super::records::StoredSession {
    let until = state.settings.accounts.step_up.granted_until(state.now());
    let mut stepped = signed_in.session.clone();
    stepped.session.payment_step_up_until = Some(until);
    if by_passkey {
        stepped.session.step_up_until = Some(until);
    }
    stepped
}

/// The writes that step `signed_in`'s session up and record it, and the
/// session's answer once they are committed.
fn success_writes(
    state: &AppState,
    signed_in: &SignedIn,
    origin: &audit::Origin,
    by_passkey: bool,
) -> ApiResult<(Vec<portcullis_store::WriteOp>, serde_json::Value)> {
    let stepped = granted(state, signed_in, by_passkey);
    let scope = &signed_in.scope;
    let entry = Entry {
        action: CredentialAction::StepUp,
        outcome: Outcome::Success,
        account: Some(&signed_in.account),
        email_key: None,
        reason: None,
    };
    let writes = vec![
        super::records::update_session(scope, &signed_in.session_doc, &stepped)?,
        audit::record(state, scope, origin, entry)?,
    ];
    Ok((writes, render::session(&stepped.session, true, state.now())))
}

/// A failed step-up attempt of `signed_in`, recorded (`reason` says how).
fn failure_write(
    state: &AppState,
    signed_in: &SignedIn,
    origin: &audit::Origin,
    outcome: Outcome,
    reason: &'static str,
) -> ApiResult<portcullis_store::WriteOp> {
    let entry = Entry {
        action: CredentialAction::StepUp,
        outcome,
        account: Some(&signed_in.account),
        email_key: None,
        reason: Some(reason),
    };
    audit::record(state, &signed_in.scope, origin, entry)
}

/// `POST /v1/accounts/step_up`: the holder proves themselves with the
/// account `password`, or with a passkey (`challenge` and `credential`).
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let (holder, proof) =
            session::holder(&state, &caller, &headers, &mut request, proof).await?;
        let finishing = match proof {
            Proof::Password(password) => return password::confirm(&state, &holder, password).await,
            Proof::Passkey(finishing) => finishing,
        };
        let (signed_in, scope, origin) =
            (&holder.signed_in, holder.scope().clone(), &holder.origin);
        let session_id = signed_in.session.session.id.clone();
        let (challenge, posted, spent) =
            passkeys::finish::<PublicKeyCredential>(&state, &scope, &finishing, Some(&session_id))
                .await?;
        let Ceremony::StepUp(authentication) = &challenge.ceremony else {
            return Err(passkeys::challenge_invalid());
        };
        let account = &signed_in.account;
        let verified = passkeys::webauthn(&state)?
            .finish_passkey_authentication(&posted, authentication)
            .ok()
            .filter(|v| v.user_verified());
        let Some(verified) = verified else {
            let write = failure_write(
                &state,
                signed_in,
                origin,
                Outcome::Failure,
                "assertion_invalid",
            )?;
            commit(&state, vec![spent, write], passkeys::challenge_invalid).await?;
            return Err(passkeys::verification_failed());
        };
        let now = state.now();
        let mut writes = vec![spent];
        let used = records::of_account(&state, &scope, &account.id)
            .await?
            .into_iter()
            .find(|(_, p)| p.passkey.cred_id() == verified.cred_id());
        if let Some((passkey_doc, mut stored)) = used {
            stored.passkey.update_credential(&verified);
            stored.last_used_at = Some(now);
            writes.push(records::update_passkey(&scope, &passkey_doc, &stored)?);
        }
        let (granted, answered) = success_writes(&state, signed_in, origin, true)?;
        writes.extend(granted);
        // The holder proved themself on the session's device.
        writes.extend(super::devices::known_write(signed_in)?);
        commit(&state, writes, passkeys::challenge_invalid).await?;
        Ok(answered)
    };
    answer(result.await)
}
