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
//! let orphan = b.add_object(0x80, holder, 24); // nothing holds it...
//! b.add_reference(orphan, 0x90, Some(field));
//! b.add_object(0x90, held, 24);
//! let graph = b.build()?;
//! let paths = ShortestPaths::compute(&graph);
//! let path = paths.path_to(graph.find(0x40).unwrap()).unwrap();
//! assert_eq!(path.to_string(), "static App.holder → Holder.kept → Held");
//! // ...so it has no path from a root, only a chain from its outermost holder.
//! let orphaned = graph.find(0x90).unwrap();
//! assert!(paths.path_to(orphaned).is_none());
//! assert_eq!(paths.orphan_path_to(orphaned).unwrap().to_string(), "no root found → Holder.kept → Held");
//! # Ok::<(), leakgate_heap::BuildError>(())
//! ```
//!
//! Ties (two roots, or two holders, at the same distance) are broken the same way every
//! time: roots by kind (static field, held by the runtime, thread static, strong handle,
//! pinned handle, dependent handle, other, stack, finalizer queue), then by their description; holders by the order in which the
//! search reached them, references in the order the source gave them.
//!
//! Objects no root reaches are searched afterwards from their outermost holders (those no
//! other unreached object references; for a cycle, its lowest address), so that a leak held
//! by a root the source could not see still shows what holds it, under [`Root::NotFound`].

use crate::Root;
use crate::model::{HeapGraph, ObjectId};
use crate::path::{PathStep, RetentionPath};

/// `reached_from` marks: reached directly by a root; the start of an orphan chain; not yet.
const BY_ROOT: u32 = u32::MAX;
const ORPHAN_START: u32 = u32::MAX - 1;
const UNREACHED: u32 = u32::MAX - 2;

/// The result of the search: for each object, the object (or root) it was first reached from.
#[derive(Debug, Clone)]
pub struct ShortestPaths<'g> {
    graph: &'g HeapGraph,
    /// The holder on a shortest path, or [`BY_ROOT`], or [`ORPHAN_START`].
    reached_from: Vec<u32>,
    /// The edge from the holder, or the root's index when reached by a root.
    reached_via: Vec<u32>,
    /// Whether a root (not an orphan chain) reaches the object.
    rooted: Vec<bool>,
    reachable: u64,
}

