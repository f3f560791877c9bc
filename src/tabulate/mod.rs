//! Tabulate: disaggregated tables with totals, by sex first.
//!
//! Every combination of the other dimensions gets a row for each of `F`, `M` and `_U` (zero when
//! nobody is in it), so unknown sex is always visible, plus a `_T` row. Totals for the other
//! declared dimensions are computed from the rows, not by adding up cells, and the run checks that
//! `_T = F + M + _U` before anything is published.

pub mod survey;

use polars::prelude::*;

use crate::error::{EngineContext, Error, Result};
use crate::spec::{Aggregate, Disclosure, TablePlan};

/// The code of a total in any dimension (SDMX convention).
pub const TOTAL: &str = "_T";
/// Sex codes every table shows, in this order (SDMX CL_SEX).
pub const SEX_CODES: [&str; 3] = crate::vocab::sex::COMPLETE;
pub const PCT_FEMALE: &str = "pct_female";
pub const SEX_RATIO: &str = "sex_ratio";

pub use crate::frame::{number_column, text_column};

/// Hidden column: records contributing to a cell (the threshold rule's count).
pub const CONTRIBUTORS: &str = "__contributors";

/// Hidden columns: the largest and second largest contribution to a `sum` measure's cell.
pub fn largest(measure: &str) -> (String, String) {
    (format!("__x1_{measure}"), format!("__x2_{measure}"))
}

/// The second largest value in a group (ties count: two equal maxima give the maximum).
fn second_largest(e: Expr) -> Expr {
    when(e.clone().eq(e.clone().max()).sum().gt(lit(1)))
        .then(e.clone().max())
        .otherwise(e.clone().filter(e.clone().lt(e.max())).max())
        .fill_null(lit(0.0))
}

fn magnitude_rules(table: &TablePlan) -> bool {
    matches!(
        table.disclosure,
        Disclosure::Suppress {
            dominance: Some(_),
            ..
        } | Disclosure::Suppress {
            p_percent: Some(_),
            ..
        }
    )
}

/// Columns computed beside the measures for disclosure control: (name, over rows, over cells).
fn hidden_columns(table: &TablePlan) -> Vec<(String, Expr, Expr)> {
    let mut out = vec![(
        CONTRIBUTORS.to_string(),
        len().cast(DataType::Int64),
        col(CONTRIBUTORS).sum(),
    )];
    if magnitude_rules(table) {
        for m in table.measures.iter().filter(|m| m.agg == Aggregate::Sum) {
            let Some(c) = &m.column else { continue };
            let (x1, x2) = largest(&m.name);
            let v = col(c.as_str()).cast(DataType::Float64);
            out.push((x1.clone(), v.clone().max(), col(x1.as_str()).max()));
            out.push((
                x2.clone(),
                second_largest(v),
                polars::lazy::dsl::max_horizontal([
                    col(x2.as_str()).max(),
                    second_largest(col(x1.as_str())),
                ])
                .expect("two inputs"),
            ));
        }
    }
    out
}

/// Names of the measure and hidden columns, in table order.
fn value_columns(table: &TablePlan) -> Vec<String> {
    let mut cols: Vec<String> = table.measures.iter().map(|m| m.name.clone()).collect();
    cols.extend(hidden_columns(table).into_iter().map(|(n, _, _)| n));
    cols
}

fn aggregations(table: &TablePlan) -> Vec<Expr> {
    let mut aggs: Vec<Expr> = table
        .measures
        .iter()
        .map(|m| {
            let e = match (m.agg, &m.column) {
                (Aggregate::Count, _) => len().cast(DataType::Int64),
                (Aggregate::Sum, Some(c)) => col(c.as_str()).sum(),
                (Aggregate::WeightedCount, Some(c)) => {
                    col(c.as_str()).cast(DataType::Float64).sum()
                }
                (_, None) => lit(NULL),
            };
            e.alias(m.name.as_str())
        })
        .collect();
    aggs.extend(
        hidden_columns(table)
            .into_iter()
            .map(|(n, over_rows, _)| over_rows.alias(n.as_str())),
    );
    aggs
}

fn aggregate(lf: LazyFrame, keys: &[String], aggs: &[Expr]) -> LazyFrame {
    if keys.is_empty() {
        lf.select(aggs)
    } else {
        lf.group_by_stable(keys.iter().map(|k| col(k.as_str())).collect::<Vec<_>>())
            .agg(aggs)
    }
}

