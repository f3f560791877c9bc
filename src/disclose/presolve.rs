//! Shrinking an attacker's LP before the solver sees it.
//!
//! In a sparse suppression pattern most equations hold one or two hidden cells: a line with two
//! hidden cells says one is the line's remainder minus the other. Substituting those away is
//! exact and leaves the interior-point solver a far smaller system, whose factorisation (the
//! cost of every iteration) grows much faster than the number of equations. The same reduction
//! is the first step of every LP presolve (Andersen & Andersen, "Presolving in linear
//! programming", Math. Programming 71, 1995: singleton rows and doubleton equations).

use std::collections::HashMap;

use super::lp::{Relation, Row, Variable, TOLERANCE};

/// How a variable of the original program is obtained: `offset + scale · x[of]`, with `of` a
/// variable kept for the solver, or the constant `offset` when `of` is `None`.
#[derive(Debug, Clone, Copy)]
enum Definition {
    Kept,
    Affine {
        of: Option<usize>,
        offset: f64,
        scale: f64,
    },
}

/// The smaller program, and how to return to the original variables.
pub struct Reduced {
    pub cost: Vec<f64>,
    pub bounds: Vec<(f64, f64)>,
    pub rows: Vec<Row>,
    /// The original variable behind each kept one.
    kept: Vec<usize>,
    definitions: Vec<Definition>,
}

/// A program no point satisfies.
pub struct Infeasible;

impl Reduced {
    /// The original variables' values from the kept ones'.
    pub fn expand(&self, solved: &[f64]) -> Vec<f64> {
        let mut values = vec![0.0; self.definitions.len()];
        for (k, original) in self.kept.iter().enumerate() {
            values[*original] = solved[k];
        }
        for (v, definition) in self.definitions.iter().enumerate() {
            if let Definition::Affine { of, offset, scale } = definition {
                values[v] = offset + scale * of.map_or(0.0, |r| values[r]);
            }
        }
        values
    }
}

/// Remove the equations with one or two variables (fixing or substituting a variable), then
/// equations that repeat another, until none is left; the rest is the reduced program.
pub fn presolve(cost: &[f64], bounds: &[(f64, f64)], rows: &[Row]) -> Result<Reduced, Infeasible> {
    let mut work = Work {
        definitions: vec![Definition::Kept; cost.len()],
        cost: cost.to_vec(),
        bounds: bounds.to_vec(),
    };
    let mut open: Vec<Row> = rows.to_vec();
    loop {
        let before = open.len();
        let mut still = Vec::with_capacity(open.len());
        for row in open {
            let (terms, relation, rhs) = work.rewrite(&row);
            if relation == Relation::Eq && terms.len() <= 2 {
                work.eliminate(&terms, rhs)?;
            } else if !terms.is_empty() {
                still.push((terms, relation, rhs));
            } else if !holds(relation, rhs) {
                return Err(Infeasible);
            }
        }
        open = still;
        if open.len() == before {
            break;
        }
    }
    let rows = distinct(open.iter().map(|row| work.rewrite(row)).collect())?;
    Ok(work.finish(rows))
}

/// Whether `0 (relation) rhs` holds.
fn holds(relation: Relation, rhs: f64) -> bool {
    let slack = TOLERANCE * (1.0 + rhs.abs() * 1e-9);
    match relation {
        Relation::Eq => rhs.abs() <= slack,
        Relation::Le => rhs >= -slack,
        Relation::Ge => rhs <= slack,
    }
}

/// Drop equations identical to an earlier one; two with the same terms and different sides
/// cannot both hold.
fn distinct(rows: Vec<Row>) -> Result<Vec<Row>, Infeasible> {
    let mut seen: HashMap<Vec<(usize, u64)>, f64> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (terms, relation, rhs) in rows {
        if relation != Relation::Eq {
            out.push((terms, relation, rhs));
            continue;
        }
        let lead = terms[0].1;
        let key = terms
            .iter()
            .map(|(v, a)| (v.idx(), (a / lead).to_bits()))
            .collect();
        match seen.get(&key) {
            Some(other) if holds(Relation::Eq, other - rhs / lead) => {}
            Some(_) => return Err(Infeasible),
            None => {
                seen.insert(key, rhs / lead);
                out.push((terms, relation, rhs));
            }
        }
    }
    Ok(out)
}

struct Work {
    definitions: Vec<Definition>,
    cost: Vec<f64>,
    bounds: Vec<(f64, f64)>,
}

