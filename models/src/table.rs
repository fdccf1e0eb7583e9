//! Reading the engine's feature log and fraud labels.
//!
//! The feature log is a Parquet (`.parquet`) or Arrow IPC (`.arrow`) table:
//! `transaction_id` (Utf8), `event_time` (Int64 ms since epoch), numeric
//! feature columns (any numeric or boolean type; null or NaN = missing) and
//! categorical columns (Utf8, nullable). Every numeric column is a feature
//! except the record of what was served ([`SERVED_COLUMNS`]: the scores the
//! engine's models gave); the Utf8 columns named in [`CATEGORICAL_COLUMNS`]
//! are the categorical ones.
//!
//! Labels are CSV or JSONL with `transaction_id,is_fraud,scenario`; a
//! transaction without a label is legitimate.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use crate::schema::FeatureSchema;

/// Utf8 columns used as categorical features when present.
pub const CATEGORICAL_COLUMNS: [&str; 3] = ["mcc", "country", "channel"];
/// Numeric columns of the engine's feature log that record what was served
/// and are never model inputs: a model trained on its predecessor's score
/// would learn that score, not fraud.
pub const SERVED_COLUMNS: [&str; 2] = ["served_score", "challenger_score"];
const ID_COLUMN: &str = "transaction_id";
const TIME_COLUMN: &str = "event_time";

/// Why a table or label file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

/// A feature table in columnar form.
#[derive(Debug, Clone, Default)]
pub struct FeatureTable {
    pub transaction_ids: Vec<String>,
    pub event_time: Vec<i64>,
    pub numeric_names: Vec<String>,
    /// `numeric[c][row]`, NaN = missing.
    pub numeric: Vec<Vec<f32>>,
    pub categorical_names: Vec<String>,
    /// `categorical[c][row]`.
    pub categorical: Vec<Vec<Option<String>>>,
}

impl FeatureTable {
    pub fn len(&self) -> usize {
        self.event_time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.event_time.is_empty()
    }

    /// Leaves out the rows whose labels may not have arrived yet (see
    /// [`LabelMaturity`]); returns how many.
    pub fn retain_mature(&mut self, maturity: &LabelMaturity) -> usize {
        let Some(newest) = self.event_time.iter().copied().max() else {
            return 0;
        };
        let cutoff = maturity.as_of_ms.unwrap_or(newest) - maturity.window_ms;
        let keep: Vec<bool> = self.event_time.iter().map(|&t| t <= cutoff).collect();
        self.retain_rows(&keep)
    }

    /// Keeps the first row of each transaction id: the engine logs an event
    /// it decides again after a crash a second time (with the same values).
    /// Returns how many rows were left out.
    pub fn dedupe(&mut self) -> usize {
        let mut seen = std::collections::HashSet::with_capacity(self.len());
        let keep: Vec<bool> = self
            .transaction_ids
            .iter()
            .map(|id| seen.insert(id.as_str()))
            .collect();
        drop(seen);
        self.retain_rows(&keep)
    }

    /// Keeps row `r` where `keep[r]`; returns how many were left out.
    fn retain_rows(&mut self, keep: &[bool]) -> usize {
        let left_out = keep.iter().filter(|&&k| !k).count();
        if left_out == 0 {
            return 0;
        }
        fn retain<T>(column: &mut Vec<T>, keep: &[bool]) {
            let mut i = 0;
            column.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        retain(&mut self.transaction_ids, keep);
        retain(&mut self.event_time, keep);
        self.numeric.iter_mut().for_each(|c| retain(c, keep));
        self.categorical.iter_mut().for_each(|c| retain(c, keep));
        left_out
    }

    /// Appends `other`'s rows; both must have the same columns.
    fn extend(&mut self, other: FeatureTable) -> Result<(), String> {
        if self.numeric_names != other.numeric_names
            || self.categorical_names != other.categorical_names
        {
            return Err(format!(
                "its columns differ from the first file's (numeric {:?} vs {:?}): a rule-set \
                 change starts a new schema; train on the files of one schema",
                other.numeric_names, self.numeric_names
            ));
        }
        self.transaction_ids.extend(other.transaction_ids);
        self.event_time.extend(other.event_time);
        for (a, b) in self.numeric.iter_mut().zip(other.numeric) {
            a.extend(b);
        }
        for (a, b) in self.categorical.iter_mut().zip(other.categorical) {
            a.extend(b);
        }
        Ok(())
    }

    /// Row-major scorer input for `schema` (numeric raw, then category
    /// indices); fails if the table lacks a column the schema needs.
    pub fn rows_for(&self, schema: &FeatureSchema) -> Result<Vec<f32>, String> {
        let numeric: Vec<&Vec<f32>> = schema
            .numeric
            .iter()
            .map(|name| {
                self.numeric_names
                    .iter()
                    .position(|n| n == name)
                    .map(|i| &self.numeric[i])
                    .ok_or_else(|| format!("table has no numeric column {name}"))
            })
            .collect::<Result<_, _>>()?;
        let categorical: Vec<&Vec<Option<String>>> = schema
            .categorical
            .iter()
            .map(|c| {
                self.categorical_names
                    .iter()
                    .position(|n| *n == c.name)
                    .map(|i| &self.categorical[i])
                    .ok_or_else(|| format!("table has no categorical column {}", c.name))
            })
            .collect::<Result<_, _>>()?;
        let mut rows = Vec::with_capacity(self.len() * schema.width());
        for r in 0..self.len() {
            rows.extend(numeric.iter().map(|col| col[r]));
            rows.extend(
                categorical
                    .iter()
                    .enumerate()
                    .map(|(c, col)| schema.category_index(c, col[r].as_deref()) as f32),
            );
        }
        Ok(rows)
    }
}

/// How long a fraud label takes to arrive (chargebacks come weeks after
/// the transaction). A transaction younger than `window_ms` at `as_of_ms`
/// (default: the table's newest event) has no label *yet*: it is left out
/// of training and evaluation, not counted legitimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelMaturity {
    pub window_ms: i64,
    pub as_of_ms: Option<i64>,
}

