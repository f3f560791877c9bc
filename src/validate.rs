//! Validate: type every field and enforce the Table Schema's constraints, column by column.
//!
//! Every check is a polars expression that marks failing rows; they all run in one query. Only the
//! (few) failing rows are then turned into quarantine entries, one per broken rule, so that a
//! ministry learns everything that is wrong with a row at once, not one error per round trip.

use polars::prelude::*;

use crate::error::{EngineContext, Result};
use crate::quarantine::{Quarantine, FILE, LINE, ROW};
use crate::schema::{bound_value, Bound, Field, FieldType};
use crate::spec::SourcePlan;

/// One rule applied to one column.
struct Rule {
    column: String,
    rule: &'static str,
    message: String,
    fails: Expr,
}

fn typed_name(field: &str) -> String {
    format!("__typed__{field}")
}

fn string_list(values: &[String]) -> Expr {
    lit(Series::new(PlSmallStr::EMPTY, values)).implode(false)
}

/// The typed values that survive validation, with the hidden row columns.
pub fn validate(
    frame: DataFrame,
    source: &SourcePlan,
    quarantine: &mut Quarantine,
) -> Result<DataFrame> {
    let schema = &source.schema;
    let mut missing: Vec<String> = schema.missing_values.clone();
    missing.extend(source.dialect.null_markers.iter().cloned());

    let mut typed = Vec::new();
    let mut rules = Vec::new();
    for field in &schema.fields {
        let raw = col(field.name.as_str());
        let is_missing = raw
            .clone()
            .is_null()
            .or(raw.clone().is_in(string_list(&missing), false));
        let value = when(is_missing.clone())
            .then(lit(NULL).cast(DataType::String))
            .otherwise(raw.clone());
        let (typed_expr, type_message) =
            type_field(field, value.clone(), source.dialect.decimal_comma);
        typed.push(typed_expr.alias(typed_name(&field.name)));
        let t = col(typed_name(&field.name));
        let required = field.constraints.required || schema.primary_key.contains(&field.name);
        if required {
            rules.push(Rule {
                column: field.name.clone(),
                rule: "required",
                message: "a value is required".into(),
                fails: is_missing.clone(),
            });
        }
        if field.field_type != FieldType::String {
            rules.push(Rule {
                column: field.name.clone(),
                rule: "type",
                message: type_message,
                fails: value.clone().is_not_null().and(t.clone().is_null()),
            });
        }
        rules.extend(constraint_rules(field, &schema.path, value, t)?);
    }
    if !schema.primary_key.is_empty() {
        let keys: Vec<Expr> = schema
            .primary_key
            .iter()
            .map(|k| col(typed_name(k)))
            .collect();
        let any_null = keys
            .iter()
            .cloned()
            .map(|k| k.is_null())
            .reduce(|a, b| a.or(b))
            .unwrap_or(lit(false));
        rules.push(Rule {
            column: schema.primary_key.join(","),
            rule: "primaryKey",
            message: format!(
                "the primary key ({}) repeats another row's",
                schema.primary_key.join(", ")
            ),
            fails: len()
                .over(keys)
                .at(|| "primary key".into())?
                .gt(lit(1))
                .and(any_null.not()),
        });
    }

    let fail_name = |i: usize| format!("__fail__{i}");
    let fails: Vec<Expr> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| r.fails.clone().fill_null(lit(false)).alias(fail_name(i)))
        .collect();
    let any_fail = (0..rules.len())
        .map(|i| col(fail_name(i)))
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false));
    let checked = frame
        .lazy()
        .with_columns(typed)
        .with_columns(fails)
        .with_column(any_fail.alias("__any_fail"))
        .collect()
        .at(|| format!("validating source `{}`", source.name))?;

    let failing = checked.clone().lazy().filter(col("__any_fail"));
    let raw_of = |r: &Rule| -> Expr {
        if schema.field(&r.column).is_some() {
            col(r.column.as_str())
        } else {
            // a composite primary key: show every part of it
            let parts: Vec<&str> = r.column.split(',').collect();
            let mut expr = col(parts[0]);
            for p in &parts[1..] {
                expr = expr + lit(",") + col(*p);
            }
            expr
        }
    };
    let rejections: Vec<LazyFrame> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            failing.clone().filter(col(fail_name(i))).select([
                col(ROW),
                col(FILE),
                col(LINE),
                lit(r.column.clone()).alias("column"),
                raw_of(r).alias("raw_value"),
                lit(r.rule).alias("rule"),
                lit(r.message.clone()).alias("message"),
            ])
        })
        .collect();
    if !rejections.is_empty() {
        let all = concat(rejections, UnionArgs::default())
            .at(|| "collecting validation failures".into())?;
        quarantine.push_frame(all)?;
    }

    let mut keep: Vec<Expr> = schema
        .fields
        .iter()
        .map(|f| col(typed_name(&f.name)).alias(f.name.as_str()))
        .collect();
    keep.extend([col(ROW), col(FILE), col(LINE)]);
    checked
        .lazy()
        .filter(col("__any_fail").not())
        .select(keep)
        .collect()
        .at(|| format!("keeping the valid rows of source `{}`", source.name))
}

