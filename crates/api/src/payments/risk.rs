//! The risk check every payment passes before it reaches a connector: the
//! adapter between the payment path and `portcullis-risk`.
//!
//! [`assess`] gathers the payment's signals — amounts (USD by the rate
//! table), the card by BIN, brand, last four and fingerprint (never the
//! number), the customer's IP and where the IP database places it, the
//! velocity counters of the card, customer, email and IP, the card's and
//! customer's amount history, the card's previous location — scores them,
//! and evaluates the merchant's rules. Every read is an indexed lookup of
//! incremental state; nothing scans payments.
//!
//! The [`Assessment`] then says what to write: the attempt's counters and
//! stored signals go in the same write set as the payment's phase one (or
//! its refusal), the outcome's counters with its phase two.

use super::risk_signals::{self as gather, Facts};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use portcullis_domain::ids::new_id;
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_domain::payment_methods::PaymentMethod;
use portcullis_domain::sandbox_cards::{sandbox_risk, SandboxRisk};
use portcullis_risk::rules::Memberships;
use portcullis_risk::score::{self, Score};
use portcullis_risk::{Action, Decision, RuleSet, Signal, Signals};
use portcullis_store::{
    RiskMemory, RiskMetric, RiskSubjectKind, RiskWrite, Scope, SqlValue, Table, WriteOp,
    RISK_LIFETIME_BUCKET,
};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// The sandbox rule for the always-blocked test card (4100000000000019).
pub const ALWAYS_BLOCKED_RULE: &str = "block_if_card_always_blocked_in_sandbox";
/// The default rule that blocks the highest risk level.
pub const BLOCK_HIGHEST_RULE: &str = "rule_default_block_highest";

/// What one assessment is about.
pub struct RiskInput<'a> {
    pub intent: &'a PaymentIntent,
    /// The card PaymentMethod; `None` for a wallet payment, whose
    /// card-only signals stay unknown.
    pub method: Option<&'a PaymentMethod>,
    /// `card`, `alipay` or `wechat_pay`.
    pub payment_method_type: &'a str,
    /// The customer's IP: `customer_ip`, or the browser's on our hosted page.
    pub ip: Option<IpAddr>,
    /// The customer passed the authentication challenge for this payment.
    pub authenticated: bool,
    pub off_session: bool,
}

/// The verdict, what the charge's `outcome` shows, and what to write.
#[derive(Clone, Debug)]
pub struct Assessment {
    /// `normal`, `elevated` or `highest`.
    pub risk_level: &'static str,
    /// 0–100.
    pub risk_score: u8,
    pub action: Action,
    /// The rule that decided, if one did.
    pub rule: Option<String>,
    /// The signals that mattered, by name.
    pub signals: Map<String, Value>,
    facts: Facts,
    /// Every signal the assessment read, stored with its evaluation.
    assessed: Signals,
}

impl Assessment {
    /// The rule that blocks the payment, if one does.
    pub fn blocked_by(&self) -> Option<&str> {
        (self.action == Action::Block).then(|| self.rule.as_deref().unwrap_or(BLOCK_HIGHEST_RULE))
    }

    /// Writes for the attempt itself: its counters (unless `counted`
    /// already, as for the authorization after a challenge), the card's
    /// location, and the signals it was assessed with (for dry runs).
    pub fn attempt_writes(&self, intent_id: &str, counted: bool) -> ApiResult<Vec<WriteOp>> {
        let f = &self.facts;
        let mut ops = Vec::new();
        if !counted {
            for (kind, subject) in &f.subjects {
                ops.push(count(f, *kind, subject, RiskMetric::Total, f.hour(), 0));
                let Some(card) = f.card.clone() else { continue };
                if *kind != RiskSubjectKind::Card {
                    ops.push(WriteOp::Risk(RiskWrite::CardSeen {
                        scope: f.scope.clone(),
                        kind: *kind,
                        subject: subject.clone(),
                        bucket_hour: f.hour(),
                        card,
                    }));
                }
            }
            if let (Some(at), Some(card)) = (f.location, f.card.clone()) {
                ops.push(WriteOp::Risk(RiskWrite::Sighting {
                    scope: f.scope.clone(),
                    card,
                    latitude_micro: at.latitude_micro,
                    longitude_micro: at.longitude_micro,
                    seen_at: f.now,
                }));
            }
        }
        ops.push(self.evaluation(intent_id)?);
        if self.action == Action::Block {
            ops.extend(self.outcome_writes(false));
        }
        Ok(ops)
    }

