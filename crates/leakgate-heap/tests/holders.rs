//! Each retention-path group's holder (the object that alone keeps its instances alive) and
//! its retained size, on synthetic heaps, and how it grew between two snapshots.

mod support;

use leakgate_heap::{
    DominatorTree, HeapGraph, PathGrowth, PathOptions, Root, ShortestPaths, TypePaths,
};
use support::TestHeap;

const ENTRY: u64 = 48;
const LIST: u64 = 32;

/// A static `Registry.Entries` list of `n` entries, next to an unrelated static buffer.
fn registry(n: usize) -> HeapGraph {
    let mut heap = TestHeap::new();
    let list = heap.sized("System.Collections.Generic.List<Entry>", LIST);
    let array = heap.sized("Entry[]", array_size(n));
    heap.root(Root::static_field("Registry", "Entries"), list);
    heap.field(list, "_items", array);
    for _ in 0..n {
        let entry = heap.sized("Entry", ENTRY);
        heap.element(array, entry);
    }
    let other = heap.sized("System.Byte[]", 1 << 20);
    heap.root(Root::static_field("Registry", "Scratch"), other);
    heap.build()
}

fn array_size(n: usize) -> u64 {
    24 + 8 * n as u64
}

/// The grouped paths of `type_name`, each group with its holder.
fn held(graph: &HeapGraph, type_name: &str) -> TypePaths {
    let tree = DominatorTree::compute(graph);
    ShortestPaths::compute(graph).type_paths_with(type_name, &PathOptions::default(), Some(&tree))
}

#[test]
fn a_static_list_holds_its_entries_and_retains_them_with_its_array() {
    let paths = held(&registry(40), "Entry");
    assert_eq!(paths.groups.len(), 1);
    let group = &paths.groups[0];
    let holder = group.holder.as_ref().expect("the list holds every entry");
    assert_eq!(holder.type_name, "System.Collections.Generic.List<Entry>");
    assert_eq!(holder.retained_bytes, LIST + array_size(40) + 40 * ENTRY);
    assert_eq!(holder.retained_objects, 42);
    assert_eq!(holder.dominates, 40);
    // The list is the object the root holds: the path's first step.
    assert_eq!(holder.step, Some(0));
    assert_eq!(
        group.path.to_string(),
        "static Registry.Entries → System.Collections.Generic.List<Entry>._items → Entry[] → Entry"
    );
    // Without a dominator tree, no holder, and the groups are otherwise the same.
    let plain = ShortestPaths::compute(&registry(40)).type_paths("Entry", &PathOptions::default());
    assert_eq!(plain.groups[0].holder, None);
    assert_eq!(plain.groups[0].path, group.path);
    assert_eq!(plain.groups[0].example_address, group.example_address);
}

#[test]
fn the_holder_grows_between_two_snapshots() {
    let (first, last) = (held(&registry(40), "Entry"), held(&registry(300), "Entry"));
    let growth = PathGrowth::between(&first, &last);
    let top = growth.top().unwrap();
    assert_eq!((top.first, top.last), (40, 300));
    let holder = top.holder.as_ref().expect("the list holds the growth");
    assert_eq!(holder.type_name, "System.Collections.Generic.List<Entry>");
    assert_eq!(holder.step, Some(0));
    assert_eq!(
        holder.retained_first,
        Some(LIST + array_size(40) + 40 * ENTRY)
    );
    assert_eq!(holder.retained_last, LIST + array_size(300) + 300 * ENTRY);
    assert_eq!((holder.objects_first, holder.objects_last), (Some(42), 302));
    assert_eq!(holder.retained_growth(), Some(260 * (ENTRY + 8) as i64));
    // A path absent from the first snapshot has no first retained size.
    let empty = held(&registry(0), "Entry");
    let growth = PathGrowth::between(&empty, &last);
    let holder = growth.top().unwrap().holder.as_ref().unwrap();
    assert_eq!((holder.retained_first, holder.objects_first), (None, None));
    assert_eq!(holder.retained_growth(), None);
}

#[test]
fn entries_held_from_two_independent_roots_have_no_holder() {
    let mut heap = TestHeap::new();
    let (primary, secondary) = (heap.object("Entry[]"), heap.object("Entry[]"));
    heap.root(Root::static_field("Cache", "primary"), primary);
    heap.root(Root::static_field("Cache", "secondary"), secondary);
    for entry in heap.objects("Entry", 10) {
        heap.element(primary, entry);
        heap.element(secondary, entry);
    }
    let paths = held(&heap.build(), "Entry");
    assert_eq!(paths.groups.len(), 1, "{:#?}", paths.groups);
    assert_eq!(paths.groups[0].holder, None);
    // Nor does the growth: the paths still say who holds them.
    let growth = PathGrowth::between(&paths, &paths);
    assert!(growth.groups.is_empty());
}

#[test]
fn the_holder_stops_below_an_object_that_keeps_a_big_unrelated_buffer() {
    // static Service.Instance → Service { _sessions → List → Session[] → Session; _buffer →
    // 1 MiB }: the service dominates the sessions too, but retains far more than they.
    let mut heap = TestHeap::new();
    let service = heap.sized("Service", 40);
    let list = heap.sized("System.Collections.Generic.List<Session>", LIST);
    let array = heap.sized("Session[]", array_size(20));
    let buffer = heap.sized("System.Byte[]", 1 << 20);
    heap.root(Root::static_field("Service", "Instance"), service);
    heap.field(service, "_sessions", list);
    heap.field(service, "_buffer", buffer);
    heap.field(list, "_items", array);
    for session in heap.objects("Session", 20) {
        heap.element(array, session);
    }
    let paths = held(&heap.build(), "Session");
    let holder = paths.groups[0].holder.as_ref().unwrap();
    assert_eq!(holder.type_name, "System.Collections.Generic.List<Session>");
    assert_eq!(holder.retained_bytes, LIST + array_size(20) + 20 * 0x20);
    // Step 1 of "static Service.Instance → Service._sessions → List._items → Session[] → Session".
    assert_eq!(holder.step, Some(1));
    assert_eq!(paths.groups[0].path.steps[1].type_name, holder.type_name);
}

