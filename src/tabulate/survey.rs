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
use crate::vocab::sex;

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
    let inside = in_population(frame, table)?;
    let grid = Grid::of(frame, table)?;
    let members = grid.members(&inside);
    let estimates: Vec<Estimate> = members.iter().map(|m| design.total(m)).collect();
    let cells = Cells {
        grid: &grid,
        design,
        members,
        estimates,
    };
    let sex = dimension_of(table, &table.sex);
    let share_dim = dimension_of(table, &table.share_of);
    let mut out = Columns::new(table.dimensions.len());
    for (i, e) in cells.estimates.iter().enumerate() {
        let c = grid.coords(i);
        // Share of women among those whose sex is stated, on the all-sexes rows.
        let sex_shares = sex
            .filter(|s| grid.codes[*s][c[*s]] == TOTAL)
            .map(|s| cells.sex_shares(i, s))
            .unwrap_or_default();
        let share = share_dim
            .filter(|d| grid.codes[*d][c[*d]] != TOTAL)
            .map(|d| cells.share_of_total(i, d))
            .unwrap_or_default();
        out.push(&grid, &c, e, sex_shares, share);
    }
    out.into_frame(table, sex.is_some(), share_dim.is_some())
}

/// Which respondents belong to the table's population (its `filter`; everyone without one).
fn in_population(frame: &DataFrame, table: &TablePlan) -> Result<Vec<bool>> {
    let context = || format!("estimating `{}`", table.name);
    Ok(match &table.filter {
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
        None => vec![true; frame.height()],
    })
}

/// The position among the table's dimensions of the one named (its sex or `share_of` dimension).
fn dimension_of(table: &TablePlan, name: &Option<String>) -> Option<usize> {
    name.as_ref()
        .and_then(|s| table.dimensions.iter().position(|d| d == s))
}

/// The name of the estimated measure, which the precision columns take as their prefix.
fn measure_name(table: &TablePlan) -> &str {
    table
        .measures
        .first()
        .map(|m| m.name.as_str())
        .unwrap_or("estimate")
}

/// The table's full cross-classification as one flat array of cells: each dimension's
/// categories (its total `_T` last), and each respondent's category in every dimension.
struct Grid {
    /// Respondents in the sample, inside the table's population or not.
    rows: usize,
    codes: Vec<Vec<String>>,
    /// `row_codes[d][r]`: where respondent `r`'s category sits in `codes[d]`.
    row_codes: Vec<Vec<usize>>,
    /// Whether each dimension has a total category.
    totalled: Vec<bool>,
    sizes: Vec<usize>,
    /// How many cells apart, in the flat array, two categories next to each other are along
    /// each dimension.
    strides: Vec<usize>,
}

impl Grid {
    /// The categories found in the data (and every sex code, even one nobody reported, for the
    /// sex dimension), with a total where the table asks for one.
    fn of(frame: &DataFrame, table: &TablePlan) -> Result<Grid> {
        let context = || format!("estimating `{}`", table.name);
        let dims = &table.dimensions;
        let totalled: Vec<bool> = dims.iter().map(|d| table.has_total(d)).collect();
        let mut codes: Vec<Vec<String>> = Vec::new();
        let mut row_codes: Vec<Vec<usize>> = Vec::new();
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
            row_codes.push(values.iter().map(|v| index[v.as_str()]).collect());
            codes.push(list);
        }
        let sizes: Vec<usize> = codes.iter().map(Vec::len).collect();
        let mut strides = vec![1usize; dims.len()];
        for d in (0..dims.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * sizes[d + 1];
        }
        Ok(Grid {
            rows: frame.height(),
            codes,
            row_codes,
            totalled,
            sizes,
            strides,
        })
    }

    /// Number of cells, totals included.
    fn cells(&self) -> usize {
        self.sizes.iter().product()
    }

    /// The category of cell `i` in each dimension.
    fn coords(&self, mut i: usize) -> Vec<usize> {
        self.strides
            .iter()
            .map(|stride| {
                let c = i / stride;
                i %= stride;
                c
            })
            .collect()
    }

    /// The cell that differs from cell `i` only in its category `to` along dimension `d`.
    fn moved(&self, i: usize, d: usize, to: usize) -> usize {
        let from = (i / self.strides[d]) % self.sizes[d];
        i - from * self.strides[d] + to * self.strides[d]
    }

    /// Where `code` sits among dimension `d`'s categories.
    fn position(&self, d: usize, code: &str) -> Option<usize> {
        self.codes[d].iter().position(|c| c == code)
    }

    /// Every cell's domain: the respondents of the table's population in its categories, each
    /// counted (with factor 1) in their own cell and in every total above it.
    fn members(&self, inside: &[bool]) -> Vec<Vec<(usize, f64)>> {
        let dims = self.strides.len();
        let total_dims: Vec<usize> = (0..dims).filter(|d| self.totalled[*d]).collect();
        let mut members: Vec<Vec<(usize, f64)>> = vec![Vec::new(); self.cells()];
        for r in (0..self.rows).filter(|r| inside[*r]) {
            let base: usize = (0..dims)
                .map(|d| self.row_codes[d][r] * self.strides[d])
                .sum();
            for mask in 0u32..(1 << total_dims.len()) {
                let mut i = base;
                for (b, &d) in total_dims.iter().enumerate() {
                    if mask & (1 << b) != 0 {
                        i = i - self.row_codes[d][r] * self.strides[d]
                            + (self.sizes[d] - 1) * self.strides[d];
                    }
                }
                members[i].push((r, 1.0));
            }
        }
        members
    }
}

