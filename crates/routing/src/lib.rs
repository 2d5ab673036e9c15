//! Portcullis routing: which of a merchant's card connector accounts takes a
//! payment, and why. Pure: the caller hands in the rules, the accounts and
//! the payment's attributes (and a random roll for splits); nothing here
//! does I/O or knows HTTP or SQL.
//!
//! - [`attributes`]: what a rule can ask of a payment ([`Payment`]).
//! - [`rules`]: the rule language (`route to ca_… if …`,
//!   `split ca_A 70, ca_B 30 if …`, `prefer ca_A, ca_B`), parsed with the
//!   risk rules' lexer, so errors name a line and column the same way.
//! - [`decide`]: the documented evaluation order, and the [`Decision`]
//!   every charge carries (`connector_account`, `decided_by`, `rule`,
//!   `candidates`).
//! - [`success_rate`]: Thompson sampling over each candidate's observed
//!   authorization rate, when no rule decides.
//! - [`breaker`]: the circuit breaker of a connector account (closed,
//!   open, half-open), over times the caller hands in.
//!
//! Builds on `portcullis-risk` for the lexer only (both sit on the domain
//! floor; risk knows nothing of routing).

pub mod attributes;
pub mod breaker;
pub mod decide;
pub mod rules;
pub mod success_rate;

pub use attributes::Payment;
pub use decide::{decide, Candidate, DecidedBy, Decision, StoredRule};
pub use rules::{RoutingRule, Target};
