//! What crafted trace files cost to read (issue 19, finding 5): peak
//! resident memory and wall time of `read_nettrace` on the review's trace
//! bombs, each read in a child process (this example run again). Prints
//! numbers; asserts nothing (`tests/trace_bombs.rs` asserts on smaller ones).
//!
//! `cargo run --release -p leakgate-dotnet --example trace_cost [STACK_GZ_MIB]`
//! (default 10: a gzip bomb of stack blocks of about that size)
//!
//! The traces: a 2.9 MB `.nettrace.gz` of identical objects in bulk node
//! events (1.1 GB decompressed), the same decompressed to a plain
//! `.nettrace` (a real file that size reads, in memory proportional to it),
//! a gzip bomb of stack blocks, one of objects then roots (the most a
//! file can make the snapshot hold within its budget), and a plain trace of
//! roots only (3 bytes kept per byte read, stopped by the memory budget).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use leakgate_dotnet::gcheap::events::event_id;
use leakgate_dotnet::gcheap::read_nettrace;
use leakgate_dotnet::gcheap::synth::{bulk_node, bulk_root_edge, write_flood};
use leakgate_dotnet::nettrace::synth::NettraceBuilder;

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// The child: reads one trace, prints its outcome, time and peak.
fn read_one(path: &Path) {
    let started = Instant::now();
    let outcome = match read_nettrace(path) {
        Ok(dump) => format!("read {} objects", dump.nodes.len()),
        Err(e) => format!("error: {}", leakgate_record::error_text(&e)),
    };
    let wall = started.elapsed();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    println!(
        "    peak RSS {:>10}, {:>6.2} s: {outcome}",
        mib(peak_kib << 10),
        wall.as_secs_f64()
    );
}

/// Writes a trace to `path`, gzip-compressed (as hard as gzip -9) if asked.
fn write(path: &Path, gzip: bool, trace: impl FnOnce(&mut dyn Write)) {
    let file = BufWriter::new(File::create(path).expect("create"));
    if gzip {
        let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::best());
        trace(&mut encoder);
        encoder.finish().and_then(|mut f| f.flush()).expect("write");
    } else {
        let mut file = file;
        trace(&mut file);
        file.flush().expect("write");
    }
}

fn measure(what: &str, path: &Path) {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!("{what}: {} file {}", mib(len), path.display());
    let status = Command::new(std::env::current_exe().expect("this example"))
        .arg("--read")
        .arg(path)
        .status()
        .expect("the child runs");
    assert!(status.success(), "the child failed: {status}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, path] = args.as_slice()
        && flag == "--read"
    {
        return read_one(Path::new(path));
    }
    let stack_gz_mib: u64 = args.first().map_or(10, |a| a.parse().expect("MiB"));
    let dir = tempfile::tempdir().expect("temp dir");

    // 17,000 events of 2,000 identical objects: 2.9 MB compressed.
    let nodes = vec![(0x1000u64, 24u64, 0x7f00_0000_1000u64, 0u64); 2000];
    let node_flood = |out: &mut dyn Write| {
        write_flood(out, 17_000, |i| {
            (event_id::GC_BULK_NODE, bulk_node(i, &nodes))
        })
        .expect("write");
    };
    let gz = dir.path().join("nodes.nettrace.gz");
    write(&gz, true, node_flood);
    measure("heap-event gzip bomb", &gz);
    let plain = dir.path().join("nodes.nettrace");
    write(&plain, false, node_flood);
    measure("the same, decompressed", &plain);
    std::fs::remove_file(&plain).ok();

    // Stack blocks of identical frames compress ~260-fold.
    let stacks = vec![vec![0x7f00_1234_5678u64; 16]; 16_000];
    let blocks = stack_gz_mib * 122;
    let path = dir.path().join("stacks.nettrace.gz");
    write(&path, true, |out| {
        let mut trace = NettraceBuilder::new();
        for block in 0..blocks as u32 {
            trace.stack_block(block * 16_000 + 1, &stacks);
            out.write_all(&trace.drain()).expect("write");
        }
        out.write_all(&trace.finish()).expect("write");
    });
    measure("stack-block gzip bomb", &path);

    // The most a 2.9 MB file can make the snapshot hold: 40 MB of objects
    // (0.75 bytes kept per byte) raise the budget, then roots (3 per byte)
    // use it up, until the decompressed bytes reach 32 times the file.
    let roots = vec![(0x1000u64, 0u8, 0u32, 0x5000u64); 4000];
    let path = dir.path().join("mixed.nettrace.gz");
    write(&path, true, |out| {
        write_flood(out, 13_000, |i| match i {
            0..625 => (event_id::GC_BULK_NODE, bulk_node(i, &nodes)),
            _ => (event_id::GC_BULK_ROOT_EDGE, bulk_root_edge(i - 625, &roots)),
        })
        .expect("write");
    });
    measure("objects then roots, gzip bomb", &path);

    let path = dir.path().join("roots.nettrace");
    write(&path, false, |out| {
        write_flood(out, 1000, |i| {
            (event_id::GC_BULK_ROOT_EDGE, bulk_root_edge(i, &roots))
        })
        .expect("write");
    });
    measure("root flood", &path);
}
