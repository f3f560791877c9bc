//! `report.html` of the publishable folder: each table with its pictures, the quality notes and
//! the sources. It shows only what the tables publish (no raw value, no hidden cell's value).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use polars::prelude::*;

use super::charts::{self, Row, Value};
use super::html::{esc, page};
use crate::books::{DisclosureBooks, Manifest, TableRevision};
use crate::lang::{Arg, Catalogue};
use crate::spec::{TablePlan, TimePeriod};
use crate::tabulate::PCT_FEMALE;
use crate::vocab::Method;

/// A published table and its plan.
pub struct Published<'a> {
    pub plan: &'a TablePlan,
    pub frame: &'a DataFrame,
}

/// The largest groups a bar chart shows.
const LARGEST: usize = 10;

/// The publication's page.
pub fn publication(cat: &Catalogue, m: &Manifest, tables: &[Published]) -> String {
    let title = m.pipeline.title.as_deref().unwrap_or(&m.pipeline.name);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<header><h1>{}</h1><p class=\"meta\">{}</p><p class=\"meta\">{}</p></header>",
        esc(title),
        esc(&cat.t("pub-subtitle")),
        esc(&made_by(cat, m))
    );
    let _ = write!(body, "<nav><h2>{}</h2><ul>", esc(&cat.t("contents")));
    for t in tables {
        let _ = write!(
            body,
            "<li><a href=\"#{}\">{}</a></li>",
            esc(&t.plan.name),
            esc(table_title(t.plan))
        );
    }
    let _ = writeln!(
        body,
        "<li><a href=\"#sources\">{}</a></li></ul></nav>",
        esc(&cat.t("pub-sources"))
    );
    for t in tables {
        body.push_str(&table_section(cat, m, t));
    }
    body.push_str(&sources(cat, m));
    page(cat.lang(), title, &body)
}

pub fn made_by(cat: &Catalogue, m: &Manifest) -> String {
    let date = m.started_at.get(..10).unwrap_or(&m.started_at);
    cat.text(
        "made-by",
        &[
            ("version", Arg::Text(&m.marsad_version)),
            ("pipeline", Arg::Text(&m.pipeline.name)),
            ("run", Arg::Text(&m.run_id)),
            ("date", Arg::Text(date)),
        ],
    )
}

fn table_title(t: &TablePlan) -> &str {
    t.title.as_deref().unwrap_or(&t.name)
}

fn table_section(cat: &Catalogue, m: &Manifest, t: &Published) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<section id=\"{}\" data-measure=\"{}\"><h2>{}</h2>",
        esc(&t.plan.name),
        esc(t.plan.measures.first().map_or("", |m| m.name.as_str())),
        esc(table_title(t.plan))
    );
    let dims = t.plan.dimensions.join(", ");
    let _ = write!(
        s,
        "<p class=\"note\">{} <code>{}</code></p>",
        esc(&cat.text("pub-dimensions", &[("dimensions", Arg::Text(&dims))])),
        esc(&t.plan.name)
    );
    if let Some(notes) = &t.plan.notes {
        let _ = write!(s, "<p>{}</p>", esc(notes));
    }
    if let Some(filter) = &t.plan.filter {
        let text = cat.text("pub-filter", &[("filter", Arg::Text(&filter.text))]);
        let _ = write!(s, "<p class=\"note\">{}</p>", esc(&text));
    }
    match Cube::new(t.plan, t.frame) {
        Some(cube) => s.push_str(&cube.charts(cat)),
        None => {
            let _ = write!(s, "<p class=\"note\">{}</p>", esc(&cat.t("pub-no-chart")));
        }
    }
    s.push_str(&quality(cat, m, &t.plan.name));
    s.push_str("</section>\n");
    s
}

/// A table's cells by coordinates, for picking slices to draw.
struct Cube<'a> {
    plan: &'a TablePlan,
    sex: String,
    /// Each dimension's codes, as published.
    codes: Vec<BTreeSet<String>>,
    values: HashMap<Vec<String>, Value>,
    share_women: HashMap<Vec<String>, f64>,
    /// The code each dimension is held at while another is drawn.
    held: Vec<String>,
}

