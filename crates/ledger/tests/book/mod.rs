//! An in-memory book for the property test: it keeps the ledger's rules
//! (floors from the policy, hash chain, balances) the way the store does,
//! and tracks what the merchant should hold by plain counting.

use crate::Step;
use portcullis_domain::ids::MerchantId;
use portcullis_domain::money::Currency;
use portcullis_ledger::chain::{self, ChainHead};
use portcullis_ledger::fees::{fee_returned_minor, FeeRule, FeeSchedule, Priced, RefundedFee};
use portcullis_ledger::movements::{self, Parties};
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

    pub fn apply(&mut self, step: &Step) {
        match *step {
            Step::Pay {
                merchant,
                currency,
                brand,
                amount_minor,
                manual,
            } => {
                self.charges.push(Charge {
                    merchant,
                    currency,
                    brand,
                    authorized: amount_minor,
                    captured: 0,
                    fee: 0,
                    fee_returned: 0,
                    refunded: 0,
                    disputed: false,
                });
                if !manual {
                    self.capture(self.charges.len() - 1, amount_minor);
                }
            }
            Step::Capture { charge, permille } => {
                if let Some(index) = self
                    .pick(self.charges.len(), charge)
                    .filter(|&i| self.charges[i].captured == 0)
                {
                    let amount = (self.charges[index].authorized * permille / 1000).max(1);
                    self.capture(index, amount);
                }
            }
            Step::Refund { charge, permille } => self.refund(charge, permille),
            Step::FailRefund { refund } => self.reverse_refund(refund),
            Step::Dispute { charge } => self.dispute(charge),
            Step::WinDispute { dispute } => self.win_dispute(dispute),
            Step::Wait { seconds } => self.now += seconds,
            Step::Settle => self.settle(),
            Step::Payout {
                merchant,
                currency,
                permille,
            } => {
                let available = self.available_minor(merchant, currency);
                let amount = if available > 0 {
                    (available * permille / 1000).max(1)
                } else {
                    permille
                };
                let paid = self.try_payout(merchant, currency, amount);
                assert_eq!(
                    paid,
                    amount <= available,
                    "a payout succeeds exactly when funds are available"
                );
            }
            Step::PayPayout { payout } => self.end_payout(payout, true),
            Step::CancelPayout { payout } => self.end_payout(payout, false),
        }
    }

    fn pick(&self, len: usize, index: usize) -> Option<usize> {
        (len > 0).then(|| index % len)
    }

    fn capture(&mut self, index: usize, amount: i64) {
        let (merchant, currency_index, brand) = (
            self.charges[index].merchant,
            self.charges[index].currency,
            self.charges[index].brand,
        );
        let priced = Priced {
            amount_minor: amount,
            currency: currency(currency_index),
            payment_method: "card",
            card_brand: Some(BRANDS[brand]),
        };
        let fee = self.policy.fees.fee_minor(&priced).unwrap();
        let header = self.header(TransactionKind::Capture, &format!("ch_{index}"));
        let tx = movements::capture(header, &self.parties(merchant, currency_index), amount, fee)
            .unwrap();
        assert!(self.post(tx));
        let charge = &mut self.charges[index];
        (charge.captured, charge.fee) = (amount, fee);
        if amount > fee {
            let available_on = self.now + self.policy.settlement_delay_s;
            self.funds.push(Funds {
                merchant,
                currency: currency_index,
                net: amount - fee,
                available_on,
                settled: false,
            });
        }
        let totals = self.totals(merchant, currency_index);
        totals.captures += amount;
        totals.fees += fee;
    }

    fn refund(&mut self, charge: usize, permille: i64) {
        let Some(index) = self.pick(self.charges.len(), charge) else {
            return;
        };
        let c = &self.charges[index];
        let refundable = c.captured - c.refunded;
        if refundable <= 0 {
            return;
        }
        let amount = (refundable * permille / 1000).max(1);
        let fee_back = if self.policy.refund_returns_fee {
            fee_returned_minor(RefundedFee {
                fee_minor: c.fee,
                fee_returned_minor: c.fee_returned,
                captured_minor: c.captured,
                refunded_after_minor: c.refunded + amount,
            })
            .unwrap()
        } else {
            0
        };
        let (merchant, currency_index) = (c.merchant, c.currency);
        let header = self.header(
            TransactionKind::Refund,
            &format!("re_{}", self.refunds.len()),
        );
        let tx = movements::refund(
            header,
            &self.parties(merchant, currency_index),
            amount,
            fee_back,
        )
        .unwrap();
        assert!(self.post(tx.clone()), "refunds may overdraw available");
        self.charges[index].refunded += amount;
        self.charges[index].fee_returned += fee_back;
        self.refunds.push(Reversible {
            charge: index,
            amount,
            fee: fee_back,
            tx,
            reversed: false,
        });
        let totals = self.totals(merchant, currency_index);
        totals.refunds += amount;
        totals.fees -= fee_back;
        totals.may_be_negative = true;
    }

    fn reverse_refund(&mut self, refund: usize) {
        let Some(index) = self
            .pick(self.refunds.len(), refund)
            .filter(|&i| !self.refunds[i].reversed)
        else {
            return;
        };
        let header = self.header(TransactionKind::RefundFailure, &format!("re_{index}"));
        let tx = movements::reversal(header, &self.refunds[index].tx).unwrap();
        assert!(self.post(tx));
        let r = &mut self.refunds[index];
        r.reversed = true;
        let (charge, amount, fee) = (r.charge, r.amount, r.fee);
        self.charges[charge].refunded -= amount;
        self.charges[charge].fee_returned -= fee;
        let (merchant, currency_index) =
            (self.charges[charge].merchant, self.charges[charge].currency);
        let totals = self.totals(merchant, currency_index);
        totals.refunds -= amount;
        totals.fees += fee;
    }

    fn dispute(&mut self, charge: usize) {
        let Some(index) = self.pick(self.charges.len(), charge) else {
            return;
        };
        let c = &self.charges[index];
        if c.captured == 0 || c.disputed {
            return;
        }
        let (merchant, currency_index, amount) = (c.merchant, c.currency, c.captured);
        let fee = self.policy.dispute_fee_minor(currency(currency_index));
        let header = self.header(
            TransactionKind::Dispute,
            &format!("dp_{}", self.disputes.len()),
        );
        let tx = movements::dispute(header, &self.parties(merchant, currency_index), amount, fee)
            .unwrap();
        assert!(self.post(tx.clone()), "disputes may overdraw available");
        self.charges[index].disputed = true;
        self.disputes.push(Reversible {
            charge: index,
            amount,
            fee,
            tx,
            reversed: false,
        });
        let totals = self.totals(merchant, currency_index);
        totals.disputes += amount;
        totals.fees += fee;
        totals.may_be_negative = true;
    }

    fn win_dispute(&mut self, dispute: usize) {
        let Some(index) = self
            .pick(self.disputes.len(), dispute)
            .filter(|&i| !self.disputes[i].reversed)
        else {
            return;
        };
        let header = self.header(TransactionKind::DisputeWon, &format!("dp_{index}"));
        let tx = movements::reversal(header, &self.disputes[index].tx).unwrap();
        assert!(self.post(tx));
        let d = &mut self.disputes[index];
        d.reversed = true;
        let (charge, amount, fee) = (d.charge, d.amount, d.fee);
        let (merchant, currency_index) =
            (self.charges[charge].merchant, self.charges[charge].currency);
        let totals = self.totals(merchant, currency_index);
        totals.disputes -= amount;
        totals.fees -= fee;
    }

    fn settle(&mut self) {
        for index in 0..self.funds.len() {
            let f = &self.funds[index];
            if f.settled || f.available_on > self.now {
                continue;
            }
            let (merchant, currency_index, net) = (f.merchant, f.currency, f.net);
            let header = self.header(TransactionKind::Settlement, &format!("txn_{index}"));
            let tx = movements::settlement(header, &self.parties(merchant, currency_index), net)
                .unwrap();
            assert!(self.post(tx), "pending always holds what is settled");
            self.funds[index].settled = true;
        }
    }

    pub fn try_payout(&mut self, merchant: usize, currency_index: usize, amount: i64) -> bool {
        let header = self.header(
            TransactionKind::Payout,
            &format!("po_{}", self.payouts.len()),
        );
        let tx =
            movements::payout(header, &self.parties(merchant, currency_index), amount).unwrap();
        if !self.post(tx) {
            return false;
        }
        self.payouts.push(Payout {
            merchant,
            currency: currency_index,
            amount,
            status: PayoutStatus::Pending,
        });
        self.totals(merchant, currency_index).payouts_open += amount;
        true
    }

    fn end_payout(&mut self, payout: usize, paid: bool) {
        let Some(index) = self
            .pick(self.payouts.len(), payout)
            .filter(|&i| self.payouts[i].status == PayoutStatus::Pending)
        else {
            return;
        };
        let (merchant, currency_index, amount) = (
            self.payouts[index].merchant,
            self.payouts[index].currency,
            self.payouts[index].amount,
        );
        let kind = if paid {
            TransactionKind::PayoutPaid
        } else {
            TransactionKind::PayoutCanceled
        };
        let header = self.header(kind, &format!("po_{index}"));
        let parties = self.parties(merchant, currency_index);
        let tx = if paid {
            movements::payout_paid(header, &parties, amount)
        } else {
            movements::payout_canceled(header, &parties, amount)
        };
        assert!(self.post(tx.unwrap()));
        self.payouts[index].status = if paid {
            PayoutStatus::Paid
        } else {
            PayoutStatus::Canceled
        };
        let totals = self.totals(merchant, currency_index);
        totals.payouts_open -= amount;
        if paid {
            totals.payouts_paid += amount;
        }
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
        for currency_index in 0..CURRENCIES.len() {
            let revenue = self
                .balances
                .get(&(
                    Account::FeeRevenue { livemode: false },
                    currency(currency_index),
                ))
                .copied()
                .unwrap_or(0);
            if revenue < 0 {
                return Err(format!(
                    "fee revenue in {} is {revenue}",
                    CURRENCIES[currency_index]
                ));
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
