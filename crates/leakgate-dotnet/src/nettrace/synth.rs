//! Writes synthetic nettrace streams, so tests read as the trace they build
//! (in the spirit of `minidump-synth`) instead of as opaque byte blobs.
//!
//! The writer encodes events the way the runtime does: compressed headers
//! that omit every field equal to the previous event's, sequence numbers as
//! deltas, blocks padded to 4-byte stream offsets. Plain (uncompressed)
//! headers are available too.
//!
//! ```
//! use leakgate_dotnet::nettrace::synth::{NettraceBuilder, SynthEvent};
//!
//! let mut trace = NettraceBuilder::new();
//! trace.metadata(1, "P", 1, "E", 0);
//! trace.events(&[SynthEvent::new(1, 1, 10, vec![]), SynthEvent::new(1, 2, 10, vec![])]);
//! trace.sequence_point(&[(10, 2)]);
//! let bytes = trace.finish();
//! assert!(bytes.starts_with(b"Nettrace"));
//! ```

use super::format::{self, header_flag, object, tag};

/// One metadata record to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthMetadata {
    pub metadata_id: u32,
    pub provider: String,
    pub event_id: u32,
    pub event_name: String,
    pub version: u32,
}

/// One event to write. Fields other than those given to [`SynthEvent::new`]
/// default to what the runtime typically writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthEvent {
    pub metadata_id: u32,
    pub sequence_number: u32,
    pub thread_id: u64,
    pub capture_thread_id: u64,
    pub processor_number: u32,
    pub stack_id: u32,
    pub timestamp: i64,
    pub activity_id: [u8; 16],
    pub related_activity_id: [u8; 16],
    pub is_sorted: bool,
    pub payload: Vec<u8>,
}

impl SynthEvent {
    /// An event of `metadata_id`, numbered `sequence_number` on `thread`
    /// (which both logs and captures it).
    pub fn new(metadata_id: u32, sequence_number: u32, thread: u64, payload: Vec<u8>) -> Self {
        SynthEvent {
            metadata_id,
            sequence_number,
            thread_id: thread,
            capture_thread_id: thread,
            processor_number: 0,
            stack_id: 0,
            timestamp: i64::from(sequence_number) * 100,
            activity_id: [0; 16],
            related_activity_id: [0; 16],
            is_sorted: false,
            payload,
        }
    }
}

/// Builds a nettrace V5 stream in memory.
#[derive(Debug, Clone)]
pub struct NettraceBuilder {
    out: Vec<u8>,
    /// Bytes already handed out by [`drain`](Self::drain): the stream offset of `out[0]`.
    drained: u64,
}

impl Default for NettraceBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl NettraceBuilder {
    /// A 64-bit trace of process 4242.
    pub fn new() -> Self {
        Self::with_trace(8, 4242)
    }

    /// A trace with the given pointer size (4 or 8) and process id.
    pub fn with_trace(pointer_size: u32, process_id: u32) -> Self {
        let mut out = Vec::new();
        out.extend_from_slice(format::MAGIC);
        put_u32(&mut out, format::SERIALIZATION_HEADER.len() as u32);
        out.extend_from_slice(format::SERIALIZATION_HEADER);
        put_object_header(&mut out, object::TRACE, format::TRACE_VERSION);
        for part in [2026i16, 1, 4, 15, 12, 0, 0, 0] {
            out.extend_from_slice(&part.to_le_bytes());
        }
        out.extend_from_slice(&1_000_000i64.to_le_bytes()); // sync ticks
        out.extend_from_slice(&1_000_000_000i64.to_le_bytes()); // ticks per second
        put_u32(&mut out, pointer_size);
        put_u32(&mut out, process_id);
        put_u32(&mut out, 2); // processors
        put_u32(&mut out, 1_000_000); // sampling rate
        out.push(tag::END_OBJECT);
        NettraceBuilder { out, drained: 0 }
    }

