//! Child processes (the service, an external load tool) in process groups of their
//! own, so that stopping one stops everything it started.
//!
//! If leakgate itself is killed outright (SIGKILL: no chance to clean up), two
//! things still end the group: the child has `PR_SET_PDEATHSIG(SIGKILL)`, and a
//! small watchdog (`sh`, in a group of its own) that polls leakgate's pid kills
//! the child's whole group, grandchildren included, once leakgate is gone.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use leakgate_scenario::StopSignal;

/// A running child process group, stopped on drop.
pub struct Child {
    handle: duct::Handle,
    pid: u32,
    label: String,
    log: Option<PathBuf>,
    stop_signal: StopSignal,
    grace: Duration,
    stopped: bool,
    watchdog: Option<std::process::Child>,
}

/// How a child ended, in words for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    /// Exit code 0.
    pub success: bool,
    pub description: String,
}

impl Child {
    /// Starts `argv` in `cwd` with `env` added, output appended to `log` (or discarded).
    pub fn spawn(
        label: &str,
        argv: &[String],
        cwd: &Path,
        env: &[(String, String)],
        log: Option<&Path>,
        stop_signal: StopSignal,
        grace: Duration,
    ) -> std::io::Result<Child> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| std::io::Error::other("empty command"))?;
        let mut expr = duct::cmd(program, args).dir(cwd).stdin_null().unchecked();
        for (k, v) in env {
            expr = expr.env(k, v);
        }
        expr = match log {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                let err = file.try_clone()?;
                expr.stdout_file(file).stderr_file(err)
            }
            None => expr.stdout_null().stderr_null(),
        };
        let expr = expr.before_spawn(|cmd| {
            cmd.process_group(0);
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            Ok(())
        });
        let handle = expr.start()?;
        let pid = handle.pids().first().copied().unwrap_or(0);
        Ok(Child {
            handle,
            pid,
            label: label.to_string(),
            log: log.map(Path::to_path_buf),
            stop_signal,
            grace,
            stopped: false,
            watchdog: watchdog(pid),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `Some(exit)` once the child has ended.
    pub fn exited(&self) -> Option<Exit> {
        match self.handle.try_wait() {
            Ok(Some(output)) => Some(Exit {
                success: output.status.success(),
                description: describe_status(&output.status),
            }),
            Ok(None) => None,
            Err(e) => Some(Exit {
                success: false,
                description: format!("could not be waited for: {e}"),
            }),
        }
    }

    /// The last `lines` lines of the child's log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        self.log
            .as_deref()
            .map(|p| tail(p, lines))
            .unwrap_or_default()
    }

    /// Sends the stop signal to the whole group, waits the grace period, then SIGKILLs it.
    pub fn stop(&mut self) -> Option<Exit> {
        if self.stopped {
            return self.exited();
        }
        self.stopped = true;
        let signal = match self.stop_signal {
            StopSignal::Term => libc::SIGTERM,
            StopSignal::Int => libc::SIGINT,
            StopSignal::Kill => libc::SIGKILL,
        };
        signal_group(self.pid, signal);
        let deadline = Instant::now() + self.grace;
        let mut exit = None;
        while Instant::now() < deadline {
            if let Some(e) = self.exited() {
                exit = Some(e);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Kill the group even when the leader exited: it may have left children behind.
        signal_group(self.pid, libc::SIGKILL);
        if let Some(mut w) = self.watchdog.take() {
            // Its whole group: the shell and the `sleep` it may be in.
            signal_group(w.id(), libc::SIGKILL);
            let _ = w.wait();
        }
        let _ = self.handle.kill();
        let _ = self.handle.wait();
        exit.or_else(|| self.exited())
    }

    pub fn label(&self) -> &str {
        &self.label
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.stopped {
            self.grace = Duration::from_millis(500).min(self.grace);
            self.stop();
        }
    }
}

/// Starts the watchdog of process group `pgid` (see the module docs). Without
/// `sh` there is no watchdog; PDEATHSIG still covers the direct child.
fn watchdog(pgid: u32) -> Option<std::process::Child> {
    if pgid <= 1 {
        return None;
    }
    // Plain POSIX sh (dash's `kill` takes no `--`): a negative pid is the group.
    let script =
        r#"while kill -0 "$1" 2>/dev/null; do sleep 0.5; done; kill -KILL "-$2" 2>/dev/null"#;
    std::process::Command::new("sh")
        .args(["-c", script, "leakgate-watchdog"])
        .arg(std::process::id().to_string())
        .arg(pgid.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .ok()
}

fn signal_group(pgid: u32, signal: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is touched.
        unsafe {
            libc::kill(-(pgid as i32), signal);
        }
    }
}

fn describe_status(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}{}", signal_name(sig)),
        _ => "ended".into(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGINT => " (SIGINT)",
        _ => "",
    }
}

/// The last `lines` lines of a file, reading at most its last 64 KiB.
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
