//! Exchange formats: SDMX-CSV and its structure, Hive-partitioned Parquet, the data package, and
//! a ministry's own check of a file before sending it.

use crate::common::*;

fn echange() -> (tempfile::TempDir, std::path::PathBuf) {
    let run = run_pipeline("titres_sejour", &[]);
    let dir = run.path().join("echange");
    (run, dir)
}

#[test]
fn sdmx_csv_1_and_2_carry_every_cell_with_its_flags() {
    let (_run, out) = echange();
    let table = parquet(&out.join("tables/titres_annee_sexe_nationalite.parquet"));
    let v1 =
        std::fs::read_to_string(out.join("sdmx/titres_annee_sexe_nationalite.sdmx1.csv")).unwrap();
    let v2 =
        std::fs::read_to_string(out.join("sdmx/titres_annee_sexe_nationalite.sdmx2.csv")).unwrap();
    let mut l1 = v1.lines();
    let mut l2 = v2.lines();
    assert_eq!(
        l1.next().unwrap(),
        "DATAFLOW,SEX,CITIZENSHIP,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,UNIT_MULT,OBS_STATUS,CONF_STATUS"
    );
    assert_eq!(
        l2.next().unwrap(),
        "STRUCTURE,STRUCTURE_ID,ACTION,SEX,CITIZENSHIP,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,UNIT_MULT,OBS_STATUS,CONF_STATUS"
    );
    let rows1: Vec<&str> = l1.collect();
    let rows2: Vec<&str> = l2.collect();
    // every cell is an observation, hidden ones included
    assert_eq!(rows1.len(), table.height());
    assert_eq!(rows2.len(), table.height());
    let flow = "MA_ONM:DF_RESIDENCE_PERMITS(1.0),";
    let body1: Vec<&str> = rows1
        .iter()
        .map(|r| r.strip_prefix(flow).unwrap())
        .collect();
    let body2: Vec<&str> = rows2
        .iter()
        .map(|r| r.strip_prefix("dataflow,").unwrap())
        .map(|r| r.strip_prefix(flow).unwrap())
        .map(|r| r.strip_prefix("I,").unwrap())
        .collect();
    assert_eq!(
        body1, body2,
        "SDMX-CSV 1.0 and 2.0 carry the same observations"
    );
    // each observation is the Parquet row: its value (empty when hidden) and its two flags
    let (years, sexes, nats) = (
        strings(&table, "annee"),
        strings(&table, "sex"),
        strings(&table, "nationality"),
    );
    let (values, obs, conf) = (
        numbers(&table, "titres"),
        strings(&table, "obs_status"),
        strings(&table, "conf_status"),
    );
    let mut want: Vec<String> = (0..table.height())
        .map(|i| {
            let v = if values[i].is_nan() {
                String::new()
            } else {
                values[i].to_string()
            };
            format!(
                "{},{},titres,{},{v},PS,0,{},{}",
                sexes[i], nats[i], years[i], obs[i], conf[i]
            )
        })
        .collect();
    let mut have: Vec<String> = body1.iter().map(|r| r.to_string()).collect();
    want.sort();
    have.sort();
    assert_eq!(have, want);
    // hidden cells: empty OBS_VALUE, OBS_STATUS Q, CONF_STATUS C (published files do not tell a
    // sensitive cell from one hidden to protect it); the others A and F
    let mut flags = std::collections::BTreeMap::<(String, String), usize>::new();
    for r in &body1 {
        let f: Vec<&str> = r.split(',').collect();
        let (value, o, c) = (f[4], f[7], f[8]);
        assert_eq!(value.is_empty(), o == "Q", "{r}");
        assert_eq!(o == "Q", c == "C", "{r}");
        *flags.entry((o.to_string(), c.to_string())).or_default() += 1;
    }
    for pair in [("A", "F"), ("Q", "C")] {
        assert!(
            flags.contains_key(&(pair.0.to_string(), pair.1.to_string())),
            "no observation flagged {pair:?}: {flags:?}"
        );
    }
    assert_eq!(flags.len(), 2, "{flags:?}");
    // a published cell, checked against the table as computed
    let computed = parquet(&restricted(&out).join("tables/titres_annee_sexe_nationalite.parquet"));
    let n = cell(
        &computed,
        &[("annee", "2024"), ("sex", "F"), ("nationality", "SEN")],
        "titres",
    );
    let line = format!("MA_ONM:DF_RESIDENCE_PERMITS(1.0),F,SEN,titres,2024,{n},PS,0,A,F");
    assert!(rows1.contains(&line.as_str()), "{line}");
    // totals and unknown sex travel too
    assert!(rows1.iter().any(|r| r.contains(",_T,_T,titres,2024,")));
    assert!(rows1.iter().any(|r| r.contains(",_U,")));
}

