//! Resolving a `[[source]]` and the stages that read it: derives, checks, unpivot and
//! harmonizations, in the order they run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::{col, lit, DataType};
use toml::Spanned;

use super::Resolver;
use crate::codelist::{self, CodeList, RegionLevel};
use crate::error::{Error, Result};
use crate::schema::TableSchema;
use crate::spec::raw::UnpivotSpec;
use crate::spec::raw::{
    CheckSpec, DeriveSpec, DesignSpec, HarmonizeSpec, PipelineSpec, SourceSpec,
};
use crate::spec::{
    CellRange, CheckPlan, DeriveKind, DerivePlan, DesignPlan, Dialect, HarmonizePlan, Overrides,
    Role, SheetChoice, SourcePlan, UnpivotPlan,
};
use crate::vocab::{sex, NOT_APPLICABLE, OTHER, TOTAL, UNKNOWN};

impl Resolver<'_> {
    pub(super) fn source(
        &self,
        s: &SourceSpec,
        spec: &PipelineSpec,
        overrides: &Overrides,
    ) -> Result<SourcePlan> {
        let name = s.name.get_ref().clone();
        if name.trim().is_empty() {
            return self.err(s.name.span(), "a source needs a name");
        }
        let schema = TableSchema::load(&self.file(s.schema.get_ref()))?;
        let files = match overrides.inputs.iter().rev().find(|(n, _)| *n == name) {
            Some((_, p)) => vec![given_input(p)?],
            None => self.files(&s.path)?,
        };
        let mut plan = bare_source(name, files, schema, self.dialect(s)?);
        self.stages(&mut plan, spec)?;
        plan.design = self.design(s.design.as_ref(), &plan.columns)?;
        if let Some(d) = &plan.design {
            plan.late_checks.extend(design_checks(d));
        }
        Ok(plan)
    }

    /// Derives and checks whose inputs are the file's own columns (or earlier such derives)
    /// run early; then unpivot and harmonizations; then the derives and checks that read
    /// harmonized columns.
    fn stages(&self, plan: &mut SourcePlan, spec: &PipelineSpec) -> Result<()> {
        let mine = |src: &Spanned<String>| *src.get_ref() == plan.name;
        let mut late_derives = Vec::new();
        for dv in spec.derives.iter().filter(|dv| mine(&dv.source)) {
            let inputs = self.derive_inputs(dv)?;
            if late_derives.is_empty() && inputs.iter().all(|c| plan.columns.contains(c)) {
                plan.derives.push(self.derive(dv, &mut plan.columns)?);
            } else {
                late_derives.push(dv);
            }
        }
        let mut late_checks = Vec::new();
        for c in spec.checks.iter().filter(|c| mine(&c.source)) {
            if reads_only(c, &plan.columns) {
                plan.checks.push(self.check(c, &plan.columns)?);
            } else {
                late_checks.push(c);
            }
        }
        let unpivots: Vec<&UnpivotSpec> =
            spec.unpivots.iter().filter(|u| mine(&u.source)).collect();
        if let Some(extra) = unpivots.get(1) {
            return self.err(
                extra.source.span(),
                format!(
                    "source `{}` has more than one [[unpivot]]; merge them",
                    plan.name
                ),
            );
        }
        if let Some(u) = unpivots.first() {
            plan.unpivot = Some(self.unpivot(u, &plan.name, &mut plan.columns)?);
        }
        for h in spec.harmonizations.iter().filter(|h| mine(&h.source)) {
            let harmonization = self.harmonization(h, &plan.columns)?;
            plan.columns.push(harmonization.into.clone());
            plan.harmonize.push(harmonization);
        }
        for dv in late_derives {
            plan.late_derives.push(self.derive(dv, &mut plan.columns)?);
        }
        for c in late_checks {
            plan.late_checks.push(self.check(c, &plan.columns)?);
        }
        Ok(())
    }

    fn unpivot(
        &self,
        u: &UnpivotSpec,
        source: &str,
        columns: &mut Vec<String>,
    ) -> Result<UnpivotPlan> {
        for c in u.columns.get_ref() {
            if !columns.contains(c) {
                return self.err(
                    u.columns.span(),
                    format!("unpivot: no column `{c}` in source `{source}`"),
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
        if let Some(c) = u.columns.get_ref().iter().find(|c| !re.is_match(c)) {
            return self.err(
                u.pattern.span(),
                format!("unpivot: the column `{c}` does not match the pattern"),
            );
        }
        columns.retain(|c| !u.columns.get_ref().contains(c));
        columns.extend(groups.iter().cloned());
        columns.push(u.value.clone());
        Ok(UnpivotPlan {
            columns: u.columns.get_ref().clone(),
            pattern: re,
            groups,
            value: u.value.clone(),
        })
    }

    fn harmonization(&self, h: &HarmonizeSpec, columns: &[String]) -> Result<HarmonizePlan> {
        self.column_exists(columns, &h.column, "harmonize")?;
        if columns.contains(h.into.get_ref()) {
            return self.err(
                h.into.span(),
                format!(
                    "harmonize: the column `{}` already exists; choose another `into`",
                    h.into.get_ref()
                ),
            );
        }
        let list = self.codelist(h)?;
        let checked = !list.codes.is_empty();
        if checked {
            self.codes_in_list(h, &list)?;
        }
        let list = list.with_extra(
            h.extra
                .iter()
                .map(|(k, v)| (k.as_str(), v.get_ref().as_str())),
        );
        Ok(HarmonizePlan {
            column: h.column.get_ref().clone(),
            into: h.into.get_ref().clone(),
            role: role(&list, h.codelist.get_ref()),
            codelist: Arc::new(list),
            unknown: h.unknown.as_ref().map(|u| u.get_ref().clone()),
            missing: h
                .missing
                .as_ref()
                .map_or_else(|| crate::vocab::UNKNOWN.into(), |m| m.get_ref().clone()),
            output: h.output.as_ref().and_then(|o| o.get_ref().attr()),
            fuzzy: h.fuzzy,
        })
    }

    /// The list a harmonization reads through: embedded, a CSV file, or `none` (only the
    /// pipeline's own spellings), read through the crosswalk for countries.
    fn codelist(&self, h: &HarmonizeSpec) -> Result<CodeList> {
        let name = h.codelist.get_ref();
        let known =
            name == "none" || name.ends_with(".csv") || codelist::BUILTIN.contains(&name.as_str());
        if !known {
            return self.err(
                h.codelist.span(),
                format!(
                    "unknown code list `{name}`; embedded lists: {}; or `none`, or a path to a CSV file code,label,synonyms",
                    codelist::BUILTIN.join(", ")
                ),
            );
        }
        let is_country = name == "country";
        for (what, span) in [
            ("crosswalk", h.crosswalk.as_ref().map(|c| c.span())),
            ("output", h.output.as_ref().map(|o| o.span())),
        ] {
            if let Some(span) = span.filter(|_| !is_country) {
                return self.err(
                    span,
                    format!("harmonize: `{what}` applies to the country list only"),
                );
            }
        }
        if let Some(cw) = &h.crosswalk {
            return Ok(CodeList::country(*cw.get_ref()));
        }
        if name == "none" {
            return Ok(CodeList::empty("none"));
        }
        if name.ends_with(".csv") {
            let path = self.file(name);
            let sha =
                std::fs::read(&path).map_or_else(|_| String::new(), |b| crate::sha256_hex(&b));
            self.code_list_files.borrow_mut().push((path.clone(), sha));
            return CodeList::from_file(&path);
        }
        CodeList::builtin(name).map_or_else(
            || {
                self.err(
                    h.codelist.span(),
                    format!(
                        "unknown code list `{name}`; embedded lists: {}; or `none`, or a path to a CSV file code,label,synonyms",
                        codelist::BUILTIN.join(", ")
                    ),
                )
            },
            Ok,
        )
    }

    /// The codes given under `extra`, `unknown` and `missing` must be codes of the list:
    /// otherwise `extra = { "2" = "f" }` would quietly make a new category.
    fn codes_in_list(&self, h: &HarmonizeSpec, list: &CodeList) -> Result<()> {
        let given = h
            .extra
            .iter()
            .map(|(raw, code)| (format!("extra maps `{raw}` to"), code))
            .chain(h.unknown.iter().map(|c| ("unknown =".to_string(), c)))
            .chain(h.missing.iter().map(|c| ("missing =".to_string(), c)));
        for (what, code) in given {
            let c = code.get_ref().as_str();
            if c == TOTAL {
                return self.err(
                    code.span(),
                    format!(
                        "harmonize `{}`: {what} `_T`, the total, which marsad computes itself: a row coded `_T` would be counted twice",
                        h.column.get_ref()
                    ),
                );
            }
            // the SDMX pseudo-codes marsad writes for any list: unknown, other, not applicable,
            // non response
            let pseudo = [UNKNOWN, OTHER, NOT_APPLICABLE, "_N"].contains(&c);
            if pseudo || list.contains_code(c) {
                continue;
            }
            let hint = match list.lookup(c) {
                Some(known) => format!("; did you mean `{known}`?"),
                None => String::new(),
            };
            let listed = if codelist::BUILTIN.contains(&list.name.as_str()) {
                format!(" (its codes: `marsad codes list {}`)", list.name)
            } else {
                format!(" (its codes are in the file {})", h.codelist.get_ref())
            };
            return self.err(
                code.span(),
                format!(
                    "harmonize `{}`: {what} `{c}`, which is not a code of the list `{}`{hint}{listed}",
                    h.column.get_ref(),
                    list.name,
                ),
            );
        }
        Ok(())
    }

    pub(super) fn design(
        &self,
        d: Option<&DesignSpec>,
        columns: &[String],
    ) -> Result<Option<DesignPlan>> {
        let Some(d) = d else { return Ok(None) };
        let named = |c: &Option<Spanned<String>>| -> Result<Option<String>> {
            match c {
                Some(c) => {
                    self.column_exists(columns, c, "[source.design]")?;
                    Ok(Some(c.get_ref().clone()))
                }
                None => Ok(None),
            }
        };
        Ok(Some(DesignPlan {
            weight: named(&Some(d.weight.clone()))?.unwrap_or_default(),
            strata: named(&d.strata)?,
            psu: named(&d.psu)?,
            fpc: named(&d.fpc)?,
            lonely_psu: d.lonely_psu.unwrap_or_default(),
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
        let kind = if let Some(expr) = &dv.expr {
            DeriveKind::Expr(self.sql(columns, expr, &context)?.0)
        } else if let Some(age) = &dv.age_group_of {
            self.column_exists(columns, age, &context)?;
            DeriveKind::AgeGroup {
                age: age.get_ref().clone(),
                scheme: self
                    .scheme(dv, &context)?
                    .unwrap_or(codelist::AgeScheme::FiveYear),
            }
        } else if let Some(country) = &dv.region_of {
            self.column_exists(columns, country, &context)?;
            let Some(level) = self.scheme::<RegionLevel>(dv, &context)? else {
                return self.err(
                    dv.name.span(),
                    format!(
                        "{context}: `region_of` needs `scheme` ({})",
                        RegionLevel::NAMES.join(", ")
                    ),
                );
            };
            DeriveKind::Region {
                country: country.get_ref().clone(),
                level,
                countries: self.countries.clone(),
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

    /// A derive's `scheme`, read as the kind of scheme its derive takes.
    fn scheme<T: std::str::FromStr<Err = String>>(
        &self,
        dv: &DeriveSpec,
        context: &str,
    ) -> Result<Option<T>> {
        match &dv.scheme {
            None => Ok(None),
            Some(s) => match s.get_ref().parse() {
                Ok(v) => Ok(Some(v)),
                Err(e) => self.err(s.span(), format!("{context}: {e}")),
            },
        }
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
}

/// A file given with `--input` must exist.
fn given_input(p: &Path) -> Result<PathBuf> {
    if p.exists() {
        return Ok(p.to_path_buf());
    }
    Err(Error::Read {
        file: p.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file (given with --input)",
        ),
    })
}

/// Whether a check reads only these columns (one that does not parse is reported with its
/// line when resolved, where it is).
fn reads_only(c: &CheckSpec, columns: &[String]) -> bool {
    match polars::sql::sql_expr(c.expr.get_ref()) {
        Ok(e) => e
            .meta()
            .root_names()
            .iter()
            .all(|r| columns.contains(&r.to_string())),
        Err(_) => true,
    }
}

impl Resolver<'_> {
    /// The dialect as the reader takes it; a spreadsheet's `cell_range` and `header_row` are
    /// checked here, and `header_row` becomes the rows to skip.
    fn dialect(&self, s: &SourceSpec) -> Result<Dialect> {
        let d = &s.dialect;
        let at = s.name.span();
        let range = match &d.cell_range {
            Some(text) => match crate::vocab::cells::parse_range(text) {
                Some((start, end)) => Some(CellRange { start, end }),
                None => {
                    return self.err(
                        at,
                        format!(
                            "`cell_range = \"{text}\"` is not a range of cells such as \"A3:F200\""
                        ),
                    )
                }
            },
            None => None,
        };
        let mut skip_lines = d.skip_lines;
        if let Some(row) = d.header_row {
            let first = range.map_or(1, |r| r.start.0 + 1);
            if row < first || d.skip_lines != 0 {
                return self.err(
                    at,
                    format!("`header_row = {row}` must be a row of the table ({first} or below) and comes instead of `skip_lines`"),
                );
            }
            skip_lines = (row - first) as usize;
        }
        if d.sheet_name.is_some() && d.sheet_number.is_some() {
            return self.err(at, "give `sheet_name` or `sheet_number`, not both");
        }
        if d.sheet_number == Some(0) {
            return self.err(at, "`sheet_number` counts from 1 (the first sheet)");
        }
        Ok(Dialect {
            delimiter: d.delimiter.0,
            quote: d.quote.0,
            header: d.header,
            skip_lines,
            encoding: d.encoding,
            decimal_comma: d.decimal_comma,
            null_markers: d.null_markers.clone(),
            sheet: SheetChoice {
                name: d.sheet_name.clone(),
                number: d.sheet_number,
                range,
                header_row: d.header_row,
            },
            value_labels: d.value_labels == crate::spec::raw::ValueLabels::Labels,
        })
    }
}

/// A source with its files, schema and dialect, and no stages yet: what `validate --schema`
/// checks, and what a pipeline's stages are added to.
pub(crate) fn bare_source(
    name: String,
    files: Vec<PathBuf>,
    schema: TableSchema,
    dialect: Dialect,
) -> SourcePlan {
    SourcePlan {
        name,
        files,
        columns: schema.field_names().map(String::from).collect(),
        schema,
        dialect,
        derives: Vec::new(),
        checks: Vec::new(),
        unpivot: None,
        harmonize: Vec::new(),
        late_derives: Vec::new(),
        late_checks: Vec::new(),
        design: None,
        finite: Vec::new(),
        referenced: Vec::new(),
        code_list_keys: Vec::new(),
    }
}

/// What a list's codes are. A list is a sex list when its codes are SDMX `CL_SEX` codes and
/// include `F` and `M`, whatever its name or file; then tables by it get `F`, `M`, `_U` and
/// the `_T = F + M + _U` check.
fn role(list: &CodeList, name: &str) -> Role {
    let sex_codes = CodeList::builtin("sex").expect("sex is embedded");
    let codes = || list.codes.iter().map(|c| c.code.as_str());
    let is_sex = !list.codes.is_empty()
        && codes().all(|c| sex_codes.contains_code(c))
        && [sex::FEMALE, sex::MALE]
            .iter()
            .all(|s| codes().any(|c| c == *s));
    if is_sex {
        Role::Sex
    } else if name == "country" {
        Role::Country
    } else {
        Role::Other
    }
}

/// A respondent without a usable weight, stratum, PSU or fpc cannot enter the estimates: such
/// rows go to the quarantine with their file and line, through the same checks as the
/// pipeline's own `[[check]]` rules, instead of failing the whole run.
fn design_checks(d: &DesignPlan) -> Vec<CheckPlan> {
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
