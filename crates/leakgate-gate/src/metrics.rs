//! What each metric means, computed from one captured sample: the one place
//! that turns memory by usage and the managed heap into the numbers budgets
//! name.
//!
//! - `committed.unknown` is WinDbg's `<unknown>`: everything no other usage
//!   claims, the GC heap included.
//! - `committed.gc` and `committed.native` split it (GC heap / the rest), so
//!   a managed leak and a native leak read differently — only when the GC
//!   heap is known: the managed heap was read, or the runtime counted its
//!   committed bytes at the induced GC; without either the whole of Unknown
//!   is not "native". The GC heap is all the GC has committed: its ranges,
//!   and free regions and bookkeeping from the runtime's own count (the
//!   runner attributed them, see `MemorySummary::attribute_gc_committed`).
//! - `committed.other` gathers the small system areas (Other, TEB, PEB).
//! - `gc.live` and `gc.objects` are the managed heap's objects after the
//!   induced full GC, free space (SOS's "Free" entries) left out: what the
//!   program holds, without the steps in which the GC commits memory.
//!   Without a heap read, `gc.live` is the bytes that survived the induced
//!   GC by the GC's own count (`GCHeapStats`); `gc.objects` needs the heap.
//! - Per type, several method tables may share a name (generic
//!   instantiations across load contexts); budgets speak of names, so their
//!   counts add up.

use std::collections::BTreeMap;

use leakgate_memory::{MemorySummary, Usage};
use leakgate_record::CapturedSample;
use leakgate_record::FREE_SPACE;
use leakgate_scenario::budget::Metric;

use crate::series::SampleMetrics;

/// The scalar metrics of a memory summary; `gc_known`: the GC heap's share
/// of it is known (the managed heap was read, or the runtime counted it).
pub fn scalar_metrics(memory: &MemorySummary, gc_known: bool) -> BTreeMap<Metric, f64> {
    let get = |u: Usage| memory.committed(u) as f64;
    let mut values = BTreeMap::from([
        (
            Metric::CommittedUnknown,
            get(Usage::Unknown) + get(Usage::GcHeap),
        ),
        (Metric::CommittedHeap, get(Usage::Heap)),
        (Metric::CommittedImage, get(Usage::Image)),
        (Metric::CommittedStack, get(Usage::Stack)),
        (
            Metric::CommittedOther,
            get(Usage::Other) + get(Usage::Teb) + get(Usage::Peb),
        ),
        (Metric::CommittedTotal, memory.committed_total as f64),
    ]);
    if gc_known {
        values.insert(Metric::CommittedNative, get(Usage::Unknown));
        values.insert(Metric::CommittedGc, get(Usage::GcHeap));
    }
    if let Some(resident) = memory.resident_total {
        values.insert(Metric::Resident, resident as f64);
    }
    values
}

