//! `verdict backfill`: history loaded from a file of past transactions reads
//! exactly as history built online from the same transactions, and a line
//! that does not decode is reported with its line number, never loaded.

use std::io::Write;
use std::sync::Arc;

use verdict_engine::backfill::{BackfillRun, run};
use verdict_engine::contract::{DecodeConfig, decode};
use verdict_engine::generate::{Generator, GeneratorConfig};
use verdict_rules::RuleSet;
use verdict_rules::spec::FeatureKind;
use verdict_state::{MemoryStore, PartitionState, RocksOptions, RocksStore, StateConfig};

const DAY: i64 = 86_400_000;

#[test]
fn backfilled_history_reads_like_online_history() {
    let dir = tempfile::tempdir().unwrap();
    let d = verdict_engine::defaults::extract(&dir.path().join("defaults")).unwrap();
    let rules = RuleSet::compile_dir(&d.rules_dir).unwrap();
    let cfg = GeneratorConfig {
        seed: 5,
        users: 60,
        // 4,000 events over about 46 days.
        events_per_sec: 0.001,
        ..Default::default()
    };
    let payloads: Vec<Vec<u8>> = Generator::new(cfg).take(4_000).map(|g| g.payload).collect();
    let input = dir.path().join("past.jsonl");
    let mut f = std::fs::File::create(&input).unwrap();
    for (i, p) in payloads.iter().enumerate() {
        f.write_all(p).unwrap();
        f.write_all(b"\n").unwrap();
        if i == 99 {
            f.write_all(b"{\"transaction_id\":\"broken\"\n").unwrap(); // line 101
        }
    }
    drop(f);

    let state = StateConfig::default();
    let state_dir = dir.path().join("state");
    let summary = run(
        &BackfillRun {
            input: input.clone(),
            state_dir: state_dir.clone(),
            partitions: 1,
        },
        &rules,
        &state,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(summary.progress.events, payloads.len() as u64);
    assert_eq!(summary.rejected, 1);
    assert_eq!(summary.first_rejections[0].0, 101);
    assert_eq!(summary.first_rejections[0].1, "malformed_json");
    assert!(summary.progress.users_written > 0 && summary.disk_bytes > 0);

    // The same transactions, processed online.
    let events: Vec<_> = payloads
        .iter()
        .map(|p| decode(p, &DecodeConfig::default()).unwrap())
        .collect();
    let mut online =
        PartitionState::open(Arc::new(MemoryStore::new()), 0, rules.features(), &state).unwrap();
    let width = rules.features().len();
    let mut out = vec![0.0; width];
    for e in &events {
        online.process(e, &mut out);
    }
    let store = Arc::new(RocksStore::open(&state_dir, &RocksOptions::default()).unwrap());
    let mut loaded = PartitionState::open(store, 0, rules.features(), &state).unwrap();

    let last = events.iter().map(|e| e.event_time_ms).max().unwrap();
    let history: Vec<usize> = (0..width)
        .filter(|&i| matches!(rules.features()[i].kind, FeatureKind::History(_)))
        .collect();
    assert!(history.len() >= 5, "the default rules read history");
    let mut users: Vec<&str> = events.iter().map(|e| e.user_id()).collect();
    users.sort_unstable();
    users.dedup();
    let (mut a, mut b) = (vec![0.0; width], vec![0.0; width]);
    for user in users {
        // A purchase a day after the history, at a merchant seen before.
        let probe = format!(
            r#"{{"transaction_id":"probe-{user}","event_time":{},"user_id":"{user}","card_id":"c-{user}","amount":"25.00","currency":"USD","merchant_id":"m1","country":"US"}}"#,
            last + DAY
        );
        let probe = decode(probe.as_bytes(), &DecodeConfig::default()).unwrap();
        online.process(&probe, &mut a);
        loaded.process(&probe, &mut b);
        for &i in &history {
            let name = &rules.features()[i].name;
            assert!(
                a[i] == b[i] || (a[i].is_nan() && b[i].is_nan()),
                "{user} {name}: online {} vs backfilled {}",
                a[i],
                b[i]
            );
        }
    }
}

/// Every key and value under `dir`'s store.
fn store_contents(dir: &std::path::Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    use verdict_state::StateStore;
    let store = RocksStore::open(dir, &RocksOptions::default()).unwrap();
    let mut all = Vec::new();
    store
        .scan(&[], &[0xff; 8], &mut |k, v| {
            all.push((k.to_vec(), v.to_vec()));
            true
        })
        .unwrap();
    all
}

/// The same transactions as a Parquet file with typed columns (a UTC
/// timestamp, a decimal amount, floats, nullable strings) load into exactly
/// the store a JSON-lines file gives, and a row that does not decode is
/// reported with its row number.
#[test]
fn a_parquet_file_loads_like_json_lines() {
    use arrow::array::TimestampMillisecondBuilder;
    use arrow::array::{ArrayRef, Decimal128Builder, Float64Builder, StringBuilder};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use arrow::record_batch::RecordBatch;

    let dir = tempfile::tempdir().unwrap();
    let d = verdict_engine::defaults::extract(&dir.path().join("defaults")).unwrap();
    let rules = RuleSet::compile_dir(&d.rules_dir).unwrap();
    let cfg = GeneratorConfig {
        seed: 9,
        users: 40,
        events_per_sec: 0.001,
        ..Default::default()
    };
    let payloads: Vec<Vec<u8>> = Generator::new(cfg).take(1_500).map(|g| g.payload).collect();
    let jsonl = dir.path().join("past.jsonl");
    let mut f = std::fs::File::create(&jsonl).unwrap();
    for p in &payloads {
        f.write_all(p).unwrap();
        f.write_all(b"\n").unwrap();
    }
    drop(f);

    let objects: Vec<serde_json::Value> = payloads
        .iter()
        .map(|p| serde_json::from_slice(p).unwrap())
        .collect();
    let text =
        |o: &serde_json::Value, k: &str| o.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let strings = [
        "transaction_id",
        "user_id",
        "card_id",
        "currency",
        "merchant_id",
        "mcc",
        "country",
        "channel",
        "device_id",
        "ip",
    ];
    // Row 501 carries a negative amount: rejected, reported as row 501.
    let bad_row = 500;
    let rows: Vec<&serde_json::Value> = objects[..bad_row]
        .iter()
        .chain([&objects[0]])
        .chain(&objects[bad_row..])
        .collect();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for name in strings {
        let mut b = StringBuilder::new();
        for (i, o) in rows.iter().enumerate() {
            match (i == bad_row && name == "transaction_id", text(o, name)) {
                (true, _) => b.append_value("t-bad"),
                (false, v) => b.append_option(v),
            }
        }
        fields.push(Field::new(name, DataType::Utf8, true));
        columns.push(Arc::new(b.finish()));
    }
    let mut times = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut amounts = Decimal128Builder::new()
        .with_precision_and_scale(20, 4)
        .unwrap();
    for (i, o) in rows.iter().enumerate() {
        let t = chrono::DateTime::parse_from_rfc3339(&text(o, "event_time").unwrap()).unwrap();
        times.append_value(t.timestamp_millis());
        let amount: f64 = text(o, "amount").unwrap().parse().unwrap();
        let units = (amount * 10_000.0).round() as i128;
        amounts.append_value(if i == bad_row { -units - 1 } else { units });
    }
    fields.push(Field::new(
        "event_time",
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        false,
    ));
    columns.push(Arc::new(times.finish()));
    fields.push(Field::new("amount", DataType::Decimal128(20, 4), false));
    columns.push(Arc::new(amounts.finish()));
    for name in ["lat", "lon"] {
        let mut b = Float64Builder::new();
        for o in &rows {
            b.append_option(o.get(name).and_then(|v| v.as_f64()));
        }
        fields.push(Field::new(name, DataType::Float64, true));
        columns.push(Arc::new(b.finish()));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let parquet_path = dir.path().join("past.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&parquet_path).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let state = StateConfig::default();
    let load = |input: &std::path::Path, out: &str| {
        let state_dir = dir.path().join(out);
        let summary = run(
            &BackfillRun {
                input: input.to_path_buf(),
                state_dir: state_dir.clone(),
                partitions: 2,
            },
            &rules,
            &state,
            &mut |_| {},
        )
        .unwrap();
        (summary, state_dir)
    };
    let (from_lines, lines_dir) = load(&jsonl, "from-lines");
    let (from_parquet, parquet_dir) = load(&parquet_path, "from-parquet");
    assert_eq!(from_lines.rejected, 0);
    assert_eq!(from_parquet.rejected, 1);
    assert_eq!(from_parquet.first_rejections[0].0, bad_row as u64 + 1);
    assert_eq!(from_parquet.progress.events, payloads.len() as u64);
    let (a, b) = (store_contents(&lines_dir), store_contents(&parquet_dir));
    assert!(a.len() > 40, "every user's history is stored");
    assert!(a == b, "the Parquet load differs from the JSON-lines load");
}
