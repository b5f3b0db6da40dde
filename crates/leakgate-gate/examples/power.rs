//! How often the gate fails generated services, leaking and not.
//!
//! `cargo run --release -p leakgate-gate --example power [-- --seeds N]
//! [--detail] [--only TEXT] [--show-wrong] [--family | --no-family]
//! [--family-seeds N] [--threads N]`
//!
//! Every situation of the first table is a [`memory`] series (realistic
//! noise after an induced GC, or the older ±5% uniform model) judged by one
//! budget on `committed.unknown` (`trend: fail`, warm-up 1), with the live
//! heap (`gc.live`) and without it (committed memory alone, as with `dump:
//! none` and `gc_before_sample: false`). Samples are 1,000 requests apart,
//! so a slow leak of 64 KiB/sample grows 64 KiB per 1,000 requests.
//! Columns: `count N` = a fixed `sampling.count` (N − 1 judged);
//! `auto` = `sampling.count: auto` (min 5, max 20) with the mean number of
//! samples it took. For leaks the cells are detection rates, for the rest
//! false-alarm rates. `--seeds` (default 1,000) sets the runs per
//! situation, `--only` keeps the situations whose name contains TEXT
//! (`--only slow`: the slow leaks), `--detail` adds more counts, the
//! previous rule and the reasons of wrong decisions at count 9,
//! `--show-wrong` prints every run `auto` decided the wrong way, with why
//! it stopped.
//!
//! The second table is a per-type family: a heap of 1,500 types
//! ([`family`]: most flat, some with objects in flight, busy types moving
//! a couple of %, warm-up caches, and in the leak situations one leaking
//! type) judged by `heap.bytes` and `heap.count` budgets with `types:
//! "*"`, `trend: fail`, warm-up 1 — each alone, and both in one run
//! (`auto` for both together only with `--detail`: half as long again). It
//! prints the detection rate (the leaking type's check fails) and the
//! family-wise false-alarm rate (any other type's check fails) at counts
//! 5, 9, 13 and `auto`. It judges 1,500 series per look, so it runs fewer
//! seeds: 50 by default (about 0.3 s of CPU per seed and situation), at
//! most `--seeds`, or `--family-seeds N` (1,000 for rates to ±1%: about
//! 35 CPU-minutes).
//! `--family` prints only this table, `--no-family` only the first.
//! Seeds run on `--threads` threads (default: every core); the numbers do
//! not depend on it.

use std::collections::BTreeMap;

use leakgate_gate::judge::{Check, JudgeOptions, Status, Verdict, judge, judge_findings};
use leakgate_gate::sequential::{Next, SamplingPlan, Stop, next_step};
use leakgate_gate::series::SampleMetrics;
use leakgate_gate::testing::{
    Behaviour, FAMILY_TYPES, FamilyShape, Memory, Noise, budgets, family, family_findings,
    is_family_leak, memory,
};
use leakgate_gate::traced::traced;
use leakgate_scenario::budget::{Budget, Metric};
use leakgate_scenario::{BudgetRule, TypeFilter};

const MIB: f64 = 1048576.0;
const KIB: f64 = 1024.0;

struct Situation {
    name: String,
    base_mib: f64,
    behaviour: Behaviour,
    noise: Noise,
}

