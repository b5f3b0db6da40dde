//! Truncated or corrupted traces give an error, never a panic, and reading
//! them takes memory in proportion to the input, whatever sizes and counts
//! the bytes announce.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use leakgate_dotnet::gcheap::{
    GcHeapDump, GcHeapError, read_gc_heap, read_nettrace, synth::HeapTrace,
};
use proptest::prelude::*;

/// Counts this thread's live and peak heap bytes (tests run on several threads).
struct CountingAllocator;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only adds bookkeeping in
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let _ = LIVE.try_with(|live| {
                live.set(live.get() + layout.size());
                let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
            });
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(layout.size())));
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Reads `bytes`, returning the result and the peak bytes allocated meanwhile.
fn read_measured(bytes: &[u8]) -> (Result<GcHeapDump, GcHeapError>, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let result = read_gc_heap(bytes);
    let peak = PEAK.with(Cell::get) - base;
    (result, peak)
}

/// What reading may allocate: a fixed part (buffers, tables) plus a few
/// times the input (the snapshot itself is of the order of the input).
fn memory_bound(input_len: usize) -> usize {
    (1 << 20) + 32 * input_len
}

fn sample_trace() -> Vec<u8> {
    let mut heap = HeapTrace::new()
        .finalizable_type("App.Resource")
        .generation_range(2, 0x1000, 0x8000, 0x40_0000)
        .nodes_per_batch(4)
        .events_per_block(3);
    for i in 0..12u64 {
        let address = 0x1000 + 0x40 * i;
        let name = if i % 3 == 0 {
            "App.Resource"
        } else {
            "App.Node"
        };
        heap = heap.object(address, 0x40, name, &[address + 0x40]);
    }
    heap.stack_root(0x1000)
        .finalizer_root(0x10C0)
        .static_root(0x1040, "App.Node", "s_head")
        .dependent_handle(0x1080, 0x1100)
        .build()
}

#[test]
fn the_sample_trace_itself_reads_cleanly() {
    let (result, peak) = read_measured(&sample_trace());
    let dump = result.expect("the sample trace reads");
    assert_eq!(dump.nodes.len(), 12);
    assert!(dump.is_complete());
    assert!(peak < memory_bound(sample_trace().len()), "{peak} bytes");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_truncation_is_an_error(cut in 0usize..10_000) {
        let bytes = sample_trace();
        let cut = cut % bytes.len();
        let (result, peak) = read_measured(&bytes[..cut]);
        prop_assert!(result.is_err(), "a trace cut at {} of {} bytes was accepted", cut, bytes.len());
        prop_assert!(peak < memory_bound(cut), "{} bytes for a {}-byte input", peak, cut);
    }

    #[test]
    fn corrupted_bytes_never_panic_and_stay_bounded(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = sample_trace();
        for (at, value) in &flips {
            let i = at.index(bytes.len());
            bytes[i] = *value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        let (result, peak) = read_measured(&bytes);
        prop_assert!(peak < memory_bound(bytes.len()), "{} bytes for a {}-byte input", peak, bytes.len());
        if let Err(e) = result {
            // Errors say what is wrong; parse errors say where.
            prop_assert!(!leakgate_record::error_text(&e).is_empty());
        }
    }

    #[test]
    fn large_announced_sizes_and_counts_allocate_little(
        at in any::<prop::sample::Index>(),
        value in prop_oneof![Just(u32::MAX), Just(0x7fff_ffff), Just(16 << 20), Just(1 << 20), any::<u32>()],
    ) {
        // Overwrite an aligned 4-byte field anywhere with a huge number: block
        // sizes, counts, string lengths, sequence numbers all get hit.
        let mut bytes = sample_trace();
        let i = at.index(bytes.len() - 4);
        bytes[i..i + 4].copy_from_slice(&value.to_le_bytes());
        let (_, peak) = read_measured(&bytes);
        prop_assert!(peak < memory_bound(bytes.len()), "{} bytes for a {}-byte input", peak, bytes.len());
    }

    #[test]
    fn a_damaged_gzip_file_is_an_error_or_the_same_trace(
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        use std::io::Write;
        let trace = sample_trace();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&trace).unwrap();
        let mut bytes = encoder.finish().unwrap();
        for (at, mask) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.nettrace.gz");
        std::fs::write(&path, &bytes).unwrap();
        let base = LIVE.with(Cell::get);
        PEAK.with(|p| p.set(base));
        let result = read_nettrace(&path);
        let peak = PEAK.with(Cell::get) - base;
        // Buffers (file, decoder, inflater) are fixed; the trace is small.
        prop_assert!(peak < memory_bound(bytes.len()), "{} bytes for a {}-byte file", peak, bytes.len());
        match result {
            // The CRC covers every decompressed byte: what still reads (a
            // flip in the gzip header's time stamp, say) is the same trace.
            Ok(dump) => prop_assert_eq!(dump.nodes.len(), 12),
            Err(e) => prop_assert!(leakgate_record::error_text(&e).contains("damaged.nettrace.gz"), "{}", e),
        }
    }

    #[test]
    fn random_bytes_after_a_valid_header_are_refused_without_panic(
        tail in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = sample_trace();
        bytes.truncate(100); // magic, serialization header, Trace object and a bit
        bytes.extend(tail);
        let (result, peak) = read_measured(&bytes);
        prop_assert!(result.is_err());
        prop_assert!(peak < memory_bound(bytes.len()));
    }
}
