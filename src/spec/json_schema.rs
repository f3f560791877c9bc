//! The JSON Schema of the pipeline file, derived from the types it is read into ([`raw`]), so
//! that editors (taplo, VS Code's Even Better TOML) complete and check pipeline files. It is
//! committed as `schemas/pipeline.schema.json`; a test fails when it is stale.
//!
//! [`raw`]: super::raw

use schemars::generate::SchemaSettings;
use schemars::transform::{transform_subschemas, RestrictFormats, Transform};
use schemars::Schema;
use serde_json::Value;

use super::raw::PipelineSpec;

/// The schema as committed in `schemas/pipeline.schema.json`: pretty JSON with a final newline.
///
/// Draft 7, the draft every editor's schema support reads. A TOML file has no null, so the
/// `null` that schemars allows for an `Option` is taken out; formats that are not JSON Schema's
/// (`uint32`, `double`) are dropped, and doc comments are unwrapped into paragraphs.
pub fn json_schema() -> String {
    let generator = SchemaSettings::draft07()
        .with_transform(NoNull)
        .with_transform(RestrictFormats::default())
        .into_generator();
    let schema = generator.into_root_schema_for::<PipelineSpec>();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is JSON");
    text.push('\n');
    text
}

/// Takes `null` out of a schema and its subschemas: from `type` lists, `enum`s, `anyOf`s
/// (`Option<Struct>`) and defaults; and unwraps descriptions.
#[derive(Clone)]
struct NoNull;

impl Transform for NoNull {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(object) = schema.as_object_mut() {
            if let Some(Value::Array(types)) = object.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.pop().expect("one type");
                    object.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(values)) = object.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            if let Some(Value::Array(mut branches)) = object.remove("anyOf") {
                branches.retain(|b| b.get("type").is_none_or(|t| t != "null"));
                match branches.len() {
                    // draft 7 ignores the siblings of a `$ref`: it goes into an `allOf`
                    1 if branches[0].get("$ref").is_some() => {
                        object.insert("allOf".into(), Value::Array(branches));
                    }
                    1 => {
                        if let Value::Object(only) = branches.pop().expect("one branch") {
                            object.extend(only);
                        }
                    }
                    _ => {
                        object.insert("anyOf".into(), Value::Array(branches));
                    }
                }
            }
            if object.get("default").is_some_and(Value::is_null) {
                object.remove("default");
            }
            if let Some(default) = object.get_mut("default") {
                drop_nulls(default);
            }
            if let Some(Value::String(text)) = object.get_mut("description") {
                *text = unwrap_lines(text);
            }
        }
        transform_subschemas(self, schema);
    }
}

/// Removes the null members of objects, at any depth (`{"license": null, "sources": []}`).
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(members) => {
            members.retain(|_, v| !v.is_null());
            members.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// A doc comment's lines joined into paragraphs, as Markdown would show it: editors show a
/// description as it is, where the comment's line breaks would fall mid-sentence. Paragraphs
/// (blank lines) and list items (`- `) keep their breaks.
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            let mut joined = String::new();
            for line in paragraph.lines().map(str::trim) {
                if !joined.is_empty() {
                    joined.push(if line.starts_with("- ") { '\n' } else { ' ' });
                }
                joined.push_str(line);
            }
            joined
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_unwrapped_into_paragraphs_and_list_items() {
        assert_eq!(
            unwrap_lines("One sentence\nover two lines.\n\n- `a`: first\n- `b`: second"),
            "One sentence over two lines.\n\n- `a`: first\n- `b`: second"
        );
    }

    #[test]
    fn a_toml_file_has_no_null() {
        let schema = json_schema();
        assert!(
            !schema.contains("\"null\"") && !schema.contains(": null"),
            "{schema}"
        );
    }
}
