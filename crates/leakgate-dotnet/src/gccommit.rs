//! The GC's own account of the memory it has committed: the `CommittedUsage`
//! event the runtime logs at the start and end of each blocking GC.
//!
//! The GC's in-use ranges (ClrMD segments, or a snapshot's generation
//! ranges) miss what it keeps committed besides: free regions waiting for
//! reuse or decommit, and its bookkeeping (card tables, mark arrays). This
//! event counts them all, so leakgate can attribute every byte the GC holds
//! to the GC and leave `committed.native` truly native.
//!
//! ```
//! use leakgate_dotnet::gccommit::{GcCommitted, parse_committed_usage};
//!
//! let c = GcCommitted { in_use: 12 << 20, in_free: 1 << 20, bookkeeping: 1 << 18, ..Default::default() };
//! let payload = leakgate_dotnet::gcheap::synth::committed_usage(&c);
//! assert_eq!(parse_committed_usage(&payload), Some(c));
//! assert_eq!(c.total(), (13 << 20) + (1 << 18));
//! ```
//!
//! The event is `GCDynamicEvent` (id 39, keyword GC, level Informational):
//! a UTF-16 name, `u32` data size, the data, `u16` ClrInstanceID. Other
//! dynamic events (`SizeAdaptationSample`, ...) share the id and are
//! ignored here. Runtimes before .NET 8 do not log it: callers get `None`.
//!
//! The same session carries `GCHeapStats` (id 4) at the end of every GC:
//! each generation's size and the bytes that survived in it. After a
//! blocking full GC the survivors are the live managed bytes — `gc.live`
//! without reading the heap ([`GcHeapStats::live`]). [`GcAccount`] reads
//! both from a session's events, keeping the heap statistics of blocking
//! full GCs only (a gen0 GC's survivors are not the heap's).

use crate::gcheap::events::{RUNTIME_PROVIDER, event_id, gc_start, gc_type};
use crate::nettrace::Event;

/// `GCDynamicEvent`'s id within [`RUNTIME_PROVIDER`].
pub const GC_DYNAMIC_EVENT: u32 = 39;
/// `GCHeapStats`' id within [`RUNTIME_PROVIDER`].
pub const GC_HEAP_STATS: u32 = 4;
/// The dynamic event's name whose data is a [`GcCommitted`].
const NAME: &str = "CommittedUsage";

pub use leakgate_record::gc::{GcAccount, GcCommitted, GcHeapStats};

/// Decodes a `GCDynamicEvent` payload named `CommittedUsage` (data version
/// 1: `i16` version, then five `u64`: in use, in global decommit, in free,
/// in global free, bookkeeping). Another name, or a short or garbled
/// payload, gives `None`; later versions may append fields.
pub fn parse_committed_usage(payload: &[u8]) -> Option<GcCommitted> {
    let (name, rest) = payload.split_at_checked((NAME.len() + 1) * 2)?;
    let units = name
        .chunks_exact(2)
        .map(|u| u16::from_le_bytes([u[0], u[1]]));
    if !units.eq(NAME.encode_utf16().chain([0])) {
        return None;
    }
    let (size, rest) = rest.split_first_chunk::<4>()?;
    let mut data = rest.get(..u32::from_le_bytes(*size) as usize)?;
    let (version, fields) = data.split_first_chunk::<2>()?;
    if i16::from_le_bytes(*version) < 1 {
        return None;
    }
    data = fields;
    let mut next = || {
        let (value, rest) = data.split_first_chunk::<8>()?;
        data = rest;
        Some(u64::from_le_bytes(*value))
    };
    let in_use = next()?;
    let in_global_decommit = next()?;
    let in_free = next()?;
    let in_global_free = next()?;
    let bookkeeping = next()?;
    Some(GcCommitted {
        in_use,
        in_free,
        in_global_free,
        in_global_decommit,
        bookkeeping,
    })
}

/// Decodes a `GCHeapStats` payload: four (size, survived) pairs for gen0,
/// gen1, gen2 and the large object heap, the finalization-promoted bytes
/// and count (`u64`), pinned objects, sync blocks, GC handles (`u32`),
/// ClrInstanceID (`u16`), then from V2 the pinned object heap's pair. A
/// short payload gives `None`; one without the V2 pair leaves it 0.
pub fn parse_heap_stats(payload: &[u8]) -> Option<GcHeapStats> {
    let mut data = payload;
    let mut u64_ = || {
        let (v, rest) = data.split_first_chunk::<8>()?;
        data = rest;
        Some(u64::from_le_bytes(*v))
    };
    let mut s = GcHeapStats::default();
    for g in 0..4 {
        s.generation_sizes[g] = u64_()?;
        s.survived[g] = u64_()?;
    }
    s.finalization_promoted_bytes = u64_()?;
    s.finalization_promoted_count = u64_()?;
    let (counts, rest) = data.split_first_chunk::<14>()?;
    let u32_at =
        |i: usize| u32::from_le_bytes([counts[i], counts[i + 1], counts[i + 2], counts[i + 3]]);
    s.pinned_objects = u32_at(0);
    s.gc_handles = u32_at(8);
    if let Some((size, rest)) = rest.split_first_chunk::<8>()
        && let Some((survived, _)) = rest.split_first_chunk::<8>()
    {
        s.generation_sizes[4] = u64::from_le_bytes(*size);
        s.survived[4] = u64::from_le_bytes(*survived);
    }
    Some(s)
}

