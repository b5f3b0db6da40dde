//! Sequential sampling (`sampling.count: auto`): after each sample, decide
//! whether the answer is already clear.
//!
//! ```
//! use leakgate_gate::judge::JudgeOptions;
//! use leakgate_gate::sequential::{next_step, Next, SamplingPlan, StopReason};
//! use leakgate_gate::testing::Samples;
//! use leakgate_scenario::{BudgetRule, TypeFilter, budget::Budget};
//! const MIB: f64 = 1048576.0;
//!
//! let budget: Budget = serde_saphyr::from_str("metric: committed.unknown\n").unwrap();
//! let budgets = [BudgetRule::new(budget, 1, 1).unwrap()];
//! let (options, plan) = (JudgeOptions::default(), SamplingPlan::default());
//! // A service leaking 2 MiB per sample: after each sample, ask.
//! let leak: Vec<f64> = (0..20).map(|i| (100.0 + 2.0 * i as f64) * MIB).collect();
//! let mut taken = 0;
//! let stop = loop {
//!     taken += 1;
//!     let samples = Samples::new(taken).scalar("committed.unknown", &leak[..taken]).build();
//!     match next_step(&samples, &budgets, &TypeFilter::none(), &options, &plan) {
//!         Next::Continue { .. } => continue,
//!         Next::Stop(stop) => break stop,
//!     }
//! };
//! assert_eq!(stop.samples, 6); // 1 warm-up + 5 judged: all rising, exact p = 1/120
//! assert!(matches!(stop.reason, StopReason::Failed { .. }));
//! println!("{stop}"); // why sampling stopped, for the report
//! ```
//!
//! # The design
//! Sampling looks after every sample from `min_count` (default 5) to
//! `max_count` (default 20), warm-up included. At each look every series
//! a budget judges is in one of three states:
//! - **grows**: the trend rule ([`crate::growth`], with the live heap where
//!   it applies) says it grows at this look's level αₖ;
//! - **does not grow**: the growth rate is bounded below the rate that
//!   matters, δ per sample: the materiality over the load between two
//!   samples, or, when larger, the growth the series' own scatter (six
//!   times it) or the runtime's warm-up allowance would hide, spread
//!   over max(n, 8) − 1 samples — a leak the trend rule could not call one
//!   within today's reliable 8 judged samples (or within this run, if
//!   longer). A series that rises significantly but less than what matters
//!   is never decided so: more samples may take it there. The bound is Sen's one-sided
//!   confidence bound at level βₖ, computed as the Mann–Kendall test of
//!   yᵢ − δ·i falling (exact for small n). It is applied to the whole
//!   series; to the flat part after a stopped rise ("rose once, then flat
//!   for m samples"); or, for committed memory judged with the live heap,
//!   to the live bytes, when the memory outside the GC heap is bounded too
//!   (each of its parts, [`crate::judge::native_parts`], against its floor);
//! - **undecided**.
//!
//! A `max_slope` limit is decided the same way (the series minus the limit
//! × x rising at αₖ fails, falling at βₖ passes). Sampling stops with a
//! failure as soon as a budget fails on a decided series (a growing trend,
//! or a limit exceeded by a series known to grow or not to) — except that
//! before [`RELIABLE_SAMPLES`] judged samples a growing series whose last
//! step is level (the live heap's, for committed memory judged with it)
//! is looked at again: a cache that has just filled looks like that, a
//! steady leak rarely, and the next samples tell them apart; so is
//! committed memory whose only growth is native memory's (it warms up,
//! and its jitter is poorly known from a few samples); it stops
//! with every budget decided; or at `max_count`. `max` and `max_growth`
//! judge the samples taken when sampling stops; they hold sampling open
//! only through their series' state.
//!
//! # Error control despite repeated looks
//! Both kinds of error are spent across the looks (a union bound, valid
//! whatever the correlation between looks): αₖ sums to
//! [`JudgeOptions::alpha`] and βₖ to [`SamplingPlan::beta`], each spent
//! front-loaded (Kim–DeMets power family, ρ = ½, over the looks) so that a
//! clear leak can stop early. A look where Mann–Kendall cannot reach its
//! level at all (exact minimum p = 1/n!, e.g. 1/24 at 4 judged samples)
//! passes its share on to the next look instead of wasting it. Then:
//! - a series without a trend (exchangeable values) fails at some look
//!   with probability at most α (exact p-values: P(p ≤ a) ≤ a);
//! - a series growing at least δ per sample is passed as not growing at
//!   some look with probability at most β.
//!
//! The stop reports the level of its look: judge the samples with
//! `JudgeOptions { alpha: stop.alpha, .. }` and the verdict agrees with the
//! decision. Shapes that the trend rule calls stopped (one step, a cache
//! fill, a sawtooth) are not covered by the α bound — no test can bound
//! them — but by the rule itself; the harness
//! (`cargo run --release -p leakgate-gate --example power`) measures them.
//! So is the step's place in "flat since the step": it is estimated from
//! the samples, and from committed memory alone a leak the GC commits in
//! steps longer than that flat stretch is, by the rule, a rise that
//! stopped — the live heap has no such blind spot.
//!
//! # Measured
//! Generated services (1,000 seeds each, one `committed.unknown` budget,
//! warm-up 1, 1,000 requests between samples, the defaults above). With
//! the live heap: a 1 MiB/sample leak on 20, 100 or 400 MiB, smooth or
//! committed in 2–8 MiB steps, is caught every time after 6.0 samples on
//! average (a fixed count of 9 takes 9); a 128 KiB/sample leak 100%
//! after 6.0–6.2, a 64 KiB/sample one 90–91% after 8.9–10; flat memory,
//! one step, a cache fill, a sawtooth, bursts and the GC sizing its budget
//! fail ≤ 0.4%, stopping after 8.5 to 12 samples; a cache still filling
//! at the first look 0.0% (it waits for the plateau). On the ±5% uniform
//! model the non-leaks fail ≤ 0.9%. From
//! committed memory alone: the smooth leak 100, 100, 90% after 7.0, 7.6,
//! 11.2 samples, the stepped one 72–89% after 12–13, slow leaks mostly
//! missed; the non-leaks ≤ 1.2% (a cache fill on 400 MiB: 3.7%).

