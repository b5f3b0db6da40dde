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
///
/// Memory: 20 bytes per object and 8 per reference while collecting, plus 4 per reference
/// only if references are not given object by object (each right after its object), and 4
/// more only if some reference names a field. Building adds 4 per reference and, if the
/// objects did not come in address order, 16 per object and 8 per reference.
#[derive(Debug)]
pub struct HeapGraphBuilder {
    types: Vec<TypeInfo>,
    type_ids: HashMap<(Box<str>, bool), u32>,
    field_names: Vec<Box<str>>,
    field_ids: HashMap<Box<str>, u32>,
    addresses: Vec<u64>,
    object_types: Vec<u32>,
    sizes: Vec<u64>,
    /// While every reference came right after its object (a heap walk's order): where each
    /// object's references start in `edge_targets`. Then no per-reference source is kept.
    row_starts: Option<Vec<u32>>,
    /// Each reference's source, once `row_starts` no longer describes them.
    edge_sources: Vec<u32>,
    edge_targets: Vec<u64>,
    /// Empty while no reference named a field (an EventPipe snapshot names none).
    edge_fields: Vec<u32>,
    roots: Vec<(Root, u64)>,
}

impl Default for HeapGraphBuilder {
    fn default() -> Self {
        HeapGraphBuilder {
            types: Vec::new(),
            type_ids: HashMap::new(),
            field_names: Vec::new(),
            field_ids: HashMap::new(),
            addresses: Vec::new(),
            object_types: Vec::new(),
            sizes: Vec::new(),
            row_starts: Some(Vec::new()),
            edge_sources: Vec::new(),
            edge_targets: Vec::new(),
            edge_fields: Vec::new(),
            roots: Vec::new(),
        }
    }
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
            // One more for the end of the last row, added by `build`.
            row_starts: Some(Vec::with_capacity(objects + 1)),
            edge_targets: Vec::with_capacity(edges),
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
        if let Some(starts) = &mut self.row_starts {
            starts.push(self.edge_targets.len() as u32);
        }
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
        let latest = self.addresses.len().checked_sub(1);
        if self.row_starts.is_some() && latest != Some(from.0 as usize) {
            // Not the latest object's: from now on each reference names its source.
            let starts = self.row_starts.take().unwrap_or_default();
            self.edge_sources = sources_of_rows(&starts, self.edge_targets.len()).collect();
        }
        if self.row_starts.is_none() {
            self.edge_sources.push(from.0);
        }
        if field.is_some() || !self.edge_fields.is_empty() {
            // The references before the first named field had none.
            self.edge_fields.resize(self.edge_targets.len(), NO_FIELD);
            self.edge_fields.push(field.map_or(NO_FIELD, |f| f.0));
        }
        self.edge_targets.push(target_address);
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
        let index = AddressIndex::new(&addresses);
        let objects = addresses.len();
        let given_targets = std::mem::take(&mut self.edge_targets);
        let given_fields = std::mem::take(&mut self.edge_fields);
        let (edge_starts, edge_targets, edge_fields) = match (self.row_starts.take(), new_index) {
            (Some(row_starts), None) => resolve_rows(
                row_starts,
                &given_targets,
                &given_fields,
                &index,
                &mut stats,
            ),
            (row_starts, new_index) => {
                let sources: Box<dyn Iterator<Item = u32>> = match &row_starts {
                    Some(starts) => Box::new(sources_of_rows(starts, given_targets.len())),
                    None => Box::new(self.edge_sources.iter().copied()),
                };
                let new_index = |old: u32| match &new_index {
                    Some(new_index) => new_index.get(old as usize).copied().unwrap_or(DROPPED),
                    None if (old as usize) < objects => old,
                    None => DROPPED,
                };
                resolve_any_order(
                    sources.map(new_index),
                    objects,
                    &given_targets,
                    &given_fields,
                    &index,
                    &mut stats,
                )
            }
        };
        drop((given_targets, given_fields));

        let mut roots = Vec::with_capacity(self.roots.len());
        for (root, address) in self.roots {
            match index.find(address) {
                Some(target) => roots.push((root, ObjectId(target))),
                None => stats.unresolved_roots += 1,
            }
        }

