//! Portcullis risk: what the gateway knows about a payment (its
//! [`signals`]), the radar-style [`rules`] language merchants write, the
//! transparent [`score`] model, and [`evaluate`](rules::RuleSet::evaluate),
//! which turns signals and rules into allow, review, challenge or block.
//!
//! This crate does no I/O and knows nothing of HTTP, SQL or card numbers:
//! a card reaches it as brand, BIN, last four and keyed fingerprint. The
//! caller gathers the signals (counters, lists, the IP database) and hands
//! them in; tables it needs (BINs, exchange rates) are parsed from text.

pub mod bins;
pub mod defaults;
pub mod geo;
pub mod rates;
pub mod rules;
pub mod score;
pub mod signals;

pub use rules::{Action, Decision, ParseError, Rule, RuleSet};
pub use score::{RiskLevel, Score};
pub use signals::{Signal, SignalValue, Signals};
