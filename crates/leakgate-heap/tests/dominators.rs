//! The dominator tree and retained sizes against a brute-force oracle: `v` dominates `w`
//! when no root reaches `w` once `v` is taken out of the graph.

use leakgate_heap::{
    Dominator, DominatorTree, HeapGraph, HeapGraphBuilder, Holder, ObjectId, Root,
};
use proptest::prelude::*;

/// A graph of objects `0..sizes.len()` (ids in that order), the given edges and roots.
fn heap(sizes: &[u64], edges: &[(usize, usize)], roots: &[usize]) -> (HeapGraph, Vec<ObjectId>) {
    let mut b = HeapGraphBuilder::new();
    let ty = b.add_type("Node", false);
    let address = |i: usize| 0x1000 + 0x10 * i as u64;
    let pending: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| b.add_object(address(i), ty, size))
        .collect();
    for &(from, to) in edges {
        b.add_reference(pending[from], address(to), None);
    }
    for &root in roots {
        b.add_root(Root::StrongHandle, address(root));
    }
    let graph = b.build().expect("a well-formed graph");
    let ids = graph.objects().collect();
    (graph, ids)
}

fn uniform(n: usize, edges: &[(usize, usize)], roots: &[usize]) -> (HeapGraph, Vec<ObjectId>) {
    heap(&vec![8; n], edges, roots)
}

/// What the roots reach when `removed` (if any) is taken out.
fn reached(
    n: usize,
    edges: &[(usize, usize)],
    roots: &[usize],
    removed: Option<usize>,
) -> Vec<bool> {
    let mut seen = vec![false; n];
    let mut stack: Vec<usize> = roots
        .iter()
        .copied()
        .filter(|&r| Some(r) != removed)
        .collect();
    while let Some(v) = stack.pop() {
        if std::mem::replace(&mut seen[v], true) {
            continue;
        }
        stack.extend(
            edges
                .iter()
                .filter(|e| e.0 == v && Some(e.1) != removed)
                .map(|e| e.1),
        );
    }
    seen
}

/// The brute-force answer: `dominated_by[v][w]` (reflexive), and each object's idom.
struct Oracle {
    reachable: Vec<bool>,
    dominated_by: Vec<Vec<bool>>,
}

impl Oracle {
    fn new(n: usize, edges: &[(usize, usize)], roots: &[usize]) -> Oracle {
        let reachable = reached(n, edges, roots, None);
        let dominated_by = (0..n)
            .map(|v| {
                let without = reached(n, edges, roots, Some(v));
                (0..n)
                    .map(|w| reachable[v] && reachable[w] && (v == w || !without[w]))
                    .collect()
            })
            .collect();
        Oracle {
            reachable,
            dominated_by,
        }
    }

    /// The objects dominating `w`, itself included.
    fn dominators(&self, w: usize) -> Vec<usize> {
        (0..self.reachable.len())
            .filter(|&v| self.dominated_by[v][w])
            .collect()
    }

    /// The deepest of several dominators: the one with the most dominators of its own.
    fn deepest(&self, candidates: impl Iterator<Item = usize>) -> Option<usize> {
        candidates.max_by_key(|&d| self.dominators(d).len())
    }

    fn idom(&self, w: usize) -> Option<Option<usize>> {
        self.reachable[w].then(|| self.deepest(self.dominators(w).into_iter().filter(|&d| d != w)))
    }

    fn retained(&self, v: usize, sizes: &[u64]) -> (u64, u64) {
        let dominated = (0..sizes.len()).filter(|&w| self.dominated_by[v][w]);
        (
            dominated.clone().map(|w| sizes[w]).sum(),
            dominated.count() as u64,
        )
    }

    fn common(&self, objects: &[usize]) -> Option<usize> {
        let objects: Vec<usize> = objects
            .iter()
            .copied()
            .filter(|&o| self.reachable[o])
            .collect();
        if objects.is_empty() {
            return None;
        }
        let all =
            (0..self.reachable.len()).filter(|&d| objects.iter().all(|&o| self.dominated_by[d][o]));
        self.deepest(all)
    }
}

