//! `marsad codes`: look at the embedded code lists, or map raw values through one.

use std::path::PathBuf;

use clap::Subcommand;

use marsad::codelist::{CountryOutput, Crosswalk};
use marsad::vocab::Delimiter;

/// Look at the embedded code lists, or map raw values through one.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// The embedded code lists, or the codes and labels of one.
    List {
        /// A list's name (sex, country, morocco-region, m49-region, au-region).
        list: Option<String>,
    },
    /// Everything known about one code (or a spelling of it).
    Show {
        /// A list's name (sex, country, morocco-region, m49-region, au-region).
        list: String,
        /// A code or any spelling of one (`MAR`, `Maroc`, `المغرب`).
        code: String,
    },
    /// Read raw values (one per line on stdin, or a CSV column) and print raw, code and label,
    /// tab-separated; the code is empty when the value is not in the list.
    Map {
        /// A list's name (sex, country, morocco-region, m49-region, au-region).
        list: String,
        /// How country codes are written: iso3 (any ISO form or name), iso2, m49-numeric, unhcr, undesa.
        #[arg(long)]
        crosswalk: Option<Crosswalk>,
        /// Country code system to print: iso3, iso2, m49-numeric.
        #[arg(long)]
        output: Option<CountryOutput>,
        /// Read the values from this CSV file's `--column` instead of stdin.
        #[arg(long, requires = "column")]
        csv: Option<PathBuf>,
        /// The column of `--csv` holding the values.
        #[arg(long)]
        column: Option<String>,
        /// The CSV file's delimiter (`,` `;` or `tab`).
        #[arg(long, default_value = ",")]
        delimiter: Delimiter,
    },
}

pub fn run(args: Args) -> marsad::Result<()> {
    use marsad::codes;
    match args.action {
        Action::List { list } => codes::list(list.as_deref()).map(|t| print!("{t}")),
        Action::Show { list, code } => codes::show(&list, &code).map(|t| print!("{t}")),
        Action::Map {
            list,
            crosswalk,
            output,
            csv,
            column,
            delimiter,
        } => {
            let list = codes::open(&list, crosswalk)?;
            let stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let counts = match (csv, column) {
                (Some(path), Some(column)) => {
                    let values = codes::csv_column(&path, &column, delimiter.0)?;
                    codes::map(&list, output, values.as_slice(), stdout)?
                }
                _ => codes::map(&list, output, std::io::stdin().lock(), stdout)?,
            };
            tracing::info!(values = counts.values, unmapped = counts.unmapped, "mapped");
            Ok(())
        }
    }
}
