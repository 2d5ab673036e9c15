//! API keys. A key is shown once, at creation; only its keyed hash
//! (HMAC-SHA256 under the server's key-hash secret) is ever stored, so a copy
//! of the database does not yield working keys. Hashing is one HMAC, not a
//! password hash: keys carry ~190 bits of randomness, so a slow hash would buy
//! nothing and would cost every request.

use crate::ids::{random_base62, ApiKeyId, MerchantId};
use crate::UnixSeconds;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Random characters after the `sk_test_` style prefix.
const KEY_RANDOM_CHARS: usize = 32;
/// How many leading characters of a key are kept for display (`sk_test_AbCd`).
pub const KEY_DISPLAY_PREFIX_CHARS: usize = 12;
/// Longest text accepted as a key before it is even hashed.
pub const KEY_LEN_MAX: usize = 128;

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Full access to the merchant's account (`sk_`).
    Secret,
    /// Safe to ship to browsers: may only create payment methods and confirm
    /// with a client secret (`pk_`).
    Publishable,
    /// A secret key limited to a set of permissions (`rk_`).
    Restricted,
}

impl KeyKind {
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Secret => "sk",
            KeyKind::Publishable => "pk",
            KeyKind::Restricted => "rk",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Publishable => "publishable",
            KeyKind::Restricted => "restricted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "secret" => Some(KeyKind::Secret),
            "publishable" => Some(KeyKind::Publishable),
            "restricted" => Some(KeyKind::Restricted),
            _ => None,
        }
    }
}

/// Test keys move no real money; live keys do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyMode {
    Test,
    Live,
}

impl KeyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyMode::Test => "test",
            KeyMode::Live => "live",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "test" => Some(KeyMode::Test),
            "live" => Some(KeyMode::Live),
            _ => None,
        }
    }

    pub fn is_live(self) -> bool {
        self == KeyMode::Live
    }
}

/// The text of a key. Never logged: `Debug` prints only the display prefix.
pub struct ApiKeySecret(SecretString);

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeySecret({}…)", self.display_prefix())
    }
}

impl ApiKeySecret {
    /// A fresh key of the given kind and mode.
    pub fn generate(kind: KeyKind, mode: KeyMode) -> Self {
        let text = format!(
            "{}_{}_{}",
            kind.prefix(),
            mode.as_str(),
            random_base62(KEY_RANDOM_CHARS)
        );
        Self(SecretString::from(text))
    }

    /// Reads presented key text; `None` when it cannot be a key of ours, so
    /// malformed input is refused before any lookup.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() <= KEY_LEN_MAX && Self::kind_and_mode_of(text).is_some())
            .then(|| Self(SecretString::from(text.to_owned())))
    }

    fn kind_and_mode_of(text: &str) -> Option<(KeyKind, KeyMode)> {
        let mut parts = text.splitn(3, '_');
        let kind = match parts.next()? {
            "sk" => KeyKind::Secret,
            "pk" => KeyKind::Publishable,
            "rk" => KeyKind::Restricted,
            _ => return None,
        };
        let mode = KeyMode::parse(parts.next()?)?;
        let rest = parts.next()?;
        (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then_some((kind, mode))
    }

    pub fn kind(&self) -> KeyKind {
        Self::kind_and_mode_of(self.0.expose_secret())
            .expect("parsed keys have a kind")
            .0
    }

    pub fn mode(&self) -> KeyMode {
        Self::kind_and_mode_of(self.0.expose_secret())
            .expect("parsed keys have a mode")
            .1
    }

    /// The first characters, safe to show in listings (`sk_test_AbCd`).
    pub fn display_prefix(&self) -> String {
        self.0
            .expose_secret()
            .chars()
            .take(KEY_DISPLAY_PREFIX_CHARS)
            .collect()
    }

    /// The key text, for the single moment it is shown to its owner.
    pub fn reveal(&self) -> &str {
        self.0.expose_secret()
    }
}

