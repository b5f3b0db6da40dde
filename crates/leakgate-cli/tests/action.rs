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

use serde_json::Value;

mod renderers;

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
    /// `::stop-commands::TOKEN` … `::TOKEN::` stretch (the action stops none,
    /// but a test must not trust that).
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

/// A fake `leakgate` (Python): `run SCENARIO... --out ROOT --github-annotations
/// --runs-json INDEX ARGS...` records its arguments, prints
/// `$FAKE_DIR/annotations` (what the real one renders), and for each scenario
/// with a canned `$FAKE_DIR/<stem>.md` writes `ROOT/<stem>/{summary.md,
/// report.json,junit.xml}`; a scenario without one "does not load" (with
/// the error in `$FAKE_DIR/error`, if there is one). It
/// writes the run index and exits with `$FAKE_DIR/code`. `merge DIR...
/// --out ROOT --runs-json INDEX` writes a canned merged report and its index.
fn fake_leakgate(dir: &Path) -> PathBuf {
    let path = dir.join("fake-leakgate");
    fs::write(
        &path,
        r###"#!/usr/bin/env python3
import json, os, sys
fake = os.environ["FAKE_DIR"]
args = sys.argv[1:]
with open(os.path.join(fake, "args"), "w") as f:
    f.write("\n".join(args))
code = int(open(os.path.join(fake, "code")).read()) if os.path.exists(os.path.join(fake, "code")) else 0
if args[0] == "merge":
    root = args[args.index("--out") + 1]
    os.makedirs(root, exist_ok=True)
    open(os.path.join(root, "report.json"), "w").write("{}")
    open(os.path.join(root, "junit.xml"), "w").write("<testsuites/>")
    open(os.path.join(root, "summary.md"), "w").write("## leakgate: 3 scenarios — merged\n")
    outcome = {0: "pass", 1: "fail"}.get(code, "error")
    files = {"out_dir": root, "report_json": "report.json", "junit_xml": "junit.xml", "summary_md": "summary.md",
             "report_html": "", "charts": "", "samples": "", "dumps": "", "service_log": "",
             "snapshot": "", "pending_snapshot": ""}
    merged = {"scenario_file": "", "scenario": None, "outcome": outcome, "exit_code": code, "error": None,
              "files": files}
    json.dump({"outcome": outcome, "exit_code": code, "runs": [merged]},
              open(args[args.index("--runs-json") + 1], "w"))
    sys.exit(code)
assert args[0] == "run", args
i = args.index("--out")
scenarios, root = args[1:i], args[i + 1]
index = args[args.index("--runs-json") + 1]
if os.path.exists(os.path.join(fake, "empty_shard")):
    shard = args[args.index("--shard") + 1]
    empty = {"outcome": "pass", "exit_code": 0, "runs": [], "shard": shard}
    os.makedirs(root, exist_ok=True)
    for path in (index, os.path.join(root, "runs.json")):
        json.dump(empty, open(path, "w"))
    sys.exit(0)
if os.path.exists(os.path.join(fake, "annotations")):
    sys.stdout.write(open(os.path.join(fake, "annotations")).read())
runs = []
for s in scenarios:
    stem = os.path.splitext(os.path.basename(s))[0]
    md = os.path.join(fake, stem + ".md")
    if not os.path.exists(md):
        runs.append({"scenario_file": s, "scenario": None, "outcome": "error", "exit_code": 2,
                     "error": open(os.path.join(fake, "error")).read() if os.path.exists(os.path.join(fake, "error"))
                     else s + ":12:3: sampling.count: expected 2 to 10000 samples, got 1", "files": None})
        continue
    out = os.path.join(root, stem)
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, "summary.md"), "w").write(open(md).read())
    open(os.path.join(out, "report.json"), "w").write("{}")
    open(os.path.join(out, "junit.xml"), "w").write("<testsuites/>")
    files = {"out_dir": out, "report_json": "report.json", "junit_xml": "junit.xml", "summary_md": "summary.md",
             "charts": "charts", "samples": "samples", "dumps": "dumps", "service_log": "service.log",
             "snapshot": stem + ".snap", "pending_snapshot": stem + ".snap.new"}
    runs.append({"scenario_file": s, "scenario": stem, "outcome": "fail" if code == 1 else "pass",
                 "exit_code": code, "error": None, "files": files})
