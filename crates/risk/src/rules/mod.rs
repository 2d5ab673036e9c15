//! The rule language and its evaluation.
//!
//! A rule reads `ACTION if CONDITION`, for example
//! `block if :card_country: != :ip_country: and :amount_in_usd: > 500`.
//! [`Rule::parse`] builds the AST or a [`ParseError`] naming the line,
//! column and what was expected. A [`RuleSet`] evaluates its rules in a
//! fixed order — `request_3ds`, then `allow`, then `block`, then
//! `review`; within one action, in the order given — and the first rule
//! that fires decides.
//!
//! Conditions use three-valued logic: a comparison with an unknown signal
//! is unknown, `and`/`or`/`not` follow Kleene's tables, and a rule fires
//! only when its condition is true. So `block if :ip_country: != 'US'`
//! does not block a payment whose IP country is unknown.

pub mod lexer;
mod parser;

pub use lexer::{RULE_BYTES_MAX, TOKENS_MAX};

use crate::signals::{Signal, SignalValue, Signals};
use std::collections::HashSet;
use std::sync::Arc;

/// Most rules one merchant's set may hold.
pub const RULES_MAX: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Ask the customer to authenticate (3-D Secure) before authorizing.
    RequestThreeDs,
    /// Let the payment through: later block and review rules are skipped.
    Allow,
    /// Decline before any connector sees the payment.
    Block,
    /// Let the payment through and open a review.
    Review,
}

impl Action {
    /// Evaluation order: the position of each action.
    pub const ORDER: [Action; 4] = [
        Action::RequestThreeDs,
        Action::Allow,
        Action::Block,
        Action::Review,
    ];

