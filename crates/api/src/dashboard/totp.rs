//! The optional second factor: RFC 6238 time-based one-time codes (the
//! `totp-rs` crate; SHA-1, 6 digits, 30-second steps, one step of skew —
//! what authenticator apps use). A user turns it on at
//! `/dashboard/security` by scanning the secret (a QR code of its
//! `otpauth://` URI) and typing a code from it; the secret is then stored
//! sealed by the vault under the user's id, and sign-in asks for a code.
//! A code is taken once (RFC 6238 §5.2): the user remembers the time step
//! of the last code accepted, and a code of that step or an earlier one is
//! refused, even inside its window.

use super::audit::{self, Entry};
use super::layout::{error_page, guard_form, locale, Layout};
use super::pages::{field, start};
use super::session::SignedIn;
use super::users::{self, Permission};
use crate::error::{ApiError, ApiResult};
use crate::sealed_secrets;
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_store::WriteSet;
use totp_rs::{Algorithm, Secret, TOTP};

const DIGITS: usize = 6;
const STEP_S: u64 = 30;
/// Codes of the step before and after are accepted too (clock drift).
const SKEW_STEPS: i64 = 1;
/// 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;

/// A new secret, base32 (what authenticator apps take).
pub fn new_secret() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    match Secret::Raw(bytes.to_vec()).to_encoded() {
        Secret::Encoded(text) => text,
        Secret::Raw(_) => String::new(),
    }
}

/// The secret's generator; it checks one step exactly (the window is
/// walked by [`accepted_step`]).
fn totp(secret_b32: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_owned()).to_bytes().ok()?;
    TOTP::new(Algorithm::SHA1, DIGITS, 0, STEP_S, bytes).ok()
}

/// The time step `code` belongs to — now's or one either side — if it is
/// later than `last_step`, the step of the last code accepted.
pub fn accepted_step(
    secret_b32: &str,
    code: &str,
    now: i64,
    last_step: Option<i64>,
) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret_b32)?;
    let step_s = i64::try_from(STEP_S).ok()?;
    let current = now.div_euclid(step_s);
    (current - SKEW_STEPS..=current + SKEW_STEPS)
        .filter(|step| last_step.is_none_or(|last| *step > last))
        .find(|step| {
            step.checked_mul(step_s)
                .and_then(|at| u64::try_from(at).ok())
                .is_some_and(|at| totp.check(code, at))
        })
}

/// Whether `code` is the secret's code at `now` (± one step).
#[cfg(test)]
fn check(secret_b32: &str, code: &str, now: i64) -> bool {
    accepted_step(secret_b32, code, now, None).is_some()
}

/// The `otpauth://` URI apps scan (Google Authenticator's key URI format).
pub fn uri(email: &str, secret_b32: &str) -> String {
    let label: String =
        form_urlencoded::byte_serialize(format!("Portcullis:{email}").as_bytes()).collect();
    format!("otpauth://totp/{label}?secret={secret_b32}&issuer=Portcullis&algorithm=SHA1&digits={DIGITS}&period={STEP_S}")
}

