//! Drive the stages for `marsad run` and `marsad validate`, and keep the books: row
//! conservation, failures per rule, unmapped values, timings and every file written.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use polars::prelude::*;
use serde::Serialize;
use tracing::{info, warn};

use crate::disclose::{self, DisclosureBooks};
use crate::error::{EngineContext, Error, Result};
use crate::harmonize::{harmonize, Unmapped};
use crate::ingest::{self, FileInfo};
use crate::publish::sdmx::{self, CsvVersion};
use crate::publish::{self, datapackage, Provenance, Staging, Written};
use crate::quarantine::ROW;
use crate::quarantine::{self, Quarantine};
use crate::spec::{Format, OutputPlan, Plan, SourcePlan, TablePlan};
use crate::tabulate;
use crate::validate::validate;
use crate::validate::{RepeatFinder, Repeats};

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Draw progress bars (only ever on a terminal).
    pub progress: bool,
}

/// How many rows one rule rejected in one column.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub rule: String,
    pub column: String,
    pub rows: u64,
}

/// The books of one source: where its rows went.
#[derive(Debug, Clone, Serialize)]
pub struct SourceBooks {
    pub name: String,
    pub schema: String,
    pub files: Vec<FileInfo>,
    pub rows_in: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
    /// `rows_in == rows_valid + rows_rejected`, checked on every run.
    pub conserved: bool,
    pub failures: Vec<Failure>,
    pub unmapped: Vec<Unmapped>,
}

