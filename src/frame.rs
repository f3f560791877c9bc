//! Small helpers over dataframes that several stages share: reading a column as text or
//! numbers, and writing rows as spreadsheet-safe CSV.

use std::io::Write;
use std::path::Path;

use polars::prelude::*;

use crate::error::{csv_error, EngineContext, Error, Result};

/// A column of a table (or source) as text, `missing` where empty: dimension codes, flags,
/// design labels.
pub fn text_column(df: &DataFrame, name: &str, missing: &str) -> PolarsResult<Vec<String>> {
    let c = df.column(name)?.cast(&DataType::String)?;
    Ok(c.str()?
        .iter()
        .map(|v| v.unwrap_or(missing).to_string())
        .collect())
}

/// A column as numbers, `missing` where empty.
pub fn number_column(df: &DataFrame, name: &str, missing: f64) -> PolarsResult<Vec<f64>> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(missing)).collect())
}

/// Make a text cell safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`, `@`,
/// a tab or a carriage return would be read by Excel or LibreOffice as a formula, so it is
/// prefixed with an apostrophe (OWASP's advice for CSV injection). Plain numbers such as `-5` are
/// left alone, since a spreadsheet reads them as numbers, not formulas.
pub fn neutralize(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.trim().parse::<f64>().is_err() {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Append a frame's rows as text, each cell neutralized for spreadsheets.
pub fn csv_rows<W: Write>(w: &mut csv::Writer<W>, df: &DataFrame, path: &Path) -> Result<()> {
    let columns: Vec<Column> = df
        .columns()
        .iter()
        .map(|c| c.cast(&DataType::String))
        .collect::<PolarsResult<_>>()
        .at(|| format!("writing {}", path.display()))?;
    let strings: Vec<&StringChunked> = columns
        .iter()
        .map(|c| c.str())
        .collect::<PolarsResult<_>>()
        .at(|| format!("writing {}", path.display()))?;
    for i in 0..df.height() {
        w.write_record(
            strings
                .iter()
                .map(|s| neutralize(s.get(i).unwrap_or("")).into_owned()),
        )
        .map_err(csv_error(path))?;
    }
    Ok(())
}

/// A Parquet file read whole; a file that cannot be opened is a read error naming it.
pub fn read_parquet(path: &Path) -> Result<DataFrame> {
    let file = std::fs::File::open(path).map_err(|source| Error::Read {
        file: path.to_path_buf(),
        source,
    })?;
    ParquetReader::new(file)
        .finish()
        .at(|| format!("reading {}", path.display()))
}
