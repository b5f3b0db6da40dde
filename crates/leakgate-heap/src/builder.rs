//! Building a [`HeapGraph`] from any source: types, objects by address with references by
//! *target address*, and roots. Addresses are resolved once, in [`HeapGraphBuilder::build`].
//!
//! ```
//! use leakgate_heap::{HeapGraphBuilder, Root};
//!
//! let mut builder = HeapGraphBuilder::new();
//! let entry = builder.add_type("Entry", false);
//! let array = builder.add_type("Entry[]", false);
//! let items = builder.add_object(0x100, array, 40);
//! builder.add_reference(items, 0x200, None); // an array element: no field name
//! builder.add_object(0x200, entry, 24);
//! builder.add_root(Root::StrongHandle, 0x100);
//! let graph = builder.build()?;
//! assert_eq!(graph.object_count(), 2);
//! assert_eq!(graph.edge_count(), 1);
//! # Ok::<(), leakgate_heap::BuildError>(())
//! ```

use std::collections::HashMap;

use crate::Root;
use crate::model::{BuildStats, FieldId, HeapGraph, NO_FIELD, ObjectId, TypeId, TypeInfo};

/// An object added to a builder, to attach its references to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingObject(u32);

/// Why a graph could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    #[error("the heap has {count} {what}; a heap graph holds at most {max}")]
    TooLarge {
        what: &'static str,
        count: u64,
        max: u64,
    },
    #[error("object at 0x{address:x} has type id {type_id}, which this builder never gave out")]
    UnknownType { address: u64, type_id: u32 },
    #[error("a reference names field id {field_id}, which this builder never gave out")]
    UnknownField { field_id: u32 },
}

/// Largest object or edge count: indexes are u32, and two values are kept as markers.
const MAX_INDEX: u64 = u32::MAX as u64 - 2;

/// Collects a heap in any order; see the [module docs](self).
#[derive(Debug, Default)]
pub struct HeapGraphBuilder {
    types: Vec<TypeInfo>,
    type_ids: HashMap<(Box<str>, bool), u32>,
    field_names: Vec<Box<str>>,
    field_ids: HashMap<Box<str>, u32>,
    addresses: Vec<u64>,
    object_types: Vec<u32>,
    sizes: Vec<u64>,
    edge_sources: Vec<u32>,
    edge_targets: Vec<u64>,
    edge_fields: Vec<u32>,
    roots: Vec<(Root, u64)>,
}

impl HeapGraphBuilder {
    pub fn new() -> HeapGraphBuilder {
        HeapGraphBuilder::default()
    }

    /// Reserves room when the source knows its size (saves regrowing 10^6-long vectors).
    pub fn with_capacity(objects: usize, edges: usize) -> HeapGraphBuilder {
        HeapGraphBuilder {
            addresses: Vec::with_capacity(objects),
            object_types: Vec::with_capacity(objects),
            sizes: Vec::with_capacity(objects),
            edge_sources: Vec::with_capacity(edges),
            edge_targets: Vec::with_capacity(edges),
            edge_fields: Vec::with_capacity(edges),
            ..HeapGraphBuilder::default()
        }
    }

    /// A type by name; the same name and flag give the same id.
    pub fn add_type(&mut self, name: &str, finalizable: bool) -> TypeId {
        let key = (Box::<str>::from(name), finalizable);
        if let Some(&id) = self.type_ids.get(&key) {
            return TypeId(id);
        }
        let id = self.types.len() as u32;
        self.types.push(TypeInfo {
            name: key.0.clone(),
            finalizable,
        });
        self.type_ids.insert(key, id);
        TypeId(id)
    }

    /// A field name, interned.
    pub fn field_name(&mut self, name: &str) -> FieldId {
        if let Some(&id) = self.field_ids.get(name) {
            return FieldId(id);
        }
        let id = self.field_names.len() as u32;
        self.field_names.push(name.into());
        self.field_ids.insert(name.into(), id);
        FieldId(id)
    }

    /// An object starting at `address`. Objects may come in any address order.
    pub fn add_object(&mut self, address: u64, ty: TypeId, size: u64) -> PendingObject {
        let index = self.addresses.len() as u32;
        self.addresses.push(address);
        self.object_types.push(ty.0);
        self.sizes.push(size);
        PendingObject(index)
    }

