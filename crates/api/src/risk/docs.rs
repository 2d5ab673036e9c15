//! Reading and writing the risk resources' documents, and answering
//! read-only requests.

use crate::error::{ApiError, ApiResult};
use crate::idempotency::json_response;
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_store::{Doc, Scope, SqlValue, Table, WriteOp};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn body_of<T: Serialize>(record: &T) -> ApiResult<String> {
    serde_json::to_string(record).map_err(|e| ApiError::internal(&e))
}

pub fn decode<T: DeserializeOwned>(doc: &Doc) -> ApiResult<T> {
    serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))
}

/// The document and record `id` of `table`, or `None`.
pub async fn find<T: DeserializeOwned>(
    state: &AppState,
    table: Table,
    scope: &Scope,
    id: &str,
) -> ApiResult<Option<(Doc, T)>> {
    match state.store.get(table, scope, id).await? {
        Some(doc) => {
            let record = decode(&doc)?;
            Ok(Some((doc, record)))
        }
        None => Ok(None),
    }
}

/// Where a new document goes and what it indexes.
pub struct NewDoc<'a> {
    pub table: Table,
    pub scope: &'a Scope,
    pub id: &'a str,
    pub created: i64,
    pub columns: Vec<(&'static str, SqlValue)>,
}

pub fn insert<T: Serialize>(at: NewDoc<'_>, record: &T) -> ApiResult<WriteOp> {
    Ok(WriteOp::Insert {
        table: at.table,
        scope: at.scope.clone(),
        id: at.id.to_owned(),
        created: at.created,
        columns: at.columns,
        body: body_of(record)?,
    })
}

/// Replaces `doc` (read at its version) with `record`.
pub fn update<T: Serialize>(
    table: Table,
    scope: &Scope,
    doc: &Doc,
    columns: Vec<(&'static str, SqlValue)>,
    record: &T,
) -> ApiResult<WriteOp> {
    Ok(WriteOp::Update {
        table,
        scope: scope.clone(),
        id: doc.id.clone(),
        expected_version: doc.version,
        columns,
        body: body_of(record)?,
    })
}

pub fn answer(result: ApiResult<Value>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body.to_string()),
        Err(err) => err.into_response(),
    }
}
