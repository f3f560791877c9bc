//! The hot inner stages of a run, one at a time, on 1,000,000 rows of the synthetic permit
//! register (`benches/gen_permits.py --rows 1000000 --seed 1`) through `benches/permits_bench.toml`:
//!
//!     cargo bench --bench stages
//!
//! - `s1_ingest`: `ingest::read_windows` over the file (read, decode, parse into windows), with a
//!   `work` that only counts each window's records;
//! - `s2_validate`: `validate::validate` on every ingested window;
//! - `s3_harmonize`: `harmonize::harmonize` on every validated window;
//! - `s4_tabulate`: `tabulate::cells` on every harmonized window, the cells added up with
//!   `merge_cells` in window order (as `run` does), then `from_cells` for the table and its totals.
//!
//! The inputs of each stage are computed once, outside the timings, by running the stages before
//! it; the windows are then taken one after another (a run works on two at once on two cores, so
//! the sum of these stages is not a run's wall time). The checksums (taken on the reading thread) are
//! in `s1_ingest`; the repeated-key search is left out: validation runs as on a run's first pass, with no repeats.
//!
//! The register is read from `$MARSAD_BENCH_DATA/permits_1000000_1.csv`, by default
//! `$HOME/.cache/marsad/bench/`, and generated there on first use (a few seconds, python3).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use divan::counter::ItemsCount;
use divan::Bencher;
use marsad::books::FileInfo;
use marsad::harmonize::harmonize;
use marsad::ingest;
use marsad::quarantine::{Quarantine, Rejection};
use marsad::spec::{self, Overrides, Plan, SourcePlan, TablePlan};
use marsad::tabulate;
use marsad::validate::{validate, References, Repeats};
use polars::prelude::DataFrame;

fn main() {
    divan::main();
}

const ROWS: u64 = 1_000_000;
const SEED: u64 = 1;
/// The pipeline's source whose file is replaced by the generated register (`--input titres=`).
const SOURCE: &str = "titres";

/// The generated register, made on first use.
fn register() -> PathBuf {
    let dir = std::env::var_os("MARSAD_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME or MARSAD_BENCH_DATA is set");
            Path::new(&home).join(".cache/marsad/bench")
        });
    let file = dir.join(format!("permits_{ROWS}_{SEED}.csv"));
    if file.exists() {
        return file;
    }
    std::fs::create_dir_all(&dir).expect("create the bench data directory");
    // Generated beside the final name and renamed, so that an interrupted run leaves no
    // truncated register behind.
    let partial = dir.join(format!("permits_{ROWS}_{SEED}.csv.partial"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/gen_permits.py");
    eprintln!("generating {}", file.display());
    let status = std::process::Command::new("python3")
        .arg(&script)
        .args(["--rows", &ROWS.to_string(), "--seed", &SEED.to_string()])
        .arg("--out")
        .arg(&partial)
        .status()
        .expect("run python3 benches/gen_permits.py");
    assert!(status.success(), "gen_permits.py failed: {status}");
    std::fs::rename(&partial, &file).expect("move the generated register into place");
    file
}

/// The bench pipeline with its source pointed at the register, and the register's checksum pass
/// (which the ingest needs for the encoding).
struct Setup {
    plan: Plan,
    files: Vec<FileInfo>,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/permits_bench.toml");
    let overrides = Overrides {
        inputs: vec![(SOURCE.to_string(), register())],
        output: None,
        lang: None,
    };
    let plan = spec::load(&pipeline, &overrides).expect("load benches/permits_bench.toml");
    let files = ingest::files(plan.source(SOURCE).expect("the titres source"));
    Setup { plan, files }
});

fn source() -> &'static SourcePlan {
    SETUP.plan.source(SOURCE).expect("the titres source")
}

fn table() -> &'static TablePlan {
    SETUP
        .plan
        .tables
        .iter()
        .find(|t| t.source == SOURCE)
        .expect("a table over titres")
}

