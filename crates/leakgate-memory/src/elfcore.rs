//! Linux ELF core (from createdump or gcore) → [`RegionMap`], reading
//! headers and notes only: the ELF header, the program header table
//! (following `PN_XNUM` to section 0 when `e_phnum == 0xFFFF`) and the
//! `PT_NOTE` segments. Memory payload is never read, so the cost does not
//! grow with the size of the dump.
//!
//! - every `PT_LOAD` is a committed region (a `PT_LOAD` without r/w/x, as
//!   gcore may write for `PROT_NONE` mappings, counts as reserved);
//! - `NT_FILE` names file-backed ranges, classified with the Linux rules of
//!   [`crate::classify`] (modules → Image);
//! - `NT_PRSTATUS` gives each thread's stack pointer (x86-64, arm64): the
//!   region holding it is Stack;
//! - createdump's fake `PT_LOAD` at `0x7ffffff10000` (one page,
//!   "DIAGINFOHEADER") is left out;
//! - the notes say what a core cannot tell: no reserved memory, no
//!   `[heap]` name.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::classify::classify_linux;
use crate::error::MemoryError;
use crate::model::{Region, RegionMap, RegionState, RegionType, SourceKind, Usage};

const FORMAT: &str = "ELF core";
/// createdump's fake segment holding "DIAGINFOHEADER" (64-bit targets).
pub const DIAGINFO_ADDRESS: u64 = 0x7fff_fff1_0000;
/// The address older macOS createdump used; still skipped if seen.
const DIAGINFO_LEGACY_ADDRESS: u64 = 0x7fff_ffff_1000_0000;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const PN_XNUM: u16 = 0xffff;
const NT_PRSTATUS: u32 = 1;
const NT_FILE: u32 = 0x4649_4c45;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
/// More program headers than this is not a core we should trust (Linux
/// allows 65,530 mappings by default; a raised `vm.max_map_count` rarely
/// passes a million).
const MAX_PHDRS: u64 = 1 << 20;
/// Largest program header entry we accept (the ELF64 one is 56 bytes).
const MAX_PHENTSIZE: u64 = 1024;
/// Notes in all, at most: createdump writes a few MiB (NT_FILE names every
/// mapped file), so this bounds memory and time whatever the headers claim.
const MAX_NOTES: u64 = 64 << 20;

/// Positioned reads with bounds checks that name the file.
struct Input<R> {
    inner: R,
    len: u64,
    path: PathBuf,
}

impl<R: Read + Seek> Input<R> {
    /// Errs unless `offset..offset + len` lies inside the file.
    fn check(&self, offset: u64, len: u64, what: &str) -> Result<(), MemoryError> {
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(MemoryError::Truncated {
                path: self.path.clone(),
                format: FORMAT,
                what: what.to_string(),
                offset,
                len,
                file_len: self.len,
            });
        }
        Ok(())
    }

    fn read(&mut self, offset: u64, len: u64, what: &str) -> Result<Vec<u8>, MemoryError> {
        self.check(offset, len, what)?;
        let mut buf = vec![0; len as usize];
        self.inner
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.inner.read_exact(&mut buf))
            .map_err(|source| MemoryError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(buf)
    }

    fn malformed(&self, problem: impl Into<String>) -> MemoryError {
        MemoryError::Malformed {
            path: self.path.clone(),
            format: FORMAT,
            problem: problem.into(),
        }
    }
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    b.get(o..o + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap_or([0; 4])))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
}

/// Reads an ELF core file's region map (headers and notes only).
pub fn read_elf_core(path: &Path) -> Result<RegionMap, MemoryError> {
    let io = |source| MemoryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    parse(Input {
        inner: std::io::BufReader::with_capacity(64 * 1024, file),
        len,
        path: path.to_path_buf(),
    })
}

/// Same as [`read_elf_core`] for bytes already in memory; `name` is used
/// in errors.
pub fn read_elf_core_bytes(data: &[u8], name: &Path) -> Result<RegionMap, MemoryError> {
    parse(Input {
        inner: std::io::Cursor::new(data),
        len: data.len() as u64,
        path: name.to_path_buf(),
    })
}

/// One file range from `NT_FILE`.
struct FileRange {
    start: u64,
    end: u64,
    name: String,
}

