//! Shared helpers: run the binary in a scratch folder and read back what it wrote.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use polars::prelude::*;

pub fn marsad() -> Command {
    let mut cmd = Command::cargo_bin("marsad").expect("the marsad binary is built");
    cmd.env_remove("RUST_LOG");
    cmd
}

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Run a command, expect the exit code, and return what it printed on stdout and stderr.
pub fn outputs(cmd: &mut Command, code: i32) -> (String, String) {
    let out = cmd.assert().code(code).get_output().clone();
    (
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    )
}

/// A real data file copied into `tests/data/` with its SOURCE.md, so the tests need nothing
/// beside the clone.
pub fn real_data(path: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path);
    assert!(p.exists(), "{} is missing from the clone", p.display());
    p
}

/// Run a shipped pipeline into a fresh temporary folder; returns the folder.
pub fn run_pipeline(name: &str, extra: &[&str]) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    marsad()
        .args(["-q", "run"])
        .arg(repo(&format!("pipelines/{name}.toml")))
        .arg("--output")
        .arg(out.path())
        .args(extra)
        .assert()
        .success();
    out
}

/// A published table: one Parquet file, or a Hive-partitioned folder beside where the file would
/// be (`tables/x/year=2020/part-0.parquet`), read back with the partition column restored.
pub fn parquet(path: &Path) -> DataFrame {
    if path.is_file() {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return ParquetReader::new(file).finish().unwrap();
    }
    let dir = path.with_extension("");
    assert!(
        dir.is_dir(),
        "neither {} nor {} exists",
        path.display(),
        dir.display()
    );
    let mut parts = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for part in entries {
        let name = part.file_name().unwrap().to_string_lossy().into_owned();
        let (key, value) = name.split_once('=').expect("a Hive partition folder");
        let file = std::fs::File::open(part.join("part-0.parquet")).unwrap();
        let mut df = ParquetReader::new(file).finish().unwrap();
        df.with_column(Column::new(
            key.into(),
            vec![value.to_string(); df.height()],
        ))
        .unwrap();
        parts.push(df.lazy());
    }
    concat(parts, UnionArgs::default())
        .unwrap()
        .collect()
        .unwrap()
}

/// The restricted sibling of an output folder (`out` -> `out.restricted`): the quarantine and the
/// tables as computed, before disclosure control. Never part of what is published.
pub fn restricted(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .expect("an output folder has a name")
        .to_string_lossy();
    out.with_file_name(format!("{name}.restricted"))
}

pub fn metadata(path: &Path) -> Vec<(String, String)> {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = ParquetReader::new(file);
    let md = reader.get_metadata().unwrap();
    md.key_value_metadata
        .iter()
        .flatten()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect()
}

pub fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn strings(df: &DataFrame, column: &str) -> Vec<String> {
    let c = df.column(column).unwrap().cast(&DataType::String).unwrap();
    c.str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect()
}

