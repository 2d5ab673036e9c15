//! The simulator's journal entries (one JSON line each, written and synced
//! before the answer that reports them) and the state they rebuild.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A change at the acquirer. No card number: PANs are masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    /// An approved 0100 (held) or 0200 purchase (`captured`).
    Approval {
        at: u64,
        date: String,
        mti: String,
        rrn: String,
        stan: String,
        transmission: String,
        terminal_id: String,
        card_acceptor_id: String,
        masked_pan: String,
        amount: i64,
        currency: String,
        auth_code: String,
        captured: bool,
    },
    /// A 0220 completion of an approved 0100.
    Completion {
        at: u64,
        date: String,
        rrn: String,
        stan: String,
        amount: i64,
    },
    /// A 0400 that released an approval (or undid a purchase).
    Reversal {
        at: u64,
        date: String,
        rrn: String,
        stan: String,
    },
    /// A 0200 refund (processing code 200000) of a captured transaction.
    Refund {
        at: u64,
        date: String,
        rrn: String,
        original_rrn: String,
        stan: String,
        amount: i64,
    },
}

/// Where an approved transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Authorized,
    Captured { amount: i64 },
    Reversed,
}

/// An approved transaction, as the journal tells it.
#[derive(Clone, Debug)]
pub struct Approved {
    pub approval: Entry,
    pub amount: i64,
    pub standing: Standing,
    pub refunded: i64,
}

/// The acquirer's memory: approvals by RRN, the (STAN, DE 7) pairs that
/// name them in DE 90, and refunds by their own RRN.
#[derive(Default)]
pub struct Ledger {
    pub approved: HashMap<String, Approved>,
    pub by_original: HashMap<(String, String), String>,
    pub refunds: HashMap<String, Entry>,
}

impl Ledger {
    pub fn apply(&mut self, entry: &Entry) {
        match entry {
            Entry::Approval {
                rrn,
                stan,
                transmission,
                amount,
                captured,
                ..
            } => {
                let standing = if *captured {
                    Standing::Captured { amount: *amount }
                } else {
                    Standing::Authorized
                };
                self.by_original
                    .insert((stan.clone(), transmission.clone()), rrn.clone());
                self.approved.insert(
                    rrn.clone(),
                    Approved {
                        approval: entry.clone(),
                        amount: *amount,
                        standing,
                        refunded: 0,
                    },
                );
            }
            Entry::Completion { rrn, amount, .. } => {
                if let Some(approved) = self.approved.get_mut(rrn) {
                    approved.standing = Standing::Captured { amount: *amount };
                }
            }
            Entry::Reversal { rrn, .. } => {
                if let Some(approved) = self.approved.get_mut(rrn) {
                    approved.standing = Standing::Reversed;
                }
            }
            Entry::Refund {
                rrn,
                original_rrn,
                amount,
                ..
            } => {
                if let Some(approved) = self.approved.get_mut(original_rrn) {
                    approved.refunded = approved.refunded.saturating_add(*amount);
                }
                self.refunds.insert(rrn.clone(), entry.clone());
            }
        }
    }

    /// The RRN a request names: its DE 37 if known, else its DE 90's
    /// (STAN, DE 7).
    pub fn original_rrn(
        &self,
        rrn: Option<&str>,
        original: Option<(String, String)>,
    ) -> Option<String> {
        if let Some(rrn) = rrn.filter(|rrn| self.approved.contains_key(*rrn)) {
            return Some(rrn.to_owned());
        }
        original.and_then(|key| self.by_original.get(&key).cloned())
    }
}
