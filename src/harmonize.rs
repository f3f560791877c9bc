//! Harmonize: from validated rows in the ministry's vocabulary to rows in standard codes.
//!
//! In order: derived columns (`[[derive]]`), cross-field rules (`[[check]]`), wide-to-long
//! reshaping (`[[unpivot]]`) and code mapping (`[[harmonize]]`). Code lists are applied to the
//! distinct raw values only, then joined back, so a 10-million-row file with 300 spellings of
//! nationality costs 300 look-ups. A row whose value maps to nothing is quarantined, whole, even
//! when it was unpivoted into several long rows.

use polars::prelude::*;

use crate::books::Unmapped;
use crate::codelist::AgeScheme;
use crate::error::{EngineContext, Result};
use crate::quarantine::{Quarantine, FILE, LINE, ROW};
use crate::spec::{CheckPlan, DeriveKind, DerivePlan, HarmonizePlan, SourcePlan, UnpivotPlan};
use crate::vocab::TOTAL;

pub struct Harmonized {
    pub frame: DataFrame,
    pub unmapped: Vec<Unmapped>,
}

pub fn harmonize(
    valid: DataFrame,
    source: &SourcePlan,
    quarantine: &mut Quarantine,
) -> Result<Harmonized> {
    let context = || format!("harmonizing source `{}`", source.name);
    let mut df = derive(valid, &source.derives).at(context)?;
    if !source.checks.is_empty() {
        df = apply_checks(df, &source.checks, false, quarantine).at(context)?;
    }
    if let Some(u) = &source.unpivot {
        df = unpivot(df, u).at(context)?;
    }

    let mut unmapped = Vec::new();
    for h in &source.harmonize {
        let (mapped, mut missing) = map_codes(df, h, quarantine)?;
        df = mapped;
        unmapped.append(&mut missing);
    }
    // A value that maps to nothing leaves its code empty (missing values get `_U`); those rows
    // are in the quarantine already and leave the data here, before anything reads the codes.
    let whole_rows = source.unpivot.is_some();
    let unmapped_code = source
        .harmonize
        .iter()
        .map(|h| col(h.into.as_str()).is_null())
        .reduce(|a, b| a.or(b));
    if let Some(bad) = unmapped_code {
        df = drop_rows(df, bad, whole_rows).at(context)?;
    }
    df = derive(df, &source.late_derives).at(context)?;
    if !source.late_checks.is_empty() {
        df = apply_checks(df, &source.late_checks, whole_rows, quarantine).at(context)?;
    }
    Ok(Harmonized {
        frame: df,
        unmapped,
    })
}

fn derive(df: DataFrame, derives: &[DerivePlan]) -> PolarsResult<DataFrame> {
    let mut df = df;
    for d in derives {
        df = match &d.kind {
            DeriveKind::Expr(e) => df
                .lazy()
                .with_column(e.clone().alias(d.name.as_str()))
                .collect()?,
            DeriveKind::AgeGroup { age, scheme } if df.column(age)?.dtype().is_integer() => {
                let groups = age_groups(df.column(age)?, *scheme, &d.name)?;
                let mut df = df;
                df.with_column(groups.into_column())?;
                df
            }
            DeriveKind::AgeGroup { age, scheme } => df
                .lazy()
                .with_column(age_group(col(age.as_str()), *scheme).alias(d.name.as_str()))
                .collect()?,
            DeriveKind::Region {
                country,
                level,
                countries,
            } => map_distinct(df, country, &d.name, |code| Some(level.of(countries, code)))?,
        };
    }
    Ok(df)
}

/// Give `into` the value `f` returns for each distinct value of `column`, computed once per
/// distinct value (a null stays null).
fn map_distinct(
    df: DataFrame,
    column: &str,
    into: &str,
    f: impl Fn(&str) -> Option<String>,
) -> PolarsResult<DataFrame> {
    let text = df.column(column)?.cast(&DataType::String)?;
    let d = Distinct::of(text.str()?);
    let values: Vec<Option<String>> = d.values.iter().map(|v| f(v)).collect();
    let mapped = d.spread(into, &values, None);
    let mut df = df;
    df.with_column(mapped.into_series().into_column())?;
    Ok(df)
}

/// The distinct values of a text column, the rows of each, and each row's value as an index
/// into them: one pass over the rows, after which a code list or a function is consulted once
/// per distinct value (a register of 10 million rows has a few hundred spellings).
struct Distinct<'a> {
    values: Vec<&'a str>,
    rows: Vec<u64>,
    /// `MISSING` for a null.
    ids: Vec<u32>,
}

const MISSING: u32 = u32::MAX;

