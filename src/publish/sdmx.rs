//! SDMX exchange: SDMX-CSV 1.0 and 2.0 data files and the SDMX-ML 2.1 structure message that
//! describes them (data structure definitions, dataflows, concepts and the code lists used).
//!
//! Each table becomes one dataflow. Its dimensions are the table's dimensions, plus `INDICATOR`
//! (one code per measure, since SDMX 2.1 has a single `OBS_VALUE`) and `TIME_PERIOD`. Attributes,
//! all at observation level: `UNIT_MEASURE`, `UNIT_MULT`, `OBS_STATUS` and `CONF_STATUS`. A cell
//! hidden by disclosure control is still an observation: empty `OBS_VALUE`, `OBS_STATUS` `Q` and
//! `CONF_STATUS` `C` (primary) or `D` (secondary), so that a partner sees that the figure exists
//! and why it is not given. See the SDMX-CSV field guide (sdmx-twg/sdmx-csv) and the SDMX 2.1
//! standard, section 3 (SDMX-ML).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use polars::prelude::*;

use super::{neutralize, Written};
use crate::disclose::{CONF_STATUS, OBS_STATUS};
use crate::error::{EngineContext, Error, Result};
use crate::spec::{SdmxAgency, TablePlan, TimePeriod};

/// Observation status of a published figure (SDMX CL_OBS_STATUS): `A`, normal value.
pub const OBS_NORMAL: &str = "A";
/// Observation status of a figure hidden by disclosure control: `Q`, missing value; suppressed.
pub const OBS_SUPPRESSED: &str = "Q";
/// Confidentiality status (SDMX CL_CONF_STATUS): `F`, free for publication.
pub const CONF_FREE: &str = "F";
/// Confidentiality status of a sensitive cell: `C`, confidential statistical information.
pub const CONF_CONFIDENTIAL: &str = "C";

/// The codes of the two status attributes, with their labels, from the SDMX global code lists
/// of the SDMX Content-Oriented Guidelines (Annex 1, cross-domain concepts OBS_STATUS and
/// CONF_STATUS; code lists CL_OBS_STATUS and CL_CONF_STATUS, https://sdmx.org/?page_id=4345).
/// Only the codes marsad can write, or that a survey table may carry, are declared.
const OBS_STATUS_CODES: CodeTable = &[
    ("A", "Normal value"),
    ("E", "Estimated value"),
    ("O", "Missing value"),
    ("Q", "Missing value; suppressed"),
    ("U", "Low reliability"),
];
const CONF_STATUS_CODES: CodeTable = &[
    ("F", "Free"),
    ("C", "Confidential statistical information"),
    (
        "D",
        "Secondary confidentiality set by the sender, not for publication",
    ),
    ("N", "Not for publication, restricted for internal use only"),
];

/// Which SDMX-CSV version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvVersion {
    V1,
    V2,
}

/// The values of a status column, when the table has one (tables from disclosure control do).
fn status_values(df: &DataFrame, column: &str) -> PolarsResult<Option<Vec<String>>> {
    if df.get_column_names().iter().any(|c| c.as_str() == column) {
        text_values(df, column).map(Some)
    } else {
        Ok(None)
    }
}

/// The two status attributes of an observation and the value it carries. A cell flagged `Q`
/// never carries a value, whatever the measure holds. A cell flagged `U` (a low-reliability
/// survey estimate) keeps its value. A cell without a value that is not flagged `Q` (such as a
/// survey estimate too unreliable to publish) is not available, and is left out: SDMX reads an
/// absent observation as missing.
fn observation<'a>(
    value: &'a str,
    obs: Option<&'a str>,
    conf: Option<&'a str>,
) -> Option<(&'a str, &'a str, &'a str)> {
    let obs = obs.filter(|s| !s.is_empty()).unwrap_or(OBS_NORMAL);
    if obs == OBS_SUPPRESSED {
        let conf = conf
            .filter(|s| !s.is_empty() && *s != CONF_FREE)
            .unwrap_or(CONF_CONFIDENTIAL);
        return Some(("", obs, conf));
    }
    if value.is_empty() {
        return None;
    }
    Some((
        value,
        obs,
        conf.filter(|s| !s.is_empty()).unwrap_or(CONF_FREE),
    ))
}

fn text_values(df: &DataFrame, column: &str) -> PolarsResult<Vec<String>> {
    crate::tabulate::text_column(df, column, "")
}

