//! Readable reports: what a statistician (or the ministry that sent the file) reads after a run.
//! `report.md` (English, for diffs and terminals) is written here; the HTML reports, in the
//! pipeline's language, in [`publication`] and [`feedback`].

mod charts;
pub mod feedback;
mod html;
pub mod publication;

use std::fmt::Write;

use crate::books::{FileCheck, Manifest, SourceBooks};
use crate::spec::{CheckPlan, DeriveKind, DerivePlan, Plan};

/// A value inside a Markdown table cell: a `|` would end the cell and a line break the row
/// (GitHub's tables read `\|` as a pipe, in code spans too).
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A value as inline code inside a table cell, fenced with two backticks when it holds one.
fn code(text: &str) -> String {
    let text = cell(text);
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

fn pct(share: f64) -> String {
    format!("{:.2}%", share * 100.0)
}

/// The run report, `report.md` in every output folder.
pub fn markdown(m: &Manifest) -> String {
    let mut s = String::new();
    let title = m.pipeline.title.as_deref().unwrap_or(&m.pipeline.name);
    let _ = writeln!(s, "# {title}\n");
    let _ = writeln!(
        s,
        "Pipeline `{}` (sha256 `{}`), marsad {}, run `{}`, {}: **{}**.\n",
        m.pipeline.name,
        &m.pipeline.sha256[..12.min(m.pipeline.sha256.len())],
        m.marsad_version,
        m.run_id,
        m.command,
        m.status
    );
    s.push_str(&sources_text(m));
    if !m.tables.is_empty() {
        let _ = writeln!(s, "## Tables\n");
        let _ = writeln!(s, "| table | source | rows |\n|---|---|---:|");
        for t in &m.tables {
            let _ = writeln!(s, "| {} | {} | {} |", t.name, t.source, t.rows);
        }
        let _ = writeln!(
            s,
            "\nEvery table with a sex dimension has rows `F`, `M`, `_U` (unknown) and `_T` (total = F + M + _U) \
for each combination of the other dimensions; `pct_female` and `sex_ratio` are on the `_T` rows.\n"
        );
    }
    revisions(&mut s, m);
    if !m.disclosure.is_empty() {
        let _ = writeln!(s, "## Disclosure control\n");
        let _ = writeln!(
            s,
            "| table | method | cells | sensitive (C) | hidden to protect them | share of the total hidden | flagged E | rounded | audit against an LP attacker |\n|---|---|---:|---:|---:|---:|---:|---:|---|"
        );
        for d in &m.disclosure {
            let audit = match &d.audit {
                Some(a) if a.unproved == 0 => format!(
                    "all {} sensitive cells proved protected ({} equations over {})",
                    a.sensitive_cells,
                    a.equations,
                    a.system.join(", ")
                ),
                Some(a) => format!(
                    "**{} of {} sensitive cells not proved protected** ({} equations over {})",
                    a.unproved,
                    a.sensitive_cells,
                    a.equations,
                    a.system.join(", ")
                ),
                None => "-".into(),
            };
            let share = match d.hidden_share {
                Some(x) => format!("{:.2}%", 100.0 * x),
                None => "-".into(),
            };
            let method = match &d.reason {
                Some(r) => format!("{} ({r})", d.method),
                None => d.method.to_string(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                d.table,
                method,
                d.cells,
                d.primary,
                d.secondary,
                share,
                d.flagged,
                d.rounded,
                audit
            );
        }
        let _ = writeln!(
            s,
            "\nSuppressed cells are empty in the published tables (`obs_status` Q, `conf_status` C: \
the published flags do not tell the sensitive cells from those hidden to protect them); unreliable survey estimates have `obs_status` U. The tables as computed are in the `.restricted` folder, \
which is not for publication, with `disclosure_audit.csv`: each sensitive cell's value, the \
range the audit proved an attacker holding every published table of its source cannot narrow, \
and what it had to be. Cells still short after the suppression table by table are hidden \
together with complements across tables until every one passes.\n"
        );
    }
    s
}

/// What changed since the previous release, table by table.
fn revisions(s: &mut String, m: &Manifest) {
    if m.revisions.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "## Revisions since the previous release (run `{}`)\n",
        m.revisions[0].previous_run_id
    );
    let _ = writeln!(
        s,
        "| table | cells added | removed | revised | newly suppressed | newly published |\n|---|---:|---:|---:|---:|---:|"
    );
    for r in &m.revisions {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.table,
            r.cells_added,
            r.cells_removed,
            r.cells_revised,
            r.newly_suppressed,
            r.newly_published
        );
    }
    s.push('\n');
    for r in m.revisions.iter().filter(|r| !r.largest.is_empty()) {
        let _ = writeln!(s, "Largest revisions in `{}`:\n", r.table);
        for x in &r.largest {
            let _ = writeln!(s, "- {}: {} -> {}", cell(&x.cell), x.before, x.after);
        }
        s.push('\n');
    }
}

