//! Ingest: bytes on disk to a frame of raw text columns, with every row's file and line.
//!
//! Decoding and CSV structure are handled here, row by row, because that is where line numbers
//! exist; typing and constraints are left to `validate`, which works on whole columns. A row whose
//! structure is broken (wrong number of fields, an unclosed quote, nothing in it) never reaches the
//! frame: it goes to the quarantine with its line number, and the run goes on.
//!
//! Files are read in windows of a few tens of megabytes that the later stages consume one at a
//! time, so a run's memory depends on the window size, not on the size of the file.

use std::path::Path;

use polars::prelude::*;
use polars_arrow::array::View;
use rayon::prelude::*;

use crate::books::FileInfo;
use crate::error::{Error, Result};
use crate::quarantine::{Rejection, FILE, LINE, ROW};
use crate::spec::{Dialect, Encoding, SourcePlan};

/// A stretch of a source's records, parsed and numbered: raw text columns named after the
/// schema fields, with `__row` (numbered from 0 in the window), `__line` and `__file`. Windows are read
/// one after another so that memory holds one window, whatever the size of the file.
pub struct Window {
    pub frame: DataFrame,
    /// Rows whose structure is broken (blank, wrong number of fields, unclosed quote).
    pub rejected: Vec<Rejection>,
    /// Records in the window, rejected ones included.
    pub records: u64,
    /// Time spent reading, decoding and parsing the window.
    pub elapsed: std::time::Duration,
}

/// One stretch of a window's records, parsed on its own thread. Rows are numbered from 0 within
/// the chunk, in record order; the window shifts them to global row numbers.
///
/// A value is not copied: it is a view of the window's text (arrow's string view: short values
/// are held in the view itself, longer ones point into the text). Only values whose quotes had
/// to be taken out differ from the text; they are copied into `unquoted`.
struct Chunk {
    /// For each field asked for, a view of every kept row's value.
    views: Vec<Vec<View>>,
    /// Bytes in each field's values (arrow keeps the total with the array).
    value_bytes: Vec<usize>,
    /// Whether each field points into the window's text, and into `unquoted`.
    uses: Vec<[bool; 2]>,
    unquoted: Vec<u8>,
    rows: Vec<u64>,
    lines: Vec<u64>,
    rejected: Vec<Rejection>,
    records: u64,
}

/// The buffer a view points into, while a chunk is parsed: the window's text or the chunk's
/// unquoted values. The window renumbers them per column.
const IN_TEXT: u32 = 0;
const IN_UNQUOTED: u32 = 1;

/// Where a chunk's fields come from: slices of the window's text (at a known offset), or values
/// the CSV reader rebuilt.
#[derive(Clone, Copy)]
enum Origin<'a> {
    Text(&'a [u8]),
    Rebuilt,
}

impl Chunk {
    fn new(fields: usize, estimate: usize) -> Chunk {
        Chunk {
            views: (0..fields).map(|_| Vec::with_capacity(estimate)).collect(),
            value_bytes: vec![0; fields],
            uses: vec![[false; 2]; fields],
            unquoted: Vec::new(),
            rows: Vec::with_capacity(estimate),
            lines: Vec::with_capacity(estimate),
            rejected: Vec::new(),
            records: 0,
        }
    }

