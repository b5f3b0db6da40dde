//! Synthetic heap-snapshot traces: say which objects, references and roots
//! the heap holds, get the nettrace stream the runtime would send.
//!
//! ```
//! use leakgate_dotnet::gcheap::{read_gc_heap, synth::HeapTrace};
//!
//! let bytes = HeapTrace::new()
//!     .finalizable_type("App.Handle")
//!     .object(0x1000, 32, "App.Holder", &[0x2000])
//!     .object(0x2000, 24, "App.Handle", &[])
//!     .stack_root(0x1000)
//!     .build();
//! let dump = read_gc_heap(bytes.as_slice())?;
//! assert_eq!(dump.nodes.len(), 2);
//! assert_eq!(dump.edges, [0x2000]);
//! # Ok::<(), leakgate_dotnet::gcheap::GcHeapError>(())
//! ```

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::events::{RUNTIME_PROVIDER, event_id, type_flag};
use crate::gccommit::{GC_DYNAMIC_EVENT, GC_HEAP_STATS, GcCommitted, GcHeapStats};
use crate::nettrace::synth::{
    NettraceBuilder, SynthEvent, SynthMetadata, put_u16, put_u32, put_utf16z,
};

/// Metadata ids the synthetic traces use, one per event kind.
fn metadata_id(event: u32) -> u32 {
    100 + event
}

/// The metadata record of a runtime event: (event id, payload version).
fn runtime_metadata((event, version): (u32, u32)) -> SynthMetadata {
    SynthMetadata {
        metadata_id: metadata_id(event),
        provider: RUNTIME_PROVIDER.into(),
        event_id: event,
        event_name: String::new(),
        version,
    }
}

/// The runtime thread that runs the GC and logs the heap walk.
const GC_THREAD: u64 = 0x77;
/// With the server GC layout, the GC thread that logs GCStart.
const STARTER_THREAD: u64 = 0x78;

#[derive(Debug, Clone)]
struct SynthType {
    id: u64,
    flags: u32,
}

#[derive(Debug, Clone)]
struct SynthNode {
    address: u64,
    size: u64,
    type_name: String,
    edges: Vec<u64>,
}

/// A heap to encode as a trace of one induced GC with its heap walk.
#[derive(Debug, Clone)]
pub struct HeapTrace {
    gc_number: u32,
    types: BTreeMap<String, SynthType>,
    nodes: Vec<SynthNode>,
    /// (target, kind, flags)
    roots: Vec<(u64, u8, u32)>,
    /// (target, object's type name, field name)
    statics: Vec<(u64, String, String)>,
    dependent_handles: Vec<(u64, u64)>,
    /// (generation, start, used, reserved)
    ranges: Vec<(u8, u64, u64, u64)>,
    nodes_per_batch: usize,
    edges_per_batch: usize,
    events_per_block: usize,
    dropped_node_batches: Vec<usize>,
    unnamed_types: Vec<String>,
    end_gc: bool,
    server_gc: bool,
    committed: Option<GcCommitted>,
}

impl Default for HeapTrace {
    fn default() -> Self {
        Self::new()
    }
}

impl HeapTrace {
    pub fn new() -> Self {
        HeapTrace {
            gc_number: 7,
            types: BTreeMap::new(),
            nodes: Vec::new(),
            roots: Vec::new(),
            statics: Vec::new(),
            dependent_handles: Vec::new(),
            ranges: Vec::new(),
            nodes_per_batch: 3,
            edges_per_batch: 4,
            events_per_block: 5,
            dropped_node_batches: Vec::new(),
            unnamed_types: Vec::new(),
            end_gc: true,
            server_gc: false,
            committed: None,
        }
    }

    fn type_entry(&mut self, name: &str) -> &mut SynthType {
        let next_id = 0x7f00_0000_1000 + 0x100 * self.types.len() as u64;
        self.types.entry(name.to_string()).or_insert(SynthType {
            id: next_id,
            flags: 0,
        })
    }

    /// Marks a type as having a finalizer (BulkType flag 0x2).
    pub fn finalizable_type(mut self, name: &str) -> Self {
        self.type_entry(name).flags |= type_flag::FINALIZABLE;
        self
    }

    /// A type whose BulkType event is never sent (as when it was dropped).
    pub fn unnamed_type(mut self, name: &str) -> Self {
        self.type_entry(name);
        self.unnamed_types.push(name.to_string());
        self
    }