fn situations() -> Vec<Situation> {
    let mut v = Vec::new();
    let mut add = |name: &str, base_mib: f64, behaviour: Behaviour, noise: Noise| {
        v.push(Situation {
            name: name.to_string(),
            base_mib,
            behaviour,
            noise,
        })
    };
    let (real, uniform) = (Noise::realistic(), Noise::uniform(0.05));
    for base in [20.0, 100.0, 400.0] {
        add(
            "leak 1 MiB/sample",
            base,
            Behaviour::Leak { per_sample: MIB },
            real,
        );
    }
    for base in [20.0, 100.0, 400.0] {
        let stairs = Behaviour::SteppedLeak {
            per_sample: MIB,
            step: (2.0 * MIB, 8.0 * MIB),
        };
        add("leak 1 MiB/sample, GC steps 2-8 MiB", base, stairs, real);
    }
    // Slow leaks, at and above the materiality of 64 KiB per 1,000 requests
    // (samples are 1,000 requests apart).
    for kib in [64.0, 128.0, 256.0] {
        for base in [20.0, 100.0, 400.0] {
            let slow = Behaviour::Leak {
                per_sample: kib * KIB,
            };
            add(&format!("slow leak {kib} KiB/sample"), base, slow, real);
        }
    }
    for kib in [128.0, 256.0] {
        for base in [20.0, 100.0, 400.0] {
            let stairs = Behaviour::SteppedLeak {
                per_sample: kib * KIB,
                step: (2.0 * MIB, 8.0 * MIB),
            };
            let name = format!("slow leak {kib} KiB/sample, GC steps 2-8 MiB");
            add(&name, base, stairs, real);
        }
    }
    add(
        "leak 1 MiB/sample, ±5% noise",
        20.0,
        Behaviour::Leak { per_sample: MIB },
        uniform,
    );
    for base in [20.0, 400.0] {
        let b = base * MIB;
        add("flat", base, Behaviour::Flat, real);
        let step = Behaviour::Step {
            at: 4,
            height: 8.0 * MIB + 0.05 * b,
        };
        add("one step, then flat", base, step, real);
        let fill = Behaviour::CacheFill {
            samples: 3,
            height: 16.0 * MIB + 0.05 * b,
        };
        add("cache fills, then flat", base, fill, real);
        let saw = Behaviour::Sawtooth {
            period: 4,
            amplitude: 6.0 * MIB + 0.03 * b,
        };
        add("sawtooth", base, saw, real);
        let bursts = Behaviour::Bursty {
            probability: 0.15,
            height: 0.25 * b,
        };
        add("bursts of large allocations", base, bursts, real);
        let sizing = Behaviour::GcSizing {
            samples: 10,
            height: 0.23 * b,
        };
        add("GC sizing (+23% over 10 samples)", base, sizing, real);
    }
    add("flat, ±5% noise", 20.0, Behaviour::Flat, uniform);
    let step = Behaviour::Step {
        at: 4,
        height: 8.0 * MIB,
    };
    add("one step, ±5% noise", 20.0, step, uniform);
    let saw = Behaviour::Sawtooth {
        period: 4,
        amplitude: 6.0 * MIB,
    };
    add("sawtooth, ±5% noise", 20.0, saw, uniform);
    let fill = Behaviour::CacheFill {
        samples: 3,
        height: 16.0 * MIB,
    };
    add("cache fills, ±5% noise", 20.0, fill, uniform);
    // A known limit: still filling at the first look (1 warm-up + 4).
    let slow_fill = Behaviour::CacheFill {
        samples: 5,
        height: 16.0 * MIB,
    };
    add("cache still filling at sample 5", 20.0, slow_fill, real);
    v
}

/// What one configuration of the gate concluded over all seeds.
#[derive(Default, Clone)]
struct Tally {
    fixed: Vec<u64>,
    auto_failed: u64,
    auto_samples: u64,
    previous_at_9: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        if self.fixed.len() < other.fixed.len() {
            self.fixed.resize(other.fixed.len(), 0);
        }
        for (a, b) in self.fixed.iter_mut().zip(&other.fixed) {
            *a += b;
        }
        self.auto_failed += other.auto_failed;
        self.auto_samples += other.auto_samples;
        self.previous_at_9 += other.previous_at_9;
    }
}

/// The value after `flag`, parsed.
fn flag_value<T: std::str::FromStr>(args: &[String], flag: &str) -> Option<T> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
}

