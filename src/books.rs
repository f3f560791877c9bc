//! The books: what a run did, in numbers. These are the types of `manifest.json`, filled in by
//! the stages (ingest counts files, harmonize lists unmapped values, disclose says what it hid,
//! publish lists the files written) and read by `report`, which depends on nothing else.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::codelist::Suggestion;
use crate::vocab::{Encoding, Method, Status};

/// What was read from one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    /// The encoding the file was read as (after detection, for `auto`).
    pub encoding: Encoding,
    /// `gzip` when the file was compressed (and inflated as it was read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<&'static str>,
    /// Records read (rows, rejected ones included; the header is not one).
    pub rows: u64,
    /// Physical lines of the file, header and skipped lines included: more than `rows` + 1
    /// when quoted values hold line breaks (or a stray quote swallowed lines). For a
    /// spreadsheet, the row number of the table's last row.
    pub lines: u64,
    /// For a spreadsheet: the sheet read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// For a Stata or SPSS dataset: the value labels of its coded variables, as the file
    /// declares them (the report shows them beside the codes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub value_labels: Vec<LabelledVariable>,
}

/// A dataset variable's value labels: each code with its label.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LabelledVariable {
    pub variable: String,
    /// (code, label), in the file's order.
    pub labels: Vec<(String, String)>,
}

/// A record that runs over many lines of its file: almost always a quote opened by mistake,
/// which made every line up to the next quote one value.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct LongRecord {
    pub file: String,
    pub line: u64,
    pub lines: u64,
}

/// A raw value that no code list entry matched, for the run report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Unmapped {
    pub column: String,
    pub codelist: String,
    pub raw_value: String,
    pub rows: u64,
    /// The code it was given instead (`unknown = ...`, or the fuzzy match the pipeline allowed),
    /// or none when the rows were rejected.
    pub given: Option<String>,
    /// The closest known spellings, for the statistician to accept under `[harmonize.extra]`.
    pub suggestions: Vec<Suggestion>,
}

/// One file written, as the manifest lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// What the attacker audit checked: the system of every table counting the same thing from the
/// same source, solved for each sensitive cell as an attacker with an LP solver would.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditSummary {
    /// The tables audited together with this one (same source, filter and measure).
    pub system: Vec<String>,
    /// Equations an attacker can write between the system's cells.
    pub equations: u64,
    /// Sensitive cells of the system.
    pub sensitive_cells: u64,
    /// Sensitive cells the audit could not prove protected: an attacker may narrow them below
    /// their requirement (the audit file says which and how far the audit got).
    pub unproved: u64,
    /// Linear programs solved for the audit.
    pub programs: u64,
}

/// What disclosure control did to one table, for the manifest and the report.
#[derive(Debug, Clone, Serialize)]
pub struct DisclosureBooks {
    pub table: String,
    pub method: Method,
    pub cells: u64,
    /// Cells sensitive (`C`) by a rule of this table or, for a cell it shares with a linked
    /// table, by that table's rules: the same cell is `C` whichever table it is read from.
    pub primary: u64,
    /// Cells hidden to protect others, here or in a linked table (`D`).
    pub secondary: u64,
    /// Cells whose published value differs from the computed one (rounding).
    pub rounded: u64,
    /// Survey estimates published with the `E` flag (use with caution); those suppressed as
    /// too unreliable (`F`) count as primary.
    pub flagged: u64,
    /// Tables sharing cells (and so suppressions) with this one.
    pub linked: Vec<String>,
    pub audit: Option<AuditSummary>,
    /// Information loss: the share of the table's inner cells' total held by hidden cells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How many rows one rule rejected in one column.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub rule: String,
    pub column: String,
    pub rows: u64,
}

/// The books of one source: where its rows went.
#[derive(Debug, Clone, Serialize)]
pub struct SourceBooks {
    pub name: String,
    pub schema: String,
    pub files: Vec<FileInfo>,
    pub rows_in: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
    /// `rows_in == rows_valid + rows_rejected`, checked on every run.
    pub conserved: bool,
    /// Records spanning many lines (probable stray quotes), and the lines they swallowed
    /// beyond their first: `max_rejected` counts those lines as rejected rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub long_records: Vec<LongRecord>,
    pub swallowed_lines: u64,
    pub failures: Vec<Failure>,
    /// Distinct raw values found in no code list, and the rows that had them.
    pub unmapped_values: u64,
    pub unmapped_rows: u64,
    /// The values themselves: raw input, so only in the restricted books.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmapped: Vec<Unmapped>,
}

/// How one table differs from the same table of the previous release.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableRevision {
    pub table: String,
    pub previous_run_id: String,
    /// Cells (coordinates) that are new, gone, or whose figures changed (a cell hidden or
    /// shown again counts as changed).
    pub cells_added: u64,
    pub cells_removed: u64,
    pub cells_revised: u64,
    /// Changes of the suppression pattern.
    pub newly_suppressed: u64,
    pub newly_published: u64,
    /// The largest changes of the first measure among cells published in both.
    pub largest: Vec<Revision>,
}

/// One cell's figure before and after.
#[derive(Debug, Clone, Serialize)]
pub struct Revision {
    pub cell: String,
    pub before: f64,
    pub after: f64,
}

impl Manifest {
    /// The books as the publishable folder shows them: no raw value from an input file, only
    /// how many values were unmapped (the restricted books list them).
    pub fn public(&self) -> Manifest {
        let mut m = self.clone();
        for s in &mut m.sources {
            s.unmapped.clear();
        }
        m
    }
}

impl SourceBooks {
    /// The share of rows rejected, counting the lines a long record swallowed as rows lost.
    pub fn rejected_share(&self) -> f64 {
        let lost = self.rows_rejected + self.swallowed_lines;
        if self.rows_in == 0 {
            0.0
        } else {
            lost as f64 / (self.rows_in + self.swallowed_lines) as f64
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TableBooks {
    pub name: String,
    pub title: Option<String>,
    pub source: String,
    pub rows: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputBooks {
    pub name: String,
    pub dir: String,
    pub files: Vec<Written>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineRef {
    pub name: String,
    pub title: Option<String>,
    pub path: String,
    pub sha256: String,
}

/// Everything a run did, written as `manifest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub marsad_version: String,
    pub run_id: String,
    pub command: String,
    /// `published`, `validated`, or `rejected` (more rejections than `max_rejected`).
    pub status: Status,
    pub started_at: String,
    pub pipeline: PipelineRef,
    pub max_rejected: f64,
    pub sources: Vec<SourceBooks>,
    pub tables: Vec<TableBooks>,
    pub outputs: Vec<OutputBooks>,
    /// What disclosure control did to each table.
    pub disclosure: Vec<DisclosureBooks>,
    /// How the published tables differ from the previous release's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<TableRevision>,
    pub timings_ms: BTreeMap<String, u64>,
}

/// What `marsad validate --schema` found in one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    pub file: String,
    pub schema: String,
    /// The file is acceptable: its header matches, no row was rejected and no quoted value
    /// swallowed many lines.
    pub valid: bool,
    pub books: SourceBooks,
    /// Every rejection: line, column, raw value, rule, message.
    pub errors: Vec<serde_json::Value>,
    /// The provider's report as an HTML page, when one was asked for.
    #[serde(skip)]
    pub html: Option<String>,
}
