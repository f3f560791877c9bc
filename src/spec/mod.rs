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
pub(crate) use resolve::clean as clean_path;
use resolve::Resolver;

/// Options from the command line that change the plan, not the pipeline file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--input NAME=PATH`: this month's file for a source.
    pub inputs: Vec<(String, PathBuf)>,
    /// `--output DIR`: where the datasets go.
    pub output: Option<PathBuf>,
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
            message: e.message().trim().to_string(),
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
