//! A few lines of a text source read again as they were written, so that the provider's
//! report can show a rejected row whole, with its header.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};

use crate::books::FileInfo;
use crate::spec::{Dialect, Encoding};

/// Some lines of a file, split into fields as written.
#[derive(Debug, Clone, Default)]
pub struct RawLines {
    pub header: Vec<String>,
    /// By physical line number.
    pub lines: BTreeMap<u64, Vec<String>>,
}

/// The header's fields and the fields of each of `wanted` (physical line numbers), or `None`
/// for a file that is not plain delimited text (a spreadsheet, a dataset, gzip, UTF-16) or
/// cannot be read again.
pub fn raw_lines(info: &FileInfo, dialect: &Dialect, wanted: &BTreeSet<u64>) -> Option<RawLines> {
    let path = info.path.as_path();
    let plain = !super::sheet::is_spreadsheet(path)
        && !super::stata::is_stata(path)
        && !super::spss::is_spss(path)
        && info.compression.is_none()
        && !matches!(info.encoding, Encoding::Utf16Le | Encoding::Utf16Be);
    let last = *wanted.last()?;
    if !plain || !dialect.header {
        return None;
    }
    let header_line = dialect.skip_lines as u64 + 1;
    let mut reader = BufReader::new(std::fs::File::open(path).ok()?);
    let mut header = None;
    let mut found = BTreeMap::new();
    let mut bytes = Vec::new();
    for number in 1..=last.max(header_line) {
        bytes.clear();
        if reader.read_until(b'\n', &mut bytes).ok()? == 0 {
            break;
        }
        if number != header_line && !wanted.contains(&number) {
            continue;
        }
        let (text, _) = super::decode(path, &bytes, info.encoding).ok()?;
        let fields = split(text.trim_end_matches(['\r', '\n']), dialect);
        if number == header_line {
            header = Some(fields);
        } else {
            found.insert(number, fields);
        }
    }
    Some(RawLines {
        header: header?,
        lines: found,
    })
}

/// One line's fields, quotes removed as the dialect says.
fn split(line: &str, dialect: &Dialect) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .quote(dialect.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    reader
        .records()
        .next()
        .and_then(|r| r.ok())
        .map(|r| r.iter().map(str::to_string).collect())
        .unwrap_or_else(|| vec![line.to_string()])
}