    /// The type id the trace uses for `name`.
    pub fn type_id(&mut self, name: &str) -> u64 {
        self.type_entry(name).id
    }

    /// A live object and the addresses it references.
    pub fn object(mut self, address: u64, size: u64, type_name: &str, edges: &[u64]) -> Self {
        self.type_entry(type_name);
        self.nodes.push(SynthNode {
            address,
            size,
            type_name: type_name.to_string(),
            edges: edges.to_vec(),
        });
        self
    }

    /// A root of the given wire kind (0 stack, 1 finalizer queue, 2 handle, 3 other) and flags.
    pub fn root(mut self, target: u64, kind: u8, flags: u32) -> Self {
        self.roots.push((target, kind, flags));
        self
    }

    pub fn stack_root(self, target: u64) -> Self {
        self.root(target, 0, 0)
    }

    /// An object ready for finalization (rooted by the finalizer queue).
    pub fn finalizer_root(self, target: u64) -> Self {
        self.root(target, 1, 0)
    }

    /// A static field `field` holding `target` (whose type is `type_name`).
    pub fn static_root(mut self, target: u64, type_name: &str, field: &str) -> Self {
        self.type_entry(type_name);
        self.statics
            .push((target, type_name.to_string(), field.to_string()));
        self
    }

    pub fn dependent_handle(mut self, key: u64, value: u64) -> Self {
        self.dependent_handles.push((key, value));
        self
    }

    pub fn generation_range(
        mut self,
        generation: u8,
        start: u64,
        used: u64,
        reserved: u64,
    ) -> Self {
        self.ranges.push((generation, start, used, reserved));
        self
    }

    /// How many objects per GCBulkNode event (default 3, to make several batches).
    pub fn nodes_per_batch(mut self, n: usize) -> Self {
        self.nodes_per_batch = n.max(1);
        self
    }

    /// How many events per event block (default 5).
    pub fn events_per_block(mut self, n: usize) -> Self {
        self.events_per_block = n.max(1);
        self
    }

    /// Leaves node batch `i` out of the stream, as the runtime does when its
    /// buffer is full: the event's sequence number and batch number are used
    /// but the event is not there.
    pub fn drop_node_batch(mut self, i: usize) -> Self {
        self.dropped_node_batches.push(i);
        self
    }

    /// Lays the trace out as the runtime writes a server GC: GCStart and the
    /// ranges before the GC come from another thread than the walk, and reach
    /// the stream only after the walk's first block.
    pub fn server_gc_layout(mut self) -> Self {
        self.server_gc = true;
        self
    }

    /// The GC's committed bytes, logged at the GC's end as the runtime does
    /// (after a `CommittedUsage` with other numbers at its start, and a
    /// dynamic event of another name).
    pub fn committed_usage(mut self, committed: GcCommitted) -> Self {
        self.committed = Some(committed);
        self
    }

    /// Leaves out the GCEnd: the trace stops mid-snapshot.
    pub fn without_gc_end(mut self) -> Self {
        self.end_gc = false;
        self
    }