/// `f` for seeds 0..seeds on `threads` threads, in seed order.
fn per_seed<T: Send>(seeds: u64, threads: usize, f: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, seeds.max(1) as usize);
    let f = &f;
    let mut all: Vec<(u64, T)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t as u64..seeds)
                        .step_by(threads)
                        .map(|seed| (seed, f(seed)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker"))
            .collect()
    });
    all.sort_by_key(|(seed, _)| *seed);
    all.into_iter().map(|(_, t)| t).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = flag_value(&args, "--seeds").unwrap_or(1000);
    let threads: usize = flag_value(&args, "--threads")
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let detail = args.iter().any(|a| a == "--detail");
    let show_wrong = args.iter().any(|a| a == "--show-wrong");
    let only: Option<String> = flag_value(&args, "--only");
    let family_only = args.iter().any(|a| a == "--family");
    let no_family = args.iter().any(|a| a == "--no-family");
    let family_seeds: u64 = flag_value(&args, "--family-seeds").unwrap_or(seeds.min(FAMILY_SEEDS));
    if !family_only {
        memory_table(seeds, threads, detail, show_wrong, only.as_deref());
    }
    if !no_family {
        family_table(family_seeds, threads, detail, only.as_deref());
    }
}

fn memory_table(seeds: u64, threads: usize, detail: bool, show_wrong: bool, only: Option<&str>) {
    let counts: Vec<usize> = if detail {
        vec![5, 6, 7, 9, 12, 20]
    } else {
        vec![5, 9, 12]
    };
    let plan = SamplingPlan::default();
    let budget: Budget = serde_saphyr::from_str("metric: committed.unknown\n").expect("a budget");
    let budgets = [BudgetRule::new(budget, 1, 1).expect("a valid budget")];
    let alone = JudgeOptions {
        live_heap: None,
        ..JudgeOptions::default()
    };
    let with_live = JudgeOptions {
        live_heap: Some(Metric::GcLive),
        ..JudgeOptions::default()
    };

    let mut rows = Vec::new();
    for s in situations() {
        if only.is_some_and(|o| !s.name.contains(o)) {
            continue;
        }
        let runs = per_seed(seeds, threads, |seed| {
            let mut tallies = [Tally::default(), Tally::default()];
            let mut wrong: BTreeMap<String, u64> = BTreeMap::new();
            for t in &mut tallies {
                t.fixed = vec![0; counts.len()];
            }
            let m = memory(plan.max_count, s.base_mib * MIB, s.behaviour, s.noise, seed);
            for (t, options) in tallies.iter_mut().zip([&with_live, &alone]) {
                for (c, &n) in counts.iter().enumerate() {
                    let samples = m.prefix(n).samples();
                    let v = judge(&samples, &budgets, &TypeFilter::none(), options);
                    t.fixed[c] += (v.status == Status::Fail) as u64;
                    if detail && n == 9 && (v.status == Status::Fail) != s.behaviour.is_leak() {
                        let why = v.checks.first().map(|c| c.trend_reason);
                        let key = format!(
                            "{}{why:?}",
                            if options.live_heap.is_some() {
                                "live "
                            } else {
                                ""
                            }
                        );
                        *wrong.entry(key).or_default() += 1;
                    }
                }
                let show = show_wrong.then_some(s.behaviour.is_leak());
                let (failed, taken) = run_auto(&m, &budgets, options, &plan, show);
                t.auto_failed += failed as u64;
                t.auto_samples += taken as u64;
                if detail {
                    t.previous_at_9 += previous_rule(&m.committed[1..9]) as u64;
                }
            }
            (tallies, wrong)
        });
        let mut tallies = [Tally::default(), Tally::default()];
        let mut wrong: BTreeMap<String, u64> = BTreeMap::new();
        for (t, w) in runs {
            tallies[0].add(&t[0]);
            tallies[1].add(&t[1]);
            for (k, n) in w {
                *wrong.entry(k).or_default() += n;
            }
        }
        rows.push((s, tallies, wrong));
    }
    if rows.is_empty() {
        return;
    }

    let pct = |k: u64| 100.0 * k as f64 / seeds as f64;
    let header: Vec<String> = counts.iter().map(|n| format!("count {n}")).collect();
    for (title, which) in [
        ("with the live heap (gc.live)", 0),
        ("committed memory alone", 1),
    ] {
        println!(
            "\n{title}: % of {seeds} runs that fail (detection for leaks, false alarms otherwise)\n"
        );
        let extra = if detail {
            " | previous rule, count 9"
        } else {
            ""
        };
        println!(
            "| situation | base | {} | auto | auto: mean samples{extra} |",
            header.join(" | ")
        );
        println!(
            "|---|---:|{}---:|---:|{}",
            "---:|".repeat(counts.len()),
            if detail { "---:|" } else { "" }
        );
        for (s, tallies, _) in &rows {
            let t = &tallies[which];
            let cells: Vec<String> = t.fixed.iter().map(|k| format!("{:.1}", pct(*k))).collect();
            let prev = if detail {
                format!(" | {:.1}", pct(t.previous_at_9))
            } else {
                String::new()
            };
            println!(
                "| {}{} | {} MiB | {} | {:.1} | {:.1}{prev} |",
                if s.behaviour.is_leak() {
                    "**leak**: "
                } else {
                    ""
                },
                s.name,
                s.base_mib,
                cells.join(" | "),
                pct(t.auto_failed),
                t.auto_samples as f64 / seeds as f64
            );
        }
    }
    if detail {
        println!("\nwrong at count 9, by trend reason:");
        for (s, _, wrong) in &rows {
            if !wrong.is_empty() {
                println!("  {} @{} MiB: {wrong:?}", s.name, s.base_mib);
            }
        }
    }
}

