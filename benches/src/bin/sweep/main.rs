//! The latency sweep through a real broker: a producer at fixed rates, the
//! engine as its own process (`verdict run` with RocksDB state and the
//! shipped defaults), and a reader timing every transaction from its input
//! record's timestamp to its decision record's timestamp. The same sweep with
//! the engine replaced by a pass-through consumer (this binary's
//! `passthrough` command: read, write the record to the output topic with the
//! engine's client settings) gives the broker floor, what the broker and the
//! clients cost on their own; the engine's share is the difference.
//!
//! ```text
//! cargo build --release --workspace
//! target/release/sweep --rates 1000,2000,5000,10000,20000,40000 --seconds 60 --out target/sweep
//! ```
//!
//! Each rate runs on fresh topics, a fresh target process and, without
//! `--brokers`, a fresh tansu on a free loopback port (in-memory storage
//! unless `--storage`): tansu's in-memory storage lists every batch a
//! partition holds on each fetch, so a broker that kept the earlier rates'
//! records would slow each later one. Each rate runs `--seconds`; a mode's sweep stops at the
//! first rate whose p99 misses the SLA or that the consumer cannot keep up
//! with (decisions not caught up `--drain-seconds` after the window). Rows
//! are printed as they are measured and written to `sweep.csv`, with a
//! latency-against-throughput chart in `sweep.png`. CPU is the process's
//! user + system time over the window, in % of one core (the machine's cores
//! are shared by broker, engine and this harness); RSS is the largest sample.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Deserialize;
use verdict_engine::config::KafkaConfig;
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_engine::kafka::{Role, client_config, ensure_topics};
use verdict_tests::{Broker, MEMORY_STORAGE};

mod report;
use report::{markdown, plot};

#[derive(Parser)]
#[command(about = "Latency against throughput through a real broker, and the broker floor")]
struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Offered rates in transactions per second, swept in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,2000,5000,10000,20000,40000"
    )]
    rates: Vec<u32>,
    /// Length of each rate's window.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// How long after a window the decisions may take to catch up.
    #[arg(long, default_value_t = 5)]
    drain_seconds: u64,
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Distinct users in the generated traffic.
    #[arg(long, default_value_t = 100_000)]
    users: u32,
    /// The service level the p99 is held to.
    #[arg(long, default_value_t = 75)]
    sla_ms: u64,
    /// Use this broker for every rate instead of starting one per rate.
    #[arg(long)]
    brokers: Option<String>,
    /// The storage engine of the tansu this starts (without `--brokers`):
    /// `memory://tansu/`, or `sqlite://tansu.db` with a tansu built
    /// with its `libsql` feature.
    #[arg(long, default_value = MEMORY_STORAGE)]
    storage: String,
    /// What to sweep.
    #[arg(long, value_enum, default_value = "both")]
    modes: Modes,
    #[arg(long, default_value = "target/sweep")]
    out: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// A librdkafka consumer property for the engine, the pass-through and
    /// the reader alike (`fetch.wait.max.ms=50`), over the engine's defaults.
    #[arg(long = "consumer-property", value_name = "KEY=VALUE")]
    consumer_properties: Vec<String>,
    /// Run the engine with the re-keying hop (`engine.rekey = true`), to
    /// measure what it adds.
    #[arg(long)]
    rekey: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// The broker floor's stand-in for the engine: copies every input record
    /// to the output topic, with the engine's consumer and producer settings.
    Passthrough {
        #[arg(long)]
        brokers: String,
        #[arg(long)]
        input: String,
        #[arg(long)]
        output: String,
        #[arg(long)]
        group: String,
        #[arg(long = "consumer-property", value_name = "KEY=VALUE")]
        consumer_properties: Vec<String>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Modes {
    Both,
    Engine,
    Floor,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Floor,
    Engine,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Floor => "floor",
            Mode::Engine => "engine",
        }
    }
}

/// One rate's measurement.
#[derive(Debug, Clone)]
struct Row {
    mode: Mode,
    rate: u32,
    produced: u64,
    decided: u64,
    /// Decisions per second over the window and its drain.
    throughput: f64,
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
    sla_misses: u64,
    degraded: u64,
    target_cpu: f64,
    target_rss_mib: f64,
    broker_cpu: Option<f64>,
    broker_rss_mib: Option<f64>,
    harness_cpu: f64,
    kept_up: bool,
}

