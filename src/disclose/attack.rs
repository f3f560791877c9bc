//! The attacker's linear programs, and the suppressions that defeat them.
//!
//! Hidden cells are the unknowns of the [`System`]; the published ones are constants. The
//! attacker knows every equation, that a hidden cell is at least `floor` (0, or 1 where zeros
//! are published and never hidden), and solves for each sensitive cell the smallest and the
//! largest value it can take. A sensitive cell is protected when the largest reaches its
//! requirement's `high` and the smallest reaches its `low`.
//!
//! Solving two LPs per cell is what τ-Argus's audit does and what makes it slow; here a
//! cell is *proved* protected by any feasible point that reaches its requirement, and one LP
//! that pushes every pending cell towards its requirement at once proves most of them. Only the
//! cells no such point reaches get an LP of their own, whose optimum is the exact bound.

use std::collections::{BTreeSet, HashMap, HashSet};

pub use super::lp::SolverFailure;
use super::lp::{Direction, Outcome, Program, Relation, Variable, TOLERANCE};

use super::system::System;

/// What an attacker must not be able to rule out about a sensitive cell: its value could be as
/// low as `low` and as high as `high`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Requirement {
    pub low: f64,
    pub high: f64,
}

/// The range of values an attacker cannot rule out for a hidden cell, as far as the audit
/// went: `low` and `high` are values the cell can take given everything published (exact where
/// the cell needed its own LP, else the extremes the audit's points reached).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// Which end of a requirement an attacker can close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Low,
    High,
}

/// The audit of one system.
pub struct Audit {
    /// For each cell with a requirement: what the attacker cannot rule out.
    pub intervals: Vec<Option<Interval>>,
    /// Requirement cells an attacker can narrow too far, and on which side.
    pub failing: Vec<(usize, Side)>,
    /// Linear programs solved.
    pub programs: u64,
}

const EPS: f64 = TOLERANCE;

/// Audit a suppression pattern: for each hidden cell with a requirement, values the attacker
/// cannot rule out, and the cells the audit could not prove safe (an attacker narrows them too
/// far, or no point the audit solved reaches their requirement).
pub fn audit(
    sys: &System,
    incidence: &[Vec<usize>],
    hidden: &[bool],
    needs: &[Option<Requirement>],
    floor: f64,
) -> Result<Audit, SolverFailure> {
    let mut out = Audit {
        intervals: vec![None; sys.cells.len()],
        failing: Vec::new(),
        programs: 0,
    };
    for (c, need) in needs.iter().enumerate() {
        let Some(need) = need else { continue };
        let v = sys.cells[c].value;
        // A published cell is read; a hidden one can at least take its true value.
        out.intervals[c] = Some(Interval { low: v, high: v });
        if !hidden[c] {
            for side in [Side::Low, Side::High] {
                if !side.met(need, v, v) {
                    out.failing.push((c, side));
                }
            }
        }
    }
    let local = Local {
        sys,
        incidence,
        hidden,
        floor,
    };
    for group in groups(sys, incidence, hidden) {
        let started = std::time::Instant::now();
        let before = out.programs;
        local.push(&group, needs, &mut out)?;
        tracing::debug!(
            unknowns = group.len(),
            programs = out.programs - before,
            seconds = started.elapsed().as_secs_f64(),
            "pushed points"
        );
    }
    let started = std::time::Instant::now();
    let mut budget = LOCAL_PROGRAMS;
    for c in (0..sys.cells.len()).filter(|c| hidden[*c]) {
        let Some(need) = needs[c] else { continue };
        for side in [Side::High, Side::Low] {
            let interval = out.intervals[c].expect("set above");
            if side.met(&need, interval.low, interval.high) {
                continue;
            }
            let before = out.programs;
            if budget == 0 || !local.prove(c, side, &need, needs, &mut out)? {
                out.failing.push((c, side));
            }
            budget = budget.saturating_sub(out.programs - before);
        }
    }
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "local programs");
    out.failing.sort();
    Ok(out)
}

impl Side {
    fn met(self, need: &Requirement, low: f64, high: f64) -> bool {
        match self {
            Side::Low => low <= need.low + EPS,
            Side::High => high >= need.high - EPS,
        }
    }

    fn direction(self) -> Direction {
        match self {
            Side::Low => Direction::Minimize,
            Side::High => Direction::Maximize,
        }
    }
}

/// The largest neighbourhood the audit solves around one cell: past it the cell counts as not
/// proved, which keeps every program small.
const MAX_UNKNOWNS: usize = 1500;

