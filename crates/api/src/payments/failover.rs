//! Failover within one confirm: an authorization that fails softly (a
//! timeout, an unreachable or failing processor, `processing_error`) and is
//! known not to have authorized is sent again, as a new attempt (`pa_…`),
//! to the next candidate account whose circuit is not open. Never after a
//! hard decline (insufficient funds, a lost or stolen card, fraud, a wrong
//! CVC): that is the card's answer, which another institution must not be
//! asked to overrule.
//!
//! "Known not to have authorized": a decline says so; after an error the
//! account is asked what became of the attempt (`recover_authorization`,
//! which also reverses it where the institution reverses, as ISO 8583
//! does), and only an attempt it never saw, declined or released is failed
//! over. An attempt it cannot tell about stays pending for recovery, as
//! before. Between two tries, one commit resolves the failed attempt and
//! begins the next (atomic phases), so a crash leaves exactly one attempt
//! pending, which recovery settles with the account it went to.

use super::attempts::{Attempt, AttemptKind};
use super::Ctx;
use crate::error::ApiResult;
use crate::routing::payment::Route;
use crate::routing::{health, success};
use portcullis_connectors::{
    AttemptRecord, AttemptState, AuthorizeOutcome, AuthorizeRequest, Connector, ConnectorError,
    CvcCheck, Decline, DeclineCode,
};
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_routing::breaker::CallOutcome;
use portcullis_store::WriteSet;

/// What one authorization call answered.
pub type Answer = Result<AuthorizeOutcome, ConnectorError>;

/// Stripe decline codes that say the issuer or processor could not decide
/// now, not that the card was refused.
const SOFT_DECLINE_CODES: &[&str] = &[
    "issuer_not_available",
    "try_again_later",
    "processing_error",
];

/// A decline that is the institution's failure, not the card's verdict.
pub fn is_soft_decline(decline: &Decline) -> bool {
    decline.code == DeclineCode::ProcessingError
        || decline
            .decline_code
            .as_deref()
            .is_some_and(|code| SOFT_DECLINE_CODES.contains(&code))
}

/// Why a try failed softly (`attempts[].failure`), or `None` when its
/// answer is final (an approval, a card decline, authentication).
fn soft_failure(answer: &Answer) -> Option<&'static str> {
    match answer {
        Ok(AuthorizeOutcome::Declined(decline)) if is_soft_decline(decline) => {
            Some("processing_error")
        }
        Ok(_) => None,
        Err(ConnectorError::Timeout) => Some("timeout"),
        Err(ConnectorError::Unavailable(_)) => Some("unavailable"),
        Err(ConnectorError::InvalidResponse(_)) => Some("invalid_response"),
        Err(ConnectorError::Refused(_) | ConnectorError::UnknownReference(_)) => Some("refused"),
    }
}

/// What the circuit breaker learns from an answer.
fn call_outcome(answer: &Answer) -> CallOutcome {
    match soft_failure(answer) {
        Some(_) => CallOutcome::SoftFailure,
        None => CallOutcome::Success,
    }
}

fn never_authorized() -> AuthorizeOutcome {
    AuthorizeOutcome::Declined(Decline {
        code: DeclineCode::ProcessingError,
        decline_code: None,
        message: "An error occurred while processing your card. Try again in a little bit."
            .to_owned(),
        network_decline_code: None,
    })
}

/// The answer an attempt's record stands for.
fn outcome_of(record: Option<AttemptRecord>) -> AuthorizeOutcome {
    let Some(record) = record else {
        return never_authorized();
    };
    match record.state {
        AttemptState::Authorized | AttemptState::Captured => AuthorizeOutcome::Approved {
            captured: record.state == AttemptState::Captured,
            authorization_code: record.authorization_code.unwrap_or_default(),
            reference: record.reference,
            cvc_check: CvcCheck::Unavailable,
            dispute: record.dispute,
        },
        AttemptState::AuthenticationRequired => AuthorizeOutcome::AuthenticationRequired,
        AttemptState::Declined => record
            .decline
            .map_or_else(never_authorized, AuthorizeOutcome::Declined),
        AttemptState::Voided => never_authorized(),
    }
}

