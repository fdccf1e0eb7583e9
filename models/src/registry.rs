//! The model registry: a directory of artifact folders, one per version.
//!
//! Listing reads each sub-directory's `manifest.json` (no weights) and
//! reports it; a folder whose manifest is unreadable is listed with its error
//! rather than hidden, so a broken artifact is visible to the operator.

use std::path::{Path, PathBuf};

use crate::artifact::read_manifest;
use crate::manifest::{MANIFEST_FILE, Manifest};

/// One folder of the models directory.
#[derive(Debug, Clone)]
pub struct ModelEntry {
    pub dir: PathBuf,
    /// The manifest, or why it could not be read.
    pub manifest: Result<Manifest, String>,
}

impl ModelEntry {
    /// One line for `verdict models list`.
    pub fn summary(&self) -> String {
        match &self.manifest {
            Ok(m) => format!(
                "{:<32} {:<20} created {}  schema {}  PR AUC {:.4}  ROC AUC {:.4}  {}",
                m.name,
                m.version,
                m.created,
                &m.schema_hash[..12.min(m.schema_hash.len())],
                m.metrics.pr_auc,
                m.metrics.roc_auc,
                self.dir.display()
            ),
            Err(e) => format!("{}  INVALID: {e}", self.dir.display()),
        }
    }
}

/// Why the models directory could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list models in {path}: {source}")]
pub struct RegistryError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Every sub-directory holding a `manifest.json`, newest first (by
/// `created`, then name); broken ones last.
pub fn list(models_dir: &Path) -> Result<Vec<ModelEntry>, RegistryError> {
    let err = |source| RegistryError {
        path: models_dir.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(models_dir).map_err(err)? {
        let dir = entry.map_err(err)?.path();
        if !dir.join(MANIFEST_FILE).is_file() {
            continue;
        }
        let manifest = read_manifest(&dir).map_err(|e| e.to_string());
        entries.push(ModelEntry { dir, manifest });
    }
    entries.sort_by(|a, b| match (&a.manifest, &b.manifest) {
        (Ok(x), Ok(y)) => y.created.cmp(&x.created).then(x.name.cmp(&y.name)),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.dir.cmp(&b.dir),
    });
    Ok(entries)
}
