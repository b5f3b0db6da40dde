//! Who alone keeps an object alive, and how much memory goes with it: the dominator tree of
//! the heap graph and each object's retained size (the bytes the GC would free if that object
//! went away), as memlab, LeakCanary/Shark and Eclipse MAT rank leaks. A reviewer acts on
//! "signedAssemblyCache retains 48 MiB", not on a path alone.
//!
//! ```
//! use leakgate_heap::{DominatorTree, HeapGraphBuilder, Root};
//!
//! let mut b = HeapGraphBuilder::new();
//! let (list, array, entry) = (
//!     b.add_type("List<Entry>", false),
//!     b.add_type("Entry[]", false),
//!     b.add_type("Entry", false),
//! );
//! let holder = b.add_object(0x1000, list, 32);
//! b.add_reference(holder, 0x2000, None);
//! let elements = b.add_object(0x2000, array, 16 + 8 * 100);
//! for i in 0..100 {
//!     b.add_object(0x10_0000 + 0x20 * i, entry, 24);
//!     b.add_reference(elements, 0x10_0000 + 0x20 * i, None);
//! }
//! b.add_root(Root::static_field("Registry", "Entries"), 0x1000);
//! let graph = b.build()?;
//! let tree = DominatorTree::compute(&graph);
//! let entries = graph.instances_of("Entry");
//! // The array dominates every entry; the list adds only its own 32 bytes on top, so the
//! // holder to report is the list, with everything it keeps alive.
//! assert_eq!(tree.common_dominator(&entries), graph.find(0x2000));
//! let holder = tree.holder(&entries).unwrap();
//! assert_eq!(holder.object, graph.find(0x1000).unwrap());
//! assert_eq!((holder.retained_bytes, holder.retained_objects), (32 + 816 + 2400, 102));
//! # Ok::<(), leakgate_heap::BuildError>(())
//! ```
//!
//! The roots hang under one virtual root (several roots may hold the same object). Objects no
//! root reaches have no dominator and count towards no retained size.
//!
//! The tree is Lengauer–Tarjan's (path compression only: O(references · log objects)) over a
//! depth-first numbering; every step is a loop, so a chain of 10^7 objects needs no stack.
//! Memory, in flat vectors of `u32`/`u64`: 36 bytes per object plus 4 per reference while
//! computing (about 45 per object in a heap of 2 references per object), 28 per object kept.

use crate::model::{HeapGraph, ObjectId};

/// Not reached by the search (in `preorder`); no entry (as a bucket link).
const NONE: u32 = u32::MAX;
/// The virtual root's depth-first number.
const VIRTUAL_ROOT: u32 = 0;

/// What an object's immediate dominator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dominator {
    /// No single object: roots (one or several) hold it directly or through disjoint paths.
    VirtualRoot,
    Object(ObjectId),
}

/// The object nearest the root that keeps a group of instances alive and little else: see
/// [`DominatorTree::holder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub object: ObjectId,
    /// Bytes freed if the holder went away (its own size included).
    pub retained_bytes: u64,
    /// Objects freed if the holder went away (itself included).
    pub retained_objects: u64,
    /// How many of the given instances it dominates: all the reachable ones.
    pub dominates: usize,
}

/// The dominator tree of one [`HeapGraph`], with retained sizes. Owns no reference to the
/// graph; ask it only about objects of the graph it was computed from (others read as
/// unreachable or as some other object).
#[derive(Debug, Clone)]
pub struct DominatorTree {
    /// Object index → depth-first number, or [`NONE`] when no root reaches it.
    preorder: Vec<u32>,
    /// Depth-first number → object index ([`NONE`] for the virtual root).
    vertex: Vec<u32>,
    /// Depth-first number → its immediate dominator and depth.
    nodes: Vec<Node>,
    retained_bytes: Vec<u64>,
    retained_objects: Vec<u32>,
}

/// A number's immediate dominator (the virtual root's is itself) and its depth in the tree
/// (the virtual root's is 0), side by side: walks up the tree read both.
#[derive(Debug, Clone, Copy)]
struct Node {
    idom: u32,
    depth: u32,
}