impl LabelMaturity {
    pub fn days(days: f64, as_of_ms: Option<i64>) -> LabelMaturity {
        LabelMaturity {
            window_ms: (days * 86_400_000.0) as i64,
            as_of_ms,
        }
    }
}

/// Reads a feature table: a `.parquet` or `.arrow` file, or a directory of
/// them (the engine's rotated feature log), read in file-name order.
pub fn read_table(path: &Path) -> Result<FeatureTable, DataError> {
    if !path.is_dir() {
        return read_file(path);
    }
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    files.retain(|f| {
        f.is_file()
            && matches!(
                f.extension().and_then(|e| e.to_str()),
                Some("parquet" | "arrow" | "ipc" | "feather")
            )
    });
    files.sort();
    let Some((first, rest)) = files.split_first() else {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            message: "no .parquet or .arrow files in the directory".into(),
        });
    };
    let mut table = read_file(first)?;
    for file in rest {
        table
            .extend(read_file(file)?)
            .map_err(|message| DataError::Format {
                path: file.clone(),
                message,
            })?;
    }
    table.dedupe();
    Ok(table)
}

/// Reads one `.parquet` or `.arrow` feature table.
fn read_file(path: &Path) -> Result<FeatureTable, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let format = |message: String| DataError::Format {
        path: path.to_path_buf(),
        message,
    };
    let file = File::open(path).map_err(io)?;
    let batches: Vec<RecordBatch> = match path.extension().and_then(|e| e.to_str()) {
        Some("arrow" | "ipc" | "feather") => arrow::ipc::reader::FileReader::try_new(file, None)
            .map_err(|e| format(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format(e.to_string()))?,
        _ => parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| format(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format(e.to_string()))?,
    };
    let mut table = FeatureTable::default();
    for (i, batch) in batches.iter().enumerate() {
        append_batch(&mut table, batch, i == 0).map_err(format)?;
    }
    Ok(table)
}

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric() || matches!(t, DataType::Boolean)
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn append_batch(table: &mut FeatureTable, batch: &RecordBatch, first: bool) -> Result<(), String> {
    let schema = batch.schema();
    if first {
        for field in schema.fields() {
            let name = field.name();
            if name == ID_COLUMN || name == TIME_COLUMN || SERVED_COLUMNS.contains(&name.as_str()) {
                continue;
            }
            if is_numeric(field.data_type()) {
                table.numeric_names.push(name.clone());
                table.numeric.push(Vec::new());
            } else if is_text(field.data_type()) && CATEGORICAL_COLUMNS.contains(&name.as_str()) {
                table.categorical_names.push(name.clone());
                table.categorical.push(Vec::new());
            }
        }
    }
    let column = |name: &str, to: &DataType| {
        let array = batch
            .column_by_name(name)
            .ok_or_else(|| format!("missing column {name}"))?;
        cast(array, to).map_err(|e| format!("column {name}: {e}"))
    };
    let ids = column(ID_COLUMN, &DataType::Utf8)?;
    let ids = ids.as_string::<i32>();
    table.transaction_ids.extend((0..ids.len()).map(|i| {
        if ids.is_null(i) {
            String::new()
        } else {
            ids.value(i).to_string()
        }
    }));
    let times = column(TIME_COLUMN, &DataType::Int64)?;
    let times = times.as_primitive::<Int64Type>();
    if times.null_count() > 0 {
        return Err(format!("{TIME_COLUMN} has nulls"));
    }
    table.event_time.extend(times.values().iter().copied());
    for (name, values) in table.numeric_names.iter().zip(&mut table.numeric) {
        let array = column(name, &DataType::Float64)?;
        let array = array.as_primitive::<Float64Type>();
        values.extend((0..array.len()).map(|i| {
            if array.is_null(i) {
                f32::NAN
            } else {
                array.value(i) as f32
            }
        }));
    }
    for (name, values) in table.categorical_names.iter().zip(&mut table.categorical) {
        let array = column(name, &DataType::Utf8)?;
        let array = array.as_string::<i32>();
        values.extend(
            (0..array.len()).map(|i| (!array.is_null(i)).then(|| array.value(i).to_string())),
        );
    }
    Ok(())
}

