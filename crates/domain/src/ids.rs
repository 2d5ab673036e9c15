//! Object ids: a type prefix (`cus_`, `pi_`, …) and 24 random base62
//! characters (~143 bits), so ids are unguessable and tell their type.

use rand::Rng;

const ID_RANDOM_CHARS: usize = 24;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random base62 text of `len` characters from the operating system's CSPRNG:
/// one `getrandom` per call seeds a ChaCha generator for its characters
/// (drawing each character from the OS cost 24 system calls per id).
pub fn random_base62(len: usize) -> String {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::from_rng(rand::rngs::OsRng).expect("the OS CSPRNG answers");
    (0..len)
        .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
        .collect()
}

/// A new random id with the given prefix, e.g. `new_id("cus")` → `cus_…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_base62(ID_RANDOM_CHARS))
}

/// True when `id` has the shape of an id with `prefix` (a quick syntactic
/// check before touching storage; it does not say the object exists).
pub fn has_prefix(id: &str, prefix: &str) -> bool {
    id.len() > prefix.len() + 1
        && id.len() <= 255
        && id.starts_with(prefix)
        && id.as_bytes()[prefix.len()] == b'_'
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn generate() -> Self {
                Self(new_id($prefix))
            }

            /// Accepts only text with this id's prefix and alphabet.
            pub fn parse(text: &str) -> Option<Self> {
                has_prefix(text, $prefix).then(|| Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

typed_id!(
    /// A merchant (`acct_…`): the owner of every other object.
    MerchantId,
    "acct"
);
typed_id!(
    /// An API key record (`key_…`); not the key itself.
    ApiKeyId,
    "key"
);
typed_id!(
    /// A customer (`cus_…`).
    CustomerId,
    "cus"
);
typed_id!(
    /// One HTTP request (`req_…`), echoed in the `Request-Id` header.
    RequestId,
    "req"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_parse_back() {
        let id = CustomerId::generate();
        assert!(id.as_str().starts_with("cus_"));
        assert_eq!(id.as_str().len(), 4 + ID_RANDOM_CHARS);
        assert_eq!(CustomerId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn ids_of_another_type_or_alphabet_are_refused() {
        assert!(CustomerId::parse("pi_abc").is_none());
        assert!(CustomerId::parse("cus_").is_none());
        assert!(CustomerId::parse("cus_abc'--").is_none());
        assert!(CustomerId::parse("cusabc").is_none());
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(CustomerId::generate(), CustomerId::generate());
    }
}
