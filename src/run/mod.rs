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
use crate::publish::store::{self, Store, Wait};
use crate::publish::{self, Provenance};
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
    /// Wait for another run on the same output, or give up at once (`--no-wait`).
    pub wait: Wait,
    /// Publish a new release even when the current one has the same run id (`--force`).
    pub force: bool,
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions {
            progress: &Quiet,
            wait: Wait::Wait,
            force: false,
        }
    }
}

/// A run id that depends only on what went in, so that rerunning on the same inputs writes the
/// same bytes (reproducible outputs, idempotent schedules).
/// Everything that makes the outputs what they are goes into it: the marsad version, the
/// pipeline file, its schemas and code list files, and the input files.
fn run_id(plan: &Plan, scanned: &[Vec<FileInfo>]) -> String {
    let mut text = format!("{}\n{}\n", crate::VERSION, plan.sha256);
    for (s, files) in plan.sources.iter().zip(scanned) {
        for f in files {
            text.push_str(&format!("{}:{}\n", s.name, f.sha256));
        }
    }
    // hashed when the plan read them: what was used, not what the file holds now
    let config = plan
        .sources
        .iter()
        .map(|s| (&s.schema.path, &s.schema.sha256))
        .chain(plan.code_list_files.iter().map(|(p, sha)| (p, sha)));
    for (path, sha) in config {
        text.push_str(&format!("{}:{sha}\n", path.display()));
    }
    if plan.lang_overridden {
        text.push_str(&format!("lang:{}\n", plan.lang));
    }
    crate::sha256_hex(text.as_bytes())[..16].to_string()
}

