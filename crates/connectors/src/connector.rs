//! The connector interface: what the gateway asks of an acquirer (authorize,
//! capture, void, refund, and the queries crash recovery needs), and the
//! answers it can get back.
//!
//! Every acquirer (the sandbox today; ISO 8583 and HTTP processors later)
//! implements [`Connector`]. Amounts are integers in the minor unit of the
//! attempt's currency (`_minor`), never floats.
//!
//! Card data crosses this interface only inside [`CardData`], whose number and
//! CVC are the domain's secret types: their `Debug` shows at most the last four
//! digits, so no type here can print a card number or a CVC, and no error
//! message carries one.

use portcullis_domain::cards::{CardExpiry, CardNumber, Cvc};
use portcullis_domain::money::Currency;
use serde::{Deserialize, Serialize};

/// The card to charge, as the connector sends it to the acquirer. Lives only
/// for the call (PCI DSS 3.3.1: the CVC is never kept).
#[derive(Clone, Copy, Debug)]
pub struct CardData<'a> {
    /// The full number; `Debug` shows only its last four digits.
    pub number: &'a CardNumber,
    pub expiry: CardExpiry,
    /// Absent for stored cards charged later (the CVC is never stored).
    pub cvc: Option<&'a Cvc>,
}

/// One authorization attempt.
#[derive(Clone, Copy, Debug)]
pub struct AuthorizeRequest<'a> {
    /// Our attempt id (`pa_…`), unique per authorization attempt: the acquirer
    /// treats a repeat of the same attempt id as the same authorization
    /// (idempotent at the acquirer). A repeat with `authenticated = true` of
    /// an attempt that answered `AuthenticationRequired` continues it.
    pub attempt_id: &'a str,
    pub merchant_id: &'a str,
    /// In the minor unit of `currency`; positive.
    pub amount_minor: i64,
    pub currency: Currency,
    pub card: CardData<'a>,
    /// Capture in the same step (automatic capture).
    pub capture: bool,
    /// The cardholder passed a 3-D Secure style challenge for this attempt.
    pub authenticated: bool,
    /// The customer is not present (no challenge possible).
    pub off_session: bool,
}

/// The acquirer's answer to an authorization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AuthorizeOutcome {
    /// The issuer approved: `amount_minor` is held on the card, and captured
    /// too when `captured` (which always equals the request's `capture`).
    Approved {
        /// The acquirer's id of the authorization; what `capture`, `void`
        /// and `refund` take.
        reference: String,
        captured: bool,
        /// The issuer's approval code (e.g. six alphanumerics).
        authorization_code: String,
        /// What the issuer said of the CVC; `unavailable` when it said
        /// nothing (or an older journal or peer did not record it).
        #[serde(default)]
        cvc_check: CvcCheck,
        /// Set only when `captured`: the capture drew a dispute at once (the
        /// sandbox's `4000000000000259`). The payment still succeeded; the
        /// disputed amount is contested.
        dispute: Option<DisputeNotice>,
    },
    /// The issuer or acquirer refused; nothing is held on the card.
    Declined(Decline),
    /// The issuer wants the cardholder to authenticate; retry (with the same
    /// attempt id) with `authenticated = true` after the challenge. Nothing is
    /// held on the card yet.
    AuthenticationRequired,
}

impl AuthorizeOutcome {
    /// The outcome with an approval's reference renamed by `rename` (how a
    /// router marks which connector authorized); other outcomes unchanged.
    pub fn map_reference(self, rename: impl FnOnce(&str) -> String) -> AuthorizeOutcome {
        match self {
            AuthorizeOutcome::Approved {
                reference,
                captured,
                authorization_code,
                cvc_check,
                dispute,
            } => AuthorizeOutcome::Approved {
                reference: rename(&reference),
                captured,
                authorization_code,
                cvc_check,
                dispute,
            },
            other => other,
        }
    }
}

/// The issuer's verdict on the CVC: Stripe's `checks.cvc_check`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CvcCheck {
    /// The CVC matched.
    Pass,
    /// The CVC did not match.
    Fail,
    /// A CVC was given but the issuer did not check it.
    Unchecked,
    /// No CVC was given, or nobody said.
    #[default]
    Unavailable,
}

impl CvcCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            CvcCheck::Pass => "pass",
            CvcCheck::Fail => "fail",
            CvcCheck::Unchecked => "unchecked",
            CvcCheck::Unavailable => "unavailable",
        }
    }
}

/// Why a payment was refused, in Stripe's terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decline {
    /// Stripe's `error.code`.
    pub code: DeclineCode,
    /// Stripe's `error.decline_code` (`generic_decline`, `insufficient_funds`,
    /// `lost_card`, …), when the issuer gave one.
    pub decline_code: Option<String>,
    /// Stripe's customer-facing `error.message` ("Your card was declined.").
    pub message: String,
    /// The card network's own code for the decline (ISO 8583 DE 39, e.g.
    /// `62`), when the connector speaks to a network; Stripe's
    /// `outcome.network_decline_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_decline_code: Option<String>,
}

