//! An SPSS system file (`.sav`, uncompressed or bytecode-compressed) as the CSV reader reads
//! text: a header line of variable names, then one line per case (case n is line n + 1).
//!
//! Written here from the format's public description (GNU PSPP's "System File Format"
//! appendix), because the pure-Rust readers on crates.io pull in arrow-rs and the C library
//! ReadStat needs a C toolchain. Read: the dictionary (variables with their long names,
//! missing values and value labels, the character encoding), numbers and strings up to 255
//! bytes. System-missing and user-missing values (discrete values and ranges) are written
//! empty, so they read as missing; with `value_labels = "labels"` a labelled value is written
//! as its label; a date (formats DATE, ADATE, EDATE, JDATE, SDATE: seconds from 1582-10-14)
//! as an ISO date. Not read (refused with a message): `.zsav` (zlib) files and strings longer
//! than 255 bytes.

use std::collections::HashMap;
use std::path::Path;

use crate::books::LabelledVariable;
use crate::error::{Error, Result};
use crate::spec::Dialect;

/// Whether `path` is an SPSS system file (by its name).
pub fn is_spss(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("sav"))
}

/// SPSS's system-missing value: the most negative double.
const SYSMIS: f64 = -f64::MAX;

/// One variable of the dictionary.
#[derive(Debug, Default)]
struct Variable {
    name: String,
    /// 0 for a number, else the string's width in bytes.
    width: usize,
    /// 8-byte slots it takes in a case.
    slots: usize,
    missing: Missing,
    labels: Vec<(f64, String)>,
    date: bool,
}

/// User-missing values of a number: discrete values, and maybe a range.
#[derive(Debug, Default)]
struct Missing {
    values: Vec<f64>,
    range: Option<(f64, f64)>,
}

impl Missing {
    fn holds(&self, v: f64) -> bool {
        self.values.contains(&v) || self.range.is_some_and(|(lo, hi)| lo <= v && v <= hi)
    }
}

/// A cursor over the file's bytes in its byte order.
struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
    big_endian: bool,
}

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| format!("the file ends early, at byte {}", self.at))?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn i32(&mut self) -> std::result::Result<i32, String> {
        let b: [u8; 4] = self.take(4)?.try_into().expect("4 bytes");
        Ok(if self.big_endian {
            i32::from_be_bytes(b)
        } else {
            i32::from_le_bytes(b)
        })
    }

    fn f64(&mut self) -> std::result::Result<f64, String> {
        let b: [u8; 8] = self.take(8)?.try_into().expect("8 bytes");
        Ok(self.f64_of(b))
    }

    fn f64_of(&self, b: [u8; 8]) -> f64 {
        if self.big_endian {
            f64::from_be_bytes(b)
        } else {
            f64::from_le_bytes(b)
        }
    }

    fn count(&mut self) -> std::result::Result<usize, String> {
        usize::try_from(self.i32()?).map_err(|_| "a negative count".to_string())
    }
}

/// What the dictionary says.
struct Dictionary {
    variables: Vec<Variable>,
    compressed: bool,
    bias: f64,
    encoding: &'static encoding_rs::Encoding,
}

/// The file in `bytes` as text in the dialect's delimiter and quote, with its variables' value
/// labels.
pub(super) fn spss_text(
    path: &Path,
    bytes: Vec<u8>,
    dialect: &Dialect,
) -> Result<(Vec<u8>, Vec<LabelledVariable>)> {
    let fail = |message: String| Error::Input {
        file: path.to_path_buf(),
        line: 1,
        message: format!(
            "the file is named as an SPSS system file (.sav) but cannot be read: {message}"
        ),
    };
    let mut b = Bytes {
        data: &bytes,
        at: 0,
        big_endian: false,
    };
    let dictionary = read_dictionary(&mut b).map_err(fail)?;
    let mut text = Vec::new();
    for (i, v) in dictionary.variables.iter().enumerate() {
        if i > 0 {
            text.push(dialect.delimiter);
        }
        super::csv_field(&mut text, &v.name, dialect.delimiter, dialect.quote);
    }
    text.push(b'\n');
    let mut slots = Slots {
        compressed: dictionary.compressed,
        bias: dictionary.bias,
        commands: Vec::new(),
    };
    'cases: loop {
        let mut row = Vec::with_capacity(dictionary.variables.len());
        for (i, v) in dictionary.variables.iter().enumerate() {
            let mut raw = Vec::with_capacity(v.slots * 8);
            for s in 0..v.slots {
                match slots.next(&mut b).map_err(fail)? {
                    Some(slot) => raw.extend_from_slice(&slot),
                    None if i == 0 && s == 0 => break 'cases,
                    None => return Err(fail("the last case is cut short".into())),
                }
            }
            row.push(cell_text(v, &raw, &b, dialect, dictionary.encoding));
        }
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                text.push(dialect.delimiter);
            }
            super::csv_field(&mut text, cell, dialect.delimiter, dialect.quote);
        }
        text.push(b'\n');
    }
    let declared = dictionary
        .variables
        .iter()
        .filter(|v| !v.labels.is_empty())
        .map(|v| LabelledVariable {
            variable: v.name.clone(),
            labels: v
                .labels
                .iter()
                .map(|(code, label)| (code.to_string(), label.clone()))
                .collect(),
        })
        .collect();
    Ok((text, declared))
}

