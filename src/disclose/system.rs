//! The system an attacker solves: every cell published from one source, in every table of the
//! run, and every equation that ties them together.
//!
//! A cell is named by what it counts, not by the table it is printed in: `sex=F` with every
//! other variable at its total is one cell whether it is read from the sex × nationality table
//! or from the sex × motive table. The equations are those anyone can write from the
//! publication and the public code lists: each line of a table adds up to its total, and a
//! cell of one table is a sum of cells of another when its variables are the other's, or
//! groupings of them (nationality → AU region, five-year → broad age groups, raw value → code),
//! the other's remaining variables summed over (by their total, or over all their categories
//! when they have none, as years do).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::Layout;
use crate::codelist::{AgeScheme, CodeList, RegionLevel};
use crate::spec::{DeriveKind, Plan, TablePlan};
use crate::vocab::UNKNOWN;

/// How the codes of one variable group into the codes of another, as the pipeline's own
/// derivations and code lists say (and so as the publication lets anyone say).
#[derive(Clone)]
enum Grouping {
    Region {
        level: RegionLevel,
        countries: Arc<CodeList>,
    },
    /// Age groups of a finer scheme into a coarser one whose bounds are among the finer's.
    Ages(HashMap<String, String>),
    /// Raw values into the codes of a list, as `[[harmonize]]` maps them.
    Codes(Arc<CodeList>),
}

/// One variable that is a grouping of another in a source: `coarse` = group of `fine`.
#[derive(Clone)]
pub struct Coarsening {
    source: String,
    fine: String,
    coarse: String,
    grouping: Grouping,
}

impl Coarsening {
    /// The group of a code of the fine variable, if the grouping knows it.
    fn group(&self, code: &str) -> Option<String> {
        match &self.grouping {
            Grouping::Region { level, countries } => Some(level.of(countries, code)),
            Grouping::Ages(map) => map.get(code).cloned(),
            Grouping::Codes(list) => list.lookup(code).map(str::to_string),
        }
    }
}

/// Every grouping the plan declares, by source.
#[derive(Clone, Default)]
pub struct Hierarchies(Vec<Coarsening>);

impl Hierarchies {
    pub fn of(plan: &Plan) -> Hierarchies {
        let mut out = Vec::new();
        for s in &plan.sources {
            let derives = s.derives.iter().chain(&s.late_derives);
            let mut ages: Vec<(&str, &str, AgeScheme)> = Vec::new();
            for d in derives {
                match &d.kind {
                    DeriveKind::Region {
                        country,
                        level,
                        countries,
                    } => out.push(Coarsening {
                        source: s.name.clone(),
                        fine: country.clone(),
                        coarse: d.name.clone(),
                        grouping: Grouping::Region {
                            level: *level,
                            countries: countries.clone(),
                        },
                    }),
                    DeriveKind::AgeGroup { age, scheme } => ages.push((age, &d.name, *scheme)),
                    DeriveKind::Expr(_) => {}
                }
            }
            for (age, fine, f) in &ages {
                for (age2, coarse, c) in &ages {
                    if age == age2 && fine != coarse {
                        if let Some(map) = nested_ages(*f, *c) {
                            out.push(Coarsening {
                                source: s.name.clone(),
                                fine: fine.to_string(),
                                coarse: coarse.to_string(),
                                grouping: Grouping::Ages(map),
                            });
                        }
                    }
                }
            }
            for h in s
                .harmonize
                .iter()
                .filter(|h| h.fuzzy.is_none() && h.output.is_none())
            {
                out.push(Coarsening {
                    source: s.name.clone(),
                    fine: h.column.clone(),
                    coarse: h.into.clone(),
                    grouping: Grouping::Codes(h.codelist.clone()),
                });
            }
        }
        Hierarchies(out)
    }

    fn find(&self, source: &str, coarse: &str, fine: &str) -> Option<&Coarsening> {
        self.0
            .iter()
            .find(|c| c.source == source && c.coarse == coarse && c.fine == fine)
    }
}

