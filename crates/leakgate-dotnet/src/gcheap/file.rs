//! Reading a snapshot from a stream or from a kept `.nettrace` file.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::builder::HeapSnapshotBuilder;
use super::error::GcHeapError;
use super::model::GcHeapDump;
use crate::nettrace::EventStream;

/// Reads a whole trace (to its end, so every dropped event is counted) and
/// returns its heap snapshot. Memory: one block of the trace plus the snapshot.
pub fn read_gc_heap(reader: impl Read) -> Result<GcHeapDump, GcHeapError> {
    let mut stream = EventStream::new(reader)?;
    let mut builder = HeapSnapshotBuilder::new(stream.trace());
    while let Some(event) = stream.next_event()? {
        builder.on_event(&event)?;
    }
    builder.finish(stream.dropped_events())
}

/// Reads the heap snapshot in a `.nettrace` file (as a capture tees it), or a
/// gzip-compressed one (`.nettrace.gz`, as leakgate keeps them), streaming.
///
/// Only regular files are read: a FIFO or a device could block or never end.
pub fn read_nettrace(path: &Path) -> Result<GcHeapDump, GcHeapError> {
    let file_error = |source| GcHeapError::File {
        path: path.to_path_buf(),
        source,
    };
    if !fs::metadata(path).map_err(file_error)?.is_file() {
        return Err(GcHeapError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    // Non-blocking open: should the path turn into a FIFO meanwhile, opening
    // it does not hang; the check below then refuses it.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(file_error)?;
    if !file.metadata().map_err(file_error)?.is_file() {
        return Err(GcHeapError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mut reader = BufReader::with_capacity(256 << 10, file);
    let gzip = reader
        .fill_buf()
        .map_err(file_error)?
        .starts_with(&[0x1f, 0x8b]);
    let read = if gzip {
        read_gc_heap(flate2::bufread::GzDecoder::new(reader))
    } else {
        read_gc_heap(reader)
    };
    read.map_err(|source| GcHeapError::InFile {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Compresses a kept trace to `<path>.gz` (created new, mode 0600, like the
/// trace) and removes the original: a heap snapshot's trace shrinks about
/// sevenfold. Returns the new path.
pub fn compress_trace(path: &Path) -> std::io::Result<std::path::PathBuf> {
    let mut gz = path.as_os_str().to_owned();
    gz.push(".gz");
    let gz = std::path::PathBuf::from(gz);
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&gz)?;
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    let copied = fs::File::open(path).and_then(|mut f| std::io::copy(&mut f, &mut encoder));
    let finished = copied
        .and_then(|_| encoder.finish())
        .and_then(|f| f.sync_all());
    if let Err(e) = finished {
        let _ = fs::remove_file(&gz);
        return Err(e);
    }
    fs::remove_file(path)?;
    Ok(gz)
}
