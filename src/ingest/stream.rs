//! A file's bytes as the reader sees them: a gzip file is inflated and a UTF-16 file turned
//! into UTF-8 on the way, while the file's own bytes are counted and checksummed.
//!
//! Ministries send what their tools write: Excel's "Unicode text" is UTF-16 with a byte-order
//! mark, and large exports travel gzip-compressed. Both are recognised by their first bytes
//! (the gzip magic number 1F 8B, RFC 1952; the UTF-16 byte-order marks FF FE and FE FF), so
//! neither needs a setting; a UTF-16 file without a mark needs `encoding = "utf-16le"` (or
//! `utf-16be`).

use std::cell::RefCell;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::spec::Encoding;

/// What a file's first bytes say about how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layers {
    pub(super) gzip: bool,
    /// A spreadsheet, whose sheet is written out as text.
    pub(super) sheet: bool,
    /// A Stata dataset or an SPSS system file, written out as text.
    pub(super) stata: bool,
    /// UTF-16 to turn into UTF-8 (from the byte-order mark, or as declared).
    pub(super) utf16: Option<Encoding>,
}

impl Layers {
    /// The encoding of the text the reader gets, when it is not the file's own.
    pub(super) fn text_encoding(&self) -> Option<Encoding> {
        (self.sheet || self.stata || self.utf16.is_some()).then_some(Encoding::Utf8)
    }
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Read {
        file: path.to_path_buf(),
        source,
    }
}

/// Look at the start of `path` (inflated if it is gzip) for the layers to undo.
pub(super) fn sniff(path: &Path, declared: Encoding) -> Result<Layers> {
    let (sheet, stata) = (
        super::sheet::is_spreadsheet(path),
        super::stata::is_stata(path) || super::spss::is_spss(path),
    );
    if sheet || stata {
        return Ok(Layers {
            gzip: false,
            sheet,
            stata,
            utf16: None,
        });
    }
    let mut file = std::fs::File::open(path).map_err(read_error(path))?;
    let mut magic = Vec::with_capacity(2);
    (&mut file)
        .take(2)
        .read_to_end(&mut magic)
        .map_err(read_error(path))?;
    let gzip = magic == [0x1F, 0x8B];
    let start = if gzip {
        let mut start = Vec::with_capacity(2);
        let inflated = MultiGzDecoder::new(std::fs::File::open(path).map_err(read_error(path))?);
        inflated
            .take(2)
            .read_to_end(&mut start)
            .map_err(|e| Error::Input {
                file: path.to_path_buf(),
                line: 1,
                message: format!("the file is gzip-compressed but does not inflate: {e}"),
            })?;
        start
    } else {
        magic
    };
    let utf16 = match (start.as_slice(), declared) {
        ([0xFF, 0xFE], _) | (_, Encoding::Utf16Le) => Some(Encoding::Utf16Le),
        ([0xFE, 0xFF], _) | (_, Encoding::Utf16Be) => Some(Encoding::Utf16Be),
        _ => None,
    };
    Ok(Layers {
        gzip,
        sheet: false,
        stata: false,
        utf16,
    })
}

/// Bytes read from the file itself and their SHA-256, shared with the reader that counts them.
pub(super) type Tally = Rc<RefCell<(Sha256, u64)>>;

/// The file's bytes, counted and checksummed as they are read.
struct Counted {
    file: std::fs::File,
    tally: Tally,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        let mut tally = self.tally.borrow_mut();
        tally.0.update(&buf[..n]);
        tally.1 += n as u64;
        Ok(n)
    }
}

/// A file opened as text, and where that text lies on a spreadsheet.
pub(super) struct Opened {
    pub(super) text: Box<dyn Read>,
    /// Lines before the text's first (a sheet's rows above its table).
    pub(super) lines_above: u64,
    pub(super) sheet: Option<super::sheet::SheetPlace>,
    /// A dataset's value labels.
    pub(super) value_labels: Vec<crate::books::LabelledVariable>,
}

