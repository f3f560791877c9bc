//! Validate: type every field and enforce the Table Schema's constraints, column by column.
//!
//! Every check is a polars expression that marks failing rows; they all run in one query. Only the
//! (few) failing rows are then turned into quarantine entries, one per broken rule, so that a
//! ministry learns everything that is wrong with a row at once, not one error per round trip.

use std::collections::HashSet;
use std::path::Path;

use polars::prelude::*;

use crate::error::{EngineContext, Error, Result};
use crate::quarantine::{Quarantine, BROKEN, FILE, LINE, ROW};
use crate::schema::{Bound, Field, FieldType, TableSchema};
use crate::spec::SourcePlan;
use crate::vocab;

/// One rule applied to one column.
struct Rule {
    column: String,
    rule: vocab::Rule,
    message: String,
    fails: Expr,
}

fn typed_name(field: &str) -> String {
    format!("__typed__{field}")
}

fn missing_name(field: &str) -> String {
    format!("__missing__{field}")
}

fn value_name(field: &str) -> String {
    format!("__value__{field}")
}

fn string_list(values: &[String]) -> Expr {
    lit(Series::new(PlSmallStr::EMPTY, values)).implode(false)
}

/// Whether a field's raw text is a missing value (null, or one of the schema's `missingValues`
/// and the dialect's null markers).
fn is_missing(field: &Field, source: &SourcePlan) -> Expr {
    let mut missing: Vec<String> = source.schema.missing_values.clone();
    missing.extend(source.dialect.null_markers.iter().cloned());
    let raw = col(field.name.as_str());
    // A few markers are compared one by one: string views make an equality test a comparison
    // of two integers for most values, which is much cheaper than hashing every value.
    if missing.len() <= 8 {
        missing.iter().fold(raw.clone().is_null(), |any, m| {
            any.or(raw.clone().eq(lit(m.clone())))
        })
    } else {
        raw.clone()
            .is_null()
            .or(raw.is_in(string_list(&missing), false))
    }
}

/// A field as read: whether the raw text is a missing value, the text with missing values
/// nulled, the typed value, and the message given when the text is not of the field's type.
fn read_field(field: &Field, source: &SourcePlan) -> (Expr, Expr, Expr, String) {
    let is_missing = is_missing(field, source);
    let value = when(is_missing.clone())
        .then(lit(NULL).cast(DataType::String))
        .otherwise(col(field.name.as_str()));
    let (typed, message) = type_field(field, value.clone(), source.dialect.decimal_comma);
    (is_missing, value, typed, message)
}

/// The typed values that survive validation, with the hidden row columns. `unique` and
/// `primaryKey` are whole-source rules: `repeats` (found over every window of the source
/// before validation starts) says which rows break them.
pub fn validate(
    frame: DataFrame,
    source: &SourcePlan,
    quarantine: &mut Quarantine,
    repeats: &Repeats,
    references: &References,
) -> Result<DataFrame> {
    let keys = key_sets(&source.schema);
    let frame = with_repeat_flags(frame, &keys, repeats, source)?;
    let mut checks = Checks::of(source, &keys)?;
    checks.rules.extend(references.rules(source));
    let checked = checks.run(frame, source)?;
    quarantine_failures(&checked, &checks.rules, source, quarantine)?;
    keep_valid(checked, source)
}

/// The frame with, for each key set, a column saying which rows repeat another row's key.
fn with_repeat_flags(
    frame: DataFrame,
    keys: &[Vec<String>],
    repeats: &Repeats,
    source: &SourcePlan,
) -> Result<DataFrame> {
    let mut frame = frame;
    for (i, _) in keys.iter().enumerate() {
        let flags = repeats
            .flags(i, &frame)
            .at(|| format!("validating source `{}`", source.name))?;
        frame
            .with_column(flags.with_name(repeat_name(i).into()).into_column())
            .at(|| format!("validating source `{}`", source.name))?;
    }
    Ok(frame)
}

/// How every field of a source is read, and every rule its rows are checked against, as
/// expressions that run in one query.
struct Checks {
    /// Whether each field's text is a missing value.
    missing: Vec<Expr>,
    /// Each field's text, with missing values nulled.
    values: Vec<Expr>,
    /// Each field's typed value.
    typed: Vec<Expr>,
    rules: Vec<Rule>,
}

