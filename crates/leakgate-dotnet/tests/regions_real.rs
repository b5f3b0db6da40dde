//! Memory regions of the real fixture service: its createdump core and its
//! live /proc maps+smaps, checked against the kernel's own figures.

mod support;

use leakgate_dotnet::inspector::Inspector;
use leakgate_dotnet::ipc::{DiagnosticsClient, DumpKind};
use leakgate_memory::{SourceKind, Usage, parse_proc_maps, read_elf_core, read_live};

/// A `Key:   N kB` line of a /proc status-like file, in bytes.
fn kernel_kb(text: &str, key: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("{key} in {text}"));
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .unwrap()
        * 1024
}

#[test]
fn live_maps_and_the_core_of_the_fixture_agree_with_the_kernel() {
    let service = support::FixtureService::start();
    for _ in 0..20 {
        service.get("/leak/native?kb=512");
        service.get("/leak/dynamic-method");
    }
    let pid = service.pid();

    // Live maps: busy bytes are the kernel's VmSize, resident bytes its Rss.
    let (maps, smaps) = read_live(pid).unwrap();
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let live = parse_proc_maps(&maps, Some(&smaps)).unwrap().summary();
    let busy: u64 = live
        .by_state
        .iter()
        .filter(|r| r.name != "MEM_FREE")
        .map(|r| r.total_size)
        .sum();
    let vm_size = kernel_kb(&status, "VmSize:");
    let rss = kernel_kb(&rollup, "Rss:");
    let resident = live.resident_total.expect("smaps gives resident bytes");
    // The service is idle but its runtime threads may touch a page or two between reads.
    let close = |a: u64, b: u64| (a as f64 - b as f64).abs() <= 0.01 * b as f64;
    assert!(close(busy, vm_size), "busy {busy} vs VmSize {vm_size}");
    assert!(close(resident, rss), "resident {resident} vs Rss {rss}");
    assert!(
        live.committed_by_usage[&Usage::Unknown] >= 20 * 512 * 1024,
        "the native leak is in Unknown: {:?}",
        live.committed_by_usage
    );

    // The core: the same modules, no reserved memory, and managed data that
    // carves the GC heap out of Unknown.
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("fixture.core");
    DiagnosticsClient::for_pid(pid)
        .unwrap()
        .write_dump(&core, DumpKind::WithHeap)
        .unwrap();
    let mut regions = read_elf_core(&core).unwrap();
    assert_eq!(regions.source, SourceKind::ElfCore);
    let before = regions.summary();
    assert!(
        before.notes.iter().any(|n| n.contains("reserved")),
        "{:?}",
        before.notes
    );
    assert!(before.committed_by_usage[&Usage::Image] > 0);
    assert!(
        before.committed_total <= busy,
        "a core holds at most what is mapped"
    );
    let managed = Inspector::ensure_built(None)
        .unwrap()
        .inspect(&core)
        .unwrap();
    regions.split_gc(&managed.gc_committed_ranges());
    let after = regions.summary();
    assert!(
        after.committed_by_usage[&Usage::GcHeap] > 0,
        "{:?}",
        after.committed_by_usage
    );
    assert_eq!(
        after.committed_by_usage[&Usage::GcHeap] + after.committed_by_usage[&Usage::Unknown],
        before.committed_by_usage[&Usage::Unknown] + before.committed_by_usage[&Usage::GcHeap],
        "splitting moves bytes from Unknown to GC heap, it does not create any"
    );
}
