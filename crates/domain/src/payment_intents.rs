//! PaymentIntents: one customer's intention to pay an amount, and its life
//! from `requires_payment_method` to `succeeded` or `canceled`.
//!
//! [`PaymentIntentStatus::after`] is the one function that says which moves
//! are legal; every state change asks it.

use crate::customers::Patch;
use crate::ids::new_id;
use crate::metadata::Metadata;
use crate::money::{Amount, Currency};
use crate::UnixSeconds;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentIntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    /// An authorization is in flight (between the two atomic phases).
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
}

/// What happens to an intent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntentEvent {
    /// A payment method was given (create, update or confirm).
    PaymentMethodGiven,
    /// An authorization attempt is recorded as sent to the connector.
    AttemptSent,
    /// The connector approved; `manual_capture` leaves funds to capture.
    Approved {
        manual_capture: bool,
    },
    /// The issuer asks the customer to authenticate.
    AuthenticationRequired,
    /// The customer passed the challenge; a new attempt will be sent.
    Authenticated,
    /// Declined, blocked, failed authentication or an unresolvable attempt.
    Failed,
    Captured,
    Canceled,
    /// A wallet trade was opened: the customer pays in the wallet app.
    WalletTradeOpened,
    /// The wallet provider reports the trade paid.
    WalletPaid,
    /// The wallet trade expired (closed at the provider) unpaid.
    WalletExpired,
    /// Paid at once from the customer's stored-value balance.
    PaidFromBalance,
}

impl PaymentIntentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::Processing => "processing",
            Self::RequiresCapture => "requires_capture",
            Self::Canceled => "canceled",
            Self::Succeeded => "succeeded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::RequiresPaymentMethod,
            Self::RequiresConfirmation,
            Self::RequiresAction,
            Self::Processing,
            Self::RequiresCapture,
            Self::Canceled,
            Self::Succeeded,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// The status after `event`, or `None` when the move is illegal (the
    /// API answers `payment_intent_unexpected_state`).
    pub fn after(self, event: IntentEvent) -> Option<Self> {
        use IntentEvent as E;
        use PaymentIntentStatus as S;
        match (self, event) {
            (
                S::RequiresPaymentMethod | S::RequiresConfirmation | S::RequiresAction,
                E::PaymentMethodGiven,
            ) => Some(S::RequiresConfirmation),
            (S::RequiresConfirmation, E::AttemptSent) => Some(S::Processing),
            (S::RequiresAction, E::Authenticated) => Some(S::Processing),
            (
                S::Processing,
                E::Approved {
                    manual_capture: true,
                },
            ) => Some(S::RequiresCapture),
            (
                S::Processing,
                E::Approved {
                    manual_capture: false,
                },
            ) => Some(S::Succeeded),
            // From processing the issuer asks; from requires_confirmation a
            // risk rule (`request_3ds`) asks before any acquirer is called.
            (S::Processing | S::RequiresConfirmation, E::AuthenticationRequired) => {
                Some(S::RequiresAction)
            }
            (S::Processing | S::RequiresAction | S::RequiresConfirmation, E::Failed) => {
                Some(S::RequiresPaymentMethod)
            }
            (S::RequiresCapture, E::Captured) => Some(S::Succeeded),
            (S::RequiresConfirmation, E::WalletTradeOpened) => Some(S::RequiresAction),
            (S::RequiresAction | S::Processing, E::WalletPaid) => Some(S::Succeeded),
            (S::RequiresAction | S::Processing, E::WalletExpired) => Some(S::Canceled),
            (S::RequiresConfirmation, E::PaidFromBalance) => Some(S::Succeeded),
            (
                S::RequiresPaymentMethod
                | S::RequiresConfirmation
                | S::RequiresAction
                | S::RequiresCapture,
                E::Canceled,
            ) => Some(S::Canceled),
            _ => None,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Canceled)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMethod {
    Automatic,
    AutomaticAsync,
    Manual,
}

impl CaptureMethod {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "automatic" => Some(Self::Automatic),
            "automatic_async" => Some(Self::AutomaticAsync),
            "manual" => Some(Self::Manual),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmationMethod {
    Automatic,
    Manual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancellationReason {
    Duplicate,
    Fraudulent,
    RequestedByCustomer,
    Abandoned,
    /// Set by the gateway, e.g. when an authorization is voided after a fault.
    Automatic,
}

/// What an intent's money is for, beyond paying the merchant (our
/// extension: Stripe has no such field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentPurpose {
    /// Money into the intent's customer's stored-value balance: what is
    /// captured is credited to the wallet in the capture's write set.
    CustomerBalanceTopUp,
}

impl IntentPurpose {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "customer_balance_top_up" => Some(Self::CustomerBalanceTopUp),
            _ => None,
        }
    }
}