    /// A reference from `from` to the object at `target_address`, held in `field` when known.
    /// A target that is not an object of the heap is dropped at build time (and counted).
    pub fn add_reference(
        &mut self,
        from: PendingObject,
        target_address: u64,
        field: Option<FieldId>,
    ) {
        self.edge_sources.push(from.0);
        self.edge_targets.push(target_address);
        self.edge_fields.push(field.map_or(NO_FIELD, |f| f.0));
    }

    /// A root holding the object at `target_address`.
    pub fn add_root(&mut self, root: Root, target_address: u64) {
        self.roots.push((root, target_address));
    }

    /// Sorts the objects by address and resolves every reference and root to an object.
    pub fn build(mut self) -> Result<HeapGraph, BuildError> {
        for (what, count) in [
            ("objects", self.addresses.len()),
            ("references", self.edge_targets.len()),
        ] {
            if count as u64 > MAX_INDEX {
                return Err(BuildError::TooLarge {
                    what,
                    count: count as u64,
                    max: MAX_INDEX,
                });
            }
        }
        if let Some(i) = self
            .object_types
            .iter()
            .position(|&ty| ty as usize >= self.types.len())
        {
            return Err(BuildError::UnknownType {
                address: self.addresses[i],
                type_id: self.object_types[i],
            });
        }
        if let Some(&field_id) = self
            .edge_fields
            .iter()
            .find(|&&f| f != NO_FIELD && f as usize >= self.field_names.len())
        {
            return Err(BuildError::UnknownField { field_id });
        }

        let mut stats = BuildStats::default();
        let (addresses, object_types, sizes, new_index) = objects_in_address_order(
            std::mem::take(&mut self.addresses),
            std::mem::take(&mut self.object_types),
            std::mem::take(&mut self.sizes),
            &mut stats,
        );
        let find = |address: u64| addresses.binary_search(&address).ok().map(|i| i as u32);

        // Resolve targets first, then place each edge in its source's row (a counting sort
        // that keeps each object's references in the order they were given).
        let objects = addresses.len();
        let mut resolved: Vec<(u32, u32)> = Vec::with_capacity(self.edge_targets.len());
        let mut row_lengths = vec![0u32; objects + 1];
        for (i, &target_address) in self.edge_targets.iter().enumerate() {
            let source = new_index[self.edge_sources[i] as usize];
            match (source, find(target_address)) {
                (DROPPED, _) | (_, None) => {
                    stats.unresolved_edges += 1;
                    resolved.push((DROPPED, DROPPED));
                }
                (source, Some(target)) => {
                    row_lengths[source as usize + 1] += 1;
                    resolved.push((source, target));
                }
            }
        }
        let mut edge_starts = row_lengths;
        for i in 0..objects {
            edge_starts[i + 1] += edge_starts[i];
        }
        let edges = edge_starts[objects] as usize;
        let mut cursor: Vec<u32> = edge_starts[..objects].to_vec();
        let mut edge_targets = vec![0u32; edges];
        let mut edge_fields = vec![NO_FIELD; edges];
        for (i, &(source, target)) in resolved.iter().enumerate() {
            if source == DROPPED {
                continue;
            }
            let slot = &mut cursor[source as usize];
            edge_targets[*slot as usize] = target;
            edge_fields[*slot as usize] = self.edge_fields[i];
            *slot += 1;
        }

        let mut roots = Vec::with_capacity(self.roots.len());
        for (root, address) in self.roots {
            match find(address) {
                Some(target) => roots.push((root, ObjectId(target))),
                None => stats.unresolved_roots += 1,
            }
        }

        stats.objects = objects as u64;
        stats.edges = edges as u64;
        stats.roots = roots.len() as u64;
        stats.types = self.types.len() as u64;
        Ok(HeapGraph {
            addresses,
            object_types,
            sizes,
            edge_starts,
            edge_targets,
            edge_fields,
            types: self.types,
            field_names: self.field_names,
            roots,
            stats,
        })
    }
}

