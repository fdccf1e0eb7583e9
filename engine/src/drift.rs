//! Serving drift: the population stability index (PSI) of the champion's
//! scores over a sliding window against the score distribution its
//! manifest recorded on validation data (`score_distribution`: 20 bins over
//! [0, 1]), exported as `verdict_score_psi`.
//!
//! PSI = Σ (aᵢ − eᵢ) · ln(aᵢ / eᵢ) over the bins, with the served fractions
//! aᵢ and the reference fractions eᵢ (each floored at 10⁻⁴ so an empty bin
//! stays finite). The usual reading: below 0.1 stable, 0.1–0.25 worth a
//! look, above 0.25 the traffic or the model has moved.
//!
//! Cost on the event path: none. A score stage counts its batch's scores
//! into a local array and adds it to the shared bins once per batch (a few
//! relaxed atomic adds); once a second each partition's timer offers a tick,
//! and one of them (whoever takes the lock) closes the current slot when it
//! is due, drops slots older than the window and recomputes the gauge.
//! The gauge appears once the window holds `min_scores` scores; a new
//! champion resets the window (its reference is a different one).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus::Gauge;

/// Bins of the manifest's score histogram.
pub const BINS: usize = 20;

/// The bin of a score in [0, 1] (out-of-range scores clamp to the ends).
pub fn bin_of(score: f32) -> usize {
    ((score.clamp(0.0, 1.0) * BINS as f32) as usize).min(BINS - 1)
}

/// PSI of observed bin counts against reference fractions.
pub fn psi(observed: &[u64; BINS], reference: &[f64]) -> Option<f64> {
    verdict_models::shift::psi(reference, observed)
}

/// The shared monitor of one engine (every partition's score stage).
pub struct ScoreDrift {
    /// Scores counted since the current slot opened.
    live: [AtomicU64; BINS],
    window: Mutex<Window>,
    gauge: Gauge,
    slot: Duration,
    slots: usize,
    min_scores: u64,
}

struct Window {
    /// The model the reference belongs to (`name@version`).
    model: Option<String>,
    reference: Vec<f64>,
    slot_opened: Instant,
    closed: VecDeque<[u64; BINS]>,
}

impl ScoreDrift {
    /// A window of `window` split into `slots` slots; the gauge is published
    /// once the window holds `min_scores`.
    pub fn new(gauge: Gauge, window: Duration, slots: usize, min_scores: u64) -> Self {
        let slots = slots.max(1);
        ScoreDrift {
            live: std::array::from_fn(|_| AtomicU64::new(0)),
            window: Mutex::new(Window {
                model: None,
                reference: Vec::new(),
                slot_opened: Instant::now(),
                closed: VecDeque::new(),
            }),
            gauge,
            slot: window / slots as u32,
            slots,
            min_scores,
        }
    }

    /// The champion changed: its manifest's reference replaces the old one
    /// and the window starts empty.
    pub fn set_reference(&self, model: &str, fractions: &[f64]) {
        let mut w = self.window.lock().expect("drift lock");
        w.model = Some(model.to_string());
        w.reference = fractions.to_vec();
        w.closed.clear();
        w.slot_opened = Instant::now();
        for bin in &self.live {
            bin.store(0, Ordering::Relaxed);
        }
        self.gauge.set(f64::NAN);
    }

    /// Adds one batch's counts, scored by `model`.
    pub fn record(&self, model: &str, counts: &[u32; BINS]) {
        // Scores of a model that is no longer the reference's are not drift.
        if let Ok(w) = self.window.try_lock()
            && w.model.as_deref() != Some(model)
        {
            return;
        }
        for (bin, &n) in self.live.iter().zip(counts) {
            if n > 0 {
                bin.fetch_add(u64::from(n), Ordering::Relaxed);
            }
        }
    }

    /// Closes the slot when due and recomputes the gauge. Cheap to call
    /// from every partition once a second: one caller does the work.
    pub fn tick(&self, now: Instant) {
        let Ok(mut w) = self.window.try_lock() else {
            return;
        };
        if now.saturating_duration_since(w.slot_opened) >= self.slot {
            let closed: [u64; BINS] =
                std::array::from_fn(|i| self.live[i].swap(0, Ordering::Relaxed));
            w.closed.push_back(closed);
            while w.closed.len() > self.slots {
                w.closed.pop_front();
            }
            w.slot_opened = now;
        }
        let mut total = [0u64; BINS];
        for slot in &w.closed {
            for (t, c) in total.iter_mut().zip(slot) {
                *t += c;
            }
        }
        for (t, live) in total.iter_mut().zip(&self.live) {
            *t += live.load(Ordering::Relaxed);
        }
        if total.iter().sum::<u64>() >= self.min_scores
            && let Some(v) = psi(&total, &w.reference)
        {
            self.gauge.set(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Vec<f64> {
        // 90 % of scores in the lowest bin, the rest spread evenly.
        let mut r = vec![0.1 / 19.0; BINS];
        r[0] = 0.9;
        r
    }

    fn counts(fractions: &[f64], n: u32) -> [u32; BINS] {
        std::array::from_fn(|i| (fractions[i] * f64::from(n)).round() as u32)
    }

    #[test]
    fn psi_is_near_zero_on_the_reference_and_large_on_shifted_traffic() {
        let r = reference();
        let same: [u64; BINS] = counts(&r, 100_000).map(u64::from);
        assert!(psi(&same, &r).unwrap() < 0.01);
        let mut shifted = [0u64; BINS];
        shifted[0] = 50_000;
        shifted[10] = 50_000;
        assert!(psi(&shifted, &r).unwrap() > 0.25);
    }

    #[test]
    fn the_gauge_follows_the_window_and_resets_with_a_new_champion() {
        let gauge = Gauge::new("psi", "test").unwrap();
        let drift = ScoreDrift::new(gauge.clone(), Duration::from_secs(60), 6, 1_000);
        drift.set_reference("m@1", &reference());
        let start = Instant::now();
        drift.record("m@1", &counts(&reference(), 500));
        drift.tick(start);
        assert!(gauge.get().is_nan(), "not published below min_scores");
        drift.record("m@1", &counts(&reference(), 5_000));
        drift.tick(start + Duration::from_secs(1));
        assert!(gauge.get() < 0.01, "{}", gauge.get());

        // Shifted traffic fills the window; the old slots age out.
        let mut shifted = [0u32; BINS];
        shifted[10] = 10_000;
        for s in 1..=7 {
            drift.record("m@1", &shifted);
            drift.tick(start + Duration::from_secs(10 * s + 1));
        }
        assert!(gauge.get() > 1.0, "{}", gauge.get());

        // Scores of another model are ignored; a new champion starts over.
        drift.set_reference("m@2", &reference());
        drift.record("m@1", &shifted);
        drift.tick(start + Duration::from_secs(200));
        assert!(gauge.get().is_nan());
    }
}
