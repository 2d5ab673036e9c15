//! The ledger as merchants see it: `GET /v1/balance`, balance
//! transactions (`txn_…`), payouts (`po_…`), and the worker that settles
//! pending funds and pays payouts. The accounting itself (postings, fees,
//! the chain) lives in `portcullis-ledger`; this module decides when money
//! moves and renders it in Stripe's shape.

pub(crate) mod balance;
mod balance_transactions;
pub mod booking;
pub(crate) mod payouts;
pub mod records;
mod test_helpers;
pub mod worker;

use crate::routes::Routes;
use portcullis_domain::ids::MerchantId;
use portcullis_ledger::policy::MerchantPolicy;
use std::collections::HashMap;

pub fn routes() -> Routes {
    Routes::new()
        .merge(balance::routes())
        .merge(balance_transactions::routes())
        .merge(payouts::routes())
        .merge(test_helpers::routes())
}

/// Ledger tunables: the policy of each merchant (fees, settlement and
/// payout delays, whether refunds return fees) and the worker's pace.
#[derive(Clone, Debug)]
pub struct LedgerSettings {
    /// The policy of merchants not named in `merchant_policies`.
    pub default_policy: MerchantPolicy,
    pub merchant_policies: HashMap<MerchantId, MerchantPolicy>,
    /// How often the worker settles due funds and pays due payouts.
    pub worker_interval_ms: u64,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        Self {
            default_policy: MerchantPolicy::default(),
            merchant_policies: HashMap::new(),
            worker_interval_ms: 5_000,
        }
    }
}

impl LedgerSettings {
    pub fn policy(&self, merchant: &MerchantId) -> &MerchantPolicy {
        self.merchant_policies
            .get(merchant)
            .unwrap_or(&self.default_policy)
    }
}
