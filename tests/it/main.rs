//! Integration tests: the real `marsad` binary on real files, asserting on what it writes.

mod bad_input;
mod cli;
mod codes;
mod common;
mod datasets;
mod disclosure;
mod exchange;
mod frictionless;
mod layout;
mod lp_attack;
mod ministry_files;
mod pipeline_schema;
mod pipelines;
mod plan;
mod publishing;
mod reports;
mod snapshots_text;
mod spreadsheets;
mod survey;
