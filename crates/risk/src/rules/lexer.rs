//! The rule language's tokens, each with the line and column (1-based,
//! in characters) where it starts, so errors can point at it.

use super::ParseError;
use crate::signals::MICROS_PER_UNIT;

/// Longest rule text accepted, in bytes.
pub const RULE_BYTES_MAX: usize = 4_096;
/// Most tokens one rule may have.
pub const TOKENS_MAX: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// A bare word: an action, `if`, `and`, `or`, `not`, `in`, `true`, `false`.
    Word(String),
    /// `:name:`
    Signal(String),
    /// `@alias`
    List(String),
    /// A number in micro-units.
    Number(i64),
    /// `'text'` or `"text"`.
    Text(String),
    /// `=`, `==`, `!=`, `<`, `<=`, `>`, `>=`.
    Op(&'static str),
    Open,
    Close,
    /// `,` (the routing rules' lists; no risk rule has one).
    Comma,
    End,
}

impl Token {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("'{w}'"),
            Token::Signal(s) => format!("':{s}:'"),
            Token::List(l) => format!("'@{l}'"),
            Token::Number(_) => "a number".to_owned(),
            Token::Text(t) => format!("the string '{t}'"),
            Token::Op(op) => format!("'{op}'"),
            Token::Open => "'('".to_owned(),
            Token::Close => "')'".to_owned(),
            Token::Comma => "','".to_owned(),
            Token::End => "the end of the rule".to_owned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned {
    pub token: Token,
    pub line: u32,
    pub column: u32,
}

/// A rule's tokens and the parser's place in them: what a recursive-descent
/// parser over this lexer reads with (the risk rules' and routing's).
#[derive(Debug)]
pub struct TokenStream {
    tokens: Vec<Spanned>,
    at: usize,
}

impl TokenStream {
    pub fn new(text: &str) -> Result<TokenStream, ParseError> {
        Ok(TokenStream {
            tokens: tokenize(text)?,
            at: 0,
        })
    }

    pub fn peek(&self) -> &Spanned {
        // The lexer always ends with `End`, and `advance` never passes it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    pub fn advance(&mut self) -> Spanned {
        let token = self.peek().clone();
        if token.token != Token::End {
            self.at += 1;
        }
        token
    }

    /// Steps back one token (to point an error at an earlier one).
    pub fn back(&mut self) {
        self.at = self.at.saturating_sub(1);
    }

    /// An error at the current token: `what` was expected.
    pub fn expected(&self, what: &str) -> ParseError {
        let at = self.peek();
        ParseError {
            line: at.line,
            column: at.column,
            expected: what.to_owned(),
            found: at.token.describe(),
        }
    }

    pub fn is_word(&self, word: &str) -> bool {
        matches!(&self.peek().token, Token::Word(w) if w == word)
    }

