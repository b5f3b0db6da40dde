//! The results are JSON-ready: they round-trip, and their schema names what reports show.

mod support;

use leakgate_heap::{PathGrowth, Root, TypePaths};
use support::{TestHeap, type_paths};

fn snapshot(entries: usize) -> TypePaths {
    let mut heap = TestHeap::new();
    let list = heap.object("Entry[]");
    heap.root(Root::stack(Some(9), Some("Worker.Run()")), list);
    for entry in heap.objects("Entry", entries) {
        heap.element(list, entry);
    }
    type_paths(&heap.build(), "Entry", 100)
}

#[test]
fn type_paths_and_growth_round_trip_through_json() {
    let (first, last) = (snapshot(3), snapshot(8));
    let growth = PathGrowth::between(&first, &last);
    let json = serde_json::to_value(&growth).unwrap();
    assert_eq!(json["growth"], 5);
    assert_eq!(json["groups"][0]["path"]["root"]["kind"], "stack");
    // Grouped paths carry no thread: the same method on any thread is one group.
    assert!(json["groups"][0]["path"]["root"].get("thread_id").is_none());
    assert_eq!(json["groups"][0]["path"]["steps"][1]["type_name"], "Entry");
    let back: PathGrowth = serde_json::from_value(json).unwrap();
    assert_eq!(back, growth);
    let paths: TypePaths = serde_json::from_str(&serde_json::to_string(&last).unwrap()).unwrap();
    assert_eq!(paths, last);
}

#[test]
fn the_schema_describes_every_root_kind() {
    let schema = serde_json::to_string(&schemars::schema_for!(PathGrowth)).unwrap();
    for kind in [
        "static_field",
        "thread_static",
        "runtime",
        "stack",
        "strong_handle",
        "pinned_handle",
        "finalizer_queue",
        "dependent_handle",
        "other",
        "not_found",
    ] {
        assert!(schema.contains(&format!("\"{kind}\"")), "{kind} missing");
    }
}
