//! `marsad run`: every stage, then publish each output.

use std::path::PathBuf;

use marsad::spec::{self, Overrides};
use marsad::vocab::Status;
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
    /// If another run is writing the same output, exit at once with code 5 instead of waiting.
    #[arg(long)]
    no_wait: bool,
    /// Publish a new release even when the current one was made from the same pipeline,
    /// schemas, code lists, inputs and marsad version.
    #[arg(long)]
    force: bool,
    /// The language of the HTML reports: fr, ar or en (default: the pipeline's `lang`, else en).
    #[arg(long)]
    lang: Option<marsad::lang::Lang>,
}

pub fn run(args: Args, cx: &Context) -> marsad::Result<()> {
    let overrides = Overrides {
        inputs: args.inputs,
        output: args.output,
        lang: args.lang,
    };
    let plan = spec::load(&args.pipeline, &overrides)?;
    let opts = run::RunOptions {
        progress: cx.progress.as_ref(),
        wait: super::wait(args.no_wait),
        force: args.force,
    };
    let manifest = run::run(&plan, opts)?;
    if manifest.status == Status::UpToDate {
        println!("up to date: every output's current release has run id {}; nothing new published (--force rebuilds)", manifest.run_id);
        return Ok(());
    }
    if !cx.quiet {
        print!("{}", report::sources_text(&manifest));
        for o in &manifest.outputs {
            println!("published {} files to {}", o.files.len(), o.dir);
        }
    }
    Ok(())
}
