//! [`Guarded`]: a wrapper that holds any connector's answers to what the
//! gateway relies on, so that an acquirer answering garbage, a wrong amount or
//! nothing at all leaves the payment in a known, safe state, never "approved"
//! (security.md, OWASP API10).
//!
//! Every call is bounded by `call_timeout` (→ `ConnectorError::Timeout`), and
//! an answer that contradicts the request or is malformed becomes
//! `ConnectorError::InvalidResponse`: the outcome is then unknown and the
//! gateway resolves it with `query`, never by assuming an approval. Error
//! messages name the field at fault, never its value (it could be anything,
//! even card data echoed back).

use crate::connector::{
    AttemptRecord, AttemptState, AuthorizeOutcome, AuthorizeRequest, CaptureOutcome, Connector,
    ConnectorError, Decline, DisputeNotice, RefundOutcome,
};
use std::future::Future;
use std::time::Duration;

/// Longest acquirer reference accepted.
pub const REFERENCE_LEN_MAX: usize = 255;
/// Longest authorization code accepted.
pub const AUTHORIZATION_CODE_LEN_MAX: usize = 12;
/// Longest decline code, dispute reason or refund failure reason accepted.
pub const CODE_LEN_MAX: usize = 64;
/// Longest network decline code accepted (ISO 8583 DE 39 is 2 characters).
pub const NETWORK_CODE_LEN_MAX: usize = 4;
/// Longest decline message accepted, in characters.
pub const MESSAGE_CHARS_MAX: usize = 500;

/// A connector whose answers are checked and whose calls are bounded in time.
#[derive(Debug)]
pub struct Guarded<C> {
    inner: C,
    call_timeout: Duration,
}

impl<C: Connector> Guarded<C> {
    /// Wraps `inner`; each call gives up after `call_timeout`.
    pub fn new(inner: C, call_timeout: Duration) -> Guarded<C> {
        Guarded {
            inner,
            call_timeout,
        }
    }

    /// The wrapped connector.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Runs `call` within `call_timeout`, and records its latency as
    /// `portcullis_connector_call_duration_seconds{operation, result}`.
    async fn within<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, ConnectorError>>,
    ) -> Result<T, ConnectorError> {
        let started = std::time::Instant::now();
        let answered = tokio::time::timeout(self.call_timeout, call)
            .await
            .map_err(|_| ConnectorError::Timeout)
            .and_then(|answer| answer);
        let result = match &answered {
            Ok(_) => "answered",
            Err(ConnectorError::Timeout) => "timeout",
            Err(_) => "error",
        };
        metrics::histogram!(
            "portcullis_connector_call_duration_seconds",
            "operation" => operation,
            "result" => result
        )
        .record(started.elapsed().as_secs_f64());
        answered
    }
}

fn invalid(what: &str) -> ConnectorError {
    ConnectorError::InvalidResponse(what.to_owned())
}

fn check_text(
    value: &str,
    len_max: usize,
    allowed: fn(u8) -> bool,
    what: &str,
) -> Result<(), ConnectorError> {
    if value.is_empty() || value.len() > len_max || !value.bytes().all(allowed) {
        return Err(invalid(what));
    }
    Ok(())
}

fn is_code_byte(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte == b'_'
}

fn check_reference(reference: &str) -> Result<(), ConnectorError> {
    check_text(
        reference,
        REFERENCE_LEN_MAX,
        |byte| byte.is_ascii_graphic(),
        "malformed reference",
    )
}

fn check_dispute(dispute: &DisputeNotice, captured_minor: i64) -> Result<(), ConnectorError> {
    check_text(
        &dispute.reason,
        CODE_LEN_MAX,
        is_code_byte,
        "malformed dispute reason",
    )?;
    if dispute.amount_minor < 1 || dispute.amount_minor > captured_minor {
        return Err(invalid("dispute amount outside the captured amount"));
    }
    Ok(())
}

fn check_decline(decline: &Decline) -> Result<(), ConnectorError> {
    if let Some(code) = &decline.decline_code {
        check_text(code, CODE_LEN_MAX, is_code_byte, "malformed decline code")?;
    }
    if let Some(code) = &decline.network_decline_code {
        check_text(
            code,
            NETWORK_CODE_LEN_MAX,
            |byte| byte.is_ascii_alphanumeric(),
            "malformed network decline code",
        )?;
    }
    let message = &decline.message;
    if message.is_empty()
        || message.chars().count() > MESSAGE_CHARS_MAX
        || message.chars().any(char::is_control)
    {
        return Err(invalid("malformed decline message"));
    }
    Ok(())
}

