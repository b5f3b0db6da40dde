//! What one managed inspection costs, per dump size: the inspector's wall time, and how much
//! of it is leakgate's own overhead (starting `dotnet inspector.dll`, parsing the JSON).
//! Prints numbers; asserts nothing.
//!
//! `cargo run --release -p leakgate-dotnet --example inspector_cost`
//!
//! Starts the LeakyService fixture, grows its heap with /leak/dynamic-method requests (and
//! native blocks for the large case), dumps it over the diagnostics IPC, inspects each dump
//! a few times, and deletes the dumps.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use leakgate_dotnet::inspector::{Inspector, ManagedSummary};
use leakgate_dotnet::ipc::{DiagnosticsClient, DumpKind};

#[path = "../tests/support/mod.rs"]
mod support;

use support::FixtureService as Service;

const RUNS: usize = 3;

fn hit(service: &Service, path: &str, times: usize) {
    for _ in 0..times {
        service.get(path);
    }
}

/// Deleted on drop: dumps are large and hold process memory.
struct Dump(PathBuf);

impl Drop for Dump {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn dump(service: &Service, name: &str, kind: DumpKind) -> Dump {
    let path =
        std::env::temp_dir().join(format!("leakgate-cost-{name}-{}.core", std::process::id()));
    let dump = Dump(path);
    let client = DiagnosticsClient::for_pid(service.pid()).expect("diagnostics socket");
    client.write_dump(&dump.0, kind).expect("dump written");
    dump
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn measure(inspector: &Inspector, label: &str, dump: &Dump) {
    let size = std::fs::metadata(&dump.0).unwrap().len();
    let mut totals = Vec::new();
    let mut summary: Option<ManagedSummary> = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        summary = Some(inspector.inspect(&dump.0).expect("inspects"));
        totals.push(start.elapsed());
    }
    let total = median(totals);

    // Startup alone: the same process on a file it rejects at once (runtime start + JIT of Main).
    let missing = Path::new("/nonexistent/leakgate-cost.core");
    let startups: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let _ = inspector.inspect(missing);
            start.elapsed()
        })
        .collect();
    let startup = median(startups);

    // JSON parse alone, on the very text the inspector printed.
    let output = Command::new(inspector.dotnet())
        .arg(inspector.dll())
        .arg(&dump.0)
        .output()
        .expect("inspector runs");
    let parse_start = Instant::now();
    let parsed: ManagedSummary = serde_json::from_slice(&output.stdout).expect("parses");
    let parse = parse_start.elapsed();

    let timings = String::from_utf8_lossy(&output.stderr);
    let summary = summary.unwrap();
    let objects: u64 = summary.heap_types.iter().map(|t| t.count).sum();
    assert_eq!(parsed.heap_types.len(), summary.heap_types.len());
    println!(
        "{label:>6}: dump {:>7.1} MiB, {objects:>8} heap objects, {:>5} types, JSON {:>6.1} KiB | \
         inspect {:>6.3} s (median of {RUNS}) | startup {:>6.3} s ({:>4.1}%) | parse {:>7.4} s ({:>4.2}%) | \
         reading the heap {:>6.3} s",
        size as f64 / (1024.0 * 1024.0),
        summary.heap_types.len(),
        output.stdout.len() as f64 / 1024.0,
        secs(total),
        secs(startup),
        100.0 * secs(startup) / secs(total),
        secs(parse),
        100.0 * secs(parse) / secs(total),
        secs(total.saturating_sub(startup + parse)),
    );
    println!(
        "        inspector's own phases: {}",
        timings
            .trim()
            .trim_start_matches("leakgate-inspector timings: ")
    );
}

fn main() {
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/inspector-cost-cache");
    for attempt in ["first", "second (cached)"] {
        let build_start = Instant::now();
        Inspector::ensure_built(Some(&cache)).expect("inspector builds");
        println!(
            "ensure_built, {attempt} call: {:.2} s",
            secs(build_start.elapsed())
        );
    }
    let inspector = Inspector::ensure_built(Some(&cache)).expect("inspector builds");

    let service = Service::start();
    hit(&service, "/leak/dynamic-method", 1000);
    hit(&service, "/cache/fill", 4000);
    {
        let small = dump(&service, "small", DumpKind::WithHeap);
        measure(&inspector, "small", &small);
    }

    // ~1 GiB: many more managed objects, plus native blocks so the core itself is large.
    hit(&service, "/leak/dynamic-method", 20_000);
    hit(&service, "/leak/native?kb=65536", 13);
    {
        let large = dump(&service, "large", DumpKind::WithHeap);
        measure(&inspector, "large", &large);
    }
}
