//! Serving drift of the model's inputs: for each numeric input the champion
//! reads, the PSI of its served values over a sliding window against the
//! training split's distribution in the manifest (`feature_reference`:
//! training deciles plus a missing bin, see `verdict_models::shift`),
//! exported as `verdict_feature_psi{feature}`.
//!
//! Where the score's PSI (`drift.rs`) says that the model's output moved,
//! these say which inputs moved: a changed upstream field, a new population,
//! an input that follows the clock.
//!
//! Cost on the event path: one row in [`SAMPLE`] is counted, a binary search
//! over about ten edges per input, under a lock taken once per batch with
//! `try_lock` (a batch that finds it taken is not sampled). The window's
//! slots close on the partitions' timers, as the score's do; a model
//! without a reference publishes nothing.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::GaugeVec;
use verdict_models::Manifest;
use verdict_models::shift::Bins;

/// One served row in this many is counted.
pub const SAMPLE: usize = 4;

/// The shared monitor of one engine (every partition's score stage).
pub struct FeatureDrift {
    state: Mutex<State>,
    gauges: GaugeVec,
    slot: Duration,
    slots: usize,
    /// Rows the window needs before the gauges are published.
    min_rows: u64,
}

#[derive(Default)]
struct State {
    model: Option<String>,
    /// (model column, feature name, reference) per monitored input.
    inputs: Vec<(usize, String, Bins)>,
    /// Per input, the current slot's counts.
    live: Vec<Vec<u64>>,
    closed: VecDeque<Vec<Vec<u64>>>,
    slot_opened: Option<Instant>,
    /// Rows counted in the current slot, and in each closed one.
    rows_live: u64,
    rows_closed: VecDeque<u64>,
}

impl FeatureDrift {
    pub fn new(gauges: GaugeVec, window: Duration, slots: usize, min_rows: u64) -> Self {
        let slots = slots.max(1);
        FeatureDrift {
            state: Mutex::new(State::default()),
            gauges,
            slot: window / slots as u32,
            slots,
            min_rows,
        }
    }

    /// The champion changed: its manifest's references replace the old
    /// ones (the old inputs' gauges go) and the window starts empty.
    pub fn set_reference(&self, model: &str, manifest: &Manifest) {
        let mut s = self.state.lock().expect("feature drift lock");
        for (_, name, _) in &s.inputs {
            let _ = self.gauges.remove_label_values(&[name]);
        }
        let numeric = &manifest.schema.numeric;
        s.inputs = (manifest.feature_reference.iter())
            .filter_map(|r| {
                let column = numeric.iter().position(|n| n == &r.feature)?;
                Some((column, r.feature.clone(), r.bins.clone()))
            })
            .collect();
        s.live = s
            .inputs
            .iter()
            .map(|(_, _, b)| vec![0; b.width()])
            .collect();
        s.closed.clear();
        s.rows_closed.clear();
        s.rows_live = 0;
        s.slot_opened = None;
        s.model = Some(model.to_owned());
    }

    /// Counts a sample of `rows` (model rows, `width` values each) that
    /// `model` scored.
    pub fn record(&self, model: &str, rows: &[f32], width: usize) {
        let Ok(mut s) = self.state.try_lock() else {
            return;
        };
        if s.model.as_deref() != Some(model) || s.inputs.is_empty() || width == 0 {
            return;
        }
        let State {
            inputs,
            live,
            rows_live,
            ..
        } = &mut *s;
        for row in rows.chunks_exact(width).step_by(SAMPLE) {
            for ((column, _, bins), counts) in inputs.iter().zip(live.iter_mut()) {
                counts[bins.bin(row[*column])] += 1;
            }
            *rows_live += 1;
        }
    }

    /// Closes the slot when due and recomputes the gauges. Cheap to call
    /// from every partition once a second: one caller does the work.
    pub fn tick(&self, now: Instant) {
        let Ok(mut s) = self.state.try_lock() else {
            return;
        };
        if s.inputs.is_empty() {
            return;
        }
        let opened = *s.slot_opened.get_or_insert(now);
        if now.saturating_duration_since(opened) >= self.slot {
            let fresh: Vec<Vec<u64>> = s.live.iter().map(|c| vec![0; c.len()]).collect();
            let closed = std::mem::replace(&mut s.live, fresh);
            let rows = std::mem::take(&mut s.rows_live);
            s.closed.push_back(closed);
            s.rows_closed.push_back(rows);
            while s.closed.len() > self.slots {
                s.closed.pop_front();
                s.rows_closed.pop_front();
            }
            s.slot_opened = Some(now);
        }
        if s.rows_live + s.rows_closed.iter().sum::<u64>() < self.min_rows {
            return;
        }
        for (f, (_, name, bins)) in s.inputs.iter().enumerate() {
            let mut total = s.live[f].clone();
            for slot in &s.closed {
                for (t, c) in total.iter_mut().zip(&slot[f]) {
                    *t += c;
                }
            }
            if let Some(psi) = bins.psi(&total) {
                self.gauges.with_label_values(&[name]).set(psi);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_models::shift::FeatureReference;

    fn manifest(reference: Vec<FeatureReference>) -> Manifest {
        let dir = tempfile::tempdir().unwrap();
        let d = crate::defaults::extract(dir.path()).unwrap();
        let mut m = verdict_models::read_manifest(&d.model_dir).unwrap();
        m.feature_reference = reference;
        m
    }

    #[test]
    fn the_gauges_move_with_shifted_inputs_and_go_with_the_model() {
        let values: Vec<f32> = (0..10_000).map(|i| (i % 100) as f32).collect();
        let m = manifest(vec![FeatureReference {
            feature: "amount".into(),
            bins: Bins::of(&values),
        }]);
        let amount = m.schema.numeric.iter().position(|n| n == "amount").unwrap();
        let width = m.schema.width();
        let rows = |shift: f32| -> Vec<f32> {
            let mut rows = vec![0.0f32; 4_000 * width];
            for (i, row) in rows.chunks_mut(width).enumerate() {
                row[amount] = (i % 100) as f32 + shift;
            }
            rows
        };
        let gauges = GaugeVec::new(prometheus::Opts::new("psi", "test"), &["feature"]).unwrap();
        let drift = FeatureDrift::new(gauges.clone(), Duration::from_secs(60), 6, 500);
        drift.set_reference("m@1", &m);
        let start = Instant::now();
        drift.record("m@1", &rows(0.0), width);
        drift.tick(start);
        let psi = gauges.with_label_values(&["amount"]).get();
        assert!(psi < 0.05, "the training distribution: {psi}");

        // Shifted traffic fills the window; the old slots age out.
        for s in 1..=7 {
            drift.record("m@1", &rows(60.0), width);
            drift.tick(start + Duration::from_secs(10 * s + 1));
        }
        let psi = gauges.with_label_values(&["amount"]).get();
        assert!(psi > 1.0, "shifted by 60 % of its range: {psi}");

        // Another model's rows are not counted; a model without a
        // reference removes the gauge.
        drift.record("m@2", &rows(0.0), width);
        drift.set_reference("m@2", &manifest(Vec::new()));
        use prometheus::core::Collector;
        let children: usize = gauges.collect().iter().map(|f| f.get_metric().len()).sum();
        assert_eq!(children, 0, "the old model's gauges are removed");
    }
}
