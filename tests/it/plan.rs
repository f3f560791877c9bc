//! The pipeline file is resolved once into a typed plan: the bugs that came from text being
//! read again downstream, each caught by the test that would have failed.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::common::*;

const SCHEMA: &str = r#"{"fields": [
  {"name": "id", "type": "string"},
  {"name": "sexe", "type": "string"},
  {"name": "nat", "type": "string"}
]}"#;

/// A pipeline over `data.csv` in a temporary folder; `harmonize` is the `[[harmonize]]` of
/// column `sexe`, `output` the `[[output]]` part (may be empty).
fn pipeline(harmonize: &str, output: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schema.json"), SCHEMA).unwrap();
    std::fs::write(
        dir.path().join("data.csv"),
        "id,sexe,nat\n1,femme,MAR\n2,homme,MAR\n3,homme,SEN\n4,,SEN\n",
    )
    .unwrap();
    let text = format!(
        r#"name = "p"
[[source]]
name = "data"
path = "data.csv"
schema = "schema.json"

[[harmonize]]
source = "data"
column = "sexe"
into = "sex"
{harmonize}

[[table]]
name = "t"
source = "data"
dimensions = ["sex", "nat"]
measures = [{{ name = "n", agg = "count" }}]
disclosure = {{ method = "none", reason = "test" }}
{output}
"#
    );
    let path = dir.path().join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn run(path: &Path, code: i32) -> String {
    let out = marsad()
        .args(["-q", "run"])
        .arg(path)
        .assert()
        .code(code)
        .get_output()
        .clone();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sexes(table: &DataFrame, nat: &str) -> Vec<String> {
    let t = table
        .clone()
        .lazy()
        .filter(col("nat").eq(lit(nat)))
        .collect()
        .unwrap();
    let mut v: Vec<String> = t
        .column("sex")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn a_code_under_extra_that_is_not_in_the_list_points_at_its_line() {
    let (_dir, path) = pipeline(
        "codelist = \"sex\"\nextra = { \"2\" = \"f\" }",
        "[[output]]\ndir = \"out\"",
    );
    let err = run(&path, 2);
    assert!(err.contains("pipeline.toml:12:"), "{err}");
    assert!(
        err.contains("`f`, which is not a code of the list `sex`"),
        "{err}"
    );
    assert!(err.contains("did you mean `F`?"), "{err}");
}

#[test]
fn unknown_and_missing_codes_are_checked_too() {
    for key in ["unknown = \"U\"", "missing = \"unknown\""] {
        let (_dir, path) = pipeline(
            &format!("codelist = \"sex\"\n{key}"),
            "[[output]]\ndir = \"out\"",
        );
        let err = run(&path, 2);
        assert!(err.contains("pipeline.toml:12:"), "{key}: {err}");
        assert!(err.contains("not a code of the list `sex`"), "{key}: {err}");
    }
}

#[test]
fn a_pipelines_own_sex_list_keeps_unknown_sex_visible() {
    let (dir, path) = pipeline("codelist = \"sexes.csv\"", "[[output]]\ndir = \"out\"");
    std::fs::write(
        dir.path().join("sexes.csv"),
        "code,label,synonyms\nF,Femme,femme|f\nM,Homme,homme|h\n_U,Inconnu,\n",
    )
    .unwrap();
    run(&path, 0);
    let t = parquet(&dir.path().join("out.restricted/tables/t.parquet"));
    // MAR has women and men only; SEN men and one missing: each gets F, M, _U and _T rows
    for nat in ["MAR", "SEN"] {
        assert_eq!(sexes(&t, nat), ["F", "M", "_T", "_U"], "{nat}");
    }
    assert!(t.column("pct_female").is_ok(), "{:?}", t.get_column_names());
}

#[test]
fn without_an_output_the_dataset_goes_beside_the_pipeline_file() {
    let (dir, path) = pipeline("codelist = \"sex\"", "");
    run(&path, 0);
    assert!(dir.path().join("out/p/tables/t.parquet").is_file());
    let above = dir.path().parent().unwrap().join("out/p");
    assert!(!above.exists(), "{} was written", above.display());
}

#[test]
fn check_lists_the_stages_in_the_order_they_run() {
    let out = marsad()
        .args(["check", "pipelines/unhcr_maroc.toml"])
        .current_dir(repo("."))
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("`{needle}` not in:\n{text}"))
    };
    // the AU region of the origin is derived from the harmonized origin, so after it
    assert!(at("harmonize `coo` -> `origin`") < at("derive `origin_au_region`"));
    assert!(at("unpivot") < at("harmonize `sex_code`"));
}

#[test]
fn a_usage_error_names_no_file_and_line() {
    let out = marsad()
        .args(["codes", "show", "gender", "F"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: unknown code list `gender`"),
        "{err}"
    );
    assert!(!err.contains(":0:0"), "{err}");
}

#[test]
fn pseudo_codes_are_accepted_for_any_list_and_the_total_for_none() {
    let (dir, path) = pipeline(
        "codelist = \"sexes.csv\"\nmissing = \"_U\"\nunknown = \"_O\"",
        "[[output]]\ndir = \"out\"",
    );
    std::fs::write(
        dir.path().join("sexes.csv"),
        "code,label,synonyms\nF,Femme,femme\nM,Homme,homme\n",
    )
    .unwrap();
    run(&path, 0);
    let (_dir, path) = pipeline("codelist = \"sex\"\nunknown = \"_T\"", "");
    let err = run(&path, 2);
    assert!(err.contains("counted twice"), "{err}");
}

#[test]
fn outputs_must_have_folders_of_their_own_and_the_name_no_path() {
    let (_dir, path) = pipeline(
        "codelist = \"sex\"",
        "[[output]]\nname = \"a\"\ndir = \"out\"\n[[output]]\nname = \"b\"\ndir = \"out.restricted\"",
    );
    let err = run(&path, 2);
    assert!(err.contains("give each output its own folder"), "{err}");
    let (_dir, path) = pipeline("codelist = \"sex\"", "");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("name = \"p\"", "name = \"../p\"")).unwrap();
    let err = run(&path, 2);
    assert!(err.contains("give a plain name"), "{err}");
}