use leakgate_scenario::budget::{Metric, SlopeUnit, TrendMode};
use leakgate_scenario::{BudgetRule, TypeFilter};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::growth::{NOISE_MULTIPLE, TrendReason, flat_since, may_be_levelling_off, scatter};
use crate::judge::{self, Check, Floor, JudgeOptions, RELIABLE_SAMPLES, Status, judge};
use crate::series::{self, SampleMetrics, Series, SeriesKey};
use crate::trend;

/// `sampling.count: auto`: how many samples at least and at most.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SamplingPlan {
    /// Samples (warm-up included) before the first look. Default 5.
    pub min_count: usize,
    /// Samples (warm-up included) at most. Default 20.
    pub max_count: usize,
    /// The chance, over all looks, of passing as flat a series that grows
    /// by δ per sample or more (see the module docs). Default 0.05.
    pub beta: f64,
}

impl Default for SamplingPlan {
    fn default() -> Self {
        SamplingPlan {
            min_count: 5,
            max_count: 20,
            beta: 0.05,
        }
    }
}

/// One look of the plan: after `samples` samples (`judged` after warm-up),
/// a series may be decided growing at level `alpha`, not growing at `beta`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, JsonSchema)]
pub struct Look {
    pub samples: usize,
    pub judged: usize,
    pub alpha: f64,
    pub beta: f64,
}

/// Shape of the spending: cumulative share t^ρ after a fraction t of the looks.
const SPENDING_RHO: f64 = 0.5;

/// Every look of `plan`, with the levels it may spend (module docs).
pub fn looks(plan: &SamplingPlan, options: &JudgeOptions) -> Vec<Look> {
    let first = plan.min_count.max(options.warmup_samples + 1);
    let last = plan.max_count.max(first);
    let count = (last - first + 1) as f64;
    let mut spent_alpha = 0.0;
    let mut spent_beta = 0.0;
    (first..=last)
        .enumerate()
        .map(|(k, samples)| {
            let judged = samples - options.warmup_samples;
            let share = ((k + 1) as f64 / count).powf(SPENDING_RHO);
            let (alpha, beta) = if samples == last {
                // The last look takes whatever is left.
                (options.alpha - spent_alpha, plan.beta - spent_beta)
            } else if judged < options.min_samples.max(3) {
                (0.0, 0.0)
            } else {
                // A level below Mann–Kendall's smallest p (1/n!) is carried on.
                let attainable = |level: f64| level >= 1.0 / factorial(judged);
                let a = options.alpha * share - spent_alpha;
                let b = plan.beta * share - spent_beta;
                (
                    if attainable(a) { a } else { 0.0 },
                    if attainable(b) { b } else { 0.0 },
                )
            };
            spent_alpha += alpha;
            spent_beta += beta;
            Look {
                samples,
                judged,
                alpha: alpha.max(0.0),
                beta: beta.max(0.0),
            }
        })
        .collect()
}

