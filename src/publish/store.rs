//! Where an output lives, and how it changes without ever being incomplete.
//!
//! An output path (`out/titres_sejour`) is a symbolic link to the public half of its current
//! release; `out/titres_sejour.restricted` to the restricted half. The releases live in an owned
//! sibling folder, `out/titres_sejour.releases/`:
//!
//! ```text
//! out/titres_sejour -> titres_sejour.releases/releases/20261129T164500Z-<run id>/public
//! out/titres_sejour.restricted -> titres_sejour.releases/releases/<...>/restricted
//! out/titres_sejour.releases/
//!   .marsad                 the marker: this folder is marsad's (the pipeline's name)
//!   lock                    held (flock) by the run writing here; released by the OS on exit
//!   releases/<date>-<run id>/{public,restricted}/
//!   staging-<random>/       a run's work in progress, removed by it or by the next run
//! ```
//!
//! A release is written completely in a staging folder, moved under `releases/` (a rename on
//! the same disk), and the links are switched with `rename(2)` of a new link over the old one,
//! which is atomic: a reader (DuckDB, pyarrow, a web server) always finds a whole release.
//! marsad deletes only inside folders that carry its marker, and only what it wrote there.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{write_error, Error, Result};
pub use crate::paths::sibling;

/// The file that marks a folder as marsad's.
pub const MARKER: &str = ".marsad";

/// Whether a run waits for another run on the same output, or gives up at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wait {
    #[default]
    Wait,
    NoWait,
}

/// An output's release store, locked for the duration of a run.
pub struct Store {
    /// `<output>.releases/`
    pub dir: PathBuf,
    /// The output path (a link to the current release's public half).
    pub target: PathBuf,
    _lock: File,
}

impl Store {
    /// Claim and lock the store of `target`. Refuses (before any data is read) a target that
    /// is a folder marsad did not make, and waits for, or refuses, another run holding it.
    pub fn open(target: &Path, pipeline: &str, wait: Wait) -> Result<Store> {
        refuse_dangerous(target)?;
        let dir = sibling(target, "releases");
        claim(&dir, pipeline)?;
        let lock = lock(&dir, target, wait)?;
        let store = Store {
            dir,
            target: target.to_path_buf(),
            _lock: lock,
        };
        store.remove_leftovers()?;
        Ok(store)
    }

    /// A fresh staging folder inside the store, removed when dropped (a failed run).
    pub fn staging(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("staging-")
            .tempdir_in(&self.dir)
            .map_err(write_error(&self.dir))
    }

    /// Staging folders of runs that were killed: with the lock held, no other run is writing.
    fn remove_leftovers(&self) -> Result<()> {
        for entry in std::fs::read_dir(&self.dir).map_err(write_error(&self.dir))? {
            let path = entry.map_err(write_error(&self.dir))?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let ours = name.is_some_and(|n| n.starts_with("staging-") || n.starts_with("link-"));
            if ours {
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.map_err(write_error(&path))?;
                tracing::info!(path = %path.display(), "removed what a stopped run left");
            }
        }
        Ok(())
    }

    /// Move a complete staged folder under `area/` (`releases`, or `rejected` and
    /// `validation` for runs that publish nothing) and point each link at its half:
    /// `(out/x, "public")`, `(out/x.restricted, "restricted")`.
    pub fn release(
        &self,
        staged: &Path,
        area: &str,
        id: &str,
        links: &[(PathBuf, &str)],
    ) -> Result<PathBuf> {
        let releases = self.dir.join(area);
        std::fs::create_dir_all(&releases).map_err(write_error(&releases))?;
        // the same run id published again in the same second (--force): a new name, never a
        // removal of a release a link may show
        let mut home = releases.join(id);
        let mut n = 1;
        while home.exists() {
            n += 1;
            home = releases.join(format!("{id}-{n}"));
        }
        std::fs::rename(staged, &home).map_err(write_error(&home))?;
        step("moved");
        for (link, half) in links {
            self.point(link, &home.join(half))?;
            step("linked");
        }
        Ok(home)
    }

