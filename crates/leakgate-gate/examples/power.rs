//! How often the gate fails generated services, leaking and not.
//!
//! `cargo run --release -p leakgate-gate --example power [-- --seeds N] [--detail] [--only TEXT] [--show-wrong]`
//!
//! Every situation is a [`memory`] series (realistic noise after an induced
//! GC, or the older ±5% uniform model) judged by one budget on
//! `committed.unknown` (`trend: fail`, warm-up 1), with the live heap
//! (`gc.live`) and without it (committed memory alone, as with `dump:
//! none` and `gc_before_sample: false`). Columns: `count N` = a fixed `sampling.count` (N − 1 judged);
//! `auto` = `sampling.count: auto` (min 5, max 20) with the mean number of
//! samples it took. For leaks the cells are detection rates, for the rest
//! false-alarm rates. `--seeds` (default 1,000; about a minute) sets the
//! runs per situation, `--only` keeps the situations whose name contains
//! TEXT, `--detail` adds more counts, the previous rule and the reasons of
//! wrong decisions at count 9, `--show-wrong` prints every run `auto`
//! decided the wrong way, with why it stopped.

use std::collections::BTreeMap;

use leakgate_gate::judge::{JudgeOptions, Status, judge};
use leakgate_gate::sequential::{Next, SamplingPlan, next_step};
use leakgate_gate::testing::{Behaviour, Memory, Noise, memory};
use leakgate_scenario::budget::{Budget, Metric};
use leakgate_scenario::{BudgetRule, TypeFilter};

const MIB: f64 = 1048576.0;

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
    let slow = Behaviour::Leak {
        per_sample: 0.25 * MIB,
    };
    add("slow leak 0.25 MiB/sample", 20.0, slow, real);
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = args
        .iter()
        .position(|a| a == "--seeds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let detail = args.iter().any(|a| a == "--detail");
    let show_wrong = args.iter().any(|a| a == "--show-wrong");
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

    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let mut rows = Vec::new();
    for s in situations() {
        if only.as_ref().is_some_and(|o| !s.name.contains(o.as_str())) {
            continue;
        }
        let mut tallies = [Tally::default(), Tally::default()];
        let mut wrong: BTreeMap<String, u64> = BTreeMap::new();
        for t in &mut tallies {
            t.fixed = vec![0; counts.len()];
        }
        for seed in 0..seeds {
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
        }
        rows.push((s, tallies, wrong));
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
    for taken in 1..=all.len() {
        let samples = &all[..taken];
        if let Next::Stop(stop) = next_step(samples, budgets, &TypeFilter::none(), options, plan) {
            let decided = JudgeOptions {
                alpha: stop.alpha,
                ..options.clone()
            };
            let v = judge(samples, budgets, &TypeFilter::none(), &decided);
            let failed = v.status == Status::Fail;
            if show_wrong.is_some_and(|leak| failed != leak) {
                let mib: Vec<String> = m.committed[..taken]
                    .iter()
                    .map(|c| format!("{:.1}", c / MIB))
                    .collect();
                eprintln!("  committed MiB [{}]: {stop}", mib.join(", "));
            }
            return (failed, taken);
        }
    }
    (false, all.len())
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