/// Builds a [`GcAccount`] from a session's events, one at a time. Events
/// come per capture thread in order but not sorted across threads (the GC
/// may log its start on one thread and its statistics on another), so they
/// are placed by timestamp, not by their place in the stream.
#[derive(Debug, Default)]
pub struct GcAccountReader {
    /// (timestamp, a blocking full GC) of each GC start.
    starts: Vec<(i64, bool)>,
    stats: Vec<(i64, GcHeapStats)>,
    committed: Option<(i64, GcCommitted)>,
}

impl GcAccountReader {
    pub fn event(&mut self, event: &Event<'_>) {
        let (m, at) = (event.metadata, event.header.timestamp);
        if m.provider != RUNTIME_PROVIDER {
            return;
        }
        match m.event_id {
            event_id::GC_START => {
                let full_blocking = gc_start(event.payload, event.payload_offset, m.version)
                    .is_ok_and(|g| g.depth == 2 && g.gc_type == gc_type::NON_CONCURRENT);
                self.starts.push((at, full_blocking));
            }
            GC_HEAP_STATS => {
                if let Some(stats) = parse_heap_stats(event.payload) {
                    self.stats.push((at, stats));
                }
            }
            GC_DYNAMIC_EVENT => {
                if let Some(c) = parse_committed_usage(event.payload)
                    && self.committed.is_none_or(|(t, _)| at >= t)
                {
                    self.committed = Some((at, c));
                }
            }
            _ => {}
        }
    }

