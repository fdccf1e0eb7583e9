//! Helpers shared by the engine's integration tests: plain HTTP/1.0 over a
//! loopback `TcpStream` (an HTTP client crate would pull TLS stacks into the
//! build and change the features, and so the build, of half the dependency
//! tree), and polling with a growing pause.

#![allow(dead_code)] // each test binary uses its own subset

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `ready` with a growing pause until it returns a value or `limit` passes.
pub fn wait_for<T>(what: &str, limit: Duration, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(20);
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// One HTTP/1.0 request on loopback: `(status, headers, body)`.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    write!(stream, "{head}\r\n{body}")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head.to_string(), body.to_string()))
}

/// A plain GET: `(status, body)`.
pub fn get(addr: &str, path_and_query: &str) -> std::io::Result<(u16, String)> {
    request(addr, "GET", path_and_query, &[], "").map(|(s, _, b)| (s, b))
}

/// A valid live event of `user` on a merchant the default block list names
/// (so the default rules decline it, with or without a model).
pub fn blocked_merchant_event(id: &str, user: &str) -> String {
    serde_json::json!({
        "transaction_id": id,
        "event_time": chrono::Utc::now().timestamp_millis(),
        "user_id": user,
        "card_id": format!("c-{user}"),
        "merchant_id": "merchant_shady",
        "amount": "25.00",
        "currency": "EUR",
        "country": "FR",
    })
    .to_string()
}

/// Copies the model directory `from` to `to`, recursively.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A challenger made from the model in `from`: the same network whose
/// calibration gives half the probability, as version `version`. Its
/// scores are checkable against the champion's: the challenger's score of
/// an event is exactly half the champion's (halving the calibration's
/// breakpoints halves its interpolation, bit for bit; a model without a
/// calibration gets the line from (0, 0) to (1, 0.5)).
pub fn halved_model(from: &std::path::Path, to: &std::path::Path, version: &str) {
    copy_dir(from, to);
    let path = to.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest["version"] = version.into();
    if manifest["calibration"].is_null() {
        manifest["calibration"] = serde_json::json!({
            "scores": [0.0, 1.0],
            "probabilities": [0.0, 0.5],
            "fitted_rows": 2,
        });
    } else {
        let halved: Vec<f32> = (manifest["calibration"]["probabilities"].as_array().unwrap())
            .iter()
            .map(|p| p.as_f64().unwrap() as f32 * 0.5)
            .collect();
        manifest["calibration"]["probabilities"] = serde_json::json!(halved);
    }
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
}

/// A copy of the model in `from` whose weights file has its last byte
/// flipped: its checksum no longer holds, so loading it is refused.
pub fn corrupt_model(from: &std::path::Path, to: &std::path::Path) {
    copy_dir(from, to);
    let weights = std::fs::read_dir(to)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap() != "manifest.json" && p.is_file())
        .unwrap();
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&weights, bytes).unwrap();
}

/// Reads the decisions topic (its `partitions` from the beginning) until
/// each of `ids` is decided; the last decision of each.
pub async fn read_decisions(
    config: &verdict_engine::config::Config,
    partitions: i32,
    ids: &[String],
) -> std::collections::HashMap<String, verdict_engine::contract::decision::DecisionRecord> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Message;
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.kafka.brokers)
        .set("group.id", "decisions-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(&config.kafka.output_topic, p, Offset::Beginning)
            .unwrap();
    }
    reader.assign(&tpl).unwrap();
    let wanted: std::collections::HashSet<&String> = ids.iter().collect();
    let mut decisions = std::collections::HashMap::new();
    let limit = Instant::now() + Duration::from_secs(60);
    while decisions.len() < wanted.len() {
        let left = limit.saturating_duration_since(Instant::now());
        let m = tokio::time::timeout(left, reader.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {} decisions within 60 s",
                    decisions.len(),
                    wanted.len()
                )
            })
            .unwrap();
        let d: verdict_engine::contract::decision::DecisionRecord =
            serde_json::from_slice(m.payload().unwrap()).unwrap();
        if wanted.contains(&d.transaction_id) {
            decisions.insert(d.transaction_id.clone(), d);
        }
    }
    decisions
}

/// An in-process mock cluster holding every topic `dataflow` needs
/// (`partitions` each), the default configuration pointed at it (no admin
/// listener: a test serves its own), and the engine running on it. The
/// cluster lives as long as the returned value.
pub fn mock_engine(
    dataflow: &verdict_engine::dataflow::Dataflow,
    partitions: i32,
) -> (
    rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    std::sync::Arc<verdict_engine::config::Config>,
    verdict_engine::kafka::EngineRun,
) {
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    let mut config = verdict_engine::config::Config::default();
    let plan = dataflow.rekey_plan(&config.engine);
    for topic in &verdict_engine::kafka::topics(&config.kafka, &plan) {
        cluster.create_topic(topic, partitions, 1).unwrap();
    }
    config.kafka.brokers = cluster.bootstrap_servers();
    config.admin.listen = None;
    let config = std::sync::Arc::new(config);
    let engine =
        verdict_engine::kafka::run_engine(std::sync::Arc::clone(&config), dataflow.clone())
            .unwrap();
    (cluster, config, engine)
}

/// Runs the `verdict` binary with `args` (scratch files under `tmp`) and
/// returns its stdout; fails the test, with stderr, if it fails.
pub fn verdict_stdout(tmp: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .expect("the verdict binary runs");
    assert!(
        out.status.success(),
        "verdict {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}
