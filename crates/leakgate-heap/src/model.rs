//! The heap graph: objects in address order, their references in compressed sparse rows,
//! type and field names interned once. Built by [`crate::HeapGraphBuilder`]; read-only after,
//! but for the roots another source of the same heap saw ([`HeapGraph::adopt_roots`]).
//!
//! ```
//! use leakgate_heap::{HeapGraphBuilder, Root};
//!
//! let mut builder = HeapGraphBuilder::new();
//! let list = builder.add_type("System.Collections.Generic.List<Entry>", false);
//! let items = builder.field_name("_items");
//! let holder = builder.add_object(0x1000, list, 32);
//! builder.add_reference(holder, 0x2000, Some(items)); // not in the heap: dropped, counted
//! builder.add_root(Root::static_field("Registry", "Entries"), 0x1000);
//! let graph = builder.build()?;
//! let object = graph.find(0x1000).unwrap();
//! assert_eq!(graph.type_name(graph.type_of(object)), "System.Collections.Generic.List<Entry>");
//! assert_eq!(graph.references(object).count(), 0);
//! assert_eq!(graph.stats().unresolved_edges, 1);
//! # Ok::<(), leakgate_heap::BuildError>(())
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Root;

/// A root another source of the same heap saw, with its object's address and type name:
/// see [`HeapGraph::adopt_roots`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRoot {
    pub root: Root,
    pub address: u64,
    pub type_name: String,
}

/// An object of one [`HeapGraph`]: its position in address order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(pub(crate) u32);

