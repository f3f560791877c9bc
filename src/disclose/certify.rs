//! Proofs without a solver. A hypercube of hidden cells found table by table is a direction the
//! table's cells can move in without breaking any of its lines; carried into the system (each
//! cell of a coarser table moving by the sum of the cells it adds up), it is a direction of the
//! attacker's whole system. Moving the true values along it as far as every cell stays at or
//! above the floor gives a point of the attacker's system, which proves what it reaches, exactly
//! as a point an LP solver returns would. Most sensitive cells of a large table are proved this
//! way in microseconds, and only the rest need the solver.

use std::collections::{BTreeMap, HashMap};

use super::attack::{is_short, passes, Audit, Interval, Requirement, Side};
use super::cube::{hidden_hypercubes, hypercube_for, Certificate, Cube, Protection, Status};
use super::system::System;

/// A hypercube in the system's cells: `cell` moves by +1, each corner by its sign, every cell of
/// `table` not listed stays, and the cells of other tables follow by their equations.
#[derive(Debug, Clone)]
pub struct Hypercube {
    pub cell: usize,
    pub corners: Vec<(usize, f64)>,
    /// The member whose cube the hypercube was found in.
    pub table: usize,
}

/// Numbers this close to zero are zero: the system's values are sums of small integers or of
/// weights, and a direction's entries are small integers.
const EPS: f64 = 1e-7;

/// How many hypercubes of hidden cells are tried per cell and table when those the suppression
/// chose do not prove it.
const SEARCHED: usize = 4096;

/// The tables' cubes and the hypercubes their suppression chose, to prove and repair cells of
/// the system without a solver.
pub struct Certifier<'a> {
    sys: &'a System,
    /// Per member, its cube when marsad may hide its cells.
    cubes: Vec<Option<&'a Cube>>,
    /// Per member, whether it shows each system cell.
    owner: Vec<Vec<bool>>,
    /// Where each system cell sits in the members that may hide it.
    shown: HashMap<usize, Vec<(usize, usize)>>,
    /// The hypercube the table-by-table suppression chose for a (member, cell).
    chosen: HashMap<(usize, usize), Certificate>,
}

