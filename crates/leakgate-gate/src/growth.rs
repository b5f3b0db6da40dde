//! Does this series grow? The trend rule, for plain series and for
//! committed memory judged together with the live managed heap.
//!
//! ```
//! use leakgate_gate::growth::{assess_trend, assess_trend_with_live, TrendReason};
//! use leakgate_scenario::budget::Unit;
//! const MIB: f64 = 1048576.0;
//!
//! // Committed memory of a leaking service: the GC commits 4 MiB at a time.
//! let committed: Vec<f64> = [0, 0, 4, 4, 4, 4, 8, 8, 8, 8]
//!     .iter().map(|m| (100 + m) as f64 * MIB).collect();
//! assert_eq!(assess_trend(&committed, Unit::Bytes, 0.05).reason, TrendReason::Stepping);
//!
//! // One step, then flat: a pool or a cache made once.
//! let once: Vec<f64> = [0, 0, 0, 0, 0, 4, 4, 4, 4, 4]
//!     .iter().map(|m| (100 + m) as f64 * MIB).collect();
//! assert_eq!(assess_trend(&once, Unit::Bytes, 0.05).reason, TrendReason::FlatAfterStep);
//!
//! // The same step while the live heap grows 1 MiB per sample: a leak.
//! let live: Vec<f64> = (0..10).map(|i| (60 + i) as f64 * MIB).collect();
//! let a = assess_trend_with_live(&once, &live, MIB, 0.05);
//! assert_eq!(a.reason, TrendReason::LiveGrowing);
//! assert!(a.growing);
//!
//! // Committed memory climbing while the live heap stays flat: the GC sizing its budget.
//! let climbing: Vec<f64> = (0..10).map(|i| (400 + 9 * i) as f64 * MIB).collect();
//! let flat = vec![240.0 * MIB; 10];
//! assert_eq!(assess_trend_with_live(&climbing, &flat, MIB, 0.05).reason, TrendReason::GcSizing);
//! ```
//!
//! # The rule
//! A series of n values taken at evenly spaced samples *grows* when
//! 1. Mann–Kendall says it rises: one-sided p < α (exact p for n ≤ 60
//!    without ties) and the Theil–Sen slope is positive;
//! 2. the fitted growth, slope × (n − 1), reaches the floor: the growth
//!    that matters over this run — the judge's materiality (default
//!    64 KiB per 1,000 requests for bytes) times the load between the
//!    first and the last sample ([`crate::judge::Floor`]), at least
//!    [`min_growth`] — and [`NOISE_MULTIPLE`] times the series' own scatter
//!    from sample to sample ([`scatter`]): on memory that jumps ±1 MiB
//!    between samples a chance run of rising values is not a leak, while
//!    after an induced full GC most series are quiet to the byte and a
//!    growth linear in requests is itself the evidence;
//! 3. the rise is *sustained*, not *stopped*. Each shape below is fitted by
//!    least absolute deviations (medians, Theil–Sen slopes) and scored as
//!    a Laplace likelihood with the BIC penalty, n·ln(SAD/n) + p·ln(n) for
//!    p parameters, so that a more flexible shape must earn its place:
//!    - sustained: a **line** (p = 2) that is still rising at the end (over
//!      the later half, a third of the overall slope and S > 0); a
//!      **staircase** (p = 4) — equal steps every k samples at any phase,
//!      at least two of them inside the window, each one visible — which
//!      is how the GC commits a steady leak: a region or a commit chunk
//!      each time the live bytes outgrow the last; a **step on a steady
//!      rise** (p = 4; the rise on both sides significant and steady on
//!      its own);
//!    - stopped: **one step** anywhere (p = 3: a pool created, the GC moving
//!      its free band once); **two steps, then flat** (p = 5: a cache
//!      filled, then the band moved); a **ramp that levels off** (p = 3) and
//!      stays flat — by its median increment — for a third of the series,
//!      at least 3 samples (a cache filling, the GC growing its budget); a
//!      **sawtooth** (p = 4: committed memory given back every few samples).
//!
//!    The best sustained shape against the best stopped one:
//!    [`TrendReason::Growing`] (line, step on a rise) or
//!    [`TrendReason::Stepping`] (staircase) if it scores at least as well,
//!    else [`TrendReason::FlatAfterStep`].
//!
//! One step is never a trend by itself: from committed memory alone, a
//! leak the GC commits in steps larger than the run shows is
//! indistinguishable from a cache made once. The live heap tells them
//! apart, hence:
//!
//! # Committed memory with the live heap
//! [`assess_trend_with_live`] judges committed memory that contains the GC
//! heap together with the live managed bytes measured at the same samples
//! (after the induced full GC, where they are far less noisy than committed
//! memory and free of the GC's steps):
//! - the live bytes grow by the rule above (the same floor, their own
//!   far smaller scatter) →
//!   [`TrendReason::LiveGrowing`], growth, whatever steps the committed
//!   memory takes;
//! - else committed memory grows by the rule while the live bytes' fitted
//!   growth stays below the floor, or, rising not significantly, below a
//!   quarter of committed memory's → [`TrendReason::GcSizing`],
//!   not growth: the GC grew its budget or kept free memory committed
//!   while the live heap stayed flat;
//! - else committed memory grows while the live bytes rose once and
//!   stopped (one step or a ramp that levels off, [`flat_since`], flat for
//!   [`min_flat_tail`] samples) and committed minus live does not grow →
//!   [`TrendReason::FlatAfterStep`]:
//!   committed memory followed a cache that filled, and the GC moving its
//!   free band at the same time does not turn that into a leak;
//! - else the committed series' own reason.
//!
//! Memory outside the GC heap (a native leak) is not in the live bytes:
//! the judge grants [`TrendReason::GcSizing`] to a metric that also holds
//! native memory (`committed.unknown`, `committed.total`, `resident`) only
//! when that metric minus `committed.gc` does not grow (in parts where
//! they can be told apart, each against its own floor:
//! `judge::native_parts`).
//!
//! # Measured
//! Generated services (`testing::memory`: noise after an induced
//! GC of σ = 0.2% + 128 KiB on committed memory and 16 KiB + 0.01% on the
//! live heap, a 2 MiB + 1% free-space band the GC moves on 15% of samples; 1,000 requests between samples, so the default
//! materiality is 64 KiB per sample; 1,000 seeds; `cargo run --release -p
//! leakgate-gate --example power` prints the whole table), 8 judged
//! samples (`count: 9`):
//!
//! | | with the live heap | committed alone |
//! |---|---:|---:|
//! | leak 1 MiB/sample, 20 / 100 / 400 MiB base | 100 / 100 / 100% | 88 / 77 / 39% |
//! | the same leak committed in 2–8 MiB steps | 100 / 100 / 100% | 19 / 17 / 13% |
//! | slow leak 128 KiB/sample, 20 / 100 / 400 MiB | 100 / 100 / 99.9% | 19 / 5 / 2% |
//! | slow leak 256 KiB/sample, 20 / 100 / 400 MiB | 100 / 100 / 100% | 47 / 21 / 4% |
//! | flat, one step, cache fill, sawtooth, bursts | ≤ 0.6% | ≤ 1.1% |
//! | the GC sizing its budget (+23% over 10 samples), 20 / 400 MiB | 0.2 / 0.4% | 63 / 100% |
//! | the ±5% uniform model: flat, one step, cache fill, sawtooth | ≤ 0.6% | ≤ 0.4% |
//!
//! The measured failures this rule answers: a leak of ~1.2 MiB per
//! sample committed as "one step, then a plateau" that rose on every one
//! of 8 samples (+6.2 MiB) — now a step on a steady rise, and with the
//! live heap a leak whatever the steps; a 400 MiB heap whose committed
//! memory grew +93 MiB while its live bytes stayed flat — now the GC
//! sizing its budget; and leaks of 1–4 KiB per request that rose at every
//! sample by 0.5–1 MiB over a 30-second run and passed a fixed 1 MiB
//! floor — now judged per request. A cache still filling when the
//! samples end is indistinguishable from a leak; `warmup_samples` should
//! cover the fill.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use leakgate_scenario::budget::Unit;

