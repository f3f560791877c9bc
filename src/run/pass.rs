//! One source, window by window: ingest, validate, harmonize and reduce each window to a
//! `Partial`, then add the partials up. Memory holds a few windows at a time.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use polars::prelude::*;
use tracing::{info, warn};

use super::partial::{Partial, RowBooks};
use super::Progress;
use crate::books::{Failure, FileInfo, LongRecord, SourceBooks, Unmapped};
use crate::error::{EngineContext, Error, Result};
use crate::harmonize::harmonize;
use crate::ingest;
use crate::quarantine::{self, Quarantine, ROW};
use crate::spec::{SourcePlan, TablePlan};
use crate::tabulate;
use crate::validate::{referenced_values, validate, References, RepeatFinder, Repeats};

/// Milliseconds spent in each stage, summed over threads.
#[derive(Default)]
pub struct Timings(pub BTreeMap<String, u64>);

impl Timings {
    pub fn time<T>(&mut self, stage: &str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.add(stage, start.elapsed());
        out
    }

    pub fn add(&mut self, stage: &str, elapsed: Duration) {
        *self.0.entry(stage.to_string()).or_default() += elapsed.as_millis() as u64;
    }
}

/// One source after ingest, validation and harmonization: its books, and either the finest
/// cells of each table over it, or (for a survey, whose estimates need every respondent) its
/// rows.
pub struct Processed {
    pub books: SourceBooks,
    pub rows: Option<DataFrame>,
    pub cells: Vec<(String, DataFrame)>,
    /// The values of the source's referenced keys (`SourcePlan::referenced`), for the sources
    /// read after it.
    pub references: Vec<std::collections::HashSet<String>>,
}

/// What a pass needs besides the source: its tables, where rejections and keys go, and where
/// the time is counted.
pub struct PassContext<'a> {
    pub tables: &'a [&'a TablePlan],
    pub source: &'a SourcePlan,
    pub progress: &'a dyn Progress,
    pub timings: &'a mut Timings,
    pub sink: &'a mut quarantine::Sink,
    /// The keys of the sources read before, which this one's `foreignKeys` reference.
    pub references: &'a References,
}

/// Every window of a source through validation and harmonization, into table cells (or kept
/// rows), the quarantine sink and the books.
pub fn process(
    mut cx: PassContext<'_>,
    mut files: Vec<FileInfo>,
    scratch: &Path,
) -> Result<Processed> {
    let source = cx.source;
    info!(source = %source.name, files = source.files.len(), "reading");
    // `unique` and `primaryKey` are rules over the whole source. The keys are collected while
    // the windows are validated as if no key repeated, which is what a register's identifiers
    // should do; if some did repeat after all, the source is read a second time knowing which.
    let bytes = ingest::total_bytes(source);
    let mut finder = RepeatFinder::new(source, scratch, bytes)?;
    let collecting = finder.is_some();
    let mark = cx.sink.mark()?;
    let mut repeats = Repeats::default();
    let (rows_in, partial) = loop {
        let Some(done) = read_pass(&mut cx, &mut files, &repeats, finder.as_ref())? else {
            info!(source = %source.name, "a file is not UTF-8 after all: reading the source again");
            cx.sink.rollback(mark)?;
            if collecting && repeats.is_empty() {
                finder = RepeatFinder::new(source, scratch, bytes)?;
            }
            continue;
        };
        match finder.take() {
            Some(f) => {
                repeats = cx.timings.time("keys", || f.finish())?;
                if repeats.is_empty() {
                    break done;
                }
                info!(source = %source.name, "repeated keys: reading the source again");
                cx.sink.rollback(mark)?;
            }
            None => break done,
        }
    };
    let books = source_books(source, files, rows_in, &partial);
    if !books.conserved {
        return Err(Error::Conservation {
            source_name: source.name.clone(),
            rows_in,
            rows_valid: books.rows_valid,
            rows_rejected: books.rows_rejected,
        });
    }
    finish(cx.tables, source, books, partial)
}

