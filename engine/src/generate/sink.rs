//! Where generated traffic goes: a JSON-lines file or a Kafka topic, with
//! labels written to their own CSV file.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::{Generated, Generator, GeneratorConfig};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GenerateSummary {
    pub messages: u64,
    pub fraud: u64,
    pub malformed: u64,
    pub elapsed_ms: u64,
}

impl fmt::Display for GenerateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "generated {} messages ({} fraudulent, {} malformed) in {:.2}s",
            self.messages,
            self.fraud,
            self.malformed,
            self.elapsed_ms as f64 / 1e3
        )
    }
}

struct Labels(Option<BufWriter<File>>);

impl Labels {
    fn create(path: Option<&Path>) -> std::io::Result<Labels> {
        Ok(Labels(match path {
            Some(p) => {
                let mut w = BufWriter::new(File::create(p)?);
                writeln!(w, "transaction_id,is_fraud,scenario")?;
                Some(w)
            }
            None => None,
        }))
    }

    fn record(&mut self, g: &Generated, summary: &mut GenerateSummary) -> std::io::Result<()> {
        summary.messages += 1;
        match &g.label {
            Some(l) => {
                summary.fraud += u64::from(l.is_fraud);
                if let Some(w) = self.0.as_mut() {
                    writeln!(
                        w,
                        "{},{},{}",
                        l.transaction_id,
                        u8::from(l.is_fraud),
                        l.scenario
                    )?;
                }
            }
            None => summary.malformed += 1,
        }
        Ok(())
    }

    fn finish(self) -> std::io::Result<()> {
        if let Some(mut w) = self.0 {
            w.flush()?;
        }
        Ok(())
    }
}

fn progress(count: u64) -> ProgressBar {
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} messages, {per_sec}, eta {eta}")
            .expect("valid template"),
    );
    bar
}

/// Writes `count` messages to `output`, one per line.
pub fn to_file(
    cfg: GeneratorConfig,
    count: u64,
    output: &Path,
    labels: Option<&Path>,
) -> anyhow::Result<GenerateSummary> {
    let started = Instant::now();
    let mut out = BufWriter::with_capacity(1 << 20, File::create(output)?);
    let mut labels = Labels::create(labels)?;
    let mut summary = GenerateSummary::default();
    let bar = progress(count);
    for (i, g) in Generator::new(cfg).take(count as usize).enumerate() {
        out.write_all(&g.payload)?;
        out.write_all(b"\n")?;
        labels.record(&g, &mut summary)?;
        if i % 10_000 == 0 {
            bar.set_position(i as u64);
        }
    }
    bar.finish_and_clear();
    out.flush()?;
    labels.finish()?;
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

/// Produces `count` messages to `topic`, keyed by user, at `rate` per second
/// (0: as fast as the broker takes them).
pub async fn to_kafka(
    cfg: GeneratorConfig,
    count: u64,
    brokers: &str,
    topic: &str,
    rate: u32,
    labels: Option<&Path>,
) -> anyhow::Result<GenerateSummary> {
    let started = Instant::now();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?;
    let mut labels = Labels::create(labels)?;
    let mut summary = GenerateSummary::default();
    let mut inflight = std::collections::VecDeque::new();
    let bar = progress(count);
    for (i, g) in Generator::new(cfg).take(count as usize).enumerate() {
        if rate > 0 {
            let due = started + Duration::from_secs_f64(i as f64 / f64::from(rate));
            tokio::time::sleep_until(due.into()).await;
        }
        let record = FutureRecord::to(topic).key(&g.key).payload(&g.payload);
        let mut record = record;
        loop {
            match producer.send_result(record) {
                Ok(fut) => {
                    inflight.push_back(fut);
                    break;
                }
                Err((_, r)) => {
                    record = r;
                    if let Some(f) = inflight.pop_front() {
                        f.await?.map_err(|(e, _)| e)?;
                    }
                }
            }
        }
        labels.record(&g, &mut summary)?;
        if i % 1_000 == 0 {
            bar.set_position(i as u64);
        }
    }
    for f in inflight {
        f.await?.map_err(|(e, _)| e)?;
    }
    bar.finish_and_clear();
    labels.finish()?;
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}