use crate::trend::{self, MannKendall};

/// Why a series is, or is not, judged growing. Typed, so reports and
/// sampling decisions never parse text.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TrendReason {
    /// A steady rise that a line explains, still rising at the end.
    Growing,
    /// A staircase that keeps stepping: equal steps every few samples.
    Stepping,
    /// The live managed heap keeps growing; committed memory follows it,
    /// in steps or not.
    LiveGrowing,
    /// The live managed heap does not grow, but the memory outside the GC
    /// heap (native memory: committed minus the GC's) keeps growing.
    NativeGrowing,
    /// The runtime's own heaps (JIT'd code, stubs, loader heaps) keep
    /// growing beyond their warm-up (for committed memory judged with the
    /// live heap: while the live heap does not): code or types generated
    /// at run time are kept (a DynamicMethod, a compiled Regex or an
    /// XmlSerializer made per request, a dynamic assembly).
    RuntimeHeapsGrowing,
    /// It rose and stopped — one step, two, a ramp that levelled off, or a
    /// sawtooth that gives its memory back — rather than keep rising.
    FlatAfterStep,
    /// Committed memory grew while the live managed heap stayed flat: the
    /// GC sizing its budget, not a leak.
    GcSizing,
    /// A significant rise, smaller than the growth that matters (the
    /// materiality over the load, the series' own scatter, native memory's
    /// warm-up).
    BelowNoiseFloor,
    /// No significant upward trend.
    NotSignificant,
    /// Fewer than 3 finite values: nothing to judge.
    TooFewValues,
}

impl TrendReason {
    /// Whether this reason means the series grows.
    pub fn is_growth(self) -> bool {
        matches!(
            self,
            TrendReason::Growing
                | TrendReason::Stepping
                | TrendReason::LiveGrowing
                | TrendReason::NativeGrowing
                | TrendReason::RuntimeHeapsGrowing
        )
    }

    /// A short phrase for people: "keeps stepping", "the GC sizing its budget".
    pub fn describe(self) -> &'static str {
        match self {
            TrendReason::Growing => "still rising at the end",
            TrendReason::Stepping => "keeps stepping up",
            TrendReason::LiveGrowing => "the live managed heap keeps growing",
            TrendReason::NativeGrowing => "the memory outside the GC heap keeps growing",
            TrendReason::RuntimeHeapsGrowing => {
                "the runtime's own heaps (JIT'd code, loader heaps) keep growing"
            }
            TrendReason::FlatAfterStep => "rose, then stopped rising",
            TrendReason::GcSizing => {
                "the GC sizing its budget: committed memory grew, the live heap did not"
            }
            TrendReason::BelowNoiseFloor => "rising, but less than the growth that matters",
            TrendReason::NotSignificant => "no significant upward trend",
            TrendReason::TooFewValues => "too few values to judge",
        }
    }
}

impl std::fmt::Display for TrendReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// The shape that explains a rise best.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeFit {
    /// A straight line.
    Line,
    /// Steps of `step` every `period` samples.
    Staircase { period: usize, step: f64 },
    /// One step before sample `at`, then flat.
    Step { at: usize },
    /// A ramp up to sample `until`, flat after it.
    LevelsOff { until: usize },
    /// A steady rise with one step before sample `at` on it.
    StepOnRise { at: usize },
    /// A ramp that drops back every `period` samples.
    Sawtooth { period: usize },
    /// Two steps of any height, before samples `at`, then flat.
    TwoSteps { at: [usize; 2] },
}