/// Read every window once. None when a file turned out not to be UTF-8 after all and the
/// source must be read again.
fn read_pass(
    cx: &mut PassContext<'_>,
    files: &mut [FileInfo],
    repeats: &Repeats,
    finder: Option<&RepeatFinder>,
) -> Result<Option<(u64, Partial)>> {
    let (tables, source) = (cx.tables, cx.source);
    let fields: Vec<String> = source.schema.field_names().map(String::from).collect();
    cx.progress.start(
        &format!("reading {}", source.name),
        ingest::total_bytes(source),
    );
    let mut total = Partial::empty(tables.len());
    let mut pending: Vec<Partial> = Vec::new();
    let timings = &mut *cx.timings;
    let sink = &mut *cx.sink;
    let references = cx.references;
    let work = |w: ingest::Window| window(w, tables, source, (repeats, references), finder);
    let merge = |(mut part, times): (Partial, Vec<(&'static str, Duration)>)| -> Result<()> {
        for (stage, d) in times {
            timings.add(stage, d);
        }
        if let Some(f) = finder {
            f.write(std::mem::take(&mut part.keys))?;
        }
        for q in std::mem::take(&mut part.quarantine) {
            sink.write(q)?;
        }
        // cells are added up a few windows at a time
        pending.push(part);
        if pending.len() >= 2 {
            let mut parts = vec![std::mem::take(&mut total)];
            parts.append(&mut pending);
            total = timings.time("tabulate", || Partial::merge(parts, tables))?;
        }
        Ok(())
    };
    let progress = cx.progress;
    let read = ingest::read_windows(
        source,
        files,
        &fields,
        &|n| progress.advance(n),
        work,
        merge,
    )?;
    progress.finish();
    let mut parts = vec![total];
    parts.append(&mut pending);
    let total = cx
        .timings
        .time("tabulate", || Partial::merge(parts, tables))?;
    Ok(match read {
        ingest::Read::Done(rows_in) => Some((rows_in, total)),
        ingest::Read::Again => None,
    })
}

/// One window through validation, harmonization and reduction to cells.
fn window(
    w: ingest::Window,
    tables: &[&TablePlan],
    source: &SourcePlan,
    (repeats, references): (&Repeats, &References),
    finder: Option<&RepeatFinder>,
) -> Result<(Partial, Vec<(&'static str, Duration)>)> {
    let mut times = vec![("ingest", w.elapsed)];
    let mut clock = Instant::now();
    let mut lap = |stage: &'static str, times: &mut Vec<_>| {
        times.push((stage, clock.elapsed()));
        clock = Instant::now();
    };
    let mut part = Partial::empty(tables.len());
    if let Some(f) = finder {
        part.keys = f.entries(w.frame.clone())?;
    }
    lap("keys", &mut times);
    let file_names: Vec<String> = source
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    part.long_records = w
        .long_records
        .iter()
        .map(|(file, line, lines)| LongRecord {
            file: file_names[*file as usize].clone(),
            line: *line,
            lines: *lines,
        })
        .collect();
    let mut q = Quarantine::new(&source.name, file_names);
    if let Some(cells) = &w.sheet {
        q.on_sheet(cells.clone());
    }
    q.push_rows(&w.rejected)?;
    let valid = validate(w.frame, source, &mut q, repeats, references)?;
    part.references = source
        .referenced
        .iter()
        .map(|fields| referenced_values(&valid, fields))
        .collect::<Result<_>>()?;
    lap("validate", &mut times);
    let harmonized = harmonize(valid, source, &mut q)?;
    lap("harmonize", &mut times);
    let context = || format!("counting the rows of source `{}`", source.name);
    let frame = harmonized.frame;
    let valid_rows = frame.column(ROW).at(context)?.u64().at(context)?;
    part.rows_in = w.records;
    part.books = RowBooks::count(w.records, valid_rows.into_no_null_iter(), q.rows());
    if source.design.is_some() {
        part.rows.push(frame);
    } else {
        for (c, t) in part.cells.iter_mut().zip(tables) {
            *c = Some(tabulate::cells(&frame, t)?);
        }
    }
    lap("tabulate", &mut times);
    let quarantine = q.finish()?;
    for f in count_failures(&quarantine)? {
        *part.failures.entry((f.rule, f.column)).or_default() += f.rows;
    }
    part.quarantine.push(quarantine);
    for u in harmonized.unmapped {
        part.add_unmapped(u);
    }
    Ok((part, times))
}

/// The source's books from its merged partial, unmapped values in the order of the pipeline's
/// `[[harmonize]]` entries, then the most frequent first.
fn source_books(
    source: &SourcePlan,
    files: Vec<FileInfo>,
    rows_in: u64,
    partial: &Partial,
) -> SourceBooks {
    let mut unmapped: Vec<Unmapped> = partial.unmapped.values().cloned().collect();
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
    let b = partial.books;
    info!(
        source = %source.name,
        rows_in, rows_valid = b.valid, rows_rejected = b.rejected,
        "validated"
    );
    for r in &partial.long_records {
        warn!(source = %source.name, file = %r.file, line = r.line, lines = r.lines, "a quoted value runs over {} lines from line {}: a quote is probably missing or stray, and those lines were read as one value; they count as rejected rows against max_rejected", r.lines, r.line);
    }
    for u in &unmapped {
        // a log line is no place for a 200,000-character cell: the restricted report has it whole
        let shown = shorten(&u.raw_value, 60);
        warn!(source = %source.name, column = %u.column, raw_value = %shown, rows = u.rows, "value not in code list `{}`", u.codelist);
    }
    SourceBooks {
        name: source.name.clone(),
        schema: source.schema.path.display().to_string(),
        files,
        rows_in,
        rows_valid: b.valid,
        rows_rejected: b.rejected,
        conserved: b.conserved(),
        long_records: partial.long_records.clone(),
        swallowed_lines: partial.long_records.iter().map(|r| r.lines - 1).sum(),
        failures: partial
            .failures
            .iter()
            .map(|((rule, column), rows)| Failure {
                rule: rule.clone(),
                column: column.clone(),
                rows: *rows,
            })
            .collect(),
        unmapped_values: unmapped.len() as u64,
        unmapped_rows: unmapped.iter().map(|u| u.rows).sum(),
        unmapped,
    }
}

/// Hand the merged partial over: the cells of each table, or a survey's rows.
fn finish(
    tables: &[&TablePlan],
    source: &SourcePlan,
    books: SourceBooks,
    partial: Partial,
) -> Result<Processed> {
    if source.design.is_some() {
        let rows = super::partial::stack(&partial.rows)?;
        return Ok(Processed {
            books,
            rows,
            cells: Vec::new(),
            references: partial.references,
        });
    }
    let missing = || Error::Invariant {
        table: source.name.clone(),
        message: "the source has no window".into(),
    };
    let references = partial.references;
    let cells = tables
        .iter()
        .zip(partial.cells)
        .map(|(t, c)| Ok((t.name.clone(), c.ok_or_else(missing)?)))
        .collect::<Result<_>>()?;
    Ok(Processed {
        books,
        rows: None,
        cells,
        references,
    })
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

/// At most `n` characters of `text`, with `…` when cut.
fn shorten(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_values_are_cut_for_the_log() {
        assert_eq!(super::shorten("Narnia", 60), "Narnia");
        assert_eq!(super::shorten(&"é".repeat(100), 3), "ééé…");
    }
}