/// Stripe's `error.code` for a refused payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineCode {
    CardDeclined,
    ExpiredCard,
    IncorrectCvc,
    IncorrectNumber,
    ProcessingError,
    AuthenticationRequired,
}

impl DeclineCode {
    /// The wire string (`card_declined`, `expired_card`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineCode::CardDeclined => "card_declined",
            DeclineCode::ExpiredCard => "expired_card",
            DeclineCode::IncorrectCvc => "incorrect_cvc",
            DeclineCode::IncorrectNumber => "incorrect_number",
            DeclineCode::ProcessingError => "processing_error",
            DeclineCode::AuthenticationRequired => "authentication_required",
        }
    }

    /// The `card[…]` parameter Stripe names in `error.param` for this code.
    pub fn param(self) -> Option<&'static str> {
        match self {
            DeclineCode::ExpiredCard => Some("exp_month"),
            DeclineCode::IncorrectCvc => Some("cvc"),
            DeclineCode::IncorrectNumber => Some("number"),
            DeclineCode::CardDeclined
            | DeclineCode::ProcessingError
            | DeclineCode::AuthenticationRequired => None,
        }
    }
}

/// The acquirer's answer to a capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureOutcome {
    /// What was captured, in minor units: always the amount asked for.
    pub captured_minor: i64,
    /// The capture drew a dispute at once (see [`DisputeNotice`]).
    pub dispute: Option<DisputeNotice>,
}

/// The cardholder's bank disputes a captured payment. The payment stays
/// succeeded; the ledger withdraws `amount_minor` until the dispute is settled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeNotice {
    /// Stripe's dispute `reason` (`fraudulent`, `duplicate`, …).
    pub reason: String,
    /// The amount disputed, in minor units: what was captured.
    pub amount_minor: i64,
}

/// The state of a refund at the acquirer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RefundOutcome {
    /// The money is on its way back to the cardholder. May still turn
    /// `Failed` later (ask `refund_status`).
    Succeeded,
    /// Accepted, not settled yet: ask `refund_status` later.
    Pending,
    /// The refund did not reach the cardholder; the money stays with the
    /// merchant and no longer counts against the captured amount.
    Failed {
        /// Stripe's refund `failure_reason` (`expired_or_canceled_card`, …).
        reason: String,
    },
}

/// What the acquirer knows of one attempt (see [`Connector::query`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The acquirer's id of the attempt (also for declined ones).
    pub reference: String,
    pub state: AttemptState,
    /// What was asked for, in minor units of `currency`.
    pub amount_minor: i64,
    pub currency: Currency,
    /// What was captured, in minor units; 0 unless `Captured`.
    pub captured_minor: i64,
    /// Set when the attempt was approved (even if voided since).
    pub authorization_code: Option<String>,
    /// Set when `Declined`.
    pub decline: Option<Decline>,
    /// Set when the capture drew a dispute.
    pub dispute: Option<DisputeNotice>,
}

/// Where an attempt stands at the acquirer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// Approved and held, not captured.
    Authorized,
    /// Approved and captured (wholly or partly).
    Captured,
    /// Approved (or awaiting authentication), then released.
    Voided,
    /// Refused; nothing held.
    Declined,
    /// Waiting for the cardholder to authenticate; nothing held.
    AuthenticationRequired,
}

/// A call to the acquirer that produced no usable answer.
///
/// Only `Refused` and `UnknownReference` guarantee that nothing happened at
/// the acquirer. After any other error the outcome is unknown (see
/// [`ConnectorError::outcome_is_unknown`]): the gateway must treat the
/// payment as not approved and resolve it with [`Connector::query`] (or a
/// void), never assume either way. Messages never contain card data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum ConnectorError {
    /// The acquirer is unreachable or out of service. A request that was in
    /// flight may or may not have been processed.
    #[error("acquirer unavailable: {0}")]
    Unavailable(String),
    /// No answer in time. The request may or may not have been processed.
    #[error("acquirer timed out")]
    Timeout,
    /// The acquirer answered something unparseable or inconsistent with the
    /// request (a wrong amount, a missing reference, …). Never treated as an
    /// approval; the outcome is unknown.
    #[error("invalid response from acquirer: {0}")]
    InvalidResponse(String),
    /// The acquirer does not know this reference (or refund id). Nothing
    /// happened.
    #[error("acquirer does not know reference {0}")]
    UnknownReference(String),
    /// The acquirer understood the request and refused it as invalid in the
    /// state of the payment (a capture above the authorized amount, a second
    /// capture, a capture after a void, refunds above the captured amount, an
    /// attempt or refund id reused with other parameters, …). Nothing
    /// happened.
    #[error("acquirer refused the request: {0}")]
    Refused(String),
}

