//! The delivery log and manual redelivery:
//! `GET /v1/events/{id}/deliveries`, `GET /v1/webhook_endpoints/{id}/deliveries`
//! (both with each delivery's latest attempts) and `POST /v1/events/{id}/redeliver`
//! (optionally `webhook_endpoint=we_…`). Portcullis additions, shaped as lists.

use super::endpoints::{load_live, RESOURCE};
use super::worker::now_ms;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::json_response;
use crate::lists;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_store::{
    AttemptLog, DeliveryFilter, DeliveryPage, DeliveryRecord, Doc, Redelivery, Scope, Table,
    WriteOp, DELIVERY_PAGE_MAX,
};
use serde_json::{json, Value};

/// Most attempts shown per delivery (the newest).
const ATTEMPTS_SHOWN_MAX: usize = 20;

use crate::routes::params::{self as p, Param};

const OF_ENDPOINT: &[Param] = &[p::integer("limit"), p::string("starting_after", 255)];

const REDELIVER: &[Param] = &[p::string("webhook_endpoint", 255)];

pub fn routes() -> Routes {
    Routes::new()
        .get(
            doc(
                "/v1/events/{id}/deliveries",
                "List an event's webhook deliveries and their attempts",
                "list",
            )
            .params(p::NONE),
            of_event,
        )
        .post(
            doc(
                "/v1/events/{id}/redeliver",
                "Deliver an event again to its endpoints",
                "redelivery",
            )
            .params(REDELIVER),
            redeliver,
        )
        .get(
            doc(
                "/v1/webhook_endpoints/{id}/deliveries",
                "List an endpoint's deliveries and their attempts",
                "list",
            )
            .params(OF_ENDPOINT),
            of_endpoint,
        )
}

async fn of_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        request.params.finish()?;
        load_event(&state, &caller.scope(), &id).await?;
        let filter = DeliveryFilter::Event(id.clone());
        let page = state
            .store
            .list_deliveries(&caller.scope(), &filter, DELIVERY_PAGE_MAX)
            .await?;
        rendered_page(&state, &format!("/v1/events/{id}/deliveries"), page).await
    };
    answer(result.await)
}

async fn of_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Read)?;
        let limit = lists::limit(&mut request.params)?;
        let starting_after = request.params.string("starting_after", 255)?;
        std::mem::take(&mut request.params).finish()?;
        load_live(&state, &caller.scope(), &id).await?;
        let filter = DeliveryFilter::Endpoint {
            endpoint_id: id.clone(),
            starting_after,
        };
        let page = state
            .store
            .list_deliveries(&caller.scope(), &filter, limit)
            .await?;
        rendered_page(
            &state,
            &format!("/v1/webhook_endpoints/{id}/deliveries"),
            page,
        )
        .await
    };
    answer(result.await)
}

/// Not idempotent by key: scheduling a delivery again twice has the same
/// effect as once (at most one more attempt per endpoint is due).
async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Response {
    let result = async {
        caller.require(RESOURCE, Access::Write)?;
        let endpoint_id = request.params.string("webhook_endpoint", 255)?;
        std::mem::take(&mut request.params).finish()?;
        redeliver_event(&state, &caller.scope(), &id, endpoint_id).await
    };
    answer(result.await)
}

/// Makes the event's deliveries (or one endpoint's) due now: the API's
/// redeliver and the dashboard's resend.
/// The write that makes every delivery of event `id` due again, for a
/// caller that commits it together with its own writes (the dashboard's
/// resend and its audit record); a 404 if the scope has no such event.
pub(crate) async fn redelivery_of_event(
    state: &AppState,
    scope: &Scope,
    id: &str,
) -> ApiResult<WriteOp> {
    load_event(state, scope, id).await?;
    Ok(WriteOp::Redeliver {
        scope: scope.clone(),
        event_id: id.to_owned(),
        one: None,
        now_ms: now_ms(),
    })
}

pub(crate) async fn redeliver_event(
    state: &AppState,
    scope: &Scope,
    id: &str,
    endpoint_id: Option<String>,
) -> ApiResult<Value> {
    let (state, scope) = (state, scope);
    {
        let event = load_event(state, scope, id).await?;
        let one = match &endpoint_id {
            None => None,
            Some(endpoint_id) => {
                load_live(state, scope, endpoint_id).await?;
                Some(Redelivery {
                    endpoint_id: endpoint_id.clone(),
                    event_type: event_type_of(&event)?,
                    created_ms: event.created * 1000,
                })
            }
        };
        let scheduled = state
            .store
            .redeliver(scope, id, one.as_ref(), now_ms())
            .await?;
        Ok(
            json!({ "object": "redelivery", "event": id, "webhook_endpoint": endpoint_id, "scheduled": scheduled }),
        )
    }
}

fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}

async fn load_event(state: &AppState, scope: &Scope, id: &str) -> ApiResult<Doc> {
    let doc = state.store.get(Table::Events, scope, id).await?;
    doc.ok_or_else(|| ApiError::no_such("event", id, "id"))
}

fn event_type_of(event: &Doc) -> ApiResult<String> {
    let body: Value = serde_json::from_str(&event.body).map_err(|e| ApiError::internal(&e))?;
    body["type"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ApiError::internal(&"an event without a type"))
}

async fn rendered_page(state: &AppState, url: &str, page: DeliveryPage) -> ApiResult<Value> {
    let mut data = Vec::with_capacity(page.deliveries.len());
    for delivery in &page.deliveries {
        let attempts = state
            .store
            .delivery_attempts(&delivery.key, ATTEMPTS_SHOWN_MAX)
            .await?;
        data.push(render(delivery, &attempts));
    }
    Ok(lists::list_object(url, data, page.has_more))
}

fn render(d: &DeliveryRecord, attempts: &[AttemptLog]) -> Value {
    let attempts: Vec<Value> = attempts
        .iter()
        .map(|a| {
            json!({
                "attempt": a.attempt,
                "started_at_ms": a.started_at_ms,
                "latency_ms": a.latency_ms,
                "status_code": a.status_code,
                "error": a.error,
                "next_retry_at_ms": a.next_retry_at_ms,
            })
        })
        .collect();
    json!({
        "object": "webhook_delivery",
        "event": d.key.event_id,
        "webhook_endpoint": d.key.endpoint_id,
        "event_type": d.event_type,
        "created": d.created_ms / 1000,
        "status": d.state.as_str(),
        "attempt_count": d.attempts,
        "next_attempt_at_ms": d.next_attempt_at_ms,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "attempts": attempts,
    })
}
