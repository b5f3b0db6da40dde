//! The retention paths of one type: a sample of its instances spread over the heap, their
//! shortest paths grouped by signature (root and chain of types and fields, repeated hops
//! through the same field of the same type collapsed into one), and each group's
//! share scaled to all instances. Instances no root reaches are grouped by the chain from their
//! outermost holder, under the root "no root found".
//!
//! ```
//! use leakgate_heap::{HeapGraphBuilder, PathOptions, Root, ShortestPaths};
//!
//! let mut b = HeapGraphBuilder::new();
//! let (array, entry) = (b.add_type("Entry[]", false), b.add_type("Entry", false));
//! let items = b.add_object(0x1000, array, 1024);
//! for i in 0..10 {
//!     let address = 0x2000 + 0x20 * i;
//!     b.add_object(address, entry, 32);
//!     b.add_reference(items, address, None);
//! }
//! b.add_object(0x9000, entry, 32); // garbage: no root reaches it
//! b.add_root(Root::static_field("Cache", "items"), 0x1000);
//! let graph = b.build()?;
//! let paths = ShortestPaths::compute(&graph).type_paths("Entry", &PathOptions { sample: 5 });
//! assert_eq!((paths.instances, paths.unreachable, paths.sampled), (11, 1, 5));
//! assert_eq!(paths.groups.len(), 1); // the sample missed the one garbage entry
//! assert_eq!(paths.groups[0].estimated, 11); // 5 of 5 sampled, scaled to 11 instances
//! assert_eq!(paths.groups[0].path.to_string(), "static Cache.items → Entry[] → Entry");
//! # Ok::<(), leakgate_heap::BuildError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bfs::ShortestPaths;
use crate::dominators::DominatorTree;
use crate::model::ObjectId;
use crate::path::{PathStep, RetentionPath, join_linked_entries, joined_fields, linked_types};
use crate::root::Root;

/// How many instances of a type get their path traced.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
pub struct PathOptions {
    /// At most this many instances, spread evenly over the heap in address order (the first
    /// N would all be the oldest objects of one segment).
    pub sample: usize,
}

impl Default for PathOptions {
    fn default() -> PathOptions {
        PathOptions { sample: 100 }
    }
}

/// Why the instances of one type are alive.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
pub struct TypePaths {
    pub type_name: String,
    /// All instances in the heap, reachable or not.
    pub instances: u64,
    /// Instances no root reaches: garbage the GC has not collected yet, or held by a root
    /// the source could not see. Their groups start at "no root found".
    pub unreachable: u64,
    /// Instances whose paths were traced.
    pub sampled: u64,
    /// Most common first; the estimates add up to the instances.
    pub groups: Vec<PathGroup>,
}

/// Sampled instances that share one retention path.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
pub struct PathGroup {
    /// The shared path (a stack root without its thread: see [`RetentionPath::signature`]).
    pub path: RetentionPath,
    /// Sampled instances on this path.
    pub sampled: u64,
    /// This group's share of the sample, scaled to all instances.
    pub estimated: u64,
    /// One instance on this path (the lowest sampled address), e.g. for `dotnet-dump`'s
    /// `gcroot`.
    pub example_address: u64,
    /// The object that alone keeps the sampled instances alive (or the objects of one type
    /// that each keep a part, from roots of their own), when the paths were grouped with a
    /// dominator tree ([`ShortestPaths::type_paths_with`]) and such a holder exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<GroupHolder>,
}

/// The holder of a group's instances ([`DominatorTree::holder`]): the object nearest the root
/// whose removal would free them all, while retaining essentially nothing else; or several
/// such objects of one type, each for the part of them under its own root
/// ([`DominatorTree::holders`]), counted in `holders`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
pub struct GroupHolder {
    pub type_name: String,
    /// Its address (of several, the one retaining most).
    pub address: u64,
    /// Bytes freed if the holder went away (its own size included).
    pub retained_bytes: u64,
    /// Objects freed if the holder went away (itself included).
    pub retained_objects: u64,
    /// How many of the group's sampled instances it keeps alive (all the reachable ones).
    pub dominates: u64,
    /// Which of the group path's `steps` the holder is (0: the object the root holds); `None`
    /// when it is not on the path of the group's example instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// How many objects of this type hold the instances, each from its own root (a list in a
    /// thread static on each thread): the sizes and counts above are theirs together, the
    /// address the one that retains most. 1 when one object holds them all.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub holders: u64,
}