    /// The trace's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut trace = NettraceBuilder::new();
        trace.metadata_records(&heap_metadata());
        let events = self.events();
        for block in events.chunks(self.events_per_block) {
            trace.events(block);
        }
        trace.sequence_point(&Self::last_sequences(&events));
        trace.finish()
    }

    /// The events in stream order. They are made in time order (timestamps
    /// rise by 10, sequence numbers count per thread); with the server GC
    /// layout the GC-starting thread's events are then written after the
    /// walk's first block, as the runtime writes a server GC.
    fn events(&self) -> Vec<SynthEvent> {
        // (thread, event id, payload, dropped) in time order.
        let mut timeline: Vec<(u64, u32, Vec<u8>, bool)> = Vec::new();
        let walk = GC_THREAD;
        let starter = if self.server_gc {
            STARTER_THREAD
        } else {
            GC_THREAD
        };

        let named: Vec<(&String, &SynthType)> = self
            .types
            .iter()
            .filter(|(name, _)| !self.unnamed_types.contains(name))
            .collect();
        for chunk in named.chunks(4) {
            let entries: Vec<(u64, u32, &str)> = chunk
                .iter()
                .map(|(n, t)| (t.id, t.flags, n.as_str()))
                .collect();
            timeline.push((walk, event_id::BULK_TYPE, bulk_type(&entries), false));
        }
        timeline.push((
            starter,
            event_id::GC_START,
            gc_start(self.gc_number, 2, 1, 0),
            false,
        ));
        if let Some(c) = &self.committed {
            let at_start = GcCommitted {
                in_use: c.in_use / 2,
                ..*c
            };
            timeline.push((starter, GC_DYNAMIC_EVENT, committed_usage(&at_start), false));
        }
        // Ranges before the walk describe the heap before the GC: to be ignored.
        for &(generation, start, _, reserved) in &self.ranges {
            let before = generation_range(generation, start ^ 0xdead_0000, 0, reserved);
            timeline.push((starter, event_id::GC_GENERATION_RANGE, before, false));
        }
        if !self.statics.is_empty() {
            let entries: Vec<(u64, u64, String)> = self
                .statics
                .iter()
                .map(|(target, type_name, field)| {
                    (*target, self.types[type_name].id, field.clone())
                })
                .collect();
            timeline.push((
                walk,
                event_id::GC_BULK_ROOT_STATIC_VAR,
                bulk_root_static_var(&entries),
                false,
            ));
        }

        let all_edges: Vec<u64> = self
            .nodes
            .iter()
            .flat_map(|n| n.edges.iter().copied())
            .collect();
        let node_batches: Vec<&[SynthNode]> = self.nodes.chunks(self.nodes_per_batch).collect();
        let edge_batches: Vec<&[u64]> = all_edges.chunks(self.edges_per_batch).collect();
        // Interleave as the runtime does: an edge batch may be flushed before
        // the node batch that announces its edges.
        for i in 0..node_batches.len().max(edge_batches.len()) {
            if let Some(nodes) = node_batches.get(i) {
                let entries: Vec<(u64, u64, u64, u64)> = nodes
                    .iter()
                    .map(|n| {
                        let type_id = self.types[&n.type_name].id;
                        (n.address, n.size, type_id, n.edges.len() as u64)
                    })
                    .collect();
                let dropped = self.dropped_node_batches.contains(&i);
                timeline.push((
                    walk,
                    event_id::GC_BULK_NODE,
                    bulk_node(i as u32, &entries),
                    dropped,
                ));
            }
            if let Some(edges) = edge_batches.get(i) {
                timeline.push((
                    walk,
                    event_id::GC_BULK_EDGE,
                    bulk_edge(i as u32, edges),
                    false,
                ));
            }
        }
        for (i, roots) in self.roots.chunks(5).enumerate() {
            let entries: Vec<(u64, u8, u32, u64)> = roots
                .iter()
                .enumerate()
                .map(|(j, &(target, kind, flags))| (target, kind, flags, 0x5000 + j as u64 * 8))
                .collect();
            timeline.push((
                walk,
                event_id::GC_BULK_ROOT_EDGE,
                bulk_root_edge(i as u32, &entries),
                false,
            ));
        }
        if !self.dependent_handles.is_empty() {
            let entries: Vec<(u64, u64, u64)> = self
                .dependent_handles
                .iter()
                .enumerate()
                .map(|(j, &(key, value))| (key, value, 0x6000 + j as u64 * 8))
                .collect();
            timeline.push((
                walk,
                event_id::GC_BULK_ROOT_CONDITIONAL_WEAK_TABLE_ELEMENT_EDGE,
                bulk_root_conditional_weak_table(0, &entries),
                false,
            ));
        }
        for &(generation, start, used, reserved) in &self.ranges {
            let after = generation_range(generation, start, used, reserved);
            timeline.push((walk, event_id::GC_GENERATION_RANGE, after, false));
        }
        if let Some(c) = &self.committed {
            let other = dynamic_event("SizeAdaptationSample", &[1, 0, 9, 9]);
            timeline.push((walk, GC_DYNAMIC_EVENT, other, false));
            timeline.push((walk, GC_DYNAMIC_EVENT, committed_usage(c), false));
        }
        if self.end_gc {
            timeline.push((walk, event_id::GC_END, gc_end(self.gc_number, 2), false));
        }

        let mut sequences: BTreeMap<u64, u32> = BTreeMap::new();
        let mut events: Vec<SynthEvent> = Vec::new();
        for (time, (thread, event, payload, dropped)) in timeline.into_iter().enumerate() {
            let sequence = sequences.entry(thread).or_insert(0);
            *sequence += 1;
            if !dropped {
                let mut e = SynthEvent::new(metadata_id(event), *sequence, thread, payload);
                e.timestamp = 1000 + 10 * time as i64;
                events.push(e);
            }
        }
        if self.server_gc {
            // The starter's events reach the stream after the walk's first block.
            let (starter_events, mut rest): (Vec<_>, Vec<_>) = events
                .into_iter()
                .partition(|e| e.capture_thread_id == STARTER_THREAD);
            let at = self.events_per_block.min(rest.len());
            rest.splice(at..at, starter_events);
            events = rest;
        }
        events
    }

    /// The last sequence number of each thread, for the closing sequence point.
    fn last_sequences(events: &[SynthEvent]) -> Vec<(u64, u32)> {
        let mut last: BTreeMap<u64, u32> = BTreeMap::new();
        for e in events {
            last.insert(e.capture_thread_id, e.sequence_number);
        }
        last.into_iter().collect()
    }
}

