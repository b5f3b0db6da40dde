//! Payload layouts of the runtime's GC heap-dump events
//! (`Microsoft-Windows-DotNETRuntime`, as in `ClrEtwAll.man`): pure decoding
//! functions over one event's payload, no state.
//!
//! Fixed-size array entries are validated once (the announced count must fit
//! the payload) and then read with `chunks_exact`, so a batch of thousands of
//! nodes costs no per-entry bounds errors or allocations. Variable-length
//! entries (types, static fields) come one at a time from an [`Entries`]
//! iterator.

use crate::nettrace::{Cursor, NettraceError};

/// The runtime's provider name.
pub const RUNTIME_PROVIDER: &str = "Microsoft-Windows-DotNETRuntime";

/// Event ids within [`RUNTIME_PROVIDER`].
pub mod event_id {
    pub const GC_START: u32 = 1;
    pub const GC_END: u32 = 2;
    pub const BULK_TYPE: u32 = 15;
    pub const GC_BULK_ROOT_EDGE: u32 = 16;
    pub const GC_BULK_ROOT_CONDITIONAL_WEAK_TABLE_ELEMENT_EDGE: u32 = 17;
    pub const GC_BULK_NODE: u32 = 18;
    pub const GC_BULK_EDGE: u32 = 19;
    pub const GC_GENERATION_RANGE: u32 = 23;
    pub const GC_BULK_ROOT_STATIC_VAR: u32 = 38;
}

/// Keywords of [`RUNTIME_PROVIDER`] that a heap snapshot needs.
pub mod keyword {
    pub const GC: u64 = 0x1;
    pub const TYPE: u64 = 0x8_0000;
    pub const GC_HEAP_DUMP: u64 = 0x10_0000;
    /// Also makes the GC log its generation ranges (and moved/surviving ranges).
    pub const GC_HEAP_SURVIVAL_AND_MOVEMENT: u64 = 0x40_0000;
    /// Enabling it forces a full blocking GC (with a heap walk if GC_HEAP_DUMP is on).
    pub const GC_HEAP_COLLECT: u64 = 0x80_0000;
    pub const GC_HEAP_AND_TYPE_NAMES: u64 = 0x100_0000;
    /// What dotnet-gcdump enables (TraceEvent's `GCHeapSnapshot`), at level Verbose.
    pub const GC_HEAP_SNAPSHOT: u64 =
        GC | GC_HEAP_COLLECT | GC_HEAP_DUMP | GC_HEAP_AND_TYPE_NAMES | TYPE;
}

/// BulkType `Flags`.
pub mod type_flag {
    pub const DELEGATE: u32 = 0x1;
    /// The type has a finalizer (`Finalize` override).
    pub const FINALIZABLE: u32 = 0x2;
    pub const EXTERNALLY_IMPLEMENTED_COM_OBJECT: u32 = 0x4;
    pub const ARRAY: u32 = 0x8;
}

/// GCBulkRootEdge `GCRootFlag`.
pub mod root_flag {
    pub const PINNING: u32 = 0x1;
    /// A weak handle: it does not keep its target alive.
    pub const WEAK_REF: u32 = 0x2;
    pub const INTERIOR: u32 = 0x4;
    pub const REF_COUNTED: u32 = 0x8;
}

/// GCBulkRootStaticVar `Flags`.
pub mod static_var_flag {
    pub const THREAD_LOCAL: u32 = 0x1;
}

/// GCStart `Type`.
pub mod gc_type {
    pub const NON_CONCURRENT: u32 = 0;
    pub const BACKGROUND: u32 = 1;
    pub const FOREGROUND: u32 = 2;
}

/// GCStart (versions 1 and 2; later versions append fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcStart {
    /// The GC's number; GCEnd repeats it.
    pub count: u32,
    /// The generation collected (2 = full).
    pub depth: u32,
    /// 1 = induced.
    pub reason: u32,
    /// See [`gc_type`].
    pub gc_type: u32,
}