/// One fraud label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub is_fraud: bool,
    pub scenario: Option<String>,
}

/// Reads labels from CSV (`transaction_id,is_fraud,scenario` header) or JSONL.
pub fn read_labels(path: &Path) -> Result<HashMap<String, Label>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(io)?);
    let jsonl = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "jsonl" || e == "json");
    let mut labels = HashMap::new();
    let mut header: Option<Vec<String>> = None;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |message: String| DataError::Format {
            path: path.to_path_buf(),
            message: format!("line {}: {message}", n + 1),
        };
        let (id, fraud, scenario) = if jsonl {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
            let id = v["transaction_id"]
                .as_str()
                .ok_or_else(|| bad("no transaction_id".into()))?;
            let fraud = match &v["is_fraud"] {
                serde_json::Value::Bool(b) => *b,
                serde_json::Value::Number(x) => x.as_f64() == Some(1.0),
                serde_json::Value::String(s) => {
                    parse_bool(s).ok_or_else(|| bad(format!("is_fraud {s:?}")))?
                }
                other => return Err(bad(format!("is_fraud {other}"))),
            };
            (
                id.to_string(),
                fraud,
                v["scenario"].as_str().map(str::to_string),
            )
        } else {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let Some(columns) = &header else {
                header = Some(fields.iter().map(|s| s.to_string()).collect());
                continue;
            };
            let get = |name: &str| {
                columns
                    .iter()
                    .position(|c| c == name)
                    .and_then(|i| fields.get(i).copied())
            };
            let id = get("transaction_id").ok_or_else(|| bad("no transaction_id".into()))?;
            let flag = get("is_fraud").ok_or_else(|| bad("no is_fraud".into()))?;
            let fraud = parse_bool(flag).ok_or_else(|| bad(format!("is_fraud {flag:?}")))?;
            (
                id.to_string(),
                fraud,
                get("scenario")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            )
        };
        labels.insert(
            id,
            Label {
                is_fraud: fraud,
                scenario,
            },
        );
    }
    Ok(labels)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().trim_matches('"').to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" => Some(true),
        "0" | "false" | "f" | "no" => Some(false),
        _ => None,
    }
}

