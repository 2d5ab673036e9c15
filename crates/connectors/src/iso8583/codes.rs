//! DE 39 response codes and Stripe's error codes: one table, read both ways
//! (the connector maps an acquirer's answer to a [`Decline`];
//! `portcullis acquirer-sim` and the terminal listener map a decline to the
//! code they answer).

use crate::connector::{Decline, DeclineCode};
use portcullis_iso8583::fields::response;

struct Row {
    code: &'static str,
    error: DeclineCode,
    decline_code: &'static str,
    message: &'static str,
}

const DECLINED: &str = "Your card was declined.";

const fn row(
    code: &'static str,
    error: DeclineCode,
    decline_code: &'static str,
    message: &'static str,
) -> Row {
    Row {
        code,
        error,
        decline_code,
        message,
    }
}

/// The first row for a decline code is the one answered for it.
const TABLE: &[Row] = &[
    row(response::DO_NOT_HONOUR, DeclineCode::CardDeclined, "generic_decline", DECLINED),
    row(
        response::INVALID_CARD_NUMBER,
        DeclineCode::IncorrectNumber,
        "incorrect_number",
        "Your card number is incorrect.",
    ),
    row(
        response::INSUFFICIENT_FUNDS,
        DeclineCode::CardDeclined,
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    row(
        response::EXPIRED_CARD,
        DeclineCode::ExpiredCard,
        "expired_card",
        "Your card has expired.",
    ),
    row(
        response::INCORRECT_PIN,
        DeclineCode::CardDeclined,
        "incorrect_pin",
        "Your card's PIN is incorrect.",
    ),
    row(
        response::NOT_PERMITTED_TO_CARDHOLDER,
        DeclineCode::CardDeclined,
        "transaction_not_allowed",
        DECLINED,
    ),
    row(
        response::RESTRICTED_CARD,
        DeclineCode::CardDeclined,
        "transaction_not_allowed",
        DECLINED,
    ),
    row(response::SUSPECTED_FRAUD, DeclineCode::CardDeclined, "fraudulent", DECLINED),
    row(response::LOST_CARD, DeclineCode::CardDeclined, "lost_card", DECLINED),
    row(response::STOLEN_CARD, DeclineCode::CardDeclined, "stolen_card", DECLINED),
    row(
        response::EXCEEDS_WITHDRAWAL_LIMIT,
        DeclineCode::CardDeclined,
        "card_velocity_exceeded",
        "Your card was declined for making repeated attempts too frequently or exceeding its amount limit.",
    ),
    row(
        response::CVV2_FAILURE,
        DeclineCode::IncorrectCvc,
        "incorrect_cvc",
        "Your card's security code is incorrect.",
    ),
    row(
        response::AUTHENTICATION_REQUIRED,
        DeclineCode::AuthenticationRequired,
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
    row(
        response::SYSTEM_MALFUNCTION,
        DeclineCode::ProcessingError,
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    row(
        response::ISSUER_UNAVAILABLE,
        DeclineCode::ProcessingError,
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
];

/// The decline a non-approving DE 39 stands for, carrying DE 39 itself as
/// its network decline code. A code not in the table is a generic decline
/// (the issuer refused, for a reason we do not map).
pub fn decline_of_response(code: &str) -> Decline {
    let row = TABLE
        .iter()
        .find(|row| row.code == code)
        .unwrap_or(&TABLE[0]);
    Decline {
        code: row.error,
        decline_code: Some(row.decline_code.to_owned()),
        message: row.message.to_owned(),
        network_decline_code: Some(code.to_owned()),
    }
}

/// The DE 39 code that answers `decline` (by its Stripe decline code, else
/// its error code; `05` when neither is in the table).
pub fn response_of_decline(decline: &Decline) -> &'static str {
    let by_decline_code = decline
        .decline_code
        .as_deref()
        .and_then(|wanted| TABLE.iter().find(|row| row.decline_code == wanted));
    by_decline_code
        .or_else(|| TABLE.iter().find(|row| row.error == decline.code))
        .map_or(response::DO_NOT_HONOUR, |row| row.code)
}

/// The DE 39 code that answers a Stripe error: by its decline code, else
/// by its error code (`incorrect_number`, `expired_card`, …); `05` when
/// neither is in the table.
pub fn response_of_error(code: &str, decline_code: Option<&str>) -> &'static str {
    decline_code
        .and_then(|wanted| TABLE.iter().find(|row| row.decline_code == wanted))
        .or_else(|| TABLE.iter().find(|row| row.error.as_str() == code))
        .map_or(response::DO_NOT_HONOUR, |row| row.code)
}

/// True for answers after which another route may be tried later (the
/// issuer or the network was unavailable).
pub fn is_soft(code: &str) -> bool {
    code == response::ISSUER_UNAVAILABLE || code == response::SYSTEM_MALFUNCTION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_s_mapping() {
        let cases = [
            ("05", "card_declined", "generic_decline"),
            ("14", "incorrect_number", "incorrect_number"),
            ("51", "card_declined", "insufficient_funds"),
            ("54", "expired_card", "expired_card"),
            ("55", "card_declined", "incorrect_pin"),
            ("57", "card_declined", "transaction_not_allowed"),
            ("62", "card_declined", "transaction_not_allowed"),
            ("59", "card_declined", "fraudulent"),
            ("91", "processing_error", "processing_error"),
            ("96", "processing_error", "processing_error"),
            ("Z9", "card_declined", "generic_decline"),
        ];
        for (code, error, decline_code) in cases {
            let decline = decline_of_response(code);
            assert_eq!(decline.code.as_str(), error, "{code}");
            assert_eq!(
                decline.decline_code.as_deref(),
                Some(decline_code),
                "{code}"
            );
            assert_eq!(
                decline.network_decline_code.as_deref(),
                Some(code),
                "DE 39 itself is kept"
            );
        }
        assert!(is_soft("91") && is_soft("96") && !is_soft("05"));
    }

    #[test]
    fn every_table_decline_answers_a_code_that_maps_back() {
        for row in TABLE {
            let decline = decline_of_response(row.code);
            let answered = response_of_decline(&decline);
            let again = decline_of_response(answered);
            assert_eq!(
                (again.code, again.decline_code, again.message),
                (decline.code, decline.decline_code, decline.message),
                "{}",
                row.code
            );
        }
        assert_eq!(
            response_of_error("card_declined", Some("insufficient_funds")),
            "51"
        );
        assert_eq!(response_of_error("card_declined", Some("fraudulent")), "59");
        assert_eq!(response_of_error("incorrect_number", None), "14");
        assert_eq!(
            response_of_error("expired_card", Some("expired_card")),
            "54"
        );
        assert_eq!(response_of_error("card_declined", Some("unmapped")), "05");
        let sandbox_lost = decline_of_response("41");
        assert_eq!(response_of_decline(&sandbox_lost), "41");
    }
}
