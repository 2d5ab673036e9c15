//! Customer accounts: the credentials a merchant's end user signs in with.
//!
//! An account belongs to one customer (`cus_…`) and moves through the
//! statuses of [`AccountStatus`], asked through [`AccountStatus::after`].
//! Passwords are checked by [`Password::parse`] (length, the bundled list
//! of common passwords); their hashes are made elsewhere (the API crate,
//! Argon2id). Lockout is a pure function of the failures recorded on the
//! account and the clock ([`Lockout`]). Tokens sent by email have a
//! [`TokenPurpose`] and a lifetime. Nothing here does I/O.

mod common;
mod step_up;

/// The account's language, the one type every page and email speaks.
pub use crate::locale::Locale;
pub use common::is_common_password;
pub use step_up::{StepUp, StepUpDecision};

use crate::customers::Email;
use crate::ids::{new_id, CustomerId};
use crate::UnixSeconds;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Fewest characters a password may have (NIST SP 800-63B allows 8; the
/// issue asks for 12).
pub const PASSWORD_CHARS_MIN: usize = 12;
/// Most characters a password may have: bounds the hashing work a request
/// can ask for.
pub const PASSWORD_CHARS_MAX: usize = 256;

/// Why a password, email or token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("The password must have at least {PASSWORD_CHARS_MIN} characters.")]
    PasswordTooShort,
    #[error("The password may have at most {PASSWORD_CHARS_MAX} characters.")]
    PasswordTooLong,
    #[error("This password is among the most commonly used passwords; choose another.")]
    PasswordCommon,
    #[error("The password may not be the account's email address.")]
    PasswordIsEmail,
    #[error("The account cannot go from {from} to {to}.")]
    IllegalTransition {
        from: &'static str,
        to: &'static str,
    },
}

/// A password as typed, never logged, zeroed when dropped.
pub struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Password {
    /// A new password, as the policy wants it: 12 to 256 characters, not a
    /// common password, not the email address.
    pub fn parse_new(text: &str, email: &Email) -> Result<Self, AccountError> {
        let password = Self::parse_presented(text)?;
        let chars = text.chars().count();
        if chars < PASSWORD_CHARS_MIN {
            return Err(AccountError::PasswordTooShort);
        }
        if is_common_password(text) {
            return Err(AccountError::PasswordCommon);
        }
        if text.trim().eq_ignore_ascii_case(email.as_str()) {
            return Err(AccountError::PasswordIsEmail);
        }
        Ok(password)
    }

    /// A password presented to sign in: only bounded, never judged (a
    /// policy change must not lock out older passwords).
    pub fn parse_presented(text: &str) -> Result<Self, AccountError> {
        if text.chars().count() > PASSWORD_CHARS_MAX {
            return Err(AccountError::PasswordTooLong);
        }
        Ok(Self(Zeroizing::new(text.to_owned())))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The lowercase form of an email address that makes it unique per merchant.
pub fn email_key(email: &Email) -> String {
    email.as_str().to_lowercase()
}

/// Where an account is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Invited by the merchant; no password yet.
    Invited,
    /// Registered; the emailed activation link was not followed yet.
    PendingActivation,
    Active,
    /// Closed by its holder; final.
    Deactivated,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Invited => "invited",
            AccountStatus::PendingActivation => "pending_activation",
            AccountStatus::Active => "active",
            AccountStatus::Deactivated => "deactivated",
        }
    }

    /// The one table of legal moves.
    pub fn after(self, next: AccountStatus) -> Result<AccountStatus, AccountError> {
        use AccountStatus::*;
        let legal = matches!(
            (self, next),
            (Invited, Active)
                | (PendingActivation, Active)
                | (Invited | PendingActivation | Active, Deactivated)
        );
        if legal {
            Ok(next)
        } else {
            Err(AccountError::IllegalTransition {
                from: self.as_str(),
                to: next.as_str(),
            })
        }
    }
}

/// Lockout after repeated failed sign-ins (PCI DSS 8.3.4: at most 10
/// failures, at least 30 minutes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lockout {
    pub failures_max: u32,
    pub duration_s: i64,
}

impl Default for Lockout {
    fn default() -> Self {
        Self {
            failures_max: 10,
            duration_s: 30 * 60,
        }
    }
}

