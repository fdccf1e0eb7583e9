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
//! | `served_score` | Float64 (nullable) | the champion's score; null when none was served in time |
//! | `challenger_score` | Float64 (nullable) | the challenger's score, when one ran beside the champion |
//! | `model`, `challenger_model` | Utf8 (nullable) | their `name@version` |
//! | `rules_version` | Utf8 | the rule set that decided |
//!
//! The columns after `served_action` record what was served; training and
//! evaluation never read them as inputs (`verdict_models::table::SERVED_COLUMNS`).
//!
//! Rows are buffered and flushed as Parquet row groups; a rule-set reload that
//! changes the feature list starts a new file, since a Parquet file has one schema.
//!
//! Two layouts: one file (`verdict replay --feature-log F.parquet`, then
//! `F.1.parquet`, ... after a feature-list change), or a directory of
//! files rotated by size and age (`verdict run`, [`Rotation`]): each is
//! written as `….parquet.partial` and renamed when closed, so a reader of
//! the directory (`verdict train --data DIR`) only sees complete files.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use verdict_rules::input::{Field, Transaction};
use verdict_rules::{Action, RuleSet};

use crate::pipeline::Batch;

const NUMERIC_FIELDS: [Field; 3] = [Field::Amount, Field::Hour, Field::Weekday];
const CATEGORICAL_FIELDS: [Field; 3] = [Field::Mcc, Field::Country, Field::Channel];
const ROWS_PER_GROUP: usize = 65_536;

/// When a rotating log closes its file and starts the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_bytes: u64,
    pub max_age: Duration,
}

/// Where the files go.
enum Layout {
    /// `base`, then `base.1.parquet`, ...
    File { base: PathBuf },
    /// `dir/features-<UTC time>-<n>.parquet`.
    Rotating {
        dir: PathBuf,
        rotation: Rotation,
        opened_at: Instant,
    },
}

/// Writes feature rows to Parquet files.
pub struct FeatureLog {
    layout: Layout,
    /// The file being written, and the name it gets once closed.
    path: Option<(PathBuf, PathBuf)>,
    file_index: usize,
    rules_version: String,
    schema: Option<SchemaRef>,
    writer: Option<ArrowWriter<File>>,
    ids: StringBuilder,
    times: Int64Builder,
    numeric: Vec<Float64Builder>,
    categorical: Vec<StringBuilder>,
    actions: StringBuilder,
    served: Served,
    rows: usize,
    pub rows_written: u64,
}

impl FeatureLog {
    /// Writes to `path` (and `path.1.parquet`, ... after a feature-list change).
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Self::new(Layout::File {
            base: path.to_path_buf(),
        }))
    }

    /// Writes files under `dir`, rotated by `rotation`.
    pub fn rotating(dir: &Path, rotation: Rotation) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self::new(Layout::Rotating {
            dir: dir.to_path_buf(),
            rotation,
            opened_at: Instant::now(),
        }))
    }

    fn new(layout: Layout) -> Self {
        FeatureLog {
            layout,
            path: None,
            file_index: 0,
            rules_version: String::new(),
            schema: None,
            writer: None,
            ids: StringBuilder::new(),
            times: Int64Builder::new(),
            numeric: Vec::new(),
            categorical: Vec::new(),
            actions: StringBuilder::new(),
            served: Served::default(),
            rows: 0,
            rows_written: 0,
        }
    }

    fn open_for(&mut self, rules: &RuleSet) -> anyhow::Result<()> {
        if self.writer.is_some() && self.rules_version == rules.version() {
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
        if self.writer.is_some()
            && self
                .schema
                .as_ref()
                .is_some_and(|s| s.fields().len() == names.len() + 6 + Served::COLUMNS)
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
        fields.extend(Served::fields());
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let (path, done) = self.next_path();
        self.file_index += 1;
        let props = WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        self.writer = Some(ArrowWriter::try_new(
            File::create(&path)?,
            Arc::clone(&schema),
            Some(props),
        )?);
        self.path = Some((path, done));
        if let Layout::Rotating { opened_at, .. } = &mut self.layout {
            *opened_at = Instant::now();
        }
        self.numeric = (0..names.len()).map(|_| Float64Builder::new()).collect();
        self.categorical = (0..CATEGORICAL_FIELDS.len())
            .map(|_| StringBuilder::new())
            .collect();
        self.schema = Some(schema);
        self.rules_version = rules.version().to_string();
        Ok(())
    }

    /// The file to write next: `(written as, named when closed)`.
    fn next_path(&self) -> (PathBuf, PathBuf) {
        match &self.layout {
            Layout::File { base } if self.file_index == 0 => (base.clone(), base.clone()),
            Layout::File { base } => {
                let p = base.with_extension(format!("{}.parquet", self.file_index));
                (p.clone(), p)
            }
            Layout::Rotating { dir, .. } => {
                let at = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
                let done = dir.join(format!("features-{at}-{:06}.parquet", self.file_index));
                (done.with_extension("parquet.partial"), done)
            }
        }
    }

    /// Appends one row per event of a processed batch, which `model` (the
    /// champion's `name@version`) scored.
    pub fn append(&mut self, batch: &Batch, model: Option<&str>) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.append_rows(&Rows::of(batch, model))
    }

    /// Appends rows taken from a batch ([`Rows::of`]).
    pub fn append_rows(&mut self, rows: &Rows) -> anyhow::Result<()> {
        if rows.ids.is_empty() {
            return Ok(());
        }
        self.rotate_if_due()?;
        self.open_for(&rows.rules)?;
        let n_features = rows.width;
        for i in 0..rows.ids.len() {
            self.ids.append_value(&rows.ids[i]);
            self.times.append_value(rows.times[i]);
            let row = &rows.features[i * n_features..(i + 1) * n_features];
            for (k, b) in self.numeric.iter_mut().enumerate() {
                let v = if k < n_features {
                    row[k]
                } else {
                    rows.fields[i * NUMERIC_FIELDS.len() + k - n_features]
                };
                b.append_value(v);
            }
            for (k, b) in self.categorical.iter_mut().enumerate() {
                b.append_option(rows.categories[i * CATEGORICAL_FIELDS.len() + k].as_deref());
            }
            self.actions.append_value(rows.actions[i].as_str());
            self.served.append(rows, i);
            self.rows += 1;
        }
        if self.rows >= ROWS_PER_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    /// A rotating log closes its file once it is big or old enough; the
    /// next rows open a new one.
    pub fn rotate_if_due(&mut self) -> anyhow::Result<()> {
        let Layout::Rotating {
            rotation,
            opened_at,
            ..
        } = &self.layout
        else {
            return Ok(());
        };
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let bytes = (writer.bytes_written() + writer.in_progress_size()) as u64;
        if bytes < rotation.max_bytes && opened_at.elapsed() < rotation.max_age {
            return Ok(());
        }
        self.close_file()
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
        columns.extend(self.served.finish());
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
        if let Some((written, done)) = self.path.take()
            && written != done
        {
            std::fs::rename(&written, &done)?;
        }
        Ok(())
    }

    /// Flushes and closes the current file.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        self.close_file()?;
        Ok(self.rows_written)
    }
}