pub(crate) fn one() -> u64 {
    1
}

pub(crate) fn is_one(n: &u64) -> bool {
    *n == 1
}

impl TypePaths {
    /// Instances some root reaches.
    pub fn reachable(&self) -> u64 {
        self.instances - self.unreachable
    }
}

impl ShortestPaths<'_> {
    /// The grouped retention paths of the instances of `type_name` (all types of that name).
    /// A type without instances has no groups.
    pub fn type_paths(&self, type_name: &str, options: &PathOptions) -> TypePaths {
        self.type_paths_with(type_name, options, None)
    }

    /// [`ShortestPaths::type_paths`], and with the dominator tree of the same graph, each
    /// group's [`GroupHolder`]: what keeps its sampled instances alive, and how much memory
    /// goes with it.
    pub fn type_paths_with(
        &self,
        type_name: &str,
        options: &PathOptions,
        dominators: Option<&DominatorTree>,
    ) -> TypePaths {
        let graph = self.graph();
        let instances = graph.instances_of(type_name);
        let unreachable = instances.iter().filter(|&&o| !self.is_reachable(o)).count();
        let sample = spread(&instances, options.sample);

        // Keyed by the collapsed path's structure key: a linked structure's instances at
        // every depth, reached from either end or along any way inside it, are one group.
        // Within a group, the paths of one shape (the same steps but for loops) widen into
        // one, which keeps the range of repeats; the group shows its most common shape.
        // The sample is in address order, so a shape's first instance is its example.
        // A runtime root's name (which assembly) is left out of the key and kept aside, to
        // name the group's roots by pattern.
        let explained: Vec<RetentionPath> = sample.iter().map(|&o| self.explain(o)).collect();
        let mut collapsed: Vec<RetentionPath> = explained
            .iter()
            .map(|path| path.signature().collapsed())
            .collect();
        join_linked_entries(&mut collapsed);
        let linked = linked_types(&collapsed);
        type Shapes = BTreeMap<RetentionPath, (Vec<ObjectId>, RetentionPath)>;
        let mut by_key: BTreeMap<RetentionPath, (Shapes, BTreeSet<String>)> = BTreeMap::new();
        for ((&object, explained), path) in sample.iter().zip(explained).zip(collapsed) {
            let (shapes, patterns) = by_key.entry(path.structure_key(&linked)).or_default();
            let shape = shapes
                .entry(path.shape())
                .or_insert_with(|| (Vec::new(), path.clone()));
            shape.0.push(object);
            shape.1 = widened(&shape.1, &path);
            if let Root::Runtime {
                name: Some(name), ..
            } = explained.root
            {
                patterns.insert(name_pattern(&name));
            }
        }
        let mut groups: Vec<PathGroup> = by_key
            .into_values()
            .map(|(shapes, patterns)| {
                let objects: Vec<ObjectId> =
                    shapes.values().flat_map(|(o, _)| o).copied().collect();
                // Most common shape; equal counts keep the shapes' order.
                let (example, mut path) = shapes
                    .into_values()
                    .rev()
                    .max_by_key(|(objects, _)| objects.len())
                    .map(|(objects, path)| (objects[0], path))
                    .expect("a group has a path");
                PathGroup {
                    holder: dominators
                        .and_then(|tree| self.group_holder(tree, &objects, example, &path)),
                    example_address: graph.address(example),
                    path: {
                        if let Root::Runtime { what, name } = &mut path.root {
                            *name = runtime_names(graph, what, &patterns);
                        }
                        path
                    },
                    sampled: objects.len() as u64,
                    estimated: 0,
                }
            })
            .collect();
        // Most common first; equal counts keep the signatures' order (stable sort).
        groups.sort_by_key(|g| std::cmp::Reverse(g.sampled));
        scale_to(&mut groups, instances.len() as u64);

        TypePaths {
            type_name: type_name.to_string(),
            instances: instances.len() as u64,
            unreachable: unreachable as u64,
            sampled: sample.len() as u64,
            groups,
        }
    }
}

