//! The region model shared by every reader: one [`Region`] per contiguous
//! range with the same state, type and protection, as WinDbg `!address`
//! lists them.

use serde::{Deserialize, Serialize};

use crate::error::MemoryError;

/// What a region is used for, with WinDbg `!address` meanings.
///
/// `GcHeap` never comes out of a reader: it only appears after
/// [`RegionMap::split_gc`] is given the GC's committed ranges (and in a
/// summary, after [`MemorySummary::attribute_gc_committed`](crate::MemorySummary::attribute_gc_committed)).
#[derive(
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    Free,
    Unknown,
    GcHeap,
    Image,
    Stack,
    Heap,
    Teb,
    Peb,
    Other,
}

impl Usage {
    /// All busy usages, in the order of the stable summary keys.
    pub const BUSY: [Usage; 8] = [
        Usage::Unknown,
        Usage::GcHeap,
        Usage::Image,
        Usage::Stack,
        Usage::Heap,
        Usage::Teb,
        Usage::Peb,
        Usage::Other,
    ];

    /// The stable snake_case key used in summary maps (same as serde).
    pub fn key(self) -> &'static str {
        match self {
            Usage::Free => "free",
            Usage::Unknown => "unknown",
            Usage::GcHeap => "gc_heap",
            Usage::Image => "image",
            Usage::Stack => "stack",
            Usage::Heap => "heap",
            Usage::Teb => "teb",
            Usage::Peb => "peb",
            Usage::Other => "other",
        }
    }

    /// The name WinDbg prints in the Usage Summary.
    pub fn windbg_name(self) -> &'static str {
        match self {
            Usage::Free => "Free",
            Usage::Unknown => "<unknown>",
            Usage::GcHeap => "GC heap",
            Usage::Image => "Image",
            Usage::Stack => "Stack",
            Usage::Heap => "Heap",
            Usage::Teb => "TEB",
            Usage::Peb => "PEB",
            Usage::Other => "Other",
        }
    }
}

/// `MEM_COMMIT`, `MEM_RESERVE` or `MEM_FREE`.
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RegionState {
    Commit,
    Reserve,
    Free,
}

impl RegionState {
    /// The name WinDbg prints in the State Summary.
    pub fn windbg_name(self) -> &'static str {
        match self {
            RegionState::Commit => "MEM_COMMIT",
            RegionState::Reserve => "MEM_RESERVE",
            RegionState::Free => "MEM_FREE",
        }
    }
}

/// `MEM_PRIVATE`, `MEM_IMAGE`, `MEM_MAPPED`, or none (free regions).
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RegionType {
    Private,
    Image,
    Mapped,
    None,
}

impl RegionType {
    /// The name WinDbg prints in the Type Summary.
    pub fn windbg_name(self) -> &'static str {
        match self {
            RegionType::Private => "MEM_PRIVATE",
            RegionType::Image => "MEM_IMAGE",
            RegionType::Mapped => "MEM_MAPPED",
            RegionType::None => "",
        }
    }
}

/// One contiguous range of the address space.
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub size: u64,
    /// Start of the reservation this region belongs to (Windows
    /// `AllocationBase`); on Linux the start of the mapping group
    /// (a module's first mapping, a thread stack's guard page) or `base`.
    pub allocation_base: u64,
    pub state: RegionState,
    pub kind: RegionType,
    /// Protection as the source spells it (`rw-p`, `PAGE_READWRITE`, `r-x`).
    pub protection: String,
    pub usage: Usage,
    /// File or kernel name (`/usr/lib/libc.so.6`, `[heap]`, module path).
    pub name: Option<String>,
    /// Resident bytes (`Rss` from smaps); `None` when the source has none.
    pub resident: Option<u64>,
    /// Private dirty bytes (`Private_Dirty` from smaps); `None` when unknown.
    pub private_dirty: Option<u64>,
}

impl Region {
    /// One past the last byte (saturating: a region never wraps).
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    /// Busy means committed or reserved: everything that is not free.
    pub fn is_busy(&self) -> bool {
        self.state != RegionState::Free
    }

    /// Whether `addr` lies inside this region.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.base && addr < self.end()
    }
}

/// Where a region map came from; decides what the numbers can mean.
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    ProcMaps,
    ElfCore,
    Minidump,
}

/// All regions of one process at one moment, sorted by address,
/// plus notes on what the source could not tell.
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Debug, PartialEq, Eq)]
pub struct RegionMap {
    pub source: SourceKind,
    pub regions: Vec<Region>,
    /// What this map cannot tell, in words for the report, e.g.
    /// "an ELF core holds no reserved memory".
    pub notes: Vec<String>,
}

impl RegionMap {
    /// Sorts regions by address, drops empty ones and rejects overlaps.
    /// `source_name` names the file or process in the error.
    pub(crate) fn finish(
        source: SourceKind,
        mut regions: Vec<Region>,
        notes: Vec<String>,
        source_name: &str,
    ) -> Result<RegionMap, MemoryError> {
        regions.retain(|r| r.size > 0);
        regions.sort_by_key(|r| r.base);
        for pair in regions.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if a.base.checked_add(a.size).is_none_or(|end| end > b.base) {
                return Err(MemoryError::Overlap {
                    source_name: source_name.to_string(),
                    first_base: a.base,
                    first_end: a.base.wrapping_add(a.size),
                    second_base: b.base,
                    second_end: b.base.wrapping_add(b.size),
                });
            }
        }
        if let Some(r) = regions
            .iter()
            .find(|r| r.base.checked_add(r.size).is_none())
        {
            return Err(MemoryError::Overlap {
                source_name: format!("{source_name} (region wraps the address space)"),
                first_base: r.base,
                first_end: r.base.wrapping_add(r.size),
                second_base: 0,
                second_end: 0,
            });
        }
        Ok(RegionMap {
            source,
            regions,
            notes,
        })
    }

    /// The region holding `addr`, by binary search (regions are sorted).
    pub fn region_at(&self, addr: u64) -> Option<&Region> {
        let i = self.regions.partition_point(|r| r.end() <= addr);
        self.regions.get(i).filter(|r| r.contains(addr))
    }
}
