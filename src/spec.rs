//! The pipeline file: what the user wrote (`PipelineSpec`, with source spans), resolved once into
//! a checked `Plan` before any data is read.
//!
//! Every later stage consumes the plan and never meets an unchecked name: a misspelt column, an
//! unknown code list or a missing file is reported here, pointing at the line of the TOML file.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use polars::prelude::Expr;
use serde::Deserialize;
use toml::Spanned;

use crate::codelist::{self, AgeScheme, CodeList, CountryOutput, Crosswalk, RegionLevel};
use crate::error::{line_col, Error, Result};
use crate::schema::TableSchema;
pub use crate::vocab::Encoding;

// ---------------------------------------------------------------------------------------------
// What the user wrote
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    pub name: Spanned<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Largest share of rows (0..1) a source may lose to the quarantine before the run fails.
    pub max_rejected: Option<Spanned<f64>>,
    #[serde(rename = "source", default)]
    pub sources: Vec<SourceSpec>,
    #[serde(rename = "derive", default)]
    pub derives: Vec<DeriveSpec>,
    #[serde(rename = "check", default)]
    pub checks: Vec<CheckSpec>,
    #[serde(rename = "unpivot", default)]
    pub unpivots: Vec<UnpivotSpec>,
    #[serde(rename = "harmonize", default)]
    pub harmonizations: Vec<HarmonizeSpec>,
    #[serde(rename = "table", default)]
    pub tables: Vec<TableSpec>,
    #[serde(rename = "output", default)]
    pub outputs: Vec<OutputSpec>,
    /// Licence and sources, written into each output's `datapackage.json`.
    #[serde(default)]
    pub package: PackageSpec,
    /// Agency and version of the SDMX structures; needed by the SDMX-CSV formats.
    pub sdmx: Option<SdmxSpec>,
    /// Disclosure control for every table (a table's own `[table.disclosure]` overrides it).
    pub disclosure: Option<DisclosureSpec>,
    /// Reliability rule for every survey table (a table's own `[table.reliability]` overrides it).
    pub reliability: Option<ReliabilitySpec>,
}

