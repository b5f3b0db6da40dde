//! Usage classification with WinDbg `!address` semantics, as pure
//! functions over regions and facts taken from the dump, so every rule can
//! be tested without a file.
//!
//! Linux rules (maps/smaps and ELF core), decided here and documented:
//! - `[heap]` → Heap; `[stack]` (and old `[stack:tid]`) → Stack.
//! - other `[...]` kernel names (`[vdso]`, `[vvar]`, `[vsyscall]`,
//!   `[uprobes]`) → Other, type Mapped; `[anon:...]` (prctl-named anonymous
//!   memory) → Unknown.
//! - a file is a *module* if any of its mappings is executable or its name
//!   ends in `.so`, `.so.N…`, `.dll` or `.exe` (managed assemblies are
//!   mapped read-only). All mappings of a module → Image, type Image.
//! - shared-anonymous memory in disguise (`/memfd:…` such as the runtime's
//!   `doublemapper`, `/dev/zero`, `/SYSV…`) → Unknown, type Mapped: on
//!   Windows the same memory would be private `VirtualAlloc` memory.
//!   The runtime's `doublemapper` is also counted apart as its own heaps
//!   ([`is_runtime_heap`]).
//! - any other file mapping (a `.dat`, locale archives) → Other, type
//!   Mapped (WinDbg would show a mapped view, not an image).
//! - anonymous → Unknown (Private, or Mapped when shared).
//! - thread stacks: glibc maps each thread stack with `MAP_STACK` and puts
//!   a `PROT_NONE` guard at its low end. We call a pair Stack when an
//!   anonymous `---p` mapping of at most 64 KiB is directly followed by an
//!   anonymous `rw-p` mapping of 16 KiB..=512 MiB. When smaps `VmFlags` are
//!   known the `rw-p` part must also carry `nh` (Linux ≥ 6.7 marks
//!   `MAP_STACK` mappings no-huge-page), which keeps GC reservations with a
//!   one-page gap out. Without smaps the size rule alone can mistake such a
//!   gap for a guard page.

use std::collections::{BTreeSet, HashSet};

use crate::model::{Region, RegionMap, RegionState, RegionType, Usage};

/// Largest guard page size the stack heuristic accepts.
const MAX_GUARD: u64 = 64 * 1024;
/// Smallest and largest committed part of a thread stack.
const MIN_STACK: u64 = 16 * 1024;
const MAX_STACK: u64 = 512 * 1024 * 1024;

/// Whether a file name looks like a loadable module (shared object,
/// PE assembly, executable).
pub fn is_module_name(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    if file.ends_with(".so") || file.ends_with(".dll") || file.ends_with(".exe") {
        return true;
    }
    // libc.so.6, libstdc++.so.6.0.33
    if let Some(i) = file.find(".so.") {
        return file[i + 4..]
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.');
    }
    false
}

/// Strips the kernel's ` (deleted)` suffix from a mapping name.
fn strip_deleted(name: &str) -> &str {
    name.strip_suffix(" (deleted)").unwrap_or(name)
}

/// File names that are anonymous shared memory rather than files.
fn is_anon_file(path: &str) -> bool {
    let p = strip_deleted(path);
    p.starts_with("/memfd:") || p.starts_with("/dev/zero") || p.starts_with("/SYSV")
}

/// The runtime's own heaps: .NET 7 and later on Linux (write-xor-execute,
/// on by default) map the JIT's code, stubs and the loader heaps (type
/// data) from one memfd, `doublemapper`, its writable and executable views
/// apart. With W^X off they are anonymous memory and cannot be told apart.
pub fn is_runtime_heap(name: &str) -> bool {
    strip_deleted(name).starts_with("/memfd:doublemapper")
}

/// Classifies Linux regions (from /proc or an ELF core) by their names and
/// protections; see the module docs for the rules. `protection` must be
/// the maps form (`rw-p`; a missing 4th char means private).
/// `vm_flags[i]` is the smaps `VmFlags` of region `i`, if known.
pub fn classify_linux(regions: &mut [Region], vm_flags: &[Option<String>]) {
    let modules: HashSet<String> = regions
        .iter()
        .filter_map(|r| {
            let n = r.name.as_deref()?;
            if n.starts_with('[') || is_anon_file(n) {
                return None;
            }
            let exec = r.protection.as_bytes().get(2) == Some(&b'x');
            (exec || is_module_name(strip_deleted(n))).then(|| n.to_string())
        })
        .collect();
    let mut prev_file: Option<(String, u64, u64)> = None; // name, alloc base, end
    for r in regions.iter_mut() {
        let shared = r.protection.as_bytes().get(3) == Some(&b's');
        r.state = if r.protection.starts_with("---") {
            RegionState::Reserve
        } else {
            RegionState::Commit
        };
        r.allocation_base = r.base;
        let (usage, kind) = match r.name.as_deref() {
            None | Some("") => (Usage::Unknown, private_or_mapped(shared)),
            Some("[heap]") => (Usage::Heap, RegionType::Private),
            Some(n) if n == "[stack]" || n.starts_with("[stack:") => {
                (Usage::Stack, RegionType::Private)
            }
            Some(n) if n.starts_with("[anon_shmem:") => (Usage::Unknown, RegionType::Mapped),
            Some(n) if n.starts_with("[anon:") => (Usage::Unknown, private_or_mapped(shared)),
            Some(n) if n.starts_with('[') => (Usage::Other, RegionType::Mapped),
            Some(n) if is_anon_file(n) => (Usage::Unknown, RegionType::Mapped),
            Some(n) if modules.contains(n) => {
                // consecutive mappings of one module share an allocation base
                if let Some((pn, pbase, pend)) = &prev_file
                    && pn == n
                    && *pend == r.base
                {
                    r.allocation_base = *pbase;
                }
                (Usage::Image, RegionType::Image)
            }
            Some(_) => (Usage::Other, RegionType::Mapped),
        };
        r.usage = usage;
        r.kind = kind;
        prev_file = r
            .name
            .as_ref()
            .filter(|_| usage == Usage::Image)
            .map(|n| (n.clone(), r.allocation_base, r.end()));
    }
    mark_thread_stacks(regions, vm_flags);
}

