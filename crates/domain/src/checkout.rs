//! Checkout Sessions (`cs_…`): a hosted payment page's order — line items
//! priced inline, where the customer returns afterwards, which methods the
//! page offers — and its life: `open` until paid (`complete`) or until it
//! expires or is expired by the merchant (`expired`).
//!
//! Pure: the clock is handed in, amounts are checked integers in minor
//! units, and [`CheckoutStatus::after`] is the one place that says which
//! moves are legal.

use crate::customers::Email;
use crate::ids::new_id;
use crate::metadata::Metadata;
use crate::money::{Amount, Currency, MoneyError};
use crate::UnixSeconds;
use serde::{Deserialize, Serialize};

/// Shortest time a session may stay open: 30 minutes, as Stripe.
pub const EXPIRY_S_MIN: i64 = 30 * 60;
/// Longest time a session may stay open, and its default: 24 hours.
pub const EXPIRY_S_MAX: i64 = 24 * 60 * 60;
/// Most line items on one session.
pub const LINE_ITEMS_MAX: usize = 100;
/// Most units of one line item.
pub const QUANTITY_MAX: i64 = 999_999;
/// Longest redirect URL and product text.
pub const URL_CHARS_MAX: usize = 5000;
pub const NAME_CHARS_MAX: usize = 250;
/// The placeholder Stripe replaces by the session's id in `success_url`
/// and `cancel_url`.
pub const SESSION_ID_PLACEHOLDER: &str = "{CHECKOUT_SESSION_ID}";

/// A session's id: `cs_test_…` or `cs_live_…`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CheckoutSessionId(String);

impl CheckoutSessionId {
    pub fn generate(livemode: bool) -> Self {
        Self(new_id(if livemode { "cs_live" } else { "cs_test" }))
    }

    /// Accepts only `cs_test_…` / `cs_live_…` in the id alphabet.
    pub fn parse(text: &str) -> Option<Self> {
        (crate::ids::has_prefix(text, "cs_test") || crate::ids::has_prefix(text, "cs_live"))
            .then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `status`: whether the session can still be paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutStatus {
    Open,
    Complete,
    Expired,
}

/// What happens to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutTransition {
    /// The customer paid.
    Pay,
    /// `expires_at` passed, or the merchant called `…/expire`.
    Expire,
}

impl CheckoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutStatus::Open => "open",
            CheckoutStatus::Complete => "complete",
            CheckoutStatus::Expired => "expired",
        }
    }

    /// The status after `transition`, or `None` when it is not allowed:
    /// only an open session is paid or expired; both ends are final.
    pub fn after(self, transition: CheckoutTransition) -> Option<CheckoutStatus> {
        match (self, transition) {
            (CheckoutStatus::Open, CheckoutTransition::Pay) => Some(CheckoutStatus::Complete),
            (CheckoutStatus::Open, CheckoutTransition::Expire) => Some(CheckoutStatus::Expired),
            (CheckoutStatus::Complete | CheckoutStatus::Expired, _) => None,
        }
    }
}

/// `payment_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutPaymentStatus {
    Unpaid,
    Paid,
}

/// A payment method type the hosted page can offer: cards (with 3-D
/// Secure), the wallets Alipay and WeChat Pay (CNY only), and the
/// session's customer's stored value (`customer_balance`, the e-wallet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutMethod {
    Card,
    Alipay,
    WechatPay,
    CustomerBalance,
}

/// The only currency the wallets' domestic APIs take.
pub const WALLET_CURRENCY: &str = "cny";

impl CheckoutMethod {
    pub const ALL: [CheckoutMethod; 4] = [
        CheckoutMethod::Card,
        CheckoutMethod::Alipay,
        CheckoutMethod::WechatPay,
        CheckoutMethod::CustomerBalance,
    ];
    /// What a session offers when `payment_method_types` is not given.
    pub const DEFAULT: [CheckoutMethod; 1] = [CheckoutMethod::Card];

