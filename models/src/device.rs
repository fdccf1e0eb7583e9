//! Where a model scores and trains: the CPU (the fused scorer, burn's
//! NdArray for training) or a CUDA GPU (burn-cuda, with the `cuda` feature).
//!
//! Asking for CUDA never fails a start: a binary built without the feature,
//! or a machine whose GPU does not answer, scores (or trains) on the CPU,
//! and the caller gets the reason to log. Whether the GPU answers is tried
//! with one probe row before the scorer is handed out, so a broken driver is
//! found at load, not in the middle of a batch.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::artifact::LoadError;
use crate::scorer::{Scorer, load_model};

/// `[model] device`, `verdict train --device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    #[default]
    Cpu,
    Cuda,
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            other => Err(format!("unknown device {other:?}: cpu or cuda")),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        })
    }
}

/// A loaded model and where it runs.
pub struct Placed {
    pub scorer: Arc<dyn Scorer>,
    /// The device it scores on.
    pub device: Device,
    /// Why it is not on the device asked for, when it is not.
    pub fallback: Option<String>,
}

/// Why CUDA was asked for and the CPU is used, in a binary without the feature.
pub const NO_CUDA_FEATURE: &str = "this binary was built without the `cuda` feature (cargo build --release --features cuda): \
     using the CPU";

/// Loads and verifies `dir` onto `device`. A model that does not load is an
/// error whatever the device; a device that cannot run it falls back to the
/// CPU scorer, with the reason in [`Placed::fallback`].
pub fn load_model_on(dir: &Path, device: Device) -> Result<Placed, LoadError> {
    match device {
        Device::Cpu => Ok(Placed {
            scorer: load_model(dir)?,
            device: Device::Cpu,
            fallback: None,
        }),
        Device::Cuda => cuda::place(dir),
    }
}

/// Runs `work` and turns a panic (how burn-cuda reports a missing device or
/// driver) into an error message.
#[cfg(any(feature = "cuda", test))]
pub(crate) fn without_panics<T>(work: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the CUDA backend panicked".into())),
    }
}

#[cfg(not(feature = "cuda"))]
mod cuda {
    use super::*;

    pub fn place(dir: &Path) -> Result<Placed, LoadError> {
        Ok(Placed {
            scorer: load_model(dir)?,
            device: Device::Cpu,
            fallback: Some(NO_CUDA_FEATURE.into()),
        })
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use super::*;
    use crate::artifact::read_artifact;
    use crate::scorer::{BurnScorer, FastScorer};

    pub fn place(dir: &Path) -> Result<Placed, LoadError> {
        let (manifest, weights) = read_artifact(dir)?;
        let width = manifest.schema.width();
        let probed = without_panics(|| {
            let device = burn::backend::cuda::CudaDevice::default();
            let scorer = BurnScorer::<burn::backend::Cuda>::new(manifest.clone(), &weights, device);
            let mut out = [0.0f32];
            scorer
                .score_batch(&vec![f32::NAN; width], &mut out)
                .map_err(|e| e.to_string())?;
            Ok(scorer)
        });
        Ok(match probed {
            Ok(scorer) => Placed {
                scorer: Arc::new(scorer),
                device: Device::Cuda,
                fallback: None,
            },
            Err(why) => Placed {
                // The artifact read and verified above, not read again.
                scorer: Arc::new(FastScorer::new(manifest, &weights)),
                device: Device::Cpu,
                fallback: Some(format!("no usable CUDA device ({why}): using the CPU")),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print() {
        for d in [Device::Cpu, Device::Cuda] {
            assert_eq!(d.to_string().parse::<Device>(), Ok(d));
        }
        assert!("gpu".parse::<Device>().unwrap_err().contains("cpu or cuda"));
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_in_a_build_without_the_feature_scores_on_the_cpu_and_says_why() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("default");
        let placed = load_model_on(&dir, Device::Cuda).unwrap();
        assert_eq!(placed.device, Device::Cpu);
        assert_eq!(placed.fallback.as_deref(), Some(NO_CUDA_FEATURE));
        let width = placed.scorer.manifest().schema.width();
        let mut out = [f32::NAN];
        placed
            .scorer
            .score_batch(&vec![0.0; width], &mut out)
            .unwrap();
        assert!((0.0..=1.0).contains(&out[0]));
        let cpu = load_model_on(&dir, Device::Cpu).unwrap();
        assert_eq!((cpu.device, cpu.fallback), (Device::Cpu, None));
        // A model that does not load is an error on any device.
        assert!(load_model_on(&dir.join("missing"), Device::Cuda).is_err());
    }

    #[test]
    fn a_panic_becomes_the_reason() {
        let r: Result<(), String> = without_panics(|| panic!("no CUDA driver"));
        assert_eq!(r.unwrap_err(), "no CUDA driver");
        assert_eq!(without_panics(|| Ok(7)), Ok(7));
    }
}
