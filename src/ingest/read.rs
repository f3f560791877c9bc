//! Reading a file in windows: a thread reads ahead, checksums every byte and cuts the bytes at
//! record ends; the windows are decoded, parsed and worked on a few at a time.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender};

use rayon::prelude::*;

use super::decode::{decode_window, Seen};
use super::header::first_window;
use super::parse::parse_window;
use super::stream;
use super::SheetPlace;
use super::Window;
use crate::error::{Error, Result};
use crate::quarantine::SheetCells;
use crate::spec::{Encoding, SourcePlan};
use std::sync::Arc;

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

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Read {
        file: path.to_path_buf(),
        source,
    }
}

/// Fill `buf` from `file` up to `target` bytes; false once the file is exhausted. The buffer
/// grows a mebibyte at a time, so that a small file does not zero a whole window's memory.
fn fill(
    file: &mut dyn std::io::Read,
    buf: &mut Vec<u8>,
    target: usize,
    path: &Path,
) -> Result<bool> {
    while buf.len() < target {
        let have = buf.len();
        buf.resize(target.min(have + (1 << 20)), 0);
        let n = file.read(&mut buf[have..]).map_err(read_error(path))?;
        buf.truncate(have + n);
        if n == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The end of every record in `bytes` (just after a newline outside quotes), with the number of
/// newlines up to it, given that `bytes` starts at the start of a record.
pub(super) fn record_ends(bytes: &[u8], quote: u8) -> impl Iterator<Item = (usize, u64)> + '_ {
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

pub(super) fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// A window's bytes, cut at a record boundary, not yet decoded.
pub(super) struct RawWindow {
    pub(super) file_index: u32,
    pub(super) bytes: Vec<u8>,
    /// Decoded already (the first window of a file, whose header is read first).
    pub(super) text: Option<String>,
    /// Byte offset of the window in the file.
    pub(super) offset: u64,
    pub(super) data_start: usize,
    pub(super) lines_before: u64,
    /// The window ends the file (an unclosed quote there swallowed the rest of the file).
    pub(super) last: bool,
    /// The file's sheet, when it is a spreadsheet (on the first window only).
    pub(super) sheet: Option<Arc<SheetPlace>>,
}

/// How many windows are parsed and processed at the same time: one per thread, at most four,
/// so that memory stays bounded on a large server (each window then uses the threads left).
fn windows_at_once() -> usize {
    rayon::current_num_threads().clamp(1, 4)
}

/// What every file of a source is read with: the fields asked for, and the sizes of chunks,
/// windows and batches of windows.
pub(super) struct Reading<'a> {
    source: &'a SourcePlan,
    fields: &'a [String],
    /// Every schema field, in schema order: the header is matched against them.
    all_fields: Vec<String>,
    chunk: usize,
    window: usize,
    at_once: usize,
}

impl<'a> Reading<'a> {
    pub(super) fn new(source: &'a SourcePlan, fields: &'a [String]) -> Reading<'a> {
        let chunk = chunk_bytes();
        Reading {
            source,
            fields,
            all_fields: source.schema.field_names().map(String::from).collect(),
            chunk,
            window: chunk.saturating_mul(CHUNKS_PER_WINDOW),
            at_once: windows_at_once(),
        }
    }
}

/// The window for a file of `len` bytes: the file is cut into a multiple of the windows worked
/// on at once (`at_once`), as even as the largest window allows, so that no batch of windows
/// leaves a thread idle (a 70 MB file in 32 MiB windows was two windows side by side, then one
/// alone: 0.57 s -> 0.46 s and 500 -> 350 MiB for `validate --schema` on 1M rows); at least
/// 1 MiB each.
fn window_for(len: u64, largest: usize, at_once: usize) -> usize {
    let windows = len
        .div_ceil(largest.max(1) as u64)
        .max(1)
        .next_multiple_of(at_once.max(1) as u64);
    let share = usize::try_from(len / windows + 1).unwrap_or(usize::MAX);
    share.max(1 << 20).min(largest)
}

/// What reading one file came to: its size and checksum, its records, the encoding it was read
/// in and how its windows decoded.
pub(super) struct FileRead {
    pub(super) bytes: u64,
    pub(super) sha256: String,
    pub(super) rows: u64,
    pub(super) encoding: Encoding,
    pub(super) gzip: bool,
    /// Physical lines of text, header and skipped lines included.
    pub(super) lines: u64,
    pub(super) seen: Seen,
    /// For a spreadsheet: the sheet read.
    pub(super) sheet: Option<String>,
    /// For a dataset: its value labels.
    pub(super) value_labels: Vec<crate::books::LabelledVariable>,
}

/// Set by the first window of a file: the file column of each field asked for, the row width,
/// whether the file has a byte-order mark, and for a spreadsheet where each schema field is on
/// its sheet (for the quarantine's cell names).
type FileColumns = (Vec<usize>, usize, bool, Option<Arc<SheetCells>>);

