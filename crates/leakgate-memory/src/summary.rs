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
    pub committed_by_usage: BTreeMap<String, u64>,
    /// Resident bytes per usage (same keys); empty when the source has none.
    pub resident_by_usage: BTreeMap<String, u64>,
    /// Private dirty bytes per usage (same keys); empty when unknown.
    pub private_dirty_by_usage: BTreeMap<String, u64>,
    pub committed_total: u64,
    pub resident_total: Option<u64>,
    pub notes: Vec<String>,
}

impl MemorySummary {
    /// Committed bytes of one usage (0 when the source has none).
    pub fn committed(&self, usage: Usage) -> u64 {
        self.committed_by_usage
            .get(usage.key())
            .copied()
            .unwrap_or(0)
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
        let zero = || -> BTreeMap<String, u64> {
            Usage::BUSY
                .iter()
                .map(|u| (u.key().to_string(), 0))
                .collect()
        };
        let (mut committed, mut resident, mut dirty) = (zero(), zero(), zero());
        let (mut have_resident, mut have_dirty) = (false, false);
        let (mut busy, mut free, mut committed_total) = (0u64, 0u64, 0u64);
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
            let key = r.usage.key();
            if r.state == RegionState::Commit {
                committed_total = committed_total.saturating_add(r.size);
                if let Some(v) = committed.get_mut(key) {
                    *v = v.saturating_add(r.size);
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
        let pct = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                part as f64 * 100.0 / whole as f64
            }
        };
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
        }
    }
}
