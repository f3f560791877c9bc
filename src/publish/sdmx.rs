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
use std::io;
use std::path::Path;

use polars::prelude::*;
use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::{neutralize, Written};
use crate::disclose::{CONF_STATUS, OBS_STATUS};
use crate::error::{EngineContext, Error, Result};
use crate::spec::{SdmxAgency, TablePlan, TimePeriod};
use crate::vocab::{ConfStatus, ObsStatus};

/// The status codes an observation carries when its table has none (see `vocab`).
const OBS_NORMAL: &str = ObsStatus::Normal.code();
const OBS_SUPPRESSED: &str = ObsStatus::Suppressed.code();
const CONF_FREE: &str = ConfStatus::Free.code();
const CONF_CONFIDENTIAL: &str = ConfStatus::Confidential.code();

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

/// Codes and labels of the attribute code lists marsad always declares.
type CodeTable = &'static [(&'static str, &'static str)];

/// A code list in the structure message: its codes and their labels.
struct Codes {
    id: String,
    name: String,
    codes: BTreeMap<String, String>,
}

impl Codes {
    fn new(id: String, name: &str) -> Self {
        Codes {
            id,
            name: name.into(),
            codes: BTreeMap::new(),
        }
    }
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

/// What the structure message declares besides the tables: the code list of each concept
/// (merged across tables, with only the codes they use) and the label of each concept.
#[derive(Default)]
struct Declarations {
    lists: BTreeMap<String, Codes>,
    concepts: BTreeMap<String, String>,
}

impl Declarations {
    fn of(tables: &[(&TablePlan, &DataFrame)]) -> Result<Self> {
        let mut d = Declarations::default();
        for (table, df) in tables {
            d.add_dimensions(table, df)?;
            d.add_measures(table);
        }
        d.add_fixed();
        Ok(d)
    }

    /// The codes of a table's dimensions, with their labels from the table's code lists (or
    /// the code itself); a code keeps the label it was first given.
    fn add_dimensions(&mut self, table: &TablePlan, df: &DataFrame) -> Result<()> {
        for (dim, concept) in &table.sdmx.concepts {
            let values =
                text_values(df, dim).at(|| format!("describing table `{}`", table.name))?;
            let label = dim.replace('_', " ");
            let entry = self
                .lists
                .entry(concept.clone())
                .or_insert_with(|| Codes::new(format!("CL_{concept}"), &label));
            self.concepts.insert(concept.clone(), label);
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
        Ok(())
    }

    /// One `INDICATOR` code per measure, and the units of the measures.
    fn add_measures(&mut self, table: &TablePlan) {
        let indicator = self
            .lists
            .entry("INDICATOR".into())
            .or_insert_with(|| Codes::new("CL_INDICATOR".into(), "Indicator"));
        for m in &table.measures {
            indicator
                .codes
                .insert(m.name.clone(), m.name.replace('_', " "));
        }
        let units = self
            .lists
            .entry("UNIT_MEASURE".into())
            .or_insert_with(|| Codes::new("CL_UNIT_MEASURE".into(), "Unit of measure"));
        for m in &table.measures {
            let label = match m.unit.as_str() {
                "PS" => "Persons",
                "_Z" => "Not applicable",
                other => other,
            };
            units.codes.insert(m.unit.clone(), label.into());
        }
    }

    /// The concepts every dataflow has, and the two status code lists.
    fn add_fixed(&mut self) {
        self.concepts.insert("INDICATOR".into(), "Indicator".into());
        let fixed: [(&str, &str, CodeTable); 2] = [
            ("OBS_STATUS", "Observation status", OBS_STATUS_CODES),
            ("CONF_STATUS", "Confidentiality status", CONF_STATUS_CODES),
        ];
        for (id, label, codes) in fixed {
            let mut list = Codes::new(format!("CL_{id}"), label);
            list.codes = codes
                .iter()
                .map(|(c, l)| (c.to_string(), l.to_string()))
                .collect();
            self.lists.insert(id.into(), list);
        }
        for (id, label) in [
            ("TIME_PERIOD", "Time period"),
            ("OBS_VALUE", "Observation value"),
            ("UNIT_MEASURE", "Unit of measure"),
            ("UNIT_MULT", "Unit multiplier"),
            ("OBS_STATUS", "Observation status"),
            ("CONF_STATUS", "Confidentiality status"),
        ] {
            self.concepts.insert(id.into(), label.into());
        }
    }
}

/// The namespaces declared on the message's root element, in the order they are written.
const NAMESPACES: [(&str, &str); 4] = [
    (
        "xmlns:mes",
        "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message",
    ),
    (
        "xmlns:str",
        "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure",
    ),
    (
        "xmlns:com",
        "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common",
    ),
    ("xmlns:xml", "http://www.w3.org/XML/1998/namespace"),
];

/// How the values of a component are represented: the codes of a code list, or a text type.
#[derive(Clone, Copy)]
enum Values<'s> {
    Codes(&'s str),
    Text(&'s str),
}

/// The structure message being written. quick-xml's writer indents it and escapes every
/// attribute value and text; every artefact is maintained by `agency`, and every concept belongs
/// to the one concept scheme `scheme`.
struct Message<'a> {
    w: Writer<Vec<u8>>,
    agency: &'a SdmxAgency,
    scheme: &'a str,
}

impl<'a> Message<'a> {
    fn new(agency: &'a SdmxAgency, scheme: &'a str) -> Self {
        Message {
            w: Writer::new_with_indent(Vec::new(), b' ', 2),
            agency,
            scheme,
        }
    }

