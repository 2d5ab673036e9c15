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

use crate::connector::{AuthorizeRequest, CardData, ConnectorError};
use portcullis_domain::cards::{CardExpiry, CardNumber, Cvc};
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

impl AuthorizeBody {
    /// The body of `request` (the card in clear: see the module docs).
    pub fn of(request: &AuthorizeRequest<'_>) -> AuthorizeBody {
        AuthorizeBody {
            attempt_id: request.attempt_id.to_owned(),
            merchant_id: request.merchant_id.to_owned(),
            amount_minor: request.amount_minor,
            currency: request.currency,
            card_number: request.card.number.expose_digits().to_owned(),
            exp_month: request.card.expiry.month(),
            exp_year: request.card.expiry.year(),
            cvc: request.card.cvc.map(|cvc| cvc.expose_digits().to_owned()),
            capture: request.capture,
            authenticated: request.authenticated,
            off_session: request.off_session,
        }
    }

    /// The card this body names, checked (`Refused` when it is not a card).
    pub fn card(&self) -> Result<ReceivedCard, ConnectorError> {
        let invalid = || ConnectorError::Refused("card data invalid".to_owned());
        let number = CardNumber::parse(&self.card_number).map_err(|_| invalid())?;
        let expiry = CardExpiry::from_stored(self.exp_month, self.exp_year).ok_or_else(invalid)?;
        let cvc = match self.cvc.as_deref() {
            None => None,
            Some(cvc) => Some(Cvc::parse(cvc, number.brand()).map_err(|_| invalid())?),
        };
        Ok(ReceivedCard {
            number,
            expiry,
            cvc,
        })
    }

    /// The request this body asks for, with its checked `card`.
    pub fn request<'a>(&'a self, card: &'a ReceivedCard) -> AuthorizeRequest<'a> {
        AuthorizeRequest {
            attempt_id: &self.attempt_id,
            merchant_id: &self.merchant_id,
            amount_minor: self.amount_minor,
            currency: self.currency,
            card: CardData {
                number: &card.number,
                expiry: card.expiry,
                cvc: card.cvc.as_ref(),
            },
            capture: self.capture,
            authenticated: self.authenticated,
            off_session: self.off_session,
        }
    }
}

/// A card received by an acquirer's server, as the domain's secret types.
pub struct ReceivedCard {
    pub number: CardNumber,
    pub expiry: CardExpiry,
    pub cvc: Option<Cvc>,
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