    /// Takes the keyword `word`, or errs expecting it.
    pub fn keyword(&mut self, word: &str) -> Result<(), ParseError> {
        if !self.is_word(word) {
            return Err(self.expected(&format!("'{word}'")));
        }
        self.advance();
        Ok(())
    }
}

struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: u32,
    column: u32,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek().filter(|c| keep(*c)) {
            out.push(c);
            self.bump();
        }
        out
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn error(line: u32, column: u32, expected: &str, found: &str) -> ParseError {
    ParseError {
        line,
        column,
        expected: expected.to_owned(),
        found: found.to_owned(),
    }
}

/// Splits `text` into tokens, ending with [`Token::End`].
pub fn tokenize(text: &str) -> Result<Vec<Spanned>, ParseError> {
    if text.len() > RULE_BYTES_MAX {
        return Err(error(
            1,
            1,
            &format!("a rule of at most {RULE_BYTES_MAX} bytes"),
            "a longer one",
        ));
    }
    let mut cursor = Cursor {
        chars: text.chars().peekable(),
        line: 1,
        column: 1,
    };
    let mut tokens = Vec::new();
    loop {
        cursor.take_while(char::is_whitespace);
        let (line, column) = (cursor.line, cursor.column);
        let token = match cursor.peek() {
            None => Token::End,
            Some(c) => next_token(&mut cursor, c, line, column)?,
        };
        let end = token == Token::End;
        tokens.push(Spanned {
            token,
            line,
            column,
        });
        if end {
            return Ok(tokens);
        }
        if tokens.len() >= TOKENS_MAX {
            return Err(error(
                line,
                column,
                &format!("at most {TOKENS_MAX} tokens"),
                "more",
            ));
        }
    }
}

fn next_token(
    cursor: &mut Cursor<'_>,
    c: char,
    line: u32,
    column: u32,
) -> Result<Token, ParseError> {
    match c {
        ',' => {
            cursor.bump();
            Ok(Token::Comma)
        }
        '(' | ')' => {
            cursor.bump();
            Ok(if c == '(' { Token::Open } else { Token::Close })
        }
        ':' => {
            cursor.bump();
            // `.` lets a name have parts (routing's `:metadata.tier:`).
            let name = cursor.take_while(|c| is_name_char(c) || c == '.');
            if name.is_empty() {
                return Err(error(
                    line,
                    column + 1,
                    "a signal name after ':'",
                    &found(cursor),
                ));
            }
            if cursor.peek() != Some(':') {
                return Err(error(
                    cursor.line,
                    cursor.column,
                    "':' closing the signal name",
                    &found(cursor),
                ));
            }
            cursor.bump();
            Ok(Token::Signal(name))
        }
        '@' => {
            cursor.bump();
            let name = cursor.take_while(is_name_char);
            if name.is_empty() {
                return Err(error(
                    line,
                    column + 1,
                    "a list alias after '@'",
                    &found(cursor),
                ));
            }
            Ok(Token::List(name))
        }
        '\'' | '"' => text(cursor, c, line, column),
        '=' | '!' | '<' | '>' => operator(cursor, c, line, column),
        c if c.is_ascii_digit() || c == '-' => number(cursor, line, column),
        c if is_name_char(c) => Ok(Token::Word(cursor.take_while(is_name_char))),
        other => Err(error(
            line,
            column,
            "a signal, value, operator or keyword",
            &format!("'{other}'"),
        )),
    }
}

fn found(cursor: &mut Cursor<'_>) -> String {
    match cursor.peek() {
        None => "the end of the rule".to_owned(),
        Some(c) if c.is_whitespace() => "a space".to_owned(),
        Some(c) => format!("'{c}'"),
    }
}

fn text(cursor: &mut Cursor<'_>, quote: char, line: u32, column: u32) -> Result<Token, ParseError> {
    cursor.bump();
    let body = cursor.take_while(|c| c != quote && c != '\n');
    if cursor.peek() != Some(quote) {
        return Err(error(
            line,
            column,
            &format!("a closing {quote} for the string starting here"),
            "none",
        ));
    }
    cursor.bump();
    Ok(Token::Text(body))
}

fn operator(cursor: &mut Cursor<'_>, c: char, line: u32, column: u32) -> Result<Token, ParseError> {
    cursor.bump();
    let followed_by_eq = cursor.peek() == Some('=');
    if followed_by_eq {
        cursor.bump();
    }
    Ok(Token::Op(match (c, followed_by_eq) {
        ('=', _) => "=",
        ('!', true) => "!=",
        ('<', false) => "<",
        ('<', true) => "<=",
        ('>', false) => ">",
        ('>', true) => ">=",
        _ => return Err(error(line, column + 1, "'=' after '!'", &found(cursor))),
    }))
}

/// A decimal number with up to six fractional digits, as micro-units.
fn number(cursor: &mut Cursor<'_>, line: u32, column: u32) -> Result<Token, ParseError> {
    let negative = cursor.peek() == Some('-');
    if negative {
        cursor.bump();
    }
    let whole = cursor.take_while(|c| c.is_ascii_digit() || c == '_');
    let mut frac = String::new();
    if cursor.peek() == Some('.') {
        cursor.bump();
        frac = cursor.take_while(|c| c.is_ascii_digit());
    }
    let bad = || {
        error(
            line,
            column,
            "a number with at most 12 whole and 6 decimal digits",
            "a malformed number",
        )
    };
    let whole = whole.replace('_', "");
    if whole.is_empty() || whole.len() > 12 || frac.len() > 6 {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac_micros: i64 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
    let micros = whole * MICROS_PER_UNIT + frac_micros;
    Ok(Token::Number(if negative { -micros } else { micros }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_positions() {
        let tokens = tokenize("block if\n  :amount_in_usd: >= 12.5").unwrap();
        let kinds: Vec<_> = tokens.iter().map(|t| t.token.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                Token::Word("block".into()),
                Token::Word("if".into()),
                Token::Signal("amount_in_usd".into()),
                Token::Op(">="),
                Token::Number(12_500_000),
                Token::End,
            ]
        );
        assert_eq!((tokens[2].line, tokens[2].column), (2, 3));
        assert_eq!((tokens[4].line, tokens[4].column), (2, 22));
    }

    #[test]
    fn an_unclosed_signal_points_at_where_the_colon_should_be() {
        let err = tokenize("block if :amount > 5").unwrap_err();
        assert_eq!((err.line, err.column), (1, 17));
        assert!(err.expected.contains("':'"), "{err}");
    }
}
