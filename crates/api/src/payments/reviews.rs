//! `/v1/reviews`: the queue of payments a `review` rule let through for
//! a person to look at. A review opens with its charge (in the same write
//! set, with `review.opened`), and closes (with `review.closed`, as Stripe
//! sends it) by approval, by refunding the charge as fraudulent, or as
//! Stripe closes it on its own: when its payment is refunded (wholly or in
//! part, `refunded`) or disputed (`disputed`), in the same write set.

use super::records::load;
use super::refunds::{refund_closing_review, CreateRequest};
use super::Ctx;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::events::Origin;
use crate::idempotency::{self, json_response, Executed};
use crate::lists;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::charges::Charge;
use portcullis_domain::ids::new_id;
use portcullis_domain::refunds::RefundReason;
use portcullis_store::{Doc, ListQuery, Scope, SqlValue, StoreError, Table, WriteOp, WriteSet};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const RESOURCE: &str = "reviews";
const URL: &str = "/v1/reviews";

use crate::routes::params::{self as p, Param};

const LIST: &[Param] = crate::routes::params::list_params![p::boolean("open"),];

pub fn routes() -> Routes {
    Routes::new()
        .get(doc(URL, "List reviews", "list").params(LIST), list)
        .get(
            doc("/v1/reviews/{id}", "Retrieve a review", "review").params(p::NONE),
            retrieve,
        )
        .post(
            doc(
                "/v1/reviews/{id}/approve",
                "Approve a payment in review",
                "review",
            )
            .params(p::NONE),
            approve,
        )
        .post(
            doc(
                "/v1/reviews/{id}/refund_and_close",
                "Refund a payment in review and close the review",
                "review",
            )
            .params(p::NONE),
            refund_and_close,
        )
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Review {
    id: String,
    created: i64,
    livemode: bool,
    /// `None` for a payment from the customer balance, which has no charge.
    charge: Option<String>,
    payment_intent: String,
    /// The rule that opened it.
    rule: Option<String>,
    open: bool,
    /// `approved`, `refunded_as_fraud`, `refunded` or `disputed` once closed.
    closed_reason: Option<String>,
}

fn render(review: &Review) -> Value {
    json!({
        "id": review.id, "object": "review", "charge": review.charge,
        "payment_intent": review.payment_intent, "created": review.created,
        "livemode": review.livemode, "open": review.open, "opened_reason": "rule",
        "reason": review.closed_reason.as_deref().unwrap_or("rule"),
        "closed_reason": review.closed_reason, "rule": review.rule,
    })
}

fn columns(review: &Review) -> Vec<(&'static str, SqlValue)> {
    vec![
        ("is_open", SqlValue::Bool(review.open)),
        (
            "payment_intent",
            SqlValue::Text(review.payment_intent.clone()),
        ),
        ("charge", review.charge.as_deref().into()),
    ]
}

fn body(review: &Review) -> ApiResult<String> {
    serde_json::to_string(review).map_err(|e| ApiError::internal(&e))
}

/// Why a review closed when its payment was refunded.
pub const CLOSED_REFUNDED: &str = "refunded";
/// Why a review closed by `/refund_and_close`.
const REFUNDED_AS_FRAUD: &str = "refunded_as_fraud";
/// Why a review closed when its charge was disputed.
const CLOSED_DISPUTED: &str = "disputed";

/// Opens a review of `charge`: its id, and the writes that store it and
/// emit `review.opened`. A charge disputed as it is made (the sandbox's
/// disputed card) has its review closed at once (`disputed`), as Stripe
/// closes the review of a disputed charge.
pub fn open(ctx: &Ctx<'_>, charge: &Charge) -> ApiResult<(String, Vec<WriteOp>)> {
    let rule = charge.outcome.rule.clone();
    let closed_as = charge.disputed.then_some(CLOSED_DISPUTED);
    open_of(
        ctx,
        &charge.payment_intent,
        Some(&charge.id),
        rule,
        closed_as,
    )
}

/// The writes that close `charge`'s review as `disputed`, if it has one
/// still open.
pub async fn close_disputed(ctx: &Ctx<'_>, charge: &Charge) -> ApiResult<Vec<WriteOp>> {
    close_if_open(ctx, charge.review.as_deref(), CLOSED_DISPUTED).await
}

/// The writes that close review `id` for `reason`, if there is one and it
/// is still open (nothing otherwise).
pub(crate) async fn close_if_open(
    ctx: &Ctx<'_>,
    id: Option<&str>,
    reason: &str,
) -> ApiResult<Vec<WriteOp>> {
    let Some(id) = id else { return Ok(vec![]) };
    if !load_review(ctx.state, ctx.scope, id).await?.1.open {
        return Ok(vec![]);
    }
    Ok(close(ctx, id, reason).await?.1)
}

/// Opens a review of a payment from the customer balance (`intent_id`,
/// no charge) that `rule` let through.
pub fn open_for_balance_payment(
    ctx: &Ctx<'_>,
    intent_id: &str,
    rule: Option<String>,
) -> ApiResult<(String, Vec<WriteOp>)> {
    open_of(ctx, intent_id, None, rule, None)
}

fn open_of(
    ctx: &Ctx<'_>,
    intent_id: &str,
    charge: Option<&str>,
    rule: Option<String>,
    closed_as: Option<&str>,
) -> ApiResult<(String, Vec<WriteOp>)> {
    let mut review = Review {
        id: new_id("prv"),
        created: ctx.state.now(),
        livemode: ctx.scope.livemode,
        charge: charge.map(str::to_owned),
        payment_intent: intent_id.to_owned(),
        rule,
        open: true,
        closed_reason: None,
    };
    let opened = crate::events::event(
        ctx.scope,
        "review.opened",
        &render(&review),
        None,
        ctx.origin,
        review.created,
    );
    let mut ops = vec![opened];
    if let Some(reason) = closed_as {
        review.open = false;
        review.closed_reason = Some(reason.to_owned());
        ops.push(closed_event(ctx, &review));
    }
    let op = WriteOp::Insert {
        table: Table::Reviews,
        scope: ctx.scope.clone(),
        id: review.id.clone(),
        created: review.created,
        columns: columns(&review),
        body: body(&review)?,
    };
    ops.insert(0, op);
    Ok((review.id, ops))
}

async fn load_review(state: &AppState, scope: &Scope, id: &str) -> ApiResult<(Doc, Review)> {
    let doc = state
        .store
        .get(Table::Reviews, scope, id)
        .await?
        .ok_or_else(|| ApiError::no_such("review", id, "id"))?;
    let review = serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?;
    Ok((doc, review))
}

/// The open review `id`, closed for `reason`, and the writes that store
/// it and emit `review.closed`.
async fn close(ctx: &Ctx<'_>, id: &str, reason: &str) -> ApiResult<(Review, Vec<WriteOp>)> {
    let scope = ctx.scope;
    let (doc, mut review) = load_review(ctx.state, scope, id).await?;
    if !review.open {
        return Err(ApiError::invalid(
            "review_already_closed",
            format!("Review {id} is already closed."),
            "id",
        ));
    }
    review.open = false;
    review.closed_reason = Some(reason.to_owned());
    let op = WriteOp::Update {
        table: Table::Reviews,
        scope: scope.clone(),
        id: review.id.clone(),
        expected_version: doc.version,
        columns: columns(&review),
        body: body(&review)?,
    };
    let closed = closed_event(ctx, &review);
    Ok((review, vec![op, closed]))
}

fn closed_event(ctx: &Ctx<'_>, review: &Review) -> WriteOp {
    crate::events::event(
        ctx.scope,
        "review.closed",
        &render(review),
        None,
        ctx.origin,
        ctx.state.now(),
    )
}

fn no_params(caller: &Caller, request: &mut ApiRequest) -> ApiResult<()> {
    caller.require(RESOURCE, Access::Write)?;
    std::mem::take(&mut request.params).finish()
}

async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    if let Err(err) = no_params(&caller, &mut request) {
        return err.into_response();
    }
    idempotency::respond(&state, &caller, &request, || async {
        let origin = Origin::of(&request);
        let ctx = Ctx {
            state: &state,
            scope: &caller.scope(),
            origin: &origin,
        };
        approve_review(&ctx, &id).await
    })
    .await
}

