//! Survey tables: sampling protects the respondents, so their estimates are graded for
//! reliability (Statistics Canada's rule by default) and the too unreliable ones suppressed,
//! instead of cell suppression (ESS Handbook on SDC, ch. 5.2). The grade is decided here, from
//! the CV and respondents `tabulate` estimated, and written into both versions of the table.

use std::collections::HashMap;

use polars::prelude::*;

use super::{blank_where, status_codes, strings, CONF_STATUS, OBS_STATUS};
use crate::books::DisclosureBooks;
use crate::spec::{Disclosure, TablePlan};
use crate::tabulate::survey::{estimate_columns, PRECISION, RESPONDENTS, SHARE};
use crate::tabulate::PCT_FEMALE;
use crate::vocab::{sex, ConfStatus, ObsStatus, Reliability, TOTAL};

/// The column holding each estimate's grade: `A` publish, `E` use with caution, `F` too
/// unreliable.
pub const RELIABILITY: &str = "reliability";

/// The grade of an estimate under the table's rule, from its CV (%) and respondents.
fn grade(cv: Option<f64>, respondents: i64, rule: &Disclosure) -> Reliability {
    let Disclosure::Reliability {
        cv_publish,
        cv_suppress,
        min_respondents,
    } = rule
    else {
        return Reliability::Acceptable;
    };
    if (respondents as u64) < *min_respondents || cv.is_none_or(|c| c > *cv_suppress) {
        Reliability::TooUnreliable
    } else if cv.is_some_and(|c| c > *cv_publish) {
        Reliability::UseWithCaution
    } else {
        Reliability::Acceptable
    }
}

/// The survey table with each estimate's grade, placed after the respondents.
pub(super) fn graded(mut df: DataFrame, table: &TablePlan) -> PolarsResult<DataFrame> {
    let m = table
        .measures
        .first()
        .map(|m| m.name.as_str())
        .unwrap_or("estimate");
    let cv = df.column(&format!("{m}{}", PRECISION[1]))?.f64()?.clone();
    let respondents = df.column(RESPONDENTS)?.i64()?.clone();
    let flags: Vec<&str> = cv
        .iter()
        .zip(respondents.iter())
        .map(|(c, n)| grade(c, n.unwrap_or(0), &table.disclosure).code())
        .collect();
    let at = df
        .get_column_index(RESPONDENTS)
        .map_or(df.width(), |i| i + 1);
    df.insert_column(at, status_codes(&flags, RELIABILITY))?;
    Ok(df)
}

/// A survey table as published: estimates flagged `F` are suppressed with their precision, and
/// so is every share that uses one of them; flagged cells carry `OBS_STATUS = U`.
pub(super) fn reliable(
    table: &TablePlan,
    df: &DataFrame,
    books: &mut DisclosureBooks,
) -> PolarsResult<DataFrame> {
    let flags: Vec<Reliability> = strings(df, RELIABILITY)?
        .iter()
        .map(|f| Reliability::from_code(f).unwrap_or(Reliability::TooUnreliable))
        .collect();
    let grades = Grades::of(table, df, &flags)?;
    let hidden = Hidden::of(table, &flags, &grades, books);
    let mut p = hidden.blank(table, df)?;
    let height = p.height();
    p.with_column(status_codes(&hidden.obs, OBS_STATUS))?;
    p.with_column(status_codes(
        &vec![ConfStatus::Free.code(); height],
        CONF_STATUS,
    ))?;
    Ok(p)
}

/// Every cell's grade, found by its codes, so that a share can look up the estimates it uses.
struct Grades {
    /// `keys[d][r]`: row `r`'s code in dimension `d`.
    keys: Vec<Vec<String>>,
    by_cell: HashMap<String, Reliability>,
}

impl Grades {
    fn of(table: &TablePlan, df: &DataFrame, flags: &[Reliability]) -> PolarsResult<Grades> {
        let keys: Vec<Vec<String>> = table
            .dimensions
            .iter()
            .map(|d| strings(df, d))
            .collect::<PolarsResult<_>>()?;
        let mut grades = Grades {
            keys,
            by_cell: HashMap::new(),
        };
        grades.by_cell = (0..df.height())
            .map(|r| (grades.key(r, None), flags[r]))
            .collect();
        Ok(grades)
    }

