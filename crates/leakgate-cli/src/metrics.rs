//! From captured samples (regions + managed heap) to the gate's plain metric rows.

use std::collections::BTreeMap;

use leakgate_gate::SampleMetrics;
use leakgate_runner::capture::CapturedSample;

/// The scalar metrics, by the names budgets use.
///
/// `committed.unknown` is WinDbg's `<unknown>`: everything no other usage claims,
/// the GC heap included. `committed.gc` and `committed.native` split it, so a
/// managed leak and a native leak read differently.
pub fn sample_metrics(sample: &CapturedSample) -> SampleMetrics {
    let committed = &sample.memory.committed_by_usage;
    let get = |k: &str| committed.get(k).copied().unwrap_or(0) as f64;
    let mut values = BTreeMap::new();
    let native = get("unknown");
    let gc = get("gc_heap");
    values.insert("committed.unknown".to_string(), native + gc);
    // Without managed data the GC heap cannot be told apart: leave the split out
    // rather than call the whole of Unknown "native".
    if sample.managed.is_some() {
        values.insert("committed.native".to_string(), native);
        values.insert("committed.gc".to_string(), gc);
    }
    values.insert("committed.heap".to_string(), get("heap"));
    values.insert("committed.image".to_string(), get("image"));
    values.insert("committed.stack".to_string(), get("stack"));
    values.insert(
        "committed.other".to_string(),
        get("other") + get("teb") + get("peb"),
    );
    values.insert(
        "committed.total".to_string(),
        sample.memory.committed_total as f64,
    );
    if let Some(resident) = sample.memory.resident_total {
        values.insert("resident".to_string(), resident as f64);
    }

    let mut finalizable = BTreeMap::new();
    let mut heap_count = BTreeMap::new();
    let mut heap_bytes = BTreeMap::new();
    if let Some(managed) = &sample.managed {
        // Several method tables can share a name (generic instantiations across
        // load contexts); the budget speaks of names, so add them up.
        for t in &managed.finalizable_types {
            *finalizable.entry(t.name.clone()).or_insert(0) += t.count;
        }
        for t in &managed.heap_types {
            *heap_count.entry(t.name.clone()).or_insert(0) += t.count;
            *heap_bytes.entry(t.name.clone()).or_insert(0) += t.total_size;
        }
    }
    SampleMetrics {
        index: sample.index,
        elapsed_secs: sample.elapsed_secs,
        requests: sample.requests,
        values,
        finalizable,
        heap_count,
        heap_bytes,
    }
}
