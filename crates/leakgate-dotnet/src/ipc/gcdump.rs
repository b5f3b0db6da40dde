//! A GC heap snapshot over EventPipe, as dotnet-gcdump takes one: no dump file.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use std::time::Duration;
//! use leakgate_dotnet::gcheap::managed_summary;
//! use leakgate_dotnet::ipc::{DiagnosticsClient, GcDumpOptions};
//!
//! let client = DiagnosticsClient::wait_for(4242, Duration::from_secs(10))?;
//! let ctrl_c = AtomicBool::new(false); // set by a Ctrl-C handler
//! let capture = client.capture_gc_heap(&GcDumpOptions::default(), &ctrl_c)?;
//! assert!(capture.dump.is_complete(), "events dropped: retry with a larger buffer");
//! let version = client.process_info()?.clr_version.unwrap_or_default();
//! let summary = managed_summary(&capture.dump, &version);
//! println!("{} objects in {:?}", capture.dump.nodes.len(), capture.timings.total);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The sequence: CollectTracing3 enables `Microsoft-Windows-DotNETRuntime`
//! at level Verbose with the GCHeapSnapshot keywords (GC, GCHeapCollect,
//! GCHeapDump, GCHeapAndTypeNames, Type — what dotnet-gcdump enables; plus
//! GCHeapSurvivalAndMovement for the generation ranges). Enabling
//! GCHeapCollect makes the runtime run a full blocking GC with a heap walk
//! *before* it replies, into the session's buffer (which is why the buffer
//! must hold the whole walk). The nettrace stream that follows is parsed as
//! it arrives; once the GC's end is read (the GCEnd logged by the thread
//! that walked the heap, see [`gcheap::builder`](crate::gcheap::builder)) the
//! snapshot is complete, StopTracing is sent on a second connection while
//! the stream is drained to its end (where the last sequence point may
//! reveal dropped events). The GC keyword also brings the GC's own
//! `CommittedUsage` events; the last one, drained too, becomes
//! [`GcHeapDump::gc_committed`].
//!
//! The session is always stopped: on success, on any error, on the
//! deadline and on cancellation (a guard closes the stream, which makes the
//! runtime end the session, and sends StopTracing). Every wait polls the
//! cancel flag and has a deadline.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;

use super::frame::{self, HRESULT_UNKNOWN_COMMAND, Provider, Reply, id, set};
use super::{DiagnosticsClient, IpcError, NETTRACE_FORMAT, read_again, session_id};
use crate::gcheap::events::{RUNTIME_PROVIDER, keyword};
use crate::gcheap::{GcHeapDump, GcHeapError, HeapSnapshotBuilder};
use crate::nettrace::{EventStream, NettraceError};

/// Something that says "stop now" (Ctrl-C): an [`AtomicBool`] or a closure.
pub trait Cancel {
    fn is_cancelled(&self) -> bool;
}

impl Cancel for AtomicBool {
    fn is_cancelled(&self) -> bool {
        self.load(Ordering::SeqCst)
    }
}

impl<F: Fn() -> bool> Cancel for F {
    fn is_cancelled(&self) -> bool {
        self()
    }
}

/// How to take a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcDumpOptions {
    /// Bounds the capture: the induced GC, the heap walk, reading it. Stopping
    /// the session afterwards may take up to [`STOP_GRACE`] more.
    pub timeout: Duration,
    /// The session buffer in the target, in MiB. The runtime writes the whole
    /// heap walk into it before streaming starts; a walk that does not fit
    /// loses events (see [`GcHeapDump::dropped_events`]). Memory is taken only
    /// as used. dotnet-gcdump uses 1024.
    pub buffer_mb: u32,
    /// Also ask for the generation ranges (the GCHeapSurvivalAndMovement
    /// keyword), from which the summary's segments come.
    pub generation_ranges: bool,
    /// Copy the raw nettrace stream to this path (created new, mode 0600; a
    /// trace holds type and field names of the service). Removed again if the
    /// capture fails. Read it back with [`read_nettrace`](crate::gcheap::read_nettrace).
    pub trace_copy: Option<PathBuf>,
}

