//! Shortest retention paths and their groups on synthetic heaps.

mod support;

use leakgate_heap::{PathGrowth, Root, ShortestPaths};
use support::{TestHeap, group_lines, path_line, type_paths};

#[test]
fn a_static_list_holds_its_entries_through_named_fields() {
    let mut heap = TestHeap::new();
    let list = heap.object("List<Entry>");
    let array = heap.object("Entry[]");
    let entry = heap.object("Entry");
    heap.root(Root::static_field("Registry", "Entries"), list);
    heap.field(list, "_items", array);
    heap.element(array, entry);
    let graph = heap.build();
    assert_eq!(
        path_line(&graph, entry.address).unwrap(),
        "static Registry.Entries → List<Entry>._items → Entry[] → Entry"
    );
    // The object a root holds is a path of one step.
    assert_eq!(
        path_line(&graph, list.address).unwrap(),
        "static Registry.Entries → List<Entry>"
    );
}

#[test]
fn a_cycle_is_entered_once_and_the_search_ends() {
    // handle → A → B → C → A: C's path goes round no further than it must.
    let mut heap = TestHeap::new();
    let a = heap.object("A");
    let b = heap.object("B");
    let c = heap.object("C");
    heap.field(a, "next", b);
    heap.field(b, "next", c);
    heap.field(c, "next", a);
    heap.field(c, "self", c);
    heap.root(Root::StrongHandle, a);
    let graph = heap.build();
    assert_eq!(
        path_line(&graph, c.address).unwrap(),
        "strong handle → A.next → B.next → C"
    );
    assert_eq!(path_line(&graph, a.address).unwrap(), "strong handle → A");
}

#[test]
fn instances_behind_a_shared_sub_path_form_one_group_per_root() {
    // Two caches share the same inner structure; 3 entries in one, 1 in the other.
    let mut heap = TestHeap::new();
    for (field, entries) in [("primary", 3), ("secondary", 1)] {
        let dictionary = heap.object("Dictionary<Int32, Session>");
        let buckets = heap.object("Entry<Int32, Session>[]");
        heap.root(Root::static_field("SessionCache", field), dictionary);
        heap.field(dictionary, "_entries", buckets);
        for session in heap.objects("Session", entries) {
            heap.field(buckets, "value", session);
        }
    }
    let graph = heap.build();
    let paths = type_paths(&graph, "Session", 100);
    assert_eq!(
        group_lines(&paths),
        vec![
            "3 × static SessionCache.primary → Dictionary<Int32, Session>._entries \
             → Entry<Int32, Session>[].value → Session",
            "1 × static SessionCache.secondary → Dictionary<Int32, Session>._entries \
             → Entry<Int32, Session>[].value → Session",
        ]
    );
    assert_eq!(paths.groups[0].sampled, 3);
}

#[test]
fn of_several_roots_the_nearest_one_wins() {
    // A static reaches the session through two holders; a stack local holds it directly.
    let mut heap = TestHeap::new();
    let registry = heap.object("Registry");
    let holder = heap.object("Holder");
    let session = heap.object("Session");
    heap.root(Root::static_field("App", "registry"), registry);
    heap.field(registry, "holder", holder);
    heap.field(holder, "session", session);
    heap.root(Root::stack(Some(7), Some("Worker.Run()")), session);
    let graph = heap.build();
    assert_eq!(
        path_line(&graph, session.address).unwrap(),
        "stack: Worker.Run() (thread 0x7) → Session"
    );
}

#[test]
fn at_equal_distance_a_static_field_beats_a_handle_and_a_stack_whatever_the_order_given() {
    for reversed in [false, true] {
        let mut heap = TestHeap::new();
        let session = heap.object("Session");
        let mut roots = vec![
            Root::stack(Some(1), Some("Worker.Run()")),
            Root::FinalizerQueue,
            Root::StrongHandle,
            Root::static_field("Zeta", "sessions"),
            Root::static_field("Alpha", "sessions"),
        ];
        if reversed {
            roots.reverse();
        }
        for root in roots {
            heap.root(root, session);
        }
        let graph = heap.build();
        assert_eq!(
            path_line(&graph, session.address).unwrap(),
            "static Alpha.sessions → Session",
            "reversed: {reversed}"
        );
    }
}