/// Every cell's domain and estimated total, from which the shares are estimated as ratios.
struct Cells<'a> {
    grid: &'a Grid,
    design: &'a Design,
    members: Vec<Vec<(usize, f64)>>,
    estimates: Vec<Estimate>,
}

/// Share of women (%) among those whose sex is stated, its standard error, and the sex ratio
/// (men per 100 women); `None` where undefined.
#[derive(Default)]
struct SexShares {
    pct: Option<f64>,
    pct_se: Option<f64>,
    ratio: Option<f64>,
}

/// A cell's share (%) of its `share_of` total and its standard error; `None` where undefined.
#[derive(Default)]
struct Share {
    pct: Option<f64>,
    se: Option<f64>,
}

impl Cells<'_> {
    /// The sex shares of all-sexes cell `i` (`s` is the sex dimension): women over women and
    /// men of the same cell, estimated as a ratio so that its standard error is right.
    fn sex_shares(&self, i: usize, s: usize) -> SexShares {
        let mut out = SexShares::default();
        let grid = self.grid;
        if let (Some(f), Some(m)) = (grid.position(s, sex::FEMALE), grid.position(s, sex::MALE)) {
            let (fi, mi) = (grid.moved(i, s, f), grid.moved(i, s, m));
            let mut stated = self.members[fi].clone();
            stated.extend_from_slice(&self.members[mi]);
            let r = self.design.ratio(&self.members[fi], &stated);
            if r.estimate.is_finite() {
                out.pct = Some(r.estimate * 100.0);
                out.pct_se = Some(r.se * 100.0);
            }
            let (fe, me) = (self.estimates[fi].estimate, self.estimates[mi].estimate);
            if fe > 0.0 {
                out.ratio = Some(me / fe * 100.0);
            }
        }
        out
    }

    /// Cell `i`'s share of the total along dimension `d` (the same cell with `_T` there),
    /// estimated as a ratio of the two domains.
    fn share_of_total(&self, i: usize, d: usize) -> Share {
        let mut out = Share::default();
        let parent = self.grid.moved(i, d, self.grid.sizes[d] - 1);
        let r = self.design.ratio(&self.members[i], &self.members[parent]);
        if r.estimate.is_finite() {
            out.pct = Some(r.estimate * 100.0);
            out.se = Some(r.se * 100.0);
        }
        out
    }
}

/// The columns of the estimates table, filled one cell at a time.
#[derive(Default)]
struct Columns<'a> {
    dims: Vec<Vec<&'a str>>,
    est: Vec<f64>,
    se: Vec<f64>,
    cv: Vec<Option<f64>>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    respondents: Vec<i64>,
    pct: Vec<Option<f64>>,
    pct_se: Vec<Option<f64>>,
    ratio: Vec<Option<f64>>,
    share: Vec<Option<f64>>,
    share_se: Vec<Option<f64>>,
}

impl<'a> Columns<'a> {
    fn new(dimensions: usize) -> Columns<'a> {
        Columns {
            dims: vec![Vec::new(); dimensions],
            ..Columns::default()
        }
    }

    /// One cell: its categories `c`, its estimate with CV (%) and 95% interval, its shares.
    fn push(&mut self, grid: &'a Grid, c: &[usize], e: &Estimate, sex: SexShares, share: Share) {
        for (d, column) in self.dims.iter_mut().enumerate() {
            column.push(grid.codes[d][c[d]].as_str());
        }
        self.est.push(e.estimate);
        self.se.push(e.se);
        self.cv.push(e.cv().map(|v| v * 100.0));
        let (l, h) = e.ci95();
        self.lo.push(l);
        self.hi.push(h);
        self.respondents.push(e.respondents as i64);
        self.pct.push(sex.pct);
        self.pct_se.push(sex.pct_se);
        self.ratio.push(sex.ratio);
        self.share.push(share.pct);
        self.share_se.push(share.se);
    }

    /// The table, sorted by its categories; the sex and share columns only where they apply.
    fn into_frame(self, table: &TablePlan, sex: bool, share: bool) -> Result<DataFrame> {
        let context = || format!("estimating `{}`", table.name);
        let dims = &table.dimensions;
        let m = measure_name(table);
        let mut columns: Vec<Column> = dims
            .iter()
            .zip(&self.dims)
            .map(|(d, v)| Column::new(d.as_str().into(), v))
            .collect();
        columns.push(Column::new(m.into(), self.est));
        columns.push(Column::new(format!("{m}{}", PRECISION[0]).into(), self.se));
        columns.push(Column::new(format!("{m}{}", PRECISION[1]).into(), self.cv));
        columns.push(Column::new(format!("{m}{}", PRECISION[2]).into(), self.lo));
        columns.push(Column::new(format!("{m}{}", PRECISION[3]).into(), self.hi));
        columns.push(Column::new(RESPONDENTS.into(), self.respondents));
        if sex {
            columns.push(Column::new(PCT_FEMALE.into(), self.pct));
            columns.push(Column::new(format!("{PCT_FEMALE}_se").into(), self.pct_se));
            columns.push(Column::new(SEX_RATIO.into(), self.ratio));
        }
        if share {
            columns.push(Column::new(SHARE.into(), self.share));
            columns.push(Column::new(format!("{SHARE}_se").into(), self.share_se));
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
}

/// Columns of a survey table that carry an estimate (suppressed together with it).
pub fn estimate_columns(table: &TablePlan) -> Vec<String> {
    let m = measure_name(table);
    let mut out = vec![m.to_string()];
    out.extend(PRECISION.iter().map(|s| format!("{m}{s}")));
    out
}