/// Runs per family situation by default: each judges 1,500 types many
/// times over (`--family-seeds` or a lower `--seeds` changes it).
const FAMILY_SEEDS: u64 = 50;

struct FamilySituation {
    name: &'static str,
    shape: FamilyShape,
}

fn family_situations() -> Vec<FamilySituation> {
    let s = |name, shape| FamilySituation { name, shape };
    vec![
        s(
            "no leak: flat, in flight, caches fill over 2-5 samples",
            FamilyShape::quiet(),
        ),
        s(
            "no leak: caches still filling at the first judged sample (fill over 4-6)",
            FamilyShape::caches_still_filling(),
        ),
        s(
            "leak 64 KiB/sample (32 × 2 KiB)",
            FamilyShape::leak(32, 2048),
        ),
        s(
            "leak 128 KiB/sample (64 × 2 KiB)",
            FamilyShape::leak(64, 2048),
        ),
        s(
            "leak 256 KiB/sample (128 × 2 KiB)",
            FamilyShape::leak(128, 2048),
        ),
        s(
            "leak 128 KiB/sample (2 × 64 KiB)",
            FamilyShape::leak(2, 65536),
        ),
        s("leak 4 objects/sample (4 × 48 B)", FamilyShape::leak(4, 48)),
        s(
            "one leak, 4 types: 128 KiB/sample (4 × 16 × 2 KiB)",
            FamilyShape::split_leak(16, 2048, 4),
        ),
    ]
}

/// What one budget set concluded about a family over all seeds: runs in
/// which the leaking type's check failed, and runs in which any other
/// check failed.
#[derive(Default, Clone)]
struct FamilyTally {
    leak_fixed: Vec<u64>,
    other_fixed: Vec<u64>,
    leak_auto: u64,
    other_auto: u64,
    auto_samples: u64,
}

impl FamilyTally {
    fn new(counts: usize) -> FamilyTally {
        FamilyTally {
            leak_fixed: vec![0; counts],
            other_fixed: vec![0; counts],
            ..FamilyTally::default()
        }
    }
    fn add(&mut self, o: &FamilyTally) {
        for (a, b) in self.leak_fixed.iter_mut().zip(&o.leak_fixed) {
            *a += b;
        }
        for (a, b) in self.other_fixed.iter_mut().zip(&o.other_fixed) {
            *a += b;
        }
        self.leak_auto += o.leak_auto;
        self.other_auto += o.other_auto;
        self.auto_samples += o.auto_samples;
    }
}

