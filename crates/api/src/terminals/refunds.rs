//! A terminal's refund: a 0200 with processing code 200000 whose DE 90
//! names the approved 0200 (or captured 0100) of the same terminal it gives
//! money back for, in full or in part (DE 4), with the same card presented
//! (track 2 or DE 2). It is a Stripe refund of that payment, through the
//! API's own refund path (the acquirer, the ledger, events and webhooks),
//! and its answer is recorded with the refund's phase two, so a repeated
//! message answers the first answer again.
//!
//! Answers: 00 with DE 38 (refunded, or pending at the acquirer); 25 when
//! DE 90 names nothing this terminal had approved; 13 when the amount is
//! more than what remains unrefunded; 12 when the original cannot be
//! refunded (not captured, canceled, another currency, another card).
//! When the acquirer's answer is lost, nothing is answered: the refund
//! stays pending for the recovery worker, and a repeat finds it rather
//! than refunding twice.

use super::payments::NO_ORIGIN;
use super::registry::Terminal;
use super::transactions::{self, Answered, MessageKey, TerminalTransaction};
use crate::error::{ApiError, ApiResult};
use crate::payments::records::load;
use crate::payments::refunds::{self, CreateRequest};
use crate::payments::Ctx;
use crate::state::AppState;
use portcullis_domain::cards::CardNumber;
use portcullis_domain::charges::Charge;
use portcullis_domain::metadata::MetadataUpdate;
use portcullis_domain::money::{Amount, Currency};
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_domain::refunds::Refund;
use portcullis_iso8583::fields::{processing, response};
use portcullis_store::{ScanOp, ScanQuery, Scope, SqlValue, Table};

/// The metadata key that ties a refund to the terminal message that asked
/// for it (the message record's id).
const MESSAGE_KEY: &str = "terminal_message";
/// Refunds of one charge looked at when a repeat looks for its own.
const REFUNDS_SCANNED_MAX: usize = 1000;

/// A terminal's 0200 refund, parsed.
pub struct RefundRequest {
    pub key: MessageKey,
    /// The refunded message, from DE 90.
    pub original: MessageKey,
    pub amount: Amount,
    pub currency: Currency,
    /// The card presented: it must be the original's.
    pub card: CardNumber,
}

/// Refunds for `terminal`; `None` when the acquirer's answer was lost (no
/// answer is sent).
pub async fn refund(
    state: &AppState,
    terminal: &Terminal,
    request: RefundRequest,
) -> ApiResult<Option<Answered>> {
    let scope = terminal.scope()?;
    let found = transactions::answered_or_original(
        state,
        &scope,
        terminal,
        &request.key,
        &request.original,
        &["0100", "0200"],
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
    let (code, reference, writes) = match refusal(&ctx, &original, &request).await? {
        Some(code) => (code, None, Default::default()),
        None => match already_made(state, &scope, &original, &record_id).await? {
            Some(refund) => match refund.status {
                portcullis_domain::refunds::RefundStatus::Failed => {
                    (response::DO_NOT_HONOUR, None, Default::default())
                }
                _ => (response::APPROVED, Some(refund.id), Default::default()),
            },
            None => match make(&ctx, &original, &request, &record_id).await? {
                Made::Answered(code, reference, writes) => (code, reference, writes),
                Made::Unknown => return Ok(None),
            },
        },
    };
    let answered = Answered {
        response_code: code.to_owned(),
        authorization_code: reference.map(|id| authorization_code(state, &id)),
    };
    let record = TerminalTransaction {
        id: record_id,
        terminal_id: terminal.terminal_id.clone(),
        stan: request.key.stan.clone(),
        transmission: request.key.transmission.clone(),
        mti: "0200".to_owned(),
        payment_intent: original.payment_intent.clone(),
        answered,
        reversed: None,
        processing_code: Some(processing::REFUND.to_owned()),
    };
    transactions::record(state, &scope, record, writes).await
}

/// The code that refuses refunding `original` as `request` asks, if any.
async fn refusal(
    ctx: &Ctx<'_>,
    original: &TerminalTransaction,
    request: &RefundRequest,
) -> ApiResult<Option<&'static str>> {
    let (_, intent) =
        load::<PaymentIntent>(ctx.state, ctx.scope, &original.payment_intent, "intent").await?;
    let Some(charge_id) = &intent.latest_charge else {
        return Ok(Some(response::INVALID_TRANSACTION));
    };
    let (_, charge) = load::<Charge>(ctx.state, ctx.scope, charge_id, "charge").await?;
    let same_card = charge.card.as_ref().is_some_and(|card| {
        card.last4 == request.card.last4()
            && card.bin == request.card.bin()
            && card.brand == request.card.brand()
    });
    if !same_card || charge.currency != request.currency || !charge.captured {
        return Ok(Some(response::INVALID_TRANSACTION));
    }
    if request.amount.minor() > charge.refundable_minor() {
        return Ok(Some(response::INVALID_AMOUNT));
    }
    Ok(None)
}

