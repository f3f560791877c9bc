//! Ingest: bytes on disk to a frame of raw text columns, with every row's file and line.
//!
//! Decoding and CSV structure are handled here, row by row, because that is where line numbers
//! exist; typing and constraints are left to `validate`, which works on whole columns. A row whose
//! structure is broken (wrong number of fields, an unclosed quote, nothing in it) never reaches the
//! frame: it goes to the quarantine with its line number, and the run goes on.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use polars::prelude::*;
use rayon::prelude::*;

use crate::error::{EngineContext, Error, Result};
use crate::quarantine::{Quarantine, Rejection, FILE, LINE, ROW};
use crate::spec::{Dialect, Encoding, SourcePlan};

/// What was read from one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileInfo {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    /// The encoding the file was read as (after detection, for `auto`).
    pub encoding: &'static str,
    pub rows: u64,
}

/// A source read into memory: raw text columns named after the schema fields.
pub struct Ingested {
    pub frame: DataFrame,
    pub rows_in: u64,
    pub files: Vec<FileInfo>,
    pub quarantine: Quarantine,
}

/// One stretch of a file's records, parsed on its own thread. Rows are numbered from 0 within
/// the chunk, in record order; `ingest` shifts them to global row numbers.
struct Chunk {
    /// Raw text columns, `__row` (chunk-local) and `__line`.
    frame: DataFrame,
    rejected: Vec<Rejection>,
    records: u64,
}

/// One file, parsed but not yet numbered globally.
struct Parsed {
    info: FileInfo,
    chunks: Vec<Chunk>,
}

pub fn ingest(source: &SourcePlan, progress: bool) -> Result<Ingested> {
    let field_names: Vec<String> = source.schema.field_names().map(String::from).collect();
    let bar = progress_bar(source, progress);
    let parsed: Vec<Parsed> = source
        .files
        .iter()
        .enumerate()
        .map(|(i, path)| parse_file(i as u32, path, source, &field_names, &bar))
        .collect::<Result<Vec<_>>>()?;
    bar.finish_and_clear();

    // Row numbers are global across the source's files and chunks, in file order, so that
    // reruns number the same row the same way.
    let context = || format!("building source `{}`", source.name);
    let mut next_row = 0u64;
    let mut quarantine = Quarantine::new(
        &source.name,
        source
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    );
    let mut frame: Option<DataFrame> = None;
    let mut infos = Vec::new();
    for (file_index, p) in parsed.into_iter().enumerate() {
        for mut chunk in p.chunks {
            for r in &mut chunk.rejected {
                r.row += next_row;
            }
            quarantine.push_rows(&chunk.rejected)?;
            let offset = next_row;
            let mut part = chunk.frame;
            let rows = part
                .column(ROW)
                .at(context)?
                .u64()
                .at(context)?
                .apply_values(|r| r + offset)
                .into_series()
                .into_column();
            part.with_column(rows).at(context)?;
            part.with_column(Column::new(
                FILE.into(),
                vec![file_index as u32; part.height()],
            ))
            .at(context)?;
            match frame.as_mut() {
                None => frame = Some(part),
                Some(f) => {
                    f.vstack_mut(&part).at(context)?;
                }
            }
            next_row += chunk.records;
        }
        infos.push(p.info);
    }
    let frame = match frame {
        Some(mut f) => {
            f.rechunk_mut_par();
            f
        }
        None => empty_frame(&field_names).at(context)?,
    };
    Ok(Ingested {
        frame,
        rows_in: next_row,
        files: infos,
        quarantine,
    })
}

fn empty_frame(field_names: &[String]) -> PolarsResult<DataFrame> {
    let mut cols: Vec<Column> = field_names
        .iter()
        .map(|n| Column::new_empty(n.as_str().into(), &DataType::String))
        .collect();
    cols.push(Column::new_empty(ROW.into(), &DataType::UInt64));
    cols.push(Column::new_empty(LINE.into(), &DataType::UInt64));
    cols.push(Column::new_empty(FILE.into(), &DataType::UInt32));
    DataFrame::new_infer_height(cols)
}

fn progress_bar(source: &SourcePlan, progress: bool) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let total: u64 = source
        .files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    // indicatif draws nothing when stderr is not a terminal, so scheduled runs stay clean.
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} ({eta})")
    {
        bar.set_style(style);
    }
    bar.set_message(format!("reading {}", source.name));
    bar
}

