//! `!address -summary` as data: counts and sizes per usage, type and state,
//! plus committed / resident / private-dirty bytes per usage with stable
//! keys for the gate. Rendering lives in [`crate::render`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Region, RegionMap, RegionState, RegionType, SourceKind, Usage};

/// One line of a WinDbg summary section.
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Debug, PartialEq)]
pub struct Row {
    /// As WinDbg prints it: `<unknown>`, `Stack`, `MEM_PRIVATE`, `MEM_COMMIT`.
    pub name: String,
    pub region_count: u64,
    pub total_size: u64,
    /// Percent of busy (committed + reserved) bytes; `None` for free rows,
    /// which WinDbg leaves blank.
    pub pct_busy: Option<f64>,
    /// Percent of all listed bytes (busy + free).
    pub pct_total: f64,
}

/// A region map boiled down to what reports and budgets need.
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Debug, PartialEq)]
pub struct MemorySummary {
    pub source: SourceKind,
    /// Free first, then busy usages by size, largest first.
    pub by_usage: Vec<Row>,
    /// Busy regions only (`MEM_PRIVATE`, `MEM_IMAGE`, `MEM_MAPPED`), largest first.
    pub by_type: Vec<Row>,
    /// `MEM_FREE` first, then `MEM_RESERVE` / `MEM_COMMIT`, largest first.
    pub by_state: Vec<Row>,
    /// Committed bytes per usage; always all eight busy keys
    /// (`unknown`, `gc_heap`, `image`, `stack`, `heap`, `teb`, `peb`, `other`).
    #[serde(serialize_with = "by_key")]
    #[schemars(with = "BTreeMap<String, u64>")]
    pub committed_by_usage: BTreeMap<Usage, u64>,
    /// Resident bytes per usage (same keys); empty when the source has none.
    #[serde(serialize_with = "by_key")]
    #[schemars(with = "BTreeMap<String, u64>")]
    pub resident_by_usage: BTreeMap<Usage, u64>,
    /// Private dirty bytes per usage (same keys); empty when unknown.
    #[serde(serialize_with = "by_key")]
    #[schemars(with = "BTreeMap<String, u64>")]
    pub private_dirty_by_usage: BTreeMap<Usage, u64>,
    pub committed_total: u64,
    pub resident_total: Option<u64>,
    pub notes: Vec<String>,
    /// What [`MemorySummary::attribute_gc_committed`] moved from Unknown to
    /// the GC heap, when it moved anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_attribution: Option<GcAttribution>,
    /// Committed bytes of the runtime's own heaps — JIT'd code, stubs,
    /// loader heaps ([`crate::classify::is_runtime_heap`]) — part of
    /// Unknown; `None` where they cannot be told apart (a Windows dump,
    /// write-xor-execute off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_heaps: Option<u64>,
}

/// GC-committed bytes that no in-use range names (free regions,
/// bookkeeping), attributed to the GC heap from the runtime's own count.
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcAttribution {
    /// Bytes moved from Unknown to the GC heap.
    pub moved: u64,
    /// The runtime's count of the GC's committed bytes.
    pub gc_total: u64,
    /// Unknown held less than the count asked for: all of it moved.
    pub capped: bool,
}

/// A usage map written with its keys in the order of their names (how the
/// files have always listed them), not of the enum.
fn by_key<S: serde::Serializer>(map: &BTreeMap<Usage, u64>, s: S) -> Result<S::Ok, S::Error> {
    let mut entries: Vec<(&str, &u64)> = map.iter().map(|(u, v)| (u.key(), v)).collect();
    entries.sort_unstable_by_key(|(k, _)| *k);
    s.collect_map(entries)
}

impl MemorySummary {
    /// Committed bytes of one usage (0 when the source has none).
    pub fn committed(&self, usage: Usage) -> u64 {
        self.committed_by_usage.get(&usage).copied().unwrap_or(0)
    }

