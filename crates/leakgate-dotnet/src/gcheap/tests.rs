//! The heap-snapshot layer on synthetic traces.

use super::events::{self, event_id, root_flag, type_flag};
use super::synth::{self, HeapTrace};
use super::*;
use crate::nettrace::synth::{NettraceBuilder, SynthEvent};

const LIST: &str = "System.Collections.Generic.List`1[App.Item]";

/// Three objects: a list holding two items, one of them finalizable.
fn small_heap() -> HeapTrace {
    HeapTrace::new()
        .finalizable_type("App.Item")
        .object(0x1000, 40, LIST, &[0x2000, 0x3000])
        .object(0x2000, 24, "App.Item", &[0x3000])
        .object(0x3000, 24, "App.Item", &[])
        .object(0x4000, 100, "System.String", &[])
        .stack_root(0x1000)
        .root(0x4000, 2, root_flag::PINNING)
        .root(0x3000, 2, root_flag::WEAK_REF)
        .static_root(0x4000, "System.String", "s_name")
        .dependent_handle(0x2000, 0x4000)
}

#[test]
fn nodes_edges_roots_and_types_come_through() {
    let dump = read_gc_heap(small_heap().build().as_slice()).unwrap();
    assert!(dump.is_complete());
    assert_eq!(
        (dump.process_id, dump.pointer_size, dump.gc_number),
        (4242, 8, 7)
    );
    let addresses: Vec<u64> = dump.nodes.iter().map(|n| n.address).collect();
    assert_eq!(addresses, [0x1000, 0x2000, 0x3000, 0x4000]);
    let edges: Vec<(u64, Vec<u64>)> = dump
        .nodes_with_edges()
        .map(|(n, e)| (n.address, e.to_vec()))
        .collect();
    assert_eq!(
        edges,
        [
            (0x1000, vec![0x2000, 0x3000]),
            (0x2000, vec![0x3000]),
            (0x3000, vec![]),
            (0x4000, vec![]),
        ]
    );
    let item = dump.type_of(&dump.nodes[1]).unwrap();
    assert_eq!(item.name.as_deref(), Some("App.Item"));
    assert!(item.is_finalizable());
    assert_eq!(dump.type_of(&dump.nodes[2]), Some(item));
    assert!(!dump.type_of(&dump.nodes[0]).unwrap().is_finalizable());
    assert_eq!(dump.type_by_id(item.id), Some(item));
    assert_eq!(dump.total_size(), 188);

    let kinds: Vec<(RootKind, u64, bool)> = dump
        .roots
        .iter()
        .map(|r| (r.kind.clone(), r.target, r.is_strong()))
        .collect();
    let string_type = dump
        .types
        .iter()
        .find(|t| t.name.as_deref() == Some("System.String"))
        .unwrap()
        .id;
    assert_eq!(
        kinds,
        [
            (
                RootKind::StaticVariable {
                    type_id: string_type,
                    field_name: "s_name".into(),
                    thread_local: false
                },
                0x4000,
                true
            ),
            (RootKind::Stack, 0x1000, true),
            (RootKind::Handle, 0x4000, true),
            (RootKind::Handle, 0x3000, false),
        ]
    );
    assert!(dump.roots[2].is_pinning());
    assert_eq!(dump.dependent_handles.len(), 1);
    assert_eq!(
        (
            dump.dependent_handles[0].key,
            dump.dependent_handles[0].value
        ),
        (0x2000, 0x4000)
    );
}

#[test]
fn batch_and_block_sizes_do_not_change_the_result() {
    let reference = read_gc_heap(small_heap().build().as_slice()).unwrap();
    for (per_batch, per_block) in [(1, 1), (2, 3), (100, 100)] {
        let bytes = small_heap()
            .nodes_per_batch(per_batch)
            .events_per_block(per_block)
            .build();
        let dump = read_gc_heap(bytes.as_slice()).unwrap();
        assert_eq!(dump.nodes, reference.nodes, "{per_batch}/{per_block}");
        assert_eq!(dump.edges, reference.edges, "{per_batch}/{per_block}");
        assert_eq!(dump.roots, reference.roots, "{per_batch}/{per_block}");
    }
}

