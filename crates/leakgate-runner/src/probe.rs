//! Probes of the service: readiness (an HTTP URL answering 2xx, or a TCP
//! port accepting connections) and the stats URL. Each has a deadline for
//! the whole exchange — a server that trickles its answer or never stops
//! sending cannot hold leakgate — stops on Ctrl-C, and keeps at most
//! [`BODY_CAP`] of a body.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leakgate_scenario::{Endpoint, HttpTarget, Probe, RequestSpec};

pub use crate::http::ResolveError;
use crate::http::{self, Body, Conn, Deadline, RequestError, WireError};

/// The largest body a probe reads: the stats JSON of a service is small.
pub const BODY_CAP: usize = 1 << 20;

/// Why one probe attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("interrupted")]
    Interrupted,
    /// The probe's host cannot be used (not loopback, does not resolve).
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("the probe's host resolved to no address")]
    NoAddress,
    #[error("cannot connect to {addr}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The probe's request cannot be written (e.g. a path that is not a request target).
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("no complete answer within {0:?}")]
    TimedOut(Duration),
    /// The exchange broke off: refused, reset, closed, or not HTTP.
    #[error("{}", .0.label())]
    Wire(WireError),
    #[error("{path} answered {code}")]
    Status { path: String, code: u16 },
}

/// Where a probe connects, resolved once.
pub struct Prober<'a> {
    addrs: Vec<SocketAddr>,
    host_header: String,
    port: u16,
    cancel: &'a AtomicBool,
}

impl<'a> Prober<'a> {
    /// Resolves `endpoint` (with `{port}` = `service_port`); only loopback
    /// unless `allow_remote`.
    pub fn new(
        endpoint: &Endpoint,
        service_port: u16,
        allow_remote: bool,
        cancel: &'a AtomicBool,
    ) -> Result<Prober<'a>, ProbeError> {
        let port = endpoint.port.resolve(service_port);
        let addrs = http::resolve(&endpoint.host, port, !allow_remote, Duration::from_secs(5))
            .map_err(ProbeError::Resolve)?;
        let host_header = if endpoint.host.contains(':') {
            format!("[{}]:{port}", endpoint.host)
        } else {
            format!("{}:{port}", endpoint.host)
        };
        Ok(Prober {
            addrs,
            host_header,
            port,
            cancel,
        })
    }

    /// One TCP connect, within `timeout`.
    pub fn connect(&self, timeout: Duration) -> Result<(), ProbeError> {
        let mut last = ProbeError::NoAddress;
        for &addr in &self.addrs {
            match TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1))) {
                Ok(_) => return Ok(()),
                Err(source) => last = ProbeError::Connect { addr, source },
            }
        }
        Err(last)
    }

    /// One `GET path`, the whole exchange within `timeout`: the status and
    /// up to [`BODY_CAP`] of the body.
    pub fn get(&self, path: &str, timeout: Duration) -> Result<(u16, Vec<u8>), ProbeError> {
        let never = AtomicBool::new(false);
        let deadline = Deadline {
            stop: &never,
            cancel: Some(self.cancel),
            until: Instant::now() + timeout,
        };
        let spec = RequestSpec::get(path).with_header("Connection", "close");
        let request = http::render(&spec, &self.host_header).map_err(ProbeError::Request)?;
        let mut body = Body::Keep {
            bytes: Vec::new(),
            cap: BODY_CAP,
        };
        let wire = |e: WireError| match e {
            WireError::Stopped => ProbeError::Interrupted,
            WireError::TimedOut => ProbeError::TimedOut(timeout),
            other => ProbeError::Wire(other),
        };
        let mut conn = Conn::connect(&self.addrs, &deadline).map_err(wire)?;
        let response = conn
            .exchange_into(&request, &deadline, &mut body)
            .map_err(wire)?;
        let Body::Keep { bytes, .. } = body else {
            unreachable!("kept above")
        };
        Ok((response.status, bytes))
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Waits until the service answers `probe`, for at most `timeout` in all;
/// `alive` is asked between attempts (a service that exited fails at once).
/// Returns the last failure when the time is up.
pub fn wait_ready(
    probe: &Probe,
    service_port: u16,
    allow_remote: bool,
    timeout: Duration,
    cancel: &AtomicBool,
    alive: &mut dyn FnMut() -> Result<(), String>,
) -> Result<(), ReadyError> {
    let until = Instant::now() + timeout;
    let mut last = None;
    let prober = Prober::new(probe.endpoint(), service_port, allow_remote, cancel)
        .map_err(ReadyError::Unreachable)?;
    loop {
        alive().map_err(ReadyError::Exited)?;
        if cancel.load(Ordering::SeqCst) {
            return Err(ReadyError::Interrupted);
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadyError::TimedOut { last });
        }
        let attempt = left.min(Duration::from_secs(2));
        let outcome = match probe {
            Probe::Tcp(_) => prober.connect(attempt),
            Probe::Http(target) => {
                let path = leakgate_scenario::fill_port(&target.path, service_port);
                prober.get(&path, attempt).and_then(|(code, _)| {
                    if (200..300).contains(&code) {
                        Ok(())
                    } else {
                        Err(ProbeError::Status { path, code })
                    }
                })
            }
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(ProbeError::Interrupted) => return Err(ReadyError::Interrupted),
            Err(e) => last = Some(e),
        }
        sleep_unless(cancel, Duration::from_millis(100).min(left));
    }
}

