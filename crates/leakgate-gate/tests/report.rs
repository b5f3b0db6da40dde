//! Reports for a failing and a passing run, checked with insta, and the
//! JUnit output checked against the structure the Jenkins/Ant XSD requires.

use leakgate_gate::judge::{JudgeOptions, Status, judge};
use leakgate_gate::report::{
    Outcome, RunInfo, RunReport, annotations, charts, console, html, junit, markdown, to_json,
};
use leakgate_gate::sequential::{AutoSampling, Next, SamplingPlan, next_step};
use leakgate_gate::snapshot::{ApprovedSnapshot, compare};
use leakgate_gate::testing::Samples;
use leakgate_heap::{GroupHolder, PathGroup, PathGrowth, PathStep, RetentionPath, Root, TypePaths};
use leakgate_record::GcCommitted;
use leakgate_record::LoadSummary;
use leakgate_record::SampledProcess;
use leakgate_scenario::budget::Budget;
use leakgate_scenario::{BudgetRule, TypeFilter};

fn junit_xml(r: &RunReport) -> String {
    junit::render(r)
}

fn console_table(r: &RunReport) -> String {
    console::to_text(&console::render(r))
}

const MIB: f64 = 1048576.0;

fn budgets() -> Vec<BudgetRule> {
    let budgets: Vec<Budget> = serde_saphyr::from_str(
        r#"
- metric: committed.unknown
  max_growth: 16MiB
- metric: finalizable
  types: "System.Reflection.Emit.*"
  max_growth: 200
  name: "no DynamicResolver growth"
- metric: finalizable
  types: "App.*"
  max_slope: 50/1k
"#,
    )
    .unwrap();
    budgets
        .into_iter()
        .enumerate()
        .map(|(i, b)| BudgetRule::new(b, 20 + 4 * i as u64, 5).unwrap())
        .collect()
}

/// DynamicResolvers held by a kept list: +1500 of +1500 through the list.
fn resolver_paths() -> PathGrowth {
    let kept = RetentionPath {
        root: Root::static_field("Checkout.Program", "keptDelegates"),
        steps: vec![
            PathStep::new(
                "System.Collections.Generic.List<System.Func<System.Int32, System.Int32>>",
                None,
            ),
            PathStep::new("System.Func<System.Int32, System.Int32>[]", Some("_items")),
            PathStep::new("System.Func<System.Int32, System.Int32>", None),
            PathStep::new("System.Reflection.Emit.DynamicMethod", Some("_methodBase")),
            PathStep::new("System.Reflection.Emit.DynamicResolver", Some("_resolver")),
        ],
    };
    // The list holds them: 32 bytes, its array, the delegates and what they keep.
    let group = |path: &RetentionPath, estimated: u64| PathGroup {
        path: path.clone(),
        sampled: 100,
        estimated,
        example_address: 0x7f00_0000_1000,
        holder: Some(GroupHolder {
            type_name: path.steps[0].type_name.clone(),
            address: 0x7f00_0000_0800,
            retained_bytes: 32 + 24 + 8 * estimated + 4096 * estimated,
            retained_objects: 2 + 4 * estimated,
            dominates: 100,
            step: Some(0),
            holders: 1,
        }),
    };
    let paths = |n| TypePaths {
        type_name: "System.Reflection.Emit.DynamicResolver".into(),
        instances: n,
        unreachable: 0,
        sampled: 100,
        groups: vec![group(&kept, n)],
    };
    PathGrowth::between(&paths(20), &paths(1520))
}

