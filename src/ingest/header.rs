//! The start of a file: the lines to skip, the header, and how it matches the schema.

use std::path::Path;

use super::decode::{decode_window, Seen, BOM};
use super::read::RawWindow;
use crate::error::{Error, Result};
use crate::schema::{FieldsMatch, TableSchema};
use crate::spec::{Encoding, SourcePlan};

/// The first window of a file: settle the encoding (under `auto`, windows-1252 as soon as the
/// first window is not UTF-8), decode it and read the header. Returns the position of each
/// schema field in the file's columns, the row width and whether the file has a byte-order mark.
pub(super) fn first_window(
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
    let order = match_header(path, &source.schema, &header, field_names)?;
    // The reader ends the header at the `\r` of a `\r\n`; the data begins after its `\n`.
    let mut end = r.position().byte() as usize;
    if body.as_bytes()[..end].ends_with(b"\r") && body.as_bytes().get(end) == Some(&b'\n') {
        end += 1;
    }
    Ok((order, header.len(), end))
}

/// Byte offset just after the first `n` lines.
fn skip_lines(text: &str, n: usize) -> Option<usize> {
    let mut offset = 0;
    for _ in 0..n {
        offset += text[offset..].find('\n')? + 1;
    }
    Some(offset)
}

/// The column of a schema field the file does not have (`superset` and `partial` allow it):
/// its values read as empty.
pub(super) const ABSENT: usize = usize::MAX;

/// Map schema fields to file columns as the schema's `fieldsMatch` says, or explain exactly how
/// the header differs.
fn match_header(
    path: &Path,
    schema: &TableSchema,
    header: &csv::StringRecord,
    field_names: &[String],
) -> Result<Vec<usize>> {
    let labels: Vec<&str> = header.iter().map(str::trim).collect();
    let mode = schema.fields_match;
    let mut problems = label_problems(&labels, field_names, mode);
    let order: Vec<usize> = field_names
        .iter()
        .enumerate()
        .map(|(k, field)| match mode {
            FieldsMatch::Exact => (labels.get(k) == Some(&field.as_str())).then_some(k),
            _ => labels.iter().position(|l| l == field),
        })
        .map(|i| i.unwrap_or(ABSENT))
        .collect();
    for (field, column) in field_names.iter().zip(&order) {
        let allowed = matches!(mode, FieldsMatch::Superset | FieldsMatch::Partial);
        if *column == ABSENT && !allowed && !labels.contains(&field.as_str()) {
            problems.push(format!(
                "  - missing-label: the schema field `{field}` is not in the header"
            ));
        }
    }
    if mode == FieldsMatch::Partial && order.iter().all(|c| *c == ABSENT) {
        problems
            .push("  - unmatched-header: no column of the file is a field of the schema".into());
    }
    if problems.is_empty() {
        return Ok(order);
    }
    problems.push(format!("  header read: {}", labels.join(" | ")));
    problems.extend(hints(&labels, field_names, mode));
    Err(Error::Header {
        file: path.to_path_buf(),
        schema: schema.path.clone(),
        details: problems.join("\n"),
    })
}

/// Blank, repeated and unexpected labels; under `exact`, labels out of place.
fn label_problems(labels: &[&str], field_names: &[String], mode: FieldsMatch) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let in_schema = field_names.iter().any(|f| f == label);
        if label.is_empty() {
            problems.push(format!("  - blank-label: column {} has no name", i + 1));
        } else if labels[..i].contains(label) {
            problems.push(format!(
                "  - duplicate-label: `{label}` appears more than once"
            ));
        } else if !in_schema && !matches!(mode, FieldsMatch::Subset | FieldsMatch::Partial) {
            problems.push(format!(
                "  - extra-label: `{label}` (column {}) is not in the schema",
                i + 1
            ));
        } else if mode == FieldsMatch::Exact
            && in_schema
            && field_names.get(i).is_none_or(|f| f != label)
        {
            let expected = field_names
                .get(i)
                .map_or("no field".to_string(), |f| format!("`{f}`"));
            problems.push(format!(
                "  - incorrect-label: column {} is `{label}`, where the schema has {expected}",
                i + 1
            ));
        }
    }
    problems
}

/// What to do about a header that does not match.
fn hints(labels: &[&str], field_names: &[String], mode: FieldsMatch) -> Vec<String> {
    let mut out = Vec::new();
    if let [only] = labels {
        if let Some(d) = [';', ',', '\t', '|']
            .into_iter()
            .find(|d| only.contains(*d))
        {
            out.push(format!(
                "  hint: the header is one column holding `{}`: the file is probably delimited by it",
                d.escape_default()
            ));
        }
    }
    let mut sorted_labels: Vec<&str> = labels.to_vec();
    let mut sorted_fields: Vec<&str> = field_names.iter().map(String::as_str).collect();
    sorted_labels.sort_unstable();
    sorted_fields.sort_unstable();
    if mode == FieldsMatch::Exact && sorted_labels == sorted_fields {
        out.push("  hint: the columns are the schema's fields in another order; put them in the schema's order, or declare `\"fieldsMatch\": \"equal\"` in the schema to match columns by name".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_preamble_lines() {
        assert_eq!(skip_lines("a\nb\nc", 2), Some(4));
        assert_eq!(skip_lines("a", 2), None);
    }
}
