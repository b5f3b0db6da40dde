//! /proc maps + smaps parsing: synthetic text with every Linux rule, and
//! this machine's live processes checked against the kernel's own totals.

mod support;

use leakgate_memory::{
    MemoryError, RegionMap, RegionState, RegionType, Usage, parse_proc_maps, read_live,
};
use support::committed_by_usage;

const MAPS: &str = "\
00400000-00401000 r--p 00000000 fd:00 1                          /opt/app/MyService
00401000-00402000 r-xp 00001000 fd:00 1                          /opt/app/MyService
01000000-01021000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0000001000 ---p 00000000 00:00 0
7f0000001000-7f0000181000 rw-p 00000000 00:00 0
7f0001000000-7f0001400000 rw-p 00000000 00:00 0
7f0001400000-7f0011000000 ---p 00000000 00:00 0
7f0020000000-7f0020010000 r--p 00000000 fd:00 2                  /opt/app/System.Private.CoreLib.dll
7f0020100000-7f0020101000 r--s 00000000 fd:00 3                  /opt/app/data with space.dat
7f0020200000-7f0020210000 r-xs 00000000 00:01 4                  /memfd:doublemapper (deleted)
7f0020300000-7f0020301000 rw-s 00000000 00:01 5                  /dev/zero (deleted)
7f0030000000-7f0030002000 r--p 00000000 fd:00 6                  /usr/lib/libc.so.6
7f0030002000-7f0030003000 r-xp 00002000 fd:00 6                  /usr/lib/libc.so.6
7f0030003000-7f0030004000 rw-p 00003000 fd:00 6                  /usr/lib/libc.so.6
7ffc00000000-7ffc00004000 r--p 00000000 00:00 0                  [vvar]
7ffc00004000-7ffc00006000 r-xp 00000000 00:00 0                  [vdso]
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                  [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0          [vsyscall]
";

/// smaps text for `maps` where every mapping is fully resident and
/// writable ones fully private-dirty; `flags` gives VmFlags per line.
fn smaps_for(maps: &str, flags: impl Fn(&str) -> &'static str) -> String {
    let mut out = String::new();
    for line in maps.lines() {
        let (range, rest) = line.split_once(' ').unwrap();
        let (s, e) = range.split_once('-').unwrap();
        let kb = (u64::from_str_radix(e, 16).unwrap() - u64::from_str_radix(s, 16).unwrap()) / 1024;
        let reserved = rest.starts_with("---");
        let rss = if reserved { 0 } else { kb };
        let dirty = if rest.as_bytes()[1] == b'w' { kb } else { 0 };
        out += &format!(
            "{line}\nSize:           {kb:>8} kB\nKernelPageSize:        4 kB\nRss:            {rss:>8} kB\nPss:            {rss:>8} kB\nPrivate_Dirty:  {dirty:>8} kB\nVmFlags: {}\n",
            flags(line)
        );
    }
    out
}

/// smaps for [`MAPS`]; the thread stack carries `nh` as MAP_STACK memory does.
fn smaps() -> String {
    smaps_for(MAPS, |l| {
        if l.ends_with("181000 rw-p 00000000 00:00 0") {
            "rd wr mr mw me ac nh"
        } else {
            "rd mr mw me"
        }
    })
}

fn usage(map: &RegionMap, u: Usage) -> (usize, u64, u64) {
    let rs: Vec<_> = map.regions.iter().filter(|r| r.usage == u).collect();
    let committed = rs
        .iter()
        .filter(|r| r.state == RegionState::Commit)
        .map(|r| r.size)
        .sum();
    (rs.len(), rs.iter().map(|r| r.size).sum(), committed)
}

#[test]
fn every_linux_rule_on_synthetic_maps() {
    let map = parse_proc_maps(MAPS, Some(&smaps())).unwrap();
    assert!(map.notes.is_empty(), "{:?}", map.notes);
    assert_eq!(usage(&map, Usage::Image), (6, 0x16000, 0x16000));
    assert_eq!(usage(&map, Usage::Heap), (1, 0x21000, 0x21000));
    assert_eq!(
        usage(&map, Usage::Stack),
        (3, 0x1000 + 0x18_0000 + 0x21000, 0x18_0000 + 0x21000)
    );
    assert_eq!(
        usage(&map, Usage::Unknown),
        (4, 0x40_0000 + 0xFC0_0000 + 0x1_0000 + 0x1000, 0x41_1000)
    );
    assert_eq!(usage(&map, Usage::Other), (4, 0x8000, 0x8000));
    let at = |a: u64| map.region_at(a).unwrap();
    assert_eq!(
        at(0x7f00_2010_0000).name.as_deref(),
        Some("/opt/app/data with space.dat")
    );
    assert_eq!(
        (at(0x7f00_2010_0000).usage, at(0x7f00_2010_0000).kind),
        (Usage::Other, RegionType::Mapped)
    );
    assert_eq!(
        (at(0x7f00_2020_0000).usage, at(0x7f00_2020_0000).kind),
        (Usage::Unknown, RegionType::Mapped)
    );
    assert_eq!(
        at(0x7f00_3000_3000).allocation_base,
        0x7f00_3000_0000,
        "a module's mappings share a base"
    );
    assert_eq!(
        at(0x7f00_0000_1000).allocation_base,
        0x7f00_0000_0000,
        "a thread stack starts at its guard"
    );
    assert_eq!(at(0x7f00_0000_0000).state, RegionState::Reserve);

    let s = map.summary();
    assert_eq!(
        committed_by_usage(&s),
        [0x41_1000, 0, 0x16000, 0x1A_1000, 0x21000, 0, 0, 0x8000]
    );
    // every committed byte is resident in this smaps
    assert_eq!(s.resident_by_usage, s.committed_by_usage);
    assert_eq!(s.resident_total, Some(s.committed_total));
    let dirty = &s.private_dirty_by_usage;
    assert_eq!(
        (
            dirty[&Usage::Unknown],
            dirty[&Usage::Image],
            dirty[&Usage::Stack]
        ),
        (0x40_1000, 0x1000, 0x1A_1000)
    );
    let row = |name: &str| {
        s.by_type
            .iter()
            .find(|r| r.name == name)
            .map(|r| (r.region_count, r.total_size))
            .unwrap()
    };
    assert_eq!(row("MEM_IMAGE"), (6, 0x16000));
    assert_eq!(row("MEM_MAPPED"), (6, 0x19000));
    assert_eq!(row("MEM_PRIVATE").0, 6);
    // Free gaps fill the user address space up to 0x7ffffffff000
    let busy_below: u64 = map
        .regions
        .iter()
        .filter(|r| r.is_busy() && r.base < 0x7fff_ffff_f000)
        .map(|r| r.size)
        .sum();
    let free: u64 = map
        .regions
        .iter()
        .filter(|r| !r.is_busy())
        .map(|r| r.size)
        .sum();
    assert_eq!(busy_below + free, 0x7fff_ffff_f000);
}

#[test]
fn guard_heuristic_needs_nh_when_vmflags_are_known() {
    let maps = "\
7f0040000000-7f0040001000 ---p 00000000 00:00 0
7f0040001000-7f0040101000 rw-p 00000000 00:00 0
";
    // maps alone: the size rule calls it a stack
    let map = parse_proc_maps(maps, None).unwrap();
    assert_eq!(usage(&map, Usage::Stack).0, 2);
    assert!(map.notes.iter().any(|n| n.contains("no smaps")));
    // with smaps but no `nh` flag (not MAP_STACK): a one-page gap in a reservation
    let map = parse_proc_maps(maps, Some(&smaps_for(maps, |_| "rd wr mr mw me ac"))).unwrap();
    assert_eq!(usage(&map, Usage::Stack).0, 0);
    let map = parse_proc_maps(maps, Some(&smaps_for(maps, |_| "rd wr mr mw me ac nh"))).unwrap();
    assert_eq!(usage(&map, Usage::Stack).0, 2);
}

#[test]
fn split_gc_moves_unknown_into_gc_heap_proportionally() {
    let mut map = parse_proc_maps(MAPS, Some(&smaps())).unwrap();
    let before = map.summary();
    // two committed GC ranges inside the 4 MiB region, one overhanging into
    // the reservation, plus one over the [heap] (not Unknown: untouched)
    map.split_gc(&[
        (0x7f00_0130_0000, 0x7f00_0150_0000),
        (0x7f00_0110_0000, 0x7f00_0120_0000),
        (0x0100_0000, 0x0100_1000),
        (5, 5),
    ]);
    let s = map.summary();
    assert_eq!(s.committed_by_usage[&Usage::GcHeap], 0x20_0000);
    assert_eq!(s.committed_by_usage[&Usage::Unknown], 0x41_1000 - 0x20_0000);
    assert_eq!(s.committed_by_usage[&Usage::Heap], 0x21000);
    assert_eq!(s.committed_total, before.committed_total);
    assert_eq!(s.resident_by_usage[&Usage::GcHeap], 0x20_0000);
    assert_eq!(s.resident_total, before.resident_total);
    let gc: Vec<_> = map
        .regions
        .iter()
        .filter(|r| r.usage == Usage::GcHeap)
        .map(|r| (r.base, r.size, r.state))
        .collect();
    assert_eq!(
        gc,
        [
            (0x7f00_0110_0000, 0x10_0000, RegionState::Commit),
            (0x7f00_0130_0000, 0x10_0000, RegionState::Commit),
            (0x7f00_0140_0000, 0x10_0000, RegionState::Reserve),
        ]
    );
    // pieces tile the original regions exactly
    for w in map.regions.windows(2) {
        assert!(w[0].end() <= w[1].base);
    }
}

#[test]
fn bad_lines_are_errors_with_line_numbers() {
    let err = parse_proc_maps(
        "00400000-00401000 r--p 00000000 fd:00 1 /a\nnot a maps line\n",
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, MemoryError::ProcLine { line: 2, .. }),
        "{err}"
    );
    let err = parse_proc_maps("00401000-00400000 r--p 00000000 fd:00 1 /a\n", None).unwrap_err();
    assert!(err.to_string().contains("below start"), "{err}");
    let err = parse_proc_maps(
        "00400000-00402000 r--p 0 fd:00 1\n00401000-00403000 r--p 0 fd:00 1\n",
        None,
    )
    .unwrap_err();
    assert!(matches!(err, MemoryError::Overlap { .. }), "{err}");
    let smaps = "00400000-00401000 r--p 00000000 fd:00 1 /a\nRss: lots kB\n";
    let err =
        parse_proc_maps("00400000-00401000 r--p 00000000 fd:00 1 /a\n", Some(smaps)).unwrap_err();
    assert!(
        matches!(err, MemoryError::ProcLine { line: 2, .. }),
        "{err}"
    );
}

