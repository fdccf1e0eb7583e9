//! `deploy/docker-compose.yml` as written, against a real Kafka-protocol
//! broker (tansu): the generator service's command line and the verdict
//! service's command, environment and mounted `verdict.toml` run as two
//! `verdict` processes. Only what cannot hold outside containers is
//! rewritten: the broker address, the state directory (a temporary one), the
//! admin listen address (a free loopback port), and the generator's
//! `--count`, bounded so the run is short. Every valid event the generator
//! sent must be decided, every malformed one dead-lettered, and no live
//! event rejected for its timestamp (the compose file once generated events
//! dated months back, all dead-lettered as too old).
//!
//! The engine is started first and the generator only once the compose
//! healthcheck's URL answers, as `depends_on: service_healthy` orders them;
//! the engine is stopped with SIGTERM, as `docker compose stop` does, and
//! must exit 0.
//!
//! This test lives in the crate that owns the `verdict` binary (only there
//! does Cargo name it, `CARGO_BIN_EXE_verdict`); the tansu helper is the
//! tests crate's, included by path.

mod common;

#[path = "../../tests/src/lib.rs"]
#[allow(dead_code)]
mod broker;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, wait_for};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use verdict_engine::config::Config;
use verdict_engine::contract::decision::DecisionRecord;
use yaml_rust2::{Yaml, YamlLoader};

/// The generator's `--count` here: 3,000 messages, 1.5 s at the compose
/// file's `--rate 2000`, with a few malformed ones at its malformed rate.
const COUNT: &str = "3000";

/// A child process killed on drop, so a failed assertion leaves nothing behind.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn deploy() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy")).to_path_buf()
}

/// A compose value with its `${NAME:-default}` references replaced by the
/// default, which is what `docker compose up` uses with no `.env` file. A
/// reference without a default would make the file fail as written.
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        let (name, default) = rest[start + 2..end]
            .split_once(":-")
            .unwrap_or_else(|| panic!("{value}: ${{{}}} has no default", &rest[start + 2..end]));
        assert!(!name.is_empty(), "{value}: a reference without a name");
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn strings(list: &Yaml, what: &str) -> Vec<String> {
    list.as_vec()
        .unwrap_or_else(|| panic!("{what} is not a list"))
        .iter()
        .map(|v| interpolate(v.as_str().unwrap_or_else(|| panic!("{what}: {v:?}"))))
        .collect()
}

/// What the test takes from the compose file.
struct Compose {
    generator: Vec<String>,
    verdict: Vec<String>,
    verdict_env: BTreeMap<String, String>,
    /// The verdict service's bind mounts: container path → host path.
    verdict_mounts: BTreeMap<String, PathBuf>,
    /// The path the verdict healthcheck asks for, e.g. `/readyz`.
    health_path: String,
}

impl Compose {
    fn load() -> Compose {
        let text = std::fs::read_to_string(deploy().join("docker-compose.yml")).unwrap();
        let doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
        let services = &doc["services"];
        let verdict = &services["verdict"];
        let mut verdict_env = BTreeMap::new();
        for (k, v) in verdict["environment"].as_hash().expect("environment map") {
            let value = match v {
                Yaml::String(s) => s.clone(),
                Yaml::Integer(i) => i.to_string(),
                Yaml::Boolean(b) => b.to_string(),
                other => panic!("environment value {other:?}"),
            };
            verdict_env.insert(k.as_str().unwrap().to_string(), interpolate(&value));
        }
        let mut verdict_mounts = BTreeMap::new();
        for mount in strings(&verdict["volumes"], "verdict volumes") {
            let mut parts = mount.split(':');
            let (source, target) = (parts.next().unwrap(), parts.next().unwrap());
            if let Some(relative) = source.strip_prefix("./") {
                verdict_mounts.insert(target.to_string(), deploy().join(relative));
            }
        }
        let check = strings(&verdict["healthcheck"]["test"], "verdict healthcheck");
        let url = check
            .iter()
            .find(|a| a.starts_with("http://"))
            .expect("the healthcheck asks a URL");
        let health_path = url["http://".len()..]
            .find('/')
            .map(|i| url["http://".len() + i..].to_string())
            .expect("a URL path");
        Compose {
            generator: strings(&services["generator"]["command"], "generator command"),
            verdict: strings(&verdict["command"], "verdict command"),
            verdict_env,
            verdict_mounts,
            health_path,
        }
    }
}