fn factorial(n: usize) -> f64 {
    (1..=n).map(|k| k as f64).product()
}

/// What is known about one series at a look.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(tag = "state", content = "why", rename_all = "snake_case")]
pub enum SeriesState {
    /// It grows, by the trend rule at the look's level.
    Grows(TrendReason),
    /// It does not grow by δ per sample or more.
    DoesNotGrow(NoGrowth),
    /// Not yet known; the trend rule's reason so far.
    Undecided(TrendReason),
}

impl SeriesState {
    pub fn is_decided(self) -> bool {
        !matches!(self, SeriesState::Undecided(_))
    }
}

/// The evidence that a series does not grow.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoGrowth {
    /// The upper confidence bound of its slope is below δ.
    SlopeBelowFloor,
    /// It rose once; since then its slope bound is below δ.
    FlatSinceStep,
    /// The live managed heap does not grow (its slope bound is below δ,
    /// or it rose once and has been flat since), and the memory outside
    /// the GC heap's slope bound is below δ: whatever committed memory
    /// does, it is the GC's sizing.
    LiveHeapFlat,
    /// It rises, but by less than the growth that matters, and so slowly
    /// (its slope bound, as above, with δ's fixed part spread over
    /// `max_count` samples) that not even the last sample could make it
    /// matter: more samples cannot change the verdict.
    TooSlowToMatterByMaxCount,
}

/// A series one budget judges, and what is known about it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SeriesDecision {
    pub budget_index: usize,
    pub series: SeriesKey,
    pub state: SeriesState,
    /// Where its slope lies against the budget's `max_slope`, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_slope: Option<LimitSide>,
    pub status: Status,
}

impl SeriesDecision {
    fn is_decided(&self) -> bool {
        self.state.is_decided() && self.max_slope != Some(LimitSide::Undecided)
    }
}

/// A slope against a limit, decided by its confidence bound.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitSide {
    Above,
    Below,
    Undecided,
}

/// Why sampling stopped.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    /// A budget fails on a decided series: more samples would not change it.
    Failed {
        budget_index: usize,
        budget: String,
        series: SeriesKey,
        state: SeriesState,
    },
    /// Every series every budget judges is decided, and none fails.
    AllDecided,
    /// `max_count` samples taken; these series were still undecided.
    MaxCount { undecided: Vec<SeriesKey> },
    /// No budget has a measured series to decide.
    NothingToDecide,
}

/// Sampling stops here.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct Stop {
    pub reason: StopReason,
    /// Samples taken, warm-up included.
    pub samples: usize,
    /// The level this look decided at: judge the samples with
    /// `JudgeOptions { alpha, .. }` so that the verdict agrees.
    pub alpha: f64,
    /// Every series the budgets judge, as decided at this look.
    pub decisions: Vec<SeriesDecision>,
}

/// Why sampling goes on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ContinueReason {
    /// Fewer than `min_count` samples so far.
    BelowMinimum { min_count: usize },
    /// Too few judged samples for the trend test (`min_samples`).
    WeakEvidence,
    /// These series are not decided yet.
    Undecided { series: Vec<SeriesKey> },
}

/// The answer after a sample.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub enum Next {
    Continue { reason: ContinueReason },
    Stop(Stop),
}

