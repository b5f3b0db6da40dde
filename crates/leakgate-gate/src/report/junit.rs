//! JUnit XML (the Jenkins/Ant schema): a test suite per scenario, a test case
//! per check plus one for the snapshot; warnings pass with a note in
//! system-out; a run that could not measure is one `error` case. Every name
//! and attribute goes through [`crate::escape::xml_chars`] (the XML writer
//! escapes markup, but a control character in a type name would still make
//! the file ill-formed); every text the writer puts in CDATA (failure
//! details, system-out) through [`crate::escape::xml_cdata`], since the
//! writer does not split a `]]>`.

use std::fmt::Write as _;

use junit_report::{Duration, OffsetDateTime, ReportBuilder, TestCaseBuilder, TestSuiteBuilder};

use super::{RunReport, grown_path_line, p_cell, slope_cell};
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
    for c in report.checks() {
        let name = x(&format!("{}: {}", c.budget, c.key()));
        let detail = cdata(&check_detail(c));
        let mut tc = match c.status {
            Status::Fail => {
                // The reasons, and the path that holds what grew.
                let held = c
                    .type_name
                    .as_deref()
                    .and_then(|t| retention.get(t).copied())
                    .and_then(grown_path_line)
                    .map(|p| format!("; held: {p}"))
                    .unwrap_or_default();
                let mut tc = TestCaseBuilder::failure(
                    &name,
                    Duration::ZERO,
                    "budget",
                    &x(&format!("{}{held}", c.reasons.join("; "))),
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
            SnapshotComparison::Differs { diff, .. }
                if !outcome.new_finalizer_growth().is_empty() =>
            {
                let new: Vec<String> = outcome
                    .new_finalizer_growth()
                    .iter()
                    .map(|k| k.to_string())
                    .collect();
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