    /// Keep a record's fields (those in `order`), or reject the record when it is blank or has
    /// the wrong number of fields. Fields are valid UTF-8: they are cut from text at ASCII bytes.
    fn record(
        &mut self,
        fields: &[&[u8]],
        origin: Origin,
        line: u64,
        layout: &Layout,
    ) -> std::result::Result<(), (u64, String)> {
        let row = self.records;
        self.records += 1;
        let reject = |rule: &str, message: String| Rejection {
            row,
            file: layout.file_index,
            line,
            column: None,
            raw_value: Some(joined(fields, layout.delimiter)),
            rule: rule.to_string(),
            message,
        };
        if fields
            .iter()
            .all(|f| std::str::from_utf8(f).is_ok_and(|f| f.trim().is_empty()))
        {
            self.rejected
                .push(reject("blank-row", "the row has no values".into()));
            return Ok(());
        }
        let width = layout.width;
        if fields.len() != width {
            let rule = if fields.len() < width {
                "missing-cell"
            } else {
                "extra-cell"
            };
            let message = format!(
                "the row has {} fields, the header has {width}",
                fields.len()
            );
            self.rejected.push(reject(rule, message));
            return Ok(());
        }
        for (c, &src) in layout.order.iter().enumerate() {
            let value = fields[src];
            let view = if value.len() <= View::MAX_INLINE_SIZE as usize {
                View::new_inline(value)
            } else {
                let (buffer, offset) = match origin {
                    Origin::Text(text) => {
                        (IN_TEXT, value.as_ptr() as usize - text.as_ptr() as usize)
                    }
                    Origin::Rebuilt => {
                        self.unquoted.extend_from_slice(value);
                        (IN_UNQUOTED, self.unquoted.len() - value.len())
                    }
                };
                let offset = u32::try_from(offset).map_err(|_| {
                    (
                        line,
                        "a window of the file holds more than 4 GiB of text".to_string(),
                    )
                })?;
                self.uses[c][buffer as usize] = true;
                View::new_from_bytes(value, buffer, offset)
            };
            self.views[c].push(view);
            self.value_bytes[c] += value.len();
        }
        self.rows.push(row);
        self.lines.push(line);
        Ok(())
    }

    /// Take back the last kept row.
    fn pop_row(&mut self) {
        self.rows.pop();
        self.lines.pop();
        for (views, bytes) in self.views.iter_mut().zip(&mut self.value_bytes) {
            if let Some(v) = views.pop() {
                *bytes -= v.length as usize;
            }
        }
    }
}

/// What every chunk of a window needs to know to parse its records.
struct Layout<'a> {
    file_index: u32,
    delimiter: u8,
    quote: u8,
    /// The position of each field asked for among the file's columns.
    order: &'a [usize],
    /// Fields a row must have.
    width: usize,
}

/// Bytes parsed by one thread at a time (MARSAD_CHUNK_BYTES changes it: the tests use tiny
/// chunks to put many boundaries in small files), and bytes read per window: eight chunks, so
/// that both cores have work and a 30-million-row file still costs a few windows of memory.
fn chunk_bytes() -> usize {
    std::env::var("MARSAD_CHUNK_BYTES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(4 << 20)
}

const CHUNKS_PER_WINDOW: usize = 8;
const BOM: &[u8] = b"\xEF\xBB\xBF";

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Read {
        file: path.to_path_buf(),
        source,
    }
}

/// Fill `buf` from `file` up to `target` bytes; false once the file is exhausted.
fn fill(file: &mut std::fs::File, buf: &mut Vec<u8>, target: usize, path: &Path) -> Result<bool> {
    use std::io::Read;
    while buf.len() < target {
        let have = buf.len();
        buf.resize(target, 0);
        let n = file.read(&mut buf[have..]).map_err(read_error(path))?;
        buf.truncate(have + n);
        if n == 0 {
            return Ok(false);
        }
    }
    Ok(true)
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
            rows: 0,
        })
        .collect()
}

/// The end of every record in `bytes` (just after a newline outside quotes), with the number of
/// newlines up to it, given that `bytes` starts at the start of a record.
fn record_ends(bytes: &[u8], quote: u8) -> impl Iterator<Item = (usize, u64)> + '_ {
    let (mut in_quote, mut lines) = (false, 0u64);
    memchr::memchr2_iter(quote, b'\n', bytes).filter_map(move |i| {
        if bytes[i] == quote {
            in_quote = !in_quote;
            return None;
        }
        lines += 1;
        (!in_quote).then_some((i + 1, lines))
    })
}

