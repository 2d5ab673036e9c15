//! Fingerprints of the published test cards, remembered per merchant.
//!
//! Every `pm_card_visa` payment makes a payment method whose card details
//! carry the card's fingerprint: one HMAC-SHA256 per payment (about 16,000
//! instructions) for an answer that never changes while the keyring's
//! fingerprint key does not. Only published test card numbers
//! ([`published_test_number`]) are remembered: they are no secret, whereas
//! a customer's card number must not outlive the call that uses it.
//!
//! The cache belongs to one keyring (the vault keeps it beside the keyring
//! it was computed with), so a replaced keyring starts with an empty one.
//! It is bounded: at most [`MERCHANTS_MAX`] merchants, each with at most one
//! entry per published number; when a new merchant would pass the bound, the
//! cache is emptied and fills again.

use portcullis_domain::sandbox_cards::published_test_number;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Merchants whose test card fingerprints are remembered at once. A test
/// card's fingerprint costs one HMAC to compute again; the bound keeps the
/// memory at most about `MERCHANTS_MAX` × 20 published cards × 100 bytes.
pub const MERCHANTS_MAX: usize = 1024;

/// Per merchant id: each published number seen and its fingerprint.
#[derive(Default)]
pub struct TestCardFingerprints {
    by_merchant: Mutex<HashMap<Box<str>, Vec<(&'static str, String)>>>,
}

impl TestCardFingerprints {
    /// The fingerprint of `digits` for `merchant_id`: remembered if `digits`
    /// is a published test number, computed by `compute` (and remembered
    /// for such a number) otherwise.
    pub fn get_or_compute(
        &self,
        merchant_id: &str,
        digits: &str,
        compute: impl FnOnce() -> String,
    ) -> String {
        let Some(published) = published_test_number(digits) else {
            return compute();
        };
        if let Some(known) = self.known(merchant_id, published) {
            return known;
        }
        // Computed outside the lock: two first calls may both compute it,
        // and both get the same value.
        let fingerprint = compute();
        self.remember(merchant_id, published, &fingerprint);
        fingerprint
    }

    fn known(&self, merchant_id: &str, published: &'static str) -> Option<String> {
        let by_merchant = self
            .by_merchant
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let cards = by_merchant.get(merchant_id)?;
        cards
            .iter()
            .find(|(number, _)| *number == published)
            .map(|(_, fingerprint)| fingerprint.clone())
    }

    fn remember(&self, merchant_id: &str, published: &'static str, fingerprint: &str) {
        let mut by_merchant = self
            .by_merchant
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !by_merchant.contains_key(merchant_id) && by_merchant.len() >= MERCHANTS_MAX {
            by_merchant.clear();
        }
        let cards = by_merchant.entry(merchant_id.into()).or_default();
        if cards.iter().all(|(number, _)| *number != published) {
            cards.push((published, fingerprint.to_owned()));
        }
    }

    /// How many fingerprints are remembered (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        let by_merchant = self
            .by_merchant
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        by_merchant.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VISA: &str = "4242424242424242";

    #[test]
    fn a_published_numbers_fingerprint_is_computed_once_per_merchant() {
        let cache = TestCardFingerprints::default();
        let mut computed = 0;
        for _ in 0..3 {
            let fingerprint = cache.get_or_compute("acct_1", VISA, || {
                computed += 1;
                "fp_acct_1".to_owned()
            });
            assert_eq!(fingerprint, "fp_acct_1");
        }
        assert_eq!(computed, 1);
        let other = cache.get_or_compute("acct_2", VISA, || "fp_acct_2".to_owned());
        assert_eq!(other, "fp_acct_2");
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn any_other_number_is_computed_every_time_and_never_kept() {
        let cache = TestCardFingerprints::default();
        let mut computed = 0;
        for _ in 0..3 {
            cache.get_or_compute("acct_1", "4242424242424241", || {
                computed += 1;
                "fp".to_owned()
            });
        }
        assert_eq!(computed, 3);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_cache_holds_at_most_its_bound_of_merchants() {
        let cache = TestCardFingerprints::default();
        for merchant in 0..MERCHANTS_MAX + 10 {
            cache.get_or_compute(&format!("acct_{merchant}"), VISA, || "fp".to_owned());
            let merchants = cache.by_merchant.lock().unwrap().len();
            assert!(merchants <= MERCHANTS_MAX, "{merchants} merchants kept");
        }
    }
}