impl SourceBooks {
    pub fn rejected_share(&self) -> f64 {
        if self.rows_in == 0 {
            0.0
        } else {
            self.rows_rejected as f64 / self.rows_in as f64
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TableBooks {
    pub name: String,
    pub title: Option<String>,
    pub source: String,
    pub rows: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputBooks {
    pub name: String,
    pub dir: String,
    pub files: Vec<Written>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineRef {
    pub name: String,
    pub title: Option<String>,
    pub path: String,
    pub sha256: String,
}

/// Everything a run did, written as `manifest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub marsad_version: String,
    pub run_id: String,
    pub command: String,
    /// `published`, `validated`, or `rejected` (more rejections than `max_rejected`).
    pub status: String,
    pub started_at: String,
    pub pipeline: PipelineRef,
    pub max_rejected: f64,
    pub sources: Vec<SourceBooks>,
    pub tables: Vec<TableBooks>,
    pub outputs: Vec<OutputBooks>,
    /// What disclosure control did to each table.
    pub disclosure: Vec<DisclosureBooks>,
    pub timings_ms: BTreeMap<String, u64>,
}

/// One source after ingest, validation and harmonization: its books, and either the finest
/// cells of each table over it, or (for a survey, whose estimates need every respondent) its
/// rows.
struct Processed {
    books: SourceBooks,
    rows: Option<DataFrame>,
    cells: Vec<(String, DataFrame)>,
}

#[derive(Default)]
struct Timings(BTreeMap<String, u64>);

impl Timings {
    fn time<T>(&mut self, stage: &str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.add(stage, start.elapsed());
        out
    }

    fn add(&mut self, stage: &str, elapsed: std::time::Duration) {
        *self.0.entry(stage.to_string()).or_default() += elapsed.as_millis() as u64;
    }
}

/// Where every input row went, counted over the row numbers themselves: each row must be valid
/// or rejected, never both, never neither.
#[derive(Default)]
struct RowBooks {
    valid: u64,
    rejected: u64,
    both: u64,
    neither: u64,
    /// Row numbers outside 0..rows_in (a bug if it ever happens).
    stray: u64,
}

impl RowBooks {
    fn count(
        rows_in: u64,
        valid: impl Iterator<Item = u64>,
        rejected: impl Iterator<Item = u64>,
    ) -> RowBooks {
        const VALID: u8 = 1;
        const REJECTED: u8 = 2;
        let mut seen = vec![0u8; rows_in as usize];
        let mut stray = 0;
        for (rows, mark) in [
            (Box::new(valid) as Box<dyn Iterator<Item = u64>>, VALID),
            (Box::new(rejected), REJECTED),
        ] {
            for r in rows {
                match seen.get_mut(r as usize) {
                    Some(s) => *s |= mark,
                    None => stray += 1,
                }
            }
        }
        let count = |f: &dyn Fn(u8) -> bool| seen.iter().filter(|s| f(**s)).count() as u64;
        RowBooks {
            valid: count(&|s| s & VALID != 0),
            rejected: count(&|s| s & REJECTED != 0),
            both: count(&|s| s == VALID | REJECTED),
            neither: count(&|s| s == 0),
            stray,
        }
    }

    fn add(&mut self, other: RowBooks) {
        self.valid += other.valid;
        self.rejected += other.rejected;
        self.both += other.both;
        self.neither += other.neither;
        self.stray += other.stray;
    }

    fn conserved(&self) -> bool {
        self.both == 0 && self.neither == 0 && self.stray == 0
    }
}

/// Add one window's unmapped values to the source's.
fn merge_unmapped(all: &mut HashMap<(String, String, String), Unmapped>, window: Vec<Unmapped>) {
    for u in window {
        let key = (u.column.clone(), u.codelist.clone(), u.raw_value.clone());
        all.entry(key).and_modify(|a| a.rows += u.rows).or_insert(u);
    }
}

/// What one window gives. Windows are worked on several at a time and added up in file order.
struct WindowResult {
    cells: Vec<DataFrame>,
    kept: Option<DataFrame>,
    unmapped: Vec<Unmapped>,
    quarantine: DataFrame,
    /// Rejections by rule and column.
    failures: Vec<Failure>,
    books: RowBooks,
    keys: Option<Vec<Vec<u8>>>,
    times: Vec<(&'static str, std::time::Duration)>,
}

/// What a pass over a source adds up to.
#[derive(Default)]
struct Pass {
    rows_in: u64,
    cells: Vec<Option<DataFrame>>,
    kept: Vec<DataFrame>,
    /// By column, code list and raw value.
    unmapped: HashMap<(String, String, String), Unmapped>,
    failures: BTreeMap<(String, String), u64>,
    books: RowBooks,
    /// Cells of the last windows, not yet added to `cells`.
    pending: Vec<Vec<DataFrame>>,
}

fn add_pending(pass: &mut Pass, tables: &[&TablePlan]) -> Result<()> {
    for ((acc, pending), t) in pass.cells.iter_mut().zip(&mut pass.pending).zip(tables) {
        if pending.is_empty() {
            continue;
        }
        let mut parts: Vec<DataFrame> = acc.take().into_iter().collect();
        parts.append(pending);
        *acc = Some(tabulate::merge_cells(parts, t)?);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn read_pass(
    tables: &[&TablePlan],
    source: &SourcePlan,
    files: &mut [FileInfo],
    repeats: &Repeats,
    finder: Option<&RepeatFinder>,
    opts: RunOptions,
    timings: &mut Timings,
    sink: &mut quarantine::Sink,
) -> Result<Option<Pass>> {
    let keep_rows = source.design.is_some();
    let file_names: Vec<String> = source
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let fields: Vec<String> = source.schema.field_names().map(String::from).collect();
    let bar = ingest::progress_bar(source, opts.progress);
    let mut pass = Pass {
        cells: vec![None; tables.len()],
        pending: vec![Vec::new(); tables.len()],
        ..Pass::default()
    };
    let work = |w: ingest::Window| -> Result<WindowResult> {
        let mut times = vec![("ingest", w.elapsed)];
        let mut clock = Instant::now();
        let mut lap = |stage: &'static str, times: &mut Vec<_>| {
            times.push((stage, clock.elapsed()));
            clock = Instant::now();
        };
        let keys = match finder {
            Some(f) => Some(f.entries(w.frame.clone())?),
            None => None,
        };
        lap("keys", &mut times);
        let mut q = Quarantine::new(&source.name, file_names.clone());
        q.push_rows(&w.rejected)?;
        let valid = validate(w.frame, source, &mut q, repeats)?;
        lap("validate", &mut times);
        let harmonized = harmonize(valid, source, &mut q)?;
        lap("harmonize", &mut times);
        let context = || format!("counting the rows of source `{}`", source.name);
        let frame = harmonized.frame;
        let valid_rows = frame.column(ROW).at(context)?.u64().at(context)?;
        let books = RowBooks::count(w.records, valid_rows.into_no_null_iter(), q.rows());
        let cells = if keep_rows {
            Vec::new()
        } else {
            tables
                .iter()
                .map(|t| tabulate::cells(&frame, t))
                .collect::<Result<_>>()?
        };
        lap("tabulate", &mut times);
        let quarantine = q.finish()?;
        let failures = count_failures(&quarantine)?;
        Ok(WindowResult {
            cells,
            kept: keep_rows.then_some(frame),
            unmapped: harmonized.unmapped,
            quarantine,
            failures,
            books,
            keys,
            times,
        })
    };
    let merge = |r: WindowResult| -> Result<()> {
        for (stage, d) in r.times {
            timings.add(stage, d);
        }
        if let (Some(f), Some(keys)) = (finder, r.keys) {
            f.write(keys)?;
        }
        merge_unmapped(&mut pass.unmapped, r.unmapped);
        pass.books.add(r.books);
        for f in r.failures {
            *pass.failures.entry((f.rule, f.column)).or_default() += f.rows;
        }
        sink.write(r.quarantine)?;
        // cells are added up a few windows at a time
        for (pending, part) in pass.pending.iter_mut().zip(r.cells) {
            pending.push(part);
        }
        if pass.pending.first().is_some_and(|p| p.len() >= 2) {
            timings.time("tabulate", || add_pending(&mut pass, tables))?;
        }
        pass.kept.extend(r.kept);
        Ok(())
    };
    let read = ingest::read_windows(source, files, &fields, &bar, work, merge)?;
    bar.finish_and_clear();
    timings.time("tabulate", || add_pending(&mut pass, tables))?;
    Ok(match read {
        ingest::Read::Done(rows_in) => Some(Pass { rows_in, ..pass }),
        ingest::Read::Again => None,
    })
}

/// Every window of a source through validation and harmonization, into table cells (or kept
/// rows), the quarantine sink and the books. Memory holds a few windows at a time.
fn process(
    tables: &[&TablePlan],
    source: &SourcePlan,
    mut files: Vec<FileInfo>,
    scratch: &Path,
    opts: RunOptions,
    timings: &mut Timings,
    sink: &mut quarantine::Sink,
) -> Result<Processed> {
    info!(source = %source.name, files = source.files.len(), "reading");
    // `unique` and `primaryKey` are rules over the whole source. The keys are collected while
    // the windows are validated as if no key repeated, which is what a register's identifiers
    // should do; if some did repeat after all, the source is read a second time knowing which.
    let bytes = ingest::total_bytes(source);
    let mut finder = RepeatFinder::new(source, scratch, bytes)?;
    let collecting = finder.is_some();
    let mark = sink.mark()?;
    let mut repeats = Repeats::default();
    let pass = loop {
        let read = read_pass(
            tables,
            source,
            &mut files,
            &repeats,
            finder.as_ref(),
            opts,
            timings,
            sink,
        )?;
        let Some(pass) = read else {
            info!(source = %source.name, "a file is not UTF-8 after all: reading the source again");
            sink.rollback(mark)?;
            if collecting && repeats.is_empty() {
                finder = RepeatFinder::new(source, scratch, bytes)?;
            }
            continue;
        };
        match finder.take() {
            Some(f) => {
                repeats = timings.time("keys", || f.finish())?;
                if repeats.is_empty() {
                    break pass;
                }
                info!(source = %source.name, "repeated keys: reading the source again");
                sink.rollback(mark)?;
            }
            None => break pass,
        }
    };
    let Pass {
        rows_in,
        cells,
        kept,
        unmapped,
        failures,
        books: row_books,
        ..
    } = pass;
    let mut unmapped: Vec<Unmapped> = unmapped.into_values().collect();
    let keep_rows = source.design.is_some();

    // the order of the pipeline's [[harmonize]] entries, then the most frequent first
    let order = |u: &Unmapped| {
        source
            .harmonize
            .iter()
            .position(|h| h.column == u.column && h.codelist.name == u.codelist)
    };
    unmapped.sort_by(|a, b| {
        order(a)
            .cmp(&order(b))
            .then(b.rows.cmp(&a.rows))
            .then(a.raw_value.cmp(&b.raw_value))
    });
    let (rows_valid, rows_rejected, conserved) =
        (row_books.valid, row_books.rejected, row_books.conserved());
    let books = SourceBooks {
        name: source.name.clone(),
        schema: source.schema.path.display().to_string(),
        files,
        rows_in,
        rows_valid,
        rows_rejected,
        conserved,
        failures: failures
            .into_iter()
            .map(|((rule, column), rows)| Failure { rule, column, rows })
            .collect(),
        unmapped,
    };
    info!(
        source = %source.name,
        rows_in, rows_valid, rows_rejected,
        "validated"
    );
    for u in &books.unmapped {
        warn!(source = %source.name, column = %u.column, raw_value = %u.raw_value, rows = u.rows, "value not in code list `{}`", u.codelist);
    }
    if !conserved {
        return Err(Error::Conservation {
            source_name: source.name.clone(),
            rows_in,
            rows_valid,
            rows_rejected,
        });
    }
    let rows = if keep_rows {
        let context = || format!("joining the windows of source `{}`", source.name);
        let mut all: Option<DataFrame> = None;
        for f in kept {
            match all.as_mut() {
                None => all = Some(f),
                Some(a) => {
                    a.vstack_mut(&f).at(context)?;
                }
            }
        }
        all.map(|mut a| {
            a.rechunk_mut();
            a
        })
    } else {
        None
    };
    let missing = || Error::Invariant {
        table: source.name.clone(),
        message: "the source has no window".into(),
    };
    let cells = tables
        .iter()
        .zip(cells)
        .filter(|_| !keep_rows)
        .map(|(t, c)| Ok((t.name.clone(), c.ok_or_else(missing)?)))
        .collect::<Result<_>>()?;
    Ok(Processed { books, rows, cells })
}

fn count_failures(quarantine: &DataFrame) -> Result<Vec<Failure>> {
    let context = || "counting failures".to_string();
    let counts = quarantine
        .clone()
        .lazy()
        .group_by([col("rule"), col("column")])
        .agg([len().cast(DataType::UInt64).alias("rows")])
        .sort_by_exprs([col("rule"), col("column")], SortMultipleOptions::default())
        .collect()
        .at(context)?;
    let rule = counts.column("rule").at(context)?.str().at(context)?;
    let column = counts.column("column").at(context)?.str().at(context)?;
    let rows = counts.column("rows").at(context)?.u64().at(context)?;
    Ok((0..counts.height())
        .map(|i| Failure {
            rule: rule.get(i).unwrap_or("").to_string(),
            column: column.get(i).unwrap_or("").to_string(),
            rows: rows.get(i).unwrap_or(0),
        })
        .collect())
}

/// A run id that depends only on what went in, so that rerunning on the same inputs writes the
/// same bytes (reproducible outputs, idempotent schedules).
fn run_id(plan: &Plan, scanned: &[Vec<FileInfo>]) -> String {
    let mut text = format!("{}\n{}\n", crate::VERSION, plan.sha256);
    for (s, files) in plan.sources.iter().zip(scanned) {
        for f in files {
            text.push_str(&format!("{}:{}\n", s.name, f.sha256));
        }
    }
    crate::sha256_hex(text.as_bytes())[..16].to_string()
}

fn provenance(plan: &Plan, run_id: &str, scanned: &[Vec<FileInfo>]) -> Result<Provenance> {
    let mut sources = Vec::new();
    for (files, s) in scanned.iter().zip(&plan.sources) {
        let schema_bytes = std::fs::read(&s.schema.path).map_err(|source| Error::Read {
            file: s.schema.path.clone(),
            source,
        })?;
        for f in files {
            sources.push(serde_json::json!({
                "source": s.name,
                "file": f.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "sha256": f.sha256,
                "schema": s.schema.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "schema_sha256": crate::sha256_hex(&schema_bytes),
            }));
        }
    }
    Ok(Provenance {
        pipeline: plan.name.clone(),
        pipeline_sha256: plan.sha256.clone(),
        run_id: run_id.to_string(),
        marsad_version: crate::VERSION.to_string(),
        sources: serde_json::Value::Array(sources),
    })
}

/// Copy the run's quarantine into `root/quarantine/`.
fn write_quarantine(root: &Path, quarantine: &quarantine::Closed) -> Result<Vec<Written>> {
    let dir = root.join("quarantine");
    std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
        path: dir.clone(),
        source,
    })?;
    quarantine
        .files()
        .iter()
        .map(|from| {
            let to = dir.join(from.file_name().expect("a file name"));
            std::fs::copy(from, &to).map_err(|source| Error::Write {
                path: to.clone(),
                source,
            })?;
            publish::describe(root, &to, quarantine.rows)
        })
        .collect()
}

fn quarantine_resource(file: &Written) -> serde_json::Value {
    datapackage::file_resource(
        "quarantine",
        file,
        "parquet",
        "application/vnd.apache.parquet",
        "Rejected rows with their reasons (file, line, column, raw value, rule)",
    )
}

fn first_over_limit<'a>(plan: &Plan, books: &'a [SourceBooks]) -> Option<&'a SourceBooks> {
    books
        .iter()
        .find(|b| b.rejected_share() > plan.max_rejected)
}

fn too_many(plan: &Plan, b: &SourceBooks, quarantine: PathBuf) -> Error {
    Error::TooManyRejected {
        source_name: b.name.clone(),
        rejected: b.rows_rejected,
        rows_in: b.rows_in,
        share: b.rejected_share() * 100.0,
        max: plan.max_rejected * 100.0,
        quarantine,
    }
}

fn manifest(
    plan: &Plan,
    command: &str,
    run_id: &str,
    started: &str,
    books: Vec<SourceBooks>,
) -> Manifest {
    Manifest {
        marsad_version: crate::VERSION.to_string(),
        run_id: run_id.to_string(),
        command: command.to_string(),
        status: String::new(),
        started_at: started.to_string(),
        pipeline: PipelineRef {
            name: plan.name.clone(),
            title: plan.title.clone(),
            path: plan.path.display().to_string(),
            sha256: plan.sha256.clone(),
        },
        max_rejected: plan.max_rejected,
        sources: books,
        tables: Vec::new(),
        outputs: Vec::new(),
        disclosure: Vec::new(),
        timings_ms: BTreeMap::new(),
    }
}

fn write_books(root: &Path, manifest: &Manifest) -> Result<Written> {
    let report = crate::report::markdown(manifest);
    let written = publish::write_text(root, &root.join("report.md"), &report)?;
    let json = serde_json::to_string_pretty(manifest).map_err(|e| Error::Write {
        path: root.join("manifest.json"),
        source: std::io::Error::other(e),
    })?;
    publish::write_text(root, &root.join("manifest.json"), &(json + "\n"))?;
    Ok(written)
}

/// Write an output's tables in its formats; returns the files and their package resources.
fn write_tables(
    plan: &Plan,
    output: &OutputPlan,
    root: &Path,
    tables: &mut [(String, DataFrame)],
    prov: &Provenance,
) -> Result<(Vec<Written>, Vec<serde_json::Value>)> {
    let mut files = Vec::new();
    let mut resources = Vec::new();
    let mut sdmx_tables = Vec::new();
    for (name, df) in tables.iter_mut().filter(|(n, _)| output.tables.contains(n)) {
        let Some(table) = plan.tables.iter().find(|t| t.name == *name) else {
            continue;
        };
        if output.formats.contains(&Format::Parquet) {
            let key = output
                .partition_by
                .iter()
                .find(|k| table.dimensions.contains(k));
            let written = match key {
                Some(key) => publish::write_partitioned(
                    root,
                    &root.join("tables").join(name.as_str()),
                    df,
                    key,
                    prov.key_values(name),
                )?,
                None => vec![publish::write_parquet(
                    root,
                    &root.join("tables").join(format!("{name}.parquet")),
                    df,
                    prov.key_values(name),
                )?],
            };
            resources.push(datapackage::table_resource(table, df, &written, "parquet"));
            files.extend(written);
        }
        for (format, version, suffix) in [
            (Format::SdmxCsv10, CsvVersion::V1, "sdmx1"),
            (Format::SdmxCsv20, CsvVersion::V2, "sdmx2"),
        ] {
            let Some(agency) = plan
                .sdmx
                .as_ref()
                .filter(|_| output.formats.contains(&format))
            else {
                continue;
            };
            let dir = root.join("sdmx");
            std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
                path: dir.clone(),
                source,
            })?;
            let written = sdmx::write_csv(
                root,
                &dir.join(format!("{name}.{suffix}.csv")),
                df,
                table,
                agency,
                version,
            )?;
            resources.push(datapackage::file_resource(
                &format!("{name}-{suffix}"),
                &written,
                "csv",
                if version == CsvVersion::V1 {
                    "application/vnd.sdmx.data+csv; version=1.0.0"
                } else {
                    "application/vnd.sdmx.data+csv; version=2.0.0"
                },
                &format!("{} (SDMX-CSV)", table.title.as_deref().unwrap_or(name)),
            ));
            files.push(written);
        }
        if output.formats.iter().any(|f| *f != Format::Parquet) {
            sdmx_tables.push((table, &*df));
        }
    }
    if let (Some(agency), false) = (&plan.sdmx, sdmx_tables.is_empty()) {
        let xml = sdmx::structure(&plan.name, agency, &sdmx_tables)?;
        let dir = root.join("sdmx");
        std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
            path: dir.clone(),
            source,
        })?;
        let written = publish::write_text(root, &dir.join("structure.xml"), &xml)?;
        resources.push(datapackage::file_resource(
            "sdmx-structure",
            &written,
            "xml",
            "application/vnd.sdmx.structure+xml; version=2.1",
            "SDMX-ML 2.1 structures: data structure definitions, dataflows, concepts, code lists",
        ));
        files.push(written);
    }
    Ok((files, resources))
}

