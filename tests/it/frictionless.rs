//! Where marsad and frictionless-py must agree, and where marsad must say more than a parser
//! would: NaN against bounds, non-finite numbers in what tables sum, blank lines, stray quotes.

use std::path::Path;

use crate::common::*;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `validate --schema` as JSON, with the exit code expected.
fn check(schema: &Path, file: &Path, code: i32) -> serde_json::Value {
    let out = outputs(
        marsad()
            .args(["-q", "validate", "--format", "json", "--schema"])
            .arg(schema)
            .arg(file),
        code,
    )
    .0;
    serde_json::from_str(&out).unwrap()
}

/// (line, column, rule) of every error.
fn findings(json: &serde_json::Value) -> Vec<(u64, String, String)> {
    let mut out: Vec<_> = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["column"].as_str().unwrap_or("").to_string(),
                e["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

const BOUNDED: &str = r#"{"fields": [
  {"name": "id", "type": "integer"},
  {"name": "w", "type": "number", "constraints": {"minimum": 0, "maximum": 10}}
]}"#;

#[test]
fn nan_meets_neither_bound() {
    let dir = tempfile::tempdir().unwrap();
    let schema = write(dir.path(), "schema.json", BOUNDED);
    let file = write(dir.path(), "f.csv", "id,w\n1,NaN\n2,5\n3,-1\n4,11\n");
    let json = check(&schema, &file, 4);
    let f = |line: u64, rule: &str| (line, "w".to_string(), rule.to_string());
    assert_eq!(
        findings(&json),
        vec![
            f(2, "maximum"),
            f(2, "minimum"),
            f(4, "minimum"),
            f(5, "maximum")
        ]
    );
}

/// A register whose `montant` a table sums, with values no sum can take.
fn amounts_pipeline(dir: &Path) -> std::path::PathBuf {
    let schema = write(
        dir,
        "schema.json",
        r#"{"fields": [
  {"name": "id", "type": "integer"},
  {"name": "sexe", "type": "string"},
  {"name": "montant", "type": "number"}
]}"#,
    );
    let rows = "id,sexe,montant\n1,F,10\n2,M,NaN\n3,F,INF\n4,M,-inf\n5,F,1e309\n6,M,2.5\n7,F,\n";
    let data = write(dir, "montants.csv", rows);
    let text = format!(
        r#"name = "montants"
max_rejected = 0.9

[[source]]
name = "m"
path = "{data}"
schema = "{schema}"

[[harmonize]]
source = "m"
column = "sexe"
codelist = "sex"
into = "sex"

[[table]]
name = "par_sexe"
source = "m"
dimensions = ["sex"]
measures = [{{ name = "montant", agg = "sum", column = "montant" }}]

[table.disclosure]
method = "none"
reason = "a test of non-finite numbers"

[[output]]
dir = "out"
"#,
        data = data.display(),
        schema = schema.display(),
    );
    write(dir, "pipeline.toml", &text)
}

#[test]
fn a_non_finite_amount_is_rejected_and_never_summed() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = amounts_pipeline(dir.path());
    marsad()
        .args(["-q", "run"])
        .arg(&pipeline)
        .assert()
        .success();
    let out = dir.path().join("out");
    let table = parquet(&out.join("tables/par_sexe.parquet"));
    let sums = numbers(&table, "montant");
    assert!(sums.iter().all(|v| v.is_finite()), "{table}");
    assert_eq!(cell(&table, &[("sex", "F")], "montant"), 10.0);
    assert_eq!(cell(&table, &[("sex", "M")], "montant"), 2.5);
    assert_eq!(cell(&table, &[("sex", "_T")], "montant"), 12.5);
    let rejected = csv_rows(&restricted(&out).join("quarantine/quarantine.csv"));
    let mut got: Vec<(String, String, String)> = rejected
        .iter()
        .map(|r| (r["line"].clone(), r["raw_value"].clone(), r["rule"].clone()))
        .collect();
    got.sort();
    let want: Vec<(String, String, String)> =
        [("3", "NaN"), ("4", "INF"), ("5", "-inf"), ("6", "1e309")]
            .iter()
            .map(|(l, v)| (l.to_string(), v.to_string(), "finite".to_string()))
            .collect();
    assert_eq!(got, want);
    let books = &manifest(&out)["sources"][0];
    assert_eq!(books["rows_in"], 7);
    assert_eq!(books["rows_rejected"], 4);
}

