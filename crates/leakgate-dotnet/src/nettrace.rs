//! A streaming reader of nettrace, the format EventPipe writes (the stream a
//! diagnostics IPC tracing session sends, and `.nettrace` files).
//!
//! ```
//! use leakgate_dotnet::nettrace::{EventStream, synth::{NettraceBuilder, SynthEvent}};
//!
//! // A tiny trace: one metadata record, one event that uses it.
//! let mut trace = NettraceBuilder::new();
//! trace.metadata(1, "Demo-Provider", 7, "Hello", 0);
//! trace.events(&[SynthEvent::new(1, 1, 0x1234, vec![42])]);
//! let bytes = trace.finish();
//!
//! let mut stream = EventStream::new(bytes.as_slice())?;
//! let event = stream.next_event()?.expect("one event");
//! assert_eq!((event.metadata.provider.as_str(), event.metadata.event_id), ("Demo-Provider", 7));
//! assert_eq!(event.payload, &[42]);
//! assert!(stream.next_event()?.is_none());
//! assert_eq!(stream.dropped_events(), 0);
//! # Ok::<(), leakgate_dotnet::nettrace::NettraceError>(())
//! ```
//!
//! Layers: [`format`](mod@format) holds the byte layouts and limits; [`reader`] reads the
//! container one block at a time from any [`Read`]; [`event`] decodes the
//! event headers and metadata inside blocks; [`sequence`] counts dropped
//! events; [`EventStream`] puts them together into a stream of events.
//! [`synth`] writes synthetic traces for tests.
//!
//! Memory stays bounded: one block (at most [`format::MAX_BLOCK_LEN`]) plus
//! the metadata table and one counter per capture thread, both capped.
//! Stack blocks are skipped (the runtime's heap events need no stacks).
//! Only what .NET 10 writes is read: nettrace V4/V5 (`Trace` object version
//! 4, FastSerialization objects, compressed or plain event headers); a V6
//! stream is refused as [`NettraceError::Unsupported`].

pub mod cursor;
pub mod error;
pub mod event;
pub mod format;
pub mod reader;
pub mod sequence;
pub mod synth;

use std::collections::HashMap;
use std::io::Read;

pub use cursor::Cursor;
pub use error::NettraceError;
pub use event::{EventHeader, EventMetadata, parse_metadata};
pub use reader::{Block, BlockKind, NettraceReader, TraceInfo};
pub use sequence::SequenceTracker;

use event::BlobDecoder;

/// One event, borrowed from the stream until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub metadata: &'a EventMetadata,
    pub header: EventHeader,
    pub payload: &'a [u8],
    /// Stream offset of the event's header.
    pub offset: u64,
    /// Stream offset of `payload[0]`.
    pub payload_offset: u64,
}

/// Events in stream order, with metadata resolved and dropped events counted.
///
/// Events come in the order they are stored: per capture thread in order,
/// but not sorted across threads (the format leaves sorting to readers that
/// need it; the GC heap events all come from one thread).
pub struct EventStream<R> {
    reader: NettraceReader<R>,
    metadata: HashMap<u32, EventMetadata>,
    sequences: SequenceTracker,
    /// Decoder of the current event block, if one is being read.
    blobs: Option<BlobDecoder>,
    events_read: u64,
}

impl<R: Read> EventStream<R> {
    /// Reads the stream header and the `Trace` object.
    pub fn new(inner: R) -> Result<Self, NettraceError> {
        Ok(EventStream {
            reader: NettraceReader::new(inner)?,
            metadata: HashMap::new(),
            sequences: SequenceTracker::default(),
            blobs: None,
            events_read: 0,
        })
    }

    pub fn trace(&self) -> &TraceInfo {
        self.reader.trace()
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.reader.offset()
    }

    /// The underlying reader (see [`NettraceReader::get_mut`]).
    pub fn get_mut(&mut self) -> &mut R {
        self.reader.get_mut()
    }

