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
//! (the metric minus `committed.gc`) grows too, which is judged as usual.
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

use leakgate_scenario::budget::{Budget, Growth, Metric, Quantity, SlopeUnit, TrendMode, Unit};
use leakgate_scenario::{BudgetRule, TypeFilter};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::growth::{
    TrendAssessment, TrendReason, assess_trend, assess_trend_with_floor, assess_trend_with_live,
    noise_floor,
};
use crate::series::{self, SampleMetrics, Series, SeriesKey};
use crate::trend;
use crate::units::{human, human_signed, p_value};

/// Metrics that hold the GC heap, judged with the live heap when it is known.
pub(crate) fn holds_gc_heap(metric: Metric) -> bool {
    matches!(
        metric,
        Metric::CommittedUnknown | Metric::CommittedGc | Metric::CommittedTotal | Metric::Resident
    )
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

/// The trend rule for one series, with the live heap where it applies.
pub(crate) fn assess_series(
    judged: &[SampleMetrics],
    s: &Series,
    alpha: f64,
    live_heap: Option<Metric>,
) -> TrendAssessment {
    let values = s.values();
    let plain = || assess_trend(&values, s.unit, alpha);
    let live = match live_heap {
        Some(m) if holds_gc_heap(s.metric) && s.type_name.is_none() => aligned_values(judged, m, s),
        _ => None,
    };
    let Some(live) = live else {
        return plain();
    };
    let with_live = assess_trend_with_live(&values, &live, s.unit, alpha);
    if with_live.reason != TrendReason::GcSizing || s.metric == Metric::CommittedGc {
        return with_live;
    }
    // The GC's sizing explains the GC heap only: what lies outside it must
    // not grow, by the whole metric's noise floor.
    let outside_grows = match aligned_values(judged, Metric::CommittedGc, s) {
        Some(gc) => {
            let outside: Vec<f64> = values.iter().zip(&gc).map(|(v, g)| v - g).collect();
            assess_trend_with_floor(&outside, with_live.noise_floor, alpha).growing
        }
        None => true, // cannot tell the GC heap from the rest: judge the whole
    };
    if outside_grows { plain() } else { with_live }
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
    /// Sen's (1 − alpha) interval of the per-minute slope.
    pub theil_sen_ci_per_min: Option<[f64; 2]>,
    pub grew_every_sample: bool,
    /// The trend rule (see module docs) says it grows.
    pub trend_growing: bool,
    /// Why the trend rule says what it says.
    pub trend_reason: TrendReason,
    pub status: Status,
    /// Why the status is what it is, with numbers.
    pub reasons: Vec<String>,
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
            }
        }
        for s in all {
            let a = assess_series(judged, &s, options.alpha, options.live_heap);
            let c = check(i, budget, &s, &a, weak_evidence, options);
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
    }
}

fn growing(
    judged: &[SampleMetrics],
    ignore: &TypeFilter,
    weak: bool,
    options: &JudgeOptions,
) -> Vec<Growing> {
    let mut all: Vec<Series> = Metric::ALL
        .into_iter()
        .filter(|m| !m.is_per_type())
        .filter_map(|m| series::scalar(judged, m))
        .collect();
    all.extend(series_for(judged, Metric::Finalizable, &|_| true, ignore));
    all.into_iter()
        .filter_map(|s| {
            let v = s.values();
            let a = assess_series(judged, &s, options.alpha, options.live_heap);
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
        })
        .collect()
}

