//! The challenge page itself, in each language the hosted pages are
//! written in: the language is negotiated as on the checkout page
//! (`?locale=`, else the visitor's earlier switch, else the browser's),
//! and the checkout page names its own language when it sends the
//! customer here.

use crate::error::{ApiError, ApiResult};
use crate::hosted::money::format_amount;
use crate::hosted::Locale;
use askama::Template;
use portcullis_domain::payment_intents::{PaymentIntent, PaymentIntentStatus};

/// The page's words in one language.
pub struct Texts {
    pub title: &'static str,
    pub payment_of: &'static str,
    pub sandbox_note: &'static str,
    pub complete: &'static str,
    pub fail: &'static str,
    pub language: &'static str,
    succeeded: &'static str,
    processing: &'static str,
    requires_capture: &'static str,
    canceled: &'static str,
    not_paid: &'static str,
    not_waiting: &'static str,
}

const EN: Texts = Texts {
    title: "Authenticate your payment",
    payment_of: "Test payment of",
    sandbox_note: "This is the Portcullis sandbox's stand-in for your bank's 3-D Secure challenge.",
    complete: "Complete authentication",
    fail: "Fail authentication",
    language: "Language",
    succeeded: "This payment succeeded. You can close this page.",
    processing: "This payment is being processed.",
    requires_capture: "This payment is authorized and will be captured by the merchant.",
    canceled: "This payment was canceled.",
    not_paid:
        "This payment did not go through. Return to the merchant to try another payment method.",
    not_waiting: "This payment is not waiting for authentication.",
};

const ZH_CN: Texts = Texts {
    title: "验证您的付款",
    payment_of: "测试付款金额：",
    sandbox_note: "这是 Portcullis 沙盒模拟的银行 3-D Secure 验证页面。",
    complete: "完成验证",
    fail: "使验证失败",
    language: "语言",
    succeeded: "付款成功。您可以关闭此页面。",
    processing: "付款正在处理中。",
    requires_capture: "付款已授权，将由商家完成扣款。",
    canceled: "付款已取消。",
    not_paid: "付款未成功。请返回商家，换一种付款方式。",
    not_waiting: "此付款不在等待验证。",
};

impl Texts {
    pub fn of(locale: Locale) -> &'static Texts {
        match locale {
            Locale::En => &EN,
            Locale::ZhCn => &ZH_CN,
        }
    }

    /// What the page says once authentication is over, as a sentence a
    /// customer reads (the status names are for developers).
    fn result(&self, status: PaymentIntentStatus) -> &'static str {
        match status {
            PaymentIntentStatus::Succeeded => self.succeeded,
            PaymentIntentStatus::Processing => self.processing,
            PaymentIntentStatus::RequiresCapture => self.requires_capture,
            PaymentIntentStatus::Canceled => self.canceled,
            PaymentIntentStatus::RequiresPaymentMethod => self.not_paid,
            _ => self.not_waiting,
        }
    }
}

/// A link to this page in another language.
struct Switch {
    href: String,
    tag: &'static str,
    name: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "authenticate/page.html")]
struct PageTemplate {
    t: &'static Texts,
    lang: &'static str,
    amount: String,
    /// Where the form posts; `None` once the challenge is over.
    action: Option<String>,
    result: &'static str,
    switches: Vec<Switch>,
}

/// The page for `intent`, reached with `secret`, in `locale`; `named`
/// says whether the visitor (or the checkout page) named the language, so
/// the form keeps it for the answer after the post.
pub fn render(
    intent: &PaymentIntent,
    secret: &str,
    locale: Locale,
    named: bool,
) -> ApiResult<String> {
    let t = Texts::of(locale);
    let base = format!("/authenticate/{}?client_secret={secret}", intent.id);
    let pending = intent.status == PaymentIntentStatus::RequiresAction;
    let action = pending.then(|| match named {
        true => format!("{base}&locale={}", locale.tag()),
        false => base.clone(),
    });
    let switches = Locale::ALL
        .iter()
        .map(|other| Switch {
            href: format!("{base}&locale={}", other.tag()),
            tag: other.tag(),
            name: other.native_name(),
            current: *other == locale,
        })
        .collect();
    let page = PageTemplate {
        t,
        lang: locale.tag(),
        amount: format_amount(intent.amount.minor(), intent.currency, locale),
        action,
        result: t.result(intent.status),
        switches,
    };
    page.render().map_err(|e| ApiError::internal(&e))
}