/// The metadata records of the runtime events a heap snapshot trace holds.
fn heap_metadata() -> Vec<SynthMetadata> {
    [
        (event_id::GC_START, 2),
        (event_id::GC_END, 1),
        (event_id::BULK_TYPE, 0),
        (event_id::GC_BULK_ROOT_EDGE, 0),
        (
            event_id::GC_BULK_ROOT_CONDITIONAL_WEAK_TABLE_ELEMENT_EDGE,
            0,
        ),
        (event_id::GC_BULK_NODE, 0),
        (event_id::GC_BULK_EDGE, 0),
        (event_id::GC_GENERATION_RANGE, 0),
        (event_id::GC_BULK_ROOT_STATIC_VAR, 0),
        (GC_DYNAMIC_EVENT, 0),
    ]
    .into_iter()
    .map(runtime_metadata)
    .collect()
}

/// GCStart V2 payload.
pub fn gc_start(count: u32, depth: u32, reason: u32, gc_type: u32) -> Vec<u8> {
    let mut p = Vec::new();
    for v in [count, depth, reason, gc_type] {
        put_u32(&mut p, v);
    }
    put_u16(&mut p, 0);
    p.extend_from_slice(&0u64.to_le_bytes());
    p
}

/// GCEnd V1 payload.
pub fn gc_end(count: u32, depth: u32) -> Vec<u8> {
    let mut p = Vec::new();
    put_u32(&mut p, count);
    put_u32(&mut p, depth);
    put_u16(&mut p, 0);
    p
}

/// BulkType payload: (type id, flags, name) per entry.
pub fn bulk_type(entries: &[(u64, u32, &str)]) -> Vec<u8> {
    let mut p = Vec::new();
    put_u32(&mut p, entries.len() as u32);
    put_u16(&mut p, 0);
    for &(id, flags, name) in entries {
        p.extend_from_slice(&id.to_le_bytes());
        p.extend_from_slice(&0x7f00_0000_0000u64.to_le_bytes()); // module
        put_u32(&mut p, 0x0200_0001); // TypeDef token
        put_u32(&mut p, flags);
        p.push(if flags & type_flag::ARRAY != 0 {
            0x1d
        } else {
            0x12
        });
        put_utf16z(&mut p, name);
        put_u32(&mut p, 0); // no type parameters
    }
    p
}

fn indexed_head(p: &mut Vec<u8>, index: u32, count: usize) {
    put_u32(p, index);
    put_u32(p, count as u32);
    put_u16(p, 0);
}

/// GCBulkNode payload (64-bit): (address, size, type id, edge count) per entry.
pub fn bulk_node(index: u32, entries: &[(u64, u64, u64, u64)]) -> Vec<u8> {
    let mut p = Vec::new();
    indexed_head(&mut p, index, entries.len());
    for &(address, size, type_id, edges) in entries {
        for v in [address, size, type_id, edges] {
            p.extend_from_slice(&v.to_le_bytes());
        }
    }
    p
}

/// GCBulkEdge payload (64-bit): target addresses.
pub fn bulk_edge(index: u32, targets: &[u64]) -> Vec<u8> {
    let mut p = Vec::new();
    indexed_head(&mut p, index, targets.len());
    for (field, target) in targets.iter().enumerate() {
        p.extend_from_slice(&target.to_le_bytes());
        put_u32(&mut p, field as u32);
    }
    p
}

