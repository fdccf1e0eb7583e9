//! A small deterministic generator of labelled feature tables.
//!
//! It stands in for the engine's feature log in tests, benchmarks and demos:
//! the same columns (`transaction_id`, `event_time`, numeric window/history
//! features, `mcc` / `country` / `channel`) and a labels CSV. Fraud follows
//! three scenarios, each shifting a few features (card testing: bursts of
//! small amounts; account takeover: new device, amounts far above the
//! user's average; cross-border: foreign country, night hours, risky MCCs),
//! with enough overlap with legitimate traffic that the problem is not
//! trivially separable. Everything is drawn from a seeded ChaCha RNG.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    pub rows: usize,
    pub fraud_rate: f64,
    pub seed: u64,
    /// Event time of the first row, ms since epoch.
    pub start_ms: i64,
    /// Mean gap between events, ms.
    pub gap_ms: i64,
    /// Extra pure-noise numeric columns (to mimic wide feature logs).
    pub noise_features: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            rows: 20_000,
            fraud_rate: 0.02,
            seed: 7,
            start_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
            gap_ms: 2_000,
            noise_features: 0,
        }
    }
}

const MCCS: [&str; 12] = [
    "5411", "5812", "5541", "5311", "5999", "4121", "5732", "7995", "4829", "5912", "5651", "6011",
];
const RISKY_MCCS: [&str; 3] = ["7995", "4829", "5732"];
const COUNTRIES: [&str; 8] = ["FR", "DE", "ES", "IT", "GB", "US", "NG", "BR"];
const CHANNELS: [&str; 4] = ["pos", "ecom", "atm", "moto"];
const SCENARIOS: [&str; 3] = ["card_testing", "account_takeover", "cross_border"];

/// Numeric feature names written by [`generate`] (before noise columns).
pub const NUMERIC_FEATURES: [&str; 12] = [
    "amount",
    "count_1h",
    "count_24h",
    "sum_amount_24h",
    "distinct_merchants_1h",
    "avg_amount_30d",
    "amount_to_avg_30d",
    "hour_of_day",
    "account_age_days",
    "new_device",
    "ip_distinct_cards_24h",
    "failed_auth_24h",
];

