//! Customer accounts (issue 15): a merchant's end users sign up, activate
//! by an emailed link, sign in and manage their credentials.
//!
//! The JSON API under `/v1/accounts/…` is called by the merchant's apps
//! with the publishable key; calls on behalf of a signed-in user add the
//! session's bearer token in the `Account-Session` header ([`session`]).
//! The merchant invites its customers with the secret key
//! (`POST /v1/customers/{id}/account_invitations`).
//!
//! Every credential event is recorded, success or failure, in the
//! append-only `account_events` ([`audit`]). Secrets (passwords, session
//! tokens, emailed tokens) are never stored: passwords as Argon2id hashes
//! ([`passwords`]), tokens as keyed digests ([`tokens`]). Answers that
//! could tell whether an email address has an account (register, sign-in
//! failures, password reset) are the same either way and take the same
//! work (one Argon2id, one commit); emails go out after the commit, off
//! the request ([`mail`]).

mod audit;
mod credentials;
pub(crate) mod devices;
mod errors;
pub mod mail;
mod pages;
mod passkeys;
pub use passkeys::sweeper as passkey_challenge_sweeper;
pub(crate) mod passwords;
mod records;
mod registration;
mod render;
mod session;
mod signin;
pub mod step_up;
mod tokens;
mod wallet;

use crate::routes::params::{self as p, Param};
use crate::routes::{doc, Routes};
use portcullis_domain::accounts::{Lockout, StepUp, PASSWORD_CHARS_MAX};
use tokens::TOKEN_CHARS_MAX;

/// The accounts' tunables; every bound named with its unit.
#[derive(Clone, Debug)]
pub struct AccountSettings {
    /// `smtp://host:port` (plain, a local relay), `smtp://…?tls=required`
    /// (STARTTLS) or `smtps://host:port`; `None`: emails are not sent.
    pub smtp_url: Option<String>,
    /// The `From` of account emails.
    pub smtp_from: String,
    pub smtp_timeout_ms: u64,
    /// Failed sign-ins that lock an account, and for how long.
    pub lockout: Lockout,
    /// Failed sign-ins from one IP address in an hour (per merchant) past
    /// which sign-ins from it answer 429. At most 100 (one page).
    pub ip_failures_per_hour_max: u32,
    /// How long a session lasts from sign-in.
    pub session_ttl_s: i64,
    /// Most live sessions one account keeps; the oldest ends past it.
    pub sessions_per_account_max: usize,
    /// How long a passkey step-up counts for sensitive actions.
    pub step_up: StepUp,
    /// Payments from the customer balance above this many minor units (any
    /// currency) wait for the holder's step-up; `None`: never.
    pub balance_step_up_above: Option<i64>,
    /// How long a payment from the balance waits for its holder's step-up
    /// before the expiry worker fails it.
    pub balance_step_up_expires_s: i64,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            smtp_from: "Portcullis <no-reply@localhost>".to_owned(),
            smtp_timeout_ms: 10_000,
            lockout: Lockout::default(),
            ip_failures_per_hour_max: 50,
            session_ttl_s: 7 * 24 * 3600,
            sessions_per_account_max: 20,
            step_up: StepUp::default(),
            balance_step_up_above: None,
            balance_step_up_expires_s: 900,
        }
    }
}

/// The most failures per IP and hour the setting may name (one page read).
pub const IP_FAILURES_PER_HOUR_MAX_LIMIT: u32 = 100;