impl<'a> Distinct<'a> {
    fn of(text: &'a StringChunked) -> Distinct<'a> {
        use polars_arrow::array::View;
        let mut by_text: PlHashMap<&str, u32> = PlHashMap::new();
        // A value of up to 12 bytes is held whole in its string view, so the view's 16 bytes
        // can be looked up as one integer; equal short values made elsewhere with different
        // padding still meet in `by_text`.
        let mut by_view: PlHashMap<u128, u32> = PlHashMap::new();
        let (mut values, mut rows) = (Vec::new(), Vec::new());
        let mut ids = Vec::with_capacity(text.len());
        for array in text.downcast_iter() {
            for (value, view) in array.iter().zip(array.views().iter()) {
                let Some(value) = value else {
                    ids.push(MISSING);
                    continue;
                };
                let mut by_value = || {
                    *by_text.entry(value).or_insert_with(|| {
                        values.push(value);
                        rows.push(0u64);
                        (values.len() - 1) as u32
                    })
                };
                let id = if view.length <= View::MAX_INLINE_SIZE {
                    *by_view.entry(view.as_u128()).or_insert_with(by_value)
                } else {
                    by_value()
                };
                rows[id as usize] += 1;
                ids.push(id);
            }
        }
        Distinct { values, rows, ids }
    }

    /// A column giving every row the value of its distinct value (`missing` for a null).
    fn spread(
        &self,
        name: &str,
        per_value: &[Option<String>],
        missing: Option<&str>,
    ) -> StringChunked {
        let mut values: Vec<Option<&str>> = per_value.iter().map(|v| v.as_deref()).collect();
        values.push(missing);
        let last = (values.len() - 1) as u32;
        let ids: Vec<u32> = self
            .ids
            .iter()
            .map(|&id| if id == MISSING { last } else { id })
            .collect();
        crate::text::repeat(name, &values, &ids)
    }
}

/// Age groups of a scheme as SDMX-style codes; a missing or negative age is `_U`, "not
/// stated", so that it stays visible in every table.
pub fn age_group(age: Expr, scheme: AgeScheme) -> Expr {
    let groups = scheme.groups();
    let (open_lo, open_code) = groups.last().cloned().expect("a scheme has groups");
    let mut chain = when(age.clone().is_null().or(age.clone().lt(lit(0))))
        .then(lit("_U"))
        .when(age.clone().gt_eq(lit(open_lo)))
        .then(lit(open_code));
    for window in groups.windows(2) {
        chain = chain
            .when(age.clone().lt(lit(window[1].0)))
            .then(lit(window[0].1.clone()));
    }
    chain.otherwise(lit("_U"))
}

/// `age_group` for whole-year ages, by table look-up: one pass over the column instead of a
/// pass per group.
fn age_groups(ages: &Column, scheme: AgeScheme, name: &str) -> PolarsResult<Series> {
    let groups = scheme.groups();
    let (open_lo, open_code) = groups.last().cloned().expect("a scheme has groups");
    let code_of = |a: i64| -> &str {
        groups
            .windows(2)
            .find(|w| a < w[1].0)
            .map_or("_U", |w| w[0].1.as_str())
    };
    let below: Vec<&str> = (0..open_lo.max(0)).map(code_of).collect();
    let ages = ages.cast(&DataType::Int64)?;
    let out: StringChunked = ages
        .i64()?
        .iter()
        .map(|a| {
            Some(match a {
                None => "_U",
                Some(a) if a < 0 => "_U",
                Some(a) if a >= open_lo => open_code.as_str(),
                Some(a) => below[a as usize],
            })
        })
        .collect();
    Ok(out.into_series().with_name(name.into()))
}

/// Remove the rows where `bad` holds. After an unpivot (`whole_rows`), a bad long row takes every
/// long row of its input row with it, so an input row is either published or quarantined, never
/// half of each.
fn drop_rows(df: DataFrame, bad: Expr, whole_rows: bool) -> PolarsResult<DataFrame> {
    let bad = if whole_rows {
        bad.any(true).over([col(ROW)])?
    } else {
        bad
    };
    df.lazy().filter(bad.not()).collect()
}

fn apply_checks(
    df: DataFrame,
    checks: &[CheckPlan],
    whole_rows: bool,
    quarantine: &mut Quarantine,
) -> PolarsResult<DataFrame> {
    // SQL CHECK semantics: a rule that evaluates to NULL (a missing input) passes.
    let fail = |c: &CheckPlan| c.expr.clone().not().fill_null(lit(false));
    let shown = |c: &CheckPlan| -> Expr {
        let mut parts = c.columns.iter().map(|name| {
            lit(format!("{name}=")) + col(name.as_str()).cast(DataType::String).fill_null(lit(""))
        });
        let first = parts.next().unwrap_or_else(|| lit(""));
        parts.fold(first, |acc, p| acc + lit("; ") + p)
    };
    let rejections: Vec<LazyFrame> = checks
        .iter()
        .map(|c| {
            df.clone().lazy().filter(fail(c)).select([
                col(ROW),
                col(FILE),
                col(LINE),
                lit(c.columns.join(",")).alias("column"),
                shown(c).alias("raw_value"),
                lit(format!("check:{}", c.name)).alias("rule"),
                lit(c.message.clone()).alias("message"),
            ])
        })
        .collect();
    let all = concat(rejections, UnionArgs::default())?;
    quarantine
        .push_frame(all)
        .map_err(|e| polars_err!(ComputeError: "{e}"))?;
    let any = checks
        .iter()
        .map(fail)
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false));
    drop_rows(df, any, whole_rows)
}

