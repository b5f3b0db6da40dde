//! The raw result of a GC heap snapshot: compact arrays, close to the events.
//!
//! Objects are [`GcNode`]s in the order the runtime walked them (24 bytes
//! each: a million objects is 24 MB). Their outgoing references are one
//! flattened list of target addresses: node `i`'s targets are the next
//! `nodes[i].edge_count` entries after those of nodes `0..i`
//! ([`GcHeapDump::nodes_with_edges`] walks them together). Types are
//! interned: a node holds an index into [`GcHeapDump::types`].
//!
//! An adapter to an address-keyed graph needs nothing else: every node has
//! its address, every edge and root names a target address (which may be 0,
//! or an address with no node: a frozen string literal, say).

use super::events::{root_flag, static_var_flag, type_flag};
use crate::gccommit::{GcCommitted, GcHeapStats};

/// A type seen in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcType {
    /// The type handle (method table address), valid in that process only.
    pub id: u64,
    /// As the runtime logs it, e.g. ``System.Collections.Generic.List`1[System.String]``;
    /// nested types without their declaring type; `None` if no BulkType
    /// event named it (an event was dropped).
    pub name: Option<String>,
    /// BulkType flags (see [`super::events::type_flag`]).
    pub flags: u32,
    pub module_id: u64,
    /// The type's metadata token in its module.
    pub type_name_id: u32,
    pub cor_element_type: u8,
}

impl GcType {
    /// The type has a finalizer.
    pub fn is_finalizable(&self) -> bool {
        self.flags & type_flag::FINALIZABLE != 0
    }

    pub fn is_array(&self) -> bool {
        self.flags & type_flag::ARRAY != 0
    }

    /// The name, or `<unknown type 0x…>` when the trace never named it.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("<unknown type {:#x}>", self.id))
    }

    /// The name as ClrMD prints it (and the inspector, and so a dump).
    pub fn clrmd_name(&self) -> String {
        super::names::clrmd_style_name(&self.display_name())
    }
}

/// One live object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcNode {
    pub address: u64,
    /// Bytes, as the GC counts them (`!dumpheap` size).
    pub size: u64,
    /// Index into [`GcHeapDump::types`].
    pub type_index: u32,
    /// How many references it holds (its slice of [`GcHeapDump::edges`]).
    pub edge_count: u32,
}

/// What kind of thing roots an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootKind {
    /// A local variable or argument on a thread's stack.
    Stack,
    /// The finalizer queue: an object ready for finalization (f-reachable).
    FinalizerQueue,
    /// A GC handle (strong, pinned, weak, ... see the flags).
    Handle,
    Other,
    /// A root kind this reader does not know (a newer runtime).
    Unknown(u8),
    /// A static field.
    StaticVariable {
        /// The type of the object the field holds (what the runtime logs).
        type_id: u64,
        field_name: String,
        thread_local: bool,
    },
}

impl RootKind {
    pub(crate) fn from_wire(kind: u8) -> Self {
        match kind {
            0 => RootKind::Stack,
            1 => RootKind::FinalizerQueue,
            2 => RootKind::Handle,
            3 => RootKind::Other,
            other => RootKind::Unknown(other),
        }
    }

    pub(crate) fn static_variable(type_id: u64, field_name: String, flags: u32) -> Self {
        RootKind::StaticVariable {
            type_id,
            field_name,
            thread_local: flags & static_var_flag::THREAD_LOCAL != 0,
        }
    }
}

/// A root: something outside the heap that points at an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcRoot {
    pub kind: RootKind,
    /// GCBulkRootEdge flags (see [`super::events::root_flag`]); 0 for statics.
    pub flags: u32,
    /// The object's address.
    pub target: u64,
    /// The root's own address (handle, stack slot, static field), 0 if unknown.
    pub root_id: u64,
}

impl GcRoot {
    /// Keeps its target alive (not a weak handle).
    pub fn is_strong(&self) -> bool {
        self.flags & root_flag::WEAK_REF == 0
    }

    pub fn is_pinning(&self) -> bool {
        self.flags & root_flag::PINNING != 0
    }
}

/// A dependent handle (`ConditionalWeakTable` entry): `value` lives as long
/// as `key` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DependentHandle {
    /// 0 when the key is dead.
    pub key: u64,
    pub value: u64,
    pub root_id: u64,
}

/// Where a generation lives, after the GC (with regions, one per region).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerationRange {
    /// 0, 1, 2, 3 (large object heap), 4 (pinned object heap).
    pub generation: u8,
    pub start: u64,
    /// Bytes in use from `start` (objects and free space between them).
    pub used_length: u64,
    /// Address space reserved from `start`.
    pub reserved_length: u64,
}

impl GenerationRange {
    pub fn contains(&self, address: u64) -> bool {
        address >= self.start && address - self.start < self.used_length
    }
}

/// One GC heap snapshot, as the runtime reported it during one induced GC.
#[derive(Debug, Clone, Default)]
pub struct GcHeapDump {
    /// The traced process, from the trace header.
    pub process_id: u32,
    pub pointer_size: u32,
    /// The number of the GC whose heap walk this is.
    pub gc_number: u32,
    pub types: Vec<GcType>,
    pub nodes: Vec<GcNode>,
    /// Reference targets of all nodes, flattened in node order.
    pub edges: Vec<u64>,
    pub roots: Vec<GcRoot>,
    pub dependent_handles: Vec<DependentHandle>,
    /// Empty unless the session enabled the GCHeapSurvivalAndMovement keyword.
    pub generation_ranges: Vec<GenerationRange>,
    /// The GC's committed bytes, from the session's last `CommittedUsage`
    /// event (`None` on runtimes that do not log it): unlike the ranges, it
    /// counts free regions and bookkeeping.
    pub gc_committed: Option<GcCommitted>,
    /// The heap as the snapshot's GC left it, by its own count
    /// (`GCHeapStats`): what survived is the live heap.
    pub gc_heap: Option<GcHeapStats>,
    /// Events the runtime numbered but the stream does not hold (its buffer
    /// was full). Non-zero means the snapshot is incomplete: retry with a
    /// larger buffer.
    pub dropped_events: u64,
    /// Gaps in the batch numbers of node, edge and root events: batches known
    /// to be missing. Non-zero means the snapshot is incomplete.
    pub missing_batches: u64,
}

impl GcHeapDump {
    /// No event was lost: nodes, edges and roots are all there.
    pub fn is_complete(&self) -> bool {
        self.dropped_events == 0 && self.missing_batches == 0
    }

    /// The type of a node.
    pub fn type_of(&self, node: &GcNode) -> Option<&GcType> {
        self.types.get(node.type_index as usize)
    }

    /// A type by its id (type handle); a linear search (types number in the thousands).
    pub fn type_by_id(&self, id: u64) -> Option<&GcType> {
        self.types.iter().find(|t| t.id == id)
    }

    /// Each node with its reference targets, in walk order.
    pub fn nodes_with_edges(&self) -> impl Iterator<Item = (&GcNode, &[u64])> + '_ {
        let mut next = 0usize;
        self.nodes.iter().map(move |node| {
            let start = next.min(self.edges.len());
            let end = start
                .saturating_add(node.edge_count as usize)
                .min(self.edges.len());
            next = end;
            (node, &self.edges[start..end])
        })
    }

    /// Sum of node sizes.
    pub fn total_size(&self) -> u64 {
        self.nodes.iter().map(|n| n.size).sum()
    }
}
