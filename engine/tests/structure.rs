//! The code keeps the shape `STYLE.md` asks for, checked on the source itself:
//! small files, short functions, leaf modules that import nothing above them,
//! and imports that point one way.
//!
//! Every crate of the workspace is read from its root files (`lib.rs`,
//! `main.rs`, benches) by following `mod` declarations, so a file belongs to
//! the crate that really compiles it. Import edges are taken from the parsed
//! code (`syn`): a file A points to a file B when A names a path — in a `use`
//! or inline, through `crate::`, `super::`, `self::` or a child module's name —
//! that resolves into the module B holds. A path resolves to the deepest
//! module that has a file, so `crate::partition::layout::Group` points to
//! `partition/layout.rs` and `crate::PartitionState` to `lib.rs`. `mod x;`
//! alone, doc links and everything under `#[cfg(test)]` are not edges. Paths
//! written inside macro invocations are token streams, not paths, and are not
//! seen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::visit::Visit;

/// Longest source file allowed outside `tests/` folders.
const MAX_FILE_LINES: usize = 800;
/// Longest function allowed outside `tests/` folders and `#[cfg(test)]` code.
const MAX_FN_LINES: usize = 120;

/// Files that may name no `crate::` or `super::` path: the helpers everything
/// else builds on.
const LEAVES: &[&str] = &[
    "engine/state/src/units.rs",
    "engine/state/src/hashing.rs",
    "engine/state/src/prefetch.rs",
    "engine/state/src/search.rs",
    "engine/state/src/codec.rs",
    "engine/state/src/keys.rs",
    "engine/state/src/lookahead.rs",
    "engine/state/src/error.rs",
    "engine/state/src/store/batch.rs",
    "engine/state/src/window/sketch.rs",
    "engine/state/src/window/aggregate.rs",
    "engine/src/kafka/handle.rs",
    "engine/src/metrics.rs",
    "engine/src/defaults.rs",
    "engine/src/contract/amount.rs",
    "engine/src/contract/currency.rs",
    "engine/src/contract/pan.rs",
    "engine/src/contract/decision.rs",
    "engine/alloc/src/lib.rs",
    "rules/src/functions.rs",
    "rules/src/diag.rs",
    "rules/src/eval.rs",
    "rules/src/input.rs",
];

/// Folders in which no two files may import each other in a cycle.
const ACYCLIC: &[&str] = &["engine/state/src", "engine/src/kafka"];

/// Crates in which a mutual recursion must stay inside one folder.
const CYCLES_IN_ONE_FOLDER: &[&str] = &["rules/src", "engine/src", "models/src"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Every `.rs` file of the workspace, except build output and `tests/` folders.
fn source_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | "tests" | ".git" | "node_modules") {
                    walk(&path, out);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&workspace(), &mut out);
    out
}

fn parse(path: &Path) -> syn::File {
    let text = std::fs::read_to_string(path).unwrap();
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", relative(path)))
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && {
            let tokens = a.meta.require_list().map(|l| l.tokens.to_string());
            tokens.is_ok_and(|t| t.split(|c: char| !c.is_alphanumeric()).any(|w| w == "test"))
        }
    })
}

#[test]
fn no_source_file_is_over_the_limit() {
    let long: Vec<String> = source_files()
        .iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(path).unwrap().lines().count();
            (lines > MAX_FILE_LINES).then(|| format!("{} ({lines} lines)", relative(path)))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines: {long:#?}"
    );
}

/// Collects functions longer than the limit, skipping test-only code.
struct LongFunctions<'a> {
    file: &'a str,
    found: Vec<String>,
}

impl LongFunctions<'_> {
    fn check(&mut self, name: &syn::Ident, start: proc_macro2::Span, end: proc_macro2::Span) {
        let lines = end.end().line + 1 - start.start().line;
        if lines > MAX_FN_LINES {
            self.found.push(format!(
                "{}:{} fn {name} ({lines} lines)",
                self.file,
                start.start().line
            ));
        }
    }
}

