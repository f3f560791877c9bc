//! `marsad codes`: the code lists as a statistician checks them before writing a pipeline.

use std::collections::BTreeMap;

use crate::common::*;

fn map(args: &[&str], stdin: &str) -> Vec<(String, String, String)> {
    let out = outputs(
        marsad()
            .args(["-q", "codes", "map"])
            .args(args)
            .write_stdin(stdin.to_string()),
        0,
    )
    .0;
    out.lines()
        .map(|l| {
            let parts: Vec<&str> = l.split('\t').collect();
            assert_eq!(parts.len(), 3, "{l}");
            (
                parts[0].to_string(),
                parts[1].to_string(),
                parts[2].to_string(),
            )
        })
        .collect()
}

#[test]
fn real_world_spellings_map_to_the_exact_code() {
    let text = std::fs::read_to_string(repo("tests/data/country_spellings.tsv")).unwrap();
    let mut by_crosswalk: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let parts: Vec<&str> = line.split('\t').collect();
        by_crosswalk
            .entry(parts[0].to_string())
            .or_default()
            .push((parts[1].to_string(), parts[2].to_string()));
    }
    let mut checked = 0;
    for (crosswalk, cases) in &by_crosswalk {
        let input: String = cases.iter().map(|(raw, _)| format!("{raw}\n")).collect();
        let got = map(&["country", "--crosswalk", crosswalk], &input);
        assert_eq!(got.len(), cases.len());
        for ((raw, want), (echo, code, _)) in cases.iter().zip(&got) {
            assert_eq!(raw, echo);
            assert_eq!(code, want, "{crosswalk}: `{raw}`");
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked}");
}

#[test]
fn unmapped_values_print_an_empty_code() {
    let got = map(&["sex"], "Femme\nX\n\u{0630}\u{0643}\u{0631}\n");
    assert_eq!(got[0], ("Femme".into(), "F".into(), "Female".into()));
    assert_eq!(got[1], ("X".into(), "".into(), "".into()));
    assert_eq!(got[2].1, "M");
    let got = map(&["country", "--output", "m49-numeric"], "Maroc\nSénégal\n");
    assert_eq!(got[0].1, "504");
    assert_eq!(got[1].1, "686");
}

#[test]
fn the_unhcr_crosswalk_agrees_with_unhcrs_own_iso_columns() {
    // Every UNHCR code in the real 2025 file maps to the ISO code UNHCR itself gives beside it
    // (UNHCR writes unknown as UNK in the ISO column; marsad writes _U).
    let file = real_data("unhcr_demographics/demographics_2025.csv");
    for (code_col, iso_col) in [("coo", "coo_iso"), ("coa", "coa_iso")] {
        let got = outputs(
            marsad()
                .args([
                    "-q",
                    "codes",
                    "map",
                    "country",
                    "--crosswalk",
                    "unhcr",
                    "--csv",
                ])
                .arg(&file)
                .args(["--column", code_col]),
            0,
        )
        .0;
        let rows = csv_rows(&file);
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines.len(), rows.len());
        for (line, row) in lines.iter().zip(&rows) {
            let code = line.split('\t').nth(1).unwrap();
            let iso = row[iso_col].as_str();
            let want = if iso == "UNK" { "_U" } else { iso };
            assert_eq!(code, want, "{code_col} {} should be {iso}", row[code_col]);
        }
    }
}

#[test]
fn list_and_show() {
    let out = outputs(marsad().args(["codes", "list"]), 0).0;
    for name in [
        "sex\t7 codes",
        "country\t252 codes",
        "morocco-region\t12 codes",
        "au-region\t5 codes",
    ] {
        assert!(out.contains(name), "{out}");
    }
    let out = outputs(marsad().args(["codes", "list", "sex"]), 0).0;
    assert_eq!(
        out,
        "F\tFemale\nM\tMale\n_T\tTotal\n_O\tOther\n_U\tUnknown\n_N\tNon response\n_Z\tNot applicable\n"
    );
    let out = outputs(
        marsad().args(["codes", "show", "country", "sénégalaise"]),
        0,
    )
    .0;
    assert!(out.starts_with("code: SEN\nlabel: Senegal\n"), "{out}");
    assert!(out.contains("au_region: western"), "{out}");
    assert!(out.contains("m49_subregion: 202"), "{out}");
    let err = outputs(marsad().args(["codes", "show", "gender", "F"]), 2).1;
    assert!(err.contains("unknown code list `gender`"));
}
