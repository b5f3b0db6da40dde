//! The container layer: reads the stream header, the `Trace` object, then one
//! block object at a time from any [`Read`], holding only the current block.

use std::io::{self, Read};

use super::cursor::Cursor;
use super::error::NettraceError;
use super::format::{self, object, tag};

/// What the `Trace` object says about the whole trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceInfo {
    /// Version of the `Trace` object (4 for nettrace V4/V5).
    pub version: i32,
    /// Year, month, day of week, day, hour, minute, second, millisecond (UTC).
    pub sync_time_utc: [i16; 8],
    /// Timestamp (in ticks) taken at `sync_time_utc`.
    pub sync_time_ticks: i64,
    /// Ticks per second.
    pub tick_frequency: i64,
    /// 4 or 8: the size of `win:Pointer` payload fields.
    pub pointer_size: u32,
    pub process_id: u32,
    pub processor_count: u32,
}

/// Which kind of block object was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Event,
    Metadata,
    Stack,
    SequencePoint,
}

impl BlockKind {
    fn from_type_name(name: &str) -> Option<Self> {
        match name {
            object::EVENT_BLOCK => Some(BlockKind::Event),
            object::METADATA_BLOCK => Some(BlockKind::Metadata),
            object::STACK_BLOCK => Some(BlockKind::Stack),
            object::SEQUENCE_POINT_BLOCK => Some(BlockKind::SequencePoint),
            _ => None,
        }
    }
}

/// One block's payload, borrowed from the reader until the next block is read.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    pub kind: BlockKind,
    /// Stream offset of `bytes[0]`.
    pub offset: u64,
    pub bytes: &'a [u8],
}

/// Reads a nettrace stream block by block; memory is one block (at most
/// [`format::MAX_BLOCK_LEN`]), whatever the trace's size.
pub struct NettraceReader<R> {
    source: OffsetReader<R>,
    trace: TraceInfo,
    block: Vec<u8>,
    block_kind: BlockKind,
    block_offset: u64,
    ended: bool,
}

impl<R: Read> NettraceReader<R> {
    /// Reads and checks the stream header and the `Trace` object.
    pub fn new(inner: R) -> Result<Self, NettraceError> {
        let mut source = OffsetReader { inner, offset: 0 };
        let mut magic = [0u8; 8];
        source.read_exact(&mut magic, "the \"Nettrace\" magic")?;
        if &magic != format::MAGIC {
            return Err(NettraceError::malformed(
                0,
                format!("not a nettrace stream: it starts with {magic:02x?}, not \"Nettrace\""),
            ));
        }
        let header_len_at = source.offset;
        let header_len = source.u32("the serialization header length")?;
        if header_len == 0 {
            // Nettrace V6 puts a reserved zero here, then major/minor versions.
            let major = source.u32("the format major version").unwrap_or(0);
            return Err(NettraceError::unsupported(
                header_len_at,
                format!(
                    "nettrace format version {major} (this reader reads version 4/5, which .NET 10 writes)"
                ),
            ));
        }
        if header_len as usize != format::SERIALIZATION_HEADER.len() {
            return Err(NettraceError::malformed(
                header_len_at,
                format!("serialization header length {header_len}, expected 20"),
            ));
        }
        let mut header = [0u8; 20];
        source.read_exact(&mut header, "the serialization header")?;
        if header != format::SERIALIZATION_HEADER {
            return Err(NettraceError::malformed(
                header_len_at + 4,
                format!(
                    "serialization header {:?}, expected \"!FastSerialization.1\"",
                    String::from_utf8_lossy(&header)
                ),
            ));
        }

        let object_at = source.offset;
        let (name, version, min_reader) = match source.object_header()? {
            Some(header) => header,
            None => {
                return Err(NettraceError::malformed(
                    object_at,
                    "the stream ends before its Trace object",
                ));
            }
        };
        if name != object::TRACE {
            return Err(NettraceError::malformed(
                object_at,
                format!("the first object is {name:?}, expected \"Trace\""),
            ));
        }
        if min_reader > format::TRACE_VERSION || version < format::TRACE_VERSION {
            return Err(NettraceError::unsupported(
                object_at,
                format!(
                    "Trace object version {version} (minimum reader version {min_reader}); this reader reads version 4 (nettrace V4/V5)"
                ),
            ));
        }
        let payload_at = source.offset;
        let mut payload = [0u8; format::TRACE_PAYLOAD_LEN];
        source.read_exact(&mut payload, "the Trace object")?;
        let trace = parse_trace_payload(&payload, version, payload_at)?;
        source.expect_tag(tag::END_OBJECT, "the end of the Trace object")?;

        Ok(NettraceReader {
            source,
            trace,
            block: Vec::new(),
            block_kind: BlockKind::Event,
            block_offset: 0,
            ended: false,
        })
    }