/// After the samples so far, stop or take another one? Same inputs as
/// [`judge()`], plus the plan; pure.
pub fn next_step(
    samples: &[SampleMetrics],
    budgets: &[BudgetRule],
    ignore: &TypeFilter,
    options: &JudgeOptions,
    plan: &SamplingPlan,
) -> Next {
    let taken = samples.len();
    let plan_looks = looks(plan, options);
    let Some(look) = plan_looks
        .iter()
        .find(|l| l.samples == taken)
        .or_else(|| plan_looks.last().filter(|l| taken > l.samples))
        .copied()
    else {
        return Next::Continue {
            reason: ContinueReason::BelowMinimum {
                min_count: plan.min_count,
            },
        };
    };
    let at_max = taken >= plan.max_count;
    let stop = |reason, decisions| {
        Next::Stop(Stop {
            reason,
            samples: taken,
            alpha: look.alpha,
            decisions,
        })
    };
    let judge_options = JudgeOptions {
        alpha: look.alpha,
        ..options.clone()
    };
    let verdict = judge(samples, budgets, ignore, &judge_options);
    if verdict.weak_evidence && !at_max {
        return Next::Continue {
            reason: ContinueReason::WeakEvidence,
        };
    }
    let judged = samples.get(options.warmup_samples..).unwrap_or(&[]);
    // The judged samples at `max_count`: the most a slow rise can spread over.
    let horizon = plan.max_count.saturating_sub(options.warmup_samples);
    let decisions: Vec<SeriesDecision> = verdict
        .checks
        .iter()
        .map(|c| decide(judged, &budgets[c.budget_index], c, &look, options, horizon))
        .collect();
    // Before the reliable count, a rise whose last step is level may be a
    // cache that has just filled: look again rather than fail on it.
    let early = look.judged < RELIABLE_SAMPLES && !at_max;
    // So may native memory that grew alone: it warms up for a while, and
    // its jitter, estimated from a few samples, may hide in a chance run.
    let pausing = |c: &Check| {
        early
            && c.status == Status::Fail
            && c.trend_growing
            && (matches!(
                c.trend_reason,
                TrendReason::NativeGrowing | TrendReason::RuntimeHeapsGrowing
            ) || may_pause(judged, c, options))
    };
    let failed = verdict.checks.iter().zip(&decisions).find(|(c, d)| {
        let budget = &budgets[c.budget_index].budget;
        let trend_fails = budget.trend == TrendMode::Fail && c.trend_growing;
        c.status == Status::Fail && (trend_fails || d.is_decided()) && !pausing(c)
    });
    if let Some((c, d)) = failed {
        let reason = StopReason::Failed {
            budget_index: c.budget_index,
            budget: c.budget.clone(),
            series: c.key(),
            state: d.state,
        };
        return stop(reason, decisions);
    }
    let undecided: Vec<SeriesKey> = decisions
        .iter()
        .zip(&verdict.checks)
        .filter(|(d, c)| !d.is_decided() || pausing(c))
        .map(|(d, _)| d.series.clone())
        .collect();
    if decisions.is_empty() {
        stop(StopReason::NothingToDecide, decisions)
    } else if undecided.is_empty() {
        stop(StopReason::AllDecided, decisions)
    } else if at_max {
        stop(StopReason::MaxCount { undecided }, decisions)
    } else {
        Next::Continue {
            reason: ContinueReason::Undecided { series: undecided },
        }
    }
}

/// The state of one check's series at `look`.
fn decide(
    judged: &[SampleMetrics],
    rule: &BudgetRule,
    check: &Check,
    look: &Look,
    options: &JudgeOptions,
    horizon: usize,
) -> SeriesDecision {
    let key = check.key();
    let series = check_series(judged, &key);
    let state = match &series {
        _ if check.trend_growing => SeriesState::Grows(check.trend_reason),
        // A significant rise still below what matters: more samples may
        // take it there (the scatter's and native memory's share of the
        // floor does not grow with the run); never call it flat, unless
        // it is too slow to get there even by `max_count`. A type's slow
        // rise stays undecided: with others through the same holder it
        // may be one leak, which only the retention paths see.
        Some(s) if check.trend_reason == TrendReason::BelowNoiseFloor && s.type_name.is_none() => {
            not_growing(judged, rule, s, look, options, horizon)
                .map_or(SeriesState::Undecided(check.trend_reason), |_| {
                    SeriesState::DoesNotGrow(NoGrowth::TooSlowToMatterByMaxCount)
                })
        }
        _ if check.trend_reason == TrendReason::BelowNoiseFloor => {
            SeriesState::Undecided(check.trend_reason)
        }
        Some(s) => not_growing(judged, rule, s, look, options, RELIABLE_SAMPLES).map_or(
            SeriesState::Undecided(check.trend_reason),
            SeriesState::DoesNotGrow,
        ),
        None => SeriesState::Undecided(check.trend_reason),
    };
    let max_slope = rule.budget.max_slope.map(|limit| {
        let Some(s) = series.as_ref() else {
            return LimitSide::Undecided;
        };
        let x = match limit.per {
            SlopeUnit::Minute => s.minutes(),
            SlopeUnit::ThousandRequests => s.kilo_requests(),
        };
        let per = match limit.amount {
            leakgate_scenario::budget::Quantity::Bytes(b)
            | leakgate_scenario::budget::Quantity::Count(b) => b as f64,
        };
        slope_side(&x, &s.values(), per, look)
    });
    SeriesDecision {
        budget_index: check.budget_index,
        series: key,
        state,
        max_slope,
        status: check.status,
    }
}

