//! Parsing a window's text into columns: chunks on several threads, each cut at lines (the fast
//! path) or read with the CSV reader, joined into string-view columns over the text.

use polars::prelude::*;
use polars_arrow::array::View;
use rayon::prelude::*;

use super::read::{newlines, record_ends, RawWindow};
use super::Window;
use crate::quarantine::{Rejection, BROKEN, FILE, LINE, ROW};
use crate::spec::Dialect;
use crate::vocab::Rule;

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
    /// Records with many line breaks inside their fields: (line, lines they span).
    long: Vec<(u64, u64)>,
    /// Per kept row: whether it has too few or too many fields (it is kept so that its
    /// cells are checked too, then set apart).
    broken: Vec<bool>,
    /// Cells a short row does not have: (kept row, field); they read as null.
    absent: Vec<(usize, usize)>,
}

/// Line breaks inside one record's fields from which the record is reported as a probable
/// stray quote: a comment or an address holds a few; a quote opened by mistake swallows
/// every line up to the next quote.
pub const LONG_RECORD_BREAKS: u64 = 20;

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
            long: Vec::new(),
            broken: Vec::with_capacity(estimate),
            absent: Vec::new(),
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
        let reject = |rule: Rule, message: String| Rejection {
            row,
            file: layout.file_index,
            line,
            column: None,
            raw_value: Some(joined(fields, layout.delimiter)),
            rule,
            message,
        };
        if fields
            .iter()
            .all(|f| std::str::from_utf8(f).is_ok_and(|f| f.trim().is_empty()))
        {
            let message = if fields.is_empty() {
                "the line is empty"
            } else {
                "the row has no values"
            };
            self.rejected.push(reject(Rule::BlankRow, message.into()));
            return Ok(());
        }
        let width = layout.width;
        let broken = fields.len() != width;
        if broken {
            let rule = if fields.len() < width {
                Rule::MissingCell
            } else {
                Rule::ExtraCell
            };
            let message = format!(
                "the row has {} fields, the header has {width}",
                fields.len()
            );
            self.rejected.push(reject(rule, message));
        }
        for (c, &src) in layout.order.iter().enumerate() {
            // A field the file does not have (fieldsMatch superset or partial) reads as empty;
            // a cell a short row lacks is absent (null): `missing-cell` has said so already.
            let value = match fields.get(src) {
                Some(value) => *value,
                None if src == super::header::ABSENT => b"",
                None => {
                    self.absent.push((self.rows.len(), c));
                    b""
                }
            };
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
        self.broken.push(broken);
        Ok(())
    }

    /// Note a record whose fields hold many line breaks (quoted, so the CSV reader read it).
    fn note_long(&mut self, fields: &[&[u8]], line: u64) {
        // the line end that closes a file inside an unclosed quote is no break between lines
        let closing = u64::from(fields.last().is_some_and(|f| f.ends_with(b"\n")));
        let breaks: u64 = fields.iter().map(|f| newlines(f)).sum::<u64>() - closing;
        if breaks >= LONG_RECORD_BREAKS {
            self.long.push((line, breaks + 1));
        }
    }

    /// Take back the last kept row.
    fn pop_row(&mut self) {
        let kept = self.rows.len().saturating_sub(1);
        self.absent.retain(|(row, _)| *row != kept);
        self.broken.pop();
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

/// Parse a window's records in chunks on several threads, into one frame numbered from 0.
pub(super) fn parse_window(
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
    let long_records = chunks
        .iter()
        .flat_map(|c| {
            c.long
                .iter()
                .map(|(line, lines)| (raw.file_index, *line, *lines))
        })
        .collect();
    let (frame, rejected) = assemble(chunks, &text, raw.file_index, fields)
        .map_err(|e| (raw.lines_before + 1, e.to_string()))?;
    Ok(Window {
        frame,
        rejected,
        records,
        long_records,
        elapsed: std::time::Duration::ZERO,
        sheet: None,
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
    let mut broken = Vec::with_capacity(height);
    // absent cells by field, as positions in the window's kept rows
    let mut absent: Vec<Vec<usize>> = vec![Vec::new(); fields.len()];
    for c in &mut chunks {
        for (row, field) in &c.absent {
            absent[*field].push(broken.len() + row);
        }
        broken.extend_from_slice(&c.broken);
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
        let validity = (!absent[f].is_empty()).then(|| {
            let mut valid = vec![true; height];
            for row in &absent[f] {
                valid[*row] = false;
            }
            polars_arrow::bitmap::Bitmap::from_iter(valid)
        });
        let column =
            unsafe { crate::text::column_of_views(name, views, buffers, validity, value_bytes) };
        columns.push(column.into_column());
    }
    columns.push(Column::new(ROW.into(), rows));
    columns.push(Column::new(LINE.into(), lines));
    columns.push(Column::new(FILE.into(), vec![file_index; height]));
    columns.push(Column::new(BROKEN.into(), broken));
    Ok((DataFrame::new_infer_height(columns)?, rejected))
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
    // The CSV reader skips empty lines; they are rows of the file all the same.
    let mut blank = blank_lines(bytes, layout.quote, lines_before).peekable();
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
        while let Some(empty) = blank.next_if(|l| *l < line) {
            chunk.record(&[], Origin::Rebuilt, empty, layout)?;
        }
        last_record = Some((line, pos.byte() as usize));
        let fields: Vec<&[u8]> = record.iter().collect();
        chunk.note_long(&fields, line);
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
                rule: Rule::UnterminatedQuote,
                message: format!(
                    "a quoted field opened on line {line} is never closed, so the rest of the file was read as one value; close the quote or remove it"
                ),
            });
        }
    }
    for empty in blank {
        chunk.record(&[], Origin::Rebuilt, empty, layout)?;
    }
    Ok(chunk)
}

