//! The stream reader on synthetic traces: every layer, good and bad input.

use super::synth::{NettraceBuilder, SynthEvent};
use super::*;

/// Each event as (metadata, header, payload).
type ReadEvent = (EventMetadata, EventHeader, Vec<u8>);

fn read_all(bytes: &[u8]) -> Result<(Vec<ReadEvent>, u64), NettraceError> {
    let mut stream = EventStream::new(bytes)?;
    let mut out = Vec::new();
    while let Some(e) = stream.next_event()? {
        out.push((e.metadata.clone(), e.header, e.payload.to_vec()));
    }
    Ok((out, stream.dropped_events()))
}

fn two_kinds() -> NettraceBuilder {
    let mut t = NettraceBuilder::with_trace(8, 99);
    t.metadata(1, "Prov-A", 10, "First", 0);
    t.metadata(2, "Prov-B", 20, "", 3);
    t
}

#[test]
fn the_trace_object_is_read() {
    let bytes = NettraceBuilder::with_trace(4, 77).finish();
    let stream = EventStream::new(bytes.as_slice()).unwrap();
    let trace = stream.trace();
    assert_eq!((trace.pointer_size, trace.process_id), (4, 77));
    assert_eq!(trace.version, 4);
    assert_eq!(trace.tick_frequency, 1_000_000_000);
    assert_eq!(trace.sync_time_utc[0], 2026);
}

#[test]
fn an_empty_trace_has_no_events_and_ends_cleanly() {
    let bytes = NettraceBuilder::new().finish();
    let mut stream = EventStream::new(bytes.as_slice()).unwrap();
    assert!(stream.next_event().unwrap().is_none());
    assert!(stream.is_at_end());
    assert_eq!(stream.offset(), bytes.len() as u64);
    // Asking again after the end stays at the end.
    assert!(stream.next_event().unwrap().is_none());
}

#[test]
fn compressed_headers_round_trip_every_field() {
    let mut a = SynthEvent::new(1, 1, 0x10, vec![1, 2, 3]);
    a.thread_id = 0x99; // logged about another thread
    a.stack_id = 5;
    a.activity_id = [7; 16];
    a.is_sorted = true;
    let b = SynthEvent::new(1, 2, 0x10, vec![4, 5, 6]); // same size: size omitted
    let mut c = SynthEvent::new(2, 9, 0x20, vec![]); // another thread, another kind
    c.related_activity_id = [3; 16];
    c.processor_number = 1;
    c.timestamp = 5; // earlier than b: deltas wrap
    let mut d = SynthEvent::new(2, 10, 0x20, vec![8; 300]); // multi-byte varint size
    d.related_activity_id = [3; 16];
    d.processor_number = 1;
    d.timestamp = 1 << 40;
    let mut trace = two_kinds();
    trace.events(&[a.clone(), b.clone(), c.clone(), d.clone()]);
    let (events, dropped) = read_all(&trace.finish()).unwrap();
    assert_eq!(dropped, 0);
    assert_eq!(events.len(), 4);
    for ((meta, h, payload), want) in events.iter().zip([&a, &b, &c, &d]) {
        assert_eq!(meta.metadata_id, want.metadata_id);
        assert_eq!(h.sequence_number, want.sequence_number);
        assert_eq!(h.thread_id, want.thread_id);
        assert_eq!(h.capture_thread_id, want.capture_thread_id);
        assert_eq!(h.processor_number, want.processor_number);
        assert_eq!(h.stack_id, want.stack_id);
        assert_eq!(h.timestamp, want.timestamp);
        assert_eq!(h.activity_id, want.activity_id);
        assert_eq!(h.related_activity_id, want.related_activity_id);
        assert_eq!(h.is_sorted, want.is_sorted);
        assert_eq!(payload, &want.payload);
    }
    assert_eq!(
        (events[0].0.provider.as_str(), events[0].0.event_id),
        ("Prov-A", 10)
    );
    assert_eq!(events[0].0.event_name, "First");
    assert_eq!(
        (events[2].0.provider.as_str(), events[2].0.version),
        ("Prov-B", 3)
    );
}