#[test]
fn a_sum_that_overflows_stops_the_run_instead_of_publishing_inf() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = amounts_pipeline(dir.path());
    write(
        dir.path(),
        "montants.csv",
        "id,sexe,montant\n1,F,1e308\n2,F,1e308\n3,M,1\n",
    );
    let (_, err) = outputs(marsad().args(["-q", "run"]).arg(&pipeline), 1);
    assert!(
        err.contains("table `par_sexe`: column `montant` holds inf"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists(), "nothing is published");
}

#[test]
fn empty_lines_are_blank_rows_in_the_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let schema = write(dir.path(), "schema.json", BOUNDED);
    // LF and CRLF files, an empty line after the last row, a line of delimiters only
    for (name, text) in [
        ("lf.csv", "id,w\n1,1\n\n2,2\n,\n3,3\n\n"),
        ("crlf.csv", "id,w\r\n1,1\r\n\r\n2,2\r\n,\r\n3,3\r\n\r\n"),
        ("quoted.csv", "id,w\n\"1\",1\n\n2,\"2\"\n,\n3,3\n\n"),
    ] {
        let file = write(dir.path(), name, text);
        let json = check(&schema, &file, 4);
        let blank = |line: u64| (line, String::new(), "blank-row".to_string());
        assert_eq!(
            findings(&json),
            vec![blank(3), blank(5), blank(7)],
            "{name}"
        );
        let books = &json["books"];
        assert_eq!(books["rows_in"], 6, "{name}");
        assert_eq!(books["rows_valid"], 3, "{name}");
        assert_eq!(books["rows_rejected"], 3, "{name}");
    }
}

/// The sample permit register with a quote typed by mistake before the nationality of line 100.
fn stray_quote_register(dir: &Path) -> std::path::PathBuf {
    let bytes = std::fs::read(repo("sample_data/permits/titres_sejour_2024.csv")).unwrap();
    let mut lines: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let line = &mut lines[99];
    let at = line.iter().position(|b| *b == b';').unwrap() + 1;
    line.insert(at, b'"');
    let path = dir.join("titres_sejour_2024.csv");
    std::fs::write(&path, lines.join(&b'\n')).unwrap();
    path
}

#[test]
fn a_stray_quote_that_swallows_lines_is_reported_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let file = stray_quote_register(dir.path());
    let out = outputs(
        marsad()
            .args(["-q", "validate", "--format", "json", "--schema"])
            .arg(repo("schemas/titres_sejour.json"))
            .arg(&file)
            .args(["--delimiter", ";"]),
        4,
    )
    .0;
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let books = &json["books"];
    let long = &books["long_records"][0];
    assert_eq!(long["line"], 100);
    let swallowed = books["swallowed_lines"].as_u64().unwrap();
    assert!(swallowed >= 900, "{books}");
    assert_eq!(long["lines"].as_u64().unwrap(), swallowed + 1);
    // the manifest tells physical lines from records
    let f = &books["files"][0];
    assert_eq!(f["lines"], 3001);
    assert_eq!(
        f["rows"].as_u64().unwrap() + swallowed + 1,
        3001,
        "records + swallowed lines + header = lines"
    );
    // in a pipeline, the lines count against max_rejected: the run stops instead of
    // publishing a register missing a third of its rows
    let pipeline = dir.path().join("pipeline.toml");
    let text = permit_source("titres_quote").replace(
        &repo("sample_data/permits/titres_sejour_2024.csv")
            .display()
            .to_string(),
        &file.display().to_string(),
    ) + "\n[[table]]\nname = \"t\"\nsource = \"titres\"\ndimensions = [\"sex\"]\nmeasures = [{ name = \"titres\", agg = \"count\" }]\n\n[table.disclosure]\nmethod = \"none\"\nreason = \"test\"\n\n[[output]]\ndir = \"out\"\n";
    std::fs::write(&pipeline, text).unwrap();
    let (_, err) = outputs(marsad().arg("run").arg(&pipeline), 4);
    assert!(err.contains("a quoted value runs over"), "{err}");
    assert!(err.contains("more than max_rejected"), "{err}");
    assert!(!dir.path().join("out").exists());
}