impl DominatorTree {
    /// The dominator tree of `graph` under a virtual root holding every root's object.
    pub fn compute(graph: &HeapGraph) -> DominatorTree {
        let (preorder, vertex, parent) = depth_first(graph);
        let (relative, semi) = lengauer_tarjan(graph, &preorder, &vertex, parent);
        let n = vertex.len();

        // A dominator numbers lower than what it dominates, so one pass forwards finishes
        // Lengauer–Tarjan (where the relative dominator is not the semidominator, the
        // immediate dominator is the relative dominator's own) and sets depths.
        let mut nodes = vec![Node { idom: 0, depth: 0 }; n];
        for w in 1..n {
            let r = relative[w];
            let idom = if r == semi[w] {
                r
            } else {
                nodes[r as usize].idom
            };
            let depth = nodes[idom as usize].depth + 1;
            nodes[w] = Node { idom, depth };
        }
        drop((relative, semi));

        // Backwards, each subtree is summed into its dominator before that dominator is
        // itself added to its own.
        let mut retained_bytes = vec![0u64; n];
        let mut retained_objects = vec![0u32; n];
        for i in (1..n).rev() {
            retained_bytes[i] = retained_bytes[i].saturating_add(graph.sizes[vertex[i] as usize]);
            retained_objects[i] += 1;
            let d = nodes[i].idom as usize;
            retained_bytes[d] = retained_bytes[d].saturating_add(retained_bytes[i]);
            retained_objects[d] += retained_objects[i];
        }
        DominatorTree {
            preorder,
            vertex,
            nodes,
            retained_bytes,
            retained_objects,
        }
    }

    /// How many objects some root reaches.
    pub fn reachable_count(&self) -> usize {
        self.vertex.len() - 1
    }

    /// Whether some root reaches `object`.
    pub fn is_reachable(&self, object: ObjectId) -> bool {
        self.number(object).is_some()
    }

    /// The immediate dominator of `object`; `None` when no root reaches it.
    pub fn idom(&self, object: ObjectId) -> Option<Dominator> {
        let d = self.nodes[self.number(object)? as usize].idom;
        Some(self.dominator(d))
    }

    /// Bytes freed if `object` went away (its own size included); 0 when unreachable.
    pub fn retained_size(&self, object: ObjectId) -> u64 {
        self.number(object)
            .map_or(0, |i| self.retained_bytes[i as usize])
    }

    /// Objects freed if `object` went away (itself included); 0 when unreachable.
    pub fn retained_objects(&self, object: ObjectId) -> u64 {
        self.number(object)
            .map_or(0, |i| self.retained_objects[i as usize] as u64)
    }

    /// The objects that dominate `object`, nearest first, without `object` itself and the
    /// virtual root. Empty when unreachable.
    pub fn ancestors(&self, object: ObjectId) -> impl Iterator<Item = ObjectId> + '_ {
        let mut current = self.number(object).unwrap_or(VIRTUAL_ROOT);
        std::iter::from_fn(move || {
            current = self.nodes[current as usize].idom;
            (current != VIRTUAL_ROOT).then(|| ObjectId(self.vertex[current as usize]))
        })
    }

    /// Whether every path from the roots to `object` goes through `dominator` (an object
    /// dominates itself). False when either is unreachable.
    pub fn dominates(&self, dominator: ObjectId, object: ObjectId) -> bool {
        let (Some(d), Some(mut o)) = (self.number(dominator), self.number(object)) else {
            return false;
        };
        o = self.up_to_depth(o, self.nodes[d as usize].depth);
        o == d
    }

    /// The nearest object that dominates all reachable `objects` (one object is its own);
    /// `None` when none is reachable or only the virtual root dominates them all (they are
    /// held from independent roots). Unreachable objects are left out.
    pub fn common_dominator(&self, objects: &[ObjectId]) -> Option<ObjectId> {
        let mut numbers = objects.iter().filter_map(|&o| self.number(o));
        let mut common = numbers.next()?;
        for mut other in numbers {
            let depth = |i: u32| self.nodes[i as usize].depth;
            other = self.up_to_depth(other, depth(common));
            common = self.up_to_depth(common, depth(other));
            while common != other {
                common = self.nodes[common as usize].idom;
                other = self.nodes[other as usize].idom;
            }
            if common == VIRTUAL_ROOT {
                return None;
            }
        }
        Some(ObjectId(self.vertex[common as usize]))
    }

    /// The holder of a group of (growing) instances: their common dominator, raised through
    /// the dominators above it that retain at most a small wrapper allowance more
    /// (max(1 KiB, 1% of the common dominator's retained size)), e.g. a `List<T>` over its
    /// `T[]`, a `Dictionary` over its entries. So the holder is the object nearest the root
    /// that keeps the growth alive and essentially nothing else, and its retained size is
    /// the memory the leak costs. The allowance is measured from the common dominator, not
    /// step by step, so a long chain of small wrappers cannot add up to a large heap.
    ///
    /// `None` when no single object dominates the reachable instances (they are held from
    /// several independent roots) or none is reachable; the retention paths still say who
    /// holds them.
    pub fn holder(&self, instances: &[ObjectId]) -> Option<Holder> {
        let common = self.common_dominator(instances)?;
        let base = self.retained_size(common);
        let allowance = (base / 100).max(1024);
        let mut object = common;
        for above in self.ancestors(common) {
            if self.retained_size(above).saturating_sub(base) > allowance {
                break;
            }
            object = above;
        }
        Some(Holder {
            object,
            retained_bytes: self.retained_size(object),
            retained_objects: self.retained_objects(object),
            dominates: instances.iter().filter(|&&o| self.is_reachable(o)).count(),
        })
    }

    /// The dominator of number `i` at `depth` (or `i` itself when not deeper).
    fn up_to_depth(&self, mut i: u32, depth: u32) -> u32 {
        while self.nodes[i as usize].depth > depth {
            i = self.nodes[i as usize].idom;
        }
        i
    }

    /// `object`'s depth-first number, if reachable.
    fn number(&self, object: ObjectId) -> Option<u32> {
        self.preorder
            .get(object.index())
            .copied()
            .filter(|&i| i != NONE)
    }

    fn dominator(&self, number: u32) -> Dominator {
        match number {
            VIRTUAL_ROOT => Dominator::VirtualRoot,
            i => Dominator::Object(ObjectId(self.vertex[i as usize])),
        }
    }
}