/// How a table is protected before publication; every field may be left to the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureSpec {
    /// `suppress` (default), `round` or `none`.
    pub method: Option<Spanned<String>>,
    /// Threshold rule: a cell with 1..threshold-1 contributing records is sensitive (default 5).
    pub threshold: Option<Spanned<u64>>,
    /// Treat empty cells as sensitive too (default false).
    pub zeros_sensitive: Option<bool>,
    /// (n,k) dominance rule for `sum` measures, e.g. `{ n = 2, k = 85 }`.
    pub dominance: Option<Spanned<DominanceSpec>>,
    /// p% rule for `sum` measures, e.g. `10`.
    pub p_percent: Option<Spanned<f64>>,
    /// Random rounding base (default 3).
    pub base: Option<Spanned<u32>>,
    /// Seed of the random rounding, so reruns round the same way (default 0).
    pub seed: Option<u64>,
    /// Why a table is published without protection (required with `method = "none"`).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DominanceSpec {
    pub n: u8,
    pub k: f64,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    pub license: Option<LicenseSpec>,
    #[serde(default)]
    pub sources: Vec<CitationSpec>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseSpec {
    /// An Open Definition / SPDX identifier such as `CC-BY-4.0`.
    pub name: String,
    pub path: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CitationSpec {
    pub title: String,
    pub path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdmxSpec {
    /// The maintenance agency of the structures, e.g. `MA_ONM`.
    pub agency: Spanned<String>,
    /// Version of the structures (default `1.0`).
    pub version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub name: Spanned<String>,
    /// A file, or a glob such as `exports/permis_*.csv`; relative to the pipeline file.
    pub path: Spanned<String>,
    pub schema: Spanned<String>,
    #[serde(default)]
    pub dialect: DialectSpec,
    /// The sampling design, for survey microdata with weights.
    pub design: Option<DesignSpec>,
}

/// A survey's sampling design, as R's `svydesign(ids, strata, weights, fpc)` takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesignSpec {
    /// The sampling weight column.
    pub weight: Spanned<String>,
    /// Stratum column (none: one stratum).
    pub strata: Option<Spanned<String>>,
    /// Primary sampling unit (cluster) column, nested in strata (none: every respondent).
    pub psu: Option<Spanned<String>>,
    /// Finite population correction column: the population's number of PSUs in the stratum,
    /// or the sampling fraction.
    pub fpc: Option<Spanned<String>>,
    /// Strata with a single PSU: `fail` (default), `remove`, `certainty`, `adjust` (`centre`),
    /// `average`, as R's `options(survey.lonely.psu)`.
    pub lonely_psu: Option<Spanned<String>>,
}

/// When a survey estimate is published, flagged or suppressed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReliabilitySpec {
    /// Largest coefficient of variation (%) published without a flag (default 16.5).
    pub cv_publish: Option<f64>,
    /// Largest CV (%) published, flagged `E`; above it the estimate is suppressed (default 33.3).
    pub cv_suppress: Option<f64>,
    /// Fewest respondents behind a published estimate (default 10).
    pub min_respondents: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialectSpec {
    pub delimiter: Spanned<String>,
    pub quote: Spanned<String>,
    /// Whether the first line after `skip_lines` holds the column names.
    pub header: bool,
    /// Lines before the header (titles, extraction dates) that are not part of the table.
    pub skip_lines: usize,
    pub encoding: Encoding,
    /// Numbers are written `1,5`: applies to every number field without its own `decimalChar`.
    pub decimal_comma: bool,
    /// Extra strings meaning "no value", added to the schema's `missingValues`.
    pub null_markers: Vec<String>,
}

impl Default for DialectSpec {
    fn default() -> Self {
        DialectSpec {
            delimiter: Spanned::new(0..0, ",".into()),
            quote: Spanned::new(0..0, "\"".into()),
            header: true,
            skip_lines: 0,
            encoding: Encoding::Auto,
            decimal_comma: false,
            null_markers: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeriveSpec {
    pub source: Spanned<String>,
    pub name: Spanned<String>,
    /// A SQL expression over the source's columns, e.g. `EXTRACT(YEAR FROM issued) - birth_year`.
    pub expr: Option<Spanned<String>>,
    /// Build an age group from this (integer age) column instead of an expression.
    pub age_group_of: Option<Spanned<String>>,
    /// Roll this harmonized country column (ISO alpha-3) up to a region.
    pub region_of: Option<Spanned<String>>,
    /// For `age_group_of`: `five-year`, `broad` or `unhcr`; for `region_of`: `au`,
    /// `m49-region`, `m49-subregion` or `m49-intermediate`.
    pub scheme: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub source: Spanned<String>,
    pub name: Spanned<String>,
    /// A SQL boolean expression every row must satisfy; a row where it is false is rejected.
    pub expr: Spanned<String>,
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnpivotSpec {
    pub source: Spanned<String>,
    pub columns: Spanned<Vec<String>>,
    /// A regular expression with named groups matched against each column name; each group
    /// becomes a column (e.g. `^(?P<sex>[fm])_(?P<age_band>.+)$`).
    pub pattern: Spanned<String>,
    /// Name of the column that receives the cell values.
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarmonizeSpec {
    pub source: Spanned<String>,
    pub column: Spanned<String>,
    /// `sex`, `country`, `none` (extra mappings only) or a CSV file `code,label,synonyms`.
    pub codelist: Spanned<String>,
    /// The new column holding the standard codes.
    pub into: Spanned<String>,
    /// Code given to values that map to nothing; without it such rows are rejected.
    pub unknown: Option<String>,
    /// Code given to missing values (default `_U`, unknown).
    pub missing: Option<String>,
    /// The pipeline's own spellings: raw value = code.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
    /// Country lists only: how the raw codes are written (`iso3`, `iso2`, `m49-numeric`,
    /// `unhcr`, `undesa`).
    pub crosswalk: Option<Spanned<String>>,
    /// Country lists only: the code system written (`iso3`, `iso2`, `m49-numeric`).
    pub output: Option<Spanned<String>>,
    /// Accept the closest known spelling within this edit distance for values that match
    /// nothing. Off by default: marsad suggests, it does not guess.
    pub fuzzy: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub name: Spanned<String>,
    pub source: Spanned<String>,
    pub title: Option<String>,
    pub dimensions: Vec<Spanned<String>>,
    pub measures: Vec<MeasureSpec>,
    /// Dimensions that get a `_T` total; sex always gets one.
    #[serde(default)]
    pub totals: Vec<Spanned<String>>,
    /// A SQL boolean expression selecting the rows this table counts.
    pub filter: Option<Spanned<String>>,
    /// How the table is written as SDMX.
    pub sdmx: Option<TableSdmxSpec>,
    /// Disclosure control for this table, field by field over the pipeline's `[disclosure]`.
    pub disclosure: Option<DisclosureSpec>,
    /// Survey tables: also estimate each cell's share of this dimension's total.
    pub share_of: Option<Spanned<String>>,
    /// Survey tables: the reliability rule, field by field over the pipeline's.
    pub reliability: Option<ReliabilitySpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSdmxSpec {
    /// Dataflow id (default `DF_` + the table name in capitals).
    pub dataflow: Option<Spanned<String>>,
    /// The dimension holding the time period (a year).
    pub time: Option<Spanned<String>>,
    /// A fixed time period for tables without a time dimension (e.g. `2024`).
    pub time_period: Option<String>,
    /// SDMX concept ids for the dimensions (default: the column name in capitals).
    #[serde(default)]
    pub concepts: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    Count,
    Sum,
    WeightedCount,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureSpec {
    pub name: Spanned<String>,
    pub agg: Aggregate,
    pub column: Option<Spanned<String>>,
    pub weight: Option<Spanned<String>>,
    /// SDMX UNIT_MEASURE code (default `PS`, persons, for counts; `_Z` otherwise).
    pub unit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub name: Option<String>,
    /// Folder for this dataset, relative to the pipeline file.
    pub dir: Spanned<String>,
    /// Tables to publish here (default: all).
    pub tables: Option<Vec<Spanned<String>>>,
    /// Write the quarantine (rejected rows with reasons) here too.
    #[serde(default = "yes")]
    pub quarantine: bool,
    /// `parquet` (default), `sdmx-csv-1.0`, `sdmx-csv-2.0`.
    pub formats: Option<Vec<Spanned<String>>>,
    /// Write each table that has these dimensions as a Hive-partitioned dataset
    /// (`tables/<name>/year=2023/part-0.parquet`).
    #[serde(default)]
    pub partition_by: Vec<Spanned<String>>,
}

fn yes() -> bool {
    true
}

// ---------------------------------------------------------------------------------------------
// The resolved plan
// ---------------------------------------------------------------------------------------------

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
}

#[derive(Debug, Clone)]
pub enum DeriveKind {
    Expr(Expr),
    AgeGroup { age: String, scheme: AgeScheme },
    Region { country: String, level: RegionLevel },
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
    pub pattern: String,
    pub groups: Vec<String>,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct HarmonizePlan {
    pub column: String,
    pub into: String,
    pub codelist: CodeList,
    pub unknown: Option<String>,
    pub missing: String,
    /// Write this attribute of the code instead of the code (country: `alpha2`, `numeric`).
    pub output: Option<&'static str>,
    pub fuzzy: Option<usize>,
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
}

#[derive(Debug, Clone)]
pub struct DesignPlan {
    pub weight: String,
    pub strata: Option<String>,
    pub psu: Option<String>,
    pub fpc: Option<String>,
    pub lonely_psu: crate::survey::LonelyPsu,
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
    pub source: String,
    pub dimensions: Vec<String>,
    /// The dimension holding SDMX CL_SEX codes, if the table has one.
    pub sex: Option<String>,
    pub totals: Vec<String>,
    pub measures: Vec<MeasurePlan>,
    pub filter: Option<Expr>,
    /// The code list each dimension's codes come from, where marsad knows it (for labels).
    pub codelists: BTreeMap<String, CodeList>,
    pub sdmx: SdmxTable,
    pub disclosure: Disclosure,
    /// Survey tables: the dimension whose shares are estimated.
    pub share_of: Option<String>,
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

/// A respondent without a usable weight, stratum, PSU or fpc cannot enter the estimates: such
/// rows go to the quarantine with their file and line, through the same checks as the
/// pipeline's own `[[check]]` rules, instead of failing the whole run.
fn design_checks(d: &DesignPlan) -> Vec<CheckPlan> {
    use polars::prelude::{col, lit, DataType};
    // A value that is not a number reads as empty, and fails.
    let positive = |c: &str, what: &str| CheckPlan {
        name: format!("design_{c}"),
        expr: col(c)
            .cast(DataType::Float64)
            .is_not_null()
            .and(col(c).cast(DataType::Float64).gt(lit(0.0))),
        text: format!("{c} > 0"),
        message: format!("the {what} must be a positive number"),
        columns: vec![c.to_string()],
    };
    let present = |c: &str, what: &str| CheckPlan {
        name: format!("design_{c}"),
        expr: col(c).is_not_null(),
        text: format!("{c} IS NOT NULL"),
        message: format!("the {what} is missing"),
        columns: vec![c.to_string()],
    };
    let mut out = vec![positive(&d.weight, "sampling weight")];
    if let Some(c) = &d.strata {
        out.push(present(c, "stratum"));
    }
    if let Some(c) = &d.psu {
        out.push(present(c, "primary sampling unit"));
    }
    if let Some(c) = &d.fpc {
        out.push(positive(c, "finite population correction"));
    }
    out
}

/// Statistics Canada's release rule for survey estimates: CV up to 16.5% published, up to
/// 33.3% flagged E (use with caution), above suppressed F; and at least 10 respondents.
fn reliability(pipeline: Option<&ReliabilitySpec>, table: Option<&ReliabilitySpec>) -> Disclosure {
    let empty = ReliabilitySpec::default();
    let (p, t) = (pipeline.unwrap_or(&empty), table.unwrap_or(&empty));
    Disclosure::Reliability {
        cv_publish: t.cv_publish.or(p.cv_publish).unwrap_or(16.5),
        cv_suppress: t.cv_suppress.or(p.cv_suppress).unwrap_or(33.3),
        min_respondents: t.min_respondents.or(p.min_respondents).unwrap_or(10),
    }
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

/// The file formats an output writes its tables in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    SdmxCsv10,
    SdmxCsv20,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &["parquet", "sdmx-csv-1.0", "sdmx-csv-2.0"];

    fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "parquet" => Format::Parquet,
            "sdmx-csv-1.0" => Format::SdmxCsv10,
            "sdmx-csv-2.0" => Format::SdmxCsv20,
            _ => return None,
        })
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
    pub sources: Vec<SourcePlan>,
    pub tables: Vec<TablePlan>,
    pub outputs: Vec<OutputPlan>,
    pub package: PackageSpec,
    pub sdmx: Option<SdmxAgency>,
}

/// Options from the command line that change the plan, not the pipeline file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--input NAME=PATH`: this month's file for a source.
    pub inputs: Vec<(String, PathBuf)>,
    /// `--output DIR`: where the datasets go.
    pub output: Option<PathBuf>,
}

impl Plan {
    pub fn source(&self, name: &str) -> Option<&SourcePlan> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// Default for `max_rejected`: a source may lose up to 5% of its rows to the quarantine.
pub const DEFAULT_MAX_REJECTED: f64 = 0.05;

/// Read, parse and resolve a pipeline file.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Plan> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|e| Error::Config {
        file: path.to_path_buf(),
        line: line_col(
            &String::from_utf8_lossy(&bytes),
            e.utf8_error().valid_up_to(),
        )
        .0,
        column: 1,
        message: "the pipeline file is not valid UTF-8; save it as UTF-8".into(),
    })?;
    let spec: PipelineSpec = toml::from_str(&text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(&text, s.start));
        Error::Config {
            file: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })?;
    Resolver {
        path,
        text: &text,
        base: path.parent().unwrap_or(Path::new(".")),
    }
    .resolve(spec, crate::sha256_hex(&bytes), overrides)
}

/// SDMX ids: a letter, then letters, digits and underscores.
fn sdmx_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A column or table name as an SDMX id: capitals, anything else an underscore.
fn sdmx_upper(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id
    } else {
        format!("D_{id}")
    }
}

/// `pipelines/../out` -> `out`: paths in reports and manifests read as a person would write them.
fn clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

struct Resolver<'a> {
    path: &'a Path,
    text: &'a str,
    base: &'a Path,
}

impl Resolver<'_> {
    fn err<T>(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> Result<T> {
        let (line, column) = line_col(self.text, span.start);
        Err(Error::Config {
            file: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        })
    }

    fn resolve(&self, spec: PipelineSpec, sha256: String, overrides: &Overrides) -> Result<Plan> {
        let max_rejected = match &spec.max_rejected {
            None => DEFAULT_MAX_REJECTED,
            Some(m) if (0.0..=1.0).contains(m.get_ref()) => *m.get_ref(),
            Some(m) => {
                return self.err(
                    m.span(),
                    format!(
                        "max_rejected is a share between 0 and 1 (0.05 = 5%), not {}",
                        m.get_ref()
                    ),
                )
            }
        };
        if spec.sources.is_empty() {
            return self.err(0..0, "the pipeline has no [[source]]; declare at least one");
        }
        for (name, _) in &overrides.inputs {
            if !spec.sources.iter().any(|s| s.name.get_ref() == name) {
                let known: Vec<_> = spec
                    .sources
                    .iter()
                    .map(|s| s.name.get_ref().as_str())
                    .collect();
                return Err(Error::Config {
                    file: self.path.to_path_buf(),
                    line: 1,
                    column: 1,
                    message: format!(
                        "--input names the source `{name}`, which the pipeline does not declare (sources: {})",
                        known.join(", ")
                    ),
                });
            }
        }

        let mut sources: Vec<SourcePlan> = Vec::new();
        for s in &spec.sources {
            if sources.iter().any(|p| p.name == *s.name.get_ref()) {
                return self.err(
                    s.name.span(),
                    format!("the source `{}` is declared twice", s.name.get_ref()),
                );
            }
            sources.push(self.source(s, &spec, overrides)?);
        }
        for stage in spec
            .derives
            .iter()
            .map(|d| &d.source)
            .chain(spec.checks.iter().map(|c| &c.source))
            .chain(spec.unpivots.iter().map(|u| &u.source))
            .chain(spec.harmonizations.iter().map(|h| &h.source))
        {
            self.known_source(&sources, stage)?;
        }

        let mut tables: Vec<TablePlan> = Vec::new();
        for t in &spec.tables {
            if tables.iter().any(|p| p.name == *t.name.get_ref()) {
                return self.err(
                    t.name.span(),
                    format!("the table `{}` is declared twice", t.name.get_ref()),
                );
            }
            tables.push(self.table(t, &sources, &spec)?);
        }

        let outputs = self.outputs(&spec, &tables, overrides)?;
        let sdmx = match &spec.sdmx {
            None => None,
            Some(x) if sdmx_id(x.agency.get_ref()) => Some(SdmxAgency {
                agency: x.agency.get_ref().clone(),
                version: x.version.clone().unwrap_or_else(|| "1.0".into()),
            }),
            Some(x) => {
                return self.err(
                    x.agency.span(),
                    format!(
                        "`{}` is not an SDMX agency id (letters, digits, _)",
                        x.agency.get_ref()
                    ),
                )
            }
        };
        Ok(Plan {
            name: spec.name.get_ref().clone(),
            title: spec.title.clone(),
            path: self.path.to_path_buf(),
            sha256,
            max_rejected,
            sources,
            tables,
            outputs,
            package: spec.package.clone(),
            sdmx,
        })
    }

    fn known_source<'p>(
        &self,
        sources: &'p [SourcePlan],
        name: &Spanned<String>,
    ) -> Result<&'p SourcePlan> {
        sources
            .iter()
            .find(|s| s.name == *name.get_ref())
            .map_or_else(
                || {
                    let known: Vec<_> = sources.iter().map(|s| s.name.as_str()).collect();
                    self.err(
                        name.span(),
                        format!(
                            "no [[source]] is named `{}` (sources: {})",
                            name.get_ref(),
                            known.join(", ")
                        ),
                    )
                },
                Ok,
            )
    }

    fn column_exists(
        &self,
        columns: &[String],
        name: &Spanned<String>,
        context: &str,
    ) -> Result<()> {
        if columns.iter().any(|c| c == name.get_ref()) {
            return Ok(());
        }
        self.err(
            name.span(),
            format!(
                "{context}: no column `{}` at this point (columns: {})",
                name.get_ref(),
                columns.join(", ")
            ),
        )
    }

    fn sql(
        &self,
        columns: &[String],
        text: &Spanned<String>,
        context: &str,
    ) -> Result<(Expr, Vec<String>)> {
        let expr = match polars::sql::sql_expr(text.get_ref()) {
            Ok(e) => e,
            Err(e) => {
                return self.err(
                    text.span(),
                    format!(
                        "{context}: `{}` is not a valid SQL expression: {e}",
                        text.get_ref()
                    ),
                )
            }
        };
        let mut used = Vec::new();
        for root in expr.clone().meta().root_names() {
            let root = root.to_string();
            if !columns.contains(&root) {
                return self.err(
                    text.span(),
                    format!(
                        "{context}: the expression uses `{root}`, which is not a column at this point (columns: {})",
                        columns.join(", ")
                    ),
                );
            }
            if !used.contains(&root) {
                used.push(root);
            }
        }
        Ok((expr, used))
    }

    fn file(&self, raw: &str) -> PathBuf {
        let p = Path::new(raw);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            clean(&self.base.join(p))
        }
    }

    fn source(
        &self,
        s: &SourceSpec,
        spec: &PipelineSpec,
        overrides: &Overrides,
    ) -> Result<SourcePlan> {
        let name = s.name.get_ref().clone();
        if name.trim().is_empty() {
            return self.err(s.name.span(), "a source needs a name");
        }
        let schema_path = self.file(s.schema.get_ref());
        let schema = TableSchema::load(&schema_path)?;

        let files = match overrides.inputs.iter().rev().find(|(n, _)| *n == name) {
            Some((_, p)) => {
                if !p.exists() {
                    return Err(Error::Read {
                        file: p.clone(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "no such file (given with --input)",
                        ),
                    });
                }
                vec![p.clone()]
            }
            None => self.files(&s.path)?,
        };

        let d = &s.dialect;
        let byte = |v: &Spanned<String>, what: &str| -> Result<u8> {
            let value = match v.get_ref().as_str() {
                "\\t" | "tab" => "\t",
                other => other,
            };
            match value.as_bytes() {
                [b] => Ok(*b),
                _ => self.err(
                    v.span(),
                    format!(
                        "{what} must be one ASCII character such as `,` `;` or `\\t`, not `{}`",
                        v.get_ref()
                    ),
                ),
            }
        };
        let dialect = Dialect {
            delimiter: byte(&d.delimiter, "delimiter")?,
            quote: byte(&d.quote, "quote")?,
            header: d.header,
            skip_lines: d.skip_lines,
            encoding: d.encoding,
            decimal_comma: d.decimal_comma,
            null_markers: d.null_markers.clone(),
        };

        let mut columns: Vec<String> = schema.field_names().map(String::from).collect();
        let mine = |src: &Spanned<String>| *src.get_ref() == name;

        // Derives and checks whose inputs are the file's own columns (or earlier such derives)
        // run early; the others wait for the harmonized columns.
        let mut derives = Vec::new();
        let mut late_derive_specs = Vec::new();
        for dv in spec.derives.iter().filter(|dv| mine(&dv.source)) {
            let inputs = self.derive_inputs(dv)?;
            if late_derive_specs.is_empty() && inputs.iter().all(|c| columns.contains(c)) {
                derives.push(self.derive(dv, &mut columns)?);
            } else {
                late_derive_specs.push(dv);
            }
        }
        let mut checks = Vec::new();
        let mut late_check_specs = Vec::new();
        for c in spec.checks.iter().filter(|c| mine(&c.source)) {
            let early = match polars::sql::sql_expr(c.expr.get_ref()) {
                Ok(e) => e
                    .meta()
                    .root_names()
                    .iter()
                    .all(|r| columns.contains(&r.to_string())),
                Err(_) => true, // reported with its line below
            };
            if early {
                checks.push(self.check(c, &columns)?);
            } else {
                late_check_specs.push(c);
            }
        }

        let mut unpivot = None;
        for u in spec.unpivots.iter().filter(|u| mine(&u.source)) {
            if unpivot.is_some() {
                return self.err(
                    u.source.span(),
                    format!("source `{name}` has more than one [[unpivot]]; merge them"),
                );
            }
            for c in u.columns.get_ref() {
                if !columns.contains(c) {
                    return self.err(
                        u.columns.span(),
                        format!("unpivot: no column `{c}` in source `{name}`"),
                    );
                }
            }
            let re = match regex::Regex::new(u.pattern.get_ref()) {
                Ok(re) => re,
                Err(e) => {
                    return self.err(
                        u.pattern.span(),
                        format!("unpivot: the pattern is not a valid regular expression: {e}"),
                    )
                }
            };
            let groups: Vec<String> = re.capture_names().flatten().map(String::from).collect();
            if groups.is_empty() {
                return self.err(
                    u.pattern.span(),
                    "unpivot: the pattern needs named groups such as (?P<sex>[fm])",
                );
            }
            for c in u.columns.get_ref() {
                if !re.is_match(c) {
                    return self.err(
                        u.pattern.span(),
                        format!("unpivot: the column `{c}` does not match the pattern"),
                    );
                }
            }
            columns.retain(|c| !u.columns.get_ref().contains(c));
            columns.extend(groups.iter().cloned());
            columns.push(u.value.clone());
            unpivot = Some(UnpivotPlan {
                columns: u.columns.get_ref().clone(),
                pattern: u.pattern.get_ref().clone(),
                groups,
                value: u.value.clone(),
            });
        }

        let mut harmonize = Vec::new();
        for h in spec.harmonizations.iter().filter(|h| mine(&h.source)) {
            self.column_exists(&columns, &h.column, "harmonize")?;
            let list_name = h.codelist.get_ref();
            let list = if list_name == "none" {
                CodeList::empty("none")
            } else if list_name.ends_with(".csv") {
                CodeList::from_file(&self.file(list_name))?
            } else {
                match CodeList::builtin(list_name) {
                    Some(l) => l,
                    None => {
                        return self.err(
                            h.codelist.span(),
                            format!(
                                "unknown code list `{list_name}`; embedded lists: {}; or `none`, or a path to a CSV file code,label,synonyms",
                                codelist::BUILTIN.join(", ")
                            ),
                        )
                    }
                }
            };
            if columns.contains(h.into.get_ref()) {
                return self.err(
                    h.into.span(),
                    format!(
                        "harmonize: the column `{}` already exists; choose another `into`",
                        h.into.get_ref()
                    ),
                );
            }
            columns.push(h.into.get_ref().clone());
            let is_country = list_name == "country";
            let mut list = list;
            if let Some(cw) = &h.crosswalk {
                let Some(crosswalk) = Crosswalk::parse(cw.get_ref()).filter(|_| is_country) else {
                    return self.err(
                        cw.span(),
                        format!(
                            "harmonize: `crosswalk` applies to the country list and is one of {}",
                            Crosswalk::NAMES.join(", ")
                        ),
                    );
                };
                list = CodeList::country(crosswalk);
            }
            let output = match &h.output {
                None => None,
                Some(o) => match CountryOutput::parse(o.get_ref()).filter(|_| is_country) {
                    Some(out) => out.attr(),
                    None => {
                        return self.err(
                            o.span(),
                            format!(
                                "harmonize: `output` applies to the country list and is one of {}",
                                CountryOutput::NAMES.join(", ")
                            ),
                        )
                    }
                },
            };
            harmonize.push(HarmonizePlan {
                column: h.column.get_ref().clone(),
                into: h.into.get_ref().clone(),
                codelist: list.with_extra(h.extra.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                unknown: h.unknown.clone(),
                missing: h.missing.clone().unwrap_or_else(|| "_U".into()),
                output,
                fuzzy: h.fuzzy,
            });
        }

        let mut late_derives = Vec::new();
        for dv in late_derive_specs {
            late_derives.push(self.derive(dv, &mut columns)?);
        }
        let mut late_checks = Vec::new();
        for c in late_check_specs {
            late_checks.push(self.check(c, &columns)?);
        }
        let design = self.design(s.design.as_ref(), &columns)?;
        if let Some(d) = &design {
            late_checks.extend(design_checks(d));
        }

        Ok(SourcePlan {
            name,
            files,
            schema,
            dialect,
            derives,
            checks,
            unpivot,
            harmonize,
            late_derives,
            late_checks,
            design,
            columns,
        })
    }

    fn design(&self, d: Option<&DesignSpec>, columns: &[String]) -> Result<Option<DesignPlan>> {
        let Some(d) = d else { return Ok(None) };
        let context = "[source.design]";
        let named = |c: &Option<Spanned<String>>| -> Result<Option<String>> {
            match c {
                Some(c) => {
                    self.column_exists(columns, c, context)?;
                    Ok(Some(c.get_ref().clone()))
                }
                None => Ok(None),
            }
        };
        let weight = named(&Some(d.weight.clone()))?.unwrap_or_default();
        let strata = named(&d.strata)?;
        let psu = named(&d.psu)?;
        let fpc = named(&d.fpc)?;
        let lonely_psu = match &d.lonely_psu {
            None => crate::survey::LonelyPsu::Fail,
            Some(l) => match l.get_ref().parse() {
                Ok(p) => p,
                Err(_) => {
                    return self.err(
                        l.span(),
                        format!(
                            "{context}: lonely_psu is one of fail, remove, certainty, adjust (centre), average, not `{}`",
                            l.get_ref()
                        ),
                    )
                }
            },
        };
        Ok(Some(DesignPlan {
            weight,
            strata,
            psu,
            fpc,
            lonely_psu,
        }))
    }

    /// The columns a derive reads, before knowing whether they exist yet.
    fn derive_inputs(&self, dv: &DeriveSpec) -> Result<Vec<String>> {
        Ok(match (&dv.expr, &dv.age_group_of, &dv.region_of) {
            (Some(expr), None, None) => match polars::sql::sql_expr(expr.get_ref()) {
                Ok(e) => e
                    .meta()
                    .root_names()
                    .iter()
                    .map(|r| r.to_string())
                    .collect(),
                Err(_) => Vec::new(), // reported with its line when resolved
            },
            (None, Some(c), None) | (None, None, Some(c)) => vec![c.get_ref().clone()],
            _ => {
                return self.err(
                    dv.name.span(),
                    format!(
                        "derive `{}`: give exactly one of `expr`, `age_group_of` or `region_of`",
                        dv.name.get_ref()
                    ),
                )
            }
        })
    }

    fn derive(&self, dv: &DeriveSpec, columns: &mut Vec<String>) -> Result<DerivePlan> {
        let context = format!("derive `{}`", dv.name.get_ref());
        let scheme = |names: &[&str], default: &str| -> Result<String> {
            match &dv.scheme {
                None => Ok(default.to_string()),
                Some(s) if names.contains(&s.get_ref().as_str()) => Ok(s.get_ref().clone()),
                Some(s) => self.err(
                    s.span(),
                    format!(
                        "{context}: unknown scheme `{}`; known: {}",
                        s.get_ref(),
                        names.join(", ")
                    ),
                ),
            }
        };
        let kind = if let Some(expr) = &dv.expr {
            DeriveKind::Expr(self.sql(columns, expr, &context)?.0)
        } else if let Some(age) = &dv.age_group_of {
            self.column_exists(columns, age, &context)?;
            let name = scheme(AgeScheme::NAMES, "five-year")?;
            DeriveKind::AgeGroup {
                age: age.get_ref().clone(),
                scheme: AgeScheme::parse(&name).expect("checked above"),
            }
        } else if let Some(country) = &dv.region_of {
            self.column_exists(columns, country, &context)?;
            let Some(s) = &dv.scheme else {
                return self.err(
                    dv.name.span(),
                    format!(
                        "{context}: `region_of` needs `scheme` ({})",
                        RegionLevel::NAMES.join(", ")
                    ),
                );
            };
            let name = scheme(RegionLevel::NAMES, s.get_ref())?;
            DeriveKind::Region {
                country: country.get_ref().clone(),
                level: RegionLevel::parse(&name).expect("checked above"),
            }
        } else {
            return self.err(
                dv.name.span(),
                format!("{context}: give `expr`, `age_group_of` or `region_of`"),
            );
        };
        if columns.contains(dv.name.get_ref()) {
            return self.err(
                dv.name.span(),
                format!(
                    "{context}: the column `{}` already exists",
                    dv.name.get_ref()
                ),
            );
        }
        columns.push(dv.name.get_ref().clone());
        Ok(DerivePlan {
            name: dv.name.get_ref().clone(),
            kind,
        })
    }

    fn check(&self, c: &CheckSpec, columns: &[String]) -> Result<CheckPlan> {
        let (expr, used) = self.sql(columns, &c.expr, &format!("check `{}`", c.name.get_ref()))?;
        Ok(CheckPlan {
            name: c.name.get_ref().clone(),
            expr,
            text: c.expr.get_ref().clone(),
            message: c
                .message
                .clone()
                .unwrap_or_else(|| format!("the row breaks the rule `{}`", c.expr.get_ref())),
            columns: used,
        })
    }

    fn files(&self, path: &Spanned<String>) -> Result<Vec<PathBuf>> {
        let full = self.file(path.get_ref());
        let raw = full.to_string_lossy();
        if !raw.contains(['*', '?', '[']) {
            if !full.exists() {
                return Err(Error::Read {
                    file: full.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                });
            }
            return Ok(vec![full]);
        }
        let pattern = match glob::glob(&raw) {
            Ok(p) => p,
            Err(e) => {
                return self.err(
                    path.span(),
                    format!("`{}` is not a valid glob: {e}", path.get_ref()),
                )
            }
        };
        let mut files: Vec<PathBuf> = pattern
            .filter_map(|p| p.ok())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return self.err(path.span(), format!("no file matches `{raw}`"));
        }
        Ok(files)
    }

    fn table(
        &self,
        t: &TableSpec,
        sources: &[SourcePlan],
        spec: &PipelineSpec,
    ) -> Result<TablePlan> {
        let source = self.known_source(sources, &t.source)?;
        let context = format!("table `{}`", t.name.get_ref());
        if t.dimensions.is_empty() {
            return self.err(
                t.name.span(),
                format!("{context}: declare at least one dimension"),
            );
        }
        let mut dimensions = Vec::new();
        for d in &t.dimensions {
            self.column_exists(&source.columns, d, &context)?;
            if dimensions.contains(d.get_ref()) {
                return self.err(
                    d.span(),
                    format!("{context}: the dimension `{}` is listed twice", d.get_ref()),
                );
            }
            dimensions.push(d.get_ref().clone());
        }
        let sex_columns: HashSet<&str> = spec
            .harmonizations
            .iter()
            .filter(|h| *h.source.get_ref() == source.name && h.codelist.get_ref() == "sex")
            .map(|h| h.into.get_ref().as_str())
            .collect();
        let sex = dimensions
            .iter()
            .find(|d| sex_columns.contains(d.as_str()))
            .cloned();

        let mut totals = Vec::new();
        for d in &t.totals {
            if !dimensions.contains(d.get_ref()) {
                return self.err(
                    d.span(),
                    format!(
                        "{context}: totals names `{}`, which is not one of its dimensions",
                        d.get_ref()
                    ),
                );
            }
            if Some(d.get_ref()) != sex.as_ref() && !totals.contains(d.get_ref()) {
                totals.push(d.get_ref().clone());
            }
        }
        if t.measures.is_empty() {
            return self.err(
                t.name.span(),
                format!("{context}: declare at least one measure"),
            );
        }
        let mut measures: Vec<MeasurePlan> = Vec::new();
        for m in &t.measures {
            let name = m.name.get_ref().clone();
            if dimensions.contains(&name) || measures.iter().any(|x| x.name == name) {
                return self.err(
                    m.name.span(),
                    format!("{context}: the measure name `{name}` is already used"),
                );
            }
            if let Some(design) = &source.design {
                let ok = m.agg == Aggregate::WeightedCount
                    && m.column.is_none()
                    && m.weight
                        .as_ref()
                        .is_none_or(|w| *w.get_ref() == design.weight)
                    && t.measures.len() == 1;
                if !ok {
                    return self.err(
                        m.name.span(),
                        format!("{context}: a table over the survey source `{}` has one measure, `agg = \"weighted_count\"`, estimated with the design weight `{}`", source.name, design.weight),
                    );
                }
                measures.push(MeasurePlan {
                    name,
                    agg: m.agg,
                    column: Some(design.weight.clone()),
                    unit: m.unit.clone().unwrap_or_else(|| "PS".into()),
                });
                continue;
            }
            let column = match (m.agg, &m.column, &m.weight) {
                (Aggregate::Count, None, None) => None,
                (Aggregate::Sum, Some(c), None) | (Aggregate::WeightedCount, None, Some(c)) => {
                    self.column_exists(&source.columns, c, &context)?;
                    Some(c.get_ref().clone())
                }
                (Aggregate::Count, _, _) => {
                    return self.err(
                        m.name.span(),
                        format!("{context}: measure `{name}`: `count` takes no column"),
                    )
                }
                (Aggregate::Sum, _, _) => {
                    return self.err(
                        m.name.span(),
                        format!("{context}: measure `{name}`: `sum` needs `column`"),
                    )
                }
                (Aggregate::WeightedCount, _, _) => {
                    return self.err(
                        m.name.span(),
                        format!("{context}: measure `{name}`: `weighted_count` needs `weight`"),
                    )
                }
            };
            let unit = m.unit.clone().unwrap_or_else(|| {
                if m.agg == Aggregate::Count {
                    "PS"
                } else {
                    "_Z"
                }
                .to_string()
            });
            measures.push(MeasurePlan {
                name,
                agg: m.agg,
                column,
                unit,
            });
        }
        let filter = match &t.filter {
            Some(f) => Some(self.sql(&source.columns, f, &context)?.0),
            None => None,
        };
        let mut codelists = BTreeMap::new();
        for d in &dimensions {
            if let Some(h) = source.harmonize.iter().find(|h| h.into == *d) {
                codelists.insert(d.clone(), h.codelist.clone());
            }
            for dv in source
                .derives
                .iter()
                .chain(&source.late_derives)
                .filter(|x| x.name == *d)
            {
                if let DeriveKind::Region { level, .. } = &dv.kind {
                    let list = if *level == RegionLevel::Au {
                        "au-region"
                    } else {
                        "m49-region"
                    };
                    codelists.insert(d.clone(), CodeList::builtin(list).expect("embedded"));
                }
            }
        }
        let sdmx = self.table_sdmx(t, &dimensions, &totals)?;
        let disclosure = match &source.design {
            Some(_) => reliability(spec.reliability.as_ref(), t.reliability.as_ref()),
            None => self.disclosure(spec.disclosure.as_ref(), t.disclosure.as_ref(), &context)?,
        };
        let share_of = match &t.share_of {
            None => None,
            Some(d) if source.design.is_some() && totals.contains(d.get_ref()) => {
                Some(d.get_ref().clone())
            }
            Some(d) => {
                return self.err(
                    d.span(),
                    format!("{context}: share_of names a dimension with totals of a table over a survey source"),
                )
            }
        };
        if matches!(
            disclosure,
            Disclosure::Suppress {
                dominance: Some(_),
                ..
            } | Disclosure::Suppress {
                p_percent: Some(_),
                ..
            }
        ) && !measures.iter().any(|m| m.agg == Aggregate::Sum)
        {
            return self.err(
                t.name.span(),
                format!("{context}: the dominance and p% rules apply to `sum` measures, and the table has none"),
            );
        }
        Ok(TablePlan {
            name: t.name.get_ref().clone(),
            title: t.title.clone(),
            source: source.name.clone(),
            dimensions,
            sex,
            totals,
            measures,
            filter,
            codelists,
            sdmx,
            disclosure,
            share_of,
        })
    }

    /// The table's disclosure control: its own fields over the pipeline's, over the defaults.
    fn disclosure(
        &self,
        pipeline: Option<&DisclosureSpec>,
        table: Option<&DisclosureSpec>,
        context: &str,
    ) -> Result<Disclosure> {
        let empty = DisclosureSpec::default();
        let (p, t) = (pipeline.unwrap_or(&empty), table.unwrap_or(&empty));
        let method = t.method.as_ref().or(p.method.as_ref());
        let threshold = t.threshold.as_ref().or(p.threshold.as_ref());
        if let Some(n) = threshold.filter(|n| *n.get_ref() < 2) {
            return self.err(
                n.span(),
                format!("{context}: a threshold below 2 protects nobody; use 3 or 5"),
            );
        }
        let dominance = t.dominance.as_ref().or(p.dominance.as_ref());
        if let Some(d) = dominance {
            let DominanceSpec { n, k } = *d.get_ref();
            if !(1..=2).contains(&n) || !(0.0..=100.0).contains(&k) || k == 0.0 {
                return self.err(
                    d.span(),
                    format!("{context}: dominance takes n = 1 or 2 and k in (0, 100], e.g. {{ n = 2, k = 85 }}"),
                );
            }
        }
        let p_percent = t.p_percent.as_ref().or(p.p_percent.as_ref());
        if let Some(pp) = p_percent.filter(|x| !(*x.get_ref() > 0.0 && *x.get_ref() <= 100.0)) {
            return self.err(
                pp.span(),
                format!("{context}: p_percent is a percentage in (0, 100]"),
            );
        }
        let base = t.base.as_ref().or(p.base.as_ref());
        if let Some(b) = base.filter(|b| *b.get_ref() < 2) {
            return self.err(
                b.span(),
                format!("{context}: a rounding base is 2 or more (3 and 5 are usual)"),
            );
        }
        let name = method.map(|m| m.get_ref().as_str()).unwrap_or("suppress");
        Ok(match name {
            "suppress" => Disclosure::Suppress {
                threshold: threshold.map(|n| *n.get_ref()).unwrap_or(DEFAULT_THRESHOLD),
                zeros: t.zeros_sensitive.or(p.zeros_sensitive).unwrap_or(false),
                dominance: dominance.map(|d| (d.get_ref().n, d.get_ref().k)),
                p_percent: p_percent.map(|x| *x.get_ref()),
            },
            "round" => Disclosure::Round {
                base: base.map(|b| *b.get_ref()).unwrap_or(3),
                seed: t.seed.or(p.seed).unwrap_or(0),
            },
            "none" => match t.reason.as_ref().or(p.reason.as_ref()) {
                Some(reason) if !reason.trim().is_empty() => Disclosure::None {
                    reason: reason.clone(),
                },
                _ => {
                    let span = method.map(|m| m.span()).unwrap_or(0..0);
                    return self.err(
                        span,
                        format!("{context}: `method = \"none\"` publishes every cell as it is; say why with `reason = \"...\"`"),
                    );
                }
            },
            other => {
                let span = method.map(|m| m.span()).unwrap_or(0..0);
                return self.err(
                    span,
                    format!(
                        "{context}: unknown disclosure method `{other}` (suppress, round, none)"
                    ),
                );
            }
        })
    }

    fn table_sdmx(
        &self,
        t: &TableSpec,
        dimensions: &[String],
        totals: &[String],
    ) -> Result<SdmxTable> {
        let context = format!("table `{}`", t.name.get_ref());
        let default = TableSdmxSpec {
            dataflow: None,
            time: None,
            time_period: None,
            concepts: BTreeMap::new(),
        };
        let spec = t.sdmx.as_ref().unwrap_or(&default);
        let dataflow = match &spec.dataflow {
            Some(d) if sdmx_id(d.get_ref()) => d.get_ref().clone(),
            Some(d) => {
                return self.err(
                    d.span(),
                    format!(
                        "{context}: `{}` is not an SDMX id (letters, digits, _)",
                        d.get_ref()
                    ),
                )
            }
            None => format!("DF_{}", sdmx_upper(t.name.get_ref())),
        };
        let time = match (&spec.time, &spec.time_period) {
            (Some(d), None) => {
                if !dimensions.contains(d.get_ref()) {
                    return self.err(
                        d.span(),
                        format!(
                            "{context}: the time dimension `{}` is not one of its dimensions",
                            d.get_ref()
                        ),
                    );
                }
                if totals.contains(d.get_ref()) {
                    return self.err(d.span(), format!("{context}: the time dimension `{}` cannot have totals (`_T` is not a time period)", d.get_ref()));
                }
                TimePeriod::Dimension(d.get_ref().clone())
            }
            (None, Some(p)) => TimePeriod::Fixed(p.clone()),
            (None, None) => TimePeriod::None,
            (Some(d), Some(_)) => {
                return self.err(
                    d.span(),
                    format!("{context}: give `time` or `time_period`, not both"),
                )
            }
        };
        let mut concepts = BTreeMap::new();
        for (dim, concept) in &spec.concepts {
            if !dimensions.contains(dim) {
                return self.err(
                    concept.span(),
                    format!(
                        "{context}: concepts names `{dim}`, which is not one of its dimensions"
                    ),
                );
            }
            if !sdmx_id(concept.get_ref()) {
                return self.err(
                    concept.span(),
                    format!(
                        "{context}: `{}` is not an SDMX id (letters, digits, _)",
                        concept.get_ref()
                    ),
                );
            }
        }
        for d in dimensions {
            if TimePeriod::Dimension(d.clone()) == time {
                continue;
            }
            let concept = spec
                .concepts
                .get(d)
                .map(|c| c.get_ref().clone())
                .unwrap_or_else(|| sdmx_upper(d));
            if concepts.values().any(|c| *c == concept)
                || ["TIME_PERIOD", "INDICATOR", "OBS_VALUE"].contains(&concept.as_str())
            {
                return self.err(t.name.span(), format!("{context}: two dimensions would both be the SDMX concept `{concept}`; set `concepts`"));
            }
            concepts.insert(d.clone(), concept);
        }
        Ok(SdmxTable {
            dataflow,
            time,
            concepts,
        })
    }

    fn outputs(
        &self,
        spec: &PipelineSpec,
        tables: &[TablePlan],
        overrides: &Overrides,
    ) -> Result<Vec<OutputPlan>> {
        let all: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        let mut outputs = Vec::new();
        for (i, o) in spec.outputs.iter().enumerate() {
            let name = o.name.clone().unwrap_or_else(|| {
                if spec.outputs.len() == 1 {
                    spec.name.get_ref().clone()
                } else {
                    format!("output{}", i + 1)
                }
            });
            let mut names = Vec::new();
            for t in o.tables.iter().flatten() {
                if !all.contains(t.get_ref()) {
                    return self.err(
                        t.span(),
                        format!(
                            "output `{name}`: no [[table]] is named `{}` (tables: {})",
                            t.get_ref(),
                            all.join(", ")
                        ),
                    );
                }
                names.push(t.get_ref().clone());
            }
            let dir = match &overrides.output {
                Some(root) if spec.outputs.len() == 1 => root.clone(),
                Some(root) => root.join(&name),
                None => self.file(o.dir.get_ref()),
            };
            let mut formats = Vec::new();
            for f in o.formats.iter().flatten() {
                match Format::parse(f.get_ref()) {
                    Some(Format::SdmxCsv10 | Format::SdmxCsv20) if spec.sdmx.is_none() => {
                        return self.err(
                            f.span(),
                            format!(
                                "output `{name}`: `{}` needs an [sdmx] table with the agency",
                                f.get_ref()
                            ),
                        )
                    }
                    Some(format) => formats.push(format),
                    None => {
                        return self.err(
                            f.span(),
                            format!(
                                "output `{name}`: unknown format `{}`; known: {}",
                                f.get_ref(),
                                Format::NAMES.join(", ")
                            ),
                        )
                    }
                }
            }
            if formats.is_empty() {
                formats.push(Format::Parquet);
            }
            let names = if o.tables.is_some() {
                names
            } else {
                all.clone()
            };
            if formats.iter().any(|f| *f != Format::Parquet) {
                for t in tables.iter().filter(|t| names.contains(&t.name)) {
                    if t.sdmx.time == TimePeriod::None {
                        return self.err(
                            o.dir.span(),
                            format!(
                                "output `{name}` writes SDMX, which needs a time period: give table `{}` a [table.sdmx] with `time = \"<dimension>\"` or `time_period = \"2024\"`",
                                t.name
                            ),
                        );
                    }
                }
            }
            let mut partition_by = Vec::new();
            for p in &o.partition_by {
                if !tables
                    .iter()
                    .any(|t| names.contains(&t.name) && t.dimensions.contains(p.get_ref()))
                {
                    return self.err(
                        p.span(),
                        format!(
                            "output `{name}`: no table here has the dimension `{}`",
                            p.get_ref()
                        ),
                    );
                }
                partition_by.push(p.get_ref().clone());
            }
            outputs.push(OutputPlan {
                name,
                dir,
                tables: names,
                quarantine: o.quarantine,
                formats,
                partition_by,
            });
        }
        if outputs.is_empty() {
            let dir = overrides.output.clone().unwrap_or_else(|| {
                clean(&self.base.join("..").join("out").join(spec.name.get_ref()))
            });
            outputs.push(OutputPlan {
                name: spec.name.get_ref().clone(),
                dir,
                tables: all,
                quarantine: true,
                formats: vec![Format::Parquet],
                partition_by: Vec::new(),
            });
        }
        Ok(outputs)
    }
}

/// The plan of one file checked against a schema with no pipeline file (`marsad validate
/// --schema`): a source with no stages, built like any other.
pub fn single_file(schema: &Path, file: &Path, dialect: Dialect) -> Result<SourcePlan> {
    let schema = TableSchema::load(schema)?;
    if !file.exists() {
        return Err(Error::Read {
            file: file.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    Ok(SourcePlan {
        name: file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into()),
        files: vec![file.to_path_buf()],
        schema,
        dialect,
        derives: Vec::new(),
        checks: Vec::new(),
        unpivot: None,
        harmonize: Vec::new(),
        late_derives: Vec::new(),
        late_checks: Vec::new(),
        columns: Vec::new(),
        design: None,
    })
}