impl CancellationReason {
    /// The reasons a client may give.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "duplicate" => Some(Self::Duplicate),
            "fraudulent" => Some(Self::Fraudulent),
            "requested_by_customer" => Some(Self::RequestedByCustomer),
            "abandoned" => Some(Self::Abandoned),
            _ => None,
        }
    }
}

/// Why the last attempt failed, as the wire's `last_payment_error` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentError {
    /// `card_error` for declines, `invalid_request_error` for failed authentication.
    pub kind: String,
    pub code: String,
    pub decline_code: Option<String>,
    pub message: String,
    pub charge: Option<String>,
    pub payment_method: Option<String>,
}

/// What the customer must do next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NextAction {
    /// Authenticate on the page at `url`; afterwards go to `return_url`.
    RedirectToUrl {
        url: String,
        return_url: Option<String>,
    },
    /// A wallet's action, rendered as `{"type": kind, kind: details}`
    /// (`alipay_handle_redirect`, `wechat_pay_display_qr_code`, …).
    Wallet {
        kind: String,
        details: serde_json::Value,
    },
}

/// How the risk check scored a wallet payment it let through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletRisk {
    /// `normal`, `elevated` or `highest`.
    pub risk_level: String,
    /// 0–100.
    pub risk_score: u8,
    /// The risk signals that mattered, by name.
    #[serde(default)]
    pub signals: serde_json::Map<String, serde_json::Value>,
    /// The `review` rule that matched: the charge is placed in review
    /// when the trade is paid, as a card payment is when authorized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_rule: Option<String>,
    /// The `request_3ds` rule that matched: 3-D Secure is for cards, and
    /// the wallet authenticates its customer itself (password or
    /// biometrics), so the rule stands satisfied by that authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfied_by_wallet_rule: Option<String>,
}

/// The trade a wallet payment opened at its provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletTrade {
    /// `alipay` or `wechat_pay`.
    pub provider: String,
    /// The connector account (`ca_…`) the trade was opened with.
    pub connector_account: String,
    /// Our id of the trade at the provider.
    pub out_trade_no: String,
    /// How many trades this intent has opened (this one included).
    pub number: u32,
    /// The Alipay channel or WeChat Pay client (`qr`, `web`, …).
    pub flow: String,
    /// When the trade is closed unpaid.
    pub expires_at: UnixSeconds,
    /// The QR code's data, for the images served under the client secret.
    pub qr_data: Option<String>,
    /// Alipay `trade_no` / WeChat `transaction_id`, once paid.
    pub provider_trade_id: Option<String>,
    /// When the trade was opened (`None` for trades stored before this
    /// was recorded): the worker's early queries count from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<UnixSeconds>,
    /// Opened from the aggregated QR's page (the code for both wallets):
    /// a rescan of that code may start a new trade once this one ended
    /// unpaid.
    #[serde(default, skip_serializing_if = "is_false")]
    pub aggregated: bool,
    /// The PaymentMethod the customer's pick on the aggregated QR's page
    /// made: while it is the intent's, the intent still pays by this code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picked_method: Option<String>,
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

impl WalletTrade {
    /// The `out_trade_no` of trade `number` of intent `intent_id`.
    pub fn out_trade_no_for(intent_id: &str, number: u32) -> String {
        if number <= 1 {
            intent_id.to_owned()
        } else {
            format!("{intent_id}_{number}")
        }
    }