/// Numbers the objects the roots reach in depth-first preorder from the virtual root (0).
/// Returns object → number ([`NONE`] if unreached), number → object, number → DFS parent.
/// The search keeps no stack: it climbs back through `parent`, and each number's next edge
/// sits in `cursor`.
fn depth_first(graph: &HeapGraph) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let objects = graph.object_count();
    let mut preorder = vec![NONE; objects];
    // Reserved once: pages never touched (unreachable objects) cost no memory.
    let mut vertex = Vec::with_capacity(objects + 1);
    let mut parent = Vec::with_capacity(objects + 1);
    let mut cursor: Vec<u32> = Vec::with_capacity(objects + 1);
    vertex.push(NONE);
    parent.push(VIRTUAL_ROOT);
    cursor.push(0);
    let roots = graph.roots();
    let (starts, targets) = (&graph.edge_starts, &graph.edge_targets);

    let mut current = VIRTUAL_ROOT as usize;
    let mut next_root = 0usize;
    loop {
        let next = if current == VIRTUAL_ROOT as usize {
            next_root += 1;
            roots.get(next_root - 1).map(|(_, o)| o.0)
        } else {
            let edge = cursor[current];
            (edge < starts[vertex[current] as usize + 1]).then(|| {
                cursor[current] += 1;
                targets[edge as usize]
            })
        };
        match next {
            Some(target) if preorder[target as usize] == NONE => {
                let number = vertex.len();
                preorder[target as usize] = number as u32;
                vertex.push(target);
                parent.push(current as u32);
                cursor.push(starts[target as usize]);
                current = number;
            }
            Some(_) => {}
            None if current == VIRTUAL_ROOT as usize => break,
            None => current = parent[current] as usize,
        }
    }
    (preorder, vertex, parent)
}

/// A number in the forest that `eval` compresses: its ancestor, and on the path up to it the
/// number with the least semidominator (`label`) with that semidominator, side by side so
/// that a step up a path touches one cache line.
#[derive(Debug, Clone, Copy)]
struct Link {
    ancestor: u32,
    label: u32,
    label_semi: u32,
}

