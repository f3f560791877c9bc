//! `marsad validate`: read and check the sources only; or, with `--schema`, one file against an
//! exchange schema with no pipeline file (a ministry's self-check before sending).

use std::path::{Path, PathBuf};

use marsad::lang::Lang;
use marsad::spec::{self, Dialect, Overrides, SheetChoice};
use marsad::vocab::{Delimiter, Encoding};
use marsad::{report, run, Error};

use super::{parse_input, Context};

/// How `validate --schema` reports: text for people at a terminal, JSON for programs, an HTML
/// page for the provider.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Html,
}

/// Read and validate the sources only; write the quarantine and a report. With `--schema`,
/// check one CSV file against an exchange schema, with no pipeline file (a ministry's
/// self-check before sending): exit 0 when acceptable, 4 when rows are rejected.
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file, or with `--schema` the CSV file to check.
    target: PathBuf,
    /// A Frictionless Table Schema to check `target` against.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Replace a source's path for this run: NAME=PATH (repeatable; not with --schema).
    #[arg(long = "input", value_name = "NAME=PATH", value_parser = parse_input)]
    inputs: Vec<(String, PathBuf)>,
    /// Folder for the quarantine and report (default for a pipeline: the first output's dir
    /// + `.validation`; with --schema: none).
    #[arg(long)]
    output: Option<PathBuf>,
    /// With --schema: the delimiter (`,` `;` or `tab`).
    #[arg(long, default_value = ",")]
    delimiter: Delimiter,
    /// With --schema: auto, utf-8, windows-1252, iso-8859-1, windows-1256, utf-16le or utf-16be
    /// (a gzip file, or a UTF-16 file with its byte-order mark, is recognised under any).
    #[arg(long, default_value = "auto")]
    encoding: Encoding,
    /// With --schema: numbers use a decimal comma.
    #[arg(long)]
    decimal_comma: bool,
    /// With --schema, for a spreadsheet: the sheet to check (default: the first).
    #[arg(long)]
    sheet: Option<String>,
    /// With --schema, for a Stata or SPSS dataset: read labelled values as their labels.
    #[arg(long)]
    value_labels: bool,
    /// With --schema: lines before the header.
    #[arg(long, default_value_t = 0)]
    skip_lines: usize,
    /// With --schema: the report as text, JSON, or an HTML page for the provider (in --lang).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
    /// The language of the HTML reports: fr, ar or en (default: the pipeline's `lang`, else en).
    #[arg(long)]
    lang: Option<marsad::lang::Lang>,
    /// If another run is writing the same folder, exit at once with code 5 instead of waiting.
    #[arg(long)]
    no_wait: bool,
}

pub fn run(args: Args, cx: &Context) -> marsad::Result<()> {
    match args.schema.clone() {
        Some(schema) => check_file(&schema, args),
        None => validate_pipeline(args, cx),
    }
}

fn validate_pipeline(args: Args, cx: &Context) -> marsad::Result<()> {
    let overrides = Overrides {
        inputs: args.inputs,
        output: None,
        lang: args.lang,
    };
    let plan = spec::load(&args.target, &overrides)?;
    let dir = args
        .output
        .unwrap_or_else(|| marsad::publish::sibling(&plan.outputs[0].dir, "validation"));
    let opts = run::RunOptions {
        progress: cx.progress.as_ref(),
        wait: super::wait(args.no_wait),
        force: false,
    };
    let manifest = run::validate_only(&plan, &dir, opts)?;
    print!("{}", report::sources_text(&manifest));
    println!("quarantine and report written to {}", dir.display());
    Ok(())
}

fn check_file(schema: &Path, args: Args) -> marsad::Result<()> {
    if !args.inputs.is_empty() {
        return Err(Error::Usage {
            message: "--input names a source of a pipeline; with --schema, give the file itself"
                .into(),
        });
    }
    let dialect = Dialect {
        delimiter: args.delimiter.0,
        quote: b'"',
        header: true,
        skip_lines: args.skip_lines,
        encoding: args.encoding,
        decimal_comma: args.decimal_comma,
        null_markers: Vec::new(),
        sheet: SheetChoice {
            name: args.sheet.clone(),
            ..SheetChoice::default()
        },
        value_labels: args.value_labels,
    };
    let file = &args.target;
    let wait = super::wait(args.no_wait);
    let html = (args.format == ReportFormat::Html).then(|| args.lang.unwrap_or(Lang::En));
    match run::check_file(schema, file, dialect, args.output.as_deref(), wait, html) {
        Ok(check) => {
            match args.format {
                ReportFormat::Text => print!("{}", report::file_check_text(&check, 50)),
                ReportFormat::Html => print!("{}", check.html.as_deref().unwrap_or_default()),
                ReportFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&check).unwrap_or_default()
                ),
            }
            if check.valid {
                Ok(())
            } else {
                Err(Error::Rejected {
                    file: file.to_path_buf(),
                    rows: check.books.rows_rejected,
                    swallowed: check.books.swallowed_lines,
                })
            }
        }
        Err(e) => {
            if args.format == ReportFormat::Json {
                println!(
                    "{}",
                    serde_json::json!({ "file": file.display().to_string(), "valid": false, "error": e.to_string() })
                );
            }
            Err(e)
        }
    }
}
