//! Linux `/proc/<pid>/maps` and `smaps` text → [`RegionMap`].
//!
//! The runner saves both texts at the moment of each dump (an ELF core
//! has no reserved memory, so this is the only committed-vs-reserved view
//! on Linux) and analyses them later with [`parse_proc_maps`].
//!
//! - committed = mappings with any of r/w/x; reserved = `---p`.
//! - Free regions are synthesised for the gaps below the top of user
//!   space (`0x7ffffffff000`, or `0xfffffffffff000` when a mapping lies
//!   above that, i.e. 57-bit address spaces), so `%ofTotal` reads like
//!   WinDbg's.
//! - usage and type follow [`crate::classify::classify_linux`].
//! - `Rss` → [`Region::resident`], `Private_Dirty` →
//!   [`Region::private_dirty`], matched to maps lines by address range.

use std::collections::HashMap;

use crate::classify::classify_linux;
use crate::error::MemoryError;
use crate::model::{Region, RegionMap, RegionState, RegionType, SourceKind, Usage};

const USER_TOP_48: u64 = 0x7fff_ffff_f000;
const USER_TOP_57: u64 = 0x00ff_ffff_ffff_f000;
/// Above this are kernel addresses (`[vsyscall]`), never user gaps.
const KERNEL_START: u64 = 0xffff_0000_0000_0000;

/// One parsed maps/smaps header line.
struct MapsLine<'a> {
    start: u64,
    end: u64,
    perms: &'a str,
    name: Option<&'a str>,
}

/// Parses `start-end perms offset dev inode [name]`; `None` if the line
/// does not start with an address range (an smaps field line).
fn parse_header(line: &str) -> Option<Result<MapsLine<'_>, String>> {
    let line = line.trim_end_matches(['\n', '\r']);
    let (range, rest) = line.split_once(' ')?;
    let (s, e) = range.split_once('-')?;
    let start = u64::from_str_radix(s, 16).ok()?;
    let Ok(end) = u64::from_str_radix(e, 16) else {
        return Some(Err(format!("bad end address {e:?}")));
    };
    if end < start {
        return Some(Err("end address below start".into()));
    }
    // perms offset dev inode, then the name after any run of spaces
    let mut rest = rest;
    let mut fields = [""; 4];
    for f in fields.iter_mut() {
        rest = rest.trim_start_matches(' ');
        let (tok, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        *f = tok;
        rest = tail;
    }
    let perms = fields[0];
    if perms.len() != 4 || fields[3].is_empty() {
        return Some(Err(
            "expected `start-end perms offset dev inode [path]`".into()
        ));
    }
    let name = rest.trim_start_matches(' ');
    Some(Ok(MapsLine {
        start,
        end,
        perms,
        name: (!name.is_empty()).then_some(name),
    }))
}

/// What smaps adds to a mapping.
#[derive(Default, Clone)]
struct SmapsEntry {
    rss: Option<u64>,
    private_dirty: Option<u64>,
    vm_flags: Option<String>,
}

fn parse_smaps(smaps: &str) -> Result<HashMap<(u64, u64), SmapsEntry>, MemoryError> {
    let mut out = HashMap::new();
    let mut current: Option<((u64, u64), SmapsEntry)> = None;
    let line_err = |no: usize, problem: String, text: &str| MemoryError::ProcLine {
        source_name: "smaps".into(),
        line: no + 1,
        problem,
        text: text.chars().take(200).collect(),
    };
    for (no, line) in smaps.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(h) = parse_header(line) {
            let h = h.map_err(|p| line_err(no, p, line))?;
            if let Some((k, v)) = current.take() {
                out.insert(k, v);
            }
            current = Some(((h.start, h.end), SmapsEntry::default()));
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(line_err(no, "expected `Key: value`".into(), line));
        };
        let Some((_, entry)) = current.as_mut() else {
            return Err(line_err(no, "field before the first mapping".into(), line));
        };
        let kb = || -> Result<u64, MemoryError> {
            let v = value.trim().trim_end_matches("kB").trim();
            v.parse::<u64>()
                .ok()
                .and_then(|k| k.checked_mul(1024))
                .ok_or_else(|| line_err(no, format!("bad {key} value"), line))
        };
        match key {
            "Rss" => entry.rss = Some(kb()?),
            "Private_Dirty" => entry.private_dirty = Some(kb()?),
            "VmFlags" => entry.vm_flags = Some(value.trim().to_string()),
            _ => {}
        }
    }
    if let Some((k, v)) = current {
        out.insert(k, v);
    }
    Ok(out)
}