    /// Point `link` at `to`, atomically: a new link is made beside it and renamed over it.
    pub fn point(&self, link: &Path, to: &Path) -> Result<()> {
        let parent = link.parent().unwrap_or(Path::new("."));
        let relative = relative_to(to, parent);
        let fresh = self
            .dir
            .join(format!("link-{}-{}", std::process::id(), unique()));
        std::os::unix::fs::symlink(&relative, &fresh).map_err(write_error(&fresh))?;
        // checked again now: something may have appeared at the link path while the data was
        // read, and it is not ours to replace
        let area = to.parent().and_then(Path::parent).unwrap_or(&self.dir);
        if let Err(e) = check_link_path(link, area) {
            let _ = std::fs::remove_file(&fresh);
            return Err(e);
        }
        if is_legacy_folder(link) {
            self.retire_legacy(link)?;
        }
        std::fs::rename(&fresh, link).map_err(write_error(link))?;
        Ok(())
    }

    /// A dataset folder written by an older marsad (no links): kept, moved under
    /// `releases/legacy-...`, so that the output path can become a link.
    fn retire_legacy(&self, folder: &Path) -> Result<()> {
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let to = self
            .dir
            .join("releases")
            .join(format!("legacy-{}-{name}", unique()));
        std::fs::create_dir_all(self.dir.join("releases")).map_err(write_error(&self.dir))?;
        std::fs::rename(folder, &to).map_err(write_error(folder))
    }

    /// Keep the newest `keep` folders of `area` and any a link points at; delete the rest.
    pub fn prune(&self, area: &str, keep: usize, links: &[PathBuf]) -> Result<Vec<PathBuf>> {
        let current: Vec<PathBuf> = links
            .iter()
            .filter_map(|l| std::fs::canonicalize(l).ok())
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect();
        // a dataset moved aside from an older marsad is kept until someone deletes it: it may
        // hold more than marsad wrote
        let all: Vec<PathBuf> = list_area(&self.dir, area)?
            .into_iter()
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("legacy-"))
            })
            .collect();
        let excess = all.len().saturating_sub(keep);
        let mut removed = Vec::new();
        for old in all.into_iter().take(excess) {
            let canon = std::fs::canonicalize(&old).unwrap_or(old.clone());
            if current.contains(&canon) {
                continue;
            }
            std::fs::remove_dir_all(&old).map_err(write_error(&old))?;
            removed.push(old);
        }
        Ok(removed)
    }
}

/// The releases in a store folder, oldest first (names start with the date).
pub fn list_releases(store: &Path) -> Result<Vec<PathBuf>> {
    list_area(store, "releases")
}

fn list_area(store: &Path, area: &str) -> Result<Vec<PathBuf>> {
    let dir = store.join(area);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(write_error(&dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    all.sort();
    Ok(all)
}

/// What the marker file says.
#[derive(Serialize)]
struct Marker<'a> {
    marsad: &'a str,
    pipeline: &'a str,
}

/// Make `dir` ours: create it with the marker, or accept it when it already carries one or is
/// empty. Any other folder is refused, naming a few of its files.
pub fn claim(dir: &Path, pipeline: &str) -> Result<()> {
    if dir.join(MARKER).is_file() {
        return same_pipeline(dir, pipeline);
    }
    if dir.exists() {
        let files = first_entries(dir, 5);
        // another run may have marked it since we looked
        if !files.is_empty() && !dir.join(MARKER).is_file() {
            return Err(not_ours(dir, files));
        }
    }
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let marker = serde_json::to_string(&Marker {
        marsad: crate::VERSION,
        pipeline,
    })
    .unwrap_or_default();
    let path = dir.join(MARKER);
    std::fs::write(&path, marker + "\n").map_err(write_error(&path))
}

/// Two pipelines writing one output would replace each other's releases: the marker names its
/// pipeline, and another one is refused.
fn same_pipeline(dir: &Path, pipeline: &str) -> Result<()> {
    let text = std::fs::read_to_string(dir.join(MARKER)).unwrap_or_default();
    let owner = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|m| m["pipeline"].as_str().map(String::from));
    match owner {
        Some(owner) if owner != pipeline => Err(Error::NotOurs {
            dir: dir.to_path_buf(),
            files: format!("the releases of the pipeline `{owner}`"),
        }),
        _ => Ok(()),
    }
}

