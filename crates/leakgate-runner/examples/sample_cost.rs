//! Benchmark: the cost of one sample on the real fixture service.
//!
//! ```text
//! cargo run --release -p leakgate-runner --example sample_cost [SCENARIO.yaml]
//! ```
//! Runs the scenario (default: fixtures/scenarios/healthy.yaml) with the real
//! runner and prints, per sample, how long the load was held back, the induced
//! GC, the dump (the service is suspended for most of it), reading the maps and
//! the analysis (ClrMD inspector + region summary). Prints numbers; asserts nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use leakgate_dotnet::inspector::Inspector;
use leakgate_runner::layout::OutputLayout;
use leakgate_runner::{RunOptions, run};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scenario = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("fixtures/scenarios/healthy.yaml"));
    let scenario = leakgate_scenario::load(&scenario).unwrap_or_else(|e| panic!("{e}"));
    let inspector = Inspector::ensure_built(None).unwrap_or_else(|e| panic!("{e}"));
    let out = tempfile::tempdir().unwrap();
    let layout = OutputLayout::new(out.path().to_path_buf(), &scenario.snapshot.path);
    layout.prepare().unwrap_or_else(|e| panic!("{e}"));
    let options = RunOptions {
        layout: &layout,
        inspector: Some(&inspector),
        cancel: Arc::new(AtomicBool::new(false)),
        skip_build: false,
        decide: None,
    };
    let outcome = run(&scenario, &options, &mut |_| {});
    if let Some(f) = &outcome.failure {
        eprintln!("run failed: {f}");
    }
    println!(
        "scenario {}: {} samples, {} requests",
        scenario.name,
        outcome.samples.len(),
        outcome.load.requests
    );
    println!(
        "{:>6} {:>10} {:>8} {:>9} {:>8} {:>11} {:>12} {:>10}",
        "sample", "paused ms", "gc ms", "dump ms", "maps ms", "analysis ms", "committed", "GC heap"
    );
    for s in &outcome.samples {
        let t = &s.timings;
        println!(
            "{:>6} {:>10.1} {:>8.1} {:>9.1} {:>8.1} {:>11.1} {:>10.1}Mi {:>8.1}Mi",
            s.index,
            t.load_paused_ms,
            t.gc_ms,
            t.dump_ms,
            t.maps_ms,
            t.analysis_ms,
            s.memory.committed_total as f64 / 1048576.0,
            s.memory.committed(leakgate_memory::Usage::GcHeap) as f64 / 1048576.0,
        );
    }
    let n = outcome.samples.len().max(1) as f64;
    let mean = |f: fn(&leakgate_runner::capture::SampleTimings) -> f64| {
        outcome.samples.iter().map(|s| f(&s.timings)).sum::<f64>() / n
    };
    println!(
        "mean: service paused {:.0} ms (gc {:.0} + dump {:.0} + maps {:.0}), analysis {:.0} ms",
        mean(|t| t.load_paused_ms),
        mean(|t| t.gc_ms),
        mean(|t| t.dump_ms),
        mean(|t| t.maps_ms),
        mean(|t| t.analysis_ms)
    );
}