/// The numbers of the empty lines of `bytes` (nothing, or a lone `\r`, between two line ends),
/// outside quoted fields; `bytes` starts a record, after `lines_before` lines.
fn blank_lines(bytes: &[u8], quote: u8, lines_before: u64) -> impl Iterator<Item = u64> + '_ {
    let (mut in_quote, mut line, mut start) = (false, lines_before + 1, 0usize);
    memchr::memchr2_iter(quote, b'\n', bytes).filter_map(move |i| {
        if bytes[i] == quote {
            in_quote = !in_quote;
            return None;
        }
        let (this, empty) = (line, matches!(&bytes[start..i], [] | [b'\r']));
        line += 1;
        start = i + 1;
        (!in_quote && empty).then_some(this)
    })
}

/// Parse a chunk line by line, as the CSV reader would read it (but an empty line is a blank row), `\r\n` or
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
            chunk.record(&[], Origin::Text(text), line, layout)?;
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
            chunk.note_long(&fields, line);
            chunk.record(&fields, Origin::Rebuilt, line, layout)?;
            let consumed = reader.position().byte() as usize;
            newlines_before += newlines(&text[at..at + consumed]);
            at += consumed;
            // The reader ends a record at the `\r` of a `\r\n`: its `\n` is no empty line.
            if text[..at].ends_with(b"\r") && text.get(at) == Some(&b'\n') {
                at += 1;
                newlines_before += 1;
            }
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

fn joined(fields: &[&[u8]], delimiter: u8) -> String {
    String::from_utf8_lossy(&fields.join(&[delimiter][..])).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // rows with too few or too many fields are kept, so that their cells are checked too;
        // the cell a short row lacks is empty here and null in the frame
        assert_eq!(
            got.0,
            vec![
                vec![
                    "Casablanca-Settat".to_string(),
                    "".into(),
                    "g".into(),
                    "".into(),
                    "Fès-Meknès et plus".into(),
                    "long value, quoted".into(),
                    "o".into(),
                    "w\"".into(),
                    "z".into()
                ],
                vec![
                    "a".to_string(),
                    "c".into(),
                    "e".into(),
                    "i".into(),
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
            (
                vec![0, 4, 6, 7, 8, 9, 10, 11, 12],
                vec![2, 6, 8, 9, 10, 11, 13, 14, 15]
            )
        );
        assert_eq!(
            plain.broken,
            vec![false, true, true, true, false, false, false, false, false]
        );
        assert_eq!(plain.absent, vec![(1, 0), (3, 0)]);
        assert_eq!(
            (csv.broken.clone(), csv.absent.clone()),
            (plain.broken.clone(), plain.absent.clone())
        );
        // the two empty lines are blank rows too, not skipped
        assert_eq!(got.3[0], "1 3 blank-row Some(\"\")");
        assert_eq!(got.3[1], "2 4 blank-row Some(\"\")");
        assert_eq!(got.3[2], "3 5 blank-row Some(\" ; ;\")");
        assert_eq!(got.3.len(), 7, "{:?}", got.3);
        // a lone carriage return ends a record for the CSV reader: the plain reader gives way
        let lone = b"a;b;c\rd;e;f\n";
        assert!(parse_plain(lone, 0..lone.len(), 0, &layout, 4)
            .unwrap()
            .is_none());
        let chunk = parse_chunk(lone, 0..lone.len(), 0, true, &layout).unwrap();
        assert_eq!(chunk.rows.len(), 2);
    }
}
