//! `report.html` for the data provider: whether the file is accepted, a summary by rule and
//! column, the first rows that break each rule with the failing cell marked, the values no
//! code list knows with the closest spellings, and what to do. It shows raw values, so it is
//! written only to restricted folders (and to standard output by `validate --schema`).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use polars::prelude::*;

use super::html::{esc, page};
use crate::books::SourceBooks;
use crate::error::{EngineContext, Result};
use crate::ingest::RawLines;
use crate::lang::{Arg, Catalogue};
use crate::spec::Dialect;

/// Rows shown for each rule.
pub const EXAMPLES: usize = 5;

/// One quarantine entry: one reason a row was set apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub source: String,
    pub file: String,
    pub line: u64,
    pub column: String,
    pub raw_value: Option<String>,
    pub rule: String,
    pub message: String,
    /// A spreadsheet's cell (`Titres!D7`).
    pub cell: String,
}

/// The fields of some lines of a source file as they were written, with its header, so that a
/// rejected row can be shown whole.
#[derive(Debug, Default)]
pub struct RawRows {
    /// By source and file: the header's fields and each wanted line's fields.
    pub files: HashMap<(String, String), RawLines>,
}

impl RawRows {
    /// Read again, from each file of a source, the lines `entries` name.
    pub fn add_source(&mut self, books: &SourceBooks, dialect: &Dialect, entries: &[Entry]) {
        for file in &books.files {
            let name = file.path.display().to_string();
            let wanted: BTreeSet<u64> = entries
                .iter()
                .filter(|e| e.source == books.name && e.file == name)
                .map(|e| e.line)
                .collect();
            if let Some(rows) = crate::ingest::raw_lines(file, dialect, &wanted) {
                self.files.insert((books.name.clone(), name), rows);
            }
        }
    }
}

/// A finished quarantine's columns as text, read once.
struct Columns([StringChunked; 8]);

impl Columns {
    fn read(quarantine: &DataFrame) -> Result<Columns> {
        let context = || "reading the quarantine back".to_string();
        let text = |c: &str| -> Result<StringChunked> {
            let col = quarantine.column(c).at(context)?;
            Ok(col
                .cast(&DataType::String)
                .at(context)?
                .str()
                .at(context)?
                .clone())
        };
        let names = [
            "source",
            "file",
            "line",
            "column",
            "raw_value",
            "rule",
            "message",
            "cell",
        ];
        let mut cols = Vec::with_capacity(names.len());
        for name in names {
            cols.push(text(name)?);
        }
        Ok(Columns(cols.try_into().expect("eight columns")))
    }

    fn get(&self, k: usize, i: usize) -> &str {
        self.0[k].get(i).unwrap_or("")
    }

    fn entry(&self, i: usize) -> Entry {
        Entry {
            source: self.get(0, i).into(),
            file: self.get(1, i).into(),
            line: self.get(2, i).parse().unwrap_or(0),
            column: self.get(3, i).into(),
            raw_value: self.0[4].get(i).map(str::to_string),
            rule: self.get(5, i).into(),
            message: self.get(6, i).into(),
            cell: self.get(7, i).into(),
        }
    }
}

/// Every entry of a finished quarantine, in its order.
pub fn entries(quarantine: &DataFrame) -> Result<Vec<Entry>> {
    let cols = Columns::read(quarantine)?;
    Ok((0..quarantine.height()).map(|i| cols.entry(i)).collect())
}

