//! What one stretch of a source gives once read, validated, harmonized and reduced: a
//! `Partial`. Partials of windows, of files or of machines merge associatively (every part adds
//! up), and a partial can be written to a folder of Parquet files and read back, so that a final
//! step can merge partials computed anywhere.
//!
//! Cells are the finest cells of each table (every dimension, no totals), which add up exactly
//! for counts, sums, weighted counts, contributors and largest contributions; the books are
//! counts; the quarantine and the keys of `unique`/`primaryKey` rules are lists.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use crate::books::Unmapped;
use crate::codelist::Suggestion;
use crate::error::{write_error, EngineContext, Result};
use crate::spec::TablePlan;
use crate::tabulate;

/// Where the rows of a stretch went, counted over the row numbers themselves: each row must be
/// valid or rejected, never both, never neither.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RowBooks {
    pub valid: u64,
    pub rejected: u64,
    pub both: u64,
    pub neither: u64,
    /// Row numbers outside 0..rows_in (a bug if it ever happens).
    pub stray: u64,
}

impl RowBooks {
    pub fn count(
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

    pub fn add(&mut self, other: RowBooks) {
        self.valid += other.valid;
        self.rejected += other.rejected;
        self.both += other.both;
        self.neither += other.neither;
        self.stray += other.stray;
    }

    pub fn conserved(&self) -> bool {
        self.both == 0 && self.neither == 0 && self.stray == 0
    }
}

/// An unmapped value is counted by its column, code list and raw value.
pub type UnmappedKey = (String, String, String);

/// The mergeable result of reading some records of one source.
#[derive(Debug, Default)]
pub struct Partial {
    /// Records read, rejected ones included.
    pub rows_in: u64,
    /// The finest cells of each table over the source, in the order of the tables given to
    /// `merge` (none for a survey source, or before any window).
    pub cells: Vec<Option<DataFrame>>,
    /// A survey source's valid rows, in file order: its estimates need every respondent.
    pub rows: Vec<DataFrame>,
    /// Rejections (one entry per reason), in the quarantine's columns.
    pub quarantine: Vec<DataFrame>,
    /// Entries of the key buckets of `unique` and `primaryKey` rules.
    pub keys: Vec<Vec<u8>>,
    pub unmapped: HashMap<UnmappedKey, Unmapped>,
    /// Rejections by rule and column.
    pub failures: BTreeMap<(String, String), u64>,
    pub books: RowBooks,
    /// Records spanning many lines, in file order.
    pub long_records: Vec<crate::books::LongRecord>,
    /// The values of each referenced key of the source (`SourcePlan::referenced`), among its
    /// valid rows.
    pub references: Vec<std::collections::HashSet<String>>,
}

impl Partial {
    /// An empty partial over `tables` tables: the unit of `merge`.
    pub fn empty(tables: usize) -> Partial {
        Partial {
            cells: vec![None; tables],
            ..Partial::default()
        }
    }

    /// Add one unmapped value (summing the rows of one already seen).
    pub fn add_unmapped(&mut self, u: Unmapped) {
        let key = (u.column.clone(), u.codelist.clone(), u.raw_value.clone());
        self.unmapped
            .entry(key)
            .and_modify(|a| a.rows += u.rows)
            .or_insert(u);
    }

    /// Merge partials, in order: `merge([a, b, c])` equals `merge([merge([a, b]), c])`.
    pub fn merge(parts: Vec<Partial>, tables: &[&TablePlan]) -> Result<Partial> {
        let mut out = Partial::empty(tables.len());
        let mut cells: Vec<Vec<DataFrame>> = vec![Vec::new(); tables.len()];
        for p in parts {
            out.rows_in += p.rows_in;
            for (acc, c) in cells.iter_mut().zip(p.cells) {
                acc.extend(c);
            }
            out.rows.extend(p.rows);
            out.quarantine.extend(p.quarantine);
            out.keys.extend(p.keys);
            for u in p.unmapped.into_values() {
                out.add_unmapped(u);
            }
            for (k, n) in p.failures {
                *out.failures.entry(k).or_default() += n;
            }
            out.books.add(p.books);
            out.long_records.extend(p.long_records);
            if out.references.len() < p.references.len() {
                out.references
                    .resize_with(p.references.len(), Default::default);
            }
            for (acc, values) in out.references.iter_mut().zip(p.references) {
                acc.extend(values);
            }
        }
        for ((acc, parts), t) in out.cells.iter_mut().zip(cells).zip(tables) {
            if !parts.is_empty() {
                *acc = Some(tabulate::merge_cells(parts, t)?);
            }
        }
        Ok(out)
    }