fn info() -> RunInfo {
    RunInfo {
        scenario: "checkout".into(),
        scenario_file: "scenarios/checkout.yaml".into(),
        budget_lines: vec![20, 24, 28],
        started: "2026-11-23T10:00:00Z".into(),
        finished: "2026-11-23T10:03:00Z".into(),
        load: LoadSummary {
            requests: 6000,
            errors: 2,
            failures: [("connection reset".to_string(), 2)].into(),
            by_status: [(200, 5998)].into(),
            p50_ms: 12.5,
            p99_ms: 80.25,
            ..LoadSummary::default()
        },
        sampled: Some(SampledProcess {
            pid: 4242,
            command_line: "dotnet bin/Release/net10.0/Checkout.dll --urls http://127.0.0.1:5000"
                .into(),
            reason: "it listens on port 5000".into(),
            doubt: None,
        }),
        files: None,
        auto_sampling: None,
    }
}

/// A leak: unknown grows 4 → 36 MiB (+8 MiB/sample), DynamicResolver
/// grows 300 per sample, a cache type stays flat.
pub fn failing() -> RunReport {
    let unknown: Vec<f64> = [0.0, 4.0, 12.1, 20.0, 27.9, 36.2]
        .iter()
        .map(|m| (m + 4.0) * MIB)
        .collect();
    let resident: Vec<f64> = unknown.iter().map(|u| u + 90.0 * MIB).collect();
    let resolver: Vec<Option<u64>> = (0..6).map(|i| Some(20 + 300 * i)).collect();
    let samples = Samples::new(6)
        .scalar("committed.unknown", &unknown)
        .scalar("resident", &resident)
        .finalizable("System.Reflection.Emit.DynamicResolver", &resolver)
        .finalizable("App.Cache+Entry", &[Some(64); 6])
        .build();
    let verdict = judge(
        &samples,
        &budgets(),
        &TypeFilter::none(),
        &JudgeOptions::default(),
    );
    let current = ApprovedSnapshot::from_verdict("checkout", &verdict);
    let outcome = compare(Some(&ApprovedSnapshot::empty("checkout")), &current);
    // As `count: auto` would have run it: asked after every sample.
    let plan = SamplingPlan::default();
    let stop = (1..=samples.len()).find_map(|n| {
        let next = next_step(
            &samples[..n],
            &budgets(),
            &TypeFilter::none(),
            &JudgeOptions::default(),
            &plan,
        );
        match next {
            Next::Stop(stop) => Some(stop),
            Next::Continue { .. } => None,
        }
    });
    let info = RunInfo {
        auto_sampling: stop.map(|s| AutoSampling::new(&plan, &s)),
        ..info()
    };
    let mut report = RunReport::judged(info, samples, verdict, Some(outcome));
    report.retention = vec![resolver_paths()];
    report
}

/// No leak: values wobble, the snapshot matches; the GC keeps more free
/// regions committed as it goes (its own sizing), the runtime's own heaps
/// warm up.
pub fn passing() -> RunReport {
    let unknown: Vec<f64> = [40.0, 41.0, 40.5, 40.8, 40.2, 40.9]
        .iter()
        .map(|m| m * MIB)
        .collect();
    let gc: Vec<GcCommitted> = (0..6)
        .map(|i| GcCommitted {
            in_use: 30 << 20,
            in_free: (2 + i) << 20,
            bookkeeping: 336 << 10,
            ..GcCommitted::default()
        })
        .collect();
    // Native memory: the runtime's own heaps warming up, the rest level.
    let runtime: Vec<f64> = [4.0, 4.2, 4.3, 4.3, 4.35, 4.36]
        .iter()
        .map(|m| m * MIB)
        .collect();
    let native: Vec<f64> = runtime.iter().map(|r| r + 5.0 * MIB).collect();
    let samples = Samples::new(6)
        .scalar("committed.unknown", &unknown)
        .scalar("committed.native", &native)
        .runtime_heaps(&runtime)
        .gc_committed(&gc)
        .finalizable("System.Reflection.Emit.DynamicResolver", &[Some(12); 6])
        .finalizable(
            "App.Cache+Entry",
            &[Some(60), Some(64), Some(62), Some(64), Some(63), Some(64)],
        )
        .build();
    let verdict = judge(
        &samples,
        &budgets(),
        &TypeFilter::none(),
        &JudgeOptions::default(),
    );
    let current = ApprovedSnapshot::from_verdict("checkout", &verdict);
    let outcome = compare(Some(&current), &current);
    RunReport::judged(info(), samples, verdict, Some(outcome))
}