/// Whether, among `checks` of the budgets in `set`, a check of the leak
/// (one of its types, or a finding holding one) failed, and whether any
/// other failed.
fn family_failures(checks: &[Check], set: &[usize]) -> (bool, bool) {
    let mut leak = false;
    let mut other = false;
    for c in checks
        .iter()
        .filter(|c| set.contains(&c.budget_index) && c.status == Status::Fail)
    {
        let of_leak = if c.members.is_empty() {
            c.type_name.as_deref().is_some_and(is_family_leak)
        } else {
            c.members.iter().any(|t| is_family_leak(t))
        };
        if of_leak {
            leak = true;
        } else {
            other = true;
        }
    }
    (leak, other)
}

/// The verdict with its findings judged, as the pipeline would: the types
/// traced for it grouped by their holders ([`family_findings`]).
fn with_findings(
    mut v: Verdict,
    samples: &[SampleMetrics],
    budgets: &[BudgetRule],
    options: &JudgeOptions,
) -> Verdict {
    let judged = &samples[v.judged_from.min(samples.len())..];
    let traced = traced(&v, judged, &TypeFilter::none(), options.alpha);
    let found = family_findings(&traced.types);
    judge_findings(&mut v, &found, samples, budgets, options);
    v
}

/// The kind of a generated type, from its name (see `testing::family`).
fn type_kind(name: &str) -> &str {
    if name.contains(" types held by ") {
        "finding"
    } else if is_family_leak(name) {
        "leaking type"
    } else if name.starts_with("System.") {
        "busy"
    } else if name.starts_with("App.Caches.") {
        "cache"
    } else if name.starts_with("App.Requests.") {
        "in flight"
    } else {
        "flat"
    }
}