pub fn gc_start(payload: &[u8], offset: u64, version: u32) -> Result<GcStart, NettraceError> {
    if version == 0 {
        return Err(NettraceError::unsupported(
            offset,
            "GCStart version 0 (no depth or type; .NET Framework 4.0 era)",
        ));
    }
    let mut c = Cursor::new(payload, offset);
    Ok(GcStart {
        count: c.u32("GCStart Count")?,
        depth: c.u32("GCStart Depth")?,
        reason: c.u32("GCStart Reason")?,
        gc_type: c.u32("GCStart Type")?,
    })
}

/// GCEnd: the GC's number and depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcEnd {
    pub count: u32,
    pub depth: u32,
}

pub fn gc_end(payload: &[u8], offset: u64) -> Result<GcEnd, NettraceError> {
    let mut c = Cursor::new(payload, offset);
    Ok(GcEnd {
        count: c.u32("GCEnd Count")?,
        depth: c.u32("GCEnd Depth")?,
    })
}

/// One BulkType entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkTypeEntry {
    /// The type handle (method table address): what nodes refer to.
    pub type_id: u64,
    pub module_id: u64,
    /// The metadata token of the type in its module.
    pub type_name_id: u32,
    /// See [`type_flag`].
    pub flags: u32,
    pub cor_element_type: u8,
    pub name: String,
    /// Type handles of generic arguments (or the element type of an array).
    pub type_parameters: Vec<u64>,
}

/// BulkType: u32 count, u16 instance, then entries of variable length.
pub fn bulk_type(payload: &[u8], offset: u64) -> Result<Entries<'_, BulkTypeEntry>, NettraceError> {
    let mut c = Cursor::new(payload, offset);
    let count_at = c.offset();
    let count = c.u32("BulkType Count")? as usize;
    c.u16("BulkType ClrInstanceID")?;
    // Each entry has at least 31 bytes: fixed fields, an empty name, no parameters.
    check_count(&c, count, 8 + 8 + 4 + 4 + 1 + 2 + 4, count_at, "BulkType")?;
    Ok(Entries::new(c, count, bulk_type_entry))
}

fn bulk_type_entry(c: &mut Cursor<'_>) -> Result<BulkTypeEntry, NettraceError> {
    let type_id = c.u64("BulkType TypeID")?;
    let module_id = c.u64("BulkType ModuleID")?;
    let type_name_id = c.u32("BulkType TypeNameID")?;
    let flags = c.u32("BulkType Flags")?;
    let cor_element_type = c.u8("BulkType CorElementType")?;
    let name = c.utf16z("BulkType Name")?;
    let parameter_count_at = c.offset();
    let parameter_count = c.u32("BulkType TypeParameterCount")? as usize;
    check_count(
        c,
        parameter_count,
        8,
        parameter_count_at,
        "BulkType TypeParameters",
    )?;
    let mut type_parameters = Vec::with_capacity(parameter_count);
    for _ in 0..parameter_count {
        type_parameters.push(c.u64("BulkType TypeParameters")?);
    }
    Ok(BulkTypeEntry {
        type_id,
        module_id,
        type_name_id,
        flags,
        cor_element_type,
        name,
        type_parameters,
    })
}

/// The entries of a variable-length bulk event, decoded one at a time: a
/// block's worth of entries is never held at once (a 16 MiB block of
/// minimal entries would be ~3 times its size as structs). After an error
/// the iterator ends.
pub struct Entries<'a, T> {
    cursor: Cursor<'a>,
    left: usize,
    read: fn(&mut Cursor<'a>) -> Result<T, NettraceError>,
}

impl<'a, T> Entries<'a, T> {
    fn new(
        cursor: Cursor<'a>,
        count: usize,
        read: fn(&mut Cursor<'a>) -> Result<T, NettraceError>,
    ) -> Self {
        Entries {
            cursor,
            left: count,
            read,
        }
    }
}

impl<T> Iterator for Entries<'_, T> {
    type Item = Result<T, NettraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let entry = (self.read)(&mut self.cursor);
        self.left = if entry.is_ok() { self.left - 1 } else { 0 };
        Some(entry)
    }
}

/// The common head of the indexed bulk events: the batch's number within
/// its GC (0, 1, 2, ... per event kind) and the entries' raw bytes.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub index: u32,
    pub count: usize,
    entries: &'a [u8],
    entry_len: usize,
    pointer_size: u32,
}