/// Relative dominators and semidominators by depth-first number (Lengauer and Tarjan 1979,
/// the simple version with path compression, without its last pass: see
/// [`DominatorTree::compute`]). A number is linked into the forest once it has been
/// processed, i.e. when it is at least `first_linked`; its first ancestor is its DFS parent.
fn lengauer_tarjan(
    graph: &HeapGraph,
    preorder: &[u32],
    vertex: &[u32],
    parent: Vec<u32>,
) -> (Vec<u32>, Vec<u32>) {
    let n = vertex.len();
    let mut forest: Vec<Link> = (0..n as u32)
        .zip(parent)
        .map(|(i, ancestor)| Link {
            ancestor,
            label: i,
            label_semi: i,
        })
        .collect();
    let (pred_starts, preds) = predecessors(graph, preorder);

    // semi starts at the number itself, or 0 for an object a root holds: the virtual root
    // is then a predecessor, and no predecessor numbers lower.
    let mut semi: Vec<u32> = (0..n as u32).collect();
    for (_, object) in graph.roots() {
        semi[preorder[object.index()] as usize] = VIRTUAL_ROOT;
    }
    // Each bucket is a list: its head by number, the next entry in `relative` (unused until
    // the entry leaves its bucket and gets its relative dominator).
    let mut bucket = vec![NONE; n];
    let mut relative = vec![NONE; n];
    let mut path = Vec::new();

    for w in (1..n).rev() {
        let first_linked = w as u32 + 1;
        let object = vertex[w] as usize;
        for &v in &preds[pred_starts[object] as usize..pred_starts[object + 1] as usize] {
            let candidate = if v < first_linked {
                v // not processed yet: its number is its own semidominator candidate
            } else {
                eval(v, first_linked, &mut forest, &mut path).1
            };
            semi[w] = semi[w].min(candidate);
        }
        let s = semi[w] as usize;
        forest[w].label_semi = semi[w];
        relative[w] = bucket[s];
        bucket[s] = w as u32;

        // w is now linked under its parent: settle whoever waits on that parent.
        let p = forest[w].ancestor;
        let mut v = std::mem::replace(&mut bucket[p as usize], NONE);
        while v != NONE {
            let next = relative[v as usize];
            let (u, u_semi) = eval(v, w as u32, &mut forest, &mut path);
            relative[v as usize] = if u_semi < semi[v as usize] { u } else { p };
            v = next;
        }
    }
    relative[0] = VIRTUAL_ROOT;
    (relative, semi)
}

/// The number with the least semidominator on `v`'s forest path, and that semidominator;
/// compresses the path. Iterative: the path is collected first, then compressed from its top
/// down.
fn eval(v: u32, first_linked: u32, forest: &mut [Link], path: &mut Vec<u32>) -> (u32, u32) {
    if v < first_linked {
        return (v, v);
    }
    path.clear();
    let mut x = v;
    while forest[x as usize].ancestor >= first_linked {
        path.push(x);
        x = forest[x as usize].ancestor;
    }
    for &y in path.iter().rev() {
        let above = forest[forest[y as usize].ancestor as usize];
        let link = &mut forest[y as usize];
        if above.label_semi < link.label_semi {
            link.label = above.label;
            link.label_semi = above.label_semi;
        }
        link.ancestor = above.ancestor;
    }
    let link = forest[v as usize];
    (link.label, link.label_semi)
}

/// Each reached object's predecessors (reached objects referencing it) as depth-first
/// numbers, in compressed rows by object index: `preds[starts[o]..starts[o + 1]]`. Rows by
/// object, not by number, so that both passes walk the edges in address order and mostly
/// touch nearby rows (references tend to stay near their holder). Roots are not in it (see
/// `semi`).
fn predecessors(graph: &HeapGraph, preorder: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let objects = graph.object_count();
    let (edge_starts, targets) = (&graph.edge_starts, &graph.edge_targets);
    let reached_edges = || {
        (0..objects)
            .filter(|&o| preorder[o] != NONE)
            .flat_map(move |o| {
                let edges = edge_starts[o] as usize..edge_starts[o + 1] as usize;
                edges.map(move |e| (preorder[o], targets[e] as usize))
            })
    };
    // Count into starts[t], sum to each row's end, then fill backwards down to its start.
    let mut starts = vec![0u32; objects + 1];
    for (_, t) in reached_edges() {
        starts[t] += 1;
    }
    let mut total = 0u32;
    for start in &mut starts {
        total += *start;
        *start = total;
    }
    let mut preds = vec![0u32; total as usize];
    for (source, t) in reached_edges() {
        starts[t] -= 1;
        preds[starts[t] as usize] = source;
    }
    (starts, preds)
}
