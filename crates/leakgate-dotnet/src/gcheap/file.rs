//! Reading a snapshot from a stream or from a kept `.nettrace` file.

use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
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

/// The environment variable that raises (or lowers) [`TraceLimits::max_trace_bytes`], in MiB.
pub const TRACE_LIMIT_ENV: &str = "LEAKGATE_TRACE_LIMIT_MIB";

/// How much trace a file may make leakgate read: memory and time stay
/// proportional to the file whatever its headers say or it decompresses to
/// (the snapshot holds at most [`MEMORY_PER_TRACE_BYTE`](super::builder::MEMORY_PER_TRACE_BYTE)
/// bytes per byte of trace, plus a fixed allowance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceLimits {
    /// Most bytes of trace read, after decompression. The default, 4 GiB,
    /// is a heap of ~90 million objects (a runtime's trace spends ~45 bytes
    /// per object: 89 MB for 2 million).
    pub max_trace_bytes: u64,
    /// Most bytes a `.gz` file may decompress to per byte of file. leakgate's
    /// own `.nettrace.gz` files decompress to 7-8 times their size (that of a
    /// heap of 2 million equal links 7.7); a gzip bomb of repeated events to
    /// about 400-1000.
    pub max_gzip_ratio: u64,
}

impl Default for TraceLimits {
    fn default() -> Self {
        TraceLimits {
            max_trace_bytes: 4 << 30,
            max_gzip_ratio: 32,
        }
    }
}

impl TraceLimits {
    /// The defaults, with `$LEAKGATE_TRACE_LIMIT_MIB` as the limit on trace
    /// bytes when set (for a real heap larger than the default allows).
    pub fn from_env() -> Result<Self, GcHeapError> {
        let mut limits = TraceLimits::default();
        if let Some(value) = std::env::var_os(TRACE_LIMIT_ENV) {
            let value = value.to_string_lossy().into_owned();
            let mib: u64 = value
                .trim()
                .parse()
                .map_err(|_| GcHeapError::BadTraceLimit { value })?;
            limits.max_trace_bytes = mib.saturating_mul(1 << 20);
        }
        Ok(limits)
    }
}

/// Reads the heap snapshot in a `.nettrace` file (as a capture tees it), or a
/// gzip-compressed one (`.nettrace.gz`, as leakgate keeps them), streaming,
/// within [`TraceLimits::from_env`].
///
/// Only regular files are read: a FIFO or a device could block or never end.
pub fn read_nettrace(path: &Path) -> Result<GcHeapDump, GcHeapError> {
    read_nettrace_with(path, &TraceLimits::from_env()?)
}

/// [`read_nettrace`] within the given limits. A `.gz` file must be one gzip
/// member whose checksum and length match, with nothing after it.
pub fn read_nettrace_with(path: &Path, limits: &TraceLimits) -> Result<GcHeapDump, GcHeapError> {
    let file_error = |source| GcHeapError::File {
        path: path.to_path_buf(),
        source,
    };
    let in_file = |source| GcHeapError::InFile {
        path: path.to_path_buf(),
        source: Box::new(source),
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
    let metadata = file.metadata().map_err(file_error)?;
    if !metadata.is_file() {
        return Err(GcHeapError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mut reader = BufReader::with_capacity(256 << 10, file);
    let gzip = reader
        .fill_buf()
        .map_err(file_error)?
        .starts_with(&[0x1f, 0x8b]);
    if !gzip {
        let bound = Bound::Trace(limits.max_trace_bytes);
        if metadata.len() > limits.max_trace_bytes {
            return Err(in_file(bound.error()));
        }
        // The file may grow while it is read: the limit holds all the same.
        let mut limited = Limited::new(reader, bound);
        return read_gc_heap(&mut limited).map_err(|e| in_file(limited.explain(e)));
    }
    let by_ratio = metadata.len().saturating_mul(limits.max_gzip_ratio);
    let bound = if by_ratio < limits.max_trace_bytes {
        Bound::Gzip {
            compressed: metadata.len(),
            ratio: limits.max_gzip_ratio,
        }
    } else {
        Bound::Trace(limits.max_trace_bytes)
    };
    let mut limited = Limited::new(flate2::bufread::GzDecoder::new(reader), bound);
    // Buffered: the trace is read a few bytes at a time, and each read of
    // the decoder itself costs a call into the inflater.
    let mut trace = BufReader::with_capacity(64 << 10, &mut limited);
    let read = read_gc_heap(&mut trace);
    // The decoder checks the CRC and length once it reaches the end of the
    // gzip member: read to there (bytes after the trace's end tag count
    // against the limit), then nothing may follow the member. On an error in
    // the trace, damaged gzip data is the likelier cause, and is reported.
    let checked = io::copy(&mut trace, &mut io::sink())
        .map_err(|source| limited.explain(GcHeapError::Gzip { source }))
        .and_then(|_| match limited.inner.get_mut().fill_buf() {
            Ok([]) => Ok(()),
            Ok(_) => Err(GcHeapError::AfterGzip),
            Err(source) => Err(GcHeapError::Gzip { source }),
        });
    match (read, checked) {
        (_, Err(damaged)) => Err(in_file(damaged)),
        (read, Ok(())) => read.map_err(|e| in_file(limited.explain(e))),
    }
}

/// Which limit bounds a file's trace bytes.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// [`TraceLimits::max_trace_bytes`].
    Trace(u64),
    /// [`TraceLimits::max_gzip_ratio`] times the file's size.
    Gzip { compressed: u64, ratio: u64 },
}

impl Bound {
    fn bytes(self) -> u64 {
        match self {
            Bound::Trace(limit) => limit,
            Bound::Gzip { compressed, ratio } => compressed.saturating_mul(ratio),
        }
    }

    fn error(self) -> GcHeapError {
        match self {
            Bound::Trace(limit) => GcHeapError::TraceTooLarge { limit },
            Bound::Gzip { compressed, ratio } => GcHeapError::GzipRatio { compressed, ratio },
        }
    }
}

/// Reads at most its bound's bytes from `inner`; a byte beyond is an error.
struct Limited<R> {
    inner: R,
    left: u64,
    bound: Bound,
    exceeded: bool,
}

impl<R: Read> Limited<R> {
    fn new(inner: R, bound: Bound) -> Self {
        Limited {
            inner,
            left: bound.bytes(),
            bound,
            exceeded: false,
        }
    }

    /// `error`, or the bound's if reading stopped at it.
    fn explain(&self, error: GcHeapError) -> GcHeapError {
        if self.exceeded {
            self.bound.error()
        } else {
            error
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // At the limit: only the end of the data is still fine.
            let mut probe = [0u8; 1];
            if buf.is_empty() || self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded = true;
            return Err(io::Error::other("the trace is larger than its limit"));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
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
