//! The nettrace (EventPipe) container, version 5 as .NET 10 writes it: byte
//! layouts and limits only, no I/O.
//!
//! A stream is `"Nettrace"`, the length-prefixed `"!FastSerialization.1"`,
//! then objects: `BeginPrivateObject`, a type object (`BeginPrivateObject`,
//! `NullReference`, i32 version, i32 minimum reader version, i32 name length,
//! name), the payload, `EndObject`. The first object is `Trace`; then
//! `MetadataBlock`, `EventBlock`, `StackBlock` and `SPBlock` objects in any
//! order; a `NullReference` tag ends the stream. Block payloads are an i32
//! size, zero padding to a 4-byte stream offset, then that many bytes.
//!
//! Spec: microsoft/perfview `src/TraceEvent/EventPipe/NetTraceFormat_v5.md`.

/// The first 8 bytes of every nettrace stream.
pub const MAGIC: &[u8; 8] = b"Nettrace";
/// The FastSerialization header that follows the magic (after its i32 length).
pub const SERIALIZATION_HEADER: &[u8] = b"!FastSerialization.1";

/// FastSerialization tags (one byte each).
pub mod tag {
    /// Ends the stream; also the "type of a type object".
    pub const NULL_REFERENCE: u8 = 1;
    pub const BEGIN_PRIVATE_OBJECT: u8 = 5;
    pub const END_OBJECT: u8 = 6;
}

/// Object type names.
pub mod object {
    pub const TRACE: &str = "Trace";
    pub const EVENT_BLOCK: &str = "EventBlock";
    pub const METADATA_BLOCK: &str = "MetadataBlock";
    pub const STACK_BLOCK: &str = "StackBlock";
    pub const SEQUENCE_POINT_BLOCK: &str = "SPBlock";
}

/// The `Trace` object version this reader understands (written by .NET Core 3.0 to .NET 10).
pub const TRACE_VERSION: i32 = 4;
/// The block object version this reader understands.
pub const BLOCK_VERSION: i32 = 2;
/// `Trace` payload: 8 × i16 UTC sync time, i64 sync QPC, i64 QPC frequency,
/// i32 pointer size, i32 process id, i32 processor count, i32 sampling rate.
pub const TRACE_PAYLOAD_LEN: usize = 48;

/// Event and metadata block header: u16 header size, u16 flags, i64 min and
/// max timestamps (the header size may announce more, to be skipped).
pub const BLOCK_HEADER_MIN_LEN: usize = 20;
/// Block flag: event headers are compressed (varints, deltas, optional fields).
pub const BLOCK_FLAG_COMPRESSED_HEADERS: u16 = 0x1;

/// Flag bits of a compressed event header: which fields are present.
pub mod header_flag {
    pub const METADATA_ID: u8 = 0x01;
    /// Sequence number delta, capture thread id and processor number.
    pub const CAPTURE_THREAD_AND_SEQUENCE: u8 = 0x02;
    pub const THREAD_ID: u8 = 0x04;
    pub const STACK_ID: u8 = 0x08;
    pub const ACTIVITY_ID: u8 = 0x10;
    pub const RELATED_ACTIVITY_ID: u8 = 0x20;
    pub const SORTED: u8 = 0x40;
    pub const PAYLOAD_SIZE: u8 = 0x80;
}

/// Uncompressed event header: i32 size, i32 metadata id (high bit: sorted),
/// i32 sequence, i64 thread, i64 capture thread, i32 processor, i32 stack id,
/// i64 timestamp, 2 × GUID, i32 payload size.
pub const UNCOMPRESSED_HEADER_LEN: usize = 4 + 4 + 4 + 8 + 8 + 4 + 4 + 8 + 16 + 16 + 4;
/// High bit of the uncompressed metadata id.
pub const UNCOMPRESSED_SORTED_BIT: u32 = 0x8000_0000;

/// Largest block payload accepted. The runtime writes blocks of ~100 KiB;
/// anything near this limit is a corrupt size field, not data.
pub const MAX_BLOCK_LEN: usize = 16 << 20;
/// Longest object type name accepted (the real ones are at most 13 bytes).
pub const MAX_TYPE_NAME_LEN: usize = 64;
/// Most distinct metadata ids kept (a real trace has a few hundred).
pub const MAX_METADATA_ENTRIES: usize = 100_000;
/// Most capture threads tracked for dropped-event detection.
pub const MAX_TRACKED_THREADS: usize = 1_000_000;

/// Bytes of zero padding that bring `offset` to a multiple of 4.
pub fn padding_to_4(offset: u64) -> u64 {
    (4 - offset % 4) % 4
}