impl ShortestPaths<'_> {
    /// The holder of a group's sampled `objects`, placed on the group's `path` through the
    /// path of `example`, one of the objects on it. Where no one object holds them, the
    /// holders of its parts held from independent roots ([`DominatorTree::holders`]) stand
    /// as one when they are of one type and none is an instance itself (a list per thread;
    /// not a session per handle, each its own "holder"). They are the holders of the parts
    /// the sampled instances reach.
    fn group_holder(
        &self,
        tree: &DominatorTree,
        objects: &[ObjectId],
        example: ObjectId,
        path: &RetentionPath,
    ) -> Option<GroupHolder> {
        let graph = self.graph();
        let holders = tree.holders(objects);
        let largest = holders.iter().max_by_key(|h| h.retained_bytes)?;
        let holder_type = graph.type_of(largest.object);
        if holders.len() > 1
            && holders
                .iter()
                .any(|h| graph.type_of(h.object) != holder_type || objects.contains(&h.object))
        {
            return None;
        }
        let step = self
            .objects_to(example)
            .iter()
            .position(|&o| holders.iter().any(|h| h.object == o))
            .and_then(|i| {
                let own = self.explain(example).signature();
                let collapsed = own.collapsed();
                collapsed.aligned_step(own.collapsed_index(i), path)
            });
        Some(GroupHolder {
            type_name: graph.type_name(holder_type).to_string(),
            address: graph.address(largest.object),
            retained_bytes: holders.iter().map(|h| h.retained_bytes).sum(),
            retained_objects: holders.iter().map(|h| h.retained_objects).sum(),
            dominates: holders.iter().map(|h| h.dominates as u64).sum(),
            step,
            holders: holders.len() as u64,
        })
    }
}

/// How many name patterns a group's runtime root lists; the rest are counted.
const SHOWN_PATTERNS: usize = 3;

/// A name with each run of digits as `*`: the pattern generated names share
/// (`Contoso.Proxies.Generated17` → `Contoso.Proxies.Generated*`).
fn name_pattern(name: &str) -> String {
    let mut pattern = String::with_capacity(name.len());
    for c in name.chars() {
        if !c.is_ascii_digit() {
            pattern.push(c);
        } else if !pattern.ends_with('*') {
            pattern.push('*');
        }
    }
    pattern
}

/// The names of a runtime-rooted group's roots: each pattern its sampled instances' roots
/// have, with how many the runtime holds as `what` in the whole heap, most first
/// (`Contoso.Proxies.Generated* (412 assemblies)`, `Poller-* (40 threads)`); a pattern of one
/// name held once is that name. `None` when no sampled root had a name.
fn runtime_names(
    graph: &crate::HeapGraph,
    what: &str,
    patterns: &BTreeSet<String>,
) -> Option<String> {
    if patterns.is_empty() {
        return None;
    }
    // An assembly is several objects (its RuntimeAssembly, RuntimeModule, RuntimeTypes) under
    // one name, so assemblies are counted by name; a thread is one object, and many share a
    // name (or, unnamed, the method they run), so threads are counted by root.
    let (noun, by_name) = if what.ends_with("assembly") {
        (" assemblies", true)
    } else if what.ends_with("thread") {
        (" threads", false)
    } else {
        ("", true)
    };
    let mut found: BTreeMap<&str, (BTreeSet<&str>, usize)> = BTreeMap::new();
    for (root, _) in graph.roots() {
        if let Root::Runtime {
            what: w,
            name: Some(name),
        } = root
            && w == what
        {
            let pattern = name_pattern(name);
            if let Some(pattern) = patterns.get(&pattern) {
                let (names, roots) = found.entry(pattern).or_default();
                names.insert(name);
                *roots += 1;
            }
        }
    }
    let mut counted: Vec<(&str, BTreeSet<&str>, usize)> = found
        .into_iter()
        .map(|(pattern, (names, roots))| {
            let count = if by_name { names.len() } else { roots };
            (pattern, names, count)
        })
        .collect();
    counted.sort_by_key(|(_, _, count)| std::cmp::Reverse(*count));
    let shown: Vec<String> = counted
        .iter()
        .take(SHOWN_PATTERNS)
        .map(|(pattern, names, count)| {
            let label = match names.len() {
                1 => names.first().expect("one name"),
                _ => pattern,
            };
            match count {
                1 => label.to_string(),
                n => format!("{label} ({n}{noun})"),
            }
        })
        .collect();
    let mut line = shown.join(", ");
    if counted.len() > SHOWN_PATTERNS {
        line.push_str(&format!(" and {} more", counted.len() - SHOWN_PATTERNS));
    }
    (!line.is_empty()).then_some(line)
}

