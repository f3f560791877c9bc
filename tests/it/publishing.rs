//! Publishing a scheduled pipeline can trust: marsad writes only into folders it made, one run
//! writes an output at a time, and the output path shows a complete release at every instant.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use crate::common::*;

/// A run of the permit pipeline with `--output out`, in a fresh folder.
fn permits(out: &Path) -> assert_cmd::Command {
    let mut cmd = marsad();
    cmd.args(["-q", "run"])
        .arg(repo("pipelines/titres_sejour.toml"))
        .arg("--output")
        .arg(out);
    cmd
}

/// A small pipeline over `data.csv` in `dir`, writing to `dir/out` unless `output` is given.
fn small(dir: &Path, output: &str) -> PathBuf {
    std::fs::write(
        dir.join("schema.json"),
        r#"{"fields": [{"name": "id"}, {"name": "sexe"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("data.csv"),
        "id,sexe\n1,F\n2,M\n3,Femme\n4,Zorglub\n",
    )
    .unwrap();
    let text = format!(
        r#"name = "small"
max_rejected = 0.5
[[source]]
name = "d"
path = "data.csv"
schema = "schema.json"
[[harmonize]]
source = "d"
column = "sexe"
codelist = "sex"
into = "sex"
[[table]]
name = "t"
source = "d"
dimensions = ["sex"]
measures = [{{ name = "n", agg = "count" }}]
disclosure = {{ method = "none", reason = "test" }}
[[output]]
dir = "{output}"
"#
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run_small(pipeline: &Path, extra: &[&str]) -> std::process::Output {
    marsad()
        .args(["-q", "run"])
        .arg(pipeline)
        .args(extra)
        .output()
        .unwrap()
}

/// Every file the manifest of `dir` lists exists with its checksum: the release is complete
/// and all of one run (a mix of two runs' files would not match).
fn assert_complete(dir: &Path) {
    let m = manifest(dir);
    for output in m["outputs"].as_array().unwrap() {
        for f in output["files"].as_array().unwrap() {
            let path = dir.join(f["path"].as_str().unwrap());
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{} is listed but {e}", path.display()));
            assert_eq!(
                bytes.len() as u64,
                f["bytes"].as_u64().unwrap(),
                "{}",
                path.display()
            );
            assert_eq!(
                marsad::sha256_hex(&bytes),
                f["sha256"],
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn an_existing_folder_with_a_users_files_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("publication");
    std::fs::create_dir_all(out.join("rapport")).unwrap();
    std::fs::write(out.join("notes.txt"), "mes notes").unwrap();
    std::fs::write(out.join("rapport/these.docx"), "thèse").unwrap();
    let (_, err) = outputs(permits(&out).arg("--no-wait"), 2);
    assert!(err.contains("is not a folder marsad made"), "{err}");
    assert!(err.contains("notes.txt"), "{err}");
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mes notes"
    );
    assert!(out.join("rapport/these.docx").exists());
    // refused before anything was written beside it
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["publication"]);
}

#[test]
fn an_output_that_holds_the_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small(dir.path(), ".");
    let out = run_small(&pipeline, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("which the run reads"), "{err}");
    assert!(dir.path().join("data.csv").exists());
    assert!(dir.path().join("schema.json").exists());
}

#[test]
fn a_root_folder_is_never_an_output() {
    let (_, err) = outputs(permits(Path::new("/")).arg("--no-wait"), 2);
    assert!(err.contains("root or home folder"), "{err}");
    assert!(!Path::new("/.restricted").exists());
    assert!(!Path::new("/titres_sejour.restricted").exists());
}

#[test]
fn the_public_folder_holds_no_raw_value() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    permits(&out).assert().success();
    let public = out.join("titres_sejour");
    for raw in ["Narnia", "Utopie", "QQQ"] {
        for file in text_files(&public) {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(!text.contains(raw), "{raw} in {}", file.display());
        }
    }
    let report = std::fs::read_to_string(public.join("report.md")).unwrap();
    assert!(
        report.contains("values were not found in a code list"),
        "{report}"
    );
    let restricted =
        std::fs::read_to_string(out.join("titres_sejour.restricted/report.md")).unwrap();
    assert!(restricted.contains("Narnia"), "{restricted}");
}

fn text_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(text_files(&path));
        } else if ["md", "json", "csv", "xml"]
            .iter()
            .any(|e| path.extension().is_some_and(|x| x == *e))
        {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_rerun_on_the_same_inputs_is_up_to_date_and_force_makes_a_release() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small(dir.path(), "out");
    assert!(run_small(&pipeline, &[]).status.success());
    let again = marsad().args(["run"]).arg(&pipeline).output().unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"));
    let store = dir.path().join("out.releases/releases");
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 1);
    for _ in 0..6 {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(run_small(&pipeline, &["--force"]).status.success());
    }
    // five kept by default, the current one among them
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 5);
    assert_complete(&dir.path().join("out"));
    let listed = marsad()
        .arg("releases")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(text.lines().count(), 5, "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with('*')).count(),
        1,
        "{text}"
    );
}