/// End of the last complete record in `bytes`, with the number of newlines before it.
fn last_record_end(bytes: &[u8], quote: u8) -> Option<(usize, u64)> {
    record_ends(bytes, quote).last()
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

/// A window's bytes, cut at a record boundary, not yet decoded.
struct RawWindow {
    file_index: u32,
    bytes: Vec<u8>,
    /// Decoded already (the first window of a file, whose header is read first).
    text: Option<String>,
    /// Byte offset of the window in the file.
    offset: u64,
    data_start: usize,
    lines_before: u64,
    /// The window ends the file (an unclosed quote there swallowed the rest of the file).
    last: bool,
}

/// How many windows are parsed and processed at the same time: one per thread, at most four,
/// so that memory stays bounded on a large server (each window then uses the threads left).
fn windows_at_once() -> usize {
    rayon::current_num_threads().clamp(1, 4)
}

/// What reading a source came to.
pub enum Read {
    /// Every window was read; the number of records.
    Done(u64),
    /// A file read as UTF-8 turned out not to be, after windows with accented letters had been
    /// read as UTF-8: it is now marked windows-1252, and the source must be read again.
    Again,
}

/// How a window's bytes were decoded under `auto`, to check that a whole file was read one way.
#[derive(Default, Clone, Copy)]
struct Seen {
    utf8_beyond_ascii: bool,
    not_utf8: bool,
}

/// Decode a window (or a whole file): in windows-1252, or as UTF-8 when it is valid UTF-8. Bytes
/// that are not UTF-8 are an error when the dialect declares UTF-8 or the file starts with a
/// byte-order mark, and otherwise (under `auto`) read as windows-1252.
fn decode_window(
    bytes: Vec<u8>,
    encoding: Encoding,
    declared: Encoding,
    bom: bool,
    place: (&Path, u64, u64),
) -> Result<(String, Seen)> {
    let (path, offset, lines_before) = place;
    if encoding != Encoding::Utf8 {
        return Ok((decode_1252(&bytes), Seen::default()));
    }
    match String::from_utf8(bytes) {
        Ok(text) => {
            let seen = Seen {
                utf8_beyond_ascii: !text.is_ascii(),
                not_utf8: false,
            };
            Ok((text, seen))
        }
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let line = lines_before + newlines(&bytes[..at]) + 1;
            let byte = offset + at as u64 + if bom { BOM.len() as u64 } else { 0 };
            let message = if declared == Encoding::Utf8 {
                format!(
                    "the file is declared UTF-8 but byte {byte} (0x{:02X}) is not valid UTF-8\n  hint: set `encoding = \"windows-1252\"` (or `auto`) in the source's [source.dialect], or re-save the file as UTF-8",
                    bytes[at]
                )
            } else if bom {
                format!("the file starts with a UTF-8 byte-order mark but byte {byte} is not valid UTF-8; re-save it as UTF-8")
            } else {
                let seen = Seen {
                    utf8_beyond_ascii: false,
                    not_utf8: true,
                };
                return Ok((decode_1252(&bytes), seen));
            };
            Err(Error::Input {
                file: path.to_path_buf(),
                line: line as usize,
                message,
            })
        }
    }
}

