//! Payment codes (付款码): the code a customer's wallet shows, scanned by
//! the merchant's device. The provider is told by the code's shape:
//! Alipay's are 16 to 24 digits starting with 25 to 30; WeChat Pay's are
//! 18 digits starting with 10 to 15.

/// The provider whose wallet showed a payment code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeProvider {
    Alipay,
    WechatPay,
}

/// The provider of `auth_code`, or `None` when it is no payment code of
/// either (wrong length, a non-digit, another prefix).
pub fn provider_of(auth_code: &str) -> Option<CodeProvider> {
    if auth_code.is_empty() || !auth_code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = auth_code.get(..2)?.parse().ok()?;
    let len = auth_code.len();
    if (25..=30).contains(&prefix) && (16..=24).contains(&len) {
        Some(CodeProvider::Alipay)
    } else if (10..=15).contains(&prefix) && len == 18 {
        Some(CodeProvider::WechatPay)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_told_apart_by_prefix_and_length() {
        assert_eq!(
            provider_of("287654321098765432"),
            Some(CodeProvider::Alipay)
        );
        assert_eq!(provider_of("2512345678901234"), Some(CodeProvider::Alipay));
        assert_eq!(
            provider_of("301234567890123456789012"),
            Some(CodeProvider::Alipay)
        );
        assert_eq!(
            provider_of("134567890123456789"),
            Some(CodeProvider::WechatPay)
        );
        assert_eq!(
            provider_of("101234567890123456"),
            Some(CodeProvider::WechatPay)
        );
        for not_a_code in [
            "",
            "251234567890123",           // 15 digits
            "3012345678901234567890123", // 25 digits
            "311234567890123456",        // prefix 31
            "161234567890123456",        // prefix 16, 18 digits
            "13456789012345678",         // WeChat prefix, 17 digits
            "1345678901234567890",       // WeChat prefix, 19 digits
            "28765432109876543a",
            "２８７６５４３２１０９８７６５４３２",
        ] {
            assert_eq!(provider_of(not_a_code), None, "{not_a_code}");
        }
    }
}