/// The objects sorted by address, duplicates dropped (the first given is kept), and each
/// input object's new index (or [`DROPPED`]).
#[allow(clippy::type_complexity)]
fn objects_in_address_order(
    addresses: Vec<u64>,
    object_types: Vec<u32>,
    sizes: Vec<u64>,
    stats: &mut BuildStats,
) -> (Vec<u64>, Vec<u32>, Vec<u64>, Vec<u32>) {
    let n = addresses.len();
    if addresses.windows(2).all(|w| w[0] < w[1]) {
        // The common case (a heap walk goes in address order): no permutation at all.
        return (addresses, object_types, sizes, (0..n as u32).collect());
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&i| (addresses[i as usize], i));
    let mut new_index = vec![DROPPED; n];
    let mut sorted_addresses = Vec::with_capacity(n);
    let mut sorted_types = Vec::with_capacity(n);
    let mut sorted_sizes = Vec::with_capacity(n);
    for &old in &order {
        let old = old as usize;
        if sorted_addresses.last() == Some(&addresses[old]) {
            stats.duplicate_objects += 1;
            continue;
        }
        new_index[old] = sorted_addresses.len() as u32;
        sorted_addresses.push(addresses[old]);
        sorted_types.push(object_types[old]);
        sorted_sizes.push(sizes[old]);
    }
    (sorted_addresses, sorted_types, sorted_sizes, new_index)
}

/// An input object or edge that did not make it into the graph.
const DROPPED: u32 = u32::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_given_out_of_order_are_sorted_and_keep_their_references() {
        let mut b = HeapGraphBuilder::new();
        let node = b.add_type("Node", false);
        let next = b.field_name("next");
        let high = b.add_object(0x300, node, 24);
        b.add_reference(high, 0x100, Some(next));
        let low = b.add_object(0x100, node, 24);
        b.add_reference(low, 0x300, Some(next));
        b.add_reference(low, 0x200, None); // no object there
        let graph = b.build().unwrap();
        let low = graph.find(0x100).unwrap();
        let high = graph.find(0x300).unwrap();
        assert!(low < high);
        assert_eq!(
            graph.references(low).collect::<Vec<_>>(),
            vec![(high, Some("next"))]
        );
        assert_eq!(
            graph.references(high).collect::<Vec<_>>(),
            vec![(low, Some("next"))]
        );
        assert_eq!(graph.stats().unresolved_edges, 1);
    }

    #[test]
    fn a_duplicate_address_keeps_the_first_object_and_drops_the_second_ones_edges() {
        let mut b = HeapGraphBuilder::new();
        let a = b.add_type("A", false);
        let z = b.add_type("Z", true);
        b.add_object(0x200, a, 8);
        let first = b.add_object(0x100, a, 8);
        let second = b.add_object(0x100, z, 8);
        b.add_reference(first, 0x200, None);
        b.add_reference(second, 0x200, None);
        let graph = b.build().unwrap();
        assert_eq!(graph.object_count(), 2);
        assert_eq!(graph.stats().duplicate_objects, 1);
        assert_eq!(graph.stats().unresolved_edges, 1);
        let kept = graph.find(0x100).unwrap();
        assert_eq!(graph.type_name(graph.type_of(kept)), "A");
    }

    #[test]
    fn ids_from_another_builder_are_an_error_not_a_panic() {
        let mut other = HeapGraphBuilder::new();
        other.add_type("X", false);
        let foreign = other.add_type("Y", false);
        let foreign_field = other.field_name("f");
        let mut b = HeapGraphBuilder::new();
        b.add_object(0x10, foreign, 8);
        assert_eq!(
            b.build().unwrap_err(),
            BuildError::UnknownType {
                address: 0x10,
                type_id: 1
            }
        );
        let mut b = HeapGraphBuilder::new();
        let t = b.add_type("T", false);
        let o = b.add_object(0x10, t, 8);
        b.add_reference(o, 0x10, Some(foreign_field));
        assert!(matches!(b.build(), Err(BuildError::UnknownField { .. })));
    }

    #[test]
    fn types_and_field_names_are_interned() {
        let mut b = HeapGraphBuilder::new();
        assert_eq!(b.add_type("A", false), b.add_type("A", false));
        assert_ne!(b.add_type("A", false), b.add_type("A", true));
        assert_eq!(b.field_name("f"), b.field_name("f"));
    }

    #[test]
    fn unresolved_roots_are_counted() {
        let mut b = HeapGraphBuilder::new();
        let t = b.add_type("T", false);
        b.add_object(0x10, t, 8);
        b.add_root(Root::StrongHandle, 0x10);
        b.add_root(Root::StrongHandle, 0x18);
        let graph = b.build().unwrap();
        assert_eq!(graph.roots().len(), 1);
        assert_eq!(graph.stats().unresolved_roots, 1);
    }
}