/// Checks every query of the tree against the oracle.
fn check(sizes: &[u64], edges: &[(usize, usize)], roots: &[usize]) -> Result<(), TestCaseError> {
    let n = sizes.len();
    let (graph, ids) = heap(sizes, edges, roots);
    let tree = DominatorTree::compute(&graph);
    let oracle = Oracle::new(n, edges, roots);
    let index = |o: ObjectId| ids.iter().position(|&i| i == o).unwrap();
    prop_assert_eq!(
        tree.reachable_count(),
        oracle.reachable.iter().filter(|&&r| r).count()
    );
    for w in 0..n {
        let expected = oracle
            .idom(w)
            .map(|d| d.map_or(Dominator::VirtualRoot, |d| Dominator::Object(ids[d])));
        prop_assert_eq!(tree.idom(ids[w]), expected, "idom of {}", w);
        let (bytes, objects) = if oracle.reachable[w] {
            oracle.retained(w, sizes)
        } else {
            (0, 0)
        };
        prop_assert_eq!(tree.retained_size(ids[w]), bytes, "retained size of {}", w);
        prop_assert_eq!(
            tree.retained_objects(ids[w]),
            objects,
            "retained objects of {}",
            w
        );
        let mut expected_ancestors = oracle.dominators(w);
        expected_ancestors.retain(|&d| d != w);
        expected_ancestors.sort_by_key(|&d| std::cmp::Reverse(oracle.dominators(d).len()));
        let ancestors: Vec<usize> = tree.ancestors(ids[w]).map(index).collect();
        prop_assert_eq!(ancestors, expected_ancestors, "ancestors of {}", w);
        for v in 0..n {
            prop_assert_eq!(tree.dominates(ids[v], ids[w]), oracle.dominated_by[v][w]);
        }
    }
    Ok(())
}

#[track_caller]
fn assert_matches_oracle(n: usize, edges: &[(usize, usize)], roots: &[usize]) {
    let sizes: Vec<u64> = (0..n as u64).map(|i| 8 + i * 3).collect();
    if let Err(e) = check(&sizes, edges, roots) {
        panic!("{e}");
    }
}

#[test]
fn a_diamond_is_dominated_by_its_top() {
    // 0 → 1, 0 → 2, 1 → 3, 2 → 3, 3 → 4
    let edges = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)];
    assert_matches_oracle(5, &edges, &[0]);
    let (graph, ids) = uniform(5, &edges, &[0]);
    let tree = DominatorTree::compute(&graph);
    assert_eq!(tree.idom(ids[3]), Some(Dominator::Object(ids[0])));
    assert_eq!(tree.idom(ids[4]), Some(Dominator::Object(ids[3])));
    assert_eq!(tree.idom(ids[0]), Some(Dominator::VirtualRoot));
    assert_eq!(tree.retained_size(ids[1]), 8);
    assert_eq!(tree.retained_size(ids[0]), 40);
    // Nested diamonds, and a diamond whose sides are chains of different lengths.
    assert_matches_oracle(
        8,
        &[
            (0, 1),
            (0, 2),
            (1, 3),
            (2, 3),
            (3, 4),
            (3, 5),
            (4, 6),
            (5, 6),
            (6, 7),
        ],
        &[0],
    );
    assert_matches_oracle(6, &[(0, 1), (1, 2), (2, 3), (0, 4), (4, 3), (3, 5)], &[0]);
}

#[test]
fn cycles_and_self_loops() {
    // A cycle through the root's object: 0 → 1 → 2 → 0, with 2 → 2 and 1 → 1.
    assert_matches_oracle(3, &[(0, 1), (1, 2), (2, 0), (2, 2), (1, 1)], &[0]);
    // A cycle entered from two places, and a back edge into the middle of a chain.
    assert_matches_oracle(
        6,
        &[(0, 1), (0, 2), (1, 3), (3, 4), (4, 1), (2, 4), (4, 5)],
        &[0],
    );
    assert_matches_oracle(
        6,
        &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 2), (4, 5), (5, 1)],
        &[0],
    );
    // The irreducible loop: two entries into one cycle.
    assert_matches_oracle(4, &[(0, 1), (0, 2), (1, 2), (2, 1), (2, 3)], &[0]);
    // Lengauer and Tarjan's own example (R A B C D E F G H I J K L), whose cross and back
    // edges need every step of the algorithm.
    #[rustfmt::skip]
    let edges = [
        (0, 1), (0, 2), (0, 3), (1, 4), (2, 1), (2, 4), (2, 5), (3, 6), (3, 7), (4, 12), (5, 8),
        (6, 9), (7, 9), (7, 10), (8, 5), (8, 11), (9, 11), (10, 9), (11, 9), (11, 0), (12, 8),
    ];
    assert_matches_oracle(13, &edges, &[0]);
    // Only a self-loop.
    assert_matches_oracle(1, &[(0, 0)], &[0]);
}

