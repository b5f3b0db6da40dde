//! Raw diagnostics IPC frames: pure encode/decode functions, no sockets.
//!
//! Kept apart from the client so that every byte layout can be tested without
//! a running .NET process (STYLE: raw formats in their own modules).
//!
//! ```
//! use leakgate_dotnet::ipc::frame::{self, Reply};
//!
//! // A ProcessInfo request is a bare 20-byte header.
//! let request = frame::encode_frame(0x04, 0x00, &[]).unwrap();
//! assert_eq!(request.len(), frame::HEADER_LEN);
//!
//! // An error reply: set 0xFF, id 0xFF, payload = HRESULT.
//! let mut reply = frame::encode_frame(0xFF, 0xFF, &0x8013_1385u32.to_le_bytes()).unwrap();
//! let header = frame::decode_header(&reply[..frame::HEADER_LEN]).unwrap();
//! let payload = reply.split_off(frame::HEADER_LEN);
//! assert_eq!(
//!     frame::decode_reply(&header, payload).unwrap(),
//!     Reply::Error { hresult: 0x8013_1385, message: None }
//! );
//! ```

use thiserror::Error;

/// `"DOTNET_IPC_V1\0"`: every frame in both directions starts with it.
pub const MAGIC: &[u8; 14] = b"DOTNET_IPC_V1\0";
/// Magic (14) + u16 size + u8 set + u8 id + u16 reserved.
pub const HEADER_LEN: usize = 20;

/// Command sets (first byte of the command).
pub mod set {
    pub const DUMP: u8 = 0x01;
    pub const EVENT_PIPE: u8 = 0x02;
    pub const PROCESS: u8 = 0x04;
    /// Replies come back in this set.
    pub const SERVER: u8 = 0xFF;
}

/// Command ids within their sets.
pub mod id {
    pub const GENERATE_CORE_DUMP: u8 = 0x01;
    pub const GENERATE_CORE_DUMP2: u8 = 0x02;
    pub const GENERATE_CORE_DUMP3: u8 = 0x03;
    pub const STOP_TRACING: u8 = 0x01;
    pub const COLLECT_TRACING2: u8 = 0x03;
    /// CollectTracing2 plus a flag to skip the per-event stack walk (.NET 5+).
    pub const COLLECT_TRACING3: u8 = 0x04;
    pub const PROCESS_INFO: u8 = 0x00;
    pub const PROCESS_INFO2: u8 = 0x04;
    pub const REPLY_OK: u8 = 0x00;
    pub const REPLY_ERROR: u8 = 0xFF;
}

/// HRESULT the runtime returns for a command it does not know (older runtime).
pub const HRESULT_UNKNOWN_COMMAND: u32 = 0x8013_1385;

/// Why bytes could not be turned into (or from) a frame.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("truncated {what}: needed {needed} bytes, got {got}")]
    Truncated {
        what: &'static str,
        needed: usize,
        got: usize,
    },
    #[error("bad magic {0:02x?}: the peer does not speak diagnostics IPC v1")]
    BadMagic(Vec<u8>),
    #[error("frame size {0} is smaller than the {HEADER_LEN}-byte header")]
    SizeTooSmall(u16),
    #[error("payload of {0} bytes does not fit a frame (max {max})", max = u16::MAX as usize - HEADER_LEN)]
    PayloadTooLarge(usize),
    #[error("expected a reply (command set 0xFF), got command set {0:#04x}")]
    NotAReply(u8),
    #[error("unknown reply id {0:#04x}")]
    UnknownReply(u8),
    #[error("string of {0} UTF-16 units is not valid UTF-16")]
    BadString(u32),
}

/// A decoded 20-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Total frame size, header included.
    pub size: u16,
    pub command_set: u8,
    pub command_id: u8,
}

impl Header {
    /// Payload bytes that follow the header.
    pub fn payload_len(&self) -> usize {
        usize::from(self.size) - HEADER_LEN
    }
}

