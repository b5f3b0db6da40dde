//! Reports are untrusted input (issue 19): `leakgate merge` runs in a final CI
//! job over artifacts that matrix legs uploaded after running a pull
//! request's code, and what it writes reaches a job summary and a JUnit
//! publisher. Whatever a leg's report holds — any Unicode, `]]>`, Markdown,
//! HTML, escape sequences, huge numbers — merging it never panics, writes
//! nothing outside `--out`, keeps `junit.xml` valid against the Jenkins
//! xUnit schema with one test suite per leg and no testcase of the data's
//! making, and keeps every element, link and heading of the rendered
//! `summary.md` leakgate's own.
//!
//! The `junit.xml` and `summary.md` checks need `xmllint` and `cmark-gfm`
//! (see `renderers/mod.rs`); no test here starts a service.

mod renderers;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use leakgate_gate::judge::{JudgeOptions, Status, judge};
use leakgate_gate::report::{Outcome, RunInfo, RunReport, junit, markdown, to_json};
use leakgate_gate::snapshot::SnapshotComparison;
use leakgate_gate::testing::Samples;
use leakgate_heap::{PathGroup, PathGrowth, PathStep, RetentionPath, Root, TypePaths};
use leakgate_runner::target::SampledProcess;
use leakgate_scenario::budget::Budget;
use leakgate_scenario::{BudgetRule, TypeFilter};
use proptest::prelude::*;
use renderers::{
    cmark_or_skip, data_markup, render_markdown, titles, validate_junit, xmllint_or_skip, xpath,
};

// ---- a leg's report ------------------------------------------------------------

/// What one matrix leg's report says, as a hostile leg may write it.
#[derive(Debug, Clone)]
struct Leg {
    scenario: String,
    budget: String,
    type_name: String,
    failure: Option<String>,
    notes: Vec<String>,
    command_line: String,
    diff: Option<String>,
    started: String,
    counts: Vec<u64>,
    /// The outcome and exit code the leg claims, whatever its checks say.
    claimed: Option<(Outcome, u8)>,
    /// Directories between the leg's folder and its report.json.
    depth: usize,
}

impl Leg {
    fn plain(scenario: &str) -> Leg {
        Leg {
            scenario: scenario.into(),
            budget: "no growth".into(),
            type_name: "App.Cache".into(),
            failure: None,
            notes: Vec::new(),
            command_line: "dotnet app.dll".into(),
            diff: None,
            started: "2026-11-23T10:00:00Z".into(),
            counts: vec![10, 110, 210, 310, 410, 510],
            claimed: None,
            depth: 0,
        }
    }
}

/// The leg's run report: a finalizable type growing through a retention
/// path, judged against a budget, with every text field set from the leg.
fn report(leg: &Leg) -> RunReport {
    let counts: Vec<Option<u64>> = leg.counts.iter().map(|&c| Some(c)).collect();
    let samples = Samples::new(counts.len())
        .finalizable(&leg.type_name, &counts)
        .build();
    let budget: Budget = serde_saphyr::from_str("metric: finalizable\nmax_growth: 10\n").unwrap();
    let mut rule = BudgetRule::new(budget, 7, 3).unwrap();
    // After the check: a scenario file cannot hold every label, a leg can.
    rule.budget.name = Some(leg.budget.clone());
    let verdict = judge(
        &samples,
        &[rule],
        &TypeFilter::none(),
        &JudgeOptions::default(),
    );
    let mut info = RunInfo::new(&leg.scenario);
    info.scenario_file = format!("{}.yaml", leg.scenario);
    info.budget_lines = vec![7];
    info.started = leg.started.clone();
    info.finished = leg.started.clone();
    info.sampled = Some(SampledProcess {
        pid: 42,
        command_line: leg.command_line.clone(),
        reason: leg.notes.first().cloned().unwrap_or_default(),
        doubt: leg.notes.get(1).cloned(),
    });
    let snapshot = leg.diff.clone().map(|diff| SnapshotComparison::Differs {
        diff,
        new_growth: Vec::new(),
        new_paths: Vec::new(),
    });
    let mut r = RunReport::judged(info, samples, verdict, snapshot);
    if let Some(f) = &leg.failure {
        r.failure = Some(f.clone());
        r.outcome = Outcome::Error;
        r.exit_code = 2;
    }
    if let Some((outcome, code)) = leg.claimed {
        r.outcome = outcome;
        r.exit_code = code;
    }
    r.notes = leg.notes.clone();
    let path = RetentionPath {
        root: Root::static_field(&leg.type_name, &leg.budget),
        steps: vec![
            PathStep::new(&leg.command_line, Some(leg.scenario.as_str())),
            PathStep::new(&leg.type_name, None),
        ],
    };
    let paths = |n| TypePaths {
        type_name: leg.type_name.clone(),
        instances: n,
        unreachable: 0,
        sampled: n,
        groups: vec![PathGroup {
            path: path.clone(),
            sampled: n,
            estimated: n,
            example_address: 0x10,
            holder: None,
        }],
    };
    r.retention = vec![PathGrowth::between(&paths(10), &paths(510))];
    r
}