/// A customer's account. Fields are private where a bad value could exist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAccount {
    pub id: String,
    pub customer: CustomerId,
    pub email: Email,
    status: AccountStatus,
    /// The Argon2id hash in PHC form; `None` while only invited.
    password_hash: Option<String>,
    /// Failed sign-ins since the last success or unlock.
    failed_logins: u32,
    locked_until: Option<UnixSeconds>,
    pub locale: Locale,
    pub created: UnixSeconds,
    pub livemode: bool,
    pub activated_at: Option<UnixSeconds>,
    /// Digests of the devices the holder has stepped up (or signed in
    /// with a passkey) on, newest last, at most [`KNOWN_DEVICES_MAX`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    known_devices: Vec<String>,
}

/// Most devices an account remembers; the oldest is forgotten first.
pub const KNOWN_DEVICES_MAX: usize = 20;

impl CustomerAccount {
    pub const PREFIX: &'static str = "cacct";

    pub fn registered(
        customer: CustomerId,
        email: Email,
        password_hash: String,
        locale: Locale,
        now: UnixSeconds,
        livemode: bool,
    ) -> Self {
        Self {
            id: new_id(Self::PREFIX),
            customer,
            email,
            status: AccountStatus::PendingActivation,
            password_hash: Some(password_hash),
            failed_logins: 0,
            locked_until: None,
            locale,
            created: now,
            livemode,
            activated_at: None,
            known_devices: Vec::new(),
        }
    }

    /// Whether the holder has stepped up on the device of `device_hash`.
    pub fn knows_device(&self, device_hash: &str) -> bool {
        self.known_devices.iter().any(|known| known == device_hash)
    }

    /// The account knowing `device_hash` as its newest device, or `None`
    /// when it knew it already.
    pub fn with_known_device(&self, device_hash: &str) -> Option<Self> {
        if self.knows_device(device_hash) {
            return None;
        }
        let mut next = self.clone();
        next.known_devices.push(device_hash.to_owned());
        let extra = next.known_devices.len().saturating_sub(KNOWN_DEVICES_MAX);
        next.known_devices.drain(..extra);
        Some(next)
    }

    pub fn invited(
        customer: CustomerId,
        email: Email,
        locale: Locale,
        now: UnixSeconds,
        livemode: bool,
    ) -> Self {
        Self {
            status: AccountStatus::Invited,
            password_hash: None,
            ..Self::registered(customer, email, String::new(), locale, now, livemode)
        }
    }

    pub fn status(&self) -> AccountStatus {
        self.status
    }

    pub fn password_hash(&self) -> Option<&str> {
        self.password_hash.as_deref()
    }

    pub fn failed_logins(&self) -> u32 {
        self.failed_logins
    }

    /// Until when sign-ins are refused, if they are at `now`.
    pub fn locked_until(&self, now: UnixSeconds) -> Option<UnixSeconds> {
        self.locked_until.filter(|until| *until > now)
    }

    /// After a failed sign-in: one more failure, and locked once they
    /// reach the policy's maximum.
    pub fn failed_login(&self, policy: Lockout, now: UnixSeconds) -> Self {
        let mut next = self.clone();
        if self.locked_until.is_some_and(|until| until <= now) {
            next.failed_logins = 0;
            next.locked_until = None;
        }
        next.failed_logins = next.failed_logins.saturating_add(1);
        if next.failed_logins >= policy.failures_max {
            next.locked_until = Some(now + policy.duration_s);
        }
        next
    }

    /// After a successful sign-in: the failures are forgotten.
    pub fn signed_in(&self) -> Self {
        Self {
            failed_logins: 0,
            locked_until: None,
            ..self.clone()
        }
    }

    /// Activated through the emailed link (or an accepted invitation, with
    /// its first password).
    pub fn activated(
        &self,
        password_hash: Option<String>,
        now: UnixSeconds,
    ) -> Result<Self, AccountError> {
        let status = self.status.after(AccountStatus::Active)?;
        Ok(Self {
            status,
            password_hash: password_hash.or_else(|| self.password_hash.clone()),
            activated_at: Some(now),
            ..self.clone()
        })
    }

