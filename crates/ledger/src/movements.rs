//! The postings of each movement of money. Every function returns a
//! balanced transaction; the callers (the API's payment write sets, the
//! settlement and payout workers) only choose amounts and keys.
//!
//! | movement | postings |
//! |---|---|
//! | capture | receivable −amount; pending +(amount − fee); fee revenue +fee |
//! | refund | available −(amount − fee returned); fee revenue −fee returned; receivable +amount |
//! | dispute | available −(amount + dispute fee); receivable +amount; fee revenue +dispute fee |
//! | refund failure, dispute won | the exact reverse of the original |
//! | settlement | pending −net; available +net |
//! | payout | available −amount; reserved +amount |
//! | payout paid | reserved −amount; external +amount |
//! | payout canceled | reserved −amount; available +amount |
//! | customer balance in | external −amount; customer balance +amount |
//! | customer balance out | customer balance −amount; external +amount |
//! | customer transfer | from customer balance −amount; to customer balance +amount |
//! | customer payout | customer balance −amount; reserved +amount |
//! | customer payout canceled | reserved −amount; customer balance +amount |

use crate::accounts::{Account, Bucket};
use crate::transaction::{
    LedgerTransaction, TransactionBuilder, TransactionHeader, TransactionKind,
};
use crate::LedgerError;
use portcullis_domain::ids::MerchantId;
use portcullis_domain::money::Currency;

/// Whose money moves, in which mode and currency, through which connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parties {
    pub merchant: MerchantId,
    pub livemode: bool,
    pub currency: Currency,
    /// The connector whose acquirer owes us for captures.
    pub connector: String,
}

impl Parties {
    fn bucket(&self, bucket: Bucket) -> Account {
        Account::merchant(&self.merchant, self.livemode, bucket)
    }
    fn fee_revenue(&self) -> Account {
        Account::FeeRevenue {
            livemode: self.livemode,
        }
    }
    fn receivable(&self) -> Result<Account, LedgerError> {
        Account::receivable(&self.connector, self.livemode)
    }
    fn external(&self) -> Account {
        Account::External {
            livemode: self.livemode,
        }
    }
}

/// Postings in one currency, skipping zero amounts (a fee of zero posts nothing).
struct Lines {
    builder: TransactionBuilder,
    currency: Currency,
}

impl Lines {
    fn new(header: TransactionHeader, currency: Currency) -> Self {
        Self {
            builder: TransactionBuilder::new(header),
            currency,
        }
    }
    fn post(mut self, account: Account, amount_minor: i64) -> Self {
        if amount_minor != 0 {
            self.builder = self.builder.post(account, self.currency, amount_minor);
        }
        self
    }
    fn build(self) -> Result<LedgerTransaction, LedgerError> {
        self.builder.build()
    }
}

fn positive(what: &'static str, amount_minor: i64) -> Result<(), LedgerError> {
    if amount_minor > 0 {
        Ok(())
    } else {
        Err(LedgerError::invalid(what, amount_minor.to_string()))
    }
}

fn within(what: &'static str, part_minor: i64, whole_minor: i64) -> Result<(), LedgerError> {
    if (0..=whole_minor).contains(&part_minor) {
        Ok(())
    } else {
        Err(LedgerError::invalid(what, part_minor.to_string()))
    }
}

fn checked(header: &TransactionHeader, kind: TransactionKind) -> Result<(), LedgerError> {
    if header.kind == kind {
        Ok(())
    } else {
        Err(LedgerError::invalid("kind", header.kind.as_str()))
    }
}

/// A captured charge of `amount_minor` with `fee_minor` (0 ≤ fee ≤ amount).
pub fn capture(
    header: TransactionHeader,
    parties: &Parties,
    amount_minor: i64,
    fee_minor: i64,
) -> Result<LedgerTransaction, LedgerError> {
    checked(&header, TransactionKind::Capture)?;
    positive("capture amount", amount_minor)?;
    within("fee", fee_minor, amount_minor)?;
    Lines::new(header, parties.currency)
        .post(parties.receivable()?, -amount_minor)
        .post(parties.bucket(Bucket::Pending), amount_minor - fee_minor)
        .post(parties.fee_revenue(), fee_minor)
        .build()
}

/// A refund of `amount_minor`, giving back `fee_returned_minor` of the capture's fee.
pub fn refund(
    header: TransactionHeader,
    parties: &Parties,
    amount_minor: i64,
    fee_returned_minor: i64,
) -> Result<LedgerTransaction, LedgerError> {
    checked(&header, TransactionKind::Refund)?;
    positive("refund amount", amount_minor)?;
    within("fee returned", fee_returned_minor, amount_minor)?;
    Lines::new(header, parties.currency)
        .post(
            parties.bucket(Bucket::Available),
            -(amount_minor - fee_returned_minor),
        )
        .post(parties.fee_revenue(), -fee_returned_minor)
        .post(parties.receivable()?, amount_minor)
        .build()
}

