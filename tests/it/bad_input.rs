//! Bad input gives a clear error or a quarantine entry, never a panic.

use std::path::PathBuf;

use crate::common::*;

const SCHEMA: &str = r#"{"fields": [
  {"name": "id", "type": "string", "constraints": {"required": true, "unique": true}},
  {"name": "sexe", "type": "string"},
  {"name": "n", "type": "integer", "constraints": {"minimum": 0}}
]}"#;

pub(crate) struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A small pipeline over `data.csv` with the given dialect lines.
    pub(crate) fn new(dialect: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("schema.json"), SCHEMA).unwrap();
        let pipeline = format!(
            r#"name = "mini"
max_rejected = 1.0

[[source]]
name = "data"
path = "data.csv"
schema = "schema.json"

[source.dialect]
{dialect}

[[harmonize]]
source = "data"
column = "sexe"
codelist = "sex"
into = "sex"

[[table]]
name = "t"
source = "data"
dimensions = ["sex"]
measures = [{{ name = "n", agg = "count" }}]

[[output]]
dir = "out"
"#
        );
        std::fs::write(dir.path().join("pipeline.toml"), pipeline).unwrap();
        Fixture { dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn data(&self, bytes: &[u8]) -> &Self {
        std::fs::write(self.path("data.csv"), bytes).unwrap();
        self
    }

    pub(crate) fn pipeline(&self, text: &str) -> &Self {
        std::fs::write(self.path("pipeline.toml"), text).unwrap();
        self
    }

    pub(crate) fn run(&self) -> assert_cmd::assert::Assert {
        marsad()
            .args(["-q", "run"])
            .arg(self.path("pipeline.toml"))
            .assert()
    }

    /// The same run with chunks of a few bytes, so that every record starts a chunk.
    fn run_in_tiny_chunks(&self) -> assert_cmd::assert::Assert {
        marsad()
            .env("MARSAD_CHUNK_BYTES", "1")
            .args(["-q", "run"])
            .arg(self.path("pipeline.toml"))
            .assert()
    }

    /// The quarantine, from the restricted folder: rejected rows carry raw values, so they are
    /// never written into the publishable folder.
    fn quarantine(&self) -> Vec<std::collections::HashMap<String, String>> {
        assert!(
            !self.path("out/quarantine").exists(),
            "the quarantine is in the publishable folder"
        );
        csv_rows(&self.path("out.restricted/quarantine/quarantine.csv"))
    }

    /// Table `t` as computed (restricted folder), before disclosure control hides small cells.
    fn computed(&self) -> polars::prelude::DataFrame {
        parquet(&self.path("out.restricted/tables/t.parquet"))
    }

    pub(crate) fn stderr(&self, code: i32) -> String {
        let out = self.run().code(code).get_output().clone();
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!text.contains("panicked"), "{text}");
        text
    }
}

fn rules(q: &[std::collections::HashMap<String, String>]) -> Vec<String> {
    q.iter()
        .map(|r| format!("{} {} {}", r["line"], r["rule"], r["column"]))
        .collect()
}