impl<'a> Batch<'a> {
    fn entries(&self) -> impl Iterator<Item = Cursor<'a>> + 'a {
        self.entries
            .chunks_exact(self.entry_len)
            .take(self.count)
            .map(|entry| Cursor::new(entry, 0))
    }
}

/// u32 index, u32 count, u16 instance, then `count` entries of `entry_len`.
fn indexed_batch<'a>(
    payload: &'a [u8],
    offset: u64,
    pointer_size: u32,
    entry_len: usize,
    event: &'static str,
) -> Result<Batch<'a>, NettraceError> {
    let mut c = Cursor::new(payload, offset);
    let index = c.u32("bulk event Index")?;
    let count_at = c.offset();
    let count = c.u32("bulk event Count")? as usize;
    c.u16("bulk event ClrInstanceID")?;
    check_count(&c, count, entry_len, count_at, event)?;
    let start = c.position();
    Ok(Batch {
        index,
        count,
        entries: &payload[start..start + count * entry_len],
        entry_len,
        pointer_size,
    })
}

fn check_count(
    c: &Cursor<'_>,
    count: usize,
    min_entry_len: usize,
    count_at: u64,
    event: &'static str,
) -> Result<(), NettraceError> {
    if count.saturating_mul(min_entry_len) > c.remaining() {
        return Err(NettraceError::malformed(
            count_at,
            format!(
                "{event} announces {count} entries of at least {min_entry_len} bytes but {} bytes follow",
                c.remaining()
            ),
        ));
    }
    Ok(())
}

/// One GCBulkNode entry: an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeEntry {
    pub address: u64,
    pub size: u64,
    pub type_id: u64,
    /// How many of the next BulkEdge targets belong to this object.
    pub edge_count: u64,
}

/// GCBulkNode: entries of (pointer address, u64 size, u64 type id, u64 edge count).
pub fn bulk_node(
    payload: &[u8],
    offset: u64,
    pointer_size: u32,
) -> Result<Batch<'_>, NettraceError> {
    indexed_batch(
        payload,
        offset,
        pointer_size,
        pointer_size as usize + 24,
        "GCBulkNode",
    )
}

pub fn nodes<'a>(batch: &Batch<'a>) -> impl Iterator<Item = NodeEntry> + 'a {
    let pointer_size = batch.pointer_size;
    batch.entries().map(move |mut c| NodeEntry {
        address: c.pointer("", pointer_size).unwrap_or_default(),
        size: c.u64("").unwrap_or_default(),
        type_id: c.u64("").unwrap_or_default(),
        edge_count: c.u64("").unwrap_or_default(),
    })
}

/// GCBulkEdge: entries of (pointer target, u32 referencing field id).
pub fn bulk_edge(
    payload: &[u8],
    offset: u64,
    pointer_size: u32,
) -> Result<Batch<'_>, NettraceError> {
    indexed_batch(
        payload,
        offset,
        pointer_size,
        pointer_size as usize + 4,
        "GCBulkEdge",
    )
}

/// The target addresses of a GCBulkEdge batch.
pub fn edge_targets<'a>(batch: &Batch<'a>) -> impl Iterator<Item = u64> + 'a {
    let pointer_size = batch.pointer_size;
    batch
        .entries()
        .map(move |mut c| c.pointer("", pointer_size).unwrap_or_default())
}

/// One GCBulkRootEdge entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootEdgeEntry {
    /// The object the root points at.
    pub target: u64,
    /// 0 stack, 1 finalizer queue, 2 handle, 3 other.
    pub kind: u8,
    /// See [`root_flag`].
    pub flags: u32,
    /// The root's own address (handle, stack slot), when known.
    pub root_id: u64,
}

/// GCBulkRootEdge: entries of (pointer target, u8 kind, u32 flags, pointer root id).
pub fn bulk_root_edge(
    payload: &[u8],
    offset: u64,
    pointer_size: u32,
) -> Result<Batch<'_>, NettraceError> {
    let entry_len = 2 * pointer_size as usize + 5;
    indexed_batch(payload, offset, pointer_size, entry_len, "GCBulkRootEdge")
}

