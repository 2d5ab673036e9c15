//! `/v1/refunds`: create, retrieve, update, list, cancel.
//!
//! Phase one reserves the amount on the charge (a version-checked update)
//! and records the refund as pending; only then is the acquirer asked. So
//! the refunds of a charge never sum above what was captured, even when
//! many arrive at once on several instances.

use super::records::{self, load};
use super::recovery::refund_outcome_writes;
use super::render::render_refund;
use super::reviews;
use super::Ctx;
use crate::auth::Caller;
use crate::customer_balance::refunds as balance_refunds;
use crate::error::{ApiError, ApiResult};
use crate::events::{event, Origin};
use crate::idempotency::{self, json_response, Executed};
use crate::lists;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_connectors::{ConnectorError, RefundOutcome};
use portcullis_domain::api_keys::Access;
use portcullis_domain::charges::{Charge, ChargeStatus};
use portcullis_domain::ids::new_id;
use portcullis_domain::metadata::{Metadata, MetadataUpdate};
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_domain::refunds::{Refund, RefundReason, RefundStatus};
use portcullis_store::{ListQuery, Scope, SqlValue, StoreError, Table, WriteSet};
use serde_json::Value;

const RESOURCE: &str = "refunds";

use crate::routes::params::{self as p, Param};

const CREATE: &[Param] = &[
    p::string("payment_intent", 255),
    p::string("charge", 255),
    p::integer("amount"),
    p::one_of(
        "reason",
        &["duplicate", "fraudulent", "requested_by_customer"],
    ),
    p::METADATA,
    p::EXPAND,
];
const LIST: &[Param] = crate::routes::params::list_params![
    expand;
    p::string("payment_intent", 255),
    p::string("charge", 255),
];

pub fn routes() -> Routes {
    Routes::new()
        .post(
            doc(
                "/v1/refunds",
                "Refund a captured charge, wholly or in part",
                "refund",
            )
            .params(CREATE),
            create,
        )
        .get(
            doc("/v1/refunds", "List refunds, newest first", "list").params(LIST),
            list,
        )
        .get(
            doc("/v1/refunds/{id}", "Retrieve a refund", "refund").params(p::EXPAND_ONLY),
            retrieve,
        )
        .post(
            doc("/v1/refunds/{id}", "Update a refund's metadata", "refund")
                .params(&[p::METADATA, p::EXPAND]),
            update,
        )
        .post(
            doc(
                "/v1/refunds/{id}/cancel",
                "Cancel a pending refund",
                "refund",
            )
            .params(p::EXPAND_ONLY),
            cancel,
        )
}

pub(crate) struct CreateRequest {
    pub payment_intent: Option<String>,
    pub charge: Option<String>,
    pub amount: Option<i64>,
    pub reason: Option<RefundReason>,
    pub metadata: Option<MetadataUpdate>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut request: ApiRequest,
) -> Response {
    let parsed = (|| {
        caller.require(RESOURCE, Access::Write)?;
        let params = &mut request.params;
        let create = CreateRequest {
            payment_intent: params.string("payment_intent", 255)?,
            charge: params.string("charge", 255)?,
            amount: params.integer("amount")?,
            reason: match params.string("reason", 30)? {
                Some(text) => Some(RefundReason::parse(&text).ok_or_else(|| {
                    ApiError::invalid(
                        "parameter_invalid",
                        "reason must be duplicate, fraudulent or requested_by_customer.",
                        "reason",
                    )
                })?),
                None => None,
            },
            metadata: params.metadata()?,
        };
        params.expand()?;
        std::mem::take(params).finish()?;
        if create.payment_intent.is_none() && create.charge.is_none() {
            return Err(ApiError::missing_parameter("payment_intent"));
        }
        Metadata::default()
            .updated(create.metadata.as_ref().unwrap_or(&MetadataUpdate::Clear))
            .map_err(|e| ApiError::invalid("parameter_invalid", e.to_string(), e.param()))?;
        Ok::<_, ApiError>(create)
    })();
    let create = match parsed {
        Ok(create) => create,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let origin = Origin::of(&request);
        let ctx = Ctx {
            state: &state,
            scope: &scope,
            origin: &origin,
        };
        refund(&ctx, &create).await
    })
    .await
}

