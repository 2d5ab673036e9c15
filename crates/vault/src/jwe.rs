//! Client-side encryption: card data encrypted in the browser or app as a
//! JWE (RFC 7516, compact serialization) to a public key of the gateway's,
//! opened only here.
//!
//! Exactly one algorithm pair is accepted: `alg = RSA-OAEP-256` (RFC 7518
//! §4.3: RSAES-OAEP with SHA-256 and MGF1-SHA-256) wrapping a 256-bit
//! content key, and `enc = A256GCM` (§5.3) with a 96-bit IV and a 128-bit
//! tag, whose additional data is the ASCII of the encoded protected
//! header. Anything else (`zip`, `crit`, other algorithms) is refused.
//!
//! No primitive is written here: RSA-OAEP decryption is `aws-lc-rs`'s
//! (constant time; the `rsa` crate's is not, RUSTSEC-2023-0071), AES-GCM
//! is `aes-gcm`'s. Every failure after the header is one opaque
//! [`JweError::Undecryptable`], so a caller learns nothing about which
//! step failed (no padding oracle).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::KeyPair as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use zeroize::Zeroizing;

pub const ALG: &str = "RSA-OAEP-256";
pub const ENC: &str = "A256GCM";
/// Longest compact JWE accepted: card data is small; this bounds the work.
pub const COMPACT_CHARS_MAX: usize = 8192;
const CEK_BYTES: usize = 32;
const IV_BYTES: usize = 12;
const TAG_BYTES: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    #[error("not a compact JWE: five base64url parts separated by dots are expected")]
    Malformed,
    #[error("unsupported JWE header: alg must be RSA-OAEP-256 and enc A256GCM, with a kid and no zip or crit")]
    UnsupportedHeader,
    #[error("the JWE names a key this gateway does not have (or no longer has)")]
    UnknownKey,
    /// Any failure of the key unwrap or of the content decryption.
    #[error("the JWE does not decrypt")]
    Undecryptable,
    #[error("could not generate or load the RSA key")]
    Key,
}

/// The protected header's `kid`, read without decrypting anything: which
/// of the gateway's keys the JWE is for.
pub fn key_id_of(compact: &str) -> Result<String, JweError> {
    let header = header_of(parts(compact)?[0])?;
    Ok(header.kid)
}

struct Header {
    kid: String,
}

fn parts(compact: &str) -> Result<[&str; 5], JweError> {
    if compact.len() > COMPACT_CHARS_MAX {
        return Err(JweError::Malformed);
    }
    let parts: Vec<&str> = compact.split('.').collect();
    <[&str; 5]>::try_from(parts).map_err(|_| JweError::Malformed)
}

fn header_of(encoded: &str) -> Result<Header, JweError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| JweError::Malformed)?;
    let header: Value = serde_json::from_slice(&bytes).map_err(|_| JweError::Malformed)?;
    let Value::Object(fields) = header else {
        return Err(JweError::Malformed);
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    if text("alg") != Some(ALG)
        || text("enc") != Some(ENC)
        || fields.contains_key("zip")
        || fields.contains_key("crit")
    {
        return Err(JweError::UnsupportedHeader);
    }
    let kid = text("kid").ok_or(JweError::UnsupportedHeader)?;
    Ok(Header {
        kid: kid.to_owned(),
    })
}

/// One of the gateway's client-side-encryption keys: an RSA-2048 key
/// pair named by `kid`. The private half never leaves this type except
/// as PKCS#8 for sealing ([`EncryptionKey::generate`]).
pub struct EncryptionKey {
    kid: String,
    private: OaepPrivateDecryptingKey,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKey({})", self.kid)
    }
}

impl EncryptionKey {
    /// A fresh key named `kid`, and its private half as PKCS#8 DER (to be
    /// sealed by the vault before it is stored).
    pub fn generate(kid: &str) -> Result<(Self, Zeroizing<Vec<u8>>), JweError> {
        let private =
            PrivateDecryptingKey::generate(KeySize::Rsa2048).map_err(|_| JweError::Key)?;
        let der = AsDer::<Pkcs8V1Der>::as_der(&private).map_err(|_| JweError::Key)?;
        let pkcs8 = Zeroizing::new(der.as_ref().to_vec());
        Ok((Self::from_pkcs8(kid, &pkcs8)?, pkcs8))
    }

