//! Writing one output: its tables in every format, the restricted sibling (tables as computed,
//! the quarantine), the data packages, the manifest and the report, each staged and moved into
//! place.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use tracing::info;

use super::Session;
use crate::books::{Manifest, OutputBooks, Written};
use crate::disclose::AuditRow;
use crate::error::{write_error, Error, Result};
use crate::lang::Catalogue;
use crate::publish::sdmx::{self, CsvVersion};
use crate::publish::store::Store;
use crate::publish::{self, datapackage, Provenance};
use crate::quarantine;
use crate::report::feedback;
use crate::report::publication::{publication, Published};
use crate::spec::{Format, OutputPlan, Plan, TablePlan};

/// Copy the run's quarantine into `root/quarantine/`.
pub fn write_quarantine(root: &Path, quarantine: &quarantine::Closed) -> Result<Vec<Written>> {
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

pub fn write_books(root: &Path, manifest: &Manifest) -> Result<Written> {
    let report = crate::report::markdown(manifest);
    let written = publish::write_text(root, &root.join("report.md"), &report)?;
    let json = serde_json::to_string_pretty(manifest).map_err(|e| Error::Write {
        path: root.join("manifest.json"),
        source: std::io::Error::other(e),
    })?;
    publish::write_text(root, &root.join("manifest.json"), &(json + "\n"))?;
    Ok(written)
}

/// The provider's report on the run's sources, `report.html` of a folder that may show raw
/// values (the restricted half, a rejected run, a validation).
pub fn write_feedback(
    root: &Path,
    plan: &Plan,
    manifest: &Manifest,
    quarantine: &quarantine::Closed,
) -> Result<Written> {
    let entries = feedback::examples(&quarantine.frame()?)?;
    let raw = raw_rows(plan, manifest, &entries);
    let cat = Catalogue::new(plan.lang);
    let page = feedback::feedback(
        &cat,
        &feedback::Feedback {
            name: plan.title.as_deref().unwrap_or(&plan.name),
            sources: &manifest.sources,
            max_rejected: plan.max_rejected,
            entries: &entries,
            raw: &raw,
            footer: Some(crate::report::publication::made_by(&cat, manifest)),
        },
    );
    publish::write_text(root, &root.join("report.html"), &page)
}

/// The rejected rows the provider's report shows, read again from their files.
fn raw_rows(plan: &Plan, manifest: &Manifest, entries: &[feedback::Entry]) -> feedback::RawRows {
    let mut out = feedback::RawRows::default();
    for books in &manifest.sources {
        if let Some(source) = plan.source(&books.name) {
            out.add_source(books, &source.dialect, entries);
        }
    }
    out
}

/// The publication's `report.html`: the output's tables with their pictures.
fn write_publication(
    root: &Path,
    plan: &Plan,
    output: &OutputPlan,
    manifest: &Manifest,
    published: &[(String, DataFrame)],
) -> Result<Written> {
    let tables: Vec<Published> = output
        .tables
        .iter()
        .filter_map(|name| {
            let plan = plan.tables.iter().find(|t| t.name == *name)?;
            let frame = published.iter().find(|(n, _)| n == name).map(|(_, f)| f)?;
            Some(Published { plan, frame })
        })
        .collect();
    let page = publication(&Catalogue::new(plan.lang), manifest, &tables);
    publish::write_text(root, &root.join("report.html"), &page)
}

/// Files written into a folder, and their data-package resources.
#[derive(Default)]
struct Files {
    written: Vec<Written>,
    resources: Vec<serde_json::Value>,
}

/// Write an output's tables in its formats.
fn write_tables(
    plan: &Plan,
    output: &OutputPlan,
    root: &Path,
    tables: &mut [(String, DataFrame)],
    prov: &Provenance,
) -> Result<Files> {
    let mut files = Files::default();
    let mut sdmx_tables = Vec::new();
    for (name, df) in tables.iter_mut().filter(|(n, _)| output.tables.contains(n)) {
        let Some(table) = plan.tables.iter().find(|t| t.name == *name) else {
            continue;
        };
        only_finite(name, df)?;
        if output.formats.contains(&Format::Parquet) {
            write_parquet(output, root, table, df, prov, &mut files)?;
        }
        write_sdmx_csv(plan, output, root, table, df, &mut files)?;
        if output.formats.iter().any(|f| *f != Format::Parquet) {
            sdmx_tables.push((table, &*df));
        }
    }
    if let (Some(agency), false) = (&plan.sdmx, sdmx_tables.is_empty()) {
        let xml = sdmx::structure(&plan.name, agency, &sdmx_tables)?;
        let dir = sdmx_dir(root)?;
        let written = publish::write_text(root, &dir.join("structure.xml"), &xml)?;
        files.resources.push(datapackage::file_resource(
            "sdmx-structure",
            &written,
            "xml",
            "application/vnd.sdmx.structure+xml; version=2.1",
            "SDMX-ML 2.1 structures: data structure definitions, dataflows, concepts, code lists",
        ));
        files.written.push(written);
    }
    Ok(files)
}

/// Refuse a table with a NaN or an infinity in a number column: readers would take it for a
/// figure. Suppressed and undefined cells are empty (null), never NaN.
fn only_finite(name: &str, df: &DataFrame) -> Result<()> {
    for column in df.columns() {
        let Ok(values) = column.f64() else { continue };
        let bad: Vec<f64> = values.iter().flatten().filter(|v| !v.is_finite()).collect();
        if let Some(value) = bad.first() {
            return Err(Error::NotFinite {
                table: name.to_string(),
                column: column.name().to_string(),
                value: *value,
                rows: bad.len(),
            });
        }
    }
    Ok(())
}

fn sdmx_dir(root: &Path) -> Result<std::path::PathBuf> {
    let dir = root.join("sdmx");
    std::fs::create_dir_all(&dir).map_err(write_error(&dir))?;
    Ok(dir)
}

/// One table as Parquet, Hive-partitioned when the output partitions by one of its dimensions.
fn write_parquet(
    output: &OutputPlan,
    root: &Path,
    table: &TablePlan,
    df: &mut DataFrame,
    prov: &Provenance,
    files: &mut Files,
) -> Result<()> {
    let name = table.name.as_str();
    let key = output
        .partition_by
        .iter()
        .find(|k| table.dimensions.contains(k));
    let written = match key {
        Some(key) => publish::write_partitioned(
            root,
            &root.join("tables").join(name),
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
    files
        .resources
        .push(datapackage::table_resource(table, df, &written, "parquet"));
    files.written.extend(written);
    Ok(())
}

/// One table in each SDMX-CSV version the output asks for.
fn write_sdmx_csv(
    plan: &Plan,
    output: &OutputPlan,
    root: &Path,
    table: &TablePlan,
    df: &DataFrame,
    files: &mut Files,
) -> Result<()> {
    let name = table.name.as_str();
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
        let path = sdmx_dir(root)?.join(format!("{name}.{suffix}.csv"));
        let written = sdmx::write_csv(root, &path, df, table, agency, version)?;
        files.resources.push(datapackage::file_resource(
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
        files.written.push(written);
    }
    Ok(())
}

/// The tables of a run, published and as computed, by name.
pub struct Tables {
    pub published: Vec<(String, DataFrame)>,
    pub restricted: Vec<(String, DataFrame)>,
    /// The attacker audit of every sensitive cell, by table.
    pub audit: Vec<(String, Vec<AuditRow>)>,
}

/// Publish one output as a new release of its store: the public half (or, when too many rows
/// were rejected, only the quarantine, linked as `.rejected`) and the restricted half, each
/// written whole in staging and linked into place at the end. Returns the release folder and
/// the output's books.
pub fn publish_output(
    plan: &Plan,
    output: &OutputPlan,
    store: &Store,
    session: &Session,
    tables: &mut Tables,
    rejected: bool,
    manifest: &Manifest,
) -> Result<(PathBuf, Manifest)> {
    let staging = store.staging()?;
    let public = staging
        .path()
        .join(if rejected { "rejected" } else { "public" });
    std::fs::create_dir_all(&public).map_err(write_error(&public))?;
    let mut files = if rejected {
        // A rejected run publishes no tables: only what the data provider needs to fix the file.
        let mut files = Files::default();
        let q = write_quarantine(&public, &session.quarantine)?;
        files.resources.push(quarantine_resource(&q[0]));
        files.written.extend(q);
        files
    } else {
        write_tables(plan, output, &public, &mut tables.published, &session.prov)?
    };
    files.written.push(publish::write_text(
        &public,
        &public.join("datapackage.json"),
        &datapackage::package(plan, files.resources),
    )?);
    let mut m = manifest.clone();
    m.outputs = vec![OutputBooks {
        name: output.name.clone(),
        dir: output.dir.display().to_string(),
        files: files.written,
    }];
    if !rejected {
        m.revisions = revisions(plan, output, &tables.published)?;
    }
    let id = release_id(manifest);
    if rejected {
        // the quarantine holds raw values: this folder is for the data provider, not the public
        write_books(&public, &m)?;
        write_feedback(&public, plan, &m, &session.quarantine)?;
        let link = publish::sibling(&output.dir, "rejected");
        let home = store.release(staging.path(), "rejected", &id, &[(link, "rejected")])?;
        return Ok((home, m));
    }
    // Microdata-level outputs (rejected rows with their raw values, tables as computed) never
    // go into the publishable half.
    let restricted_link = publish::sibling(&output.dir, "restricted");
    let restricted = staging.path().join("restricted");
    let written = stage_restricted(plan, output, session, tables, &restricted)?;
    let mut cm = m.clone();
    cm.outputs = vec![OutputBooks {
        name: format!("{} (restricted)", output.name),
        dir: restricted_link.display().to_string(),
        files: written,
    }];
    write_books(&restricted, &cm)?;
    write_feedback(&restricted, plan, &cm, &session.quarantine)?;
    write_books(&public, &m.public())?;
    write_publication(&public, plan, output, &m.public(), &tables.published)?;
    // restricted first: until the public link moves, readers see the last release whole
    let links = [
        (restricted_link, "restricted"),
        (output.dir.clone(), "public"),
    ];
    let home = store.release(staging.path(), "releases", &id, &links)?;
    info!(output = %output.name, dir = %output.dir.display(), release = %home.display(), "published");
    Ok((home, m))
}

/// The output's tables compared with those of the release it shows now, if any.
fn revisions(
    plan: &Plan,
    output: &OutputPlan,
    published: &[(String, DataFrame)],
) -> Result<Vec<crate::books::TableRevision>> {
    let Some(previous_run) = super::current_run_id(&output.dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, df) in published.iter().filter(|(n, _)| output.tables.contains(n)) {
        let Some(table) = plan.tables.iter().find(|t| t.name == *name) else {
            continue;
        };
        out.extend(publish::revisions::compare(
            &output.dir,
            &previous_run,
            table,
            df,
        )?);
    }
    Ok(out)
}

/// Releases sort by date, then run id: `20261129T164500Z-0123456789abcdef`.
fn release_id(manifest: &Manifest) -> String {
    let date: String = manifest
        .started_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{date}-{}", manifest.run_id)
}

/// Stage the restricted half of an output: the tables as computed and the quarantine.
fn stage_restricted(
    plan: &Plan,
    output: &OutputPlan,
    session: &Session,
    tables: &mut Tables,
    dir: &Path,
) -> Result<Vec<Written>> {
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let restricted_output = OutputPlan {
        formats: vec![Format::Parquet],
        ..output.clone()
    };
    let mut files = write_tables(
        plan,
        &restricted_output,
        dir,
        &mut tables.restricted,
        &session.prov,
    )?;
    let audit: Vec<&AuditRow> = tables
        .audit
        .iter()
        .filter(|(name, _)| output.tables.contains(name))
        .flat_map(|(_, rows)| rows)
        .collect();
    if !audit.is_empty() {
        let written = write_audit(dir, &audit)?;
        files.resources.push(datapackage::file_resource(
            "disclosure-audit",
            &written,
            "csv",
            "text/csv",
            "Each sensitive cell: its value, the interval an attacker holding every published \
             table of its source can work out, the interval it must keep, and whether it does",
        ));
        files.written.push(written);
    }
    if output.quarantine {
        let q = write_quarantine(dir, &session.quarantine)?;
        files.resources.push(quarantine_resource(&q[0]));
        files.written.extend(q);
    }
    files.written.push(publish::write_text(
        dir,
        &dir.join("datapackage.json"),
        &datapackage::package(plan, files.resources),
    )?);
    Ok(files.written)
}

/// `disclosure_audit.csv`: one line per sensitive cell of each table. An empty `high` means no
/// upper bound: nothing published limits the cell from above.
fn write_audit(dir: &Path, rows: &[&AuditRow]) -> Result<Written> {
    let path = dir.join("disclosure_audit.csv");
    let fail = |e: csv::Error| Error::Write {
        path: path.clone(),
        source: std::io::Error::other(e),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "table",
        "cell",
        "value",
        "required_low",
        "required_high",
        "low",
        "high",
        "passed",
    ])
    .map_err(fail)?;
    let number = |x: f64| {
        if x.is_finite() {
            // Counts and sums print without a trailing `.0`; solver noise is rounded away.
            // (adding 0 turns a -0 from the solver into 0)
            let r = (x * 1e6).round() / 1e6 + 0.0;
            format!("{r}")
        } else {
            String::new()
        }
    };
    for r in rows {
        w.write_record([
            r.table.clone(),
            r.cell.clone(),
            number(r.value),
            number(r.required_low),
            number(r.required_high),
            number(r.low),
            number(r.high),
            r.passed.to_string(),
        ])
        .map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Write {
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let text = String::from_utf8(bytes).expect("the audit is written from UTF-8 strings");
    publish::write_text(dir, &path, &text)
}