fn check(
    i: usize,
    budget: &Budget,
    s: &Series,
    a: &TrendAssessment,
    weak: bool,
    options: &JudgeOptions,
) -> Check {
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
    let h = |x: f64| human(x, unit);
    let grew = format!(
        "grew {} → {} ({}) over {n} samples",
        h(first),
        h(last),
        human_signed(growth, unit)
    );

    let mut status = Status::Pass;
    let mut reasons = Vec::new();
    // Whether a reason already says how much it grew (a max_growth failure).
    let mut growth_stated = false;
    fn fail(st: Status, r: String, status: &mut Status, reasons: &mut Vec<String>) {
        *status = (*status).max(st);
        reasons.push(r);
    }

    if let Some(max) = budget.max {
        let lim = max.value() as f64;
        if last > lim {
            fail(
                Status::Fail,
                format!("last value {} is above max {}", h(last), h(lim)),
                &mut status,
                &mut reasons,
            );
        }
    }
    match budget.max_growth {
        Some(Growth::Quantity(q)) => {
            let lim = q.value() as f64;
            if growth > lim {
                growth_stated = true;
                fail(
                    Status::Fail,
                    format!("{grew}, above max_growth {}", h(lim)),
                    &mut status,
                    &mut reasons,
                );
            }
        }
        Some(Growth::Percent(p)) => {
            let pct = growth_pct.unwrap_or(if growth > 0.0 { f64::INFINITY } else { 0.0 });
            if pct > p {
                growth_stated = true;
                let shown = if pct.is_finite() {
                    format!("{pct:.1}%")
                } else {
                    "from zero".into()
                };
                fail(
                    Status::Fail,
                    format!("{grew}, {shown}, above max_growth {p}%"),
                    &mut status,
                    &mut reasons,
                );
            }
        }
        None => {}
    }
    if let Some(limit) = budget.max_slope {
        let (fit, per, x_axis) = match limit.per {
            SlopeUnit::Minute => (per_min, "min", "elapsed time"),
            SlopeUnit::ThousandRequests => (per_1k, "1k requests", "the request count"),
        };
        let lim = match limit.amount {
            Quantity::Bytes(b) | Quantity::Count(b) => b as f64,
        };
        match fit {
            Some(t) if t.slope > lim => fail(
                Status::Fail,
                format!(
                    "slope {}/{per} (Theil–Sen) is above max_slope {}/{per}",
                    h(t.slope),
                    h(lim)
                ),
                &mut status,
                &mut reasons,
            ),
            Some(_) => {}
            None => fail(
                Status::Warn,
                if n < 2 {
                    format!("cannot judge max_slope per {per}: it needs at least 2 samples")
                } else {
                    format!(
                        "cannot judge max_slope per {per}: {x_axis} did not change between samples"
                    )
                },
                &mut status,
                &mut reasons,
            ),
        }
    }
    if budget.trend != TrendMode::Off && a.growing {
        let lead = if growth_stated {
            "it keeps growing".to_string()
        } else {
            grew.clone()
        };
        let msg = match (&a.live, a.reason) {
            (Some(live), TrendReason::LiveGrowing) => format!(
                "{lead}: the live managed heap keeps growing (Mann–Kendall p = {}, Theil–Sen {}/sample); committed memory follows it",
                p_value(live.mk.p_increasing),
                human_signed(live.slope_per_sample, unit)
            ),
            _ => format!(
                "{lead}: a significant upward trend (Mann–Kendall p = {}, Theil–Sen {}/sample, {})",
                p_value(a.mk.p_increasing),
                human_signed(a.slope_per_sample, unit),
                a.reason.describe()
            ),
        };
        if weak {
            reasons.push(format!(
                "{msg}; not judged: only {n} samples (weak evidence)"
            ));
        } else {
            let st = if budget.trend == TrendMode::Fail {
                Status::Fail
            } else {
                Status::Warn
            };
            fail(st, msg, &mut status, &mut reasons);
        }
    }
    if reasons.is_empty() {
        let p = p_value(a.mk.p_increasing);
        let trend = match a.reason {
            _ if budget.trend == TrendMode::Off => String::new(),
            TrendReason::BelowNoiseFloor => {
                format!(
                    "; rise below the noise floor {} (p = {p})",
                    h(a.noise_floor)
                )
            }
            TrendReason::FlatAfterStep => format!("; it rose, then stopped rising (p = {p})"),
            TrendReason::GcSizing => format!(
                "; the GC sizing its budget: committed memory rose (p = {p}) while the live heap stayed flat (p = {})",
                a.live
                    .as_ref()
                    .map_or("n/a".into(), |l| p_value(l.mk.p_increasing))
            ),
            _ => format!("; no significant upward trend (p = {p})"),
        };
        reasons.push(format!("{grew}{trend}"));
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
        theil_sen_ci_per_min: per_min.map(|t| t.ci),
        grew_every_sample: every,
        trend_growing: a.growing,
        trend_reason: a.reason,
        status,
        reasons,
        limits: ValueLimits::of(budget, first),
    }
}
