//! The one HTTP/1.1 client of leakgate, for the load, the readiness probe and
//! the stats probe: requests rendered once up front, responses read off a
//! keep-alive connection.
//!
//! Sockets use short read/write timeouts ([`POLL`]) and every blocking step
//! re-checks the stop flag and the exchange's deadline, so a hung or trickling
//! server cannot hold a caller past its deadline, nor past a stop (Ctrl-C)
//! for longer than one poll interval. The load drains bodies without keeping
//! them; a probe keeps a body up to a cap, and a larger one is an error.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leakgate_scenario::RequestSpec;

/// Socket timeout between checks of the stop flag.
pub(crate) const POLL: Duration = Duration::from_millis(100);
/// Time allowed to open a TCP connection (loopback answers at once or never).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest status line + headers (or chunk-size line) we accept.
const MAX_HEAD: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;

/// Why one request/response exchange did not produce a status.
#[derive(Debug)]
pub enum WireError {
    /// The driver is stopping; the request is abandoned, not counted.
    Stopped,
    /// No complete response before the request deadline.
    TimedOut,
    /// Connect, read or write failed (refused, reset, closed early).
    Io(io::Error),
    /// The server sent something that is not HTTP/1.x.
    Protocol(&'static str),
}

impl WireError {
    /// A short, low-cardinality label for [`LoadSummary::by_error`](super::LoadSummary::by_error).
    pub fn label(&self) -> String {
        match self {
            WireError::Stopped => "stopped".into(),
            WireError::TimedOut => "timed out".into(),
            WireError::Io(e) => match e.kind() {
                io::ErrorKind::ConnectionRefused => "connection refused".into(),
                io::ErrorKind::ConnectionReset => "connection reset".into(),
                io::ErrorKind::BrokenPipe => "broken pipe".into(),
                io::ErrorKind::UnexpectedEof => "connection closed mid-response".into(),
                kind => format!("io: {kind:?}"),
            },
            WireError::Protocol(what) => format!("bad response: {what}"),
        }
    }

    /// The peer dropped a kept-alive connection: worth one retry on a new one.
    pub(crate) fn is_stale_connection(&self) -> bool {
        matches!(self, WireError::Io(e) if matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ))
    }
}

/// When to give up on the current exchange.
pub(crate) struct Deadline<'a> {
    pub(crate) stop: &'a AtomicBool,
    /// A second stop flag: the run's Ctrl-C.
    pub(crate) cancel: Option<&'a AtomicBool>,
    pub(crate) until: Instant,
}

impl Deadline<'_> {
    fn check(&self) -> Result<(), WireError> {
        let cancelled = self.cancel.is_some_and(|c| c.load(Ordering::Relaxed));
        if self.stop.load(Ordering::Relaxed) || cancelled {
            Err(WireError::Stopped)
        } else if Instant::now() >= self.until {
            Err(WireError::TimedOut)
        } else {
            Ok(())
        }
    }
}

/// Why a host cannot be connected to.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Only loopback is allowed and `host` is not.
    #[error("{0} is not a loopback address")]
    NotLoopback(String),
    /// The name did not resolve (or not before the deadline).
    #[error("cannot resolve {host}")]
    Failed {
        host: String,
        #[source]
        cause: ResolveCause,
    },
}

/// Why a name did not resolve.
#[derive(Debug, thiserror::Error)]
pub enum ResolveCause {
    /// The resolver thread could not start, or the lookup failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
}