impl<'a> Cube<'a> {
    /// None when the table has no sex dimension or its first measure is not a number.
    fn new(plan: &'a TablePlan, frame: &DataFrame) -> Option<Cube<'a>> {
        let sex = plan.sex.clone()?;
        let measure = plan.measures.first()?;
        let values = frame
            .column(&measure.name)
            .ok()?
            .cast(&DataType::Float64)
            .ok()?;
        let values = values.f64().ok()?;
        let dims: Vec<_> = plan
            .dimensions
            .iter()
            .map(|d| {
                let codes = frame.column(d).ok()?.cast(&DataType::String).ok()?;
                codes.str().ok().cloned()
            })
            .collect::<Option<_>>()?;
        let shares = frame
            .column(PCT_FEMALE)
            .ok()
            .and_then(|c| c.f64().ok().cloned());
        let mut cube = Cube {
            plan,
            sex,
            codes: vec![BTreeSet::new(); dims.len()],
            values: HashMap::with_capacity(frame.height()),
            share_women: HashMap::new(),
            held: Vec::new(),
        };
        for i in 0..frame.height() {
            let key: Vec<String> = dims
                .iter()
                .map(|d| d.get(i).unwrap_or("").to_string())
                .collect();
            for (k, code) in key.iter().enumerate() {
                cube.codes[k].insert(code.clone());
            }
            let value = values.get(i).map_or(Value::Hidden, Value::Shown);
            if let Some(share) = shares.as_ref().and_then(|s| s.get(i)) {
                cube.share_women.insert(key.clone(), share / 100.0);
            }
            cube.values.insert(key, value);
        }
        for k in 0..dims.len() {
            let code = cube.choose_held(k);
            cube.held.push(code);
        }
        Some(cube)
    }

    fn index(&self, dim: &str) -> Option<usize> {
        self.plan.dimensions.iter().position(|d| d == dim)
    }

    /// The code a dimension is held at while another is drawn: its total; for a dimension
    /// without one, the latest period of time, or else the largest group among the cells
    /// where the dimensions before it are held (so that origin and asylum, say, make a pair
    /// that exists rather than two largest groups that never meet).
    fn held(&self, k: usize) -> String {
        self.held[k].clone()
    }

    fn choose_held(&self, k: usize) -> String {
        let dim = &self.plan.dimensions[k];
        if self.plan.has_total(dim) && self.codes[k].contains("_T") {
            return "_T".into();
        }
        if matches!(&self.plan.sdmx.time, TimePeriod::Dimension(d) if d == dim) {
            return self.codes[k]
                .iter()
                .next_back()
                .cloned()
                .unwrap_or_default();
        }
        let sex = self.index(&self.sex);
        let mut size: HashMap<&str, f64> =
            self.codes[k].iter().map(|c| (c.as_str(), 0.0)).collect();
        for (key, value) in &self.values {
            let held_before = (0..k).all(|j| Some(j) == sex || key[j] == self.held[j]);
            if held_before {
                *size.entry(key[k].as_str()).or_default() += value.shown();
            }
        }
        // Ties go to the first code, so the choice is the same every run.
        self.codes[k]
            .iter()
            .max_by(|a, b| size[a.as_str()].total_cmp(&size[b.as_str()]).then(b.cmp(a)))
            .cloned()
            .unwrap_or_default()
    }

    /// The chart rows of dimension `k`, every other dimension but sex held.
    fn rows(&self, cat: &Catalogue, k: usize, codes: &[String]) -> Vec<Row> {
        let sex = self.index(&self.sex).expect("sex is a dimension");
        let mut key: Vec<String> = (0..self.codes.len()).map(|d| self.held(d)).collect();
        codes
            .iter()
            .map(|code| {
                key[k] = code.clone();
                let by_sex = charts::SEXES.map(|(s, _)| {
                    key[sex] = s.to_string();
                    // A combination the table does not list was never observed: zero.
                    self.values.get(&key).copied().unwrap_or(Value::Shown(0.0))
                });
                key[sex] = "_T".into();
                Row {
                    code: code.clone(),
                    label: self.label(cat, k, code),
                    by_sex,
                    total: self.values.get(&key).copied().unwrap_or(Value::Shown(0.0)),
                    share_women: self.share_women.get(&key).copied(),
                }
            })
            .collect()
    }

    fn label(&self, cat: &Catalogue, k: usize, code: &str) -> String {
        let dim = &self.plan.dimensions[k];
        if code == "_T" {
            return cat.t("total");
        }
        if self.is_age(k) {
            return charts::age_label(cat, code);
        }
        let listed = self.plan.codelists.get(dim).and_then(|l| l.get(code));
        match listed {
            Some(c) => c
                .attrs
                .get(cat.lang().name_column())
                .filter(|n| !n.is_empty())
                .unwrap_or(&c.label)
                .clone(),
            None => code.to_string(),
        }
    }

    fn is_age(&self, k: usize) -> bool {
        charts::is_age_dimension(self.codes[k].iter().map(String::as_str))
    }

    /// Where the other dimensions are held, for the caption.
    fn held_text(&self, cat: &Catalogue, drawn: usize) -> Option<String> {
        let parts: Vec<String> = (0..self.codes.len())
            .filter(|d| *d != drawn && self.plan.dimensions[*d] != self.sex)
            .map(|d| {
                let code = self.held(d);
                format!(
                    "{} = {}",
                    self.plan.dimensions[d],
                    self.label(cat, d, &code)
                )
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    fn figure(&self, cat: &Catalogue, caption: &str, drawn: usize, svg: String) -> String {
        let held = self
            .held_text(cat, drawn)
            .map(|w| {
                format!(
                    ". {}",
                    cat.text("pub-other-at", &[("where", Arg::Text(&w))])
                )
            })
            .unwrap_or_default();
        // The codes the other dimensions are held at, for a reader (or a test) to find the
        // figures in the table.
        let codes: Vec<String> = (0..self.codes.len())
            .filter(|d| *d != drawn && self.plan.dimensions[*d] != self.sex)
            .map(|d| format!("{}={}", self.plan.dimensions[d], self.held(d)))
            .collect();
        format!(
            "<figure data-dimension=\"{}\" data-held=\"{}\"><figcaption><strong>{}</strong>{}</figcaption>{svg}</figure>",
            esc(&self.plan.dimensions[drawn]),
            esc(&codes.join(";")),
            esc(caption),
            esc(&held)
        )
    }

    /// A pyramid for an age dimension, bars for the others, a line over time.
    fn charts(&self, cat: &Catalogue) -> String {
        let mut s = String::new();
        let time = match &self.plan.sdmx.time {
            TimePeriod::Dimension(d) => self.index(d),
            _ => None,
        };
        for (k, dim) in self.plan.dimensions.iter().enumerate() {
            if *dim == self.sex {
                continue;
            }
            let mut codes: Vec<String> = self.codes[k]
                .iter()
                .filter(|c| *c != "_T")
                .cloned()
                .collect();
            if self.is_age(k) {
                codes.sort_by_key(|c| charts::age_order(c));
                let rows = self.rows(cat, k, &codes);
                let svg = charts::pyramid(cat, &rows);
                s.push_str(&self.figure(cat, &cat.t("chart-pyramid"), k, svg));
            } else if Some(k) == time {
                let rows = self.rows(cat, k, &codes);
                let caption = cat.text("chart-line", &[("dimension", Arg::Text(dim))]);
                s.push_str(&self.figure(cat, &caption, k, charts::line(cat, &rows)));
            } else {
                let mut rows = self.rows(cat, k, &codes);
                // Largest by the published total over sex (the sum of what is shown where
                // the total is hidden), ties by code, so the choice is the same every run.
                let total = |r: &Row| match r.total {
                    Value::Shown(v) => v,
                    Value::Hidden => r.by_sex.iter().map(|v| v.shown()).sum::<f64>(),
                };
                // Groups empty where the others are held say nothing.
                rows.retain(|r| {
                    r.total != Value::Shown(0.0) || r.by_sex.iter().any(|v| *v != Value::Shown(0.0))
                });
                rows.sort_by(|a, b| total(b).total_cmp(&total(a)).then(a.code.cmp(&b.code)));
                rows.truncate(LARGEST);
                let caption = cat.text(
                    "chart-bars",
                    &[
                        ("dimension", Arg::Text(dim)),
                        ("count", Arg::Count(rows.len() as u64)),
                    ],
                );
                s.push_str(&self.figure(cat, &caption, k, charts::bars(cat, &rows)));
            }
        }
        if !s.is_empty() {
            s.push_str(&charts::legend(cat));
        }
        s
    }
}

/// The table's quality notes: disclosure control, survey reliability, revisions.
fn quality(cat: &Catalogue, m: &Manifest, table: &str) -> String {
    let mut notes = Vec::new();
    if let Some(d) = m.disclosure.iter().find(|d| d.table == table) {
        notes.extend(disclosure_note(cat, d));
    }
    if let Some(r) = m.revisions.iter().find(|r| r.table == table) {
        notes.push(revision_note(cat, r));
    }
    notes.push(cat.t("pub-unknown-sex"));
    let mut s = format!("<h3>{}</h3><ul>", esc(&cat.t("pub-quality")));
    for n in notes {
        let _ = write!(s, "<li>{}</li>", esc(&n));
    }
    s.push_str("</ul>");
    s
}

fn disclosure_note(cat: &Catalogue, d: &DisclosureBooks) -> Option<String> {
    Some(match &d.method {
        Method::Suppress if d.primary + d.secondary == 0 => cat.t("pub-disclosure-none"),
        Method::Suppress => cat.text(
            "pub-disclosure",
            &[
                ("hidden", Arg::Count(d.primary + d.secondary)),
                (
                    "cells",
                    Arg::Text(&cat.text("cells", &[("count", Arg::Count(d.cells))])),
                ),
                (
                    "share",
                    Arg::Text(&cat.lang().percent(d.hidden_share.unwrap_or(0.0))),
                ),
            ],
        ),
        Method::Round { base } => cat.text("pub-rounded", &[("base", Arg::Count(*base as u64))]),
        Method::Reliability => cat.text(
            "pub-survey",
            &[
                ("flagged", Arg::Count(d.flagged)),
                ("suppressed", Arg::Count(d.primary + d.secondary)),
            ],
        ),
        Method::None => cat.text(
            "pub-disclosure-off",
            &[("reason", Arg::Text(d.reason.as_deref().unwrap_or("")))],
        ),
        Method::Open => return None,
    })
}

fn revision_note(cat: &Catalogue, r: &TableRevision) -> String {
    cat.text(
        "pub-revised",
        &[
            ("run", Arg::Text(&r.previous_run_id)),
            ("revised", Arg::Count(r.cells_revised)),
            ("added", Arg::Count(r.cells_added)),
            ("removed", Arg::Count(r.cells_removed)),
            ("suppressed", Arg::Count(r.newly_suppressed)),
        ],
    )
}

/// Where the figures come from: each source's files and what validation kept.
fn sources(cat: &Catalogue, m: &Manifest) -> String {
    let mut s = format!(
        "<section id=\"sources\"><h2>{}</h2><ul>",
        esc(&cat.t("pub-sources"))
    );
    for src in &m.sources {
        let files = cat.text(
            "pub-files",
            &[("count", Arg::Count(src.files.len() as u64))],
        );
        let rejected = cat.text("rows", &[("count", Arg::Count(src.rows_rejected))]);
        let line = cat.text(
            "pub-source",
            &[
                ("source", Arg::Text(&src.name)),
                ("files", Arg::Text(&files)),
                ("valid", Arg::Count(src.rows_valid)),
                ("read", Arg::Count(src.rows_in)),
                ("rejected", Arg::Text(&rejected)),
            ],
        );
        let _ = write!(s, "<li>{}<ul>", esc(&line));
        for f in &src.files {
            let name = f
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let rows = cat.text("rows", &[("count", Arg::Count(f.rows))]);
            let sha = f.sha256.get(..16).unwrap_or(&f.sha256);
            let text = cat.text(
                "pub-file",
                &[
                    ("file", Arg::Text(&name)),
                    ("rows", Arg::Text(&rows)),
                    ("sha", Arg::Text(sha)),
                ],
            );
            let _ = write!(s, "<li>{}</li>", esc(&text));
        }
        s.push_str("</ul></li>");
    }
    s.push_str("</ul></section>\n");
    s
}