#[test]
fn generation_ranges_are_the_ones_after_the_walk() {
    let dump = read_gc_heap(
        small_heap()
            .generation_range(2, 0x1000, 0x3100, 0x40_0000)
            .generation_range(0, 0x9000_0000, 0x100, 0x40_0000)
            .build()
            .as_slice(),
    )
    .unwrap();
    let starts: Vec<(u8, u64, u64)> = dump
        .generation_ranges
        .iter()
        .map(|r| (r.generation, r.start, r.used_length))
        .collect();
    assert_eq!(starts, [(2, 0x1000, 0x3100), (0, 0x9000_0000, 0x100)]);
}

#[test]
fn a_dropped_batch_is_reported_not_hidden() {
    let dump = read_gc_heap(
        small_heap()
            .nodes_per_batch(1)
            .drop_node_batch(1)
            .build()
            .as_slice(),
    )
    .unwrap();
    assert_eq!(dump.dropped_events, 1);
    assert_eq!(dump.missing_batches, 1);
    assert!(!dump.is_complete());
    assert_eq!(dump.nodes.len(), 3);
}

#[test]
fn an_unnamed_type_is_kept_and_shown_as_unknown() {
    let mut heap = HeapTrace::new()
        .unnamed_type("Lost")
        .object(0x10, 8, "Lost", &[]);
    let id = heap.type_id("Lost");
    let dump = read_gc_heap(heap.build().as_slice()).unwrap();
    let lost = dump.type_of(&dump.nodes[0]).unwrap();
    assert_eq!(lost.name, None);
    assert_eq!(lost.display_name(), format!("<unknown type {id:#x}>"));
}

#[test]
fn a_trace_cut_before_the_gc_end_is_unfinished() {
    let e = read_gc_heap(small_heap().without_gc_end().build().as_slice()).unwrap_err();
    assert!(
        matches!(
            e,
            GcHeapError::Unfinished {
                gc_number: Some(7),
                ..
            }
        ),
        "{e}"
    );
    assert!(
        leakgate_record::error_text(&e).contains("heap walk of GC #7 began"),
        "{e}"
    );
}

#[test]
fn a_trace_without_a_gc_has_no_snapshot() {
    let e = read_gc_heap(NettraceBuilder::new().finish().as_slice()).unwrap_err();
    assert!(matches!(e, GcHeapError::NoSnapshot { .. }), "{e}");
}

/// A trace assembled event by event: (event id, payload) on the GC thread.
fn trace_of(events: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let on_gc_thread: Vec<(u64, u32, Vec<u8>)> = events
        .iter()
        .map(|(id, payload)| (0x77, *id, payload.clone()))
        .collect();
    trace_of_threads(&on_gc_thread)
}

/// The same, with each event's capture thread given: (thread, event id, payload).
fn trace_of_threads(events: &[(u64, u32, Vec<u8>)]) -> Vec<u8> {
    let mut trace = NettraceBuilder::new();
    for id in [1, 2, 15, 16, 17, 18, 19, 23, 38] {
        trace.metadata(
            id,
            events::RUNTIME_PROVIDER,
            id,
            "",
            if id == 1 { 2 } else { 1 },
        );
    }
    trace.metadata(99, "Other-Provider", 18, "NotANode", 0);
    let mut sequences = std::collections::HashMap::new();
    let synth: Vec<SynthEvent> = events
        .iter()
        .map(|(thread, id, payload)| {
            let sequence = sequences.entry(*thread).or_insert(0);
            *sequence += 1;
            SynthEvent::new(*id, *sequence, *thread, payload.clone())
        })
        .collect();
    trace.events(&synth);
    trace.finish()
}

fn node(address: u64, edges: u64) -> Vec<u8> {
    synth::bulk_node(0, &[(address, 24, 0x500, edges)])
}

