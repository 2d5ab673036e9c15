//! Between rusqlite's types and the store's.

use crate::model::{Doc, Scope, ScopedDoc, SqlValue};
use crate::sql::Sql;
use crate::StoreError;
use portcullis_domain::api_keys::ApiKeyRecord;
use portcullis_domain::ids::MerchantId;
use portcullis_domain::merchants::Merchant;
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{ErrorCode, Row, ToSql};

impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Owned(Value::Null),
            SqlValue::Integer(n) => ToSqlOutput::Owned(Value::Integer(*n)),
            SqlValue::Text(text) => ToSqlOutput::Borrowed(text.as_str().into()),
            SqlValue::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            SqlValue::Integers(_) | SqlValue::Texts(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "an array is bound only in PostgreSQL's statements".into(),
                ))
            }
        })
    }
}

pub(crate) fn params_of(sql: &Sql) -> rusqlite::ParamsFromIter<std::slice::Iter<'_, SqlValue>> {
    rusqlite::params_from_iter(sql.params.iter())
}

pub(crate) fn map_err(err: rusqlite::Error) -> StoreError {
    match &err {
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.code == ErrorCode::ConstraintViolation
                && matches!(
                    failure.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
        {
            StoreError::Duplicate
        }
        rusqlite::Error::SqliteFailure(failure, Some(message))
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_TRIGGER =>
        {
            match crate::error::limit_named(message) {
                Some(limit) => StoreError::LimitReached(limit),
                None => StoreError::Unavailable(err.to_string()),
            }
        }
        _ => StoreError::Unavailable(err.to_string()),
    }
}

pub(crate) fn doc_from_row(row: &Row<'_>) -> rusqlite::Result<Doc> {
    Ok(Doc {
        id: row.get(0)?,
        seq: row.get(1)?,
        created: row.get(2)?,
        version: row.get(3)?,
        body: row.get(4)?,
    })
}

/// A scanned row: merchant id, livemode, then the document columns.
pub(crate) fn scoped_doc_from_row(
    row: &Row<'_>,
) -> rusqlite::Result<Result<ScopedDoc, StoreError>> {
    let merchant_id: String = row.get(0)?;
    let Some(merchant_id) = MerchantId::parse(&merchant_id) else {
        return Ok(Err(StoreError::Corrupt(format!(
            "merchant id {merchant_id:?}"
        ))));
    };
    let doc = Doc {
        id: row.get(2)?,
        seq: row.get(3)?,
        created: row.get(4)?,
        version: row.get(5)?,
        body: row.get(6)?,
    };
    Ok(Ok(ScopedDoc {
        scope: Scope {
            merchant_id,
            livemode: row.get(1)?,
        },
        doc,
    }))
}

pub(crate) fn merchant_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Merchant, StoreError>> {
    let id: String = row.get(0)?;
    Ok(crate::model::merchant_of(&id, row.get(1)?, row.get(2)?))
}

/// A key row; the outer error is SQLite's, the inner one a malformed row.
pub(crate) fn key_from_row(row: &Row<'_>) -> rusqlite::Result<Result<ApiKeyRecord, StoreError>> {
    let texts: [String; 6] = [
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ];
    Ok(crate::model::key_of(
        texts,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}