#[test]
fn ragged_blank_and_unterminated_rows_are_quarantined_with_their_lines() {
    let f = Fixture::new(r#"delimiter = ";""#);
    f.data(b"id;sexe;n\na1;F;1\na2;M\na3;F;3;extra\n;;\na4;\"F\nM\";4\na5;H;5\na6;F;\"6\n")
        .run()
        .success();
    let q = f.quarantine();
    assert_eq!(
        rules(&q),
        vec![
            "3 missing-cell ",
            "4 extra-cell ",
            "5 blank-row ",
            "6 codelist:sex sexe",
            "9 unterminated-quote "
        ]
    );
    // line 6 holds a quoted field with an embedded newline; the row after it is on line 8
    let m = manifest(&f.path("out"));
    assert_eq!(m["sources"][0]["rows_in"], 7);
    assert_eq!(m["sources"][0]["rows_valid"], 2);
    assert_eq!(m["sources"][0]["rows_rejected"], 5);
    // the same with a chunk boundary at every record, quoted newline included
    f.run_in_tiny_chunks().success();
    assert_eq!(rules(&f.quarantine()), rules(&q));
    assert_eq!(manifest(&f.path("out"))["sources"][0]["rows_valid"], 2);
}

#[test]
fn invalid_utf8_in_a_file_declared_utf8_names_the_line() {
    let f = Fixture::new("delimiter = \";\"\nencoding = \"utf-8\"");
    f.data(b"id;sexe;n\na1;F;1\na2;F\xe9minin;2\n");
    let err = f.stderr(3);
    assert!(err.contains("data.csv:3:"), "{err}");
    assert!(err.contains("not valid UTF-8"), "{err}");
    assert!(err.contains("windows-1252"), "{err}");
}

#[test]
fn windows_1252_bom_crlf_and_tabs_are_read() {
    let f = Fixture::new("delimiter = \"\\t\"\nencoding = \"auto\"");
    f.data(b"id\tsexe\tn\r\na1\tF\xe9minin\t1\r\na2\tHomme\t2\r\n")
        .run()
        .success();
    let t = f.computed();
    assert_eq!(cell(&t, &[("sex", "F")], "n"), 1.0);
    assert_eq!(cell(&t, &[("sex", "M")], "n"), 1.0);
    // one record per sex is below the threshold: published empty and flagged confidential
    let published = parquet(&f.path("out/tables/t.parquet"));
    for sex in ["F", "M"] {
        let row = filter(&published, &[("sex", sex)]);
        assert!(numbers(&row, "n")[0].is_nan(), "{sex} is published");
        assert_eq!(strings(&row, "conf_status"), ["C"]);
        assert_eq!(strings(&row, "obs_status"), ["Q"]);
    }
    let g = Fixture::new("delimiter = \",\"\nencoding = \"utf-8\"");
    g.data("\u{feff}id,sexe,n\r\na1,أنثى,1\r\n".as_bytes())
        .run()
        .success();
    let t = g.computed();
    assert_eq!(cell(&t, &[("sex", "F")], "n"), 1.0);
}

#[test]
fn preamble_lines_are_skipped_and_lines_still_count_from_the_file_start() {
    let f = Fixture::new("delimiter = \",\"\nskip_lines = 3");
    f.data(b"Extracted from somewhere,,\nDate: 2015,,\n,,\nid,sexe,n\na1,F,1\na2,F,-1\n")
        .run()
        .success();
    assert_eq!(rules(&f.quarantine()), vec!["6 minimum n"]);
}

#[test]
fn empty_file_is_an_error() {
    let f = Fixture::new(r#"delimiter = ";""#);
    f.data(b"");
    let err = f.stderr(3);
    assert!(err.contains("data.csv:1:"), "{err}");
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn header_only_file_gives_empty_but_complete_tables() {
    let f = Fixture::new(r#"delimiter = ";""#);
    f.data(b"id;sexe;n\n").run().success();
    let m = manifest(&f.path("out"));
    assert_eq!(m["sources"][0]["rows_in"], 0);
    let t = parquet(&f.path("out/tables/t.parquet"));
    assert_eq!(strings(&t, "sex"), vec!["F", "M", "_T", "_U"]);
    assert!(numbers(&t, "n").iter().all(|n| *n == 0.0));
    // an empty cell has no contributor to protect: published as zero
    assert!(strings(&t, "conf_status").iter().all(|c| c == "F"));
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let f = Fixture::new(r#"delimiter = ";""#);
    let err = f.stderr(3);
    assert!(err.contains("data.csv"), "{err}");
    assert!(err.contains("cannot read"), "{err}");
    let err = String::from_utf8_lossy(
        &marsad()
            .args(["run"])
            .arg(f.path("pipeline.toml"))
            .args(["--input", "data=/nonexistent/file.csv"])
            .assert()
            .code(3)
            .get_output()
            .stderr,
    )
    .into_owned();
    assert!(err.contains("/nonexistent/file.csv"), "{err}");
}

#[test]
fn header_that_does_not_match_the_schema_lists_the_columns() {
    let f = Fixture::new(r#"delimiter = ";""#);
    f.data(b"id;sex;n;n;\na1;F;1;1;\n");
    let err = f.stderr(3);
    for expected in [
        "extra-label: `sex`",
        "missing-label: the schema field `sexe`",
        "duplicate-label: `n`",
        "blank-label: column 5",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in {err}");
    }
}

#[test]
fn unknown_toml_key_points_at_the_line() {
    let f = Fixture::new(r#"delimiter = ";""#);
    f.data(b"id;sexe;n\n");
    let text = std::fs::read_to_string(f.path("pipeline.toml")).unwrap();
    f.pipeline(&text.replace(
        "max_rejected = 1.0",
        "max_rejected = 1.0\nmax_rejeted = 0.1",
    ));
    let err = f.stderr(2);
    assert!(err.contains("pipeline.toml:3:1"), "{err}");
    assert!(err.contains("max_rejeted"), "{err}");
}

#[test]
fn wrong_types_and_undefined_references_point_at_the_line() {
    let f = Fixture::new(r#"delimiter = ";""#);
    f.data(b"id;sexe;n\n");
    let text = std::fs::read_to_string(f.path("pipeline.toml")).unwrap();
    f.pipeline(&text.replace("max_rejected = 1.0", "max_rejected = \"high\""));
    let err = f.stderr(2);
    assert!(err.contains("pipeline.toml:2:"), "{err}");
    // the key, and what it takes in a statistician's words, not a Rust type
    assert!(err.contains("`max_rejected` takes a share"), "{err}");
    assert!(err.contains("0.05"), "{err}");
    assert!(!err.contains("f64"), "{err}");
    f.pipeline(&text.replace(r#"dimensions = ["sex"]"#, r#"dimensions = ["sexx"]"#));
    let err = f.stderr(2);
    assert!(err.contains("pipeline.toml:21:"), "{err}");
    assert!(err.contains("no column `sexx`"), "{err}");
    f.pipeline(&text.replace(r#"codelist = "sex""#, r#"codelist = "gender""#));
    let err = f.stderr(2);
    assert!(err.contains("pipeline.toml:15:"), "{err}");
    assert!(err.contains("unknown code list `gender`"), "{err}");
    f.pipeline(&text.replace("source = \"data\"\ncolumn", "source = \"dta\"\ncolumn"));
    let err = f.stderr(2);
    assert!(err.contains("no [[source]] is named `dta`"), "{err}");
}

#[test]
fn too_many_rejections_fail_the_run_and_keep_the_last_good_dataset() {
    let f = Fixture::new(r#"delimiter = ";""#);
    f.data(b"id;sexe;n\na1;F;1\na2;M;2\n").run().success();
    let good = std::fs::read(f.path("out/tables/t.parquet")).unwrap();
    let good_computed = std::fs::read(f.path("out.restricted/tables/t.parquet")).unwrap();
    let text = std::fs::read_to_string(f.path("pipeline.toml")).unwrap();
    f.pipeline(&text.replace("max_rejected = 1.0", "max_rejected = 0.1"));
    f.data(b"id;sexe;n\na1;F;1\na2;X;2\n");
    let err = f.stderr(4);
    assert!(err.contains("1 of 2 rows rejected"), "{err}");
    // the published dataset is untouched; the rejected run's quarantine sits beside it
    assert_eq!(std::fs::read(f.path("out/tables/t.parquet")).unwrap(), good);
    assert_eq!(
        std::fs::read(f.path("out.restricted/tables/t.parquet")).unwrap(),
        good_computed
    );
    let q = csv_rows(&f.path("out.rejected/quarantine/quarantine.csv"));
    assert_eq!(rules(&q), vec!["3 codelist:sex sexe"]);
    assert_eq!(manifest(&f.path("out.rejected"))["status"], "rejected");
    assert!(!f.path("out.rejected/tables").exists());
    // nothing half-written is left behind
    let leftovers: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn numeric_sex_codes_only_when_the_pipeline_declares_them() {
    let f = Fixture::new(r#"delimiter = ";""#);
    f.data(b"id;sexe;n\na1;1;1\na2;2;2\n").run().success();
    assert_eq!(
        rules(&f.quarantine()),
        vec!["2 codelist:sex sexe", "3 codelist:sex sexe"]
    );
    let text = std::fs::read_to_string(f.path("pipeline.toml")).unwrap();
    f.pipeline(&text.replace(
        "into = \"sex\"",
        "into = \"sex\"\nextra = { \"1\" = \"M\", \"2\" = \"F\" }",
    ));
    f.run().success();
    assert!(f.quarantine().is_empty());
    let t = f.computed();
    assert_eq!(cell(&t, &[("sex", "M")], "n"), 1.0);
}

#[test]
fn unknown_values_can_be_kept_as_unknown() {
    let f = Fixture::new(r#"delimiter = ";""#);
    let text = std::fs::read_to_string(f.path("pipeline.toml")).unwrap();
    f.pipeline(&text.replace("into = \"sex\"", "into = \"sex\"\nunknown = \"_U\""));
    f.data(b"id;sexe;n\na1;X;1\na2;F;2\n").run().success();
    assert!(f.quarantine().is_empty());
    let t = f.computed();
    assert_eq!(cell(&t, &[("sex", "_U")], "n"), 1.0);
    // raw values are in the restricted books only
    let m = manifest(&f.path("out.restricted"));
    assert_eq!(m["sources"][0]["unmapped"][0]["raw_value"], "X");
    assert_eq!(m["sources"][0]["unmapped"][0]["given"], "_U");
}

#[test]
fn a_broken_schema_is_a_configuration_error() {
    let f = Fixture::new(r#"delimiter = ";""#);
    f.data(b"id;sexe;n\n");
    std::fs::write(
        f.path("schema.json"),
        "{\"fields\": [{\"name\": \"id\", \"type\": \"datetime\"}]}",
    )
    .unwrap();
    let err = f.stderr(2);
    assert!(err.contains("schema.json"), "{err}");
    assert!(err.contains("datetime"), "{err}");
    std::fs::write(f.path("schema.json"), "{\"fields\": [").unwrap();
    let err = f.stderr(2);
    assert!(err.contains("schema.json"), "{err}");
}

#[test]
fn a_glob_reads_every_file_and_the_quarantine_names_the_right_one() {
    let f = Fixture::new("delimiter = \";\"\nheader = false");
    let text = std::fs::read_to_string(f.path("pipeline.toml")).unwrap();
    f.pipeline(&text.replace("path = \"data.csv\"", "path = \"data_*.csv\""));
    std::fs::write(f.path("data_2024_01.csv"), b"a1;F;1\na2;M;2\n").unwrap();
    std::fs::write(f.path("data_2024_02.csv"), b"b1;F;1\nb2;F;-5\nb3;M\n").unwrap();
    f.run().success();
    let q = f.quarantine();
    assert_eq!(rules(&q), vec!["2 minimum n", "3 missing-cell "]);
    assert!(
        q.iter().all(|r| r["file"].ends_with("data_2024_02.csv")),
        "{q:?}"
    );
    let m = manifest(&f.path("out"));
    assert_eq!(m["sources"][0]["files"].as_array().unwrap().len(), 2);
    assert_eq!(m["sources"][0]["rows_in"], 5);
    assert_eq!(m["sources"][0]["rows_valid"], 3);
    let t = f.computed();
    assert_eq!(cell(&t, &[("sex", "F")], "n"), 2.0);
    assert_eq!(cell(&t, &[("sex", "_T")], "n"), 3.0);
}

#[test]
fn a_glob_that_matches_nothing_points_at_the_pipeline_line() {
    let f = Fixture::new(r#"delimiter = ";""#);
    let text = std::fs::read_to_string(f.path("pipeline.toml")).unwrap();
    f.pipeline(&text.replace("path = \"data.csv\"", "path = \"nothing_*.csv\""));
    // a missing input, as a missing file is: exit 3 (the README's code for inputs)
    let err = f.stderr(3);
    assert!(err.contains("pipeline.toml:6:"), "{err}");
    assert!(err.contains("no file matches"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn close_misspellings_are_suggested_and_only_fuzzy_matched_when_allowed() {
    let f = Fixture::new(r#"delimiter = ";""#);
    f.data(b"id;sexe;n\na1;Femmme;1\na2;Hommme;2\n")
        .run()
        .success();
    assert_eq!(
        rules(&f.quarantine()),
        vec!["2 codelist:sex sexe", "3 codelist:sex sexe"]
    );
    let report = std::fs::read_to_string(f.path("out.restricted/report.md")).unwrap();
    assert!(
        report.contains("`femme` (F, distance 1)") || report.contains("`Femme` (F, distance 1)"),
        "{report}"
    );
    let text = std::fs::read_to_string(f.path("pipeline.toml")).unwrap();
    f.pipeline(&text.replace("into = \"sex\"", "into = \"sex\"\nfuzzy = 1"));
    f.run().success();
    assert!(f.quarantine().is_empty());
    let m = manifest(&f.path("out.restricted"));
    assert_eq!(m["sources"][0]["unmapped"][0]["given"], "F");
}

#[test]
fn a_total_row_in_the_data_is_rejected_not_counted_twice() {
    let f = Fixture::new(r#"delimiter = ";""#);
    f.data(b"id;sexe;n\na1;F;1\nall;Total;1\n").run().success();
    let q = f.quarantine();
    assert_eq!(rules(&q), vec!["3 codelist:sex sexe"]);
    assert!(q[0]["message"].contains("total row"), "{q:?}");
}

#[test]
fn an_unpivoted_row_is_published_or_quarantined_whole() {
    // Each input row becomes three long rows; the `x_` column's sex code maps to nothing, and
    // on row 3 only that long row fails: the whole input row must go, never two thirds of it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.json"),
        r#"{"fields": [{"name": "id"}, {"name": "f_a", "type": "integer"}, {"name": "m_a", "type": "integer"}, {"name": "x_a", "type": "integer"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("d.csv"),
        "id,f_a,m_a,x_a\nr1,1,2,0\nr2,3,4,5\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        r#"name = "wide"
max_rejected = 1.0

[[source]]
name = "d"
path = "d.csv"
schema = "s.json"

[[unpivot]]
source = "d"
columns = ["f_a", "m_a", "x_a"]
pattern = "^(?P<code>[fmx])_(?P<band>.+)$"
value = "n"

[[harmonize]]
source = "d"
column = "code"
codelist = "sex"
into = "sex"
extra = { x = "_O" }

[[check]]
source = "d"
name = "no_fives"
expr = "n <> 5 OR sex <> '_O'"

[[table]]
name = "t"
source = "d"
dimensions = ["sex"]
measures = [{ name = "n", agg = "sum", column = "n" }]

[[output]]
dir = "out"
"#,
    )
    .unwrap();
    marsad()
        .args(["-q", "run"])
        .arg(dir.path().join("p.toml"))
        .assert()
        .success();
    let m = manifest(&dir.path().join("out"));
    assert_eq!(m["sources"][0]["rows_in"], 2);
    assert_eq!(m["sources"][0]["rows_valid"], 1);
    assert_eq!(m["sources"][0]["rows_rejected"], 1);
    assert_eq!(m["sources"][0]["conserved"], true);
    let t = parquet(&dir.path().join("out.restricted/tables/t.parquet"));
    // only r1 is counted: F 1, M 2, _O (other) 0
    assert_eq!(cell(&t, &[("sex", "F")], "n"), 1.0);
    assert_eq!(cell(&t, &[("sex", "M")], "n"), 2.0);
    assert_eq!(cell(&t, &[("sex", "_T")], "n"), 3.0);
}

/// A run with windows of a few records (chunks of 16 bytes, eight to a window).
fn run_in_small_windows(f: &Fixture) -> assert_cmd::assert::Assert {
    marsad()
        .env("MARSAD_CHUNK_BYTES", "16")
        .args(["-q", "run"])
        .arg(f.path("pipeline.toml"))
        .assert()
}

#[test]
fn a_key_repeated_in_distant_windows_rejects_every_occurrence() {
    // 400 rows in windows of a few rows: the first and the last share an id, so the repeat is
    // only known after every window was read, and the source is read a second time.
    let f = Fixture::new(r#"delimiter = ";""#);
    let mut data = String::from("id;sexe;n\n");
    for i in 0..400 {
        let id = if i == 399 {
            "r0".to_string()
        } else {
            format!("r{i}")
        };
        data.push_str(&format!(
            "{id};{};{i}\n",
            if i % 2 == 0 { "F" } else { "M" }
        ));
    }
    data.push_str("r150;F;1\n");
    f.data(data.as_bytes());
    run_in_small_windows(&f).success();
    let q = f.quarantine();
    assert_eq!(
        rules(&q),
        vec![
            "2 unique id",
            "152 unique id",
            "401 unique id",
            "402 unique id"
        ]
    );
    let m = manifest(&f.path("out"));
    assert_eq!(m["sources"][0]["rows_in"], 401);
    assert_eq!(m["sources"][0]["rows_valid"], 397);
    assert_eq!(m["sources"][0]["conserved"], true);
    // the table counts the 397 rows once, not the first pass's 401
    let t = f.computed();
    let sex = t.column("sex").unwrap().str().unwrap().clone();
    let n = t.column("n").unwrap().i64().unwrap().clone();
    let total = (0..t.height()).find(|i| sex.get(*i) == Some("_T")).unwrap();
    assert_eq!(n.get(total), Some(397));
    // and the same as in one window
    f.run().success();
    assert_eq!(rules(&f.quarantine()), rules(&q));
}

#[test]
fn a_file_whose_accents_turn_out_not_utf8_is_read_again_as_windows_1252() {
    // The first windows hold "Fé" written as UTF-8 bytes (C3 A9), which is also "FÃ©" in
    // windows-1252; a later window holds a byte that is not UTF-8. Read whole, the file is
    // windows-1252, so the early rows must be read that way too.
    let f = Fixture::new("delimiter = \";\"\nencoding = \"auto\"");
    let mut data: Vec<u8> = b"id;sexe;n\n".to_vec();
    for i in 0..200 {
        data.extend_from_slice(format!("a{i};F;{i}\n").as_bytes());
    }
    data.extend_from_slice(b"u1;F\xc3\xa9;1\n");
    for i in 0..200 {
        data.extend_from_slice(format!("b{i};M;{i}\n").as_bytes());
    }
    data.extend_from_slice(b"w1;F\xe9minin;1\n");
    f.data(&data);
    run_in_small_windows(&f).success();
    let m = manifest(&f.path("out"));
    assert_eq!(m["sources"][0]["files"][0]["encoding"], "windows-1252");
    assert_eq!(m["sources"][0]["rows_in"], 402);
    let q = f.quarantine();
    // "FÃ©" is no sex; "Féminin" is F
    assert_eq!(rules(&q), vec!["202 codelist:sex sexe"]);
    assert_eq!(q[0]["raw_value"], "FÃ©");
}

#[test]
fn a_file_with_a_byte_order_mark_must_be_utf8_to_its_last_window() {
    // The byte-order mark says UTF-8; a byte that is not UTF-8 far into the file is an error
    // naming its line, however the file is cut into windows.
    let f = Fixture::new("delimiter = \";\"\nencoding = \"auto\"");
    let mut data: Vec<u8> = b"\xEF\xBB\xBFid;sexe;n\n".to_vec();
    for i in 0..300 {
        data.extend_from_slice(format!("a{i};F;{i}\n").as_bytes());
    }
    data.extend_from_slice(b"w1;F\xe9minin;1\n");
    f.data(&data);
    let out = run_in_small_windows(&f).code(3).get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("data.csv:302:"), "{err}");
    assert!(err.contains("byte-order mark"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
