//! An attacker with an LP solver against everything published from one source (issue 13).
//!
//! The check here is written apart from marsad's audit: it rebuilds the equations from the
//! published Parquet files alone (each dimension's `_T`, years that add up to the table without
//! years, nationalities that add up to their AU region and M49 sub-region through the shipped
//! country list) and bounds each sensitive cell with its own LPs, solved by Clarabel directly.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus,
};

use crate::common::*;

/// A cell as what it counts: dimension → code, dimensions at their total left out.
type Key = BTreeMap<String, String>;

struct Published {
    /// Published value (None when hidden), true value, sensitive.
    cells: HashMap<Key, (Option<f64>, f64, bool)>,
    /// `total = Σ parts`.
    equations: Vec<(Key, Vec<Key>)>,
}

/// A table's dimensions and the keys of its rows.
type Shape = (Vec<String>, Vec<Key>);

fn read(out: &Path, tables: &[&str], measure: &str) -> (Published, Vec<Shape>) {
    let mut cells = HashMap::new();
    let mut shapes = Vec::new();
    for t in tables {
        let public = parquet(&out.join(format!("tables/{t}.parquet")));
        let secret = parquet(&restricted(out).join(format!("tables/{t}.parquet")));
        let dims: Vec<String> = public
            .get_column_names()
            .iter()
            .map(|c| c.to_string())
            .filter(|c| {
                ![
                    measure,
                    "obs_status",
                    "conf_status",
                    "pct_female",
                    "sex_ratio",
                ]
                .contains(&c.as_str())
            })
            .collect();
        let keys = |df: &polars::prelude::DataFrame| -> Vec<Key> {
            let columns: Vec<Vec<String>> = dims.iter().map(|d| strings(df, d)).collect();
            (0..df.height())
                .map(|i| {
                    dims.iter()
                        .zip(&columns)
                        .filter(|(_, c)| c[i] != "_T")
                        .map(|(d, c)| (d.clone(), c[i].clone()))
                        .collect()
                })
                .collect()
        };
        let published: Vec<Option<f64>> = public
            .column(measure)
            .unwrap()
            .cast(&polars::prelude::DataType::Float64)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect();
        let truth: HashMap<Key, (f64, bool)> = keys(&secret)
            .into_iter()
            .zip(numbers(&secret, measure))
            .zip(strings(&secret, "conf_status"))
            .map(|((k, v), s)| (k, (v, s == "C")))
            .collect();
        let mine = keys(&public);
        for (k, p) in mine.iter().zip(published) {
            let (v, sensitive) = truth[k];
            let e = cells.entry(k.clone()).or_insert((p, v, false));
            if p.is_none() {
                e.0 = None;
            }
            e.2 |= sensitive;
        }
        shapes.push((dims, mine));
    }
    (
        Published {
            cells,
            equations: Vec::new(),
        },
        shapes,
    )
}

/// The attacker's equations: every total of every table, years adding up to the table without
/// years, and AU / M49 regions as sums of their nationalities.
fn equations(p: &mut Published, shapes: &[Shape]) {
    let with = |k: &Key, d: &str, c: &str| {
        let mut k = k.clone();
        k.insert(d.to_string(), c.to_string());
        k
    };
    for (dims, keys) in shapes {
        for d in dims {
            let codes: BTreeSet<&String> = keys.iter().filter_map(|k| k.get(d)).collect();
            let wholes: BTreeSet<Key> = keys
                .iter()
                .map(|k| {
                    let mut k = k.clone();
                    k.remove(d);
                    k
                })
                .filter(|k| p.cells.contains_key(k))
                .collect();
            for whole in wholes {
                // A combination the table does not list counts nobody.
                let parts: Vec<Key> = codes
                    .iter()
                    .map(|c| with(&whole, d, c))
                    .filter(|k| p.cells.contains_key(k))
                    .collect();
                p.equations.push((whole, parts));
            }
        }
    }
    let countries = csv_rows(&repo("schemas/codelists/country.csv"));
    for (coarse, column) in [
        ("nationality_au_region", "au_region"),
        ("nationality_m49_subregion", "m49_subregion"),
    ] {
        let region = |code: &str| -> String {
            if code == "_U" || code == "_O" {
                return code.to_string();
            }
            countries
                .iter()
                .find(|c| c["alpha3"] == code)
                .map(|c| c[column].clone())
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "_Z".to_string())
        };
        let nationalities: Vec<Key> = p
            .cells
            .keys()
            .filter(|k| k.contains_key("nationality"))
            .cloned()
            .collect();
        let mut sums: BTreeMap<Key, Vec<Key>> = BTreeMap::new();
        for k in nationalities {
            let mut whole = k.clone();
            let n = whole.remove("nationality").unwrap();
            whole.insert(coarse.to_string(), region(&n));
            if p.cells.contains_key(&whole) {
                sums.entry(whole).or_default().push(k);
            }
        }
        p.equations.extend(sums);
    }
}