impl Default for GcDumpOptions {
    fn default() -> Self {
        GcDumpOptions {
            timeout: Duration::from_secs(60),
            buffer_mb: 1024,
            generation_ranges: true,
            trace_copy: None,
        }
    }
}

/// Extra time allowed after the snapshot is complete (or has failed) to stop
/// the session cleanly, even past the deadline.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often a blocked read wakes to look at the cancel flag and the deadline.
const POLL: Duration = Duration::from_millis(50);

/// A snapshot and what it cost.
#[derive(Debug, Clone)]
pub struct GcDumpCapture {
    pub dump: GcHeapDump,
    pub timings: CaptureTimings,
    /// Bytes of nettrace received.
    pub trace_bytes: u64,
    /// False if the stream could not be read to its end after the snapshot
    /// was complete (a cancel, or the runtime not closing it within
    /// [`STOP_GRACE`]; the session was stopped all the same): `dropped_events`
    /// then counts only the losses seen before, and no trace copy is kept.
    pub stream_complete: bool,
    /// The raw trace, when [`GcDumpOptions::trace_copy`] asked for it and the
    /// whole stream was read.
    pub trace_copy: Option<PathBuf>,
}

/// Where the time of a capture went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureTimings {
    /// Request to reply: the induced GC and its heap walk (the service is
    /// paused for the GC part of this).
    pub gc_and_walk: Duration,
    /// Reply to the snapshot's last event: streaming and parsing the walk.
    pub reading: Duration,
    /// Stopping the session and draining the stream.
    pub stopping: Duration,
    pub total: Duration,
}

