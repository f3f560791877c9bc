//! Disclosure control, checked from outside: the real binary on the permit register, and what it
//! publishes compared with what it computed (the restricted folder beside each output).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::common::*;

/// The count measure of every permit table: its value is the number of contributing records.
const COUNT: &str = "titres";
/// Columns after the measures that are not measures.
const NOT_MEASURES: [&str; 4] = ["obs_status", "conf_status", "pct_female", "sex_ratio"];

/// A published table, read with its dimensions from the output's data package.
struct Table {
    name: String,
    dims: Vec<String>,
    measures: Vec<String>,
    published: DataFrame,
    computed: DataFrame,
}

/// Every table of an output folder, published and as computed.
fn tables(out: &Path) -> Vec<Table> {
    let package: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("datapackage.json")).unwrap())
            .unwrap();
    let mut found = Vec::new();
    for r in package["resources"].as_array().unwrap() {
        let Some(key) = r["schema"]["primaryKey"].as_array() else {
            continue;
        };
        let name = r["name"].as_str().unwrap().to_string();
        let dims: Vec<String> = key.iter().map(|k| k.as_str().unwrap().into()).collect();
        let file = format!("tables/{name}.parquet");
        let published = parquet(&out.join(&file));
        let computed = parquet(&restricted(out).join(&file));
        let measures = published
            .get_column_names()
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !dims.contains(c) && !NOT_MEASURES.contains(&c.as_str()))
            .collect();
        found.push(Table {
            name,
            dims,
            measures,
            published,
            computed,
        });
    }
    assert!(!found.is_empty(), "no table in {}", out.display());
    found
}

/// Published and computed rows side by side, one per cell: the computed measures and flag are
/// prefixed `c_`. Every cell must be in both.
fn side_by_side(t: &Table) -> DataFrame {
    let keys: Vec<Expr> = t
        .dims
        .iter()
        .map(|d| col(d.as_str()).cast(DataType::String))
        .collect();
    let mut computed: Vec<Expr> = keys.clone();
    computed.extend(
        t.measures
            .iter()
            .map(|m| col(m.as_str()).alias(format!("c_{m}"))),
    );
    computed.push(col("conf_status").alias("c_conf_status"));
    let joined = t
        .published
        .clone()
        .lazy()
        .with_columns(keys.clone())
        .join(
            t.computed.clone().lazy().select(computed),
            keys.clone(),
            keys,
            JoinArgs::new(JoinType::Inner),
        )
        .collect()
        .unwrap();
    assert_eq!(joined.height(), t.published.height(), "{}", t.name);
    assert_eq!(joined.height(), t.computed.height(), "{}", t.name);
    joined
}

/// Null or not, per row (numbers() reads a null as NaN).
fn nulls(df: &DataFrame, column: &str) -> Vec<bool> {
    df.column(column)
        .unwrap()
        .is_null()
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect()
}

#[test]
fn the_publishable_folder_holds_no_quarantine_and_no_cell_with_one_to_four_contributors() {
    let run = run_pipeline("titres_sejour", &[]);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for folder in ["titres_sejour", "echange"] {
        let out = run.path().join(folder);
        assert!(!out.join("quarantine").exists(), "{folder}: quarantine");
        assert!(restricted(&out).join("tables").is_dir(), "{folder}");
        for t in tables(&out) {
            let j = side_by_side(&t);
            let count = numbers(&j, &format!("c_{COUNT}"));
            let (obs, conf) = (strings(&j, "obs_status"), strings(&j, "conf_status"));
            let computed_conf = strings(&j, "c_conf_status");
            for i in 0..j.height() {
                let cell = || {
                    t.dims
                        .iter()
                        .map(|d| format!("{d}={}", strings(&j, d)[i]))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                // the flags agree with each other and with the restricted table's, except that
                // the published ones do not tell a sensitive cell (C) from one hidden to protect
                // it (D): that a cell is not small is a bound an attacker could use
                match (obs[i].as_str(), conf[i].as_str(), computed_conf[i].as_str()) {
                    ("A", "F", "F") | ("Q", "C", "C") | ("Q", "C", "D") => {}
                    other => panic!("{}: {}: flags {other:?}", t.name, cell()),
                }
                *seen
                    .entry(if conf[i] == "C" { "C" } else { "other" })
                    .or_default() += 1;
                if (1.0..=4.0).contains(&count[i]) {
                    // a cell with 1 to 4 records is primary: empty, confidential
                    assert_eq!(
                        (obs[i].as_str(), conf[i].as_str()),
                        ("Q", "C"),
                        "{}: {}",
                        t.name,
                        cell()
                    );
                    *seen.entry("small").or_default() += 1;
                }
                if computed_conf[i] == "D" {
                    *seen.entry("D").or_default() += 1;
                }
            }
            for m in &t.measures {
                let (empty, value) = (nulls(&j, m), numbers(&j, m));
                let computed = numbers(&j, &format!("c_{m}"));
                let computed_null = nulls(&j, &format!("c_{m}"));
                for i in 0..j.height() {
                    // hidden exactly where flagged Q
                    assert_eq!(empty[i], obs[i] == "Q", "{}.{m} row {i}", t.name);
                    if !empty[i] {
                        assert!(
                            (value[i] - computed[i]).abs() < 1e-9,
                            "{}.{m} row {i}: published {} computed {}",
                            t.name,
                            value[i],
                            computed[i]
                        );
                    }
                    if computed_conf[i] == "D" {
                        // a cell hidden to protect another has a value to hide (0 included: a
                        // hidden zero is what lets a cell of one person look empty)
                        assert!(
                            !computed_null[i],
                            "{}.{m} row {i}: D on an empty cell",
                            t.name
                        );
                    }
                }
            }
        }
    }
    // the check is not vacuous: the sample register has small cells of both kinds of protection
    for kind in ["small", "C", "D", "other"] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} cell: {seen:?}"
        );
    }
}

