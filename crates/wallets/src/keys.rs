//! RSA keys from PEM text: private keys as PKCS#8 (`BEGIN PRIVATE KEY`)
//! or PKCS#1 (`BEGIN RSA PRIVATE KEY`), public keys as SubjectPublicKeyInfo
//! (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`). Both providers
//! require RSA-2048 or longer.

use crate::WalletError;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

/// Shortest modulus accepted, in bits.
pub const RSA_BITS_MIN: usize = 2048;

pub fn private_key_from_pem(pem: &str) -> Result<RsaPrivateKey, WalletError> {
    let pem = pem.trim();
    let key = RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|_| WalletError::Key("not a PEM RSA private key (PKCS#8 or PKCS#1)".into()))?;
    check_bits(key.size())?;
    Ok(key)
}

pub fn public_key_from_pem(pem: &str) -> Result<RsaPublicKey, WalletError> {
    let pem = pem.trim();
    let key = RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
        .map_err(|_| WalletError::Key("not a PEM RSA public key".into()))?;
    check_bits(key.size())?;
    Ok(key)
}

fn check_bits(modulus_bytes: usize) -> Result<(), WalletError> {
    if modulus_bytes * 8 < RSA_BITS_MIN {
        return Err(WalletError::Key(format!(
            "the RSA key is shorter than {RSA_BITS_MIN} bits"
        )));
    }
    Ok(())
}

/// SHA256withRSA (RSASSA-PKCS1-v1_5 over SHA-256) of `message`, base64.
pub fn sign_sha256_rsa(key: &RsaPrivateKey, message: &[u8]) -> String {
    use base64::Engine;
    use rsa::signature::{SignatureEncoding, Signer};
    let signing = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    let signature = signing.sign(message);
    base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
}

/// Checks a base64 SHA256withRSA `signature` of `message`.
pub fn verify_sha256_rsa(
    key: &RsaPublicKey,
    message: &[u8],
    signature: &str,
) -> Result<(), WalletError> {
    use base64::Engine;
    use rsa::signature::Verifier;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| WalletError::BadSignature)?;
    let signature = rsa::pkcs1v15::Signature::try_from(bytes.as_slice())
        .map_err(|_| WalletError::BadSignature)?;
    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key.clone())
        .verify(message, &signature)
        .map_err(|_| WalletError::BadSignature)
}

/// A fresh RSA-2048 key pair as PEM (PKCS#8 private, SPKI public), for
/// the wallet simulator and tests.
pub fn generate_pem_pair() -> Result<(String, String), WalletError> {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS_MIN)
        .map_err(|_| WalletError::Key("key generation failed".into()))?;
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| WalletError::Key("encoding failed".into()))?;
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| WalletError::Key("encoding failed".into()))?;
    Ok((private.to_string(), public))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_and_pkcs1_private_keys_are_the_same_key() {
        let pkcs8 =
            private_key_from_pem(include_str!("../tests/fixtures/app_private_pkcs8.pem")).unwrap();
        let pkcs1 =
            private_key_from_pem(include_str!("../tests/fixtures/app_private_pkcs1.pem")).unwrap();
        assert_eq!(pkcs8, pkcs1);
        let public = public_key_from_pem(include_str!("../tests/fixtures/app_public.pem")).unwrap();
        let signature = sign_sha256_rsa(&pkcs1, b"message");
        verify_sha256_rsa(&public, b"message", &signature).unwrap();
        assert_eq!(
            verify_sha256_rsa(&public, b"massage", &signature),
            Err(WalletError::BadSignature)
        );
    }

    #[test]
    fn short_or_garbled_keys_are_refused() {
        let short = private_key_from_pem(include_str!("../tests/fixtures/short_1024.pem"));
        assert!(matches!(short, Err(WalletError::Key(message)) if message.contains("2048")));
        assert!(private_key_from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
        )
        .is_err());
        assert!(
            public_key_from_pem(include_str!("../tests/fixtures/app_private_pkcs8.pem")).is_err()
        );
    }
}
