//! The quarantine: every rejected row, with the reasons a data provider can act on.
//!
//! One quarantine entry is one reason: a row that breaks three rules has three entries with the
//! same file and line. Stages append to it; nothing ever removes from it.

use std::path::Path;

use polars::prelude::*;

use crate::error::{EngineContext, Result};

/// Hidden columns that follow every row from ingest to tabulation, so that a row can always be
/// traced back to its file and line and counted exactly once.
pub const ROW: &str = "__row";
pub const FILE: &str = "__file";
pub const LINE: &str = "__line";

/// One reason for rejecting one input row.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub row: u64,
    pub file: u32,
    pub line: u64,
    pub column: Option<String>,
    pub raw_value: Option<String>,
    pub rule: String,
    pub message: String,
}

/// The quarantine of one source. Frames all share `frame_schema()`, with the file as an index
/// into `files` until `finish` writes the names.
#[derive(Debug)]
pub struct Quarantine {
    pub source: String,
    pub files: Vec<String>,
    frames: Vec<DataFrame>,
}

impl Quarantine {
    pub fn new(source: &str, files: Vec<String>) -> Quarantine {
        Quarantine {
            source: source.to_string(),
            files,
            frames: Vec::new(),
        }
    }

    pub fn push_rows(&mut self, rows: &[Rejection]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let df = DataFrame::new_infer_height(vec![
            Column::new(ROW.into(), rows.iter().map(|r| r.row).collect::<Vec<_>>()),
            Column::new(FILE.into(), rows.iter().map(|r| r.file).collect::<Vec<_>>()),
            Column::new(LINE.into(), rows.iter().map(|r| r.line).collect::<Vec<_>>()),
            Column::new(
                "column".into(),
                rows.iter().map(|r| r.column.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "raw_value".into(),
                rows.iter().map(|r| r.raw_value.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "rule".into(),
                rows.iter().map(|r| r.rule.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "message".into(),
                rows.iter().map(|r| r.message.clone()).collect::<Vec<_>>(),
            ),
        ])
        .at(|| "building quarantine rows".into())?;
        self.frames.push(df);
        Ok(())
    }

    /// Append rejections computed by a vectorized stage: `frame` must hold `__row`, `__file`,
    /// `__line`, `column`, `raw_value`, `rule` and `message`.
    pub fn push_frame(&mut self, frame: LazyFrame) -> Result<()> {
        let df = frame
            .select([
                col(ROW).cast(DataType::UInt64),
                col(FILE).cast(DataType::UInt32),
                col(LINE).cast(DataType::UInt64),
                col("column").cast(DataType::String),
                col("raw_value").cast(DataType::String),
                col("rule").cast(DataType::String),
                col("message").cast(DataType::String),
            ])
            .collect()
            .at(|| format!("collecting rejections of source `{}`", self.source))?;
        if df.height() > 0 {
            self.frames.push(df);
        }
        Ok(())
    }

    /// The row number of every rejection (a row with several reasons comes several times).
    pub fn rows(&self) -> impl Iterator<Item = u64> + '_ {
        self.frames.iter().flat_map(|f| {
            f.column(ROW)
                .ok()
                .and_then(|c| c.u64().ok())
                .into_iter()
                .flat_map(|ca| ca.into_no_null_iter())
        })
    }

    /// The finished quarantine, sorted by file and line, with file names written out.
    pub fn finish(self) -> Result<DataFrame> {
        let files = Series::new("file".into(), self.files.clone());
        let mut all = if self.frames.is_empty() {
            empty_frame()
        } else {
            let frames: Vec<LazyFrame> = self.frames.into_iter().map(|f| f.lazy()).collect();
            concat(frames, UnionArgs::default())
                .at(|| "joining the quarantine".into())?
                .collect()
                .at(|| "joining the quarantine".into())?
        };
        let names: Vec<Option<String>> = all
            .column(FILE)
            .at(|| "quarantine".into())?
            .u32()
            .at(|| "quarantine".into())?
            .iter()
            .map(|i| i.and_then(|i| files.str().ok()?.get(i as usize).map(String::from)))
            .collect();
        all.with_column(Column::new("file".into(), names))
            .at(|| "quarantine".into())?;
        let source = self.source.clone();
        all.lazy()
            .with_column(lit(source).alias("source"))
            .sort_by_exprs(
                [col(FILE), col(LINE), col("column"), col("rule")],
                SortMultipleOptions::default().with_nulls_last(false),
            )
            .select([
                col("source"),
                col("file"),
                col(LINE).alias("line"),
                col("column"),
                col("raw_value"),
                col("rule"),
                col("message"),
            ])
            .collect()
            .at(|| "sorting the quarantine".into())
    }
}

fn empty_frame() -> DataFrame {
    DataFrame::new_infer_height(vec![
        Column::new_empty(ROW.into(), &DataType::UInt64),
        Column::new_empty(FILE.into(), &DataType::UInt32),
        Column::new_empty(LINE.into(), &DataType::UInt64),
        Column::new_empty("column".into(), &DataType::String),
        Column::new_empty("raw_value".into(), &DataType::String),
        Column::new_empty("rule".into(), &DataType::String),
        Column::new_empty("message".into(), &DataType::String),
    ])
    .expect("fixed schema")
}

/// The quarantine of a run, written to disk window by window as it is found (Parquet and CSV,
/// in file and line order since windows come in that order), so that a file with millions of
/// bad rows costs disk, not memory. The files are copied where the run publishes them.
pub struct Sink {
    dir: tempfile::TempDir,
    parquet: polars::io::parquet::write::BatchedWriter<std::fs::File>,
    csv: csv::Writer<std::io::BufWriter<std::fs::File>>,
    pending: Vec<DataFrame>,
    pending_rows: usize,
    rows: u64,
    /// Kept in memory as well, for `marsad validate --schema`, which lists every error.
    kept: Option<Vec<DataFrame>>,
}

/// Rows per Parquet row group of the quarantine.
const GROUP_ROWS: usize = 128 * 1024;

impl Sink {
    pub fn new(scratch: &Path, metadata: Vec<(String, String)>, keep: bool) -> Result<Sink> {
        let write_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| crate::error::Error::Write { path, source }
        };
        std::fs::create_dir_all(scratch).map_err(write_error(scratch))?;
        let dir = tempfile::Builder::new()
            .prefix(".marsad-quarantine-")
            .tempdir_in(scratch)
            .map_err(write_error(scratch))?;
        let parquet_path = dir.path().join("quarantine.parquet");
        let file = std::fs::File::create(&parquet_path).map_err(write_error(&parquet_path))?;
        let schema = finished_schema();
        let parquet = ParquetWriter::new(file)
            .with_compression(ParquetCompression::Zstd(None))
            .with_statistics(StatisticsOptions::full())
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata)))
            .batched(&schema)
            .at(|| format!("writing {}", parquet_path.display()))?;
        let csv_path = dir.path().join("quarantine.csv");
        let file = std::fs::File::create(&csv_path).map_err(write_error(&csv_path))?;
        let mut csv = csv::Writer::from_writer(std::io::BufWriter::new(file));
        let names: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
        csv.write_record(&names)
            .map_err(|e| write_error(&csv_path)(std::io::Error::other(e)))?;
        Ok(Sink {
            dir,
            parquet,
            csv,
            pending: Vec::new(),
            pending_rows: 0,
            rows: 0,
            kept: keep.then(Vec::new),
        })
    }

    /// Append a finished window quarantine (`Quarantine::finish`).
    pub fn write(&mut self, frame: DataFrame) -> Result<()> {
        if frame.height() == 0 {
            return Ok(());
        }
        let csv_path = self.dir.path().join("quarantine.csv");
        crate::publish::csv_rows(&mut self.csv, &frame, &csv_path)?;
        self.rows += frame.height() as u64;
        self.pending_rows += frame.height();
        if let Some(kept) = &mut self.kept {
            kept.push(frame.clone());
        }
        self.pending.push(frame);
        if self.pending_rows >= GROUP_ROWS {
            self.flush_group()?;
        }
        Ok(())
    }

    fn flush_group(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let context = || "writing the quarantine".to_string();
        let mut group = self.pending.remove(0);
        for f in self.pending.drain(..) {
            group.vstack_mut(&f).at(context)?;
        }
        group.rechunk_mut();
        self.parquet.write_batch(&group).at(context)?;
        self.pending_rows = 0;
        Ok(())
    }

    /// Close the files; the quarantine as written, to copy into the outputs.
    pub fn finish(mut self) -> Result<Closed> {
        self.flush_group()?;
        self.parquet
            .finish()
            .at(|| "writing the quarantine".to_string())?;
        let csv_path = self.dir.path().join("quarantine.csv");
        self.csv
            .flush()
            .map_err(|source| crate::error::Error::Write {
                path: csv_path.clone(),
                source,
            })?;
        Ok(Closed {
            dir: self.dir,
            rows: self.rows,
            kept: self.kept,
        })
    }
}

