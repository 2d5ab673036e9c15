//! Stripe's search query language, parsed into a small AST that the store
//! turns into SQL over allowed fields only.
//!
//! ```text
//! query   := clause ((AND | OR | <space>) clause)*      -- AND and OR never mixed
//! clause  := ['-'] field op value
//! field   := name | metadata['key'] | metadata["key"]
//! op      := ':' | '~' | '>' | '<' | '>=' | '<='
//! value   := 'text' | "text" | number | null
//! ```

/// At most this many clauses, as Stripe allows.
pub const SEARCH_CLAUSES_MAX: usize = 10;
/// Longest query text accepted.
pub const SEARCH_QUERY_CHARS_MAX: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchField {
    Attribute(String),
    Metadata(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchOp {
    /// `:` exact match (case-insensitive for text, as Stripe does).
    Equals,
    /// `~` substring match, at least 3 characters.
    Contains,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchValue {
    Text(String),
    Integer(i64),
    Null,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchClause {
    pub negated: bool,
    pub field: SearchField,
    pub op: SearchOp,
    pub value: SearchValue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conjunction {
    And,
    Or,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery {
    pub clauses: Vec<SearchClause>,
    pub conjunction: Conjunction,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Invalid search query at character {position}: {message}")]
pub struct SearchSyntaxError {
    /// 1-based character position of the problem.
    pub position: usize,
    pub message: String,
}

impl SearchQuery {
    pub fn parse(text: &str) -> Result<Self, SearchSyntaxError> {
        if text.chars().count() > SEARCH_QUERY_CHARS_MAX {
            return Err(error_at(1, "the query is too long"));
        }
        Parser::new(text).query()
    }
}

fn error_at(position: usize, message: &str) -> SearchSyntaxError {
    SearchSyntaxError {
        position,
        message: message.to_owned(),
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn new(text: &str) -> Self {
        Self {
            chars: text.chars().collect(),
            at: 0,
        }
    }

    fn fail<T>(&self, message: &str) -> Result<T, SearchSyntaxError> {
        Err(error_at(self.at + 1, message))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_spaces(&mut self) -> bool {
        let start = self.at;
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
        self.at > start
    }

    fn query(&mut self) -> Result<SearchQuery, SearchSyntaxError> {
        let mut clauses = vec![];
        let mut conjunction = None;
        self.skip_spaces();
        if self.peek().is_none() {
            return self.fail("expected a clause such as email:'jenny@example.com'");
        }
        loop {
            if clauses.len() == SEARCH_CLAUSES_MAX {
                return self.fail("a query may have at most 10 clauses");
            }
            clauses.push(self.clause()?);
            let spaced = self.skip_spaces();
            if self.peek().is_none() {
                break;
            }
            let joint = match self.keyword() {
                Some(joint) => joint,
                None if spaced => Conjunction::And,
                None => return self.fail("expected a space, AND or OR between clauses"),
            };
            if conjunction.is_some_and(|seen| seen != joint) {
                return self.fail("AND and OR cannot be mixed in one query");
            }
            conjunction = Some(joint);
            self.skip_spaces();
        }
        Ok(SearchQuery {
            clauses,
            conjunction: conjunction.unwrap_or(Conjunction::And),
        })
    }

    fn keyword(&mut self) -> Option<Conjunction> {
        for (word, joint) in [("AND", Conjunction::And), ("OR", Conjunction::Or)] {
            let end = self.at + word.len();
            let matches = end <= self.chars.len()
                && self.chars[self.at..end]
                    .iter()
                    .collect::<String>()
                    .eq_ignore_ascii_case(word)
                && self.chars.get(end).is_some_and(|c| c.is_whitespace());
            if matches {
                self.at = end;
                return Some(joint);
            }
        }
        None
    }

    fn clause(&mut self) -> Result<SearchClause, SearchSyntaxError> {
        let negated = self.peek() == Some('-');
        if negated {
            self.at += 1;
        }
        let field = self.field()?;
        let op = self.op()?;
        let value = self.value()?;
        if op == SearchOp::Contains
            && !matches!(&value, SearchValue::Text(t) if t.chars().count() >= 3)
        {
            return self.fail("'~' needs a quoted value of at least 3 characters");
        }
        Ok(SearchClause {
            negated,
            field,
            op,
            value,
        })
    }

    fn field(&mut self) -> Result<SearchField, SearchSyntaxError> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            self.at += 1;
        }
        let name: String = self.chars[start..self.at].iter().collect();
        if name.is_empty() {
            return self.fail("expected a field name");
        }
        if name == "metadata" && self.peek() == Some('[') {
            self.at += 1;
            let key = self.quoted()?;
            if self.peek() != Some(']') {
                return self.fail("expected ']' after the metadata key");
            }
            self.at += 1;
            return Ok(SearchField::Metadata(key));
        }
        Ok(SearchField::Attribute(name))
    }

    fn op(&mut self) -> Result<SearchOp, SearchSyntaxError> {
        let op = match (self.peek(), self.chars.get(self.at + 1).copied()) {
            (Some('>'), Some('=')) => (SearchOp::GreaterOrEqual, 2),
            (Some('<'), Some('=')) => (SearchOp::LessOrEqual, 2),
            (Some('>'), _) => (SearchOp::Greater, 1),
            (Some('<'), _) => (SearchOp::Less, 1),
            (Some(':'), _) => (SearchOp::Equals, 1),
            (Some('~'), _) => (SearchOp::Contains, 1),
            _ => return self.fail("expected one of ':', '~', '>', '<', '>=', '<='"),
        };
        self.at += op.1;
        Ok(op.0)
    }

    fn value(&mut self) -> Result<SearchValue, SearchSyntaxError> {
        match self.peek() {
            Some('\'') | Some('"') => Ok(SearchValue::Text(self.quoted()?)),
            Some(c) if c.is_ascii_digit() || c == '-' => {
                let start = self.at;
                self.at += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.at += 1;
                }
                let digits: String = self.chars[start..self.at].iter().collect();
                match digits.parse() {
                    Ok(number) => Ok(SearchValue::Integer(number)),
                    Err(_) => {
                        self.at = start;
                        self.fail("expected a whole number")
                    }
                }
            }
            _ if self.starts_with_word("null") => {
                self.at += 4;
                Ok(SearchValue::Null)
            }
            _ => self.fail("expected a quoted value, a number or null"),
        }
    }

    fn starts_with_word(&self, word: &str) -> bool {
        let end = self.at + word.len();
        end <= self.chars.len()
            && self.chars[self.at..end].iter().collect::<String>() == word
            && !self
                .chars
                .get(end)
                .is_some_and(|c| c.is_ascii_alphanumeric())
    }

    fn quoted(&mut self) -> Result<String, SearchSyntaxError> {
        let quote = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return self.fail("expected a quoted value"),
        };
        self.at += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return self.fail("unterminated quoted value"),
                Some('\\') if self.chars.get(self.at + 1) == Some(&quote) => {
                    text.push(quote);
                    self.at += 2;
                }
                Some(c) if c == quote => {
                    self.at += 1;
                    return Ok(text);
                }
                Some(c) => {
                    text.push(c);
                    self.at += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_clauses_with_and_or_and_spaces() {
        let q = SearchQuery::parse("email:'a@b.co' AND name~\"jen\"").unwrap();
        assert_eq!(q.conjunction, Conjunction::And);
        assert_eq!(q.clauses.len(), 2);
        assert_eq!(q.clauses[1].op, SearchOp::Contains);
        let q = SearchQuery::parse("status:'succeeded' or amount>=100").unwrap();
        assert_eq!(q.conjunction, Conjunction::Or);
        assert_eq!(q.clauses[1].value, SearchValue::Integer(100));
        let q = SearchQuery::parse("-name:'x'   metadata['order']:'6735'").unwrap();
        assert!(q.clauses[0].negated);
        assert_eq!(q.clauses[1].field, SearchField::Metadata("order".into()));
    }

    #[test]
    fn mixing_and_or_is_refused() {
        let err = SearchQuery::parse("a:'1' AND b:'2' OR c:'3'").unwrap_err();
        assert!(err.message.contains("mixed"));
    }

    #[test]
    fn errors_name_the_position() {
        let err = SearchQuery::parse("email='x'").unwrap_err();
        assert_eq!(err.position, 6);
        assert!(SearchQuery::parse("email:'unterminated").is_err());
        assert!(SearchQuery::parse("").is_err());
        assert!(SearchQuery::parse("name~'ab'").is_err());
        assert!(SearchQuery::parse("email:'a'email:'b'").is_err());
    }

    #[test]
    fn escaped_quotes_are_kept() {
        let q = SearchQuery::parse(r"name:'O\'Brien'").unwrap();
        assert_eq!(q.clauses[0].value, SearchValue::Text("O'Brien".into()));
    }
}