/// The series a check judged.
fn check_series(judged: &[SampleMetrics], key: &SeriesKey) -> Option<Series> {
    match &key.type_name {
        Some(t) => Some(series::per_type(judged, key.metric, t)),
        None => series::scalar(judged, key.metric),
    }
}

/// Whether what makes `check` grow may be levelling off right now: the
/// live heap, for committed memory judged with it (whose own last step may
/// be the GC moving its free band), else the series itself.
fn may_pause(judged: &[SampleMetrics], check: &Check, options: &JudgeOptions) -> bool {
    let Some(s) = check_series(judged, &check.key()) else {
        return false;
    };
    let live = options
        .live_heap
        .filter(|_| s.metric.holds_gc_heap() && s.type_name.is_none())
        .and_then(|live| judge::aligned_values(judged, live, &s));
    may_be_levelling_off(&live.unwrap_or_else(|| s.values()))
}

/// Evidence that `s` does not grow by δ per sample, if there is any yet;
/// δ's fixed part (scatter, native warm-up) is spread over at least
/// `horizon` judged samples.
/// Committed memory judged with the live heap is decided on the live
/// heap (and the memory outside the GC heap), never on its own steps: its
/// flat stretch between two GC steps says nothing about a leak.
fn not_growing(
    judged: &[SampleMetrics],
    rule: &BudgetRule,
    s: &Series,
    look: &Look,
    options: &JudgeOptions,
    horizon: usize,
) -> Option<NoGrowth> {
    let values = s.values();
    let n = values.len();
    let floor = Floor::of(s, rule.budget.materiality, &options.materiality);
    // δ: the rate that matters per sample, or a growth the series' own
    // scatter would hide within the reliable count (native memory: or its
    // warm-up) — the smallest leak the trend rule could call one.
    // `at_least`: the growth a part may show anyway (native memory's warm-up).
    let delta = |v: &[f64], at_least: f64| {
        let hidden = floor.growth.max(NOISE_MULTIPLE * scatter(v)).max(at_least);
        floor
            .per_sample(n)
            .max(hidden / (n.max(horizon).max(2) - 1) as f64)
    };
    let bounded = |v: &[f64], from: usize, at_least: f64| {
        slope_bounded_below(v, from, delta(v, at_least), look.beta)
    };
    // Memory outside the GC heap: every part bounded, each against its floor.
    let native_bounded = |outside: Vec<f64>| {
        judge::native_parts(judged, s, outside, &floor)
            .iter()
            .all(|(_, v, at_least)| bounded(v, 0, *at_least))
    };
    // Flat since a step: the step's place is estimated by the best stopped fit.
    let stopped =
        |v: &[f64], at_least: f64| flat_since(v).is_some_and(|from| bounded(v, from, at_least));
    let a = judge::assess_series(judged, s, &floor, look.alpha, options.live_heap);
    if a.live.is_none() {
        // Each part of native memory on its own: the whole's flat stretch after
        // the runtime's warm-up says nothing about the rest.
        let parts = match s.metric {
            Metric::CommittedNative => judge::native_parts(judged, s, values.clone(), &floor)
                .into_iter()
                .map(|(_, v, at_least)| (v, at_least))
                .collect(),
            _ => vec![(values.clone(), floor.native)],
        };
        return if parts.iter().all(|(v, at_least)| bounded(v, 0, *at_least)) {
            Some(NoGrowth::SlopeBelowFloor)
        } else if parts
            .iter()
            .all(|(v, at_least)| bounded(v, 0, *at_least) || stopped(v, *at_least))
        {
            Some(NoGrowth::FlatSinceStep)
        } else {
            None
        };
    }
    let live = judge::aligned_values(judged, options.live_heap?, s)?;
    let live_bounded = bounded(&live, 0, 0.0) || stopped(&live, 0.0);
    let outside_bounded = s.metric == Metric::CommittedGc
        || judge::aligned_values(judged, Metric::CommittedGc, s)
            .is_some_and(|gc| native_bounded(values.iter().zip(&gc).map(|(v, g)| v - g).collect()));
    (live_bounded && outside_bounded).then_some(NoGrowth::LiveHeapFlat)
}

