//! Judges the samples of saved runs again with today's rule: fixed count
//! and, replayed sample by sample, `count: auto`.
//!
//! `cargo run -p leakgate-gate --example rejudge -- SCENARIO.yaml OUT_DIR...`
//!
//! Each OUT_DIR is a run's output directory (its `report.json` holds the
//! samples); the scenario gives the budgets, `ignore`, `materiality` and
//! the warm-up. Prints the status of every check that fails or whose trend
//! is significant, then what `auto` would have decided at each look.

use leakgate_gate::judge::{JudgeOptions, judge};
use leakgate_gate::sequential::{Next, SamplingPlan, next_step};
use leakgate_gate::series::SampleMetrics;
use leakgate_gate::units::human;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((scenario, outs)) = args.split_first() else {
        eprintln!("usage: rejudge SCENARIO.yaml OUT_DIR...");
        std::process::exit(2);
    };
    let scenario = leakgate_scenario::load(scenario).unwrap_or_else(|e| panic!("{e}"));
    let options = JudgeOptions {
        warmup_samples: scenario.sampling.warmup_samples,
        materiality: scenario.materiality,
        ..JudgeOptions::default()
    };
    for out in outs {
        let text = std::fs::read_to_string(format!("{out}/report.json")).expect("report.json");
        let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let samples: Vec<SampleMetrics> =
            serde_json::from_value(report["samples"].clone()).expect("samples");
        let v = judge(&samples, &scenario.budgets, &scenario.ignore, &options);
        println!("== {out}: {} samples, {}", samples.len(), v.status);
        for c in &v.checks {
            let p = c.mk_p_value.unwrap_or(1.0);
            if c.status != leakgate_gate::judge::Status::Pass || p < 0.05 {
                println!(
                    "  {:4} {} {}: {} → {}, {:?}/1k, p {:.2e} adj {:?} [{}]: {}",
                    c.status.to_string(),
                    c.metric,
                    c.type_name.as_deref().unwrap_or(""),
                    human(c.first, c.unit),
                    human(c.last, c.unit),
                    c.slope_per_1k_requests.map(|s| human(s, c.unit)),
                    p,
                    c.mk_p_adjusted,
                    c.family_size.unwrap_or(0),
                    c.reason_texts().join("; ")
                );
            }
        }
        let plan = SamplingPlan::default();
        for taken in 1..=samples.len() {
            let next = next_step(
                &samples[..taken],
                &scenario.budgets,
                &scenario.ignore,
                &options,
                &plan,
            );
            match next {
                Next::Continue { reason } if taken == samples.len() => {
                    println!("  auto after {taken}: continue ({reason:?})")
                }
                Next::Continue { .. } => {}
                Next::Stop(stop) => {
                    println!("  auto: {stop}");
                    break;
                }
            }
        }
    }
}