/// The audit's line check, written again: along every dimension that has a total, a line is the
/// cells that share all other codes, the `_T` cell included; with exactly one hidden cell, the
/// total and the published cells would give it back.
#[test]
fn no_line_of_a_published_total_has_exactly_one_hidden_cell() {
    let run = run_pipeline("titres_sejour", &[]);
    let (mut lines, mut guarded) = (0usize, 0usize);
    for folder in ["titres_sejour", "echange"] {
        for t in tables(&run.path().join(folder)) {
            for d in &t.dims {
                if !strings(&t.published, d).iter().any(|v| v == "_T") {
                    continue;
                }
                let others: Vec<Expr> = t
                    .dims
                    .iter()
                    .filter(|o| *o != d)
                    .map(|o| col(o.as_str()))
                    .collect();
                let hidden = t
                    .published
                    .clone()
                    .lazy()
                    .group_by(others)
                    .agg([
                        col(COUNT).is_null().sum().alias("hidden"),
                        col(d.as_str()).eq(lit("_T")).sum().alias("totals"),
                    ])
                    .collect()
                    .unwrap();
                for (i, n) in numbers(&hidden, "hidden").iter().enumerate() {
                    assert_ne!(
                        *n,
                        1.0,
                        "{}: a line along `{d}` has one hidden cell: {:?}",
                        t.name,
                        hidden.get(i)
                    );
                    if *n >= 2.0 {
                        guarded += 1;
                    }
                }
                assert!(numbers(&hidden, "totals").iter().all(|n| *n == 1.0));
                lines += hidden.height();
            }
        }
    }
    assert!(
        lines > 1000 && guarded > 100,
        "{lines} lines, {guarded} with hidden cells"
    );
}

/// A small pipeline over the sample permit register, written in `dir`, with one table by sex and
/// nationality protected by `disclosure` (TOML lines for `[table.disclosure]`).
pub(crate) fn permit_pipeline(dir: &Path, disclosure: &str) -> PathBuf {
    let text = permit_source("titres_arrondis")
        + &format!(
            r#"
[[table]]
name = "titres_sexe_nationalite"
source = "titres"
dimensions = ["sex", "nationality"]
measures = [{{ name = "titres", agg = "count" }}]
totals = ["nationality"]

[table.disclosure]
{disclosure}

[[output]]
dir = "out"
"#,
        );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn random_rounding_publishes_multiples_of_the_base_the_same_way_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = permit_pipeline(dir.path(), "method = \"round\"\nbase = 3\nseed = 7");
    let run = |out: &str| {
        marsad()
            .args(["-q", "run"])
            .arg(&pipeline)
            .arg("--output")
            .arg(dir.path().join(out))
            .assert()
            .success();
        dir.path().join(out)
    };
    let (a, b) = (run("a"), run("b"));
    let table = "tables/titres_sexe_nationalite.parquet";
    let published = parquet(&a.join(table));
    let computed = parquet(&restricted(&a).join(table));
    assert_eq!(published.height(), computed.height());
    assert_eq!(strings(&published, "sex"), strings(&computed, "sex"));
    assert_eq!(
        strings(&published, "nationality"),
        strings(&computed, "nationality")
    );
    let (p, c) = (numbers(&published, "titres"), numbers(&computed, "titres"));
    let mut moved = 0;
    for i in 0..p.len() {
        assert_eq!(p[i] % 3.0, 0.0, "row {i}: {} is not a multiple of 3", p[i]);
        assert!((p[i] - c[i]).abs() < 3.0, "row {i}: {} from {}", p[i], c[i]);
        moved += usize::from(p[i] != c[i]);
    }
    assert!(moved > 0 && c.iter().any(|v| v % 3.0 != 0.0));
    // every cell is published, flagged normal and free
    assert!(strings(&published, "obs_status").iter().all(|s| s == "A"));
    assert!(strings(&published, "conf_status").iter().all(|s| s == "F"));
    let books = &manifest(&a)["disclosure"][0];
    assert_eq!(books["method"], "round (base 3)");
    assert_eq!(books["rounded"], moved as u64);
    // the same input and seed: the same bytes, published and restricted
    assert_eq!(files_but_manifest(&a), files_but_manifest(&b));
    assert_eq!(
        files_but_manifest(&restricted(&a)),
        files_but_manifest(&restricted(&b))
    );
    // another seed rounds some cells the other way
    let other = permit_pipeline(dir.path(), "method = \"round\"\nbase = 3\nseed = 8");
    marsad()
        .args(["-q", "run"])
        .arg(&other)
        .arg("--output")
        .arg(dir.path().join("c"))
        .assert()
        .success();
    assert_ne!(
        numbers(&parquet(&dir.path().join("c").join(table)), "titres"),
        p
    );
}