impl AccountSettings {
    /// Refuses settings that cannot work, at start-up.
    pub fn check(&self) -> Result<(), String> {
        if let Some(url) = &self.smtp_url {
            mail::check_url(url).map_err(|err| format!("smtp_url {url:?}: {err}"))?;
        }
        self.smtp_from
            .parse::<lettre::message::Mailbox>()
            .map_err(|err| format!("smtp_from {:?}: {err}", self.smtp_from))?;
        if self.balance_step_up_above.is_some_and(|above| above < 0) {
            return Err("accounts_balance_step_up_above must be 0 or more minor units".into());
        }
        if !(1..=86_400).contains(&self.balance_step_up_expires_s) {
            return Err("accounts_balance_step_up_expires_s must be 1 to 86400 seconds".into());
        }
        if self.lockout.failures_max == 0 || self.lockout.failures_max > 10 {
            return Err("accounts_lockout_failures_max must be 1 to 10 (PCI DSS 8.3.4)".into());
        }
        if self.lockout.duration_s < 30 * 60 {
            return Err("accounts_lockout_s must be at least 1800 (PCI DSS 8.3.4)".into());
        }
        if self.ip_failures_per_hour_max == 0
            || self.ip_failures_per_hour_max > IP_FAILURES_PER_HOUR_MAX_LIMIT
        {
            return Err(format!(
                "accounts_ip_failures_per_hour_max must be 1 to {IP_FAILURES_PER_HOUR_MAX_LIMIT}"
            ));
        }
        if self.sessions_per_account_max == 0
            || self.sessions_per_account_max > records::SESSIONS_PAGE_MAX
        {
            return Err(format!(
                "accounts_sessions_per_account_max must be 1 to {} (one page of sessions)",
                records::SESSIONS_PAGE_MAX
            ));
        }
        if self.session_ttl_s <= 0 {
            return Err("accounts_session_ttl_s must be positive".into());
        }
        if !(30..=3600).contains(&self.step_up.grant_s) {
            return Err("accounts_step_up_s must be 30 to 3600 seconds".into());
        }
        Ok(())
    }
}

/// Longest email address read (`registration::EMAIL_CHARS_MAX`).
const EMAIL_CHARS_MAX: usize = 512;
/// Longest `locale` read (`en` or `zh-CN`).
const LOCALE_CHARS_MAX: usize = 16;

const REGISTER: &[Param] = &[
    p::string("email", EMAIL_CHARS_MAX).required(),
    p::string("password", PASSWORD_CHARS_MAX).required(),
    p::string("locale", LOCALE_CHARS_MAX),
    p::string("name", 256),
];
/// Activation and email change confirmation: the emailed token.
const TOKEN: &[Param] = &[p::string("token", TOKEN_CHARS_MAX).required()];
const INVITE: &[Param] = &[
    p::string("email", EMAIL_CHARS_MAX),
    p::string("locale", LOCALE_CHARS_MAX),
];
const ACCEPT_INVITATION: &[Param] = &[
    p::string("token", TOKEN_CHARS_MAX).required(),
    p::string("password", PASSWORD_CHARS_MAX).required(),
];
const LOGIN: &[Param] = &[
    p::string("email", EMAIL_CHARS_MAX).required(),
    p::string("password", PASSWORD_CHARS_MAX).required(),
    p::string(devices::PARAM, devices::DEVICE_ID_CHARS_MAX),
];
const CHANGE_PASSWORD: &[Param] = &[
    p::string("current_password", PASSWORD_CHARS_MAX).required(),
    p::string("new_password", PASSWORD_CHARS_MAX).required(),
];
const REQUEST_RESET: &[Param] = &[p::string("email", EMAIL_CHARS_MAX).required()];
const CONFIRM_RESET: &[Param] = &[
    p::string("token", TOKEN_CHARS_MAX).required(),
    p::string("new_password", PASSWORD_CHARS_MAX).required(),
];
const REQUEST_EMAIL_CHANGE: &[Param] = &[
    p::string("new_email", EMAIL_CHARS_MAX).required(),
    p::string("current_password", PASSWORD_CHARS_MAX).required(),
];
const DEACTIVATE: &[Param] = &[p::string("current_password", PASSWORD_CHARS_MAX).required()];
/// A step-up: the account password, or a passkey ceremony's fields.
const STEP_UP: &[Param] = &[
    p::string("password", PASSWORD_CHARS_MAX),
    p::string("challenge", passkeys::CHALLENGE_CHARS_MAX),
    p::string("credential", passkeys::CREDENTIAL_CHARS_MAX),
];
const STEP_UP_CODE_SEND: &[Param] = &[p::string("locale", LOCALE_CHARS_MAX)];
const STEP_UP_CODE_CONFIRM: &[Param] = &[p::string("code", 16).required()];
/// A passkey sign-in may name the device, as a password sign-in does.
const PASSKEY_LOGIN: &[Param] = &[
    p::string("challenge", passkeys::CHALLENGE_CHARS_MAX).required(),
    p::string("credential", passkeys::CREDENTIAL_CHARS_MAX).required(),
    p::string(devices::PARAM, devices::DEVICE_ID_CHARS_MAX),
];
const PASSKEY_REGISTER: &[Param] = &[
    p::string("challenge", passkeys::CHALLENGE_CHARS_MAX).required(),
    p::string("credential", passkeys::CREDENTIAL_CHARS_MAX).required(),
    p::string("name", passkeys::NAME_CHARS_MAX),
];
/// A withdrawal of the signed-in holder's stored value as a payout.
const BALANCE_PAYOUT: &[Param] = &[
    p::integer("amount").required(),
    p::string("currency", 3).required(),
    p::string("description", crate::ledger::payouts::DESCRIPTION_CHARS_MAX),
];
/// A customer's events: a plain page (`customers::list_children`).
const EVENTS: &[Param] = p::list_params![];