#[test]
fn the_structure_message_declares_what_the_files_use() {
    let (_run, out) = echange();
    let xml = std::fs::read_to_string(out.join("sdmx/structure.xml")).unwrap();
    for needle in [
        "<str:Dataflow id=\"DF_RESIDENCE_PERMITS\" agencyID=\"MA_ONM\" version=\"1.0\">",
        "<str:DataStructure id=\"DSD_RESIDENCE_PERMITS_REASON\"",
        "<str:Codelist id=\"CL_SEX\"",
        "<str:Code id=\"_U\">",
        "<str:Codelist id=\"CL_CITIZENSHIP\"",
        "<str:Code id=\"SEN\">",
        "<com:Name xml:lang=\"en\">Senegal</com:Name>",
        "<str:Codelist id=\"CL_REASON\"",
        "<str:Code id=\"REFUGEE\">",
        "<str:TimeDimension id=\"TIME_PERIOD\"",
        "<str:Attribute id=\"OBS_STATUS\" assignmentStatus=\"Mandatory\">",
        "<str:Attribute id=\"CONF_STATUS\" assignmentStatus=\"Mandatory\">",
        "<str:PrimaryMeasure id=\"OBS_VALUE\">",
        "<str:Codelist id=\"CL_OBS_STATUS\"",
        "<com:Name xml:lang=\"en\">Missing value; suppressed</com:Name>",
        "<str:Codelist id=\"CL_CONF_STATUS\"",
        "<com:Name xml:lang=\"en\">Confidential statistical information</com:Name>",
        "<com:Name xml:lang=\"en\">Secondary confidentiality set by the sender, not for publication</com:Name>",
    ] {
        assert!(xml.contains(needle), "structure.xml lacks {needle}");
    }
    // both status attributes enumerated by their code lists and attached to each observation
    let attribute =
        regex::Regex::new(r#"(?s)<str:Attribute id="(OBS_STATUS|CONF_STATUS)".*?</str:Attribute>"#)
            .unwrap();
    let blocks: Vec<_> = attribute.find_iter(&xml).map(|m| m.as_str()).collect();
    assert_eq!(blocks.len(), 4, "two attributes in each of the two DSDs");
    for b in blocks {
        let id = if b.contains("\"OBS_STATUS\"") {
            "OBS_STATUS"
        } else {
            "CONF_STATUS"
        };
        assert!(b.contains(&format!("<Ref id=\"CL_{id}\"")), "{b}");
        assert!(
            b.contains("<str:AttributeRelationship>")
                && b.contains("<str:PrimaryMeasure>")
                && b.contains("<Ref id=\"OBS_VALUE\"/>"),
            "{id} is not at observation level: {b}"
        );
    }
    let codes = |list: &str| -> Vec<String> {
        let block = regex::Regex::new(&format!(
            r#"(?s)<str:Codelist id="{list}".*?</str:Codelist>"#
        ))
        .unwrap();
        let code = regex::Regex::new(r#"<str:Code id="([^"]+)">"#).unwrap();
        let text = block.find(&xml).unwrap().as_str();
        code.captures_iter(text).map(|c| c[1].to_string()).collect()
    };
    for c in ["A", "E", "Q", "U"] {
        assert!(
            codes("CL_OBS_STATUS").contains(&c.to_string()),
            "OBS_STATUS {c}"
        );
    }
    for c in ["F", "C", "D", "N"] {
        assert!(
            codes("CL_CONF_STATUS").contains(&c.to_string()),
            "CONF_STATUS {c}"
        );
    }
    // only codes actually used are declared: no Martinique among the citizenships
    assert!(!xml.contains("<str:Code id=\"MTQ\">"));
}

#[test]
fn hive_partitions_hold_the_same_rows_as_the_table() {
    let (_run, out) = echange();
    let dir = out.join("tables/titres_annee_sexe_nationalite");
    let mut parts: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    parts.sort();
    assert_eq!(parts, ["annee=2023", "annee=2024"]);
    let one = {
        let f = std::fs::File::open(dir.join("annee=2023/part-0.parquet")).unwrap();
        use polars::prelude::SerReader;
        polars::prelude::ParquetReader::new(f).finish().unwrap()
    };
    assert!(
        one.column("annee").is_err(),
        "the key lives in the folder name, not the file"
    );
    let all = parquet(&out.join("tables/titres_annee_sexe_nationalite.parquet"));
    // the table as computed is partitioned the same way, and its totals add up
    let computed = parquet(&restricted(&out).join("tables/titres_annee_sexe_nationalite.parquet"));
    assert_eq!(computed.height(), all.height());
    for d in ["annee", "sex", "nationality"] {
        assert_eq!(strings(&computed, d), strings(&all, d), "{d}");
    }
    assert_sex_totals(&computed, "sex", &["annee", "nationality"], &["titres"]);
    let total: f64 = filter(&computed, &[("sex", "_T"), ("nationality", "_T")])
        .column("titres")
        .unwrap()
        .as_materialized_series()
        .sum()
        .unwrap();
    assert_eq!(total, 2970.0);
    // each part carries the provenance metadata
    let md = metadata(&dir.join("annee=2024/part-0.parquet"));
    assert!(md
        .iter()
        .any(|(k, v)| k == "marsad.table" && v == "titres_annee_sexe_nationalite"));
}

#[test]
fn the_data_package_describes_every_file() {
    let run = run_pipeline("titres_sejour", &[]);
    // published: the tables (and SDMX files); restricted: the tables as computed, the audit
    // against an LP attacker, the quarantine
    for (folder, expected) in [
        ("titres_sejour", 5),
        ("echange", 7),
        ("titres_sejour.restricted", 7),
        ("echange.restricted", 3),
    ] {
        let out = run.path().join(folder);
        let package: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("datapackage.json")).unwrap())
                .unwrap();
        assert_eq!(package["name"], "titres_sejour");
        assert_eq!(package["licenses"][0]["name"], "CC-BY-4.0");
        assert!(package["sources"][0]["title"]
            .as_str()
            .unwrap()
            .contains("gen_permits.py"));
        let resources = package["resources"].as_array().unwrap();
        assert_eq!(resources.len(), expected, "{folder}: {resources:?}");
        assert_eq!(
            resources.iter().any(|r| r["name"] == "quarantine"),
            folder == "titres_sejour.restricted",
            "{folder}: the quarantine is listed only in the restricted folder"
        );
        for r in resources {
            let paths: Vec<String> = match &r["path"] {
                serde_json::Value::Array(a) => {
                    a.iter().map(|p| p.as_str().unwrap().to_string()).collect()
                }
                p => vec![p.as_str().unwrap().to_string()],
            };
            let bytes: u64 = paths
                .iter()
                .map(|p| std::fs::metadata(out.join(p)).unwrap().len())
                .sum();
            assert_eq!(r["bytes"], bytes, "{}", r["name"]);
            if let Some(hash) = r["hash"].as_str() {
                let data = std::fs::read(out.join(&paths[0])).unwrap();
                assert_eq!(hash, format!("sha256:{}", marsad::sha256_hex(&data)));
            }
        }
    }
    let out = run.path().join("titres_sejour");
    let package: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("datapackage.json")).unwrap())
            .unwrap();
    let table = package["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "titres_sexe_nationalite_region_age")
        .unwrap();
    assert_eq!(
        table["rows"],
        parquet(&out.join("tables/titres_sexe_nationalite_region_age.parquet")).height()
    );
    let fields = table["schema"]["fields"].as_array().unwrap();
    let nationality = fields.iter().find(|f| f["name"] == "nationality").unwrap();
    assert_eq!(nationality["type"], "string");
    assert_eq!(nationality["marsad:codelist"], "country");
    let titres = fields.iter().find(|f| f["name"] == "titres").unwrap();
    assert_eq!(titres["type"], "integer");
    // the disclosure flags follow the measures, described with their SDMX code lists
    let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
    let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(at("poids") < at("obs_status") && at("obs_status") < at("conf_status"));
    assert!(at("conf_status") < at("pct_female"));
    for (flag, list) in [
        ("obs_status", "CL_OBS_STATUS"),
        ("conf_status", "CL_CONF_STATUS"),
    ] {
        let description = fields[at(flag)]["description"].as_str().unwrap();
        assert!(description.contains(list), "{flag}: {description}");
    }
    assert_eq!(
        table["schema"]["primaryKey"],
        serde_json::json!(["sex", "nationality", "region_code", "groupe_age"])
    );
}

