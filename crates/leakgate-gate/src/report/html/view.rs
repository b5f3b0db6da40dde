//! The page as data: a [`RunReport`] turned into the rows and sentences the
//! template lays out, numbers formatted for people, with raw numbers beside
//! them for sorting. Untrusted text stays plain here; the template's
//! formatter escapes it.

use leakgate_record::LoadSummary;
use leakgate_scenario::budget::Unit;
use serde::Serialize;

use crate::judge::{Check, Status};
use crate::report::chart::ChartData;
use crate::report::markdown::top_finalizable;
use crate::report::{Outcome, RunReport, charted, ordered, p_cell, slope_cell, svg};
use crate::snapshot::SnapshotComparison;
use crate::units::{human, human_signed};

/// Charts drawn on the page at most; the SVG files hold every notable one.
pub const MAX_CHARTS: usize = 40;
/// Sample-timing rows at most (a run may take 10,000 samples).
pub const MAX_TIMING_ROWS: usize = 200;
/// Growing types listed at most.
pub const MAX_GROWING: usize = 20;
/// Warnings spelt out under "What failed" at most (failures always are):
/// the rest are a filter away in the checks table.
pub const MAX_WARNINGS: usize = 5;
/// Failing series named in the headline at most.
const NAMED_IN_TALLY: usize = 2;

#[derive(Serialize, Debug)]
pub struct Page {
    pub scenario: String,
    /// `pass`, `warn`, `fail` or `error`: a CSS class.
    pub outcome: &'static str,
    /// `FAIL`, `PASS (with warnings)`, ...
    pub headline: &'static str,
    /// "2 of 14 checks failed, 1 warned."
    pub tally: String,
    /// "5 samples over 17 s; 1650 requests (0 errors)."
    pub measured: String,
    pub started: String,
    pub finished: String,
    /// Why the run could not measure.
    pub failure: Option<String>,
    /// Every failing check and the first warnings, worst first, with reasons.
    pub findings: Vec<Finding>,
    pub warnings_left_out: usize,
    pub charts: Vec<ChartView>,
    /// Notable checks whose chart is only in `charts/`.
    pub charts_left_out: usize,
    pub checks: Vec<CheckRow>,
    pub growing: Vec<GrowingRow>,
    pub snapshot: Option<SnapshotView>,
    /// Why the traced types are alive: the retention paths that grew.
    pub retention: Vec<RetentionView>,
    pub process: Option<ProcessView>,
    pub load: LoadView,
    pub timings: Vec<TimingRow>,
    pub timings_left_out: usize,
    pub notes: Vec<String>,
    pub files: Vec<FileLink>,
}

#[derive(Serialize, Debug)]
pub struct RetentionView {
    pub type_name: String,
    /// e.g. "334 → 822 instances (+488) from the first judged sample to the last".
    pub summary: String,
    pub groups: Vec<RetentionGroupView>,
}

#[derive(Serialize, Debug)]
pub struct RetentionGroupView {
    /// The group's part of the growth, e.g. "+488 of +488".
    pub share: String,
    /// The path's leak signature, when known.
    pub signature: Option<String>,
    /// Root first, one step per line, the traced type last.
    pub chain: Vec<String>,
    /// "Held by List<Byte[]> (static Leak.Keep), which retains 6.1 MiB (…)", when known.
    pub holder: Option<String>,
}

fn retention_view(g: &leakgate_heap::PathGrowth) -> RetentionView {
    RetentionView {
        type_name: g.type_name.clone(),
        summary: format!(
            "{} → {} instances ({:+}) from the first judged sample to the last",
            g.first.instances, g.last.instances, g.growth
        ),
        groups: super::super::shown_groups(g)
            .map(|group| RetentionGroupView {
                share: g.share(group),
                signature: group.known_signature().map(ToString::to_string),
                chain: group.path.chain(),
                holder: super::super::holder_text(group).map(|h| capitalised(&h.plain())),
            })
            .collect(),
    }
}