/// The entries a report shows: for each source and rule, every entry of the first
/// [`EXAMPLES`] lines that break it (so a row's other failing cells are shown too).
pub fn examples(quarantine: &DataFrame) -> Result<Vec<Entry>> {
    let cols = Columns::read(quarantine)?;
    let (source, file, line, rule) = (&cols.0[0], &cols.0[1], &cols.0[2], &cols.0[5]);
    let entry = |i: usize| cols.entry(i);
    // The lines each (source, rule) shows, in quarantine order, borrowed from the columns: a
    // quarantine may hold millions of entries and only a few are shown.
    let mut lines: HashMap<(&str, &str), Vec<(&str, &str)>> = HashMap::new();
    let mut wanted: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    for i in 0..quarantine.height() {
        let at = (file.get(i).unwrap_or(""), line.get(i).unwrap_or(""));
        let key = (source.get(i).unwrap_or(""), rule.get(i).unwrap_or(""));
        let shown = lines.entry(key).or_default();
        if shown.len() < EXAMPLES && !shown.contains(&at) {
            shown.push(at);
            wanted.insert((key.0, at.0, at.1));
        }
    }
    Ok((0..quarantine.height())
        .filter(|i| {
            let at = (
                source.get(*i).unwrap_or(""),
                file.get(*i).unwrap_or(""),
                line.get(*i).unwrap_or(""),
            );
            wanted.contains(&at)
        })
        .map(entry)
        .collect())
}

/// What a provider report is about.
pub struct Feedback<'a> {
    /// The file or the pipeline checked.
    pub name: &'a str,
    pub sources: &'a [SourceBooks],
    pub max_rejected: f64,
    pub entries: &'a [Entry],
    pub raw: &'a RawRows,
    /// "Made by marsad …", when there was a run.
    pub footer: Option<String>,
}

/// The provider's page.
pub fn feedback(cat: &Catalogue, f: &Feedback) -> String {
    let title = cat.text("fb-title", &[("name", Arg::Text(f.name))]);
    let mut body = format!(
        "<header><h1>{}</h1><p class=\"meta\">{}</p></header>\n",
        esc(&title),
        esc(&cat.t("fb-restricted"))
    );
    for books in f.sources {
        body.push_str(&source(cat, f, books));
    }
    if let Some(footer) = &f.footer {
        let _ = writeln!(body, "<footer class=\"meta\">{}</footer>", esc(footer));
    }
    page(cat.lang(), &title, &body)
}

fn source(cat: &Catalogue, f: &Feedback, b: &SourceBooks) -> String {
    let mut s = String::new();
    if f.sources.len() > 1 {
        let _ = write!(s, "<h2>{}</h2>", esc(&b.name));
    }
    s.push_str(&verdict(cat, f.max_rejected, b));
    if !b.failures.is_empty() {
        s.push_str(&summary(cat, b));
    }
    let mut rules: Vec<&str> = Vec::new();
    for failure in &b.failures {
        if !rules.contains(&failure.rule.as_str()) {
            rules.push(&failure.rule);
        }
    }
    for rule in rules {
        s.push_str(&rule_examples(cat, f, b, rule));
    }
    if !b.unmapped.is_empty() {
        s.push_str(&unmapped(cat, b));
    }
    s
}

fn verdict(cat: &Catalogue, max_rejected: f64, b: &SourceBooks) -> String {
    let lost = b.rows_rejected + b.swallowed_lines;
    let counts = [
        ("total", Arg::Count(b.rows_in)),
        ("valid", Arg::Count(b.rows_valid)),
        ("rejected", Arg::Count(lost)),
    ];
    let (class, text) = if lost == 0 {
        ("accepted", cat.text("fb-accepted-all", &counts))
    } else if max_rejected == 0.0 {
        ("refused", cat.text("fb-refused-any", &counts))
    } else if b.rejected_share() <= max_rejected {
        ("accepted", cat.text("fb-accepted-some", &counts))
    } else {
        let share = cat.lang().percent(b.rejected_share());
        let max = cat.lang().percent(max_rejected);
        let [total, valid, rejected] = counts;
        let args = [
            total,
            valid,
            rejected,
            ("share", Arg::Text(&share)),
            ("max", Arg::Text(&max)),
        ];
        ("refused", cat.text("fb-refused", &args))
    };
    format!("<p class=\"verdict {class}\">{}</p>\n", esc(&text))
}

