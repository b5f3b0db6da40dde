//! The typed run report and its renderings.
//!
//! [`RunReport`] is the one model every output is made from (JSON is its
//! serde form; [`junit_xml`], [`markdown`], [`console_table`] and
//! [`svg_chart`] render it). Nothing here decides pass or fail: that was
//! [`crate::judge()`] and [`crate::snapshot::final_status`].
//!
//! ```
//! use leakgate_gate::report::{LoadStats, RunReport, junit_xml, markdown};
//! use leakgate_gate::judge::{judge, JudgeOptions, Status};
//!
//! let verdict = judge(&[], &[], &[], &JudgeOptions::default());
//! let r = RunReport::new("checkout", "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z",
//!     LoadStats::default(), vec![], verdict, None);
//! assert_eq!((r.status, r.exit_code), (Status::Warn, 0));
//! assert!(junit_xml(&r).contains("<testsuite "));
//! assert!(markdown(&r).starts_with("## leakgate: checkout"));
//! ```

use std::fmt::Write as _;

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use junit_report::{Duration, OffsetDateTime, ReportBuilder, TestCaseBuilder, TestSuiteBuilder};
use leakgate_scenario::budget::{Metric, Unit};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::judge::{Check, Status, Verdict};
use crate::series::{self, SampleMetrics, Series};
use crate::snapshot::{SnapshotOutcome, final_status};
use crate::trend;
use crate::units::{human, human_signed, p_value};

/// Exit codes of `leakgate run` (see DESIGN.md).
pub const EXIT_PASS: i32 = 0;
pub const EXIT_FAIL: i32 = 1;
pub const EXIT_RUN_FAILED: i32 = 2;

/// Everything about one scenario run, serialised as the JSON report.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct RunReport {
    pub scenario: String,
    /// The scenario file, as given on the command line.
    #[serde(default)]
    pub scenario_file: String,
    /// The 1-based line where each budget starts in the scenario file, by budget index
    /// (for annotations that point at the budget).
    #[serde(default)]
    pub budget_lines: Vec<u64>,
    /// RFC 3339.
    pub started: String,
    /// RFC 3339.
    pub finished: String,
    /// Budgets and snapshot combined.
    pub status: Status,
    /// 0 pass or warn, 1 fail, 2 the run could not be done.
    pub exit_code: i32,
    /// Why the run could not finish (service crashed, dump failed, ...).
    pub failure: Option<String>,
    pub load: LoadStats,
    pub samples: Vec<SampleMetrics>,
    /// Absent when the run failed before it could be judged.
    pub verdict: Option<Verdict>,
    /// Absent when the scenario keeps no snapshot or the run failed.
    pub snapshot: Option<SnapshotOutcome>,
}