/// The per-source part of the report, also printed by `marsad validate`.
pub fn sources_text(m: &Manifest) -> String {
    let mut s = String::new();
    for b in &m.sources {
        let _ = writeln!(s, "## Source `{}`\n", b.name);
        for f in &b.files {
            let _ = writeln!(
                s,
                "- file `{}` ({}, {} rows, sha256 `{}`)",
                f.path.display(),
                f.encoding,
                f.rows,
                &f.sha256[..12]
            );
        }
        let _ = writeln!(s, "- schema `{}`", b.schema);
        value_labels_text(&mut s, b);
        let _ = writeln!(
            s,
            "- rows in: {}, valid: {}, rejected: {} ({}; limit {}), conservation: {}\n",
            b.rows_in,
            b.rows_valid,
            b.rows_rejected,
            pct(b.rejected_share()),
            pct(m.max_rejected),
            if b.conserved { "ok" } else { "FAILED" }
        );
        long_records_text(&mut s, b);
        if !b.failures.is_empty() {
            let _ = writeln!(s, "| rule | column | rows |\n|---|---|---:|");
            for f in &b.failures {
                let _ = writeln!(s, "| {} | {} | {} |", f.rule, f.column, f.rows);
            }
            s.push('\n');
        }
        if b.unmapped.is_empty() && b.unmapped_values > 0 {
            let _ = writeln!(
                s,
                "{} values were not found in a code list ({} rows); the restricted report lists them.\n",
                b.unmapped_values, b.unmapped_rows
            );
        }
        if !b.unmapped.is_empty() {
            let _ = writeln!(
                s,
                "Values not found in a code list (add the right ones under `[harmonize.extra]`):\n"
            );
            let _ = writeln!(
                s,
                "| column | code list | raw value | rows | given | closest known spellings |\n|---|---|---|---:|---|---|"
            );
            for u in &b.unmapped {
                let close: Vec<String> = u
                    .suggestions
                    .iter()
                    .map(|x| {
                        format!(
                            "{} ({}, distance {})",
                            code(&x.spelling),
                            cell(&x.code),
                            x.distance
                        )
                    })
                    .collect();
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    cell(&u.column),
                    cell(&u.codelist),
                    code(&u.raw_value),
                    u.rows,
                    u.given.as_deref().unwrap_or("rejected"),
                    close.join(", ")
                );
            }
            s.push('\n');
        }
    }
    s
}

/// The value labels a dataset declares, code = label, so that a reader sees what each code of
/// a coded variable meant in the file.
fn value_labels_text(s: &mut String, b: &SourceBooks) {
    for f in b.files.iter().filter(|f| !f.value_labels.is_empty()) {
        for v in &f.value_labels {
            let pairs: Vec<String> = v
                .labels
                .iter()
                .map(|(code, label)| format!("{} = {}", code, cell(label)))
                .collect();
            let _ = writeln!(
                s,
                "- value labels of `{}`: {}",
                v.variable,
                pairs.join(", ")
            );
        }
    }
}

/// A warning for each record that runs over many lines: a stray quote is the usual cause, and
/// the lines it swallowed are rows lost.
fn long_records_text(s: &mut String, b: &SourceBooks) {
    for r in &b.long_records {
        let _ = writeln!(
            s,
            "**Warning**: a quoted value runs over {} lines from line {} of `{}`. A quote is probably missing or stray there: those lines were read as one value, so {} rows may be missing; they count as rejected rows against max_rejected. Check the quotes around line {}.\n",
            r.lines, r.line, r.file, r.lines - 1, r.line
        );
    }
}