#[test]
fn the_walk_ends_at_the_first_full_gc_end_of_the_walk_thread() {
    const WALK: u64 = 0x77;
    const OTHER: u64 = 0x78;
    let bytes = trace_of_threads(&[
        (OTHER, event_id::GC_START, synth::gc_start(3, 0, 0, 0)), // gen0: no walk
        (OTHER, event_id::GC_END, synth::gc_end(3, 0)),
        // The walk's first objects reach the stream before its GCStart.
        (WALK, event_id::GC_BULK_NODE, node(0x1, 0)),
        (OTHER, event_id::GC_START, synth::gc_start(6, 2, 1, 0)),
        (WALK, 99, node(0x3, 0)), // another provider's event 18: ignored
        (OTHER, event_id::GC_END, synth::gc_end(6, 2)), // not the walk thread
        (WALK, event_id::GC_END, synth::gc_end(5, 1)), // not a full GC
        (
            WALK,
            event_id::GC_BULK_NODE,
            synth::bulk_node(1, &[(0x4, 24, 0x500, 0)]),
        ),
        (
            WALK,
            event_id::GC_BULK_ROOT_EDGE,
            synth::bulk_root_edge(0, &[(0x4, 0, 0, 0)]),
        ),
        (WALK, event_id::GC_END, synth::gc_end(6, 2)), // the end
        (
            WALK,
            event_id::BULK_TYPE,
            synth::bulk_type(&[(0x500, type_flag::FINALIZABLE, "Late")]),
        ),
        (
            WALK,
            event_id::GC_BULK_NODE,
            synth::bulk_node(2, &[(0x5, 24, 0x500, 0)]),
        ), // after: ignored
        (
            WALK,
            event_id::GC_BULK_ROOT_EDGE,
            synth::bulk_root_edge(1, &[(0x5, 0, 0, 0)]),
        ),
    ]);
    let dump = read_gc_heap(bytes.as_slice()).unwrap();
    assert_eq!(dump.gc_number, 6);
    let addresses: Vec<u64> = dump.nodes.iter().map(|n| n.address).collect();
    assert_eq!(addresses, [0x1, 0x4]);
    assert_eq!(dump.roots.len(), 1);
    // A type named after its objects arrived still names them.
    assert_eq!(
        dump.type_of(&dump.nodes[1]).unwrap().name.as_deref(),
        Some("Late")
    );
    assert!(dump.is_complete());
}

#[test]
fn a_server_gc_trace_reads_like_a_workstation_one() {
    let heap = || {
        small_heap()
            .generation_range(2, 0x1000, 0x3100, 0x40_0000)
            .generation_range(0, 0x9000_0000, 0x100, 0x40_0000)
    };
    let workstation = read_gc_heap(heap().build().as_slice()).unwrap();
    let server_bytes = heap().server_gc_layout().build();
    let server = read_gc_heap(server_bytes.as_slice()).unwrap();
    assert_eq!(server.nodes, workstation.nodes);
    assert_eq!(server.edges, workstation.edges);
    assert_eq!(server.roots, workstation.roots);
    assert_eq!(server.generation_ranges, workstation.generation_ranges);
    assert_eq!(
        server.generation_ranges.len(),
        2,
        "only the ranges after the walk"
    );
    assert!(server.is_complete());

    // The layout is what it says: objects come before the GCStart.
    let mut stream = crate::nettrace::EventStream::new(server_bytes.as_slice()).unwrap();
    let mut first_node_at = None;
    let mut gc_start_at = None;
    let mut i = 0;
    while let Some(e) = stream.next_event().unwrap() {
        match e.metadata.event_id {
            event_id::GC_BULK_NODE => first_node_at = first_node_at.or(Some(i)),
            event_id::GC_START => gc_start_at = Some(i),
            _ => {}
        }
        i += 1;
    }
    assert!(
        first_node_at < gc_start_at,
        "{first_node_at:?} {gc_start_at:?}"
    );
    assert_eq!(stream.dropped_events(), 0);
}

#[test]
fn the_builder_says_when_the_snapshot_is_complete() {
    let bytes = small_heap().build();
    let mut stream = crate::nettrace::EventStream::new(bytes.as_slice()).unwrap();
    let mut builder = HeapSnapshotBuilder::new(stream.trace());
    let mut events_after_completion = 0;
    while let Some(event) = stream.next_event().unwrap() {
        if builder.is_complete() {
            events_after_completion += 1;
        }
        builder.on_event(&event).unwrap();
    }
    assert!(builder.is_complete());
    assert_eq!(events_after_completion, 0, "the GCEnd is the last event");
    assert_eq!(builder.node_count(), 4);
}

