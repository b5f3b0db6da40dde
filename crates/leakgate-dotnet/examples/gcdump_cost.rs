//! What a sample costs the service, three ways: a with-heap core dump (what
//! leakgate does today), leakgate's own GC heap snapshot over EventPipe
//! (`capture_gc_heap`), and `dotnet-gcdump collect` if it is installed.
//! Prints numbers; asserts nothing.
//!
//! `cargo run --release -p leakgate-dotnet --example gcdump_cost [--payload BYTES] [--skip-dump] [--rounds N] [MIB...]`
//! (defaults: 256-byte payloads, 300 MiB; `--skip-dump` compares the snapshots only)
//!
//! The snapshot is taken twice: as leakgate takes it, and without the
//! GCHeapSurvivalAndMovement keyword (no generation ranges), the keywords
//! dotnet-gcdump enables. That keyword also makes the runtime track every
//! surviving and moved range of the induced GC, inside the pause.
//!
//! Starts the LeakyService fixture and grows its live heap with `/grow` until
//! the process's resident memory reaches each size: a chain of small objects
//! each holding a `--payload`-byte array, so the payload sets how many
//! objects a MiB holds (256: ~5500 objects per MiB, a dense heap; 8192: ~250).
//! The snapshot's cost grows with the number of objects, a dump's with bytes. For each method: its wall
//! time, the service's longest stall (a thread probes `GET /healthz` every
//! 5 ms; the slowest answer ≈ the pause), the bytes it produces (the core
//! file; the nettrace stream; the .gcdump file) and the service's peak
//! resident growth meanwhile (EventPipe buffers the heap walk inside the
//! service). For the snapshot also: parse time per million objects, re-read
//! from memory, and read back from the file a run keeps (`.nettrace.gz`):
//! how many times it is compressed (`read_nettrace` allows at most 32).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use leakgate_dotnet::gcheap::{compress_trace, managed_summary, read_gc_heap, read_nettrace};
use leakgate_dotnet::ipc::{DiagnosticsClient, DumpKind, GcDumpOptions};

#[path = "../tests/support/mod.rs"]
mod support;

/// A `Key:   N kB` field of /proc/<pid>/status, in bytes.
fn status_bytes(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// What one method cost.
struct Cost {
    wall: Duration,
    stall: Duration,
    /// Peak resident growth of the service meanwhile, if the peak could be reset.
    peak_growth: Option<u64>,
}

/// Runs `work` while probing the service; measures wall time, stall and peak memory.
fn measure<T>(pid: u32, port: u16, work: impl FnOnce() -> T) -> (T, Cost) {
    // Writing 5 to clear_refs resets VmHWM (the peak) to the current RSS.
    let peak_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let rss_before = status_bytes(pid, "VmRSS:");
    let probe = support::LatencyProbe::start(port);
    std::thread::sleep(Duration::from_millis(50)); // the prober is running
    let started = Instant::now();
    let result = work();
    let wall = started.elapsed();
    std::thread::sleep(Duration::from_millis(50)); // a probe stuck in a pause ends
    let stall = probe.stop().into_iter().max().unwrap_or_default();
    let peak = status_bytes(pid, "VmHWM:");
    let peak_growth = peak_reset.then(|| peak.saturating_sub(rss_before));
    (
        result,
        Cost {
            wall,
            stall,
            peak_growth,
        },
    )
}

fn dotnet_gcdump() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([home.join(".dotnet/tools")])
        .map(|dir| dir.join("dotnet-gcdump"))
        .find(|path| path.is_file())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// The three ways to take a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    WithHeapDump,
    Snapshot,
    /// A snapshot with dotnet-gcdump's keywords: no generation ranges.
    SnapshotWithoutRanges,
    DotnetGcdump,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::WithHeapDump => "withheap dump",
            Method::Snapshot => "capture_gc_heap",
            Method::SnapshotWithoutRanges => "  without ranges",
            Method::DotnetGcdump => "dotnet-gcdump collect",
        }
    }
}

