//! The typed run report and its renderings.
//!
//! [`RunReport`] is the one model every output is made from: JSON is its
//! serde form; [`junit`], [`markdown`] (with [`mermaid`] charts),
//! [`console`], [`svg`] (from a [`chart::ChartData`]), [`html`] and
//! [`annotations`] render it. Nothing here decides pass or fail: that was
//! [`crate::judge()`] and [`crate::snapshot::final_status`]; the report only
//! records the [`Outcome`]. Untrusted text (type and scenario names,
//! messages) reaches each format through its escaper in [`crate::escape`].
//!
//! ```
//! use leakgate_gate::report::{Outcome, RunInfo, RunReport, junit, markdown};
//! use leakgate_gate::judge::{judge, JudgeOptions};
//! use leakgate_scenario::TypeFilter;
//!
//! let verdict = judge(&[], &[], &TypeFilter::none(), &JudgeOptions::default());
//! let r = RunReport::judged(RunInfo::new("checkout"), vec![], verdict, None);
//! assert_eq!((r.outcome, r.exit_code), (Outcome::Warn, 0));
//! assert!(junit::render(&r).contains("<testsuite "));
//! assert!(markdown::render(&r).starts_with("## leakgate: checkout"));
//! ```

pub mod annotations;
pub mod chart;
pub mod console;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod mermaid;
pub mod svg;

use leakgate_heap::{GroupGrowth, HolderGrowth, PathGrowth};
use leakgate_record::{GcCommitted, LoadSummary, OutputFiles, SampledProcess};
use leakgate_scenario::budget::{Metric, Unit};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::judge::{Check, Status, Verdict};
use crate::names;
use crate::series::{SampleMetrics, Series};
use crate::snapshot::{SnapshotComparison, final_status};
use crate::units::{human, human_signed, p_value};

pub use leakgate_record::Outcome;

/// The outcome of a measured run whose final status is `status`.
impl From<Status> for Outcome {
    fn from(status: Status) -> Outcome {
        match status {
            Status::Pass => Outcome::Pass,
            Status::Warn => Outcome::Warn,
            Status::Fail => Outcome::Fail,
        }
    }
}

/// What is known of a run besides its samples and verdict.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
pub struct RunInfo {
    pub scenario: String,
    /// The scenario file, as given on the command line.
    #[serde(default)]
    pub scenario_file: String,
    /// The 1-based line where each budget starts in the scenario file, by budget index.
    #[serde(default)]
    pub budget_lines: Vec<u64>,
    /// RFC 3339.
    pub started: String,
    /// RFC 3339.
    pub finished: String,
    /// What the built-in load generator saw (empty for an external load tool).
    pub load: LoadSummary,
    /// The process the samples measured, and why that one.
    #[serde(default)]
    pub sampled: Option<SampledProcess>,
    /// Where this run's files are.
    #[serde(default)]
    pub files: Option<OutputFiles>,
    /// With `sampling.count: auto`: why sampling stopped when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_sampling: Option<crate::sequential::AutoSampling>,
}

impl RunInfo {
    pub fn new(scenario: &str) -> RunInfo {
        RunInfo {
            scenario: scenario.into(),
            ..RunInfo::default()
        }
    }
}

