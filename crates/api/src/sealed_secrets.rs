//! Secrets kept inside a stored document, sealed by the vault under the
//! document's id exactly as a card is (a fresh data key wrapped by the
//! active key-encrypting key, the id as associated data): a connector
//! account's credentials, a webhook endpoint's signing secrets. The sealed
//! record is the body's `sealed` member and its KEK the row's `kek_id`
//! column, so `portcullis vault rotate-key` re-wraps them and
//! `vault retire-key` counts them as it does cards.

use crate::error::{ApiError, ApiResult};
use crate::payments::cards::{sealed_body, sealed_of};
use portcullis_vault::{SealedCard, Vault};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

/// `secret`, as JSON, sealed under `record_id`.
pub fn seal<T: Serialize + ?Sized>(
    vault: &Vault,
    record_id: &str,
    secret: &T,
) -> ApiResult<SealedCard> {
    let plain = Zeroizing::new(serde_json::to_vec(secret).map_err(|e| ApiError::internal(&e))?);
    vault
        .seal_secret(record_id, &plain)
        .map_err(|err| ApiError::internal(&err))
}

/// The secret [`seal`] sealed under `record_id`.
pub fn open<T: DeserializeOwned>(
    vault: &Vault,
    record_id: &str,
    sealed: &SealedCard,
) -> ApiResult<T> {
    let plain = vault
        .open_secret(record_id, sealed)
        .map_err(|err| ApiError::internal(&err))?;
    serde_json::from_slice(&plain).map_err(|e| ApiError::internal(&e))
}

/// The sealed record as the body's `sealed` member.
pub fn to_member(sealed: &SealedCard) -> ApiResult<Value> {
    serde_json::from_str(&sealed_body(sealed)).map_err(|e| ApiError::internal(&e))
}

/// The sealed record read back from the body's `sealed` member.
pub fn from_member(member: &Value) -> ApiResult<SealedCard> {
    sealed_of(&member.to_string())
}
