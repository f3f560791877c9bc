//! The quarantine: every rejected row, with the reasons a data provider can act on.
//!
//! One quarantine entry is one reason: a row that breaks three rules has three entries with the
//! same file and line. Stages append to it; nothing ever removes from it.

use std::path::Path;

use polars::prelude::*;

use crate::error::{csv_error, write_error};
use crate::error::{EngineContext, Result};
use crate::vocab::Rule;

/// Hidden columns that follow every row from ingest to tabulation, so that a row can always be
/// traced back to its file and line and counted exactly once.
pub const ROW: &str = "__row";
pub const FILE: &str = "__file";
pub const LINE: &str = "__line";
/// Whether a row read has too few or too many fields: its cells are checked, then it is set
/// apart whatever they say.
pub const BROKEN: &str = "__broken";

/// One reason for rejecting one input row.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub row: u64,
    pub file: u32,
    pub line: u64,
    pub column: Option<String>,
    pub raw_value: Option<String>,
    pub rule: Rule,
    pub message: String,
}

/// Where a spreadsheet's fields are, so that the quarantine names a bad value's cell
/// (`Titres!C17`) as well as its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetCells {
    /// The file's index in the source.
    pub file: u32,
    pub sheet: String,
    /// The spreadsheet column (0 for A) of each schema field.
    pub columns: Vec<(String, u32)>,
}

/// The quarantine of one source. Frames all share `frame_schema()`, with the file as an index
/// into `files` until `finish` writes the names.
#[derive(Debug)]
pub struct Quarantine {
    pub source: String,
    pub files: Vec<String>,
    frames: Vec<DataFrame>,
    /// The sheet of each file read from a spreadsheet.
    sheets: Vec<std::sync::Arc<SheetCells>>,
}

impl Quarantine {
    pub fn new(source: &str, files: Vec<String>) -> Quarantine {
        Quarantine {
            source: source.to_string(),
            files,
            frames: Vec::new(),
            sheets: Vec::new(),
        }
    }

    /// Name the cells of a spreadsheet file's rejections.
    pub fn on_sheet(&mut self, cells: std::sync::Arc<SheetCells>) {
        self.sheets.push(cells);
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
                rows.iter().map(|r| r.rule.to_string()).collect::<Vec<_>>(),
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
        let cells = cell_refs(&all, &self.sheets)?;
        all.with_column(Column::new("cell".into(), cells))
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
                col("cell"),
            ])
            .collect()
            .at(|| "sorting the quarantine".into())
    }
}

/// The spreadsheet cell of each rejection (`Titres!C17`, or the row `Titres!17:17` for a
/// structural error); none for a text file.
fn cell_refs(
    all: &DataFrame,
    sheets: &[std::sync::Arc<SheetCells>],
) -> Result<Vec<Option<String>>> {
    let context = || "naming the quarantine's cells".to_string();
    if sheets.is_empty() {
        return Ok(vec![None; all.height()]);
    }
    let files = all.column(FILE).at(context)?.u32().at(context)?;
    let lines = all.column(LINE).at(context)?.u64().at(context)?;
    let columns = all.column("column").at(context)?.str().at(context)?;
    Ok(files
        .iter()
        .zip(lines.iter())
        .zip(columns.iter())
        .map(|((file, line), column)| {
            let cells = sheets.iter().find(|s| Some(s.file) == file)?;
            // a column that is no field of the sheet (a pipeline check's) names the row
            let at = column.and_then(|name| {
                cells
                    .columns
                    .iter()
                    .find(|(f, _)| f == name)
                    .map(|(_, c)| *c)
            });
            Some(crate::vocab::cells::cell_ref(&cells.sheet, at, line?))
        })
        .collect())
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

/// The quarantine of a run, written to a scratch file window by window as it is found (in
/// file and line order, since windows come in that order), so that a file with millions of bad
/// rows costs disk, not memory. `finish` turns it into the published Parquet and CSV files.
pub struct Sink {
    dir: tempfile::TempDir,
    spill: csv::Writer<std::fs::File>,
    rows: u64,
}

/// A point in the sink to come back to when a source has to be read again.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    bytes: u64,
    rows: u64,
}

/// A missing value in the scratch file (a NUL character, which no ministry file carries).
const NULL_MARK: &str = "\u{0}";

/// Rows per Parquet row group of the quarantine.
const GROUP_ROWS: usize = 128 * 1024;

impl Sink {
    pub fn new(scratch: &Path) -> Result<Sink> {
        std::fs::create_dir_all(scratch).map_err(write_error(scratch))?;
        let dir = tempfile::Builder::new()
            .prefix(".marsad-quarantine-")
            .tempdir_in(scratch)
            .map_err(write_error(scratch))?;
        let path = dir.path().join("spill.csv");
        let file = std::fs::File::create(&path).map_err(write_error(&path))?;
        Ok(Sink {
            spill: csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(file),
            dir,
            rows: 0,
        })
    }

    fn spill_path(&self) -> std::path::PathBuf {
        self.dir.path().join("spill.csv")
    }