pub fn root_edges<'a>(batch: &Batch<'a>) -> impl Iterator<Item = RootEdgeEntry> + 'a {
    let pointer_size = batch.pointer_size;
    batch.entries().map(move |mut c| RootEdgeEntry {
        target: c.pointer("", pointer_size).unwrap_or_default(),
        kind: c.u8("").unwrap_or_default(),
        flags: c.u32("").unwrap_or_default(),
        root_id: c.pointer("", pointer_size).unwrap_or_default(),
    })
}

/// One GCBulkRootConditionalWeakTableElementEdge entry: a dependent handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DependentHandleEntry {
    /// The key (held weakly); 0 once the key is dead.
    pub key: u64,
    /// The value, kept alive as long as the key is.
    pub value: u64,
    /// The handle's address.
    pub root_id: u64,
}

/// GCBulkRootConditionalWeakTableElementEdge: entries of 3 pointers.
pub fn bulk_root_conditional_weak_table(
    payload: &[u8],
    offset: u64,
    pointer_size: u32,
) -> Result<Batch<'_>, NettraceError> {
    indexed_batch(
        payload,
        offset,
        pointer_size,
        3 * pointer_size as usize,
        "GCBulkRootConditionalWeakTableElementEdge",
    )
}

pub fn dependent_handles<'a>(batch: &Batch<'a>) -> impl Iterator<Item = DependentHandleEntry> + 'a {
    let pointer_size = batch.pointer_size;
    batch.entries().map(move |mut c| DependentHandleEntry {
        key: c.pointer("", pointer_size).unwrap_or_default(),
        value: c.pointer("", pointer_size).unwrap_or_default(),
        root_id: c.pointer("", pointer_size).unwrap_or_default(),
    })
}

/// One GCBulkRootStaticVar entry: a static field holding an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticVarEntry {
    /// The field's address.
    pub root_id: u64,
    /// The object the field holds.
    pub object: u64,
    /// The type of the object held (the runtime logs `obj->GetTypeHandle()`,
    /// not the declaring type of the field).
    pub type_id: u64,
    /// See [`static_var_flag`].
    pub flags: u32,
    pub field_name: String,
}

/// GCBulkRootStaticVar: u32 count, u64 app domain, u16 instance, then entries
/// of (u64 root id, u64 object, u64 type id, u32 flags, field name).
pub fn bulk_root_static_var(
    payload: &[u8],
    offset: u64,
) -> Result<Entries<'_, StaticVarEntry>, NettraceError> {
    let mut c = Cursor::new(payload, offset);
    let count_at = c.offset();
    let count = c.u32("GCBulkRootStaticVar Count")? as usize;
    c.u64("GCBulkRootStaticVar AppDomainID")?;
    c.u16("GCBulkRootStaticVar ClrInstanceID")?;
    check_count(
        &c,
        count,
        8 + 8 + 8 + 4 + 2,
        count_at,
        "GCBulkRootStaticVar",
    )?;
    Ok(Entries::new(c, count, |c| {
        Ok(StaticVarEntry {
            root_id: c.u64("GCBulkRootStaticVar GCRootID")?,
            object: c.u64("GCBulkRootStaticVar ObjectID")?,
            type_id: c.u64("GCBulkRootStaticVar TypeID")?,
            flags: c.u32("GCBulkRootStaticVar Flags")?,
            field_name: c.utf16z("GCBulkRootStaticVar FieldName")?,
        })
    }))
}

/// GCGenerationRange: one generation's range (with regions, one per region).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerationRangeEntry {
    /// 0, 1, 2, 3 (large objects), 4 (pinned objects).
    pub generation: u8,
    pub start: u64,
    pub used_length: u64,
    pub reserved_length: u64,
}

/// GCGenerationRange: u8 generation, pointer start, u64 used, u64 reserved, u16 instance.
pub fn generation_range(
    payload: &[u8],
    offset: u64,
    pointer_size: u32,
) -> Result<GenerationRangeEntry, NettraceError> {
    let mut c = Cursor::new(payload, offset);
    Ok(GenerationRangeEntry {
        generation: c.u8("GCGenerationRange Generation")?,
        start: c.pointer("GCGenerationRange RangeStart", pointer_size)?,
        used_length: c.u64("GCGenerationRange RangeUsedLength")?,
        reserved_length: c.u64("GCGenerationRange RangeReservedLength")?,
    })
}