/// The label of an encoding; `auto` starts as UTF-8.
fn label(encoding: Encoding) -> Encoding {
    match encoding {
        Encoding::Utf8 | Encoding::Auto => Encoding::Utf8,
        Encoding::Windows1252 => Encoding::Windows1252,
        // WHATWG (and encoding_rs) read the ISO-8859-1 label as windows-1252, which only
        // differs in the C1 control range that no text file uses.
        Encoding::Iso88591 => Encoding::Iso88591,
    }
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
    let chunk = chunk_bytes();
    let window = chunk.saturating_mul(CHUNKS_PER_WINDOW);
    let dialect = &source.dialect;
    let declared = dialect.encoding;
    let all_fields: Vec<String> = source.schema.field_names().map(String::from).collect();
    let at_once = windows_at_once();
    let mut rows_in = 0u64;
    for (file_index, info) in files.iter_mut().enumerate() {
        let path = info.path.clone();
        let input_error = |line: u64, message: String| Error::Input {
            file: path.clone(),
            line: line as usize,
            message,
        };
        let mut file_rows = 0u64;
        let mut seen = Seen::default();
        let mut encoding = info.encoding;
        let (bytes, sha256) = std::thread::scope(|scope| -> Result<(u64, String)> {
            let (send, receive) = std::sync::mpsc::sync_channel::<Result<RawWindow>>(1);
            let path_ref = &path;
            let reader = scope.spawn(move || {
                read_ahead(path_ref, file_index as u32, window, chunk, dialect, &send)
            });
            // set by the first window: the file column of each field asked for, the row width,
            // whether the file has a byte-order mark
            let mut layout: Option<(Vec<usize>, usize, bool)> = None;
            let mut done = false;
            while !done {
                let mut batch: Vec<RawWindow> = Vec::with_capacity(at_once);
                while !done && batch.len() < at_once {
                    let Ok(raw) = receive.recv() else { break };
                    let mut raw = raw?;
                    if layout.is_none() {
                        let (order, width, bom) =
                            first_window(&mut raw, &mut encoding, &mut seen, source, &all_fields)?;
                        let order = fields
                            .iter()
                            .map(|f| {
                                let i = all_fields
                                    .iter()
                                    .position(|a| a == f)
                                    .expect("a schema field");
                                order[i]
                            })
                            .collect();
                        layout = Some((order, width, bom));
                    }
                    done = raw.last;
                    batch.push(raw);
                }
                if batch.is_empty() {
                    break;
                }
                let (order, width, bom) = layout.as_ref().expect("set by the first window");
                let results: Vec<Result<(T, u64, Seen, u64)>> = batch
                    .into_par_iter()
                    .map(|mut raw| {
                        let started = std::time::Instant::now();
                        let mut s = Seen::default();
                        let text = match raw.text.take() {
                            Some(text) => text,
                            None => {
                                let bytes = std::mem::take(&mut raw.bytes);
                                let place = (path.as_path(), raw.offset, raw.lines_before);
                                let (text, decoded) =
                                    decode_window(bytes, encoding, declared, *bom, place)?;
                                s = decoded;
                                text
                            }
                        };
                        let len = text.len() as u64;
                        let mut w = parse_window(raw, text, chunk, dialect, order, *width, fields)
                            .map_err(|(line, message)| input_error(line, message))?;
                        w.elapsed = started.elapsed();
                        let records = w.records;
                        work(w).map(|t| (t, records, s, len))
                    })
                    .collect();
                for r in results {
                    let (t, records, s, len) = r?;
                    seen.utf8_beyond_ascii |= s.utf8_beyond_ascii;
                    seen.not_utf8 |= s.not_utf8;
                    file_rows += records;
                    advance(len);
                    merge(t)?;
                }
            }
            drop(receive);
            Ok(reader.join().expect("the reading thread does not panic"))
        })?;
        info.sha256 = sha256;
        info.bytes = bytes;
        info.rows = file_rows;
        info.encoding = if seen.not_utf8 {
            Encoding::Windows1252
        } else {
            encoding
        };
        // Under `auto`, a file is UTF-8 only if all of it is: some windows read as UTF-8 with
        // accented letters and another that is not UTF-8 mean the file must be read again.
        if seen.not_utf8 && seen.utf8_beyond_ascii {
            return Ok(Read::Again);
        }
        rows_in += file_rows;
    }
    Ok(Read::Done(rows_in))
}

/// The first window of a file: settle the encoding (under `auto`, windows-1252 as soon as the
/// first window is not UTF-8), decode it and read the header. Returns the position of each
/// schema field in the file's columns, the row width and whether the file has a byte-order mark.
fn first_window(
    raw: &mut RawWindow,
    encoding: &mut Encoding,
    seen: &mut Seen,
    source: &SourcePlan,
    all_fields: &[String],
) -> Result<(Vec<usize>, usize, bool)> {
    let dialect = &source.dialect;
    let path = &source.files[raw.file_index as usize];
    let input_error = |line: u64, message: String| Error::Input {
        file: path.clone(),
        line: line as usize,
        message,
    };
    let bom = raw.bytes.starts_with(BOM);
    if bom {
        raw.bytes.drain(..BOM.len());
    }
    if dialect.encoding == Encoding::Auto
        && !bom
        && *encoding == Encoding::Utf8
        && std::str::from_utf8(&raw.bytes).is_err()
    {
        *encoding = Encoding::Windows1252;
    }
    let bytes = std::mem::take(&mut raw.bytes);
    let (text, s) = decode_window(bytes, *encoding, dialect.encoding, bom, (path, 0, 0))?;
    seen.utf8_beyond_ascii |= s.utf8_beyond_ascii;
    let start = skip_lines(&text, dialect.skip_lines).ok_or_else(|| {
        input_error(
            1,
            format!(
                "the file has fewer than the {} lines that skip_lines says precede the header",
                dialect.skip_lines
            ),
        )
    })?;
    let body = &text[start..];
    if body.trim().is_empty() && raw.last {
        return Err(input_error(
            dialect.skip_lines as u64 + 1,
            "the file is empty: there is no header and no row\n  hint: check that the export finished, or that skip_lines is right".into(),
        ));
    }
    let (order, width, header_end) =
        read_header(path, source, body, all_fields, dialect.skip_lines as u64)?;
    raw.data_start = start + header_end;
    raw.text = Some(text);
    Ok((order, width, bom))
}