    pub fn is_wallet(self) -> bool {
        matches!(self, CheckoutMethod::Alipay | CheckoutMethod::WechatPay)
    }

    pub fn parse(text: &str) -> Option<Self> {
        CheckoutMethod::ALL
            .into_iter()
            .find(|method| method.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutMethod::Card => "card",
            CheckoutMethod::Alipay => "alipay",
            CheckoutMethod::WechatPay => "wechat_pay",
            CheckoutMethod::CustomerBalance => "customer_balance",
        }
    }
}

/// The `locale` values Stripe Checkout accepts (`auto` = the browser's),
/// plus `zh-CN`, which names Simplified Chinese as the page renders it.
pub const LOCALES: &[&str] = &[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr",
    "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt",
    "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-CN", "zh-HK", "zh-TW",
];

/// One line item as the merchant described it (`price_data` inline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineItemRequest {
    pub name: String,
    pub description: Option<String>,
    pub currency: Currency,
    /// Per unit, in minor units; zero is allowed (a free item).
    pub unit_amount_minor: i64,
    pub quantity: i64,
}

/// A stored line item: the item, its price and product ids, and its total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub id: String,
    pub price_id: String,
    pub product_id: String,
    pub name: String,
    pub description: Option<String>,
    pub currency: Currency,
    pub unit_amount_minor: i64,
    pub quantity: i64,
    pub amount_total_minor: i64,
}

/// Who pays: an existing customer, or an email to prefill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payer {
    Anonymous,
    Customer(String),
    Email(Email),
}

/// Everything `POST /v1/checkout/sessions` asks for, parsed.
#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    pub line_items: Vec<LineItemRequest>,
    pub success_url: String,
    pub cancel_url: Option<String>,
    pub payer: Payer,
    pub client_reference_id: Option<String>,
    pub methods: Vec<CheckoutMethod>,
    pub locale: Option<String>,
    pub expires_at: Option<UnixSeconds>,
    pub metadata: Metadata,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckoutError {
    #[error("A Checkout Session needs at least one line item.")]
    NoLineItems,
    #[error("A Checkout Session can have at most {LINE_ITEMS_MAX} line items.")]
    TooManyLineItems,
    #[error("All line items must use the same currency.")]
    MixedCurrencies,
    #[error("The quantity of line_items[{0}] must be between 1 and {QUANTITY_MAX}.")]
    InvalidQuantity(usize),
    #[error("The unit_amount of line_items[{0}] must be zero or more, and at most 99999999.")]
    InvalidUnitAmount(usize),
    #[error("The total of the line items is not a valid amount: {0}")]
    InvalidTotal(MoneyError),
    #[error("The Checkout Session's expires_at must be between 30 minutes and 24 hours after its creation.")]
    ExpiryOutOfRange,
    #[error("Not a valid URL: {0} must be an absolute http or https URL.")]
    InvalidUrl(&'static str),
    /// `payment_method_types[index]` is a wallet, which takes CNY only.
    #[error("The payment method type {method} takes payments in cny only; this session's line items are in {currency}.")]
    WalletCurrency {
        index: usize,
        method: &'static str,
        currency: String,
    },
    /// `payment_method_types[index]` is `customer_balance`, which pays from
    /// a customer's stored value: the session must name that customer.
    #[error("The payment method type customer_balance pays from a customer's balance: the Checkout Session needs customer.")]
    BalanceNeedsCustomer { index: usize },
}

impl CheckoutError {
    /// The wire parameter the error is about.
    pub fn param(&self) -> String {
        match self {
            CheckoutError::NoLineItems
            | CheckoutError::TooManyLineItems
            | CheckoutError::MixedCurrencies
            | CheckoutError::InvalidTotal(_) => "line_items".to_owned(),
            CheckoutError::InvalidQuantity(i) => format!("line_items[{i}][quantity]"),
            CheckoutError::InvalidUnitAmount(i) => {
                format!("line_items[{i}][price_data][unit_amount]")
            }
            CheckoutError::ExpiryOutOfRange => "expires_at".to_owned(),
            CheckoutError::InvalidUrl(param) => (*param).to_owned(),
            CheckoutError::WalletCurrency { index, .. }
            | CheckoutError::BalanceNeedsCustomer { index } => {
                format!("payment_method_types[{index}]")
            }
        }
    }
}

/// A Checkout Session. Built only by [`CheckoutSession::open`]; totals
/// are computed from the line items, never taken from the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSession {
    pub id: CheckoutSessionId,
    pub livemode: bool,
    pub created: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub status: CheckoutStatus,
    pub payment_status: CheckoutPaymentStatus,
    pub currency: Currency,
    pub amount_total_minor: i64,
    pub line_items: Vec<LineItem>,
    pub success_url: String,
    pub cancel_url: Option<String>,
    pub customer: Option<String>,
    pub customer_email: Option<String>,
    pub client_reference_id: Option<String>,
    pub payment_method_types: Vec<CheckoutMethod>,
    pub locale: Option<String>,
    pub metadata: Metadata,
    pub payment_intent: Option<String>,
    /// Payments tried on the hosted page, declines included; at most
    /// [`PAYMENT_ATTEMPTS_MAX`], so a session's page cannot be used to test
    /// stolen cards.
    #[serde(default)]
    pub payment_attempts: u32,
    /// What the session's PaymentIntent is for: a top-up of the
    /// customer's balance (the hosted top-up page's sessions), else a sale.
    #[serde(default)]
    pub purpose: Option<crate::payment_intents::IntentPurpose>,
}

