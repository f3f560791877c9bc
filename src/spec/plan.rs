//! The resolved plan: what every stage consumes. Names are checked, files found, schemas and
//! code lists loaded, expressions and patterns compiled; nothing here is text still to be read.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::Expr;
use regex::Regex;

use super::raw::PackageSpec;
use crate::codelist::{AgeScheme, CodeList, RegionLevel};
pub use crate::lang::Lang;
use crate::schema::TableSchema;
use crate::survey::LonelyPsu;
use crate::vocab::{keywords, Encoding};

/// How a CSV file is written, as the plan (or `marsad validate --schema`) reads it.
#[derive(Debug, Clone)]
pub struct Dialect {
    pub delimiter: u8,
    pub quote: u8,
    pub header: bool,
    pub skip_lines: usize,
    pub encoding: Encoding,
    pub decimal_comma: bool,
    pub null_markers: Vec<String>,
    /// Which sheet of a spreadsheet, and where on it the table is.
    pub sheet: SheetChoice,
    /// A Stata or SPSS dataset's labelled values are read as their labels, not their codes.
    pub value_labels: bool,
}

impl Default for Dialect {
    /// A comma-separated file with a header, in an encoding found out as it is read.
    fn default() -> Self {
        Dialect {
            delimiter: b',',
            quote: b'"',
            header: true,
            skip_lines: 0,
            encoding: Encoding::Auto,
            decimal_comma: false,
            null_markers: Vec::new(),
            sheet: SheetChoice::default(),
            value_labels: false,
        }
    }
}

/// The sheet of a spreadsheet source (the first by default) and its table's place on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SheetChoice {
    pub name: Option<String>,
    /// From 1, as Table Dialect's `sheetNumber`.
    pub number: Option<usize>,
    /// 0-based (row, column) corners of `cell_range`.
    pub range: Option<CellRange>,
    /// The spreadsheet row (from 1) of the column names, when given.
    pub header_row: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellRange {
    pub start: (u32, u32),
    pub end: (u32, u32),
}

#[derive(Debug, Clone)]
pub enum DeriveKind {
    Expr(Expr),
    AgeGroup {
        age: String,
        scheme: AgeScheme,
    },
    Region {
        country: String,
        level: RegionLevel,
        /// The country list the codes are read from, loaded once for the whole run.
        countries: Arc<CodeList>,
    },
}

#[derive(Debug, Clone)]
pub struct DerivePlan {
    pub name: String,
    pub kind: DeriveKind,
}

#[derive(Debug, Clone)]
pub struct CheckPlan {
    pub name: String,
    pub expr: Expr,
    pub text: String,
    pub message: String,
    /// Columns the rule reads, reported as the column of a failure.
    pub columns: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct UnpivotPlan {
    pub columns: Vec<String>,
    /// Compiled once when the pipeline is read; its named groups are `groups`.
    pub pattern: Regex,
    pub groups: Vec<String>,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct HarmonizePlan {
    pub column: String,
    pub into: String,
    pub codelist: Arc<CodeList>,
    /// What the codes are, which decides how tables treat a dimension made of them.
    pub role: Role,
    pub unknown: Option<String>,
    pub missing: String,
    /// Write this attribute of the code instead of the code (country: `alpha2`, `numeric`).
    pub output: Option<&'static str>,
    pub fuzzy: Option<usize>,
}

/// What a harmonized column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// SDMX `CL_SEX` codes: tables by it get `F`, `M`, `_U` rows and `_T = F + M + _U`.
    Sex,
    /// ISO 3166 country codes, which roll up to regions.
    Country,
    /// Any other classification.
    Other,
}

#[derive(Debug, Clone)]
pub struct SourcePlan {
    pub name: String,
    pub files: Vec<PathBuf>,
    pub schema: TableSchema,
    pub dialect: Dialect,
    /// Derived columns and checks that read only the file's own columns run before the
    /// reshaping and code mapping; those that read harmonized columns run after.
    pub derives: Vec<DerivePlan>,
    pub checks: Vec<CheckPlan>,
    pub unpivot: Option<UnpivotPlan>,
    pub harmonize: Vec<HarmonizePlan>,
    pub late_derives: Vec<DerivePlan>,
    pub late_checks: Vec<CheckPlan>,
    /// Columns of the source once every stage has run.
    pub columns: Vec<String>,
    pub design: Option<DesignPlan>,
    /// Columns read as numbers by a table's measure or the survey design: a row where one is
    /// NaN or infinite is rejected (rule `finite`), so no table sums a non-finite value.
    pub finite: Vec<String>,
    /// The fields other sources' `foreignKeys` reference in this one: their values among the
    /// valid rows are collected as the source is read.
    pub referenced: Vec<Vec<String>>,
    /// `foreignKeys` whose resource is a code list (an embedded one, or a CSV file): the
    /// resource, its field (`code`) and the codes, known before any row is read.
    pub code_list_keys: Vec<(String, Vec<String>, Vec<String>)>,
}

#[derive(Debug, Clone)]
pub struct DesignPlan {
    pub weight: String,
    pub strata: Option<String>,
    pub psu: Option<String>,
    pub fpc: Option<String>,
    pub lonely_psu: LonelyPsu,
}

/// What a measure computes for each cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    Count,
    Sum,
    WeightedCount,
}

