//! The binary on files a pull request controls (no service started): file
//! and scenario names reach stdout one line each and never as a workflow
//! command, a lying leg cannot turn `merge` green, `merge` refuses an
//! `--out` inside its inputs, and a shard with nothing to run says why,
//! passes, and is reported by `merge`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use leakgate_gate::report::{Outcome, RunInfo, RunReport, to_json};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs leakgate in `cwd`; kills it after 30 s (a walk through self-links
/// used to never end), failing the test.
fn leakgate(args: &[&std::ffi::OsStr], cwd: &Path) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_leakgate"))
        .args(args)
        .current_dir(cwd)
        .env_remove("GITHUB_ACTIONS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("leakgate {args:?} did not end in 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// No line of `text` is read by a runner as a workflow command.
fn no_workflow_command(text: &str) {
    for line in text.lines() {
        let l = line.trim_start();
        assert!(
            !l.starts_with("::") && !l.starts_with("##["),
            "{line:?} in\n{text}"
        );
    }
}

const HOSTILE: &str = "x\n::error title=pwned::injected";

#[test]
fn snapshot_file_names_are_printed_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(format!("{HOSTILE}.snap.new")),
        "scenario: x\n",
    )
    .unwrap();
    let out = leakgate(&["reject".as_ref(), ".".as_ref()], dir.path());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("rejected"), "{}", out.stdout);
    assert_eq!(out.stdout.lines().count(), 1, "{:?}", out.stdout);
    no_workflow_command(&out.stdout);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn reject_stays_in_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, outside) = (dir.path().join("tree"), dir.path().join("outside"));
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("theirs.snap.new"), "scenario: theirs\n").unwrap();
    std::os::unix::fs::symlink(&outside, tree.join("link")).unwrap();
    for l in ["l1", "l2", "l3"] {
        std::os::unix::fs::symlink(&tree, tree.join(l)).unwrap();
    }
    let out = leakgate(&["reject".as_ref(), tree.as_os_str()], dir.path());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("no pending snapshots"),
        "{}",
        out.stdout
    );
    assert!(outside.join("theirs.snap.new").exists());
}

#[test]
fn a_lying_leg_fails_the_merge_and_names_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let leg = dir.path().join("legs/1");
    std::fs::create_dir_all(&leg).unwrap();
    let mut lying = RunReport::failed(RunInfo::new(HOSTILE), "crashed", vec![], None);
    lying.outcome = Outcome::Pass;
    std::fs::write(leg.join("report.json"), to_json(&lying)).unwrap();
    let out = leakgate(
        &[
            "merge".as_ref(),
            "legs".as_ref(),
            "--out".as_ref(),
            "merged".as_ref(),
        ],
        dir.path(),
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    no_workflow_command(&out.stdout);
    no_workflow_command(&out.stderr);
    assert!(out.stdout.starts_with("COULD NOT RUN x"), "{}", out.stdout);
    assert!(
        out.stderr.contains("legs/1/report.json says outcome pass"),
        "{}",
        out.stderr
    );
}

/// Every file under `dir` with its contents.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn merging_into_an_out_inside_the_legs_is_refused_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let leg = dir.path().join("legs/1");
    std::fs::create_dir_all(leg.join("charts")).unwrap();
    let run = RunReport::failed(RunInfo::new("a"), "crashed", vec![], None);
    std::fs::write(leg.join("report.json"), to_json(&run)).unwrap();
    std::fs::write(leg.join("charts/a.svg"), "<svg/>").unwrap();
    // What a first merge into legs/merged left, when that was allowed.
    let old = dir.path().join("legs/merged");
    std::fs::create_dir_all(old.join("charts")).unwrap();
    std::fs::write(old.join(".leakgate-out"), "").unwrap();
    std::fs::write(old.join("report.json"), "{}").unwrap();
    std::fs::write(old.join("summary.md"), "## leakgate").unwrap();
    std::fs::write(old.join("charts/m.svg"), "<svg/>").unwrap();
    let before = files(dir.path());
    for out in ["legs/merged", "legs/new"] {
        let merge = leakgate(
            &[
                "merge".as_ref(),
                "legs".as_ref(),
                "--out".as_ref(),
                out.as_ref(),
            ],
            dir.path(),
        );
        assert_eq!(merge.code, 2, "{}{}", merge.stdout, merge.stderr);
        assert!(
            merge
                .stderr
                .contains(&format!("--out {out} lies inside legs"))
                && merge.stderr.contains("choose an --out outside"),
            "{}",
            merge.stderr
        );
        assert_eq!(merge.stdout, "", "nothing merged");
        assert_eq!(files(dir.path()), before, "nothing written or deleted");
    }
    assert!(!dir.path().join("legs/new").exists());
}