/// `held by …` as a sentence: `Held by …`.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// One leak, one finding: the types that grew together, and their holder.
fn finding_view(
    report: &RunReport,
    checks: &super::super::FindingChecks,
    f: &crate::findings::Finding,
) -> RetentionView {
    RetentionView {
        type_name: format!("One leak: {}", f.members.join(", ")),
        summary: format!("These types {}.", checks.growth(f)),
        groups: vec![RetentionGroupView {
            share: "Held".to_string(),
            signature: None,
            chain: f.holder.chain(),
            holder: super::super::finding_holder(report, f)
                .and_then(super::super::holder_text)
                .map(|h| capitalised(&h.plain())),
        }],
    }
}

#[derive(Serialize, Debug)]
pub struct Finding {
    pub status: String,
    pub status_text: &'static str,
    pub key: String,
    pub budget: String,
    pub reasons: Vec<String>,
    /// The id of its chart on the page, when drawn.
    pub chart: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct ChartView {
    pub id: String,
    pub key: String,
    pub status: String,
    /// How to read it, in words (the chart's legend, for screen readers too).
    pub caption: String,
    /// The SVG, handed to the template as a safe value (see `html::render`).
    #[serde(skip)]
    pub svg: String,
}

/// A number shown formatted, sorted by its value (`e` notation; empty when absent).
#[derive(Serialize, Debug)]
pub struct Cell {
    pub text: String,
    pub sort: String,
}

impl Cell {
    fn of(text: String, value: Option<f64>) -> Cell {
        Cell {
            text,
            sort: value.map_or(String::new(), |v| format!("{v:e}")),
        }
    }
}

#[derive(Serialize, Debug)]
pub struct CheckRow {
    pub status: String,
    pub status_text: &'static str,
    pub budget: String,
    pub metric: String,
    pub type_name: String,
    pub first: Cell,
    pub last: Cell,
    pub growth: Cell,
    pub slope: Cell,
    pub p: Cell,
    pub chart: Option<String>,
    /// Only for failing and warning rows (the JSON has them all).
    pub reasons: Vec<String>,
}

#[derive(Serialize, Debug)]
pub struct GrowingRow {
    pub type_name: String,
    pub first: String,
    pub last: String,
    pub growth: String,
    /// The trend rule's slope, when the type keeps growing by it.
    pub trend: String,
}

#[derive(Serialize, Debug)]
pub struct SnapshotView {
    pub summary: String,
    pub new_growth: Vec<String>,
    pub diff: Vec<DiffLine>,
}

#[derive(Serialize, Debug)]
pub struct DiffLine {
    /// `add`, `del`, `hunk` or `same`: a CSS class (the `+`/`-` stays in the text).
    pub kind: &'static str,
    pub text: String,
}

#[derive(Serialize, Debug)]
pub struct ProcessView {
    pub pid: u32,
    pub command_line: String,
    pub reason: String,
    pub doubt: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct LoadView {
    pub requests: u64,
    pub errors: u64,
    pub error_rate: String,
    pub latency: String,
    pub duration: String,
    pub statuses: String,
    pub failures: Vec<(String, u64)>,
    pub per_request: Vec<RequestRow>,
}

#[derive(Serialize, Debug)]
pub struct RequestRow {
    pub method: String,
    pub path: String,
    pub sent: u64,
    pub errors: u64,
}

#[derive(Serialize, Debug)]
pub struct TimingRow {
    pub index: usize,
    pub warmup: bool,
    pub time: String,
    pub requests: u64,
    pub gc_ms: String,
    pub dump_ms: String,
    pub maps_ms: String,
    pub analysis_ms: String,
    pub paused_ms: String,
}

#[derive(Serialize, Debug)]
pub struct FileLink {
    pub href: String,
    pub what: &'static str,
}

fn status_text(s: Status) -> &'static str {
    match s {
        Status::Pass => "✓ pass",
        Status::Warn => "! WARN",
        Status::Fail => "✗ FAIL",
    }
}

fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Warn => "warn",
        Outcome::Fail => "fail",
        Outcome::Error => "error",
    }
}