/// Everything about one scenario run, serialised as the JSON report.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct RunReport {
    #[serde(flatten)]
    pub info: RunInfo,
    pub outcome: Outcome,
    /// [`Outcome::exit_code`].
    pub exit_code: u8,
    /// Why the run could not measure (service crashed, failing load, ...).
    pub failure: Option<String>,
    pub samples: Vec<SampleMetrics>,
    /// Absent when the run failed before two samples were taken.
    pub verdict: Option<Verdict>,
    /// Absent when the scenario keeps no snapshot or the run failed.
    pub snapshot: Option<SnapshotComparison>,
    /// Why what grew is alive: for each failing or warning type, the path
    /// that grew between the first judged sample and the last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retention: Vec<PathGrowth>,
    /// Types that grew together through one holder: one leak, one finding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<crate::findings::Finding>,
    /// What went wrong besides the verdict (a chart that could not be written).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl RunReport {
    /// A measured run: the outcome follows from the verdict and the snapshot.
    pub fn judged(
        info: RunInfo,
        samples: Vec<SampleMetrics>,
        verdict: Verdict,
        snapshot: Option<SnapshotComparison>,
    ) -> Self {
        let status = match &snapshot {
            Some(o) => final_status(&verdict, o),
            None => verdict.status,
        };
        let outcome = Outcome::from(status);
        RunReport {
            info,
            outcome,
            exit_code: outcome.exit_code(),
            failure: None,
            samples,
            verdict: Some(verdict),
            snapshot,
            retention: Vec::new(),
            findings: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A run that could not measure; the samples so far (judged, for
    /// information, when there are enough) are kept.
    pub fn failed(
        info: RunInfo,
        failure: &str,
        samples: Vec<SampleMetrics>,
        verdict: Option<Verdict>,
    ) -> Self {
        RunReport {
            info,
            outcome: Outcome::Error,
            exit_code: Outcome::Error.exit_code(),
            failure: Some(failure.into()),
            samples,
            verdict,
            snapshot: None,
            retention: Vec::new(),
            findings: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn scenario(&self) -> &str {
        &self.info.scenario
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

    /// The check that judged each finding's bytes, looked up by its members:
    /// built once per rendering, not a scan of the checks per finding (a
    /// leg may hold thousands of both).
    pub fn finding_checks(&self) -> FindingChecks<'_> {
        let mut by_members = std::collections::HashMap::new();
        for c in self.checks().iter().filter(|c| !c.members.is_empty()) {
            by_members.entry(c.members.as_slice()).or_insert(c);
        }
        FindingChecks(by_members)
    }

    /// The judged series behind a check.
    pub fn series_for(&self, check: &Check) -> Series {
        check.series(self.judged_samples())
    }

    /// Why `type_name` is alive, when the run traced it.
    pub fn retention_of(&self, type_name: &str) -> Option<&PathGrowth> {
        self.retention.iter().find(|g| g.type_name == type_name)
    }

    /// Minutes from the first to the last sample, for "N samples over ...".
    pub fn span_text(&self) -> String {
        let secs = self.samples.last().map_or(0.0, |s| s.elapsed_secs)
            - self.samples.first().map_or(0.0, |s| s.elapsed_secs);
        if secs < 90.0 {
            format!("{secs:.0} s")
        } else {
            format!("{:.1} min", secs / 60.0)
        }
    }
}

/// The check of each finding ([`RunReport::finding_checks`]).
pub struct FindingChecks<'a>(std::collections::HashMap<&'a [String], &'a Check>);

impl FindingChecks<'_> {
    /// The check that judged a finding's bytes, if a budget covered it.
    pub fn of(&self, finding: &crate::findings::Finding) -> Option<&Check> {
        self.0.get(finding.members.as_slice()).copied()
    }

    /// "grow together: +584.0 KiB over the judged samples, 500.1 KiB per 1k requests (fail)".
    pub fn growth(&self, finding: &crate::findings::Finding) -> String {
        match self.of(finding) {
            Some(c) => {
                let rate = c
                    .slope_per_1k_requests
                    .map(|r| format!(", {} per 1k requests", crate::units::human(r, c.unit)))
                    .unwrap_or_default();
                format!(
                    "grow together: {} over the judged samples{rate} ({})",
                    crate::units::human_signed(c.growth, c.unit),
                    c.status
                )
            }
            None => "grow together".to_string(),
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

// ---- shared by the renderers -------------------------------------------------

pub(crate) fn slope_cell(c: &Check) -> String {
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

/// `+410 of +411 through static X.y → … → T (signature 3f9a2c1d7e4b)`: the path that grew,
/// on one line.
pub(crate) fn grown_path_line(g: &PathGrowth) -> Option<String> {
    g.top().map(|top| {
        format!(
            "{} through {}{}",
            g.share(top),
            top.path.abbreviated(5),
            signature_suffix(top)
        )
    })
}

/// ` (signature 3f9a2c1d7e4b)`, or nothing for a group read from a report that had none.
pub(crate) fn signature_suffix(group: &GroupGrowth) -> String {
    group
        .known_signature()
        .map(|s| format!(" (signature {s})"))
        .unwrap_or_default()
}

/// A group's holder in words, in parts that each format escapes as it must: `held by
/// {count}{type_name} ({at}), {retains}`.
pub(crate) struct HolderText<'a> {
    /// `4 × ` where several objects of the type hold the group, each from its own root (a
    /// list in a thread static on each thread); else empty.
    pub count: String,
    /// The holder's type (untrusted).
    pub type_name: &'a str,
    /// Where it sits on the path: the root (`static Leak.Keep`) when the root holds it, else
    /// the field holding it (`Cache.entries`), or the array it is in (untrusted).
    pub at: Option<String>,
    /// `which retains 6.1 MiB (+4.2 MiB since the first judged sample; 1,536 objects)`
    /// (several: `which retain 6.1 MiB in all (…)`): numbers only.
    pub retains: String,
}

impl HolderText<'_> {
    /// The whole line, unescaped.
    pub fn plain(&self) -> String {
        let at = self
            .at
            .as_ref()
            .map(|at| format!(" ({at})"))
            .unwrap_or_default();
        format!(
            "held by {}{}{at}, {}",
            self.count, self.type_name, self.retains
        )
    }
}

/// What holds a grown group, and how much it retains at the last judged sample (and since
/// the first), when the run computed it.
pub(crate) fn holder_text(group: &GroupGrowth) -> Option<HolderText<'_>> {
    let h = group.holder.as_ref()?;
    let steps = &group.path.steps;
    let at = h.step.and_then(|i| match i {
        0 => Some(group.path.root.to_string()),
        i => {
            let previous = &steps.get(i - 1)?.type_name;
            Some(match &steps.get(i)?.field {
                Some(field) => format!("{previous}.{field}"),
                None => format!("in {previous}"),
            })
        }
    });
    let since = h
        .retained_growth()
        .map(|g| {
            format!(
                "{} since the first judged sample; ",
                human_signed(g as f64, Unit::Bytes)
            )
        })
        .unwrap_or_default();
    let (count, retains) = holders_words(h.holders, h.retained_last);
    Some(HolderText {
        count,
        type_name: &h.type_name,
        at,
        retains: format!(
            "{retains} ({since}{} objects)",
            crate::units::count(h.objects_last)
        ),
    })
}

/// How many hold a group and what they retain, in words: `("", "which retains 6.1 MiB")`
/// for one, `("4 × ", "which retain 6.1 MiB in all")` for several (each from its own root).
pub fn holders_words(holders: u64, retained: u64) -> (String, String) {
    let bytes = human(retained as f64, Unit::Bytes);
    match holders {
        1 => (String::new(), format!("which retains {bytes}")),
        n => (
            format!("{} × ", crate::units::count(n)),
            format!("which retain {bytes} in all"),
        ),
    }
}

/// The holder of a finding: the top group of one of its members, when every member whose top
/// group has a holder has the same one (one object keeps the whole leak alive).
pub(crate) fn finding_holder<'a>(
    report: &'a RunReport,
    finding: &crate::findings::Finding,
) -> Option<&'a GroupGrowth> {
    let tops: Vec<&GroupGrowth> = report
        .retention
        .iter()
        .filter(|g| finding.members.contains(&g.type_name))
        .filter_map(PathGrowth::top)
        .filter(|top| top.holder.is_some())
        .collect();
    let first = *tops.first()?;
    // Several holders of one type are named by the one that retains most: the same type
    // and count stand for the same holders.
    let same = |h: &HolderGrowth, o: &HolderGrowth| match h.holders {
        1 => o.holders == 1 && h.address == o.address,
        n => o.holders == n && h.type_name == o.type_name,
    };
    let holder = first.holder.as_ref()?;
    tops.iter()
        .all(|t| t.holder.as_ref().is_some_and(|h| same(holder, h)))
        .then_some(first)
}

/// The groups worth showing: the top one, and any other with a tenth of the growth.
pub(crate) fn shown_groups(g: &PathGrowth) -> impl Iterator<Item = &GroupGrowth> {
    g.groups
        .iter()
        .enumerate()
        .filter(move |(i, group)| *i == 0 || group.growth * 10 >= g.growth)
        .take(3)
        .map(|(_, group)| group)
}

/// `540.0 MiB (in use 445.0 MiB, free 90.0 MiB, bookkeeping 5.0 MiB)`: all
/// the GC has committed, by what holds it.
pub fn gc_committed(gc: &GcCommitted) -> String {
    let bytes = |v: u64| human(v as f64, Unit::Bytes);
    format!(
        "{} (in use {}, free {}, bookkeeping {})",
        bytes(gc.total()),
        bytes(gc.in_use),
        bytes(gc.free()),
        bytes(gc.bookkeeping)
    )
}

/// The GC's own sizing, in one line: `GC committed 540.0 MiB (in use 445.0
/// MiB, free 90.0 MiB, bookkeeping 5.0 MiB) at the last sample`, and what it
/// was at the first judged sample; `None` when the last sample has no count
/// from the runtime.
pub(crate) fn gc_committed_line(report: &RunReport) -> Option<String> {
    let last = report.samples.last()?;
    let gc = last.gc_committed?;
    let bytes = |v: u64| human(v as f64, Unit::Bytes);
    let mut line = format!("GC committed {} at the last sample", gc_committed(&gc));
    if let Some(first_gc) = first_judged_before(report, last).and_then(|f| f.gc_committed) {
        line.push_str(&format!(
            ", {} at the first judged one",
            bytes(first_gc.total())
        ));
    }
    Some(line)
}

/// The first judged sample, to compare `last` with, unless it is `last`.
fn first_judged_before<'a>(
    report: &'a RunReport,
    last: &SampleMetrics,
) -> Option<&'a SampleMetrics> {
    report
        .judged_samples()
        .first()
        .filter(|f| f.index != last.index)
}