/// `1.0` for fraud, `0.0` otherwise (unlabelled = legitimate), per table row.
pub fn label_vector(table: &FeatureTable, labels: &HashMap<String, Label>) -> Vec<f32> {
    table
        .transaction_ids
        .iter()
        .map(|id| {
            if labels.get(id).is_some_and(|l| l.is_fraud) {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// Scorer input rows for `schema` from an Arrow batch holding (at least) the
/// schema's columns by name: numeric ones of any numeric type (null = NaN),
/// categorical ones as Utf8 (null or unseen = index 0).
pub fn rows_from_batch(schema: &FeatureSchema, batch: &RecordBatch) -> Result<Vec<f32>, String> {
    let n = batch.num_rows();
    let width = schema.width();
    let mut rows = vec![0.0f32; n * width];
    let column = |name: &str, to: &DataType| {
        let array = batch
            .column_by_name(name)
            .ok_or_else(|| format!("batch has no column {name}"))?;
        cast(array, to).map_err(|e| format!("column {name}: {e}"))
    };
    for (c, name) in schema.numeric.iter().enumerate() {
        let array = column(name, &DataType::Float64)?;
        let array = array.as_primitive::<Float64Type>();
        for r in 0..n {
            rows[r * width + c] = if array.is_null(r) {
                f32::NAN
            } else {
                array.value(r) as f32
            };
        }
    }
    let offset = schema.numeric.len();
    for (c, col) in schema.categorical.iter().enumerate() {
        let array = column(&col.name, &DataType::Utf8)?;
        let array = array.as_string::<i32>();
        for r in 0..n {
            let value = (!array.is_null(r)).then(|| array.value(r));
            rows[r * width + offset + c] = schema.category_index(c, value) as f32;
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_from_csv_and_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("l.csv");
        std::fs::write(
            &csv,
            "transaction_id,is_fraud,scenario\na,1,card_testing\nb,false,\nc,true,\n",
        )
        .unwrap();
        let l = read_labels(&csv).unwrap();
        assert_eq!(
            l["a"],
            Label {
                is_fraud: true,
                scenario: Some("card_testing".into())
            }
        );
        assert!(!l["b"].is_fraud && l["c"].is_fraud && l["c"].scenario.is_none());
        let jsonl = dir.path().join("l.jsonl");
        let text = "{\"transaction_id\":\"a\",\"is_fraud\":1,\"scenario\":\"ato\"}\n{\"transaction_id\":\"b\",\"is_fraud\":false}\n";
        std::fs::write(&jsonl, text).unwrap();
        let l = read_labels(&jsonl).unwrap();
        assert!(l["a"].is_fraud && !l["b"].is_fraud);
        std::fs::write(&csv, "transaction_id,is_fraud\na,maybe\n").unwrap();
        assert!(
            read_labels(&csv)
                .unwrap_err()
                .to_string()
                .contains("line 2")
        );
    }

    fn table(times: &[i64]) -> FeatureTable {
        FeatureTable {
            transaction_ids: (0..times.len()).map(|i| format!("t{i}")).collect(),
            event_time: times.to_vec(),
            numeric_names: vec!["x".into()],
            numeric: vec![times.iter().map(|&t| t as f32).collect()],
            categorical_names: vec!["mcc".into()],
            categorical: vec![times.iter().map(|t| Some(t.to_string())).collect()],
        }
    }

    #[test]
    fn rows_younger_than_the_label_maturity_are_left_out() {
        const DAY: i64 = 86_400_000;
        let mut t = table(&[0, 10 * DAY, 50 * DAY, 31 * DAY, 60 * DAY]);
        // As of the newest event (day 60), a 30-day window keeps days 0–30.
        assert_eq!(t.retain_mature(&LabelMaturity::days(30.0, None)), 3);
        assert_eq!(t.transaction_ids, ["t0", "t1"]);
        assert_eq!(t.numeric[0], [0.0, (10 * DAY) as f32]);
        assert_eq!(t.categorical[0][1].as_deref(), Some("864000000"));
        // As of a given time: day 40 with 35 days keeps day 0 only.
        let mut t = table(&[0, 10 * DAY, 50 * DAY]);
        assert_eq!(
            t.retain_mature(&LabelMaturity::days(35.0, Some(40 * DAY))),
            2
        );
        assert_eq!(t.event_time, [0]);
    }

    #[test]
    fn a_directory_is_read_file_by_file_and_its_schemas_must_agree() {
        use arrow::array::{Float64Array, Int64Array, StringArray};
        use arrow::datatypes::{Field, Schema};
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, column: &str, ids: &[&str]| {
            let schema = std::sync::Arc::new(Schema::new(vec![
                Field::new("transaction_id", DataType::Utf8, false),
                Field::new("event_time", DataType::Int64, false),
                Field::new(column, DataType::Float64, true),
                Field::new("served_score", DataType::Float64, true),
            ]));
            let n = ids.len();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    std::sync::Arc::new(StringArray::from(ids.to_vec())),
                    std::sync::Arc::new(Int64Array::from(vec![1; n])),
                    std::sync::Arc::new(Float64Array::from(vec![2.0; n])),
                    std::sync::Arc::new(Float64Array::from(vec![0.5; n])),
                ],
            )
            .unwrap();
            let file = File::create(dir.path().join(name)).unwrap();
            let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
        };
        write("b.parquet", "x", &["c", "a"]);
        write("a.parquet", "x", &["a", "b"]);
        std::fs::write(dir.path().join("c.parquet.partial"), b"being written").unwrap();
        let t = read_table(dir.path()).unwrap();
        assert_eq!(
            t.transaction_ids,
            ["a", "b", "c"],
            "one row per transaction"
        );
        assert_eq!(t.numeric_names, ["x"], "served_score is not an input");
        write("d.parquet", "y", &["d"]);
        let e = read_table(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("d.parquet") && e.contains("columns differ"),
            "{e}"
        );
    }
}
