//! The `iso8583` connector: the [`Connector`] interface over ISO 8583:1987
//! to an acquirer host (`portcullis acquirer-sim`, or a real one).
//!
//! | operation | request | processing code | answer |
//! |---|---|---|---|
//! | authorize (manual capture) | 0100 | 000000 | 0110 |
//! | authorize with capture (purchase) | 0200 | 000000 | 0210 |
//! | capture | 0220 completion advice (DE 37 and DE 90 name the original) | 000000 | 0230 |
//! | void of an uncaptured authorization | 0400 reversal | 000000 | 0410 |
//! | refund | 0200 | 200000 | 0210 |
//!
//! DE 39 maps to Stripe's codes by [`codes`]. An authorization or purchase
//! whose answer never came is reversed ([`reversals`]); `query` of such an
//! attempt reverses it too (ISO 8583 has no status query) and reports it
//! voided, so the gateway ends the attempt as failed.

pub mod codes;
pub mod messages;
pub mod reference;
pub mod reversals;
pub mod session;

use crate::connector::{
    AttemptRecord, AttemptState, AuthorizeOutcome, AuthorizeRequest, CaptureOutcome, Connector,
    ConnectorError, CvcCheck, RefundOutcome,
};
use messages::{amount_field, currency_field, parse_amount, rrn_of, Timestamps};
use portcullis_iso8583::fields::{self, mti, processing, response};
use portcullis_iso8583::{FieldError, Message, Mti};
use reference::Reference;
use reversals::{PendingReversal, ReversalStore};
pub use session::{Session, SessionOptions};
use std::sync::Arc;
use std::time::Duration;

/// What the connector says about the merchant in every message.
#[derive(Clone, Debug)]
pub struct AcceptorIds {
    /// DE 32 (digits, up to 11).
    pub acquirer_id: String,
    /// DE 42 (15 characters).
    pub card_acceptor_id: String,
    /// DE 41 (8 characters).
    pub terminal_id: String,
    /// DE 18 (4 digits).
    pub merchant_category_code: String,
    /// DE 43 (40 characters), when configured.
    pub name_location: Option<String>,
}

pub struct Iso8583Connector {
    session: Session,
    ids: AcceptorIds,
    reversals: Arc<dyn ReversalStore>,
    /// Pause between reversal attempts that got no 0410.
    reversal_retry: Duration,
}

fn build_error(error: FieldError) -> ConnectorError {
    ConnectorError::Refused(format!("cannot build the ISO 8583 message: {error}"))
}

fn invalid(reason: &str) -> ConnectorError {
    ConnectorError::InvalidResponse(reason.to_owned())
}

