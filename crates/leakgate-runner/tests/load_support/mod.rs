//! A tiny HTTP/1.1 server for the load generator tests: counts what it sees
//! and misbehaves on request, per path.
//!
//! Routes: `/chunked` (chunked body, written in pieces), `/big-chunked`
//! (~200 KiB chunked), `/fail` (500), `/slow` (200 after 50 ms), `/hang`
//! (never answers), `/nocontent` (204), anything else 200 with a
//! Content-Length body (headers only for HEAD).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Close each connection after this many responses.
    pub close_after: Option<u64>,
    /// With `close_after`: close without saying `Connection: close` first.
    pub close_silently: bool,
}

#[derive(Default)]
struct State {
    behaviour: Behaviour,
    accepted: AtomicU64,
    total: AtomicU64,
    body_bytes: AtomicU64,
    hits: Mutex<BTreeMap<String, u64>>,
    stop: AtomicBool,
}

pub struct Server {
    pub port: u16,
    state: Arc<State>,
}

impl Server {
    pub fn start() -> Server {
        Server::with(Behaviour::default())
    }

    pub fn with(behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            behaviour,
            ..State::default()
        });
        let st = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                st.accepted.fetch_add(1, Ordering::SeqCst);
                let st = Arc::clone(&st);
                thread::spawn(move || serve(stream, &st));
            }
        });
        Server { port, state }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Requests received so far (counted when the request has been read).
    pub fn total(&self) -> u64 {
        self.state.total.load(Ordering::SeqCst)
    }

    pub fn hits(&self, path: &str) -> u64 {
        self.state
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn body_bytes(&self) -> u64 {
        self.state.body_bytes.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
    }
}

fn serve(stream: TcpStream, st: &State) {
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    let mut served = 0u64;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let head_only = line.starts_with("HEAD ");
        let path = line.split(' ').nth(1).unwrap_or("").to_string();
        let path = path.split('?').next().unwrap().to_string();
        let mut content_length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((name, value)) = h.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        st.body_bytes
            .fetch_add(content_length as u64, Ordering::SeqCst);
        *st.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
        st.total.fetch_add(1, Ordering::SeqCst);

        served += 1;
        let last = st.behaviour.close_after.is_some_and(|n| served >= n);
        let conn_header = if last && !st.behaviour.close_silently {
            "Connection: close\r\n"
        } else {
            ""
        };
        let ok = match path.as_str() {
            "/hang" => {
                while !st.stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            "/slow" => {
                thread::sleep(Duration::from_millis(50));
                respond(&mut out, "200 OK", conn_header, "slow")
            }
            "/fail" => respond(&mut out, "500 Internal Server Error", conn_header, "oops"),
            "/chunked" => chunked(&mut out, conn_header, &[b"hello", b" chunked", b" world"]),
            "/big-chunked" => {
                let piece = vec![b'x'; 20_000];
                let pieces: Vec<&[u8]> = (0..10).map(|_| piece.as_slice()).collect();
                chunked(&mut out, conn_header, &pieces)
            }
            "/nocontent" => {
                let msg = format!("HTTP/1.1 204 No Content\r\n{conn_header}\r\n");
                out.write_all(msg.as_bytes()).is_ok()
            }
            _ if head_only => {
                // Says how long the body would be, sends none.
                let msg = format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{conn_header}\r\n");
                out.write_all(msg.as_bytes()).is_ok()
            }
            _ => respond(&mut out, "200 OK", conn_header, "ok"),
        };
        if !ok || last {
            return; // dropping the stream closes it
        }
    }
}

fn respond(out: &mut TcpStream, status: &str, extra: &str, body: &str) -> bool {
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n{extra}\r\n{body}",
        body.len()
    );
    out.write_all(msg.as_bytes()).is_ok()
}

/// Writes the head, each chunk (with an extension on the first) and a
/// trailer as separate writes, so the client sees them in pieces.
fn chunked(out: &mut TcpStream, extra: &str, pieces: &[&[u8]]) -> bool {
    let head = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{extra}\r\n");
    if out.write_all(head.as_bytes()).is_err() {
        return false;
    }
    for (i, piece) in pieces.iter().enumerate() {
        let ext = if i == 0 { ";name=value" } else { "" };
        let mut chunk = format!("{:X}{ext}\r\n", piece.len()).into_bytes();
        chunk.extend_from_slice(piece);
        chunk.extend_from_slice(b"\r\n");
        if out.write_all(&chunk).is_err() {
            return false;
        }
        out.flush().ok();
    }
    out.write_all(b"0\r\nX-Trailer: done\r\n\r\n").is_ok()
}