    /// Attributes to the GC heap what the GC has committed beyond the ranges
    /// [`RegionMap::split_gc`] already moved there: free regions and
    /// bookkeeping, which no range names. `gc_total` is the runtime's own
    /// count of the GC's committed bytes; the difference moves from Unknown
    /// to GcHeap, capped at what Unknown holds, and [`MemorySummary::gc_attribution`]
    /// says how much. Returns the bytes moved.
    ///
    /// Only committed bytes and the usage rows move: which pages of Unknown
    /// these are is not known, so resident and private-dirty bytes stay.
    pub fn attribute_gc_committed(&mut self, gc_total: u64) -> u64 {
        let (ranged, unknown) = (
            self.committed(Usage::GcHeap),
            self.committed(Usage::Unknown),
        );
        let moved = gc_total.saturating_sub(ranged).min(unknown);
        if moved == 0 {
            return 0;
        }
        self.committed_by_usage
            .insert(Usage::Unknown, unknown - moved);
        self.committed_by_usage
            .insert(Usage::GcHeap, ranged + moved);
        self.move_row_bytes(Usage::Unknown, Usage::GcHeap, moved);
        self.gc_attribution = Some(GcAttribution {
            moved,
            gc_total,
            capped: moved < gc_total - ranged,
        });
        moved
    }

    /// Moves `bytes` from one usage row (which holds them) to another
    /// (made if missing), keeping the percentages and the row order right.
    fn move_row_bytes(&mut self, from: Usage, to: Usage, bytes: u64) {
        let (from, to) = (from.windbg_name(), to.windbg_name());
        if !self.by_usage.iter().any(|r| r.name == to) {
            self.by_usage.push(Row {
                name: to.into(),
                region_count: 0,
                total_size: 0,
                pct_busy: Some(0.0),
                pct_total: 0.0,
            });
        }
        for r in &mut self.by_usage {
            if r.name == from {
                r.total_size = r.total_size.saturating_sub(bytes);
            } else if r.name == to {
                r.total_size = r.total_size.saturating_add(bytes);
            }
        }
        let busy: u64 = self
            .by_usage
            .iter()
            .filter(|r| r.pct_busy.is_some())
            .map(|r| r.total_size)
            .sum();
        let all: u64 = self.by_usage.iter().map(|r| r.total_size).sum();
        for r in &mut self.by_usage {
            r.pct_busy = r.pct_busy.map(|_| pct(r.total_size, busy));
            r.pct_total = pct(r.total_size, all);
        }
        // Free first, then largest first, as `summary` orders them.
        self.by_usage.sort_by(|a, b| {
            a.pct_busy
                .is_some()
                .cmp(&b.pct_busy.is_some())
                .then(b.total_size.cmp(&a.total_size))
        });
    }
}

/// `part` in percent of `whole` (0 for nothing).
fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[derive(Default, Clone, Copy)]
struct Acc {
    count: u64,
    size: u64,
}

impl Acc {
    fn add(&mut self, r: &Region) {
        self.count += 1;
        self.size = self.size.saturating_add(r.size);
    }
}