/// The groups of scheme `fine` inside the groups of scheme `coarse`, when every coarse bound
/// is a fine bound (five-year groups nest in broad ones; UNHCR's bands do not).
fn nested_ages(fine: AgeScheme, coarse: AgeScheme) -> Option<HashMap<String, String>> {
    let fb = fine.lower_bounds();
    let cb = coarse.lower_bounds();
    if fb.len() <= cb.len() || !cb.iter().all(|b| fb.contains(b)) {
        return None;
    }
    let cg = coarse.groups();
    let mut map: HashMap<String, String> = fine
        .groups()
        .into_iter()
        .map(|(lo, code)| {
            let group = cg
                .iter()
                .rev()
                .find(|(c, _)| *c <= lo)
                .map(|(_, g)| g.clone());
            (code, group.unwrap_or_else(|| UNKNOWN.to_string()))
        })
        .collect();
    map.insert(UNKNOWN.to_string(), UNKNOWN.to_string());
    Some(map)
}

/// One table of a system: its plan, its cube, and whether marsad may hide its cells (a table
/// published without protection shows every cell it has).
pub struct Member<'a> {
    pub table: &'a TablePlan,
    pub layout: &'a Layout,
    pub hideable: bool,
}

/// A cell of the system: its value, and whether it may be hidden.
#[derive(Debug, Clone)]
pub struct Cell {
    pub value: f64,
    pub hideable: bool,
}

/// `total` is the sum of `parts`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Equation {
    pub total: usize,
    pub parts: Vec<usize>,
}

impl Equation {
    /// The total, then the parts.
    pub fn cells(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.total).chain(self.parts.iter().copied())
    }

    /// `total - Σ parts = 0` over the cells that have a variable in `var` (coefficient, variable),
    /// with every other cell at its true value moved to the right-hand side.
    pub fn restricted<V: Copy>(
        &self,
        cells: &[Cell],
        var: &HashMap<usize, V>,
    ) -> (Vec<(V, f64)>, f64) {
        let mut expr = Vec::new();
        let mut rhs = 0.0;
        let signed =
            std::iter::once((self.total, 1.0)).chain(self.parts.iter().map(|q| (*q, -1.0)));
        for (x, sign) in signed {
            match var.get(&x) {
                Some(v) => expr.push((*v, sign)),
                None => rhs -= sign * cells[x].value,
            }
        }
        (expr, rhs)
    }
}

/// All cells published from one source (under one filter, of one measure) and the equations
/// between them.
pub struct System {
    pub cells: Vec<Cell>,
    pub equations: Vec<Equation>,
    /// For each member, the system cell of each of its cube's cells.
    pub places: Vec<Vec<usize>>,
}

/// A cell's name: the (variable, code) pairs of its variables not at their total.
type Key = Vec<(String, String)>;

impl System {
    pub fn build(members: &[Member], hierarchies: &Hierarchies) -> System {
        let mut cells: Vec<Cell> = Vec::new();
        let mut ids: HashMap<Key, usize> = HashMap::new();
        let mut keys: Vec<Vec<Key>> = Vec::new();
        let mut places = Vec::new();
        for m in members {
            let mut mine = Vec::with_capacity(m.layout.cube.len());
            let mut my_keys = Vec::with_capacity(m.layout.cube.len());
            // A combination a table does not list is one nobody has, and anyone reading the
            // table knows it: such a cell can never be hidden.
            let mut listed = vec![false; m.layout.cube.len()];
            for &i in &m.layout.rows {
                listed[i] = true;
            }
            for (i, listed) in listed.into_iter().enumerate() {
                let key = key_of(m, i);
                let value = m.layout.cube.cell(i).value;
                let id = *ids.entry(key.clone()).or_insert_with(|| {
                    cells.push(Cell {
                        value,
                        hideable: true,
                    });
                    cells.len() - 1
                });
                cells[id].hideable &= m.hideable && listed;
                mine.push(id);
                my_keys.push(key);
            }
            places.push(mine);
            keys.push(my_keys);
        }
        let mut equations: HashSet<Equation> = HashSet::new();
        for (t, m) in members.iter().enumerate() {
            lines(m, &places[t], &mut equations);
        }
        for (a, ma) in members.iter().enumerate() {
            for (b, keys_b) in keys.iter().enumerate() {
                if a != b {
                    sums(ma, &places[a], keys_b, &ids, hierarchies, &mut equations);
                }
            }
        }
        let mut equations: Vec<Equation> = equations
            .into_iter()
            // An equation is kept only if the true values satisfy it: a grouping that does not
            // hold in the data (a code list edited since) must not mislead the audit.
            .filter(|e| holds(e, &cells))
            .collect();
        equations.sort_by(|x, y| (x.total, &x.parts).cmp(&(y.total, &y.parts)));
        System {
            cells,
            equations,
            places,
        }
    }
}