json.dump({"outcome": "fail", "exit_code": code, "runs": runs}, open(index, "w"))
sys.exit(code)
"###,
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A fake leakgate in a new job environment, with canned summaries.
fn faked(summaries: &[(&str, &str)], code: i32) -> (Gh, PathBuf) {
    let mut gh = Gh::new();
    let fake_dir = gh.path().join("fake");
    fs::create_dir_all(&fake_dir).unwrap();
    let bin = fake_leakgate(&fake_dir);
    for (stem, md) in summaries {
        fs::write(fake_dir.join(format!("{stem}.md")), md).unwrap();
    }
    fs::write(fake_dir.join("code"), code.to_string()).unwrap();
    gh.set("FAKE_DIR", fake_dir.display().to_string())
        .set("LEAKGATE_BIN", bin.display().to_string());
    (gh, fake_dir)
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
    assert_eq!(inputs["scenario"]["required"], false, "not for `merge`");
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
fn one_failing_run_becomes_outputs_a_summary_and_exit_1() {
    let (mut gh, fake_dir) = faked(
        &[(
            "dynamic-method-leak",
            "## leakgate: dynamic-method-leak — ❌ fail\n\n| x | [chart](charts/finalizable-A-0123.svg) |\n",
        )],
        1,
    );
    // leakgate's own annotations reach the runner as they are.
    let annotation = "::error file=fixtures/scenarios/dynamic-method-leak.yaml,line=33,title=leakgate::DynamicResolver grew";
    fs::write(fake_dir.join("annotations"), format!("{annotation}\n")).unwrap();
    gh.set(
        "INPUT_SCENARIO",
        "fixtures/scenarios/dynamic-method-leak.yaml",
    )
    .set("INPUT_ARGS", "--no-build --keep-dumps");
    let run = gh.run("run");
    let ctx = run.context();
    assert_eq!(run.code, 1, "{ctx}");
    let args = fs::read_to_string(fake_dir.join("args")).unwrap();
    let root = gh.out_root().display().to_string();
    let index = gh.out_root().join("runs.json").display().to_string();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "run",
            "fixtures/scenarios/dynamic-method-leak.yaml",
            "--out",
            &root,
            "--github-annotations",
            "--runs-json",
            &index,
            "--no-build",
            "--keep-dumps"
        ],
        "{ctx}"
    );
    assert_eq!(run.annotations("error"), [annotation], "{ctx}");
    let out = gh.out_root().join("dynamic-method-leak");
    assert_eq!(run.outputs["verdict"], "fail");
    assert_eq!(run.outputs["exit-code"], "1");
    assert_eq!(
        run.outputs["report"],
        out.join("report.json").display().to_string()
    );
    assert_eq!(run.outputs["reports"], run.outputs["report"]);
    assert_eq!(
        run.outputs["junit"],
        out.join("junit.xml").display().to_string()
    );
    assert_eq!(run.outputs["out-dir"], root);
    assert_eq!(
        run.outputs["artifact-paths"],
        format!("{root}\n!{root}/**/dumps/**"),
        "dumps are never uploaded unless asked"
    );
    // The chart link names the file in the uploaded artifact.
    assert!(
        run.summary
            .starts_with("## leakgate: dynamic-method-leak — ❌ fail"),
        "{ctx}"
    );
    assert!(
        run.summary
            .contains("` dynamic-method-leak/charts/finalizable-A-0123.svg `"),
        "{ctx}"
    );
    assert!(!run.summary.contains("](charts/"), "{ctx}");
}

#[test]
fn several_scenarios_and_one_that_could_not_load() {
    let (mut gh, _fake) = faked(
        &[
            ("healthy", "## leakgate: healthy — ✅ pass\n"),
            ("native-leak", "## leakgate: native-leak — ❌ fail\n"),
        ],
        2,
    );
    gh.set(
        "INPUT_SCENARIO",
        "fixtures/scenarios/healthy.yaml\n  fixtures/scenarios/native-leak.yaml  fixtures/scenarios/healthy.yaml\n# a comment\nfixtures/scenarios/dynamic-*.yaml",
    )
    .set("INPUT_UPLOAD_ARTIFACTS", "dumps");
    let run = gh.run("run");
    let ctx = run.context();
    assert_eq!(run.code, 2, "the worst exit code wins\n{ctx}");
    assert_eq!(run.outputs["verdict"], "error");
    let index: Value =
        serde_json::from_str(&fs::read_to_string(gh.out_root().join("runs.json")).unwrap())
            .unwrap();
    let files: Vec<&str> = index["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scenario_file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "fixtures/scenarios/healthy.yaml",
            "fixtures/scenarios/native-leak.yaml",
            "fixtures/scenarios/dynamic-method-leak.yaml"
        ],
        "globs expanded in order, duplicates once"
    );
    assert_eq!(
        run.outputs["report"],
        gh.out_root().join("runs.json").display().to_string(),
        "several scenarios: the run index"
    );
    assert_eq!(run.outputs["reports"].lines().count(), 2, "{ctx}");
    assert_eq!(run.outputs["junit"].lines().count(), 2, "{ctx}");
    assert!(run.summary.contains("## leakgate: healthy"), "{ctx}");
    assert!(run.summary.contains("## leakgate: native-leak"), "{ctx}");
    assert!(
        run.summary.contains(
            "## leakgate: ` fixtures/scenarios/dynamic-method-leak.yaml ` — could not run"
        ) && run.summary.contains("sampling.count"),
        "the scenario that did not load is in the summary\n{ctx}"
    );
    assert_eq!(
        run.outputs["artifact-paths"],
        gh.out_root().display().to_string(),
        "upload-artifacts: dumps uploads the whole output root"
    );
}

