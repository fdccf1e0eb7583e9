//! Text to syntax tree: the [`lexer`] and the [`parser`]; [`ast`] is what they produce.
//!
//! Nothing here knows about fields, features or types; that is the checker's job.

pub mod ast;
mod expr_parser;
pub mod lexer;
pub mod parser;

use crate::diag::{Diagnostic, Span};

/// Lex and parse one file, returning every item that parsed and every error.
pub fn parse(text: &str) -> (Vec<ast::Item>, Vec<(Diagnostic, Span)>) {
    let (tokens, mut errors) = lexer::lex(text);
    let (items, parse_errors) = parser::Parser::new(&tokens).parse_file();
    errors.extend(parse_errors);
    (items, errors)
}
