//! A terminal's 0100 (authorization, captured later through the API) or
//! 0200 (purchase) as a PaymentIntent of its merchant, confirmed through
//! the same path as `POST /v1/payment_intents` with `confirm=true` (risk,
//! the connector between two commits, the ledger, events and webhooks);
//! and its 0400, which voids the authorization or refunds the purchase.
//!
//! The answer is recorded with the payment's phase two, in one commit, so
//! a repeated message answers the first answer again. When the outcome is
//! unknown (the connector did not answer, or phase two did not commit) no
//! answer is given: the terminal's timeout makes it send a 0400, which is
//! carried out once recovery has settled the payment.

use super::registry::Terminal;
use super::transactions::{self, Answered, MessageKey, Reversed, TerminalTransaction};
use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::idempotency::Executed;
use crate::payments::cards::CardInput;
use crate::payments::confirm::{confirm_new, ConfirmInput, MethodSource};
use crate::payments::render::render_payment_intent;
use crate::payments::Ctx;
use crate::state::AppState;
use axum::http::StatusCode;
use portcullis_connectors::iso8583::codes::response_of_error;
use portcullis_domain::charges::Charge;
use portcullis_domain::metadata::{Metadata, MetadataUpdate};
use portcullis_domain::money::{Amount, Currency};
use portcullis_domain::payment_intents::{CaptureMethod, PaymentIntent, PaymentIntentStatus};
use portcullis_domain::payment_methods::BillingDetails;
use portcullis_iso8583::fields::response;
use portcullis_store::{Doc, Scope, StoreError, Table, WriteOp, WriteSet};
use serde_json::Value;

/// A terminal's 0100 or 0200, parsed.
pub struct Purchase {
    pub key: MessageKey,
    /// `0100` (manual capture) or `0200` (automatic capture).
    pub mti: String,
    pub amount: Amount,
    pub currency: Currency,
    pub card: CardInput,
}

pub(super) const NO_ORIGIN: Origin = Origin {
    request_id: None,
    idempotency_key: None,
};

/// Pays `purchase` for `terminal`; `None` when the outcome is not known yet
/// (no answer is sent).
pub async fn pay(
    state: &AppState,
    terminal: &Terminal,
    purchase: Purchase,
) -> ApiResult<Option<Answered>> {
    let scope = terminal.scope()?;
    if let Some((_, record)) = transactions::find(state, &scope, &purchase.key).await? {
        return Ok(Some(record.answered));
    }
    let intent_id = purchase.key.intent_id(state);
    if let Some(doc) = state
        .store
        .get(Table::PaymentIntents, &scope, &intent_id)
        .await?
    {
        return answer_again(state, &scope, &purchase, &doc).await;
    }
    let ctx = Ctx {
        state,
        scope: &scope,
        origin: &NO_ORIGIN,
    };
    let (intent, created) = new_intent(&ctx, terminal, &purchase, &intent_id)?;
    let Purchase { key, mti, card, .. } = purchase;
    let input = ConfirmInput {
        method: Some(MethodSource::Inline(card, BillingDetails::default())),
        ..ConfirmInput::default()
    };
    let done = match confirm_new(&ctx, intent, created, &input).await {
        Ok(done) => done,
        // A repeat of this message got here first: it answers.
        Err(err) if err.retry_on_fresh_state => return Ok(None),
        Err(err) if err.status.is_client_error() => Executed {
            status: err.status,
            body: serde_json::json!({ "error": err.to_json() }).into(),
            writes: WriteSet::new(),
            external_effects: false,
            replan: None,
        },
        Err(err) => return Err(err),
    };
    let body = done.body.tree()?;
    let network = network_decline_code(&done.writes, &body);
    let Some(answered) = answer_of(state, done.status, &body, network) else {
        return Ok(None);
    };
    let record = record_of(state, &key, &mti, &intent_id, answered.clone());
    let mut writes = done.writes;
    writes.push(transactions::insert(&scope, &record, state.now())?);
    match state.store.commit(writes).await {
        Ok(()) => Ok(Some(answered)),
        Err(StoreError::Duplicate) => Ok(transactions::find(state, &scope, &key)
            .await?
            .map(|(_, record)| record.answered)),
        Err(err) => {
            tracing::warn!(error = %err, intent = %intent_id, "a terminal payment's outcome did not commit; left for recovery");
            Ok(None)
        }
    }
}