fn holds(e: &Equation, cells: &[Cell]) -> bool {
    let sum: f64 = e.parts.iter().map(|p| cells[*p].value).sum();
    let total = cells[e.total].value;
    (sum - total).abs() <= 1e-6 * total.abs().max(1.0)
}

fn key_of(m: &Member, i: usize) -> Key {
    let cube = &m.layout.cube;
    let mut key: Key = cube
        .coords(i)
        .iter()
        .enumerate()
        .filter(|(d, c)| !cube.is_total(*d, **c))
        .map(|(d, c)| (m.table.dimensions[d].clone(), m.layout.codes[d][*c].clone()))
        .collect();
    key.sort();
    key
}

/// Each line of a table along a totalled dimension adds up to its total.
fn lines(m: &Member, place: &[usize], out: &mut HashSet<Equation>) {
    let cube = &m.layout.cube;
    let sizes = cube.sizes();
    for i in 0..cube.len() {
        let coords = cube.coords(i);
        for (d, &c) in coords.iter().enumerate() {
            if !cube.is_total(d, c) {
                continue;
            }
            let mut parts = Vec::with_capacity(sizes[d] - 1);
            let mut at = coords.clone();
            for p in 0..sizes[d] - 1 {
                at[d] = p;
                parts.push(place[cube.index(&at)]);
            }
            push(out, place[i], parts);
        }
    }
}

fn push(out: &mut HashSet<Equation>, total: usize, mut parts: Vec<usize>) {
    parts.sort_unstable();
    parts.dedup();
    if parts.len() == 1 && parts[0] == total {
        return;
    }
    out.insert(Equation { total, parts });
}

/// Cells of `b` that are sums of cells of `a`.
fn sums(
    a: &Member,
    place_a: &[usize],
    keys_b: &[Key],
    ids: &HashMap<Key, usize>,
    hierarchies: &Hierarchies,
    out: &mut HashSet<Equation>,
) {
    let cube = &a.layout.cube;
    let dims = &a.table.dimensions;
    let inner = |d: usize| -> usize { cube.sizes()[d] - usize::from(a.table.has_total(&dims[d])) };
    let position: Vec<HashMap<&str, usize>> = a
        .layout
        .codes
        .iter()
        .enumerate()
        .map(|(d, c)| {
            c[..inner(d)]
                .iter()
                .enumerate()
                .map(|(i, s)| (s.as_str(), i))
                .collect()
        })
        .collect();
    'cell: for key in keys_b.iter().collect::<BTreeSet<_>>() {
        let mut allowed: Vec<Option<BTreeSet<usize>>> = vec![None; dims.len()];
        for (var, code) in key {
            let (d, set) = match dims.iter().position(|x| x == var) {
                Some(d) => match position[d].get(code.as_str()) {
                    Some(p) => (d, BTreeSet::from([*p])),
                    None => continue 'cell,
                },
                None => {
                    let found = dims.iter().enumerate().find_map(|(d, fine)| {
                        hierarchies.find(&a.table.source, var, fine).map(|c| (d, c))
                    });
                    let Some((d, c)) = found else { continue 'cell };
                    let mut set = BTreeSet::new();
                    for (p, fine_code) in a.layout.codes[d][..inner(d)].iter().enumerate() {
                        match c.group(fine_code) {
                            Some(g) if g == *code => {
                                set.insert(p);
                            }
                            Some(_) => {}
                            // A code the grouping does not know: its group is not public.
                            None => continue 'cell,
                        }
                    }
                    (d, set)
                }
            };
            allowed[d] = Some(match allowed[d].take() {
                Some(prev) => prev.intersection(&set).copied().collect(),
                None => set,
            });
        }
        let choices: Vec<Vec<usize>> = allowed
            .into_iter()
            .enumerate()
            .map(|(d, s)| match s {
                Some(s) => s.into_iter().collect(),
                None if a.table.has_total(&dims[d]) => vec![cube.sizes()[d] - 1],
                None => (0..inner(d)).collect(),
            })
            .collect();
        let Some(&total) = ids.get(key) else { continue };
        let parts = product(&choices)
            .into_iter()
            .map(|coords| place_a[cube.index(&coords)])
            .collect();
        push(out, total, parts);
    }
}

/// Every combination of one choice per dimension.
fn product(choices: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for c in choices {
        let mut next = Vec::with_capacity(out.len() * c.len());
        for prefix in &out {
            for x in c {
                let mut p = prefix.clone();
                p.push(*x);
                next.push(p);
            }
        }
        out = next;
    }
    out
}