#[derive(Debug)]
pub enum ReadyError {
    /// The probe's host cannot be used (not loopback, does not resolve).
    Unreachable(ProbeError),
    /// The service ended while leakgate waited.
    Exited(String),
    /// The time was up; the last attempt's failure, if there was an attempt.
    TimedOut {
        last: Option<ProbeError>,
    },
    Interrupted,
}

/// GETs a stats URL: the JSON a 2xx answer carries.
pub fn fetch_json(
    target: &HttpTarget,
    service_port: u16,
    allow_remote: bool,
    timeout: Duration,
    cancel: &AtomicBool,
) -> Result<serde_json::Value, StatsError> {
    let url = target.url(service_port);
    let unanswered = |url: &String| {
        let url = url.clone();
        move |error| StatsError::Unanswered { url, error }
    };
    let prober = Prober::new(&target.endpoint, service_port, allow_remote, cancel)
        .map_err(unanswered(&url))?;
    let path = leakgate_scenario::fill_port(&target.path, service_port);
    match prober.get(&path, timeout) {
        Ok((code, body)) if (200..300).contains(&code) => {
            serde_json::from_slice(&body).map_err(|error| StatsError::NotJson { url, error })
        }
        Ok((code, _)) => Err(StatsError::Status { url, code }),
        Err(e) => Err(unanswered(&url)(e)),
    }
}

/// Why a stats URL gave no JSON. Each names the URL and says the cause
/// (which a sample's note holds as text).
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("{url}: {error}")]
    Unanswered { url: String, error: ProbeError },
    #[error("{url} answered {code}")]
    Status { url: String, code: u16 },
    #[error("{url}: not JSON: {error}")]
    NotJson {
        url: String,
        error: serde_json::Error,
    },
}

/// Sleeps `d`, waking early when `cancel` turns true.
pub fn sleep_unless(cancel: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !cancel.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// A free TCP port on 127.0.0.1, for the `{port}` placeholder.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use leakgate_scenario::Port;

    use super::*;

    fn local(port: u16) -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port: Port::Fixed(port),
        }
    }

    fn server(answer: impl FnOnce(TcpStream) + Send + 'static) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            answer(s);
        });
        port
    }

    #[test]
    fn a_closed_port_is_not_ready() {
        let never = AtomicBool::new(false);
        let p = Prober::new(&local(free_port().unwrap()), 0, false, &never).unwrap();
        assert!(p.connect(Duration::from_millis(200)).is_err());
    }

    #[test]
    fn an_answer_and_its_body_are_read() {
        let port = server(|mut s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
        });
        let never = AtomicBool::new(false);
        let p = Prober::new(&local(port), 0, false, &never).unwrap();
        let (code, body) = p.get("/stats", Duration::from_secs(2)).unwrap();
        assert_eq!((code, body.as_slice()), (200, &b"{\"a\":1}"[..]));
    }

    #[test]
    fn a_trickling_server_does_not_outlast_the_deadline() {
        let port = server(|mut s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
            for _ in 0..100 {
                std::thread::sleep(Duration::from_millis(50));
                if s.write_all(b"X-Slow: 1\r\n").is_err() {
                    return;
                }
            }
        });
        let never = AtomicBool::new(false);
        let p = Prober::new(&local(port), 0, false, &never).unwrap();
        let started = Instant::now();
        let err = p.get("/", Duration::from_millis(400)).unwrap_err();
        assert!(started.elapsed() < Duration::from_millis(1200), "{err}");
        assert!(err.to_string().contains("no complete answer"), "{err}");
    }

    #[test]
    fn an_endless_body_is_cut_at_the_cap() {
        let port = server(|mut s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
            let chunk = vec![b'x'; 64 * 1024];
            while s.write_all(&chunk).is_ok() {}
        });
        let never = AtomicBool::new(false);
        let p = Prober::new(&local(port), 0, false, &never).unwrap();
        let err = p.get("/", Duration::from_secs(10)).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn remote_hosts_are_refused_unless_allowed() {
        let never = AtomicBool::new(false);
        let remote = Endpoint {
            host: "192.0.2.1".into(),
            port: Port::Fixed(80),
        };
        assert!(Prober::new(&remote, 0, false, &never).is_err());
        assert!(Prober::new(&remote, 0, true, &never).is_ok());
    }

    #[test]
    fn waiting_for_ready_ends_at_the_timeout_even_when_each_attempt_hangs() {
        // Accepts and never answers: every attempt would hang without a deadline.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = std::thread::spawn(move || {
            let mut kept = Vec::new();
            for s in listener.incoming().take(5).flatten() {
                kept.push(s);
            }
        });
        let probe = Probe::Http(HttpTarget {
            endpoint: local(port),
            path: "/healthz".into(),
        });
        let never = AtomicBool::new(false);
        let started = Instant::now();
        let err = wait_ready(
            &probe,
            0,
            false,
            Duration::from_millis(700),
            &never,
            &mut || Ok(()),
        );
        assert!(matches!(err, Err(ReadyError::TimedOut { .. })), "{err:?}");
        assert!(started.elapsed() < Duration::from_millis(1500));
        drop(held);
    }
}