#[derive(Debug, Clone)]
pub struct MeasurePlan {
    pub name: String,
    pub agg: Aggregate,
    pub column: Option<String>,
    pub unit: String,
}

#[derive(Debug, Clone)]
pub struct TablePlan {
    pub name: String,
    pub title: Option<String>,
    /// Notes for readers, as the pipeline gives them.
    pub notes: Option<String>,
    pub source: String,
    pub dimensions: Vec<String>,
    /// The dimension holding SDMX CL_SEX codes, if the table has one.
    pub sex: Option<String>,
    pub totals: Vec<String>,
    pub measures: Vec<MeasurePlan>,
    pub filter: Option<Filter>,
    /// The code list each dimension's codes come from, where marsad knows it (for labels).
    pub codelists: BTreeMap<String, Arc<CodeList>>,
    pub sdmx: SdmxTable,
    pub disclosure: Disclosure,
    /// Survey tables: the dimension whose shares are estimated.
    pub share_of: Option<String>,
}

/// The rows a table counts: a SQL condition, compiled.
#[derive(Debug, Clone)]
pub struct Filter {
    pub expr: Expr,
    /// As written in the pipeline file, for people.
    pub text: String,
}

impl PartialEq for Filter {
    /// Two filters select the same rows when their expressions are the same expression
    /// (however they were spelled); that is what makes two tables linked.
    fn eq(&self, other: &Filter) -> bool {
        self.expr == other.expr
    }
}

impl TablePlan {
    /// Whether dimension `d` gets a total (`_T`): the sex dimension always does.
    pub fn has_total(&self, d: &str) -> bool {
        self.sex.as_deref() == Some(d) || self.totals.iter().any(|t| t == d)
    }
}

/// How a table is protected before it is published.
#[derive(Debug, Clone, PartialEq)]
pub enum Disclosure {
    /// Primary suppression by the rules, then secondary suppression and the audit.
    Suppress {
        threshold: u64,
        zeros: bool,
        dominance: Option<(u8, f64)>,
        p_percent: Option<f64>,
    },
    /// Random rounding of every cell to a multiple of `base`.
    Round { base: u32, seed: u64 },
    /// Survey estimates: sampling protects the respondents, so cells are flagged or suppressed
    /// for reliability (Statistics Canada's rule by default) rather than for confidentiality.
    Reliability {
        cv_publish: f64,
        cv_suppress: f64,
        min_respondents: u64,
    },
    /// Published as computed, for the stated reason.
    None { reason: String },
}

/// Default threshold: "some agencies require at least five respondents" (OECD glossary).
pub const DEFAULT_THRESHOLD: u64 = 5;