/// The attacker's bound on one hidden cell (None: unbounded), by Clarabel: equalities as two
/// inequalities, every hidden cell ≥ 0.
fn bound(p: &Published, hidden: &[Key], target: usize, maximise: bool) -> Option<f64> {
    let index: HashMap<&Key, usize> = hidden.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let n = hidden.len();
    let (mut rows, mut cols, mut vals, mut b) = (vec![], vec![], vec![], vec![]);
    for (total, parts) in &p.equations {
        let mut coef: BTreeMap<usize, f64> = BTreeMap::new();
        let mut rhs = 0.0;
        for (k, s) in std::iter::once((total, 1.0)).chain(parts.iter().map(|k| (k, -1.0))) {
            match index.get(k) {
                Some(i) => *coef.entry(*i).or_default() += s,
                None => rhs -= s * p.cells[k].0.expect("published"),
            }
        }
        coef.retain(|_, a| *a != 0.0);
        if coef.is_empty() {
            assert!(rhs.abs() < 1e-9, "a published equation does not hold");
            continue;
        }
        for sign in [1.0, -1.0] {
            for (i, a) in &coef {
                rows.push(b.len());
                cols.push(*i);
                vals.push(sign * a);
            }
            b.push(sign * rhs);
        }
    }
    for i in 0..n {
        rows.push(b.len());
        cols.push(i);
        vals.push(-1.0);
        b.push(0.0);
    }
    let m = b.len();
    let a = CscMatrix::new_from_triplets(m, n, rows, cols, vals);
    let mut q = vec![0.0; n];
    q[target] = if maximise { -1.0 } else { 1.0 };
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .build()
        .unwrap();
    let mut solver = DefaultSolver::new(
        &CscMatrix::zeros((n, n)),
        &q,
        &a,
        &b,
        &[NonnegativeConeT(m)],
        settings,
    )
    .unwrap();
    solver.solve();
    match solver.solution.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => Some(solver.solution.x[target]),
        SolverStatus::DualInfeasible | SolverStatus::AlmostDualInfeasible => None,
        other => panic!("the check's LP stopped with {other:?}"),
    }
}