impl<'g> ShortestPaths<'g> {
    /// Searches `graph` from all its roots. Iterative: a chain of any length is fine.
    pub fn compute(graph: &'g HeapGraph) -> ShortestPaths<'g> {
        let objects = graph.object_count();
        let mut search = ShortestPaths {
            graph,
            reached_from: vec![UNREACHED; objects],
            reached_via: vec![0u32; objects],
            rooted: Vec::new(),
            reachable: 0,
        };
        // Each object enters the queue once, so a vector with a read cursor is the queue.
        let mut queue: Vec<u32> = Vec::with_capacity(objects);

        let roots = graph.roots();
        let mut root_order: Vec<usize> = (0..roots.len()).collect();
        root_order.sort_by(|&a, &b| {
            let (ra, rb) = (&roots[a].0, &roots[b].0);
            (ra.rank(), ra, a).cmp(&(rb.rank(), rb, b))
        });
        for index in root_order {
            let target = roots[index].1.index();
            if search.reached_from[target] == UNREACHED {
                search.reached_from[target] = BY_ROOT;
                search.reached_via[target] = index as u32;
                queue.push(target as u32);
            }
        }
        search.breadth_first(&mut queue, 0);
        search.reachable = queue.len() as u64;
        search.rooted = search
            .reached_from
            .iter()
            .map(|&r| r != UNREACHED)
            .collect();
        search.search_orphans(&mut queue);
        search
    }

    /// Visits everything reachable from `queue[head..]`, appending to the queue.
    fn breadth_first(&mut self, queue: &mut Vec<u32>, mut head: usize) {
        let graph = self.graph;
        while head < queue.len() {
            let object = queue[head];
            head += 1;
            for edge in graph.edge_range(ObjectId(object)) {
                let target = graph.edge_targets[edge] as usize;
                if self.reached_from[target] == UNREACHED {
                    self.reached_from[target] = object;
                    self.reached_via[target] = edge as u32;
                    queue.push(target as u32);
                }
            }
        }
    }

    /// Starts chains at unreached objects that no other unreached object references, all at
    /// once; then at the lowest address of each cycle still left.
    fn search_orphans(&mut self, queue: &mut Vec<u32>) {
        let graph = self.graph;
        let objects = graph.object_count();
        let mut held = vec![false; objects];
        for object in 0..objects {
            if self.reached_from[object] != UNREACHED {
                continue;
            }
            for edge in graph.edge_range(ObjectId(object as u32)) {
                let target = graph.edge_targets[edge] as usize;
                if target != object && self.reached_from[target] == UNREACHED {
                    held[target] = true;
                }
            }
        }
        let head = queue.len();
        for (object, held) in held.into_iter().enumerate() {
            if self.reached_from[object] == UNREACHED && !held {
                self.reached_from[object] = ORPHAN_START;
                queue.push(object as u32);
            }
        }
        self.breadth_first(queue, head);
        for object in 0..objects {
            if self.reached_from[object] == UNREACHED {
                self.reached_from[object] = ORPHAN_START;
                let head = queue.len();
                queue.push(object as u32);
                self.breadth_first(queue, head);
            }
        }
    }

    pub fn graph(&self) -> &'g HeapGraph {
        self.graph
    }

    /// Whether some root reaches `object`.
    pub fn is_reachable(&self, object: ObjectId) -> bool {
        self.rooted[object.index()]
    }

    /// How many objects some root reaches.
    pub fn reachable_count(&self) -> u64 {
        self.reachable
    }

    /// The shortest path from a root to `object`, or `None` when no root reaches it.
    pub fn path_to(&self, object: ObjectId) -> Option<RetentionPath> {
        self.is_reachable(object).then(|| self.chain_to(object))
    }

    /// For an object no root reaches: the chain from its outermost holder, under
    /// [`Root::NotFound`]. `None` for a reachable object (see [`ShortestPaths::path_to`]).
    pub fn orphan_path_to(&self, object: ObjectId) -> Option<RetentionPath> {
        (!self.is_reachable(object)).then(|| self.chain_to(object))
    }

    /// The path to `object` from a root, or else from its outermost holder.
    pub fn explain(&self, object: ObjectId) -> RetentionPath {
        self.chain_to(object)
    }

    /// The objects on [`ShortestPaths::explain`]'s path to `object`, one per step: from the
    /// object a root holds (or the outermost holder) to `object` itself.
    pub fn objects_to(&self, object: ObjectId) -> Vec<ObjectId> {
        let mut objects = vec![object];
        let mut current = object.index();
        while let holder @ 0..UNREACHED = self.reached_from[current] {
            objects.push(ObjectId(holder));
            current = holder as usize;
        }
        objects.reverse();
        objects
    }

    fn chain_to(&self, object: ObjectId) -> RetentionPath {
        let graph = self.graph;
        let mut steps = Vec::new();
        let mut current = object.index();
        loop {
            let type_name = graph.type_name(graph.type_of(ObjectId(current as u32)));
            let root = match self.reached_from[current] {
                BY_ROOT => graph.roots()[self.reached_via[current] as usize].0.clone(),
                ORPHAN_START => Root::NotFound,
                holder => {
                    let field = graph.edge_field_name(self.reached_via[current] as usize);
                    steps.push(PathStep::new(type_name, field));
                    current = holder as usize;
                    continue;
                }
            };
            steps.push(PathStep::new(type_name, None));
            steps.reverse();
            return RetentionPath { root, steps };
        }
    }
}