/// GCBulkRootEdge payload (64-bit): (target, kind, flags, root id) per entry.
pub fn bulk_root_edge(index: u32, entries: &[(u64, u8, u32, u64)]) -> Vec<u8> {
    let mut p = Vec::new();
    indexed_head(&mut p, index, entries.len());
    for &(target, kind, flags, root_id) in entries {
        p.extend_from_slice(&target.to_le_bytes());
        p.push(kind);
        put_u32(&mut p, flags);
        p.extend_from_slice(&root_id.to_le_bytes());
    }
    p
}

/// GCBulkRootConditionalWeakTableElementEdge payload (64-bit): (key, value, handle).
pub fn bulk_root_conditional_weak_table(index: u32, entries: &[(u64, u64, u64)]) -> Vec<u8> {
    let mut p = Vec::new();
    indexed_head(&mut p, index, entries.len());
    for &(key, value, handle) in entries {
        for v in [key, value, handle] {
            p.extend_from_slice(&v.to_le_bytes());
        }
    }
    p
}

/// GCBulkRootStaticVar payload: (object, object's type id, field name) per entry.
pub fn bulk_root_static_var(entries: &[(u64, u64, String)]) -> Vec<u8> {
    let mut p = Vec::new();
    put_u32(&mut p, entries.len() as u32);
    p.extend_from_slice(&1u64.to_le_bytes()); // app domain
    put_u16(&mut p, 0);
    for (i, (object, type_id, field)) in entries.iter().enumerate() {
        p.extend_from_slice(&(0x9000 + 8 * i as u64).to_le_bytes());
        p.extend_from_slice(&object.to_le_bytes());
        p.extend_from_slice(&type_id.to_le_bytes());
        put_u32(&mut p, 0);
        put_utf16z(&mut p, field);
    }
    p
}

/// GCGenerationRange payload (64-bit).
pub fn generation_range(generation: u8, start: u64, used: u64, reserved: u64) -> Vec<u8> {
    let mut p = vec![generation];
    for v in [start, used, reserved] {
        p.extend_from_slice(&v.to_le_bytes());
    }
    put_u16(&mut p, 0);
    p
}

/// GCDynamicEvent payload: UTF-16 name, u32 data size, data, u16 ClrInstanceID.
pub fn dynamic_event(name: &str, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    put_utf16z(&mut p, name);
    put_u32(&mut p, data.len() as u32);
    p.extend_from_slice(data);
    put_u16(&mut p, 0);
    p
}

/// The `CommittedUsage` dynamic event (data version 1), as .NET 10 logs it.
pub fn committed_usage(c: &GcCommitted) -> Vec<u8> {
    let mut data = 1i16.to_le_bytes().to_vec();
    for v in [
        c.in_use,
        c.in_global_decommit,
        c.in_free,
        c.in_global_free,
        c.bookkeeping,
    ] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    dynamic_event("CommittedUsage", &data)
}

/// `GCHeapStats` V2 payload, as .NET 10 logs it.
pub fn heap_stats(s: &GcHeapStats) -> Vec<u8> {
    let mut p = Vec::new();
    for g in 0..4 {
        p.extend_from_slice(&s.generation_sizes[g].to_le_bytes());
        p.extend_from_slice(&s.survived[g].to_le_bytes());
    }
    p.extend_from_slice(&s.finalization_promoted_bytes.to_le_bytes());
    p.extend_from_slice(&s.finalization_promoted_count.to_le_bytes());
    put_u32(&mut p, s.pinned_objects);
    put_u32(&mut p, 3); // sync blocks
    put_u32(&mut p, s.gc_handles);
    put_u16(&mut p, 0);
    p.extend_from_slice(&s.generation_sizes[4].to_le_bytes());
    p.extend_from_slice(&s.survived[4].to_le_bytes());
    p
}

/// One GC of a [`gc_session`].
#[derive(Debug, Clone, Copy)]
pub struct SynthGc {
    /// The generation collected (2 = full).
    pub depth: u32,
    /// See [`super::events::gc_type`].
    pub gc_type: u32,
    pub stats: GcHeapStats,
    pub committed: Option<GcCommitted>,
}