    /// The latest committed count, and the statistics of the latest GC
    /// that started blocking and full (the last start before them).
    pub fn finish(mut self) -> GcAccount {
        // Sorted once (stable: of starts at the same time the last read
        // counts), each statistic finds its start by binary search: a trace
        // of many GCs costs n log n, not a scan of every start per statistic.
        self.starts.sort_by_key(|&(t, _)| t);
        let full_blocking = |at: i64| {
            let before = self.starts.partition_point(|&(t, _)| t <= at);
            before > 0 && self.starts[before - 1].1
        };
        let heap = self
            .stats
            .iter()
            .filter(|(at, _)| full_blocking(*at))
            .max_by_key(|(at, _)| *at)
            .map(|(_, s)| *s);
        GcAccount {
            committed: self.committed.map(|(_, c)| c),
            heap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload as .NET 10 writes it, field by field.
    fn real_shaped(name: &str, version: i16, fields: [u64; 5]) -> Vec<u8> {
        let mut p: Vec<u8> = name
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect();
        p.extend_from_slice(&42u32.to_le_bytes()); // DataSize
        p.extend_from_slice(&version.to_le_bytes());
        for f in fields {
            p.extend_from_slice(&f.to_le_bytes());
        }
        p.extend_from_slice(&0u16.to_le_bytes()); // ClrInstanceID
        p
    }

    /// Seen in a gcdump trace of the fixture service: 11.5 MiB in use,
    /// 12 KiB free, 336 KiB bookkeeping.
    const OBSERVED: [u64; 5] = [0xb8_2000, 0, 0x3000, 0, 0x5_4000];

    #[test]
    fn the_observed_event_reads_field_by_field() {
        let payload = real_shaped("CommittedUsage", 1, OBSERVED);
        assert_eq!(payload.len(), 30 + 4 + 42 + 2);
        let c = parse_committed_usage(&payload).unwrap();
        assert_eq!(
            c,
            GcCommitted {
                in_use: 0xb8_2000,
                in_free: 0x3000,
                in_global_free: 0,
                in_global_decommit: 0,
                bookkeeping: 0x5_4000,
            }
        );
        assert_eq!(c.total(), 0xb8_2000 + 0x3000 + 0x5_4000);
        assert_eq!(c.free(), 0x3000);
    }

    #[test]
    fn fields_keep_their_wire_order() {
        let c = parse_committed_usage(&real_shaped("CommittedUsage", 1, [1, 2, 3, 4, 5])).unwrap();
        assert_eq!(
            (
                c.in_use,
                c.in_global_decommit,
                c.in_free,
                c.in_global_free,
                c.bookkeeping
            ),
            (1, 2, 3, 4, 5)
        );
        assert_eq!(c.total(), 15);
    }

    #[test]
    fn other_dynamic_events_are_not_committed_usage() {
        for name in ["SizeAdaptationSample", "CommittedUsagf", "Committed", ""] {
            assert_eq!(
                parse_committed_usage(&real_shaped(name, 1, OBSERVED)),
                None,
                "{name}"
            );
        }
        assert_eq!(
            parse_committed_usage(&real_shaped("CommittedUsage", 0, OBSERVED)),
            None
        );
    }

    #[test]
    fn every_truncation_and_a_lying_size_give_none() {
        let payload = real_shaped("CommittedUsage", 1, OBSERVED);
        // Without the trailing ClrInstanceID the data is still whole.
        for len in 0..payload.len() - 2 {
            assert_eq!(parse_committed_usage(&payload[..len]), None, "{len} bytes");
        }
        let mut lying = payload.clone();
        lying[30..34].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse_committed_usage(&lying), None);
        let mut short = payload;
        short[30..34].copy_from_slice(&10u32.to_le_bytes());
        assert_eq!(parse_committed_usage(&short), None);
    }

    #[test]
    fn heap_stats_read_field_by_field_in_both_versions() {
        let s = GcHeapStats {
            generation_sizes: [1, 2, 3, 4, 5],
            survived: [10, 20, 30, 40, 50],
            finalization_promoted_bytes: 6,
            finalization_promoted_count: 7,
            pinned_objects: 8,
            gc_handles: 9,
        };
        let v2 = crate::gcheap::synth::heap_stats(&s);
        assert_eq!(v2.len(), 8 * 10 + 4 * 3 + 2 + 8 * 2);
        assert_eq!(parse_heap_stats(&v2), Some(s));
        assert_eq!((s.live(), s.heap_size()), (10 + 20 + 30 + 40 + 5, 15));
        // V1 (before the pinned object heap): its pair is 0.
        let v1 = &v2[..v2.len() - 16];
        let old = parse_heap_stats(v1).unwrap();
        assert_eq!(
            (old.survived[4], old.generation_sizes[4], old.live()),
            (0, 0, 100)
        );
        for len in 0..v1.len() {
            assert_eq!(parse_heap_stats(&v2[..len]), None, "{len} bytes");
        }
    }

    #[test]
    fn the_account_places_events_by_time_not_by_stream_order() {
        use crate::gcheap::events::gc_type::{BACKGROUND, NON_CONCURRENT};
        use crate::gcheap::synth;
        use crate::nettrace::{EventHeader, EventMetadata};
        let meta = |event_id, version| EventMetadata {
            metadata_id: 1,
            provider: RUNTIME_PROVIDER.into(),
            event_id,
            event_name: String::new(),
            keywords: 1,
            version,
            level: 4,
        };
        let (start, stats, dynamic) = (
            meta(event_id::GC_START, 2),
            meta(GC_HEAP_STATS, 2),
            meta(GC_DYNAMIC_EVENT, 0),
        );
        let heap = |live: u64| GcHeapStats {
            survived: [0, 0, live, 0, 0],
            ..GcHeapStats::default()
        };
        let used = |in_use: u64| GcCommitted {
            in_use,
            ..GcCommitted::default()
        };
        // (time, event, payload): the induced full GC at 10–13, a background
        // GC at 20–23; the GC's start and its end logged by other threads.
        let events = [
            (12, &stats, synth::heap_stats(&heap(500))),
            (13, &dynamic, synth::committed_usage(&used(5))),
            (22, &stats, synth::heap_stats(&heap(7))),
            (11, &dynamic, synth::committed_usage(&used(4))),
            (10, &start, synth::gc_start(1, 2, 1, NON_CONCURRENT)),
            (20, &start, synth::gc_start(2, 2, 0, BACKGROUND)),
            (23, &dynamic, synth::committed_usage(&used(9))),
            (21, &dynamic, synth::committed_usage(&used(8))),
        ];
        let mut reader = GcAccountReader::default();
        for (timestamp, metadata, payload) in &events {
            reader.event(&Event {
                metadata,
                header: EventHeader {
                    timestamp: *timestamp,
                    ..EventHeader::default()
                },
                payload,
                offset: 0,
                payload_offset: 0,
            });
        }
        let account = reader.finish();
        assert_eq!(account.heap, Some(heap(500)));
        assert_eq!(account.committed, Some(used(9)));
        assert_eq!(GcAccountReader::default().finish(), GcAccount::default());
    }

    #[test]
    fn a_later_version_with_more_fields_still_reads() {
        let mut payload = real_shaped("CommittedUsage", 2, OBSERVED);
        payload[30..34].copy_from_slice(&50u32.to_le_bytes());
        payload.splice(76..76, 7u64.to_le_bytes());
        assert_eq!(
            parse_committed_usage(&payload).map(|c| c.in_use),
            Some(0xb8_2000)
        );
    }
}