/// Disputed funds of `amount_minor` withdrawn, with a `dispute_fee_minor`.
pub fn dispute(
    header: TransactionHeader,
    parties: &Parties,
    amount_minor: i64,
    dispute_fee_minor: i64,
) -> Result<LedgerTransaction, LedgerError> {
    checked(&header, TransactionKind::Dispute)?;
    positive("dispute amount", amount_minor)?;
    within("dispute fee", dispute_fee_minor, i64::MAX - amount_minor)?;
    Lines::new(header, parties.currency)
        .post(
            parties.bucket(Bucket::Available),
            -(amount_minor + dispute_fee_minor),
        )
        .post(parties.receivable()?, amount_minor)
        .post(parties.fee_revenue(), dispute_fee_minor)
        .build()
}

/// The exact reverse of `original`: a failed refund, a won dispute.
pub fn reversal(
    header: TransactionHeader,
    original: &LedgerTransaction,
) -> Result<LedgerTransaction, LedgerError> {
    let expected = match original.kind() {
        TransactionKind::Refund => TransactionKind::RefundFailure,
        TransactionKind::Dispute => TransactionKind::DisputeWon,
        other => return Err(LedgerError::invalid("reversal of", other.as_str())),
    };
    checked(&header, expected)?;
    let mut builder = TransactionBuilder::new(header);
    for posting in original.postings() {
        let negated = posting
            .amount_minor
            .checked_neg()
            .ok_or(LedgerError::Overflow)?;
        builder = builder.post(posting.account.clone(), posting.currency, negated);
    }
    builder.build()
}

/// Pending funds of `net_minor` become available.
pub fn settlement(
    header: TransactionHeader,
    parties: &Parties,
    net_minor: i64,
) -> Result<LedgerTransaction, LedgerError> {
    checked(&header, TransactionKind::Settlement)?;
    positive("settled amount", net_minor)?;
    Lines::new(header, parties.currency)
        .post(parties.bucket(Bucket::Pending), -net_minor)
        .post(parties.bucket(Bucket::Available), net_minor)
        .build()
}

/// A payout of `amount_minor`: reserved from available funds until paid.
pub fn payout(
    header: TransactionHeader,
    parties: &Parties,
    amount_minor: i64,
) -> Result<LedgerTransaction, LedgerError> {
    checked(&header, TransactionKind::Payout)?;
    positive("payout amount", amount_minor)?;
    Lines::new(header, parties.currency)
        .post(parties.bucket(Bucket::Available), -amount_minor)
        .post(parties.bucket(Bucket::Reserved), amount_minor)
        .build()
}

/// A payout arrived: the reserve leaves the system.
pub fn payout_paid(
    header: TransactionHeader,
    parties: &Parties,
    amount_minor: i64,
) -> Result<LedgerTransaction, LedgerError> {
    checked(&header, TransactionKind::PayoutPaid)?;
    positive("payout amount", amount_minor)?;
    Lines::new(header, parties.currency)
        .post(parties.bucket(Bucket::Reserved), -amount_minor)
        .post(parties.external(), amount_minor)
        .build()
}

/// A pending payout canceled: the reserve is available again.
pub fn payout_canceled(
    header: TransactionHeader,
    parties: &Parties,
    amount_minor: i64,
) -> Result<LedgerTransaction, LedgerError> {
    checked(&header, TransactionKind::PayoutCanceled)?;
    positive("payout amount", amount_minor)?;
    Lines::new(header, parties.currency)
        .post(parties.bucket(Bucket::Reserved), -amount_minor)
        .post(parties.bucket(Bucket::Available), amount_minor)
        .build()
}

/// Money into (`amount_minor` > 0) or out of (< 0) a customer's stored
/// value, from or to outside the gateway (a merchant's adjustment, cash,
/// a withdrawal paid out). The store refuses it if the wallet would go
/// below zero.
pub fn customer_balance(
    header: TransactionHeader,
    parties: &Parties,
    customer: &portcullis_domain::ids::CustomerId,
    amount_minor: i64,
) -> Result<LedgerTransaction, LedgerError> {
    checked(&header, TransactionKind::CustomerBalance)?;
    if amount_minor == 0 {
        return Err(LedgerError::invalid("customer balance amount", "0"));
    }
    let wallet = wallet(parties, customer);
    let counter = amount_minor
        .checked_neg()
        .ok_or_else(|| LedgerError::invalid("customer balance amount", amount_minor.to_string()))?;
    Lines::new(header, parties.currency)
        .post(parties.external(), counter)
        .post(wallet, amount_minor)
        .build()
}

fn wallet(parties: &Parties, customer: &portcullis_domain::ids::CustomerId) -> Account {
    Account::CustomerBalance {
        merchant: parties.merchant.clone(),
        customer: customer.clone(),
        livemode: parties.livemode,
    }
}