/// Closes the open review `id` as approved (the API's and the dashboard's).
pub(crate) async fn approve_review(ctx: &Ctx<'_>, id: &str) -> ApiResult<Executed> {
    let (review, ops) = close(ctx, id, "approved").await?;
    Ok(Executed::ok(render(&review), WriteSet { ops }))
}

/// Refunds the whole charge as fraudulent, then closes the review.
async fn refund_and_close(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    if let Err(err) = no_params(&caller, &mut request) {
        return err.into_response();
    }
    idempotency::respond(&state, &caller, &request, || async {
        let scope = caller.scope();
        let origin = Origin::of(&request);
        let ctx = Ctx {
            state: &state,
            scope: &scope,
            origin: &origin,
        };
        let (_, mut review) = load_review(&state, &scope, &id).await?;
        if !review.open {
            return Err(ApiError::invalid(
                "review_already_closed",
                format!("Review {id} is already closed."),
                "id",
            ));
        }
        // A payment from the balance is refunded by its intent.
        let (payment_intent, charge) = match &review.charge {
            Some(id) => (
                None,
                Some(load::<Charge>(&state, &scope, id, "charge").await?.1.id),
            ),
            None => (Some(review.payment_intent.clone()), None),
        };
        let create = CreateRequest {
            payment_intent,
            charge,
            amount: None,
            reason: Some(RefundReason::Fraudulent),
            metadata: None,
        };
        // The refund closes the review in its own write set.
        let mut done = refund_closing_review(&ctx, &create, REFUNDED_AS_FRAUD).await?;
        review.open = false;
        review.closed_reason = Some(REFUNDED_AS_FRAUD.to_owned());
        let mut body = render(&review);
        body["refund"] = done.body.into_tree()?;
        done.body = body.into();
        Ok(done)
    })
    .await
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        std::mem::take(&mut request.params).finish()?;
        Ok(render(&load_review(&state, &caller.scope(), &id).await?.1))
    };
    answer(result.await)
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let params = &mut request.params;
        let mut filters = vec![];
        if let Some(open) = params.boolean("open")? {
            filters.push(("is_open", SqlValue::Bool(open)));
        }
        let query = ListQuery {
            scope: caller.scope(),
            filters,
            one_of: vec![],
            created: lists::created(params)?,
            cursor: lists::cursor(params)?,
            limit: lists::limit(params)?,
        };
        std::mem::take(params).finish()?;
        let page = state
            .store
            .list(Table::Reviews, &query)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => lists::cursor_not_found("review", &query.cursor),
                other => other.into(),
            })?;
        let mut data = Vec::with_capacity(page.docs.len());
        for doc in &page.docs {
            let review: Review =
                serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?;
            data.push(render(&review));
        }
        Ok(lists::list_object(URL, data, page.has_more))
    };
    answer(result.await)
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}
