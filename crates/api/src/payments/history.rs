//! Payment history written straight to the store, for `portcullis seed`:
//! the rows a create-and-confirm of a `pm_card_*` test card leaves behind,
//! built by the same functions the API's payment path uses (the intent
//! and its `payment_intent.created` event, the test card's payment method,
//! the risk assessment and its counters, the routed attempt, the outcome's
//! charge, events and ledger postings), but as ONE write set per payment,
//! with no HTTP, no idempotency key and no connector call.
//!
//! What differs from a payment made through the API, and why it does not
//! matter for the history it stands for: the intent and the attempt are
//! inserted in their final state (version 1) instead of being inserted and
//! updated over two commits; the acquirer's reference is a fresh `sbx_…`
//! id that no acquirer knows (the outcome is the test-card table's, as the
//! sandbox decides it), so a seeded charge cannot be refunded through the
//! sandbox; events carry no request id.

use super::attempts::{Attempt, AttemptKind};
use super::methods::from_test_id;
use super::outcome::{approved, authentication_required, blocked, declined, PaidWith, Resolution};
use super::records;
pub use super::risk::RiskPast;
use super::risk::{self, RiskInput};
use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::state::AppState;
use portcullis_connectors::{CvcCheck, DeclineCode};
use portcullis_domain::cards::CardNumber;
use portcullis_domain::customers::{Customer, CustomerChanges, Email, Patch};
use portcullis_domain::ids::new_id;
use portcullis_domain::metadata::MetadataUpdate;
use portcullis_domain::money::{Amount, Currency};
use portcullis_domain::payment_intents::{IntentChanges, IntentEvent, PaymentIntent};
use portcullis_domain::sandbox_cards::test_payment_method_number;
use portcullis_store::{Scope, WriteSet};

/// One payment of the history: who paid what with which test card.
pub struct HistoricPayment<'a> {
    /// The paying customer (`cus_…`), which must exist.
    pub customer: &'a str,
    pub amount: Amount,
    pub currency: Currency,
    /// A `pm_card_*` test payment method id: its card decides the outcome.
    pub test_method: &'a str,
    pub description: String,
    pub metadata: Vec<(String, String)>,
}

/// One customer of the history.
pub struct HistoricCustomer<'a> {
    pub email: &'a str,
    pub name: String,
    pub metadata: Vec<(String, String)>,
}

/// The insert of a new customer (what `POST /v1/customers` writes), and its id.
pub fn customer_writes(
    state: &AppState,
    scope: &Scope,
    customer: &HistoricCustomer<'_>,
) -> ApiResult<(String, WriteSet)> {
    let email = Email::parse(customer.email)
        .map_err(|e| ApiError::invalid("parameter_invalid", e.to_string(), "email"))?;
    let changes = CustomerChanges {
        email: Patch::Set(email),
        name: Patch::Set(customer.name.clone()),
        metadata: Some(metadata_update(&customer.metadata)),
        ..CustomerChanges::default()
    };
    let created = Customer::create(&changes, scope.livemode, state.now())
        .map_err(|e| ApiError::invalid("parameter_invalid", e.to_string(), "customer"))?;
    let mut writes = WriteSet::new();
    writes.push(crate::customers::insert_op(scope.clone(), &created)?);
    Ok((created.id.to_string(), writes))
}

