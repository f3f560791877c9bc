//! What the user wrote in the pipeline file, with the place of each value (`Spanned`), so that
//! the resolver can point at the line of a mistake. Keywords are read into their enums here;
//! names of sources, columns and code lists are checked by the resolver.
//!
//! These types are also the JSON Schema of the pipeline file (`schemas/pipeline.schema.json`,
//! made by [`super::json_schema`]): their doc comments are its descriptions, which editors show
//! on hover, so they are written for the people who write pipelines. A `Spanned<T>` field is
//! described as its `T` (`#[schemars(with = "T")]`); a range checked by the resolver is stated
//! in the schema too, so that an editor flags it as it is typed.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use super::plan::{Aggregate, Format};
use crate::codelist::{AgeScheme, CountryOutput, Crosswalk, RegionLevel};
use crate::survey::LonelyPsu;
use crate::vocab::{keywords, Delimiter, Encoding};

keywords! {
    /// How a table is protected before publication.
    pub enum MethodName as "disclosure method" {
        /// Cells with too few contributors (and those that would reveal them) are suppressed
        /// (the default).
        Suppress = "suppress",
        /// Every count is randomly rounded to a multiple of `base`.
        Round = "round",
        /// Published as is; `reason` says why.
        None = "none",
    }
}

/// A marsad pipeline: the sources it reads, how their rows are checked and harmonized, the
/// tables it computes and where they are published. Paths are relative to the pipeline file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// `source` has a serde default so that the resolver, not serde, says a source is missing
#[schemars(
    title = "marsad pipeline file",
    extend("required" = ["name", "source"])
)]
pub struct PipelineSpec {
    /// The pipeline's name: written into the metadata, and the default output name.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// A title for people, shown in the report and in `datapackage.json`.
    pub title: Option<String>,
    /// Free text for the people who read the file (not written into the outputs).
    pub description: Option<String>,
    /// Largest share of a source's rows (0 to 1) that may be rejected into the quarantine before
    /// the run fails and publishes nothing (default 0.05).
    #[schemars(with = "Option<f64>", range(min = 0, max = 1))]
    pub max_rejected: Option<Spanned<f64>>,
    /// The language of the HTML reports (`fr`, `ar` or `en`; default `en`); `--lang` overrides
    /// it for one run. Code labels come from the code lists' names in that language.
    pub lang: Option<crate::lang::Lang>,
    /// The files read (at least one): `[[source]]`.
    #[serde(rename = "source", default)]
    #[schemars(length(min = 1))]
    pub sources: Vec<SourceSpec>,
    /// New columns computed from a source's columns: `[[derive]]`.
    #[serde(rename = "derive", default)]
    pub derives: Vec<DeriveSpec>,
    /// Rules across the fields of a row; a row that breaks one is quarantined: `[[check]]`.
    #[serde(rename = "check", default)]
    pub checks: Vec<CheckSpec>,
    /// Wide columns turned into rows (at most one per source): `[[unpivot]]`.
    #[serde(rename = "unpivot", default)]
    pub unpivots: Vec<UnpivotSpec>,
    /// Columns mapped through a code list into standard codes: `[[harmonize]]`.
    #[serde(rename = "harmonize", default)]
    pub harmonizations: Vec<HarmonizeSpec>,
    /// The tables computed: `[[table]]`.
    #[serde(rename = "table", default)]
    pub tables: Vec<TableSpec>,
    /// Where the tables are published: `[[output]]` (default: one output, `out/<name>` beside
    /// the pipeline file's folder, with every table as Parquet).
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
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclosureSpec {
    /// `suppress` (default), `round` or `none`.
    #[schemars(with = "Option<MethodName>")]
    pub method: Option<Spanned<MethodName>>,
    /// Threshold rule: a cell with 1 to threshold - 1 contributing records is sensitive
    /// (default 5; at least 2).
    #[schemars(with = "Option<u64>", range(min = 2))]
    pub threshold: Option<Spanned<u64>>,
    /// Treat empty cells as sensitive too (default false).
    pub zeros_sensitive: Option<bool>,
    /// (n,k) dominance rule for `sum` measures, e.g. `{ n = 2, k = 85 }`: a cell is sensitive
    /// when its n largest contributors make more than k% of it.
    #[schemars(with = "Option<DominanceSpec>")]
    pub dominance: Option<Spanned<DominanceSpec>>,
    /// p% rule for `sum` measures, e.g. `10`: a cell is sensitive when, without its two largest
    /// contributions, the rest is less than p% of the largest (a percentage in (0, 100]).
    #[schemars(with = "Option<f64>", extend("exclusiveMinimum" = 0, "maximum" = 100))]
    pub p_percent: Option<Spanned<f64>>,
    /// Random rounding base, with `method = "round"` (default 3; at least 2).
    #[schemars(with = "Option<u32>", range(min = 2))]
    pub base: Option<Spanned<u32>>,
    /// Seed of the random rounding, so reruns round the same way (default 0).
    pub seed: Option<u64>,
    /// Why a table is published without protection (required with `method = "none"`).
    pub reason: Option<String>,
}

/// The (n,k) dominance rule: a cell is sensitive when its `n` largest contributors make more
/// than `k` percent of its total.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DominanceSpec {
    /// The number of largest contributors, 1 or 2.
    #[schemars(range(min = 1, max = 2))]
    pub n: u8,
    /// The share of the cell's total (%) they may make, in (0, 100].
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 100))]
    pub k: f64,
}