/// Why a snapshot could not be taken, phrased as what to do next.
#[derive(Debug, Error)]
pub enum GcDumpError {
    #[error(transparent)]
    Ipc(#[from] IpcError),
    #[error("the heap snapshot stream of process {pid} is unusable")]
    Trace {
        pid: u32,
        #[source]
        source: GcHeapError,
    },
    #[error(
        "the heap snapshot of process {pid} did not finish within {timeout:?} (still {phase}); the session was stopped; retry with a longer timeout"
    )]
    TimedOut {
        pid: u32,
        timeout: Duration,
        phase: &'static str,
    },
    #[error("the heap snapshot was cancelled (the session was stopped)")]
    Cancelled,
    #[error("cannot write the trace copy {}", path.display())]
    TraceCopy {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl DiagnosticsClient {
    /// Takes a GC heap snapshot of the process over EventPipe (see the
    /// [module docs](super::gcdump)). `cancel` is polled throughout (≤ 50 ms).
    pub fn capture_gc_heap(
        &self,
        options: &GcDumpOptions,
        cancel: &dyn Cancel,
    ) -> Result<GcDumpCapture, GcDumpError> {
        let copy = match &options.trace_copy {
            Some(path) => {
                let file = create_private(path).map_err(|source| GcDumpError::TraceCopy {
                    path: path.clone(),
                    source,
                })?;
                Some((file, path.clone()))
            }
            None => None,
        };
        let result = self.capture(options, cancel, copy);
        let keep_copy = result.as_ref().is_ok_and(|c| c.trace_copy.is_some());
        if let (Some(path), false) = (&options.trace_copy, keep_copy) {
            let _ = fs::remove_file(path); // failed, or cut short: it would not read back
        }
        result
    }

    fn capture(
        &self,
        options: &GcDumpOptions,
        cancel: &dyn Cancel,
        copy: Option<(File, PathBuf)>,
    ) -> Result<GcDumpCapture, GcDumpError> {
        let started = Instant::now();
        let deadline = started + options.timeout;
        if cancel.is_cancelled() {
            return Err(GcDumpError::Cancelled);
        }
        let mut session = self.start_session(options, deadline, cancel)?;
        let replied = Instant::now();
        // The trace starts after the reply: count and copy from here.
        session.stream.bytes = 0;
        session.stream.copy = copy;

        let stream_error = |e| self.stream_error(e, options.timeout, "reading the heap walk");
        let mut events = EventStream::new(BufReader::with_capacity(256 << 10, &mut session.stream))
            .map_err(stream_error)?;
        let mut builder = self.read_snapshot(&mut events, options.timeout)?;
        let complete = Instant::now();
        let (stream_complete, stopped) =
            self.stop_and_drain(session.id, &mut events, &mut builder, deadline);
        let dropped_events = events.dropped_events();
        drop(events);
        if stream_complete || stopped {
            session.disarm();
        }
        let trace_bytes = session.stream.bytes;
        let copied = session.stream.finish_copy();
        drop(session); // closes the connection (and, if still armed, stops again)
        copied?;

        let dump = builder
            .finish(dropped_events)
            .map_err(|source| self.trace_failure(source))?;
        let done = Instant::now();
        Ok(GcDumpCapture {
            dump,
            timings: CaptureTimings {
                gc_and_walk: replied - started,
                reading: complete - replied,
                stopping: done - complete,
                total: done - started,
            },
            trace_bytes,
            stream_complete,
            trace_copy: options.trace_copy.clone().filter(|_| stream_complete),
        })
    }

    /// Parses events as they arrive until the snapshot is complete.
    fn read_snapshot(
        &self,
        events: &mut EventStream<impl Read>,
        timeout: Duration,
    ) -> Result<HeapSnapshotBuilder, GcDumpError> {
        let mut builder = HeapSnapshotBuilder::new(events.trace());
        while !builder.is_complete() {
            let next = events
                .next_event()
                .map_err(|e| self.stream_error(e, timeout, "reading the heap walk"))?;
            let Some(event) = next else {
                // The runtime ended the stream early: finish() says what is missing.
                let source = builder.finish(events.dropped_events()).err().unwrap_or(
                    GcHeapError::NoSnapshot {
                        reason: "the stream ended early",
                    },
                );
                return Err(self.trace_failure(source));
            };
            builder
                .on_event(&event)
                .map_err(|source| self.trace_failure(source))?;
        }
        Ok(builder)
    }

    /// Sends StopTracing from another thread while the stream is drained to
    /// its end here, so the runtime's last writes never wait on us (the GC's
    /// committed bytes may still come: the builder looks at each event).
    /// Returns whether the stream ended and whether the runtime acknowledged
    /// the stop.
    fn stop_and_drain(
        &self,
        session_id: Option<u64>,
        events: &mut EventStream<BufReader<&mut SessionStream<'_>>>,
        builder: &mut HeapSnapshotBuilder,
        deadline: Instant,
    ) -> (bool, bool) {
        let stopper = {
            let client = self.clone();
            std::thread::spawn(move || {
                session_id.map_or(Ok(()), |id| client.stop_tracing(id, QUICK_STOP))
            })
        };
        events.get_mut().get_mut().deadline = deadline.max(Instant::now() + STOP_GRACE);
        let stream_complete = loop {
            match events.next_event() {
                Ok(Some(event)) => builder.on_trailing_event(&event),
                Ok(None) => break true,
                Err(_) => break false,
            }
        };
        let stopped = stopper.join().is_ok_and(|r| r.is_ok());
        (stream_complete, stopped)
    }

    fn trace_failure(&self, source: GcHeapError) -> GcDumpError {
        GcDumpError::Trace {
            pid: self.pid,
            source,
        }
    }

    /// Sends CollectTracing3 (CollectTracing2 on runtimes before .NET 5) and
    /// waits for the reply, which comes after the induced GC.
    fn start_session<'a>(
        &self,
        options: &GcDumpOptions,
        deadline: Instant,
        cancel: &'a dyn Cancel,
    ) -> Result<Session<'a>, GcDumpError> {
        const CMD: &str = "heap snapshot (EventPipe CollectTracing3)";
        let mut keywords = keyword::GC_HEAP_SNAPSHOT;
        if options.generation_ranges {
            keywords |= keyword::GC_HEAP_SURVIVAL_AND_MOVEMENT;
        }
        let providers = [Provider {
            name: RUNTIME_PROVIDER.into(),
            keywords,
            level: 5,
            filter_data: String::new(),
        }];
        let attempts = [
            (
                id::COLLECT_TRACING3,
                frame::collect_tracing3_payload(
                    options.buffer_mb,
                    NETTRACE_FORMAT,
                    false,
                    false,
                    &providers,
                ),
            ),
            (
                id::COLLECT_TRACING2,
                frame::collect_tracing2_payload(
                    options.buffer_mb,
                    NETTRACE_FORMAT,
                    false,
                    &providers,
                ),
            ),
        ];
        const PHASE: &str = "waiting for the induced GC and heap walk";
        for (command_id, payload) in attempts {
            let socket = self.send(CMD, set::EVENT_PIPE, command_id, &payload)?;
            socket
                .set_read_timeout(Some(POLL))
                .map_err(|source| IpcError::Io {
                    command: CMD,
                    doing: "setting the stream's read timeout",
                    source,
                })?;
            let mut session = Session::new(self, socket, deadline, cancel)?;
            // An interruption now does not abandon the reply: the runtime is
            // running the GC and will answer with the session id, which is
            // what stops the session for sure (see `SessionStream::read`).
            session.stream.finishing_reply = true;
            // The stream keeps the deadline and the cancel itself.
            let reply = super::read_reply(CMD, &mut session.stream, &super::Wait::unbounded());
            session.stream.finishing_reply = false;
            let interruption = session.stream.interruption.take();
            let reply = match reply {
                Ok(reply) => reply,
                Err(IpcError::Io { source, .. }) => {
                    return Err(self.interrupted(source, options.timeout, PHASE));
                }
                Err(other) => return Err(other.into()),
            };
            if let Reply::Error {
                hresult: HRESULT_UNKNOWN_COMMAND,
                ..
            } = reply
            {
                session.disarm(); // no session was created
                continue;
            }
            session.id = Some(session_id(CMD, reply)?);
            if let Some(interruption) = interruption {
                // Dropping the session stops it, by its id.
                return Err(self.interrupted(
                    io::Error::other(interruption),
                    options.timeout,
                    PHASE,
                ));
            }
            return Ok(session);
        }
        Err(IpcError::Unsupported { command: CMD }.into())
    }

    fn stream_error(
        &self,
        error: NettraceError,
        timeout: Duration,
        phase: &'static str,
    ) -> GcDumpError {
        match error {
            NettraceError::Io { source, .. } => self.interrupted(source, timeout, phase),
            other => self.trace_failure(other.into()),
        }
    }

    /// Maps an I/O error of the session stream: our own interruptions
    /// (cancel, deadline, trace copy) or a real socket failure.
    fn interrupted(&self, error: io::Error, timeout: Duration, phase: &'static str) -> GcDumpError {
        let socket = |source| {
            GcDumpError::Ipc(IpcError::Io {
                command: "heap snapshot (EventPipe stream)",
                doing: phase,
                source,
            })
        };
        // An OS error holds no inner error: only ours are taken apart.
        if !error.get_ref().is_some_and(|e| e.is::<Interruption>()) {
            return socket(error);
        }
        let kind = error.kind();
        match error.into_inner().map(|e| e.downcast::<Interruption>()) {
            Some(Ok(interruption)) => match *interruption {
                Interruption::Cancelled => GcDumpError::Cancelled,
                Interruption::DeadlinePassed => GcDumpError::TimedOut {
                    pid: self.pid,
                    timeout,
                    phase,
                },
                Interruption::CopyFailed { path, source } => {
                    GcDumpError::TraceCopy { path, source }
                }
            },
            // Not reached (checked above); the error stays whole all the same.
            Some(Err(other)) => socket(io::Error::new(kind, other)),
            None => socket(io::Error::from(kind)),
        }
    }
}