#[test]
fn at_equal_distance_the_first_reference_of_the_nearest_holder_wins() {
    // Two holders at the same depth both reference the entry; the one the search reaches
    // first (the root's first field) is on the path.
    let mut heap = TestHeap::new();
    let app = heap.object("App");
    let first = heap.object("First");
    let second = heap.object("Second");
    let entry = heap.object("Entry");
    heap.root(Root::StrongHandle, app);
    heap.field(app, "a", first);
    heap.field(app, "b", second);
    heap.field(second, "entry", entry);
    heap.field(first, "entry", entry);
    let graph = heap.build();
    assert_eq!(
        path_line(&graph, entry.address).unwrap(),
        "strong handle → App.a → First.entry → Entry"
    );
}

#[test]
fn unreachable_objects_have_no_path_and_are_counted_apart() {
    let mut heap = TestHeap::new();
    let list = heap.object("Entry[]");
    let kept = heap.objects("Entry", 2);
    let garbage = heap.objects("Entry", 3);
    heap.root(Root::PinnedHandle, list);
    for &entry in &kept {
        heap.element(list, entry);
    }
    // Garbage may still reference live objects: that does not make it reachable.
    heap.field(garbage[0], "next", kept[0]);
    let graph = heap.build();
    assert_eq!(path_line(&graph, garbage[0].address), None);
    let paths = type_paths(&graph, "Entry", 100);
    assert_eq!(
        (paths.instances, paths.unreachable, paths.sampled),
        (5, 3, 5)
    );
    assert_eq!(
        group_lines(&paths),
        vec![
            "3 × no root found → Entry",
            "2 × pinned handle → Entry[] → Entry"
        ]
    );
}

#[test]
fn a_leak_whose_root_is_missing_still_shows_its_holders() {
    // A list held by a handle the source did not report (a withheap core can lack handle
    // memory): the chain starts at the list, the outermost object nothing else holds.
    let mut heap = TestHeap::new();
    let list = heap.object("List<Session>");
    let array = heap.object("Session[]");
    heap.field(list, "_items", array);
    for session in heap.objects("Session", 4) {
        heap.element(array, session);
    }
    // An unrooted cycle has no outermost holder: it starts at its lowest address.
    let a = heap.object("Ring");
    let b = heap.object("Ring");
    heap.field(a, "next", b);
    heap.field(b, "next", a);
    let graph = heap.build();
    let paths = type_paths(&graph, "Session", 100);
    assert_eq!(paths.unreachable, 4);
    assert_eq!(
        group_lines(&paths),
        vec!["4 × no root found → List<Session>._items → Session[] → Session"]
    );
    let search = ShortestPaths::compute(&graph);
    let second = graph.find(b.address).unwrap();
    assert_eq!(
        search.orphan_path_to(second).unwrap().to_string(),
        "no root found → Ring.next → Ring"
    );
    assert_eq!(search.reachable_count(), 0);
}

#[test]
fn a_chain_of_100_000_objects_is_searched_without_recursion() {
    let mut heap = TestHeap::new();
    let nodes = heap.objects("Node", 100_000);
    for pair in nodes.windows(2) {
        heap.field(pair[0], "next", pair[1]);
    }
    heap.root(Root::static_field("List", "head"), nodes[0]);
    let graph = heap.build();
    let paths = ShortestPaths::compute(&graph);
    let last = graph.find(nodes[99_999].address).unwrap();
    let path = paths.path_to(last).unwrap();
    assert_eq!(path.steps.len(), 100_000);
    assert_eq!(path.steps[1].field.as_deref(), Some("next"));
    assert_eq!(
        path.abbreviated(3),
        "static List.head → Node.next → Node.next → … → Node"
    );
    assert_eq!(paths.reachable_count(), 100_000);
}