/// The charge a refund request names, directly or through its intent.
async fn charge_of(ctx: &Ctx<'_>, create: &CreateRequest) -> ApiResult<String> {
    if let Some(charge) = &create.charge {
        return Ok(charge.clone());
    }
    let intent_id = create.payment_intent.as_deref().unwrap_or_default();
    let (_, intent) =
        load::<PaymentIntent>(ctx.state, ctx.scope, intent_id, "payment_intent").await?;
    intent.latest_charge.ok_or_else(|| {
        ApiError::invalid(
            "charge_not_refundable",
            format!("PaymentIntent {intent_id} has no successful charge to refund."),
            "payment_intent",
        )
    })
}

/// A refund of a payment from the customer balance, if `create` names one
/// (by its intent: such a payment has no charge).
async fn to_balance(
    ctx: &Ctx<'_>,
    create: &CreateRequest,
    review_closed_as: &str,
) -> ApiResult<Option<Executed>> {
    let (Some(intent_id), None) = (&create.payment_intent, &create.charge) else {
        return Ok(None);
    };
    let _lock = ctx.state.locks.lock(intent_id).await;
    let loaded = load::<PaymentIntent>(ctx.state, ctx.scope, intent_id, "payment_intent").await?;
    if !balance_refunds::paid_from_balance(&loaded.1) {
        return Ok(None);
    }
    let metadata = Metadata::default()
        .updated(create.metadata.as_ref().unwrap_or(&MetadataUpdate::Clear))
        .map_err(|e| ApiError::invalid("parameter_invalid", e.to_string(), e.param()))?;
    let request = balance_refunds::BalanceRefund {
        amount: create.amount,
        reason: create.reason,
        metadata,
    };
    let review = loaded.1.review.clone();
    let mut done = balance_refunds::refund_to_balance(ctx, loaded, request).await?;
    let closed = reviews::close_if_open(ctx, review.as_deref(), review_closed_as).await?;
    done.writes.ops.extend(closed);
    Ok(Some(done))
}

/// Refunds what `create` asks. A refund closes the payment's open review
/// (`refunded`), as Stripe closes it on any refund, whole or partial.
pub(crate) async fn refund(ctx: &Ctx<'_>, create: &CreateRequest) -> ApiResult<Executed> {
    refund_closing_review(ctx, create, reviews::CLOSED_REFUNDED).await
}

