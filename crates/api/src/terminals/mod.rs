//! Terminals (POS / IoT) that pay through the gateway over ISO 8583.
//!
//! - [`registry`]: registered terminals and their sealed MAC keys
//!   (`portcullis terminal create/list/revoke`).
//! - [`listener`]: the TCP listener of `serve --iso8583-listen`.
//! - [`messages`]: one message from decode to MACed answer.
//! - [`payments`]: a 0100/0200 as a `card_present` PaymentIntent through
//!   the API's own payment path; a 0400 as a void or a refund.
//! - [`completions`]: a 0220 completion advice as the capture of the 0100
//!   it names by DE 90.
//! - [`refunds`]: a 0200 with processing code 200000 (DE 90 naming the
//!   purchase) as a refund of it.
//! - [`transactions`]: what each terminal was answered, in the database,
//!   so repeats answer the same on every instance and after restarts.
//!
//! Invariant: no card number, track 2 or PIN block is logged or stored
//! outside the vault; the PIN block is never read at all.

pub mod completions;
pub mod listener;
pub mod messages;
pub mod payments;
pub mod refunds;
pub mod registry;
pub mod transactions;

pub use listener::{serve, Wire};
