//! The feature log: the exact feature values each decision was made with.
//!
//! Training data is taken from what was actually served, not recomputed
//! offline, so the scorer never trains on features that differ from the ones
//! it sees in production. Each decided transaction becomes one row:
//!
//! | column | type | |
//! |---|---|---|
//! | `transaction_id` | Utf8 | join key for labels (chargebacks arrive later) |
//! | `event_time` | Int64 | ms since epoch; the trainer splits train/validation by it |
//! | one column per declared feature | Float64 | NaN = missing |
//! | `amount`, `hour`, `weekday` | Float64 | transaction fields the model may use |
//! | `mcc`, `country`, `channel` | Utf8 (nullable) | categorical inputs |
//! | `served_action` | Utf8 | what the engine decided (not a model input) |
//!
//! Rows are buffered and flushed as Parquet row groups; a rule-set reload that
//! changes the feature list starts a new file, since a Parquet file has one schema.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use verdict_rules::input::{Field, Transaction};

use crate::pipeline::Batch;

const NUMERIC_FIELDS: [Field; 3] = [Field::Amount, Field::Hour, Field::Weekday];
const CATEGORICAL_FIELDS: [Field; 3] = [Field::Mcc, Field::Country, Field::Channel];
const ROWS_PER_GROUP: usize = 65_536;

/// Writes feature rows to Parquet files.
pub struct FeatureLog {
    base: PathBuf,
    file_index: usize,
    rules_version: String,
    schema: Option<SchemaRef>,
    writer: Option<ArrowWriter<File>>,
    ids: StringBuilder,
    times: Int64Builder,
    numeric: Vec<Float64Builder>,
    categorical: Vec<StringBuilder>,
    actions: StringBuilder,
    rows: usize,
    pub rows_written: u64,
}

impl FeatureLog {
    /// Writes to `path` (and `path.1.parquet`, ... after a feature-list change).
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        Ok(FeatureLog {
            base: path.to_path_buf(),
            file_index: 0,
            rules_version: String::new(),
            schema: None,
            writer: None,
            ids: StringBuilder::new(),
            times: Int64Builder::new(),
            numeric: Vec::new(),
            categorical: Vec::new(),
            actions: StringBuilder::new(),
            rows: 0,
            rows_written: 0,
        })
    }

    fn open_for(&mut self, batch: &Batch) -> anyhow::Result<()> {
        let rules = batch.rules.as_ref().expect("batch processed");
        if self.schema.is_some() && self.rules_version == rules.version() {
            return Ok(());
        }
        let mut fields = vec![
            ArrowField::new("transaction_id", DataType::Utf8, false),
            ArrowField::new("event_time", DataType::Int64, false),
        ];
        let mut names: Vec<String> = rules.features().iter().map(|f| f.name.clone()).collect();
        for f in NUMERIC_FIELDS {
            if !names.iter().any(|n| n == f.name()) {
                names.push(f.name().to_string());
            }
        }
        if self
            .schema
            .as_ref()
            .is_some_and(|s| s.fields().len() == names.len() + 6)
        {
            let same = self.schema.as_ref().unwrap().fields()[2..2 + names.len()]
                .iter()
                .zip(&names)
                .all(|(f, n)| f.name() == n);
            if same {
                self.rules_version = rules.version().to_string();
                return Ok(());
            }
        }
        self.close_file()?;
        fields.extend(
            names
                .iter()
                .map(|n| ArrowField::new(n, DataType::Float64, true)),
        );
        fields.extend(
            CATEGORICAL_FIELDS
                .iter()
                .map(|f| ArrowField::new(f.name(), DataType::Utf8, true)),
        );
        fields.push(ArrowField::new("served_action", DataType::Utf8, false));
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let path = if self.file_index == 0 {
            self.base.clone()
        } else {
            self.base
                .with_extension(format!("{}.parquet", self.file_index))
        };
        self.file_index += 1;
        let props = WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        self.writer = Some(ArrowWriter::try_new(
            File::create(&path)?,
            Arc::clone(&schema),
            Some(props),
        )?);
        self.numeric = (0..names.len()).map(|_| Float64Builder::new()).collect();
        self.categorical = (0..CATEGORICAL_FIELDS.len())
            .map(|_| StringBuilder::new())
            .collect();
        self.schema = Some(schema);
        self.rules_version = rules.version().to_string();
        Ok(())
    }

    /// Appends one row per event of a processed batch.
    pub fn append(&mut self, batch: &Batch) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.open_for(batch)?;
        let n_features = batch.width;
        for (i, event) in batch.events.iter().enumerate() {
            self.ids.append_value(event.transaction_id());
            self.times.append_value(event.event_time_ms);
            let row = batch.features_of(i);
            for (k, b) in self.numeric.iter_mut().enumerate() {
                let v = if k < n_features {
                    row[k]
                } else {
                    event
                        .number(NUMERIC_FIELDS[k - n_features])
                        .unwrap_or(f64::NAN)
                };
                b.append_value(v);
            }
            for (k, b) in self.categorical.iter_mut().enumerate() {
                b.append_option(event.text(CATEGORICAL_FIELDS[k]));
            }
            self.actions
                .append_value(batch.evaluations[i].action.as_str());
            self.rows += 1;
        }
        if self.rows >= ROWS_PER_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let schema = Arc::clone(self.schema.as_ref().expect("open"));
        let mut columns: Vec<ArrayRef> =
            vec![Arc::new(self.ids.finish()), Arc::new(self.times.finish())];
        columns.extend(
            self.numeric
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.extend(
            self.categorical
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.push(Arc::new(self.actions.finish()));
        let rb = RecordBatch::try_new(schema, columns)?;
        self.writer.as_mut().expect("open").write(&rb)?;
        self.rows_written += self.rows as u64;
        self.rows = 0;
        Ok(())
    }

    fn close_file(&mut self) -> anyhow::Result<()> {
        self.flush()?;
        if let Some(w) = self.writer.take() {
            w.close()?;
        }
        Ok(())
    }

    /// Flushes and closes the current file.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        self.close_file()?;
        Ok(self.rows_written)
    }
}
