//! Turns the runtime's events into a [`GcHeapDump`] and knows when the
//! snapshot is complete.
//!
//! Stream order is not time order: nettrace keeps each capture thread's
//! events in order, but interleaves threads by buffer. With server GC the
//! GCStart is logged by one GC thread and the heap walk by another, and the
//! walk's first events come before the GCStart in the stream (seen on .NET 10:
//! GCStart 8 MB into a 90 MB trace). So the rules rest on per-thread order
//! and on timestamps, not on a GCStart..GCEnd window in stream order:
//!
//! * The heap-walk events (objects, references, roots) are the walk: the
//!   runtime walks the heap only in the GC that enabling GCHeapCollect forces.
//! * The thread that logs the first GCBulkNode is the walk thread. The
//!   snapshot is complete at the first depth-2 GCEnd that thread logs after
//!   it: the walk runs inside the GC, and that thread's events are in order.
//! * Generation ranges are logged at the start of the GC (by the thread that
//!   starts it) and after the walk (by the walk thread); those logged after
//!   the walk began (by timestamp) describe the heap the snapshot shows.
//! * BulkType events are taken whenever they come: the runtime logs a type
//!   the first time a session sees it, which may be before the GC.
//! * So are the GC's `CommittedUsage` events (at the start and end of every
//!   blocking GC, by the GC's thread): the last one read is kept, and
//!   [`HeapSnapshotBuilder::on_trailing_event`] keeps looking for it while a
//!   live capture drains the stream after the snapshot is complete.
//!
//! Memory is budgeted: what the snapshot holds may not exceed
//! [`MEMORY_ALLOWANCE`] plus [`MEMORY_PER_TRACE_BYTE`] per byte of trace
//! read so far. The runtime's events are larger than what they become (an
//! object is 32 bytes on the wire and 24 kept, a reference 12 and 8), so a
//! real trace stays well below; a crafted one (millions of roots or types
//! of a few bytes each) fails with [`GcHeapError::OverBudget`] instead of
//! making the machine swap.

use std::collections::HashMap;
use std::mem::size_of;

use super::error::GcHeapError;
use super::events::{self, RUNTIME_PROVIDER, event_id, gc_type};
use super::model::{
    DependentHandle, GcHeapDump, GcNode, GcRoot, GcType, GenerationRange, RootKind,
};
use crate::gccommit::{GC_DYNAMIC_EVENT, GC_HEAP_STATS, GcAccountReader};
use crate::nettrace::{Event, NettraceError};

/// The heap walk, once its first object was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Walk {
    thread: u64,
    first_timestamp: i64,
    first_offset: u64,
}

/// Bytes the snapshot may hold whatever the trace's size (small traces,
/// the type table of a trace read from its start).
pub const MEMORY_ALLOWANCE: u64 = 16 << 20;
/// Bytes the snapshot may hold per byte of trace read, beyond the allowance.
pub const MEMORY_PER_TRACE_BYTE: u64 = 2;
/// What one entry of a hash map costs, beyond its key and value (control
/// bytes, empty buckets at the highest load).
const HASH_ENTRY_OVERHEAD: usize = 16;

/// The indexed bulk event kinds, whose batch numbers reveal lost batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum BatchKind {
    Nodes,
    Edges,
    RootEdges,
    DependentHandles,
}