/// The test cases a report's suite must hold: the run's failure, a check
/// each but the passing per-type ones, one per per-type budget for those,
/// the snapshot.
fn testcases(r: &RunReport) -> usize {
    let summarised = |c: &&leakgate_gate::Check| c.metric.is_per_type() && c.status == Status::Pass;
    let budgets: std::collections::BTreeSet<usize> = r
        .checks()
        .iter()
        .filter(summarised)
        .map(|c| c.budget_index)
        .collect();
    let own = r.checks().iter().filter(|c| !summarised(c)).count();
    usize::from(r.failure.is_some()) + own + budgets.len() + usize::from(r.snapshot.is_some())
}

// ---- merging in a scratch tree ---------------------------------------------------

/// Every file under `root` but those under `skip`, with its bytes.
fn tree(root: &Path, skip: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.starts_with(skip) {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                dirs.push(path.clone());
                files.insert(path, Vec::new());
            } else {
                files.insert(path.clone(), fs::read(&path).unwrap());
            }
        }
    }
    files
}

struct Merged {
    code: i32,
    out: PathBuf,
    stderr: String,
}

/// Writes each leg's report.json under `root/legs/leg-N/…` (plus a file of
/// the user's beside them) and runs `leakgate merge root/legs --out
/// root/merged`; asserts it neither panicked, nor touched anything but
/// `--out`, nor printed a workflow command.
fn merge(root: &Path, reports: &[(RunReport, usize)]) -> Merged {
    let legs = root.join("legs");
    for (i, (r, depth)) in reports.iter().enumerate() {
        let mut dir = legs.join(format!("leg-{i}"));
        for d in 0..*depth {
            dir = dir.join(format!("d{d}"));
        }
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("report.json"), to_json(r)).unwrap();
    }
    fs::write(root.join("keep.txt"), "the user's file").unwrap();
    let out = root.join("merged");
    let before = tree(root, &out);
    let run = Command::new(env!("CARGO_BIN_EXE_leakgate"))
        .arg("merge")
        .arg(&legs)
        .arg("--out")
        .arg(&out)
        .env("NO_COLOR", "1")
        .output()
        .expect("leakgate runs");
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    let code = run.status.code().unwrap_or(-1);
    assert!(
        matches!(code, 0..=2) && !stderr.contains("panicked"),
        "merge ended with {:?}:\n{stderr}",
        run.status
    );
    assert_eq!(
        tree(root, &out),
        before,
        "merge changed files outside --out"
    );
    // A runner reads workflow commands from the step's output, stderr too.
    let stdout = String::from_utf8_lossy(&run.stdout);
    for line in stdout.lines().chain(stderr.lines()) {
        let start = line.trim_start();
        assert!(
            !start.starts_with("::") && !start.starts_with("##["),
            "a leg's text became a workflow command: {line:?}"
        );
    }
    Merged { code, out, stderr }
}