#[test]
fn each_block_starts_from_a_zeroed_previous_header() {
    // If the decoder carried state across blocks, the second block's first
    // event (whose fields equal the previous block's last) would be misread.
    let mut trace = two_kinds();
    trace.events(&[SynthEvent::new(2, 1, 0x30, vec![9, 9])]);
    trace.events(&[SynthEvent::new(2, 2, 0x30, vec![9, 9])]);
    let (events, dropped) = read_all(&trace.finish()).unwrap();
    assert_eq!(dropped, 0);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].1.capture_thread_id, 0x30);
    assert_eq!(events[1].1.sequence_number, 2);
    assert_eq!(events[1].2, [9, 9]);
}

#[test]
fn uncompressed_headers_are_read_with_their_padding() {
    let mut trace = two_kinds();
    let mut odd = SynthEvent::new(1, 1, 0x10, vec![1, 2, 3]); // 3 bytes: padding follows
    odd.is_sorted = true;
    trace.events_uncompressed(&[odd, SynthEvent::new(2, 2, 0x10, vec![4])]);
    let (events, dropped) = read_all(&trace.finish()).unwrap();
    assert_eq!(dropped, 0);
    assert_eq!(events.len(), 2);
    assert!(events[0].1.is_sorted);
    assert_eq!(events[0].2, [1, 2, 3]);
    assert_eq!(
        (events[1].0.event_id, events[1].2.as_slice()),
        (20, &[4u8][..])
    );
}

#[test]
fn stack_blocks_are_skipped() {
    let mut trace = two_kinds();
    trace.stack_block(1, &[vec![0x1000, 0x2000], vec![]]);
    trace.events(&[SynthEvent::new(1, 1, 1, vec![])]);
    let (events, _) = read_all(&trace.finish()).unwrap();
    assert_eq!(events.len(), 1);
}

#[test]
fn sequence_gaps_and_sequence_points_count_dropped_events() {
    let mut trace = two_kinds();
    trace.events(&[
        SynthEvent::new(1, 1, 0x10, vec![]),
        SynthEvent::new(1, 2, 0x10, vec![]),
        SynthEvent::new(1, 5, 0x10, vec![]), // 3 and 4 lost
        SynthEvent::new(1, 1, 0x20, vec![]),
    ]);
    trace.sequence_point(&[(0x10, 5), (0x20, 4)]); // 2 and 3 of 0x20 lost, unseen
    let (events, dropped) = read_all(&trace.finish()).unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(dropped, 2 + 3);
}

#[test]
fn a_clean_stream_with_sequence_points_drops_nothing() {
    let mut trace = two_kinds();
    trace.events(&[
        SynthEvent::new(1, 1, 0x10, vec![]),
        SynthEvent::new(1, 2, 0x10, vec![]),
    ]);
    trace.sequence_point(&[(0x10, 2)]);
    trace.events(&[SynthEvent::new(1, 3, 0x10, vec![])]);
    trace.sequence_point(&[(0x10, 3), (0x77, 1)]);
    assert_eq!(read_all(&trace.finish()).unwrap().1, 0);
}

fn err(bytes: &[u8]) -> NettraceError {
    match read_all(bytes) {
        Err(e) => e,
        Ok(events) => panic!("expected an error, read {events:?}"),
    }
}

#[test]
fn not_a_nettrace_stream_is_refused_at_offset_0() {
    let e = err(b"MINIDUMP and more bytes here");
    assert!(
        matches!(e, NettraceError::Malformed { offset: 0, .. }),
        "{e}"
    );
    assert!(
        leakgate_record::error_text(&e).contains("not a nettrace stream"),
        "{e}"
    );
}