    /// The whole message, ending with a newline.
    fn write(
        mut self,
        pipeline: &str,
        tables: &[(&TablePlan, &DataFrame)],
        declared: &Declarations,
    ) -> io::Result<String> {
        let declaration = BytesDecl::new("1.0", Some("UTF-8"), None);
        self.w.write_event(Event::Decl(declaration))?;
        self.start("mes:Structure", &NAMESPACES)?;
        self.header()?;
        self.start("mes:Structures", &[])?;
        self.dataflows(tables)?;
        self.codelists(&declared.lists)?;
        self.concept_scheme(pipeline, &declared.concepts)?;
        self.data_structures(tables)?;
        self.end("mes:Structures")?;
        self.end("mes:Structure")?;
        let mut bytes = self.w.into_inner();
        bytes.push(b'\n');
        String::from_utf8(bytes).map_err(io::Error::other)
    }

    fn start(&mut self, tag: &str, attributes: &[(&str, &str)]) -> io::Result<()> {
        let mut e = BytesStart::new(tag);
        e.extend_attributes(attributes.iter().copied());
        self.w.write_event(Event::Start(e))
    }

    fn end(&mut self, tag: &str) -> io::Result<()> {
        self.w.write_event(Event::End(BytesEnd::new(tag)))
    }

    fn empty(&mut self, tag: &str, attributes: &[(&str, &str)]) -> io::Result<()> {
        let mut e = BytesStart::new(tag);
        e.extend_attributes(attributes.iter().copied());
        self.w.write_event(Event::Empty(e))
    }

    /// An element holding text, on one line. The text is escaped by quick-xml's
    /// `partial_escape` (`<`, `>`, `&`): quotes need no escaping in text, and are left as they
    /// are (a label `Côte d'Ivoire` stays so).
    fn text(&mut self, tag: &str, attributes: &[(&str, &str)], text: &str) -> io::Result<()> {
        self.start(tag, attributes)?;
        let text = BytesText::from_escaped(partial_escape(text));
        self.w.write_event(Event::Text(text))?;
        self.end(tag)
    }

    fn name(&mut self, label: &str) -> io::Result<()> {
        self.text("com:Name", &[("xml:lang", "en")], label)
    }

    /// The opening of a maintainable artefact (dataflow, code list, concept scheme, structure)
    /// with its name; the caller closes it.
    fn open_artefact(&mut self, tag: &str, id: &str, label: &str) -> io::Result<()> {
        let agency = self.agency;
        self.start(
            tag,
            &[
                ("id", id),
                ("agencyID", &agency.agency),
                ("version", &agency.version),
            ],
        )?;
        self.name(label)
    }

    /// A reference to an artefact of the agency, or to an item (`id`) of one (`parent`).
    fn reference(
        &mut self,
        id: &str,
        package: &str,
        class: &str,
        parent: Option<&str>,
    ) -> io::Result<()> {
        let agency = self.agency;
        let mut attributes = vec![("id", id)];
        match parent {
            Some(p) => attributes.extend([
                ("maintainableParentID", p),
                ("maintainableParentVersion", &agency.version),
            ]),
            None => attributes.push(("version", &agency.version)),
        }
        attributes.extend([
            ("agencyID", agency.agency.as_str()),
            ("package", package),
            ("class", class),
        ]);
        self.empty("Ref", &attributes)
    }

    fn header(&mut self) -> io::Result<()> {
        self.start("mes:Header", &[])?;
        self.text("mes:ID", &[], &self.scheme.replacen("CS_", "STR_", 1))?;
        self.text("mes:Test", &[], "false")?;
        // A fixed preparation date keeps the file identical across reruns of the same inputs.
        self.text("mes:Prepared", &[], "2000-01-01T00:00:00")?;
        let agency = self.agency;
        self.empty("mes:Sender", &[("id", &agency.agency)])?;
        self.end("mes:Header")
    }

