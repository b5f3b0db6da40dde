//! Budgets applied to samples: the pass/warn/fail decision.
//!
//! For every budget, each matching series (one per type for per-type
//! metrics) becomes a [`Check`] with the numbers and the reasons. Limits
//! (`max`, `max_growth`, `max_slope`) always apply; the trend rule needs at
//! least `min_samples` samples after warmup.
//!
//! # The trend rule
//! A series *grows* when Mann–Kendall finds a significant rise (exact
//! p < `alpha` for small series), the fitted growth reaches the noise
//! floor (counts max(8, 2% of the first value), bytes max(1 MiB, 1%)), and
//! the rise is sustained — a line, or a staircase that keeps stepping —
//! rather than stopped — one step, a ramp that levels off, a sawtooth.
//! The rule, its shapes and its measured rates are in [`crate::growth`];
//! each [`Check`] carries its typed [`TrendReason`].
//!
//! Committed memory that holds the GC heap (`committed.unknown`,
//! `committed.gc`, `committed.total`, `resident`) is judged together with
//! the live managed bytes when [`JudgeOptions::live_heap`] names their
//! metric: a live heap that keeps growing is growth whatever steps the GC
//! takes; committed memory growing while the live heap stays flat is the
//! GC sizing its budget — unless the memory outside the GC heap
//! (the metric minus `committed.gc`) grows too: the runtime's own heaps
//! against their warm-up allowance, the rest against the growth that
//! matters ([`native_parts`]).
//!
//! ```
//! use std::collections::BTreeMap;
//! use leakgate_gate::judge::{judge, JudgeOptions, Status};
//! use leakgate_gate::series::SampleMetrics;
//! use leakgate_scenario::{BudgetRule, TypeFilter, budget::Budget};
//!
//! let samples: Vec<SampleMetrics> = (0..8)
//!     .map(|i| SampleMetrics {
//!         index: i,
//!         elapsed_secs: 30.0 * i as f64,
//!         requests: 500 * i as u64,
//!         finalizable: BTreeMap::from([("Leaky".to_string(), 100 * i as u64)]),
//!         ..Default::default()
//!     })
//!     .collect();
//! let budget: Budget = serde_saphyr::from_str("metric: finalizable\n").unwrap();
//! let budgets = [BudgetRule::new(budget, 1, 1).unwrap()];
//! let v = judge(&samples, &budgets, &TypeFilter::none(), &JudgeOptions::default());
//! assert_eq!(v.status, Status::Fail);
//! assert_eq!(v.checks[0].type_name.as_deref(), Some("Leaky"));
//! ```

use leakgate_scenario::budget::{
    Budget, Growth, Materiality, Metric, Quantity, Slope, SlopeUnit, TrendMode, Unit,
};
use leakgate_scenario::{BudgetRule, TypeFilter};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::family;
pub use crate::growth::{
    TrendAssessment, TrendReason, assess_trend, assess_trend_with_floor, assess_trend_with_live,
    min_growth,
};
pub use crate::reason::{
    Breach, Grew, GrowthLimit, Movement, Quiet, Reason, Traced, TracedMember, TrendEvidence,
    TrendOf, WithoutFree,
};
use crate::series::{self, SampleMetrics, Series, SeriesKey};
use crate::trend;
use crate::units::human;

/// The growth that matters for one series: a rate of growth (the budget's
/// `materiality`, else the scenario's) times the load between its first
/// and last judged sample — thousands of requests, or minutes when the
/// rate is per minute or the run counted no requests — and at least
/// [`min_growth`]. The trend rule's floor is this or six times the
/// series' own scatter, whichever is larger.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, JsonSchema)]
pub struct Floor {
    /// The rate that matters, in the series' unit per `per`.
    pub rate: f64,
    pub per: SlopeUnit,
    /// The load the series spans, in `per` (thousands of requests or minutes).
    pub load: f64,
    /// max(rate × load, [`min_growth`]).
    pub growth: f64,
    /// For the runtime's own heaps within memory outside the GC heap, or
    /// for all of it where they cannot be told apart ([`native_parts`]):
    /// `growth`, but at least [`RUNTIME_WARMUP`]. 0 for a metric without
    /// native memory.
    #[serde(default)]
    pub native: f64,
}

/// Native memory the runtime commits for itself as a service warms up —
/// the JIT's code at each tier, stubs, type data in the loader heaps —
/// which a short run cannot tell from a leak by its slope alone. Measured
/// on the fixture service, on Linux where these heaps are told apart
/// (`runtime_heaps`): 420–550 KiB over the 24 s judged by the `slow-*`
/// scenarios (60 requests/s; the same with a CPU hog beside it), still
/// rising 4–170 KiB every 3 s and slowing, while all other native memory
/// stayed within 132 KiB. It grows with the code a load exercises, so
/// twice that. A bounded amount, not a rate: the longer the run, the less
/// it weighs against the materiality.
pub const RUNTIME_WARMUP: f64 = 1024.0 * 1024.0;