/// Sen's one-sided upper bound of the slope of `values[from..]` (over
/// sample positions) is below `delta`: Mann–Kendall finds the values
/// minus `delta` per sample falling, at level `beta`. Needs 3+ finite values.
fn slope_bounded_below(values: &[f64], from: usize, delta: f64, beta: f64) -> bool {
    let rest: Vec<f64> = values
        .iter()
        .enumerate()
        .skip(from)
        .filter(|(_, v)| v.is_finite())
        .map(|(i, v)| delta * i as f64 - v) // negated: "falling" as an upper tail
        .collect();
    rest.len() >= 3 && beta > 0.0 && trend::mann_kendall(&rest).p_increasing < beta
}

/// Whether the slope of `y` over `x` is decided above `limit` (at α) or
/// below it (at β): Mann–Kendall of y − limit·x rising or falling.
fn slope_side(x: &[f64], y: &[f64], limit: f64, look: &Look) -> LimitSide {
    let finite = |(a, b): (&f64, &f64)| a.is_finite() && b.is_finite();
    let residual: Vec<f64> = x
        .iter()
        .zip(y)
        .filter(|p| finite(*p))
        .map(|(x, y)| y - limit * x)
        .collect();
    if residual.len() < 3 {
        return LimitSide::Undecided;
    }
    let mk = trend::mann_kendall(&residual);
    let falling = trend::mann_kendall(&residual.iter().map(|r| -r).collect::<Vec<_>>());
    if look.alpha > 0.0 && mk.p_increasing < look.alpha {
        LimitSide::Above
    } else if look.beta > 0.0 && falling.p_increasing < look.beta {
        LimitSide::Below
    } else {
        LimitSide::Undecided
    }
}

impl std::fmt::Display for SeriesState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeriesState::Grows(r) => write!(f, "grows ({r})"),
            SeriesState::DoesNotGrow(NoGrowth::SlopeBelowFloor) => {
                f.write_str("does not grow (its slope is bounded below the rate that matters)")
            }
            SeriesState::DoesNotGrow(NoGrowth::FlatSinceStep) => {
                f.write_str("does not grow (it rose, and has stayed flat since)")
            }
            SeriesState::DoesNotGrow(NoGrowth::LiveHeapFlat) => {
                f.write_str("does not grow beyond the GC's sizing (the live heap does not grow)")
            }
            SeriesState::DoesNotGrow(NoGrowth::TooSlowToMatterByMaxCount) => f.write_str(
                "rises too slowly to reach the growth that matters by the maximum count",
            ),
            SeriesState::Undecided(r) => write!(f, "undecided ({r})"),
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.samples;
        match &self.reason {
            StopReason::Failed {
                budget,
                series,
                state,
                ..
            } => write!(
                f,
                "stopped after {n} samples: {series} {state}, so budget \"{budget}\" fails whatever later samples show"
            ),
            StopReason::AllDecided => write!(
                f,
                "stopped after {n} samples: every budget is decided ({})",
                listed(
                    self.decisions
                        .iter()
                        .map(|d| format!("{} {}", d.series, d.state))
                )
            ),
            StopReason::MaxCount { undecided } => write!(
                f,
                "stopped at the maximum of {n} samples; still undecided: {}",
                listed(undecided.iter().map(|k| {
                    match self.decisions.iter().find(|d| &d.series == k) {
                        Some(d) => match d.state {
                            SeriesState::Undecided(r) => format!("{k} ({r})"),
                            other => format!("{k} {other}"),
                        },
                        None => k.to_string(),
                    }
                }))
            ),
            StopReason::NothingToDecide => {
                write!(
                    f,
                    "stopped after {n} samples: no budget has a series to decide"
                )
            }
        }
    }
}

