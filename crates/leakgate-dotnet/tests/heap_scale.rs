//! A heap snapshot goes from trace to dominator tree in bounded memory: the
//! graph a snapshot becomes keeps 24 bytes per object and 4 per reference,
//! and no limit that bounds hostile traces refuses a real heap of 10^7
//! objects. `examples/heap_scale.rs` measures 10^6 and 10^7 objects; this
//! test uses a smaller heap of the same shape so it stays fast in debug
//! builds.

use leakgate_dotnet::gcheap::{TraceLimits, heap_graph, read_gc_heap, synth::ScaleHeap};
use leakgate_heap::{DominatorTree, PathOptions, ShortestPaths};

const OBJECTS: u64 = 100_000;

#[test]
fn a_service_like_snapshot_becomes_a_compact_graph_with_paths_and_dominators() {
    let mut trace = Vec::new();
    ScaleHeap::new(OBJECTS).write(&mut trace).unwrap();
    let snapshot = read_gc_heap(trace.as_slice()).expect("the trace reads");
    assert!(snapshot.is_complete());
    assert_eq!(snapshot.nodes.len() as u64, OBJECTS);
    assert_eq!(snapshot.nodes.capacity(), snapshot.nodes.len());
    assert_eq!(snapshot.edges.capacity(), snapshot.edges.len());

    let graph = heap_graph(&snapshot).expect("the graph builds");
    assert_eq!(graph.object_count() as u64, OBJECTS);
    assert_eq!(graph.edge_count(), snapshot.edges.len());
    assert_eq!(graph.stats().unresolved_edges, 0);
    // EventPipe references name no field: the graph keeps none per reference.
    let (objects, edges) = (graph.object_count(), graph.edge_count());
    // The type table (3,008 names and their entries) and the roots.
    let names = 300_000;
    assert!(
        graph.heap_bytes() <= 24 * objects + 4 * edges + names,
        "{} bytes for {objects} objects and {edges} references",
        graph.heap_bytes()
    );

    let paths = ShortestPaths::compute(&graph);
    let tree = DominatorTree::compute(&graph);
    assert_eq!(paths.reachable_count(), tree.reachable_count() as u64);
    assert!(paths.reachable_count() > OBJECTS * 98 / 100);
    let values = paths.type_paths_with("App.Value", &PathOptions::default(), Some(&tree));
    assert!(values.instances > OBJECTS / 3);
    assert!(!values.groups.is_empty());
}

#[test]
fn the_default_trace_limit_admits_a_snapshot_of_ten_million_objects() {
    // dotnet-gcdump stops at 10^7 objects; leakgate must read at least that.
    let mut trace = Vec::new();
    ScaleHeap::new(OBJECTS).write(&mut trace).unwrap();
    let per_object = trace.len() as u64 / OBJECTS + 1;
    let limit = TraceLimits::default().max_trace_bytes;
    assert!(
        per_object * 10_000_000 <= limit,
        "{per_object} bytes per object × 10^7 > {limit}"
    );
}
