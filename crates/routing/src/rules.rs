//! The routing rule language, one rule per text:
//!
//! ```text
//! rule      := target ["if" or_expr] END
//! target    := "route" "to" ACCOUNT
//!            | "split" ACCOUNT PERCENT ("," ACCOUNT PERCENT)*
//!            | "prefer" ACCOUNT ("," ACCOUNT)*
//! or_expr   := and_expr ("or" and_expr)*
//! and_expr  := unary ("and" unary)*
//! unary     := "not" unary | "(" or_expr ")" | :attribute: op value
//! op        := = | == | != | < | <= | > | >=
//! value     := number | 'text'
//! ```
//!
//! `ACCOUNT` is a connector account id (`ca_…`); a split's percentages are
//! whole numbers from 1 that add up to 100, each account named once.
//! Numbers compare with numeric attributes (`:amount:`, `:amount_in_usd:`,
//! in major units: `> 1000` is a thousand), text with text attributes, `=`
//! and `!=` only; text compares case-insensitively for `:currency:`,
//! `:card_brand:`, `:card_funding:` and `:card_country:` (`'EUR'` is
//! `'eur'`), exactly otherwise. Errors name the line and column (1-based)
//! and what was expected, as the risk rules' do.

use crate::attributes::{Attribute, Kind, Value, MICROS_PER_UNIT};
use portcullis_risk::rules::lexer::{Token, TokenStream};
use portcullis_risk::rules::{all_of, any_of, Cmp, ParseError};

/// Most accounts one rule names.
pub const ACCOUNTS_MAX: usize = 16;
/// Deepest nesting of `not` and parentheses.
const DEPTH_MAX: u32 = 32;

/// What a rule does when it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Send the payment to this account.
    Route(String),
    /// Send each payment to one of these accounts, by weight (percent).
    Split(Vec<(String, u8)>),
    /// Try these accounts first, in this order (the failover order); does
    /// not itself decide.
    Prefer(Vec<String>),
}

/// A condition over a payment's attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Compare(Attribute, Cmp, Value),
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

/// One parsed rule; no condition means always.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingRule {
    pub target: Target,
    pub condition: Option<Condition>,
}

impl RoutingRule {
    pub fn parse(text: &str) -> Result<RoutingRule, ParseError> {
        let mut parser = Parser {
            stream: TokenStream::new(text)?,
        };
        let target = parser.target()?;
        let condition = if parser.peek().token == Token::Word("if".into()) {
            parser.advance();
            Some(parser.or_expr(0)?)
        } else {
            None
        };
        if parser.peek().token != Token::End {
            let wanted = if condition.is_some() {
                "'and', 'or' or the end of the rule"
            } else {
                "'if' or the end of the rule"
            };
            return Err(parser.expected(wanted));
        }
        Ok(RoutingRule { target, condition })
    }

    /// Every account the rule names, in its order.
    pub fn accounts(&self) -> Vec<&str> {
        match &self.target {
            Target::Route(account) => vec![account.as_str()],
            Target::Split(weights) => weights.iter().map(|(a, _)| a.as_str()).collect(),
            Target::Prefer(accounts) => accounts.iter().map(String::as_str).collect(),
        }
    }
}

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

fn is_account_id(word: &str) -> bool {
    word.strip_prefix("ca_")
        .is_some_and(|rest| !rest.is_empty() && rest.len() <= 64)
}

impl Parser {
    fn account(&mut self, seen: &[String]) -> Result<String, ParseError> {
        match &self.peek().token {
            Token::Word(word) if is_account_id(word) && !seen.contains(word) => {
                let word = word.clone();
                self.advance();
                Ok(word)
            }
            Token::Word(word) if seen.contains(word) => {
                Err(self.expected("an account not named before in this rule"))
            }
            _ => Err(self.expected("a connector account id (ca_…)")),
        }
    }

    fn target(&mut self) -> Result<Target, ParseError> {
        let word = match &self.peek().token {
            Token::Word(word) => word.clone(),
            _ => return Err(self.expected("'route', 'split' or 'prefer'")),
        };
        match word.as_str() {
            "route" => {
                self.advance();
                self.keyword("to")?;
                Ok(Target::Route(self.account(&[])?))
            }
            "split" => {
                self.advance();
                self.split()
            }
            "prefer" => {
                self.advance();
                let mut accounts = vec![self.account(&[])?];
                while self.peek().token == Token::Comma {
                    self.advance();
                    self.check_count(accounts.len())?;
                    accounts.push(self.account(&accounts)?);
                }
                Ok(Target::Prefer(accounts))
            }
            _ => Err(self.expected("'route', 'split' or 'prefer'")),
        }
    }

    fn check_count(&self, count: usize) -> Result<(), ParseError> {
        if count >= ACCOUNTS_MAX {
            return Err(self.expected(&format!("at most {ACCOUNTS_MAX} accounts")));
        }
        Ok(())
    }

