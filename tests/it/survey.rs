//! Survey estimates: the real binary on the shipped survey sample, against R `survey`.

use std::collections::HashMap;

use crate::common::*;

const TABLE: &str = "migrants_sexe_motif_nationalite";

/// R's reason codes (the raw `motif`) as marsad codes them (schemas/codelists/motif_titre.csv).
fn motif_code(raw: &str) -> &str {
    match raw {
        "travail" => "WORK",
        "etudes" => "STUDY",
        "famille" => "FAMILY",
        "regularisation" => "REGULARISATION",
        "asile" => "REFUGEE",
        "autre" => "OTHER",
        other => other,
    }
}

fn run_survey() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    marsad()
        .args(["-q", "run"])
        .arg(repo("pipelines/enquete_migration.toml"))
        .arg("--output")
        .arg(&out)
        .assert()
        .success();
    (tmp, out)
}

/// Rows of a table keyed by its dimension codes joined with `|`.
fn by_cell(df: &polars::prelude::DataFrame, dims: &[&str]) -> HashMap<String, usize> {
    let cols: Vec<Vec<String>> = dims.iter().map(|d| strings(df, d)).collect();
    (0..df.height())
        .map(|i| {
            let key: Vec<&str> = cols.iter().map(|c| c[i].as_str()).collect();
            (key.join("|"), i)
        })
        .collect()
}

#[track_caller]
fn assert_close(what: &str, got: f64, want: f64) {
    let ok = if want == 0.0 {
        got.abs() <= 1e-9
    } else {
        ((got - want) / want).abs() <= 1e-9
    };
    assert!(ok, "{what}: marsad {got}, R {want}");
}