    /// Writes for the acquirer's answer: authorized (with the lifetime
    /// amount history of the card and customer) or declined.
    pub fn outcome_writes(&self, authorized: bool) -> Vec<WriteOp> {
        outcome_counts(&self.facts, authorized)
    }

    fn evaluation(&self, intent_id: &str) -> ApiResult<WriteOp> {
        let id = new_id("rse");
        let body = StoredEvaluation {
            id: &id,
            payment_intent: intent_id,
            created: self.facts.now,
            action: self.action.as_str(),
            rule: self.rule.as_deref(),
            signals: self.assessed.snapshot(),
        };
        let body = serde_json::to_string(&body).map_err(|e| ApiError::internal(&e))?;
        Ok(WriteOp::Insert {
            table: Table::RiskEvaluations,
            scope: self.facts.scope.clone(),
            id,
            created: self.facts.now,
            columns: vec![("payment_intent", SqlValue::Text(intent_id.to_owned()))],
            body,
        })
    }
}

/// A stored risk evaluation (`risk_evaluations`, read by the dry run and
/// the dashboard's timeline), serialized straight from borrowed parts:
/// no copy of the signals into a new `Value` tree per payment. Fields in
/// the order the stored documents have always had.
#[derive(serde::Serialize)]
struct StoredEvaluation<'a> {
    id: &'a str,
    payment_intent: &'a str,
    created: i64,
    action: &'static str,
    rule: Option<&'a str>,
    signals: portcullis_risk::signals::Snapshot<'a>,
}

/// The counters of an outcome: authorized (with the lifetime amount
/// history of the card and customer) or declined.
fn outcome_counts(f: &Facts, authorized: bool) -> Vec<WriteOp> {
    let metric = if authorized {
        RiskMetric::Authorized
    } else {
        RiskMetric::Declined
    };
    let mut ops = Vec::new();
    for (kind, subject) in &f.subjects {
        ops.push(count(f, *kind, subject, metric, f.hour(), 0));
        let keeps_history = matches!(kind, RiskSubjectKind::Card | RiskSubjectKind::Customer);
        if authorized && keeps_history {
            let cents = f.usd_cents.unwrap_or(0);
            ops.push(count(
                f,
                *kind,
                subject,
                metric,
                RISK_LIFETIME_BUCKET,
                cents,
            ));
        }
    }
    ops
}

fn count(
    f: &Facts,
    kind: RiskSubjectKind,
    subject: &str,
    metric: RiskMetric,
    bucket_hour: i64,
    cents: i64,
) -> WriteOp {
    WriteOp::Risk(RiskWrite::Count {
        scope: f.scope.clone(),
        kind,
        subject: subject.to_owned(),
        metric,
        bucket_hour,
        count: 1,
        amount_usd_cents: cents,
    })
}

/// The authorized counters of a paid wallet payment (no card): its
/// customer's, receipt email's and IP's, as its assessment named them.
pub fn wallet_paid_writes(state: &AppState, scope: &Scope, intent: &PaymentIntent) -> Vec<WriteOp> {
    let email = intent.receipt_email.as_deref().map(str::to_ascii_lowercase);
    let ip = intent
        .customer_ip
        .as_deref()
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    let facts = Facts {
        scope: scope.clone(),
        subjects: gather::subjects(None, intent.customer.clone(), email, ip),
        card: None,
        usd_cents: gather::usd_cents(state, intent),
        location: None,
        now: state.now(),
    };
    outcome_counts(&facts, true)
}

/// Where an assessment reads the scope's past (velocity counters and the
/// card's last sighting) from.
#[derive(Clone, Copy)]
pub enum RiskPast<'a> {
    /// The store: the payment path, whatever else writes the scope.
    Store,
    /// What the scope's only writer applied in memory, the same writes
    /// the store gets: `portcullis seed`, which reads no counter back.
    Memory(&'a RiskMemory),
}

/// Assesses one payment attempt.
pub async fn assess(
    state: &AppState,
    scope: &Scope,
    input: &RiskInput<'_>,
) -> ApiResult<Assessment> {
    assess_from(state, scope, input, RiskPast::Store).await
}