/// A schema of `id` (required) and `w`, with `fieldsMatch` when given.
fn matching_schema(dir: &Path, mode: Option<&str>) -> std::path::PathBuf {
    let fields_match = mode.map_or(String::new(), |m| format!(r#""fieldsMatch": "{m}", "#));
    let text = format!(
        r#"{{{fields_match}"fields": [
  {{"name": "id", "type": "integer", "constraints": {{"required": true}}}},
  {{"name": "w", "type": "number"}}
]}}"#
    );
    write(
        dir,
        &format!("schema-{}.json", mode.unwrap_or("none")),
        &text,
    )
}

/// What `validate --schema` makes of `text` under `mode`: the exit code and what it said.
fn matched(mode: Option<&str>, text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let schema = matching_schema(dir.path(), mode);
    let file = write(dir.path(), "f.csv", text);
    let out = marsad()
        .args(["-q", "validate", "--schema"])
        .arg(&schema)
        .arg(&file)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap(), said)
}

#[test]
fn fields_match_is_exact_by_default_as_table_schema_v2_says() {
    assert_eq!(matched(None, "id,w\n1,2\n").0, 0);
    let (code, said) = matched(None, "w,id\n2,1\n");
    assert_eq!(code, 3, "{said}");
    assert!(said.contains("incorrect-label: column 1 is `w`"), "{said}");
    assert!(said.contains(r#""fieldsMatch": "equal""#), "{said}");
    assert_eq!(matched(Some("exact"), "w,id\n2,1\n").0, 3);
}

#[test]
fn fields_match_equal_subset_superset_partial() {
    // equal: any order, nothing more or less
    assert_eq!(matched(Some("equal"), "w,id\n2,1\n").0, 0);
    assert_eq!(matched(Some("equal"), "w,id,x\n2,1,3\n").0, 3);
    // subset: every field, extra columns ignored
    assert_eq!(matched(Some("subset"), "x,w,id\n3,2,1\n").0, 0);
    let (code, said) = matched(Some("subset"), "x,w\n3,2\n");
    assert_eq!(code, 3);
    assert!(
        said.contains("missing-label: the schema field `id`"),
        "{said}"
    );
    // superset: only fields, maybe not all; an absent field reads as empty
    assert_eq!(matched(Some("superset"), "id\n1\n").0, 0);
    let (code, said) = matched(Some("superset"), "w\n2\n");
    assert_eq!(code, 4, "the required id is empty: {said}");
    assert!(said.contains("required"), "{said}");
    assert_eq!(matched(Some("superset"), "id,x\n1,3\n").0, 3);
    // partial: at least one field
    assert_eq!(matched(Some("partial"), "x,id\n3,1\n").0, 0);
    let (code, said) = matched(Some("partial"), "x,y\n3,1\n");
    assert_eq!(code, 3);
    assert!(said.contains("unmatched-header"), "{said}");
}

#[test]
fn a_row_with_too_few_or_too_many_fields_has_its_cells_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let schema = write(
        dir.path(),
        "schema.json",
        r#"{"fields": [
  {"name": "id", "type": "integer", "constraints": {"required": true}},
  {"name": "nom", "type": "string"},
  {"name": "age", "type": "integer", "constraints": {"required": true}}
]}"#,
    );
    let file = write(
        dir.path(),
        "f.csv",
        "id,nom,age\n1,A,30\n,B,x,extra\n2,C\n3,D,40\n",
    );
    let json = check(&schema, &file, 4);
    let f = |line: u64, column: &str, rule: &str| (line, column.to_string(), rule.to_string());
    // every reason of the long row; the short row's absent `age` is its missing cell, not a
    // second `required` finding
    assert_eq!(
        findings(&json),
        vec![
            f(3, "", "extra-cell"),
            f(3, "age", "type"),
            f(3, "id", "required"),
            f(4, "", "missing-cell"),
        ]
    );
    let books = &json["books"];
    assert_eq!(
        (
            books["rows_in"].as_u64(),
            books["rows_valid"].as_u64(),
            books["rows_rejected"].as_u64()
        ),
        (Some(4), Some(2), Some(2)),
        "{json}"
    );
}