    /// The key named `kid` from its PKCS#8 DER.
    pub fn from_pkcs8(kid: &str, pkcs8: &[u8]) -> Result<Self, JweError> {
        let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).map_err(|_| JweError::Key)?;
        let public = pair.public_key();
        let modulus = public.modulus().big_endian_without_leading_zero().to_vec();
        let exponent = public.exponent().big_endian_without_leading_zero().to_vec();
        let private = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(|_| JweError::Key)?;
        let private = OaepPrivateDecryptingKey::new(private).map_err(|_| JweError::Key)?;
        Ok(Self {
            kid: kid.to_owned(),
            private,
            modulus,
            exponent,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (RFC 7517/7518 §6.3.1), for a JWKS.
    pub fn public_jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "use": "enc",
            "alg": ALG,
            "n": URL_SAFE_NO_PAD.encode(&self.modulus),
            "e": URL_SAFE_NO_PAD.encode(&self.exponent),
        })
    }

    /// The plaintext of a compact JWE made for this key, in memory wiped
    /// on drop.
    pub fn decrypt(&self, compact: &str) -> Result<Zeroizing<Vec<u8>>, JweError> {
        let [header, wrapped_key, iv, ciphertext, tag] = parts(compact)?;
        if header_of(header)?.kid != self.kid {
            return Err(JweError::UnknownKey);
        }
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| JweError::Malformed)
        };
        let (wrapped_key, iv, mut body, tag) = (
            decode(wrapped_key)?,
            decode(iv)?,
            decode(ciphertext)?,
            decode(tag)?,
        );
        if iv.len() != IV_BYTES || tag.len() != TAG_BYTES {
            return Err(JweError::Malformed);
        }
        let cek = self.unwrap_cek(&wrapped_key)?;
        let cipher = Aes256Gcm::new_from_slice(&cek[..]).map_err(|_| JweError::Undecryptable)?;
        body.extend_from_slice(&tag);
        let plaintext = cipher
            .decrypt(
                Nonce::from_slice(&iv),
                Payload {
                    msg: &body,
                    aad: header.as_bytes(),
                },
            )
            .map_err(|_| JweError::Undecryptable)?;
        Ok(Zeroizing::new(plaintext))
    }

    /// The 256-bit content key, RSA-OAEP-256 unwrapped in constant time.
    fn unwrap_cek(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, JweError> {
        if wrapped.len() != self.private.key_size_bytes() {
            return Err(JweError::Undecryptable);
        }
        let mut out = Zeroizing::new(vec![0u8; self.private.min_output_size()]);
        let cek = self
            .private
            .decrypt(&OAEP_SHA256_MGF1SHA256, wrapped, &mut out, None)
            .map_err(|_| JweError::Undecryptable)?;
        if cek.len() != CEK_BYTES {
            return Err(JweError::Undecryptable);
        }
        Ok(Zeroizing::new(cek.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_other_than_rsa_oaep_256_with_a256gcm_are_refused() {
        let encode = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        for header in [
            json!({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "k"}),
            json!({"alg": "RSA-OAEP-256", "enc": "A128GCM", "kid": "k"}),
            json!({"alg": "RSA-OAEP-256", "enc": "A256GCM"}),
            json!({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "k", "zip": "DEF"}),
        ] {
            let compact = format!("{}.a.b.c.d", encode(header));
            assert_eq!(
                key_id_of(&compact).unwrap_err(),
                JweError::UnsupportedHeader
            );
        }
        assert_eq!(key_id_of("a.b.c").unwrap_err(), JweError::Malformed);
        let good = format!(
            "{}.a.b.c.d",
            encode(json!({"alg": ALG, "enc": ENC, "kid": "cse_1"}))
        );
        assert_eq!(key_id_of(&good).unwrap(), "cse_1");
    }

    #[test]
    fn a_generated_key_reloads_from_pkcs8_with_the_same_public_half() {
        let (key, pkcs8) = EncryptionKey::generate("cse_1").unwrap();
        let again = EncryptionKey::from_pkcs8("cse_1", &pkcs8).unwrap();
        assert_eq!(key.public_jwk(), again.public_jwk());
        assert_eq!(key.public_jwk()["e"], "AQAB");
        assert_eq!(format!("{key:?}"), "EncryptionKey(cse_1)");
    }

    /// A JWE made with the public half of `pkcs8` through aws-lc-rs's
    /// encryption and `aes-gcm`. (The independent encrypters are outside
    /// Rust: Python's `jwcrypto` in the compatibility suite and the
    /// browser's WebCrypto in the browser suite; the `rsa` crate stays out
    /// of the tree, RUSTSEC-2023-0071.)
    fn encrypt_for(kid: &str, pkcs8: &[u8], plaintext: &[u8]) -> String {
        use aws_lc_rs::rsa::OaepPublicEncryptingKey;
        let public = OaepPublicEncryptingKey::new(
            PrivateDecryptingKey::from_pkcs8(pkcs8)
                .unwrap()
                .public_key(),
        )
        .unwrap();
        let header =
            URL_SAFE_NO_PAD.encode(json!({"alg": ALG, "enc": ENC, "kid": kid}).to_string());
        let cek = [9u8; 32];
        let iv = [3u8; 12];
        let mut wrapped = vec![0u8; public.ciphertext_size()];
        let wrapped = public
            .encrypt(&OAEP_SHA256_MGF1SHA256, &cek, &mut wrapped, None)
            .unwrap()
            .to_vec();
        let sealed = Aes256Gcm::new_from_slice(&cek)
            .unwrap()
            .encrypt(
                Nonce::from_slice(&iv),
                Payload {
                    msg: plaintext,
                    aad: header.as_bytes(),
                },
            )
            .unwrap();
        let (body, tag) = sealed.split_at(sealed.len() - TAG_BYTES);
        [
            header,
            URL_SAFE_NO_PAD.encode(wrapped),
            URL_SAFE_NO_PAD.encode(iv),
            URL_SAFE_NO_PAD.encode(body),
            URL_SAFE_NO_PAD.encode(tag),
        ]
        .join(".")
    }

    #[test]
    fn a_jwe_made_from_the_published_key_opens_and_a_changed_one_does_not() {
        let (key, pkcs8) = EncryptionKey::generate("cse_1").unwrap();
        let compact = encrypt_for("cse_1", &pkcs8, b"{\"number\":\"4242424242424242\"}");
        assert_eq!(
            &key.decrypt(&compact).unwrap()[..],
            b"{\"number\":\"4242424242424242\"}"
        );
        let mut parts: Vec<String> = compact.split('.').map(str::to_owned).collect();
        let flipped = if parts[3].starts_with('A') { "B" } else { "A" };
        parts[3].replace_range(0..1, flipped);
        assert_eq!(
            key.decrypt(&parts.join(".")).unwrap_err(),
            JweError::Undecryptable
        );
        let (other, _) = EncryptionKey::generate("cse_1").unwrap();
        assert_eq!(
            other.decrypt(&compact).unwrap_err(),
            JweError::Undecryptable
        );
    }

    #[test]
    fn garbage_and_truncated_ciphertexts_are_one_opaque_error() {
        let (key, _) = EncryptionKey::generate("cse_1").unwrap();
        let header =
            URL_SAFE_NO_PAD.encode(json!({"alg": ALG, "enc": ENC, "kid": "cse_1"}).to_string());
        let wrapped = URL_SAFE_NO_PAD.encode([7u8; 256]);
        let iv = URL_SAFE_NO_PAD.encode([0u8; 12]);
        let tag = URL_SAFE_NO_PAD.encode([0u8; 16]);
        let compact = format!("{header}.{wrapped}.{iv}.AAAA.{tag}");
        assert_eq!(key.decrypt(&compact).unwrap_err(), JweError::Undecryptable);
        let other = format!(
            "{}.{wrapped}.{iv}.AAAA.{tag}",
            URL_SAFE_NO_PAD.encode(json!({"alg": ALG, "enc": ENC, "kid": "cse_2"}).to_string())
        );
        assert_eq!(key.decrypt(&other).unwrap_err(), JweError::UnknownKey);
    }
}