/// What both `run` and `validate` do first: read, validate and harmonize every source, and
/// open the books.
struct Session {
    clock: Instant,
    timings: Timings,
    processed: Vec<Processed>,
    quarantine: quarantine::Closed,
    prov: Provenance,
    manifest: Manifest,
}

/// Where a run keeps its scratch files (repeated keys, the quarantine as it is found): beside
/// the output, on the same disk, removed when the run ends.
fn scratch_for(target: &Path) -> PathBuf {
    target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

fn read_sources(plan: &Plan, opts: RunOptions, command: &str, scratch: &Path) -> Result<Session> {
    let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let clock = Instant::now();
    let mut timings = Timings::default();
    let mut sink = quarantine::Sink::new(scratch)?;
    let processed: Vec<Processed> = plan
        .sources
        .iter()
        .map(|s| {
            let tables: Vec<&TablePlan> =
                plan.tables.iter().filter(|t| t.source == s.name).collect();
            let files = ingest::files(s);
            process(&tables, s, files, scratch, opts, &mut timings, &mut sink)
        })
        .collect::<Result<_>>()?;
    // The run id and the provenance written into every file depend on the files' checksums,
    // taken while they were read.
    let scanned: Vec<Vec<FileInfo>> = processed.iter().map(|p| p.books.files.clone()).collect();
    let run_id = run_id(plan, &scanned);
    let prov = provenance(plan, &run_id, &scanned)?;
    let quarantine = sink.finish(prov.key_values("quarantine"))?;
    let books: Vec<SourceBooks> = processed.iter().map(|p| p.books.clone()).collect();
    let manifest = manifest(plan, command, &run_id, &started, books);
    Ok(Session {
        clock,
        timings,
        processed,
        quarantine,
        prov,
        manifest,
    })
}

/// `marsad run`: every stage, then publish each output atomically.
pub fn run(plan: &Plan, opts: RunOptions) -> Result<Manifest> {
    let scratch = plan
        .outputs
        .first()
        .map(|o| scratch_for(&o.dir))
        .unwrap_or_else(|| PathBuf::from("."));
    let Session {
        clock,
        mut timings,
        processed,
        quarantine,
        prov,
        mut manifest,
    } = read_sources(plan, opts, "run", &scratch)?;
    let run_id = manifest.run_id.clone();

    let mut computed: Vec<(&crate::spec::TablePlan, DataFrame)> = Vec::new();
    let mut designs: HashMap<String, crate::survey::Design> = HashMap::new();
    for t in &plan.tables {
        let processed_source = plan
            .sources
            .iter()
            .position(|s| s.name == t.source)
            .map(|i| &processed[i])
            .ok_or_else(|| Error::Invariant {
                table: t.name.clone(),
                message: "its source was not processed".into(),
            })?;
        let df = match (
            plan.source(&t.source).and_then(|s| s.design.as_ref()),
            &processed_source.rows,
        ) {
            (Some(design_plan), Some(rows)) => {
                if !designs.contains_key(&t.source) {
                    let d = tabulate::survey::design_of(rows, design_plan, &t.source)?;
                    designs.insert(t.source.clone(), d);
                }
                let design = &designs[&t.source];
                timings.time("tabulate", || tabulate::survey::estimate(rows, t, design))?
            }
            _ => {
                let cells = processed_source
                    .cells
                    .iter()
                    .find(|(name, _)| *name == t.name)
                    .map(|(_, c)| c.clone())
                    .ok_or_else(|| Error::Invariant {
                        table: t.name.clone(),
                        message: "its cells were not computed".into(),
                    })?;
                timings.time("tabulate", || tabulate::from_cells(cells, t))?
            }
        };
        info!(table = %t.name, rows = df.height(), "tabulated");
        manifest.tables.push(TableBooks {
            name: t.name.clone(),
            title: t.title.clone(),
            source: t.source.clone(),
            rows: df.height() as u64,
        });
        computed.push((t, df));
    }
    // Tables are protected before anything is written: the published folder only ever holds
    // cells that pass the rules, the computed ones go to the restricted folder.
    let protected = timings.time("disclose", || disclose::protect(computed))?;
    let mut tables: Vec<(String, DataFrame)> = Vec::new();
    let mut restricted: Vec<(String, DataFrame)> = Vec::new();
    for (t, p) in plan.tables.iter().zip(protected) {
        info!(
            table = %t.name,
            method = %p.books.method,
            primary = p.books.primary,
            secondary = p.books.secondary,
            "protected"
        );
        tables.push((t.name.clone(), tabulate::finish(p.published, t)?));
        restricted.push((t.name.clone(), tabulate::finish(p.restricted, t)?));
        manifest.disclosure.push(p.books);
    }

    let over = first_over_limit(plan, &manifest.sources).cloned();
    manifest.status = if over.is_some() {
        "rejected"
    } else {
        "published"
    }
    .into();
    let publish_start = Instant::now();
    let mut committed = Vec::new();
    for output in &plan.outputs {
        let staging = Staging::new(&output.dir, &run_id)?;
        let mut files = Vec::new();
        let mut resources = Vec::new();
        // A rejected run publishes no tables: only what the data provider needs to fix the file.
        if over.is_none() {
            let (written, described) =
                write_tables(plan, output, &staging.dir, &mut tables, &prov)?;
            files.extend(written);
            resources.extend(described);
        }
        // Microdata-level outputs (rejected rows with their raw values, tables as computed)
        // never go into the publishable folder.
        let restricted_dir = publish::sibling(staging.target(), "restricted");
        let mut closed = None;
        if over.is_some() {
            let q = write_quarantine(&staging.dir, &quarantine)?;
            resources.push(quarantine_resource(&q[0]));
            files.extend(q);
        } else {
            let closed_staging = Staging::new(&restricted_dir, &run_id)?;
            let restricted_output = OutputPlan {
                formats: vec![Format::Parquet],
                ..output.clone()
            };
            let (mut written, mut described) = write_tables(
                plan,
                &restricted_output,
                &closed_staging.dir,
                &mut restricted,
                &prov,
            )?;
            if output.quarantine {
                let q = write_quarantine(&closed_staging.dir, &quarantine)?;
                described.push(quarantine_resource(&q[0]));
                written.extend(q);
            }
            written.push(publish::write_text(
                &closed_staging.dir,
                &closed_staging.dir.join("datapackage.json"),
                &datapackage::package(plan, described),
            )?);
            closed = Some((closed_staging, written));
        }
        files.push(publish::write_text(
            &staging.dir,
            &staging.dir.join("datapackage.json"),
            &datapackage::package(plan, resources),
        )?);
        let mut m = manifest.clone();
        m.timings_ms = timings.0.clone();
        m.timings_ms
            .insert("publish".into(), publish_start.elapsed().as_millis() as u64);
        m.timings_ms
            .insert("total".into(), clock.elapsed().as_millis() as u64);
        m.outputs = vec![OutputBooks {
            name: output.name.clone(),
            dir: output.dir.display().to_string(),
            files,
        }];
        if let Some((closed_staging, written)) = closed {
            let mut cm = m.clone();
            cm.outputs = vec![OutputBooks {
                name: format!("{} (restricted)", output.name),
                dir: restricted_dir.display().to_string(),
                files: written,
            }];
            write_books(&closed_staging.dir, &cm)?;
            let dir = closed_staging.commit()?;
            info!(output = %output.name, dir = %dir.display(), "restricted outputs written");
        }
        write_books(&staging.dir, &m)?;
        let dest = if over.is_some() {
            publish::sibling(staging.target(), "rejected")
        } else {
            staging.target().to_path_buf()
        };
        let dir = staging.commit_to(&dest)?;
        info!(output = %output.name, dir = %dir.display(), "written");
        committed.push(dir);
        manifest.outputs.extend(m.outputs);
        manifest.timings_ms = m.timings_ms;
    }
    if let Some(b) = over {
        let q = committed
            .first()
            .map(|d| d.join("quarantine"))
            .unwrap_or_default();
        return Err(too_many(plan, &b, q));
    }
    Ok(manifest)
}

/// `marsad validate`: ingest, validate and harmonize; write the quarantine and the report.
pub fn validate_only(plan: &Plan, dir: &Path, opts: RunOptions) -> Result<Manifest> {
    let Session {
        clock,
        timings,
        quarantine,
        mut manifest,
        ..
    } = read_sources(plan, opts, "validate", &scratch_for(dir))?;
    let over = first_over_limit(plan, &manifest.sources).cloned();
    manifest.status = if over.is_some() {
        "rejected"
    } else {
        "validated"
    }
    .into();

    let staging = Staging::new(dir, &manifest.run_id)?;
    let files = write_quarantine(&staging.dir, &quarantine)?;
    manifest.timings_ms = timings.0;
    manifest
        .timings_ms
        .insert("total".into(), clock.elapsed().as_millis() as u64);
    manifest.outputs = vec![OutputBooks {
        name: "validation".into(),
        dir: dir.display().to_string(),
        files,
    }];
    write_books(&staging.dir, &manifest)?;
    let committed = staging.commit()?;
    if let Some(b) = over {
        return Err(too_many(plan, &b, committed.join("quarantine")));
    }
    Ok(manifest)
}

/// What `marsad validate --schema` found in one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    pub file: String,
    pub schema: String,
    /// The file is acceptable: its header matches and no row was rejected.
    pub valid: bool,
    pub books: SourceBooks,
    /// Every rejection: line, column, raw value, rule, message.
    pub errors: Vec<serde_json::Value>,
}

