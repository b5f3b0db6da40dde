//! Windows minidump → [`RegionMap`], via the `minidump` crate, which maps
//! the file and parses only the streams asked for (MemoryInfoList, module
//! list, thread list, system info, memory lists); the memory payload is
//! only touched for the few pointers read from the TEB and PEB.
//!
//! The region list comes from `MemoryInfoListStream` (required: without it
//! there is no committed/reserved picture and we return
//! [`MemoryError::MissingStream`]). Usage follows
//! [`crate::classify::classify_windows`]; the facts it needs are read here:
//! - module list → Image ranges; thread list → stack addresses and TEBs;
//! - PEB pointer at TEB+0x60 (x64) / TEB+0x30 (x86);
//! - `PEB.NumberOfHeaps` / `ProcessHeaps` at +0xE8/+0xF0 (x64),
//!   +0x88/+0x90 (x86);
//! - PEB-named Other areas, x64 / x86 offsets: ApiSetMap +0x68/+0x38,
//!   ReadOnlySharedMemoryBase +0x88/+0x4C, AnsiCodePageData +0xA0/+0x58,
//!   OemCodePageData +0xA8/+0x5C, UnicodeCaseTableData +0xB0/+0x60,
//!   GdiSharedHandleTable +0xF8/+0x94, ActivationContextData +0x2F8/+0x1F8,
//!   SystemDefaultActivationContextData +0x308/+0x200.
//!
//! Missing pieces are notes, not errors: no TEB/PEB memory in the dump →
//! "PEB not in dump: Heap/Other not classified", and so on.

use std::path::Path;

use minidump::{
    Minidump, MinidumpMemoryInfoList, MinidumpModuleList, MinidumpSystemInfo, MinidumpThreadList,
    UnifiedMemoryList,
};

use crate::classify::{WindowsFacts, classify_windows};
use crate::error::MemoryError;
use crate::model::{Region, RegionMap, RegionState, RegionType, SourceKind, Usage};

const FORMAT: &str = "minidump";
const MEM_COMMIT: u32 = 0x1000;
const MEM_RESERVE: u32 = 0x2000;
const MEM_FREE: u32 = 0x10000;
const MEM_PRIVATE: u32 = 0x20000;
const MEM_MAPPED: u32 = 0x40000;
const MEM_IMAGE: u32 = 0x100_0000;
/// More heaps than this means we are reading garbage.
const MAX_HEAPS: u32 = 4096;
/// More streams than this is not a dump (procdump writes about twenty).
const MAX_STREAMS: u32 = 4096;
/// Largest MemoryInfoListStream read: a million regions (16-byte header,
/// 48-byte entries). What a header claims never sizes an allocation beyond it.
const MAX_MEMORY_INFO: usize = 16 + 48 * (1 << 20);
/// Largest other stream read (module, thread and memory lists).
const MAX_STREAM: usize = 64 << 20;

