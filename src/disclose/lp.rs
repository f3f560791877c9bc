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
type Row = (Vec<(Variable, f64)>, Relation, f64);

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
        let n = self.cost.len();
        let sign = match self.direction {
            Direction::Minimize => 1.0,
            Direction::Maximize => -1.0,
        };
        let q: Vec<f64> = self.cost.iter().map(|c| sign * c).collect();
        // Clarabel reads `A x + s = b` with s ≥ 0. An equality is given as two inequalities:
        // the equations of published tables are highly redundant (a table's lines and its
        // columns add up to the same total), and redundant equalities make the solver's system
        // singular where redundant inequalities do not.
        let (mut rows, mut cols, mut vals, mut b) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut push = |terms: &[(Variable, f64)], scale: f64, rhs: f64| {
            let r = b.len();
            for (v, a) in terms {
                rows.push(r);
                cols.push(v.0);
                vals.push(scale * a);
            }
            b.push(scale * rhs);
        };
        for (expr, _, rhs) in self.rows.iter().filter(|r| r.1 == Relation::Eq) {
            push(expr, 1.0, *rhs);
        }
        let equalities = self.rows.iter().filter(|r| r.1 == Relation::Eq).count();
        for (expr, relation, rhs) in &self.rows {
            match relation {
                Relation::Eq => {}
                Relation::Le => push(expr, 1.0, *rhs),
                Relation::Ge => push(expr, -1.0, *rhs),
            }
        }
        for (j, (low, high)) in self.bounds.iter().enumerate() {
            if low.is_finite() {
                push(&[(Variable(j), 1.0)], -1.0, *low);
            }
            if high.is_finite() {
                push(&[(Variable(j), 1.0)], 1.0, *high);
            }
        }
        let m = b.len();
        let a = CscMatrix::new_from_triplets(m, n, rows, cols, vals);
        let p = CscMatrix::zeros((n, n));
        let cones = [ZeroConeT(equalities), NonnegativeConeT(m - equalities)];
        let settings = DefaultSettingsBuilder::default()
            .verbose(false)
            .max_iter(200)
            .direct_solve_method("faer".into())
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
            SolverStatus::DualInfeasible | SolverStatus::AlmostDualInfeasible => {
                Ok(Outcome::Unbounded)
            }
            SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
                Ok(Outcome::Infeasible)
            }
            other => Err(SolverFailure(format!(
                "the LP solver stopped without an answer ({other:?}, {n} variables, {m} rows)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
