//! The GC's own account of a sample: the bytes it had committed and the
//! heap it left, as the runtime logged them (`CommittedUsage`,
//! `GCHeapStats`). `leakgate-dotnet` decodes the events into these.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bytes the GC had committed at the end of a GC, by what holds them.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq, JsonSchema)]
pub struct GcCommitted {
    /// Regions in use by the small, large and pinned object heaps.
    pub in_use: u64,
    /// Free regions each heap keeps for its next allocations.
    pub in_free: u64,
    /// Free regions in the GC's global free lists.
    pub in_global_free: u64,
    /// Regions queued to be decommitted.
    pub in_global_decommit: u64,
    /// The GC's bookkeeping: card tables, brick tables, mark arrays.
    pub bookkeeping: u64,
}

impl GcCommitted {
    /// All bytes the GC has committed.
    pub fn total(&self) -> u64 {
        self.in_use
            .saturating_add(self.free())
            .saturating_add(self.bookkeeping)
    }

    /// Committed but holding no objects: free regions, wherever they wait.
    pub fn free(&self) -> u64 {
        self.in_free
            .saturating_add(self.in_global_free)
            .saturating_add(self.in_global_decommit)
    }
}

/// The heap as the GC left it at the end of one GC (`GCHeapStats`, V1
/// and V2): per generation — gen0, gen1, gen2, the large and the pinned
/// object heaps — its size and the bytes that survived in it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq, JsonSchema)]
pub struct GcHeapStats {
    /// Bytes in each generation after the GC (free space included).
    pub generation_sizes: [u64; 5],
    /// Bytes that survived the GC in each generation.
    pub survived: [u64; 5],
    /// Survivors kept only to run their finalizers, and how many.
    pub finalization_promoted_bytes: u64,
    pub finalization_promoted_count: u64,
    pub pinned_objects: u32,
    pub gc_handles: u32,
}

impl GcHeapStats {
    /// Bytes of managed objects that survived: after a blocking full GC,
    /// the live heap (what `gc.live` measures by reading it). The pinned
    /// object heap counts by its size after the GC: .NET 10 reports no
    /// survivors there (measured: 0 with 33 KiB of live pinned arrays), and
    /// a leak of pinned buffers must show. Objects the GC kept pinned in
    /// gen0 are not counted (about 170 KiB on the fixture, steady).
    pub fn live(&self) -> u64 {
        self.survived[..4]
            .iter()
            .chain([&self.generation_sizes[4]])
            .fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// The managed heap's size after the GC, free space included.
    pub fn heap_size(&self) -> u64 {
        self.generation_sizes
            .iter()
            .fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// What the runtime told about its GCs in one session's events: its
/// committed bytes at the end of the last GC, and the heap after the last
/// blocking full GC.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq, JsonSchema)]
pub struct GcAccount {
    pub committed: Option<GcCommitted>,
    pub heap: Option<GcHeapStats>,
}
