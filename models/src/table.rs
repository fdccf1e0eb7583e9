//! Reading the engine's feature log and fraud labels.
//!
//! The feature log is a Parquet (`.parquet`) or Arrow IPC (`.arrow`) table:
//! `transaction_id` (Utf8), `event_time` (Int64 ms since epoch), numeric
//! feature columns (any numeric or boolean type; null or NaN = missing) and
//! categorical columns (Utf8, nullable). Every numeric column is a feature;
//! the Utf8 columns named in [`CATEGORICAL_COLUMNS`] are the categorical ones.
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

/// Reads a `.parquet` or `.arrow` feature table.
pub fn read_table(path: &Path) -> Result<FeatureTable, DataError> {
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
            if name == ID_COLUMN || name == TIME_COLUMN {
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
}