pub fn routes() -> Routes {
    Routes::new()
        .post(
            doc("/v1/accounts/register", "Register a customer account (publishable key); the same answer whether or not the email has an account", "account_registration").params(REGISTER),
            registration::register,
        )
        .post(
            doc("/v1/accounts/activate", "Activate an account with the emailed token", "customer_account").params(TOKEN),
            registration::activate,
        )
        .post(
            doc("/v1/customers/{id}/account_invitations", "Invite a customer to create an account (secret key)", "account_invitation").params(INVITE),
            registration::invite,
        )
        .post(
            doc("/v1/accounts/invitations/accept", "Accept an invitation: choose a password, the account is active", "customer_account").params(ACCEPT_INVITATION),
            registration::accept_invitation,
        )
        .post(
            doc("/v1/accounts/login", "Sign in with email and password; answers a session and its bearer token", "account_session").params(LOGIN),
            signin::login,
        )
        .post(
            doc("/v1/accounts/logout", "End the current session (Account-Session header)", "account_session").params(p::NONE),
            signin::logout,
        )
        .get(
            doc("/v1/accounts/me", "The signed-in account", "customer_account").params(p::NONE),
            signin::me,
        )
        .get(
            doc("/v1/accounts/sessions", "The signed-in account's live sessions", "list").params(p::NONE),
            signin::list_sessions,
        )
        .post(
            doc("/v1/accounts/sessions/{id}/revoke", "End one of the account's sessions", "account_session").params(p::NONE),
            signin::revoke_session,
        )
        .post(
            doc("/v1/accounts/password", "Change the password (current password required; other sessions end)", "customer_account").params(CHANGE_PASSWORD),
            credentials::change_password,
        )
        .post(
            doc("/v1/accounts/password_reset", "Email a password reset link; the same answer for any address", "account_password_reset").params(REQUEST_RESET),
            credentials::request_reset,
        )
        .post(
            doc("/v1/accounts/password_reset/confirm", "Set a new password with the emailed token; every session ends", "customer_account").params(CONFIRM_RESET),
            credentials::confirm_reset,
        )
        .post(
            doc("/v1/accounts/email", "Ask to change the email address: a link goes to the new one", "account_email_change").params(REQUEST_EMAIL_CHANGE),
            credentials::request_email_change,
        )
        .post(
            doc("/v1/accounts/email/confirm", "Confirm the new email address with the emailed token", "customer_account").params(TOKEN),
            credentials::confirm_email_change,
        )
        .post(
            doc("/v1/accounts/deactivate", "Close the account (current password required); every session ends", "customer_account").params(DEACTIVATE),
            credentials::deactivate,
        )
        .post(
            doc("/v1/accounts/passkeys/challenge", "Start registering a passkey on the signed-in account (a second one needs a fresh step-up)", "passkey_challenge").params(p::NONE),
            passkeys::start_registration,
        )
        .post(
            doc("/v1/accounts/passkeys", "Finish registering a passkey with the authenticator's credential", "account_passkey").params(PASSKEY_REGISTER),
            passkeys::finish_registration,
        )
        .get(
            doc("/v1/accounts/passkeys", "The signed-in account's passkeys", "list").params(p::NONE),
            passkeys::list,
        )
        .delete(
            doc("/v1/accounts/passkeys/{id}", "Delete a passkey (needs a fresh step-up)", "account_passkey").params(p::NONE),
            passkeys::delete,
        )
        .post(
            doc("/v1/accounts/passkeys/login/challenge", "Start signing in with a passkey (publishable key)", "passkey_challenge").params(p::NONE),
            passkeys::start_login,
        )
        .post(
            doc("/v1/accounts/passkeys/login", "Sign in with a passkey; answers a session and its bearer token", "account_session").params(PASSKEY_LOGIN),
            passkeys::finish_login,
        )
        .post(
            doc("/v1/accounts/step_up/challenge", "Start a passkey step-up of the signed-in session", "passkey_challenge").params(p::NONE),
            step_up::start,
        )
        .post(
            doc("/v1/accounts/step_up", "Confirm the holder with a passkey (sensitive actions and payments from the balance pass for accounts_step_up_s) or with the account password (payments from the balance only)", "account_session").params(STEP_UP),
            step_up::confirm,
        )
        .post(
            doc("/v1/accounts/step_up/email_code", "Email the holder a six-digit step-up code (valid 10 minutes, one a minute at most)", "account_step_up_code").params(STEP_UP_CODE_SEND),
            step_up::send_code,
        )
        .post(
            doc("/v1/accounts/step_up/email_code/confirm", "Confirm the holder with the emailed code: payments from the balance pass for accounts_step_up_s", "account_session").params(STEP_UP_CODE_CONFIRM),
            step_up::confirm_code,
        )
        .post(
            doc("/v1/accounts/balance/payouts", "Withdraw the signed-in holder's stored value as a payout (a fresh step-up when the account has a passkey)", "payout").params(BALANCE_PAYOUT),
            wallet::create_payout,
        )
        .post(
            doc("/v1/accounts/payment_intents/{id}/authorize", "Complete the holder's payment from their balance that waits for step-up: paid with a fresh step-up, else failed (payment_intent_authentication_failure)", "payment_intent").params(p::NONE),
            wallet::authorize,
        )
        .post(
            doc("/v1/accounts/payment_intents/{id}/decline", "Refuse the holder's payment from their balance that waits for step-up: it fails (payment_intent_authentication_failure), the balance unchanged", "payment_intent").params(p::NONE),
            wallet::decline,
        )
        .get(
            doc("/v1/customers/{id}/account_events", "A customer's credential events, newest first (secret key)", "list").params(EVENTS),
            audit::list,
        )
        .merge(pages::routes())
}

