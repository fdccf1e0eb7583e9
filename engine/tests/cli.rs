//! The `verdict` binary as a user runs it.

use std::path::Path;
use std::process::Command;

/// Runs `verdict args…` with `tmp` as its temporary directory; panics with
/// its stderr unless it succeeds.
fn verdict(tmp: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .expect("the verdict binary runs");
    assert!(
        out.status.success(),
        "verdict {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The embedded rules and model are extracted into a scratch directory for
/// the run; every command removes it when it finishes, so repeated runs do
/// not fill the temporary directory.
#[test]
fn commands_leave_no_scratch_directory_behind() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let events = work.path().join("events.jsonl");
    let decisions = work.path().join("decisions.jsonl");
    let (events_arg, decisions_arg) = (events.to_str().unwrap(), decisions.to_str().unwrap());
    verdict(
        tmp.path(),
        &[
            "generate", "--count", "200", "--output", events_arg, "--seed", "1",
        ],
    );
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
    // Replay on the embedded default rules and model.
    verdict(
        tmp.path(),
        &["replay", "--input", events_arg, "--output", decisions_arg],
    );
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
    let lines = std::fs::read_to_string(&decisions).unwrap().lines().count();
    assert_eq!(lines, 200, "one decision per event");
}
