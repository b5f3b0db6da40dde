//! Shortest retention paths: one breadth-first search from all roots at once, so every
//! reachable object learns the shortest way it is held, in O(objects + references).
//!
//! ```
//! use leakgate_heap::{HeapGraphBuilder, Root, ShortestPaths};
//!
//! let mut b = HeapGraphBuilder::new();
//! let (holder, held) = (b.add_type("Holder", false), b.add_type("Held", false));
//! let field = b.field_name("kept");
//! let h = b.add_object(0x10, holder, 24);
//! b.add_reference(h, 0x40, Some(field));
//! b.add_object(0x40, held, 24);
//! b.add_root(Root::static_field("App", "holder"), 0x10);
//! let graph = b.build()?;
//! let paths = ShortestPaths::compute(&graph);
//! let path = paths.path_to(graph.find(0x40).unwrap()).unwrap();
//! assert_eq!(path.to_string(), "static App.holder → Holder.kept → Held");
//! # Ok::<(), leakgate_heap::BuildError>(())
//! ```
//!
//! Ties (two roots, or two holders, at the same distance) are broken the same way every
//! time: roots by kind (static field, strong handle, pinned handle, dependent handle, other,
//! stack, finalizer queue), then by their description; holders by the order in which the
//! search reached them, references in the order the source gave them.

use crate::model::{HeapGraph, ObjectId};
use crate::path::{PathStep, RetentionPath};

/// `reached_from` marks: reached directly by a root, or not at all.
const BY_ROOT: u32 = u32::MAX;
const UNREACHED: u32 = u32::MAX - 1;

/// The result of the search: for each object, the object (or root) it was first reached from.
#[derive(Debug, Clone)]
pub struct ShortestPaths<'g> {
    graph: &'g HeapGraph,
    /// The holder on a shortest path, or [`BY_ROOT`], or [`UNREACHED`].
    reached_from: Vec<u32>,
    /// The edge from the holder, or the root's index when reached by a root.
    reached_via: Vec<u32>,
    reachable: u64,
}

impl<'g> ShortestPaths<'g> {
    /// Searches `graph` from all its roots. Iterative: a chain of any length is fine.
    pub fn compute(graph: &'g HeapGraph) -> ShortestPaths<'g> {
        let objects = graph.object_count();
        let mut reached_from = vec![UNREACHED; objects];
        let mut reached_via = vec![0u32; objects];
        // Each object enters the queue once, so a vector with a read cursor is the queue.
        let mut queue: Vec<u32> = Vec::with_capacity(objects.min(1 << 20));

        let roots = graph.roots();
        let mut root_order: Vec<usize> = (0..roots.len()).collect();
        root_order.sort_by(|&a, &b| {
            let (ra, rb) = (&roots[a].0, &roots[b].0);
            (ra.rank(), ra, a).cmp(&(rb.rank(), rb, b))
        });
        for index in root_order {
            let target = roots[index].1.index();
            if reached_from[target] == UNREACHED {
                reached_from[target] = BY_ROOT;
                reached_via[target] = index as u32;
                queue.push(target as u32);
            }
        }

        let mut head = 0;
        while let Some(&object) = queue.get(head) {
            head += 1;
            for edge in graph.edge_range(ObjectId(object)) {
                let target = graph.edge_targets[edge] as usize;
                if reached_from[target] == UNREACHED {
                    reached_from[target] = object;
                    reached_via[target] = edge as u32;
                    queue.push(target as u32);
                }
            }
        }
        ShortestPaths {
            graph,
            reached_from,
            reached_via,
            reachable: queue.len() as u64,
        }
    }

    pub fn graph(&self) -> &'g HeapGraph {
        self.graph
    }

    pub fn is_reachable(&self, object: ObjectId) -> bool {
        self.reached_from[object.index()] != UNREACHED
    }

    /// How many objects some root reaches.
    pub fn reachable_count(&self) -> u64 {
        self.reachable
    }

    /// The shortest path from a root to `object`, or `None` when no root reaches it.
    pub fn path_to(&self, object: ObjectId) -> Option<RetentionPath> {
        if !self.is_reachable(object) {
            return None;
        }
        let graph = self.graph;
        let mut steps = Vec::new();
        let mut current = object.index();
        loop {
            let type_name = graph.type_name(graph.type_of(ObjectId(current as u32)));
            match self.reached_from[current] {
                BY_ROOT => {
                    steps.push(PathStep::new(type_name, None));
                    steps.reverse();
                    let root = graph.roots()[self.reached_via[current] as usize].0.clone();
                    return Some(RetentionPath { root, steps });
                }
                holder => {
                    let field = graph.edge_field_name(self.reached_via[current] as usize);
                    steps.push(PathStep::new(type_name, field));
                    current = holder as usize;
                }
            }
        }
    }
}
