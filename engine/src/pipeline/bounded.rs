//! Model calls bounded by the events' deadline.
//!
//! The live engine decides every event before its deadline, whatever the
//! model does: a slow backend, a stalled device, a model that hangs. So a
//! live partition hands each model call to a scoring thread of its own (one
//! per model slot, champion and challenger) and waits for the answer only
//! until the earliest deadline among the events in the call, less the time
//! the rules and the hand-off to the producer need. A late answer is
//! abandoned: those events are decided by the rules alone (`degraded`), on
//! time. Until the abandoned call returns, the slot takes no new one (its
//! thread is busy), so a hung model costs the scores, never a deadline.
//!
//! Offline (replay, backtest) nothing waits on a deadline and the model is
//! called inline, on the partition's own thread.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::Instant;

use verdict_models::Scorer;

/// How a model call ended.
#[derive(Debug, PartialEq)]
pub enum Called {
    /// `out` holds the scores.
    Scored,
    /// The model returned an error (or panicked).
    Failed(String),
    /// The answer did not come in time; the call was abandoned.
    Late,
    /// An abandoned call is still running; nothing was called.
    Busy,
}

/// Calls a model inline, or on a scoring thread with a time limit.
pub struct ModelCaller {
    thread: Option<ScoringThread>,
}

/// A call's inputs and outputs, handed to the scoring thread and back.
struct Call {
    scorer: Arc<dyn Scorer>,
    rows: Vec<f32>,
    out: Vec<f32>,
    result: Result<(), String>,
}

struct ScoringThread {
    calls: SyncSender<Call>,
    answers: Receiver<Call>,
    /// A call was handed over and its answer has not been taken back.
    outstanding: bool,
}

impl ModelCaller {
    /// Calls run on the caller's thread, as long as they take.
    pub fn inline() -> Self {
        ModelCaller { thread: None }
    }

    /// Calls run on a thread named `name`, waited for until their limit. The
    /// thread ends when the caller is dropped (after its current call).
    pub fn bounded(name: String) -> std::io::Result<Self> {
        // Capacity 1 each way: at most one call is ever outstanding.
        let (calls, inbox) = mpsc::sync_channel::<Call>(1);
        let (outbox, answers) = mpsc::sync_channel::<Call>(1);
        std::thread::Builder::new().name(name).spawn(move || {
            for mut call in inbox {
                call.result = run(call.scorer.as_ref(), &call.rows, &mut call.out);
                if outbox.send(call).is_err() {
                    break;
                }
            }
        })?;
        Ok(ModelCaller {
            thread: Some(ScoringThread {
                calls,
                answers,
                outstanding: false,
            }),
        })
    }

    /// Scores `rows` into `out` (already sized) with `scorer`. A bounded
    /// caller waits for the answer until `until` at most.
    pub fn call(
        &mut self,
        scorer: &Arc<dyn Scorer>,
        rows: &mut Vec<f32>,
        out: &mut Vec<f32>,
        until: Instant,
    ) -> Called {
        let Some(t) = &mut self.thread else {
            return match run(scorer.as_ref(), rows, out) {
                Ok(()) => Called::Scored,
                Err(e) => Called::Failed(e),
            };
        };
        const GONE: &str = "the scoring thread exited";
        if t.outstanding {
            match t.answers.try_recv() {
                // The abandoned answer: its events were decided long ago.
                Ok(_) => t.outstanding = false,
                Err(TryRecvError::Empty) => return Called::Busy,
                Err(TryRecvError::Disconnected) => return Called::Failed(GONE.into()),
            }
        }
        let call = Call {
            scorer: Arc::clone(scorer),
            rows: std::mem::take(rows),
            out: std::mem::take(out),
            result: Ok(()),
        };
        if t.calls.send(call).is_err() {
            return Called::Failed(GONE.into());
        }
        match t
            .answers
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            Ok(call) => {
                *rows = call.rows;
                *out = call.out;
                match call.result {
                    Ok(()) => Called::Scored,
                    Err(e) => Called::Failed(e),
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                t.outstanding = true;
                Called::Late
            }
            Err(RecvTimeoutError::Disconnected) => Called::Failed(GONE.into()),
        }
    }
}