/// Everything one create-and-confirm payment writes, as one write set,
/// assessed against the risk past `past` holds (for a seeder, the memory
/// of what it wrote before this payment).
pub async fn payment_writes(
    state: &AppState,
    scope: &Scope,
    payment: &HistoricPayment<'_>,
    past: RiskPast<'_>,
) -> ApiResult<WriteSet> {
    let origin = Origin::default();
    let ctx = Ctx {
        state,
        scope,
        origin: &origin,
    };
    let mut intent = new_intent(&ctx, payment)?;
    let mut writes = WriteSet::new();
    writes.push(super::intents::created_event(&ctx, &intent));
    let (mut method, method_writes) = from_test_id(state, scope, payment.test_method)?
        .ok_or_else(|| ApiError::internal(&"seeding needs a pm_card_* test method in test mode"))?;
    writes.ops.extend(method_writes);
    intent.payment_method = Some(method.id.clone());
    apply(&mut intent, IntentEvent::PaymentMethodGiven)?;
    let risk_input = RiskInput {
        intent: &intent,
        method: Some(&method),
        payment_method_type: "card",
        ip: None,
        authenticated: false,
        off_session: false,
    };
    let assessment = risk::assess_from(state, scope, &risk_input, past).await?;
    writes
        .ops
        .extend(assessment.attempt_writes(&intent.id, false)?);
    let resolution = if assessment.blocked_by().is_some() {
        blocked(&ctx, intent, PaidWith::Card(&method), &assessment)?
    } else if assessment.action == portcullis_risk::Action::RequestThreeDs {
        authentication_required(&ctx, intent)?
    } else {
        apply(&mut intent, IntentEvent::AttemptSent)?;
        let mut attempt = Attempt::new(
            AttemptKind::Authorize,
            &intent.id,
            None,
            intent.amount.minor(),
            state.now(),
        );
        let route = crate::routing::payment::route(state, scope, &intent, &method, None).await?;
        attempt.connector_account = route.account.clone();
        attempt.routing = Some(route.explained(&attempt.id));
        attempt.resolved = true;
        writes.push(attempt.insert(scope)?);
        let decline = test_card_decline(payment.test_method)?;
        super::methods::card_of_mut(&mut method)?.cvc_check =
            Some(cvc_check(decline.as_ref()).as_str().to_owned());
        writes
            .ops
            .extend(assessment.outcome_writes(decline.is_none()));
        match decline {
            None => {
                let reference = new_id("sbx");
                approved(
                    &ctx,
                    intent,
                    &method,
                    &attempt,
                    &reference,
                    None,
                    &assessment,
                )?
            }
            Some(decline) => declined(&ctx, intent, &method, &attempt, &decline, &assessment)?,
        }
    };
    finish(scope, resolution, writes)
}

fn new_intent(ctx: &Ctx<'_>, payment: &HistoricPayment<'_>) -> ApiResult<PaymentIntent> {
    let mut intent = PaymentIntent::create(
        payment.amount,
        payment.currency,
        vec!["card".to_owned()],
        ctx.scope.livemode,
        ctx.state.now(),
    );
    let changes = IntentChanges {
        customer: Patch::Set(payment.customer.to_owned()),
        description: Patch::Set(payment.description.clone()),
        metadata: Some(metadata_update(&payment.metadata)),
        ..IntentChanges::default()
    };
    intent
        .change(&changes)
        .map_err(|e| ApiError::invalid("parameter_invalid", e.to_string(), "metadata"))?;
    Ok(intent)
}

fn metadata_update(pairs: &[(String, String)]) -> MetadataUpdate {
    MetadataUpdate::Change(
        pairs
            .iter()
            .map(|(key, value)| (key.clone(), Some(value.clone())))
            .collect(),
    )
}

fn apply(intent: &mut PaymentIntent, event: IntentEvent) -> ApiResult<()> {
    intent
        .apply(event, "confirmed")
        .map_err(|_| super::unexpected_state(intent, "confirmed"))
}

/// What the sandbox's test-card table answers this test method's card.
fn test_card_decline(test_method: &str) -> ApiResult<Option<portcullis_connectors::Decline>> {
    let number = test_payment_method_number(test_method)
        .and_then(|number| CardNumber::parse(number).ok())
        .ok_or_else(|| ApiError::internal(&"not a test payment method"))?;
    Ok(portcullis_connectors::network_decline(&number))
}

/// What the acquirer says of a CVC nobody sent: `fail` only for its
/// `incorrect_cvc` decline, else `unavailable` (as `confirm` records it).
fn cvc_check(decline: Option<&portcullis_connectors::Decline>) -> CvcCheck {
    match decline {
        Some(decline) if decline.code == DeclineCode::IncorrectCvc => CvcCheck::Fail,
        _ => CvcCheck::Unavailable,
    }
}

/// The resolved intent's insert, with the rest of the payment's writes.
fn finish(scope: &Scope, resolution: Resolution, mut writes: WriteSet) -> ApiResult<WriteSet> {
    writes.push(records::insert(scope, &resolution.intent)?);
    writes.ops.extend(resolution.writes.ops);
    Ok(writes)
}
