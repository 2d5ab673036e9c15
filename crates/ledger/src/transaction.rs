//! Ledger transactions: two or more postings that sum to zero per
//! currency, with the caller's idempotency key. The only way to make one is
//! [`TransactionBuilder::build`] (or parsing a canonical form, which runs
//! the same checks), so an unbalanced transaction cannot exist.

use crate::accounts::Account;
use crate::{is_token, LedgerError};
use portcullis_domain::money::Currency;
use portcullis_domain::UnixSeconds;
use std::collections::BTreeMap;

/// Most postings in one transaction.
pub const POSTINGS_MAX: usize = 16;
/// First line of every canonical form; a new format gets a new version.
pub const CANONICAL_VERSION: &str = "portcullis-ledger/v1";

/// What a transaction records; part of its canonical content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionKind {
    /// A captured charge: the acquirer owes us, the merchant is owed the
    /// net, the gateway earned the fee.
    Capture,
    Refund,
    /// A refund that failed or was canceled: the exact reverse of its refund.
    RefundFailure,
    Dispute,
    /// A dispute the merchant won: the exact reverse of its dispute.
    DisputeWon,
    /// Pending funds became available.
    Settlement,
    /// Available funds reserved for a payout on its way.
    Payout,
    /// A payout arrived: reserved funds left the system.
    PayoutPaid,
    /// A pending payout was canceled: its reserve is available again.
    PayoutCanceled,
    /// Money into or out of a customer's stored-value balance (e-wallet).
    CustomerBalance,
}

impl TransactionKind {
    const ALL: [TransactionKind; 10] = [
        TransactionKind::Capture,
        TransactionKind::Refund,
        TransactionKind::RefundFailure,
        TransactionKind::Dispute,
        TransactionKind::DisputeWon,
        TransactionKind::Settlement,
        TransactionKind::Payout,
        TransactionKind::PayoutPaid,
        TransactionKind::PayoutCanceled,
        TransactionKind::CustomerBalance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::Capture => "capture",
            TransactionKind::Refund => "refund",
            TransactionKind::RefundFailure => "refund_failure",
            TransactionKind::Dispute => "dispute",
            TransactionKind::DisputeWon => "dispute_won",
            TransactionKind::Settlement => "settlement",
            TransactionKind::Payout => "payout",
            TransactionKind::PayoutPaid => "payout_paid",
            TransactionKind::PayoutCanceled => "payout_canceled",
            TransactionKind::CustomerBalance => "customer_balance",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One line of a transaction: a non-zero signed amount, in minor units of
/// `currency`, added to `account`'s balance.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Posting {
    pub account: Account,
    pub currency: Currency,
    pub amount_minor: i64,
}

/// A balanced, immutable ledger transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerTransaction {
    id: String,
    idempotency_key: String,
    kind: TransactionKind,
    /// The object that moved the money (`ch_…`, `re_…`, `dp_…`, `po_…`, `txn_…`).
    source: String,
    created: UnixSeconds,
    postings: Vec<Posting>,
}

