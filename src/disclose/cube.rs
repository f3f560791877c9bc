//! The arithmetic of disclosure control on a table with margins, free of any dataframe.
//!
//! A table is a dense cube: every dimension has its categories and, when the table publishes its
//! total, a last position holding that total. Each line along a totalled dimension is one linear
//! equation an attacker can use (the categories add up to the total), so a suppressed cell is
//! safe only while every such equation through it has another unknown.
//!
//! Secondary suppression uses the hypercube method (ESS Handbook on SDC, ch. 4, "GHMITER"):
//! for a sensitive cell, pick in every totalled dimension one other position; the 2^m corners of
//! that hypercube can be moved by +t / -t together without breaking any equation, so once all
//! corners are hidden the sensitive cell's value is uncertain by at least t. We choose, among a
//! bounded set of candidates, the hypercube that hides the fewest new cells and the least value.

/// When is a cell sensitive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Threshold rule: 1..n-1 contributors (zeros only when `zeros`).
    Threshold { n: u64, zeros: bool },
    /// (n,k) dominance: the `n` (1 or 2) largest contributions exceed `k`% of the cell's total.
    Dominance { n: u8, k: f64 },
    /// p% rule: without the two largest contributions, the rest is less than p% of the largest.
    PPercent { p: f64 },
}

/// What the rules need to know about one cell: the published value, the number of contributing
/// records and the two largest contributions (for magnitude rules).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CellStats {
    pub value: f64,
    pub contributors: u64,
    pub x1: f64,
    pub x2: f64,
}

