//! One sample of the real LeakyService fixture, captured and analysed as a
//! run does it, in both managed modes: the GC's own count of its committed
//! bytes comes with the sample, and all of it ends up in the GC heap.

#[path = "../../leakgate-dotnet/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use leakgate_dotnet::inspector::Inspector;
use leakgate_dotnet::ipc::DiagnosticsClient;
use leakgate_memory::{MemorySummary, Usage};
use leakgate_runner::capture::{self, Plan, Raw};
use leakgate_scenario::DumpMode;

/// Pages the maps and the runtime may round differently, and what the
/// service's threads commit between the runtime's count (at the induced
/// GC) and the dump: up to 0.47 MiB of new allocation space seen once.
const SLACK: u64 = 1 << 20;

fn inspector() -> Inspector {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("inspector-cache");
    Inspector::ensure_built(Some(&cache)).expect("the inspector builds")
}

fn analysed(raw: &Raw, inspector: Option<&Inspector>) -> MemorySummary {
    capture::analyse_sample(raw, inspector, "10.0", None)
        .expect("the sample is analysed")
        .memory
}

/// One sample as a run takes it (a full GC first), its dump in `dir`.
fn sample(client: &DiagnosticsClient, pid: u32, mode: DumpMode, dir: &Path) -> (Raw, PathBuf) {
    let dump_path = dir.join(format!("{mode:?}.core"));
    let plan = Plan {
        gc_first: true,
        gc_timeout: Duration::from_secs(60),
        mode,
        dump_path: &dump_path,
        trace_path: None,
        names_dump: None,
    };
    let raw = capture::take(Some(client), pid, &plan, &AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
    (raw, dump_path)
}

fn mib(v: u64) -> String {
    format!("{:.2} MiB", v as f64 / (1 << 20) as f64)
}

#[test]
fn a_sample_attributes_all_the_gcs_committed_memory_to_the_gc_heap() {
    let svc = support::FixtureService::start();
    for _ in 0..200 {
        svc.get("/leak/finalizable");
        svc.get("/work/steady");
    }
    for _ in 0..8 {
        svc.get("/leak/native?kb=256");
    }
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let inspector = inspector();
    let dir = tempfile::tempdir().unwrap();
    for mode in [DumpMode::Withheap, DumpMode::Gcdump] {
        let (mut raw, dump_path) = sample(&client, svc.pid(), mode, dir.path());
        let gc = raw
            .gc_committed
            .unwrap_or_else(|| panic!("{mode:?}: the runtime's count comes with the sample"));
        let after = analysed(&raw, Some(&inspector));
        raw.gc_committed = None;
        let before = analysed(&raw, Some(&inspector));
        let _ = std::fs::remove_file(&dump_path);

        let (gc_before, gc_after) = (
            before.committed(Usage::GcHeap),
            after.committed(Usage::GcHeap),
        );
        let (native_before, native_after) = (
            before.committed(Usage::Unknown),
            after.committed(Usage::Unknown),
        );
        eprintln!(
            "{mode:?}: runtime total {} (in use {}, free {}, bookkeeping {}); \
             committed.gc {} -> {}; committed.native {} -> {}",
            mib(gc.total()),
            mib(gc.in_use),
            mib(gc.free()),
            mib(gc.bookkeeping),
            mib(gc_before),
            mib(gc_after),
            mib(native_before),
            mib(native_after),
        );
        assert!(gc.in_use > 0 && gc.total() >= gc.in_use, "{mode:?}: {gc:?}");
        // All the GC holds is the GC heap's, not only its ranges.
        assert!(
            gc_after + SLACK >= gc.total(),
            "{mode:?}: committed.gc {gc_after} < the runtime's {}",
            gc.total()
        );
        assert!(gc_after + SLACK >= gc.in_use);
        // The ranges hold GC memory the runtime counts too.
        assert!(gc_before <= gc.total() + SLACK, "{mode:?}: {gc_before}");
        // Bytes moved, none made: Unknown as a whole is what it was.
        assert_eq!(gc_after - gc_before, native_before - native_after);
        assert_eq!(after.committed_total, before.committed_total);
        // The native leak stays native.
        assert!(native_after >= 8 * (256 << 10), "{mode:?}: {native_after}");
        // What moved is recorded as such (and worded by the renderers).
        if gc_after > gc_before {
            let moved = after.gc_attribution.as_ref().expect("the move is recorded");
            assert_eq!(moved.moved, gc_after - gc_before, "{moved:?}");
            assert!(
                leakgate_memory::gc_attribution_note(moved).contains("runtime's accounting"),
                "{moved:?}"
            );
        }
    }
}

/// The bytes that survived the induced GC, as the GC counts them, are the
/// live heap the inspector finds by reading every object of the dump.
#[test]
fn the_gcs_count_of_survivors_is_the_live_heap_the_dump_holds() {
    let svc = support::FixtureService::start();
    for _ in 0..100 {
        svc.get("/leak/buffers?kb=64");
        svc.get("/work/steady");
    }
    let client = DiagnosticsClient::for_pid(svc.pid()).unwrap();
    let inspector = inspector();
    let dir = tempfile::tempdir().unwrap();
    for mode in [DumpMode::Withheap, DumpMode::None] {
        let (raw, dump_path) = sample(&client, svc.pid(), mode, dir.path());
        let counted = raw
            .gc_heap
            .unwrap_or_else(|| panic!("{mode:?}: the GC's count comes with the sample"));
        assert!(counted.heap_size() >= counted.live(), "{counted:?}");
        // 100 kept 64 KiB buffers (6.25 MiB), half of them kept: 3+ MiB live.
        assert!(counted.live() > 3 << 20, "{mode:?}: {counted:?}");
        if mode == DumpMode::None {
            assert!(raw.dump.is_none());
            continue;
        }
        let analysed = capture::analyse_sample(&raw, Some(&inspector), "10.0", None).unwrap();
        let _ = std::fs::remove_file(&dump_path);
        let managed = analysed.managed.expect("the heap was read");
        let read: u64 = managed
            .heap_types
            .iter()
            .filter(|t| t.name != leakgate_dotnet::inspector::FREE_SPACE)
            .map(|t| t.total_size)
            .sum();
        // By generation: what the GC left in gen1 and older (the survivors,
        // and the free space between them) is what the dump holds there; gen0
        // holds what the service allocated after the GC (measured 0.5 MiB:
        // the runtime answering the GC's session among it), and the frozen
        // heap the literals no GC counts.
        let in_dump = |kinds: &[&str]| -> u64 {
            managed
                .segments
                .iter()
                .filter(|s| kinds.contains(&s.kind.as_str()))
                .map(|s| s.end.saturating_sub(s.start))
                .sum()
        };
        let older = in_dump(&["gen1", "gen2", "loh", "poh"]);
        let since = in_dump(&["gen0", "ephemeral", "frozen"]);
        let counted_older: u64 = counted.generation_sizes[1..].iter().sum();
        eprintln!(
            "survived (GC's count) {}, live objects in the dump {}; gen1+ in the dump {}, by the GC {}; gen0 and frozen {}",
            mib(counted.live()),
            mib(read),
            mib(older),
            mib(counted_older),
            mib(since),
        );
        assert!(
            older.abs_diff(counted_older) < 64 << 10,
            "gen1 and older: {older} in the dump, {counted_older} by the GC"
        );
        assert!(counted.live() <= read + (64 << 10), "{counted:?} vs {read}");
        assert!(
            read - counted.live().min(read) <= since + (64 << 10),
            "{counted:?} vs {read}: more than gen0 and the frozen heap hold"
        );
    }
}