/// The events of a GC session (an induced GC's) in which these GCs ran one
/// after another, each logged as the runtime logs it: GCStart, GCEnd,
/// GCHeapStats, then its `CommittedUsage` if given.
pub fn gc_session(gcs: &[SynthGc]) -> Vec<u8> {
    let mut trace = NettraceBuilder::new();
    let metadata: Vec<SynthMetadata> = [
        (event_id::GC_START, 2),
        (event_id::GC_END, 1),
        (GC_HEAP_STATS, 2),
        (GC_DYNAMIC_EVENT, 0),
    ]
    .into_iter()
    .map(runtime_metadata)
    .collect();
    trace.metadata_records(&metadata);
    let mut payloads = Vec::new();
    for (n, gc) in gcs.iter().enumerate() {
        let count = n as u32 + 1;
        payloads.push((event_id::GC_START, gc_start(count, gc.depth, 1, gc.gc_type)));
        payloads.push((event_id::GC_END, gc_end(count, gc.depth)));
        payloads.push((GC_HEAP_STATS, heap_stats(&gc.stats)));
        if let Some(c) = &gc.committed {
            payloads.push((GC_DYNAMIC_EVENT, committed_usage(c)));
        }
    }
    let events: Vec<SynthEvent> = payloads
        .into_iter()
        .enumerate()
        .map(|(i, (event, payload))| {
            let mut e = SynthEvent::new(metadata_id(event), i as u32 + 1, GC_THREAD, payload);
            e.timestamp = 1000 + 10 * i as i64;
            e
        })
        .collect();
    trace.events(&events);
    trace.sequence_point(&[(GC_THREAD, events.len() as u32)]);
    trace.finish()
}

/// Writes a trace, block by block, of `count` events on the walk thread,
/// event `i` being `event_of(i)` (event id and payload; 8 to a block), then
/// that thread's GCEnd: a trace of any size from little memory. Repeated
/// entries compress several hundredfold, the shape of a gzip bomb.
pub fn write_flood(
    out: &mut (impl Write + ?Sized),
    count: u32,
    event_of: impl Fn(u32) -> (u32, Vec<u8>),
) -> io::Result<()> {
    const EVENTS_PER_BLOCK: u32 = 8;
    let mut trace = NettraceBuilder::new();
    let mut metadata = heap_metadata();
    metadata.push(runtime_metadata((GC_HEAP_STATS, 2)));
    trace.metadata_records(&metadata);
    out.write_all(&trace.drain())?;
    for first in (0..count).step_by(EVENTS_PER_BLOCK as usize) {
        let block: Vec<SynthEvent> = (first..count.min(first + EVENTS_PER_BLOCK))
            .map(|i| {
                let (event, payload) = event_of(i);
                SynthEvent::new(metadata_id(event), i + 1, GC_THREAD, payload)
            })
            .collect();
        trace.events(&block);
        out.write_all(&trace.drain())?;
    }
    let end = SynthEvent::new(
        metadata_id(event_id::GC_END),
        count + 1,
        GC_THREAD,
        gc_end(7, 2),
    );
    trace.events(&[end]);
    trace.sequence_point(&[(GC_THREAD, count + 1)]);
    out.write_all(&trace.finish())
}

/// A service-like heap of any size, written as a trace block by block from a
/// few KiB of memory (each object, its type and its references are a function
/// of its number): for measuring snapshots of 10^7 objects and more.
///
/// Groups of [`ScaleHeap::GROUP`] objects are one node batch and one edge
/// batch each. A group is a container (3,000 container types) holding either
/// a dictionary (an `Entry[]` array referencing ~330 entries, each with a key
/// string and a value; a value links back to its container, to a nearby
/// object, and 1 in 20 anywhere in the heap) or a linked list of nodes with
/// values. Each container links to the next live group's: one chain through
/// the heap. 100 groups from the 200th make one list 50,000 nodes long; 1
/// group in 30 is garbage (skipped by the chain, no static root; a stack slot
/// or a far reference may still reach it). Roots: a static field on every
/// 50th container, 100 stack slots, a finalizer-queue entry.
///
/// ```
/// use leakgate_dotnet::gcheap::{read_gc_heap, synth::ScaleHeap};
///
/// let mut trace = Vec::new();
/// ScaleHeap::new(10_000).write(&mut trace)?;
/// let dump = read_gc_heap(trace.as_slice()).unwrap();
/// assert_eq!(dump.nodes.len(), 10_000);
/// assert!(dump.is_complete());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ScaleHeap {
    objects: u64,
}