/// Written into each output's `datapackage.json`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    /// The data's licence, e.g. `{ name = "CC-BY-4.0", path = "https://creativecommons.org/licenses/by/4.0/" }`.
    pub license: Option<LicenseSpec>,
    /// Where the data comes from, e.g. `[{ title = "Ministry of the Interior, residence-permit register" }]`.
    #[serde(default)]
    pub sources: Vec<CitationSpec>,
}

/// A licence, as a Frictionless data package writes it.
#[derive(Debug, Clone, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseSpec {
    /// An Open Definition / SPDX identifier such as `CC-BY-4.0`.
    pub name: String,
    /// A URL of the licence text.
    pub path: Option<String>,
    /// The licence's name for people, e.g. `Creative Commons Attribution 4.0`.
    pub title: Option<String>,
}

/// A source of the data, as a Frictionless data package writes it.
#[derive(Debug, Clone, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CitationSpec {
    /// The source's name for people.
    pub title: String,
    /// A URL of the source.
    pub path: Option<String>,
}

/// Identity of the SDMX structures (data structure definitions, code lists, dataflows).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SdmxSpec {
    /// The maintenance agency of the structures, an SDMX id (letters, digits, `_`), e.g.
    /// `MA_ONM`.
    #[schemars(with = "String")]
    pub agency: Spanned<String>,
    /// Version of the structures (default `1.0`).
    pub version: Option<String>,
}

/// A file (or a set of files) read, validated against a Frictionless Table Schema.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// The source's name, by which stages and tables refer to it (and `--input NAME=PATH`).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// A file, or a glob such as `exports/permis_*.csv` (files are read in sorted order);
    /// relative to the pipeline file.
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    /// The Frictionless Table Schema (JSON) of the file's columns; relative to the pipeline file.
    #[schemars(with = "String")]
    pub schema: Spanned<String>,
    /// How the CSV file is written; every field may be left to the default.
    #[serde(default)]
    pub dialect: DialectSpec,
    /// The sampling design, for survey microdata with weights.
    pub design: Option<DesignSpec>,
}

/// A survey's sampling design, as R's `svydesign(ids, strata, weights, fpc)` takes it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DesignSpec {
    /// The sampling weight column.
    #[schemars(with = "String")]
    pub weight: Spanned<String>,
    /// Stratum column (none: one stratum).
    #[schemars(with = "Option<String>")]
    pub strata: Option<Spanned<String>>,
    /// Primary sampling unit (cluster) column, nested in strata (none: every respondent).
    #[schemars(with = "Option<String>")]
    pub psu: Option<Spanned<String>>,
    /// Finite population correction column: the population's number of PSUs in the stratum,
    /// or the sampling fraction.
    #[schemars(with = "Option<String>")]
    pub fpc: Option<Spanned<String>>,
    /// Strata with a single PSU: `fail` (default), `remove`, `certainty`, `adjust` (also
    /// written `centre` or `center`) or `average`, as R's `options(survey.lonely.psu)`.
    pub lonely_psu: Option<LonelyPsu>,
}