impl CellStats {
    /// Add a cell's statistics into a margin: sums add, the two largest merge.
    pub fn absorb(&mut self, other: &CellStats) {
        self.value += other.value;
        self.contributors += other.contributors;
        for x in [other.x1, other.x2] {
            if x > self.x1 {
                self.x2 = self.x1;
                self.x1 = x;
            } else if x > self.x2 {
                self.x2 = x;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Published,
    /// Sensitive by a primary rule (SDMX CONF_STATUS `C`).
    Primary,
    /// Hidden to protect a sensitive cell (SDMX CONF_STATUS `D`).
    Secondary,
}

impl Status {
    pub fn hidden(self) -> bool {
        self != Status::Published
    }
}

/// How far a hidden cell must stay uncertain: an attacker's feasible interval must reach at
/// least `upper` above the true value, and at least `lower` below it (clipped at the value
/// itself). The rules here ask for any movement at all below (`lower = 0`, the corners moving
/// down with the cell must be non-zero) and for their protection level above, which is what
/// an attacker bounding a large contributor from above would need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Protection {
    pub lower: f64,
    pub upper: f64,
}

/// Uncertainty asked of a cell that is hidden by the threshold rule, or hidden in a linked table:
/// its value must not be known, at least one unit up and some way down.
pub const UNIT: Protection = Protection {
    lower: 0.0,
    upper: 1.0,
};

/// Does `rule` find this cell sensitive, and if so how much protection does it need?
pub fn sensitive(rule: &Rule, c: &CellStats) -> Option<Protection> {
    match *rule {
        Rule::Threshold { n, zeros } => {
            let k = c.contributors;
            ((k > 0 || zeros) && k < n).then_some(UNIT)
        }
        Rule::Dominance { n, k } => {
            let top = if n >= 2 { c.x1 + c.x2 } else { c.x1 };
            let level = top * 100.0 / k - c.value;
            (c.value > 0.0 && level > 0.0).then_some(Protection {
                lower: 0.0,
                upper: level,
            })
        }
        Rule::PPercent { p } => {
            let level = p / 100.0 * c.x1 - (c.value - c.x1 - c.x2);
            (c.value > 0.0 && level > 0.0).then_some(Protection {
                lower: 0.0,
                upper: level,
            })
        }
    }
}

/// A table as a dense cube of cells, totals last in each totalled dimension.
#[derive(Debug, Clone)]
pub struct Cube {
    sizes: Vec<usize>,
    totals: Vec<bool>,
    /// The dimensions with a total, in order (fixed with `totals`; read in every search).
    totalled: Vec<usize>,
    strides: Vec<usize>,
    cells: Vec<CellStats>,
}

impl Cube {
    /// `sizes` count the positions of each dimension, the total included where `totals` says
    /// the dimension has one.
    pub fn new(sizes: Vec<usize>, totals: Vec<bool>) -> Cube {
        let mut strides = vec![1; sizes.len()];
        for d in (0..sizes.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * sizes[d + 1];
        }
        let n = sizes.iter().product();
        let totalled = (0..sizes.len()).filter(|d| totals[*d]).collect();
        Cube {
            sizes,
            totals,
            totalled,
            strides,
            cells: vec![CellStats::default(); n],
        }
    }

    /// A cube from its inner cells only; every margin is computed from them.
    pub fn from_inner(
        categories: &[usize],
        totals: &[bool],
        mut cell: impl FnMut(&[usize]) -> CellStats,
    ) -> Cube {
        let sizes = categories
            .iter()
            .zip(totals)
            .map(|(c, t)| c + usize::from(*t))
            .collect();
        let mut cube = Cube::new(sizes, totals.to_vec());
        let inner: usize = categories.iter().product();
        let mut coords = vec![0; categories.len()];
        for i in 0..inner {
            let mut rest = i;
            for d in (0..categories.len()).rev() {
                coords[d] = rest % categories[d];
                rest /= categories[d];
            }
            let stats = cell(&coords);
            cube.add_to_margins(&coords, &stats);
        }
        cube
    }

    /// Add an inner cell's statistics to the cell and to every margin above it.
    pub fn add_to_margins(&mut self, inner: &[usize], stats: &CellStats) {
        let base = self.index(inner);
        for mask in 0u32..(1 << self.totalled.len()) {
            let mut i = base;
            for (b, d) in self.totalled.iter().enumerate() {
                if mask & (1 << b) != 0 {
                    i = i - inner[*d] * self.strides[*d] + (self.sizes[*d] - 1) * self.strides[*d];
                }
            }
            self.cells[i].absorb(stats);
        }
    }

    pub fn dims(&self) -> usize {
        self.sizes.len()
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    pub fn is_total(&self, d: usize, position: usize) -> bool {
        self.totals[d] && position == self.sizes[d] - 1
    }

    pub fn index(&self, coords: &[usize]) -> usize {
        coords.iter().zip(&self.strides).map(|(c, s)| c * s).sum()
    }

    pub fn coords(&self, mut i: usize) -> Vec<usize> {
        let mut out = vec![0; self.dims()];
        for (o, s) in out.iter_mut().zip(&self.strides) {
            *o = i / s;
            i %= s;
        }
        out
    }

    pub fn cell(&self, i: usize) -> &CellStats {
        &self.cells[i]
    }

    pub fn cell_mut(&mut self, i: usize) -> &mut CellStats {
        &mut self.cells[i]
    }

    fn value(&self, i: usize) -> f64 {
        self.cells[i].value
    }

    /// The cell one step away from `i` along `d`, at `position`.
    fn moved(&self, i: usize, d: usize, from: usize, to: usize) -> usize {
        i - from * self.strides[d] + to * self.strides[d]
    }

    fn totalled(&self) -> &[usize] {
        &self.totalled
    }

    /// The corner of a hypercube through `p` (at coordinates `pc`) reached by moving, for each
    /// bit `b` set in `mask`, the `b`-th totalled dimension to position `to(b)`; and its sign
    /// relative to `p`, flipped by every move between two categories (a move to or from a total
    /// keeps it, since the total moves with its parts).
    fn corner(
        &self,
        p: usize,
        pc: &[usize],
        mask: u32,
        to: impl Fn(usize) -> usize,
    ) -> (usize, i8) {
        let mut c = p;
        let mut sign: i8 = 1;
        for (b, &d) in self.totalled.iter().enumerate() {
            if mask & (1 << b) != 0 {
                let a = to(b);
                c = self.moved(c, d, pc[d], a);
                if !self.is_total(d, pc[d]) && !self.is_total(d, a) {
                    sign = -sign;
                }
            }
        }
        (c, sign)
    }
}

/// Protection needed by each cell under `rules` (the strictest rule wins).
pub fn primary(cube: &Cube, rules: &[Rule]) -> Vec<Option<Protection>> {
    cube.cells
        .iter()
        .map(|c| {
            rules
                .iter()
                .filter_map(|r| sensitive(r, c))
                .reduce(|a, b| Protection {
                    lower: a.lower.max(b.lower),
                    upper: a.upper.max(b.upper),
                })
        })
        .collect()
}

/// A hypercube protecting one cell: its other corners and the sign each moves with.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    pub cell: usize,
    pub corners: Vec<(usize, i8)>,
}

/// The outcome of secondary suppression.
#[derive(Debug, Clone)]
pub struct Suppression {
    pub status: Vec<Status>,
    /// One hypercube per protected cell: the proof the audit checks.
    pub certificates: Vec<Certificate>,
}

/// About how many hypercubes are looked at per sensitive cell: the choices per dimension are cut
/// to keep their product under this, and the hypercube through the totals is then added to each
/// dimension's choices, so 4 dimensions may look at up to 7^4 = 2401.
const SEARCH_BUDGET: f64 = 2048.0;

/// Hide cells so that every cell with a protection need is protected. `status` comes in with the
/// primary cells (and any cell a linked table hid) already marked.
pub fn suppress(cube: &Cube, needs: &[Option<Protection>], status: Vec<Status>) -> Suppression {
    let mut status = status;
    for (i, n) in needs.iter().enumerate() {
        if n.is_some() && status[i] == Status::Published {
            status[i] = Status::Primary;
        }
    }
    let mut order: Vec<usize> = (0..cube.len()).filter(|i| needs[*i].is_some()).collect();
    // Large sensitive cells first: they have the fewest hypercubes that can protect them.
    order.sort_by(|a, b| cube.value(*b).total_cmp(&cube.value(*a)).then(a.cmp(b)));
    let mut certificates = Vec::with_capacity(order.len());
    for p in order {
        let need = needs[p].unwrap_or(UNIT);
        let best = best_hypercube(cube, &status, p, need, false)
            .or_else(|| margins_hypercube(cube, p, need));
        if let Some(cert) = best {
            for (c, _) in &cert.corners {
                if status[*c] == Status::Published {
                    status[*c] = Status::Secondary;
                }
            }
            certificates.push(cert);
        }
    }
    Suppression {
        status,
        certificates,
    }
}

/// Up to `limit` hypercubes around `p` whose corners are all hidden under `status`, whatever
/// their values: directions the audit's proofs combine (see [`super::certify`]). Positions with
/// the largest values come first, as they let `p` move furthest.
pub fn hidden_hypercubes(
    cube: &Cube,
    status: &[Status],
    p: usize,
    limit: usize,
) -> Vec<Certificate> {
    let dims = cube.totalled();
    let pc = cube.coords(p);
    let per_dim = (SEARCH_BUDGET.powf(1.0 / dims.len().max(1) as f64) as usize).max(2);
    let mut candidates: Vec<Vec<usize>> = Vec::with_capacity(dims.len());
    for &d in dims {
        let mut c: Vec<usize> = (0..cube.sizes[d])
            .filter(|&j| j != pc[d] && status[cube.moved(p, d, pc[d], j)].hidden())
            .collect();
        c.sort_by(|&a, &b| {
            let (qa, qb) = (cube.moved(p, d, pc[d], a), cube.moved(p, d, pc[d], b));
            cube.value(qb).total_cmp(&cube.value(qa)).then(a.cmp(&b))
        });
        c.truncate(per_dim);
        if c.is_empty() {
            return Vec::new();
        }
        candidates.push(c);
    }
    let m = dims.len();
    let mut pick = vec![0usize; m];
    let mut out = Vec::new();
    'next: loop {
        if out.len() == limit {
            return out;
        }
        let mut corners = Vec::with_capacity((1 << m) - 1);
        for mask in 1u32..(1 << m) {
            let (c, sign) = cube.corner(p, &pc, mask, |b| candidates[b][pick[b]]);
            if !status[c].hidden() {
                corners.clear();
                break;
            }
            corners.push((c, sign));
        }
        if corners.len() + 1 == 1 << m {
            out.push(Certificate { cell: p, corners });
        }
        // Next combination (mixed radix).
        for b in 0..m {
            pick[b] += 1;
            if pick[b] < candidates[b].len() {
                continue 'next;
            }
            pick[b] = 0;
        }
        return out;
    }
}

/// The hypercube protecting `p` by `need` that hides the fewest new cells under `status` among
/// those searched, else the one through the margins: the table-by-table suppression's choice,
/// for the repairs of [`super::certify`].
pub fn hypercube_for(
    cube: &Cube,
    status: &[Status],
    p: usize,
    need: Protection,
) -> Option<Certificate> {
    best_hypercube(cube, status, p, need, false).or_else(|| margins_hypercube(cube, p, need))
}

/// Can corner `c`, moving with `sign` relative to the protected cell, absorb the movement `need`
/// asks for? A corner moving the opposite way must be able to go down by `upper`; one moving
/// the same way must be able to go down by `lower` (clipped to the protected cell's value).
fn corner_ok(cube: &Cube, c: usize, sign: i8, need: Protection, target: f64) -> bool {
    let v = cube.value(c);
    let req = if sign < 0 {
        need.upper
    } else {
        need.lower.min(target)
    };
    v > 0.0 && v + 1e-9 >= req
}

/// The cheapest hypercube around `p` among a bounded candidate set; with `hidden_only`, only
/// hypercubes whose corners are all hidden already (the audit's search).
fn best_hypercube(
    cube: &Cube,
    status: &[Status],
    p: usize,
    need: Protection,
    hidden_only: bool,
) -> Option<Certificate> {
    let dims = cube.totalled();
    if dims.is_empty() {
        // No published equation involves the cell: hiding it is enough.
        return Some(Certificate {
            cell: p,
            corners: Vec::new(),
        });
    }
    let pc = cube.coords(p);
    let target = cube.value(p);
    let per_dim = (SEARCH_BUDGET.powf(1.0 / dims.len() as f64) as usize).max(2);
    // Candidate positions per totalled dimension, cheapest first; the total always included.
    let mut candidates: Vec<Vec<usize>> = Vec::with_capacity(dims.len());
    for &d in dims {
        let mut c: Vec<usize> = (0..cube.sizes[d])
            .filter(|&j| j != pc[d])
            .filter(|&j| {
                let q = cube.moved(p, d, pc[d], j);
                cube.value(q) > 0.0 && (!hidden_only || status[q].hidden())
            })
            .collect();
        c.sort_by(|&a, &b| {
            let (qa, qb) = (cube.moved(p, d, pc[d], a), cube.moved(p, d, pc[d], b));
            let rank = |q: usize| (!status[q].hidden(), cube.value(q));
            let (ra, rb) = (rank(qa), rank(qb));
            ra.0.cmp(&rb.0).then(ra.1.total_cmp(&rb.1)).then(a.cmp(&b))
        });
        let total = cube.sizes[d] - 1;
        let keep_total = !hidden_only || status[cube.moved(p, d, pc[d], total)].hidden();
        let total_in = c.iter().take(per_dim).any(|&j| j == total);
        c.truncate(per_dim);
        if !total_in
            && keep_total
            && pc[d] != total
            && cube.value(cube.moved(p, d, pc[d], total)) > 0.0
        {
            c.push(total);
        }
        if c.is_empty() {
            return None;
        }
        candidates.push(c);
    }
    let m = dims.len();
    let mut pick = vec![0usize; m];
    let mut best: Option<((usize, f64), Certificate)> = None;
    loop {
        // Evaluate the hypercube given by `pick`.
        let mut corners = Vec::with_capacity((1 << m) - 1);
        let mut new = 0usize;
        let mut cost = 0.0;
        let mut ok = true;
        for mask in 1u32..(1 << m) {
            let (c, sign) = cube.corner(p, &pc, mask, |b| candidates[b][pick[b]]);
            if !corner_ok(cube, c, sign, need, target) || (hidden_only && !status[c].hidden()) {
                ok = false;
                break;
            }
            if !status[c].hidden() {
                new += 1;
                cost += cube.value(c);
            }
            corners.push((c, sign));
        }
        if ok {
            let better = match &best {
                None => true,
                Some(((bn, bc), _)) => new < *bn || (new == *bn && cost < *bc),
            };
            if better {
                let done = new == 0;
                best = Some(((new, cost), Certificate { cell: p, corners }));
                if done {
                    break;
                }
            }
        }
        // Next combination (mixed radix).
        let mut b = 0;
        loop {
            if b == m {
                return best.map(|(_, c)| c);
            }
            pick[b] += 1;
            if pick[b] < candidates[b].len() {
                break;
            }
            pick[b] = 0;
            b += 1;
        }
    }
    best.map(|(_, c)| c)
}

/// The hypercube that always exists for a non-zero cell: towards the totals where the cell is a
/// category, and towards its smallest non-zero inner cell where the cell is a total. Every
/// corner is a margin containing that inner cell, hence non-zero, and every corner moves the
/// same way as the cell, so nothing limits the cell's value from above.
fn margins_hypercube(cube: &Cube, p: usize, need: Protection) -> Option<Certificate> {
    let dims = cube.totalled();
    let pc = cube.coords(p);
    // The smallest non-zero cell below p: same category where p has one, any category where
    // p is a total. Only the dimensions where p is a total are searched.
    let free: Vec<usize> = dims
        .iter()
        .copied()
        .filter(|&d| cube.is_total(d, pc[d]))
        .collect();
    let mut below: Option<usize> = None;
    let span: usize = free.iter().map(|&d| cube.sizes[d] - 1).product();
    for k in 0..span {
        let mut rest = k;
        let mut c = p;
        for &d in &free {
            let j = rest % (cube.sizes[d] - 1);
            rest /= cube.sizes[d] - 1;
            c = cube.moved(c, d, pc[d], j);
        }
        let v = cube.value(c);
        if v > 0.0 && below.is_none_or(|b| v < cube.value(b)) {
            below = Some(c);
        }
    }
    let below = below?;
    let bc = cube.coords(below);
    let other: Vec<usize> = dims
        .iter()
        .map(|&d| {
            if cube.is_total(d, pc[d]) {
                bc[d]
            } else {
                cube.sizes[d] - 1
            }
        })
        .collect();
    let target = cube.value(p);
    let mut corners = Vec::new();
    for mask in 1u32..(1 << dims.len()) {
        let (c, _) = cube.corner(p, &pc, mask, |b| other[b]);
        if !corner_ok(cube, c, 1, need, target) {
            return None;
        }
        corners.push((c, 1));
    }
    Some(Certificate { cell: p, corners })
}

/// What the hypercube audit of one table checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CubeAudit {
    pub lines_checked: u64,
    pub cells_proved: u64,
}

