//! `verdict backfill`: loads a year of per-user history from a file of past
//! transactions into the state store, before the engine first starts on it.
//! The file is JSON lines (the input contract of the `transactions` topic) or
//! Parquet (told apart by its magic bytes) whose columns are named as the
//! contract's fields: each row becomes the JSON object the topic would carry
//! (strings and decimals as strings, integers and floats as numbers,
//! timestamps and dates as epoch milliseconds, nulls omitted).
//!
//! Every record is decoded exactly as live traffic is (timestamps only
//! checked against the absolute sanity range); one that does not decode is
//! counted and reported with its line (or row) number and reason, never
//! loaded. Users land in
//! the partition Kafka's default partitioner gives their `user_id` key, so
//! `--partitions` must equal the input topic's partition count. Fields seen
//! for `first_time(...)` features of the rule set are tracked on top of the
//! configured ones.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use verdict_rules::RuleSet;
use verdict_rules::spec::{FeatureKind, HistoryFeature};
use verdict_state::backfill::{BackfillOptions, BackfillProgress, load_history};
use verdict_state::{RocksOptions, StateConfig};

use crate::contract::{DecodeConfig, decode};
use crate::dataflow::Dataflow;

#[derive(Debug, Clone)]
pub struct BackfillRun {
    pub input: PathBuf,
    pub state_dir: PathBuf,
    /// Partitions of the input topic.
    pub partitions: i32,
}

