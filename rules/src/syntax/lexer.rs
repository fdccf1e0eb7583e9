//! Hand-written lexer: source text to tokens with byte spans.
//!
//! The token set is small (names, numbers, durations, strings, a dozen
//! operators), so a hand lexer is shorter than a generator's grammar and gives
//! precise error spans. Keywords are lexed as names and recognised by the
//! parser, so an analyst's misspelt keyword gets a "did you mean" from the
//! parser rather than a lexer error. A bad character is reported (E001) and
//! skipped so one typo does not hide the rest of the file.

use crate::diag::{Code, Diagnostic, Span};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Name(String),
    Number(f64),
    /// A duration literal (`10m`, `24h`, `30d`), in milliseconds.
    Duration(i64),
    Str(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Assign,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Eof,
}

impl Tok {
    pub fn describe(&self) -> String {
        match self {
            Tok::Name(n) => format!("`{n}`"),
            Tok::Number(_) => "a number".into(),
            Tok::Duration(_) => "a duration".into(),
            Tok::Str(_) => "a string".into(),
            Tok::Eof => "end of file".into(),
            other => format!("`{}`", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::Assign => "=",
            Tok::Eq => "==",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            _ => "?",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// Lex `text`; errors are returned alongside the tokens (which always end in `Eof`).
pub fn lex(text: &str) -> (Vec<Token>, Vec<(Diagnostic, Span)>) {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut errors = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push(Token {
                    tok: Tok::Name(text[start..i].to_string()),
                    span: Span::new(start, i),
                });
            }
            b'0'..=b'9' => {
                let (tok, end, err) = number(text, start);
                i = end;
                if let Some(d) = err {
                    errors.push((d, Span::new(start, end)));
                }
                tokens.push(Token {
                    tok,
                    span: Span::new(start, end),
                });
            }
            b'"' => i = string(text, start, &mut tokens, &mut errors),
            _ => i = symbol(text, start, &mut tokens, &mut errors),
        }
    }
    tokens.push(Token {
        tok: Tok::Eof,
        span: Span::new(text.len(), text.len()),
    });
    (tokens, errors)
}

type Errors = Vec<(Diagnostic, Span)>;

/// Lex a string literal starting at the `"` at `start`; returns its end.
fn string(text: &str, start: usize, tokens: &mut Vec<Token>, errors: &mut Errors) -> usize {
    let bytes = text.as_bytes();
    let mut i = start;
    i += 1;
    let mut value = String::new();
    let mut closed = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                closed = true;
                i += 1;
                break;
            }
            b'\n' => break,
            b'\\' if i + 1 < bytes.len() && matches!(bytes[i + 1], b'"' | b'\\') => {
                value.push(bytes[i + 1] as char);
                i += 2;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                value.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if !closed {
        errors.push((
            Diagnostic::new(Code::UnterminatedString, "string literal is not closed")
                .hint("close the string with `\"` on the same line"),
            Span::new(start, i),
        ));
    }
    tokens.push(Token {
        tok: Tok::Str(value),
        span: Span::new(start, i),
    });
    i
}

/// Lex an operator or punctuation at `start` (or report an unexpected
/// character); returns its end.
fn symbol(text: &str, start: usize, tokens: &mut Vec<Token>, errors: &mut Errors) -> usize {
    let bytes = text.as_bytes();
    let (c, mut i) = (bytes[start], start);
    let two = bytes.get(i + 1).copied();
    let (tok, len) = match (c, two) {
        (b'=', Some(b'=')) => (Some(Tok::Eq), 2),
        (b'!', Some(b'=')) => (Some(Tok::Ne), 2),
        (b'<', Some(b'=')) => (Some(Tok::Le), 2),
        (b'>', Some(b'=')) => (Some(Tok::Ge), 2),
        (b'(', _) => (Some(Tok::LParen), 1),
        (b')', _) => (Some(Tok::RParen), 1),
        (b'[', _) => (Some(Tok::LBracket), 1),
        (b']', _) => (Some(Tok::RBracket), 1),
        (b',', _) => (Some(Tok::Comma), 1),
        (b':', _) => (Some(Tok::Colon), 1),
        (b'=', _) => (Some(Tok::Assign), 1),
        (b'<', _) => (Some(Tok::Lt), 1),
        (b'>', _) => (Some(Tok::Gt), 1),
        (b'+', _) => (Some(Tok::Plus), 1),
        (b'-', _) => (Some(Tok::Minus), 1),
        (b'*', _) => (Some(Tok::Star), 1),
        (b'/', _) => (Some(Tok::Slash), 1),
        _ => (None, text[i..].chars().next().map_or(1, char::len_utf8)),
    };
    // `&&` and `||` are reported once and read as `and` / `or`, so
    // the parser carries on without a cascade of follow-on errors.
    let doubled = matches!((c, two), (b'&', Some(b'&')) | (b'|', Some(b'|')));
    let len = if doubled { 2 } else { len };
    i += len;
    if doubled {
        let word = if c == b'&' { "and" } else { "or" };
        errors.push((
            Diagnostic::new(
                Code::UnexpectedChar,
                format!("unexpected `{}`", &text[start..i]),
            )
            .hint(format!("write `{word}`")),
            Span::new(start, i),
        ));
        tokens.push(Token {
            tok: Tok::Name(word.to_string()),
            span: Span::new(start, i),
        });
        return i;
    }
    match tok {
        Some(tok) => tokens.push(Token {
            tok,
            span: Span::new(start, i),
        }),
        None => {
            let ch = &text[start..i];
            let hint = match ch {
                "&" => "write `and` instead of `&&`",
                "|" => "write `or` instead of `||`",
                "!" => "write `not` instead of `!`",
                "'" => "strings use double quotes: \"like this\"",
                _ => "remove this character; comments start with `#`",
            };
            errors.push((
                Diagnostic::new(Code::UnexpectedChar, format!("unexpected character `{ch}`"))
                    .hint(hint),
                Span::new(start, i),
            ));
        }
    }
    i
}

/// A valid stand-in for a malformed duration, so the error is reported once
/// (not again as an out-of-range window).
const PLACEHOLDER_MS: i64 = 60_000;

/// Lex a number or a duration starting at `start`.
fn number(text: &str, start: usize) -> (Tok, usize, Option<Diagnostic>) {
    let bytes = text.as_bytes();
    let mut i = start;
    let mut dots = 0;
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_' || bytes[i] == b'.') {
        if bytes[i] == b'.' {
            // `1.` followed by a non-digit is not part of the number.
            if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                break;
            }
            dots += 1;
        }
        i += 1;
    }
    let digits: String = text[start..i].chars().filter(|c| *c != '_').collect();
    let unit_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    let unit = &text[unit_start..i];
    let value: Option<f64> = if dots > 1 { None } else { digits.parse().ok() };
    let Some(value) = value else {
        let d = Diagnostic::new(
            Code::BadNumber,
            format!("`{}` is not a number", &text[start..i]),
        )
        .hint("write numbers like 12, 5.00 or 1_000");
        return (Tok::Number(0.0), i, Some(d));
    };
    if unit.is_empty() {
        return (Tok::Number(value), i, None);
    }
    let scale = match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => {
            let d = Diagnostic::new(
                Code::BadDurationUnit,
                format!("unknown duration unit `{unit}`"),
            )
            .hint("durations are written like 30s, 10m, 24h or 365d (units: ms, s, m, h, d)");
            return (Tok::Duration(PLACEHOLDER_MS), i, Some(d));
        }
    };
    let ms = value * scale;
    if !ms.is_finite() || ms > 1e15 {
        let d = Diagnostic::new(Code::BadNumber, "duration is too large")
            .hint("windows and history periods are at most 30d and 365d");
        return (Tok::Duration(PLACEHOLDER_MS), i, Some(d));
    }
    (Tok::Duration(ms.round() as i64), i, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).0.into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_the_basic_tokens() {
        assert_eq!(
            toks("count over 10m >= 5.5 \"a\\\"b\" # c"),
            vec![
                Tok::Name("count".into()),
                Tok::Name("over".into()),
                Tok::Duration(600_000),
                Tok::Ge,
                Tok::Number(5.5),
                Tok::Str("a\"b".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn reports_and_continues() {
        let (tokens, errors) = lex("a && 10x \"open");
        assert_eq!(tokens[1].tok, Tok::Name("and".into()));
        let codes: Vec<_> = errors.iter().map(|(d, _)| d.code).collect();
        assert_eq!(
            codes,
            vec![
                Code::UnexpectedChar,
                Code::BadDurationUnit,
                Code::UnterminatedString
            ]
        );
        assert_eq!(tokens.last().map(|t| &t.tok), Some(&Tok::Eof));
    }
}