    /// Write the partial into `dir` (which must exist) as Parquet files.
    pub fn write(&self, dir: &Path) -> Result<()> {
        for (i, c) in self.cells.iter().enumerate() {
            if let Some(c) = c {
                write_frame(&dir.join(format!("cells-{i}.parquet")), &mut c.clone())?;
            }
        }
        if let Some(mut rows) = stack(&self.rows)? {
            write_frame(&dir.join("rows.parquet"), &mut rows)?;
        }
        if let Some(mut q) = stack(&self.quarantine)? {
            write_frame(&dir.join("quarantine.parquet"), &mut q)?;
        }
        write_frame(&dir.join("books.parquet"), &mut self.books_frame()?)?;
        if !self.keys.is_empty() {
            let keys: Vec<&[u8]> = self.keys.iter().map(|k| k.as_slice()).collect();
            let mut frame = DataFrame::new_infer_height(vec![Column::new("key".into(), keys)])
                .at(|| "writing a partial's keys".into())?;
            write_frame(&dir.join("keys.parquet"), &mut frame)?;
        }
        if !self.long_records.is_empty() {
            let r = &self.long_records;
            let mut frame = DataFrame::new_infer_height(vec![
                Column::new(
                    "file".into(),
                    r.iter().map(|r| r.file.as_str()).collect::<Vec<_>>(),
                ),
                Column::new("line".into(), r.iter().map(|r| r.line).collect::<Vec<_>>()),
                Column::new(
                    "lines".into(),
                    r.iter().map(|r| r.lines).collect::<Vec<_>>(),
                ),
            ])
            .at(|| "writing a partial's long records".into())?;
            write_frame(&dir.join("long_records.parquet"), &mut frame)?;
        }
        for (i, values) in self.references.iter().enumerate() {
            let mut values: Vec<&str> = values.iter().map(String::as_str).collect();
            values.sort_unstable();
            let mut frame = DataFrame::new_infer_height(vec![Column::new("key".into(), values)])
                .at(|| "writing a partial's referenced keys".into())?;
            write_frame(&dir.join(format!("references-{i}.parquet")), &mut frame)?;
        }
        write_frame(&dir.join("unmapped.parquet"), &mut self.unmapped_frame()?)
    }

    /// Read back a partial written by `write` for `tables` tables.
    pub fn read(dir: &Path, tables: usize) -> Result<Partial> {
        let mut p = Partial::empty(tables);
        for (i, c) in p.cells.iter_mut().enumerate() {
            *c = read_frame(&dir.join(format!("cells-{i}.parquet")))?;
        }
        p.rows.extend(read_frame(&dir.join("rows.parquet"))?);
        p.quarantine
            .extend(read_frame(&dir.join("quarantine.parquet"))?);
        if let Some(books) = read_frame(&dir.join("books.parquet"))? {
            p.read_books(&books)?;
        }
        if let Some(keys) = read_frame(&dir.join("keys.parquet"))? {
            let keys = keys.column("key").and_then(|c| c.binary().cloned());
            let keys = keys.at(|| "reading a partial's keys".into())?;
            p.keys = keys.iter().flatten().map(|k| k.to_vec()).collect();
        }
        if let Some(unmapped) = read_frame(&dir.join("unmapped.parquet"))? {
            p.read_unmapped(&unmapped)?;
        }
        while let Some(keys) =
            read_frame(&dir.join(format!("references-{}.parquet", p.references.len())))?
        {
            let context = || "reading a partial's referenced keys".to_string();
            let keys = keys.column("key").at(context)?.str().at(context)?;
            p.references
                .push(keys.iter().flatten().map(String::from).collect());
        }
        if let Some(long) = read_frame(&dir.join("long_records.parquet"))? {
            let context = || "reading a partial's long records".to_string();
            let file = long.column("file").at(context)?.str().at(context)?;
            let line = long.column("line").at(context)?.u64().at(context)?;
            let lines = long.column("lines").at(context)?.u64().at(context)?;
            for ((file, line), lines) in file.iter().zip(line.iter()).zip(lines.iter()) {
                p.long_records.push(crate::books::LongRecord {
                    file: file.unwrap_or_default().to_string(),
                    line: line.unwrap_or(0),
                    lines: lines.unwrap_or(0),
                });
            }
        }
        Ok(p)
    }

