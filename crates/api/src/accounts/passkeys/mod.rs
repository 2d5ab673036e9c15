//! Passkeys (WebAuthn) of customer accounts: register one on the signed-in
//! account, list and delete them, and sign in with one. Every
//! verification is webauthn-rs's; this module keeps the ceremonies' state
//! between their two calls and the credentials between ceremonies.
//!
//! The relying party is this server as `public_url` names it: its host is
//! the RP id and the URL's origin the only origin accepted. Every
//! ceremony asks for user verification (biometrics or the device PIN), so
//! a passkey is also the step-up factor ([`super::step_up`]).
//!
//! A ceremony is a challenge (`pkch_…`): started by one call, finished by
//! the next with the browser's or app's credential JSON, within
//! [`CHALLENGE_TTL_S`], once, and — for registration and step-up — by the
//! session that started it; the [`sweeper`] deletes it once expired.

mod handlers;
pub mod records;
pub mod sweeper;

pub use handlers::{
    delete, finish_login, finish_registration, list, start_login, start_registration,
};

use crate::error::{ApiError, ApiResult, ErrorType};
use crate::state::AppState;
use axum::http::StatusCode;
use portcullis_domain::ids::new_id;
use portcullis_store::{Doc, Scope};
use records::{Ceremony, Challenge};
use serde_json::{json, Value};
use webauthn_rs::prelude::{Url, Uuid, Webauthn, WebauthnBuilder};

/// How long a ceremony may take, in seconds: the browser's own timeout
/// (webauthn-rs asks for 5 minutes) plus a margin for the round trip.
pub const CHALLENGE_TTL_S: i64 = 6 * 60;
/// Longest credential JSON read: an attestation with a certificate chain
/// fits in a few kilobytes.
pub const CREDENTIAL_CHARS_MAX: usize = 16_384;
/// Longest challenge id read.
pub const CHALLENGE_CHARS_MAX: usize = 64;
/// Longest name a holder gives a passkey.
pub const NAME_CHARS_MAX: usize = 64;

/// The relying party for `public_url`.
pub fn webauthn(state: &AppState) -> ApiResult<Webauthn> {
    let base = state.base_url();
    let origin = Url::parse(&base).map_err(|err| ApiError::internal(&err))?;
    let rp_id = origin
        .host_str()
        .ok_or_else(|| ApiError::internal(&"public_url has no host"))?
        .to_owned();
    WebauthnBuilder::new(&rp_id, &origin)
        .and_then(|builder| builder.rp_name("Portcullis").build())
        .map_err(|err| {
            // WebAuthn needs a domain name (not an IP address) as the
            // relying party: the gateway's configuration, not the caller,
            // must change, and nothing was done.
            tracing::warn!(public_url = %base, error = %err, "passkeys unavailable: public_url is not a domain name");
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorType::InvalidRequest,
                Some("passkeys_unavailable"),
                "Passkeys are not available on this gateway: its public_url must be a domain name (WebAuthn does not accept IP addresses).",
            )
        })
}