/// The reading thread: cut the file into windows at record boundaries, checksum every byte,
/// and send the windows on. Returns the file's size and SHA-256.
fn read_ahead(
    path: &Path,
    file_index: u32,
    window: usize,
    chunk: usize,
    dialect: &Dialect,
    send: &std::sync::mpsc::SyncSender<Result<RawWindow>>,
) -> (u64, String) {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let outcome = (|| -> Result<()> {
        let mut file = std::fs::File::open(path).map_err(read_error(path))?;
        let mut buf: Vec<u8> = Vec::with_capacity(window + chunk);
        let mut lines_before = 0u64;
        let mut first = true;
        let mut more = true;
        while more {
            let mut target = window.max(buf.len() + chunk);
            let (cut, lines) = loop {
                let have = buf.len();
                more = fill(&mut file, &mut buf, target, path)?;
                hasher.update(&buf[have..]);
                total += (buf.len() - have) as u64;
                let cut = if more {
                    last_record_end(&buf, dialect.quote)
                } else {
                    Some((buf.len(), newlines(&buf)))
                };
                // the first window must hold the lines to skip and the header
                match cut {
                    Some((c, lines)) if !more || !first || lines > dialect.skip_lines as u64 => {
                        break (c, lines)
                    }
                    _ => target = target.saturating_mul(2),
                }
            };
            let rest = buf.split_off(cut);
            let bytes = std::mem::replace(&mut buf, rest);
            let raw = RawWindow {
                file_index,
                bytes,
                text: None,
                offset: total - (buf.len() + cut) as u64,
                data_start: 0,
                lines_before,
                last: !more,
            };
            if send.send(Ok(raw)).is_err() {
                return Ok(());
            }
            lines_before += lines;
            first = false;
        }
        Ok(())
    })();
    if let Err(e) = outcome {
        // the main thread learns of it in turn, after the windows before it
        let _ = send.send(Err(e));
    }
    (total, crate::hex(&hasher.finalize()))
}

/// Parse a window's records in chunks on several threads, into one frame numbered from 0.
fn parse_window(
    raw: RawWindow,
    text: String,
    chunk: usize,
    dialect: &Dialect,
    order: &[usize],
    width: usize,
    fields: &[String],
) -> std::result::Result<Window, (u64, String)> {
    let text = polars_buffer::Buffer::from(text.into_bytes());
    let bytes = text.as_slice();
    let bounds = chunk_bounds(bytes, raw.data_start.min(bytes.len()), dialect.quote, chunk);
    let spans: Vec<(usize, usize, u64, bool)> = bounds
        .iter()
        .enumerate()
        .map(|(i, (from, lines))| {
            let to = bounds.get(i + 1).map_or(bytes.len(), |b| b.0);
            (*from, to, *lines, raw.last && i + 1 == bounds.len())
        })
        .collect();
    let layout = Layout {
        file_index: raw.file_index,
        delimiter: dialect.delimiter,
        quote: dialect.quote,
        order,
        width,
    };
    let chunks: Vec<Chunk> = spans
        .par_iter()
        .map(|&(from, to, lines, last)| {
            parse_chunk(bytes, from..to, raw.lines_before + lines, last, &layout)
        })
        .collect::<std::result::Result<_, _>>()?;
    let records = chunks.iter().map(|c| c.records).sum();
    let (frame, rejected) = assemble(chunks, &text, raw.file_index, fields)
        .map_err(|e| (raw.lines_before + 1, e.to_string()))?;
    Ok(Window {
        frame,
        rejected,
        records,
        elapsed: std::time::Duration::ZERO,
    })
}