/// The 8-byte slots of the cases, decompressing bytecode as it goes.
struct Slots {
    compressed: bool,
    bias: f64,
    /// Commands of the current block not yet used, in reverse order.
    commands: Vec<u8>,
}

impl Slots {
    fn next(&mut self, b: &mut Bytes) -> std::result::Result<Option<[u8; 8]>, String> {
        if !self.compressed {
            if b.at >= b.data.len() {
                return Ok(None);
            }
            return Ok(Some(b.take(8)?.try_into().expect("8 bytes")));
        }
        loop {
            if self.commands.is_empty() {
                if b.at >= b.data.len() {
                    return Ok(None);
                }
                let block = b.take(8)?;
                self.commands = block.iter().rev().copied().collect();
            }
            let code = self.commands.pop().expect("a command");
            let value = match code {
                0 => continue,
                252 => return Ok(None),
                253 => b.take(8)?.try_into().expect("8 bytes"),
                254 => *b"        ",
                255 => sysmis(b),
                n => {
                    let v = f64::from(n) - self.bias;
                    if b.big_endian {
                        v.to_be_bytes()
                    } else {
                        v.to_le_bytes()
                    }
                }
            };
            return Ok(Some(value));
        }
    }
}

fn sysmis(b: &Bytes) -> [u8; 8] {
    if b.big_endian {
        SYSMIS.to_be_bytes()
    } else {
        SYSMIS.to_le_bytes()
    }
}

/// A value as text: empty when missing, the label when asked and there is one.
fn cell_text(
    v: &Variable,
    raw: &[u8],
    b: &Bytes,
    dialect: &Dialect,
    encoding: &'static encoding_rs::Encoding,
) -> String {
    if v.width > 0 {
        let bytes = &raw[..v.width.min(raw.len())];
        let text = encoding.decode_without_bom_handling(bytes).0;
        return text.trim_end_matches([' ', '\0']).to_string();
    }
    let x = b.f64_of(raw[..8].try_into().expect("8 bytes"));
    if x == SYSMIS || x.is_nan() || v.missing.holds(x) {
        return String::new();
    }
    if dialect.value_labels {
        if let Some((_, label)) = v.labels.iter().find(|(code, _)| *code == x) {
            return label.clone();
        }
    }
    if v.date {
        return spss_date(x);
    }
    let text = x.to_string();
    if dialect.decimal_comma {
        text.replace('.', ",")
    } else {
        text
    }
}

/// An SPSS date (seconds from 1582-10-14, the Gregorian calendar's first day) as ISO 8601.
fn spss_date(seconds: f64) -> String {
    super::iso_date_after((1582, 10, 14), seconds / 86_400.0)
}

/// Print format types that are dates (PSPP: DATE 20, ADATE 23, JDATE 24, EDATE 38, SDATE 39).
fn is_date_format(print: i32) -> bool {
    matches!((print >> 16) & 0xFF, 20 | 23 | 24 | 38 | 39)
}

/// Value labels as stored: each value with its label's bytes.
type RawLabels = Vec<(f64, Vec<u8>)>;

/// A variable record: its type (0 a number, a string's width, -1 a long string's next slot)
/// and the variable.
fn variable_record(b: &mut Bytes) -> std::result::Result<(i32, Variable), String> {
    let (kind, has_label, n_missing) = (b.i32()?, b.i32()?, b.i32()?);
    let print = b.i32()?;
    b.i32()?;
    let name = b.take(8)?.to_vec();
    if has_label == 1 {
        let len = b.count()?;
        b.take(len.div_ceil(4) * 4)?;
    }
    let values: Vec<f64> = (0..n_missing.unsigned_abs())
        .map(|_| b.f64())
        .collect::<std::result::Result<_, _>>()?;
    let mut missing = Missing::default();
    match n_missing {
        -2 => missing.range = Some((values[0], values[1])),
        -3 => {
            missing.range = Some((values[0], values[1]));
            missing.values.push(values[2]);
        }
        _ if kind == 0 => missing.values = values,
        _ => {}
    }
    let variable = Variable {
        name: String::from_utf8_lossy(&name).trim_end().to_string(),
        width: usize::try_from(kind).unwrap_or(0),
        slots: 1,
        missing,
        labels: Vec::new(),
        date: kind == 0 && is_date_format(print),
    };
    Ok((kind, variable))
}

