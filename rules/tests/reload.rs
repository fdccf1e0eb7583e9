//! Hot reload: a broken edit never replaces the running set; a good one does.

use std::time::{Duration, Instant};

use verdict_rules::{ReloadEvent, RuleSetReloader};

const GOOD: &str = "rule big: decline when amount > 100\n";
const BETTER: &str = "rule big: decline when amount > 200\n";
const BROKEN: &str = "rule big: decline when amout > 200\n";

#[test]
fn reload_swaps_only_rule_sets_that_compile() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("main.rules");
    std::fs::write(&file, GOOD).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let reloader = RuleSetReloader::new(dir.path())
        .unwrap()
        .on_reload(move |e| log.lock().unwrap().push(format!("{e:?}")));
    let v1 = reloader.current().version().to_string();

    assert!(matches!(reloader.reload(), ReloadEvent::Unchanged { .. }));

    std::fs::write(&file, BROKEN).unwrap();
    match reloader.reload() {
        ReloadEvent::Failed {
            running_version,
            diagnostics,
        } => {
            assert_eq!(running_version, v1);
            assert_eq!(diagnostics.items[0].code.as_str(), "E023");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reloader.current().version(),
        v1,
        "the good set keeps running"
    );

    std::fs::write(&file, BETTER).unwrap();
    let ReloadEvent::Swapped {
        old_version,
        new_version,
    } = reloader.reload()
    else {
        panic!()
    };
    assert_eq!(old_version, v1);
    assert_eq!(reloader.current().version(), new_version);
    let stats = reloader.stats();
    assert_eq!(
        (stats.swapped(), stats.unchanged(), stats.failed()),
        (1, 1, 1)
    );
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[test]
fn the_watcher_recompiles_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("main.rules");
    std::fs::write(&file, GOOD).unwrap();
    let watcher = RuleSetReloader::new(dir.path())
        .unwrap()
        .watch(Duration::from_millis(50))
        .unwrap();
    let shared = watcher.reloader().shared();
    let v1 = watcher.current().version().to_string();

    std::fs::write(&file, BROKEN).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while watcher.reloader().stats().failed() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        watcher.reloader().stats().failed() >= 1,
        "broken edit was seen"
    );
    assert_eq!(shared.load().version(), v1);

    std::fs::write(&file, BETTER).unwrap();
    while shared.load().version() == v1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_ne!(shared.load().version(), v1, "good edit was swapped in");
    drop(watcher);
}