/// Metrics that hold native memory, the runtime's heaps among it ([`RUNTIME_WARMUP`]).
fn holds_native(metric: Metric) -> bool {
    matches!(
        metric,
        Metric::CommittedUnknown
            | Metric::CommittedNative
            | Metric::CommittedTotal
            | Metric::CommittedHeap
            | Metric::Resident
    )
}

impl Floor {
    /// The floor of `s` for a budget whose own materiality is `own`.
    pub fn of(s: &Series, own: Option<Slope>, scenario: &Materiality) -> Floor {
        let rate = own.unwrap_or_else(|| scenario.rate(s.unit));
        let span = |x: Vec<f64>| match (x.first(), x.last()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => 0.0,
        };
        let amount = rate.amount.value() as f64;
        let requests = span(s.kilo_requests());
        let (rate, per, load) = match rate.per {
            SlopeUnit::ThousandRequests if requests > 0.0 => {
                (amount, SlopeUnit::ThousandRequests, requests)
            }
            // No requests counted (an external load tool): the per-minute default.
            SlopeUnit::ThousandRequests => (
                Materiality::per_minute_fallback(s.unit),
                SlopeUnit::Minute,
                span(s.minutes()),
            ),
            SlopeUnit::Minute => (amount, SlopeUnit::Minute, span(s.minutes())),
        };
        let growth = (rate * load).max(min_growth(s.unit));
        Floor {
            rate,
            per,
            load,
            growth,
            native: match holds_native(s.metric) {
                true => growth.max(RUNTIME_WARMUP),
                false => 0.0,
            },
        }
    }

    /// The growth per sample that matters, for a series of `n` samples
    /// spread evenly over the same load.
    pub fn per_sample(&self, n: usize) -> f64 {
        self.rate * self.load / n.saturating_sub(1).max(1) as f64
    }

    /// "64 KiB/1k requests × 1.3k requests", for reasons.
    pub fn describe(&self, unit: Unit) -> String {
        match self.per {
            SlopeUnit::ThousandRequests => format!(
                "{}/1k requests × {:.1}k requests",
                human(self.rate, unit),
                self.load
            ),
            SlopeUnit::Minute => format!("{}/min × {:.1} min", human(self.rate, unit), self.load),
        }
    }
}

/// The values of `metric` at the sample indices of `s` (NaN where missing).
pub(crate) fn aligned_values(
    judged: &[SampleMetrics],
    metric: Metric,
    s: &Series,
) -> Option<Vec<f64>> {
    let other = series::scalar(judged, metric)?;
    Some(
        s.points
            .iter()
            .map(|p| {
                other
                    .points
                    .iter()
                    .find(|o| o.index == p.index)
                    .map_or(f64::NAN, |o| o.value)
            })
            .collect(),
    )
}

/// The trend rule for one series against `floor`, with the live heap where it applies.
pub(crate) fn assess_series(
    judged: &[SampleMetrics],
    s: &Series,
    floor: &Floor,
    alpha: f64,
    live_heap: Option<Metric>,
) -> TrendAssessment {
    let values = s.values();
    if s.metric == Metric::CommittedNative {
        let (part, mut a) = assess_native(judged, s, values, floor, alpha);
        if part == NativePart::RuntimeHeaps && a.growing {
            a.reason = TrendReason::RuntimeHeapsGrowing;
        }
        return a;
    }
    let plain = || assess_trend_with_floor(&values, floor.growth.max(floor.native), alpha);
    let live = match live_heap {
        Some(m) if s.metric.holds_gc_heap() && s.type_name.is_none() => {
            aligned_values(judged, m, s)
        }
        _ => None,
    };
    let Some(live) = live else {
        return plain();
    };
    let with_live = assess_trend_with_live(&values, &live, floor.growth, alpha);
    if with_live.reason == TrendReason::LiveGrowing || s.metric == Metric::CommittedGc {
        return with_live;
    }
    // The live heap does not grow. What lies outside the GC heap (native
    // memory) must not grow either: judged apart, free of the GC's steps
    // and sizing, against the floor of native memory. What is left, the GC
    // heap growing while its live objects do not, is the GC's sizing.
    let Some(gc) = aligned_values(judged, Metric::CommittedGc, s) else {
        // Cannot tell the GC heap from the rest: sizing is no excuse.
        return match with_live.reason {
            TrendReason::GcSizing => plain(),
            _ => with_live,
        };
    };
    let outside: Vec<f64> = values.iter().zip(&gc).map(|(v, g)| v - g).collect();
    let (part, native) = assess_native(judged, s, outside, floor, alpha);
    let evidence = Some(crate::growth::LiveEvidence::of(&native));
    // A verdict on the native part shows the native part's numbers.
    let on_native = |reason: TrendReason| TrendAssessment {
        reason,
        growing: reason.is_growth(),
        significant: native.significant,
        mk: native.mk,
        slope_per_sample: native.slope_per_sample,
        fitted_growth: native.fitted_growth,
        noise_floor: native.noise_floor,
        shape: native.shape,
        native: evidence.clone(),
        ..with_live.clone()
    };
    match native.reason {
        TrendReason::Growing | TrendReason::Stepping if part == NativePart::RuntimeHeaps => {
            on_native(TrendReason::RuntimeHeapsGrowing)
        }
        TrendReason::Growing | TrendReason::Stepping => on_native(TrendReason::NativeGrowing),
        // Rising, but not by native memory's floor yet: more samples may tell.
        TrendReason::BelowNoiseFloor => on_native(TrendReason::BelowNoiseFloor),
        _ if with_live.growing => TrendAssessment {
            reason: TrendReason::GcSizing,
            growing: false,
            native: evidence,
            ..with_live
        },
        _ => TrendAssessment {
            native: evidence,
            ..with_live
        },
    }
}