/// A repeat of a message whose intent exists but whose answer was never
/// recorded (the first try died between its commits): the answer is what
/// the intent now says, once recovery has settled it.
async fn answer_again(
    state: &AppState,
    scope: &Scope,
    purchase: &Purchase,
    doc: &Doc,
) -> ApiResult<Option<Answered>> {
    let intent: PaymentIntent =
        serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?;
    let network = match &intent.last_payment_error {
        Some(error) => match &error.charge {
            Some(charge) => {
                let (_, charge) =
                    crate::payments::records::load::<Charge>(state, scope, charge, "charge")
                        .await?;
                charge.outcome.network_decline_code
            }
            None => None,
        },
        None => None,
    };
    let rendered = render_payment_intent(&intent);
    let Some(answered) = answer_of(state, StatusCode::OK, &rendered, network) else {
        return Ok(None);
    };
    let record = record_of(
        state,
        &purchase.key,
        &purchase.mti,
        &intent.id,
        answered.clone(),
    );
    let mut writes = WriteSet::new();
    writes.push(transactions::insert(scope, &record, state.now())?);
    match state.store.commit(writes).await {
        Ok(()) | Err(StoreError::Duplicate) => Ok(transactions::find(state, scope, &purchase.key)
            .await?
            .map(|(_, record)| record.answered)),
        Err(err) => Err(err.into()),
    }
}

fn record_of(
    state: &AppState,
    key: &MessageKey,
    mti: &str,
    intent_id: &str,
    answered: Answered,
) -> TerminalTransaction {
    TerminalTransaction {
        id: key.record_id(state),
        terminal_id: key.terminal_id.clone(),
        stan: key.stan.clone(),
        transmission: key.transmission.clone(),
        mti: mti.to_owned(),
        payment_intent: intent_id.to_owned(),
        answered,
        reversed: None,
        processing_code: None,
    }
}

/// The new intent (`card_present`, `metadata[terminal_id]`) and its
/// creation event, to be committed with phase one.
fn new_intent(
    ctx: &Ctx<'_>,
    terminal: &Terminal,
    purchase: &Purchase,
    intent_id: &str,
) -> ApiResult<(PaymentIntent, WriteSet)> {
    let mut intent = PaymentIntent::create(
        purchase.amount,
        purchase.currency,
        vec!["card_present".to_owned()],
        false,
        ctx.state.now(),
    );
    intent.client_secret = intent.client_secret.replacen(&intent.id, intent_id, 1);
    intent.id = intent_id.to_owned();
    if purchase.mti == "0100" {
        intent.capture_method = CaptureMethod::Manual;
    }
    let update = MetadataUpdate::Change(vec![(
        "terminal_id".to_owned(),
        Some(terminal.terminal_id.clone()),
    )]);
    intent.metadata = Metadata::default()
        .updated(&update)
        .map_err(|e| ApiError::internal(&e))?;
    let mut writes = WriteSet::new();
    writes.push(crate::payments::intents::created_event(ctx, &intent));
    Ok((intent, writes))
}

/// The card network's decline code (DE 39 of an acquirer that speaks ISO
/// 8583) of the failed charge a confirmation wrote, if any.
fn network_decline_code(writes: &WriteSet, body: &Value) -> Option<String> {
    let charge = body["error"]["charge"]
        .as_str()
        .or_else(|| body["last_payment_error"]["charge"].as_str())?;
    writes.ops.iter().find_map(|op| match op {
        WriteOp::Insert {
            table: Table::Charges,
            id,
            body,
            ..
        } if id == charge => {
            serde_json::from_str::<Charge>(body)
                .ok()?
                .outcome
                .network_decline_code
        }
        _ => None,
    })
}

/// The answer an API response stands for; `None` while the payment is
/// still processing (its outcome unknown). A decline answers the network's
/// own code when the acquirer gave one (62 stays 62, though Stripe's
/// `transaction_not_allowed` also stands for 57), else the code Stripe's
/// error maps to.
fn answer_of(
    state: &AppState,
    status: StatusCode,
    body: &Value,
    network: Option<String>,
) -> Option<Answered> {
    let declined = |error: &Value| Answered {
        response_code: network.clone().unwrap_or_else(|| {
            response_of_error(
                error["code"].as_str().unwrap_or_default(),
                error["decline_code"].as_str(),
            )
            .to_owned()
        }),
        authorization_code: None,
    };
    if !status.is_success() {
        return Some(declined(&body["error"]));
    }
    match body["status"].as_str() {
        Some("succeeded" | "requires_capture") => {
            let charge = body["latest_charge"].as_str()?;
            Some(Answered {
                response_code: response::APPROVED.to_owned(),
                authorization_code: Some(authorization_code(state, charge)),
            })
        }
        Some("requires_action") => Some(Answered {
            response_code: response::AUTHENTICATION_REQUIRED.to_owned(),
            authorization_code: None,
        }),
        Some("requires_payment_method") if body["last_payment_error"].is_object() => {
            Some(declined(&body["last_payment_error"]))
        }
        _ => None,
    }
}

