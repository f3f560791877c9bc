//! Frictionless Table Schema descriptors: the contract for what a ministry sends.
//!
//! Only the parts of the standard marsad enforces are typed here; other properties (titles,
//! descriptions, `rdfType`...) are accepted and ignored so that the same JSON file works unchanged
//! with other Frictionless tools. See <https://datapackage.org/standard/table-schema/>.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    Date,
    Year,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Year => "year",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Constraints {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub unique: bool,
    pub minimum: Option<Value>,
    pub maximum: Option<Value>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub pattern: Option<String>,
    #[serde(rename = "enum")]
    pub enumeration: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    pub name: String,
    #[serde(rename = "type", default = "default_type")]
    pub field_type: FieldType,
    /// For dates: `default` (ISO 8601), or a strftime pattern such as `%d/%m/%Y`.
    pub format: Option<String>,
    pub decimal_char: Option<String>,
    pub group_char: Option<String>,
    pub true_values: Option<Vec<String>>,
    pub false_values: Option<Vec<String>>,
    #[serde(default)]
    pub constraints: Constraints,
    pub description: Option<String>,
    /// `minimum` and `maximum` read as the field's type reads them, once, when the schema is
    /// loaded: a bad bound is a schema error before any data is read, never in the middle of
    /// a run.
    #[serde(skip)]
    pub bounds: Bounds,
}

/// ISO 8601, the pattern of a date field without a `format` (or `default`).
pub const ISO_DATE: &str = "%Y-%m-%d";

impl Field {
    /// The strftime pattern a date field's values are read with: ISO 8601 by default, the
    /// field's own `format` otherwise, none for `any` (the reader infers it).
    pub fn date_pattern(&self) -> Option<&str> {
        match self.format.as_deref() {
            None | Some("default") => Some(ISO_DATE),
            Some("any") => None,
            Some(pattern) => Some(pattern),
        }
    }
}

/// A field's typed `minimum` and `maximum`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bounds {
    pub minimum: Option<Bound>,
    pub maximum: Option<Bound>,
}

fn default_type() -> FieldType {
    FieldType::String
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum KeySpec {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSchema {
    fields: Vec<Field>,
    missing_values: Option<Vec<String>>,
    primary_key: Option<KeySpec>,
    foreign_keys: Option<Vec<RawForeignKey>>,
    #[serde(default)]
    fields_match: FieldsMatch,
}

#[derive(Debug, Clone, Deserialize)]
struct RawForeignKey {
    fields: KeySpec,
    reference: RawReference,
}

#[derive(Debug, Clone, Deserialize)]
struct RawReference {
    #[serde(default)]
    resource: String,
    fields: KeySpec,
}

impl KeySpec {
    fn names(self) -> Vec<String> {
        match self {
            KeySpec::One(k) => vec![k],
            KeySpec::Many(ks) => ks,
        }
    }
}

/// A Table Schema `foreignKeys` entry: every row's `fields` must be found among the values of
/// `reference_fields` in the resource `resource` (in a pipeline, another source: this is how
/// two ministries' files are tied together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub fields: Vec<String>,
    /// The referenced source's name; empty for the table itself.
    pub resource: String,
    pub reference_fields: Vec<String>,
}

/// How a file's columns are matched to the schema's fields (Table Schema v2 `fieldsMatch`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldsMatch {
    /// The same fields in the same order, matched by position (the standard's default).
    #[default]
    Exact,
    /// The same fields in any order, matched by name.
    Equal,
    /// Every field of the schema, and maybe more columns (ignored), matched by name.
    Subset,
    /// Only fields of the schema, maybe not all (an absent one reads as empty), by name.
    Superset,
    /// At least one field of the schema; other columns ignored, absent fields empty.
    Partial,
}

impl FieldsMatch {
    pub fn name(self) -> &'static str {
        match self {
            FieldsMatch::Exact => "exact",
            FieldsMatch::Equal => "equal",
            FieldsMatch::Subset => "subset",
            FieldsMatch::Superset => "superset",
            FieldsMatch::Partial => "partial",
        }
    }
}

/// A loaded, checked Table Schema.
#[derive(Debug, Clone)]
pub struct TableSchema {
    pub path: PathBuf,
    /// SHA-256 of the file as it was loaded, for the run id and the provenance.
    pub sha256: String,
    pub fields: Vec<Field>,
    /// Strings that mean "no value" (Frictionless default: the empty string).
    pub missing_values: Vec<String>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    pub fields_match: FieldsMatch,
}