/// The served columns: scores, model versions and the rule set's version.
#[derive(Default)]
struct Served {
    score: Float64Builder,
    challenger_score: Float64Builder,
    model: StringBuilder,
    challenger_model: StringBuilder,
    rules_version: StringBuilder,
}

impl Served {
    const COLUMNS: usize = 5;

    fn fields() -> [ArrowField; Self::COLUMNS] {
        [
            ArrowField::new("served_score", DataType::Float64, true),
            ArrowField::new("challenger_score", DataType::Float64, true),
            ArrowField::new("model", DataType::Utf8, true),
            ArrowField::new("challenger_model", DataType::Utf8, true),
            ArrowField::new("rules_version", DataType::Utf8, false),
        ]
    }

    fn append(&mut self, rows: &Rows, i: usize) {
        let score = rows.scores[i];
        self.score.append_option(score.map(f64::from));
        self.model.append_option(score.and(rows.model.as_deref()));
        self.challenger_score
            .append_option(rows.challenger_scores[i].map(f64::from));
        self.challenger_model
            .append_option(rows.challenger_model.as_deref());
        self.rules_version.append_value(rows.rules.version());
    }

    fn finish(&mut self) -> [ArrayRef; Self::COLUMNS] {
        [
            Arc::new(self.score.finish()),
            Arc::new(self.challenger_score.finish()),
            Arc::new(self.model.finish()),
            Arc::new(self.challenger_model.finish()),
            Arc::new(self.rules_version.finish()),
        ]
    }
}

/// A processed batch's feature-log rows, owned: what a partition hands the
/// live log's writer thread ([`crate::feature_sink`]).
pub struct Rows {
    rules: Arc<RuleSet>,
    /// Feature values per row (`rules.features()`).
    width: usize,
    ids: Vec<String>,
    times: Vec<i64>,
    features: Vec<f64>,
    /// [`NUMERIC_FIELDS`] per row.
    fields: Vec<f64>,
    /// [`CATEGORICAL_FIELDS`] per row.
    categories: Vec<Option<String>>,
    actions: Vec<Action>,
    scores: Vec<Option<f32>>,
    challenger_scores: Vec<Option<f32>>,
    model: Option<String>,
    challenger_model: Option<Arc<str>>,
}

impl Rows {
    /// The rows of a processed `batch`, scored by `model`.
    pub fn of(batch: &Batch, model: Option<&str>) -> Rows {
        let n = batch.len();
        let events = &batch.events;
        Rows {
            rules: Arc::clone(batch.rules.as_ref().expect("batch processed")),
            width: batch.width,
            ids: events
                .iter()
                .map(|e| e.transaction_id().to_owned())
                .collect(),
            times: events.iter().map(|e| e.event_time_ms).collect(),
            features: batch.features[..n * batch.width].to_vec(),
            fields: (events.iter())
                .flat_map(|e| NUMERIC_FIELDS.map(|f| e.number(f).unwrap_or(f64::NAN)))
                .collect(),
            categories: (events.iter())
                .flat_map(|e| CATEGORICAL_FIELDS.map(|f| e.text(f).map(str::to_owned)))
                .collect(),
            actions: batch.evaluations[..n].iter().map(|e| e.action).collect(),
            scores: batch.scores[..n].to_vec(),
            challenger_scores: batch.challenger_scores[..n].to_vec(),
            model: model.map(str::to_owned),
            challenger_model: batch.challenger_model.clone(),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}