impl ShapeFit {
    /// The sample from which a stopped shape is flat.
    pub fn flat_from(self) -> Option<usize> {
        match self {
            ShapeFit::Step { at } => Some(at),
            ShapeFit::LevelsOff { until } => Some(until),
            ShapeFit::TwoSteps { at } => Some(at[1]),
            ShapeFit::Line
            | ShapeFit::Staircase { .. }
            | ShapeFit::StepOnRise { .. }
            | ShapeFit::Sawtooth { .. } => None,
        }
    }
}

/// The live heap's side of [`assess_trend_with_live`].
#[derive(Clone, Debug, PartialEq)]
pub struct LiveEvidence {
    pub mk: MannKendall,
    pub slope_per_sample: f64,
    pub fitted_growth: f64,
    /// The rule applied to the live bytes alone (the same floor, their own scatter).
    pub reason: TrendReason,
    /// The shape of the live bytes' rise, when they rose significantly.
    pub shape: Option<ShapeFit>,
}

impl LiveEvidence {
    /// The evidence of one part's own assessment.
    pub fn of(a: &TrendAssessment) -> LiveEvidence {
        LiveEvidence {
            mk: a.mk,
            slope_per_sample: a.slope_per_sample,
            fitted_growth: a.fitted_growth,
            reason: a.reason,
            shape: a.shape,
        }
    }
}

/// The trend rule's inputs and outcome for one series.
#[derive(Clone, Debug, PartialEq)]
pub struct TrendAssessment {
    pub reason: TrendReason,
    /// `reason.is_growth()`.
    pub growing: bool,
    /// Condition 1: a significant upward trend (of the committed series,
    /// for [`assess_trend_with_live`]).
    pub significant: bool,
    pub mk: MannKendall,
    /// Theil–Sen slope per sample (x = position).
    pub slope_per_sample: f64,
    /// slope × (n − 1).
    pub fitted_growth: f64,
    pub noise_floor: f64,
    /// The best-fitting shape, when the series rose significantly above the floor.
    pub shape: Option<ShapeFit>,
    /// Finite values judged (non-finite ones are left out).
    pub values: usize,
    /// The live heap, when judged with it.
    pub live: Option<LiveEvidence>,
    /// The memory outside the GC heap, when judged apart ([`TrendReason::NativeGrowing`]).
    pub native: Option<LiveEvidence>,
}

/// The smallest growth that can count at all, whatever the load: a few
/// pages of allocator slack or of rounding (bytes: 64 KiB, 16 pages), a
/// handful of objects (counts: 4). The floor that matters is the load's —
/// growth per 1,000 requests against a materiality, applied by the judge
/// ([`crate::judge::Floor`]) — and the series' own scatter; this only
/// keeps a tiny series from growing by its rounding.
pub fn min_growth(unit: Unit) -> f64 {
    match unit {
        Unit::Count => 4.0,
        Unit::Bytes => 64.0 * 1024.0,
    }
}

/// How many times its own sample-to-sample scatter a series' fitted
/// growth must reach, besides the floor: on noisy memory a chance run of
/// rising samples fits a growth of about 1.5σ, a leak many times that.
pub const NOISE_MULTIPLE: f64 = 6.0;

/// The noise of a series, σ, estimated two ways, taking the lower:
/// from its increments (1.4826 × their median absolute deviation / √2)
/// and from its second differences yᵢ₊₁ − 2yᵢ + yᵢ₋₁ (1.4826 × their
/// median absolute value / √6). Both ignore a steady slope; each is fooled
/// by shapes the other sees through — increments split in two groups by a
/// leak that starts midway or a cache that stops filling, second
/// differences spiking at every step of a close staircase — so the lower
/// of the two stays at the noise. Only neighbouring samples are compared:
/// a missing (non-finite) value leaves out the differences across it.
pub fn scatter(y: &[f64]) -> f64 {
    const MAD_TO_SIGMA: f64 = 1.4826;
    let finite = |w: &&[f64]| w.iter().all(|v| v.is_finite());
    let mut d: Vec<f64> = y.windows(2).filter(finite).map(|w| w[1] - w[0]).collect();
    let mut dd: Vec<f64> = y
        .windows(3)
        .filter(finite)
        .map(|w| (w[2] - 2.0 * w[1] + w[0]).abs())
        .collect();
    if dd.len() < 2 {
        return 0.0;
    }
    let m = median(&mut d);
    let mut dev: Vec<f64> = d.iter().map(|v| (v - m).abs()).collect();
    let from_increments = MAD_TO_SIGMA * median(&mut dev) / 2f64.sqrt();
    let from_curvature = MAD_TO_SIGMA * median(&mut dd) / 6f64.sqrt();
    from_increments.min(from_curvature)
}

/// Shortest flat stretch (in samples) that makes a ramp "levelled off":
/// 3, or a third of the series — three noisy samples on a long steady
/// rise can look level by chance.
pub fn min_flat_tail(n: usize) -> usize {
    n.div_ceil(3).max(3)
}

/// Whether a rising series may be levelling off right now: its last
/// increment is under half its Theil–Sen slope. Too short a plateau to
/// call the rise stopped ([`min_flat_tail`]), but a reason for sequential
/// sampling to look again before it calls the rise a leak: a cache that
/// has just filled looks like this, a steady leak rarely.
pub fn may_be_levelling_off(values: &[f64]) -> bool {
    let points = finite_points(values);
    let (x, y): (Vec<f64>, Vec<f64>) = points.iter().copied().unzip();
    let n = y.len();
    n >= 3
        && pairwise_slope(&x, &y, |_, _| true)
            .is_some_and(|b| b > 0.0 && (y[n - 1] - y[n - 2]) / (x[n - 1] - x[n - 2]) < b / 2.0)
}