/// Join a window's chunks into one frame, rows numbered from 0 in record order, with the file
/// index. Each text column is one string-view array over the window's text and the chunks'
/// unquoted values, holding only the buffers it points into.
fn assemble(
    mut chunks: Vec<Chunk>,
    text: &polars_buffer::Buffer<u8>,
    file_index: u32,
    fields: &[String],
) -> PolarsResult<(DataFrame, Vec<Rejection>)> {
    let height: usize = chunks.iter().map(|c| c.rows.len()).sum();
    let (mut rows, mut lines) = (Vec::with_capacity(height), Vec::with_capacity(height));
    let mut rejected = Vec::new();
    let mut next_row = 0u64;
    let mut unquoted = Vec::with_capacity(chunks.len());
    for c in &mut chunks {
        unquoted.push(polars_buffer::Buffer::from(std::mem::take(&mut c.unquoted)));
        rows.extend(c.rows.iter().map(|r| r + next_row));
        lines.extend_from_slice(&c.lines);
        rejected.extend(c.rejected.drain(..).map(|mut r| {
            r.row += next_row;
            r
        }));
        next_row += c.records;
    }
    let mut columns = Vec::with_capacity(fields.len() + 3);
    for (f, name) in fields.iter().enumerate() {
        let mut buffers: Vec<polars_buffer::Buffer<u8>> = Vec::new();
        let mut text_at = None;
        let mut views = Vec::with_capacity(height);
        let mut value_bytes = 0;
        for (c, extra) in chunks.iter().zip(&unquoted) {
            let [in_text, in_unquoted] = c.uses[f];
            let mut index = |buffer: &polars_buffer::Buffer<u8>| {
                buffers.push(buffer.clone());
                buffers.len() as u32 - 1
            };
            let text_index = match (in_text, text_at) {
                (false, _) => 0,
                (true, Some(i)) => i,
                (true, None) => *text_at.insert(index(text)),
            };
            let extra_index = if in_unquoted { index(extra) } else { 0 };
            views.extend(c.views[f].iter().map(|v| {
                let mut v = *v;
                if v.length > View::MAX_INLINE_SIZE {
                    v.buffer_idx = if v.buffer_idx == IN_TEXT {
                        text_index
                    } else {
                        extra_index
                    };
                }
                v
            }));
            value_bytes += c.value_bytes[f];
        }
        // SAFETY: every view was made from a value that lies, as UTF-8, in the buffer it points
        // to (the window's text, or the chunk's unquoted values), at the offset it records;
        // buffers are renumbered above together with the views.
        let column =
            unsafe { crate::text::column_of_views(name, views, buffers, None, value_bytes) };
        columns.push(column.into_column());
    }
    columns.push(Column::new(ROW.into(), rows));
    columns.push(Column::new(LINE.into(), lines));
    columns.push(Column::new(FILE.into(), vec![file_index; height]));
    Ok((DataFrame::new_infer_height(columns)?, rejected))
}

