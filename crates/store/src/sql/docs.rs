//! SQL for resource documents: insert, versioned update, get, list pages
//! and search. Only table and column names from [`Table`]'s fixed lists
//! appear in the text; every value is bound.

use super::{Builder, Dialect, Sql};
use crate::bulk::rows_per_insert;
use crate::model::{
    ColumnKind, CreatedRange, ListQuery, ScanOp, ScanQuery, Scope, SqlValue, Table, WriteOp,
    ONE_OF_VALUES_MAX,
};
use crate::StoreError;
use portcullis_domain::search::{
    Conjunction, SearchClause, SearchField, SearchOp, SearchQuery, SearchValue,
};

pub(crate) const DOC_COLUMNS: &str = "id, seq, created, version, body";

fn assert_columns(table: Table, columns: &[(&'static str, SqlValue)]) {
    for (name, _) in columns {
        assert!(
            table.columns().iter().any(|(known, _)| known == name),
            "column {name} is not an indexed column of {}",
            table.name()
        );
    }
}

/// One document to insert, borrowed from the write that carries it
/// ([`crate::model::WriteOp::Insert`] or a bulk row).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewDoc<'a> {
    pub scope: &'a Scope,
    pub id: &'a str,
    pub created: i64,
    pub columns: &'a [(&'static str, SqlValue)],
    pub body: &'a str,
}

impl<'a> NewDoc<'a> {
    /// The document `op` inserts, with its table, if `op` is an insert.
    pub(crate) fn of_insert(op: &'a WriteOp) -> Option<(Table, Self)> {
        let WriteOp::Insert {
            table,
            scope,
            id,
            created,
            columns,
            body,
        } = op
        else {
            return None;
        };
        let row = NewDoc {
            scope,
            id,
            created: *created,
            columns,
            body,
        };
        Some((*table, row))
    }

    /// Whether `other` sets the same indexed columns, by name and in
    /// order, so that both can be rows of one multi-row insert.
    pub(crate) fn sets_same_columns_as(&self, other: &NewDoc<'_>) -> bool {
        self.columns.len() == other.columns.len()
            && self
                .columns
                .iter()
                .zip(other.columns)
                .all(|(a, b)| a.0 == b.0)
    }
}