/// Applies the trend rule to values taken at evenly spaced samples, with
/// no load known: the floor is [`min_growth`] and the series' own
/// scatter. Non-finite values are left out (their neighbours keep their
/// positions).
pub fn assess_trend(values: &[f64], unit: Unit, alpha: f64) -> TrendAssessment {
    assess_points(&finite_points(values), min_growth(unit), alpha)
}

/// Where the flat part of a series starts, if one step or a ramp that
/// levels off describes it better than a line (by the penalised fit of
/// the module docs), whatever its significance: the stretch on which
/// sequential sampling bounds the slope of a rise that stopped.
pub fn flat_since(values: &[f64]) -> Option<usize> {
    let points = finite_points(values);
    let x: Vec<f64> = points.iter().map(|p| p.0).collect();
    let y: Vec<f64> = points.iter().map(|p| p.1).collect();
    let line = penalised(&y, line_cost(&x, &y), 2.0);
    [
        best_step(&x, &y).map(|(s, sad)| (s, penalised(&y, sad, 3.0))),
        best_levelling_off(&x, &y).map(|(s, sad)| (s, penalised(&y, sad, 3.0))),
    ]
    .into_iter()
    .flatten()
    .filter(|(_, score)| *score < line)
    .min_by(|a, b| a.1.total_cmp(&b.1))
    .and_then(|(shape, _)| shape.flat_from())
}

/// [`assess_trend`] with a given floor: the growth that matters for this
/// series (the judge's materiality over the load that drove it), or for a
/// part of a metric (the memory outside the GC heap, say) the floor of the
/// whole. The series' own scatter can only raise it.
pub fn assess_trend_with_floor(values: &[f64], floor: f64, alpha: f64) -> TrendAssessment {
    assess_points(&finite_points(values), floor, alpha)
}

/// The rule for committed memory that contains the GC heap, judged with
/// `live`, the live managed bytes at the same samples (see the module docs),
/// both against `floor`, the growth that matters ([`assess_trend_with_floor`]).
/// Samples where either value is missing (non-finite) are left out; with
/// `live` shorter than `committed`, the missing tail counts as missing.
pub fn assess_trend_with_live(
    committed: &[f64],
    live: &[f64],
    floor: f64,
    alpha: f64,
) -> TrendAssessment {
    let both: Vec<(f64, f64)> = committed
        .iter()
        .enumerate()
        .filter_map(|(i, &c)| {
            let l = live.get(i).copied().unwrap_or(f64::NAN);
            (c.is_finite() && l.is_finite()).then_some((i as f64, c))
        })
        .collect();
    let live_points: Vec<(f64, f64)> = both.iter().map(|&(x, _)| (x, live[x as usize])).collect();
    let mut own = assess_points(&both, floor, alpha);
    // The same floor (the load's), and the live heap's own, far smaller, scatter.
    let l = assess_points(&live_points, floor, alpha);
    // Sizing only if the live heap rose less than what matters at all
    // (significant or not), or, without a significant rise, less than a
    // quarter of what committed memory rose: a noisy live series on a leak
    // is not evidence of a flat one, and a leak lands in both.
    // A live heap that rose and stopped (a cache filled) explains the same
    // rise in committed memory, if the rest of it did not grow.
    let followed_a_stopped_rise = || {
        let rest: Vec<(f64, f64)> = both
            .iter()
            .zip(&live_points)
            .map(|(&(x, c), &(_, l))| (x, c - l))
            .collect();
        let live: Vec<f64> = live_points.iter().map(|p| p.1).collect();
        let flat_for = |from: usize| live_points.iter().filter(|p| p.0 >= from as f64).count();
        flat_since(&live).is_some_and(|from| flat_for(from) >= min_flat_tail(live.len()))
            && !assess_points(&rest, floor, alpha).growing
    };
    own.reason = if l.growing {
        TrendReason::LiveGrowing
    } else if own.growing
        && (l.fitted_growth < floor
            || (!l.significant && l.fitted_growth < own.fitted_growth / 4.0))
    {
        TrendReason::GcSizing
    } else if own.growing && followed_a_stopped_rise() {
        TrendReason::FlatAfterStep
    } else {
        own.reason
    };
    own.growing = own.reason.is_growth();
    own.live = Some(LiveEvidence::of(&l));
    own
}

/// The values at their positions, from the first to the last, NaN where
/// a position has none.
fn by_position(x: &[f64], y: &[f64]) -> Vec<f64> {
    let first = x.first().copied().unwrap_or(0.0);
    let len = x.last().map_or(0, |last| (last - first) as usize + 1);
    let mut dense = vec![f64::NAN; len];
    for (xi, yi) in x.iter().zip(y) {
        dense[(xi - first) as usize] = *yi;
    }
    dense
}

/// (position, value) for the finite values.
fn finite_points(values: &[f64]) -> Vec<(f64, f64)> {
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, &v)| (i as f64, v))
        .collect()
}

