//! End to end: the approved-snapshot workflow on the real service.
//! Record → the same code passes (with another sample count: the same leak
//! signatures) → a second finalizable type grows and fails with a diff naming
//! it → `leakgate accept` → it passes → the same type leaks through another
//! holder, a path the snapshot does not approve, and fails → `ignore_paths:`
//! names its signature, and it passes.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// The dynamic-method scenario with budgets that tolerate the known leak, so
/// that the exit code speaks only of the snapshot; `extra_path` adds a request,
/// `count` sets the samples.
/// No `snapshot:` section: once `--record` has written `snapshot-flow.snap`
/// beside the scenario, later runs compare against it.
fn write_scenario(dir: &Path, extra_path: Option<&str>, count: u32) -> std::path::PathBuf {
    let service_dir = workspace().join("fixtures/services/LeakyService");
    let mut requests = String::from("    - path: /work/steady\n    - path: /leak/dynamic-method\n");
    if let Some(p) = extra_path {
        requests.push_str(&format!("    - path: {p}\n"));
    }
    let text = format!(
        r#"name: snapshot-flow
service:
  build: dotnet build -c Release --nologo -v q
  command: dotnet
  args: [bin/Release/net10.0/LeakyService.dll, --urls, "http://127.0.0.1:{{port}}"]
  cwd: {cwd}
  ready: {{ http: "http://127.0.0.1:{{port}}/healthz" }}
load:
  concurrency: 4
  rate: 90
  warmup: 3s
  requests:
{requests}sampling:
  every: 4s
  count: {count}
budgets:
  - metric: finalizable
    max_growth: 1000000
    trend: off
ignore: ["System.Net.Sockets.*", "Microsoft.AspNetCore.Server.Kestrel.*"]
"#,
        cwd = service_dir.display()
    );
    let path = dir.join("snapshot-flow.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn junit_snapshot_case(out: &Path) -> String {
    let xml = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    let start = xml.find("name=\"snapshot\"").expect("a snapshot test case");
    let case_start = xml[..start].rfind("<testcase").unwrap();
    let end = xml[case_start..]
        .find("</testcase>")
        .map_or(xml.len(), |e| case_start + e);
    xml[case_start..end].to_string()
}

#[test]
fn record_match_new_growth_accept() {
    let _lock = e2e_lock();
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snapshot-flow.snap");
    let pending = dir.path().join("snapshot-flow.snap.new");

    // 1. A first run with --record writes the approved snapshot.
    let scenario = write_scenario(dir.path(), None, 5);
    let out = temp_out();
    let run = leakgate_run(&scenario, out.path(), &["--record"]);
    assert_eq!(run.code, 0, "recording passes\n{}", run.output);
    let approved = std::fs::read_to_string(&snap).expect("the snapshot is recorded");
    assert!(
        approved.contains("System.Reflection.Emit.DynamicResolver"),
        "{approved}"
    );
    assert!(!pending.exists());
    let resolver = "System.Reflection.Emit.DynamicResolver";
    let recorded = top_signature(out.path(), resolver);
    assert!(
        approved.contains(&format!("signature: {recorded}")),
        "the snapshot approves the path by its signature\n{approved}"
    );

    // 2. The same code again passes the snapshot check (which does run); with
    // one sample less, the same leak has the same signature.
    let scenario = write_scenario(dir.path(), None, 4);
    let out = temp_out();
    let run = leakgate_run(&scenario, out.path(), &["--no-build"]);
    assert_eq!(top_signature(out.path(), resolver), recorded);
    assert_eq!(run.code, 0, "the same code passes\n{}", run.output);
    assert!(
        !read_report(out.path())["snapshot"].is_null(),
        "the recorded snapshot is compared"
    );
    assert!(
        !junit_snapshot_case(out.path()).contains("<failure"),
        "{}",
        junit_snapshot_case(out.path())
    );

    // 3. A second finalizable type grows: the gate fails, with a diff naming it.
    let scenario = write_scenario(dir.path(), Some("/leak/finalizable"), 5);
    let out = temp_out();
    let run = leakgate_run(&scenario, out.path(), &["--no-build"]);
    assert_eq!(
        run.code, 1,
        "new finalizer growth fails inside the budgets\n{}",
        run.output
    );
    let report = read_report(out.path());
    assert_eq!(
        report["snapshot"]["outcome"], "differs",
        "{}",
        report["snapshot"]
    );
    let diff = report["snapshot"]["diff"].as_str().unwrap();
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("TrackedResource")),
        "{diff}"
    );
    assert!(
        run.output.contains("TrackedResource"),
        "the console shows the diff\n{}",
        run.output
    );
    assert!(junit_snapshot_case(out.path()).contains("<failure"));
    let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(
        summary.contains("```diff") && summary.contains("TrackedResource"),
        "{summary}"
    );
    assert!(
        pending.exists(),
        "NAME.snap.new is written beside NAME.snap"
    );
    assert_eq!(
        std::fs::read_to_string(&snap).unwrap(),
        approved,
        "the approved file is untouched"
    );

    // 4. `leakgate accept` approves it; the same run then passes.
    let accept = Command::new(env!("CARGO_BIN_EXE_leakgate"))
        .arg("accept")
        .arg(&snap)
        .output()
        .unwrap();
    assert!(
        accept.status.success(),
        "{}",
        String::from_utf8_lossy(&accept.stderr)
    );
    assert!(!pending.exists());
    assert!(
        std::fs::read_to_string(&snap)
            .unwrap()
            .contains("TrackedResource")
    );
    let out = temp_out();
    let run = leakgate_run(&scenario, out.path(), &["--no-build"]);
    assert_eq!(run.code, 0, "accepted growth passes\n{}", run.output);
    let tracked = "TrackedResource";
    let kept_in_list = top_signature(out.path(), tracked);

    // 5. The same type leaks through another holder: its type is approved, its
    // path is not, so the gate fails and names the new path.
    let scenario = write_scenario(dir.path(), Some("/leak/finalizable?holder=audit"), 5);
    let out = temp_out();
    let run = leakgate_run(&scenario, out.path(), &["--no-build"]);
    assert_eq!(
        run.code, 1,
        "a new path through an approved type fails\n{}",
        run.output
    );
    let audit = top_signature(out.path(), tracked);
    assert_ne!(audit, kept_in_list, "two leaks of one type, two signatures");
    let report = read_report(out.path());
    let new_paths = &report["snapshot"]["new_paths"];
    assert_eq!(new_paths[0]["type"], tracked, "{}", report["snapshot"]);
    assert_eq!(new_paths[0]["signature"], audit.as_str());
    assert!(
        new_paths[0]["path"]
            .as_str()
            .unwrap()
            .contains("AuditTrail.Kept"),
        "{new_paths}"
    );
    let case = junit_snapshot_case(out.path());
    assert!(case.contains("<failure") && case.contains(&audit), "{case}");

    // 6. Declared not a leak (`ignore_paths:` by its signature), the same path
    // is set aside with a note, and no longer fails.
    let text = std::fs::read_to_string(&scenario).unwrap();
    std::fs::write(
        &scenario,
        text.replace("count: 5", "count: 4") + &format!("ignore_paths: [\"{audit}\"]\n"),
    )
    .unwrap();
    let out = temp_out();
    let run = leakgate_run(&scenario, out.path(), &["--no-build"]);
    assert_eq!(run.code, 0, "an ignored path does not fail\n{}", run.output);
    let report = read_report(out.path());
    assert!(
        report["snapshot"]["new_paths"].is_null(),
        "{}",
        report["snapshot"]
    );
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("TrackedResource") && notes.contains(&audit),
        "the report says what was set aside: {notes}"
    );
}

/// The signature of the path through which `type_name` grew most, in a run's report.
fn top_signature(out: &Path, type_name: &str) -> String {
    let report = read_report(out);
    let grown = report["retention"]
        .as_array()
        .and_then(|r| r.iter().find(|g| g["type_name"] == type_name))
        .unwrap_or_else(|| panic!("{type_name} is traced: {}", report["retention"]));
    grown["groups"][0]["signature"]
        .as_str()
        .expect("a signature")
        .to_string()
}