/// Where [`ScaleHeap`]'s objects start; object `i` is at `BASE + 0x40 * i`.
const SCALE_BASE: u64 = 0x7e00_0000_0000;
/// [`ScaleHeap`]'s fixed types; containers follow them.
const SCALE_TYPES: [(&str, u32); 6] = [
    ("System.String", 0),
    (
        "System.Collections.Generic.Dictionary`2+Entry[System.String,App.Value][]",
        type_flag::ARRAY,
    ),
    (
        "System.Collections.Generic.Dictionary`2+Entry[System.String,App.Value]",
        0,
    ),
    ("App.Value", 0),
    ("System.Collections.Generic.LinkedListNode`1[App.Value]", 0),
    ("App.Garbage", type_flag::FINALIZABLE),
];
const CONTAINER_TYPES: u64 = 3000;
const TYPES_PER_EVENT: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupKind {
    Dictionary,
    List,
}

impl ScaleHeap {
    /// Objects per group (one node batch, one edge batch).
    pub const GROUP: u64 = 1000;

    pub fn new(objects: u64) -> Self {
        ScaleHeap { objects }
    }

    /// The address of object `i`.
    pub fn address(i: u64) -> u64 {
        SCALE_BASE + 0x40 * i
    }

    fn groups(&self) -> u64 {
        self.objects.div_ceil(Self::GROUP)
    }

    fn type_count() -> u64 {
        SCALE_TYPES.len() as u64 + CONTAINER_TYPES
    }

    fn type_id(t: u64) -> u64 {
        0x7f00_0000_1000 + 0x100 * t
    }

    fn kind(&self, group: u64) -> GroupKind {
        if (200..300).contains(&group) || mix(group) % 2 == 1 {
            GroupKind::List
        } else {
            GroupKind::Dictionary
        }
    }

    fn is_garbage(group: u64) -> bool {
        group > 0 && mix(group ^ 0x9a).is_multiple_of(30) && !(199..301).contains(&group)
    }

    fn group_len(&self, group: u64) -> u64 {
        Self::GROUP.min(self.objects - group * Self::GROUP)
    }

    /// Object `i`: (size, type number, references).
    fn object(&self, i: u64, refs: &mut Vec<u64>) -> (u64, u64) {
        refs.clear();
        let (group, j) = (i / Self::GROUP, i % Self::GROUP);
        let len = self.group_len(group);
        let first = group * Self::GROUP;
        let h = mix(i);
        let nearby = |h: u64| Self::address(i - h % i.clamp(1, 5000));
        let anywhere = |h: u64| Self::address(h % self.objects);
        if j == 0 {
            // The container: the next live group's container, and its content.
            let mut next = group + 1;
            while Self::is_garbage(next) {
                next += 1;
            }
            if next < self.groups() {
                refs.push(Self::address(next * Self::GROUP));
            }
            if len > 1 {
                refs.push(Self::address(i + 1));
            }
            return (48, SCALE_TYPES.len() as u64 + group % CONTAINER_TYPES);
        }
        match self.kind(group) {
            GroupKind::Dictionary => {
                // 1: the array; then (entry, key, value) triples; the rest is garbage.
                let triples = (len - 2) / 3;
                if j == 1 {
                    refs.extend((0..triples).map(|m| Self::address(first + 2 + 3 * m)));
                    return (16 + 8 * triples, 1);
                }
                let (m, role) = ((j - 2) / 3, (j - 2) % 3);
                if m >= triples {
                    return (24, 5);
                }
                match role {
                    0 => {
                        refs.extend([Self::address(i + 1), Self::address(i + 2)]);
                        if m > 0 && h.is_multiple_of(2) {
                            refs.push(Self::address(i - 3)); // a chained bucket
                        }
                        (32, 2)
                    }
                    1 => (20 + 2 * (h % 40), 0),
                    _ => {
                        refs.extend([Self::address(first), nearby(h >> 8)]);
                        if h.is_multiple_of(20) {
                            refs.push(anywhere(h >> 16));
                        }
                        (40, 3)
                    }
                }
            }
            GroupKind::List => {
                // (node, value) pairs from 1; a node links to the next node,
                // in the next group when that is a list too.
                let pairs = (len - 1) / 2;
                let m = (j - 1) / 2;
                if m >= pairs {
                    return (24, 5);
                }
                if (j - 1) % 2 == 1 {
                    refs.push(nearby(h >> 8));
                    if h.is_multiple_of(20) {
                        refs.push(anywhere(h >> 16));
                    }
                    return (40, 3);
                }
                if m + 1 < pairs {
                    refs.push(Self::address(i + 2));
                } else if group + 1 < self.groups() && self.kind(group + 1) == GroupKind::List {
                    refs.push(Self::address((group + 1) * Self::GROUP + 1));
                }
                refs.push(Self::address(if m == 0 { first } else { i - 2 }));
                refs.push(Self::address(i + 1));
                (48, 4)
            }
        }
    }