/// A generated table held in memory.
pub struct SynthData {
    pub batch: RecordBatch,
    /// `(transaction_id, is_fraud, scenario)` for every row.
    pub labels: Vec<(String, bool, Option<&'static str>)>,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str], weights: &[f64]) -> &'a str {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (item, w) in items.iter().zip(weights) {
        if x < *w {
            return item;
        }
        x -= w;
    }
    items[items.len() - 1]
}

/// One row's draws, before the noise columns.
struct Row {
    fraud: bool,
    scenario: Option<&'static str>,
    values: [f64; NUMERIC_FEATURES.len()],
    mcc: &'static str,
    country: &'static str,
    channel: &'static str,
}

/// Draws one row: a legitimate profile, shifted by the fraud scenario if any.
/// The order of the draws is part of the output for a given seed.
fn draw_row(rng: &mut ChaCha8Rng, fraud_rate: f64) -> Row {
    let fraud = rng.random::<f64>() < fraud_rate;
    // A quarter of fraud is camouflaged: drawn like legitimate traffic.
    let scenario = (fraud && rng.random::<f64>() > 0.25).then(|| SCENARIOS[rng.random_range(0..3)]);
    let avg = (40.0f64.ln() + 0.8 * normal(rng)).exp();
    let mut amount = avg * (0.6 * normal(rng)).exp();
    let mut count_1h = (rng.random::<f64>() * 3.0).floor();
    let mut merchants_1h = count_1h.min((rng.random::<f64>() * 2.0).floor() + 1.0);
    let mut hour = (8.0 + 14.0 * rng.random::<f64>()).floor();
    let mut age = (30.0 + 1500.0 * rng.random::<f64>()).floor();
    let mut new_device = f64::from(rng.random::<f64>() < 0.05);
    let mut ip_cards = 1.0 + (rng.random::<f64>() * 1.5).floor();
    let mut failed = f64::from(rng.random::<f64>() < 0.05);
    let mut ch = pick(rng, &CHANNELS, &[0.55, 0.35, 0.07, 0.03]);
    let mut m = pick(
        rng,
        &MCCS,
        &[12., 10., 8., 6., 5., 4., 3., 1., 1., 4., 3., 2.],
    );
    let mut c = if rng.random::<f64>() < 0.85 {
        "FR"
    } else {
        COUNTRIES[rng.random_range(1..8)]
    };
    match scenario {
        Some("card_testing") => {
            amount = 0.5 + 4.0 * rng.random::<f64>();
            count_1h = 4.0 + (rng.random::<f64>() * 20.0).floor();
            merchants_1h = (count_1h * 0.7).floor().max(2.0);
            ip_cards = 2.0 + (rng.random::<f64>() * 8.0).floor();
            failed = (rng.random::<f64>() * 5.0).floor();
            ch = "ecom";
        }
        Some("account_takeover") => {
            amount = avg * (2.0 + 6.0 * rng.random::<f64>());
            new_device = f64::from(rng.random::<f64>() < 0.75);
            failed = (rng.random::<f64>() * 4.0).floor();
            age = (rng.random::<f64>() * 2000.0).floor();
            if rng.random::<f64>() < 0.5 {
                m = RISKY_MCCS[rng.random_range(0..3)];
            }
        }
        Some(_) => {
            c = COUNTRIES[rng.random_range(5..8)];
            hour = (rng.random::<f64>() * 6.0).floor();
            amount = avg * (1.0 + 3.0 * rng.random::<f64>());
            if rng.random::<f64>() < 0.6 {
                m = RISKY_MCCS[rng.random_range(0..3)];
            }
            ch = if rng.random::<f64>() < 0.5 {
                "ecom"
            } else {
                "moto"
            };
        }
        None => {}
    }
    let count_24h = count_1h + (rng.random::<f64>() * 8.0).floor();
    let sum_24h = amount + count_24h * avg * (0.5 + rng.random::<f64>());
    // New users have no 30-day history: missing values.
    let history = rng.random::<f64>() > 0.05;
    let avg_30d = if history { avg } else { f64::NAN };
    let ratio = if history { amount / avg } else { f64::NAN };
    let values = [
        (amount * 100.0).round() / 100.0,
        count_1h,
        count_24h,
        sum_24h,
        merchants_1h,
        avg_30d,
        ratio,
        hour,
        age,
        new_device,
        ip_cards,
        failed,
    ];
    Row {
        fraud,
        scenario,
        values,
        mcc: m,
        country: c,
        channel: ch,
    }
}

/// Generates the table in memory.
pub fn generate(cfg: &SynthConfig) -> SynthData {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let n = cfg.rows;
    let width = NUMERIC_FEATURES.len() + cfg.noise_features;
    let mut numeric: Vec<Vec<f64>> = vec![Vec::with_capacity(n); width];
    let (mut ids, mut times, mut mcc, mut country, mut channel) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut labels = Vec::with_capacity(n);
    let mut t = cfg.start_ms;
    for i in 0..n {
        t += (rng.random::<f64>() * 2.0 * cfg.gap_ms as f64) as i64;
        let row = draw_row(&mut rng, cfg.fraud_rate);
        for (col, v) in numeric.iter_mut().zip(row.values) {
            col.push(v);
        }
        for col in numeric.iter_mut().skip(NUMERIC_FEATURES.len()) {
            col.push(normal(&mut rng));
        }
        let id = format!("tx-{:08}", i);
        ids.push(id.clone());
        times.push(t);
        mcc.push(Some(row.mcc));
        country.push((rng.random::<f64>() > 0.01).then_some(row.country));
        channel.push(Some(row.channel));
        let (fraud, scenario) = (row.fraud, row.scenario);
        labels.push((id, fraud, scenario.or(fraud.then_some("camouflaged"))));
    }
    let batch = to_batch(
        ids,
        times,
        numeric,
        [("mcc", mcc), ("country", country), ("channel", channel)],
    );
    SynthData { batch, labels }
}

type TextColumn = Vec<Option<&'static str>>;

/// The generated columns as one record batch.
fn to_batch(
    ids: Vec<String>,
    times: Vec<i64>,
    numeric: Vec<Vec<f64>>,
    categorical: [(&str, TextColumn); 3],
) -> RecordBatch {
    let mut fields = vec![
        Field::new("transaction_id", DataType::Utf8, false),
        Field::new("event_time", DataType::Int64, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(Int64Array::from(times)),
    ];
    for (i, col) in numeric.into_iter().enumerate() {
        let name = NUMERIC_FEATURES.get(i).map_or_else(
            || format!("noise_{}", i - NUMERIC_FEATURES.len()),
            |s| s.to_string(),
        );
        fields.push(Field::new(name, DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from(col)));
    }
    for (name, col) in categorical {
        fields.push(Field::new(name, DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from(col)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match schema")
}

/// Writes the table (`.parquet`, or Arrow IPC for `.arrow`) and a labels CSV
/// holding every fraud row and a third of the legitimate ones (the rest are
/// unlabelled, i.e. legitimate by convention).
pub fn write(cfg: &SynthConfig, table: &Path, labels: &Path) -> std::io::Result<SynthData> {
    let data = generate(cfg);
    let file = File::create(table)?;
    let err = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    if table.extension().is_some_and(|e| e == "arrow") {
        let mut w = arrow::ipc::writer::FileWriter::try_new(file, &data.batch.schema())
            .map_err(|e| err(&e))?;
        w.write(&data.batch).map_err(|e| err(&e))?;
        w.finish().map_err(|e| err(&e))?;
    } else {
        let mut w = parquet::arrow::ArrowWriter::try_new(file, data.batch.schema(), None)
            .map_err(|e| err(&e))?;
        w.write(&data.batch).map_err(|e| err(&e))?;
        w.close().map_err(|e| err(&e))?;
    }
    let mut csv = String::from("transaction_id,is_fraud,scenario\n");
    for (i, (id, fraud, scenario)) in data.labels.iter().enumerate() {
        if *fraud || i % 3 == 0 {
            csv.push_str(&format!(
                "{id},{},{}\n",
                u8::from(*fraud),
                scenario.unwrap_or("")
            ));
        }
    }
    std::fs::write(labels, csv)?;
    Ok(data)
}
