//! The checker: parsed files to a typed, name-resolved program.
//!
//! Declarations are global across the files of a rule set (a rule in one file
//! may use a feature declared in another). The checker runs in three sweeps:
//! lists (loading their files), features (indices are assigned in
//! declaration order, file by file in path order; a derived feature may only
//! use features above it, which rules out cycles by construction), then rules.
//! Every sweep continues past errors, so one run reports every problem.

pub mod expr;
mod feature;
pub mod ir;
pub mod program;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use expr::{FeatureSym, Scope, ScopeKind};
use ir::ListSet;
use program::{CheckedFeature, CheckedList, CheckedRule, ParsedFile, Program, Segment};

use crate::diag::{Code, Diagnostic, Diagnostics, Span};
use crate::functions;
use crate::input::Field;
use crate::syntax::ast::*;
use crate::syntax::parser::KEYWORDS;

/// Collects diagnostics and places them in their file.
struct Sink<'a> {
    files: &'a [ParsedFile],
    out: Diagnostics,
}

impl Sink<'_> {
    fn report(&mut self, file: usize, d: Diagnostic, span: Span) {
        let f = &self.files[file];
        self.out.push(d.locate(&f.path, &f.text, span));
    }

    fn report_all(&mut self, file: usize, errs: Vec<(Diagnostic, Span)>) {
        for (d, span) in errs {
            self.report(file, d, span);
        }
    }

    fn position(&self, file: usize, span: Span) -> String {
        let d = Diagnostic::new(Code::UnknownName, "").locate(
            &self.files[file].path,
            &self.files[file].text,
            span,
        );
        format!("{}:{}:{}", d.file, d.line, d.col)
    }
}

fn reserved(name: &Ident, what: &str) -> Option<(Diagnostic, Span)> {
    let clash = if KEYWORDS.contains(&name.name.as_str()) {
        "a keyword"
    } else if what != "rule" && Field::from_name(&name.name).is_some() {
        "a transaction field"
    } else if what != "rule" && functions::lookup(&name.name).is_some() {
        "a function"
    } else {
        return None;
    };
    Some((
        Diagnostic::new(
            Code::ReservedName,
            format!("`{}` is {clash} and cannot name a {what}", name.name),
        )
        .hint(format!("choose another name, e.g. `{}_{what}`", name.name)),
        name.span,
    ))
}

/// Check parsed files; `Err` holds every diagnostic found (parse errors included).
pub fn check(files: &[ParsedFile], mut parse_errors: Diagnostics) -> Result<Program, Diagnostics> {
    let mut sink = Sink {
        files,
        out: std::mem::take(&mut parse_errors),
    };
    let (lists, list_decls) = check_lists(&mut sink, files);
    let (mut symbols, decls) = declare_features(&mut sink, files);
    let features = define_features(&mut sink, files, &decls, &mut symbols, &lists);
    let scope = Scope {
        kind: ScopeKind::Rule,
        features: &symbols,
        lists: &lists,
    };
    let rules = check_rules(&mut sink, files, &scope);
    if sink.out.is_empty() {
        Ok(Program {
            features,
            rules,
            lists: list_decls,
        })
    } else {
        sink.out.sort();
        Err(sink.out)
    }
}

/// Sweep 1: every list, its file loaded; duplicates and reserved names reported.
fn check_lists(
    sink: &mut Sink<'_>,
    files: &[ParsedFile],
) -> (HashMap<String, ListSet>, Vec<CheckedList>) {
    let mut lists: HashMap<String, ListSet> = HashMap::new();
    let mut list_decls = Vec::new();
    let mut first_list: HashMap<String, (usize, Span)> = HashMap::new();
    for (fi, file) in files.iter().enumerate() {
        for item in &file.items {
            let Item::List(decl) = item else { continue };
            if let Some(err) = reserved(&decl.name, "list") {
                sink.report(fi, err.0, err.1);
                continue;
            }
            if let Some(&(pf, ps)) = first_list.get(&decl.name.name) {
                let at = sink.position(pf, ps);
                let d = Diagnostic::new(
                    Code::DuplicateList,
                    format!("list `{}` is declared twice", decl.name.name),
                )
                .hint(format!("first declared at {at}"));
                sink.report(fi, d, decl.name.span);
                continue;
            }
            first_list.insert(decl.name.name.clone(), (fi, decl.name.span));
            let mut errs = Vec::new();
            let (set, path, contents) = list_contents(&file.path, &decl.source, &mut errs);
            sink.report_all(fi, errs);
            lists.insert(decl.name.name.clone(), set.clone());
            list_decls.push(CheckedList {
                name: decl.name.name.clone(),
                set,
                path,
                contents,
            });
        }
    }
    (lists, list_decls)
}