impl<'ast> Visit<'ast> for LongFunctions<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test_only(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            self.check(&f.sig.ident, f.sig.span(), f.block.brace_token.span.close());
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            self.check(&f.sig.ident, f.sig.span(), f.block.brace_token.span.close());
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.check(&f.sig.ident, f.sig.span(), block.brace_token.span.close());
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

/// The files the crates compile outside tests: every module reachable from a
/// crate root through `mod` declarations that are not `#[cfg(test)]`.
fn production_files() -> BTreeSet<PathBuf> {
    crate_roots()
        .iter()
        .flat_map(|root| ModuleTree::from_root(root).files.into_values())
        .collect()
}

#[test]
fn no_function_is_over_the_limit() {
    let mut found = Vec::new();
    for path in production_files() {
        let file = relative(&path);
        let mut visitor = LongFunctions {
            file: &file,
            found: Vec::new(),
        };
        visitor.visit_file(&parse(&path));
        found.extend(visitor.found);
    }
    assert!(
        found.is_empty(),
        "functions over {MAX_FN_LINES} lines: {found:#?}"
    );
}

/// One crate's modules: module path → the file that holds it.
#[derive(Default)]
struct ModuleTree {
    files: BTreeMap<Vec<String>, PathBuf>,
}

impl ModuleTree {
    /// Follows `mod` declarations from a crate root.
    fn from_root(root: &Path) -> Self {
        let mut tree = ModuleTree::default();
        tree.add_file(root, Vec::new(), root.parent().unwrap().to_path_buf());
        tree
    }

    fn add_file(&mut self, file: &Path, module: Vec<String>, dir: PathBuf) {
        self.files.insert(module.clone(), file.to_path_buf());
        let items = parse(file).items;
        self.add_items(file, &items, module, dir);
    }

    fn add_items(&mut self, file: &Path, items: &[syn::Item], module: Vec<String>, dir: PathBuf) {
        for item in items {
            let syn::Item::Mod(m) = item else { continue };
            if is_test_only(&m.attrs) {
                continue;
            }
            let name = m.ident.to_string();
            let mut child = module.clone();
            child.push(name.clone());
            match &m.content {
                Some((_, inner)) => {
                    self.files.insert(child.clone(), file.to_path_buf());
                    self.add_items(file, inner, child, dir.join(&name));
                }
                None => {
                    let flat = dir.join(format!("{name}.rs"));
                    let nested = dir.join(&name).join("mod.rs");
                    if flat.exists() {
                        self.add_file(&flat, child, dir.join(&name));
                    } else if nested.exists() {
                        self.add_file(&nested, child, dir.join(&name));
                    }
                }
            }
        }
    }

    /// The file of the deepest module `path` names.
    fn resolve(&self, path: &[String]) -> Option<&PathBuf> {
        let mut deepest = None;
        for len in 0..=path.len() {
            match self.files.get(&path[..len]) {
                Some(file) => deepest = Some(file),
                None => break,
            }
        }
        deepest
    }

    /// Import edges between files, from every path the crate's code names.
    fn edges(&self) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
        let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
        let files: BTreeSet<&PathBuf> = self.files.values().collect();
        for file in files {
            let module = self
                .files
                .iter()
                .filter(|(_, f)| *f == file)
                .map(|(m, _)| m)
                .min_by_key(|m| m.len())
                .unwrap()
                .clone();
            let mut collector = PathCollector {
                tree: self,
                module,
                targets: BTreeSet::new(),
            };
            collector.visit_file(&parse(file));
            collector.targets.remove(file);
            edges.insert(file.clone(), collector.targets);
        }
        edges
    }
}

/// Resolves every path one file names, tracking inline modules.
struct PathCollector<'a> {
    tree: &'a ModuleTree,
    module: Vec<String>,
    targets: BTreeSet<PathBuf>,
}

impl PathCollector<'_> {
    fn absolute(&self, segments: &[String]) -> Option<Vec<String>> {
        let first = segments.first()?;
        let mut base = match first.as_str() {
            "crate" => return Some(segments[1..].to_vec()),
            "self" => self.module.clone(),
            "super" => self.module.clone(),
            _ => {
                let mut child = self.module.clone();
                child.push(first.clone());
                return self
                    .tree
                    .files
                    .contains_key(&child)
                    .then(|| [self.module.clone(), segments.to_vec()].concat());
            }
        };
        let mut rest = segments;
        if first == "self" {
            rest = &rest[1..];
        }
        while rest.first().is_some_and(|s| s == "super") {
            base.pop()?;
            rest = &rest[1..];
        }
        Some([base, rest.to_vec()].concat())
    }

    fn record(&mut self, segments: &[String]) {
        if let Some(path) = self.absolute(segments)
            && let Some(file) = self.tree.resolve(&path)
        {
            self.targets.insert(file.clone());
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.record(prefix);
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.record(prefix);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.record(prefix),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for PathCollector<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_test_only(&m.attrs) {
            return;
        }
        if m.content.is_some() {
            self.module.push(m.ident.to_string());
            syn::visit::visit_item_mod(self, m);
            self.module.pop();
        }
    }
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Fn(i) => &i.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(i) => &i.attrs,
            syn::Item::Const(i) => &i.attrs,
            syn::Item::Static(i) => &i.attrs,
            syn::Item::Struct(i) => &i.attrs,
            syn::Item::Enum(i) => &i.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_test_only(attrs) {
            syn::visit::visit_item(self, item);
        }
    }
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }
    /// `pub(crate)` and `pub(super)` say who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}
    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.record(&segments);
        syn::visit::visit_path(self, path);
    }
}