fn provenance(plan: &Plan, run_id: &str, scanned: &[Vec<FileInfo>]) -> Result<Provenance> {
    let mut sources = Vec::new();
    for (files, s) in scanned.iter().zip(&plan.sources) {
        for f in files {
            sources.push(serde_json::json!({
                "source": s.name,
                "file": f.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "sha256": f.sha256,
                "schema": s.schema.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "schema_sha256": s.schema.sha256,
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
        revisions: Vec::new(),
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

fn read_sources(plan: &Plan, opts: RunOptions, command: &str, scratch: &Path) -> Result<Session> {
    let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let clock = Instant::now();
    let mut timings = Timings::default();
    let mut sink = quarantine::Sink::new(scratch)?;
    let mut processed: Vec<pass::Processed> = Vec::new();
    let mut references = crate::validate::References::default();
    for s in &plan.sources {
        for (list, fields, codes) in &s.code_list_keys {
            references.add(list, fields.clone(), codes.iter().cloned().collect());
        }
    }
    for s in &plan.sources {
        let tables: Vec<&TablePlan> = plan.tables.iter().filter(|t| t.source == s.name).collect();
        let cx = PassContext {
            tables: &tables,
            source: s,
            progress: opts.progress,
            timings: &mut timings,
            sink: &mut sink,
            references: &references,
        };
        let mut done = pass::process(cx, ingest::files(s), scratch)?;
        for (fields, values) in s
            .referenced
            .iter()
            .zip(std::mem::take(&mut done.references))
        {
            references.add(&s.name, fields.clone(), values);
        }
        processed.push(done);
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
    let hierarchies = disclose::Hierarchies::of(plan);
    let protected = timings.time("disclose", || disclose::protect(computed, &hierarchies))?;
    let mut tables = Tables {
        published: Vec::new(),
        restricted: Vec::new(),
        audit: Vec::new(),
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
        tables.audit.push((t.name.clone(), p.audit));
        session.manifest.disclosure.push(p.books);
    }
    Ok(tables)
}

/// Claim and lock the store of every output before any data is read, so that a folder marsad
/// did not make is refused at once and a second run waits for the first.
/// The links a run switches, by suffix of the output path, and the area of the store each
/// points into.
const RUN_LINKS: &[(&str, &str)] = &[
    ("", "releases"),
    ("restricted", "releases"),
    ("rejected", "rejected"),
];
/// The one link `validate` switches.
const VALIDATE_LINKS: &[(&str, &str)] = &[("", "validation")];

fn open_stores(
    plan: &Plan,
    targets: &[PathBuf],
    links: &[(&str, &str)],
    wait: Wait,
) -> Result<Vec<Store>> {
    if let Some(root) = &plan.output_root {
        store::refuse_dangerous(root)?;
        refuse_inputs_inside(plan, root)?;
        store::claim(root, &plan.name)?;
    }
    for target in targets {
        refuse_inputs_inside(plan, target)?;
        for (suffix, area) in links {
            let link = if suffix.is_empty() {
                target.clone()
            } else {
                publish::sibling(target, suffix)
            };
            store::check_link_path(&link, &publish::sibling(target, "releases").join(area))?;
        }
    }
    // in the order of the stores' real paths, so that two pipelines sharing outputs cannot
    // wait for each other
    let real = |t: &PathBuf| store::real_path(&publish::sibling(t, "releases"));
    let mut order: Vec<usize> = (0..targets.len()).collect();
    order.sort_by_key(|i| real(&targets[*i]));
    let mut opened: Vec<Option<Store>> = targets.iter().map(|_| None).collect();
    for i in order {
        opened[i] = Some(Store::open(&targets[i], &plan.name, wait)?);
    }
    Ok(opened.into_iter().flatten().collect())
}

/// An output folder must not be, or hold, a file the run reads: the inputs, the pipeline file,
/// its schemas.
fn refuse_inputs_inside(plan: &Plan, target: &Path) -> Result<()> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let places = [canon(target), canon(&publish::sibling(target, "releases"))];
    let read = plan
        .sources
        .iter()
        .flat_map(|s| s.files.iter().chain(std::iter::once(&s.schema.path)))
        .chain(std::iter::once(&plan.path));
    for input in read {
        let input = canon(input);
        if let Some(place) = places.iter().find(|p| input.starts_with(p)) {
            return Err(Error::OutputHoldsInput {
                output: place.clone(),
                input,
            });
        }
    }
    Ok(())
}

/// The run id of the release an output path shows now, if any.
pub(super) fn current_run_id(target: &Path) -> Option<String> {
    let text = std::fs::read_to_string(target.join("manifest.json")).ok()?;
    let m: serde_json::Value = serde_json::from_str(&text).ok()?;
    m.get("run_id")?.as_str().map(String::from)
}

/// `marsad run`: every stage, then publish each output as a new release, switched in
/// atomically.
pub fn run(plan: &Plan, opts: RunOptions) -> Result<Manifest> {
    let targets: Vec<PathBuf> = plan.outputs.iter().map(|o| o.dir.clone()).collect();
    let stores = open_stores(plan, &targets, RUN_LINKS, opts.wait)?;
    let scratch = match stores.first() {
        Some(s) => s.staging()?,
        None => tempfile::tempdir().map_err(crate::error::write_error(Path::new(".")))?,
    };
    let mut session = read_sources(plan, opts, "run", scratch.path())?;
    let computed = tabulate_all(plan, &mut session)?;
    let mut tables = protect_all(plan, &mut session, computed)?;
    let over = first_over_limit(plan, &session.manifest.sources).cloned();
    session.manifest.status = if over.is_some() {
        Status::Rejected
    } else {
        Status::Published
    };
    let publish_start = Instant::now();
    let mut manifest = session.manifest.clone();
    let mut fresh = 0;
    for (output, store) in plan.outputs.iter().zip(&stores) {
        let same = current_run_id(&output.dir).as_deref() == Some(manifest.run_id.as_str())
            && store::same_release(&output.dir, &publish::sibling(&output.dir, "restricted"));
        if same && !opts.force && over.is_none() {
            info!(output = %output.name, dir = %output.dir.display(), "up to date: the current release has the same run id");
            continue;
        }
        fresh += 1;
        let mut m = manifest.clone();
        m.outputs.clear();
        m.timings_ms = session.timings.0.clone();
        m.timings_ms
            .insert("publish".into(), publish_start.elapsed().as_millis() as u64);
        m.timings_ms
            .insert("total".into(), session.clock.elapsed().as_millis() as u64);
        let rejected = over.is_some();
        let (_release, m) =
            output::publish_output(plan, output, store, &session, &mut tables, rejected, &m)?;
        if rejected {
            store.prune("rejected", 1, &[publish::sibling(&output.dir, "rejected")])?;
        } else {
            let links = [
                output.dir.clone(),
                publish::sibling(&output.dir, "restricted"),
            ];
            store.prune("releases", output.keep_releases, &links)?;
            store.prune("rejected", 1, &[])?;
        }
        manifest.outputs.extend(m.outputs);
        manifest.timings_ms = m.timings_ms;
    }
    if let Some(b) = over {
        // named through the link, which shows the newest rejected run
        let q = plan
            .outputs
            .first()
            .map(|o| publish::sibling(&o.dir, "rejected").join("quarantine"))
            .unwrap_or_default();
        return Err(too_many(plan, &b, q));
    }
    if fresh == 0 {
        manifest.status = Status::UpToDate;
    }
    Ok(manifest)
}

/// `marsad validate`: ingest, validate and harmonize; write the quarantine and the report.
pub fn validate_only(plan: &Plan, dir: &Path, opts: RunOptions) -> Result<Manifest> {
    let stores = open_stores(plan, &[dir.to_path_buf()], VALIDATE_LINKS, opts.wait)?;
    let store = &stores[0];
    let scratch = store.staging()?;
    let Session {
        clock,
        timings,
        quarantine,
        mut manifest,
        ..
    } = read_sources(plan, opts, "validate", scratch.path())?;
    let over = first_over_limit(plan, &manifest.sources).cloned();
    manifest.status = if over.is_some() {
        Status::Rejected
    } else {
        Status::Validated
    };
    let staging = store.staging()?;
    let folder = staging.path().join("validation");
    let files = output::write_quarantine(&folder, &quarantine)?;
    manifest.timings_ms = timings.0;
    manifest
        .timings_ms
        .insert("total".into(), clock.elapsed().as_millis() as u64);
    manifest.outputs = vec![crate::books::OutputBooks {
        name: "validation".into(),
        dir: dir.display().to_string(),
        files,
    }];
    output::write_books(&folder, &manifest)?;
    output::write_feedback(&folder, plan, &manifest, &quarantine)?;
    let id = format!("{}-{}", crate::publish::store::unique(), manifest.run_id);
    let links = [(dir.to_path_buf(), "validation")];
    store.release(staging.path(), "validation", &id, &links)?;
    store.prune("validation", 1, &[dir.to_path_buf()])?;
    if let Some(b) = over {
        return Err(too_many(plan, &b, dir.join("quarantine")));
    }
    Ok(manifest)
}