impl Checks {
    fn of(source: &SourcePlan, keys: &[Vec<String>]) -> Result<Checks> {
        let schema = &source.schema;
        // Each field is read once, in steps that later ones refer to by name: whether it is
        // missing, its text with missing values nulled, its typed value.
        let (mut missing, mut values, mut typed) = (Vec::new(), Vec::new(), Vec::new());
        let mut rules = Vec::new();
        for field in &schema.fields {
            let name = field.name.as_str();
            missing.push(is_missing(field, source).alias(missing_name(name)));
            values.push(
                when(col(missing_name(name)))
                    .then(lit(NULL).cast(DataType::String))
                    .otherwise(col(name))
                    .alias(value_name(name)),
            );
            let (typed_expr, type_message) =
                type_field(field, col(value_name(name)), source.dialect.decimal_comma);
            typed.push(typed_expr.alias(typed_name(name)));
            rules.extend(field_rules(field, source, keys, type_message)?);
        }
        rules.extend(primary_key_rule(schema, keys));
        Ok(Checks {
            missing,
            values,
            typed,
            rules,
        })
    }

    /// The frame with every field read, every rule's failures (`__fail__{i}`) and whether a
    /// row fails any (`__any_fail`).
    fn run(&self, frame: DataFrame, source: &SourcePlan) -> Result<DataFrame> {
        let fails: Vec<Expr> = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| r.fails.clone().fill_null(lit(false)).alias(fail_name(i)))
            .collect();
        let broken = if frame.column(BROKEN).is_ok() {
            col(BROKEN)
        } else {
            lit(false)
        };
        let any_fail = (0..self.rules.len())
            .map(|i| col(fail_name(i)))
            .fold(broken, |a, b| a.or(b));
        frame
            .lazy()
            .with_columns(self.missing.clone())
            .with_columns(self.values.clone())
            .with_columns(self.typed.clone())
            .with_columns(fails)
            .with_column(any_fail.alias("__any_fail"))
            .collect()
            .at(|| format!("validating source `{}`", source.name))
    }
}

fn fail_name(i: usize) -> String {
    format!("__fail__{i}")
}

/// The rules of one field: a value is required, is of the field's type, meets its constraints
/// and, for a `unique` field, repeats no other row's.
fn field_rules(
    field: &Field,
    source: &SourcePlan,
    keys: &[Vec<String>],
    type_message: String,
) -> Result<Vec<Rule>> {
    let schema = &source.schema;
    let name = field.name.as_str();
    let (is_missing, value) = (col(missing_name(name)), col(value_name(name)));
    let t = col(typed_name(&field.name));
    let mut rules = Vec::new();
    let required = field.constraints.required || schema.primary_key.contains(&field.name);
    if required {
        rules.push(Rule {
            column: field.name.clone(),
            rule: vocab::Rule::Required,
            message: "a value is required".into(),
            // a cell a short row lacks is null: `missing-cell` reports it, once
            fails: is_missing.clone().and(col(name).is_not_null()),
        });
    }
    if field.field_type != FieldType::String {
        rules.push(Rule {
            column: field.name.clone(),
            rule: vocab::Rule::Type,
            message: type_message,
            fails: value.clone().is_not_null().and(t.clone().is_null()),
        });
    }
    if field.field_type == FieldType::Number && source.finite.contains(&field.name) {
        rules.push(Rule {
            column: field.name.clone(),
            rule: vocab::Rule::Finite,
            message: "not a finite number: a value a table sums or a survey weight must be finite"
                .into(),
            fails: t.clone().is_nan().or(t.clone().is_infinite()),
        });
    }
    rules.extend(constraint_rules(field, value, t)?);
    if field.constraints.unique {
        let set = keys
            .iter()
            .position(|k| k.len() == 1 && k[0] == field.name)
            .expect("a unique field is a key set");
        rules.push(Rule {
            column: field.name.clone(),
            rule: vocab::Rule::Unique,
            message: "the value repeats another row's; every occurrence is rejected".into(),
            fails: col(repeat_name(set)),
        });
    }
    Ok(rules)
}