    pub fn trace(&self) -> &TraceInfo {
        &self.trace
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.source.offset
    }

    /// The underlying reader, e.g. to adjust its timeouts. Reading from it
    /// directly would desynchronise this reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.source.inner
    }

    /// True once the end-of-stream tag has been read.
    pub fn is_at_end(&self) -> bool {
        self.ended
    }

    /// The next block, or `None` at the end-of-stream tag.
    pub fn next_block(&mut self) -> Result<Option<Block<'_>>, NettraceError> {
        if !self.read_next_block()? {
            return Ok(None);
        }
        Ok(Some(self.current_block()))
    }

    /// The block last returned by [`next_block`](Self::next_block).
    pub fn current_block(&self) -> Block<'_> {
        Block {
            kind: self.block_kind,
            offset: self.block_offset,
            bytes: &self.block,
        }
    }

    /// Reads the next block into the reader's buffer; false at the end tag.
    pub(crate) fn read_next_block(&mut self) -> Result<bool, NettraceError> {
        if self.ended {
            return Ok(false);
        }
        let object_at = self.source.offset;
        let Some((name, version, min_reader)) = self.source.object_header()? else {
            self.ended = true;
            return Ok(false);
        };
        let kind = BlockKind::from_type_name(&name).ok_or_else(|| {
            if name == object::TRACE {
                NettraceError::malformed(object_at, "a second Trace object")
            } else {
                NettraceError::unsupported(object_at, format!("unknown object type {name:?}"))
            }
        })?;
        if min_reader > format::BLOCK_VERSION || version < format::BLOCK_VERSION {
            return Err(NettraceError::unsupported(
                object_at,
                format!(
                    "{name} version {version} (minimum reader version {min_reader}); this reader reads version 2"
                ),
            ));
        }
        let size_at = self.source.offset;
        let size = self.source.u32("a block size")?;
        if size as usize > format::MAX_BLOCK_LEN {
            return Err(NettraceError::malformed(
                size_at,
                format!(
                    "{name} of {size} bytes (the limit is {} bytes; real blocks are ~100 KiB)",
                    format::MAX_BLOCK_LEN
                ),
            ));
        }
        let padding = format::padding_to_4(self.source.offset);
        self.source.skip(padding, "block alignment padding")?;
        self.block_offset = self.source.offset;
        self.block_kind = kind;
        self.source
            .read_to_vec(&mut self.block, size as usize, "a block")?;
        self.source
            .expect_tag(tag::END_OBJECT, "the end of a block object")?;
        Ok(true)
    }
}