#[test]
fn edges_that_do_not_add_up_without_a_loss_are_inconsistent() {
    let bytes = trace_of(&[
        (event_id::GC_START, synth::gc_start(6, 2, 1, 0)),
        (event_id::GC_BULK_NODE, node(0x4, 2)),
        (event_id::GC_BULK_EDGE, synth::bulk_edge(0, &[0x10])),
        (event_id::GC_END, synth::gc_end(6, 2)),
    ]);
    let e = read_gc_heap(bytes.as_slice()).unwrap_err();
    assert!(matches!(e, GcHeapError::Inconsistent { .. }), "{e}");
    assert!(
        leakgate_record::error_text(&e)
            .contains("announce 2 references but the edge events carry 1"),
        "{e}"
    );
}

#[test]
fn a_batch_number_going_back_is_inconsistent() {
    let bytes = trace_of(&[
        (event_id::GC_START, synth::gc_start(6, 2, 1, 0)),
        (
            event_id::GC_BULK_NODE,
            synth::bulk_node(1, &[(0x4, 8, 0x500, 0)]),
        ),
        (
            event_id::GC_BULK_NODE,
            synth::bulk_node(0, &[(0x5, 8, 0x500, 0)]),
        ),
        (event_id::GC_END, synth::gc_end(6, 2)),
    ]);
    assert!(matches!(
        read_gc_heap(bytes.as_slice()),
        Err(GcHeapError::Inconsistent { .. })
    ));
}

#[test]
fn a_batch_announcing_more_entries_than_it_holds_is_malformed_at_its_count() {
    let mut payload = node(0x4, 0);
    payload[4..8].copy_from_slice(&1000u32.to_le_bytes());
    let e = events::bulk_node(&payload, 500, 8).unwrap_err();
    assert_eq!(e.offset(), 504);
    assert!(
        leakgate_record::error_text(&e).contains("announces 1000 entries"),
        "{e}"
    );
    let bytes = trace_of(&[
        (event_id::GC_START, synth::gc_start(6, 2, 1, 0)),
        (event_id::GC_BULK_NODE, payload),
    ]);
    assert!(matches!(
        read_gc_heap(bytes.as_slice()),
        Err(GcHeapError::Trace(_))
    ));
}

#[test]
fn payload_decoders_read_each_layout() {
    let start = events::gc_start(&synth::gc_start(9, 2, 1, 0), 0, 2).unwrap();
    assert_eq!(
        (start.count, start.depth, start.reason, start.gc_type),
        (9, 2, 1, 0)
    );
    assert!(events::gc_start(&synth::gc_start(9, 2, 1, 0), 0, 0).is_err());
    assert_eq!(events::gc_end(&synth::gc_end(9, 2), 0).unwrap().count, 9);

    // BulkType with type parameters (synth writes none; add two by hand).
    let mut payload = synth::bulk_type(&[(0xA, type_flag::ARRAY, "App.Item[]")]);
    let params_at = payload.len() - 4;
    payload.truncate(params_at);
    payload.extend(2u32.to_le_bytes());
    payload.extend(0xBu64.to_le_bytes());
    payload.extend(0xCu64.to_le_bytes());
    let read_types = |payload: &[u8]| {
        events::bulk_type(payload, 0).and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
    };
    let types = read_types(&payload).unwrap();
    assert_eq!(types[0].name, "App.Item[]");
    assert_eq!(types[0].type_parameters, [0xB, 0xC]);
    assert_eq!(types[0].cor_element_type, 0x1d);
    payload.truncate(payload.len() - 1);
    assert!(read_types(&payload).is_err());

    // 32-bit pointers: 4-byte addresses.
    let mut node32 = Vec::new();
    node32.extend(3u32.to_le_bytes()); // index
    node32.extend(1u32.to_le_bytes()); // count
    node32.extend(0u16.to_le_bytes());
    node32.extend(0x1234u32.to_le_bytes());
    node32.extend(16u64.to_le_bytes());
    node32.extend(0x99u64.to_le_bytes());
    node32.extend(2u64.to_le_bytes());
    let batch = events::bulk_node(&node32, 0, 4).unwrap();
    assert_eq!(batch.index, 3);
    let nodes: Vec<_> = events::nodes(&batch).collect();
    assert_eq!(
        nodes,
        [events::NodeEntry {
            address: 0x1234,
            size: 16,
            type_id: 0x99,
            edge_count: 2
        }]
    );

    let range =
        events::generation_range(&synth::generation_range(3, 0x10, 0x20, 0x30), 0, 8).unwrap();
    assert_eq!(
        (
            range.generation,
            range.start,
            range.used_length,
            range.reserved_length
        ),
        (3, 0x10, 0x20, 0x30)
    );

    let statics = events::bulk_root_static_var(
        &synth::bulk_root_static_var(&[(0x40, 0x50, "s_x".into())]),
        0,
    )
    .unwrap()
    .collect::<Result<Vec<_>, _>>()
    .unwrap();
    assert_eq!(
        (
            statics[0].object,
            statics[0].type_id,
            statics[0].field_name.as_str()
        ),
        (0x40, 0x50, "s_x")
    );
}