pub fn numbers(df: &DataFrame, column: &str) -> Vec<f64> {
    let c = df.column(column).unwrap().cast(&DataType::Float64).unwrap();
    c.f64()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

/// Rows of a table as maps from column to text, for readable lookups.
pub fn filter(df: &DataFrame, conditions: &[(&str, &str)]) -> DataFrame {
    let mut lf = df.clone().lazy();
    for (c, v) in conditions {
        lf = lf.filter(col(*c).cast(DataType::String).eq(lit(*v)));
    }
    lf.collect().unwrap()
}

/// The single value of `measure` in the row matching `conditions`.
pub fn cell(df: &DataFrame, conditions: &[(&str, &str)], measure: &str) -> f64 {
    let rows = filter(df, conditions);
    assert_eq!(
        rows.height(),
        1,
        "expected one row for {conditions:?}, got {}",
        rows.height()
    );
    numbers(&rows, measure)[0]
}

/// Read a CSV the test's own way (csv crate), as a check independent of marsad's reader.
pub fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Every `_T` row equals the sum of the other sex rows, for every combination and measure.
pub fn assert_sex_totals(df: &DataFrame, sex: &str, others: &[&str], measures: &[&str]) {
    let keys: Vec<Expr> = others.iter().map(|k| col(*k)).collect();
    let mut aggs = Vec::new();
    for m in measures {
        let v = col(*m).cast(DataType::Float64);
        aggs.push(
            v.clone()
                .filter(col(sex).eq(lit("_T")))
                .sum()
                .alias(format!("{m}_t")),
        );
        aggs.push(
            v.filter(col(sex).neq(lit("_T")))
                .sum()
                .alias(format!("{m}_parts")),
        );
        aggs.push(col(sex).eq(lit("_T")).sum().alias(format!("{m}_n_t")));
    }
    let sums = df
        .clone()
        .lazy()
        .group_by(keys)
        .agg(aggs)
        .collect()
        .unwrap();
    assert!(sums.height() > 0);
    for m in measures {
        let t = numbers(&sums, &format!("{m}_t"));
        let p = numbers(&sums, &format!("{m}_parts"));
        let n = numbers(&sums, &format!("{m}_n_t"));
        for i in 0..t.len() {
            assert_eq!(n[i], 1.0, "exactly one _T row per combination");
            assert!(
                (t[i] - p[i]).abs() < 1e-6,
                "{m}: _T {} != F + M + _U {}",
                t[i],
                p[i]
            );
        }
    }
}

/// For a dimension with a total, the `_T` row equals the sum of the other rows.
pub fn assert_dimension_total(df: &DataFrame, dim: &str, dims: &[&str], measure: &str) {
    let keys: Vec<Expr> = dims
        .iter()
        .filter(|d| **d != dim)
        .map(|k| col(*k))
        .collect();
    let v = col(measure).cast(DataType::Float64);
    let sums = df
        .clone()
        .lazy()
        .group_by(keys)
        .agg([
            v.clone()
                .filter(col(dim).eq(lit("_T")))
                .sum()
                .alias("__total"),
            v.filter(col(dim).neq(lit("_T"))).sum().alias("__parts"),
        ])
        .collect()
        .unwrap();
    let (t, p) = (numbers(&sums, "__total"), numbers(&sums, "__parts"));
    assert!(!t.is_empty());
    for i in 0..t.len() {
        assert!(
            (t[i] - p[i]).abs() < 1e-6,
            "{dim}: total {} != sum of parts {}",
            t[i],
            p[i]
        );
    }
}

/// Every file under `root` with its bytes, by path, but the manifest (which records times): what
/// must be identical between two runs on the same input.
pub fn files_but_manifest(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            // the releases are read through the output links; their folders are named by date
            let store = p.extension().is_some_and(|x| x == "releases");
            if store || p.ends_with("lock") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with("manifest.json") {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p.strip_prefix(root).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

/// The start of a pipeline over the sample permit register, named `name`: its source, with sex
/// and nationality harmonized, for tests that add their own derivations and tables.
pub fn permit_source(name: &str) -> String {
    titres_source(
        name,
        0.05,
        &repo("sample_data/permits/titres_sejour_2024.csv"),
        &repo("schemas/titres_sejour.json"),
        "delimiter = \";\"\nnull_markers = [\"NA\"]",
    )
}

/// The start of a pipeline named `name` over one source `titres`: the file `data` against
/// `schema`, read with the `dialect` lines, with sex and nationality harmonized.
pub fn titres_source(
    name: &str,
    max_rejected: f64,
    data: &Path,
    schema: &Path,
    dialect: &str,
) -> String {
    format!(
        r#"name = "{name}"
max_rejected = {max_rejected}

[[source]]
name = "titres"
path = "{data}"
schema = "{schema}"

[source.dialect]
{dialect}

[[harmonize]]
source = "titres"
column = "sexe"
codelist = "sex"
into = "sex"

[[harmonize]]
source = "titres"
column = "nationalite"
codelist = "country"
into = "nationality"
"#,
        data = data.display(),
        schema = schema.display(),
    )
}

/// A table of `titres` counted by `dimensions` (a TOML list, with `totals`), published without
/// disclosure control for `reason`, and the pipeline's output folder `out`.
pub fn counted_table(name: &str, dimensions: &str, totals: &str, reason: &str) -> String {
    format!(
        r#"
[[table]]
name = "{name}"
source = "titres"
dimensions = {dimensions}
measures = [{{ name = "titres", agg = "count" }}]
totals = {totals}

[table.disclosure]
method = "none"
reason = "{reason}"

[[output]]
dir = "out"
"#
    )
}