/// What the load generator saw.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
pub struct LoadStats {
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl RunReport {
    /// A judged run; status and exit code follow from the verdict and the
    /// snapshot outcome.
    pub fn new(
        scenario: &str,
        started: &str,
        finished: &str,
        load: LoadStats,
        samples: Vec<SampleMetrics>,
        verdict: Verdict,
        snapshot: Option<SnapshotOutcome>,
    ) -> Self {
        let status = match &snapshot {
            Some(o) => final_status(&verdict, o),
            None => verdict.status,
        };
        RunReport {
            scenario: scenario.into(),
            scenario_file: String::new(),
            budget_lines: Vec::new(),
            started: started.into(),
            finished: finished.into(),
            status,
            exit_code: if status == Status::Fail {
                EXIT_FAIL
            } else {
                EXIT_PASS
            },
            failure: None,
            load,
            samples,
            verdict: Some(verdict),
            snapshot,
        }
    }

    /// A run that could not be done; exit code 2.
    pub fn failed(
        scenario: &str,
        started: &str,
        finished: &str,
        failure: &str,
        load: LoadStats,
        samples: Vec<SampleMetrics>,
    ) -> Self {
        RunReport {
            scenario: scenario.into(),
            scenario_file: String::new(),
            budget_lines: Vec::new(),
            started: started.into(),
            finished: finished.into(),
            status: Status::Fail,
            exit_code: EXIT_RUN_FAILED,
            failure: Some(failure.into()),
            load,
            samples,
            verdict: None,
            snapshot: None,
        }
    }

    pub fn checks(&self) -> &[Check] {
        self.verdict.as_ref().map_or(&[], |v| &v.checks)
    }

    /// The samples the verdict judged: all but the warm-up ones (all of them
    /// when there is no verdict).
    pub fn judged_samples(&self) -> &[SampleMetrics] {
        let from = self.verdict.as_ref().map_or(0, |v| v.judged_from);
        self.samples.get(from..).unwrap_or(&[])
    }

    /// The judged series behind a check.
    pub fn series_for(&self, check: &Check) -> Series {
        let judged = self.judged_samples();
        match &check.type_name {
            Some(t) => series::per_type(judged, check.metric, t),
            None => series::scalar(judged, check.metric).unwrap_or(Series {
                metric: check.metric,
                type_name: None,
                unit: check.unit,
                points: vec![],
            }),
        }
    }
}

/// The JSON report.
pub fn to_json(report: &RunReport) -> String {
    serde_json::to_string_pretty(report).expect("reports hold only finite numbers")
}

/// JSON Schema of [`RunReport`], as checked into `schemas/report.schema.json`.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(RunReport);
    serde_json::to_string_pretty(&schema).expect("schemas serialise") + "\n"
}

// ---- shared cells ------------------------------------------------------------

fn slope_cell(c: &Check) -> String {
    let mut parts = Vec::new();
    if let Some(s) = c.slope_per_1k_requests {
        parts.push(format!("{}/1k req", human_signed(s, c.unit)));
    }
    if let Some(s) = c.slope_per_min {
        parts.push(format!("{}/min", human_signed(s, c.unit)));
    }
    if parts.is_empty() {
        "–".into()
    } else {
        parts.join(", ")
    }
}

fn p_cell(c: &Check) -> String {
    c.mk_p_value.map_or("–".into(), p_value)
}

fn type_cell(c: &Check) -> &str {
    c.type_name.as_deref().unwrap_or("")
}

/// Failing first, then warnings, then passes; budget order within each.
fn ordered(checks: &[Check]) -> Vec<&Check> {
    let mut v: Vec<&Check> = checks.iter().collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.status));
    v
}

/// `finalizable-System.Foo.svg`: a file-name-safe chart name for a check.
pub fn chart_file_name(check: &Check) -> String {
    let raw = match &check.type_name {
        Some(t) => format!("{}-{t}", check.metric),
        None => check.metric.to_string(),
    };
    let safe: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.svg")
}

// ---- JUnit -------------------------------------------------------------------