#[test]
fn unreachable_objects_have_no_dominator_and_retain_nothing() {
    // 3 → 1 is garbage referencing a live object; 3 and 4 form an unreachable cycle.
    let edges = [(0, 1), (1, 2), (3, 1), (3, 4), (4, 3)];
    assert_matches_oracle(5, &edges, &[0]);
    let (graph, ids) = uniform(5, &edges, &[0]);
    let tree = DominatorTree::compute(&graph);
    assert_eq!(tree.idom(ids[1]), Some(Dominator::Object(ids[0])));
    assert_eq!(tree.idom(ids[3]), None);
    assert_eq!(tree.retained_size(ids[3]), 0);
    assert_eq!(tree.retained_size(ids[0]), 24);
    assert!(!tree.is_reachable(ids[4]));
    assert_eq!(tree.ancestors(ids[4]).count(), 0);
    // A heap with no roots at all.
    assert_matches_oracle(3, &[(0, 1), (1, 2)], &[]);
    assert_matches_oracle(0, &[], &[]);
}

#[test]
fn several_roots_to_one_object() {
    // Two roots hold 1, and 2 is held from both 0 and 1: the virtual root dominates it.
    let edges = [(0, 2), (1, 2), (2, 3)];
    assert_matches_oracle(4, &edges, &[1, 1, 0]);
    let (graph, ids) = uniform(4, &edges, &[1, 1, 0]);
    let tree = DominatorTree::compute(&graph);
    assert_eq!(tree.idom(ids[2]), Some(Dominator::VirtualRoot));
    assert_eq!(tree.idom(ids[3]), Some(Dominator::Object(ids[2])));
    assert_eq!(tree.common_dominator(&[ids[3], ids[2]]), Some(ids[2]));
    assert_eq!(tree.common_dominator(&[ids[0], ids[1]]), None);
    // A rooted object that is also reached through another root's object.
    assert_matches_oracle(4, &[(0, 1), (1, 2), (2, 3)], &[0, 2]);
}

#[test]
fn a_chain_of_100000_needs_no_stack_and_sums_exactly() {
    let n = 100_000;
    let sizes: Vec<u64> = (0..n as u64).map(|i| 16 + i % 7).collect();
    let mut edges: Vec<(usize, usize)> = (1..n).map(|i| (i - 1, i)).collect();
    edges.push((n - 1, 0)); // and back to the start: a cycle through the root's object
    let (graph, ids) = heap(&sizes, &edges, &[0]);
    let tree = DominatorTree::compute(&graph);
    let mut below = 0;
    for i in (0..n).rev() {
        below += sizes[i];
        assert_eq!(tree.retained_size(ids[i]), below);
        assert_eq!(tree.retained_objects(ids[i]), (n - i) as u64);
    }
    assert_eq!(tree.idom(ids[n - 1]), Some(Dominator::Object(ids[n - 2])));
    assert_eq!(tree.ancestors(ids[n - 1]).count(), n - 1);
    assert_eq!(
        tree.common_dominator(&[ids[n - 1], ids[n / 2]]),
        Some(ids[n / 2])
    );

    // Held from the middle too: the first object no longer dominates the second half.
    let (graph, ids) = uniform(n, &edges, &[0, n / 2]);
    let tree = DominatorTree::compute(&graph);
    assert_eq!(tree.idom(ids[n / 2]), Some(Dominator::VirtualRoot));
    assert_eq!(tree.idom(ids[0]), Some(Dominator::VirtualRoot));
    assert_eq!(tree.retained_size(ids[0]), 8 * (n / 2) as u64);
    assert_eq!(tree.retained_size(ids[n / 2]), 8 * (n - n / 2) as u64);
}