    fn dataflows(&mut self, tables: &[(&TablePlan, &DataFrame)]) -> io::Result<()> {
        self.start("str:Dataflows", &[])?;
        for (table, _) in tables {
            let title = table.title.as_deref().unwrap_or(&table.name);
            self.open_artefact("str:Dataflow", &table.sdmx.dataflow, title)?;
            self.start("str:Structure", &[])?;
            self.reference(&dsd_id(table), "datastructure", "DataStructure", None)?;
            self.end("str:Structure")?;
            self.end("str:Dataflow")?;
        }
        self.end("str:Dataflows")
    }

    fn codelists(&mut self, lists: &BTreeMap<String, Codes>) -> io::Result<()> {
        self.start("str:Codelists", &[])?;
        for list in lists.values() {
            self.open_artefact("str:Codelist", &list.id, &list.name)?;
            for (code, label) in &list.codes {
                self.start("str:Code", &[("id", code)])?;
                self.name(label)?;
                self.end("str:Code")?;
            }
            self.end("str:Codelist")?;
        }
        self.end("str:Codelists")
    }

    fn concept_scheme(
        &mut self,
        pipeline: &str,
        concepts: &BTreeMap<String, String>,
    ) -> io::Result<()> {
        self.start("str:Concepts", &[])?;
        let label = format!("Concepts of {pipeline}");
        self.open_artefact("str:ConceptScheme", self.scheme, &label)?;
        for (id, label) in concepts {
            self.start("str:Concept", &[("id", id)])?;
            self.name(label)?;
            self.end("str:Concept")?;
        }
        self.end("str:ConceptScheme")?;
        self.end("str:Concepts")
    }

    fn data_structures(&mut self, tables: &[(&TablePlan, &DataFrame)]) -> io::Result<()> {
        self.start("str:DataStructures", &[])?;
        for (table, _) in tables {
            let title = table.title.as_deref().unwrap_or(&table.name);
            self.open_artefact("str:DataStructure", &dsd_id(table), title)?;
            self.start("str:DataStructureComponents", &[])?;
            self.dimension_list(table)?;
            self.attribute_list()?;
            self.measure_list()?;
            self.end("str:DataStructureComponents")?;
            self.end("str:DataStructure")?;
        }
        self.end("str:DataStructures")
    }

    /// The concept a component stands for.
    fn concept_identity(&mut self, id: &str) -> io::Result<()> {
        self.start("str:ConceptIdentity", &[])?;
        self.reference(id, "conceptscheme", "Concept", Some(self.scheme))?;
        self.end("str:ConceptIdentity")
    }

    /// How a component's values are written.
    fn representation(&mut self, values: Values) -> io::Result<()> {
        self.start("str:LocalRepresentation", &[])?;
        match values {
            Values::Codes(list) => {
                self.start("str:Enumeration", &[])?;
                self.reference(list, "codelist", "Codelist", None)?;
                self.end("str:Enumeration")?;
            }
            Values::Text(text_type) => {
                self.empty("str:TextFormat", &[("textType", text_type)])?;
            }
        }
        self.end("str:LocalRepresentation")
    }

    /// The table's dimensions, `INDICATOR` and `TIME_PERIOD`, numbered from 1.
    fn dimension_list(&mut self, table: &TablePlan) -> io::Result<()> {
        self.start("str:DimensionList", &[("id", "DimensionDescriptor")])?;
        let concepts = table
            .dimensions
            .iter()
            .filter_map(|d| table.sdmx.concepts.get(d).map(String::as_str))
            .chain(["INDICATOR"]);
        let mut position = 0;
        for concept in concepts {
            position += 1;
            let at = position.to_string();
            self.start("str:Dimension", &[("id", concept), ("position", &at)])?;
            self.concept_identity(concept)?;
            self.representation(Values::Codes(&format!("CL_{concept}")))?;
            self.end("str:Dimension")?;
        }
        let at = (position + 1).to_string();
        let time = "TIME_PERIOD";
        self.start("str:TimeDimension", &[("id", time), ("position", &at)])?;
        self.concept_identity(time)?;
        self.representation(Values::Text("ObservationalTimePeriod"))?;
        self.end("str:TimeDimension")?;
        self.end("str:DimensionList")
    }

    /// Every attribute is attached to the observation (the primary measure). The two status
    /// attributes are mandatory: every observation carries them, and they are what tells a
    /// reader why an observation has no value.
    fn attribute_list(&mut self) -> io::Result<()> {
        self.start("str:AttributeList", &[("id", "AttributeDescriptor")])?;
        for (id, values, status) in [
            (
                "UNIT_MEASURE",
                Values::Codes("CL_UNIT_MEASURE"),
                "Conditional",
            ),
            ("UNIT_MULT", Values::Text("Integer"), "Conditional"),
            ("OBS_STATUS", Values::Codes("CL_OBS_STATUS"), "Mandatory"),
            ("CONF_STATUS", Values::Codes("CL_CONF_STATUS"), "Mandatory"),
        ] {
            let attributes = [("id", id), ("assignmentStatus", status)];
            self.start("str:Attribute", &attributes)?;
            self.concept_identity(id)?;
            self.representation(values)?;
            self.start("str:AttributeRelationship", &[])?;
            self.start("str:PrimaryMeasure", &[])?;
            self.empty("Ref", &[("id", "OBS_VALUE")])?;
            self.end("str:PrimaryMeasure")?;
            self.end("str:AttributeRelationship")?;
            self.end("str:Attribute")?;
        }
        self.end("str:AttributeList")
    }