/// Memory outside the GC heap, in the parts judged apart: the runtime's
/// own heaps (JIT'd code, stubs, loader heaps), which grow as a service
/// warms up, against the warm-up allowance ([`Floor::native`]); the rest
/// (what native code allocates) against the growth that matters. Each
/// part has its `values` aligned with the series' samples. Where the
/// runtime's heaps cannot be told apart in every sample, or the series
/// holds more than native memory (stacks and images: `committed.total`),
/// the whole is one part, against the allowance.
pub(crate) fn native_parts(
    judged: &[SampleMetrics],
    s: &Series,
    outside: Vec<f64>,
    floor: &Floor,
) -> Vec<(NativePart, Vec<f64>, f64)> {
    let runtime: Option<Vec<f64>> =
        matches!(s.metric, Metric::CommittedUnknown | Metric::CommittedNative)
            .then(|| {
                s.points
                    .iter()
                    .map(|p| judged.iter().find(|m| m.index == p.index)?.runtime_heaps)
                    .collect()
            })
            .flatten();
    match runtime {
        Some(runtime) => {
            let rest = outside.iter().zip(&runtime).map(|(o, r)| o - r).collect();
            vec![
                (NativePart::RuntimeHeaps, runtime, floor.native),
                (NativePart::Rest, rest, floor.growth),
            ]
        }
        None => vec![(NativePart::All, outside, floor.native)],
    }
}

/// A part of the memory outside the GC heap ([`native_parts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NativePart {
    /// The runtime's own heaps: JIT'd code, stubs, loader heaps.
    RuntimeHeaps,
    /// Native memory outside them.
    Rest,
    /// All of it, the runtime's heaps not told apart.
    All,
}

/// The trend rule over memory outside the GC heap ([`native_parts`]): the
/// part that grows, else one that rises below its floor (more samples may
/// tell), else the runtime's heaps (or the whole).
fn assess_native(
    judged: &[SampleMetrics],
    s: &Series,
    outside: Vec<f64>,
    floor: &Floor,
    alpha: f64,
) -> (NativePart, TrendAssessment) {
    let mut parts: Vec<(NativePart, TrendAssessment)> = native_parts(judged, s, outside, floor)
        .into_iter()
        .map(|(part, values, floor)| (part, assess_trend_with_floor(&values, floor, alpha)))
        .collect();
    let pick = parts
        .iter()
        .position(|(_, a)| a.growing)
        .or_else(|| {
            parts
                .iter()
                .position(|(_, a)| a.reason == TrendReason::BelowNoiseFloor)
        })
        .unwrap_or(0);
    parts.swap_remove(pick)
}

/// One series of a budget, judged: its floor, its trend, and for a
/// per-type budget its p-value adjusted over the budget's family.
#[derive(Clone, Debug)]
pub(crate) struct Judged {
    pub series: Series,
    pub floor: Floor,
    pub trend: TrendAssessment,
    pub p_adjusted: Option<f64>,
    pub family_size: Option<usize>,
}

/// The trend rule over a budget's series at level `alpha`, each against
/// its floor (`own` materiality, else the scenario's). Per-type series
/// are one family: a rise is significant only when its p-value, adjusted
/// over the series that moved by their floor, is below `alpha`
/// ([`crate::family`]).
pub(crate) fn assess_all(
    judged: &[SampleMetrics],
    series: Vec<Series>,
    own: Option<Slope>,
    options: &JudgeOptions,
    alpha: f64,
) -> Vec<Judged> {
    let mut all: Vec<Judged> = series
        .into_iter()
        .map(|s| {
            let floor = Floor::of(&s, own, &options.materiality);
            let trend = assess_series(judged, &s, &floor, alpha, options.live_heap);
            Judged {
                series: s,
                floor,
                trend,
                p_adjusted: None,
                family_size: None,
            }
        })
        .collect();
    if all.iter().any(|j| j.series.type_name.is_none()) {
        return all;
    }
    let tested: Vec<Option<f64>> = all
        .iter()
        .map(|j| {
            family::may_matter(&j.series.values(), min_growth(j.series.unit))
                .then_some(j.trend.mk.p_increasing)
        })
        .collect();
    let size = tested.iter().flatten().count();
    for (j, adjusted) in all.iter_mut().zip(family::holm(&tested)) {
        j.p_adjusted = adjusted;
        j.family_size = Some(size);
        if j.trend.significant && adjusted.is_none_or(|p| p >= alpha) {
            j.trend.significant = false;
            j.trend.reason = TrendReason::NotSignificant;
            j.trend.growing = false;
            j.trend.shape = None;
        }
    }
    all
}

