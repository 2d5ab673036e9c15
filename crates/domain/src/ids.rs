//! Object ids: a type prefix (`cus_`, `pi_`, …) and 24 base62 characters:
//! 8 of creation time in milliseconds, then 16 random (~95 bits). Ids are
//! unguessable and tell their type, and those of one type sort roughly by
//! creation, so inserting a new row appends to the end of the unique index
//! on `id` instead of dirtying a random B-tree page (on SQLite every dirty
//! page is a 4 KiB WAL frame; random ids cost one per index per row).

use rand::Rng;

const ID_CHARS: usize = 24;
const ID_TIME_CHARS: usize = 8;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random base62 text of `len` characters from the thread's CSPRNG
/// (ChaCha, seeded and periodically reseeded from the operating system).
pub fn random_base62(len: usize) -> String {
    let mut text = String::with_capacity(len);
    push_random_base62(&mut text, len);
    text
}

/// Random bytes drawn per refill: 16 characters need 16 accepted bytes,
/// and a byte is refused with probability 8/256.
const RANDOM_REFILL_BYTES: usize = 32;

/// The base62 digit a random byte stands for, or `None` for the 8 bytes
/// (248–255) past the last whole multiple of 62: each digit then has
/// exactly four bytes, so the digits stay uniform (no modulo bias).
fn base62_of(byte: u8) -> Option<u8> {
    (usize::from(byte) < 4 * BASE62.len()).then(|| BASE62[usize::from(byte) % BASE62.len()])
}

fn push_random_base62(text: &mut String, len: usize) {
    let mut rng = rand::thread_rng();
    let mut bytes = [0u8; RANDOM_REFILL_BYTES];
    let mut pushed = 0;
    while pushed < len {
        rng.fill(&mut bytes[..]);
        for digit in bytes.iter().filter_map(|&byte| base62_of(byte)) {
            if pushed == len {
                break;
            }
            text.push(char::from(digit));
            pushed += 1;
        }
    }
}

/// `value` as exactly `len` base62 digits, most significant first (so the
/// text order is the numeric order); saturates at the largest such number.
fn push_base62_fixed(text: &mut String, value: u64, len: usize) {
    let mut digits = vec![b'0'; len];
    let mut rest = value;
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    if rest > 0 {
        digits.fill(b'z');
    }
    text.extend(digits.into_iter().map(char::from));
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// A new id with the given prefix, e.g. `new_id("cus")` → `cus_…`.
pub fn new_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 1 + ID_CHARS);
    id.push_str(prefix);
    id.push('_');
    push_base62_fixed(&mut id, now_ms(), ID_TIME_CHARS);
    push_random_base62(&mut id, ID_CHARS - ID_TIME_CHARS);
    id
}

/// When an id made by [`new_id`] was made, in Unix milliseconds: its 8
/// time characters read back; `None` for text that is not such an id.
pub fn created_ms_of(id: &str) -> Option<u64> {
    let (_, rest) = id.split_once('_')?;
    if rest.len() != ID_CHARS {
        return None;
    }
    rest.bytes()
        .take(ID_TIME_CHARS)
        .try_fold(0u64, |value, byte| {
            let digit = BASE62.iter().position(|&b| b == byte)? as u64;
            value.checked_mul(62)?.checked_add(digit)
        })
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
    fn an_id_tells_when_it_was_made() {
        let before = now_ms();
        let id = new_id("pa");
        let made = created_ms_of(&id).expect("a new id reads back");
        assert!(
            made >= before && made <= now_ms(),
            "{made} not in [{before}, now]"
        );
        assert_eq!(created_ms_of("pa_short"), None);
        assert_eq!(created_ms_of("no-underscore"), None);
        assert_eq!(created_ms_of("pa_!!!!!!!!0000000000000000"), None);
    }

    #[test]
    fn every_base62_digit_stands_for_exactly_four_bytes() {
        let mut bytes_per_digit = std::collections::HashMap::new();
        for byte in 0..=u8::MAX {
            if let Some(digit) = base62_of(byte) {
                *bytes_per_digit.entry(digit).or_insert(0) += 1;
            }
        }
        assert_eq!(bytes_per_digit.len(), BASE62.len());
        assert!(bytes_per_digit.values().all(|&n| n == 4));
        assert_eq!(base62_of(247), Some(b'z'));
        assert_eq!(base62_of(248), None);
    }

    #[test]
    fn random_text_has_the_length_asked_for_in_base62() {
        for len in [0, 1, 16, 24, 31, 32, 33, 100] {
            let text = random_base62(len);
            assert_eq!(text.len(), len);
            assert!(text.bytes().all(|b| BASE62.contains(&b)), "{text}");
        }
        assert_ne!(random_base62(16), random_base62(16));
    }

    #[test]
    fn generated_ids_carry_their_prefix_and_parse_back() {
        let id = CustomerId::generate();
        assert!(id.as_str().starts_with("cus_"));
        assert_eq!(id.as_str().len(), 4 + ID_CHARS);
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
    fn ids_generated_later_sort_after_earlier_ones() {
        let earlier = new_id("pi");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = new_id("pi");
        assert!(earlier < later, "{earlier} then {later}");
    }

    #[test]
    fn the_time_part_is_fixed_width_and_in_numeric_order() {
        let mut small = String::new();
        push_base62_fixed(&mut small, 61, 8);
        let mut large = String::new();
        push_base62_fixed(&mut large, 62, 8);
        assert_eq!((small.as_str(), large.as_str()), ("0000000z", "00000010"));
        let mut huge = String::new();
        push_base62_fixed(&mut huge, u64::MAX, 8);
        assert_eq!(huge, "zzzzzzzz");
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(CustomerId::generate(), CustomerId::generate());
    }
}
