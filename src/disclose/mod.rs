//! Disclose: decide which cells of each table may be published, before anything is written.
//!
//! A table leaves this stage twice: as published (sensitive cells and their complements empty,
//! or every cell randomly rounded, with SDMX `OBS_STATUS`/`CONF_STATUS` flags) and as computed,
//! for the restricted folder. Tables from the same source share their suppressions where they
//! share cells, and every suppression pattern passes the audit or the run stops.

mod across;
mod attack;
mod certify;
mod cube;
mod lp;
mod presolve;
mod reliability;
mod system;

use std::collections::HashMap;

use polars::prelude::*;

use crate::books::{AuditSummary, DisclosureBooks};
use crate::error::{EngineContext, Error, Result};
use crate::spec::{Aggregate, Disclosure, TablePlan};
use crate::tabulate::{self, largest, number_column, text_column, CONTRIBUTORS, TOTAL};
use crate::vocab::{ConfStatus, Method, ObsStatus};

pub use across::AuditRow;
pub use cube::{
    audit, primary, round_random, suppress, unit_draw, AuditFailure, CellStats, Certificate, Cube,
    CubeAudit, Protection, Rule, Status, Suppression, UNIT,
};
pub use system::Hierarchies;

/// SDMX observation status of every published cell (CL_OBS_STATUS: `A` normal, `Q` missing
/// because confidential).
pub const OBS_STATUS: &str = "obs_status";
/// SDMX confidentiality status (CL_CONF_STATUS: `F` free, `C` confidential, `D` hidden to
/// protect a confidential cell).
pub const CONF_STATUS: &str = "conf_status";

/// Largest table (cells of the full cross-classification, totals included) that cell
/// suppression takes on; beyond it the table needs coarser categories or rounding.
pub const MAX_CELLS: usize = 20_000_000;

/// One table after disclosure control.
pub struct Protected {
    pub published: DataFrame,
    pub restricted: DataFrame,
    pub books: DisclosureBooks,
    /// The attacker audit of each of the table's sensitive cells, for the restricted folder.
    pub audit: Vec<AuditRow>,
}

/// The cube behind a table, and where each of the table's rows sits in it.
#[derive(Clone)]
struct Layout {
    codes: Vec<Vec<String>>,
    cube: Cube,
    rows: Vec<usize>,
}

/// Dimension codes (tabulate already writes `_U` for a missing value).
fn strings(df: &DataFrame, name: &str) -> PolarsResult<Vec<String>> {
    text_column(df, name, "_U")
}

fn floats(df: &DataFrame, name: &str) -> PolarsResult<Vec<f64>> {
    number_column(df, name, 0.0)
}

/// Empty `columns` where the boolean column `mask` is true.
fn blank_where(mask: &str, columns: impl IntoIterator<Item = String>) -> Vec<Expr> {
    columns
        .into_iter()
        .map(|c| {
            when(col(mask))
                .then(lit(NULL))
                .otherwise(col(c.as_str()))
                .alias(c.as_str())
        })
        .collect()
}

/// The measure whose values the suppression protects: the first `sum` measure when magnitude
/// rules apply, else the first measure.
fn value_measure(table: &TablePlan, magnitude: bool) -> &str {
    table
        .measures
        .iter()
        .find(|m| !magnitude || m.agg == Aggregate::Sum)
        .or(table.measures.first())
        .map(|m| m.name.as_str())
        .unwrap_or(CONTRIBUTORS)
}

