//! Reading the layers into a configuration (the engine's `Config`) with
//! every problem found at once. Generic over the type, so this file names
//! nothing of the module above it.
//!
//! serde stops at the first bad value, so one extraction can only report
//! one problem. [`extract`] therefore extracts, records the error (with its
//! key path and the layer that set the key), removes that key from the
//! merged tree (so it falls back to its default), and extracts again, until
//! the tree extracts cleanly: a file with a typo, a string where a number
//! goes and an out-of-range value gets all three reported, and validation
//! still runs on the rest. A TOML syntax error ends reading that file, so
//! it is reported alone, as `file:line:column`.

use std::collections::BTreeMap;
use std::path::Path;

use figment::Figment;
use figment::error::Kind;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The prefix of every configuration variable.
const ENV_PREFIX: &str = "VERDICT_";

/// The merged layers: the value tree and which variable set which key.
pub(super) struct Layers {
    tree: Dict,
    /// Key path → the `VERDICT_*` variable that set it.
    from_env: BTreeMap<Vec<String>, String>,
    file: Option<String>,
}

impl Layers {
    /// The file (if any) under the environment. `Err` holds the problems
    /// that stop reading: an unreadable file or a TOML syntax error.
    pub(super) fn read(
        file: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Layers, Vec<String>> {
        // Embedded defaults: every section is `#[serde(default)]`, so what
        // no layer sets keeps its `Default` value.
        let mut figment = Figment::new();
        if let Some(p) = file {
            let text = std::fs::read_to_string(p)
                .map_err(|e| vec![format!("{}: cannot read: {e}", p.display())])?;
            if let Err(e) = text.parse::<toml::Table>() {
                return Err(vec![syntax_error(p, &text, &e)]);
            }
            figment = figment.merge(Toml::string(&text));
        }
        // The environment, one variable at a time: `("kafka.brokers", value)`
        // nests under its section and wins over the file.
        let mut from_env = BTreeMap::new();
        for (key, value) in env {
            let Some(path) = key.strip_prefix(ENV_PREFIX).and_then(env_key) else {
                continue;
            };
            from_env.insert(path.split('.').map(str::to_string).collect(), key);
            figment = figment.merge((path, EnvValue::parse(&value)));
        }
        let tree = figment
            .find_value("")
            .ok()
            .and_then(Value::into_dict)
            .unwrap_or_default();
        Ok(Layers {
            tree,
            from_env,
            file: file.map(|p| p.display().to_string()),
        })
    }

    /// Where the value at `path` came from, for a problem's message.
    fn origin(&self, path: &[String]) -> String {
        if path.is_empty() {
            return String::new();
        }
        let var = self
            .from_env
            .iter()
            .find(|(k, _)| k.starts_with(path) || path.starts_with(k));
        match (var, &self.file) {
            (Some((_, var)), _) => format!(" (set by {var})"),
            (None, Some(file)) => format!(" (in {file})"),
            (None, None) => String::new(),
        }
    }
}

/// The configuration the layers give once every bad key is dropped, the
/// problems with those keys (`key.path: what is wrong (where it was set)`),
/// and the dropped keys' paths (validation says nothing more about them).
pub(super) fn extract<C: DeserializeOwned + Default>(
    mut layers: Layers,
) -> (C, Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut dropped = Vec::new();
    loop {
        let figment = Figment::from(Serialized::defaults(&layers.tree));
        let err = match figment.extract::<C>() {
            Ok(cfg) => return (cfg, problems, dropped),
            Err(err) => err,
        };
        let mut removed_any = false;
        for e in err {
            let key = e.path.join(".");
            let what = match &e.kind {
                Kind::UnknownField(_, expected) => {
                    format!("unknown key; expected one of {}", expected.join(", "))
                }
                kind => kind.to_string(),
            };
            problems.push(format!("{key}: {what}{}", layers.origin(&e.path)));
            removed_any |= remove(&mut layers.tree, &e.path);
            dropped.push(key);
        }
        // An error no key can be blamed for: nothing more can be learnt.
        if !removed_any {
            return (C::default(), problems, dropped);
        }
    }
}

/// Removes the value at `path`; whether there was one.
fn remove(tree: &mut Dict, path: &[String]) -> bool {
    match path {
        [] => false,
        [key] => tree.remove(key).is_some(),
        [key, rest @ ..] => match tree.get_mut(key) {
            Some(Value::Dict(_, inner)) => remove(inner, rest),
            _ => tree.remove(key).is_some(),
        },
    }
}

/// `file:line:column: TOML syntax: message`.
fn syntax_error(file: &Path, text: &str, e: &toml::de::Error) -> String {
    let (line, column) = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            (line, column)
        }
        None => (1, 1),
    };
    format!(
        "{}:{line}:{column}: TOML syntax: {}",
        file.display(),
        e.message().trim_end()
    )
}

/// `KAFKA__BROKERS` (prefix stripped) → `kafka.brokers`: sections split on
/// `__`, lowercased, `_` written `-`. A variable naming no section's key
/// (`VERDICT_LOG`) is not configuration.
fn env_key(path: &str) -> Option<String> {
    let parts: Vec<String> = path
        .split("__")
        .map(|p| p.to_ascii_lowercase().replace('_', "-"))
        .collect();
    if parts.len() < 2 || parts.iter().any(String::is_empty) {
        return None;
    }
    Some(parts.join("."))
}

/// An environment value: numbers and booleans are recognised so
/// `VERDICT_ENGINE__SLA_MS=80` sets an integer; anything else is text.
#[derive(Serialize)]
#[serde(untagged)]
enum EnvValue {
    Integer(i64),
    Boolean(bool),
    Float(f64),
    Text(String),
}

impl EnvValue {
    fn parse(v: &str) -> EnvValue {
        if let Ok(i) = v.parse::<i64>() {
            EnvValue::Integer(i)
        } else if let Ok(b) = v.parse::<bool>() {
            EnvValue::Boolean(b)
        } else if let Ok(f) = v.parse::<f64>() {
            EnvValue::Float(f)
        } else {
            EnvValue::Text(v.to_string())
        }
    }
}