/// Most payments one session's page may try.
pub const PAYMENT_ATTEMPTS_MAX: u32 = 10;

impl CheckoutSession {
    /// A new open session, or why the request cannot make one.
    pub fn open(
        request: CheckoutRequest,
        livemode: bool,
        now: UnixSeconds,
    ) -> Result<Self, CheckoutError> {
        check_url(&request.success_url, "success_url")?;
        if let Some(url) = &request.cancel_url {
            check_url(url, "cancel_url")?;
        }
        let expires_at = match request.expires_at {
            None => now + EXPIRY_S_MAX,
            Some(at) if (now + EXPIRY_S_MIN..=now + EXPIRY_S_MAX).contains(&at) => at,
            Some(_) => return Err(CheckoutError::ExpiryOutOfRange),
        };
        let (line_items, currency, total) = priced(&request.line_items)?;
        let (customer, customer_email) = match request.payer {
            Payer::Anonymous => (None, None),
            Payer::Customer(id) => (Some(id), None),
            Payer::Email(email) => (None, Some(email.as_str().to_owned())),
        };
        let methods = if request.methods.is_empty() {
            CheckoutMethod::DEFAULT.to_vec()
        } else {
            request.methods
        };
        if let Some(index) = methods.iter().position(|m| m.is_wallet()) {
            if currency.as_str() != WALLET_CURRENCY {
                return Err(CheckoutError::WalletCurrency {
                    index,
                    method: methods[index].as_str(),
                    currency: currency.as_str().to_owned(),
                });
            }
        }
        let balance = methods
            .iter()
            .position(|m| *m == CheckoutMethod::CustomerBalance);
        if let (Some(index), None) = (balance, &customer) {
            return Err(CheckoutError::BalanceNeedsCustomer { index });
        }
        Ok(CheckoutSession {
            id: CheckoutSessionId::generate(livemode),
            livemode,
            created: now,
            expires_at,
            status: CheckoutStatus::Open,
            payment_status: CheckoutPaymentStatus::Unpaid,
            currency,
            amount_total_minor: total.minor(),
            line_items,
            success_url: request.success_url,
            cancel_url: request.cancel_url,
            customer,
            customer_email,
            client_reference_id: request.client_reference_id,
            payment_method_types: methods,
            locale: request.locale,
            metadata: request.metadata,
            payment_intent: None,
            payment_attempts: 0,
            purpose: None,
        })
    }