/// Wide to long: one long row per (input row, unpivoted column), the column name split into
/// the pattern's named groups.
fn unpivot(df: DataFrame, u: &UnpivotPlan) -> PolarsResult<DataFrame> {
    let index: Vec<Expr> = df
        .get_column_names()
        .into_iter()
        .filter(|c| !u.columns.iter().any(|x| x == c.as_str()))
        .map(|c| col(c.clone()))
        .collect();
    let re = &u.pattern;
    let lf = df.lazy();
    let parts: Vec<LazyFrame> = u
        .columns
        .iter()
        .map(|name| {
            let caps = re.captures(name);
            let mut cols = index.clone();
            for (i, group) in re.capture_names().enumerate() {
                if let Some(group) = group {
                    let value = caps
                        .as_ref()
                        .and_then(|c| c.get(i))
                        .map(|m| m.as_str().to_string());
                    cols.push(lit(value.unwrap_or_default()).alias(group));
                }
            }
            cols.push(col(name.as_str()).alias(u.value.as_str()));
            lf.clone().select(cols)
        })
        .collect();
    concat(parts, UnionArgs::default())?.collect()
}

/// Give column `h.into` the code of every row's value in `h.column`, looked up once per distinct
/// value; rows whose value maps to no code are quarantined, and values not in the list reported.
fn map_codes(
    df: DataFrame,
    h: &HarmonizePlan,
    quarantine: &mut Quarantine,
) -> Result<(DataFrame, Vec<Unmapped>)> {
    let context = || mapping_context(h);
    let key_column = df
        .column(h.column.as_str())
        .at(context)?
        .cast(&DataType::String)
        .at(context)?;
    let distinct = Distinct::of(key_column.str().at(context)?);
    let (keys, rows) = (&distinct.values, &distinct.rows);
    let mut codes: Vec<Option<String>> = Vec::with_capacity(keys.len());
    let mut why: Vec<Option<String>> = Vec::with_capacity(keys.len());
    let mut unmapped = Vec::new();
    for (&value, &n) in keys.iter().zip(rows.iter()) {
        let (code, reason) = code_of(h, value, n, &mut unmapped);
        codes.push(code);
        why.push(reason);
    }
    // The code of every row; a missing value gets the plan's `missing` code.
    let failing: Vec<IdxSize> = distinct
        .ids
        .iter()
        .enumerate()
        .filter(|(_, &id)| id != MISSING && codes[id as usize].is_none())
        .map(|(row, _)| row as IdxSize)
        .collect();
    let codes = distinct.spread(h.into.as_str(), &codes, Some(h.missing.as_str()));
    let mut df = df;
    df.with_column(codes.into_series().into_column())
        .at(context)?;
    if !failing.is_empty() {
        quarantine_unmapped(&df, h, &distinct, &why, failing, quarantine)?;
    }
    Ok((df, unmapped))
}

fn mapping_context(h: &HarmonizePlan) -> String {
    format!(
        "harmonizing `{}` with the code list `{}`",
        h.column, h.codelist.name
    )
}

/// The code given to one distinct raw value (`None`: its `n` rows are quarantined) and, when a
/// listed value is refused anyway, why; a value not in the list is also reported in `unmapped`.
fn code_of(
    h: &HarmonizePlan,
    value: &str,
    n: u64,
    unmapped: &mut Vec<Unmapped>,
) -> (Option<String>, Option<String>) {
    let mut code = h.codelist.lookup(value).map(String::from);
    if code.is_none() {
        code = unlisted(h, value, n, unmapped);
    }
    // Totals are computed by marsad, never read from the data: a `_T` row would be counted twice.
    let mut reason = None;
    if code.as_deref() == Some(TOTAL) {
        code = None;
        reason = Some(
            "a total row in the data: marsad computes totals itself, so drop total rows from the file"
                .to_string(),
        );
    }
    if let (Some(c), Some(attr)) = (&code, h.output) {
        if let Some(v) = h
            .codelist
            .get(c)
            .and_then(|x| x.attrs.get(attr))
            .filter(|v| !v.is_empty())
        {
            code = Some(v.clone());
        }
    }
    let code = if reason.is_some() {
        None
    } else {
        code.or_else(|| h.unknown.clone())
    };
    (code, reason)
}