impl<'a> Certifier<'a> {
    /// `cubes` and `chosen` by member, in the order of the system's members.
    pub fn new(
        sys: &'a System,
        cubes: Vec<Option<&'a Cube>>,
        chosen: Vec<&[Certificate]>,
    ) -> Certifier<'a> {
        let mut owner = vec![vec![false; sys.cells.len()]; cubes.len()];
        let mut shown: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
        for (m, place) in sys.places.iter().enumerate() {
            for (i, c) in place.iter().enumerate() {
                owner[m][*c] = true;
                if cubes[m].is_some() {
                    shown.entry(*c).or_default().push((m, i));
                }
            }
        }
        let chosen = chosen
            .into_iter()
            .enumerate()
            .flat_map(|(m, certs)| certs.iter().map(move |c| ((m, c.cell), c.clone())))
            .collect();
        Certifier {
            sys,
            cubes,
            owner,
            shown,
            chosen,
        }
    }

    /// No hypercubes: every proof comes from the solver.
    #[cfg(test)]
    pub fn none(sys: &'a System) -> Certifier<'a> {
        Certifier::new(
            sys,
            vec![None; sys.places.len()],
            vec![&[]; sys.places.len()],
        )
    }

    fn in_system(&self, m: usize, cert: &Certificate) -> Hypercube {
        let place = &self.sys.places[m];
        Hypercube {
            cell: place[cert.cell],
            corners: cert
                .corners
                .iter()
                .map(|(c, s)| (place[*c], f64::from(*s)))
                .collect(),
            table: m,
        }
    }

    /// Each member's cells as hidden or published under `hidden`.
    fn statuses(&self, hidden: &[bool]) -> Vec<Vec<Status>> {
        self.sys
            .places
            .iter()
            .map(|place| {
                place
                    .iter()
                    .map(|c| match hidden[*c] {
                        true => Status::Secondary,
                        false => Status::Published,
                    })
                    .collect()
            })
            .collect()
    }

    /// Prove what hypercubes prove of the cells in `short`: first those the suppression chose,
    /// then hypercubes among the cells hidden now for the cells still short. Returns how many
    /// carried into the system.
    pub fn prove(
        &self,
        incidence: &[Vec<usize>],
        hidden: &[bool],
        needs: &[Option<Requirement>],
        floor: f64,
        short: &[usize],
        out: &mut Audit,
    ) -> usize {
        let mut cubes = Vec::new();
        for c in short {
            for &(m, i) in self.shown.get(c).into_iter().flatten() {
                cubes.extend(self.chosen.get(&(m, i)).map(|cert| self.in_system(m, cert)));
            }
        }
        let mut lifted = self.record(incidence, hidden, needs, floor, &cubes, out);
        let still: Vec<usize> = short
            .iter()
            .copied()
            .filter(|c| is_short(*c, needs, out))
            .collect();
        if still.is_empty() {
            return lifted;
        }
        let status = self.statuses(hidden);
        let mut found = Vec::new();
        for c in &still {
            for &(m, i) in self.shown.get(c).into_iter().flatten() {
                let cube = self.cubes[m].expect("shown only where a cube is");
                for cert in hidden_hypercubes(cube, &status[m], i, SEARCHED) {
                    found.push(self.in_system(m, &cert));
                }
            }
        }
        lifted += self.record(incidence, hidden, needs, floor, &found, out);
        lifted
    }

    /// Complementary suppression by hypercubes: for each cell short, the hypercube of one of
    /// its tables that hides the fewest new cells and moves it as far as it needs (or the one
    /// through the margins, which always exists), carried into the system; its cells are hidden
    /// and what it proves is recorded in `known`. Returns the cells hidden and the cells no
    /// hypercube could help (left to the solver's repair).
    #[allow(clippy::too_many_arguments)]
    pub fn repair(
        &self,
        incidence: &[Vec<usize>],
        hidden: &mut [bool],
        needs: &[Option<Requirement>],
        floor: f64,
        failing: &[(usize, Side)],
        known: &mut [Option<Interval>],
    ) -> (Vec<usize>, Vec<(usize, Side)>) {
        let sys = self.sys;
        let mut status = self.statuses(hidden);
        let mut added = Vec::new();
        let mut left = Vec::new();
        for &(c, side) in failing {
            let (Some(need), Some(got)) = (needs[c], known[c]) else {
                left.push((c, side));
                continue;
            };
            if !hidden[c] {
                // A published sensitive cell is the solver's repair to make.
                left.push((c, side));
                continue;
            }
            if passes(&need, &got) {
                // Proved by a repair earlier in this round.
                continue;
            }
            let v = sys.cells[c].value;
            let protection = Protection {
                lower: (v - need.low).max(0.0),
                upper: (need.high - v).max(0.0),
            };
            let lifted = self
                .shown
                .get(&c)
                .into_iter()
                .flatten()
                .find_map(|&(m, i)| {
                    let cube = self.cubes[m].expect("shown only where a cube is");
                    let cert = hypercube_for(cube, &status[m], i, protection)?;
                    let d = lift(sys, incidence, &self.owner[m], &self.in_system(m, &cert))?;
                    d.keys()
                        .all(|x| hidden[*x] || sys.cells[*x].hideable)
                        .then_some(d)
                });
            let Some(d) = lifted else {
                left.push((c, side));
                continue;
            };
            for x in d.keys() {
                if !hidden[*x] {
                    hidden[*x] = true;
                    added.push(*x);
                    for &(m, i) in self.shown.get(x).into_iter().flatten() {
                        status[m][i] = Status::Secondary;
                    }
                }
            }
            let directions = [d];
            let slot = known[c].as_mut().expect("checked above");
            slot.high = slot
                .high
                .max(v + combine(sys, &directions, 1.0, need.high - v, floor));
            slot.low = slot
                .low
                .min(v - combine(sys, &directions, -1.0, v - need.low, floor));
        }
        added.sort_unstable();
        (added, left)
    }

    /// Record in `out` what the hypercubes prove of their cells, on both sides: the true values
    /// moved along one hypercube after another, each as far as every cell stays at or above
    /// `floor`, until the cell reaches its requirement (a sum of directions of the system is one).
    /// Returns how many hypercubes carried into a direction of the whole system.
    fn record(
        &self,
        incidence: &[Vec<usize>],
        hidden: &[bool],
        needs: &[Option<Requirement>],
        floor: f64,
        cubes: &[Hypercube],
        out: &mut Audit,
    ) -> usize {
        let sys = self.sys;
        let mut by_cell: BTreeMap<usize, Vec<&Hypercube>> = BTreeMap::new();
        for h in cubes {
            by_cell.entry(h.cell).or_default().push(h);
        }
        let mut lifted = 0;
        for (c, hs) in by_cell {
            let Some(need) = needs[c] else { continue };
            let directions: Vec<HashMap<usize, f64>> = hs
                .iter()
                .filter_map(|h| lift(sys, incidence, &self.owner[h.table], h))
                .filter(|d| d.keys().all(|x| hidden[*x]))
                .collect();
            lifted += directions.len();
            let v = sys.cells[c].value;
            let up = combine(sys, &directions, 1.0, need.high - v, floor);
            let down = combine(sys, &directions, -1.0, v - need.low, floor);
            let slot = out.intervals[c]
                .as_mut()
                .expect("every need has an interval");
            slot.high = slot.high.max(v + up);
            slot.low = slot.low.min(v - down);
        }
        lifted
    }
}

