//! Events: every state change writes an `evt_…` row in the same write set
//! as the change itself, holding the object as it was then (and, for
//! updates, the attributes it had before). Webhook delivery reads them.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::lists;
use crate::routes::{doc, Routes};
use crate::state::AppState;
use crate::wire::ApiRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_domain::api_keys::Access;
use portcullis_domain::customers::Patch;
use portcullis_domain::ids::new_id;
use portcullis_domain::webhooks::EVENT_TYPE_CHARS_MAX;
use portcullis_store::{ListQuery, SqlValue, StoreError, Table, WriteOp};
use serde_json::{Map, Value};

/// The API version stamped on events.
pub const API_VERSION: &str = "2026-10-28.portcullis";

/// Who caused an event: the request's id and idempotency key, if any
/// (serialized as the event's `request`).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Origin {
    #[serde(rename = "id")]
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
}

impl Origin {
    pub fn of(request: &ApiRequest) -> Self {
        Self {
            request_id: request.request_id.clone(),
            idempotency_key: request.idempotency_key.clone(),
        }
    }
}

/// An event as stored and delivered, serialized straight from borrowed
/// parts: the object is written once, never cloned into a new `Value`
/// tree (three events per payment made that clone a hot spot).
#[derive(serde::Serialize)]
struct EventBody<'a, O: serde::Serialize + ?Sized> {
    id: &'a str,
    object: &'static str,
    api_version: &'static str,
    created: i64,
    data: EventData<'a, O>,
    livemode: bool,
    pending_webhooks: u32,
    request: &'a Origin,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(serde::Serialize)]
struct EventData<'a, O: serde::Serialize + ?Sized> {
    object: &'a O,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_attributes: Option<Value>,
}

/// The write that records an event of `kind` about `object`.
pub fn event<O: serde::Serialize + ?Sized>(
    caller_scope: &portcullis_store::Scope,
    kind: &str,
    object: &O,
    previous: Option<Value>,
    origin: &Origin,
    created: i64,
) -> WriteOp {
    let id = new_id("evt");
    let body = EventBody {
        id: &id,
        object: "event",
        api_version: API_VERSION,
        created,
        data: EventData {
            object,
            previous_attributes: previous,
        },
        livemode: caller_scope.livemode,
        pending_webhooks: 0,
        request: origin,
        kind,
    };
    let body = crate::stored_json::to_string_sized(&body, crate::stored_json::EVENT_BYTES_INITIAL)
        .expect("an event serializes");
    WriteOp::Insert {
        table: Table::Events,
        scope: caller_scope.clone(),
        id,
        created,
        columns: vec![("event_type", SqlValue::Text(kind.to_owned()))],
        body,
    }
}

/// The top-level attributes of `before` that differ in `after`, with
/// their old values: `data.previous_attributes` of an update event.
pub fn previous_attributes(before: &Value, after: &Value) -> Option<Value> {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return None;
    };
    let changed: Map<String, Value> = before
        .iter()
        .filter(|(key, value)| after.get(*key) != Some(*value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    (!changed.is_empty()).then_some(Value::Object(changed))
}

use crate::routes::params::{self as p, Param};

const LIST: &[Param] =
    crate::routes::params::list_params![p::string("type", EVENT_TYPE_CHARS_MAX), p::list("types"),];

pub fn routes() -> Routes {
    Routes::new()
        .get(
            doc("/v1/events", "List events, newest first", "list").params(LIST),
            list,
        )
        .get(
            doc("/v1/events/{id}", "Retrieve an event", "event").params(p::NONE),
            retrieve,
        )
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: ApiRequest,
) -> Response {
    let result = async {
        caller.require("events", Access::Read)?;
        request.params.finish()?;
        let doc = state.store.get(Table::Events, &caller.scope(), &id).await?;
        let doc = doc.ok_or_else(|| ApiError::no_such("event", &id, "id"))?;
        Ok(doc.body)
    };
    match result.await {
        Ok(body) => crate::idempotency::json_response(StatusCode::OK, body),
        Err::<_, ApiError>(err) => err.into_response(),
    }
}

async fn list(State(state): State<AppState>, caller: Caller, mut request: ApiRequest) -> Response {
    let result: ApiResult<Value> = async {
        caller.require("events", Access::Read)?;
        let params = &mut request.params;
        let mut filters = vec![];
        if let Some(kind) = params.string("type", EVENT_TYPE_CHARS_MAX)? {
            filters.push(("event_type", SqlValue::Text(kind)));
        }
        let mut one_of = vec![];
        if let Patch::Set(kinds) = params.patch_string_list("types", EVENT_TYPE_CHARS_MAX)? {
            let kinds = kinds.into_iter().map(SqlValue::Text).collect();
            one_of.push(("event_type", kinds));
        }
        let query = ListQuery {
            scope: caller.scope(),
            filters,
            one_of,
            created: lists::created(params)?,
            cursor: lists::cursor(params)?,
            limit: lists::limit(params)?,
        };
        std::mem::take(params).finish()?;
        let page = state
            .store
            .list(Table::Events, &query)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => lists::cursor_not_found("event", &query.cursor),
                other => other.into(),
            })?;
        let data = page
            .docs
            .iter()
            .map(|doc| serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e)))
            .collect::<ApiResult<Vec<Value>>>()?;
        Ok(lists::list_object("/v1/events", data, page.has_more))
    }
    .await;
    match result {
        Ok(body) => crate::idempotency::json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::ids::MerchantId;

    fn body_of(op: WriteOp) -> (String, String) {
        match op {
            WriteOp::Insert { id, body, .. } => (id, body),
            other => panic!("an event is an insert: {other:?}"),
        }
    }

    #[test]
    fn an_event_has_the_documented_fields_in_order_with_the_object_as_given() {
        let scope = portcullis_store::Scope {
            merchant_id: MerchantId::generate(),
            livemode: false,
        };
        let object = serde_json::json!({"id": "pi_1", "object": "payment_intent", "amount": 100});
        let origin = Origin {
            request_id: Some("req_1".into()),
            idempotency_key: None,
        };
        let previous = Some(serde_json::json!({"status": "processing"}));
        let (id, body) = body_of(event(
            &scope,
            "payment_intent.succeeded",
            &object,
            previous,
            &origin,
            7,
        ));
        let expected = format!(
            "{{\"id\":\"{id}\",\"object\":\"event\",\"api_version\":\"{API_VERSION}\",\"created\":7,\
             \"data\":{{\"object\":{{\"id\":\"pi_1\",\"object\":\"payment_intent\",\"amount\":100}},\
             \"previous_attributes\":{{\"status\":\"processing\"}}}},\"livemode\":false,\
             \"pending_webhooks\":0,\"request\":{{\"id\":\"req_1\",\"idempotency_key\":null}},\
             \"type\":\"payment_intent.succeeded\"}}"
        );
        assert_eq!(body, expected);
        let (_, created) = body_of(event(&scope, "customer.created", &object, None, &origin, 7));
        let created: Value = serde_json::from_str(&created).unwrap();
        assert!(created["data"].get("previous_attributes").is_none());
    }
}