const CSV_HEADER: &str = "mode,rate,produced,decided,throughput,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,sla_misses,degraded,target_cpu_pct,target_rss_mib,broker_cpu_pct,broker_rss_mib,harness_cpu_pct,kept_up";

impl Row {
    fn csv(&self) -> String {
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.1}"));
        format!(
            "{},{},{},{},{:.0},{},{},{},{},{},{},{},{:.1},{:.1},{},{},{:.1},{}",
            self.mode.name(),
            self.rate,
            self.produced,
            self.decided,
            self.throughput,
            self.p50,
            self.p90,
            self.p99,
            self.p999,
            self.max,
            self.sla_misses,
            self.degraded,
            self.target_cpu,
            self.target_rss_mib,
            opt(self.broker_cpu),
            opt(self.broker_rss_mib),
            self.harness_cpu,
            self.kept_up
        )
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if let Some(Cmd::Passthrough {
        brokers,
        input,
        output,
        group,
        consumer_properties,
    }) = &args.command
    {
        let properties = parse_properties(consumer_properties)?;
        return rt.block_on(passthrough(brokers, input, output, group, properties));
    }
    std::fs::create_dir_all(&args.out)?;
    match &args.brokers {
        Some(b) => eprintln!("sweeping on the broker at {b}"),
        None => eprintln!("sweeping on a fresh tansu per rate ({})", args.storage),
    }
    let modes = match args.modes {
        Modes::Both => vec![Mode::Floor, Mode::Engine],
        Modes::Engine => vec![Mode::Engine],
        Modes::Floor => vec![Mode::Floor],
    };
    let mut rows = Vec::new();
    println!("{CSV_HEADER}");
    for mode in modes {
        rows.extend(rt.block_on(sweep(&args, mode))?);
    }
    let mut csv = format!("{CSV_HEADER}\n");
    for r in &rows {
        csv.push_str(&r.csv());
        csv.push('\n');
    }
    std::fs::write(args.out.join("sweep.csv"), csv)?;
    plot(&args, &rows)?;
    println!("\n{}", markdown(&rows, args.sla_ms));
    println!(
        "wrote {} and {}",
        args.out.join("sweep.csv").display(),
        args.out.join("sweep.png").display()
    );
    Ok(())
}

/// Topic names of one mode's run at one rate, so that no two runs share a
/// topic (on a broker the caller runs, each rate still starts empty).
struct Topics {
    input: String,
    output: String,
    dlq: String,
}

impl Topics {
    fn of(mode: Mode, rate: u32) -> Topics {
        let m = mode.name();
        Topics {
            input: format!("sweep-{m}-{rate}-transactions"),
            output: format!("sweep-{m}-{rate}-decisions"),
            dlq: format!("sweep-{m}-{rate}-dlq"),
        }
    }
}

/// Runs every rate in turn, each on a fresh broker (unless `--brokers`),
/// fresh topics and a fresh target process (engine or pass-through), so
/// that no rate inherits another's records, state or lag.
async fn sweep(args: &Args, mode: Mode) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &rate in &args.rates {
        let row = one_rate(args, mode, rate).await?;
        println!("{}", row.csv());
        let stop = !row.kept_up || row.p99 > args.sla_ms;
        rows.push(row);
        if stop {
            eprintln!("{}: stopping the sweep at {rate}/s", mode.name());
            break;
        }
    }
    Ok(rows)
}

