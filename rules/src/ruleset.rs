//! [`RuleSet`]: the compiled, immutable artefact the engine runs.
//!
//! Building one runs the whole pipeline (read files, parse, check, load lists,
//! compile to closures) and either yields a complete rule set or every
//! diagnostic; there is no half-built state. A rule set never changes after
//! construction: a new version of the files is a new `RuleSet`, swapped in
//! whole by [`crate::reload`]. Its [`RuleSet::version`] is a content hash of the
//! sources and list files, so two nodes running the same files report the same
//! version on their decisions.
//!
//! Rules are evaluated in precedence order (allow, then decline, then review;
//! within an action by priority, highest first, then declaration order); every
//! rule is evaluated so shadow and losing rules are still counted, and the
//! first acting hit decides.

use std::path::{Path, PathBuf};

use crate::check;
use crate::check::ir::Type;
use crate::check::program::{
    CheckedFeature, CheckedKind, CheckedList, CheckedRule, ParsedFile, Segment,
};
use crate::compile::cond::{self, Cond};
use crate::compile::num;
use crate::compile::operand::{self, Ctx, NumFn};
use crate::compile::template::{self, TemplateValue};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::eval::{Action, Evaluation, RuleHit, RuleInfo, Tri};
use crate::input::Transaction;
use crate::spec::{FeatureKind, FeatureSpec, Predicate, WindowFeature};
use crate::syntax::{self, ast::ActionWord};

/// One rules file's path and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// A declared list, for `verdict rules check` output and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInfo {
    pub name: String,
    pub len: usize,
    /// The file it was loaded from; `None` for an inline list.
    pub path: Option<String>,
}

enum CompiledSegment {
    Lit(String),
    Value(TemplateValue),
}

struct CompiledRule {
    index: u32,
    condition: Cond,
    reason: Vec<CompiledSegment>,
}

/// A compiled rule set. Immutable, `Send + Sync`; share it behind an `Arc`.
pub struct RuleSet {
    version: String,
    features: Vec<FeatureSpec>,
    feature_types: Vec<Type>,
    derived: Vec<(usize, NumFn)>,
    rules: Vec<RuleInfo>,
    order: Vec<CompiledRule>,
    lists: Vec<ListInfo>,
    files: Vec<String>,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("version", &self.version)
            .field("features", &self.features.len())
            .field("rules", &self.rules.len())
            .finish()
    }
}

impl RuleSet {
    /// Compile every `*.rules` file under `dir` (recursively, in path order).
    /// List paths are resolved relative to the file that declares them.
    pub fn compile_dir(dir: &Path) -> Result<RuleSet, Diagnostics> {
        RuleSet::compile_sources(&read_dir_sources(dir)?)
    }

    /// Compile the given files, in the given order (which fixes the feature
    /// order). List files are read from disk relative to each file's `path`.
    pub fn compile_sources(files: &[SourceFile]) -> Result<RuleSet, Diagnostics> {
        let (parsed, parse_errors) = parse_all(files);
        let program = check::check(&parsed, parse_errors)?;
        let version = content_version(files, &program.lists);
        let (features, feature_types, derived) = compile_features(program.features);
        let rules = rule_infos(&program.rules);
        let order = compile_rules(&program.rules, &rules);
        let lists = program
            .lists
            .iter()
            .map(|l| ListInfo {
                name: l.name.clone(),
                len: l.set.len(),
                path: l.path.clone(),
            })
            .collect();
        Ok(RuleSet {
            version,
            features,
            feature_types,
            derived,
            rules,
            order,
            lists,
            files: files.iter().map(|f| f.path.clone()).collect(),
        })
    }

    /// Content hash of the sources and list files (12 hex digits).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Every declared feature, in declaration order: the feature order of
    /// every feature-value slice.
    pub fn features(&self) -> &[FeatureSpec] {
        &self.features
    }

    /// The index of a feature by name, in [`RuleSet::features`] order.
    pub fn feature_slot(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }

    /// Whether the feature at `index` holds a yes/no value (1.0 / 0.0).
    pub fn feature_is_bool(&self, index: usize) -> bool {
        self.feature_types.get(index) == Some(&Type::Bool)
    }