#[test]
fn publishing_without_protection_needs_a_reason_named_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = permit_pipeline(dir.path(), "method = \"none\"");
    let text = std::fs::read_to_string(&pipeline).unwrap();
    let line = text.lines().position(|l| l == "method = \"none\"").unwrap() + 1;
    let err = outputs(marsad().args(["-q", "run"]).arg(&pipeline), 2).1;
    assert!(
        err.contains(&format!("pipeline.toml:{line}:")),
        "line {line} not named: {err}"
    );
    assert!(err.contains("reason"), "{err}");
    assert!(!dir.path().join("out").exists(), "nothing is published");
    // with a reason, the table is published as computed
    let pipeline = permit_pipeline(
        dir.path(),
        "method = \"none\"\nreason = \"a test of the reason\"",
    );
    marsad()
        .args(["-q", "run"])
        .arg(&pipeline)
        .assert()
        .success();
    let out = dir.path().join("out");
    let table = "tables/titres_sexe_nationalite.parquet";
    assert_eq!(
        numbers(&parquet(&out.join(table)), "titres"),
        numbers(&parquet(&restricted(&out).join(table)), "titres")
    );
    assert_eq!(
        manifest(&out)["disclosure"][0]["reason"],
        "a test of the reason"
    );
}

#[test]
fn linked_tables_hide_the_same_cells() {
    let run = run_pipeline("titres_sejour", &[]);
    let out = run.path().join("titres_sejour");
    let detail = filter(
        &parquet(&out.join("tables/titres_sexe_nationalite_region_age.parquet")),
        &[("region_code", "_T"), ("groupe_age", "_T")],
    );
    let margin = parquet(&out.join("tables/titres_sexe_nationalite.parquet"));
    assert_eq!(detail.height(), margin.height());
    let key = |df: &DataFrame| -> HashMap<String, (bool, f64, String)> {
        let (sex, nat) = (strings(df, "sex"), strings(df, "nationality"));
        let (hidden, value) = (nulls(df, "titres"), numbers(df, "titres"));
        let conf = strings(df, "conf_status");
        (0..df.height())
            .map(|i| {
                (
                    format!("{}|{}", sex[i], nat[i]),
                    (hidden[i], value[i], conf[i].clone()),
                )
            })
            .collect()
    };
    let (d, m) = (key(&detail), key(&margin));
    let mut hidden = 0;
    for (cell, (d_hidden, d_value, d_conf)) in &d {
        let (m_hidden, m_value, m_conf) = m.get(cell).unwrap_or_else(|| panic!("{cell}"));
        // hidden in the 4-D table at the margin <=> hidden in the 2-D table, for the same reason
        assert_eq!(d_hidden, m_hidden, "{cell}");
        assert_eq!(d_conf, m_conf, "{cell}");
        if !d_hidden {
            assert_eq!(d_value, m_value, "{cell}");
        }
        hidden += usize::from(*d_hidden);
    }
    assert!(hidden > 0, "no hidden cell to compare");
    let books = manifest(&out)["disclosure"].as_array().unwrap().clone();
    let of = |name: &str| {
        books
            .iter()
            .find(|b| b["table"] == name)
            .unwrap_or_else(|| panic!("{name} not in the manifest"))
            .clone()
    };
    let linked = of("titres_sexe_nationalite_region_age")["linked"].clone();
    assert!(
        linked
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "titres_sexe_nationalite"),
        "{linked}"
    );
    // tables without shared cells are not linked to it
    assert!(!linked
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l == "titres_sexe_motif"));
    assert_eq!(of("titres_sexe_nationalite")["method"], "suppress");
    // and the link is listed on both sides
    assert_eq!(
        of("titres_sexe_nationalite")["linked"],
        serde_json::json!(["titres_sexe_nationalite_region_age"])
    );
}