/// The typed value of a field and the message given when a value cannot be read as that type.
fn type_field(field: &Field, value: Expr, decimal_comma: bool) -> (Expr, String) {
    let trimmed = value.clone().str().strip_chars(lit(NULL));
    let without_groups = |e: Expr| match &field.group_char {
        Some(g) => e.str().replace_all(lit(g.clone()), lit(""), true),
        None => e,
    };
    match field.field_type {
        FieldType::String => (value, String::new()),
        FieldType::Integer => (
            without_groups(trimmed).cast(DataType::Int64),
            "not an integer".into(),
        ),
        FieldType::Year => (
            trimmed.cast(DataType::Int64),
            "not a year (a whole number such as 1987)".into(),
        ),
        FieldType::Number => {
            let decimal = field.decimal_char.clone().unwrap_or_else(|| {
                if decimal_comma {
                    ",".into()
                } else {
                    ".".into()
                }
            });
            let mut e = without_groups(trimmed);
            if decimal != "." {
                e = e.str().replace_all(lit(decimal.clone()), lit("."), true);
            }
            (
                e.cast(DataType::Float64),
                format!("not a number (decimal separator `{decimal}`)"),
            )
        }
        FieldType::Boolean => {
            let t = field
                .true_values
                .clone()
                .unwrap_or_else(|| ["true", "True", "TRUE", "1"].map(String::from).to_vec());
            let f = field
                .false_values
                .clone()
                .unwrap_or_else(|| ["false", "False", "FALSE", "0"].map(String::from).to_vec());
            let message = format!(
                "not a boolean (true: {}; false: {})",
                t.join(", "),
                f.join(", ")
            );
            (
                when(trimmed.clone().is_in(string_list(&t), false))
                    .then(lit(true))
                    .when(trimmed.is_in(string_list(&f), false))
                    .then(lit(false))
                    .otherwise(lit(NULL).cast(DataType::Boolean)),
                message,
            )
        }
        FieldType::Date => {
            let format = match field.format.as_deref() {
                None | Some("default") => Some("%Y-%m-%d"),
                Some("any") => None,
                Some(pattern) => Some(pattern),
            };
            let message = match format {
                Some(f) => format!("not a date in the format `{f}`"),
                None => "not a date".into(),
            };
            (
                trimmed.str().to_date(StrptimeOptions {
                    format: format.map(PlSmallStr::from),
                    strict: false,
                    exact: true,
                    cache: true,
                }),
                message,
            )
        }
    }
}

fn bound_lit(b: &Bound) -> Expr {
    match b {
        Bound::Number(n) => lit(*n),
        Bound::Date(d) => lit(*d).cast(DataType::Date),
    }
}

