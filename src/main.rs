//! The `marsad` command: the command line lives in `cli`, one file per command; this only
//! reports the outcome as an exit code.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    marsad::tune_allocator();
    match cli::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