/// When a survey estimate is published, flagged or suppressed.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReliabilitySpec {
    /// Largest coefficient of variation (%) published without a flag (default 16.5).
    pub cv_publish: Option<f64>,
    /// Largest CV (%) published, flagged `E`; above it the estimate is suppressed (default 33.3).
    pub cv_suppress: Option<f64>,
    /// Fewest respondents behind a published estimate (default 10).
    pub min_respondents: Option<u64>,
}

/// How a CSV file is written.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DialectSpec {
    /// The character between fields: one ASCII character, `"\t"` or `"tab"` for tabs
    /// (default `,`).
    pub delimiter: Delimiter,
    /// The character around fields that contain the delimiter (default `"`).
    pub quote: Delimiter,
    /// Whether the first line after `skip_lines` holds the column names (default true); without
    /// a header, the columns are the schema's fields, in order.
    pub header: bool,
    /// Lines before the header (titles, extraction dates) that are not part of the table.
    pub skip_lines: usize,
    /// The character encoding of the file (default `auto`).
    pub encoding: Encoding,
    /// Numbers are written `1,5`: applies to every number field without its own `decimalChar`.
    pub decimal_comma: bool,
    /// Extra strings meaning "no value", added to the schema's `missingValues`.
    pub null_markers: Vec<String>,
    /// For a spreadsheet (xlsx, xls, xlsb, ods): the sheet's name, as Table Dialect's
    /// `sheetName` (default: the first sheet).
    pub sheet_name: Option<String>,
    /// For a spreadsheet: the sheet's position from 1, as Table Dialect's `sheetNumber`.
    pub sheet_number: Option<usize>,
    /// For a spreadsheet: the cells that hold the table, such as `A3:F200` (default: from
    /// the first row and column holding a value to the last).
    pub cell_range: Option<String>,
    /// For a spreadsheet: the row (from 1, as Excel numbers it) holding the column names;
    /// rows above it are skipped. Instead of `skip_lines`.
    pub header_row: Option<u32>,
    /// For a Stata (.dta) or SPSS (.sav) dataset: a variable with value labels is read as its `codes`
    /// (default) or as its `labels` (`1` becomes `Homme`), for a code list to map.
    pub value_labels: ValueLabels,
}

/// How a labelled variable of a dataset is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ValueLabels {
    #[default]
    Codes,
    Labels,
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
            sheet_name: None,
            sheet_number: None,
            cell_range: None,
            header_row: None,
            value_labels: ValueLabels::Codes,
        }
    }
}

/// A new column of a source: a SQL expression, an age group or a region (one of `expr`,
/// `age_group_of`, `region_of`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeriveSpec {
    /// The source the column is added to.
    #[schemars(with = "String")]
    pub source: Spanned<String>,
    /// The new column's name.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// A SQL expression (polars SQL) over the source's columns, e.g.
    /// `EXTRACT(YEAR FROM issued) - birth_year`.
    #[schemars(with = "Option<String>")]
    pub expr: Option<Spanned<String>>,
    /// Build an age group from this (integer age) column instead of an expression.
    #[schemars(with = "Option<String>")]
    pub age_group_of: Option<Spanned<String>>,
    /// Roll this harmonized country column (ISO alpha-3) up to a region.
    #[schemars(with = "Option<String>")]
    pub region_of: Option<Spanned<String>>,
    /// For `age_group_of`: `five-year` (Y0T4 ... Y80T84, Y_GE85), `broad` (Y0T14, Y15T64,
    /// Y_GE65) or `unhcr` (Y0T4, Y5T11, Y12T17, Y18T59, Y_GE60); for `region_of`: `au`,
    /// `m49-region`, `m49-subregion` or `m49-intermediate`.
    #[schemars(with = "Option<DeriveScheme>")]
    pub scheme: Option<Spanned<String>>,
}