/// Rounds per size (`--rounds N` for more on a noisy machine); the order of
/// the methods rotates, because the first GC after a change of the heap
/// costs more than the next ones.
const ROUNDS: usize = 3;

struct Bench<'a> {
    pid: u32,
    port: u16,
    client: &'a DiagnosticsClient,
    dir: &'a std::path::Path,
    tool: Option<PathBuf>,
}

impl Bench<'_> {
    /// Runs one method; returns its cost and the bytes it produced.
    fn run(&self, method: Method) -> Option<(Cost, u64)> {
        let never = AtomicBool::new(false);
        match method {
            Method::WithHeapDump => {
                let core = self.dir.join("withheap.core");
                let (result, cost) = measure(self.pid, self.port, || {
                    self.client.write_dump(&core, DumpKind::WithHeap)
                });
                result.expect("dump");
                let size = std::fs::metadata(&core).map(|m| m.len()).unwrap_or(0);
                std::fs::remove_file(&core).ok();
                Some((cost, size))
            }
            Method::Snapshot | Method::SnapshotWithoutRanges => {
                let options = GcDumpOptions {
                    timeout: Duration::from_secs(300),
                    generation_ranges: method == Method::Snapshot,
                    ..GcDumpOptions::default()
                };
                let (result, cost) = measure(self.pid, self.port, || {
                    self.client.capture_gc_heap(&options, &never)
                });
                let capture = result.expect("snapshot");
                let dump = &capture.dump;
                println!(
                    "      snapshot: {} objects, {} references, {} roots; dropped events {}, missing batches {}; {:?}",
                    dump.nodes.len(),
                    dump.edges.len(),
                    dump.roots.len(),
                    dump.dropped_events,
                    dump.missing_batches,
                    capture.timings
                );
                Some((cost, capture.trace_bytes))
            }
            Method::DotnetGcdump => {
                let tool = self.tool.as_ref()?;
                let out = self.dir.join("reference.gcdump");
                let (status, cost) = measure(self.pid, self.port, || {
                    Command::new(tool)
                        .args(["collect", "-p", &self.pid.to_string(), "-o"])
                        .arg(&out)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                });
                assert!(status.is_ok_and(|s| s.success()), "dotnet-gcdump failed");
                let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
                std::fs::remove_file(&out).ok();
                Some((cost, size))
            }
        }
    }

    /// The snapshot's trace parsed again from memory: parse and summary times.
    fn parse_rate(&self) {
        let copy = self.dir.join("snapshot.nettrace");
        let options = GcDumpOptions {
            timeout: Duration::from_secs(300),
            trace_copy: Some(copy.clone()),
            ..GcDumpOptions::default()
        };
        self.client
            .capture_gc_heap(&options, &AtomicBool::new(false))
            .expect("snapshot");
        let bytes = std::fs::read(&copy).expect("the trace copy");
        let gz = compress_trace(&copy).expect("the trace compressed");
        let gz_len = std::fs::metadata(&gz).map(|m| m.len()).unwrap_or(1);
        let started = Instant::now();
        read_nettrace(&gz).expect("the kept trace reads back");
        let from_file = started.elapsed();
        std::fs::remove_file(&gz).ok();
        let started = Instant::now();
        let dump = read_gc_heap(bytes.as_slice()).expect("re-parse");
        let parse = started.elapsed();
        let started = Instant::now();
        let summary = managed_summary(&dump, "");
        let summarise = started.elapsed();
        println!(
            "  parse from memory: {:.3} s for {} objects = {:.3} s per 10^6 objects ({:.0} MiB/s); summary {:.3} s ({} types)",
            parse.as_secs_f64(),
            dump.nodes.len(),
            parse.as_secs_f64() * 1e6 / dump.nodes.len().max(1) as f64,
            bytes.len() as f64 / (1 << 20) as f64 / parse.as_secs_f64(),
            summarise.as_secs_f64(),
            summary.heap_types.len()
        );
        println!(
            "  kept as .nettrace.gz: {} ({:.1}-fold compressed; read_nettrace allows 32), read back in {:.3} s",
            mib(gz_len),
            bytes.len() as f64 / gz_len.max(1) as f64,
            from_file.as_secs_f64()
        );
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let mut payload = 256u32;
    let mut sizes: Vec<u64> = Vec::new();
    let mut skip_dump = false;
    let mut rounds = ROUNDS;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--skip-dump" {
            skip_dump = true;
        } else if arg == "--rounds" {
            rounds = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--rounds N");
        } else if arg == "--payload" {
            payload = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--payload BYTES");
        } else {
            sizes.push(arg.parse().expect("sizes in MiB"));
        }
    }
    if sizes.is_empty() {
        sizes.push(300);
    }
    let service = support::FixtureService::start();
    let (pid, port) = (service.pid(), service.port);
    let client =
        DiagnosticsClient::wait_for(pid, Duration::from_secs(10)).expect("diagnostics socket");
    let dir = tempfile::tempdir().expect("temp dir");
    let bench = Bench {
        pid,
        port,
        client: &client,
        dir: dir.path(),
        tool: dotnet_gcdump(),
    };
    if bench.tool.is_none() {
        println!("dotnet-gcdump: not installed (dotnet tool install -g dotnet-gcdump); skipped");
    }
    // Warm up the service and the EventPipe path (JIT, first-use costs).
    for _ in 0..50 {
        service.get("/leak/dynamic-method");
        service.get("/leak/finalizable");
    }
    bench.run(Method::Snapshot);

    let methods: Vec<Method> = [
        Method::WithHeapDump,
        Method::Snapshot,
        Method::SnapshotWithoutRanges,
        Method::DotnetGcdump,
    ]
    .into_iter()
    .filter(|m| !(skip_dump && *m == Method::WithHeapDump))
    .collect();
    for target in sizes {
        while status_bytes(pid, "VmRSS:") < target << 20 {
            service.get(&format!(
                "/grow-chain?n={}&bytes={payload}",
                (25 << 20) / (payload + 64)
            ));
        }
        client.induce_gc(Duration::from_secs(120)).expect("a GC");
        println!(
            "\nservice resident {} (target {target} MiB, {payload}-byte payloads), pid {pid}; {rounds} rounds, order rotating",
            mib(status_bytes(pid, "VmRSS:"))
        );
        let mut results: Vec<(Method, Cost, u64)> = Vec::new();
        for round in 0..rounds {
            for i in 0..methods.len() {
                let method = methods[(round + i) % methods.len()];
                if let Some((cost, bytes)) = bench.run(method) {
                    println!(
                        "    round {round}: {:<22} {:>7.3} s  stall {:>7.3} s",
                        method.label(),
                        cost.wall.as_secs_f64(),
                        cost.stall.as_secs_f64()
                    );
                    results.push((method, cost, bytes));
                }
            }
        }
        println!(
            "  {:<22} {:>10} {:>12} {:>10}  {:<14} service peak +",
            "method", "wall (med)", "stall (med)", "stall max", "output"
        );
        for &method in &methods {
            let runs: Vec<&(Method, Cost, u64)> =
                results.iter().filter(|(m, _, _)| *m == method).collect();
            let Some(last) = runs.last() else { continue };
            let stalls: Vec<f64> = runs.iter().map(|(_, c, _)| c.stall.as_secs_f64()).collect();
            println!(
                "  {:<22} {:>9.3}s {:>11.3}s {:>9.3}s  {:<14} {}",
                method.label(),
                median(runs.iter().map(|(_, c, _)| c.wall.as_secs_f64()).collect()),
                median(stalls.clone()),
                stalls.iter().copied().fold(0.0, f64::max),
                mib(last.2),
                last.1.peak_growth.map_or("n/a".into(), mib)
            );
        }
        bench.parse_rate();
    }
    drop(service);
}
