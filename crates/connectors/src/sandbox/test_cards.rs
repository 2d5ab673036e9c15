//! The sandbox's test-card table (api-contract.md, "Test cards"): what the
//! full card number makes the acquirer do. Any number not listed is approved.
//!
//! The risk-test cards (`4100000000000019`, `4000000000004954`,
//! `4000000000009235`) are approved here on purpose: the gateway's risk engine
//! blocks or flags them before the acquirer is asked. `4242424242424241`
//! (`incorrect_number`) never gets here: `CardNumber::parse` refuses it.

use crate::connector::{Decline, DeclineCode};
use portcullis_domain::cards::CardNumber;
use serde::{Deserialize, Serialize};

/// What a card number makes the sandbox do at authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TestCard {
    /// Approved, with `after` deciding how captures and refunds behave.
    Approve(AfterApproval),
    /// Declined at once.
    Decline(DeclineKind),
    /// Asks for authentication unless `authenticated`; off session (no
    /// challenge possible) it declines with `authentication_required`; once
    /// authenticated it does `then`.
    Challenge(AfterChallenge),
}

/// How an approved card behaves afterwards. Stored with the attempt (and in
/// the journal), since the card number is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AfterApproval {
    Ordinary,
    /// `4000000000000259`: the capture is disputed as `fraudulent`.
    DisputedAsFraudulent,
    /// `4000000000007726`: refunds answer `pending`, settle to `succeeded`.
    RefundsSettleLater,
    /// `4000000000005126`: refunds answer `succeeded`, then fail with
    /// `expired_or_canceled_card`.
    RefundsFailLater,
}

/// What a challenge card does once the cardholder has authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterChallenge {
    Approve,
    DeclineInsufficientFunds,
}

/// The declines of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeclineKind {
    Generic,
    InsufficientFunds,
    LostCard,
    StolenCard,
    VelocityExceeded,
    ExpiredCard,
    IncorrectCvc,
    ProcessingError,
    AuthenticationRequired,
}

const DECLINED: &str = "Your card was declined.";

impl DeclineKind {
    /// Stripe's code, decline code and message for this decline.
    pub(crate) fn decline(self) -> Decline {
        let (code, decline_code, message) = match self {
            DeclineKind::Generic => (DeclineCode::CardDeclined, "generic_decline", DECLINED),
            DeclineKind::InsufficientFunds => (
                DeclineCode::CardDeclined,
                "insufficient_funds",
                "Your card has insufficient funds.",
            ),
            DeclineKind::LostCard => (DeclineCode::CardDeclined, "lost_card", DECLINED),
            DeclineKind::StolenCard => (DeclineCode::CardDeclined, "stolen_card", DECLINED),
            DeclineKind::VelocityExceeded => (
                DeclineCode::CardDeclined,
                "card_velocity_exceeded",
                "Your card was declined for making repeated attempts too frequently or exceeding its amount limit.",
            ),
            DeclineKind::ExpiredCard => (
                DeclineCode::ExpiredCard,
                "expired_card",
                "Your card has expired.",
            ),
            DeclineKind::IncorrectCvc => (
                DeclineCode::IncorrectCvc,
                "incorrect_cvc",
                "Your card's security code is incorrect.",
            ),
            DeclineKind::ProcessingError => (
                DeclineCode::ProcessingError,
                "processing_error",
                "An error occurred while processing your card. Try again in a little bit.",
            ),
            DeclineKind::AuthenticationRequired => (
                DeclineCode::AuthenticationRequired,
                "authentication_required",
                "Your card was declined. This transaction requires authentication.",
            ),
        };
        Decline {
            code,
            decline_code: Some(decline_code.to_owned()),
            message: message.to_owned(),
            network_decline_code: None,
        }
    }
}

/// The table, by full number. Numbers not listed are `Approve(Ordinary)`.
const TABLE: &[(&str, TestCard)] = &[
    ("4000000000000002", TestCard::Decline(DeclineKind::Generic)),
    (
        "4000000000009995",
        TestCard::Decline(DeclineKind::InsufficientFunds),
    ),
    ("4000000000009987", TestCard::Decline(DeclineKind::LostCard)),
    (
        "4000000000009979",
        TestCard::Decline(DeclineKind::StolenCard),
    ),
    (
        "4000000000006975",
        TestCard::Decline(DeclineKind::VelocityExceeded),
    ),
    (
        "4000000000000069",
        TestCard::Decline(DeclineKind::ExpiredCard),
    ),
    (
        "4000000000000127",
        TestCard::Decline(DeclineKind::IncorrectCvc),
    ),
    (
        "4000000000000119",
        TestCard::Decline(DeclineKind::ProcessingError),
    ),
    (
        "4000002500003155",
        TestCard::Challenge(AfterChallenge::Approve),
    ),
    (
        "4000002760003184",
        TestCard::Challenge(AfterChallenge::Approve),
    ),
    (
        "4000008260003178",
        TestCard::Challenge(AfterChallenge::DeclineInsufficientFunds),
    ),
    (
        "4000000000000259",
        TestCard::Approve(AfterApproval::DisputedAsFraudulent),
    ),
    (
        "4000000000007726",
        TestCard::Approve(AfterApproval::RefundsSettleLater),
    ),
    (
        "4000000000005126",
        TestCard::Approve(AfterApproval::RefundsFailLater),
    ),
];

impl TestCard {
    /// What `number` does. Reads the full number, compares it and keeps
    /// nothing of it.
    pub(crate) fn of(number: &CardNumber) -> TestCard {
        let digits = number.expose_digits();
        TABLE
            .iter()
            .find(|(listed, _)| *listed == digits)
            .map(|(_, card)| *card)
            .unwrap_or(TestCard::Approve(AfterApproval::Ordinary))
    }
}

/// What the test-card table answers to a card-network authorization
/// (ISO 8583, where no cardholder challenge is possible): `None` approves,
/// else the decline. Challenge cards decline `authentication_required`, as
/// they do off session. `portcullis acquirer-sim` answers by this.
pub fn network_decline(number: &CardNumber) -> Option<Decline> {
    match TestCard::of(number) {
        TestCard::Approve(_) => None,
        TestCard::Decline(kind) => Some(kind.decline()),
        TestCard::Challenge(_) => Some(DeclineKind::AuthenticationRequired.decline()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_number_is_a_valid_card_and_listed_once() {
        for (index, (number, _)) in TABLE.iter().enumerate() {
            assert!(CardNumber::parse(number).is_ok(), "{number}");
            assert!(
                TABLE[index + 1..].iter().all(|(other, _)| other != number),
                "{number} listed twice"
            );
        }
    }

    #[test]
    fn unlisted_numbers_are_approved() {
        for number in ["4242424242424242", "378282246310005", "4100000000000019"] {
            let card = CardNumber::parse(number).unwrap();
            assert_eq!(
                TestCard::of(&card),
                TestCard::Approve(AfterApproval::Ordinary)
            );
        }
    }
}