/// Numbers as SDMX writes them: integers without a decimal point, others with up to 6 decimals.
fn number_values(df: &DataFrame, column: &str) -> PolarsResult<Vec<String>> {
    let c = df.column(column)?;
    if c.dtype().is_integer() {
        let c = c.cast(&DataType::Int64)?;
        Ok(c.i64()?
            .iter()
            .map(|v| v.map(|v| v.to_string()).unwrap_or_default())
            .collect())
    } else {
        let c = c.cast(&DataType::Float64)?;
        Ok(c.f64()?
            .iter()
            .map(|v| match v {
                Some(v) if v.is_finite() => {
                    let s = format!("{v:.6}");
                    s.trim_end_matches('0').trim_end_matches('.').to_string()
                }
                _ => String::new(),
            })
            .collect())
    }
}

/// The data structure definition of a table's dataflow: `DF_X` is described by `DSD_X`.
fn dsd_id(table: &TablePlan) -> String {
    format!("DSD_{}", table.sdmx.dataflow.trim_start_matches("DF_"))
}

pub fn structure_ref(agency: &SdmxAgency, id: &str) -> String {
    format!("{}:{}({})", agency.agency, id, agency.version)
}

/// Write one table as SDMX-CSV.
pub fn write_csv(
    root: &Path,
    path: &Path,
    df: &DataFrame,
    table: &TablePlan,
    agency: &SdmxAgency,
    version: CsvVersion,
) -> Result<Written> {
    let context = || format!("writing {}", path.display());
    let dims: Vec<(&String, &String)> = table
        .dimensions
        .iter()
        .filter_map(|d| table.sdmx.concepts.get(d).map(|c| (d, c)))
        .collect();
    let mut header: Vec<String> = match version {
        CsvVersion::V1 => vec!["DATAFLOW".into()],
        CsvVersion::V2 => vec!["STRUCTURE".into(), "STRUCTURE_ID".into(), "ACTION".into()],
    };
    header.extend(dims.iter().map(|(_, c)| c.to_string()));
    header.extend(
        [
            "INDICATOR",
            "TIME_PERIOD",
            "OBS_VALUE",
            "UNIT_MEASURE",
            "UNIT_MULT",
            "OBS_STATUS",
            "CONF_STATUS",
        ]
        .map(String::from),
    );
    let dim_values: Vec<Vec<String>> = dims
        .iter()
        .map(|(d, _)| text_values(df, d))
        .collect::<PolarsResult<_>>()
        .at(context)?;
    let time: Vec<String> = match &table.sdmx.time {
        TimePeriod::Dimension(d) => text_values(df, d).at(context)?,
        TimePeriod::Fixed(p) => vec![p.clone(); df.height()],
        TimePeriod::None => vec![String::new(); df.height()],
    };
    let obs_status = status_values(df, OBS_STATUS).at(context)?;
    let conf_status = status_values(df, CONF_STATUS).at(context)?;
    let flow = structure_ref(agency, &table.sdmx.dataflow);
    let file = std::fs::File::create(path).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
    let csv_error = |e: csv::Error| Error::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    w.write_record(&header).map_err(csv_error)?;
    let mut rows = 0u64;
    for m in &table.measures {
        let values = number_values(df, &m.name).at(context)?;
        for i in 0..df.height() {
            let Some((value, obs, conf)) = observation(
                &values[i],
                obs_status.as_ref().map(|s| s[i].as_str()),
                conf_status.as_ref().map(|s| s[i].as_str()),
            ) else {
                continue;
            };
            let mut record: Vec<String> = match version {
                CsvVersion::V1 => vec![flow.clone()],
                CsvVersion::V2 => vec!["dataflow".into(), flow.clone(), "I".into()],
            };
            record.extend(dim_values.iter().map(|v| neutralize(&v[i]).into_owned()));
            record.push(m.name.clone());
            record.push(time[i].clone());
            record.push(value.into());
            record.push(m.unit.clone());
            record.push("0".into());
            record.push(obs.into());
            record.push(conf.into());
            w.write_record(&record).map_err(csv_error)?;
            rows += 1;
        }
    }
    w.flush().map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    drop(w);
    super::describe(root, path, rows)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The opening of a maintainable artefact (dataflow, code list, concept scheme, structure) with
/// its name.
fn open_artefact(out: &mut String, tag: &str, id: &str, agency: &SdmxAgency, label: &str) {
    let _ = writeln!(
        out,
        "      <str:{tag} id=\"{id}\" agencyID=\"{}\" version=\"{}\">",
        agency.agency, agency.version
    );
    name(out, "        ", label);
}

fn name(out: &mut String, indent: &str, text: &str) {
    let _ = writeln!(
        out,
        "{indent}<com:Name xml:lang=\"en\">{}</com:Name>",
        escape(text)
    );
}

fn reference(
    out: &mut String,
    indent: &str,
    id: &str,
    agency: &SdmxAgency,
    package: &str,
    class: &str,
    parent: Option<&str>,
) {
    let _ = match parent {
        Some(p) => writeln!(
            out,
            "{indent}<Ref id=\"{id}\" maintainableParentID=\"{p}\" maintainableParentVersion=\"{}\" agencyID=\"{}\" package=\"{package}\" class=\"{class}\"/>",
            agency.version, agency.agency
        ),
        None => writeln!(
            out,
            "{indent}<Ref id=\"{id}\" version=\"{}\" agencyID=\"{}\" package=\"{package}\" class=\"{class}\"/>",
            agency.version, agency.agency
        ),
    };
}

/// Codes and labels of the attribute code lists marsad always declares.
type CodeTable = &'static [(&'static str, &'static str)];

/// A code list in the structure message: its codes and their labels.
struct Codes {
    id: String,
    name: String,
    codes: BTreeMap<String, String>,
}

/// Labels of the codes marsad writes itself.
fn pseudo_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "_T" => "Total",
        "_U" => "Unknown",
        "_O" => "Other",
        "_Z" => "Not applicable",
        "_N" => "Non response",
        _ => return None,
    })
}