    /// The intent an `out_trade_no` of ours belongs to.
    pub fn intent_of(out_trade_no: &str) -> &str {
        match out_trade_no.match_indices('_').nth(1) {
            Some((at, _)) => &out_trade_no[..at],
            None => out_trade_no,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub created: UnixSeconds,
    pub livemode: bool,
    pub amount: Amount,
    pub currency: Currency,
    /// Minor units authorized and not yet captured.
    pub amount_capturable_minor: i64,
    /// Minor units captured.
    pub amount_received_minor: i64,
    pub capture_method: CaptureMethod,
    pub confirmation_method: ConfirmationMethod,
    pub client_secret: String,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub last_payment_error: Option<PaymentError>,
    pub latest_charge: Option<String>,
    pub metadata: Metadata,
    pub next_action: Option<NextAction>,
    pub payment_method: Option<String>,
    pub payment_method_types: Vec<String>,
    pub receipt_email: Option<String>,
    pub return_url: Option<String>,
    pub setup_future_usage: Option<String>,
    pub statement_descriptor_suffix: Option<String>,
    pub status: PaymentIntentStatus,
    pub canceled_at: Option<UnixSeconds>,
    pub cancellation_reason: Option<CancellationReason>,
    /// The attempt sent to a connector and not yet resolved (`pa_…`).
    pub pending_attempt: Option<String>,
    /// The customer's IP address as the merchant gave it (`customer_ip`),
    /// for risk signals; never rendered.
    #[serde(default)]
    pub customer_ip: Option<String>,
    /// The review (`prv_…`) a risk rule opened on this payment, as on its charge.
    #[serde(default)]
    pub review: Option<String>,
    /// The wallet trade of an Alipay or WeChat Pay payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<WalletTrade>,
    /// The risk verdict of the latest wallet confirm, for the charge's
    /// `outcome` when the trade is paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet_risk: Option<WalletRisk>,
    /// Set at creation only; `None` for an ordinary payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<IntentPurpose>,
    /// Minor units of a payment from the customer balance given back to
    /// the balance by refunds (such a payment has no charge to count them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub balance_refunded_minor: i64,
    /// Why and until when a payment from the balance waited (or waits)
    /// for its holder's step-up, as last asked; `None` if never asked.
    /// It counts only while the intent waits ([`Self::waiting_balance_step_up`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_step_up: Option<BalanceStepUp>,
    /// Wrong passwords or codes given on the hosted step-up page while this
    /// balance payment waited for its holder (the page fails it at 3).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub step_up_failures: i64,
    /// The Checkout Session (`cs_…`) this intent was made for, set at
    /// creation: its payment completes the session in the same commit.
    /// `None` for an intent made through the API; never rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_session: Option<String>,
}

/// Why a payment from the customer balance asks for the holder's step-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepUpReason {
    /// Above `accounts_balance_step_up_above`.
    Amount,
    /// Confirmed in a session on a device the holder has not stepped up on.
    NewDevice,
    /// A risk rule answered `request_3ds`.
    RiskRule,
}

impl StepUpReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StepUpReason::Amount => "amount",
            StepUpReason::NewDevice => "new_device",
            StepUpReason::RiskRule => "risk_rule",
        }
    }
}

/// A payment from the balance waiting for its holder's step-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceStepUp {
    pub reason: StepUpReason,
    /// When the confirmation asked for it.
    pub asked_at: UnixSeconds,
    /// When the wait ends: the intent then fails (the expiry worker, or
    /// the holder's authorize, whichever comes first).
    pub expires_at: UnixSeconds,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// Fields a create or update request may set.
