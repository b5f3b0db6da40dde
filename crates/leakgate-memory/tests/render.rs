//! The `!address -summary` layout, checked line by line against the seed
//! investigation's WinDbg output (windbg-dotnet-memory-leak.md).

use leakgate_memory::{
    Region, RegionMap, RegionState, RegionType, SourceKind, Usage, render_address_summary,
    render_growth_table,
};

/// Copied from a real-world WinDbg `!address -summary` of a leaking service.
const SEED: &str = "\
--- Usage Summary ---------------- RgnCount ----------- Total Size -------- %ofBusy %ofTotal
Free                                    338     7ffe`d06bb000 ( 127.995 TB)          100.00%
<unknown>                              4715        0`feb0f000 (   3.980 GB)  83.90%    0.00%
Stack                                   276        0`16880000 ( 360.500 MB)   7.42%    0.00%
Image                                  1241        0`0e989000 ( 233.535 MB)   4.81%    0.00%
Heap                                    519        0`0b997000 ( 185.590 MB)   3.82%    0.00%
Other                                    15        0`001cd000 (   1.801 MB)   0.04%    0.00%
TEB                                      92        0`000b8000 ( 736.000 kB)   0.01%    0.00%
PEB                                       1        0`00001000 (   4.000 kB)   0.00%    0.00%

--- Type Summary (for busy) ------ RgnCount ----------- Total Size -------- %ofBusy %ofTotal
MEM_PRIVATE                            5051        1`1e9d4000 (   4.478 GB)  94.41%    0.00%
MEM_IMAGE                              1753        0`1013b000 ( 257.230 MB)   5.30%    0.00%
MEM_MAPPED                               55        0`00e26000 (  14.148 MB)   0.29%    0.00%

--- State Summary ---------------- RgnCount ----------- Total Size -------- %ofBusy %ofTotal
MEM_FREE                                338     7ffe`d06bb000 ( 127.995 TB)          100.00%
MEM_RESERVE                            2503        0`cdc3c000 (   3.215 GB)  67.78%    0.00%
MEM_COMMIT                             4356        0`61cf9000 (   1.528 GB)  32.22%    0.00%
";

/// `count` regions totalling `total` bytes, laid out from `*next`.
fn regions(
    next: &mut u64,
    count: u64,
    total: u64,
    usage: Usage,
    kind: RegionType,
    state: RegionState,
) -> Vec<Region> {
    (0..count)
        .map(|i| {
            let size = if i + 1 == count {
                total - (count - 1) * 0x1000
            } else {
                0x1000
            };
            let r = Region {
                base: *next,
                size,
                allocation_base: *next,
                state,
                kind,
                protection: String::new(),
                usage,
                name: None,
                resident: None,
                private_dirty: None,
            };
            *next += size;
            r
        })
        .collect()
}

const FREE: (u64, u64) = (338, 0x7ffe_d06b_b000);

fn map_of(rows: Vec<Vec<Region>>) -> RegionMap {
    let mut next = 0x10000;
    let mut all: Vec<Region> = rows.into_iter().flatten().collect();
    all.extend(regions(
        &mut next,
        0,
        0,
        Usage::Free,
        RegionType::None,
        RegionState::Free,
    ));
    // re-lay everything out contiguously so nothing overlaps
    for r in &mut all {
        r.base = next;
        r.allocation_base = next;
        next += r.size;
    }
    RegionMap {
        source: SourceKind::Minidump,
        regions: all,
        notes: vec![],
    }
}

fn section(text: &str, header: &str) -> String {
    text.split("\n\n")
        .find(|s| s.starts_with(header))
        .unwrap()
        .trim_end()
        .to_string()
}

#[test]
fn usage_type_and_state_sections_match_windbg_byte_for_byte() {
    let mut n = 0;
    let free = || {
        regions(
            &mut 0,
            FREE.0,
            FREE.1,
            Usage::Free,
            RegionType::None,
            RegionState::Free,
        )
    };
    let (p, c) = (RegionType::Private, RegionState::Commit);
    let by_usage = map_of(vec![
        free(),
        regions(&mut n, 4715, 0xfeb0f000, Usage::Unknown, p, c),
        regions(&mut n, 276, 0x16880000, Usage::Stack, p, c),
        regions(&mut n, 1241, 0x0e989000, Usage::Image, p, c),
        regions(&mut n, 519, 0x0b997000, Usage::Heap, p, c),
        regions(&mut n, 15, 0x001cd000, Usage::Other, p, c),
        regions(&mut n, 92, 0x000b8000, Usage::Teb, p, c),
        regions(&mut n, 1, 0x1000, Usage::Peb, p, c),
    ]);
    let by_type = map_of(vec![
        free(),
        regions(
            &mut n,
            5051,
            0x1_1e9d_4000,
            Usage::Unknown,
            RegionType::Private,
            c,
        ),
        regions(
            &mut n,
            1753,
            0x1013b000,
            Usage::Unknown,
            RegionType::Image,
            c,
        ),
        regions(
            &mut n,
            55,
            0x00e26000,
            Usage::Unknown,
            RegionType::Mapped,
            c,
        ),
    ]);
    let by_state = map_of(vec![
        free(),
        regions(
            &mut n,
            2503,
            0xcdc3c000,
            Usage::Unknown,
            p,
            RegionState::Reserve,
        ),
        regions(&mut n, 4356, 0x61cf9000, Usage::Unknown, p, c),
    ]);
    let u = render_address_summary(&by_usage.summary());
    let t = render_address_summary(&by_type.summary());
    let s = render_address_summary(&by_state.summary());
    assert_eq!(section(&u, "--- Usage"), section(SEED, "--- Usage"));
    assert_eq!(section(&t, "--- Type"), section(SEED, "--- Type"));
    assert_eq!(section(&s, "--- State"), section(SEED, "--- State"));
    let summary = by_state.summary();
    assert_eq!(summary.committed_total, 0x61cf9000);
    assert_eq!(summary.by_state[0].pct_busy, None);
}

#[test]
fn growth_table_shows_committed_growth_per_usage() {
    let mk = |unknown: u64, heap: u64| {
        let mut n = 0;
        map_of(vec![
            regions(
                &mut n,
                2,
                unknown,
                Usage::Unknown,
                RegionType::Private,
                RegionState::Commit,
            ),
            regions(
                &mut n,
                1,
                heap,
                Usage::Heap,
                RegionType::Private,
                RegionState::Commit,
            ),
        ])
        .summary()
    };
    let table = render_growth_table(&[
        ("sample-1".into(), mk(100 << 20, 8 << 20)),
        ("sample-2".into(), mk(150 << 20, 8 << 20)),
        ("sample-3".into(), mk(200 << 20, 4 << 20)),
    ]);
    insta::assert_snapshot!(table);
}