/// The addresses to connect to for `host` (an address, `[v6]`, or a name).
/// With `loopback_only`, only loopback addresses and `localhost` (whose
/// answers are filtered to loopback, whatever /etc/hosts says) are allowed.
/// A name is resolved on a helper thread, so a hung resolver cannot hold the
/// caller past `timeout`.
pub fn resolve(
    host: &str,
    port: u16,
    loopback_only: bool,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return if ip.is_loopback() || !loopback_only {
            Ok(vec![SocketAddr::new(ip, port)])
        } else {
            Err(ResolveError::NotLoopback(host.to_string()))
        };
    }
    let localhost = bare.eq_ignore_ascii_case("localhost");
    if loopback_only && !localhost {
        return Err(ResolveError::NotLoopback(host.to_string()));
    }
    let failed = |cause: ResolveCause| ResolveError::Failed {
        host: host.to_string(),
        cause,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let name = bare.to_string();
    std::thread::Builder::new()
        .name("leakgate-resolve".into())
        .spawn(move || {
            let _ = tx.send(
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(|a| a.collect::<Vec<_>>()),
            );
        })
        .map_err(|e| failed(e.into()))?;
    let resolved = rx
        .recv_timeout(timeout)
        .map_err(|_| failed(ResolveCause::TimedOut(timeout)))?
        .map_err(|e| failed(e.into()))?;
    if !localhost {
        return Ok(resolved);
    }
    let mut addrs: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|a| a.ip().is_loopback())
        .collect();
    if addrs.is_empty() {
        addrs.push(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    Ok(addrs)
}

/// A request rendered to bytes once, at [`LoadGenerator::start`](super::LoadGenerator::start).
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) bytes: Vec<u8>,
    /// HEAD responses carry headers only, whatever Content-Length says.
    pub(crate) is_head: bool,
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Why a request cannot be written as HTTP/1.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("method `{0}` is not an HTTP token")]
    Method(String),
    #[error("path must start with `/`")]
    PathNotAbsolute,
    #[error("path contains spaces or control characters; percent-encode them")]
    PathCharacters,
    #[error("header name `{0}` is not an HTTP token")]
    HeaderName(String),
    #[error("header `{0}` has a line break or NUL in its value")]
    HeaderValue(String),
}

