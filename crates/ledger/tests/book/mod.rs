//! An in-memory book for the property test: it keeps the ledger's rules
//! (floors from the policy, hash chain, balances) the way the store does,
//! and tracks what the merchant should hold by plain counting. `steps`
//! applies the test's random steps to it.

mod steps;

use portcullis_domain::ids::MerchantId;
use portcullis_domain::money::Currency;
use portcullis_ledger::chain::{self, ChainHead};
use portcullis_ledger::fees::{FeeRule, FeeSchedule};
use portcullis_ledger::movements::Parties;
use portcullis_ledger::policy::{must_stay_non_negative, DisputeFee, MerchantPolicy};
use portcullis_ledger::transaction::TransactionHeader;
use portcullis_ledger::verify::{stored_form, StoredBalance, StoredEntry, Verifier};
use portcullis_ledger::{Account, Bucket, LedgerTransaction, TransactionKind};
use std::collections::{BTreeMap, HashMap, HashSet};

const CURRENCIES: [&str; 3] = ["usd", "jpy", "kwd"];
const BRANDS: [&str; 3] = ["visa", "amex", "jcb"];
const MERCHANTS: [&str; 2] = ["acct_a", "acct_b"];

pub struct Scenario {
    pub refund_returns_fee: bool,
    pub settlement_delay_s: i64,
}

struct Charge {
    merchant: usize,
    currency: usize,
    brand: usize,
    authorized: i64,
    captured: i64,
    fee: i64,
    fee_returned: i64,
    refunded: i64,
    disputed: bool,
}
struct Reversible {
    charge: usize,
    amount: i64,
    fee: i64,
    tx: LedgerTransaction,
    reversed: bool,
}
struct Funds {
    merchant: usize,
    currency: usize,
    net: i64,
    available_on: i64,
    settled: bool,
}
#[derive(PartialEq)]
enum PayoutStatus {
    Pending,
    Paid,
    Canceled,
}
struct Payout {
    merchant: usize,
    currency: usize,
    amount: i64,
    status: PayoutStatus,
}

/// What a merchant should hold in one currency, by counting.
#[derive(Default, Debug)]
struct Totals {
    captures: i64,
    refunds: i64,
    fees: i64,
    disputes: i64,
    payouts_paid: i64,
    payouts_open: i64,
    may_be_negative: bool,
}

pub struct Book {
    now: i64,
    serial: u64,
    policy: MerchantPolicy,
    head: ChainHead,
    entries: Vec<StoredEntry>,
    balances: BTreeMap<(Account, Currency), i64>,
    keys: HashSet<String>,
    charges: Vec<Charge>,
    refunds: Vec<Reversible>,
    disputes: Vec<Reversible>,
    funds: Vec<Funds>,
    payouts: Vec<Payout>,
    totals: HashMap<(usize, usize), Totals>,
}

fn currency(index: usize) -> Currency {
    Currency::parse(CURRENCIES[index]).unwrap()
}

fn rule(code: Option<&str>, brand: Option<&str>, basis_points: i64, fixed_minor: i64) -> FeeRule {
    FeeRule {
        currency: code.map(|c| Currency::parse(c).unwrap()),
        payment_method: None,
        card_brand: brand.map(str::to_owned),
        basis_points,
        fixed_minor,
    }
}

impl Book {
    pub fn new(scenario: Scenario) -> Self {
        let policy = MerchantPolicy {
            fees: FeeSchedule::new(vec![
                rule(None, None, 290, 0),
                rule(Some("usd"), None, 290, 30),
                rule(Some("jpy"), None, 360, 0),
                rule(Some("kwd"), None, 250, 100),
                rule(None, Some("amex"), 350, 0),
            ])
            .unwrap(),
            refund_returns_fee: scenario.refund_returns_fee,
            settlement_delay_s: scenario.settlement_delay_s,
            payout_delay_s: 0,
            dispute_fees: vec![
                DisputeFee {
                    currency: currency(0),
                    amount_minor: 1_500,
                },
                DisputeFee {
                    currency: currency(1),
                    amount_minor: 2_000,
                },
            ],
        };
        Self {
            now: 1_700_000_000,
            serial: 0,
            policy,
            head: ChainHead::genesis(),
            entries: vec![],
            balances: BTreeMap::new(),
            keys: HashSet::new(),
            charges: vec![],
            refunds: vec![],
            disputes: vec![],
            funds: vec![],
            payouts: vec![],
            totals: HashMap::new(),
        }
    }

    fn parties(&self, merchant: usize, currency_index: usize) -> Parties {
        Parties {
            merchant: MerchantId::parse(MERCHANTS[merchant]).unwrap(),
            livemode: false,
            currency: currency(currency_index),
            connector: "sandbox".into(),
        }
    }

    fn header(&mut self, kind: TransactionKind, source: &str) -> TransactionHeader {
        self.serial += 1;
        TransactionHeader {
            id: format!("ltx_{}", self.serial),
            idempotency_key: format!("{}:{source}:{}", kind.as_str(), self.serial),
            kind,
            source: source.to_owned(),
            created: self.now,
        }
    }