/// Sets the value that follows `flag` in `args`; the flag must be there.
fn set_flag(args: &mut [String], flag: &str, value: &str) {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} not in {args:?}"));
    args[i + 1] = value.to_string();
}

/// The HTTP status of `GET path`, or `None` when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    common::get(&format!("127.0.0.1:{port}"), path)
        .ok()
        .map(|(status, _)| status)
}

fn reader(brokers: &str, group: &str, topic: &str) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    c
}

/// Polls `c` into `seen` until `done` holds or `limit` passes.
fn read_until<T>(
    c: &BaseConsumer,
    limit: Duration,
    parse: impl Fn(&BorrowedMessage<'_>) -> T,
    done: impl Fn(&[T]) -> bool,
) -> Vec<T> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while !done(&seen) && Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(500)) {
            seen.push(parse(&m.unwrap()));
        }
    }
    seen
}

/// (reason, payload) of a dead-letter record.
fn dead_letter(m: &BorrowedMessage<'_>) -> (String, String) {
    let headers = m.headers().expect("DLQ records carry headers");
    let reason = headers
        .iter()
        .find(|h| h.key == "verdict.dlq.reason")
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .expect("a reason header");
    let payload = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
    (reason, payload)
}

/// `generated N messages (F fraudulent, M malformed) ...` → (N, M).
fn generated(summary: &str) -> (usize, usize) {
    let numbers: Vec<usize> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect();
    assert!(summary.contains("generated"), "generator said: {summary}");
    (numbers[0], numbers[2])
}

#[test]
fn the_compose_generator_is_decided_by_the_compose_engine() {
    let broker = broker::Broker::start().expect("tansu broker");
    let scratch = tempfile::tempdir().unwrap();
    let compose = Compose::load();
    let bin = env!("CARGO_BIN_EXE_verdict");

    // The engine: the service's command with its config file mapped back to
    // the file the compose mount takes it from, and its environment.
    let mut run = compose.verdict.clone();
    let i = run.iter().position(|a| a == "--config").expect("--config");
    let config_file = compose.verdict_mounts[&run[i + 1]].clone();
    run[i + 1] = config_file.display().to_string();
    let config = Config::load_with_env(Some(&config_file), compose.verdict_env.clone().into_iter())
        .expect("the compose configuration loads");
    let admin_port = free_port();
    let engine_log = scratch.path().join("engine.log");
    let mut engine = Command::new(bin);
    engine
        .args(&run)
        .env("TMPDIR", scratch.path())
        .env("RUST_LOG", "info");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("VERDICT_")) {
        engine.env_remove(k);
    }
    engine
        .envs(&compose.verdict_env)
        .env("VERDICT_KAFKA__BROKERS", &broker.bootstrap)
        .env("VERDICT_STATE__DIR", scratch.path().join("state"))
        // tansu 0.6 has no transactions (EndTxn).
        .env("VERDICT_STATE__CHANGELOG_TRANSACTIONS", "false")
        .env("VERDICT_ADMIN__LISTEN", format!("127.0.0.1:{admin_port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&engine_log).unwrap());
    let mut engine = Process(engine.spawn().expect("verdict run starts"));
    let log = || std::fs::read_to_string(&engine_log).unwrap_or_default();
    wait_for(
        &format!("{} answering 200", compose.health_path),
        Duration::from_secs(120),
        || {
            if let Some(status) = engine.0.try_wait().unwrap() {
                panic!(
                    "verdict run exited ({status}) before it was healthy:\n{}",
                    log()
                );
            }
            (http_status(admin_port, &compose.health_path) == Some(200)).then_some(())
        },
    );

    // The generator, once the engine is healthy (depends_on: service_healthy).
    let mut generate = compose.generator.clone();
    assert_eq!(generate[0], "generate");
    set_flag(&mut generate, "--brokers", &broker.bootstrap);
    set_flag(&mut generate, "--count", COUNT);
    let labels = scratch.path().join("labels.csv");
    generate.extend(["--labels".into(), labels.display().to_string()]);
    let out = Command::new(bin)
        .args(&generate)
        .env("TMPDIR", scratch.path())
        .output()
        .expect("verdict generate runs");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verdict {generate:?}: {summary}");
    let (messages, malformed) = generated(&summary);
    assert_eq!(messages.to_string(), COUNT);
    assert!(
        malformed > 0,
        "no malformed message among {COUNT}: {summary}"
    );
    let valid: HashSet<String> = std::fs::read_to_string(&labels)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(valid.len() + malformed, messages);

    let decisions = reader(
        &broker.bootstrap,
        "compose-decisions",
        &config.kafka.output_topic,
    );
    let decided = read_until(
        &decisions,
        Duration::from_secs(120),
        |m| {
            let d: DecisionRecord = serde_json::from_slice(m.payload().unwrap()).unwrap();
            d.transaction_id
        },
        |seen| seen.len() >= valid.len(),
    );
    let decided: HashSet<String> = decided.into_iter().collect();
    let missing: Vec<_> = valid.difference(&decided).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} of {} valid events not decided, e.g. {missing:?}; engine log:\n{}",
        valid.difference(&decided).count(),
        valid.len(),
        log()
    );
    assert!(decided.is_subset(&valid), "decisions for unknown ids");

    let dlq = reader(&broker.bootstrap, "compose-dlq", &config.kafka.dlq_topic);
    let dead = read_until(&dlq, Duration::from_secs(60), dead_letter, |seen| {
        seen.len() >= malformed
    });
    assert_eq!(
        dead.len(),
        malformed,
        "every malformed message dead-lettered"
    );
    // The generator's malformed kinds include a 1970 and a 2250 timestamp;
    // any other timestamp rejection would be a live event out of range.
    for (reason, payload) in &dead {
        let sentinel = match reason.as_str() {
            "timestamp_too_old" => "1970-01-02",
            "timestamp_in_future" => "2250-01-01",
            _ => continue,
        };
        assert!(
            payload.contains(sentinel),
            "a live event was dead-lettered as {reason}: {payload}"
        );
    }

    // `docker compose stop`: SIGTERM, then a clean exit within the grace.
    let pid = engine.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_for(
        "verdict run to exit on SIGTERM",
        Duration::from_secs(30),
        || engine.0.try_wait().unwrap(),
    );
    assert!(
        status.success(),
        "verdict run exited with {status}:\n{}",
        log()
    );
}

