//! Tabulate survey microdata: a design-based estimate for every cell, with its precision.
//!
//! Every cell is a domain estimated over the whole sample (rows outside the domain count as
//! zeros, as R's `svyby`/`subset` do), so a PSU with nobody in the cell still adds to the
//! variance. Totals, shares of women and shares of a category are estimated the same way, not
//! added up from cells, because their standard errors do not add.

use std::collections::BTreeSet;

use polars::prelude::*;

use super::{number_column, text_column, PCT_FEMALE, SEX_CODES, SEX_RATIO, TOTAL};
use crate::error::{EngineContext, Error, Result};
use crate::spec::{DesignPlan, TablePlan};
use crate::survey::{Design, Estimate};

/// Unweighted number of respondents in a cell.
pub const RESPONDENTS: &str = "respondents";
/// The cell's share (%) of its `share_of` total, and its standard error.
pub const SHARE: &str = "share_pct";
/// Suffixes of the precision columns of the estimate.
pub const PRECISION: [&str; 4] = ["_se", "_cv", "_ci_low", "_ci_high"];

/// The design of a survey source, from its harmonized rows.
pub fn design_of(frame: &DataFrame, plan: &DesignPlan, source: &str) -> Result<Design> {
    let context = || format!("reading the design of survey source `{source}`");
    // A missing number reads as NaN, which `Design::new` refuses, should a row get this far
    // (the plan's design checks quarantine such rows first).
    let weights = number_column(frame, &plan.weight, f64::NAN).at(context)?;
    let labels = |c: &Option<String>, fill: &dyn Fn(usize) -> String| -> Result<Vec<String>> {
        match c {
            Some(c) => text_column(frame, c, "").at(context),
            None => Ok((0..frame.height()).map(fill).collect()),
        }
    };
    // No strata: one stratum. No PSU column: every respondent is its own PSU.
    let strata = labels(&plan.strata, &|_| "1".to_string())?;
    let psu = labels(&plan.psu, &|i| i.to_string())?;
    let fpc = match &plan.fpc {
        Some(c) => Some(number_column(frame, c, f64::NAN).at(context)?),
        None => None,
    };
    let strata_refs: Vec<&str> = strata.iter().map(String::as_str).collect();
    let psu_refs: Vec<&str> = psu.iter().map(String::as_str).collect();
    Design::new(
        weights,
        &strata_refs,
        &psu_refs,
        fpc.as_deref(),
        plan.lonely_psu,
    )
    .map_err(|e| Error::Design {
        source_name: source.to_string(),
        message: e.to_string(),
    })
}

