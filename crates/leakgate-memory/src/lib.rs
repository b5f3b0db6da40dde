//! Memory regions of a process, WinDbg `!address` style.
//!
//! Readers turn a source into a [`RegionMap`]: saved Linux
//! `/proc/<pid>/maps` + `smaps` text ([`parse_proc_maps`], the only
//! committed-vs-reserved view on Linux), a Linux ELF core from createdump
//! ([`read_elf_core`], headers and notes only) or a Windows minidump
//! ([`read_minidump`]); [`read_dump`] picks by magic. Each region gets a
//! [`Usage`] with WinDbg `!address` meanings ([`classify`]). When the
//! managed inspector reports the GC's committed ranges,
//! [`RegionMap::split_gc`] moves them out of Unknown into GcHeap, so a
//! native leak and a managed leak read differently; the GC's committed
//! bytes beyond those ranges (free regions, bookkeeping), from the runtime's
//! own count, follow with [`MemorySummary::attribute_gc_committed`].
//! [`RegionMap::summary`] gives the numbers the gate budgets on;
//! [`render_address_summary`] prints them like `!address -summary`.
//!
//! ```
//! use leakgate_memory::{Usage, parse_proc_maps, render_address_summary};
//!
//! let maps = "\
//! 7f0000000000-7f0000800000 rw-p 00000000 00:00 0
//! 7f0000800000-7f0004000000 ---p 00000000 00:00 0
//! 7f1000000000-7f1000021000 rw-p 00000000 00:00 0                          [heap]
//! ";
//! let mut map = parse_proc_maps(maps, None)?;
//! // the inspector says the GC committed the first 4 MiB
//! map.split_gc(&[(0x7f00_0000_0000, 0x7f00_0040_0000)]);
//! let s = map.summary();
//! assert_eq!(s.committed(Usage::GcHeap), 4 << 20);
//! assert_eq!(s.committed(Usage::Unknown), 4 << 20);
//! assert_eq!(s.committed(Usage::Heap), 0x21000);
//! println!("{}", render_address_summary(&s));
//! # Ok::<(), leakgate_memory::MemoryError>(())
//! ```

pub mod classify;
mod elfcore;
mod error;
#[cfg(feature = "minidump")]
mod minidump;
mod model;
mod procmaps;
mod render;
mod summary;

use std::io::Read;
use std::path::Path;

pub use classify::WindowsFacts;
pub use elfcore::{read_elf_core, read_elf_core_bytes};
pub use error::MemoryError;
#[cfg(feature = "minidump")]
pub use minidump::{read_minidump, read_minidump_bytes};
pub use model::{Region, RegionMap, RegionState, RegionType, SourceKind, Usage};
pub use procmaps::{parse_proc_maps, read_live};
pub use render::{
    gc_attribution_note, human, render_address_summary, render_growth_table, windbg_hex,
};
pub use summary::{GcAttribution, MemorySummary, Row};

/// The largest saved maps/smaps text read (a process with a million
/// mappings writes ~250 MiB of smaps).
pub const MAX_TEXT: u64 = 256 << 20;

/// Regions of a file given to `leakgate analyze`: saved `/proc` text
/// (`*.smaps`, `*.maps`), or a dump. Only regular files are read (a FIFO
/// would block, `/dev/zero` never end), and every read is bounded by the
/// file's size.
pub fn read_regions(path: &Path) -> Result<RegionMap, MemoryError> {
    regular_file(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let smaps = name.ends_with(".smaps");
    if !smaps && !name.ends_with(".maps") {
        return read_dump(path);
    }
    let io = |source| MemoryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let too_large = |size| MemoryError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit: MAX_TEXT,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > MAX_TEXT {
        return Err(too_large(size));
    }
    // Bounded again while reading: a file may grow after its size was read.
    let mut bytes = Vec::new();
    file.take(MAX_TEXT + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_TEXT {
        return Err(too_large(bytes.len() as u64));
    }
    let text = String::from_utf8_lossy(&bytes);
    // An smaps file is its own maps view (the parser skips the field lines).
    parse_proc_maps(&text, smaps.then_some(text.as_ref()))
}

/// Errs unless `path` is a regular file (symlinks followed).
fn regular_file(path: &Path) -> Result<(), MemoryError> {
    let meta = std::fs::metadata(path).map_err(|source| MemoryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let kind = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(MemoryError::NotAFile {
        path: path.to_path_buf(),
        kind,
    })
}

/// Reads a Windows minidump (`MDMP`) or a Linux ELF core (`\x7fELF`),
/// chosen by the file's first bytes.
pub fn read_dump(path: &Path) -> Result<RegionMap, MemoryError> {
    regular_file(path)?;
    let io = |source| MemoryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut magic = Vec::with_capacity(4);
    std::fs::File::open(path)
        .map_err(io)?
        .take(4)
        .read_to_end(&mut magic)
        .map_err(io)?;
    match magic.as_slice() {
        #[cfg(feature = "minidump")]
        b"MDMP" => read_minidump(path),
        b"\x7fELF" => read_elf_core(path),
        _ => Err(MemoryError::UnknownFormat {
            path: path.to_path_buf(),
            magic,
        }),
    }
}