/// The Kubernetes manifest's ConfigMap holds a configuration that loads and
/// validates with the StatefulSet's environment (its secrets stood in for),
/// and the container runs `verdict run` on the file the ConfigMap mounts.
#[test]
fn the_kubernetes_configuration_loads_and_validates() {
    let text = std::fs::read_to_string(deploy().join("kubernetes/verdict.yaml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"].as_str() == Some(k))
            .unwrap_or_else(|| panic!("no {k} in the manifest"))
    };
    let toml = kind("ConfigMap")["data"]["verdict.toml"]
        .as_str()
        .expect("verdict.toml in the ConfigMap");
    let pod = &kind("StatefulSet")["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args = strings(&container["args"], "container args");
    let config_path = &args[args.iter().position(|a| a == "--config").unwrap() + 1];
    let mount = container["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|m| m["name"].as_str() == Some("config"))
        .expect("the config volume is mounted");
    assert_eq!(
        Path::new(config_path).parent().unwrap(),
        Path::new(mount["mountPath"].as_str().unwrap()),
        "--config names the mounted ConfigMap"
    );
    let env: Vec<(String, String)> = container["env"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|e| {
            let value = match e["value"].as_str() {
                Some(v) => v.to_string(),
                None => "a-stand-in-for-the-secret-value".to_string(),
            };
            (e["name"].as_str().unwrap().to_string(), value)
        })
        .collect();
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("verdict.toml");
    std::fs::write(&file, toml).unwrap();
    let config = Config::load_with_env(Some(&file), env.into_iter()).expect("loads");
    config.validate().expect("validates");
    assert_eq!(config.admin.listen.as_deref(), Some("0.0.0.0:9464"));
    assert!(config.state.dir.is_some(), "state on the volume claim");
}