/// How far the cell the `directions` move by +1 gets along `sign` towards `goal`: each
/// direction taken as far as it goes from where the previous ones left the cells.
fn combine(
    sys: &System,
    directions: &[HashMap<usize, f64>],
    sign: f64,
    goal: f64,
    floor: f64,
) -> f64 {
    let mut moved: HashMap<usize, f64> = HashMap::new();
    let mut got = 0.0;
    for d in directions {
        if got >= goal - EPS {
            break;
        }
        let room = d
            .iter()
            .filter(|(_, m)| sign * **m < 0.0)
            .map(|(x, m)| {
                let at = sys.cells[*x].value + moved.get(x).copied().unwrap_or(0.0);
                (at - floor).max(0.0) / (sign * m).abs()
            })
            .fold(f64::INFINITY, f64::min);
        let step = room.min(goal - got);
        if step <= EPS {
            continue;
        }
        for (x, m) in d {
            *moved.entry(*x).or_default() += sign * m * step;
        }
        got += step;
    }
    got.max(0.0)
}

/// The hypercube as a direction of the whole system, or `None` when the cells around it do not
/// follow from it alone (a cell the equations leave two ways to move, or an equation broken).
/// The table's own cells are fixed (those off the hypercube stay); a cell of another table
/// moves when an equation leaves it the only one free, and stays otherwise.
fn lift(
    sys: &System,
    incidence: &[Vec<usize>],
    own: &[bool],
    h: &Hypercube,
) -> Option<HashMap<usize, f64>> {
    let mut d: HashMap<usize, f64> = HashMap::new();
    d.insert(h.cell, 1.0);
    for (c, s) in &h.corners {
        d.insert(*c, *s);
    }
    let mut queue: Vec<usize> = d.keys().flat_map(|x| incidence[*x].clone()).collect();
    queue.sort_unstable();
    queue.dedup();
    let mut deferred = Vec::new();
    // Each pass settles the equations with one free cell; an equation with two waits for the
    // next pass, and one that never settles refuses the hypercube.
    loop {
        let mut progress = false;
        while let Some(e) = queue.pop() {
            match settle(sys, own, &d, e) {
                Settle::Holds => {}
                Settle::Broken => return None,
                Settle::Move(x, m) => {
                    d.insert(x, m);
                    queue.extend(incidence[x].iter().copied());
                    progress = true;
                }
                Settle::Open => deferred.push(e),
            }
        }
        if deferred.is_empty() {
            break;
        }
        if !progress {
            return None;
        }
        queue = std::mem::take(&mut deferred);
    }
    d.retain(|_, m| m.abs() > EPS);
    Some(d)
}

