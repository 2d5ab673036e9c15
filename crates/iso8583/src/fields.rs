//! Names for the data elements, message types and codes the gateway uses,
//! so callers never write a bare field number.

pub const PAN: u8 = 2;
pub const PROCESSING_CODE: u8 = 3;
pub const AMOUNT: u8 = 4;
pub const TRANSMISSION_DATE_TIME: u8 = 7;
pub const STAN: u8 = 11;
pub const LOCAL_TIME: u8 = 12;
pub const LOCAL_DATE: u8 = 13;
pub const EXPIRY: u8 = 14;
pub const MERCHANT_CATEGORY_CODE: u8 = 18;
pub const POS_ENTRY_MODE: u8 = 22;
pub const POS_CONDITION_CODE: u8 = 25;
pub const ACQUIRER_ID: u8 = 32;
pub const TRACK2: u8 = 35;
pub const RRN: u8 = 37;
pub const AUTHORIZATION_CODE: u8 = 38;
pub const RESPONSE_CODE: u8 = 39;
pub const TERMINAL_ID: u8 = 41;
pub const CARD_ACCEPTOR_ID: u8 = 42;
pub const CARD_ACCEPTOR_NAME: u8 = 43;
pub const CURRENCY: u8 = 49;
pub const PIN_BLOCK: u8 = 52;
pub const ADDITIONAL_AMOUNTS: u8 = 54;
pub const ICC_DATA: u8 = 55;
pub const NETWORK_MANAGEMENT_CODE: u8 = 70;
pub const ORIGINAL_DATA: u8 = 90;

/// Message types.
pub mod mti {
    use crate::message::Mti;

    pub const AUTHORIZATION: Mti = Mti::from_digits(*b"0100");
    pub const AUTHORIZATION_RESPONSE: Mti = Mti::from_digits(*b"0110");
    pub const FINANCIAL: Mti = Mti::from_digits(*b"0200");
    pub const FINANCIAL_RESPONSE: Mti = Mti::from_digits(*b"0210");
    pub const COMPLETION_ADVICE: Mti = Mti::from_digits(*b"0220");
    pub const COMPLETION_ADVICE_RESPONSE: Mti = Mti::from_digits(*b"0230");
    pub const REVERSAL: Mti = Mti::from_digits(*b"0400");
    pub const REVERSAL_RESPONSE: Mti = Mti::from_digits(*b"0410");
    pub const NETWORK_MANAGEMENT: Mti = Mti::from_digits(*b"0800");
    pub const NETWORK_MANAGEMENT_RESPONSE: Mti = Mti::from_digits(*b"0810");
}

/// DE 3 processing codes.
pub mod processing {
    /// Goods and services (authorization, purchase, completion, reversal).
    pub const PURCHASE: &str = "000000";
    /// Refund (credit to the cardholder).
    pub const REFUND: &str = "200000";
}

/// DE 70 network management codes.
pub mod network {
    pub const SIGN_ON: &str = "001";
    pub const SIGN_OFF: &str = "002";
    pub const ECHO: &str = "301";
}

/// DE 39 response codes.
pub mod response {
    pub const APPROVED: &str = "00";
    pub const INVALID_MERCHANT: &str = "03";
    pub const DO_NOT_HONOUR: &str = "05";
    pub const INVALID_TRANSACTION: &str = "12";
    pub const INVALID_AMOUNT: &str = "13";
    pub const INVALID_CARD_NUMBER: &str = "14";
    pub const NO_ORIGINAL: &str = "25";
    pub const FORMAT_ERROR: &str = "30";
    pub const LOST_CARD: &str = "41";
    pub const STOLEN_CARD: &str = "43";
    pub const INSUFFICIENT_FUNDS: &str = "51";
    pub const EXPIRED_CARD: &str = "54";
    pub const INCORRECT_PIN: &str = "55";
    pub const NOT_PERMITTED_TO_CARDHOLDER: &str = "57";
    pub const SUSPECTED_FRAUD: &str = "59";
    pub const EXCEEDS_WITHDRAWAL_LIMIT: &str = "61";
    pub const RESTRICTED_CARD: &str = "62";
    pub const SECURITY_VIOLATION: &str = "63";
    /// Visa: CVV2 failure.
    pub const CVV2_FAILURE: &str = "N7";
    /// Visa: additional customer authentication required.
    pub const AUTHENTICATION_REQUIRED: &str = "1A";
    pub const ISSUER_UNAVAILABLE: &str = "91";
    pub const SYSTEM_MALFUNCTION: &str = "96";
}
