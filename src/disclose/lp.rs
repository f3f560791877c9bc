//! The linear programs of the attacker's audit, solved by Clarabel.
//!
//! Clarabel is an interior-point solver written in Rust: a fresh clone builds it with `cargo`
//! alone, and it stays accurate on the large, degenerate systems that published tables make
//! (many equations are sums of others). The README's disclosure section gives the measurements
//! that chose it over microlp, a pure-Rust simplex which answered "infeasible" for problems
//! HiGHS solved, and over HiGHS, whose Rust bindings need CMake and a C++ compiler.
//!
//! An interior-point answer is a point a hair inside the optimum rather than a vertex, so the
//! callers compare values with [`TOLERANCE`] of a count.

use std::panic::{catch_unwind, AssertUnwindSafe};

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus, ZeroConeT,
};

use super::presolve::presolve;

/// How far below its target a solved value may sit and still count as reaching it: far above
/// the solver's accuracy, far below a unit of any count.
pub const TOLERANCE: f64 = 1e-5;

/// Whether the objective is to be made as small or as large as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Minimize,
    Maximize,
}

/// The relation of a constraint's left-hand side to its right-hand side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// The audit and the repair only need equalities; `Le` and `Ge` make the wrapper a general LP
// (its tests use them).
#[allow(dead_code)]
pub enum Relation {
    Eq,
    Le,
    Ge,
}

/// A variable of a [`Program`], by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Variable(usize);

impl Variable {
    pub fn idx(self) -> usize {
        self.0
    }

    pub(super) fn at(idx: usize) -> Variable {
        Variable(idx)
    }
}

/// What solving found.
pub enum Outcome {
    /// An optimal point, one value per variable.
    Point(Vec<f64>),
    /// The objective grows without end.
    Unbounded,
    /// No point satisfies the constraints.
    Infeasible,
}

/// The solver stopped without an answer (numerical trouble, iteration limit).
#[derive(Debug)]
pub struct SolverFailure(pub String);

/// A constraint: terms, relation, right-hand side.
pub(super) type Row = (Vec<(Variable, f64)>, Relation, f64);

/// A linear program: a linear objective over bounded variables and linear constraints.
pub struct Program {
    direction: Direction,
    cost: Vec<f64>,
    bounds: Vec<(f64, f64)>,
    rows: Vec<Row>,
    /// A constraint without variables that does not hold.
    contradiction: bool,
}

impl Program {
    pub fn new(direction: Direction) -> Program {
        Program {
            direction,
            cost: Vec::new(),
            bounds: Vec::new(),
            rows: Vec::new(),
            contradiction: false,
        }
    }

    /// A variable with objective coefficient `cost`, between `bounds` (either may be infinite).
    pub fn add_var(&mut self, cost: f64, bounds: (f64, f64)) -> Variable {
        self.cost.push(cost);
        self.bounds.push(bounds);
        Variable(self.cost.len() - 1)
    }

    /// A constraint `Σ a·x (relation) rhs`. One without variables is checked here: an empty row
    /// makes the interior-point system singular.
    pub fn add_constraint(&mut self, expr: &[(Variable, f64)], relation: Relation, rhs: f64) {
        if expr.is_empty() {
            let holds = match relation {
                Relation::Eq => rhs.abs() <= TOLERANCE,
                Relation::Le => rhs >= -TOLERANCE,
                Relation::Ge => rhs <= TOLERANCE,
            };
            self.contradiction |= !holds;
            return;
        }
        self.rows.push((expr.to_vec(), relation, rhs));
    }

    /// Solve; a panic inside the solver becomes a failure, not a crash.
    pub fn solve(&self) -> Result<Outcome, SolverFailure> {
        catch_unwind(AssertUnwindSafe(|| self.solve_inner()))
            .map_err(|_| SolverFailure("the LP solver stopped unexpectedly".into()))?
    }

    fn solve_inner(&self) -> Result<Outcome, SolverFailure> {
        if self.contradiction {
            return Ok(Outcome::Infeasible);
        }
        let Ok(reduced) = presolve(&self.cost, &self.bounds, &self.rows) else {
            return Ok(Outcome::Infeasible);
        };
        let sign = match self.direction {
            Direction::Minimize => 1.0,
            Direction::Maximize => -1.0,
        };
        Ok(
            match clarabel(sign, &reduced.cost, &reduced.bounds, &reduced.rows)? {
                Outcome::Point(x) => Outcome::Point(reduced.expand(&x)),
                other => other,
            },
        )
    }
}

