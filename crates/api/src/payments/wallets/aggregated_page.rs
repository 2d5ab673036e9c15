//! What the aggregated QR's page shows, in English or Simplified Chinese:
//! both wallets' choices, or — when the code can no longer be paid (paid,
//! canceled, expired, declined by a rule, unknown) — a notice page with the status
//! that says so. Styled by the hosted pages' stylesheet (served from our
//! origin; the pages carry no inline style or script).

use crate::checkout::page::STYLE_PATH;
use crate::hosted::Locale;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use portcullis_domain::payment_intents::{PaymentIntent, PaymentIntentStatus, WalletTrade};

/// Why the code cannot be paid now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// No such intent, or not its client secret.
    Unknown,
    Paid,
    /// Paid, the provider's answer not booked yet.
    Processing,
    Canceled,
    /// Declined (the intent wants a new payment method) or expired.
    NoLongerValid,
    /// The customer chose the other wallet for this payment already.
    OtherWallet,
    /// The wallet's trade could not be opened.
    Failed,
    /// The merchant's risk rules declined the payment with the wallet
    /// the customer picked.
    Declined,
}

impl Notice {
    /// The notice for `intent` at `now`, or `None` when it can be paid.
    pub fn of(intent: &PaymentIntent, now: i64) -> Option<Notice> {
        match intent.status {
            PaymentIntentStatus::Succeeded | PaymentIntentStatus::RequiresCapture => {
                Some(Notice::Paid)
            }
            PaymentIntentStatus::Processing => Some(Notice::Processing),
            PaymentIntentStatus::Canceled => Some(Notice::Canceled),
            PaymentIntentStatus::RequiresAction => match &intent.wallet {
                Some(trade) if trade.expires_at > now && from_code(intent, trade) => None,
                _ => Some(Notice::NoLongerValid),
            },
            PaymentIntentStatus::RequiresPaymentMethod
                if super::aggregated::rescannable(intent, now) =>
            {
                None
            }
            PaymentIntentStatus::RequiresPaymentMethod
            | PaymentIntentStatus::RequiresConfirmation => Some(Notice::NoLongerValid),
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Notice::Unknown => StatusCode::NOT_FOUND,
            Notice::Paid | Notice::Processing => StatusCode::OK,
            Notice::Canceled | Notice::NoLongerValid => StatusCode::GONE,
            Notice::OtherWallet => StatusCode::CONFLICT,
            Notice::Failed => StatusCode::BAD_GATEWAY,
            Notice::Declined => StatusCode::PAYMENT_REQUIRED,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Notice::Unknown => "unknown",
            Notice::Paid => "paid",
            Notice::Processing => "processing",
            Notice::Canceled => "canceled",
            Notice::NoLongerValid => "no_longer_valid",
            Notice::OtherWallet => "other_wallet",
            Notice::Failed => "failed",
            Notice::Declined => "declined",
        }
    }

    /// Title and body in `locale`.
    fn words(self, locale: Locale) -> (&'static str, &'static str) {
        match (locale, self) {
            (Locale::En, Notice::Unknown) => (
                "Payment code not found",
                "This payment code is not known. Ask the shop for a new one.",
            ),
            (Locale::En, Notice::Paid) => (
                "Already paid",
                "This payment has already been paid. Thank you.",
            ),
            (Locale::En, Notice::Processing) => (
                "Payment in progress",
                "This payment is being processed. There is nothing more to do.",
            ),
            (Locale::En, Notice::Canceled) => (
                "Payment canceled",
                "This payment was canceled. Ask the shop for a new payment code.",
            ),
            (Locale::En, Notice::NoLongerValid) => (
                "This payment code is no longer valid",
                "The payment was not completed with this code. Ask the shop for a new payment code.",
            ),
            (Locale::En, Notice::OtherWallet) => (
                "Payment already started",
                "This payment was started in the other wallet's app. Finish it there.",
            ),
            (Locale::En, Notice::Failed) => (
                "Payment could not be started",
                "The wallet could not be reached. Scan the code again in a moment.",
            ),
            (Locale::En, Notice::Declined) => (
                "Payment declined",
                "This payment was declined. Ask the shop for another way to pay.",
            ),
            (Locale::ZhCn, Notice::Declined) => (
                "付款被拒绝",
                "此笔付款未获通过，请向商家咨询其他付款方式。",
            ),
            (Locale::ZhCn, Notice::Unknown) => (
                "未找到付款码",
                "无法识别此付款码，请向商家索取新的付款码。",
            ),
            (Locale::ZhCn, Notice::Paid) => ("已支付", "此笔付款已完成，谢谢。"),
            (Locale::ZhCn, Notice::Processing) => {
                ("付款处理中", "此笔付款正在处理中，无需其他操作。")
            }
            (Locale::ZhCn, Notice::Canceled) => (
                "付款已取消",
                "此笔付款已取消，请向商家索取新的付款码。",
            ),
            (Locale::ZhCn, Notice::NoLongerValid) => (
                "此付款码已失效",
                "此付款码的付款未完成，请向商家索取新的付款码。",
            ),
            (Locale::ZhCn, Notice::OtherWallet) => (
                "付款已开始",
                "此笔付款已在另一个支付应用中开始，请在该应用中完成。",
            ),
            (Locale::ZhCn, Notice::Failed) => (
                "无法发起付款",
                "暂时无法连接支付应用，请稍后重新扫码。",
            ),
        }
    }

