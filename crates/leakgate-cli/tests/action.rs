//! The GitHub Action in `action/`: its `action.yml` is well formed, and its
//! entry script (`action/leakgate_action.py`) turns leakgate runs into
//! annotations, a job summary, step outputs and the right exit code.
//!
//! The fast tests drive the script with a fake `LEAKGATE_BIN` (a shell script
//! writing a canned report); the `real_*` tests run the real binary against
//! the fixture scenarios (30–60 s each, .NET SDK needed) under
//! `target/e2e.lock`. Nothing here touches the network: the release download
//! is exercised against a `file://` "release".

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

// ---- support -----------------------------------------------------------------

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn action_dir() -> PathBuf {
    workspace().join("action")
}

fn script() -> PathBuf {
    action_dir().join("leakgate_action.py")
}

/// Serialises end-to-end runs with the other e2e tests (same lock file, `flock`).
struct E2eLock(#[allow(dead_code)] File);

fn e2e_lock() -> E2eLock {
    let path = workspace().join("target/e2e.lock");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = File::create(&path).unwrap();
    // `File::lock` is flock(LOCK_EX) on Linux: the same lock as `libc::flock`.
    file.lock().expect("lock target/e2e.lock");
    E2eLock(file)
}

/// A simulated GitHub Actions job environment.
struct Gh {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    cwd: PathBuf,
}

struct ScriptRun {
    code: i32,
    stdout: String,
    stderr: String,
    outputs: BTreeMap<String, String>,
    summary: String,
}

impl ScriptRun {
    /// The annotations the runner would act on: not those inside a
    /// `::stop-commands::TOKEN` … `::TOKEN::` stretch.
    fn annotations(&self, level: &str) -> Vec<&str> {
        let prefix = format!("::{level} ");
        let bare = format!("::{level}::");
        let mut stopped: Option<String> = None;
        let mut found = Vec::new();
        for l in self.stdout.lines() {
            if let Some(token) = &stopped {
                if l == format!("::{token}::") {
                    stopped = None;
                }
            } else if let Some(token) = l.strip_prefix("::stop-commands::") {
                stopped = Some(token.to_string());
            } else if l.starts_with(&prefix) || l.starts_with(&bare) {
                found.push(l);
            }
        }
        found
    }

    fn context(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}\n--- outputs\n{:#?}\n--- summary\n{}",
            self.code, self.stdout, self.stderr, self.outputs, self.summary
        )
    }
}

impl Gh {
    fn new() -> Gh {
        let dir = tempfile::Builder::new()
            .prefix("leakgate-action-")
            .tempdir()
            .unwrap();
        fs::write(dir.path().join("summary.md"), "").unwrap();
        fs::write(dir.path().join("output.txt"), "").unwrap();
        let env = vec![
            ("GITHUB_ACTIONS".into(), "true".into()),
            ("GITHUB_WORKSPACE".into(), workspace().display().to_string()),
            (
                "GITHUB_STEP_SUMMARY".into(),
                dir.path().join("summary.md").display().to_string(),
            ),
            (
                "GITHUB_OUTPUT".into(),
                dir.path().join("output.txt").display().to_string(),
            ),
            (
                "GITHUB_ACTION_PATH".into(),
                action_dir().display().to_string(),
            ),
            ("RUNNER_TEMP".into(), dir.path().display().to_string()),
            (
                "INPUT_OUT_DIR".into(),
                dir.path().join("out").display().to_string(),
            ),
        ];
        Gh {
            dir,
            env,
            cwd: workspace(),
        }
    }

    fn set(&mut self, key: &str, value: impl AsRef<str>) -> &mut Gh {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.as_ref().into()));
        self
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn out_root(&self) -> PathBuf {
        self.path().join("out")
    }

    fn run(&self, subcommand: &str) -> ScriptRun {
        let mut cmd = Command::new("python3");
        cmd.env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(script())
            .arg(subcommand)
            .current_dir(&self.cwd)
            .stdin(Stdio::null());
        // Hermetic: nothing from the environment the tests run in.
        for (k, _) in std::env::vars() {
            if k.starts_with("GITHUB_")
                || k.starts_with("INPUT_")
                || k.starts_with("RUNNER_")
                || k.starts_with("LEAKGATE_")
            {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("python3 runs");
        ScriptRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs: parse_outputs(&fs::read_to_string(self.path().join("output.txt")).unwrap()),
            summary: fs::read_to_string(self.path().join("summary.md")).unwrap(),
        }
    }
}