fn parse<R: Read + Seek>(mut input: Input<R>) -> Result<RegionMap, MemoryError> {
    let eh = input.read(0, 64, "ELF header")?;
    if &eh[..4] != b"\x7fELF" {
        return Err(MemoryError::UnknownFormat {
            path: input.path.clone(),
            magic: eh[..4].to_vec(),
        });
    }
    if eh[4] != 2 || eh[5] != 1 {
        return Err(input.malformed(format!(
            "only 64-bit little-endian cores are supported (class {}, data {})",
            eh[4], eh[5]
        )));
    }
    let e_type = u16_at(&eh, 16);
    if e_type != 4 {
        return Err(input.malformed(format!(
            "not a core file (e_type {e_type}, want 4 = ET_CORE)"
        )));
    }
    let machine = u16_at(&eh, 18);
    let phoff = u64_at(&eh, 32);
    let shoff = u64_at(&eh, 40);
    let phentsize = u64::from(u16_at(&eh, 54));
    let mut phnum = u64::from(u16_at(&eh, 56));
    if phnum == u64::from(PN_XNUM) {
        // PN_XNUM: the real count is sh_info of section header 0
        if shoff == 0 {
            return Err(input.malformed("e_phnum is PN_XNUM but there is no section header 0"));
        }
        let sh0 = input.read(shoff, 64, "section header 0 (PN_XNUM count)")?;
        phnum = u64::from(u32_at(&sh0, 44));
    }
    if phnum == 0 {
        return Err(input.malformed("no program headers"));
    }
    if phentsize < 56 {
        return Err(input.malformed(format!("e_phentsize {phentsize} is smaller than 56")));
    }
    if phnum > MAX_PHDRS {
        return Err(input.malformed(format!("implausible program header count {phnum}")));
    }
    if phentsize > MAX_PHENTSIZE {
        return Err(input.malformed(format!("e_phentsize {phentsize} is implausible")));
    }
    // Checked against the file first, then read one entry at a time: what the
    // header claims never decides how much memory is taken.
    let table_len = phnum * phentsize; // both bounded above: no overflow
    input.check(phoff, table_len, "program header table")?;
    let mut loads = Vec::new();
    let mut notes = Vec::new();
    let mut skipped_diaginfo = false;
    // In chunks of whole entries: one read per ~64 KiB, never the whole table.
    let per_chunk = (64 * 1024 / phentsize).max(1);
    let mut chunk = Vec::new();
    for i in 0..phnum {
        if i % per_chunk == 0 {
            let entries = per_chunk.min(phnum - i);
            chunk = input.read(
                phoff + i * phentsize,
                entries * phentsize,
                "program headers",
            )?;
        }
        let at = ((i % per_chunk) * phentsize) as usize;
        let p = &chunk[at..at + 56];
        let (p_type, flags) = (u32_at(p, 0), u32_at(p, 4));
        let (offset, vaddr, filesz, memsz) =
            (u64_at(p, 8), u64_at(p, 16), u64_at(p, 32), u64_at(p, 40));
        match p_type {
            PT_LOAD => {
                if matches!(vaddr, DIAGINFO_ADDRESS | DIAGINFO_LEGACY_ADDRESS) && memsz <= 0x1000 {
                    skipped_diaginfo = true;
                    continue;
                }
                if vaddr.checked_add(memsz).is_none() {
                    return Err(input.malformed(format!(
                        "PT_LOAD {i} at {vaddr:#x} with size {memsz:#x} wraps the address space"
                    )));
                }
                loads.push((vaddr, memsz, flags));
            }
            PT_NOTE => notes.push((i, offset, filesz)),
            _ => {}
        }
    }
    let mut files: Vec<FileRange> = Vec::new();
    let mut stack_pointers = Vec::new();
    let mut notes_read = 0u64;
    for (i, offset, filesz) in notes {
        notes_read = notes_read.saturating_add(filesz);
        if notes_read > MAX_NOTES {
            return Err(input.malformed(format!(
                "the PT_NOTE segments hold more than {} MiB in all; not a core leakgate reads",
                MAX_NOTES >> 20
            )));
        }
        let notes = input.read(offset, filesz, &format!("PT_NOTE {i}"))?;
        parse_notes(&notes, machine, &mut files, &mut stack_pointers)
            .map_err(|problem| input.malformed(format!("PT_NOTE {i}: {problem}")))?;
    }
    files.sort_by_key(|f| f.start);
    let mut regions: Vec<Region> = loads
        .iter()
        .map(|&(vaddr, memsz, flags)| {
            let perm = |bit: u32, c: char| if flags & bit != 0 { c } else { '-' };
            let protection = format!("{}{}{}p", perm(4, 'r'), perm(2, 'w'), perm(1, 'x'));
            let i = files.partition_point(|f| f.end <= vaddr);
            let name = files
                .get(i)
                .filter(|f| f.start <= vaddr)
                .map(|f| f.name.clone());
            Region {
                base: vaddr,
                size: memsz,
                allocation_base: vaddr,
                state: RegionState::Commit,
                kind: RegionType::Private,
                protection,
                usage: Usage::Unknown,
                name,
                resident: None,
                private_dirty: None,
            }
        })
        .collect();
    regions.sort_by_key(|r| r.base);
    classify_linux(&mut regions, &[]);
    let name = input.path.display().to_string();
    let mut map = RegionMap::finish(SourceKind::ElfCore, regions, Vec::new(), &name)?;
    for sp in &stack_pointers {
        let i = map.regions.partition_point(|r| r.end() <= *sp);
        if let Some(r) = map
            .regions
            .get_mut(i)
            .filter(|r| r.contains(*sp) && r.usage == Usage::Unknown)
        {
            r.usage = Usage::Stack;
        }
    }
    let mut notes = vec![
        "an ELF core holds no reserved memory: use the /proc maps saved with it for committed vs reserved".to_string(),
        "an ELF core does not name anonymous mappings: [heap] counts as Unknown; thread stacks found from thread stack pointers only".to_string(),
    ];
    if skipped_diaginfo {
        notes.push("left out createdump's DIAGINFOHEADER page at 0x7ffffff10000".to_string());
    }
    if files.is_empty() {
        notes.push("no NT_FILE note: file-backed mappings (Image) not classified".to_string());
    }
    if stack_pointers.is_empty() {
        notes.push(format!(
            "no thread stack pointers read (machine {machine}): Stack not classified"
        ));
    }
    map.notes = notes;
    Ok(map)
}