fn kb_field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{key} in {text}"))
        * 1024
}

/// A live `sleep`: our totals must equal the kernel's (VmSize,
/// smaps_rollup Rss and Private_Dirty), read while the process is idle.
#[test]
fn live_process_agrees_with_the_kernel() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = child.id();
    // wait until exec has replaced the forked image
    for _ in 0..100 {
        if std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p.ends_with("sleep")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let (maps, smaps) = read_live(pid).unwrap();
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let _ = child.kill();
    let _ = child.wait();

    let map = parse_proc_maps(&maps, Some(&smaps)).unwrap();
    assert!(map.notes.is_empty(), "{:?}", map.notes);
    let s = map.summary();
    assert_eq!(s.resident_total, Some(kb_field(&rollup, "Rss:")));
    assert_eq!(
        s.private_dirty_by_usage.values().sum::<u64>(),
        kb_field(&rollup, "Private_Dirty:")
    );
    // VmSize counts every user mapping, committed or reserved ([vsyscall] is not a vma)
    let busy_user: u64 = map
        .regions
        .iter()
        .filter(|r| r.is_busy() && r.base < 0xffff_0000_0000_0000)
        .map(|r| r.size)
        .sum();
    assert_eq!(busy_user, kb_field(&status, "VmSize:"));
    assert!(s.committed_by_usage[&Usage::Image] > 0 && s.committed_by_usage[&Usage::Heap] > 0);
    assert!(s.committed_by_usage[&Usage::Stack] > 0 && s.committed_by_usage[&Usage::Other] > 0);
}

