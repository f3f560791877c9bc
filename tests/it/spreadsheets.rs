//! Spreadsheets as ministries export them: the sheet chosen by name, a title above the header,
//! Excel dates, merged cells, a total row and formatted empty rows at the bottom.

use std::path::Path;

use crate::common::*;

fn workbook() -> std::path::PathBuf {
    real_data("spreadsheets/titres.xlsx")
}

fn schema() -> std::path::PathBuf {
    real_data("spreadsheets/titres.schema.json")
}

fn pipeline(dir: &Path, dialect: &str) -> std::path::PathBuf {
    pipeline_of(dir, &workbook(), dialect)
}

fn pipeline_of(dir: &Path, workbook: &Path, dialect: &str) -> std::path::PathBuf {
    let mut text = titres_source("titres_xlsx", 0.5, workbook, &schema(), dialect);
    text.push_str(&counted_table(
        "par_sexe",
        r#"["sex", "region"]"#,
        r#"["region"]"#,
        "a test of spreadsheets",
    ));
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_sheet_is_read_like_a_csv_and_its_bad_cells_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), "sheet_name = \"Titres\"\nheader_row = 3");
    marsad().args(["-q", "run"]).arg(&p).assert().success();
    let out = dir.path().join("out");
    let m = manifest(&out);
    let source = &m["sources"][0];
    assert_eq!(
        (
            &source["rows_in"],
            &source["rows_valid"],
            &source["rows_rejected"]
        ),
        (&7.into(), &5.into(), &2.into()),
        "the six rows and the total row; the formatted empty rows below are no rows"
    );
    assert_eq!(source["files"][0]["sheet"], "Titres");
    let q = csv_rows(&restricted(&out).join("quarantine/quarantine.csv"));
    let mut got: Vec<(String, String, String, String)> = q
        .iter()
        .map(|r| {
            let get = |k: &str| r[k].clone();
            (get("line"), get("cell"), get("rule"), get("raw_value"))
        })
        .collect();
    got.sort();
    let row = |line: &str, cell: &str, rule: &str, raw: &str| {
        (
            line.to_string(),
            cell.to_string(),
            rule.to_string(),
            raw.to_string(),
        )
    };
    assert_eq!(
        got,
        vec![
            row("10", "Titres!A10", "pattern", "Total"),
            row("10", "Titres!B10", "required", ""),
            row("10", "Titres!D10", "required", ""),
            row("10", "Titres!E10", "required", ""),
            row("7", "Titres!D7", "type", "19x5"),
        ]
    );
    // the merged region cell counts for the three rows it covers; Excel dates were read as
    // dates (a wrong date would have been rejected)
    let table = parquet(&out.join("tables/par_sexe.parquet"));
    let casa = cell(
        &table,
        &[("sex", "_T"), ("region", "Casablanca-Settat")],
        "titres",
    );
    assert_eq!(casa, 3.0, "{table}");
    assert_eq!(
        cell(&table, &[("sex", "_T"), ("region", "_T")], "titres"),
        5.0
    );
    assert_eq!(
        cell(&table, &[("sex", "_U"), ("region", "_T")], "titres"),
        1.0
    );
}

#[test]
fn the_sheet_and_the_header_can_be_given_by_position_and_range() {
    let dir = tempfile::tempdir().unwrap();
    // the second sheet, the table's cells from its header to the total row
    let p = pipeline(dir.path(), "sheet_number = 2\ncell_range = \"A3:G10\"");
    marsad().args(["-q", "run"]).arg(&p).assert().success();
    let m = manifest(&dir.path().join("out"));
    assert_eq!(m["sources"][0]["rows_in"], 7);
    assert_eq!(m["sources"][0]["rows_valid"], 5);
    // the first sheet holds notes, not the register: its header does not match
    let p = pipeline(dir.path(), "skip_lines = 1");
    let err = outputs(marsad().args(["-q", "run"]).arg(&p), 3).1;
    assert!(err.contains("missing-label"), "{err}");
    // a sheet that is not there is named with the sheets there are
    let p = pipeline(dir.path(), "sheet_name = \"Titre\"");
    let err = outputs(marsad().args(["-q", "run"]).arg(&p), 3).1;
    assert!(err.contains("no sheet `Titre`"), "{err}");
    assert!(err.contains("`Notes`, `Titres`, `Résumé`"), "{err}");
    let p = pipeline(dir.path(), "cell_range = \"G10:A3\"");
    let err = outputs(marsad().args(["-q", "run"]).arg(&p), 2).1;
    assert!(err.contains("cell_range"), "{err}");
}