    /// Appends `tx` unless it would take a floored balance below zero, as the store does.
    fn post(&mut self, tx: LedgerTransaction) -> bool {
        for (account, currency) in must_stay_non_negative(&tx) {
            let after: i64 = tx
                .postings()
                .iter()
                .filter(|p| p.account == account && p.currency == currency)
                .map(|p| p.amount_minor)
                .sum::<i64>()
                + self
                    .balances
                    .get(&(account.clone(), currency))
                    .copied()
                    .unwrap_or(0);
            if after < 0 {
                return false;
            }
        }
        assert!(
            self.keys.insert(tx.idempotency_key().to_owned()),
            "keys are unique"
        );
        for posting in tx.postings() {
            let balance = self
                .balances
                .entry((posting.account.clone(), posting.currency))
                .or_default();
            *balance = balance
                .checked_add(posting.amount_minor)
                .expect("no overflow");
        }
        let (entry, head) = chain::append(&self.head, tx);
        self.entries.push(stored_form(&entry));
        self.head = head;
        true
    }

    fn totals(&mut self, merchant: usize, currency: usize) -> &mut Totals {
        self.totals.entry((merchant, currency)).or_default()
    }

    fn bucket_minor(&self, merchant: usize, currency_index: usize, bucket: Bucket) -> i64 {
        let account = Account::merchant(
            &MerchantId::parse(MERCHANTS[merchant]).unwrap(),
            false,
            bucket,
        );
        self.balances
            .get(&(account, currency(currency_index)))
            .copied()
            .unwrap_or(0)
    }

    pub fn available_minor(&self, merchant: usize, currency_index: usize) -> i64 {
        self.bucket_minor(merchant, currency_index, Bucket::Available)
    }

    pub fn check_invariants(&self) -> Result<(), String> {
        for entry in &self.entries {
            let mut sums: BTreeMap<&str, i128> = BTreeMap::new();
            for posting in &entry.postings {
                *sums.entry(&posting.currency).or_default() += i128::from(posting.amount_minor);
            }
            if let Some((currency, sum)) = sums.iter().find(|(_, sum)| **sum != 0) {
                return Err(format!(
                    "entry {} sums to {sum} in {currency}",
                    entry.sequence
                ));
            }
        }
        for merchant in 0..MERCHANTS.len() {
            for currency_index in 0..CURRENCIES.len() {
                self.check_merchant(merchant, currency_index)?;
            }
        }
        for (currency_index, code) in CURRENCIES.iter().enumerate() {
            let revenue = self
                .balances
                .get(&(
                    Account::FeeRevenue { livemode: false },
                    currency(currency_index),
                ))
                .copied()
                .unwrap_or(0);
            if revenue < 0 {
                return Err(format!("fee revenue in {code} is {revenue}"));
            }
        }
        let mut verifier = Verifier::new();
        for entry in &self.entries {
            verifier
                .check(entry)
                .map_err(|finding| finding.to_string())?;
        }
        let rows: Vec<StoredBalance> = self
            .balances
            .iter()
            .map(|((account, currency), balance)| StoredBalance {
                account: account.to_string(),
                currency: currency.to_string(),
                balance_minor: *balance,
            })
            .collect();
        verifier
            .finish(&self.head, &rows)
            .map(drop)
            .map_err(|finding| finding.to_string())
    }

    fn check_merchant(&self, merchant: usize, currency_index: usize) -> Result<(), String> {
        let pending = self.bucket_minor(merchant, currency_index, Bucket::Pending);
        let available = self.available_minor(merchant, currency_index);
        let reserved = self.bucket_minor(merchant, currency_index, Bucket::Reserved);
        let empty = Totals::default();
        let t = self
            .totals
            .get(&(merchant, currency_index))
            .unwrap_or(&empty);
        let held = t.captures - t.refunds - t.fees - t.disputes - t.payouts_paid;
        let at = format!("{} in {}", MERCHANTS[merchant], CURRENCIES[currency_index]);
        if pending + available + reserved != held {
            return Err(format!("{at}: pending {pending} + available {available} + reserved {reserved} != {held} ({t:?})"));
        }
        if pending + available != held - t.payouts_open {
            return Err(format!("{at}: pending + available != held − open payouts"));
        }
        let unsettled: i64 = self
            .funds
            .iter()
            .filter(|f| f.merchant == merchant && f.currency == currency_index && !f.settled)
            .map(|f| f.net)
            .sum();
        if pending != unsettled {
            return Err(format!(
                "{at}: pending {pending} != unsettled captures {unsettled}"
            ));
        }
        if pending < 0 || reserved < 0 || (available < 0 && !t.may_be_negative) {
            return Err(format!(
                "{at}: a negative balance the policy forbids ({pending}, {available}, {reserved})"
            ));
        }
        Ok(())
    }
}