/// Every crate root of the workspace: libraries, binaries, benches, examples.
fn crate_roots() -> Vec<PathBuf> {
    let ws = workspace();
    let mut roots = Vec::new();
    for krate in [
        "engine",
        "engine/state",
        "rules",
        "models",
        "benches",
        "tests",
    ] {
        let dir = ws.join(krate);
        for root in ["src/lib.rs", "src/main.rs"] {
            if dir.join(root).exists() {
                roots.push(dir.join(root));
            }
        }
        for extra in ["src/bin", "benches", "examples"] {
            if let Ok(entries) = std::fs::read_dir(dir.join(extra)) {
                let mut files: Vec<_> = entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "rs"))
                    .collect();
                files.sort();
                roots.extend(files);
            }
        }
    }
    roots
}

/// Groups of files that import each other, found by Tarjan's algorithm.
fn import_cycles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        cycles: Vec<Vec<PathBuf>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, node: &'a PathBuf) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.edges.get(node).into_iter().flatten() {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    self.low.insert(node, self.low[node].min(self.low[next]));
                } else if self.on_stack.contains(next) {
                    self.low.insert(node, self.low[node].min(self.index[next]));
                }
            }
            if self.low[node] == self.index[node] {
                let mut group = Vec::new();
                loop {
                    let top = self.stack.pop().unwrap();
                    self.on_stack.remove(top);
                    group.push(top.clone());
                    if top == node {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.cycles.push(group);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        cycles: Vec::new(),
    };
    for node in edges.keys() {
        if !tarjan.index.contains_key(node) {
            tarjan.visit(node);
        }
    }
    tarjan.cycles
}

#[test]
fn imports_point_one_way() {
    let mut problems = Vec::new();
    for root in crate_roots() {
        for cycle in import_cycles(&ModuleTree::from_root(&root).edges()) {
            let names: Vec<String> = cycle.iter().map(|f| relative(f)).collect();
            let in_acyclic = names
                .iter()
                .any(|n| ACYCLIC.iter().any(|dir| n.starts_with(&format!("{dir}/"))));
            let folders: BTreeSet<&str> = names
                .iter()
                .map(|n| n.rsplit_once('/').map_or("", |(dir, _)| dir))
                .collect();
            let must_share_a_folder = names.iter().any(|n| {
                CYCLES_IN_ONE_FOLDER
                    .iter()
                    .any(|c| n.starts_with(&format!("{c}/")))
            });
            if in_acyclic || (must_share_a_folder && folders.len() > 1) {
                problems.push(names);
            }
        }
    }
    assert!(problems.is_empty(), "import cycles: {problems:#?}");
}

#[test]
fn leaf_modules_import_nothing_above_them() {
    let mut problems = Vec::new();
    for leaf in LEAVES {
        let path = workspace().join(leaf);
        assert!(path.exists(), "listed leaf {leaf} does not exist");
        let mut collector = UpwardPaths::default();
        collector.visit_file(&parse(&path));
        for found in collector.found {
            problems.push(format!("{leaf}: {found}"));
        }
    }
    assert!(
        problems.is_empty(),
        "leaf modules naming crate:: or super:: paths: {problems:#?}"
    );
}

/// Paths that start at `crate` or `super`, outside test-only code.
#[derive(Default)]
struct UpwardPaths {
    found: Vec<String>,
}

impl UpwardPaths {
    fn check(&mut self, first: &syn::Ident, line: usize) {
        if first == "crate" || first == "super" {
            self.found.push(format!("line {line}: {first}::…"));
        }
    }
}

impl<'ast> Visit<'ast> for UpwardPaths {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test_only(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    /// `pub(crate)` and `pub(super)` say who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}
    fn visit_use_path(&mut self, p: &'ast syn::UsePath) {
        self.check(&p.ident, p.ident.span().start().line);
        // Only the first segment of a use tree can climb.
    }
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if let Some(first) = path.segments.first() {
            self.check(&first.ident, first.ident.span().start().line);
        }
        syn::visit::visit_path(self, path);
    }
}

/// The checks themselves, on small inputs with known answers.
#[test]
fn the_cycle_finder_finds_cycles_and_only_cycles() {
    let p = |s: &str| PathBuf::from(s);
    let mut edges = BTreeMap::new();
    edges.insert(p("a"), [p("b")].into_iter().collect());
    edges.insert(p("b"), [p("c")].into_iter().collect());
    edges.insert(p("c"), [p("a"), p("d")].into_iter().collect());
    edges.insert(p("d"), BTreeSet::new());
    assert_eq!(import_cycles(&edges), vec![vec![p("a"), p("b"), p("c")]]);
    edges.insert(p("c"), [p("d")].into_iter().collect());
    assert!(import_cycles(&edges).is_empty());
}

#[test]
fn is_test_only_reads_cfg_attributes() {
    let item: syn::ItemMod = syn::parse_quote! { #[cfg(test)] mod tests {} };
    assert!(is_test_only(&item.attrs));
    let item: syn::ItemMod = syn::parse_quote! { #[cfg(any(test, feature = "x"))] mod t {} };
    assert!(is_test_only(&item.attrs));
    let item: syn::ItemMod = syn::parse_quote! { #[cfg(feature = "testing")] mod t {} };
    assert!(!is_test_only(&item.attrs));
}