/// Decode a file's bytes to UTF-8 text, as the dialect says or as detected.
pub fn decode(path: &Path, bytes: &[u8], encoding: Encoding) -> Result<(String, &'static str)> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let has_bom = bytes.starts_with(BOM);
    let body = if has_bom { &bytes[BOM.len()..] } else { bytes };
    let utf8 = |body: &[u8]| -> std::result::Result<String, std::str::Utf8Error> {
        std::str::from_utf8(body).map(String::from)
    };
    match encoding {
        Encoding::Utf8 => utf8(body).map(|t| (t, "utf-8")).map_err(|e| {
            let offset = e.valid_up_to();
            let line = body[..offset].iter().filter(|b| **b == b'\n').count() + 1;
            Error::Input {
                file: path.to_path_buf(),
                line,
                message: format!(
                    "the file is declared UTF-8 but byte {} (0x{:02X}) is not valid UTF-8\n  hint: set `encoding = \"windows-1252\"` (or `auto`) in the source's [source.dialect], or re-save the file as UTF-8",
                    offset + if has_bom { 3 } else { 0 },
                    body[offset]
                ),
            }
        }),
        Encoding::Auto if has_bom => utf8(body).map(|t| (t, "utf-8")).map_err(|e| Error::Input {
            file: path.to_path_buf(),
            line: body[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1,
            message: "the file starts with a UTF-8 byte-order mark but is not valid UTF-8; re-save it as UTF-8".into(),
        }),
        Encoding::Auto => match utf8(body) {
            Ok(t) => Ok((t, "utf-8")),
            // Files that are not UTF-8 in this domain come from Excel on Windows: cp1252 is a
            // superset of ISO-8859-1 for printable characters, so it is the safe reading.
            Err(_) => Ok((decode_1252(body), "windows-1252")),
        },
        Encoding::Windows1252 => Ok((decode_1252(body), "windows-1252")),
        // WHATWG (and encoding_rs) read the ISO-8859-1 label as windows-1252, which only differs
        // in the C1 control range that no text file uses.
        Encoding::Iso88591 => Ok((decode_1252(body), "iso-8859-1")),
    }
}

fn decode_1252(bytes: &[u8]) -> String {
    encoding_rs::WINDOWS_1252
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

fn parse_file(
    file_index: u32,
    path: &Path,
    source: &SourcePlan,
    field_names: &[String],
    bar: &ProgressBar,
) -> Result<Parsed> {
    let bytes = std::fs::read(path).map_err(|e| Error::Read {
        file: path.to_path_buf(),
        source: e,
    })?;
    let sha256 = crate::sha256_hex(&bytes);
    let (text, encoding) = decode(path, &bytes, source.dialect.encoding)?;
    let info = FileInfo {
        path: path.to_path_buf(),
        sha256,
        bytes: bytes.len() as u64,
        encoding,
        rows: 0,
    };
    drop(bytes);
    let chunks = parse_text(
        file_index,
        path,
        &text,
        &source.dialect,
        source,
        field_names,
        bar,
    )?;
    let rows = chunks.iter().map(|c| c.records).sum();
    Ok(Parsed {
        info: FileInfo { rows, ..info },
        chunks,
    })
}

/// Byte offset just after the first `n` lines.
fn skip_lines(text: &str, n: usize) -> Option<usize> {
    let mut offset = 0;
    for _ in 0..n {
        offset += text[offset..].find('\n')? + 1;
    }
    Some(offset)
}

/// Where the data rows begin, and the chunk boundaries after that: each boundary is the start of
/// a record (a newline outside quotes) at least `target` bytes after the previous one, with the
/// number of newlines before it, so that every chunk knows its first line number.
fn chunk_bounds(body: &[u8], start: usize, quote: u8, target: usize) -> Vec<(usize, u64)> {
    let mut bounds = vec![(start, newlines(&body[..start]))];
    let mut in_quote = false;
    let mut lines = bounds[0].1;
    let mut next = start + target;
    for i in memchr::memchr2_iter(quote, b'\n', &body[start..]) {
        let i = i + start;
        if body[i] == quote {
            in_quote = !in_quote;
        } else {
            lines += 1;
            if !in_quote && i + 1 >= next && i + 1 < body.len() {
                bounds.push((i + 1, lines));
                next = i + 1 + target;
            }
        }
    }
    bounds
}

fn parse_text(
    file_index: u32,
    path: &Path,
    text: &str,
    dialect: &Dialect,
    source: &SourcePlan,
    field_names: &[String],
    bar: &ProgressBar,
) -> Result<Vec<Chunk>> {
    let input_error = |line: usize, message: String| Error::Input {
        file: path.to_path_buf(),
        line,
        message,
    };
    let start = skip_lines(text, dialect.skip_lines).ok_or_else(|| {
        input_error(
            1,
            format!(
                "the file has fewer than the {} lines that skip_lines says precede the header",
                dialect.skip_lines
            ),
        )
    })?;
    let body = &text[start..];
    if body.trim().is_empty() {
        return Err(input_error(
            dialect.skip_lines + 1,
            "the file is empty: there is no header and no row\n  hint: check that the export finished, or that skip_lines is right".into(),
        ));
    }
    let line_offset = dialect.skip_lines as u64;
    let reader = |bytes| {
        csv::ReaderBuilder::new()
            .delimiter(dialect.delimiter)
            .quote(dialect.quote)
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes)
    };

    // Position of each schema field in the file's columns, how many fields a row must have, and
    // where the data begins.
    let (order, width, data_start): (Vec<usize>, usize, usize) = if dialect.header {
        let mut r = reader(body.as_bytes());
        let mut header = csv::StringRecord::new();
        match r.read_record(&mut header) {
            Ok(true) => {}
            Ok(false) => {
                return Err(input_error(
                    line_offset as usize + 1,
                    "the file has no header row".into(),
                ))
            }
            Err(e) => {
                return Err(input_error(
                    line_offset as usize + 1,
                    format!("cannot read the header: {e}"),
                ))
            }
        }
        let order = match_header(path, &source.schema.path, &header, field_names)?;
        (order, header.len(), r.position().byte() as usize)
    } else {
        ((0..field_names.len()).collect(), field_names.len(), 0)
    };

    // Chunks of about 4 MiB, parsed in parallel; one chunk for small files. MARSAD_CHUNK_BYTES
    // changes the size (the tests use tiny chunks to put many boundaries in small files).
    let bytes = body.as_bytes();
    let target = std::env::var("MARSAD_CHUNK_BYTES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(4 << 20);
    let bounds = chunk_bounds(bytes, data_start.min(bytes.len()), dialect.quote, target);
    let spans: Vec<(usize, usize, u64, bool)> = bounds
        .iter()
        .enumerate()
        .map(|(i, (from, lines))| {
            let to = bounds.get(i + 1).map_or(bytes.len(), |b| b.0);
            (*from, to, *lines, i + 1 == bounds.len())
        })
        .collect();
    spans
        .par_iter()
        .map(|&(from, to, lines_before, last)| {
            let chunk = parse_chunk(
                file_index,
                &bytes[from..to],
                lines_before + line_offset,
                last,
                dialect,
                &order,
                width,
                field_names,
            )
            .map_err(|(line, message)| input_error(line as usize, message))?;
            bar.inc((to - from) as u64);
            Ok(chunk)
        })
        .collect()
}

/// Parse one chunk of records. Errors are (line, message).
#[allow(clippy::too_many_arguments)]
fn parse_chunk(
    file_index: u32,
    bytes: &[u8],
    lines_before: u64,
    last: bool,
    dialect: &Dialect,
    order: &[usize],
    width: usize,
    field_names: &[String],
) -> std::result::Result<Chunk, (u64, String)> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .quote(dialect.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let estimate = bytes.len() / 64 + 16;
    let mut builders: Vec<StringChunkedBuilder> = field_names
        .iter()
        .map(|n| StringChunkedBuilder::new(n.as_str().into(), estimate))
        .collect();
    let (mut rows, mut lines, mut rejected) = (
        Vec::with_capacity(estimate),
        Vec::with_capacity(estimate),
        Vec::new(),
    );
    let mut record = csv::StringRecord::new();
    let mut records = 0u64;
    let mut last_record: Option<(u64, usize)> = None;
    let (mut counted_lines, mut counted_to) = (lines_before, 0usize);
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err((counted_lines + 1, format!("CSV error: {e}"))),
        }
        let Some(pos) = record.position() else {
            continue;
        };
        // The csv crate's own line counter lags by one after CRLF endings, so lines are counted
        // here from byte offsets: 1 + the newlines before the record's first byte.
        let mut begin = pos.byte() as usize;
        while matches!(bytes.get(begin), Some(b'\r' | b'\n')) {
            begin += 1;
        }
        counted_lines += newlines(&bytes[counted_to..begin.max(counted_to)]);
        counted_to = counted_to.max(begin);
        let line = counted_lines + 1;
        let row = records;
        records += 1;
        last_record = Some((line, pos.byte() as usize));
        let reject = |rule: &str, message: String| Rejection {
            row,
            file: file_index,
            line,
            column: None,
            raw_value: Some(joined(&record, dialect.delimiter)),
            rule: rule.to_string(),
            message,
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            rejected.push(reject("blank-row", "the row has no values".into()));
        } else if record.len() != width {
            let rule = if record.len() < width {
                "missing-cell"
            } else {
                "extra-cell"
            };
            rejected.push(reject(
                rule,
                format!(
                    "the row has {} fields, the header has {width}",
                    record.len()
                ),
            ));
        } else {
            for (builder, &src) in builders.iter_mut().zip(order) {
                builder.append_value(record.get(src).unwrap_or(""));
            }
            rows.push(row);
            lines.push(line);
        }
    }
    let mut columns: Vec<Column> = builders
        .into_iter()
        .map(|b| b.finish().into_series().into_column())
        .collect();
    // A quote that is opened and never closed swallows the rest of the file into one field;
    // an odd number of quote characters in the last record is the tell-tale.
    if let (true, Some((line, byte))) = (last, last_record) {
        let quotes = bytes[byte..]
            .iter()
            .filter(|b| **b == dialect.quote)
            .count();
        if quotes % 2 == 1 {
            let row = records - 1;
            if rows.last() == Some(&row) {
                rows.pop();
                lines.pop();
                columns = columns
                    .into_iter()
                    .map(|c| c.slice(0, rows.len()))
                    .collect();
            }
            rejected.retain(|r| r.row != row);
            rejected.push(Rejection {
                row,
                file: file_index,
                line,
                column: None,
                raw_value: Some(String::from_utf8_lossy(&bytes[byte..]).chars().take(200).collect()),
                rule: "unterminated-quote".into(),
                message: format!(
                    "a quoted field opened on line {line} is never closed, so the rest of the file was read as one value; close the quote or remove it"
                ),
            });
        }
    }
    columns.push(Column::new(ROW.into(), rows));
    columns.push(Column::new(LINE.into(), lines));
    let frame =
        DataFrame::new_infer_height(columns).map_err(|e| (lines_before + 1, e.to_string()))?;
    Ok(Chunk {
        frame,
        rejected,
        records,
    })
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

fn joined(record: &csv::StringRecord, delimiter: u8) -> String {
    let sep = (delimiter as char).to_string();
    record.iter().collect::<Vec<_>>().join(&sep)
}

/// Map schema fields to file columns by name, or explain exactly how the header differs.
fn match_header(
    path: &Path,
    schema: &Path,
    header: &csv::StringRecord,
    field_names: &[String],
) -> Result<Vec<usize>> {
    let labels: Vec<&str> = header.iter().map(str::trim).collect();
    let mut problems = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        if label.is_empty() {
            problems.push(format!("  - blank-label: column {} has no name", i + 1));
        } else if labels[..i].contains(label) {
            problems.push(format!(
                "  - duplicate-label: `{label}` appears more than once"
            ));
        } else if !field_names.iter().any(|f| f == label) {
            problems.push(format!(
                "  - extra-label: `{label}` (column {}) is not in the schema",
                i + 1
            ));
        }
    }
    let mut order = Vec::new();
    for field in field_names {
        match labels.iter().position(|l| l == field) {
            Some(i) => order.push(i),
            None => problems.push(format!(
                "  - missing-label: the schema field `{field}` is not in the header"
            )),
        }
    }
    if problems.is_empty() {
        Ok(order)
    } else {
        problems.push(format!("  header read: {}", labels.join(" | ")));
        if let [only] = labels.as_slice() {
            if let Some(d) = [';', ',', '\t', '|']
                .into_iter()
                .find(|d| only.contains(*d))
            {
                problems.push(format!(
                    "  hint: the header is one column holding `{}`: the file is probably delimited by it",
                    d.escape_default()
                ));
            }
        }
        Err(Error::Header {
            file: path.to_path_buf(),
            schema: schema.to_path_buf(),
            details: problems.join("\n"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_bom_utf8_and_windows_1252() {
        let p = Path::new("f.csv");
        assert_eq!(
            decode(p, b"\xEF\xBB\xBFa;b", Encoding::Auto).unwrap(),
            ("a;b".into(), "utf-8")
        );
        assert_eq!(
            decode(p, b"S\xE9n\xE9gal", Encoding::Auto).unwrap(),
            ("Sénégal".into(), "windows-1252")
        );
        assert_eq!(decode(p, b"\x80", Encoding::Iso88591).unwrap().0, "€");
        let err = decode(p, b"a\nb\n\xE9", Encoding::Utf8)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f.csv:3:"), "{err}");
        assert!(err.contains("windows-1252"), "{err}");
    }

    #[test]
    fn chunks_start_on_records_outside_quotes() {
        let body = b"h1,h2\na,1\n\"b\nb\",2\nc,3\n";
        // a boundary every byte if allowed: only the starts of records outside quotes qualify
        let bounds = chunk_bounds(body, 6, b'"', 1);
        assert_eq!(bounds, vec![(6, 1), (10, 2), (18, 4)]);
    }

    #[test]
    fn skips_preamble_lines() {
        assert_eq!(skip_lines("a\nb\nc", 2), Some(4));
        assert_eq!(skip_lines("a", 2), None);
    }
}