#[derive(Debug, Clone, Default)]
pub struct BackfillSummary {
    pub progress: BackfillProgress,
    /// Lines that did not decode (not loaded).
    pub rejected: u64,
    /// The first few rejections: `(line number, reason code, detail)`.
    pub first_rejections: Vec<(u64, &'static str, String)>,
    pub elapsed_ms: u64,
    /// Bytes of the state directory on disk after the load.
    pub disk_bytes: u64,
}

const REPORTED_REJECTIONS: usize = 10;

/// Runs a backfill; `progress` is called as chunks are written.
pub fn run(
    opts: &BackfillRun,
    rules: &RuleSet,
    state: &StateConfig,
    progress: &mut dyn FnMut(&BackfillProgress),
) -> anyhow::Result<BackfillSummary> {
    anyhow::ensure!(opts.partitions > 0, "--partitions must be at least 1");
    let started = Instant::now();
    // A bulk load: no fsync per batch (the final flush makes it durable).
    let rocksdb = RocksOptions {
        sync_writes: false,
        ..state.rocksdb.clone()
    };
    let store = Dataflow::open_store(Some(&opts.state_dir), &rocksdb)?;
    let mut load = BackfillOptions::new(opts.partitions, state);
    for spec in rules.features() {
        if let FeatureKind::History(HistoryFeature::FirstTime(field)) = spec.kind
            && !load.tracked_fields.contains(&field)
        {
            load.tracked_fields.push(field);
        }
    }
    let mut input = BufReader::with_capacity(1 << 20, File::open(&opts.input)?);
    // Peeked, not consumed: a JSON-lines stream (a pipe) reads on as it is.
    let records: Box<dyn Iterator<Item = anyhow::Result<Vec<u8>>>> =
        if input.fill_buf()?.starts_with(PARQUET_MAGIC) {
            Box::new(parquet_rows(&opts.input)?)
        } else {
            Box::new(input.split(b'\n').map(|r| r.map_err(anyhow::Error::from)))
        };
    let decode_cfg = DecodeConfig::default();
    let mut summary = BackfillSummary::default();
    let mut read_error = None;
    let events = records
        .enumerate()
        .map_while(|(n, line)| match line {
            Ok(line) => Some((n as u64 + 1, line)),
            Err(e) => {
                read_error = Some(e);
                None
            }
        })
        .filter(|(_, line)| !line.is_empty())
        .filter_map(|(line_no, line)| match decode(&line, &decode_cfg) {
            Ok(event) => Some(event),
            Err(r) => {
                summary.rejected += 1;
                if summary.first_rejections.len() < REPORTED_REJECTIONS {
                    summary
                        .first_rejections
                        .push((line_no, r.reason.code(), r.detail));
                }
                None
            }
        });
    let done = load_history(&*store, events, &load, progress)?;
    if let Some(e) = read_error {
        anyhow::bail!("reading {}: {e:#}", opts.input.display());
    }
    store.flush()?;
    // A load of several chunks rewrote records; compacting leaves the store
    // at its steady-state size, with no superseded versions to read past.
    store.compact()?;
    summary.progress = done;
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    summary.disk_bytes = dir_bytes(&opts.state_dir)?;
    Ok(summary)
}

const PARQUET_MAGIC: &[u8] = b"PAR1";

/// Rows read from Parquet at a time.
const PARQUET_BATCH_ROWS: usize = 8_192;

/// Each row of the Parquet file at `path` as the JSON object of the input
/// contract (see the module docs).
fn parquet_rows(path: &Path) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Vec<u8>>>> {
    use anyhow::Context;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = File::open(path)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} starts as Parquet but cannot be read as a Parquet file (a pipe cannot: Parquet needs a seekable file)", path.display()))?
        .with_batch_size(PARQUET_BATCH_ROWS)
        .build()?;
    Ok(reader.flat_map(|batch| {
        let rows: Vec<anyhow::Result<Vec<u8>>> = match batch
            .map_err(anyhow::Error::from)
            .and_then(|b| rows_as_json(&b))
        {
            Ok(rows) => rows.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        rows
    }))
}

/// The rows of `batch` as JSON objects, one per row.
fn rows_as_json(batch: &arrow::record_batch::RecordBatch) -> anyhow::Result<Vec<Vec<u8>>> {
    use arrow::array::{Array, AsArray};
    use arrow::compute::cast;
    use arrow::datatypes::{DataType, Int64Type, TimeUnit};
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    use serde_json::{Map, Number, Value};

    /// How a column's values are written.
    enum Column {
        Text(arrow::array::ArrayRef),
        Number(arrow::array::ArrayRef),
        Millis(arrow::array::ArrayRef),
        Bool(arrow::array::ArrayRef),
    }
    let schema = batch.schema();
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        let column = match array.data_type() {
            DataType::Boolean => Column::Bool(array.clone()),
            t if t.is_integer() || t.is_floating() => Column::Number(array.clone()),
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
                let ms = cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
                Column::Millis(cast(&ms, &DataType::Int64)?)
            }
            _ => Column::Text(array.clone()),
        };
        columns.push((field.name().clone(), column));
    }
    let options = FormatOptions::default();
    let formatters = columns
        .iter()
        .map(|(_, c)| match c {
            Column::Text(a) | Column::Number(a) => {
                ArrayFormatter::try_new(a.as_ref(), &options).map(Some)
            }
            Column::Millis(_) | Column::Bool(_) => Ok(None),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut object = Map::new();
        for ((name, column), formatter) in columns.iter().zip(&formatters) {
            let value = match (column, formatter) {
                (Column::Text(a), Some(f)) if a.is_valid(row) => {
                    Value::String(f.value(row).to_string())
                }
                (Column::Number(a), Some(f)) if a.is_valid(row) => {
                    let text = f.value(row).to_string();
                    // NaN and infinities are no JSON number: kept as text,
                    // which the decoder rejects with the field's reason.
                    text.parse::<Number>()
                        .map_or(Value::String(text), Value::Number)
                }
                (Column::Millis(a), _) if a.is_valid(row) => {
                    Value::from(a.as_primitive::<Int64Type>().value(row))
                }
                (Column::Bool(a), _) if a.is_valid(row) => Value::Bool(a.as_boolean().value(row)),
                _ => continue,
            };
            object.insert(name.clone(), value);
        }
        out.push(serde_json::to_vec(&Value::Object(object))?);
    }
    Ok(out)
}

fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
