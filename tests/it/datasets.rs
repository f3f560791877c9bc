//! Survey microdata as statistics offices distribute it: a Stata dataset and an SPSS system
//! file whose coded sex carries value labels (made by `tests/data/datasets/make_datasets.py`
//! with pyreadstat).

use std::collections::HashMap;
use std::path::Path;

use crate::common::*;

fn pipeline(dir: &Path, file: &str, value_labels: &str) -> std::path::PathBuf {
    let text = format!(
        r#"name = "enquete"
max_rejected = 0.9

[[source]]
name = "enquete"
path = "{data}"
schema = "{schema}"

[source.dialect]
value_labels = "{value_labels}"

[[harmonize]]
source = "enquete"
column = "sexe"
codelist = "sex"
into = "sex"

[[table]]
name = "par_sexe"
source = "enquete"
dimensions = ["sex"]
measures = [{{ name = "repondants", agg = "count" }}, {{ name = "poids", agg = "sum", column = "poids" }}]

[table.disclosure]
method = "none"
reason = "a test of datasets"

[[output]]
dir = "out"
"#,
        data = real_data(&format!("datasets/{file}")).display(),
        schema = real_data("datasets/enquete.schema.json").display(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A quarantine entry's line, column and rule.
type Finding = (String, String, String);

/// The quarantine's rows, and their (line, column, rule) sorted.
fn findings(out: &Path) -> (Vec<HashMap<String, String>>, Vec<Finding>) {
    let q = csv_rows(&restricted(out).join("quarantine/quarantine.csv"));
    let mut got: Vec<Finding> = q
        .iter()
        .map(|r| (r["line"].clone(), r["column"].clone(), r["rule"].clone()))
        .collect();
    got.sort();
    (q, got)
}

/// The file's value labels are in the manifest and the report, beside their codes.
fn assert_labels_reported(out: &Path) {
    let m = manifest(out);
    let labels = &m["sources"][0]["files"][0]["value_labels"][0];
    assert_eq!(labels["variable"], "sexe", "{m}");
    assert_eq!(labels["labels"][0], serde_json::json!(["1", "Homme"]));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("value labels of `sexe`: 1 = Homme, 2 = Femme, 9 = Non déclaré"),
        "{report}"
    );
}

fn row(line: &str, column: &str, rule: &str) -> Finding {
    (line.to_string(), column.to_string(), rule.to_string())
}

#[test]
fn a_stata_dataset_is_harmonized_through_its_value_labels() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), "enquete.dta", "labels");
    marsad().args(["-q", "run"]).arg(&p).assert().success();
    let out = dir.path().join("out");
    let m = manifest(&out);
    let source = &m["sources"][0];
    assert_eq!(
        (&source["rows_in"], &source["rows_valid"]),
        (&6.into(), &4.into())
    );
    let table = parquet(&out.join("tables/par_sexe.parquet"));
    // 1 = Homme and 2 = Femme, read through the file's labels; weights read as numbers
    assert_eq!(cell(&table, &[("sex", "M")], "repondants"), 2.0, "{table}");
    assert_eq!(cell(&table, &[("sex", "M")], "poids"), 216.0, "{table}");
    assert_eq!(cell(&table, &[("sex", "F")], "repondants"), 1.0, "{table}");
    // Stata's missing age (`.`) is missing: a required value; observation n is line n + 1
    let (_, got) = findings(&out);
    assert_labels_reported(&out);
    assert_eq!(
        got,
        vec![row("4", "age", "required"), row("6", "age", "maximum")]
    );
}

#[test]
fn without_labels_a_coded_sex_needs_a_list_of_its_codes() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), "enquete.dta", "codes");
    let err = outputs(marsad().args(["-q", "run"]).arg(&p), 4).1;
    // the codes 1, 2 and 9 are no spelling of a sex: read as codes, every row is rejected
    assert!(err.contains("6 of 6 rows rejected"), "{err}");
    assert!(err.contains("raw_value=1 rows=2"), "{err}");
}

#[test]
fn an_spss_file_reads_its_labels_and_its_user_missing_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), "enquete.sav", "labels");
    marsad().args(["-q", "run"]).arg(&p).assert().success();
    let out = dir.path().join("out");
    let table = parquet(&out.join("tables/par_sexe.parquet"));
    assert_eq!(cell(&table, &[("sex", "M")], "repondants"), 2.0, "{table}");
    assert_eq!(cell(&table, &[("sex", "M")], "poids"), 216.0, "{table}");
    assert_eq!(cell(&table, &[("sex", "F")], "repondants"), 1.0, "{table}");
    // the system-missing age and the age 99, declared user-missing in the file, are missing
    let (q, got) = findings(&out);
    assert_labels_reported(&out);
    assert_eq!(
        got,
        vec![row("4", "age", "required"), row("6", "age", "required")]
    );
    // the interview dates were read as dates: the schema's minimum held for every row
    assert!(!q.iter().any(|r| r["column"] == "date_entretien"));
}

#[test]
fn a_file_named_sav_that_is_not_one_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("enquete.sav");
    std::fs::write(&fake, "id,sexe\n1,2\n").unwrap();
    let err = outputs(
        marsad()
            .args(["-q", "validate", "--schema"])
            .arg(real_data("datasets/enquete.schema.json"))
            .arg(&fake),
        3,
    )
    .1;
    assert!(
        err.contains("cannot be read: it does not start with $FL2"),
        "{err}"
    );
}