/// Assesses one payment attempt against the past as `past` holds it.
pub async fn assess_from(
    state: &AppState,
    scope: &Scope,
    input: &RiskInput<'_>,
    past: RiskPast<'_>,
) -> ApiResult<Assessment> {
    let (mut signals, facts) = gather::gather(state, scope, input, past).await?;
    let sandbox = match input.method.and_then(|m| m.card.as_ref()) {
        Some(card) if !scope.livemode => sandbox_risk(&card.bin, &card.last4),
        _ => None,
    };
    let floor = match sandbox {
        Some(SandboxRisk::AlwaysBlocked) => 97,
        Some(SandboxRisk::Highest) => 85,
        Some(SandboxRisk::Elevated) => 65,
        None => 0,
    };
    let scored = score::score(&signals).at_least(floor);
    score::record(&mut signals, &scored);
    let decision = if sandbox == Some(SandboxRisk::AlwaysBlocked) {
        Decision {
            action: Action::Block,
            rule_id: Some(ALWAYS_BLOCKED_RULE.to_owned()),
            signals: vec![],
        }
    } else {
        let rules = crate::risk::rules::rule_set(state, scope).await?;
        let lists = memberships(state, scope, &rules, &signals).await?;
        rules.evaluate(&signals, &lists)
    };
    Ok(Assessment {
        risk_level: scored.level.as_str(),
        risk_score: scored.score,
        action: decision.action,
        signals: mattered(&signals, &decision, &scored),
        rule: decision.rule_id,
        assessed: signals,
        facts,
    })
}

/// The signals the deciding rule read and those that added to the score.
fn mattered(signals: &Signals, decision: &Decision, scored: &Score) -> Map<String, Value> {
    let mut out = Map::new();
    let named = decision
        .signals
        .iter()
        .chain(scored.factors.iter().map(|f| &f.signal));
    for signal in named.chain([Signal::RiskScore].iter()) {
        out.insert(signal.name().to_owned(), signals.get(*signal).to_json());
        // Impossible travel shows its evidence.
        if *signal == Signal::ImpossibleTravel {
            for evidence in [Signal::IpDistanceKm, Signal::IpSpeedKmh] {
                out.insert(evidence.name().to_owned(), signals.get(evidence).to_json());
            }
        }
    }
    out
}

/// Looks up, by id, each `(signal, list)` pair the rules test.
async fn memberships(
    state: &AppState,
    scope: &Scope,
    rules: &RuleSet,
    signals: &Signals,
) -> ApiResult<Memberships> {
    let mut held = Memberships::default();
    for (signal, alias) in rules.lists() {
        let portcullis_risk::SignalValue::Text(value) = signals.get(signal) else {
            continue;
        };
        let Some(list) = crate::risk::lists::by_alias(state, scope, &alias).await? else {
            continue;
        };
        if crate::risk::lists::contains(state, scope, &list, value).await? {
            held.insert(&alias, value);
        }
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_evaluation_has_the_bytes_of_the_old_tree() {
        let mut assessed = Signals::default();
        let mut known = [
            (Signal::IpCountry, portcullis_risk::SignalValue::text("DE")),
            (
                Signal::AmountInUsd,
                portcullis_risk::SignalValue::Number(1_500_000),
            ),
        ];
        // The old snapshot: the known signals in `Signal::ALL`'s order.
        known.sort_by_key(|(signal, _)| Signal::ALL.iter().position(|s| s == signal));
        let mut signals = Map::new();
        for (signal, value) in known {
            signals.insert(signal.name().into(), serde_json::to_value(&value).unwrap());
            assessed.set(signal, value);
        }
        for rule in [None, Some("block if :amount: > 100")] {
            let body = StoredEvaluation {
                id: "rse_1",
                payment_intent: "pi_1",
                created: 7,
                action: Action::Review.as_str(),
                rule,
                signals: assessed.snapshot(),
            };
            let old = serde_json::json!({
                "id": "rse_1", "payment_intent": "pi_1", "created": 7,
                "action": "review", "rule": rule, "signals": signals,
            });
            assert_eq!(serde_json::to_string(&body).unwrap(), old.to_string());
        }
    }
}
