//! Which account takes a payment, in the documented order:
//!
//! 1. The candidates are the accounts that may take it: enabled, listing
//!    its card brand and currency (or listing none), in its mode; ordered
//!    by `priority` (smaller first), then by creation, then id.
//! 2. Rules are read oldest first. The first `route` or `split` rule whose
//!    condition holds (an unknown attribute never holds) and that names a
//!    candidate decides: `route` its account (`decided_by: "rule"`),
//!    `split` one of its candidate accounts drawn by weight
//!    (`decided_by: "split"`; a named account that cannot take the
//!    payment is left out and the others' weights drawn among). A rule
//!    naming no candidate is passed over.
//! 3. The first `prefer` rule that holds puts its candidate accounts, in
//!    its order, before the others: that is the failover order. It decides
//!    nothing by itself.
//! 4. When no rule decided, the first candidate takes the payment
//!    (`decided_by: "default"`).
//!
//! The decision lists every candidate, the chosen one first and then the
//! failover order.

use crate::attributes::Payment;
use crate::rules::{RoutingRule, Target};
use serde::Serialize;

/// A connector account routing may choose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// `ca_…`.
    pub id: String,
    pub priority: u16,
    pub created: i64,
    /// It may take this payment (enabled; brand, currency and mode served).
    pub serves: bool,
}

/// A merchant's rule with its id (`rr_…`), in evaluation order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRule {
    pub id: String,
    pub rule: RoutingRule,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    Rule,
    Split,
    SuccessRate,
    Failover,
    Default,
}

impl DecidedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Rule => "rule",
            DecidedBy::Split => "split",
            DecidedBy::SuccessRate => "success_rate",
            DecidedBy::Failover => "failover",
            DecidedBy::Default => "default",
        }
    }
}

/// What routing decided, as every charge shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// `None` when no account may take the payment.
    pub connector_account: Option<String>,
    pub decided_by: DecidedBy,
    /// The rule that decided (or, for `default`, the `prefer` rule that
    /// ordered the candidates).
    pub rule: Option<String>,
    /// The chosen account first, then the failover order.
    pub candidates: Vec<String>,
}

/// Decides for `payment`. `roll` is a uniform draw from 0 to 99 (only a
/// `split` reads it).
pub fn decide(
    rules: &[StoredRule],
    accounts: &[Candidate],
    payment: &Payment,
    roll: u8,
) -> Decision {
    let mut ordered: Vec<&Candidate> = accounts.iter().filter(|a| a.serves).collect();
    ordered.sort_by(|a, b| (a.priority, a.created, &a.id).cmp(&(b.priority, b.created, &b.id)));
    let serving: Vec<&str> = ordered.iter().map(|a| a.id.as_str()).collect();
    let mut preferred: Option<(&StoredRule, Vec<&str>)> = None;
    for stored in rules {
        if stored
            .rule
            .condition
            .as_ref()
            .is_some_and(|c| c.holds(payment) != Some(true))
        {
            continue;
        }
        let chosen = match &stored.rule.target {
            Target::Route(account) => serving
                .contains(&account.as_str())
                .then_some((account.as_str(), DecidedBy::Rule)),
            Target::Split(weights) => {
                draw(weights, &serving, roll).map(|account| (account, DecidedBy::Split))
            }
            Target::Prefer(accounts) => {
                if preferred.is_none() {
                    let named = accounts
                        .iter()
                        .map(String::as_str)
                        .filter(|a| serving.contains(a))
                        .collect();
                    preferred = Some((stored, named));
                }
                None
            }
        };
        if let Some((account, decided_by)) = chosen {
            let order = failover_order(&serving, preferred.as_ref().map(|(_, p)| p.as_slice()));
            return Decision {
                connector_account: Some(account.to_owned()),
                decided_by,
                rule: Some(stored.id.clone()),
                candidates: first_then(account, &order),
            };
        }
    }
    let order = failover_order(&serving, preferred.as_ref().map(|(_, p)| p.as_slice()));
    Decision {
        connector_account: order.first().map(|a| (*a).to_owned()),
        decided_by: DecidedBy::Default,
        rule: preferred.map(|(stored, _)| stored.id.clone()),
        candidates: order.iter().map(|a| (*a).to_owned()).collect(),
    }
}

/// The split's account for `roll`, among those that serve.
fn draw<'a>(weights: &'a [(String, u8)], serving: &[&str], roll: u8) -> Option<&'a str> {
    let eligible: Vec<(&str, u32)> = weights
        .iter()
        .filter(|(account, _)| serving.contains(&account.as_str()))
        .map(|(account, weight)| (account.as_str(), u32::from(*weight)))
        .collect();
    let total: u32 = eligible.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return None;
    }
    // Scaled to the weights left: 0..100 onto 0..total.
    let mut point = u32::from(roll.min(99)) * total / 100;
    for (account, weight) in &eligible {
        if point < *weight {
            return Some(account);
        }
        point -= weight;
    }
    eligible.last().map(|(account, _)| *account)
}

fn failover_order<'a>(serving: &[&'a str], preferred: Option<&[&'a str]>) -> Vec<&'a str> {
    let mut order: Vec<&str> = preferred.unwrap_or_default().to_vec();
    order.extend(
        serving
            .iter()
            .filter(|a| !order.contains(a))
            .copied()
            .collect::<Vec<_>>(),
    );
    order
}

fn first_then(first: &str, order: &[&str]) -> Vec<String> {
    std::iter::once(first)
        .chain(order.iter().copied().filter(|a| *a != first))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests;
