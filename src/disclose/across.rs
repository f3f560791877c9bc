//! Protection across all the tables of a source: the suppression patterns found table by table
//! are put together into one [`System`] and audited as an attacker with an LP solver would.
//! Cells the audit finds short get complementary suppressions across tables (see
//! [`attack::protect`]) until every one passes; one that cannot stops the run.

use tracing::info;

use super::attack::{self, Interval, Requirement};
use super::certify::Certifier;
use super::system::{Hierarchies, Member, System};
use super::{cell_name, primary, Layout, Protection, Rule, Suppression};
use crate::error::{Error, Result};
use crate::spec::{Aggregate, Disclosure, TablePlan};

/// One cell of the audit file: a sensitive cell as one table shows it.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub table: String,
    pub cell: String,
    pub value: f64,
    pub required_low: f64,
    pub required_high: f64,
    pub low: f64,
    pub high: f64,
    pub passed: bool,
}

/// What the audit of one system found, for each of its tables' books.
#[derive(Debug, Clone, Default)]
pub struct SystemBooks {
    pub tables: Vec<String>,
    pub equations: u64,
    pub programs: u64,
    pub audited: u64,
    /// Sensitive cells the audit could not prove protected.
    pub unproved: u64,
}

/// A table taking part in the audit: suppressed tables (whose cells may be hidden) and tables
/// published as computed from the same source (whose cells the attacker simply reads).
pub struct Part<'a> {
    pub index: usize,
    pub table: &'a TablePlan,
    pub layout: &'a Layout,
    pub rules: &'a [Rule],
}

/// Tables that count the same thing: same source, same filter, same measure.
pub fn systems<'a>(parts: Vec<Part<'a>>) -> Vec<Vec<Part<'a>>> {
    let mut out: Vec<Vec<Part<'a>>> = Vec::new();
    for p in parts {
        let same = |q: &Part| {
            q.table.source == p.table.source
                && q.table.filter == p.table.filter
                && measure(q) == measure(&p)
        };
        match out.iter_mut().find(|g| same(&g[0])) {
            Some(g) => g.push(p),
            None => out.push(vec![p]),
        }
    }
    out.retain(|g| g.iter().any(|p| !p.rules.is_empty()));
    out
}

/// What a table's protected value counts: its aggregate and the column it reads.
fn measure(p: &Part) -> (Aggregate, Option<String>) {
    let magnitude = p.rules.iter().any(|r| !matches!(r, Rule::Threshold { .. }));
    let name = super::value_measure(p.table, magnitude);
    p.table
        .measures
        .iter()
        .find(|m| m.name == name)
        .map(|m| (m.agg, m.column.clone()))
        .unwrap_or((Aggregate::Count, None))
}

/// Protect the cells of one system as an attacker holding all its tables would try to narrow
/// them: audit the table-by-table patterns, hide the complements a repair finds for the cells
/// still short, and audit again, until every sensitive cell passes. The cells hidden are
/// written back into `results` as secondary suppressions.
pub fn protect_system(
    parts: &[Part],
    hierarchies: &Hierarchies,
    results: &mut [Option<Suppression>],
) -> Result<(SystemBooks, Vec<AuditRow>)> {
    let members: Vec<Member> = parts
        .iter()
        .map(|p| Member {
            table: p.table,
            layout: p.layout,
            hideable: !p.rules.is_empty(),
        })
        .collect();
    let sys = System::build(&members, hierarchies);
    let floor = floor(parts);
    let needs = requirements(parts, &sys, floor);
    let mut hidden = initial(parts, &sys, results);
    let names: Vec<String> = parts.iter().map(|p| p.table.name.clone()).collect();
    let failure = |e: attack::SolverFailure| Error::Disclosure {
        table: names.join(", "),
        message: e.0,
    };
    let before = hidden.clone();
    let certifier = Certifier::new(
        &sys,
        parts
            .iter()
            .map(|p| (!p.rules.is_empty()).then_some(&p.layout.cube))
            .collect(),
        parts
            .iter()
            .map(|p| {
                results[p.index]
                    .as_ref()
                    .map_or(&[][..], |s| s.certificates.as_slice())
            })
            .collect(),
    );
    let done = attack::protect(&sys, &mut hidden, &needs, floor, &certifier).map_err(failure)?;
    carry_back(parts, &sys, &before, &hidden, results);
    let (audit, programs, repaired) = (done.audit, done.programs, done.repairs);
    let books = SystemBooks {
        tables: names.clone(),
        equations: sys.equations.len() as u64,
        programs,
        audited: needs.iter().filter(|n| n.is_some()).count() as u64,
        unproved: unproved(&audit),
    };
    info!(
        tables = %names.join(", "),
        equations = books.equations,
        programs = books.programs,
        repairs = repaired,
        "audited against an LP attacker"
    );
    let rows = audit_rows(parts, &sys, &needs, &audit.intervals);
    if books.unproved > 0 {
        let cells: Vec<String> = rows
            .iter()
            .filter(|r| !r.passed)
            .take(3)
            .map(|r| format!("{} {} ({})", r.table, r.cell, r.value))
            .collect();
        return Err(Error::Disclosure {
            table: names.join(", "),
            message: format!(
                "an attacker holding all these tables could narrow {} sensitive cell(s) too far, \
                 e.g. {}",
                books.unproved,
                cells.join("; ")
            ),
        });
    }
    Ok((books, rows))
}

