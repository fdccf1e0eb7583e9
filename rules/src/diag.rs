//! Compiler-style diagnostics.
//!
//! Every problem the lexer, parser, checker or loader finds becomes a
//! [`Diagnostic`] with a stable code from [`Code`] (codes are never reused or
//! renumbered: tests, docs and analysts' muscle memory depend on them), a
//! position, a message and a hint. Passes never stop at the first error: they
//! collect into a [`Diagnostics`] so `verdict rules check` shows everything at
//! once. [`Diagnostics::render`] prints the source line with a caret under the
//! span, as plain text (the CLI decides about colour, this crate never emits
//! ANSI escapes).
//!
//! The renderer is hand-written on purpose; `annotate-snippets` and `ariadne`
//! were considered and cannot reproduce the text the tests compare
//! (`tests/api.rs`, this module's tests) and the README shows:
//! - the position line is always `  --> file:line:col` (two spaces), where
//!   annotate-snippets indents `-->` by the width of the line-number gutter
//!   (` --> ` for lines 1–9); ariadne draws a box-drawing frame instead;
//! - the footer is `  = hint: ...`; annotate-snippets only knows its fixed
//!   levels (`help`, `note`, ...) and puts an empty `  |` line before them;
//! - a diagnostic without a position prints `  --> file` and no snippet, and
//!   tabs before the caret are kept as tabs (annotate-snippets expands them).
//!
//! Near-miss suggestions ([`closest`]) use `strsim`'s Levenshtein distance
//! over characters, with this module's own threshold and abbreviation rule.

use std::fmt;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start,
            end: end.max(start),
        }
    }

    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

macro_rules! codes {
    ($($variant:ident = $code:literal, $summary:literal;)*) => {
        /// Stable diagnostic codes. The catalogue is in `rules/README.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code { $($variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as printed, e.g. `E023`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// One line describing the class of problem.
            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => $summary,)* }
            }

            pub fn parse(s: &str) -> Option<Code> {
                match s { $($code => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    UnexpectedChar = "E001", "unexpected character";
    UnterminatedString = "E002", "unterminated string literal";
    BadNumber = "E003", "malformed number literal";
    BadDurationUnit = "E004", "unknown duration unit";
    UnexpectedToken = "E010", "unexpected token";
    ExpectedName = "E011", "expected a name";
    ExpectedAction = "E012", "expected an action (allow, review, decline)";
    UnknownAggregate = "E013", "unknown window aggregate";
    UnknownHistory = "E014", "unknown history lookup";
    BadTemplate = "E015", "malformed reason template";
    DuplicateRuleOption = "E016", "rule option given twice";
    DuplicateFeature = "E020", "feature declared twice";
    DuplicateRule = "E021", "rule declared twice";
    DuplicateList = "E022", "list declared twice";
    UnknownName = "E023", "unknown name";
    UnknownFunction = "E024", "unknown function";
    ReservedName = "E025", "name is reserved";
    FeatureOrder = "E026", "feature used before its declaration";
    UnknownList = "E027", "unknown list";
    TemplateName = "E028", "unknown name in reason template";
    TypeMismatch = "E030", "operands of different types";
    NotBoolean = "E031", "condition is not a yes/no value";
    BadArithmetic = "E032", "arithmetic on a value that is not a number";
    ArgCount = "E033", "wrong number of arguments";
    ArgType = "E034", "argument of the wrong type";
    BadMembership = "E035", "`in` needs a text value and a list";
    BadFeatureType = "E036", "feature must be a number, duration, time or yes/no";
    BadAggregateField = "E037", "aggregate over a field of the wrong type";
    FilterNotField = "E038", "window filter may use transaction fields only";
    ScoreInFeature = "E039", "model score used in a feature";
    WindowRange = "E040", "window length out of range";
    HistoryRange = "E041", "history period out of range";
    PreviousText = "E042", "previous() of a text field";
    BadKey = "E043", "window key must be a text field";
    BadPriority = "E044", "priority is not an integer in range";
    TextOrdering = "E045", "ordering comparison on text";
    NotAField = "E046", "expected a transaction field";
    ListNotFound = "E050", "list file cannot be read";
    BadListLiteral = "E051", "list entries must be text";
    NoRuleFiles = "E060", "no .rules files found";
    UnreadableFile = "E061", "rules file cannot be read";
}

/// One problem, with where and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub file: String,
    /// 1-based line and column (in characters); 0 when the problem has no position.
    pub line: u32,
    pub col: u32,
    pub message: String,
    pub hint: Option<String>,
    /// The source line the caret points into, and the caret width.
    pub(crate) snippet: Option<(String, usize)>,
}

impl Diagnostic {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            file: String::new(),
            line: 0,
            col: 0,
            message: message.into(),
            hint: None,
            snippet: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Fill file, line, column and snippet from a span in `text`.
    pub(crate) fn locate(mut self, file: &str, text: &str, span: Span) -> Self {
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line_text = &text[line_start..line_end];
        self.file = file.to_string();
        self.line = text[..line_start].matches('\n').count() as u32 + 1;
        self.col = text[line_start..start].chars().count() as u32 + 1;
        let end = floor_char_boundary(text, span.end.min(line_end).max(start));
        let width = text[start..end].chars().count().max(1);
        self.snippet = Some((line_text.trim_end_matches('\r').to_string(), width));
        self
    }

    pub(crate) fn in_file(mut self, file: &str) -> Self {
        self.file = file.to_string();
        self
    }

    fn render_into(&self, out: &mut String) {
        use fmt::Write;
        let _ = writeln!(out, "error[{}]: {}", self.code.as_str(), self.message);
        if self.line > 0 {
            let _ = writeln!(out, "  --> {}:{}:{}", self.file, self.line, self.col);
        } else if !self.file.is_empty() {
            let _ = writeln!(out, "  --> {}", self.file);
        }
        if let Some((line_text, width)) = &self.snippet {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{number} | {line_text}");
            let indent: String = line_text
                .chars()
                .take(self.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{pad} | {indent}{}", "^".repeat(*width));
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "  = hint: {hint}");
        }
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.render_into(&mut s);
        f.write_str(s.trim_end())
    }
}

/// Every diagnostic of one compile, in file then position order.
#[derive(Debug, Clone, Default, PartialEq, thiserror::Error)]
#[error("{} error(s) in rule files", .items.len())]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub(crate) fn sort(&mut self) {
        self.items
            .sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    }

    /// All diagnostics as plain text: header, position, source line, caret, hint.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.items {
            d.render_into(&mut out);
            out.push('\n');
        }
        use fmt::Write;
        let _ = writeln!(out, "{} error(s)", self.items.len());
        out
    }
}