/// Why the audit refused a table.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditFailure {
    /// A line along `dim` has exactly one hidden cell, which its total gives away.
    AloneInLine { cell: usize, dim: usize },
    /// No hypercube of hidden cells keeps this cell uncertain enough.
    Unprotected { cell: usize },
}

/// Check a suppression pattern independently of how it was found: no line of a published total
/// has exactly one hidden cell, and every cell needing protection has a hypercube of hidden
/// cells around it that can move it by its protection level without breaking any published
/// equation or making a cell negative.
pub fn audit(
    cube: &Cube,
    needs: &[Option<Protection>],
    status: &[Status],
    certificates: &[Certificate],
) -> Result<CubeAudit, AuditFailure> {
    let mut summary = CubeAudit::default();
    for &d in cube.totalled() {
        let stride = cube.strides[d];
        let size = cube.sizes[d];
        for start in 0..cube.len() {
            if !(start / stride).is_multiple_of(size) {
                continue;
            }
            summary.lines_checked += 1;
            let mut hidden = (0..size)
                .map(|j| start + j * stride)
                .filter(|&i| status[i].hidden());
            if let (Some(only), None) = (hidden.next(), hidden.next()) {
                return Err(AuditFailure::AloneInLine { cell: only, dim: d });
            }
        }
    }
    let by_cell: std::collections::HashMap<usize, &Certificate> =
        certificates.iter().map(|c| (c.cell, c)).collect();
    for (p, need) in needs.iter().enumerate() {
        let Some(need) = need else { continue };
        if !status[p].hidden() {
            return Err(AuditFailure::Unprotected { cell: p });
        }
        let valid = |cert: &Certificate| holds(cube, status, p, *need, cert);
        let proved = by_cell.get(&p).is_some_and(|c| valid(c))
            || best_hypercube(cube, status, p, *need, true).is_some_and(|c| valid(&c));
        if !proved {
            return Err(AuditFailure::Unprotected { cell: p });
        }
        summary.cells_proved += 1;
    }
    Ok(summary)
}