#[test]
fn a_long_chain_whose_objects_are_also_held_from_above() {
    // 0 → chain 1 → 2 → … → n, each chain node → its value, and 0 → an index → every value.
    // The search numbers the values below their chain nodes, so each value's DFS parent is
    // deep while its dominator is 0: a plain walk up the dominator tree from the parent would
    // take n²/2 steps.
    let n = 100_000;
    let (chain, value, index) = (|i: usize| 1 + i, |i: usize| 1 + n + i, 1 + 2 * n);
    let mut edges: Vec<(usize, usize)> = vec![(0, chain(0)), (0, index)];
    for i in 0..n {
        if i + 1 < n {
            edges.push((chain(i), chain(i + 1)));
        }
        edges.push((chain(i), value(i)));
        edges.push((index, value(i)));
    }
    let (graph, ids) = uniform(2 + 2 * n, &edges, &[0]);
    let tree = DominatorTree::compute(&graph);
    for i in 0..n {
        assert_eq!(tree.idom(ids[value(i)]), Some(Dominator::Object(ids[0])));
        assert_eq!(tree.retained_size(ids[chain(i)]), 8 * (n - i) as u64);
    }
    assert_eq!(
        tree.idom(ids[chain(n - 1)]),
        Some(Dominator::Object(ids[chain(n - 2)]))
    );
    assert_eq!(tree.retained_objects(ids[0]), (2 + 2 * n) as u64);
}

/// Immediate dominators by the iterative algorithm of Cooper, Harvey and Kennedy (2001), an
/// independent check for graphs too large for the brute-force oracle: `None` when
/// unreachable, `Some(None)` when only the virtual root dominates.
fn iterative_idoms(
    n: usize,
    edges: &[(usize, usize)],
    roots: &[usize],
) -> Vec<Option<Option<usize>>> {
    let top = n; // the virtual root
    let mut successors = vec![Vec::new(); n + 1];
    let mut predecessors = vec![Vec::new(); n + 1];
    let from_top = roots.iter().map(|&r| (top, r));
    for (from, to) in edges.iter().copied().chain(from_top) {
        successors[from].push(to);
        predecessors[to].push(from);
    }
    // Postorder by an explicit stack of (vertex, next successor).
    let mut postorder = vec![usize::MAX; n + 1];
    let mut order = Vec::new();
    let mut seen = vec![false; n + 1];
    let mut stack = vec![(top, 0)];
    seen[top] = true;
    while let Some(&mut (v, ref mut next)) = stack.last_mut() {
        if let Some(&w) = successors[v].get(*next) {
            *next += 1;
            if !std::mem::replace(&mut seen[w], true) {
                stack.push((w, 0));
            }
        } else {
            postorder[v] = order.len();
            order.push(v);
            stack.pop();
        }
    }
    let mut idom = vec![usize::MAX; n + 1];
    idom[top] = top;
    let mut changed = true;
    while changed {
        changed = false;
        for &v in order.iter().rev().filter(|&&v| v != top) {
            let mut new = usize::MAX;
            for &p in predecessors[v].iter().filter(|&&p| idom[p] != usize::MAX) {
                new = if new == usize::MAX {
                    p
                } else {
                    let (mut a, mut b) = (p, new);
                    while a != b {
                        while postorder[a] < postorder[b] {
                            a = idom[a];
                        }
                        while postorder[b] < postorder[a] {
                            b = idom[b];
                        }
                    }
                    a
                };
            }
            if idom[v] != new {
                idom[v] = new;
                changed = true;
            }
        }
    }
    (0..n)
        .map(|v| (idom[v] != usize::MAX).then(|| (idom[v] != top).then_some(idom[v])))
        .collect()
}