/// Refunds what `create` asks, closing the payment's open review for
/// `review_closed_as` in the refund's first write set.
pub(crate) async fn refund_closing_review(
    ctx: &Ctx<'_>,
    create: &CreateRequest,
    review_closed_as: &str,
) -> ApiResult<Executed> {
    if let Some(done) = to_balance(ctx, create, review_closed_as).await? {
        return Ok(done);
    }
    let (state, scope) = (ctx.state, ctx.scope);
    let charge_id = charge_of(ctx, create).await?;
    let _lock = state.locks.lock(&charge_id).await;
    let (charge_doc, mut charge) = load::<Charge>(state, scope, &charge_id, "charge").await?;
    if create
        .payment_intent
        .as_deref()
        .is_some_and(|pi| pi != charge.payment_intent)
    {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "The charge does not belong to that PaymentIntent.",
            "charge",
        ));
    }
    if charge.status != ChargeStatus::Succeeded || !charge.captured {
        return Err(ApiError::invalid(
            "charge_not_refundable",
            "This charge has not been captured; cancel its PaymentIntent to release the funds instead.",
            "charge",
        ));
    }
    let refundable = charge.refundable_minor();
    if refundable <= 0 {
        return Err(ApiError::invalid(
            "charge_already_refunded",
            format!("Charge {charge_id} has already been refunded."),
            "charge",
        ));
    }
    let amount = create.amount.unwrap_or(refundable);
    if amount < 1 || amount > refundable {
        return Err(ApiError::invalid(
            if amount < 1 { "amount_too_small" } else { "amount_too_large" },
            format!("Refund amount must be between 1 and what remains unrefunded on the charge ({refundable})."),
            "amount",
        ));
    }
    let mut refund = Refund {
        id: new_id("re"),
        created: state.now(),
        livemode: scope.livemode,
        amount_minor: amount,
        currency: charge.currency,
        charge: Some(charge.id.clone()),
        payment_intent: charge.payment_intent.clone(),
        customer: charge.customer.clone(),
        payment_method: charge.payment_method.clone(),
        reason: create.reason,
        status: RefundStatus::Pending,
        failure_reason: None,
        metadata: Metadata::default()
            .updated(create.metadata.as_ref().unwrap_or(&MetadataUpdate::Clear))
            .map_err(|e| ApiError::invalid("parameter_invalid", e.to_string(), e.param()))?,
        sent_to_connector: false,
        settled: false,
        balance_transaction: None,
        fee_returned_minor: 0,
        failure_balance_transaction: None,
        wallet: charge.wallet.as_ref().map(|w| w.provider.clone()),
    };
    charge.amount_refunded_minor += amount;
    let mut phase_one = WriteSet::new();
    phase_one
        .ops
        .extend(balance_refunds::withdrawal_writes(ctx, &charge, &refund).await?);
    phase_one.ops.extend(super::ledger_postings::refund(
        ctx,
        &mut charge,
        &mut refund,
    )?);
    phase_one.push(records::update(scope, &charge_doc, &charge)?);
    phase_one.push(records::insert(scope, &refund)?);
    phase_one
        .ops
        .extend(reviews::close_if_open(ctx, charge.review.as_deref(), review_closed_as).await?);
    phase_one.push(event(
        scope,
        "refund.created",
        &render_refund(&refund),
        None,
        ctx.origin,
        state.now(),
    ));
    // The connector is found before anything is written: an account that
    // can no longer be reached refuses the refund, leaving nothing pending.
    let reference = charge.connector_reference.clone().unwrap_or_default();
    let connector = crate::routing::connectors::for_charge(state, scope, &charge).await?;
    state.store.commit(phase_one).await?;

    let answer = tokio::time::timeout(
        state.payments.connector_timeout(),
        connector.refund(&reference, &refund.id, amount),
    )
    .await
    .unwrap_or(Err(ConnectorError::Timeout));
    let outcome = match answer {
        Ok(outcome) => outcome,
        Err(err) if !err.outcome_is_unknown() => RefundOutcome::Failed {
            reason: "declined".to_owned(),
        },
        Err(err) => {
            tracing::warn!(refund = %refund.id, error = %err, "refund outcome unknown; left pending for the recovery worker");
            return Ok(Executed::ok(render_refund(&refund), WriteSet::new()).after_connector_call());
        }
    };
    let settle_by = refund.created + window_s(state);
    let refund_record = load::<Refund>(state, scope, &refund.id, "refund").await?;
    let charge_record = load::<Charge>(state, scope, &charge_id, "charge").await?;
    let before = refund_record.1.status;
    let (refund, mut writes) =
        refund_outcome_writes(ctx, refund_record, charge_record, outcome, settle_by)?;
    writes
        .ops
        .extend(returned_to_wallet(ctx, before, &refund).await?);
    Ok(Executed::ok(render_refund(&refund), writes).after_connector_call())
}

/// A withdrawal's wallet credited back, when this outcome released a
/// refund that was holding its amount (failed or canceled).
async fn returned_to_wallet(
    ctx: &Ctx<'_>,
    before: RefundStatus,
    refund: &Refund,
) -> ApiResult<Vec<portcullis_store::WriteOp>> {
    if refund.status.releases_amount() && !before.releases_amount() {
        balance_refunds::withdrawal_returned_writes(ctx, refund).await
    } else {
        Ok(vec![])
    }
}

