//! `marsad validate --schema SCHEMA FILE`: one file checked against an exchange schema, with no
//! pipeline file.

use std::path::Path;

use polars::prelude::*;

use super::pass::{self, PassContext, Timings};
use super::{output, RunOptions};
use crate::books::{FileCheck, SourceBooks};
use crate::error::{write_error, Result};
use crate::ingest;
use crate::lang::{Catalogue, Lang};
use crate::publish::store::{self, Store, Wait};
use crate::publish::Provenance;
use crate::quarantine;
use crate::report::feedback;
use crate::spec::{Dialect, SourcePlan};

/// `marsad validate --schema SCHEMA FILE`: check one file against an exchange schema, with no
/// pipeline file. Writes the quarantine to `output` when given.
pub fn check_file(
    schema: &Path,
    file: &Path,
    dialect: Dialect,
    output: Option<&Path>,
    wait: Wait,
    html: Option<Lang>,
) -> Result<FileCheck> {
    let source = crate::spec::single_file(schema, file, dialect)?;
    for fk in &source.schema.foreign_keys {
        tracing::warn!(
            fields = %fk.fields.join(","),
            resource = %fk.resource,
            "foreignKeys not checked: the file is checked alone; check it in its pipeline, where `{}` is a source",
            fk.resource
        );
    }
    let mut timings = Timings::default();
    let prov = Provenance {
        pipeline: "validate".into(),
        pipeline_sha256: String::new(),
        run_id: String::new(),
        marsad_version: crate::VERSION.to_string(),
        sources: serde_json::Value::Null,
    };
    // with --output the quarantine goes to an owned folder, like any output of marsad's
    let store = match output {
        Some(dir) => {
            let area = crate::publish::sibling(dir, "releases").join("validation");
            store::check_link_path(dir, &area)?;
            Some(Store::open(dir, "validate", wait)?)
        }
        None => None,
    };
    let scratch = match &store {
        Some(s) => s.staging()?,
        None => tempfile::tempdir().map_err(write_error(&std::env::temp_dir()))?,
    };
    let scratch = scratch.path();
    let mut sink = quarantine::Sink::new(scratch)?;
    let cx = PassContext {
        tables: &[],
        source: &source,
        progress: RunOptions::default().progress,
        timings: &mut timings,
        sink: &mut sink,
        references: &Default::default(),
    };
    let processed = pass::process(cx, ingest::files(&source), scratch)?;
    let closed = sink.finish(prov.key_values("quarantine"))?;
    let frame = closed.frame()?;
    let errors = errors(&frame)?;
    if let (Some(dir), Some(store)) = (output, &store) {
        let staged = store.staging()?;
        output::write_quarantine(&staged.path().join("validation"), &closed)?;
        let id = store::unique();
        let links = [(dir.to_path_buf(), "validation")];
        store.release(staged.path(), "validation", &id, &links)?;
        store.prune("validation", 1, &[dir.to_path_buf()])?;
    }
    let html = html.map(|lang| feedback_page(lang, &source, file, &processed.books, &frame));
    let html = html.transpose()?;
    Ok(FileCheck {
        html,
        file: file.display().to_string(),
        schema: schema.display().to_string(),
        // a stray quote that swallowed lines loses rows even when the one record it made passes
        valid: processed.books.rows_rejected == 0 && processed.books.swallowed_lines == 0,
        books: processed.books,
        errors,
    })
}

/// The provider's report on one file checked alone (any rejection refuses it).
fn feedback_page(
    lang: Lang,
    source: &SourcePlan,
    file: &Path,
    books: &SourceBooks,
    frame: &DataFrame,
) -> Result<String> {
    let entries = feedback::examples(frame)?;
    let mut raw = feedback::RawRows::default();
    raw.add_source(books, &source.dialect, &entries);
    let name = file.file_name().map_or(file.display().to_string(), |n| {
        n.to_string_lossy().into_owned()
    });
    Ok(feedback::feedback(
        &Catalogue::new(lang),
        &feedback::Feedback {
            name: &name,
            sources: std::slice::from_ref(books),
            max_rejected: 0.0,
            entries: &entries,
            raw: &raw,
            footer: None,
        },
    ))
}

/// Every rejection as the JSON report lists it: line, column, raw value, rule, message.
fn errors(q: &DataFrame) -> Result<Vec<serde_json::Value>> {
    Ok(feedback::entries(q)?
        .into_iter()
        .map(|e| {
            let mut json = serde_json::json!({
                "line": e.line,
                "column": e.column,
                "raw_value": e.raw_value.unwrap_or_default(),
                "rule": e.rule,
                "message": e.message,
            });
            // a spreadsheet's cell, as Excel names it
            if !e.cell.is_empty() {
                json["cell"] = e.cell.into();
            }
            json
        })
        .collect())
}