/// This test process has several threads (the test harness): their stacks
/// must be found by the guard-page heuristic, and resident bytes must be
/// close to the kernel's (we are running, so not exactly equal).
#[test]
fn live_self_finds_thread_stacks() {
    let hold = std::sync::Arc::new(std::sync::Barrier::new(2));
    let h2 = hold.clone();
    let t = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            h2.wait();
            h2.wait();
        })
        .unwrap();
    hold.wait();
    let (maps, smaps) = read_live(std::process::id()).unwrap();
    hold.wait();
    t.join().unwrap();
    let map = parse_proc_maps(&maps, Some(&smaps)).unwrap();
    let stacks = map
        .regions
        .iter()
        .filter(|r| r.usage == Usage::Stack && r.state == RegionState::Commit)
        .count();
    assert!(
        stacks >= 2,
        "main [stack] plus at least our thread's stack, got {stacks}:\n{maps}"
    );
}

#[test]
fn address_summary_snapshot_with_resident_bytes() {
    let map = parse_proc_maps(MAPS, Some(&smaps())).unwrap();
    insta::assert_snapshot!(leakgate_memory::render_address_summary(&map.summary()));
}

#[test]
fn smaps_text_alone_serves_as_maps() {
    let smaps = smaps();
    assert_eq!(
        parse_proc_maps(&smaps, Some(&smaps)).unwrap(),
        parse_proc_maps(MAPS, Some(&smaps)).unwrap()
    );
}