/// The user's secret, opened by the vault, if the second factor is on.
pub fn secret_of(state: &AppState, user: &users::DashboardUser) -> ApiResult<Option<String>> {
    match &user.totp {
        None => Ok(None),
        Some(member) => {
            let sealed = sealed_secrets::from_member(member)?;
            Ok(Some(sealed_secrets::open::<String>(
                &state.vault,
                &user.id,
                &sealed,
            )?))
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/security.html")]
struct SecurityPage {
    l: Layout,
    enabled: bool,
    secret: String,
    qr: String,
    error: bool,
}

fn security_page(
    signed: &SignedIn,
    loc: crate::hosted::Locale,
    error: bool,
) -> ApiResult<SecurityPage> {
    let t = super::texts::of(loc);
    let secret = new_secret();
    let qr = crate::qr_images::png_data_url(&uri(&signed.user.email, &secret))
        .map_err(|e| ApiError::internal(&e))?;
    Ok(SecurityPage {
        l: Layout::signed(signed, loc, t.security, "/dashboard/security"),
        enabled: signed.user.totp.is_some(),
        secret,
        qr,
        error,
    })
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let s = match start(&state, &headers, &mut request, Permission::ViewPayments).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if let Err(err) = std::mem::take(&mut request.params).finish() {
        return error_page(&state, s.loc, &err);
    }
    match security_page(&s.signed, s.loc, false) {
        Ok(page) => super::layout::page(&state, &page, s.lang_named.then_some(s.loc)),
        Err(err) => error_page(&state, s.loc, &err),
    }
}

/// Turns the second factor on once a code from the shown secret checks.
pub async fn enable(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let loc = locale(None, &headers);
    let signed = match guard_form(&state, &headers, loc).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let result = async {
        let csrf = field(&mut request, "csrf_token", 128)?;
        signed.check_csrf(csrf.as_deref())?;
        let secret = field(&mut request, "secret", 64)?.unwrap_or_default();
        let code = field(&mut request, "code", 12)?.unwrap_or_default();
        std::mem::take(&mut request.params).finish()?;
        let Some(step) = accepted_step(&secret, &code, state.now(), None) else {
            return Ok(false);
        };
        let (doc, mut user) =
            users::load(&state.store, &signed.user.merchant, &signed.user.id).await?;
        user.totp_last_step = Some(step);
        let sealed = sealed_secrets::seal(&state.vault, &user.id, &secret)?;
        user.totp = Some(sealed_secrets::to_member(&sealed)?);
        let entry = Entry {
            user: Some(&user.id),
            email: Some(&user.email),
            action: "totp_enable",
            object: None,
            result: None,
            ip: request.client_ip.map(|ip| ip.to_string()),
        };
        let ops = vec![
            users::update(&doc, &user)?,
            audit::record(&signed.home_scope(), entry, state.now())?,
        ];
        state.store.commit(WriteSet { ops }).await?;
        Ok::<_, ApiError>(true)
    };
    match result.await {
        Ok(true) => super::layout::see_other("/dashboard/security"),
        Ok(false) => match security_page(&signed, loc, true) {
            Ok(page) => {
                let mut response = super::layout::page(&state, &page, None);
                *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
                response
            }
            Err(err) => error_page(&state, loc, &err),
        },
        Err(err) => error_page(&state, loc, &err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret ("12345678901234567890"); its
    /// 8-digit codes end in these 6 digits.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn codes_are_rfc_6238s() {
        assert!(check(RFC_SECRET, "287082", 59));
        assert!(check(RFC_SECRET, "081804", 1_111_111_109));
        assert!(check(RFC_SECRET, "005924", 1_234_567_890));
        assert!(!check(RFC_SECRET, "005925", 1_234_567_890));
        assert!(
            !check(RFC_SECRET, "005924", 1_234_567_890 + 120),
            "two steps late"
        );
        assert!(!check(RFC_SECRET, "", 59) && !check(RFC_SECRET, "28708a", 59));
    }

    #[test]
    fn a_code_is_taken_once_even_inside_its_window() {
        // 1_234_567_890 is in step 41_152_263; "005924" is that step's code.
        let now = 1_234_567_890;
        let step = accepted_step(RFC_SECRET, "005924", now, None);
        assert_eq!(step, Some(41_152_263));
        assert_eq!(
            accepted_step(RFC_SECRET, "005924", now, step),
            None,
            "the same code again"
        );
        assert_eq!(
            accepted_step(RFC_SECRET, "005924", now + 29, step),
            None,
            "still in its window"
        );
        assert_eq!(
            accepted_step(RFC_SECRET, "005924", now, Some(41_152_264)),
            None,
            "a code older than the last one taken"
        );
        assert_eq!(
            accepted_step(RFC_SECRET, "005924", now, Some(41_152_262)),
            step
        );
    }

    #[test]
    fn secrets_are_160_bits_of_base32() {
        let secret = new_secret();
        assert_eq!(secret.len(), 32);
        assert_ne!(secret, new_secret());
        assert!(uri("a+b@example.com", &secret)
            .starts_with("otpauth://totp/Portcullis%3Aa%2Bb%40example.com?secret="));
    }
}