/// A JSON answer, or the error's.
fn answer(result: crate::error::ApiResult<serde_json::Value>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match result {
        Ok(body) => crate::idempotency::json_response(axum::http::StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}

/// A link to a hosted account page, carrying an emailed token.
fn link(state: &crate::state::AppState, page: &str, token: &str) -> String {
    format!("{}/account/{page}?token={token}", state.base_url())
}

/// A link to a hosted account page that starts a flow, naming the
/// merchant and mode it serves (`?merchant=acct_…&mode=test|live`).
fn realm_link(
    state: &crate::state::AppState,
    scope: &portcullis_store::Scope,
    page: &str,
) -> String {
    let mode = if scope.livemode { "live" } else { "test" };
    format!(
        "{}/account/{page}?merchant={}&mode={mode}",
        state.base_url(),
        scope.merchant_id.as_str()
    )
}

/// Commits `writes`; a version conflict (another request spent the same
/// token or changed the same account first) answers `on_conflict`.
async fn commit(
    state: &crate::state::AppState,
    writes: Vec<portcullis_store::WriteOp>,
    on_conflict: impl FnOnce() -> crate::error::ApiError,
) -> crate::error::ApiResult<()> {
    match state
        .store
        .commit(portcullis_store::WriteSet { ops: writes })
        .await
    {
        Ok(()) => Ok(()),
        Err(portcullis_store::StoreError::Conflict) => Err(on_conflict()),
        Err(err) => Err(err.into()),
    }
}

/// The accounts' objects, for the OpenAPI document.
pub fn render_samples() -> Vec<(&'static str, serde_json::Value)> {
    render::samples()
}