fn window_s(state: &AppState) -> i64 {
    (state.payments.refund_settle_window_ms / 1000) as i64
}

/// Asks the acquirer where an unsettled refund stands and records it.
pub async fn settle(
    state: &AppState,
    scope: &Scope,
    charge_id: &str,
    refund_id: &str,
) -> ApiResult<()> {
    let _lock = state.locks.lock(charge_id).await;
    let (refund_doc, refund) = load::<Refund>(state, scope, refund_id, "refund").await?;
    if refund.settled || refund.status == RefundStatus::Canceled {
        return Ok(());
    }
    let stale_before = state.now() - (state.payments.attempt_stale_ms / 1000) as i64;
    if !refund.sent_to_connector && refund.created > stale_before {
        // Its request may still be waiting for the acquirer's answer.
        return Ok(());
    }
    let charge_record = load::<Charge>(state, scope, charge_id, "charge").await?;
    let outcome = match ask_connector(state, scope, &charge_record.1, &refund).await {
        Err(err) if err.code == Some(ACCOUNT_DELETED) => {
            tracing::warn!(refund = %refund.id, charge = %charge_id, "the connector account of this refund's charge was deleted with its credentials: the refund is marked failed (connector_account_deleted) and its amount released; check at the institution whether it was refunded");
            RefundOutcome::Failed {
                reason: ACCOUNT_DELETED.to_owned(),
            }
        }
        answer => answer?,
    };
    let origin = Origin::default();
    let ctx = Ctx {
        state,
        scope,
        origin: &origin,
    };
    let settle_by = refund.created + window_s(state);
    let before = refund.status;
    let (refund, mut writes) = refund_outcome_writes(
        &ctx,
        (refund_doc, refund),
        charge_record,
        outcome,
        settle_by,
    )?;
    writes
        .ops
        .extend(returned_to_wallet(&ctx, before, &refund).await?);
    Ok(state.store.commit(writes).await?)
}

/// The `code` of the error, and the `failure_reason` of a refund that
/// recovery can no longer settle: its connector account was deleted with
/// its credentials, so the institution cannot be asked.
const ACCOUNT_DELETED: &str = "connector_account_deleted";

