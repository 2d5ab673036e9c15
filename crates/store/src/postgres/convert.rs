//! Between tokio-postgres's types and the store's.

use crate::model::{Doc, Scope, ScopedDoc, SqlValue};
use crate::sql::Sql;
use crate::StoreError;
use bytes_free::BytesMut;
use portcullis_domain::api_keys::ApiKeyRecord;
use portcullis_domain::ids::MerchantId;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

mod bytes_free {
    pub use tokio_postgres::types::private::BytesMut;
}

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            // `Table::columns` declares flag columns such as `deleted` as
            // integers (SQLite stores them so), while PostgreSQL types them
            // BOOLEAN: an integer bound there must be sent as a boolean, or
            // the server refuses the 8-byte value and the same write that
            // SQLite accepts fails here.
            SqlValue::Integer(n) if *ty == Type::BOOL => (*n != 0).to_sql(ty, out),
            SqlValue::Integer(n) => n.to_sql(ty, out),
            SqlValue::Text(text) => text.to_sql(ty, out),
            SqlValue::Bool(b) => b.to_sql(ty, out),
            SqlValue::Integers(values) => values.to_sql(ty, out),
            SqlValue::Texts(values) => values.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

pub(crate) fn params_of(sql: &Sql) -> Vec<&(dyn ToSql + Sync)> {
    sql.params
        .iter()
        .map(|p| p as &(dyn ToSql + Sync))
        .collect()
}

pub(crate) fn map_err(err: tokio_postgres::Error) -> StoreError {
    if let Some(limit) = limit_named(&err) {
        return StoreError::LimitReached(limit);
    }
    match err.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => StoreError::Duplicate,
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE => StoreError::Conflict,
        // The error's `Display` is only "db error"; the server's own message
        // is what tells an operator the cause.
        _ => match err.as_db_error() {
            Some(db) => StoreError::Unavailable(format!("{err}: {}", db.message())),
            None => StoreError::Unavailable(err.to_string()),
        },
    }
}

/// The enforced limit a trigger's error names (migration 0008).
fn limit_named(err: &tokio_postgres::Error) -> Option<&'static str> {
    err.as_db_error()
        .filter(|db| *db.code() == SqlState::CHECK_VIOLATION)
        .and_then(|db| crate::error::limit_named(db.message()))
}

pub(crate) fn doc_of(row: &tokio_postgres::Row) -> Doc {
    Doc {
        id: row.get(0),
        seq: row.get(1),
        created: row.get(2),
        version: row.get(3),
        body: row.get(4),
    }
}

/// A scanned row: merchant id, livemode, then the document columns.
pub(crate) fn scoped_doc_of(row: &tokio_postgres::Row) -> Result<ScopedDoc, StoreError> {
    let merchant_id: String = row.get(0);
    let merchant_id = MerchantId::parse(&merchant_id)
        .ok_or_else(|| StoreError::Corrupt(format!("merchant id {merchant_id:?}")))?;
    let doc = Doc {
        id: row.get(2),
        seq: row.get(3),
        created: row.get(4),
        version: row.get(5),
        body: row.get(6),
    };
    Ok(ScopedDoc {
        scope: Scope {
            merchant_id,
            livemode: row.get(1),
        },
        doc,
    })
}

pub(crate) fn key_of_row(row: &tokio_postgres::Row) -> Result<ApiKeyRecord, StoreError> {
    let texts: [String; 6] = std::array::from_fn(|i| row.get(i));
    crate::model::key_of(texts, row.get(6), row.get(7), row.get(8))
}