fn family_table(seeds: u64, threads: usize, detail: bool, only: Option<&str>) {
    let counts: Vec<usize> = if detail {
        vec![5, 7, 9, 13, 20]
    } else {
        vec![5, 9, 13]
    };
    let plan = SamplingPlan::default();
    let all_budgets = budgets(
        "- metric: heap.bytes\n  types: \"*\"\n  trend: fail\n\
         - metric: heap.count\n  types: \"*\"\n  trend: fail\n",
    );
    // Budget sets, by their indices in `all_budgets`. Fixed counts judge
    // both budgets at once and read each set's checks; `auto` samples for
    // each set on its own, as a scenario with only those budgets would —
    // for both together only with `--detail` (half as long again).
    let sets: [(&str, &[usize]); 3] = [
        ("heap.bytes", &[0]),
        ("heap.count", &[1]),
        ("both", &[0, 1]),
    ];
    let runs_auto = |set: &[usize]| detail || set.len() == 1;
    let options = JudgeOptions {
        warmup_samples: 1,
        live_heap: None,
        ..JudgeOptions::default()
    };
    let situations: Vec<FamilySituation> = family_situations()
        .into_iter()
        .filter(|s| only.is_none_or(|o| s.name.contains(o)))
        .collect();
    if situations.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    for s in situations {
        let runs = per_seed(seeds, threads, |seed| {
            let all = family(plan.max_count, s.shape, seed);
            let mut tallies: Vec<FamilyTally> = sets
                .iter()
                .map(|_| FamilyTally::new(counts.len()))
                .collect();
            let mut wrong: BTreeMap<String, u64> = BTreeMap::new();
            for (c, &n) in counts.iter().enumerate() {
                let v = judge(&all[..n], &all_budgets, &TypeFilter::none(), &options);
                let v = with_findings(v, &all[..n], &all_budgets, &options);
                for (t, (_, set)) in tallies.iter_mut().zip(&sets) {
                    let (leak, other) = family_failures(&v.checks, set);
                    t.leak_fixed[c] += leak as u64;
                    t.other_fixed[c] += other as u64;
                }
                if detail && n == 9 {
                    for ch in &v.checks {
                        let is_leak = if ch.members.is_empty() {
                            ch.type_name.as_deref().is_some_and(is_family_leak)
                        } else {
                            ch.members.iter().any(|t| is_family_leak(t))
                        };
                        let failed = ch.status == Status::Fail;
                        if failed != (is_leak && s.shape.is_leak()) {
                            let kind = type_kind(ch.type_name.as_deref().unwrap_or(""));
                            let verb = if failed { "fails" } else { "passes" };
                            let key =
                                format!("{} {kind} {verb} ({:?})", ch.metric, ch.trend_reason);
                            *wrong.entry(key).or_default() += 1;
                        }
                    }
                }
            }
            for (t, (_, set)) in tallies.iter_mut().zip(&sets) {
                if !runs_auto(set) {
                    continue;
                }
                let budgets: Vec<BudgetRule> =
                    set.iter().map(|&i| all_budgets[i].clone()).collect();
                let (v, taken, _) = auto_verdict(&all, &budgets, &options, &plan);
                let v = with_findings(v, &all[..taken], &budgets, &options);
                // `budgets` is a subset: its indices are 0.., in `set`'s order.
                let (leak, other) = family_failures(&v.checks, &(0..set.len()).collect::<Vec<_>>());
                t.leak_auto += leak as u64;
                t.other_auto += other as u64;
                t.auto_samples += taken as u64;
            }
            (tallies, wrong)
        });
        let mut tallies: Vec<FamilyTally> = sets
            .iter()
            .map(|_| FamilyTally::new(counts.len()))
            .collect();
        let mut wrong: BTreeMap<String, u64> = BTreeMap::new();
        for (t, w) in runs {
            for (a, b) in tallies.iter_mut().zip(&t) {
                a.add(b);
            }
            for (k, n) in w {
                *wrong.entry(k).or_default() += n;
            }
        }
        rows.push((s, tallies, wrong));
    }
    let elapsed = started.elapsed().as_secs_f64();

    let pct = |k: u64| 100.0 * k as f64 / seeds as f64;
    let header: Vec<String> = counts.iter().map(|n| format!("count {n}")).collect();
    println!(
        "\nper-type family: {FAMILY_TYPES} types after an induced GC (testing::family), budgets \
         `metric: heap.bytes` and `metric: heap.count` with `types: \"*\"`, `trend: fail`, \
         warm-up 1; {seeds} runs per situation ({elapsed:.0} s)"
    );
    for (title, leaks_only) in [
        (
            "detection: % of runs in which the leaking type's check fails",
            true,
        ),
        (
            "family-wise false alarms: % of runs in which any other type's check fails",
            false,
        ),
    ] {
        println!("\n{title}\n");
        println!(
            "| situation | budget | {} | auto | auto: mean samples |",
            header.join(" | ")
        );
        println!("|---|---|{}---:|---:|", "---:|".repeat(counts.len()));
        for (s, tallies, _) in &rows {
            if leaks_only && !s.shape.is_leak() {
                continue;
            }
            for (t, (set_name, set)) in tallies.iter().zip(&sets) {
                let (fixed, auto) = if leaks_only {
                    (&t.leak_fixed, t.leak_auto)
                } else {
                    (&t.other_fixed, t.other_auto)
                };
                let cells: Vec<String> = fixed.iter().map(|k| format!("{:.1}", pct(*k))).collect();
                let auto = if runs_auto(set) {
                    format!(
                        "{:.1} | {:.1}",
                        pct(auto),
                        t.auto_samples as f64 / seeds as f64
                    )
                } else {
                    "— | —".to_string()
                };
                println!(
                    "| {}{} | {set_name} | {} | {auto} |",
                    if s.shape.is_leak() { "**leak**: " } else { "" },
                    s.name,
                    cells.join(" | "),
                );
            }
        }
    }
    if detail {
        println!(
            "\nfamily, wrong checks at count 9 (summed over runs), by kind of type and trend reason:"
        );
        for (s, _, wrong) in &rows {
            if !wrong.is_empty() {
                println!("  {}: {wrong:?}", s.name);
            }
        }
    }
}