/// `a` and `b` (collapsed paths of one shape) as one path: each step's repeat range
/// widened to cover both (a loop step's fields joined), and a loop step only one of them
/// takes kept with a range from 0.
/// The root is `b`'s (the same but for a runtime root's names: in a diff, the last
/// snapshot's).
pub(crate) fn widened(a: &RetentionPath, b: &RetentionPath) -> RetentionPath {
    debug_assert_eq!(a.shape(), b.shape());
    let from_zero = |step: &PathStep| PathStep {
        repeats: Some((0, step.repeat_range().1)),
        ..step.clone()
    };
    let (mut i, mut j) = (0, 0);
    let mut steps = Vec::with_capacity(a.steps.len().max(b.steps.len()));
    while i < a.steps.len() || j < b.steps.len() {
        let (a_loop, b_loop) = (a.is_loop(i), b.is_loop(j));
        // Both take the loop here (at most one loop step follows a non-loop one): one step,
        // through either's fields.
        let same = i < a.steps.len() && j < b.steps.len() && a_loop == b_loop;
        if same {
            let ((a0, a1), (b0, b1)) = (a.steps[i].repeat_range(), b.steps[j].repeat_range());
            let range = (a0.min(b0), a1.max(b1));
            let mut step = a.steps[i].clone();
            step.repeats = (range != (1, 1)).then_some(range);
            if a_loop {
                step.field = joined_fields(&step.field, &b.steps[j].field);
            }
            steps.push(step);
            (i, j) = (i + 1, j + 1);
        } else if a_loop || j >= b.steps.len() {
            steps.push(from_zero(&a.steps[i]));
            i += 1;
        } else {
            steps.push(from_zero(&b.steps[j]));
            j += 1;
        }
    }
    RetentionPath {
        root: b.root.clone(),
        steps,
    }
}

/// At most `count` items spread evenly: the middle of each of `count` equal slices.
fn spread(items: &[ObjectId], count: usize) -> Vec<ObjectId> {
    if items.len() <= count {
        return items.to_vec();
    }
    let (len, count) = (items.len() as u128, count as u128);
    (0..count)
        .map(|i| items[((2 * i + 1) * len / (2 * count)) as usize])
        .collect()
}