fn parse_trace_payload(
    payload: &[u8],
    version: i32,
    offset: u64,
) -> Result<TraceInfo, NettraceError> {
    let mut c = Cursor::new(payload, offset);
    let mut sync_time_utc = [0i16; 8];
    for part in &mut sync_time_utc {
        *part = c.u16("sync time")? as i16;
    }
    let sync_time_ticks = c.i64("sync time ticks")?;
    let tick_frequency = c.i64("tick frequency")?;
    let pointer_at = c.offset();
    let pointer_size = c.u32("pointer size")?;
    if pointer_size != 4 && pointer_size != 8 {
        return Err(NettraceError::malformed(
            pointer_at,
            format!("pointer size {pointer_size}, expected 4 or 8"),
        ));
    }
    let process_id = c.u32("process id")?;
    let processor_count = c.u32("processor count")?;
    Ok(TraceInfo {
        version,
        sync_time_utc,
        sync_time_ticks,
        tick_frequency,
        pointer_size,
        process_id,
        processor_count,
    })
}

/// A [`Read`] that counts the bytes it has consumed.
struct OffsetReader<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> OffsetReader<R> {
    fn read_exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), NettraceError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => {
                    return Err(NettraceError::Truncated {
                        offset: self.offset,
                        what,
                    });
                }
                Ok(n) => {
                    filled += n;
                    self.offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(NettraceError::Io {
                        offset: self.offset,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Reads `len` bytes into `buf` (cleared first), growing it only as data
    /// arrives, so a corrupt size on a short stream allocates little.
    fn read_to_vec(
        &mut self,
        buf: &mut Vec<u8>,
        len: usize,
        what: &'static str,
    ) -> Result<(), NettraceError> {
        const CHUNK: usize = 64 << 10;
        buf.clear();
        while buf.len() < len {
            let start = buf.len();
            let step = CHUNK.min(len - start);
            buf.resize(start + step, 0);
            self.read_exact(&mut buf[start..], what)?;
        }
        Ok(())
    }

    fn skip(&mut self, n: u64, what: &'static str) -> Result<(), NettraceError> {
        let mut scratch = [0u8; 8];
        let mut left = n;
        while left > 0 {
            let step = left.min(scratch.len() as u64) as usize;
            self.read_exact(&mut scratch[..step], what)?;
            left -= step as u64;
        }
        Ok(())
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, NettraceError> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b, what)?;
        Ok(b[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, NettraceError> {
        let mut b = [0u8; 4];
        self.read_exact(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn expect_tag(&mut self, expected: u8, what: &'static str) -> Result<(), NettraceError> {
        let at = self.offset;
        let found = self.u8(what)?;
        if found != expected {
            return Err(NettraceError::malformed(
                at,
                format!("expected tag {expected} ({what}), found {found}"),
            ));
        }
        Ok(())
    }

    /// The header of the next object: its type name, version and minimum
    /// reader version; `None` at the end-of-stream tag.
    fn object_header(&mut self) -> Result<Option<(String, i32, i32)>, NettraceError> {
        let at = self.offset;
        match self.u8("an object tag")? {
            tag::NULL_REFERENCE => return Ok(None),
            tag::BEGIN_PRIVATE_OBJECT => {}
            other => {
                return Err(NettraceError::malformed(
                    at,
                    format!(
                        "expected an object (tag 5) or the end of the stream (tag 1), found tag {other}"
                    ),
                ));
            }
        }
        self.expect_tag(tag::BEGIN_PRIVATE_OBJECT, "the start of a type object")?;
        self.expect_tag(tag::NULL_REFERENCE, "the type of a type object")?;
        let version = self.u32("an object version")? as i32;
        let min_reader = self.u32("an object's minimum reader version")? as i32;
        let name_at = self.offset;
        let name_len = self.u32("an object type name length")? as usize;
        if name_len > format::MAX_TYPE_NAME_LEN {
            return Err(NettraceError::malformed(
                name_at,
                format!("object type name of {name_len} bytes"),
            ));
        }
        let mut name = vec![0u8; name_len];
        self.read_exact(&mut name, "an object type name")?;
        let name = String::from_utf8(name)
            .map_err(|_| NettraceError::malformed(name_at + 4, "object type name is not UTF-8"))?;
        self.expect_tag(tag::END_OBJECT, "the end of a type object")?;
        Ok(Some((name, version, min_reader)))
    }
}
