//! Reading and writing a model directory.
//!
//! ```text
//! <models>/<name>-<version>/
//!   manifest.json   schema, normalization, metrics, drift reference, checksums
//!   model.bin       weights record (see `weights`)
//!   report.json     evaluation report (metrics + threshold table)
//!   report.md       the same, for humans
//!   roc.png pr.png  curves
//! ```
//!
//! Loading is all-or-nothing: the manifest is parsed, the schema hash
//! recomputed, every listed file's size and blake3 hash checked, and the
//! weights decoded and checked against the declared architecture before
//! anything is handed to a scorer. A failed load returns an error and leaves
//! whatever model is serving untouched.

use std::fs;
use std::path::{Path, PathBuf};

use crate::manifest::{FORMAT_VERSION, MANIFEST_FILE, Manifest, WEIGHTS_FILE, checksum};
use crate::weights::{NetWeights, WeightsError};

/// Why a model directory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error(
        "{path}: checksum mismatch (artifact corrupt or truncated): expected {expected_bytes} bytes blake3 {expected}, found {found_bytes} bytes blake3 {found}"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        expected_bytes: u64,
        found: String,
        found_bytes: u64,
    },
    #[error("{path}: {source}")]
    Weights { path: PathBuf, source: WeightsError },
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaMismatch),
    #[error("model schema hash {found} differs from the declared {expected}")]
    SchemaChanged { expected: String, found: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads and fully verifies an artifact directory.
pub fn read_artifact(dir: &Path) -> Result<(Manifest, NetWeights), LoadError> {
    let manifest = read_manifest(dir)?;
    for file in &manifest.files {
        let path = dir.join(&file.path);
        let bytes = fs::read(&path).map_err(io(&path))?;
        let found = checksum(&file.path, &bytes);
        if found.blake3 != file.blake3 || found.bytes != file.bytes {
            return Err(LoadError::Checksum {
                path,
                expected: file.blake3.clone(),
                expected_bytes: file.bytes,
                found: found.blake3,
                found_bytes: found.bytes,
            });
        }
    }
    if !manifest.files.iter().any(|f| f.path == WEIGHTS_FILE) {
        return Err(LoadError::Manifest {
            path: dir.join(MANIFEST_FILE),
            message: format!("no checksum for {WEIGHTS_FILE}"),
        });
    }
    let path = dir.join(WEIGHTS_FILE);
    let bytes = fs::read(&path).map_err(io(&path))?;
    let weights = NetWeights::decode(&bytes)
        .and_then(|w| w.validate(&manifest.architecture).map(|()| w))
        .map_err(|source| LoadError::Weights { path, source })?;
    Ok((manifest, weights))
}

/// Reads `manifest.json` and checks its internal consistency (no weights).
pub fn read_manifest(dir: &Path) -> Result<Manifest, LoadError> {
    let path = dir.join(MANIFEST_FILE);
    let text = fs::read_to_string(&path).map_err(io(&path))?;
    let bad = |message: String| LoadError::Manifest {
        path: path.clone(),
        message,
    };
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if manifest.format_version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {} (this build reads {FORMAT_VERSION})",
            manifest.format_version
        )));
    }
    let hash = manifest.schema.hash();
    if hash != manifest.schema_hash {
        return Err(bad(format!(
            "schema hash {} does not match its schema ({hash})",
            manifest.schema_hash
        )));
    }
    if manifest.normalization.len() != manifest.schema.numeric.len()
        || manifest.architecture.numeric_inputs != manifest.schema.numeric.len()
        || manifest.architecture.vocabulary_sizes != manifest.schema.vocabulary_sizes()
    {
        return Err(bad(
            "architecture or normalization does not match the schema".into(),
        ));
    }
    if manifest.calibration.as_ref().is_some_and(|c| !c.is_valid()) {
        return Err(bad(
            "calibration: breakpoints not increasing, or outside [0, 1]".into(),
        ));
    }
    Ok(manifest)
}

/// Writes `model.bin` and `manifest.json` (with the weights checksum plus
/// those of `extra` files already present in `dir`).
pub fn write_artifact(
    dir: &Path,
    manifest: &mut Manifest,
    weights: &NetWeights,
    extra: &[&str],
) -> Result<(), LoadError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let bytes = weights.encode();
    let path = dir.join(WEIGHTS_FILE);
    fs::write(&path, &bytes).map_err(io(&path))?;
    manifest.files = vec![checksum(WEIGHTS_FILE, &bytes)];
    for name in extra {
        let path = dir.join(name);
        let bytes = fs::read(&path).map_err(io(&path))?;
        manifest.files.push(checksum(name, &bytes));
    }
    let path = dir.join(MANIFEST_FILE);
    let text = serde_json::to_string_pretty(manifest).map_err(|e| LoadError::Manifest {
        path: path.clone(),
        message: e.to_string(),
    })?;
    fs::write(&path, text).map_err(io(&path))
}