    /// The counts and the failures as one frame: one row per failure (or one row with an empty
    /// rule), the counts repeated.
    fn books_frame(&self) -> Result<DataFrame> {
        let b = &self.books;
        let n = self.failures.len().max(1);
        let failures: Vec<(&(String, String), &u64)> = self.failures.iter().collect();
        let rule: Vec<Option<&str>> = (0..n)
            .map(|i| failures.get(i).map(|f| f.0 .0.as_str()))
            .collect();
        let column: Vec<Option<&str>> = (0..n)
            .map(|i| failures.get(i).map(|f| f.0 .1.as_str()))
            .collect();
        let rows: Vec<Option<u64>> = (0..n).map(|i| failures.get(i).map(|f| *f.1)).collect();
        let counts = [
            self.rows_in,
            b.valid,
            b.rejected,
            b.both,
            b.neither,
            b.stray,
        ];
        let mut columns: Vec<Column> = BOOK_COUNTS
            .iter()
            .zip(counts)
            .map(|(name, v)| Column::new((*name).into(), vec![v; n]))
            .collect();
        columns.extend([
            Column::new("rule".into(), rule),
            Column::new("column".into(), column),
            Column::new("rows".into(), rows),
        ]);
        DataFrame::new_infer_height(columns).at(|| "writing a partial's books".into())
    }

    fn read_books(&mut self, df: &DataFrame) -> Result<()> {
        let context = || "reading a partial's books".to_string();
        let count = |name: &str| -> Result<u64> {
            Ok(df
                .column(name)
                .at(context)?
                .u64()
                .at(context)?
                .get(0)
                .unwrap_or(0))
        };
        self.rows_in = count(BOOK_COUNTS[0])?;
        self.books = RowBooks {
            valid: count(BOOK_COUNTS[1])?,
            rejected: count(BOOK_COUNTS[2])?,
            both: count(BOOK_COUNTS[3])?,
            neither: count(BOOK_COUNTS[4])?,
            stray: count(BOOK_COUNTS[5])?,
        };
        let rule = df.column("rule").at(context)?.str().at(context)?;
        let column = df.column("column").at(context)?.str().at(context)?;
        let rows = df.column("rows").at(context)?.u64().at(context)?;
        for i in 0..df.height() {
            if let (Some(r), Some(c), Some(n)) = (rule.get(i), column.get(i), rows.get(i)) {
                self.failures.insert((r.to_string(), c.to_string()), n);
            }
        }
        Ok(())
    }