/// Encodes one request frame: header followed by `payload`.
pub fn encode_frame(
    command_set: u8,
    command_id: u8,
    payload: &[u8],
) -> Result<Vec<u8>, FrameError> {
    let size = u16::try_from(HEADER_LEN + payload.len())
        .map_err(|_| FrameError::PayloadTooLarge(payload.len()))?;
    let mut out = Vec::with_capacity(usize::from(size));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&size.to_le_bytes());
    out.push(command_set);
    out.push(command_id);
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Decodes and validates the first [`HEADER_LEN`] bytes of a frame.
pub fn decode_header(bytes: &[u8]) -> Result<Header, FrameError> {
    if bytes.len() < HEADER_LEN {
        return Err(FrameError::Truncated {
            what: "header",
            needed: HEADER_LEN,
            got: bytes.len(),
        });
    }
    if &bytes[..14] != MAGIC {
        return Err(FrameError::BadMagic(bytes[..14].to_vec()));
    }
    let size = u16::from_le_bytes([bytes[14], bytes[15]]);
    if usize::from(size) < HEADER_LEN {
        return Err(FrameError::SizeTooSmall(size));
    }
    Ok(Header {
        size,
        command_set: bytes[16],
        command_id: bytes[17],
    })
}

/// What the runtime answered to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Id 0x00: the command-specific payload (may be empty).
    Ok(Vec<u8>),
    /// Id 0xFF: HRESULT, and for GenerateCoreDump3 a message string.
    Error {
        hresult: u32,
        message: Option<String>,
    },
}

/// Turns a reply header and its payload into a [`Reply`].
///
/// The error message is optional on the wire (only GenerateCoreDump3 sends
/// one), so a missing or unreadable message is `None`, not an error.
pub fn decode_reply(header: &Header, payload: Vec<u8>) -> Result<Reply, FrameError> {
    if header.command_set != set::SERVER {
        return Err(FrameError::NotAReply(header.command_set));
    }
    if payload.len() != header.payload_len() {
        return Err(FrameError::Truncated {
            what: "reply payload",
            needed: header.payload_len(),
            got: payload.len(),
        });
    }
    match header.command_id {
        id::REPLY_OK => Ok(Reply::Ok(payload)),
        id::REPLY_ERROR => {
            let mut reader = Reader::new(&payload);
            let hresult = reader.u32("error HRESULT")?;
            let message = reader
                .string("error message")
                .ok()
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty());
            Ok(Reply::Error { hresult, message })
        }
        other => Err(FrameError::UnknownReply(other)),
    }
}

