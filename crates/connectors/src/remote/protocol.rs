//! The sandbox acquirer's HTTP/JSON protocol: one `POST` per [`Connector`]
//! call, each body a struct below, each answer a [`Reply`]: `{"ok": …}` or
//! `{"error": {"kind": …, "message": …}}` (a [`ConnectorError`]).
//!
//! The authorize body carries the card number and CVC in clear: this is the
//! connector talking to its acquirer, the one place they travel, and only
//! to a loopback address. Neither side logs a body.
//!
//! [`Connector`]: crate::Connector
//! [`ConnectorError`]: crate::ConnectorError

use crate::connector::ConnectorError;
use portcullis_domain::money::Currency;
use serde::{Deserialize, Serialize};

pub const AUTHORIZE_PATH: &str = "/authorize";
pub const CAPTURE_PATH: &str = "/capture";
pub const VOID_PATH: &str = "/void";
pub const REFUND_PATH: &str = "/refund";
pub const REFUND_STATUS_PATH: &str = "/refund_status";
pub const CANCEL_REFUND_PATH: &str = "/cancel_refund";
pub const QUERY_PATH: &str = "/query";
/// `GET`: every attempt the acquirer remembers ([`AttemptListing`]).
pub const ATTEMPTS_PATH: &str = "/attempts";

/// An answer: the call's result or the connector error it met.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    Ok(T),
    Error(ConnectorError),
}

impl<T> From<Result<T, ConnectorError>> for Reply<T> {
    fn from(result: Result<T, ConnectorError>) -> Self {
        match result {
            Ok(value) => Reply::Ok(value),
            Err(err) => Reply::Error(err),
        }
    }
}

impl<T> From<Reply<T>> for Result<T, ConnectorError> {
    fn from(reply: Reply<T>) -> Self {
        match reply {
            Reply::Ok(value) => Ok(value),
            Reply::Error(err) => Err(err),
        }
    }
}

/// `POST /authorize`. No `Debug`: it holds the card number and CVC.
#[derive(Serialize, Deserialize)]
pub struct AuthorizeBody {
    pub attempt_id: String,
    pub merchant_id: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub card_number: String,
    pub exp_month: u8,
    pub exp_year: u16,
    pub cvc: Option<String>,
    pub capture: bool,
    pub authenticated: bool,
    pub off_session: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CaptureBody {
    pub reference: String,
    pub amount_minor: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ReferenceBody {
    pub reference: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RefundBody {
    pub reference: String,
    pub refund_id: String,
    pub amount_minor: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RefundIdBody {
    pub refund_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AttemptIdBody {
    pub attempt_id: String,
}

/// One attempt of `GET /attempts`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AttemptListing {
    pub attempt_id: String,
    pub record: crate::connector::AttemptRecord,
}