impl Iso8583Connector {
    pub fn new(
        session: Session,
        ids: AcceptorIds,
        reversals: Arc<dyn ReversalStore>,
    ) -> Iso8583Connector {
        Iso8583Connector {
            session,
            ids,
            reversals,
            reversal_retry: Duration::from_millis(500),
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// A message with the fields every financial message carries.
    fn financial(
        &self,
        mti: Mti,
        processing_code: &str,
        amount_minor: i64,
        reference: (&str, &str),
        currency: &str,
    ) -> Result<(Message, Timestamps, String), ConnectorError> {
        let (rrn, _) = reference;
        let amount = amount_field(amount_minor)
            .ok_or_else(|| ConnectorError::Refused("amount out of range".into()))?;
        let now = Timestamps::now();
        let stan = self.session.next_stan();
        let mut message = Message::new(mti);
        let set = |message: &mut Message| -> Result<(), FieldError> {
            message.set_text(fields::PROCESSING_CODE, processing_code)?;
            message.set_text(fields::AMOUNT, &amount)?;
            message.set_text(fields::TRANSMISSION_DATE_TIME, &now.transmission)?;
            message.set_text(fields::STAN, &stan)?;
            message.set_text(fields::LOCAL_TIME, &now.local_time)?;
            message.set_text(fields::LOCAL_DATE, &now.local_date)?;
            message.set_text(fields::ACQUIRER_ID, &self.ids.acquirer_id)?;
            message.set_text(fields::RRN, rrn)?;
            message.set_text(fields::TERMINAL_ID, &self.ids.terminal_id)?;
            message.set_text(fields::CARD_ACCEPTOR_ID, &self.ids.card_acceptor_id)?;
            message.set_text(fields::CURRENCY, currency)
        };
        set(&mut message).map_err(build_error)?;
        Ok((message, now, stan))
    }

    /// Sends `request` and checks the answer is its answer (MTI, amount,
    /// currency).
    async fn exchange(&self, request: &Message) -> Result<Message, ConnectorError> {
        let answer = self.session.call(request).await?;
        if Some(answer.mti()) != request.mti().response() {
            return Err(invalid("the answer's MTI does not answer the request"));
        }
        for field in [fields::AMOUNT, fields::CURRENCY] {
            if answer.has(field) && answer.get(field) != request.get(field) {
                return Err(invalid("the answer changes the amount or currency"));
            }
        }
        if answer.text(fields::RESPONSE_CODE).is_none() {
            return Err(invalid("the answer has no response code"));
        }
        Ok(answer)
    }

    /// A message about `original` (DE 90 names it), with RRN `rrn`.
    fn about_original(
        &self,
        mti: Mti,
        processing_code: &str,
        amount_minor: i64,
        rrn: &str,
        original: &Reference,
    ) -> Result<Message, ConnectorError> {
        let currency = currency_field(original.currency);
        let (mut message, _, _) =
            self.financial(mti, processing_code, amount_minor, (rrn, ""), &currency)?;
        let data = original.original_data(&self.ids.acquirer_id).field();
        message
            .set_text(fields::ORIGINAL_DATA, &data)
            .map_err(build_error)?;
        Ok(message)
    }

    /// Sends a completion, reversal or refund of `original`.
    async fn follow_up(
        &self,
        mti: Mti,
        processing_code: &str,
        amount_minor: i64,
        rrn: &str,
        original: &Reference,
    ) -> Result<Message, ConnectorError> {
        let message = self.about_original(mti, processing_code, amount_minor, rrn, original)?;
        self.exchange(&message).await
    }

    fn reversal_message(&self, original: &Reference) -> Result<Message, ConnectorError> {
        self.about_original(
            mti::REVERSAL,
            processing::PURCHASE,
            original.amount_minor,
            &original.rrn,
            original,
        )
    }

    /// One reversal attempt: `Ok(true)` when a 0410 said it is done (00, or
    /// 25: the host never saw the original).
    async fn reverse_once(&self, original: &Reference) -> Result<bool, ConnectorError> {
        let answer = self.exchange(&self.reversal_message(original)?).await?;
        Ok(matches!(
            answer.text(fields::RESPONSE_CODE),
            Some(response::APPROVED) | Some(response::NO_ORIGINAL)
        ))
    }

    /// Reverses until a 0410 arrives, then settles the pending reversal.
    async fn reverse_until_answered(
        &self,
        attempt_id: &str,
        original: &Reference,
    ) -> Result<(), ConnectorError> {
        let mut last_error = ConnectorError::Timeout;
        for _ in 0..REVERSAL_TRIES_PER_CALL {
            match self.reverse_once(original).await {
                Ok(true) => {
                    if let Err(error) = self.reversals.settle(attempt_id).await {
                        // Reversed again later: a repeated reversal is answered 00 or 25.
                        tracing::error!(%error, attempt = %attempt_id, "could not record a settled reversal");
                    }
                    return Ok(());
                }
                Ok(false) => {
                    last_error = ConnectorError::Refused("the acquirer refused the reversal".into())
                }
                Err(error) => last_error = error,
            }
            tokio::time::sleep(self.reversal_retry).await;
        }
        Err(last_error)
    }

    /// Reverses in the background (retrying until a 0410); the pending
    /// reversal stays recorded until then, so `query` finds it.
    fn reverse_in_background(self: &Arc<Self>, attempt_id: String, original: Reference) {
        let connector = self.clone();
        tokio::spawn(async move {
            while matches!(connector.reversals.find(&attempt_id).await, Ok(Some(_))) {
                match connector
                    .reverse_until_answered(&attempt_id, &original)
                    .await
                {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(attempt = %attempt_id, %error, "ISO 8583 reversal not answered yet; retrying")
                    }
                }
            }
        });
    }
}

/// Reversal attempts within one call before giving up for now.
const REVERSAL_TRIES_PER_CALL: u32 = 5;

/// An `Arc` so failed authorizations can start background reversals.
#[derive(Clone)]
pub struct Iso8583 {
    inner: Arc<Iso8583Connector>,
}

impl Iso8583 {
    pub fn new(connector: Iso8583Connector) -> Iso8583 {
        Iso8583 {
            inner: Arc::new(connector),
        }
    }

