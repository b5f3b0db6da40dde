//! Which process to sample, chosen by evidence, and why.
//!
//! A service is often started through a wrapper (`sh -c`, `dotnet run`, a
//! launcher script, `cmd | cat`, `sleep & cmd`), so the process leakgate
//! started is not always the one that serves. In order of evidence:
//! 1. the process that owns the listening socket of the port the readiness
//!    probe checks (`/proc/net/tcp*` inodes matched against `/proc/*/fd`);
//! 2. else the deepest process with a .NET diagnostics socket;
//! 3. else the descendant with the largest resident set.
//!
//! The choice, its reason and any doubt go into the report, so a reader
//! knows what was measured.

use std::collections::BTreeSet;

use leakgate_dotnet::ipc::DiagnosticsClient;

pub use leakgate_record::SampledProcess;

/// The chosen process, and a client of its runtime when it has one.
pub struct Choice {
    pub process: SampledProcess,
    pub runtime: Option<DiagnosticsClient>,
}

/// No process of the service's tree has a .NET runtime to talk to, and the
/// scenario needs one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no process of the service (pid {root} and its children) has a .NET diagnostics socket in $TMPDIR or /tmp \
     (is DOTNET_EnableDiagnostics=0 set?); the process that serves is {serving} ({command_line}); \
     a service that is not .NET can only be sampled with `dump: none` and `gc_before_sample: false`"
)]
pub struct NoRuntime {
    /// The process leakgate started.
    pub root: u32,
    /// The process chosen as the one that serves, and its command line.
    pub serving: u32,
    pub command_line: String,
}

/// Chooses the process to sample in the tree under `root`. `port` is the
/// loopback port the service was probed on, if any. Errs when `needs_runtime`
/// and no process of the tree has a .NET diagnostics socket.
pub fn choose(root: u32, port: Option<u16>, needs_runtime: bool) -> Result<Choice, NoRuntime> {
    let tree = process_tree(root);
    let dotnet: Vec<(u32, DiagnosticsClient)> = tree
        .iter()
        .rev() // deepest first
        .filter_map(|&(pid, _)| DiagnosticsClient::for_pid(pid).ok().map(|c| (pid, c)))
        .collect();
    let owners: Vec<u32> = match port {
        Some(port) => {
            let inodes = listening_inodes(port);
            tree.iter()
                .map(|&(pid, _)| pid)
                .filter(|&pid| !inodes.is_empty() && owns_socket(pid, &inodes))
                .collect()
        }
        None => Vec::new(),
    };
    let take_runtime = |pid: u32| {
        dotnet
            .iter()
            .find(|(p, _)| *p == pid)
            .map(|(_, c)| c.clone())
    };
    let listening = |pid: u32| match port {
        Some(port) => format!("it listens on port {port}"),
        None => format!("pid {pid}"),
    };

    let (pid, reason, mut doubt) = match owners.as_slice() {
        [one] => (*one, listening(*one), None),
        [_, _, ..] => {
            // Forked workers share one listening socket: prefer the .NET one, else the largest.
            let pick = owners
                .iter()
                .copied()
                .find(|p| take_runtime(*p).is_some())
                .unwrap_or_else(|| largest(&owners));
            (
                pick,
                listening(pick),
                Some(format!(
                    "{} processes hold the listening socket ({}); sampled {pick}",
                    owners.len(),
                    join(&owners)
                )),
            )
        }
        [] => match dotnet.first() {
            Some((pid, _)) => (
                *pid,
                "it has a .NET diagnostics socket (no process of the service was seen listening on the probed port)".to_string(),
                None,
            ),
            None => {
                let all: Vec<u32> = tree.iter().map(|&(p, _)| p).collect();
                let pick = largest(&all);
                (
                    pick,
                    "the largest resident process of the service (none listens on the probed port or has a .NET diagnostics socket)".to_string(),
                    (all.len() > 1).then(|| format!("{} processes in the service's tree", all.len())),
                )
            }
        },
    };
    let mut runtime = take_runtime(pid);
    if runtime.is_none() && needs_runtime {
        match dotnet.first() {
            Some((other, client)) => {
                doubt = Some(format!(
                    "the listening process {pid} ({}) is not .NET; sampled the .NET process {other} instead",
                    command_line(pid)
                ));
                return Ok(Choice {
                    process: SampledProcess {
                        pid: *other,
                        command_line: command_line(*other),
                        reason: "it has a .NET diagnostics socket".into(),
                        doubt,
                    },
                    runtime: Some(client.clone()),
                });
            }
            None => {
                return Err(NoRuntime {
                    root,
                    serving: pid,
                    command_line: command_line(pid),
                });
            }
        }
    }
    if runtime.is_some() && !needs_runtime {
        runtime = None;
    }
    Ok(Choice {
        process: SampledProcess {
            pid,
            command_line: command_line(pid),
            reason,
            doubt,
        },
        runtime,
    })
}

