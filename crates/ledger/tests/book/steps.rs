//! The random steps, applied to the book: each does what the gateway
//! would do (or nothing, when the step names nothing it can apply to).

use super::{currency, Book, Charge, Funds, Payout, PayoutStatus, Reversible, BRANDS};
use crate::Step;
use portcullis_ledger::fees::{fee_returned_minor, Priced, RefundedFee};
use portcullis_ledger::movements;
use portcullis_ledger::TransactionKind;

impl Book {
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
}