#[test]
fn a_type_without_instances_has_no_groups_and_one_without_roots_no_path() {
    let mut heap = TestHeap::new();
    heap.objects("Orphan", 4);
    let graph = heap.build();
    let none = type_paths(&graph, "NeverCreated", 100);
    assert_eq!((none.instances, none.sampled), (0, 0));
    assert!(none.groups.is_empty());
    let orphans = type_paths(&graph, "Orphan", 100);
    assert_eq!((orphans.instances, orphans.unreachable), (4, 4));
    let search = ShortestPaths::compute(&graph);
    assert!(graph.objects().all(|o| search.path_to(o).is_none()));
    // No path from a root; each is its own outermost holder.
    assert_eq!(group_lines(&orphans), vec!["4 × no root found → Orphan"]);
}

#[test]
fn the_sample_is_spread_over_the_heap_not_the_first_instances() {
    // 900 entries low in the heap held by one static, 100 high up held by another: a sample
    // of 10 taken from the start would see only the first.
    let mut heap = TestHeap::new();
    let low = heap.object("Entry[]");
    let high = heap.object("Entry[]");
    heap.root(Root::static_field("Old", "entries"), low);
    heap.root(Root::static_field("New", "entries"), high);
    for (holder, count) in [(low, 900), (high, 100)] {
        for entry in heap.objects("Entry", count) {
            heap.element(holder, entry);
        }
    }
    let graph = heap.build();
    let paths = type_paths(&graph, "Entry", 10);
    assert_eq!(paths.sampled, 10);
    assert_eq!(
        group_lines(&paths),
        vec![
            "900 × static Old.entries → Entry[] → Entry",
            "100 × static New.entries → Entry[] → Entry",
        ]
    );
}

#[test]
fn locals_of_one_method_on_different_threads_are_one_group() {
    let mut heap = TestHeap::new();
    for thread in [11, 12, 13] {
        let request = heap.object("Request");
        heap.root(Root::stack(Some(thread), Some("Server.Handle()")), request);
    }
    let graph = heap.build();
    let paths = type_paths(&graph, "Request", 100);
    assert_eq!(
        group_lines(&paths),
        vec!["3 × stack: Server.Handle() → Request"]
    );
}

#[test]
fn the_same_heap_given_in_another_order_gives_the_same_result() {
    let build = |reverse: bool| {
        let mut heap = TestHeap::new();
        let mut addresses: Vec<u64> = (0..60).map(|i| 0x1000 + 0x20 * i).collect();
        if reverse {
            addresses.reverse();
        }
        let objects: Vec<_> = addresses
            .iter()
            .map(|&a| {
                let name = if a < 0x1000 + 0x20 * 3 {
                    "Holder"
                } else {
                    "Item"
                };
                (a, heap.object_at(a, name))
            })
            .collect();
        let find = |a: u64| objects.iter().find(|(x, _)| *x == a).unwrap().1;
        for i in 3..60u64 {
            let holder = find(0x1000 + 0x20 * (i % 3));
            heap.field(
                holder,
                ["x", "y", "z"][(i % 3) as usize],
                find(0x1000 + 0x20 * i),
            );
        }
        let mut roots = vec![
            (Root::static_field("S", "x"), find(0x1000)),
            (Root::StrongHandle, find(0x1020)),
            (Root::stack(Some(3), Some("M()")), find(0x1040)),
        ];
        if reverse {
            roots.reverse();
        }
        for (root, target) in roots {
            heap.root(root, target);
        }
        serde_json::to_string(&type_paths(&heap.build(), "Item", 7)).unwrap()
    };
    assert_eq!(build(false), build(true));
}

