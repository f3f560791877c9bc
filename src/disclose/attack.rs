//! The attacker's linear programs, and the suppressions that defeat them.
//!
//! Hidden cells are the unknowns of the [`System`]; the published ones are constants. The
//! attacker knows every equation, that a hidden cell is at least `floor` (0 for marsad's
//! publications, which may hide zeros), and solves for each sensitive cell the smallest and the
//! largest value it can take. A sensitive cell is protected when the largest reaches its
//! requirement's `high` and the smallest reaches its `low`.
//!
//! Solving two LPs per cell is what τ-Argus's audit does and what makes it slow; here a
//! cell is *proved* protected by any feasible point that reaches its requirement, and one LP
//! that pushes every pending cell towards its requirement at once proves most of them. Only the
//! cells no such point reaches get an LP of their own, whose optimum is the exact bound. Cells
//! in one equation compete for its slack, so each round pushes interleaved parts of the cells
//! short side by side, one program per core: each part proves a larger share of its cells.
//!
//! Cells still short are repaired by an LP that lets published cells near them move at a small
//! cost; the cells it moves are hidden ([`protect`] alternates audit and repair).

use std::collections::{BTreeSet, HashMap, HashSet};

use rayon::prelude::*;

pub use super::lp::SolverFailure;
use super::lp::{Direction, Outcome, Program, Relation, Variable, TOLERANCE};

use super::certify::Certifier;
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

/// The most repair rounds a system gets; each hides at least one more cell, and a pattern that
/// still fails after them stops the run rather than the run going on for hours.
const MAX_REPAIRS: usize = 24;

/// How many equations from a short cell the first repair may hide cells.
const REACH: usize = 1;

/// What [`protect`] did: its last audit, and its work.
pub struct Protected {
    pub audit: Audit,
    pub programs: u64,
    pub repairs: usize,
}

/// Audit `hidden` and hide the complements a repair finds for the cells still short, again
/// until every cell with a requirement passes (or no repair helps: the last audit then lists
/// the cells short). `hidden` only grows, and proofs carry over from round to round because
/// hiding more only adds points to the attacker's system.
pub fn protect(
    sys: &System,
    hidden: &mut [bool],
    needs: &[Option<Requirement>],
    floor: f64,
    certifier: &Certifier,
) -> Result<Protected, SolverFailure> {
    let incidence = incidence(sys);
    let mut programs = 0;
    let mut repairs = 0;
    let mut stalled = false;
    let mut known = Vec::new();
    // A group of hidden cells too large for one program: proofs by hypercubes, repairs by
    // hypercubes, and the solver only for what they leave (see `WHOLE_GROUP`).
    let large = groups(sys, &incidence, hidden)
        .iter()
        .any(|g| g.len() > WHOLE_GROUP);
    // Cells of a large group that hypercubes could not repair: these get programs of their own.
    let mut left: Vec<usize> = Vec::new();
    loop {
        let how = Audited {
            certifier,
            large,
            floor,
            solve: &left,
        };
        let audit = audit(sys, &incidence, hidden, needs, &known, &how)?;
        known.clone_from(&audit.intervals);
        programs += audit.programs;
        if audit.failing.is_empty() || repairs == MAX_REPAIRS {
            if audit.failing.is_empty() {
                let released = release_determined(sys, &incidence, hidden, needs);
                tracing::debug!(
                    released,
                    "hidden cells an attacker works out exactly, published"
                );
            }
            return Ok(Protected {
                audit,
                programs,
                repairs,
            });
        }
        // Each round reaches one equation further from the short cells.
        let reach = REACH + repairs;
        let mut failing = audit.failing.clone();
        let mut added = Vec::new();
        if large {
            let (hid, rest) =
                certifier.repair(&incidence, hidden, needs, floor, &failing, &mut known);
            added = hid;
            left = rest.iter().map(|(c, _)| *c).collect();
            left.dedup();
            failing = rest;
        }
        if !failing.is_empty() {
            added.extend(repair(
                sys, &incidence, hidden, needs, floor, &failing, reach,
            )?);
            added.sort_unstable();
            programs += 2;
        }
        repairs += 1;
        tracing::info!(
            short = audit.failing.len(),
            hidden = added.len(),
            "complementary suppression across tables"
        );
        // A repair that hides nothing found a point reaching the short cells as the pattern
        // stands: one more audit, pushing only them, proves them; a second in a row gives up.
        if added.is_empty() {
            if stalled {
                return Ok(Protected {
                    audit,
                    programs,
                    repairs,
                });
            }
            stalled = true;
        } else {
            stalled = false;
        }
    }
}

