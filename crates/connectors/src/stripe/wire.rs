//! Stripe's objects as the `stripe` connector reads them (only the fields
//! it needs), and how they map to the connector interface's answers.

use crate::connector::{AttemptRecord, AttemptState, AuthorizeOutcome, CvcCheck, Decline};
use crate::connector::{ConnectorError, DeclineCode, RefundOutcome};
use portcullis_domain::money::Currency;
use serde::Deserialize;
use std::collections::HashMap;

/// The metadata key naming our attempt (`pa_…`) on a PaymentIntent.
pub const ATTEMPT_KEY: &str = "portcullis_attempt";
/// The metadata key naming our refund (`re_…`) on a Refund.
pub const REFUND_KEY: &str = "portcullis_refund";
/// Length of the authorization code made from a charge id when Stripe
/// gives none.
const AUTHORIZATION_CODE_CHARS: usize = 6;

/// `error` of a Stripe error answer.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub r#type: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ErrorAnswer {
    pub error: ErrorBody,
}

/// A PaymentIntent.
#[derive(Debug, Deserialize)]
pub struct Intent {
    pub id: String,
    pub status: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_received: i64,
    pub currency: String,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    #[serde(default)]
    pub latest_charge: Option<serde_json::Value>,
    #[serde(default)]
    pub last_payment_error: Option<ErrorBody>,
}

/// A Refund.
#[derive(Debug, Deserialize)]
pub struct RefundObject {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

/// A PaymentMethod: its id, and what the issuer said of the CVC.
#[derive(Debug, Deserialize)]
pub struct PaymentMethodObject {
    pub id: String,
    #[serde(default)]
    pub card: Option<serde_json::Value>,
}

impl PaymentMethodObject {
    pub fn cvc_check(&self) -> CvcCheck {
        let check = self
            .card
            .as_ref()
            .and_then(|card| card.pointer("/checks/cvc_check"))
            .and_then(|v| v.as_str());
        match check {
            Some("pass") => CvcCheck::Pass,
            Some("fail") => CvcCheck::Fail,
            Some("unchecked") => CvcCheck::Unchecked,
            _ => CvcCheck::Unavailable,
        }
    }
}

/// One page of a list.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

/// A Stripe error's `code` as ours; an unknown code is a card decline.
fn decline_code_of(code: Option<&str>) -> DeclineCode {
    match code {
        Some("expired_card") => DeclineCode::ExpiredCard,
        Some("incorrect_cvc" | "invalid_cvc") => DeclineCode::IncorrectCvc,
        Some("incorrect_number" | "invalid_number") => DeclineCode::IncorrectNumber,
        Some("processing_error") => DeclineCode::ProcessingError,
        Some("authentication_required") => DeclineCode::AuthenticationRequired,
        _ => DeclineCode::CardDeclined,
    }
}

/// Stripe's card error as our decline (`decline_code` kept, so failover
/// tells soft declines such as `issuer_not_available` from hard ones).
pub fn decline_of(error: &ErrorBody) -> Decline {
    let code = decline_code_of(error.code.as_deref());
    let decline_code = error
        .decline_code
        .clone()
        .or_else(|| (code == DeclineCode::CardDeclined).then(|| "generic_decline".to_owned()));
    Decline {
        code,
        decline_code,
        message: error
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "Your card was declined.".to_owned()),
        network_decline_code: None,
    }
}

/// What the institution asked for authentication answers: a server-side
/// confirmation cannot show the cardholder a challenge.
pub fn authentication_decline() -> Decline {
    Decline {
        code: DeclineCode::AuthenticationRequired,
        decline_code: Some("authentication_required".to_owned()),
        message: "Your card was declined. This transaction requires authentication.".to_owned(),
        network_decline_code: None,
    }
}

impl Intent {
    /// The id of its latest charge, expanded or not.
    fn charge_id(&self) -> Option<&str> {
        match self.latest_charge.as_ref()? {
            serde_json::Value::String(id) => Some(id),
            object => object.get("id")?.as_str(),
        }
    }

    /// The issuer's authorization code: the charge's
    /// `payment_method_details.card.authorization_code` when expanded,
    /// else the last characters of the charge id (an upstream gateway that
    /// does not show one).
    pub fn authorization_code(&self) -> Option<String> {
        let given = self
            .latest_charge
            .as_ref()
            .and_then(|c| c.pointer("/payment_method_details/card/authorization_code"))
            .and_then(|v| v.as_str());
        if let Some(code) = given {
            return Some(code.to_owned());
        }
        let id = self.charge_id()?;
        let tail: String = id
            .chars()
            .rev()
            .filter(char::is_ascii_alphanumeric)
            .take(AUTHORIZATION_CODE_CHARS)
            .collect();
        Some(tail.chars().rev().collect::<String>().to_ascii_uppercase())
    }

    /// Checks it is the payment asked for: amount and currency.
    pub fn check(&self, amount_minor: i64, currency: Currency) -> Result<(), ConnectorError> {
        if self.amount != amount_minor || !self.currency.eq_ignore_ascii_case(currency.as_str()) {
            return Err(ConnectorError::InvalidResponse(
                "payment intent differs from the request".into(),
            ));
        }
        Ok(())
    }

