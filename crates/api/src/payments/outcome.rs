//! What an authorization's outcome does to an intent: the charge it
//! records, the events it writes, and the answer the client gets.

use super::attempts::Attempt;
use super::charge_wire::ChargeWire;
use super::intent_wire::IntentWire;
use super::ledger_postings;
use super::records;
use super::render::{render_payment_intent, rendered_payment_intent};
use super::risk::Assessment;
use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::events::event;
use crate::idempotency::AnswerBody;
use axum::http::StatusCode;
use portcullis_connectors::{Decline, DisputeNotice};
use portcullis_domain::charges::{Charge, ChargeStatus, Outcome, WalletCharge};
use portcullis_domain::ids::new_id;
use portcullis_domain::payment_intents::{IntentEvent, NextAction, PaymentError, PaymentIntent};
use portcullis_domain::payment_methods::PaymentMethod;
use portcullis_store::{SqlValue, Table, WriteOp, WriteSet};
use serde_json::json;

/// An intent after an outcome, with the writes and answer that go with it.
pub struct Resolution {
    pub intent: PaymentIntent,
    pub status: StatusCode,
    pub body: AnswerBody,
    pub writes: WriteSet,
}

/// What a payment was made with: a card PaymentMethod, or a wallet
/// (`alipay` / `wechat_pay`), which has no PaymentMethod object.
#[derive(Clone, Copy)]
pub enum PaidWith<'a> {
    Card(&'a PaymentMethod),
    Wallet(&'a str),
}

impl<'a> PaidWith<'a> {
    fn card_method(self) -> Option<&'a PaymentMethod> {
        match self {
            PaidWith::Card(method) => Some(method),
            PaidWith::Wallet(_) => None,
        }
    }
}

fn new_charge(
    ctx: &Ctx<'_>,
    intent: &PaymentIntent,
    paid_with: PaidWith<'_>,
    attempt: &Attempt,
    outcome: Outcome,
) -> Charge {
    let method = paid_with.card_method();
    let wallet = match paid_with {
        PaidWith::Card(_) => None,
        PaidWith::Wallet(provider) => Some(WalletCharge {
            provider: provider.to_owned(),
            transaction_id: None,
            buyer_id: None,
            fingerprint: None,
        }),
    };
    Charge {
        id: new_id("ch"),
        created: ctx.state.now(),
        livemode: ctx.scope.livemode,
        amount_minor: intent.amount.minor(),
        amount_captured_minor: 0,
        amount_refunded_minor: 0,
        currency: intent.currency,
        captured: false,
        status: ChargeStatus::Failed,
        payment_intent: intent.id.clone(),
        // A wallet's payment method is the intent's (none yet for an
        // aggregated QR whose wallet the customer has not picked).
        payment_method: method
            .map(|m| m.id.clone())
            .or_else(|| wallet.as_ref().and(intent.payment_method.clone())),
        customer: intent.customer.clone(),
        description: intent.description.clone(),
        failure_code: None,
        failure_message: None,
        outcome,
        card: method.and_then(|m| m.card.clone()),
        disputed: false,
        connector_reference: None,
        attempt: attempt.id.clone(),
        balance_transaction: None,
        fee_minor: 0,
        fee_returned_minor: 0,
        review: None,
        presence: intent.card_presence(),
        routing: attempt.routing.clone(),
        wallet,
        receivable: None,
    }
}

fn outcome(
    network_status: &str,
    kind: &str,
    reason: Option<&str>,
    seller_message: &str,
    risk: &Assessment,
) -> Outcome {
    Outcome {
        network_status: network_status.to_owned(),
        network_decline_code: None,
        reason: reason.map(str::to_owned),
        risk_level: risk.risk_level.to_owned(),
        risk_score: risk.risk_score,
        rule: risk.rule.clone(),
        seller_message: seller_message.to_owned(),
        kind: kind.to_owned(),
        signals: risk.signals.clone(),
    }
}