#[test]
fn a_large_heap_matches_the_iterative_algorithm() {
    // 200,000 objects over many sort buckets: lists of up to 3,000 nodes (some closed into
    // cycles, some with back references), references to nearby objects and anywhere, a few
    // roots, some garbage.
    let n = 200_000;
    let mut state = 0x5eed_u64;
    let mut below = |bound: usize| {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % bound as u64) as usize
    };
    let mut edges = Vec::new();
    let mut start = 0;
    while start < n {
        let length = (1 + below(3000)).min(n - start);
        for i in start..start + length {
            if i + 1 < start + length {
                edges.push((i, i + 1));
            }
            match below(10) {
                0 => edges.push((i, below(n))),
                1 | 2 => edges.push((i, i.saturating_sub(below(50)))),
                3 => edges.push((i + below(n - i), i)),
                _ => {}
            }
        }
        if below(4) == 0 {
            edges.push((start + length - 1, start));
        }
        start += length;
    }
    let roots: Vec<usize> = (0..40).map(|_| below(n)).collect();
    let sizes: Vec<u64> = (0..n as u64).map(|i| 16 + i % 13).collect();
    let (graph, ids) = heap(&sizes, &edges, &roots);
    let tree = DominatorTree::compute(&graph);
    let expected = iterative_idoms(n, &edges, &roots);
    let mut retained = vec![0u64; n];
    for (w, &idom) in expected.iter().enumerate() {
        let as_tree = idom.map(|d| d.map_or(Dominator::VirtualRoot, |d| Dominator::Object(ids[d])));
        assert_eq!(tree.idom(ids[w]), as_tree, "idom of {w}");
        if idom.is_some() {
            // Added to every dominator: the retained sizes from the iterative tree.
            let mut d = Some(w);
            while let Some(v) = d {
                retained[v] += sizes[w];
                d = expected[v].unwrap();
            }
        }
    }
    for w in 0..n {
        assert_eq!(
            tree.retained_size(ids[w]),
            retained[w],
            "retained size of {w}"
        );
    }
}

#[test]
fn common_dominator_of_instances() {
    // 0 → 1 → {2, 3}, 3 → 4; 5 is garbage.
    let (graph, ids) = uniform(6, &[(0, 1), (1, 2), (1, 3), (3, 4)], &[0]);
    let tree = DominatorTree::compute(&graph);
    assert_eq!(tree.common_dominator(&[ids[2], ids[4]]), Some(ids[1]));
    assert_eq!(tree.common_dominator(&[ids[4]]), Some(ids[4]));
    assert_eq!(tree.common_dominator(&[ids[4], ids[3]]), Some(ids[3]));
    assert_eq!(tree.common_dominator(&[ids[4], ids[5]]), Some(ids[4]));
    assert_eq!(tree.common_dominator(&[ids[5]]), None);
    assert_eq!(tree.common_dominator(&[]), None);
}

/// A static `List<Entry>` (32 bytes) over its `Entry[]` over `count` entries of 24 bytes;
/// with `shared`, a second, independent root holds every entry too.
fn list_of_entries(count: usize, shared: bool) -> (HeapGraph, Vec<ObjectId>) {
    let mut sizes = vec![32, 16 + 8 * count as u64];
    sizes.extend(std::iter::repeat_n(24, count));
    let mut edges = vec![(0, 1)];
    edges.extend((0..count).map(|i| (1, 2 + i)));
    let mut roots = vec![0];
    if shared {
        sizes.push(16 + 8 * count as u64);
        let other = sizes.len() - 1;
        edges.extend((0..count).map(|i| (other, 2 + i)));
        roots.push(other);
    }
    heap(&sizes, &edges, &roots)
}

#[test]
fn the_holder_of_a_list_s_entries_is_the_list() {
    let (graph, ids) = list_of_entries(1000, false);
    let tree = DominatorTree::compute(&graph);
    let entries = &ids[2..];
    assert_eq!(tree.common_dominator(entries), Some(ids[1]));
    assert_eq!(
        tree.holder(&entries[..100]),
        Some(Holder {
            object: ids[0],
            retained_bytes: 32 + 8016 + 24 * 1000,
            retained_objects: 1002,
            dominates: 100,
        })
    );
}