/// The WebAuthn user handle of an account: opaque, stable, and no
/// personal data (the first 16 bytes of a SHA-256 of the account id).
pub fn user_handle(account_id: &str) -> Uuid {
    let digest = ring::digest::digest(&ring::digest::SHA256, account_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    Uuid::from_bytes(bytes)
}

/// Starts a ceremony: stores its challenge and answers its options for
/// the client (`options` is what `navigator.credentials.create` or `.get`
/// takes, binary fields in base64url).
pub async fn open(
    state: &AppState,
    scope: &Scope,
    session: Option<&str>,
    ceremony: Ceremony,
    options: Value,
) -> ApiResult<Value> {
    let now = state.now();
    let challenge = Challenge {
        id: new_id(Challenge::PREFIX),
        session: session.map(str::to_owned),
        created: now,
        expires_at: now + CHALLENGE_TTL_S,
        used: false,
        ceremony,
    };
    let write = records::insert_challenge(scope, &challenge)?;
    crate::accounts::commit(state, vec![write], ApiError::concurrent_change).await?;
    Ok(render_challenge(
        &challenge.id,
        challenge.ceremony.purpose(),
        challenge.expires_at,
        options,
    ))
}

/// The options webauthn-rs made, as JSON for the client.
pub fn options_json<T: serde::Serialize>(options: &T) -> ApiResult<Value> {
    serde_json::to_value(options).map_err(|err| ApiError::internal(&err))
}

/// The second call's parameters: the challenge id and the credential JSON.
pub fn finishing(params: &mut crate::wire::Params) -> ApiResult<(String, String)> {
    let challenge = params.required_string("challenge", CHALLENGE_CHARS_MAX)?;
    let credential = params.required_string("credential", CREDENTIAL_CHARS_MAX)?;
    Ok((challenge, credential))
}

fn render_challenge(id: &str, purpose: &str, expires_at: i64, options: Value) -> Value {
    json!({
        "id": id,
        "object": "passkey_challenge",
        "purpose": purpose,
        "expires_at": expires_at,
        "options": options,
    })
}

/// The passkeys' objects, for the OpenAPI document.
pub fn samples() -> Vec<(&'static str, Value)> {
    let options = json!({ "publicKey": { "challenge": "c2FtcGxl", "rpId": "pay.example" } });
    vec![
        (
            "passkey_challenge",
            render_challenge("pkch_sample", "registration", 1, options),
        ),
        (
            "account_passkey",
            handlers::render_view(handlers::PasskeyView {
                id: "cpk_sample",
                account: "cacct_sample",
                customer: "cus_sample",
                name: Some("Phone"),
                created: 0,
                last_used_at: None,
            }),
        ),
    ]
}

/// The challenge `id`, if it may finish a ceremony now from `session`.
/// Unknown, used, expired, or started elsewhere: one answer.
pub async fn take(
    state: &AppState,
    scope: &Scope,
    id: &str,
    session: Option<&str>,
) -> ApiResult<(Doc, Challenge)> {
    let (doc, challenge) = records::challenge(state, scope, id)
        .await?
        .ok_or_else(challenge_invalid)?;
    if challenge.used
        || state.now() >= challenge.expires_at
        || challenge.session.as_deref() != session
    {
        return Err(challenge_invalid());
    }
    Ok((doc, challenge))
}

/// The second call of a ceremony, the token spend every finish shares:
/// the challenge, if it may finish now from `session`, the credential the
/// client posted (`finishing`, as [`finishing`] read it) parsed as `P`,
/// and the write that spends the challenge (to commit with the outcome).
pub async fn finish<P: serde::de::DeserializeOwned>(
    state: &AppState,
    scope: &Scope,
    (challenge_id, text): &(String, String),
    session: Option<&str>,
) -> ApiResult<(Challenge, P, portcullis_store::WriteOp)> {
    let (doc, challenge) = take(state, scope, challenge_id, session).await?;
    let posted: P = credential(text)?;
    let spent = records::spend_challenge(scope, &doc, &challenge)?;
    Ok((challenge, posted, spent))
}

/// The credential JSON a client posted, parsed as webauthn-rs reads it.
pub fn credential<T: serde::de::DeserializeOwned>(text: &str) -> ApiResult<T> {
    serde_json::from_str(text).map_err(|_| {
        ApiError::invalid(
            "passkey_credential_invalid",
            "`credential` must be the JSON of the PublicKeyCredential the browser or app returned.",
            "credential",
        )
    })
}

pub fn challenge_invalid() -> ApiError {
    ApiError::invalid(
        "passkey_challenge_invalid",
        "This passkey challenge is unknown, used or expired. Start again.",
        "challenge",
    )
}

/// The authenticator's answer did not verify (wrong origin, challenge,
/// signature, no user verification, or an unknown credential).
pub fn verification_failed() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        crate::error::ErrorType::InvalidRequest,
        Some("passkey_verification_failed"),
        "The passkey could not be verified.",
    )
    .with_param("credential")
}