/// Collects one heap snapshot from a stream of events.
///
/// ```
/// use leakgate_dotnet::gcheap::{HeapSnapshotBuilder, synth::HeapTrace};
/// use leakgate_dotnet::nettrace::EventStream;
///
/// let bytes = HeapTrace::new().object(0x1000, 24, "App.Thing", &[]).build();
/// let mut stream = EventStream::new(bytes.as_slice())?;
/// let mut builder = HeapSnapshotBuilder::new(stream.trace());
/// while let Some(event) = stream.next_event()? {
///     builder.on_event(&event)?;
///     if builder.is_complete() {
///         break; // a live capture stops its session here
///     }
/// }
/// let dump = builder.finish(stream.dropped_events())?;
/// assert_eq!(dump.nodes.len(), 1);
/// # Ok::<(), leakgate_dotnet::gcheap::GcHeapError>(())
/// ```
#[derive(Debug)]
pub struct HeapSnapshotBuilder {
    pointer_size: u32,
    process_id: u32,
    walk: Option<Walk>,
    /// The number of the GC whose depth-2 GCEnd completed the walk.
    completed_gc: Option<u32>,
    /// The first full blocking GC's number and where it started, for messages.
    gc_started: Option<(u32, u64)>,
    types: Vec<GcType>,
    type_index: HashMap<u64, u32>,
    nodes: Vec<GcNode>,
    edges: Vec<u64>,
    /// Sum of the nodes' edge counts: how many edges the edge events must carry.
    announced_edges: u64,
    roots: Vec<GcRoot>,
    dependent_handles: Vec<DependentHandle>,
    /// Every range seen, with its timestamp (a few hundred at most).
    generation_ranges: Vec<(i64, GenerationRange)>,
    /// What the GC tells of itself: its committed bytes, its heap statistics.
    account: GcAccountReader,
    /// Next batch number expected, per kind and capture thread.
    next_batch: HashMap<(BatchKind, u64), u32>,
    missing_batches: u64,
    last_offset: u64,
    /// Bytes held in the collections above (lengths, not capacities).
    held: u64,
    /// What they may hold, as of the event being read.
    budget: u64,
    /// That event's offset, for the error.
    event_offset: u64,
}

impl HeapSnapshotBuilder {
    pub fn new(trace: &crate::nettrace::TraceInfo) -> Self {
        HeapSnapshotBuilder {
            pointer_size: trace.pointer_size,
            process_id: trace.process_id,
            walk: None,
            completed_gc: None,
            gc_started: None,
            types: Vec::new(),
            type_index: HashMap::new(),
            nodes: Vec::new(),
            edges: Vec::new(),
            announced_edges: 0,
            roots: Vec::new(),
            dependent_handles: Vec::new(),
            generation_ranges: Vec::new(),
            account: GcAccountReader::default(),
            next_batch: HashMap::new(),
            missing_batches: 0,
            last_offset: 0,
            held: 0,
            budget: MEMORY_ALLOWANCE,
            event_offset: 0,
        }
    }

    /// The walk's GC has ended: no further event can add to the snapshot.
    pub fn is_complete(&self) -> bool {
        self.completed_gc.is_some()
    }

    /// Objects collected so far.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Takes one event into account; events of other providers, and heap
    /// events after completion, are ignored.
    pub fn on_event(&mut self, event: &Event<'_>) -> Result<(), GcHeapError> {
        if event.metadata.provider != RUNTIME_PROVIDER {
            return Ok(());
        }
        self.last_offset = event.offset;
        let trace_bytes = event.payload_offset + event.payload.len() as u64;
        self.budget =
            MEMORY_ALLOWANCE.saturating_add(trace_bytes.saturating_mul(MEMORY_PER_TRACE_BYTE));
        self.event_offset = event.offset;
        let (payload, at) = (event.payload, event.payload_offset);
        match event.metadata.event_id {
            GC_DYNAMIC_EVENT | GC_HEAP_STATS => self.on_trailing_event(event),
            event_id::BULK_TYPE => {
                for entry in events::bulk_type(payload, at)? {
                    self.define_type(entry?)?;
                }
            }
            _ if self.is_complete() => {}
            event_id::GC_START => {
                self.account.event(event);
                let start = events::gc_start(payload, at, event.metadata.version)?;
                if self.gc_started.is_none()
                    && start.depth == 2
                    && start.gc_type != gc_type::BACKGROUND
                {
                    self.gc_started = Some((start.count, event.offset));
                }
            }
            event_id::GC_END => {
                let end = events::gc_end(payload, at)?;
                if end.depth == 2
                    && self
                        .walk
                        .is_some_and(|w| w.thread == event.header.capture_thread_id)
                {
                    self.completed_gc = Some(end.count);
                }
            }
            event_id::GC_GENERATION_RANGE => {
                let range = events::generation_range(payload, at, self.pointer_size)?;
                self.charge(size_of::<(i64, GenerationRange)>())?;
                self.generation_ranges.push((
                    event.header.timestamp,
                    GenerationRange {
                        generation: range.generation,
                        start: range.start,
                        used_length: range.used_length,
                        reserved_length: range.reserved_length,
                    },
                ));
            }
            id => self.on_heap_walk_event(event, id)?,
        }
        Ok(())
    }

