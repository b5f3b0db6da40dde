//! One analysis for every source of regions: a sample's `/proc` maps during a
//! run, and a dump or saved maps given to `leakgate analyze`. Regions give the
//! `!address -summary` view; a dump read by the managed inspector adds the
//! finalizer queue and heap statistics, and the GC heap is carved out of
//! Unknown.

use std::path::Path;

use leakgate_dotnet::inspector::{Inspector, InspectorError, ManagedSummary};
use leakgate_memory::{MemorySummary, RegionMap};

/// What one sample or one dump holds.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub memory: MemorySummary,
    pub managed: Option<ManagedSummary>,
}

/// Summarises `regions`; with a `dump` and an `inspector`, reads the managed
/// heap too and moves the GC's committed ranges from Unknown to GC heap.
/// With `heap_graph`, the same walk of the heap writes its graph there (for
/// retention paths).
pub fn analyse(
    mut regions: RegionMap,
    dump: Option<&Path>,
    inspector: Option<&Inspector>,
    heap_graph: Option<&Path>,
) -> Result<Analysis, InspectorError> {
    let managed = match (dump, inspector, heap_graph) {
        (Some(dump), Some(inspector), Some(graph)) => {
            Some(inspector.inspect_with_heap_graph(dump, graph)?)
        }
        (Some(dump), Some(inspector), None) => Some(inspector.inspect(dump)?),
        _ => None,
    };
    if let Some(m) = &managed {
        regions.split_gc(&m.gc_committed_ranges());
    }
    Ok(Analysis {
        memory: regions.summary(),
        managed,
    })
}
