//! Shared support for the end-to-end tests: the workspace, the binary, the lock.
#![allow(dead_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../renderers/mod.rs"]
mod renderers;

/// The workspace root, as cargo sees it.
pub fn workspace() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        cargo_metadata::MetadataCommand::new()
            .manifest_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .no_deps()
            .exec()
            .expect("cargo metadata")
            .workspace_root
            .into_std_path_buf()
    })
    .clone()
}

pub fn scenario(name: &str) -> PathBuf {
    workspace().join(format!("fixtures/scenarios/{name}.yaml"))
}

/// Serialises end-to-end runs across test threads and test binaries.
pub struct E2eLock(File);

pub fn e2e_lock() -> E2eLock {
    let path = workspace().join("target/e2e.lock");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = File::create(path).unwrap();
    // SAFETY: flock on a file descriptor we own; released when the file closes.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock target/e2e.lock");
    E2eLock(file)
}

pub fn temp_out() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("leakgate-e2e-")
        .tempdir()
        .unwrap()
}

pub struct Run {
    pub code: i32,
    /// stdout then stderr.
    pub output: String,
}

/// A running leakgate, killed if the test panics before it ends (so a failed
/// test does not leave a run loading the machine for the next one).
pub struct Leakgate(Option<Child>);

impl Leakgate {
    pub fn id(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }
}

impl Drop for Leakgate {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn leakgate_spawn(scenario: &Path, out: &Path, extra: &[&str]) -> Leakgate {
    leakgate_spawn_with(scenario, out, extra, &[])
}

/// [`leakgate_spawn`] with variables added to leakgate's environment.
pub fn leakgate_spawn_with(
    scenario: &Path,
    out: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Leakgate {
    let child = Command::new(env!("CARGO_BIN_EXE_leakgate"))
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .args(extra)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("leakgate starts");
    Leakgate(Some(child))
}

/// Waits for leakgate to end (at most 5 minutes) and collects its output.
pub fn finish(leakgate: &mut Leakgate) -> Run {
    let child = leakgate.0.take().expect("running");
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline && alive(pid) {
            std::thread::sleep(Duration::from_millis(200));
        }
        if alive(pid) {
            // SAFETY: kill(2) on the pid of our own child process.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    });
    let output = child.wait_with_output().expect("leakgate ends");
    let _ = watchdog.join();
    Run {
        code: output.status.code().unwrap_or(-1),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

pub fn leakgate_run(scenario: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut child = leakgate_spawn(scenario, out, extra);
    let run = finish(&mut child);
    check_junit(out);
    run
}

/// Every `junit.xml` a run writes is valid for the Jenkins xUnit schema and
/// holds one case per decision: at most one per budget, one per failing or
/// warning check, and a couple more (issue 22: not 1,559 passing cases).
/// Needs `xmllint`; without it (and without LEAKGATE_REQUIRE_XMLLINT) only
/// the count is checked.
pub fn check_junit(out: &Path) {
    let junit = out.join("junit.xml");
    let (Ok(xml), Ok(report)) = (
        std::fs::read_to_string(&junit),
        std::fs::read_to_string(out.join("report.json")),
    ) else {
        return;
    };
    let report: Value = serde_json::from_str(&report).expect("report.json is JSON");
    let budgets = report["budget_lines"].as_array().map_or(0, Vec::len);
    let flagged = report["verdict"]["checks"].as_array().map_or(0, |checks| {
        checks.iter().filter(|c| c["status"] != "pass").count()
    });
    let cases = xml.matches("<testcase ").count();
    assert!(
        cases <= budgets + flagged + 2,
        "{}: {cases} test cases for {budgets} budgets and {flagged} failing or warning checks",
        junit.display()
    );
    let Some(xmllint) = renderers::xmllint_or_skip("the junit.xml check of every run") else {
        return;
    };
    if let Err(e) = renderers::validate_junit(&xmllint, &junit) {
        panic!("{} is not valid for junit-10.xsd:\n{e}", junit.display());
    }
}

pub fn read_report(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

pub fn read_samples(out: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("samples"))
        .expect("samples/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

pub fn failing_checks(report: &Value) -> Vec<Value> {
    report["verdict"]["checks"]
        .as_array()
        .expect("verdict.checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .cloned()
        .collect()
}

/// Each failing type's retention: its top group carries at least nine tenths
/// of the growth its grown groups share (one leak is one group, however its
/// structure is linked and from whichever end it is reached).
pub fn assert_one_group_per_leak(name: &str, report: &Value) {
    for c in failing_checks(report) {
        let Some(type_name) = c["type_name"].as_str() else {
            continue;
        };
        let retention = report["retention"].as_array().into_iter().flatten();
        for traced in retention.filter(|r| r["type_name"] == type_name) {
            let growth: Vec<i64> = traced["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| g["growth"].as_i64().unwrap_or(0).max(0))
                .collect();
            let (top, all) = (
                growth.first().copied().unwrap_or(0),
                growth.iter().sum::<i64>(),
            );
            assert!(
                10 * top >= 9 * all,
                "{name}: {type_name}'s top group carries {top} of {all}: {:#}",
                traced["groups"]
            );
        }
    }
}

/// Finalizable objects of one type in a sample file, summed over method tables.
pub fn finalizable_count(sample: &Value, type_name: &str) -> u64 {
    sample["managed"]["finalizable_types"]
        .as_array()
        .expect("managed data")
        .iter()
        .filter(|t| t["name"] == type_name)
        .map(|t| t["count"].as_u64().unwrap())
        .sum()
}

pub fn dumps_left(out: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(out.join("dumps"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

pub fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out after {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every process below `pid` (children, grandchildren, ...).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut all = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        let children: Vec<u32> = std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|t| {
                std::fs::read_to_string(t.path().join("children"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect();
        all.extend(&children);
        frontier.extend(children);
    }
    all
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// A process's command line, arguments joined by spaces.
pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

/// Live processes whose command line contains `needle`.
pub fn pids_with(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| cmdline(pid).contains(needle))
        .filter(|&pid| alive(pid))
        .collect()
}