fn summary(cat: &Catalogue, b: &SourceBooks) -> String {
    let mut s = format!(
        "<h3>{}</h3><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        esc(&cat.t("fb-summary")),
        esc(&cat.t("fb-rule")),
        esc(&cat.t("fb-column")),
        esc(&cat.t("fb-rows")),
        esc(&cat.t("fb-todo")),
    );
    for failure in &b.failures {
        let _ = write!(
            s,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&failure.rule),
            esc(&failure.column),
            esc(&cat.lang().count(failure.rows)),
            esc(&todo(cat, &failure.rule, ""))
        );
    }
    s.push_str("</tbody></table>\n");
    s
}

/// What to do about a rule (a pipeline check's own message is given with it).
fn todo(cat: &Catalogue, rule: &str, message: &str) -> String {
    if rule.starts_with("check:") {
        return cat.text("todo-check", &[("message", Arg::Text(message))]);
    }
    if rule.starts_with("codelist:") {
        return cat.t("todo-codelist");
    }
    cat.t(&format!("todo-{rule}"))
}

fn rule_examples(cat: &Catalogue, f: &Feedback, b: &SourceBooks, rule: &str) -> String {
    let of_source: Vec<&Entry> = f.entries.iter().filter(|e| e.source == b.name).collect();
    let mut lines: Vec<(&str, u64)> = Vec::new();
    for e in of_source.iter().filter(|e| e.rule == rule) {
        if !lines.contains(&(e.file.as_str(), e.line)) {
            lines.push((&e.file, e.line));
        }
    }
    let failing: Vec<&Entry> = of_source
        .iter()
        .copied()
        .filter(|e| lines.contains(&(e.file.as_str(), e.line)))
        .collect();
    let mut s = format!(
        "<section class=\"rule\" data-rule=\"{}\"><h3>{}</h3>",
        esc(rule),
        esc(&cat.text("fb-examples", &[("rule", Arg::Text(rule))]))
    );
    let message = failing
        .iter()
        .find(|e| e.rule == rule)
        .map_or("", |e| e.message.as_str());
    let _ = write!(s, "<p>{}</p>", esc(&todo(cat, rule, message)));
    s.push_str(&rows_as_written(
        cat, f.raw, &b.name, &lines, &failing, rule,
    ));
    s.push_str(&reasons(cat, &failing, rule));
    let rows: u64 = b
        .failures
        .iter()
        .filter(|x| x.rule == rule)
        .map(|x| x.rows)
        .sum();
    let more = rows.saturating_sub(lines.len() as u64);
    if more > 0 {
        let _ = write!(
            s,
            "<p class=\"note\">{}</p>",
            esc(&cat.text("fb-more", &[("count", Arg::Count(more))]))
        );
    }
    s.push_str("</section>\n");
    s
}

/// The example rows whole, as the file has them under its header, the cells that break `rule`
/// marked (those of a file that cannot be read again are left out: the reasons still list
/// their values).
fn rows_as_written(
    cat: &Catalogue,
    raw: &RawRows,
    source: &str,
    lines: &[(&str, u64)],
    failing: &[&Entry],
    rule: &str,
) -> String {
    let mut s = String::new();
    let mut header_of = None;
    for (file, line) in lines {
        let Some(raw) = raw.files.get(&(source.to_string(), file.to_string())) else {
            continue;
        };
        let header = &raw.header;
        let Some(fields) = raw.lines.get(line) else {
            continue;
        };
        if header_of != Some(header) {
            if header_of.is_some() {
                s.push_str("</tbody></table>");
            }
            let _ = write!(
                s,
                "<table class=\"rows\"><thead><tr><th>{}</th>",
                esc(&cat.t("fb-line"))
            );
            for h in header {
                let _ = write!(s, "<th>{}</th>", esc(h));
            }
            s.push_str("</tr></thead><tbody>");
            header_of = Some(header);
        }
        let bad: BTreeSet<&str> = failing
            .iter()
            .filter(|e| e.file == *file && e.line == *line && e.rule == rule)
            .map(|e| e.column.as_str())
            .collect();
        let _ = write!(s, "<tr data-line=\"{line}\"><td class=\"num\">{line}</td>");
        for (k, value) in fields.iter().enumerate() {
            let column = header.get(k).map_or("", String::as_str);
            let class = if bad.contains(column) {
                " class=\"bad\""
            } else {
                ""
            };
            let _ = write!(
                s,
                "<td{class} data-column=\"{}\"><span class=\"raw\">{}</span></td>",
                esc(column),
                esc(value)
            );
        }
        s.push_str("</tr>\n");
    }
    if header_of.is_some() {
        s.push_str("</tbody></table>\n");
    }
    s
}

