//! Prints how long `leakgate merge` takes for one leg whose report holds 1k,
//! 10k and 100k failing checks (each on its own type, as a crafted leg or a
//! service with many leaking types would give; each with a finding and a
//! retention path too, so every per-check lookup of the renderers is
//! exercised): reading the leg, rendering
//! the merged junit.xml and summary.md in memory, and the whole merge
//! (read, render, write every file with fsync), with the size of the leg and
//! the two renderings. Time per check should stay about flat as the count
//! grows (rendering is linear; at 100k the files are large and the disk
//! shows). Asserts nothing timed.
//!
//! `cargo run --release -p leakgate-pipeline --example merge_bench [-- COUNTS...]`

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use leakgate_gate::report::{junit, markdown, to_json};
use leakgate_pipeline::merge;
use support::many_checks;

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("counts of checks, e.g. 1000 10000"))
        .collect();
    let counts = if counts.is_empty() {
        vec![1_000, 10_000, 100_000]
    } else {
        counts
    };
    println!(
        "{:>8}  {:>10}  {:>9}  {:>9}  {:>9}  {:>12}",
        "checks", "in + out", "read", "render", "merge", "per check"
    );
    for n in counts {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let leg = dir.path().join("legs/leg-1");
        std::fs::create_dir_all(&leg).unwrap();
        let json = to_json(&many_checks(n));
        std::fs::write(leg.join("report.json"), &json).unwrap();
        let out = dir.path().join("merged");

        let start = Instant::now();
        let runs = merge::collect(&[dir.path().join("legs")], None)
            .expect("the leg reads")
            .runs;
        let read = start.elapsed();
        let start = Instant::now();
        let rendered = junit::render_all(&runs).len() + markdown::render_all(&runs).len();
        let render = start.elapsed();
        drop(runs);
        let start = Instant::now();
        let merged = merge::merge(&[dir.path().join("legs")], &out).expect("the merge");
        let total = start.elapsed();
        assert_eq!(merged.report.runs[0].checks().len(), n);
        println!(
            "{n:>8}  {:>7} MiB  {:>7.2} s  {:>7.2} s  {:>7.2} s  {:>9.1} µs",
            (json.len() + rendered) >> 20,
            read.as_secs_f64(),
            render.as_secs_f64(),
            total.as_secs_f64(),
            total.as_secs_f64() * 1e6 / n as f64
        );
    }
}