/// Appends a protocol string: u32 UTF-16 unit count including the NUL, then UTF-16LE.
/// An empty string is written as count 0 (what the .NET client sends for "no value").
pub fn put_string(out: &mut Vec<u8>, value: &str) {
    if value.is_empty() {
        out.extend_from_slice(&0u32.to_le_bytes());
        return;
    }
    let units: Vec<u16> = value.encode_utf16().chain(std::iter::once(0)).collect();
    out.extend_from_slice(&(units.len() as u32).to_le_bytes());
    for unit in units {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

/// Payload of GenerateCoreDump 1/2/3: path, u32 dump type, u32 flags.
pub fn dump_payload(path: &str, dump_type: u32, flags: u32) -> Vec<u8> {
    let mut out = Vec::new();
    put_string(&mut out, path);
    out.extend_from_slice(&dump_type.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out
}

/// One provider of an EventPipe session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub name: String,
    pub keywords: u64,
    /// 0 LogAlways, 1 Critical, 2 Error, 3 Warning, 4 Informational, 5 Verbose.
    pub level: u32,
    /// `key=value;...` arguments; empty means none.
    pub filter_data: String,
}

/// Payload of CollectTracing2: buffer size, format, rundown flag, providers.
pub fn collect_tracing2_payload(
    circular_buffer_mb: u32,
    format: u32,
    request_rundown: bool,
    providers: &[Provider],
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&circular_buffer_mb.to_le_bytes());
    out.extend_from_slice(&format.to_le_bytes());
    out.push(u8::from(request_rundown));
    out.extend_from_slice(&(providers.len() as u32).to_le_bytes());
    for provider in providers {
        out.extend_from_slice(&provider.keywords.to_le_bytes());
        out.extend_from_slice(&provider.level.to_le_bytes());
        put_string(&mut out, &provider.name);
        put_string(&mut out, &provider.filter_data);
    }
    out
}

/// Payload of CollectTracing3: CollectTracing2's, with a stack-walk flag after the rundown flag.
pub fn collect_tracing3_payload(
    circular_buffer_mb: u32,
    format: u32,
    request_rundown: bool,
    request_stackwalk: bool,
    providers: &[Provider],
) -> Vec<u8> {
    let mut out = collect_tracing2_payload(circular_buffer_mb, format, request_rundown, providers);
    out.insert(9, u8::from(request_stackwalk));
    out
}

/// ProcessInfo / ProcessInfo2 reply payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u64,
    /// The runtime instance cookie (a GUID, raw bytes as sent).
    pub runtime_cookie: [u8; 16],
    pub command_line: String,
    pub os: String,
    pub arch: String,
    /// ProcessInfo2 only.
    pub entrypoint_assembly: Option<String>,
    /// ProcessInfo2 only, e.g. `10.0.0`.
    pub clr_version: Option<String>,
}

/// Parses a ProcessInfo (v1) or, with `v2`, a ProcessInfo2 reply payload.
pub fn parse_process_info(payload: &[u8], v2: bool) -> Result<ProcessInfo, FrameError> {
    let mut r = Reader::new(payload);
    let pid = r.u64("pid")?;
    let runtime_cookie: [u8; 16] = r.bytes("runtime cookie", 16)?.try_into().expect("16 bytes");
    let command_line = r.string("command line")?;
    let os = r.string("os")?;
    let arch = r.string("arch")?;
    let (entrypoint_assembly, clr_version) = if v2 {
        (
            Some(r.string("entrypoint assembly")?),
            Some(r.string("clr version")?),
        )
    } else {
        (None, None)
    };
    Ok(ProcessInfo {
        pid,
        runtime_cookie,
        command_line,
        os,
        arch,
        entrypoint_assembly,
        clr_version,
    })
}