#[test]
fn a_ministry_checks_a_workbook_with_validate_schema() {
    let out = outputs(
        marsad()
            .args(["-q", "validate", "--schema"])
            .arg(schema())
            .arg(workbook())
            .args(["--sheet", "Titres", "--skip-lines", "2"]),
        4,
    )
    .0;
    assert!(out.contains("read from sheet `Titres`, 7 rows"), "{out}");
    assert!(
        out.contains("line 7 (Titres!D7), annee_naissance, `19x5`"),
        "{out}"
    );
}

#[test]
fn an_opendocument_sheet_reads_like_the_excel_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = outputs(
        marsad()
            .args(["-q", "validate", "--format", "json", "--schema"])
            .arg(schema())
            .arg(real_data("spreadsheets/titres.ods"))
            .args(["--sheet", "Titres", "--skip-lines", "2"])
            .arg("--output")
            .arg(dir.path().join("v")),
        4,
    )
    .0;
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    // the six rows (no total row in this one); its dates are ISO text read in the field's format
    assert_eq!(json["books"]["rows_in"], 6, "{json}");
    assert_eq!(json["books"]["rows_valid"], 5, "{json}");
    let errors = json["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{json}");
    assert_eq!(errors[0]["cell"], "Titres!D7");
    assert_eq!(errors[0]["raw_value"], "19x5");
    // rows 1 and 2 are empty: with no rows to skip, the first row holding a value is the header
    let out = outputs(
        marsad()
            .args(["-q", "validate", "--format", "json", "--schema"])
            .arg(schema())
            .arg(real_data("spreadsheets/titres.ods"))
            .args(["--sheet", "Titres"]),
        4,
    )
    .0;
    let again: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(again["errors"], json["errors"]);
}

#[test]
fn an_excel_97_workbook_reads_like_the_xlsx_one() {
    let dir = tempfile::tempdir().unwrap();
    let xls = real_data("spreadsheets/titres.xls");
    let p = pipeline_of(dir.path(), &xls, "sheet_name = \"Titres\"\nheader_row = 3");
    marsad().args(["-q", "run"]).arg(&p).assert().success();
    let out = dir.path().join("out");
    let m = manifest(&out);
    // the six rows (no total row in this one): its dates and the merged region read as in xlsx
    assert_eq!(m["sources"][0]["rows_in"], 6, "{m}");
    assert_eq!(m["sources"][0]["rows_valid"], 5, "{m}");
    let table = parquet(&out.join("tables/par_sexe.parquet"));
    let casa = cell(
        &table,
        &[("sex", "_T"), ("region", "Casablanca-Settat")],
        "titres",
    );
    assert_eq!(casa, 3.0, "{table}");
    let q = csv_rows(&restricted(&out).join("quarantine/quarantine.csv"));
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["cell"], "Titres!D7");
}

#[test]
fn a_csv_file_named_as_a_workbook_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("titres.xlsx");
    std::fs::write(&fake, "id_titre,sexe\nTS00000001,F\n").unwrap();
    let err = outputs(
        marsad()
            .args(["-q", "validate", "--schema"])
            .arg(schema())
            .arg(&fake),
        3,
    )
    .1;
    assert!(err.contains("does not open as one"), "{err}");
    assert!(err.contains("give it a .csv name"), "{err}");
}