impl TableSchema {
    pub fn load(path: &Path) -> Result<TableSchema> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let mut schema = Self::parse(path, &text)?;
        schema.sha256 = crate::sha256_hex(text.as_bytes());
        Ok(schema)
    }

    pub fn parse(path: &Path, text: &str) -> Result<TableSchema> {
        let fail = |message: String| Error::Schema {
            file: path.to_path_buf(),
            message,
        };
        let mut raw: RawSchema = serde_json::from_str(text).map_err(|e| {
            fail(format!(
                "line {}, column {}: not a valid Table Schema: {e}\n  hint: supported field types are string, integer, number, boolean, date, year",
                e.line(),
                e.column()
            ))
        })?;
        if raw.fields.is_empty() {
            return Err(fail("the schema has no fields".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for field in raw.fields.iter_mut() {
            if field.name.trim().is_empty() {
                return Err(fail("a field has an empty name".into()));
            }
            if !seen.insert(field.name.clone()) {
                return Err(fail(format!(
                    "the field `{}` is declared twice",
                    field.name
                )));
            }
            field.bounds =
                check_field(field).map_err(|m| fail(format!("field `{}`: {m}", field.name)))?;
        }
        let primary_key = raw.primary_key.map(KeySpec::names).unwrap_or_default();
        for key in &primary_key {
            if !seen.contains(key.as_str()) {
                return Err(fail(format!(
                    "primaryKey names `{key}`, which is not a field"
                )));
            }
        }
        let mut foreign_keys = Vec::new();
        for fk in raw.foreign_keys.unwrap_or_default() {
            let fields = fk.fields.names();
            let reference_fields = fk.reference.fields.names();
            if let Some(f) = fields.iter().find(|f| !seen.contains(f.as_str())) {
                return Err(fail(format!(
                    "foreignKeys names `{f}`, which is not a field"
                )));
            }
            if fields.len() != reference_fields.len() || fields.is_empty() {
                return Err(fail(format!(
                    "foreignKeys: the fields ({}) and the reference's fields ({}) must be as many",
                    fields.join(", "),
                    reference_fields.join(", ")
                )));
            }
            foreign_keys.push(ForeignKey {
                fields,
                resource: fk.reference.resource,
                reference_fields,
            });
        }
        Ok(TableSchema {
            sha256: String::new(),
            path: path.to_path_buf(),
            fields: raw.fields,
            missing_values: raw.missing_values.unwrap_or_else(|| vec![String::new()]),
            primary_key,
            foreign_keys,
            fields_match: raw.fields_match,
        })
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }
}

fn check_field(field: &Field) -> std::result::Result<Bounds, String> {
    let c = &field.constraints;
    if let Some(pattern) = &c.pattern {
        regex_syntax_ok(pattern)
            .map_err(|e| format!("pattern `{pattern}` is not a valid regular expression: {e}"))?;
    }
    let bound = |name: &str, value: &Option<Value>| match value {
        Some(v) => bound_value(field, v)
            .map(Some)
            .map_err(|e| format!("{name}: {e}")),
        None => Ok(None),
    };
    let bounds = Bounds {
        minimum: bound("minimum", &c.minimum)?,
        maximum: bound("maximum", &c.maximum)?,
    };
    if let Some(decimal) = &field.decimal_char {
        if decimal.chars().count() != 1 {
            return Err(format!(
                "decimalChar must be one character, not `{decimal}`"
            ));
        }
    }
    Ok(bounds)
}

/// polars uses the same `regex` crate, so a pattern accepted here is accepted at run time.
fn regex_syntax_ok(pattern: &str) -> std::result::Result<(), String> {
    regex::Regex::new(pattern)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A numeric or date bound, as the field's type reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Number(f64),
    /// Days since 1970-01-01, as polars stores dates.
    Date(i32),
}

pub fn bound_value(field: &Field, value: &Value) -> std::result::Result<Bound, String> {
    match field.field_type {
        FieldType::Integer | FieldType::Number | FieldType::Year => match value {
            Value::Number(n) => n.as_f64().map(Bound::Number).ok_or("not a number".into()),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .map(Bound::Number)
                .map_err(|_| format!("`{s}` is not a number")),
            other => Err(format!("`{other}` is not a number")),
        },
        FieldType::Date => {
            let s = value
                .as_str()
                .ok_or("a date bound must be a string YYYY-MM-DD")?;
            // ISO 8601, or the field's own format, as frictionless-py reads a bound
            let own = field.date_pattern().filter(|f| *f != ISO_DATE);
            let date = chrono::NaiveDate::parse_from_str(s.trim(), ISO_DATE)
                .or_else(|e| own.map_or(Err(e), |f| chrono::NaiveDate::parse_from_str(s.trim(), f)))
                .map_err(|_| match own {
                    Some(f) => format!("`{s}` is not a date YYYY-MM-DD or {f}"),
                    None => format!("`{s}` is not a date YYYY-MM-DD"),
                })?;
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
            Ok(Bound::Date((date - epoch).num_days() as i32))
        }
        FieldType::String | FieldType::Boolean => Err(format!(
            "not supported for a {} field",
            field.field_type.as_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TableSchema> {
        TableSchema::parse(Path::new("s.json"), text)
    }

    #[test]
    fn bounds_are_typed_when_the_schema_is_loaded() {
        let s = parse(
            r#"{"fields": [{"name": "n", "type": "integer", "constraints": {"minimum": "0", "maximum": 9}},
                           {"name": "d", "type": "date", "constraints": {"minimum": "2000-01-01"}}]}"#,
        )
        .unwrap();
        assert_eq!(s.fields[0].bounds.minimum, Some(Bound::Number(0.0)));
        assert_eq!(s.fields[0].bounds.maximum, Some(Bound::Number(9.0)));
        assert_eq!(s.fields[1].bounds.minimum, Some(Bound::Date(10957)));
        let bad = parse(
            r#"{"fields": [{"name": "n", "type": "integer", "constraints": {"maximum": "x"}}]}"#,
        );
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("maximum: `x` is not a number"));
    }

    #[test]
    fn reads_a_frictionless_schema() {
        let s = parse(
            r#"{"fields": [
                {"name": "id", "type": "string", "constraints": {"required": true, "unique": true}},
                {"name": "born", "type": "integer", "title": "Birth year",
                 "constraints": {"minimum": 1900, "maximum": 2025}},
                {"name": "w", "type": "number", "decimalChar": ","},
                {"name": "d", "type": "date", "format": "%d/%m/%Y", "constraints": {"minimum": "2020-01-01"}}
              ],
              "missingValues": ["", "NA"],
              "primaryKey": "id"}"#,
        )
        .unwrap();
        assert_eq!(s.fields.len(), 4);
        assert_eq!(s.missing_values, vec!["", "NA"]);
        assert_eq!(s.primary_key, vec!["id"]);
        assert!(s.field("id").unwrap().constraints.unique);
        let d = s.field("d").unwrap();
        assert_eq!(
            bound_value(d, d.constraints.minimum.as_ref().unwrap()),
            Ok(Bound::Date(18262))
        );
    }

    #[test]
    fn date_bounds_read_in_iso_or_in_the_fields_own_format() {
        // frictionless-py reads a date bound with the field's format: a schema written for it
        // says "01/01/2000" where marsad's own schemas say "2000-01-01"; both are the same day.
        let s = parse(
            r#"{"fields": [{"name": "d", "type": "date", "format": "%d/%m/%Y",
                 "constraints": {"minimum": "01/01/2000", "maximum": "2030-12-31"}}]}"#,
        )
        .unwrap();
        let d = s.field("d").unwrap();
        assert_eq!(d.bounds.minimum, Some(Bound::Date(10957)));
        assert_eq!(d.bounds.maximum, Some(Bound::Date(22279)));
        let e = parse(
            r#"{"fields": [{"name": "d", "type": "date", "format": "%d/%m/%Y",
                 "constraints": {"minimum": "2000/01/01"}}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("YYYY-MM-DD or %d/%m/%Y"), "{e}");
    }

    #[test]
    fn rejects_what_it_cannot_enforce() {
        let e = parse(r#"{"fields": [{"name": "t", "type": "datetime"}]}"#).unwrap_err();
        assert!(e.to_string().contains("datetime"), "{e}");
        let e = parse(r#"{"fields": [{"name": "a"}, {"name": "a"}]}"#).unwrap_err();
        assert!(e.to_string().contains("declared twice"), "{e}");
        let e =
            parse(r#"{"fields": [{"name": "a", "constraints": {"pattern": "("}}]}"#).unwrap_err();
        assert!(e.to_string().contains("pattern"), "{e}");
        let e = parse(r#"{"fields": [{"name": "a"}], "primaryKey": ["b"]}"#).unwrap_err();
        assert!(e.to_string().contains("primaryKey"), "{e}");
    }
}
