//! Client of the .NET diagnostics IPC protocol (Unix domain socket, Linux).
//!
//! This is how leakgate asks a running .NET service for a core dump, its
//! process info, an induced full GC, or a GC heap snapshot ([`gcdump`]) —
//! the same commands `dotnet-dump` and `dotnet-gcdump` send. Frame layouts
//! live in [`frame`]; this module only opens sockets and sequences commands.
//! One connection per command.
//!
//! ```no_run
//! use std::path::Path;
//! use std::time::Duration;
//! use leakgate_dotnet::ipc::{DiagnosticsClient, DumpKind};
//!
//! let client = DiagnosticsClient::wait_for(4242, Duration::from_secs(10))?;
//! println!("{}", client.process_info()?.command_line);
//! let gc = client.induce_gc(Duration::from_secs(30))?;
//! if let (Some(committed), Some(heap)) = (gc.committed, gc.heap) {
//!     println!("the GC holds {} bytes committed, {} live", committed.total(), heap.live());
//! }
//! client.write_dump(Path::new("/tmp/sample-1.core"), DumpKind::WithHeap)?;
//! # Ok::<(), leakgate_dotnet::ipc::IpcError>(())
//! ```

pub mod frame;
pub mod gcdump;

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

use thiserror::Error;

use crate::gccommit::{GcAccount, GcAccountReader};
use crate::gcheap::events::keyword;
use crate::nettrace::EventStream;
use frame::{FrameError, HEADER_LEN, HRESULT_UNKNOWN_COMMAND, Provider, Reply, id, set};

pub use frame::ProcessInfo;
pub use gcdump::{Cancel, CaptureTimings, GcDumpCapture, GcDumpError, GcDumpOptions};

/// How much memory createdump puts in the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DumpKind {
    /// Modules, threads, stacks (createdump `--normal`).
    Normal,
    /// Normal plus the GC heap and other private memory (`--withheap`); what
    /// the managed inspector needs.
    WithHeap,
    /// Stacks only, scrubbed (`--triage`).
    Triage,
    /// All memory, including mapped images (`--full`); large.
    Full,
}

impl DumpKind {
    /// The `type` field of GenerateCoreDump.
    pub fn wire_value(self) -> u32 {
        match self {
            DumpKind::Normal => 1,
            DumpKind::WithHeap => 2,
            DumpKind::Triage => 3,
            DumpKind::Full => 4,
        }
    }
}