fn assess_points(points: &[(f64, f64)], floor: f64, alpha: f64) -> TrendAssessment {
    let x: Vec<f64> = points.iter().map(|p| p.0).collect();
    let y: Vec<f64> = points.iter().map(|p| p.1).collect();
    let n = y.len();
    let mk = trend::mann_kendall(&y);
    let slope = pairwise_slope(&x, &y, |_, _| true).unwrap_or(0.0);
    let span = match (x.first(), x.last()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    let fitted_growth = slope * span;
    let floor = floor.max(NOISE_MULTIPLE * scatter(&by_position(&x, &y)));
    let significant = n >= 3 && mk.p_increasing < alpha && slope > 0.0;
    let mut a = TrendAssessment {
        reason: TrendReason::NotSignificant,
        growing: false,
        significant,
        mk,
        slope_per_sample: slope,
        fitted_growth,
        noise_floor: floor,
        shape: None,
        values: n,
        live: None,
        native: None,
    };
    a.reason = if n < 3 {
        TrendReason::TooFewValues
    } else if !significant {
        TrendReason::NotSignificant
    } else if fitted_growth >= floor {
        let (shape, reason) = classify_rise(&x, &y, floor, alpha);
        a.shape = Some(shape);
        reason
    } else {
        TrendReason::BelowNoiseFloor // or NaN: not growth either way
    };
    a.growing = a.reason.is_growth();
    a
}

/// Sustained or stopped: the shape with the best penalised fit decides.
///
/// Each shape is fitted by least absolute deviations (robust medians and
/// Theil–Sen slopes) and scored like a Laplace likelihood with the BIC
/// penalty: n·ln(SAD/n) + p·ln(n), p = the shape's parameters. The penalty
/// keeps a more flexible shape (a step on a rise, a staircase) from
/// winning on noise alone.
fn classify_rise(x: &[f64], y: &[f64], floor: f64, alpha: f64) -> (ShapeFit, TrendReason) {
    let score = |sad: f64, params: f64| penalised(y, sad, params);
    let mut sustained = vec![(ShapeFit::Line, score(line_cost(x, y), 2.0))];
    if let Some((shape, sad)) = best_staircase(x, y) {
        sustained.push((shape, score(sad, 4.0)));
    }
    if let Some((shape, sad)) = best_step_on_rise(x, y, floor, alpha) {
        sustained.push((shape, score(sad, 4.0)));
    }
    let mut stopped = Vec::new();
    if let Some((shape, sad)) = best_step(x, y) {
        stopped.push((shape, score(sad, 3.0)));
    }
    if let Some((shape, sad)) = best_levelling_off(x, y) {
        stopped.push((shape, score(sad, 3.0)));
    }
    if let Some((shape, sad)) = best_two_steps(x, y) {
        stopped.push((shape, score(sad, 5.0)));
    }
    if let Some((shape, sad)) = best_sawtooth(x, y) {
        stopped.push((shape, score(sad, 4.0)));
    }
    let best = |v: &[(ShapeFit, f64)]| {
        v.iter()
            .copied()
            .fold(None, |b: Option<(ShapeFit, f64)>, s| match b {
                Some(b) if b.1 <= s.1 => Some(b),
                _ => Some(s),
            })
    };
    let (rise, rise_score) = best(&sustained).unwrap_or((ShapeFit::Line, f64::INFINITY));
    match best(&stopped) {
        Some((shape, s)) if s < rise_score => (shape, TrendReason::FlatAfterStep),
        _ => match rise {
            ShapeFit::Staircase { .. } => (rise, TrendReason::Stepping),
            _ if still_rising_at_the_end(x, y) => (rise, TrendReason::Growing),
            _ => (rise, TrendReason::FlatAfterStep),
        },
    }
}

/// Over the later half (at least 3 samples) the Theil–Sen slope is at
/// least a third of the overall one and Mann–Kendall's S is positive.
fn still_rising_at_the_end(x: &[f64], y: &[f64]) -> bool {
    let n = y.len();
    let half = n.div_ceil(2).max(3).min(n);
    let overall = pairwise_slope(x, y, |_, _| true).unwrap_or(0.0);
    let later = pairwise_slope(&x[n - half..], &y[n - half..], |_, _| true).unwrap_or(0.0);
    later >= overall / 3.0 && trend::mann_kendall(&y[n - half..]).s > 0.0
}

fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let (_, &mut hi, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        hi
    } else {
        let lo = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    }
}

/// Σ|r − median(r)|: the cost of a model whose level is fitted robustly.
fn abs_dev_around_median(mut r: Vec<f64>) -> f64 {
    let m = median(&mut r);
    r.iter().map(|v| (v - m).abs()).sum()
}

/// Median of the pairwise slopes among the points `pick` keeps.
fn pairwise_slope(x: &[f64], y: &[f64], pick: impl Fn(usize, usize) -> bool) -> Option<f64> {
    let mut slopes = Vec::new();
    for j in 0..x.len() {
        for i in 0..j {
            if x[j] != x[i] && pick(i, j) {
                slopes.push((y[j] - y[i]) / (x[j] - x[i]));
            }
        }
    }
    (!slopes.is_empty()).then(|| median(&mut slopes))
}

/// Σ|y − (a + b·x)| around the Theil–Sen line.
fn line_cost(x: &[f64], y: &[f64]) -> f64 {
    let b = pairwise_slope(x, y, |_, _| true).unwrap_or(0.0);
    abs_dev_around_median(x.iter().zip(y).map(|(xi, yi)| yi - b * xi).collect())
}

/// Equal steps every `k` samples: for any phase, y(x) − y(x − k) spans one
/// step, so the step is the median of the lag-k differences; the phase
/// only places the steps. At least two steps must fall inside the window,
/// and each must show: the values across it rise by at least half a step.
fn best_staircase(x: &[f64], y: &[f64]) -> Option<(ShapeFit, f64)> {
    let first = *x.first()? as usize;
    let last = *x.last()? as usize;
    let span = last - first;
    let mut best: Option<(ShapeFit, f64)> = None;
    for k in 2..=span / 2 {
        let Some(step) = lag_difference_median(x, y, k as f64).filter(|s| *s > 0.0) else {
            continue;
        };
        for phase in 0..k {
            // How many steps lie at or before x (steps where offset + phase ≡ 0 mod k).
            let level = |xi: f64| ((xi as usize - first + phase) / k) as f64;
            if level(last as f64) < 2.0 {
                continue;
            }
            let every_step_shows = (1..y.len())
                .all(|j| level(x[j]) == level(x[j - 1]) || y[j] - y[j - 1] >= step / 2.0);
            if !every_step_shows {
                continue;
            }
            let cost = abs_dev_around_median(
                x.iter()
                    .zip(y)
                    .map(|(xi, yi)| yi - step * level(*xi))
                    .collect(),
            );
            if best.is_none_or(|(_, c)| cost < c) {
                best = Some((ShapeFit::Staircase { period: k, step }, cost));
            }
        }
    }
    best
}

