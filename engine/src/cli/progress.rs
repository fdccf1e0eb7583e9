//! How far a long file command (`replay`, `backtest`, `models eval`) is, on
//! stderr: a bar with rate and ETA when stderr is a terminal, otherwise (a
//! log, CI) a plain line every [`PLAIN_EVERY`]. Never on stdout, which may
//! carry a command's data or report.
//!
//! The library functions take a plain callback (bytes read, rows scored);
//! this is the only place that knows about terminals.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{
    HumanBytes, HumanCount, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle,
};

/// The pause between two plain progress lines.
pub const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// What a position counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Rows,
}

/// One command's progress.
pub struct Progress {
    /// Keeps position, rate and ETA; drawn only on a terminal.
    bar: ProgressBar,
    what: &'static str,
    unit: Unit,
    /// Off a terminal: when the last plain line was written.
    plain: Option<Mutex<Instant>>,
}

impl Progress {
    /// Progress of `what` (the command's name) in `unit`s out of `len`
    /// (0 when not yet known: [`Self::update`] sets it).
    pub fn new(what: &'static str, unit: Unit, len: u64) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let target = if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(len), target);
        let template = match unit {
            Unit::Bytes => {
                "{prefix} {bar:40} {binary_bytes}/{binary_total_bytes}, {binary_bytes_per_sec}, eta {eta}"
            }
            Unit::Rows => "{prefix} {bar:40} {human_pos}/{human_len} rows, {per_sec}, eta {eta}",
        };
        bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
        bar.set_prefix(what);
        Progress {
            bar,
            what,
            unit,
            plain: (!terminal).then(|| Mutex::new(Instant::now())),
        }
    }

    /// The position is `pos` of `len`.
    pub fn update(&self, pos: u64, len: u64) {
        if self.bar.length() != Some(len) {
            self.bar.set_length(len);
        }
        self.bar.set_position(pos);
        if let Some(last) = &self.plain {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= PLAIN_EVERY {
                *last = Instant::now();
                eprintln!("{}", self.line());
            }
        }
    }

    /// The plain line for the current position.
    fn line(&self) -> String {
        let (pos, len) = (self.bar.position(), self.bar.length().unwrap_or(0));
        let percent = 100.0 * pos as f64 / len.max(1) as f64;
        let rate = self.bar.per_sec();
        let (done, rate) = match self.unit {
            Unit::Bytes => (
                format!("{} of {}", HumanBytes(pos), HumanBytes(len)),
                format!("{}/s", HumanBytes(rate as u64)),
            ),
            Unit::Rows => (
                format!("{} of {} rows", HumanCount(pos), HumanCount(len)),
                format!("{} rows/s", HumanCount(rate as u64)),
            ),
        };
        format!(
            "{}: {percent:.0}% ({done}), {rate}, eta {}",
            self.what,
            HumanDuration(self.bar.eta())
        )
    }

    /// Removes the bar; the command then prints its own summary.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::{Progress, Unit};

    #[test]
    fn plain_lines_say_how_far_in_what_unit() {
        let p = Progress::new("replay", Unit::Bytes, 4096);
        p.update(1024, 4096);
        let line = p.line();
        assert!(
            line.starts_with("replay: 25% (1.00 KiB of 4.00 KiB), "),
            "{line}"
        );
        assert!(line.contains("/s, eta "), "{line}");
        let p = Progress::new("models eval", Unit::Rows, 0);
        p.update(500, 2000);
        assert!(
            p.line()
                .starts_with("models eval: 25% (500 of 2,000 rows), "),
            "{}",
            p.line()
        );
    }
}
