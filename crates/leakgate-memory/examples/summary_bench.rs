//! Prints how long reading + summarising a dump takes for sparse ELF cores
//! and minidumps of about 1 MiB, 100 MiB and 4 GiB. Only headers are
//! written (the payload is a sparse hole from `set_len`), so it is cheap on
//! disk; the reader must not read the payload, so time should follow the
//! number of regions, not the file size. Asserts nothing timed.
//!
//! `cargo run --release -p leakgate-memory --example summary_bench`

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::time::Instant;

use leakgate_memory::read_dump;
use support::*;

const MIB: u64 = 1 << 20;

/// A core with `segments` PT_LOADs (every 8th a module with NT_FILE,
/// every 32nd a thread stack), `size` bytes in all.
fn elf_core(path: &std::path::Path, size: u64, segments: u64) -> u64 {
    let seg = (size / segments) & !0xfff;
    let mut b = ElfCoreBuilder::default().diaginfo();
    for i in 0..segments {
        let base = 0x7f00_0000_0000 + i * (seg + 0x1000);
        let flags = if i % 8 == 0 { PF_R | PF_X } else { PF_R | PF_W };
        b = b.load(base, seg, flags);
        if i % 8 == 0 {
            b = b.file(base, base + seg, &format!("/usr/lib/lib{i}.so"));
        }
        if i % 32 == 1 {
            b = b.thread_sp(base + seg / 2);
        }
    }
    b.xnum().write_sparse(path).unwrap()
}

/// A minidump with `regions` committed/reserved pairs, padded sparsely to `size`.
fn minidump(path: &std::path::Path, size: u64, regions: u64) -> u64 {
    let mut b = MinidumpBuilder::x64();
    for i in 0..regions {
        let base = 0x1_0000_0000 + i * 0x20_0000;
        b = b.commit(base, 0x1_0000, base, MEM_PRIVATE).reserve(
            base + 0x1_0000,
            0x1F_0000,
            base,
            MEM_PRIVATE,
        );
    }
    let bytes = b.build();
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&bytes).unwrap();
    f.set_len(size.max(bytes.len() as u64)).unwrap();
    size.max(bytes.len() as u64)
}

fn time(path: &std::path::Path) -> (f64, usize) {
    let runs = 5;
    let start = Instant::now();
    let mut n = 0;
    for _ in 0..runs {
        let s = read_dump(path).unwrap().summary();
        n = s.by_usage.iter().map(|r| r.region_count as usize).sum();
    }
    (start.elapsed().as_secs_f64() * 1000.0 / runs as f64, n)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{:<10} {:>12} {:>9} {:>12}",
        "format", "file size", "regions", "ms/summary"
    );
    for (size, segments) in [
        (MIB, 16),
        (100 * MIB, 1600),
        (4096 * MIB, 16),
        (4096 * MIB, 20_000),
    ] {
        let p = dir.path().join(format!("core.{size}"));
        let len = elf_core(&p, size, segments);
        let (ms, n) = time(&p);
        println!(
            "{:<10} {:>9} MiB {:>9} {:>12.3}",
            "ELF core",
            len / MIB,
            n,
            ms
        );
        std::fs::remove_file(&p).unwrap();
    }
    for (size, regions) in [
        (MIB, 16),
        (100 * MIB, 1600),
        (4096 * MIB, 16),
        (4096 * MIB, 20_000),
    ] {
        let p = dir.path().join(format!("dump.{size}"));
        let len = minidump(&p, size, regions);
        let (ms, n) = time(&p);
        println!(
            "{:<10} {:>9} MiB {:>9} {:>12.3}",
            "minidump",
            len / MIB,
            n,
            ms
        );
        std::fs::remove_file(&p).unwrap();
    }
}
