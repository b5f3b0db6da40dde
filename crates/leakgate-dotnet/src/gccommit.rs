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

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::gcheap::events::RUNTIME_PROVIDER;
use crate::nettrace::Event;

/// `GCDynamicEvent`'s id within [`RUNTIME_PROVIDER`].
pub const GC_DYNAMIC_EVENT: u32 = 39;
/// The dynamic event's name whose data is a [`GcCommitted`].
const NAME: &str = "CommittedUsage";

/// Bytes the GC had committed at the end of a GC, by what holds them.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq, JsonSchema)]
pub struct GcCommitted {
    /// Regions in use by the small, large and pinned object heaps.
    pub in_use: u64,
    /// Free regions each heap keeps for its next allocations.
    pub in_free: u64,
    /// Free regions in the GC's global free lists.
    pub in_global_free: u64,
    /// Regions queued to be decommitted.
    pub in_global_decommit: u64,
    /// The GC's bookkeeping: card tables, brick tables, mark arrays.
    pub bookkeeping: u64,
}

impl GcCommitted {
    /// All bytes the GC has committed.
    pub fn total(&self) -> u64 {
        self.in_use
            .saturating_add(self.free())
            .saturating_add(self.bookkeeping)
    }

    /// Committed but holding no objects: free regions, wherever they wait.
    pub fn free(&self) -> u64 {
        self.in_free
            .saturating_add(self.in_global_free)
            .saturating_add(self.in_global_decommit)
    }

    /// The accounting in `event`, if it is a `CommittedUsage` event.
    pub fn from_event(event: &Event<'_>) -> Option<GcCommitted> {
        if event.metadata.provider != RUNTIME_PROVIDER
            || event.metadata.event_id != GC_DYNAMIC_EVENT
        {
            return None;
        }
        parse_committed_usage(event.payload)
    }
}

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
