//! A merchant's ledger policy: its fee schedule, whether refunds return
//! fees, how long captured funds stay pending, how long payouts take, the
//! dispute fee; and which balances a transaction may never drive below zero.

use crate::accounts::{Account, Bucket};
use crate::fees::{FeeRule, FeeSchedule};
use crate::transaction::{LedgerTransaction, TransactionKind};
use portcullis_domain::money::Currency;
use serde::{Deserialize, Serialize};

/// The fee charged when a dispute opens, in one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisputeFee {
    pub currency: Currency,
    pub amount_minor: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MerchantPolicy {
    pub fees: FeeSchedule,
    /// Whether a refund gives back the matching share of the capture's fee.
    pub refund_returns_fee: bool,
    /// How long captured funds stay pending before they become available.
    pub settlement_delay_s: i64,
    /// How long a payout is pending (and cancelable) before it is paid.
    pub payout_delay_s: i64,
    /// Dispute fees per currency; none for a currency means no fee.
    pub dispute_fees: Vec<DisputeFee>,
}

impl Default for MerchantPolicy {
    fn default() -> Self {
        let usd = Currency::parse("usd").expect("usd is a currency");
        Self {
            fees: FeeSchedule::new(vec![
                FeeRule {
                    currency: None,
                    payment_method: None,
                    card_brand: None,
                    basis_points: 290,
                    fixed_minor: 0,
                },
                FeeRule {
                    currency: Some(usd),
                    payment_method: None,
                    card_brand: None,
                    basis_points: 290,
                    fixed_minor: 30,
                },
            ])
            .expect("the default schedule is valid"),
            refund_returns_fee: false,
            settlement_delay_s: 2 * 86_400,
            payout_delay_s: 86_400,
            dispute_fees: vec![DisputeFee {
                currency: usd,
                amount_minor: 1_500,
            }],
        }
    }
}

impl MerchantPolicy {
    pub fn dispute_fee_minor(&self, currency: Currency) -> i64 {
        self.dispute_fees
            .iter()
            .find(|fee| fee.currency == currency)
            .map_or(0, |fee| fee.amount_minor)
    }
}

/// The merchant balances `transaction` must leave at zero or above.
///
/// A customer's stored-value balance never goes negative. Pending and
/// reserved funds never go negative, and a payout never spends
/// more than is available. Only refunds and disputes may take `available`
/// below zero: the merchant then owes the difference, recovered from later
/// captures (as Stripe does), since the cardholder's money must go back
/// whatever the merchant holds.
pub fn must_stay_non_negative(transaction: &LedgerTransaction) -> Vec<(Account, Currency)> {
    let may_overdraw_available = matches!(
        transaction.kind(),
        TransactionKind::Refund | TransactionKind::Dispute
    );
    let mut floors: Vec<(Account, Currency)> = Vec::new();
    for posting in transaction.postings() {
        if posting.amount_minor < 0 && matches!(posting.account, Account::CustomerBalance { .. }) {
            // A customer's wallet never goes below zero, whatever the kind.
            let floor = (posting.account.clone(), posting.currency);
            if !floors.contains(&floor) {
                floors.push(floor);
            }
            continue;
        }
        let Some(bucket) = posting.account.bucket() else {
            continue;
        };
        if posting.amount_minor >= 0 || (bucket == Bucket::Available && may_overdraw_available) {
            continue;
        }
        let floor = (posting.account.clone(), posting.currency);
        if !floors.contains(&floor) {
            floors.push(floor);
        }
    }
    floors
}
