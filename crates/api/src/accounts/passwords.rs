//! Password hashing: Argon2id with OWASP's parameters (19 MiB, 2 passes,
//! one lane), PHC strings, verified in constant time by the `argon2` crate.
//! Hashing runs on the blocking pool: it takes tens of milliseconds on
//! purpose and must not stall the async workers.

use crate::error::{ApiError, ApiResult};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use portcullis_domain::accounts::Password;
use std::sync::OnceLock;

/// OWASP Password Storage Cheat Sheet: Argon2id, m=19456 KiB, t=2, p=1.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

fn hasher() -> ApiResult<Argon2<'static>> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, LANES, None).map_err(|err| ApiError::internal(&err))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of a new hash of `password`, with a fresh random salt.
pub async fn hash(password: Password) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|err| ApiError::internal(&err))?
}

fn hash_now(password: &Password) -> ApiResult<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|err| ApiError::internal(&err))?;
    Ok(hasher()?
        .hash_password(password.expose(), &salt)
        .map_err(|err| ApiError::internal(&err))?
        .to_string())
}

/// Whether `password` matches `stored`. With no stored hash (an unknown
/// email, an invited account) the same work is done against a dummy hash
/// and the answer is false, so timing does not tell them apart.
pub async fn verify(password: Password, stored: Option<String>) -> ApiResult<bool> {
    tokio::task::spawn_blocking(move || {
        let (phc, real) = match stored {
            Some(phc) => (phc, true),
            None => (dummy_hash()?.to_owned(), false),
        };
        let parsed = PasswordHash::new(&phc).map_err(|err| ApiError::internal(&err))?;
        let matches = hasher()?
            .verify_password(password.expose(), &parsed)
            .is_ok();
        Ok(real && matches)
    })
    .await
    .map_err(|err| ApiError::internal(&err))?
}

/// A hash of a random password with the same parameters, made once.
fn dummy_hash() -> ApiResult<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(phc) = DUMMY.get() {
        return Ok(phc);
    }
    let random = hex::encode(rand::random::<[u8; 16]>());
    let phc =
        hash_now(&Password::parse_presented(&random).map_err(|err| ApiError::internal(&err))?)?;
    Ok(DUMMY.get_or_init(|| phc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(text: &str) -> Password {
        Password::parse_presented(text).unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let phc = hash(password("violet kettle drum 42")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(password("violet kettle drum 42"), Some(phc.clone()))
            .await
            .unwrap());
        assert!(!verify(password("violet kettle drum 43"), Some(phc))
            .await
            .unwrap());
        assert!(!verify(password("anything at all"), None).await.unwrap());
    }
}