/// Samples one at a time until `next_step` stops; the verdict at the stop
/// (at its look's level), the samples taken and the stop (`None`: it never
/// stopped, and the verdict is of all the samples).
fn auto_verdict(
    all: &[SampleMetrics],
    budgets: &[BudgetRule],
    options: &JudgeOptions,
    plan: &SamplingPlan,
) -> (Verdict, usize, Option<Stop>) {
    for taken in 1..=all.len() {
        let samples = &all[..taken];
        if let Next::Stop(stop) = next_step(samples, budgets, &TypeFilter::none(), options, plan) {
            let decided = JudgeOptions {
                alpha: stop.alpha,
                ..options.clone()
            };
            let v = judge(samples, budgets, &TypeFilter::none(), &decided);
            return (v, taken, Some(stop));
        }
    }
    let v = judge(all, budgets, &TypeFilter::none(), options);
    (v, all.len(), None)
}

/// Samples one at a time until `next_step` stops; (failed, samples taken).
/// With `show_wrong: Some(is_leak)`, prints each run decided the wrong way.
fn run_auto(
    m: &Memory,
    budgets: &[BudgetRule],
    options: &JudgeOptions,
    plan: &SamplingPlan,
    show_wrong: Option<bool>,
) -> (bool, usize) {
    let all = m.samples();
    let (v, taken, stop) = auto_verdict(&all, budgets, options, plan);
    let Some(stop) = stop else {
        return (false, all.len());
    };
    let failed = v.status == Status::Fail;
    if show_wrong.is_some_and(|leak| failed != leak) {
        let mib: Vec<String> = m.committed[..taken]
            .iter()
            .map(|c| format!("{:.1}", c / MIB))
            .collect();
        eprintln!("  committed MiB [{}]: {stop}", mib.join(", "));
    }
    (failed, taken)
}

/// The rule before this change (line versus one step, still rising over the
/// later half, 2% floor, normal-approximation p), as a baseline.
fn previous_rule(values: &[f64]) -> bool {
    use leakgate_gate::trend::{mann_kendall, normal_cdf, theil_sen};
    let n = values.len();
    let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let mk = mann_kendall(values);
    let p = if mk.var_s > 0.0 {
        1.0 - normal_cdf(mk.z)
    } else {
        1.0
    };
    let slope = theil_sen(&x, values, 0.05).map_or(0.0, |t| t.slope);
    let floor = (0.02 * values[0].abs()).max(MIB);
    let half = n.div_ceil(2).max(3).min(n);
    let later = &values[n - half..];
    let later_slope = theil_sen(&x[..half], later, 0.05).map_or(0.0, |t| t.slope);
    let later_s = mann_kendall(later).s;
    let med = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        let k = v.len();
        if k % 2 == 1 {
            v[k / 2]
        } else {
            (v[k / 2 - 1] + v[k / 2]) / 2.0
        }
    };
    let dev = |v: &[f64], c: f64| v.iter().map(|x| (x - c).abs()).sum::<f64>();
    let r: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(i, v)| v - slope * i as f64)
        .collect();
    let line = dev(&r, med(&r));
    let step = (1..n)
        .map(|k| {
            let (a, b) = values.split_at(k);
            dev(a, med(a)) + dev(b, med(b))
        })
        .fold(f64::INFINITY, f64::min);
    p < 0.05
        && slope > 0.0
        && slope * (n - 1) as f64 >= floor
        && later_slope >= slope / 3.0
        && later_s > 0.0
        && line <= step
}
