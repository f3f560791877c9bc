//! The pipeline file: what the user wrote (`raw`, with source spans), resolved once
//! (`resolve`) into a checked `Plan` (`plan`) before any data is read.
//!
//! Every later stage consumes the plan and never meets an unchecked name: a misspelt column, an
//! unknown code list or a missing file is reported here, pointing at the line of the TOML file.
//! Keywords become enums, expressions and patterns are compiled, code lists are loaded once.

mod json_schema;
mod plan;
pub mod raw;
mod resolve;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codelist::CodeList;
use crate::error::{line_col, Error, Result};
use crate::schema::TableSchema;
pub use crate::vocab::Encoding;
pub use json_schema::json_schema;
pub use plan::*;
use raw::PipelineSpec;
#[cfg(test)]
pub(crate) use resolve::bare_source;
pub(crate) use resolve::clean as clean_path;
use resolve::Resolver;

/// Options from the command line that change the plan, not the pipeline file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--input NAME=PATH`: this month's file for a source.
    pub inputs: Vec<(String, PathBuf)>,
    /// `--output DIR`: where the datasets go.
    pub output: Option<PathBuf>,
    /// `--lang`: the reports' language for this run.
    pub lang: Option<crate::lang::Lang>,
}

/// Read, parse and resolve a pipeline file.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Plan> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|e| Error::Config {
        file: path.to_path_buf(),
        line: line_col(
            &String::from_utf8_lossy(&bytes),
            e.utf8_error().valid_up_to(),
        )
        .0,
        column: 1,
        message: "the pipeline file is not valid UTF-8; save it as UTF-8".into(),
    })?;
    let spec: PipelineSpec = toml::from_str(&text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(&text, s.start));
        Error::Config {
            file: path.to_path_buf(),
            line,
            column,
            message: toml_message(&text, e.span(), e.message().trim()),
        }
    })?;
    Resolver {
        path,
        text: &text,
        base: path.parent().unwrap_or(Path::new(".")),
        countries: Arc::new(CodeList::builtin("country").expect("country is embedded")),
        code_list_files: Default::default(),
    }
    .resolve(spec, crate::sha256_hex(&bytes), overrides)
}

/// A TOML error in the pipeline's words: the key it is about, and for a wrong type what the
/// key takes, instead of the Rust type serde expected (`expected f64`).
fn toml_message(text: &str, span: Option<std::ops::Range<usize>>, message: &str) -> String {
    let Some(rest) = message.strip_prefix("invalid type: ") else {
        return message.to_string();
    };
    let Some((found, expected)) = rest.split_once(", expected ") else {
        return message.to_string();
    };
    let key = span.and_then(|s| key_at(text, s.start));
    let wanted = match (key.as_deref(), expected) {
        (Some("max_rejected"), _) => "a share of the rows from 0 to 1, such as 0.05 (5%)".into(),
        (_, "f64" | "f32") => "a number, such as 10 or 0.5".into(),
        (_, "u64" | "u32" | "usize" | "u8" | "i64" | "i32") => "a whole number, such as 10".into(),
        (_, "a boolean") => "true or false, without quotes".into(),
        (_, "a string" | "string") => "text in double quotes".into(),
        (_, "a sequence") => "a list in brackets, such as [\"sex\", \"age_group\"]".into(),
        (_, other) => other.to_string(),
    };
    match key {
        Some(key) => format!("`{key}` takes {wanted}; it holds {found}"),
        None => format!("expected {wanted}; found {found}"),
    }
}

/// The key whose value starts at `at`: the name before `=` on its line, with the table it is
/// in (`[source.dialect]`) when there is one.
fn key_at(text: &str, at: usize) -> Option<String> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text[line_start..at].split_once('=')?;
    let key = key.trim().trim_matches('"');
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']'));
    Some(match table {
        Some(t) => format!("{key}` in `[{t}]"),
        None => key.to_string(),
    })
}

/// The plan of one file checked against a schema with no pipeline file (`marsad validate
/// --schema`): a source with no stages, built by the same resolver as a pipeline's.
pub fn single_file(schema: &Path, file: &Path, dialect: Dialect) -> Result<SourcePlan> {
    let schema = TableSchema::load(schema)?;
    if !file.exists() {
        return Err(Error::Read {
            file: file.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let mut plan = resolve::bare_source(name, vec![file.to_path_buf()], schema, dialect);
    // no stage reads the columns of a single file
    plan.columns.clear();
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_type_names_the_key_and_what_it_takes() {
        let text = "name = \"p\"\nmax_rejected = \"abc\"\n[[source]]\n[source.dialect]\nskip_lines = \"2\"\n";
        let at = text.find("\"abc").unwrap();
        assert_eq!(
            toml_message(text, Some(at..at + 5), "invalid type: string \"abc\", expected f64"),
            "`max_rejected` takes a share of the rows from 0 to 1, such as 0.05 (5%); it holds string \"abc\""
        );
        let at = text.find("\"2\"").unwrap();
        assert_eq!(
            toml_message(text, Some(at..at + 3), "invalid type: string \"2\", expected usize"),
            "`skip_lines` in `[source.dialect]` takes a whole number, such as 10; it holds string \"2\""
        );
        assert_eq!(
            toml_message(text, None, "unknown field `x`"),
            "unknown field `x`"
        );
    }
}
