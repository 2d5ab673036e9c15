//! Lists and searches: the shared parameters (`limit`, `starting_after`,
//! `ending_before`, `created[…]`; `query`, `page`) and the list object.

use crate::error::{ApiError, ApiResult};
use crate::page_tokens;
use crate::state::AppState;
use crate::wire::Params;
use portcullis_domain::search::{SearchField, SearchOp, SearchQuery, SearchValue};
use portcullis_store::{ColumnKind, CreatedRange, ListPage, PageCursor, Scope, Table};
use serde_json::{json, Value};

pub const LIMIT_DEFAULT: usize = 10;
pub const LIMIT_MAX: usize = 100;

/// Reads `limit` (1–100, default 10).
pub fn limit(params: &mut Params) -> ApiResult<usize> {
    match params.integer("limit")? {
        None => Ok(LIMIT_DEFAULT),
        Some(n) if (1..=LIMIT_MAX as i64).contains(&n) => Ok(n as usize),
        Some(_) => Err(ApiError::invalid(
            "parameter_invalid_integer",
            format!("Invalid limit: must be between 1 and {LIMIT_MAX}."),
            "limit",
        )),
    }
}

/// Reads `starting_after` / `ending_before` (at most one of them).
pub fn cursor(params: &mut Params) -> ApiResult<PageCursor> {
    let after = params.string("starting_after", 255)?;
    let before = params.string("ending_before", 255)?;
    match (after, before) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "parameter_invalid",
            "You may only specify one of these parameters: starting_after, ending_before.",
            "ending_before",
        )),
        (Some(id), None) => Ok(PageCursor::StartingAfter(id)),
        (None, Some(id)) => Ok(PageCursor::EndingBefore(id)),
        (None, None) => Ok(PageCursor::Newest),
    }
}

/// Reads `created=N` or `created[gt|gte|lt|lte]=N`.
pub fn created(params: &mut Params) -> ApiResult<CreatedRange> {
    let mut range = CreatedRange::default();
    if params.holds_hash("created") {
        if let Some(mut bounds) = params.object("created")? {
            range.gt = bounds.integer("gt")?;
            range.gte = bounds.integer("gte")?;
            range.lt = bounds.integer("lt")?;
            range.lte = bounds.integer("lte")?;
            bounds.finish()?;
        }
    } else if let Some(exact) = params.integer("created")? {
        range.gte = Some(exact);
        range.lte = Some(exact);
    }
    Ok(range)
}

/// The list object. `url` is the list's own path, which the client
/// libraries reuse to fetch the next page.
pub fn list_object(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({ "object": "list", "data": data, "has_more": has_more, "url": url })
}

/// A search page of `table` for `scope`: `next_page` is the (opaque)
/// token for the next call's `page`.
pub fn search_object(
    state: &AppState,
    scope: &Scope,
    table: Table,
    url: &str,
    page: &ListPage,
    data: Vec<Value>,
) -> Value {
    let next_page = match (page.has_more, page.docs.last()) {
        (true, Some(last)) => json!(page_tokens::seal(state, scope, table, last.seq)),
        _ => Value::Null,
    };
    json!({
        "object": "search_result",
        "data": data,
        "has_more": page.has_more,
        "next_page": next_page,
        "url": url,
    })
}

/// Reads `page`, a token from a previous search's `next_page` (of the same
/// merchant and table).
pub fn search_page(
    state: &AppState,
    scope: &Scope,
    table: Table,
    params: &mut Params,
) -> ApiResult<Option<i64>> {
    match params.string("page", page_tokens::TOKEN_CHARS_MAX)? {
        None => Ok(None),
        Some(token) => page_tokens::open(state, scope, table, &token)
            .map(Some)
            .ok_or_else(|| ApiError::invalid("parameter_invalid", "Invalid page token.", "page")),
    }
}

/// Refuses (400) a search the store could not run: a field outside
/// `searchable`, or an operator and value that do not fit the field (a
/// range or a number on a text field, text on a number). `noun` names the
/// objects searched ("customers"). Errors name the field, never the value.
pub fn check_search(
    query: &SearchQuery,
    table: Table,
    searchable: &[&str],
    noun: &str,
) -> ApiResult<()> {
    for clause in &query.clauses {
        let (name, kind) = match &clause.field {
            SearchField::Attribute(name) => match table.column_kind(name) {
                Some(kind) if searchable.contains(&name.as_str()) => (name.as_str(), kind),
                _ => {
                    return Err(ApiError::invalid(
                        "parameter_invalid",
                        format!(
                            "Field '{}' is not supported for search on {noun}. Supported: {}, metadata['key'].",
                            crate::error::echo(name),
                            searchable.join(", ")
                        ),
                        "query",
                    ))
                }
            },
            SearchField::Metadata(_) => ("metadata", ColumnKind::Text),
        };
        if !clause_fits(clause.op, &clause.value, kind) {
            let expected = match kind {
                ColumnKind::Integer => "a number with ':', '>', '>=', '<' or '<='",
                ColumnKind::Text => "quoted text with ':' or '~'",
            };
            return Err(ApiError::invalid(
                "parameter_invalid",
                format!("Invalid search query: field '{name}' takes {expected}."),
                "query",
            ));
        }
    }
    Ok(())
}

/// True when the store can compare a field of `kind` by `op` with `value`.
fn clause_fits(op: SearchOp, value: &SearchValue, kind: ColumnKind) -> bool {
    match (value, kind) {
        (SearchValue::Null, _) => op == SearchOp::Equals,
        (SearchValue::Text(_), ColumnKind::Text) => {
            matches!(op, SearchOp::Equals | SearchOp::Contains)
        }
        (SearchValue::Integer(_), ColumnKind::Integer) => op != SearchOp::Contains,
        _ => false,
    }
}

/// 404 for a cursor naming no object of the caller's.
pub fn cursor_not_found(object: &str, cursor: &PageCursor) -> ApiError {
    let (param, id) = match cursor {
        PageCursor::StartingAfter(id) => ("starting_after", id.as_str()),
        PageCursor::EndingBefore(id) => ("ending_before", id.as_str()),
        PageCursor::Newest => ("starting_after", ""),
    };
    ApiError::no_such(object, id, param)
}

/// Reads a list request's page (`created`, `starting_after`/`ending_before`,
/// `limit`) of `table` in `scope` and answers the list object at `url`,
/// each document rendered by `render`; an unknown cursor is a 404 naming
/// `object`. The caller has checked its other parameters.
pub async fn answer_page(
    state: &AppState,
    table: Table,
    scope: Scope,
    params: &mut Params,
    page_of: PageOf<'_>,
) -> ApiResult<Value> {
    let query = portcullis_store::ListQuery {
        scope,
        filters: vec![],
        one_of: vec![],
        created: created(params)?,
        cursor: cursor(params)?,
        limit: limit(params)?,
    };
    std::mem::take(params).finish()?;
    let page = state
        .store
        .list(table, &query)
        .await
        .map_err(|err| match err {
            portcullis_store::StoreError::NotFound => {
                cursor_not_found(page_of.object, &query.cursor)
            }
            other => other.into(),
        })?;
    let data = page
        .docs
        .iter()
        .map(page_of.render)
        .collect::<ApiResult<Vec<Value>>>()?;
    Ok(list_object(page_of.url, data, page.has_more))
}

/// What a list answers: its URL, the object it lists, how one is rendered.
pub struct PageOf<'a> {
    pub url: &'a str,
    pub object: &'a str,
    pub render: &'a (dyn Fn(&portcullis_store::Doc) -> ApiResult<Value> + Sync),
}
