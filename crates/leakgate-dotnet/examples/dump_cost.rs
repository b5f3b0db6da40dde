//! How long does a with-heap dump pause a .NET service?
//!
//! `cargo run -p leakgate-dotnet --example dump_cost [PID PORT]`
//!
//! Without arguments it builds and starts the LeakyService fixture. It times
//! the `write_dump` call and, meanwhile, polls `GET /healthz` every 5 ms to
//! see how long the service stops answering (createdump suspends it).
//! Numbers are printed, not judged.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use leakgate_dotnet::ipc::{DiagnosticsClient, DumpKind};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (_fixture, pid, port) = match args.as_slice() {
        [pid, port] => (None, pid.parse().expect("PID"), port.parse().expect("PORT")),
        [] => {
            let svc = support::FixtureService::start();
            // Give the heap something to hold.
            for _ in 0..500 {
                svc.get("/leak/dynamic-method");
                svc.get("/cache/fill");
            }
            let (pid, port) = (svc.pid(), svc.port);
            (Some(svc), pid, port)
        }
        _ => panic!("usage: dump_cost [PID PORT]"),
    };
    let client =
        DiagnosticsClient::wait_for(pid, Duration::from_secs(10)).expect("diagnostics socket");

    let mut baseline: Vec<Duration> = (0..20)
        .filter_map(|_| support::healthz_latency(port))
        .collect();
    baseline.sort();

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("withheap.core");
    let probe = support::LatencyProbe::start(port);
    let started = Instant::now();
    client.write_dump(&path, DumpKind::WithHeap).expect("dump");
    let dump_time = started.elapsed();
    let mut during = probe.stop();
    during.sort();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    std::fs::remove_file(&path).ok();

    let gc_started = Instant::now();
    client
        .induce_gc(Duration::from_secs(30))
        .expect("induced GC");
    let gc_time = gc_started.elapsed();

    let pct = |v: &[Duration], p: f64| {
        v.get(((v.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or_default()
    };
    println!("pid {pid}: with-heap dump of {} MiB", size >> 20);
    println!("  write_dump call:            {dump_time:?}");
    println!(
        "  /healthz before the dump:   median {:?}, max {:?} ({} requests)",
        pct(&baseline, 0.5),
        pct(&baseline, 1.0),
        baseline.len()
    );
    println!(
        "  /healthz during the dump:   median {:?}, max {:?} ({} requests) <- max ≈ the pause",
        pct(&during, 0.5),
        pct(&during, 1.0),
        during.len()
    );
    println!("  induce_gc call:             {gc_time:?}");
}