impl RegionMap {
    /// Summarises the regions the way `!address -summary` does.
    pub fn summary(&self) -> MemorySummary {
        let mut usage: BTreeMap<Usage, Acc> = BTreeMap::new();
        let mut kind: Vec<(RegionType, Acc)> =
            [RegionType::Private, RegionType::Image, RegionType::Mapped]
                .map(|k| (k, Acc::default()))
                .to_vec();
        let mut state: Vec<(RegionState, Acc)> =
            [RegionState::Free, RegionState::Reserve, RegionState::Commit]
                .map(|s| (s, Acc::default()))
                .to_vec();
        let zero = || -> BTreeMap<Usage, u64> { Usage::BUSY.iter().map(|&u| (u, 0)).collect() };
        let (mut committed, mut resident, mut dirty) = (zero(), zero(), zero());
        let (mut have_resident, mut have_dirty) = (false, false);
        let (mut busy, mut free, mut committed_total) = (0u64, 0u64, 0u64);
        let mut runtime_heaps: Option<u64> = None;
        for r in &self.regions {
            usage.entry(r.usage).or_default().add(r);
            if let Some((_, a)) = state.iter_mut().find(|(s, _)| *s == r.state) {
                a.add(r);
            }
            if !r.is_busy() {
                free = free.saturating_add(r.size);
                continue;
            }
            busy = busy.saturating_add(r.size);
            if let Some((_, a)) = kind.iter_mut().find(|(k, _)| *k == r.kind) {
                a.add(r);
            }
            let key = &r.usage;
            if r.state == RegionState::Commit {
                committed_total = committed_total.saturating_add(r.size);
                if let Some(v) = committed.get_mut(key) {
                    *v = v.saturating_add(r.size);
                }
                if r.usage == Usage::Unknown
                    && r.name
                        .as_deref()
                        .is_some_and(crate::classify::is_runtime_heap)
                {
                    runtime_heaps = Some(runtime_heaps.unwrap_or(0).saturating_add(r.size));
                }
            }
            if let (Some(x), Some(v)) = (r.resident, resident.get_mut(key)) {
                have_resident = true;
                *v = v.saturating_add(x);
            }
            if let (Some(x), Some(v)) = (r.private_dirty, dirty.get_mut(key)) {
                have_dirty = true;
                *v = v.saturating_add(x);
            }
        }
        let all = busy.saturating_add(free);
        let row = |name: &str, a: Acc, is_free: bool| Row {
            name: name.to_string(),
            region_count: a.count,
            total_size: a.size,
            pct_busy: (!is_free).then(|| pct(a.size, busy)),
            pct_total: pct(a.size, all),
        };
        // free first, then largest first (stable: ties keep the enum order)
        let sort = |rows: &mut Vec<(bool, Row)>| {
            rows.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.total_size.cmp(&a.1.total_size)));
        };
        let mut by_usage: Vec<(bool, Row)> = usage
            .iter()
            .filter(|(_, a)| a.count > 0)
            .map(|(u, a)| {
                (
                    *u == Usage::Free,
                    row(u.windbg_name(), *a, *u == Usage::Free),
                )
            })
            .collect();
        sort(&mut by_usage);
        let mut by_type: Vec<(bool, Row)> = kind
            .iter()
            .filter(|(_, a)| a.count > 0)
            .map(|(k, a)| (false, row(k.windbg_name(), *a, false)))
            .collect();
        sort(&mut by_type);
        let mut by_state: Vec<(bool, Row)> = state
            .iter()
            .filter(|(_, a)| a.count > 0)
            .map(|(s, a)| {
                let f = *s == RegionState::Free;
                (f, row(s.windbg_name(), *a, f))
            })
            .collect();
        sort(&mut by_state);
        let strip = |v: Vec<(bool, Row)>| v.into_iter().map(|(_, r)| r).collect();
        let resident_total =
            have_resident.then(|| resident.values().fold(0u64, |a, &b| a.saturating_add(b)));
        MemorySummary {
            source: self.source,
            by_usage: strip(by_usage),
            by_type: strip(by_type),
            by_state: strip(by_state),
            committed_by_usage: committed,
            resident_by_usage: if have_resident {
                resident
            } else {
                BTreeMap::new()
            },
            private_dirty_by_usage: if have_dirty { dirty } else { BTreeMap::new() },
            committed_total,
            resident_total,
            notes: self.notes.clone(),
            gc_attribution: None,
            runtime_heaps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_proc_maps;

    const MIB: u64 = 1 << 20;

    /// 8 MiB of anonymous committed memory at 0x7f00_0000_0000, 56 MiB
    /// reserved after it, and a 132 KiB `[heap]`.
    fn summary_with_gc_range(gc_range_mib: u64) -> MemorySummary {
        let maps = "\
7f0000000000-7f0000800000 rw-p 00000000 00:00 0
7f0000800000-7f0004000000 ---p 00000000 00:00 0
7f1000000000-7f1000021000 rw-p 00000000 00:00 0                          [heap]
";
        let mut map = parse_proc_maps(maps, None).unwrap();
        map.split_gc(&[(0x7f00_0000_0000, 0x7f00_0000_0000 + gc_range_mib * MIB)]);
        map.summary()
    }

    fn row(s: &MemorySummary, usage: Usage) -> Option<&Row> {
        s.by_usage.iter().find(|r| r.name == usage.windbg_name())
    }

    #[test]
    fn the_gcs_unranged_bytes_move_from_unknown_to_the_gc_heap() {
        let mut s = summary_with_gc_range(4);
        let before = s.clone();
        // The runtime counts 5.5 MiB: 1.5 MiB beyond the 4 MiB of ranges.
        let moved = s.attribute_gc_committed(5 * MIB + MIB / 2);
        assert_eq!(moved, MIB + MIB / 2);
        assert_eq!(s.committed(Usage::GcHeap), 5 * MIB + MIB / 2);
        assert_eq!(s.committed(Usage::Unknown), 2 * MIB + MIB / 2);
        assert_eq!(s.committed(Usage::Heap), 0x21000);
        assert_eq!(s.committed_total, before.committed_total);
        let (unknown, gc) = (
            row(&s, Usage::Unknown).unwrap(),
            row(&s, Usage::GcHeap).unwrap(),
        );
        assert_eq!(
            unknown.total_size,
            row(&before, Usage::Unknown).unwrap().total_size - moved
        );
        assert_eq!(gc.total_size, 5 * MIB + MIB / 2);
        let busy_pct: f64 = s.by_usage.iter().filter_map(|r| r.pct_busy).sum();
        assert!((busy_pct - 100.0).abs() < 1e-9, "{busy_pct}");
        assert_eq!(s.by_usage[0].name, "Free");
        assert_eq!(
            crate::render::gc_attribution_note(&s.gc_attribution.unwrap()),
            "GC: 1.500 MB beyond its in-use ranges (free regions, bookkeeping) attributed to the \
             GC heap from the runtime's accounting of 5.500 MB committed"
        );
        assert_eq!(s.resident_by_usage, before.resident_by_usage);
    }

    #[test]
    fn usage_maps_are_written_by_key_name_and_read_back() {
        let mut s = summary_with_gc_range(4);
        s.attribute_gc_committed(5 * MIB);
        let json = serde_json::to_value(&s).unwrap();
        let keys: Vec<&String> = json["committed_by_usage"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(json["committed_by_usage"]["gc_heap"], 5 * MIB);
        assert_eq!(serde_json::from_value::<MemorySummary>(json).unwrap(), s);
    }

    #[test]
    fn never_more_than_unknown_holds() {
        let mut s = summary_with_gc_range(4);
        let moved = s.attribute_gc_committed(100 * MIB);
        assert_eq!(moved, 4 * MIB);
        assert_eq!(s.committed(Usage::Unknown), 0);
        assert_eq!(s.committed(Usage::GcHeap), 8 * MIB);
        assert!(
            crate::render::gc_attribution_note(&s.gc_attribution.unwrap())
                .ends_with("; capped at what Unknown held")
        );
    }

    #[test]
    fn nothing_moves_when_the_ranges_cover_the_runtimes_count() {
        for total in [0, 3 * MIB, 4 * MIB] {
            let mut s = summary_with_gc_range(4);
            let before = s.clone();
            assert_eq!(s.attribute_gc_committed(total), 0);
            assert_eq!(s, before, "{total}");
        }
    }

    #[test]
    fn without_ranges_the_gc_heap_row_is_made() {
        let mut s = summary_with_gc_range(0);
        assert!(row(&s, Usage::GcHeap).is_none());
        assert_eq!(s.attribute_gc_committed(3 * MIB), 3 * MIB);
        let gc = row(&s, Usage::GcHeap).unwrap();
        assert_eq!((gc.region_count, gc.total_size), (0, 3 * MIB));
        assert_eq!(s.committed(Usage::Unknown), 5 * MIB);
    }

    #[test]
    fn the_runtimes_heaps_are_counted_apart_within_unknown() {
        // The doublemapper's writable and executable views count, its
        // reserved (---s) part does not; anonymous memory is not its.
        let maps = "\
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
7f2000000000-7f2000003000 r-xs 00000000 00:01 2049                       /memfd:doublemapper (deleted)
7f2000003000-7f2000010000 ---s 00003000 00:01 2049                       /memfd:doublemapper (deleted)
7f2000010000-7f2000020000 rw-s 00010000 00:01 2049                       /memfd:doublemapper (deleted)
";
        let s = parse_proc_maps(maps, None).unwrap().summary();
        assert_eq!(s.runtime_heaps, Some(0x3000 + 0x10000));
        assert_eq!(s.committed(Usage::Unknown), MIB + 0x13000);
        let text = crate::render_address_summary(&s);
        assert!(
            text.contains("note: <unknown> holds 76.000 kB of the runtime's own heaps"),
            "{text}"
        );
        // Without it (Windows, W^X off) nothing says which memory is the runtime's.
        assert_eq!(summary_with_gc_range(0).runtime_heaps, None);
    }
}