#[test]
fn the_summary_matches_the_inspector_contract() {
    let dump = read_gc_heap(
        small_heap()
            .finalizer_root(0x3000)
            .generation_range(1, 0x1000, 0x1800, 0x1_0000) // holds 0x1000
            .generation_range(2, 0x2000, 0x1800, 0x1_0000) // holds 0x2000, 0x3000
            .build()
            .as_slice(),
    )
    .unwrap();
    let s = managed_summary(&dump, "10.0.1");
    assert_eq!(s.schema_version, crate::inspector::SCHEMA_VERSION);
    assert_eq!(s.runtime_version, "10.0.1");
    // Heap: ascending total size, then name; generic names as ClrMD prints them.
    let heap: Vec<(&str, u64, u64)> = s
        .heap_types
        .iter()
        .map(|t| (t.name.as_str(), t.count, t.total_size))
        .collect();
    assert_eq!(
        heap,
        [
            ("System.Collections.Generic.List<App.Item>", 1, 40),
            ("App.Item", 2, 48),
            ("System.String", 1, 100)
        ]
    );
    // Finalizable: both items; one ready (finalizer root), one registered in gen 2.
    assert_eq!(s.finalizable_count("App.Item"), 2);
    assert_eq!(s.finalizable_total, 2);
    assert_eq!(s.ready_for_finalization, 1);
    let generations: Vec<(&str, u64)> = s
        .generations
        .iter()
        .map(|g| (g.generation.as_str(), g.finalizable))
        .collect();
    assert_eq!(generations, [("0", 0), ("1", 0), ("2", 1)]);
    assert_eq!(
        s.finalizable_types[0].method_table,
        dump.type_of(&dump.nodes[1]).unwrap().id
    );
    // Segments from the ranges: used = committed, the rest reserved.
    assert_eq!(s.segments.len(), 2);
    assert_eq!(
        (
            s.segments[0].kind.as_str(),
            s.segments[0].start,
            s.segments[0].end
        ),
        ("gen1", 0x1000, 0x2800)
    );
    assert_eq!(s.gc_committed, 0x3000);
    assert_eq!(s.gc_reserved, 2 * (0x1_0000 - 0x1800));
    // It is the inspector's JSON shape.
    let json = serde_json::to_value(&s).unwrap();
    let back: crate::inspector::ManagedSummary = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn without_ranges_finalizable_objects_are_in_an_unknown_generation() {
    let s = managed_summary(&read_gc_heap(small_heap().build().as_slice()).unwrap(), "x");
    let generations: Vec<(&str, u64)> = s
        .generations
        .iter()
        .map(|g| (g.generation.as_str(), g.finalizable))
        .collect();
    assert_eq!(generations, [("0", 0), ("1", 0), ("2", 0), ("unknown", 2)]);
    assert!(s.segments.is_empty());
    assert_eq!(s.gc_committed, 0);
}

#[test]
fn a_kept_trace_file_is_read_and_other_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.nettrace");
    std::fs::write(&path, small_heap().build()).unwrap();
    assert_eq!(read_nettrace(&path).unwrap().nodes.len(), 4);

    assert!(matches!(
        read_nettrace(dir.path()),
        Err(GcHeapError::NotAFile { .. })
    ));
    let fifo = dir.path().join("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    assert!(
        matches!(read_nettrace(&fifo), Err(GcHeapError::NotAFile { .. })),
        "a FIFO is refused without blocking"
    );
    assert!(matches!(
        read_nettrace(&dir.path().join("missing")),
        Err(GcHeapError::File { .. })
    ));

    let mut cut = small_heap().build();
    cut.truncate(cut.len() / 2);
    std::fs::write(&path, cut).unwrap();
    let e = read_nettrace(&path).unwrap_err();
    let text = leakgate_record::error_text(&e);
    assert!(
        text.contains("sample.nettrace") && text.contains("byte offset"),
        "{text}"
    );
}

