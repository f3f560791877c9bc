//! A spreadsheet's sheet as the CSV reader reads text: one line per sheet row, so that
//! everything after it (header matching, validation, the quarantine's line numbers) works as
//! for a CSV file, and a row's line is its row number in the spreadsheet.
//!
//! Cells are written as a clerk sees them in the sheet, in the form the schema reads: a date
//! (Excel stores it as a serial number of days, with a date format) in the field's own
//! `format`, or ISO 8601; a number in its shortest exact form, with the decimal comma when the
//! source declares one; an error cell as Excel shows it (`#N/A`), which the schema then
//! rejects. Merged cells below the header carry their value into every cell they cover, as a
//! reader of the sheet takes them; rows and columns left empty at the end are not rows.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

use calamine::{open_workbook_auto_from_rs, Data, Dimensions, Range, Reader, Sheets};

use crate::error::{Error, Result};
use crate::schema::{FieldType, TableSchema};
use crate::spec::Dialect;

/// File name endings read as spreadsheets.
pub const EXTENSIONS: [&str; 6] = ["xlsx", "xlsm", "xlsb", "xls", "ods", "xla"];

/// Whether `path` is read as a spreadsheet (by its name: a spreadsheet is a zip or an OLE
/// container, which says nothing of the CSV it is not).
pub fn is_spreadsheet(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Where a sheet's cells are, so that the quarantine can name a cell as `Titres!C17`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetPlace {
    pub name: String,
    /// The spreadsheet column (0 for A) of the text's first field.
    pub first_column: u32,
}

/// A sheet turned into text.
pub(super) struct SheetText {
    pub(super) text: Vec<u8>,
    /// Spreadsheet rows above the text's first line.
    pub(super) rows_above: u64,
    pub(super) place: SheetPlace,
}

fn sheet_error(path: &Path, message: String) -> Error {
    Error::Input {
        file: path.to_path_buf(),
        line: 1,
        message,
    }
}

/// Read the sheet the dialect names (the first by default) from the workbook's bytes.
pub(super) fn sheet_text(
    path: &Path,
    bytes: Vec<u8>,
    dialect: &Dialect,
    schema: &TableSchema,
) -> Result<SheetText> {
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| {
        sheet_error(
            path,
            format!("the file is named as a spreadsheet but does not open as one ({e}); if it is a CSV or text export, give it a .csv name"),
        )
    })?;
    let names = book.sheet_names();
    let name = choose_sheet(&names, dialect).map_err(|m| sheet_error(path, m))?;
    let range = book
        .worksheet_range(&name)
        .map_err(|e| sheet_error(path, format!("sheet `{name}` cannot be read: {e}")))?;
    let merged = merged_cells(&mut book, &name);
    let range = match &dialect.sheet.range {
        Some(cells) => range.range(cells.start, cells.end),
        None => range,
    };
    let (start, end) = match (range.start(), used_end(&range)) {
        // rows to skip count from the sheet's first row, as Excel numbers them; with none, the
        // table starts at the first row that holds a value
        (Some(s), Some(e)) if dialect.skip_lines > 0 && dialect.sheet.range.is_none() => {
            ((0, s.1), e)
        }
        (Some(s), Some(e)) => (s, e),
        _ => {
            return Ok(SheetText {
                text: Vec::new(),
                rows_above: 0,
                place: SheetPlace {
                    name,
                    first_column: 0,
                },
            })
        }
    };
    let origins = merged_origins(&merged, (start, end));
    let writer = CellWriter::new(&range, start, dialect, schema);
    let mut text = Vec::with_capacity(range.height() * range.width() * 8);
    for row in start.0..=end.0 {
        let header = dialect.header && u64::from(row - start.0) == dialect.skip_lines as u64;
        let below_header = u64::from(row - start.0) > dialect.skip_lines as u64;
        for col in start.1..=end.1 {
            if col > start.1 {
                text.push(dialect.delimiter);
            }
            let at = if below_header {
                origins.get(&(row, col)).copied().unwrap_or((row, col))
            } else {
                (row, col)
            };
            let cell = range.get_value(at).unwrap_or(&Data::Empty);
            writer.write(&mut text, cell, col - start.1, header);
        }
        text.push(b'\n');
    }
    Ok(SheetText {
        text,
        rows_above: u64::from(start.0),
        place: SheetPlace {
            name,
            first_column: start.1,
        },
    })
}