    /// Every rule, in declaration order; `RuleHit::rule` indexes this.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    pub fn lists(&self) -> &[ListInfo] {
        &self.lists
    }

    /// The rules files this set was compiled from.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Fill the `Derived` features from the transaction and the other
    /// features, in feature order (a derived feature only reads features
    /// above it). Indices beyond `features.len()` are skipped.
    pub fn derive(&self, txn: &dyn Transaction, features: &mut [f64]) {
        for (index, f) in &self.derived {
            let v = f(&Ctx {
                txn,
                features,
                score: f64::NAN,
            });
            if let Some(x) = features.get_mut(*index) {
                *x = v;
            }
        }
    }

    /// Evaluate every rule on one event. `features` is in feature order (a short
    /// slice reads as missing values); `score` is `None` when the model did not
    /// answer in time (the evaluation is then marked degraded and `score`
    /// reads as missing). Allocates only for rules that fire.
    pub fn evaluate(
        &self,
        txn: &dyn Transaction,
        features: &[f64],
        score: Option<f32>,
        out: &mut Evaluation,
    ) {
        out.clear();
        out.degraded = score.is_none();
        let ctx = Ctx {
            txn,
            features,
            score: score.map_or(f64::NAN, f64::from),
        };
        for rule in &self.order {
            if rule.condition.eval(&ctx) != Tri::True {
                continue;
            }
            let info = &self.rules[rule.index as usize];
            let mut reason = out.reason_buffer();
            for seg in &rule.reason {
                match seg {
                    CompiledSegment::Lit(t) => reason.push_str(t),
                    CompiledSegment::Value(v) => template::render_value(v, &ctx, &mut reason),
                }
            }
            if out.decided_by.is_none() && !info.shadow {
                out.decided_by = Some(out.hits.len());
                out.action = info.action;
            }
            out.hits.push(RuleHit {
                rule: rule.index,
                name: info.name.clone(),
                action: info.action,
                shadow: info.shadow,
                reason,
            });
        }
    }
}

/// What `verdict rules check` prints for a rule set that compiles.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSummary {
    pub version: String,
    pub files: Vec<String>,
    pub features: usize,
    pub rules: usize,
    pub shadow_rules: usize,
    pub lists: Vec<ListInfo>,
}

impl std::fmt::Display for CheckSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "ok: rule set {} ({} file(s))",
            self.version,
            self.files.len()
        )?;
        writeln!(
            f,
            "  {} feature(s), {} rule(s) ({} shadow)",
            self.features, self.rules, self.shadow_rules
        )?;
        for l in &self.lists {
            writeln!(
                f,
                "  list {}: {} entr{}",
                l.name,
                l.len,
                if l.len == 1 { "y" } else { "ies" }
            )?;
        }
        Ok(())
    }
}

/// Check a rules directory: the summary, or every diagnostic.
pub fn check_dir(dir: &Path) -> Result<CheckSummary, Diagnostics> {
    let set = RuleSet::compile_dir(dir)?;
    Ok(CheckSummary {
        version: set.version.clone(),
        files: set.files.clone(),
        features: set.features.len(),
        rules: set.rules.len(),
        shadow_rules: set.rules.iter().filter(|r| r.shadow).count(),
        lists: set.lists.clone(),
    })
}

/// Parse every file; syntax errors are located in their file and kept for
/// the checker, which reports them with its own.
fn parse_all(files: &[SourceFile]) -> (Vec<ParsedFile>, Diagnostics) {
    let mut parse_errors = Diagnostics::default();
    let mut parsed = Vec::with_capacity(files.len());
    for f in files {
        let (items, errs) = syntax::parse(&f.text);
        for (d, span) in errs {
            parse_errors.push(d.locate(&f.path, &f.text, span));
        }
        parsed.push(ParsedFile {
            path: f.path.clone(),
            text: f.text.clone(),
            items,
        });
    }
    (parsed, parse_errors)
}

/// The rule-set version: a blake3 hash of the sources and list files, 12 hex digits.
fn content_version(files: &[SourceFile], lists: &[CheckedList]) -> String {
    let mut hasher = blake3::Hasher::new();
    for f in files {
        hasher.update(&(f.text.len() as u64).to_le_bytes());
        hasher.update(f.text.as_bytes());
    }
    for l in lists {
        hasher.update(l.name.as_bytes());
        hasher.update(&[0]);
        if let Some(c) = &l.contents {
            hasher.update(&(c.len() as u64).to_le_bytes());
            hasher.update(c.as_bytes());
        }
    }
    hasher.finalize().to_hex()[..12].to_string()
}

type DerivedFeatures = Vec<(usize, NumFn)>;