/// A table over rows held in one frame (runs add up window cells with `merge_cells` instead).
#[cfg(test)]
fn tabulate(frame: &DataFrame, table: &TablePlan) -> Result<DataFrame> {
    from_cells(cells(frame, table)?, table)
}

/// The finest cells of a table (every dimension, no totals) over some rows: what a window of a
/// source contributes. Cells of several windows add up with `merge_cells`, exactly, because
/// every measure (count, sum, weighted count, the contributors and the largest contributions)
/// combines from partial results.
pub fn cells(frame: &DataFrame, table: &TablePlan) -> Result<DataFrame> {
    let context = || format!("tabulating `{}`", table.name);
    let mut lf = frame.clone().lazy();
    if let Some(filter) = &table.filter {
        lf = lf.filter(filter.expr.clone());
    }
    // Dimensions are published as codes; a missing value is "unknown", never a silent gap.
    let dims: Vec<Expr> = table
        .dimensions
        .iter()
        .map(|d| col(d.as_str()).cast(DataType::String).fill_null(lit("_U")))
        .collect();
    lf.group_by(dims)
        .agg(aggregations(table))
        .collect()
        .at(context)
}

/// Aggregations that combine cells of the same coordinates (from different windows, or into
/// totals).
fn over_cells(table: &TablePlan) -> Vec<Expr> {
    let mut aggs: Vec<Expr> = table
        .measures
        .iter()
        .map(|m| col(m.name.as_str()).sum().alias(m.name.as_str()))
        .collect();
    aggs.extend(
        hidden_columns(table)
            .into_iter()
            .map(|(n, _, over_cells)| over_cells.alias(n.as_str())),
    );
    aggs
}

/// Add up the cells of several windows.
pub fn merge_cells(parts: Vec<DataFrame>, table: &TablePlan) -> Result<DataFrame> {
    let context = || format!("adding up the cells of `{}`", table.name);
    let mut parts = parts;
    if parts.len() == 1 {
        return Ok(parts.pop().expect("one part"));
    }
    let frames: Vec<LazyFrame> = parts.into_iter().map(|p| p.lazy()).collect();
    let keys: Vec<Expr> = table.dimensions.iter().map(|d| col(d.as_str())).collect();
    let lf = concat(frames, UnionArgs::default()).at(context)?;
    let merged = if keys.is_empty() {
        lf.select(over_cells(table))
    } else {
        // stable, so that partial sums are added in window order on every run
        lf.group_by_stable(keys).agg(over_cells(table))
    };
    merged.collect().at(context)
}

/// A table with its totals, from its finest cells.
pub fn from_cells(cells: DataFrame, table: &TablePlan) -> Result<DataFrame> {
    let context = || format!("tabulating `{}`", table.name);
    // Aggregate once to the finest cells (every dimension); all totals are then sums of those
    // few thousand cells rather than new passes over millions of rows. Sorted, so that the
    // totals add the same floating-point numbers in the same order on every run (reruns write
    // the same bytes).
    let sorted: Vec<Expr> = table.dimensions.iter().map(|d| col(d.as_str())).collect();
    let base = cells
        .lazy()
        .sort_by_exprs(sorted, SortMultipleOptions::default())
        .collect()
        .at(context)?;
    let aggs = over_cells(table);
    let others: Vec<String> = table
        .dimensions
        .iter()
        .filter(|d| Some(*d) != table.sex.as_ref())
        .cloned()
        .collect();

    let mut parts = Vec::new();
    for mask in 0u32..(1 << table.totals.len()) {
        let totalled: Vec<&String> = table
            .totals
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, d)| d)
            .collect();
        let keep: Vec<String> = others
            .iter()
            .filter(|d| !totalled.contains(d))
            .cloned()
            .collect();
        let mut grouped = Vec::new();
        match &table.sex {
            Some(sex) => {
                grouped.push(by_sex_complete(&base, &keep, sex, &aggs, table).at(context)?);
                grouped.push(
                    aggregate(base.clone().lazy(), &keep, &aggs)
                        .with_column(lit(TOTAL).alias(sex.as_str())),
                );
            }
            None => grouped.push(aggregate(base.clone().lazy(), &keep, &aggs)),
        }
        for g in grouped {
            let with_totals = g.with_columns(
                totalled
                    .iter()
                    .map(|d| lit(TOTAL).alias(d.as_str()))
                    .collect::<Vec<_>>(),
            );
            let mut cols: Vec<Expr> = table.dimensions.iter().map(|d| col(d.as_str())).collect();
            cols.extend(value_columns(table).iter().map(|m| col(m.as_str())));
            parts.push(with_totals.select(cols));
        }
    }
    let sort_by: Vec<Expr> = table.dimensions.iter().map(|d| col(d.as_str())).collect();
    let mut out = concat(parts, UnionArgs::default())
        .at(context)?
        .sort_by_exprs(
            sort_by,
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()
        .at(context)?;
    round_measures(&mut out, table).at(context)?;
    if let Some(sex) = &table.sex {
        check_sex_totals(&out, table, sex, &others)?;
    }
    Ok(out)
}

