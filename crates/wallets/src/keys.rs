//! RSA keys from PEM text: private keys as PKCS#8 (`BEGIN PRIVATE KEY`)
//! or PKCS#1 (`BEGIN RSA PRIVATE KEY`), public keys as SubjectPublicKeyInfo
//! (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`). Both providers
//! require RSA-2048 or longer.
//!
//! Signing and verification are `ring`'s (RSASSA-PKCS1-v1_5 with SHA-256,
//! constant-time and blinded), not the `rsa` crate's, whose private-key
//! operations leak timing (RUSTSEC-2023-0071, the Marvin attack). `pem`
//! reads the armour; `spki` and `pkcs1` read public keys' DER structure.

use crate::WalletError;
use pkcs1::der::Decode;
use ring::signature::{
    RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};

/// `rsaEncryption`, the algorithm of an RSA SubjectPublicKeyInfo (RFC 8017).
const RSA_ENCRYPTION: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Shortest modulus accepted, in bits.
pub const RSA_BITS_MIN: usize = 2048;

/// An RSA private key, ready to sign.
#[derive(Debug)]
pub struct RsaPrivateKey(RsaKeyPair);

impl RsaPrivateKey {
    /// The matching public key, as PKCS#1 `RSAPublicKey` DER.
    pub fn public_key_der(&self) -> &[u8] {
        ring::signature::KeyPair::public_key(&self.0).as_ref()
    }
}

/// An RSA public key: its PKCS#1 `RSAPublicKey` DER (what `ring`
/// verifies with; a SubjectPublicKeyInfo's inner key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaPublicKey(Vec<u8>);

impl RsaPublicKey {
    pub fn der(&self) -> &[u8] {
        &self.0
    }
}

fn pem_of(text: &str) -> Option<pem::Pem> {
    pem::parse(text.trim()).ok()
}

pub fn private_key_from_pem(pem: &str) -> Result<RsaPrivateKey, WalletError> {
    const NOT_A_KEY: &str = "not a PEM RSA private key (PKCS#8 or PKCS#1)";
    let pem = pem_of(pem).ok_or_else(|| WalletError::Key(NOT_A_KEY.into()))?;
    let parsed = match pem.tag() {
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(pem.contents()),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(pem.contents()),
        _ => return Err(WalletError::Key(NOT_A_KEY.into())),
    };
    match parsed {
        Ok(key) => {
            check_bits(key.public().modulus_len())?;
            Ok(RsaPrivateKey(key))
        }
        Err(rejected) if rejected.to_string() == "TooSmall" => Err(too_short()),
        Err(rejected) if rejected.to_string() == "TooLarge" => Err(WalletError::Key(
            "the RSA key is longer than 4096 bits".into(),
        )),
        Err(_) => Err(WalletError::Key(NOT_A_KEY.into())),
    }
}

pub fn public_key_from_pem(pem: &str) -> Result<RsaPublicKey, WalletError> {
    let not_a_key = || WalletError::Key("not a PEM RSA public key".into());
    let pem = pem_of(pem).ok_or_else(not_a_key)?;
    let der = match pem.tag() {
        "PUBLIC KEY" => {
            let info =
                spki::SubjectPublicKeyInfoRef::from_der(pem.contents()).map_err(|_| not_a_key())?;
            if info.algorithm.oid != RSA_ENCRYPTION {
                return Err(not_a_key());
            }
            info.subject_public_key
                .as_bytes()
                .ok_or_else(not_a_key)?
                .to_vec()
        }
        "RSA PUBLIC KEY" => pem.contents().to_vec(),
        _ => return Err(not_a_key()),
    };
    let key = pkcs1::RsaPublicKey::from_der(&der).map_err(|_| not_a_key())?;
    check_bits(key.modulus.as_bytes().len())?;
    Ok(RsaPublicKey(der))
}

fn check_bits(modulus_bytes: usize) -> Result<(), WalletError> {
    if modulus_bytes * 8 < RSA_BITS_MIN {
        return Err(too_short());
    }
    Ok(())
}

fn too_short() -> WalletError {
    WalletError::Key(format!("the RSA key is shorter than {RSA_BITS_MIN} bits"))
}

/// SHA256withRSA (RSASSA-PKCS1-v1_5 over SHA-256) of `message`, base64.
pub fn sign_sha256_rsa(key: &RsaPrivateKey, message: &[u8]) -> String {
    use base64::Engine;
    let mut signature = vec![0; key.0.public().modulus_len()];
    key.0
        .sign(
            &RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            message,
            &mut signature,
        )
        // The buffer is the modulus' length, so only the operating
        // system's random source (for blinding) can fail here; without it
        // no key, card or signature can be made at all.
        .expect("the system random source serves RSA blinding");
    base64::engine::general_purpose::STANDARD.encode(signature)
}

/// Checks a base64 SHA256withRSA `signature` of `message`.
pub fn verify_sha256_rsa(
    key: &RsaPublicKey,
    message: &[u8],
    signature: &str,
) -> Result<(), WalletError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| WalletError::BadSignature)?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &key.0)
        .verify(message, &bytes)
        .map_err(|_| WalletError::BadSignature)
}

/// A new RSA-2048 key pair as PEM: the private key PKCS#8
/// (`PRIVATE KEY`), the public key SubjectPublicKeyInfo (`PUBLIC KEY`), as
/// the providers' consoles hand them out. For simulators and tests.
pub fn generate_pem_pair() -> Result<(String, String), WalletError> {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    let failed = |_| WalletError::Key("key generation failed".into());
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
    let private = pair.as_der().map_err(failed)?;
    let public = pair.public_key().as_der().map_err(failed)?;
    let armour = |tag: &str, der: &[u8]| {
        pem::encode_config(
            &pem::Pem::new(tag, der.to_vec()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    };
    Ok((
        armour("PRIVATE KEY", private.as_ref()),
        armour("PUBLIC KEY", public.as_ref()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pair_signs_and_verifies() {
        let (private, public) = generate_pem_pair().unwrap();
        let key = private_key_from_pem(&private).unwrap();
        let public = public_key_from_pem(&public).unwrap();
        let signature = sign_sha256_rsa(&key, b"app_id=1");
        assert!(verify_sha256_rsa(&public, b"app_id=1", &signature).is_ok());
        assert!(verify_sha256_rsa(&public, b"app_id=2", &signature).is_err());
    }

    #[test]
    fn pkcs8_and_pkcs1_private_keys_are_the_same_key() {
        let pkcs8 =
            private_key_from_pem(include_str!("../tests/fixtures/app_private_pkcs8.pem")).unwrap();
        let pkcs1 =
            private_key_from_pem(include_str!("../tests/fixtures/app_private_pkcs1.pem")).unwrap();
        assert_eq!(pkcs8.public_key_der(), pkcs1.public_key_der());
        let public = public_key_from_pem(include_str!("../tests/fixtures/app_public.pem")).unwrap();
        assert_eq!(public.der(), pkcs1.public_key_der());
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