/// One rate: start the broker and the target, wait until a probe comes
/// back, then measure the window.
async fn one_rate(args: &Args, mode: Mode, rate: u32) -> anyhow::Result<Row> {
    let topics = Topics::of(mode, rate);
    let mut kafka = KafkaConfig {
        group_id: format!("sweep-{}-{rate}", mode.name()),
        input_topic: topics.input.clone(),
        output_topic: topics.output.clone(),
        dlq_topic: topics.dlq.clone(),
        topic_partitions: args.partitions,
        ..KafkaConfig::default()
    };
    kafka.consumer_properties = parse_properties(&args.consumer_properties)?;
    let scratch = tempfile::tempdir()?;
    // The caller's broker for every rate, or a fresh tansu for this one
    // (stopped when `tansu` drops).
    let tansu = match &args.brokers {
        Some(b) => {
            kafka.brokers = b.clone();
            None
        }
        None => {
            let b = Broker::start_on(&args.storage)?;
            kafka.brokers = b.bootstrap.clone();
            Some(b)
        }
    };
    ensure_topics(&kafka).await?;
    let mut target = Target::start(args, mode, rate, &kafka, scratch.path())?;

    let sent: Sent = Arc::default();
    let reader = spawn_reader(&kafka, Arc::clone(&sent))?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("linger.ms", "1")
        .set("socket.nagle.disable", "true")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;

    // Ready = a probe transaction comes back: group joined, state open,
    // every client connected.
    let mut generator = Generator::new(GeneratorConfig {
        seed: args.seed,
        users: args.users,
        malformed_rate: 0.0,
        start_ms: now_ms(),
        events_per_sec: f64::from(rate),
        ..Default::default()
    });
    let started = Instant::now();
    loop {
        // A probe the reader missed (sent before its assignment took
        // effect) must not hold the next one up.
        sent.lock().expect("tally").pending.clear();
        send_one(&producer, &topics.input, &mut generator, &sent).await?;
        if wait_drained(&sent, Duration::from_secs(10)).await {
            break;
        }
        target.check_alive()?;
        if started.elapsed() > Duration::from_secs(180) {
            bail!("the {} never answered a probe within 180 s", mode.name());
        }
    }
    eprintln!(
        "{} at {rate}/s: ready after {:.1} s",
        mode.name(),
        started.elapsed().as_secs_f64()
    );
    let row = window(
        args,
        mode,
        rate,
        &producer,
        &topics.input,
        &sent,
        target.pid(),
        tansu.as_ref().map(Broker::pid),
    )
    .await?;
    target.check_alive()?;
    reader.abort();
    target.stop()?;
    Ok(row)
}

/// Transactions sent and not yet decided (id → input record timestamp), and
/// the window's tally.
type Sent = Arc<Mutex<Tally>>;

struct Tally {
    pending: HashMap<String, i64>,
    latency_ms: Histogram<u64>,
    decided: u64,
    degraded: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            pending: HashMap::new(),
            latency_ms: Histogram::new_with_bounds(1, 3_600_000, 3).expect("histogram bounds"),
            decided: 0,
            degraded: 0,
        }
    }
}

/// What the reader needs of an output record: the engine's decision, or the
/// pass-through's copy of the transaction.
#[derive(Deserialize)]
struct Output {
    transaction_id: String,
    #[serde(default)]
    degraded: bool,
}

fn spawn_reader(kafka: &KafkaConfig, sent: Sent) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    // The engine's own consumer settings (fetch wait included): the reader
    // is a downstream service like any other.
    let mut cfg = client_config(kafka, Role::Consumer);
    cfg.set("group.id", format!("{}-reader", kafka.group_id));
    let reader: StreamConsumer = cfg.create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..kafka.topic_partitions {
        tpl.add_partition_offset(&kafka.output_topic, p, Offset::End)?;
    }
    reader.assign(&tpl)?;
    Ok(tokio::spawn(async move {
        loop {
            let m = match reader.recv().await {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("reader: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(out) = serde_json::from_slice::<Output>(m.payload().unwrap_or_default()) else {
                continue;
            };
            let decided_ms = m.timestamp().to_millis().unwrap_or_else(now_ms);
            let mut t = sent.lock().expect("tally");
            if let Some(sent_ms) = t.pending.remove(&out.transaction_id) {
                let latency = (decided_ms - sent_ms).max(0) as u64;
                t.latency_ms.saturating_record(latency);
                t.decided += 1;
                t.degraded += u64::from(out.degraded);
            }
        }
    }))
}

