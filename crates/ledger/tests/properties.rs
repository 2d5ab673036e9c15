//! Random sequences of payments, partial captures, refunds (some failing),
//! disputes (some won), settlements and payouts (some canceled) run
//! against an in-memory book that keeps the ledger's rules. After every
//! step: every transaction's postings sum to zero per currency; each
//! merchant's balance equals captures − refunds − fees − disputes −
//! payouts; no balance is negative unless the policy allows it; and the
//! verifier accepts the chain and the balances.

mod book;

use book::{Book, Scenario};
use proptest::prelude::*;

#[derive(Clone, Debug)]
pub enum Step {
    Pay {
        merchant: usize,
        currency: usize,
        brand: usize,
        amount_minor: i64,
        manual: bool,
    },
    Capture {
        charge: usize,
        permille: i64,
    },
    Refund {
        charge: usize,
        permille: i64,
    },
    FailRefund {
        refund: usize,
    },
    Dispute {
        charge: usize,
    },
    WinDispute {
        dispute: usize,
    },
    Wait {
        seconds: i64,
    },
    Settle,
    Payout {
        merchant: usize,
        currency: usize,
        permille: i64,
    },
    PayPayout {
        payout: usize,
    },
    CancelPayout {
        payout: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..2usize, 0..3usize, 0..3usize, 1..2_000_000i64, any::<bool>()).prop_map(
            |(merchant, currency, brand, amount_minor, manual)| Step::Pay { merchant, currency, brand, amount_minor, manual }
        ),
        2 => (0..64usize, 1..=1000i64).prop_map(|(charge, permille)| Step::Capture { charge, permille }),
        3 => (0..64usize, 1..=1000i64).prop_map(|(charge, permille)| Step::Refund { charge, permille }),
        1 => (0..64usize).prop_map(|refund| Step::FailRefund { refund }),
        1 => (0..64usize).prop_map(|charge| Step::Dispute { charge }),
        1 => (0..64usize).prop_map(|dispute| Step::WinDispute { dispute }),
        2 => (0..200_000i64).prop_map(|seconds| Step::Wait { seconds }),
        2 => Just(Step::Settle),
        3 => (0..2usize, 0..3usize, 1..=1500i64).prop_map(|(merchant, currency, permille)| Step::Payout { merchant, currency, permille }),
        1 => (0..64usize).prop_map(|payout| Step::PayPayout { payout }),
        1 => (0..64usize).prop_map(|payout| Step::CancelPayout { payout }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_step_keeps_the_books_balanced_and_verifiable(
        refund_returns_fee in any::<bool>(),
        settlement_delay_s in 0..300_000i64,
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let mut book = Book::new(Scenario { refund_returns_fee, settlement_delay_s });
        for step in &steps {
            book.apply(step);
            if let Err(why) = book.check_invariants() {
                prop_assert!(false, "after {:?}: {}", step, why);
            }
        }
    }
}

#[test]
fn a_payout_above_the_available_balance_is_refused() {
    let mut book = Book::new(Scenario {
        refund_returns_fee: false,
        settlement_delay_s: 0,
    });
    book.apply(&Step::Pay {
        merchant: 0,
        currency: 0,
        brand: 0,
        amount_minor: 10_000,
        manual: false,
    });
    book.apply(&Step::Settle);
    let available = book.available_minor(0, 0);
    assert_eq!(available, 10_000 - 320); // 2.9% + 30 cents
    assert!(!book.try_payout(0, 0, available + 1));
    assert!(book.try_payout(0, 0, available));
    assert_eq!(book.available_minor(0, 0), 0);
    book.check_invariants().unwrap();
}
