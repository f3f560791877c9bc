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
    /// Read and validate the sources only; write the quarantine and a report. With `--schema`,
    /// check one CSV file against an exchange schema, with no pipeline file (a ministry's
    /// self-check before sending): exit 0 when acceptable, 4 when rows are rejected.
    Validate {
        /// The pipeline file, or with `--schema` the CSV file to check.
        target: PathBuf,
        /// A Frictionless Table Schema to check `target` against.
        #[arg(long)]
        schema: Option<PathBuf>,
        #[arg(long = "input", value_parser = parse_input)]
        inputs: Vec<(String, PathBuf)>,
        /// Folder for the quarantine and report (default for a pipeline: the first output's dir
        /// + `.validation`; with --schema: none).
        #[arg(long)]
        output: Option<PathBuf>,
        /// With --schema: the delimiter (`,` `;` or `tab`).
        #[arg(long, default_value = ",")]
        delimiter: String,
        /// With --schema: auto, utf-8, windows-1252 or iso-8859-1.
        #[arg(long, default_value = "auto")]
        encoding: String,
        /// With --schema: numbers use a decimal comma.
        #[arg(long)]
        decimal_comma: bool,
        /// With --schema: lines before the header.
        #[arg(long, default_value_t = 0)]
        skip_lines: usize,
        /// With --schema: the report as text or JSON.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
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

#[allow(clippy::too_many_arguments)]
fn check_file(
    schema: &std::path::Path,
    file: &std::path::Path,
    output: Option<&std::path::Path>,
    delimiter: &str,
    encoding: &str,
    decimal_comma: bool,
    skip_lines: usize,
    format: Format,
) -> marsad::Result<()> {
    let usage = |message: String| marsad::Error::Config {
        file: "marsad validate".into(),
        line: 0,
        column: 0,
        message,
    };
    let delimiter = match delimiter {
        "tab" | "\\t" | "\t" => b'\t',
        d if d.len() == 1 => d.as_bytes()[0],
        d => {
            return Err(usage(format!(
                "--delimiter must be one character such as , ; or tab, not `{d}`"
            )))
        }
    };
    let encoding = match encoding {
        "auto" => spec::Encoding::Auto,
        "utf-8" => spec::Encoding::Utf8,
        "windows-1252" => spec::Encoding::Windows1252,
        "iso-8859-1" => spec::Encoding::Iso88591,
        e => {
            return Err(usage(format!(
                "--encoding is auto, utf-8, windows-1252 or iso-8859-1, not `{e}`"
            )))
        }
    };
    let dialect = spec::Dialect {
        delimiter,
        quote: b'"',
        header: true,
        skip_lines,
        encoding,
        decimal_comma,
        null_markers: Vec::new(),
    };
    match run::check_file(schema, file, dialect, output) {
        Ok(check) => {
            match format {
                Format::Text => print!("{}", report::file_check_text(&check, 50)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&check).unwrap_or_default()
                ),
            }
            if check.valid {
                Ok(())
            } else {
                Err(marsad::Error::Rejected {
                    file: file.to_path_buf(),
                    rows: check.books.rows_rejected,
                })
            }
        }
        Err(e) => {
            if matches!(format, Format::Json) {
                println!(
                    "{}",
                    serde_json::json!({ "file": file.display().to_string(), "valid": false, "error": e.to_string() })
                );
            }
            Err(e)
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
    marsad::limit_allocator_arenas();
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
            target,
            schema: Some(schema),
            output,
            delimiter,
            encoding,
            decimal_comma,
            skip_lines,
            format,
            ..
        } => check_file(
            &schema,
            &target,
            output.as_deref(),
            &delimiter,
            &encoding,
            decimal_comma,
            skip_lines,
            format,
        ),
        Command::Validate {
            target,
            schema: None,
            inputs,
            output,
            ..
        } => spec::load(
            &target,
            &Overrides {
                inputs,
                output: None,
            },
        )
        .and_then(|plan| {
            let dir = output
                .unwrap_or_else(|| marsad::publish::sibling(&plan.outputs[0].dir, "validation"));
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