impl ConnectorError {
    /// True when the request may have taken effect at the acquirer despite
    /// the error: resolve it with `query` before deciding anything.
    pub fn outcome_is_unknown(&self) -> bool {
        match self {
            ConnectorError::Unavailable(_)
            | ConnectorError::Timeout
            | ConnectorError::InvalidResponse(_) => true,
            ConnectorError::UnknownReference(_) | ConnectorError::Refused(_) => false,
        }
    }
}

/// An acquirer, as the gateway sees it.
///
/// Contract every implementation keeps:
/// - `authorize` is idempotent per `attempt_id`: a repeat answers the same
///   outcome and the same reference, never a second authorization.
/// - `refund` is idempotent per `refund_id`.
/// - An `Err` never means "approved"; see [`ConnectorError`] for which errors
///   leave the outcome unknown.
/// - Nothing here logs, stores or returns a card number or a CVC.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// A short, stable name for logs and routing (`sandbox`, …).
    fn name(&self) -> &'static str;

    /// Asks the issuer to approve (and, with `request.capture`, capture) a
    /// payment.
    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<AuthorizeOutcome, ConnectorError>;

    /// Captures `amount_minor` (at most the authorized amount; once) of an
    /// approved, uncaptured authorization.
    async fn capture(
        &self,
        reference: &str,
        amount_minor: i64,
    ) -> Result<CaptureOutcome, ConnectorError>;

    /// Releases an uncaptured authorization.
    async fn void(&self, reference: &str) -> Result<(), ConnectorError>;

    /// Returns `amount_minor` of a captured payment to the cardholder.
    /// `refund_id` is ours (`re_…`) and makes the call idempotent at the
    /// acquirer.
    async fn refund(
        &self,
        reference: &str,
        refund_id: &str,
        amount_minor: i64,
    ) -> Result<RefundOutcome, ConnectorError>;

    /// The current state of a refund (pending refunds settle later; some
    /// succeeded ones fail later).
    async fn refund_status(&self, refund_id: &str) -> Result<RefundOutcome, ConnectorError>;

    /// Cancels a refund the acquirer has not settled: `true` when it was
    /// still pending (now canceled; nothing goes back to the cardholder and
    /// the amount no longer counts against the capture), `false` when it
    /// had already settled.
    async fn cancel_refund(&self, refund_id: &str) -> Result<bool, ConnectorError>;

    /// What the acquirer knows of an attempt, for crash recovery: `None` if
    /// it never saw it.
    async fn query(&self, attempt_id: &str) -> Result<Option<AttemptRecord>, ConnectorError>;

    /// Crash recovery of an authorization whose outcome the gateway never
    /// committed (phase two did not happen): what the acquirer did with it,
    /// after undoing it where the protocol can only undo (ISO 8583 has no
    /// status query: the original is reversed and the record says voided).
    /// Recovery of a capture or a void calls [`Connector::query`] instead,
    /// which never reverses the authorization they follow.
    async fn recover_authorization(
        &self,
        attempt_id: &str,
    ) -> Result<Option<AttemptRecord>, ConnectorError> {
        self.query(attempt_id).await
    }
}

/// A shared connector is a connector, so routing can hold
/// `Arc<dyn Connector>` and wrap it (e.g. in `Guarded`).
#[async_trait::async_trait]
impl<T: Connector + ?Sized> Connector for std::sync::Arc<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<AuthorizeOutcome, ConnectorError> {
        (**self).authorize(request).await
    }

    async fn capture(
        &self,
        reference: &str,
        amount_minor: i64,
    ) -> Result<CaptureOutcome, ConnectorError> {
        (**self).capture(reference, amount_minor).await
    }

    async fn void(&self, reference: &str) -> Result<(), ConnectorError> {
        (**self).void(reference).await
    }

    async fn refund(
        &self,
        reference: &str,
        refund_id: &str,
        amount_minor: i64,
    ) -> Result<RefundOutcome, ConnectorError> {
        (**self).refund(reference, refund_id, amount_minor).await
    }

    async fn refund_status(&self, refund_id: &str) -> Result<RefundOutcome, ConnectorError> {
        (**self).refund_status(refund_id).await
    }

    async fn cancel_refund(&self, refund_id: &str) -> Result<bool, ConnectorError> {
        (**self).cancel_refund(refund_id).await
    }

    async fn query(&self, attempt_id: &str) -> Result<Option<AttemptRecord>, ConnectorError> {
        (**self).query(attempt_id).await
    }

    async fn recover_authorization(
        &self,
        attempt_id: &str,
    ) -> Result<Option<AttemptRecord>, ConnectorError> {
        (**self).recover_authorization(attempt_id).await
    }
}