    /// Counts `bytes` more as held; fails once that is more than the trace
    /// read so far allows (checked per entry: one event may hold 16 MiB).
    fn charge(&mut self, bytes: usize) -> Result<(), GcHeapError> {
        self.held = self.held.saturating_add(bytes as u64);
        if self.held > self.budget {
            return Err(GcHeapError::OverBudget {
                offset: self.event_offset,
                held: self.held,
                trace_bytes: (self.budget - MEMORY_ALLOWANCE) / MEMORY_PER_TRACE_BYTE,
            });
        }
        Ok(())
    }

    /// Takes an event read after completion into account: only what the GC
    /// tells of itself (its committed bytes, its heap statistics) can still
    /// change. Never fails, so a live capture can drain its stream through it.
    pub fn on_trailing_event(&mut self, event: &Event<'_>) {
        self.account.event(event);
    }

    fn on_heap_walk_event(&mut self, event: &Event<'_>, id: u32) -> Result<(), GcHeapError> {
        let (payload, at, ps) = (event.payload, event.payload_offset, self.pointer_size);
        let thread = event.header.capture_thread_id;
        match id {
            event_id::GC_BULK_NODE => {
                let batch = events::bulk_node(payload, at, ps)?;
                self.check_batch(BatchKind::Nodes, thread, batch.index, event.offset)?;
                self.walk.get_or_insert(Walk {
                    thread,
                    first_timestamp: event.header.timestamp,
                    first_offset: event.offset,
                });
                self.charge(batch.count * size_of::<GcNode>())?;
                self.nodes.reserve(batch.count);
                for node in events::nodes(&batch) {
                    let edge_count = u32::try_from(node.edge_count).map_err(|_| {
                        NettraceError::malformed(
                            event.offset,
                            format!(
                                "object {:#x} has {} references",
                                node.address, node.edge_count
                            ),
                        )
                    })?;
                    let type_index = self.intern_type(node.type_id)?;
                    self.announced_edges += u64::from(edge_count);
                    self.nodes.push(GcNode {
                        address: node.address,
                        size: node.size,
                        type_index,
                        edge_count,
                    });
                }
            }
            event_id::GC_BULK_EDGE => {
                let batch = events::bulk_edge(payload, at, ps)?;
                self.check_batch(BatchKind::Edges, thread, batch.index, event.offset)?;
                self.charge(batch.count * size_of::<u64>())?;
                self.edges.extend(events::edge_targets(&batch));
            }
            event_id::GC_BULK_ROOT_EDGE => {
                let batch = events::bulk_root_edge(payload, at, ps)?;
                self.check_batch(BatchKind::RootEdges, thread, batch.index, event.offset)?;
                self.charge(batch.count * size_of::<GcRoot>())?;
                self.roots
                    .extend(events::root_edges(&batch).map(|r| GcRoot {
                        kind: RootKind::from_wire(r.kind),
                        flags: r.flags,
                        target: r.target,
                        root_id: r.root_id,
                    }));
            }
            event_id::GC_BULK_ROOT_CONDITIONAL_WEAK_TABLE_ELEMENT_EDGE => {
                let batch = events::bulk_root_conditional_weak_table(payload, at, ps)?;
                self.check_batch(
                    BatchKind::DependentHandles,
                    thread,
                    batch.index,
                    event.offset,
                )?;
                self.charge(batch.count * size_of::<DependentHandle>())?;
                self.dependent_handles
                    .extend(events::dependent_handles(&batch).map(|d| DependentHandle {
                        key: d.key,
                        value: d.value,
                        root_id: d.root_id,
                    }));
            }
            event_id::GC_BULK_ROOT_STATIC_VAR => {
                for entry in events::bulk_root_static_var(payload, at)? {
                    let entry = entry?;
                    self.charge(size_of::<GcRoot>() + entry.field_name.len())?;
                    self.intern_type(entry.type_id)?;
                    self.roots.push(GcRoot {
                        kind: RootKind::static_variable(
                            entry.type_id,
                            entry.field_name,
                            entry.flags,
                        ),
                        flags: 0,
                        target: entry.object,
                        root_id: entry.root_id,
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The snapshot, once complete. `dropped_events` is the stream's count
    /// (read the stream to its end first: the last sequence point may reveal
    /// more).
    pub fn finish(self, dropped_events: u64) -> Result<GcHeapDump, GcHeapError> {
        let (gc_number, walk) = match (self.completed_gc, self.walk) {
            (Some(gc_number), Some(walk)) => (gc_number, walk),
            (_, Some(walk)) => {
                return Err(GcHeapError::Unfinished {
                    gc_number: self.gc_started.map(|(n, _)| n),
                    offset: walk.first_offset,
                });
            }
            (_, None) => {
                return Err(GcHeapError::NoSnapshot {
                    reason: match self.gc_started {
                        Some(_) => "a full blocking GC ran but logged no object",
                        None => "no full blocking GC logged any object",
                    },
                });
            }
        };
        let lossy = dropped_events > 0 || self.missing_batches > 0;
        if self.edges.len() as u64 != self.announced_edges && !lossy {
            return Err(GcHeapError::Inconsistent {
                offset: self.last_offset,
                problem: format!(
                    "the objects announce {} references but the edge events carry {}",
                    self.announced_edges,
                    self.edges.len()
                ),
            });
        }
        // Ranges logged once the walk began describe the heap after the GC.
        let generation_ranges = self
            .generation_ranges
            .into_iter()
            .filter(|(timestamp, _)| *timestamp >= walk.first_timestamp)
            .map(|(_, range)| range)
            .collect();
        let account = self.account.finish();
        // Grown by doubling: up to half of each is spare room (a large block
        // shrinks in place, without a copy).
        let (mut nodes, mut edges) = (self.nodes, self.edges);
        nodes.shrink_to_fit();
        edges.shrink_to_fit();
        Ok(GcHeapDump {
            process_id: self.process_id,
            pointer_size: self.pointer_size,
            gc_number,
            types: self.types,
            nodes,
            edges,
            roots: self.roots,
            dependent_handles: self.dependent_handles,
            generation_ranges,
            gc_committed: account.committed,
            gc_heap: account.heap,
            dropped_events,
            missing_batches: self.missing_batches,
        })
    }

    fn check_batch(
        &mut self,
        kind: BatchKind,
        thread: u64,
        index: u32,
        offset: u64,
    ) -> Result<(), GcHeapError> {
        if !self.next_batch.contains_key(&(kind, thread)) {
            self.charge(size_of::<((BatchKind, u64), u32)>() + HASH_ENTRY_OVERHEAD)?;
        }
        let expected = self.next_batch.entry((kind, thread)).or_insert(0);
        if index < *expected {
            return Err(GcHeapError::Inconsistent {
                offset,
                problem: format!(
                    "{kind:?} batch number {index} after batch {}",
                    *expected - 1
                ),
            });
        }
        self.missing_batches += u64::from(index - *expected);
        *expected = index.saturating_add(1);
        Ok(())
    }

    fn intern_type(&mut self, id: u64) -> Result<u32, GcHeapError> {
        if let Some(&index) = self.type_index.get(&id) {
            return Ok(index);
        }
        let index = self.types.len() as u32;
        self.charge(size_of::<GcType>() + size_of::<(u64, u32)>() + HASH_ENTRY_OVERHEAD)?;
        self.types.push(GcType {
            id,
            name: None,
            flags: 0,
            module_id: 0,
            type_name_id: 0,
            cor_element_type: 0,
        });
        self.type_index.insert(id, index);
        Ok(index)
    }

    fn define_type(&mut self, entry: events::BulkTypeEntry) -> Result<(), GcHeapError> {
        let index = self.intern_type(entry.type_id)? as usize;
        let old_name = self.types[index].name.as_ref().map_or(0, String::len);
        self.held -= old_name as u64;
        self.charge(entry.name.len())?;
        self.types[index] = GcType {
            id: entry.type_id,
            name: Some(entry.name),
            flags: entry.flags,
            module_id: entry.module_id,
            type_name_id: entry.type_name_id,
            cor_element_type: entry.cor_element_type,
        };
        Ok(())
    }
}