#[test]
fn a_v6_stream_is_refused_as_unsupported() {
    let mut bytes = b"Nettrace".to_vec();
    bytes.extend([0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
    let e = err(&bytes);
    assert!(
        matches!(e, NettraceError::Unsupported { offset: 8, .. }),
        "{e}"
    );
    assert!(leakgate_record::error_text(&e).contains("version 6"), "{e}");
}

#[test]
fn a_wrong_serialization_header_is_malformed() {
    let mut bytes = NettraceBuilder::new().finish();
    bytes[12] = b'?';
    assert!(matches!(
        err(&bytes),
        NettraceError::Malformed { offset: 12, .. }
    ));
}

#[test]
fn every_cut_of_a_trace_is_an_error_with_the_offset_of_the_cut() {
    let mut trace = two_kinds();
    trace.events(&[SynthEvent::new(1, 1, 0x10, vec![1, 2, 3, 4, 5])]);
    trace.sequence_point(&[(0x10, 1)]);
    let bytes = trace.finish();
    for cut in 0..bytes.len() {
        let e = err(&bytes[..cut]);
        assert!(
            matches!(e, NettraceError::Truncated { offset, .. } if offset <= cut as u64),
            "cut at {cut}: {e}"
        );
    }
}

#[test]
fn an_absurd_block_size_is_refused_before_reading_it() {
    let mut trace = two_kinds();
    let size_at = trace.len() + 3 + 8 + 4 + "EventBlock".len() + 1;
    trace.events(&[SynthEvent::new(1, 1, 0x10, vec![])]);
    let mut bytes = trace.finish();
    bytes[size_at..size_at + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let e = err(&bytes);
    assert!(
        matches!(&e, NettraceError::Malformed { offset, problem } if *offset == size_at as u64 && problem.contains("limit")),
        "{e}"
    );
}

#[test]
fn an_unknown_object_type_is_unsupported() {
    let mut trace = two_kinds();
    trace.block("FancyBlock", &[1, 2, 3, 4]);
    let e = err(&trace.finish());
    assert!(
        matches!(&e, NettraceError::Unsupported { problem, .. } if problem.contains("FancyBlock")),
        "{e}"
    );
}

#[test]
fn a_second_trace_object_is_malformed() {
    let mut trace = two_kinds();
    trace.block("Trace", &[]);
    assert!(matches!(
        err(&trace.finish()),
        NettraceError::Malformed { .. }
    ));
}

#[test]
fn an_event_of_undefined_metadata_is_malformed() {
    let mut trace = two_kinds();
    trace.events(&[SynthEvent::new(3, 1, 0x10, vec![])]);
    let e = err(&trace.finish());
    assert!(
        leakgate_record::error_text(&e).contains("metadata id 3"),
        "{e}"
    );
}

#[test]
fn a_payload_longer_than_its_block_is_truncated() {
    let mut trace = two_kinds();
    trace.events(&[SynthEvent::new(1, 1, 0x10, vec![0; 10])]);
    let mut bytes = trace.finish();
    // The payload size varint (10) sits right before the payload's 10 zero bytes.
    let at = bytes.len() - 1 - 1 - 10 - 1;
    assert_eq!(bytes[at], 10);
    bytes[at] = 100;
    assert!(matches!(
        err(&bytes),
        NettraceError::Truncated {
            what: "an event payload",
            ..
        }
    ));
}

#[test]
fn a_missing_end_tag_after_a_block_is_malformed() {
    let mut trace = two_kinds();
    trace.events(&[SynthEvent::new(1, 1, 0x10, vec![])]);
    let mut bytes = trace.finish();
    let end_tag = bytes.len() - 2;
    assert_eq!(bytes[end_tag], format::tag::END_OBJECT);
    bytes[end_tag] = 0x42;
    let e = err(&bytes);
    assert!(
        matches!(e, NettraceError::Malformed { offset, .. } if offset == end_tag as u64),
        "{e}"
    );
}

#[test]
fn a_block_header_larger_than_its_block_is_malformed() {
    let mut trace = two_kinds();
    let mut body = vec![0xFF, 0x00]; // header size 255
    body.extend([0; 18]);
    trace.block("EventBlock", &body);
    assert!(matches!(
        err(&trace.finish()),
        NettraceError::Malformed { .. }
    ));
}

#[test]
fn a_sequence_point_cannot_claim_more_threads_than_it_holds() {
    let mut trace = two_kinds();
    let mut body = 0i64.to_le_bytes().to_vec();
    body.extend(u32::MAX.to_le_bytes());
    trace.block("SPBlock", &body);
    let e = err(&trace.finish());
    assert!(leakgate_record::error_text(&e).contains("threads"), "{e}");
}