/// Carry what the system's protection changed back into every table that shows the cells:
/// cells it hid become secondary suppressions, and secondary suppressions of cells it published
/// again (they protect nothing) are published.
fn carry_back(
    parts: &[Part],
    sys: &System,
    before: &[bool],
    hidden: &[bool],
    results: &mut [Option<Suppression>],
) {
    use super::Status::{Published, Secondary};
    for (m, p) in parts.iter().enumerate() {
        let Some(s) = results[p.index].as_mut() else {
            continue;
        };
        for (i, c) in sys.places[m].iter().enumerate() {
            let status = &mut s.status[i];
            match (before[*c], hidden[*c]) {
                (false, true) if !status.hidden() => *status = Secondary,
                (true, false) if *status == Secondary => *status = Published,
                _ => {}
            }
        }
    }
}

/// Sensitive cells with a side the audit could not prove.
fn unproved(audit: &attack::Audit) -> u64 {
    let mut cells: Vec<usize> = audit.failing.iter().map(|(c, _)| *c).collect();
    cells.dedup();
    cells.len() as u64
}

/// What an attacker knows of every hidden cell from below: that it is not negative. The
/// repair hides zeros too where they help (a zero that may hold someone is what lets a cell of
/// one person look empty), so a hidden cell is not known to be at least 1.
fn floor(_parts: &[Part]) -> f64 {
    0.0
}

/// What each sensitive cell needs, the strictest over the tables that show it: its maximum at
/// least the threshold (for counts) or its value plus the rule's protection level, and its
/// minimum at most its value minus one (or the rule's level), never below what the published
/// rows alone tell (see [`least`]).
fn requirements(parts: &[Part], sys: &System, floor: f64) -> Vec<Option<Requirement>> {
    let least = least(sys, floor);
    let mut out: Vec<Option<Requirement>> = vec![None; sys.cells.len()];
    for (m, p) in parts.iter().enumerate() {
        let count = measure(p).0 == Aggregate::Count;
        let threshold = p.rules.iter().find_map(|r| match r {
            Rule::Threshold { n, .. } => Some(*n),
            _ => None,
        });
        for (i, need) in primary(&p.layout.cube, p.rules).into_iter().enumerate() {
            let Some(need) = need else { continue };
            let stats = p.layout.cube.cell(i);
            let c = sys.places[m][i];
            let r = requirement(
                stats.value,
                stats.contributors,
                need,
                threshold,
                count,
                least[c],
            );
            out[c] = Some(match out[c] {
                Some(o) => Requirement {
                    low: o.low.min(r.low),
                    high: o.high.max(r.high),
                },
                None => r,
            });
        }
    }
    out
}

fn requirement(
    value: f64,
    contributors: u64,
    need: Protection,
    threshold: Option<u64>,
    count: bool,
    floor: f64,
) -> Requirement {
    let mut high = value + need.upper;
    if let Some(n) = threshold.filter(|n| count && contributors < *n) {
        high = high.max(n as f64);
    }
    let step = if count {
        need.lower.max(1.0)
    } else {
        need.upper
    };
    Requirement {
        low: (value - step).max(floor),
        high,
    }
}

/// The least value of each cell that an attacker can prove even if every cell were hidden: a
/// table lists only the combinations that occur, so each listed cell of a count is at least
/// `floor`, and a total is at least the sum of its parts' least values. No suppression can
/// hide more than that (a total of three cells of 1 is at least 3 however it is published), so
/// a requirement never asks a minimum below it.
fn least(sys: &System, floor: f64) -> Vec<f64> {
    let mut least: Vec<f64> = sys
        .cells
        .iter()
        .map(|c| {
            if c.value > 0.0 {
                floor.min(c.value)
            } else {
                0.0
            }
        })
        .collect();
    // Totals sit a few levels above their finest parts; each pass settles one more level.
    for _ in 0..64 {
        let mut changed = false;
        for e in &sys.equations {
            let sum: f64 = e.parts.iter().map(|p| least[*p]).sum();
            if sum > least[e.total] + 1e-9 {
                least[e.total] = sum.min(sys.cells[e.total].value);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    least
}

/// A system cell is hidden when every table showing it hides it.
fn initial(parts: &[Part], sys: &System, results: &[Option<Suppression>]) -> Vec<bool> {
    let mut hidden = vec![true; sys.cells.len()];
    for (m, p) in parts.iter().enumerate() {
        for (i, c) in sys.places[m].iter().enumerate() {
            let h = results[p.index]
                .as_ref()
                .is_some_and(|s| s.status[i].hidden());
            // A cell no one may hide (published as computed elsewhere, or not listed) is read.
            hidden[*c] &= h && sys.cells[*c].hideable;
        }
    }
    hidden
}

fn audit_rows(
    parts: &[Part],
    sys: &System,
    needs: &[Option<Requirement>],
    intervals: &[Option<Interval>],
) -> Vec<AuditRow> {
    let mut rows = Vec::new();
    for (m, p) in parts.iter().enumerate() {
        for (i, need) in primary(&p.layout.cube, p.rules).iter().enumerate() {
            if need.is_none() {
                continue;
            }
            let c = sys.places[m][i];
            let (Some(req), Some(got)) = (needs[c], intervals[c]) else {
                continue;
            };
            rows.push(AuditRow {
                table: p.table.name.clone(),
                cell: cell_name(p.table, p.layout, i),
                value: sys.cells[c].value,
                required_low: req.low,
                required_high: req.high,
                low: got.low,
                high: got.high,
                passed: attack::passes(&req, &got),
            });
        }
    }
    rows
}

/// Disclosure of a table, for `systems`: its rules (none for a table published as computed).
pub fn is_open(d: &Disclosure) -> bool {
    matches!(d, Disclosure::None { .. })
}