/// Read one file, starting in `encoding`: the reading thread reads ahead and checksums the
/// bytes while windows are decoded, parsed and worked on `at_once` at a time; `merge` receives
/// the results one by one in file order.
pub(super) fn read_file<T: Send>(
    reading: &Reading,
    file_index: usize,
    path: &Path,
    encoding: Encoding,
    advance: &dyn Fn(u64),
    work: &(impl Fn(Window) -> Result<T> + Sync),
    merge: &mut impl FnMut(T) -> Result<()>,
) -> Result<FileRead> {
    let layers = stream::sniff(path, reading.source.dialect.encoding)?;
    let mut file = FileRead {
        bytes: 0,
        sha256: String::new(),
        rows: 0,
        encoding: layers.utf16.unwrap_or(encoding),
        gzip: layers.gzip,
        lines: 0,
        seen: Seen::default(),
        sheet: None,
        value_labels: Vec::new(),
    };
    // A UTF-16 file reaches the windows as UTF-8.
    let mut text_encoding = layers.text_encoding().unwrap_or(encoding);
    let mut layout: Option<FileColumns> = None;
    let (bytes, sha256, lines, labels) = std::thread::scope(|scope| -> Result<Ahead> {
        let (send, receive) = std::sync::mpsc::sync_channel::<Result<RawWindow>>(1);
        let len = std::fs::metadata(path).map_or(u64::MAX, |m| m.len());
        let (window, chunk, source) = (
            window_for(len, reading.window, reading.at_once),
            reading.chunk,
            reading.source,
        );
        let reader = scope.spawn(move || {
            read_ahead(
                path,
                layers,
                file_index as u32,
                (window, chunk),
                source,
                &send,
            )
        });
        let mut done = false;
        while !done {
            let batch = next_batch(
                &receive,
                reading,
                &mut text_encoding,
                &mut file.seen,
                &mut layout,
                &mut done,
            )?;
            if batch.is_empty() {
                break;
            }
            let columns = layout.as_ref().expect("set by the first window");
            let encoding = text_encoding;
            let results: Vec<Result<(T, u64, Seen, u64)>> = batch
                .into_par_iter()
                .map(|raw| run_window(raw, reading, path, encoding, columns, work))
                .collect();
            for r in results {
                let (t, records, s, len) = r?;
                file.seen.utf8_beyond_ascii |= s.utf8_beyond_ascii;
                file.seen.not_utf8 |= s.not_utf8;
                file.rows += records;
                advance(len);
                merge(t)?;
            }
        }
        drop(receive);
        Ok(reader.join().expect("the reading thread does not panic"))
    })?;
    file.bytes = bytes;
    file.sha256 = sha256;
    file.value_labels = labels;
    file.lines = lines;
    file.sheet = layout.and_then(|l| l.3).map(|cells| cells.sheet.clone());
    if layers.utf16.is_none() {
        file.encoding = text_encoding;
    }
    Ok(file)
}

/// Receive the next windows, up to `at_once`; `done` is set by the file's last window. The
/// first window of the file settles the encoding and reads the header, which sets `layout`.
fn next_batch(
    receive: &Receiver<Result<RawWindow>>,
    reading: &Reading,
    encoding: &mut Encoding,
    seen: &mut Seen,
    layout: &mut Option<FileColumns>,
    done: &mut bool,
) -> Result<Vec<RawWindow>> {
    let mut batch: Vec<RawWindow> = Vec::with_capacity(reading.at_once);
    while !*done && batch.len() < reading.at_once {
        let Ok(raw) = receive.recv() else { break };
        let mut raw = raw?;
        if layout.is_none() {
            let (order, width, bom) = first_window(
                &mut raw,
                encoding,
                seen,
                reading.source,
                &reading.all_fields,
            )?;
            let cells = raw
                .sheet
                .as_ref()
                .map(|place| sheet_cells(place, raw.file_index, &reading.all_fields, &order));
            let order = reading
                .fields
                .iter()
                .map(|f| {
                    let i = reading
                        .all_fields
                        .iter()
                        .position(|a| a == f)
                        .expect("a schema field");
                    order[i]
                })
                .collect();
            *layout = Some((order, width, bom, cells));
        }
        *done = raw.last;
        batch.push(raw);
    }
    Ok(batch)
}