/// Sensitive cells an attacker bounds too tightly: max below `threshold` or min above value − 1.
fn unprotected(p: &Published, threshold: f64) -> Vec<(Key, f64, f64, f64)> {
    let mut hidden: Vec<Key> = p
        .cells
        .iter()
        .filter(|(_, c)| c.0.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    hidden.sort();
    let mut out = Vec::new();
    for (i, k) in hidden.iter().enumerate() {
        let (_, value, sensitive) = p.cells[k];
        if !sensitive {
            continue;
        }
        let high = bound(p, &hidden, i, true).unwrap_or(f64::INFINITY);
        let low = bound(p, &hidden, i, false).expect("counts are bounded below");
        if high < threshold.max(value) - 1e-6 || low > (value - 1.0).max(0.0) + 1e-6 {
            out.push((k.clone(), value, low, high));
        }
    }
    out
}

/// The tables the issue's attacker combined: sex by nationality, by AU region and by M49
/// sub-region of the nationality, and by year and nationality.
fn cross_table_pipeline(dir: &Path) -> std::path::PathBuf {
    let text = permit_source("titres_croises")
        + r#"
[[derive]]
source = "titres"
name = "annee"
expr = "EXTRACT(YEAR FROM date_delivrance)"

[[derive]]
source = "titres"
name = "nationality_au_region"
region_of = "nationality"
scheme = "au"

[[derive]]
source = "titres"
name = "nationality_m49_subregion"
region_of = "nationality"
scheme = "m49-subregion"

[[table]]
name = "par_nationalite"
source = "titres"
dimensions = ["sex", "nationality"]
measures = [{ name = "titres", agg = "count" }]
totals = ["nationality"]

[[table]]
name = "par_region_ua"
source = "titres"
dimensions = ["sex", "nationality_au_region"]
measures = [{ name = "titres", agg = "count" }]
totals = ["nationality_au_region"]

[[table]]
name = "par_sous_region_m49"
source = "titres"
dimensions = ["sex", "nationality_m49_subregion"]
measures = [{ name = "titres", agg = "count" }]
totals = ["nationality_m49_subregion"]

[[table]]
name = "par_annee_nationalite"
source = "titres"
dimensions = ["annee", "sex", "nationality"]
measures = [{ name = "titres", agg = "count" }]
totals = ["nationality"]

[[output]]
dir = "out"
"#;
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const TABLES: [&str; 4] = [
    "par_nationalite",
    "par_region_ua",
    "par_sous_region_m49",
    "par_annee_nationalite",
];

#[test]
fn no_sensitive_cell_can_be_narrowed_by_an_lp_over_all_tables_of_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = cross_table_pipeline(dir.path());
    marsad()
        .args(["-q", "run"])
        .arg(&pipeline)
        .assert()
        .success();
    let out = dir.path().join("out");
    let (mut published, shapes) = read(&out, &TABLES, "titres");
    equations(&mut published, &shapes);
    // The equations hold on the true values, so the attacker's system is the real one.
    for (total, parts) in &published.equations {
        let sum: f64 = parts.iter().map(|k| published.cells[k].1).sum();
        assert_eq!(published.cells[total].1, sum, "{total:?} = {parts:?}");
    }
    let sensitive = published.cells.values().filter(|c| c.2).count();
    assert!(sensitive > 40, "only {sensitive} sensitive cells");
    assert_eq!(unprotected(&published, 5.0), vec![]);

    // The audit file in the restricted folder agrees, cell by cell.
    let audit = csv_rows(&restricted(&out).join("disclosure_audit.csv"));
    assert!(audit.len() >= sensitive, "{} audit rows", audit.len());
    assert!(audit.iter().all(|r| r["passed"] == "true"));
    assert!(!std::fs::read_dir(&out)
        .unwrap()
        .any(|e| e.unwrap().file_name() == "disclosure_audit.csv"));
}

/// The check above can fail: the pattern of the first table alone, as the table-by-table
/// method left it, published together with the M49 table whose `_U` line it does not see.
#[test]
fn the_independent_check_finds_a_cell_an_attacker_can_work_out() {
    // A line F, M, _U = 3, 1, hidden pair (M, _U) whose sum a second table publishes... made
    // by hand: total 10 = F 6 + M 3 + U 1, M and U hidden; another table gives U + X = 1 with X
    // published 0, so U is 1 exactly.
    let key = |pairs: &[(&str, &str)]| -> Key {
        pairs
            .iter()
            .map(|(d, c)| (d.to_string(), c.to_string()))
            .collect()
    };
    let t = key(&[]);
    let (f, m, u) = (
        key(&[("sex", "F")]),
        key(&[("sex", "M")]),
        key(&[("sex", "_U")]),
    );
    let (ux, uy) = (
        key(&[("sex", "_U"), ("x", "a")]),
        key(&[("sex", "_U"), ("x", "b")]),
    );
    let cells = HashMap::from([
        (t.clone(), (Some(10.0), 10.0, false)),
        (f.clone(), (Some(6.0), 6.0, false)),
        (m.clone(), (None, 3.0, true)),
        (u.clone(), (None, 1.0, true)),
        (ux.clone(), (Some(1.0), 1.0, false)),
        (uy.clone(), (Some(0.0), 0.0, false)),
    ]);
    let p = Published {
        cells,
        equations: vec![
            (t, vec![f, m.clone(), u.clone()]),
            (u.clone(), vec![ux, uy]),
        ],
    };
    let found: Vec<Key> = unprotected(&p, 5.0).into_iter().map(|c| c.0).collect();
    assert_eq!(found, vec![m, u]);
}

/// A table published as computed (`method = "none"`) beside a suppressed one from the same
/// source gives the attacker the small cells outright: no suppression can help, and the run
/// stops naming a cell rather than publishing.
#[test]
fn a_sensitive_cell_published_elsewhere_stops_the_run_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = cross_table_pipeline(dir.path());
    let mut text = std::fs::read_to_string(&pipeline).unwrap();
    let open = r#"
[[table]]
name = "ouverte"
source = "titres"
dimensions = ["sex", "nationality"]
measures = [{ name = "titres", agg = "count" }]
totals = ["nationality"]

[table.disclosure]
method = "none"
reason = "a test: the same counts, unprotected"
"#;
    let at = text.find("[[output]]").unwrap();
    text.insert_str(at, open);
    std::fs::write(&pipeline, text).unwrap();
    let (_, err) = outputs(marsad().args(["-q", "run"]).arg(&pipeline), 1);
    assert!(err.contains("could narrow"), "{err}");
    assert!(err.contains("par_nationalite sex="), "{err}");
    assert!(!dir.path().join("out").exists(), "nothing is published");
}
