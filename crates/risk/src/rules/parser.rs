//! Rule text → [`Rule`]: a recursive-descent parser over the lexer's
//! tokens. Grammar (keywords are case-sensitive, lowercase):
//!
//! ```text
//! rule       := action "if" or_expr END
//! action     := "block" | "review" | "request_3ds" | "allow"
//! or_expr    := and_expr ("or" and_expr)*
//! and_expr   := unary ("and" unary)*
//! unary      := "not" unary | "(" or_expr ")" | condition
//! condition  := operand [op operand | ["not"] "in" @list]
//! operand    := :signal: | number | 'text' | true | false
//! op         := = | == | != | < | <= | > | >=
//! ```
//!
//! A bare operand is a condition only when it is a boolean signal. Types
//! are checked here: numbers compare with numbers, text with text (`=`,
//! `!=` only), and `in` takes a text signal.

use super::lexer::{Spanned, Token, TokenStream};
use super::{Action, Cmp, Expr, Operand, ParseError, Rule};
use crate::signals::{Kind, Signal};

/// Deepest nesting of `not` and parentheses.
const DEPTH_MAX: u32 = 32;

struct Parser {
    stream: TokenStream,
}

impl std::ops::Deref for Parser {
    type Target = TokenStream;
    fn deref(&self) -> &TokenStream {
        &self.stream
    }
}

impl std::ops::DerefMut for Parser {
    fn deref_mut(&mut self) -> &mut TokenStream {
        &mut self.stream
    }
}

pub fn parse(text: &str) -> Result<Rule, ParseError> {
    let mut parser = Parser {
        stream: TokenStream::new(text)?,
    };
    let action = parser.action()?;
    parser.keyword("if")?;
    let condition = parser.or_expr(0)?;
    if parser.peek().token != Token::End {
        return Err(parser.expected("'and', 'or' or the end of the rule"));
    }
    let mut lists = Vec::new();
    condition.lists(&mut lists);
    Ok(Rule {
        action,
        condition,
        lists,
    })
}

impl Parser {
    fn action(&mut self) -> Result<Action, ParseError> {
        let action = match &self.peek().token {
            Token::Word(w) => Action::parse(w),
            _ => None,
        };
        let action = action.ok_or_else(|| {
            self.expected("an action: 'block', 'review', 'request_3ds' or 'allow'")
        })?;
        self.advance();
        Ok(action)
    }

    fn or_expr(&mut self, depth: u32) -> Result<Expr, ParseError> {
        let mut terms = vec![self.and_expr(depth)?];
        while self.is_word("or") {
            self.advance();
            terms.push(self.and_expr(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    fn and_expr(&mut self, depth: u32) -> Result<Expr, ParseError> {
        let mut terms = vec![self.unary(depth)?];
        while self.is_word("and") {
            self.advance();
            terms.push(self.unary(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::And(terms)
        })
    }

    fn unary(&mut self, depth: u32) -> Result<Expr, ParseError> {
        if depth >= DEPTH_MAX {
            return Err(self.expected(&format!("at most {DEPTH_MAX} levels of nesting")));
        }
        if self.is_word("not") {
            self.advance();
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.peek().token == Token::Open {
            self.advance();
            let inner = self.or_expr(depth + 1)?;
            if self.peek().token != Token::Close {
                return Err(self.expected("')'"));
            }
            self.advance();
            return Ok(inner);
        }
        self.condition()
    }

    fn operand(&mut self) -> Result<(Operand, Kind), ParseError> {
        let at = self.peek().clone();
        let operand = match &at.token {
            Token::Signal(name) => {
                let signal = Signal::from_name(name).ok_or_else(|| ParseError {
                    line: at.line,
                    column: at.column,
                    expected: "a known signal (see the README's list)".to_owned(),
                    found: at.token.describe(),
                })?;
                (Operand::Signal(signal), signal.kind())
            }
            Token::Number(n) => (Operand::Number(*n), Kind::Number),
            Token::Text(t) => (Operand::Text(t.clone()), Kind::Text),
            Token::Word(w) if w == "true" || w == "false" => {
                (Operand::Bool(w == "true"), Kind::Bool)
            }
            _ => {
                return Err(self.expected(
                    "a signal such as :amount_in_usd:, a number, a 'string', true or false",
                ))
            }
        };
        self.advance();
        Ok(operand)
    }

    fn condition(&mut self) -> Result<Expr, ParseError> {
        let start = self.peek().clone();
        let (left, left_kind) = self.operand()?;
        if self.is_word("in") || self.is_word("not") {
            return self.membership(left, left_kind, &start);
        }
        let op = match self.peek().token {
            Token::Op(op) => op,
            _ if left_kind == Kind::Bool && matches!(left, Operand::Signal(_)) => {
                return Ok(Expr::Compare(left, Cmp::Eq, Operand::Bool(true)));
            }
            _ => return Err(self.expected("a comparison operator (=, !=, <, <=, >, >=) or 'in'")),
        };
        let op_at = self.advance();
        let right_at = self.peek().clone();
        let (right, right_kind) = self.operand()?;
        let cmp = Cmp::parse(op);
        if left_kind != right_kind {
            return Err(type_error(
                &right_at,
                &format!("a {} value on the right of '{op}'", kind_name(left_kind)),
                right_kind,
            ));
        }
        if left_kind != Kind::Number && !matches!(cmp, Cmp::Eq | Cmp::Ne) {
            return Err(type_error(
                &op_at,
                "'=' or '!=' (only numbers are ordered)",
                left_kind,
            ));
        }
        Ok(Expr::Compare(left, cmp, right))
    }

    fn membership(
        &mut self,
        left: Operand,
        kind: Kind,
        start: &Spanned,
    ) -> Result<Expr, ParseError> {
        let negated = self.is_word("not");
        if negated {
            self.advance();
            if !self.is_word("in") {
                return Err(self.expected("'in' after 'not'"));
            }
        }
        self.advance();
        let Operand::Signal(signal) = left else {
            return Err(type_error(start, "a signal before 'in'", kind));
        };
        if kind != Kind::Text {
            return Err(type_error(start, "a text signal before 'in'", kind));
        }
        let alias = match &self.peek().token {
            Token::List(alias) => alias.clone(),
            _ => return Err(self.expected("a list such as @trusted_cards")),
        };
        self.advance();
        let test = Expr::InList(signal, alias);
        Ok(if negated {
            Expr::Not(Box::new(test))
        } else {
            test
        })
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Number => "number",
        Kind::Text => "text",
        Kind::Bool => "boolean",
    }
}

fn type_error(at: &Spanned, expected: &str, found: Kind) -> ParseError {
    ParseError {
        line: at.line,
        column: at.column,
        expected: expected.to_owned(),
        found: format!("a {} value", kind_name(found)),
    }
}