impl LedgerTransaction {
    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn idempotency_key(&self) -> &str {
        &self.idempotency_key
    }
    pub fn kind(&self) -> TransactionKind {
        self.kind
    }
    pub fn source(&self) -> &str {
        &self.source
    }
    pub fn created(&self) -> UnixSeconds {
        self.created
    }
    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }

    /// True when both record the same movement (kind, source and postings),
    /// whatever their ids and times: a repeated append of this is a no-op.
    pub fn same_movement(&self, other: &LedgerTransaction) -> bool {
        self.kind == other.kind && self.source == other.source && self.postings == other.postings
    }

    /// The canonical content that is hashed: one field per line, postings
    /// in the order given. Every field is a token without separators, so the
    /// text parses back to exactly this transaction.
    pub fn canonical(&self) -> String {
        let mut text = format!(
            "{CANONICAL_VERSION}\nid={}\nkey={}\nkind={}\nsource={}\ncreated={}\n",
            self.id,
            self.idempotency_key,
            self.kind.as_str(),
            self.source,
            self.created
        );
        for posting in &self.postings {
            text.push_str(&format!(
                "posting={}|{}|{}\n",
                posting.account, posting.currency, posting.amount_minor
            ));
        }
        text
    }

    /// Parses [`LedgerTransaction::canonical`] text, with every check of the builder.
    pub fn parse_canonical(text: &str) -> Result<Self, LedgerError> {
        let bad = |what: &'static str| {
            LedgerError::invalid(what, text.chars().take(80).collect::<String>())
        };
        let mut lines = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("canonical form"))?
            .split('\n');
        if lines.next() != Some(CANONICAL_VERSION) {
            return Err(bad("canonical version"));
        }
        let mut field = |name: &str| -> Result<&str, LedgerError> {
            lines
                .next()
                .and_then(|line| line.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix('='))
                .ok_or_else(|| bad("canonical field"))
        };
        let id = field("id")?.to_owned();
        let key = field("key")?.to_owned();
        let kind = TransactionKind::parse(field("kind")?).ok_or_else(|| bad("kind"))?;
        let source = field("source")?.to_owned();
        let created: i64 = field("created")?.parse().map_err(|_| bad("created"))?;
        let mut builder = TransactionBuilder::new(TransactionHeader {
            id,
            idempotency_key: key,
            kind,
            source,
            created,
        });
        for (count, line) in lines.enumerate() {
            if count >= POSTINGS_MAX {
                return Err(LedgerError::TooManyPostings);
            }
            let posting = line
                .strip_prefix("posting=")
                .ok_or_else(|| bad("posting"))?;
            let mut parts = posting.split('|');
            let (Some(account), Some(currency), Some(amount), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad("posting"));
            };
            let currency = Currency::parse(currency).map_err(|_| bad("currency"))?;
            if currency.as_str() != currency_text(posting) {
                return Err(bad("currency"));
            }
            let amount_minor: i64 = amount.parse().map_err(|_| bad("amount"))?;
            builder = builder.post(Account::parse(account)?, currency, amount_minor);
        }
        let built = builder.build()?;
        if built.canonical() != text {
            // Not the one spelling this code writes (e.g. `+5` or `05`).
            return Err(bad("canonical spelling"));
        }
        Ok(built)
    }
}

fn currency_text(posting: &str) -> &str {
    posting.split('|').nth(1).unwrap_or_default()
}

/// What a transaction is about, before its postings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionHeader {
    /// `ltx_…`
    pub id: String,
    pub idempotency_key: String,
    pub kind: TransactionKind,
    pub source: String,
    pub created: UnixSeconds,
}

/// Collects postings and refuses to build an unbalanced transaction.
#[derive(Clone, Debug)]
pub struct TransactionBuilder {
    header: TransactionHeader,
    postings: Vec<Posting>,
}

impl TransactionBuilder {
    pub fn new(header: TransactionHeader) -> Self {
        Self {
            header,
            postings: Vec::new(),
        }
    }

    /// Adds `amount_minor` (signed) to `account` in `currency`.
    pub fn post(mut self, account: Account, currency: Currency, amount_minor: i64) -> Self {
        self.postings.push(Posting {
            account,
            currency,
            amount_minor,
        });
        self
    }