/// Minimise `sign · cost · x` with Clarabel.
fn clarabel(
    sign: f64,
    cost: &[f64],
    bounds: &[(f64, f64)],
    program_rows: &[Row],
) -> Result<Outcome, SolverFailure> {
    let n = cost.len();
    let q: Vec<f64> = cost.iter().map(|c| sign * c).collect();
    // Clarabel reads `A x + s = b`, with s = 0 for the equalities (the zero cone) and s ≥ 0 for
    // the rest.
    let (mut rows, mut cols, mut vals, mut b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut push = |terms: &[(Variable, f64)], scale: f64, rhs: f64| {
        let r = b.len();
        for (v, a) in terms {
            rows.push(r);
            cols.push(v.0);
            vals.push(scale * a);
        }
        b.push(scale * rhs);
    };
    let equalities = program_rows.iter().filter(|r| r.1 == Relation::Eq);
    for (expr, _, rhs) in equalities.clone() {
        push(expr, 1.0, *rhs);
    }
    let equalities = equalities.count();
    for (expr, relation, rhs) in program_rows {
        match relation {
            Relation::Eq => {}
            Relation::Le => push(expr, 1.0, *rhs),
            Relation::Ge => push(expr, -1.0, *rhs),
        }
    }
    for (j, (low, high)) in bounds.iter().enumerate() {
        if low.is_finite() {
            push(&[(Variable(j), 1.0)], -1.0, *low);
        }
        if high.is_finite() {
            push(&[(Variable(j), 1.0)], 1.0, *high);
        }
    }
    let m = b.len();
    if m == 0 {
        // Nothing holds the variables: any cost sends them to infinity.
        return Ok(if q.iter().any(|c| *c != 0.0) {
            Outcome::Unbounded
        } else {
            Outcome::Point(vec![0.0; n])
        });
    }
    let a = CscMatrix::new_from_triplets(m, n, rows, cols, vals);
    let p = CscMatrix::zeros((n, n));
    let cones = [ZeroConeT(equalities), NonnegativeConeT(m - equalities)];
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .max_iter(200)
        .direct_solve_method("faer".into())
        // Published tables make many equations that are sums of others; a little static
        // regularisation keeps the solver's system from being singular.
        .static_regularization_constant(1e-7)
        // One thread: a parallel factorisation sums in a varying order, and the pattern must
        // not depend on it.
        .max_threads(1)
        .build()
        .map_err(|e| SolverFailure(format!("the LP solver's settings: {e}")))?;
    let mut solver = DefaultSolver::new(&p, &q, &a, &b, &cones, settings)
        .map_err(|e| SolverFailure(format!("the LP solver refused a program: {e}")))?;
    solver.solve();
    match solver.solution.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => {
            Ok(Outcome::Point(solver.solution.x.clone()))
        }
        SolverStatus::DualInfeasible | SolverStatus::AlmostDualInfeasible => Ok(Outcome::Unbounded),
        SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
            Ok(Outcome::Infeasible)
        }
        other => Err(SolverFailure(format!(
            "the LP solver stopped without an answer ({other:?}, {n} variables, {m} rows)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn maximises_a_bounded_sum() {
        // x + y = 10, 1 ≤ x, 1 ≤ y ≤ 4: x is at most 9 and at least 6.
        let solve = |direction| {
            let mut p = Program::new(direction);
            let x = p.add_var(1.0, (1.0, f64::INFINITY));
            let y = p.add_var(0.0, (1.0, 4.0));
            p.add_constraint(&[(x, 1.0), (y, 1.0)], Relation::Eq, 10.0);
            match p.solve().unwrap() {
                Outcome::Point(v) => v[x.idx()],
                _ => panic!("expected a point"),
            }
        };
        assert!((solve(Direction::Maximize) - 9.0).abs() < TOLERANCE);
        assert!((solve(Direction::Minimize) - 6.0).abs() < TOLERANCE);
    }

    #[test]
    fn tells_unbounded_from_infeasible() {
        let mut p = Program::new(Direction::Maximize);
        let x = p.add_var(1.0, (0.0, f64::INFINITY));
        p.add_constraint(&[(x, 1.0)], Relation::Ge, 2.0);
        assert!(matches!(p.solve().unwrap(), Outcome::Unbounded));
        p.add_constraint(&[(x, 1.0)], Relation::Le, 1.0);
        assert!(matches!(p.solve().unwrap(), Outcome::Infeasible));
    }

    #[test]
    fn presolve_finds_contradicting_pairs() {
        // x + y = 4 and x + y = 5 cannot both hold; neither can x − y = 2 with x, y ∈ [0, 1].
        let mut p = Program::new(Direction::Maximize);
        let x = p.add_var(1.0, (0.0, f64::INFINITY));
        let y = p.add_var(0.0, (0.0, f64::INFINITY));
        p.add_constraint(&[(x, 1.0), (y, 1.0)], Relation::Eq, 4.0);
        p.add_constraint(&[(x, 1.0), (y, 1.0)], Relation::Eq, 5.0);
        assert!(matches!(p.solve().unwrap(), Outcome::Infeasible));
        let mut p = Program::new(Direction::Maximize);
        let x = p.add_var(1.0, (0.0, 1.0));
        let y = p.add_var(0.0, (0.0, 1.0));
        p.add_constraint(&[(x, 1.0), (y, -1.0)], Relation::Eq, 2.0);
        assert!(matches!(p.solve().unwrap(), Outcome::Infeasible));
    }

    /// A random program shaped like an attacker's: sums of a few cells equal to their true
    /// total, cells ≥ 0, some capped, a random objective.
    fn arb_program() -> impl Strategy<Value = (Vec<u32>, Vec<Vec<usize>>, Vec<i8>, Vec<bool>)> {
        (2usize..9)
            .prop_flat_map(|n| {
                (
                    prop::collection::vec(0u32..6, n),
                    prop::collection::vec(prop::collection::vec(0..n, 1..5), 1..10),
                    prop::collection::vec(-2i8..3, n),
                    prop::collection::vec(any::<bool>(), n),
                )
            })
            .prop_map(|(truth, mut rows, cost, capped)| {
                for row in &mut rows {
                    row.sort_unstable();
                    row.dedup();
                }
                (truth, rows, cost, capped)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The presolved program has the optimum of the program as given, and its point,
        /// brought back to the original variables, satisfies every original row and bound.
        #[test]
        fn presolve_keeps_the_optimum((truth, sums, cost, capped) in arb_program()) {
            let bounds: Vec<(f64, f64)> = truth
                .iter()
                .zip(&capped)
                .map(|(v, c)| (0.0, if *c { f64::from(*v) + 2.0 } else { f64::INFINITY }))
                .collect();
            let cost: Vec<f64> = cost.iter().map(|c| f64::from(*c)).collect();
            // The last cell of each sum is its total, so terms are +1 for parts, −1 for it.
            let rows: Vec<Row> = sums
                .iter()
                .map(|cells| {
                    let last = cells.len() - 1;
                    let terms = cells
                        .iter()
                        .enumerate()
                        .map(|(k, c)| (Variable(*c), if k == last && k > 0 { -1.0 } else { 1.0 }))
                        .collect::<Vec<_>>();
                    let rhs = terms.iter().map(|(v, a)| a * f64::from(truth[v.0])).sum();
                    (terms, Relation::Eq, rhs)
                })
                .collect();
            let direct = clarabel(-1.0, &cost, &bounds, &rows).unwrap();
            let reduced = presolve(&cost, &bounds, &rows).ok().expect("the truth is a point");
            let solved = clarabel(-1.0, &reduced.cost, &reduced.bounds, &reduced.rows).unwrap();
            match (direct, solved) {
                (Outcome::Unbounded, Outcome::Unbounded) => {}
                (Outcome::Point(a), Outcome::Point(b)) => {
                    let b = reduced.expand(&b);
                    let value = |x: &[f64]| cost.iter().zip(x).map(|(c, v)| c * v).sum::<f64>();
                    prop_assert!((value(&a) - value(&b)).abs() < 1e-4, "{} vs {}", value(&a), value(&b));
                    for (terms, _, rhs) in &rows {
                        let lhs: f64 = terms.iter().map(|(v, a)| a * b[v.0]).sum();
                        prop_assert!((lhs - rhs).abs() < 1e-5);
                    }
                    for (x, (low, high)) in b.iter().zip(&bounds) {
                        prop_assert!(*x >= low - 1e-5 && *x <= high + 1e-5);
                    }
                }
                _ => prop_assert!(false, "the two programs disagree on boundedness"),
            }
        }
    }
}
