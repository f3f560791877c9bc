//! Data flows one way: a module imports only from the stages before it and from the shared
//! vocabularies at the bottom. This reads the sources as text, so a new `crate::` path that
//! points up the stage order fails here before anyone has to notice it in review.

use std::collections::BTreeSet;
use std::path::Path;

/// The stage order; modules in the first group are the shared bottom, which any module may use.
const ORDER: &[&[&str]] = &[
    &[
        "vocab",
        "error",
        "text",
        "frame",
        "paths",
        "codelist",
        "schema",
        "survey",
        "books",
        "quarantine",
        "lang",
    ],
    &["spec"],
    &["ingest"],
    &["validate"],
    &["harmonize"],
    &["tabulate"],
    &["disclose"],
    &["publish"],
    &["report"],
    &["run", "codes"],
];

fn rank(module: &str) -> Option<usize> {
    ORDER.iter().position(|group| group.contains(&module))
}

/// The top-level module a source file belongs to: `src/spec/resolve/mod.rs` -> `spec`.
fn module_of(path: &Path, src: &Path) -> Option<String> {
    let rel = path.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    Some(first.trim_end_matches(".rs").to_string())
}

/// Every `crate::name` a file mentions.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let name: String = text[i + 7..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    // `use crate::{a, b}`
    for (i, _) in text.match_indices("crate::{") {
        let inner = &text[i + 8..];
        let end = inner.find('}').unwrap_or(0);
        for part in inner[..end].split(',') {
            let name: String = part
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_a_later_stage() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for path in files {
        let Some(module) = module_of(&path, &src) else {
            continue;
        };
        // the binary and the crate root sit above every stage
        let Some(own) = rank(&module) else { continue };
        let text = std::fs::read_to_string(&path).unwrap();
        for dep in crate_paths(&text) {
            let Some(theirs) = rank(&dep) else { continue };
            if dep != module && theirs > 0 && theirs >= own {
                wrong.push(format!("{} uses crate::{dep}", path.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the flow (see ORDER in tests/it/layout.rs):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_module_has_a_place_in_the_order() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    for line in lib.lines() {
        let line = line.trim();
        let Some(rest) = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
        else {
            continue;
        };
        let name = rest.trim_end_matches(';');
        assert!(rank(name).is_some(), "module `{name}` is not in ORDER");
    }
}