    /// Bytes written so far (the stream is not finished), drained ones included.
    pub fn len(&self) -> usize {
        self.drained as usize + self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands out the bytes written since the last drain, so a trace larger
    /// than memory can be written to a file block by block (later blocks
    /// still pad to their true stream offsets).
    pub fn drain(&mut self) -> Vec<u8> {
        self.drained += self.out.len() as u64;
        std::mem::take(&mut self.out)
    }

    /// A metadata block holding one record.
    pub fn metadata(
        &mut self,
        metadata_id: u32,
        provider: &str,
        event_id: u32,
        event_name: &str,
        version: u32,
    ) -> &mut Self {
        self.metadata_records(&[SynthMetadata {
            metadata_id,
            provider: provider.into(),
            event_id,
            event_name: event_name.into(),
            version,
        }])
    }

    /// A metadata block holding `records`.
    pub fn metadata_records(&mut self, records: &[SynthMetadata]) -> &mut Self {
        let blobs: Vec<SynthEvent> = records
            .iter()
            .map(|r| {
                let mut payload = Vec::new();
                put_u32(&mut payload, r.metadata_id);
                put_utf16z(&mut payload, &r.provider);
                put_u32(&mut payload, r.event_id);
                put_utf16z(&mut payload, &r.event_name);
                payload.extend_from_slice(&0u64.to_le_bytes()); // keywords
                put_u32(&mut payload, r.version);
                put_u32(&mut payload, 4); // level
                put_u32(&mut payload, 0); // no field descriptions
                SynthEvent {
                    metadata_id: 0,
                    sequence_number: 0,
                    thread_id: 0,
                    capture_thread_id: 0,
                    processor_number: 0,
                    stack_id: 0,
                    timestamp: 0,
                    activity_id: [0; 16],
                    related_activity_id: [0; 16],
                    is_sorted: false,
                    payload,
                }
            })
            .collect();
        self.blob_block(object::METADATA_BLOCK, &blobs, true)
    }

    /// An event block with compressed headers, as the runtime writes them.
    pub fn events(&mut self, events: &[SynthEvent]) -> &mut Self {
        self.blob_block(object::EVENT_BLOCK, events, true)
    }

    /// An event block with plain (uncompressed) headers.
    pub fn events_uncompressed(&mut self, events: &[SynthEvent]) -> &mut Self {
        self.blob_block(object::EVENT_BLOCK, events, false)
    }

    /// A sequence point listing `(capture thread, last sequence number)`.
    pub fn sequence_point(&mut self, threads: &[(u64, u32)]) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&0i64.to_le_bytes());
        put_u32(&mut body, threads.len() as u32);
        for &(thread, sequence) in threads {
            body.extend_from_slice(&thread.to_le_bytes());
            put_u32(&mut body, sequence);
        }
        self.block(object::SEQUENCE_POINT_BLOCK, &body)
    }

    /// A stack block: stacks numbered from `first_id`, each a list of IPs.
    pub fn stack_block(&mut self, first_id: u32, stacks: &[Vec<u64>]) -> &mut Self {
        let mut body = Vec::new();
        put_u32(&mut body, first_id);
        put_u32(&mut body, stacks.len() as u32);
        for stack in stacks {
            put_u32(&mut body, (stack.len() * 8) as u32);
            for ip in stack {
                body.extend_from_slice(&ip.to_le_bytes());
            }
        }
        self.block(object::STACK_BLOCK, &body)
    }

    /// A block object of any type name, with `body` as its payload.
    pub fn block(&mut self, type_name: &str, body: &[u8]) -> &mut Self {
        put_object_header(&mut self.out, type_name, format::BLOCK_VERSION);
        put_u32(&mut self.out, body.len() as u32);
        let padding = format::padding_to_4(self.len() as u64) as usize;
        self.out.extend(std::iter::repeat_n(0u8, padding));
        self.out.extend_from_slice(body);
        self.out.push(tag::END_OBJECT);
        self
    }

    /// Ends the stream (the end-of-stream tag) and returns its bytes (those
    /// not drained yet).
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(tag::NULL_REFERENCE);
        self.out
    }

    /// The bytes so far, without the end tag: a stream cut off mid-way.
    pub fn unfinished(self) -> Vec<u8> {
        self.out
    }

    fn blob_block(&mut self, type_name: &str, blobs: &[SynthEvent], compressed: bool) -> &mut Self {
        // Where the block's payload will start: after the object header, the
        // size field and the padding. Plain headers pad to stream offsets.
        let mut probe = Vec::new();
        put_object_header(&mut probe, type_name, format::BLOCK_VERSION);
        let size_end = (self.len() + probe.len() + 4) as u64;
        let body_start = size_end + format::padding_to_4(size_end);

        let mut body = Vec::new();
        put_u16(&mut body, format::BLOCK_HEADER_MIN_LEN as u16);
        put_u16(
            &mut body,
            if compressed {
                format::BLOCK_FLAG_COMPRESSED_HEADERS
            } else {
                0
            },
        );
        let min_ts = blobs.iter().map(|e| e.timestamp).min().unwrap_or(0);
        let max_ts = blobs.iter().map(|e| e.timestamp).max().unwrap_or(0);
        body.extend_from_slice(&min_ts.to_le_bytes());
        body.extend_from_slice(&max_ts.to_le_bytes());
        let mut previous = SynthEvent::new(0, 0, 0, Vec::new());
        previous.timestamp = 0;
        for event in blobs {
            if compressed {
                put_compressed(&mut body, event, &previous);
            } else {
                put_uncompressed(&mut body, event, body_start);
            }
            previous = event.clone();
        }
        self.block(type_name, &body)
    }
}