fn timestamp(s: &str) -> OffsetDateTime {
    use time::format_description::well_known::Rfc3339;
    OffsetDateTime::parse(s, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn check_detail(c: &Check) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "budget: {}", c.budget);
    let _ = writeln!(s, "series: {}", c.subject());
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

/// JUnit XML (Jenkins/Ant schema): a testsuite per scenario, a testcase
/// per check plus one for the snapshot; warnings pass with a note in
/// system-out, a failed run is one `error` case.
pub fn junit_xml(report: &RunReport) -> String {
    let classname = format!("leakgate.{}", report.scenario);
    let mut suite = TestSuiteBuilder::new(&report.scenario);
    suite.set_timestamp(timestamp(&report.started));
    if let Some(f) = &report.failure {
        let mut tc = TestCaseBuilder::error("run", Duration::ZERO, "run-failed", f);
        tc.set_classname(&classname);
        suite.add_testcase(tc.build());
    }
    for c in report.checks() {
        let name = format!("{}: {}", c.budget, c.subject());
        let detail = check_detail(c);
        let mut tc = match c.status {
            Status::Fail => {
                let mut tc = TestCaseBuilder::failure(
                    &name,
                    Duration::ZERO,
                    "budget",
                    &c.reasons.join("; "),
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
            SnapshotOutcome::Differs { diff, new_growth }
                if !outcome.new_finalizer_growth().is_empty() =>
            {
                let mut tc = TestCaseBuilder::failure(
                    "snapshot",
                    Duration::ZERO,
                    "new-growth",
                    &format!(
                        "new growth versus the approved snapshot: {}",
                        new_growth.join(", ")
                    ),
                );
                tc.set_trace(diff);
                tc
            }
            SnapshotOutcome::Differs { diff, .. } => {
                let mut tc = TestCaseBuilder::success("snapshot", Duration::ZERO);
                tc.set_system_out(&format!("snapshot changed; review it\n{diff}"));
                tc
            }
            SnapshotOutcome::Missing => {
                let mut tc = TestCaseBuilder::success("snapshot", Duration::ZERO);
                tc.set_system_out("no approved snapshot yet; review and accept the .snap.new");
                tc
            }
            SnapshotOutcome::Matches => TestCaseBuilder::success("snapshot", Duration::ZERO),
        };
        tc.set_classname(&classname);
        suite.add_testcase(tc.build());
    }
    if let Some(v) = &report.verdict
        && !v.notes.is_empty()
    {
        suite.set_system_out(&v.notes.join("\n"));
    }
    let r = ReportBuilder::new().add_testsuite(suite.build()).build();
    let mut out = Vec::new();
    r.write_xml(&mut out).expect("writing XML to memory");
    String::from_utf8(out).expect("junit-report writes UTF-8")
}

// ---- Markdown ------------------------------------------------------------------

fn badge(s: Status) -> &'static str {
    match s {
        Status::Pass => "✅ pass",
        Status::Warn => "⚠️ warn",
        Status::Fail => "❌ fail",
    }
}

/// Table-cell safe: `|` would end the cell, and `<...>` in generic type names
/// would be taken for HTML tags and vanish on GitHub.
fn md_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

/// Finalizable types by growth over the whole run, largest first.
pub fn top_finalizable(samples: &[SampleMetrics], n: usize) -> Vec<(String, f64, f64)> {
    let mut v: Vec<(String, f64, f64)> = series::type_names(samples, Metric::Finalizable)
        .into_iter()
        .map(|t| {
            let s = series::per_type(samples, Metric::Finalizable, &t);
            (t, s.first().unwrap_or(0.0), s.last().unwrap_or(0.0))
        })
        .filter(|(_, a, b)| b > a)
        .collect();
    v.sort_by(|x, y| (y.2 - y.1).total_cmp(&(x.2 - x.1)).then(x.0.cmp(&y.0)));
    v.truncate(n);
    v
}

/// The checks worth a row: every failure or warning, every scalar metric, and
/// per-type checks that grew. A service has dozens of finalizable types that
/// sit flat; listing them all would bury the one that matters, so they are
/// counted instead (the JSON report keeps them all).
pub fn notable(checks: &[Check]) -> (Vec<&Check>, usize) {
    let all = ordered(checks);
    let total = all.len();
    let shown: Vec<&Check> = all
        .into_iter()
        .filter(|c| c.status != Status::Pass || c.type_name.is_none() || c.growth > 0.0)
        .collect();
    let hidden = total - shown.len();
    (shown, hidden)
}

fn hidden_line(hidden: usize) -> String {
    format!(
        "{hidden} more per-type check{} passed with no growth.",
        if hidden == 1 { "" } else { "s" }
    )
}

/// The Markdown summary (for `$GITHUB_STEP_SUMMARY` and PR comments).
/// Charts are referenced as `charts/<file>.svg` (see [`chart_file_name`]).
pub fn markdown(report: &RunReport) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## leakgate: {} — {}\n",
        report.scenario,
        badge(report.status)
    );
    let l = &report.load;
    let minutes = report.samples.last().map_or(0.0, |s| s.elapsed_secs / 60.0);
    let _ = writeln!(
        md,
        "{} samples over {minutes:.1} min; {} requests ({} errors), p50 {:.1} ms, p99 {:.1} ms. \
         Started {}, finished {}.\n",
        report.samples.len(),
        l.requests,
        l.errors,
        l.p50_ms,
        l.p99_ms,
        report.started,
        report.finished
    );
    if let Some(f) = &report.failure {
        let _ = writeln!(md, "**The run could not finish:** {f}\n");
    }
    let checks = report.checks();
    if !checks.is_empty() {
        let count = |st| checks.iter().filter(|c| c.status == st).count();
        let _ = writeln!(
            md,
            "**{} of {} checks failed, {} warned.**\n",
            count(Status::Fail),
            checks.len(),
            count(Status::Warn)
        );
        md.push_str("### Checks\n\n");
        md.push_str(
            "| Verdict | Budget | Metric | Type | First | Last | Growth | Slope | p | Chart |\n",
        );
        md.push_str("|---|---|---|---|--:|--:|--:|--:|--:|---|\n");
        let (shown, hidden) = notable(checks);
        for c in shown {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | [chart](charts/{}) |",
                badge(c.status),
                md_escape(&c.budget),
                c.metric,
                md_escape(type_cell(c)),
                human(c.first, c.unit),
                human(c.last, c.unit),
                human_signed(c.growth, c.unit),
                slope_cell(c),
                p_cell(c),
                chart_file_name(c),
            );
        }
        if hidden > 0 {
            let _ = writeln!(md, "\n{}", hidden_line(hidden));
        }
        md.push('\n');
        let bad: Vec<&Check> = ordered(checks)
            .into_iter()
            .filter(|c| c.status != Status::Pass)
            .collect();
        for c in &bad {
            for r in &c.reasons {
                let _ = writeln!(md, "- **{}**: {r}", md_escape(&c.subject()));
            }
        }
        if !bad.is_empty() {
            md.push('\n');
        }
    }
    if let Some(o) = &report.snapshot {
        md.push_str("### Snapshot\n\n");
        match o {
            SnapshotOutcome::Matches => md.push_str("Matches the approved snapshot.\n\n"),
            SnapshotOutcome::Missing => md.push_str(
                "No approved snapshot yet: review the `.snap.new` and run `leakgate accept`.\n\n",
            ),
            SnapshotOutcome::Differs { diff, new_growth } => {
                if new_growth.is_empty() {
                    md.push_str(
                        "Differs from the approved snapshot (no new growth); review it.\n\n",
                    );
                } else {
                    md.push_str("**New growth versus the approved snapshot:**\n\n");
                    for g in new_growth {
                        let _ = writeln!(md, "- `{g}`");
                    }
                    md.push('\n');
                }
                let _ = writeln!(md, "```diff\n{}```\n", diff);
                md.push_str("Approve with `leakgate accept`, or fix the leak.\n\n");
            }
        }
    }
    // Over the judged samples, so the numbers agree with the checks above.
    let top = top_finalizable(report.judged_samples(), 10);
    if !top.is_empty() {
        md.push_str("### Top growing finalizable types\n\n| Type | First | Last | Growth |\n|---|--:|--:|--:|\n");
        for (t, a, b) in top {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                md_escape(&t),
                human(a, Unit::Count),
                human(b, Unit::Count),
                human_signed(b - a, Unit::Count)
            );
        }
        md.push('\n');
    }
    if let Some(v) = &report.verdict
        && !v.notes.is_empty()
    {
        md.push_str("### Notes\n\n");
        for n in &v.notes {
            let _ = writeln!(md, "- {n}");
        }
        md.push('\n');
    }
    md.truncate(md.trim_end().len());
    md.push('\n');
    md
}