impl Page {
    pub fn of(report: &RunReport) -> Page {
        let all_charted = by_interest(charted(report));
        let drawn = &all_charted[..all_charted.len().min(MAX_CHARTS)];
        let chart_id = |c: &Check| {
            drawn
                .iter()
                .position(|d| d.key() == c.key())
                .map(|i| format!("chart-{}", i + 1))
        };
        let checks = report.checks();
        let count = |st| checks.iter().filter(|c| c.status == st).count();
        let finding_checks = report.finding_checks();
        Page {
            scenario: report.scenario().to_string(),
            outcome: outcome_class(report.outcome),
            headline: report.outcome.headline(),
            tally: tally(checks, count(Status::Fail), count(Status::Warn)),
            measured: measured(report),
            started: report.info.started.clone(),
            finished: report.info.finished.clone(),
            failure: report.failure.clone(),
            findings: ordered(checks)
                .into_iter()
                .filter(|c| c.status == Status::Fail)
                .chain(
                    checks
                        .iter()
                        .filter(|c| c.status == Status::Warn)
                        .take(MAX_WARNINGS),
                )
                .map(|c| Finding {
                    status: c.status.to_string(),
                    status_text: status_text(c.status),
                    key: c.key().to_string(),
                    budget: c.budget.clone(),
                    reasons: c.reason_texts(),
                    chart: chart_id(c),
                })
                .collect(),
            warnings_left_out: count(Status::Warn).saturating_sub(MAX_WARNINGS),
            charts: drawn
                .iter()
                .enumerate()
                .map(|(i, c)| chart_view(report, c, i))
                .collect(),
            charts_left_out: all_charted.len() - drawn.len(),
            // Worst first, as in summary.md; the script sorts by any column.
            checks: ordered(checks)
                .into_iter()
                .map(|c| check_row(c, chart_id(c)))
                .collect(),
            growing: growing(report),
            snapshot: report.snapshot.as_ref().map(snapshot_view),
            retention: report
                .findings
                .iter()
                .map(|f| finding_view(report, &finding_checks, f))
                .chain(report.retention.iter().map(retention_view))
                .collect(),
            process: report.info.sampled.as_ref().map(|p| ProcessView {
                pid: p.pid,
                command_line: p.command_line.clone(),
                reason: p.reason.clone(),
                doubt: p.doubt.clone(),
            }),
            load: load_view(&report.info.load),
            timings: timings(report),
            timings_left_out: report.samples.len().saturating_sub(MAX_TIMING_ROWS),
            notes: report
                .verdict
                .iter()
                .flat_map(|v| v.notes.iter())
                .chain(&report.notes)
                .cloned()
                .collect(),
            files: files(report),
        }
    }
}

/// "2 of 14 checks failed, 1 warned: committed.unknown, finalizable X."
fn tally(checks: &[Check], failed: usize, warned: usize) -> String {
    if checks.is_empty() {
        return "No checks were judged.".into();
    }
    let counts = format!(
        "{failed} of {} checks failed, {warned} warned",
        checks.len()
    );
    let mut seen = std::collections::HashSet::new();
    let named: Vec<String> = ordered(checks)
        .into_iter()
        .filter(|c| c.status == Status::Fail && seen.insert(c.key()))
        .map(|c| c.key().to_string())
        .collect();
    match named.len() {
        0 => format!("{counts}."),
        n if n <= NAMED_IN_TALLY => format!("{counts}: {}.", named.join(", ")),
        n => format!(
            "{counts}: {} and {} more.",
            named[..NAMED_IN_TALLY].join(", "),
            n - NAMED_IN_TALLY
        ),
    }
}

fn measured(report: &RunReport) -> String {
    let l = &report.info.load;
    let judged = report.judged_samples().len();
    let warmup = report.samples.len() - judged;
    let mut text = format!(
        "{} samples over {} ({} warm-up, {} judged); {} requests ({} errors), p50 {:.1} ms, p99 {:.1} ms.",
        report.samples.len(),
        report.span_text(),
        warmup,
        judged,
        l.requests,
        l.errors,
        l.p50_ms,
        l.p99_ms
    );
    if let Some(a) = &report.info.auto_sampling {
        text.push(' ');
        text.push_str(&a.sentence());
    }
    for line in super::super::sizing_lines(report) {
        text.push(' ');
        text.push_str(&line);
        text.push('.');
    }
    text
}

