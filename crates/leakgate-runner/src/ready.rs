//! Readiness probes: an HTTP URL answering 2xx, or a TCP port accepting connections.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// What to probe, with `{port}` already filled in.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Http {
        host: String,
        port: u16,
        path: String,
    },
    Tcp {
        host: String,
        port: u16,
    },
}

impl Probe {
    /// Parses `http://host:port/path`; only plain HTTP on loopback is probed.
    pub fn http(url: &str) -> Result<Probe, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("ready.http {url:?}: expected an http:// URL"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (host, port) = split_host_port(authority, 80)
            .ok_or_else(|| format!("ready.http {url:?}: cannot read host and port"))?;
        Ok(Probe::Http { host, port, path })
    }

    /// Parses `port`, `host:port`.
    pub fn tcp(spec: &str) -> Result<Probe, String> {
        let (host, port) = split_host_port(spec, 0)
            .filter(|(_, p)| *p != 0)
            .or_else(|| {
                spec.trim()
                    .parse()
                    .ok()
                    .map(|p| ("127.0.0.1".to_string(), p))
            })
            .ok_or_else(|| format!("ready.tcp {spec:?}: expected a port or host:port"))?;
        Ok(Probe::Tcp { host, port })
    }

    /// One attempt; `Ok(())` when ready, `Err(why not)` otherwise.
    pub fn check(&self, timeout: Duration) -> Result<(), String> {
        match self {
            Probe::Tcp { host, port } => connect(host, *port, timeout).map(|_| ()),
            Probe::Http { host, port, path } => {
                let (code, _) = http_get(host, *port, path, timeout)?;
                if (200..300).contains(&code) {
                    Ok(())
                } else {
                    Err(format!("{path} answered {code}"))
                }
            }
        }
    }
}

/// GETs `url` (plain HTTP) and returns the body of a 2xx answer.
pub fn fetch(url: &str, timeout: Duration) -> Result<String, String> {
    let Probe::Http { host, port, path } = Probe::http(url)? else {
        unreachable!("Probe::http makes an Http probe")
    };
    match http_get(&host, port, &path, timeout)? {
        (code, body) if (200..300).contains(&code) => Ok(body),
        (code, _) => Err(format!("{url} answered {code}")),
    }
}

/// One `Connection: close` GET: the status code and the (de-chunked) body.
fn http_get(host: &str, port: u16, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    let mut stream = connect(host, port, timeout)?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    // One write: a server that answers after the first bytes and closes would
    // otherwise turn the rest of a piecemeal write into EPIPE.
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
    let written = stream.write_all(request.as_bytes());
    let mut bytes = Vec::new();
    // A server may reset after answering; what was read still counts.
    let read = stream.read_to_end(&mut bytes);
    if bytes.is_empty() {
        return Err(match (written, read) {
            (Err(e), _) | (_, Err(e)) => e.to_string(),
            _ => "the connection closed without an answer".into(),
        });
    }
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, body) = match split {
        Some(i) => (&bytes[..i], &bytes[i + 4..]),
        None => (&bytes[..], &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let code: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP response: {:?}",
                head.lines().next().unwrap_or("")
            )
        })?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
    // De-chunk the bytes first: a chunk boundary may split a UTF-8 character.
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let header = String::from_utf8_lossy(&body[..eol]);
        let size =
            usize::from_str_radix(header.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        let rest = &body[eol + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        body = rest[size..].strip_prefix(b"\r\n").unwrap_or(&rest[size..]);
    }
    out
}

fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}:{port}: {e}"))?
        .collect();
    let mut last = format!("{host}:{port}: no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None if !authority.is_empty() && authority.parse::<u16>().is_err() => {
            Some((authority.to_string(), default_port))
        }
        None => None,
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
    use super::*;

    #[test]
    fn parses_probes() {
        assert_eq!(
            Probe::http("http://127.0.0.1:5000/healthz").unwrap(),
            Probe::Http {
                host: "127.0.0.1".into(),
                port: 5000,
                path: "/healthz".into()
            }
        );
        assert_eq!(
            Probe::http("http://localhost").unwrap(),
            Probe::Http {
                host: "localhost".into(),
                port: 80,
                path: "/".into()
            }
        );
        assert_eq!(
            Probe::tcp("8080").unwrap(),
            Probe::Tcp {
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        assert_eq!(
            Probe::tcp("[::1]:81").unwrap(),
            Probe::Tcp {
                host: "::1".into(),
                port: 81
            }
        );
        assert!(Probe::http("https://x/").is_err());
        assert!(Probe::tcp("nope").is_err());
    }

    #[test]
    fn a_closed_port_is_not_ready() {
        let port = free_port().unwrap();
        assert!(
            Probe::tcp(&port.to_string())
                .unwrap()
                .check(Duration::from_millis(200))
                .is_err()
        );
    }

    #[test]
    fn an_http_server_answering_200_is_ready() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        });
        let probe = Probe::http(&format!("http://127.0.0.1:{port}/healthz")).unwrap();
        assert_eq!(probe.check(Duration::from_secs(2)), Ok(()));
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"),
            b"hello, world"
        );
        assert_eq!(dechunk(b""), b"");
        // "\u{e9}" is two bytes; a chunk boundary between them must not break anything.
        let split = b"2\r\n\"\xc3\r\n2\r\n\xa9\"\r\n0\r\n\r\n";
        assert_eq!(String::from_utf8(dechunk(split)).unwrap(), "\"\u{e9}\"");
    }
}
