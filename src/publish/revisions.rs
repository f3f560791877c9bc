//! What changed since the previous release: the same period with different figures is what a
//! statistician must see before publishing. Each published table is compared, cell by cell,
//! with the same table of the release the output shows now.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::*;

use crate::books::{Revision, TableRevision};
use crate::error::{EngineContext, Result};
use crate::frame::{read_parquet as read, text_column};
use crate::spec::TablePlan;

/// How many of the largest revisions each table lists.
const LARGEST: usize = 5;

/// A table's cells by their coordinates: the values of its measures (none where hidden).
type Cells = HashMap<Vec<String>, Vec<Option<f64>>>;

/// Compare a table about to be published with the one in `previous` (a release's public
/// folder). None when the previous release has no such table.
pub fn compare(
    previous: &Path,
    previous_run: &str,
    table: &TablePlan,
    now: &DataFrame,
) -> Result<Option<TableRevision>> {
    let before = match read_table(&previous.join("tables"), &table.name) {
        Ok(Some(before)) => before,
        Ok(None) => return Ok(None),
        Err(e) => return Ok(unreadable(table, e)),
    };
    // a table whose dimensions or measures changed is a new table: nothing to compare
    let old = match cells(&before, table) {
        Ok(old) => old,
        Err(e) => return Ok(unreadable(table, e)),
    };
    let context = || format!("comparing `{}` with the previous release", table.name);
    let new = cells(now, table).at(context)?;
    let mut r = TableRevision {
        table: table.name.clone(),
        previous_run_id: previous_run.to_string(),
        ..TableRevision::default()
    };
    let mut moves: Vec<Revision> = Vec::new();
    for (key, values) in &new {
        let Some(was) = old.get(key) else {
            r.cells_added += 1;
            continue;
        };
        let (hidden_now, hidden_then) = (values[0].is_none(), was[0].is_none());
        r.newly_suppressed += u64::from(hidden_now && !hidden_then);
        r.newly_published += u64::from(!hidden_now && hidden_then);
        if values != was {
            r.cells_revised += 1;
        }
        if let (Some(a), Some(b)) = (was[0], values[0]) {
            if a != b {
                moves.push(Revision {
                    cell: cell_name(table, key),
                    before: a,
                    after: b,
                });
            }
        }
    }
    r.cells_removed = old.keys().filter(|k| !new.contains_key(*k)).count() as u64;
    moves.sort_by(|a, b| {
        let size = |x: &Revision| (x.after - x.before).abs();
        size(b).total_cmp(&size(a)).then(a.cell.cmp(&b.cell))
    });
    moves.truncate(LARGEST);
    r.largest = moves;
    Ok(Some(r))
}

/// The previous release cannot be compared (another layout, an unreadable file): said, and
/// publishing goes on.
fn unreadable(table: &TablePlan, e: impl std::fmt::Display) -> Option<TableRevision> {
    tracing::warn!(table = %table.name, "not compared with the previous release: {e}");
    None
}

fn cell_name(table: &TablePlan, key: &[String]) -> String {
    table
        .dimensions
        .iter()
        .zip(key)
        .map(|(d, c)| format!("{d}={c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn cells(df: &DataFrame, table: &TablePlan) -> PolarsResult<Cells> {
    let dims: Vec<Vec<String>> = table
        .dimensions
        .iter()
        .map(|d| text_column(df, d, ""))
        .collect::<PolarsResult<_>>()?;
    let mut measures = Vec::new();
    for m in &table.measures {
        let c = df.column(&m.name)?.cast(&DataType::Float64)?;
        measures.push(c.f64()?.iter().collect::<Vec<Option<f64>>>());
    }
    Ok((0..df.height())
        .map(|i| {
            let key = dims.iter().map(|d| d[i].clone()).collect();
            let values = measures.iter().map(|m| m[i]).collect();
            (key, values)
        })
        .collect())
}

/// A published table: `<name>.parquet`, or a Hive-partitioned folder `<name>/<key>=<v>/...`
/// whose key comes back as a text column.
fn read_table(tables: &Path, name: &str) -> Result<Option<DataFrame>> {
    let file = tables.join(format!("{name}.parquet"));
    if file.is_file() {
        return read(&file).map(Some);
    }
    let dir = tables.join(name);
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(crate::error::write_error(&dir))? {
        let path = entry.map_err(crate::error::write_error(&dir))?.path();
        let folder = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some((key, value)) = folder.as_deref().and_then(|f| f.split_once('=')) else {
            continue;
        };
        let mut part = read(&path.join("part-0.parquet"))?;
        let height = part.height();
        let column = Column::new(key.into(), vec![value.to_string(); height]);
        part.with_column(column)
            .at(|| format!("reading {}", path.display()))?;
        parts.push(part.lazy());
    }
    if parts.is_empty() {
        return Ok(None);
    }
    let context = || format!("reading {}", dir.display());
    let all = concat(parts, UnionArgs::default()).at(context)?;
    all.collect().at(context).map(Some)
}