/// Native memory in its two parts, in one line: `Native memory 25.6 MiB
/// at the last sample, 25.1 MiB at the first judged one: the runtime's own
/// heaps (JIT'd code, loader heaps) 12.4 MiB (+536.0 KiB), the rest 13.2
/// MiB (0 B)`; `None` unless the last sample tells the parts apart.
pub(crate) fn native_memory_line(report: &RunReport) -> Option<String> {
    let parts = |s: &SampleMetrics| {
        let native = *s.values.get(&Metric::CommittedNative)?;
        let runtime = s.runtime_heaps?;
        Some((native, runtime))
    };
    let bytes = |v: f64| human(v, Unit::Bytes);
    let last = report.samples.last()?;
    let (native, runtime) = parts(last)?;
    let first = first_judged_before(report, last).and_then(parts);
    let part = |now: f64, then: Option<f64>| match then {
        Some(then) => format!("{} ({})", bytes(now), human_signed(now - then, Unit::Bytes)),
        None => bytes(now),
    };
    let mut line = format!("Native memory {} at the last sample", bytes(native));
    if let Some((first_native, _)) = first {
        line.push_str(&format!(
            ", {} at the first judged one",
            bytes(first_native)
        ));
    }
    line.push_str(&format!(
        ": the runtime's own heaps (JIT'd code, loader heaps) {}, the rest {}",
        part(runtime, first.map(|f| f.1)),
        part(native - runtime, first.map(|f| f.0 - f.1)),
    ));
    Some(line)
}