/// The connector approved: the charge succeeded (captured unless the
/// intent captures manually).
pub fn approved(
    ctx: &Ctx<'_>,
    mut intent: PaymentIntent,
    method: &PaymentMethod,
    attempt: &Attempt,
    reference: &str,
    dispute: Option<DisputeNotice>,
    risk: &Assessment,
) -> ApiResult<Resolution> {
    let manual = intent.is_manual_capture();
    let in_review = risk.action == portcullis_risk::Action::Review;
    let (kind, seller) = if in_review {
        ("manual_review", "Portcullis placed this payment in review.")
    } else {
        ("authorized", "Payment complete.")
    };
    let charge_outcome = outcome("approved_by_network", kind, None, seller, risk);
    let mut charge = new_charge(
        ctx,
        &intent,
        PaidWith::Card(method),
        attempt,
        charge_outcome,
    );
    charge.status = ChargeStatus::Succeeded;
    charge.connector_reference = Some(reference.to_owned());
    charge.captured = !manual;
    charge.amount_captured_minor = if manual { 0 } else { intent.amount.minor() };
    intent
        .apply(
            IntentEvent::Approved {
                manual_capture: manual,
            },
            "approved",
        )
        .map_err(|e| ApiError::internal(&e))?;
    intent.pending_attempt = None;
    intent.latest_charge = Some(charge.id.clone());
    intent.last_payment_error = None;
    intent.amount_capturable_minor = if manual { intent.amount.minor() } else { 0 };
    intent.amount_received_minor = charge.amount_captured_minor;
    let mut writes = WriteSet::new();
    if charge.captured {
        writes
            .ops
            .extend(ledger_postings::capture(ctx, &mut charge)?);
    }
    // Disputed first: a review of a disputed charge opens closed.
    if let Some(notice) = dispute {
        charge.disputed = true;
        writes.ops.extend(dispute_writes(ctx, &charge, &notice)?);
    }
    if in_review {
        let review = super::reviews::open(ctx, &charge)?;
        intent.review = Some(review.0.clone());
        charge.review = Some(review.0);
        writes.ops.extend(review.1);
    }
    let intent_json = rendered_payment_intent(&intent)?;
    writes.push(records::insert(ctx.scope, &charge)?);
    let counted = if manual {
        "requires_capture"
    } else {
        "succeeded"
    };
    crate::metrics::count_payment(counted, None);
    let now = ctx.state.now();
    writes.push(event(
        ctx.scope,
        "charge.succeeded",
        &ChargeWire::of(&charge),
        None,
        ctx.origin,
        now,
    ));
    let intent_event = if manual {
        "payment_intent.amount_capturable_updated"
    } else {
        "payment_intent.succeeded"
    };
    writes.push(event(
        ctx.scope,
        intent_event,
        &*intent_json,
        None,
        ctx.origin,
        now,
    ));
    Ok(Resolution {
        intent,
        status: StatusCode::OK,
        body: AnswerBody::Rendered(intent_json),
        writes,
    })
}

/// A dispute opened on a captured charge, and its ledger booking.
pub fn dispute_writes(
    ctx: &Ctx<'_>,
    charge: &Charge,
    notice: &DisputeNotice,
) -> ApiResult<Vec<WriteOp>> {
    let now = ctx.state.now();
    let id = new_id("dp");
    let (balance_transaction, mut writes) =
        ledger_postings::dispute(ctx, charge, &id, notice.amount_minor)?;
    let dispute = json!({
        "id": id,
        "object": "dispute",
        "amount": notice.amount_minor,
        "balance_transactions": [balance_transaction],
        "charge": charge.id,
        "created": now,
        "currency": charge.currency,
        "livemode": ctx.scope.livemode,
        "metadata": {},
        "payment_intent": charge.payment_intent,
        "reason": notice.reason,
        "status": "needs_response",
    });
    writes.push(WriteOp::Insert {
        table: Table::Disputes,
        scope: ctx.scope.clone(),
        id,
        created: now,
        columns: vec![("charge", SqlValue::Text(charge.id.clone()))],
        body: dispute.to_string(),
    });
    Ok(writes)
}

/// The issuer declined: a failed charge, the intent back to
/// `requires_payment_method`, and a 402 naming the intent.
pub fn declined(
    ctx: &Ctx<'_>,
    intent: PaymentIntent,
    method: &PaymentMethod,
    attempt: &Attempt,
    decline: &Decline,
    risk: &Assessment,
) -> ApiResult<Resolution> {
    let code = decline.code.as_str();
    let seller = "The bank did not return any further details with this decline.";
    let mut charge_outcome = outcome(
        "declined_by_network",
        "issuer_declined",
        decline.decline_code.as_deref().or(Some(code)),
        seller,
        risk,
    );
    charge_outcome.network_decline_code = decline.network_decline_code.clone();
    let failure = Failure {
        outcome: charge_outcome,
        code,
        decline_code: decline.decline_code.as_deref(),
        message: &decline.message,
    };
    crate::metrics::count_payment(
        "declined",
        Some(decline.decline_code.as_deref().unwrap_or(code)),
    );
    failed(ctx, intent, PaidWith::Card(method), attempt, failure)
}

/// A risk rule blocked the payment before any connector (or wallet
/// provider) saw it.
pub fn blocked(
    ctx: &Ctx<'_>,
    intent: PaymentIntent,
    paid_with: PaidWith<'_>,
    risk: &Assessment,
) -> ApiResult<Resolution> {
    let reason = if risk.blocked_by() == Some(super::risk::BLOCK_HIGHEST_RULE) {
        "highest_risk_level"
    } else {
        "rule"
    };
    let mut charge_outcome = outcome(
        "not_sent_to_network",
        "blocked",
        Some(reason),
        "Portcullis blocked this payment as too risky.",
        risk,
    );
    charge_outcome.rule = risk.blocked_by().map(str::to_owned);
    let attempt = Attempt::new(
        super::attempts::AttemptKind::Authorize,
        &intent.id,
        None,
        intent.amount.minor(),
        ctx.state.now(),
    );
    let message = match paid_with {
        PaidWith::Card(_) => "Your card was declined.",
        PaidWith::Wallet(_) => "Your payment was declined.",
    };
    let failure = Failure {
        outcome: charge_outcome,
        code: "card_declined",
        decline_code: Some("fraudulent"),
        message,
    };
    crate::metrics::count_payment("blocked", Some("fraudulent"));
    failed(ctx, intent, paid_with, &attempt, failure)
}