/// How the judge reads the samples.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct JudgeOptions {
    /// Samples dropped from the start (JIT, pools and caches warming up).
    pub warmup_samples: usize,
    /// Significance level of the trend test.
    pub alpha: f64,
    /// Fewer judged samples than this is weak evidence: trends can't fail.
    pub min_samples: usize,
    /// The scalar metric holding the live managed bytes after the induced
    /// GC (`gc.live`), judged with committed memory that holds the GC heap
    /// (see the module docs). `None`: every series is judged alone.
    #[serde(default = "live_heap_default")]
    pub live_heap: Option<Metric>,
    /// The rates of growth that matter (the scenario's `materiality`),
    /// unless a budget sets its own.
    #[serde(default)]
    pub materiality: Materiality,
}

impl Default for JudgeOptions {
    /// warmup 1 (the first sample after readiness is rarely steady),
    /// alpha 0.05, min_samples 4 (the smallest n where a clean rise is
    /// significant: n=4 all rising gives p = 0.045), the live heap from
    /// `gc.live` (used where the samples have it).
    fn default() -> Self {
        JudgeOptions {
            warmup_samples: 1,
            alpha: 0.05,
            min_samples: 4,
            live_heap: live_heap_default(),
            materiality: Materiality::default(),
        }
    }
}

fn live_heap_default() -> Option<Metric> {
    Some(Metric::GcLive)
}

/// Ordered so that `max` is the worse of two.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        })
    }
}

/// The decision over all budgets.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct Verdict {
    pub status: Status,
    pub checks: Vec<Check>,
    /// Too few samples after warmup for the trend test.
    pub weak_evidence: bool,
    /// The index (into the run's samples) of the first judged sample: the
    /// warm-up samples come before it.
    #[serde(default)]
    pub judged_from: usize,
    /// Series that grow by the trend rule whether or not a budget covers
    /// them: every scalar metric and every finalizable type (minus ignore).
    /// The snapshot records these.
    pub growing: Vec<Growing>,
    pub notes: Vec<String>,
    /// Nothing to judge, or a budget's metric measured in no sample: the verdict warns at
    /// least, whatever its checks say.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unmeasured: bool,
}

impl Check {
    /// The type this check flags: a per-type check (not a finding's) that fails or warns.
    pub fn flagged_type(&self) -> Option<&str> {
        (self.status != Status::Pass && self.members.is_empty())
            .then_some(self.type_name.as_deref())
            .flatten()
    }
}

/// One budget applied to one series.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct Check {
    pub budget_index: usize,
    /// The budget's `name`, or its metric and pattern.
    pub budget: String,
    pub metric: Metric,
    pub type_name: Option<String>,
    pub unit: Unit,
    /// Judged samples (after warmup).
    pub samples: usize,
    pub first: f64,
    pub last: f64,
    pub growth: f64,
    /// Growth in percent of `first`; `None` when first is 0.
    pub growth_pct: Option<f64>,
    /// Theil–Sen slope over elapsed minutes.
    pub slope_per_min: Option<f64>,
    /// Theil–Sen slope over thousands of requests.
    pub slope_per_1k_requests: Option<f64>,
    /// Mann–Kendall one-sided p for an upward trend.
    pub mk_p_value: Option<f64>,
    /// For a per-type budget, `mk_p_value` adjusted over the budget's
    /// family of types (Holm, [`crate::family`]): the trend
    /// is significant when this is below α. `None` for a scalar metric,
    /// or a type that never moved by `floor` and so was not tested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mk_p_adjusted: Option<f64>,
    /// How many series the budget's family tested (per-type budgets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_size: Option<usize>,
    /// The growth that matters for this series (materiality × load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<Floor>,
    /// The trend rule's floor: `floor`'s growth or six times the series'
    /// own scatter, whichever is larger.
    #[serde(default)]
    pub noise_floor: f64,
    /// For a finding ([`crate::findings`]): the types whose bytes this
    /// check sums, grown together through one holder (`type_name` names
    /// the holder).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Sen's (1 − alpha) interval of the per-minute slope.
    pub theil_sen_ci_per_min: Option<[f64; 2]>,
    pub grew_every_sample: bool,
    /// The trend rule (see module docs) says it grows.
    pub trend_growing: bool,
    /// Why the trend rule says what it says.
    pub trend_reason: TrendReason,
    pub status: Status,
    /// Why the status is what it is, with numbers.
    // Typed ([`Reason`]); the JSON holds their words.
    #[schemars(with = "Vec<String>")]
    pub reasons: Vec<Reason>,
    /// The budget's limits on the value itself, for charts.
    #[serde(default)]
    pub limits: ValueLimits,
}