/// Estimates for every cell of the table's full cross-classification, totals included.
pub fn estimate(frame: &DataFrame, table: &TablePlan, design: &Design) -> Result<DataFrame> {
    let context = || format!("estimating `{}`", table.name);
    let n = frame.height();
    let inside: Vec<bool> = match &table.filter {
        Some(f) => frame
            .clone()
            .lazy()
            .select([f.expr.clone().alias("__in")])
            .collect()
            .at(context)?
            .column("__in")
            .at(context)?
            .bool()
            .at(context)?
            .iter()
            .map(|v| v.unwrap_or(false))
            .collect(),
        None => vec![true; n],
    };
    let dims = &table.dimensions;
    let totalled: Vec<bool> = dims.iter().map(|d| table.has_total(d)).collect();
    let mut codes: Vec<Vec<String>> = Vec::new();
    let mut rows_codes: Vec<Vec<usize>> = Vec::new();
    for (d, name) in dims.iter().enumerate() {
        let values = text_column(frame, name, "_U").at(context)?;
        let mut set: BTreeSet<String> = values.iter().cloned().collect();
        if table.sex.as_ref() == Some(name) {
            set.extend(SEX_CODES.iter().map(|s| s.to_string()));
        }
        let mut list: Vec<String> = set.into_iter().collect();
        if totalled[d] {
            list.push(TOTAL.to_string());
        }
        let index: std::collections::HashMap<&str, usize> = list
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        rows_codes.push(values.iter().map(|v| index[v.as_str()]).collect());
        codes.push(list);
    }
    let sizes: Vec<usize> = codes.iter().map(Vec::len).collect();
    let mut strides = vec![1usize; dims.len()];
    for d in (0..dims.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * sizes[d + 1];
    }
    let cells: usize = sizes.iter().product();
    let total_dims: Vec<usize> = (0..dims.len()).filter(|d| totalled[*d]).collect();
    let mut members: Vec<Vec<(usize, f64)>> = vec![Vec::new(); cells];
    for r in (0..n).filter(|r| inside[*r]) {
        let base: usize = (0..dims.len()).map(|d| rows_codes[d][r] * strides[d]).sum();
        for mask in 0u32..(1 << total_dims.len()) {
            let mut i = base;
            for (b, &d) in total_dims.iter().enumerate() {
                if mask & (1 << b) != 0 {
                    i = i - rows_codes[d][r] * strides[d] + (sizes[d] - 1) * strides[d];
                }
            }
            members[i].push((r, 1.0));
        }
    }
    let coords = |mut i: usize| -> Vec<usize> {
        let mut c = vec![0; dims.len()];
        for d in 0..dims.len() {
            c[d] = i / strides[d];
            i %= strides[d];
        }
        c
    };
    let moved = |i: usize, d: usize, to: usize| -> usize {
        let from = (i / strides[d]) % sizes[d];
        i - from * strides[d] + to * strides[d]
    };
    let estimates: Vec<Estimate> = members.iter().map(|m| design.total(m)).collect();

    let sex = table
        .sex
        .as_ref()
        .and_then(|s| dims.iter().position(|d| d == s));
    let position = |d: usize, code: &str| codes[d].iter().position(|c| c == code);
    let share_dim = table
        .share_of
        .as_ref()
        .and_then(|s| dims.iter().position(|d| d == s));

    let mut dim_cols: Vec<Vec<&str>> = vec![Vec::with_capacity(cells); dims.len()];
    let (mut est, mut se, mut cv, mut lo, mut hi) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut respondents = Vec::new();
    let (mut pct, mut pct_se, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    let (mut share, mut share_se) = (Vec::new(), Vec::new());
    for (i, e) in estimates.iter().enumerate() {
        let c = coords(i);
        for d in 0..dims.len() {
            dim_cols[d].push(codes[d][c[d]].as_str());
        }
        est.push(e.estimate);
        se.push(e.se);
        cv.push(e.cv().map(|v| v * 100.0));
        let (l, h) = e.ci95();
        lo.push(l);
        hi.push(h);
        respondents.push(e.respondents as i64);
        // Share of women among those whose sex is stated, on the all-sexes rows.
        let (mut p, mut ps, mut sr) = (None, None, None);
        if let Some(s) = sex.filter(|s| codes[*s][c[*s]] == TOTAL) {
            if let (Some(f), Some(m)) = (position(s, "F"), position(s, "M")) {
                let (fi, mi) = (moved(i, s, f), moved(i, s, m));
                let mut stated = members[fi].clone();
                stated.extend_from_slice(&members[mi]);
                let r = design.ratio(&members[fi], &stated);
                if r.estimate.is_finite() {
                    p = Some(r.estimate * 100.0);
                    ps = Some(r.se * 100.0);
                }
                let (fe, me) = (estimates[fi].estimate, estimates[mi].estimate);
                if fe > 0.0 {
                    sr = Some(me / fe * 100.0);
                }
            }
        }
        pct.push(p);
        pct_se.push(ps);
        ratio.push(sr);
        let (mut sh, mut shs) = (None, None);
        if let Some(d) = share_dim.filter(|d| codes[*d][c[*d]] != TOTAL) {
            let parent = moved(i, d, sizes[d] - 1);
            let r = design.ratio(&members[i], &members[parent]);
            if r.estimate.is_finite() {
                sh = Some(r.estimate * 100.0);
                shs = Some(r.se * 100.0);
            }
        }
        share.push(sh);
        share_se.push(shs);
    }

    let m = table
        .measures
        .first()
        .map(|m| m.name.as_str())
        .unwrap_or("estimate");
    let mut columns: Vec<Column> = dims
        .iter()
        .zip(&dim_cols)
        .map(|(d, v)| Column::new(d.as_str().into(), v))
        .collect();
    columns.push(Column::new(m.into(), est));
    columns.push(Column::new(format!("{m}{}", PRECISION[0]).into(), se));
    columns.push(Column::new(format!("{m}{}", PRECISION[1]).into(), cv));
    columns.push(Column::new(format!("{m}{}", PRECISION[2]).into(), lo));
    columns.push(Column::new(format!("{m}{}", PRECISION[3]).into(), hi));
    columns.push(Column::new(RESPONDENTS.into(), respondents));
    if sex.is_some() {
        columns.push(Column::new(PCT_FEMALE.into(), pct));
        columns.push(Column::new(format!("{PCT_FEMALE}_se").into(), pct_se));
        columns.push(Column::new(SEX_RATIO.into(), ratio));
    }
    if share_dim.is_some() {
        columns.push(Column::new(SHARE.into(), share));
        columns.push(Column::new(format!("{SHARE}_se").into(), share_se));
    }
    let sort_by: Vec<Expr> = dims.iter().map(|d| col(d.as_str())).collect();
    DataFrame::new_infer_height(columns)
        .and_then(|df| {
            df.lazy()
                .sort_by_exprs(sort_by, SortMultipleOptions::default())
                .collect()
        })
        .at(context)
}

/// Columns of a survey table that carry an estimate (suppressed together with it).
pub fn estimate_columns(table: &TablePlan) -> Vec<String> {
    let m = table
        .measures
        .first()
        .map(|m| m.name.as_str())
        .unwrap_or("estimate");
    let mut out = vec![m.to_string()];
    out.extend(PRECISION.iter().map(|s| format!("{m}{s}")));
    out
}