/// Sets each group's `estimated` to its sampled share of `total`, rounded so that the
/// estimates add up to `total` exactly (largest remainders get the leftover units; ties go
/// to the more common group, which comes first).
fn scale_to(groups: &mut [PathGroup], total: u64) {
    let sampled: u64 = groups.iter().map(|g| g.sampled).sum();
    if sampled == 0 {
        return;
    }
    let mut remainders = Vec::with_capacity(groups.len());
    let mut assigned = 0;
    for (i, group) in groups.iter_mut().enumerate() {
        let exact = group.sampled as u128 * total as u128;
        group.estimated = (exact / sampled as u128) as u64;
        assigned += group.estimated;
        remainders.push((exact % sampled as u128, i));
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take((total - assigned) as usize) {
        groups[i].estimated += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u32) -> Vec<ObjectId> {
        (0..n).map(ObjectId).collect()
    }

    #[test]
    fn a_sample_is_spread_over_the_whole_range() {
        let picked = spread(&ids(1000), 4);
        assert_eq!(
            picked,
            vec![ObjectId(125), ObjectId(375), ObjectId(625), ObjectId(875)]
        );
        assert_eq!(spread(&ids(3), 100).len(), 3);
        assert!(spread(&ids(0), 100).is_empty());
    }

    /// A static array of holders, each holding a queue of `depth` segments linked through
    /// `_nextQueue`, the last one holding one `Timer` per entry of `kept`.
    fn linked_queues(depths: &[(u32, u64)]) -> crate::HeapGraph {
        let mut b = crate::HeapGraphBuilder::new();
        let array = b.add_type("Holder[]", false);
        let holder = b.add_type("Holder", false);
        let queue = b.add_type("WorkStealingQueue", false);
        let timer = b.add_type("Timer", false);
        let (head, next, item) = (
            b.field_name("_head"),
            b.field_name("_nextQueue"),
            b.field_name("_item"),
        );
        let holders = b.add_object(0x1000, array, 1024);
        let mut address = 0x10_0000;
        let mut alloc = || {
            address += 0x100;
            address
        };
        for &(depth, timers) in depths {
            for _ in 0..timers {
                let h = alloc();
                let object = b.add_object(h, holder, 24);
                b.add_reference(holders, h, None);
                let mut previous = (object, head);
                for _ in 0..depth {
                    let q = alloc();
                    let segment = b.add_object(q, queue, 32);
                    b.add_reference(previous.0, q, Some(previous.1));
                    previous = (segment, next);
                }
                let t = alloc();
                b.add_object(t, timer, 48);
                b.add_reference(previous.0, t, Some(item));
            }
        }
        b.add_root(crate::Root::static_field("Pool", "holders"), 0x1000);
        b.build().expect("a well-formed heap")
    }

    #[test]
    fn a_linked_structure_of_varying_depth_is_one_group() {
        let graph = linked_queues(&[(2, 30), (3, 20), (4, 10)]);
        let paths = ShortestPaths::compute(&graph).type_paths("Timer", &PathOptions::default());
        assert_eq!(paths.groups.len(), 1, "{:#?}", paths.groups);
        let group = &paths.groups[0];
        assert_eq!((group.sampled, group.estimated), (60, 60));
        assert_eq!(group.path.steps[3].repeats, Some((1, 3)));
        assert_eq!(
            group.path.to_string(),
            "static Pool.holders → Holder[] → Holder._head → WorkStealingQueue._nextQueue ×1..3 \
             → WorkStealingQueue._item → Timer"
        );

        // The same structure grown deeper and longer: the one group grew, its range widened.
        let before = paths;
        let graph = linked_queues(&[(2, 30), (3, 20), (4, 10), (6, 40)]);
        let after = ShortestPaths::compute(&graph).type_paths("Timer", &PathOptions::default());
        assert_eq!(after.groups.len(), 1);
        let growth = crate::PathGrowth::between(&before, &after);
        assert_eq!(growth.groups.len(), 1);
        assert_eq!((growth.groups[0].first, growth.groups[0].last), (60, 100));
        assert_eq!(growth.groups[0].path.steps[3].repeats, Some((1, 5)));
        assert_eq!(
            growth.to_string(),
            "Timer: +40 of +40 through static Pool.holders → Holder[] → Holder._head \
             → WorkStealingQueue._nextQueue ×1..5 → WorkStealingQueue._item → Timer"
        );
    }

    #[test]
    fn one_depth_shows_its_repeat_count() {
        let graph = linked_queues(&[(3, 5)]);
        let paths = ShortestPaths::compute(&graph).type_paths("Timer", &PathOptions::default());
        assert_eq!(paths.groups.len(), 1);
        assert_eq!(paths.groups[0].path.steps[3].repeats, Some((2, 2)));
        assert!(
            paths.groups[0]
                .path
                .to_string()
                .contains("WorkStealingQueue._nextQueue ×2 → WorkStealingQueue._item")
        );
        // A queue of one segment takes no `_nextQueue` hop: alone, no repeats…
        let graph = linked_queues(&[(1, 5)]);
        let paths = ShortestPaths::compute(&graph).type_paths("Timer", &PathOptions::default());
        assert!(
            paths.groups[0]
                .path
                .steps
                .iter()
                .all(|s| s.repeats.is_none())
        );
        assert_eq!(
            paths.groups[0].path.to_string(),
            "static Pool.holders → Holder[] → Holder._head → WorkStealingQueue._item → Timer"
        );
        // … and with deeper queues, one group whose loop is taken 0 to 2 times.
        let graph = linked_queues(&[(1, 5), (3, 7)]);
        let paths = ShortestPaths::compute(&graph).type_paths("Timer", &PathOptions::default());
        assert_eq!(paths.groups.len(), 1, "{:#?}", paths.groups);
        assert_eq!(paths.groups[0].sampled, 12);
        assert_eq!(
            paths.groups[0].path.to_string(),
            "static Pool.holders → Holder[] → Holder._head → WorkStealingQueue._nextQueue ×0..2 \
             → WorkStealingQueue._item → Timer"
        );
    }

    /// A semaphore's waiter list of `nodes` nodes, each linked to the next and the previous,
    /// the list held from both ends, each node holding one `Reply` through its continuation.
    fn doubly_linked_waiters(nodes: u64) -> crate::HeapGraph {
        let mut b = crate::HeapGraphBuilder::new();
        let semaphore = b.add_type("SemaphoreSlim", false);
        let node = b.add_type("SemaphoreSlim+TaskNode", false);
        let reply = b.add_type("Reply", false);
        let [head, tail, next, prev, continuation] = [
            "m_asyncHead",
            "m_asyncTail",
            "Next",
            "Prev",
            "m_continuationObject",
        ]
        .map(|name| b.field_name(name));
        let gate = b.add_object(0x1000, semaphore, 64);
        let node_at = |i: u64| 0x10_0000 + 0x100 * i;
        b.add_reference(gate, node_at(0), Some(head));
        b.add_reference(gate, node_at(nodes - 1), Some(tail));
        for i in 0..nodes {
            let n = b.add_object(node_at(i), node, 72);
            if i + 1 < nodes {
                b.add_reference(n, node_at(i + 1), Some(next));
            }
            if i > 0 {
                b.add_reference(n, node_at(i - 1), Some(prev));
            }
            b.add_object(node_at(i) + 0x80, reply, 32);
            b.add_reference(n, node_at(i) + 0x80, Some(continuation));
        }
        b.add_root(crate::Root::static_field("Gate", "semaphore"), 0x1000);
        b.build().expect("a well-formed heap")
    }

    #[test]
    fn a_list_held_from_both_ends_is_one_group() {
        let paths = |nodes| {
            let graph = doubly_linked_waiters(nodes);
            ShortestPaths::compute(&graph).type_paths("Reply", &PathOptions { sample: 50 })
        };
        let before = paths(40);
        assert_eq!(before.groups.len(), 1, "{:#?}", before.groups);
        assert_eq!(before.groups[0].estimated, 40);
        assert_eq!(
            before.groups[0].path.to_string(),
            "static Gate.semaphore → SemaphoreSlim.m_asyncHead|m_asyncTail \
             → SemaphoreSlim+TaskNode.Next|Prev ×0..19 \
             → SemaphoreSlim+TaskNode.m_continuationObject → Reply"
        );
        // Longer, and seen from one end only (two nodes, the first from the head): the
        // same group and signature.
        let after = paths(400);
        assert_eq!(after.groups.len(), 1);
        let growth = crate::PathGrowth::between(&paths(1), &after);
        assert_eq!(growth.groups.len(), 1, "{growth}");
        assert_eq!((growth.groups[0].first, growth.groups[0].last), (1, 400));
        assert_eq!(
            growth.groups[0].signature,
            before.groups[0].path.leak_signature()
        );
    }

    /// Callbacks registered on a token: `nodes` nodes, the newest first, each linked to the
    /// next (older) and previous one and back to the list's owner, which holds the newest;
    /// a pending delay holds the oldest through its own registration. Each node holds one
    /// `Flush` through its callback.
    fn registrations(nodes: u64) -> crate::HeapGraph {
        let mut b = crate::HeapGraphBuilder::new();
        let [promise, owner, node, action, flush] = [
            "DelayPromise",
            "CancellationTokenSource+Registrations",
            "CancellationTokenSource+CallbackNode",
            "System.Action",
            "Flush",
        ]
        .map(|name| b.add_type(name, false));
        let [registration, callbacks, back, next, prev, state, target] = [
            "_registration",
            "Callbacks",
            "Registrations",
            "Next",
            "Prev",
            "CallbackState",
            "_target",
        ]
        .map(|name| b.field_name(name));
        let node_at = |i: u64| 0x10_0000 + 0x100 * i;
        let delay = b.add_object(0x1000, promise, 64);
        b.add_reference(delay, node_at(nodes - 1), Some(registration));
        let list = b.add_object(0x2000, owner, 32);
        b.add_reference(list, node_at(0), Some(callbacks));
        for i in 0..nodes {
            let n = b.add_object(node_at(i), node, 72);
            b.add_reference(n, 0x2000, Some(back));
            if i + 1 < nodes {
                b.add_reference(n, node_at(i + 1), Some(next));
            }
            if i > 0 {
                b.add_reference(n, node_at(i - 1), Some(prev));
            }
            let a = b.add_object(node_at(i) + 0x40, action, 64);
            b.add_reference(n, node_at(i) + 0x40, Some(state));
            b.add_object(node_at(i) + 0x80, flush, 32);
            b.add_reference(a, node_at(i) + 0x80, Some(target));
        }
        b.add_root(crate::Root::static_field("Host", "delay"), 0x1000);
        b.build().expect("a well-formed heap")
    }

    #[test]
    fn a_list_walked_inside_either_way_is_one_group() {
        let paths = |nodes| {
            let graph = registrations(nodes);
            ShortestPaths::compute(&graph).type_paths("Flush", &PathOptions { sample: 60 })
        };
        let (before, after) = (paths(30), paths(300));
        // Older nodes through `Prev` from the delay's own, newer ones through the owner back
        // to the newest and `Next`: one group, shown by the more common way.
        assert_eq!(before.groups.len(), 1, "{:#?}", before.groups);
        let key = before.groups[0].path.group_key().to_string();
        assert_eq!(
            key,
            "static Host.delay → DelayPromise._registration \
             → CancellationTokenSource+CallbackNode.CallbackState → System.Action._target → Flush"
        );
        let growth = crate::PathGrowth::between(&before, &after);
        assert_eq!(growth.groups.len(), 1, "{growth}");
        assert_eq!((growth.groups[0].first, growth.groups[0].last), (30, 300));
        assert_eq!(
            growth.groups[0].signature,
            before.groups[0].path.leak_signature()
        );
        assert_eq!(
            growth.groups[0].signature,
            after.groups[0].path.leak_signature()
        );
    }

    /// `generated` dynamic assemblies of a proxy generator and five framework assemblies, each
    /// a `RuntimeAssembly` the runtime's loader holds, and a type of each generated one.
    fn loaded_assemblies(generated: u64) -> crate::HeapGraph {
        let mut b = crate::HeapGraphBuilder::new();
        let assembly = b.add_type("System.Reflection.RuntimeAssembly", false);
        let runtime_type = b.add_type("System.RuntimeType", false);
        for i in 0..generated {
            let name = format!("Contoso.Proxies.Generated{}", i + 1);
            let (a, t) = (0x1000 + 0x100 * i, 0x10_0000 + 0x100 * i);
            b.add_object(a, assembly, 32);
            b.add_object(t, runtime_type, 40);
            let root = Root::runtime("non-collectible dynamic assembly", Some(&name));
            b.add_root(root.clone(), a);
            b.add_root(root, t);
        }
        let framework = [
            "System.Private.CoreLib",
            "LeakyService",
            "System.Linq",
            "System.Net.Http",
            "System.Runtime",
        ];
        for (i, name) in framework.iter().enumerate() {
            let a = 0x90_0000 + 0x100 * i as u64;
            b.add_object(a, assembly, 32);
            b.add_root(Root::runtime("non-collectible assembly", Some(name)), a);
        }
        b.build().expect("a well-formed heap")
    }

    #[test]
    fn assemblies_the_runtime_holds_are_one_group_named_by_pattern() {
        let options = PathOptions { sample: 10 };
        let paths = |generated| {
            let graph = loaded_assemblies(generated);
            ShortestPaths::compute(&graph).type_paths("System.Reflection.RuntimeAssembly", &options)
        };
        let (before, after) = (paths(12), paths(412));
        // One group per kind of root, not one per assembly; the names by pattern, counted
        // over the whole heap although only 10 instances were traced.
        assert_eq!(after.groups.len(), 1, "{:#?}", after.groups);
        assert_eq!(after.sampled, 10);
        assert_eq!(
            after.groups[0].path.to_string(),
            "runtime: non-collectible dynamic assembly Contoso.Proxies.Generated* (412 assemblies) \
             → System.Reflection.RuntimeAssembly"
        );
        // Traced all, the framework's assemblies are a group of their own (the larger, here),
        // a pattern of one name named by it, three shown.
        let graph = loaded_assemblies(3);
        let all = ShortestPaths::compute(&graph)
            .type_paths("System.Reflection.RuntimeAssembly", &PathOptions::default());
        let roots: Vec<String> = all.groups.iter().map(|g| g.path.root.to_string()).collect();
        assert_eq!(
            roots,
            [
                "runtime: non-collectible assembly LeakyService, System.Linq, System.Net.Http and 2 more",
                "runtime: non-collectible dynamic assembly Contoso.Proxies.Generated* (3 assemblies)",
            ]
        );
        // The key that matches groups across snapshots has no names in it.
        let key = after.groups[0].path.group_key();
        assert_eq!(key, before.groups[0].path.group_key());
        assert_eq!(
            key.root,
            Root::runtime("non-collectible dynamic assembly", None)
        );
        // The groups match across snapshots, and the grown one shows the last one's names
        // (its growth is estimated from 10 traced instances of each snapshot).
        let growth = crate::PathGrowth::between(&before, &after);
        assert_eq!(growth.groups.len(), 1);
        assert!((395..=405).contains(&growth.groups[0].growth), "{growth}");
        assert_eq!(
            growth.groups[0].path.root.to_string(),
            "runtime: non-collectible dynamic assembly Contoso.Proxies.Generated* (412 assemblies)"
        );
    }

    /// `pollers` threads started per request and never stopped (every other one named
    /// `Poller-N`, the rest by the method they run), and the service's finalizer thread; each
    /// `Thread` held by a strong handle of the runtime's thread store and, as what it is, by
    /// the runtime.
    fn running_threads(pollers: u64) -> crate::HeapGraph {
        let mut b = crate::HeapGraphBuilder::new();
        let thread = b.add_type("System.Threading.Thread", false);
        for i in 0..=pollers {
            let t = 0x1000 + 0x100 * i;
            b.add_object(t, thread, 72);
            b.add_root(Root::StrongHandle, t);
            let name = match i {
                0 => ".NET Finalizer".to_string(),
                i if i % 2 == 1 => format!("Poller-{i}"),
                _ => "StuckPollers.Poll()".to_string(),
            };
            b.add_root(Root::runtime("running thread", Some(&name)), t);
        }
        b.build().expect("a well-formed heap")
    }

    #[test]
    fn running_threads_read_as_held_by_the_runtime_not_by_its_handle() {
        let graph = running_threads(40);
        let paths = ShortestPaths::compute(&graph)
            .type_paths("System.Threading.Thread", &PathOptions::default());
        assert_eq!(paths.groups.len(), 1, "{:#?}", paths.groups);
        // Counted by thread, not by name: 20 share the method they run.
        assert_eq!(
            paths.groups[0].path.to_string(),
            "runtime: running thread Poller-* (20 threads), StuckPollers.Poll() (20 threads), \
             .NET Finalizer → System.Threading.Thread"
        );
    }

    #[test]
    fn names_read_as_patterns_most_common_first() {
        assert_eq!(
            name_pattern("Contoso.Proxies.Generated17"),
            "Contoso.Proxies.Generated*"
        );
        assert_eq!(name_pattern("A1b22c333"), "A*b*c*");
        assert_eq!(name_pattern("Plain"), "Plain");
    }

    #[test]
    fn estimates_add_up_to_the_total() {
        let group = |sampled| PathGroup {
            path: RetentionPath {
                root: crate::Root::StrongHandle,
                steps: vec![],
            },
            sampled,
            estimated: 0,
            example_address: 0,
            holder: None,
        };
        let mut groups = vec![group(50), group(25), group(25)];
        scale_to(&mut groups, 411);
        let estimates: Vec<u64> = groups.iter().map(|g| g.estimated).collect();
        assert_eq!(estimates.iter().sum::<u64>(), 411);
        assert_eq!(estimates, vec![205, 103, 103]);
    }
}