/// The schema of `scheme`: the age schemes and the region levels in one list. Which of them
/// applies depends on the other key, which the schema could say only with `if`/`then` and a
/// harder message; the resolver says it.
struct DeriveScheme;

impl JsonSchema for DeriveScheme {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DeriveScheme".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = AgeScheme::NAMES
            .iter()
            .chain(RegionLevel::NAMES)
            .copied()
            .collect();
        schemars::json_schema!({ "type": "string", "enum": names })
    }
}

/// A rule every row of a source must satisfy.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// The source whose rows are checked.
    #[schemars(with = "String")]
    pub source: Spanned<String>,
    /// The rule's name, written into the quarantine as `check:<name>`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// A SQL boolean expression every row must satisfy; a row where it is false is rejected
    /// (NULL passes).
    #[schemars(with = "String")]
    pub expr: Spanned<String>,
    /// What the quarantine says of a row that breaks the rule.
    pub message: Option<String>,
}

/// Wide to long: columns whose names carry values (`f_0_4`, `m_0_4`) become rows.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnpivotSpec {
    /// The source unpivoted.
    #[schemars(with = "String")]
    pub source: Spanned<String>,
    /// The columns turned into rows.
    #[schemars(with = "Vec<String>")]
    pub columns: Spanned<Vec<String>>,
    /// A regular expression with named groups matched against each column name; each group
    /// becomes a column (e.g. `^(?P<sex>[fm])_(?P<age_band>.+)$`).
    #[schemars(with = "String")]
    pub pattern: Spanned<String>,
    /// Name of the column that receives the cell values.
    pub value: String,
}

/// A column mapped through a code list into a new column of standard codes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HarmonizeSpec {
    /// The source the column belongs to.
    #[schemars(with = "String")]
    pub source: Spanned<String>,
    /// The column holding the raw values.
    #[schemars(with = "String")]
    pub column: Spanned<String>,
    /// `sex`, `country`, `none` (extra mappings only) or a CSV file `code,label,synonyms`
    /// (relative to the pipeline file).
    #[schemars(with = "String")]
    pub codelist: Spanned<String>,
    /// The new column holding the standard codes.
    #[schemars(with = "String")]
    pub into: Spanned<String>,
    /// Code given to values that map to nothing; without it such rows are rejected.
    #[schemars(with = "Option<String>")]
    pub unknown: Option<Spanned<String>>,
    /// Code given to missing values (default `_U`, unknown).
    #[schemars(with = "Option<String>")]
    pub missing: Option<Spanned<String>>,
    /// The pipeline's own spellings: raw value = code, e.g. `{ "1" = "M", "2" = "F" }`. They
    /// win over the list's.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub extra: BTreeMap<String, Spanned<String>>,
    /// Country lists only: how the raw codes are written (default `iso3`).
    #[schemars(with = "Option<Crosswalk>")]
    pub crosswalk: Option<Spanned<Crosswalk>>,
    /// Country lists only: the code system written (default `iso3`).
    #[schemars(with = "Option<CountryOutput>")]
    pub output: Option<Spanned<CountryOutput>>,
    /// Accept the closest known spelling within this edit distance for values that match
    /// nothing. Off by default: marsad suggests, it does not guess.
    pub fuzzy: Option<usize>,
}