#[test]
fn a_run_killed_at_any_step_of_publishing_leaves_a_complete_output() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small(dir.path(), "out");
    assert!(run_small(&pipeline, &[]).status.success());
    let out = dir.path().join("out");
    let before = manifest(&out)["run_id"].clone();
    for step in ["moved:1", "linked:1", "linked:2"] {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let killed = marsad()
            .env("MARSAD_ABORT_AFTER", step)
            .args(["-q", "run", "--force"])
            .arg(&pipeline)
            .output()
            .unwrap();
        assert!(!killed.status.success(), "{step}: the run was not stopped");
        assert_complete(&out);
        assert_complete(&dir.path().join("out.restricted"));
        assert_eq!(manifest(&out)["run_id"], before, "{step}");
    }
    // the next run cleans what the killed ones left and publishes
    let stray = dir.path().join("out.releases/staging-left-by-a-killed-run");
    std::fs::create_dir_all(&stray).unwrap();
    assert!(run_small(&pipeline, &["--force"]).status.success());
    assert!(!stray.exists());
    assert_complete(&out);
}

#[test]
fn two_runs_at_once_never_corrupt_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small(dir.path(), "out");
    let bin = assert_cmd::cargo::cargo_bin("marsad");
    for round in 0..8 {
        let spawn = || {
            Process::new(&bin)
                .args(["-q", "run", "--force"])
                .arg(&pipeline)
                .env_remove("RUST_LOG")
                .output()
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(spawn);
            let b = s.spawn(spawn);
            (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
        });
        assert!(a.status.success(), "round {round}: {a:?}");
        assert!(b.status.success(), "round {round}: {b:?}");
        assert_complete(&dir.path().join("out"));
    }
}

