//! The quarantine: every rejected row, with the reasons a data provider can act on.
//!
//! One quarantine entry is one reason: a row that breaks three rules has three entries with the
//! same file and line. Stages append to it; nothing ever removes from it.

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
