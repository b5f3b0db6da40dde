//! `leakgate analyze` on real cores (made with gdb's `gcore`) and on bad input:
//! a process without a CLR, a truncated dump, a missing file and a missing SDK
//! each give a clear message and exit 2, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A real ELF core of a `sleep` process (no .NET runtime in it).
fn sleep_core(dir: &Path) -> PathBuf {
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let prefix = dir.join("core");
    let status = Command::new("gcore")
        .arg("-o")
        .arg(&prefix)
        .arg(sleeper.id().to_string())
        .output()
        .expect("gdb's gcore is installed");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(
        status.status.success(),
        "gcore: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    dir.join(format!("core.{}", sleeper.id()))
}

fn analyze(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leakgate"));
    cmd.arg("analyze").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_core_gets_the_address_summary_in_windbg_layout() {
    let dir = tempfile::tempdir().unwrap();
    let core = sleep_core(dir.path());
    let out = analyze(&[core.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    for heading in [
        "--- Usage Summary",
        "--- Type Summary (for busy)",
        "--- State Summary",
        "Committed bytes by usage",
    ] {
        assert!(s.contains(heading), "{heading} in\n{s}");
    }
    assert!(
        s.contains("Image"),
        "the sleep binary and libc are images\n{s}"
    );
    assert!(
        s.contains("reserved"),
        "the output says a core holds no reserved memory\n{s}"
    );

    let json = analyze(&["--json", core.to_str().unwrap()], &[]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("--json is JSON");
    assert_eq!(v["memory"]["source"], "elf_core");
    assert!(v["memory"]["committed_by_usage"]["image"].as_u64().unwrap() > 0);
}

#[test]
fn several_dumps_get_a_growth_table() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let (a, b) = (sleep_core(&a_dir), sleep_core(&b_dir));
    let out = analyze(&[a.to_str().unwrap(), b.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("==> "), "each dump is headed\n{s}");
    assert!(
        s.to_lowercase().contains("growth"),
        "a growth table follows\n{s}"
    );
}

#[test]
fn a_dump_without_a_clr_is_a_clear_error_with_managed() {
    let dir = tempfile::tempdir().unwrap();
    let core = sleep_core(dir.path());
    let out = analyze(&["--managed", core.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no .NET runtime"), "{}", text(&out));
    assert!(!text(&out).contains("panicked"));
}

#[test]
fn a_truncated_dump_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let core = sleep_core(dir.path());
    let bytes = std::fs::read(&core).unwrap();
    let cut = dir.path().join("cut.core");
    std::fs::write(&cut, &bytes[..bytes.len() / 100]).unwrap();
    let out = analyze(&[cut.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("cut.core") && t.contains("truncated"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn a_missing_file_and_a_foreign_file_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = analyze(&["/nonexistent/dump.dmp"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("/nonexistent/dump.dmp"));
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "not a dump at all").unwrap();
    let out = analyze(&[foreign.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("notes.txt"), "{}", text(&out));
}

#[test]
fn a_missing_sdk_says_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let core = sleep_core(dir.path());
    // A fresh cache, so no inspector build can be reused, and no `dotnet`.
    let cache = dir.path().join("cache");
    let out = analyze(
        &["--managed", core.to_str().unwrap()],
        &[
            ("XDG_CACHE_HOME", &cache),
            ("LEAKGATE_DOTNET", Path::new("/nonexistent/dotnet")),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains(".NET SDK"), "{}", text(&out));
}