    /// The notice page in `locale`, with its status.
    pub fn page(self, locale: Locale) -> Response {
        let (title, body) = self.words(locale);
        let html = NoticeTemplate {
            lang: locale.tag(),
            kind: self.name(),
            title,
            body,
            style: STYLE_PATH,
        }
        .render();
        match html {
            Ok(html) => (self.status(), Html(html)).into_response(),
            Err(_) => self.status().into_response(),
        }
    }
}

/// Whether `trade`, the intent's current attempt, was opened from the
/// aggregated code (not by a newer confirmation of the merchant's).
fn from_code(intent: &PaymentIntent, trade: &WalletTrade) -> bool {
    if trade.provider == super::aggregated::UNCHOSEN {
        return intent.payment_method.is_none();
    }
    trade.aggregated
        && trade.picked_method.is_some()
        && intent.payment_method == trade.picked_method
}

#[derive(Template)]
#[template(path = "wallet_qr/notice.html")]
struct NoticeTemplate {
    lang: &'static str,
    kind: &'static str,
    title: &'static str,
    body: &'static str,
    style: &'static str,
}

struct ChoiceTexts {
    title: &'static str,
    amount: &'static str,
    alipay: &'static str,
    wechat: &'static str,
    hint: &'static str,
    qr_alt: &'static str,
}

const CHOICES_EN: ChoiceTexts = ChoiceTexts {
    title: "Choose how to pay",
    amount: "Amount",
    alipay: "Alipay",
    wechat: "WeChat Pay",
    hint: "Scan this code with Alipay or WeChat, or choose on your phone:",
    qr_alt: "QR code to pay with Alipay or WeChat",
};

const CHOICES_ZH_CN: ChoiceTexts = ChoiceTexts {
    title: "选择支付方式",
    amount: "金额",
    alipay: "支付宝",
    wechat: "微信支付",
    hint: "请用支付宝或微信扫码，或在手机上选择：",
    qr_alt: "付款二维码（支付宝或微信扫码）",
};

#[derive(Template)]
#[template(path = "wallet_qr/choices.html")]
struct ChoicesTemplate {
    t: &'static ChoiceTexts,
    lang: &'static str,
    yuan: String,
    /// The page's own query, without `wallet`.
    base: String,
    image: String,
    style: &'static str,
}

/// Both wallets offered, for a browser that is neither wallet's app: the
/// code itself (to scan with either app) and a link for each wallet.
pub fn choices(intent: &PaymentIntent, locale: Locale) -> Response {
    let t = match locale {
        Locale::ZhCn => &CHOICES_ZH_CN,
        Locale::En => &CHOICES_EN,
    };
    let page = ChoicesTemplate {
        t,
        lang: locale.tag(),
        yuan: portcullis_wallets::amount::yuan_text(intent.amount.minor()).unwrap_or_default(),
        base: format!(
            "?client_secret={}&locale={}",
            intent.client_secret,
            locale.tag()
        ),
        image: format!(
            "/v1/payment_intents/{}/qr_code.svg?client_secret={}",
            intent.id, intent.client_secret
        ),
        style: STYLE_PATH,
    };
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(_) => Notice::Failed.page(locale),
    }
}