    pub fn session(&self) -> &Session {
        self.inner.session()
    }

    /// Reverses, in the background, every original a previous run left
    /// pending (call once at start-up).
    pub fn resume_reversals(&self, pending: Vec<PendingReversal>) {
        for original in pending {
            match Reference::parse(&original.reference) {
                Ok(reference) => self
                    .inner
                    .reverse_in_background(original.attempt_id, reference),
                Err(error) => {
                    tracing::error!(%error, attempt = %original.attempt_id, "unreadable pending reversal")
                }
            }
        }
    }
}

/// Whether a completion, reversal or refund was done: 00 yes; 25 the host
/// does not know the original; anything else a refusal.
fn definite(answer: &Message, reference: &str, what: &str) -> Result<(), ConnectorError> {
    match answer.text(fields::RESPONSE_CODE) {
        Some(response::APPROVED) => Ok(()),
        Some(response::NO_ORIGINAL) => Err(ConnectorError::UnknownReference(reference.to_owned())),
        Some(code) => Err(ConnectorError::Refused(format!("{what} answered {code}"))),
        None => Err(invalid("the answer has no response code")),
    }
}

fn approval_code(answer: &Message) -> Result<String, ConnectorError> {
    answer
        .text(fields::AUTHORIZATION_CODE)
        .map(|code| code.trim().to_owned())
        .filter(|code| !code.is_empty())
        .ok_or_else(|| invalid("an approval without an authorization code"))
}

impl Iso8583 {
    fn authorization_message(
        &self,
        request: &AuthorizeRequest<'_>,
        rrn: &str,
    ) -> Result<(Message, Reference), ConnectorError> {
        let connector = &self.inner;
        let mti = if request.capture {
            mti::FINANCIAL
        } else {
            mti::AUTHORIZATION
        };
        let currency = currency_field(request.currency);
        let (mut message, now, stan) = connector.financial(
            mti,
            processing::PURCHASE,
            request.amount_minor,
            (rrn, ""),
            &currency,
        )?;
        let expiry = format!(
            "{:02}{:02}",
            request.card.expiry.year() % 100,
            request.card.expiry.month()
        );
        let set = |message: &mut Message| -> Result<(), FieldError> {
            message.set_text(fields::PAN, request.card.number.expose_digits())?;
            message.set_text(fields::EXPIRY, &expiry)?;
            message.set_text(
                fields::MERCHANT_CATEGORY_CODE,
                &connector.ids.merchant_category_code,
            )?;
            // Manual key entry (card not present), e-commerce condition.
            message.set_text(fields::POS_ENTRY_MODE, "010")?;
            message.set_text(fields::POS_CONDITION_CODE, "59")?;
            if let Some(name) = &connector.ids.name_location {
                message.set_text(fields::CARD_ACCEPTOR_NAME, name)?;
            }
            Ok(())
        };
        set(&mut message).map_err(build_error)?;
        let reference = Reference {
            rrn: rrn.to_owned(),
            mti: mti.as_str().to_owned(),
            stan,
            transmission: now.transmission,
            currency: request.currency,
            amount_minor: request.amount_minor,
        };
        Ok((message, reference))
    }
}

#[async_trait::async_trait]
impl Connector for Iso8583 {
    fn name(&self) -> &'static str {
        "iso8583"
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<AuthorizeOutcome, ConnectorError> {
        let rrn = rrn_of(request.attempt_id);
        let (message, reference) = self.authorization_message(request, &rrn)?;
        let connector = &self.inner;
        let pending = PendingReversal {
            attempt_id: request.attempt_id.to_owned(),
            reference: reference.encode(),
        };
        // Nothing is sent that could not be reversed after a crash.
        connector.reversals.record(pending).await.map_err(|error| {
            ConnectorError::Refused(format!("cannot record the pending reversal: {error}"))
        })?;
        let outcome = match connector.exchange(&message).await {
            Ok(answer) => match answer.text(fields::RESPONSE_CODE) {
                Some(response::APPROVED) => {
                    approval_code(&answer).map(|authorization_code| AuthorizeOutcome::Approved {
                        reference: reference.encode(),
                        captured: request.capture,
                        authorization_code,
                        // The 0100/0200 carries no CVC (no DE for it in
                        // this profile): nobody checked one.
                        cvc_check: CvcCheck::Unavailable,
                        dispute: None,
                    })
                }
                Some(code) => Ok(AuthorizeOutcome::Declined(codes::decline_of_response(code))),
                None => Err(invalid("the answer has no response code")),
            },
            Err(error) => Err(error),
        };
        let kept = match &outcome {
            Err(error) if error.outcome_is_unknown() => {
                let marked = connector.reversals.mark_reversing(request.attempt_id).await;
                connector.reverse_in_background(request.attempt_id.to_owned(), reference);
                marked
            }
            // Kept until the gateway commits it: if it never does, crash
            // recovery of this authorization reverses it.
            Ok(AuthorizeOutcome::Approved { .. }) => Ok(()),
            _ => connector.reversals.settle(request.attempt_id).await,
        };
        if let Err(error) = kept {
            tracing::error!(%error, attempt = %request.attempt_id, "could not update a pending reversal");
        }
        outcome
    }