/// Two ministries' files tied by a Table Schema `foreignKeys`: each enrolment names a school
/// of the other ministry's register.
fn tied_pipeline(dir: &Path, schools_first: bool) -> std::path::PathBuf {
    write(
        dir,
        "ecoles.json",
        r#"{"fields": [
  {"name": "code_ecole", "type": "integer", "constraints": {"required": true}},
  {"name": "nom", "type": "string", "constraints": {"required": true}}
], "primaryKey": "code_ecole"}"#,
    );
    write(
        dir,
        "inscriptions.json",
        r#"{"fields": [
  {"name": "id", "type": "integer"},
  {"name": "sexe", "type": "string"},
  {"name": "code_ecole", "type": "integer"}
], "foreignKeys": [{"fields": "code_ecole", "reference": {"resource": "ecoles", "fields": "code_ecole"}}]}"#,
    );
    // school 3 has no name: that row is rejected, so 3 is no known school
    write(
        dir,
        "ecoles.csv",
        "code_ecole,nom\n1,Ibn Sina\n02,Al Qods\n3,\n",
    );
    write(
        dir,
        "inscriptions.csv",
        "id,sexe,code_ecole\n1,F,1\n2,M,2\n3,F,3\n4,M,9\n5,F,\n",
    );
    let schools = r#"[[source]]
name = "ecoles"
path = "ecoles.csv"
schema = "ecoles.json"
"#;
    let enrolments = r#"[[source]]
name = "inscriptions"
path = "inscriptions.csv"
schema = "inscriptions.json"
"#;
    let (first, second) = if schools_first {
        (schools, enrolments)
    } else {
        (enrolments, schools)
    };
    let text = format!(
        r#"name = "inscriptions"
max_rejected = 0.9

{first}
{second}
[[harmonize]]
source = "inscriptions"
column = "sexe"
codelist = "sex"
into = "sex"

[[table]]
name = "par_sexe"
source = "inscriptions"
dimensions = ["sex"]
measures = [{{ name = "eleves", agg = "count" }}]

[table.disclosure]
method = "none"
reason = "a test of foreign keys"

[[output]]
dir = "out"
"#
    );
    write(dir, "pipeline.toml", &text)
}

#[test]
fn foreign_keys_tie_a_source_to_the_valid_keys_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = tied_pipeline(dir.path(), true);
    marsad()
        .args(["-q", "run"])
        .arg(&pipeline)
        .assert()
        .success();
    let out = dir.path().join("out");
    let q = csv_rows(&restricted(&out).join("quarantine/quarantine.csv"));
    let mut got: Vec<(String, String, String, String)> = q
        .iter()
        .map(|r| {
            let get = |k: &str| r[k].clone();
            (get("source"), get("line"), get("rule"), get("raw_value"))
        })
        .collect();
    got.sort();
    let row = |s: &str, l: &str, rule: &str, raw: &str| {
        (
            s.to_string(),
            l.to_string(),
            rule.to_string(),
            raw.to_string(),
        )
    };
    // 02 is the school 2 (keys compare as their type reads them); 3 was rejected in its own
    // file, 9 is no school; a blank key is not checked
    assert_eq!(
        got,
        vec![
            row("ecoles", "4", "required", ""),
            row("inscriptions", "4", "foreignKey", "3"),
            row("inscriptions", "5", "foreignKey", "9"),
        ]
    );
    let table = parquet(&out.join("tables/par_sexe.parquet"));
    assert_eq!(cell(&table, &[("sex", "_T")], "eleves"), 3.0, "{table}");
    let m = manifest(&out);
    assert_eq!(m["sources"][1]["rows_rejected"], 2);
}

