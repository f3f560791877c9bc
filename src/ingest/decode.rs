//! Decoding: UTF-8, windows-1252 or windows-1256, a byte-order mark, and `auto` detection.

use std::path::Path;

use super::read::newlines;
use crate::error::{Error, Result};
use crate::spec::Encoding;

pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a window's bytes were decoded under `auto`, to check that a whole file was read one way.
#[derive(Default, Clone, Copy)]
pub(super) struct Seen {
    pub(super) utf8_beyond_ascii: bool,
    pub(super) not_utf8: bool,
}

/// Decode a window (or a whole file): in windows-1252, or as UTF-8 when it is valid UTF-8. Bytes
/// that are not UTF-8 are an error when the dialect declares UTF-8 or the file starts with a
/// byte-order mark, and otherwise (under `auto`) read as windows-1252.
pub(super) fn decode_window(
    bytes: Vec<u8>,
    encoding: Encoding,
    declared: Encoding,
    bom: bool,
    place: (&Path, u64, u64),
) -> Result<(String, Seen)> {
    let (path, offset, lines_before) = place;
    if encoding != Encoding::Utf8 {
        return Ok((decode_single_byte(&bytes, encoding), Seen::default()));
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
                return Ok((decode_single_byte(&bytes, Encoding::Windows1252), seen));
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
pub(super) fn label(encoding: Encoding) -> Encoding {
    match encoding {
        Encoding::Utf8 | Encoding::Auto => Encoding::Utf8,
        Encoding::Windows1252 => Encoding::Windows1252,
        // WHATWG (and encoding_rs) read the ISO-8859-1 label as windows-1252, which only
        // differs in the C1 control range that no text file uses.
        Encoding::Iso88591 => Encoding::Iso88591,
        Encoding::Windows1256 => Encoding::Windows1256,
        // Turned into UTF-8 before the windows are cut (ingest::stream).
        Encoding::Utf16Le => Encoding::Utf16Le,
        Encoding::Utf16Be => Encoding::Utf16Be,
    }
}

/// Decode bytes of a one-byte-per-character encoding (every byte is a character, and the
/// newline byte is a newline, so windows may be cut anywhere between lines).
fn decode_single_byte(bytes: &[u8], encoding: Encoding) -> String {
    let table = match encoding {
        Encoding::Windows1256 => encoding_rs::WINDOWS_1256,
        _ => encoding_rs::WINDOWS_1252,
    };
    table.decode_without_bom_handling(bytes).0.into_owned()
}