/// A list's entries, the resolved file path and the file's text (`None` for
/// an inline list, or a file that cannot be read, reported as E050).
fn list_contents(
    rules_file: &str,
    source: &ListSource,
    errs: &mut Vec<(Diagnostic, Span)>,
) -> (ListSet, Option<String>, Option<String>) {
    match source {
        ListSource::Inline(items) => (expr::inline_set(items, errs), None, None),
        ListSource::File(rel, span) => {
            let resolved = resolve(rules_file, rel);
            match std::fs::read_to_string(&resolved) {
                Ok(text) => (Arc::new(parse_list(&text)), Some(resolved), Some(text)),
                Err(e) => {
                    errs.push((
                        Diagnostic::new(
                            Code::ListNotFound,
                            format!("cannot read list file `{resolved}`: {e}"),
                        )
                        .hint("list paths are relative to the rules file that declares them"),
                        *span,
                    ));
                    (Arc::new(ir::TextSet::default()), Some(resolved), None)
                }
            }
        }
    }
}

/// Sweep 2a: every feature name gets its index, in declaration order, before
/// any definition is checked (so a later use can say "declared later").
fn declare_features<'f>(
    sink: &mut Sink<'_>,
    files: &'f [ParsedFile],
) -> (HashMap<String, FeatureSym>, Vec<(usize, &'f FeatureDecl)>) {
    let mut symbols: HashMap<String, FeatureSym> = HashMap::new();
    let mut first_feature: HashMap<String, (usize, Span)> = HashMap::new();
    let mut decls: Vec<(usize, &FeatureDecl)> = Vec::new();
    for (fi, file) in files.iter().enumerate() {
        for item in &file.items {
            let Item::Feature(decl) = item else { continue };
            if let Some(err) = reserved(&decl.name, "feature") {
                sink.report(fi, err.0, err.1);
                continue;
            }
            if let Some(&(pf, ps)) = first_feature.get(&decl.name.name) {
                let at = sink.position(pf, ps);
                let d = Diagnostic::new(
                    Code::DuplicateFeature,
                    format!("feature `{}` is declared twice", decl.name.name),
                )
                .hint(format!("first declared at {at}"));
                sink.report(fi, d, decl.name.span);
                continue;
            }
            first_feature.insert(decl.name.name.clone(), (fi, decl.name.span));
            symbols.insert(
                decl.name.name.clone(),
                FeatureSym {
                    index: decls.len() as u32,
                    ty: None,
                },
            );
            decls.push((fi, decl));
        }
    }
    (symbols, decls)
}

/// Sweep 2b: feature definitions, in index order; each one's type becomes
/// known to the features after it.
fn define_features(
    sink: &mut Sink<'_>,
    files: &[ParsedFile],
    decls: &[(usize, &FeatureDecl)],
    symbols: &mut HashMap<String, FeatureSym>,
    lists: &HashMap<String, ListSet>,
) -> Vec<CheckedFeature> {
    let mut features = Vec::with_capacity(decls.len());
    for (index, (fi, decl)) in decls.iter().enumerate() {
        let mut errs = Vec::new();
        let (ty, kind) = {
            let scope = Scope {
                kind: ScopeKind::Derived(index as u32),
                features: symbols,
                lists,
            };
            feature::feature_def(&scope, decl, &files[*fi].text, &mut errs)
        };
        sink.report_all(*fi, errs);
        if let Some(sym) = symbols.get_mut(&decl.name.name) {
            sym.ty = Some(ty);
        }
        features.push(CheckedFeature {
            name: decl.name.name.clone(),
            ty,
            kind,
        });
    }
    features
}

/// Sweep 3: every rule, checked against all lists and features.
fn check_rules(sink: &mut Sink<'_>, files: &[ParsedFile], scope: &Scope) -> Vec<CheckedRule> {
    let mut rules = Vec::new();
    let mut first_rule: HashMap<String, (usize, Span)> = HashMap::new();
    for (fi, file) in files.iter().enumerate() {
        for item in &file.items {
            let Item::Rule(decl) = item else { continue };
            let mut errs = Vec::new();
            if let Some(err) = reserved(&decl.name, "rule") {
                errs.push(err);
            } else if let Some(&(pf, ps)) = first_rule.get(&decl.name.name) {
                let at = sink.position(pf, ps);
                errs.push((
                    Diagnostic::new(
                        Code::DuplicateRule,
                        format!("rule `{}` is declared twice", decl.name.name),
                    )
                    .hint(format!(
                        "first declared at {at}; rule names label metrics and must be unique"
                    )),
                    decl.name.span,
                ));
            } else {
                first_rule.insert(decl.name.name.clone(), (fi, decl.name.span));
            }
            let rule = check_rule(scope, file, decl, &mut errs);
            sink.report_all(fi, errs);
            rules.push(rule);
        }
    }
    rules
}

/// One rule's condition, priority and reason.
fn check_rule(
    scope: &Scope,
    file: &ParsedFile,
    decl: &RuleDecl,
    errs: &mut Vec<(Diagnostic, Span)>,
) -> CheckedRule {
    let condition = scope.boolean(&decl.condition, errs, "a rule");
    let priority = match decl.priority {
        None => 0,
        Some((p, span)) => {
            if p.fract() != 0.0 || !(-1000.0..=1000.0).contains(&p) {
                errs.push((
                    Diagnostic::new(
                        Code::BadPriority,
                        format!("priority {p} is not a whole number in -1000..=1000"),
                    )
                    .hint(
                        "higher priority wins among rules with the same action; the default is 0",
                    ),
                    span,
                ));
            }
            p as i32
        }
    };
    let reason = match &decl.reason {
        Some((text, span)) => template(scope, text, *span, errs),
        None => {
            let s =
                &file.text[decl.condition.span.start..decl.condition.span.end.min(file.text.len())];
            vec![Segment::Lit(
                s.split_whitespace().collect::<Vec<_>>().join(" "),
            )]
        }
    };
    let line = file.text[..decl.name.span.start.min(file.text.len())]
        .matches('\n')
        .count() as u32
        + 1;
    CheckedRule {
        name: decl.name.name.clone(),
        shadow: decl.shadow,
        action: decl.action,
        priority,
        condition,
        reason,
        file: file.path.clone(),
        line,
    }
}

/// Parse `"{n} small authorizations in 10m"` into literal and value segments.
fn template(
    scope: &Scope,
    text: &str,
    span: Span,
    errs: &mut Vec<(Diagnostic, Span)>,
) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    let base = span.start + 1;
    while let Some(i) = rest.find(['{', '}']) {
        lit.push_str(&rest[..i]);
        let offset = base + (text.len() - rest.len()) + i;
        if rest[i..].starts_with("{{") || rest[i..].starts_with("}}") {
            lit.push_str(&rest[i..i + 1]);
            rest = &rest[i + 2..];
            continue;
        }
        if rest[i..].starts_with('}') {
            errs.push((
                Diagnostic::new(Code::BadTemplate, "unmatched `}` in reason")
                    .hint("write `}}` for a literal brace"),
                Span::new(offset, offset + 1),
            ));
            rest = &rest[i + 1..];
            continue;
        }
        let Some(close) = rest[i..].find('}') else {
            errs.push((
                Diagnostic::new(Code::BadTemplate, "unclosed `{` in reason")
                    .hint("close the placeholder: \"{card_txn_10m} transactions\"; write `{{` for a literal brace"),
                Span::new(offset, offset + 1),
            ));
            rest = "";
            break;
        };
        let name = rest[i + 1..i + close].trim();
        let name_span = Span::new(offset + 1, offset + close);
        if !lit.is_empty() {
            segments.push(Segment::Lit(std::mem::take(&mut lit)));
        }
        let mut inner = Vec::new();
        let (ir, ty) = scope.name(name, name_span, &mut inner);
        for (d, s) in inner {
            let mut d = d;
            if d.code == Code::UnknownName {
                d.code = Code::TemplateName;
                d.message = format!("unknown name `{name}` in reason");
            }
            errs.push((d, s));
        }
        segments.push(Segment::Value(ir, ty));
        rest = &rest[i + close + 1..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        segments.push(Segment::Lit(lit));
    }
    segments
}

/// List file format: one entry per line; `#` starts a comment; blank lines ignored.
pub fn parse_list(text: &str) -> ir::TextSet {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(Box::from)
        .collect()
}

/// Resolve a list path relative to the directory of the rules file.
pub fn resolve(rules_file: &str, list: &str) -> String {
    let p = Path::new(list);
    if p.is_absolute() {
        return list.to_string();
    }
    Path::new(rules_file)
        .parent()
        .unwrap_or(Path::new(""))
        .join(p)
        .to_string_lossy()
        .into_owned()
}
