//! What retention paths cost per analyzed sample on a big heap: the inspector's heap-graph
//! export (on top of the summary it computes anyway, in the same heap walk), the graph file's
//! size, reading it in Rust, the breadth-first search and the grouping. Target: at most ~3 s
//! added per sample on a 1 GiB heap of 10^6 objects. Prints numbers; asserts nothing.
//!
//! `cargo run --release -p leakgate-dotnet --example paths_cost [MIB [OBJECTS]]`
//!
//! Starts the LeakyService fixture, grows its heap with `/grow` (default 1024 MiB held by
//! 500,000 nodes, each with a payload array: ~10^6 objects), adds the fixture's leaks, induces
//! a full GC, takes a withheap dump over the diagnostics IPC, measures, and deletes the dump.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use leakgate_dotnet::inspector::{Inspector, read_heap_graph};
use leakgate_dotnet::ipc::{DiagnosticsClient, DumpKind};
use leakgate_heap::{PathOptions, ShortestPaths};

#[path = "../tests/support/mod.rs"]
mod support;

use support::FixtureService;

const RUNS: usize = 3;
const TYPES: [&str; 3] = [
    "GrowthNode",
    "System.Reflection.Emit.DynamicResolver",
    "StaticHeldEntry",
];

/// Deleted on drop: dumps are large and hold process memory.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The inspector's own phase timings (it prints them on stderr), from one direct run.
fn phases(inspector: &Inspector, dump: &Path, graph: Option<&Path>) -> String {
    let mut command = Command::new(inspector.dotnet());
    command.arg(inspector.dll()).arg(dump);
    if let Some(graph) = graph {
        command.arg("--heap-graph").arg(graph);
    }
    let output = command.output().expect("the inspector runs");
    String::from_utf8_lossy(&output.stderr)
        .trim()
        .trim_start_matches("leakgate-inspector timings: ")
        .to_string()
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("MIB and OBJECTS are numbers"))
        .collect();
    let mib = args.first().copied().unwrap_or(1024);
    let nodes = args.get(1).copied().unwrap_or(1_000_000) / 2; // a node and its payload

    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/paths-cost-cache");
    let inspector = Inspector::ensure_built(Some(&cache)).expect("the inspector builds");

    let service = FixtureService::start();
    let steps = mib.div_ceil(128).max(1);
    let (_, grow) = timed(|| {
        for _ in 0..steps {
            service.get(&format!(
                "/grow?mb={}&objects={}",
                mib / steps,
                nodes / steps
            ));
        }
        for _ in 0..200 {
            service.get("/leak/dynamic-method");
            service.get("/leak/static");
        }
    });
    let client = DiagnosticsClient::for_pid(service.pid()).expect("diagnostics socket");
    client
        .induce_gc(Duration::from_secs(60))
        .expect("induced GC");
    let dump = Scratch(
        std::env::temp_dir().join(format!("leakgate-paths-cost-{}.core", std::process::id())),
    );
    let (_, dumping) = timed(|| client.write_dump(&dump.0, DumpKind::WithHeap));
    drop(service);
    let dump_size = std::fs::metadata(&dump.0).expect("the dump").len();
    println!(
        "heap grown in {:.1} s; withheap dump of {:.0} MiB in {:.1} s",
        secs(grow),
        dump_size as f64 / 1048576.0,
        secs(dumping)
    );

    let graph_file = Scratch(dump.0.with_extension("graph"));
    // Alternate the two modes so that page-cache warmth favours neither.
    let (mut plain, mut with_graph) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        plain.push(timed(|| inspector.inspect(&dump.0).expect("inspects")).1);
        with_graph.push(
            timed(|| {
                inspector
                    .inspect_with_heap_graph(&dump.0, &graph_file.0)
                    .expect("inspects with the graph")
            })
            .1,
        );
    }
    let (plain, with_graph) = (median(plain), median(with_graph));
    let file_size = std::fs::metadata(&graph_file.0)
        .expect("the graph file")
        .len();

    let (mut loads, mut searches, mut groupings) = (Vec::new(), Vec::new(), Vec::new());
    let mut report = Vec::new();
    for _ in 0..RUNS {
        let (graph, load) = timed(|| read_heap_graph(&graph_file.0).expect("the graph reads"));
        let (paths, search) = timed(|| ShortestPaths::compute(&graph));
        let (groups, grouping) = timed(|| {
            TYPES
                .iter()
                .map(|t| paths.type_paths(t, &PathOptions::default()))
                .collect::<Vec<_>>()
        });
        loads.push(load);
        searches.push(search);
        groupings.push(grouping);
        report = vec![format!(
            "graph: {} objects, {} references, {} roots, {} types; {} reachable; \
             {} unresolved references",
            graph.object_count(),
            graph.edge_count(),
            graph.roots().len(),
            graph.stats().types,
            paths.reachable_count(),
            graph.stats().unresolved_edges
        )];
        for paths in &groups {
            let top = paths.groups.first();
            report.push(format!(
                "  {}: {} instances, {} groups; top: {}",
                paths.type_name,
                paths.instances,
                paths.groups.len(),
                top.map(|g| format!("{} × {}", g.estimated, g.path.abbreviated(6)))
                    .unwrap_or_default()
            ));
        }
    }
    let (load, search, grouping) = (median(loads), median(searches), median(groupings));
    report.iter().for_each(|line| println!("{line}"));

    println!(
        "inspector, summary only:      {:>6.2} s (median of {RUNS})",
        secs(plain)
    );
    println!("inspector, summary + graph:   {:>6.2} s", secs(with_graph));
    println!(
        "graph file:                   {:>6.1} MiB",
        file_size as f64 / 1048576.0
    );
    println!("Rust: read the graph file:    {:>6.3} s", secs(load));
    println!("Rust: breadth-first search:   {:>6.3} s", secs(search));
    println!(
        "Rust: group {} types:          {:>6.3} s",
        TYPES.len(),
        secs(grouping)
    );
    let added = with_graph.saturating_sub(plain) + load + search + grouping;
    let standalone = with_graph + load + search + grouping;
    println!(
        "added per sample (graph in the summary's run): {:.2} s; as a run of its own: {:.2} s; \
         target 3 s: {}",
        secs(added),
        secs(standalone),
        if added.as_secs_f64() <= 3.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "inspector phases, summary only:  {}",
        phases(&inspector, &dump.0, None)
    );
    println!(
        "inspector phases, summary+graph: {}",
        phases(&inspector, &dump.0, Some(&graph_file.0))
    );
}
