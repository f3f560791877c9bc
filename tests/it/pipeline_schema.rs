//! The JSON Schema of the pipeline file, committed as `schemas/pipeline.schema.json` for the
//! editors that complete and check pipelines, is the one the spec types make now.
//!
//! The shipped pipelines are validated against it by `.ci/run` (Python's `jsonschema`).

use crate::common::repo;

/// Set to `1` to write the schema instead of comparing it.
const UPDATE: &str = "MARSAD_UPDATE_SCHEMA";
const COMMITTED: &str = "schemas/pipeline.schema.json";

#[test]
fn pipeline_schema_is_fresh() {
    let path = repo(COMMITTED);
    let fresh = marsad::spec::json_schema();
    if std::env::var(UPDATE).is_ok_and(|v| v == "1") {
        std::fs::write(&path, &fresh).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    // a checkout that turned line ends into CRLF is not a stale schema
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()));
        panic!(
            "{COMMITTED} is not the schema of the spec types (first difference at line {}): \
             refresh it with `{UPDATE}=1 cargo test --test it pipeline_schema` and commit it",
            line + 1
        );
    }
}

/// `deny_unknown_fields` on every table of the pipeline file shows in the schema, so that an
/// editor flags a misspelt key as the run would.
#[test]
fn pipeline_schema_refuses_unknown_keys_everywhere() {
    let schema: serde_json::Value = serde_json::from_str(&marsad::spec::json_schema()).unwrap();
    let mut objects = vec![("root".to_string(), &schema)];
    if let Some(definitions) = schema["definitions"].as_object() {
        objects.extend(definitions.iter().map(|(name, s)| (name.clone(), s)));
    }
    let tables: Vec<_> = objects
        .iter()
        .filter(|(_, s)| s.get("properties").is_some())
        .collect();
    assert!(tables.len() > 10, "{tables:?}");
    for (name, s) in tables {
        assert_eq!(
            s["additionalProperties"],
            serde_json::Value::Bool(false),
            "{name}"
        );
    }
}