/// Items joined with "; ", the first few only: a reason stays one line.
fn listed(items: impl ExactSizeIterator<Item = String>) -> String {
    const SHOWN: usize = 4;
    let total = items.len();
    let mut text = items.take(SHOWN).collect::<Vec<_>>().join("; ");
    if total > SHOWN {
        text.push_str(&format!("; and {} more", total - SHOWN));
    }
    text
}

/// How a `count: auto` run's sampling ended, as the report keeps it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct AutoSampling {
    pub min_count: usize,
    pub max_count: usize,
    /// Samples taken, warm-up included.
    pub samples: usize,
    /// The trend test's level at the deciding look (the verdict uses it).
    pub alpha: f64,
    pub reason: StopReason,
    /// One line for people: why sampling stopped when it did.
    pub summary: String,
}

impl AutoSampling {
    pub fn new(plan: &SamplingPlan, stop: &Stop) -> AutoSampling {
        AutoSampling {
            min_count: plan.min_count,
            max_count: plan.max_count,
            samples: stop.samples,
            alpha: stop.alpha,
            reason: stop.reason.clone(),
            summary: stop.to_string(),
        }
    }

    /// The summary as a sentence for reports, with the plan it followed.
    pub fn sentence(&self) -> String {
        format!(
            "Sampling (count: auto, {} to {}) {}.",
            self.min_count, self.max_count, self.summary
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_sums_to_the_levels_and_skips_unreachable_looks() {
        let options = JudgeOptions::default();
        let plan = SamplingPlan::default();
        let l = looks(&plan, &options);
        assert_eq!(l.len(), 16);
        assert_eq!((l[0].samples, l[0].judged), (5, 4));
        assert_eq!((l[15].samples, l[15].judged), (20, 19));
        // 4 judged samples cannot reach p < 1/24: their share moves on.
        assert_eq!(l[0].alpha, 0.0);
        assert!(l[1].alpha >= 1.0 / 120.0, "{:?}", l[1]);
        let total: f64 = l.iter().map(|l| l.alpha).sum();
        assert!((total - 0.05).abs() < 1e-12);
        let total: f64 = l.iter().map(|l| l.beta).sum();
        assert!((total - 0.05).abs() < 1e-12);
        assert!(l.iter().all(|l| l.alpha >= 0.0 && l.beta >= 0.0));
    }

    #[test]
    fn a_degenerate_plan_is_one_look() {
        let options = JudgeOptions::default();
        let plan = SamplingPlan {
            min_count: 9,
            max_count: 3,
            beta: 0.05,
        };
        let l = looks(&plan, &options);
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].samples, l[0].alpha, l[0].beta), (9, 0.05, 0.05));
    }

    #[test]
    fn bounds_on_slopes() {
        // Flat at 100 with ±0.1: its slope is far below δ = 1 per sample.
        let flat = [100.0, 100.1, 99.9, 100.05, 99.95, 100.0, 100.1];
        assert!(slope_bounded_below(&flat, 0, 1.0, 0.01));
        // Rising by 1 per sample: not below δ = 1.
        let rising: Vec<f64> = (0..7).map(|i| 100.0 + i as f64).collect();
        assert!(!slope_bounded_below(&rising, 0, 1.0, 0.01));
        // A step, then flat: bounded only over the flat part.
        let step = [0.0, 0.0, 9.0, 9.0, 9.1, 8.9, 9.0, 9.05, 8.95];
        assert!(!slope_bounded_below(&step, 0, 0.5, 0.01));
        assert!(slope_bounded_below(&step, 2, 0.5, 0.01));
        assert!(!slope_bounded_below(&[f64::NAN; 5], 0, 1.0, 0.5));
        let x: Vec<f64> = (0..8).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|x| 3.0 * x).collect();
        let look = Look {
            samples: 9,
            judged: 8,
            alpha: 0.01,
            beta: 0.01,
        };
        assert_eq!(slope_side(&x, &y, 1.0, &look), LimitSide::Above);
        assert_eq!(slope_side(&x, &y, 5.0, &look), LimitSide::Below);
        assert_eq!(
            slope_side(&x[..2], &y[..2], 5.0, &look),
            LimitSide::Undecided
        );
    }
}