    fn unmapped_frame(&self) -> Result<DataFrame> {
        let mut all: Vec<&Unmapped> = self.unmapped.values().collect();
        all.sort_by(|a, b| {
            (&a.column, &a.codelist, &a.raw_value).cmp(&(&b.column, &b.codelist, &b.raw_value))
        });
        let text = |f: &dyn Fn(&Unmapped) -> String| all.iter().map(|u| f(u)).collect::<Vec<_>>();
        DataFrame::new_infer_height(vec![
            Column::new("column".into(), text(&|u| u.column.clone())),
            Column::new("codelist".into(), text(&|u| u.codelist.clone())),
            Column::new("raw_value".into(), text(&|u| u.raw_value.clone())),
            Column::new(
                "rows".into(),
                all.iter().map(|u| u.rows).collect::<Vec<_>>(),
            ),
            Column::new(
                "given".into(),
                all.iter().map(|u| u.given.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "suggestions".into(),
                text(&|u| serde_json::to_string(&u.suggestions).unwrap_or_default()),
            ),
        ])
        .at(|| "writing a partial's unmapped values".into())
    }

    fn read_unmapped(&mut self, df: &DataFrame) -> Result<()> {
        let context = || "reading a partial's unmapped values".to_string();
        let text = |name: &str| -> Result<Vec<Option<String>>> {
            let s = df.column(name).at(context)?.str().at(context)?;
            Ok(s.iter().map(|v| v.map(String::from)).collect())
        };
        let (column, codelist, raw) = (text("column")?, text("codelist")?, text("raw_value")?);
        let (given, suggestions) = (text("given")?, text("suggestions")?);
        let rows = df.column("rows").at(context)?.u64().at(context)?;
        for i in 0..df.height() {
            let suggestions: Vec<Suggestion> = suggestions[i]
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            self.add_unmapped(Unmapped {
                column: column[i].clone().unwrap_or_default(),
                codelist: codelist[i].clone().unwrap_or_default(),
                raw_value: raw[i].clone().unwrap_or_default(),
                rows: rows.get(i).unwrap_or(0),
                given: given[i].clone(),
                suggestions,
            });
        }
        Ok(())
    }
}

/// Names of the counts in a written partial's books, in `RowBooks` order after `rows_in`.
const BOOK_COUNTS: [&str; 6] = ["rows_in", "valid", "rejected", "both", "neither", "stray"];

/// The frames one under the other, or none.
pub fn stack(frames: &[DataFrame]) -> Result<Option<DataFrame>> {
    let context = || "joining frames".to_string();
    let mut all: Option<DataFrame> = None;
    for f in frames {
        match all.as_mut() {
            None => all = Some(f.clone()),
            Some(a) => {
                a.vstack_mut(f).at(context)?;
            }
        }
    }
    Ok(all.map(|mut a| {
        a.rechunk_mut();
        a
    }))
}

fn write_frame(path: &Path, df: &mut DataFrame) -> Result<()> {
    let file = File::create(path).map_err(write_error(path))?;
    ParquetWriter::new(file)
        .finish(df)
        .at(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn read_frame(path: &Path) -> Result<Option<DataFrame>> {
    if !path.exists() {
        return Ok(None);
    }
    crate::frame::read_parquet(path).map(Some)
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

    fn unmapped(raw: &str, rows: u64) -> Unmapped {
        Unmapped {
            column: "sexe".into(),
            codelist: "sex".into(),
            raw_value: raw.into(),
            rows,
            given: None,
            suggestions: vec![Suggestion {
                spelling: "femme".into(),
                code: "F".into(),
                distance: 1,
            }],
        }
    }

    fn part(valid: u64, rejected: u64, raw: &str, keys: &[&[u8]]) -> Partial {
        let mut p = Partial::empty(0);
        p.rows_in = valid + rejected;
        p.books = RowBooks {
            valid,
            rejected,
            ..RowBooks::default()
        };
        p.add_unmapped(unmapped(raw, rejected));
        p.failures
            .insert(("codelist:sex".into(), "sexe".into()), rejected);
        p.keys = keys.iter().map(|k| k.to_vec()).collect();
        p.long_records.push(crate::books::LongRecord {
            file: "f.csv".into(),
            line: valid,
            lines: 30,
        });
        p.quarantine
            .push(df!("line" => [valid + 1], "rule" => ["codelist:sex"]).unwrap());
        p.references = vec![[raw.to_string()].into_iter().collect()];
        p
    }

    /// Everything but the frames, in a form that compares.
    fn summary(p: &Partial) -> impl PartialEq + std::fmt::Debug {
        let mut unmapped: Vec<(String, u64)> = p
            .unmapped
            .values()
            .map(|u| (u.raw_value.clone(), u.rows))
            .collect();
        unmapped.sort();
        let quarantine: Vec<usize> = p.quarantine.iter().map(|q| q.height()).collect();
        let references: Vec<Vec<String>> = p
            .references
            .iter()
            .map(|r| {
                let mut r: Vec<String> = r.iter().cloned().collect();
                r.sort();
                r
            })
            .collect();
        (
            references,
            p.rows_in,
            p.books,
            unmapped,
            p.failures.clone(),
            p.long_records.clone(),
            p.keys.clone(),
            quarantine.iter().sum::<usize>(),
        )
    }

    #[test]
    fn partials_merge_associatively() {
        let parts = || {
            [
                part(10, 1, "fem", &[b"a"]),
                part(5, 2, "hom", &[b"b", b"c"]),
                part(7, 3, "fem", &[]),
            ]
        };
        let [a, b, c] = parts();
        let left = Partial::merge(vec![Partial::merge(vec![a, b], &[]).unwrap(), c], &[]).unwrap();
        let [a, b, c] = parts();
        let right = Partial::merge(vec![a, Partial::merge(vec![b, c], &[]).unwrap()], &[]).unwrap();
        assert_eq!(summary(&left), summary(&right));
        assert_eq!(left.rows_in, 28);
        assert_eq!(
            left.unmapped[&("sexe".into(), "sex".into(), "fem".into())].rows,
            4
        );
        assert_eq!(left.keys, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn a_partial_reads_back_as_written() {
        let p = Partial::merge(
            vec![part(10, 1, "fem", &[b"a"]), part(5, 2, "hom", &[b"b"])],
            &[],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        p.write(dir.path()).unwrap();
        let back = Partial::read(dir.path(), 0).unwrap();
        assert_eq!(summary(&back), summary(&p));
        let raw = &back.unmapped[&("sexe".into(), "sex".into(), "hom".into())];
        assert_eq!(raw.suggestions[0].spelling, "femme");
    }
}
