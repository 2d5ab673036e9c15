//! Client-side encryption of card data: the gateway's public keys at
//! `GET /.well-known/jwks.json`, and `card[encrypted]=<JWE>` opened into
//! the same card fields `card[number]` & co. would give.
//!
//! Keys rotate with the vault's: each key-encrypting key (KEK) of the
//! vault gets one RSA-2048 key pair, created the first time it is needed
//! while its KEK is active, stored sealed by the vault under that KEK
//! (`Store::insert_encryption_key`; one per KEK, so racing instances
//! agree), published while the vault still holds its KEK, and gone with
//! it when the KEK is retired. Only `portcullis_vault::jwe` decrypts.

use crate::error::{ApiError, ApiResult};
use crate::idempotency::json_response;
use crate::payments::cards::{parse_card, CardInput};
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::Params;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use portcullis_domain::ids::new_id;
use portcullis_store::StoredEncryptionKey;
use portcullis_vault::jwe::{self, EncryptionKey, JweError};
use portcullis_vault::SealedCard;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The well-known URL of the key set.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Longest `card[encrypted]` accepted.
pub const ENCRYPTED_CHARS_MAX: usize = jwe::COMPACT_CHARS_MAX;
/// Key ids: `csek_…`.
const KID_PREFIX: &str = "csek";

/// Opened keys by `kid`, so a JWE costs one RSA decryption, not a key
/// load. Bounded by the number of KEKs the vault holds.
#[derive(Default)]
pub struct ClientKeys {
    opened: Mutex<HashMap<String, Arc<EncryptionKey>>>,
    /// Serialises key creation within this process.
    creating: tokio::sync::Mutex<()>,
}

pub fn routes() -> Routes {
    Routes::new().get(
        doc(
            JWKS_PATH,
            "The gateway's public keys for client-side encryption (JWK Set)",
            "jwks",
        )
        .public()
        .params(crate::routes::params::NONE),
        key_set,
    )
}

/// Public keys only, so any site may read them: a merchant's own page
/// fetches them from its customers' browsers (`Access-Control-Allow-Origin:
/// *`, no credentials).
async fn key_set(State(state): State<AppState>) -> Response {
    match published_keys(&state).await {
        Ok(keys) => {
            let mut response = json_response(StatusCode::OK, json!({ "keys": keys }).to_string());
            response.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            response
        }
        Err(err) => err.into_response(),
    }
}

/// The active key first, then older ones whose KEK the vault still holds
/// (JWEs made with them before a rotation still open).
async fn published_keys(state: &AppState) -> ApiResult<Vec<Value>> {
    let active = active_key(state).await?;
    let mut keys = vec![active.public_jwk()];
    for stored in state.store.encryption_keys().await? {
        if stored.kid != active.kid() && state.vault.knows_kek(&stored.kek_id) {
            keys.push(opened(state, &stored)?.public_jwk());
        }
    }
    Ok(keys)
}

/// The key of the vault's active KEK, created if it has none yet.
async fn active_key(state: &AppState) -> ApiResult<Arc<EncryptionKey>> {
    let kek_id = state.vault.active_kek_id();
    if let Some(stored) = stored_for_kek(state, &kek_id).await? {
        return opened(state, &stored);
    }
    let _creating = state.client_keys.creating.lock().await;
    if let Some(stored) = stored_for_kek(state, &kek_id).await? {
        return opened(state, &stored);
    }
    let kid = new_id(KID_PREFIX);
    let (_, pkcs8) = EncryptionKey::generate(&kid).map_err(|e| ApiError::internal(&e))?;
    let sealed = state
        .vault
        .seal_secret(&kid, &pkcs8)
        .map_err(|e| ApiError::internal(&e))?;
    let row = StoredEncryptionKey {
        kid,
        kek_id: sealed.kek_id.clone(),
        created: state.now(),
        wrapped_dek: hex::encode(&sealed.wrapped_dek),
        ciphertext: hex::encode(&sealed.ciphertext),
    };
    // Another instance may have stored one for this KEK meanwhile: the
    // insert then does nothing, and theirs is read back and used.
    state.store.insert_encryption_key(&row).await?;
    let stored = stored_for_kek(state, &row.kek_id)
        .await?
        .ok_or_else(|| ApiError::internal(&"the encryption key just stored is missing"))?;
    opened(state, &stored)
}

async fn stored_for_kek(state: &AppState, kek_id: &str) -> ApiResult<Option<StoredEncryptionKey>> {
    let keys = state.store.encryption_keys().await?;
    Ok(keys.into_iter().find(|key| key.kek_id == kek_id))
}

/// The stored key opened by the vault (cached by `kid`).
fn opened(state: &AppState, stored: &StoredEncryptionKey) -> ApiResult<Arc<EncryptionKey>> {
    if let Some(key) = state.client_keys.opened.lock().get(&stored.kid) {
        return Ok(key.clone());
    }
    let bytes = |hex_text: &str| hex::decode(hex_text).map_err(|e| ApiError::internal(&e));
    let sealed = SealedCard {
        kek_id: stored.kek_id.clone(),
        wrapped_dek: bytes(&stored.wrapped_dek)?,
        ciphertext: bytes(&stored.ciphertext)?,
    };
    let pkcs8 = state
        .vault
        .open_secret(&stored.kid, &sealed)
        .map_err(|e| ApiError::internal(&e))?;
    let key = Arc::new(
        EncryptionKey::from_pkcs8(&stored.kid, &pkcs8).map_err(|e| ApiError::internal(&e))?,
    );
    state
        .client_keys
        .opened
        .lock()
        .insert(stored.kid.clone(), key.clone());
    Ok(key)
}

/// The card inside `card[encrypted]`: its JSON (`number`, `exp_month`,
/// `exp_year`, optional `cvc`) is read by the same rules as plain
/// `card[…]` parameters, errors naming `card[…]`.
pub async fn open_card(state: &AppState, compact: &str) -> ApiResult<CardInput> {
    let kid = jwe::key_id_of(compact).map_err(jwe_error)?;
    let stored = state
        .store
        .encryption_keys()
        .await?
        .into_iter()
        .find(|key| key.kid == kid && state.vault.knows_kek(&key.kek_id))
        .ok_or_else(|| jwe_error(JweError::UnknownKey))?;
    let key = opened(state, &stored)?;
    let plaintext = key.decrypt(compact).map_err(jwe_error)?;
    let fields: serde_json::Map<String, Value> =
        serde_json::from_slice(&plaintext).map_err(|_| {
            ApiError::invalid(
                "encrypted_card_invalid",
                "The decrypted card data is not a JSON object with number, exp_month, exp_year and cvc.",
                "card[encrypted]",
            )
        })?;
    let mut card = Params::new(fields).at_path("card");
    let input = parse_card(&mut card, state.now())?;
    card.finish()?;
    Ok(input)
}

fn jwe_error(err: JweError) -> ApiError {
    ApiError::invalid("encrypted_card_invalid", err.to_string(), "card[encrypted]")
}

/// The key set's shape (a JWK Set, RFC 7517 §5), for the OpenAPI document.
pub fn render_samples() -> Vec<(&'static str, Value)> {
    let key = json!({ "kty": "RSA", "kid": "csek_sample", "use": "enc", "alg": jwe::ALG, "n": "AQAB", "e": "AQAB" });
    vec![("jwks", json!({ "keys": [key] }))]
}
