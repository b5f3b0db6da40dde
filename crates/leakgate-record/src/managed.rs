//! What the managed heap of one dump or heap snapshot holds: the summary the
//! ClrMD inspector prints (its JSON contract, see `leakgate-dotnet`) and the
//! pure-Rust heap-snapshot reader produces alike. Readers tolerate added
//! fields (a newer inspector may say more) but every field listed here is
//! required, so a renamed or dropped field fails loudly.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The type name SOS and ClrMD give the free space between heap objects,
/// listed in [`ManagedSummary::heap_types`] like a type.
pub const FREE_SPACE: &str = "Free";

/// What the managed heap of one dump holds: the `!finalizequeue` and `!dumpheap -stat` views
/// plus the GC's segments, so the GC heap can be told apart from other "Unknown" memory.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
pub struct ManagedSummary {
    pub schema_version: u32,
    /// e.g. "10.0.12"; from the runtime directory name when the dump has no version resource.
    pub runtime_version: String,
    /// Objects registered for finalization, per generation ("0", "1", "2", "loh", "poh", ...).
    pub generations: Vec<GenerationCount>,
    /// Objects on the f-reachable queue, waiting for the finalizer thread.
    pub ready_for_finalization: u64,
    /// Registered plus ready objects: SOS's "Total N objects".
    pub finalizable_total: u64,
    /// Per type over registered and ready objects, ascending by total size like SOS.
    pub finalizable_types: Vec<TypeStat>,
    /// Every heap object per type (`!dumpheap -stat`), free space included as "Free".
    pub heap_types: Vec<TypeStat>,
    /// GC segments (regions on .NET 7+), ascending by address.
    pub segments: Vec<GcSegment>,
    /// Sum of the segments' committed bytes.
    pub gc_committed: u64,
    /// Sum of the segments' reserved-but-not-committed bytes.
    pub gc_reserved: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
pub struct GenerationCount {
    pub generation: String,
    pub finalizable: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
pub struct TypeStat {
    /// Method table address; differs between processes, so compare types by `name`.
    pub method_table: u64,
    pub name: String,
    pub count: u64,
    pub total_size: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
pub struct GcSegment {
    /// "gen0", "gen1", "gen2", "ephemeral", "loh", "poh" or "frozen".
    pub kind: String,
    /// Object range start.
    pub start: u64,
    /// Object range end (exclusive).
    pub end: u64,
    pub committed: AddressRange,
    /// Reserved address space past the committed part.
    pub reserved: AddressRange,
}

/// Half-open address range `[start, end)`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
pub struct AddressRange {
    pub start: u64,
    pub end: u64,
}

impl AddressRange {
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ManagedSummary {
    /// The GC's committed memory as sorted, merged `(start, end)` ranges: the part of
    /// "Unknown" memory that is the managed heap.
    pub fn gc_committed_ranges(&self) -> Vec<(u64, u64)> {
        let mut ranges: Vec<(u64, u64)> = self
            .segments
            .iter()
            .filter(|s| !s.committed.is_empty())
            .map(|s| (s.committed.start, s.committed.end))
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }

    /// Every type's name by method table, as this summary gives it.
    pub fn type_names(&self) -> impl Iterator<Item = (u64, &str)> {
        self.heap_types
            .iter()
            .chain(&self.finalizable_types)
            .map(|t| (t.method_table, t.name.as_str()))
    }

    /// Renames the types `names` knows (by method table, which is stable while
    /// the process lives); true when any name changed. A heap snapshot names
    /// a nested type without its declaring type, where a dump of the same
    /// process names it in full.
    pub fn rename_types(&mut self, names: &std::collections::HashMap<u64, String>) -> bool {
        let mut changed = false;
        for t in self
            .heap_types
            .iter_mut()
            .chain(&mut self.finalizable_types)
        {
            if let Some(name) = names.get(&t.method_table).filter(|n| **n != t.name) {
                t.name.clone_from(name);
                changed = true;
            }
        }
        changed
    }

    /// The finalizable count of one type, by exact name (0 when absent).
    pub fn finalizable_count(&self, type_name: &str) -> u64 {
        self.finalizable_types
            .iter()
            .filter(|t| t.name == type_name)
            .map(|t| t.count)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(committed: (u64, u64)) -> GcSegment {
        GcSegment {
            kind: "gen2".into(),
            start: committed.0,
            end: committed.0,
            committed: AddressRange {
                start: committed.0,
                end: committed.1,
            },
            reserved: AddressRange {
                start: committed.1,
                end: committed.1 + 0x1000,
            },
        }
    }

    #[test]
    fn committed_ranges_are_sorted_merged_and_skip_empty_ones() {
        let summary = ManagedSummary {
            schema_version: 1,
            runtime_version: "10.0.12".into(),
            generations: vec![],
            ready_for_finalization: 0,
            finalizable_total: 0,
            finalizable_types: vec![],
            heap_types: vec![],
            segments: vec![
                segment((0x5000, 0x6000)),
                segment((0x1000, 0x2000)),
                segment((0x2000, 0x3000)),
                segment((0x9000, 0x9000)),
            ],
            gc_committed: 0x3000,
            gc_reserved: 0,
        };
        assert_eq!(
            summary.gc_committed_ranges(),
            vec![(0x1000, 0x3000), (0x5000, 0x6000)]
        );
    }

    #[test]
    fn added_fields_are_tolerated_and_missing_ones_rejected() {
        let mut value = serde_json::json!({
            "schema_version": 1, "runtime_version": "10.0.12",
            "generations": [{"generation": "0", "finalizable": 3, "extra": true}],
            "ready_for_finalization": 0, "finalizable_total": 3,
            "finalizable_types": [], "heap_types": [], "segments": [],
            "gc_committed": 0, "gc_reserved": 0, "something_new": [1, 2]
        });
        let summary: ManagedSummary = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(summary.generations[0].finalizable, 3);
        value.as_object_mut().unwrap().remove("gc_reserved");
        let err = serde_json::from_value::<ManagedSummary>(value).unwrap_err();
        assert!(err.to_string().contains("gc_reserved"), "{err}");
    }

    #[test]
    fn types_are_renamed_by_method_table() {
        let stat = |mt: u64, name: &str| TypeStat {
            method_table: mt,
            name: name.into(),
            count: 1,
            total_size: 24,
        };
        let mut summary = ManagedSummary {
            schema_version: 1,
            runtime_version: "10.0.12".into(),
            generations: vec![],
            ready_for_finalization: 0,
            finalizable_total: 1,
            finalizable_types: vec![stat(0x20, "Node")],
            heap_types: vec![
                stat(0x10, "TaskNode"),
                stat(0x20, "Node"),
                stat(0x30, "System.String"),
            ],
            segments: vec![],
            gc_committed: 0,
            gc_reserved: 0,
        };
        let names = [
            (0x10, "System.Threading.SemaphoreSlim+TaskNode".to_string()),
            (0x20, "Cache+Node".to_string()),
            (0x30, "System.String".to_string()),
        ]
        .into();
        assert!(summary.rename_types(&names));
        let heap: Vec<&str> = summary.heap_types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            heap,
            [
                "System.Threading.SemaphoreSlim+TaskNode",
                "Cache+Node",
                "System.String"
            ]
        );
        assert_eq!(summary.finalizable_count("Cache+Node"), 1);
        // Nothing left to rename: unchanged.
        assert!(!summary.rename_types(&names));
        assert_eq!(summary.type_names().count(), 4);
    }
}
