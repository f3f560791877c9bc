//! A Stata dataset (`.dta`, every release from 102 to 119, read with the pure-Rust `dta`
//! crate) as the CSV reader reads text: a header line of variable names, then one line per
//! observation, so that everything after it works as for a CSV file. Observation n is line
//! n + 1.
//!
//! Stata's missing values (`.` and `.a` to `.z`) are written empty, so they read as missing.
//! A numeric variable with a value-label set is written as its code, or, with the dialect's
//! `value_labels = "labels"`, as its label (`1` becomes `Homme`), which a code list then maps as
//! any spelling; a code with no label stays a code. A date variable (display format `%td`, days
//! from 1960-01-01) is written as an ISO 8601 date.

use std::borrow::Cow;
use std::io::Cursor;
use std::path::Path;

use dta::stata::dta::dta_reader::DtaReader;
use dta::stata::dta::long_string_table::LongStringTable;
use dta::stata::dta::schema::Schema;
use dta::stata::dta::value::Value;
use dta::stata::dta::value_label_table::ValueLabelTable;

use crate::books::LabelledVariable;
use crate::error::{Error, Result};
use crate::spec::Dialect;

/// Whether `path` is a Stata dataset (by its name).
pub fn is_stata(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("dta"))
}

fn stata_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Input {
        file: path.to_path_buf(),
        line: 1,
        message: format!(
            "the file is named as a Stata dataset (.dta) but cannot be read as one ({e}); if it is a CSV or text export, give it a .csv name"
        ),
    }
}

/// The dataset in `bytes` as text in the dialect's delimiter and quote, with its variables'
/// value labels.
pub(super) fn stata_text(
    path: &Path,
    bytes: Vec<u8>,
    dialect: &Dialect,
) -> Result<(Vec<u8>, Vec<LabelledVariable>)> {
    let err = |e| stata_error(path, e);
    let characteristics = DtaReader::new()
        .from_reader(Cursor::new(bytes))
        .read_header()
        .map_err(err)?
        .read_schema()
        .map_err(err)?;
    let schema = characteristics.schema().clone();
    let encoding = characteristics.encoding();
    // value labels and long strings come after the observations: read them first
    let mut labels = ValueLabelTable::new();
    let mut strings = LongStringTable::for_reading();
    let mut long = characteristics.seek_long_strings().map_err(err)?;
    long.read_remaining_into(&mut strings).map_err(err)?;
    let mut value_labels = long.seek_value_labels().map_err(err)?;
    value_labels.read_remaining_into(&mut labels).map_err(err)?;
    let mut records = value_labels.seek_records().map_err(err)?;
    let writer = Writer {
        dialect,
        schema: &schema,
        labels: dialect.value_labels.then_some(&labels),
    };
    let mut text = Vec::new();
    writer.header(&mut text);
    while let Some(record) = records.read_record().map_err(err)? {
        for (i, value) in record.values().iter().enumerate() {
            if i > 0 {
                text.push(dialect.delimiter);
            }
            let long_text = match value {
                Value::LongStringRef(r) => strings
                    .get(r)
                    .and_then(|s| s.data_str(encoding).map(Cow::into_owned)),
                _ => None,
            };
            writer.value(&mut text, i, value, long_text);
        }
        text.push(b'\n');
    }
    let declared = schema
        .variables()
        .iter()
        .filter_map(|v| {
            let set = labels.get(v.value_label_name())?;
            Some(LabelledVariable {
                variable: v.name().to_string(),
                labels: set
                    .entries()
                    .iter()
                    .map(|e| (e.value().to_string(), e.label().to_string()))
                    .collect(),
            })
        })
        .collect();
    Ok((text, declared))
}

struct Writer<'a> {
    dialect: &'a Dialect,
    schema: &'a Schema,
    labels: Option<&'a ValueLabelTable>,
}

impl Writer<'_> {
    fn header(&self, out: &mut Vec<u8>) {
        for (i, v) in self.schema.variables().iter().enumerate() {
            if i > 0 {
                out.push(self.dialect.delimiter);
            }
            super::csv_field(out, v.name(), self.dialect.delimiter, self.dialect.quote);
        }
        out.push(b'\n');
    }

    fn value(&self, out: &mut Vec<u8>, column: usize, value: &Value, long: Option<String>) {
        let variable = &self.schema.variables()[column];
        let integer = match value {
            Value::Byte(v) => v.present().map(i32::from),
            Value::Int(v) => v.present().map(i32::from),
            Value::Long(v) => v.present(),
            _ => None,
        };
        let labelled = integer.and_then(|code| self.labels?.label_for(variable, code));
        let is_date = variable.format().starts_with("%td") || variable.format().starts_with("%d");
        let text: Cow<str> = match (labelled, value) {
            (Some(label), _) => label.into(),
            (None, Value::String(s)) => s.clone(),
            (None, Value::LongStringRef(_)) => long.unwrap_or_default().into(),
            (None, Value::Float(v)) => v
                .present()
                .map(|f| self.number(f.to_string()))
                .unwrap_or_default()
                .into(),
            (None, Value::Double(v)) => v
                .present()
                .map(|f| {
                    if is_date {
                        stata_date(f)
                    } else {
                        self.number(f.to_string())
                    }
                })
                .unwrap_or_default()
                .into(),
            (None, _) => match integer {
                Some(days) if is_date => stata_date(f64::from(days)).into(),
                Some(n) => n.to_string().into(),
                None => "".into(),
            },
        };
        super::csv_field(out, &text, self.dialect.delimiter, self.dialect.quote);
    }

    fn number(&self, text: String) -> String {
        if self.dialect.decimal_comma {
            text.replace('.', ",")
        } else {
            text
        }
    }
}

/// A Stata date (days from 1960-01-01) as ISO 8601.
fn stata_date(days: f64) -> String {
    super::iso_date_after((1960, 1, 1), days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stata_dates_count_days_from_1960() {
        assert_eq!(stata_date(0.0), "1960-01-01");
        assert_eq!(stata_date(23742.0), "2025-01-01");
        assert_eq!(stata_date(-1.0), "1959-12-31");
    }
}