    /// Events the writer numbered that the stream does not hold, so far.
    /// Complete only once [`next_event`](Self::next_event) has returned `None`.
    pub fn dropped_events(&self) -> u64 {
        self.sequences.dropped_events()
    }

    /// Events returned so far.
    pub fn events_read(&self) -> u64 {
        self.events_read
    }

    /// True once the end-of-stream tag has been read.
    pub fn is_at_end(&self) -> bool {
        self.reader.is_at_end()
    }

    /// The next event, or `None` at the end of the stream.
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, NettraceError> {
        // Find the next blob first (no borrows kept), then lend it out.
        let (header, payload, offset) = loop {
            if let Some(decoder) = &mut self.blobs {
                let block = self.reader.current_block();
                if let Some(found) = decoder.next(block.bytes, block.offset)? {
                    break found;
                }
                self.blobs = None;
            }
            if !self.reader.read_next_block()? {
                return Ok(None);
            }
            let block = self.reader.current_block();
            match block.kind {
                BlockKind::Event => self.blobs = Some(BlobDecoder::new(block.bytes, block.offset)?),
                BlockKind::Metadata => read_metadata_block(block, &mut self.metadata)?,
                BlockKind::SequencePoint => read_sequence_point(block, &mut self.sequences)?,
                BlockKind::Stack => {}
            }
        };
        let metadata = self.metadata.get(&header.metadata_id).ok_or_else(|| {
            NettraceError::malformed(
                offset,
                format!(
                    "event refers to metadata id {}, which no metadata block defined",
                    header.metadata_id
                ),
            )
        })?;
        self.sequences
            .on_event(header.capture_thread_id, header.sequence_number, offset)?;
        self.events_read += 1;
        let block = self.reader.current_block();
        Ok(Some(Event {
            metadata,
            header,
            payload_offset: block.offset + payload.start as u64,
            payload: &block.bytes[payload],
            offset,
        }))
    }
}

fn read_metadata_block(
    block: Block<'_>,
    table: &mut HashMap<u32, EventMetadata>,
) -> Result<(), NettraceError> {
    let mut decoder = BlobDecoder::new(block.bytes, block.offset)?;
    while let Some((_, payload, offset)) = decoder.next(block.bytes, block.offset)? {
        let payload_offset = block.offset + payload.start as u64;
        let metadata = parse_metadata(&block.bytes[payload], payload_offset)?;
        if metadata.metadata_id == 0 {
            return Err(NettraceError::malformed(
                offset,
                "metadata record with id 0 (reserved for metadata itself)",
            ));
        }
        if table.len() >= format::MAX_METADATA_ENTRIES && !table.contains_key(&metadata.metadata_id)
        {
            return Err(NettraceError::malformed(
                offset,
                format!(
                    "more than {} metadata records",
                    format::MAX_METADATA_ENTRIES
                ),
            ));
        }
        table.insert(metadata.metadata_id, metadata);
    }
    Ok(())
}

/// `SPBlock`: i64 timestamp, i32 thread count, then (i64 thread, i32 sequence) each.
fn read_sequence_point(
    block: Block<'_>,
    sequences: &mut SequenceTracker,
) -> Result<(), NettraceError> {
    let mut c = Cursor::new(block.bytes, block.offset);
    c.i64("sequence point timestamp")?;
    let count_at = c.offset();
    let count = c.u32("sequence point thread count")? as usize;
    if count.saturating_mul(12) > c.remaining() {
        return Err(NettraceError::malformed(
            count_at,
            format!(
                "sequence point lists {count} threads but holds {} bytes",
                c.remaining()
            ),
        ));
    }
    for _ in 0..count {
        let at = c.offset();
        let thread = c.u64("sequence point thread id")?;
        let sequence = c.u32("sequence point sequence number")?;
        sequences.on_sequence_point(thread, sequence, at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