/// Sends the generator's next transaction with an explicit record timestamp.
async fn send_one(
    producer: &FutureProducer,
    topic: &str,
    generator: &mut Generator,
    sent: &Sent,
) -> anyhow::Result<()> {
    let g = generator.next_message();
    let id = g.label.expect("valid traffic").transaction_id;
    let ts = now_ms();
    sent.lock().expect("tally").pending.insert(id, ts);
    let mut record = FutureRecord::to(topic)
        .key(&g.key)
        .payload(&g.payload)
        .timestamp(ts);
    loop {
        match producer.send_result(record) {
            Ok(_delivery) => return Ok(()),
            Err((e, r)) => {
                if !matches!(
                    e,
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull
                    )
                ) {
                    bail!("producing: {e}");
                }
                record = r;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// True once every sent transaction is decided, false after `limit`.
async fn wait_drained(sent: &Sent, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    let mut poll = tokio::time::interval(Duration::from_millis(5));
    while Instant::now() < until {
        if sent.lock().expect("tally").pending.is_empty() {
            return true;
        }
        poll.tick().await;
    }
    false
}

/// One rate for `args.seconds`, paced in 1 ms slices.
#[allow(clippy::too_many_arguments)]
async fn window(
    args: &Args,
    mode: Mode,
    rate: u32,
    producer: &FutureProducer,
    topic: &str,
    sent: &Sent,
    target_pid: u32,
    broker_pid: Option<u32>,
) -> anyhow::Result<Row> {
    *sent.lock().expect("tally") = Tally::default();
    let mut generator = Generator::new(GeneratorConfig {
        seed: args.seed ^ u64::from(rate),
        users: args.users,
        malformed_rate: 0.0,
        start_ms: now_ms(),
        events_per_sec: f64::from(rate),
        ..Default::default()
    });
    let pids: Vec<Option<u32>> = vec![Some(target_pid), broker_pid, Some(std::process::id())];
    let cpu_before: Vec<Option<u64>> = pids.iter().map(|p| p.and_then(cpu_ticks)).collect();
    let mut rss_max = vec![0.0f64; pids.len()];
    let total = args.seconds * u64::from(rate);
    let start = Instant::now();
    let mut last_sample = start;
    let mut n = 0u64;
    while n < total {
        let due = ((start.elapsed().as_secs_f64() * f64::from(rate)) as u64).min(total);
        while n < due {
            send_one(producer, topic, &mut generator, sent).await?;
            n += 1;
        }
        if last_sample.elapsed() >= Duration::from_secs(1) {
            last_sample = Instant::now();
            sample_rss(&pids, &mut rss_max);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let kept_up = wait_drained(sent, Duration::from_secs(args.drain_seconds)).await;
    let elapsed = start.elapsed().as_secs_f64();
    sample_rss(&pids, &mut rss_max);
    let ticks_per_s = clock_ticks_per_second();
    let cpu: Vec<Option<f64>> = pids
        .iter()
        .zip(&cpu_before)
        .map(|(p, before)| {
            let (now, before) = (p.and_then(cpu_ticks)?, (*before)?);
            Some((now - before) as f64 / ticks_per_s / elapsed * 100.0)
        })
        .collect();
    let t = sent.lock().expect("tally");
    let h = &t.latency_ms;
    let sla_misses: u64 = h
        .iter_recorded()
        .filter(|v| v.value_iterated_to() > args.sla_ms)
        .map(|v| v.count_at_value())
        .sum();
    Ok(Row {
        mode,
        rate,
        produced: total,
        decided: t.decided,
        throughput: t.decided as f64 / elapsed,
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
        sla_misses: sla_misses + t.pending.len() as u64,
        degraded: t.degraded,
        target_cpu: cpu[0].unwrap_or(f64::NAN),
        target_rss_mib: rss_max[0],
        broker_cpu: cpu[1],
        broker_rss_mib: broker_pid.map(|_| rss_max[1]),
        harness_cpu: cpu[2].unwrap_or(f64::NAN),
        kept_up,
    })
}

/// The process under test: `verdict run`, or this binary's pass-through.
struct Target {
    child: Child,
    what: &'static str,
}

impl Target {
    fn start(
        args: &Args,
        mode: Mode,
        rate: u32,
        kafka: &KafkaConfig,
        scratch: &Path,
    ) -> anyhow::Result<Target> {
        let exe = std::env::current_exe()?;
        let log = std::fs::File::create(args.out.join(format!("{}-{rate}.log", mode.name())))?;
        let mut cmd = match mode {
            Mode::Engine => {
                let verdict = exe.with_file_name("verdict");
                if !verdict.exists() {
                    bail!(
                        "{} not found: build it with `cargo build --release --workspace`",
                        verdict.display()
                    );
                }
                let config = scratch.join("verdict.toml");
                let mut text =
                    engine_config(kafka, &scratch.join("state"), args.sla_ms, args.rekey);
                text.push_str("[kafka.consumer-properties]\n");
                for (k, v) in &kafka.consumer_properties {
                    text.push_str(&format!("{k:?} = {v:?}\n"));
                }
                std::fs::write(&config, text)?;
                let mut c = Command::new(verdict);
                c.arg("run").arg("--config").arg(&config).env(
                    "VERDICT_VALIDATION__PAN_HASH_KEY",
                    "sweep-harness-pan-key-0123456789",
                );
                c
            }
            Mode::Floor => {
                let mut c = Command::new(exe);
                c.args([
                    "passthrough",
                    "--brokers",
                    &kafka.brokers,
                    "--input",
                    &kafka.input_topic,
                    "--output",
                    &kafka.output_topic,
                    "--group",
                    &kafka.group_id,
                ]);
                for (k, v) in &kafka.consumer_properties {
                    c.arg("--consumer-property").arg(format!("{k}={v}"));
                }
                c
            }
        };
        let child = cmd
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .context("starting the target process")?;
        Ok(Target {
            child,
            what: mode.name(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the {} exited: {status} (see its log)", self.what);
        }
        Ok(())
    }

    /// SIGTERM, then up to 30 s for a clean exit.
    fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()?;
        bail!("the {} did not stop within 30 s of SIGTERM", self.what)
    }
}

/// The engine's configuration: the shipped defaults but for where things are.
fn engine_config(kafka: &KafkaConfig, state: &Path, sla_ms: u64, rekey: bool) -> String {
    format!(
        r#"[kafka]
brokers = "{}"
group-id = "{}"
input-topic = "{}"
output-topic = "{}"
dlq-topic = "{}"
topic-partitions = {}
[engine]
sla-ms = {sla_ms}
rekey = {rekey}
[state]
dir = "{}"
changelog-transactions = false  # off the decisions' path; tansu 0.6 has none
[admin]
listen = "127.0.0.1:0"
"#,
        kafka.brokers,
        kafka.group_id,
        kafka.input_topic,
        kafka.output_topic,
        kafka.dlq_topic,
        kafka.topic_partitions,
        state.display()
    )
}

/// `KEY=VALUE` pairs.
fn parse_properties(
    pairs: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => bail!("{p:?} is not KEY=VALUE"),
        })
        .collect()
}

/// Copies every input record to the output topic.
async fn passthrough(
    brokers: &str,
    input: &str,
    output: &str,
    group: &str,
    consumer_properties: std::collections::BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let kafka = KafkaConfig {
        brokers: brokers.into(),
        group_id: group.into(),
        consumer_properties,
        ..KafkaConfig::default()
    };
    let consumer: StreamConsumer = client_config(&kafka, Role::Consumer).create()?;
    consumer.subscribe(&[input])?;
    let producer: FutureProducer = client_config(&kafka, Role::Producer).create()?;
    loop {
        let m = consumer.recv().await?;
        let mut record = FutureRecord::to(output)
            .key(m.key().unwrap_or_default())
            .payload(m.payload().unwrap_or_default());
        loop {
            match producer.send_result(record) {
                Ok(_delivery) => break,
                Err((_, r)) => {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// User + system CPU time of `pid`, in clock ticks (`/proc/<pid>/stat`).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Updates each process's largest resident set, in MiB.
fn sample_rss(pids: &[Option<u32>], max: &mut [f64]) {
    for (pid, m) in pids.iter().zip(max.iter_mut()) {
        let Some(pid) = pid else { continue };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok());
        if let Some(kib) = kib {
            *m = m.max(kib / 1024.0);
        }
    }
}
