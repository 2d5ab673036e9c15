//! The accounts' client errors, each a Stripe-format 4xx with its code.

use crate::error::{ApiError, ErrorType};
use axum::http::StatusCode;
use portcullis_domain::accounts::{AccountError, TokenRefusal};

/// Wrong email or password, an unknown email, an invited account: one answer.
pub fn credentials_invalid() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequest,
        Some("account_credentials_invalid"),
        "The email address or password is incorrect.",
    )
}

/// Too many failed sign-ins for this address: the same answer whether or
/// not it has an account.
pub fn locked() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequest,
        Some("account_locked"),
        "Too many failed sign-ins. Sign-in is locked for 30 minutes; you can reset your password by email now.",
    )
}

pub fn not_activated() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequest,
        Some("account_not_activated"),
        "This account is not activated yet: follow the link in the activation email.",
    )
}

pub fn session_required() -> ApiError {
    ApiError::unauthenticated(
        "This call needs a signed-in customer: send the session token from /v1/accounts/login in the Account-Session header.",
    )
}

pub fn current_password_wrong() -> ApiError {
    ApiError::invalid(
        "account_password_incorrect",
        "The current password is incorrect.",
        "current_password",
    )
}

/// A step-up's password is not the account's.
pub fn password_incorrect(param: &str) -> ApiError {
    ApiError::invalid(
        "account_password_incorrect",
        "The password is incorrect.",
        param,
    )
}

pub fn email_taken() -> ApiError {
    ApiError::invalid(
        "account_email_taken",
        "Another account uses this email address.",
        "email",
    )
}

pub fn token(refusal: TokenRefusal) -> ApiError {
    let (code, message) = match refusal {
        TokenRefusal::Unknown | TokenRefusal::WrongPurpose => (
            "account_token_invalid",
            "This link is not valid. Ask for a new one.",
        ),
        TokenRefusal::Used => (
            "account_token_used",
            "This link was used already. Ask for a new one if you need it.",
        ),
        TokenRefusal::Expired => (
            "account_token_expired",
            "This link has expired. Ask for a new one.",
        ),
    };
    ApiError::invalid(code, message, "token")
}

pub fn policy(err: AccountError, param: &str) -> ApiError {
    let code = match err {
        AccountError::PasswordTooShort => "password_too_short",
        AccountError::PasswordTooLong => "password_too_long",
        AccountError::PasswordCommon => "password_too_common",
        AccountError::PasswordIsEmail => "password_is_email",
        AccountError::IllegalTransition { .. } => "account_unexpected_state",
    };
    ApiError::invalid(code, err.to_string(), param)
}

/// 429 for an address that failed too many sign-ins this hour.
pub fn ip_throttled() -> ApiError {
    ApiError::rate_limited(15 * 60)
}