/// `marsad validate --schema SCHEMA FILE`: check one file against an exchange schema, with no
/// pipeline file. Writes the quarantine to `output` when given.
pub fn check_file(
    schema: &Path,
    file: &Path,
    dialect: crate::spec::Dialect,
    output: Option<&Path>,
) -> Result<FileCheck> {
    let source = SourcePlan {
        name: file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into()),
        files: vec![file.to_path_buf()],
        schema: crate::schema::TableSchema::load(schema)?,
        dialect,
        derives: Vec::new(),
        checks: Vec::new(),
        unpivot: None,
        harmonize: Vec::new(),
        late_derives: Vec::new(),
        late_checks: Vec::new(),
        columns: Vec::new(),
        design: None,
    };
    if !file.exists() {
        return Err(Error::Read {
            file: file.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let mut timings = Timings::default();
    let prov = Provenance {
        pipeline: "validate".into(),
        pipeline_sha256: String::new(),
        run_id: String::new(),
        marsad_version: crate::VERSION.to_string(),
        sources: serde_json::Value::Null,
    };
    let scratch = output.map_or_else(std::env::temp_dir, scratch_for);
    let mut sink = quarantine::Sink::new(&scratch)?;
    let files = ingest::files(&source);
    let processed = process(
        &[],
        &source,
        files,
        &scratch,
        RunOptions::default(),
        &mut timings,
        &mut sink,
    )?;
    let closed = sink.finish(prov.key_values("quarantine"))?;
    let q = &closed.frame()?;
    let context = || "listing rejections".to_string();
    let text = |c: &str| -> Result<Vec<String>> {
        let col = q
            .column(c)
            .at(context)?
            .cast(&DataType::String)
            .at(context)?;
        Ok(col
            .str()
            .at(context)?
            .iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect())
    };
    let (lines, columns, raws, rules, messages) = (
        text("line")?,
        text("column")?,
        text("raw_value")?,
        text("rule")?,
        text("message")?,
    );
    let errors = (0..q.height())
        .map(|i| {
            serde_json::json!({
                "line": lines[i].parse::<u64>().unwrap_or(0),
                "column": columns[i],
                "raw_value": raws[i],
                "rule": rules[i],
                "message": messages[i],
            })
        })
        .collect();
    if let Some(dir) = output {
        let staging = Staging::new(dir, "validate")?;
        write_quarantine(&staging.dir, &closed)?;
        staging.commit()?;
    }
    Ok(FileCheck {
        file: file.display().to_string(),
        schema: schema.display().to_string(),
        valid: processed.books.rows_rejected == 0,
        books: processed.books,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_books_catch_lost_double_and_stray_rows() {
        let ok = RowBooks::count(5, [0, 1, 1, 3].into_iter(), [2, 4, 4].into_iter());
        assert_eq!((ok.valid, ok.rejected), (3, 2));
        assert!(ok.conserved());
        let lost = RowBooks::count(5, [0, 1].into_iter(), [2, 4].into_iter());
        assert_eq!(lost.neither, 1);
        assert!(!lost.conserved());
        let twice = RowBooks::count(3, [0, 1, 2].into_iter(), [2].into_iter());
        assert_eq!(twice.both, 1);
        assert!(!twice.conserved());
        let stray = RowBooks::count(2, [0, 1, 7].into_iter(), std::iter::empty());
        assert!(!stray.conserved());
    }
}
