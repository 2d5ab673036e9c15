//! The processor's idempotency keys: a key names one request body. A repeat
//! of the same key and body is acted on again, which the sandbox answers
//! as the first time (it is idempotent per attempt id and refund id; a
//! repeated capture is recognised by the handler); the same key with another
//! body is refused (409). Kept in memory for [`KEYS_MAX`] keys; after a
//! restart the sandbox's own checks (an attempt or refund id reused with
//! other parameters is refused) still stand behind it.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};

/// How many keys are remembered; the oldest is forgotten beyond that.
pub const KEYS_MAX: usize = 200_000;

#[derive(Default)]
pub struct Keys {
    inner: parking_lot::Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    digests: HashMap<String, [u8; 32]>,
    order: VecDeque<String>,
}

impl Keys {
    /// Records `key` for `body`; false when the key names another body.
    pub fn admit(&self, key: &str, body: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(body).into();
        let mut inner = self.inner.lock();
        if let Some(known) = inner.digests.get(key) {
            return *known == digest;
        }
        if inner.order.len() >= KEYS_MAX {
            if let Some(oldest) = inner.order.pop_front() {
                inner.digests.remove(&oldest);
            }
        }
        inner.digests.insert(key.to_owned(), digest);
        inner.order.push_back(key.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_one_body() {
        let keys = Keys::default();
        assert!(keys.admit("pa_1", b"a"));
        assert!(keys.admit("pa_1", b"a"));
        assert!(!keys.admit("pa_1", b"b"));
        assert!(keys.admit("pa_2", b"b"));
    }
}