fn fields() -> Vec<String> {
    source().schema.field_names().map(String::from).collect()
}

fn quarantine(rejected: &[Rejection]) -> Quarantine {
    let files = source()
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut q = Quarantine::new(&source().name, files);
    q.push_rows(rejected).expect("quarantine the broken rows");
    q
}

/// Every window of the register as ingested: its frame and its structurally broken rows.
static INGESTED: LazyLock<Vec<(DataFrame, Vec<Rejection>)>> = LazyLock::new(|| {
    let mut files = SETUP.files.clone();
    let bar = |_: u64| {};
    let mut windows = Vec::new();
    let records = ingest::read_windows(
        source(),
        &mut files,
        &fields(),
        &bar,
        |w| Ok((w.frame, w.rejected)),
        |w| {
            windows.push(w);
            Ok(())
        },
    )
    .expect("ingest");
    assert!(matches!(records, ingest::Read::Done(ROWS)));
    windows
});

static VALIDATED: LazyLock<Vec<DataFrame>> = LazyLock::new(|| {
    INGESTED
        .iter()
        .map(|(frame, rejected)| {
            validate(
                frame.clone(),
                source(),
                &mut quarantine(rejected),
                &Repeats::default(),
                &References::default(),
            )
            .expect("validate")
        })
        .collect()
});

static HARMONIZED: LazyLock<Vec<DataFrame>> = LazyLock::new(|| {
    VALIDATED
        .iter()
        .map(|frame| {
            harmonize(frame.clone(), source(), &mut quarantine(&[]))
                .expect("harmonize")
                .frame
        })
        .collect()
});

#[divan::bench(sample_count = 5, sample_size = 1)]
fn s1_ingest(bencher: Bencher) {
    let (fields, bar) = (fields(), |_: u64| {});
    bencher
        .counter(ItemsCount::new(ROWS))
        .with_inputs(|| SETUP.files.clone())
        .bench_local_values(|mut files| {
            let mut records = 0u64;
            ingest::read_windows(
                source(),
                &mut files,
                &fields,
                &bar,
                |w| Ok(w.records),
                |n| {
                    records += n;
                    Ok(())
                },
            )
            .expect("ingest");
            records
        });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn s2_validate(bencher: Bencher) {
    bencher
        .counter(ItemsCount::new(ROWS))
        .with_inputs(|| {
            INGESTED
                .iter()
                .map(|(frame, rejected)| (frame.clone(), quarantine(rejected)))
                .collect::<Vec<_>>()
        })
        .bench_local_values(|windows| {
            let repeats = Repeats::default();
            windows
                .into_iter()
                .map(|(frame, mut q)| {
                    let valid = validate(frame, source(), &mut q, &repeats, &References::default())
                        .expect("validate");
                    (valid, q)
                })
                .collect::<Vec<_>>()
        });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn s3_harmonize(bencher: Bencher) {
    bencher
        .counter(ItemsCount::new(ROWS))
        .with_inputs(|| {
            VALIDATED
                .iter()
                .map(|frame| (frame.clone(), quarantine(&[])))
                .collect::<Vec<_>>()
        })
        .bench_local_values(|windows| {
            windows
                .into_iter()
                .map(|(frame, mut q)| (harmonize(frame, source(), &mut q).expect("harmonize"), q))
                .collect::<Vec<_>>()
        });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn s4_tabulate(bencher: Bencher) {
    let (frames, table) = (&*HARMONIZED, table());
    bencher.counter(ItemsCount::new(ROWS)).bench_local(|| {
        let mut merged: Option<DataFrame> = None;
        for frame in frames {
            let part = tabulate::cells(frame, table).expect("cells");
            merged = Some(match merged {
                None => part,
                Some(acc) => tabulate::merge_cells(vec![acc, part], table).expect("merge"),
            });
        }
        tabulate::from_cells(merged.expect("a window"), table).expect("from_cells")
    });
}