fn put_compressed(out: &mut Vec<u8>, e: &SynthEvent, prev: &SynthEvent) {
    let mut flags = 0u8;
    if e.metadata_id != prev.metadata_id {
        flags |= header_flag::METADATA_ID;
    }
    // The reader adds 1 per event (not for metadata records, id 0).
    let implied = if e.metadata_id != 0 {
        prev.sequence_number.wrapping_add(1)
    } else {
        prev.sequence_number
    };
    if e.sequence_number != implied
        || e.capture_thread_id != prev.capture_thread_id
        || e.processor_number != prev.processor_number
    {
        flags |= header_flag::CAPTURE_THREAD_AND_SEQUENCE;
    }
    if e.thread_id != prev.thread_id {
        flags |= header_flag::THREAD_ID;
    }
    if e.stack_id != prev.stack_id {
        flags |= header_flag::STACK_ID;
    }
    if e.activity_id != prev.activity_id {
        flags |= header_flag::ACTIVITY_ID;
    }
    if e.related_activity_id != prev.related_activity_id {
        flags |= header_flag::RELATED_ACTIVITY_ID;
    }
    if e.is_sorted {
        flags |= header_flag::SORTED;
    }
    if e.payload.len() != prev.payload.len() {
        flags |= header_flag::PAYLOAD_SIZE;
    }
    out.push(flags);
    if flags & header_flag::METADATA_ID != 0 {
        put_varuint(out, u64::from(e.metadata_id));
    }
    if flags & header_flag::CAPTURE_THREAD_AND_SEQUENCE != 0 {
        let delta = e.sequence_number.wrapping_sub(implied);
        put_varuint(out, u64::from(delta));
        put_varuint(out, e.capture_thread_id);
        put_varuint(out, u64::from(e.processor_number));
    }
    if flags & header_flag::THREAD_ID != 0 {
        put_varuint(out, e.thread_id);
    }
    if flags & header_flag::STACK_ID != 0 {
        put_varuint(out, u64::from(e.stack_id));
    }
    put_varuint(out, e.timestamp.wrapping_sub(prev.timestamp) as u64);
    if flags & header_flag::ACTIVITY_ID != 0 {
        out.extend_from_slice(&e.activity_id);
    }
    if flags & header_flag::RELATED_ACTIVITY_ID != 0 {
        out.extend_from_slice(&e.related_activity_id);
    }
    if flags & header_flag::PAYLOAD_SIZE != 0 {
        put_varuint(out, e.payload.len() as u64);
    }
    out.extend_from_slice(&e.payload);
}

fn put_uncompressed(out: &mut Vec<u8>, e: &SynthEvent, body_start: u64) {
    put_u32(
        out,
        (format::UNCOMPRESSED_HEADER_LEN - 4 + e.payload.len()) as u32,
    );
    let sorted = if e.is_sorted {
        format::UNCOMPRESSED_SORTED_BIT
    } else {
        0
    };
    put_u32(out, e.metadata_id | sorted);
    put_u32(out, e.sequence_number);
    out.extend_from_slice(&e.thread_id.to_le_bytes());
    out.extend_from_slice(&e.capture_thread_id.to_le_bytes());
    put_u32(out, e.processor_number);
    put_u32(out, e.stack_id);
    out.extend_from_slice(&e.timestamp.to_le_bytes());
    out.extend_from_slice(&e.activity_id);
    out.extend_from_slice(&e.related_activity_id);
    put_u32(out, e.payload.len() as u32);
    out.extend_from_slice(&e.payload);
    let padding = format::padding_to_4(body_start + out.len() as u64) as usize;
    out.extend(std::iter::repeat_n(0u8, padding));
}

fn put_object_header(out: &mut Vec<u8>, type_name: &str, version: i32) {
    out.push(tag::BEGIN_PRIVATE_OBJECT);
    out.push(tag::BEGIN_PRIVATE_OBJECT);
    out.push(tag::NULL_REFERENCE);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    put_u32(out, type_name.len() as u32);
    out.extend_from_slice(type_name.as_bytes());
    out.push(tag::END_OBJECT);
}

/// Appends a little-endian u16.
pub fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a little-endian u32.
pub fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a LEB128-style unsigned integer.
pub fn put_varuint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends a NUL-terminated UTF-16LE string.
pub fn put_utf16z(out: &mut Vec<u8>, text: &str) {
    for unit in text.encode_utf16().chain(std::iter::once(0)) {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}
