//! The `marsad` command: parses arguments and hands over to the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use marsad::spec::Overrides;
use marsad::{report, run, spec, LogFormat};

#[derive(Parser)]
#[command(
    name = "marsad",
    version,
    about = "Validated, sex-disaggregated migration statistics from ministry and survey files"
)]
struct Cli {
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

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline: read, validate, harmonize, tabulate and publish.
    Run {
        pipeline: PathBuf,
        /// Replace a source's path for this run: NAME=PATH (repeatable).
        #[arg(long = "input", value_parser = parse_input)]
        inputs: Vec<(String, PathBuf)>,
        /// Write the outputs here instead of the pipeline's [[output]] dir.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Read and validate the sources only; write the quarantine and a report.
    Validate {
        pipeline: PathBuf,
        #[arg(long = "input", value_parser = parse_input)]
        inputs: Vec<(String, PathBuf)>,
        /// Folder for the quarantine and report (default: the first output's dir + `.validation`).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Check the pipeline file, its schemas and code lists without reading any data.
    Check {
        pipeline: PathBuf,
        #[arg(long = "input", value_parser = parse_input)]
        inputs: Vec<(String, PathBuf)>,
    },
    /// Look at the embedded code lists, or map raw values through one.
    Codes {
        #[command(subcommand)]
        action: CodesAction,
    },
    /// Show a Parquet file's schema, metadata, row count and first rows.
    Inspect {
        file: PathBuf,
        /// How many rows to show.
        #[arg(long, default_value_t = 10)]
        rows: usize,
    },
}

#[derive(Subcommand)]
enum CodesAction {
    /// The embedded code lists, or the codes and labels of one.
    List { list: Option<String> },
    /// Everything known about one code (or a spelling of it).
    Show { list: String, code: String },
    /// Read raw values (one per line on stdin, or a CSV column) and print raw, code and label,
    /// tab-separated; the code is empty when the value is not in the list.
    Map {
        list: String,
        /// How country codes are written: iso3 (any ISO form or name), iso2, m49-numeric, unhcr, undesa.
        #[arg(long)]
        crosswalk: Option<String>,
        /// Country code system to print: iso3, iso2, m49-numeric.
        #[arg(long)]
        output: Option<String>,
        /// Read the values from this CSV file's `--column` instead of stdin.
        #[arg(long, requires = "column")]
        csv: Option<PathBuf>,
        #[arg(long)]
        column: Option<String>,
        /// The CSV file's delimiter.
        #[arg(long, default_value = ",")]
        delimiter: char,
    },
}

fn codes(action: CodesAction) -> marsad::Result<()> {
    use marsad::codes;
    match action {
        CodesAction::List { list } => codes::list(list.as_deref()).map(|t| print!("{t}")),
        CodesAction::Show { list, code } => codes::show(&list, &code).map(|t| print!("{t}")),
        CodesAction::Map {
            list,
            crosswalk,
            output,
            csv,
            column,
            delimiter,
        } => {
            let list = codes::open(&list, crosswalk.as_deref())?;
            let stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let counts = match (csv, column) {
                (Some(path), Some(column)) => {
                    let values = codes::csv_column(&path, &column, delimiter as u8)?;
                    codes::map(&list, output.as_deref(), values.as_slice(), stdout)?
                }
                _ => codes::map(&list, output.as_deref(), std::io::stdin().lock(), stdout)?,
            };
            tracing::info!(values = counts.values, unmapped = counts.unmapped, "mapped");
            Ok(())
        }
    }
}

fn parse_input(raw: &str) -> Result<(String, PathBuf), String> {
    match raw.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!(
            "expected NAME=PATH (a source name from the pipeline, then the file), got `{raw}`"
        )),
    }
}

fn main() -> ExitCode {
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
    let opts = run::RunOptions {
        progress: !cli.quiet && std::io::stderr().is_terminal(),
    };
    let result = match cli.command {
        Command::Run {
            pipeline,
            inputs,
            output,
        } => spec::load(&pipeline, &Overrides { inputs, output })
            .and_then(|plan| run::run(&plan, opts))
            .map(|m| {
                if !cli.quiet {
                    print!("{}", report::sources_text(&m));
                    for o in &m.outputs {
                        println!("published {} files to {}", o.files.len(), o.dir);
                    }
                }
            }),
        Command::Validate {
            pipeline,
            inputs,
            output,
        } => spec::load(
            &pipeline,
            &Overrides {
                inputs,
                output: None,
            },
        )
        .and_then(|plan| {
            let dir = output.unwrap_or_else(|| {
                let first = &plan.outputs[0].dir;
                let mut name = first
                    .file_name()
                    .map(|n| n.to_os_string())
                    .unwrap_or_default();
                name.push(".validation");
                first.with_file_name(name)
            });
            run::validate_only(&plan, &dir, opts).map(|m| {
                print!("{}", report::sources_text(&m));
                println!("quarantine and report written to {}", dir.display());
            })
        }),
        Command::Check { pipeline, inputs } => spec::load(
            &pipeline,
            &Overrides {
                inputs,
                output: None,
            },
        )
        .map(|plan| print!("{}", report::plan_text(&plan))),
        Command::Codes { action } => codes(action),
        Command::Inspect { file, rows } => {
            marsad::publish::inspect(&file, rows).map(|text| print!("{text}"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