/// Where a budget's limits put the value, in the check's unit: the lines a
/// chart draws. Slope and trend limits have no such line.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Default, JsonSchema)]
pub struct ValueLimits {
    /// `max`: the last value may not exceed it.
    pub max: Option<f64>,
    /// `max_growth` as a value: the first judged value plus the growth allowed.
    pub growth_ceiling: Option<f64>,
}

impl ValueLimits {
    fn of(budget: &Budget, first: f64) -> ValueLimits {
        ValueLimits {
            max: budget.max.map(|q| q.value() as f64),
            growth_ceiling: budget.max_growth.map(|g| match g {
                Growth::Quantity(q) => first + q.value() as f64,
                Growth::Percent(p) => first + first.abs() * p / 100.0,
            }),
        }
    }
}

impl Check {
    /// Each reason in words (their one wording, [`Reason`]'s `Display`).
    pub fn reason_texts(&self) -> Vec<String> {
        self.reasons.iter().map(Reason::to_string).collect()
    }

    /// The reasons in words, joined by `; `.
    pub fn reasons_text(&self) -> String {
        self.reason_texts().join("; ")
    }

    /// The check's series over `samples` (every sample of the run for a
    /// chart, the judged ones to judge): its type's, the sum of its
    /// members' for a finding, or the scalar metric (empty if unmeasured).
    pub fn series(&self, samples: &[SampleMetrics]) -> Series {
        match &self.type_name {
            Some(label) if !self.members.is_empty() => {
                series::summed(samples, self.metric, &self.members, label)
            }
            Some(t) => series::per_type(samples, self.metric, t),
            None => series::scalar(samples, self.metric).unwrap_or(Series {
                metric: self.metric,
                type_name: None,
                unit: self.unit,
                points: vec![],
            }),
        }
    }

    /// The series judged: shown as `metric` or `metric type`.
    pub fn key(&self) -> SeriesKey {
        SeriesKey {
            metric: self.metric,
            type_name: self.type_name.clone(),
        }
    }
}

/// A series that grows, with its rates.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct Growing {
    pub metric: Metric,
    pub type_name: Option<String>,
    pub unit: Unit,
    pub growth: f64,
    pub slope_per_min: Option<f64>,
    pub slope_per_1k_requests: Option<f64>,
}

/// The series of `metric`: its scalar, or each type `covers` and `ignore` let through.
fn series_for(
    samples: &[SampleMetrics],
    metric: Metric,
    covers: &dyn Fn(&str) -> bool,
    ignore: &TypeFilter,
) -> Vec<Series> {
    if metric.is_per_type() {
        series::type_names(samples, metric)
            .into_iter()
            .filter(|t| covers(t) && !ignore.matches(t))
            .map(|t| series::per_type(samples, metric, &t))
            .collect()
    } else {
        series::scalar(samples, metric).into_iter().collect()
    }
}

fn slope_over(x: &[f64], y: &[f64], alpha: f64) -> Option<trend::TheilSen> {
    let varies = x.windows(2).any(|w| w[1] != w[0]);
    if varies {
        trend::theil_sen(x, y, alpha)
    } else {
        None
    }
}

/// Judged samples from which the trend test is reliable (measured: a 1 MiB/sample
/// leak under ±5% noise is caught ~99% of the time at 8, ~50% at 4).
pub const RELIABLE_SAMPLES: usize = 8;