fn private_or_mapped(shared: bool) -> RegionType {
    if shared {
        RegionType::Mapped
    } else {
        RegionType::Private
    }
}

/// The guard-page heuristic for thread stacks (module docs).
fn mark_thread_stacks(regions: &mut [Region], vm_flags: &[Option<String>]) {
    for i in 1..regions.len() {
        let (lo, hi) = regions.split_at_mut(i);
        let guard = &mut lo[i - 1];
        let stack = &mut hi[0];
        let anon = |r: &Region| r.name.is_none() && r.usage == Usage::Unknown;
        if !(anon(guard) && anon(stack)) {
            continue;
        }
        if guard.protection != "---p" || stack.protection != "rw-p" || guard.end() != stack.base {
            continue;
        }
        if guard.size > MAX_GUARD || !(MIN_STACK..=MAX_STACK).contains(&stack.size) {
            continue;
        }
        if let Some(Some(flags)) = vm_flags.get(i)
            && !flags.split_whitespace().any(|f| f == "nh")
        {
            continue;
        }
        guard.usage = Usage::Stack;
        stack.usage = Usage::Stack;
        stack.allocation_base = guard.base;
    }
}

/// What a Windows minidump tells about the process beyond its regions.
/// Addresses of zero are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowsFacts {
    /// `(base, size)` of every module in the module list.
    pub modules: Vec<(u64, u64)>,
    /// Any address inside each thread's stack (the stack descriptor start).
    pub stack_addresses: Vec<u64>,
    /// Each thread's TEB address.
    pub tebs: Vec<u64>,
    /// The PEB address, when it could be read from a TEB.
    pub peb: Option<u64>,
    /// `PEB.ProcessHeaps` entries (heap handles = allocation bases).
    pub heaps: Vec<u64>,
    /// The PEB-named system areas (ApiSetMap, ReadOnlySharedMemoryBase,
    /// code page and NLS tables, GDI handle table, activation contexts).
    pub other_pointers: Vec<u64>,
}

/// The kernel's shared user page, at the same address in every x86 and x64
/// process; WinDbg lists it as Other (the seed: `0x7ffe0000 0x1000 MEM_COMMIT Other`).
pub const KUSER_SHARED_DATA: u64 = 0x7ffe_0000;

/// Classifies minidump regions with WinDbg `!address` rules, first match
/// wins: Free, Image (inside a listed module, whatever its MEM type), TEB,
/// PEB, Stack (allocation base of a stack's region), Heap (allocation base
/// in `ProcessHeaps`), Other (allocation base of a PEB-named area, or the
/// KUSER_SHARED_DATA page), else Unknown. Heap segments beyond a heap's first
/// allocation are not walked, so they count as Unknown (WinDbg walks them).
pub fn classify_windows(map: &mut RegionMap, facts: &WindowsFacts) {
    let alloc_bases_of = |addrs: &[u64], map: &RegionMap| -> BTreeSet<u64> {
        addrs
            .iter()
            .filter(|&&a| a != 0)
            .filter_map(|&a| map.region_at(a))
            .filter(|r| r.is_busy())
            .map(|r| r.allocation_base)
            .collect()
    };
    let stack_bases = alloc_bases_of(&facts.stack_addresses, map);
    let other_bases = alloc_bases_of(&facts.other_pointers, map);
    let heaps: BTreeSet<u64> = facts.heaps.iter().copied().filter(|&h| h != 0).collect();
    let holds = |r: &Region, addrs: &[u64]| addrs.iter().any(|&a| a != 0 && r.contains(a));
    let peb: Vec<u64> = facts.peb.into_iter().collect();
    for r in map.regions.iter_mut() {
        r.usage = if !r.is_busy() {
            Usage::Free
        } else if facts
            .modules
            .iter()
            .any(|&(b, s)| r.base >= b && r.base < b.saturating_add(s))
        {
            Usage::Image
        } else if holds(r, &facts.tebs) {
            Usage::Teb
        } else if holds(r, &peb) {
            Usage::Peb
        } else if stack_bases.contains(&r.allocation_base) {
            Usage::Stack
        } else if heaps.contains(&r.allocation_base) {
            Usage::Heap
        } else if other_bases.contains(&r.allocation_base) || r.contains(KUSER_SHARED_DATA) {
            Usage::Other
        } else {
            Usage::Unknown
        };
    }
}

