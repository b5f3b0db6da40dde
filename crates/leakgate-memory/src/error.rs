//! Errors of every reader. Each variant names the file (when there is one)
//! and what is wrong with it, so a user knows which dump to look at.

use std::path::PathBuf;

/// Everything that can go wrong reading or modelling memory regions.
///
/// Readers never panic on bad input: truncated files, wrong magic,
/// directories past the end of the file, overflowing counts and
/// overlapping regions all end up here.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The first bytes match no format we know.
    #[error("{path}: not a minidump (MDMP) or ELF core file (first bytes {magic:02x?})")]
    UnknownFormat { path: PathBuf, magic: Vec<u8> },
    /// The file is of a known format but its structure is broken.
    #[error("{path}: malformed {format}: {problem}")]
    Malformed {
        path: PathBuf,
        format: &'static str,
        problem: String,
    },
    /// The file ends before a structure it points at.
    #[error(
        "{path}: truncated {format}: {what} at offset {offset:#x} (+{len:#x} bytes) lies past the end of the file ({file_len:#x} bytes)"
    )]
    Truncated {
        path: PathBuf,
        format: &'static str,
        what: String,
        offset: u64,
        len: u64,
        file_len: u64,
    },
    /// A stream without which no region map can be made is missing.
    #[error(
        "{path}: minidump has no {stream}; capture it with full memory info (procdump -ma, or MiniDumpWithFullMemoryInfo)"
    )]
    MissingStream { path: PathBuf, stream: &'static str },
    /// Two regions claim the same address.
    #[error(
        "{source_name}: regions overlap: {first_base:#x}..{first_end:#x} and {second_base:#x}..{second_end:#x}"
    )]
    Overlap {
        source_name: String,
        first_base: u64,
        first_end: u64,
        second_base: u64,
        second_end: u64,
    },
    /// Not a regular file (a FIFO, a device, a directory): reading it could
    /// block forever or never end.
    #[error("{path}: not a regular file ({kind}); give a dump or a saved maps/smaps file")]
    NotAFile { path: PathBuf, kind: &'static str },
    /// A text input larger than any real maps/smaps file.
    #[error("{path}: {size} bytes, more than the {limit} bytes a maps/smaps file can hold")]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    /// A line of saved `/proc/<pid>/maps` or `smaps` text does not parse.
    #[error("{source_name} line {line}: {problem}: {text:?}")]
    ProcLine {
        source_name: String,
        line: usize,
        problem: String,
        text: String,
    },
    /// A live process could not be read (gone, or no permission).
    #[error(
        "/proc/{pid}/{file}: cannot read: {source} (has the process exited, or is it not ours?)"
    )]
    Live {
        pid: u32,
        file: &'static str,
        #[source]
        source: std::io::Error,
    },
}