#[test]
fn the_holder_stops_below_an_object_that_retains_much_else() {
    // A service (0) holds the list (1) and a 1 MiB buffer (2); the list holds 10 entries
    // through its array (3).
    let mut sizes = vec![64, 32, 1 << 20, 16 + 80];
    sizes.extend([24; 10]);
    let mut edges = vec![(0, 1), (0, 2), (1, 3)];
    edges.extend((4..14).map(|i| (3, i)));
    let (graph, ids) = heap(&sizes, &edges, &[0]);
    let tree = DominatorTree::compute(&graph);
    let holder = tree.holder(&ids[4..]).unwrap();
    assert_eq!(holder.object, ids[1]);
    assert_eq!(holder.retained_bytes, 32 + 96 + 240);
    // Garbage among the instances (4: no root reaches it) is left out.
    let (graph, ids) = heap(&[32, 32, 24, 24, 24], &[(0, 1), (1, 2), (1, 3)], &[0]);
    let tree = DominatorTree::compute(&graph);
    let holder = tree.holder(&ids[2..]).unwrap();
    assert_eq!((holder.object, holder.dominates), (ids[0], 2));
}

#[test]
fn entries_held_from_two_independent_roots_have_no_holder() {
    let (graph, ids) = list_of_entries(50, true);
    let tree = DominatorTree::compute(&graph);
    assert_eq!(tree.common_dominator(&ids[2..52]), None);
    assert_eq!(tree.holder(&ids[2..52]), None);
    // Each entry alone is its own holder: nothing above it dominates it.
    let one = tree.holder(&ids[2..3]).unwrap();
    assert_eq!((one.object, one.retained_bytes), (ids[2], 24));
}

#[test]
fn ids_of_another_graph_read_as_unreachable_not_a_panic() {
    let (small, _) = uniform(1, &[], &[0]);
    let (_, big_ids) = uniform(5, &[], &[0]);
    let tree = DominatorTree::compute(&small);
    assert_eq!(tree.idom(big_ids[4]), None);
    assert_eq!(tree.retained_size(big_ids[4]), 0);
    assert_eq!(tree.holder(&big_ids[3..]), None);
}

/// A random graph: up to 60 objects, edges between any two (self-loops and duplicates
/// included), up to 4 roots (possibly the same object twice).
fn random_graph() -> impl Strategy<Value = (Vec<u64>, Vec<(usize, usize)>, Vec<usize>)> {
    (1usize..=60).prop_flat_map(|n| {
        (
            proptest::collection::vec(0u64..1000, n),
            proptest::collection::vec((0..n, 0..n), 0..=3 * n),
            proptest::collection::vec(0..n, 0..=4),
        )
    })
}

/// A deep graph: a chain through up to 150 objects (so deep dominator trees, long
/// compressed paths and many jump pointers), a few more references anywhere, 1 to 3 roots.
fn deep_graph() -> impl Strategy<Value = (Vec<u64>, Vec<(usize, usize)>, Vec<usize>)> {
    (2usize..=150).prop_flat_map(|n| {
        (
            proptest::collection::vec(0u64..1000, n),
            proptest::collection::vec((0..n, 0..n), 0..=n / 4),
            proptest::collection::vec(0..n, 1..=3),
        )
            .prop_map(move |(sizes, mut edges, roots)| {
                edges.extend((1..n).map(|i| (i - 1, i)));
                (sizes, edges, roots)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn deep_graphs_match_the_oracle((sizes, edges, roots) in deep_graph()) {
        check(&sizes, &edges, &roots)?;
    }

    #[test]
    fn random_graphs_match_the_oracle((sizes, edges, roots) in random_graph()) {
        check(&sizes, &edges, &roots)?;
    }

    #[test]
    fn common_dominators_match_the_oracle(
        (sizes, edges, roots) in random_graph(),
        picks in proptest::collection::vec(0usize..60, 1..6),
    ) {
        let n = sizes.len();
        let picks: Vec<usize> = picks.into_iter().map(|p| p % n).collect();
        let (graph, ids) = heap(&sizes, &edges, &roots);
        let tree = DominatorTree::compute(&graph);
        let oracle = Oracle::new(n, &edges, &roots);
        let objects: Vec<ObjectId> = picks.iter().map(|&p| ids[p]).collect();
        prop_assert_eq!(tree.common_dominator(&objects), oracle.common(&picks).map(|d| ids[d]));
    }
}
