//! The names around an output path, shared by the plan (which checks that outputs do not
//! collide) and publishing (which writes them): `out/x.restricted`, `out/x.releases`, ...

use std::path::{Path, PathBuf};

/// `out/x` with a suffix: `out/x.restricted`.
pub fn sibling(target: &Path, suffix: &str) -> PathBuf {
    let mut name = target
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".");
    name.push(suffix);
    target.with_file_name(name)
}