/// The primary key's rule: no two rows share it (`None` when the schema has no primary key).
fn primary_key_rule(schema: &TableSchema, keys: &[Vec<String>]) -> Option<Rule> {
    if schema.primary_key.is_empty() {
        return None;
    }
    let set = keys
        .iter()
        .position(|k| *k == schema.primary_key)
        .expect("the primary key is a key set");
    Some(Rule {
        column: schema.primary_key.join(","),
        rule: vocab::Rule::PrimaryKey,
        message: format!(
            "the primary key ({}) repeats another row's",
            schema.primary_key.join(", ")
        ),
        fails: col(repeat_name(set)),
    })
}

/// Send every failing row to the quarantine, once for each rule it breaks, with its raw text.
fn quarantine_failures(
    checked: &DataFrame,
    rules: &[Rule],
    source: &SourcePlan,
    quarantine: &mut Quarantine,
) -> Result<()> {
    let failing = checked.clone().lazy().filter(col("__any_fail"));
    let rejections: Vec<LazyFrame> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            failing.clone().filter(col(fail_name(i))).select([
                col(ROW),
                col(FILE),
                col(LINE),
                lit(r.column.clone()).alias("column"),
                raw_value(&source.schema, r).alias("raw_value"),
                lit(r.rule.to_string()).alias("rule"),
                lit(r.message.clone()).alias("message"),
            ])
        })
        .collect();
    if !rejections.is_empty() {
        let all = concat(rejections, UnionArgs::default())
            .at(|| "collecting validation failures".into())?;
        quarantine.push_frame(all)?;
    }
    Ok(())
}

/// The values of the fields that other sources' `foreignKeys` reference, collected from the
/// referenced source's valid rows (it is read first), as the schema types them, written as text.
#[derive(Debug, Default, Clone)]
pub struct References {
    /// Each referenced key's values, as the Series the rule tests against (built once: cloning
    /// it for every window costs nothing).
    sets: std::collections::HashMap<(String, Vec<String>), Series>,
}

impl References {
    /// Record the values `fields` take in `source`'s valid rows.
    pub fn add(&mut self, source: &str, fields: Vec<String>, values: HashSet<String>) {
        let values: Vec<String> = values.into_iter().collect();
        let series = Series::new(PlSmallStr::EMPTY, values);
        self.sets.insert((source.to_string(), fields), series);
    }

    /// A rule per `foreignKeys` entry whose referenced values are known: a row whose key is
    /// not among them is rejected (a row with a part of its key missing is not checked, as
    /// Table Schema says).
    fn rules(&self, source: &SourcePlan) -> Vec<Rule> {
        let schema = &source.schema;
        schema
            .foreign_keys
            .iter()
            .filter_map(|fk| {
                let values = self
                    .sets
                    .get(&(fk.resource.clone(), fk.reference_fields.clone()))?;
                let key = key_text(&fk.fields, typed_name);
                let known = lit(values.clone()).implode(false);
                Some(Rule {
                    column: fk.fields.join(","),
                    rule: vocab::Rule::ForeignKey,
                    message: format!(
                        "not found among the {} of `{}`",
                        fk.reference_fields.join(", "),
                        fk.resource
                    ),
                    fails: key.clone().is_not_null().and(key.is_in(known, false).not()),
                })
            })
            .collect()
    }
}

/// A key as one text: its fields' typed values as text, joined by the unit separator (U+001F,
/// which no value holds); null when a part is missing.
fn key_text(fields: &[String], name: impl Fn(&str) -> String) -> Expr {
    let part = |f: &String| col(name(f)).cast(DataType::String);
    fields[1..]
        .iter()
        .fold(part(&fields[0]), |key, f| key + lit("\u{1f}") + part(f))
}

/// The distinct keys of `fields` among a source's valid rows (typed, under the fields' names).
pub fn referenced_values(valid: &DataFrame, fields: &[String]) -> Result<HashSet<String>> {
    let context = || format!("collecting the values of {}", fields.join(", "));
    let keys = valid
        .clone()
        .lazy()
        .select([key_text(fields, |f| f.to_string()).alias("__key")])
        .collect()
        .at(context)?;
    let keys = keys.column("__key").at(context)?.str().at(context)?;
    Ok(keys.iter().flatten().map(String::from).collect())
}

/// The raw text a broken rule is shown with: its column's.
fn raw_value(schema: &TableSchema, r: &Rule) -> Expr {
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
}