/// The readable report of `marsad validate --schema`, for the ministry that sent the file.
pub fn file_check_text(c: &FileCheck, max_errors: usize) -> String {
    let mut s = String::new();
    let b = &c.books;
    let verdict = if c.valid { "ACCEPTED" } else { "NOT ACCEPTED" };
    let _ = writeln!(s, "{verdict}: {} against {}", c.file, c.schema);
    if let Some(f) = b.files.first() {
        match &f.sheet {
            Some(sheet) => {
                let _ = writeln!(s, "read from sheet `{sheet}`, {} rows", b.rows_in);
            }
            None => {
                let _ = writeln!(s, "read as {}, {} rows", f.encoding, b.rows_in);
            }
        }
    }
    let _ = writeln!(
        s,
        "rows valid: {}, rows rejected: {}",
        b.rows_valid, b.rows_rejected
    );
    if !b.long_records.is_empty() {
        s.push('\n');
        long_records_text(&mut s, b);
    }
    if !b.failures.is_empty() {
        let _ = writeln!(s, "\nproblems by rule and column:");
        for f in &b.failures {
            let column = if f.column.is_empty() {
                "(whole row)"
            } else {
                &f.column
            };
            let _ = writeln!(s, "  {:<16} {:<24} {} rows", f.rule, column, f.rows);
        }
        let _ = writeln!(s, "\nfirst problems (line, column, value: what is wrong):");
        for e in c.errors.iter().take(max_errors) {
            let line = match e["cell"].as_str() {
                Some(cell) => format!("{} ({cell})", e["line"]),
                None => e["line"].to_string(),
            };
            let _ = writeln!(
                s,
                "  line {}, {}, `{}`: {} ({})",
                line,
                e["column"]
                    .as_str()
                    .filter(|c| !c.is_empty())
                    .unwrap_or("whole row"),
                e["raw_value"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or(""),
                e["rule"].as_str().unwrap_or("")
            );
        }
        if c.errors.len() > max_errors {
            let _ = writeln!(
                s,
                "  ... and {} more (use --format json or --output DIR for all)",
                c.errors.len() - max_errors
            );
        }
    }
    s
}

fn derives(s: &mut String, derives: &[DerivePlan]) {
    for d in derives {
        let how = match &d.kind {
            DeriveKind::Expr(_) => "expression".to_string(),
            DeriveKind::AgeGroup { age, scheme } => {
                format!("{} age group of `{age}`", scheme.name())
            }
            DeriveKind::Region { country, level, .. } => format!("{} of `{country}`", level.name()),
        };
        let _ = writeln!(s, "  derive `{}` ({how})", d.name);
    }
}

fn checks(s: &mut String, checks: &[CheckPlan]) {
    for c in checks {
        let _ = writeln!(s, "  check `{}`: {}", c.name, c.text);
    }
}

/// What `marsad check` prints for a pipeline that is fine.
pub fn plan_text(plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "pipeline `{}` is valid ({})",
        plan.name,
        plan.path.display()
    );
    let _ = writeln!(s, "max_rejected: {}", pct(plan.max_rejected));
    for src in &plan.sources {
        let _ = writeln!(s, "source `{}`:", src.name);
        for f in &src.files {
            let _ = writeln!(s, "  file {}", f.display());
        }
        let _ = writeln!(
            s,
            "  schema {} ({} fields)",
            src.schema.path.display(),
            src.schema.fields.len()
        );
        // in the order the stages run: a region of a harmonized nationality after its harmonization
        derives(&mut s, &src.derives);
        checks(&mut s, &src.checks);
        if let Some(u) = &src.unpivot {
            let _ = writeln!(
                s,
                "  unpivot {} columns into {} + `{}`",
                u.columns.len(),
                u.groups.join(", "),
                u.value
            );
        }
        for h in &src.harmonize {
            let _ = writeln!(
                s,
                "  harmonize `{}` -> `{}` with `{}`",
                h.column, h.into, h.codelist.name
            );
        }
        derives(&mut s, &src.late_derives);
        checks(&mut s, &src.late_checks);
        let _ = writeln!(s, "  columns: {}", src.columns.join(", "));
    }
    for t in &plan.tables {
        let _ = writeln!(
            s,
            "table `{}` from `{}`: {} ({} measures{})",
            t.name,
            t.source,
            t.dimensions.join(" x "),
            t.measures.len(),
            match &t.sex {
                Some(sex) => format!(", by sex in `{sex}`"),
                None => ", no sex dimension".into(),
            }
        );
    }
    for o in &plan.outputs {
        let _ = writeln!(
            s,
            "output `{}` -> {} ({} tables)",
            o.name,
            o.dir.display(),
            o.tables.len()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_cannot_break_a_table_row() {
        assert_eq!(code("A|B"), "`A\\|B`");
        assert_eq!(code("two\nlines"), "`two lines`");
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(code("Maroc"), "`Maroc`");
        assert_eq!(cell("x|y"), "x\\|y");
    }
}