/// The table as published: share of women and sex ratio computed from the cells as they are
/// published (a suppressed or rounded cell gives an empty or rounded share), hidden columns gone.
pub fn finish(out: DataFrame, table: &TablePlan) -> Result<DataFrame> {
    let context = || format!("finishing `{}`", table.name);
    if matches!(table.disclosure, Disclosure::Reliability { .. }) {
        // Survey tables carry their own design-based shares, suppressed by `disclose`.
        return Ok(out);
    }
    let hidden: Vec<PlSmallStr> = hidden_columns(table)
        .into_iter()
        .map(|(n, _, _)| n.into())
        .filter(|n: &PlSmallStr| out.get_column_names().contains(&n))
        .collect();
    let out = out.drop_many(hidden);
    match &table.sex {
        Some(sex) => {
            let others: Vec<String> = table
                .dimensions
                .iter()
                .filter(|d| *d != sex)
                .cloned()
                .collect();
            gender_columns(out, table, sex, &others).at(context)
        }
        None => Ok(out),
    }
}

/// Decimals kept in sums of decimal measures (weights, amounts).
pub const DECIMALS: i32 = 6;

/// Round decimal measures to `DECIMALS` places. Parallel addition of floating-point numbers does
/// not happen in the same order on every run, so the last bits of a sum can change; rounding
/// keeps reruns on the same input byte-identical, far below any precision a statistic carries.
fn round_measures(out: &mut DataFrame, table: &TablePlan) -> PolarsResult<()> {
    let scale = 10f64.powi(DECIMALS);
    for m in &table.measures {
        let column = out.column(&m.name)?;
        if column.dtype().is_float() {
            let rounded = column
                .cast(&DataType::Float64)?
                .f64()?
                .apply_values(|v| (v * scale).round() / scale)
                .into_series()
                .with_name(m.name.as_str().into());
            out.with_column(rounded.into_column())?;
        }
    }
    Ok(())
}

/// Cells for F, M and `_U` for every combination of `keep` present, zero where empty, plus any
/// other sex code the data carries.
fn by_sex_complete(
    base: &DataFrame,
    keep: &[String],
    sex: &str,
    aggs: &[Expr],
    table: &TablePlan,
) -> PolarsResult<LazyFrame> {
    let mut keys = keep.to_vec();
    keys.push(sex.to_string());
    let counted = aggregate(base.clone().lazy(), &keys, aggs);

    let present = base.column(sex)?.unique()?;
    let mut codes: Vec<String> = SEX_CODES.iter().map(|s| s.to_string()).collect();
    for c in present.str()?.iter().flatten() {
        if !codes.iter().any(|x| x == c) {
            codes.push(c.to_string());
        }
    }
    let combos = if keep.is_empty() {
        DataFrame::new_infer_height(vec![Column::new("__k".into(), [1i32])])?.lazy()
    } else {
        base.clone()
            .lazy()
            .select(keep.iter().map(|k| col(k.as_str())).collect::<Vec<_>>())
            .unique(None, UniqueKeepStrategy::Any)
    };
    let frames: Vec<LazyFrame> = codes
        .iter()
        .map(|c| combos.clone().with_column(lit(c.clone()).alias(sex)))
        .collect();
    let grid = concat(frames, UnionArgs::default())?;
    let on: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let zero: Vec<Expr> = value_columns(table)
        .iter()
        .map(|m| col(m.as_str()).fill_null(lit(0)))
        .collect();
    Ok(grid
        .join(counted, on.clone(), on, JoinArgs::new(JoinType::Left))
        .with_columns(zero))
}