fn constraint_rules(
    field: &Field,
    schema: &std::path::Path,
    value: Expr,
    typed: Expr,
) -> Result<Vec<Rule>> {
    let c = &field.constraints;
    let name = field.name.clone();
    let mut rules = Vec::new();
    let bound = |v: &serde_json::Value| {
        bound_value(field, v).map_err(|message| crate::error::Error::Schema {
            file: schema.to_path_buf(),
            message: format!("field `{}`: {message}", field.name),
        })
    };
    if let Some(min) = &c.minimum {
        let b = bound(min)?;
        rules.push(Rule {
            column: name.clone(),
            rule: "minimum",
            message: format!("below the minimum {min}"),
            fails: typed.clone().lt(bound_lit(&b)),
        });
    }
    if let Some(max) = &c.maximum {
        let b = bound(max)?;
        rules.push(Rule {
            column: name.clone(),
            rule: "maximum",
            message: format!("above the maximum {max}"),
            fails: typed.clone().gt(bound_lit(&b)),
        });
    }
    if let Some(min) = c.min_length {
        rules.push(Rule {
            column: name.clone(),
            rule: "minLength",
            message: format!("shorter than {min} characters"),
            fails: value.clone().str().len_chars().lt(lit(min as u32)),
        });
    }
    if let Some(max) = c.max_length {
        rules.push(Rule {
            column: name.clone(),
            rule: "maxLength",
            message: format!("longer than {max} characters"),
            fails: value.clone().str().len_chars().gt(lit(max as u32)),
        });
    }
    if let Some(pattern) = &c.pattern {
        // Table Schema patterns match the whole value (XML Schema semantics).
        rules.push(Rule {
            column: name.clone(),
            rule: "pattern",
            message: format!("does not match the pattern `{pattern}`"),
            fails: value
                .clone()
                .str()
                .contains(lit(format!("^(?:{pattern})$")), true)
                .not(),
        });
    }
    if let Some(values) = &c.enumeration {
        let shown: Vec<String> = values
            .iter()
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect();
        let fails = match field.field_type {
            FieldType::Integer | FieldType::Year | FieldType::Number => {
                let nums: Vec<f64> = values
                    .iter()
                    .filter_map(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
                    .collect();
                typed
                    .clone()
                    .cast(DataType::Float64)
                    .is_in(
                        lit(Series::new(PlSmallStr::EMPTY, nums)).implode(false),
                        false,
                    )
                    .not()
            }
            _ => value.clone().is_in(string_list(&shown), false).not(),
        };
        let listed = if shown.len() > 12 {
            format!("{}, ... ({} values)", shown[..12].join(", "), shown.len())
        } else {
            shown.join(", ")
        };
        rules.push(Rule {
            column: name.clone(),
            rule: "enum",
            message: format!("not one of the allowed values: {listed}"),
            fails: typed.clone().is_not_null().and(fails),
        });
    }
    if c.unique {
        rules.push(Rule {
            column: name.clone(),
            rule: "unique",
            message: "the value repeats another row's; every occurrence is rejected".into(),
            fails: typed.clone().is_not_null().and(
                len()
                    .over([typed.clone()])
                    .at(|| format!("unique values of `{}`", field.name))?
                    .gt(lit(1)),
            ),
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::TableSchema;
    use crate::spec::{Dialect, Encoding};
    use std::path::Path;

    fn source(schema: &str) -> SourcePlan {
        SourcePlan {
            name: "t".into(),
            files: vec![],
            schema: TableSchema::parse(Path::new("s.json"), schema).unwrap(),
            dialect: Dialect {
                delimiter: b';',
                quote: b'"',
                header: true,
                skip_lines: 0,
                encoding: Encoding::Utf8,
                decimal_comma: true,
                null_markers: vec!["NA".into()],
            },
            derives: vec![],
            checks: vec![],
            unpivot: None,
            harmonize: vec![],
            late_derives: vec![],
            late_checks: vec![],
            columns: vec![],
            design: None,
        }
    }

    fn frame(cols: &[(&str, Vec<&str>)]) -> DataFrame {
        let n = cols[0].1.len();
        let mut columns: Vec<Column> = cols
            .iter()
            .map(|(n, v)| Column::new((*n).into(), v.clone()))
            .collect();
        columns.push(Column::new(ROW.into(), (0..n as u64).collect::<Vec<_>>()));
        columns.push(Column::new(FILE.into(), vec![0u32; n]));
        columns.push(Column::new(
            LINE.into(),
            (2..n as u64 + 2).collect::<Vec<_>>(),
        ));
        DataFrame::new_infer_height(columns).unwrap()
    }

    #[test]
    fn every_broken_rule_is_quarantined_with_its_line() {
        let src = source(
            r#"{"fields": [
              {"name": "id", "constraints": {"unique": true, "pattern": "T[0-9]+"}},
              {"name": "born", "type": "integer", "constraints": {"required": true, "minimum": 1900, "maximum": 2025}},
              {"name": "w", "type": "number"},
              {"name": "d", "type": "date", "format": "%d/%m/%Y"},
              {"name": "r", "constraints": {"enum": ["Nord", "Sud"]}}
            ]}"#,
        );
        let df = frame(&[
            ("id", vec!["T1", "T2", "T2", "X4", "T5"]),
            ("born", vec!["1980", "19B5", "1850", "", " 1990 "]),
            ("w", vec!["1,5", "2", "x", "NA", "0,25"]),
            (
                "d",
                vec![
                    "01/02/2024",
                    "31/02/2024",
                    "01/01/2023",
                    "2024-01-01",
                    "15/06/2024",
                ],
            ),
            ("r", vec!["Nord", "Sud", "Est", "Nord", "Sud"]),
        ]);
        let mut q = Quarantine::new("t", vec!["f.csv".into()]);
        let valid = validate(df, &src, &mut q).unwrap();
        assert_eq!(valid.height(), 2);
        let w = valid.column("w").unwrap().f64().unwrap();
        assert_eq!(w.get(0), Some(1.5));
        assert_eq!(w.get(1), Some(0.25));
        assert_eq!(
            valid.column("born").unwrap().i64().unwrap().get(1),
            Some(1990)
        );

        let q = q.finish().unwrap();
        let got: Vec<String> = (0..q.height())
            .map(|i| {
                let s = |c: &str| {
                    q.column(c)
                        .unwrap()
                        .str()
                        .unwrap()
                        .get(i)
                        .unwrap_or("")
                        .to_string()
                };
                let line = q.column("line").unwrap().u64().unwrap().get(i).unwrap();
                format!("{line} {} {} {}", s("column"), s("rule"), s("raw_value"))
            })
            .collect();
        assert_eq!(
            got,
            vec![
                "3 born type 19B5",
                "3 d type 31/02/2024",
                "3 id unique T2",
                "4 born minimum 1850",
                "4 id unique T2",
                "4 r enum Est",
                "4 w type x",
                "5 born required ",
                "5 d type 2024-01-01",
                "5 id pattern X4",
            ]
        );
    }
}
