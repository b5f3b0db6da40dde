//! A CI matrix: each job runs its share of the scenarios (`--shard I/N`,
//! same output layout as one run of all), and `leakgate merge` gives one
//! report.json, junit.xml and summary.md with the worst outcome. Small real
//! services, maps only.

use std::path::Path;
use std::process::Command;

fn scenario(dir: &Path, name: &str, path: &str) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!(
            "name: {name}\nservice:\n  command: python3\n  args: [-m, http.server, \"{{port}}\", --bind, 127.0.0.1]\n  ready: {{ http: \"http://127.0.0.1:{{port}}/\", timeout: 20s }}\nload:\n  rate: 50\n  requests: [{{ path: {path} }}]\nsampling:\n  every: 400ms\n  count: 3\n  dump: none\n  gc_before_sample: false\n"
        ),
    )
    .unwrap();
    file
}

fn leakgate(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_leakgate"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn shards_run_their_share_and_merge_into_one_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        scenario(dir.path(), "alpha", "/"),
        scenario(dir.path(), "beta", "/"),
        scenario(dir.path(), "gamma", "/no-such-page"), // a failing load: could not run
    ];
    let mut shard_dirs = Vec::new();
    let mut codes = Vec::new();
    for shard in ["1/2", "2/2"] {
        let out = dir.path().join(format!("shard-{}", &shard[..1]));
        let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref()];
        args.extend(files.iter().map(|f| f.as_os_str()));
        args.extend([
            "--shard".as_ref(),
            shard.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        let (code, _) = leakgate(&args);
        codes.push(code);
        shard_dirs.push(out);
    }
    // 1/2 ran alpha and gamma (positions 0 and 2), 2/2 ran beta; the layout is out/<name>.
    assert!(shard_dirs[0].join("alpha/report.json").is_file());
    assert!(shard_dirs[0].join("gamma/report.json").is_file());
    assert!(!shard_dirs[0].join("beta").exists());
    assert!(shard_dirs[1].join("beta/report.json").is_file());
    assert_eq!(codes, [2, 0], "gamma could not run; beta passed");

    let merged = dir.path().join("merged");
    let mut args: Vec<&std::ffi::OsStr> = vec!["merge".as_ref()];
    args.extend(shard_dirs.iter().map(|d| d.as_os_str()));
    args.extend(["--out".as_ref(), merged.as_os_str()]);
    let (code, output) = leakgate(&args);
    assert_eq!(code, 2, "the worst outcome\n{output}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("report.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "gamma", "beta"]);
    assert_eq!(report["outcome"], "error");
    let junit = std::fs::read_to_string(merged.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 3, "{junit}");
    let summary = std::fs::read_to_string(merged.join("summary.md")).unwrap();
    assert!(summary.starts_with("## leakgate: 3 scenarios"), "{summary}");
    assert!(
        summary.contains("### leakgate: gamma"),
        "each run one level down\n{summary}"
    );

    // Nothing to merge is an error, not a pass.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, output) = leakgate(&[
        "merge".as_ref(),
        empty.as_os_str(),
        "--out".as_ref(),
        dir.path().join("m2").as_os_str(),
    ]);
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("no report.json"), "{output}");
}