#[test]
fn an_empty_shard_passes_says_why_and_merge_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), "name: a\n").unwrap();
    let out = leakgate(
        &[
            "run".as_ref(),
            "a.yaml".as_ref(),
            "--shard".as_ref(),
            "2/2".as_ref(),
            "--runs-json".as_ref(),
            "index.json".as_ref(),
        ],
        dir.path(),
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("shard 2/2 holds none of the 1 scenario"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("use at most 1 shards"),
        "{}",
        out.stderr
    );
    // The run index, where asked and in the leg's directory (the default --out).
    let given = std::fs::read_to_string(dir.path().join("index.json")).unwrap();
    let leg = std::fs::read_to_string(dir.path().join("leakgate-out/runs.json")).unwrap();
    assert_eq!(given, leg);
    let index: serde_json::Value = serde_json::from_str(&leg).unwrap();
    assert_eq!(
        index,
        serde_json::json!({"outcome": "pass", "exit_code": 0, "runs": [], "shard": "2/2"})
    );

    // Merged with a leg that ran: reported, on stderr and in the summary.
    let ran = dir.path().join("legs/1");
    std::fs::create_dir_all(&ran).unwrap();
    let failed = RunReport::failed(RunInfo::new("b"), "crashed", vec![], None);
    std::fs::write(ran.join("report.json"), to_json(&failed)).unwrap();
    std::fs::rename(dir.path().join("leakgate-out"), dir.path().join("legs/2")).unwrap();
    let merge = leakgate(
        &[
            "merge".as_ref(),
            "legs/1".as_ref(),
            "legs/2".as_ref(),
            "--out".as_ref(),
            "merged".as_ref(),
        ],
        dir.path(),
    );
    assert_eq!(
        merge.code, 2,
        "b's outcome\n{}{}",
        merge.stdout, merge.stderr
    );
    assert!(
        merge.stderr.contains("shard 2/2 ran no scenarios")
            && merge.stderr.contains("legs/2/runs.json"),
        "{}",
        merge.stderr
    );
    assert!(
        merge.stdout.contains("1 empty shard noted"),
        "{}",
        merge.stdout
    );
    let summary = std::fs::read_to_string(dir.path().join("merged/summary.md")).unwrap();
    assert!(summary.contains("shard 2/2 ran no scenarios"), "{summary}");

    // Only empty shards: nothing was measured, which is no pass.
    let only = leakgate(
        &[
            "merge".as_ref(),
            "legs/2".as_ref(),
            "--out".as_ref(),
            "merged-2".as_ref(),
        ],
        dir.path(),
    );
    assert_eq!(only.code, 2, "{}{}", only.stdout, only.stderr);
    assert!(
        only.stderr.contains("no scenario ran in any leg")
            && only.stderr.contains("shard 2/2 ran no scenarios"),
        "{}",
        only.stderr
    );
    assert!(!dir.path().join("merged-2").exists());
}

#[test]
fn run_refuses_an_output_directory_with_a_linked_charts_directory() {
    let dir = tempfile::tempdir().unwrap();
    // The service never starts: the output directory is refused first.
    std::fs::write(
        dir.path().join("s.yaml"),
        "name: s\nservice:\n  command: \"true\"\n  ready: { http: \"http://127.0.0.1:{port}/\", timeout: 2s }\nload:\n  rate: 1\n  requests: [{ path: / }]\nsampling:\n  every: 1s\n  count: 3\n  dump: none\n",
    )
    .unwrap();
    let (out, elsewhere) = (dir.path().join("out"), dir.path().join("elsewhere"));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(out.join(".leakgate-out"), "").unwrap();
    std::fs::write(out.join("report.json"), "{}").unwrap();
    std::fs::write(elsewhere.join("keep.svg"), "<svg/>").unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("charts")).unwrap();
    let run = leakgate(
        &[
            "run".as_ref(),
            "s.yaml".as_ref(),
            "--out".as_ref(),
            "out".as_ref(),
        ],
        dir.path(),
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("charts is a symbolic link"),
        "{}",
        run.stderr
    );
    assert!(elsewhere.join("keep.svg").exists(), "behind the link: kept");
    assert_eq!(
        std::fs::read_to_string(out.join("report.json")).unwrap(),
        "{}"
    );
}