/// The server's secret for hashing API keys. At least 32 bytes.
pub struct KeyHashSecret(secrecy::SecretSlice<u8>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the key-hash secret must be at least 32 bytes")]
pub struct KeyHashSecretTooShort;

impl KeyHashSecret {
    pub const LEN_MIN: usize = 32;

    pub fn new(bytes: Vec<u8>) -> Result<Self, KeyHashSecretTooShort> {
        if bytes.len() < Self::LEN_MIN {
            return Err(KeyHashSecretTooShort);
        }
        Ok(Self(bytes.into()))
    }

    /// HMAC-SHA256 of `data` under this secret, in the named `context`, as
    /// lowercase hex: for ids that must be stable and unguessable.
    pub fn keyed_digest(&self, context: &str, data: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .expect("HMAC accepts keys of any length");
        mac.update(context.as_bytes());
        mac.update(&[0]);
        mac.update(data.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The keyed hash of a key, as lowercase hex: what storage holds.
    pub fn hash(&self, key: &ApiKeySecret) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .expect("HMAC accepts keys of any length");
        mac.update(key.reveal().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// How much a restricted key may do with a resource. `Write` includes `Read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
}

/// A restricted key's grants, e.g. `customers:write,*:read`. Resource names
/// are the API's path nouns (`customers`, `payment_intents`); `*` is every
/// resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permissions(Vec<(String, Access)>);

/// Most grants one restricted key may carry.
pub const PERMISSIONS_MAX: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid permission {0:?}: expected RESOURCE:read or RESOURCE:write, comma-separated")]
pub struct InvalidPermission(pub String);

impl Permissions {
    /// Read access to everything: what a restricted key gets by default.
    pub fn read_only() -> Self {
        Self(vec![("*".to_owned(), Access::Read)])
    }

    pub fn parse(text: &str) -> Result<Self, InvalidPermission> {
        let mut grants = vec![];
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || InvalidPermission(item.to_owned());
            let (resource, access) = item.split_once(':').ok_or_else(bad)?;
            let access = match access {
                "read" => Access::Read,
                "write" => Access::Write,
                _ => return Err(bad()),
            };
            let resource_ok = resource == "*"
                || (!resource.is_empty()
                    && resource.len() <= 64
                    && resource
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_'));
            if !resource_ok || grants.len() == PERMISSIONS_MAX {
                return Err(bad());
            }
            grants.push((resource.to_owned(), access));
        }
        Ok(Self(grants))
    }

    /// True when some grant covers `access` to `resource`.
    pub fn allows(&self, resource: &str, access: Access) -> bool {
        self.0
            .iter()
            .any(|(granted, level)| (granted == "*" || granted == resource) && *level >= access)
    }

    /// The stored form, which [`Permissions::parse`] reads back.
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(|(resource, access)| {
                let level = if *access == Access::Write {
                    "write"
                } else {
                    "read"
                };
                format!("{resource}:{level}")
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What storage keeps of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub merchant_id: MerchantId,
    pub kind: KeyKind,
    pub mode: KeyMode,
    pub key_hash: String,
    pub display_prefix: String,
    /// Grants of a restricted key; `None` for secret and publishable keys.
    pub permissions: Option<Permissions>,
    pub created: UnixSeconds,
    pub revoked_at: Option<UnixSeconds>,
}

impl ApiKeyRecord {
    /// A new key for `merchant_id`: the record to store and the key to show
    /// once. Restricted keys get `permissions`, read-only when none are given;
    /// other kinds ignore them.
    pub fn issue(
        merchant_id: &MerchantId,
        kind: KeyKind,
        mode: KeyMode,
        permissions: Option<Permissions>,
        hasher: &KeyHashSecret,
        created: UnixSeconds,
    ) -> (Self, ApiKeySecret) {
        let key = ApiKeySecret::generate(kind, mode);
        let permissions = (kind == KeyKind::Restricted)
            .then(|| permissions.unwrap_or_else(Permissions::read_only));
        let record = Self {
            id: ApiKeyId::generate(),
            merchant_id: merchant_id.clone(),
            kind,
            mode,
            key_hash: hasher.hash(&key),
            display_prefix: key.display_prefix(),
            permissions,
            created,
            revoked_at: None,
        };
        (record, key)
    }

    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> KeyHashSecret {
        KeyHashSecret::new(vec![7; 32]).unwrap()
    }

    #[test]
    fn generated_keys_have_stripe_prefixes() {
        let sk = ApiKeySecret::generate(KeyKind::Secret, KeyMode::Test);
        assert!(sk.reveal().starts_with("sk_test_"));
        let pk = ApiKeySecret::generate(KeyKind::Publishable, KeyMode::Live);
        assert!(pk.reveal().starts_with("pk_live_"));
        let rk = ApiKeySecret::generate(KeyKind::Restricted, KeyMode::Test);
        assert!(rk.reveal().starts_with("rk_test_"));
        assert_eq!(rk.kind(), KeyKind::Restricted);
        assert_eq!(pk.mode(), KeyMode::Live);
    }

    #[test]
    fn malformed_key_text_is_refused() {
        for bad in [
            "",
            "sk_test_",
            "xk_test_abc",
            "sk_prod_abc",
            "sk_test_a-b",
            "sk",
        ] {
            assert!(ApiKeySecret::parse(bad).is_none(), "{bad}");
        }
        assert!(ApiKeySecret::parse(&format!("sk_test_{}", "a".repeat(200))).is_none());
    }

    #[test]
    fn debug_output_never_shows_the_whole_key() {
        let sk = ApiKeySecret::generate(KeyKind::Secret, KeyMode::Test);
        let shown = format!("{sk:?}");
        assert!(!shown.contains(sk.reveal()));
    }

    #[test]
    fn hash_is_keyed_and_stable() {
        let key = ApiKeySecret::parse("sk_test_abc123").unwrap();
        assert_eq!(hasher().hash(&key), hasher().hash(&key));
        let other = KeyHashSecret::new(vec![8; 32]).unwrap();
        assert_ne!(hasher().hash(&key), other.hash(&key));
        assert!(!hasher().hash(&key).contains("abc123"));
    }

    #[test]
    fn permissions_parse_check_and_round_trip() {
        let p = Permissions::parse("customers:write, *:read").unwrap();
        assert!(p.allows("customers", Access::Write));
        assert!(p.allows("payment_intents", Access::Read));
        assert!(!p.allows("payment_intents", Access::Write));
        assert_eq!(Permissions::parse(&p.to_text()).unwrap(), p);
        for bad in ["customers", "customers:delete", "Customers:read", ":read"] {
            assert!(Permissions::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn short_hash_secrets_are_refused() {
        assert!(KeyHashSecret::new(vec![1; 31]).is_err());
    }
}