        stats.objects = objects as u64;
        stats.edges = edge_starts[objects] as u64;
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

/// Compressed rows: object starts, targets, and fields (empty when no reference has one).
type Rows = (Vec<u32>, Vec<u32>, Vec<u32>);

/// The references given object by object, objects already in address order: each row stays
/// where it is, less the references that name no object (the common case, in one pass).
fn resolve_rows(
    mut starts: Vec<u32>,
    targets: &[u64],
    fields: &[u32],
    index: &AddressIndex,
    stats: &mut BuildStats,
) -> Rows {
    let objects = starts.len();
    let mut resolved = Vec::with_capacity(targets.len());
    let mut kept_fields = Vec::with_capacity(if fields.is_empty() { 0 } else { targets.len() });
    for object in 0..objects {
        let row = starts[object] as usize
            ..starts
                .get(object + 1)
                .map_or(targets.len(), |&e| e as usize);
        // Dropped references only move rows forward: overwriting this start is safe.
        starts[object] = resolved.len() as u32;
        for edge in row {
            match index.find_near(targets[edge], object) {
                Some(target) => {
                    resolved.push(target);
                    if !fields.is_empty() {
                        kept_fields.push(fields[edge]);
                    }
                }
                None => stats.unresolved_edges += 1,
            }
        }
    }
    // Not doubled for the one entry more: that would be 4 bytes per object.
    starts.reserve_exact(1);
    starts.push(resolved.len() as u32);
    (starts, resolved, kept_fields)
}

/// References in any order: resolved, then placed in their source's row by a counting sort
/// that keeps each object's references in the order they were given.
fn resolve_any_order(
    sources: impl Iterator<Item = u32>,
    objects: usize,
    targets: &[u64],
    fields: &[u32],
    index: &AddressIndex,
    stats: &mut BuildStats,
) -> Rows {
    let mut resolved: Vec<(u32, u32)> = Vec::with_capacity(targets.len());
    let mut row_lengths = vec![0u32; objects + 1];
    for (source, &target_address) in sources.zip(targets) {
        match (source, index.find(target_address)) {
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
    let mut edge_fields = vec![NO_FIELD; if fields.is_empty() { 0 } else { edges }];
    for (i, &(source, target)) in resolved.iter().enumerate() {
        if source == DROPPED {
            continue;
        }
        let slot = &mut cursor[source as usize];
        edge_targets[*slot as usize] = target;
        if !fields.is_empty() {
            edge_fields[*slot as usize] = fields[i];
        }
        *slot += 1;
    }
    (edge_starts, edge_targets, edge_fields)
}

/// Each reference's source, from the rows' starts.
fn sources_of_rows(starts: &[u32], edges: usize) -> impl Iterator<Item = u32> + '_ {
    (0..starts.len()).flat_map(move |object| {
        let end = starts.get(object + 1).map_or(edges, |&e| e as usize);
        std::iter::repeat_n(object as u32, end.saturating_sub(starts[object] as usize))
    })
}

/// Finds objects by address in a sorted list: a binary search among every 32nd address
/// (a 32nd of the list, which stays in the cache), then among 32. Plain binary search over
/// 10^7 addresses misses the cache at most of its 24 steps: 10 s for 2·10^7 references.
struct AddressIndex<'a> {
    addresses: &'a [u64],
    pivots: Vec<u64>,
}

impl<'a> AddressIndex<'a> {
    const STRIDE: usize = 32;

    fn new(addresses: &'a [u64]) -> Self {
        let pivots = addresses.iter().step_by(Self::STRIDE).copied().collect();
        AddressIndex { addresses, pivots }
    }

    /// [`Self::find`], looking first among the objects next to object `near` (in a heap
    /// walk most references are to objects allocated close by, and those addresses are
    /// in the cache already).
    fn find_near(&self, address: u64, near: usize) -> Option<u32> {
        let start = near.saturating_sub(Self::STRIDE / 2);
        let end = (near + Self::STRIDE / 2).min(self.addresses.len());
        match self.addresses.get(start..end) {
            Some(window @ [first, .., last]) if (*first..=*last).contains(&address) => window
                .binary_search(&address)
                .ok()
                .map(|i| (start + i) as u32),
            _ => self.find(address),
        }
    }