/// The merged files hold what the legs said and nothing of their making:
/// a valid `junit.xml` with a suite per leg and the test cases the reports
/// hold, a `summary.md` whose elements, links and headings are leakgate's.
fn check_merged(merged: &Merged, reports: &[RunReport], test: &str) {
    let junit_xml = merged.out.join("junit.xml");
    let summary = merged.out.join("summary.md");
    assert!(
        junit_xml.is_file() && summary.is_file(),
        "merge wrote no junit.xml or summary.md (exit {}):\n{}",
        merged.code,
        merged.stderr
    );
    if let Some(xmllint) = xmllint_or_skip(test) {
        let text = fs::read_to_string(&junit_xml).unwrap();
        if let Err(e) = validate_junit(&xmllint, &junit_xml) {
            panic!("junit.xml is not valid against junit-10.xsd:\n{e}\n{text}");
        }
        let suites: usize = xpath(&xmllint, &junit_xml, "count(//testsuite)")
            .parse()
            .unwrap();
        let cases: usize = xpath(&xmllint, &junit_xml, "count(//testcase)")
            .parse()
            .unwrap();
        assert_eq!(suites, reports.len(), "a suite per leg:\n{text}");
        assert_eq!(
            cases,
            reports.iter().map(testcases).sum::<usize>(),
            "the test cases of the reports, no more:\n{text}"
        );
    }
    let md = fs::read_to_string(&summary).unwrap();
    assert!(
        !md.chars().any(leakgate_scenario::check::invisible),
        "a bidi or zero-width character reached summary.md (it would reorder what a reviewer reads):\n{md}"
    );
    if let Some(cmark) = cmark_or_skip(test) {
        let html = render_markdown(&cmark, &md);
        let problems = data_markup(&html);
        assert!(
            problems.is_empty(),
            "summary.md renders markup from data:\n{}\n--- summary.md\n{md}",
            problems.join("\n")
        );
        assert_eq!(
            titles(&html),
            reports.len() + 1,
            "the merged title and one per leg:\n{html}"
        );
    }
}

// ---- regressions of issue 19 -------------------------------------------------------

/// Finding 1: a `]]>` in a budget name (or a failure text, a note, a diff)
/// closed the CDATA section, and the rest was markup: a fake `<testcase>` in
/// the merged file, ill-formed XML from `run` itself.
#[test]
fn cdata_end_in_any_text_adds_no_testcase() {
    let test = "cdata_end_in_any_text_adds_no_testcase";
    let fake = "]]></failure></testcase><testcase name=\"fake\" classname=\"x\"/><testcase name=\"y\"><failure><![CDATA[";
    let mut leg = Leg::plain("cdata");
    leg.budget = format!("budget {fake}");
    leg.notes = vec![format!("note {fake}"), "]]>".into()];
    leg.diff = Some(format!("-a\n+b {fake}"));
    let r = report(&leg);
    assert_eq!(r.checks()[0].budget, leg.budget);

    let dir = tempfile::tempdir().unwrap();
    // What `leakgate run` writes for the run alone.
    let alone = dir.path().join("junit.xml");
    fs::write(&alone, junit::render(&r)).unwrap();
    if let Some(xmllint) = xmllint_or_skip(test) {
        validate_junit(&xmllint, &alone).unwrap();
        assert_eq!(xpath(&xmllint, &alone, "count(//testcase)"), "2");
        assert_eq!(
            xpath(&xmllint, &alone, "count(//testcase[@name='fake'])"),
            "0"
        );
        // The text survives whole: the split sections read back as written.
        let out = xpath(&xmllint, &alone, "string(/testsuites/testsuite/system-out)");
        assert!(out.contains(&format!("note {fake}")), "{out}");
        let trace = xpath(&xmllint, &alone, "string(//testcase[1]/failure)");
        assert!(trace.contains(&format!("budget: budget {fake}")), "{trace}");
    }

    let merged = merge(dir.path(), &[(r.clone(), 0), (report(&Leg::plain("b")), 1)]);
    check_merged(&merged, &[r, report(&Leg::plain("b"))], test);
}

/// Finding 2: the fence around a failure text was sized before escape
/// sequences were removed, so ``` ``ESC[m` ``` became a closing fence and
/// what followed rendered (an image, a heading, a link); links and images in
/// table cells and headings stayed active.
#[test]
fn markdown_from_a_leg_renders_as_text() {
    let test = "markdown_from_a_leg_renders_as_text";
    let mut leg = Leg::plain("x](https://evil.example)![i](https://evil.example/i.png)");
    leg.failure = Some(
        "setup failed\n``\u{1b}[m`\n<img src=x onerror=alert(1)>\n# Owned\n[click](https://evil.example)\n````\n"
            .into(),
    );
    leg.budget = "[b](https://evil.example) <b>bold</b>".into();
    leg.type_name = "![t](https://evil.example/t.png)|www.evil.example|a@evil.example".into();
    leg.notes = vec![
        "# heading".into(),
        "- [ ] task".into(),
        "1. list <details open>".into(),
        "https://evil.example/x and <https://evil.example/y>".into(),
        "| a | b |\n|---|---|".into(),
    ];
    leg.command_line = "dotnet `x` <script>alert(1)</script>".into();
    // cmark-gfm reads no fence of 256 backticks or more (found by the property).
    leg.diff = Some(format!(
        "~~~\n```\n<img src=y>\n{}\n<img src=w>",
        "`".repeat(300)
    ));
    let mut other = Leg::plain("other");
    other.failure = Some("``\u{1b}[31m`\u{1b}[0m\n<img src=z>".into());
    let reports = [report(&leg), report(&other)];

    let md = markdown::render_all(&reports);
    assert!(
        md.contains("````text\nsetup failed\n``"),
        "the fence outgrows what is left once escapes are removed:\n{md}"
    );
    let dir = tempfile::tempdir().unwrap();
    let merged = merge(
        dir.path(),
        &[(reports[0].clone(), 0), (reports[1].clone(), 2)],
    );
    check_merged(&merged, &reports, test);
    if let Some(cmark) = cmark_or_skip(test) {
        let html = render_markdown(&cmark, &markdown::render(&reports[0]));
        assert!(data_markup(&html).is_empty(), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;\n# Owned"),
            "the failure stays in its code block:\n{html}"
        );
    }
}

