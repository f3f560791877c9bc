//! Ingest: bytes on disk to a frame of raw text columns, with every row's file and line.
//!
//! Decoding and CSV structure are handled here, row by row, because that is where line numbers
//! exist; typing and constraints are left to `validate`, which works on whole columns. A row whose
//! structure is broken (wrong number of fields, an unclosed quote, nothing in it) never reaches the
//! frame: it goes to the quarantine with its line number, and the run goes on.
//!
//! Files are read in windows of a few tens of megabytes that the later stages consume one at a
//! time, so a run's memory depends on the window size, not on the size of the file.

mod decode;
mod header;
mod lines;
mod parse;
mod read;
mod sheet;
mod spss;
mod stata;
mod stream;

pub use lines::{raw_lines, RawLines};
pub use sheet::SheetPlace;

use std::path::Path;

use polars::prelude::*;

use crate::books::FileInfo;
use crate::error::Result;
use crate::quarantine::Rejection;
use crate::spec::{Encoding, SourcePlan};

use decode::{decode_window, label, BOM};

/// A stretch of a source's records, parsed and numbered: raw text columns named after the
/// schema fields, with `__row` (numbered from 0 in the window), `__line` and `__file`. Windows are read
/// one after another so that memory holds one window, whatever the size of the file.
pub struct Window {
    pub frame: DataFrame,
    /// Rows whose structure is broken (blank, wrong number of fields, unclosed quote).
    pub rejected: Vec<Rejection>,
    /// Records in the window, rejected ones included.
    pub records: u64,
    /// Records whose quoted fields hold many line breaks, almost always because a quote was
    /// opened by mistake: (file index, line, physical lines the record spans).
    pub long_records: Vec<(u32, u64, u64)>,
    /// Time spent reading, decoding and parsing the window.
    pub elapsed: std::time::Duration,
    /// Where the file's fields are on its sheet, when it is a spreadsheet.
    pub sheet: Option<std::sync::Arc<crate::quarantine::SheetCells>>,
}

/// What is known of a source's files before they are read: their names, and the encoding the
/// dialect declares (`auto` starts as UTF-8). Checksums, sizes and row counts are filled in as
/// the files are read.
pub fn files(source: &SourcePlan) -> Vec<FileInfo> {
    let encoding = label(source.dialect.encoding);
    source
        .files
        .iter()
        .map(|p| FileInfo {
            path: p.clone(),
            sha256: String::new(),
            bytes: 0,
            encoding,
            compression: None,
            rows: 0,
            lines: 0,
            sheet: None,
            value_labels: Vec::new(),
        })
        .collect()
}

/// Bytes in a source's files (for progress and the key buckets).
pub fn total_bytes(source: &SourcePlan) -> u64 {
    source
        .files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// What reading a source came to.
pub enum Read {
    /// Every window was read; the number of records.
    Done(u64),
    /// A file read as UTF-8 turned out not to be, after windows with accented letters had been
    /// read as UTF-8: it is now marked windows-1252, and the source must be read again.
    Again,
}

/// Read every file of a source window by window; only the columns in `fields` (schema field
/// names) are built. A thread reads ahead and checksums the bytes; `work` runs on several
/// windows at once; `merge` receives the results one by one in file order, and `advance` the
/// bytes each one covered (for a progress bar). Sets each file's checksum, size, encoding and
/// row count.
pub fn read_windows<T: Send>(
    source: &SourcePlan,
    files: &mut [FileInfo],
    fields: &[String],
    advance: &dyn Fn(u64),
    work: impl Fn(Window) -> Result<T> + Sync,
    mut merge: impl FnMut(T) -> Result<()>,
) -> Result<Read> {
    let reading = read::Reading::new(source, fields);
    let mut rows_in = 0u64;
    for (file_index, info) in files.iter_mut().enumerate() {
        let path = info.path.clone();
        let file = read::read_file(
            &reading,
            file_index,
            &path,
            info.encoding,
            advance,
            &work,
            &mut merge,
        )?;
        info.sha256 = file.sha256;
        info.bytes = file.bytes;
        info.rows = file.rows;
        info.lines = file.lines;
        info.compression = file.gzip.then_some("gzip");
        info.value_labels = file.value_labels;
        info.sheet = file.sheet;
        info.encoding = if file.seen.not_utf8 {
            Encoding::Windows1252
        } else {
            file.encoding
        };
        // Under `auto`, a file is UTF-8 only if all of it is: some windows read as UTF-8 with
        // accented letters and another that is not UTF-8 mean the file must be read again.
        if file.seen.not_utf8 && file.seen.utf8_beyond_ascii {
            return Ok(Read::Again);
        }
        rows_in += file.rows;
    }
    Ok(Read::Done(rows_in))
}

/// Decode a whole file's bytes to UTF-8 text, as the dialect says or as detected.
pub fn decode(path: &Path, bytes: &[u8], encoding: Encoding) -> Result<(String, Encoding)> {
    let bom = bytes.starts_with(BOM);
    let body = if bom { &bytes[BOM.len()..] } else { bytes };
    let (text, seen) = decode_window(body.to_vec(), label(encoding), encoding, bom, (path, 0, 0))?;
    let read_as = if seen.not_utf8 {
        Encoding::Windows1252
    } else {
        label(encoding)
    };
    Ok((text, read_as))
}

/// The ISO 8601 date `days` after `epoch` (a dataset's dates count from an epoch of its own);
/// a day too far for a calendar stays a number, which the schema then rejects.
fn iso_date_after((y, m, d): (i32, u32, u32), days: f64) -> String {
    let epoch = chrono::NaiveDate::from_ymd_opt(y, m, d).expect("a date");
    let whole = days.floor();
    (whole.abs() < 1e7)
        .then(|| epoch.checked_add_signed(chrono::TimeDelta::days(whole as i64)))
        .flatten()
        .map(|day| day.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| days.to_string())
}

/// One field of a text written out from a spreadsheet or a dataset, quoted when it holds the
/// delimiter, the quote or a line break (RFC 4180).
fn csv_field(out: &mut Vec<u8>, text: &str, delimiter: u8, quote: u8) {
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .any(|&b| b == delimiter || b == quote || b == b'\n' || b == b'\r')
    {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(quote);
    for &b in bytes {
        if b == quote {
            out.push(quote);
        }
        out.push(b);
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_bom_utf8_and_windows_1252() {
        let p = Path::new("f.csv");
        assert_eq!(
            decode(p, b"\xEF\xBB\xBFa;b", Encoding::Auto).unwrap(),
            ("a;b".into(), Encoding::Utf8)
        );
        assert_eq!(
            decode(p, b"S\xE9n\xE9gal", Encoding::Auto).unwrap(),
            ("Sénégal".into(), Encoding::Windows1252)
        );
        assert_eq!(decode(p, b"\x80", Encoding::Iso88591).unwrap().0, "€");
        let err = decode(p, b"a\nb\n\xE9", Encoding::Utf8)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f.csv:3:"), "{err}");
        assert!(err.contains("windows-1252"), "{err}");
    }
}