/// Everything that can go wrong talking to the runtime, phrased as what to do next.
#[derive(Debug, Error)]
pub enum IpcError {
    #[error(
        "no process with pid {pid}: it has exited (or never started); check the service's own output"
    )]
    NoSuchProcess { pid: u32 },
    #[error(
        "process {pid} has no diagnostics socket (looked for dotnet-diagnostic-{pid}-*-socket in {searched}): \
         it is not a .NET process, it has not started its runtime yet, or it runs with \
         DOTNET_EnableDiagnostics=0 — unset that variable for the service under test"
    )]
    NoSocket { pid: u32, searched: String },
    #[error(
        "process {pid} opened no diagnostics socket within {waited:?}: is it a .NET service, and is DOTNET_EnableDiagnostics unset?"
    )]
    WaitTimedOut { pid: u32, waited: Duration },
    #[error(
        "cannot connect to the diagnostics socket {path}: {source} (the process may have exited; a stale socket is left behind by a killed process)"
    )]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("diagnostics IPC {command} failed while {doing}")]
    Io {
        command: &'static str,
        doing: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "the runtime closed the connection without answering {command}: the process may have crashed or exited"
    )]
    NoReply { command: &'static str },
    #[error("malformed reply to {command}: {source} (is this a supported .NET runtime?)")]
    Protocol {
        command: &'static str,
        #[source]
        source: FrameError,
    },
    #[error("the runtime refused the {command}: HRESULT {hresult:#010X}{}", message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Refused {
        command: &'static str,
        hresult: u32,
        message: Option<String>,
    },
    #[error("this runtime does not support {command}: the service needs .NET Core 3.1 or later")]
    Unsupported { command: &'static str },
    #[error("dump path {path} is not usable: {reason}")]
    BadPath { path: PathBuf, reason: String },
    /// The dump path cannot be made absolute (the working directory is gone).
    #[error("dump path {path} is not usable")]
    NotAbsolute {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the runtime reported the dump written, but {path} {problem}")]
    DumpFile {
        path: PathBuf,
        problem: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "the induced GC did not finish within {0:?}: the service may be stuck; retry with a longer timeout"
    )]
    GcTimedOut(Duration),
    #[error("interrupted while waiting for the {command} reply")]
    Interrupted { command: &'static str },
}

/// A handle on one .NET process's diagnostics endpoint.
///
/// Holds only the socket path: each command opens its own connection, as the
/// runtime closes the connection after replying.
#[derive(Debug, Clone)]
pub struct DiagnosticsClient {
    pid: u32,
    socket: PathBuf,
    /// Set from a Ctrl-C handler: every wait for a reply gives up within
    /// [`POLL`] once it turns true.
    cancel: Option<Arc<AtomicBool>>,
}

/// How often a wait for a reply looks at the cancel flag.
const POLL: Duration = Duration::from_millis(100);

/// Read timeout for quick commands (process info, stop tracing).
const QUICK_REPLY: Duration = Duration::from_secs(30);
/// Read timeout for a dump reply: createdump of a big heap takes a while.
const DUMP_REPLY: Duration = Duration::from_secs(600);
/// EventPipe serialization format 1 = nettrace.
const NETTRACE_FORMAT: u32 = 1;
/// `Microsoft-Windows-DotNETRuntime` keyword that forces a full GC when enabled.
pub const GC_HEAP_COLLECT_KEYWORD: u64 = 0x80_0000;

impl DiagnosticsClient {
    /// Finds the diagnostics socket of `pid` (newest if a pid was reused).
    ///
    /// Looks in the target's own `$TMPDIR` (read from `/proc/<pid>/environ`,
    /// since the runtime uses its environment, not ours), then ours, then `/tmp`.
    pub fn for_pid(pid: u32) -> Result<Self, IpcError> {
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        if !proc_dir.exists() {
            return Err(IpcError::NoSuchProcess { pid });
        }
        let dirs = socket_dirs(pid);
        match find_socket(pid, process_start_time(pid), &dirs) {
            Some(socket) => Ok(DiagnosticsClient {
                pid,
                socket,
                cancel: None,
            }),
            None => Err(IpcError::NoSocket {
                pid,
                searched: dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Polls until the runtime of `pid` has opened its socket (it does so
    /// early during startup, before `Main`).
    pub fn wait_for(pid: u32, timeout: Duration) -> Result<Self, IpcError> {
        let deadline = Instant::now() + timeout;
        loop {
            match Self::for_pid(pid) {
                Ok(client) => return Ok(client),
                Err(IpcError::NoSocket { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(IpcError::NoSocket { .. }) => {
                    return Err(IpcError::WaitTimedOut {
                        pid,
                        waited: timeout,
                    });
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// A client for a known socket path (tests, containers with a shared /tmp).
    pub fn from_socket(pid: u32, socket: PathBuf) -> Self {
        DiagnosticsClient {
            pid,
            socket,
            cancel: None,
        }
    }

    /// The same client, whose waits end (with [`IpcError::Interrupted`]) once
    /// `cancel` turns true: a dump or GC reply is not waited for after Ctrl-C.
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = Some(cancel);
        self
    }

    fn wait(&self, timeout: Duration) -> Wait<'_> {
        Wait {
            until: Instant::now() + timeout,
            cancel: self.cancel.as_deref(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Asks the runtime about itself (ProcessInfo2, falling back to ProcessInfo).
    pub fn process_info(&self) -> Result<ProcessInfo, IpcError> {
        const CMD: &str = "ProcessInfo";
        let (reply, v2) =
            match self.request(CMD, set::PROCESS, id::PROCESS_INFO2, &[], QUICK_REPLY)? {
                Reply::Error {
                    hresult: HRESULT_UNKNOWN_COMMAND,
                    ..
                } => (
                    self.request(CMD, set::PROCESS, id::PROCESS_INFO, &[], QUICK_REPLY)?,
                    false,
                ),
                reply => (reply, true),
            };
        let payload = ok_payload(CMD, reply)?;
        frame::parse_process_info(&payload, v2).map_err(|source| IpcError::Protocol {
            command: CMD,
            source,
        })
    }

    /// Has the runtime write a core dump of itself to `path`, then makes it 0600.
    ///
    /// The runtime runs createdump itself, which has the ptrace rights we may
    /// lack. Tries GenerateCoreDump3 (which returns an error message), then 2,
    /// then 1 on runtimes that do not know the newer command. A relative
    /// `path` is made absolute here, because the runtime's working directory
    /// is not ours.
    pub fn write_dump(&self, path: &Path, kind: DumpKind) -> Result<(), IpcError> {
        const CMD: &str = "dump request";
        let absolute = std::path::absolute(path).map_err(|source| IpcError::NotAbsolute {
            path: path.to_path_buf(),
            source,
        })?;
        let path_str = absolute.to_str().ok_or_else(|| IpcError::BadPath {
            path: absolute.clone(),
            reason: "the runtime takes UTF-16 paths; use a UTF-8 path".into(),
        })?;
        // Create the file 0600 first: createdump truncates an existing file and
        // keeps its mode, so the dump is never readable by others, not even
        // while being written. If we cannot, the runtime will say why.
        let precreated = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&absolute)
            .is_ok();

        let payload = frame::dump_payload(path_str, kind.wire_value(), 0);
        let mut result = Err(IpcError::Unsupported { command: CMD });
        for command_id in [
            id::GENERATE_CORE_DUMP3,
            id::GENERATE_CORE_DUMP2,
            id::GENERATE_CORE_DUMP,
        ] {
            result = self
                .request(CMD, set::DUMP, command_id, &payload, DUMP_REPLY)
                .and_then(|reply| ok_payload(CMD, reply).map(drop));
            match &result {
                Err(IpcError::Refused {
                    hresult: HRESULT_UNKNOWN_COMMAND,
                    ..
                }) => continue,
                _ => break,
            }
        }
        if let Err(IpcError::Refused {
            hresult: HRESULT_UNKNOWN_COMMAND,
            ..
        }) = result
        {
            result = Err(IpcError::Unsupported { command: CMD });
        }
        if let Err(e) = result {
            if precreated {
                let _ = fs::remove_file(&absolute);
            }
            return Err(e);
        }
        let meta = fs::metadata(&absolute).map_err(|source| IpcError::DumpFile {
            path: absolute.clone(),
            problem: "is missing",
            source,
        })?;
        if meta.len() == 0 {
            return Err(IpcError::DumpFile {
                path: absolute,
                problem: "is empty",
                source: io::Error::other("createdump wrote nothing"),
            });
        }
        fs::set_permissions(&absolute, fs::Permissions::from_mode(0o600)).map_err(|source| {
            IpcError::DumpFile {
                path: absolute.clone(),
                problem: "cannot be made private (chmod 0600)",
                source,
            }
        })
    }

    /// Induces a full, blocking, compacting gen-2 GC in the target and waits for it.
    ///
    /// Opens an EventPipe session enabling `Microsoft-Windows-DotNETRuntime`
    /// with the GCHeapCollect keyword (0x800000), as dotnet-gcdump does. The
    /// runtime forces the GC synchronously in the provider-enable callback,
    /// before it replies to CollectTracing2 (checked in the runtime sources,
    /// `EtwCallbackCommon` → `ETW::GCLog::ForceGC`, and measured: the
    /// service's `GC.CollectionCount(2)` has already grown when the reply
    /// arrives). So the OK reply means the GC is done; the session is then
    /// stopped and its stream drained to the end so no session is left behind.
    ///
    /// The session also enables the GC keyword, so the stream carries what
    /// the GC tells of itself: its `CommittedUsage` (the last one) and the
    /// `GCHeapStats` of the full GC, whose survivors are the live heap
    /// ([`GcAccount`]; either is `None` from a runtime that does not log
    /// it, or a stream that could not be parsed).
    ///
    /// `timeout` bounds the whole exchange (the GC itself included).
    pub fn induce_gc(&self, timeout: Duration) -> Result<GcAccount, IpcError> {
        const CMD: &str = "induced GC (EventPipe CollectTracing2)";
        let deadline = Instant::now() + timeout;
        let payload = frame::collect_tracing2_payload(
            1,
            NETTRACE_FORMAT,
            false,
            &[Provider {
                name: "Microsoft-Windows-DotNETRuntime".into(),
                keywords: GC_HEAP_COLLECT_KEYWORD | keyword::GC,
                level: 4,
                filter_data: String::new(),
            }],
        );
        let mut stream = self.send(CMD, set::EVENT_PIPE, id::COLLECT_TRACING2, &payload)?;
        let reply = match read_reply(CMD, &mut stream, &self.wait(timeout)) {
            Err(IpcError::Io { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // Closing our end makes the runtime end the session itself.
                let _ = stream.shutdown(Shutdown::Both);
                return Err(IpcError::GcTimedOut(timeout));
            }
            other => other?,
        };
        let session = session_id(CMD, reply)?;

        // The runtime streams nettrace until the session stops; keep reading
        // so its writes never block, and learn when it has closed the stream.
        // The reading thread returns what the GC told of itself.
        let closer = stream.try_clone().map_err(|source| IpcError::Io {
            command: CMD,
            doing: "cloning the event stream",
            source,
        })?;
        let (done_tx, done_rx) = mpsc::channel();
        let drain = std::thread::spawn(move || {
            let _ = stream.set_read_timeout(None);
            let account = drain_gc_account(&stream);
            let _ = done_tx.send(());
            account
        });

        let stopped = self.stop_tracing(session, QUICK_REPLY);
        if stopped.is_err() {
            let _ = closer.shutdown(Shutdown::Both);
        }
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(5));
        let drained = done_rx.recv_timeout(remaining);
        if drained.is_err() {
            // The runtime did not close the stream in time: close it ourselves.
            let _ = closer.shutdown(Shutdown::Both);
        }
        let account = drain.join().unwrap_or_default();
        stopped.map(|()| account)
    }

    /// StopTracing for an EventPipe session, on a fresh connection.
    fn stop_tracing(&self, session: u64, timeout: Duration) -> Result<(), IpcError> {
        self.request(
            "StopTracing",
            set::EVENT_PIPE,
            id::STOP_TRACING,
            &session.to_le_bytes(),
            timeout,
        )
        .and_then(|reply| ok_payload("StopTracing", reply).map(drop))
    }

    /// Sends one command on a fresh connection and reads the reply.
    fn request(
        &self,
        command: &'static str,
        command_set: u8,
        command_id: u8,
        payload: &[u8],
        reply_timeout: Duration,
    ) -> Result<Reply, IpcError> {
        let mut stream = self.send(command, command_set, command_id, payload)?;
        read_reply(command, &mut stream, &self.wait(reply_timeout))
    }

    /// Connects and writes one request frame; the caller reads the reply.
    fn send(
        &self,
        command: &'static str,
        command_set: u8,
        command_id: u8,
        payload: &[u8],
    ) -> Result<UnixStream, IpcError> {
        let request = frame::encode_frame(command_set, command_id, payload)
            .map_err(|source| IpcError::Protocol { command, source })?;
        let mut stream = UnixStream::connect(&self.socket).map_err(|source| IpcError::Connect {
            path: self.socket.clone(),
            source,
        })?;
        let io = |doing| {
            move |source| IpcError::Io {
                command,
                doing,
                source,
            }
        };
        // Short reads: a reply is waited for in steps, so a cancel is seen (see `read_full`).
        stream
            .set_read_timeout(Some(POLL))
            .map_err(io("setting the reply timeout"))?;
        stream
            .set_write_timeout(Some(QUICK_REPLY))
            .map_err(io("setting the send timeout"))?;
        stream
            .write_all(&request)
            .map_err(io("sending the request"))?;
        Ok(stream)
    }
}

/// Reads an event stream to its end and returns the last `CommittedUsage`
/// in it. A stream it cannot parse is read on to its end unparsed: the
/// runtime must never wait on a full socket.
fn drain_gc_account(stream: impl Read) -> GcAccount {
    let mut reader = io::BufReader::new(stream);
    let mut account = GcAccountReader::default();
    if let Ok(mut events) = EventStream::new(&mut reader) {
        while let Ok(Some(event)) = events.next_event() {
            account.event(&event);
        }
    }
    let _ = io::copy(&mut reader, &mut io::sink());
    account.finish()
}

/// How long a reply may take, and the flag that ends the wait early.
struct Wait<'a> {
    until: Instant,
    cancel: Option<&'a AtomicBool>,
}

impl Wait<'_> {
    /// No deadline and no cancel of its own: for a stream that keeps both
    /// itself (the heap snapshot's session stream).
    fn unbounded() -> Wait<'static> {
        Wait {
            until: Instant::now() + Duration::from_secs(365 * 24 * 3600),
            cancel: None,
        }
    }
}

/// Reads one reply frame from `stream`.
fn read_reply(
    command: &'static str,
    stream: &mut impl Read,
    wait: &Wait,
) -> Result<Reply, IpcError> {
    let mut header = [0u8; HEADER_LEN];
    read_full(command, stream, &mut header, wait)?;
    let header =
        frame::decode_header(&header).map_err(|source| IpcError::Protocol { command, source })?;
    let mut payload = vec![0u8; header.payload_len()];
    read_full(command, stream, &mut payload, wait)?;
    frame::decode_reply(&header, payload).map_err(|source| IpcError::Protocol { command, source })
}

/// Fills `buf` from a stream whose reads time out every [`POLL`], until the
/// wait's deadline (an `Io` error of kind `TimedOut`) or its cancel.
fn read_full(
    command: &'static str,
    stream: &mut impl Read,
    buf: &mut [u8],
    wait: &Wait,
) -> Result<(), IpcError> {
    let mut filled = 0;
    while filled < buf.len() {
        if wait.cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
            return Err(IpcError::Interrupted { command });
        }
        if Instant::now() >= wait.until {
            return Err(IpcError::Io {
                command,
                doing: "waiting for the reply",
                source: io::ErrorKind::TimedOut.into(),
            });
        }
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(IpcError::NoReply { command }),
            Ok(n) => filled += n,
            Err(e) if read_again(&e) => {}
            Err(source) => {
                return Err(IpcError::Io {
                    command,
                    doing: "reading the reply",
                    source,
                });
            }
        }
    }
    Ok(())
}

/// A read that timed out (the stream polls every [`POLL`]) or was
/// interrupted: check the deadline and the cancel, then read again.
fn read_again(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// The session id a CollectTracing reply carries.
fn session_id(command: &'static str, reply: Reply) -> Result<u64, IpcError> {
    ok_payload(command, reply).and_then(|payload| {
        frame::Reader::new(&payload)
            .u64("session id")
            .map_err(|source| IpcError::Protocol { command, source })
    })
}

/// The OK payload, or the runtime's refusal as an error.
fn ok_payload(command: &'static str, reply: Reply) -> Result<Vec<u8>, IpcError> {
    match reply {
        Reply::Ok(payload) => Ok(payload),
        Reply::Error { hresult, message } => Err(IpcError::Refused {
            command,
            hresult,
            message: message.map(|m| tidy_message(&m)),
        }),
    }
}

/// createdump's multi-line `[createdump] ...` log as one readable line.
fn tidy_message(message: &str) -> String {
    message
        .lines()
        .map(|line| line.trim().trim_start_matches("[createdump]").trim())
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Directories the runtime of `pid` may have put its socket in, in search order.
fn socket_dirs(pid: u32) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) {
        for var in environ.split(|b| *b == 0) {
            if let Some(value) = var.strip_prefix(b"TMPDIR=")
                && let Ok(value) = std::str::from_utf8(value)
                && !value.is_empty()
            {
                dirs.push(PathBuf::from(value));
            }
        }
    }
    if let Some(ours) = std::env::var_os("TMPDIR").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(ours));
    }
    dirs.push(PathBuf::from("/tmp"));
    let mut unique = Vec::new();
    for dir in dirs {
        if !unique.contains(&dir) {
            unique.push(dir);
        }
    }
    unique
}

/// The newest `dotnet-diagnostic-{pid}-{key}-socket` in the first directory holding one.
/// The process's start time in clock ticks (field 22 of `/proc/<pid>/stat`):
/// the runtime uses it as the socket's key, which tells a live process's
/// socket from a stale one left by an earlier process with the same pid.
fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// The socket of `pid` in `dirs`: the one whose key is the process's start
/// time when that is known, else the newest.
fn find_socket(pid: u32, start_time: Option<u64>, dirs: &[PathBuf]) -> Option<PathBuf> {
    let prefix = format!("dotnet-diagnostic-{pid}-");
    dirs.iter().find_map(|dir| {
        fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .filter(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                name.strip_prefix(&prefix)
                    .and_then(|rest| rest.strip_suffix("-socket"))
                    .and_then(|key| key.parse::<u64>().ok())
                    .is_some_and(|key| start_time.is_none_or(|t| t == key))
            })
            .max_by_key(|entry| {
                entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH)
            })
            .map(|entry| entry.path())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_newest_socket_of_the_pid_only() {
        let dir = tempfile::tempdir().unwrap();
        let touch = |name: &str, age_secs: u64| {
            let file = fs::File::create(dir.path().join(name)).unwrap();
            file.set_modified(SystemTime::now() - Duration::from_secs(age_secs))
                .unwrap();
        };
        touch("dotnet-diagnostic-42-100-socket", 60);
        touch("dotnet-diagnostic-42-200-socket", 1);
        touch("dotnet-diagnostic-421-300-socket", 0);
        touch("dotnet-diagnostic-42--socket", 0);
        let dirs = [
            PathBuf::from("/nonexistent-leakgate"),
            dir.path().to_path_buf(),
        ];
        assert_eq!(
            find_socket(42, None, &dirs),
            Some(dir.path().join("dotnet-diagnostic-42-200-socket"))
        );
        assert_eq!(find_socket(4, None, &dirs), None);
        // With the process's start time known, a stale socket of an earlier
        // process with the same pid is passed over, however new it looks.
        assert_eq!(
            find_socket(42, Some(100), &dirs),
            Some(dir.path().join("dotnet-diagnostic-42-100-socket"))
        );
        assert_eq!(find_socket(42, Some(999), &dirs), None);
    }

    #[test]
    fn our_own_start_time_is_read() {
        let t = process_start_time(std::process::id()).expect("a start time");
        assert!(t > 0);
    }

    #[test]
    fn createdump_log_becomes_one_line() {
        let raw = "[createdump] Could not create output file '/x': No such file or directory (2)\n[createdump] Failure took 327ms\n";
        assert_eq!(
            tidy_message(raw),
            "Could not create output file '/x': No such file or directory (2); Failure took 327ms"
        );
    }

    #[test]
    fn refusal_says_what_the_runtime_said() {
        let err = ok_payload(
            "dump request",
            Reply::Error {
                hresult: 0x8000_4005,
                message: Some("[createdump] disk full".into()),
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the runtime refused the dump request: HRESULT 0x80004005 (disk full)"
        );
    }

    #[test]
    fn draining_keeps_the_last_committed_usage_and_reads_to_the_end() {
        use crate::gccommit::GcCommitted;
        use crate::gcheap::synth::HeapTrace;
        let last = GcCommitted {
            in_use: 0xb8_2000,
            in_free: 0x3000,
            bookkeeping: 0x5_4000,
            ..GcCommitted::default()
        };
        let trace = HeapTrace::new()
            .object(0x1000, 24, "App.Thing", &[])
            .committed_usage(last)
            .build();
        let mut input = io::Cursor::new(&trace);
        assert_eq!(drain_gc_account(&mut input).committed, Some(last));
        assert_eq!(input.position(), trace.len() as u64);

        // No such event (an older runtime): none, and still read to the end.
        let plain = HeapTrace::new()
            .object(0x1000, 24, "App.Thing", &[])
            .build();
        assert_eq!(drain_gc_account(plain.as_slice()).committed, None);

        // Garbage after a good start: what was parsed counts, the rest is drained.
        let mut broken = trace.clone();
        broken.truncate(trace.len() - 40);
        broken.extend_from_slice(&[0xAB; 100_000]);
        let mut input = io::Cursor::new(&broken);
        let _ = drain_gc_account(&mut input);
        assert_eq!(input.position(), broken.len() as u64);
        let mut junk = io::Cursor::new(vec![0x42u8; 70_000]);
        assert_eq!(drain_gc_account(&mut junk), GcAccount::default());
        assert_eq!(junk.position(), 70_000);
    }

    #[test]
    fn draining_keeps_the_heap_of_the_blocking_full_gc() {
        use crate::gccommit::{GcCommitted, GcHeapStats};
        use crate::gcheap::events::gc_type;
        use crate::gcheap::synth::{SynthGc, gc_session};
        let stats = |live: u64| GcHeapStats {
            generation_sizes: [0, 0, live + 100, 4096, 0],
            survived: [0, 0, live, 4096, 0],
            ..GcHeapStats::default()
        };
        let committed = |in_use: u64| GcCommitted {
            in_use,
            ..GcCommitted::default()
        };
        let gc = |depth, kind, live, in_use| SynthGc {
            depth,
            gc_type: kind,
            stats: stats(live),
            committed: Some(committed(in_use)),
        };
        let trace = gc_session(&[
            gc(2, gc_type::BACKGROUND, 1, 10),
            gc(2, gc_type::NON_CONCURRENT, 5_000_000, 20),
            // A gen0 GC by the service before the session stopped: its
            // survivors are not the heap's, its commit count is the latest.
            gc(0, gc_type::NON_CONCURRENT, 70, 30),
        ]);
        let account = drain_gc_account(trace.as_slice());
        assert_eq!(account.heap, Some(stats(5_000_000)));
        assert_eq!(account.heap.map(|h| h.live()), Some(5_004_096));
        assert_eq!(account.committed, Some(committed(30)));
        // Only a background GC: no live heap to tell.
        let trace = gc_session(&[gc(2, gc_type::BACKGROUND, 1, 10)]);
        assert_eq!(drain_gc_account(trace.as_slice()).heap, None);
    }

    #[test]
    fn dump_kinds_have_createdump_wire_values() {
        let values: Vec<u32> = [
            DumpKind::Normal,
            DumpKind::WithHeap,
            DumpKind::Triage,
            DumpKind::Full,
        ]
        .map(DumpKind::wire_value)
        .to_vec();
        assert_eq!(values, [1, 2, 3, 4]);
    }
}