/// How many programs of their own the cells that the pushed points leave short may take in
/// one audit; the rest count as not proved. It bounds the audit's time on sparse tables where
/// thousands of cells fall short.
const LOCAL_PROGRAMS: u64 = 400;

/// The most pushed points per group and side.
const PUSH_ROUNDS: usize = 8;

/// The attacker's problem around one cell: the hidden cells a few equations away are free,
/// every other cell keeps its true value. Any point of that smaller problem is a point of the
/// whole system (every equation touching a free cell is kept), so the values it reaches are
/// values the attacker cannot rule out; when the neighbourhood is the whole connected group of
/// hidden cells, its optimum is the attacker's exact bound.
struct Local<'a> {
    sys: &'a System,
    incidence: &'a [Vec<usize>],
    hidden: &'a [bool],
    floor: f64,
}

impl Local<'_> {
    /// Widen the neighbourhood of `c` until a point meets its requirement on `side`, recording
    /// in `out` what every point shows of the cells it frees; false when none does.
    fn prove(
        &self,
        c: usize,
        side: Side,
        need: &Requirement,
        needs: &[Option<Requirement>],
        out: &mut Audit,
    ) -> Result<bool, SolverFailure> {
        let mut near = vec![c];
        let mut seen = HashSet::from([c]);
        loop {
            let grew = self.grow(&mut near, &mut seen);
            if near.len() > MAX_UNKNOWNS {
                return Ok(false);
            }
            let point = self.solve(&near, c, side)?;
            out.programs += 1;
            for (k, x) in near.iter().enumerate() {
                if needs[*x].is_none() {
                    continue;
                }
                let slot = out.intervals[*x]
                    .as_mut()
                    .expect("every need has an interval");
                let value = match &point {
                    Some(p) => p[k],
                    // Unbounded: the cell itself can grow without end.
                    None if *x == c => f64::INFINITY,
                    None => continue,
                };
                slot.low = slot.low.min(value);
                slot.high = slot.high.max(value);
            }
            let got = out.intervals[c].expect("set by audit");
            if side.met(need, got.low, got.high) {
                return Ok(true);
            }
            if !grew {
                return Ok(false);
            }
        }
    }

    /// Points pushing every cell of `group` with a requirement towards it at once (the
    /// largest weighted sum with each capped at its `high`, then the smallest with each
    /// floored at its `low`), repeated over the cells still short while that proves more of
    /// them. One program proves most cells of a well protected group.
    fn push(
        &self,
        group: &[usize],
        needs: &[Option<Requirement>],
        out: &mut Audit,
    ) -> Result<(), SolverFailure> {
        for side in [Side::High, Side::Low] {
            let mut pending: Vec<usize> = group
                .iter()
                .copied()
                .filter(|c| needs[*c].is_some())
                .collect();
            let mut rounds = 0;
            loop {
                let before = pending.len();
                let point = self.pushed(group, &pending, side, needs)?;
                out.programs += 1;
                record(group, &point, needs, out);
                pending.retain(|c| {
                    let got = out.intervals[*c].expect("every need has an interval");
                    !side.met(
                        &needs[*c].expect("pending cells have needs"),
                        got.low,
                        got.high,
                    )
                });
                // Each round must prove a fair share of what is left, or the rest is left to
                // the cells' own programs.
                rounds += 1;
                if pending.is_empty() || rounds == PUSH_ROUNDS || pending.len() * 10 > before * 9 {
                    break;
                }
            }
        }
        Ok(())
    }

    /// One pushed point of `group`: `pending` cells weighted (slightly unequally, so that the
    /// optimum is a single vertex rather than a tie) and bounded by their requirement, which
    /// their true values meet, so the program is feasible.
    fn pushed(
        &self,
        group: &[usize],
        pending: &[usize],
        side: Side,
        needs: &[Option<Requirement>],
    ) -> Result<Vec<f64>, SolverFailure> {
        let mut p = Program::new(side.direction());
        let pending: HashMap<usize, usize> =
            pending.iter().enumerate().map(|(k, c)| (*c, k)).collect();
        let mut var = HashMap::with_capacity(group.len());
        let vars: Vec<Variable> = group
            .iter()
            .map(|x| {
                let (weight, bounds) = match (pending.get(x), needs[*x]) {
                    (Some(k), Some(need)) => {
                        let weight = 1.0 + (*k % 97) as f64 / 1000.0;
                        let value = self.sys.cells[*x].value;
                        match side {
                            Side::High => (weight, (self.floor, need.high.max(value))),
                            Side::Low => (weight, (need.low.min(value), f64::INFINITY)),
                        }
                    }
                    _ => (0.0, (self.floor, f64::INFINITY)),
                };
                let v = p.add_var(weight, bounds);
                var.insert(*x, v);
                v
            })
            .collect();
        let rows: BTreeSet<usize> = group
            .iter()
            .flat_map(|x| self.incidence[*x].iter().copied())
            .collect();
        for e in rows {
            let (expr, rhs) = self.sys.equations[e].restricted(&self.sys.cells, &var);
            p.add_constraint(expr.as_slice(), Relation::Eq, rhs);
        }
        match p.solve()? {
            Outcome::Point(values) => Ok(vars.iter().map(|v| values[v.idx()]).collect()),
            Outcome::Unbounded => Err(SolverFailure("a capped program was unbounded".into())),
            Outcome::Infeasible => Err(SolverFailure(
                "the LP solver found no solution to equations the true values satisfy".into(),
            )),
        }
    }

    /// Add the hidden cells of every equation through a cell of `near`; false if none is new.
    fn grow(&self, near: &mut Vec<usize>, seen: &mut HashSet<usize>) -> bool {
        let mut fresh = Vec::new();
        for x in near.iter() {
            for e in &self.incidence[*x] {
                for y in self.sys.equations[*e].cells() {
                    if self.hidden[y] && seen.insert(y) {
                        fresh.push(y);
                    }
                }
            }
        }
        let grew = !fresh.is_empty();
        near.extend(fresh);
        grew
    }

    /// The optimum of `c` on `side` with `near` free: the values of `near` at it, or `None`
    /// when `c` is unbounded.
    fn solve(
        &self,
        near: &[usize],
        c: usize,
        side: Side,
    ) -> Result<Option<Vec<f64>>, SolverFailure> {
        let mut p = Program::new(side.direction());
        let mut var = HashMap::with_capacity(near.len());
        let vars: Vec<Variable> = near
            .iter()
            .map(|x| {
                let v = p.add_var(if *x == c { 1.0 } else { 0.0 }, (self.floor, f64::INFINITY));
                var.insert(*x, v);
                v
            })
            .collect();
        let rows: BTreeSet<usize> = near
            .iter()
            .flat_map(|x| self.incidence[*x].iter().copied())
            .collect();
        for e in rows {
            let (expr, rhs) = self.sys.equations[e].restricted(&self.sys.cells, &var);
            p.add_constraint(expr.as_slice(), Relation::Eq, rhs);
        }
        match p.solve()? {
            Outcome::Point(values) => Ok(Some(vars.iter().map(|v| values[v.idx()]).collect())),
            Outcome::Unbounded => Ok(None),
            Outcome::Infeasible => Err(SolverFailure(
                "the LP solver found no solution to equations the true values satisfy".into(),
            )),
        }
    }
}

