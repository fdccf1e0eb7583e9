//! Shared helpers for the integration tests: a real Kafka-protocol broker
//! (tansu) started as a child process on a free loopback port.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// tansu's in-memory storage engine: the tests' broker. Every fetch lists
/// each batch a partition holds, so its latency grows with what the topics
/// hold; the benchmarks can choose another engine (`Broker::start_on`).
pub const MEMORY_STORAGE: &str = "memory://tansu/";

/// A tansu broker process, killed on drop.
pub struct Broker {
    child: Child,
    pub bootstrap: String,
    /// The broker's working directory, where a relative storage path
    /// (`sqlite://tansu.db`) lands; removed with the broker.
    _dir: tempfile::TempDir,
}

impl Broker {
    /// Starts `tansu broker` with in-memory storage and waits until it accepts
    /// connections. Fails with a clear message if tansu is not installed.
    pub fn start() -> anyhow::Result<Broker> {
        Broker::start_on(MEMORY_STORAGE)
    }

    /// Starts `tansu broker` on the given storage engine URL:
    /// `memory://tansu/`, or `sqlite://tansu.db` (a tansu built with its
    /// `libsql` feature), a path relative to the broker's own temporary
    /// directory, in memory-backed `/dev/shm` where the machine has one.
    pub fn start_on(storage: &str) -> anyhow::Result<Broker> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = tempfile::Builder::new()
            .prefix("tansu-")
            .tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())?;
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                storage,
            ])
            .env("RUST_LOG", "warn")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting tansu ({e}); install it with tests/run.sh"))?;
        let mut broker = Broker {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        // Readiness is the port accepting a connection; back off between tries.
        let mut wait = Duration::from_millis(10);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(broker);
            }
            if let Some(status) = broker.child.try_wait()? {
                anyhow::bail!("tansu exited before accepting connections on {storage}: {status}");
            }
            if Instant::now() > deadline {
                anyhow::bail!("tansu did not accept connections within 30 s");
            }
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_millis(200));
        }
    }
}

impl Broker {
    /// The broker's process id (for CPU and memory accounting).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wall-clock time in epoch milliseconds, for generated live traffic.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The `verdict` binary of this build (`target/<profile>/verdict`, next to
/// the test executable's `deps/` folder), for tests that run the engine as
/// its own process exactly as an operator does. `cargo test --workspace`
/// builds it; run `cargo build --release --workspace` first when running a
/// single test of this crate.
pub fn verdict_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("verdict");
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build --release --workspace`",
        bin.display()
    );
    bin
}

/// `verdict run --config config`, its log (at info) into `log`, killed on drop.
pub fn start_run(config: &std::path::Path, log: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(verdict_binary())
        .args(["run", "--config"])
        .arg(config)
        .env("VERDICT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("verdict run")
}

/// SIGTERM, then the exit status within `limit`.
pub async fn terminate(
    child: &mut tokio::process::Child,
    limit: Duration,
) -> std::process::ExitStatus {
    let pid = child.id().expect("running") as i32;
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    tokio::time::timeout(limit, child.wait())
        .await
        .expect("verdict run exits within its grace period")
        .unwrap()
}

/// A consumer of `topic` from its beginning, in its own group.
pub fn reader(brokers: &str, group: &str, topic: &str) -> rdkafka::consumer::StreamConsumer {
    use rdkafka::consumer::Consumer;
    let c: rdkafka::consumer::StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).expect("subscribe");
    c
}

/// Reads from `c` into `seen` (each message through `parse`) until `done`
/// says so or `deadline` passes.
pub async fn read_until<T>(
    c: &rdkafka::consumer::StreamConsumer,
    seen: &mut Vec<T>,
    deadline: Instant,
    parse: impl Fn(&rdkafka::message::BorrowedMessage<'_>) -> T,
    done: impl Fn(&[T]) -> bool,
) {
    while !done(seen) && Instant::now() < deadline {
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(300), c.recv()).await {
            seen.push(parse(&m));
        }
    }
}

/// A decision record read back from the decisions topic.
pub fn decision(
    m: &rdkafka::message::BorrowedMessage<'_>,
) -> verdict_engine::contract::decision::DecisionRecord {
    use rdkafka::message::Message;
    serde_json::from_slice(m.payload().expect("a decision has a payload")).expect("decision JSON")
}

/// Asserts that every decision in `seen`, duplicates included, equals the
/// `reference` run's for its transaction (same action, score, rules and
/// reasons, which carry the windows' and the history's values), and that
/// every id in `valid` was decided. `after` names what `seen` went through.
pub fn assert_as_the_reference(
    seen: &[verdict_engine::contract::decision::DecisionRecord],
    reference: &[verdict_engine::contract::decision::DecisionRecord],
    valid: &std::collections::HashSet<String>,
    after: &str,
) {
    let key = |d: &verdict_engine::contract::decision::DecisionRecord| {
        (
            d.action.clone(),
            d.score.map(f32::to_bits),
            d.rules.clone(),
            d.reasons.clone(),
        )
    };
    let expected: std::collections::HashMap<&str, _> = reference
        .iter()
        .map(|d| (d.transaction_id.as_str(), key(d)))
        .collect();
    let mut decided = std::collections::HashSet::new();
    for d in seen {
        let want = expected
            .get(d.transaction_id.as_str())
            .unwrap_or_else(|| panic!("unknown id {}", d.transaction_id));
        assert_eq!(
            &key(d),
            want,
            "{} was decided differently after {after} (at {})",
            d.transaction_id,
            d.decided_at
        );
        decided.insert(d.transaction_id.as_str());
    }
    let missing: Vec<_> = valid
        .iter()
        .filter(|id| !decided.contains(id.as_str()))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{} valid events never decided after {after}, e.g. {missing:?}",
        valid.len() - decided.len()
    );
}
