//! Test support: build and run the real LeakyService fixture on a free loopback port.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Builds the fixture once per test binary; returns the path of LeakyService.dll.
pub fn fixture_dll() -> PathBuf {
    static DLL: OnceLock<PathBuf> = OnceLock::new();
    DLL.get_or_init(|| {
        let project = workspace_root().join("fixtures/services/LeakyService");
        let status = Command::new("dotnet")
            .args(["build", "-c", "Release", "--nologo", "-v", "q"])
            .current_dir(&project)
            .status()
            .expect("dotnet build runs");
        assert!(status.success(), "dotnet build of the fixture failed");
        project.join("bin/Release/net10.0/LeakyService.dll")
    })
    .clone()
}

pub struct FixtureService {
    pub child: Child,
    pub port: u16,
}

impl FixtureService {
    pub fn start() -> FixtureService {
        let dll = fixture_dll();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("dotnet")
            .arg(&dll)
            .args(["--urls", &format!("http://127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fixture starts");
        let service = FixtureService { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while service.try_get("/healthz").is_none() {
            assert!(Instant::now() < deadline, "fixture did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        service
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GET a path, returning the body of a 200 response.
    pub fn get(&self, path: &str) -> String {
        self.try_get(path)
            .unwrap_or_else(|| panic!("GET {path} failed"))
    }

    fn try_get(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        if !head.starts_with("HTTP/1.1 200") {
            return None;
        }
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            // One chunk is all /stats ever sends: "<hex>\r\n<data>\r\n0\r\n\r\n".
            let (_, rest) = body.split_once("\r\n")?;
            return Some(rest.split("\r\n").next()?.to_string());
        }
        Some(body.to_string())
    }

    /// The service's own ground truth (`/stats`).
    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/stats")).expect("/stats is JSON")
    }
}

impl Drop for FixtureService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `GET /healthz` on `port`, returning its latency (`None` when it failed).
pub fn healthz_latency(port: u16) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    response
        .starts_with(b"HTTP/1.1 200")
        .then(|| started.elapsed())
}

/// Probes `GET /healthz` every 5 ms on a thread until [`LatencyProbe::stop`]:
/// how long the service stops answering while something pauses it.
pub struct LatencyProbe {
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Duration>>,
}

impl LatencyProbe {
    pub fn start(port: u16) -> LatencyProbe {
        use std::sync::atomic::{AtomicBool, Ordering};
        let running = std::sync::Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        let thread = std::thread::spawn(move || {
            let mut latencies = Vec::new();
            while flag.load(Ordering::Relaxed) {
                latencies.extend(healthz_latency(port));
                std::thread::sleep(Duration::from_millis(5));
            }
            latencies
        });
        LatencyProbe { running, thread }
    }

    /// The latencies of the answered probes, in the order taken.
    pub fn stop(self) -> Vec<Duration> {
        self.running
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

// Tests only (examples include this file too, without a target temp dir).

/// The ClrMD inspector, built once per test binary in a cache private to this
/// target dir (tests must not depend on, or disturb, the user's ~/.cache).
#[cfg(test)]
pub fn inspector() -> &'static leakgate_dotnet::inspector::Inspector {
    use leakgate_dotnet::inspector::Inspector;
    static INSPECTOR: OnceLock<Inspector> = OnceLock::new();
    INSPECTOR.get_or_init(|| {
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("inspector-cache");
        Inspector::ensure_built(Some(&cache)).expect("the inspector builds")
    })
}

/// A dump file in the target's temp dir, deleted when dropped (dumps are
/// 100+ MiB and hold process memory).
#[cfg(test)]
pub struct Dump(pub PathBuf);

#[cfg(test)]
impl Dump {
    pub fn path_for(name: &str) -> Dump {
        Dump(
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("{name}-{}.core", std::process::id())),
        )
    }
}

#[cfg(test)]
impl Drop for Dump {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