/// The sheet named by `sheet_name`, or at `sheet_number` (from 1), or the first.
fn choose_sheet(names: &[String], dialect: &Dialect) -> std::result::Result<String, String> {
    let listed = || {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&dialect.sheet.name, dialect.sheet.number) {
        (Some(name), _) => names
            .iter()
            .find(|n| *n == name)
            .or_else(|| {
                names
                    .iter()
                    .find(|n| n.trim().eq_ignore_ascii_case(name.trim()))
            })
            .cloned()
            .ok_or_else(|| {
                format!(
                    "the workbook has no sheet `{name}`; its sheets: {}",
                    listed()
                )
            }),
        (None, Some(n)) => names.get(n.saturating_sub(1)).cloned().ok_or_else(|| {
            format!(
                "the workbook has {} sheet(s), not {n}; its sheets: {}",
                names.len(),
                listed()
            )
        }),
        (None, None) => names
            .first()
            .cloned()
            .ok_or_else(|| "the workbook has no sheet".to_string()),
    }
}

/// The last row and column that hold a value: a sheet's used range often runs on over
/// formatted but empty cells, which are no rows of the table.
fn used_end(range: &Range<Data>) -> Option<(u32, u32)> {
    let start = range.start()?;
    let mut end: Option<(u32, u32)> = None;
    for (r, row) in range.rows().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if !is_blank(cell) {
                let (r, c) = (start.0 + r as u32, start.1 + c as u32);
                end = Some(end.map_or((r, c), |(er, ec)| (er.max(r), ec.max(c))));
            }
        }
    }
    end
}