/// static Chain.Head → Node.next ×5 → Node.entries → List → Entry[] → Entry: a list of 8
/// entries hangs off the last of 6 nodes of `node_size` bytes.
fn chain(node_size: u64) -> TypePaths {
    let mut heap = TestHeap::new();
    let nodes: Vec<_> = (0..6).map(|_| heap.sized("Node", node_size)).collect();
    heap.root(Root::static_field("Chain", "Head"), nodes[0]);
    for pair in nodes.windows(2) {
        heap.field(pair[0], "next", pair[1]);
    }
    let list = heap.sized("List<Entry>", LIST);
    let array = heap.sized("Entry[]", array_size(8));
    heap.field(nodes[5], "entries", list);
    heap.field(list, "_items", array);
    for entry in heap.objects("Entry", 8) {
        heap.element(array, entry);
    }
    held(&heap.build(), "Entry")
}

#[test]
fn a_holder_after_a_linked_structure_is_placed_on_the_collapsed_path() {
    // Big nodes: the list is the holder, after the collapsed run of nodes.
    let paths = chain(4096);
    let group = &paths.groups[0];
    assert_eq!(
        group.path.to_string(),
        "static Chain.Head → Node.next ×5 → Node.entries → List<Entry>._items → Entry[] → Entry"
    );
    let holder = group.holder.as_ref().unwrap();
    assert_eq!(holder.type_name, "List<Entry>");
    assert_eq!(holder.step, Some(2));
    // Small nodes retain little more than the list: the holder rises to the chain's head.
    let paths = chain(32);
    let holder = paths.groups[0].holder.as_ref().unwrap();
    assert_eq!((holder.type_name.as_str(), holder.step), ("Node", Some(0)));
    assert_eq!(holder.retained_objects, 6 + 2 + 8);
}

#[test]
fn json_without_a_holder_is_unchanged() {
    let plain = ShortestPaths::compute(&registry(3)).type_paths("Entry", &PathOptions::default());
    let json = serde_json::to_string(&plain).unwrap();
    assert!(!json.contains("holder"), "{json}");
    let growth = serde_json::to_string(&PathGrowth::between(&plain, &plain)).unwrap();
    assert!(!growth.contains("holder"), "{growth}");
    let with = held(&registry(3), "Entry");
    let json = serde_json::to_string(&with).unwrap();
    assert!(json.contains(r#""holder":{"type_name":"System.Collections.Generic.List<Entry>""#));
    assert_eq!(serde_json::from_str::<TypePaths>(&json).unwrap(), with);
}

/// A `[ThreadStatic] PerThreadLog.Entries` list on each of `threads` threads, with
/// `per_thread` entries each.
fn per_thread_lists(threads: u32, per_thread: usize) -> HeapGraph {
    let mut heap = TestHeap::new();
    for thread in 1..=threads {
        let list = heap.sized("System.Collections.Generic.List<Entry>", LIST);
        let array = heap.sized("Entry[]", array_size(per_thread));
        heap.root(
            Root::thread_static("PerThreadLog", "Entries", Some(0x100 + thread)),
            list,
        );
        heap.field(list, "_items", array);
        for _ in 0..per_thread {
            let entry = heap.sized("Entry", ENTRY);
            heap.element(array, entry);
        }
    }
    heap.build()
}

#[test]
fn lists_on_several_threads_are_one_group_with_their_holders_together() {
    let paths = held(&per_thread_lists(3, 20), "Entry");
    assert_eq!(
        paths.groups.len(),
        1,
        "the thread is not part of the reason"
    );
    let group = &paths.groups[0];
    assert_eq!(
        group.path.to_string(),
        "thread static PerThreadLog.Entries → System.Collections.Generic.List<Entry>._items \
         → Entry[] → Entry"
    );
    let holder = group.holder.as_ref().expect("a list on each thread");
    assert_eq!(holder.holders, 3);
    assert_eq!(holder.type_name, "System.Collections.Generic.List<Entry>");
    assert_eq!(
        holder.retained_bytes,
        3 * (LIST + array_size(20) + 20 * ENTRY)
    );
    assert_eq!((holder.retained_objects, holder.dominates), (3 * 22, 60));
    assert_eq!(holder.step, Some(0));
    // One list alone is one holder, as before.
    let one = held(&per_thread_lists(1, 20), "Entry");
    assert_eq!(one.groups[0].holder.as_ref().unwrap().holders, 1);
}

#[test]
fn instances_each_held_by_their_own_root_have_no_holder() {
    // A strong handle per session: each is its own "holder", which says nothing.
    let mut heap = TestHeap::new();
    for _ in 0..30 {
        let session = heap.sized("Session", ENTRY);
        heap.root(Root::StrongHandle, session);
    }
    let paths = held(&heap.build(), "Session");
    assert_eq!(paths.groups.len(), 1);
    assert_eq!(paths.groups[0].holder, None);
}
