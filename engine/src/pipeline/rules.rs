//! Rule stage: evaluates the current compiled rule set on every event.

use std::sync::Arc;

use arc_swap::ArcSwap;
use verdict_rules::RuleSet;

use super::{Batch, Stage};
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct RuleStage {
    rules: Arc<ArcSwap<RuleSet>>,
    metrics: Arc<Metrics>,
}

impl RuleStage {
    pub fn new(rules: Arc<ArcSwap<RuleSet>>, metrics: Arc<Metrics>) -> Self {
        RuleStage { rules, metrics }
    }

    /// The rule set new batches are evaluated with.
    pub fn current(&self) -> Arc<RuleSet> {
        self.rules.load_full()
    }
}

impl Stage for RuleStage {
    fn name(&self) -> &'static str {
        "rules"
    }

    fn process(&mut self, batch: &mut Batch) {
        let rules = Arc::clone(batch.rules.as_ref().expect("batch begun"));
        let infos = rules.rules();
        for i in 0..batch.events.len() {
            let width = batch.width;
            let features = &batch.features[i * width..(i + 1) * width];
            let out = &mut batch.evaluations[i];
            rules.evaluate(&batch.events[i], features, batch.scores[i], out);
            for hit in &out.hits {
                let info = &infos[hit.rule as usize];
                let mode = if hit.shadow { "shadow" } else { "live" };
                self.metrics
                    .rule_hits
                    .with_label_values(&[&*info.name, mode])
                    .inc();
            }
        }
    }
}
