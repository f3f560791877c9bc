//! Harmonize: from validated rows in the ministry's vocabulary to rows in standard codes.
//!
//! In order: derived columns (`[[derive]]`), cross-field rules (`[[check]]`), wide-to-long
//! reshaping (`[[unpivot]]`) and code mapping (`[[harmonize]]`). Code lists are applied to the
//! distinct raw values only, then joined back, so a 10-million-row file with 300 spellings of
//! nationality costs 300 look-ups. A row whose value maps to nothing is quarantined, whole, even
//! when it was unpivoted into several long rows.

use polars::prelude::*;
use serde::Serialize;

use crate::error::{EngineContext, Result};
use crate::quarantine::{Quarantine, FILE, LINE, ROW};
use crate::spec::{CheckPlan, DeriveKind, HarmonizePlan, SourcePlan, UnpivotPlan};

/// A raw value that no code list entry matched, for the run report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Unmapped {
    pub column: String,
    pub codelist: String,
    pub raw_value: String,
    pub rows: u64,
    /// The code it was given instead (`unknown = ...`), or none when the rows were rejected.
    pub given: Option<String>,
}

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
    let mut lf = valid.lazy();
    for d in &source.derives {
        let expr = match &d.kind {
            DeriveKind::Expr(e) => e.clone(),
            DeriveKind::FiveYearAgeGroup { age } => five_year_age_group(col(age.as_str())),
        };
        lf = lf.with_column(expr.alias(d.name.as_str()));
    }
    let mut df = lf.collect().at(context)?;

    if !source.checks.is_empty() {
        df = apply_checks(df, &source.checks, quarantine).at(context)?;
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
    // A long row whose code failed takes its whole input row with it, so the row is either
    // published or quarantined, never half of each.
    let rejected = quarantine.rejected_rows()?;
    if !rejected.is_empty() {
        df = df
            .lazy()
            .filter(col(ROW).is_in(lit(rejected).implode(false), false).not())
            .collect()
            .at(context)?;
    }
    Ok(Harmonized {
        frame: df,
        unmapped,
    })
}

/// UN five-year age groups as SDMX codes (`Y0T4` ... `Y80T84`, `Y_GE85`); a missing or negative
/// age is `_U`, "not stated", so that it stays visible in every table.
pub fn five_year_age_group(age: Expr) -> Expr {
    let mut chain = when(age.clone().is_null().or(age.clone().lt(lit(0))))
        .then(lit("_U"))
        .when(age.clone().gt_eq(lit(85)))
        .then(lit("Y_GE85"));
    for lo in (0..85).step_by(5) {
        chain = chain
            .when(age.clone().lt(lit(lo + 5)))
            .then(lit(format!("Y{lo}T{}", lo + 4)));
    }
    chain.otherwise(lit("_U"))
}

fn apply_checks(
    df: DataFrame,
    checks: &[CheckPlan],
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
    df.lazy().filter(any.not()).collect()
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
    let re = regex::Regex::new(&u.pattern).map_err(|e| polars_err!(ComputeError: "{e}"))?;
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

fn map_codes(
    df: DataFrame,
    h: &HarmonizePlan,
    quarantine: &mut Quarantine,
) -> Result<(DataFrame, Vec<Unmapped>)> {
    let context = || {
        format!(
            "harmonizing `{}` with the code list `{}`",
            h.column, h.codelist.name
        )
    };
    let key = col(h.column.as_str()).cast(DataType::String);
    let counts = df
        .clone()
        .lazy()
        .filter(key.clone().is_not_null())
        .group_by([key.clone().alias("__key")])
        .agg([len().alias("__rows")])
        .collect()
        .at(context)?;
    let keys = counts
        .column("__key")
        .at(context)?
        .str()
        .at(context)?
        .clone();
    let rows = counts
        .column("__rows")
        .at(context)?
        .cast(&DataType::UInt64)
        .at(context)?;
    let rows = rows.u64().at(context)?;

    let mut raw = Vec::with_capacity(keys.len());
    let mut codes: Vec<Option<String>> = Vec::with_capacity(keys.len());
    let mut unmapped = Vec::new();
    for (value, n) in keys.iter().zip(rows.iter()) {
        let Some(value) = value else { continue };
        let code = h.codelist.lookup(value).map(String::from);
        if code.is_none() {
            unmapped.push(Unmapped {
                column: h.column.clone(),
                codelist: h.codelist.name.clone(),
                raw_value: value.to_string(),
                rows: n.unwrap_or(0),
                given: h.unknown.clone(),
            });
        }
        raw.push(value.to_string());
        codes.push(code.or_else(|| h.unknown.clone()));
    }
    unmapped.sort_by(|a, b| b.rows.cmp(&a.rows).then(a.raw_value.cmp(&b.raw_value)));
    let mapping = DataFrame::new_infer_height(vec![
        Column::new("__key".into(), raw),
        Column::new("__code".into(), codes),
    ])
    .at(context)?;

    let joined = df
        .lazy()
        .with_column(key.alias("__key"))
        .join(
            mapping.lazy(),
            [col("__key")],
            [col("__key")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(
            when(col("__key").is_null())
                .then(lit(h.missing.clone()))
                .otherwise(col("__code"))
                .alias(h.into.as_str()),
        )
        .collect()
        .at(context)?;

    let failed = joined.clone().lazy().filter(col(h.into.as_str()).is_null()).select([
        col(ROW),
        col(FILE),
        col(LINE),
        lit(h.column.clone()).alias("column"),
        col("__key").alias("raw_value"),
        lit(format!("codelist:{}", h.codelist.name)).alias("rule"),
        lit(format!(
            "no code in the list `{}` for this value; add it under [harmonize.extra] in the pipeline, or set `unknown`",
            h.codelist.name
        ))
        .alias("message"),
    ]);
    quarantine.push_frame(failed)?;
    let out = joined
        .lazy()
        .drop(Selector::ByName {
            names: [PlSmallStr::from("__key"), PlSmallStr::from("__code")].into(),
            strict: true,
        })
        .collect()
        .at(context)?;
    Ok((out, unmapped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_year_groups_and_not_stated() {
        let df = df!("age" => [Some(0i64), Some(4), Some(5), Some(84), Some(85), Some(103), None, Some(-1)]).unwrap();
        let out = df
            .lazy()
            .select([five_year_age_group(col("age")).alias("g")])
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