/// Issue 19, finding 2: the summary of a scenario that could not run put its
/// path in a heading and its error in a fixed three-backtick fence, raw; the
/// command line the script logs held the path raw too (a line break in a
/// file name, then a workflow command).
#[test]
fn hostile_scenario_paths_and_errors_stay_text() {
    let (mut gh, fake_dir) = faked(&[], 2);
    let error = "bad\u{200B}\n``\u{1b}[m`\n<img src=x>\n# Owned\n[click](https://evil.example)\n```\n::error::pwned";
    fs::write(fake_dir.join("error"), error).unwrap();
    let dir = gh.path().join("scenarios");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("x](https:evil)![i](https:e.x?i.png)<img src=y>`\u{202E}\n::error::pwned.yaml"),
        "",
    )
    .unwrap();
    gh.set("INPUT_SCENARIO", format!("{}/*.yaml", dir.display()));
    let run = gh.run("run");
    let ctx = run.context();
    assert_eq!(run.code, 2, "{ctx}");
    assert!(
        run.annotations("error").is_empty(),
        "no workflow command from a file name:\n{ctx}"
    );
    assert!(
        !run.summary.contains(['\u{202E}', '\u{200B}']),
        "invisible characters are shown by code point:\n{ctx}"
    );
    let test = "hostile_scenario_paths_and_errors_stay_text";
    if let Some(cmark) = renderers::cmark_or_skip(test) {
        let html = renderers::render_markdown(&cmark, &run.summary);
        let problems = renderers::data_markup(&html);
        assert!(problems.is_empty(), "{}\n{ctx}", problems.join("\n"));
        assert_eq!(renderers::titles(&html), 1, "{html}");
        assert!(
            html.contains("&lt;img src=x&gt;\n# Owned"),
            "the error stays in its code block:\n{html}"
        );
    }
}

#[test]
fn a_matrix_leg_runs_its_shard_and_a_final_job_merges() {
    let (mut gh, fake_dir) = faked(&[("healthy", "## leakgate: healthy — ✅ pass\n")], 0);
    gh.set("INPUT_SCENARIO", "fixtures/scenarios/healthy.yaml")
        .set("INPUT_SHARD", "2/3");
    let run = gh.run("run");
    assert_eq!(run.code, 0, "{}", run.context());
    let args = fs::read_to_string(fake_dir.join("args")).unwrap();
    assert!(args.contains("\n--shard\n2/3"), "{args}");

    // A leg whose shard holds no scenario still uploads its run index, so
    // that the merge can say so.
    let (mut gh, fake_dir) = faked(&[], 0);
    fs::write(fake_dir.join("empty_shard"), "").unwrap();
    gh.set("INPUT_SCENARIO", "fixtures/scenarios/healthy.yaml")
        .set("INPUT_SHARD", "3/3");
    let run = gh.run("run");
    assert_eq!(run.code, 0, "{}", run.context());
    let root = gh.out_root();
    assert!(root.join("runs.json").is_file(), "{}", run.context());
    assert!(
        run.outputs["artifact-paths"].starts_with(&root.display().to_string()),
        "{}",
        run.context()
    );

    // The final job: the legs' artifacts, merged.
    let (mut gh, fake_dir) = faked(&[], 1);
    let legs = gh.path().join("legs");
    for leg in ["a", "b"] {
        fs::create_dir_all(legs.join(leg)).unwrap();
    }
    gh.set("INPUT_MERGE", format!("{}/*", legs.display()));
    let run = gh.run("run");
    assert_eq!(run.code, 1, "the merged outcome's code\n{}", run.context());
    let args = fs::read_to_string(fake_dir.join("args")).unwrap();
    let root = gh.out_root().display().to_string();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "merge",
            &legs.join("a").display().to_string(),
            &legs.join("b").display().to_string(),
            "--out",
            &root,
            "--runs-json",
            &gh.out_root().join("runs.json").display().to_string()
        ]
    );
    assert_eq!(run.outputs["verdict"], "fail");
    assert_eq!(
        run.outputs["report"],
        gh.out_root().join("report.json").display().to_string()
    );
    assert!(
        run.summary.starts_with("## leakgate: 3 scenarios"),
        "{}",
        run.context()
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
    assert!(run.annotations("error")[0].contains("cannot start"));

    gh.set("INPUT_ARGS", "--out elsewhere");
    let run = gh.run("run");
    assert_eq!(run.code, 2);
    assert!(run.annotations("error")[0].contains("must not set --out"));
}

#[test]
fn oversized_summary_is_replaced_by_a_note() {
    let huge = format!(
        "## leakgate: healthy — ✅ pass\n\n{}",
        "| row | with | cells |\n".repeat(60_000)
    );
    let (mut gh, _fake) = faked(&[("healthy", &huge)], 0);
    gh.set("INPUT_SCENARIO", "fixtures/scenarios/healthy.yaml");
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
    assert_eq!(report["outcome"], "fail");
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
    // leakgate's stdout carries no workflow command but its own annotations.
    assert!(
        run.stdout.lines().filter(|l| l.starts_with("::")).all(|l| {
            ["::error ", "::warning ", "::notice "]
                .iter()
                .any(|p| l.starts_with(p))
        }),
        "{ctx}"
    );
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
