//! JUnit XML (the Jenkins/Ant schema): a test suite per scenario, a test case
//! per decision — one per budget on a scalar metric, one per per-type budget
//! for all its types that pass (how many, and the top growers in
//! system-out), one per type that fails or warns (`budget › type`) — plus
//! one for the snapshot; warnings pass with a note in system-out; a run
//! that could not measure is one `error` case. So a scenario judging 1,500
//! types is a handful of cases, and its one failure does not drown. Every name
//! and attribute goes through [`crate::escape::xml_chars`] (the XML writer
//! escapes markup, but a control character in a type name would still make
//! the file ill-formed); every text the writer puts in CDATA (failure
//! details, system-out) through [`crate::escape::xml_cdata`], since the
//! writer does not split a `]]>`.

use std::fmt::Write as _;

use junit_report::{Duration, OffsetDateTime, ReportBuilder, TestCaseBuilder, TestSuiteBuilder};

use super::{RunReport, grown_path_line, holder_text, p_cell, slope_cell};
use crate::escape::{xml_cdata as cdata, xml_chars as x};
use crate::judge::{Check, Status};
use crate::snapshot::SnapshotComparison;
use crate::units::{human, human_signed};

fn timestamp(s: &str) -> OffsetDateTime {
    use time::format_description::well_known::Rfc3339;
    OffsetDateTime::parse(s, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn check_detail(c: &Check) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "budget: {}", c.budget);
    let _ = writeln!(s, "series: {}", c.key());
    let _ = writeln!(
        s,
        "first {} last {} growth {}{}",
        human(c.first, c.unit),
        human(c.last, c.unit),
        human_signed(c.growth, c.unit),
        c.growth_pct
            .map_or(String::new(), |p| format!(" ({p:+.1}%)"))
    );
    let _ = writeln!(s, "slope {} p {}", slope_cell(c), p_cell(c));
    for r in &c.reasons {
        let _ = writeln!(s, "- {r}");
    }
    s
}

/// How many of a per-type budget's types pass, and the ones that grew most.
fn passing_types(report: &RunReport, budget: usize) -> String {
    let of_budget: Vec<&Check> = report
        .checks()
        .iter()
        .filter(|c| c.budget_index == budget)
        .collect();
    let mut passing: Vec<&Check> = of_budget
        .iter()
        .copied()
        .filter(|c| c.status == Status::Pass)
        .collect();
    let others = of_budget.len() - passing.len();
    let mut s = match passing.len() {
        1 => "1 type passes".to_string(),
        n => format!("{n} types pass"),
    };
    if others > 0 {
        let _ = write!(s, "; {others} fail or warn (a test case each)");
    }
    passing.retain(|c| c.growth > 0.0);
    passing.sort_by(|a, b| b.growth.total_cmp(&a.growth));
    if !passing.is_empty() {
        s.push_str("\ngrew most:");
    }
    for c in passing.iter().take(TOP_GROWERS) {
        let _ = write!(
            s,
            "\n  {}: {} (slope {}, p {})",
            c.type_name.as_deref().unwrap_or("?"),
            human_signed(c.growth, c.unit),
            slope_cell(c),
            p_cell(c)
        );
    }
    s
}

/// Passing types listed in a per-type budget's case.
const TOP_GROWERS: usize = 5;

/// The JUnit XML of one run.
pub fn render(report: &RunReport) -> String {
    render_all(std::slice::from_ref(report))
}

/// The JUnit XML of several runs: a test suite each (`leakgate merge`).
pub fn render_all(reports: &[RunReport]) -> String {
    let mut builder = ReportBuilder::new();
    for report in reports {
        builder.add_testsuite(suite(report));
    }
    let mut out = Vec::new();
    builder
        .build()
        .write_xml(&mut out)
        .expect("writing XML to memory");
    String::from_utf8(out).expect("junit-report writes UTF-8")
}