/// Median of y(x) − y(x − k) over the pairs exactly k apart.
fn lag_difference_median(x: &[f64], y: &[f64], k: f64) -> Option<f64> {
    let mut d = Vec::new();
    for j in 0..x.len() {
        for i in (0..j).rev() {
            let gap = x[j] - x[i];
            if gap == k {
                d.push(y[j] - y[i]);
            }
            if gap >= k {
                break;
            }
        }
    }
    (!d.is_empty()).then(|| median(&mut d))
}

/// One step before index k, flat on both sides.
fn best_step(x: &[f64], y: &[f64]) -> Option<(ShapeFit, f64)> {
    (1..y.len())
        .map(|k| {
            let cost =
                abs_dev_around_median(y[..k].to_vec()) + abs_dev_around_median(y[k..].to_vec());
            (ShapeFit::Step { at: x[k] as usize }, cost)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// A short part rises (S > 0); a part of 4+ samples rises steadily: a
/// line fits it better than a step, by the penalised score.
fn rises_steadily(x: &[f64], y: &[f64]) -> bool {
    if trend::mann_kendall(y).s <= 0.0 {
        return false;
    }
    if y.len() < 4 {
        return true;
    }
    let step = best_step(x, y).map_or(f64::INFINITY, |s| s.1);
    penalised(y, line_cost(x, y), 2.0) <= penalised(y, step, 3.0)
}

/// The Laplace log-likelihood with the BIC penalty (lower is better):
/// n·ln(SAD/n) + p·ln(n), with a floor under SAD so that noise-free
/// shapes compare by their penalty alone.
fn penalised(y: &[f64], sad: f64, params: f64) -> f64 {
    let n = y.len() as f64;
    let scale = y.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let tiny = 1e-9 * scale + f64::MIN_POSITIVE;
    n * ((sad + tiny) / n).ln() + params * n.ln()
}

/// Median of the per-sample increments (0 for fewer than 2 points).
fn median_increment(x: &[f64], y: &[f64]) -> f64 {
    let mut d: Vec<f64> = (1..y.len())
        .map(|j| (y[j] - y[j - 1]) / (x[j] - x[j - 1]))
        .collect();
    median(&mut d)
}

/// Two steps of any height, then flat (by its median increment, as in
/// [`best_levelling_off`]) for at least [`min_flat_tail`] samples: a cache filled, then the GC moved its free band once. (Equal
/// steps at a steady pace are a staircase, with fewer parameters.)
fn best_two_steps(x: &[f64], y: &[f64]) -> Option<(ShapeFit, f64)> {
    let n = y.len();
    let last_second = (n + 1).saturating_sub(min_flat_tail(n));
    let slope = pairwise_slope(x, y, |_, _| true)?;
    let mut best: Option<(ShapeFit, f64)> = None;
    for second in 2..last_second {
        // Flat as for a ramp that levels off: a short tail still rising is no plateau.
        if median_increment(&x[second..], &y[second..]) >= slope / 2.0 {
            continue;
        }
        let tail = abs_dev_around_median(y[second..].to_vec());
        for first in 1..second {
            let cost = abs_dev_around_median(y[..first].to_vec())
                + abs_dev_around_median(y[first..second].to_vec())
                + tail;
            if best.is_none_or(|(_, c)| cost < c) {
                best = Some((
                    ShapeFit::TwoSteps {
                        at: [x[first] as usize, x[second] as usize],
                    },
                    cost,
                ));
            }
        }
    }
    best
}

/// One-sided p of Mann–Kendall stratified over two parts: S and Var(S)
/// summed, normal score with continuity correction.
fn rises_on_both_sides(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (trend::mann_kendall(a), trend::mann_kendall(b));
    let (s, var) = (ma.s + mb.s, ma.var_s + mb.var_s);
    if var <= 0.0 || s <= 0.0 {
        return 1.0;
    }
    1.0 - trend::normal_cdf((s - 1.0) / var.sqrt())
}

/// A ramp that drops back every `p` samples (the GC collecting what the
/// service allocated, committed memory following): one slope from the
/// pairs within a tooth, one level. At least one drop inside the window.
fn best_sawtooth(x: &[f64], y: &[f64]) -> Option<(ShapeFit, f64)> {
    let first = *x.first()? as usize;
    let span = *x.last()? as usize - first;
    let mut best: Option<(ShapeFit, f64)> = None;
    for p in 2..=span {
        for phase in 0..p {
            let tooth = |i: usize| (x[i] as usize - first + phase) / p;
            let within = |i: usize| ((x[i] as usize - first + phase) % p) as f64;
            if tooth(y.len() - 1) == tooth(0) {
                continue;
            }
            let rising = pairwise_slope(x, y, |i, j| tooth(i) == tooth(j)).filter(|b| *b > 0.0);
            let Some(b) = rising else {
                continue;
            };
            let cost = abs_dev_around_median((0..y.len()).map(|i| y[i] - b * within(i)).collect());
            if best.is_none_or(|(_, c)| cost < c) {
                best = Some((ShapeFit::Sawtooth { period: p }, cost));
            }
        }
    }
    best
}

/// A steady rise with one step up on it (a GC commit on top of a leak):
/// one slope from the pairs on the same side of the step, a level per
/// side (at least 2 samples each). The rise must be real — Mann–Kendall
/// over the two sides together (S and its variance summed, as for
/// seasons) significant at `alpha`, reaching the noise floor by itself —
/// and steady on each side (a side of 4+ samples fits a line better than
/// a step); otherwise it is a step with a tilt of noise, or two steps.
fn best_step_on_rise(x: &[f64], y: &[f64], floor: f64, alpha: f64) -> Option<(ShapeFit, f64)> {
    let span = x.last()? - x.first()?;
    (2..y.len().saturating_sub(1))
        .filter_map(|k| {
            let b =
                pairwise_slope(x, y, |i, j| (i < k) == (j < k)).filter(|b| b * span >= floor)?;
            if rises_on_both_sides(&y[..k], &y[k..]) >= alpha {
                return None;
            }
            if !rises_steadily(&x[..k], &y[..k]) || !rises_steadily(&x[k..], &y[k..]) {
                return None;
            }
            let detrended = |s: &[f64], t: &[f64]| -> Vec<f64> {
                s.iter().zip(t).map(|(xi, yi)| yi - b * xi).collect()
            };
            let (mut left, mut right) = (detrended(&x[..k], &y[..k]), detrended(&x[k..], &y[k..]));
            let (l, r) = (median(&mut left), median(&mut right));
            if r < l {
                return None; // a step down on a rise is a sawtooth's drop, not a commit
            }
            let cost = left.iter().map(|v| (v - l).abs()).sum::<f64>()
                + right.iter().map(|v| (v - r).abs()).sum::<f64>();
            Some((ShapeFit::StepOnRise { at: x[k] as usize }, cost))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// A ramp up to index k, flat from there for at least [`min_flat_tail`]
/// samples. Flat means the median sample-to-sample increment of the tail
/// is below half the overall slope: the GC giving back a band of free
/// memory once on a steady rise makes a short stretch look level, but
/// the rise goes on between its samples.
fn best_levelling_off(x: &[f64], y: &[f64]) -> Option<(ShapeFit, f64)> {
    let n = y.len();
    let slope = pairwise_slope(x, y, |_, _| true)?;
    (1..(n + 1).saturating_sub(min_flat_tail(n)))
        .filter(|&k| median_increment(&x[k..], &y[k..]) < slope / 2.0)
        .filter_map(|k| {
            let b = pairwise_slope(&x[..=k], &y[..=k], |_, _| true)?;
            let knee = x[k];
            let cost = abs_dev_around_median(
                x.iter()
                    .zip(y)
                    .map(|(xi, yi)| yi - b * xi.min(knee))
                    .collect(),
            );
            Some((
                ShapeFit::LevelsOff {
                    until: knee as usize,
                },
                cost,
            ))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1048576.0;

    fn mib(v: &[f64]) -> Vec<f64> {
        v.iter().map(|m| (100.0 + m) * MIB).collect()
    }

    /// The shapes' reasons against a floor of 1 MiB: what matters for this load.
    fn reason(v: &[f64]) -> TrendReason {
        assess_trend_with_floor(&mib(v), MIB, 0.05).reason
    }

    #[test]
    fn the_measured_step_then_plateau_leak_grows() {
        // +6.2 MiB over 8 samples, rising every time: a commit step on a steady rise.
        assert!(reason(&[0.0, 0.3, 0.6, 4.8, 5.0, 5.3, 5.6, 6.2]).is_growth());
    }

    #[test]
    fn reasons_of_clean_shapes() {
        assert_eq!(
            reason(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
            TrendReason::Growing
        );
        assert_eq!(
            reason(&[0.0, 0.0, 4.0, 4.0, 4.0, 4.0, 8.0, 8.0, 8.0]),
            TrendReason::Stepping
        );
        assert_eq!(
            reason(&[0.0, 0.0, 0.0, 4.0, 4.0, 4.0, 4.0, 4.0]),
            TrendReason::FlatAfterStep
        );
        assert_eq!(
            reason(&[0.0, 4.0, 8.0, 12.0, 16.0, 16.0, 16.0, 16.0]),
            TrendReason::FlatAfterStep
        );
        // Mostly flat: the Theil–Sen slope is 0, so no trend at all.
        assert_eq!(
            reason(&[0.0, 8.0, 16.0, 16.0, 16.0, 16.0, 16.0, 16.0]),
            TrendReason::NotSignificant
        );
        assert_eq!(
            reason(&[0.0, 0.1, 0.2, 0.3, 0.4]),
            TrendReason::BelowNoiseFloor
        );
        assert_eq!(
            reason(&[0.0, 3.0, 1.0, 2.0, 0.5]),
            TrendReason::NotSignificant
        );
        assert_eq!(reason(&[0.0, 3.0]), TrendReason::TooFewValues);
    }

    #[test]
    fn nan_and_empty_input_do_not_panic() {
        for v in [
            vec![],
            vec![f64::NAN; 6],
            vec![1.0, f64::NAN, f64::INFINITY, 3.0],
            vec![f64::NEG_INFINITY, 1.0],
        ] {
            let a = assess_trend(&v, Unit::Bytes, 0.05);
            assert!(!a.growing, "{v:?}");
            let b = assess_trend_with_live(&v, &v, MIB, 0.05);
            assert!(!b.growing, "{v:?}");
            let _ = assess_trend_with_live(&v, &[], 4.0, 0.05);
        }
        // A NaN inside a leak leaves the rest judged.
        let mut v = mib(&[0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
        v[3] = f64::NAN;
        let a = assess_trend(&v, Unit::Bytes, 0.05);
        assert_eq!((a.reason, a.values), (TrendReason::Growing, 6));
    }

    #[test]
    fn a_rise_within_the_series_own_scatter_is_below_the_floor() {
        // Memory that jumps up to ±1 MiB between samples, drifting 0.2 MiB a sample.
        let jitter = [
            -0.52, 0.09, -0.26, 0.21, 0.25, -0.87, -0.97, 0.67, -0.48, -0.53, 0.99, -0.06, 0.5,
            -0.3, 0.8, -0.9,
        ];
        let drift = |noise: f64| -> Vec<f64> {
            let v: Vec<f64> = (0..16)
                .map(|i| 0.2 * i as f64 + noise * jitter[i])
                .collect();
            mib(&v)
        };
        let noisy = assess_trend(&drift(1.0), Unit::Bytes, 0.05);
        assert!(noisy.mk.p_increasing < 0.001, "{noisy:?}");
        assert_eq!(noisy.reason, TrendReason::BelowNoiseFloor);
        assert!(noisy.noise_floor > 3.0 * MIB, "{noisy:?}");
        // The same drift without the jitter is a leak: +3 MiB over a 1 MiB floor.
        assert_eq!(reason_of(&drift(0.0)), TrendReason::Growing);
        // A steady slope and a single step are no scatter.
        assert_eq!(scatter(&drift(0.0)), 0.0);
        // A missing sample is no jump: the differences across it are left out
        // (closed up, these would be jumps of several units every sample).
        let nan = f64::NAN;
        let gaps = [
            0.0, nan, 3.0, nan, 1.0, nan, 6.0, nan, 2.0, nan, 4.0, nan, 7.0,
        ];
        assert_eq!(scatter(&gaps), 0.0);
        let closed: Vec<f64> = gaps.iter().copied().filter(|v| v.is_finite()).collect();
        assert!(scatter(&closed) > 0.5);
        assert_eq!(scatter(&mib(&[0.0, 0.0, 0.0, 8.0, 8.0, 8.0, 8.0])), 0.0);
        // Nor a leak that starts midway, or a close staircase.
        assert_eq!(
            scatter(&mib(&[0.0, 0.0, 0.0, 0.0, 2.0, 4.0, 6.0, 8.0])),
            0.0
        );
        assert_eq!(
            scatter(&mib(&[0.0, 0.0, 4.0, 4.0, 8.0, 8.0, 12.0, 12.0])),
            0.0
        );
    }

    fn reason_of(v: &[f64]) -> TrendReason {
        assess_trend(v, Unit::Bytes, 0.05).reason
    }

    #[test]
    fn committed_memory_that_followed_a_cache_that_filled_is_not_growth() {
        // The cache fills over the first four samples; the GC moves its
        // free band up by 2.5 MiB just as it stops.
        let live = mib(&[-81.6, -78.4, -75.2, -72.0, -72.0, -72.0]);
        let committed = mib(&[0.0, 3.2, 4.1, 7.2, 9.7, 9.8]);
        assert!(assess_trend(&committed, Unit::Bytes, 0.05).growing);
        let a = assess_trend_with_live(&committed, &live, MIB, 0.05);
        assert_eq!(a.reason, TrendReason::FlatAfterStep, "{a:?}");
        // Two level samples at the end are too short a plateau to tell.
        let a = assess_trend_with_live(&committed[..5], &live[..5], MIB, 0.05);
        assert!(a.growing, "{a:?}");
        // A live heap still rising with a pause in it is not a cache that filled.
        let rising = mib(&[-79.8, -78.7, -77.5, -77.4, -75.1, -75.1]);
        let following = mib(&[0.2, 1.8, 2.4, 2.4, 5.0, 5.4]);
        let a = assess_trend_with_live(&following, &rising, MIB, 0.05);
        assert!(a.growing, "{a:?}");
        // Committed memory that goes on rising after the live heap stopped is not explained.
        let climbing = mib(&[0.0, 3.2, 6.4, 9.6, 12.8, 16.0, 19.2]);
        let stopped = mib(&[-81.6, -80.6, -79.6, -78.6, -78.6, -78.6, -78.6]);
        let a = assess_trend_with_live(&climbing, &stopped, MIB, 0.05);
        assert_eq!(a.reason, TrendReason::Growing, "{a:?}");
    }

    #[test]
    fn a_rise_whose_last_step_is_level_may_be_levelling_off() {
        assert!(may_be_levelling_off(&mib(&[0.0, 3.2, 6.4, 9.6, 9.7])));
        assert!(!may_be_levelling_off(&mib(&[0.0, 3.2, 6.4, 9.6, 12.7])));
        assert!(!may_be_levelling_off(&mib(&[5.0, 5.0, 5.0, 5.0])));
        assert!(!may_be_levelling_off(&[1.0, f64::NAN]));
        // A missing sample in between: the increment is per sample.
        assert!(!may_be_levelling_off(&[0.0, 1.0, 2.0, f64::NAN, 4.0]));
    }

    #[test]
    fn the_live_heap_decides_committed_memory() {
        let step = mib(&[0.0, 0.0, 0.0, 8.0, 8.0, 8.0, 8.0, 8.0]);
        let growing: Vec<f64> = (0..8).map(|i| (60.0 + i as f64) * MIB).collect();
        let flat = vec![60.0 * MIB; 8];
        assert_eq!(
            assess_trend_with_live(&step, &growing, MIB, 0.05).reason,
            TrendReason::LiveGrowing
        );
        assert_eq!(
            assess_trend_with_live(&step, &flat, MIB, 0.05).reason,
            TrendReason::FlatAfterStep
        );
        let rising = mib(&[0.0, 9.0, 18.0, 27.0, 36.0, 45.0, 54.0, 63.0]);
        let a = assess_trend_with_live(&rising, &flat, MIB, 0.05);
        assert_eq!(a.reason, TrendReason::GcSizing);
        assert!(!a.growing && a.significant);
        assert_eq!(
            a.live.as_ref().map(|l| l.reason),
            Some(TrendReason::NotSignificant)
        );
    }
}
