//! Event blobs inside event and metadata blocks: the block header, compressed
//! and uncompressed event headers, and the metadata payload.

use std::ops::Range;

use super::cursor::Cursor;
use super::error::NettraceError;
use super::format::{self, header_flag};

/// The header of one event, with compressed fields already expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventHeader {
    /// Which metadata describes the event (0 inside a metadata block).
    pub metadata_id: u32,
    /// Per capture thread, +1 per event the thread tried to log (dropped ones too).
    pub sequence_number: u32,
    /// The thread the event is about.
    pub thread_id: u64,
    /// The thread that wrote the event; sequence numbers count per capture thread.
    pub capture_thread_id: u64,
    pub processor_number: u32,
    pub stack_id: u32,
    /// In ticks (see [`TraceInfo::tick_frequency`](super::TraceInfo::tick_frequency)).
    pub timestamp: i64,
    pub activity_id: [u8; 16],
    pub related_activity_id: [u8; 16],
    pub is_sorted: bool,
    pub payload_len: u32,
}

/// Decoding state of the blobs of one event or metadata block.
#[derive(Debug, Clone, Default)]
pub(crate) struct BlobDecoder {
    compressed: bool,
    /// Index of the next blob within the block.
    pos: usize,
    /// Compressed headers are deltas from the previous header of the block.
    previous: EventHeader,
}

impl BlobDecoder {
    /// Reads the block header; `block_offset` is the stream offset of `block[0]`.
    pub(crate) fn new(block: &[u8], block_offset: u64) -> Result<Self, NettraceError> {
        let mut c = Cursor::new(block, block_offset);
        let header_len = c.u16("an event block header size")? as usize;
        if header_len < format::BLOCK_HEADER_MIN_LEN || header_len > block.len() {
            return Err(NettraceError::malformed(
                block_offset,
                format!(
                    "event block header of {header_len} bytes in a block of {} bytes",
                    block.len()
                ),
            ));
        }
        let flags = c.u16("event block flags")?;
        Ok(BlobDecoder {
            compressed: flags & format::BLOCK_FLAG_COMPRESSED_HEADERS != 0,
            pos: header_len,
            previous: EventHeader::default(),
        })
    }

    /// The next blob's header and the range of its payload within `block`,
    /// or `None` after the last blob.
    pub(crate) fn next(
        &mut self,
        block: &[u8],
        block_offset: u64,
    ) -> Result<Option<(EventHeader, Range<usize>, u64)>, NettraceError> {
        if self.pos >= block.len() {
            return Ok(None);
        }
        let mut c = Cursor::new(&block[self.pos..], block_offset + self.pos as u64);
        let blob_offset = c.offset();
        let (header, declared_len) = if self.compressed {
            (self.compressed_header(&mut c)?, None)
        } else {
            let (header, len) = uncompressed_header(&mut c)?;
            (header, Some(len))
        };
        let payload_start = self.pos + c.position();
        c.skip("an event payload", header.payload_len as usize)?;
        let payload_end = self.pos + c.position();
        if let Some(declared_len) = declared_len {
            // The size field may cover more than header and payload (stack
            // bytes in old writers); then comes padding to a 4-byte offset.
            c.skip("the rest of an event", declared_len - c.position())?;
            let padding = format::padding_to_4(c.offset()) as usize;
            c.skip("event padding", padding.min(c.remaining()))?;
        }
        self.pos += c.position();
        self.previous = header;
        Ok(Some((header, payload_start..payload_end, blob_offset)))
    }

    fn compressed_header(&self, c: &mut Cursor<'_>) -> Result<EventHeader, NettraceError> {
        let flags = c.u8("event header flags")?;
        let mut h = self.previous;
        if flags & header_flag::METADATA_ID != 0 {
            h.metadata_id = c.varuint32("metadata id")?;
        }
        if flags & header_flag::CAPTURE_THREAD_AND_SEQUENCE != 0 {
            let delta = c.varuint32("sequence number delta")?;
            h.sequence_number = h.sequence_number.wrapping_add(delta);
            h.capture_thread_id = c.varuint64("capture thread id")?;
            h.processor_number = c.varuint32("processor number")?;
        }
        // Metadata blobs (id 0) carry no sequence number.
        if h.metadata_id != 0 {
            h.sequence_number = h.sequence_number.wrapping_add(1);
        }
        if flags & header_flag::THREAD_ID != 0 {
            h.thread_id = c.varuint64("thread id")?;
        }
        if flags & header_flag::STACK_ID != 0 {
            h.stack_id = c.varuint32("stack id")?;
        }
        let delta = c.varuint64("timestamp delta")?;
        h.timestamp = h.timestamp.wrapping_add(delta as i64);
        if flags & header_flag::ACTIVITY_ID != 0 {
            h.activity_id = c.guid("activity id")?;
        }
        if flags & header_flag::RELATED_ACTIVITY_ID != 0 {
            h.related_activity_id = c.guid("related activity id")?;
        }
        h.is_sorted = flags & header_flag::SORTED != 0;
        if flags & header_flag::PAYLOAD_SIZE != 0 {
            h.payload_len = c.varuint32("payload size")?;
        }
        Ok(h)
    }
}

/// The header and the blob's length as its size field declares it (size field included).
fn uncompressed_header(c: &mut Cursor<'_>) -> Result<(EventHeader, usize), NettraceError> {
    let at = c.offset();
    let size = c.u32("event size")? as usize;
    let raw_metadata_id = c.u32("metadata id")?;
    let h = EventHeader {
        metadata_id: raw_metadata_id & !format::UNCOMPRESSED_SORTED_BIT,
        is_sorted: raw_metadata_id & format::UNCOMPRESSED_SORTED_BIT != 0,
        sequence_number: c.u32("sequence number")?,
        thread_id: c.u64("thread id")?,
        capture_thread_id: c.u64("capture thread id")?,
        processor_number: c.u32("processor number")?,
        stack_id: c.u32("stack id")?,
        timestamp: c.i64("timestamp")?,
        activity_id: c.guid("activity id")?,
        related_activity_id: c.guid("related activity id")?,
        payload_len: c.u32("payload size")?,
    };
    let needed = format::UNCOMPRESSED_HEADER_LEN - 4 + h.payload_len as usize;
    if size < needed {
        return Err(NettraceError::malformed(
            at,
            format!(
                "event size {size} is too small for its header and {} payload bytes",
                h.payload_len
            ),
        ));
    }
    Ok((h, size + 4))
}

/// What a metadata record says about one kind of event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMetadata {
    /// The id events use to refer to this record.
    pub metadata_id: u32,
    /// e.g. `Microsoft-Windows-DotNETRuntime`.
    pub provider: String,
    /// The event's id within its provider (e.g. 18 = GCBulkNode).
    pub event_id: u32,
    /// Empty for the runtime's own events: identify those by provider and id.
    pub event_name: String,
    pub keywords: u64,
    /// The payload version: newer versions append fields.
    pub version: u32,
    pub level: u32,
}

/// Parses a metadata blob's payload. The field descriptions and V5 tags that
/// follow the fixed part are not needed to read the runtime's events and are
/// skipped.
pub fn parse_metadata(payload: &[u8], offset: u64) -> Result<EventMetadata, NettraceError> {
    let mut c = Cursor::new(payload, offset);
    Ok(EventMetadata {
        metadata_id: c.u32("metadata id")?,
        provider: c.utf16z("provider name")?,
        event_id: c.u32("event id")?,
        event_name: c.utf16z("event name")?,
        keywords: c.u64("event keywords")?,
        version: c.u32("event version")?,
        level: c.u32("event level")?,
    })
}