    /// Append a finished window quarantine (`Quarantine::finish`).
    pub fn write(&mut self, frame: DataFrame) -> Result<()> {
        let path = self.spill_path();
        let context = || "writing the quarantine".to_string();
        let text: Vec<Vec<String>> = frame
            .get_column_names()
            .iter()
            .map(|c| crate::frame::text_column(&frame, c, ""))
            .collect::<PolarsResult<_>>()
            .at(context)?;
        // An empty cell and a missing one differ for `column` and `raw_value`: NULL_MARK marks
        // the missing ones in the scratch file.
        let nulls: Vec<Vec<bool>> = frame
            .columns()
            .iter()
            .map(|c| c.is_null().iter().map(|v| v == Some(true)).collect())
            .collect();
        for i in 0..frame.height() {
            let record = text
                .iter()
                .zip(&nulls)
                .map(|(c, n)| if n[i] { NULL_MARK } else { c[i].as_str() });
            self.spill.write_record(record).map_err(csv_error(&path))?;
        }
        self.rows += frame.height() as u64;
        Ok(())
    }

    pub fn mark(&mut self) -> Result<Mark> {
        let path = self.spill_path();
        self.spill.flush().map_err(write_error(&path))?;
        let bytes = std::fs::metadata(&path).map_err(write_error(&path))?.len();
        Ok(Mark {
            bytes,
            rows: self.rows,
        })
    }

    /// Forget everything written since `mark`.
    pub fn rollback(&mut self, mark: Mark) -> Result<()> {
        use std::io::Seek;
        let path = self.spill_path();
        self.spill.flush().map_err(write_error(&path))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(write_error(&path))?;
        file.set_len(mark.bytes).map_err(write_error(&path))?;
        file.seek(std::io::SeekFrom::Start(mark.bytes))
            .map_err(write_error(&path))?;
        self.spill = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        self.rows = mark.rows;
        Ok(())
    }

    /// Write `quarantine.parquet` (with the run's provenance) and `quarantine.csv` (cells made
    /// safe for spreadsheets) from the scratch file, a row group at a time.
    pub fn finish(mut self, metadata: Vec<(String, String)>) -> Result<Closed> {
        let spill = self.spill_path();
        self.spill.flush().map_err(write_error(&spill))?;
        drop(self.spill);
        let [parquet_path, csv_path] = [
            self.dir.path().join("quarantine.parquet"),
            self.dir.path().join("quarantine.csv"),
        ];
        let context = || format!("writing {}", parquet_path.display());
        let schema = finished_schema();
        let file = std::fs::File::create(&parquet_path).map_err(write_error(&parquet_path))?;
        let mut parquet = ParquetWriter::new(file)
            .with_compression(ParquetCompression::Zstd(None))
            .with_statistics(StatisticsOptions::full())
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata)))
            .batched(&schema)
            .at(context)?;
        let file = std::fs::File::create(&csv_path).map_err(write_error(&csv_path))?;
        let mut csv = csv::Writer::from_writer(std::io::BufWriter::new(file));
        let names: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
        csv.write_record(&names).map_err(csv_error(&csv_path))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_path(&spill)
            .map_err(csv_error(&spill))?;
        let mut record = csv::StringRecord::new();
        let mut done = false;
        let mut written = 0u64;
        while !done {
            let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
            while columns[0].len() < GROUP_ROWS {
                if !reader.read_record(&mut record).map_err(csv_error(&spill))? {
                    done = true;
                    break;
                }
                for (c, v) in columns.iter_mut().zip(record.iter()) {
                    c.push((v != NULL_MARK).then(|| v.to_string()));
                }
            }
            if columns[0].is_empty() && written > 0 {
                break;
            }
            let mut cols: Vec<Column> = Vec::new();
            for ((name, dtype), values) in schema.iter().zip(columns) {
                let c = Column::new(name.clone(), values);
                cols.push(c.cast(dtype).at(context)?);
            }
            let frame = DataFrame::new_infer_height(cols).at(context)?;
            parquet.write_batch(&frame).at(context)?;
            crate::frame::csv_rows(&mut csv, &frame, &csv_path)?;
            written += frame.height() as u64;
        }
        parquet.finish().at(context)?;
        csv.flush().map_err(write_error(&csv_path))?;
        std::fs::remove_file(&spill).map_err(write_error(&spill))?;
        Ok(Closed {
            dir: self.dir,
            rows: written,
        })
    }
}

/// A closed quarantine, in a scratch folder removed when this is dropped.
pub struct Closed {
    dir: tempfile::TempDir,
    pub rows: u64,
}

impl Closed {
    /// `quarantine.parquet` and `quarantine.csv`.
    pub fn files(&self) -> [std::path::PathBuf; 2] {
        [
            self.dir.path().join("quarantine.parquet"),
            self.dir.path().join("quarantine.csv"),
        ]
    }

    /// The whole quarantine, read back (for `marsad validate --schema`, which lists it).
    pub fn frame(&self) -> Result<DataFrame> {
        let path = &self.files()[0];
        let file = std::fs::File::open(path).map_err(write_error(path))?;
        ParquetReader::new(file)
            .finish()
            .at(|| format!("reading {}", path.display()))
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
        Field::new("cell".into(), DataType::String),
    ])
}