    fn measure_list(&mut self) -> io::Result<()> {
        self.start("str:MeasureList", &[("id", "MeasureDescriptor")])?;
        self.start("str:PrimaryMeasure", &[("id", "OBS_VALUE")])?;
        self.concept_identity("OBS_VALUE")?;
        self.representation(Values::Text("Double"))?;
        self.end("str:PrimaryMeasure")?;
        self.end("str:MeasureList")
    }
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
    let declared = Declarations::of(tables)?;
    // Writing into memory does not fail; the error is still passed on rather than unwrapped.
    Message::new(agency, &scheme)
        .write(pipeline, tables, &declared)
        .map_err(|source| Error::Write {
            path: Path::new("sdmx").join("structure.xml"),
            source,
        })
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

    /// Walk every event of `xml` with quick-xml's reader, decoding every attribute and every
    /// entity, and return the values of the `version` attributes and the texts of the names.
    fn walk(xml: &str) -> (Vec<String>, Vec<String>) {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(xml);
        let (mut versions, mut names) = (Vec::new(), Vec::new());
        let (mut depth, mut roots) = (0usize, 0usize);
        let mut text: Option<String> = None;
        loop {
            let event = reader.read_event().expect("well-formed XML");
            if let Event::Start(e) | Event::Empty(e) = &event {
                if depth == 0 {
                    roots += 1;
                }
                for a in e.attributes() {
                    let a = a.expect("well-formed attribute");
                    let value = a.unescape_value().expect("attribute value").into_owned();
                    if a.key.as_ref() == b"version" {
                        versions.push(value);
                    }
                }
            }
            match event {
                Event::Start(e) => {
                    depth += 1;
                    if e.name().as_ref() == b"com:Name" {
                        text = Some(String::new());
                    }
                }
                Event::End(e) => {
                    depth = depth.checked_sub(1).expect("an end tag closes an element");
                    if e.name().as_ref() == b"com:Name" {
                        names.extend(text.take());
                    }
                }
                Event::Text(t) => {
                    let t = t.decode().expect("UTF-8 text");
                    if let Some(s) = text.as_mut() {
                        s.push_str(&t);
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = if r.is_char_ref() {
                        r.resolve_char_ref()
                            .expect("character reference")
                            .map(String::from)
                    } else {
                        let name = r.decode().expect("UTF-8 entity name");
                        quick_xml::escape::resolve_predefined_entity(&name).map(String::from)
                    };
                    let resolved = resolved.expect("a defined entity");
                    if let Some(s) = text.as_mut() {
                        s.push_str(&resolved);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(depth, 0, "every element is closed");
        assert_eq!(roots, 1, "one root element");
        (versions, names)
    }

    #[test]
    fn user_values_are_escaped_in_the_structure() {
        let title = "Permits <&>\"' by sex";
        let table = TablePlan {
            name: "permits".into(),
            title: Some(title.into()),
            notes: None,
            source: "s".into(),
            dimensions: vec!["sex".into()],
            sex: Some("sex".into()),
            totals: vec![],
            measures: vec![crate::spec::MeasurePlan {
                name: "n".into(),
                agg: crate::spec::Aggregate::Count,
                column: None,
                unit: "PS".into(),
            }],
            filter: None,
            codelists: Default::default(),
            sdmx: crate::spec::SdmxTable {
                dataflow: "DF_PERMITS".into(),
                time: TimePeriod::Fixed("2024".into()),
                concepts: [("sex".to_string(), "SEX".to_string())].into(),
            },
            disclosure: crate::spec::Disclosure::None {
                reason: "test".into(),
            },
            share_of: None,
        };
        let df = df!("sex" => ["F", "M", "_T"], "n" => [1i64, 2, 3]).unwrap();
        let agency = SdmxAgency {
            agency: "MA_ONM".into(),
            version: "1.0\"&<x>".into(),
        };
        let xml = structure("permits", &agency, &[(&table, &df)]).unwrap();
        let (versions, names) = walk(&xml);
        assert!(!versions.is_empty());
        assert!(
            versions.iter().all(|v| v == &agency.version),
            "{versions:?}"
        );
        // the dataflow and the data structure are both named by the title
        assert_eq!(names.iter().filter(|n| *n == title).count(), 2, "{names:?}");
    }
}
