//! Resolving a `[[table]]`: its dimensions (and which one is sex), measures, filter, code
//! lists, SDMX identity and disclosure control.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{sdmx_id, sdmx_upper, Resolver};
use crate::codelist::{CodeList, RegionLevel};
use crate::error::Result;
use crate::spec::raw::{DisclosureSpec, DominanceSpec, MethodName, PipelineSpec, ReliabilitySpec};
use crate::spec::raw::{MeasureSpec, TableSdmxSpec, TableSpec};
use crate::spec::{
    Aggregate, DeriveKind, DesignPlan, Disclosure, Filter, MeasurePlan, Role, SdmxTable,
    SourcePlan, TablePlan, TimePeriod, DEFAULT_THRESHOLD,
};

impl Resolver<'_> {
    pub(super) fn table(
        &self,
        t: &TableSpec,
        sources: &[SourcePlan],
        spec: &PipelineSpec,
    ) -> Result<TablePlan> {
        let source = self.known_source(sources, &t.source)?;
        let context = format!("table `{}`", t.name.get_ref());
        let dimensions = self.dimensions(t, source, &context)?;
        // The sex dimension is the one harmonized through a list of SDMX sex codes.
        let sex = dimensions
            .iter()
            .find(|d| {
                source
                    .harmonize
                    .iter()
                    .any(|h| h.into == **d && h.role == Role::Sex)
            })
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
        let measures = self.measures(t, source, &dimensions, &context)?;
        let filter = match &t.filter {
            Some(f) => Some(Filter {
                expr: self.sql(&source.columns, f, &context)?.0,
                text: f.get_ref().clone(),
            }),
            None => None,
        };
        let codelists = codelists(source, &dimensions);
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
            notes: t.notes.clone(),
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

    fn dimensions(&self, t: &TableSpec, source: &SourcePlan, context: &str) -> Result<Vec<String>> {
        if t.dimensions.is_empty() {
            return self.err(
                t.name.span(),
                format!("{context}: declare at least one dimension"),
            );
        }
        let mut dimensions = Vec::new();
        for d in &t.dimensions {
            self.column_exists(&source.columns, d, context)?;
            if dimensions.contains(d.get_ref()) {
                return self.err(
                    d.span(),
                    format!("{context}: the dimension `{}` is listed twice", d.get_ref()),
                );
            }
            dimensions.push(d.get_ref().clone());
        }
        Ok(dimensions)
    }

    fn measures(
        &self,
        t: &TableSpec,
        source: &SourcePlan,
        dimensions: &[String],
        context: &str,
    ) -> Result<Vec<MeasurePlan>> {
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
            let measure = match &source.design {
                Some(design) => self.survey_measure(t, m, source, design, context)?,
                None => self.measure(m, source, context)?,
            };
            measures.push(measure);
        }
        Ok(measures)
    }

    /// A survey table has one measure: the weighted count, with the design weight.
    fn survey_measure(
        &self,
        t: &TableSpec,
        m: &MeasureSpec,
        source: &SourcePlan,
        design: &DesignPlan,
        context: &str,
    ) -> Result<MeasurePlan> {
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
        Ok(MeasurePlan {
            name: m.name.get_ref().clone(),
            agg: m.agg,
            column: Some(design.weight.clone()),
            unit: m.unit.clone().unwrap_or_else(|| "PS".into()),
        })
    }

    /// A measure of a table over register rows: a count, or a sum or weighted count of a column.
    fn measure(&self, m: &MeasureSpec, source: &SourcePlan, context: &str) -> Result<MeasurePlan> {
        let name = m.name.get_ref().clone();
        let column = match (m.agg, &m.column, &m.weight) {
            (Aggregate::Count, None, None) => None,
            (Aggregate::Sum, Some(c), None) | (Aggregate::WeightedCount, None, Some(c)) => {
                self.column_exists(&source.columns, c, context)?;
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
        Ok(MeasurePlan {
            name,
            agg: m.agg,
            column,
            unit,
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
        let name = method.map_or(MethodName::Suppress, |m| *m.get_ref());
        Ok(match name {
            MethodName::Suppress => Disclosure::Suppress {
                threshold: threshold.map(|n| *n.get_ref()).unwrap_or(DEFAULT_THRESHOLD),
                zeros: t.zeros_sensitive.or(p.zeros_sensitive).unwrap_or(false),
                dominance: dominance.map(|d| (d.get_ref().n, d.get_ref().k)),
                p_percent: p_percent.map(|x| *x.get_ref()),
            },
            MethodName::Round => Disclosure::Round {
                base: base.map(|b| *b.get_ref()).unwrap_or(3),
                seed: t.seed.or(p.seed).unwrap_or(0),
            },
            MethodName::None => match t.reason.as_ref().or(p.reason.as_ref()) {
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
        })
    }

    /// Where a table's SDMX time period comes from: one of its dimensions (with no total), a
    /// fixed period, or none.
    fn time_period(
        &self,
        spec: &TableSdmxSpec,
        dimensions: &[String],
        totals: &[String],
        context: &str,
    ) -> Result<TimePeriod> {
        Ok(match (&spec.time, &spec.time_period) {
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
        let time = self.time_period(spec, dimensions, totals, &context)?;
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
}

/// The code list each dimension's codes come from, where marsad knows it (for labels).
fn codelists(source: &SourcePlan, dimensions: &[String]) -> BTreeMap<String, Arc<CodeList>> {
    let mut codelists = BTreeMap::new();
    for d in dimensions {
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
                codelists.insert(
                    d.clone(),
                    Arc::new(CodeList::builtin(list).expect("embedded")),
                );
            }
        }
    }
    codelists
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