/// Feature specs for the state layer, each feature's type, and the compiled
/// derived features with their index.
fn compile_features(
    checked: Vec<CheckedFeature>,
) -> (Vec<FeatureSpec>, Vec<Type>, DerivedFeatures) {
    let mut features = Vec::with_capacity(checked.len());
    let mut feature_types = Vec::with_capacity(checked.len());
    let mut derived = Vec::new();
    for (index, f) in checked.into_iter().enumerate() {
        let kind = match f.kind {
            CheckedKind::Window {
                aggregate,
                key,
                window_ms,
                filter,
            } => {
                let filter = filter.map(|(src, ir)| {
                    let test = num::boolean(&ir);
                    Predicate::new(src, move |txn: &dyn Transaction| {
                        test(&Ctx {
                            txn,
                            features: &[],
                            score: f64::NAN,
                        }) == Tri::True
                    })
                });
                FeatureKind::Window(WindowFeature {
                    aggregate,
                    key,
                    window_ms,
                    filter,
                })
            }
            CheckedKind::History(h) => FeatureKind::History(h),
            CheckedKind::Previous { key, field } => FeatureKind::Previous { key, field },
            CheckedKind::Derived(ir) => {
                derived.push((index, num::num(&ir)));
                FeatureKind::Derived
            }
        };
        features.push(FeatureSpec { name: f.name, kind });
        feature_types.push(f.ty);
    }
    (features, feature_types, derived)
}

/// What the engine and reports know about each rule, in declaration order.
fn rule_infos(checked: &[CheckedRule]) -> Vec<RuleInfo> {
    checked
        .iter()
        .map(|r| RuleInfo {
            name: r.name.as_str().into(),
            action: match r.action {
                ActionWord::Allow => Action::Allow,
                ActionWord::Review => Action::Review,
                ActionWord::Decline => Action::Decline,
            },
            shadow: r.shadow,
            priority: r.priority,
            file: r.file.clone(),
            line: r.line,
        })
        .collect()
}

/// Conditions and reasons compiled in evaluation order (precedence, then
/// priority, then declaration), so their allocations lie in the order the
/// evaluator walks them.
fn compile_rules(checked: &[CheckedRule], rules: &[RuleInfo]) -> Vec<CompiledRule> {
    let mut indices: Vec<usize> = (0..rules.len()).collect();
    indices.sort_by_key(|&i| {
        (
            rules[i].action.rank(),
            std::cmp::Reverse(rules[i].priority),
            i,
        )
    });
    indices
        .into_iter()
        .map(|i| {
            let r = &checked[i];
            let reason = r
                .reason
                .iter()
                .map(|s| match s {
                    Segment::Lit(t) => CompiledSegment::Lit(t.clone()),
                    Segment::Value(ir, Type::Text) => {
                        CompiledSegment::Value(TemplateValue::Text(operand::text(ir)))
                    }
                    Segment::Value(ir, ty) => {
                        CompiledSegment::Value(TemplateValue::Num(num::num(ir), *ty))
                    }
                })
                .collect();
            CompiledRule {
                index: i as u32,
                condition: cond::cond(&r.condition),
                reason,
            }
        })
        .collect()
}

/// Read every `*.rules` file under `dir`, sorted by path.
pub fn read_dir_sources(dir: &Path) -> Result<Vec<SourceFile>, Diagnostics> {
    let mut paths = Vec::new();
    let mut errors = Diagnostics::default();
    collect_rules_files(dir, &mut paths, &mut errors);
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    for p in paths {
        let path = p.to_string_lossy().into_owned();
        match std::fs::read_to_string(&p) {
            Ok(text) => files.push(SourceFile { path, text }),
            Err(e) => errors.push(
                Diagnostic::new(Code::UnreadableFile, format!("cannot read rules file: {e}"))
                    .hint("rules files must be readable UTF-8 text")
                    .in_file(&path),
            ),
        }
    }
    if files.is_empty() && errors.is_empty() {
        errors.push(
            Diagnostic::new(
                Code::NoRuleFiles,
                format!("no .rules files in `{}`", dir.display()),
            )
            .hint("rules live in files ending in .rules; check the directory path")
            .in_file(&dir.to_string_lossy()),
        );
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

fn collect_rules_files(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Diagnostics) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(
                Diagnostic::new(Code::UnreadableFile, format!("cannot read directory: {e}"))
                    .hint("pass the directory that holds the .rules files")
                    .in_file(&dir.to_string_lossy()),
            );
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_rules_files(&path, out, errors);
        } else if path.extension().is_some_and(|e| e == "rules") {
            out.push(path);
        }
    }
}
