//! Risk resources and configuration: `/v1/risk/lists` (value lists and
//! their items), `/v1/risk/rules` (a merchant's rules, with a dry run),
//! and what the risk check needs from the process: the BIN table, the USD
//! rate table, the IP database and a cache of parsed rules.
//!
//! The payment path's adapter, which gathers a payment's signals from the
//! store and asks `portcullis-risk`, is `payments::risk`.

pub(crate) mod docs;
pub mod dry_run;
pub mod geoip;
pub mod lists;
pub mod rules;

use crate::routes::Routes;
use parking_lot::Mutex;
use portcullis_risk::bins::{BinInfo, BinTable};
use portcullis_risk::rates::RateTable;
use portcullis_risk::Rule;
use std::collections::HashMap;
use std::sync::Arc;

/// The resource name for restricted keys' permissions.
pub const RESOURCE: &str = "risk";

pub fn routes() -> Routes {
    Routes::new().merge(lists::routes()).merge(rules::routes())
}

/// `(object name, sample)` for the risk objects, from their render
/// functions, for the OpenAPI document.
pub fn render_samples() -> Vec<(&'static str, serde_json::Value)> {
    let mut samples = lists::render_samples();
    samples.extend(rules::render_samples());
    samples
}

/// What the risk check reads besides the store, loaded at start-up.
#[derive(Clone)]
pub struct RiskConfig {
    /// The operator's BIN table (`risk_bin_file`); empty without one.
    pub bins: BinTable,
    /// The published test cards' BINs, consulted in test mode only.
    pub test_bins: BinTable,
    pub rates: RateTable,
    /// `None` when no IP database is configured: IP countries are unknown.
    pub geoip: Option<Arc<geoip::GeoIp>>,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            bins: BinTable::default(),
            test_bins: BinTable::shipped(),
            rates: RateTable::default(),
            geoip: None,
        }
    }
}

impl RiskConfig {
    /// What a BIN table knows of `bin`: the operator's first, then (in test
    /// mode) the test cards'. `None`: the card's country and funding are
    /// unknown, and are reported so.
    pub fn bin_info(&self, livemode: bool, bin: &str) -> Option<&BinInfo> {
        self.bins
            .lookup(bin)
            .or_else(|| (!livemode).then(|| self.test_bins.lookup(bin)).flatten())
    }
}

/// Most parsed rules kept; the cache is emptied when full.
const PARSED_RULES_MAX: usize = 10_000;

/// Parsed rules by their text, so a payment does not parse its merchant's
/// rules again. Safe across processes: the key is the text itself.
#[derive(Default)]
pub struct RuleCache {
    parsed: Mutex<HashMap<String, Arc<Rule>>>,
}

impl RuleCache {
    /// The rule `text` parses to; `None` if it does not (stored rules were
    /// checked when written, so this is only a rule from an older grammar).
    pub fn parse(&self, text: &str) -> Option<Arc<Rule>> {
        if let Some(rule) = self.parsed.lock().get(text) {
            return Some(rule.clone());
        }
        let rule = Arc::new(Rule::parse(text).ok()?);
        let mut parsed = self.parsed.lock();
        if parsed.len() >= PARSED_RULES_MAX {
            parsed.clear();
        }
        parsed.insert(text.to_owned(), rule.clone());
        Some(rule)
    }
}

#[cfg(test)]
mod bound_tests {
    use super::{RuleCache, PARSED_RULES_MAX};

    #[test]
    fn the_parsed_rules_never_exceed_their_bound() {
        let cache = RuleCache::default();
        for n in 0..=PARSED_RULES_MAX {
            let text = format!("review if :amount_in_usd: > {n}");
            assert!(cache.parse(&text).is_some(), "{text}");
            assert!(cache.parsed.lock().len() <= PARSED_RULES_MAX);
        }
        // Full at the bound, the cache was emptied and holds the newest.
        assert_eq!(cache.parsed.lock().len(), 1);
        assert!(cache.parse("review if :amount_in_usd: > 1").is_some());
    }
}