/// Every cell of the table as computed (restricted folder) equals R survey 4.1.1's figures in
/// tests/data/survey_reference.csv (made by tests/r/survey_reference.R), to 1e-9 relative.
#[test]
fn survey_estimates_equal_r_survey() {
    let (_tmp, out) = run_survey();
    let df = parquet(&restricted(&out).join(format!("tables/{TABLE}.parquet")));
    let rows = by_cell(&df, &["sex", "motif_code", "nationality"]);
    let column = |c: &str| numbers(&df, c);
    let (est, se, n) = (
        column("migrants"),
        column("migrants_se"),
        column("respondents"),
    );
    let (pct, pct_se) = (column("pct_female"), column("pct_female_se"));
    let (share, share_se) = (column("share_pct"), column("share_pct_se"));

    // .ci/run points this at a file R has just written; by default, the committed one.
    let reference = std::env::var_os("MARSAD_SURVEY_REFERENCE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo("tests/data/survey_reference.csv"));
    let mut reader = csv::Reader::from_path(&reference).unwrap();
    let mut checked = 0;
    for record in reader.records() {
        let r = record.unwrap();
        let key = format!("{}|{}|{}", &r[0], motif_code(&r[1]), &r[2]);
        let i = *rows
            .get(&key)
            .unwrap_or_else(|| panic!("marsad has no cell {key}"));
        let num = |k: usize| -> Option<f64> { (!r[k].is_empty()).then(|| r[k].parse().unwrap()) };
        assert_close(&format!("{key} estimate"), est[i], num(3).unwrap());
        assert_close(&format!("{key} se"), se[i], num(4).unwrap());
        assert_eq!(n[i], num(5).unwrap(), "{key} respondents");
        match num(6) {
            Some(p) => {
                assert_close(&format!("{key} pct_female"), pct[i], p);
                assert_close(&format!("{key} pct_female_se"), pct_se[i], num(7).unwrap());
            }
            None => assert!(pct[i].is_nan(), "{key}: pct_female where R has none"),
        }
        match num(8) {
            Some(s) => {
                assert_close(&format!("{key} share"), share[i], 100.0 * s);
                assert_close(
                    &format!("{key} share_se"),
                    share_se[i],
                    100.0 * num(9).unwrap(),
                );
            }
            None => assert!(share[i].is_nan(), "{key}: a share where R has none"),
        }
        checked += 1;
    }
    assert_eq!(checked, 560);
    assert_eq!(df.height(), 560, "marsad has cells R does not");
}

/// Statistics Canada's rule on the published table: under 10 respondents or CV above 33.3%
/// suppressed (with its precision, `OBS_STATUS = U`), CV above 16.5% flagged `E`; shares of
/// women are empty when the F or M estimate they use is suppressed.
#[test]
fn published_survey_table_follows_the_reliability_rule() {
    let (_tmp, out) = run_survey();
    let computed = parquet(&restricted(&out).join(format!("tables/{TABLE}.parquet")));
    let published = parquet(&out.join(format!("tables/{TABLE}.parquet")));
    let dims = ["sex", "motif_code", "nationality"];
    let at = by_cell(&published, &dims);
    let (c_est, c_cv, c_n) = (
        numbers(&computed, "migrants"),
        numbers(&computed, "migrants_cv"),
        numbers(&computed, "respondents"),
    );
    let keys = {
        let cols: Vec<Vec<String>> = dims.iter().map(|d| strings(&computed, d)).collect();
        (0..computed.height())
            .map(|i| cols.iter().map(|c| c[i].clone()).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    let (p_est, p_se, p_pct) = (
        numbers(&published, "migrants"),
        numbers(&published, "migrants_se"),
        numbers(&published, "pct_female"),
    );
    let (flag, obs) = (
        strings(&published, "reliability"),
        strings(&published, "obs_status"),
    );
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let suppressed = |k: &[String]| flag[at[&k.join("|")]] == "F";
    for (i, key) in keys.iter().enumerate() {
        let j = at[&key.join("|")];
        let expected = if c_n[i] < 10.0 || c_cv[i].is_nan() || c_cv[i] > 33.3 {
            "F"
        } else if c_cv[i] > 16.5 {
            "E"
        } else {
            "A"
        };
        assert_eq!(flag[j], expected, "{key:?}: n {} cv {}", c_n[i], c_cv[i]);
        *counts.entry(expected).or_default() += 1;
        if expected == "F" {
            assert!(
                p_est[j].is_nan() && p_se[j].is_nan(),
                "{key:?} is published"
            );
            assert_eq!(obs[j], "U");
        } else {
            assert_eq!(p_est[j], c_est[i], "{key:?}");
            assert_eq!(obs[j], if expected == "E" { "U" } else { "A" });
        }
        if key[0] == "_T" {
            let mut f = key.clone();
            f[0] = "F".into();
            let mut m = key.clone();
            m[0] = "M".into();
            assert_eq!(
                p_pct[j].is_nan(),
                suppressed(&f)
                    || suppressed(&m)
                    || c_est[at_computed(&keys, &f)] + c_est[at_computed(&keys, &m)] <= 0.0,
                "{key:?}: share of women"
            );
        }
    }
    // the sample has cells of every kind
    assert!(
        counts["A"] > 100 && counts["E"] > 20 && counts["F"] > 100,
        "{counts:?}"
    );
}

fn at_computed(keys: &[Vec<String>], key: &[String]) -> usize {
    keys.iter().position(|k| k == key).unwrap()
}

/// A run of the survey pipeline under `lonely_psu = "fail"`, copied into `dir` (output in
/// `dir/out`).
pub(crate) fn lonely_psu_failing(dir: &std::path::Path) -> assert_cmd::Command {
    let text = std::fs::read_to_string(repo("pipelines/enquete_migration.toml"))
        .unwrap()
        .replace("lonely_psu = \"adjust\"", "lonely_psu = \"fail\"")
        .replace("../sample_data", &repo("sample_data").display().to_string())
        .replace("../schemas", &repo("schemas").display().to_string());
    let pipeline = dir.join("p.toml");
    std::fs::write(&pipeline, text).unwrap();
    let mut cmd = marsad();
    cmd.args(["-q", "run"])
        .arg(&pipeline)
        .arg("--output")
        .arg(dir.join("out"));
    cmd
}

/// `fail` refuses the design's lonely PSU and names its stratum; exit code 3 (input).
#[test]
fn a_lonely_psu_under_fail_names_the_stratum() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, stderr) = outputs(&mut lonely_psu_failing(tmp.path()), 3);
    assert!(
        stderr.contains("MA-12-R") && stderr.contains("only one PSU"),
        "{stderr}"
    );
    assert!(!tmp.path().join("out").exists(), "nothing is published");
}

/// A respondent without a usable weight or PSU is quarantined with its line, like any other bad
/// row, even when the schema does not constrain the design columns; the others are estimated.
#[test]
fn a_respondent_without_a_usable_design_is_quarantined_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    // the schema without the constraints on `poids` and `grappe`
    let mut schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("schemas/enquete_migration.json")).unwrap(),
    )
    .unwrap();
    for f in schema["fields"].as_array_mut().unwrap() {
        if f["name"] == "poids" || f["name"] == "grappe" {
            f.as_object_mut().unwrap().remove("constraints");
        }
    }
    std::fs::write(tmp.path().join("schema.json"), schema.to_string()).unwrap();
    // line 3: empty weight; line 5: negative weight; line 8: no PSU
    let csv =
        std::fs::read_to_string(repo("sample_data/survey/enquete_migration_2024.csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let (w, g) = (
        header.iter().position(|h| *h == "poids").unwrap(),
        header.iter().position(|h| *h == "grappe").unwrap(),
    );
    for (line, column, value) in [(3, w, ""), (5, w, "-2.5"), (8, g, "")] {
        let mut cells: Vec<String> = lines[line - 1].split(',').map(str::to_string).collect();
        cells[column] = value.to_string();
        lines[line - 1] = cells.join(",");
    }
    std::fs::write(tmp.path().join("data.csv"), lines.join("\n") + "\n").unwrap();
    let text = std::fs::read_to_string(repo("pipelines/enquete_migration.toml"))
        .unwrap()
        .replace("max_rejected = 0.0", "max_rejected = 0.01")
        .replace(
            "../sample_data/survey/enquete_migration_2024.csv",
            "data.csv",
        )
        .replace("../schemas/enquete_migration.json", "schema.json")
        .replace("../schemas", &repo("schemas").display().to_string());
    let pipeline = tmp.path().join("p.toml");
    std::fs::write(&pipeline, text).unwrap();
    let out = tmp.path().join("out");
    marsad()
        .args(["-q", "run"])
        .arg(&pipeline)
        .arg("--output")
        .arg(&out)
        .assert()
        .success();
    let q = csv_rows(&restricted(&out).join("quarantine/quarantine.csv"));
    let got: Vec<(String, String)> = q
        .iter()
        .map(|r| (r["line"].clone(), r["rule"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("3".to_string(), "check:design_poids".to_string()),
            ("5".to_string(), "check:design_poids".to_string()),
            ("8".to_string(), "check:design_grappe".to_string()),
        ]
    );
    let m = manifest(&out);
    assert_eq!(m["sources"][0]["rows_rejected"], 3);
    assert_eq!(m["sources"][0]["rows_valid"], 6507);
}