#[test]
fn the_gcs_committed_bytes_are_the_last_committed_usage() {
    use crate::gccommit::GcCommitted;
    let at_end = GcCommitted {
        in_use: 0xb8_2000,
        in_free: 0x3000,
        bookkeeping: 0x5_4000,
        ..GcCommitted::default()
    };
    // The trace also holds one from the GC's start and another dynamic event.
    for trace in [
        small_heap().committed_usage(at_end),
        small_heap().committed_usage(at_end).server_gc_layout(),
    ] {
        let dump = read_gc_heap(trace.build().as_slice()).unwrap();
        assert_eq!(dump.gc_committed, Some(at_end));
    }
    assert_eq!(
        read_gc_heap(small_heap().build().as_slice())
            .unwrap()
            .gc_committed,
        None,
        "a runtime that does not log it"
    );
}

#[test]
fn committed_usage_after_the_snapshot_is_complete_still_counts() {
    use crate::gccommit::{GC_DYNAMIC_EVENT, GcCommitted};
    use crate::nettrace::{EventHeader, EventMetadata, EventStream};
    let bytes = small_heap().build();
    let mut stream = EventStream::new(bytes.as_slice()).unwrap();
    let mut builder = HeapSnapshotBuilder::new(stream.trace());
    while !builder.is_complete() {
        builder
            .on_event(&stream.next_event().unwrap().unwrap())
            .unwrap();
    }
    // As a live capture drains the stream after completion.
    let later = GcCommitted {
        in_use: 1 << 20,
        bookkeeping: 1 << 16,
        ..GcCommitted::default()
    };
    let metadata = EventMetadata {
        metadata_id: 1,
        provider: events::RUNTIME_PROVIDER.into(),
        event_id: GC_DYNAMIC_EVENT,
        event_name: String::new(),
        keywords: 1,
        version: 0,
        level: 4,
    };
    let payload = synth::committed_usage(&later);
    builder.on_trailing_event(&crate::nettrace::Event {
        metadata: &metadata,
        header: EventHeader::default(),
        payload: &payload,
        offset: 0,
        payload_offset: 0,
    });
    let garbled = &payload[..payload.len() - 10];
    builder.on_trailing_event(&crate::nettrace::Event {
        metadata: &metadata,
        header: EventHeader::default(),
        payload: garbled,
        offset: 0,
        payload_offset: 0,
    });
    let dump = builder.finish(0).unwrap();
    assert_eq!(dump.gc_committed, Some(later));
}

/// `bytes` as one gzip member, the way leakgate keeps traces.
fn gzipped(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The error reading `bytes` as `name` gives, as text (which must name the file).
fn file_error(name: &str, bytes: &[u8], limits: &TraceLimits) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let text = leakgate_record::error_text(&read_nettrace_with(&path, limits).unwrap_err());
    assert!(text.contains(name), "{text}");
    text
}

#[test]
fn a_kept_gzip_trace_is_read_and_its_checksum_and_length_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.nettrace");
    std::fs::write(&path, small_heap().build()).unwrap();
    let gz = compress_trace(&path).unwrap();
    assert_eq!(read_nettrace(&gz).unwrap().nodes.len(), 4);

    // The trailer is CRC-32 then ISIZE, little-endian, the last 8 bytes.
    let good = std::fs::read(&gz).unwrap();
    let limits = TraceLimits::default();
    for (at, what) in [(8, "CRC"), (4, "length")] {
        let mut bad = good.clone();
        let i = bad.len() - at;
        bad[i] ^= 0x01;
        let text = file_error("bad.nettrace.gz", &bad, &limits);
        assert!(text.contains("gzip data is damaged"), "{what}: {text}");
    }
    // A damaged byte inside the compressed data, or a file cut short: the
    // gzip data is what is reported, not what the trace then looks like.
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0x55;
    for (name, bytes) in [
        ("bad.nettrace.gz", &bad[..]),
        ("cut.nettrace.gz", &good[..good.len() - 3]),
        ("half.nettrace.gz", &good[..good.len() / 2]),
    ] {
        let text = file_error(name, bytes, &limits);
        assert!(text.contains("gzip data is damaged"), "{text}");
    }
}

