//! The payments page's filters, all applied by the store's query (status,
//! customer and dates as list filters; amount bounds, method and text as
//! clauses over the `amount`, `method_types` and `search_text` columns), so
//! a page holds the newest matches however far back they are.

use super::pages::field;
use crate::error::{ApiError, ApiResult};
use crate::payments::records::method_types_column;
use crate::wire::ApiRequest;
use portcullis_domain::search::{SearchClause, SearchField, SearchOp, SearchValue};
use portcullis_store::{CreatedRange, ListQuery, PageCursor, Scope, SqlValue};

/// The filter form's fields as typed (shown again in the form).
pub struct Filters {
    pub q: String,
    pub status: String,
    pub created_from: String,
    pub created_to: String,
    pub amount_min: String,
    pub amount_max: String,
    pub method: String,
}

pub const STATUSES: &[&str] = &[
    "succeeded",
    "requires_capture",
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "canceled",
];
pub const METHODS: &[&str] = &["card", "alipay", "wechat_pay", "customer_balance"];

impl Filters {
    pub fn read(request: &mut ApiRequest) -> ApiResult<Filters> {
        let mut get = |name: &str, max: usize| -> ApiResult<String> {
            Ok(field(request, name, max)?
                .unwrap_or_default()
                .trim()
                .to_owned())
        };
        Ok(Filters {
            q: get("q", 255)?,
            status: get("status", 40)?,
            created_from: get("created_from", 10)?,
            created_to: get("created_to", 10)?,
            amount_min: get("amount_min", 20)?,
            amount_max: get("amount_max", 20)?,
            method: get("method", 40)?,
        })
    }

    fn bad(param: &str) -> ApiError {
        ApiError::invalid("parameter_invalid", format!("{param} is not valid."), param)
    }

    /// An amount bound in minor units: digits only (a negative bound or a
    /// decimal point is a typing mistake to point out, not to guess at).
    fn amount(text: &str, param: &str) -> ApiResult<Option<i64>> {
        if text.is_empty() {
            return Ok(None);
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Self::bad(param));
        }
        text.parse::<i64>().map(Some).map_err(|_| Self::bad(param))
    }

    fn day(text: &str, param: &str) -> ApiResult<Option<i64>> {
        if text.is_empty() {
            return Ok(None);
        }
        day_start(text).map(Some).ok_or_else(|| Self::bad(param))
    }

    /// The store query of one page of `limit` rows after `after`, and the
    /// clauses its rows must also match.
    pub fn query(
        &self,
        scope: &Scope,
        after: Option<String>,
        limit: usize,
    ) -> ApiResult<(ListQuery, Vec<SearchClause>)> {
        let mut filters = vec![];
        if !self.status.is_empty() {
            if !STATUSES.contains(&self.status.as_str()) {
                return Err(Self::bad("status"));
            }
            filters.push(("status", SqlValue::Text(self.status.clone())));
        }
        if self.q.starts_with("cus_") {
            filters.push(("customer", SqlValue::Text(self.q.clone())));
        }
        let created = CreatedRange {
            gte: Self::day(&self.created_from, "created_from")?,
            lt: Self::day(&self.created_to, "created_to")?.map(|d| d + 86_400),
            ..CreatedRange::default()
        };
        let query = ListQuery {
            scope: scope.clone(),
            filters,
            one_of: vec![],
            created,
            cursor: after.map_or(PageCursor::Newest, PageCursor::StartingAfter),
            limit,
        };
        Ok((query, self.clauses()?))
    }

    /// Amount bounds, the method and the text, as clauses over columns.
    fn clauses(&self) -> ApiResult<Vec<SearchClause>> {
        let clause = |column: &str, op, value| SearchClause {
            negated: false,
            field: SearchField::Attribute(column.to_owned()),
            op,
            value,
        };
        let mut clauses = vec![];
        if let Some(min) = Self::amount(&self.amount_min, "amount_min")? {
            clauses.push(clause(
                "amount",
                SearchOp::GreaterOrEqual,
                SearchValue::Integer(min),
            ));
        }
        if let Some(max) = Self::amount(&self.amount_max, "amount_max")? {
            clauses.push(clause(
                "amount",
                SearchOp::LessOrEqual,
                SearchValue::Integer(max),
            ));
        }
        if !self.method.is_empty() {
            if !METHODS.contains(&self.method.as_str()) {
                return Err(Self::bad("method"));
            }
            let one = method_types_column(std::slice::from_ref(&self.method));
            clauses.push(clause(
                "method_types",
                SearchOp::Contains,
                SearchValue::Text(one),
            ));
        }
        if !self.q.is_empty() && !self.q.starts_with("cus_") {
            clauses.push(clause(
                "search_text",
                SearchOp::Contains,
                SearchValue::Text(self.q.to_lowercase()),
            ));
        }
        Ok(clauses)
    }
}

/// `YYYY-MM-DD` as the Unix second of that day's start (UTC).
fn day_start(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(portcullis_domain::days_from_civil(y, m, d) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_start_at_utc_midnight() {
        assert_eq!(day_start("2000-02-29"), Some(951_782_400));
        assert_eq!(day_start("2000-13-01"), None);
        assert_eq!(day_start("yesterday"), None);
    }

    #[test]
    fn amount_method_and_text_become_clauses() {
        let filters = Filters {
            q: "Blue TEAPOT".into(),
            status: String::new(),
            created_from: String::new(),
            created_to: String::new(),
            amount_min: "100".into(),
            amount_max: String::new(),
            method: "alipay".into(),
        };
        let clauses = filters.clauses().unwrap();
        assert_eq!(clauses.len(), 3);
        assert_eq!(clauses[0].value, SearchValue::Integer(100));
        assert_eq!(clauses[1].value, SearchValue::Text(",alipay,".into()));
        assert_eq!(clauses[2].value, SearchValue::Text("blue teapot".into()));
        let bad = Filters {
            amount_min: "-5".into(),
            ..filters
        };
        assert!(bad.clauses().is_err());
    }
}
