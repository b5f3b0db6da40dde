//! The GitHub workflows (`.github/workflows/`) and the action's metadata
//! (`action/action.yml`) are what GitHub accepts, checked with
//! action-validator through npx; and the release workflow builds the very
//! archives the action downloads (names from `release_target()` in
//! `action/leakgate_action.py`).
//!
//! npx comes with npm; `.ci/run` makes sure it is there and sets
//! LEAKGATE_REQUIRE_NPX, so only a machine without npm skips the check, and
//! says so.

mod common;

use std::process::Command;

use common::workspace;

const FILES: [&str; 3] = [
    ".github/workflows/ci.yml",
    ".github/workflows/release.yml",
    "action/action.yml",
];

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|dir| dir.join(name).is_file()))
}

#[test]
fn workflows_and_action_metadata_pass_action_validator() {
    if !on_path("npx") {
        assert!(
            std::env::var_os("LEAKGATE_REQUIRE_NPX").is_none(),
            "npx is missing (install npm)"
        );
        eprintln!(
            "SKIPPED workflows_and_action_metadata_pass_action_validator: no npx on PATH (install npm; .ci/run does)"
        );
        return;
    }
    // And the workflow `leakgate init --workflow` writes, for the fixture service.
    let generated = tempfile::tempdir().unwrap();
    let options = leakgate_init::InitOptions {
        workflow: true,
        ..Default::default()
    };
    let plan = leakgate_init::plan(
        &workspace().join("fixtures/services/LeakyService"),
        &options,
    )
    .expect("init plans the fixture");
    let workflow = generated.path().join("leakgate.yml");
    std::fs::write(&workflow, &plan.files[1].contents).unwrap();
    let files = FILES.map(|f| workspace().join(f));
    for file in files.iter().chain([&workflow]) {
        let out = Command::new("npx")
            .args(["--yes", "@action-validator/cli"])
            .arg(file)
            .current_dir(workspace())
            .output()
            .expect("npx runs");
        assert!(
            out.status.success(),
            "{} is not valid for GitHub:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The target triple and archive kind the action asks for on a runner.
fn action_release_target(runner_os: &str, runner_arch: &str) -> (String, bool) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import leakgate_action as a; t, w = a.release_target(); print(t, w)",
        ])
        .current_dir(workspace().join("action"))
        .env("RUNNER_OS", runner_os)
        .env("RUNNER_ARCH", runner_arch)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (target, windows) = text.trim().split_once(' ').unwrap();
    (target.to_string(), windows == "True")
}

#[test]
fn the_release_builds_every_archive_the_action_downloads() {
    let release = std::fs::read_to_string(workspace().join(".github/workflows/release.yml"))
        .expect("release.yml");
    let workflow: serde_json::Value = serde_saphyr::from_str(&release).expect("YAML");
    let built: Vec<&str> = workflow["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .expect("a build matrix")
        .iter()
        .map(|leg| leg["target"].as_str().unwrap())
        .collect();
    let mut wanted = Vec::new();
    for os in ["Linux", "macOS", "Windows"] {
        for arch in ["X64", "ARM64"] {
            let (target, windows) = action_release_target(os, arch);
            assert!(built.contains(&target.as_str()), "{target} is not built");
            assert_eq!(windows, target.contains("windows"), "{target}");
            wanted.push(target);
        }
    }
    assert_eq!(built.len(), wanted.len(), "only what the action installs");
    // The names the action computes: leakgate-<tag>-<target>.tar.gz, .zip on
    // Windows, listed in SHA256SUMS in `sha256sum` format.
    for needle in [
        r#"name="leakgate-${TAG}-${TARGET}""#,
        r#""$name.zip""#,
        r#""$name.tar.gz""#,
        "sha256sum leakgate-* > SHA256SUMS",
        "tags: [\"v*\"]",
    ] {
        assert!(release.contains(needle), "release.yml lacks {needle}");
    }
}