fn layout(df: &DataFrame, table: &TablePlan, magnitude: bool) -> Result<Layout> {
    let context = || format!("protecting `{}`", table.name);
    let dims: Vec<Vec<String>> = table
        .dimensions
        .iter()
        .map(|d| strings(df, d))
        .collect::<PolarsResult<_>>()
        .at(context)?;
    let mut codes = Vec::new();
    let mut index: Vec<HashMap<String, usize>> = Vec::new();
    let mut totals = Vec::new();
    for (d, values) in table.dimensions.iter().zip(&dims) {
        let t = table.has_total(d);
        let mut c: Vec<String> = values
            .iter()
            .filter(|v| !(t && *v == TOTAL))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if t {
            c.push(TOTAL.to_string());
        }
        index.push(c.iter().enumerate().map(|(i, s)| (s.clone(), i)).collect());
        codes.push(c);
        totals.push(t);
    }
    let sizes: Vec<usize> = codes.iter().map(|c| c.len()).collect();
    let cells = sizes.iter().try_fold(1usize, |a, b| a.checked_mul(*b));
    if cells.is_none_or(|n| n > MAX_CELLS) {
        return Err(Error::Disclosure {
            table: table.name.clone(),
            message: format!(
                "the table spans {} cells ({}), more than the {MAX_CELLS} cell suppression \
                 handles; split it, or protect it with `method = \"round\"`",
                cells.map_or("too many".to_string(), |n| n.to_string()),
                sizes
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(" x ")
            ),
        });
    }
    let mut cube = Cube::new(sizes, totals);
    let value = floats(df, value_measure(table, magnitude)).at(context)?;
    let contributors = floats(df, CONTRIBUTORS).at(context)?;
    let (x1, x2) = if magnitude {
        let (a, b) = largest(value_measure(table, true));
        (floats(df, &a).at(context)?, floats(df, &b).at(context)?)
    } else {
        (vec![0.0; df.height()], vec![0.0; df.height()])
    };
    let mut rows = Vec::with_capacity(df.height());
    let mut coords = vec![0; table.dimensions.len()];
    for r in 0..df.height() {
        for (d, values) in dims.iter().enumerate() {
            coords[d] = index[d][&values[r]];
        }
        let i = cube.index(&coords);
        *cube.cell_mut(i) = CellStats {
            value: value[r],
            contributors: contributors[r] as u64,
            x1: x1[r],
            x2: x2[r],
        };
        rows.push(i);
    }
    Ok(Layout { codes, cube, rows })
}

fn rules(d: &Disclosure) -> (Vec<Rule>, bool) {
    match d {
        Disclosure::Suppress {
            threshold,
            zeros,
            dominance,
            p_percent,
        } => {
            let mut r = vec![Rule::Threshold {
                n: *threshold,
                zeros: *zeros,
            }];
            if let Some((n, k)) = dominance {
                r.push(Rule::Dominance { n: *n, k: *k });
            }
            if let Some(p) = p_percent {
                r.push(Rule::PPercent { p: *p });
            }
            let magnitude = dominance.is_some() || p_percent.is_some();
            (r, magnitude)
        }
        _ => (Vec::new(), false),
    }
}

/// Cells of `to` that are cells of `from`: same source and filter, `to`'s dimensions among
/// `from`'s, the others at their total. `map[i]` is the cell of `from` for cell `i` of `to`.
fn link(from: (&TablePlan, &Layout), to: (&TablePlan, &Layout)) -> Option<Vec<Option<usize>>> {
    let ((a, la), (b, lb)) = (from, to);
    if a.name == b.name
        || a.source != b.source
        || a.filter != b.filter
        || !b.dimensions.iter().all(|d| a.dimensions.contains(d))
        || !a
            .dimensions
            .iter()
            .all(|d| b.dimensions.contains(d) || a.has_total(d))
    {
        return None;
    }
    let positions: Vec<HashMap<&str, usize>> = la
        .codes
        .iter()
        .map(|c| c.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect())
        .collect();
    let mut map = Vec::with_capacity(lb.cube.len());
    let mut coords = vec![0; a.dimensions.len()];
    for i in 0..lb.cube.len() {
        let bc = lb.cube.coords(i);
        let mut ok = true;
        for (ad, name) in a.dimensions.iter().enumerate() {
            let code = match b.dimensions.iter().position(|d| d == name) {
                Some(bd) => lb.codes[bd][bc[bd]].as_str(),
                None => TOTAL,
            };
            match positions[ad].get(code) {
                Some(p) => coords[ad] = *p,
                None => ok = false,
            }
        }
        map.push(ok.then(|| la.cube.index(&coords)));
    }
    Some(map)
}