fn crashed() -> RunReport {
    let info = RunInfo {
        finished: "2026-11-23T10:00:42Z".into(),
        load: LoadSummary::default(),
        sampled: None,
        ..info()
    };
    RunReport::failed(
        info,
        "service exited with code 134 after 2 samples",
        vec![],
        None,
    )
}

#[test]
fn outcomes_and_exit_codes() {
    let f = failing();
    assert_eq!((f.outcome, f.exit_code), (Outcome::Fail, 1));
    let p = passing();
    assert_eq!(
        (p.outcome, p.exit_code),
        (Outcome::Pass, 0),
        "{:#?}",
        p.verdict
    );
    let c = crashed();
    assert_eq!((c.outcome, c.exit_code), (Outcome::Error, 2));
}

#[test]
fn json_round_trips() {
    for r in [failing(), passing(), crashed()] {
        let back: RunReport = serde_json::from_str(&to_json(&r)).unwrap();
        assert_eq!(back, r);
    }
}

#[test]
fn snapshots_failing() {
    let r = failing();
    insta::assert_snapshot!("failing_markdown", markdown::render(&r));
    insta::assert_snapshot!("failing_junit", junit_xml(&r));
    insta::assert_snapshot!("failing_console", console_table(&r));
    insta::assert_json_snapshot!("failing_json", r);
}

#[test]
fn snapshots_passing() {
    let r = passing();
    insta::assert_snapshot!("passing_markdown", markdown::render(&r));
    insta::assert_snapshot!("passing_junit", junit_xml(&r));
    insta::assert_snapshot!("passing_console", console_table(&r));
    insta::assert_json_snapshot!("passing_json", r);
}

#[test]
fn annotations_put_each_failure_on_its_budget_line() {
    let text = |r: &RunReport| annotations::render(r, "scenarios/checkout.yaml").join("\n");
    insta::assert_snapshot!("failing_annotations", text(&failing()));
    insta::assert_snapshot!("crashed_annotations", text(&crashed()));
    assert_eq!(text(&passing()), "", "a pass annotates nothing");
}

#[test]
fn snapshots_crashed() {
    let r = crashed();
    insta::assert_snapshot!("crashed_markdown", markdown::render(&r));
    insta::assert_snapshot!("crashed_junit", junit_xml(&r));
}

#[test]
fn charts_are_svg_with_data_and_fit() {
    let r = failing();
    let charts = charts(&r);
    let names: Vec<&str> = charts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names.len(),
        2,
        "charts for the notable checks only: App.Cache+Entry stayed flat"
    );
    assert!(names[0].starts_with("committed.unknown-"), "{names:?}");
    assert!(
        names[1].starts_with("finalizable-System.Reflection.Emit.DynamicResolver-"),
        "{names:?}"
    );
    let md = markdown::render(&r);
    for n in &names {
        assert!(md.contains(&format!("charts/{n}")), "{n} not linked");
    }
    let (_, svg) = &charts[0];
    let doc = roxmltree::Document::parse(svg).unwrap();
    let circles: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .collect();
    let hollow = circles
        .iter()
        .filter(|c| c.attribute("fill") == Some("white"))
        .count();
    // The legend draws one of each kind; the plot one per sample.
    assert_eq!(circles.len() - 2, 6, "one marker per sample");
    assert_eq!(hollow - 1, 1, "the warm-up sample is hollow");
    let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    for expected in [
        "fit +16.0 MiB/min",
        "slope interval",
        "budget limit",
        "warm-up, not judged",
        "committed.unknown (MiB)",
        "max_growth +16.0 MiB from the first judged value",
        "5k",
    ] {
        assert!(texts.contains(&expected), "{expected:?} in {texts:#?}");
    }
    insta::assert_snapshot!("failing_chart_unknown", svg);
}