/// Parses `$GITHUB_OUTPUT`: `name=value` lines and `name<<DELIM` … `DELIM` blocks.
fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                map.insert(line[..e].to_string(), line[e + 1..].to_string());
            }
            (_, Some(h)) => {
                let delim = &line[h + 2..];
                let mut value = Vec::new();
                loop {
                    let l = lines
                        .next()
                        .unwrap_or_else(|| panic!("unterminated heredoc {delim} in\n{text}"));
                    if l == delim {
                        break;
                    }
                    value.push(l);
                }
                map.insert(line[..h].to_string(), value.join("\n"));
            }
            _ => panic!("malformed output line {line:?} in\n{text}"),
        }
    }
    map
}

/// A fake `leakgate`: `run SCENARIO --out DIR ARGS...` records its arguments,
/// copies `$FAKE_DIR/<stem>.json` to DIR/report.json (plus a summary.md and a
/// junit.xml), prints a line that would be a workflow command, and exits with
/// `$FAKE_DIR/<stem>.code`. Without a canned report it writes nothing and
/// complains on stderr, like a scenario that does not load.
fn fake_leakgate(dir: &Path) -> PathBuf {
    let path = dir.join("fake-leakgate");
    fs::write(
        &path,
        r#"#!/bin/sh
set -e
[ "$1" = run ] || { echo "fake: expected run, got $1" >&2; exit 99; }
scenario="$2"; [ "$3" = --out ] || { echo "fake: expected --out" >&2; exit 99; }
out="$4"; shift 4
stem=$(basename "$scenario" .yaml)
printf '%s\n' "$scenario" "$out" "$@" > "$FAKE_DIR/$stem.args"
code=$(cat "$FAKE_DIR/$stem.code" 2>/dev/null || echo 0)
echo "::error::this line comes from the service and must not become an annotation"
if [ ! -f "$FAKE_DIR/$stem.json" ]; then
  echo "error: $scenario:12:3: sampling.count: expected at least 2 samples, got 1" >&2
  exit "$code"
fi
mkdir -p "$out"
cp "$FAKE_DIR/$stem.json" "$out/report.json"
printf '## leakgate: %s\n\nfake summary of %s\n\n| x | [chart](charts/finalizable-A.svg) |\n' "$stem" "$stem" > "$out/summary.md"
printf '<testsuites><testsuite name="%s"/></testsuites>\n' "$stem" > "$out/junit.xml"
if [ -f "$FAKE_DIR/$stem.md" ]; then cp "$FAKE_DIR/$stem.md" "$out/summary.md"; fi
exit "$code"
"#,
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn check(
    budget_index: usize,
    budget: &str,
    metric: &str,
    type_name: Option<&str>,
    status: &str,
    reasons: &[&str],
) -> Value {
    json!({
        "budget_index": budget_index,
        "budget": budget,
        "metric": metric,
        "type_name": type_name,
        "unit": if metric == "finalizable" { "count" } else { "bytes" },
        "samples": 5,
        "first": 120.0,
        "last": 1720.0,
        "growth": 1600.0,
        "growth_pct": 1333.3,
        "slope_per_min": 24000.0,
        "slope_per_1k_requests": 500.0,
        "mk_p_value": 0.008,
        "theil_sen_ci_per_min": [20000.0, 26000.0],
        "grew_every_sample": true,
        "trend_growing": status != "pass",
        "status": status,
        "reasons": reasons,
    })
}

/// A report with the fields of `schemas/report.schema.json` (RunReport).
fn canned_report(
    scenario: &str,
    status: &str,
    exit_code: i32,
    checks: Vec<Value>,
    snapshot: Value,
) -> Value {
    json!({
        "scenario": scenario,
        "scenario_file": format!("fixtures/scenarios/{scenario}.yaml"),
        "started": "2026-01-01T00:00:00Z",
        "finished": "2026-01-01T00:01:00Z",
        "status": status,
        "exit_code": exit_code,
        "failure": null,
        "load": {"requests": 4000, "errors": 0, "p50_ms": 1.5, "p99_ms": 9.0},
        "samples": [],
        "verdict": {"status": status, "checks": checks, "weak_evidence": false, "growing": [], "notes": []},
        "snapshot": snapshot,
        "budget_lines": [33, 38],
    })
}

fn write_canned(dir: &Path, stem: &str, report: Option<&Value>, code: i32) {
    if let Some(r) = report {
        fs::write(
            dir.join(format!("{stem}.json")),
            serde_json::to_string_pretty(r).unwrap(),
        )
        .unwrap();
    }
    fs::write(dir.join(format!("{stem}.code")), code.to_string()).unwrap();
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `inputs.NAME` as a whole word in an expression.
fn mentions(text: &str, what: &str) -> bool {
    text.match_indices(what).any(|(i, _)| {
        let next = text[i + what.len()..].chars().next();
        !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

// ---- action.yml --------------------------------------------------------------

#[test]
fn action_yml_is_a_valid_composite_action() {
    let action = yaml(&action_dir().join("action.yml"));
    let script_text = fs::read_to_string(script()).unwrap();
    for key in ["name", "description"] {
        assert!(
            action[key].as_str().is_some_and(|s| !s.trim().is_empty()),
            "`{key}` is required"
        );
    }
    assert_eq!(action["runs"]["using"], "composite");
    let steps = action["runs"]["steps"]
        .as_array()
        .expect("runs.steps is a list");
    assert!(!steps.is_empty());

    let mut step_ids = BTreeMap::new();
    let mut uses_text = String::new();
    for (i, step) in steps.iter().enumerate() {
        let step = step
            .as_object()
            .unwrap_or_else(|| panic!("step {i} is a mapping"));
        if let Some(id) = step.get("id").and_then(Value::as_str) {
            step_ids.insert(id.to_string(), step.clone());
        }
        match (step.get("run"), step.get("uses")) {
            (Some(run), None) => {
                let run = run.as_str().expect("run is a string");
                assert!(
                    !run.contains("${{"),
                    "step {i}: inputs reach scripts only through env:, never ${{{{ }}}} in run:\n{run}"
                );
                assert!(
                    step.get("shell").is_some(),
                    "step {i}: a composite run step needs a shell"
                );
                assert!(
                    run.contains("$GITHUB_ACTION_PATH/leakgate_action.py"),
                    "step {i} runs the entry script"
                );
            }
            (None, Some(uses)) => uses_text.push_str(uses.as_str().unwrap()),
            _ => panic!("step {i} has exactly one of run/uses"),
        }
    }
    assert!(script().is_file());

    // Every input is used by some step's env:, with: or if:.
    let inputs = action["inputs"].as_object().expect("inputs");
    for name in [
        "scenario",
        "version",
        "args",
        "working-directory",
        "upload-artifacts",
        "summary",
    ] {
        assert!(inputs.contains_key(name), "input `{name}` is declared");
    }
    assert_eq!(inputs["scenario"]["required"], true);
    assert_eq!(inputs["version"]["default"], "source");
    assert_eq!(inputs["upload-artifacts"]["default"], "reports");
    assert_eq!(inputs["summary"]["default"], "true");
    for name in inputs.keys() {
        let used = steps.iter().any(|s| {
            ["env", "with", "if"].iter().any(|k| {
                let text = match &s[*k] {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                mentions(&text, &format!("inputs.{name}"))
            })
        });
        assert!(
            used,
            "input `{name}` is used by a step's env:, with: or if:"
        );
    }

    // Every output comes from a step output that the step sets.
    let outputs = action["outputs"].as_object().expect("outputs");
    for name in ["verdict", "report", "junit"] {
        assert!(outputs.contains_key(name), "output `{name}` is declared");
    }
    for (name, output) in outputs {
        let value = output["value"]
            .as_str()
            .unwrap_or_else(|| panic!("output `{name}` has a value"));
        let inner = value
            .trim()
            .strip_prefix("${{")
            .and_then(|v| v.strip_suffix("}}"))
            .unwrap_or_else(|| panic!("output `{name}` is an expression: {value}"))
            .trim();
        let parts: Vec<&str> = inner.split('.').collect();
        assert!(
            parts.len() == 4 && parts[0] == "steps" && parts[2] == "outputs",
            "output `{name}`: {inner}"
        );
        let step = step_ids
            .get(parts[1])
            .unwrap_or_else(|| panic!("output `{name}`: no step `{}`", parts[1]));
        assert!(
            step.contains_key("run"),
            "output `{name}` comes from a script step"
        );
        assert!(
            script_text.contains(&format!("write_output(\"{}\"", parts[3])),
            "output `{name}`: the script writes `{}` to $GITHUB_OUTPUT",
            parts[3]
        );
    }

    // The artifacts: upload-artifact v4, conditional on the input, even after a failing run.
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an upload step");
    assert_eq!(upload["uses"], "actions/upload-artifact@v4");
    let cond = upload["if"].as_str().expect("the upload is conditional");
    assert!(
        mentions(cond, "inputs.upload-artifacts") && cond.contains("'none'"),
        "{cond}"
    );
    assert!(
        cond.contains("!cancelled()") || cond.contains("always()"),
        "uploads after a failing gate too: {cond}"
    );
    assert!(uses_text.contains("actions/upload-artifact@v4"));
}

// ---- the entry script with a fake leakgate ------------------------------------

#[test]
fn annotation_escaping() {
    let code = r#"
import sys; sys.path.insert(0, sys.argv[1]); import leakgate_action as a
print(a.command("error", "100% done\r\nnext: a,b", file="dir/a,b:c.yaml", line=7, title="50%: x, y\nz"))
print(a.command("warning", "plain"))
print(a.command("error", "m", file="f.yaml", line=None, title=""))
"#;
    let out = Command::new("python3")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg("-c")
        .arg(code)
        .arg(action_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "::error file=dir/a%2Cb%3Ac.yaml,line=7,title=50%25%3A x%2C y%0Az::100%25 done%0D%0Anext: a,b",
            "::warning::plain",
            "::error file=f.yaml::m",
        ]
    );
}

#[test]
fn failing_report_becomes_annotations_summary_outputs_and_exit_1() {
    let mut gh = Gh::new();
    let fake_dir = gh.path().join("fake");
    fs::create_dir_all(&fake_dir).unwrap();
    let bin = fake_leakgate(&fake_dir);
    let report = canned_report(
        "dynamic-method-leak",
        "fail",
        1,
        vec![
            check(
                0,
                "no finalizable type keeps growing, at all: ever",
                "finalizable",
                Some("System.Reflection.Emit.DynamicResolver"),
                "fail",
                &[
                    "grew by 1,600 (+1333.3%) over 5 samples",
                    "rises on every sample\nsecond line",
                ],
            ),
            check(
                0,
                "no finalizable type keeps growing, at all: ever",
                "finalizable",
                Some("System.String"),
                "pass",
                &["flat"],
            ),
            check(
                1,
                "committed unknown memory stays bounded",
                "committed.unknown",
                None,
                "warn",
                &["grew by 40 MiB, 62% of the 64 MiB budget"],
            ),
        ],
        json!({"outcome": "differs", "diff": "--- approved\n+++ current\n+finalizable System.Reflection.Emit.DynamicResolver", "new_growth": ["finalizable System.Reflection.Emit.DynamicResolver"]}),
    );
    write_canned(&fake_dir, "dynamic-method-leak", Some(&report), 1);
    gh.set("FAKE_DIR", fake_dir.display().to_string())
        .set("LEAKGATE_BIN", bin.display().to_string())
        .set(
            "INPUT_SCENARIO",
            "fixtures/scenarios/dynamic-method-leak.yaml",
        )
        .set("INPUT_ARGS", "--no-build  --keep-dumps")
        .set("INPUT_SUMMARY", "true")
        .set("INPUT_UPLOAD_ARTIFACTS", "reports");
    let run = gh.run("run");
    let ctx = run.context();
    assert_eq!(run.code, 1, "the script exits with leakgate's code\n{ctx}");

    // leakgate got the scenario, an --out directory and the extra args.
    let args = fs::read_to_string(fake_dir.join("dynamic-method-leak.args")).unwrap();
    let out_dir = gh.out_root().join("dynamic-method-leak");
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "fixtures/scenarios/dynamic-method-leak.yaml",
            &out_dir.display().to_string(),
            "--no-build",
            "--keep-dumps"
        ]
    );

    // Budget annotations point at the budget's line, escaped; passes are silent.
    let errors = run.annotations("error");
    let file = "file=fixtures/scenarios/dynamic-method-leak.yaml";
    assert_eq!(
        errors[0],
        format!(
            "::error {file},line=33,title=leakgate dynamic-method-leak%3A no finalizable type keeps growing%2C at all%3A ever::\
             finalizable System.Reflection.Emit.DynamicResolver: grew by 1,600 (+1333.3%25) over 5 samples; rises on every sample%0Asecond line"
        ),
        "{ctx}"
    );
    assert!(
        !run.stdout.contains("System.String"),
        "passing checks are not annotated\n{ctx}"
    );
    let warnings = run.annotations("warning");
    assert_eq!(warnings.len(), 1, "{ctx}");
    assert!(
        warnings[0].starts_with(&format!("::warning {file},line=38,title=")),
        "{ctx}"
    );
    // New growth versus the snapshot: an error on the scenario file.
    assert_eq!(
        errors.len(),
        2,
        "one budget error and one new-growth error\n{ctx}"
    );
    assert!(
        errors[1].starts_with(&format!(
            "::error {file},title=leakgate dynamic-method-leak%3A new growth::"
        )),
        "{ctx}"
    );
    assert!(
        errors[1].contains("finalizable System.Reflection.Emit.DynamicResolver")
            && errors[1].contains("%0A+++ current"),
        "{ctx}"
    );

    // What leakgate printed cannot act as a workflow command.
    let lines: Vec<&str> = run.stdout.lines().collect();
    let evil = lines
        .iter()
        .position(|l| l.contains("must not become an annotation"))
        .expect("output streamed");
    let stop = lines
        .iter()
        .position(|l| l.starts_with("::stop-commands::"))
        .expect("commands stopped");
    let token = lines[stop].trim_start_matches("::stop-commands::");
    assert!(token.len() >= 16);
    let resume = lines
        .iter()
        .position(|l| *l == format!("::{token}::"))
        .expect("commands resumed");
    assert!(stop < evil && evil < resume, "{ctx}");
    assert!(resume < lines.iter().position(|l| *l == errors[0]).unwrap());

    // Summary, outputs.
    assert!(
        run.summary
            .contains("## leakgate: dynamic-method-leak\n\nfake summary of dynamic-method-leak"),
        "{ctx}"
    );
    // Relative chart links cannot work in the job summary: they name the artifact file instead.
    assert!(
        run.summary
            .contains("| x | `dynamic-method-leak/charts/finalizable-A.svg` |"),
        "{ctx}"
    );
    assert!(!run.summary.contains("](charts/"), "{ctx}");
    assert_eq!(run.outputs["verdict"], "fail");
    assert_eq!(run.outputs["exit-code"], "1");
    assert_eq!(
        run.outputs["report"],
        out_dir.join("report.json").display().to_string()
    );
    assert_eq!(
        run.outputs["junit"],
        out_dir.join("junit.xml").display().to_string()
    );
    assert_eq!(run.outputs["out-dir"], gh.out_root().display().to_string());
    let root = gh.out_root().display().to_string();
    assert_eq!(
        run.outputs["artifact-paths"],
        format!("{root}\n!{root}/**/dumps/**"),
        "dumps are not uploaded by default"
    );
    // Every step output action.yml maps is set.
    let action = yaml(&action_dir().join("action.yml"));
    for (name, o) in action["outputs"].as_object().unwrap() {
        let v = o["value"].as_str().unwrap();
        if let Some(step_output) = v
            .strip_prefix("${{ steps.run.outputs.")
            .and_then(|v| v.strip_suffix(" }}"))
        {
            assert!(
                run.outputs.contains_key(step_output),
                "output `{name}` ({step_output}) is written\n{ctx}"
            );
        }
    }
}

#[test]
fn several_scenarios_glob_fallback_lines_and_runs_that_could_not_be_done() {
    let mut gh = Gh::new();
    let fake_dir = gh.path().join("fake");
    fs::create_dir_all(&fake_dir).unwrap();
    let bin = fake_leakgate(&fake_dir);
    // An older report without budget_lines/scenario_file: lines come from the YAML.
    let mut leak = canned_report(
        "dynamic-method-leak",
        "fail",
        1,
        vec![check(
            1,
            "committed unknown memory stays bounded",
            "committed.unknown",
            None,
            "fail",
            &["grew by 80 MiB"],
        )],
        Value::Null,
    );
    leak.as_object_mut().unwrap().remove("budget_lines");
    leak.as_object_mut().unwrap().remove("scenario_file");
    leak.as_object_mut().unwrap().remove("snapshot");
    write_canned(&fake_dir, "dynamic-method-leak", Some(&leak), 1);
    let healthy = canned_report(
        "healthy",
        "pass",
        0,
        vec![check(
            0,
            "no finalizable type keeps growing",
            "finalizable",
            Some("System.Object"),
            "pass",
            &["flat"],
        )],
        json!({"outcome": "matches"}),
    );
    write_canned(&fake_dir, "healthy", Some(&healthy), 0);
    // native-leak: no report at all, exit 2 (the scenario did not load).
    write_canned(&fake_dir, "native-leak", None, 2);

    // A workspace of its own, holding copies of the fixture scenarios.
    let ws = gh.path().join("ws");
    fs::create_dir_all(ws.join("fixtures/scenarios")).unwrap();
    for stem in ["dynamic-method-leak", "healthy", "native-leak"] {
        let name = format!("fixtures/scenarios/{stem}.yaml");
        fs::copy(workspace().join(&name), ws.join(&name)).unwrap();
    }
    gh.cwd = ws.clone();
    gh.set("GITHUB_WORKSPACE", ws.display().to_string())
        .set("FAKE_DIR", fake_dir.display().to_string())
        .set("LEAKGATE_BIN", bin.display().to_string())
        .set("INPUT_WORKING_DIRECTORY", "fixtures")
        .set(
            "INPUT_SCENARIO",
            "scenarios/*.yaml\n  scenarios/healthy.yaml\n",
        )
        .set("INPUT_UPLOAD_ARTIFACTS", "dumps");
    let run = gh.run("run");
    let ctx = run.context();
    assert_eq!(run.code, 2, "the worst exit code wins\n{ctx}");
    assert_eq!(run.outputs["verdict"], "error");

    let errors = run.annotations("error");
    assert!(
        errors.iter().any(|e| e.starts_with(
            "::error file=fixtures/scenarios/dynamic-method-leak.yaml,line=38,title="
        )),
        "the budget line is found in the YAML when the report lacks it\n{ctx}"
    );
    assert!(
        !errors.iter().any(|e| e.contains("healthy")),
        "a passing scenario is not annotated\n{ctx}"
    );
    let could_not = errors
        .iter()
        .find(|e| {
            e.starts_with(
                "::error file=fixtures/scenarios/native-leak.yaml,title=leakgate could not run",
            )
        })
        .unwrap_or_else(|| panic!("a run that could not be done is an error on its file\n{ctx}"));
    assert!(
        could_not.contains("sampling.count: expected at least 2 samples"),
        "the message is leakgate's own\n{ctx}"
    );
    assert_eq!(errors.len(), 2, "{ctx}");

    // Each scenario once, in glob order.
    assert!(run.summary.contains("fake summary of dynamic-method-leak"));
    assert!(run.summary.contains("fake summary of healthy"));
    assert_eq!(
        run.summary.matches("fake summary of healthy").count(),
        1,
        "a scenario listed twice runs once\n{ctx}"
    );
    assert!(
        run.summary.contains("**Could not run** (exit code 2)"),
        "{ctx}"
    );

    let junit: Vec<&str> = run.outputs["junit"].lines().collect();
    assert_eq!(junit.len(), 2, "{ctx}");
    assert!(
        junit[0].ends_with("dynamic-method-leak/junit.xml")
            && junit[1].ends_with("healthy/junit.xml")
    );
    assert_eq!(run.outputs["reports"].lines().count(), 2);
    let combined_path = run.outputs["report"].clone();
    assert!(combined_path.ends_with("combined-report.json"), "{ctx}");
    let combined: Value =
        serde_json::from_str(&fs::read_to_string(&combined_path).unwrap()).unwrap();
    assert_eq!(combined["verdict"], "error");
    assert_eq!(combined["exit_code"], 2);
    let runs = combined["runs"].as_array().unwrap();
    let codes: Vec<_> = runs
        .iter()
        .map(|r| {
            (
                r["scenario_file"].as_str().unwrap(),
                r["exit_code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("scenarios/dynamic-method-leak.yaml", 1),
            ("scenarios/healthy.yaml", 0),
            ("scenarios/native-leak.yaml", 2)
        ]
    );
    assert!(runs[2]["report"].is_null());
    assert!(Path::new(runs[1]["report"].as_str().unwrap()).is_file());
    // upload-artifacts: dumps uploads the whole output root.
    assert_eq!(
        run.outputs["artifact-paths"],
        gh.out_root().display().to_string()
    );
}

#[test]
fn scenario_that_matches_nothing_and_bad_args_are_errors() {
    let mut gh = Gh::new();
    gh.set("LEAKGATE_BIN", "/nonexistent/leakgate")
        .set("INPUT_SCENARIO", "fixtures/nowhere/*.yaml");
    let run = gh.run("run");
    assert_eq!(run.code, 2, "{}", run.context());
    assert_eq!(run.outputs["verdict"], "error");
    assert!(
        run.annotations("error")[0].contains("no scenario file matches"),
        "{}",
        run.context()
    );

    gh.set("INPUT_SCENARIO", "fixtures/scenarios/healthy.yaml");
    let run = gh.run("run");
    assert_eq!(
        run.code,
        2,
        "a missing binary cannot run\n{}",
        run.context()
    );
    assert!(run.annotations("error").iter().any(|e| {
        e.starts_with("::error file=fixtures/scenarios/healthy.yaml,") && e.contains("cannot start")
    }));

    gh.set("INPUT_ARGS", "--out elsewhere");
    let run = gh.run("run");
    assert_eq!(run.code, 2);
    assert!(run.annotations("error")[0].contains("must not set --out"));
}

#[test]
fn oversized_summary_is_replaced_by_a_note() {
    let mut gh = Gh::new();
    let fake_dir = gh.path().join("fake");
    fs::create_dir_all(&fake_dir).unwrap();
    let bin = fake_leakgate(&fake_dir);
    let healthy = canned_report("healthy", "pass", 0, vec![], json!({"outcome": "matches"}));
    write_canned(&fake_dir, "healthy", Some(&healthy), 0);
    let huge = format!(
        "## leakgate: healthy — ✅ pass\n\n{}",
        "| row | with | cells |\n".repeat(60_000)
    );
    fs::write(fake_dir.join("healthy.md"), &huge).unwrap();
    gh.set("FAKE_DIR", fake_dir.display().to_string())
        .set("LEAKGATE_BIN", bin.display().to_string())
        .set("INPUT_SCENARIO", "fixtures/scenarios/healthy.yaml");
    let run = gh.run("run");
    assert_eq!(run.code, 0, "{}", run.context());
    assert!(run.summary.len() < 1024 * 1024);
    assert!(
        run.summary
            .starts_with("## leakgate: healthy — ✅ pass\n\n(summary too large"),
        "{}",
        &run.summary[..200.min(run.summary.len())]
    );
}

// ---- install from a release (offline: a file:// release) ----------------------

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn install_release_verifies_sha256() {
    let mut gh = Gh::new();
    let release = gh.path().join("releases/v1.2.3");
    let staging = gh.path().join("staging/leakgate-v1.2.3");
    fs::create_dir_all(&release).unwrap();
    fs::create_dir_all(&staging).unwrap();
    fs::write(staging.join("leakgate"), "#!/bin/sh\necho leakgate 1.2.3\n").unwrap();
    fs::set_permissions(staging.join("leakgate"), fs::Permissions::from_mode(0o755)).unwrap();
    let archive = release.join("leakgate-v1.2.3-x86_64-unknown-linux-gnu.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(gh.path().join("staging"))
        .arg("leakgate-v1.2.3")
        .status()
        .unwrap();
    assert!(status.success());
    let good = format!(
        "{}  leakgate-v1.2.3-aarch64-apple-darwin.tar.gz\n{} *leakgate-v1.2.3-x86_64-unknown-linux-gnu.tar.gz\n",
        "0".repeat(64),
        sha256(&archive)
    );
    fs::write(release.join("SHA256SUMS"), &good).unwrap();

    let base_url = format!("file://{}", gh.path().join("releases").display());
    let install_dir = gh.path().join("bin-ok").display().to_string();
    gh.set("INPUT_VERSION", "1.2.3")
        .set("RUNNER_OS", "Linux")
        .set("RUNNER_ARCH", "X64")
        .set("LEAKGATE_RELEASE_BASE_URL", base_url)
        .set("LEAKGATE_INSTALL_DIR", install_dir);
    let run = gh.run("install");
    assert_eq!(run.code, 0, "{}", run.context());
    let bin = PathBuf::from(&run.outputs["bin"]);
    assert_eq!(bin, gh.path().join("bin-ok/leakgate"));
    let version = Command::new(&bin).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout), "leakgate 1.2.3\n");
    assert!(run.stdout.contains("SHA-256 verified"));

    // A tampered archive is refused and nothing is installed.
    fs::write(
        release.join("SHA256SUMS"),
        good.replace(&sha256(&archive), &"a".repeat(64)),
    )
    .unwrap();
    fs::write(gh.path().join("output.txt"), "").unwrap();
    let install_dir = gh.path().join("bin-bad").display().to_string();
    gh.set("LEAKGATE_INSTALL_DIR", install_dir);
    let run = gh.run("install");
    assert_eq!(run.code, 2, "{}", run.context());
    assert!(
        run.annotations("error")[0].contains("checksum mismatch"),
        "{}",
        run.context()
    );
    assert!(!gh.path().join("bin-bad/leakgate").exists());
    assert!(!run.outputs.contains_key("bin"));

    // No asset for the platform in SHA256SUMS.
    gh.set("RUNNER_ARCH", "ARM64");
    let run = gh.run("install");
    assert_eq!(run.code, 2);
    assert!(
        run.annotations("error")[0]
            .contains("lists no leakgate-v1.2.3-aarch64-unknown-linux-gnu.tar.gz"),
        "{}",
        run.context()
    );
}

#[test]
fn install_from_source_uses_cargo_install_locked_on_the_action_checkout() {
    let mut gh = Gh::new();
    // A fake cargo on PATH: records its arguments and "installs" a binary.
    let tools = gh.path().join("tools");
    fs::create_dir_all(&tools).unwrap();
    fs::write(
        tools.join("cargo"),
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$(dirname \"$0\")/cargo.args\"\n\
         while [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=\"$2\"; shift; done\n\
         mkdir -p \"$root/bin\" && printf '#!/bin/sh\\necho leakgate source\\n' > \"$root/bin/leakgate\" && chmod +x \"$root/bin/leakgate\"\n",
    )
    .unwrap();
    fs::set_permissions(tools.join("cargo"), fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", tools.display(), std::env::var("PATH").unwrap());
    let dest = gh.path().join("bin-src").display().to_string();
    gh.set("PATH", &path)
        .set("INPUT_VERSION", "source")
        .set("LEAKGATE_INSTALL_DIR", &dest);
    let run = gh.run("install");
    assert_eq!(run.code, 0, "{}", run.context());
    let args = fs::read_to_string(tools.join("cargo.args")).unwrap();
    let package = workspace()
        .join("crates/leakgate-cli")
        .display()
        .to_string();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        ["install", "--locked", "--path", &package, "--root", &dest]
    );
    assert_eq!(run.outputs["bin"], format!("{dest}/bin/leakgate"));

    // `version: path` takes the leakgate on PATH.
    fs::copy(format!("{dest}/bin/leakgate"), tools.join("leakgate")).unwrap();
    fs::write(gh.path().join("output.txt"), "").unwrap();
    gh.set("INPUT_VERSION", "path");
    let run = gh.run("install");
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(
        run.outputs["bin"],
        tools.join("leakgate").display().to_string()
    );
}

// ---- the real binary against the fixtures (30–60 s each) ----------------------

fn real_run(scenario: &str) -> (ScriptRun, Value, tempfile::TempDir) {
    let mut gh = Gh::new();
    gh.set("LEAKGATE_BIN", env!("CARGO_BIN_EXE_leakgate"))
        .set(
            "INPUT_SCENARIO",
            format!("fixtures/scenarios/{scenario}.yaml"),
        )
        .set("INPUT_SUMMARY", "true")
        .set("INPUT_UPLOAD_ARTIFACTS", "reports");
    let run = {
        let _lock = e2e_lock();
        gh.run("run")
    };
    let report_path = run
        .outputs
        .get("report")
        .cloned()
        .unwrap_or_else(|| panic!("{}", run.context()));
    let report: Value = serde_json::from_str(
        &fs::read_to_string(&report_path)
            .unwrap_or_else(|e| panic!("{report_path}: {e}\n{}", run.context())),
    )
    .unwrap();
    (run, report, gh.dir)
}

#[test]
fn real_leakgate_failing_scenario_is_annotated_at_its_budget() {
    let (run, report, _dir) = real_run("dynamic-method-leak");
    let ctx = run.context();
    assert_eq!(run.code, 1, "{ctx}");
    assert_eq!(
        report["exit_code"], 1,
        "the script's exit code is leakgate's"
    );
    assert_eq!(run.outputs["verdict"], "fail");
    assert!(
        run.outputs["junit"].ends_with("/junit.xml") && Path::new(&run.outputs["junit"]).is_file()
    );
    assert!(
        run.summary.contains("## leakgate: dynamic-method-leak"),
        "{ctx}"
    );
    // The finalizable budget (line 33 of the fixture) fails on DynamicResolver.
    let lines = report["budget_lines"]
        .as_array()
        .map(|l| l[0].as_u64().unwrap())
        .unwrap_or(33);
    assert_eq!(lines, 33);
    let prefix = "::error file=fixtures/scenarios/dynamic-method-leak.yaml,line=33,";
    let errors = run.annotations("error");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(prefix) && e.contains("System.Reflection.Emit.DynamicResolver")),
        "{ctx}"
    );
}

#[test]
fn real_leakgate_passing_scenario_has_no_error_annotations() {
    let (run, report, _dir) = real_run("healthy");
    let ctx = run.context();
    assert_eq!(run.code, 0, "{ctx}");
    assert_eq!(report["exit_code"], 0);
    assert_eq!(run.outputs["verdict"], "pass");
    assert!(Path::new(&run.outputs["junit"]).is_file());
    assert!(run.summary.contains("## leakgate: healthy"), "{ctx}");
    assert!(run.annotations("error").is_empty(), "{ctx}");
}
