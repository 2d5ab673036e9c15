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
pub(crate) mod risk_history;
pub(crate) mod secret_checks;
pub(crate) mod webhooks;
pub(crate) mod with_writes;

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
        let mut owned = String::with_capacity(text.len() + TEXT_ROOM_BYTES);
        owned.push_str(text);
        Self {
            dialect,
            text: owned,
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
        let mut text = String::with_capacity(PLACEHOLDER_BYTES_MAX);
        push_placeholder(&mut text, self.dialect, self.params.len());
        text
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn bind(&mut self, value: SqlValue) -> &mut Self {
        self.params.push(value);
        push_placeholder(&mut self.text, self.dialect, self.params.len());
        self
    }

    /// Appends `part`, a statement rendered on its own, with its numbered
    /// placeholders renumbered after the ones already bound here, and takes
    /// its values: so that statements built by their own builders can be
    /// nested in one (a `UNION ALL` of reads, a `WITH` of writes). Every
    /// sigil of `part` (`$` or `?`) must be a numbered placeholder: its
    /// values are bound, and no text of ours spells one in a literal.
    pub(crate) fn append(&mut self, part: Sql) -> &mut Self {
        let sigil = match self.dialect {
            Dialect::Sqlite => '?',
            Dialect::Postgres => '$',
        };
        let offset = self.params.len();
        let mut rest = part.text.as_str();
        while let Some(at) = rest.find(sigil) {
            self.text.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let number: usize = rest[..digits]
                .parse()
                .expect("every sigil of an appended statement is a numbered placeholder");
            assert!(
                (1..=part.params.len()).contains(&number),
                "placeholder {sigil}{number} of an appended statement has no value"
            );
            push_placeholder(&mut self.text, self.dialect, number + offset);
            rest = &rest[digits..];
        }
        self.text.push_str(rest);
        self.params.extend(part.params);
        self
    }

    pub(crate) fn finish(self) -> Sql {
        Sql {
            text: self.text,
            params: self.params,
        }
    }
}

/// Room reserved past a builder's first text for the clauses and
/// placeholders appended to it, so that a statement's text is rarely
/// copied to grow (every write of every payment builds its statements).
const TEXT_ROOM_BYTES: usize = 256;
/// `?` or `$` and the digits of a `usize`.
const PLACEHOLDER_BYTES_MAX: usize = 21;

/// Appends `?N` (SQLite) or `$N` (PostgreSQL) to `text`, without the
/// formatting machinery or a temporary string: every bound value of every
/// statement passes here (a callgrind profile put `format!` here at 2 % of
/// a payment's instructions).
fn push_placeholder(text: &mut String, dialect: Dialect, n: usize) {
    text.push(match dialect {
        Dialect::Sqlite => '?',
        Dialect::Postgres => '$',
    });
    let mut digits = [0u8; PLACEHOLDER_BYTES_MAX - 1];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    text.push_str(std::str::from_utf8(&digits[start..]).expect("ASCII digits"));
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

#[cfg(test)]
mod placeholder_tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_as_format_would_write_them() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let sigil = if dialect == Dialect::Sqlite { '?' } else { '$' };
            for n in [1, 9, 10, 99, 100, 12_345, usize::MAX] {
                let mut text = String::from("x = ");
                push_placeholder(&mut text, dialect, n);
                assert_eq!(text, format!("x = {sigil}{n}"));
            }
            let mut b = Builder::new(dialect, "SELECT ");
            for i in 0..12 {
                b.bind(SqlValue::Integer(i));
            }
            let key = b.placeholder(SqlValue::Null);
            assert_eq!(key, format!("{sigil}13"));
            let expected: String = (1..=12).map(|n| format!("{sigil}{n}")).collect();
            assert_eq!(b.finish().text, format!("SELECT {expected}"));
        }
    }

    #[test]
    fn placeholders_are_numbered_after_the_ones_before() {
        for (dialect, sigil) in [(Dialect::Postgres, '$'), (Dialect::Sqlite, '?')] {
            let mut b = Builder::new(dialect, "SELECT ");
            b.bind(SqlValue::Integer(1)).push(" UNION (");
            let part = Sql {
                text: format!("x = {sigil}1 AND y = {sigil}12 OR z = {sigil}2 OR w = {sigil}1"),
                params: (2..14).map(SqlValue::Integer).collect(),
            };
            b.append(part).push(")");
            let sql = b.finish();
            assert_eq!(sql.params.len(), 13);
            let expected = format!(
                "SELECT {sigil}1 UNION (x = {sigil}2 AND y = {sigil}13 OR z = {sigil}3 OR w = {sigil}2)"
            );
            assert_eq!(sql.text, expected);
            assert_eq!(sql.params[1], SqlValue::Integer(2));
            assert_eq!(sql.params[12], SqlValue::Integer(13));
        }
    }

    #[test]
    #[should_panic(expected = "has no value")]
    fn an_appended_placeholder_without_a_value_is_a_programming_error() {
        let mut b = Builder::new(Dialect::Postgres, "SELECT ");
        b.append(Sql {
            text: "$2".to_owned(),
            params: vec![SqlValue::Null],
        });
    }
}