/// One model call; a panic in the model is an error like any other.
fn run(scorer: &dyn Scorer, rows: &[f32], out: &mut [f32]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| scorer.score_batch(rows, out))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the model panicked".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use verdict_models::{Manifest, ScoreError};

    use super::*;

    /// Answers 0.5 per row once `gate` lets it (a model that hangs until
    /// the test says otherwise), or fails or panics on request.
    struct Gated {
        manifest: Manifest,
        gate: Mutex<mpsc::Receiver<()>>,
        mode: &'static str,
    }

    impl Scorer for Gated {
        fn manifest(&self) -> &Manifest {
            &self.manifest
        }
        fn score_batch(&self, _rows: &[f32], out: &mut [f32]) -> Result<(), ScoreError> {
            match self.mode {
                "fail" => return Err(ScoreError::Backend("device lost".into())),
                "panic" => panic!("model bug"),
                _ => {}
            }
            self.gate.lock().unwrap().recv().ok();
            out.fill(0.5);
            Ok(())
        }
    }

    fn gated(mode: &'static str) -> (Arc<dyn Scorer>, mpsc::Sender<()>) {
        let (open, gate) = mpsc::channel();
        let scratch = tempfile::tempdir().unwrap();
        let d = crate::defaults::extract(scratch.path()).unwrap();
        let manifest = verdict_models::read_manifest(&d.model_dir).unwrap();
        let scorer: Arc<dyn Scorer> = Arc::new(Gated {
            manifest,
            gate: Mutex::new(gate),
            mode,
        });
        (scorer, open)
    }

    #[test]
    fn an_answer_in_time_is_returned_with_its_buffers() {
        let (scorer, open) = gated("ok");
        let mut caller = ModelCaller::bounded("score-test".into()).unwrap();
        let (mut rows, mut out) = (vec![1.0; 3], vec![f32::NAN; 3]);
        open.send(()).unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        assert_eq!(
            caller.call(&scorer, &mut rows, &mut out, until),
            Called::Scored
        );
        assert_eq!((rows, out), (vec![1.0; 3], vec![0.5; 3]));
    }

    #[test]
    fn a_hung_model_is_abandoned_at_the_limit_and_its_slot_stays_busy_until_it_returns() {
        let (scorer, open) = gated("ok");
        let mut caller = ModelCaller::bounded("score-test".into()).unwrap();
        let (mut rows, mut out) = (vec![1.0; 2], vec![f32::NAN; 2]);
        let limit = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            caller.call(&scorer, &mut rows, &mut out, limit),
            Called::Late
        );
        assert!(Instant::now() >= limit);
        // The hung call still holds the thread: the next one is not made.
        let (mut rows, mut out) = (vec![1.0; 2], vec![f32::NAN; 2]);
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(caller.call(&scorer, &mut rows, &mut out, far), Called::Busy);
        // Once it returns (its answer is dropped), calls go through again.
        open.send(()).unwrap();
        open.send(()).unwrap();
        let mut outcome = Called::Busy;
        while outcome == Called::Busy {
            std::thread::yield_now();
            outcome = caller.call(&scorer, &mut rows, &mut out, far);
        }
        assert_eq!(outcome, Called::Scored);
        assert_eq!(out, vec![0.5; 2]);
    }

    #[test]
    fn errors_and_panics_are_failures_inline_and_bounded() {
        for mode in ["fail", "panic"] {
            let (scorer, _open) = gated(mode);
            let far = Instant::now() + Duration::from_secs(60);
            for mut caller in [
                ModelCaller::inline(),
                ModelCaller::bounded("score-test".into()).unwrap(),
            ] {
                let (mut rows, mut out) = (vec![1.0], vec![f32::NAN]);
                let Called::Failed(e) = caller.call(&scorer, &mut rows, &mut out, far) else {
                    panic!("{mode} must fail the call");
                };
                assert!(e.contains("device lost") || e.contains("panicked"), "{e}");
            }
        }
    }
}