/// Name a cell by its codes, for messages.
fn cell_name(table: &TablePlan, l: &Layout, i: usize) -> String {
    l.cube
        .coords(i)
        .iter()
        .enumerate()
        .map(|(d, c)| format!("{}={}", table.dimensions[d], l.codes[d][*c]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A link between two tables that share cells: cell `i` of table `to` is cell `map[i]` of table
/// `from` (`None` where it has no counterpart there).
struct Link {
    from: usize,
    to: usize,
    map: Vec<Option<usize>>,
}

/// Protect every table. Tables with `suppress` are suppressed together, sharing suppressions
/// across linked tables until no table changes; then the tables of each source are audited
/// together as an attacker would (see `across`), and completed until every cell passes.
pub fn protect(
    tables: Vec<(&TablePlan, DataFrame)>,
    hierarchies: &Hierarchies,
) -> Result<Vec<Protected>> {
    let mut layouts: Vec<Option<Layout>> = Vec::new();
    let mut rule_sets = Vec::new();
    for (t, df) in &tables {
        let (r, magnitude) = rules(&t.disclosure);
        let audited = !r.is_empty() || across::is_open(&t.disclosure);
        layouts.push(if audited {
            Some(layout(df, t, magnitude)?)
        } else {
            None
        });
        rule_sets.push(r);
    }
    // Only suppressed tables take part in the table-by-table suppression.
    let suppressed: Vec<Option<Layout>> = layouts
        .iter()
        .zip(&rule_sets)
        .map(|(l, r)| if r.is_empty() { None } else { l.clone() })
        .collect();
    let links = find_links(&tables, &suppressed);
    let mut needs: Vec<Vec<Option<Protection>>> = suppressed
        .iter()
        .zip(&rule_sets)
        .map(|(l, r)| l.as_ref().map(|l| primary(&l.cube, r)).unwrap_or_default())
        .collect();
    let mut results = suppress_linked(&tables, &suppressed, &links, &mut needs)?;
    let (summaries, mut rows) =
        audit_systems(&tables, &layouts, &rule_sets, hierarchies, &mut results)?;

    let mut out = Vec::new();
    for (t, (table, df)) in tables.into_iter().enumerate() {
        let mut p = finish_one(table, df, suppressed[t].as_ref(), results[t].as_ref())?;
        if let Some(a) = &summaries[t] {
            p.books.audit = Some(a.clone());
        }
        // Both versions get their share of women and sex ratio from the cells as they stand.
        out.push(Protected {
            published: tabulate::finish(p.published, table)?,
            restricted: tabulate::finish(p.restricted, table)?,
            books: p.books,
            audit: std::mem::take(&mut rows[t]),
        });
    }
    name_links(&mut out, &links);
    Ok(out)
}

/// Per table: the summary of the audit of its system, and its audit rows.
type Audited = (Vec<Option<AuditSummary>>, Vec<Vec<AuditRow>>);

/// Audit every system of tables (see `across`); each suppressed table's summary and audit rows.
fn audit_systems(
    tables: &[(&TablePlan, DataFrame)],
    layouts: &[Option<Layout>],
    rule_sets: &[Vec<Rule>],
    hierarchies: &Hierarchies,
    results: &mut [Option<Suppression>],
) -> Result<Audited> {
    let parts = tables
        .iter()
        .enumerate()
        .filter_map(|(index, (table, _))| {
            layouts[index].as_ref().map(|layout| across::Part {
                index,
                table,
                layout,
                rules: &rule_sets[index],
            })
        })
        .collect();
    let mut summaries = vec![None; tables.len()];
    let mut rows: Vec<Vec<AuditRow>> = vec![Vec::new(); tables.len()];
    for system in across::systems(parts) {
        let (books, audit) = across::protect_system(&system, hierarchies, results)?;
        for p in system.iter().filter(|p| !p.rules.is_empty()) {
            summaries[p.index] = Some(AuditSummary {
                system: books.tables.clone(),
                equations: books.equations,
                sensitive_cells: books.audited,
                unproved: books.unproved,
                programs: books.programs,
            });
        }
        for r in audit {
            if let Some(t) = tables.iter().position(|(t, _)| t.name == r.table) {
                rows[t].push(r);
            }
        }
    }
    Ok((summaries, rows))
}

/// Every pair of suppressed tables where one's cells are cells of the other.
fn find_links(tables: &[(&TablePlan, DataFrame)], layouts: &[Option<Layout>]) -> Vec<Link> {
    let n = tables.len();
    let mut links = Vec::new();
    for a in 0..n {
        for b in 0..n {
            if let (Some(la), Some(lb)) = (&layouts[a], &layouts[b]) {
                if let Some(map) = link((tables[a].0, la), (tables[b].0, lb)) {
                    links.push(Link {
                        from: a,
                        to: b,
                        map,
                    });
                }
            }
        }
    }
    links
}

/// The suppression pattern of every table, consistent across linked tables; `needs` gains the
/// protection asked of every cell hidden because a linked table hides it.
fn suppress_linked(
    tables: &[(&TablePlan, DataFrame)],
    layouts: &[Option<Layout>],
    links: &[Link],
    needs: &mut [Vec<Option<Protection>>],
) -> Result<Vec<Option<Suppression>>> {
    let mut forced: Vec<Vec<Status>> = layouts
        .iter()
        .map(|l| {
            l.as_ref()
                .map(|l| vec![Status::Published; l.cube.len()])
                .unwrap_or_default()
        })
        .collect();
    // Suppress every table, then carry each hidden cell into the tables linked to it and suppress
    // again the tables that received one, until none does. Each round only hides more cells, so
    // this ends; the bound guards against a bug.
    let mut results: Vec<Option<Suppression>> = layouts.iter().map(|_| None).collect();
    let mut dirty: Vec<bool> = layouts.iter().map(Option::is_some).collect();
    for round in 0.. {
        for (t, l) in layouts.iter().enumerate() {
            if let (Some(l), true) = (l, dirty[t]) {
                results[t] = Some(suppress(&l.cube, &needs[t], forced[t].clone()));
            }
        }
        dirty.iter_mut().for_each(|d| *d = false);
        carry_hidden(links, &results, &mut forced, needs, &mut dirty);
        if !dirty.contains(&true) {
            break;
        }
        if round > 1000 {
            let unsettled: Vec<&str> = tables
                .iter()
                .zip(&dirty)
                .filter(|(_, d)| **d)
                .map(|((t, _), _)| t.name.as_str())
                .collect();
            return Err(Error::Invariant {
                table: unsettled.join(", "),
                message: "linked suppressions did not settle".into(),
            });
        }
    }
    Ok(results)
}

/// Hide in each table the cells that a table linked to it hides, and mark the tables that
/// received a cell they did not hide yet (`dirty`), to be suppressed again.
fn carry_hidden(
    links: &[Link],
    results: &[Option<Suppression>],
    forced: &mut [Vec<Status>],
    needs: &mut [Vec<Option<Protection>>],
    dirty: &mut [bool],
) {
    for Link { from, to, map } in links {
        let Some(sa) = &results[*from] else { continue };
        for (bi, ai) in map.iter().enumerate() {
            let Some(ai) = ai else { continue };
            if sa.status[*ai].hidden() && !forced[*to][bi].hidden() {
                // C stays C, D stays D: the same cell, whichever table it is read from.
                forced[*to][bi] = sa.status[*ai];
                needs[*to][bi].get_or_insert(UNIT);
                dirty[*to] = true;
            }
        }
    }
}

/// Name the linked tables in each table's books, now that every table is known.
fn name_links(out: &mut [Protected], links: &[Link]) {
    let names: Vec<String> = out.iter().map(|p| p.books.table.clone()).collect();
    // A link goes both ways: each table lists the other.
    for link in links {
        for (x, y) in [(link.from, link.to), (link.to, link.from)] {
            let name = names[y].clone();
            if !out[x].books.linked.contains(&name) {
                out[x].books.linked.push(name);
            }
        }
    }
}

fn status_codes(status: &[&str], name: &str) -> Column {
    let mut b = StringChunkedBuilder::new(name.into(), status.len());
    for s in status {
        b.append_value(s);
    }
    b.finish().into_series().into_column()
}

/// One table's published and restricted versions under its disclosure method, with its books.
fn finish_one(
    table: &TablePlan,
    df: DataFrame,
    layout: Option<&Layout>,
    result: Option<&Suppression>,
) -> Result<Protected> {
    let context = || format!("protecting `{}`", table.name);
    let mut books = open_books(table, df.height() as u64);
    // A survey table's estimates are graded here, so both versions carry the grade.
    let df = match &table.disclosure {
        Disclosure::Reliability { .. } => reliability::graded(df, table).at(context)?,
        _ => df,
    };
    let mut restricted = df.clone();
    let published = match (&table.disclosure, layout, result) {
        (Disclosure::Suppress { .. }, Some(l), Some(s)) => {
            books.method = Method::Suppress;
            books.hidden_share = Some(hidden_share(table, l, s));
            let flags = RowFlags::of(l, s, &mut books);
            let p = blank_hidden(table, df, &flags)?;
            restricted
                .with_column(status_codes(&flags.conf_restricted, CONF_STATUS))
                .at(context)?;
            p
        }
        (Disclosure::Round { base, seed }, _, _) => {
            books.method = Method::Round { base: *base };
            let mut p = rounded(table, &df, *base, *seed, &mut books)?;
            all_free(&mut p).at(context)?;
            p
        }
        (Disclosure::Reliability { .. }, _, _) => {
            books.method = Method::Reliability;
            reliability::reliable(table, &df, &mut books).at(context)?
        }
        (Disclosure::None { reason }, _, _) => {
            books.method = Method::None;
            books.reason = Some(reason.clone());
            let mut p = df.clone();
            all_free(&mut p).at(context)?;
            p
        }
        _ => {
            return Err(Error::Invariant {
                table: table.name.clone(),
                message: "a suppressed table has no cube".into(),
            })
        }
    };
    Ok(Protected {
        published,
        restricted,
        books,
        audit: Vec::new(),
    })
}

/// The books of a table before any protection: every one of its `cells` published as computed.
fn open_books(table: &TablePlan, cells: u64) -> DisclosureBooks {
    DisclosureBooks {
        table: table.name.clone(),
        method: Method::Open,
        cells,
        primary: 0,
        secondary: 0,
        rounded: 0,
        flagged: 0,
        linked: Vec::new(),
        audit: None,
        hidden_share: None,
        reason: None,
    }
}

/// Every cell published as computed: observation status `A` (normal), confidentiality `F` (free).
fn all_free(p: &mut DataFrame) -> PolarsResult<()> {
    let height = p.height();
    p.with_column(status_codes(
        &vec![ObsStatus::Normal.code(); height],
        OBS_STATUS,
    ))?;
    p.with_column(status_codes(
        &vec![ConfStatus::Free.code(); height],
        CONF_STATUS,
    ))?;
    Ok(())
}

/// Information loss: the share of the inner cells' total (no dimension at its total) that
/// the hidden cells hold.
fn hidden_share(table: &TablePlan, l: &Layout, s: &Suppression) -> f64 {
    let (mut hidden, mut all) = (0.0, 0.0);
    for i in 0..l.cube.len() {
        let coords = l.cube.coords(i);
        let inner = coords
            .iter()
            .enumerate()
            .all(|(d, c)| !(table.has_total(&table.dimensions[d]) && l.cube.is_total(d, *c)));
        if inner {
            let v = l.cube.cell(i).value;
            all += v;
            if s.status[i].hidden() {
                hidden += v;
            }
        }
    }
    if all > 0.0 {
        hidden / all
    } else {
        0.0
    }
}

/// Each row's SDMX flags under a suppression pattern, and whether its value is hidden. The
/// published flags say only that a cell is confidential (`C`): telling the cells hidden for
/// their own sake from those hidden to protect them would tell an attacker which hidden cells
/// are small. The restricted folder keeps the difference (`C` and `D`).
struct RowFlags {
    hidden: Vec<bool>,
    obs: Vec<&'static str>,
    conf: Vec<&'static str>,
    conf_restricted: Vec<&'static str>,
}

impl RowFlags {
    /// The flags of the table's rows, counting its primary and secondary suppressions in `books`.
    fn of(l: &Layout, s: &Suppression, books: &mut DisclosureBooks) -> RowFlags {
        let height = l.rows.len();
        let mut hidden = Vec::with_capacity(height);
        let mut obs = Vec::with_capacity(height);
        let mut conf = Vec::with_capacity(height);
        let mut conf_restricted = Vec::with_capacity(height);
        for &i in &l.rows {
            let st = s.status[i];
            let c = match st {
                Status::Published => ConfStatus::Free,
                Status::Primary => ConfStatus::Confidential,
                Status::Secondary => ConfStatus::Secondary,
            };
            match c {
                ConfStatus::Confidential => books.primary += 1,
                ConfStatus::Secondary => books.secondary += 1,
                ConfStatus::Free => {}
            }
            hidden.push(st.hidden());
            obs.push(if st.hidden() {
                ObsStatus::Suppressed.code()
            } else {
                ObsStatus::Normal.code()
            });
            conf_restricted.push(c.code());
            conf.push(if st.hidden() {
                ConfStatus::Confidential.code()
            } else {
                c.code()
            });
        }
        RowFlags {
            hidden,
            obs,
            conf,
            conf_restricted,
        }
    }
}

/// The published table under cell suppression: hidden cells' measures emptied, flags added.
fn blank_hidden(table: &TablePlan, df: DataFrame, flags: &RowFlags) -> Result<DataFrame> {
    let context = || format!("protecting `{}`", table.name);
    let mask = BooleanChunked::from_slice("__hidden".into(), &flags.hidden);
    let mut lf = df
        .lazy()
        .with_column(lit(Series::new("__hidden".into(), mask.into_series())).alias("__hidden"));
    let measures = blank_where("__hidden", table.measures.iter().map(|m| m.name.clone()));
    lf = lf.with_columns(measures).drop(cols(["__hidden"]));
    let mut p = lf.collect().at(context)?;
    p.with_column(status_codes(&flags.obs, OBS_STATUS))
        .at(context)?;
    p.with_column(status_codes(&flags.conf, CONF_STATUS))
        .at(context)?;
    Ok(p)
}

/// Every measure randomly rounded to a multiple of `base`, each cell by its own draw (seeded by
/// the table, the cell's codes and the measure, so a rerun rounds alike); `books` counts the
/// rows that changed.
fn rounded(
    table: &TablePlan,
    df: &DataFrame,
    base: u32,
    seed: u64,
    books: &mut DisclosureBooks,
) -> Result<DataFrame> {
    let context = || format!("protecting `{}`", table.name);
    let keys: Vec<Vec<String>> = table
        .dimensions
        .iter()
        .map(|d| strings(df, d))
        .collect::<PolarsResult<_>>()
        .at(context)?;
    let mut p = df.clone();
    let mut changed = vec![false; df.height()];
    for m in &table.measures {
        let values = floats(df, &m.name).at(context)?;
        let rounded: Vec<f64> = values
            .iter()
            .enumerate()
            .map(|(r, v)| {
                let key: Vec<&str> = keys.iter().map(|k| k[r].as_str()).collect();
                let u = unit_draw(
                    seed,
                    &format!("{}|{}|{}", table.name, key.join("|"), m.name),
                );
                let out = round_random(*v, f64::from(base), u);
                if out != *v {
                    changed[r] = true;
                }
                out
            })
            .collect();
        let dtype = df.column(&m.name).at(context)?.dtype().clone();
        let s = Series::new(m.name.as_str().into(), rounded)
            .cast(&dtype)
            .at(context)?;
        p.with_column(s.into_column()).at(context)?;
    }
    books.rounded = changed.iter().filter(|c| **c).count() as u64;
    Ok(p)
}