    /// The outcome of a confirmation that answered this intent. `None` for
    /// `requires_action` (the caller cancels it: see
    /// [`authentication_decline`]).
    pub fn outcome(&self, cvc_check: CvcCheck) -> Result<Option<AuthorizeOutcome>, ConnectorError> {
        let approved = |captured| {
            Ok(Some(AuthorizeOutcome::Approved {
                reference: self.id.clone(),
                captured,
                authorization_code: self.authorization_code().unwrap_or_default(),
                cvc_check,
                dispute: None,
            }))
        };
        match self.status.as_str() {
            "succeeded" => approved(true),
            "requires_capture" => approved(false),
            "requires_action" => Ok(None),
            "requires_payment_method" | "canceled" => match &self.last_payment_error {
                Some(error) => Ok(Some(AuthorizeOutcome::Declined(decline_of(error)))),
                None => Err(ConnectorError::InvalidResponse(
                    "payment intent not confirmed".into(),
                )),
            },
            // Still being processed: the outcome is not known yet (a
            // webhook or recovery's listing settles it).
            "processing" => Err(ConnectorError::Unavailable(
                "payment intent still processing".into(),
            )),
            _ => Err(ConnectorError::InvalidResponse(
                "unexpected payment intent status".into(),
            )),
        }
    }

    /// What recovery learns of our attempt from this intent.
    pub fn record(&self, currency: Currency) -> Result<AttemptRecord, ConnectorError> {
        let (state, decline) = match self.status.as_str() {
            "requires_capture" => (AttemptState::Authorized, None),
            "succeeded" => (AttemptState::Captured, None),
            "canceled" => (AttemptState::Voided, None),
            "requires_payment_method" => match &self.last_payment_error {
                Some(error) => (AttemptState::Declined, Some(decline_of(error))),
                None => (AttemptState::Voided, None),
            },
            "requires_action" | "requires_confirmation" => (AttemptState::Voided, None),
            _ => {
                return Err(ConnectorError::Unavailable(
                    "payment intent still processing".into(),
                ))
            }
        };
        let approved = matches!(state, AttemptState::Authorized | AttemptState::Captured);
        Ok(AttemptRecord {
            reference: self.id.clone(),
            state,
            amount_minor: self.amount,
            currency,
            captured_minor: if state == AttemptState::Captured {
                self.amount_received
            } else {
                0
            },
            authorization_code: if approved {
                self.authorization_code()
            } else {
                None
            },
            decline,
            dispute: None,
        })
    }
}

impl RefundObject {
    /// Stripe's refund status as ours; a canceled refund is one that failed
    /// with reason `canceled`.
    pub fn outcome(&self) -> Result<RefundOutcome, ConnectorError> {
        match self.status.as_str() {
            "succeeded" => Ok(RefundOutcome::Succeeded),
            "pending" | "requires_action" => Ok(RefundOutcome::Pending),
            "failed" => Ok(RefundOutcome::Failed {
                reason: self
                    .failure_reason
                    .clone()
                    .unwrap_or_else(|| "unknown".to_owned()),
            }),
            "canceled" => Ok(RefundOutcome::Failed {
                reason: "canceled".to_owned(),
            }),
            _ => Err(ConnectorError::InvalidResponse(
                "unexpected refund status".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(json: serde_json::Value) -> Intent {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_card_error_keeps_its_decline_code() {
        let error = ErrorBody {
            r#type: "card_error".into(),
            code: Some("card_declined".into()),
            decline_code: Some("insufficient_funds".into()),
            message: Some("Your card has insufficient funds.".into()),
        };
        let decline = decline_of(&error);
        assert_eq!(decline.code, DeclineCode::CardDeclined);
        assert_eq!(decline.decline_code.as_deref(), Some("insufficient_funds"));
        let soft = decline_of(&ErrorBody {
            code: Some("processing_error".into()),
            ..ErrorBody::default()
        });
        assert_eq!(soft.code, DeclineCode::ProcessingError);
        assert_eq!(soft.decline_code, None);
    }

    #[test]
    fn intents_map_to_outcomes_and_records() {
        let manual = intent(serde_json::json!({
            "id": "pi_1", "status": "requires_capture", "amount": 500,
            "currency": "usd", "latest_charge": "ch_3AbCdEf9"
        }));
        let outcome = manual.outcome(CvcCheck::Pass).unwrap().unwrap();
        assert!(matches!(
            outcome,
            AuthorizeOutcome::Approved { captured: false, ref authorization_code, .. }
                if authorization_code == "BCDEF9"
        ));
        assert_eq!(
            manual
                .record(Currency::parse("usd").unwrap())
                .unwrap()
                .state,
            AttemptState::Authorized
        );
        let processing = intent(serde_json::json!({
            "id": "pi_2", "status": "processing", "amount": 500, "currency": "usd"
        }));
        assert!(processing
            .outcome(CvcCheck::Unavailable)
            .unwrap_err()
            .outcome_is_unknown());
        let captured = intent(serde_json::json!({
            "id": "pi_3", "status": "succeeded", "amount": 500,
            "amount_received": 500, "currency": "usd", "latest_charge": "ch_x"
        }));
        let record = captured.record(Currency::parse("usd").unwrap()).unwrap();
        assert_eq!(
            (record.state, record.captured_minor),
            (AttemptState::Captured, 500)
        );
        assert!(captured
            .check(501, Currency::parse("usd").unwrap())
            .is_err());
    }
}