#[derive(Clone, Debug, Default)]
pub struct IntentChanges {
    pub amount: Option<Amount>,
    pub currency: Option<Currency>,
    pub customer: Patch<String>,
    pub description: Patch<String>,
    pub metadata: Option<crate::metadata::MetadataUpdate>,
    pub payment_method: Option<String>,
    pub receipt_email: Patch<String>,
    pub return_url: Option<String>,
    pub capture_method: Option<CaptureMethod>,
    pub statement_descriptor_suffix: Patch<String>,
    pub setup_future_usage: Patch<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntentError {
    #[error("This PaymentIntent's status is {status}; it cannot be {action}.")]
    UnexpectedState {
        status: &'static str,
        action: &'static str,
    },
    #[error(transparent)]
    Metadata(#[from] crate::metadata::MetadataError),
}

impl PaymentIntent {
    /// A new intent in `requires_payment_method`, or `requires_confirmation`
    /// when a payment method is given.
    pub fn create(
        amount: Amount,
        currency: Currency,
        payment_method_types: Vec<String>,
        livemode: bool,
        created: UnixSeconds,
    ) -> Self {
        let id = new_id("pi");
        let client_secret = format!("{id}_secret_{}", crate::ids::random_base62(24));
        Self {
            id,
            created,
            livemode,
            amount,
            currency,
            amount_capturable_minor: 0,
            amount_received_minor: 0,
            capture_method: CaptureMethod::Automatic,
            confirmation_method: ConfirmationMethod::Automatic,
            client_secret,
            customer: None,
            description: None,
            last_payment_error: None,
            latest_charge: None,
            metadata: Metadata::default(),
            next_action: None,
            payment_method: None,
            payment_method_types,
            receipt_email: None,
            return_url: None,
            setup_future_usage: None,
            statement_descriptor_suffix: None,
            status: PaymentIntentStatus::RequiresPaymentMethod,
            canceled_at: None,
            cancellation_reason: None,
            pending_attempt: None,
            customer_ip: None,
            review: None,
            wallet: None,
            wallet_risk: None,
            purpose: None,
            balance_refunded_minor: 0,
            balance_step_up: None,
            step_up_failures: 0,
            checkout_session: None,
        }
    }

    /// Moves to the status after `event`, or says why it may not.
    pub fn apply(&mut self, event: IntentEvent, action: &'static str) -> Result<(), IntentError> {
        match self.status.after(event) {
            Some(next) => {
                self.status = next;
                // `next_action` is what `requires_action` waits for: leaving
                // that status (a new payment method, a block, a cancel) makes
                // it moot, and a stale challenge link must not be shown.
                if next != PaymentIntentStatus::RequiresAction {
                    self.next_action = None;
                }
                Ok(())
            }
            None => Err(IntentError::UnexpectedState {
                status: self.status.as_str(),
                action,
            }),
        }
    }

    /// Applies a create/update request's fields; legal only before confirmation.
    pub fn change(&mut self, changes: &IntentChanges) -> Result<(), IntentError> {
        if !matches!(
            self.status,
            PaymentIntentStatus::RequiresPaymentMethod
                | PaymentIntentStatus::RequiresConfirmation
                | PaymentIntentStatus::RequiresAction
        ) {
            return Err(IntentError::UnexpectedState {
                status: self.status.as_str(),
                action: "updated",
            });
        }
        if let Some(update) = &changes.metadata {
            self.metadata = self.metadata.updated(update)?;
        }
        if let Some(amount) = changes.amount {
            self.amount = amount;
        }
        if let Some(currency) = changes.currency {
            self.currency = currency;
        }
        if let Some(method) = changes.capture_method {
            self.capture_method = method;
        }
        if let Some(url) = &changes.return_url {
            self.return_url = Some(url.clone());
        }
        patch(&mut self.customer, &changes.customer);
        patch(&mut self.description, &changes.description);
        patch(&mut self.receipt_email, &changes.receipt_email);
        patch(
            &mut self.statement_descriptor_suffix,
            &changes.statement_descriptor_suffix,
        );
        patch(&mut self.setup_future_usage, &changes.setup_future_usage);
        if let Some(pm) = &changes.payment_method {
            self.payment_method = Some(pm.clone());
            self.apply(IntentEvent::PaymentMethodGiven, "given a payment method")?;
        }
        Ok(())
    }

    /// The wallet trade this intent waits on (`requires_action` or
    /// `processing`), if any.
    pub fn waiting_wallet_trade(&self) -> Option<&WalletTrade> {
        self.wallet.as_ref().filter(|_| {
            matches!(
                self.status,
                PaymentIntentStatus::RequiresAction | PaymentIntentStatus::Processing
            )
        })
    }

    /// The step-up this payment from the balance waits for
    /// (`requires_action` with neither a PaymentMethod nor a wallet
    /// trade), if any.
    pub fn waiting_balance_step_up(&self) -> Option<&BalanceStepUp> {
        self.balance_step_up.as_ref().filter(|_| {
            self.status == PaymentIntentStatus::RequiresAction
                && self.payment_method.is_none()
                && self.wallet.is_none()
        })
    }

    pub fn is_manual_capture(&self) -> bool {
        self.capture_method == CaptureMethod::Manual
    }

    /// `card_present` when a terminal read the card (the intent's only
    /// payment method type), else `card`.
    pub fn card_presence(&self) -> crate::charges::CardPresence {
        if self.payment_method_types == ["card_present"] {
            crate::charges::CardPresence::CardPresent
        } else {
            crate::charges::CardPresence::Card
        }
    }
}

fn patch(field: &mut Option<String>, change: &Patch<String>) {
    match change {
        Patch::Keep => {}
        Patch::Clear => *field = None,
        Patch::Set(value) => *field = Some(value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IntentEvent as E;
    use PaymentIntentStatus as S;

    const ALL: [S; 7] = [
        S::RequiresPaymentMethod,
        S::RequiresConfirmation,
        S::RequiresAction,
        S::Processing,
        S::RequiresCapture,
        S::Canceled,
        S::Succeeded,
    ];

    #[test]
    fn final_states_accept_nothing() {
        let events = [
            E::PaymentMethodGiven,
            E::AttemptSent,
            E::Approved {
                manual_capture: true,
            },
            E::Approved {
                manual_capture: false,
            },
            E::AuthenticationRequired,
            E::Authenticated,
            E::Failed,
            E::Captured,
            E::Canceled,
            E::WalletTradeOpened,
            E::WalletPaid,
            E::WalletExpired,
            E::PaidFromBalance,
        ];
        for status in [S::Succeeded, S::Canceled] {
            for event in events {
                assert_eq!(status.after(event), None, "{status:?} {event:?}");
            }
        }
    }

    #[test]
    fn the_happy_paths() {
        let confirmed = S::RequiresPaymentMethod
            .after(E::PaymentMethodGiven)
            .unwrap();
        let sent = confirmed.after(E::AttemptSent).unwrap();
        assert_eq!(sent, S::Processing);
        assert_eq!(
            sent.after(E::Approved {
                manual_capture: false
            }),
            Some(S::Succeeded)
        );
        let held = sent
            .after(E::Approved {
                manual_capture: true,
            })
            .unwrap();
        assert_eq!(held.after(E::Captured), Some(S::Succeeded));
        let challenged = sent.after(E::AuthenticationRequired).unwrap();
        assert_eq!(challenged.after(E::Authenticated), Some(S::Processing));
        assert_eq!(sent.after(E::Failed), Some(S::RequiresPaymentMethod));
    }

    #[test]
    fn a_wallet_trade_is_paid_or_expires_only_while_it_waits() {
        let opened = S::RequiresConfirmation.after(E::WalletTradeOpened);
        assert_eq!(opened, Some(S::RequiresAction));
        for status in ALL {
            let waiting = matches!(status, S::RequiresAction | S::Processing);
            assert_eq!(status.after(E::WalletPaid).is_some(), waiting, "{status:?}");
            assert_eq!(
                status.after(E::WalletExpired).is_some(),
                waiting,
                "{status:?}"
            );
        }
        assert_eq!(S::RequiresAction.after(E::WalletPaid), Some(S::Succeeded));
        assert_eq!(S::Processing.after(E::WalletExpired), Some(S::Canceled));
    }

    #[test]
    fn out_trade_numbers_lead_back_to_their_intent() {
        let id = "pi_0123456789abcdefghijklmn";
        assert_eq!(WalletTrade::out_trade_no_for(id, 1), id);
        let second = WalletTrade::out_trade_no_for(id, 2);
        assert_eq!(second, format!("{id}_2"));
        assert_eq!(WalletTrade::intent_of(&second), id);
        assert_eq!(WalletTrade::intent_of(id), id);
    }

    #[test]
    fn cancel_is_legal_exactly_where_the_contract_says() {
        for status in ALL {
            let legal = matches!(
                status,
                S::RequiresPaymentMethod
                    | S::RequiresConfirmation
                    | S::RequiresAction
                    | S::RequiresCapture
            );
            assert_eq!(status.after(E::Canceled).is_some(), legal, "{status:?}");
        }
    }

    #[test]
    fn a_balance_payment_succeeds_only_from_requires_confirmation() {
        for status in ALL {
            let expected = (status == S::RequiresConfirmation).then_some(S::Succeeded);
            assert_eq!(status.after(E::PaidFromBalance), expected, "{status:?}");
        }
    }

    #[test]
    fn capture_only_from_requires_capture() {
        for status in ALL {
            assert_eq!(
                status.after(E::Captured).is_some(),
                status == S::RequiresCapture,
                "{status:?}"
            );
        }
    }

    #[test]
    fn leaving_requires_action_drops_the_next_action() {
        let mut intent = PaymentIntent::create(
            Amount::parse_minor(1000).unwrap(),
            Currency::parse("usd").unwrap(),
            vec!["card".to_owned()],
            false,
            0,
        );
        intent.status = S::RequiresAction;
        intent.next_action = Some(NextAction::RedirectToUrl {
            url: "https://example.test/authenticate".to_owned(),
            return_url: None,
        });
        intent.apply(E::PaymentMethodGiven, "given").unwrap();
        assert_eq!(intent.status, S::RequiresConfirmation);
        assert_eq!(intent.next_action, None);
    }

    #[test]
    fn statuses_round_trip_their_names() {
        for status in ALL {
            assert_eq!(S::parse(status.as_str()), Some(status));
        }
    }
}