#[test]
fn a_foreign_key_to_a_source_read_later_or_unknown_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = tied_pipeline(dir.path(), false);
    let err = outputs(marsad().args(["-q", "run"]).arg(&pipeline), 2).1;
    assert!(
        err.contains("declare [[source]] `ecoles` before it"),
        "{err}"
    );
    let text = std::fs::read_to_string(&pipeline).unwrap();
    write(
        dir.path(),
        "inscriptions.json",
        &std::fs::read_to_string(dir.path().join("inscriptions.json"))
            .unwrap()
            .replace("\"resource\": \"ecoles\"", "\"resource\": \"ecole\""),
    );
    std::fs::write(&pipeline, text).unwrap();
    let err = outputs(marsad().args(["-q", "run"]).arg(&pipeline), 2).1;
    assert!(
        err.contains("the resource `ecole`, which is no source"),
        "{err}"
    );
}

#[test]
fn foreign_keys_may_reference_a_code_list_embedded_or_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "residents.json",
        r#"{"fields": [
  {"name": "id", "type": "integer"},
  {"name": "sexe", "type": "string"},
  {"name": "pays", "type": "string"},
  {"name": "region", "type": "string"}
], "foreignKeys": [
  {"fields": "pays", "reference": {"resource": "country", "fields": "code"}},
  {"fields": "region", "reference": {"resource": "regions.csv", "fields": "code"}}
]}"#,
    );
    write(
        dir.path(),
        "regions.csv",
        "code,label,synonyms\nMA-06,Casablanca-Settat,\nMA-04,L'Oriental,\n",
    );
    write(
        dir.path(),
        "residents.csv",
        "id,sexe,pays,region\n1,F,SEN,MA-06\n2,M,Senegal,MA-04\n3,F,MLI,MA-99\n4,M,,MA-06\n",
    );
    let pipeline = write(
        dir.path(),
        "pipeline.toml",
        r#"name = "residents"
max_rejected = 0.9

[[source]]
name = "residents"
path = "residents.csv"
schema = "residents.json"

[[harmonize]]
source = "residents"
column = "sexe"
codelist = "sex"
into = "sex"

[[table]]
name = "par_sexe"
source = "residents"
dimensions = ["sex"]
measures = [{ name = "residents", agg = "count" }]

[table.disclosure]
method = "none"
reason = "a test of foreign keys to code lists"

[[output]]
dir = "out"
"#,
    );
    marsad()
        .args(["-q", "run"])
        .arg(&pipeline)
        .assert()
        .success();
    let out = dir.path().join("out");
    let q = csv_rows(&restricted(&out).join("quarantine/quarantine.csv"));
    let mut got: Vec<(String, String, String)> = q
        .iter()
        .map(|r| {
            (
                r["line"].clone(),
                r["column"].clone(),
                r["raw_value"].clone(),
            )
        })
        .collect();
    got.sort();
    let row = |l: &str, c: &str, v: &str| (l.to_string(), c.to_string(), v.to_string());
    // a name is no ISO code; MA-99 is in no list; a blank country is not checked
    assert_eq!(
        got,
        vec![row("3", "pays", "Senegal"), row("4", "region", "MA-99")]
    );
    let table = parquet(&out.join("tables/par_sexe.parquet"));
    assert_eq!(cell(&table, &[("sex", "_T")], "residents"), 2.0, "{table}");
}
