//! Frictionless Data Package (`datapackage.json`) describing everything an output publishes, so
//! that a partner can open the folder with any Frictionless tool and know what each column is.
//! See <https://datapackage.org/standard/data-package/>.

use polars::prelude::*;
use serde_json::{json, Value};

use super::Written;
use crate::disclose::{CONF_STATUS, OBS_STATUS};
use crate::spec::{Plan, TablePlan, TimePeriod};
use crate::tabulate::{PCT_FEMALE, SEX_RATIO};

fn field_type(dtype: &DataType) -> &'static str {
    match dtype {
        d if d.is_integer() => "integer",
        d if d.is_float() => "number",
        DataType::Boolean => "boolean",
        DataType::Date => "date",
        _ => "string",
    }
}

/// A package name must be lower-case letters, digits and `-._`.
fn package_name(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn files(written: &[Written]) -> (Value, u64, Option<String>) {
    let bytes = written.iter().map(|w| w.bytes).sum();
    match written {
        [one] => (
            json!(one.path),
            bytes,
            Some(format!("sha256:{}", one.sha256)),
        ),
        many => (
            json!(many.iter().map(|w| w.path.clone()).collect::<Vec<_>>()),
            bytes,
            None,
        ),
    }
}

/// The resource for one published table: its files, size, rows and the schema of its columns.
pub fn table_resource(
    table: &TablePlan,
    df: &DataFrame,
    written: &[Written],
    format: &str,
) -> Value {
    let mut fields = Vec::new();
    let flagged = df
        .get_column_names()
        .iter()
        .any(|c| c.as_str() == OBS_STATUS);
    for (name, dtype) in df.schema().iter() {
        let name = name.as_str();
        let mut field = json!({ "name": name, "type": field_type(dtype) });
        let description = if table.dimensions.iter().any(|d| d == name) {
            let mut d = "Dimension; `_T` is the total".to_string();
            if table.sex.as_deref() == Some(name) {
                d.push_str(", codes SDMX CL_SEX (F, M, _U unknown)");
            }
            if let Some(list) = table.codelists.get(name) {
                d.push_str(&format!(
                    ", codes from the marsad code list `{}`",
                    list.name
                ));
                field["marsad:codelist"] = json!(list.name);
            }
            if TimePeriod::Dimension(name.to_string()) == table.sdmx.time {
                d.push_str(", the time period");
            }
            d
        } else if let Some(m) = table.measures.iter().find(|m| m.name == name) {
            let mut d = match &m.column {
                None => "Number of records".to_string(),
                Some(c) => format!("Sum of `{c}` ({:?})", m.agg).to_lowercase(),
            };
            if flagged {
                d.push_str("; empty where `obs_status` is `Q` (hidden by disclosure control)");
            }
            d
        } else if name == OBS_STATUS {
            "Observation status, SDMX CL_OBS_STATUS: A normal value, Q missing value; suppressed \
             (disclosure control), U low reliability"
                .into()
        } else if name == CONF_STATUS {
            "Confidentiality status, SDMX CL_CONF_STATUS: F free, C confidential (the cell itself \
             is sensitive), D secondary confidentiality (hidden to protect another cell)"
                .into()
        } else if name == PCT_FEMALE {
            "Women as a percentage of women and men, F / (F + M) × 100, on the `_T` rows".into()
        } else if name == SEX_RATIO {
            "Men per 100 women, M / F × 100, on the `_T` rows".into()
        } else {
            String::new()
        };
        if !description.is_empty() {
            field["description"] = json!(description);
        }
        fields.push(field);
    }
    let (path, bytes, hash) = files(written);
    let mut resource = json!({
        "name": package_name(&table.name),
        "path": path,
        "format": format,
        "mediatype": if format == "parquet" { "application/vnd.apache.parquet" } else { "text/csv" },
        "bytes": bytes,
        "rows": df.height(),
        "schema": { "fields": fields, "primaryKey": table.dimensions },
    });
    if let Some(title) = &table.title {
        resource["title"] = json!(title);
    }
    if let Some(hash) = hash {
        resource["hash"] = json!(hash);
    }
    if written.len() > 1 {
        resource["marsad:files"] = json!(written
            .iter()
            .map(|w| json!({ "path": w.path, "rows": w.rows, "bytes": w.bytes, "hash": format!("sha256:{}", w.sha256) }))
            .collect::<Vec<_>>());
    }
    resource
}

/// A resource for a file without a table schema (SDMX-CSV, the SDMX structure, the quarantine).
pub fn file_resource(
    name: &str,
    written: &Written,
    format: &str,
    mediatype: &str,
    title: &str,
) -> Value {
    json!({
        "name": package_name(name),
        "path": written.path,
        "format": format,
        "mediatype": mediatype,
        "bytes": written.bytes,
        "hash": format!("sha256:{}", written.sha256),
        "rows": written.rows,
        "title": title,
    })
}

/// `datapackage.json` for one output folder.
pub fn package(plan: &Plan, resources: Vec<Value>) -> String {
    let mut p = json!({
        "name": package_name(&plan.name),
        "title": plan.title.clone().unwrap_or_else(|| plan.name.clone()),
        "resources": resources,
    });
    if let Some(l) = &plan.package.license {
        let mut license = json!({ "name": l.name });
        if let Some(path) = &l.path {
            license["path"] = json!(path);
        }
        if let Some(title) = &l.title {
            license["title"] = json!(title);
        }
        p["licenses"] = json!([license]);
    }
    if !plan.package.sources.is_empty() {
        p["sources"] = json!(plan.package.sources);
    }
    p["marsad:pipeline_sha256"] = json!(plan.sha256);
    serde_json::to_string_pretty(&p).unwrap_or_default() + "\n"
}
