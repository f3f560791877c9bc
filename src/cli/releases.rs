//! `marsad releases`: what an output has published, newest last.

use std::path::PathBuf;

use marsad::publish::{sibling, store};

/// List the releases of an output: date, run id, inputs, row counts; `*` marks the current one.
#[derive(clap::Args)]
pub struct Args {
    /// The output folder (the path the pipeline's [[output]] dir or --output names).
    output: PathBuf,
}

pub fn run(args: Args) -> marsad::Result<()> {
    let store_dir = sibling(&args.output, "releases");
    let current = std::fs::canonicalize(&args.output).ok();
    let releases = store::list_releases(&store_dir)?;
    if releases.is_empty() {
        println!("{}: no release", args.output.display());
        return Ok(());
    }
    for release in releases {
        let public = release.join("public");
        let mark = if current.as_ref() == std::fs::canonicalize(&public).ok().as_ref() {
            "*"
        } else {
            " "
        };
        println!("{mark} {}", describe(&release, &public));
    }
    Ok(())
}

/// One line for a release, from its public manifest.
fn describe(release: &std::path::Path, public: &std::path::Path) -> String {
    let name = release
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let manifest: Option<serde_json::Value> = std::fs::read_to_string(public.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let Some(m) = manifest else {
        return format!("{name}  (no manifest)");
    };
    let sources: Vec<String> = m["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let files: Vec<&str> = s["files"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["path"].as_str())
                .collect();
            format!(
                "{} [{}] rows in {}, valid {}, rejected {}",
                s["name"].as_str().unwrap_or(""),
                files.join(", "),
                s["rows_in"],
                s["rows_valid"],
                s["rows_rejected"]
            )
        })
        .collect();
    format!(
        "{}  started {}  run {}  marsad {}  {}",
        name,
        m["started_at"].as_str().unwrap_or(""),
        m["run_id"].as_str().unwrap_or(""),
        m["marsad_version"].as_str().unwrap_or(""),
        sources.join("; ")
    )
}