/// DE 38 of an approval: six characters the gateway derives from the
/// charge (keyed, so they cannot be forged from the charge id).
fn authorization_code(state: &AppState, charge: &str) -> String {
    state
        .key_hasher
        .keyed_digest("terminal_authorization_code", charge)[..6]
        .to_uppercase()
}

/// How a 0400 names its original.
pub enum Original {
    /// By DE 90: the original's STAN and DE 7.
    Key(MessageKey),
    /// By terminal, STAN and date (MMDD).
    Named(String),
}

/// Reverses `original` for `terminal`; answers DE 39, or `None` while the
/// payment's outcome is not settled yet (no answer: the terminal repeats
/// the reversal).
pub async fn reverse(
    state: &AppState,
    terminal: &Terminal,
    original: Original,
) -> ApiResult<Option<&'static str>> {
    let scope = terminal.scope()?;
    let found = match &original {
        Original::Key(key) => transactions::find(state, &scope, key).await?,
        Original::Named(name) => transactions::find_by_original_key(state, name).await?,
    };
    let Some((doc, mut record)) = found.filter(|(_, r)| r.terminal_id == terminal.terminal_id)
    else {
        return Ok(Some(response::NO_ORIGINAL));
    };
    if record.reversed.is_some() {
        return Ok(Some(response::APPROVED));
    }
    if record.processing_code.is_some() || record.mti == super::completions::COMPLETION_MTI {
        // A refund is not taken back (its money is on its way to the
        // card), nor is a completion (reverse the 0100 it completed).
        return Ok(Some(response::INVALID_TRANSACTION));
    }
    let ctx = Ctx {
        state,
        scope: &scope,
        origin: &NO_ORIGIN,
    };
    let (action, mut writes) = if record.answered.response_code != response::APPROVED {
        ("nothing", WriteSet::new())
    } else {
        match undo(&ctx, &record).await {
            Ok(Some(undone)) => undone,
            Ok(None) => return Ok(None),
            Err(err) if err.status.is_client_error() => {
                tracing::warn!(code = ?err.code, record = %record.id, "a terminal reversal was refused");
                return Ok(Some(response::INVALID_TRANSACTION));
            }
            Err(err) => return Err(err),
        }
    };
    record.reversed = Some(Reversed {
        action: action.to_owned(),
        at: state.now(),
    });
    writes.push(transactions::update(&scope, &doc, &record)?);
    match state.store.commit(writes).await {
        Ok(()) => Ok(Some(response::APPROVED)),
        Err(err) => {
            tracing::warn!(error = %err, record = %record.id, "a terminal reversal did not commit; the terminal repeats it");
            Ok(None)
        }
    }
}

/// Voids or refunds the approved original; the action and the writes of
/// its phase two, or `None` while the intent is still processing.
async fn undo(
    ctx: &Ctx<'_>,
    record: &TerminalTransaction,
) -> ApiResult<Option<(&'static str, WriteSet)>> {
    let (_, intent) = crate::payments::records::load::<PaymentIntent>(
        ctx.state,
        ctx.scope,
        &record.payment_intent,
        "intent",
    )
    .await?;
    if intent.pending_attempt.is_some() {
        return Ok(None);
    }
    match intent.status {
        PaymentIntentStatus::RequiresCapture => {
            let done =
                crate::payments::capture::cancel_intent(ctx, &intent.id, None, Some(&record.id))
                    .await?;
            Ok(Some(("canceled", done.writes)))
        }
        PaymentIntentStatus::Succeeded => {
            let create = crate::payments::refunds::CreateRequest {
                payment_intent: Some(intent.id.clone()),
                charge: None,
                amount: None,
                reason: None,
                metadata: None,
            };
            match crate::payments::refunds::refund(ctx, &create).await {
                Ok(done) => Ok(Some(("refunded", done.writes))),
                // Refunded in full already (through the API, or by a
                // reversal whose record did not commit).
                Err(err) if err.code == Some("charge_already_refunded") => {
                    Ok(Some(("refunded", WriteSet::new())))
                }
                Err(err) => Err(err),
            }
        }
        PaymentIntentStatus::Canceled => Ok(Some(("canceled", WriteSet::new()))),
        PaymentIntentStatus::Processing => Ok(None),
        _ => Ok(Some(("nothing", WriteSet::new()))),
    }
}
