//! `marsad inspect`: what a Parquet file holds.

use std::path::PathBuf;

/// Show a Parquet file's schema, metadata, row count and first rows.
#[derive(clap::Args)]
pub struct Args {
    /// The Parquet file.
    file: PathBuf,
    /// How many rows to show.
    #[arg(long, default_value_t = 10)]
    rows: usize,
}

pub fn run(args: Args) -> marsad::Result<()> {
    let text = marsad::publish::inspect(&args.file, args.rows)?;
    print!("{text}");
    Ok(())
}