/// Judges samples against budgets. Pure: same input, same verdict.
pub fn judge(
    samples: &[SampleMetrics],
    budgets: &[BudgetRule],
    ignore: &TypeFilter,
    options: &JudgeOptions,
) -> Verdict {
    let mut notes = Vec::new();
    let judged = samples.get(options.warmup_samples..).unwrap_or(&[]);
    if options.warmup_samples > 0 {
        notes.push(format!(
            "the first {} of {} samples were warmup and not judged",
            options.warmup_samples.min(samples.len()),
            samples.len()
        ));
    }
    let weak_evidence = judged.len() < options.min_samples;
    if weak_evidence {
        notes.push(format!(
            "weak evidence: {} samples after warmup, fewer than the {} the trend test needs; \
             trends cannot fail this run, limits still apply",
            judged.len(),
            options.min_samples
        ));
    }
    if !weak_evidence && judged.len() < RELIABLE_SAMPLES {
        notes.push(format!(
            "{} judged samples: the trend test catches a moderate leak only about half to three quarters \
             of the time with 4 to 6 samples; judge {RELIABLE_SAMPLES} or more (sampling.count) to rely on trends",
            judged.len()
        ));
    }
    let mut checks = Vec::new();
    let mut status = Status::Pass;
    let mut unmeasured_any = judged.is_empty();
    if judged.is_empty() {
        notes.push("no samples to judge".into());
        status = Status::Warn;
    }
    for (i, rule) in budgets.iter().enumerate() {
        if judged.is_empty() {
            break;
        }
        let budget = &rule.budget;
        let all = series_for(judged, budget.metric, &|t| rule.covers(t), ignore);
        if all.is_empty() {
            let what = if budget.metric.is_per_type() {
                format!("no type matching {:?} was seen", budget.types_pattern())
            } else {
                "the metric was not measured".to_string()
            };
            // A per-type metric with no data at all means managed analysis did not
            // run (no dump, or it failed): that must not pass silently.
            let unmeasured = match budget.metric.is_per_type() {
                true => judged
                    .iter()
                    .all(|s| s.per_type(budget.metric).is_none_or(|m| m.is_empty())),
                false => true,
            };
            let what = if unmeasured && budget.metric.is_per_type() {
                format!(
                    "no {} data in any sample (is managed analysis off, `dump: none`?)",
                    budget.metric
                )
            } else {
                what
            };
            notes.push(format!("budget {} ({}): {what}", i + 1, budget.label()));
            if unmeasured {
                status = status.max(Status::Warn);
                unmeasured_any = true;
            }
        }
        for j in assess_all(judged, all, budget.materiality, options, options.alpha) {
            let c = check(i, budget, judged, &j, weak_evidence, options);
            status = status.max(c.status);
            checks.push(c);
        }
    }
    let growing = growing(judged, ignore, weak_evidence, options);
    Verdict {
        status,
        checks,
        weak_evidence,
        judged_from: options.warmup_samples.min(samples.len()),
        growing,
        notes,
        unmeasured: unmeasured_any,
    }
}

/// Judges each finding's bytes — the sum of its members' `heap.bytes` at
/// each judged sample — by the trend rule of the first `heap.bytes` budget
/// that covers every member, as one more check of that budget
/// ([`crate::findings`]); the budget's limits are per type and do not apply
/// to a sum. The members were traced because they rose, so a test of their
/// sum is no evidence of its own: the sum grows when it rises by the
/// growth that matters and at least one member rises significantly in
/// the budget's family (its Holm-adjusted p below α), however little that
/// member grows alone. So a leak spread over types that each grow too
/// little to matter fails as one, and a family with no leak fails no more
/// often than Holm allows. A finding no such budget covers is reported,
/// not judged.
pub fn judge_findings(
    verdict: &mut Verdict,
    findings: &[crate::findings::Finding],
    samples: &[SampleMetrics],
    budgets: &[BudgetRule],
    options: &JudgeOptions,
) {
    let judged = samples.get(verdict.judged_from..).unwrap_or(&[]);
    for finding in findings {
        let covering = budgets.iter().enumerate().find(|(_, rule)| {
            rule.budget.metric == Metric::HeapBytes
                && finding.members.iter().all(|t| rule.covers(t))
        });
        let Some((i, rule)) = covering else {
            continue;
        };
        let s = series::summed(
            judged,
            Metric::HeapBytes,
            &finding.members,
            &finding.label(),
        );
        if s.points.len() < 2 {
            continue;
        }
        // The most significant member in the budget's family.
        let evidence = verdict
            .checks
            .iter()
            .filter(|c| c.budget_index == i && c.members.is_empty())
            .filter(|c| {
                c.type_name
                    .as_ref()
                    .is_some_and(|t| finding.members.contains(t))
            })
            .filter_map(|c| Some((c.mk_p_adjusted?, c.family_size, c.type_name.clone())))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let floor = Floor::of(&s, rule.budget.materiality, &options.materiality);
        let mut trend = assess_trend_with_floor(&s.values(), floor.growth, options.alpha);
        if trend.significant && evidence.as_ref().is_none_or(|e| e.0 >= options.alpha) {
            trend.significant = false;
            trend.reason = TrendReason::NotSignificant;
            trend.growing = false;
            trend.shape = None;
        }
        let together = Judged {
            series: s,
            floor,
            trend,
            p_adjusted: Some(evidence.as_ref().map_or(1.0, |e| e.0)),
            family_size: evidence.as_ref().and_then(|e| e.1),
        };
        let trend_only = Budget {
            max: None,
            max_growth: None,
            max_slope: None,
            ..rule.budget.clone()
        };
        let mut c = check(
            i,
            &trend_only,
            judged,
            &together,
            verdict.weak_evidence,
            options,
        );
        c.reasons.push(Reason::Traced(Traced {
            member: match &evidence {
                Some((p, size, Some(t))) => Some(TracedMember {
                    type_name: t.clone(),
                    p_adjusted: *p,
                    family_size: size.unwrap_or(0),
                }),
                _ => None,
            },
        }));
        c.members = finding.members.clone();
        verdict.status = verdict.status.max(c.status);
        verdict.checks.push(c);
    }
}

