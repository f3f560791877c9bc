//! The command line: one file per command, each with its arguments and its `run()`. This file
//! holds what they share: the global options, the dispatch and the progress bar.

mod check;
mod codes;
mod inspect;
mod releases;
mod run;
mod validate;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use marsad::run::Progress;
use marsad::LogFormat;

#[derive(Parser)]
#[command(
    name = "marsad",
    version,
    about = "Validated, sex-disaggregated migration statistics from ministry and survey files"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr: text for people, json for schedulers.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    log_format: Format,
    /// Only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// More detail (-vv for everything).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

/// Text for people, JSON for programs.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    Run(run::Args),
    Validate(validate::Args),
    Check(check::Args),
    Codes(codes::Args),
    Inspect(inspect::Args),
    Releases(releases::Args),
}

/// What every command may use besides its own arguments.
pub struct Context {
    pub quiet: bool,
    /// A progress bar on stderr when it is a terminal and `-q` was not given.
    pub progress: Box<dyn Progress>,
}

/// `--no-wait` as the library's choice.
pub fn wait(no_wait: bool) -> marsad::publish::store::Wait {
    if no_wait {
        marsad::publish::store::Wait::NoWait
    } else {
        marsad::publish::store::Wait::Wait
    }
}

/// `--input NAME=PATH`: this month's file for a source.
pub fn parse_input(raw: &str) -> Result<(String, PathBuf), String> {
    match raw.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!(
            "expected NAME=PATH (a source name from the pipeline, then the file), got `{raw}`"
        )),
    }
}

/// Parse the command line, set up logging and run the command.
pub fn main() -> marsad::Result<()> {
    let cli = Cli::parse();
    let format = match cli.log_format {
        Format::Text => LogFormat::Text,
        Format::Json => LogFormat::Json,
    };
    let verbosity = if cli.quiet {
        -1
    } else {
        cli.verbose.min(3) as i8
    };
    marsad::init_logging(format, verbosity);
    let progress: Box<dyn Progress> = if !cli.quiet && std::io::stderr().is_terminal() {
        Box::new(Bar(ProgressBar::hidden()))
    } else {
        Box::new(marsad::run::Quiet)
    };
    let cx = Context {
        quiet: cli.quiet,
        progress,
    };
    match cli.command {
        Command::Run(args) => run::run(args, &cx),
        Command::Validate(args) => validate::run(args, &cx),
        Command::Check(args) => check::run(args),
        Command::Codes(args) => codes::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Releases(args) => releases::run(args),
    }
}

/// A progress bar over the bytes of each source. indicatif draws nothing when stderr is not a
/// terminal, so scheduled runs stay clean.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, message: &str, total: u64) {
        self.0.set_length(total);
        self.0.set_position(0);
        self.0
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} ({eta})")
        {
            self.0.set_style(style);
        }
        self.0.set_message(message.to_string());
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