/// What the acquirer says of an unsettled refund (asking for it again
/// when it was never known to be sent).
async fn ask_connector(
    state: &AppState,
    scope: &Scope,
    charge: &Charge,
    refund: &Refund,
) -> ApiResult<RefundOutcome> {
    let connector = crate::routing::connectors::for_charge(state, scope, charge).await?;
    let answer = if refund.sent_to_connector {
        connector.refund_status(&refund.id).await
    } else {
        // Phase one committed but the answer was lost: asking again is
        // safe, the acquirer refunds once per refund id.
        let reference = charge.connector_reference.as_deref().unwrap_or_default();
        connector
            .refund(reference, &refund.id, refund.amount_minor)
            .await
    };
    answer.map_err(|e| ApiError::unavailable(&e))
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        request.params.expand()?;
        std::mem::take(&mut request.params).finish()?;
        let (_, refund) = load::<Refund>(&state, &caller.scope(), &id, "id").await?;
        Ok(render_refund(&refund))
    };
    answer(result.await)
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = (|| {
        caller.require(RESOURCE, Access::Write)?;
        let metadata = request.params.metadata()?;
        request.params.expand()?;
        std::mem::take(&mut request.params).finish()?;
        Ok::<_, ApiError>(metadata)
    })();
    let metadata = match parsed {
        Ok(metadata) => metadata,
        Err(err) => return err.into_response(),
    };
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let (doc, mut refund) = load::<Refund>(&state, &scope, &id, "id").await?;
        if let Some(update) = &metadata {
            refund.metadata = refund
                .metadata
                .updated(update)
                .map_err(|e| ApiError::invalid("parameter_invalid", e.to_string(), e.param()))?;
        }
        let mut writes = WriteSet::new();
        writes.push(records::update(&scope, &doc, &refund)?);
        writes.push(event(
            &scope,
            "refund.updated",
            &render_refund(&refund),
            None,
            &Origin::of(&request),
            state.now(),
        ));
        Ok(Executed::ok(render_refund(&refund), writes))
    })
    .await
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let parsed = caller.require(RESOURCE, Access::Write).and_then(|()| {
        request.params.expand()?;
        std::mem::take(&mut request.params).finish()
    });
    if let Err(err) = parsed {
        return err.into_response();
    }
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let (_, found) = load::<Refund>(&state, &scope, &id, "id").await?;
        // A refund to the customer balance has no charge; it is never
        // pending, so it is refused below before any charge is read.
        let lock_key = found.charge.as_deref().unwrap_or(&found.payment_intent);
        let _lock = state.locks.lock(lock_key).await;
        let (refund_doc, mut refund) = load::<Refund>(&state, &scope, &id, "id").await?;
        if refund.status != RefundStatus::Pending {
            return Err(ApiError::invalid(
                "refund_not_cancelable",
                format!(
                    "Only pending refunds can be canceled; this one is {}.",
                    refund.status.as_str()
                ),
                "id",
            ));
        }
        let charge_id = refund.charge.clone().unwrap_or_default();
        let (_, charge) = load::<Charge>(&state, &scope, &charge_id, "charge").await?;
        let canceled = crate::routing::connectors::for_charge(&state, &scope, &charge)
            .await?
            .cancel_refund(&refund.id)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        if !canceled {
            return Err(ApiError::invalid(
                "refund_not_cancelable",
                "The acquirer has already settled this refund.",
                "id",
            ));
        }
        let (charge_doc, mut charge) = load::<Charge>(&state, &scope, &charge_id, "charge").await?;
        charge.amount_refunded_minor -= refund.amount_minor;
        refund.status = RefundStatus::Canceled;
        refund.settled = true;
        let origin = Origin::of(&request);
        let ctx = Ctx {
            state: &state,
            scope: &scope,
            origin: &origin,
        };
        let mut writes = WriteSet::new();
        writes.ops.extend(super::ledger_postings::refund_failure(
            &ctx,
            &mut charge,
            &mut refund,
        )?);
        writes
            .ops
            .extend(balance_refunds::withdrawal_returned_writes(&ctx, &refund).await?);
        writes.push(records::update(&scope, &charge_doc, &charge)?);
        writes.push(records::update(&scope, &refund_doc, &refund)?);
        writes.push(event(
            &scope,
            "refund.updated",
            &render_refund(&refund),
            None,
            &Origin::of(&request),
            state.now(),
        ));
        Ok(Executed::ok(render_refund(&refund), writes).after_connector_call())
    })
    .await
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let params = &mut request.params;
        let mut filters = vec![];
        if let Some(intent) = params.string("payment_intent", 255)? {
            filters.push(("payment_intent", SqlValue::Text(intent)));
        }
        if let Some(charge) = params.string("charge", 255)? {
            filters.push(("charge", SqlValue::Text(charge)));
        }
        let query = ListQuery {
            scope: caller.scope(),
            filters,
            one_of: vec![],
            created: lists::created(params)?,
            cursor: lists::cursor(params)?,
            limit: lists::limit(params)?,
        };
        params.expand()?;
        std::mem::take(params).finish()?;
        let page = state
            .store
            .list(Table::Refunds, &query)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => lists::cursor_not_found("refund", &query.cursor),
                other => other.into(),
            })?;
        let data = records::decode_all::<Refund>(&page.docs)?
            .iter()
            .map(render_refund)
            .collect();
        Ok(lists::list_object("/v1/refunds", data, page.has_more))
    };
    answer(result.await)
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}