/// Little-endian cursor over a payload; every read checks bounds.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn bytes(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], FrameError> {
        if self.remaining() < n {
            return Err(FrameError::Truncated {
                what,
                needed: n,
                got: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, FrameError> {
        Ok(u32::from_le_bytes(
            self.bytes(what, 4)?.try_into().expect("4 bytes"),
        ))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, FrameError> {
        Ok(u64::from_le_bytes(
            self.bytes(what, 8)?.try_into().expect("8 bytes"),
        ))
    }

    /// Reads a protocol string; the trailing NUL (if any) is dropped.
    pub fn string(&mut self, what: &'static str) -> Result<String, FrameError> {
        let count = self.u32(what)?;
        let byte_len = (count as usize)
            .checked_mul(2)
            .ok_or(FrameError::BadString(count))?;
        let raw = self.bytes(what, byte_len)?;
        let mut units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        if units.last() == Some(&0) {
            units.pop();
        }
        String::from_utf16(&units).map_err(|_| FrameError::BadString(count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_frame(id: u8, payload: &[u8]) -> (Header, Vec<u8>) {
        let mut bytes = encode_frame(set::SERVER, id, payload).unwrap();
        let header = decode_header(&bytes).unwrap();
        (header, bytes.split_off(HEADER_LEN))
    }

    #[test]
    fn encodes_a_known_dump_request() {
        let payload = dump_payload("/d", 2, 0);
        let frame = encode_frame(set::DUMP, id::GENERATE_CORE_DUMP3, &payload).unwrap();
        let expected: Vec<u8> = [
            b"DOTNET_IPC_V1\0".as_slice(),
            &[38, 0],      // size = 20 + 18
            &[0x01, 0x03], // set, id
            &[0, 0],       // reserved
            &[3, 0, 0, 0], // 3 UTF-16 units: '/', 'd', NUL
            &[b'/', 0, b'd', 0, 0, 0],
            &[2, 0, 0, 0], // withheap
            &[0, 0, 0, 0], // flags
        ]
        .concat();
        assert_eq!(frame, expected);
    }

    #[test]
    fn encodes_collect_tracing2_with_empty_filter_as_count_zero() {
        let payload = collect_tracing2_payload(
            16,
            1,
            false,
            &[Provider {
                name: "A".into(),
                keywords: 0x80_0000,
                level: 4,
                filter_data: String::new(),
            }],
        );
        let expected: Vec<u8> = [
            &16u32.to_le_bytes()[..],
            &1u32.to_le_bytes(),
            &[0],
            &1u32.to_le_bytes(),
            &0x80_0000u64.to_le_bytes(),
            &4u32.to_le_bytes(),
            &2u32.to_le_bytes(),
            &[b'A', 0, 0, 0],
            &0u32.to_le_bytes(),
        ]
        .concat();
        assert_eq!(payload, expected);
    }

    #[test]
    fn collect_tracing3_adds_the_stackwalk_flag_after_rundown() {
        let providers = [Provider {
            name: "A".into(),
            keywords: 0x1980001,
            level: 5,
            filter_data: String::new(),
        }];
        let v2 = collect_tracing2_payload(1024, 1, false, &providers);
        let v3 = collect_tracing3_payload(1024, 1, false, false, &providers);
        let expected: Vec<u8> = [&v2[..9], &[0], &v2[9..]].concat();
        assert_eq!(v3, expected);
        assert_eq!(&v3[..10], &[0, 4, 0, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(
            collect_tracing3_payload(1, 1, false, true, &providers)[9],
            1
        );
    }

    #[test]
    fn header_round_trips() {
        let frame = encode_frame(0x02, 0x01, &[1, 2, 3]).unwrap();
        let header = decode_header(&frame).unwrap();
        assert_eq!(
            header,
            Header {
                size: 23,
                command_set: 2,
                command_id: 1
            }
        );
        assert_eq!(header.payload_len(), 3);
    }

    #[test]
    fn oversized_payload_is_an_error() {
        let big = vec![0u8; u16::MAX as usize];
        assert_eq!(
            encode_frame(1, 1, &big),
            Err(FrameError::PayloadTooLarge(big.len()))
        );
    }

    #[test]
    fn decodes_ok_reply() {
        let (header, payload) = reply_frame(id::REPLY_OK, &0u32.to_le_bytes());
        assert_eq!(
            decode_reply(&header, payload).unwrap(),
            Reply::Ok(vec![0, 0, 0, 0])
        );
    }

    #[test]
    fn decodes_error_reply_with_message() {
        let mut payload = 0x8000_4005u32.to_le_bytes().to_vec();
        put_string(&mut payload, "Problem: cannot open file");
        let (header, payload) = reply_frame(id::REPLY_ERROR, &payload);
        assert_eq!(
            decode_reply(&header, payload).unwrap(),
            Reply::Error {
                hresult: 0x8000_4005,
                message: Some("Problem: cannot open file".into())
            }
        );
    }

    #[test]
    fn decodes_error_reply_without_message() {
        let (header, payload) =
            reply_frame(id::REPLY_ERROR, &HRESULT_UNKNOWN_COMMAND.to_le_bytes());
        assert_eq!(
            decode_reply(&header, payload).unwrap(),
            Reply::Error {
                hresult: HRESULT_UNKNOWN_COMMAND,
                message: None
            }
        );
    }

    #[test]
    fn truncated_inputs_are_errors_not_panics() {
        let frame = encode_frame(set::SERVER, id::REPLY_ERROR, &[1, 2, 3, 4]).unwrap();
        for cut in 0..HEADER_LEN {
            assert!(matches!(
                decode_header(&frame[..cut]),
                Err(FrameError::Truncated { .. })
            ));
        }
        let header = decode_header(&frame).unwrap();
        // Payload shorter than the header says.
        assert!(matches!(
            decode_reply(&header, vec![1, 2]),
            Err(FrameError::Truncated { .. })
        ));
        // Error reply too short to hold an HRESULT.
        let (header, payload) = reply_frame(id::REPLY_ERROR, &[1, 2]);
        assert!(matches!(
            decode_reply(&header, payload),
            Err(FrameError::Truncated { .. })
        ));
        // A string whose count runs past the end.
        let mut r = Reader::new(&[200, 0, 0, 0, b'a', 0]);
        assert!(matches!(r.string("s"), Err(FrameError::Truncated { .. })));
        // A huge count must not overflow or allocate.
        let mut r = Reader::new(&[0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(r.string("s").is_err());
        // ProcessInfo cut anywhere.
        let full = process_info_payload();
        for cut in 0..full.len() {
            assert!(
                parse_process_info(&full[..cut], true).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn bad_magic_and_size_are_errors() {
        let mut frame = encode_frame(set::SERVER, 0, &[]).unwrap();
        frame[0] = b'X';
        assert!(matches!(
            decode_header(&frame),
            Err(FrameError::BadMagic(_))
        ));
        let mut frame = encode_frame(set::SERVER, 0, &[]).unwrap();
        frame[14] = 5;
        assert_eq!(decode_header(&frame), Err(FrameError::SizeTooSmall(5)));
    }

    #[test]
    fn non_reply_and_unknown_ids_are_errors() {
        let frame = encode_frame(set::DUMP, 0, &[]).unwrap();
        let header = decode_header(&frame).unwrap();
        assert_eq!(
            decode_reply(&header, vec![]),
            Err(FrameError::NotAReply(set::DUMP))
        );
        let (header, payload) = reply_frame(0x42, &[]);
        assert_eq!(
            decode_reply(&header, payload),
            Err(FrameError::UnknownReply(0x42))
        );
    }

    fn process_info_payload() -> Vec<u8> {
        let mut p = 4242u64.to_le_bytes().to_vec();
        p.extend_from_slice(&[7u8; 16]);
        put_string(&mut p, "dotnet LeakyService.dll");
        put_string(&mut p, "Linux");
        put_string(&mut p, "x64");
        put_string(&mut p, "LeakyService");
        put_string(&mut p, "10.0.0");
        p
    }

    #[test]
    fn parses_process_info_v1_and_v2() {
        let payload = process_info_payload();
        let v2 = parse_process_info(&payload, true).unwrap();
        assert_eq!(v2.pid, 4242);
        assert_eq!(v2.runtime_cookie, [7u8; 16]);
        assert_eq!(v2.command_line, "dotnet LeakyService.dll");
        assert_eq!(v2.os, "Linux");
        assert_eq!(v2.arch, "x64");
        assert_eq!(v2.entrypoint_assembly.as_deref(), Some("LeakyService"));
        assert_eq!(v2.clr_version.as_deref(), Some("10.0.0"));
        let v1 = parse_process_info(&payload, false).unwrap();
        assert_eq!(v1.entrypoint_assembly, None);
        assert_eq!(v1.command_line, v2.command_line);
    }

    #[test]
    fn strings_round_trip_non_ascii() {
        let mut out = Vec::new();
        put_string(&mut out, "/tmp/dümp-€.core");
        assert_eq!(Reader::new(&out).string("s").unwrap(), "/tmp/dümp-€.core");
        let mut out = Vec::new();
        put_string(&mut out, "");
        assert_eq!(out, [0, 0, 0, 0]);
        assert_eq!(Reader::new(&out).string("s").unwrap(), "");
    }
}