/// A value label record: values and their labels, each label padded to 8 bytes with its length.
fn value_labels(b: &mut Bytes) -> std::result::Result<RawLabels, String> {
    let n = b.count()?;
    let mut labels = Vec::new();
    for _ in 0..n {
        let value = b.f64()?;
        let len = usize::from(b.take(1)?[0]);
        let label = b.take(len)?.to_vec();
        b.take((len + 1).div_ceil(8) * 8 - (len + 1))?;
        labels.push((value, label));
    }
    Ok(labels)
}

fn read_dictionary(b: &mut Bytes) -> std::result::Result<Dictionary, String> {
    let magic = b.take(4)?;
    match magic {
        b"$FL2" => {}
        b"$FL3" => return Err("it is a zlib-compressed .zsav file; save it as .sav".into()),
        _ => return Err("it does not start with $FL2".into()),
    }
    b.take(60)?;
    let layout = b.data.get(64..68).ok_or("the file ends early")?;
    b.big_endian = !matches!(
        i32::from_le_bytes(layout.try_into().expect("4 bytes")),
        2 | 3
    );
    b.i32()?;
    let _case_size = b.i32()?;
    let compression = b.i32()?;
    if compression == 2 {
        return Err("it is zlib-compressed (.zsav); save it as .sav".into());
    }
    let _weight = b.i32()?;
    let _cases = b.i32()?;
    let bias = b.f64()?;
    b.take(9 + 8 + 64 + 3)?;
    let mut variables: Vec<Variable> = Vec::new();
    // the dictionary index (1-based, counting continuation slots) of each variable
    let mut slot_of: Vec<usize> = Vec::new();
    let mut slot = 0usize;
    let mut encoding = encoding_rs::WINDOWS_1252;
    let mut long_names: Option<String> = None;
    let mut pending_labels: RawLabels = Vec::new();
    let mut label_sets: Vec<(RawLabels, Vec<usize>)> = Vec::new();
    loop {
        match b.i32()? {
            2 => {
                slot += 1;
                let (kind, variable) = variable_record(b)?;
                if kind == -1 {
                    if let Some(last) = variables.last_mut() {
                        last.slots += 1;
                    }
                    continue;
                }
                slot_of.push(slot);
                variables.push(variable);
            }
            3 => pending_labels = value_labels(b)?,
            4 => {
                let n = b.count()?;
                let vars = (0..n)
                    .map(|_| b.count())
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                label_sets.push((std::mem::take(&mut pending_labels), vars));
            }
            6 => {
                let n = b.count()?;
                b.take(n * 80)?;
            }
            7 => {
                let (subtype, size, count) = (b.i32()?, b.count()?, b.count()?);
                let data = b.take(size * count)?;
                match subtype {
                    13 => long_names = Some(String::from_utf8_lossy(data).into_owned()),
                    14 => return Err(
                        "it holds strings longer than 255 bytes, which marsad does not read yet"
                            .into(),
                    ),
                    20 => {
                        let label = String::from_utf8_lossy(data);
                        if let Some(e) = encoding_rs::Encoding::for_label(label.trim().as_bytes()) {
                            encoding = e;
                        }
                    }
                    _ => {}
                }
            }
            999 => {
                b.i32()?;
                break;
            }
            other => {
                return Err(format!(
                    "an unknown dictionary record type {other} at byte {}",
                    b.at - 4
                ))
            }
        }
    }
    for (labels, vars) in label_sets {
        for index in vars {
            if let Some(v) = slot_of.iter().position(|&s| s == index) {
                variables[v].labels = labels
                    .iter()
                    .map(|(code, l)| {
                        (
                            *code,
                            encoding
                                .decode_without_bom_handling(l)
                                .0
                                .trim_end()
                                .to_string(),
                        )
                    })
                    .collect();
            }
        }
    }
    if let Some(names) = long_names {
        let by_short: HashMap<String, String> = names
            .split('\t')
            .filter_map(|pair| pair.split_once('='))
            .map(|(short, long)| (short.to_string(), long.trim_end_matches('\0').to_string()))
            .collect();
        for v in &mut variables {
            if let Some(long) = by_short.get(&v.name) {
                v.name = long.clone();
            }
        }
    }
    Ok(Dictionary {
        variables,
        compressed: compression == 1,
        bias,
        encoding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_or_damaged_file_is_an_error_never_a_panic() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/datasets/enquete.sav"
        ));
        let bytes = std::fs::read(path).unwrap();
        let dialect = Dialect::default();
        assert!(spss_text(path, bytes.clone(), &dialect).is_ok());
        for cut in 0..bytes.len() {
            let _ = spss_text(path, bytes[..cut].to_vec(), &dialect);
        }
        for at in (0..bytes.len()).step_by(7) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0xA5;
            let _ = spss_text(path, damaged, &dialect);
        }
    }

    #[test]
    fn spss_dates_count_seconds_from_the_gregorian_calendar() {
        assert_eq!(spss_date(0.0), "1582-10-14");
        // 2024-03-01 is 161,211 days, 13,928,630,400 seconds, after
        assert_eq!(spss_date(13_928_630_400.0), "2024-03-01");
    }
}
