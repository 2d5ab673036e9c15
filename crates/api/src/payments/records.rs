//! Reading and writing payment documents: one generic load, insert and
//! update, and each record's indexed columns in one place.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use portcullis_domain::charges::Charge;
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_domain::refunds::Refund;
use portcullis_store::{Doc, ScanOp, ScanQuery, Scope, SqlValue, Table, WriteOp};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A document type with its table and indexed columns.
pub trait Record: Serialize + DeserializeOwned {
    const TABLE: Table;
    /// The object name in "No such …" errors.
    const OBJECT: &'static str;
    fn id(&self) -> &str;
    fn created(&self) -> i64;
    fn columns(&self) -> Vec<(&'static str, SqlValue)>;
}

impl Record for PaymentIntent {
    const TABLE: Table = Table::PaymentIntents;
    const OBJECT: &'static str = "payment_intent";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn columns(&self) -> Vec<(&'static str, SqlValue)> {
        vec![
            ("customer", self.customer.as_deref().into()),
            ("status", SqlValue::Text(self.status.as_str().to_owned())),
            (
                "wallet_expires_at",
                match self.waiting_wallet_trade() {
                    Some(trade) => SqlValue::Integer(trade.expires_at),
                    None => SqlValue::Null,
                },
            ),
            (
                "step_up_expires_at",
                match self.waiting_balance_step_up() {
                    Some(wait) => SqlValue::Integer(wait.expires_at),
                    None => SqlValue::Null,
                },
            ),
            // For the dashboard's filters, applied in the query.
            ("amount", SqlValue::Integer(self.amount.minor())),
            (
                "method_types",
                SqlValue::Text(method_types_column(&self.payment_method_types)),
            ),
            ("search_text", SqlValue::Text(search_text_column(self))),
        ]
    }
}

/// `,card,alipay,`: each type between commas, so `LIKE '%,card,%'`
/// matches one type exactly (no type name holds a comma).
pub fn method_types_column(types: &[String]) -> String {
    format!(",{},", types.join(","))
}

/// What the dashboard's text box searches: the description and the
/// receipt email, lowercased.
fn search_text_column(intent: &PaymentIntent) -> String {
    let parts = [&intent.description, &intent.receipt_email];
    let words: Vec<&str> = parts.iter().filter_map(|p| p.as_deref()).collect();
    words.join(" ").to_lowercase()
}

impl Record for Charge {
    const TABLE: Table = Table::Charges;
    const OBJECT: &'static str = "charge";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn columns(&self) -> Vec<(&'static str, SqlValue)> {
        vec![
            (
                "payment_intent",
                SqlValue::Text(self.payment_intent.clone()),
            ),
            ("customer", self.customer.as_deref().into()),
        ]
    }
}

impl Record for Refund {
    const TABLE: Table = Table::Refunds;
    const OBJECT: &'static str = "refund";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn columns(&self) -> Vec<(&'static str, SqlValue)> {
        vec![
            (
                "payment_intent",
                SqlValue::Text(self.payment_intent.clone()),
            ),
            ("charge", self.charge.as_deref().into()),
            ("status", SqlValue::Text(self.status.as_str().to_owned())),
            ("settled", SqlValue::Bool(self.settled)),
        ]
    }
}

fn body_of<T: Serialize>(record: &T) -> ApiResult<String> {
    crate::stored_json::to_string_sized(record, crate::stored_json::RECORD_BYTES_INITIAL)
        .map_err(|e| ApiError::internal(&e))
}

pub fn insert<T: Record>(scope: &Scope, record: &T) -> ApiResult<WriteOp> {
    Ok(WriteOp::Insert {
        table: T::TABLE,
        scope: scope.clone(),
        id: record.id().to_owned(),
        created: record.created(),
        columns: record.columns(),
        body: body_of(record)?,
    })
}

/// Replaces the record read at `doc.version`.
pub fn update<T: Record>(scope: &Scope, doc: &Doc, record: &T) -> ApiResult<WriteOp> {
    Ok(WriteOp::Update {
        table: T::TABLE,
        scope: scope.clone(),
        id: record.id().to_owned(),
        expected_version: doc.version,
        columns: record.columns(),
        body: body_of(record)?,
    })
}

/// The caller's record `id`, or 404 naming `param`.
pub async fn load<T: Record>(
    state: &AppState,
    scope: &Scope,
    id: &str,
    param: &str,
) -> ApiResult<(Doc, T)> {
    let doc = state
        .store
        .get(T::TABLE, scope, id)
        .await?
        .ok_or_else(|| ApiError::no_such(T::OBJECT, id, param))?;
    let record = serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?;
    Ok((doc, record))
}

/// Record `id` of whichever merchant holds it, with that merchant's scope
/// — for hosted pages, reached with no API key; 404 naming `id` when no
/// merchant has it.
pub async fn find_anywhere<T: Record>(state: &AppState, id: &str) -> ApiResult<(Scope, Doc, T)> {
    let query = ScanQuery {
        filters: vec![("id", ScanOp::Equal, SqlValue::Text(id.to_owned()))],
        created_before: None,
        limit: 1,
    };
    let found = state
        .store
        .scan(T::TABLE, &query)
        .await?
        .pop()
        .ok_or_else(|| ApiError::no_such(T::OBJECT, id, "id"))?;
    let record = serde_json::from_str(&found.doc.body).map_err(|e| ApiError::internal(&e))?;
    Ok((found.scope, found.doc, record))
}

/// Decodes listed documents.
pub fn decode_all<T: Record>(docs: &[Doc]) -> ApiResult<Vec<T>> {
    docs.iter()
        .map(|doc| serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e)))
        .collect()
}