/// PEB/TEB offsets for one pointer width.
struct Layout {
    ptr: u64,
    teb_peb: u64,
    number_of_heaps: u64,
    process_heaps: u64,
    others: [(u64, &'static str); 8],
}

const X64: Layout = Layout {
    ptr: 8,
    teb_peb: 0x60,
    number_of_heaps: 0xE8,
    process_heaps: 0xF0,
    others: [
        (0x68, "ApiSetMap"),
        (0x88, "ReadOnlySharedMemoryBase"),
        (0xA0, "AnsiCodePageData"),
        (0xA8, "OemCodePageData"),
        (0xB0, "UnicodeCaseTableData"),
        (0xF8, "GdiSharedHandleTable"),
        (0x2F8, "ActivationContextData"),
        (0x308, "SystemDefaultActivationContextData"),
    ],
};

const X86: Layout = Layout {
    ptr: 4,
    teb_peb: 0x30,
    number_of_heaps: 0x88,
    process_heaps: 0x90,
    others: [
        (0x38, "ApiSetMap"),
        (0x4C, "ReadOnlySharedMemoryBase"),
        (0x58, "AnsiCodePageData"),
        (0x5C, "OemCodePageData"),
        (0x60, "UnicodeCaseTableData"),
        (0x94, "GdiSharedHandleTable"),
        (0x1F8, "ActivationContextData"),
        (0x200, "SystemDefaultActivationContextData"),
    ],
};

fn malformed(path: &Path, problem: impl Into<String>) -> MemoryError {
    MemoryError::Malformed {
        path: path.to_path_buf(),
        format: FORMAT,
        problem: problem.into(),
    }
}

fn open_error(path: &Path, e: minidump::Error) -> MemoryError {
    match e {
        minidump::Error::HeaderMismatch => MemoryError::UnknownFormat {
            path: path.to_path_buf(),
            magic: Vec::new(),
        },
        minidump::Error::MissingHeader => malformed(path, "file too short for the minidump header"),
        minidump::Error::MissingDirectory => malformed(
            path,
            "stream directory lies past the end of the file (truncated?)",
        ),
        other => malformed(path, other.to_string()),
    }
}

/// Reads a minidump file's region map.
pub fn read_minidump(path: &Path) -> Result<RegionMap, MemoryError> {
    // Open ourselves first: the crate turns every open error into "not found";
    // and look at the stream count before the crate sizes a table by it.
    let mut header = [0u8; 32];
    {
        use std::io::Read;
        let io = |source| MemoryError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let n = file.read(&mut header).map_err(io)?;
        if n == header.len() {
            check_stream_count(path, &header)?;
        }
    }
    let dump = Minidump::read_path(path).map_err(|e| open_error(path, e))?;
    from_dump(&dump, path)
}

fn check_stream_count(path: &Path, header: &[u8]) -> Result<(), MemoryError> {
    let streams = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if streams > MAX_STREAMS {
        return Err(malformed(
            path,
            format!("the header claims {streams} streams; not a dump leakgate reads"),
        ));
    }
    Ok(())
}

/// Refuses streams larger than any real dump's before the crate parses them.
fn check_stream_sizes<'a, T>(dump: &'a Minidump<'a, T>, path: &Path) -> Result<(), MemoryError>
where
    T: std::ops::Deref<Target = [u8]> + 'a,
{
    use minidump::format::MINIDUMP_STREAM_TYPE as S;
    for (stream, limit) in [
        (S::MemoryInfoListStream, MAX_MEMORY_INFO),
        (S::ModuleListStream, MAX_STREAM),
        (S::ThreadListStream, MAX_STREAM),
        (S::MemoryListStream, MAX_STREAM),
        (S::Memory64ListStream, MAX_STREAM),
    ] {
        if let Ok(raw) = dump.get_raw_stream(stream as u32)
            && raw.len() > limit
        {
            return Err(malformed(
                path,
                format!(
                    "{stream:?} holds {} bytes, more than a dump of a real process ({limit} bytes at most)",
                    raw.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Same as [`read_minidump`] for bytes already in memory; `name` is used
/// in errors.
pub fn read_minidump_bytes(data: &[u8], name: &Path) -> Result<RegionMap, MemoryError> {
    if data.len() >= 32 {
        check_stream_count(name, data)?;
    }
    let dump = Minidump::read(data).map_err(|e| open_error(name, e))?;
    from_dump(&dump, name)
}

fn protection_name(p: u32) -> String {
    const NAMES: [(u32, &str); 11] = [
        (0x01, "PAGE_NOACCESS"),
        (0x02, "PAGE_READONLY"),
        (0x04, "PAGE_READWRITE"),
        (0x08, "PAGE_WRITECOPY"),
        (0x10, "PAGE_EXECUTE"),
        (0x20, "PAGE_EXECUTE_READ"),
        (0x40, "PAGE_EXECUTE_READWRITE"),
        (0x80, "PAGE_EXECUTE_WRITECOPY"),
        (0x100, "PAGE_GUARD"),
        (0x200, "PAGE_NOCACHE"),
        (0x400, "PAGE_WRITECOMBINE"),
    ];
    let parts: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| p & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if parts.is_empty() {
        format!("{p:#x}")
    } else {
        parts.join("|")
    }
}

fn from_dump<'a, T>(dump: &'a Minidump<'a, T>, path: &Path) -> Result<RegionMap, MemoryError>
where
    T: std::ops::Deref<Target = [u8]> + 'a,
{
    check_stream_sizes(dump, path)?;
    let mut notes = Vec::new();
    let info = match dump.get_stream::<MinidumpMemoryInfoList>() {
        Ok(i) => i,
        Err(minidump::Error::StreamNotFound) => {
            return Err(MemoryError::MissingStream {
                path: path.to_path_buf(),
                stream: "MemoryInfoListStream",
            });
        }
        Err(e) => return Err(malformed(path, format!("MemoryInfoListStream: {e}"))),
    };
    let mut regions = Vec::new();
    for m in info.iter() {
        let raw = &m.raw;
        let state = match raw.state {
            MEM_COMMIT => RegionState::Commit,
            MEM_RESERVE => RegionState::Reserve,
            MEM_FREE => RegionState::Free,
            s => {
                return Err(malformed(
                    path,
                    format!("region at {:#x} has unknown state {s:#x}", raw.base_address),
                ));
            }
        };
        let kind = match (state, raw._type) {
            (RegionState::Free, _) => RegionType::None,
            (_, MEM_PRIVATE) => RegionType::Private,
            (_, MEM_MAPPED) => RegionType::Mapped,
            (_, MEM_IMAGE) => RegionType::Image,
            (_, t) => {
                return Err(malformed(
                    path,
                    format!(
                        "busy region at {:#x} has unknown type {t:#x}",
                        raw.base_address
                    ),
                ));
            }
        };
        regions.push(Region {
            base: raw.base_address,
            size: raw.region_size,
            allocation_base: if state == RegionState::Free {
                0
            } else {
                raw.allocation_base
            },
            state,
            kind,
            protection: protection_name(raw.protection),
            usage: Usage::Unknown,
            name: None,
            resident: None,
            private_dirty: None,
        });
    }
    let mut map = RegionMap::finish(
        SourceKind::Minidump,
        regions,
        Vec::new(),
        &path.display().to_string(),
    )?;

    let mut facts = WindowsFacts::default();
    let mut module_names = Vec::new();
    match dump.get_stream::<MinidumpModuleList>() {
        Ok(modules) => {
            for m in modules.iter() {
                facts
                    .modules
                    .push((m.raw.base_of_image, u64::from(m.raw.size_of_image)));
                module_names.push((
                    m.raw.base_of_image,
                    u64::from(m.raw.size_of_image),
                    m.name.clone(),
                ));
            }
        }
        Err(e) => notes.push(format!(
            "module list not readable ({e}): Image not classified"
        )),
    }
    let layout = match dump.get_stream::<MinidumpSystemInfo>() {
        Ok(si) => match si.cpu {
            minidump::system_info::Cpu::X86 | minidump::system_info::Cpu::Arm => &X86,
            _ => &X64,
        },
        Err(_) => {
            notes.push("no system info: assumed a 64-bit process for TEB/PEB offsets".to_string());
            &X64
        }
    };
    match dump.get_stream::<MinidumpThreadList>() {
        Ok(threads) => {
            for t in &threads.threads {
                facts
                    .stack_addresses
                    .push(t.raw.stack.start_of_memory_range);
                facts.tebs.push(t.raw.teb);
            }
        }
        Err(e) => notes.push(format!(
            "thread list not readable ({e}): Stack/TEB/PEB not classified"
        )),
    }
    let memory = dump.get_memory();
    read_peb_facts(memory.as_ref(), layout, &mut facts, &mut notes);
    classify_windows(&mut map, &facts);
    for r in map.regions.iter_mut().filter(|r| r.usage == Usage::Image) {
        r.name = module_names
            .iter()
            .find(|(b, s, _)| r.base >= *b && r.base < b.saturating_add(*s))
            .map(|(_, _, n)| n.clone());
    }
    map.notes = notes;
    Ok(map)
}

/// Reads a pointer-sized value from the dump's memory lists.
fn read_ptr(memory: Option<&UnifiedMemoryList<'_>>, layout: &Layout, addr: u64) -> Option<u64> {
    let mem = memory?.memory_at_address(addr)?;
    if layout.ptr == 4 {
        mem.get_memory_at_address::<u32>(addr).map(u64::from)
    } else {
        mem.get_memory_at_address::<u64>(addr)
    }
}

/// Fills the PEB, heap and PEB-named facts, noting what is not in the dump.
fn read_peb_facts(
    memory: Option<&UnifiedMemoryList<'_>>,
    layout: &Layout,
    facts: &mut WindowsFacts,
    notes: &mut Vec<String>,
) {
    let peb = facts
        .tebs
        .iter()
        .filter(|&&t| t != 0)
        .find_map(|&teb| read_ptr(memory, layout, teb.checked_add(layout.teb_peb)?))
        .filter(|&p| p != 0);
    let Some(peb) = peb else {
        notes.push(
            "PEB not in dump (no TEB memory holds it): PEB/Heap/Other not classified".to_string(),
        );
        return;
    };
    facts.peb = Some(peb);
    let at = |off: u64| read_ptr(memory, layout, peb.checked_add(off)?);
    if at(0).is_none() {
        notes.push(format!(
            "PEB at {peb:#x} not in dump: Heap/Other not classified"
        ));
        return;
    }
    let count = peb.checked_add(layout.number_of_heaps).and_then(|a| {
        memory?
            .memory_at_address(a)?
            .get_memory_at_address::<u32>(a)
    });
    let array = at(layout.process_heaps);
    match (count, array) {
        (Some(n), Some(array)) if n <= MAX_HEAPS => {
            let mut missing = 0;
            for i in 0..u64::from(n) {
                match array
                    .checked_add(i * layout.ptr)
                    .and_then(|a| read_ptr(memory, layout, a))
                {
                    Some(h) => facts.heaps.push(h),
                    None => missing += 1,
                }
            }
            if missing > 0 {
                notes.push(format!(
                    "{missing} of {n} ProcessHeaps entries not in dump: those heaps count as Unknown"
                ));
            }
        }
        (Some(n), Some(_)) => notes.push(format!(
            "PEB.NumberOfHeaps = {n} is implausible: Heap not classified"
        )),
        _ => notes.push("heap array not in dump: Heap not classified".to_string()),
    }
    let mut missing = Vec::new();
    for (off, name) in layout.others {
        match at(off) {
            Some(p) => facts.other_pointers.push(p),
            None => missing.push(name),
        }
    }
    if !missing.is_empty() {
        notes.push(format!(
            "PEB fields not in dump ({}): those areas count as Unknown",
            missing.join(", ")
        ));
    }
}
