//! The admin API over real HTTP: readiness and health follow the engine's
//! status, a live engine's decisions can be looked up with their reasons,
//! and every mutating route checks the bearer token before it acts (a rule
//! reload that does not compile and a model that does not load are refused,
//! and the running ones stay).
//!
//! The live test runs the engine on librdkafka's in-process mock cluster;
//! the end-to-end tests against a real broker are in `tests/`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use verdict_engine::admin::{self, Admin, Token};
use verdict_engine::config::Config;
use verdict_engine::dataflow::Dataflow;
use verdict_engine::kafka::{Role, client_config, run_engine};
use verdict_engine::metrics::Metrics;
use verdict_engine::recent::RecentDecisions;
use verdict_engine::status::EngineStatus;
use verdict_rules::reload::RuleSetReloader;
use verdict_state::StateConfig;

use common::{blocked_merchant_event, corrupt_model, get, request, wait_for};

const TOKEN: &str = "admin-token-for-tests-0123";

fn defaults(dir: &Path) -> (PathBuf, PathBuf) {
    let d = verdict_engine::defaults::extract(dir).unwrap();
    (d.rules_dir, d.model_dir)
}

fn dataflow(rules: &Path, model: &Path) -> Dataflow {
    Dataflow::build(
        Dataflow::fixed_rules(rules).unwrap(),
        Some(model),
        Arc::new(Metrics::new()),
        None,
        StateConfig::default(),
    )
    .unwrap()
}