impl Work {
    /// `x[v] = offset + scale · x[root]` (root `None`: a constant), shortening the chain.
    fn resolve(&mut self, v: usize) -> (Option<usize>, f64, f64) {
        match self.definitions[v] {
            Definition::Kept => (Some(v), 0.0, 1.0),
            Definition::Affine {
                of: None, offset, ..
            } => (None, offset, 0.0),
            Definition::Affine {
                of: Some(u),
                offset,
                scale,
            } => {
                let (root, o, s) = self.resolve(u);
                let (offset, scale) = (offset + scale * o, scale * s);
                self.definitions[v] = Definition::Affine {
                    of: root,
                    offset,
                    scale,
                };
                (root, offset, scale)
            }
        }
    }

    /// A row over kept variables only, like terms merged, in variable order.
    fn rewrite(&mut self, (terms, relation, rhs): &Row) -> Row {
        let mut rhs = *rhs;
        let mut merged: Vec<(usize, f64)> = Vec::with_capacity(terms.len());
        for (v, a) in terms {
            let (root, offset, scale) = self.resolve(v.idx());
            rhs -= a * offset;
            if let Some(r) = root {
                merged.push((r, a * scale));
            }
        }
        merged.sort_by_key(|t| t.0);
        let mut out: Vec<(Variable, f64)> = Vec::with_capacity(merged.len());
        for (r, a) in merged {
            match out.last_mut() {
                Some(last) if last.0.idx() == r => last.1 += a,
                _ => out.push((Variable::at(r), a)),
            }
        }
        out.retain(|(_, a)| a.abs() > 1e-12);
        (out, *relation, rhs)
    }

    /// Use an equation with at most two kept variables: check it, fix its variable, or write
    /// its second variable in terms of its first.
    fn eliminate(&mut self, terms: &[(Variable, f64)], rhs: f64) -> Result<(), Infeasible> {
        match terms {
            [] if holds(Relation::Eq, rhs) => Ok(()),
            [] => Err(Infeasible),
            [(v, a)] => self.fix(v.idx(), rhs / a),
            [(keep, a), (gone, b)] => {
                let (keep, gone) = (keep.idx(), gone.idx());
                let (offset, scale) = (rhs / b, -a / b);
                self.definitions[gone] = Definition::Affine {
                    of: Some(keep),
                    offset,
                    scale,
                };
                self.cost[keep] += scale * self.cost[gone];
                let (low, high) = self.bounds[gone];
                let (mut from, mut to) = ((low - offset) / scale, (high - offset) / scale);
                if scale < 0.0 {
                    std::mem::swap(&mut from, &mut to);
                }
                self.narrow(keep, from, to)
            }
            _ => unreachable!("only rows of one or two variables are eliminated"),
        }
    }

    /// Intersect the bounds of kept `v` with `[low, high]`; a variable left no room is fixed.
    fn narrow(&mut self, v: usize, low: f64, high: f64) -> Result<(), Infeasible> {
        let (was_low, was_high) = self.bounds[v];
        let (low, high) = (was_low.max(low), was_high.min(high));
        if low > high + TOLERANCE {
            return Err(Infeasible);
        }
        self.bounds[v] = (low, high);
        if high - low <= TOLERANCE {
            self.fix(v, (low + high) / 2.0)?;
        }
        Ok(())
    }

    /// Make kept `v` the constant `value`, if its bounds allow it.
    fn fix(&mut self, v: usize, value: f64) -> Result<(), Infeasible> {
        let (low, high) = self.bounds[v];
        if value < low - TOLERANCE || value > high + TOLERANCE {
            return Err(Infeasible);
        }
        self.definitions[v] = Definition::Affine {
            of: None,
            offset: value,
            scale: 0.0,
        };
        Ok(())
    }

    /// Number the kept variables from 0 and renumber the rows.
    fn finish(self, rows: Vec<Row>) -> Reduced {
        let kept: Vec<usize> = (0..self.definitions.len())
            .filter(|v| matches!(self.definitions[*v], Definition::Kept))
            .collect();
        let position: HashMap<usize, usize> =
            kept.iter().enumerate().map(|(k, v)| (*v, k)).collect();
        let rows = rows
            .into_iter()
            .map(|(terms, relation, rhs)| {
                let terms = terms
                    .into_iter()
                    .map(|(v, a)| (Variable::at(position[&v.idx()]), a))
                    .collect();
                (terms, relation, rhs)
            })
            .collect();
        Reduced {
            cost: kept.iter().map(|v| self.cost[*v]).collect(),
            bounds: kept.iter().map(|v| self.bounds[*v]).collect(),
            rows,
            kept,
            definitions: self.definitions,
        }
    }
}