fn suite(report: &RunReport) -> junit_report::TestSuite {
    let classname = x(&format!("leakgate.{}", report.scenario()));
    let mut suite = TestSuiteBuilder::new(&x(report.scenario()));
    suite.set_timestamp(timestamp(&report.info.started));
    if let Some(f) = &report.failure {
        let mut tc = TestCaseBuilder::error("run", Duration::ZERO, "run-failed", &x(f));
        tc.set_classname(&classname);
        suite.add_testcase(tc.build());
    }
    // Looked up per failing check: a map, so a leg with thousands of each stays linear.
    let mut retention = std::collections::HashMap::new();
    for g in &report.retention {
        retention.entry(g.type_name.as_str()).or_insert(g);
    }
    // A per-type budget's passing checks: one case, where its first check was.
    let mut summarised = std::collections::HashSet::new();
    for c in report.checks() {
        let per_type = c.metric.is_per_type();
        if per_type && c.status == Status::Pass {
            if summarised.insert(c.budget_index) {
                let mut tc = TestCaseBuilder::success(&x(&c.budget), Duration::ZERO);
                tc.set_system_out(&cdata(&passing_types(report, c.budget_index)));
                tc.set_classname(&classname);
                suite.add_testcase(tc.build());
            }
            continue;
        }
        let name = match &c.type_name {
            Some(t) if per_type => x(&format!("{} › {t}", c.budget)),
            _ => x(&format!("{}: {}", c.budget, c.key())),
        };
        let detail = cdata(&check_detail(c));
        let mut tc = match c.status {
            Status::Fail => {
                // The reasons, and the path that holds what grew.
                let grown = c
                    .type_name
                    .as_deref()
                    .and_then(|t| retention.get(t).copied());
                let held = grown
                    .and_then(grown_path_line)
                    .map(|p| format!("; held: {p}"))
                    .unwrap_or_default();
                let holder = grown
                    .and_then(|g| g.top())
                    .and_then(holder_text)
                    .map(|h| format!("; {}", h.plain()))
                    .unwrap_or_default();
                let mut tc = TestCaseBuilder::failure(
                    &name,
                    Duration::ZERO,
                    "budget",
                    &x(&format!("{}{held}{holder}", c.reasons_text())),
                );
                tc.set_trace(&detail);
                tc
            }
            Status::Warn => {
                let mut tc = TestCaseBuilder::success(&name, Duration::ZERO);
                tc.set_system_out(&format!("warning\n{detail}"));
                tc
            }
            Status::Pass => TestCaseBuilder::success(&name, Duration::ZERO),
        };
        tc.set_classname(&classname);
        suite.add_testcase(tc.build());
    }
    if let Some(outcome) = &report.snapshot {
        let mut tc = match outcome {
            SnapshotComparison::Differs { diff, .. } if !outcome.failing().is_empty() => {
                let new = outcome.failing();
                let mut tc = TestCaseBuilder::failure(
                    "snapshot",
                    Duration::ZERO,
                    "new-growth",
                    &x(&format!(
                        "new growth versus the approved snapshot: {}",
                        new.join(", ")
                    )),
                );
                tc.set_trace(&cdata(diff));
                tc
            }
            SnapshotComparison::Differs { diff, .. } => {
                let mut tc = TestCaseBuilder::success("snapshot", Duration::ZERO);
                tc.set_system_out(&cdata(&format!("snapshot changed; review it\n{diff}")));
                tc
            }
            SnapshotComparison::Missing => {
                let mut tc = TestCaseBuilder::success("snapshot", Duration::ZERO);
                tc.set_system_out("no approved snapshot yet; review and accept the .snap.new");
                tc
            }
            SnapshotComparison::Matches => TestCaseBuilder::success("snapshot", Duration::ZERO),
        };
        tc.set_classname(&classname);
        suite.add_testcase(tc.build());
    }
    let mut out_lines: Vec<String> = Vec::new();
    if let Some(p) = &report.info.sampled {
        out_lines.push(format!(
            "sampled pid {} ({}): {}",
            p.pid, p.command_line, p.reason
        ));
    }
    if let Some(v) = &report.verdict {
        out_lines.extend(v.notes.iter().cloned());
    }
    out_lines.extend(report.notes.iter().cloned());
    if !out_lines.is_empty() {
        suite.set_system_out(&cdata(&out_lines.join("\n")));
    }
    suite.build()
}