/// Does `cert` protect cell `p` as `need` asks: a whole hypercube around `p`, every corner
/// hidden and far enough from `p`'s value?
fn holds(cube: &Cube, status: &[Status], p: usize, need: Protection, cert: &Certificate) -> bool {
    let target = cube.value(p);
    cert.corners.len() + 1 == 1 << cube.totalled().len()
        && proves(cube, p, cert)
        && cert
            .corners
            .iter()
            .all(|&(c, s)| status[c].hidden() && corner_ok(cube, c, s, need, target))
}

/// Do the corners really form a hypercube around `p`, with the signs that keep every published
/// equation balanced? Re-derived from the corners' coordinates, not trusted.
fn proves(cube: &Cube, p: usize, cert: &Certificate) -> bool {
    let dims = cube.totalled();
    let pc = cube.coords(p);
    // The other position in each totalled dimension, read off the corners.
    let mut other: Vec<Option<usize>> = vec![None; dims.len()];
    for &(c, _) in &cert.corners {
        let cc = cube.coords(c);
        for (b, &d) in dims.iter().enumerate() {
            if cc[d] != pc[d] {
                match other[b] {
                    None => other[b] = Some(cc[d]),
                    Some(o) if o != cc[d] => return false,
                    _ => {}
                }
            }
        }
        if (0..cube.dims()).any(|d| !cube.totals[d] && cc[d] != pc[d]) {
            return false;
        }
    }
    let Some(other): Option<Vec<usize>> = other.into_iter().collect() else {
        return false;
    };
    let mut expected: Vec<(usize, i8)> = Vec::new();
    for mask in 1u32..(1 << dims.len()) {
        let (c, sign) = cube.corner(p, &pc, mask, |b| other[b]);
        expected.push((c, sign));
    }
    let mut got = cert.corners.clone();
    got.sort_unstable();
    expected.sort_unstable();
    got == expected
}

