//! Step-up by the account password: the sign-in's rules apply — the
//! per-IP throttle, the account lockout (a wrong password counts towards
//! it, a locked account is refused without looking), one Argon2id
//! verification either way.

use super::super::audit::Outcome;
use super::super::session::Holder;
use super::super::signin::{self, Failure};
use super::super::{commit, errors, passwords};
use super::{failure_write, success_writes};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use portcullis_domain::accounts::{CredentialAction, Password};
use serde_json::Value;

/// Steps the holder's session up when `password` is the account's.
pub(super) async fn confirm(
    state: &AppState,
    holder: &Holder,
    password: Password,
) -> ApiResult<Value> {
    let (signed_in, scope, origin) = (&holder.signed_in, holder.scope(), &holder.origin);
    signin::throttle_ip(state, scope, origin, CredentialAction::StepUp, None).await?;
    let account = &signed_in.account;
    let matches = passwords::verify(password, account.password_hash().map(str::to_owned)).await?;
    if account.locked_until(state.now()).is_some() {
        let write = failure_write(state, signed_in, origin, Outcome::Refused, "locked")?;
        commit(state, vec![write], ApiError::concurrent_change).await?;
        return Err(errors::locked());
    }
    if !matches {
        let failure = Failure {
            action: CredentialAction::StepUp,
            reason: "password_incorrect",
        };
        let known = (signed_in.account_doc.clone(), account.clone());
        signin::record_failure(state, scope, origin, known, failure).await?;
        return Err(errors::password_incorrect("password"));
    }
    let (mut writes, answered) = success_writes(state, signed_in, origin, false)?;
    // A right password ends the run of failures, as a sign-in does.
    writes.push(super::super::records::update_account(
        scope,
        &signed_in.account_doc,
        &account.signed_in(),
    )?);
    commit(state, writes, ApiError::concurrent_change).await?;
    Ok(answered)
}
