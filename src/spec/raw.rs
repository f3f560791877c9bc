//! What the user wrote in the pipeline file, with the place of each value (`Spanned`), so that
//! the resolver can point at the line of a mistake. Keywords are read into their enums here;
//! names of sources, columns and code lists are checked by the resolver.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::plan::{Aggregate, Format};
use crate::codelist::{CountryOutput, Crosswalk};
use crate::survey::LonelyPsu;
use crate::vocab::{keywords, Delimiter, Encoding};

keywords! {
    /// How a table is protected, as `method` names it.
    pub enum MethodName as "disclosure method" {
        Suppress = "suppress",
        Round = "round",
        None = "none",
    }
}

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
    pub method: Option<Spanned<MethodName>>,
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
    pub lonely_psu: Option<LonelyPsu>,
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
    /// One ASCII character; `"\t"` or `"tab"` for tabs.
    pub delimiter: Delimiter,
    pub quote: Delimiter,
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
            delimiter: Delimiter(b','),
            quote: Delimiter(b'"'),
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
    pub unknown: Option<Spanned<String>>,
    /// Code given to missing values (default `_U`, unknown).
    pub missing: Option<Spanned<String>>,
    /// The pipeline's own spellings: raw value = code.
    #[serde(default)]
    pub extra: BTreeMap<String, Spanned<String>>,
    /// Country lists only: how the raw codes are written (`iso3`, `iso2`, `m49-numeric`,
    /// `unhcr`, `undesa`).
    pub crosswalk: Option<Spanned<Crosswalk>>,
    /// Country lists only: the code system written (`iso3`, `iso2`, `m49-numeric`).
    pub output: Option<Spanned<CountryOutput>>,
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
    /// How many releases to keep (default 5); older ones are deleted after a new one is in
    /// place. The current release is always kept.
    pub keep_releases: Option<usize>,
    /// `parquet` (default), `sdmx-csv-1.0`, `sdmx-csv-2.0`.
    pub formats: Option<Vec<Spanned<Format>>>,
    /// Write each table that has these dimensions as a Hive-partitioned dataset
    /// (`tables/<name>/year=2023/part-0.parquet`).
    #[serde(default)]
    pub partition_by: Vec<Spanned<String>>,
}

fn yes() -> bool {
    true
}