/// Timeout of the StopTracing exchange.
const QUICK_STOP: Duration = Duration::from_secs(5);

/// Why a read of the session stream gave up (carried inside an `io::Error`).
#[derive(Debug, Error)]
enum Interruption {
    #[error("cancelled")]
    Cancelled,
    #[error("deadline passed")]
    DeadlinePassed,
    #[error("writing the trace copy {} failed", path.display())]
    CopyFailed {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The session's connection: reads poll the cancel flag and the deadline,
/// and copy what they return to the trace copy, if any.
struct SessionStream<'a> {
    socket: UnixStream,
    deadline: Instant,
    cancel: &'a dyn Cancel,
    copy: Option<(File, PathBuf)>,
    bytes: u64,
    /// While the reply to CollectTracing is awaited, a cancel or the deadline
    /// does not fail the read at once: it is noted in `interruption` and the
    /// reply gets [`STOP_GRACE`] more to arrive, so that the session can be
    /// stopped by its id (a session whose reply we never read would otherwise
    /// run on until the runtime's first failed write).
    finishing_reply: bool,
    interruption: Option<Interruption>,
}

impl SessionStream<'_> {
    fn finish_copy(&mut self) -> Result<(), GcDumpError> {
        if let Some((mut file, path)) = self.copy.take() {
            file.flush()
                .and_then(|()| file.sync_all())
                .map_err(|source| GcDumpError::TraceCopy { path, source })?;
        }
        Ok(())
    }
}