/// Everything the gate judges in one sample.
pub fn sample_metrics(sample: &CapturedSample) -> SampleMetrics {
    let mut m = SampleMetrics {
        index: sample.index,
        elapsed_secs: sample.elapsed_secs,
        requests: sample.requests,
        values: scalar_metrics(
            &sample.memory,
            sample.managed.is_some() || sample.gc_committed.is_some(),
        ),
        timings: Some(sample.timings.clone()),
        gc_committed: sample.gc_committed,
        runtime_heaps: sample.memory.runtime_heaps.map(|b| b as f64),
        ..SampleMetrics::default()
    };
    if let Some(managed) = &sample.managed {
        for t in &managed.finalizable_types {
            *m.finalizable.entry(t.name.clone()).or_insert(0) += t.count;
        }
        let (mut live_bytes, mut live_objects) = (0u64, 0u64);
        for t in &managed.heap_types {
            *m.heap_count.entry(t.name.clone()).or_insert(0) += t.count;
            *m.heap_bytes.entry(t.name.clone()).or_insert(0) += t.total_size;
            if t.name != FREE_SPACE {
                live_bytes += t.total_size;
                live_objects += t.count;
            }
        }
        m.values.insert(Metric::GcLive, live_bytes as f64);
        m.values.insert(Metric::GcObjects, live_objects as f64);
    } else if let Some(heap) = &sample.gc_heap {
        // One source per run: a heap read when the run reads heaps (the GC's
        // count runs ~0.7 MiB lower: no post-GC allocations, no frozen
        // literals), else the GC's count; a sample without it has no value.
        m.values.insert(Metric::GcLive, heap.live() as f64);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn memory(pairs: &[(Usage, u64)]) -> MemorySummary {
        MemorySummary {
            source: leakgate_memory::SourceKind::ProcMaps,
            by_usage: vec![],
            by_type: vec![],
            by_state: vec![],
            committed_by_usage: pairs.iter().copied().collect(),
            resident_by_usage: BTreeMap::new(),
            private_dirty_by_usage: BTreeMap::new(),
            committed_total: pairs.iter().map(|(_, v)| v).sum(),
            resident_total: None,
            notes: vec![],
            gc_attribution: None,
            runtime_heaps: None,
        }
    }

    #[test]
    fn unknown_includes_the_gc_heap_and_native_is_the_rest() {
        let m = memory(&[
            (Usage::Unknown, 10 * MIB),
            (Usage::GcHeap, 30 * MIB),
            (Usage::Teb, 4096),
            (Usage::Other, 8192),
        ]);
        let with = scalar_metrics(&m, true);
        assert_eq!(with[&Metric::CommittedUnknown], (40 * MIB) as f64);
        assert_eq!(with[&Metric::CommittedGc], (30 * MIB) as f64);
        assert_eq!(with[&Metric::CommittedNative], (10 * MIB) as f64);
        assert_eq!(with[&Metric::CommittedOther], 12288.0);
        assert_eq!(with[&Metric::CommittedTotal], m.committed_total as f64);
        // Without the managed heap, Unknown cannot be split: no "native" claim.
        let without = scalar_metrics(&m, false);
        assert!(!without.contains_key(&Metric::CommittedNative));
        assert!(!without.contains_key(&Metric::CommittedGc));
        assert_eq!(without[&Metric::CommittedUnknown], (40 * MIB) as f64);
    }

    #[test]
    fn the_live_heap_leaves_free_space_out_and_adds_up_shared_names() {
        use leakgate_record::{GcCommitted, GcHeapStats};
        use leakgate_record::{ManagedSummary, TypeStat};
        let stat = |mt, name: &str, count, total_size| TypeStat {
            method_table: mt,
            name: name.into(),
            count,
            total_size,
        };
        let sample = CapturedSample {
            index: 0,
            elapsed_secs: 0.0,
            requests: 0,
            memory: memory(&[(Usage::Unknown, 10 * MIB)]),
            managed: Some(ManagedSummary {
                schema_version: 1,
                runtime_version: "10.0.0".into(),
                generations: vec![],
                ready_for_finalization: 0,
                finalizable_total: 0,
                finalizable_types: vec![],
                heap_types: vec![
                    stat(1, "Free", 40, 4 * MIB),
                    stat(2, "System.Byte[]", 3, 2 * MIB),
                    stat(3, "App.Item", 5, 500),
                    stat(4, "App.Item", 7, 700),
                ],
                segments: vec![],
                gc_committed: 0,
                gc_reserved: 0,
            }),
            gc_committed: None,
            gc_heap: None,
            app_stats: None,
            timings: Default::default(),
            dump: None,
            notes: vec![],
        };
        let m = sample_metrics(&sample);
        assert_eq!(m.values[&Metric::GcLive], (2 * MIB + 1200) as f64);
        assert_eq!(m.values[&Metric::GcObjects], 15.0);
        assert_eq!(m.heap_count["App.Item"], 12);
        // No managed heap read: no live-heap claim either…
        let bare = sample_metrics(&CapturedSample {
            managed: None,
            ..sample.clone()
        });
        assert!(!bare.values.contains_key(&Metric::GcLive));
        assert!(!bare.values.contains_key(&Metric::CommittedGc));
        // … unless the GC counted its survivors and its commit at the induced GC.
        let gc_heap = Some(GcHeapStats {
            survived: [0, 0, 3 * MIB, MIB, 0],
            ..GcHeapStats::default()
        });
        let counted = sample_metrics(&CapturedSample {
            managed: None,
            gc_heap,
            gc_committed: Some(GcCommitted::default()),
            ..sample.clone()
        });
        assert_eq!(counted.values[&Metric::GcLive], (4 * MIB) as f64);
        assert!(!counted.values.contains_key(&Metric::GcObjects));
        assert!(counted.values.contains_key(&Metric::CommittedGc));
        assert!(counted.values.contains_key(&Metric::CommittedNative));
        // With both, the heap read: one source for the whole run.
        let both = sample_metrics(&CapturedSample { gc_heap, ..sample });
        assert_eq!(both.values[&Metric::GcLive], (2 * MIB + 1200) as f64);
    }
}