    fn split(&mut self) -> Result<Target, ParseError> {
        let mut weights: Vec<(String, u8)> = Vec::new();
        let mut total: u32 = 0;
        loop {
            let seen: Vec<String> = weights.iter().map(|(a, _)| a.clone()).collect();
            self.check_count(seen.len())?;
            let account = self.account(&seen)?;
            let percent = match self.peek().token {
                Token::Number(micros)
                    if micros % MICROS_PER_UNIT == 0
                        && (1..=100).contains(&(micros / MICROS_PER_UNIT)) =>
                {
                    (micros / MICROS_PER_UNIT) as u8
                }
                _ => return Err(self.expected("a whole percentage from 1 to 100")),
            };
            let at = self.advance();
            total += u32::from(percent);
            weights.push((account, percent));
            if self.peek().token != Token::Comma {
                if total != 100 {
                    return Err(ParseError {
                        line: at.line,
                        column: at.column,
                        expected: "percentages that add up to 100".to_owned(),
                        found: format!("a total of {total}"),
                    });
                }
                return Ok(Target::Split(weights));
            }
            self.advance();
        }
    }

    fn or_expr(&mut self, depth: u32) -> Result<Condition, ParseError> {
        let mut terms = vec![self.and_expr(depth)?];
        while self.peek().token == Token::Word("or".into()) {
            self.advance();
            terms.push(self.and_expr(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Condition::Or(terms)
        })
    }

    fn and_expr(&mut self, depth: u32) -> Result<Condition, ParseError> {
        let mut terms = vec![self.unary(depth)?];
        while self.peek().token == Token::Word("and".into()) {
            self.advance();
            terms.push(self.unary(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Condition::And(terms)
        })
    }

    fn unary(&mut self, depth: u32) -> Result<Condition, ParseError> {
        if depth >= DEPTH_MAX {
            return Err(self.expected(&format!("at most {DEPTH_MAX} levels of nesting")));
        }
        match self.peek().token.clone() {
            Token::Word(word) if word == "not" => {
                self.advance();
                Ok(Condition::Not(Box::new(self.unary(depth + 1)?)))
            }
            Token::Open => {
                self.advance();
                let inner = self.or_expr(depth + 1)?;
                if self.peek().token != Token::Close {
                    return Err(self.expected("')'"));
                }
                self.advance();
                Ok(inner)
            }
            Token::Signal(name) => self.comparison(&name),
            _ => {
                Err(self
                    .expected("an attribute (:amount:, :currency:, :card_brand:, …), 'not' or '('"))
            }
        }
    }

    fn comparison(&mut self, name: &str) -> Result<Condition, ParseError> {
        let Some(attribute) = Attribute::parse(name) else {
            let known = crate::attributes::NAMES.join(":, :");
            return Err(self.expected(&format!("a known attribute (:{known}: or :metadata.KEY:)")));
        };
        self.advance();
        let cmp = match self.peek().token {
            Token::Op(op) => Cmp::parse(op),
            _ => return Err(self.expected("a comparison (=, !=, <, <=, >, >=)")),
        };
        self.advance();
        let value = match (attribute.kind(), self.peek().token.clone()) {
            (Kind::Number, Token::Number(micros)) => Value::Number(micros),
            (Kind::Text, Token::Text(text)) if matches!(cmp, Cmp::Eq | Cmp::Ne) => {
                Value::Text(normalized(&attribute, &text))
            }
            (Kind::Text, Token::Text(_)) => {
                self.back();
                return Err(self.expected("'=' or '!=' (text has no order)"));
            }
            (Kind::Number, _) => return Err(self.expected("a number")),
            (Kind::Text, _) => return Err(self.expected("a 'quoted' text")),
        };
        self.advance();
        Ok(Condition::Compare(attribute, cmp, value))
    }
}

/// Codes compare case-insensitively: stored lowercase (countries upper).
fn normalized(attribute: &Attribute, text: &str) -> String {
    match attribute {
        Attribute::Currency | Attribute::CardBrand | Attribute::CardFunding => {
            text.to_ascii_lowercase()
        }
        Attribute::CardCountry => text.to_ascii_uppercase(),
        _ => text.to_owned(),
    }
}

impl Condition {
    /// Whether `payment` meets the condition; an unknown attribute makes
    /// its comparison false (and `not` of it false too: unknown is never
    /// a match either way).
    pub fn holds(&self, payment: &crate::Payment) -> Option<bool> {
        match self {
            Condition::Compare(attribute, cmp, expected) => {
                let actual = attribute.of(payment)?;
                Some(compare(&actual, *cmp, expected))
            }
            Condition::Not(inner) => inner.holds(payment).map(|held| !held),
            Condition::And(terms) => all_of(terms.iter().map(|t| t.holds(payment))),
            Condition::Or(terms) => any_of(terms.iter().map(|t| t.holds(payment))),
        }
    }
}

fn compare(actual: &Value, cmp: Cmp, expected: &Value) -> bool {
    let order = match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => a.cmp(b),
        (Value::Text(a), Value::Text(b)) => a.cmp(b),
        _ => return false,
    };
    cmp.holds(order)
}