/// Charts in the order a reader wants them: failures, warnings, then the
/// memory metrics, then the types that grew most (relative to where they
/// started); the cap on charts keeps the first.
fn by_interest(mut checks: Vec<&Check>) -> Vec<&Check> {
    let relative = |c: &Check| c.growth_pct.unwrap_or(f64::INFINITY);
    checks.sort_by(|a, b| {
        b.status
            .cmp(&a.status)
            .then(a.type_name.is_some().cmp(&b.type_name.is_some()))
            .then(relative(b).total_cmp(&relative(a)))
    });
    checks
}

fn chart_view(report: &RunReport, check: &Check, i: usize) -> ChartView {
    let data = ChartData::of(report, check);
    let mut caption = format!(
        "{} over time: {} at {} samples",
        check.key(),
        data.y_title(),
        data.points.len()
    );
    if data.points.iter().any(|p| p.warmup) {
        caption.push_str(" (the shaded warm-up ones not judged)");
    }
    if let Some(slope) = data.slope_text() {
        caption.push_str(&format!("; fitted slope {slope}"));
        if let Some([lo, hi]) = check.theil_sen_ci_per_min {
            caption.push_str(&format!(
                " (interval {} to {})",
                human_signed(lo, check.unit),
                human_signed(hi, check.unit)
            ));
        }
    }
    for l in &data.limits {
        caption.push_str(&format!("; budget {}", l.label));
    }
    caption.push('.');
    ChartView {
        id: format!("chart-{}", i + 1),
        key: check.key().to_string(),
        status: check.status.to_string(),
        caption,
        svg: svg::chart(&data),
    }
}

fn check_row(c: &Check, chart: Option<String>) -> CheckRow {
    let h = |v: f64| human(v, c.unit);
    let growth_text = match c.growth_pct {
        Some(p) if p.is_finite() => format!("{} ({p:+.0}%)", human_signed(c.growth, c.unit)),
        _ => human_signed(c.growth, c.unit),
    };
    CheckRow {
        status: c.status.to_string(),
        status_text: status_text(c.status),
        budget: c.budget.clone(),
        metric: c.metric.to_string(),
        type_name: c.type_name.clone().unwrap_or_default(),
        first: Cell::of(h(c.first), Some(c.first)),
        last: Cell::of(h(c.last), Some(c.last)),
        growth: Cell::of(growth_text, Some(c.growth)),
        slope: Cell::of(slope_cell(c), c.slope_per_min.or(c.slope_per_1k_requests)),
        p: Cell::of(p_cell(c), c.mk_p_value),
        chart,
        reasons: if c.status == Status::Pass {
            Vec::new()
        } else {
            c.reason_texts()
        },
    }
}

fn growing(report: &RunReport) -> Vec<GrowingRow> {
    let trend = |t: &str| {
        report
            .verdict
            .iter()
            .flat_map(|v| &v.growing)
            .find(|g| g.type_name.as_deref() == Some(t))
            .map(|g| match g.slope_per_min {
                Some(s) => format!("keeps growing, {}/min", human_signed(s, g.unit)),
                None => "keeps growing".into(),
            })
            .unwrap_or_default()
    };
    top_finalizable(report.judged_samples(), MAX_GROWING)
        .into_iter()
        .map(|(t, a, b)| GrowingRow {
            first: human(a, Unit::Count),
            last: human(b, Unit::Count),
            growth: human_signed(b - a, Unit::Count),
            trend: trend(&t),
            type_name: t,
        })
        .collect()
}