/// How an audit goes about its proofs.
pub struct Audited<'a> {
    certifier: &'a Certifier<'a>,
    /// Whether groups larger than [`WHOLE_GROUP`] are left to the hypercubes.
    large: bool,
    floor: f64,
    /// Cells of such groups that get programs of their own all the same (sorted).
    solve: &'a [usize],
}

/// Audit a suppression pattern: for each hidden cell with a requirement, values the attacker
/// cannot rule out, and the cells the audit could not prove safe (an attacker narrows them too
/// far, or no point the audit solved reaches their requirement).
pub fn audit(
    sys: &System,
    incidence: &[Vec<usize>],
    hidden: &[bool],
    needs: &[Option<Requirement>],
    known: &[Option<Interval>],
    how: &Audited,
) -> Result<Audit, SolverFailure> {
    let floor = how.floor;
    let mut out = Audit {
        intervals: vec![None; sys.cells.len()],
        failing: Vec::new(),
        programs: 0,
    };
    for (c, need) in needs.iter().enumerate() {
        let Some(need) = need else { continue };
        let v = sys.cells[c].value;
        // A published cell is read; a hidden one can at least take its true value, and any
        // value a point of an earlier audit gave it (hiding more only adds points).
        out.intervals[c] = Some(match known.get(c).copied().flatten() {
            Some(k) if hidden[c] => k,
            _ => Interval { low: v, high: v },
        });
        if !hidden[c] {
            for side in [Side::Low, Side::High] {
                if !side.met(need, v, v) {
                    out.failing.push((c, side));
                }
            }
        }
    }
    let short: Vec<usize> = (0..sys.cells.len())
        .filter(|c| hidden[*c] && is_short(*c, needs, &out))
        .collect();
    let started = std::time::Instant::now();
    let lifted = how
        .certifier
        .prove(incidence, hidden, needs, floor, &short, &mut out);
    tracing::debug!(
        short = short.len(),
        lifted,
        after = short.iter().filter(|c| is_short(**c, needs, &out)).count(),
        seconds = started.elapsed().as_secs_f64(),
        "hypercubes"
    );
    let local = Local {
        sys,
        incidence,
        hidden,
        floor,
    };
    let mut in_large = vec![false; sys.cells.len()];
    for group in groups(sys, incidence, hidden) {
        if how.large && group.len() > WHOLE_GROUP {
            for c in group {
                in_large[c] = true;
            }
            continue;
        }
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
            let hypercubes_only = in_large[c] && how.solve.binary_search(&c).is_err();
            if budget == 0 || hypercubes_only || !local.prove(c, side, &need, needs, &mut out)? {
                out.failing.push((c, side));
            }
            budget = budget.saturating_sub(out.programs - before);
        }
    }
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "local programs");
    out.failing.sort();
    Ok(out)
}