/// report.html with the parts that are not markup (CSS, JS, the charts,
/// which have their own snapshot) cut out, so a change to the page's
/// structure or text shows as a readable diff.
fn html_markup(page: &str) -> String {
    let mut out = page.to_string();
    for (open, close, stand_in) in [
        ("<style>", "</style>", "<style>[report.css]</style>"),
        ("<script>", "</script>", "<script>[report.js]</script>"),
        ("<svg xmlns", "\n</svg>\n", "[chart]\n"),
    ] {
        let mut from = 0;
        while let Some(start) = out[from..].find(open).map(|i| i + from) {
            let end = out[start..].find(close).expect("closed") + start + close.len();
            out.replace_range(start..end, stand_in);
            from = start + stand_in.len();
        }
    }
    let csp = out.find("content=\"default-src").expect("a CSP");
    let end = out[csp + 9..].find('"').unwrap() + csp + 9;
    out.replace_range(csp..=end, "content=\"[CSP]\"");
    out
}

#[test]
fn html_reports_read_as_pages() {
    for (name, r) in [
        ("failing", failing()),
        ("passing", passing()),
        ("crashed", crashed()),
    ] {
        let page = html::render(&r).unwrap();
        let doc = roxmltree::Document::parse_with_options(
            &page,
            roxmltree::ParsingOptions {
                allow_dtd: true,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{name}: report.html is well-formed: {e}"));
        let rows = doc
            .descendants()
            .filter(|n| n.has_tag_name("tr") && n.attribute("data-status").is_some())
            .count();
        assert_eq!(rows, r.checks().len(), "{name}: a row per check");
        insta::assert_snapshot!(format!("{name}_html"), html_markup(&page));
    }
}

/// The Jenkins/Ant JUnit XSD: testsuites > testsuite[name, tests,
/// failures, errors, time, timestamp, hostname, id, package] >
/// testcase[name, classname, time] > failure|error[message, type].
fn assert_junit_structure(xml: &str) -> (usize, usize, usize) {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    for suite in root.children().filter(|n| n.is_element()) {
        assert_eq!(suite.tag_name().name(), "testsuite");
        for a in [
            "name",
            "tests",
            "failures",
            "errors",
            "time",
            "timestamp",
            "hostname",
            "id",
            "package",
        ] {
            assert!(suite.attribute(a).is_some(), "testsuite lacks {a}");
        }
        let num = |a: &str| suite.attribute(a).unwrap().parse::<usize>().unwrap();
        let ts = suite.attribute("timestamp").unwrap();
        // XSD: xs:dateTime without a zone designator is what Ant writes;
        // Jenkins accepts RFC 3339. Check it parses as a date-time.
        assert!(ts.len() >= 19 && ts.as_bytes()[10] == b'T', "{ts}");
        suite.attribute("time").unwrap().parse::<f64>().unwrap();
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.is_element() && n.has_tag_name("testcase"))
            .collect();
        for other in suite.children().filter(|n| n.is_element()) {
            assert!(
                ["testcase", "properties", "system-out", "system-err"]
                    .contains(&other.tag_name().name()),
                "unexpected {:?} in testsuite",
                other.tag_name()
            );
        }
        assert_eq!(num("tests"), cases.len());
        let (mut f, mut e) = (0, 0);
        for c in &cases {
            for a in ["name", "classname", "time"] {
                assert!(c.attribute(a).is_some(), "testcase lacks {a}");
            }
            c.attribute("time").unwrap().parse::<f64>().unwrap();
            for child in c.children().filter(|n| n.is_element()) {
                let tag = child.tag_name().name();
                assert!(
                    ["failure", "error", "skipped", "system-out", "system-err"].contains(&tag),
                    "unexpected {tag} in testcase"
                );
                if tag == "failure" || tag == "error" {
                    assert!(child.attribute("message").is_some_and(|m| !m.is_empty()));
                    assert!(child.attribute("type").is_some());
                    if tag == "failure" { f += 1 } else { e += 1 }
                }
            }
        }
        assert_eq!(num("failures"), f);
        assert_eq!(num("errors"), e);
        tests += cases.len();
        failures += f;
        errors += e;
    }
    (tests, failures, errors)
}

#[test]
fn junit_has_the_required_structure() {
    let xml = junit_xml(&failing());
    let (tests, failures, errors) = assert_junit_structure(&xml);
    let r = failing();
    let failing_checks = r
        .checks()
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    assert_eq!(
        tests,
        r.checks().len() + 1,
        "a case per check plus snapshot"
    );
    assert_eq!(
        failures,
        failing_checks + 1,
        "the snapshot's new growth fails too"
    );
    assert_eq!(errors, 0);
    assert!(xml.contains("above max_growth 16.0 MiB"), "{xml}");

    assert_eq!(assert_junit_structure(&junit_xml(&passing())).1, 0);
    assert_eq!(assert_junit_structure(&junit_xml(&crashed())), (1, 0, 1));
}

#[test]
fn generic_type_names_survive_markdown() {
    let growing: Vec<Option<u64>> = (0..6).map(|i| Some(10 + 100 * i)).collect();
    let samples = Samples::new(6)
        .finalizable("System.Collections.Generic.List<System.String>", &growing)
        .build();
    let budget: Budget = serde_saphyr::from_str("metric: finalizable\nmax_growth: 10\n").unwrap();
    let budgets = [BudgetRule::new(budget, 1, 1).unwrap()];
    let verdict = judge(
        &samples,
        &budgets,
        &TypeFilter::none(),
        &JudgeOptions::default(),
    );
    let r = RunReport::judged(RunInfo::new("g"), samples, verdict, None);
    let md = markdown::render(&r);
    assert!(
        md.contains("System.Collections.Generic.List&lt;System.String&gt;"),
        "{md}"
    );
    assert!(
        !md.contains("List<System.String>"),
        "raw <...> would be eaten as HTML:\n{md}"
    );
}

/// A per-type budget over many types is one test case for the types that
/// pass (with the top growers) and one per type that fails: a failure
/// among hundreds of types does not drown in passing cases.
#[test]
fn junit_has_a_case_per_decision_not_per_type() {
    let n = 9;
    let mut samples = Samples::new(n);
    for k in 0..200u64 {
        // Flat types, and a few that grew a little and stopped.
        let counts: Vec<u64> = (0..n as u64).map(|i| 10 + (k % 7) * i.min(2)).collect();
        let bytes: Vec<u64> = counts.iter().map(|c| c * 100).collect();
        samples = samples.heap(&format!("App.Model.Type{k:03}"), &counts, &bytes);
    }
    let leak: Vec<u64> = (0..n as u64).map(|i| 100 + 500 * i).collect();
    let leak_bytes: Vec<u64> = leak.iter().map(|c| c * 1024).collect();
    let samples = samples
        .heap("App.Sessions.Session", &leak, &leak_bytes)
        .build();
    let rules = leakgate_gate::testing::budgets(
        "- metric: heap.bytes\n  types: \"*\"\n  trend: fail\n  name: no type keeps growing\n",
    );
    let verdict = judge(
        &samples,
        &rules,
        &TypeFilter::none(),
        &JudgeOptions::default(),
    );
    assert_eq!(verdict.checks.len(), 201);
    let report = RunReport::judged(info(), samples, verdict, None);
    let xml = junit_xml(&report);
    let (tests, failures, errors) = assert_junit_structure(&xml);
    assert_eq!((tests, failures, errors), (2, 1, 0), "{xml}");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let names: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert_eq!(
        names,
        [
            "no type keeps growing",
            "no type keeps growing › App.Sessions.Session"
        ]
    );
    assert!(xml.contains("200 types pass; 1 fail or warn"), "{xml}");
    assert!(
        xml.contains("grew most:\n  App.Model.Type006: +600 B"),
        "{xml}"
    );
}