// ---- console -----------------------------------------------------------------

/// A plain table of the judged checks for the terminal; the CLI colours it.
pub fn console_table(report: &RunReport) -> String {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .force_no_tty()
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "metric / type",
            "first",
            "last",
            "growth",
            "slope",
            "p",
            "verdict",
        ]);
    let (shown, hidden) = notable(report.checks());
    for c in shown {
        t.add_row(vec![
            c.subject(),
            human(c.first, c.unit),
            human(c.last, c.unit),
            human_signed(c.growth, c.unit),
            slope_cell(c),
            p_cell(c),
            c.status.to_string(),
        ]);
    }
    for i in 1..=5 {
        if let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = format!("{}: {}\n", report.scenario, report.status);
    if let Some(f) = &report.failure {
        let _ = writeln!(out, "run failed: {f}");
    }
    if !report.checks().is_empty() {
        out.push_str(&t.to_string());
        out.push('\n');
    }
    if hidden > 0 {
        let _ = writeln!(out, "{}", hidden_line(hidden));
    }
    out
}

// ---- SVG ---------------------------------------------------------------------

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A small self-contained SVG: the value per sample and the fitted
/// Theil–Sen line. Hand-written so the output is byte-stable for review.
pub fn svg_chart(series: &Series, check: &Check) -> String {
    const W: f64 = 640.0;
    const H: f64 = 320.0;
    const L: f64 = 80.0; // left margin for labels
    const R: f64 = 20.0;
    const T: f64 = 40.0;
    const B: f64 = 40.0;
    let v = series.values();
    let n = v.len();
    let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let fit = trend::theil_sen(&x, &v, 0.05);
    let mut lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let mut hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if let Some(f) = fit {
        for xi in [0.0, (n.max(1) - 1) as f64] {
            lo = lo.min(f.intercept + f.slope * xi);
            hi = hi.max(f.intercept + f.slope * xi);
        }
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let px = |i: f64| L + (W - L - R) * if n > 1 { i / (n - 1) as f64 } else { 0.5 };
    let py = |y: f64| T + (H - T - B) * (1.0 - (y - lo) / (hi - lo));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{L}" y="24" font-size="14">{} — {}</text>"#,
        xml_escape(&check.subject()),
        check.status
    );
    let _ = writeln!(
        s,
        r#"<line x1="{L}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#,
        H - B,
        W - R,
        H - B
    );
    let _ = writeln!(
        s,
        r#"<line x1="{L}" y1="{T}" x2="{L}" y2="{:.1}" stroke="black"/>"#,
        H - B
    );
    for y in [lo, hi] {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            L - 6.0,
            py(y) + 4.0,
            xml_escape(&human(y, series.unit))
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">sample</text>"#,
        (L + W - R) / 2.0,
        H - 10.0
    );
    let pts: Vec<String> = v
        .iter()
        .enumerate()
        .map(|(i, y)| format!("{:.1},{:.1}", px(i as f64), py(*y)))
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##,
        pts.join(" ")
    );
    for p in &pts {
        let (cx, cy) = p.split_once(',').unwrap_or(("0", "0"));
        let _ = writeln!(s, r##"<circle cx="{cx}" cy="{cy}" r="3" fill="#1f77b4"/>"##);
    }
    if let Some(f) = fit {
        let x1 = (n - 1) as f64;
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#d62728" stroke-dasharray="6 4"><title>Theil–Sen fit</title></line>"##,
            px(0.0),
            py(f.intercept),
            px(x1),
            py(f.intercept + f.slope * x1)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The chart of every notable check (see [`notable`]) as (file name, SVG),
/// one per distinct series.
pub fn charts(report: &RunReport) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for c in notable(report.checks()).0 {
        let name = chart_file_name(c);
        if out.iter().any(|(n, _)| *n == name) {
            continue;
        }
        out.push((name, svg_chart(&report.series_for(c), c)));
    }
    out
}