/// What a point shows: each cell with a requirement can take the value the point gives it.
fn record(cells: &[usize], point: &[f64], needs: &[Option<Requirement>], out: &mut Audit) {
    for (x, value) in cells.iter().zip(point) {
        if needs[*x].is_some() {
            let slot = out.intervals[*x]
                .as_mut()
                .expect("every need has an interval");
            slot.low = slot.low.min(*value);
            slot.high = slot.high.max(*value);
        }
    }
}

/// The hidden cells, in groups tied together by equations (each group is solved apart).
fn groups(sys: &System, incidence: &[Vec<usize>], hidden: &[bool]) -> Vec<Vec<usize>> {
    let mut group = vec![usize::MAX; sys.cells.len()];
    let mut out = Vec::new();
    for start in (0..sys.cells.len()).filter(|c| hidden[*c]) {
        if group[start] != usize::MAX {
            continue;
        }
        let id = out.len();
        group[start] = id;
        let mut members = vec![start];
        let mut k = 0;
        while k < members.len() {
            let x = members[k];
            k += 1;
            for e in &incidence[x] {
                for y in sys.equations[*e].cells() {
                    if hidden[y] && group[y] == usize::MAX {
                        group[y] = id;
                        members.push(y);
                    }
                }
            }
        }
        members.sort_unstable();
        out.push(members);
    }
    out
}

/// For each cell, the equations it appears in.
pub fn incidence(sys: &System) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); sys.cells.len()];
    for (e, eq) in sys.equations.iter().enumerate() {
        out[eq.total].push(e);
        for p in &eq.parts {
            out[*p].push(e);
        }
    }
    out
}