/// Random rounding to `base` (Stats NZ): a multiple stays; otherwise round up with probability
/// residual/base, so the expected published value is the true one. `u` is uniform in [0, 1).
pub fn round_random(value: f64, base: f64, u: f64) -> f64 {
    let down = (value / base).floor() * base;
    let residual = value - down;
    if residual <= 1e-9 {
        down
    } else if u < residual / base {
        down + base
    } else {
        down
    }
}

/// A uniform number in [0, 1) fixed by a seed and a cell's key, so that a rerun rounds every cell
/// the same way whatever order the cells come in.
pub fn unit_draw(seed: u64, key: &str) -> f64 {
    // FNV-1a over the key, then the SplitMix64 finaliser to spread the bits.
    let mut h: u64 = 0xcbf29ce484222325 ^ seed;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h = h.wrapping_add(0x9e3779b97f4a7c15);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d049bb133111eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(categories: &[usize], totals: &[bool], values: &[u64]) -> Cube {
        let mut it = values.iter();
        Cube::from_inner(categories, totals, |_| {
            let v = *it.next().expect("enough values");
            CellStats {
                value: v as f64,
                contributors: v,
                ..CellStats::default()
            }
        })
    }

    fn hidden_cells(cube: &Cube, status: &[Status]) -> Vec<(Vec<usize>, Status)> {
        (0..cube.len())
            .filter(|i| status[*i].hidden())
            .map(|i| (cube.coords(i), status[i]))
            .collect()
    }

    fn threshold(n: u64) -> Vec<Rule> {
        vec![Rule::Threshold { n, zeros: false }]
    }

    fn protect(cube: &Cube, rules: &[Rule]) -> Suppression {
        let needs = primary(cube, rules);
        let s = suppress(cube, &needs, vec![Status::Published; cube.len()]);
        audit(cube, &needs, &s.status, &s.certificates).expect("the audit passes");
        s
    }

    /// Rows A, B, C by columns x, y, with both margins:
    /// ```text
    ///        x   y |  T
    ///   A    2  10 | 12
    ///   B    8   7 | 15
    ///   C    9  11 | 20
    ///   T   19  28 | 47
    /// ```
    /// (A, x) = 2 is below the threshold 5. The rectangles through it cost:
    /// (B, y): 10 + 8 + 7 = 25; (C, y): 10 + 9 + 11 = 30; (B, T): 12 + 8 + 15 = 35; any with
    /// the total row is dearer still. So (A, y), (B, x), (B, y) are hidden, and nothing else.
    #[test]
    fn a_2d_table_hides_the_cheapest_rectangle() {
        let cube = counts(&[3, 2], &[true, true], &[2, 10, 8, 7, 9, 11]);
        let s = protect(&cube, &threshold(5));
        assert_eq!(
            hidden_cells(&cube, &s.status),
            vec![
                (vec![0, 0], Status::Primary),
                (vec![0, 1], Status::Secondary),
                (vec![1, 0], Status::Secondary),
                (vec![1, 1], Status::Secondary),
            ]
        );
    }

    /// Two small cells in one row protect each other along the row, but the columns still
    /// need a second row: (A,x)=1 and (A,y)=3 are primary, both under 5; the row total (A,T)=4
    /// is primary too. The cheapest completion hides B's x and y (8 + 7) and B's total.
    #[test]
    fn a_2d_table_with_a_small_row_hides_its_total_and_a_partner_row() {
        let cube = counts(&[3, 2], &[true, true], &[1, 3, 8, 7, 9, 11]);
        let s = protect(&cube, &threshold(5));
        assert_eq!(
            hidden_cells(&cube, &s.status),
            vec![
                (vec![0, 0], Status::Primary),
                (vec![0, 1], Status::Primary),
                (vec![0, 2], Status::Primary),
                (vec![1, 0], Status::Secondary),
                (vec![1, 1], Status::Secondary),
                (vec![1, 2], Status::Secondary),
            ]
        );
    }

    /// A 2 x 2 x 2 table with every margin: one small inner cell. Every hypercube has 7 other
    /// corners; those with a margin as a corner carry larger values, so the inner cube is
    /// the cheapest: the 8 inner cells are hidden and every margin is published.
    #[test]
    fn a_3d_table_hides_the_inner_cube() {
        let cube = counts(
            &[2, 2, 2],
            &[true, true, true],
            &[3, 20, 30, 40, 50, 60, 70, 80],
        );
        let s = protect(&cube, &threshold(5));
        let hidden = hidden_cells(&cube, &s.status);
        assert_eq!(hidden.len(), 8);
        assert!(hidden.iter().all(|(c, _)| c.iter().all(|x| *x < 2)));
        assert_eq!(hidden[0], (vec![0, 0, 0], Status::Primary));
    }

    /// A dimension without a published total adds no equation: a small cell in a table whose
    /// only total runs along the other dimension needs one partner in its own line.
    #[test]
    fn dimensions_without_totals_are_not_equations() {
        let cube = counts(&[2, 3], &[false, true], &[2, 10, 12, 20, 30, 40]);
        let s = protect(&cube, &threshold(5));
        assert_eq!(
            hidden_cells(&cube, &s.status),
            vec![
                (vec![0, 0], Status::Primary),
                (vec![0, 1], Status::Secondary)
            ]
        );
    }

    #[test]
    fn the_audit_catches_a_cell_alone_in_its_line() {
        let cube = counts(&[3, 2], &[true, true], &[2, 10, 8, 7, 9, 11]);
        let needs = primary(&cube, &threshold(5));
        let mut status = vec![Status::Published; cube.len()];
        status[cube.index(&[0, 0])] = Status::Primary;
        status[cube.index(&[0, 1])] = Status::Secondary;
        // column x now has one hidden cell: 19 - 8 - 9 gives (A, x) = 2 back
        assert!(matches!(
            audit(&cube, &needs, &status, &[]),
            Err(AuditFailure::AloneInLine { dim: 0, .. })
        ));
    }

    #[test]
    fn the_audit_refuses_a_forged_certificate() {
        let cube = counts(&[3, 2], &[true, true], &[2, 10, 8, 7, 9, 11]);
        let needs = primary(&cube, &threshold(5));
        let s = suppress(&cube, &needs, vec![Status::Published; cube.len()]);
        let mut forged = s.certificates.clone();
        forged[0].corners[0].1 = -forged[0].corners[0].1;
        // the forged proof is rejected, but the audit finds the real one among hidden cells
        assert!(audit(&cube, &needs, &s.status, &forged).is_ok());
        assert!(!proves(&cube, forged[0].cell, &forged[0]));
        // the certificate check itself refuses the forgery and accepts the real one
        let p = forged[0].cell;
        let need = needs[p].unwrap();
        assert!(!holds(&cube, &s.status, p, need, &forged[0]));
        assert!(holds(&cube, &s.status, p, need, &s.certificates[0]));
    }

    #[test]
    fn magnitude_rules_follow_the_handbook() {
        // one firm with 90 of 100: (2, 85) dominance fires (96 > 85); so does p% with p = 10,
        // since the others (100 - 90 - 6 = 4) are less than 10% of 90, by 9 - 4 = 5
        let c = CellStats {
            value: 100.0,
            contributors: 6,
            x1: 90.0,
            x2: 6.0,
        };
        assert!(sensitive(&Rule::Dominance { n: 2, k: 85.0 }, &c).is_some());
        let p = sensitive(&Rule::PPercent { p: 10.0 }, &c).unwrap();
        assert!((p.upper - 5.0).abs() < 1e-12); // 9 - (100 - 90 - 6)
        let spread = CellStats {
            value: 100.0,
            contributors: 10,
            x1: 20.0,
            x2: 15.0,
        };
        assert!(sensitive(&Rule::Dominance { n: 2, k: 85.0 }, &spread).is_none());
        assert!(sensitive(&Rule::PPercent { p: 10.0 }, &spread).is_none());
        // zeros are not sensitive unless asked
        let zero = CellStats::default();
        assert!(sensitive(&Rule::Threshold { n: 5, zeros: false }, &zero).is_none());
        assert!(sensitive(&Rule::Threshold { n: 5, zeros: true }, &zero).is_some());
    }

    #[test]
    fn random_rounding_is_unbiased_and_reproducible() {
        assert_eq!(round_random(9.0, 3.0, 0.99), 9.0);
        assert_eq!(round_random(10.0, 3.0, 0.0), 12.0);
        assert_eq!(round_random(10.0, 3.0, 0.5), 9.0);
        let draws = 30_000;
        let mean: f64 = (0..draws)
            .map(|i| round_random(7.0, 5.0, unit_draw(42, &i.to_string())))
            .sum::<f64>()
            / f64::from(draws);
        assert!((mean - 7.0).abs() < 0.1, "mean {mean}");
        assert_eq!(unit_draw(1, "a|b"), unit_draw(1, "a|b"));
        assert_ne!(unit_draw(1, "a|b"), unit_draw(2, "a|b"));
    }

    /// A small, seeded generator for the property test (no extra dependency).
    struct SplitMix(u64);
    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Property: on random tables of 1 to 4 dimensions, with or without each margin, many
    /// small cells and zeros, counts (threshold rule) or sums of contributions (threshold,
    /// dominance and p% together), the suppressed table always passes the audit, every
    /// sensitive cell is hidden, and no zero is hidden.
    #[test]
    fn no_random_table_fails_the_audit() {
        let mut rng = SplitMix(20261123);
        for case in 0..400 {
            let dims = 1 + rng.below(4) as usize;
            let categories: Vec<usize> = (0..dims).map(|_| 1 + rng.below(5) as usize).collect();
            let totals: Vec<bool> = (0..dims).map(|_| rng.below(4) != 0).collect();
            let inner: usize = categories.iter().product();
            let values: Vec<u64> = (0..inner)
                .map(|_| match rng.below(4) {
                    0 => 0,
                    1 => 1 + rng.below(4),
                    _ => rng.below(40),
                })
                .collect();
            let magnitude = case % 2 == 1;
            let cube = if magnitude {
                // sums of a few contributions each, one sometimes dominant
                let mut it = values.iter();
                let mut r2 = SplitMix(case);
                Cube::from_inner(&categories, &totals, |_| {
                    let k = *it.next().unwrap() % 6;
                    let parts: Vec<f64> = (0..k).map(|_| 0.5 + r2.below(1000) as f64).collect();
                    let mut sorted = parts.clone();
                    sorted.sort_by(|a, b| b.total_cmp(a));
                    CellStats {
                        value: parts.iter().sum(),
                        contributors: k,
                        x1: sorted.first().copied().unwrap_or(0.0),
                        x2: sorted.get(1).copied().unwrap_or(0.0),
                    }
                })
            } else {
                counts(&categories, &totals, &values)
            };
            let n = 3 + rng.below(5);
            let mut rules = threshold(n);
            if magnitude {
                rules.push(Rule::Dominance { n: 2, k: 85.0 });
                rules.push(Rule::PPercent { p: 10.0 });
            }
            let needs = primary(&cube, &rules);
            let s = suppress(&cube, &needs, vec![Status::Published; cube.len()]);
            if let Err(f) = audit(&cube, &needs, &s.status, &s.certificates) {
                panic!("case {case}: {categories:?} {totals:?} {values:?} n={n}: {f:?}");
            }
            for (i, need) in needs.iter().enumerate() {
                if need.is_some() {
                    assert!(s.status[i].hidden(), "case {case}: sensitive cell shown");
                }
                if s.status[i] == Status::Secondary {
                    assert!(cube.cell(i).value > 0.0, "case {case}: a zero was hidden");
                }
            }
        }
    }
}