/// A table: the rows of a source counted (or summed) by its dimensions, with totals, protected
/// by disclosure control.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// The table's name: its file name in the outputs, and how `[[output]]` refers to it.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The source whose rows the table counts.
    #[schemars(with = "String")]
    pub source: Spanned<String>,
    /// A title for people, written into the metadata.
    pub title: Option<String>,
    /// Notes for the table's readers (definitions, coverage), shown under its title in the
    /// publication's `report.html`.
    pub notes: Option<String>,
    /// The columns the table is broken down by; the one harmonized through the `sex` list is
    /// the sex dimension.
    #[schemars(with = "Vec<String>", length(min = 1))]
    pub dimensions: Vec<Spanned<String>>,
    /// What each cell holds (at least one measure), e.g. `[{ name = "titres", agg = "count" }]`.
    #[schemars(length(min = 1))]
    pub measures: Vec<MeasureSpec>,
    /// Dimensions that get a `_T` total; sex always gets one.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub totals: Vec<Spanned<String>>,
    /// A SQL boolean expression selecting the rows this table counts.
    #[schemars(with = "Option<String>")]
    pub filter: Option<Spanned<String>>,
    /// How the table is written as SDMX.
    pub sdmx: Option<TableSdmxSpec>,
    /// Disclosure control for this table, field by field over the pipeline's `[disclosure]`.
    pub disclosure: Option<DisclosureSpec>,
    /// Survey tables: also estimate each cell's share of this dimension's total.
    #[schemars(with = "Option<String>")]
    pub share_of: Option<Spanned<String>>,
    /// Survey tables: the reliability rule, field by field over the pipeline's.
    pub reliability: Option<ReliabilitySpec>,
}

/// How a table is written as SDMX.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableSdmxSpec {
    /// Dataflow id, an SDMX id (default `DF_` + the table name in capitals).
    #[schemars(with = "Option<String>")]
    pub dataflow: Option<Spanned<String>>,
    /// The dimension holding the time period (a year).
    #[schemars(with = "Option<String>")]
    pub time: Option<Spanned<String>>,
    /// A fixed time period for tables without a time dimension (e.g. `2024`).
    pub time_period: Option<String>,
    /// SDMX concept ids for the dimensions, e.g. `{ sex = "SEX", nationality = "CITIZENSHIP" }`
    /// (default: the column name in capitals).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub concepts: BTreeMap<String, Spanned<String>>,
}

/// One value computed for each cell of a table.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureSpec {
    /// The measure's column name in the table.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// `count` (rows; no column), `sum` (of `column`) or `weighted_count` (the sum of `weight`;
    /// for a survey source, a design-based estimate with its standard error).
    pub agg: Aggregate,
    /// With `agg = "sum"`: the column summed.
    #[schemars(with = "Option<String>")]
    pub column: Option<Spanned<String>>,
    /// With `agg = "weighted_count"`: the weight column (for a survey source, the design's).
    #[schemars(with = "Option<String>")]
    pub weight: Option<Spanned<String>>,
    /// SDMX UNIT_MEASURE code (default `PS`, persons, for counts; `_Z` otherwise).
    pub unit: Option<String>,
}

/// A dataset published: a folder with the tables, their metadata and the quarantine.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// The dataset's name (default: the pipeline's name with one output, `output<i>` otherwise).
    pub name: Option<String>,
    /// Where this dataset is published, relative to the pipeline file: a link to its current
    /// release (the releases are kept beside it, in `<dir>.releases/`).
    #[schemars(with = "String")]
    pub dir: Spanned<String>,
    /// Tables to publish here (default: all).
    #[schemars(with = "Option<Vec<String>>")]
    pub tables: Option<Vec<Spanned<String>>>,
    /// Write the quarantine (the rejected rows with their raw values and reasons) into this
    /// output's `.restricted` folder (default true).
    #[serde(default = "yes")]
    pub quarantine: bool,
    /// How many releases to keep (default 5); older ones are deleted after a new one is in
    /// place. The current release is always kept.
    #[schemars(range(min = 1))]
    pub keep_releases: Option<usize>,
    /// The file formats of the tables (default `["parquet"]`).
    #[schemars(with = "Option<Vec<Format>>")]
    pub formats: Option<Vec<Spanned<Format>>>,
    /// Write each table that has these dimensions as a Hive-partitioned dataset
    /// (`tables/<name>/year=2023/part-0.parquet`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub partition_by: Vec<Spanned<String>>,
}

fn yes() -> bool {
    true
}
