//! Typed errors for every stage, and the exit codes a scheduler sees.
//!
//! Each variant names the file (and line, where there is one) and says what to do, because the
//! person reading it is a statistician looking at a cron mail, not a Rust developer.

use std::path::{Path, PathBuf};

/// Process exit codes, documented in the README so that schedulers can branch on them.
pub mod exit {
    /// The pipeline file, a schema or a code list is wrong: fix the configuration.
    pub const CONFIG: i32 = 2;
    /// An input file is missing, unreadable, badly encoded or does not match its schema.
    pub const INPUT: i32 = 3;
    /// The data was read, but more rows were rejected than `max_rejected` allows.
    pub const REJECTED: i32 = 4;
    /// Anything else: writing outputs failed, or an internal check did not hold.
    pub const OTHER: i32 = 1;
    /// Another run is writing the same output and `--no-wait` was given: try again later.
    pub const BUSY: i32 = 5;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}:{line}:{column}: {message}")]
    Config {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{file}: {message}")]
    Schema { file: PathBuf, message: String },

    /// An output would go where marsad did not write: it never deletes or overwrites such files.
    #[error("{dir} is not a folder marsad made (it holds {files}); nothing was read or written\n  hint: give the output a new or empty folder; marsad deletes only inside folders it marked as its own")]
    NotOurs { dir: PathBuf, files: String },

    /// An output would hold or be one of the files the run reads.
    #[error("the output {output} would hold {input}, which the run reads; nothing was read or written\n  hint: write the output to a folder of its own, such as out/<pipeline>")]
    OutputHoldsInput { output: PathBuf, input: PathBuf },

    /// `--no-wait` and another run holds the output.
    #[error("another marsad run is writing {output}; run again when it is done, or without --no-wait to wait for it")]
    Busy { output: PathBuf },

    /// The command line asks for something that cannot be done (its parser caught the rest).
    #[error("{message}")]
    Usage { message: String },

    #[error("{file}: cannot read: {source}\n  hint: check the path (relative paths are resolved from the pipeline file's folder) or pass --input NAME=PATH")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A source's glob matches no file: an input is missing, as when a named file is.
    #[error("{file}:{line}:{column}: no file matches `{pattern}`\n  hint: check the folder and the pattern (relative paths are resolved from the pipeline file's folder) or pass --input NAME=PATH")]
    NoMatch {
        file: PathBuf,
        line: usize,
        column: usize,
        pattern: String,
    },

    #[error("{file}:{line}: {message}")]
    Input {
        file: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{file}: the header does not match the schema {schema}:\n{details}\n  hint: rename the columns in the file, or update the schema if the exchange format really changed")]
    Header {
        file: PathBuf,
        schema: PathBuf,
        details: String,
    },

    #[error("source `{source_name}`: {rejected} of {rows_in} rows rejected ({share:.2}%), more than max_rejected = {max:.2}%\n  hint: read the quarantine in {quarantine} and send it back to the data provider, or raise max_rejected in the pipeline file")]
    TooManyRejected {
        source_name: String,
        rejected: u64,
        rows_in: u64,
        share: f64,
        max: f64,
        quarantine: PathBuf,
    },

    #[error(
        "{file}: {rows} rows do not meet the schema{}; send the file back with the report above",
        swallowed_text(*.swallowed)
    )]
    Rejected {
        file: PathBuf,
        rows: u64,
        /// Lines a stray quote made part of one value.
        swallowed: u64,
    },

    #[error("row conservation failed for source `{source_name}`: rows_in {rows_in} != rows_valid {rows_valid} + rows_rejected {rows_rejected}; this is a bug in marsad, please report it with the manifest")]
    Conservation {
        source_name: String,
        rows_in: u64,
        rows_valid: u64,
        rows_rejected: u64,
    },

    #[error("table `{table}`: {message}; the table is not published. Coarsen the table (fewer categories) or change its `[table.disclosure]`")]
    Disclosure { table: String, message: String },

    #[error("survey source `{source_name}`: {message}; fix the design columns or the `[source.design]` of the pipeline")]
    Design {
        source_name: String,
        message: String,
    },

    #[error("table `{table}`: column `{column}` holds {value} in {rows} cell(s); a table publishes finite numbers only, so nothing was published\n  hint: a sum beyond 1.8e308 or a derived column that divides by zero makes such a value; check the column the measure reads")]
    NotFinite {
        table: String,
        column: String,
        value: f64,
        rows: usize,
    },

    #[error("table `{table}`: {message}; this is a bug in marsad, please report it")]
    Invariant { table: String, message: String },

    #[error("{path}: cannot write output: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{context}: {source}")]
    Engine {
        context: String,
        #[source]
        source: polars::error::PolarsError,
    },
}

impl Error {
    /// The exit code a scheduler sees for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. }
            | Error::Schema { .. }
            | Error::Usage { .. }
            | Error::NotOurs { .. }
            | Error::OutputHoldsInput { .. } => exit::CONFIG,
            Error::Busy { .. } => exit::BUSY,
            Error::Read { .. }
            | Error::NoMatch { .. }
            | Error::Input { .. }
            | Error::Header { .. }
            | Error::Design { .. } => exit::INPUT,
            Error::TooManyRejected { .. } | Error::Rejected { .. } => exit::REJECTED,
            _ => exit::OTHER,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn swallowed_text(lines: u64) -> String {
    if lines == 0 {
        String::new()
    } else {
        format!(", and {lines} lines were swallowed by a quoted value that probably lacks a quote")
    }
}

/// A write error naming the file.
pub(crate) fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// A CSV write error naming the file.
pub(crate) fn csv_error(path: &Path) -> impl Fn(csv::Error) -> Error + '_ {
    move |e| Error::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

/// Attach context to a polars error, so that engine failures still say which stage and source.
pub(crate) trait EngineContext<T> {
    fn at(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> EngineContext<T> for polars::error::PolarsResult<T> {
    fn at(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Engine {
            context: what(),
            source,
        })
    }
}

/// 1-based line and column of a byte offset, for pointing at a place in a text file.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // the column counts characters, not bytes
        assert_eq!(line_col(text, 9), (2, 3));
    }
}
