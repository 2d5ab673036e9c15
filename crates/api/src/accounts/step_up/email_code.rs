//! Step-up by a one-time code sent by email: six digits, valid ten
//! minutes (`TokenPurpose::StepUpCode`), spent by the first right answer
//! and dead after [`ATTEMPTS_MAX`] wrong ones. Only an account's newest
//! code counts, and a new one goes out at most every [`RESEND_S`]
//! seconds. Storage keeps the code's keyed digest, bound to its record's
//! id, never the code. A right code also makes the session's device known
//! to the account (`devices`): the mailbox is a factor the sign-in's
//! password is not, unlike a password step-up.

use super::super::audit::Outcome;
use super::super::mail::{MessageKind, Outgoing};
use super::super::session::{self, Holder};
use super::super::{answer, commit, records, signin};
use super::{failure_write, success_writes};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_domain::accounts::{
    AccountToken, CredentialAction, Locale, TokenPurpose, TokenRefusal,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many digits a code has.
pub const CODE_DIGITS: usize = 6;
/// Wrong codes tried before a code is dead.
pub const ATTEMPTS_MAX: u32 = 5;
/// The least time between two codes sent to one account.
pub const RESEND_S: i64 = 60;
const DIGEST_CONTEXT: &str = "customer_account_step_up_code";
/// Longest `code` or `locale` looked at.
const FIELD_CHARS_MAX: usize = 16;

/// A code's record: the token and the keyed digest of the code.
#[derive(Clone, Serialize, Deserialize)]
struct StoredCode {
    #[serde(flatten)]
    token: AccountToken,
    code_hash: String,
}

fn digest(state: &AppState, token_id: &str, code: &str) -> String {
    state
        .key_hasher
        .keyed_digest(DIGEST_CONTEXT, &format!("{token_id}:{code}"))
}

fn new_code() -> String {
    use rand::Rng;
    let code: u32 = rand::thread_rng().gen_range(0..1_000_000);
    format!("{code:0width$}", width = CODE_DIGITS)
}

fn code_invalid() -> ApiError {
    ApiError::invalid(
        "account_step_up_code_invalid",
        "This code is not right. Check the newest email, or ask for a new code.",
        "code",
    )
}

fn code_refused(refusal: TokenRefusal) -> ApiError {
    match refusal {
        TokenRefusal::Expired => ApiError::invalid(
            "account_step_up_code_expired",
            "This code has expired. Ask for a new one.",
            "code",
        ),
        TokenRefusal::Used => ApiError::invalid(
            "account_step_up_code_used",
            "This code was used already or tried too often. Ask for a new one.",
            "code",
        ),
        TokenRefusal::Unknown | TokenRefusal::WrongPurpose => code_invalid(),
    }
}

/// `POST /v1/accounts/step_up/email_code`: emails the holder a new code
/// (in `locale`, else the account's language).
pub async fn send_code(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let read = |p: &mut crate::wire::Params| p.string("locale", FIELD_CHARS_MAX);
        let (holder, locale) =
            session::holder(&state, &caller, &headers, &mut request, read).await?;
        let (account, scope) = (&holder.signed_in.account, holder.scope());
        let now = state.now();
        let last = records::newest_token::<StoredCode>(
            &state,
            scope,
            &account.id,
            TokenPurpose::StepUpCode,
        )
        .await?;
        if let Some((_, last)) = last {
            let wait = last.token.created.saturating_add(RESEND_S) - now;
            if wait > 0 {
                return Err(ApiError::rate_limited(wait.unsigned_abs()));
            }
        }
        let token = AccountToken::issue(&account.id, TokenPurpose::StepUpCode, None, now);
        let code = new_code();
        let stored = StoredCode {
            code_hash: digest(&state, &token.id, &code),
            token,
        };
        let write = records::insert_token_as(scope, &stored.token, &stored.code_hash, &stored)?;
        commit(&state, vec![write], ApiError::concurrent_change).await?;
        state.accounts_mailer().send_later(Outgoing {
            to: account.email.clone(),
            locale: locale
                .as_deref()
                .and_then(Locale::parse)
                .unwrap_or(account.locale),
            kind: MessageKind::StepUpCode,
            link: Some(code),
            account_ref: account.id.clone(),
        });
        Ok(super::super::render::step_up_code(
            stored.token.expires_at,
            scope.livemode,
        ))
    };
    answer(result.await)
}