/// Why a payment failed, as the charge and the error will say.
struct Failure<'a> {
    outcome: Outcome,
    code: &'a str,
    decline_code: Option<&'a str>,
    message: &'a str,
}

fn failed(
    ctx: &Ctx<'_>,
    mut intent: PaymentIntent,
    paid_with: PaidWith<'_>,
    attempt: &Attempt,
    failure: Failure<'_>,
) -> ApiResult<Resolution> {
    let Failure {
        outcome: charge_outcome,
        code,
        decline_code,
        message,
    } = failure;
    let method = paid_with.card_method();
    let mut charge = new_charge(ctx, &intent, paid_with, attempt, charge_outcome);
    charge.failure_code = Some(code.to_owned());
    charge.failure_message = Some(message.to_owned());
    intent
        .apply(IntentEvent::Failed, "failed")
        .map_err(|e| ApiError::internal(&e))?;
    intent.pending_attempt = None;
    intent.latest_charge = Some(charge.id.clone());
    intent.last_payment_error = Some(PaymentError {
        kind: "card_error".to_owned(),
        code: code.to_owned(),
        decline_code: decline_code.map(str::to_owned),
        message: message.to_owned(),
        charge: Some(charge.id.clone()),
        payment_method: method.map(|m| m.id.clone()),
    });
    let intent_json = render_payment_intent(&intent);
    let now = ctx.state.now();
    let mut writes = WriteSet::new();
    writes.push(records::insert(ctx.scope, &charge)?);
    writes.push(event(
        ctx.scope,
        "charge.failed",
        &ChargeWire::of(&charge),
        None,
        ctx.origin,
        now,
    ));
    writes.push(event(
        ctx.scope,
        "payment_intent.payment_failed",
        &IntentWire::of(&intent),
        None,
        ctx.origin,
        now,
    ));
    let body = json!({ "error": {
        "type": "card_error",
        "code": code,
        "decline_code": decline_code,
        "message": message,
        "charge": charge.id,
        "payment_intent": intent_json,
        "payment_method": method.map(super::render::render_payment_method),
    }});
    Ok(Resolution {
        intent,
        status: StatusCode::PAYMENT_REQUIRED,
        body: body.into(),
        writes,
    })
}

/// The issuer wants the customer to authenticate on our hosted page.
pub fn authentication_required(ctx: &Ctx<'_>, mut intent: PaymentIntent) -> ApiResult<Resolution> {
    intent
        .apply(IntentEvent::AuthenticationRequired, "challenged")
        .map_err(|e| ApiError::internal(&e))?;
    crate::metrics::count_payment("requires_action", None);
    intent.pending_attempt = None;
    let base = ctx.base_url();
    intent.next_action = Some(NextAction::RedirectToUrl {
        url: format!(
            "{base}/authenticate/{}?client_secret={}",
            intent.id, intent.client_secret
        ),
        return_url: intent.return_url.clone(),
    });
    let intent_json = rendered_payment_intent(&intent)?;
    let mut writes = WriteSet::new();
    writes.push(event(
        ctx.scope,
        "payment_intent.requires_action",
        &*intent_json,
        None,
        ctx.origin,
        ctx.state.now(),
    ));
    Ok(Resolution {
        intent,
        status: StatusCode::OK,
        body: AnswerBody::Rendered(intent_json),
        writes,
    })
}

/// Authentication failed or was abandoned: back to `requires_payment_method`.
pub fn authentication_failed(ctx: &Ctx<'_>, mut intent: PaymentIntent) -> ApiResult<Resolution> {
    intent
        .apply(IntentEvent::Failed, "failed")
        .map_err(|e| ApiError::internal(&e))?;
    crate::metrics::count_payment("authentication_failed", None);
    intent.next_action = None;
    intent.last_payment_error = Some(PaymentError {
        kind: "invalid_request_error".to_owned(),
        code: "payment_intent_authentication_failure".to_owned(),
        decline_code: None,
        message: "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.".to_owned(),
        charge: None,
        payment_method: intent.payment_method.clone(),
    });
    let intent_json = rendered_payment_intent(&intent)?;
    let mut writes = WriteSet::new();
    writes.push(event(
        ctx.scope,
        "payment_intent.payment_failed",
        &*intent_json,
        None,
        ctx.origin,
        ctx.state.now(),
    ));
    Ok(Resolution {
        intent,
        status: StatusCode::OK,
        body: AnswerBody::Rendered(intent_json),
        writes,
    })
}
