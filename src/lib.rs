//! marsad: validated, sex-disaggregated migration statistics from ministry and survey files.
//!
//! Data flows one way through the stages: `spec` (the pipeline file, resolved into a plan) ->
//! `ingest` -> `validate` -> `harmonize` -> `tabulate` -> `disclose` -> `publish`. `run` drives them and keeps
//! the books (row conservation, timings, the manifest); `report` turns the books into text.

pub mod books;
pub mod codelist;
pub mod codes;
pub mod disclose;
pub mod error;
pub mod frame;
pub mod harmonize;
pub mod ingest;
pub mod lang;
pub mod paths;
pub mod publish;
pub mod quarantine;
pub mod report;
pub mod run;
pub mod schema;
pub mod spec;
pub mod survey;
pub mod tabulate;
mod text;
pub mod validate;
pub mod vocab;

pub use error::{Error, Result};

/// The version written into every output, so a figure can be traced to the code that made it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}

/// Tune glibc's allocator for windows of tens of megabytes: one arena, and large blocks taken
/// from it and kept after they are freed.
///
/// glibc hands a block above 32 MiB straight from `mmap` and unmaps it when freed, so every
/// window's buffers were fresh pages the kernel had to fault in and zero (a second of system
/// time on 10M rows, `perf`). With the threshold raised the next window reuses the same memory.
/// One arena: with one per thread (the default) memory kept for later added about 100 MiB to
/// the peak, and with two the reused blocks scattered over both and the peak of the 10M-row
/// open job varied from 720 to 1,050 MB. Measured on that job, three to five runs each: two
/// arenas, blocks from `mmap`: 7.06-7.59 s, system time 2.1-2.4 s, peak 720-780 MB; one arena,
/// blocks kept: 6.41-6.78 s, system time 0.85 s, peak 744-827 MB.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a setting of the allocator, before any thread is started.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Lower-case hexadecimal, as checksums are written.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How log lines are written: text for people, JSON lines for schedulers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Send `tracing` events to stderr. `verbosity` is -1 for `-q`, 0 by default, 1+ for `-v`.
/// `RUST_LOG` overrides it, as usual.
pub fn init_logging(format: LogFormat, verbosity: i8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbosity {
        i8::MIN..=-1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("marsad={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A second initialisation (tests) keeps the first subscriber.
    let _ = result;
}