/// Renders `spec` as an HTTP/1.1 request. `host_header` is the `Host` value
/// used unless the spec sets its own.
pub(crate) fn render(spec: &RequestSpec, host_header: &str) -> Result<Prepared, RequestError> {
    if !is_token(&spec.method) {
        return Err(RequestError::Method(spec.method.clone()));
    }
    if !spec.path.starts_with('/') {
        return Err(RequestError::PathNotAbsolute);
    }
    if spec.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(RequestError::PathCharacters);
    }
    let has = |name: &str| {
        spec.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let (own_host, own_len, own_te, own_ua) = (
        has("host"),
        has("content-length"),
        has("transfer-encoding"),
        has("user-agent"),
    );
    let mut out = format!("{} {} HTTP/1.1\r\n", spec.method, spec.path);
    if !own_host {
        out.push_str(&format!("Host: {host_header}\r\n"));
    }
    if !own_ua {
        out.push_str(concat!(
            "User-Agent: leakgate/",
            env!("CARGO_PKG_VERSION"),
            "\r\n"
        ));
    }
    for (name, value) in &spec.headers {
        if !is_token(name) {
            return Err(RequestError::HeaderName(name.clone()));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(RequestError::HeaderValue(name.clone()));
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    let method_has_body = ["POST", "PUT", "PATCH"]
        .iter()
        .any(|m| spec.method.eq_ignore_ascii_case(m));
    let body = spec.body.as_deref().unwrap_or("");
    if !own_len && !own_te && (spec.body.is_some() || method_has_body) {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(body);
    Ok(Prepared {
        bytes: out.into_bytes(),
        is_head: spec.method.eq_ignore_ascii_case("HEAD"),
    })
}

/// Where a response body goes.
pub(crate) enum Body {
    /// Read and forgotten (the load only needs the status).
    Drain,
    /// Kept, up to `cap` bytes; a longer body is an error.
    Keep { bytes: Vec<u8>, cap: usize },
}

impl Body {
    fn keep(&mut self, data: &[u8]) -> Result<(), WireError> {
        if let Body::Keep { bytes, cap } = self {
            if bytes.len() + data.len() > *cap {
                return Err(WireError::Protocol(
                    "the body is larger than leakgate reads",
                ));
            }
            bytes.extend_from_slice(data);
        }
        Ok(())
    }
}

/// What the worker needs from a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// False when the server said `Connection: close`, spoke HTTP/1.0 without
    /// keep-alive, or delimited the body by closing.
    pub(crate) keep_alive: bool,
}

/// One keep-alive connection with its read buffer.
pub(crate) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Bytes received over the connection's life; a retry is only safe when
    /// this did not move during the failed exchange.
    pub(crate) bytes_in: u64,
    /// Responses completed on this connection.
    pub(crate) served: u64,
}

impl Conn {
    pub(crate) fn connect(targets: &[SocketAddr], d: &Deadline<'_>) -> Result<Conn, WireError> {
        let mut last = None;
        for addr in targets {
            d.check()?;
            match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    let setup = stream
                        .set_read_timeout(Some(POLL))
                        .and_then(|()| stream.set_write_timeout(Some(POLL)))
                        .and_then(|()| stream.set_nodelay(true));
                    setup.map_err(WireError::Io)?;
                    return Ok(Conn {
                        stream,
                        buf: vec![0; READ_CHUNK],
                        pos: 0,
                        end: 0,
                        bytes_in: 0,
                        served: 0,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(WireError::Io(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to connect to")
        })))
    }

    /// Sends `req` and reads one full response, draining its body.
    pub(crate) fn exchange(
        &mut self,
        req: &Prepared,
        d: &Deadline<'_>,
    ) -> Result<Response, WireError> {
        self.exchange_into(req, d, &mut Body::Drain)
    }

    /// Sends `req` and reads one full response, its body into `body`.
    pub(crate) fn exchange_into(
        &mut self,
        req: &Prepared,
        d: &Deadline<'_>,
        body: &mut Body,
    ) -> Result<Response, WireError> {
        // Leftover bytes would mean the previous response was mis-framed.
        if self.pos != self.end {
            return Err(WireError::Protocol("unexpected bytes before response"));
        }
        self.send(&req.bytes, d)?;
        let resp = self.read_response(req.is_head, d, body)?;
        self.served += 1;
        Ok(resp)
    }

    fn send(&mut self, mut data: &[u8], d: &Deadline<'_>) -> Result<(), WireError> {
        while !data.is_empty() {
            d.check()?;
            match self.stream.write(data) {
                Ok(0) => return Err(WireError::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => data = &data[n..],
                Err(e) if is_timeout(&e) => d.check()?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(WireError::Io(e)),
            }
        }
        Ok(())
    }

    /// Reads more bytes into the buffer. `Ok(false)` means the peer closed.
    fn fill(&mut self, d: &Deadline<'_>) -> Result<bool, WireError> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            } else if self.buf.len() < MAX_HEAD {
                self.buf.resize(self.buf.len() * 2, 0);
            } else {
                return Err(WireError::Protocol("header or chunk line too long"));
            }
        }
        loop {
            // Checked on every read, not only on a timeout: a server that
            // trickles a byte at a time must not outlast the deadline.
            d.check()?;
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    self.bytes_in += n as u64;
                    return Ok(true);
                }
                Err(e) if is_timeout(&e) => d.check()?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(WireError::Io(e)),
            }
        }
    }

    fn fill_or_eof(&mut self, d: &Deadline<'_>) -> Result<(), WireError> {
        if self.fill(d)? {
            Ok(())
        } else {
            Err(WireError::Io(io::ErrorKind::UnexpectedEof.into()))
        }
    }

    /// Consumes everything up to and including `pat`; returns its buffer range.
    fn take_through(&mut self, pat: &[u8], d: &Deadline<'_>) -> Result<(usize, usize), WireError> {
        // Offset from `pos` already known not to start a match; stays valid
        // across fill(), which only moves the unread bytes as a block.
        let mut scanned = 0;
        loop {
            let from = self.pos + scanned;
            if let Some(i) = self.buf[from..self.end]
                .windows(pat.len())
                .position(|w| w == pat)
            {
                let start = self.pos;
                self.pos = from + i + pat.len();
                return Ok((start, self.pos));
            }
            scanned = (self.end - self.pos).saturating_sub(pat.len() - 1);
            self.fill_or_eof(d)?;
        }
    }

    /// Takes `n` body bytes, into `body`.
    fn skip(&mut self, mut n: u64, d: &Deadline<'_>, body: &mut Body) -> Result<(), WireError> {
        loop {
            let have = (self.end - self.pos) as u64;
            let take = have.min(n) as usize;
            body.keep(&self.buf[self.pos..self.pos + take])?;
            self.pos += take;
            n -= take as u64;
            if n == 0 {
                return Ok(());
            }
            self.fill_or_eof(d)?;
        }
    }

    /// Takes body bytes until the peer closes, into `body`.
    fn skip_to_eof(&mut self, d: &Deadline<'_>, body: &mut Body) -> Result<(), WireError> {
        loop {
            body.keep(&self.buf[self.pos..self.end])?;
            self.pos = self.end;
            if !self.fill(d)? {
                return Ok(());
            }
        }
    }

    fn read_response(
        &mut self,
        is_head: bool,
        d: &Deadline<'_>,
        body: &mut Body,
    ) -> Result<Response, WireError> {
        loop {
            let (start, end) = self.take_through(b"\r\n\r\n", d)?;
            let head = parse_head(&self.buf[start..end])?;
            if (100..200).contains(&head.status) {
                // Interim response (100 Continue, 103 Early Hints): the real one follows.
                continue;
            }
            let mut keep_alive = head.keep_alive;
            if is_head || head.status == 204 || head.status == 304 {
                // No body by definition.
            } else if head.chunked {
                self.skip_chunked(d, body)?;
            } else if let Some(len) = head.content_length {
                self.skip(len, d, body)?;
            } else {
                self.skip_to_eof(d, body)?;
                keep_alive = false;
            }
            return Ok(Response {
                status: head.status,
                keep_alive,
            });
        }
    }

    fn skip_chunked(&mut self, d: &Deadline<'_>, body: &mut Body) -> Result<(), WireError> {
        loop {
            let (start, end) = self.take_through(b"\r\n", d)?;
            let line = &self.buf[start..end - 2];
            let size = line.split(|&b| b == b';').next().unwrap_or(b"");
            let size = std::str::from_utf8(size)
                .ok()
                .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                .ok_or(WireError::Protocol("bad chunk size"))?;
            if size == 0 {
                // Trailer fields, then the empty line.
                loop {
                    let (s, e) = self.take_through(b"\r\n", d)?;
                    if e - s == 2 {
                        return Ok(());
                    }
                }
            }
            self.skip(size, d, body)?;
            let (s, e) = self.take_through(b"\r\n", d)?;
            if e - s != 2 {
                return Err(WireError::Protocol("chunk not followed by CRLF"));
            }
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    keep_alive: bool,
    chunked: bool,
    content_length: Option<u64>,
}

fn parse_head(raw: &[u8]) -> Result<Head, WireError> {
    let text = std::str::from_utf8(raw).map_err(|_| WireError::Protocol("non-UTF-8 header"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(WireError::Protocol("status line is not HTTP/1.x")),
    };
    let status = parts
        .next()
        .filter(|s| s.len() == 3)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(WireError::Protocol("bad status code"))?;
    let mut head = Head {
        status,
        keep_alive: !http10,
        chunked: false,
        content_length: None,
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(WireError::Protocol("header line without `:`"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let len = value
                .parse()
                .map_err(|_| WireError::Protocol("bad Content-Length"))?;
            head.content_length = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked must be the last coding; anything else is read to close.
            head.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
            if !head.chunked {
                head.content_length = None;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && http10 {
                    head.keep_alive = true;
                }
            }
        }
    }
    if head.chunked {
        // RFC 9112 6.3: Transfer-Encoding wins over Content-Length.
        head.content_length = None;
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_parsing_follows_http11_defaults() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!(
            (h.status, h.keep_alive, h.content_length),
            (200, true, Some(5))
        );
        let h = parse_head(b"HTTP/1.0 500 Oops\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        let h = parse_head(b"HTTP/1.0 204 x\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert!(h.keep_alive);
        let h =
            parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\nConnection: close\r\n\r\n")
                .unwrap();
        assert!(h.chunked && !h.keep_alive && h.content_length.is_none());
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    #[test]
    fn rendering_adds_host_and_length_once() {
        let spec = RequestSpec {
            method: "POST".into(),
            path: "/api/items?x=1".into(),
            body: Some("{}".into()),
            headers: vec![("Content-Type".into(), "application/json".into())],
            weight: 1,
        };
        let text = String::from_utf8(render(&spec, "127.0.0.1:80").unwrap().bytes).unwrap();
        assert!(text.starts_with("POST /api/items?x=1 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n"));
        assert!(text.ends_with("Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"));
        let bad = RequestSpec {
            headers: vec![("X".into(), "a\r\nInjected: 1".into())],
            ..spec
        };
        let err = render(&bad, "h").unwrap_err();
        assert_eq!(err, RequestError::HeaderValue("X".into()));
        assert_eq!(
            err.to_string(),
            "header `X` has a line break or NUL in its value"
        );
    }
}