#[test]
fn the_diff_names_the_group_that_grew_with_its_magnitude() {
    // First snapshot: 20 kept delegates, 30 cached ones. Last: 431 kept, 31 cached.
    let snapshot = |kept: usize, cached: usize| {
        let mut heap = TestHeap::new();
        let kept_list = heap.object("Func<Int32, Int32>[]");
        let cache = heap.object("Func<Int32, Int32>[]");
        heap.root(Root::static_field("Program", "keptDelegates"), kept_list);
        heap.root(Root::StrongHandle, cache);
        // Interleaved, so that address order mixes the two groups as a real heap would.
        for i in 0..kept.max(cached) {
            if i < kept {
                let d = heap.object("Func<Int32, Int32>");
                heap.element(kept_list, d);
            }
            if i < cached {
                let d = heap.object("Func<Int32, Int32>");
                heap.element(cache, d);
            }
        }
        type_paths(&heap.build(), "Func<Int32, Int32>", 100)
    };
    let growth = PathGrowth::between(&snapshot(20, 30), &snapshot(431, 31));
    assert_eq!(growth.growth, 412);
    let top = growth.top().unwrap();
    assert_eq!(
        top.path.to_string(),
        "static Program.keptDelegates → Func<Int32, Int32>[] → Func<Int32, Int32>"
    );
    // The last snapshot is sampled (100 of 462): its estimate is good to a few instances.
    assert!((400..=420).contains(&top.growth), "{top}");
    assert_eq!(top.first, 20);
    // Estimated, so marked `~`, and never more than the type's growth.
    let first_line = growth.to_string().lines().next().unwrap().to_string();
    assert!(
        first_line.starts_with(&format!(
            "Func<Int32, Int32>: ~+{} of +412 through static Program.keptDelegates",
            top.growth.min(412)
        )),
        "{first_line}"
    );
    // The cache barely moved: if it shows at all, far behind.
    assert!(
        growth.groups.iter().skip(1).all(|g| g.growth < 20),
        "{growth}"
    );
}

#[test]
fn a_type_that_did_not_grow_says_so() {
    let snapshot = || {
        let mut heap = TestHeap::new();
        let e = heap.object("Entry");
        heap.root(Root::StrongHandle, e);
        type_paths(&heap.build(), "Entry", 100)
    };
    let growth = PathGrowth::between(&snapshot(), &snapshot());
    assert!(growth.groups.is_empty());
    assert_eq!(
        growth.to_string(),
        "Entry: +0 instances, no retention path grew"
    );
}

/// A handle the dump's reader missed, which a heap snapshot taken just before saw: its
/// object, unreachable in the dump, is adopted as held by it. A root whose object is
/// another type at that address now (it moved or died), or none, or that the dump's own
/// roots already reach, changes nothing.
#[test]
fn roots_another_source_saw_hold_only_what_no_root_reached() {
    use leakgate_heap::SeenRoot;
    let mut heap = TestHeap::new();
    let holder = heap.object("Holder");
    let entry = heap.object("Entry");
    let cache = heap.object("Cache");
    heap.field(holder, "_items", entry);
    heap.root(Root::static_field("App", "cache"), cache);
    let mut graph = heap.build();
    let entry_id = graph.find(entry.address).unwrap();
    assert_eq!(
        ShortestPaths::compute(&graph).explain(entry_id).to_string(),
        "no root found → Holder._items → Entry"
    );
    let seen = |address: u64, type_name: &str| SeenRoot {
        root: Root::StrongHandle,
        address,
        type_name: type_name.into(),
    };
    let adopted = graph.adopt_roots(&[
        seen(holder.address, "Other"), // another object there now
        seen(0xdead_0000, "Holder"),   // nothing there
        seen(cache.address, "Cache"),  // already held by the dump's own root
        seen(holder.address, "Holder"),
    ]);
    assert_eq!(adopted, 1);
    assert_eq!(
        path_line(&graph, entry.address).unwrap(),
        "strong handle → Holder._items → Entry"
    );
    assert_eq!(
        path_line(&graph, cache.address).unwrap(),
        "static App.cache → Cache"
    );
    assert_eq!(graph.roots().len(), 2);
}