    /// The codes of row `r`'s cell, or of its neighbour with `code` in dimension `d` when
    /// `replace` is `Some((d, code))`.
    fn key(&self, r: usize, replace: Option<(usize, &str)>) -> String {
        self.keys
            .iter()
            .enumerate()
            .map(|(d, k)| match replace {
                Some((rd, code)) if rd == d => code,
                _ => k[r].as_str(),
            })
            .collect::<Vec<_>>()
            .join("\u{1f}")
    }

    /// Whether the estimate of row `r`'s neighbour with `code` in dimension `d` is suppressed
    /// as too unreliable (or is not in the table at all).
    fn suppressed(&self, r: usize, d: usize, code: &str) -> bool {
        self.by_cell
            .get(&self.key(r, Some((d, code))))
            .is_none_or(|f| *f == Reliability::TooUnreliable)
    }
}

/// Which values of each row are hidden: its estimate with its precision, its share of women and
/// sex ratio, its share of the total; and each row's observation status.
struct Hidden {
    estimate: Vec<bool>,
    pct: Vec<bool>,
    share: Vec<bool>,
    obs: Vec<&'static str>,
}

impl Hidden {
    /// A share is hidden when an estimate it is computed from is; `books` counts the suppressed
    /// (`F`) and the flagged (`E`) estimates.
    fn of(
        table: &TablePlan,
        flags: &[Reliability],
        grades: &Grades,
        books: &mut DisclosureBooks,
    ) -> Hidden {
        let position = |name: &Option<String>| {
            name.as_ref()
                .and_then(|s| table.dimensions.iter().position(|d| d == s))
        };
        let sex = position(&table.sex);
        let share_dim = position(&table.share_of);
        let n = flags.len();
        let mut hidden = Hidden {
            estimate: Vec::with_capacity(n),
            pct: Vec::with_capacity(n),
            share: Vec::with_capacity(n),
            obs: Vec::with_capacity(n),
        };
        for (r, flag) in flags.iter().enumerate() {
            let f = *flag == Reliability::TooUnreliable;
            hidden.estimate.push(f);
            hidden.pct.push(sex.is_some_and(|s| {
                grades.suppressed(r, s, sex::FEMALE) || grades.suppressed(r, s, sex::MALE)
            }));
            hidden
                .share
                .push(f || share_dim.is_some_and(|d| grades.suppressed(r, d, TOTAL)));
            hidden.obs.push(if *flag == Reliability::Acceptable {
                ObsStatus::Normal.code()
            } else {
                ObsStatus::LowReliability.code()
            });
            match flag {
                Reliability::TooUnreliable => books.primary += 1,
                Reliability::UseWithCaution => books.flagged += 1,
                Reliability::Acceptable => {}
            }
        }
        hidden
    }

    /// The table with the hidden values emptied (the share columns only where the table has them).
    fn blank(&self, table: &TablePlan, df: &DataFrame) -> PolarsResult<DataFrame> {
        let mut lf = df.clone().lazy().with_columns([
            lit(Series::new("__e".into(), &self.estimate)).alias("__e"),
            lit(Series::new("__p".into(), &self.pct)).alias("__p"),
            lit(Series::new("__s".into(), &self.share)).alias("__s"),
        ]);
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let present = |c: &String| names.contains(c);
        let mut exprs = blank_where("__e", estimate_columns(table));
        exprs.extend(blank_where(
            "__p",
            [
                PCT_FEMALE.to_string(),
                format!("{PCT_FEMALE}_se"),
                crate::tabulate::SEX_RATIO.to_string(),
            ]
            .into_iter()
            .filter(present),
        ));
        exprs.extend(blank_where(
            "__s",
            [SHARE.to_string(), format!("{SHARE}_se")]
                .into_iter()
                .filter(present),
        ));
        lf = lf.with_columns(exprs).drop(cols(["__e", "__p", "__s"]));
        lf.collect()
    }
}
