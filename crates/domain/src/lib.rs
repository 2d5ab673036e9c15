//! The Portcullis domain: the nouns of a payment gateway and the rules that
//! bind them. This crate does no I/O and knows nothing of HTTP or SQL; values
//! here are constructed through `parse`/`new` functions, so an invalid value
//! cannot exist.

pub mod api_keys;
pub mod cards;
pub mod customers;
pub mod ids;
pub mod merchants;
pub mod metadata;
pub mod money;
pub mod search;

/// Seconds since the Unix epoch, the unit of every `created` field.
pub type UnixSeconds = i64;