/// An smaps `Key: value` line (`Rss:`, `VmFlags:`, `THPeligible:`).
fn is_smaps_field(line: &str) -> bool {
    line.split_once(':').is_some_and(|(k, _)| {
        !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

/// Builds a region map from the saved text of `/proc/<pid>/maps` and,
/// optionally, `/proc/<pid>/smaps` (for resident and private-dirty bytes).
///
/// `maps` may also be smaps text: its field lines are skipped, so a saved
/// smaps file alone can be passed as both arguments.
///
/// Mappings that smaps does not list (the two files are read a moment
/// apart) keep `resident: None` and a note says how many.
pub fn parse_proc_maps(maps: &str, smaps: Option<&str>) -> Result<RegionMap, MemoryError> {
    let smaps = smaps.map(parse_smaps).transpose()?;
    let mut regions = Vec::new();
    let mut flags = Vec::new();
    let mut notes = Vec::new();
    let mut unmatched = 0usize;
    for (no, line) in maps.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |problem: String| MemoryError::ProcLine {
            source_name: "maps".into(),
            line: no + 1,
            problem,
            text: line.chars().take(200).collect(),
        };
        let Some(h) = parse_header(line) else {
            if is_smaps_field(line) {
                continue; // maps given as smaps text
            }
            return Err(err(
                "expected `start-end perms offset dev inode [path]`".into()
            ));
        };
        let h = h.map_err(err)?;
        let extra = match &smaps {
            Some(m) => m.get(&(h.start, h.end)).cloned().or_else(|| {
                unmatched += 1;
                None
            }),
            None => None,
        };
        let extra = extra.unwrap_or_default();
        regions.push(Region {
            base: h.start,
            size: h.end - h.start,
            allocation_base: h.start,
            state: RegionState::Commit,
            kind: RegionType::Private,
            protection: h.perms.to_string(),
            usage: Usage::Unknown,
            name: h.name.map(str::to_string),
            resident: extra.rss,
            private_dirty: extra.private_dirty,
        });
        flags.push(extra.vm_flags);
    }
    if smaps.is_none() {
        notes.push("no smaps: resident and private-dirty bytes unknown".to_string());
    } else if unmatched > 0 {
        notes.push(format!(
            "{unmatched} maps lines have no smaps entry (saved at different moments): their resident bytes are unknown"
        ));
    }
    // sort (keeping flags aligned) before classification, which looks at neighbours
    let mut order: Vec<usize> = (0..regions.len()).collect();
    order.sort_by_key(|&i| regions[i].base);
    let mut regions: Vec<Region> = order.iter().map(|&i| regions[i].clone()).collect();
    let flags: Vec<Option<String>> = order.iter().map(|&i| flags[i].clone()).collect();
    classify_linux(&mut regions, &flags);
    let mut map = RegionMap::finish(SourceKind::ProcMaps, regions, notes, "maps")?;
    add_free_gaps(&mut map);
    Ok(map)
}

/// Adds Free regions for the gaps of the user address space.
fn add_free_gaps(map: &mut RegionMap) {
    let highest = map
        .regions
        .iter()
        .map(|r| r.end())
        .filter(|&e| e < KERNEL_START)
        .max()
        .unwrap_or(0);
    let top = if highest > USER_TOP_48 {
        USER_TOP_57.max(highest)
    } else {
        USER_TOP_48
    };
    let mut free = Vec::new();
    let mut pos = 0u64;
    for r in &map.regions {
        if r.base >= top {
            break;
        }
        if r.base > pos {
            free.push(free_region(pos, r.base));
        }
        pos = pos.max(r.end());
    }
    if pos < top {
        free.push(free_region(pos, top));
    }
    map.regions.extend(free);
    map.regions.sort_by_key(|r| r.base);
}

fn free_region(start: u64, end: u64) -> Region {
    Region {
        base: start,
        size: end - start,
        allocation_base: 0,
        state: RegionState::Free,
        kind: RegionType::None,
        protection: String::new(),
        usage: Usage::Free,
        name: None,
        resident: None,
        private_dirty: None,
    }
}

/// Reads the text of `/proc/<pid>/maps` and `/proc/<pid>/smaps`, in that
/// order, so the caller can save them next to the dump and parse later.
/// File names that are not UTF-8 are read lossily (U+FFFD): a mapped file's
/// name only labels its region.
///
/// Neither file is read atomically: the kernel hands a long one over in
/// chunks, and a mapping the process changes between two chunks (a runtime
/// thread still at work while the load is paused) can show twice, as
/// regions that overlap. Such a read is taken again, [`LIVE_READS`] times
/// at most; other parse errors are left for the caller to report.
pub fn read_live(pid: u32) -> Result<(String, String), MemoryError> {
    let read = |file: &'static str| {
        std::fs::read(format!("/proc/{pid}/{file}"))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .map_err(|source| MemoryError::Live { pid, file, source })
    };
    let mut attempt = 1;
    loop {
        let (maps, smaps) = (read("maps")?, read("smaps")?);
        match parse_proc_maps(&maps, Some(&smaps)) {
            Err(overlap @ MemoryError::Overlap { .. }) if attempt >= LIVE_READS => {
                return Err(overlap);
            }
            Err(MemoryError::Overlap { .. }) => attempt += 1,
            _ => return Ok((maps, smaps)),
        }
    }
}

/// Reads of a live process's maps before a torn one is an error.
pub const LIVE_READS: usize = 5;