    /// Checks and builds: ≥ 2 and ≤ [`POSTINGS_MAX`] postings, none zero,
    /// every currency summing to zero, tokens well formed, all postings in
    /// one mode (test money never meets live money).
    pub fn build(self) -> Result<LedgerTransaction, LedgerError> {
        let TransactionHeader {
            id,
            idempotency_key,
            kind,
            source,
            created,
        } = self.header;
        for (what, value) in [
            ("id", &id),
            ("idempotency key", &idempotency_key),
            ("source", &source),
        ] {
            if !is_token(value) {
                return Err(LedgerError::invalid(what, value.as_str()));
            }
        }
        if self.postings.len() < 2 {
            return Err(LedgerError::TooFewPostings);
        }
        if self.postings.len() > POSTINGS_MAX {
            return Err(LedgerError::TooManyPostings);
        }
        let livemode = self.postings[0].account.livemode();
        let mut sums: BTreeMap<Currency, i128> = BTreeMap::new();
        for posting in &self.postings {
            if posting.amount_minor == 0 {
                return Err(LedgerError::ZeroPosting);
            }
            if posting.account.livemode() != livemode {
                return Err(LedgerError::invalid(
                    "mix of modes",
                    posting.account.to_string(),
                ));
            }
            *sums.entry(posting.currency).or_default() += i128::from(posting.amount_minor);
        }
        if let Some((currency, sum)) = sums.into_iter().find(|(_, sum)| *sum != 0) {
            return Err(LedgerError::Unbalanced {
                currency: currency.to_string(),
                sum_minor: sum,
            });
        }
        Ok(LedgerTransaction {
            id,
            idempotency_key,
            kind,
            source,
            created,
            postings: self.postings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Bucket;
    use portcullis_domain::ids::MerchantId;

    fn usd() -> Currency {
        Currency::parse("usd").unwrap()
    }

    fn header() -> TransactionHeader {
        TransactionHeader {
            id: "ltx_1".into(),
            idempotency_key: "capture:ch_1".into(),
            kind: TransactionKind::Capture,
            source: "ch_1".into(),
            created: 1_700_000_000,
        }
    }

    fn merchant_pending() -> Account {
        Account::merchant(
            &MerchantId::parse("acct_1").unwrap(),
            false,
            Bucket::Pending,
        )
    }

    fn capture() -> LedgerTransaction {
        TransactionBuilder::new(header())
            .post(Account::receivable("sandbox", false).unwrap(), usd(), -1000)
            .post(merchant_pending(), usd(), 941)
            .post(Account::FeeRevenue { livemode: false }, usd(), 59)
            .build()
            .unwrap()
    }

    #[test]
    fn balanced_transactions_build_and_round_trip_through_canonical_text() {
        let tx = capture();
        let text = tx.canonical();
        assert!(
            text.starts_with("portcullis-ledger/v1\nid=ltx_1\n"),
            "{text}"
        );
        assert!(text.contains("posting=test:merchant:acct_1:pending|usd|941\n"));
        assert_eq!(LedgerTransaction::parse_canonical(&text), Ok(tx));
    }

    #[test]
    fn unbalanced_single_or_zero_postings_are_refused() {
        let unbalanced = TransactionBuilder::new(header())
            .post(merchant_pending(), usd(), 1)
            .post(Account::External { livemode: false }, usd(), -2)
            .build();
        assert!(matches!(
            unbalanced,
            Err(LedgerError::Unbalanced { sum_minor: -1, .. })
        ));
        let single = TransactionBuilder::new(header())
            .post(merchant_pending(), usd(), 0)
            .build();
        assert_eq!(single, Err(LedgerError::TooFewPostings));
        let zero = TransactionBuilder::new(header())
            .post(merchant_pending(), usd(), 0)
            .post(Account::External { livemode: false }, usd(), 0)
            .build();
        assert_eq!(zero, Err(LedgerError::ZeroPosting));
    }

    #[test]
    fn each_currency_must_balance_on_its_own() {
        let jpy = Currency::parse("jpy").unwrap();
        let crossed = TransactionBuilder::new(header())
            .post(merchant_pending(), usd(), 100)
            .post(Account::External { livemode: false }, jpy, -100)
            .build();
        assert!(matches!(crossed, Err(LedgerError::Unbalanced { .. })));
    }

    #[test]
    fn extreme_amounts_do_not_overflow_the_check() {
        let built = TransactionBuilder::new(header())
            .post(merchant_pending(), usd(), i64::MAX)
            .post(merchant_pending(), usd(), i64::MAX)
            .post(Account::External { livemode: false }, usd(), i64::MIN)
            .post(Account::External { livemode: false }, usd(), i64::MIN)
            .build();
        assert!(matches!(
            built,
            Err(LedgerError::Unbalanced { sum_minor: -2, .. })
        ));
    }

    #[test]
    fn modes_do_not_mix_and_tokens_are_checked() {
        let mixed = TransactionBuilder::new(header())
            .post(merchant_pending(), usd(), 1)
            .post(Account::External { livemode: true }, usd(), -1)
            .build();
        assert!(mixed.is_err());
        let mut bad = header();
        bad.idempotency_key = "a|b".into();
        let built = TransactionBuilder::new(bad)
            .post(merchant_pending(), usd(), 1)
            .post(Account::External { livemode: false }, usd(), -1)
            .build();
        assert!(built.is_err());
    }

    #[test]
    fn tampered_or_respelled_canonical_text_is_refused() {
        let text = capture().canonical();
        for bad in [
            text.replace("|941", "|942"),
            text.replace("|941", "|+941"),
            text.replace("kind=capture", "kind=bonus"),
            text.replace("|usd|", "|USD|"),
            text.trim_end().to_owned(),
            text.replace("portcullis-ledger/v1", "portcullis-ledger/v0"),
        ] {
            assert!(LedgerTransaction::parse_canonical(&bad).is_err(), "{bad}");
        }
    }
}
