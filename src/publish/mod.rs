//! Publish: Parquet files with their provenance, the quarantine, a manifest and a report, moved
//! into place only once everything is written.
//!
//! A failed run therefore never leaves half a dataset where the last good one was: the new files
//! are staged in a hidden sibling folder and swapped in by renames at the very end.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

pub use crate::books::Written;
use crate::error::{write_error, EngineContext, Error, Result};
pub use crate::frame::{csv_rows, neutralize};

pub mod datapackage;
pub mod revisions;
pub mod sdmx;
pub mod store;

pub use store::sibling;

/// Provenance written into every Parquet file's key-value metadata.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    pub pipeline: String,
    pub pipeline_sha256: String,
    pub run_id: String,
    pub marsad_version: String,
    /// `[{"name", "sha256"}]` of every input file, and the schema each was checked against.
    pub sources: serde_json::Value,
}

impl Provenance {
    pub fn key_values(&self, table: &str) -> Vec<(String, String)> {
        vec![
            ("marsad.table".into(), table.into()),
            ("marsad.pipeline".into(), self.pipeline.clone()),
            (
                "marsad.pipeline_sha256".into(),
                self.pipeline_sha256.clone(),
            ),
            ("marsad.run_id".into(), self.run_id.clone()),
            ("marsad.version".into(), self.marsad_version.clone()),
            ("marsad.sources".into(), self.sources.to_string()),
        ]
    }
}

pub(crate) fn describe(root: &Path, path: &Path, rows: u64) -> Result<Written> {
    let bytes = std::fs::read(path).map_err(write_error(path))?;
    Ok(Written {
        path: path
            .strip_prefix(root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/"),
        rows,
        bytes: bytes.len() as u64,
        sha256: crate::sha256_hex(&bytes),
    })
}

/// Parquet with zstd compression and full column statistics, readable as-is by DuckDB, pyarrow,
/// Spark and R arrow.
pub fn write_parquet(
    root: &Path,
    path: &Path,
    df: &mut DataFrame,
    metadata: Vec<(String, String)>,
) -> Result<Written> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    }
    let file = File::create(path).map_err(write_error(path))?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .with_statistics(StatisticsOptions::full())
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata)))
        .finish(df)
        .at(|| format!("writing {}", path.display()))?;
    describe(root, path, df.height() as u64)
}

/// Write a table as a Hive-partitioned dataset: one Parquet file per value of `key`, in
/// `<dir>/<key>=<value>/part-0.parquet`, the key column left out of the files as Hive readers
/// expect. Values are written in sorted order so reruns give the same files.
pub fn write_partitioned(
    root: &Path,
    dir: &Path,
    df: &DataFrame,
    key: &str,
    metadata: Vec<(String, String)>,
) -> Result<Vec<Written>> {
    let context = || format!("partitioning {} by `{key}`", dir.display());
    let values = df
        .column(key)
        .at(context)?
        .cast(&DataType::String)
        .at(context)?
        .unique_stable()
        .at(context)?;
    let mut values: Vec<String> = values
        .str()
        .at(context)?
        .iter()
        .map(|v| v.unwrap_or("__HIVE_DEFAULT_PARTITION__").to_string())
        .collect();
    values.sort();
    let mut written = Vec::new();
    for v in values {
        let mut part = df
            .clone()
            .lazy()
            .filter(col(key).cast(DataType::String).eq(lit(v.clone())))
            .drop(Selector::ByName {
                names: [PlSmallStr::from(key)].into(),
                strict: true,
            })
            .collect()
            .at(context)?;
        let path = dir
            .join(format!("{key}={}", hive_escape(&v)))
            .join("part-0.parquet");
        written.push(write_parquet(root, &path, &mut part, metadata.clone())?);
    }
    Ok(written)
}

/// Escape the characters Hive reserves in a partition value (as Hive and pyarrow do).
fn hive_escape(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '/' | '=' | '%' | '\\' | ':' | '#' | '?' | '"' | '\'' | '*' | '<' | '>' | '|' | '^' => {
                format!("%{:02X}", c as u32)
            }
            c if c.is_control() => format!("%{:02X}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

pub fn write_text(root: &Path, path: &Path, text: &str) -> Result<Written> {
    let mut file = File::create(path).map_err(write_error(path))?;
    file.write_all(text.as_bytes()).map_err(write_error(path))?;
    describe(root, path, text.lines().count() as u64)
}

/// What `marsad inspect` shows of a Parquet file.
pub fn inspect(path: &Path, rows: usize) -> Result<String> {
    let file = File::open(path).map_err(|source| Error::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let not_parquet = |e: PolarsError| Error::Input {
        file: path.to_path_buf(),
        line: 0,
        message: format!("not a readable Parquet file: {e}"),
    };
    let mut reader = ParquetReader::new(file);
    let metadata = reader.get_metadata().map_err(not_parquet)?.clone();
    let df = reader.finish().map_err(not_parquet)?;
    let mut out = String::new();
    out.push_str(&format!(
        "file: {}\nrows: {}\n\nschema:\n",
        path.display(),
        metadata.num_rows
    ));
    for (name, dtype) in df.schema().iter() {
        out.push_str(&format!("  {name}: {dtype}\n"));
    }
    out.push_str("\nmetadata:\n");
    for kv in metadata.key_value_metadata.iter().flatten() {
        if kv.key == "ARROW:schema" {
            continue;
        }
        out.push_str(&format!(
            "  {}: {}\n",
            kv.key,
            kv.value.as_deref().unwrap_or("")
        ));
    }
    out.push_str(&format!(
        "\nfirst {} rows:\n{}\n",
        rows.min(df.height()),
        df.head(Some(rows))
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralized_numbers_are_not() {
        assert_eq!(neutralize("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralize("+33 6 12"), "'+33 6 12");
        assert_eq!(neutralize("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralize("-cmd"), "'-cmd");
        assert_eq!(neutralize("\tx"), "'\tx");
        assert_eq!(neutralize("-5"), "-5");
        assert_eq!(neutralize("-1.5e3"), "-1.5e3");
        assert_eq!(neutralize("Sénégal"), "Sénégal");
        assert_eq!(hive_escape("MA-01"), "MA-01");
        assert_eq!(hive_escape("a/b=c"), "a%2Fb%3Dc");
    }
}
