//! Just enough of a WebSocket client (RFC 6455) to talk to Chromium's
//! DevTools on loopback: the opening handshake, masked text frames out,
//! text frames in (continuations joined, pings answered). No TLS, no
//! extensions: Chromium offers none unless asked.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct WebSocket {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl WebSocket {
    /// Connects to `ws://host:port/path`.
    pub fn connect(url: &str, timeout: Duration) -> io::Result<WebSocket> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| bad(format!("not a ws:// URL: {url}")))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let stream = TcpStream::connect(authority)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let mut writer = stream.try_clone()?;
        // Any 16 random bytes, base64: the server only echoes a hash of it.
        write!(
            writer,
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: bGVha2dhdGUtYnJvd3NlciE=\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status)?;
        if !status.starts_with("HTTP/1.1 101") {
            return Err(bad(format!("handshake refused: {}", status.trim())));
        }
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            if header == "\r\n" || header.is_empty() {
                break;
            }
        }
        Ok(WebSocket { reader, writer })
    }

    /// Sends one text message (client frames are masked, as the RFC requires).
    pub fn send(&mut self, text: &str) -> io::Result<()> {
        self.frame(0x1, text.as_bytes())
    }

    fn frame(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let mut out = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x6c, 0x67, 0x61, 0x74];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.writer.write_all(&out)
    }

    /// The next text message.
    pub fn receive(&mut self) -> io::Result<String> {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.reader.read_exact(&mut head)?;
            let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0F);
            let len = match head[1] & 0x7F {
                126 => {
                    let mut b = [0u8; 2];
                    self.reader.read_exact(&mut b)?;
                    u16::from_be_bytes(b) as u64
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.reader.read_exact(&mut b)?;
                    u64::from_be_bytes(b)
                }
                n => n as u64,
            };
            let mask = if head[1] & 0x80 != 0 {
                let mut m = [0u8; 4];
                self.reader.read_exact(&mut m)?;
                Some(m)
            } else {
                None
            };
            let mut payload = vec![0u8; len as usize];
            self.reader.read_exact(&mut payload)?;
            if let Some(m) = mask {
                payload
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b ^= m[i % 4]);
            }
            match opcode {
                0x0 | 0x1 => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return String::from_utf8(message).map_err(|e| bad(e.to_string()));
                    }
                }
                0x8 => return Err(bad("the browser closed the connection")),
                0x9 => self.frame(0xA, &payload)?,
                _ => {} // pong, binary: not used by DevTools
            }
        }
    }
}