/// The rows that break no rule, with their typed values under the fields' names.
fn keep_valid(checked: DataFrame, source: &SourcePlan) -> Result<DataFrame> {
    let mut keep: Vec<Expr> = source
        .schema
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
            let format = field.date_pattern();
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

/// The rules of a field's constraints, in the Table Schema's order: range, length, pattern and
/// list of allowed values.
fn constraint_rules(field: &Field, value: Expr, typed: Expr) -> Result<Vec<Rule>> {
    let mut rules = range_rules(field, &typed);
    rules.extend(length_rules(field, &value));
    rules.extend(pattern_rule(field, &value));
    rules.extend(enum_rule(field, &value, &typed));
    Ok(rules)
}

/// `minimum` and `maximum`: the typed value lies within the field's bounds. NaN lies within
/// none, so it breaks both (polars orders NaN above every number, which alone would only break
/// the maximum).
fn range_rules(field: &Field, typed: &Expr) -> Vec<Rule> {
    let c = &field.constraints;
    let nan = if field.field_type == FieldType::Number {
        typed.clone().is_nan()
    } else {
        lit(false)
    };
    let mut rules = Vec::new();
    if let (Some(min), Some(b)) = (&c.minimum, &field.bounds.minimum) {
        rules.push(Rule {
            column: field.name.clone(),
            rule: vocab::Rule::Minimum,
            message: format!("below the minimum {min}"),
            fails: typed.clone().lt(bound_lit(b)).and(nan.clone().not()),
        });
        rules.push(not_a_number(field, vocab::Rule::Minimum, nan.clone()));
    }
    if let (Some(max), Some(b)) = (&c.maximum, &field.bounds.maximum) {
        rules.push(Rule {
            column: field.name.clone(),
            rule: vocab::Rule::Maximum,
            message: format!("above the maximum {max}"),
            fails: typed.clone().gt(bound_lit(b)).and(nan.clone().not()),
        });
        rules.push(not_a_number(field, vocab::Rule::Maximum, nan));
    }
    rules
}

/// NaN against a bound, with a message that says why.
fn not_a_number(field: &Field, rule: vocab::Rule, nan: Expr) -> Rule {
    Rule {
        column: field.name.clone(),
        message: format!("NaN is not a number, so it does not meet the {rule}"),
        rule,
        fails: nan,
    }
}

/// `minLength` and `maxLength`: the text has as many characters as allowed.
fn length_rules(field: &Field, value: &Expr) -> Vec<Rule> {
    let c = &field.constraints;
    let mut rules = Vec::new();
    if let Some(min) = c.min_length {
        rules.push(Rule {
            column: field.name.clone(),
            rule: vocab::Rule::MinLength,
            message: format!("shorter than {min} characters"),
            fails: value.clone().str().len_chars().lt(lit(min as u32)),
        });
    }
    if let Some(max) = c.max_length {
        rules.push(Rule {
            column: field.name.clone(),
            rule: vocab::Rule::MaxLength,
            message: format!("longer than {max} characters"),
            fails: value.clone().str().len_chars().gt(lit(max as u32)),
        });
    }
    rules
}

/// `pattern`: the text matches the field's regular expression.
fn pattern_rule(field: &Field, value: &Expr) -> Option<Rule> {
    let pattern = field.constraints.pattern.as_ref()?;
    // Table Schema patterns match the whole value (XML Schema semantics).
    Some(Rule {
        column: field.name.clone(),
        rule: vocab::Rule::Pattern,
        message: format!("does not match the pattern `{pattern}`"),
        fails: value
            .clone()
            .str()
            .contains(lit(format!("^(?:{pattern})$")), true)
            .not(),
    })
}

/// `enum`: the value is one of the allowed ones (compared as numbers for a numeric field).
fn enum_rule(field: &Field, value: &Expr, typed: &Expr) -> Option<Rule> {
    let values = field.constraints.enumeration.as_ref()?;
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
    Some(Rule {
        column: field.name.clone(),
        rule: vocab::Rule::Enum,
        message: format!("not one of the allowed values: {listed}"),
        fails: typed.clone().is_not_null().and(fails),
    })
}

fn repeat_name(set: usize) -> String {
    format!("__repeat__{set}")
}

/// The column sets whose values must not repeat: each `unique` field, and the primary key.
pub fn key_sets(schema: &crate::schema::TableSchema) -> Vec<Vec<String>> {
    let mut sets: Vec<Vec<String>> = schema
        .fields
        .iter()
        .filter(|f| f.constraints.unique)
        .map(|f| vec![f.name.clone()])
        .collect();
    if !schema.primary_key.is_empty() && !sets.contains(&schema.primary_key) {
        sets.push(schema.primary_key.clone());
    }
    sets
}

/// Rows, by file and line, whose key repeats another row's, for each of `key_sets`.
#[derive(Debug, Default)]
pub struct Repeats {
    sets: Vec<HashSet<(u32, u64)>>,
}

impl Repeats {
    /// Rows of `frame` in key set `set`.
    fn flags(&self, set: usize, frame: &DataFrame) -> PolarsResult<Series> {
        let rows = self.sets.get(set).filter(|s| !s.is_empty());
        let Some(rows) = rows else {
            return Ok(
                BooleanChunked::full(PlSmallStr::EMPTY, false, frame.height()).into_series(),
            );
        };
        let files = frame.column(FILE)?.u32()?;
        let lines = frame.column(LINE)?.u64()?;
        Ok(files
            .into_no_null_iter()
            .zip(lines.into_no_null_iter())
            .map(|k| rows.contains(&k))
            .collect::<BooleanChunked>()
            .into_series())
    }

    pub fn is_empty(&self) -> bool {
        self.sets.iter().all(|s| s.is_empty())
    }
}

/// Finds repeated keys over a whole source, window by window, in bounded memory: every complete
/// key is written with its file and line to one of several bucket files by its hash, then each
/// bucket is sorted on its own. Only the rows whose key repeats are kept.
pub struct RepeatFinder {
    sets: Vec<Vec<String>>,
    typed: Vec<Expr>,
    dir: tempfile::TempDir,
    buckets: std::sync::Mutex<Vec<std::io::BufWriter<std::fs::File>>>,
}

impl RepeatFinder {
    /// `None` when the schema has no `unique` field and no primary key.
    pub fn new(source: &SourcePlan, scratch: &Path, bytes: u64) -> Result<Option<RepeatFinder>> {
        let sets = key_sets(&source.schema);
        if sets.is_empty() {
            return Ok(None);
        }
        let write_error = |e: std::io::Error| Error::Write {
            path: scratch.to_path_buf(),
            source: e,
        };
        std::fs::create_dir_all(scratch).map_err(write_error)?;
        let dir = tempfile::Builder::new()
            .prefix(".marsad-keys-")
            .tempdir_in(scratch)
            .map_err(write_error)?;
        // about 4 MiB of input per bucket, so that sorting one bucket takes little memory
        let n = (bytes / (4 << 20)).clamp(1, 1024) as usize;
        let buckets = (0..n)
            .map(|i| {
                std::fs::File::create(dir.path().join(format!("{i}.keys")))
                    .map(|f| std::io::BufWriter::with_capacity(16 << 10, f))
                    .map_err(write_error)
            })
            .collect::<Result<_>>()?;
        let mut fields: Vec<&String> = sets.iter().flatten().collect();
        fields.sort();
        fields.dedup();
        let mut typed = vec![col(FILE), col(LINE)];
        for name in fields {
            let field = source.schema.field(name).expect("a key is a schema field");
            let (_, _, t, _) = read_field(field, source);
            typed.push(t.cast(DataType::String).alias(name.as_str()));
        }
        Ok(Some(RepeatFinder {
            sets,
            typed,
            dir,
            buckets: std::sync::Mutex::new(buckets),
        }))
    }

    /// The key entries of one window, by bucket (run on several windows at once).
    pub fn entries(&self, frame: DataFrame) -> Result<Vec<Vec<u8>>> {
        let context = || "looking for repeated keys".to_string();
        let typed = frame
            .lazy()
            .select(self.typed.clone())
            .collect()
            .at(context)?;
        let files: Vec<u32> = typed
            .column(FILE)
            .at(context)?
            .u32()
            .at(context)?
            .into_no_null_iter()
            .collect();
        let lines: Vec<u64> = typed
            .column(LINE)
            .at(context)?
            .u64()
            .at(context)?
            .into_no_null_iter()
            .collect();
        let buckets = self.buckets.lock().map(|b| b.len()).unwrap_or(1);
        let n = buckets as u64;
        let mut out = vec![Vec::new(); buckets];
        let mut key = Vec::new();
        for (s, set) in self.sets.iter().enumerate() {
            let parts: Vec<Vec<Option<&str>>> = set
                .iter()
                .map(|c| {
                    typed
                        .column(c)
                        .and_then(|c| c.str())
                        .map(|c| c.iter().collect())
                })
                .collect::<PolarsResult<_>>()
                .at(context)?;
            'rows: for i in 0..typed.height() {
                key.clear();
                for p in &parts {
                    let Some(v) = p[i] else { continue 'rows };
                    key.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    key.extend_from_slice(v.as_bytes());
                }
                let bucket = &mut out[(fnv1a(s as u64, &key) % n) as usize];
                bucket.extend_from_slice(&(s as u32).to_le_bytes());
                bucket.extend_from_slice(&files[i].to_le_bytes());
                bucket.extend_from_slice(&lines[i].to_le_bytes());
                bucket.extend_from_slice(&(key.len() as u32).to_le_bytes());
                bucket.extend_from_slice(&key);
            }
        }
        Ok(out)
    }

    pub fn write(&self, entries: Vec<Vec<u8>>) -> Result<()> {
        use std::io::Write;
        let mut buckets = self.buckets.lock().map_err(|_| Error::Invariant {
            table: "(keys)".into(),
            message: "a thread failed while writing keys".into(),
        })?;
        for (w, bytes) in buckets.iter_mut().zip(entries) {
            w.write_all(&bytes).map_err(|e| Error::Write {
                path: self.dir.path().to_path_buf(),
                source: e,
            })?;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<Repeats> {
        use std::io::Write;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |e: std::io::Error| Error::Write { path, source: e }
        };
        use rayon::prelude::*;
        let mut buckets = self.buckets.into_inner().map_err(|_| Error::Invariant {
            table: "(keys)".into(),
            message: "a thread failed while writing keys".into(),
        })?;
        for w in &mut buckets {
            w.flush().map_err(io(self.dir.path()))?;
        }
        let n = buckets.len();
        drop(buckets);
        let dir = self.dir.path();
        // Buckets are sorted on all threads at once; each holds a few megabytes.
        let found: Vec<Vec<(u32, u32, u64)>> = (0..n)
            .into_par_iter()
            .map(|i| -> Result<Vec<(u32, u32, u64)>> {
                let path = dir.join(format!("{i}.keys"));
                let bytes = std::fs::read(&path).map_err(io(&path))?;
                std::fs::remove_file(&path).map_err(io(&path))?;
                let mut entries: Vec<(u32, &[u8], u32, u64)> = Vec::new();
                let mut at = 0;
                let u32_at =
                    |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
                while at < bytes.len() {
                    let set = u32_at(&bytes, at);
                    let file = u32_at(&bytes, at + 4);
                    let line = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap());
                    let len = u32_at(&bytes, at + 16) as usize;
                    entries.push((set, &bytes[at + 20..at + 20 + len], file, line));
                    at += 20 + len;
                }
                entries.sort_unstable();
                Ok(entries
                    .chunk_by(|a, b| a.0 == b.0 && a.1 == b.1)
                    .filter(|run| run.len() > 1)
                    .flatten()
                    .map(|e| (e.0, e.2, e.3))
                    .collect())
            })
            .collect::<Result<_>>()?;
        let mut sets = vec![HashSet::new(); self.sets.len()];
        for (set, file, line) in found.into_iter().flatten() {
            sets[set as usize].insert((file, line));
        }
        Ok(Repeats { sets })
    }
}

/// FNV-1a, 64 bits: a bucket for a key. Fixed, so that buckets do not depend on the process.
fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Repeats within one frame.
#[cfg(test)]
fn repeats_in(frame: &DataFrame, source: &SourcePlan) -> Result<Repeats> {
    let scratch = std::env::temp_dir();
    match RepeatFinder::new(source, &scratch, 0)? {
        None => Ok(Repeats::default()),
        Some(finder) => {
            let entries = finder.entries(frame.clone())?;
            finder.write(entries)?;
            finder.finish()
        }
    }
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
                sheet: Default::default(),
                value_labels: false,
            },
            derives: vec![],
            checks: vec![],
            unpivot: None,
            harmonize: vec![],
            late_derives: vec![],
            late_checks: vec![],
            columns: vec![],
            design: None,
            finite: vec![],
            referenced: vec![],
            code_list_keys: vec![],
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
        let repeats = repeats_in(&df, &src).unwrap();
        let valid = validate(df, &src, &mut q, &repeats, &References::default()).unwrap();
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