    /// A new password; a reset by email also lifts a lockout.
    pub fn with_password(&self, password_hash: String) -> Self {
        Self {
            password_hash: Some(password_hash),
            failed_logins: 0,
            locked_until: None,
            ..self.clone()
        }
    }

    pub fn with_email(&self, email: Email) -> Self {
        Self {
            email,
            ..self.clone()
        }
    }

    pub fn deactivated(&self) -> Result<Self, AccountError> {
        Ok(Self {
            status: self.status.after(AccountStatus::Deactivated)?,
            ..self.clone()
        })
    }
}

/// What an emailed single-use token lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    Activation,
    Invitation,
    PasswordReset,
    EmailChange,
    /// A six-digit code by email that steps the holder up before a
    /// payment (never a link).
    StepUpCode,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Activation => "activation",
            TokenPurpose::Invitation => "invitation",
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::EmailChange => "email_change",
            TokenPurpose::StepUpCode => "step_up_code",
        }
    }

    /// How long a token lives: a day for activation and invitations (the
    /// issue's 24 h), an hour for a password reset or an email change,
    /// ten minutes for a step-up code.
    pub fn lifetime_s(self) -> i64 {
        match self {
            TokenPurpose::Activation | TokenPurpose::Invitation => 24 * 3600,
            TokenPurpose::PasswordReset | TokenPurpose::EmailChange => 3600,
            TokenPurpose::StepUpCode => 600,
        }
    }
}

/// Why a presented token does not work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    Unknown,
    Used,
    Expired,
    WrongPurpose,
}

/// A token record: the token itself exists only in the email; this keeps
/// its keyed digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountToken {
    pub id: String,
    pub account: String,
    pub purpose: TokenPurpose,
    pub expires_at: UnixSeconds,
    pub used_at: Option<UnixSeconds>,
    /// For an email change: the address being verified.
    pub new_email: Option<Email>,
    pub created: UnixSeconds,
    /// For a step-up code: the wrong codes tried against it so far.
    #[serde(default)]
    pub attempts: u32,
}

impl AccountToken {
    pub const PREFIX: &'static str = "catok";

    pub fn issue(
        account: &str,
        purpose: TokenPurpose,
        new_email: Option<Email>,
        now: UnixSeconds,
    ) -> Self {
        Self {
            id: new_id(Self::PREFIX),
            account: account.to_owned(),
            purpose,
            expires_at: now + purpose.lifetime_s(),
            used_at: None,
            new_email,
            created: now,
            attempts: 0,
        }
    }

    /// The token spent at `now`, if it may be: unused, unexpired, for `purpose`.
    pub fn spent(&self, purpose: TokenPurpose, now: UnixSeconds) -> Result<Self, TokenRefusal> {
        if self.purpose != purpose {
            return Err(TokenRefusal::WrongPurpose);
        }
        if self.used_at.is_some() {
            return Err(TokenRefusal::Used);
        }
        if now >= self.expires_at {
            return Err(TokenRefusal::Expired);
        }
        Ok(Self {
            used_at: Some(now),
            ..self.clone()
        })
    }
}

/// A signed-in device or app. The bearer token exists only in the answer
/// to sign-in; this keeps its keyed digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSession {
    pub id: String,
    pub account: String,
    pub customer: CustomerId,
    pub created: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub revoked_at: Option<UnixSeconds>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Until when the holder's passkey step-up on this session counts
    /// ([`StepUp`]); `None` before any.
    #[serde(default)]
    pub step_up_until: Option<UnixSeconds>,
    /// Until when a step-up for payments from the balance counts: any of
    /// the three ways (passkey, password, emailed code) grants it; only a
    /// passkey grants `step_up_until` as well.
    #[serde(default)]
    pub payment_step_up_until: Option<UnixSeconds>,
    /// The keyed digest of the device the session was opened on (the
    /// hosted pages' device cookie, or an app's `device_id`); `None` when
    /// none was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_hash: Option<String>,
}

impl AccountSession {
    pub const PREFIX: &'static str = "casess";

    pub fn is_live(&self, now: UnixSeconds) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }

    /// Whether a payment from the balance may proceed now: a step-up of
    /// any kind on this session is still fresh.
    pub fn payment_stepped_up(&self, now: UnixSeconds) -> bool {
        [self.step_up_until, self.payment_step_up_until]
            .iter()
            .any(|until| until.is_some_and(|until| now < until))
    }

    pub fn revoked(&self, now: UnixSeconds) -> Self {
        Self {
            revoked_at: Some(self.revoked_at.unwrap_or(now)),
            ..self.clone()
        }
    }
}