/// The lines on how memory was sized that head every report: the GC's
/// committed memory, native memory's parts.
pub(crate) fn sizing_lines(report: &RunReport) -> Vec<String> {
    [gc_committed_line(report), native_memory_line(report)]
        .into_iter()
        .flatten()
        .collect()
}

pub(crate) fn p_cell(c: &Check) -> String {
    c.mk_p_value.map_or("–".into(), p_value)
}

/// Failing first, then warnings, then passes; budget order within each.
pub(crate) fn ordered(checks: &[Check]) -> Vec<&Check> {
    let mut v: Vec<&Check> = checks.iter().collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.status));
    v
}

/// The chart file of a check: `<safe stem>.svg`, bounded and collision-free
/// (see [`names::file_stem`]).
pub fn chart_file_name(check: &Check) -> String {
    format!("{}.svg", names::file_stem(&check.key().to_string()))
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

pub(crate) fn hidden_line(hidden: usize) -> String {
    format!(
        "{hidden} more per-type check{} passed with no growth.",
        if hidden == 1 { "" } else { "s" }
    )
}

/// The checks that get a chart, one per distinct series, most important
/// first: those that fail or warn, every scalar metric, and per-type checks
/// that grew by at least the growth that matters — not a type that rose by
/// a few bytes, which a chart would draw as a cliff.
pub fn charted(report: &RunReport) -> Vec<&Check> {
    // A set, not a scan of those kept: linear in checks, however many.
    let mut seen = std::collections::HashSet::new();
    notable(report.checks())
        .0
        .into_iter()
        .filter(|c| {
            c.status != Status::Pass
                || !c.metric.is_per_type()
                || c.floor.is_some_and(|f| c.growth >= f.growth)
        })
        .filter(|c| seen.insert(c.key()))
        .collect()
}

/// The chart of every notable check (see [`charted`]) as (file name, SVG).
pub fn charts(report: &RunReport) -> Vec<(String, String)> {
    charted(report)
        .into_iter()
        .map(|c| {
            (
                chart_file_name(c),
                svg::chart(&chart::ChartData::of(report, c)),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakgate_heap::{HolderGrowth, PathStep, RetentionPath, Root};

    fn held(step: Option<usize>, first: Option<u64>) -> GroupGrowth {
        let path = RetentionPath {
            root: Root::static_field("Leak", "Keep"),
            steps: vec![
                PathStep::new("Cache", None),
                PathStep::new("List<Byte[]>", Some("entries")),
                PathStep::new("Byte[][]", Some("_items")),
                PathStep::new("Byte[]", None),
            ],
        };
        GroupGrowth {
            example_address: Some(0x10),
            holder: Some(HolderGrowth {
                type_name: "List<Byte[]>".into(),
                step,
                address: 0x20,
                retained_first: first,
                retained_last: 6_400_000,
                objects_first: first.map(|_| 12),
                objects_last: 1536,
                holders: 1,
            }),
            ..GroupGrowth::new(path, 10, 400)
        }
    }

    #[test]
    fn a_finding_has_a_holder_when_its_members_share_one() {
        let verdict = crate::judge::judge(
            &[],
            &[],
            &leakgate_scenario::TypeFilter::none(),
            &crate::judge::JudgeOptions::default(),
        );
        let mut report = RunReport::judged(RunInfo::new("x"), vec![], verdict, None);
        let counts = leakgate_heap::SnapshotCounts {
            instances: 0,
            unreachable: 0,
            sampled: 0,
        };
        let grew = |t: &str| PathGrowth {
            type_name: t.into(),
            first: counts,
            last: counts,
            growth: 390,
            groups: vec![held(Some(1), Some(10))],
        };
        report.retention = vec![grew("Byte[]"), grew("Cache")];
        let finding = crate::findings::Finding {
            holder: held(None, None).path,
            members: vec!["Byte[]".into(), "Cache".into()],
        };
        let holder = finding_holder(&report, &finding).and_then(holder_text);
        assert!(holder.is_some_and(|h| {
            h.plain()
                .starts_with("held by List<Byte[]> (Cache.entries)")
        }),);
        // Two holders: no single object keeps the finding alive.
        report.retention[1].groups[0]
            .holder
            .as_mut()
            .unwrap()
            .address = 0x99;
        assert!(finding_holder(&report, &finding).is_none());
    }

    #[test]
    fn the_holder_line_says_where_it_sits_and_what_it_retains() {
        let line = |g: &GroupGrowth| holder_text(g).unwrap().plain();
        assert_eq!(
            line(&held(Some(1), Some(2_000_000))),
            "held by List<Byte[]> (Cache.entries), which retains 6.1 MiB \
             (+4.2 MiB since the first judged sample; 1,536 objects)"
        );
        assert_eq!(
            line(&held(Some(0), None)),
            "held by List<Byte[]> (static Leak.Keep), which retains 6.1 MiB (1,536 objects)"
        );
        assert_eq!(
            line(&held(Some(3), None)),
            "held by List<Byte[]> (in Byte[][]), which retains 6.1 MiB (1,536 objects)"
        );
        assert_eq!(
            line(&held(None, None)),
            "held by List<Byte[]>, which retains 6.1 MiB (1,536 objects)"
        );
        // A list in a thread static on each of four threads.
        let mut per_thread = held(Some(0), None);
        per_thread.holder.as_mut().unwrap().holders = 4;
        assert_eq!(
            line(&per_thread),
            "held by 4 × List<Byte[]> (static Leak.Keep), which retain 6.1 MiB in all \
             (1,536 objects)"
        );
        let mut none = held(None, None);
        none.holder = None;
        assert!(holder_text(&none).is_none());
    }
}
