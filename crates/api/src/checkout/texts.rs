//! Everything the hosted checkout page says, in each language it is
//! written in. The page's script reads its messages from the form's
//! `data-msg-*` attributes, so there is one place for every word.

use crate::hosted::Locale;

/// The page's words in one language.
pub struct Texts {
    pub title: &'static str,
    pub test_mode: &'static str,
    pub order: &'static str,
    pub quantity: &'static str,
    pub total: &'static str,
    pub pay_by_card: &'static str,
    pub card_number: &'static str,
    pub expiry: &'static str,
    pub expiry_placeholder: &'static str,
    pub cvc: &'static str,
    pub cardholder: &'static str,
    pub pay: &'static str,
    pub processing: &'static str,
    pub back: &'static str,
    pub language: &'static str,
    pub secured: &'static str,
    pub needs_script: &'static str,
    pub pay_with_wallet: &'static str,
    pub alipay: &'static str,
    pub wechat_pay: &'static str,
    pub scan_to_pay: &'static str,
    pub qr_alt: &'static str,
    pub wallet_opening: &'static str,
    /// The wallet would not open the payment (nothing was charged).
    pub wallet_failed: &'static str,
    /// The customer declined or closed the payment in the wallet.
    pub wallet_declined: &'static str,
    pub brand_detected: &'static str,
    pub number_invalid: &'static str,
    pub number_incomplete: &'static str,
    pub expiry_invalid: &'static str,
    pub expiry_past: &'static str,
    pub cvc_invalid: &'static str,
    pub cardholder_missing: &'static str,
    pub fix_errors: &'static str,
    pub declined: &'static str,
    pub insufficient_funds: &'static str,
    pub card_expired: &'static str,
    pub cvc_incorrect: &'static str,
    pub authentication_failed: &'static str,
    pub failed: &'static str,
    pub too_many_attempts: &'static str,
    pub expired_title: &'static str,
    pub expired_body: &'static str,
    pub complete_title: &'static str,
    pub complete_body: &'static str,
    pub continue_to_merchant: &'static str,
    pub pay_from_balance: &'static str,
    pub balance_sign_in: &'static str,
    pub balance_available: &'static str,
    pub balance_pay: &'static str,
    pub balance_checking: &'static str,
    /// The signed-in account is not the session's customer.
    pub balance_wrong_customer: &'static str,
    pub balance_insufficient: &'static str,
    pub balance_limit: &'static str,
}

const EN: Texts = Texts {
    title: "Checkout",
    test_mode: "Test mode",
    order: "Your order",
    quantity: "Qty",
    total: "Total due",
    pay_by_card: "Pay by card",
    card_number: "Card number",
    expiry: "Expiry date",
    expiry_placeholder: "MM / YY",
    cvc: "CVC",
    cardholder: "Cardholder name",
    pay: "Pay",
    processing: "Processing your payment…",
    back: "Back to the merchant",
    language: "Language",
    secured: "Your card details are encrypted in this browser before they are sent.",
    needs_script: "Paying by card needs JavaScript: the card is encrypted in your browser.",
    pay_with_wallet: "Pay with a wallet",
    alipay: "Alipay",
    wechat_pay: "WeChat Pay",
    scan_to_pay: "Scan this code with the app on your phone to pay. This page moves on once the payment is done.",
    qr_alt: "QR code to pay",
    wallet_opening: "Opening the payment…",
    wallet_failed: "The wallet could not start the payment, and nothing was charged. Try again or choose another way to pay.",
    wallet_declined: "Your payment was not completed in the wallet, and nothing was charged. Choose a way to pay to try again.",
    brand_detected: "Card brand",
    number_invalid: "Your card number is invalid.",
    number_incomplete: "Your card number is incomplete.",
    expiry_invalid: "Enter the expiry date as MM / YY.",
    expiry_past: "Your card's expiry date is in the past.",
    cvc_invalid: "Your card's security code is incomplete.",
    cardholder_missing: "Enter the name on the card.",
    fix_errors: "Please correct the highlighted fields.",
    declined: "Your card was declined. Try another card.",
    insufficient_funds: "Your card has insufficient funds. Try another card.",
    card_expired: "Your card has expired. Try another card.",
    cvc_incorrect: "Your card's security code is incorrect.",
    authentication_failed: "We could not authenticate your payment. Try again or use another card.",
    failed: "Something went wrong and your card was not charged. Please try again.",
    too_many_attempts:
        "Too many payment attempts for this order. Return to the merchant to start again.",
    expired_title: "This checkout has expired",
    expired_body: "The time to pay for this order has run out. Nothing was charged.",
    complete_title: "This order is paid",
    complete_body: "Your payment was received. You can close this page.",
    continue_to_merchant: "Continue to the merchant",
    pay_from_balance: "Pay from balance",
    balance_sign_in: "Sign in to pay from your balance",
    balance_available: "Available balance",
    balance_pay: "Pay from balance",
    balance_checking: "Checking your balance…",
    balance_wrong_customer: "You are signed in to an account this order is not for. Sign out and sign in with the account the merchant named, or choose another way to pay.",
    balance_insufficient: "Your balance is not enough for this order, and nothing was taken from it. Choose another way to pay.",
    balance_limit: "This payment would exceed a limit of your balance, and nothing was taken from it. Choose another way to pay.",
};

