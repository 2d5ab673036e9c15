//! Bearer secrets: session tokens (`cas_…`) and emailed tokens (`cat_…`),
//! 256 random bits each; storage keeps only their keyed digests (HMAC under
//! the server's key-hash secret), so a database copy signs nobody in.

use crate::state::AppState;
use base64::Engine;

pub const SESSION_PREFIX: &str = "cas_";
pub const EMAILED_PREFIX: &str = "cat_";
/// Longest token text looked at; anything longer is not ours.
pub const TOKEN_CHARS_MAX: usize = 64;

/// A new secret with `prefix`.
pub fn generate(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What storage keeps of a token.
pub fn digest(state: &AppState, token: &str) -> String {
    state
        .key_hasher
        .keyed_digest("customer_account_token", token)
}

/// What the audit trail keeps of an email address: a keyed digest, so
/// failed sign-ins for unknown addresses are counted without storing them.
pub fn email_digest(state: &AppState, email_key: &str) -> String {
    state
        .key_hasher
        .keyed_digest("customer_account_email", email_key)
}
