//! The other commands: check, validate, inspect, and the log format for schedulers.

use crate::common::*;

#[test]
fn check_reports_the_resolved_plan_without_reading_data() {
    let out = outputs(
        marsad()
            .current_dir(repo(""))
            .args(["check", "pipelines/titres_sejour.toml"]),
        0,
    )
    .0;
    insta::assert_snapshot!(out);
}

#[test]
fn validate_writes_the_quarantine_and_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = outputs(
        marsad()
            .args(["-q", "validate"])
            .arg(repo("pipelines/titres_sejour.toml"))
            .arg("--output")
            .arg(dir.path().join("v")),
        0,
    )
    .0;
    let text = out;
    assert!(
        text.contains("rows in: 3000, valid: 2970, rejected: 30"),
        "{text}"
    );
    assert!(
        text.contains("| codelist:country | nationalite | 7 |"),
        "{text}"
    );
    let q = csv_rows(&dir.path().join("v/quarantine/quarantine.csv"));
    let rows: std::collections::BTreeSet<&str> = q.iter().map(|r| r["line"].as_str()).collect();
    assert_eq!(rows.len(), 30);
    assert_eq!(q.len(), 38, "a short row's shifted cells are reported too");
    assert!(!dir.path().join("v/tables").exists());
    assert_eq!(manifest(&dir.path().join("v"))["status"], "validated");
}

#[test]
fn inspect_shows_schema_metadata_and_rows() {
    let out = run_pipeline("undesa_maroc", &[]);
    let text = outputs(
        marsad()
            .arg("inspect")
            .arg(out.path().join("tables/stock_vers_maroc.parquet"))
            .args(["--rows", "3"]),
        0,
    )
    .0;
    assert!(text.contains("rows: 560"), "{text}");
    assert!(text.contains("marsad.pipeline: undesa_maroc"), "{text}");
    assert!(text.contains("migrants: i64"), "{text}");
    assert!(text.contains("first 3 rows"), "{text}");
    let err = outputs(marsad().arg("inspect").arg(repo("Cargo.toml")), 3).1;
    assert!(err.contains("not a readable Parquet file"));
}

#[test]
fn json_logs_for_schedulers() {
    let dir = tempfile::tempdir().unwrap();
    let out = outputs(
        marsad()
            .args(["--log-format", "json", "run"])
            .arg(repo("pipelines/undesa_maroc.toml"))
            .arg("--output")
            .arg(dir.path()),
        0,
    )
    .1;
    let text = out;
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    assert!(lines
        .iter()
        .any(|l| l["fields"]["message"] == "validated" && l["fields"]["rows_in"] == 150570));
}

#[test]
fn bad_arguments_are_explained() {
    let err = outputs(marsad().args(["run", "x.toml", "--input", "nopath"]), 2).1;
    assert!(err.contains("NAME=PATH"));
    let err = outputs(
        marsad()
            .arg("run")
            .arg(repo("pipelines/titres_sejour.toml"))
            .args(["--input", "nosuchsource=x.csv"]),
        2,
    )
    .1;
    assert!(err.contains("does not declare"));
}