/// Open `path` with its layers undone; `tally` counts the file's own bytes. A spreadsheet is
/// read whole (a workbook is a zip or an OLE container, not a stream) and its sheet written
/// out as text.
pub(super) fn open(
    path: &Path,
    layers: Layers,
    tally: &Tally,
    source: &crate::spec::SourcePlan,
) -> Result<Opened> {
    let file = std::fs::File::open(path).map_err(read_error(path))?;
    let mut counted = Counted {
        file,
        tally: Rc::clone(tally),
    };
    if layers.sheet || layers.stata {
        let mut bytes = Vec::new();
        counted.read_to_end(&mut bytes).map_err(read_error(path))?;
        if layers.stata {
            let (text, value_labels) = if super::spss::is_spss(path) {
                super::spss::spss_text(path, bytes, &source.dialect)?
            } else {
                super::stata::stata_text(path, bytes, &source.dialect)?
            };
            return Ok(Opened {
                text: Box::new(std::io::Cursor::new(text)),
                lines_above: 0,
                sheet: None,
                value_labels,
            });
        }
        let sheet = super::sheet::sheet_text(path, bytes, &source.dialect, &source.schema)?;
        return Ok(Opened {
            text: Box::new(std::io::Cursor::new(sheet.text)),
            lines_above: sheet.rows_above,
            sheet: Some(sheet.place),
            value_labels: Vec::new(),
        });
    }
    let inflated: Box<dyn Read> = if layers.gzip {
        Box::new(MultiGzDecoder::new(counted))
    } else {
        Box::new(counted)
    };
    let text: Box<dyn Read> = match layers.utf16 {
        Some(Encoding::Utf16Be) => Box::new(ToUtf8::new(inflated, encoding_rs::UTF_16BE)),
        Some(_) => Box::new(ToUtf8::new(inflated, encoding_rs::UTF_16LE)),
        None => inflated,
    };
    Ok(Opened {
        text,
        lines_above: 0,
        sheet: None,
        value_labels: Vec::new(),
    })
}

/// UTF-16 in, UTF-8 out, a buffer at a time (the byte-order mark is dropped; a lone surrogate
/// becomes U+FFFD, which the schema's checks then see).
struct ToUtf8 {
    inner: Box<dyn Read>,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    /// Undecoded bytes at the start of `input` (half a code unit at a buffer's end).
    held: usize,
    output: Vec<u8>,
    /// Bytes of `output` already handed out.
    given: usize,
    finished: bool,
}

const BUFFER: usize = 64 * 1024;

impl ToUtf8 {
    fn new(inner: Box<dyn Read>, encoding: &'static encoding_rs::Encoding) -> ToUtf8 {
        ToUtf8 {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; BUFFER],
            held: 0,
            output: Vec::new(),
            given: 0,
            finished: false,
        }
    }

    /// Decode the next buffer of input into `output`.
    fn refill(&mut self) -> std::io::Result<()> {
        let n = self.inner.read(&mut self.input[self.held..])?;
        let last = n == 0;
        let available = self.held + n;
        let room = self
            .decoder
            .max_utf8_buffer_length(available)
            .unwrap_or(4 * available + 16);
        self.output.resize(room, 0);
        let (_, read, written, _) =
            self.decoder
                .decode_to_utf8(&self.input[..available], &mut self.output, last);
        self.output.truncate(written);
        self.given = 0;
        self.input.copy_within(read..available, 0);
        self.held = available - read;
        self.finished = last;
        Ok(())
    }
}

impl Read for ToUtf8 {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.given == self.output.len() {
            if self.finished {
                return Ok(0);
            }
            self.refill()?;
        }
        let n = buf.len().min(self.output.len() - self.given);
        buf[..n].copy_from_slice(&self.output[self.given..self.given + n]);
        self.given += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(bytes: &[u8], declared: Encoding) -> (Layers, String, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, bytes).unwrap();
        let layers = sniff(&path, declared).unwrap();
        let tally: Tally = Rc::new(RefCell::new((Sha256::new(), 0)));
        let mut text = String::new();
        let schema = crate::schema::TableSchema::parse(
            Path::new("s.json"),
            r#"{"fields": [{"name": "id"}]}"#,
        )
        .unwrap();
        let source = crate::spec::bare_source("f".into(), vec![], schema, Default::default());
        open(&path, layers, &tally, &source)
            .unwrap()
            .text
            .read_to_string(&mut text)
            .unwrap();
        let counted = tally.borrow().1;
        (layers, text, counted)
    }

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        out.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        out
    }

    #[test]
    fn reads_utf16_with_a_mark_and_as_declared() {
        // Long enough to cross the buffer, with a code unit split across two reads.
        let text = "nationalite\tsexe\nالمغرب\tF\n".repeat(5000);
        let (layers, got, counted) = read_all(&utf16le(&text, true), Encoding::Auto);
        assert_eq!(layers.utf16, Some(Encoding::Utf16Le));
        assert_eq!(got, text);
        assert_eq!(counted, utf16le(&text, true).len() as u64);
        let big_endian: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(|u| u.to_be_bytes()))
            .collect();
        assert_eq!(read_all(&big_endian, Encoding::Auto).1, text);
        assert_eq!(read_all(&utf16le(&text, false), Encoding::Utf16Le).1, text);
    }

    #[test]
    fn inflates_gzip_and_counts_the_compressed_bytes() {
        let text = utf16le("id,sexe\n1,F\n", true);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        let (layers, got, counted) = read_all(&gz, Encoding::Auto);
        assert!(layers.gzip);
        assert_eq!(got, "id,sexe\n1,F\n");
        assert_eq!(counted, gz.len() as u64);
    }
}