    /// The open session with one more payment attempt counted, or `None`
    /// when it is not open or has used all of [`PAYMENT_ATTEMPTS_MAX`].
    pub fn attempted(&self) -> Option<CheckoutSession> {
        if self.status != CheckoutStatus::Open || self.payment_attempts >= PAYMENT_ATTEMPTS_MAX {
            return None;
        }
        let mut next = self.clone();
        next.payment_attempts += 1;
        Some(next)
    }

    /// The session after `transition`, or `None` when its status forbids it.
    pub fn moved(&self, transition: CheckoutTransition) -> Option<CheckoutSession> {
        let status = self.status.after(transition)?;
        let mut next = self.clone();
        next.status = status;
        if transition == CheckoutTransition::Pay {
            next.payment_status = CheckoutPaymentStatus::Paid;
        }
        Some(next)
    }

    /// The session paid by `payment_intent`.
    pub fn paid_by(&self, payment_intent: &str) -> Option<CheckoutSession> {
        let mut next = self.moved(CheckoutTransition::Pay)?;
        next.payment_intent = Some(payment_intent.to_owned());
        Some(next)
    }

    /// True once `now` has reached `expires_at` on an open session.
    pub fn is_due_to_expire(&self, now: UnixSeconds) -> bool {
        self.status == CheckoutStatus::Open && now >= self.expires_at
    }

    /// `success_url` with `{CHECKOUT_SESSION_ID}` replaced by the id.
    pub fn success_redirect(&self) -> String {
        self.success_url
            .replace(SESSION_ID_PLACEHOLDER, self.id.as_str())
    }

    /// `cancel_url` with `{CHECKOUT_SESSION_ID}` replaced by the id.
    pub fn cancel_redirect(&self) -> Option<String> {
        self.cancel_url
            .as_ref()
            .map(|url| url.replace(SESSION_ID_PLACEHOLDER, self.id.as_str()))
    }
}

/// Prices the line items: their ids, each total, the currency they share
/// and the session's total (at least one minor unit, checked).
fn priced(items: &[LineItemRequest]) -> Result<(Vec<LineItem>, Currency, Amount), CheckoutError> {
    let first = items.first().ok_or(CheckoutError::NoLineItems)?;
    if items.len() > LINE_ITEMS_MAX {
        return Err(CheckoutError::TooManyLineItems);
    }
    let mut total_minor: i64 = 0;
    let mut priced = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        if item.currency != first.currency {
            return Err(CheckoutError::MixedCurrencies);
        }
        if !(1..=QUANTITY_MAX).contains(&item.quantity) {
            return Err(CheckoutError::InvalidQuantity(index));
        }
        if !(0..=crate::money::AMOUNT_MINOR_MAX).contains(&item.unit_amount_minor) {
            return Err(CheckoutError::InvalidUnitAmount(index));
        }
        let line_total = item
            .unit_amount_minor
            .checked_mul(item.quantity)
            .ok_or(CheckoutError::InvalidTotal(MoneyError::AmountTooLarge))?;
        total_minor = total_minor
            .checked_add(line_total)
            .ok_or(CheckoutError::InvalidTotal(MoneyError::AmountTooLarge))?;
        priced.push(LineItem {
            id: new_id("li"),
            price_id: new_id("price"),
            product_id: new_id("prod"),
            name: item.name.clone(),
            description: item.description.clone(),
            currency: item.currency,
            unit_amount_minor: item.unit_amount_minor,
            quantity: item.quantity,
            amount_total_minor: line_total,
        });
    }
    let total = Amount::parse_minor(total_minor).map_err(CheckoutError::InvalidTotal)?;
    Ok((priced, first.currency, total))
}

