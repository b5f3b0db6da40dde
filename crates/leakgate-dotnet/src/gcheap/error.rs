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
    #[error(
        "the heap snapshot would hold {} MiB after {} MiB of trace (byte offset {offset}), more than a trace the runtime writes can describe ({} MiB plus {} bytes per byte of trace): the trace is crafted or corrupt",
        held >> 20,
        trace_bytes >> 20,
        super::builder::MEMORY_ALLOWANCE >> 20,
        super::builder::MEMORY_PER_TRACE_BYTE
    )]
    OverBudget {
        offset: u64,
        held: u64,
        trace_bytes: u64,
    },
    #[error("inconsistent heap snapshot at byte offset {offset}: {problem}")]
    Inconsistent { offset: u64, problem: String },
    #[error("cannot read the trace file {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<GcHeapError>,
    },
    #[error(
        "the trace is larger than {} MiB, the limit for a trace file (${} raises it, in MiB)",
        limit >> 20,
        super::file::TRACE_LIMIT_ENV
    )]
    TraceTooLarge { limit: u64 },
    #[error(
        "the gzip data decompresses to more than {ratio} times its {compressed} bytes, which no heap snapshot trace does (a gzip bomb?); to read it anyway, decompress it (gunzip) and read the .nettrace"
    )]
    GzipRatio { compressed: u64, ratio: u64 },
    #[error("the gzip data is damaged")]
    Gzip {
        #[source]
        source: io::Error,
    },
    #[error(
        "data follows the end of the gzip data (a kept trace is one gzip member and nothing else)"
    )]
    AfterGzip,
    #[error(
        "${}={value:?} is not a whole number of MiB",
        super::file::TRACE_LIMIT_ENV
    )]
    BadTraceLimit { value: String },
    #[error("{} is not a regular file (a trace is read from a file on disk)", path.display())]
    NotAFile { path: PathBuf },
}