/// `root` and every process below it, parents before children, with depth.
fn process_tree(root: u32) -> Vec<(u32, usize)> {
    let mut tree = vec![(root, 0)];
    let mut i = 0;
    while i < tree.len() && tree.len() < 4096 {
        let (pid, depth) = tree[i];
        for child in children_of(pid) {
            if !tree.iter().any(|(p, _)| *p == child) {
                tree.push((child, depth + 1));
            }
        }
        i += 1;
    }
    tree
}

/// Children of every thread of `pid` (a child belongs to the thread that forked it).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Inodes of the sockets listening on `port` (any address, IPv4 or IPv6).
fn listening_inodes(port: u16) -> BTreeSet<u64> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| parse_listening(&text, port))
        .collect()
}

/// The `/proc/net/tcp` rows in state LISTEN (0A) on `port`: their inodes.
fn parse_listening(text: &str, port: u16) -> Vec<u64> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let local_port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            let listening = *fields.get(3)? == "0A";
            let inode = fields.get(9)?.parse().ok()?;
            (listening && local_port == port && inode != 0).then_some(inode)
        })
        .collect()
}

fn owns_socket(pid: u32, inodes: &BTreeSet<u64>) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| {
            target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
                .is_some_and(|inode| inodes.contains(&inode))
        })
    })
}

/// The process of `pids` with the largest resident set (the first on a tie).
fn largest(pids: &[u32]) -> u32 {
    pids.iter()
        .copied()
        .max_by_key(|&p| (resident_pages(p), std::cmp::Reverse(p)))
        .unwrap_or(0)
}

fn resident_pages(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// A process's command line, arguments joined by spaces (lossy UTF-8).
pub fn command_line(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            String::from_utf8_lossy(&c)
                .trim_end_matches('\0')
                .replace('\0', " ")
        })
        .unwrap_or_default()
}

fn join(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_runtime_says_what_was_looked_for_and_what_to_do() {
        let e = NoRuntime {
            root: 10,
            serving: 12,
            command_line: "node server.js".into(),
        };
        assert_eq!(
            e.to_string(),
            "no process of the service (pid 10 and its children) has a .NET diagnostics socket in $TMPDIR or /tmp \
             (is DOTNET_EnableDiagnostics=0 set?); the process that serves is 12 (node server.js); \
             a service that is not .NET can only be sampled with `dump: none` and `gc_before_sample: false`"
        );
    }

    #[test]
    fn listening_rows_are_read_by_port_and_state() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 100 0 0 10 0
";
        assert_eq!(
            parse_listening(text, 8080),
            [4242],
            "LISTEN only, not the connection"
        );
        assert_eq!(parse_listening(text, 80), [99]);
        assert!(parse_listening(text, 81).is_empty());
    }

    #[test]
    fn our_own_listening_socket_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = std::process::id();
        assert!(owns_socket(me, &listening_inodes(port)));
        let choice = choose(me, Some(port), false).unwrap();
        assert_eq!(choice.process.pid, me);
        assert!(choice.process.reason.contains(&format!("port {port}")));
        assert!(choice.runtime.is_none());
    }
}