enum Settle {
    Holds,
    Broken,
    Move(usize, f64),
    /// Two or more cells free: which moves is not settled by this equation alone.
    Open,
}

/// One equation under the direction so far: how much it is off, and which of its cells may
/// still move (cells of other tables not moved yet).
fn settle(sys: &System, own: &[bool], d: &HashMap<usize, f64>, e: usize) -> Settle {
    let eq = &sys.equations[e];
    let mut off = 0.0;
    let mut free = Vec::new();
    let signed = std::iter::once((eq.total, 1.0)).chain(eq.parts.iter().map(|q| (*q, -1.0)));
    for (x, sign) in signed {
        match d.get(&x) {
            Some(m) => off += sign * m,
            None if own[x] => {}
            None => free.push((x, sign)),
        }
    }
    if off.abs() <= EPS {
        return Settle::Holds;
    }
    match free.as_slice() {
        [] => Settle::Broken,
        [(x, sign)] => Settle::Move(*x, -off / sign),
        _ => Settle::Open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclose::attack::Interval;
    use crate::disclose::cube::CellStats;
    use crate::disclose::lp::{Direction, Outcome, Program, Relation};
    use crate::disclose::system::{Cell, Equation};
    use proptest::prelude::*;

    /// A rows × columns table with every total (member 0, system cells in cube order) and the
    /// same rows by groups of columns (member 1, published as computed): the shape of a table
    /// by nationality beside one by AU region.
    fn grouped(values: &[Vec<u32>], groups: &[usize]) -> (Cube, System) {
        let (rows, cols) = (values.len(), values[0].len());
        let ngroups = groups.iter().max().map_or(0, |g| g + 1);
        let cube = Cube::from_inner(&[rows, cols], &[true, true], |at| CellStats {
            value: f64::from(values[at[0]][at[1]]),
            contributors: u64::from(values[at[0]][at[1]]),
            ..CellStats::default()
        });
        let mut cells: Vec<Cell> = (0..cube.len())
            .map(|i| Cell {
                value: cube.cell(i).value,
                hideable: true,
            })
            .collect();
        let at = |r: usize, c: usize| cube.index(&[r, c]);
        let mut equations = Vec::new();
        for r in 0..=rows {
            equations.push(Equation {
                total: at(r, cols),
                parts: (0..cols).map(|c| at(r, c)).collect(),
            });
        }
        for c in 0..=cols {
            equations.push(Equation {
                total: at(rows, c),
                parts: (0..rows).map(|r| at(r, c)).collect(),
            });
        }
        // The grouped table: its inner cells and group totals are new cells, its row totals
        // and grand total are the first table's.
        let mut place = vec![0; (rows + 1) * (ngroups + 1)];
        for r in 0..=rows {
            for g in 0..ngroups {
                let members: Vec<usize> = (0..cols).filter(|c| groups[*c] == g).collect();
                let value = members.iter().map(|c| cube.cell(at(r, *c)).value).sum();
                cells.push(Cell {
                    value,
                    hideable: false,
                });
                let id = cells.len() - 1;
                place[r * (ngroups + 1) + g] = id;
                equations.push(Equation {
                    total: id,
                    parts: members.iter().map(|c| at(r, *c)).collect(),
                });
            }
            place[r * (ngroups + 1) + ngroups] = at(r, cols);
            equations.push(Equation {
                total: at(r, cols),
                parts: (0..ngroups).map(|g| place[r * (ngroups + 1) + g]).collect(),
            });
        }
        for g in 0..ngroups {
            equations.push(Equation {
                total: place[rows * (ngroups + 1) + g],
                parts: (0..rows).map(|r| place[r * (ngroups + 1) + g]).collect(),
            });
        }
        let sys = System {
            cells,
            equations,
            places: vec![(0..cube.len()).collect(), place],
        };
        (cube, sys)
    }

    fn incidence(sys: &System) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); sys.cells.len()];
        for (e, eq) in sys.equations.iter().enumerate() {
            for x in eq.cells() {
                out[x].push(e);
            }
        }
        out
    }

    /// The attacker's exact bound of cell `c` with `hidden` free and at least 0.
    fn exact(sys: &System, hidden: &[bool], c: usize, direction: Direction) -> f64 {
        let mut p = Program::new(direction);
        let mut var = HashMap::new();
        for x in (0..sys.cells.len()).filter(|x| hidden[*x]) {
            var.insert(
                x,
                p.add_var(if x == c { 1.0 } else { 0.0 }, (0.0, f64::INFINITY)),
            );
        }
        for eq in &sys.equations {
            let (expr, rhs) = eq.restricted(&sys.cells, &var);
            p.add_constraint(&expr, Relation::Eq, rhs);
        }
        match p.solve().expect("the true values are a solution") {
            Outcome::Point(v) => v[var[&c].idx()],
            Outcome::Unbounded => f64::INFINITY,
            Outcome::Infeasible => panic!("the true values are a solution"),
        }
    }

    fn fresh_audit(sys: &System, needs: &[Option<Requirement>]) -> Audit {
        Audit {
            intervals: needs
                .iter()
                .enumerate()
                .map(|(c, n)| {
                    n.map(|_| Interval {
                        low: sys.cells[c].value,
                        high: sys.cells[c].value,
                    })
                })
                .collect(),
            failing: Vec::new(),
            programs: 0,
        }
    }

    #[test]
    fn a_hypercube_across_groups_moves_the_grouped_table_and_needs_it_hidden() {
        // Columns 0 and 1 in group 0, 2 and 3 in group 1.
        let values = vec![vec![1, 6, 3, 4], vec![5, 2, 7, 8]];
        let (cube, sys) = grouped(&values, &[0, 0, 1, 1]);
        let inc = incidence(&sys);
        let at = |r: usize, c: usize| cube.index(&[r, c]);
        let mut needs = vec![None; sys.cells.len()];
        needs[at(0, 0)] = Some(Requirement {
            low: 0.0,
            high: 5.0,
        });
        let certifier = Certifier::new(&sys, vec![Some(&cube), None], vec![&[], &[]]);
        let hypercube = |other: usize| Hypercube {
            cell: at(0, 0),
            corners: vec![(at(0, other), -1.0), (at(1, 0), -1.0), (at(1, other), 1.0)],
            table: 0,
        };
        let mut hidden = vec![false; sys.cells.len()];
        for x in [at(0, 0), at(0, 1), at(0, 2), at(1, 0), at(1, 1), at(1, 2)] {
            hidden[x] = true;
        }
        // Within group 0 the grouped table does not move. The cell (1) goes up as far as (0,1)
        // = 6 and (1,0) = 5 can go down, so to its requirement 5, and down to 0.
        let within = lift(&sys, &inc, &certifier.owner[0], &hypercube(1)).unwrap();
        assert_eq!(within.len(), 4);
        let mut out = fresh_audit(&sys, &needs);
        let proved = certifier.record(&inc, &hidden, &needs, 0.0, &[hypercube(1)], &mut out);
        assert_eq!(proved, 1);
        let got = out.intervals[at(0, 0)].unwrap();
        assert_eq!((got.low, got.high), (0.0, 5.0));
        // Across groups, the grouped table's cells of both rows move: published, they refuse it.
        let across = lift(&sys, &inc, &certifier.owner[0], &hypercube(2)).unwrap();
        assert_eq!(across.len(), 8, "{across:?}");
        for eq in &sys.equations {
            let moved: f64 = across.get(&eq.total).copied().unwrap_or(0.0)
                - eq.parts
                    .iter()
                    .map(|p| across.get(p).copied().unwrap_or(0.0))
                    .sum::<f64>();
            assert!(moved.abs() < 1e-9, "{eq:?} broken");
        }
        let mut out = fresh_audit(&sys, &needs);
        assert_eq!(
            certifier.record(&inc, &hidden, &needs, 0.0, &[hypercube(2)], &mut out),
            0
        );
        for x in across.keys() {
            hidden[*x] = true;
        }
        assert_eq!(
            certifier.record(&inc, &hidden, &needs, 0.0, &[hypercube(2)], &mut out),
            1
        );
    }

    #[test]
    fn a_repair_hides_a_hypercube_that_proves_the_cell() {
        let values = vec![vec![1, 6, 3, 4], vec![5, 2, 7, 8], vec![9, 9, 9, 9]];
        let (cube, sys) = grouped(&values, &[0, 0, 1, 1]);
        let inc = incidence(&sys);
        let c = cube.index(&[0, 0]);
        let mut needs = vec![None; sys.cells.len()];
        needs[c] = Some(Requirement {
            low: 0.0,
            high: 5.0,
        });
        let mut hidden = vec![false; sys.cells.len()];
        hidden[c] = true;
        let certifier = Certifier::new(&sys, vec![Some(&cube), None], vec![&[], &[]]);
        let mut known = fresh_audit(&sys, &needs).intervals;
        let (added, left) = certifier.repair(
            &inc,
            &mut hidden,
            &needs,
            0.0,
            &[(c, Side::High), (c, Side::Low)],
            &mut known,
        );
        assert!(left.is_empty() && !added.is_empty());
        assert!(known[c].unwrap().high >= 5.0 && known[c].unwrap().low <= 0.0);
        assert!(exact(&sys, &hidden, c, Direction::Maximize) >= 5.0 - 1e-6);
        assert!(exact(&sys, &hidden, c, Direction::Minimize) <= 1e-6);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Whatever the table and the cells hidden, what the hypercubes prove of a cell is never
        /// more than an attacker's exact LP allows: every value recorded is one it can take.
        #[test]
        fn what_hypercubes_prove_an_attacker_cannot_rule_out(
            values in prop::collection::vec(prop::collection::vec(0u32..7, 4), 3),
            hide in prop::collection::vec(any::<bool>(), 20),
        ) {
            let (cube, sys) = grouped(&values, &[0, 0, 1, 1]);
            let inc = incidence(&sys);
            let mut hidden = vec![false; sys.cells.len()];
            for (i, h) in hide.iter().enumerate() {
                hidden[i] = *h;
            }
            let needs: Vec<Option<Requirement>> = (0..sys.cells.len())
                .map(|c| (hidden[c] && sys.cells[c].value > 0.0).then_some(Requirement {
                    low: 0.0,
                    high: 5.0,
                }))
                .collect();
            let short: Vec<usize> = (0..sys.cells.len()).filter(|c| needs[*c].is_some()).collect();
            let certifier = Certifier::new(&sys, vec![Some(&cube), None], vec![&[], &[]]);
            let mut out = fresh_audit(&sys, &needs);
            certifier.prove(&inc, &hidden, &needs, 0.0, &short, &mut out);
            for c in short {
                let got = out.intervals[c].unwrap();
                prop_assert!(got.high <= exact(&sys, &hidden, c, Direction::Maximize) + 1e-6);
                prop_assert!(got.low >= exact(&sys, &hidden, c, Direction::Minimize) - 1e-6);
            }
        }
    }
}