impl RegionMap {
    /// Turns the parts of Unknown regions that the GC's committed ranges
    /// cover into GcHeap, splitting regions at range edges. Ranges are
    /// `(start, end)` with `end` exclusive, in any order, may overlap;
    /// empty or inverted ranges are ignored. Resident and private-dirty
    /// bytes are split in proportion to size (the pieces sum exactly to the
    /// original).
    pub fn split_gc(&mut self, gc_ranges: &[(u64, u64)]) {
        let mut ranges: Vec<(u64, u64)> =
            gc_ranges.iter().copied().filter(|(s, e)| e > s).collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (s, e) in ranges {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        if merged.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(self.regions.len());
        for r in self.regions.drain(..) {
            if r.usage != Usage::Unknown || !r.is_busy() || r.size == 0 {
                out.push(r);
                continue;
            }
            let (start, end) = (r.base, r.end());
            let first = merged.partition_point(|&(_, e)| e <= start);
            let mut cuts: Vec<(u64, u64, Usage)> = Vec::new();
            let mut pos = start;
            for &(s, e) in merged[first..].iter().take_while(|&&(s, _)| s < end) {
                let (s, e) = (s.max(start), e.min(end));
                if s > pos {
                    cuts.push((pos, s, Usage::Unknown));
                }
                cuts.push((s, e, Usage::GcHeap));
                pos = e;
            }
            if pos < end {
                cuts.push((pos, end, Usage::Unknown));
            }
            let share = |v: Option<u64>, a: u64| {
                v.map(|v| (v as u128 * (a - start) as u128 / r.size as u128) as u64)
            };
            for (s, e, usage) in cuts {
                let part = |v: Option<u64>| Some(share(v, e)? - share(v, s)?);
                out.push(Region {
                    base: s,
                    size: e - s,
                    usage,
                    resident: part(r.resident),
                    private_dirty: part(r.private_dirty),
                    ..r.clone()
                });
            }
        }
        self.regions = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceKind;

    fn region(base: u64, size: u64, usage: Usage, resident: Option<u64>) -> Region {
        Region {
            base,
            size,
            allocation_base: base,
            state: RegionState::Commit,
            kind: RegionType::Private,
            protection: "rw-p".into(),
            usage,
            name: None,
            resident,
            private_dirty: None,
        }
    }

    #[test]
    fn module_names() {
        for m in [
            "/usr/lib/libc.so.6",
            "/x/libcoreclr.so",
            "/app/My.Service.dll",
            "/a/libstdc++.so.6.0.33",
            "C.EXE",
        ] {
            assert!(is_module_name(m), "{m}");
        }
        for m in [
            "/app/cache.dat",
            "/usr/lib/locale/C.utf8/LC_CTYPE",
            "/x/foo.so.bak",
            "/app/host",
        ] {
            assert!(!is_module_name(m), "{m}");
        }
    }

    #[test]
    fn split_gc_keeps_resident_sums_exact_with_odd_values() {
        let mut map = RegionMap {
            source: SourceKind::ProcMaps,
            regions: vec![
                region(0x1000, 0x3000, Usage::Unknown, Some(7)),
                region(0x4000, 0x1000, Usage::Heap, Some(5)),
                region(0x5000, 0x0, Usage::Unknown, Some(1)),
            ],
            notes: vec![],
        };
        map.split_gc(&[(0x2000, 0x3000), (0x4000, 0x5000), (0x2800, 0x2900)]);
        let pieces: Vec<(u64, u64, Usage, Option<u64>)> = map
            .regions
            .iter()
            .map(|r| (r.base, r.size, r.usage, r.resident))
            .collect();
        assert_eq!(
            pieces,
            [
                (0x1000, 0x1000, Usage::Unknown, Some(2)),
                // floor(7·2/3) − floor(7·1/3) = 2; the last piece takes the rest
                (0x2000, 0x1000, Usage::GcHeap, Some(2)),
                (0x3000, 0x1000, Usage::Unknown, Some(3)),
                (0x4000, 0x1000, Usage::Heap, Some(5)),
                (0x5000, 0x0, Usage::Unknown, Some(1)),
            ]
        );
    }

    #[test]
    fn windows_rules_first_match_wins() {
        // an image region that also holds a "TEB" address stays Image
        let mut map = RegionMap {
            source: SourceKind::Minidump,
            regions: vec![region(0x1000, 0x1000, Usage::Unknown, None)],
            notes: vec![],
        };
        let facts = WindowsFacts {
            modules: vec![(0x1000, 0x1000)],
            tebs: vec![0x1800],
            ..WindowsFacts::default()
        };
        classify_windows(&mut map, &facts);
        assert_eq!(map.regions[0].usage, Usage::Image);
    }
}
