//! SQL text, written once for both dialects. Values are always bound,
//! never spliced into the text.

pub(crate) mod accounts;
pub(crate) mod docs;
pub(crate) mod encryption_keys;
pub(crate) mod instances;
pub(crate) mod ledger;
pub(crate) mod reversals;
pub(crate) mod risk;
pub(crate) mod risk_bulk;
pub(crate) mod secret_checks;
pub(crate) mod webhooks;

use crate::model::SqlValue;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// SQL text and the values for its placeholders, in order.
#[derive(Debug)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<SqlValue>,
}

pub(crate) struct Builder {
    pub(crate) dialect: Dialect,
    text: String,
    params: Vec<SqlValue>,
}

impl Builder {
    pub(crate) fn new(dialect: Dialect, text: &str) -> Self {
        Self {
            dialect,
            text: text.to_owned(),
            params: vec![],
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Records `value` and returns its numbered placeholder text.
    pub(crate) fn placeholder(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        let n = self.params.len();
        match self.dialect {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn bind(&mut self, value: SqlValue) -> &mut Self {
        let placeholder = self.placeholder(value);
        self.text.push_str(&placeholder);
        self
    }

    pub(crate) fn finish(self) -> Sql {
        Sql {
            text: self.text,
            params: self.params,
        }
    }
}

/// A fixed statement written with SQLite's numbered `?N` placeholders, in
/// the given dialect (PostgreSQL spells them `$N`).
pub(crate) fn fixed(dialect: Dialect, text: &'static str, params: Vec<SqlValue>) -> Sql {
    let text = match dialect {
        Dialect::Sqlite => text.to_owned(),
        Dialect::Postgres => text.replace('?', "$"),
    };
    Sql { text, params }
}