/// Records the failed attempt (`reason`), then refuses it with `err`.
async fn refuse(
    state: &AppState,
    holder: &Holder,
    reason: &'static str,
    err: ApiError,
) -> ApiResult<Value> {
    let write = failure_write(
        state,
        &holder.signed_in,
        &holder.origin,
        Outcome::Failure,
        reason,
    )?;
    commit(state, vec![write], ApiError::concurrent_change).await?;
    Err(err)
}

/// `POST /v1/accounts/step_up/email_code/confirm`: the emailed `code`
/// steps the holder's session up for payments from the balance.
pub async fn confirm_code(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        let read = |p: &mut crate::wire::Params| p.required_string("code", FIELD_CHARS_MAX);
        let (holder, code) = session::holder(&state, &caller, &headers, &mut request, read).await?;
        let (scope, origin) = (holder.scope(), &holder.origin);
        signin::throttle_ip(&state, scope, origin, CredentialAction::StepUp, None).await?;
        let code = code.trim();
        if code.len() != CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(code_invalid());
        }
        let account = &holder.signed_in.account.id;
        let newest =
            records::newest_token::<StoredCode>(&state, scope, account, TokenPurpose::StepUpCode)
                .await?;
        let Some((doc, stored)) = newest else {
            return refuse(&state, &holder, "code_unknown", code_invalid()).await;
        };
        let now = state.now();
        let spent = match stored.token.spent(TokenPurpose::StepUpCode, now) {
            Ok(spent) => spent,
            Err(refusal) => {
                return refuse(&state, &holder, "code_spent", code_refused(refusal)).await
            }
        };
        if digest(&state, &stored.token.id, code) != stored.code_hash {
            return wrong_code(&state, &holder, doc, stored).await;
        }
        let spent = StoredCode {
            token: spent,
            ..stored
        };
        let (mut writes, answered) = success_writes(&state, &holder.signed_in, origin, false)?;
        writes.push(records::update_token_as(
            scope,
            &doc,
            &spent.token,
            &spent.code_hash,
            &spent,
        )?);
        // Possession of the mailbox, a second factor beside the sign-in's:
        // the holder proved themself on the session's device.
        writes.extend(super::super::devices::known_write(&holder.signed_in)?);
        // Spent by a concurrent request meanwhile: used.
        commit(&state, writes, || code_refused(TokenRefusal::Used)).await?;
        Ok(answered)
    };
    answer(result.await)
}

/// One more wrong try on `stored`, which dies at [`ATTEMPTS_MAX`].
async fn wrong_code(
    state: &AppState,
    holder: &Holder,
    doc: portcullis_store::Doc,
    mut stored: StoredCode,
) -> ApiResult<Value> {
    stored.token.attempts = stored.token.attempts.saturating_add(1);
    let dead = stored.token.attempts >= ATTEMPTS_MAX;
    if dead {
        stored.token.used_at = Some(state.now());
    }
    let signed_in = &holder.signed_in;
    let writes = vec![
        records::update_token_as(
            &signed_in.scope,
            &doc,
            &stored.token,
            &stored.code_hash,
            &stored,
        )?,
        failure_write(
            state,
            signed_in,
            &holder.origin,
            Outcome::Failure,
            "code_incorrect",
        )?,
    ];
    commit(state, writes, || code_refused(TokenRefusal::Used)).await?;
    Err(if dead {
        code_refused(TokenRefusal::Used)
    } else {
        code_invalid()
    })
}