fn snapshot_view(o: &SnapshotComparison) -> SnapshotView {
    match o {
        SnapshotComparison::Matches => SnapshotView {
            summary: "Matches the approved snapshot.".into(),
            new_growth: vec![],
            diff: vec![],
        },
        SnapshotComparison::Missing => SnapshotView {
            summary: "No approved snapshot yet: review the .snap.new and run `leakgate accept`."
                .into(),
            new_growth: vec![],
            diff: vec![],
        },
        SnapshotComparison::Differs {
            diff,
            new_growth,
            new_paths,
        } => SnapshotView {
            summary: if new_growth.is_empty() && new_paths.is_empty() {
                "Differs from the approved snapshot (no new growth); review it, then `leakgate accept`."
                    .into()
            } else {
                "New growth versus the approved snapshot: approve with `leakgate accept`, or fix the leak."
                    .into()
            },
            new_growth: new_growth
                .iter()
                .map(|g| g.to_string())
                .chain(new_paths.iter().map(|p| format!("new path: {p}")))
                .collect(),
            diff: diff
                .lines()
                .map(|l| DiffLine {
                    kind: match l.as_bytes().first() {
                        Some(b'+') if !l.starts_with("+++") => "add",
                        Some(b'-') if !l.starts_with("---") => "del",
                        Some(b'@') => "hunk",
                        _ => "same",
                    },
                    text: l.to_string(),
                })
                .collect(),
        },
    }
}

fn load_view(l: &LoadSummary) -> LoadView {
    let mut failures: Vec<(String, u64)> =
        l.failures.iter().map(|(k, n)| (k.clone(), *n)).collect();
    failures.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    LoadView {
        requests: l.requests,
        errors: l.errors,
        error_rate: format!("{:.2}%", 100.0 * l.error_rate()),
        latency: format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            l.p50_ms, l.p99_ms, l.max_ms
        ),
        duration: format!(
            "{:.1} s, {:.1} s of it paused for samples",
            l.elapsed_secs, l.paused_secs
        ),
        statuses: l
            .by_status
            .iter()
            .map(|(s, n)| format!("{s} ×{n}"))
            .collect::<Vec<_>>()
            .join(", "),
        failures,
        per_request: l
            .per_request
            .iter()
            .map(|r| RequestRow {
                method: r.method.clone(),
                path: r.path.clone(),
                sent: r.sent,
                errors: r.errors,
            })
            .collect(),
    }
}

fn timings(report: &RunReport) -> Vec<TimingRow> {
    let judged_from = report.verdict.as_ref().map_or(0, |v| v.judged_from);
    let ms = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.0}"));
    report
        .samples
        .iter()
        .take(MAX_TIMING_ROWS)
        .enumerate()
        .map(|(i, s)| {
            let t = s.timings.as_ref();
            TimingRow {
                index: s.index,
                warmup: i < judged_from,
                time: format!("{:.1} s", s.elapsed_secs),
                requests: s.requests,
                gc_ms: ms(t.map(|t| t.gc_ms)),
                dump_ms: ms(t.map(|t| t.dump_ms)),
                maps_ms: ms(t.map(|t| t.maps_ms)),
                analysis_ms: ms(t.map(|t| t.analysis_ms)),
                paused_ms: ms(t.map(|t| t.load_paused_ms)),
            }
        })
        .collect()
}

/// The run's other files, as links relative to the page (they sit beside it).
fn files(report: &RunReport) -> Vec<FileLink> {
    let Some(f) = &report.info.files else {
        return Vec::new();
    };
    vec![
        FileLink {
            href: f.report_json.clone(),
            what: "everything, per schemas/report.schema.json",
        },
        FileLink {
            href: f.summary_md.clone(),
            what: "the Markdown summary",
        },
        FileLink {
            href: f.junit_xml.clone(),
            what: "a JUnit test case per check",
        },
        FileLink {
            href: format!("{}/", f.charts),
            what: "an SVG chart per notable check",
        },
        FileLink {
            href: format!("{}/", f.samples),
            what: "per sample: memory by usage, the managed summary, timings",
        },
        FileLink {
            href: f.service_log.clone(),
            what: "the service's output",
        },
    ]
}