// ---- the property --------------------------------------------------------------------

/// Pieces of hostile text: markup of every format leakgate writes.
const PIECES: &[&str] = &[
    "]]>",
    "<![CDATA[",
    "</failure></testcase><testcase name=\"f\">",
    "<img src=x>",
    "<a href=\"https://e.x\">",
    "![i](https://e.x/i.png)",
    "[l](https://e.x)",
    "[l]: https://e.x",
    "# h",
    "\n",
    "\r\n",
    "\r",
    "`",
    "``",
    "```",
    "````",
    "~~~",
    "\u{1b}[m",
    "\u{1b}]0;t\u{7}",
    "\u{9b}1m",
    "|",
    "\\",
    "\\|",
    "::error::x",
    "##[error]",
    "www.e.x",
    "a@b.co",
    "https://e.x",
    "<https://e.x>",
    "<script>",
    "<details open>",
    "<!--",
    "-->",
    "\u{202e}",
    "\u{200b}",
    "\u{feff}",
    "\u{fdd0}",
    "\u{fffe}",
    "\u{ffff}",
    "\u{0}",
    "\u{85}",
    "\u{2028}",
    "&amp;",
    "&#96;",
    "$x$",
    "**b**",
    "_e_",
    "~~s~~",
    "1. ",
    "- ",
    "+ ",
    "> ",
    "===",
    "---",
    "    ",
    "\t",
    "- [ ] ",
    "%0A",
    ":",
    "a",
    "Δ",
    "名",
    " ",
];

/// Text a leg may hold: pieces of markup, any characters, or a long run.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(PIECES), 0..12).prop_map(|v| v.concat()),
        2 => prop::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter),
        1 => (prop::sample::select(PIECES), 1..400usize).prop_map(|(p, n)| p.repeat(n)),
        1 => "\\PC{0,60}",
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Pass),
        Just(Outcome::Warn),
        Just(Outcome::Fail),
        Just(Outcome::Error)
    ]
}

fn leg() -> impl Strategy<Value = Leg> {
    (
        (hostile(), hostile(), hostile(), prop::option::of(hostile())),
        (
            prop::collection::vec(hostile(), 0..3),
            hostile(),
            prop::option::of(hostile()),
            prop_oneof![Just("2026-11-23T10:00:00Z".to_string()), hostile()],
        ),
        (
            prop::collection::vec(0..u64::MAX / 2, 2..10),
            prop::option::of((outcome(), any::<u8>())),
            0..4usize,
        ),
    )
        .prop_map(
            |(
                (scenario, budget, type_name, failure),
                (notes, command_line, diff, started),
                (counts, claimed, depth),
            )| Leg {
                scenario,
                budget,
                type_name,
                failure,
                notes,
                command_line,
                diff,
                started,
                counts,
                claimed,
                depth,
            },
        )
}

proptest! {
    // Each case runs the binary, xmllint (three times) and cmark-gfm: about 0.1 s.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_legs_merge_into_safe_reports(legs in prop::collection::vec(leg(), 1..4)) {
        let reports: Vec<(RunReport, usize)> = legs.iter().map(|l| (report(l), l.depth)).collect();
        let dir = tempfile::tempdir().unwrap();
        let merged = merge(dir.path(), &reports);
        // A leg merge refuses (its claims contradict its checks, say) is an
        // error that names it; a merge that wrote its files must be safe.
        if merged.code != 2 || merged.out.join("summary.md").is_file() {
            let runs: Vec<RunReport> = reports.into_iter().map(|(r, _)| r).collect();
            check_merged(&merged, &runs, "any_legs_merge_into_safe_reports");
        }
    }
}