impl Read for SessionStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let why = if self.interruption.is_some() {
                None // already interrupted: only the grace deadline counts
            } else if self.cancel.is_cancelled() {
                Some(Interruption::Cancelled)
            } else {
                (Instant::now() >= self.deadline).then_some(Interruption::DeadlinePassed)
            };
            if let Some(why) = why {
                if !self.finishing_reply {
                    return Err(io::Error::other(why));
                }
                // Note why, and let the reply arrive within the grace period.
                self.interruption = Some(why);
                self.deadline = Instant::now() + STOP_GRACE;
            }
            if self.interruption.is_some() && Instant::now() >= self.deadline {
                let why = self
                    .interruption
                    .take()
                    .unwrap_or(Interruption::DeadlinePassed);
                return Err(io::Error::other(why));
            }
            match self.socket.read(buf) {
                Ok(n) => {
                    if let Some((file, path)) = &mut self.copy
                        && let Err(e) = file.write_all(&buf[..n])
                    {
                        let path = path.clone();
                        self.copy = None;
                        let kind = e.kind();
                        return Err(io::Error::new(
                            kind,
                            Interruption::CopyFailed { path, source: e },
                        ));
                    }
                    self.bytes += n as u64;
                    return Ok(n);
                }
                Err(e) if read_again(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// An EventPipe session and its connection. Dropping it while armed ends
/// the session: the connection is shut down (the runtime then ends the
/// session itself when its next write fails) and StopTracing is sent.
struct Session<'a> {
    client: DiagnosticsClient,
    id: Option<u64>,
    stream: SessionStream<'a>,
    armed: bool,
}

impl<'a> Session<'a> {
    fn new(
        client: &DiagnosticsClient,
        socket: UnixStream,
        deadline: Instant,
        cancel: &'a dyn Cancel,
    ) -> Result<Self, IpcError> {
        socket
            .set_read_timeout(Some(POLL))
            .map_err(|source| IpcError::Io {
                command: "heap snapshot",
                doing: "setting the poll interval",
                source,
            })?;
        Ok(Session {
            client: client.clone(),
            id: None,
            stream: SessionStream {
                socket,
                deadline,
                cancel,
                copy: None,
                bytes: 0,
                finishing_reply: false,
                interruption: None,
            },
            armed: true,
        })
    }

    /// The session is known to be over: dropping needs to do nothing more.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self.stream.socket.shutdown(Shutdown::Both);
        if self.armed
            && let Some(id) = self.id
        {
            let _ = self.client.stop_tracing(id, QUICK_STOP);
        }
    }
}

/// Creates `path` new with mode 0600.
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}
