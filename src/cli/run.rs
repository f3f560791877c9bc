//! `marsad run`: every stage, then publish each output.

use std::path::PathBuf;

use marsad::spec::{self, Overrides};
use marsad::{report, run};

use super::{parse_input, Context};

/// Run a pipeline: read, validate, harmonize, tabulate, protect and publish.
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file (TOML).
    pipeline: PathBuf,
    /// Replace a source's path for this run: NAME=PATH (repeatable).
    #[arg(long = "input", value_name = "NAME=PATH", value_parser = parse_input)]
    inputs: Vec<(String, PathBuf)>,
    /// Write the outputs here instead of the pipeline's [[output]] dir.
    #[arg(long)]
    output: Option<PathBuf>,
}

pub fn run(args: Args, cx: &Context) -> marsad::Result<()> {
    let overrides = Overrides {
        inputs: args.inputs,
        output: args.output,
    };
    let plan = spec::load(&args.pipeline, &overrides)?;
    let opts = run::RunOptions {
        progress: cx.progress.as_ref(),
    };
    let manifest = run::run(&plan, opts)?;
    if !cx.quiet {
        print!("{}", report::sources_text(&manifest));
        for o in &manifest.outputs {
            println!("published {} files to {}", o.files.len(), o.dir);
        }
    }
    Ok(())
}
