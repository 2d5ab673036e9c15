//! The pages' askama templates (`crates/api/templates/account/`) and what
//! they are filled with. askama escapes every value for HTML.

use super::texts::Texts;
use askama::Template;

/// What every page shows around its content.
pub struct Chrome {
    /// `<html lang>`: `en` or `zh-CN`.
    pub lang: &'static str,
    pub t: &'static Texts,
    /// The language switcher's links (the current language unlinked).
    pub switcher: Vec<SwitchLink>,
    /// An error, announced (`role="alert"`) and focused.
    pub error: Option<String>,
    /// What just happened (`role="status"`).
    pub notice: Option<String>,
    /// The form token of this browser (see `csrf`).
    pub csrf: String,
}

pub struct SwitchLink {
    pub href: String,
    pub lang: &'static str,
    pub label: &'static str,
    pub current: bool,
}

pub struct Link {
    pub id: &'static str,
    pub href: String,
    pub label: &'static str,
}

/// One input of a form.
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// `email`, `password`, `text` or `hidden`.
    pub kind: &'static str,
    pub autocomplete: &'static str,
    pub value: String,
    pub hint: Option<&'static str>,
    pub required: bool,
    /// The field the last error named.
    pub invalid: bool,
}

impl Field {
    pub fn input(
        name: &'static str,
        label: &'static str,
        kind: &'static str,
        autocomplete: &'static str,
    ) -> Self {
        Self {
            name,
            label,
            kind,
            autocomplete,
            value: String::new(),
            hint: None,
            required: true,
            invalid: false,
        }
    }

    pub fn hidden(name: &'static str, value: String) -> Self {
        Self {
            value,
            ..Self::input(name, "", "hidden", "off")
        }
    }

    pub fn with_hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn with_value(mut self, value: String) -> Self {
        self.value = value;
        self
    }

    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
}

/// A form page, or (no `action`) a page that only tells something.
#[derive(Template)]
#[template(path = "account/form.html")]
pub struct FormPage {
    pub chrome: Chrome,
    pub title: &'static str,
    pub intro: Option<&'static str>,
    pub action: Option<String>,
    pub fields: Vec<Field>,
    pub submit: &'static str,
    pub danger: bool,
    pub links: Vec<Link>,
    /// The sign-in page's passkey button: the realm's `merchant` and `mode`.
    pub passkey_login: Option<PasskeyLogin>,
}

/// What the passkey sign-in form posts besides its token.
pub struct PasskeyLogin {
    pub merchant: String,
    pub mode: &'static str,
    /// A path of our own origin, already checked by `own_path`.
    pub return_to: Option<String>,
}

/// One row of the sessions table.
pub struct SessionRow {
    pub id: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub expires: String,
    pub device: String,
    pub ip: String,
    pub current: bool,
}

/// One row of the passkeys table.
pub struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub created: String,
    /// When it last signed in or confirmed, or "never".
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "account/home.html")]
pub struct HomePage {
    pub chrome: Chrome,
    pub email: String,
    pub status: String,
    pub sessions: Vec<SessionRow>,
    pub passkeys: Vec<PasskeyRow>,
    pub balances: Vec<BalanceRow>,
}

/// The passkey step-up page; its script runs the ceremony.
#[derive(Template)]
#[template(path = "account/step_up.html")]
pub struct StepUpPage {
    pub chrome: Chrome,
    /// A path of our own origin, already checked.
    pub return_to: String,
}

/// The step-up page of a payment from the balance: what is paid, and the
/// ways to confirm it (or, once it no longer waits, its outcome).
#[derive(Template)]
#[template(path = "account/step_up_payment.html")]
pub struct PaymentStepUpPage {
    pub chrome: Chrome,
    /// The PaymentIntent's id.
    pub intent: String,
    /// The merchant's name.
    pub merchant: Option<String>,
    /// The amount, written for the page's language.
    pub amount: String,
    pub description: Option<String>,
    /// Whether the account has a passkey to confirm with.
    pub has_passkey: bool,
    /// What happened to a payment that no longer waits.
    pub outcome: Option<&'static str>,
    /// The input the last error named (`password`, `code`), or "".
    pub invalid: &'static str,
    pub links: Vec<Link>,
}

/// What the wallet holds in one currency, formatted.
pub struct BalanceRow {
    pub code: &'static str,
    pub amount: String,
}

pub struct CurrencyOption {
    pub code: &'static str,
    pub label: String,
    pub selected: bool,
}

/// One limit of the wallet, formatted.
pub struct LimitRow {
    pub label: &'static str,
    pub amount: String,
}

/// The top-up page.
#[derive(Template)]
#[template(path = "account/top_up.html")]
pub struct TopUpPage {
    pub chrome: Chrome,
    pub balances: Vec<BalanceRow>,
    pub currencies: Vec<CurrencyOption>,
    pub limits: Vec<LimitRow>,
    /// What was typed, kept after an error.
    pub amount: String,
    pub amount_invalid: bool,
}
