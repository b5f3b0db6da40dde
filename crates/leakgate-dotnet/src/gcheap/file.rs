//! Reading a snapshot from a stream or from a kept `.nettrace` file.

use std::fs::{self, OpenOptions};
use std::io::{BufReader, Read};
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

/// Reads the heap snapshot in a `.nettrace` file (as a capture tees it).
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
    read_gc_heap(BufReader::with_capacity(256 << 10, file)).map_err(|source| GcHeapError::InFile {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}
