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
    let keep = |number: u64| number == header_line || wanted.contains(&number);
    let mut header = None;
    let mut found = BTreeMap::new();
    let mut store = |number: u64, bytes: &[u8]| -> Option<()> {
        let (text, _) = super::decode(path, bytes, info.encoding).ok()?;
        let fields = split(text.trim_end_matches(['\r', '\n']), dialect);
        if number == header_line {
            header = Some(fields);
        } else {
            found.insert(number, fields);
        }
        Some(())
    };
    // Lines are counted a block at a time and only the wanted ones copied: the last example
    // may lie near the end of a file of millions of lines.
    let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(path).ok()?);
    let (mut number, end) = (1u64, last.max(header_line));
    let mut line: Option<Vec<u8>> = keep(number).then(Vec::new);
    while number <= end {
        let block = reader.fill_buf().ok()?;
        if block.is_empty() {
            break;
        }
        let (len, mut from) = (block.len(), 0);
        for i in memchr::memchr_iter(b'\n', block) {
            if let Some(mut bytes) = line.take() {
                bytes.extend_from_slice(&block[from..=i]);
                store(number, &bytes)?;
            }
            number += 1;
            from = i + 1;
            if number > end {
                break;
            }
            line = keep(number).then(Vec::new);
        }
        if let Some(bytes) = line.as_mut() {
            bytes.extend_from_slice(&block[from..]);
        }
        reader.consume(len);
    }
    // a last line without a line end
    if let Some(bytes) = line.filter(|b| !b.is_empty() && number <= end) {
        store(number, &bytes)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_wanted_lines_across_blocks_and_a_last_line_without_an_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        // more than two of the reader's blocks, CRLF endings, a quoted field with a delimiter,
        // and a last line without a line end
        let mut text = String::from("id;nom\r\n");
        for i in 2..=150_000u64 {
            text.push_str(&format!("{i};\"n;{i}\"\r\n"));
        }
        text.push_str("150001;fin");
        std::fs::write(&path, &text).unwrap();
        let info = FileInfo {
            path: path.clone(),
            sha256: String::new(),
            bytes: text.len() as u64,
            encoding: Encoding::Utf8,
            compression: None,
            rows: 150_000,
            lines: 150_001,
            sheet: None,
            value_labels: Vec::new(),
        };
        let dialect = Dialect {
            delimiter: b';',
            ..Dialect::default()
        };
        let wanted: BTreeSet<u64> = [2, 70_001, 150_001].into();
        let got = raw_lines(&info, &dialect, &wanted).unwrap();
        assert_eq!(got.header, ["id", "nom"]);
        let fields = |n: u64| got.lines.get(&n).cloned().unwrap_or_default();
        assert_eq!(fields(2), ["2", "n;2"]);
        assert_eq!(fields(70_001), ["70001", "n;70001"]);
        assert_eq!(fields(150_001), ["150001", "fin"]);
        assert_eq!(got.lines.len(), 3);
        // a line past the end is not found, and the others still are
        let beyond: BTreeSet<u64> = [3, 200_000].into();
        let got = raw_lines(&info, &dialect, &beyond).unwrap();
        assert_eq!(got.lines.keys().copied().collect::<Vec<_>>(), [3]);
    }
}