fn growing(
    judged: &[SampleMetrics],
    ignore: &TypeFilter,
    weak: bool,
    options: &JudgeOptions,
) -> Vec<Growing> {
    let all: Vec<Series> = Metric::ALL
        .into_iter()
        .filter(|m| !m.is_per_type())
        .filter_map(|m| series::scalar(judged, m))
        .collect();
    // Each series on its own, as the snapshot has always recorded them: what
    // grows is approved by a person, and a four-sample run could not show a
    // leak among several types moving at all.
    let types = series_for(judged, Metric::Finalizable, &|_| true, ignore);
    all.into_iter()
        .chain(types)
        .flat_map(|s| assess_all(judged, vec![s], None, options, options.alpha))
        .filter_map(
            |Judged {
                 series: s,
                 trend: a,
                 ..
             }| {
                let v = s.values();
                let grows = if weak {
                    v.len() >= 3 && trend::grew_every_sample(&v) && a.fitted_growth >= a.noise_floor
                } else {
                    a.growing
                };
                grows.then(|| Growing {
                    metric: s.metric,
                    type_name: s.type_name.clone(),
                    unit: s.unit,
                    growth: s.growth().unwrap_or(0.0),
                    slope_per_min: slope_over(&s.minutes(), &v, options.alpha).map(|t| t.slope),
                    slope_per_1k_requests: slope_over(&s.kilo_requests(), &v, options.alpha)
                        .map(|t| t.slope),
                })
            },
        )
        .collect()
}

/// The GC's free regions at the first and the last point of `s`, when
/// the runtime counted them at both.
fn gc_free(judged: &[SampleMetrics], s: &Series) -> Option<(f64, f64)> {
    let at = |p: Option<&series::Point>| {
        let p = p?;
        let m = judged.iter().find(|m| m.index == p.index)?;
        m.gc_committed.map(|g| g.free() as f64)
    };
    Some((at(s.points.first())?, at(s.points.last())?))
}