fn check_authorize(
    request: &AuthorizeRequest<'_>,
    outcome: &AuthorizeOutcome,
) -> Result<(), ConnectorError> {
    match outcome {
        AuthorizeOutcome::Approved {
            reference,
            captured,
            authorization_code,
            dispute,
            ..
        } => {
            check_reference(reference)?;
            check_text(
                authorization_code,
                AUTHORIZATION_CODE_LEN_MAX,
                |byte| byte.is_ascii_alphanumeric(),
                "malformed authorization code",
            )?;
            if *captured != request.capture {
                return Err(invalid("capture flag differs from the request"));
            }
            match dispute {
                Some(_) if !captured => Err(invalid("dispute on an uncaptured authorization")),
                Some(dispute) => check_dispute(dispute, request.amount_minor),
                None => Ok(()),
            }
        }
        AuthorizeOutcome::Declined(decline) => check_decline(decline),
        AuthorizeOutcome::AuthenticationRequired => Ok(()),
    }
}

fn check_refund(outcome: &RefundOutcome) -> Result<(), ConnectorError> {
    match outcome {
        RefundOutcome::Failed { reason } => check_text(
            reason,
            CODE_LEN_MAX,
            is_code_byte,
            "malformed refund failure reason",
        ),
        RefundOutcome::Succeeded | RefundOutcome::Pending => Ok(()),
    }
}

fn check_record(record: &AttemptRecord) -> Result<(), ConnectorError> {
    check_reference(&record.reference)?;
    let captured = record.state == AttemptState::Captured;
    if record.amount_minor < 1
        || record.captured_minor < 0
        || record.captured_minor > record.amount_minor
        || captured != (record.captured_minor > 0)
    {
        return Err(invalid("inconsistent amounts in attempt record"));
    }
    if let Some(dispute) = &record.dispute {
        check_dispute(dispute, record.captured_minor)?;
    }
    if let Some(decline) = &record.decline {
        check_decline(decline)?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl<C: Connector> Connector for Guarded<C> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<AuthorizeOutcome, ConnectorError> {
        let outcome = self
            .within("authorize", self.inner.authorize(request))
            .await?;
        check_authorize(request, &outcome)?;
        Ok(outcome)
    }

    async fn capture(
        &self,
        reference: &str,
        amount_minor: i64,
    ) -> Result<CaptureOutcome, ConnectorError> {
        let outcome = self
            .within("capture", self.inner.capture(reference, amount_minor))
            .await?;
        if outcome.captured_minor != amount_minor {
            return Err(invalid("captured amount differs from the amount asked"));
        }
        if let Some(dispute) = &outcome.dispute {
            check_dispute(dispute, outcome.captured_minor)?;
        }
        Ok(outcome)
    }

    async fn void(&self, reference: &str) -> Result<(), ConnectorError> {
        self.within("void", self.inner.void(reference)).await
    }

    async fn refund(
        &self,
        reference: &str,
        refund_id: &str,
        amount_minor: i64,
    ) -> Result<RefundOutcome, ConnectorError> {
        let outcome = self
            .within(
                "refund",
                self.inner.refund(reference, refund_id, amount_minor),
            )
            .await?;
        check_refund(&outcome)?;
        Ok(outcome)
    }

    async fn refund_status(&self, refund_id: &str) -> Result<RefundOutcome, ConnectorError> {
        let outcome = self
            .within("refund_status", self.inner.refund_status(refund_id))
            .await?;
        check_refund(&outcome)?;
        Ok(outcome)
    }

    async fn cancel_refund(&self, refund_id: &str) -> Result<bool, ConnectorError> {
        self.within("cancel_refund", self.inner.cancel_refund(refund_id))
            .await
    }

    async fn query(&self, attempt_id: &str) -> Result<Option<AttemptRecord>, ConnectorError> {
        let record = self.within("query", self.inner.query(attempt_id)).await?;
        if let Some(record) = &record {
            check_record(record)?;
        }
        Ok(record)
    }

    async fn recover_authorization(
        &self,
        attempt_id: &str,
    ) -> Result<Option<AttemptRecord>, ConnectorError> {
        let record = self
            .within(
                "recover_authorization",
                self.inner.recover_authorization(attempt_id),
            )
            .await?;
        if let Some(record) = &record {
            check_record(record)?;
        }
        Ok(record)
    }
}
