//! Sandbox data about the published test cards: the `pm_card_*` payment
//! method ids, and which test cards the sandbox risk rules treat as risky.
//! Test mode only. (Their country and funding are rows of the shipped BIN
//! table, `portcullis_risk::bins::SHIPPED_BINS`.)

/// Every well-known test payment method id and the published test card
/// number behind it.
const TEST_PAYMENT_METHODS: &[(&str, &str)] = &[
    ("pm_card_visa", "4242424242424242"),
    ("pm_card_visa_debit", "4000056655665556"),
    ("pm_card_mastercard", "5555555555554444"),
    ("pm_card_mastercard_debit", "5200828282828210"),
    ("pm_card_amex", "378282246310005"),
    ("pm_card_discover", "6011111111111117"),
    ("pm_card_visa_chargeDeclined", "4000000000000002"),
    ("pm_card_chargeDeclined", "4000000000000002"),
    (
        "pm_card_visa_chargeDeclinedInsufficientFunds",
        "4000000000009995",
    ),
    (
        "pm_card_chargeDeclinedInsufficientFunds",
        "4000000000009995",
    ),
    ("pm_card_visa_chargeDeclinedLostCard", "4000000000009987"),
    ("pm_card_chargeDeclinedLostCard", "4000000000009987"),
    ("pm_card_visa_chargeDeclinedStolenCard", "4000000000009979"),
    ("pm_card_chargeDeclinedStolenCard", "4000000000009979"),
    ("pm_card_chargeDeclinedExpiredCard", "4000000000000069"),
    ("pm_card_chargeDeclinedIncorrectCvc", "4000000000000127"),
    ("pm_card_chargeDeclinedProcessingError", "4000000000000119"),
    (
        "pm_card_chargeDeclinedVelocityLimitExceeded",
        "4000000000006975",
    ),
    ("pm_card_radarBlock", "4100000000000019"),
    ("pm_card_riskLevelHighest", "4000000000004954"),
    ("pm_card_riskLevelElevated", "4000000000009235"),
    ("pm_card_authenticationRequiredOnSetup", "4000002500003155"),
    ("pm_card_authenticationRequired", "4000002760003184"),
    ("pm_card_threeDSecure2Required", "4000002760003184"),
    (
        "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds",
        "4000008260003178",
    ),
    ("pm_card_createDispute", "4000000000000259"),
    ("pm_card_refundPending", "4000000000007726"),
    ("pm_card_pendingRefund", "4000000000007726"),
    ("pm_card_refundFail", "4000000000005126"),
];

/// The card number behind a well-known test payment method id.
pub fn test_payment_method_number(id: &str) -> Option<&'static str> {
    TEST_PAYMENT_METHODS
        .iter()
        .find(|(known, _)| *known == id)
        .map(|(_, number)| *number)
}

/// `digits` as one of the published test card numbers behind the test
/// payment method ids, or `None` for any other number. A published number
/// is no secret: it may be kept in memory (a cache key) where a customer's
/// card number may not.
pub fn published_test_number(digits: &str) -> Option<&'static str> {
    TEST_PAYMENT_METHODS
        .iter()
        .find(|(_, number)| *number == digits)
        .map(|(_, number)| *number)
}

/// How the sandbox risk rules see a test card, by its BIN and last four
/// (the risk engine never sees whole card numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxRisk {
    /// Always blocked as fraudulent.
    AlwaysBlocked,
    Highest,
    Elevated,
}

pub fn sandbox_risk(bin: &str, last4: &str) -> Option<SandboxRisk> {
    match (bin, last4) {
        ("410000", "0019") => Some(SandboxRisk::AlwaysBlocked),
        ("400000", "4954") => Some(SandboxRisk::Highest),
        ("400000", "9235") => Some(SandboxRisk::Elevated),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_ids_number_is_published_and_other_numbers_are_not() {
        for (id, number) in TEST_PAYMENT_METHODS {
            assert_eq!(test_payment_method_number(id), Some(*number));
            assert_eq!(published_test_number(number), Some(*number));
        }
        assert_eq!(test_payment_method_number("pm_card_unknown"), None);
        assert_eq!(published_test_number("4242424242424241"), None);
        assert_eq!(published_test_number("424242424242424"), None);
    }
}
