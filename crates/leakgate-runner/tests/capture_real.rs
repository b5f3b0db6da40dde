//! One sample of the real LeakyService fixture, captured and analysed as a
//! run does it, in both managed modes: the GC's own count of its committed
//! bytes comes with the sample, and all of it ends up in the GC heap.

#[path = "../../leakgate-dotnet/tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
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
    capture::analyse(raw, inspector, "10.0", None)
        .expect("the sample is analysed")
        .memory
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
        let dump_path = dir.path().join(format!("{mode:?}.core"));
        let plan = Plan {
            gc_first: true,
            gc_timeout: Duration::from_secs(60),
            mode,
            dump_path: &dump_path,
            trace_path: None,
        };
        let mut raw = capture::take(Some(&client), svc.pid(), &plan, &AtomicBool::new(false))
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
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
        if gc_after > gc_before {
            assert!(
                after
                    .notes
                    .iter()
                    .any(|n| n.contains("runtime's accounting")),
                "{:?}",
                after.notes
            );
        }
    }
}