/// The closest candidate to `name` by edit distance, if close enough to be a
/// plausible typo.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .map(|c| {
            // An abbreviation (`amt` for `amount`) counts as a near miss.
            let d = strsim::levenshtein(name, c);
            let abbreviation =
                name.len() >= 3 && c.starts_with(&name[..1]) && is_subsequence(name, c);
            (if abbreviation { d.min(1) } else { d }, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

fn is_subsequence(short: &str, long: &str) -> bool {
    let mut it = long.chars();
    short.chars().all(|c| it.any(|l| l == c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["card_txn_10m", "amount", "country"];
        assert_eq!(closest("ammount", names.iter().copied()), Some("amount"));
        assert_eq!(
            closest("card_txn_1m", names.iter().copied()),
            Some("card_txn_10m")
        );
        assert_eq!(closest("zzzzzz", names.iter().copied()), None);
        assert_eq!(
            closest("amt", ["lat", "amount"].into_iter()),
            Some("amount")
        );
    }

    #[test]
    fn locate_and_render_caret() {
        let text = "rule a: decline when\n  amout > 5\n";
        let start = text.find("amout").unwrap();
        let d = Diagnostic::new(Code::UnknownName, "unknown name `amout`")
            .hint("did you mean `amount`?")
            .locate("x.rules", text, Span::new(start, start + 5));
        assert_eq!((d.line, d.col), (2, 3));
        let r = Diagnostics { items: vec![d] }.render();
        assert!(r.contains("error[E023]: unknown name `amout`"), "{r}");
        assert!(r.contains("  --> x.rules:2:3"), "{r}");
        assert!(r.contains("2 |   amout > 5\n  |   ^^^^^\n"), "{r}");
        assert!(r.contains("= hint: did you mean `amount`?"), "{r}");
    }
}