/// The code of a value missing from the list: the nearest code when fuzzy matching is on and one
/// code is clearly the nearest, else none. The value is reported with the nearest codes.
fn unlisted(
    h: &HarmonizePlan,
    value: &str,
    n: u64,
    unmapped: &mut Vec<Unmapped>,
) -> Option<String> {
    let suggestions = h.codelist.suggest(value, 3);
    let fuzzy = h.fuzzy.and_then(|max| {
        // accepted only when one code is clearly the closest
        let best = suggestions.first().filter(|s| s.distance <= max)?;
        let tie = suggestions
            .get(1)
            .is_some_and(|s| s.distance == best.distance);
        (!tie).then(|| best.code.clone())
    });
    unmapped.push(Unmapped {
        column: h.column.clone(),
        codelist: h.codelist.name.clone(),
        raw_value: value.to_string(),
        rows: n,
        given: fuzzy.clone().or_else(|| h.unknown.clone()),
        suggestions,
    });
    fuzzy
}

/// Quarantine the rows (`failing`) whose value maps to no code, each with why.
fn quarantine_unmapped(
    df: &DataFrame,
    h: &HarmonizePlan,
    distinct: &Distinct,
    why: &[Option<String>],
    failing: Vec<IdxSize>,
    quarantine: &mut Quarantine,
) -> Result<()> {
    let context = || mapping_context(h);
    let default = format!(
        "no code in the list `{}` for this value; add it under [harmonize.extra] in the pipeline, or set `unknown`",
        h.codelist.name
    );
    let messages: Vec<&str> = failing
        .iter()
        .map(|&row| {
            let id = distinct.ids[row as usize] as usize;
            why[id].as_deref().unwrap_or(default.as_str())
        })
        .collect();
    let rows = IdxCa::from_vec(PlSmallStr::EMPTY, failing);
    let failed = df
        .select([ROW, FILE, LINE, h.column.as_str()])
        .and_then(|f| f.take(&rows))
        .at(context)?
        .lazy()
        .with_column(lit(Series::new("__why".into(), messages)).alias("__why"))
        .select([
            col(ROW),
            col(FILE),
            col(LINE),
            lit(h.column.clone()).alias("column"),
            col(h.column.as_str())
                .cast(DataType::String)
                .alias("raw_value"),
            lit(format!("codelist:{}", h.codelist.name)).alias("rule"),
            col("__why").alias("message"),
        ]);
    quarantine.push_frame(failed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_values_are_found_once_whether_short_or_long() {
        let long = "Laâyoune-Sakia El Hamra";
        let mut text = StringChunked::new("r".into(), [Some("F"), Some(long), None, Some("F")]);
        text.append(&StringChunked::new(
            "r".into(),
            [Some(long), Some("M"), Some("F")],
        ))
        .unwrap();
        let d = Distinct::of(&text);
        assert_eq!(d.values, vec!["F", long, "M"]);
        assert_eq!(d.rows, vec![3, 2, 1]);
        assert_eq!(d.ids, vec![0, 1, MISSING, 0, 1, 2, 0]);
        let codes = [Some("F".to_string()), Some("MA-11".into()), None];
        let spread = d.spread("c", &codes, Some("_U"));
        let spread: Vec<Option<&str>> = spread.iter().collect();
        assert_eq!(
            spread,
            [
                Some("F"),
                Some("MA-11"),
                Some("_U"),
                Some("F"),
                Some("MA-11"),
                None,
                Some("F")
            ]
        );
    }

    #[test]
    fn look_up_groups_equal_the_expression() {
        let ages: Vec<Option<i64>> = (-3..110).map(Some).chain([None]).collect();
        let df = df!("age" => ages).unwrap();
        for scheme in [AgeScheme::FiveYear, AgeScheme::Broad, AgeScheme::Unhcr] {
            let want = df
                .clone()
                .lazy()
                .select([age_group(col("age"), scheme).alias("g")])
                .collect()
                .unwrap();
            let got = age_groups(df.column("age").unwrap(), scheme, "g").unwrap();
            assert_eq!(want.column("g").unwrap().as_materialized_series(), &got);
        }
    }

    #[test]
    fn five_year_groups_and_not_stated() {
        let df = df!("age" => [Some(0i64), Some(4), Some(5), Some(84), Some(85), Some(103), None, Some(-1)]).unwrap();
        let out = df
            .lazy()
            .select([age_group(col("age"), AgeScheme::FiveYear).alias("g")])
            .collect()
            .unwrap();
        let got: Vec<&str> = out
            .column("g")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(
            got,
            ["Y0T4", "Y0T4", "Y5T9", "Y80T84", "Y_GE85", "Y_GE85", "_U", "_U"]
        );
    }
}