const ZH_CN: Texts = Texts {
    title: "结账",
    test_mode: "测试模式",
    order: "您的订单",
    quantity: "数量",
    total: "应付总额",
    pay_by_card: "银行卡支付",
    card_number: "卡号",
    expiry: "有效期",
    expiry_placeholder: "月 / 年",
    cvc: "安全码",
    cardholder: "持卡人姓名",
    pay: "支付",
    processing: "正在处理您的付款…",
    back: "返回商家",
    language: "语言",
    secured: "您的银行卡信息在发送前已在本浏览器中加密。",
    needs_script: "银行卡支付需要启用 JavaScript：卡信息在您的浏览器中加密。",
    pay_with_wallet: "钱包支付",
    alipay: "支付宝",
    wechat_pay: "微信支付",
    scan_to_pay: "请使用手机上的应用扫描此二维码付款。付款完成后，本页面将自动跳转。",
    qr_alt: "付款二维码",
    wallet_opening: "正在打开付款…",
    wallet_failed: "钱包无法发起付款，未产生任何扣款。请重试或选择其他支付方式。",
    wallet_declined: "您在钱包中的付款未完成，未产生任何扣款。请重新选择支付方式。",
    brand_detected: "卡组织",
    number_invalid: "卡号无效。",
    number_incomplete: "卡号不完整。",
    expiry_invalid: "请按 月 / 年 (MM / YY) 输入有效期。",
    expiry_past: "您的银行卡已过有效期。",
    cvc_invalid: "安全码不完整。",
    cardholder_missing: "请输入卡上的姓名。",
    fix_errors: "请更正标出的字段。",
    declined: "您的银行卡被拒绝，请换一张卡。",
    insufficient_funds: "您的银行卡余额不足，请换一张卡。",
    card_expired: "您的银行卡已过期，请换一张卡。",
    cvc_incorrect: "安全码不正确。",
    authentication_failed: "付款验证未通过，请重试或换一张卡。",
    failed: "出现问题，您的银行卡未被扣款，请重试。",
    too_many_attempts: "该订单的付款尝试次数过多，请返回商家重新下单。",
    expired_title: "本次结账已过期",
    expired_body: "该订单的付款时间已过，未产生任何扣款。",
    complete_title: "该订单已付款",
    complete_body: "我们已收到您的付款，您可以关闭此页面。",
    continue_to_merchant: "返回商家",
    pay_from_balance: "余额支付",
    balance_sign_in: "登录以使用余额支付",
    balance_available: "可用余额",
    balance_pay: "余额支付",
    balance_checking: "正在查询您的余额…",
    balance_wrong_customer:
        "您登录的账户不是该订单的账户。请退出后使用商家指定的账户登录，或选择其他支付方式。",
    balance_insufficient: "您的余额不足以支付该订单，余额未被扣减。请选择其他支付方式。",
    balance_limit: "该付款将超出您余额的限额，余额未被扣减。请选择其他支付方式。",
};

/// The error code of a payment a wallet (Alipay, WeChat Pay) declined or
/// closed: its message must not speak of a card.
const WALLET_DECLINE: &str = "payment_method_provider_decline";

impl Texts {
    pub fn of(locale: Locale) -> &'static Texts {
        match locale {
            Locale::En => &EN,
            Locale::ZhCn => &ZH_CN,
        }
    }

    /// What the customer reads when opening a wallet payment failed.
    pub fn wallet_failure(&self, code: Option<&str>) -> &'static str {
        match code {
            Some(WALLET_DECLINE) => self.wallet_declined,
            _ => self.wallet_failed,
        }
    }

    /// What the customer reads of a failed payment: the decline or
    /// error `code` (and `decline_code`) of the intent's last error.
    pub fn failure(&self, code: Option<&str>, decline_code: Option<&str>) -> &'static str {
        if code == Some(WALLET_DECLINE) {
            return self.wallet_declined;
        }
        match decline_code.or(code) {
            Some("balance_insufficient") => self.balance_insufficient,
            Some("balance_limit_exceeded") => self.balance_limit,
            Some("insufficient_funds") => self.insufficient_funds,
            Some("expired_card") => self.card_expired,
            Some("incorrect_cvc") => self.cvc_incorrect,
            Some("payment_intent_authentication_failure") => self.authentication_failed,
            _ => self.declined,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_form_uses_the_exact_accessible_names() {
        let en = Texts::of(Locale::En);
        let zh = Texts::of(Locale::ZhCn);
        assert_eq!(
            [en.card_number, en.expiry, en.cvc, en.cardholder, en.pay],
            [
                "Card number",
                "Expiry date",
                "CVC",
                "Cardholder name",
                "Pay"
            ]
        );
        assert_eq!(
            [zh.card_number, zh.expiry, zh.cvc, zh.cardholder, zh.pay],
            ["卡号", "有效期", "安全码", "持卡人姓名", "支付"]
        );
    }

    #[test]
    fn failures_are_told_by_their_decline_code() {
        let en = Texts::of(Locale::En);
        assert_eq!(
            en.failure(Some("card_declined"), Some("insufficient_funds")),
            en.insufficient_funds
        );
        assert_eq!(
            en.failure(Some("card_declined"), Some("generic_decline")),
            en.declined
        );
        assert_eq!(
            en.failure(Some("payment_intent_authentication_failure"), None),
            en.authentication_failed
        );
    }

    #[test]
    fn wallet_failures_do_not_speak_of_a_card() {
        for (texts, card) in [
            (Texts::of(Locale::En), "card"),
            (Texts::of(Locale::ZhCn), "卡"),
        ] {
            let declined = texts.failure(Some(WALLET_DECLINE), Some("TRADE_CLOSED"));
            assert_eq!(declined, texts.wallet_declined);
            assert_eq!(texts.wallet_failure(Some("api_error")), texts.wallet_failed);
            for text in [texts.wallet_declined, texts.wallet_failed] {
                assert!(!text.contains(card), "{text}");
            }
        }
    }
}