/// `_T` must equal `F + M + _U` (and any other sex code) for every measure and combination.
fn check_sex_totals(
    out: &DataFrame,
    table: &TablePlan,
    sex: &str,
    others: &[String],
) -> Result<()> {
    let context = || format!("checking the sex totals of `{}`", table.name);
    let is_total = col(sex).eq(lit(TOTAL));
    let mut aggs = Vec::new();
    for m in &table.measures {
        let v = col(m.name.as_str()).cast(DataType::Float64);
        aggs.push(
            v.clone()
                .filter(is_total.clone())
                .sum()
                .alias(format!("{}__t", m.name)),
        );
        aggs.push(
            v.filter(is_total.clone().not())
                .sum()
                .alias(format!("{}__parts", m.name)),
        );
    }
    let sums = aggregate(out.clone().lazy(), others, &aggs)
        .collect()
        .at(context)?;
    for m in &table.measures {
        let t = sums
            .column(&format!("{}__t", m.name))
            .at(context)?
            .f64()
            .at(context)?;
        let p = sums
            .column(&format!("{}__parts", m.name))
            .at(context)?
            .f64()
            .at(context)?;
        for (t, p) in t.iter().zip(p.iter()) {
            let (t, p) = (t.unwrap_or(0.0), p.unwrap_or(0.0));
            if (t - p).abs() > 1e-9 * t.abs().max(1.0) {
                return Err(Error::Invariant {
                    table: table.name.clone(),
                    message: format!("measure `{}`: _T is {t} but F + M + _U is {p}", m.name),
                });
            }
        }
    }
    Ok(())
}

