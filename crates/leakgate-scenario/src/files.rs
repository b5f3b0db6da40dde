//! Files leakgate reads but did not write (a leg's report, a snapshot),
//! and files it writes whole: the two rules every crate that touches the
//! disk shares.

use std::io;
use std::path::Path;

/// Reads a file leakgate did not write (a leg's report, a snapshot) as text:
/// a regular file (the target of a link counts) of at most `limit` bytes,
/// else an error that says which — `/dev/zero` or a 2 GB file must not be
/// read into memory.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<String> {
    use std::io::Read;
    let not_regular = || io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
    // Checked before opening too: opening a FIFO would wait for a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let too_big = || {
        io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {} MiB, the most leakgate reads", limit >> 20),
        )
    };
    if meta.len() > limit {
        return Err(too_big());
    }
    let mut text = String::new();
    // The size may change after the check: read one byte more than allowed at most.
    file.take(limit + 1).read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(text)
}

/// Writes `path` whole or not at all: a temporary file beside it, then a
/// rename, so a reader (or a crash) never sees half a report.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".leakgate-")
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