/// The SDMX-ML 2.1 structure message for the tables written as SDMX.
pub fn structure(
    pipeline: &str,
    agency: &SdmxAgency,
    tables: &[(&TablePlan, &DataFrame)],
) -> Result<String> {
    let scheme = format!(
        "CS_{}",
        pipeline
            .to_uppercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    // concept -> code list, merged across tables (a concept has one code list)
    let mut lists: BTreeMap<String, Codes> = BTreeMap::new();
    let mut concepts: BTreeMap<String, String> = BTreeMap::new();
    for (table, df) in tables {
        for (dim, concept) in &table.sdmx.concepts {
            let values =
                text_values(df, dim).at(|| format!("describing table `{}`", table.name))?;
            let entry = lists.entry(concept.clone()).or_insert_with(|| Codes {
                id: format!("CL_{concept}"),
                name: dim.replace('_', " "),
                codes: BTreeMap::new(),
            });
            concepts.insert(concept.clone(), dim.replace('_', " "));
            for v in values {
                let label = table
                    .codelists
                    .get(dim)
                    .and_then(|l| l.label(&v))
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .or_else(|| pseudo_label(&v).map(String::from))
                    .unwrap_or_else(|| v.clone());
                entry.codes.entry(v).or_insert(label);
            }
        }
        let indicator = lists.entry("INDICATOR".into()).or_insert_with(|| Codes {
            id: "CL_INDICATOR".into(),
            name: "Indicator".into(),
            codes: BTreeMap::new(),
        });
        for m in &table.measures {
            indicator
                .codes
                .insert(m.name.clone(), m.name.replace('_', " "));
        }
        let units = lists.entry("UNIT_MEASURE".into()).or_insert_with(|| Codes {
            id: "CL_UNIT_MEASURE".into(),
            name: "Unit of measure".into(),
            codes: BTreeMap::new(),
        });
        for m in &table.measures {
            let label = match m.unit.as_str() {
                "PS" => "Persons",
                "_Z" => "Not applicable",
                other => other,
            };
            units.codes.insert(m.unit.clone(), label.into());
        }
    }
    concepts.insert("INDICATOR".into(), "Indicator".into());
    let fixed: [(&str, &str, CodeTable); 2] = [
        ("OBS_STATUS", "Observation status", OBS_STATUS_CODES),
        ("CONF_STATUS", "Confidentiality status", CONF_STATUS_CODES),
    ];
    for (id, label, codes) in fixed {
        lists.insert(
            id.into(),
            Codes {
                id: format!("CL_{id}"),
                name: label.into(),
                codes: codes
                    .iter()
                    .map(|(c, l)| (c.to_string(), l.to_string()))
                    .collect(),
            },
        );
    }
    for (id, label) in [
        ("TIME_PERIOD", "Time period"),
        ("OBS_VALUE", "Observation value"),
        ("UNIT_MEASURE", "Unit of measure"),
        ("UNIT_MULT", "Unit multiplier"),
        ("OBS_STATUS", "Observation status"),
        ("CONF_STATUS", "Confidentiality status"),
    ] {
        concepts.insert(id.into(), label.into());
    }

    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<mes:Structure xmlns:mes=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message\" xmlns:str=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure\" xmlns:com=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common\" xmlns:xml=\"http://www.w3.org/XML/1998/namespace\">\n");
    // A fixed preparation date keeps the file identical across reruns of the same inputs.
    let _ = writeln!(
        x,
        "  <mes:Header>\n    <mes:ID>{}</mes:ID>\n    <mes:Test>false</mes:Test>\n    <mes:Prepared>2000-01-01T00:00:00</mes:Prepared>\n    <mes:Sender id=\"{}\"/>\n  </mes:Header>",
        escape(&scheme.replacen("CS_", "STR_", 1)),
        escape(&agency.agency)
    );
    x.push_str("  <mes:Structures>\n");

    x.push_str("    <str:Dataflows>\n");
    for (table, _) in tables {
        let dsd = dsd_id(table);
        open_artefact(
            &mut x,
            "Dataflow",
            &table.sdmx.dataflow,
            agency,
            table.title.as_deref().unwrap_or(&table.name),
        );
        x.push_str("        <str:Structure>\n");
        reference(
            &mut x,
            "          ",
            &dsd,
            agency,
            "datastructure",
            "DataStructure",
            None,
        );
        x.push_str("        </str:Structure>\n      </str:Dataflow>\n");
    }
    x.push_str("    </str:Dataflows>\n");

    x.push_str("    <str:Codelists>\n");
    for list in lists.values() {
        open_artefact(&mut x, "Codelist", &list.id, agency, &list.name);
        for (code, label) in &list.codes {
            let _ = writeln!(x, "        <str:Code id=\"{}\">", escape(code));
            name(&mut x, "          ", label);
            x.push_str("        </str:Code>\n");
        }
        x.push_str("      </str:Codelist>\n");
    }
    x.push_str("    </str:Codelists>\n");

    x.push_str("    <str:Concepts>\n");
    open_artefact(
        &mut x,
        "ConceptScheme",
        &scheme,
        agency,
        &format!("Concepts of {pipeline}"),
    );
    for (id, label) in &concepts {
        let _ = writeln!(x, "        <str:Concept id=\"{id}\">");
        name(&mut x, "          ", label);
        x.push_str("        </str:Concept>\n");
    }
    x.push_str("      </str:ConceptScheme>\n    </str:Concepts>\n");

    x.push_str("    <str:DataStructures>\n");
    for (table, _) in tables {
        let dsd = dsd_id(table);
        open_artefact(
            &mut x,
            "DataStructure",
            &dsd,
            agency,
            table.title.as_deref().unwrap_or(&table.name),
        );
        x.push_str("        <str:DataStructureComponents>\n          <str:DimensionList id=\"DimensionDescriptor\">\n");
        let mut position = 0;
        let coded = |x: &mut String,
                     id: &str,
                     concept_list: &str,
                     element: &str,
                     position: Option<usize>| {
            let pos = position
                .map(|p| format!(" position=\"{p}\""))
                .unwrap_or_default();
            let _ = writeln!(x, "            <str:{element} id=\"{id}\"{pos}>");
            x.push_str("              <str:ConceptIdentity>\n");
            reference(
                x,
                "                ",
                id,
                agency,
                "conceptscheme",
                "Concept",
                Some(&scheme),
            );
            x.push_str("              </str:ConceptIdentity>\n              <str:LocalRepresentation>\n                <str:Enumeration>\n");
            reference(
                x,
                "                  ",
                concept_list,
                agency,
                "codelist",
                "Codelist",
                None,
            );
            x.push_str(
                "                </str:Enumeration>\n              </str:LocalRepresentation>\n",
            );
        };
        for d in &table.dimensions {
            if let Some(concept) = table.sdmx.concepts.get(d) {
                position += 1;
                coded(
                    &mut x,
                    concept,
                    &format!("CL_{concept}"),
                    "Dimension",
                    Some(position),
                );
                x.push_str("            </str:Dimension>\n");
            }
        }
        position += 1;
        coded(
            &mut x,
            "INDICATOR",
            "CL_INDICATOR",
            "Dimension",
            Some(position),
        );
        x.push_str("            </str:Dimension>\n");
        position += 1;
        let _ = writeln!(
            x,
            "            <str:TimeDimension id=\"TIME_PERIOD\" position=\"{position}\">"
        );
        x.push_str("              <str:ConceptIdentity>\n");
        reference(
            &mut x,
            "                ",
            "TIME_PERIOD",
            agency,
            "conceptscheme",
            "Concept",
            Some(&scheme),
        );
        x.push_str("              </str:ConceptIdentity>\n              <str:LocalRepresentation>\n                <str:TextFormat textType=\"ObservationalTimePeriod\"/>\n              </str:LocalRepresentation>\n            </str:TimeDimension>\n");
        x.push_str("          </str:DimensionList>\n          <str:AttributeList id=\"AttributeDescriptor\">\n");
        // Every attribute is attached to the observation (the primary measure). The two status
        // attributes are mandatory: every observation carries them, and they are what tells a
        // reader why an observation has no value.
        for (id, list, status) in [
            ("UNIT_MEASURE", Some("CL_UNIT_MEASURE"), "Conditional"),
            ("UNIT_MULT", None, "Conditional"),
            ("OBS_STATUS", Some("CL_OBS_STATUS"), "Mandatory"),
            ("CONF_STATUS", Some("CL_CONF_STATUS"), "Mandatory"),
        ] {
            let _ = writeln!(
                x,
                "            <str:Attribute id=\"{id}\" assignmentStatus=\"{status}\">"
            );
            x.push_str("              <str:ConceptIdentity>\n");
            reference(
                &mut x,
                "                ",
                id,
                agency,
                "conceptscheme",
                "Concept",
                Some(&scheme),
            );
            x.push_str(
                "              </str:ConceptIdentity>\n              <str:LocalRepresentation>\n",
            );
            match list {
                Some(l) => {
                    x.push_str("                <str:Enumeration>\n");
                    reference(
                        &mut x,
                        "                  ",
                        l,
                        agency,
                        "codelist",
                        "Codelist",
                        None,
                    );
                    x.push_str("                </str:Enumeration>\n");
                }
                None => x.push_str("                <str:TextFormat textType=\"Integer\"/>\n"),
            }
            x.push_str("              </str:LocalRepresentation>\n              <str:AttributeRelationship>\n                <str:PrimaryMeasure>\n                  <Ref id=\"OBS_VALUE\"/>\n                </str:PrimaryMeasure>\n              </str:AttributeRelationship>\n            </str:Attribute>\n");
        }
        x.push_str("          </str:AttributeList>\n          <str:MeasureList id=\"MeasureDescriptor\">\n            <str:PrimaryMeasure id=\"OBS_VALUE\">\n              <str:ConceptIdentity>\n");
        reference(
            &mut x,
            "                ",
            "OBS_VALUE",
            agency,
            "conceptscheme",
            "Concept",
            Some(&scheme),
        );
        x.push_str("              </str:ConceptIdentity>\n              <str:LocalRepresentation>\n                <str:TextFormat textType=\"Double\"/>\n              </str:LocalRepresentation>\n            </str:PrimaryMeasure>\n          </str:MeasureList>\n        </str:DataStructureComponents>\n      </str:DataStructure>\n");
    }
    x.push_str("    </str:DataStructures>\n  </mes:Structures>\n</mes:Structure>\n");
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppressed_cells_are_observations_without_a_value() {
        // published cells keep their value and flags
        assert_eq!(
            observation("12", Some("A"), Some("F")),
            Some(("12", "A", "F"))
        );
        // a low-reliability estimate keeps its value
        assert_eq!(
            observation("3.5", Some("U"), Some("F")),
            Some(("3.5", "U", "F"))
        );
        // hidden cells: no value, Q, and C or D
        assert_eq!(observation("", Some("Q"), Some("D")), Some(("", "Q", "D")));
        assert_eq!(observation("", Some("Q"), Some("C")), Some(("", "Q", "C")));
        // a value under Q is never written; a Q cell is never said to be free
        assert_eq!(observation("4", Some("Q"), Some("F")), Some(("", "Q", "C")));
        assert_eq!(observation("", Some("Q"), None), Some(("", "Q", "C")));
        // a table without status columns: normal and free; a missing value is left out
        assert_eq!(observation("7", None, None), Some(("7", "A", "F")));
        assert_eq!(observation("", None, None), None);
        assert_eq!(observation("", Some("A"), Some("F")), None);
        // an estimate too unreliable to publish has no value and no confidentiality: left out
        assert_eq!(observation("", Some("U"), Some("F")), None);
    }
}