/// `pct_female` = F / (F + M) × 100 and `sex_ratio` = M / F × 100 (men per 100 women), from the
/// first measure, on the `_T` rows only: the sex rows leave them empty so that nobody adds
/// percentages up. Both are empty where their denominator is zero.
fn gender_columns(
    out: DataFrame,
    table: &TablePlan,
    sex: &str,
    others: &[String],
) -> PolarsResult<DataFrame> {
    let Some(first) = table.measures.first() else {
        return Ok(out);
    };
    let v = col(first.name.as_str()).cast(DataType::Float64);
    let mut keys: Vec<Expr> = others.iter().map(|k| col(k.as_str())).collect();
    keys.push(col("__k"));
    let with_key = out.lazy().with_column(lit(1i32).alias("__k"));
    // One F and one M row per combination (the table is completed by sex); `first` keeps a
    // suppressed (empty) cell empty, where `sum` would turn it into zero.
    let fm = with_key.clone().group_by(keys.clone()).agg([
        v.clone()
            .filter(col(sex).eq(lit(crate::vocab::sex::FEMALE)))
            .first()
            .alias("__f"),
        v.filter(col(sex).eq(lit(crate::vocab::sex::MALE)))
            .first()
            .alias("__m"),
    ]);
    let (f, m) = (col("__f"), col("__m"));
    let on_total = |e: Expr| {
        when(col(sex).eq(lit(TOTAL)))
            .then(e)
            .otherwise(lit(NULL).cast(DataType::Float64))
    };
    let pct = when((f.clone() + m.clone()).gt(lit(0.0)))
        .then(f.clone() / (f.clone() + m.clone()) * lit(100.0))
        .otherwise(lit(NULL).cast(DataType::Float64));
    let ratio = when(f.clone().gt(lit(0.0)))
        .then(m / f * lit(100.0))
        .otherwise(lit(NULL).cast(DataType::Float64));
    let mut cols: Vec<Expr> = with_key
        .clone()
        .collect_schema()?
        .iter_names()
        .filter(|n| n.as_str() != "__k")
        .map(|n| col(n.clone()))
        .collect();
    cols.push(on_total(pct).alias(PCT_FEMALE));
    cols.push(on_total(ratio).alias(SEX_RATIO));
    let sort_by: Vec<Expr> = table.dimensions.iter().map(|d| col(d.as_str())).collect();
    with_key
        .join(fm, keys.clone(), keys, JoinArgs::new(JoinType::Left))
        .select(cols)
        .sort_by_exprs(
            sort_by,
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::MeasurePlan;

    fn table(totals: &[&str]) -> TablePlan {
        TablePlan {
            name: "t".into(),
            title: None,
            notes: None,
            source: "s".into(),
            dimensions: vec!["sex".into(), "nat".into()],
            sex: Some("sex".into()),
            totals: totals.iter().map(|s| s.to_string()).collect(),
            measures: vec![
                MeasurePlan {
                    name: "n".into(),
                    agg: Aggregate::Count,
                    column: None,
                    unit: "PS".into(),
                },
                MeasurePlan {
                    name: "w".into(),
                    agg: Aggregate::Sum,
                    column: Some("w".into()),
                    unit: "PS".into(),
                },
            ],
            filter: None,
            codelists: Default::default(),
            sdmx: crate::spec::SdmxTable {
                dataflow: "DF_T".into(),
                time: crate::spec::TimePeriod::None,
                concepts: Default::default(),
            },
            disclosure: Disclosure::None {
                reason: "test".into(),
            },
            share_of: None,
        }
    }

    fn rows(out: &DataFrame) -> Vec<String> {
        (0..out.height())
            .map(|i| {
                let row = out.get_row(i).unwrap();
                row.0
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn sex_is_completed_and_totalled() {
        let df = df!(
            "sex" => ["F", "F", "M", "_U", "F"],
            "nat" => ["SEN", "SEN", "SEN", "MLI", "MLI"],
            "w" => [1.0, 2.0, 0.5, 1.0, 3.0]
        )
        .unwrap();
        let t = table(&["nat"]);
        let out = finish(tabulate(&df, &t).unwrap(), &t).unwrap();
        assert_eq!(
            rows(&out),
            vec![
                "\"F\" \"MLI\" 1 3.0 null null",
                "\"F\" \"SEN\" 2 3.0 null null",
                "\"F\" \"_T\" 3 6.0 null null",
                "\"M\" \"MLI\" 0 0.0 null null",
                "\"M\" \"SEN\" 1 0.5 null null",
                "\"M\" \"_T\" 1 0.5 null null",
                "\"_T\" \"MLI\" 2 4.0 100.0 0.0",
                "\"_T\" \"SEN\" 3 3.5 66.666667 50.0",
                "\"_T\" \"_T\" 5 7.5 75.0 33.333333",
                "\"_U\" \"MLI\" 1 1.0 null null",
                "\"_U\" \"SEN\" 0 0.0 null null",
                "\"_U\" \"_T\" 1 1.0 null null",
            ]
        );
    }

    #[test]
    fn weighted_count_sums_the_weights() {
        let df =
            df!("sex" => ["F", "F", "M"], "nat" => ["SEN", "SEN", "SEN"], "w" => [1.5, 2.0, 0.25])
                .unwrap();
        let mut t = table(&[]);
        t.measures = vec![MeasurePlan {
            name: "est".into(),
            agg: Aggregate::WeightedCount,
            column: Some("w".into()),
            unit: "PS".into(),
        }];
        let out = finish(tabulate(&df, &t).unwrap(), &t).unwrap();
        let est = |sex: &str| {
            let row = out
                .clone()
                .lazy()
                .filter(col("sex").eq(lit(sex)))
                .collect()
                .unwrap();
            row.column("est").unwrap().f64().unwrap().get(0).unwrap()
        };
        assert_eq!(est("F"), 3.5);
        assert_eq!(est("M"), 0.25);
        assert_eq!(est("_U"), 0.0);
        assert_eq!(est("_T"), 3.75);
    }

    #[test]
    fn sex_ratio_is_empty_without_women() {
        let df = df!("sex" => ["M", "M"], "nat" => ["SEN", "SEN"], "w" => [1.0, 1.0]).unwrap();
        let t = table(&[]);
        let out = finish(tabulate(&df, &t).unwrap(), &t).unwrap();
        let t = out
            .clone()
            .lazy()
            .filter(col("sex").eq(lit("_T")))
            .collect()
            .unwrap();
        assert_eq!(t.column(SEX_RATIO).unwrap().f64().unwrap().get(0), None);
        assert_eq!(
            t.column(PCT_FEMALE).unwrap().f64().unwrap().get(0),
            Some(0.0)
        );
    }
}