/// An absolute `http`/`https` URL with a host. The placeholder is not
/// valid URL syntax in every position, so it is checked as a plain word.
fn check_url(text: &str, param: &'static str) -> Result<(), CheckoutError> {
    let probe = text.replace(SESSION_ID_PLACEHOLDER, "cs_placeholder");
    match url::Url::parse(&probe) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && text.chars().count() <= URL_CHARS_MAX =>
        {
            Ok(())
        }
        _ => Err(CheckoutError::InvalidUrl(param)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(currency: &str, unit: i64, quantity: i64) -> LineItemRequest {
        LineItemRequest {
            name: "T-shirt".into(),
            description: None,
            currency: Currency::parse(currency).unwrap(),
            unit_amount_minor: unit,
            quantity,
        }
    }

    fn request(items: Vec<LineItemRequest>) -> CheckoutRequest {
        CheckoutRequest {
            line_items: items,
            success_url: "https://shop.example/ok?s={CHECKOUT_SESSION_ID}".into(),
            cancel_url: Some("https://shop.example/cancel".into()),
            payer: Payer::Anonymous,
            client_reference_id: None,
            methods: vec![],
            locale: None,
            expires_at: None,
            metadata: Metadata::default(),
        }
    }

    #[test]
    fn totals_are_the_checked_sum_of_unit_times_quantity() {
        let s = CheckoutSession::open(
            request(vec![item("usd", 2000, 2), item("usd", 150, 3)]),
            false,
            1_000,
        )
        .unwrap();
        assert_eq!(s.amount_total_minor, 4450);
        assert_eq!(s.line_items[1].amount_total_minor, 450);
        assert_eq!(s.expires_at, 1_000 + EXPIRY_S_MAX);
        assert!(s.id.as_str().starts_with("cs_test_"));
        assert_eq!(s.payment_method_types, vec![CheckoutMethod::Card]);
    }

    #[test]
    fn overflowing_zero_and_mixed_totals_are_refused() {
        let huge = request(vec![item("usd", 99_999_999, QUANTITY_MAX)]);
        assert!(matches!(
            CheckoutSession::open(huge, false, 0),
            Err(CheckoutError::InvalidTotal(_))
        ));
        let free = request(vec![item("usd", 0, 1)]);
        assert!(matches!(
            CheckoutSession::open(free, false, 0),
            Err(CheckoutError::InvalidTotal(MoneyError::AmountTooSmall))
        ));
        let mixed = request(vec![item("usd", 1, 1), item("eur", 1, 1)]);
        assert_eq!(
            CheckoutSession::open(mixed, false, 0).unwrap_err(),
            CheckoutError::MixedCurrencies
        );
        let none = request(vec![]);
        assert_eq!(
            CheckoutSession::open(none, false, 0).unwrap_err(),
            CheckoutError::NoLineItems
        );
        let zero_quantity = request(vec![item("usd", 100, 0)]);
        assert_eq!(
            CheckoutSession::open(zero_quantity, false, 0)
                .unwrap_err()
                .param(),
            "line_items[0][quantity]"
        );
    }

    #[test]
    fn expiry_must_fall_between_thirty_minutes_and_a_day() {
        for (at, ok) in [
            (EXPIRY_S_MIN - 1, false),
            (EXPIRY_S_MIN, true),
            (EXPIRY_S_MAX, true),
            (EXPIRY_S_MAX + 1, false),
        ] {
            let mut r = request(vec![item("usd", 100, 1)]);
            r.expires_at = Some(10_000 + at);
            assert_eq!(CheckoutSession::open(r, false, 10_000).is_ok(), ok, "{at}");
        }
    }

    #[test]
    fn redirect_urls_must_be_absolute_http_and_get_the_id() {
        let mut r = request(vec![item("usd", 100, 1)]);
        r.success_url = "javascript:alert(1)".into();
        assert_eq!(
            CheckoutSession::open(r, false, 0).unwrap_err(),
            CheckoutError::InvalidUrl("success_url")
        );
        let s = CheckoutSession::open(request(vec![item("usd", 100, 1)]), true, 0).unwrap();
        assert!(s.id.as_str().starts_with("cs_live_"));
        assert_eq!(
            s.success_redirect(),
            format!("https://shop.example/ok?s={}", s.id.as_str())
        );
    }

    #[test]
    fn only_open_sessions_are_paid_or_expired() {
        let s = CheckoutSession::open(request(vec![item("usd", 100, 1)]), false, 0).unwrap();
        let expired = s.moved(CheckoutTransition::Expire).unwrap();
        assert_eq!(expired.status, CheckoutStatus::Expired);
        assert!(expired.moved(CheckoutTransition::Pay).is_none());
        let paid = s.paid_by("pi_1").unwrap();
        assert_eq!(paid.payment_status, CheckoutPaymentStatus::Paid);
        assert!(paid.moved(CheckoutTransition::Expire).is_none());
        assert!(s.is_due_to_expire(s.expires_at));
        assert!(!s.is_due_to_expire(s.expires_at - 1));
    }

    #[test]
    fn a_session_counts_its_payment_attempts_up_to_the_bound() {
        let mut session =
            CheckoutSession::open(request(vec![item("usd", 500, 1)]), false, 0).unwrap();
        for tried in 1..=PAYMENT_ATTEMPTS_MAX {
            session = session.attempted().expect("within the bound");
            assert_eq!(session.payment_attempts, tried);
        }
        assert_eq!(session.attempted(), None);
        let expired = CheckoutSession::open(request(vec![item("usd", 500, 1)]), false, 0)
            .unwrap()
            .moved(CheckoutTransition::Expire)
            .unwrap();
        assert_eq!(expired.attempted(), None);
    }

    #[test]
    fn wallets_need_cny_and_the_default_is_cards() {
        let mut usd = request(vec![item("usd", 500, 1)]);
        assert_eq!(
            CheckoutSession::open(usd.clone(), false, 1_000)
                .unwrap()
                .payment_method_types,
            vec![CheckoutMethod::Card]
        );
        usd.methods = vec![CheckoutMethod::Card, CheckoutMethod::WechatPay];
        let err = CheckoutSession::open(usd, false, 1_000).unwrap_err();
        assert_eq!(err.param(), "payment_method_types[1]");
        assert!(err.to_string().contains("cny only"), "{err}");
        let mut cny = request(vec![item("cny", 500, 1)]);
        cny.methods = vec![CheckoutMethod::Alipay, CheckoutMethod::WechatPay];
        let s = CheckoutSession::open(cny, false, 1_000).unwrap();
        assert_eq!(s.payment_method_types.len(), 2);
        assert_eq!(
            CheckoutMethod::parse("wechat_pay"),
            Some(CheckoutMethod::WechatPay)
        );
    }

    #[test]
    fn the_customer_balance_needs_the_sessions_customer_in_any_currency() {
        let mut anonymous = request(vec![item("usd", 500, 1)]);
        anonymous.methods = vec![CheckoutMethod::Card, CheckoutMethod::CustomerBalance];
        let err = CheckoutSession::open(anonymous.clone(), false, 1_000).unwrap_err();
        assert_eq!(err, CheckoutError::BalanceNeedsCustomer { index: 1 });
        assert_eq!(err.param(), "payment_method_types[1]");
        let mut known = anonymous;
        known.payer = Payer::Customer("cus_1".into());
        let s = CheckoutSession::open(known, false, 1_000).unwrap();
        assert!(s
            .payment_method_types
            .contains(&CheckoutMethod::CustomerBalance));
        assert_eq!(
            CheckoutMethod::parse("customer_balance"),
            Some(CheckoutMethod::CustomerBalance)
        );
    }
}
