//! Why a GC heap snapshot could not be read from a trace.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::nettrace::NettraceError;

#[derive(Debug, Error)]
pub enum GcHeapError {
    #[error(transparent)]
    Trace(#[from] NettraceError),
    #[error(
        "the trace holds no GC heap snapshot: {reason} (was the session opened with the GCHeapCollect, GCHeapDump and Type keywords of Microsoft-Windows-DotNETRuntime?)"
    )]
    NoSnapshot { reason: &'static str },
    #[error(
        "the trace ends before the heap snapshot is complete: the heap walk{} began at byte offset {offset} but the GC's end never came",
        gc_number.map(|n| format!(" of GC #{n}")).unwrap_or_default()
    )]
    Unfinished { gc_number: Option<u32>, offset: u64 },
    #[error("inconsistent heap snapshot at byte offset {offset}: {problem}")]
    Inconsistent { offset: u64, problem: String },
    #[error("cannot read the trace file {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {source}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<GcHeapError>,
    },
    #[error("{} is not a regular file (a trace is read from a file on disk)", path.display())]
    NotAFile { path: PathBuf },
}