fn is_blank(cell: &Data) -> bool {
    match cell {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The merged regions of the sheet (xlsx and xls say where they are; ods and xlsb are read
/// without them).
fn merged_cells(book: &mut Sheets<Cursor<Vec<u8>>>, name: &str) -> Vec<Dimensions> {
    match book {
        Sheets::Xlsx(x) => x.merge_cells_by_sheet_name(name).unwrap_or_default(),
        Sheets::Xls(x) => x.merge_cells_by_sheet_name(name).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The cells merged regions cover, each with its region's top-left cell (which holds the
/// value), within the rows and columns written: looking a cell up costs the same whatever the
/// number of regions, and the map is never larger than the table.
fn merged_origins(
    merged: &[Dimensions],
    (start, end): ((u32, u32), (u32, u32)),
) -> HashMap<(u32, u32), (u32, u32)> {
    let mut origins = HashMap::new();
    for d in merged {
        for row in d.start.0.max(start.0)..=d.end.0.min(end.0) {
            for col in d.start.1.max(start.1)..=d.end.1.min(end.1) {
                if (row, col) != d.start {
                    origins.insert((row, col), d.start);
                }
            }
        }
    }
    origins
}

/// How each column's cells are written: dates in the format of the field the header names.
struct CellWriter {
    delimiter: u8,
    quote: u8,
    /// Per text column: the strftime pattern of its date field, when it has one.
    date_formats: Vec<Option<String>>,
    /// Per text column: whether its numbers take a decimal comma.
    decimal_comma: Vec<bool>,
}

impl CellWriter {
    fn new(
        range: &Range<Data>,
        start: (u32, u32),
        dialect: &Dialect,
        schema: &TableSchema,
    ) -> CellWriter {
        let width = range.width();
        let header_row = start.0 + dialect.skip_lines as u32;
        let fields: HashMap<&str, _> = schema.fields.iter().map(|f| (f.name.as_str(), f)).collect();
        let field_of = |i: usize| {
            if dialect.header {
                let label = range.get_value((header_row, start.1 + i as u32))?;
                fields.get(header_label(label).as_str()).copied()
            } else {
                schema.fields.get(i)
            }
        };
        let date_formats = (0..width)
            .map(|i| {
                field_of(i)
                    .filter(|f| f.field_type == FieldType::Date)
                    .and_then(|f| f.format.clone())
                    .filter(|f| f.contains('%'))
            })
            .collect();
        let decimal_comma = (0..width)
            .map(
                |i| match field_of(i).and_then(|f| f.decimal_char.as_deref()) {
                    Some(c) => c == ",",
                    None => dialect.decimal_comma,
                },
            )
            .collect();
        CellWriter {
            delimiter: dialect.delimiter,
            quote: dialect.quote,
            date_formats,
            decimal_comma,
        }
    }

    fn write(&self, out: &mut Vec<u8>, cell: &Data, column: u32, header: bool) {
        let column = column as usize;
        let text = match cell {
            Data::String(s) if header => match header_label(cell) {
                label if label.is_empty() => s.clone(),
                label => label,
            },
            Data::String(s) => s.clone(),
            Data::Empty => String::new(),
            Data::Int(i) => i.to_string(),
            Data::Float(f) => self.number(*f, column),
            Data::Bool(b) => b.to_string(),
            Data::DateTime(d) if d.is_datetime() => {
                let format = self.date_formats.get(column).and_then(|f| f.as_deref());
                excel_date(d, format)
            }
            Data::DateTime(d) => self.number(d.as_f64(), column),
            Data::DateTimeIso(s) => {
                let format = self.date_formats.get(column).and_then(|f| f.as_deref());
                iso_date(s, format)
            }
            Data::DurationIso(s) => s.clone(),
            Data::Error(e) => e.to_string(),
        };
        super::csv_field(out, &text, self.delimiter, self.quote);
    }

    /// Shortest exact form of a double (`1990` for 1990.0, `1.36`), with the column's decimal
    /// mark.
    fn number(&self, value: f64, column: usize) -> String {
        let text = value.to_string();
        if self.decimal_comma.get(column).copied().unwrap_or(false) {
            text.replace('.', ",")
        } else {
            text
        }
    }
}

/// A header cell as a column name: a label typed over two lines (Alt+Enter) or with spaces
/// around it reads as one line, single-spaced.
fn header_label(cell: &Data) -> String {
    match cell {
        Data::String(s) => s.split_whitespace().collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// A date an OpenDocument sheet stores as ISO 8601 text (`2024-01-15`, or with a time of
/// midnight) in the field's strftime pattern; other text as it is.
fn iso_date(text: &str, format: Option<&str>) -> String {
    let day = text
        .get(..10)
        .filter(|_| matches!(text.get(10..), Some("" | "T00:00:00")))
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    match (day, format) {
        (Some(day), Some(format)) => day.format(format).to_string(),
        (Some(day), None) => day.format("%Y-%m-%d").to_string(),
        (None, _) => text.to_string(),
    }
}

/// An Excel date (days since 1899-12-30, or since 1904-01-01 in workbooks made on old Macs)
/// in the field's strftime pattern, or as ISO 8601 (with the time when it has one).
fn excel_date(date: &calamine::ExcelDateTime, format: Option<&str>) -> String {
    let (y, m, d, hh, mm, ss, _) = date.to_ymd_hms_milli();
    let day = chrono::NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d));
    match (day, format) {
        (Some(day), Some(format)) => day.format(format).to_string(),
        _ if (hh, mm, ss) == (0, 0, 0) => format!("{y:04}-{m:02}-{d:02}"),
        _ => format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_serial_dates_read_as_dates() {
        use calamine::{ExcelDateTime, ExcelDateTimeType};
        // 45658 is 2025-01-01 in the 1900 system; 44196.5 is noon on 2020-12-31
        let d = ExcelDateTime::new(45658.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(excel_date(&d, None), "2025-01-01");
        assert_eq!(excel_date(&d, Some("%d/%m/%Y")), "01/01/2025");
        let noon = ExcelDateTime::new(44196.5, ExcelDateTimeType::DateTime, false);
        assert_eq!(excel_date(&noon, None), "2020-12-31T12:00:00");
        // the 1904 system counts from 1904-01-01
        let mac = ExcelDateTime::new(0.0, ExcelDateTimeType::DateTime, true);
        assert_eq!(excel_date(&mac, None), "1904-01-01");
        // OpenDocument stores ISO text
        assert_eq!(
            iso_date("2024-02-29T00:00:00", Some("%d/%m/%Y")),
            "29/02/2024"
        );
        assert_eq!(iso_date("2024-02-29", None), "2024-02-29");
        assert_eq!(iso_date("2024-02-29T10:30:00", None), "2024-02-29T10:30:00");
    }
}