/// One document's insert (the writers insert runs: [`InsertRun`]).
#[cfg(test)]
pub(crate) fn insert_doc(
    dialect: Dialect,
    table: Table,
    scope: &Scope,
    id: &str,
    created: i64,
    columns: &[(&'static str, SqlValue)],
    body: &str,
) -> Sql {
    let row = NewDoc {
        scope,
        id,
        created,
        columns,
        body,
    };
    insert_docs(dialect, table, &[row])
}

/// One multi-row insert of documents of `table` that all set the same
/// `columns` (by name, in order): each row as a single-row insert would write it,
/// in the order given (so `seq` keeps it). A duplicate id among them, or
/// of a stored row, fails the whole statement.
pub(crate) fn insert_docs(dialect: Dialect, table: Table, rows: &[NewDoc<'_>]) -> Sql {
    let first = rows.first().expect("a multi-row insert has rows");
    assert_columns(table, first.columns);
    let mut b = Builder::new(
        dialect,
        &format!(
            "INSERT INTO {} (id, merchant_id, livemode, created, version, body",
            table.name()
        ),
    );
    for (name, _) in first.columns {
        b.push(", ").push(name);
    }
    b.push(") VALUES ");
    for (i, row) in rows.iter().enumerate() {
        assert!(
            row.sets_same_columns_as(first),
            "rows of one multi-row insert set the same columns"
        );
        b.push(if i > 0 { ", (" } else { "(" });
        b.bind(SqlValue::Text(row.id.to_owned())).push(", ");
        b.bind(SqlValue::Text(row.scope.merchant_id.to_string()))
            .push(", ");
        b.bind(SqlValue::Bool(row.scope.livemode)).push(", ");
        b.bind(SqlValue::Integer(row.created)).push(", 1, ");
        b.bind(SqlValue::Text(row.body.to_owned()));
        for (_, value) in row.columns {
            b.push(", ").bind(value.clone());
        }
        b.push(")");
    }
    b.finish()
}

/// A write set's consecutive inserts into one table that set the same
/// columns, gathered into one multi-row insert ([`insert_docs`]) of at
/// most `rows_max` rows (and at most `bulk::rows_per_insert`, the bound on
/// a statement's parameters), so that a statement's fixed cost is paid once per
/// run. Rows keep their order (and `seq`); a duplicate id fails the run's
/// statement, and so its write set, with `Duplicate`, as a single insert
/// would.
pub(crate) struct InsertRun<'a> {
    table: Option<Table>,
    rows: Vec<NewDoc<'a>>,
    rows_max: usize,
}

impl<'a> InsertRun<'a> {
    pub(crate) fn new(rows_max: usize) -> Self {
        assert!(rows_max > 0, "a run holds at least one row");
        Self {
            table: None,
            rows: vec![],
            rows_max,
        }
    }

    /// Adds `row`; answers the run held before as one statement, to be
    /// run first, if `row` cannot join it.
    pub(crate) fn add(&mut self, dialect: Dialect, table: Table, row: NewDoc<'a>) -> Option<Sql> {
        let joins = self.table == Some(table)
            && self
                .rows
                .first()
                .is_some_and(|first| first.sets_same_columns_as(&row))
            && self.rows.len() < self.rows_max.min(rows_per_insert(row.columns.len()));
        let before = if joins { None } else { self.take(dialect) };
        self.table = Some(table);
        self.rows.push(row);
        before
    }

    /// The run held, if any, as one statement; the run is then empty.
    pub(crate) fn take(&mut self, dialect: Dialect) -> Option<Sql> {
        let table = self.table.take()?;
        let sql = insert_docs(dialect, table, &self.rows);
        self.rows.clear();
        Some(sql)
    }
}

pub(crate) fn update_doc(
    dialect: Dialect,
    table: Table,
    scope: &Scope,
    id: &str,
    expected_version: i64,
    columns: &[(&'static str, SqlValue)],
    body: &str,
) -> Sql {
    assert_columns(table, columns);
    let mut b = Builder::new(
        dialect,
        &format!("UPDATE {} SET version = version + 1, body = ", table.name()),
    );
    b.bind(SqlValue::Text(body.to_owned()));
    for (name, value) in columns {
        b.push(", ").push(name).push(" = ").bind(value.clone());
    }
    b.push(" WHERE id = ").bind(SqlValue::Text(id.to_owned()));
    b.push(" AND ");
    push_scope(&mut b, scope);
    b.push(" AND version = ")
        .bind(SqlValue::Integer(expected_version));
    b.finish()
}

pub(crate) fn get_doc(dialect: Dialect, table: Table, scope: &Scope, id: &str) -> Sql {
    let mut b = Builder::new(
        dialect,
        &format!("SELECT {DOC_COLUMNS} FROM {} WHERE id = ", table.name()),
    );
    b.bind(SqlValue::Text(id.to_owned()));
    b.push(" AND ");
    push_scope(&mut b, scope);
    b.finish()
}

/// The scope of a statement that names its row by `id`. On PostgreSQL it
/// is compared with `IS NOT DISTINCT FROM` (the same as `=` here: both
/// columns are `NOT NULL`), which no index serves, so the id's unique
/// index is the statement's only index. With `=`, a plan made while the
/// table was small prices the `(merchant_id, livemode, seq)` index the
/// same, and may take it: PostgreSQL keeps a prepared statement's generic
/// plan, made on its sixth run, until the table's statistics change
/// (never, with autovacuum off), and that plan then reads every row of
/// the merchant's scope to find one id (the growth benchmark's stall:
/// each payment's update read 300,000 index entries).
fn push_scope(b: &mut Builder, scope: &Scope) {
    let equals = match b.dialect {
        Dialect::Postgres => " IS NOT DISTINCT FROM ",
        Dialect::Sqlite => " = ",
    };
    b.push("merchant_id")
        .push(equals)
        .bind(SqlValue::Text(scope.merchant_id.to_string()));
    b.push(" AND livemode")
        .push(equals)
        .bind(SqlValue::Bool(scope.livemode));
}

/// Which way a page walks from its cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Towards older objects (`starting_after`, or the first page).
    Older,
    /// Towards newer objects (`ending_before`).
    Newer,
}

/// A page query fetching `limit + 1` rows, so the extra row tells `has_more`
/// (without clauses: the query plans' tests read these).
#[cfg(test)]
pub(crate) fn list_docs(
    dialect: Dialect,
    table: Table,
    query: &ListQuery,
    cursor_seq: Option<(Direction, i64)>,
) -> Sql {
    match list_docs_matching(dialect, table, query, &[], cursor_seq) {
        Ok(sql) => sql,
        Err(err) => unreachable!("a list without clauses has no clause to refuse: {err}"),
    }
}

/// A page query fetching `limit + 1` rows whose rows also match every one
/// of `clauses` (search clauses over the table's columns, as
/// [`search_docs`] takes them).
pub(crate) fn list_docs_matching(
    dialect: Dialect,
    table: Table,
    query: &ListQuery,
    clauses: &[SearchClause],
    cursor_seq: Option<(Direction, i64)>,
) -> Result<Sql, StoreError> {
    assert_columns(table, &query.filters);
    let mut b = Builder::new(
        dialect,
        &format!(
            "SELECT {DOC_COLUMNS} FROM {} WHERE merchant_id = ",
            table.name()
        ),
    );
    b.bind(SqlValue::Text(query.scope.merchant_id.to_string()));
    b.push(" AND livemode = ")
        .bind(SqlValue::Bool(query.scope.livemode));
    push_not_deleted(&mut b, table);
    for (name, value) in &query.filters {
        b.push(" AND ").push(name).push(" = ").bind(value.clone());
    }
    push_one_of(&mut b, table, &query.one_of);
    push_created_range(&mut b, &query.created);
    for clause in clauses {
        b.push(" AND ");
        push_clause(&mut b, table, clause)?;
    }
    let direction = match cursor_seq {
        Some((direction, seq)) => {
            let op = if direction == Direction::Older {
                " AND seq < "
            } else {
                " AND seq > "
            };
            b.push(op).bind(SqlValue::Integer(seq));
            direction
        }
        None => Direction::Older,
    };
    let order = if direction == Direction::Older {
        " ORDER BY seq DESC"
    } else {
        " ORDER BY seq ASC"
    };
    b.push(order)
        .push(" LIMIT ")
        .bind(SqlValue::Integer(query.limit as i64 + 1));
    Ok(b.finish())
}

/// Leaves out deleted rows. On SQLite the flag is an integer, and only
/// `= 0` (not `NOT deleted`) lets an index holding it (`customers_by_scope`)
/// also give the `seq` order, instead of sorting every row of the scope.
fn push_not_deleted(b: &mut Builder, table: Table) {
    if let Some(deleted) = table.deleted_column() {
        match b.dialect {
            Dialect::Sqlite => b.push(" AND ").push(deleted).push(" = 0"),
            Dialect::Postgres => b.push(" AND NOT ").push(deleted),
        };
    }
}

fn push_one_of(b: &mut Builder, table: Table, one_of: &[(&'static str, Vec<SqlValue>)]) {
    for (name, values) in one_of {
        assert_columns(table, &[(name, SqlValue::Null)]);
        assert!(
            values.len() <= ONE_OF_VALUES_MAX,
            "a membership filter holds at most {ONE_OF_VALUES_MAX} values"
        );
        if values.is_empty() {
            b.push(" AND 1 = 0");
            continue;
        }
        b.push(" AND ").push(name).push(" IN (");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            b.bind(value.clone());
        }
        b.push(")");
    }
}

fn push_created_range(b: &mut Builder, range: &CreatedRange) {
    for (op, bound) in [
        (" > ", range.gt),
        (" >= ", range.gte),
        (" < ", range.lt),
        (" <= ", range.lte),
    ] {
        if let Some(bound) = bound {
            b.push(" AND created")
                .push(op)
                .bind(SqlValue::Integer(bound));
        }
    }
}

/// Columns a scan returns: the scope, then [`DOC_COLUMNS`].
pub(crate) const SCAN_COLUMNS: &str = "merchant_id, livemode, id, seq, created, version, body";

pub(crate) fn scan_docs(dialect: Dialect, table: Table, query: &ScanQuery) -> Sql {
    let mut b = Builder::new(
        dialect,
        &format!("SELECT {SCAN_COLUMNS} FROM {} WHERE 1 = 1", table.name()),
    );
    for (column, op, value) in &query.filters {
        assert!(
            table.column_kind(column).is_some(),
            "column {column} is not an indexed column of {}",
            table.name()
        );
        let op = match op {
            ScanOp::Equal => " = ",
            ScanOp::NotEqual => " <> ",
            ScanOp::AtMost => " <= ",
            ScanOp::After => " > ",
            ScanOp::IsNull => {
                b.push(" AND ").push(column).push(" IS NULL");
                continue;
            }
        };
        b.push(" AND ").push(column).push(op).bind(value.clone());
    }
    if let Some(before) = query.created_before {
        b.push(" AND created < ").bind(SqlValue::Integer(before));
    }
    // A range over a due column is read in that column's order (its index
    // order): ordered by `seq` alone, SQLite without statistics walks the
    // whole table in `seq` order to avoid sorting the index's rows — a
    // full scan per worker pass that grows with every payment stored.
    b.push(" ORDER BY ");
    if let Some(column) = range_column(query) {
        b.push(column).push(" ASC, ");
    }
    b.push("seq ASC LIMIT ")
        .bind(SqlValue::Integer(query.limit as i64));
    b.finish()
}

/// The column a scan's range filter (`<=`, `>`) reads, if any.
fn range_column(query: &ScanQuery) -> Option<&'static str> {
    query
        .filters
        .iter()
        .find_map(|(column, op, _)| matches!(op, ScanOp::AtMost | ScanOp::After).then_some(*column))
}

pub(crate) fn seq_of(dialect: Dialect, table: Table, scope: &Scope, id: &str) -> Sql {
    let mut b = Builder::new(
        dialect,
        &format!("SELECT seq FROM {} WHERE id = ", table.name()),
    );
    b.bind(SqlValue::Text(id.to_owned()));
    b.push(" AND ");
    push_scope(&mut b, scope);
    b.finish()
}

/// A search page, newest first, fetching `limit + 1` rows.
pub(crate) fn search_docs(
    dialect: Dialect,
    table: Table,
    scope: &Scope,
    query: &SearchQuery,
    after_seq: Option<i64>,
    limit: usize,
) -> Result<Sql, StoreError> {
    let mut b = Builder::new(
        dialect,
        &format!(
            "SELECT {DOC_COLUMNS} FROM {} WHERE merchant_id = ",
            table.name()
        ),
    );
    b.bind(SqlValue::Text(scope.merchant_id.to_string()));
    b.push(" AND livemode = ")
        .bind(SqlValue::Bool(scope.livemode));
    push_not_deleted(&mut b, table);
    if let Some(seq) = after_seq {
        b.push(" AND seq < ").bind(SqlValue::Integer(seq));
    }
    let joint = match query.conjunction {
        Conjunction::And => " AND ",
        Conjunction::Or => " OR ",
    };
    b.push(" AND (");
    for (i, clause) in query.clauses.iter().enumerate() {
        if i > 0 {
            b.push(joint);
        }
        push_clause(&mut b, table, clause)?;
    }
    b.push(") ORDER BY seq DESC LIMIT ")
        .bind(SqlValue::Integer(limit as i64 + 1));
    Ok(b.finish())
}

fn push_clause(b: &mut Builder, table: Table, clause: &SearchClause) -> Result<(), StoreError> {
    b.push(if clause.negated { "NOT (" } else { "(" });
    let (column_sql, kind) = match &clause.field {
        SearchField::Attribute(name) => {
            let kind = table
                .column_kind(name)
                .ok_or_else(|| StoreError::Config(format!("{name} is not searchable")))?;
            (name.clone(), kind)
        }
        SearchField::Metadata(key) => (metadata_expr(b, key), ColumnKind::Text),
    };
    match (&clause.value, clause.op, kind) {
        (SearchValue::Null, SearchOp::Equals, _) => {
            b.push(&column_sql).push(" IS NULL");
        }
        (SearchValue::Text(text), SearchOp::Equals, ColumnKind::Text) => {
            if matches!(clause.field, SearchField::Metadata(_)) {
                b.push(&column_sql)
                    .push(" = ")
                    .bind(SqlValue::Text(text.clone()));
            } else {
                b.push("lower(").push(&column_sql).push(") = lower(");
                b.bind(SqlValue::Text(text.clone())).push(")");
            }
        }
        (SearchValue::Text(text), SearchOp::Contains, ColumnKind::Text) => {
            let pattern = format!("%{}%", escape_like(text));
            b.push("lower(").push(&column_sql).push(") LIKE lower(");
            b.bind(SqlValue::Text(pattern)).push(") ESCAPE '\\'");
        }
        (SearchValue::Integer(n), op, ColumnKind::Integer) if op != SearchOp::Contains => {
            let op_sql = match op {
                SearchOp::Equals => " = ",
                SearchOp::Greater => " > ",
                SearchOp::GreaterOrEqual => " >= ",
                SearchOp::Less => " < ",
                SearchOp::LessOrEqual => " <= ",
                SearchOp::Contains => unreachable!("excluded by the guard"),
            };
            b.push(&column_sql).push(op_sql).bind(SqlValue::Integer(*n));
        }
        _ => {
            return Err(StoreError::Config(
                "search operator does not fit the field".to_owned(),
            ))
        }
    }
    b.push(")");
    Ok(())
}

/// The SQL expression for `metadata['key']` in the JSON body; the key is
/// bound (placeholders are numbered, so binding ahead of the text is safe).
fn metadata_expr(b: &mut Builder, key: &str) -> String {
    match b.dialect {
        // Not `json_extract(body, '$.metadata."key"')`: a key is any text but
        // `[` and `]`, and one holding `"` or `\` does not survive being
        // spelled inside a JSON path, so such keys never matched. Comparing
        // `json_each`'s decoded keys binds the key as plain text, like
        // PostgreSQL's `->>` does.
        Dialect::Sqlite => {
            let key = b.placeholder(SqlValue::Text(key.to_owned()));
            format!("(SELECT value FROM json_each(body, '$.metadata') WHERE key = {key})")
        }
        Dialect::Postgres => {
            let key = b.placeholder(SqlValue::Text(key.to_owned()));
            format!("((body::jsonb) -> 'metadata' ->> {key})")
        }
    }
}

fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::ids::MerchantId;

    #[test]
    fn placeholders_follow_the_dialect() {
        let m = Scope {
            merchant_id: MerchantId::parse("acct_x1").unwrap(),
            livemode: false,
        };
        let sql = get_doc(Dialect::Sqlite, Table::Customers, &m, "cus_1");
        assert!(sql.text.contains("?1") && sql.text.contains("?2"));
        let sql = get_doc(Dialect::Postgres, Table::Customers, &m, "cus_1");
        assert!(sql.text.contains("$1") && sql.text.contains("$2"));
    }

    #[test]
    fn search_binds_every_value() {
        let m = Scope {
            merchant_id: MerchantId::parse("acct_x1").unwrap(),
            livemode: false,
        };
        let q = SearchQuery::parse("email:'a@b.c' AND metadata['k']:'v' AND name~'jen'").unwrap();
        let sql = search_docs(Dialect::Postgres, Table::Customers, &m, &q, Some(5), 10).unwrap();
        assert_eq!(sql.params.len(), 8); // merchant, livemode, seq, 3 clause values, metadata key, limit
        assert!(!sql.text.contains("a@b.c"));
        assert!(sql.text.contains("$8"));
    }

    #[test]
    #[should_panic(expected = "not an indexed column")]
    fn unknown_columns_are_a_programming_error() {
        let m = Scope {
            merchant_id: MerchantId::parse("acct_x1").unwrap(),
            livemode: false,
        };
        insert_doc(
            Dialect::Sqlite,
            Table::Customers,
            &m,
            "cus_1",
            1,
            &[("status", SqlValue::Null)],
            "{}",
        );
    }
}