/// Whether what the audit proved of a cell meets its requirement on both sides, with the
/// tolerance the audit itself uses.
pub fn passes(need: &Requirement, got: &Interval) -> bool {
    Side::Low.met(need, got.low, got.high) && Side::High.met(need, got.low, got.high)
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
const LOCAL_PROGRAMS: u64 = 6000;

/// The most pushed points per group and side.
const PUSH_ROUNDS: usize = 8;

/// From this many cells short, a round pushes [`PARTS`] interleaved parts of them side by side
/// (one program per core) instead of all of them in one: cells in the same equation compete
/// for its slack, so each part proves a larger share of its cells. Measured on the 1M-row
/// permit register: the first audit left 67 cells short instead of 1,169, and the run took
/// 23.5 s instead of 54 s (four parts: 24.9 s).
const SPLIT_FROM: usize = 64;

/// A system whose largest group of hidden cells is larger than this is protected by hypercubes
/// (see [`super::certify`]) where they reach, and the solver takes only the rest: one program
/// over such a group factorises like a 3-D mesh and takes a minute (34,558 unknowns of a
/// five-way table of the 1M-row register: 72 s for one pushed point on 2 cores).
const WHOLE_GROUP: usize = 12_000;

/// How many parts a round splits the cells short into: a constant, not the number of cores,
/// so that the pattern is the same on every machine.
const PARTS: usize = 2;

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
            let mut pending = short_of(group, side, needs, out);
            self.pushes(group, &mut pending, side, needs, out)?;
        }
        Ok(())
    }

    /// Pushed points of the free cells `free` towards the requirements of `pending` on `side`,
    /// while each proves a fair share of the cells still short (the rest is left to the cells'
    /// own programs); `pending` keeps the cells no point reached.
    fn pushes(
        &self,
        free: &[usize],
        pending: &mut Vec<usize>,
        side: Side,
        needs: &[Option<Requirement>],
        out: &mut Audit,
    ) -> Result<(), SolverFailure> {
        for _ in 0..PUSH_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let before = pending.len();
            let started = std::time::Instant::now();
            // From SPLIT_FROM cells short, PARTS interleaved parts pushed side by side.
            let parts = if pending.len() >= SPLIT_FROM {
                PARTS
            } else {
                1
            };
            let parts: Vec<Vec<usize>> = (0..parts)
                .map(|p| pending.iter().skip(p).step_by(parts).copied().collect())
                .collect();
            let points = parts
                .par_iter()
                .map(|part| self.pushed(free, part, side, needs))
                .collect::<Result<Vec<_>, _>>()?;
            out.programs += points.len() as u64;
            // In a fixed order, so that what the audit records does not depend on which
            // thread finished first.
            for point in &points {
                record(free, point, needs, out);
            }
            *pending = short_of(pending, side, needs, out);
            tracing::debug!(
                ?side,
                before,
                after = pending.len(),
                seconds = started.elapsed().as_secs_f64(),
                "push"
            );
            if pending.len() * 10 > before * 9 {
                break;
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
        self.constrain(&mut p, group, &var);
        match p.solve()? {
            Outcome::Point(values) => Ok(vars.iter().map(|v| values[v.idx()]).collect()),
            Outcome::Unbounded => Err(SolverFailure("a capped program was unbounded".into())),
            Outcome::Infeasible => Err(SolverFailure(
                "the LP solver found no solution to equations the true values satisfy".into(),
            )),
        }
    }

    /// Every equation through a cell of `cells`, over their variables `var` (the other cells
    /// at their true values).
    fn constrain(&self, p: &mut Program, cells: &[usize], var: &HashMap<usize, Variable>) {
        let rows: BTreeSet<usize> = cells
            .iter()
            .flat_map(|x| self.incidence[*x].iter().copied())
            .collect();
        for e in rows {
            let (expr, rhs) = self.sys.equations[e].restricted(&self.sys.cells, var);
            p.add_constraint(expr.as_slice(), Relation::Eq, rhs);
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
        self.constrain(&mut p, near, &var);
        match p.solve()? {
            Outcome::Point(values) => Ok(Some(vars.iter().map(|v| values[v.idx()]).collect())),
            Outcome::Unbounded => Ok(None),
            Outcome::Infeasible => Err(SolverFailure(
                "the LP solver found no solution to equations the true values satisfy".into(),
            )),
        }
    }
}

/// How far a published cell must move in a repair point before it is hidden: an
/// interior-point optimum leaves cells it does not need a hair away from their values.
const MOVED: f64 = 1e-3;

/// Complementary suppression across tables: for the cells an audit left short on each side,
/// one program pushes them all towards their requirements while the published cells around
/// their hidden neighbours may move too, each unit a published cell moves costing a little
/// (more for a total, which many equations hold). The cells the optimum moves are hidden: the
/// optimum is then a point of the new pattern that meets what it reached. Returns the cells
/// hidden; none means the cells short cannot be helped from here.
pub fn repair(
    sys: &System,
    incidence: &[Vec<usize>],
    hidden: &mut [bool],
    needs: &[Option<Requirement>],
    floor: f64,
    failing: &[(usize, Side)],
    reach: usize,
) -> Result<Vec<usize>, SolverFailure> {
    let mut added = Vec::new();
    for side in [Side::High, Side::Low] {
        let short: Vec<usize> = failing
            .iter()
            .filter(|(c, s)| *s == side && hidden[*c])
            .map(|(c, _)| *c)
            .collect();
        if short.is_empty() {
            continue;
        }
        // Chunks of the cells short are repaired side by side: each optimum is a point of the
        // pattern with its own cells hidden, so also of the pattern with all of them hidden.
        let pattern: &[bool] = hidden;
        let repaired = short
            .chunks(REPAIR_CHUNK)
            .collect::<Vec<_>>()
            .par_iter()
            .map(|chunk| {
                let region = Region::around(sys, incidence, pattern, chunk, floor, reach);
                region.solve(sys, incidence, needs, chunk, side, floor)
            })
            .collect::<Result<Vec<_>, SolverFailure>>()?;
        for c in repaired.into_iter().flatten() {
            if !hidden[c] {
                hidden[c] = true;
                added.push(c);
            }
        }
    }
    added.sort_unstable();
    Ok(added)
}

/// How many cells short one repair program takes; more are repaired in chunks side by side
/// (a program over 5,000 short cells of a five-way table took minutes, one over 1,200 seven
/// seconds).
const REPAIR_CHUNK: usize = 1024;

/// The cells a repair program lets move: the hidden cells tied to the short cells, and the
/// published cells (that may be hidden) in any equation through one of them.
struct Region {
    free: Vec<usize>,
    published: Vec<usize>,
}

impl Region {
    fn around(
        sys: &System,
        incidence: &[Vec<usize>],
        hidden: &[bool],
        short: &[usize],
        floor: f64,
        reach: usize,
    ) -> Region {
        let mut seen: HashSet<usize> = short.iter().copied().collect();
        // Each cell with how many equations lie between it and the nearest short cell.
        let mut queue: Vec<(usize, usize)> = short.iter().map(|c| (*c, 0)).collect();
        let mut free = Vec::new();
        let mut published = Vec::new();
        let mut k = 0;
        while k < queue.len() {
            let (x, depth) = queue[k];
            k += 1;
            if hidden[x] {
                free.push(x);
            } else {
                published.push(x);
            }
            // Around the short cells only: a program over every cell the hidden ones touch
            // is mostly zeros far away and takes long to solve.
            if depth >= reach {
                continue;
            }
            for e in &incidence[x] {
                for y in sys.equations[*e].cells() {
                    if (hidden[y] || movable(&sys.cells[y], floor)) && seen.insert(y) {
                        queue.push((y, depth + 1));
                    }
                }
            }
        }
        free.retain(|x| hidden[*x]);
        free.sort_unstable();
        published.sort_unstable();
        Region { free, published }
    }

    /// The published cells the optimum moves.
    fn solve(
        &self,
        sys: &System,
        incidence: &[Vec<usize>],
        needs: &[Option<Requirement>],
        short: &[usize],
        side: Side,
        floor: f64,
    ) -> Result<Vec<usize>, SolverFailure> {
        let mut p = Program::new(side.direction());
        let short: HashMap<usize, usize> = short.iter().enumerate().map(|(k, c)| (*c, k)).collect();
        let mut terms: HashMap<usize, Vec<(Variable, f64)>> = HashMap::new();
        for x in &self.free {
            let value = sys.cells[*x].value;
            let (weight, bounds) = match (short.get(x), needs[*x]) {
                (Some(k), Some(need)) => {
                    let weight = 1.0 + (*k % 97) as f64 / 1000.0;
                    match side {
                        Side::High => (weight, (floor, need.high.max(value))),
                        Side::Low => (weight, (need.low.min(value), f64::INFINITY)),
                    }
                }
                _ => (0.0, (floor, f64::INFINITY)),
            };
            terms.insert(*x, vec![(p.add_var(weight, bounds), 1.0)]);
        }
        // A published cell moves by up − down; moving costs against the objective.
        let penalty = match side {
            Side::High => -1.0,
            Side::Low => 1.0,
        };
        let mut moves = Vec::with_capacity(self.published.len());
        for (k, x) in self.published.iter().enumerate() {
            let cost = penalty * move_cost(incidence, sys, *x, k);
            let up = p.add_var(cost, (0.0, f64::INFINITY));
            let down = p.add_var(cost, (0.0, sys.cells[*x].value - floor));
            terms.insert(*x, vec![(up, 1.0), (down, -1.0)]);
            moves.push((*x, up, down));
        }
        let rows: BTreeSet<usize> = terms
            .keys()
            .flat_map(|x| incidence[*x].iter().copied())
            .collect();
        for e in rows {
            let eq = &sys.equations[e];
            let mut expr = Vec::new();
            let mut rhs = 0.0;
            let signed =
                std::iter::once((eq.total, 1.0)).chain(eq.parts.iter().map(|q| (*q, -1.0)));
            for (x, sign) in signed {
                // A free cell is its own variable; a published one is its value plus its move.
                if self.free.binary_search(&x).is_err() {
                    rhs -= sign * sys.cells[x].value;
                }
                if let Some(ts) = terms.get(&x) {
                    expr.extend(ts.iter().map(|(v, a)| (*v, sign * a)));
                }
            }
            p.add_constraint(&expr, Relation::Eq, rhs);
        }
        let started = std::time::Instant::now();
        let solved = p.solve()?;
        tracing::debug!(
            free = self.free.len(),
            published = self.published.len(),
            seconds = started.elapsed().as_secs_f64(),
            "repair program"
        );
        match solved {
            Outcome::Point(values) => Ok(moves
                .into_iter()
                .filter(|(_, up, down)| (values[up.idx()] - values[down.idx()]).abs() > MOVED)
                .map(|(x, _, _)| x)
                .collect()),
            Outcome::Unbounded => Err(SolverFailure("a repair program was unbounded".into())),
            Outcome::Infeasible => Err(SolverFailure(
                "the LP solver found no solution to a repair the true values satisfy".into(),
            )),
        }
    }
}

/// A published cell a repair may hide: one a table may hide, and not a zero where zeros are
/// never hidden.
fn movable(cell: &super::system::Cell, floor: f64) -> bool {
    cell.hideable && cell.value >= floor && (cell.value > 0.0 || floor == 0.0)
}

/// What moving a published cell by one costs a repair: small against the unit a short cell
/// gains, more for a cell that totals others (hiding a total loses the most), and slightly
/// unequal so that the optimum is one vertex rather than a tie.
fn move_cost(incidence: &[Vec<usize>], sys: &System, x: usize, k: usize) -> f64 {
    let totals = incidence[x]
        .iter()
        .filter(|e| sys.equations[**e].total == x)
        .count();
    0.002 * (1.0 + totals as f64) * (1.0 + (k % 89) as f64 / 1000.0)
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

/// Whether no point has met the requirement of cell `c` on one side or the other yet.
pub(super) fn is_short(c: usize, needs: &[Option<Requirement>], out: &Audit) -> bool {
    needs[c].is_some_and(|need| {
        let got = out.intervals[c].expect("every need has an interval");
        !passes(&need, &got)
    })
}

/// The cells of `cells` whose requirement on `side` no point has met yet.
fn short_of(cells: &[usize], side: Side, needs: &[Option<Requirement>], out: &Audit) -> Vec<usize> {
    cells
        .iter()
        .copied()
        .filter(|c| {
            needs[*c].is_some_and(|need| {
                let got = out.intervals[*c].expect("every need has an interval");
                !side.met(&need, got.low, got.high)
            })
        })
        .collect()
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

/// Publish the hidden cells that protect nothing: those without a requirement that the
/// published cells give away exactly (an equation with one hidden cell left gives it, and each
/// cell found that way counts as published for the next). Every point of the attacker's system
/// has them at their true values already, so publishing them changes no bound; hiding them only
/// lost information. Returns how many were published.
fn release_determined(
    sys: &System,
    incidence: &[Vec<usize>],
    hidden: &mut [bool],
    needs: &[Option<Requirement>],
) -> usize {
    let mut known: Vec<bool> = hidden.iter().map(|h| !h).collect();
    let mut unknown: Vec<usize> = sys
        .equations
        .iter()
        .map(|e| e.cells().filter(|x| !known[*x]).count())
        .collect();
    let mut queue: Vec<usize> = (0..sys.equations.len())
        .filter(|e| unknown[*e] == 1)
        .collect();
    let mut released = 0;
    while let Some(e) = queue.pop() {
        if unknown[e] != 1 {
            continue;
        }
        let Some(x) = sys.equations[e].cells().find(|x| !known[*x]) else {
            continue;
        };
        known[x] = true;
        for f in &incidence[x] {
            unknown[*f] -= 1;
            if unknown[*f] == 1 {
                queue.push(*f);
            }
        }
        // A sensitive cell given away is the audit's failure, not something to publish.
        if needs[x].is_none() {
            hidden[x] = false;
            released += 1;
        }
    }
    released
}

/// For each cell, the equations it appears in.
fn incidence(sys: &System) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); sys.cells.len()];
    for (e, eq) in sys.equations.iter().enumerate() {
        out[eq.total].push(e);
        for p in &eq.parts {
            out[*p].push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclose::system::{Cell, Equation};
    use clarabel::algebra::CscMatrix;
    use clarabel::solver::{
        DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus,
    };
    use proptest::prelude::*;

    /// A rows × columns table with every total, and beside it the same rows by groups of
    /// columns (a coarser classification of the columns, as AU regions of nationalities).
    fn two_tables(values: &[Vec<u32>], groups: &[usize]) -> System {
        let (rows, cols) = (values.len(), values[0].len());
        let ngroups = groups.iter().max().map_or(0, |g| g + 1);
        let mut cells = Vec::new();
        let mut add = |v: u32| {
            cells.push(Cell {
                value: v as f64,
                hideable: true,
            });
            cells.len() - 1
        };
        let inner: Vec<Vec<usize>> = values
            .iter()
            .map(|r| r.iter().map(|v| add(*v)).collect())
            .collect();
        let row_total: Vec<usize> = values.iter().map(|r| add(r.iter().sum())).collect();
        let col_total: Vec<usize> = (0..cols)
            .map(|c| add(values.iter().map(|r| r[c]).sum()))
            .collect();
        let grand = add(values.iter().flatten().sum());
        let by_group: Vec<Vec<usize>> = values
            .iter()
            .map(|r| {
                (0..ngroups)
                    .map(|g| add((0..cols).filter(|c| groups[*c] == g).map(|c| r[c]).sum()))
                    .collect()
            })
            .collect();
        let group_total: Vec<usize> = (0..ngroups)
            .map(|g| {
                let v = values
                    .iter()
                    .flat_map(|r| (0..cols).filter(|c| groups[*c] == g).map(|c| r[c]))
                    .sum();
                add(v)
            })
            .collect();
        let mut equations = Vec::new();
        let mut eq = |total: usize, parts: Vec<usize>| equations.push(Equation { total, parts });
        for r in 0..rows {
            eq(row_total[r], inner[r].clone());
            eq(row_total[r], by_group[r].clone());
            for (g, cell) in by_group[r].iter().enumerate() {
                let parts = (0..cols).filter(|c| groups[*c] == g).map(|c| inner[r][c]);
                eq(*cell, parts.collect());
            }
        }
        for c in 0..cols {
            eq(col_total[c], (0..rows).map(|r| inner[r][c]).collect());
        }
        for g in 0..ngroups {
            eq(group_total[g], (0..rows).map(|r| by_group[r][g]).collect());
        }
        eq(grand, row_total.clone());
        eq(grand, col_total.clone());
        System {
            cells,
            equations,
            places: Vec::new(),
        }
    }

    /// The attacker's bound on cell `c`, by an LP written here: Clarabel called directly,
    /// equalities as two inequalities, every hidden cell ≥ 0. `None` when unbounded.
    fn bound(sys: &System, hidden: &[bool], c: usize, maximise: bool) -> Option<f64> {
        let unknowns: Vec<usize> = (0..sys.cells.len()).filter(|x| hidden[*x]).collect();
        let col = |x: usize| unknowns.binary_search(&x).ok();
        let (mut r, mut k, mut v, mut b) = (vec![], vec![], vec![], vec![]);
        for e in &sys.equations {
            let mut rhs = 0.0;
            let mut terms = vec![];
            let signed = std::iter::once((e.total, 1.0)).chain(e.parts.iter().map(|p| (*p, -1.0)));
            for (x, s) in signed {
                match col(x) {
                    Some(j) => terms.push((j, s)),
                    None => rhs -= s * sys.cells[x].value,
                }
            }
            for sign in [1.0, -1.0] {
                for (j, a) in &terms {
                    r.push(b.len());
                    k.push(*j);
                    v.push(sign * a);
                }
                b.push(sign * rhs);
            }
        }
        for j in 0..unknowns.len() {
            r.push(b.len());
            k.push(j);
            v.push(-1.0);
            b.push(0.0);
        }
        let (m, n) = (b.len(), unknowns.len());
        let a = CscMatrix::new_from_triplets(m, n, r, k, v);
        let mut q = vec![0.0; n];
        q[col(c).unwrap()] = if maximise { -1.0 } else { 1.0 };
        let settings = DefaultSettingsBuilder::default()
            .verbose(false)
            .build()
            .unwrap();
        let cones = [NonnegativeConeT(m)];
        let mut s =
            DefaultSolver::new(&CscMatrix::zeros((n, n)), &q, &a, &b, &cones, settings).unwrap();
        s.solve();
        match s.solution.status {
            SolverStatus::Solved | SolverStatus::AlmostSolved => {
                Some(s.solution.x[col(c).unwrap()])
            }
            SolverStatus::DualInfeasible | SolverStatus::AlmostDualInfeasible => None,
            other => panic!("check LP: {other:?}"),
        }
    }

    fn table() -> impl Strategy<Value = (Vec<Vec<u32>>, Vec<usize>)> {
        (2usize..5, 2usize..6).prop_flat_map(|(rows, cols)| {
            // Mostly small counts and zeros, as in a fine register table.
            let value = prop_oneof![3 => 0u32..5, 1 => 5u32..30];
            (
                proptest::collection::vec(proptest::collection::vec(value, cols), rows),
                proptest::collection::vec(0usize..2, cols),
            )
        })
    }

    #[test]
    fn hidden_cells_the_published_ones_give_away_are_published_again() {
        let values = [10, 4, 6, 7, 2, 5, 9, 4, 5, 1, 3, 8, 3, 5];
        let cells = values
            .iter()
            .map(|v| Cell {
                value: f64::from(*v),
                hideable: true,
            })
            .collect();
        let eq = |total: usize, parts: &[usize]| Equation {
            total,
            parts: parts.to_vec(),
        };
        let sys = System {
            cells,
            equations: vec![
                eq(0, &[1, 2]),    // 1 alone hidden: given away
                eq(3, &[4, 5]),    // 4 alone hidden, but sensitive: stays hidden
                eq(6, &[7, 8]),    // 7 and 8 hidden: 8 follows once 7 is known
                eq(7, &[9, 10]),   // 7 alone hidden here
                eq(11, &[12, 13]), // 12 and 13 hidden, nothing gives them: stay hidden
            ],
            places: Vec::new(),
        };
        let incidence = incidence(&sys);
        let mut hidden = vec![false; sys.cells.len()];
        for c in [1, 4, 7, 8, 12, 13] {
            hidden[c] = true;
        }
        let mut needs = vec![None; sys.cells.len()];
        needs[4] = Some(Requirement {
            low: 1.0,
            high: 5.0,
        });
        assert_eq!(release_determined(&sys, &incidence, &mut hidden, &needs), 3);
        let still: Vec<usize> = (0..hidden.len()).filter(|c| hidden[*c]).collect();
        assert_eq!(still, vec![4, 12, 13]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Whatever the table, every cell of 1..4 ends hidden with an attacker's maximum of at
        /// least 5 and minimum of at most its value − 1, by an LP the protection did not use.
        #[test]
        fn protected_cells_pass_an_independent_lp(case in table()) {
            let (values, groups) = case;
            let sys = two_tables(&values, &groups);
            let needs: Vec<Option<Requirement>> = sys
                .cells
                .iter()
                .map(|c| {
                    (c.value > 0.0 && c.value < 5.0).then(|| Requirement {
                        low: (c.value - 1.0).max(0.0),
                        high: 5.0,
                    })
                })
                .collect();
            let mut hidden: Vec<bool> = needs.iter().map(Option::is_some).collect();
            let done = protect(&sys, &mut hidden, &needs, 0.0, &Certifier::none(&sys)).unwrap();
            prop_assert!(done.audit.failing.is_empty());
            for (c, need) in needs.iter().enumerate() {
                let Some(need) = need else { continue };
                prop_assert!(hidden[c]);
                let high = bound(&sys, &hidden, c, true).unwrap_or(f64::INFINITY);
                let low = bound(&sys, &hidden, c, false).unwrap();
                prop_assert!(high >= need.high - 1e-4, "cell {c}: max {high}");
                prop_assert!(low <= need.low + 1e-4, "cell {c}: min {low}");
            }
        }
    }

    #[test]
    fn the_check_sees_a_cell_recovered_through_the_coarser_table() {
        // Row 0: 1 and 7 in one group, 9 alone. Hiding only the 1 leaves it exact.
        let sys = two_tables(&[vec![1, 7, 9], vec![6, 8, 9]], &[0, 0, 1]);
        let mut hidden = vec![false; sys.cells.len()];
        hidden[0] = true;
        assert!((bound(&sys, &hidden, 0, true).unwrap() - 1.0).abs() < 1e-6);
    }
}
