//! The embedded defaults: the default rule set and model ship inside the
//! binary, so `verdict demo` and a first `verdict run` need no files.
//!
//! They are written out to a directory at start (the rules crate reads lists
//! relative to rule files, and the model loader verifies checksums of files),
//! which also lets an operator see exactly what is running.

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

static DEFAULT_RULES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../rules/default");
static DEFAULT_MODEL: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../models/default");

/// Where the defaults were written.
pub struct Defaults {
    pub rules_dir: PathBuf,
    pub model_dir: PathBuf,
}

/// Writes the default rule set and model under `base`.
pub fn extract(base: &Path) -> std::io::Result<Defaults> {
    let rules_dir = base.join("rules");
    let model_dir = base.join("model");
    std::fs::create_dir_all(&rules_dir)?;
    std::fs::create_dir_all(&model_dir)?;
    DEFAULT_RULES.extract(&rules_dir)?;
    DEFAULT_MODEL.extract(&model_dir)?;
    Ok(Defaults {
        rules_dir,
        model_dir,
    })
}