/// The refund an earlier try of this message made (it died before its
/// answer was recorded), found by its metadata.
async fn already_made(
    state: &AppState,
    scope: &Scope,
    original: &TerminalTransaction,
    record_id: &str,
) -> ApiResult<Option<Refund>> {
    let query = ScanQuery {
        filters: vec![(
            "payment_intent",
            ScanOp::Equal,
            SqlValue::Text(original.payment_intent.clone()),
        )],
        created_before: None,
        limit: REFUNDS_SCANNED_MAX,
    };
    for found in state.store.scan(Table::Refunds, &query).await? {
        if found.scope != *scope {
            continue;
        }
        let refund: Refund =
            serde_json::from_str(&found.doc.body).map_err(|e| ApiError::internal(&e))?;
        if refund.metadata.get(MESSAGE_KEY) == Some(record_id) {
            return Ok(Some(refund));
        }
    }
    Ok(None)
}

enum Made {
    /// DE 39, the refund's id on success, and the writes of its phase two.
    Answered(&'static str, Option<String>, portcullis_store::WriteSet),
    /// The acquirer's answer was lost; the refund is pending.
    Unknown,
}

async fn make(
    ctx: &Ctx<'_>,
    original: &TerminalTransaction,
    request: &RefundRequest,
    record_id: &str,
) -> ApiResult<Made> {
    let create = CreateRequest {
        payment_intent: Some(original.payment_intent.clone()),
        charge: None,
        amount: Some(request.amount.minor()),
        reason: None,
        metadata: Some(MetadataUpdate::Change(vec![(
            MESSAGE_KEY.to_owned(),
            Some(record_id.to_owned()),
        )])),
    };
    let done = match refunds::refund(ctx, &create).await {
        Ok(done) => done,
        Err(err) if err.status.is_client_error() => {
            let code = match err.code {
                Some("amount_too_large" | "amount_too_small" | "charge_already_refunded") => {
                    response::INVALID_AMOUNT
                }
                _ => response::INVALID_TRANSACTION,
            };
            return Ok(Made::Answered(code, None, Default::default()));
        }
        Err(err) => return Err(err),
    };
    let body = done.body.tree()?;
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    match body["status"].as_str() {
        Some("failed" | "canceled") => {
            Ok(Made::Answered(response::DO_NOT_HONOUR, None, done.writes))
        }
        // Pending with nothing to write: the acquirer did not answer.
        Some("pending") if done.writes.ops.is_empty() => Ok(Made::Unknown),
        _ => Ok(Made::Answered(response::APPROVED, Some(id), done.writes)),
    }
}

/// DE 38 of an approved refund: six characters derived from the refund
/// (keyed, so they cannot be forged from its id).
fn authorization_code(state: &AppState, refund: &str) -> String {
    state
        .key_hasher
        .keyed_digest("terminal_refund_code", refund)[..6]
        .to_uppercase()
}