    pub fn parse(word: &str) -> Option<Action> {
        Some(match word {
            "request_3ds" => Action::RequestThreeDs,
            "allow" => Action::Allow,
            "block" => Action::Block,
            "review" => Action::Review,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::RequestThreeDs => "request_3ds",
            Action::Allow => "allow",
            Action::Block => "block",
            Action::Review => "review",
        }
    }
}

/// A rule that could not be parsed, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: expected {expected}, found {found}")]
pub struct ParseError {
    /// 1-based.
    pub line: u32,
    /// 1-based, in characters.
    pub column: u32,
    pub expected: String,
    pub found: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    /// The comparison an operator token (`=`, `!=`, `<`, …) stands for.
    pub fn parse(op: &str) -> Cmp {
        match op {
            "!=" => Cmp::Ne,
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            ">" => Cmp::Gt,
            ">=" => Cmp::Ge,
            _ => Cmp::Eq,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    Signal(Signal),
    /// Micro-units.
    Number(i64),
    Text(String),
    Bool(bool),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Compare(Operand, Cmp, Operand),
    /// The signal's value is an item of the list with this alias.
    InList(Signal, String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    fn lists(&self, out: &mut Vec<(Signal, String)>) {
        match self {
            Expr::InList(signal, alias) => {
                if !out.iter().any(|(s, a)| s == signal && a == alias) {
                    out.push((*signal, alias.clone()));
                }
            }
            Expr::Not(inner) => inner.lists(out),
            Expr::And(terms) | Expr::Or(terms) => terms.iter().for_each(|t| t.lists(out)),
            Expr::Compare(..) => {}
        }
    }

    fn signals(&self, out: &mut Vec<Signal>) {
        let mut add = |s: Signal| {
            if !out.contains(&s) {
                out.push(s);
            }
        };
        match self {
            Expr::Compare(left, _, right) => {
                for operand in [left, right] {
                    if let Operand::Signal(s) = operand {
                        add(*s);
                    }
                }
            }
            Expr::InList(signal, _) => add(*signal),
            Expr::Not(inner) => inner.signals(out),
            Expr::And(terms) | Expr::Or(terms) => terms.iter().for_each(|t| t.signals(out)),
        }
    }
}

/// One parsed rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    pub condition: Expr,
    /// Each `:signal: in @alias` the condition tests.
    pub lists: Vec<(Signal, String)>,
}

impl Rule {
    pub fn parse(text: &str) -> Result<Rule, ParseError> {
        parser::parse(text)
    }

    /// The signals the condition reads, each once.
    pub fn signals(&self) -> Vec<Signal> {
        let mut out = Vec::new();
        self.condition.signals(&mut out);
        out
    }
}

/// Which `(list alias, value)` pairs hold: the caller looks up exactly
/// the pairs the rules' [`Rule::lists`] ask about.
#[derive(Clone, Debug, Default)]
pub struct Memberships {
    held: HashSet<(String, String)>,
}

impl Memberships {
    pub fn insert(&mut self, alias: &str, value: &str) {
        self.held.insert((alias.to_owned(), value.to_owned()));
    }

    pub fn contains(&self, alias: &str, value: &str) -> bool {
        // Allocation-free lookup would need a borrowed key type; the sets
        // are a handful of entries, so a scan is as quick.
        self.held.iter().any(|(a, v)| a == alias && v == value)
    }
}

/// What the rules decided, and which rule did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// `Allow` when no rule fired.
    pub action: Action,
    /// The id of the rule that fired.
    pub rule_id: Option<String>,
    /// The signals that rule read.
    pub signals: Vec<Signal>,
}

/// A merchant's enabled rules, ready to evaluate.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    /// Sorted by action order, stable within an action. Shared with the
    /// caller's cache of parsed rules, so building a set copies no AST.
    rules: Vec<(String, Arc<Rule>)>,
}

impl RuleSet {
    /// Orders `rules` for evaluation; at most [`RULES_MAX`] are kept.
    pub fn new(mut rules: Vec<(String, Arc<Rule>)>) -> Self {
        rules.truncate(RULES_MAX);
        rules.sort_by_key(|(_, rule)| rule.action);
        Self { rules }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every `(signal, alias)` pair the rules test membership of.
    pub fn lists(&self) -> Vec<(Signal, String)> {
        let mut out: Vec<(Signal, String)> = Vec::new();
        for (_, rule) in &self.rules {
            for pair in &rule.lists {
                if !out.contains(pair) {
                    out.push(pair.clone());
                }
            }
        }
        out
    }

    /// The first rule, in evaluation order, whose condition is true.
    /// `request_3ds` rules are skipped once the customer has authenticated.
    pub fn evaluate(&self, signals: &Signals, lists: &Memberships) -> Decision {
        let authenticated = *signals.get(Signal::IsAuthenticated) == SignalValue::Bool(true);
        for (id, rule) in &self.rules {
            if rule.action == Action::RequestThreeDs && authenticated {
                continue;
            }
            if eval(&rule.condition, signals, lists) == Some(true) {
                return Decision {
                    action: rule.action,
                    rule_id: Some(id.clone()),
                    signals: rule.signals(),
                };
            }
        }
        Decision {
            action: Action::Allow,
            rule_id: None,
            signals: vec![],
        }
    }
}

/// Whether one rule's condition holds: `Some(true)` fires it.
pub fn matches(rule: &Rule, signals: &Signals, lists: &Memberships) -> Option<bool> {
    eval(&rule.condition, signals, lists)
}

fn eval(expr: &Expr, signals: &Signals, lists: &Memberships) -> Option<bool> {
    match expr {
        Expr::Compare(left, cmp, right) => {
            compare(value(left, signals)?, *cmp, value(right, signals)?)
        }
        Expr::InList(signal, alias) => match signals.get(*signal) {
            SignalValue::Text(text) => Some(lists.contains(alias, text)),
            _ => None,
        },
        Expr::Not(inner) => eval(inner, signals, lists).map(|b| !b),
        Expr::And(terms) => all_of(terms.iter().map(|t| eval(t, signals, lists))),
        Expr::Or(terms) => any_of(terms.iter().map(|t| eval(t, signals, lists))),
    }
}

/// A borrowed operand value; `None` when unknown.
enum Val<'a> {
    Number(i64),
    Text(&'a str),
    Bool(bool),
}

fn value<'a>(operand: &'a Operand, signals: &'a Signals) -> Option<Val<'a>> {
    Some(match operand {
        Operand::Number(n) => Val::Number(*n),
        Operand::Text(t) => Val::Text(t),
        Operand::Bool(b) => Val::Bool(*b),
        Operand::Signal(s) => match signals.get(*s) {
            SignalValue::Unknown => return None,
            SignalValue::Number(n) => Val::Number(*n),
            SignalValue::Text(t) => Val::Text(t),
            SignalValue::Bool(b) => Val::Bool(*b),
        },
    })
}

fn compare(left: Val<'_>, cmp: Cmp, right: Val<'_>) -> Option<bool> {
    let ordering = match (left, right) {
        (Val::Number(a), Val::Number(b)) => a.cmp(&b),
        // Text compares case-insensitively: countries, emails and brands
        // are written either way.
        (Val::Text(a), Val::Text(b)) => {
            return equality(cmp, a.eq_ignore_ascii_case(b));
        }
        (Val::Bool(a), Val::Bool(b)) => return equality(cmp, a == b),
        _ => return None,
    };
    Some(cmp.holds(ordering))
}

impl Cmp {
    /// Whether `left.cmp(right) == ordering` satisfies this comparison.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Cmp::Eq => ordering == Equal,
            Cmp::Ne => ordering != Equal,
            Cmp::Lt => ordering == Less,
            Cmp::Le => ordering != Greater,
            Cmp::Gt => ordering == Greater,
            Cmp::Ge => ordering != Less,
        }
    }
}

/// Three-valued `and`: false if any term is false, else unknown if any is
/// unknown, else true.
pub fn all_of(terms: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    let mut all = Some(true);
    for term in terms {
        match term {
            Some(false) => return Some(false),
            None => all = None,
            Some(true) => {}
        }
    }
    all
}

/// Three-valued `or`: true if any term is true, else unknown if any is
/// unknown, else false.
pub fn any_of(terms: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    let mut any = Some(false);
    for term in terms {
        match term {
            Some(true) => return Some(true),
            None => any = None,
            Some(false) => {}
        }
    }
    any
}

fn equality(cmp: Cmp, equal: bool) -> Option<bool> {
    match cmp {
        Cmp::Eq => Some(equal),
        Cmp::Ne => Some(!equal),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