/// A closed quarantine, in a scratch folder removed when this is dropped.
pub struct Closed {
    dir: tempfile::TempDir,
    pub rows: u64,
    kept: Option<Vec<DataFrame>>,
}

impl Closed {
    /// `quarantine.parquet` and `quarantine.csv`.
    pub fn files(&self) -> [std::path::PathBuf; 2] {
        [
            self.dir.path().join("quarantine.parquet"),
            self.dir.path().join("quarantine.csv"),
        ]
    }

    /// The whole quarantine, when the sink was asked to keep it.
    pub fn frame(&self) -> Result<DataFrame> {
        let frames: Vec<LazyFrame> = self
            .kept
            .iter()
            .flatten()
            .map(|f| f.clone().lazy())
            .collect();
        if frames.is_empty() {
            return Ok(DataFrame::empty_with_schema(&finished_schema()));
        }
        concat(frames, UnionArgs::default())
            .and_then(|lf| lf.collect())
            .at(|| "joining the quarantine".into())
    }
}

/// Columns of a finished quarantine.
fn finished_schema() -> Schema {
    Schema::from_iter([
        Field::new("source".into(), DataType::String),
        Field::new("file".into(), DataType::String),
        Field::new("line".into(), DataType::UInt64),
        Field::new("column".into(), DataType::String),
        Field::new("raw_value".into(), DataType::String),
        Field::new("rule".into(), DataType::String),
        Field::new("message".into(), DataType::String),
    ])
}