/// Walks the notes of one `PT_NOTE` segment.
fn parse_notes(
    b: &[u8],
    machine: u16,
    files: &mut Vec<FileRange>,
    sps: &mut Vec<u64>,
) -> Result<(), String> {
    let pad = |n: u64| n.checked_add(3).map(|v| v & !3);
    let mut off = 0u64;
    let len = b.len() as u64;
    while off + 12 <= len {
        let o = off as usize;
        let (namesz, descsz, ntype) = (u32_at(b, o), u32_at(b, o + 4), u32_at(b, o + 8));
        let name_off = off + 12;
        let desc_off = pad(u64::from(namesz)).and_then(|n| name_off.checked_add(n));
        let end = desc_off.and_then(|d| pad(u64::from(descsz)).and_then(|s| d.checked_add(s)));
        let (Some(desc_off), Some(end)) = (desc_off, end) else {
            return Err(format!("note at {off:#x} sizes overflow"));
        };
        if desc_off + u64::from(descsz) > len {
            return Err(format!("note at {off:#x} runs past the segment"));
        }
        let name = &b[name_off as usize..(name_off + u64::from(namesz)) as usize];
        let desc = &b[desc_off as usize..(desc_off + u64::from(descsz)) as usize];
        if name.starts_with(b"CORE") {
            match ntype {
                NT_FILE => parse_nt_file(desc, files)?,
                NT_PRSTATUS => {
                    let at = match machine {
                        EM_X86_64 => Some(112 + 19 * 8),
                        EM_AARCH64 => Some(112 + 31 * 8),
                        _ => None,
                    };
                    if let Some(at) = at
                        && desc.len() >= at + 8
                    {
                        sps.push(u64_at(desc, at));
                    }
                }
                _ => {}
            }
        }
        off = end.min(len);
    }
    Ok(())
}

/// `NT_FILE`: count, page size, count × (start, end, offset), then count
/// NUL-terminated names.
fn parse_nt_file(d: &[u8], files: &mut Vec<FileRange>) -> Result<(), String> {
    let count = u64_at(d, 0);
    let table = count
        .checked_mul(24)
        .and_then(|t| t.checked_add(16))
        .filter(|&t| t <= d.len() as u64)
        .ok_or_else(|| {
            format!(
                "NT_FILE claims {count} files, more than its {} bytes hold",
                d.len()
            )
        })?;
    let mut names = d[table as usize..].split(|&c| c == 0);
    for i in 0..count as usize {
        let e = 16 + i * 24;
        let (start, end) = (u64_at(d, e), u64_at(d, e + 8));
        let name = names
            .next()
            .ok_or_else(|| format!("NT_FILE has fewer names than its {count} entries"))?;
        if end > start {
            files.push(FileRange {
                start,
                end,
                name: String::from_utf8_lossy(name).into_owned(),
            });
        }
    }
    Ok(())
}