fn not_ours(dir: &Path, files: Vec<String>) -> Error {
    Error::NotOurs {
        dir: dir.to_path_buf(),
        files: files.join(", "),
    }
}

fn first_entries(dir: &Path, n: usize) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.truncate(n);
    names
}

/// Whether an output path may become a link: absent, a link into the output's store
/// (`<output>.releases`), an empty folder, or a dataset folder written by an older marsad.
/// Checked for every link before data is read; a user's own link is never replaced.
pub fn check_link_path(path: &Path, store: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        return if points_into(path, store) {
            Ok(())
        } else {
            Err(not_ours(
                path,
                vec!["(it is a link marsad did not make)".into()],
            ))
        };
    }
    if is_legacy_folder(path) {
        return Ok(());
    }
    if meta.is_dir() {
        let files = first_entries(path, 5);
        if files.is_empty() {
            // an empty folder a user made for us: make way for the link
            return std::fs::remove_dir(path).map_err(write_error(path));
        }
        return Err(not_ours(path, files));
    }
    Err(not_ours(path, vec!["(it is a file)".into()]))
}

/// A path with its links resolved as far as it exists, for ordering and comparing stores.
pub fn real_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| absolute(path))
}

/// Whether two links show halves of the same release (a run killed between switching them
/// leaves them apart, and the next run must then publish again).
pub fn same_release(a: &Path, b: &Path) -> bool {
    let release = |p: &Path| {
        std::fs::canonicalize(p)
            .ok()
            .and_then(|r| r.parent().map(Path::to_path_buf))
    };
    matches!((release(a), release(b)), (Some(x), Some(y)) if x == y)
}

/// Whether the link at `path` points inside `store`, as the links marsad makes do.
fn points_into(path: &Path, store: &Path) -> bool {
    let Ok(to) = std::fs::read_link(path) else {
        return false;
    };
    let parent = path.parent().unwrap_or(Path::new("."));
    let to = absolute(&parent.join(to));
    to.starts_with(absolute(store))
}

/// A real folder holding a manifest written by marsad (before releases existed).
fn is_legacy_folder(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_dir() {
        return false;
    }
    std::fs::read_to_string(path.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|m| m.get("marsad_version").is_some())
}

/// A root or home folder is never an output, whatever it holds.
pub fn refuse_dangerous(target: &Path) -> Result<()> {
    // an output inside a store would be moved or deleted with the store's releases
    // the output path itself is a link into its store: resolve its folder, not the link
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty());
    let real = match (parent, target.file_name()) {
        (Some(p), Some(name)) => real_path(p).join(name),
        (None, Some(name)) => real_path(Path::new(".")).join(name),
        _ => absolute(target),
    };
    for place in [absolute(target), real] {
        let inside = place
            .ancestors()
            .skip(1)
            .find(|a| a.join(MARKER).is_file() && a.extension().is_some_and(|e| e == "releases"));
        if let Some(store) = inside {
            return Err(Error::Usage {
                message: format!(
                    "{} is inside {}, where marsad keeps releases; give the output a folder of its own",
                    target.display(),
                    store.display()
                ),
            });
        }
    }
    let canon = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let root = canon.parent().is_none() || target.file_name().is_none();
    if root || home.is_some_and(|h| std::fs::canonicalize(&h).unwrap_or(h) == canon) {
        return Err(Error::Usage {
            message: format!(
                "{} is a root or home folder; give the output a folder of its own, such as out/{}",
                target.display(),
                "<pipeline>"
            ),
        });
    }
    Ok(())
}

