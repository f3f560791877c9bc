//! Drive the stages for `marsad run` and `marsad validate`, and keep the books: row
//! conservation, failures per rule, unmapped values, timings and every file written.
//!
//! `pass` reads one source window by window into a mergeable `partial::Partial`; this module
//! tabulates, protects and hands each output to `output`, which writes it.

mod output;
pub mod partial;
mod pass;
mod single;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use polars::prelude::*;
use tracing::info;

use crate::books::{FileInfo, Manifest, PipelineRef, SourceBooks, TableBooks};
use crate::disclose;
use crate::error::{Error, Result};
use crate::ingest;
use crate::publish::{Provenance, Staging};
use crate::quarantine;
use crate::spec::{Plan, TablePlan};
use crate::tabulate;
use crate::vocab::Status;
use output::Tables;
use pass::{PassContext, Processed, Timings};

pub use single::check_file;

/// Where a long run reports how far it got. The command line draws a progress bar; a library
/// caller may ignore it.
pub trait Progress: Sync {
    /// A new stretch of `total` bytes starts (one source).
    fn start(&self, message: &str, total: u64);
    /// `bytes` more were read.
    fn advance(&self, bytes: u64);
    /// The stretch is done.
    fn finish(&self);
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

#[derive(Clone, Copy)]
pub struct RunOptions<'a> {
    pub progress: &'a dyn Progress,
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions { progress: &Quiet }
    }
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
        status: Status::Open,
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

/// What both `run` and `validate` do first: read, validate and harmonize every source, and
/// open the books.
pub struct Session {
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
    let mut processed = Vec::new();
    for s in &plan.sources {
        let tables: Vec<&TablePlan> = plan.tables.iter().filter(|t| t.source == s.name).collect();
        let cx = PassContext {
            tables: &tables,
            source: s,
            progress: opts.progress,
            timings: &mut timings,
            sink: &mut sink,
        };
        processed.push(pass::process(cx, ingest::files(s), scratch)?);
    }
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

/// Every table of the plan with its totals: counts from the finest cells, or survey estimates
/// from the rows.
fn tabulate_all<'p>(
    plan: &'p Plan,
    session: &mut Session,
) -> Result<Vec<(&'p TablePlan, DataFrame)>> {
    let mut computed = Vec::new();
    let mut designs: HashMap<String, crate::survey::Design> = HashMap::new();
    for t in &plan.tables {
        let processed = plan
            .sources
            .iter()
            .position(|s| s.name == t.source)
            .map(|i| &session.processed[i])
            .ok_or_else(|| Error::Invariant {
                table: t.name.clone(),
                message: "its source was not processed".into(),
            })?;
        let design = plan.source(&t.source).and_then(|s| s.design.as_ref());
        let df = match (design, &processed.rows) {
            (Some(design_plan), Some(rows)) => {
                if !designs.contains_key(&t.source) {
                    let d = tabulate::survey::design_of(rows, design_plan, &t.source)?;
                    designs.insert(t.source.clone(), d);
                }
                let design = &designs[&t.source];
                let timings = &mut session.timings;
                timings.time("tabulate", || tabulate::survey::estimate(rows, t, design))?
            }
            _ => {
                let cells = processed
                    .cells
                    .iter()
                    .find(|(name, _)| *name == t.name)
                    .map(|(_, c)| c.clone())
                    .ok_or_else(|| Error::Invariant {
                        table: t.name.clone(),
                        message: "its cells were not computed".into(),
                    })?;
                let timings = &mut session.timings;
                timings.time("tabulate", || tabulate::from_cells(cells, t))?
            }
        };
        info!(table = %t.name, rows = df.height(), "tabulated");
        session.manifest.tables.push(TableBooks {
            name: t.name.clone(),
            title: t.title.clone(),
            source: t.source.clone(),
            rows: df.height() as u64,
        });
        computed.push((t, df));
    }
    Ok(computed)
}

/// Protect every table before anything is written: the published folder only ever holds
/// cells that pass the rules; the computed ones go to the restricted folder.
fn protect_all(
    plan: &Plan,
    session: &mut Session,
    computed: Vec<(&TablePlan, DataFrame)>,
) -> Result<Tables> {
    let timings = &mut session.timings;
    let protected = timings.time("disclose", || disclose::protect(computed))?;
    let mut tables = Tables {
        published: Vec::new(),
        restricted: Vec::new(),
    };
    for (t, p) in plan.tables.iter().zip(protected) {
        info!(
            table = %t.name,
            method = %p.books.method,
            primary = p.books.primary,
            secondary = p.books.secondary,
            "protected"
        );
        tables.published.push((t.name.clone(), p.published));
        tables.restricted.push((t.name.clone(), p.restricted));
        session.manifest.disclosure.push(p.books);
    }
    Ok(tables)
}

/// `marsad run`: every stage, then publish each output atomically.
pub fn run(plan: &Plan, opts: RunOptions) -> Result<Manifest> {
    let scratch = plan
        .outputs
        .first()
        .map(|o| scratch_for(&o.dir))
        .unwrap_or_else(|| PathBuf::from("."));
    let mut session = read_sources(plan, opts, "run", &scratch)?;
    let computed = tabulate_all(plan, &mut session)?;
    let mut tables = protect_all(plan, &mut session, computed)?;
    let over = first_over_limit(plan, &session.manifest.sources).cloned();
    session.manifest.status = if over.is_some() {
        Status::Rejected
    } else {
        Status::Published
    };
    let publish_start = Instant::now();
    let mut committed = Vec::new();
    let mut manifest = session.manifest.clone();
    for output in &plan.outputs {
        let mut m = manifest.clone();
        m.outputs.clear();
        m.timings_ms = session.timings.0.clone();
        m.timings_ms
            .insert("publish".into(), publish_start.elapsed().as_millis() as u64);
        m.timings_ms
            .insert("total".into(), session.clock.elapsed().as_millis() as u64);
        let (dir, m) =
            output::publish_output(plan, output, &session, &mut tables, over.is_some(), &m)?;
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
        Status::Rejected
    } else {
        Status::Validated
    };
    let staging = Staging::new(dir, &manifest.run_id)?;
    let files = output::write_quarantine(&staging.dir, &quarantine)?;
    manifest.timings_ms = timings.0;
    manifest
        .timings_ms
        .insert("total".into(), clock.elapsed().as_millis() as u64);
    manifest.outputs = vec![crate::books::OutputBooks {
        name: "validation".into(),
        dir: dir.display().to_string(),
        files,
    }];
    output::write_books(&staging.dir, &manifest)?;
    let committed = staging.commit()?;
    if let Some(b) = over {
        return Err(too_many(plan, &b, committed.join("quarantine")));
    }
    Ok(manifest)
}