#[test]
fn csv_cells_that_look_like_formulas_are_neutralised() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.json"),
        r#"{"fields": [{"name": "a", "type": "integer"}, {"name": "b"}]}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("f.csv"), "a,b\n=1+1,x\n-5,y\n@SUM(A1),z\n").unwrap();
    marsad()
        .args(["-q", "validate", "--schema"])
        .arg(dir.path().join("s.json"))
        .arg(dir.path().join("f.csv"))
        .arg("--output")
        .arg(dir.path().join("q"))
        .assert()
        .code(4);
    let csv = std::fs::read_to_string(dir.path().join("q/quarantine/quarantine.csv")).unwrap();
    assert!(csv.contains(",'=1+1,"), "{csv}");
    assert!(csv.contains(",'@SUM(A1),"), "{csv}");
    let q = parquet(&dir.path().join("q/quarantine/quarantine.parquet"));
    assert!(
        strings(&q, "raw_value").contains(&"=1+1".to_string()),
        "Parquet keeps the raw value"
    );
}

#[test]
fn a_ministry_checks_its_file_before_sending_it() {
    // a good file: accepted, exit 0
    let out = outputs(
        marsad()
            .args(["validate", "--schema"])
            .arg(repo("schemas/undesa_ims_bilateral_sex.json"))
            .arg(repo("sample_data/undesa/stocks_by_sex.csv")),
        0,
    )
    .0;
    let text = out;
    assert!(text.starts_with("ACCEPTED: "), "{text}");
    // the permit register: rejected rows listed with line, column, value and reason; exit 4
    let out = outputs(
        marsad()
            .args(["-q", "validate", "--schema"])
            .arg(repo("schemas/titres_sejour.json"))
            .arg(repo("sample_data/permits/titres_sejour_2024.csv"))
            .args(["--delimiter", ";"]),
        4,
    )
    .0;
    let text = out;
    assert!(text.starts_with("NOT ACCEPTED: "), "{text}");
    assert!(
        text.contains("line 31, annee_naissance, `202Z`: not an integer (type)"),
        "{text}"
    );
    // the same as JSON, for the ministry's own tools
    let out = outputs(
        marsad()
            .args(["-q", "validate", "--format", "json", "--schema"])
            .arg(repo("schemas/titres_sejour.json"))
            .arg(repo("sample_data/permits/titres_sejour_2024.csv"))
            .args(["--delimiter", ";"]),
        4,
    )
    .0;
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["books"]["rows_in"], 3000);
    let errors = json["errors"].as_array().unwrap();
    // one or more errors per rejected row (a short row's cells are checked too)
    let lines: std::collections::BTreeSet<u64> =
        errors.iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(
        lines.len() as u64,
        json["books"]["rows_rejected"].as_u64().unwrap()
    );
    assert!(errors
        .iter()
        .any(|e| e["line"] == 31 && e["rule"] == "type"));
    // a wrong delimiter: a header error with a hint, exit 3, JSON still printed
    let out = marsad()
        .args(["-q", "validate", "--format", "json", "--schema"])
        .arg(repo("schemas/titres_sejour.json"))
        .arg(repo("sample_data/permits/titres_sejour_2024.csv"))
        .assert()
        .code(3)
        .get_output()
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    assert!(
        json["error"].as_str().unwrap().contains("delimited by it"),
        "{json}"
    );
}

#[test]
fn sdmx_options_are_checked_before_any_data_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("pipelines/undesa_maroc.toml")).unwrap();
    let base = repo("pipelines");
    let write = |t: &str| {
        let p = dir.path().join("p.toml");
        std::fs::write(&p, t.replace("\"../", &format!("\"{}/../", base.display()))).unwrap();
        p
    };
    let run = |p: std::path::PathBuf| outputs(marsad().arg("check").arg(p), 2).1;
    let err = run(write(&text.replace("sdmx-csv-2.0", "sdmx-csv-3.0")));
    assert!(err.contains("unknown format `sdmx-csv-3.0`"), "{err}");
    let no_agency = text.replace("[sdmx]\nagency = \"MA_ONM\"\nversion = \"1.0\"\n", "");
    let err = run(write(&no_agency));
    assert!(err.contains("needs an [sdmx] table"), "{err}");
    let err = run(write(
        &text.replace("totals = [\"origin\"]", "totals = [\"origin\", \"t\"]"),
    ));
    assert!(err.contains("cannot have totals"), "{err}");
}