/// After an error: what the account says became of `attempt_id`, or the
/// error when it cannot say.
async fn resolve_lost(
    connector: &dyn Connector,
    attempt_id: &str,
    timeout: std::time::Duration,
    answer: Answer,
) -> Answer {
    let Err(error) = answer else {
        return answer;
    };
    match tokio::time::timeout(timeout, connector.recover_authorization(attempt_id)).await {
        Ok(Ok(record)) => {
            tracing::info!(attempt = %attempt_id, %error, found = ?record.as_ref().map(|r| r.state), "lost answer resolved before failing over");
            Ok(outcome_of(record))
        }
        Ok(Err(_)) | Err(_) => Err(error),
    }
}

/// Counts the answer in the account's success rate (its own commit: a
/// lost count only blurs a rate; authentication requests are not counted).
async fn count_outcome(ctx: &Ctx<'_>, route: &Route, account: &str, answer: &Answer) {
    let authorized = match answer {
        Ok(AuthorizeOutcome::Approved { .. }) => true,
        Ok(AuthorizeOutcome::AuthenticationRequired) => return,
        Ok(AuthorizeOutcome::Declined(_)) | Err(_) => false,
    };
    let ops = success::outcome_writes(ctx.state, ctx.scope, account, &route.segment, authorized);
    if let Err(err) = ctx.state.store.commit(WriteSet { ops }).await {
        tracing::warn!(error = %err, "could not count a routing outcome");
    }
}

/// Sends `attempt` (committed by phase one, with the intent at
/// `intent_version`) as `template` says, failing over while a try fails
/// softly and another account can take the payment. Answers the last try's
/// attempt and answer, with the intent's version as stored now.
pub async fn send(
    ctx: &Ctx<'_>,
    route: &mut Route,
    intent: &mut PaymentIntent,
    intent_version: i64,
    mut attempt: Attempt,
    template: AuthorizeRequest<'_>,
) -> ApiResult<(Attempt, Answer, i64)> {
    let (state, scope) = (ctx.state, ctx.scope);
    let mut version = intent_version;
    loop {
        let request = AuthorizeRequest {
            attempt_id: &attempt.id,
            ..template
        };
        let timeout = state.payments.connector_timeout();
        let answer = tokio::time::timeout(timeout, route.connector.authorize(&request))
            .await
            .unwrap_or(Err(ConnectorError::Timeout));
        state.payments.crash_if_faulted(AttemptKind::Authorize);
        let failure = soft_failure(&answer);
        if let Some(current) = route.current() {
            if let Some(transition) = health::record(&current.account.id, call_outcome(&answer)) {
                health::announce(state, scope, current, transition).await;
            }
            count_outcome(ctx, route, &current.account.id, &answer).await;
        }
        if failure.is_none() || !route.has_fallback() {
            return Ok((attempt, answer, version));
        }
        let answer = resolve_lost(route.connector.as_ref(), &attempt.id, timeout, answer).await;
        let known_not_authorized =
            matches!(&answer, Ok(AuthorizeOutcome::Declined(d)) if is_soft_decline(d));
        let failure = failure.unwrap_or("processing_error");
        if !known_not_authorized || !route.fail_over(state, scope, &attempt.id, failure).await? {
            return Ok((attempt, answer, version));
        }
        attempt = hand_over(ctx, route, intent, version, attempt).await?;
        version += 1;
    }
}

/// One commit: `failed` resolved, its successor (to the route's account
/// now) recorded and named on the intent. Answers the successor.
async fn hand_over(
    ctx: &Ctx<'_>,
    route: &Route,
    intent: &mut PaymentIntent,
    intent_version: i64,
    failed: Attempt,
) -> ApiResult<Attempt> {
    let scope = ctx.scope;
    let mut next = Attempt::new(
        AttemptKind::Authorize,
        &intent.id,
        None,
        failed.amount_minor,
        ctx.state.now(),
    );
    next.authenticated = failed.authenticated;
    next.idempotency_key = failed.idempotency_key.clone();
    next.connector_account = route.account.clone();
    next.routing = Some(route.explained(&next.id));
    intent.pending_attempt = Some(next.id.clone());
    let intent_doc = super::confirm::as_written(&intent.id, intent.created, intent_version);
    let mut writes = WriteSet::new();
    writes.push(failed.resolve(scope, 1)?);
    writes.push(super::records::update(scope, &intent_doc, intent)?);
    writes.push(next.insert(scope)?);
    ctx.state.store.commit(writes).await?;
    Ok(next)
}
