//! The files ministries actually send: Excel's "Unicode text" (UTF-16), gzip-compressed exports
//! and CSV from an Arabic-locale Windows (Windows-1256).

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::common::*;

fn sample() -> std::path::PathBuf {
    repo("sample_data/permits/titres_sejour_2024.csv")
}

/// `validate --schema` of a permit file as JSON (the sample has bad rows: exit 4).
fn validate_json(file: &Path, extra: &[&str]) -> serde_json::Value {
    let out = outputs(
        marsad()
            .args(["-q", "validate", "--format", "json", "--schema"])
            .arg(repo("schemas/titres_sejour.json"))
            .arg(file)
            .args(["--delimiter", ";"])
            .args(extra),
        4,
    )
    .0;
    serde_json::from_str(&out).unwrap()
}

/// The sample register's text (it is saved in Windows-1252).
fn sample_text() -> String {
    let bytes = std::fs::read(sample()).unwrap();
    encoding_rs::WINDOWS_1252
        .decode_without_bom_handling(&bytes)
        .0
        .into_owned()
}

fn assert_same_findings(got: &serde_json::Value, want: &serde_json::Value) {
    for key in ["rows_in", "rows_valid", "rows_rejected"] {
        assert_eq!(got["books"][key], want["books"][key], "{key}");
    }
    assert_eq!(got["errors"], want["errors"]);
}

#[test]
fn utf16_text_with_a_byte_order_mark_reads_like_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let want = validate_json(&sample(), &[]);
    let text = sample_text();
    for (name, mark, big_endian) in [
        ("le.txt", [0xFF, 0xFE], false),
        ("be.txt", [0xFE, 0xFF], true),
    ] {
        let mut bytes = mark.to_vec();
        for unit in text.encode_utf16() {
            let pair = if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            };
            bytes.extend(pair);
        }
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let got = validate_json(&path, &[]);
        assert_same_findings(&got, &want);
        let file = &got["books"]["files"][0];
        let label = if big_endian { "utf-16be" } else { "utf-16le" };
        assert_eq!(file["encoding"], label);
        assert_eq!(file["bytes"], bytes.len() as u64);
    }
}

#[test]
fn a_gzip_file_is_inflated_and_checksummed_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let want = validate_json(&sample(), &[]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(sample()).unwrap()).unwrap();
    let gz = gz.finish().unwrap();
    let path = dir.path().join("titres_sejour_2024.csv.gz");
    std::fs::write(&path, &gz).unwrap();
    let got = validate_json(&path, &[]);
    assert_same_findings(&got, &want);
    let file = &got["books"]["files"][0];
    assert_eq!(file["compression"], "gzip");
    assert_eq!(file["encoding"], "windows-1252");
    assert_eq!(file["bytes"], gz.len() as u64);
    assert_eq!(file["sha256"], marsad::hex(&Sha256::digest(&gz)));
    // A plain file says nothing of compression.
    assert!(want["books"]["files"][0].get("compression").is_none());
}

/// A pipeline over the Arabic test register, with `encoding` as given.
fn arabic_pipeline(dir: &Path, encoding: &str) -> std::path::PathBuf {
    let mut text = titres_source(
        "titres_ar",
        0.2,
        &real_data("arabic/titres_windows1256.csv"),
        &real_data("arabic/schema.json"),
        &format!("delimiter = \";\"\nencoding = \"{encoding}\""),
    );
    text.push_str(&counted_table(
        "par_nationalite",
        r#"["sex", "nationality"]"#,
        r#"["nationality"]"#,
        "a test of encodings",
    ));
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn arabic_names_from_windows_1256_map_through_the_country_list() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = arabic_pipeline(dir.path(), "windows-1256");
    marsad()
        .args(["-q", "run"])
        .arg(&pipeline)
        .assert()
        .success();
    let out = dir.path().join("out");
    let table = parquet(&out.join("tables/par_nationalite.parquet"));
    let count = |sex: &str, nationality: &str| {
        cell(
            &table,
            &[("sex", sex), ("nationality", nationality)],
            "titres",
        )
    };
    assert_eq!(count("_T", "MAR"), 3.0);
    assert_eq!(count("_T", "SEN"), 2.0);
    assert_eq!(count("_T", "MLI"), 2.0);
    assert_eq!(count("_T", "CIV"), 2.0);
    assert_eq!(count("F", "_T"), 5.0);
    let manifest = manifest(&out);
    let source = &manifest["sources"][0];
    assert_eq!(source["files"][0]["encoding"], "windows-1256");
    assert_eq!(source["rows_in"], 10);
    assert_eq!(source["rows_rejected"], 1);
    // The quarantine holds the unknown name as it was written, in Arabic.
    let rejected = csv_rows(&restricted(&out).join("quarantine/quarantine.csv"));
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["raw_value"], "بلد مجهول");
    // The provider's report reads the line again in its encoding and shows it whole.
    let report = std::fs::read_to_string(restricted(&out).join("report.html")).unwrap();
    let line = &rejected[0]["line"];
    let row = &report[report.find(&format!("<tr data-line=\"{line}\">")).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("<td class=\"bad\" data-column=\"nationalite\"><span class=\"raw\">بلد مجهول</span></td>"),
        "{row}"
    );
}

#[test]
fn arabic_read_as_windows_1252_maps_nothing() {
    // Without the encoding, the bytes are Latin letters: no Arabic name is found, and the run
    // stops at its rejection limit instead of publishing.
    let dir = tempfile::tempdir().unwrap();
    let pipeline = arabic_pipeline(dir.path(), "auto");
    let (_, err) = outputs(marsad().args(["-q", "run"]).arg(&pipeline), 4);
    assert!(err.contains("rejected"), "{err}");
}