/// Read the header (when the dialect has one) at the start of `body`: the position of each
/// schema field in the file's columns, how many fields a row must have, and where the data
/// begins in `body`.
fn read_header(
    path: &Path,
    source: &SourcePlan,
    body: &str,
    field_names: &[String],
    line_offset: u64,
) -> Result<(Vec<usize>, usize, usize)> {
    let dialect = &source.dialect;
    if !dialect.header {
        return Ok(((0..field_names.len()).collect(), field_names.len(), 0));
    }
    let input_error = |message: String| Error::Input {
        file: path.to_path_buf(),
        line: line_offset as usize + 1,
        message,
    };
    let mut r = csv::ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .quote(dialect.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes());
    let mut header = csv::StringRecord::new();
    match r.read_record(&mut header) {
        Ok(true) => {}
        Ok(false) => return Err(input_error("the file has no header row".into())),
        Err(e) => return Err(input_error(format!("cannot read the header: {e}"))),
    }
    let order = match_header(path, &source.schema.path, &header, field_names)?;
    Ok((order, header.len(), r.position().byte() as usize))
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

fn decode_1252(bytes: &[u8]) -> String {
    encoding_rs::WINDOWS_1252
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
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
    let before = newlines(&body[..start]);
    let mut bounds = vec![(start, before)];
    let mut next = start + target;
    for (end, lines) in record_ends(&body[start..], quote) {
        let (end, lines) = (start + end, before + lines);
        if end >= next && end < body.len() {
            bounds.push((end, lines));
            next = end + target;
        }
    }
    bounds
}

/// Parse one chunk of records, `span` of the window's `text`. Errors are (line, message).
fn parse_chunk(
    text: &[u8],
    span: std::ops::Range<usize>,
    lines_before: u64,
    last: bool,
    layout: &Layout,
) -> std::result::Result<Chunk, (u64, String)> {
    let bytes = &text[span.clone()];
    let estimate = bytes.len() / 64 + 16;
    // Most records hold no quote: a record is then a line, and its fields are cut at each
    // delimiter, which is much less work than the CSV reader's state machine. A record with a
    // quote is handed to the CSV reader on its own, which costs far more than reading a whole
    // chunk with it: past one quote in a kilobyte (a file whose fields are all quoted), the
    // chunk goes to the CSV reader whole. So does the last chunk of a file when it holds a
    // quote, to catch a quote never closed.
    let line_end = [b'\r', b'\n'];
    let quotes = memchr::memchr_iter(layout.quote, bytes).count();
    let plain = !line_end.contains(&layout.delimiter)
        && !line_end.contains(&layout.quote)
        && quotes <= bytes.len() / 1024
        && (!last || quotes == 0);
    if plain {
        if let Some(chunk) = parse_plain(text, span.clone(), lines_before, layout, estimate)? {
            return Ok(chunk);
        }
    }
    parse_csv(text, span, lines_before, last, layout, estimate)
}

/// Parse a chunk with the CSV reader, which handles quotes.
fn parse_csv(
    text: &[u8],
    span: std::ops::Range<usize>,
    lines_before: u64,
    last: bool,
    layout: &Layout,
    estimate: usize,
) -> std::result::Result<Chunk, (u64, String)> {
    let bytes = &text[span];
    let mut chunk = Chunk::new(layout.order.len(), estimate);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(layout.delimiter)
        .quote(layout.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut last_record: Option<(u64, usize)> = None;
    let (mut counted_lines, mut counted_to) = (lines_before, 0usize);
    loop {
        match reader.read_byte_record(&mut record) {
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
        last_record = Some((line, pos.byte() as usize));
        let fields: Vec<&[u8]> = record.iter().collect();
        chunk.record(&fields, Origin::Rebuilt, line, layout)?;
    }
    // A quote that is opened and never closed swallows the rest of the file into one field;
    // an odd number of quote characters in the last record is the tell-tale.
    if let (true, Some((line, byte))) = (last, last_record) {
        let quotes = bytes[byte..].iter().filter(|b| **b == layout.quote).count();
        if quotes % 2 == 1 {
            let row = chunk.records - 1;
            if chunk.rows.last() == Some(&row) {
                chunk.pop_row();
            }
            chunk.rejected.retain(|r| r.row != row);
            chunk.rejected.push(Rejection {
                row,
                file: layout.file_index,
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
    Ok(chunk)
}

/// Parse a chunk line by line, as the CSV reader would read it (empty lines skipped, `\r\n` or
/// `\n` endings); a line with a quote is handed to the CSV reader for that one record, which
/// may run over several lines. `None` when a line holds a lone `\r` outside such a record: the
/// CSV reader takes it for the end of a record, and the chunk is left to it.
fn parse_plain(
    text: &[u8],
    span: std::ops::Range<usize>,
    lines_before: u64,
    layout: &Layout,
    estimate: usize,
) -> std::result::Result<Option<Chunk>, (u64, String)> {
    let mut chunk = Chunk::new(layout.order.len(), estimate);
    let mut fields: Vec<&[u8]> = Vec::with_capacity(layout.width + 1);
    let mut record = csv::ByteRecord::new();
    // newlines between the start of the chunk and `at`
    let mut newlines_before = 0u64;
    let mut at = span.start;
    while at < span.end {
        let end = memchr::memchr(b'\n', &text[at..span.end]).map_or(span.end, |i| at + i);
        let line = lines_before + newlines_before + 1;
        let mut content = &text[at..end];
        if let [rest @ .., b'\r'] = content {
            content = rest;
        }
        if content.is_empty() {
            at = end + 1;
            newlines_before += 1;
            continue;
        }
        if memchr::memchr(layout.quote, content).is_some() {
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(layout.delimiter)
                .quote(layout.quote)
                .has_headers(false)
                .flexible(true)
                .from_reader(&text[at..span.end]);
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err((line, format!("CSV error: {e}"))),
            }
            let fields: Vec<&[u8]> = record.iter().collect();
            chunk.record(&fields, Origin::Rebuilt, line, layout)?;
            let consumed = reader.position().byte() as usize;
            newlines_before += newlines(&text[at..at + consumed]);
            at += consumed;
            continue;
        }
        if memchr::memchr(b'\r', content).is_some() {
            return Ok(None);
        }
        fields.clear();
        let mut from = 0;
        for i in memchr::memchr_iter(layout.delimiter, content) {
            fields.push(&content[from..i]);
            from = i + 1;
        }
        fields.push(&content[from..]);
        chunk.record(&fields, Origin::Text(text), line, layout)?;
        at = end + 1;
        newlines_before += 1;
    }
    Ok(Some(chunk))
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

fn joined(fields: &[&[u8]], delimiter: u8) -> String {
    String::from_utf8_lossy(&fields.join(&[delimiter][..])).into_owned()
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

    #[test]
    fn chunks_start_on_records_outside_quotes() {
        let body = b"h1,h2\na,1\n\"b\nb\",2\nc,3\n";
        // a boundary every byte if allowed: only the starts of records outside quotes qualify
        let bounds = chunk_bounds(body, 6, b'"', 1);
        assert_eq!(bounds, vec![(6, 1), (10, 2), (18, 4)]);
    }

    /// The values of a chunk's kept rows, field by field, with its rows, lines and rejections.
    fn contents(chunk: &Chunk, text: &[u8]) -> (Vec<Vec<String>>, Vec<u64>, Vec<u64>, Vec<String>) {
        let value = |v: &View| {
            let bytes = if v.length <= View::MAX_INLINE_SIZE {
                v.get_inlined_slice().unwrap().to_vec()
            } else if v.buffer_idx == IN_TEXT {
                text[v.offset as usize..][..v.length as usize].to_vec()
            } else {
                chunk.unquoted[v.offset as usize..][..v.length as usize].to_vec()
            };
            String::from_utf8(bytes).unwrap()
        };
        let rejected = chunk
            .rejected
            .iter()
            .map(|r| format!("{} {} {} {:?}", r.row, r.line, r.rule, r.raw_value))
            .collect();
        (
            chunk
                .views
                .iter()
                .map(|c| c.iter().map(value).collect())
                .collect(),
            chunk.rows.clone(),
            chunk.lines.clone(),
            rejected,
        )
    }

    #[test]
    fn records_cut_at_lines_are_read_as_the_csv_reader_reads_them() {
        let layout = Layout {
            file_index: 0,
            delimiter: b';',
            quote: b'"',
            order: &[2, 0],
            width: 3,
        };
        let text = "head;er;x\r\na;b;Casablanca-Settat\r\n\r\n\n ; ;\nc;d\n;;\ne;f;g;h\ni;j\nk;l;Fès-Meknès et plus\n\
                    \"q\";\"r\r\n\"\"s\"\"\";\"long value, quoted\"\r\nm;n;o\r\nt;u\"v;w\"\nx;y;z";
        let bytes = text.as_bytes();
        let span = 11..bytes.len();
        let plain = parse_plain(bytes, span.clone(), 1, &layout, 4)
            .unwrap()
            .unwrap();
        let csv = parse_csv(bytes, span, 1, true, &layout, 4).unwrap();
        let got = contents(&plain, bytes);
        assert_eq!(got, contents(&csv, bytes));
        assert_eq!(
            got.0,
            vec![
                vec![
                    "Casablanca-Settat".to_string(),
                    "Fès-Meknès et plus".into(),
                    "long value, quoted".into(),
                    "o".into(),
                    "w\"".into(),
                    "z".into()
                ],
                vec![
                    "a".to_string(),
                    "k".into(),
                    "q".into(),
                    "m".into(),
                    "t".into(),
                    "x".into()
                ]
            ]
        );
        assert_eq!(
            (got.1, got.2),
            (vec![0, 6, 7, 8, 9, 10], vec![2, 10, 11, 13, 14, 15])
        );
        assert_eq!(got.3[0], "1 5 blank-row Some(\" ; ;\")");
        assert_eq!(got.3.len(), 5, "{:?}", got.3);
        // a lone carriage return ends a record for the CSV reader: the plain reader gives way
        let lone = b"a;b;c\rd;e;f\n";
        assert!(parse_plain(lone, 0..lone.len(), 0, &layout, 4)
            .unwrap()
            .is_none());
        let chunk = parse_chunk(lone, 0..lone.len(), 0, true, &layout).unwrap();
        assert_eq!(chunk.rows.len(), 2);
    }

    #[test]
    fn skips_preamble_lines() {
        assert_eq!(skip_lines("a\nb\nc", 2), Some(4));
        assert_eq!(skip_lines("a", 2), None);
    }
}
