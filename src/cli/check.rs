//! `marsad check`: the resolved plan, without reading any data.

use std::path::PathBuf;

use marsad::spec::{self, Overrides};

use super::parse_input;

/// Check the pipeline file, its schemas and code lists without reading any data.
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file (TOML).
    pipeline: PathBuf,
    /// Check with this file for a source: NAME=PATH (repeatable).
    #[arg(long = "input", value_name = "NAME=PATH", value_parser = parse_input)]
    inputs: Vec<(String, PathBuf)>,
}

pub fn run(args: Args) -> marsad::Result<()> {
    let overrides = Overrides {
        inputs: args.inputs,
        output: None,
        lang: None,
    };
    let plan = spec::load(&args.pipeline, &overrides)?;
    print!("{}", marsad::report::plan_text(&plan));
    Ok(())
}