#[test]
fn no_wait_gives_up_at_once_while_another_run_holds_the_output() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small(dir.path(), "out");
    assert!(run_small(&pipeline, &[]).status.success());
    let lock = std::fs::File::open(dir.path().join("out.releases/lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns, released when `lock` is dropped.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let out = run_small(&pipeline, &["--no-wait", "--force"]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("another marsad run is writing"));
    drop(lock);
    assert!(run_small(&pipeline, &["--no-wait", "--force"])
        .status
        .success());
}

#[test]
fn a_dataset_from_an_older_marsad_is_kept_as_a_release() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small(dir.path(), "out");
    let old = dir.path().join("out");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("manifest.json"), r#"{"marsad_version": "0.0.9"}"#).unwrap();
    std::fs::write(old.join("report.md"), "old").unwrap();
    assert!(run_small(&pipeline, &[]).status.success());
    assert!(std::fs::symlink_metadata(&old)
        .unwrap()
        .file_type()
        .is_symlink());
    let kept: Vec<_> = std::fs::read_dir(dir.path().join("out.releases/releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("legacy-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
}

/// A full disk, on a small tmpfs where the test may mount one (root in CI); skipped elsewhere.
#[test]
fn a_full_disk_fails_cleanly_and_keeps_the_last_release() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let mounted = Process::new("mount")
        .args(["-t", "tmpfs", "-o", "size=600k", "tmpfs"])
        .arg(&disk)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let out = disk.join("o");
    let pipeline = small(dir.path(), out.to_str().unwrap());
    let first = run_small(&pipeline, &[]);
    let first_id = manifest(&out)["run_id"].clone();
    // the same file with 40,000 more rows, half of them with a sex found in no list: their
    // quarantine does not fit in 600 KiB
    let mut data = String::from("id,sexe\n");
    for i in 0..40_000 {
        let sex = if i % 2 == 0 {
            "F".to_string()
        } else {
            format!("inconnu-{i}")
        };
        data.push_str(&format!("{i},{sex}\n"));
    }
    std::fs::write(dir.path().join("data.csv"), data).unwrap();
    let full = run_small(&pipeline, &[]);
    let complete = std::panic::catch_unwind(|| assert_complete(&out));
    let still = manifest(&out)["run_id"].clone();
    let left: Vec<String> = std::fs::read_dir(disk.join("o.releases"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("staging-"))
        .collect();
    let _ = Process::new("umount").arg(&disk).status();
    assert!(first.status.success(), "{first:?}");
    assert!(!full.status.success(), "the large run fit in 600 KiB");
    let err = String::from_utf8_lossy(&full.stderr);
    assert!(err.contains("cannot write output"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        complete.is_ok(),
        "the output is not complete after a full disk"
    );
    assert_eq!(still, first_id);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_new_release_says_what_changed_since_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small(dir.path(), "out");
    assert!(run_small(&pipeline, &[]).status.success());
    // the same month sent again with two more women
    let data = std::fs::read_to_string(dir.path().join("data.csv")).unwrap();
    std::fs::write(dir.path().join("data.csv"), data + "5,F\n6,femme\n").unwrap();
    assert!(run_small(&pipeline, &[]).status.success());
    let m = manifest(&dir.path().join("out"));
    let r = &m["revisions"][0];
    assert_eq!(r["table"], "t");
    // F and the total changed; no cell came or went
    assert_eq!(r["cells_revised"], 2, "{r}");
    assert_eq!(r["cells_added"], 0);
    assert_eq!(r["largest"][0]["cell"], "sex=F");
    assert_eq!(r["largest"][0]["before"], 2.0);
    assert_eq!(r["largest"][0]["after"], 4.0);
    let report = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(
        report.contains("## Revisions since the previous release"),
        "{report}"
    );
    assert!(report.contains("- sex=F: 2 -> 4"), "{report}");
}

#[test]
fn a_users_own_link_at_the_output_path_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small(dir.path(), "out");
    let theirs = dir.path().join("documents");
    std::fs::create_dir_all(&theirs).unwrap();
    std::os::unix::fs::symlink(&theirs, dir.path().join("out")).unwrap();
    let out = run_small(&pipeline, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("a link marsad did not make"));
    assert_eq!(std::fs::read_link(dir.path().join("out")).unwrap(), theirs);
}

#[test]
fn validate_then_run_then_validate_again_all_work() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small(dir.path(), "out");
    let validate = || {
        marsad()
            .args(["-q", "validate"])
            .arg(&pipeline)
            .output()
            .unwrap()
    };
    assert!(validate().status.success());
    assert!(run_small(&pipeline, &[]).status.success());
    assert!(validate().status.success());
    assert!(dir
        .path()
        .join("out.validation/quarantine/quarantine.csv")
        .exists());
    assert_complete(&dir.path().join("out"));
}

#[test]
fn validate_never_writes_over_a_published_output() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small(dir.path(), "out");
    assert!(run_small(&pipeline, &[]).status.success());
    let out = marsad()
        .args(["-q", "validate"])
        .arg(&pipeline)
        .arg("--output")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // the public path still shows the release, with no quarantine in it
    assert!(!dir.path().join("out/quarantine").exists());
    assert_complete(&dir.path().join("out"));
}

#[test]
fn a_run_killed_between_its_two_links_is_published_again_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small(dir.path(), "out");
    assert!(run_small(&pipeline, &[]).status.success());
    // new inputs; the run dies after switching its first link
    let data = std::fs::read_to_string(dir.path().join("data.csv")).unwrap();
    std::fs::write(dir.path().join("data.csv"), data + "5,F\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let killed = marsad()
        .env("MARSAD_ABORT_AFTER", "linked:1")
        .args(["-q", "run"])
        .arg(&pipeline)
        .output()
        .unwrap();
    assert!(!killed.status.success());
    assert_complete(&dir.path().join("out"));
    let out = marsad().args(["run"]).arg(&pipeline).output().unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("up to date"));
    let (public, restricted) = (
        manifest(&dir.path().join("out")),
        manifest(&dir.path().join("out.restricted")),
    );
    assert_eq!(public["run_id"], restricted["run_id"]);
}

#[test]
fn an_output_inside_a_store_or_shared_with_another_pipeline_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = small(dir.path(), "out");
    assert!(run_small(&pipeline, &[]).status.success());
    let inside = dir.path().join("out.releases/mine");
    let out = run_small(&pipeline, &["--output", inside.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("where marsad keeps releases"));
    // another pipeline on the same output
    let text = std::fs::read_to_string(&pipeline).unwrap();
    let other = dir.path().join("other.toml");
    std::fs::write(&other, text.replace("name = \"small\"", "name = \"other\"")).unwrap();
    let out = run_small(&other, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("the releases of the pipeline `small`"));
}