impl Default for Disclosure {
    fn default() -> Self {
        Disclosure::Suppress {
            threshold: DEFAULT_THRESHOLD,
            zeros: false,
            dominance: None,
            p_percent: None,
        }
    }
}

/// Where a table's SDMX time period comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum TimePeriod {
    Dimension(String),
    Fixed(String),
    None,
}

#[derive(Debug, Clone)]
pub struct SdmxTable {
    pub dataflow: String,
    pub time: TimePeriod,
    /// SDMX concept id of each dimension, in the table's order.
    pub concepts: BTreeMap<String, String>,
}

keywords! {
    /// The file formats an output writes its tables in.
    pub enum Format as "format" {
        /// `tables/<table>.parquet` (the default).
        Parquet = "parquet",
        /// `sdmx/<table>.sdmx1.csv`, with the SDMX-ML structures in `sdmx/structure.xml`.
        SdmxCsv10 = "sdmx-csv-1.0",
        /// `sdmx/<table>.sdmx2.csv`, with the SDMX-ML structures in `sdmx/structure.xml`.
        SdmxCsv20 = "sdmx-csv-2.0",
    }
}

/// Agency and version of the SDMX structures.
#[derive(Debug, Clone)]
pub struct SdmxAgency {
    pub agency: String,
    pub version: String,
}

#[derive(Debug, Clone)]
pub struct OutputPlan {
    pub name: String,
    pub dir: PathBuf,
    pub tables: Vec<String>,
    pub quarantine: bool,
    /// Releases kept in `<dir>.releases/` (at least 1).
    pub keep_releases: usize,
    pub formats: Vec<Format>,
    pub partition_by: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub title: Option<String>,
    pub path: PathBuf,
    pub sha256: String,
    pub max_rejected: f64,
    /// The language of the HTML reports.
    pub lang: Lang,
    /// Whether `--lang` chose it (then it is part of the run id: another language is another
    /// release).
    pub lang_overridden: bool,
    pub sources: Vec<SourcePlan>,
    pub tables: Vec<TablePlan>,
    pub outputs: Vec<OutputPlan>,
    pub package: PackageSpec,
    pub sdmx: Option<SdmxAgency>,
    /// `--output DIR` of a pipeline with several outputs: the folder holding them, which must
    /// be marsad's too.
    pub output_root: Option<PathBuf>,
    /// The pipeline's own code list files (CSV) with their SHA-256 when read: part of the run id.
    pub code_list_files: Vec<(PathBuf, String)>,
}

impl Plan {
    pub fn source(&self, name: &str) -> Option<&SourcePlan> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// Default for `max_rejected`: a source may lose up to 5% of its rows to the quarantine.
pub const DEFAULT_MAX_REJECTED: f64 = 0.05;

/// Default for `keep_releases`: an output keeps its last five releases.
pub const DEFAULT_KEEP_RELEASES: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(sql: &str) -> Filter {
        Filter {
            expr: polars::sql::sql_expr(sql).unwrap(),
            text: sql.into(),
        }
    }

    /// Linked tables share suppressions, so "same filter" must mean the same rows. Comparing
    /// the expressions' printed forms, as marsad once did, took two long lists that differ
    /// only past the printer's cut for the same filter.
    #[test]
    fn filters_are_the_same_when_their_expressions_are() {
        let list = |last: &str| {
            let codes: Vec<String> = (0..40).map(|i| format!("'C{i:02}'")).collect();
            format!("nat IN ({}, '{last}')", codes.join(", "))
        };
        let (a, b) = (filter(&list("MAR")), filter(&list("DZA")));
        assert_eq!(format!("{:?}", a.expr), format!("{:?}", b.expr));
        assert_ne!(a, b);
        assert_eq!(filter("region <> 'X'"), filter("region  <>  'X'"));
        assert_ne!(filter("region <> 'X'"), filter("region <> 'Y'"));
    }
}