    fn find(&self, address: u64) -> Option<u32> {
        let block = self
            .pivots
            .partition_point(|&p| p <= address)
            .checked_sub(1)?;
        let start = block * Self::STRIDE;
        let end = (start + Self::STRIDE).min(self.addresses.len());
        let i = self.addresses[start..end].binary_search(&address).ok()?;
        Some((start + i) as u32)
    }
}

/// The objects sorted by address, duplicates dropped (the first given is kept), and each
/// input object's new index (or [`DROPPED`]); `None` when they already were in order.
#[allow(clippy::type_complexity)]
fn objects_in_address_order(
    addresses: Vec<u64>,
    object_types: Vec<u32>,
    sizes: Vec<u64>,
    stats: &mut BuildStats,
) -> (Vec<u64>, Vec<u32>, Vec<u64>, Option<Vec<u32>>) {
    let n = addresses.len();
    if addresses.windows(2).all(|w| w[0] < w[1]) {
        // The common case (a heap walk goes in address order): no permutation at all.
        return (addresses, object_types, sizes, None);
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
    (
        sorted_addresses,
        sorted_types,
        sorted_sizes,
        Some(new_index),
    )
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
    fn references_given_after_a_later_object_still_land_on_their_source() {
        let mut b = HeapGraphBuilder::new();
        let t = b.add_type("T", false);
        let f = b.field_name("f");
        let first = b.add_object(0x10, t, 8);
        b.add_reference(first, 0x20, None);
        let second = b.add_object(0x20, t, 8);
        b.add_reference(second, 0x30, None);
        let third = b.add_object(0x30, t, 8);
        // Back to an earlier object: the builder now keeps each reference's source.
        b.add_reference(first, 0x30, Some(f));
        b.add_reference(third, 0x10, None);
        b.add_reference(second, 0x10, None);
        let graph = b.build().unwrap();
        let at = |a| graph.find(a).unwrap();
        let refs = |a| graph.references(at(a)).collect::<Vec<_>>();
        assert_eq!(refs(0x10), vec![(at(0x20), None), (at(0x30), Some("f"))]);
        assert_eq!(refs(0x20), vec![(at(0x30), None), (at(0x10), None)]);
        assert_eq!(refs(0x30), vec![(at(0x10), None)]);
    }

    #[test]
    fn a_graph_without_field_names_keeps_no_field_per_reference() {
        let mut b = HeapGraphBuilder::with_capacity(3, 3);
        let t = b.add_type("T", false);
        for address in [0x10, 0x20, 0x30] {
            let o = b.add_object(address, t, 8);
            b.add_reference(o, 0x10, None);
        }
        let graph = b.build().unwrap();
        assert!(graph.edge_fields.is_empty());
        assert_eq!(graph.edge_count(), 3);
        let last = graph.find(0x30).unwrap();
        assert_eq!(
            graph.references(last).collect::<Vec<_>>(),
            vec![(graph.find(0x10).unwrap(), None)]
        );

        // A field named after references without one: those keep none.
        let mut b = HeapGraphBuilder::new();
        let t = b.add_type("T", false);
        let f = b.field_name("f");
        let o = b.add_object(0x10, t, 8);
        b.add_reference(o, 0x10, None);
        b.add_reference(o, 0x10, Some(f));
        b.add_reference(o, 0x10, None);
        let graph = b.build().unwrap();
        let fields: Vec<_> = graph
            .references(graph.find(0x10).unwrap())
            .map(|(_, f)| f)
            .collect();
        assert_eq!(fields, vec![None, Some("f"), None]);
    }

    #[test]
    fn a_reference_from_another_builders_object_is_dropped_not_a_panic() {
        let mut other = HeapGraphBuilder::new();
        let t = other.add_type("T", false);
        other.add_object(0x10, t, 8);
        let foreign = other.add_object(0x20, t, 8);
        let mut b = HeapGraphBuilder::new();
        let t = b.add_type("T", false);
        b.add_reference(foreign, 0x30, None); // before any object of its own
        let o = b.add_object(0x30, t, 8);
        b.add_reference(foreign, 0x30, None);
        b.add_reference(o, 0x30, None);
        let graph = b.build().unwrap();
        assert_eq!(graph.edge_count(), 1);
        assert_eq!(graph.stats().unresolved_edges, 2);
    }

    proptest::proptest! {
        #[test]
        fn the_address_index_finds_what_a_binary_search_finds(
            mut addresses in proptest::collection::vec(0u64..5000, 0..300),
            probes in proptest::collection::vec(0u64..5100, 1..50),
            near in 0usize..300,
        ) {
            addresses.sort_unstable();
            addresses.dedup();
            let index = AddressIndex::new(&addresses);
            for probe in probes {
                let expected = addresses.binary_search(&probe).ok().map(|i| i as u32);
                proptest::prop_assert_eq!(index.find(probe), expected);
                proptest::prop_assert_eq!(index.find_near(probe, near.min(addresses.len())), expected);
            }
        }
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