/// Every reason the example rows were set apart: line, cell, column, value, rule. The
/// engine's own wording is English, so it is shown on English pages and for the pipeline's
/// checks, whose message is the pipeline author's.
fn reasons(cat: &Catalogue, failing: &[&Entry], rule: &str) -> String {
    let cells = failing.iter().any(|e| !e.cell.is_empty());
    let problems = cat.lang() == crate::lang::Lang::En || rule.starts_with("check:");
    let mut s = format!(
        "<table class=\"reasons\"><thead><tr><th>{}</th>",
        esc(&cat.t("fb-line"))
    );
    if cells {
        let _ = write!(s, "<th>{}</th>", esc(&cat.t("fb-cell")));
    }
    let _ = write!(
        s,
        "<th>{}</th><th>{}</th><th>{}</th>",
        esc(&cat.t("fb-column")),
        esc(&cat.t("fb-value")),
        esc(&cat.t("fb-rule"))
    );
    if problems {
        let _ = write!(s, "<th>{}</th>", esc(&cat.t("fb-problem")));
    }
    s.push_str("</tr></thead><tbody>");
    for e in failing {
        let value = match (&e.raw_value, e.column.is_empty()) {
            (_, true) => cat.t("fb-whole-row"),
            (Some(v), false) if !v.is_empty() => v.clone(),
            _ => cat.t("fb-empty"),
        };
        let class = if e.rule == rule { " class=\"bad\"" } else { "" };
        let _ = write!(
            s,
            "<tr data-line=\"{}\"><td class=\"num\">{}</td>",
            e.line, e.line
        );
        if cells {
            let _ = write!(s, "<td>{}</td>", esc(&e.cell));
        }
        let _ = write!(
            s,
            "<td><code>{}</code></td><td{class}><span class=\"raw\">{}</span></td><td><code>{}</code></td>",
            esc(&e.column),
            esc(&value),
            esc(&e.rule)
        );
        if problems {
            let _ = write!(s, "<td>{}</td>", esc(&e.message));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n");
    s
}

fn unmapped(cat: &Catalogue, b: &SourceBooks) -> String {
    let mut s = format!(
        "<h3>{}</h3><ul class=\"unmapped\">",
        esc(&cat.t("fb-unmapped"))
    );
    for u in &b.unmapped {
        let rows = cat.text("rows", &[("count", Arg::Count(u.rows))]);
        let line = cat.text(
            "fb-unmapped-row",
            &[
                ("value", Arg::Text(&u.raw_value)),
                ("column", Arg::Text(&u.column)),
                ("rows", Arg::Text(&rows)),
                ("codelist", Arg::Text(&u.codelist)),
            ],
        );
        let hint = if u.suggestions.is_empty() {
            cat.t("fb-no-suggestion")
        } else {
            let spellings: Vec<String> = u
                .suggestions
                .iter()
                .map(|x| format!("{} ({})", x.spelling, x.code))
                .collect();
            cat.text(
                "fb-suggestions",
                &[("spellings", Arg::Text(&spellings.join(", ")))],
            )
        };
        let _ = write!(s, "<li>{} {}</li>", esc(&line), esc(&hint));
    }
    s.push_str("</ul>\n");
    s
}