/// Decode a window (the first of a file is decoded already, with its header), parse it and run
/// `work` on it. Returns the result, the window's records, how its bytes decoded and the bytes
/// of text it held.
fn run_window<T>(
    mut raw: RawWindow,
    reading: &Reading,
    path: &Path,
    encoding: Encoding,
    columns: &FileColumns,
    work: &impl Fn(Window) -> Result<T>,
) -> Result<(T, u64, Seen, u64)> {
    let started = std::time::Instant::now();
    let (order, width, bom, cells) = columns;
    let dialect = &reading.source.dialect;
    let mut s = Seen::default();
    let text = match raw.text.take() {
        Some(text) => text,
        None => {
            let bytes = std::mem::take(&mut raw.bytes);
            let place = (path, raw.offset, raw.lines_before);
            let (text, decoded) = decode_window(bytes, encoding, dialect.encoding, *bom, place)?;
            s = decoded;
            text
        }
    };
    let len = text.len() as u64;
    let mut w = parse_window(
        raw,
        text,
        reading.chunk,
        dialect,
        order,
        *width,
        reading.fields,
    )
    .map_err(|(line, message)| Error::Input {
        file: path.to_path_buf(),
        line: line as usize,
        message,
    })?;
    w.elapsed = started.elapsed();
    w.sheet = cells.clone();
    let records = w.records;
    work(w).map(|t| (t, records, s, len))
}

/// Where each schema field is on a spreadsheet's sheet: the file column the header gave it,
/// shifted to the sheet's first column.
fn sheet_cells(
    place: &SheetPlace,
    file: u32,
    fields: &[String],
    order: &[usize],
) -> Arc<SheetCells> {
    let columns = fields
        .iter()
        .zip(order)
        .filter(|(_, c)| **c != super::header::ABSENT)
        .map(|(f, c)| (f.clone(), place.first_column + *c as u32))
        .collect();
    Arc::new(SheetCells {
        file,
        sheet: place.name.clone(),
        columns,
    })
}

/// What the reading thread found: the file's size, SHA-256, lines of text, and for a dataset
/// its value labels.
type Ahead = (u64, String, u64, Vec<crate::books::LabelledVariable>);

/// The reading thread: cut the file into windows at record boundaries, checksum every byte,
/// and send the windows on.
fn read_ahead(
    path: &Path,
    layers: stream::Layers,
    file_index: u32,
    (window, chunk): (usize, usize),
    source: &SourcePlan,
    send: &SyncSender<Result<RawWindow>>,
) -> Ahead {
    let dialect = &source.dialect;
    let mut labels = Vec::new();
    use sha2::{Digest, Sha256};
    let tally: stream::Tally = std::rc::Rc::new(std::cell::RefCell::new((Sha256::new(), 0)));
    // Bytes of text read (after inflating and transcoding), for the windows' offsets.
    let mut total = 0u64;
    let mut all_lines = 0u64;
    let outcome = (|| -> Result<()> {
        let opened = stream::open(path, layers, &tally, source)?;
        // the sheet goes with the first window, whose header places the fields on it
        let mut place = opened.sheet.map(Arc::new);
        labels = opened.value_labels;
        let mut file = opened.text;
        let mut buf: Vec<u8> = Vec::with_capacity(window + chunk);
        let mut lines_before = opened.lines_above;
        all_lines = lines_before;
        let mut first = true;
        let mut more = true;
        while more {
            let mut target = window.max(buf.len() + chunk);
            let (cut, lines) = loop {
                let have = buf.len();
                more = fill(&mut *file, &mut buf, target, path)?;
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
            let unended = !bytes.is_empty() && !bytes.ends_with(b"\n");
            let raw = RawWindow {
                file_index,
                bytes,
                text: None,
                offset: total - (buf.len() + cut) as u64,
                data_start: 0,
                lines_before,
                last: !more,
                sheet: place.take(),
            };
            if send.send(Ok(raw)).is_err() {
                return Ok(());
            }
            lines_before += lines;
            all_lines = lines_before;
            // a last line without a line end is a line too
            if !more && unended {
                all_lines += 1;
            }
            first = false;
        }
        Ok(())
    })();
    if let Err(e) = outcome {
        // the main thread learns of it in turn, after the windows before it
        let _ = send.send(Err(e));
    }
    let (hasher, bytes) = std::rc::Rc::try_unwrap(tally)
        .map(|t| t.into_inner())
        .unwrap_or_else(|shared| shared.borrow().clone());
    (bytes, crate::hex(&hasher.finalize()), all_lines, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_cut_into_a_multiple_of_the_windows_at_once() {
        const MIB: usize = 1 << 20;
        let window = 32 * MIB;
        let count = |len: u64, at_once| len.div_ceil(window_for(len, window, at_once) as u64);
        // 70 MB: four windows for two threads, not three
        assert_eq!(count(70_000_000, 2), 4);
        // 704 MB: 22 windows (an even number already), each just under the largest
        assert_eq!(count(704_000_000, 2), 22);
        // a small file: one window per thread, but never under 1 MiB
        assert_eq!(count(7_000_000, 2), 2);
        assert_eq!(window_for(100_000, window, 2), MIB);
        // never above the largest window, even when the size is unknown
        assert_eq!(window_for(u64::MAX, window, 4), window);
        assert_eq!(count(10 * window as u64, 4), 12);
    }
}