/// Lock the store: one run writes an output at a time.
fn lock(dir: &Path, target: &Path, wait: Wait) -> Result<File> {
    let path = dir.join("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(write_error(&path))?;
    if try_lock(&file, false) {
        return Ok(file);
    }
    if wait == Wait::NoWait {
        return Err(Error::Busy {
            output: target.to_path_buf(),
        });
    }
    tracing::warn!(output = %target.display(), "another marsad run is writing this output; waiting for it to finish");
    if try_lock(&file, true) {
        return Ok(file);
    }
    Err(Error::Write {
        path,
        source: std::io::Error::last_os_error(),
    })
}

/// An advisory lock the operating system releases when the process ends, however it ends.
fn try_lock(file: &File, block: bool) -> bool {
    use std::os::fd::AsRawFd;
    let flags = if block {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    loop {
        // SAFETY: flock on a file descriptor this process owns for as long as `file` lives.
        let rc = unsafe { libc::flock(file.as_raw_fd(), flags) };
        if rc == 0 {
            return true;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}

/// `to` written relative to `from` when they share a prefix, so links survive moving the
/// whole output tree.
fn relative_to(to: &Path, from: &Path) -> PathBuf {
    let to_abs = absolute(to);
    let from_abs = absolute(from);
    let common = to_abs
        .components()
        .zip(from_abs.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in from_abs.components().skip(common) {
        out.push("..");
    }
    for c in to_abs.components().skip(common) {
        out.push(c);
    }
    out
}

fn absolute(p: &Path) -> PathBuf {
    let base = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    crate::spec::clean_path(&base)
}

/// A name no other run of this process or another uses at the same moment.
pub fn unique() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// A test-only way to stop the process dead after a step of publishing, as SIGKILL would:
/// `MARSAD_ABORT_AFTER=linked:2` aborts after the second link is switched (`moved:1` after
/// the first release is moved into place).
pub fn step(name: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let Ok(spec) = std::env::var("MARSAD_ABORT_AFTER") else {
        return;
    };
    let (want, at) = spec.split_once(':').unwrap_or((spec.as_str(), "1"));
    if want != name {
        return;
    }
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if at.parse() == Ok(n) {
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_their_folder() {
        assert_eq!(
            relative_to(
                Path::new("/a/out/x.releases/r/1/public"),
                Path::new("/a/out")
            ),
            PathBuf::from("x.releases/r/1/public")
        );
        assert_eq!(
            relative_to(Path::new("/a/b"), Path::new("/a/c/d")),
            PathBuf::from("../../b")
        );
    }

    #[test]
    fn a_folder_with_a_users_files_is_not_claimed() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs");
        std::fs::create_dir_all(&theirs).unwrap();
        std::fs::write(theirs.join("notes.txt"), "mine").unwrap();
        let err = claim(&theirs, "p").unwrap_err().to_string();
        assert!(err.contains("notes.txt"), "{err}");
        assert!(theirs.join("notes.txt").exists());
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        claim(&empty, "p").unwrap();
        assert!(empty.join(MARKER).exists());
        claim(&empty, "p").unwrap();
    }

    #[test]
    fn the_same_release_twice_never_removes_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let store = Store::open(&target, "p", Wait::NoWait).unwrap();
        for n in 0..2 {
            let staged = store.staging().unwrap();
            std::fs::create_dir_all(staged.path().join("public")).unwrap();
            std::fs::write(staged.path().join("public/n.txt"), n.to_string()).unwrap();
            let staged = staged.keep();
            store
                .release(
                    &staged,
                    "releases",
                    "same-id",
                    &[(target.clone(), "public")],
                )
                .unwrap();
        }
        assert_eq!(std::fs::read_to_string(target.join("n.txt")).unwrap(), "1");
        assert_eq!(list_releases(&store.dir).unwrap().len(), 2);
    }

    #[test]
    fn pruning_keeps_the_newest_releases_and_never_a_legacy_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("out"), "p", Wait::NoWait).unwrap();
        let releases = store.dir.join("releases");
        for name in [
            "legacy-1-out",
            "20260101T000000Z-a",
            "20260201T000000Z-b",
            "20260301T000000Z-c",
        ] {
            std::fs::create_dir_all(releases.join(name)).unwrap();
        }
        let removed = store.prune("releases", 2, &[]).unwrap();
        assert_eq!(removed, [releases.join("20260101T000000Z-a")]);
        assert!(releases.join("legacy-1-out").exists());
        assert!(releases.join("20260301T000000Z-c").exists());
    }

    #[test]
    fn a_second_lock_on_the_same_store_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let first = Store::open(&target, "p", Wait::NoWait).unwrap();
        let second = Store::open(&target, "p", Wait::NoWait);
        assert!(matches!(second, Err(Error::Busy { .. })));
        drop(first);
        Store::open(&target, "p", Wait::NoWait).unwrap();
    }
}
