//! A heap snapshot of 10^6 and 10^7 objects end to end, as `dump: gcdump` reads one: the
//! runtime's events in a `.nettrace` file → parse ([`read_nettrace`]) → heap graph
//! ([`heap_graph`]) → shortest paths (BFS) → dominator tree → retention paths of two types.
//! Prints time and leakgate memory per stage. Target at 10^7 objects: dominators ≤ 5 s and
//! ≤ 80 bytes/object; graph + BFS + dominators well under 150 bytes/object.
//!
//! ```text
//! cargo run --release -p leakgate-dotnet --example heap_scale [-- 1000000 10000000]
//! ```
//!
//! The trace is [`ScaleHeap`]'s (a service-like heap: dictionaries, long linked lists, 3,000
//! container types, a chain through the heap, a few roots), written to a temporary directory
//! (~60 bytes per object on disk) and deleted afterwards. Memory per stage is the peak of
//! bytes allocated above those held before the stage (a counting allocator: exact, whatever
//! malloc keeps cached), and what the stage leaves held; "held" is everything leakgate holds
//! then. The process's peak resident size (VmHWM) over the whole pipeline is printed last.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use leakgate_dotnet::gcheap::{heap_graph, read_nettrace, synth::ScaleHeap};
use leakgate_heap::{DominatorTree, PathOptions, ShortestPaths};

#[path = "../../leakgate-heap/examples/support/measure.rs"]
mod measure;
use measure::{cpu_seconds, reset_peak_rss, status_kib};

/// One stage's cost.
struct Stage {
    name: &'static str,
    wall: Duration,
    /// CPU time of this process (user + system): what the stage costs a free core.
    cpu: f64,
    /// Peak bytes allocated during the stage above those held before it.
    peak: usize,
    /// Bytes held after the stage (by everything still alive).
    held: usize,
}

/// Runs `f` as one stage and records its cost.
fn stage<T>(stages: &mut Vec<Stage>, name: &'static str, f: impl FnOnce() -> T) -> T {
    let before = measure::reset();
    let (start, cpu) = (Instant::now(), cpu_seconds().unwrap_or(0.0));
    let value = f();
    let wall = start.elapsed();
    let (peak, held) = measure::peak_and_held();
    stages.push(Stage {
        name,
        wall,
        cpu: cpu_seconds().unwrap_or(0.0) - cpu,
        peak: peak - before,
        held,
    });
    value
}

fn main() {
    let sizes = measure::sizes();
    println!("machine: {}", uptime());
    for objects in sizes {
        run(objects);
    }
}

fn run(objects: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("heap.nettrace");
    let start = Instant::now();
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).expect("trace file"));
    ScaleHeap::new(objects)
        .write(&mut out)
        .expect("the trace is written");
    out.flush().expect("the trace is written");
    drop(out);
    let file_bytes = std::fs::metadata(&path).expect("trace file").len();
    println!(
        "\n{objects} objects: trace {:.0} MiB ({:.1} bytes/object) written in {:.1} s",
        file_bytes as f64 / (1 << 20) as f64,
        file_bytes as f64 / objects as f64,
        start.elapsed().as_secs_f64()
    );

    reset_peak_rss();
    let rss_before = status_kib("VmHWM").unwrap_or(0);
    let mut stages = Vec::new();
    let snapshot = stage(&mut stages, "parse (nettrace → snapshot)", || {
        read_nettrace(&path).expect("the trace reads")
    });
    let graph = stage(&mut stages, "graph (snapshot → HeapGraph)", || {
        heap_graph(&snapshot).expect("the graph builds")
    });
    // What a sample keeps: the graph; the snapshot goes once summarised.
    let edges_in_snapshot = snapshot.edges.len();
    stage(&mut stages, "drop the snapshot", || drop(snapshot));
    let paths = stage(&mut stages, "BFS (shortest paths)", || {
        ShortestPaths::compute(&graph)
    });
    let tree = stage(&mut stages, "dominators", || DominatorTree::compute(&graph));
    let groups = stage(&mut stages, "type paths (2 types)", || {
        ["App.Value", "System.String"]
            .map(|t| paths.type_paths_with(t, &PathOptions::default(), Some(&tree)))
    });
    let rss_peak = status_kib("VmHWM").unwrap_or(0);
    drop(dir);

    let n = objects as f64;
    println!(
        "  {} objects, {} references ({:.2}/object; {} in the trace), {} roots, {} reachable, {} types",
        graph.object_count(),
        graph.edge_count(),
        graph.edge_count() as f64 / n,
        edges_in_snapshot,
        graph.roots().len(),
        paths.reachable_count(),
        graph.stats().types,
    );
    println!(
        "  {:<30} {:>8} {:>8} {:>14} {:>14}",
        "stage", "wall", "CPU", "peak B/object", "held B/object"
    );
    for s in &stages {
        println!(
            "  {:<30} {:>6.2} s {:>6.2} s {:>14.1} {:>14.1}",
            s.name,
            s.wall.as_secs_f64(),
            s.cpu,
            s.peak as f64 / n,
            s.held as f64 / n
        );
    }
    let load: Duration = stages[..2].iter().map(|s| s.wall).sum();
    println!(
        "  load (parse + graph) {:.2} s; peak resident {:.0} MiB ({:.1} bytes/object) above {:.0} MiB before",
        load.as_secs_f64(),
        rss_peak.saturating_sub(rss_before) as f64 / 1024.0,
        (rss_peak.saturating_sub(rss_before) * 1024) as f64 / n,
        rss_before as f64 / 1024.0,
    );
    for g in &groups {
        if let Some(top) = g.groups.first() {
            println!(
                "  {}: {} instances; top path {}",
                g.type_name,
                g.instances,
                top.path.abbreviated(6)
            );
        }
    }
}

/// The load averages, to judge the timings by (the machine may be shared).
fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| {
            format!(
                "load average {}",
                l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
            )
        })
        .unwrap_or_else(|_| "load average unknown".into())
}