    fn type_event(&self, e: u64) -> Vec<u8> {
        let names: Vec<(u64, u32, String)> = (e * TYPES_PER_EVENT
            ..((e + 1) * TYPES_PER_EVENT).min(Self::type_count()))
            .map(|t| match SCALE_TYPES.get(t as usize) {
                Some(&(name, flags)) => (Self::type_id(t), flags, name.to_string()),
                None => {
                    let k = t - SCALE_TYPES.len() as u64;
                    let name = format!("App.Services.Cache`1[App.Model{k}]");
                    (Self::type_id(t), 0, name)
                }
            })
            .collect();
        let entries: Vec<(u64, u32, &str)> = names
            .iter()
            .map(|(id, flags, name)| (*id, *flags, name.as_str()))
            .collect();
        bulk_type(&entries)
    }

    /// A group's node batch, or its edge batch.
    fn group_event(&self, group: u64, edges: bool) -> (u32, Vec<u8>) {
        let mut nodes = Vec::new();
        let mut targets = Vec::new();
        let mut refs = Vec::new();
        let first = group * Self::GROUP;
        for i in first..first + self.group_len(group) {
            let (size, t) = self.object(i, &mut refs);
            nodes.push((Self::address(i), size, Self::type_id(t), refs.len() as u64));
            targets.extend_from_slice(&refs);
        }
        let index = group as u32;
        match edges {
            false => (event_id::GC_BULK_NODE, bulk_node(index, &nodes)),
            true => (event_id::GC_BULK_EDGE, bulk_edge(index, &targets)),
        }
    }

    fn root_events(&self) -> Vec<(u32, Vec<u8>)> {
        if self.objects == 0 {
            return Vec::new();
        }
        let mut roots: Vec<(u64, u8, u32, u64)> = (0..100u64)
            .map(|k| {
                (
                    Self::address(mix(k ^ 0x57) % self.objects),
                    0,
                    0,
                    0x5000 + 8 * k,
                )
            })
            .collect();
        roots.push((Self::address(self.objects - 1), 1, 0, 0));
        let statics: Vec<(u64, u64, String)> = (0..self.groups())
            .step_by(50)
            .filter(|&g| !Self::is_garbage(g))
            .map(|g| {
                let t = SCALE_TYPES.len() as u64 + g % CONTAINER_TYPES;
                (
                    Self::address(g * Self::GROUP),
                    Self::type_id(t),
                    "s_instance".to_string(),
                )
            })
            .collect();
        let mut events = vec![(event_id::GC_BULK_ROOT_EDGE, bulk_root_edge(0, &roots))];
        for chunk in statics.chunks(500) {
            events.push((
                event_id::GC_BULK_ROOT_STATIC_VAR,
                bulk_root_static_var(chunk),
            ));
        }
        events
    }

    /// Writes the trace: types, then each group's node and edge batches, then
    /// the roots, then the GC's end.
    pub fn write(&self, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
        let type_events = Self::type_count().div_ceil(TYPES_PER_EVENT);
        let group_events = 2 * self.groups();
        let roots = self.root_events();
        let count = type_events + group_events + roots.len() as u64;
        let count = u32::try_from(count)
            .map_err(|_| io::Error::other("too many events for one synthetic trace"))?;
        write_flood(out, count, |i| {
            let i = u64::from(i);
            if i < type_events {
                return (event_id::BULK_TYPE, self.type_event(i));
            }
            let i = i - type_events;
            if i < group_events {
                return self.group_event(i / 2, i % 2 == 1);
            }
            roots[(i - group_events) as usize].clone()
        })
    }
}

/// splitmix64's finalizer: a fixed pseudo-random function of `x`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