impl ObjectId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A type of one [`HeapGraph`] (or of the builder that made it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeId(pub(crate) u32);

/// An interned field name of one [`HeapGraph`] (or of the builder that made it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldId(pub(crate) u32);

/// Marks an edge whose field is not known (an array element, or a source without names).
pub(crate) const NO_FIELD: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeInfo {
    pub(crate) name: Box<str>,
    pub(crate) finalizable: bool,
}

/// What building dropped or merged: input that named objects the heap does not hold.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq, JsonSchema)]
pub struct BuildStats {
    pub objects: u64,
    pub edges: u64,
    pub roots: u64,
    pub types: u64,
    /// References to an address where no object starts (dropped).
    pub unresolved_edges: u64,
    /// Roots whose target is not an object of the heap (dropped).
    pub unresolved_roots: u64,
    /// Objects given twice at the same address (the first one is kept, with its edges).
    pub duplicate_objects: u64,
}

/// A managed heap as a graph: every object (address, type, size), its outgoing references
/// (with the field they sit in, when known) and the roots. Compact: 24 bytes per object and
/// 4 per reference (8 when fields are known), so a heap of 10^7 objects costs ~300 MiB.
#[derive(Debug, Clone)]
pub struct HeapGraph {
    pub(crate) addresses: Vec<u64>,
    pub(crate) object_types: Vec<u32>,
    pub(crate) sizes: Vec<u64>,
    /// `edge_starts[i]..edge_starts[i + 1]` are object i's references.
    pub(crate) edge_starts: Vec<u32>,
    pub(crate) edge_targets: Vec<u32>,
    /// Empty when no reference has a known field (an EventPipe snapshot's).
    pub(crate) edge_fields: Vec<u32>,
    pub(crate) types: Vec<TypeInfo>,
    pub(crate) field_names: Vec<Box<str>>,
    pub(crate) roots: Vec<(Root, ObjectId)>,
    pub(crate) stats: BuildStats,
}

impl HeapGraph {
    pub fn object_count(&self) -> usize {
        self.addresses.len()
    }

    pub fn edge_count(&self) -> usize {
        self.edge_targets.len()
    }

    /// All objects, in address order.
    pub fn objects(&self) -> impl ExactSizeIterator<Item = ObjectId> + '_ {
        (0..self.addresses.len() as u32).map(ObjectId)
    }

    /// The object starting at `address`, if any.
    pub fn find(&self, address: u64) -> Option<ObjectId> {
        self.addresses
            .binary_search(&address)
            .ok()
            .map(|i| ObjectId(i as u32))
    }

    pub fn address(&self, object: ObjectId) -> u64 {
        self.addresses[object.index()]
    }

    pub fn size(&self, object: ObjectId) -> u64 {
        self.sizes[object.index()]
    }

    pub fn type_of(&self, object: ObjectId) -> TypeId {
        TypeId(self.object_types[object.index()])
    }

    pub fn type_name(&self, ty: TypeId) -> &str {
        &self.types[ty.0 as usize].name
    }

    pub fn is_finalizable(&self, ty: TypeId) -> bool {
        self.types[ty.0 as usize].finalizable
    }

    /// The objects `object` references, each with the field holding it when known.
    pub fn references(
        &self,
        object: ObjectId,
    ) -> impl ExactSizeIterator<Item = (ObjectId, Option<&str>)> + '_ {
        self.edge_range(object).map(|edge| {
            (
                ObjectId(self.edge_targets[edge]),
                self.edge_field_name(edge),
            )
        })
    }

    /// The roots, each with the object it holds.
    pub fn roots(&self) -> &[(Root, ObjectId)] {
        &self.roots
    }

    /// Every object whose type is called `type_name` (several types may share a name, e.g.
    /// one per assembly load context), in address order.
    pub fn instances_of(&self, type_name: &str) -> Vec<ObjectId> {
        let wanted: Vec<bool> = self.types.iter().map(|t| &*t.name == type_name).collect();
        if !wanted.contains(&true) {
            return Vec::new();
        }
        self.object_types
            .iter()
            .enumerate()
            .filter(|(_, ty)| wanted[**ty as usize])
            .map(|(i, _)| ObjectId(i as u32))
            .collect()
    }

    /// Bytes the graph holds on the heap (its vectors' capacities and the names), to
    /// check and report its cost per object.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let names: usize = self.types.iter().map(|t| t.name.len()).sum::<usize>()
            + self.field_names.iter().map(|f| f.len()).sum::<usize>();
        self.addresses.capacity() * size_of::<u64>()
            + self.object_types.capacity() * size_of::<u32>()
            + self.sizes.capacity() * size_of::<u64>()
            + (self.edge_starts.capacity() + self.edge_targets.capacity()) * size_of::<u32>()
            + self.edge_fields.capacity() * size_of::<u32>()
            + self.types.capacity() * size_of::<TypeInfo>()
            + self.field_names.capacity() * size_of::<Box<str>>()
            + self.roots.capacity() * size_of::<(Root, ObjectId)>()
            + names
    }

    /// Adds the roots of `seen` whose object this graph holds, of the same type, where no
    /// root of the graph's own reaches it; returns how many. A dump's reader can miss GC
    /// handles (dotnet/runtime#124872) that a heap snapshot of the same process, taken just
    /// before, lists: without them their objects read "no root found". A root whose object
    /// moved or died in between (another type, or none, at its address) is left out, and
    /// an object the graph already explains keeps its own paths.
    pub fn adopt_roots(&mut self, seen: &[SeenRoot]) -> usize {
        if seen.is_empty() {
            return 0;
        }
        let adopted: Vec<(Root, ObjectId)> = {
            let paths = crate::ShortestPaths::compute(self);
            seen.iter()
                .filter_map(|s| {
                    let object = self.find(s.address)?;
                    let same = self.type_name(self.type_of(object)) == s.type_name;
                    (same && !paths.is_reachable(object)).then(|| (s.root.clone(), object))
                })
                .collect()
        };
        self.stats.roots += adopted.len() as u64;
        self.roots.extend(adopted.iter().cloned());
        adopted.len()
    }

    /// What building dropped or merged.
    pub fn stats(&self) -> &BuildStats {
        &self.stats
    }

    pub(crate) fn edge_range(&self, object: ObjectId) -> std::ops::Range<usize> {
        let i = object.index();
        self.edge_starts[i] as usize..self.edge_starts[i + 1] as usize
    }

    pub(crate) fn edge_field_name(&self, edge: usize) -> Option<&str> {
        match self.edge_fields.get(edge) {
            None | Some(&NO_FIELD) => None,
            Some(&id) => Some(&self.field_names[id as usize]),
        }
    }
}
