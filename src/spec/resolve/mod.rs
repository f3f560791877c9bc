//! The resolver: turns what the user wrote into the plan, checking every name against what
//! exists at that point and pointing at the TOML line of any mistake.

mod source;
mod table;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::Expr;
use toml::Spanned;

use super::raw::{OutputSpec, PipelineSpec};
use super::{
    Format, OutputPlan, Overrides, Plan, SdmxAgency, SourcePlan, TablePlan, TimePeriod,
    DEFAULT_KEEP_RELEASES, DEFAULT_MAX_REJECTED,
};
use crate::codelist::CodeList;
use crate::error::{line_col, Error, Result};
use crate::lang::Lang;

pub(crate) use source::bare_source;

pub(super) struct Resolver<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    pub base: &'a Path,
    /// The embedded country list, loaded once and shared by every region derive.
    pub countries: Arc<CodeList>,
    /// Code list files read, for the run id.
    pub code_list_files: std::cell::RefCell<Vec<(PathBuf, String)>>,
}

impl Resolver<'_> {
    fn err<T>(&self, span: Range<usize>, message: impl Into<String>) -> Result<T> {
        let (line, column) = line_col(self.text, span.start);
        Err(Error::Config {
            file: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        })
    }

    pub(super) fn resolve(
        &self,
        spec: PipelineSpec,
        sha256: String,
        overrides: &Overrides,
    ) -> Result<Plan> {
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
        let name = spec.name.get_ref();
        let plain = std::path::Path::new(name).components().count() == 1
            && !name.contains(['/', '\\'])
            && name != ".."
            && name != ".";
        if !plain || name.trim().is_empty() {
            return self.err(
                spec.name.span(),
                format!("the pipeline's name `{name}` names its output folder: give a plain name without / or .."),
            );
        }
        if spec.sources.is_empty() {
            return self.err(0..0, "the pipeline has no [[source]]; declare at least one");
        }
        self.inputs_named(&spec, overrides)?;
        let mut sources = self.sources(&spec, overrides)?;
        let tables = self.tables(&spec, &sources)?;
        for source in &mut sources {
            source.finite = finite_columns(source, &tables);
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
            lang: overrides.lang.or(spec.lang).unwrap_or(Lang::En),
            lang_overridden: overrides.lang.is_some_and(|l| Some(l) != spec.lang),
            sources,
            tables,
            outputs,
            package: spec.package.clone(),
            sdmx,
            code_list_files: self.code_list_files.take(),
            output_root: overrides.output.clone().filter(|_| spec.outputs.len() > 1),
        })
    }

    fn inputs_named(&self, spec: &PipelineSpec, overrides: &Overrides) -> Result<()> {
        for (name, _) in &overrides.inputs {
            if !spec.sources.iter().any(|s| s.name.get_ref() == name) {
                let known: Vec<_> = spec
                    .sources
                    .iter()
                    .map(|s| s.name.get_ref().as_str())
                    .collect();
                return Err(Error::Usage {
                    message: format!(
                        "--input names the source `{name}`, which the pipeline {} does not declare (sources: {})",
                        self.path.display(),
                        known.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    fn sources(&self, spec: &PipelineSpec, overrides: &Overrides) -> Result<Vec<SourcePlan>> {
        let mut sources: Vec<SourcePlan> = Vec::new();
        for s in &spec.sources {
            if sources.iter().any(|p| p.name == *s.name.get_ref()) {
                return self.err(
                    s.name.span(),
                    format!("the source `{}` is declared twice", s.name.get_ref()),
                );
            }
            sources.push(self.source(s, spec, overrides)?);
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
        self.foreign_keys(spec, &mut sources)?;
        Ok(sources)
    }

    /// The codes of the code list a `foreignKeys` entry references (an embedded list by name,
    /// or a CSV file code,label,synonyms), whose key is its `code`.
    fn code_list_key(
        &self,
        fk: &crate::schema::ForeignKey,
        at: std::ops::Range<usize>,
        sources: &[SourcePlan],
    ) -> Result<Vec<String>> {
        let list = if fk.resource.ends_with(".csv") {
            let path = self.file(&fk.resource);
            let sha =
                std::fs::read(&path).map_or_else(|_| String::new(), |b| crate::sha256_hex(&b));
            self.code_list_files.borrow_mut().push((path.clone(), sha));
            Some(crate::codelist::CodeList::from_file(&path)?)
        } else {
            crate::codelist::CodeList::builtin(&fk.resource)
        };
        let Some(list) = list else {
            let names: Vec<&str> = sources.iter().map(|p| p.name.as_str()).collect();
            return self.err(at, format!(
                "the schema's foreignKeys reference the resource `{}`, which is no source of the pipeline (sources: {}) and no code list (embedded: {}; or a CSV file code,label,synonyms); a reference to the table itself (resource \"\") is not supported",
                fk.resource,
                names.join(", "),
                crate::codelist::BUILTIN.join(", ")
            ));
        };
        if fk.reference_fields != ["code"] {
            return self.err(at, format!(
                "the schema's foreignKeys reference the code list `{}` by `{}`: a code list's key is its `code`",
                fk.resource,
                fk.reference_fields.join(", ")
            ));
        }
        Ok(list.codes.iter().map(|c| c.code.clone()).collect())
    }

    /// Tie each `foreignKeys` entry to the source it references, which must be read first
    /// (declared before), and note on that source which fields to collect.
    fn foreign_keys(&self, spec: &PipelineSpec, sources: &mut [SourcePlan]) -> Result<()> {
        for (i, s) in spec.sources.iter().enumerate() {
            for fk in sources[i].schema.foreign_keys.clone() {
                let at = s.name.span();
                let Some(j) = sources.iter().position(|p| p.name == fk.resource) else {
                    let codes = self.code_list_key(&fk, at.clone(), sources)?;
                    sources[i].code_list_keys.push((
                        fk.resource.clone(),
                        fk.reference_fields.clone(),
                        codes,
                    ));
                    continue;
                };
                if j >= i {
                    return self.err(at, format!(
                        "the source `{}` references keys of `{}`: declare [[source]] `{}` before it, so that its keys are read first",
                        sources[i].name, fk.resource, fk.resource
                    ));
                }
                let target = &mut sources[j];
                if let Some(f) = fk
                    .reference_fields
                    .iter()
                    .find(|f| target.schema.field(f).is_none())
                {
                    return self.err(at, format!(
                        "the schema's foreignKeys reference the field `{f}` of `{}`, which its schema does not have",
                        target.name
                    ));
                }
                if !target.referenced.contains(&fk.reference_fields) {
                    target.referenced.push(fk.reference_fields.clone());
                }
            }
        }
        Ok(())
    }

    fn tables(&self, spec: &PipelineSpec, sources: &[SourcePlan]) -> Result<Vec<TablePlan>> {
        let mut tables: Vec<TablePlan> = Vec::new();
        for t in &spec.tables {
            if tables.iter().any(|p| p.name == *t.name.get_ref()) {
                return self.err(
                    t.name.span(),
                    format!("the table `{}` is declared twice", t.name.get_ref()),
                );
            }
            tables.push(self.table(t, sources, spec)?);
        }

        Ok(tables)
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
            let (line, column) = line_col(self.text, path.span().start);
            return Err(Error::NoMatch {
                file: self.path.to_path_buf(),
                line,
                column,
                pattern: raw.to_string(),
            });
        }
        Ok(files)
    }

    fn outputs(
        &self,
        spec: &PipelineSpec,
        tables: &[TablePlan],
        overrides: &Overrides,
    ) -> Result<Vec<OutputPlan>> {
        let mut outputs = Vec::new();
        for (i, o) in spec.outputs.iter().enumerate() {
            let name = o.name.clone().unwrap_or_else(|| {
                if spec.outputs.len() == 1 {
                    spec.name.get_ref().clone()
                } else {
                    format!("output{}", i + 1)
                }
            });
            let dir = match &overrides.output {
                Some(root) if spec.outputs.len() == 1 => clean(root),
                Some(root) => clean(&root.join(&name)),
                None => self.file(o.dir.get_ref()),
            };
            self.distinct_dir(&outputs, &dir, o)?;
            outputs.push(self.output(o, name, dir, spec, tables)?);
        }
        if outputs.is_empty() {
            // Without an [[output]], the dataset goes to `out/<name>` in the pipeline file's
            // folder: never above it, so that `/tmp/p.toml` does not write to `/out/p`.
            let dir = overrides
                .output
                .clone()
                .unwrap_or_else(|| clean(&self.base.join("out").join(spec.name.get_ref())));
            outputs.push(OutputPlan {
                name: spec.name.get_ref().clone(),
                dir,
                tables: tables.iter().map(|t| t.name.clone()).collect(),
                quarantine: true,
                keep_releases: DEFAULT_KEEP_RELEASES,
                formats: vec![Format::Parquet],
                partition_by: Vec::new(),
            });
        }
        Ok(outputs)
    }

    /// Two outputs in one folder, or one in another's `.restricted` (or other sibling), would
    /// replace each other's releases.
    fn distinct_dir(&self, outputs: &[OutputPlan], dir: &Path, o: &OutputSpec) -> Result<()> {
        let siblings = |d: &Path| -> Vec<PathBuf> {
            let mut all = vec![d.to_path_buf()];
            for s in ["restricted", "rejected", "releases", "validation"] {
                all.push(crate::paths::sibling(d, s));
            }
            all
        };
        let clash = outputs.iter().find(|other| {
            siblings(&other.dir).contains(&dir.to_path_buf()) || siblings(dir).contains(&other.dir)
        });
        match clash {
            Some(other) => self.err(
                o.dir.span(),
                format!(
                    "this output's folder {} is the folder of output `{}` or beside it; give each output its own folder",
                    dir.display(),
                    other.name
                ),
            ),
            None => Ok(()),
        }
    }

    fn output(
        &self,
        o: &OutputSpec,
        name: String,
        dir: PathBuf,
        spec: &PipelineSpec,
        tables: &[TablePlan],
    ) -> Result<OutputPlan> {
        let all: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
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
        let names = if o.tables.is_some() { names } else { all };
        let formats = self.formats(o, &name, spec, tables, &names)?;
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
        Ok(OutputPlan {
            name,
            dir,
            tables: names,
            quarantine: o.quarantine,
            keep_releases: o.keep_releases.unwrap_or(DEFAULT_KEEP_RELEASES).max(1),
            formats,
            partition_by,
        })
    }

    /// The output's formats (Parquet by default); SDMX needs the agency and a time period for
    /// every table written.
    fn formats(
        &self,
        o: &OutputSpec,
        name: &str,
        spec: &PipelineSpec,
        tables: &[TablePlan],
        names: &[String],
    ) -> Result<Vec<Format>> {
        let mut formats = Vec::new();
        for f in o.formats.iter().flatten() {
            let format = *f.get_ref();
            if format != Format::Parquet && spec.sdmx.is_none() {
                return self.err(
                    f.span(),
                    format!("output `{name}`: `{format}` needs an [sdmx] table with the agency"),
                );
            }
            formats.push(format);
        }
        if formats.is_empty() {
            formats.push(Format::Parquet);
        }
        if formats.iter().any(|f| *f != Format::Parquet) {
            let untimed = tables
                .iter()
                .find(|t| names.contains(&t.name) && t.sdmx.time == TimePeriod::None);
            if let Some(t) = untimed {
                return self.err(
                    o.dir.span(),
                    format!(
                        "output `{name}` writes SDMX, which needs a time period: give table `{}` a [table.sdmx] with `time = \"<dimension>\"` or `time_period = \"2024\"`",
                        t.name
                    ),
                );
            }
        }
        Ok(formats)
    }
}

/// SDMX ids: a letter, then letters, digits and underscores.
pub(super) fn sdmx_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A column or table name as an SDMX id: capitals, anything else an underscore.
pub(super) fn sdmx_upper(name: &str) -> String {
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
pub(crate) fn clean(path: &Path) -> PathBuf {
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

/// The columns of `source` that a table or the survey design reads as numbers.
fn finite_columns(source: &SourcePlan, tables: &[TablePlan]) -> Vec<String> {
    let design = source
        .design
        .iter()
        .flat_map(|d| std::iter::once(&d.weight).chain(&d.fpc));
    let measures = tables
        .iter()
        .filter(|t| t.source == source.name)
        .flat_map(|t| t.measures.iter().filter_map(|m| m.column.as_ref()));
    let mut columns: Vec<String> = design.chain(measures).cloned().collect();
    columns.sort();
    columns.dedup();
    columns
}
