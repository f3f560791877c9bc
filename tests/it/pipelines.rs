//! The shipped pipelines, run end to end on the shipped data and the real files copied into tests/data.

use crate::common::*;

/// One output folder of a run, with the `path()` of a temporary folder.
struct Output(std::path::PathBuf);

impl Output {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

const PERMITS_TABLE: &str = "tables/titres_sexe_nationalite_region_age.parquet";

#[test]
fn permits_quarantine_holds_exactly_the_bad_rows() {
    let run = run_pipeline("titres_sejour", &[]);
    let out = Output(run.path().join("titres_sejour"));
    // rejected rows carry raw values: they go to the restricted folder, never the published one
    assert!(!out.path().join("quarantine").exists());
    let closed = restricted(out.path());
    let expected = csv_rows(&repo("sample_data/permits/expected_rejects.csv"));
    let got = csv_rows(&closed.join("quarantine/quarantine.csv"));
    let key = |line: &str, column: &str| format!("{line}:{column}");
    let mut want: Vec<String> = expected
        .iter()
        .map(|r| key(&r["line"], &r["column"]))
        .collect();
    let mut have: Vec<String> = got.iter().map(|r| key(&r["line"], &r["column"])).collect();
    want.sort();
    have.sort();
    assert_eq!(have, want);
    for e in &expected {
        let g = got
            .iter()
            .find(|g| g["line"] == e["line"] && g["column"] == e["column"])
            .unwrap();
        assert_eq!(
            g["raw_value"], e["raw_value"],
            "raw value on line {}",
            e["line"]
        );
        assert_eq!(g["source"], "titres");
        assert!(g["file"].ends_with("titres_sejour_2024.csv"));
        let rule = match e["defect"].as_str() {
            "sexe_inconnu" => vec!["codelist:sex"],
            "annee_non_numerique" => vec!["type"],
            "annee_impossible" => vec!["minimum", "maximum"],
            "nationalite_inconnue" => vec!["codelist:country"],
            "ligne_incomplete" => vec!["missing-cell"],
            "cellule_decalee" => vec!["type", "enum", "minimum", "maximum"],
            other => panic!("unknown defect {other}"),
        };
        assert!(
            rule.contains(&g["rule"].as_str()),
            "line {}: rule {} for {}",
            e["line"],
            g["rule"],
            e["defect"]
        );
        assert!(!g["message"].is_empty());
    }
    // the same rows, as Parquet
    let q = parquet(&closed.join("quarantine/quarantine.parquet"));
    assert_eq!(q.height(), expected.len());
    reports_of_the_permits(out.path(), &expected);
}

/// The HTML reports of the permit run (in French, the pipeline's `lang`): the provider's,
/// restricted, shows each rule's first bad rows whole with the failing cell marked; the
/// publication's shows no raw value and draws hidden cells as such.
fn reports_of_the_permits(
    out: &std::path::Path,
    expected: &[std::collections::HashMap<String, String>],
) {
    let provider = std::fs::read_to_string(restricted(out).join("report.html")).unwrap();
    assert!(provider.contains("<html lang=\"fr\" dir=\"ltr\">"));
    assert!(
        provider.contains("Le fichier est accepté. Lignes valides : 2\u{202f}970 sur 3\u{202f}000"),
        "{provider}"
    );
    // The first unknown nationality of the register, whole, its nationality marked.
    let first = expected
        .iter()
        .filter(|e| e["defect"] == "nationalite_inconnue")
        .min_by_key(|e| e["line"].parse::<u64>().unwrap())
        .unwrap();
    let section = &provider[provider.find("data-rule=\"codelist:country\"").unwrap()..];
    let row = &section[section
        .find(&format!("<tr data-line=\"{}\">", first["line"]))
        .unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    let marked = format!(
        "<td class=\"bad\" data-column=\"nationalite\"><span class=\"raw\">{}</span></td>",
        first["raw_value"]
    );
    assert!(row.contains(&marked), "{row}");
    let public = std::fs::read_to_string(out.join("report.html")).unwrap();
    // Values that are wrong wherever they stand (a shifted cell's may be a word used elsewhere).
    let wrong = [
        "nationalite_inconnue",
        "sexe_inconnu",
        "annee_non_numerique",
    ];
    for e in expected
        .iter()
        .filter(|e| wrong.contains(&e["defect"].as_str()))
    {
        let raw = &e["raw_value"];
        if raw.chars().count() >= 3 && raw.chars().any(char::is_alphabetic) {
            assert!(
                !public.contains(raw.as_str()),
                "raw value {raw} in the public report"
            );
        }
    }
    let table = "titres_sexe_nationalite_region_age";
    let df = parquet(&out.join(format!("tables/{table}.parquet")));
    let bars = crate::reports::check_pyramid(&public, table, &df, "groupe_age", "titres");
    assert!(
        bars.iter().any(|b| b.value == "c"),
        "hidden cells are drawn hatched"
    );
}

#[test]
fn permits_rows_are_conserved_and_recorded() {
    let run = run_pipeline("titres_sejour", &[]);
    let out = Output(run.path().join("titres_sejour"));
    let m = manifest(out.path());
    let s = &m["sources"][0];
    assert_eq!(s["rows_in"], 3000);
    assert_eq!(s["rows_valid"], 2970);
    assert_eq!(s["rows_rejected"], 30);
    assert_eq!(s["conserved"], true);
    assert_eq!(s["files"][0]["encoding"], "windows-1252");
    assert_eq!(m["status"], "published");
    for stage in [
        "ingest",
        "validate",
        "harmonize",
        "tabulate",
        "publish",
        "total",
    ] {
        assert!(m["timings_ms"][stage].is_u64(), "timing for {stage}");
    }
    let files = m["outputs"][0]["files"].as_array().unwrap();
    let table = files.iter().find(|f| f["path"] == PERMITS_TABLE).unwrap();
    let bytes = std::fs::read(out.path().join(PERMITS_TABLE)).unwrap();
    assert_eq!(table["sha256"], marsad::sha256_hex(&bytes));
    assert_eq!(
        table["rows"],
        parquet(&out.path().join(PERMITS_TABLE)).height()
    );
    let failures = s["failures"].as_array().unwrap();
    let sexe = failures
        .iter()
        .find(|f| f["rule"] == "codelist:sex")
        .unwrap();
    assert_eq!(sexe["rows"], 6);
    // the public books count unmapped values; the restricted ones list them
    assert!(s.get("unmapped").is_none(), "{s}");
    assert_eq!(s["unmapped_values"], 10);
    let restricted = manifest(&out.path().with_extension("restricted"));
    let unmapped = restricted["sources"][0]["unmapped"].as_array().unwrap();
    assert!(unmapped
        .iter()
        .any(|u| u["raw_value"] == "QQQ" && u["rows"] == 3));
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(
        report.contains("rows in: 3000, valid: 2970, rejected: 30"),
        "{report}"
    );
    // raw values only in the restricted report
    assert!(!report.contains("Narnia"), "{report}");
    let restricted =
        std::fs::read_to_string(out.path().with_extension("restricted").join("report.md"));
    assert!(restricted.unwrap().contains("`Narnia`"));
}

#[test]
fn permits_table_totals_add_up_and_unknown_sex_is_kept() {
    let run = run_pipeline("titres_sejour", &[]);
    let out = Output(run.path().join("titres_sejour"));
    // the table as computed: published cells are checked against it in `disclosure`
    let t = parquet(&restricted(out.path()).join(PERMITS_TABLE));
    let dims = ["sex", "nationality", "region_code", "groupe_age"];
    assert_sex_totals(
        &t,
        "sex",
        &["nationality", "region_code", "groupe_age"],
        &["titres", "poids"],
    );
    for d in ["nationality", "region_code", "groupe_age"] {
        assert_dimension_total(&t, d, &dims, "titres");
        assert_dimension_total(&t, d, &dims, "poids");
    }
    let all = [
        ("nationality", "_T"),
        ("region_code", "_T"),
        ("groupe_age", "_T"),
    ];
    let total = |sex: &str| {
        let mut c = all.to_vec();
        c.push(("sex", sex));
        cell(&t, &c, "titres")
    };
    assert_eq!(total("_T"), 2970.0);
    // 20 valid rows have an empty sexe: unknown, kept, not dropped
    assert_eq!(total("_U"), 20.0);
    assert_eq!(total("F") + total("M") + total("_U"), 2970.0);

    let grand = filter(
        &t,
        &[
            ("sex", "_T"),
            ("nationality", "_T"),
            ("region_code", "_T"),
            ("groupe_age", "_T"),
        ],
    );
    let pct = numbers(&grand, "pct_female")[0];
    let ratio = numbers(&grand, "sex_ratio")[0];
    let (f, m) = (total("F"), total("M"));
    assert!((pct - f / (f + m) * 100.0).abs() < 1e-9);
    assert!((ratio - m / f * 100.0).abs() < 1e-9);
    // gender columns only on _T rows
    let women = filter(&t, &[("sex", "F")]);
    assert!(numbers(&women, "pct_female").iter().all(|v| v.is_nan()));
    // published, they are computed from the published cells: empty where F or M is hidden
    let published = parquet(&out.path().join(PERMITS_TABLE));
    let women = filter(&published, &[("sex", "F")]);
    assert!(numbers(&women, "pct_female").iter().all(|v| v.is_nan()));
    assert_gender_columns_follow_published_cells(
        &published,
        &["nationality", "region_code", "groupe_age"],
    );
    // age groups are SDMX-style codes
    let groups = strings(&t, "groupe_age");
    assert!(
        groups
            .iter()
            .all(|g| g == "_T" || g == "_U" || g.starts_with('Y')),
        "{groups:?}"
    );
    assert!(groups.iter().any(|g| g == "Y25T29"));
    // the Parquet files carry their provenance
    let md = metadata(&out.path().join(PERMITS_TABLE));
    // the table as computed carries the same provenance
    let provenance = |md: Vec<(String, String)>| -> Vec<(String, String)> {
        md.into_iter()
            .filter(|(k, _)| k.starts_with("marsad."))
            .collect()
    };
    assert_eq!(
        provenance(metadata(&restricted(out.path()).join(PERMITS_TABLE))),
        provenance(md.clone())
    );
    let get = |k: &str| {
        md.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let pipeline = std::fs::read(repo("pipelines/titres_sejour.toml")).unwrap();
    assert_eq!(get("marsad.pipeline"), "titres_sejour");
    assert_eq!(get("marsad.pipeline_sha256"), marsad::sha256_hex(&pipeline));
    assert_eq!(get("marsad.version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(get("marsad.run_id").len(), 16);
    let data = std::fs::read(repo("sample_data/permits/titres_sejour_2024.csv")).unwrap();
    assert!(get("marsad.sources").contains(&marsad::sha256_hex(&data)));
    assert!(get("marsad.sources").contains("titres_sejour.json"));
}

/// On the `_T` rows of a published table, `pct_female` and `sex_ratio` come from the published
/// F and M cells of the same line: empty when either is hidden, else F / (F + M) x 100 and
/// M / F x 100. Checked on some rows of each kind, so that the check cannot pass empty.
fn assert_gender_columns_follow_published_cells(df: &polars::prelude::DataFrame, others: &[&str]) {
    use polars::prelude::*;
    let of = |sex: &str, c: &str| {
        col(c)
            .cast(DataType::Float64)
            .filter(col("sex").eq(lit(sex)))
            .first()
    };
    let lines = df
        .clone()
        .lazy()
        .group_by(others.iter().map(|o| col(*o)).collect::<Vec<_>>())
        .agg([
            of("F", "titres").alias("f"),
            of("M", "titres").alias("m"),
            of("_T", "pct_female").alias("pct"),
            of("_T", "sex_ratio").alias("ratio"),
        ])
        .collect()
        .unwrap();
    let (f, m) = (numbers(&lines, "f"), numbers(&lines, "m"));
    let (pct, ratio) = (numbers(&lines, "pct"), numbers(&lines, "ratio"));
    let (mut shown, mut hidden) = (0, 0);
    for i in 0..lines.height() {
        if f[i].is_nan() || m[i].is_nan() {
            assert!(
                pct[i].is_nan() && ratio[i].is_nan(),
                "line {i}: F or M hidden"
            );
            hidden += 1;
        } else if f[i] > 0.0 {
            assert!((pct[i] - f[i] / (f[i] + m[i]) * 100.0).abs() < 1e-9);
            assert!((ratio[i] - m[i] / f[i] * 100.0).abs() < 1e-9);
            shown += 1;
        }
    }
    assert!(shown > 0 && hidden > 0, "{shown} shown, {hidden} hidden");
}

#[test]
fn permits_table_matches_an_independent_count() {
    // Recount Senegalese (any spelling) women, all regions and ages, straight from the raw file:
    // the table as computed holds the count; the published one holds it or hides it.
    let run = run_pipeline("titres_sejour", &[]);
    let out = Output(run.path().join("titres_sejour"));
    let t = parquet(&restricted(out.path()).join(PERMITS_TABLE));
    let senegalese_women = [
        ("sex", "F"),
        ("nationality", "SEN"),
        ("region_code", "_T"),
        ("groupe_age", "_T"),
    ];
    let got = cell(&t, &senegalese_women, "titres");
    let published = filter(&parquet(&out.path().join(PERMITS_TABLE)), &senegalese_women);
    let bytes = std::fs::read(repo("sample_data/permits/titres_sejour_2024.csv")).unwrap();
    let text: String = bytes.iter().map(|&b| b as char).collect(); // Latin-1 view is enough here
    let bad: Vec<String> = csv_rows(&repo("sample_data/permits/expected_rejects.csv"))
        .iter()
        .map(|r| r["line"].clone())
        .collect();
    let mut n = 0;
    for (i, line) in text.lines().enumerate().skip(1) {
        if bad.contains(&(i + 1).to_string()) {
            continue;
        }
        let f: Vec<&str> = line.split(';').collect();
        let sexe = f[2].trim().to_lowercase();
        let nat = f[4].trim().to_lowercase();
        let woman = matches!(sexe.as_str(), "f" | "femme" | "f\u{e9}minin");
        let senegal = [
            "sen",
            "s\u{e9}n\u{e9}gal",
            "senegal",
            "s\u{e9}n\u{e9}galaise",
            "s\u{e9}n\u{e9}galais",
        ]
        .contains(&nat.as_str());
        if woman && senegal {
            n += 1;
        }
    }
    assert!(n > 0);
    assert_eq!(got, n as f64);
    match strings(&published, "conf_status")[0].as_str() {
        "F" => assert_eq!(numbers(&published, "titres")[0], n as f64),
        _ => assert!(numbers(&published, "titres")[0].is_nan()),
    }
}

#[test]
fn reruns_write_the_same_bytes() {
    // Everything but the manifest (which records times) is identical on the same inputs.
    let a = run_pipeline("titres_sejour", &[]);
    let b = run_pipeline("titres_sejour", &[]);
    let (x, y) = (files_but_manifest(a.path()), files_but_manifest(b.path()));
    let names = |f: &[(std::path::PathBuf, Vec<u8>)]| -> Vec<std::path::PathBuf> {
        f.iter().map(|(p, _)| p.clone()).collect()
    };
    assert_eq!(names(&x), names(&y));
    assert!(x.len() > 15, "{:?}", names(&x));
    for ((f, x), (_, y)) in x.iter().zip(&y) {
        assert!(
            x == y,
            "{} differs between two runs on the same input",
            f.display()
        );
    }
}

#[test]
fn unhcr_sex_totals_match_the_files_own_totals() {
    let out = run_pipeline("unhcr_maroc", &[]);
    let m = manifest(out.path());
    assert_eq!(m["sources"][0]["rows_in"], 2947);
    assert_eq!(m["sources"][0]["rows_rejected"], 0);
    let t = parquet(&out.path().join("tables/unhcr_sexe_origine_asile.parquet"));
    let dims = ["year", "sex", "origin", "asylum"];
    assert_sex_totals(&t, "sex", &["year", "origin", "asylum"], &["persons"]);
    assert_dimension_total(&t, "origin", &dims, "persons");
    assert_dimension_total(&t, "asylum", &dims, "persons");

    let rows = csv_rows(&repo(
        "sample_data/unhcr/demographics_2001_2025_morocco.csv",
    ));
    for year in ["2001", "2012", "2025"] {
        let sum = |c: &str| -> f64 {
            rows.iter()
                .filter(|r| r["year"] == year)
                .map(|r| r[c].parse::<f64>().unwrap())
                .sum()
        };
        let at = |sex: &str| {
            cell(
                &t,
                &[
                    ("year", year),
                    ("sex", sex),
                    ("origin", "_T"),
                    ("asylum", "_T"),
                ],
                "persons",
            )
        };
        assert_eq!(at("F"), sum("f_total"), "F in {year}");
        assert_eq!(at("M"), sum("m_total"), "M in {year}");
        assert_eq!(at("_T"), sum("total"), "_T in {year}");
        assert_eq!(
            at("_U"),
            sum("total") - sum("f_total") - sum("m_total"),
            "_U in {year}"
        );
    }
    // Morocco as asylum country in 2025, refugees from Syria: check one cell against the file.
    let syr: f64 = rows
        .iter()
        .filter(|r| r["year"] == "2025" && r["coo_iso"] == "SYR" && r["coa_iso"] == "MAR")
        .map(|r| r["f_total"].parse::<f64>().unwrap())
        .sum();
    assert!(syr > 0.0);
    assert_eq!(
        cell(
            &t,
            &[
                ("year", "2025"),
                ("sex", "F"),
                ("origin", "SYR"),
                ("asylum", "MAR")
            ],
            "persons"
        ),
        syr
    );

    let by_age = parquet(
        &out.path()
            .join("tables/unhcr_sexe_origine_asile_age.parquet"),
    );
    assert_sex_totals(
        &by_age,
        "sex",
        &["year", "origin", "asylum", "age_group"],
        &["persons"],
    );
    let bands = strings(&by_age, "age_group");
    for b in ["Y0T4", "Y5T11", "Y12T17", "Y18T59", "Y_GE60", "_U", "_T"] {
        assert!(bands.iter().any(|x| x == b), "age group {b}");
    }
}

#[test]
fn unhcr_global_2025_file_through_input_override() {
    let out = run_pipeline(
        "unhcr_maroc",
        &[
            "--input",
            &format!(
                "unhcr={}",
                real_data("unhcr_demographics/demographics_2025.csv").display()
            ),
        ],
    );
    let m = manifest(out.path());
    assert_eq!(m["sources"][0]["rows_in"], 20771);
    assert_eq!(m["sources"][0]["rows_valid"], 20771);
    let t = parquet(&out.path().join("tables/unhcr_sexe_origine_asile.parquet"));
    let rows = csv_rows(&real_data("unhcr_demographics/demographics_2025.csv"));
    let sum = |c: &str| -> f64 { rows.iter().map(|r| r[c].parse::<f64>().unwrap()).sum() };
    let at = |sex: &str| {
        cell(
            &t,
            &[
                ("year", "2025"),
                ("sex", sex),
                ("origin", "_T"),
                ("asylum", "_T"),
            ],
            "persons",
        )
    };
    assert_eq!(at("F"), sum("f_total"));
    assert_eq!(at("M"), sum("m_total"));
    assert_eq!(at("_T"), sum("total"));
    // stateless people keep their explicit code
    assert!(strings(&t, "origin").iter().any(|o| o == "XXA"));
}

#[test]
fn undesa_morocco_figures_match_the_source_note() {
    let out = run_pipeline("undesa_maroc", &[]);
    let to = parquet(&out.path().join("tables/stock_vers_maroc.parquet"));
    assert_sex_totals(&to, "sex_code", &["t", "origin"], &["migrants"]);
    assert_dimension_total(&to, "origin", &["t", "sex_code", "origin"], "migrants");
    // figures quoted in sample_data/undesa/SOURCE.md
    assert_eq!(
        cell(
            &to,
            &[("t", "2020"), ("sex_code", "M"), ("origin", "FRA")],
            "migrants"
        ),
        19575.0
    );
    assert_eq!(
        cell(
            &to,
            &[("t", "2020"), ("sex_code", "F"), ("origin", "FRA")],
            "migrants"
        ),
        18488.0
    );
    assert_eq!(
        cell(
            &to,
            &[("t", "2020"), ("sex_code", "_T"), ("origin", "FRA")],
            "migrants"
        ),
        38063.0
    );
    let from = parquet(&out.path().join("tables/stock_depuis_maroc.parquet"));
    assert_eq!(
        cell(
            &from,
            &[("t", "2020"), ("sex_code", "M"), ("destination", "FRA")],
            "migrants"
        ),
        543498.0
    );
    assert_eq!(
        cell(
            &from,
            &[("t", "2020"), ("sex_code", "F"), ("destination", "FRA")],
            "migrants"
        ),
        516420.0
    );
    assert_eq!(
        cell(
            &from,
            &[("t", "2020"), ("sex_code", "M"), ("destination", "ESP")],
            "migrants"
        ),
        430708.0
    );
    // A destination×origin pair with only one sex row in the file still shows both sexes (0 for the
    // missing one), and UN DESA's "XXX" (others) is read by its crosswalk as _O, kept visible.
    assert!(strings(&to, "origin").iter().any(|o| o == "_O"));
    let sexes = strings(&to, "sex_code");
    for s in ["F", "M", "_U", "_T"] {
        assert!(sexes.iter().any(|x| x == s));
    }
}

#[test]
fn permits_by_african_union_region_add_up_from_nationalities() {
    use marsad::codelist::{CodeList, RegionLevel};
    let run = run_pipeline("titres_sejour", &[]);
    let out = Output(run.path().join("titres_sejour"));
    // recomputed from the tables as computed (published ones hide small cells)
    let closed = restricted(out.path());
    let detail = parquet(&closed.join(PERMITS_TABLE));
    let au = parquet(&closed.join("tables/titres_sexe_region_ua.parquet"));
    let dims = ["sex", "nationality_au_region", "region_code"];
    assert_sex_totals(
        &au,
        "sex",
        &["nationality_au_region", "region_code"],
        &["titres"],
    );
    assert_dimension_total(&au, "nationality_au_region", &dims, "titres");
    assert_dimension_total(&au, "region_code", &dims, "titres");
    // recompute from the nationality table with the code list's own regions
    let countries = CodeList::builtin("country").unwrap();
    let rows = filter(
        &detail,
        &[("region_code", "_T"), ("groupe_age", "_T"), ("sex", "F")],
    );
    let mut by_region = std::collections::BTreeMap::<String, f64>::new();
    for (nat, n) in strings(&rows, "nationality")
        .iter()
        .zip(numbers(&rows, "titres"))
    {
        if nat != "_T" {
            *by_region
                .entry(RegionLevel::Au.of(&countries, nat))
                .or_default() += n;
        }
    }
    assert!(
        by_region["western"] > 0.0 && by_region["_Z"] > 0.0,
        "{by_region:?}"
    );
    for (region, n) in &by_region {
        let got = cell(
            &au,
            &[
                ("sex", "F"),
                ("nationality_au_region", region),
                ("region_code", "_T"),
            ],
            "titres",
        );
        assert_eq!(got, *n, "{region}");
    }
    let m49 = parquet(&closed.join("tables/titres_sexe_sous_region_m49.parquet"));
    assert_sex_totals(&m49, "sex", &["nationality_m49_subregion"], &["titres"]);
    let subregions = strings(&m49, "nationality_m49_subregion");
    for s in ["015", "202", "155", "145"] {
        assert!(subregions.iter().any(|x| x == s), "{s} in {subregions:?}");
    }
    // regions of Morocco are published as ISO 3166-2 codes
    let regions = strings(&detail, "region_code");
    assert!(
        regions.iter().all(|r| r == "_T" || r.starts_with("MA-")),
        "{regions:?}"
    );
}

#[test]
fn unhcr_and_undesa_region_tables_have_totals() {
    let out = run_pipeline("unhcr_maroc", &[]);
    let t = parquet(
        &out.path()
            .join("tables/unhcr_sexe_origine_region_ua.parquet"),
    );
    assert_sex_totals(&t, "sex", &["year", "origin_au_region"], &["persons"]);
    assert_dimension_total(
        &t,
        "origin_au_region",
        &["year", "sex", "origin_au_region"],
        "persons",
    );
    let detail = parquet(&out.path().join("tables/unhcr_sexe_origine_asile.parquet"));
    assert_eq!(
        cell(
            &t,
            &[("year", "2025"), ("sex", "_T"), ("origin_au_region", "_T")],
            "persons"
        ),
        cell(
            &detail,
            &[
                ("year", "2025"),
                ("sex", "_T"),
                ("origin", "_T"),
                ("asylum", "MAR")
            ],
            "persons"
        ),
    );
    let out = run_pipeline("undesa_maroc", &[]);
    let t = parquet(
        &out.path()
            .join("tables/stock_vers_maroc_sous_region_m49.parquet"),
    );
    assert_sex_totals(
        &t,
        "sex_code",
        &["t", "origin_m49_subregion"],
        &["migrants"],
    );
    assert_dimension_total(
        &t,
        "origin_m49_subregion",
        &["t", "sex_code", "origin_m49_subregion"],
        "migrants",
    );
    // "Others" (XXX) keeps its own code through the roll-up
    assert!(strings(&t, "origin_m49_subregion")
        .iter()
        .any(|x| x == "_O"));
}

#[test]
fn line_numbers_hold_across_chunk_boundaries() {
    // 200-byte chunks put a boundary every few rows of the register; the quarantine must not move.
    let out = tempfile::tempdir().unwrap();
    marsad()
        .env("MARSAD_CHUNK_BYTES", "200")
        .args(["-q", "run"])
        .arg(repo("pipelines/titres_sejour.toml"))
        .arg("--output")
        .arg(out.path())
        .assert()
        .success();
    let got = csv_rows(
        &out.path()
            .join("titres_sejour.restricted/quarantine/quarantine.csv"),
    );
    let want = csv_rows(&repo("sample_data/permits/expected_rejects.csv"));
    let lines = |rows: &[std::collections::HashMap<String, String>]| -> Vec<String> {
        let mut v: Vec<String> = rows
            .iter()
            .map(|r| format!("{}:{}", r["line"], r["column"]))
            .collect();
        v.sort();
        v
    };
    assert_eq!(lines(&got), lines(&want));
    let m = manifest(&out.path().join("titres_sejour"));
    assert_eq!(m["sources"][0]["rows_in"], 3000);
    assert_eq!(m["sources"][0]["rows_valid"], 2970);
    // and the tables are the same as with one chunk
    let one = run_pipeline("titres_sejour", &[]);
    for folder in ["titres_sejour", "titres_sejour.restricted"] {
        for t in [
            "tables/titres_sexe_nationalite_region_age.parquet",
            "tables/titres_sexe_motif.parquet",
        ] {
            let a = std::fs::read(out.path().join(folder).join(t)).unwrap();
            let b = std::fs::read(one.path().join(folder).join(t)).unwrap();
            assert!(a == b, "{folder}/{t} depends on the chunk size");
        }
    }
}

/// The bench jobs (`benches/permits_bench_open.toml`, `benches/permits_bench_lean.toml`) resolve
/// and run on the shipped sample: each conserves its rows, and its table's grand total counts
/// every valid row. The lean job, whose schema checks less, rejects no more rows than the full
/// one, and rejects only what a DuckDB script would (types, birth year, code lists).
#[test]
fn bench_jobs_run_on_the_sample_and_count_every_valid_row() {
    let mut valid = Vec::new();
    for job in ["permits_bench_open", "permits_bench_lean"] {
        let run = tempfile::tempdir().unwrap();
        let out = run.path().join(job);
        marsad()
            .args(["-q", "run"])
            .arg(repo(&format!("benches/{job}.toml")))
            .arg("--output")
            .arg(&out)
            .assert()
            .success();
        let m = manifest(&out);
        let s = &m["sources"][0];
        assert_eq!(s["conserved"], true, "{job}");
        assert_eq!(s["rows_in"], 3000, "{job}");
        let table = parquet(&out.join(PERMITS_TABLE));
        let everyone = [
            ("sex", "_T"),
            ("nationality", "_T"),
            ("region_code", "_T"),
            ("groupe_age", "_T"),
        ];
        let rows_valid = s["rows_valid"].as_f64().unwrap();
        assert_eq!(cell(&table, &everyone, "titres"), rows_valid, "{job}");
        valid.push(rows_valid);
        if job == "permits_bench_lean" {
            for failure in s["failures"].as_array().unwrap() {
                let rule = failure["rule"].as_str().unwrap();
                assert!(
                    !["unique", "primaryKey", "pattern", "enum"].contains(&rule),
                    "the lean job checks {rule}"
                );
            }
        }
    }
    assert!(
        valid[1] >= valid[0],
        "lean {} < full {}",
        valid[1],
        valid[0]
    );
}
