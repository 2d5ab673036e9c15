//! A terminal's completion advice (0220): the final amount of an approved
//! 0100 of the same terminal, named by DE 90, captured through the API's
//! own capture path (a pump or a vending machine authorizes first and
//! completes with what was dispensed). DE 4 is the amount to capture, at
//! most the authorized one; the rest of the authorization is released.
//! Answered 0230: 00 when captured (or already captured by this advice), 25
//! when DE 90 names no approved 0100 of this terminal, 13 for more than was
//! authorized, 12 when the authorization can no longer be captured
//! (canceled, expired, captured otherwise). The answer is recorded with
//! the capture's phase two, so a repeat answers the first answer again; a
//! repeat after a crash mid-capture is recognized by the capture's key
//! (the message's record id) and captures nothing more.

use super::payments::NO_ORIGIN;
use super::registry::Terminal;
use super::transactions::{self, Answered, MessageKey, TerminalTransaction};
use crate::error::ApiResult;
use crate::payments::Ctx;
use crate::state::AppState;
use portcullis_domain::money::{Amount, Currency};
use portcullis_iso8583::fields::response;
use portcullis_store::WriteSet;

/// The MTI a completion is recorded under (a 0400 never undoes it).
pub const COMPLETION_MTI: &str = "0220";

/// A terminal's 0220, parsed.
pub struct CompletionRequest {
    pub key: MessageKey,
    /// The completed 0100, from DE 90.
    pub original: MessageKey,
    pub amount: Amount,
    pub currency: Currency,
}

/// Completes for `terminal`; `None` while the outcome is unknown (no
/// answer: the terminal repeats the advice).
pub async fn complete(
    state: &AppState,
    terminal: &Terminal,
    request: CompletionRequest,
) -> ApiResult<Option<Answered>> {
    let scope = terminal.scope()?;
    let found = transactions::answered_or_original(
        state,
        &scope,
        terminal,
        &request.key,
        &request.original,
        &["0100"],
    )
    .await?;
    let original = match found {
        Ok(original) => original,
        Err(answered) => return Ok(Some(answered)),
    };
    let ctx = Ctx {
        state,
        scope: &scope,
        origin: &NO_ORIGIN,
    };
    let record_id = request.key.record_id(state);
    let (code, writes) = match capture(&ctx, &original, &request, &record_id).await? {
        Some(done) => done,
        None => return Ok(None),
    };
    let answered = Answered {
        response_code: code.to_owned(),
        authorization_code: (code == response::APPROVED)
            .then(|| original.answered.authorization_code.clone())
            .flatten(),
    };
    let record = TerminalTransaction {
        id: record_id,
        terminal_id: terminal.terminal_id.clone(),
        stan: request.key.stan.clone(),
        transmission: request.key.transmission.clone(),
        mti: COMPLETION_MTI.to_owned(),
        payment_intent: original.payment_intent.clone(),
        answered,
        reversed: None,
        processing_code: None,
    };
    transactions::record(state, &scope, record, writes).await
}

/// Captures the original's intent; DE 39 and the capture's phase two, or
/// `None` while the intent is busy (an attempt in flight).
async fn capture(
    ctx: &Ctx<'_>,
    original: &TerminalTransaction,
    request: &CompletionRequest,
    record_id: &str,
) -> ApiResult<Option<(&'static str, WriteSet)>> {
    let (_, intent) = crate::payments::records::load::<
        portcullis_domain::payment_intents::PaymentIntent,
    >(ctx.state, ctx.scope, &original.payment_intent, "intent")
    .await?;
    if intent.currency != request.currency {
        return Ok(Some((response::INVALID_TRANSACTION, WriteSet::new())));
    }
    let captured = crate::payments::capture::capture_intent(
        ctx,
        &intent.id,
        Some(request.amount.minor()),
        Some(record_id),
    )
    .await;
    match captured {
        Ok(done) if done.body.tree()?["status"] == "succeeded" => {
            Ok(Some((response::APPROVED, done.writes)))
        }
        Ok(_) => Ok(None),
        Err(err) if err.retry_on_fresh_state => Ok(None),
        Err(err) if err.code == Some("amount_too_large") => {
            Ok(Some((response::INVALID_AMOUNT, WriteSet::new())))
        }
        Err(err) if err.status.is_client_error() => {
            Ok(Some((response::INVALID_TRANSACTION, WriteSet::new())))
        }
        Err(err) => Err(err),
    }
}
