//! The [`ManagedSummary`] the ClrMD inspector produces, computed from a heap
//! snapshot instead of a dump, so both sampling paths feed the same analysis.
//!
//! Field by field, what differs from the dump path (`inspector`):
//!
//! * `finalizable_types`, `finalizable_total`: live objects whose type has a
//!   finalizer (BulkType flag 0x2), counted after the induced full GC. SOS
//!   `!finalizequeue` counts objects *registered* for finalization instead;
//!   the two differ by objects that called `GC.SuppressFinalize` (counted
//!   here, not by SOS) and by objects created without registration (none in
//!   ordinary managed code). For a leak of finalizable objects both grow alike.
//! * `ready_for_finalization`: distinct objects rooted by the finalizer queue
//!   (root kind 1), the f-reachable queue as SOS shows it.
//! * `generations`: the finalizable objects not ready for finalization, per
//!   generation of the address they live at, from the generation ranges;
//!   all under `"unknown"` when the trace has no ranges (a session without
//!   the GCHeapSurvivalAndMovement keyword).
//! * `heap_types`: every live object per type. There is no `"Free"` entry
//!   (the heap walk reports objects, not free space), and dead objects are
//!   absent (the GC just collected them; a dump without a GC first holds them).
//! * Type names are the runtime's, with generic arguments rewritten as ClrMD
//!   prints them ([`clrmd_style_name`]: `List<System.String>`, not
//!   ``List`1[System.String]``). Nested types still differ: the runtime names
//!   them **without their declaring type** (`Entry<K, V>`, where ClrMD says
//!   `Dictionary<K, V>+Entry`). Type names inside generic arguments may
//!   differ the same way.
//! * `method_table` is the type id from the events, which is the method table
//!   address, as in the dump path.
//! * `segments`: one per generation range (a region on .NET 7+), kind
//!   `gen0`..`gen2`, `loh`, `poh`. The trace says how much of a range is used,
//!   not how much is committed: `committed` is the used part and `reserved`
//!   the rest, so `gc_committed` is a lower bound of the GC's committed memory
//!   (it misses the committed-but-free tail of each region and the GC's
//!   bookkeeping). Frozen segments (string literals) are not reported.
//! * `runtime_version`: not in the trace; the caller passes it (ProcessInfo2).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::model::{GcHeapDump, GenerationRange, RootKind};
use crate::inspector::{
    AddressRange, GcSegment, GenerationCount, ManagedSummary, SCHEMA_VERSION, TypeStat,
};

/// The managed summary of a snapshot. See the module docs for how each field
/// differs from the dump path.
pub fn managed_summary(dump: &GcHeapDump, runtime_version: &str) -> ManagedSummary {
    let ready_targets: HashSet<u64> = dump
        .roots
        .iter()
        .filter(|r| r.kind == RootKind::FinalizerQueue)
        .map(|r| r.target)
        .collect();
    let ranges = sorted_ranges(&dump.generation_ranges);

    let mut heap: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut finalizable: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut per_generation: BTreeMap<u8, u64> = [(0, 0), (1, 0), (2, 0)].into();
    let mut ready = 0u64;
    for node in &dump.nodes {
        let stat = heap.entry(node.type_index).or_default();
        stat.0 += 1;
        stat.1 += node.size;

        let is_ready = ready_targets.contains(&node.address);
        let has_finalizer = dump.type_of(node).is_some_and(|t| t.is_finalizable());
        if !(is_ready || has_finalizer) {
            continue;
        }
        let stat = finalizable.entry(node.type_index).or_default();
        stat.0 += 1;
        stat.1 += node.size;
        if is_ready {
            ready += 1;
        } else {
            *per_generation
                .entry(generation_of(&ranges, node.address))
                .or_default() += 1;
        }
    }

    let finalizable_types = type_stats(dump, finalizable);
    let segments: Vec<GcSegment> = ranges.iter().map(segment).collect();
    ManagedSummary {
        schema_version: SCHEMA_VERSION,
        runtime_version: runtime_version.to_string(),
        generations: per_generation
            .into_iter()
            .map(|(generation, finalizable)| GenerationCount {
                generation: generation_name(generation).to_string(),
                finalizable,
            })
            .collect(),
        ready_for_finalization: ready,
        finalizable_total: finalizable_types.iter().map(|t| t.count).sum(),
        finalizable_types,
        heap_types: type_stats(dump, heap),
        gc_committed: segments.iter().map(|s| s.committed.len()).sum(),
        gc_reserved: segments.iter().map(|s| s.reserved.len()).sum(),
        segments,
    }
}

/// Marker for "no range holds this address", sorted after the real generations.
const UNKNOWN_GENERATION: u8 = u8::MAX;

fn generation_name(generation: u8) -> &'static str {
    match generation {
        0 => "0",
        1 => "1",
        2 => "2",
        3 => "loh",
        4 => "poh",
        _ => "unknown",
    }
}

fn sorted_ranges(ranges: &[GenerationRange]) -> Vec<GenerationRange> {
    let mut sorted = ranges.to_vec();
    sorted.sort_by_key(|r| r.start);
    sorted
}

/// The generation of the range holding `address` (ranges sorted by start).
fn generation_of(ranges: &[GenerationRange], address: u64) -> u8 {
    let after = ranges.partition_point(|r| r.start <= address);
    match after.checked_sub(1).map(|i| &ranges[i]) {
        Some(range) if range.contains(address) => range.generation,
        _ => UNKNOWN_GENERATION,
    }
}

fn segment(range: &GenerationRange) -> GcSegment {
    let used_end = range.start.saturating_add(range.used_length);
    let reserved_end = range
        .start
        .saturating_add(range.reserved_length)
        .max(used_end);
    GcSegment {
        kind: match range.generation {
            0 => "gen0",
            1 => "gen1",
            2 => "gen2",
            3 => "loh",
            4 => "poh",
            _ => "unknown",
        }
        .to_string(),
        start: range.start,
        end: used_end,
        committed: AddressRange {
            start: range.start,
            end: used_end,
        },
        reserved: AddressRange {
            start: used_end,
            end: reserved_end,
        },
    }
}

/// Per-type rows ascending by total size, then name, like SOS and the inspector.
fn type_stats(dump: &GcHeapDump, stats: HashMap<u32, (u64, u64)>) -> Vec<TypeStat> {
    let mut rows: Vec<TypeStat> = stats
        .into_iter()
        .map(|(index, (count, total_size))| {
            let (method_table, name) = match dump.types.get(index as usize) {
                Some(t) => (t.id, t.clrmd_name()),
                None => (0, "<unreadable object>".to_string()),
            };
            TypeStat {
                method_table,
                name,
                count,
                total_size,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        a.total_size
            .cmp(&b.total_size)
            .then_with(|| a.name.cmp(&b.name))
    });
    rows
}