    async fn capture(
        &self,
        reference: &str,
        amount_minor: i64,
    ) -> Result<CaptureOutcome, ConnectorError> {
        let original = Reference::parse(reference)?;
        if original.mti != mti::AUTHORIZATION.as_str()
            || amount_minor > original.amount_minor
            || amount_minor <= 0
        {
            return Err(ConnectorError::Refused(
                "capture above the authorized amount or of a purchase".into(),
            ));
        }
        self.inner
            .follow_up(
                mti::COMPLETION_ADVICE,
                processing::PURCHASE,
                amount_minor,
                &original.rrn,
                &original,
            )
            .await
            .and_then(|answer| definite(&answer, reference, "completion"))?;
        Ok(CaptureOutcome {
            captured_minor: amount_minor,
            dispute: None,
        })
    }

    async fn void(&self, reference: &str) -> Result<(), ConnectorError> {
        let original = Reference::parse(reference)?;
        let answer = self
            .inner
            .exchange(&self.inner.reversal_message(&original)?)
            .await?;
        definite(&answer, reference, "reversal")
    }

    async fn refund(
        &self,
        reference: &str,
        refund_id: &str,
        amount_minor: i64,
    ) -> Result<RefundOutcome, ConnectorError> {
        let original = Reference::parse(reference)?;
        self.inner
            .follow_up(
                mti::FINANCIAL,
                processing::REFUND,
                amount_minor,
                &rrn_of(refund_id),
                &original,
            )
            .await
            .and_then(|answer| definite(&answer, reference, "refund"))?;
        Ok(RefundOutcome::Succeeded)
    }

    async fn refund_status(&self, _refund_id: &str) -> Result<RefundOutcome, ConnectorError> {
        // Refunds are answered at once and never left pending; a refund whose
        // answer was lost cannot be asked about (no status query in ISO 8583).
        Err(ConnectorError::Unavailable(
            "ISO 8583 has no refund status query".into(),
        ))
    }

    async fn cancel_refund(&self, _refund_id: &str) -> Result<bool, ConnectorError> {
        // Every refund this connector reports has settled already.
        Ok(false)
    }

    /// ISO 8583 has no status query: a capture or void whose answer was
    /// lost is not known to have happened (recovery abandons it).
    async fn query(&self, _attempt_id: &str) -> Result<Option<AttemptRecord>, ConnectorError> {
        Ok(None)
    }

    /// The authorization's approval (if any) was never committed: reverse
    /// the original, and the attempt ends voided (failed).
    async fn recover_authorization(
        &self,
        attempt_id: &str,
    ) -> Result<Option<AttemptRecord>, ConnectorError> {
        let found = self
            .inner
            .reversals
            .find(attempt_id)
            .await
            .map_err(|error| ConnectorError::Unavailable(error.to_string()))?;
        let Some(pending) = found else {
            return Ok(None);
        };
        let original = Reference::parse(&pending.reference)?;
        self.inner
            .reverse_until_answered(attempt_id, &original)
            .await?;
        Ok(Some(AttemptRecord {
            reference: pending.reference,
            state: AttemptState::Voided,
            amount_minor: original.amount_minor,
            currency: original.currency,
            captured_minor: 0,
            authorization_code: None,
            decline: None,
            dispute: None,
        }))
    }
}

/// Reads an amount the host echoed (for the simulator and tests).
pub fn echoed_amount(message: &Message) -> Option<i64> {
    message.text(fields::AMOUNT).and_then(parse_amount)
}