fn check(
    i: usize,
    budget: &Budget,
    judged: &[SampleMetrics],
    j: &Judged,
    weak: bool,
    options: &JudgeOptions,
) -> Check {
    let (s, a) = (&j.series, &j.trend);
    let unit = s.unit;
    let v = s.values();
    let n = v.len();
    let first = v[0];
    let last = v[n - 1];
    let growth = last - first;
    let growth_pct = (first != 0.0).then(|| growth / first.abs() * 100.0);
    let per_min = slope_over(&s.minutes(), &v, options.alpha);
    let per_1k = slope_over(&s.kilo_requests(), &v, options.alpha);
    let every = trend::grew_every_sample(&v);
    let grew = Grew {
        first,
        last,
        samples: n,
        unit,
    };

    let mut status = Status::Pass;
    let mut reasons = Vec::new();
    // Whether a reason already says how much it grew (a max_growth failure).
    let mut growth_stated = false;
    fn fail(st: Status, r: Breach, status: &mut Status, reasons: &mut Vec<Reason>) {
        *status = (*status).max(st);
        reasons.push(Reason::Breach(r));
    }

    // Limits on memory that holds the GC heap judge it without the free
    // regions the GC keeps committed (its sizing, not a leak), unless the
    // budget asks for the footprint itself.
    let free =
        gc_free(judged, s).filter(|_| s.metric.counts_gc_free_regions() && !budget.include_gc_free);
    let (first_l, last_l) = match &free {
        Some((f0, f1)) => (first - f0, last - f1),
        None => (first, last),
    };
    let growth_l = last_l - first_l;
    let without = free.map(|(free_first, free_last)| WithoutFree {
        free_first,
        free_last,
        first,
        last,
        unit,
    });
    if let Some(max) = budget.max {
        let lim = max.value() as f64;
        if last_l > lim {
            fail(
                Status::Fail,
                Breach::AboveMax {
                    last,
                    max: lim,
                    unit,
                    without,
                },
                &mut status,
                &mut reasons,
            );
        }
    }
    let growth_pct_l = (first_l != 0.0).then(|| growth_l / first_l.abs() * 100.0);
    match budget.max_growth {
        Some(Growth::Quantity(q)) => {
            let lim = q.value() as f64;
            if growth_l > lim {
                growth_stated = true;
                fail(
                    Status::Fail,
                    Breach::Growth {
                        grew,
                        limit: GrowthLimit::Amount(lim),
                        without,
                    },
                    &mut status,
                    &mut reasons,
                );
            }
        }
        Some(Growth::Percent(p)) => {
            let pct = growth_pct_l.unwrap_or(if growth_l > 0.0 { f64::INFINITY } else { 0.0 });
            if pct > p {
                growth_stated = true;
                fail(
                    Status::Fail,
                    Breach::Growth {
                        grew,
                        limit: GrowthLimit::Percent { pct, limit: p },
                        without,
                    },
                    &mut status,
                    &mut reasons,
                );
            }
        }
        None => {}
    }
    if let Some(limit) = budget.max_slope {
        let fit = match limit.per {
            SlopeUnit::Minute => per_min,
            SlopeUnit::ThousandRequests => per_1k,
        };
        let lim = match limit.amount {
            Quantity::Bytes(b) | Quantity::Count(b) => b as f64,
        };
        match fit {
            Some(t) if t.slope > lim => fail(
                Status::Fail,
                Breach::Slope {
                    slope: t.slope,
                    limit: lim,
                    per: limit.per,
                    unit,
                },
                &mut status,
                &mut reasons,
            ),
            Some(_) => {}
            None => fail(
                Status::Warn,
                Breach::SlopeUnjudged {
                    per: limit.per,
                    few_samples: n < 2,
                },
                &mut status,
                &mut reasons,
            ),
        }
    }
    if budget.trend != TrendMode::Off && a.growing {
        let evidence = |of, p, slope_per_sample| TrendEvidence {
            reason: a.reason,
            of,
            p,
            slope_per_sample,
            unit,
        };
        let evidence = match (&a.live, a.reason) {
            (Some(live), TrendReason::LiveGrowing) => {
                evidence(TrendOf::Live, live.mk.p_increasing, live.slope_per_sample)
            }
            // The assessment carries the native part's numbers (`assess_series`).
            (_, TrendReason::NativeGrowing) => {
                evidence(TrendOf::Native, a.mk.p_increasing, a.slope_per_sample)
            }
            (_, TrendReason::RuntimeHeapsGrowing) => {
                evidence(TrendOf::RuntimeHeaps, a.mk.p_increasing, a.slope_per_sample)
            }
            _ => evidence(TrendOf::Series, a.mk.p_increasing, a.slope_per_sample),
        };
        let msg = |weak: Option<usize>| Breach::Trend {
            grew: (!growth_stated).then_some(grew),
            evidence,
            weak,
        };
        if weak {
            reasons.push(Reason::Breach(msg(Some(n))));
        } else {
            let st = if budget.trend == TrendMode::Fail {
                Status::Fail
            } else {
                Status::Warn
            };
            fail(st, msg(None), &mut status, &mut reasons);
        }
    }
    if reasons.is_empty() {
        let p = a.mk.p_increasing;
        let quiet = match a.reason {
            _ if budget.trend == TrendMode::Off => Quiet::TrendOff,
            TrendReason::BelowNoiseFloor
                // The allowance itself was the floor: the runtime's heaps (or all
                // native memory) rose by less (not the rest of native memory,
                // held to the growth that matters, nor a wider scatter).
                if j.floor.native > j.floor.growth && a.noise_floor == j.floor.native =>
            {
                Quiet::NativeWarmUp {
                    p,
                    fitted_growth: a.fitted_growth,
                    native: j.floor.native,
                }
            }
            TrendReason::BelowNoiseFloor if a.noise_floor > j.floor.growth => Quiet::OwnScatter {
                p,
                noise_floor: a.noise_floor,
            },
            TrendReason::BelowNoiseFloor => Quiet::TooSlow {
                p,
                fitted_growth: a.fitted_growth,
                floor: j.floor,
            },
            TrendReason::NotSignificant if j.trend.mk.p_increasing < options.alpha => {
                match (j.p_adjusted, j.family_size) {
                    (_, None) => Quiet::NotSignificant { p },
                    (Some(adjusted), Some(family_size)) => Quiet::AmongMoved {
                        p,
                        family_size,
                        adjusted,
                    },
                    (None, Some(_)) => Quiet::NotTested { p, floor: j.floor },
                }
            }
            TrendReason::FlatAfterStep => Quiet::FlatAfterStep { p },
            TrendReason::GcSizing => Quiet::GcSizing {
                p,
                live_p: a.live.as_ref().map(|l| l.mk.p_increasing),
            },
            _ => Quiet::NotSignificant { p },
        };
        let limited = budget.max.is_some() || budget.max_growth.is_some();
        reasons.push(Reason::Moved(Movement {
            grew,
            quiet,
            without: without.filter(|_| limited),
        }));
    }
    Check {
        budget_index: i,
        budget: budget.label(),
        metric: s.metric,
        type_name: s.type_name.clone(),
        unit,
        samples: n,
        first,
        last,
        growth,
        growth_pct,
        slope_per_min: per_min.map(|t| t.slope),
        slope_per_1k_requests: per_1k.map(|t| t.slope),
        mk_p_value: (n >= 2).then_some(a.mk.p_increasing),
        mk_p_adjusted: j.p_adjusted,
        family_size: j.family_size,
        floor: Some(j.floor),
        noise_floor: a.noise_floor,
        members: Vec::new(),
        theil_sen_ci_per_min: per_min.map(|t| t.ci),
        grew_every_sample: every,
        trend_growing: a.growing,
        trend_reason: a.reason,
        status,
        reasons,
        // Judged without the free regions, a limit's line is where the whole
        // metric would have crossed it at the last sample.
        limits: match free {
            Some((f0, f1)) => {
                let l = ValueLimits::of(budget, first - f0);
                ValueLimits {
                    max: l.max.map(|m| m + f1),
                    growth_ceiling: l.growth_ceiling.map(|g| g + f1),
                }
            }
            None => ValueLimits::of(budget, first),
        },
    }
}
