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
//! The tree is semi-NCA's (Georgiadis, Tarjan and Werneck 2006, as in LLVM): Lengauer–
//! Tarjan's semidominators (path compression only: O(references · log objects)) over a
//! depth-first numbering, then each immediate dominator as the nearest common ancestor of
//! the DFS parent and the semidominator, found through jump pointers in O(log depth). Every
//! array the passes touch is indexed by depth-first number; the references other than the
//! DFS tree's are collected by the search itself and sorted by target number one cache-sized
//! bucket at a time. Every step is a loop, so a chain of 10^7 objects needs no stack.
//! Memory while computing, in flat vectors of `u32`/`u64`: at most 16 bytes per object plus
//! 16 per reference outside the DFS tree (references + roots − reached objects), or 32 per
//! object if that is more (measured: 33 per object in a heap of 2.1 references per object);
//! 28 per object kept.

use std::collections::BTreeMap;

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
        let DepthFirst {
            preorder,
            vertex,
            parent,
            edges,
        } = depth_first(graph);
        let semi = semidominators(&parent, &buckets(edges, vertex.len()));
        let nodes = immediate_dominators(&parent, &semi);
        drop((parent, semi));
        let n = vertex.len();

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

    /// The holders of instances that no single object keeps alive: one
    /// [`DominatorTree::holder`] for the instances under each object the roots hold directly
    /// (the parts held from independent roots: a thread static's value on each thread, a
    /// local on each thread's stack). Just the one holder when one object keeps them all;
    /// empty when none is reachable.
    pub fn holders(&self, instances: &[ObjectId]) -> Vec<Holder> {
        if let Some(holder) = self.holder(instances) {
            return vec![holder];
        }
        let mut parts: BTreeMap<u32, Vec<ObjectId>> = BTreeMap::new();
        for &object in instances {
            if let Some(i) = self.number(object) {
                parts
                    .entry(self.up_to_depth(i, 1))
                    .or_default()
                    .push(object);
            }
        }
        parts
            .into_values()
            .filter_map(|part| self.holder(&part))
            .collect()
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

/// Non-tree references are sorted by target number in buckets of 2^14 consecutive numbers:
/// one bucket's references, counts and rows stay in the L2 cache while it is sorted.
const BUCKET_SHIFT: u32 = 14;
const BUCKET_WIDTH: usize = 1 << BUCKET_SHIFT;

/// The depth-first search's results: object → number ([`NONE`] if unreached), number →
/// object, number → DFS parent, and the references that are not edges of the DFS tree (the
/// roots' included, from the virtual root) as `target << 32 | source` in numbers, in the
/// order the search met them.
struct DepthFirst {
    preorder: Vec<u32>,
    vertex: Vec<u32>,
    parent: Vec<u32>,
    edges: Vec<u64>,
}

/// Non-tree references grouped by bucket of target number: bucket `b` is
/// `pairs[starts[b]..starts[b + 1]]`, in no order within.
struct Buckets {
    pairs: Vec<u64>,
    starts: Vec<usize>,
}

/// Groups `edges` by bucket in one counting pass: each bucket is a sequential write stream
/// (a few hundred of them), where a counting sort by target number would write all over.
fn buckets(mut edges: Vec<u64>, numbers: usize) -> Buckets {
    let bucket = |pair: u64| (pair >> (32 + BUCKET_SHIFT)) as usize;
    // Its capacity down to its length before the sorted copy joins it.
    edges.shrink_to_fit();
    let mut starts = vec![0usize; (numbers >> BUCKET_SHIFT) + 2];
    for &pair in &edges {
        starts[bucket(pair) + 1] += 1;
    }
    for b in 1..starts.len() {
        starts[b] += starts[b - 1];
    }
    let mut next = starts.clone();
    let mut pairs = vec![0u64; edges.len()];
    for &pair in &edges {
        let slot = &mut next[bucket(pair)];
        pairs[*slot] = pair;
        *slot += 1;
    }
    Buckets { pairs, starts }
}

/// Numbers the objects the roots reach in depth-first preorder from the virtual root (0)
/// and collects the references that are not tree edges. The search keeps no stack: it
/// climbs back through `parent`, and each number's next edge sits in `cursor` (the virtual
/// root's edges are the roots).
fn depth_first(graph: &HeapGraph) -> DepthFirst {
    let objects = graph.object_count();
    let mut preorder = vec![NONE; objects];
    // Reserved once: pages never touched (unreachable objects) cost no memory.
    let mut vertex = Vec::with_capacity(objects + 1);
    let mut parent = Vec::with_capacity(objects + 1);
    let mut cursor: Vec<u32> = Vec::with_capacity(objects + 1);
    let mut edges = Vec::new();
    let roots = graph.roots();
    let (starts, targets) = (&graph.edge_starts, &graph.edge_targets);
    vertex.push(NONE);
    parent.push(VIRTUAL_ROOT);
    cursor.push(0);

    let mut current = VIRTUAL_ROOT;
    loop {
        let edge = cursor[current as usize];
        let next = if current == VIRTUAL_ROOT {
            roots.get(edge as usize).map(|(_, o)| o.0)
        } else {
            (edge < starts[vertex[current as usize] as usize + 1]).then(|| targets[edge as usize])
        };
        let Some(target) = next else {
            if current == VIRTUAL_ROOT {
                break;
            }
            current = parent[current as usize];
            continue;
        };
        cursor[current as usize] += 1;
        let target = target as usize;
        match preorder[target] {
            NONE => {
                let number = vertex.len() as u32;
                preorder[target] = number;
                vertex.push(target as u32);
                parent.push(current);
                cursor.push(starts[target]);
                current = number;
            }
            number if number != current => edges.push((number as u64) << 32 | current as u64),
            _ => {} // a reference to itself dominates nothing
        }
    }
    DepthFirst {
        preorder,
        vertex,
        parent,
        edges,
    }
}

/// A number in the forest that `eval` compresses: its ancestor, and the least semidominator
/// on the path up to it, side by side so that a step up a path touches one cache line.
#[derive(Debug, Clone, Copy)]
struct Link {
    ancestor: u32,
    best: u32,
}

/// Semidominators by depth-first number (Lengauer and Tarjan 1979, with path compression),
/// in decreasing numbers one bucket at a time. Number `w` is linked under its DFS parent
/// once processed: while `w` is processed, the linked numbers are exactly those above `w`.
fn semidominators(parent: &[u32], edges: &Buckets) -> Vec<u32> {
    let n = parent.len();
    let mut semi = vec![0u32; n];
    // A number's link is read only once it is linked (set then): zeros until then.
    let mut forest = vec![
        Link {
            ancestor: 0,
            best: 0
        };
        n
    ];
    let mut path = Vec::new();
    // Row starts of one bucket's sources by target: row k is rows[k]..rows[k + 1].
    let mut rows = vec![0usize; BUCKET_WIDTH + 2];
    let mut sources: Vec<u32> = Vec::new();

    for bucket in (0..edges.starts.len() - 1).rev() {
        let pairs = &edges.pairs[edges.starts[bucket]..edges.starts[bucket + 1]];
        let first = bucket << BUCKET_SHIFT;
        let row = |pair: u64| (pair >> 32) as usize & (BUCKET_WIDTH - 1);
        rows.fill(0);
        for &pair in pairs {
            rows[row(pair) + 2] += 1;
        }
        for k in 2..rows.len() {
            rows[k] += rows[k - 1];
        }
        sources.resize(pairs.len(), 0);
        for &pair in pairs {
            let slot = &mut rows[row(pair) + 1];
            sources[*slot] = pair as u32;
            *slot += 1;
        }

        for w in (first.max(1)..(first + BUCKET_WIDTH).min(n)).rev() {
            let k = w - first;
            let w = w as u32;
            // Candidates: the DFS parent (a predecessor numbered lower), any predecessor not
            // yet linked as is, and for a linked one the least semidominator up its path.
            let mut s = parent[w as usize];
            for &v in &sources[rows[k]..rows[k + 1]] {
                let candidate = if v <= w {
                    v
                } else {
                    eval(v, w, &mut forest, &mut path)
                };
                s = s.min(candidate);
            }
            semi[w as usize] = s;
            forest[w as usize] = Link {
                ancestor: parent[w as usize],
                best: s,
            };
        }
    }
    semi
}

/// The least semidominator on linked `v`'s forest path (while `w` is processed, the linked
/// numbers are those above `w`); compresses the path. Iterative: the path is collected first,
/// then compressed from its top down.
fn eval(v: u32, w: u32, forest: &mut [Link], path: &mut Vec<u32>) -> u32 {
    let mut link = forest[v as usize];
    if link.ancestor <= w {
        return link.best;
    }
    path.clear();
    let mut x = v;
    while link.ancestor > w {
        path.push(x);
        x = link.ancestor;
        link = forest[x as usize];
    }
    let (root, mut best) = (link.ancestor, link.best);
    for &y in path.iter().rev() {
        let link = &mut forest[y as usize];
        best = best.min(link.best);
        *link = Link {
            ancestor: root,
            best,
        };
    }
    best
}

/// A jump pointer of the dominator tree built so far (skew-binary, Myers 1983): an ancestor
/// and its depth, such that a walk up to a given ancestor takes O(log depth) steps.
#[derive(Debug, Clone, Copy)]
struct Jump {
    to: u32,
    depth: u32,
}

/// Immediate dominators from semidominators, in increasing numbers (semi-NCA: Georgiadis,
/// Tarjan and Werneck 2006): `w`'s is the nearest common ancestor, in the tree built so far,
/// of its DFS parent and its semidominator, i.e. the parent's nearest dominator numbered at
/// most the semidominator. The walk up takes jump pointers: a plain walk is quadratic on a
/// long chain whose objects are also held from above it.
fn immediate_dominators(parent: &[u32], semi: &[u32]) -> Vec<Node> {
    let n = parent.len();
    let mut nodes = vec![Node { idom: 0, depth: 0 }; n];
    let mut jumps = vec![Jump { to: 0, depth: 0 }; n];
    for w in 1..n {
        let s = semi[w];
        let mut x = parent[w];
        while x > s {
            // Numbers fall going up: all between x and a jump above s are above s too.
            let jump = jumps[x as usize].to;
            x = if jump > s {
                jump
            } else {
                nodes[x as usize].idom
            };
        }
        let depth = nodes[x as usize].depth;
        nodes[w] = Node {
            idom: x,
            depth: depth + 1,
        };
        let up = jumps[x as usize];
        let up_up = jumps[up.to as usize];
        jumps[w] = if depth - up.depth == up.depth - up_up.depth {
            up_up
        } else {
            Jump { to: x, depth }
        };
    }
    nodes
}
