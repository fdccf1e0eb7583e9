//! Every problem at once, each with its key path; the rules that depend on
//! the command ([`Mode`]).

use super::*;

const SECRET: (&str, &str) = (
    "VERDICT_VALIDATION__PAN_HASH_KEY",
    "a-secret-of-32-characters-or-so!",
);

fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn env(vars: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<Vec<_>>()
        .into_iter()
}

fn has(problems: &[String], start: &str) -> bool {
    problems.iter().any(|p| p.starts_with(start))
}

#[test]
fn every_kind_of_problem_is_reported_at_once_with_its_key_path() {
    let (_dir, path) = file(
        "[kafka]\n\
         brokerz = \"typo\"\n\
         topic-partitions = \"x\"\n\
         [engine]\n\
         sla-ms = 0\n\
         [state.tuning]\n\
         cache-capacity = 0\n\
         [state.tuning.rocksdb]\n\
         max-background-jobs = 0\n\
         sync-writes = \"yes\"\n\
         [validation]\n\
         max-amount = -1\n",
    );
    let vars = [("VERDICT_ENGINE__BATCH_SIZE", "lots")];
    let err =
        Config::load_checked_with_env(Some(&path), env(&vars), Mode::Live { ephemeral: false })
            .unwrap_err();
    let p = &err.problems;
    let shown = path.display().to_string();
    // Loading: an unknown key and wrong types, from the file and the environment.
    assert!(
        has(
            p,
            "kafka.brokerz: unknown key; expected one of brokers, group-id, "
        ),
        "{p:#?}"
    );
    assert!(
        p.contains(&format!(
            "kafka.topic-partitions: invalid type: found string \"x\", expected i32 (in {shown})"
        )),
        "{p:#?}"
    );
    assert!(
        has(
            p,
            "state.tuning.rocksdb.sync-writes: invalid type: found string \"yes\""
        ),
        "{p:#?}"
    );
    assert!(
        p.iter().any(
            |l| l.starts_with("engine.batch-size: invalid type: found string \"lots\"")
                && l.ends_with("(set by VERDICT_ENGINE__BATCH_SIZE)")
        ),
        "{p:#?}"
    );
    // Validation of what did load, in every section.
    assert!(
        p.contains(&"engine.sla-ms must be positive".to_string()),
        "{p:#?}"
    );
    assert!(
        has(
            p,
            "engine.batch-wait-ms (1) must be below engine.sla-ms (0)"
        ),
        "{p:#?}"
    );
    assert!(
        has(p, "state.tuning.cache-capacity must be at least 1"),
        "{p:#?}"
    );
    assert!(
        has(
            p,
            "state.tuning.rocksdb.max-background-jobs must be 1..=256, got 0"
        ),
        "{p:#?}"
    );
    assert!(has(p, "validation.max-amount must be positive"), "{p:#?}");
    // And what `verdict run` needs.
    assert!(
        has(p, "validation.pan-hash-key is the built-in development key"),
        "{p:#?}"
    );
    assert!(has(p, "state.dir is not set"), "{p:#?}");
    assert_eq!(p.len(), 11, "{p:#?}");
    // The error lists them all.
    let text = err.to_string();
    assert!(text.starts_with("11 configuration problem(s):"), "{text}");
    assert!(
        text.contains("\n  engine.sla-ms must be positive"),
        "{text}"
    );
}

#[test]
fn a_key_that_did_not_load_is_reported_once() {
    let (_dir, path) = file("[validation]\npan-hash-key = 12345\n");
    let err = Config::load_checked_with_env(
        Some(&path),
        std::iter::empty(),
        Mode::Live { ephemeral: true },
    )
    .unwrap_err();
    assert_eq!(err.problems.len(), 1, "{:#?}", err.problems);
    assert!(
        err.problems[0]
            .starts_with("validation.pan-hash-key: invalid type: found signed int `12345`"),
        "{:#?}",
        err.problems
    );
}

#[test]
fn a_toml_syntax_error_names_file_line_and_column() {
    let (_dir, path) = file("[kafka]\nbrokers = \"a:9092\"\ngroup-id = \n");
    let err =
        Config::load_checked_with_env(Some(&path), std::iter::empty(), Mode::Offline).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{:#?}", err.problems);
    let expected = format!("{}:3:12: TOML syntax: ", path.display());
    assert!(
        err.problems[0].starts_with(&expected),
        "{:#?}",
        err.problems
    );
}

#[test]
fn a_live_run_needs_a_secret_key_and_durable_state() {
    let live = Mode::Live { ephemeral: false };
    let problems = Config::default().validate_for(live).unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with("state.dir is not set"),
        "{problems:#?}"
    );
    assert!(
        problems[1].contains("VERDICT_VALIDATION__PAN_HASH_KEY"),
        "{problems:#?}"
    );

    // Offline, the built-in key is allowed with a warning.
    let cfg = Config::load_checked_with_env(None, std::iter::empty(), Mode::Offline).unwrap();
    assert_eq!(cfg.warnings(Mode::Offline).len(), 1);
    assert!(cfg.warnings(Mode::Offline)[0].contains("development key"));

    // With a secret and a directory, or a secret and --ephemeral (warned).
    let mut cfg = Config::load_checked_with_env(
        None,
        env(&[SECRET, ("VERDICT_STATE__DIR", "/var/lib/verdict/state")]),
        live,
    )
    .unwrap();
    assert_eq!(
        cfg.state.dir.as_deref(),
        Some(Path::new("/var/lib/verdict/state"))
    );
    assert!(cfg.warnings(live).is_empty());
    let ephemeral = Mode::Live { ephemeral: true };
    assert!(has(
        &cfg.validate_for(ephemeral).unwrap_err(),
        "state.dir (/var/lib/verdict/state) is set but --ephemeral"
    ));
    cfg.state.dir = None;
    cfg.validate_for(ephemeral).unwrap();
    assert!(cfg.warnings(ephemeral)[0].starts_with("state is in memory (--ephemeral)"));
    assert!(cfg.warnings(Mode::Offline).is_empty());
}

#[test]
fn rocksdb_options_are_read_from_state_tuning() {
    let (_dir, path) = file(
        "[state.tuning.rocksdb]\nsync-writes = true\nblock-cache-bytes = 33554432\nbloom-bits-per-key = 0.5\n",
    );
    let cfg = Config::load_with_env(Some(&path), std::iter::empty()).unwrap();
    assert!(cfg.state.tuning.rocksdb.sync_writes);
    assert_eq!(cfg.state.tuning.rocksdb.block_cache_bytes, 32 << 20);
    let problems = cfg.validate().unwrap_err();
    assert_eq!(
        problems,
        vec!["state.tuning.rocksdb.bloom-bits-per-key must be 0 (no filter) or 1..=64, got 0.5"]
    );
}
