//! The HTML reports: the publication's pictures drawn from the published table, in the
//! pipeline's language; the provider's report marking the cells that break a rule.

use std::collections::HashMap;

use polars::prelude::DataFrame;

use crate::common::*;

/// The value of attribute `name` in the first tag of `html`.
fn attr<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {}", &html[..html.len().min(300)]))
        + name.len()
        + 3;
    &html[start..start + html[start..].find('"').unwrap()]
}

/// The `<figure>` drawing `dimension` in the section of `table`.
fn figure<'a>(html: &'a str, table: &str, dimension: &str) -> &'a str {
    let section = &html[html
        .find(&format!("<section id=\"{table}\""))
        .unwrap_or_else(|| panic!("no section for {table}"))..];
    let section = &section[..section.find("</section>").unwrap()];
    let start = section
        .find(&format!("<figure data-dimension=\"{dimension}\""))
        .unwrap_or_else(|| panic!("no figure of {dimension} in {table}"));
    &section[start..start + section[start..].find("</figure>").unwrap()]
}

/// A drawn bar: sex, code, value ("c" when hidden), x and width.
pub struct Bar {
    pub sex: String,
    pub code: String,
    pub value: String,
    pub x: f64,
    pub width: f64,
}

fn bars(figure: &str) -> Vec<Bar> {
    figure
        .split("<rect class=\"bar ")
        .skip(1)
        .map(|tag| {
            let tag = &tag[..tag.find("/>").unwrap()];
            Bar {
                sex: attr(tag, "data-sex").into(),
                code: attr(tag, "data-code").into(),
                value: attr(tag, "data-value").into(),
                x: attr(tag, "x").parse().unwrap(),
                width: attr(tag, "width").parse().unwrap(),
            }
        })
        .collect()
}

/// Check a pyramid against its table: every bar's value is the published cell where the other
/// dimensions are held (hidden cells drawn "c", never as zero), its length is value × scale,
/// every age group is drawn for women, men and unknown sex. Returns the bars.
pub fn check_pyramid(
    html: &str,
    table: &str,
    df: &DataFrame,
    age: &str,
    measure: &str,
) -> Vec<Bar> {
    let fig = figure(html, table, age);
    let held: Vec<(String, String)> = attr(fig, "data-held")
        .split(';')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let scale: f64 = attr(&fig[fig.find("<svg").unwrap()..], "data-scale")
        .parse()
        .unwrap();
    let drawn = bars(fig);
    let ages: std::collections::BTreeSet<String> =
        strings(df, age).into_iter().filter(|a| a != "_T").collect();
    assert_eq!(drawn.len(), ages.len() * 3, "one bar per age group and sex");
    for bar in &drawn {
        let mut at: Vec<(&str, &str)> =
            held.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        at.push((age, &bar.code));
        at.push(("sex", &bar.sex));
        let rows = filter(df, &at);
        let published = match rows.height() {
            0 => Some(0.0),
            1 => Some(numbers(&rows, measure)[0]).filter(|v| !v.is_nan()),
            n => panic!("{n} rows at {at:?}"),
        };
        match published {
            Some(v) => {
                assert_eq!(bar.value.parse::<f64>().unwrap(), v, "{at:?}");
                assert!(
                    (bar.width - v * scale).abs() < 0.01,
                    "{at:?}: {} vs {}",
                    bar.width,
                    v * scale
                );
            }
            None => {
                assert_eq!(bar.value, "c", "a hidden cell at {at:?} is drawn as such");
                assert!(bar.width > 0.0);
            }
        }
    }
    drawn
}

#[test]
fn arabic_publication_draws_a_mirrored_pyramid_from_the_published_table() {
    let run = run_pipeline("unhcr_maroc", &["--lang", "ar"]);
    let html = std::fs::read_to_string(run.path().join("report.html")).unwrap();
    assert!(
        html.contains("<html lang=\"ar\" dir=\"rtl\">"),
        "{}",
        &html[..200]
    );
    let table = "unhcr_sexe_origine_asile_age";
    let df = parquet(&run.path().join(format!("tables/{table}.parquet")));
    let drawn = check_pyramid(&html, table, &df, "age_group", "persons");
    assert!(drawn
        .iter()
        .any(|b| b.value.parse::<f64>().is_ok_and(|v| v > 100.0)));
    // Right to left: men's bars on the right of the women's, unknown sex furthest left.
    let x = |sex: &str| {
        let xs: Vec<f64> = drawn.iter().filter(|b| b.sex == sex).map(|b| b.x).collect();
        xs.iter().sum::<f64>() / xs.len() as f64
    };
    assert!(
        x("M") > x("F") && x("F") > x("_U"),
        "{} {} {}",
        x("M"),
        x("F"),
        x("_U")
    );
    // Arabic words from the catalogue, Arabic country names from the code list.
    assert!(html.contains("الهرم السكاني"));
    // The table's notes from the pipeline file, under its title.
    assert!(html.contains("<p>Refugees, asylum-seekers and others of concern to UNHCR"));
    assert!(html.contains("المغرب"));
    // The age ranges are isolated left to right so that 0–4 does not read 4–0.
    assert!(html.contains("\u{2066}0–4\u{2069}"));
}