#[test]
fn anything_after_the_gzip_member_is_refused() {
    let good = gzipped(&small_heap().build());
    let limits = TraceLimits::default();
    let mut garbage = good.clone();
    garbage.extend_from_slice(b"trailing");
    let text = file_error("more.nettrace.gz", &garbage, &limits);
    assert!(
        text.contains("data follows the end of the gzip data"),
        "{text}"
    );
    // A second member (`cat a.gz b.gz`) is data after the first.
    let mut two = good.clone();
    two.extend_from_slice(&gzipped(b"more"));
    let text = file_error("two.nettrace.gz", &two, &limits);
    assert!(
        text.contains("data follows the end of the gzip data"),
        "{text}"
    );
    // Bytes after the trace's end tag inside the member are read (to check
    // the CRC) but are not an error: a stream copy may hold them.
    let mut tail = small_heap().build();
    tail.extend_from_slice(&[0; 100]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tail.nettrace.gz");
    std::fs::write(&path, gzipped(&tail)).unwrap();
    assert_eq!(read_nettrace(&path).unwrap().nodes.len(), 4);
}

/// A walk of `batches` node events of 500 identical objects: ~16 KB each,
/// which gzip shrinks about a hundredfold.
fn node_flood(batches: u32) -> Vec<u8> {
    let entries = vec![(0x1000u64, 24u64, 0x7f00_0000_1000u64, 0u64); 500];
    let mut out = Vec::new();
    synth::write_flood(&mut out, batches, |i| {
        (event_id::GC_BULK_NODE, synth::bulk_node(i, &entries))
    })
    .unwrap();
    out
}

#[test]
fn a_gzip_file_decompresses_to_a_bounded_multiple_of_its_size() {
    let trace = node_flood(200);
    let gz = gzipped(&trace);
    let ratio = trace.len() / gz.len();
    assert!(ratio > 32, "the flood compresses {ratio}-fold");
    let text = file_error("bomb.nettrace.gz", &gz, &TraceLimits::default());
    assert!(
        text.contains("decompresses to more than 32 times"),
        "{text}"
    );
    // A lower absolute limit is the one reported.
    let small = TraceLimits {
        max_trace_bytes: 1 << 20,
        ..TraceLimits::default()
    };
    let text = file_error("bomb.nettrace.gz", &gz, &small);
    assert!(
        text.contains("larger than 1 MiB") && text.contains(TRACE_LIMIT_ENV),
        "{text}"
    );
    // Within the ratio it reads: every object is there.
    let generous = TraceLimits {
        max_gzip_ratio: 1000,
        ..TraceLimits::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flood.nettrace.gz");
    std::fs::write(&path, &gz).unwrap();
    assert_eq!(
        read_nettrace_with(&path, &generous).unwrap().nodes.len(),
        200 * 500
    );
}

#[test]
fn a_plain_trace_above_the_limit_is_refused_before_it_is_read() {
    let limits = TraceLimits {
        max_trace_bytes: 1000,
        ..TraceLimits::default()
    };
    let text = file_error("big.nettrace", &node_flood(1), &limits);
    assert!(text.contains("larger than 0 MiB"), "{text}");
}

#[test]
fn a_snapshot_holding_more_than_its_trace_allows_fails_clearly() {
    // Roots are 21 bytes on the wire and 64 as GcRoots: 3 bytes kept per
    // byte read, above the budget of 2 once the allowance is used up.
    let entries = vec![(0x1000u64, 0u8, 0u32, 0x5000u64); 4000];
    let mut trace = Vec::new();
    synth::write_flood(&mut trace, 500, |i| {
        (
            event_id::GC_BULK_ROOT_EDGE,
            synth::bulk_root_edge(i, &entries),
        )
    })
    .unwrap();
    assert!(trace.len() > 40 << 20, "{} bytes", trace.len());
    let e = read_gc_heap(trace.as_slice()).unwrap_err();
    assert!(matches!(e, GcHeapError::OverBudget { .. }), "{e}");
    assert!(
        leakgate_record::error_text(&e).contains("crafted or corrupt"),
        "{e}"
    );
    // A real heap's trace, nodes and references, stays far below it.
    let dump = read_gc_heap(node_flood(100).as_slice()).unwrap();
    assert_eq!(dump.nodes.len(), 100 * 500);
}