/// A withdrawal of `amount_minor` from a customer's stored value as a
/// payout: the wallet is debited into the merchant's `reserved` bucket,
/// the clearing account of payouts on their way, which [`payout_paid`]
/// empties when it arrives. The store refuses it if the wallet would go
/// below zero.
pub fn customer_payout(
    header: TransactionHeader,
    parties: &Parties,
    customer: &portcullis_domain::ids::CustomerId,
    amount_minor: i64,
) -> Result<LedgerTransaction, LedgerError> {
    checked(&header, TransactionKind::Payout)?;
    positive("payout amount", amount_minor)?;
    Lines::new(header, parties.currency)
        .post(wallet(parties, customer), -amount_minor)
        .post(parties.bucket(Bucket::Reserved), amount_minor)
        .build()
}

/// A pending customer payout canceled: its reserve returns to the wallet.
pub fn customer_payout_canceled(
    header: TransactionHeader,
    parties: &Parties,
    customer: &portcullis_domain::ids::CustomerId,
    amount_minor: i64,
) -> Result<LedgerTransaction, LedgerError> {
    checked(&header, TransactionKind::PayoutCanceled)?;
    positive("payout amount", amount_minor)?;
    Lines::new(header, parties.currency)
        .post(parties.bucket(Bucket::Reserved), -amount_minor)
        .post(wallet(parties, customer), amount_minor)
        .build()
}

/// Stored value moved from one customer's wallet to another's, both of
/// the same merchant. The store refuses it if `from` would go below zero.
pub fn customer_transfer(
    header: TransactionHeader,
    parties: &Parties,
    from: &portcullis_domain::ids::CustomerId,
    to: &portcullis_domain::ids::CustomerId,
    amount_minor: i64,
) -> Result<LedgerTransaction, LedgerError> {
    checked(&header, TransactionKind::CustomerBalance)?;
    positive("transfer amount", amount_minor)?;
    if from == to {
        return Err(LedgerError::invalid(
            "transfer to the same customer",
            from.as_str(),
        ));
    }
    Lines::new(header, parties.currency)
        .post(wallet(parties, from), -amount_minor)
        .post(wallet(parties, to), amount_minor)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parties() -> Parties {
        Parties {
            merchant: MerchantId::parse("acct_1").unwrap(),
            livemode: false,
            currency: Currency::parse("usd").unwrap(),
            connector: "sandbox".into(),
        }
    }

    fn header(kind: TransactionKind) -> TransactionHeader {
        TransactionHeader {
            id: format!("ltx_{}", kind.as_str()),
            idempotency_key: format!("{}:x", kind.as_str()),
            kind,
            source: "ch_1".into(),
            created: 1,
        }
    }

    #[test]
    fn a_capture_whose_fee_is_all_of_it_posts_nothing_to_pending() {
        let tx = capture(header(TransactionKind::Capture), &parties(), 30, 30).unwrap();
        assert_eq!(tx.postings().len(), 2);
        assert!(capture(header(TransactionKind::Capture), &parties(), 30, 31).is_err());
        assert!(capture(header(TransactionKind::Refund), &parties(), 30, 1).is_err());
    }

    #[test]
    fn a_customer_payout_moves_the_wallet_to_the_reserve_and_its_cancel_back() {
        let customer = portcullis_domain::ids::CustomerId::parse("cus_1").unwrap();
        let out =
            customer_payout(header(TransactionKind::Payout), &parties(), &customer, 700).unwrap();
        let back = customer_payout_canceled(
            header(TransactionKind::PayoutCanceled),
            &parties(),
            &customer,
            700,
        )
        .unwrap();
        let wallet = wallet(&parties(), &customer);
        let reserved = parties().bucket(Bucket::Reserved);
        let amount_of = |tx: &LedgerTransaction, account: &Account| {
            tx.postings()
                .iter()
                .filter(|p| &p.account == account)
                .map(|p| p.amount_minor)
                .sum::<i64>()
        };
        assert_eq!(amount_of(&out, &wallet), -700);
        assert_eq!(amount_of(&out, &reserved), 700);
        assert_eq!(amount_of(&back, &wallet), 700);
        assert_eq!(amount_of(&back, &reserved), -700);
        assert!(
            customer_payout(header(TransactionKind::Payout), &parties(), &customer, 0).is_err()
        );
        assert!(customer_payout(
            header(TransactionKind::CustomerBalance),
            &parties(),
            &customer,
            5
        )
        .is_err());
    }

    #[test]
    fn reversals_negate_every_posting_and_only_of_refunds_and_disputes() {
        let original = dispute(header(TransactionKind::Dispute), &parties(), 1000, 1500).unwrap();
        let won = reversal(header(TransactionKind::DisputeWon), &original).unwrap();
        for (a, b) in original.postings().iter().zip(won.postings()) {
            assert_eq!(a.amount_minor, -b.amount_minor);
            assert_eq!(a.account, b.account);
        }
        let paid = payout(header(TransactionKind::Payout), &parties(), 5).unwrap();
        assert!(reversal(header(TransactionKind::RefundFailure), &paid).is_err());
        assert!(reversal(header(TransactionKind::RefundFailure), &original).is_err());
    }
}