#[test]
fn provider_report_marks_the_cells_of_a_known_bad_row() {
    // A ministry's self-check, in French: the report names the file, refuses it, shows each
    // bad row under its header with the failing cell marked.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("titres.csv");
    std::fs::write(
        &data,
        "id_titre;date_delivrance;sexe;annee_naissance;nationalite;region;motif;poids\n\
TS00000001;17/01/2024;M;1990;MAR;Casablanca-Settat;travail;1,2\n\
TS00000002;18/01/2024;F;deux mille;SEN;Casablanca-Settat;famille;1,0\n\
TS00000003;19/01/2024;F;1985;SEN;Casablanca-Settat;travail;1,1\n",
    )
    .unwrap();
    let (html, _) = outputs(
        marsad()
            .args(["validate", "--schema"])
            .arg(repo("schemas/titres_sejour.json"))
            .arg(&data)
            .args([
                "--delimiter",
                ";",
                "--decimal-comma",
                "--format",
                "html",
                "--lang",
                "fr",
            ]),
        4,
    );
    assert!(html.contains("<html lang=\"fr\" dir=\"ltr\">"));
    assert!(html.contains("Le fichier n'est pas accepté"), "{html}");
    let section = &html[html
        .find("data-rule=\"type\"")
        .expect("a section for the type rule")..];
    let row = &section[section
        .find("<tr data-line=\"3\">")
        .expect("line 3 shown whole")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("<td class=\"bad\" data-column=\"annee_naissance\"><span class=\"raw\">deux mille</span></td>"),
        "{row}"
    );
    assert!(row.contains("<td data-column=\"id_titre\"><span class=\"raw\">TS00000002</span></td>"));
    // The words and the structure, not the style sheet.
    let (head, rest) = html.split_once("<style>").unwrap();
    let page = format!(
        "{head}<style>[…]{}",
        &rest[rest.find("</style>").unwrap()..]
    );
    insta::assert_snapshot!("provider_report_fr", page);
}

#[test]
fn every_language_reports_the_same_figures() {
    // The three catalogues are complete (a unit test checks it); here the same check in
    // three languages gives the same rows, lines and counts.
    let data = real_data("spreadsheets/titres.xlsx");
    let mut seen = HashMap::new();
    for lang in ["fr", "ar", "en"] {
        let (html, _) = outputs(
            marsad()
                .args(["validate", "--schema"])
                .arg(real_data("spreadsheets/titres.schema.json"))
                .arg(&data)
                .args([
                    "--sheet",
                    "Titres",
                    "--skip-lines",
                    "2",
                    "--format",
                    "html",
                    "--lang",
                    lang,
                ]),
            4,
        );
        let lines: Vec<&str> = html
            .match_indices("<tr data-line=\"")
            .map(|(i, _)| &html[i..i + 20])
            .collect();
        assert!(!lines.is_empty());
        assert!(html.contains("Titres!"), "a spreadsheet's cells are named");
        seen.insert(lang, lines.join(","));
    }
    assert_eq!(seen["fr"], seen["ar"]);
    assert_eq!(seen["fr"], seen["en"]);
}

#[test]
fn english_publication_of_a_small_table() {
    // The words and numbers a reader sees, kept as a snapshot: sex × reason for a permit, in
    // English, with a table note and the quality notes.
    let dir = tempfile::tempdir().unwrap();
    let mut text = permit_source("petit").replacen(
        "max_rejected = 0.05\n",
        "max_rejected = 0.05\nlang = \"en\"\n",
        1,
    );
    text.push_str(&counted_table(
        "par_motif",
        "[\"sex\", \"motif\"]",
        "[\"motif\"]",
        "a test of the report",
    ));
    let text = text.replacen(
        "name = \"par_motif\"\n",
        "name = \"par_motif\"\nnotes = \"Permits issued in 2023 and 2024.\"\n",
        1,
    );
    let pipeline = dir.path().join("p.toml");
    std::fs::write(&pipeline, text).unwrap();
    marsad()
        .args(["-q", "run"])
        .arg(&pipeline)
        .assert()
        .success();
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    let (head, rest) = html.split_once("<style>").unwrap();
    let page = format!(
        "{head}<style>[…]{}",
        &rest[rest.find("</style>").unwrap()..]
    );
    // The run's date and id change; the rest must not.
    let made = page.find("Made by marsad").unwrap();
    let end = made + page[made..].find("</p>").unwrap();
    let page = format!("{}Made by marsad […]{}", &page[..made], &page[end..]);
    assert!(page.contains("<p>Permits issued in 2023 and 2024.</p>"));
    insta::assert_snapshot!("publication_en", page);
}