/// The credential events recorded (PCI DSS 10.2: who, what, when, where,
/// outcome).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialAction {
    Register,
    Invite,
    Activate,
    Login,
    Logout,
    SessionRevoke,
    PasswordChange,
    PasswordResetRequest,
    PasswordReset,
    EmailChangeRequest,
    EmailChange,
    Deactivate,
    PasskeyRegister,
    PasskeyDelete,
    PasskeyLogin,
    StepUp,
}

impl CredentialAction {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialAction::Register => "register",
            CredentialAction::Invite => "invite",
            CredentialAction::Activate => "activate",
            CredentialAction::Login => "login",
            CredentialAction::Logout => "logout",
            CredentialAction::SessionRevoke => "session_revoke",
            CredentialAction::PasswordChange => "password_change",
            CredentialAction::PasswordResetRequest => "password_reset_request",
            CredentialAction::PasswordReset => "password_reset",
            CredentialAction::EmailChangeRequest => "email_change_request",
            CredentialAction::EmailChange => "email_change",
            CredentialAction::Deactivate => "deactivate",
            CredentialAction::PasskeyRegister => "passkey_register",
            CredentialAction::PasskeyDelete => "passkey_delete",
            CredentialAction::PasskeyLogin => "passkey_login",
            CredentialAction::StepUp => "step_up",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("ana@example.com").unwrap()
    }

    #[test]
    fn new_passwords_are_long_and_uncommon() {
        assert_eq!(
            Password::parse_new("short", &email()).unwrap_err(),
            AccountError::PasswordTooShort
        );
        assert_eq!(
            Password::parse_new("qwerty123456", &email()).unwrap_err(),
            AccountError::PasswordCommon
        );
        assert_eq!(
            Password::parse_new("Ana@Example.com", &email()).unwrap_err(),
            AccountError::PasswordIsEmail
        );
        assert!(Password::parse_new("correct horse battery", &email()).is_ok());
        let long = "x".repeat(PASSWORD_CHARS_MAX + 1);
        assert_eq!(
            Password::parse_presented(&long).unwrap_err(),
            AccountError::PasswordTooLong
        );
    }

    #[test]
    fn ten_failures_lock_for_thirty_minutes_and_then_count_afresh() {
        let policy = Lockout::default();
        let mut account = CustomerAccount::registered(
            CustomerId::generate(),
            email(),
            "h".into(),
            Locale::En,
            0,
            false,
        );
        for _ in 0..9 {
            account = account.failed_login(policy, 100);
        }
        assert_eq!(account.locked_until(100), None);
        account = account.failed_login(policy, 100);
        assert_eq!(account.locked_until(100), Some(100 + 1800));
        assert_eq!(account.locked_until(100 + 1799), Some(1900));
        assert_eq!(account.locked_until(1900), None);
        let after = account.failed_login(policy, 2000);
        assert_eq!(after.failed_logins(), 1);
        assert_eq!(after.locked_until(2000), None);
    }

    #[test]
    fn status_moves_follow_the_table() {
        use AccountStatus::*;
        assert!(PendingActivation.after(Active).is_ok());
        assert!(Active.after(PendingActivation).is_err());
        assert!(Deactivated.after(Active).is_err());
        assert!(Active.after(Deactivated).is_ok());
        assert!(Active.after(Active).is_err());
    }

    #[test]
    fn tokens_are_single_use_and_expire() {
        let token = AccountToken::issue("cacct_x", TokenPurpose::Activation, None, 0);
        let spent = token.spent(TokenPurpose::Activation, 10).unwrap();
        assert_eq!(
            spent.spent(TokenPurpose::Activation, 11).unwrap_err(),
            TokenRefusal::Used
        );
        assert_eq!(
            token
                .spent(TokenPurpose::Activation, 24 * 3600)
                .unwrap_err(),
            TokenRefusal::Expired
        );
        assert_eq!(
            token.spent(TokenPurpose::PasswordReset, 1).unwrap_err(),
            TokenRefusal::WrongPurpose
        );
    }
}