fn post(addr: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| vec![("Authorization", b)])
        .unwrap_or_default();
    let (status, _, body) = request(addr, "POST", path, &headers, body).unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_health_follow_the_engine_status() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, model) = defaults(dir.path());
    let dataflow = dataflow(&rules, &model);
    let status = Arc::new(EngineStatus::new(Arc::clone(&dataflow.metrics)));
    let admin = Admin {
        dataflow,
        status: Arc::clone(&status),
        decisions: Arc::new(RecentDecisions::new(10)),
        rules: None,
        token: None,
    };
    // The default and the example configuration both bind loopback only.
    let listen = Config::default().admin.listen.unwrap();
    assert!(listen.starts_with("127.0.0.1:"), "{listen}");
    let example = Config::load_with_env(
        Some(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/verdict.toml"
        ))),
        std::iter::empty(),
    )
    .unwrap();
    assert!(example.admin.listen.unwrap().starts_with("127.0.0.1:"));

    let (addr, _server) = admin::serve("127.0.0.1:0", admin).await.unwrap();
    assert!(addr.ip().is_loopback());
    let addr = addr.to_string();
    let probe = |path: &'static str| {
        let addr = addr.clone();
        move || get(&addr, path).unwrap()
    };
    let ready = probe("/readyz");
    let health = probe("/healthz");
    let (code, body) = tokio::task::spawn_blocking(ready.clone()).await.unwrap();
    assert_eq!(
        (code, body.trim()),
        (503, "not ready: waiting for the group's assignment")
    );

    status.assigned(&[0, 1]);
    let (code, body) = tokio::task::spawn_blocking(ready.clone()).await.unwrap();
    assert_eq!(
        (code, body.trim()),
        (503, "not ready: 2 partition(s) restoring state")
    );
    status.running(0, Some(42));
    assert_eq!(
        tokio::task::spawn_blocking(ready.clone()).await.unwrap().0,
        503
    );
    status.running(1, None);
    assert_eq!(
        tokio::task::spawn_blocking(ready.clone()).await.unwrap().0,
        200
    );
    assert_eq!(
        tokio::task::spawn_blocking(health.clone()).await.unwrap().0,
        200
    );

    let (code, body) = tokio::task::spawn_blocking(probe("/v1/status"))
        .await
        .unwrap();
    assert_eq!(code, 200);
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["ready"], true);
    assert_eq!(json["partitions"][0]["phase"], "running");
    assert_eq!(json["partitions"][0]["checkpointed_offset"], 42);
    assert!(
        json["rules_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    assert!(json["model"].as_str().is_some_and(|m| m.contains('@')));

    status.failed(1, "checkpoint of partition 1: disk full");
    let (code, body) = tokio::task::spawn_blocking(health).await.unwrap();
    assert_eq!(code, 503);
    assert!(body.contains("disk full"), "{body}");
    let (code, body) = tokio::task::spawn_blocking(ready).await.unwrap();
    assert_eq!((code, body.trim()), (503, "not ready: a partition failed"));

    // Without a configured token, mutating routes are closed to everyone.
    let addr2 = addr.clone();
    let (code, _) = tokio::task::spawn_blocking(move || {
        post(&addr2, "/v1/rules/reload", Some("anything-at-all-0000"), "")
    })
    .await
    .unwrap();
    assert_eq!(code, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_engine_answers_lookups_and_checks_the_token_on_every_mutation() {
    let dir = tempfile::tempdir().unwrap();
    let (rules_dir, model_dir) = defaults(dir.path());
    let reloader = Arc::new(RuleSetReloader::new(&rules_dir).unwrap());
    let dataflow = Dataflow::build(
        reloader.shared(),
        Some(&model_dir),
        Arc::new(Metrics::new()),
        None,
        StateConfig::default(),
    )
    .unwrap();

    let cluster = MockCluster::new(1).unwrap();
    let mut config = Config::default();
    for topic in &verdict_engine::kafka::topics(&config.kafka, &dataflow.rekey_plan(&config.engine))
    {
        cluster.create_topic(topic, 2, 1).unwrap();
    }
    config.kafka.brokers = cluster.bootstrap_servers();
    let config = Arc::new(config);
    let engine = run_engine(Arc::clone(&config), dataflow.clone()).unwrap();
    let admin = Admin {
        dataflow: dataflow.clone(),
        status: engine.status(),
        decisions: engine.decisions(),
        rules: Some(Arc::clone(&reloader)),
        token: Some(Token::new(TOKEN)),
    };
    let (addr, _server) = admin::serve("127.0.0.1:0", admin).await.unwrap();
    let addr = addr.to_string();

    let a = addr.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("/readyz 200", Duration::from_secs(60), || {
            (get(&a, "/readyz").ok()?.0 == 200).then_some(())
        })
    })
    .await
    .unwrap();

    let producer: FutureProducer = client_config(&config.kafka, Role::Producer)
        .create()
        .unwrap();
    let payload = blocked_merchant_event("tx-admin-1", "u-admin-1");
    producer
        .send(
            FutureRecord::to(&config.kafka.input_topic)
                .key("u-admin-1")
                .payload(payload.as_str()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    let a = addr.clone();
    let decision: Value = tokio::task::spawn_blocking(move || {
        wait_for(
            "the decision of tx-admin-1",
            Duration::from_secs(60),
            || {
                let (code, body) = get(&a, "/v1/decisions/tx-admin-1").ok()?;
                (code == 200).then(|| serde_json::from_str(&body).unwrap())
            },
        )
    })
    .await
    .unwrap();
    assert_eq!(decision["transaction_id"], "tx-admin-1");
    assert_eq!(decision["action"], "decline");
    assert!(
        decision["rules"]
            .as_array()
            .unwrap()
            .contains(&"blocked_merchant".into())
    );
    assert!(
        decision["reasons"]
            .as_array()
            .unwrap()
            .contains(&"merchant merchant_shady is on the block list".into()),
        "{decision}"
    );
    let a = addr.clone();
    let missing = tokio::task::spawn_blocking(move || get(&a, "/v1/decisions/never-seen").unwrap())
        .await
        .unwrap();
    assert_eq!(missing.0, 404);

    let a = addr.clone();
    let rules_file = rules_dir.join("amount.rules");
    let good_rules = std::fs::read_to_string(&rules_file).unwrap();
    let running = dataflow.rules.load().version().to_string();
    let corrupt = dir.path().join("corrupt-model");
    corrupt_model(&model_dir, &corrupt);
    let corrupt_model = corrupt;
    let champion = dataflow.models.champion().unwrap().label.clone();
    let df = dataflow.clone();
    tokio::task::spawn_blocking(move || {
        for path in ["/v1/rules/reload", "/v1/models/promote", "/v1/models/challenger"] {
            assert_eq!(post(&a, path, None, "").0, 401, "{path} without a token");
            assert_eq!(post(&a, path, Some("not-the-token-0000000"), "").0, 401, "{path} with a wrong token");
        }
        // Rules: an unchanged directory, a broken edit (refused, the running
        // set stays), then a good edit (swapped).
        let (code, body) = post(&a, "/v1/rules/reload", Some(TOKEN), "");
        assert_eq!((code, body["result"].as_str()), (200, Some("unchanged")));
        std::fs::write(&rules_file, format!("{good_rules}\nrule broken: decline when\n")).unwrap();
        let (code, body) = post(&a, "/v1/rules/reload", Some(TOKEN), "");
        assert_eq!((code, body["result"].as_str()), (422, Some("failed")), "{body}");
        assert_eq!(body["running_version"], running.as_str());
        assert_eq!(df.rules.load().version(), running);
        std::fs::write(&rules_file, format!("{good_rules}\n# reviewed\nrule tiny_review: review when amount > 999999\n  reason \"huge\"\n")).unwrap();
        let (code, body) = post(&a, "/v1/rules/reload", Some(TOKEN), "");
        assert_eq!((code, body["result"].as_str()), (200, Some("swapped")), "{body}");
        assert_ne!(df.rules.load().version(), running);

        // Models: a missing and a corrupt directory are refused and counted;
        // the champion stays. A good one is promoted.
        let (code, body) = post(&a, "/v1/models/promote", Some(TOKEN), r#"{"dir": "/nonexistent/model"}"#);
        assert_eq!((code, body["result"].as_str()), (422, Some("refused")), "{body}");
        let corrupt = serde_json::json!({"dir": corrupt_model}).to_string();
        let (code, body) = post(&a, "/v1/models/promote", Some(TOKEN), &corrupt);
        assert_eq!((code, body["result"].as_str()), (422, Some("refused")), "{body}");
        assert_eq!(body["champion"], champion.as_str());
        assert_eq!(df.metrics.ops.model_reloads.with_label_values(&["champion", "error"]).get(), 2);
        let (code, _) = post(&a, "/v1/models/promote", Some(TOKEN), "");
        assert_eq!(code, 400, "no dir and no challenger loaded");
        let good = serde_json::json!({"dir": model_dir}).to_string();
        let (code, body) = post(&a, "/v1/models/promote", Some(TOKEN), &good);
        assert_eq!((code, body["champion"].as_str()), (200, Some(champion.as_str())), "{body}");

        // Every request was counted by route template, never by raw path.
        let (_, metrics) = get(&a, "/metrics").unwrap();
        assert!(metrics.contains(r#"verdict_admin_requests_total{route="/v1/decisions/{transaction_id}",status="200"}"#), "{metrics}");
        assert!(metrics.contains(r#"route="/v1/rules/reload",status="401""#));
        assert!(!metrics.contains("tx-admin-1"));
    })
    .await
    .unwrap();
    engine.shutdown().await.unwrap();
}
